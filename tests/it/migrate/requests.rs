//! What a run costs in requests: pagination, each blob read once, re-runs, and a registry that says less.

use super::*;

#[test]
fn lists_follow_link_pagination() {
    // distribution 2.8 pages its catalog (its tag lists come whole); both
    // go through the same paginated request path.
    let h = harness();
    let repos: Vec<String> = (0..5).map(|_| h.unique("pages/app")).collect();
    let l = vec![layer(8008, 500)];
    for r in &repos {
        h.block_on(h.r1.image(r, "t", &l, config("amd64", &l)))
            .expect("push");
    }
    let proxy = h.proxy_r1();
    // A hostile registry points its next page at another host: only the
    // path is followed, on the registry's own host.
    proxy.add(
        Some("GET"),
        "/v2/_catalog",
        Fault::RewriteHeader("link", "</v2/".into(), "<http://evil.invalid/v2/".into()),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: "[[images]]\nsource = \"a/b\"\n",
        ..Default::default()
    });
    let plan = Plan::load(&plan).expect("plan");
    let creds = h
        .block_on(rahti_migrate::session::credentials(&plan))
        .expect("credentials");
    let (source, _) = rahti_migrate::session::clients(&plan, creds).expect("clients");
    let got = h.block_on(source.catalog_paged(2)).expect("catalog");
    for r in &repos {
        assert!(got.contains(r), "{r} missing from the paged catalog");
    }
    let pages = proxy
        .hits("GET", "/v2/_catalog")
        .iter()
        .filter(|s| **s == 200)
        .count();
    assert!(
        pages >= 3 && pages >= got.len().div_ceil(2),
        "{pages} pages for {} repositories",
        got.len()
    );
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique.len(), got.len(), "a page was read twice");
}

#[test]
fn every_blob_and_config_is_read_once_per_run() {
    // app:latest and app:v2 are one image: its config is read once for the
    // conversion, each layer once for the copy; `check` reads each config
    // once too, and looks each blob up once.
    let h = harness();
    let p = seed(h, "readonce");
    let source = h.proxy_r1();
    let (_dir, plan) = project_plan(
        h,
        &p,
        Some(&source.addr),
        "format = \"oci\"\nconcurrency = 4",
    );
    let gets = |source: &support::proxy::Proxy| {
        let mut n: std::collections::BTreeMap<String, usize> = Default::default();
        for r in source.requests() {
            if r.method == "GET" && r.path.contains("/blobs/sha256:") {
                *n.entry(r.path.rsplit('/').next().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        n
    };
    let heads_from = |from: usize| {
        let mut heads: std::collections::BTreeMap<String, usize> = Default::default();
        for r in source.requests().iter().skip(from) {
            if r.method == "HEAD" && r.path.contains("/blobs/sha256:") {
                *heads
                    .entry(r.path.rsplit('/').next().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
        heads
    };
    let ck = cli(&["check", "--format", "json"], &plan);
    assert_eq!(
        ck.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ck.stderr)
    );
    // The manifests give every blob's size: none is looked up.
    assert_eq!(heads_from(0), Default::default());
    // Asked to, it looks each blob up once in each repository that needs
    // it (a blob may be lost from one repository and not another): the
    // base layer, in three repositories, three times; no path twice.
    let seen = source.requests().len();
    let ck = cli(
        &["check", "--format", "json", "--verify-source-blobs"],
        &plan,
    );
    assert_eq!(ck.status.code(), Some(0));
    let heads = heads_from(seen);
    assert!(!heads.is_empty());
    let base = p.layer.get("base").cloned().unwrap_or_default();
    assert_eq!(heads.get(&base), Some(&3), "check: {heads:?}");
    let mut paths: std::collections::BTreeMap<String, usize> = Default::default();
    for r in source.requests().iter().skip(seen) {
        if r.method == "HEAD" && r.path.contains("/blobs/sha256:") {
            *paths.entry(r.path.clone()).or_default() += 1;
        }
    }
    assert!(paths.values().all(|n| *n == 1), "check: {paths:?}");
    let by_check = gets(&source);
    assert!(!by_check.is_empty(), "check read the configs");
    // Once per check, and there were two.
    assert!(by_check.values().all(|n| *n == 2), "check: {by_check:?}");
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let all = gets(&source);
    let by_run: Vec<(&String, usize)> = all
        .iter()
        .map(|(d, n)| (d, n.saturating_sub(by_check.get(d).copied().unwrap_or(0))))
        .collect();
    assert!(by_run.iter().all(|(_, n)| *n <= 1), "run: {by_run:?}");
    for (repo, tag, _) in &p.tags {
        assert!(
            !h.target_digest(&format!("{repo}:{tag}")).is_empty(),
            "{repo}:{tag} not migrated"
        );
    }
}

#[test]
fn check_and_rerun_cost_few_requests_per_tag() {
    // Many small tags, as in the benchmark: a shared base, a layer and a
    // config of their own. `check` on a fresh target reads each manifest
    // and config and looks each target blob up; it lists each target
    // repository instead of looking every tag up, and takes the source
    // blobs the manifests name as present. A re-run reads each source
    // manifest and looks its target tag up, nothing more.
    let h = harness();
    let ns = h.unique("cheap");
    let (repos, per_repo) = (2, 20);
    let base = layer(31, 1024);
    for r in 0..repos {
        for t in 0..per_repo {
            let ls = vec![base.clone(), layer(3100 + (r * 100 + t) as u64, 256)];
            let mut c = config("amd64", &ls);
            c["config"] = serde_json::json!({"Labels": {"n": format!("{r}-{t}")}});
            h.block_on(h.r1.image(&format!("{ns}/app{r}"), &format!("v{t}"), &ls, c))
                .expect("seed");
        }
    }
    let tags = (repos * per_repo) as f64;
    let (source, target) = (h.proxy_r1(), h.proxy_r2());
    let images: String = (0..repos)
        .map(|r| format!("[[images]]\nsource = \"{ns}/app{r}\"\ntarget = \"{ns}/to{r}\"\n"))
        .collect();
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &images,
        options: "format = \"oci\"",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    let count = |p: &support::proxy::Proxy, from: usize, method: &str, part: &str| {
        p.requests()
            .iter()
            .skip(from)
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    };
    let ck = cli(&["check", "--format", "json"], &plan);
    assert_eq!(
        ck.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ck.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ck.stdout).expect("json");
    let sent = source.requests().len() + target.requests().len();
    assert!(
        sent as f64 / tags <= 3.5,
        "check sent {sent} requests for {tags} tags"
    );
    assert_eq!(
        count(&target, 0, "HEAD", "/manifests/"),
        0,
        "tags listed, not looked up"
    );
    assert_eq!(count(&source, 0, "HEAD", "/blobs/"), 0);
    assert_eq!(count(&target, 0, "GET", "/tags/list"), repos);
    let lookups = &v["summary"]["lookups"];
    assert_eq!(lookups["target_repositories_listed"], repos, "{lookups}");
    assert_eq!(lookups["target_tags_looked_up"], 0, "{lookups}");
    assert_eq!(lookups["source_blobs_looked_up"], 0, "{lookups}");
    assert_eq!(
        v["summary"]["by_action"]["convert"],
        repos * per_repo,
        "{}",
        v["summary"]
    );

    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(s.copied, repos * per_repo);
    // After the run the listed tags are looked up, and all are done.
    let seen_target = target.requests().len();
    let ck = cli(&["check", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&ck.stdout).expect("json");
    assert_eq!(
        v["summary"]["by_action"]["done"],
        repos * per_repo,
        "{}",
        v["summary"]
    );
    assert_eq!(
        count(&target, seen_target, "HEAD", "/manifests/"),
        repos * per_repo
    );

    let (seen_source, seen_target) = (source.requests().len(), target.requests().len());
    let again = run_lib(h, &plan);
    assert_eq!(again.skipped, repos * per_repo, "{again:?}");
    let sent = source.requests().len() - seen_source + target.requests().len() - seen_target;
    assert_eq!(
        count(&source, seen_source, "GET", "/manifests/"),
        repos * per_repo
    );
    assert_eq!(
        count(&target, seen_target, "HEAD", "/manifests/"),
        repos * per_repo
    );
    // Beyond those two per tag: the tag listings and the auth challenges.
    assert!(
        sent <= 2 * repos * per_repo + 4 * repos + 4,
        "re-run sent {sent}"
    );
}

/// A registry that says less than distribution: a source without
/// `tags/list`, a target whose manifest `HEAD` has no
/// `Docker-Content-Digest` and whose blob `HEAD` has no `Content-Length`.
/// Exact tags are read without a listing (globs fail saying so); the
/// re-run finds everything done and uploads nothing; `verify` agrees, and
/// names what did not arrive.
#[test]
fn a_registry_that_says_less_gets_the_same_migration() {
    let h = harness();
    let p = seed(h, "sayless");
    let source = h.proxy_r1();
    source.add(
        Some("GET"),
        "/tags/list",
        Fault::Status(404, None),
        usize::MAX,
    );
    let target = h.proxy_r2();
    target.add(
        Some("HEAD"),
        "/manifests/",
        Fault::DropHeader("docker-content-digest"),
        usize::MAX,
    );
    target.add(
        Some("HEAD"),
        "/blobs/",
        Fault::DropHeader("content-length"),
        usize::MAX,
    );
    let exact: String = {
        let mut by_repo: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (repo, tag, _) in &p.tags {
            by_repo.entry(repo).or_default().push(format!("\"{tag}\""));
        }
        by_repo
            .iter()
            .map(|(r, t)| format!("[[images]]\nsource = \"{r}\"\ntags = [{}]\n", t.join(", ")))
            .collect()
    };
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &exact,
        options: "format = \"preserve\"",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert!(
        source.hits("GET", "/tags/list").is_empty(),
        "exact tags were listed"
    );
    let uploads = target.hits("POST", "/blobs/uploads/").len();
    let again = run_lib(h, &plan);
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    assert_eq!(
        (again.copied, again.skipped),
        (0, p.tags.len()),
        "{again:?}"
    );
    assert_eq!(
        target.hits("POST", "/blobs/uploads/").len(),
        uploads,
        "the re-run uploaded"
    );
    let v = cli(&["verify", "--format", "json"], &plan);
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(0), "{text}");
    assert!(!text.contains("Some(") && !text.contains("None"), "{text}");
    // A glob needs a listing: that entry fails, saying what to do.
    let (_d2, globbed) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &format!(
            "[[images]]\nsource = \"{}/app\"\ntarget = \"{}/globbed\"\ntags = [\"v*\"]\n",
            p.ns, p.ns
        ),
        ..Default::default()
    });
    h.target_via(&globbed, &target);
    let s = run_lib(h, &globbed);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert!(
        s.failed[0].error.contains("name the tags"),
        "{}",
        s.failed[0].error
    );
    // verify names what did not arrive, and exits 1.
    let v = cli(&["verify"], &globbed);
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    assert_eq!(v.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not-migrated") && text.contains("1 not migrated"),
        "{text}"
    );
}
