//! Unit tests of the image plan: the decisions `run` and `check` share.

use super::*;
use crate::oci::media;

fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64))
        .parse()
        .unwrap_or_else(|_| Digest::of(b""))
}

fn parse(media_type: &str, raw: String) -> Manifest {
    Manifest::parse(Some(media_type), Bytes::from(raw)).unwrap_or_else(|e| panic!("{e}"))
}

fn config(arch: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        digest('d')
    ))
}

fn oci_image(cfg: &Bytes, layer_type: &str) -> Manifest {
    parse(
        media::OCI_MANIFEST,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{layer_type}","digest":"{}","size":10}}]}}"#,
            media::OCI_MANIFEST,
            media::OCI_CONFIG,
            Digest::of(cfg),
            cfg.len(),
            digest('a')
        ),
    )
}

fn read_of(top: Manifest, children: Vec<(usize, Manifest)>, configs: &[&Bytes]) -> SourceRead {
    SourceRead {
        top,
        children,
        configs: configs
            .iter()
            .map(|c| (Digest::of(c), (*c).clone()))
            .collect(),
        sizes: HashMap::new(),
    }
}

fn opts(format: Format) -> ImageOptions<'static> {
    ImageOptions {
        format,
        platforms: &Platforms::All,
        max_image_size: None,
    }
}

fn plan(read: &SourceRead, format: Format) -> ImagePlan {
    plan_image(
        read,
        opts(format),
        &HashMap::new(),
        None,
        &TargetTag::Unknown,
    )
}

#[test]
fn index_entry_without_platform_takes_the_child_config_platform() {
    let cfg = config("arm64");
    let child = oci_image(&cfg, media::OCI_LAYER_GZIP);
    let index = parse(
        media::OCI_INDEX,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
            media::OCI_INDEX,
            media::OCI_MANIFEST,
            child.digest,
            child.raw.len()
        ),
    );
    let read = read_of(index, vec![(0, child)], &[&cfg]);
    let p = plan(&read, Format::Docker);
    assert_eq!(p.action, PlanAction::Convert);
    assert_eq!(p.target_kind, ManifestKind::DockerList);
    assert_eq!(p.manifests.len(), 2, "child, then the list");
    let list = String::from_utf8_lossy(&p.manifests[1].raw).to_string();
    assert!(
        list.contains(r#""platform":{"architecture":"arm64","os":"linux"}"#),
        "{list}"
    );
    assert_eq!(p.target_digest.as_ref(), Some(&p.manifests[1].digest));
    assert_eq!(p.manifests[1].children, vec![p.manifests[0].digest.clone()]);
    // The reused OCI config is pushed from memory; the layer is ensured.
    assert_eq!(p.configs.len(), 1);
    assert_eq!(p.blobs.len(), 1);
    assert_eq!(p.blobs[0].desc.digest, digest('a'));
}

#[test]
fn a_zstd_layer_blocks_docker_before_anything_moves() {
    let cfg = config("amd64");
    let read = read_of(oci_image(&cfg, media::OCI_LAYER_ZSTD), vec![], &[&cfg]);
    let p = plan(&read, Format::Docker);
    assert_eq!(p.action, PlanAction::Blocked);
    assert!(p.manifests.is_empty());
    let codes: Vec<&str> = p.blockers().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["unsupported-compression"]);
    // Under oci it is kept as it is.
    let p = plan(&read, Format::Oci);
    assert_eq!(p.action, PlanAction::Copy);
    assert_eq!(p.target_digest, Some(read.top.digest.clone()));
}

#[test]
fn done_needs_same_source_format_and_target() {
    let cfg = config("amd64");
    let read = read_of(oci_image(&cfg, media::OCI_LAYER_GZIP), vec![], &[&cfg]);
    let done = DoneTag {
        source_digest: read.top.digest.clone(),
        target_digest: digest('f'),
        format: Format::Oci,
        children: Vec::new(),
    };
    let at = |d: Digest| TargetTag::At(d);
    let with = |format, target: &TargetTag| {
        plan_image(&read, opts(format), &HashMap::new(), Some(&done), target).action
    };
    assert_eq!(with(Format::Oci, &at(digest('f'))), PlanAction::Done);
    assert_eq!(with(Format::Oci, &TargetTag::Missing), PlanAction::Copy);
    assert_eq!(with(Format::Preserve, &at(digest('f'))), PlanAction::Copy);
    assert!(needs_target_lookup(
        &read.top.digest,
        Format::Oci,
        Some(&done)
    ));
    assert!(!needs_target_lookup(
        &read.top.digest,
        Format::Docker,
        Some(&done)
    ));
    // The tag already at the predicted digest, without a journal record.
    let p = plan_image(
        &read,
        opts(Format::Oci),
        &HashMap::new(),
        None,
        &at(read.top.digest.clone()),
    );
    assert_eq!(p.action, PlanAction::AlreadyPresent);
}

#[test]
fn schema1_is_pending_until_the_diff_ids_are_known() {
    let raw = include_str!("../../tests/golden/c1.schema1-manifest.json").to_string();
    let read = read_of(parse(media::DOCKER_V1, raw), vec![], &[]);
    let p = plan(&read, Format::Oci);
    assert!(p.pending && p.manifests.is_empty() && p.target_digest.is_none());
    assert!(p.target_digest_reason.is_some());
    assert!(
        p.blobs.iter().all(|b| b.diff_id),
        "diff_ids computed in the stream"
    );
    let facts: HashMap<Digest, LayerFacts> = [
        (
            digest('1'),
            "sha256:829daf475343a412c33cc1cee31f4fbbd32bc01168545f740b4ec1cb3444543a",
            108,
        ),
        (
            digest('2'),
            "sha256:339faae31598772bf3aa015aae3b0955fff0f8a6d57eaf819beae2c8c04d4fde",
            100,
        ),
    ]
    .into_iter()
    .map(|(d, diff, size)| {
        (
            d,
            LayerFacts {
                size,
                diff_id: diff.parse().ok(),
                compressed: true,
            },
        )
    })
    .collect();
    let p = plan_image(&read, opts(Format::Oci), &facts, None, &TargetTag::Unknown);
    assert!(!p.pending);
    assert_eq!(p.manifests.len(), 1);
    assert_eq!(p.configs.len(), 1);
    assert_eq!(p.bytes, 208);
    let golden = include_bytes!("../../tests/golden/c1.oci-manifest.json");
    assert_eq!(p.manifests[0].raw.as_ref(), golden.as_slice());
}

#[test]
fn a_schema1_conversion_that_fails_whatever_the_diff_ids_blocks_before_any_read() {
    // Built by Docker 1.6: skopeo refuses it, and so do we, before a layer
    // is read for its diff_id.
    let raw =
        include_str!("../../tests/golden/c1.schema1-manifest.json").replace("18.09.7", "1.6.0");
    assert!(raw.contains("1.6.0"), "fixture edited");
    let read = read_of(parse(media::DOCKER_V1, raw), vec![], &[]);
    let p = plan(&read, Format::Oci);
    assert_eq!(p.action, PlanAction::Blocked);
    assert!(!p.pending);
    let codes: Vec<&str> = p.blockers().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["conversion-error"]);
}

#[test]
fn missing_source_blob_and_size_limit_block() {
    let cfg = config("amd64");
    let mut read = read_of(oci_image(&cfg, media::OCI_LAYER_GZIP), vec![], &[&cfg]);
    read.sizes.insert(digest('a'), None);
    let p = plan(&read, Format::Oci);
    assert_eq!(p.action, PlanAction::Blocked);
    assert!(p
        .blockers()
        .any(|f| f.code == crate::model::FindingCode::MissingBlob));
    read.sizes.clear();
    let small = ImageOptions {
        max_image_size: Some(5),
        ..opts(Format::Oci)
    };
    let p = plan_image(&read, small, &HashMap::new(), None, &TargetTag::Unknown);
    assert!(p
        .blockers()
        .any(|f| f.code == crate::model::FindingCode::ImageTooLarge));
}

fn index_of(children: &[&Manifest]) -> Manifest {
    let entries: Vec<String> = children
        .iter()
        .map(|c| {
            format!(
                r#"{{"mediaType":"{}","digest":"{}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}"#,
                media::OCI_MANIFEST,
                c.digest,
                c.raw.len()
            )
        })
        .collect();
    parse(
        media::OCI_INDEX,
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{}]}}"#,
            media::OCI_INDEX,
            entries.join(",")
        ),
    )
}

#[test]
fn an_index_repeating_one_child_plans_it_once_and_keeps_every_entry() {
    let cfg = config("amd64");
    let child = oci_image(&cfg, media::OCI_LAYER_GZIP);
    let index = index_of(&vec![&child; 600]);
    let selected = selected_children(&index, &Platforms::All);
    assert_eq!(distinct_children(&selected).len(), 1);
    // What read_rest reads: the one distinct child.
    let read = read_of(index, vec![(0, child.clone())], &[&cfg]);
    let p = plan(&read, Format::Oci);
    assert!(p.blockers().next().is_none(), "{:?}", p.findings);
    // The child once, then the index, which keeps all 600 entries.
    assert_eq!(p.manifests.len(), 2);
    let top = p
        .manifests
        .last()
        .map(|m| m.raw.clone())
        .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&top).unwrap_or_default();
    assert_eq!(v["manifests"].as_array().map(Vec::len), Some(600));
    assert_eq!(p.blobs.len(), 2, "the config and the layer, once");
    assert!(
        p.findings.len() < 10,
        "findings per entry: {}",
        p.findings.len()
    );
}

#[test]
fn an_index_with_too_many_distinct_children_is_blocked() {
    let cfg = config("amd64");
    let children: Vec<Manifest> = (0..=MAX_INDEX_CHILDREN)
        .map(|i| {
            parse(
                media::OCI_MANIFEST,
                format!(
                    r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[],"annotations":{{"n":"{i}"}}}}"#,
                    media::OCI_MANIFEST,
                    media::OCI_CONFIG,
                    Digest::of(&cfg),
                    cfg.len()
                ),
            )
        })
        .collect();
    let index = index_of(&children.iter().collect::<Vec<_>>());
    let read = read_of(index, Vec::new(), &[&cfg]);
    let p = plan(&read, Format::Oci);
    let codes: Vec<&str> = p.blockers().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, vec!["index-too-large"]);
}
