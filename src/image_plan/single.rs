//! Planning one single-platform manifest (the top one, or an index
//! child): its blobs, its config converted, its manifest written.

use super::*;

/// What planning one single-platform manifest gave.
pub(super) struct Single {
    pub(super) push: Option<PushStep>,
    pub(super) reason: Option<String>,
    pub(super) blobs: Vec<BlobNeed>,
    pub(super) configs: Vec<(Digest, Bytes)>,
    pub(super) layers: usize,
    pub(super) bytes: u64,
    pub(super) dropped: Vec<String>,
    /// (os, architecture) of its config, when read.
    pub(super) platform: Option<(String, String)>,
}

/// Plans one single-platform manifest (the top one, or an index child).
pub(super) fn plan_single(
    m: &Manifest,
    read: &SourceRead,
    opts: ImageOptions<'_>,
    facts: &HashMap<Digest, LayerFacts>,
    findings: &mut Vec<Finding>,
) -> Single {
    let action = convert::decide(opts.format, m.kind);
    let schema1 = m.kind.is_schema1();
    let mut s = Single {
        push: None,
        reason: None,
        blobs: Vec::new(),
        configs: Vec::new(),
        layers: m.layers.len(),
        bytes: 0,
        dropped: Vec::new(),
        platform: None,
    };
    layer_findings(m, findings);
    let Some(needed) = needed_blobs(m, action, opts, findings) else {
        return s;
    };
    account(&mut s, needed, m, read, (action, opts), facts, findings);
    let converted = match (action, schema1) {
        (Action::Keep, _) => Ok(convert::Converted::kept(
            m.raw.clone(),
            m.kind.media_type(),
            m.digest.clone(),
        )),
        (_, true) => {
            if !diff_ids_known(&s, facts) {
                schema1_trial(&mut s, m, action, &opts, findings);
                return s;
            }
            convert::image(action, m.kind, &m.raw, None, facts)
        }
        (_, false) => {
            let Some(config) = m.config.as_ref() else {
                findings.push(finding(
                    crate::model::FindingCode::ConversionError,
                    Severity::Blocker,
                    "the manifest has no config",
                ));
                return s;
            };
            let Some(bytes) = read.configs.get(&config.digest) else {
                s.reason = Some(format!("config {} was not read", config.digest));
                return s;
            };
            s.platform = config_platform(bytes);
            convert::image(action, m.kind, &m.raw, Some(bytes), facts).map(|c| match c.config {
                Some(_) => c,
                // The config is reused as it is (OCI -> Docker).
                None => convert::Converted {
                    config: Some((config.digest.clone(), bytes.clone())),
                    ..c
                },
            })
        }
    };
    match converted {
        Ok(c) => {
            if let Some(cfg) = c.config {
                s.configs.push(cfg);
            }
            if !c.dropped.is_empty() {
                s.dropped = c.dropped;
            }
            s.push = Some(PushStep {
                raw: c.manifest,
                media_type: c.media_type,
                digest: c.digest,
                children: Vec::new(),
            });
        }
        Err(e) => findings.push(conversion_blocker(&e, &opts)),
    }
    s
}

/// The blobs to make present: all of them when the manifest is kept; the
/// layers (the config is rewritten or pushed from memory) when it is
/// converted; for schema 1, the layers its history needs. `None` (with a
/// blocker) when a schema 1 manifest cannot be read for them.
fn needed_blobs(
    m: &Manifest,
    action: Action,
    opts: ImageOptions<'_>,
    findings: &mut Vec<Finding>,
) -> Option<Vec<Descriptor>> {
    let schema1 = m.kind.is_schema1();
    Some(match (action, schema1) {
        (Action::Keep, _) => m.blobs(),
        (_, true) => match convert::schema1::needed_layers(&m.raw) {
            Ok(ds) => ds
                .into_iter()
                .map(|digest| {
                    m.layers
                        .iter()
                        .find(|l| l.digest == digest)
                        .cloned()
                        .unwrap_or(Descriptor {
                            media_type: media::DOCKER_LAYER_GZIP.into(),
                            digest,
                            size: None,
                            urls: Vec::new(),
                            platform: None,
                        })
                })
                .collect(),
            Err(e) => {
                findings.push(finding(
                    crate::model::FindingCode::ConversionError,
                    Severity::Blocker,
                    format!("cannot convert to {}: {e}", opts.format.name()),
                ));
                return None;
            }
        },
        (_, false) => {
            let config = m.config.as_ref().map(|c| c.digest.clone());
            m.blobs()
                .into_iter()
                .filter(|d| Some(&d.digest) != config.as_ref())
                .collect()
        }
    })
}

/// Each needed blob with its size (from the source's look-up, the
/// manifest or the layer facts), the image's bytes (the config counts even
/// when rewritten), and the target's image size limit.
fn account(
    s: &mut Single,
    needed: Vec<Descriptor>,
    m: &Manifest,
    read: &SourceRead,
    (action, opts): (Action, ImageOptions<'_>),
    facts: &HashMap<Digest, LayerFacts>,
    findings: &mut Vec<Finding>,
) {
    let schema1 = m.kind.is_schema1();
    for d in needed {
        let size = match read.sizes.get(&d.digest) {
            Some(Some(n)) => Some(*n),
            Some(None) => {
                findings.push(finding(
                    crate::model::FindingCode::MissingBlob,
                    Severity::Blocker,
                    format!(
                        "the source does not serve blob {} that the manifest references",
                        d.digest
                    ),
                ));
                d.size
            }
            None => d.size.or(facts.get(&d.digest).map(|f| f.size)),
        };
        s.bytes = s.bytes.saturating_add(size.unwrap_or(0));
        s.blobs.push(BlobNeed {
            desc: d,
            size,
            diff_id: schema1 && action != Action::Keep,
        });
    }
    // The config counts for the image's size even when it is rewritten.
    if action != Action::Keep && !schema1 {
        if let Some(c) = &m.config {
            let size = match read.sizes.get(&c.digest) {
                Some(n) => n.or(c.size),
                None => c.size,
            };
            s.bytes = s.bytes.saturating_add(size.unwrap_or(0));
        }
    }
    if let Some(max) = opts.max_image_size {
        if s.bytes > max {
            findings.push(finding(
                crate::model::FindingCode::ImageTooLarge,
                Severity::Blocker,
                format!(
                    "{} is larger than the target's limit of {}",
                    crate::model::human_bytes(s.bytes),
                    crate::model::human_bytes(max)
                ),
            ));
        }
    }
}

/// Whether every blob's diff_id is known (schema 1 conversion needs them).
fn diff_ids_known(s: &Single, facts: &HashMap<Digest, LayerFacts>) -> bool {
    s.blobs.iter().all(|b| {
        facts
            .get(&b.desc.digest)
            .is_some_and(|f| f.diff_id.is_some())
    })
}

/// Schema 1 before its layers were read: everything but the diff_ids is
/// known, so a trial conversion with stand-in facts finds every other
/// failure now, before any blob of the image is read or uploaded; the
/// plan then waits for the diff_ids (`reason`).
fn schema1_trial(
    s: &mut Single,
    m: &Manifest,
    action: Action,
    opts: &ImageOptions<'_>,
    findings: &mut Vec<Finding>,
) {
    let stand_in: HashMap<Digest, LayerFacts> = s
        .blobs
        .iter()
        .map(|b| {
            let f = LayerFacts {
                size: b.size.unwrap_or(0),
                diff_id: Some(b.desc.digest.clone()),
                compressed: true,
            };
            (b.desc.digest.clone(), f)
        })
        .collect();
    if let Err(e) = convert::image(action, m.kind, &m.raw, None, &stand_in) {
        findings.push(conversion_blocker(&e, opts));
        return;
    }
    if action == Action::ToOci {
        s.dropped = convert::schema1::dropped_fields(&m.raw).unwrap_or_default();
    }
    s.reason = Some("schema 1 conversion needs the layers' diff_ids, known only once the layers are read (run computes them while copying)".into());
}
