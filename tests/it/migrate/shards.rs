//! Sharded runs: parts in parallel, each image exactly once.

use super::*;

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
