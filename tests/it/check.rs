//! `rahti-migrate check`: the dry-run compatibility report, against the
//! real registries. Every finding code has a fixture that triggers it; the
//! check writes nothing; its predicted digests are what `run` pushes; the
//! HTML report loads in a real headless browser.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::cli::{bin, cli};
use support::fixtures::{config, layer, noise, sha256, DOCKER_LIST, DOCKER_MANIFEST};
use support::proxy::Fault;
use support::skopeo::{self, Reg};
use support::{harness, Harness, PlanOpts};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Pushes an OCI image whose single layer has `layer_type` (and `urls`).
fn oci_image(h: &Harness, repo: &str, data: &[u8], layer_type: &str, urls: Option<&str>) {
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(data)
    );
    h.block_on(async {
        let ld = match urls {
            Some(_) => sha256(data),
            None => h.r1.blob(repo, data).await.expect("layer"),
        };
        let cd = h.r1.blob(repo, cfg.as_bytes()).await.expect("config");
        let mut l = serde_json::json!({"mediaType": layer_type, "digest": ld, "size": data.len()});
        if let Some(u) = urls {
            l["urls"] = serde_json::json!([u]);
        }
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cd, "size": cfg.len()}, "layers": [l]});
        h.r1.manifest(
            repo,
            "t",
            OCI_MANIFEST,
            &serde_json::to_vec(&m).expect("json"),
        )
        .await
        .expect("manifest");
    });
}

struct Fixture {
    ns: String,
}

fn fixture(h: &Harness) -> Fixture {
    let ns = h.unique("chk");
    let r1 = &h.r1;
    // A Docker-built image whose config has Docker-only fields.
    let ls = vec![layer(110_001, 40_000), layer(110_002, 20_000)];
    let mut c = config("amd64", &ls);
    c["config"]["Healthcheck"] = serde_json::json!({"Test": ["CMD", "true"]});
    c["config"]["OnBuild"] = serde_json::json!(["RUN x"]);
    // Build metadata, which changes nothing at run time.
    c["container_config"] =
        serde_json::json!({"Hostname": "b0c1", "Cmd": ["/bin/sh", "-c", "#(nop) COPY x"]});
    c["docker_version"] = serde_json::json!("20.10.24");
    c["history"] = serde_json::json!([{"created_by": "a"}, {"created_by": "b"}]);
    h.block_on(r1.image(&format!("{ns}/docker-built"), "t", &ls, c.clone()))
        .expect("docker-built");
    // Schema 1, made by skopeo.
    h.block_on(r1.image(&format!("{ns}/s2"), "t", &ls, c))
        .expect("s2");
    skopeo::copy(
        h,
        &["-f", "v2s1"],
        (Reg::Rahti1, &format!("{ns}/s2:t")),
        (Reg::Rahti1, &format!("{ns}/legacy:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // A two-platform list.
    h.block_on(async {
        let repo = format!("{ns}/multi");
        let amd = vec![layer(110_003, 10_000)];
        let arm = vec![layer(110_004, 10_000)];
        let (da, _) = r1.image(&repo, "amd", &amd, config("amd64", &amd)).await.expect("amd");
        let (dr, _) = r1.image(&repo, "arm", &arm, config("arm64", &arm)).await.expect("arm");
        let sa = r1.get_manifest(&repo, &da).await.map(|g| g.body.len()).unwrap_or(0);
        let sr = r1.get_manifest(&repo, &dr).await.map(|g| g.body.len()).unwrap_or(0);
        let list = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
            {"mediaType": DOCKER_MANIFEST, "size": sa, "digest": da, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": DOCKER_MANIFEST, "size": sr, "digest": dr, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]});
        r1.manifest(&repo, "t", DOCKER_LIST, &serde_json::to_vec(&list).expect("json")).await.expect("list");
    });
    // Foreign and non-distributable layers, an unknown layer type.
    oci_image(
        h,
        &format!("{ns}/foreign"),
        &noise(110_005, 3000),
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        Some("https://example.com/layer.tgz"),
    );
    oci_image(
        h,
        &format!("{ns}/nondist"),
        &noise(110_006, 3000),
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        None,
    );
    oci_image(
        h,
        &format!("{ns}/weird"),
        &noise(110_007, 3000),
        "application/vnd.example.layer",
        None,
    );
    // A big image (over the plan's max_image_size of 150 KB).
    let big = vec![layer(110_008, 200_000)];
    h.block_on(r1.image(&format!("{ns}/big"), "t", &big, config("amd64", &big)))
        .expect("big");
    // A missing blob: pushed, then deleted from the repository.
    let gone = vec![layer(110_009, 5_000)];
    let (_, ds) = h
        .block_on(r1.image(&format!("{ns}/broken"), "t", &gone, config("amd64", &gone)))
        .expect("broken");
    h.block_on(async {
        let url = format!("{}/v2/{ns}/broken/blobs/{}", r1.base, ds[0]);
        let t = r1
            .signer
            .token(
                "fixture",
                &r1.service,
                &[format!("repository:{ns}/broken:*")],
            )
            .unwrap_or_default();
        let r = r1
            .http
            .delete(url)
            .header("authorization", format!("Bearer {t}"))
            .send()
            .await
            .expect("delete");
        assert_eq!(r.status().as_u16(), 202, "blob delete");
    });
    // Already present: the same conversion, done by skopeo beforehand.
    let same = vec![layer(110_010, 7_000)];
    h.block_on(r1.image(&format!("{ns}/there"), "t", &same, config("amd64", &same)))
        .expect("there");
    skopeo::copy(
        h,
        &["-f", "oci"],
        (Reg::Rahti1, &format!("{ns}/there:t")),
        (Reg::Rahti2, &format!("{ns}/there:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    Fixture { ns }
}

fn images(f: &Fixture, repos: &[&str]) -> String {
    repos
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{}/{r}\"\ntags = [\"t\"]\n", f.ns))
        .collect()
}

/// `[[images]]` entries copying each of `repos` to `{prefix}-{repo}`.
fn images_to(f: &Fixture, repos: &[&str], prefix: &str) -> String {
    repos
        .iter()
        .map(|r| {
            format!(
                "[[images]]\nsource = \"{}/{r}\"\ntarget = \"{}/{prefix}-{r}\"\n",
                f.ns, f.ns
            )
        })
        .collect()
}

fn check_json(plan: &Path) -> (i32, serde_json::Value) {
    check_json_with(plan, &[])
}

fn check_json_with(plan: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let args: Vec<&str> = ["check", "--format", "json"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let out = cli(&args, plan);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn findings_of<'a>(v: &'a serde_json::Value, repo: &str) -> Vec<(&'a str, &'a str)> {
    v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| {
            i["source"]
                .as_str()
                .unwrap_or("")
                .contains(&format!("/{repo}:"))
        })
        .flat_map(|i| i["findings"].as_array().into_iter().flatten())
        .map(|f| {
            (
                f["code"].as_str().unwrap_or(""),
                f["severity"].as_str().unwrap_or(""),
            )
        })
        .collect()
}

fn image_of<'a>(v: &'a serde_json::Value, repo: &str) -> &'a serde_json::Value {
    v["images"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|i| {
                i["source"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("/{repo}:"))
            })
        })
        .unwrap_or_else(|| panic!("no image {repo} in {v}"))
}

#[test]
fn every_finding_code_is_reported_and_nothing_is_written() {
    let h = harness();
    let f = fixture(h);
    let dir = tempfile::tempdir().expect("tmp");
    let all = [
        "docker-built",
        "legacy",
        "multi",
        "foreign",
        "nondist",
        "weird",
        "big",
        "broken",
        "there",
    ];
    let opts = "format = \"oci\"\nconcurrency = 4\n";
    let plan = h.plan(
        dir.path(),
        PlanOpts {
            images: &images(&f, &all),
            options: opts,
            ..Default::default()
        },
    );
    let text = std::fs::read_to_string(&plan).expect("plan").replace(
        "[options]",
        "max_image_size = \"150KB\"\nmax_repositories_per_project = 5\n[options]",
    );
    std::fs::write(&plan, text).expect("plan");
    let files_before = h.rahti2.stored_files(&f.ns);
    let ours = |c: Vec<String>| {
        c.into_iter()
            .filter(|r| r.starts_with(&format!("{}/", f.ns)))
            .collect::<Vec<_>>()
    };
    let catalog_before = ours(h.block_on(h.r2.catalog()));
    // By default a blob a manifest names with its size is not looked up,
    // and the report says so: `broken`'s lost layer goes unseen.
    let (_, quick) = check_json(&plan);
    assert!(
        !findings_of(&quick, "broken").contains(&("missing-blob", "blocker")),
        "{quick}"
    );
    let lookups = &quick["summary"]["lookups"];
    assert!(
        lookups["source_blobs_from_manifests"].as_u64().unwrap_or(0) > 0,
        "{lookups}"
    );
    // Only the schema 1 image's blobs have no size in its manifest.
    let legacy_layers = image_of(&quick, "legacy")["layers"].as_u64().unwrap_or(0);
    assert!(legacy_layers > 0);
    assert_eq!(
        lookups["source_blobs_looked_up"], legacy_layers,
        "{lookups}"
    );
    let (code, v) = check_json_with(&plan, &["--verify-source-blobs"]);
    assert_eq!(code, 1, "blockers found: exit 1");
    assert!(
        v["summary"]["lookups"]["source_blobs_looked_up"]
            .as_u64()
            .unwrap_or(0)
            > legacy_layers,
        "{}",
        v["summary"]["lookups"]
    );
    assert!(
        !files_before.is_empty(),
        "the fixture's target repository exists"
    );
    assert_eq!(
        h.rahti2.stored_files(&f.ns),
        files_before,
        "check wrote into the target"
    );
    assert_eq!(
        ours(h.block_on(h.r2.catalog())),
        catalog_before,
        "check created a repository"
    );
    assert!(
        !plan.with_extension("journal").exists(),
        "check wrote a journal"
    );

    let has = |repo: &str, code: &str, sev: &str| {
        let fs = findings_of(&v, repo);
        assert!(
            fs.contains(&(code, sev)),
            "{repo}: no {sev} {code} in {fs:?}"
        );
    };
    has("docker-built", "config-fields-dropped", "warning");
    has("docker-built", "config-fields-dropped", "info");
    // Behaviour in the warning, build metadata in the information.
    let dropped = |sev: &str| -> String {
        image_of(&v, "docker-built")["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["code"] == "config-fields-dropped" && f["severity"] == sev)
            .map(|f| f["message"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let (warning, info) = (dropped("warning"), dropped("info"));
    assert!(
        warning.contains("config.Healthcheck") && warning.contains("config.OnBuild"),
        "{warning}"
    );
    assert!(
        !warning.contains("container_config") && !warning.contains("docker_version"),
        "{warning}"
    );
    assert!(
        info.contains("container_config") && info.contains("docker_version"),
        "{info}"
    );
    assert!(!info.contains("Healthcheck"), "{info}");
    has("docker-built", "digest-changes", "info");
    has("legacy", "schema1-manifest", "warning");
    has("legacy", "config-fields-dropped", "warning");
    has("multi", "multi-arch", "info");
    has("foreign", "foreign-layer", "warning");
    has("nondist", "non-distributable-layer", "warning");
    has("weird", "unknown-media-type", "blocker");
    has("big", "image-too-large", "blocker");
    has("broken", "missing-blob", "blocker");
    has("there", "already-present", "info");
    has("docker-built", "too-many-repositories", "blocker");
    let dropped = v["images"].to_string();
    assert!(
        dropped.contains("config.Healthcheck") && dropped.contains("config.OnBuild"),
        "fields named"
    );

    let im = image_of(&v, "docker-built");
    assert_eq!(im["source_kind"], "docker-v2");
    assert_eq!(im["target_kind"], "oci-manifest");
    assert_eq!(image_of(&v, "legacy")["source_kind"], "docker-v1-signed");
    assert!(image_of(&v, "legacy")["target_digest"].is_null());
    assert_eq!(image_of(&v, "multi")["source_kind"], "docker-list");
    assert_eq!(
        image_of(&v, "multi")["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64/v8"])
    );
    assert_eq!(image_of(&v, "there")["action"], "already-present");
    assert_eq!(image_of(&v, "weird")["action"], "blocked");
    let s = &v["summary"];
    for k in [
        "images",
        "by_action",
        "by_source_kind",
        "unique_blobs_to_transfer",
        "bytes_to_transfer",
        "bytes_already_present",
        "blockers",
        "warnings",
        "estimated_transfer_seconds",
    ] {
        assert!(s.get(k).is_some(), "summary lacks {k}");
    }
    assert_eq!(s["images"], all.len());
    assert!(
        s["bytes_already_present"].as_u64().unwrap_or(0) > 7_000,
        "{s}"
    );
    // Blocked images move nothing: their bytes are not counted. Here the
    // repository limit blocks every image that would move content.
    assert_eq!(s["by_action"]["blocked"], all.len() - 1, "{s}");
    assert_eq!(s["bytes_to_transfer"], 0, "{s}");
    for r in ["big", "weird", "broken"] {
        assert_eq!(image_of(&v, r)["bytes_to_transfer"], 0, "{r}");
        assert!(image_of(&v, r)["bytes"].as_u64().unwrap_or(0) > 0, "{r}");
    }
}

#[test]
fn predicted_digests_are_what_run_pushes() {
    let h = harness();
    let f = fixture(h);
    let dir = tempfile::tempdir().expect("tmp");
    let ok = [
        "docker-built",
        "legacy",
        "multi",
        "foreign",
        "nondist",
        "there",
    ];
    for format in ["oci", "docker"] {
        let imgs = images_to(&f, &ok, format);
        let plan = h.plan(
            dir.path(),
            PlanOpts {
                images: &imgs,
                options: &format!("format = \"{format}\""),
                ..Default::default()
            },
        );
        let (code, before) = check_json(&plan);
        assert_eq!(code, 0, "{before}");
        // Bytes are attributed image by image, and add up to the total.
        let per_image: u64 = before["images"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["bytes_to_transfer"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(
            Some(per_image),
            before["summary"]["bytes_to_transfer"].as_u64()
        );
        assert!(per_image > 60_000, "{before}");
        let out = cli(&["run", "--no-progress"], &plan);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut predicted = 0;
        for im in before["images"].as_array().into_iter().flatten() {
            let target = im["target"].as_str().unwrap_or("");
            let got = h.target_digest(target);
            if let Some(p) = im["target_digest"].as_str() {
                assert_eq!(p, got, "{target}: predicted {p}, run pushed {got}");
                predicted += 1;
            }
        }
        assert!(
            predicted >= ok.len() - 1,
            "{format}: only {predicted} predictions"
        );
        // After the run the journal says done; schema 1 is now predictable.
        let (_, after) = check_json(&plan);
        for im in after["images"].as_array().into_iter().flatten() {
            assert_eq!(im["action"], "done", "{im}");
            assert!(im["target_digest"].is_string(), "{im}");
            assert_eq!(im["bytes_to_transfer"], 0);
        }
    }
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn the_html_report_loads_in_a_browser_and_the_other_formats_render() {
    let h = harness();
    let f = fixture(h);
    let (dir, plan) = h.temp_plan(PlanOpts {
        images: &images(&f, &["docker-built", "legacy", "multi", "weird"]),
        options: "format = \"oci\"",
        ..Default::default()
    });
    let html = dir.path().join("report.html");
    let out = bin()
        .args(["check", "--format", "html", "--output"])
        .arg(&html)
        .arg(&plan)
        .output()
        .expect("check");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).expect("html");
    for external in [" src=\"", " href=\"", "url(", "@import"] {
        assert!(
            !page.contains(external),
            "the page loads something external ({external})"
        );
    }
    assert!(page.contains("<svg") && page.contains("<table id=\"images\""));
    for fmt in ["text", "markdown"] {
        let out = cli(&["check", "--format", fmt], &plan);
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(
            s.contains(&format!("{}/weird:t", f.ns)) && s.contains("unknown-media-type"),
            "{fmt}: {s}"
        );
        assert!(!s.contains("\x1b["), "no colour without a terminal");
    }
    let dry = cli(&["run", "--dry-run"], &plan);
    assert_eq!(dry.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("config-fields-dropped"));
    // Information is counted, and listed per image only with --verbose;
    // JSON lists it always.
    let quiet = String::from_utf8_lossy(&cli(&["check"], &plan).stdout).to_string();
    let loud = String::from_utf8_lossy(&cli(&["check", "--verbose"], &plan).stdout).to_string();
    assert!(!quiet.contains(" info "), "{quiet}");
    assert!(quiet.contains("; information: "), "{quiet}");
    assert!(quiet.contains("assumed: the target accepts"), "{quiet}");
    assert!(quiet.contains("digest-changes: 3 images"), "{quiet}");
    assert!(quiet.contains("multi-arch: 1 image"), "{quiet}");
    assert_eq!(loud.matches("info digest-changes").count(), 3, "{loud}");
    let (_, v) = check_json(&plan);
    assert_eq!(
        v.to_string().matches("\"digest-changes\"").count(),
        3,
        "{v}"
    );

    let Some(browser) = chromium() else {
        panic!("chromium is not installed (.ci/install installs it)");
    };
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ];
    let profile = dir.path().join("profile");
    let url = format!("file://{}", html.display());
    let dom = Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(&url)
        .output()
        .expect("chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let stderr = String::from_utf8_lossy(&dom.stderr);
    assert!(
        dom_text.contains("<pre id=\"errors\"></pre>"),
        "script errors: {dom_text}"
    );
    assert!(!stderr.contains("Uncaught"), "console error: {stderr}");
    assert_eq!(dom_text.matches("<tr data-severity").count(), 4, "rows");
    assert!(
        dom_text.contains("<span id=\"shown\">4</span>"),
        "the script ran"
    );
    // The findings column wraps (full digests included): at 1000 pixels
    // the page needs no horizontal scrolling. Measured by a script added
    // to a copy of the page.
    let measured = dir.path().join("measured.html");
    std::fs::write(
        &measured,
        page.replace(
            "</body>",
            "<pre id=\"width\"></pre><script>var w=document.getElementById('width');w.textContent=document.documentElement.scrollWidth+' of '+window.innerWidth;Array.prototype.forEach.call(document.body.querySelectorAll('*'),function(e){if(e.getBoundingClientRect().right>window.innerWidth){w.setAttribute('data-wide',(w.getAttribute('data-wide')||'')+' '+e.tagName+'.'+e.className);}});</script></body>",
        ),
    )
    .expect("write");
    let dom = Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=1000,800", "--dump-dom"])
        .arg(format!("file://{}", measured.display()))
        .output()
        .expect("chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let width = dom_text
        .split("<pre id=\"width\"")
        .nth(1)
        .and_then(|t| t.split_once('>'))
        .map(|(_, t)| t)
        .and_then(|t| t.split("</pre>").next())
        .unwrap_or_default()
        .to_string();
    let (scroll, inner) = width
        .split_once(" of ")
        .unwrap_or_else(|| panic!("{dom_text}"));
    let (scroll, inner): (u32, u32) = (scroll.parse().expect("n"), inner.parse().expect("n"));
    assert!(
        inner > 0 && scroll <= inner,
        "the page is {scroll} wide in a {inner} window: {dom_text}"
    );
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("check-report.png");
    let _ = std::fs::remove_file(&shot);
    let s = Command::new(browser)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1400,1800")
        .arg(&url)
        .output()
        .expect("screenshot");
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&s.stderr)
    );
    eprintln!("screenshot of the HTML report: {}", shot.display());
}

#[test]
fn the_report_is_the_same_whatever_the_concurrency() {
    let h = harness();
    let f = fixture(h);
    // Images that share layers (the schema 2 image and its schema 1 copy)
    // and a list, so that byte attribution has a choice to make.
    let repos = ["docker-built", "legacy", "multi", "there", "big", "foreign"];
    let imgs = images_to(&f, &repos, "det");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &imgs,
        options: "format = \"docker\"",
        ..Default::default()
    });
    let json = |c: &str| {
        let out = cli(&["check", "--format", "json", "--concurrency", c], &plan);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let one = json("1");
    for c in ["8", "3"] {
        assert!(
            one == json(c),
            "check --concurrency {c} gave another report"
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&one).expect("json");
    assert!(
        v["summary"]["bytes_to_transfer"].as_u64().unwrap_or(0) > 0,
        "{v}"
    );
    // `run --dry-run` takes the same options and prints the same plan.
    let out = cli(
        &[
            "run",
            "--dry-run",
            "--concurrency",
            "2",
            "--bandwidth",
            "1Gbit",
        ],
        &plan,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("det-docker-built"), "{text}");
}

#[test]
fn a_denied_catalog_is_a_warning_not_a_count_of_zero() {
    let h = harness();
    let f = fixture(h);
    let imgs = images_to(&f, &["docker-built", "multi"], "nocat");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &imgs,
        options: "format = \"oci\"",
        ..Default::default()
    });
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace("[options]", "max_repositories_per_project = 1\n[options]");
    std::fs::write(&plan, text).expect("plan");
    let proxy = h.proxy_r2();
    proxy.add(
        Some("GET"),
        "/v2/_catalog",
        Fault::Status(403, None),
        usize::MAX,
    );
    h.target_via(&plan, &proxy);
    let (_, v) = check_json(&plan);
    for repo in ["docker-built", "multi"] {
        let fs = findings_of(&v, repo);
        assert!(
            fs.contains(&("repository-count-unknown", "warning")),
            "{repo}: {fs:?}"
        );
        assert!(
            !fs.iter().any(|(c, _)| *c == "too-many-repositories"),
            "{fs:?}"
        );
    }
    assert!(
        !proxy.hits("GET", "/v2/_catalog").is_empty(),
        "catalog asked"
    );
}

#[test]
fn a_signature_of_a_converted_image_is_reported_and_copied_unchanged() {
    let h = harness();
    let ns = h.unique("cosign");
    let repo = format!("{ns}/app");
    let l = vec![layer(120_001, 2_000)];
    let (d, _) = h
        .block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("image");
    let sig_tag = format!("{}.sig", d.replace(':', "-"));
    let s = vec![layer(120_002, 300)];
    let (sig_digest, _) = h
        .block_on(h.r1.image(&repo, &sig_tag, &s, config("amd64", &s)))
        .expect("signature");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &format!("[[images]]\nsource = \"{repo}\"\n"),
        options: "format = \"oci\"",
        ..Default::default()
    });
    let (code, v) = check_json(&plan);
    assert_eq!(code, 0, "{v}");
    let exact = |source: &str| -> serde_json::Value {
        v["images"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["source"] == source)
            .cloned()
            .unwrap_or_else(|| panic!("{source} not in {v}"))
    };
    let codes = |im: &serde_json::Value| -> Vec<(String, String)> {
        im["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (f["code"].to_string(), f["severity"].to_string()))
            .collect()
    };
    let sig = exact(&format!("{repo}:{sig_tag}"));
    assert!(
        codes(&sig).contains(&("\"signature-invalidated\"".into(), "\"warning\"".into())),
        "{sig}"
    );
    assert_eq!(
        sig["target_digest"],
        sig_digest.as_str(),
        "copied unchanged"
    );
    assert!(
        !codes(&exact(&format!("{repo}:v1")))
            .iter()
            .any(|(c, _)| c.contains("signature-invalidated")),
        "only the signature tag carries it"
    );
    let out = cli(&["run", "--no-progress"], &plan);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.target_digest(&format!("{repo}:{sig_tag}")), sig_digest);
    assert_ne!(
        h.target_digest(&format!("{repo}:v1")),
        d,
        "v1 was converted"
    );
}

/// A blob present in one repository and unlinked from another (a partial
/// delete, a broken push) is missing where it is missing, whichever tag's
/// read comes first: the report depends on its inputs alone.
#[test]
fn a_blob_missing_from_one_repository_is_reported_there_at_any_concurrency() {
    let h = harness();
    let ns = h.unique("unlinked");
    let shared = layer(113_001, 20_000);
    let own = [layer(113_002, 5_000), layer(113_003, 5_000)];
    let repos = ["has", "lost"];
    for (r, l) in repos.iter().zip(&own) {
        let ls = vec![shared.clone(), l.clone()];
        h.block_on(h.r1.image(&format!("{ns}/{r}"), "t", &ls, config("amd64", &ls)))
            .expect("push");
    }
    h.block_on(h.r1.delete_blob(&format!("{ns}/lost"), &sha256(&shared)))
        .expect("unlink");
    let images: String = repos
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{ns}/{r}\"\ntarget = \"{ns}/to-{r}\"\n"))
        .collect();
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &images,
        ..Default::default()
    });
    let mut first: Option<serde_json::Value> = None;
    for c in ["1", "16", "1", "16", "2", "16"] {
        let (code, v) = check_json_with(&plan, &["--verify-source-blobs", "--concurrency", c]);
        assert_eq!(code, 1, "a missing blob is a blocker: {v}");
        assert!(
            findings_of(&v, "lost").contains(&("missing-blob", "blocker")),
            "--concurrency {c}: {v}"
        );
        assert!(
            !findings_of(&v, "has")
                .iter()
                .any(|(c, _)| *c == "missing-blob"),
            "--concurrency {c}: {v}"
        );
        match &first {
            None => first = Some(v),
            Some(f) => assert_eq!(f, &v, "--concurrency {c} gave another report"),
        }
    }
}

/// `status --format html`: one page a project owner can open. It loads in
/// headless Chromium without script errors; the totals, each project and
/// repository, the failure with its kind and message, and every tag are
/// there; the state filter's script ran.
#[test]
fn the_status_page_loads_in_a_browser_with_failures_and_repositories() {
    let h = harness();
    let p = crate::support::project::seed(h, "statushtml");
    let mut images = p.images_into("");
    // A repository that does not exist: its listing fails.
    images.push_str(&format!("[[images]]\nsource = \"{}/gone\"\n", p.ns));
    let (dir, plan) = h.temp_plan(PlanOpts {
        images: &images,
        options: "format = \"oci\"",
        ..Default::default()
    });
    let run = cli(&["run", "--no-progress"], &plan);
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = cli(&["status", "--format", "html"], &plan);
    assert_eq!(out.status.code(), Some(1), "a failure: exit 1");
    let page = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        page.contains(&format!("<b>{}/gone</b> (source error)", p.ns)),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<tr class=\"project\"><th>{}</th><td class=\"num\">{}</td><td class=\"num\">1</td>",
            p.ns,
            p.tags.len()
        )),
        "{page}"
    );
    let html = dir.path().join("status.html");
    std::fs::write(&html, &page).expect("write");
    let Some(browser) = chromium() else {
        panic!("chromium is not installed (.ci/run installs it)");
    };
    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom"])
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom_text.contains("<pre id=\"errors\"></pre>"),
        "script errors: {dom_text}"
    );
    assert!(!String::from_utf8_lossy(&dom.stderr).contains("Uncaught"));
    let rows = p.tags.len() + 1;
    assert_eq!(dom_text.matches("<tr data-severity").count(), rows);
    assert!(
        dom_text.contains(&format!("<span id=\"shown\">{rows}</span>")),
        "the script ran"
    );
}
