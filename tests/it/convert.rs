//! Format conversion against the oracle: for every image of the corpus,
//! `format = "oci"` (resp. `"docker"`) must push the digest that
//! `skopeo copy --all -f oci` (resp. `-f v2s2`) pushes from the same source.

use crate::support;

use rahti_migrate::copy::{self, Events, RunSummary};
use rahti_migrate::plan::Plan;
use rahti_migrate::report::check;
use support::cli::cli;
use support::fixtures::{config, layer, noise, sha256, DOCKER_LIST, DOCKER_MANIFEST};
use support::skopeo::{self, Reg};
use support::{harness, Harness, PlanOpts};

fn run(h: &Harness, options: &str, images: &str) -> (RunSummary, tempfile::TempDir) {
    let (dir, plan) = h.temp_plan(PlanOpts {
        images,
        options,
        ..Default::default()
    });
    let plan = Plan::load(&plan).unwrap_or_else(|e| panic!("{e}"));
    let s = checked_run(h, &plan);
    (s, dir)
}

/// Runs `check`, then `run`, then `check` again, and holds them to one
/// image plan: every digest the first check predicts is the one `run`
/// pushes, and afterwards every image is done at the digest in the target.
fn checked_run(h: &Harness, plan: &Plan) -> RunSummary {
    let before = h
        .block_on(check::check(plan, 100_000_000, false))
        .unwrap_or_else(|e| panic!("{e}"));
    let s = h
        .block_on(copy::run(plan, Default::default(), Events::none()))
        .unwrap_or_else(|e| panic!("{e}"));
    let failed: Vec<&str> = s.failed.iter().map(|f| f.source.as_str()).collect();
    for im in &before.images {
        let (repo, tag) = im.target.split_once(':').expect("repo:tag");
        let ok = !failed.contains(&im.source.as_str());
        assert_eq!(
            im.action == check::CheckAction::Blocked,
            !ok,
            "{}: check said {:?}, run failed: {ok}",
            im.source,
            im.action
        );
        if !ok {
            continue;
        }
        let pushed = digest_in_r2(h, repo, tag);
        if let Some(p) = &im.target_digest {
            assert_eq!(p.to_string(), pushed, "{}: check predicted {p}", im.source);
        } else {
            assert_eq!(
                im.source_kind.map(|k| k.name()),
                Some("docker-v1-signed"),
                "{}",
                im.source
            );
        }
    }
    let after = h
        .block_on(check::check(plan, 100_000_000, false))
        .unwrap_or_else(|e| panic!("{e}"));
    for im in after
        .images
        .iter()
        .filter(|i| !failed.contains(&i.source.as_str()))
    {
        let (repo, tag) = im.target.split_once(':').expect("repo:tag");
        assert_eq!(im.action, check::CheckAction::Done, "{}", im.source);
        assert_eq!(
            im.target_digest.as_ref().map(|d| d.to_string()),
            Some(digest_in_r2(h, repo, tag))
        );
    }
    s
}

fn digest_in_r2(h: &Harness, repo: &str, tag: &str) -> String {
    h.block_on(h.r2.get_manifest(repo, tag))
        .map(|g| g.digest)
        .unwrap_or_else(|| panic!("{repo}:{tag} missing in target"))
}

/// Converts `repos` (each with tag `t`) with rahti-migrate into `ours-*`
/// and with skopeo into `sk-*`, and compares the digests.
fn compare(h: &Harness, ns: &str, repos: &[&str], format: &str, skopeo_format: &str) -> RunSummary {
    compare_as(h, ns, repos, format, skopeo_format, "")
}

/// [`compare`] into `{label}ours-*` and `{label}sk-*`.
fn compare_as(
    h: &Harness,
    ns: &str,
    repos: &[&str],
    format: &str,
    skopeo_format: &str,
    label: &str,
) -> RunSummary {
    let images: String = repos
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{ns}/{r}\"\ntarget = \"{ns}/{label}ours-{r}\"\n"))
        .collect();
    let (s, _dir) = run(
        h,
        &format!("format = \"{format}\"\nconcurrency = 4"),
        &images,
    );
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    for r in repos {
        skopeo::copy(
            h,
            &["--all", "-f", skopeo_format],
            (Reg::Rahti1, &format!("{ns}/{r}:t")),
            (Reg::Rahti2, &format!("{ns}/{label}sk-{r}:t")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ours = digest_in_r2(h, &format!("{ns}/{label}ours-{r}"), "t");
        let theirs = digest_in_r2(h, &format!("{ns}/{label}sk-{r}"), "t");
        assert_eq!(
            ours, theirs,
            "{r}: our {format} digest differs from skopeo -f {skopeo_format}"
        );
    }
    s
}

/// Spec example A1's config (Docker-built, every Docker-only field,
/// escapes, timestamps with offsets) with these layers' diff_ids.
fn a1_config(layers: &[Vec<u8>]) -> Vec<u8> {
    let diff: Vec<String> = layers.iter().map(|l| uncompressed_digest(l)).collect();
    format!(
        r#"{{ "os": "linux", "architecture": "amd64", "variant": "v8x", "os.version": "10.0.1", "os.features": ["f1","f0"], "id": "deadbeef",
  "moby.buildkit.buildinfo.v1": "eyJmb28iOiJiYXIifQ==", "created": "2021-03-04T05:06:07.123456789+02:00",
  "author": "Jane <jane@example.com> & co", "container": "abcdef0123", "docker_version": "20.10.7", "Size": 12345,
  "container_config": {{"Hostname": "abc", "Cmd": ["/bin/sh"], "Image": "sha256:xyz", "Labels": {{"b":"2"}}}},
  "config": {{ "Labels": {{"z.last": "Z", "a.first": "<tag> & \"quote\" \u00e9 \u2028 caf\u00e9 日本", "m.mid": "\/slash", "ctl": "b\b f\f \u001f"}},
    "Hostname": "", "User": "1000:1000", "AttachStdin": false, "ExposedPorts": {{"8080/udp": {{}}, "443/tcp": {{}}, "80/tcp": {{}}}},
    "Env": ["PATH=/usr/local/sbin:/usr/bin", "B=<2>", "A=1"], "Cmd": ["/bin/sh", "-c", "echo <hi> && exit"],
    "Healthcheck": {{"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "Interval": 30000000000}}, "ArgsEscaped": true,
    "Image": "sha256:7a7b", "Volumes": {{"/zvol": {{}}, "/avol": {{}}}}, "WorkingDir": "/work", "Entrypoint": ["/entry.sh"],
    "OnBuild": ["RUN echo onbuild"], "StopSignal": "SIGTERM", "StopTimeout": 10, "Shell": ["/bin/bash", "-c"] }},
  "rootfs": {{"type": "layers", "diff_ids": {diff:?}}},
  "history": [ {{"created": "2021-03-04T05:06:07Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / ", "comment": "c1"}}, {{}},
    {{"created": "2021-03-04T05:06:08.100000000-07:30", "created_by": "CMD", "empty_layer": true, "author": "A <a@b>"}},
    {{"created": "0001-01-01T00:00:00Z", "created_by": "RUN x", "empty_layer": false}},
    {{"created": "2021-03-04T05:06:09.5+00:00", "created_by": "buildkit", "comment": "buildkit.dockerfile.v0"}} ] }}"#
    )
    .into_bytes()
}

fn uncompressed_digest(gz: &[u8]) -> String {
    let mut d = flate2::read::GzDecoder::new(gz);
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut d, &mut out);
    sha256(&out)
}

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const GZ: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

#[test]
fn schema2_images_convert_to_oci_exactly_like_skopeo() {
    let h = harness();
    let ns = h.unique("conv");
    let l1 = layer(50_001, 20_000);
    let l2 = layer(50_002, 10_000);
    let two = vec![l1.clone(), l2.clone()];
    let r1 = &h.r1;
    h.block_on(async {
        r1.image_raw(&format!("{ns}/a1"), "t", &two, &a1_config(&two), GZ).await.expect("a1");
        let minimal = format!(r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#, uncompressed_digest(&l1));
        r1.image_raw(&format!("{ns}/minimal"), "t", std::slice::from_ref(&l1), minimal.as_bytes(), GZ).await.expect("minimal");
        let empty_hist = format!(r#"{{"architecture":"amd64","os":"linux","created":"2020-01-01T00:00:00.000000001-00:00","history":[],"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#, uncompressed_digest(&l1));
        r1.image_raw(&format!("{ns}/emptyhist"), "t", std::slice::from_ref(&l1), empty_hist.as_bytes(), GZ).await.expect("emptyhist");
        let twice = vec![l2.clone(), l2.clone()];
        r1.image(&format!("{ns}/twice"), "t", &twice, config("amd64", &twice)).await.expect("twice");
    });
    let s = compare(
        h,
        &ns,
        &["a1", "minimal", "emptyhist", "twice"],
        "oci",
        "oci",
    );
    let lossy = s
        .lossy
        .iter()
        .find(|l| l.source.ends_with("/a1:t"))
        .map(|l| l.dropped.clone())
        .unwrap_or_default();
    for f in ["config.Healthcheck", "config.OnBuild", "config.Shell"] {
        assert!(
            lossy.contains(&f.to_string()),
            "{f} not reported as dropped: {lossy:?}"
        );
    }
    // Build metadata is dropped too, but changes nothing at run time: the
    // summary leaves it out (check lists it as info).
    for f in ["container_config", "docker_version"] {
        assert!(!lossy.contains(&f.to_string()), "{f} in {lossy:?}");
    }
    // The OCI manifest really is OCI, with the converted config.
    let got = h
        .block_on(h.r2.get_manifest(&format!("{ns}/ours-a1"), "t"))
        .expect("manifest");
    assert_eq!(
        got.content_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[test]
fn a_manifest_list_becomes_an_oci_index_like_skopeo_all() {
    let h = harness();
    let ns = h.unique("list");
    let amd = vec![layer(60_001, 10_000)];
    let arm = vec![layer(60_002, 10_000)];
    h.block_on(async {
        let repo = format!("{ns}/multi");
        let (da, _) = h.r1.image(&repo, "amd", &amd, config("amd64", &amd)).await.expect("amd");
        let (dr, _) = h.r1.image(&repo, "arm", &arm, config("arm64", &arm)).await.expect("arm");
        let sa = h.r1.get_manifest(&repo, &da).await.map(|g| g.body.len()).unwrap_or(0);
        let sr = h.r1.get_manifest(&repo, &dr).await.map(|g| g.body.len()).unwrap_or(0);
        let list = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
            {"mediaType": DOCKER_MANIFEST, "size": sa, "digest": da, "platform": {"architecture": "amd64", "os": "linux", "features": ["sse4"]}},
            {"mediaType": DOCKER_MANIFEST, "size": sr, "digest": dr, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]});
        h.r1.manifest(&repo, "t", DOCKER_LIST, &serde_json::to_vec_pretty(&list).expect("json")).await.expect("list");
    });
    compare(h, &ns, &["multi"], "oci", "oci");
    let idx = h
        .block_on(h.r2.get_manifest(&format!("{ns}/ours-multi"), "t"))
        .expect("index");
    assert_eq!(idx.content_type, "application/vnd.oci.image.index.v1+json");

    // platforms narrows: only arm64 is copied, under a rewritten index.
    let (s, _d) = run(
        h,
        "format = \"oci\"\nplatforms = [\"linux/arm64/v8\"]",
        &format!(
            "[[images]]\nsource = \"{ns}/multi\"\ntarget = \"{ns}/arm-only\"\ntags = [\"t\"]\n"
        ),
    );
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let idx = h
        .block_on(h.r2.get_manifest(&format!("{ns}/arm-only"), "t"))
        .expect("index");
    let v: serde_json::Value = serde_json::from_slice(&idx.body).expect("json");
    assert_eq!(v["manifests"].as_array().map(|a| a.len()), Some(1));
    assert_eq!(v["manifests"][0]["platform"]["architecture"], "arm64");
}

/// A schema 2 image whose config history has an empty-layer step, for
/// skopeo to turn into signed schema 1.
fn history_config(layers: &[Vec<u8>], with_throwaway: bool) -> serde_json::Value {
    let mut c = config("amd64", layers);
    let mut h = vec![
        serde_json::json!({"created": "2024-01-02T03:04:05Z", "created_by": "/bin/sh -c #(nop) ADD file:x in / "}),
    ];
    if with_throwaway {
        h.push(serde_json::json!({"created": "2024-01-02T03:04:06.5+02:00", "created_by": "/bin/sh -c #(nop) ENV A=<1>", "empty_layer": true, "comment": "env"}));
    }
    for i in 1..layers.len() {
        h.push(serde_json::json!({"created": "2024-01-02T03:04:07Z", "created_by": format!("/bin/sh -c echo {i} > /x"), "author": "Bob <b@x> & co"}));
    }
    if with_throwaway {
        h.push(serde_json::json!({"created": "2024-01-02T03:04:08Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true}));
    }
    c["history"] = serde_json::Value::Array(h);
    c["config"]["Labels"] = serde_json::json!({"a": "café <x> & \u{2028}"});
    c["config"]["Healthcheck"] = serde_json::json!({"Test": ["NONE"]});
    c
}

#[test]
fn schema1_images_convert_like_skopeo_with_diff_ids_from_the_stream() {
    let h = harness();
    let ns = h.unique("s1");
    let two = vec![layer(70_001, 30_000), layer(70_002, 20_000)];
    let one = vec![layer(70_003, 5_000)];
    h.block_on(async {
        h.r1.image(
            &format!("{ns}/src-two"),
            "t",
            &two,
            history_config(&two, true),
        )
        .await
        .expect("two");
        h.r1.image(
            &format!("{ns}/src-one"),
            "t",
            &one,
            history_config(&one, false),
        )
        .await
        .expect("one");
    });
    for r in ["two", "one"] {
        skopeo::copy(
            h,
            &["-f", "v2s1"],
            (Reg::Rahti1, &format!("{ns}/src-{r}:t")),
            (Reg::Rahti1, &format!("{ns}/{r}:t")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let m = h
            .block_on(h.r1.get_manifest(&format!("{ns}/{r}"), "t"))
            .expect("schema1");
        assert_eq!(
            m.content_type,
            "application/vnd.docker.distribution.manifest.v1+prettyjws"
        );
    }
    let s = compare(h, &ns, &["two", "one"], "oci", "oci");
    assert!(
        s.lossy
            .iter()
            .any(|l| l.dropped.iter().any(|f| f == "config.Healthcheck")),
        "{:?}",
        s.lossy
    );
    // And to Docker schema 2, like -f v2s2.
    let images: String = ["two", "one"]
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{ns}/{r}\"\ntarget = \"{ns}/d-ours-{r}\"\n"))
        .collect();
    let (s, _d) = run(h, "format = \"docker\"", &images);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    for r in ["two", "one"] {
        skopeo::copy(
            h,
            &["-f", "v2s2"],
            (Reg::Rahti1, &format!("{ns}/{r}:t")),
            (Reg::Rahti2, &format!("{ns}/d-sk-{r}:t")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            digest_in_r2(h, &format!("{ns}/d-ours-{r}"), "t"),
            digest_in_r2(h, &format!("{ns}/d-sk-{r}"), "t"),
            "{r} -f v2s2"
        );
    }
}

#[test]
fn oci_images_and_indexes_convert_to_docker_like_skopeo_v2s2() {
    let h = harness();
    let ns = h.unique("tod");
    let amd = vec![layer(80_001, 10_000), layer(80_002, 8_000)];
    let arm = vec![layer(80_003, 10_000)];
    h.block_on(async {
        let repo = format!("{ns}/build");
        let (da, _) = h.r1.image(&repo, "amd", &amd, config("amd64", &amd)).await.expect("amd");
        let (dr, _) = h.r1.image(&repo, "arm", &arm, config("arm64", &arm)).await.expect("arm");
        let sa = h.r1.get_manifest(&repo, &da).await.map(|g| g.body.len()).unwrap_or(0);
        let sr = h.r1.get_manifest(&repo, &dr).await.map(|g| g.body.len()).unwrap_or(0);
        let list = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
            {"mediaType": DOCKER_MANIFEST, "size": sa, "digest": da, "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": DOCKER_MANIFEST, "size": sr, "digest": dr, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]});
        h.r1.manifest(&repo, "list", DOCKER_LIST, &serde_json::to_vec(&list).expect("json")).await.expect("list");
    });
    // OCI sources, made by skopeo itself in the source registry.
    skopeo::copy(
        h,
        &["-f", "oci"],
        (Reg::Rahti1, &format!("{ns}/build:amd")),
        (Reg::Rahti1, &format!("{ns}/ociimg:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    skopeo::copy(
        h,
        &["--all", "-f", "oci"],
        (Reg::Rahti1, &format!("{ns}/build:list")),
        (Reg::Rahti1, &format!("{ns}/ociidx:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    compare(h, &ns, &["ociimg", "ociidx"], "docker", "v2s2");
    // An OCI index entry without a platform: the Docker list entry takes the
    // platform of the child's config (skopeo would use the host's), and
    // check predicts exactly what run pushes (`run` checks that).
    skopeo::copy(
        h,
        &["-f", "oci"],
        (Reg::Rahti1, &format!("{ns}/build:arm")),
        (Reg::Rahti1, &format!("{ns}/ociarm:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    h.block_on(async {
        let child =
            h.r1.get_manifest(&format!("{ns}/ociarm"), "t")
                .await
                .expect("arm");
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": child.digest, "size": child.body.len()}]});
        h.r1.manifest(
            &format!("{ns}/ociarm"),
            "idx",
            OCI_INDEX,
            &serde_json::to_vec(&index).expect("json"),
        )
        .await
        .expect("index");
    });
    let (s, _d) = run(
        h,
        "format = \"docker\"",
        &format!(
            "[[images]]\nsource = \"{ns}/ociarm\"\ntarget = \"{ns}/noplat\"\ntags = [\"idx\"]\n"
        ),
    );
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let list = h
        .block_on(h.r2.get_manifest(&format!("{ns}/noplat"), "idx"))
        .expect("list");
    assert_eq!(list.content_type, DOCKER_LIST);
    let v: serde_json::Value = serde_json::from_slice(&list.body).expect("json");
    assert_eq!(
        v["manifests"][0]["platform"]["architecture"], "arm64",
        "{v}"
    );
    // OCI sources pass through `oci` byte for byte.
    let (s, _d) = run(
        h,
        "format = \"oci\"",
        &format!("[[images]]\nsource = \"{ns}/ociidx\"\ntarget = \"{ns}/same\"\n"),
    );
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let src = h
        .block_on(h.r1.get_manifest(&format!("{ns}/ociidx"), "t"))
        .map(|g| g.digest)
        .unwrap_or_default();
    assert_eq!(digest_in_r2(h, &format!("{ns}/same"), "t"), src);
}

#[test]
fn uncompressed_layers_stay_uncompressed_and_keep_their_digest() {
    let h = harness();
    let ns = h.unique("raw");
    let tar = noise(90_001, 10_240);
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(&tar)
    );
    h.block_on(h.r1.image_raw(
        &format!("{ns}/img"),
        "t",
        std::slice::from_ref(&tar),
        cfg.as_bytes(),
        "application/vnd.docker.image.rootfs.diff.tar",
    ))
    .expect("push");
    let (s, _d) = run(
        h,
        "format = \"oci\"",
        &format!("[[images]]\nsource = \"{ns}/img\"\n"),
    );
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let m = h
        .block_on(h.r2.get_manifest(&format!("{ns}/img"), "t"))
        .expect("manifest");
    let v: serde_json::Value = serde_json::from_slice(&m.body).expect("json");
    assert_eq!(
        v["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_eq!(v["layers"][0]["digest"], sha256(&tar));
    assert_eq!(
        h.block_on(h.r2.blob_size(&format!("{ns}/img"), &sha256(&tar))),
        Some(10_240)
    );
}

#[test]
fn a_layer_docker_cannot_express_fails_that_image_only() {
    let h = harness();
    let ns = h.unique("zstd");
    let good = vec![layer(95_001, 1000)];
    let z = noise(95_002, 500);
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        sha256(&z)
    );
    h.block_on(async {
        h.r1.image(&format!("{ns}/ok"), "t", &good, config("amd64", &good)).await.expect("ok");
        // An OCI image with a zstd layer, pushed by hand.
        let repo = format!("{ns}/zs");
        let ld = h.r1.blob(&repo, &z).await.expect("layer");
        let cd = h.r1.blob(&repo, cfg.as_bytes()).await.expect("config");
        let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": ld, "size": z.len()}]});
        h.r1.manifest(&repo, "t", "application/vnd.oci.image.manifest.v1+json", &serde_json::to_vec(&m).expect("json")).await.expect("manifest");
    });
    let images = format!("[[images]]\nsource = \"{ns}/ok\"\n[[images]]\nsource = \"{ns}/zs\"\n");
    let (s, dir) = run(h, "format = \"docker\"", &images);
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    let e = &s.failed[0].error;
    assert!(
        e.contains(&format!("{ns}/zs:t"))
            && e.contains("zstd")
            && e.contains("\"oci\" or \"preserve\""),
        "{e}"
    );
    // The report names the blocker for what it is, and counts no bytes.
    let plan = Plan::load(&dir.path().join("migration.toml")).unwrap_or_else(|e| panic!("{e}"));
    let r = h
        .block_on(check::check(&plan, 100_000_000, false))
        .unwrap_or_else(|e| panic!("{e}"));
    let zs = r
        .images
        .iter()
        .find(|i| i.source == format!("{ns}/zs:t"))
        .expect("zs in the report");
    assert!(
        zs.findings
            .iter()
            .any(|f| f.code == "unsupported-compression" && f.severity == check::Severity::Blocker),
        "{:?}",
        zs.findings
    );
    assert!(!zs.findings.iter().any(|f| f.code == "unknown-media-type"));
    assert_eq!(zs.bytes_to_transfer, 0);
    assert_eq!(s.copied, 1);
    h.block_on(async {
        assert!(h.r2.tags(&format!("{ns}/zs")).await.is_empty());
        assert_eq!(
            h.r2.blob_size(&format!("{ns}/zs"), &sha256(&z)).await,
            None,
            "nothing was pushed for it"
        );
    });
}

/// A `v1Compatibility` with every field an old or new builder may write.
fn full_compat(i: u64, parent: Option<u64>) -> serde_json::Value {
    let id = |n: u64| format!("{:064x}", n);
    let mut c = serde_json::json!({
        "id": id(i),
        "created": format!("2020-01-02T03:04:0{i}.{i}5Z"),
        "author": format!("Builder {i} <b@x>"),
        "comment": format!("step {i}"),
        "container_config": {"Cmd": ["/bin/sh", "-c", format!("echo {i} > /f")]},
        "config": {"Cmd": ["sh"], "Env": ["A=1", "PATH=/bin"], "Labels": {"l": "v"}},
        "os": "linux",
        "architecture": "amd64",
        "Size": 100 + i,
        "docker_version": "1.13.1",
        "throwaway": false,
    });
    if let Some(p) = parent {
        c["parent"] = serde_json::json!(id(p));
    }
    c
}

#[test]
fn schema1_images_with_absent_or_zero_fields_convert_like_skopeo() {
    let h = harness();
    let ns = h.unique("s1edge");
    let fields = [
        "created",
        "author",
        "comment",
        "throwaway",
        "Size",
        "container_config",
        "config",
        "os",
        "architecture",
    ];
    let zero = |k: &str| match k {
        "created" => serde_json::json!("0001-01-01T00:00:00Z"),
        "throwaway" => serde_json::json!(false),
        "Size" => serde_json::json!(0),
        "container_config" | "config" => serde_json::json!({}),
        _ => serde_json::json!(""),
    };
    // Three entries, top first: the top, an empty (throwaway) step, the base.
    let layers = vec![layer(71_001, 3_000), layer(71_002, 0), layer(71_003, 5_000)];
    let base = vec![
        full_compat(3, Some(2)),
        full_compat(2, Some(1)),
        full_compat(1, None),
    ];
    let mut cases: Vec<(String, Vec<serde_json::Value>)> = Vec::new();
    for f in fields {
        let mut absent = base.clone();
        let mut zeroed = base.clone();
        for (a, z) in absent.iter_mut().zip(zeroed.iter_mut()) {
            if let Some(o) = a.as_object_mut() {
                o.remove(f);
            }
            z[f] = zero(f);
        }
        cases.push((format!("no-{}", f.to_lowercase().replace('_', "-")), absent));
        cases.push((
            format!("zero-{}", f.to_lowercase().replace('_', "-")),
            zeroed,
        ));
    }
    let mut all_absent = base.clone();
    let mut all_zero = base.clone();
    for f in fields {
        for (a, z) in all_absent.iter_mut().zip(all_zero.iter_mut()) {
            if let Some(o) = a.as_object_mut() {
                o.remove(f);
            }
            z[f] = zero(f);
        }
    }
    cases.push(("all-absent".into(), all_absent));
    cases.push(("all-zero".into(), all_zero));
    // And the empty step marked as such, as builders write it.
    let mut thrown = base.clone();
    thrown[1]["throwaway"] = serde_json::json!(true);
    cases.push(("throwaway".into(), thrown));
    for (name, compat) in &cases {
        h.block_on(support::schema1::push(
            &h.r1,
            &format!("{ns}/{name}"),
            "t",
            &layers,
            compat,
        ))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let repos: Vec<&str> = cases.iter().map(|(n, _)| n.as_str()).collect();
    compare_as(h, &ns, &repos, "oci", "oci", "o-");
    compare_as(h, &ns, &repos, "docker", "v2s2", "d-");
    eprintln!(
        "{} schema 1 cases converted like skopeo, in oci and docker",
        cases.len()
    );
}

#[test]
fn blobs_shared_by_schema1_and_schema2_images_are_read_and_uploaded_once() {
    let h = harness();
    let ns = h.unique("s1share");
    let ls = vec![layer(72_001, 40_000), layer(72_002, 20_000)];
    h.block_on(h.r1.image(&format!("{ns}/s2"), "t", &ls, history_config(&ls, true)))
        .expect("schema 2");
    // The same image as schema 1: the same layer blobs, plus empty ones.
    skopeo::copy(
        h,
        &["-f", "v2s1"],
        (Reg::Rahti1, &format!("{ns}/s2:t")),
        (Reg::Rahti1, &format!("{ns}/s1:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let source = h.proxy_r1();
    let target = h.proxy_r2();
    // Schema 2 first in the plan, one image at a time: its transfers come
    // first, before the schema 1 image asks for any diff_id.
    let (_dir, plan) = h.temp_plan(PlanOpts {
        source_addr: Some(&source.addr),
        images: &format!("[[images]]\nsource = \"{ns}/s2\"\n[[images]]\nsource = \"{ns}/s1\"\n"),
        options: "format = \"oci\"\nconcurrency = 1",
        ..Default::default()
    });
    h.target_via(&plan, &target);
    let plan = Plan::load(&plan).unwrap_or_else(|e| panic!("{e}"));
    let s = h
        .block_on(copy::run(&plan, Default::default(), Events::none()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    // Source: each blob GET at most once, whatever repository it came from.
    let mut reads: std::collections::BTreeMap<String, usize> = Default::default();
    for r in source.requests() {
        if r.method == "GET" && r.path.contains("/blobs/sha256:") {
            let d = r.path.rsplit('/').next().unwrap_or("").to_string();
            *reads.entry(d).or_default() += 1;
        }
    }
    let twice: Vec<_> = reads.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "blobs read more than once: {twice:?}");
    for l in &ls {
        let d = support::fixtures::sha256(l);
        assert_eq!(reads.get(&d), Some(&1), "layer {d} read once");
    }
    // Target: each blob committed by an upload at most once; the other
    // repository got it by a mount.
    let mut uploads: std::collections::BTreeMap<String, usize> = Default::default();
    let mut mounts = 0;
    for r in target.requests() {
        let digest_of = |key: &str| {
            r.query
                .split('&')
                .find_map(|kv| kv.strip_prefix(key))
                .map(|d| d.replace("%3A", ":"))
        };
        if r.method == "PUT" && r.status == 201 {
            if let Some(d) = digest_of("digest=") {
                *uploads.entry(d).or_default() += 1;
            }
        }
        if r.method == "POST" && r.status == 201 && digest_of("mount=").is_some() {
            mounts += 1;
        }
    }
    let twice: Vec<_> = uploads.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "blobs uploaded more than once: {twice:?}");
    assert!(mounts >= ls.len(), "{mounts} mounts");
    // Both converted like skopeo.
    for r in ["s2", "s1"] {
        skopeo::copy(
            h,
            &["-f", "oci"],
            (Reg::Rahti1, &format!("{ns}/{r}:t")),
            (Reg::Rahti2, &format!("{ns}/sk-{r}:t")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            digest_in_r2(h, &format!("{ns}/{r}"), "t"),
            digest_in_r2(h, &format!("{ns}/sk-{r}"), "t"),
            "{r}"
        );
    }
}

/// Pushes a two-platform Docker manifest list as `repo:t` (its images
/// tagged `amd` and `arm`).
async fn push_list(h: &Harness, repo: &str, amd: &[Vec<u8>], arm: &[Vec<u8>]) {
    let (da, _) =
        h.r1.image(repo, "amd", amd, config("amd64", amd))
            .await
            .expect("amd");
    let (dr, _) =
        h.r1.image(repo, "arm", arm, config("arm64", arm))
            .await
            .expect("arm");
    let sa =
        h.r1.get_manifest(repo, &da)
            .await
            .map(|g| g.body.len())
            .unwrap_or(0);
    let sr =
        h.r1.get_manifest(repo, &dr)
            .await
            .map(|g| g.body.len())
            .unwrap_or(0);
    let list = serde_json::json!({"schemaVersion": 2, "mediaType": DOCKER_LIST, "manifests": [
        {"mediaType": DOCKER_MANIFEST, "size": sa, "digest": da, "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": DOCKER_MANIFEST, "size": sr, "digest": dr, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}]});
    h.r1.manifest(
        repo,
        "t",
        DOCKER_LIST,
        &serde_json::to_vec_pretty(&list).expect("json"),
    )
    .await
    .expect("list");
}

/// One corpus, every format: a Docker schema 2 image, a Docker manifest
/// list, and two registry-signed schema 1 images (written by skopeo, read
/// back re-signed by distribution on every GET), migrated with `oci`,
/// `docker` and `preserve` into a target that accepts signed schema 1 (the
/// Rahti-1-like registry; OKD 4 takes it too). `preserve` keeps every
/// digest, `oci` and `docker` push skopeo's, and a re-run of each format
/// writes nothing. A change for one mode cannot break another unseen.
#[test]
fn every_format_over_one_corpus_with_signed_schema1_into_a_schema1_target() {
    let h = harness();
    let ns = h.unique("corpus");
    let s2 = vec![layer(74_001, 30_000), layer(74_002, 10_000)];
    let amd = vec![layer(74_003, 8_000)];
    let arm = vec![layer(74_004, 8_000)];
    // Docker-built: build metadata beside the runtime fields.
    let mut c = history_config(&s2, true);
    c["container_config"] = serde_json::json!({"Hostname": "b1", "Cmd": ["/bin/sh"]});
    c["docker_version"] = serde_json::json!("20.10.7");
    h.block_on(async {
        h.r1.image(&format!("{ns}/s2"), "t", &s2, c)
            .await
            .expect("schema 2");
        h.r1.image(
            &format!("{ns}/s1src"),
            "t",
            &amd,
            history_config(&amd, false),
        )
        .await
        .expect("schema 2 for schema 1");
        push_list(h, &format!("{ns}/multi"), &amd, &arm).await;
    });
    for (from, to) in [("s2", "s1a"), ("s1src", "s1b")] {
        skopeo::copy(
            h,
            &["-f", "v2s1"],
            (Reg::Rahti1, &format!("{ns}/{from}:t")),
            (Reg::Rahti1, &format!("{ns}/{to}:t")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let repos = ["s2", "multi", "s1a", "s1b"];
    let in_r1 = |repo: &str| {
        h.block_on(h.r1.get_manifest(repo, "t"))
            .map(|g| g.digest)
            .unwrap_or_else(|| panic!("{repo}:t missing"))
    };
    // Distribution re-signs schema 1 on every GET: the bytes differ, the
    // digest does not. The corpus holds what the issue describes.
    let a = h
        .block_on(h.r1.get_manifest(&format!("{ns}/s1a"), "t"))
        .expect("s1a");
    let b = h
        .block_on(h.r1.get_manifest(&format!("{ns}/s1a"), "t"))
        .expect("s1a");
    assert_eq!(
        a.content_type,
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
    );
    assert_eq!(a.digest, b.digest);
    assert_ne!(
        a.body, b.body,
        "distribution re-signs schema 1 on every GET"
    );
    for (format, skopeo_format) in [
        ("preserve", None),
        ("oci", Some("oci")),
        ("docker", Some("v2s2")),
    ] {
        let images: String = repos
            .iter()
            .map(|r| format!("[[images]]\nsource = \"{ns}/{r}\"\ntarget = \"{ns}/{format}-{r}\"\ntags = [\"t\"]\n"))
            .collect();
        let (_dir, plan) = h.temp_plan(PlanOpts {
            images: &images,
            options: &format!("format = \"{format}\"\nconcurrency = 4"),
            ..Default::default()
        });
        let target = h.proxy_r1();
        h.target_via(&plan, &target);
        let plan = Plan::load(&plan).unwrap_or_else(|e| panic!("{e}"));
        // What check says of schema 1 fits the mode.
        let report = h
            .block_on(check::check(&plan, 100_000_000, false))
            .unwrap_or_else(|e| panic!("{e}"));
        let schema1: Vec<&str> = report
            .images
            .iter()
            .flat_map(|i| i.findings.iter())
            .filter(|f| f.code == "schema1-manifest")
            .map(|f| f.message.as_ref())
            .collect();
        assert_eq!(schema1.len(), 2, "{format}");
        for m in schema1 {
            assert_eq!(
                m.contains("converting it"),
                format != "preserve",
                "{format}: {m}"
            );
        }
        let s = h
            .block_on(copy::run(&plan, Default::default(), Events::none()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.failed.is_empty(), "{format}: {:?}", s.failed);
        assert_eq!(s.copied, repos.len(), "{format}");
        // The summary's "converted with loss" names only fields that change
        // how a container runs (build metadata is info, in check).
        let dropped: Vec<&String> = s.lossy.iter().flat_map(|l| &l.dropped).collect();
        assert_eq!(
            dropped.iter().any(|f| *f == "config.Healthcheck"),
            format == "oci",
            "{format}: {dropped:?}"
        );
        assert!(
            dropped
                .iter()
                .all(|f| rahti_migrate::convert::config::changes_runtime(f)),
            "{format}: {dropped:?}"
        );
        for r in repos {
            let ours = in_r1(&format!("{ns}/{format}-{r}"));
            match skopeo_format {
                None => assert_eq!(ours, in_r1(&format!("{ns}/{r}")), "{r}: preserve"),
                Some(f) => {
                    let theirs = format!("{ns}/sk-{format}-{r}");
                    skopeo::copy(
                        h,
                        &["--all", "-f", f],
                        (Reg::Rahti1, &format!("{ns}/{r}:t")),
                        (Reg::Rahti1, &format!("{theirs}:t")),
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(ours, in_r1(&theirs), "{r}: {format} vs skopeo -f {f}");
                }
            }
        }
        // The re-run finds everything done and writes nothing.
        let before = target.requests().len();
        let again = h
            .block_on(copy::run(&plan, Default::default(), Events::none()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            again.failed.is_empty(),
            "{format} re-run: {:?}",
            again.failed
        );
        assert_eq!(
            (again.copied, again.skipped),
            (0, repos.len()),
            "{format} re-run"
        );
        let writes: Vec<String> = target.requests()[before..]
            .iter()
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(writes.is_empty(), "{format} re-run wrote: {writes:?}");
    }
}

/// A plan between the Rahti-like registries and `other`, the second
/// registry implementation (`support::other`), with Basic auth.
fn other_plan(
    h: &Harness,
    other: &str,
    to_other: bool,
    options: &str,
    images: &str,
) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("r1.pass"), support::R1_PASS).expect("write");
    std::fs::write(dir.path().join("r2.pass"), support::R2_PASS).expect("write");
    std::fs::write(dir.path().join("o.pass"), "other-password").expect("write");
    let o = format!("registry = \"{other}\"\ninsecure = true\nusername = \"other\"\npassword_file = \"o.pass\"\n");
    let (source, target) = match to_other {
        true => (
            format!("registry = \"{}\"\ninsecure = true\nusername = \"{}\"\npassword_file = \"r1.pass\"\n", h.rahti1.addr, support::R1_USER),
            o,
        ),
        false => (
            o,
            format!("registry = \"{}\"\nca_file = \"{}\"\nusername = \"{}\"\npassword_file = \"r2.pass\"\n", h.rahti2.addr, h.pki.ca_file.display(), support::R2_USER),
        ),
    };
    let plan = dir.path().join("migration.toml");
    std::fs::write(
        &plan,
        format!("version = 1\n[source]\n{source}[target]\n{target}[options]\n{options}\n{images}"),
    )
    .expect("write");
    (dir, plan)
}

/// Another OCI registry implementation, as target and as source, beside
/// skopeo on the same data: the `container-registry` crate, which takes
/// blob bytes only in `PATCH`, has no `tags/list` and no mount, and
/// refuses manifest lists (skopeo fails on them too). Every image skopeo
/// copies we copy, to the same digest; a re-run uploads nothing; `verify`
/// agrees with what was copied; back out of it, exact tags need no
/// listing.
#[test]
fn another_registry_implementation_as_target_and_source_like_skopeo() {
    let h = harness();
    let ns = h.unique("xreg");
    let other = h
        .block_on(support::other::Other::start(&h.dir.path().join(&ns)))
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = h
        .block_on(support::proxy::Proxy::start(
            format!("http://{}", other.addr),
            None,
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let two = vec![layer(76_001, 20_000), layer(76_002, 10_000)];
    let amd = vec![layer(76_003, 8_000)];
    let arm = vec![layer(76_004, 8_000)];
    h.block_on(async {
        h.r1.image(
            &format!("{ns}/docker"),
            "t",
            &two,
            history_config(&two, true),
        )
        .await
        .expect("docker");
        push_list(h, &format!("{ns}/list"), &amd, &arm).await;
    });
    skopeo::copy(
        h,
        &["-f", "v2s1"],
        (Reg::Rahti1, &format!("{ns}/docker:t")),
        (Reg::Rahti1, &format!("{ns}/schema1:t")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let digest_in = |addr: &str, repo: &str| -> String {
        let out = std::process::Command::new("skopeo")
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--creds=other:other-password",
            ])
            .arg(format!("docker://{addr}/{repo}:t"))
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "{repo}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        support::fixtures::sha256(&out.stdout)
    };
    let cases: [(&str, &[&str]); 2] = [
        ("oci", &["docker", "list", "schema1"]),
        ("preserve", &["docker", "list"]),
    ];
    for (format, repos) in cases {
        let images: String = repos
            .iter()
            .map(|r| format!("[[images]]\nsource = \"{ns}/{r}\"\ntarget = \"{ns}-{format}/{r}\"\ntags = [\"t\"]\n"))
            .collect();
        // skopeo first: what it copies is the floor.
        let mut floor = Vec::new();
        for r in repos.iter() {
            let theirs = format!("{ns}-sk{format}/{r}");
            let mut args = vec!["--all"];
            if format == "oci" {
                args.extend(["-f", "oci"]);
            }
            match skopeo::copy(
                h,
                &args,
                (Reg::Rahti1, &format!("{ns}/{r}:t")),
                (Reg::Plain(&other.addr), &format!("{theirs}:t")),
            ) {
                Ok(()) => floor.push(*r),
                Err(e) => eprintln!("skopeo cannot copy {r} ({format}) either: {e}"),
            }
        }
        assert!(
            floor.contains(&"docker"),
            "{format}: skopeo copied only {floor:?}"
        );
        let (_d, plan) = other_plan(
            h,
            &proxy.addr,
            true,
            &format!("format = \"{format}\"\nconcurrency = 4"),
            &images,
        );
        let out = cli(&["run", "--no-progress"], &plan);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let ours_failed: Vec<&str> = repos
            .iter()
            .copied()
            .filter(|r| err.contains(&format!("FAILED  {ns}/{r}:t")))
            .collect();
        for r in &floor {
            assert!(
                !ours_failed.contains(r),
                "{format}: skopeo copies {r}, we do not: {err}"
            );
            assert_eq!(
                digest_in(&other.addr, &format!("{ns}-{format}/{r}")),
                digest_in(&other.addr, &format!("{ns}-sk{format}/{r}")),
                "{format} {r}: ours and skopeo's differ"
            );
        }
        let done = repos.len() - ours_failed.len();
        let uploads = proxy.hits("POST", "/blobs/uploads/").len();
        let again = cli(&["run", "--no-progress"], &plan);
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(
            err.contains(&format!("{done} already done")),
            "{format} re-run: {err}"
        );
        if ours_failed.is_empty() {
            assert_eq!(
                proxy.hits("POST", "/blobs/uploads/").len(),
                uploads,
                "{format}: the re-run uploaded"
            );
        }
        // verify agrees with what was copied: in place, or named as not
        // migrated (exit 1).
        let v = cli(&["verify"], &plan);
        let text = String::from_utf8_lossy(&v.stdout).to_string();
        assert_eq!(
            v.status.code(),
            Some(if ours_failed.is_empty() { 0 } else { 1 }),
            "{format} verify: {text}"
        );
        assert_eq!(
            text.matches("not-migrated").count(),
            ours_failed.len(),
            "{text}"
        );
        eprintln!("{format}: skopeo copied {floor:?}; we failed {ours_failed:?}");
    }
    // Back out of it into the Rahti-2-like registry: no tag listing there,
    // so the tags are named.
    let images = format!("[[images]]\nsource = \"{ns}-preserve/docker\"\ntarget = \"{ns}/back-docker\"\ntags = [\"t\"]\n");
    let (_d, plan) = other_plan(h, &proxy.addr, false, "format = \"preserve\"", &images);
    let out = cli(&["run", "--no-progress"], &plan);
    assert_eq!(
        out.status.code(),
        Some(0),
        "back: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let src = h
        .block_on(h.r1.get_manifest(&format!("{ns}/docker"), "t"))
        .map(|g| g.digest);
    let back = h
        .block_on(h.r2.get_manifest(&format!("{ns}/back-docker"), "t"))
        .map(|g| g.digest);
    assert_eq!(src, back, "preserved through the other registry");
}
