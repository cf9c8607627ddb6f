//! End-to-end tests of `run` and `status` (format `preserve`) against real
//! registries: a Rahti-1-like source and a Rahti-2-like target, with the
//! fault proxy where a test needs faults (see `support`). The shared
//! helpers and the basic cases are here; each submodule is one topic.

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

mod after;
mod auth;
mod chunked;
mod faults;
mod requests;
mod resume;
mod shards;

pub(super) fn images_toml(p: &Project) -> String {
    ["app", "worker", "multi"]
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{}/{r}\"\n", p.ns))
        .collect()
}

/// A plan in a new directory copying the project `p` (read through
/// `source`, a proxy's address, when given) with `options`.
pub(super) fn project_plan(
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

pub(super) fn run_lib(h: &Harness, plan: &Path) -> RunSummary {
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

pub(super) fn assert_migrated(h: &Harness, p: &Project) {
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

pub(super) fn journal_text(plan: &Path) -> String {
    std::fs::read_to_string(plan.with_extension("journal")).unwrap_or_default()
}

pub(super) fn assert_no_secrets(text: &str) {
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
