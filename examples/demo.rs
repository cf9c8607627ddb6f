//! End-to-end demo on this machine: starts a Rahti-1-like registry (token
//! auth, schema 1) and a Rahti-2-like one (TLS, token auth) on 127.0.0.1,
//! seeds a sample project, writes a plan, and runs every command of
//! `rahti-migrate` against them, printing what each shows.
//!
//! Run it with `bash examples/demo.sh` (which builds the binary first).

// The harness serves the tests too; this program uses part of it.
#[allow(dead_code)]
#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn binary() -> PathBuf {
    support::sibling_binary("rahti-migrate")
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
    // Two more images, typical of Rahti 1: a Docker-built config with
    // Docker-only fields, and an old schema 1 image (made by skopeo).
    let legacy_src = format!("{}/legacy-build", p.ns);
    let ls = vec![support::fixtures::layer(4242, 200_000)];
    let mut cfg = support::fixtures::config("amd64", &ls);
    cfg["config"]["Healthcheck"] = serde_json::json!({"Test": ["CMD", "/healthz"]});
    cfg["config"]["Labels"] = serde_json::json!({"maintainer": "Researcher <r@example.org>"});
    if let Err(e) = h.block_on(h.r1.image(&legacy_src, "v1", &ls, cfg)) {
        eprintln!("seeding: {e}");
        std::process::exit(1);
    }
    if let Err(e) = support::skopeo::copy(
        h,
        &["-f", "v2s1"],
        (support::skopeo::Reg::Rahti1, &format!("{legacy_src}:v1")),
        (support::skopeo::Reg::Rahti1, &format!("{}/legacy:v1", p.ns)),
    ) {
        eprintln!("seeding schema 1: {e}");
        std::process::exit(1);
    }
    println!("\nSeeded project {} in the source:", p.ns);
    for (repo, tag, digest) in &p.tags {
        println!("  {repo}:{tag}  {digest}");
    }
    println!("  {}/legacy:v1  (Docker schema 1, signed)", p.ns);
    // The whole project, found by the tool (through the catalog here; on
    // Rahti through `[source] api`), but the build-only repository.
    let images = format!(
        "[[projects]]\nsource = \"{}\"\nexclude_repositories = [\"legacy-build\"]\n",
        p.ns
    );
    let plan = h.plan(
        &work,
        support::PlanOpts {
            images: &images,
            options: "format = \"oci\"\nconcurrency = 4\nretries = 3",
            ..Default::default()
        },
    );
    let text = std::fs::read_to_string(&plan).unwrap_or_default().replace(
        "[options]",
        "max_image_size = \"5GiB\"\nmax_repositories_per_project = 20\n[options]",
    );
    let _ = std::fs::write(&plan, text);
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
    failed |= step(
        "What would happen (dry run, reads only)",
        &["check", "PLAN"],
        &plan,
    ) != 0;
    let html = work.join("report.html");
    let html_s = html.display().to_string();
    failed |= step(
        "The same report as one HTML page",
        &["check", "--format", "html", "--output", &html_s, "PLAN"],
        &plan,
    ) != 0;
    let predicted = Command::new(binary())
        .args(["check", "--format", "json"])
        .arg(&plan)
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .unwrap_or_default();
    failed |= step("Copy everything", &["run", "--no-progress", "PLAN"], &plan) != 0;
    failed |= step("What the journal says", &["status", "PLAN"], &plan) != 0;
    failed |= step(
        "Proof that everything arrived (reads only)",
        &["verify", "PLAN"],
        &plan,
    ) != 0;
    failed |= step(
        "The digest map, for deployments that pin digests",
        &["map", "PLAN"],
        &plan,
    ) != 0;
    let app_v1 = p
        .tags
        .iter()
        .find(|(r, t, _)| r.ends_with("/app") && t == "v1")
        .map(|(_, _, d)| d.clone())
        .unwrap_or_default();
    let deploy = work.join("deployment.yaml");
    let _ = std::fs::write(
        &deploy,
        format!(
            "# The project's deployment, as on Rahti 1\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: {src}/{ns}/app@{app_v1}   # pinned\n      - name: worker\n        image: \"{src}/{ns}/worker:v1\"\n",
            src = h.rahti1.addr,
            ns = p.ns
        ),
    );
    println!("\n=== Workloads pointed at the target (a diff; --in-place writes it)");
    println!(
        "$ rahti-migrate rewrite {} {}",
        plan.display(),
        deploy.display()
    );
    let rw = Command::new(binary())
        .arg("rewrite")
        .arg(&plan)
        .arg(&deploy)
        .status();
    failed |= !matches!(rw, Ok(s) if s.success());
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
    // The page for a project owner, shell completions and the man page:
    // written to files beside the report.
    let status_page = work.join("status.html");
    for (what, args, file) in [
        (
            "The status page",
            vec!["status", "--format", "html"],
            status_page.clone(),
        ),
        (
            "Shell completions",
            vec!["completions", "bash"],
            work.join("rahti-migrate.bash"),
        ),
        ("The man page", vec!["man"], work.join("rahti-migrate.1")),
    ] {
        println!(
            "\n=== {what}\n$ rahti-migrate {} > {}",
            args.join(" ")
                .replace("status --format html", "status --format html PLAN"),
            file.display()
        );
        let mut c = Command::new(binary());
        c.args(&args);
        if args[0] == "status" {
            c.arg(&plan);
        }
        match c.output() {
            Ok(o) if o.status.success() && std::fs::write(&file, &o.stdout).is_ok() => {
                println!("  {} bytes written", o.stdout.len())
            }
            _ => failed = true,
        }
    }

    println!("\n=== Target digests compared with the dry run's predictions");
    let mut same = 0;
    let mut predicted_n = 0;
    for im in predicted["images"].as_array().into_iter().flatten() {
        let target = im["target"].as_str().unwrap_or("");
        let got = h.target_digest(target);
        match im["target_digest"].as_str() {
            Some(p) => {
                predicted_n += 1;
                same += (p == got) as usize;
                println!(
                    "  {} {target}  {got}",
                    if p == got {
                        "as predicted"
                    } else {
                        "DIFFERENT  "
                    }
                );
            }
            None => println!("  (not predicted) {target}  {got}"),
        }
    }
    println!("\n{same} of {predicted_n} predicted digests are what run pushed.");
    println!(
        "The HTML report is {}; the status page {}",
        html.display(),
        status_page.display()
    );
    if failed || same != predicted_n {
        std::process::exit(1);
    }
}
