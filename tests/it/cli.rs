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
