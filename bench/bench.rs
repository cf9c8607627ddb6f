//! Speed and memory of rahti-migrate beside skopeo, in the same run, on the
//! same local registries (Rahti-1-like source, Rahti-2-like target), as
//! ratios. Never part of the tests: run it with `bash bench/run.sh`.
//!
//! Workloads:
//! 1. a project of several repositories (schema 2, shared base layer),
//!    migrated with `format = "oci"` by one `rahti-migrate run`, against
//!    `skopeo copy -f oci` image by image (CSC's documented method);
//! 2. one schema 1 image with large layers, converted to OCI: this needs
//!    every layer inflated for its diff_id (throughput in MB/s).
//!
//! 3. many small tags (`many_tags.rs`): first run, re-run and `check`
//!    beside `skopeo sync`, on loopback and with added latency, a sharded
//!    run, requests per tag from the registries' access logs, and memory
//!    growth per 1,000 tags.
//!
//! Sizes scale with BENCH_MB (total megabytes of layers, default 256) and
//! BENCH_TAGS (default 2,000). BENCH_WORKLOADS picks workloads (default
//! `1,2,3`).

// The harness serves the tests too; this program uses part of it.
#[allow(dead_code)]
#[path = "../tests/it/support/mod.rs"]
mod support;

#[path = "many_tags.rs"]
mod many_tags;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use support::fixtures::{config, layer};
use support::skopeo::{self, Reg};

fn binary() -> PathBuf {
    support::sibling_binary("rahti-migrate")
}

/// Runs a command, returning (seconds, peak RSS in MiB). The peak is the
/// child's own `VmHWM`, polled while it runs (rusage would count the
/// memory of this process too, inherited until exec).
fn measure(cmd: &mut Command) -> (f64, f64) {
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {cmd:?}: {e}");
            std::process::exit(1);
        }
    };
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(2)),
            Err(e) => {
                eprintln!("waiting for {cmd:?}: {e}");
                std::process::exit(1);
            }
        }
    };
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        eprintln!("{cmd:?} failed: {status}");
        std::process::exit(1);
    }
    (secs, peak_kb as f64 / 1024.0)
}

/// Targets, as ratios to skopeo (lower is better): rahti-migrate should be
/// at least as fast, and stay within these memory bounds (it streams with
/// several transfers in flight where skopeo copies one image at a time).
const TARGET_TIME_RATIO: f64 = 1.0;
const TARGET_MEMORY_RATIO_BULK: f64 = 2.0;
const TARGET_MEMORY_RATIO_SCHEMA1: f64 = 1.0;

fn verdict(ratio: f64, target: f64) -> &'static str {
    if ratio <= target {
        "meets target"
    } else {
        "MISSES target"
    }
}

fn skopeo_cmd(h: &support::Harness, fmt: &str, src: &str, dst: &str) -> Command {
    let certs = h.dir.path().join("bench-certs");
    let _ = std::fs::create_dir_all(&certs);
    let _ = std::fs::copy(&h.pki.ca_file, certs.join("ca.crt"));
    let mut c = Command::new("skopeo");
    c.args(["copy", "-f", fmt, "--src-tls-verify=false"])
        .arg(format!(
            "--src-creds={}:{}",
            support::R1_USER,
            support::R1_PASS
        ))
        .arg(format!("--dest-cert-dir={}", certs.display()))
        .arg(format!(
            "--dest-creds={}:{}",
            support::R2_USER,
            support::R2_PASS
        ))
        .arg(format!("docker://{}/{src}", h.rahti1.addr))
        .arg(format!("docker://{}/{dst}", h.rahti2.addr))
        .stdout(std::process::Stdio::null());
    c
}

fn main() {
    // The registries log every request: workload 3 counts them.
    std::env::set_var("REGISTRY_LOG_ACCESSLOG_DISABLED", "false");
    let workloads = std::env::var("BENCH_WORKLOADS").unwrap_or_else(|_| "1,2,3".into());
    let wanted = |n: &str| workloads.split(',').any(|w| w.trim() == n);
    let h = support::harness();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_file("/var/lib/containers/cache/blob-info-cache-v1.boltdb");
    if wanted("1") {
        bulk(h, work.path());
    }
    if wanted("2") {
        schema1(h);
    }
    if wanted("3") {
        many_tags::run(h, work.path());
    }
}

fn total_mb() -> usize {
    std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Workload 1: a project of several repositories.
fn bulk(h: &support::Harness, work: &std::path::Path) {
    let total_mb = total_mb();

    // Workload 1: 6 repositories x 2 tags, 3 layers each (one shared).
    let repos = 6;
    let layer_mb = (total_mb / (repos * 3)).max(1);
    let ns = h.unique("bench");
    println!("workload 1: {repos} repositories x 2 tags, layers of {layer_mb} MiB (about {total_mb} MiB in all)");
    let base = layer(1, layer_mb << 20);
    let mut tags = Vec::new();
    for r in 0..repos {
        let repo = format!("{ns}/app{r}");
        for t in 0..2 {
            let ls = vec![
                base.clone(),
                layer((r * 10 + t + 100) as u64, layer_mb << 20),
                layer((r * 10 + t + 200) as u64, layer_mb << 20),
            ];
            h.block_on(h.r1.image(&repo, &format!("v{t}"), &ls, config("amd64", &ls)))
                .unwrap_or_else(|e| panic!("{e}"));
            tags.push((repo.clone(), format!("v{t}")));
        }
    }
    drop(base);
    let images: String = (0..repos)
        .map(|r| format!("[[images]]\nsource = \"{ns}/app{r}\"\ntarget = \"{ns}/ours-app{r}\"\n"))
        .collect();
    let plan = h.plan(
        work,
        support::PlanOpts {
            images: &images,
            options: "format = \"oci\"\nconcurrency = 8",
            ..Default::default()
        },
    );
    let (ours_s, ours_mb) = measure(
        Command::new(binary())
            .args(["run", "--no-progress"])
            .arg(&plan)
            .stderr(std::process::Stdio::null()),
    );
    let mut sk_s = 0.0;
    let mut sk_mb: f64 = 0.0;
    for (repo, tag) in &tags {
        let sk_repo = repo.replace("/app", "/sk-app");
        let (s, m) = measure(&mut skopeo_cmd(
            h,
            "oci",
            &format!("{repo}:{tag}"),
            &format!("{sk_repo}:{tag}"),
        ));
        sk_s += s;
        sk_mb = sk_mb.max(m);
    }
    let same = tags
        .iter()
        .filter(|(repo, tag)| {
            let a = h
                .block_on(h.r2.get_manifest(&repo.replace("/app", "/ours-app"), tag))
                .map(|g| g.digest);
            let b = h
                .block_on(h.r2.get_manifest(&repo.replace("/app", "/sk-app"), tag))
                .map(|g| g.digest);
            a.is_some() && a == b
        })
        .count();
    println!("  rahti-migrate run:             {ours_s:8.2} s   peak RSS {ours_mb:7.1} MiB");
    println!("  skopeo copy -f oci, per image: {sk_s:8.2} s   peak RSS {sk_mb:7.1} MiB");
    let (tr, mr) = (ours_s / sk_s, ours_mb / sk_mb);
    println!(
        "  time ratio (rahti-migrate / skopeo): {tr:.2} ({} <= {TARGET_TIME_RATIO})   memory ratio: {mr:.2} ({} <= {TARGET_MEMORY_RATIO_BULK})",
        verdict(tr, TARGET_TIME_RATIO),
        verdict(mr, TARGET_MEMORY_RATIO_BULK)
    );
    println!("  digests equal to skopeo's: {same} of {}", tags.len());
}

/// Workload 2: schema 1 with large layers -> OCI.
fn schema1(h: &support::Harness) {
    let total_mb = total_mb();
    let big_mb = (total_mb / 2).max(2);
    let ns2 = h.unique("bench-s1");
    let ls = vec![
        layer(900, (big_mb / 2) << 20),
        layer(901, (big_mb / 2) << 20),
    ];
    let mut c = config("amd64", &ls);
    c["history"] = serde_json::json!([{"created_by": "a"}, {"created_by": "b"}]);
    h.block_on(h.r1.image(&format!("{ns2}/src"), "t", &ls, c))
        .unwrap_or_else(|e| panic!("{e}"));
    skopeo::copy(
        h,
        &["-f", "v2s1"],
        (Reg::Rahti1, &format!("{ns2}/src:t")),
        (Reg::Rahti1, &format!("{ns2}/legacy:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bytes: usize = ls.iter().map(|l| l.len()).sum();
    drop(ls);
    println!(
        "\nworkload 2: schema 1 image, 2 layers, {:.0} MiB compressed -> OCI",
        bytes as f64 / 1048576.0
    );
    let work2 = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let plan2 = h.plan(
        work2.path(),
        support::PlanOpts {
            images: &format!("[[images]]\nsource = \"{ns2}/legacy\"\ntarget = \"{ns2}/ours\"\n"),
            options: "format = \"oci\"",
            ..Default::default()
        },
    );
    let (o2, om2) = measure(
        Command::new(binary())
            .args(["run", "--no-progress"])
            .arg(&plan2)
            .stderr(std::process::Stdio::null()),
    );
    let _ = std::fs::remove_file("/var/lib/containers/cache/blob-info-cache-v1.boltdb");
    let (s2, sm2) = measure(&mut skopeo_cmd(
        h,
        "oci",
        &format!("{ns2}/legacy:t"),
        &format!("{ns2}/sk:t"),
    ));
    let mb = bytes as f64 / 1048576.0;
    println!("  rahti-migrate: {o2:7.2} s ({:7.1} MiB/s incl. inflate for diff_ids)  peak RSS {om2:7.1} MiB", mb / o2);
    println!("  skopeo:        {s2:7.2} s ({:7.1} MiB/s)                          peak RSS {sm2:7.1} MiB", mb / s2);
    let (tr, mr) = (o2 / s2, om2 / sm2);
    println!(
        "  time ratio: {tr:.2} ({} <= {TARGET_TIME_RATIO})   memory ratio: {mr:.2} ({} <= {TARGET_MEMORY_RATIO_SCHEMA1})",
        verdict(tr, TARGET_TIME_RATIO),
        verdict(mr, TARGET_MEMORY_RATIO_SCHEMA1)
    );
    let a = h
        .block_on(h.r2.get_manifest(&format!("{ns2}/ours"), "t"))
        .map(|g| g.digest);
    let b = h
        .block_on(h.r2.get_manifest(&format!("{ns2}/sk"), "t"))
        .map(|g| g.digest);
    println!("  digest equal to skopeo's: {}", a.is_some() && a == b);
}
