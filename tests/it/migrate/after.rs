//! After a run: `verify`, `map` and `rewrite` over a migrated project.

use super::*;

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
