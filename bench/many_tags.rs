//! Workload 3: many small tags (BENCH_TAGS, default 2,000), the case where
//! round trips, not bytes, decide. Each tag is a schema 2 image with one
//! shared base layer, one layer of its own and its own config, spread over
//! four repositories; everything is migrated with `format = "oci"`.
//!
//! Measured beside `skopeo sync -f oci` (one invocation per repository):
//! the first run, a re-run with nothing to do, and `check` (the dry run),
//! first on loopback and then with BENCH_LATENCY_MS (default 20) added to
//! every request by a proxy in front of each registry; a run split in two
//! parts (`--shard 0/2`, `--shard 1/2`) as parallel processes against one
//! process; and memory growth per 1,000 tags (`check`, `run` and `status`
//! of one repository's tags against the whole plan, each the median of
//! MEMORY_RUNS fresh migrations). Requests are counted from the
//! registries' own access logs.

use super::support::{self, proxy, PlanOpts};
use super::{measure, verdict};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;
use support::fixtures::{config, layer};

const REPOS: usize = 4;
const TARGET_FIRST_RUN_AT_LATENCY: f64 = 0.2;
const TARGET_RERUN_REQUESTS: f64 = 2.0;
const TARGET_CHECK_REQUESTS: f64 = 3.5;
const TARGET_MIB_PER_1000_TAGS: f64 = 1.0;
/// Requests per tag of a re-run of an unchanged project through the
/// cluster API (registries and the API stand-in together).
const TARGET_API_RERUN_REQUESTS: f64 = 0.05;
/// Share of tags moved in the source before the API re-run that must
/// transfer exactly those.
const MOVED_SHARE: f64 = 0.01;
/// Fresh migrations per memory figure (the median is printed): peak RSS
/// moves by up to 0.4 MiB from one to the next.
const MEMORY_RUNS: usize = 5;

/// Requests both registries have logged so far (one access-log line
/// each): all of them, and those made once per run or per repository
/// rather than per tag (sign-in at `/v2/`, tag listings, the catalog).
fn requests(h: &support::Harness) -> (usize, usize) {
    let per_run = |l: &str| {
        l.contains("\"GET /v2/ HTTP/1.1\"")
            || l.contains("/tags/list")
            || l.contains("/v2/_catalog")
    };
    [&h.rahti1, &h.rahti2]
        .iter()
        .map(|r| {
            let log = std::fs::read_to_string(r.dir.join("registry.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(" HTTP/1.1\" ")).collect();
            (lines.len(), lines.iter().filter(|l| per_run(l)).count())
        })
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// One measured command: seconds, peak RSS (MiB) and registry requests
/// (all, and those made once per run or per repository).
struct Sample {
    secs: f64,
    mib: f64,
    requests: usize,
    per_run: usize,
}

impl Sample {
    /// A measurement left out: its ratios read NaN.
    fn skipped() -> Sample {
        Sample {
            secs: f64::NAN,
            mib: f64::NAN,
            requests: 0,
            per_run: 0,
        }
    }
}

fn sample(h: &support::Harness, cmds: Vec<Command>) -> Sample {
    let before = requests(h);
    let start = Instant::now();
    // Several commands run in parallel (the parts of a sharded run); the
    // memory is the largest one's.
    let mib = std::thread::scope(|s| {
        let handles: Vec<_> = cmds
            .into_iter()
            .map(|mut c| s.spawn(move || measure(&mut c).1))
            .collect();
        handles
            .into_iter()
            .map(|j| j.join().unwrap_or(0.0))
            .fold(0.0f64, f64::max)
    });
    let secs = start.elapsed().as_secs_f64();
    // The access log is written after the answer; let it land.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = requests(h);
    Sample {
        secs,
        mib,
        requests: after.0 - before.0,
        per_run: after.1 - before.1,
    }
}

/// Commands run one after another (skopeo, one repository at a time, as
/// a script would run it): summed time, largest memory.
/// `fresh` empties skopeo's blob-info cache before each command (a first
/// copy); a re-run keeps what the earlier run left there, as on a real
/// machine.
fn sample_each(h: &support::Harness, cmds: Vec<Command>, fresh: bool) -> Sample {
    // BENCH_SKOPEO=0 leaves skopeo out (while working on rahti-migrate
    // alone); its ratios then read NaN.
    if std::env::var("BENCH_SKOPEO").as_deref() == Ok("0") {
        return Sample::skipped();
    }
    let before = requests(h);
    let mut out = Sample {
        secs: 0.0,
        mib: 0.0,
        requests: 0,
        per_run: 0,
    };
    for mut c in cmds {
        if fresh {
            let _ = std::fs::remove_file("/var/lib/containers/cache/blob-info-cache-v1.boltdb");
        }
        let (secs, mib) = measure(&mut c);
        out.secs += secs;
        out.mib = out.mib.max(mib);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let after = requests(h);
    out.requests = after.0 - before.0;
    out.per_run = after.1 - before.1;
    out
}

/// rahti-migrate with `args` and the plan. BENCH_WRAP puts a profiler in
/// front (e.g. `heaptrack -o /tmp/ht`); its figures then include it.
fn ours(args: &[&str], plan: &Path) -> Command {
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut c = match words.next() {
        Some(w) => {
            let mut c = Command::new(w);
            c.args(words).arg(super::binary());
            c
        }
        None => Command::new(super::binary()),
    };
    c.args(args)
        .arg(plan)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// `skopeo sync -f oci` of every repository of `ns` into `dest_ns`.
fn skopeo_sync(
    h: &support::Harness,
    src: &str,
    dst: &str,
    dst_tls: bool,
    ns: &str,
    dest_ns: &str,
) -> Vec<Command> {
    let certs = h.dir.path().join("bench-certs");
    let _ = std::fs::create_dir_all(&certs);
    let _ = std::fs::copy(&h.pki.ca_file, certs.join("ca.crt"));
    (0..REPOS)
        .map(|r| {
            let mut c = Command::new("skopeo");
            c.args(["sync", "-f", "oci", "--src", "docker", "--dest", "docker"])
                .arg("--src-tls-verify=false")
                .arg(format!(
                    "--src-creds={}:{}",
                    support::R1_USER,
                    support::R1_PASS
                ))
                .arg(if dst_tls {
                    format!("--dest-cert-dir={}", certs.display())
                } else {
                    "--dest-tls-verify=false".into()
                })
                .arg(format!(
                    "--dest-creds={}:{}",
                    support::R2_USER,
                    support::R2_PASS
                ))
                .arg(format!("{src}/{ns}/app{r}"))
                .arg(format!("{dst}/{dest_ns}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            c
        })
        .collect()
}

/// Seeds `tags` images over REPOS repositories of `ns`; returns each
/// (repository, tag, digest).
fn seed(h: &support::Harness, ns: &str, tags: usize) -> Vec<(String, String, String)> {
    let base = layer(7, 2048);
    let started = Instant::now();
    let jobs = (0..tags).map(|i| {
        let base = base.clone();
        let repo = format!("{ns}/app{}", i % REPOS);
        async move {
            let ls = vec![base, layer(10_000 + i as u64, 512)];
            let mut c = config("amd64", &ls);
            c["config"] = serde_json::json!({"Labels": {"build": i.to_string()}});
            // Parallel pushes of the shared base into one repository race
            // in the registry now and then; a second push settles it.
            let mut last = Ok(Default::default());
            for _ in 0..3 {
                last = h.r1.image(&repo, &format!("v{i}"), &ls, c.clone()).await;
                if last.is_ok() {
                    break;
                }
            }
            last.map(|(d, _)| (repo, format!("v{i}"), d))
        }
    });
    let results: Vec<Result<(String, String, String), String>> = h.block_on(async {
        futures::stream::iter(jobs)
            .buffer_unordered(16)
            .collect()
            .await
    });
    let (ok, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(|r| r.is_ok());
    let failed: Vec<String> = failed.into_iter().filter_map(|r| r.err()).collect();
    let seeded: Vec<(String, String, String)> = ok.into_iter().filter_map(|r| r.ok()).collect();
    if let Some(e) = failed.first() {
        eprintln!("seeding: {} images failed, first: {e}", failed.len());
        std::process::exit(1);
    }
    println!(
        "  seeded {tags} tags in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    seeded
}

/// The cluster API's view of the seeded tags: one image stream per
/// repository, each tag at its digest.
fn set_streams(api: &support::openshift::Api, ns: &str, seeded: &[(String, String, String)]) {
    let mut by_repo: std::collections::BTreeMap<&str, Vec<(String, Vec<String>)>> =
        Default::default();
    for (repo, tag, d) in seeded {
        by_repo
            .entry(repo.rsplit('/').next().unwrap_or(repo))
            .or_default()
            .push((tag.clone(), vec![d.clone()]));
    }
    for (name, tags) in by_repo {
        api.set_stream(
            ns,
            name,
            support::openshift::Stream {
                tags,
                ..Default::default()
            },
        );
    }
}

/// A re-sync through the cluster API stand-in (`[[projects]]` with
/// `[source] api`): the first run, a re-run of the unchanged project
/// (registry and API requests counted together), and a re-run after
/// `MOVED_SHARE` of the tags moved in the source (and in their streams),
/// which must copy exactly those. Returns the unchanged re-run.
fn api_resync(
    h: &support::Harness,
    work: &Path,
    ns: &str,
    seeded: &mut [(String, String, String)],
) -> Sample {
    let tags = seeded.len();
    let api = match h.block_on(support::openshift::Api::start(support::R1_PASS)) {
        Ok(a) => a,
        Err(e) => {
            println!("  the API stand-in did not start: {e}");
            return Sample::skipped();
        }
    };
    set_streams(&api, ns, seeded);
    let dir = work.join("api");
    let _ = std::fs::create_dir_all(&dir);
    let p = h.plan(
        &dir,
        PlanOpts {
            images: &format!("[[projects]]\nsource = \"{ns}\"\ntarget = \"{ns}-api\"\n"),
            options: "format = \"oci\"",
            ..Default::default()
        },
    );
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    let _ = std::fs::write(
        &p,
        text.replacen(
            "[source]\n",
            &format!("[source]\napi = \"{}\"\n", api.url),
            1,
        ),
    );
    let first = sample(h, vec![ours(&["run", "--no-progress"], &p)]);
    row("run, through the API", &first, tags);
    let api_before = api.log().len();
    let mut again = sample(h, vec![ours(&["run", "--no-progress"], &p)]);
    again.requests += api.log().len() - api_before;
    row("run again, through the API", &again, tags);
    // Move a share of the tags: each to the image of the tag after it.
    let moved = ((tags as f64 * MOVED_SHARE).ceil() as usize).max(1);
    let step = (tags / moved).max(1);
    let mut changed = 0;
    for k in 0..moved {
        let i = (k * step) % tags;
        let (repo, tag) = (seeded[i].0.clone(), seeded[i].1.clone());
        // Another tag of the same repository.
        let Some(from) = seeded
            .iter()
            .find(|(r, t, _)| *r == repo && *t != tag)
            .map(|x| x.1.clone())
        else {
            continue;
        };
        let ok = h.block_on(async {
            let m = h.r1.get_manifest(&repo, &from).await.ok_or("no manifest")?;
            h.r1.manifest(&repo, &tag, &m.content_type, &m.body).await
        });
        if let Ok(d) = ok {
            seeded[i].2 = d;
            changed += 1;
        }
    }
    set_streams(&api, ns, seeded);
    let out = Command::new(super::binary())
        .args(["run", "--no-progress"])
        .arg(&p)
        .output();
    let copied = out
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
        .and_then(|e| {
            e.lines()
                .find(|l| l.contains(" copied, "))
                .and_then(|l| l.split(' ').next().map(str::to_string))
        })
        .unwrap_or_default();
    println!("  moved {changed} of {tags} tags in the source: the re-run copied {copied}");
    again
}

/// A plan migrating `repos` repositories of `ns` into `{ns}-{name}`, in
/// `work/name`.
fn plan(
    h: &support::Harness,
    work: &Path,
    ns: &str,
    name: &str,
    repos: usize,
    source: Option<&str>,
) -> PathBuf {
    let dir = work.join(name);
    let _ = std::fs::create_dir_all(&dir);
    let images: String = (0..repos)
        .map(|r| format!("[[images]]\nsource = \"{ns}/app{r}\"\ntarget = \"{ns}-{name}/app{r}\"\n"))
        .collect();
    h.plan(
        &dir,
        PlanOpts {
            images: &images,
            source_addr: source,
            options: "format = \"oci\"",
            ..Default::default()
        },
    )
}

/// `check`, the first run and a re-run of the plan at `p`, each measured
/// and printed.
fn check_run_rerun(h: &support::Harness, p: &Path, tags: usize) -> (Sample, Sample, Sample) {
    let check = sample(h, vec![ours(&["check", "--format", "json"], p)]);
    row("rahti-migrate check (dry run)", &check, tags);
    let first = sample(h, vec![ours(&["run", "--no-progress"], p)]);
    row("rahti-migrate run", &first, tags);
    let rerun = sample(h, vec![ours(&["run", "--no-progress"], p)]);
    row("rahti-migrate run again", &rerun, tags);
    (check, first, rerun)
}

fn row(name: &str, s: &Sample, tags: usize) {
    println!(
        "  {name:<34} {:8.2} s  {:7.1} MiB  {:6.2} requests/tag",
        s.secs,
        s.mib,
        s.requests as f64 / tags as f64
    );
}

pub fn run(h: &support::Harness, work: &Path) {
    let tags: usize = std::env::var("BENCH_TAGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
        .max(REPOS * 2);
    let latency_ms: u64 = std::env::var("BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let ns = h.unique("tags");
    println!("\nworkload 3: {tags} small tags in {REPOS} repositories -> OCI");
    let mut seeded = seed(h, &ns, tags);
    // BENCH_API_ONLY=1: the re-sync through the cluster API alone.
    if std::env::var("BENCH_API_ONLY").as_deref() == Ok("1") {
        let again = api_resync(h, work, &ns, &mut seeded);
        let r = again.requests as f64 / tags as f64;
        println!(
            "    re-run through the cluster API:          {r:5.3} requests/tag ({} <= {TARGET_API_RERUN_REQUESTS}, registries and API)",
            verdict(r, TARGET_API_RERUN_REQUESTS)
        );
        return;
    }
    let (src, dst) = (h.rahti1.addr.as_str(), h.rahti2.addr.as_str());

    // Loopback.
    println!("  on loopback:");
    let p = plan(h, work, &ns, "loop", REPOS, None);
    let (check, first, rerun) = check_run_rerun(h, &p, tags);
    let status = sample(h, vec![ours(&["status"], &p)]);
    row("rahti-migrate status", &status, tags);
    // Last among the loopback runs: it moves some source tags.
    let api_rerun = api_resync(h, work, &ns, &mut seeded);
    let sk = sample_each(
        h,
        skopeo_sync(h, src, dst, true, &ns, &format!("{ns}-sk")),
        true,
    );
    row("skopeo sync -f oci", &sk, tags);
    let sk2 = sample_each(
        h,
        skopeo_sync(h, src, dst, true, &ns, &format!("{ns}-sk")),
        false,
    );
    row("skopeo sync -f oci again", &sk2, tags);

    // Two parts in parallel against one process.
    let ps = plan(h, work, &ns, "shard", REPOS, None);
    let sharded = sample(
        h,
        vec![
            ours(&["run", "--no-progress", "--shard", "0/2"], &ps),
            ours(&["run", "--no-progress", "--shard", "1/2"], &ps),
        ],
    );
    row("rahti-migrate run, 2 parts", &sharded, tags);

    // Memory growth: one repository's tags against all of them, each the
    // median of MEMORY_RUNS fresh migrations (peak RSS moves by a few
    // hundred KiB from run to run). Small and full alternate, so that
    // whatever drifts over the bench (the registries' own state) weighs on
    // both alike.
    let small_tags = tags.div_ceil(REPOS);
    let once = |repos: usize, name: &str, rep: usize| -> [f64; 3] {
        let p = plan(h, work, &ns, &format!("{name}{rep}"), repos, None);
        let c = sample(h, vec![ours(&["check", "--format", "json"], &p)]).mib;
        let r = sample(h, vec![ours(&["run", "--no-progress"], &p)]).mib;
        let s = sample(h, vec![ours(&["status"], &p)]).mib;
        [r, c, s]
    };
    let (mut smalls, mut fulls) = (Vec::new(), Vec::new());
    for rep in 0..MEMORY_RUNS {
        smalls.push(once(1, "small", rep));
        fulls.push(once(REPOS, "mem", rep));
    }
    // Per command: the smallest, the median and the largest sample.
    let spread = |got: &[[f64; 3]]| {
        let at = |i: usize| {
            let mut v: Vec<f64> = got.iter().map(|g| g[i]).collect();
            v.sort_by(f64::total_cmp);
            [v[0], v[v.len() / 2], v[v.len() - 1]]
        };
        [at(0), at(1), at(2)]
    };
    let (small, full) = (spread(&smalls), spread(&fulls));

    // With latency on every request to either registry (BENCH_LATENCY_MS=0
    // leaves this out).
    let nan = Sample::skipped;
    let (lcheck, lfirst, lrerun, lsk) = if latency_ms > 0 {
        latency(h, work, &ns, tags, latency_ms)
    } else {
        (nan(), nan(), nan(), nan())
    };

    let per_tag = |s: &Sample| s.requests as f64 / tags as f64;
    println!("  ratios and targets:");
    let r = first.secs / sk.secs;
    println!("    first run / skopeo sync, loopback:       {r:5.2}");
    let r = lfirst.secs / lsk.secs;
    println!(
        "    first run / skopeo sync, {latency_ms} ms:          {r:5.2} ({} <= {TARGET_FIRST_RUN_AT_LATENCY})",
        verdict(r, TARGET_FIRST_RUN_AT_LATENCY)
    );
    let r = rerun.secs / sk2.secs;
    println!("    re-run / skopeo sync again, loopback:    {r:5.2}");
    let r = first.mib / sk.mib;
    println!("    memory, first run / skopeo sync:         {r:5.2}");
    // The target is on what each tag costs: requests made once per run
    // (sign-in) or per repository (the tag listing) are shown apart.
    let tag_part = |s: &Sample| (s.requests - s.per_run) as f64 / tags as f64;
    let worst = if per_tag(&lrerun) > per_tag(&rerun) {
        &lrerun
    } else {
        &rerun
    };
    let r = tag_part(worst);
    println!(
        "    re-run requests per tag:                 {r:5.3} ({} <= {TARGET_RERUN_REQUESTS}; {:.3} with the {} made once per run or repository; skopeo sync again: {:.2})",
        verdict(r, TARGET_RERUN_REQUESTS),
        per_tag(worst),
        worst.per_run,
        per_tag(&sk2)
    );
    let r = per_tag(&api_rerun);
    println!(
        "    re-run through the cluster API:          {r:5.3} requests/tag ({} <= {TARGET_API_RERUN_REQUESTS}, registries and API; skopeo sync again: {:.2})",
        verdict(r, TARGET_API_RERUN_REQUESTS),
        per_tag(&sk2)
    );
    let r = per_tag(&check).max(per_tag(&lcheck));
    println!(
        "    check requests per tag:                  {r:5.3} ({} <= {TARGET_CHECK_REQUESTS}; first run: {:.2}, skopeo sync: {:.2})",
        verdict(r, TARGET_CHECK_REQUESTS),
        per_tag(&first),
        per_tag(&sk)
    );
    let r = sharded.secs / first.secs;
    println!("    2 parts in parallel / one process:       {r:5.2}");
    for (i, name) in ["run", "check", "status"].into_iter().enumerate() {
        let ([s0, s, s1], [f0, f, f1]) = (small[i], full[i]);
        let g = (f - s) / ((tags - small_tags) as f64 / 1000.0);
        println!(
            "    memory growth of {name:<6} per 1,000 tags:  {g:5.2} MiB ({} <= {TARGET_MIB_PER_1000_TAGS}; medians of {MEMORY_RUNS}: {s:.1} MiB at {small_tags} tags ({s0:.1} to {s1:.1}), {f:.1} MiB at {tags} ({f0:.1} to {f1:.1}))",
            verdict(g, TARGET_MIB_PER_1000_TAGS),
        );
    }
}

/// The first run, re-run and check, and skopeo sync, with `latency_ms`
/// added to every request by a proxy in front of each registry.
fn latency(
    h: &support::Harness,
    work: &Path,
    ns: &str,
    tags: usize,
    latency_ms: u64,
) -> (Sample, Sample, Sample, Sample) {
    println!("  with {latency_ms} ms added to every request:");
    let delay = std::time::Duration::from_millis(latency_ms);
    let (p1, p2) = (h.proxy_r1(), h.proxy_r2());
    for p in [&p1, &p2] {
        p.add(None, "/v2/", proxy::Fault::Delay(delay), usize::MAX);
    }
    let pl = plan(h, work, ns, "latency", REPOS, Some(&p1.addr));
    h.target_via(&pl, &p2);
    let (lcheck, lfirst, lrerun) = check_run_rerun(h, &pl, tags);
    let lsk = sample_each(
        h,
        skopeo_sync(h, &p1.addr, &p2.addr, false, ns, &format!("{ns}-lsk")),
        true,
    );
    row("skopeo sync -f oci", &lsk, tags);
    (lcheck, lfirst, lrerun, lsk)
}
