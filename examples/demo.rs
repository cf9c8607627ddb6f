//! End-to-end demo on this machine: starts a Rahti-1-like registry (token
//! auth, schema 1) and a Rahti-2-like one (TLS, token auth) on 127.0.0.1,
//! seeds a sample project, writes a plan, and runs every command of
//! `rahti-migrate` against them, printing what each shows.
//!
//! Run it with `bash examples/demo.sh` (which builds the binary first).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    // target/<profile>/examples/demo -> target/<profile>/rahti-migrate
    me.parent()
        .and_then(Path::parent)
        .map(|p| p.join("rahti-migrate"))
        .unwrap_or_else(|| PathBuf::from("rahti-migrate"))
}

fn step(title: &str, args: &[&str], plan: &Path) -> i32 {
    println!("\n=== {title}\n$ rahti-migrate {}", args.join(" "));
    let mut c = Command::new(binary());
    for a in args {
        if *a == "PLAN" {
            c.arg(plan);
        } else {
            c.arg(a);
        }
    }
    match c.status() {
        Ok(s) => s.code().unwrap_or(-1),
        Err(e) => {
            eprintln!("cannot run {}: {e}", binary().display());
            -1
        }
    }
}

fn main() {
    let h = support::harness();
    let work = PathBuf::from("demo-work");
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("cannot create {}: {e}", work.display());
        std::process::exit(1);
    }
    let work = work.canonicalize().unwrap_or(work);
    println!(
        "Rahti 1 (source): http://{}  token auth, schema 1 enabled",
        h.rahti1.addr
    );
    println!(
        "Rahti 2 (target): https://{} token auth over TLS (test CA {})",
        h.rahti2.addr,
        h.pki.ca_file.display()
    );
    let p = support::project::seed(h, "myproject");
    println!("\nSeeded project {} in the source:", p.ns);
    for (repo, tag, digest) in &p.tags {
        println!("  {repo}:{tag}  {digest}");
    }
    let images: String = ["app", "worker", "multi"]
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{}/{r}\"\n", p.ns))
        .collect();
    let plan = h.plan(
        &work,
        support::PlanOpts {
            images: &images,
            options: "format = \"preserve\"\nconcurrency = 4\nretries = 3",
            ..Default::default()
        },
    );
    println!("\nPlan written to {}", plan.display());

    let mut failed = false;
    let head = Command::new(binary())
        .arg("init")
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    println!("\n=== A starter plan (first lines)\n$ rahti-migrate init");
    for l in String::from_utf8_lossy(&head).lines().take(8) {
        println!("{l}");
    }
    failed |= step("Copy everything", &["run", "--no-progress", "PLAN"], &plan) != 0;
    failed |= step("What the journal says", &["status", "PLAN"], &plan) != 0;
    failed |= step(
        "Run again: nothing left to move",
        &["run", "--no-progress", "PLAN"],
        &plan,
    ) != 0;
    failed |= step(
        "Status as JSON",
        &["status", "--format", "json", "PLAN"],
        &plan,
    ) != 0;

    println!("\n=== Target tags compared with the source");
    let mut same = 0;
    for (repo, tag, digest) in &p.tags {
        let got = h
            .block_on(h.r2.get_manifest(repo, tag))
            .map(|g| g.digest)
            .unwrap_or_default();
        let ok = &got == digest;
        same += ok as usize;
        println!("  {} {repo}:{tag}  {got}", if ok { "same" } else { "DIFF" });
    }
    println!(
        "\n{same} of {} tags in the target have the source's digest.",
        p.tags.len()
    );
    if failed || same != p.tags.len() {
        std::process::exit(1);
    }
}
