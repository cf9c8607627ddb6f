//! The command line's own conveniences: shell completions and man pages,
//! generated from the same definitions as the parser.

use crate::support::cli::bin;

fn out(args: &[&str]) -> String {
    let o = bin().args(args).output().expect("rahti-migrate");
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

const SUBCOMMANDS: &[&str] = &["run", "check", "status", "verify", "map", "rewrite", "init"];

#[test]
fn completions_name_every_subcommand_and_bash_reads_them() {
    for shell in ["bash", "zsh", "fish"] {
        let script = out(&["completions", shell]);
        for s in SUBCOMMANDS {
            assert!(script.contains(s), "{shell}: {s} missing");
        }
        // bash and zsh spell options `--concurrency`, fish `-l concurrency`.
        assert!(
            script.contains("--concurrency") || script.contains("-l concurrency"),
            "{shell}: options missing"
        );
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("rahti-migrate.bash");
    std::fs::write(&path, out(&["completions", "bash"])).expect("write");
    let ok = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .status()
        .expect("bash");
    assert!(ok.success(), "bash -n refused the completion script");
    let bad = bin().args(["completions", "tcsh"]).output().expect("run");
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_pages_render_for_the_command_and_each_subcommand() {
    let main = out(&["man"]);
    assert!(
        main.starts_with(".ie") || main.contains(".TH rahti-migrate 1"),
        "{main}"
    );
    for s in SUBCOMMANDS {
        assert!(main.contains(s), "the main page lists {s}");
        let page = out(&["man", s]);
        assert!(page.contains(&format!(".TH rahti-migrate-{s} 1")), "{page}");
    }
    assert!(out(&["man", "run"]).contains("concurrency"));
    let none = bin().args(["man", "nosuch"]).output().expect("run");
    assert_eq!(none.status.code(), Some(2));
    // groff reads it without complaint, where groff is installed.
    if let Ok(mut child) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write as _;
        if let Some(mut i) = child.stdin.take() {
            i.write_all(main.as_bytes()).expect("write");
        }
        let o = child.wait_with_output().expect("groff");
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `run --progress json`: every line on stderr is one JSON object; each
/// tag is reported done with its digests, each transfer names its image
/// and layer and ends with a rate, totals come along, and the summary is
/// the last line. A second run reports each tag skipped.
#[test]
fn progress_json_is_one_object_per_line_naming_images() {
    use crate::support::{harness, project::seed, PlanOpts};
    let h = harness();
    let p = seed(h, "pjson");
    let images = p.images_into("");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &images,
        options: "format = \"oci\"",
        ..Default::default()
    });
    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let o = bin().args(args).arg(&plan).output().expect("run");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    };
    let ev = lines(&["run", "--progress", "json"]);
    let of = |kind: &str| -> Vec<&serde_json::Value> {
        ev.iter().filter(|v| v["event"] == kind).collect()
    };
    assert_eq!(of("expanded").len(), 1);
    let done = of("image_done");
    assert_eq!(done.len(), p.tags.len());
    assert!(done.iter().all(|d| d["target_digest"]
        .as_str()
        .is_some_and(|s| s.starts_with("sha256:"))));
    let blobs = of("blob_done");
    assert!(!blobs.is_empty());
    for b in &blobs {
        let image = b["image"].as_str().unwrap_or_default();
        assert!(
            image.starts_with(&format!("{}/", p.ns))
                && (image.contains(" layer ") || image.ends_with(" config")),
            "{b}"
        );
    }
    assert!(
        blobs
            .iter()
            .any(|b| b["bytes_per_second"].as_u64().is_some()),
        "a rate"
    );
    assert!(of("blob_bytes").is_empty(), "chunks are carried by totals");
    assert!(!of("totals").is_empty());
    let last = ev.last().expect("lines");
    assert_eq!(last["event"], "summary");
    assert_eq!(last["copied"].as_u64(), Some(p.tags.len() as u64));
    let again = lines(&["run", "--progress", "json"]);
    let skipped = again
        .iter()
        .filter(|v| v["event"] == "image_skipped")
        .count();
    assert_eq!(skipped, p.tags.len());
    // `check` too: a line per image planned, the summary last.
    let checked = lines(&["check", "--format", "json", "--progress", "json"]);
    let rows: Vec<&serde_json::Value> = checked
        .iter()
        .filter(|v| v["event"] == "image_checked")
        .collect();
    assert_eq!(rows.len(), p.tags.len());
    assert!(rows.iter().all(|r| r["action"] == "done"), "{rows:?}");
    assert_eq!(checked.last().map(|v| &v["event"]), Some(&"summary".into()));
}
