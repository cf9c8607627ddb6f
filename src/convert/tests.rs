use super::*;
use crate::oci::ManifestKind;

/// Worked example A1 of the conversion spec, with the parts the spec
/// abbreviates filled in (they are all dropped by the conversion).
const A1_CONFIG: &str = r#"{ "os": "linux", "architecture": "amd64", "variant": "v8x", "os.version": "10.0.1", "os.features": ["f1","f0"], "id": "deadbeef",
  "parent": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "moby.buildkit.buildinfo.v1": "eyJmb28iOiJiYXIifQ==", "created": "2021-03-04T05:06:07.123456789+02:00",
  "author": "Jane <jane@example.com> & co", "container": "abcdef0123", "docker_version": "20.10.7", "Size": 12345,
  "container_config": {"Hostname": "abc", "Cmd": ["/bin/sh"], "Image": "sha256:xyz", "Labels": {"b":"2"}},
  "config": { "Labels": {"z.last": "Z", "a.first": "<tag> & \"quote\" \u00e9 \u2028 caf\u00e9 日本", "m.mid": "\/slash"},
    "Hostname": "", "Domainname": "", "User": "1000:1000", "AttachStdin": false, "AttachStdout": false, "Tty": false, "ExposedPorts": {"8080/udp": {}, "443/tcp": {}, "80/tcp": {}},
    "Env": ["PATH=/usr/local/sbin:/usr/bin", "B=2", "A=1"], "Cmd": ["/bin/sh", "-c", "echo <hi> && exit"],
    "Healthcheck": {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "Interval": 30000000000}, "ArgsEscaped": true,
    "Image": "sha256:7a7b", "Volumes": {"/zvol": {}, "/avol": {}}, "WorkingDir": "/work", "Entrypoint": ["/entry.sh"],
    "OnBuild": ["RUN echo onbuild"], "StopSignal": "SIGTERM", "StopTimeout": 10, "Shell": ["/bin/bash", "-c"], "MacAddress": "aa:bb", "NetworkDisabled": true },
  "rootfs": {"type": "layers", "diff_ids": ["sha256:306fec24646609190d644ef13d1979b32c3031178c5b68dc14bff0ae433ad5f2", "sha256:9909ed6013af996e42c6b5cca388ffe124367d78faff45c802c63c33da45f896"]},
  "history": [ {"created": "2021-03-04T05:06:07Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / ", "comment": "c1"}, {},
    {"created": "2021-03-04T05:06:08.100000000-07:30", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true, "author": "A <a@b>"},
    {"created": "0001-01-01T00:00:00Z", "created_by": "RUN x", "empty_layer": false},
    {"created": "2021-03-04T05:06:09.5+00:00", "created_by": "buildkit", "comment": "buildkit.dockerfile.v0"} ] }"#;

const A1_OCI: &str = r#"{"created":"2021-03-04T05:06:07.123456789+02:00","author":"Jane \u003cjane@example.com\u003e \u0026 co","architecture":"amd64","variant":"v8x","os":"linux","os.version":"10.0.1","os.features":["f1","f0"],"config":{"User":"1000:1000","ExposedPorts":{"443/tcp":{},"80/tcp":{},"8080/udp":{}},"Env":["PATH=/usr/local/sbin:/usr/bin","B=2","A=1"],"Entrypoint":["/entry.sh"],"Cmd":["/bin/sh","-c","echo \u003chi\u003e \u0026\u0026 exit"],"Volumes":{"/avol":{},"/zvol":{}},"WorkingDir":"/work","Labels":{"a.first":"\u003ctag\u003e \u0026 \"quote\" é \u2028 café 日本","m.mid":"/slash","z.last":"Z"},"StopSignal":"SIGTERM","ArgsEscaped":true},"rootfs":{"type":"layers","diff_ids":["sha256:306fec24646609190d644ef13d1979b32c3031178c5b68dc14bff0ae433ad5f2","sha256:9909ed6013af996e42c6b5cca388ffe124367d78faff45c802c63c33da45f896"]},"history":[{"created":"2021-03-04T05:06:07Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / ","comment":"c1"},{},{"created":"2021-03-04T05:06:08.1-07:30","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","author":"A \u003ca@b\u003e","empty_layer":true},{"created":"0001-01-01T00:00:00Z","created_by":"RUN x"},{"created":"2021-03-04T05:06:09.5Z","created_by":"buildkit","comment":"buildkit.dockerfile.v0"}]}"#;

#[test]
fn a1_config_matches_skopeo_byte_for_byte() {
    let out = config::OciImage::from_json(A1_CONFIG.as_bytes())
        .expect("decodes")
        .to_json();
    assert_eq!(out, A1_OCI);
    assert_eq!(out.len(), 1232);
    assert_eq!(
        Digest::of(out.as_bytes()).to_string(),
        "sha256:161aed97655f7260fc873fd0a3f30e97c324818fe98c12036ae66f4394c7d11e"
    );
    let dropped = config::dropped_fields(A1_CONFIG.as_bytes());
    for f in [
        "Size",
        "config.Healthcheck",
        "config.OnBuild",
        "config.Shell",
        "container_config",
        "docker_version",
        "id",
        "parent",
    ] {
        assert!(dropped.contains(&f.to_string()), "{f} not in {dropped:?}");
    }
    assert!(
        !dropped
            .iter()
            .any(|d| d == "config.Hostname" || d == "config.Tty"),
        "empty fields lose nothing: {dropped:?}"
    );
}

#[test]
fn observed_config_pairs() {
    let cases: &[(&str, &str)] = &[
        ("{}", r#"{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}"#),
        (
            r#"{"created":null,"author":null,"config":null,"rootfs":null,"history":null}"#,
            r#"{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":null}}"#,
        ),
        (
            r#"{"config":{"Env":[],"Cmd":[],"Labels":{},"Volumes":{},"ExposedPorts":{},"User":""},"rootfs":{"diff_ids":[]},"history":[]}"#,
            r#"{"architecture":"","os":"","config":{},"rootfs":{"type":"","diff_ids":[]}}"#,
        ),
        (
            r#"{"Architecture":"arm64","OS":"windows","os":"linux","Config":{"user":"u1","User":"u2","env":["A=1"]}}"#,
            r#"{"architecture":"arm64","os":"linux","config":{"User":"u2","Env":["A=1"]},"rootfs":{"type":"","diff_ids":null}}"#,
        ),
        (
            r#"{"config":{"User":"a","Labels":{"x":"1"},"Env":["A=1"]},"config":{"Labels":{"y":"2"},"Env":["B=2"]},"architecture":"amd64","architecture":null}"#,
            r#"{"architecture":"amd64","os":"","config":{"User":"a","Env":["B=2"],"Labels":{"x":"1","y":"2"}},"rootfs":{"type":"","diff_ids":null}}"#,
        ),
        (
            "{\"config\":{\"Labels\":{\"l\":\"b\\b f\\f r\\r \u{2028} \u{7f} \\u001f \\/ \\u0041 > < &\"}}}",
            "{\"architecture\":\"\",\"os\":\"\",\"config\":{\"Labels\":{\"l\":\"b\\u0008 f\\u000c r\\r \\u2028 \u{7f} \\u001f / A \\u003e \\u003c \\u0026\"}},\"rootfs\":{\"type\":\"\",\"diff_ids\":null}}",
        ),
        (
            r#"{"config":{"ExposedPorts":{"80/tcp":null,"1000":{"x":1},"53/udp":{}}},"rootfs":{"type":"layers","diff_ids":["not-a-digest"]}}"#,
            r#"{"architecture":"","os":"","config":{"ExposedPorts":{"1000":{},"53/udp":{},"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["not-a-digest"]}}"#,
        ),
    ];
    for (i, o) in cases {
        let got = config::OciImage::from_json(i.as_bytes()).map(|c| c.to_json());
        assert_eq!(got.as_deref(), Ok(*o), "input {i}");
    }
}

#[test]
fn config_errors_name_the_field() {
    let e = config::OciImage::from_json(br#"{"config":{"Labels":{"a":1}}}"#)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("config field config.Labels: a JSON number cannot be stored in a string")
    );
    let e = config::OciImage::from_json(br#"{"created":""}"#)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("config field created: \"\" is not an RFC 3339 time")
    );
}

fn d(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

#[test]
fn schema2_manifest_to_oci_template() {
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":7,"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":112,"digest":"{}","annotations":{{"x":"y"}}}},{{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar","size":10240,"digest":"{}","urls":["https://example.com/c.tar?a=1&b=<y>"]}}],"extra":1}}"#,
        media::DOCKER_MANIFEST,
        media::DOCKER_CONFIG,
        d('c'),
        d('a'),
        d('b')
    );
    let cfg = br#"{"architecture":"amd64","os":"linux"}"#;
    let out = image(
        Action::ToOci,
        ManifestKind::DockerV2,
        m.as_bytes(),
        Some(cfg),
        &HashMap::new(),
    )
    .expect("convert");
    let (cd, cb) = out.config.clone().expect("config");
    assert_eq!(&cb[..], br#"{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"","diff_ids":null}}"#);
    let want = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":112}},{{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"{}","size":10240,"urls":["https://example.com/c.tar?a=1\u0026b=\u003cy\u003e"]}}]}}"#,
        cb.len(),
        d('a'),
        d('b')
    );
    assert_eq!(std::str::from_utf8(&out.manifest).unwrap_or(""), want);
    assert_eq!(out.digest, Digest::of(want.as_bytes()));
}

#[test]
fn oci_to_docker_and_refusals() {
    let m = |layer_type: &str, cfg_type: &str| {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{cfg_type}","digest":"{}","size":5,"annotations":{{"a":"b"}}}},"layers":[{{"mediaType":"{layer_type}","size":101,"digest":"{}","annotations":{{"l0":"v0"}},"urls":["https://example.com/x"]}}],"annotations":{{"t":"x"}}}}"#,
            media::OCI_MANIFEST,
            d('c'),
            d('a')
        )
    };
    let ok = m(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        media::OCI_CONFIG,
    );
    let out = image(
        Action::ToDocker,
        ManifestKind::OciManifest,
        ok.as_bytes(),
        None,
        &HashMap::new(),
    )
    .expect("convert");
    assert_eq!(
        std::str::from_utf8(&out.manifest).unwrap_or(""),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":5,"digest":"{}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":101,"digest":"{}","urls":["https://example.com/x"]}}]}}"#,
            media::DOCKER_MANIFEST,
            media::DOCKER_CONFIG,
            d('c'),
            d('a')
        )
    );
    assert!(
        out.config.is_none(),
        "the OCI config is reused byte for byte"
    );
    let zstd = m(
        "application/vnd.oci.image.layer.v1.tar+zstd",
        media::OCI_CONFIG,
    );
    let e = image(
        Action::ToDocker,
        ManifestKind::OciManifest,
        zstd.as_bytes(),
        None,
        &HashMap::new(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("zstd"), "{e}");
    let art = m(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.example.config+json",
    );
    let e = image(
        Action::ToDocker,
        ManifestKind::OciManifest,
        art.as_bytes(),
        None,
        &HashMap::new(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(e.contains("artifact"), "{e}");
}

#[test]
fn docker_list_to_oci_index() {
    let list = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":1,"digest":"{}","platform":{{"architecture":"amd64","os":"linux","features":["sse4"],"os.version":"1.0","os.features":["win32k"]}}}},{{"mediaType":"{}","size":2,"digest":"{}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#,
        media::DOCKER_LIST,
        media::DOCKER_MANIFEST,
        d('1'),
        media::DOCKER_MANIFEST,
        d('2')
    );
    let kids = vec![
        ChildOut {
            position: 0,
            digest: Digest::of(b"x"),
            size: 401,
            media_type: media::OCI_MANIFEST,
            config_platform: None,
        },
        ChildOut {
            position: 1,
            digest: Digest::of(b"y"),
            size: 402,
            media_type: media::OCI_MANIFEST,
            config_platform: None,
        },
    ];
    let out = index(
        Action::ToOci,
        ManifestKind::DockerList,
        list.as_bytes(),
        &kids,
    )
    .expect("index");
    let want = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":401,"platform":{{"architecture":"amd64","os":"linux","os.version":"1.0","os.features":["win32k"]}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":402,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}]}}"#,
        Digest::of(b"x"),
        Digest::of(b"y")
    );
    assert_eq!(std::str::from_utf8(&out.manifest).unwrap_or(""), want);
    // Nothing changed and no format change: the source bytes are kept.
    let same = vec![
        ChildOut {
            position: 0,
            digest: d('1').parse().expect("d"),
            size: 1,
            media_type: media::DOCKER_MANIFEST,
            config_platform: None,
        },
        ChildOut {
            position: 1,
            digest: d('2').parse().expect("d"),
            size: 2,
            media_type: media::DOCKER_MANIFEST,
            config_platform: None,
        },
    ];
    let kept = index(
        Action::Keep,
        ManifestKind::DockerList,
        list.as_bytes(),
        &same,
    )
    .expect("keep");
    assert_eq!(&kept.manifest[..], list.as_bytes());
}

#[test]
fn decisions() {
    use crate::plan::Format;
    assert_eq!(decide(Format::Oci, ManifestKind::DockerV2), Action::ToOci);
    assert_eq!(decide(Format::Oci, ManifestKind::OciIndex), Action::Keep);
    assert_eq!(
        decide(Format::Oci, ManifestKind::DockerV1Signed),
        Action::ToOci
    );
    assert_eq!(
        decide(Format::Docker, ManifestKind::OciManifest),
        Action::ToDocker
    );
    assert_eq!(
        decide(Format::Docker, ManifestKind::DockerList),
        Action::Keep
    );
    assert_eq!(
        decide(Format::Preserve, ManifestKind::DockerV1),
        Action::Keep
    );
}

fn id(c: char) -> String {
    c.to_string().repeat(64)
}

fn c1_manifest() -> String {
    let e1 = format!(
        r##"{{"os":"linux", "architecture":"amd64", "id":"{}","parent":"{}", "throwaway": true, "Size": 0, "parent_id":"sha256:{}", "layer_id":"sha256:abc", "created":"2019-05-06T07:08:09.000001000+02:00", "container":"c0ffee", "docker_version":"18.09.7", "author":"Bob <bob@x> & Co","container_config":{{"Hostname":"h", "Cmd":["/bin/sh","-c","#(nop) ","CMD [\"sh\"]"], "Labels":{{"z":"1","a":"2"}}}},"config": {{"Labels": {{"zz": "caf\u00e9 \/ <x>", "aa": "1"}}, "Env": ["PATH=/bin"], "Cmd": ["sh"], "ExposedPorts": {{"9/udp": {{}}, "10/tcp": {{}}}}, "Healthcheck": {{"Test": ["NONE"]}}, "OnBuild": null, "ArgsEscaped": true, "Image": "sha256:feed", "StopSignal": "SIGKILL"}},"moby.extra": {{"b": 1.50, "a": [1, 2 ]}}}}"##,
        id('4'),
        id('3'),
        id('3')
    );
    let e2 = format!(
        r##"{{"id":"{}","parent":"{}","created":"2019-05-06T07:08:08Z","container_config":{{"Cmd":["/bin/sh -c echo hi > /x"]}}}}"##,
        id('3'),
        id('2')
    );
    let e3 = format!(
        r##"{{"id":"{}","parent":"{}","created":"2019-05-06T07:08:07.5Z","container_config":{{"Cmd":["/bin/sh","-c","#(nop) ENV A=1"]}},"throwaway":true,"comment":"env"}}"##,
        id('2'),
        id('1')
    );
    let e4 = format!(
        r##"{{"id":"{}","created":"2019-05-06T07:08:06Z","container_config":{{"Cmd":["/bin/sh -c #(nop) ADD file:123 in / "]}},"author":"base-author"}}"##,
        id('1')
    );
    let h = |s: &str| gojson::string_lit(s);
    format!(
        r##"{{"schemaVersion":1,"name":"x/y","tag":"t","architecture":"amd64","fsLayers":[{{"blobSum":"{e}"}},{{"blobSum":"{g2}"}},{{"blobSum":"{e}"}},{{"blobSum":"{g1}"}}],"history":[{{"v1Compatibility":{}}},{{"v1Compatibility":{}}},{{"v1Compatibility":{}}},{{"v1Compatibility":{}}}]}}"##,
        h(&e1),
        h(&e2),
        h(&e3),
        h(&e4),
        e = schema1::EMPTY_GZIP_LAYER,
        g1 = d('1'),
        g2 = d('2'),
    )
}

fn c1_facts() -> HashMap<Digest, LayerFacts> {
    let f = |size, diff: &str| LayerFacts {
        size,
        diff_id: diff.parse().ok(),
        compressed: true,
    };
    HashMap::from([
        (
            d('1').parse().expect("d"),
            f(
                108,
                "sha256:829daf475343a412c33cc1cee31f4fbbd32bc01168545f740b4ec1cb3444543a",
            ),
        ),
        (
            d('2').parse().expect("d"),
            f(
                100,
                "sha256:339faae31598772bf3aa015aae3b0955fff0f8a6d57eaf819beae2c8c04d4fde",
            ),
        ),
    ])
}

#[test]
fn c1_schema1_matches_skopeo() {
    let m = c1_manifest();
    let v2 = image(
        Action::ToDocker,
        ManifestKind::DockerV1,
        m.as_bytes(),
        None,
        &c1_facts(),
    )
    .expect("v2s2");
    let (cd, cb) = v2.config.clone().expect("config");
    let want = r##"{"architecture":"amd64","author":"Bob \u003cbob@x\u003e \u0026 Co","config":{"Labels":{"zz":"caf\u00e9 \/ \u003cx\u003e","aa":"1"},"Env":["PATH=/bin"],"Cmd":["sh"],"ExposedPorts":{"9/udp":{},"10/tcp":{}},"Healthcheck":{"Test":["NONE"]},"OnBuild":null,"ArgsEscaped":true,"Image":"sha256:feed","StopSignal":"SIGKILL"},"container":"c0ffee","container_config":{"Hostname":"h","Cmd":["/bin/sh","-c","#(nop) ","CMD [\"sh\"]"],"Labels":{"z":"1","a":"2"}},"created":"2019-05-06T07:08:09.000001000+02:00","docker_version":"18.09.7","history":[{"created":"2019-05-06T07:08:06Z","author":"base-author","created_by":"/bin/sh -c #(nop) ADD file:123 in / "},{"created":"2019-05-06T07:08:07.5Z","created_by":"/bin/sh -c #(nop) ENV A=1","comment":"env","empty_layer":true},{"created":"2019-05-06T07:08:08Z","created_by":"/bin/sh -c echo hi \u003e /x"},{"created":"2019-05-06T07:08:09.000001+02:00","author":"Bob \u003cbob@x\u003e \u0026 Co","created_by":"/bin/sh -c #(nop)  CMD [\"sh\"]","empty_layer":true}],"moby.extra":{"b":1.50,"a":[1,2]},"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:829daf475343a412c33cc1cee31f4fbbd32bc01168545f740b4ec1cb3444543a","sha256:339faae31598772bf3aa015aae3b0955fff0f8a6d57eaf819beae2c8c04d4fde"]}}"##;
    assert_eq!(std::str::from_utf8(&cb).unwrap_or(""), want);
    assert_eq!(cb.len(), 1228);
    assert!(cd.to_string().starts_with("sha256:7bd4031d"), "{cd}");

    let oci = image(
        Action::ToOci,
        ManifestKind::DockerV1Signed,
        m.as_bytes(),
        None,
        &c1_facts(),
    )
    .expect("oci");
    let (od, ob) = oci.config.clone().expect("config");
    assert_eq!(ob.len(), 958);
    assert!(od.to_string().starts_with("sha256:ff77ce3b"), "{od}");
    let man = std::str::from_utf8(&oci.manifest).unwrap_or("");
    assert!(man.contains(&format!(r#""layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":108}},{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":100}}]"#, d('1'), d('2'))), "{man}");
    for f in [
        "config.Healthcheck",
        "container_config",
        "docker_version",
        "moby.extra",
    ] {
        assert!(
            oci.dropped.contains(&f.to_string()),
            "{f} not in {:?}",
            oci.dropped
        );
    }
}

#[test]
fn schema1_chain_errors() {
    let m = c1_manifest().replace(
        &format!(
            "\"parent\":\"{}\",\"created\":\"2019-05-06T07:08:08Z\"",
            id('2')
        ),
        &format!(
            "\"parent\":\"{}\",\"created\":\"2019-05-06T07:08:08Z\"",
            id('9')
        ),
    );
    let m = m.replace(
        &format!(
            "\\\"parent\\\":\\\"{}\\\",\\\"created\\\":\\\"2019-05-06T07:08:08Z",
            id('2')
        ),
        &format!(
            "\\\"parent\\\":\\\"{}\\\",\\\"created\\\":\\\"2019-05-06T07:08:08Z",
            id('9')
        ),
    );
    let e = image(
        Action::ToOci,
        ManifestKind::DockerV1,
        m.as_bytes(),
        None,
        &c1_facts(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert_eq!(
        e,
        format!(
            "schema 1: Invalid parent ID. Expected {}, got {}",
            id('2'),
            id('9')
        )
    );
    let missing = image(
        Action::ToOci,
        ManifestKind::DockerV1,
        c1_manifest().as_bytes(),
        None,
        &HashMap::new(),
    )
    .err();
    assert!(matches!(missing, Some(ConvertError::MissingFacts(_))));
    assert_eq!(
        schema1::needed_layers(c1_manifest().as_bytes()).ok(),
        Some(vec![d('1').parse().expect("d"), d('2').parse().expect("d")])
    );
}
