//! Faults from the proxy: corrupted and slow bodies, 5xx and resets, Retry-After, one retry level, and the bounds on requests in flight.

use super::*;

#[test]
fn corrupted_blob_fails_only_its_image_and_tags_nothing() {
    let h = harness();
    let p = seed(h, "corrupt");
    let proxy = h.proxy_r1();
    let bad = p.layer["work"].clone();
    proxy.add(
        Some("GET"),
        &format!("/blobs/{bad}"),
        Fault::Corrupt,
        usize::MAX,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nretries = 1",
    );
    let s = run_lib(h, &plan);
    let worker = format!("{}/worker", p.ns);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    let f = &s.failed[0];
    assert_eq!(f.source, format!("{worker}:v1"));
    assert!(
        f.error.contains(&worker) && f.error.contains(&bad) && f.error.contains("digest mismatch"),
        "{}",
        f.error
    );
    assert!(
        f.error.contains(&format!("expected {bad}, got sha256:")),
        "{}",
        f.error
    );
    assert_eq!(proxy.hits("GET", &bad).len(), 2, "one try and one retry");
    assert_eq!(f.kind, rahti_migrate::model::FailureKind::Verification);
    let out = cli(&["status", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let failed: Vec<&serde_json::Value> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["error_kind"], "verification", "{v}");
    h.block_on(async {
        assert!(
            h.r2.tags(&worker).await.is_empty(),
            "a tag was pushed for the failed image"
        );
        assert_eq!(
            h.r2.blob_size(&worker, &bad).await,
            None,
            "the bad blob was committed"
        );
    });
    assert!(!journal_text(&plan)
        .lines()
        .any(|l| l.contains(&bad) && l.contains("\"blob\"")));
    let others = Project {
        tags: p.tags.iter().filter(|t| t.0 != worker).cloned().collect(),
        ..p
    };
    assert_migrated(h, &others);
}

#[test]
fn transient_faults_are_retried() {
    let h = harness();
    let p = seed(h, "flaky");
    let proxy = h.proxy_r1();
    let app = format!("{}/app", p.ns);
    proxy.add(
        Some("GET"),
        &format!("{app}/manifests/v1"),
        Fault::Status(503, None),
        2,
    );
    proxy.add(
        Some("GET"),
        &format!("{app}/tags/list"),
        Fault::Status(429, Some(1)),
        1,
    );
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["base"]),
        Fault::Reset,
        1,
    );
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["app1"]),
        Fault::Truncate(1000),
        1,
    );
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["arm"]),
        Fault::Status(502, None),
        1,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nretries = 3",
    );
    let start = Instant::now();
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert_eq!(
        proxy
            .hits("GET", &format!("{app}/manifests/v1"))
            .iter()
            .filter(|s| **s == 503)
            .count(),
        2
    );
    assert!(proxy
        .hits("GET", &format!("{app}/tags/list"))
        .contains(&429));
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(proxy.hits("GET", &p.layer["app1"]).len(), 2);
    assert_eq!(proxy.hits("GET", &p.layer["arm"]), vec![502, 200]);
}

#[test]
fn target_faults_are_retried_and_tags_stay_last() {
    let h = harness();
    let p = seed(h, "tflaky");
    let proxy = h.proxy_r2();
    let worker = format!("{}/worker", p.ns);
    // The upload of a blob is cut, the next one refused with 500, a
    // manifest push answered 503, an upload start rate-limited.
    proxy.add(
        Some("PUT"),
        &format!("{worker}/blobs/uploads/"),
        Fault::Reset,
        1,
    );
    proxy.add(Some("PUT"), "/blobs/uploads/", Fault::Status(500, None), 1);
    proxy.add(
        Some("PUT"),
        &format!("{}/app/manifests/", p.ns),
        Fault::Status(503, None),
        1,
    );
    proxy.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::Status(429, Some(0)),
        2,
    );
    let (_dir, plan) = project_plan(h, &p, None, "format = \"preserve\"\nretries = 3");
    h.target_via(&plan, &proxy);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert!(
        proxy
            .hits("PUT", &format!("{worker}/blobs/uploads/"))
            .contains(&0),
        "reset fired"
    );
    assert!(
        proxy.hits("PUT", "/blobs/uploads/").contains(&500),
        "500 fired"
    );
    // The two sessions whose uploads failed were cancelled.
    let deletes = proxy.hits("DELETE", "/blobs/uploads/");
    assert!(
        deletes.len() >= 2,
        "abandoned sessions cancelled: {deletes:?}"
    );
    assert!(
        proxy
            .hits("PUT", &format!("{}/app/manifests/", p.ns))
            .contains(&503),
        "503 fired"
    );
    assert_eq!(
        proxy
            .hits("POST", "/blobs/uploads/")
            .iter()
            .filter(|s| **s == 429)
            .count(),
        2
    );
    // Every tag was pushed after the manifest it names was pushed by digest.
    let log = journal_text(&plan);
    for (repo, tag, _) in &p.tags {
        let done = log
            .find(&format!("\"target\":\"{repo}:{tag}\",\"target_digest\""))
            .unwrap_or_else(|| panic!("{repo}:{tag} not done"));
        let digest = h
            .block_on(h.r2.get_manifest(repo, tag))
            .map(|g| g.digest)
            .unwrap_or_default();
        let pushed = log
            .find(&format!(
                "\"kind\":\"manifest\",\"repo\":\"{repo}\",\"digest\":\"{digest}\""
            ))
            .unwrap_or_else(|| panic!("{repo}@{digest} not journaled"));
        assert!(
            pushed < done,
            "{repo}:{tag} journaled done before its manifest"
        );
    }
}

#[test]
fn retries_happen_at_one_level_only() {
    // A target that refuses every upload with 503: each blob's transfer is
    // attempted `retries + 1` times, and each attempt opens one session
    // (nested retries sent (retries + 1)^2 POSTs per blob).
    let h = harness();
    let repo = h.unique("onelevel/app");
    let l = vec![layer(8101, 700)];
    h.block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let proxy = h.proxy_r2();
    proxy.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::Status(503, Some(0)),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        images: &format!("[[images]]\nsource = \"{repo}\"\ntags = [\"v1\"]\n"),
        options: "format = \"preserve\"\nretries = 3",
        ..Default::default()
    });
    h.target_via(&plan, &proxy);
    let s = run_lib(h, &plan);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    let posts = proxy.hits("POST", &format!("{repo}/blobs/uploads/")).len();
    // The layer and the config: at most 4 sessions each.
    assert!((4..=8).contains(&posts), "{posts} upload POSTs for 2 blobs");
    let err = &s.failed[0].error;
    assert!(
        err.contains("503") && err.contains("after 3 retries"),
        "{err}"
    );
}

#[test]
fn a_trickling_body_fails_the_minimum_rate_and_is_retried() {
    let h = harness();
    let p = seed(h, "trickle");
    let proxy = h.proxy_r1();
    let blob = format!("/blobs/{}", p.layer["base"]);
    // 1 KB every 100 ms: 10 KB/s against a minimum of 100 KB/s.
    proxy.add(
        Some("GET"),
        &blob,
        Fault::Trickle(1000, Duration::from_millis(100)),
        1,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&proxy.addr),
        "format = \"preserve\"\nstall_timeout = 1\nmin_rate = \"100KB\"",
    );
    let t = Instant::now();
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert_eq!(
        proxy.hits("GET", &blob).len(),
        2,
        "the trickling read was abandoned and read again"
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
}

#[test]
fn max_requests_bounds_what_a_registry_sees_at_once() {
    let h = harness();
    let p = seed(h, "maxreq");
    let target = h.proxy_r2();
    let (_dir, plan) = project_plan(h, &p, None, "format = \"oci\"\nconcurrency = 8");
    h.target_via(&plan, &target);
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace("insecure = true\n", "insecure = true\nmax_requests = 2\n");
    std::fs::write(&plan, text).expect("plan");
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let most = target.max_in_flight();
    assert!((1..=2).contains(&most), "{most} requests at once");
}

#[test]
fn a_retry_after_pauses_every_request_to_that_registry() {
    let h = harness();
    let p = seed(h, "pause");
    let source = h.proxy_r1();
    // The first blob read is answered 429, Retry-After: 2, while other
    // transfers would go on.
    source.add(
        Some("GET"),
        "/blobs/sha256:",
        Fault::Status(429, Some(2)),
        1,
    );
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&source.addr),
        "format = \"preserve\"\nconcurrency = 3",
    );
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    let faulted = source.faulted();
    assert_eq!(faulted.len(), 1, "{faulted:?}");
    let (_, answered, _) = faulted[0];
    // Requests already on their way when the answer left still arrive; the
    // next ones wait out the pause.
    let from = answered + Duration::from_millis(150);
    let during: Vec<_> = source
        .requests()
        .into_iter()
        .filter(|r| r.at > from && r.at < answered + Duration::from_millis(1900))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(during.is_empty(), "requests during the pause: {during:?}");
}

/// The most of `spans` (start, end) that overlap at one moment.
fn most_at_once(mut spans: Vec<(Instant, Instant)>) -> usize {
    let mut edges: Vec<(Instant, i32)> = Vec::new();
    for (a, b) in spans.drain(..) {
        edges.push((a, 1));
        edges.push((b, -1));
    }
    // Ends before starts at the same instant.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn manifest_reads_have_their_own_bound_beside_blob_transfers() {
    // With concurrency = 1 blobs move one at a time, while manifests are
    // read up to 4 at once (twice concurrency, at least 4).
    let h = harness();
    let ns = h.unique("bound");
    let mut layers = Vec::new();
    for t in 0..10 {
        let ls = vec![layer(4200 + t, 300)];
        layers.push(support::fixtures::sha256(&ls[0]));
        h.block_on(h.r1.image(
            &format!("{ns}/app"),
            &format!("v{t}"),
            &ls,
            config("amd64", &ls),
        ))
        .expect("seed");
    }
    let source = h.proxy_r1();
    source.add(
        Some("GET"),
        "/manifests/",
        Fault::Delay(Duration::from_millis(200)),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &format!("[[images]]\nsource = \"{ns}/app\"\ntarget = \"{ns}/to\"\n"),
        options: "concurrency = 1",
        ..Default::default()
    });
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.copied, 10);
    let spans = |parts: &[String]| {
        source
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && parts.iter().any(|p| r.path.contains(p.as_str())))
            .map(|r| (r.at, r.answered))
            .collect::<Vec<_>>()
    };
    let manifests = most_at_once(spans(&["/manifests/".to_string()]));
    assert!(
        (2..=4).contains(&manifests),
        "{manifests} manifest reads at once"
    );
    // Layer transfers (config reads are small reads, not transfers).
    let blobs = most_at_once(spans(&layers));
    assert_eq!(blobs, 1, "{blobs} layer transfers at once");
}
