//! End-to-end tests of `run` and `status` (format `preserve`) against real
//! registries: a Rahti-1-like source and a Rahti-2-like target, with the
//! fault proxy where a test needs faults (see `support`).

use crate::support;

use rahti_migrate::copy::{self, Events, RunSummary};
use rahti_migrate::plan::Plan;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::cli::{bin, cli};
use support::fixtures::{config, layer, Pusher};
use support::project::{seed, Project};
use support::proxy::Fault;
use support::{harness, Harness, PlanOpts};

fn images_toml(p: &Project) -> String {
    ["app", "worker", "multi"]
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{}/{r}\"\n", p.ns))
        .collect()
}

/// A plan in a new directory copying the project `p` (read through
/// `source`, a proxy's address, when given) with `options`.
fn project_plan(
    h: &Harness,
    p: &Project,
    source: Option<&str>,
    options: &str,
) -> (tempfile::TempDir, PathBuf) {
    h.temp_plan(PlanOpts {
        source_addr: source,
        images: &images_toml(p),
        options,
        ..Default::default()
    })
}

fn run_lib(h: &Harness, plan: &Path) -> RunSummary {
    let plan = Plan::load(plan).unwrap_or_else(|e| panic!("{e}"));
    h.block_on(copy::run(&plan, Default::default(), Events::none()))
        .unwrap_or_else(|e| panic!("run: {e}"))
}

/// Every blob a manifest (and its children) references, with its size.
async fn blobs_of(p: &Pusher, repo: &str, reference: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![reference.to_string()];
    while let Some(r) = todo.pop() {
        let Some(m) = p.get_manifest(repo, &r).await else {
            panic!("{repo}@{r} missing")
        };
        let v: serde_json::Value = serde_json::from_slice(&m.body).expect("manifest json");
        if let Some(ms) = v["manifests"].as_array() {
            todo.extend(
                ms.iter()
                    .filter_map(|d| d["digest"].as_str().map(str::to_string)),
            );
            continue;
        }
        for d in std::iter::once(&v["config"]).chain(v["layers"].as_array().into_iter().flatten()) {
            out.push((
                d["digest"].as_str().unwrap_or("").to_string(),
                d["size"].as_u64().unwrap_or(0),
            ));
        }
    }
    out
}

fn assert_migrated(h: &Harness, p: &Project) {
    h.block_on(async {
        for (repo, tag, digest) in &p.tags {
            let got =
                h.r2.get_manifest(repo, tag)
                    .await
                    .unwrap_or_else(|| panic!("{repo}:{tag} not in target"));
            assert_eq!(&got.digest, digest, "{repo}:{tag} digest differs");
            assert_eq!(&support::fixtures::sha256(&got.body), digest);
            for (d, size) in blobs_of(&h.r2, repo, tag).await {
                assert_eq!(
                    h.r2.blob_size(repo, &d).await,
                    Some(size),
                    "{repo}: blob {d}"
                );
            }
        }
    });
}

fn journal_text(plan: &Path) -> String {
    std::fs::read_to_string(plan.with_extension("journal")).unwrap_or_default()
}

fn assert_no_secrets(text: &str) {
    for s in [support::R1_PASS, support::R2_PASS, "eyJ"] {
        assert!(!text.contains(s), "a secret ({s}) leaked: {text}");
    }
}

#[test]
fn migrates_a_project_byte_for_byte_then_a_second_run_moves_nothing() {
    let h = harness();
    let p = seed(h, "proj");
    let (_dir, plan) = project_plan(h, &p, None, "format = \"preserve\"\nconcurrency = 4");
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.copied, p.tags.len());
    assert_migrated(h, &p);
    // Six distinct layers and configs, but the base layer is needed in
    // three repositories: it crosses the network once and is mounted twice.
    assert!(s.blobs_mounted >= 2, "{s:?}");
    let base = &p.layer["base"];
    let uploads_of_base = journal_text(&plan)
        .lines()
        .filter(|l| l.contains(base.as_str()) && l.contains("\"uploaded\""))
        .count();
    assert_eq!(uploads_of_base, 1, "base layer streamed more than once");

    let again = run_lib(h, &plan);
    assert_eq!(again.bytes_uploaded, 0);
    assert_eq!(again.blobs_uploaded + again.blobs_mounted, 0);
    assert_eq!(again.copied, 0);
    assert_eq!(again.skipped, p.tags.len());

    let out = cli(&["status", "--format", "json"], &plan);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["totals"]["done"], p.tags.len());
    assert_eq!(v["totals"]["failed"], 0);
    assert_eq!(v["totals"]["pending"], 0);
    assert!(v["totals"]["bytes_uploaded"].as_u64().unwrap_or(0) > 300_000);
    let first = &v["images"][0];
    for k in [
        "source",
        "source_digest",
        "target",
        "target_digest",
        "state",
        "error",
    ] {
        assert!(first.get(k).is_some(), "status JSON lacks {k}: {first}");
    }
    assert_no_secrets(&journal_text(&plan));
}

#[test]
fn a_source_digest_change_is_migrated_again() {
    let h = harness();
    let repo = h.unique("sync/app");
    let l1 = vec![layer(9001, 10_000)];
    h.block_on(h.r1.image(&repo, "v1", &l1, config("amd64", &l1)))
        .expect("push");
    let imgs = format!("[[images]]\nsource = \"{repo}\"\ntarget = \"{repo}-copy\"\n");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &imgs,
        options: "format = \"preserve\"",
        ..Default::default()
    });
    assert_eq!(run_lib(h, &plan).copied, 1);
    let l2 = vec![layer(9002, 10_000)];
    let (d2, _) = h
        .block_on(h.r1.image(&repo, "v1", &l2, config("amd64", &l2)))
        .expect("repush");
    let s = run_lib(h, &plan);
    assert_eq!((s.copied, s.skipped), (1, 0));
    let got = h
        .block_on(h.r2.get_manifest(&format!("{repo}-copy"), "v1"))
        .expect("target");
    assert_eq!(got.digest, d2);
}

#[test]
fn corrupted_blob_fails_only_its_image_and_tags_nothing() {
    let h = harness();
    let p = seed(h, "corrupt");
    let proxy = h.proxy_r1();
    let bad = p.layer["work"].clone();
    proxy.add(
        Some("GET"),
        &format!("/blobs/{bad}"),
        Fault::Corrupt,
        usize::MAX,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nretries = 1",
    );
    let s = run_lib(h, &plan);
    let worker = format!("{}/worker", p.ns);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    let f = &s.failed[0];
    assert_eq!(f.source, format!("{worker}:v1"));
    assert!(
        f.error.contains(&worker) && f.error.contains(&bad) && f.error.contains("digest mismatch"),
        "{}",
        f.error
    );
    assert!(
        f.error.contains(&format!("expected {bad}, got sha256:")),
        "{}",
        f.error
    );
    assert_eq!(proxy.hits("GET", &bad).len(), 2, "one try and one retry");
    assert_eq!(f.kind, rahti_migrate::model::FailureKind::Verification);
    let out = cli(&["status", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let failed: Vec<&serde_json::Value> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["error_kind"], "verification", "{v}");
    h.block_on(async {
        assert!(
            h.r2.tags(&worker).await.is_empty(),
            "a tag was pushed for the failed image"
        );
        assert_eq!(
            h.r2.blob_size(&worker, &bad).await,
            None,
            "the bad blob was committed"
        );
    });
    assert!(!journal_text(&plan)
        .lines()
        .any(|l| l.contains(&bad) && l.contains("\"blob\"")));
    let others = Project {
        tags: p.tags.iter().filter(|t| t.0 != worker).cloned().collect(),
        ..p
    };
    assert_migrated(h, &others);
}

#[test]
fn transient_faults_are_retried() {
    let h = harness();
    let p = seed(h, "flaky");
    let proxy = h.proxy_r1();
    let app = format!("{}/app", p.ns);
    proxy.add(
        Some("GET"),
        &format!("{app}/manifests/v1"),
        Fault::Status(503, None),
        2,
    );
    proxy.add(
        Some("GET"),
        &format!("{app}/tags/list"),
        Fault::Status(429, Some(1)),
        1,
    );
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["base"]),
        Fault::Reset,
        1,
    );
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["app1"]),
        Fault::Truncate(1000),
        1,
    );
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["arm"]),
        Fault::Status(502, None),
        1,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nretries = 3",
    );
    let start = Instant::now();
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert_eq!(
        proxy
            .hits("GET", &format!("{app}/manifests/v1"))
            .iter()
            .filter(|s| **s == 503)
            .count(),
        2
    );
    assert!(proxy
        .hits("GET", &format!("{app}/tags/list"))
        .contains(&429));
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(proxy.hits("GET", &p.layer["app1"]).len(), 2);
    assert_eq!(proxy.hits("GET", &p.layer["arm"]), vec![502, 200]);
}

#[test]
fn an_expired_token_is_renewed_by_running_password_command_again() {
    let h = harness();
    let p = seed(h, "expire");
    let proxy = h.proxy_r1();
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["app2"]),
        Fault::ExpireTokens,
        1,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let counter = dir.path().join("calls");
    let script = dir.path().join("token.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> '{}'\necho '{}'\n",
            counter.display(),
            support::R1_PASS
        ),
    )
    .expect("script");
    let auth = format!("password_command = [\"sh\", \"{}\"]", script.display());
    let imgs = images_toml(&p);
    let plan = h.plan(
        dir.path(),
        PlanOpts {
            source_addr: Some(&proxy.addr),
            source_auth: Some(&auth),
            images: &imgs,
            options: "format = \"preserve\"\nconcurrency = 1",
            ..Default::default()
        },
    );
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert!(
        proxy.hits("GET", &p.layer["app2"]).contains(&401),
        "the fault did not fire"
    );
    let calls = std::fs::read_to_string(&counter)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(
        calls, 2,
        "password_command should run once at start and once after expiry"
    );
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stalled_run(
    h: &Harness,
    prefix: &str,
) -> (
    Project,
    support::proxy::Proxy,
    Arc<AtomicBool>,
    tempfile::TempDir,
    PathBuf,
    std::process::Child,
) {
    let p = seed(h, prefix);
    let proxy = h.proxy_r1();
    let release = Arc::new(AtomicBool::new(false));
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["work"]),
        Fault::Stall(release.clone()),
        1,
    );
    let (dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nconcurrency = 3",
    );
    let child = bin()
        .args(["run", "--no-progress"])
        .arg(&plan)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let worker_blob = p.layer["work"].clone();
    wait_for(
        "the stalled blob and some finished tags",
        Duration::from_secs(60),
        || {
            proxy.hits("GET", &worker_blob).len() == 1
                && journal_text(&plan).matches("\"kind\":\"done\"").count() >= 2
        },
    );
    (p, proxy, release, dir, plan, child)
}

#[test]
fn a_run_killed_midway_completes_when_run_again() {
    let h = harness();
    let (p, proxy, release, _dir, plan, mut child) = stalled_run(h, "killed");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    let worker = format!("{}/worker", p.ns);
    assert!(
        h.block_on(h.r2.tags(&worker)).is_empty(),
        "the unfinished image was tagged"
    );
    release.store(true, std::sync::atomic::Ordering::Relaxed);
    proxy.clear();
    let out = cli(&["run", "--no-progress"], &plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("already done"), "{err}");
    assert_migrated(h, &p);
    assert_no_secrets(&err);
    assert_no_secrets(&journal_text(&plan));
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_130() {
    let h = harness();
    let (p, _proxy, release, _dir, plan, child) = stalled_run(h, "sigint");
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    release.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(h
        .block_on(h.r2.tags(&format!("{}/worker", p.ns)))
        .is_empty());
    let st = cli(&["status", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).expect("journal still reads");
    assert!(v["totals"]["done"].as_u64().unwrap_or(0) >= 2);
    assert!(v["totals"]["pending"].as_u64().unwrap_or(0) >= 1);
}

#[test]
fn a_bad_plan_is_refused_before_any_request() {
    let h = harness();
    let proxy = h.proxy_r1();
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: "[[images]]\nsource = \"a/b\"\ntagz = [\"x\"]\n",
        ..Default::default()
    });
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("migration.toml:") && err.contains("tagz"),
        "{err}"
    );

    let text = std::fs::read_to_string(&plan).expect("plan").replace(
        "tagz = [\"x\"]",
        "format = \"zip\"\nplatforms = [\"linux\"]",
    );
    std::fs::write(&plan, text).expect("write");
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("images[0].format")
            && err.contains("images[0].platforms")
            && err.contains("2 problems"),
        "{err}"
    );
    assert!(
        proxy.hits("GET", "/").is_empty() && proxy.hits("HEAD", "/").is_empty(),
        "a request was sent"
    );
    assert!(
        !plan.with_extension("journal").exists(),
        "a journal was written"
    );
}

#[test]
fn wrong_credentials_fail_with_a_clear_error_and_no_secret() {
    let h = harness();
    let repo = h.unique("creds/app");
    let l = vec![layer(7007, 1000)];
    h.block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let imgs = format!("[[images]]\nsource = \"{repo}\"\n");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_password: Some("not-the-password"),
        images: &imgs,
        options: "format = \"preserve\"",
        ..Default::default()
    });
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication") && err.contains("HTTP 401"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
}

#[test]
fn lists_follow_link_pagination() {
    // distribution 2.8 pages its catalog (its tag lists come whole); both
    // go through the same paginated request path.
    let h = harness();
    let repos: Vec<String> = (0..5).map(|_| h.unique("pages/app")).collect();
    let l = vec![layer(8008, 500)];
    for r in &repos {
        h.block_on(h.r1.image(r, "t", &l, config("amd64", &l)))
            .expect("push");
    }
    let proxy = h.proxy_r1();
    // A hostile registry points its next page at another host: only the
    // path is followed, on the registry's own host.
    proxy.add(
        Some("GET"),
        "/v2/_catalog",
        Fault::RewriteHeader("link", "</v2/".into(), "<http://evil.invalid/v2/".into()),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: "[[images]]\nsource = \"a/b\"\n",
        ..Default::default()
    });
    let plan = Plan::load(&plan).expect("plan");
    let creds = rahti_migrate::session::credentials(&plan).expect("credentials");
    let (source, _) = rahti_migrate::session::clients(&plan, creds).expect("clients");
    let got = h.block_on(source.catalog_paged(2)).expect("catalog");
    for r in &repos {
        assert!(got.contains(r), "{r} missing from the paged catalog");
    }
    let pages = proxy
        .hits("GET", "/v2/_catalog")
        .iter()
        .filter(|s| **s == 200)
        .count();
    assert!(
        pages >= 3 && pages >= got.len().div_ceil(2),
        "{pages} pages for {} repositories",
        got.len()
    );
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a page was read twice");
}

#[test]
fn blob_redirects_are_followed_without_sending_credentials_elsewhere() {
    let h = harness();
    let repo = h.unique("redirect/app");
    let l = vec![layer(8118, 20_000)];
    let (d, ds) = h
        .block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let proxy = h.proxy_r1();
    // Blob reads are sent to "localhost", another host name for the client.
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", ds[0]),
        Fault::RedirectTo("localhost".into()),
        1,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: &format!("[[images]]\nsource = \"{repo}\"\n"),
        options: "format = \"preserve\"",
        ..Default::default()
    });
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(
        h.block_on(h.r2.get_manifest(&repo, "v1")).map(|g| g.digest),
        Some(d)
    );
    assert_eq!(
        proxy.redirected_auth(),
        vec![None],
        "the redirect was followed once, without credentials"
    );
}

#[test]
fn anonymous_source_and_basic_auth_target() {
    let h = harness();
    let guard = h.extra();
    let Some(extra) = guard.as_ref() else {
        panic!("extra registries")
    };
    let open = support::fixtures::Pusher {
        base: extra.open.base_url(),
        ..h.r1.clone()
    };
    let basic = support::fixtures::Pusher {
        base: extra.basic.base_url(),
        ..h.r1.clone()
    };
    let repo = h.unique("plain/app");
    let l = vec![layer(8228, 3000)];
    let (d, _) = h
        .block_on(open.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let dir = tempfile::tempdir().expect("tmp");
    let write_plan = |password: &str| {
        std::fs::write(dir.path().join("basic.pass"), password).expect("pass");
        let text = format!(
            "version = 1\n[source]\nregistry = \"{}\"\ninsecure = true\n[target]\nregistry = \"{}\"\ninsecure = true\nusername = \"{}\"\npassword_file = \"basic.pass\"\n[options]\nformat = \"preserve\"\nretries = 1\n[[images]]\nsource = \"{repo}\"\n",
            extra.open.addr, extra.basic.addr, support::BASIC_USER
        );
        let p = dir.path().join("plan.toml");
        std::fs::write(&p, text).expect("plan");
        p
    };
    let out = cli(&["run", "--no-progress"], write_plan("wrong-password"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("401") && !err.contains("wrong-password"),
        "{err}"
    );
    let s = run_lib(h, &write_plan(support::BASIC_PASS));
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    // The Basic-auth registry serves it back with the same digest.
    let got = h.block_on(async {
        let r = basic
            .http
            .get(format!("{}/v2/{repo}/manifests/v1", basic.base))
            .basic_auth(support::BASIC_USER, Some(support::BASIC_PASS))
            .header("accept", support::fixtures::ACCEPT)
            .send()
            .await
            .expect("get");
        r.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    assert_eq!(got, Some(d));
}

#[test]
fn target_faults_are_retried_and_tags_stay_last() {
    let h = harness();
    let p = seed(h, "tflaky");
    let proxy = h.proxy_r2();
    let worker = format!("{}/worker", p.ns);
    // The upload of a blob is cut, the next one refused with 500, a
    // manifest push answered 503, an upload start rate-limited.
    proxy.add(
        Some("PUT"),
        &format!("{worker}/blobs/uploads/"),
        Fault::Reset,
        1,
    );
    proxy.add(Some("PUT"), "/blobs/uploads/", Fault::Status(500, None), 1);
    proxy.add(
        Some("PUT"),
        &format!("{}/app/manifests/", p.ns),
        Fault::Status(503, None),
        1,
    );
    proxy.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::Status(429, Some(0)),
        2,
    );
    let (_dir, plan) = project_plan(h, &p, None, "format = \"preserve\"\nretries = 3");
    h.target_via(&plan, &proxy);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert!(
        proxy
            .hits("PUT", &format!("{worker}/blobs/uploads/"))
            .contains(&0),
        "reset fired"
    );
    assert!(
        proxy.hits("PUT", "/blobs/uploads/").contains(&500),
        "500 fired"
    );
    // The two sessions whose uploads failed were cancelled.
    let deletes = proxy.hits("DELETE", "/blobs/uploads/");
    assert!(
        deletes.len() >= 2,
        "abandoned sessions cancelled: {deletes:?}"
    );
    assert!(
        proxy
            .hits("PUT", &format!("{}/app/manifests/", p.ns))
            .contains(&503),
        "503 fired"
    );
    assert_eq!(
        proxy
            .hits("POST", "/blobs/uploads/")
            .iter()
            .filter(|s| **s == 429)
            .count(),
        2
    );
    // Every tag was pushed after the manifest it names was pushed by digest.
    let log = journal_text(&plan);
    for (repo, tag, _) in &p.tags {
        let done = log
            .find(&format!("\"target\":\"{repo}:{tag}\",\"target_digest\""))
            .unwrap_or_else(|| panic!("{repo}:{tag} not done"));
        let digest = h
            .block_on(h.r2.get_manifest(repo, tag))
            .map(|g| g.digest)
            .unwrap_or_default();
        let pushed = log
            .find(&format!(
                "\"kind\":\"manifest\",\"repo\":\"{repo}\",\"digest\":\"{digest}\""
            ))
            .unwrap_or_else(|| panic!("{repo}@{digest} not journaled"));
        assert!(
            pushed < done,
            "{repo}:{tag} journaled done before its manifest"
        );
    }
}

#[test]
fn a_journal_write_failure_stops_the_run() {
    let h = harness();
    let p = seed(h, "jfull");
    let (_dir, plan) = project_plan(h, &p, None, "format = \"preserve\"\nconcurrency = 1");
    // The journal may grow to 2 KiB: the header and a few records fit, then
    // a write fails with EFBIG (SIGXFSZ ignored, so the write returns the
    // error instead of killing the process).
    let out = Command::new("bash")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2; exec \"$0\" run --no-progress \"$1\"")
        .arg(env!("CARGO_BIN_EXE_rahti-migrate"))
        .arg(&plan)
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let journal = plan.with_extension("journal");
    assert!(
        err.contains(&format!("journal {}", journal.display())) && err.contains("write failed"),
        "{err}"
    );
    assert!(
        !err.contains("copied,"),
        "the run went on to its summary: {err}"
    );
    // What the journal holds is whole records only, and it still reads.
    let text = journal_text(&plan);
    assert!(text.ends_with('\n') && text.len() <= 2048, "{text}");
    let done = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"done\""))
        .count();
    assert!(done < p.tags.len(), "every tag was journaled: {text}");
    let st = cli(&["status", "--format", "json"], &plan);
    assert!(
        st.stdout.starts_with(b"{"),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // A run with room finishes the job.
    let again = run_lib(h, &plan);
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    assert_migrated(h, &p);
}

#[test]
fn a_hostile_tag_list_fails_those_tags_only_and_builds_no_url_from_them() {
    let h = harness();
    let p = seed(h, "hostile");
    let proxy = h.proxy_r1();
    // The source's tag list of `worker` gains tags that would climb out of
    // the repository or overwrite another tag if put into a URL.
    proxy.add(
        Some("GET"),
        "/worker/tags/list",
        Fault::Replace(
            "\"v1\"".into(),
            "\"../../other/manifests/pwn\",\"x?y=1#f\",\"\\u001b[31mred\",\"v1\"".into(),
        ),
        usize::MAX,
    );
    let (_dir, plan) = project_plan(h, &p, Some(&proxy.addr), "format = \"preserve\"");
    let s = run_lib(h, &plan);
    // One failure for the listing, naming the three.
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    for f in &s.failed {
        assert!(
            f.error.contains("3 names that are not valid tags"),
            "{}",
            f.error
        );
        assert!(
            !f.error.contains('\u{1b}'),
            "escape sequence in {:?}",
            f.error
        );
    }
    // Every real tag was copied, and nothing was asked for by a bad name.
    assert_migrated(h, &p);
    for method in ["GET", "HEAD"] {
        for bad in ["pwn", "x?y", "/other/", "red"] {
            assert!(proxy.hits(method, bad).is_empty(), "{method} {bad}");
        }
    }
    h.block_on(async {
        assert!(h.r2.tags(&format!("{}/other", p.ns)).await.is_empty());
    });
}

#[test]
fn retries_happen_at_one_level_only() {
    // A target that refuses every upload with 503: each blob's transfer is
    // attempted `retries + 1` times, and each attempt opens one session
    // (nested retries sent (retries + 1)^2 POSTs per blob).
    let h = harness();
    let repo = h.unique("onelevel/app");
    let l = vec![layer(8101, 700)];
    h.block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let proxy = h.proxy_r2();
    proxy.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::Status(503, Some(0)),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &format!("[[images]]\nsource = \"{repo}\"\ntags = [\"v1\"]\n"),
        options: "format = \"preserve\"\nretries = 3",
        ..Default::default()
    });
    h.target_via(&plan, &proxy);
    let s = run_lib(h, &plan);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    let posts = proxy.hits("POST", &format!("{repo}/blobs/uploads/")).len();
    // The layer and the config: at most 4 sessions each.
    assert!((4..=8).contains(&posts), "{posts} upload POSTs for 2 blobs");
    let err = &s.failed[0].error;
    assert!(
        err.contains("503") && err.contains("after 3 retries"),
        "{err}"
    );
}

#[test]
fn a_second_run_on_a_journal_in_use_exits_2_and_changes_nothing() {
    let h = harness();
    let (p, proxy, release, _dir, plan, mut child) = stalled_run(h, "locked");
    // Let the first run finish all it can: then only the stalled blob is
    // outstanding and neither the journal nor the request log moves.
    let read = || std::fs::read(plan.with_extension("journal")).expect("journal");
    let mut last = (read(), proxy.hits("GET", "/v2/").len());
    wait_for("the first run to settle", Duration::from_secs(30), || {
        std::thread::sleep(Duration::from_millis(700));
        let now = (read(), proxy.hits("GET", "/v2/").len());
        let settled = now == last;
        last = now;
        settled
    });
    let (journal, requests) = last;
    let out = cli(&["run", "--no-progress"], &plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("in use by another run"), "{err}");
    assert!(
        err.contains(".journal"),
        "the error names the journal: {err}"
    );
    assert!(read() == journal, "the second run touched the journal");
    assert_eq!(
        proxy.hits("GET", "/v2/").len(),
        requests,
        "the second run sent requests"
    );
    // A part of a sharded run of the same plan writes the same
    // repositories: refused too, before any request, and so is a reshard.
    for args in [
        vec!["run", "--shard", "0/1"],
        vec!["run", "--shard", "1/2", "--reshard"],
    ] {
        let out = cli(&args, &plan);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("run.lock") && err.contains("pid"), "{err}");
        assert_eq!(
            proxy.hits("GET", "/v2/").len(),
            requests,
            "{args:?} sent requests"
        );
    }
    // status and check still read it while the first run holds it.
    let st = cli(&["status"], &plan);
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let ck = cli(&["check", "--format", "json"], &plan);
    assert!(
        matches!(ck.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&ck.stderr)
    );
    release.store(true, std::sync::atomic::Ordering::Relaxed);
    let status = child.wait().expect("wait");
    assert!(status.success(), "the first run finishes");
    assert_migrated(h, &p);
}

#[test]
fn registry_text_reaches_the_terminal_escaped() {
    let h = harness();
    let repo = h.unique("ansi/app");
    let l = vec![layer(8111, 300)];
    h.block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let proxy = h.proxy_r1();
    // The registry's error message paints the screen and fakes a line.
    proxy.add(
        Some("GET"),
        &format!("{repo}/manifests/gone"),
        Fault::Replace(
            "manifest unknown".into(),
            "\\u001b[2J\\u001b[31mmanifest unknown\\nok: all done".into(),
        ),
        usize::MAX,
    );
    proxy.add(
        Some("GET"),
        &format!("{repo}/tags/list"),
        Fault::Replace("\"v1\"".into(), "\"v1\",\"gone\"".into()),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: &format!("[[images]]\nsource = \"{repo}\"\ntags = [\"v1\", \"gone\"]\n"),
        ..Default::default()
    });
    let out = cli(&["run", "--no-progress"], &plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("manifest unknown"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "an escape sequence reached the terminal: {err:?}"
    );
    assert!(!err.lines().any(|l| l.starts_with("ok: all done")), "{err}");
    let st = cli(&["status"], &plan);
    let text = String::from_utf8_lossy(&st.stdout).to_string();
    assert!(
        text.contains("manifest unknown") && !text.contains('\u{1b}'),
        "{text:?}"
    );
}

#[test]
fn a_trickling_body_fails_the_minimum_rate_and_is_retried() {
    let h = harness();
    let p = seed(h, "trickle");
    let proxy = h.proxy_r1();
    let blob = format!("/blobs/{}", p.layer["base"]);
    // 1 KB every 100 ms: 10 KB/s against a minimum of 100 KB/s.
    proxy.add(
        Some("GET"),
        &blob,
        Fault::Trickle(1000, Duration::from_millis(100)),
        1,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nstall_timeout = 1\nmin_rate = \"100KB\"",
    );
    let t = Instant::now();
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert_eq!(
        proxy.hits("GET", &blob).len(),
        2,
        "the trickling read was abandoned and read again"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

/// A plan for `p` with 100 KB upload chunks (the 316 KB base layer goes in
/// four chunks), through the given proxies.
fn chunked_plan(h: &Harness, p: &Project, dir: &Path, source: Option<&str>) -> PathBuf {
    let imgs = images_toml(p);
    h.plan(
        dir,
        PlanOpts {
            source_addr: source,
            images: &imgs,
            options: "format = \"preserve\"\nchunk_size = \"100KB\"\nretries = 3",
            ..Default::default()
        },
    )
}

#[test]
fn a_failed_chunk_resumes_from_the_registrys_offset_without_reading_again() {
    let h = harness();
    let p = seed(h, "chunkpatch");
    let target = h.proxy_r2();
    // The second chunk of the first chunked upload is cut off.
    target.add_after(Some("PATCH"), "/blobs/uploads/", Fault::Reset, 1, 1);
    let source = h.proxy_r1();
    let dir = tempfile::tempdir().expect("tmp");
    let plan = chunked_plan(h, &p, dir.path(), Some(&source.addr));
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    let base = format!("/blobs/{}", p.layer["base"]);
    assert_eq!(source.hits("GET", &base).len(), 1, "the blob was read once");
    let patches = target.hits("PATCH", "/blobs/uploads/");
    assert_eq!(patches.len(), 5, "four chunks and one resent: {patches:?}");
    assert!(patches.contains(&0), "the reset fired");
    assert_eq!(
        target
            .hits("GET", "/blobs/uploads/")
            .iter()
            .filter(|s| **s == 204)
            .count(),
        1,
        "the session's offset was asked once"
    );
}

#[test]
fn an_interrupted_download_resumes_with_range() {
    interrupted_download(false);
}

#[test]
fn an_interrupted_download_from_a_source_ignoring_range_skips_what_it_has() {
    interrupted_download(true);
}

fn interrupted_download(ignore_range: bool) {
    let h = harness();
    let p = seed(h, "chunkrange");
    let source = h.proxy_r1();
    let base = format!("/blobs/{}", p.layer["base"]);
    source.add(Some("GET"), &base, Fault::Truncate(150_000), 1);
    if ignore_range {
        source.add(Some("GET"), &base, Fault::IgnoreRange, 1);
    }
    let target = h.proxy_r2();
    let dir = tempfile::tempdir().expect("tmp");
    let plan = chunked_plan(h, &p, dir.path(), Some(&source.addr));
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert_eq!(
        source.ranges(&base),
        vec![None, Some("bytes=150000-".to_string())],
        "the read went on from the byte where it stopped"
    );
    assert_eq!(
        target.hits("PATCH", "/blobs/uploads/").len(),
        4,
        "no byte was uploaded twice"
    );
    assert!(
        target.hits("DELETE", "/blobs/uploads/").is_empty(),
        "the session was kept"
    );
}

#[test]
fn every_blob_and_config_is_read_once_per_run() {
    // app:latest and app:v2 are one image: its config is read once for the
    // conversion, each layer once for the copy; `check` reads each config
    // once too, and looks each blob up once.
    let h = harness();
    let p = seed(h, "readonce");
    let source = h.proxy_r1();
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&source.addr),
        "format = \"oci\"\nconcurrency = 4",
    );
    let gets = |source: &support::proxy::Proxy| {
        let mut n: std::collections::BTreeMap<String, usize> = Default::default();
        for r in source.requests() {
            if r.method == "GET" && r.path.contains("/blobs/sha256:") {
                *n.entry(r.path.rsplit('/').next().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        n
    };
    let heads_from = |from: usize| {
        let mut heads: std::collections::BTreeMap<String, usize> = Default::default();
        for r in source.requests().iter().skip(from) {
            if r.method == "HEAD" && r.path.contains("/blobs/sha256:") {
                *heads
                    .entry(r.path.rsplit('/').next().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        heads
    };
    let ck = cli(&["check", "--format", "json"], &plan);
    assert_eq!(
        ck.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ck.stderr)
    );
    // The manifests give every blob's size: none is looked up.
    assert_eq!(heads_from(0), Default::default());
    // Asked to, it looks each blob up once in each repository that needs
    // it (a blob may be lost from one repository and not another): the
    // base layer, in three repositories, three times; no path twice.
    let seen = source.requests().len();
    let ck = cli(
        &["check", "--format", "json", "--verify-source-blobs"],
        &plan,
    );
    assert_eq!(ck.status.code(), Some(0));
    let heads = heads_from(seen);
    assert!(!heads.is_empty());
    let base = p.layer.get("base").cloned().unwrap_or_default();
    assert_eq!(heads.get(&base), Some(&3), "check: {heads:?}");
    let mut paths: std::collections::BTreeMap<String, usize> = Default::default();
    for r in source.requests().iter().skip(seen) {
        if r.method == "HEAD" && r.path.contains("/blobs/sha256:") {
            *paths.entry(r.path.clone()).or_default() += 1;
        }
    }
    assert!(paths.values().all(|n| *n == 1), "check: {paths:?}");
    let by_check = gets(&source);
    assert!(!by_check.is_empty(), "check read the configs");
    // Once per check, and there were two.
    assert!(by_check.values().all(|n| *n == 2), "check: {by_check:?}");
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let all = gets(&source);
    let by_run: Vec<(&String, usize)> = all
        .iter()
        .map(|(d, n)| (d, n.saturating_sub(by_check.get(d).copied().unwrap_or(0))))
        .collect();
    assert!(by_run.iter().all(|(_, n)| *n <= 1), "run: {by_run:?}");
    for (repo, tag, _) in &p.tags {
        assert!(
            !h.target_digest(&format!("{repo}:{tag}")).is_empty(),
            "{repo}:{tag} not migrated"
        );
    }
}

/// A seeded project migrated with `format = "oci"` by the binary: the
/// project, the plan's directory and the plan.
fn migrated_oci(h: &Harness, prefix: &str) -> (Project, tempfile::TempDir, PathBuf) {
    let p = seed(h, prefix);
    let (dir, plan) = project_plan(h, &p, None, "format = \"oci\"");
    let out = cli(&["run", "--no-progress"], &plan);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (p, dir, plan)
}

#[test]
fn verify_finds_a_missing_blob_a_moved_tag_and_a_changed_source_and_map_lists_every_tag() {
    let h = harness();
    let (p, _dir, plan) = migrated_oci(h, "verify");
    let ok = cli(&["verify"], &plan);
    let text = String::from_utf8_lossy(&ok.stdout).to_string();
    assert_eq!(ok.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!("verified {} images", p.tags.len()))
            && text.contains("everything is in place"),
        "{text}"
    );
    // The digest map: one row per tag, with both full references.
    let map = cli(&["map", "--format", "json"], &plan);
    let rows: serde_json::Value = serde_json::from_slice(&map.stdout).expect("map json");
    let all = rows.as_array().cloned().unwrap_or_default();
    // A row per tag, and a row per child manifest of a migrated index
    // (named by digest, with its platform): each child exists under its
    // digest in the source and its converted digest in the target.
    let (children, rows): (Vec<_>, Vec<_>) = all.iter().partition(|r| r.get("platform").is_some());
    assert_eq!(rows.len(), p.tags.len());
    assert!(!children.is_empty(), "the sample has a multi-platform tag");
    for c in &children {
        let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        let (src, dst) = (field("source"), field("target"));
        let (repo, d) = src
            .split_once('/')
            .and_then(|(_, r)| r.split_once('@'))
            .expect("registry/repo@digest");
        let (trepo, td) = dst
            .split_once('/')
            .and_then(|(_, r)| r.split_once('@'))
            .expect("registry/repo@digest");
        assert_eq!(d, field("source_digest"));
        assert_eq!(td, field("target_digest"));
        h.block_on(async {
            h.r1.get_manifest(repo, d).await.expect("source child");
            h.r2.get_manifest(trepo, td).await.expect("target child");
        });
    }
    for (repo, tag, digest) in &p.tags {
        let row = rows
            .iter()
            .find(|r| {
                r["source"]
                    .as_str()
                    .unwrap_or("")
                    .contains(&format!("/{repo}:{tag}@"))
            })
            .unwrap_or_else(|| panic!("{repo}:{tag} not in the map"));
        assert_eq!(
            row["source"],
            format!("{}/{repo}:{tag}@{digest}", h.rahti1.addr)
        );
        let target = h.target_digest(&format!("{repo}:{tag}"));
        assert_eq!(
            row["target"],
            format!("{}/{repo}:{tag}@{target}", h.rahti2.addr)
        );
    }
    let csv = cli(&["map"], &plan);
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout).lines().count(),
        p.tags.len() + children.len() + 1
    );
    // A journal whose index record names a child the index lacks:
    // `child-missing`. Appending the true record again restores it.
    let journal = plan.with_extension("journal");
    let multi_v1 = format!("\"source\":\"{}/multi:v1\"", p.ns);
    let line = journal_text(&plan)
        .lines()
        .rfind(|l| l.contains("\"kind\":\"done\"") && l.contains(&multi_v1))
        .expect("multi:v1 done")
        .to_string();
    let mut planted: serde_json::Value = serde_json::from_str(&line).expect("record");
    planted["children"][0]["target_digest"] = format!("sha256:{}", "0".repeat(64)).into();
    let append = |l: &str| {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .expect("journal");
        writeln!(f, "{l}").expect("append");
    };
    append(&planted.to_string());
    let v = cli(&["verify", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&v.stdout).expect("verify json");
    let codes: Vec<&str> = v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(codes, ["child-missing"], "{v}");
    append(&line);
    // Break the target and move a source tag.
    let worker = format!("{}/worker", p.ns);
    let app = format!("{}/app", p.ns);
    h.block_on(async {
        h.r2.delete_blob(&worker, &p.layer["work"])
            .await
            .expect("delete");
        let v1 = h.r2.get_manifest(&app, "v1").await.expect("v1");
        h.r2.manifest(&app, "latest", &v1.content_type, &v1.body)
            .await
            .expect("re-point latest");
        let s1 = h.r1.get_manifest(&app, "v1").await.expect("source v1");
        h.r1.manifest(&app, "v2", &s1.content_type, &s1.body)
            .await
            .expect("re-point source v2");
    });
    let bad = cli(&["verify", "--format", "json"], &plan);
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).expect("verify json");
    let problems: Vec<(String, String)> = v["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            (
                p["source"].as_str().unwrap_or("").to_string(),
                p["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let has = |src: &str, code: &str| problems.contains(&(src.to_string(), code.to_string()));
    assert!(has(&format!("{worker}:v1"), "blob-missing"), "{problems:?}");
    assert!(has(&format!("{app}:latest"), "tag-moved"), "{problems:?}");
    assert!(has(&format!("{app}:v2"), "source-changed"), "{problems:?}");
    assert_eq!(problems.len(), 3, "{problems:?}");
}

#[test]
fn rewrite_points_workloads_at_the_target_with_migrated_digests() {
    let h = harness();
    let (p, dir, plan) = migrated_oci(h, "rewrite");
    let (src, dst) = (&h.rahti1.addr, &h.rahti2.addr);
    let app = format!("{}/app", p.ns);
    let v1 = p
        .tags
        .iter()
        .find(|(r, t, _)| *r == app && t == "v1")
        .map(|(_, _, d)| d.clone())
        .expect("app:v1");
    let new_v1 = h.target_digest(&format!("{app}:v1"));
    assert_ne!(v1, new_v1, "oci changed the digest");
    let manifests = dir.path().join("k8s");
    std::fs::create_dir_all(manifests.join("sub")).expect("mkdir");
    let deploy = format!(
        "# our app\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n      - name: app   # main\n        image: \"{src}/{app}@{v1}\"\n      - name: worker\n        image: {src}/{ns}/worker:v1\n",
        ns = p.ns
    );
    let other = format!(
        "kind: Pod\nspec:\n  containers:\n  - image: {src}/{ns}/not-migrated:v1\n",
        ns = p.ns
    );
    std::fs::write(manifests.join("deploy.yaml"), &deploy).expect("write");
    std::fs::write(manifests.join("sub/pod.yml"), &other).expect("write");
    std::fs::write(manifests.join("notes.txt"), "not yaml: [").expect("write");
    let diff = bin()
        .args(["rewrite"])
        .arg(&plan)
        .arg(&manifests)
        .output()
        .expect("rewrite");
    let text = String::from_utf8_lossy(&diff.stdout).to_string();
    let err = String::from_utf8_lossy(&diff.stderr).to_string();
    assert_eq!(diff.status.code(), Some(1), "an unmapped reference: {err}");
    assert!(
        text.contains(&format!("+        image: \"{dst}/{app}@{new_v1}\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!("+        image: {dst}/{}/worker:v1", p.ns)),
        "{text}"
    );
    assert!(
        err.contains("pod.yml:4: not rewritten") && err.contains("not in the plan"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(manifests.join("deploy.yaml")).expect("read"),
        deploy,
        "a dry rewrite changes no file"
    );
    // One file that is not YAML: with several files, nothing is written.
    std::fs::write(manifests.join("sub/bad.yaml"), "a: [\n").expect("write");
    let none = bin()
        .args(["rewrite", "--in-place"])
        .arg(&plan)
        .arg(&manifests)
        .output()
        .expect("rewrite");
    let err = String::from_utf8_lossy(&none.stderr);
    assert_eq!(none.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bad.yaml") && err.contains("nothing written"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(manifests.join("deploy.yaml")).expect("read"),
        deploy,
        "a bad file leaves every file untouched"
    );
    let wet = bin()
        .args(["rewrite", "--in-place"])
        .arg(&plan)
        .arg(manifests.join("deploy.yaml"))
        .output()
        .expect("rewrite");
    assert_eq!(
        wet.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&wet.stderr)
    );
    let after = std::fs::read_to_string(manifests.join("deploy.yaml")).expect("read");
    assert_eq!(
        after,
        deploy
            .replace(
                &format!("{src}/{app}@{v1}"),
                &format!("{dst}/{app}@{new_v1}")
            )
            .replace(
                &format!("{src}/{}/worker:v1", p.ns),
                &format!("{dst}/{}/worker:v1", p.ns)
            ),
        "only the references changed"
    );
}

#[test]
fn a_chunked_upload_whose_commit_answer_is_lost_is_not_sent_again() {
    let h = harness();
    let p = seed(h, "chunkcommit");
    let target = h.proxy_r2();
    // The registry commits the blob; its answer never arrives.
    target.add(Some("PUT"), "/blobs/uploads/", Fault::CommitLost, 1);
    let dir = tempfile::tempdir().expect("tmp");
    let plan = chunked_plan(h, &p, dir.path(), None);
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    // The chunked blob was committed once: after the lost answer it was
    // looked up, not sent again. (Every blob is looked up before its
    // transfer too, so a HEAD alone would prove nothing.)
    let base = &p.layer["base"];
    let commits: Vec<_> = target
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.query.replace("%3A", ":").contains(base.as_str()))
        .collect();
    assert_eq!(commits.len(), 1, "{commits:?}");
    let heads = target.hits("HEAD", &format!("/blobs/{base}"));
    assert!(
        heads.len() >= 2,
        "looked up before and after the commit: {heads:?}"
    );
}

#[test]
fn max_requests_bounds_what_a_registry_sees_at_once() {
    let h = harness();
    let p = seed(h, "maxreq");
    let target = h.proxy_r2();
    let (_dir, plan) = project_plan(h, &p, None, "format = \"oci\"\nconcurrency = 8");
    h.target_via(&plan, &target);
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace("insecure = true\n", "insecure = true\nmax_requests = 2\n");
    std::fs::write(&plan, text).expect("plan");
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let most = target.max_in_flight();
    assert!((1..=2).contains(&most), "{most} requests at once");
}

#[test]
fn a_retry_after_pauses_every_request_to_that_registry() {
    let h = harness();
    let p = seed(h, "pause");
    let source = h.proxy_r1();
    // The first blob read is answered 429, Retry-After: 2, while other
    // transfers would go on.
    source.add(
        Some("GET"),
        "/blobs/sha256:",
        Fault::Status(429, Some(2)),
        1,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&source.addr),
        "format = \"preserve\"\nconcurrency = 3",
    );
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    let faulted = source.faulted();
    assert_eq!(faulted.len(), 1, "{faulted:?}");
    let (_, answered, _) = faulted[0];
    // Requests already on their way when the answer left still arrive; the
    // next ones wait out the pause.
    let from = answered + Duration::from_millis(150);
    let during: Vec<_> = source
        .requests()
        .into_iter()
        .filter(|r| r.at > from && r.at < answered + Duration::from_millis(1900))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(during.is_empty(), "requests during the pause: {during:?}");
}

#[test]
fn three_shards_in_parallel_migrate_every_image_exactly_once() {
    let h = harness();
    let (p1, p2) = (seed(h, "shardsa"), seed(h, "shardsb"));
    let imgs = format!("{}{}", images_toml(&p1), images_toml(&p2));
    let (dir, plan) = h.temp_plan(PlanOpts {
        images: &imgs,
        options: "format = \"oci\"\nconcurrency = 2",
        ..Default::default()
    });
    let parts = |args: &[&str]| -> Vec<(i32, String)> {
        let children: Vec<_> = (0..3)
            .map(|i| {
                bin()
                    .args(["run", "--no-progress", "--shard", &format!("{i}/3")])
                    .args(args)
                    .arg(&plan)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().expect("wait");
                (
                    out.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&out.stderr).to_string(),
                )
            })
            .collect()
    };
    for (code, err) in parts(&[]) {
        assert_eq!(code, 0, "{err}");
    }
    let all: Vec<(String, String, String)> = p1.tags.iter().chain(&p2.tags).cloned().collect();
    // Every tag done in exactly one part; no repository written by two.
    let mut done: std::collections::HashMap<String, usize> = Default::default();
    let mut repos_of: Vec<std::collections::HashSet<String>> = Vec::new();
    for i in 0..3 {
        let path = dir.path().join(format!("migration.shard-{i}-of-3.journal"));
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let mut repos = std::collections::HashSet::new();
        for l in text.lines() {
            let v: serde_json::Value = serde_json::from_str(l).expect("record");
            if v["kind"] == "done" {
                *done
                    .entry(v["source"].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
            if let Some(r) = v["repo"].as_str() {
                repos.insert(r.to_string());
            }
        }
        repos_of.push(repos);
    }
    for (repo, tag, _) in &all {
        assert_eq!(
            done.get(&format!("{repo}:{tag}")),
            Some(&1),
            "{repo}:{tag}: {done:?}"
        );
        assert!(!h.target_digest(&format!("{repo}:{tag}")).is_empty());
    }
    for a in 0..3 {
        for b in a + 1..3 {
            let both: Vec<_> = repos_of[a].intersection(&repos_of[b]).collect();
            assert!(both.is_empty(), "parts {a} and {b} both wrote {both:?}");
        }
    }
    assert!(
        repos_of.iter().filter(|r| !r.is_empty()).count() >= 2,
        "the work was spread: {repos_of:?}"
    );
    // status reads every part's journal.
    let st = cli(&["status", "--format", "json"], &plan);
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status");
    assert_eq!(st["totals"]["done"], all.len());
    // A second sharded run moves nothing.
    for (code, err) in parts(&[]) {
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("0 copied") && err.contains("blobs: 0 uploaded"),
            "{err}"
        );
    }
    // Another number of parts is refused, unless its records are reused.
    let two = bin()
        .env("JOB_COMPLETION_INDEX", "1")
        .args(["run", "--no-progress", "--shards", "2"])
        .arg(&plan)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&two.stderr).to_string();
    assert_eq!(two.status.code(), Some(2), "{err}");
    assert!(err.contains("--reshard"), "{err}");
    let two = bin()
        .env("JOB_COMPLETION_INDEX", "1")
        .args(["run", "--no-progress", "--shards", "2", "--reshard"])
        .arg(&plan)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&two.stderr).to_string();
    assert_eq!(two.status.code(), Some(0), "{err}");
    assert!(err.contains("0 copied"), "{err}");
}

#[test]
fn check_and_rerun_cost_few_requests_per_tag() {
    // Many small tags, as in the benchmark: a shared base, a layer and a
    // config of their own. `check` on a fresh target reads each manifest
    // and config and looks each target blob up; it lists each target
    // repository instead of looking every tag up, and takes the source
    // blobs the manifests name as present. A re-run reads each source
    // manifest and looks its target tag up, nothing more.
    let h = harness();
    let ns = h.unique("cheap");
    let (repos, per_repo) = (2, 20);
    let base = layer(31, 1024);
    for r in 0..repos {
        for t in 0..per_repo {
            let ls = vec![base.clone(), layer(3100 + (r * 100 + t) as u64, 256)];
            let mut c = config("amd64", &ls);
            c["config"] = serde_json::json!({"Labels": {"n": format!("{r}-{t}")}});
            h.block_on(h.r1.image(&format!("{ns}/app{r}"), &format!("v{t}"), &ls, c))
                .expect("seed");
        }
    }
    let tags = (repos * per_repo) as f64;
    let (source, target) = (h.proxy_r1(), h.proxy_r2());
    let images: String = (0..repos)
        .map(|r| format!("[[images]]\nsource = \"{ns}/app{r}\"\ntarget = \"{ns}/to{r}\"\n"))
        .collect();
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &images,
        options: "format = \"oci\"",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    let count = |p: &support::proxy::Proxy, from: usize, method: &str, part: &str| {
        p.requests()
            .iter()
            .skip(from)
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    };
    let ck = cli(&["check", "--format", "json"], &plan);
    assert_eq!(
        ck.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ck.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ck.stdout).expect("json");
    let sent = source.requests().len() + target.requests().len();
    assert!(
        sent as f64 / tags <= 3.5,
        "check sent {sent} requests for {tags} tags"
    );
    assert_eq!(
        count(&target, 0, "HEAD", "/manifests/"),
        0,
        "tags listed, not looked up"
    );
    assert_eq!(count(&source, 0, "HEAD", "/blobs/"), 0);
    assert_eq!(count(&target, 0, "GET", "/tags/list"), repos);
    let lookups = &v["summary"]["lookups"];
    assert_eq!(lookups["target_repositories_listed"], repos, "{lookups}");
    assert_eq!(lookups["target_tags_looked_up"], 0, "{lookups}");
    assert_eq!(lookups["source_blobs_looked_up"], 0, "{lookups}");
    assert_eq!(
        v["summary"]["by_action"]["convert"],
        repos * per_repo,
        "{}",
        v["summary"]
    );

    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.copied, repos * per_repo);
    // After the run the listed tags are looked up, and all are done.
    let seen_target = target.requests().len();
    let ck = cli(&["check", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&ck.stdout).expect("json");
    assert_eq!(
        v["summary"]["by_action"]["done"],
        repos * per_repo,
        "{}",
        v["summary"]
    );
    assert_eq!(
        count(&target, seen_target, "HEAD", "/manifests/"),
        repos * per_repo
    );

    let (seen_source, seen_target) = (source.requests().len(), target.requests().len());
    let again = run_lib(h, &plan);
    assert_eq!(again.skipped, repos * per_repo, "{again:?}");
    let sent = source.requests().len() - seen_source + target.requests().len() - seen_target;
    assert_eq!(
        count(&source, seen_source, "GET", "/manifests/"),
        repos * per_repo
    );
    assert_eq!(
        count(&target, seen_target, "HEAD", "/manifests/"),
        repos * per_repo
    );
    // Beyond those two per tag: the tag listings and the auth challenges.
    assert!(
        sent <= 2 * repos * per_repo + 4 * repos + 4,
        "re-run sent {sent}"
    );
}

/// The most of `spans` (start, end) that overlap at one moment.
fn most_at_once(mut spans: Vec<(Instant, Instant)>) -> usize {
    let mut edges: Vec<(Instant, i32)> = Vec::new();
    for (a, b) in spans.drain(..) {
        edges.push((a, 1));
        edges.push((b, -1));
    }
    // Ends before starts at the same instant.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn manifest_reads_have_their_own_bound_beside_blob_transfers() {
    // With concurrency = 1 blobs move one at a time, while manifests are
    // read up to 4 at once (twice concurrency, at least 4).
    let h = harness();
    let ns = h.unique("bound");
    let mut layers = Vec::new();
    for t in 0..10 {
        let ls = vec![layer(4200 + t, 300)];
        layers.push(support::fixtures::sha256(&ls[0]));
        h.block_on(h.r1.image(
            &format!("{ns}/app"),
            &format!("v{t}"),
            &ls,
            config("amd64", &ls),
        ))
        .expect("seed");
    }
    let source = h.proxy_r1();
    source.add(
        Some("GET"),
        "/manifests/",
        Fault::Delay(Duration::from_millis(200)),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &format!("[[images]]\nsource = \"{ns}/app\"\ntarget = \"{ns}/to\"\n"),
        options: "concurrency = 1",
        ..Default::default()
    });
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.copied, 10);
    let spans = |parts: &[String]| {
        source
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && parts.iter().any(|p| r.path.contains(p.as_str())))
            .map(|r| (r.at, r.answered))
            .collect::<Vec<_>>()
    };
    let manifests = most_at_once(spans(&["/manifests/".to_string()]));
    assert!(
        (2..=4).contains(&manifests),
        "{manifests} manifest reads at once"
    );
    // Layer transfers (config reads are small reads, not transfers).
    let blobs = most_at_once(spans(&layers));
    assert_eq!(blobs, 1, "{blobs} layer transfers at once");
}

/// Invalid names in a tag list: each one the plan selects fails once (one
/// `FAILED` line, counted once in the summary and in `status`); one the
/// plan's globs would never copy is a warning counted apart, and the run
/// that copied everything it asked for exits 0.
#[test]
fn invalid_tag_names_fail_once_when_selected_and_warn_when_filtered_out() {
    let h = harness();
    let repo = h.unique("badnames/app");
    let l = vec![layer(8301, 900)];
    h.block_on(h.r1.image(&repo, "v0", &l, config("amd64", &l)))
        .expect("push");
    let proxy = h.proxy_r1();
    proxy.add(
        Some("GET"),
        "/tags/list",
        Fault::Replace(
            "\"v0\"".into(),
            "\"v0\",\"v0/../x\",\"v0?a\",\"v0#b\",\"v0 c\"".into(),
        ),
        usize::MAX,
    );
    // All tags: the four bad names are selected, and fail once each.
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: &format!("[[images]]\nsource = \"{repo}\"\n"),
        ..Default::default()
    });
    let out = cli(&["run"], &plan);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // One failure for the repository's listing, naming all four.
    assert_eq!(err.matches("FAILED").count(), 1, "{err}");
    assert!(err.contains("1 copied, 0 already done, 1 failed"), "{err}");
    assert!(err.contains("4 names that are not valid tags"), "{err}");
    for bad in ["v0/../x", "v0?a", "v0#b", "v0 c"] {
        assert_eq!(
            err.matches(&format!("{bad:?}")).count(),
            2,
            "{bad} in {err}"
        );
    }
    let st = cli(&["status"], &plan);
    let text = String::from_utf8_lossy(&st.stdout);
    assert_eq!(st.status.code(), Some(1), "{text}");
    assert_eq!(
        text.matches("4 names that are not valid tags").count(),
        1,
        "{text}"
    );
    assert!(text.contains("1 done, 1 failed"), "{text}");
    // Only v0 (a glob: exact tags are not listed at all): the bad names
    // are never copied, so they are warnings.
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: &format!(
            "[[images]]\nsource = \"{repo}\"\ntarget = \"{repo}-only\"\ntags = [\"v[0-9]\"]\n"
        ),
        ..Default::default()
    });
    let out = cli(&["run"], &plan);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("FAILED"), "{err}");
    assert!(err.contains("1 copied, 0 already done, 0 failed"), "{err}");
    assert!(err.contains("4 invalid tag names skipped"), "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    // check says the same: a warning row, no blocker.
    let (_d, again) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: &format!(
            "[[images]]\nsource = \"{repo}\"\ntarget = \"{repo}-chk\"\ntags = [\"v[0-9]\"]\n"
        ),
        ..Default::default()
    });
    let out = cli(&["check", "--format", "json"], &again);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["summary"]["warnings"], 1, "{v}");
    assert_eq!(v["summary"]["blockers"], 0, "{v}");
    let st = cli(&["status"], &plan);
    assert_eq!(
        st.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&st.stdout)
    );
}

/// A registry that takes blob bytes only in a `PATCH` (refusing a `PUT`
/// with a body, as the `container-registry` crate does) and reads the
/// upload `POST`'s `Content-Length`: every image copies. The first refused
/// `PUT` switches the run to `PATCH` then an empty `PUT`; every `POST`
/// carries `Content-Length: 0`.
#[test]
fn a_registry_taking_blob_bytes_only_in_patch_gets_them_there() {
    let h = harness();
    let p = seed(h, "patchonly");
    let target = h.proxy_r2();
    target.add(
        Some("PUT"),
        "/blobs/uploads/",
        Fault::BodyRefused(500),
        usize::MAX,
    );
    target.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::LengthRequired(500),
        usize::MAX,
    );
    let (_dir, plan) = project_plan(h, &p, None, "format = \"preserve\"\nconcurrency = 1");
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    let refused_puts = target
        .hits("PUT", "/blobs/uploads/")
        .iter()
        .filter(|c| **c == 500)
        .count();
    assert_eq!(refused_puts, 1, "one refused PUT, then PATCH");
    assert!(target
        .hits("POST", "/blobs/uploads/")
        .iter()
        .all(|c| *c != 500));
    assert!(!target.hits("PATCH", "/blobs/uploads/").is_empty());
    // A re-run uploads nothing.
    let before = target.hits("PATCH", "/blobs/uploads/").len();
    let again = run_lib(h, &plan);
    assert_eq!(again.copied, 0, "{again:?}");
    assert_eq!(target.hits("PATCH", "/blobs/uploads/").len(), before);
}

/// A registry that says less than distribution: a source without
/// `tags/list`, a target whose manifest `HEAD` has no
/// `Docker-Content-Digest` and whose blob `HEAD` has no `Content-Length`.
/// Exact tags are read without a listing (globs fail saying so); the
/// re-run finds everything done and uploads nothing; `verify` agrees, and
/// names what did not arrive.
#[test]
fn a_registry_that_says_less_gets_the_same_migration() {
    let h = harness();
    let p = seed(h, "sayless");
    let source = h.proxy_r1();
    source.add(
        Some("GET"),
        "/tags/list",
        Fault::Status(404, None),
        usize::MAX,
    );
    let target = h.proxy_r2();
    target.add(
        Some("HEAD"),
        "/manifests/",
        Fault::DropHeader("docker-content-digest"),
        usize::MAX,
    );
    target.add(
        Some("HEAD"),
        "/blobs/",
        Fault::DropHeader("content-length"),
        usize::MAX,
    );
    let exact: String = {
        let mut by_repo: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (repo, tag, _) in &p.tags {
            by_repo.entry(repo).or_default().push(format!("\"{tag}\""));
        }
        by_repo
            .iter()
            .map(|(r, t)| format!("[[images]]\nsource = \"{r}\"\ntags = [{}]\n", t.join(", ")))
            .collect()
    };
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &exact,
        options: "format = \"preserve\"",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert!(
        source.hits("GET", "/tags/list").is_empty(),
        "exact tags were listed"
    );
    let uploads = target.hits("POST", "/blobs/uploads/").len();
    let again = run_lib(h, &plan);
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    assert_eq!(
        (again.copied, again.skipped),
        (0, p.tags.len()),
        "{again:?}"
    );
    assert_eq!(
        target.hits("POST", "/blobs/uploads/").len(),
        uploads,
        "the re-run uploaded"
    );
    let v = cli(&["verify", "--format", "json"], &plan);
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert!(!text.contains("Some(") && !text.contains("None"), "{text}");
    // A glob needs a listing: that entry fails, saying what to do.
    let (_d2, globbed) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &format!(
            "[[images]]\nsource = \"{}/app\"\ntarget = \"{}/globbed\"\ntags = [\"v*\"]\n",
            p.ns, p.ns
        ),
        ..Default::default()
    });
    h.target_via(&globbed, &target);
    let s = run_lib(h, &globbed);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert!(
        s.failed[0].error.contains("name the tags"),
        "{}",
        s.failed[0].error
    );
    // verify names what did not arrive, and exits 1.
    let v = cli(&["verify"], &globbed);
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not-migrated") && text.contains("1 not migrated"),
        "{text}"
    );
}
