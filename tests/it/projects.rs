//! Whole-project migrations (`[[projects]]`): discovery through the
//! OpenShift API stand-in (`support::openshift`, in front of the real
//! Rahti-1-like registry that holds the images) and through the registry's
//! catalog; external imports; the target project's quota and image
//! streams; a project the token may not read.

use crate::support;

use std::path::{Path, PathBuf};
use support::cli::cli;
use support::openshift::{Api, Stream};
use support::project::{seed, Project};
use support::proxy::Fault;
use support::{harness, Harness, PlanOpts};

/// The API's view of a seeded project: one stream per repository, its
/// tags with the digests the registry holds.
fn streams_of(api: &Api, p: &Project) {
    let mut by_repo: std::collections::BTreeMap<&str, Vec<(String, Vec<String>)>> =
        Default::default();
    for (repo, tag, digest) in &p.tags {
        by_repo
            .entry(repo.as_str())
            .or_default()
            .push((tag.clone(), vec![digest.clone()]));
    }
    for (repo, tags) in by_repo {
        let name = repo.rsplit('/').next().unwrap_or(repo);
        api.set_stream(
            &p.ns,
            name,
            Stream {
                tags,
                ..Stream::default()
            },
        );
    }
}

/// The API's stream for the project's `app` repository: its tags with the
/// digests the registry holds.
fn app_stream(p: &Project) -> Stream {
    let mut app = Stream::default();
    for (repo, tag, d) in &p.tags {
        if repo.ends_with("/app") {
            app.tags.push((tag.clone(), vec![d.clone()]));
        }
    }
    app
}

struct Setup {
    source_api: Api,
    target_api: Api,
    /// The fault proxy in front of the target registry (its request log).
    target: support::proxy::Proxy,
    _dir: tempfile::TempDir,
    plan: PathBuf,
}

fn setup(h: &Harness, p: &Project, project: &str, with_api: bool) -> Setup {
    let source_api = h
        .block_on(Api::start(support::R1_PASS))
        .unwrap_or_else(|e| panic!("{e}"));
    let target_api = h
        .block_on(Api::start(support::R2_PASS))
        .unwrap_or_else(|e| panic!("{e}"));
    streams_of(&source_api, p);
    let target = h.proxy_r2();
    let (dir, plan) = h.temp_plan(PlanOpts {
        images: project,
        options: "format = \"oci\"",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    if with_api {
        let text = std::fs::read_to_string(&plan).expect("plan");
        let text = text
            .replacen(
                "[source]\n",
                &format!("[source]\napi = \"{}\"\n", source_api.url),
                1,
            )
            .replacen(
                "[target]\n",
                &format!("[target]\napi = \"{}\"\n", target_api.url),
                1,
            );
        std::fs::write(&plan, text).expect("plan");
    }
    Setup {
        source_api,
        target_api,
        target,
        _dir: dir,
        plan,
    }
}

fn check_json(plan: &Path) -> (i32, serde_json::Value) {
    let out = cli(&["check", "--format", "json"], plan);
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), v)
}

fn sources(v: &serde_json::Value) -> Vec<String> {
    let mut s: Vec<String> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| i["source"].as_str().unwrap_or("").to_string())
        .collect();
    s.sort();
    s
}

/// The digest the seeded project's `repo:tag` has in the source.
fn seeded(p: &Project, repo: &str, tag: &str) -> String {
    p.tags
        .iter()
        .find(|(r, t, _)| r == repo && t == tag)
        .map(|x| x.2.clone())
        .unwrap_or_else(|| panic!("{repo}:{tag} is not seeded"))
}

fn findings(v: &serde_json::Value, source: &str) -> Vec<(String, String, String)> {
    v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["source"] == source)
        .flat_map(|i| i["findings"].as_array().cloned().unwrap_or_default())
        .map(|f| {
            (
                f["code"].as_str().unwrap_or("").to_string(),
                f["severity"].as_str().unwrap_or("").to_string(),
                f["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_project_found_through_the_api_is_checked_created_and_copied() {
    let h = harness();
    let p = seed(h, "osproj");
    let new_ns = format!("{}-new", p.ns);
    let project = format!(
        "[[projects]]\nsource = \"{ns}\"\ntarget = \"{new_ns}\"\nexclude_repositories = [\"worker\"]\n",
        ns = p.ns
    );
    let s = setup(h, &p, &project, true);
    // Pages of one stream each: discovery follows `continue`.
    s.source_api.set_page_size(1);
    // app:v1 was imported from another registry.
    let mut app = app_stream(&p);
    app.external = vec![("v1".into(), "quay.io/upstream/app:1.0".into())];
    s.source_api.set_stream(&p.ns, "app", app);
    // The target project may hold one more stream; the plan needs two.
    s.target_api.set_quota(&new_ns, 3, 2);
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 1, "quota blocks: {v}");
    let want: Vec<String> = p
        .tags
        .iter()
        .filter(|(r, _, _)| !r.ends_with("/worker"))
        .map(|(r, t, _)| format!("{r}:{t}"))
        .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(sources(&v), want_sorted, "discovered images");
    let app_v1 = findings(&v, &format!("{}/app:v1", p.ns));
    assert!(
        app_v1.iter().any(|(c, s, m)| c == "external-import"
            && s == "info"
            && m.contains("quay.io/upstream/app:1.0")),
        "{app_v1:?}"
    );
    let q = findings(&v, &format!("{}/multi:v1", p.ns));
    assert!(
        q.iter().any(|(c, s, m)| c == "quota-exceeded"
            && s == "blocker"
            && m.contains("may hold 3 image streams and has 2; the plan adds 2")),
        "{q:?}"
    );
    let pages = s
        .source_api
        .log()
        .iter()
        .filter(|(m, pq, _)| m == "GET" && pq.contains("continue="))
        .count();
    assert!(
        pages >= 1,
        "continue was followed: {:?}",
        s.source_api.log()
    );
    // Room for streams, but not for the images.
    s.target_api.set_quota(&new_ns, 20, 2);
    s.target_api.set_image_quota(&new_ns, Some((10, 8)));
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 1, "{v}");
    let q = findings(&v, &format!("{}/app:v2", p.ns));
    assert!(
        q.iter().any(|(c, s, m)| c == "quota-exceeded"
            && s == "blocker"
            && m.contains("may hold 10 images and has 8; the plan adds 5")),
        "{q:?}"
    );
    s.target_api.set_image_quota(&new_ns, None);
    // With room, the run creates the streams first, then copies.
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 0, "{v}");
    let out = cli(&["run", "--no-progress"], &s.plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert_eq!(s.target_api.streams(&new_ns), vec!["app", "multi"]);
    let log = s.target_api.log();
    assert!(
        log.iter()
            .filter(|(m, _, st)| m == "POST" && *st == 201)
            .count()
            == 2,
        "{log:?}"
    );
    for (repo, tag, _) in p.tags.iter().filter(|(r, _, _)| !r.ends_with("/worker")) {
        let target = repo.replacen(&p.ns, &new_ns, 1);
        assert!(
            !h.target_digest(&format!("{target}:{tag}")).is_empty(),
            "{target}:{tag} not copied"
        );
    }
    let again = cli(&["run", "--no-progress"], &s.plan);
    let err = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(
        err.contains(&format!("0 copied, {} already done", want.len())),
        "{err}"
    );
    let st = cli(&["status", "--format", "json"], &s.plan);
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status");
    assert_eq!(st["totals"]["done"], want.len());
}

#[test]
fn external_imports_can_be_skipped() {
    let h = harness();
    let p = seed(h, "osskip");
    let project = format!(
        "[[projects]]\nsource = \"{}\"\nrepositories = [\"app\"]\nexternal_imports = \"skip\"\n",
        p.ns
    );
    let s = setup(h, &p, &project, true);
    let mut app = app_stream(&p);
    app.external = vec![("latest".into(), "docker.io/library/app:latest".into())];
    s.source_api.set_stream(&p.ns, "app", app);
    let (_, v) = check_json(&s.plan);
    let latest = format!("{}/app:latest", p.ns);
    assert_eq!(
        sources(&v),
        vec![
            latest.clone(),
            format!("{}/app:v1", p.ns),
            format!("{}/app:v2", p.ns)
        ]
    );
    let row = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["source"] == latest.as_str())
        .cloned()
        .unwrap_or_default();
    assert_eq!(row["action"], "skip", "the imported tag is left out: {row}");
    assert!(
        findings(&v, &latest)
            .iter()
            .any(|(c, _, m)| c == "external-import" && m.contains("docker.io/library/app:latest")),
        "{v}"
    );
    let out = cli(&["run", "--no-progress"], &s.plan);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(h.target_digest(&latest), "", "not copied");
    assert!(!h.target_digest(&format!("{}/app:v1", p.ns)).is_empty());
}

#[test]
fn external_imports_can_be_referenced_on_the_target() {
    let h = harness();
    let p = seed(h, "osref");
    let project = format!(
        "[[projects]]\nsource = \"{}\"\nrepositories = [\"app\"]\nexternal_imports = \"reference\"\n",
        p.ns
    );
    let s = setup(h, &p, &project, true);
    let mut app = app_stream(&p);
    app.external = vec![("v2".into(), "quay.io/upstream/app:2.0".into())];
    s.source_api.set_stream(&p.ns, "app", app);
    let out = cli(&["run", "--no-progress"], &s.plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("1 imported tags referenced"), "{err}");
    assert_eq!(
        s.target_api.istags(),
        vec![(
            p.ns.clone(),
            "app:v2".to_string(),
            "quay.io/upstream/app:2.0".to_string()
        )]
    );
    assert_eq!(
        h.target_digest(&format!("{}/app:v2", p.ns)),
        "",
        "no bytes copied"
    );
    assert!(!h.target_digest(&format!("{}/app:v1", p.ns)).is_empty());
    assert_eq!(
        s.target_api.streams(&p.ns),
        vec!["app"],
        "stream created first"
    );
}

#[test]
fn a_project_the_token_may_not_read_fails_with_the_apis_reason() {
    let h = harness();
    let p = seed(h, "osdeny");
    let project = format!("[[projects]]\nsource = \"{}\"\n", p.ns);
    let s = setup(h, &p, &project, true);
    s.source_api.deny(&p.ns);
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 1);
    let f = findings(&v, &p.ns);
    assert!(
        f.iter()
            .any(|(c, _, m)| c == "source-error" && m.contains("403") && m.contains("forbidden")),
        "{f:?}"
    );
    // Every request carried the token; without it the API says 401.
    assert!(s.source_api.log().iter().all(|(_, _, st)| *st != 401));
}

#[test]
fn without_an_api_a_project_is_found_through_the_catalog_or_told_to_set_one() {
    let h = harness();
    let p = seed(h, "oscat");
    let project = format!("[[projects]]\nsource = \"{}\"\n", p.ns);
    let s = setup(h, &p, &project, false);
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 0, "{v}");
    let mut want: Vec<String> = p.tags.iter().map(|(r, t, _)| format!("{r}:{t}")).collect();
    want.sort();
    assert_eq!(sources(&v), want);
    // A registry that denies its catalog (as OpenShift does to users).
    let source = h.proxy_r1();
    source.add(
        Some("GET"),
        "/v2/_catalog",
        Fault::Status(401, None),
        usize::MAX,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &project,
        ..Default::default()
    });
    let out = cli(&["run", "--no-progress"], &plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("set [source] api"), "{err}");
}

#[test]
fn history_is_pushed_to_its_tag_oldest_first_with_a_target_api() {
    let h = harness();
    let p = seed(h, "oshist");
    let project = format!(
        "[[projects]]\nsource = \"{}\"\nrepositories = [\"app\"]\ntags = [\"v1\"]\nhistory = 1\n",
        p.ns
    );
    let s = setup(h, &p, &project, true);
    let digest = |tag: &str| {
        p.tags
            .iter()
            .find(|(r, t, _)| r.ends_with("/app") && t == tag)
            .map(|(_, _, d)| d.clone())
            .unwrap_or_default()
    };
    let (v1, earlier) = (digest("v1"), digest("v2"));
    // app:v1 pointed at the v2 image before it pointed at its own.
    s.source_api.set_stream(
        &p.ns,
        "app",
        Stream {
            tags: vec![("v1".into(), vec![v1.clone(), earlier.clone()])],
            ..Stream::default()
        },
    );
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 0, "{v}");
    let app = format!("{}/app", p.ns);
    assert_eq!(
        sources(&v),
        vec![format!("{app}:v1"), format!("{app}@{earlier}")]
    );
    let out = cli(&["run", "--no-progress"], &s.plan);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tags = h.block_on(h.r2.tags(&app));
    assert_eq!(tags, vec!["v1".to_string()], "v1 ends at its current image");
    // With a target API (OKD 4 keeps only pushes to a tag in the stream's
    // history), the earlier image was pushed to v1 first, then the
    // current one: the target stream's history is the source's, in order.
    let puts: Vec<String> = s
        .target
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with(&format!("/{app}/manifests/v1")))
        .map(|r| r.path)
        .collect();
    assert_eq!(puts.len(), 2, "history, then current: {puts:?}");

    let map = cli(&["map", "--format", "json"], &s.plan);
    let rows: serde_json::Value = serde_json::from_slice(&map.stdout).expect("map");
    let row = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["source"] == format!("{}/{app}@{earlier}", h.rahti1.addr))
        .cloned()
        .unwrap_or_else(|| panic!("no history row in {rows}"));
    let target = row["target_digest"].as_str().unwrap_or("").to_string();
    let current = rows
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["source"] == format!("{}/{app}:v1@{v1}", h.rahti1.addr))
        .map(|r| r["target_digest"].as_str().unwrap_or("").to_string())
        .unwrap_or_else(|| panic!("no v1 row in {rows}"));
    assert_eq!(
        h.target_digest(&format!("{app}:v1")),
        current,
        "the current image last"
    );
    assert_ne!(current, target);
    assert!(
        h.block_on(h.r2.get_manifest(&app, &target)).is_some(),
        "the converted history image is in the target by digest"
    );
    let verify = cli(&["verify"], &s.plan);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    // The target stream shows what was pushed to v1: the current image,
    // and the history image before it (as OKD 4 records pushes to a tag).
    s.target_api.set_stream(
        &p.ns,
        "app",
        Stream {
            tags: vec![("v1".into(), vec![current.clone(), target.clone()])],
            ..Stream::default()
        },
    );
    let before = s.target.requests().len();
    let again = cli(&["run", "--no-progress"], &s.plan);
    let err = String::from_utf8_lossy(&again.stderr).to_string();
    assert!(err.contains("0 copied, 2 already done"), "{err}");
    // The re-run neither reorders nor duplicates the history, and the
    // streams confirm both images: no manifest is looked up, the history
    // image included.
    let since: Vec<String> = s.target.requests()[before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        since.iter().all(|r| !r.contains("/manifests/")),
        "the re-run looked up or pushed manifests: {since:?}"
    );
}

/// A cluster API that lists more streams than any project holds (a hostile
/// or broken API paging minimal streams forever) is stopped at a total
/// bound with a clear error for that project.
#[test]
fn a_cluster_api_listing_is_bounded_in_total() {
    let h = harness();
    let p = seed(h, "osbound");
    let s = setup(
        h,
        &p,
        &format!("[[projects]]\nsource = \"{}\"\n", p.ns),
        true,
    );
    for i in 0..=rahti_migrate::openshift::MAX_STREAMS {
        s.source_api
            .set_stream(&p.ns, &format!("s{i}"), Stream::default());
    }
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 1, "{v}");
    let f = findings(&v, &p.ns);
    assert!(
        f.iter().any(|(c, sev, m)| c == "source-error"
            && sev == "blocker"
            && m.contains("more than 10000 image streams")),
        "{f:?}"
    );
}

/// The `app` stream as a real cluster returns it (`oc get is app -o json`
/// on OKD 3.11 and 4): `latest` an alias of `v2` (`oc tag --alias`), `v1`
/// recorded by `oc tag` as a `DockerImage` naming the cluster's own
/// registry, `nginx` imported from Docker Hub with a failed re-import
/// (`items: null` and an `ImportSuccess: False` condition), `ref` a
/// reference-only import, `web` an alias of the import, `gone` an alias of
/// a tag that does not exist; `annotations: null` throughout.
fn real_app_stream(p: &Project, registry: &str) -> serde_json::Value {
    let d = |tag: &str| {
        p.tags
            .iter()
            .find(|(r, t, _)| r.ends_with("/app") && t == tag)
            .map(|(_, _, d)| d.clone())
            .unwrap_or_default()
    };
    let ns = &p.ns;
    let item = |digest: &str, g: u32| {
        serde_json::json!({"created": "2024-05-01T10:00:00Z",
            "dockerImageReference": format!("docker-registry.default.svc:5000/{ns}/app@{digest}"),
            "image": digest, "generation": g})
    };
    serde_json::json!({
        "metadata": {"name": "app", "namespace": ns, "annotations": null,
            "selfLink": format!("/apis/image.openshift.io/v1/namespaces/{ns}/imagestreams/app"),
            "uid": "5c1f8a4e-0b1d-11ef-9f2b-fa163e6c2b44", "resourceVersion": "81234", "generation": 4,
            "creationTimestamp": "2024-05-01T09:58:00Z"},
        "spec": {"lookupPolicy": {"local": false}, "tags": [
            {"name": "latest", "annotations": null, "from": {"kind": "ImageStreamTag", "name": "app:v2"},
             "generation": 3, "importPolicy": {}, "referencePolicy": {"type": "Source"}},
            {"name": "v1", "annotations": null, "from": {"kind": "DockerImage", "name": format!("docker-registry.default.svc:5000/{ns}/app:v1")},
             "generation": 1, "importPolicy": {}, "referencePolicy": {"type": "Source"}},
            {"name": "nginx", "annotations": null, "from": {"kind": "DockerImage", "name": "docker.io/library/nginx:1.25"},
             "generation": 2, "importPolicy": {"scheduled": true, "insecure": true, "importMode": "Legacy"}, "referencePolicy": {"type": "Local"}},
            {"name": "ref", "annotations": null, "from": {"kind": "DockerImage", "name": "quay.io/org/tool:2"},
             "reference": true, "generation": 1, "importPolicy": {}, "referencePolicy": {"type": "Source"}},
            {"name": "web", "annotations": null, "from": {"kind": "ImageStreamTag", "name": "app:nginx"},
             "generation": 2, "importPolicy": {}, "referencePolicy": {"type": "Source"}},
            {"name": "gone", "annotations": null, "from": {"kind": "ImageStreamTag", "name": "app:missing"},
             "generation": 1, "importPolicy": {}, "referencePolicy": {"type": "Source"}}
        ]},
        "status": {
            "dockerImageRepository": format!("docker-registry.default.svc:5000/{ns}/app"),
            "publicDockerImageRepository": format!("{registry}/{ns}/app"),
            "tags": [
                {"tag": "latest", "items": [item(&d("latest"), 3)]},
                {"tag": "v1", "items": [item(&d("v1"), 1)]},
                {"tag": "v2", "items": [item(&d("v2"), 2)]},
                {"tag": "nginx", "items": null, "conditions": [{"type": "ImportSuccess", "status": "False",
                    "lastTransitionTime": "2024-05-02T00:00:00Z", "reason": "InternalError",
                    "message": "Internal error occurred: docker.io/library/nginx:1.25: toomanyrequests: You have reached your pull rate limit.",
                    "generation": 2}]},
                {"tag": "ref", "items": [{"created": "2024-05-01T10:00:00Z", "dockerImageReference": "quay.io/org/tool:2", "image": "", "generation": 1}]},
                {"tag": "gone", "items": null}
            ]
        }
    })
}

/// A real project's odd streams never stop it: a failed import, aliases,
/// the cluster's own registry named as `DockerImage`, a reference-only
/// tag, an empty stream and an unreadable one, read through 3.11-style
/// pages with an expired `continue`. Each kind of tag is migrated as
/// README's table says, in each `external_imports` mode.
#[test]
fn real_image_streams_migrate_each_kind_of_tag_as_openshift_means_it() {
    let h = harness();
    let p = seed(h, "osreal");
    let ns = p.ns.clone();
    for (mode, with_target_api) in [("skip", true), ("reference", true), ("copy", false)] {
        let new_ns = format!("{ns}-{mode}");
        let project = format!(
            "[[projects]]\nsource = \"{ns}\"\ntarget = \"{new_ns}\"\nexternal_imports = \"{mode}\"\n"
        );
        let s = setup(h, &p, &project, true);
        if !with_target_api {
            let text = std::fs::read_to_string(&s.plan)
                .expect("plan")
                .replace(&format!("api = \"{}\"\n", s.target_api.url), "");
            std::fs::write(&s.plan, text).expect("plan");
        }
        s.source_api.set_stream(
            &ns,
            "app",
            Stream {
                raw: Some(real_app_stream(&p, &h.rahti1.addr)),
                ..Stream::default()
            },
        );
        s.source_api.set_stream(&ns, "empty", Stream {
            raw: Some(serde_json::json!({"metadata": {"name": "empty", "namespace": ns, "annotations": null},
                "spec": {"lookupPolicy": {"local": false}}, "status": {"dockerImageRepository": format!("docker-registry.default.svc:5000/{ns}/empty")}})),
            ..Stream::default()
        });
        s.source_api.set_stream(&ns, "broken", Stream {
            raw: Some(serde_json::json!({"metadata": {"name": "broken"}, "spec": {"tags": "not a list"}})),
            ..Stream::default()
        });
        // OKD 3.11's lists in two modes, OKD 4's in the third.
        if mode != "copy" {
            s.source_api.serve_v1_lists();
        }
        s.source_api.set_page_size(2);
        s.source_api.expire_continue_once();
        let (code, v) = check_json(&s.plan);
        assert_eq!(code, 0, "{mode}: nothing blocks: {v}");
        let of = |tag: &str| findings(&v, &format!("{ns}/app:{tag}"));
        let has = |tag: &str, code: &str| of(tag).iter().any(|(c, _, _)| c == code);
        assert!(
            has("nginx", "import-failed")
                && of("nginx")
                    .iter()
                    .any(|(_, _, m)| m.contains("toomanyrequests")),
            "{mode}: {:?}",
            of("nginx")
        );
        assert!(has("gone", "alias-missing"), "{mode}: {:?}", of("gone"));
        assert!(has("ref", "reference-only"), "{mode}: {:?}", of("ref"));
        assert!(findings(&v, &format!("{ns}/broken"))
            .iter()
            .any(|(c, s, _)| c == "stream-unreadable" && s == "warning"));
        match with_target_api {
            true => assert!(
                has("latest", "alias-recreated"),
                "{mode}: {:?}",
                of("latest")
            ),
            false => assert!(
                has("latest", "alias-flattened"),
                "{mode}: {:?}",
                of("latest")
            ),
        }
        assert!(
            !has("v1", "external-import"),
            "{mode}: the cluster's own registry is no import: {:?}",
            of("v1")
        );
        let out = cli(&["run", "--no-progress"], &s.plan);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(0), "{mode}: {err}");
        let target = |tag: &str| h.target_digest(&format!("{new_ns}/app:{tag}"));
        // Own images copied in every mode, the own-registry DockerImage
        // tag among them.
        for tag in ["v1", "v2"] {
            assert!(
                !target(tag).is_empty(),
                "{mode}: app:{tag} not copied: {err}"
            );
        }
        for tag in ["nginx", "ref", "web", "gone"] {
            assert!(
                target(tag).is_empty(),
                "{mode}: app:{tag} has no bytes to copy"
            );
        }
        let specs = s.target_api.istag_specs();
        let spec = |name: &str| {
            specs
                .iter()
                .find(|(n, t, _)| *n == new_ns && t == &format!("app:{name}"))
                .map(|(_, _, v)| v.clone())
        };
        match mode {
            "skip" => {
                assert!(
                    target("latest").is_empty(),
                    "an alias is recreated, not copied"
                );
                let latest = spec("latest").expect("alias created");
                assert_eq!(
                    latest["from"],
                    serde_json::json!({"kind": "ImageStreamTag", "name": "app:v2"})
                );
                assert!(
                    spec("nginx").is_none() && spec("web").is_none(),
                    "{specs:?}"
                );
                assert!(err.contains("1 aliases recreated"), "{err}");
            }
            "reference" => {
                let nginx = spec("nginx").expect("import recreated");
                assert_eq!(nginx["from"]["name"], "docker.io/library/nginx:1.25");
                assert_eq!(
                    nginx["importPolicy"],
                    serde_json::json!({"scheduled": true, "insecure": true, "importMode": "Legacy"})
                );
                assert_eq!(nginx["referencePolicy"]["type"], "Local");
                let r = spec("ref").expect("reference-only recreated");
                assert_eq!(r["reference"], true);
                assert_eq!(
                    spec("web").expect("alias of the import")["from"]["name"],
                    "app:nginx"
                );
            }
            _ => {
                // No target API: the alias is copied as an image of its own.
                assert_eq!(target("latest"), target("v2"));
            }
        }
        if with_target_api {
            assert!(
                s.target_api.streams(&new_ns).contains(&"empty".to_string()),
                "the empty stream is created"
            );
        }
        assert!(
            s.source_api.log().iter().any(|(_, _, st)| *st == 410),
            "the expired continue was met"
        );
    }
}

/// A target stream in the same odd shape (`items: null`) does not hide the
/// target's quota, and a project with no streams is a warning naming it.
#[test]
fn target_streams_with_null_items_keep_the_quota_check_and_an_empty_project_is_named() {
    let h = harness();
    let p = seed(h, "osnull");
    let new_ns = format!("{}-new", p.ns);
    let s = setup(
        h,
        &p,
        &format!("[[projects]]\nsource = \"{}\"\ntarget = \"{new_ns}\"\n[[projects]]\nsource = \"{}-none\"\n", p.ns, p.ns),
        true,
    );
    s.target_api.set_stream(&new_ns, "old", Stream {
        raw: Some(serde_json::json!({"metadata": {"name": "old", "annotations": null},
            "spec": {"tags": [{"name": "x", "from": {"kind": "DockerImage", "name": "quay.io/a/b:1"}, "annotations": null}]},
            "status": {"tags": [{"tag": "x", "items": null}]}})),
        ..Stream::default()
    });
    s.target_api.set_quota(&new_ns, 2, 1);
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 1, "the quota blocks: {v}");
    let all: Vec<(String, String, String)> = sources(&v)
        .iter()
        .flat_map(|src| findings(&v, src))
        .collect();
    assert!(
        all.iter()
            .any(|(c, s, _)| c == "quota-exceeded" && s == "blocker"),
        "{all:?}"
    );
    let none = findings(&v, &format!("{}-none", p.ns));
    let api_url = s.source_api.url.clone();
    assert!(
        none.iter()
            .any(|(c, sev, m)| c == "no-streams" && sev == "warning" && m.contains(&api_url)),
        "{none:?}"
    );
}

/// `[[projects]] source = "*"`: every project the user can see, through
/// the API's project list, each to a target project of the same name with
/// a prefix, the excluded ones left out; `check` names a target project
/// that does not exist.
#[test]
fn every_project_the_user_can_see_is_discovered() {
    let h = harness();
    let p = seed(h, "osall");
    let s = setup(
        h,
        &p,
        "[[projects]]\nsource = \"*\"\nexclude = [\"other-*\"]\ntarget_prefix = \"r2-\"\n",
        true,
    );
    s.source_api.add_project("other-team");
    s.source_api.set_stream("other-team", "x", app_stream(&p));
    let target_ns = format!("r2-{}", p.ns);
    s.target_api.set_missing(&target_ns);
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 1, "the missing target project blocks: {v}");
    let srcs = sources(&v);
    assert!(
        srcs.iter()
            .all(|src| src.starts_with(&format!("{}/", p.ns))),
        "{srcs:?}"
    );
    assert_eq!(srcs.len(), p.tags.len(), "{srcs:?}");
    let f = findings(&v, &format!("{}/app:v1", p.ns));
    assert!(
        f.iter().any(|(c, sev, m)| c == "target-project-missing"
            && sev == "blocker"
            && m.contains(&target_ns)),
        "{f:?}"
    );
    let targets: Vec<&str> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["target"].as_str())
        .collect();
    assert!(
        targets
            .iter()
            .all(|t| t.starts_with(&format!("{target_ns}/"))),
        "{targets:?}"
    );
}

/// The API caps a page by items, not bytes: pages of big streams that
/// would pass the 8 MiB body cap are asked for again with fewer items, and
/// every stream is found.
#[test]
fn pages_over_the_byte_cap_are_read_with_fewer_items() {
    let h = harness();
    let p = seed(h, "osbig");
    let s = setup(
        h,
        &p,
        &format!("[[projects]]\nsource = \"{}\"\n", p.ns),
        true,
    );
    let pad = "x".repeat(3 << 20);
    for i in 0..4 {
        s.source_api.set_stream(
            &p.ns,
            &format!("big{i}"),
            Stream {
                raw: Some(serde_json::json!({"metadata": {"name": format!("big{i}"),
                "annotations": {"openshift.io/image.dockerRepositoryCheck": pad}},
                "spec": {"tags": null}, "status": {"tags": null}})),
                ..Stream::default()
            },
        );
    }
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        sources(&v).iter().filter(|s| !s.contains("/big")).count(),
        p.tags.len()
    );
    for i in 0..4 {
        let f = findings(&v, &format!("{}/big{i}", p.ns));
        assert!(
            f.iter().any(|(c, _, _)| c == "empty-stream"),
            "big{i}: {f:?}"
        );
    }
    let limits: Vec<String> = s
        .source_api
        .log()
        .iter()
        .filter_map(|(_, pq, _)| {
            pq.split("limit=")
                .nth(1)
                .map(|l| l.split('&').next().unwrap_or("").to_string())
        })
        .collect();
    assert!(
        limits.iter().any(|l| l == "200")
            && limits
                .iter()
                .any(|l| l.parse::<usize>().is_ok_and(|n| n < 4)),
        "{limits:?}"
    );
}

/// The requests a proxy saw after the first `from`.
fn since(proxy: &support::proxy::Proxy, from: usize) -> Vec<support::proxy::Seen> {
    proxy.requests().into_iter().skip(from).collect()
}

fn manifest_requests(seen: &[support::proxy::Seen]) -> usize {
    seen.iter()
        .filter(|r| r.path.contains("/manifests/"))
        .count()
}

fn run_stderr(plan: &Path) -> String {
    let out = cli(&["run", "--no-progress"], plan);
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{e}");
    e
}

/// A re-sync of an unchanged project through the cluster API: every tag's
/// digest comes from its image stream, so neither registry is asked for a
/// manifest; without a target API, one tag listing per target repository
/// confirms the tags. `check` takes the same shortcut. A tag moved in the
/// source (its stream shows another digest) is copied, and only it.
#[test]
fn an_unchanged_project_resyncs_with_requests_per_repository() {
    let h = harness();
    let p = seed(h, "resync");
    let source = h.proxy_r1();
    let target = h.proxy_r2();
    let api = h
        .block_on(Api::start(support::R1_PASS))
        .unwrap_or_else(|e| panic!("{e}"));
    streams_of(&api, &p);
    let project = format!("[[projects]]\nsource = \"{}\"\n", p.ns);
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &project,
        options: "format = \"oci\"",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    let text = std::fs::read_to_string(&plan).expect("plan");
    let text = text.replacen(
        "[source]\n",
        &format!("[source]\napi = \"{}\"\n", api.url),
        1,
    );
    std::fs::write(&plan, text).expect("plan");
    let first = run_stderr(&plan);
    assert!(
        first.contains(&format!("{} copied", p.tags.len())),
        "{first}"
    );

    let (s0, t0) = (source.requests().len(), target.requests().len());
    let again = run_stderr(&plan);
    assert!(
        again.contains(&format!("0 copied, {} already done", p.tags.len())),
        "{again}"
    );
    let (s, t) = (since(&source, s0), since(&target, t0));
    assert_eq!(
        manifest_requests(&s),
        0,
        "source manifests read: {:?}",
        s.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    assert_eq!(manifest_requests(&t), 0, "target manifests looked up");
    // The streams give the source's tags: its registry lists none.
    assert_eq!(
        s.iter().filter(|r| r.path.ends_with("/tags/list")).count(),
        0,
        "source tag listings"
    );
    let repos: std::collections::BTreeSet<&str> =
        p.tags.iter().map(|(r, _, _)| r.as_str()).collect();
    let listings = t.iter().filter(|r| r.path.ends_with("/tags/list")).count();
    assert_eq!(
        listings,
        repos.len(),
        "one tag listing per target repository"
    );
    // Sign-in only besides: far below one request per tag.
    assert!(
        s.len() + t.len() <= repos.len() + 8,
        "{} requests for {} tags",
        s.len() + t.len(),
        p.tags.len()
    );

    // `check` says the same without reading manifests.
    let (s0, t0) = (source.requests().len(), target.requests().len());
    let out = cli(&["check", "--format", "json"], &plan);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check json");
    let actions: Vec<&str> = v["images"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert!(
        actions.len() == p.tags.len() && actions.iter().all(|a| *a == "done"),
        "{actions:?}"
    );
    assert_eq!(
        manifest_requests(&since(&source, s0)) + manifest_requests(&since(&target, t0)),
        0
    );

    // app:v2 moves to v1's image in the source, and its stream says so.
    let app = format!("{}/app", p.ns);
    let v1 = seeded(&p, &app, "v1");
    h.block_on(async {
        let m = h.r1.get_manifest(&app, "v1").await.expect("v1");
        h.r1.manifest(&app, "v2", &m.content_type, &m.body)
            .await
            .expect("move v2");
    });
    let mut stream = app_stream(&p);
    for (tag, digests) in &mut stream.tags {
        if tag == "v2" {
            *digests = vec![v1.clone()];
        }
    }
    api.set_stream(&p.ns, "app", stream);
    let s0 = source.requests().len();
    let moved = run_stderr(&plan);
    assert!(
        moved.contains(&format!("1 copied, {} already done", p.tags.len() - 1)),
        "{moved}"
    );
    let read: Vec<String> = since(&source, s0)
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| r.path)
        .collect();
    assert!(
        !read.is_empty() && read.iter().all(|p| p.ends_with("/manifests/v2")),
        "{read:?}"
    );
    assert_eq!(
        h.target_digest(&format!("{app}:v2")),
        h.target_digest(&format!("{app}:v1"))
    );
}

/// With a target API, the target's image streams confirm what was pushed:
/// no tag listing at all. A target stream whose tag shows another digest
/// sends that tag down the normal path (its target tag looked up).
#[test]
fn a_target_api_confirms_pushed_tags_from_its_image_streams() {
    let h = harness();
    let p = seed(h, "resynct");
    let project = format!("[[projects]]\nsource = \"{}\"\n", p.ns);
    let s = setup(h, &p, &project, true);
    run_stderr(&s.plan);
    // What OpenShift does on a push: the target stream's tag points at
    // the pushed image.
    let mut by_repo: std::collections::BTreeMap<String, Vec<(String, Vec<String>)>> =
        Default::default();
    for (repo, tag, _) in &p.tags {
        let d = h.target_digest(&format!("{repo}:{tag}"));
        by_repo
            .entry(repo.clone())
            .or_default()
            .push((tag.clone(), vec![d]));
    }
    let set = |by_repo: &std::collections::BTreeMap<String, Vec<(String, Vec<String>)>>| {
        for (repo, tags) in by_repo {
            let name = repo.rsplit('/').next().unwrap_or(repo);
            s.target_api.set_stream(
                &p.ns,
                name,
                Stream {
                    tags: tags.clone(),
                    ..Stream::default()
                },
            );
        }
    };
    set(&by_repo);
    let t0 = s.target.requests().len();
    let again = run_stderr(&s.plan);
    assert!(
        again.contains(&format!("0 copied, {} already done", p.tags.len())),
        "{again}"
    );
    let t = since(&s.target, t0);
    assert_eq!(manifest_requests(&t), 0, "target manifests looked up");
    assert_eq!(
        t.iter().filter(|r| r.path.ends_with("/tags/list")).count(),
        0,
        "no listing"
    );
    // One tag's stream disagrees: that tag alone is looked up.
    let app = format!("{}/app", p.ns);
    if let Some(tags) = by_repo.get_mut(&app) {
        for (tag, d) in tags.iter_mut() {
            if tag == "v1" {
                *d = vec![format!("sha256:{}", "0".repeat(64))];
            }
        }
    }
    set(&by_repo);
    let t0 = s.target.requests().len();
    let third = run_stderr(&s.plan);
    assert!(
        third.contains(&format!("0 copied, {} already done", p.tags.len())),
        "{third}"
    );
    let looked: Vec<String> = since(&s.target, t0)
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .map(|r| r.path)
        .collect();
    assert!(
        !looked.is_empty()
            && looked
                .iter()
                .all(|p| p.ends_with(&format!("{}/manifests/v1", "app"))),
        "{looked:?}"
    );
}

/// A stream whose status holds names that are no tags (a hostile or broken
/// cluster): through the API the source's tag list is not read, so the
/// streams' names are judged as a tag list's are. Selected, they fail the
/// repository once, escaped; filtered out, they are a warning.
#[test]
fn invalid_names_in_a_stream_are_reported_as_a_tag_lists_would_be() {
    let h = harness();
    let p = seed(h, "osbad");
    let app = format!("{}/app", p.ns);
    let v1 = seeded(&p, &app, "v1");
    let item = |d: &str| {
        serde_json::json!([{"created": "2026-01-01T00:00:00Z", "image": d,
        "dockerImageReference": format!("docker-registry.default.svc:5000/{app}@{d}"), "generation": 1}])
    };
    let s = setup(
        h,
        &p,
        &format!(
            "[[projects]]\nsource = \"{}\"\nrepositories = [\"app\"]\ntags = [\"v*\"]\n",
            p.ns
        ),
        true,
    );
    s.source_api.set_stream(
        &p.ns,
        "app",
        Stream {
            raw: Some(serde_json::json!({"metadata": {"name": "app"},
            "spec": {"tags": null},
            "status": {"tags": [
                {"tag": "v1", "items": item(&v1)},
                {"tag": "bad\u{202e}name", "items": item(&v1)},
                {"tag": "../x", "items": item(&v1)}]}})),
            ..Stream::default()
        },
    );
    // Filtered out by `v*`: a warning, and v1 is planned.
    let (code, v) = check_json(&s.plan);
    assert_eq!(code, 0, "{v}");
    assert!(sources(&v).contains(&format!("{app}:v1")), "{v}");
    let warned: Vec<(String, String, String)> = sources(&v)
        .iter()
        .flat_map(|src| findings(&v, src))
        .filter(|(c, _, _)| c == "invalid-tag-name")
        .collect();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].1, "warning");

    // Selected by `*`: the repository fails once, naming both, escaped.
    let text = std::fs::read_to_string(&s.plan).expect("plan");
    std::fs::write(&s.plan, text.replace("tags = [\"v*\"]", "tags = [\"*\"]")).expect("plan");
    let out = cli(&["run", "--no-progress"], &s.plan);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 names that are not valid tags"), "{err}");
    assert!(
        !err.contains('\u{202e}'),
        "a bidi control reached the terminal: {err}"
    );
    assert_eq!(err.matches("FAILED").count(), 1, "{err}");
}
