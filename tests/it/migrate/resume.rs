//! Resuming: a killed run, Ctrl-C, a journal that cannot be written or is in use, a source tag that moved.

use super::*;

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
