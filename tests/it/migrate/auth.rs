//! Authentication: expiring tokens, wrong passwords, redirects that must not carry credentials, anonymous and Basic registries.

use super::*;

#[test]
fn an_expired_token_is_renewed_by_running_password_command_again() {
    let h = harness();
    let p = seed(h, "expire");
    let proxy = h.proxy_r1();
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", p.layer["app2"]),
        Fault::ExpireTokens,
        1,
    );
    let dir = tempfile::tempdir().expect("tmp");
    let counter = dir.path().join("calls");
    let script = dir.path().join("token.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho x >> '{}'\necho '{}'\n",
            counter.display(),
            support::R1_PASS
        ),
    )
    .expect("script");
    let auth = format!("password_command = [\"sh\", \"{}\"]", script.display());
    let imgs = images_toml(&p);
    let plan = h.plan(
        dir.path(),
        PlanOpts {
            source_addr: Some(&proxy.addr),
            source_auth: Some(&auth),
            images: &imgs,
            options: "format = \"preserve\"\nconcurrency = 1",
            ..Default::default()
        },
    );
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert!(
        proxy.hits("GET", &p.layer["app2"]).contains(&401),
        "the fault did not fire"
    );
    let calls = std::fs::read_to_string(&counter)
        .unwrap_or_default()
        .lines()
        .count();
    assert_eq!(
        calls, 2,
        "password_command should run once at start and once after expiry"
    );
}

#[test]
fn wrong_credentials_fail_with_a_clear_error_and_no_secret() {
    let h = harness();
    let repo = h.unique("creds/app");
    let l = vec![layer(7007, 1000)];
    h.block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let imgs = format!("[[images]]\nsource = \"{repo}\"\n");
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_password: Some("not-the-password"),
        images: &imgs,
        options: "format = \"preserve\"",
        ..Default::default()
    });
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("authentication") && err.contains("HTTP 401"),
        "{err}"
    );
    assert!(!err.contains("not-the-password"), "{err}");
}

#[test]
fn blob_redirects_are_followed_without_sending_credentials_elsewhere() {
    let h = harness();
    let repo = h.unique("redirect/app");
    let l = vec![layer(8118, 20_000)];
    let (d, ds) = h
        .block_on(h.r1.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let proxy = h.proxy_r1();
    // Blob reads are sent to "localhost", another host name for the client.
    proxy.add(
        Some("GET"),
        &format!("/blobs/{}", ds[0]),
        Fault::RedirectTo("localhost".into()),
        1,
    );
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&proxy.addr),
        images: &format!("[[images]]\nsource = \"{repo}\"\n"),
        options: "format = \"preserve\"",
        ..Default::default()
    });
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_eq!(
        h.block_on(h.r2.get_manifest(&repo, "v1")).map(|g| g.digest),
        Some(d)
    );
    assert_eq!(
        proxy.redirected_auth(),
        vec![None],
        "the redirect was followed once, without credentials"
    );
}

#[test]
fn anonymous_source_and_basic_auth_target() {
    let h = harness();
    let guard = h.extra();
    let Some(extra) = guard.as_ref() else {
        panic!("extra registries")
    };
    let open = support::fixtures::Pusher {
        base: extra.open.base_url(),
        ..h.r1.clone()
    };
    let basic = support::fixtures::Pusher {
        base: extra.basic.base_url(),
        ..h.r1.clone()
    };
    let repo = h.unique("plain/app");
    let l = vec![layer(8228, 3000)];
    let (d, _) = h
        .block_on(open.image(&repo, "v1", &l, config("amd64", &l)))
        .expect("push");
    let dir = tempfile::tempdir().expect("tmp");
    let write_plan = |password: &str| {
        std::fs::write(dir.path().join("basic.pass"), password).expect("pass");
        let text = format!(
            "version = 1\n[source]\nregistry = \"{}\"\ninsecure = true\n[target]\nregistry = \"{}\"\ninsecure = true\nusername = \"{}\"\npassword_file = \"basic.pass\"\n[options]\nformat = \"preserve\"\nretries = 1\n[[images]]\nsource = \"{repo}\"\n",
            extra.open.addr, extra.basic.addr, support::BASIC_USER
        );
        let p = dir.path().join("plan.toml");
        std::fs::write(&p, text).expect("plan");
        p
    };
    let out = cli(&["run", "--no-progress"], write_plan("wrong-password"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("401") && !err.contains("wrong-password"),
        "{err}"
    );
    let s = run_lib(h, &write_plan(support::BASIC_PASS));
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    // The Basic-auth registry serves it back with the same digest.
    let got = h.block_on(async {
        let r = basic
            .http
            .get(format!("{}/v2/{repo}/manifests/v1", basic.base))
            .basic_auth(support::BASIC_USER, Some(support::BASIC_PASS))
            .header("accept", support::fixtures::ACCEPT)
            .send()
            .await
            .expect("get");
        r.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    assert_eq!(got, Some(d));
}

/// With no password in the plan, `credHelpers` in the Docker config names
/// a `docker-credential-<name>` program on PATH: it is asked for the
/// source's credentials (the host on stdin) and the migration runs with
/// them; the secret it prints reaches no output, even at trace level.
#[cfg(unix)]
#[test]
fn a_credential_helper_on_path_supplies_the_source_password() {
    use std::os::unix::fs::PermissionsExt as _;
    let h = harness();
    let p = seed(h, "helper");
    let dir = tempfile::tempdir().expect("tmp");
    let bin_dir = dir.path().join("bin");
    let docker = dir.path().join("docker");
    std::fs::create_dir_all(&bin_dir).expect("bin");
    std::fs::create_dir_all(&docker).expect("docker");
    let asked = dir.path().join("asked");
    let helper = bin_dir.join("docker-credential-rahti-test");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread host\necho \"$1 $host\" >> '{}'\nprintf '{{\"Username\":\"{}\",\"Secret\":\"{}\"}}'\n",
            asked.display(),
            support::R1_USER,
            support::R1_PASS
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{}},"credHelpers":{{"{}":"rahti-test"}}}}"#,
            h.rahti1.addr
        ),
    )
    .expect("config");
    let imgs = images_toml(&p);
    let plan = h.plan(
        dir.path(),
        PlanOpts {
            source_auth: Some(""),
            images: &imgs,
            options: "format = \"preserve\"",
            ..Default::default()
        },
    );
    // Nothing of the user's own configuration may interfere.
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = bin()
        .args(["run", "--no-progress"])
        .arg(&plan)
        .env("PATH", path)
        .env("DOCKER_CONFIG", &docker)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .env("RAHTI_MIGRATE_LOG", "trace")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_migrated(h, &p);
    let asked = std::fs::read_to_string(&asked).unwrap_or_default();
    assert_eq!(
        asked.trim(),
        format!("get {}", h.rahti1.addr),
        "asked once, for the source host"
    );
    assert_no_secrets(&stderr);
    assert_no_secrets(&String::from_utf8_lossy(&out.stdout));
}
