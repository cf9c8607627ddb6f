//! The fault and crash suite: whole runs through the fault proxy, against
//! the real test registries.
//! - random faults on 5% of requests (seeded: `FAULT_SEED=n` replays one
//!   schedule), on both registries: every image completes and every journal
//!   record is true of the target;
//! - a kill-point sweep: the run is SIGKILLed right after each of its first
//!   30 registry writes, then resumed;
//! - ordering, from the proxy's request log;
//! - canary secrets at `RAHTI_MIGRATE_LOG=trace`.
//!
//! Each test prints one `RELIABILITY` line with its figures; `bench/reliability.sh`
//! collects them for the README.

use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use support::cli::{bin, cli};
use support::project::{seed, Project};
use support::proxy::{Fault, Proxy, Schedule, Seen};
use support::thief::Thief;
use support::{harness, Harness, PlanOpts};

fn plan_via(
    h: &Harness,
    dir: &Path,
    imgs: &str,
    source: &Proxy,
    target: &Proxy,
    opts: &str,
) -> PathBuf {
    let plan = h.plan(
        dir,
        PlanOpts {
            source_addr: Some(&source.addr),
            images: imgs,
            options: opts,
            ..Default::default()
        },
    );
    h.target_via(&plan, target);
    plan
}

fn journal_records(plan: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(plan.with_extension("journal"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("journal line {l:?}: {e}")))
        .collect()
}

/// Checks every record of the journal against the target: a `done` tag
/// points at the digest recorded, a `blob` is in its repository with its
/// size, a `manifest` is there by digest. Returns how many were checked.
fn verify_journal(h: &Harness, plan: &Path) -> usize {
    let mut checked = 0;
    for r in journal_records(plan) {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        match r["kind"].as_str() {
            Some("done") => {
                let target = s("target");
                let (repo, tag) = target.rsplit_once(':').unwrap_or((&target, ""));
                let got = h.block_on(h.r2.get_manifest(repo, tag));
                assert_eq!(
                    got.map(|g| g.digest).as_deref(),
                    Some(s("target_digest").as_str()),
                    "journal says {target} is done, the target disagrees"
                );
            }
            Some("blob") => {
                let size = h.block_on(h.r2.blob_size(&s("repo"), &s("digest")));
                assert_eq!(
                    size,
                    r["size"].as_u64(),
                    "journal blob {r} not in the target"
                );
            }
            Some("manifest") => {
                let got = h.block_on(h.r2.get_manifest(&s("repo"), &s("digest")));
                assert!(got.is_some(), "journal manifest {r} not in the target");
            }
            _ => continue,
        }
        checked += 1;
    }
    checked
}

/// Every tag under the repositories of `p` renamed with `prefix` points at
/// an image whose manifests and blobs are all in the target.
fn assert_no_tag_points_at_a_partial_image(h: &Harness, p: &Project, prefix: &str) -> usize {
    let repos: HashSet<&String> = p.tags.iter().map(|(r, _, _)| r).collect();
    let mut tags = 0;
    for r in repos {
        let repo = format!("{prefix}{r}");
        for tag in h.block_on(h.r2.tags(&repo)) {
            tags += 1;
            let mut todo = vec![tag.clone()];
            while let Some(reference) = todo.pop() {
                let Some(m) = h.block_on(h.r2.get_manifest(&repo, &reference)) else {
                    panic!("{repo}:{tag} points at a missing manifest {reference}");
                };
                let v: serde_json::Value = serde_json::from_slice(&m.body).expect("manifest json");
                for d in v["manifests"].as_array().into_iter().flatten() {
                    todo.push(d["digest"].as_str().unwrap_or("").to_string());
                }
                let blobs = v["layers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(v.get("config"));
                for b in blobs {
                    let d = b["digest"].as_str().unwrap_or("");
                    assert_eq!(
                        h.block_on(h.r2.blob_size(&repo, d)),
                        b["size"].as_u64(),
                        "{repo}:{tag} points at an image missing blob {d}"
                    );
                }
            }
        }
    }
    tags
}

/// The target digests of `p`'s tags under `prefix`, keyed without it.
fn target_digests(h: &Harness, p: &Project, prefix: &str) -> BTreeMap<String, String> {
    p.tags
        .iter()
        .map(|(r, t, _)| {
            let d = h.target_digest(&format!("{prefix}{r}:{t}"));
            (format!("{r}:{t}"), d)
        })
        .collect()
}

#[test]
fn random_faults_on_5_percent_of_requests_every_image_completes() {
    let h = harness();
    let seed_value: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261129);
    let mut images = 0;
    let mut records = 0;
    let mut injected = 0;
    let mut requests = 0;
    // Four projects, in every format.
    for (i, format) in ["oci", "preserve", "docker", "oci"].iter().enumerate() {
        let p = seed(h, "random");
        let source = h.proxy_r1();
        let target = h.proxy_r2();
        let dir = tempfile::tempdir().expect("tmp");
        let plan = plan_via(
            h,
            dir.path(),
            &p.images_into(""),
            &source,
            &target,
            &format!("format = \"{format}\"\nretries = 6\nconcurrency = 4\nchunk_size = \"100KB\""),
        );
        source.random(Schedule {
            seed: seed_value + i as u64,
            per_mille: 50,
        });
        target.random(Schedule {
            seed: seed_value + 100 + i as u64,
            per_mille: 50,
        });
        let out = cli(&["run", "--no-progress"], &plan);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            out.status.success(),
            "seed {seed_value}, format {format}: the run failed\n{err}"
        );
        assert!(err.contains(&format!("{} copied", p.tags.len())), "{err}");
        images += p.tags.len();
        records += verify_journal(h, &plan);
        assert_no_tag_points_at_a_partial_image(h, &p, "");
        injected += source.injected() + target.injected();
        requests += source.requests().len() + target.requests().len();
    }
    assert!(injected > 0, "no fault was injected");
    eprintln!(
        "RELIABILITY random-faults seed={seed_value} requests={requests} faults={injected} images={images} completed={images} records_checked={records}"
    );
}

#[test]
fn killed_after_each_of_the_first_30_writes_a_resumed_run_ends_like_a_clean_one() {
    let h = harness();
    let p = seed(h, "sweep");
    let source = h.proxy_r1();
    let opts = "format = \"oci\"\nconcurrency = 2\nchunk_size = \"100KB\"";
    // A clean run: the digests to end with, and the number of writes.
    let clean = {
        let target = h.proxy_r2();
        let dir = tempfile::tempdir().expect("tmp");
        let plan = plan_via(
            h,
            dir.path(),
            &p.images_into("clean-"),
            &source,
            &target,
            opts,
        );
        let out = cli(&["run", "--no-progress"], &plan);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        check_order(&target.requests());
        (target_digests(h, &p, "clean-"), target.writes())
    };
    let (want, writes) = clean;
    let points = writes.min(30);
    assert!(points >= 10, "only {writes} writes in a clean run");
    let mut tags_checked = 0;
    for k in 1..=points {
        let prefix = format!("kill{k}-");
        let target = h.proxy_r2();
        let dir = tempfile::tempdir().expect("tmp");
        let plan = plan_via(
            h,
            dir.path(),
            &p.images_into(&prefix),
            &source,
            &target,
            opts,
        );
        let pid = Arc::new(AtomicI32::new(0));
        target.kill_after_writes(k, pid.clone());
        let mut child = bin()
            .args(["run", "--no-progress"])
            .arg(&plan)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        pid.store(child.id() as i32, Ordering::SeqCst);
        let status = child.wait().expect("wait");
        assert!(!status.success(), "kill point {k}: the run was not killed");
        // What the killed run had already sent still lands; look after it.
        target.wait_idle();
        tags_checked += assert_no_tag_points_at_a_partial_image(h, &p, &prefix);
        // Resume, with no more kills.
        target.kill_after_writes(u64::MAX, Arc::new(AtomicI32::new(-1)));
        let out = cli(&["run", "--no-progress"], &plan);
        assert!(
            out.status.success(),
            "kill point {k}: the resumed run failed\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            target_digests(h, &p, &prefix),
            want,
            "kill point {k}: the resumed run ended elsewhere"
        );
        verify_journal(h, &plan);
    }
    eprintln!(
        "RELIABILITY kill-sweep kill_points={points} writes_in_clean_run={writes} resumed={points} tags_checked_after_kill={tags_checked}"
    );
}

/// From the target's request log: every manifest PUT starts only after
/// every blob and child manifest it references was written into (or found
/// in) its repository, and an index's tag after the index itself.
fn check_order(log: &[Seen]) -> usize {
    let repo_of = |path: &str, marker: &str| -> String {
        path.trim_start_matches("/v2/")
            .split(marker)
            .next()
            .unwrap_or("")
            .to_string()
    };
    // When each (repo, digest) became present: the end of its write.
    let mut present: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in log {
        let digest_in_query = |key: &str| {
            r.query
                .split('&')
                .find_map(|kv| kv.strip_prefix(key))
                .map(|d| d.replace("%3A", ":"))
        };
        let at = match (r.method.as_str(), r.status) {
            ("PUT", 201) if r.path.contains("/blobs/uploads/") => digest_in_query("digest="),
            ("POST", 201) if r.path.contains("/blobs/uploads/") => digest_in_query("mount="),
            ("HEAD", 200) if r.path.contains("/blobs/") => {
                r.path.rsplit('/').next().map(str::to_string)
            }
            ("PUT", 201) if r.path.contains("/manifests/sha256:") => {
                r.path.rsplit('/').next().map(str::to_string)
            }
            // A manifest pushed by tag is there by its digest too.
            ("PUT", 201) if r.path.contains("/manifests/") => {
                r.body.as_deref().map(support::fixtures::sha256)
            }
            _ => None,
        };
        if let Some(d) = at {
            let repo = repo_of(&r.path, "/blobs/");
            let repo = if r.path.contains("/manifests/") {
                repo_of(&r.path, "/manifests/")
            } else {
                repo
            };
            present.entry((repo, d)).or_insert(r.end);
        }
    }
    let mut checked = 0;
    for r in log
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/") && r.status == 201)
    {
        let repo = repo_of(&r.path, "/manifests/");
        let v: serde_json::Value = serde_json::from_slice(r.body.as_deref().unwrap_or(b"{}"))
            .expect("pushed manifest json");
        let refs = v["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(v.get("config"))
            .chain(v["manifests"].as_array().into_iter().flatten());
        for d in refs.filter_map(|d| d["digest"].as_str()) {
            let when = present.get(&(repo.clone(), d.to_string()));
            assert!(
                when.is_some_and(|w| *w < r.start),
                "PUT {} started before {d} was in {repo}",
                r.path
            );
            checked += 1;
        }
        let reference = r.path.rsplit('/').next().unwrap_or("");
        if !reference.starts_with("sha256:") && v.get("manifests").is_some() {
            // The tag of an index: the index was pushed by digest first
            // (children first). A single image is pushed once, by its tag,
            // after its blobs (checked above).
            let top = r
                .body
                .as_deref()
                .map(support::fixtures::sha256)
                .unwrap_or_default();
            let when = present.get(&(repo.clone(), top.clone()));
            assert!(
                when.is_some_and(|w| *w < r.start),
                "tag {} written before its manifest {top}",
                r.path
            );
        }
    }
    eprintln!("RELIABILITY ordering manifest_puts_checked={checked}");
    checked
}

#[test]
fn canary_secrets_never_reach_output_logs_journal_or_reports() {
    let h = harness();
    let p = seed(h, "canary");
    let source = h.proxy_r1();
    let target = h.proxy_r2();
    let dir = tempfile::tempdir().expect("tmp");
    let plan = plan_via(
        h,
        dir.path(),
        &p.images_into(""),
        &source,
        &target,
        "format = \"oci\"",
    );
    // Faults make the error paths speak too.
    source.random(Schedule {
        seed: 7,
        per_mille: 100,
    });
    let mut texts = Vec::new();
    for args in [
        &["run", "--no-progress"][..],
        &["status"],
        &["status", "--format", "json"],
        &["check"],
        &["check", "--format", "json"],
        &["check", "--format", "markdown"],
        &["check", "--format", "html"],
    ] {
        let out = bin()
            .env("RAHTI_MIGRATE_LOG", "trace")
            .args(args)
            .arg(&plan)
            .output()
            .expect("run");
        texts.push((
            format!("{args:?} stdout"),
            String::from_utf8_lossy(&out.stdout).to_string(),
        ));
        texts.push((
            format!("{args:?} stderr"),
            String::from_utf8_lossy(&out.stderr).to_string(),
        ));
    }
    texts.push((
        "journal".into(),
        std::fs::read_to_string(plan.with_extension("journal")).unwrap_or_default(),
    ));
    let b64 = |u: &str, p: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
    };
    let mut canaries: Vec<String> = vec![
        support::R1_PASS.into(),
        support::R2_PASS.into(),
        b64(support::R1_USER, support::R1_PASS),
        b64(support::R2_USER, support::R2_PASS),
    ];
    // Every bearer token the registries saw.
    for r in [&source, &target] {
        canaries.extend(
            r.tokens()
                .into_iter()
                .map(|t| t.trim_start_matches("Bearer ").to_string()),
        );
    }
    assert!(canaries.len() > 4, "no token was seen");
    let trace_lines: usize = texts.iter().map(|(_, t)| t.lines().count()).sum();
    assert!(trace_lines > 100, "trace logging was not on");
    for (what, text) in &texts {
        for c in &canaries {
            assert!(!text.contains(c.as_str()), "a secret reached {what}");
        }
    }
    eprintln!(
        "RELIABILITY canaries secrets={} outputs={} lines={trace_lines} leaks=0",
        canaries.len(),
        texts.len()
    );
}

/// The registry password (and any token) goes only to a realm that the
/// registry itself names, over HTTPS when the registry is HTTPS, and to
/// another host only over HTTPS. Four hostile servers try to learn it:
/// an upload `Location` host and a redirect target that answer 401 with
/// their own realm, an HTTPS registry naming a plain-HTTP realm, and a
/// plain-HTTP registry naming a realm on another host.
#[test]
fn credentials_never_go_to_a_realm_a_foreign_host_names() {
    let h = harness();
    let p = seed(h, "steal");
    let thief = h
        .block_on(Thief::start(&h.pki, "127.0.0.1"))
        .unwrap_or_else(|e| panic!("{e}"));
    let elsewhere = h
        .block_on(Thief::start(&h.pki, "localhost"))
        .unwrap_or_else(|e| panic!("{e}"));
    let leaked = |t: &Thief, what: &str| {
        let got = t.credentials_received();
        assert!(
            got.is_empty(),
            "{what}: credentials sent to the thief: {got:?}"
        );
        let realm: Vec<_> = t
            .seen()
            .into_iter()
            .filter(|(p, _)| p == "/steal")
            .collect();
        assert!(
            realm.is_empty(),
            "{what}: the thief's realm was asked: {realm:?}"
        );
    };
    let run = |plan: &Path| {
        let out = cli(&["run", "--no-progress"], plan);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            !err.contains(support::R2_PASS) && !err.contains(support::R1_PASS),
            "{err}"
        );
        (out.status.code(), err)
    };
    // A run of its own images (named by `prefix`) through these proxies.
    let run_via = |source: &support::proxy::Proxy, target: &support::proxy::Proxy, prefix: &str| {
        let dir = tempfile::tempdir().expect("tmp");
        let imgs = p.images_into(prefix);
        run(&plan_via(
            h,
            dir.path(),
            &imgs,
            source,
            target,
            "retries = 1",
        ))
    };
    // 1. The first upload's Location names the thief.
    let target = h.proxy_r2();
    target.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::RewriteHeader(
            "location",
            format!("http://{}", target.addr),
            format!("http://{}", thief.addr),
        ),
        1,
    );
    run_via(&h.proxy_r1(), &target, "s1-");
    assert!(
        !thief.seen().is_empty(),
        "the upload never reached the thief"
    );
    leaked(&thief, "upload Location");
    // 2. The first blob HEAD is redirected to the thief.
    let seen = thief.seen().len();
    let target = h.proxy_r2();
    target.add(
        Some("HEAD"),
        "/blobs/sha256:",
        Fault::RedirectElsewhere(format!("http://{}", thief.addr)),
        1,
    );
    run_via(&h.proxy_r1(), &target, "s2-");
    assert!(
        thief.seen().len() > seen,
        "the redirect never reached the thief"
    );
    leaked(&thief, "redirect");
    // 3. An HTTPS registry (trusted through ca_file) naming an http:// realm.
    let (_d, plan) = h.temp_plan(PlanOpts {
        images: &p.images_into("s3-"),
        ..Default::default()
    });
    let text = std::fs::read_to_string(&plan).expect("plan").replace(
        &format!("registry = \"{}\"", h.rahti2.addr),
        &format!("registry = \"{}\"", thief.tls_addr),
    );
    std::fs::write(&plan, text).expect("plan");
    let (code, err) = run(&plan);
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("cleartext"), "{err}");
    leaked(&thief, "https registry, http realm");
    // 4. A plain-HTTP registry naming a realm on another host.
    let source = h.proxy_r1();
    source.add(
        None,
        "/v2/",
        Fault::RewriteHeader(
            "www-authenticate",
            h.tokens.realm(),
            elsewhere.realm.clone(),
        ),
        usize::MAX,
    );
    let (code, err) = run_via(&source, &h.proxy_r2(), "s4-");
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("another host"), "{err}");
    leaked(&elsewhere, "plain-HTTP registry, realm on another host");
    eprintln!(
        "RELIABILITY hostile-realms servers=4 requests_to_thieves={} credentials_received=0",
        thief.seen().len() + elsewhere.seen().len()
    );
}

/// A journal is input: a file planted beside it (the Job's shared volume)
/// can neither rewrite the user's YAML nor slip into `status` or `map`.
/// A part journal whose record holds a name that is not a name, or whose
/// header names another target registry, is refused with exit 2 naming
/// the file; a well-formed record the plan cannot produce is ignored.
#[test]
fn a_planted_journal_cannot_turn_rewrite_status_or_map_against_the_user() {
    let h = harness();
    let p = seed(h, "planted");
    let dir = tempfile::tempdir().expect("tmp");
    let imgs = p.images_into("");
    let plan = h.plan(
        dir.path(),
        PlanOpts {
            images: &imgs,
            options: "format = \"oci\"",
            ..Default::default()
        },
    );
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (app, tag, digest) = p
        .tags
        .iter()
        .find(|(r, t, _)| r.ends_with("/app") && t == "v1")
        .cloned()
        .expect("app:v1");
    let src = &h.rahti1.addr;
    let yaml = format!("kind: Pod\nspec:\n  containers:\n  - image: {src}/{app}@{digest}\n");
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, &yaml).expect("write");
    let part = dir.path().join("migration.shard-0-of-2.journal");
    let header = |target: &str| {
        format!(
            "{{\"kind\":\"header\",\"version\":1,\"source_registry\":\"{}\",\"target_registry\":\"{target}\"}}\n",
            h.rahti1.addr
        )
    };
    let done = |target: &str| {
        serde_json::json!({
            "kind": "done", "source": format!("{app}:{tag}"), "source_digest": digest,
            "target": target,
            "target_digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
            "format": "oci"
        })
        .to_string()
            + "\n"
    };
    let refused = |what: &str| {
        for args in [vec!["rewrite", "--in-place"], vec!["status"], vec!["map"]] {
            let out = bin()
                .args(&args)
                .arg(&plan)
                .args(if args[0] == "rewrite" {
                    vec![file.as_os_str()]
                } else {
                    vec![]
                })
                .output()
                .expect("run");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {args:?}: {err}");
            assert!(
                err.contains("migration.shard-0-of-2.journal"),
                "{what}: {err}"
            );
            assert!(
                !String::from_utf8_lossy(&out.stdout).contains("privileged"),
                "{what}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(&file).expect("read"),
            yaml,
            "{what}: YAML changed"
        );
    };
    // A target holding a line break and YAML.
    std::fs::write(
        &part,
        header(&h.rahti2.addr)
            + &done(&format!(
                "{app}:v1\n    securityContext: {{privileged: true}}"
            )),
    )
    .expect("plant");
    refused("a name with a line break");
    // A part journal of a migration into another registry.
    std::fs::write(
        &part,
        header("evil.example:5000") + &done(&format!("{app}:{tag}")),
    )
    .expect("plant");
    refused("another target");
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Well formed, but not what the plan produces: ignored by rewrite.
    std::fs::write(&part, header(&h.rahti2.addr) + &done("elsewhere/app:v1")).expect("plant");
    let _ = std::fs::remove_file(&part);
    let main = plan.with_extension("journal");
    let mut j = std::fs::read_to_string(&main).expect("journal");
    j.push_str(&done("elsewhere/app:v1"));
    std::fs::write(&main, j).expect("plant");
    let out = bin()
        .args(["rewrite"])
        .arg(&plan)
        .arg(&file)
        .output()
        .expect("rewrite");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("sha256:0000000000"), "{text}");
    assert!(
        text.contains("+  - image: "),
        "the real record still maps it: {text}"
    );
    eprintln!("RELIABILITY planted-journals planted=3 commands_refused=7 yaml_changed=0");
}

/// Raw control bytes (C0, DEL, C1) and bidirectional controls never reach
/// a text output, whatever a registry puts in config keys, labels, tag
/// names or error bodies; JSON escapes control bytes as JSON does.
#[test]
fn no_output_format_prints_raw_control_or_bidi_characters() {
    let h = harness();
    let ns = h.unique("ctl");
    let repo = format!("{ns}/app");
    let l = vec![support::fixtures::layer(9401, 2_000)];
    let mut c = support::fixtures::config("amd64", &l);
    c["\u{1b}]0;pwned\u{7}evil\u{202e}key"] = serde_json::json!("x");
    c["config"]["Healthcheck"] = serde_json::json!({"Test": ["CMD", "true"]});
    c["config"]["Labels"] = serde_json::json!({"a\u{1b}[2J": "b\u{9b}c\u{2066}"});
    h.block_on(h.r1.image(&repo, "v1", &l, c)).expect("push");
    let source = h.proxy_r1();
    source.add(
        Some("GET"),
        "/tags/list",
        support::proxy::Fault::Replace("\"v1\"".into(), "\"v1\",\"x\\u001b[31m\\u202ey\"".into()),
        usize::MAX,
    );
    let target = h.proxy_r2();
    let dir = tempfile::tempdir().expect("tmp");
    let plan = plan_via(
        h,
        dir.path(),
        &format!("[[images]]\nsource = \"{repo}\"\n"),
        &source,
        &target,
        "format = \"oci\"\nretries = 0",
    );
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = |name: String, out: std::process::Output| {
        outputs.push((format!("{name} stdout"), out.stdout));
        outputs.push((format!("{name} stderr"), out.stderr));
    };
    for f in ["text", "json", "markdown", "html"] {
        record(
            format!("check {f}"),
            cli(&["check", "--verbose", "--format", f], &plan),
        );
    }
    record("run".into(), cli(&["run", "--no-progress"], &plan));
    for f in ["text", "json"] {
        record(
            format!("status {f}"),
            cli(&["status", "--format", f], &plan),
        );
        record(
            format!("verify {f}"),
            cli(&["verify", "--format", f], &plan),
        );
    }
    for f in ["csv", "json"] {
        record(format!("map {f}"), cli(&["map", "--format", f], &plan));
    }
    let mut seen_hostile = 0;
    for (name, bytes) in &outputs {
        let text = String::from_utf8_lossy(bytes);
        if text.contains("evil") || text.contains("pwned") {
            seen_hostile += 1;
        }
        for ch in text.chars() {
            let control = (ch.is_control() && ch != '\n' && ch != '\t') || ch == '\u{7f}';
            let bidi = matches!(ch, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}');
            assert!(!control, "{name}: raw {:?} in {text}", ch);
            assert!(
                !bidi || name.contains("json"),
                "{name}: raw bidi {:?} in {text}",
                ch
            );
        }
    }
    assert!(
        seen_hostile >= 3,
        "the hostile key reached too few outputs to test them"
    );
    eprintln!(
        "RELIABILITY control-bytes outputs={} with_hostile_text={seen_hostile} raw_controls=0",
        outputs.len()
    );
}

/// A schema 1 layer has no size in its manifest: the transfer stops at
/// `max_blob_size` (and at `max_image_size` when smaller), so a source
/// serving an endless layer cannot fill the target's upload area. The
/// image fails with a message saying why; nothing is tagged.
#[test]
fn an_unsized_layer_stops_at_the_blob_limit() {
    let h = harness();
    let ns = h.unique("unsized");
    let big = support::fixtures::layer(9501, 1_500_000);
    let compat = serde_json::json!({"id": "a".repeat(64), "created": "2024-01-02T03:04:05Z", "container_config": {"Cmd": ["/bin/sh"]}});
    h.block_on(support::schema1::push(
        &h.r1,
        &format!("{ns}/big"),
        "t",
        &[big],
        &[compat],
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    for (i, (limit, format)) in [
        ("max_blob_size = \"1MiB\"", "oci"),
        ("max_image_size = \"1MiB\"", "preserve"),
    ]
    .into_iter()
    .enumerate()
    {
        let target = h.proxy_r2();
        let dir = tempfile::tempdir().expect("tmp");
        let plan = plan_via(
            h,
            dir.path(),
            &format!("[[images]]\nsource = \"{ns}/big\"\ntarget = \"{ns}/big-{i}\"\n"),
            &h.proxy_r1(),
            &target,
            &format!("format = \"{format}\"\nretries = 0"),
        );
        let text = std::fs::read_to_string(&plan)
            .expect("plan")
            .replace("[options]", &format!("{limit}\n[options]"));
        std::fs::write(&plan, text).expect("plan");
        let out = cli(&["run", "--no-progress"], &plan);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{limit}: {err}");
        assert!(
            err.contains("without a size in its manifest is too large"),
            "{limit}: {err}"
        );
        assert!(h.target_digest(&format!("{ns}/big-{i}:t")).is_empty());
    }
    eprintln!("RELIABILITY unsized-layer limits=2 stopped=2 tagged=0");
}
