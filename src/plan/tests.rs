//! Unit tests of plan validation: every problem named with file, line and key.

use super::*;

fn parse(text: &str) -> Result<Plan, PlanError> {
    Plan::parse(Path::new("/nonexistent/dir/plan.toml"), text)
}

const GOOD: &str = r#"
version = 1
[source]
registry = "docker-registry.rahti.csc.fi"
password_command = ["oc", "whoami", "-t"]
[target]
registry = "image-registry.apps.2.rahti.csc.fi"
[options]
format = "preserve"
concurrency = 4
[[images]]
source = "proj/app"
tags = ["v1.*", "latest"]
exclude_tags = ["*-tmp"]
[[images]]
source = "proj/db"
target = "other/db"
"#;

#[test]
fn good_plan_parses() {
    let p = parse(GOOD).expect("valid plan");
    assert_eq!(p.options.concurrency, 4);
    assert_eq!(p.options.retries, 5);
    assert_eq!(
        p.options.journal,
        Path::new("/nonexistent/dir/plan.journal")
    );
    assert_eq!(p.images[0].target, "proj/app");
    assert_eq!(p.images[1].target, "other/db");
    assert!(p.images[0].wants_tag("v1.2"));
    assert!(p.images[0].wants_tag("latest"));
    assert!(!p.images[0].wants_tag("v1.2-tmp"));
    assert!(!p.images[0].wants_tag("v2"));
    assert!(p.images[1].wants_tag("anything"));
    assert_eq!(
        p.source.credentials.password,
        PasswordSource::Command(vec!["oc".into(), "whoami".into(), "-t".into()])
    );
}

fn problems(text: &str) -> String {
    match parse(text) {
        Ok(_) => String::from("<no error>"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_key_names_line_and_key() {
    let e = problems(&GOOD.replace("concurrency = 4", "concurency = 4"));
    assert!(e.contains("plan.toml:10:"), "{e}");
    assert!(e.contains("concurency"), "{e}");
}

#[test]
fn collects_every_problem() {
    let text = GOOD
        .replace("format = \"preserve\"", "format = \"zip\"")
        .replace("concurrency = 4", "concurrency = 0")
        .replace("source = \"proj/db\"", "source = \"Proj/DB:latest\"")
        .replace("tags = [\"v1.*\", \"latest\"]", "tags = [\"v1.[\"]");
    let e = problems(&text);
    assert!(e.contains("4 problems"), "{e}");
    assert!(
        e.contains(":9: options.format: unknown format \"zip\""),
        "{e}"
    );
    assert!(e.contains(":10: options.concurrency"), "{e}");
    assert!(e.contains("images[1].source"), "{e}");
    assert!(e.contains("images[0].tags: invalid glob"), "{e}");
}

#[test]
fn two_password_sources_and_missing_file() {
    let text = GOOD.replace(
        "password_command = [\"oc\", \"whoami\", \"-t\"]",
        "password_command = [\"oc\"]\npassword_file = \"nope.txt\"",
    );
    let e = problems(&text);
    assert!(
        e.contains("source.password_file: file /nonexistent/dir/nope.txt does not exist"),
        "{e}"
    );
    assert!(
        e.contains("only one password source is allowed, found password_file and password_command"),
        "{e}"
    );
}

#[test]
fn registry_with_scheme_is_refused() {
    let e = problems(&GOOD.replace("\"docker-registry.rahti.csc.fi\"", "\"https://x/y\""));
    assert!(e.contains(":4: source.registry"), "{e}");
}

#[test]
fn platforms_and_sizes() {
    let text = GOOD.replace(
        "concurrency = 4",
        "concurrency = 4\nplatforms = [\"linux/amd64\", \"linux/arm64/v8\"]",
    ).replace(
        "registry = \"image-registry.apps.2.rahti.csc.fi\"",
        "registry = \"image-registry.apps.2.rahti.csc.fi\"\nmax_image_size = \"5GiB\"\nmax_repositories_per_project = 20",
    );
    let p = parse(&text).expect("valid");
    assert_eq!(p.limits.max_image_size, Some(5 << 30));
    assert_eq!(p.limits.max_repositories_per_project, Some(20));
    let arm = crate::oci::Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        variant: Some("v8".into()),
    };
    let s390 = crate::oci::Platform {
        architecture: "s390x".into(),
        os: "linux".into(),
        variant: None,
    };
    assert!(p.images[0].platforms.wants(Some(&arm)));
    assert!(!p.images[0].platforms.wants(Some(&s390)));
    let e = problems(&GOOD.replace("concurrency = 4", "platforms = [\"all\", \"linux\"]"));
    assert!(e.contains("options.platforms"), "{e}");
}

#[test]
fn no_images_is_an_error() {
    let head = GOOD.split("[[images]]").next().unwrap_or("");
    assert!(problems(head).contains("lists no [[images]]"));
}

#[test]
fn registry_with_userinfo_is_refused_without_echoing_it() {
    let text = GOOD.replacen("registry = \"", "registry = \"me:s3cret-pw@", 1);
    let e = problems(&text);
    assert!(e.contains("must not hold a user name or password"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
}

#[test]
fn transfer_options_have_defaults_and_are_checked() {
    let p = parse(GOOD).expect("valid plan");
    assert_eq!(p.options.chunk_size, DEFAULT_CHUNK_SIZE);
    assert_eq!(
        p.options.transfer,
        crate::registry::TransferLimits::default()
    );
    let set = GOOD.replace(
        "concurrency = 4",
        "concurrency = 4\nstall_timeout = 5\nmin_rate = \"10KB\"\nchunk_size = \"1MiB\"",
    );
    let p = parse(&set).expect("valid plan");
    assert_eq!(p.options.chunk_size, 1 << 20);
    assert_eq!(p.options.transfer.min_rate, 10_000);
    assert_eq!(p.options.transfer.window, std::time::Duration::from_secs(5));
    let bad = GOOD.replace(
        "concurrency = 4",
        "concurrency = 4\nstall_timeout = 0\nmin_rate = \"fast\"\nchunk_size = 0",
    );
    let e = parse(&bad).err().map(|e| e.to_string()).unwrap_or_default();
    for key in [
        "options.stall_timeout",
        "options.min_rate",
        "options.chunk_size",
    ] {
        assert!(e.contains(key), "{key} not named in: {e}");
    }
}

#[test]
fn projects_and_apis_are_validated() {
    let base = r#"version = 1
[source]
registry = "docker-registry.rahti.csc.fi"
api = "https://rahti.csc.fi:8443"
[target]
registry = "image-registry.apps.2.rahti.csc.fi"
api = "https://api.2.rahti.csc.fi:6443"
[[projects]]
source = "myproject"
exclude_repositories = ["tmp-*"]
"#;
    let p = parse(base).expect("valid plan");
    assert_eq!(p.projects.len(), 1);
    assert_eq!(p.projects[0].target, "myproject");
    assert!(p.projects[0].wants_repository("app"));
    assert!(!p.projects[0].wants_repository("tmp-1"));
    assert_eq!(
        p.source_api.as_ref().map(|a| a.url.as_str()),
        Some("https://rahti.csc.fi:8443")
    );
    assert_eq!(
        p.source_aliases,
        vec![crate::plan::RAHTI1_SERVICE.to_string()]
    );
    assert!(p.options.create_image_streams);
    let bad = base
        .replace("https://rahti.csc.fi:8443", "http://rahti.csc.fi:8443")
        // "reference" needs a target API.
        .replace("api = \"https://api.2.rahti.csc.fi:6443\"\n", "")
        .replace(
            "source = \"myproject\"",
            "source = \"my/project\"\nhistory = 2\nexternal_imports = \"reference\"",
        );
    let e = parse(&bad).err().map(|e| e.to_string()).unwrap_or_default();
    for key in [
        "source.api",
        "projects[0].source",
        "projects[0].history",
        "projects[0].external_imports",
    ] {
        assert!(e.contains(key), "{key} not named in: {e}");
    }
}

#[test]
fn an_api_may_have_its_own_token() {
    let text = r#"version = 1
[source]
registry = "docker-registry.rahti.csc.fi"
password_env = "RAHTI1_TOKEN"
api = "https://rahti.csc.fi:8443"
api_password_command = ["oc", "whoami", "-t"]
[target]
registry = "image-registry.apps.2.rahti.csc.fi"
[[projects]]
source = "p"
"#;
    let p = parse(text).expect("valid plan");
    assert_eq!(
        p.source_api.and_then(|a| a.password),
        Some(PasswordSource::Command(vec![
            "oc".into(),
            "whoami".into(),
            "-t".into()
        ]))
    );
    let two = text.replace(
        "api_password_command",
        "api_password_env = \"X\"\napi_password_command",
    );
    let e = parse(&two).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        e.contains("source.api_password_command") && e.contains("only one"),
        "{e}"
    );
}

#[test]
fn request_limits_are_per_registry_and_bounded() {
    let text = GOOD.replace(
        "registry = \"image-registry.apps.2.rahti.csc.fi\"",
        "registry = \"image-registry.apps.2.rahti.csc.fi\"\nmax_requests = 4\nrequests_per_second = 20",
    );
    let p = parse(&text).expect("valid plan");
    assert_eq!(p.target.requests.max_requests, Some(4));
    assert_eq!(p.target.requests.requests_per_second, Some(20.0));
    assert_eq!(p.source.requests, crate::registry::RequestLimits::default());
    let bad = GOOD.replace(
        "registry = \"image-registry.apps.2.rahti.csc.fi\"",
        "registry = \"image-registry.apps.2.rahti.csc.fi\"\nmax_requests = 0",
    );
    let e = parse(&bad).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("target.max_requests"), "{e}");
}

#[test]
fn produces_only_the_copies_the_plan_makes() {
    let text = format!("{GOOD}[[projects]]\nsource = \"ns\"\ntarget = \"ns-new\"\nexclude_repositories = [\"skip\"]\n");
    let p = parse(&text).expect("valid plan");
    let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert!(p.produces("proj/app:v1", "proj/app:v1"));
    assert!(p.produces("proj/db:x", "other/db:x"));
    assert!(p.produces("ns/web:v1", "ns-new/web:v1"));
    assert!(p.produces(&format!("ns/web@{d}"), &format!("ns-new/web@{d}")));
    for (s, t) in [
        ("proj/db:x", "proj/db:x"),
        ("proj/app:v1", "proj/app:v2"),
        ("ns/skip:v1", "ns-new/skip:v1"),
        ("ns/web:v1", "elsewhere/web:v1"),
        ("other/app:v1", "other/app:v1"),
        ("proj/app", "proj/app"),
    ] {
        assert!(!p.produces(s, t), "{s} -> {t}");
    }
}

/// Every key `migration.toml.example` (what `init` prints) shows, set or
/// commented out, is documented in `docs/plan.md`; the example parses.
#[test]
fn every_key_of_the_example_is_in_docs_plan_md() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("migration.toml.example")).unwrap_or_default();
    let docs = std::fs::read_to_string(root.join("docs/plan.md")).unwrap_or_default();
    let mut keys: Vec<&str> = example
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches('#').trim_start();
            let (k, _) = l.split_once('=')?;
            let k = k.trim();
            (!k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')).then_some(k)
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert!(keys.len() > 20, "{keys:?}");
    let missing: Vec<&&str> = keys
        .iter()
        .filter(|k| {
            ![format!("`{k}`"), format!("] {k}`"), format!("`{k} ")]
                .iter()
                .any(|p| docs.contains(p.as_str()))
        })
        .collect();
    assert!(missing.is_empty(), "not in docs/plan.md: {missing:?}");
    Plan::parse(&root.join("migration.toml.example"), &example).unwrap_or_else(|e| panic!("{e}"));
}
