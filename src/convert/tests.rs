//! Unit tests of the conversion functions (golden pairs are in tests/golden.rs).

use super::*;
use crate::oci::ManifestKind;

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
    use crate::model::Format;
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
    include_str!("../../tests/golden/c1.schema1-manifest.json").to_string()
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

#[test]
fn kept_manifests_are_not_reencoded() {
    let raw: &[u8] = b"{\"schemaVersion\":2,\"manifests\":[],\"x\":\"\xff\"}";
    let out = image(
        Action::Keep,
        ManifestKind::OciManifest,
        raw,
        None,
        &HashMap::new(),
    )
    .expect("keep");
    assert_eq!(&out.manifest[..], raw);
    assert_eq!(out.digest, Digest::of(raw));
    let idx = index(Action::Keep, ManifestKind::OciIndex, raw, &[]).expect("index");
    assert_eq!(&idx.manifest[..], raw, "an unchanged index keeps its bytes");
}
