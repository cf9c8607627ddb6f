//! The image plan: what one tag becomes, decided by pure functions from
//! what was read about it. `run` executes the plan (`copy::image`); `check`
//! builds the same plans with reads only and renders them (`report`), so
//! the dry run and the copy cannot disagree.
//!
//! Inputs: the source manifest and, for an index, its selected children
//! ([`SourceRead`]), the configs a conversion needs, the layer facts known
//! (schema 1), the journal's record of the tag, the target tag's state, and
//! the image options. Output ([`ImagePlan`]): the action, the platforms
//! kept, the blobs to ensure (with sizes, for dedupe across the plan), the
//! configs and manifests to push in order, the predicted digest, and the
//! findings. Nothing here touches the network or the clock.

use crate::convert::{self, Action, ChildOut, ConvertError};
use crate::journal::DoneTag;
use crate::model::{Format, LayerFacts, Platforms};
use crate::oci::{media, Descriptor, Digest, Manifest, ManifestKind};
use bytes::Bytes;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Good to know.
    Info,
    /// Something changes or is lost.
    Warning,
    /// The image will not migrate as planned.
    Blocker,
}

/// One thing the plan found about an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `config-fields-dropped`.
    pub code: crate::model::FindingCode,
    /// Severity.
    pub severity: Severity,
    /// What it means for this image (most are fixed text: no allocation
    /// for each of many thousand tags).
    pub message: std::borrow::Cow<'static, str>,
}

/// A finding.
pub fn finding(
    code: crate::model::FindingCode,
    severity: Severity,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Finding {
    Finding {
        code,
        severity,
        message: message.into(),
    }
}

/// What happens to an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum PlanAction {
    /// Copied as it is.
    Copy,
    /// Converted.
    Convert,
    /// The target tag already has the predicted digest.
    AlreadyPresent,
    /// The journal says done, the source is unchanged and the target tag
    /// still points at what was pushed.
    Done,
    /// A blocker stops it.
    Blocked,
    /// Not copied, by the plan's choice (a project's tag imported from
    /// elsewhere, left out or referenced).
    Skip,
}

impl PlanAction {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            PlanAction::Copy => "copy",
            PlanAction::Convert => "convert",
            PlanAction::AlreadyPresent => "already-present",
            PlanAction::Done => "done",
            PlanAction::Blocked => "blocked",
            PlanAction::Skip => "skip",
        }
    }

    /// True when executing the plan moves content.
    pub fn moves_content(self) -> bool {
        matches!(self, PlanAction::Copy | PlanAction::Convert)
    }
}

/// What is known about the target tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetTag {
    /// Not looked up (`run` looks only when the journal says done).
    Unknown,
    /// The tag does not exist.
    Missing,
    /// The tag points at this digest.
    At(Digest),
}

impl From<Option<Digest>> for TargetTag {
    fn from(d: Option<Digest>) -> Self {
        d.map(TargetTag::At).unwrap_or(TargetTag::Missing)
    }
}

/// Per-image options.
#[derive(Debug, Clone, Copy)]
pub struct ImageOptions<'a> {
    /// Output format.
    pub format: Format,
    /// Platforms to copy.
    pub platforms: &'a Platforms,
    /// The target's image size limit.
    pub max_image_size: Option<u64>,
}

/// What was read from the source about a tag.
#[derive(Debug, Clone)]
pub struct SourceRead {
    /// The manifest the tag points at.
    pub top: Manifest,
    /// For an index: the entries [`selected_children`] chose, as read,
    /// each distinct digest once (at the position of its first entry): an
    /// index may name one child thousands of times.
    pub children: Vec<(usize, Manifest)>,
    /// Config blobs read, by digest ([`config_to_read`] says which).
    pub configs: HashMap<Digest, Bytes>,
    /// Blob sizes looked up in the source (the dry run HEADs them; `None`
    /// means the source does not serve the blob). Empty when not looked up.
    pub sizes: HashMap<Digest, Option<u64>>,
}

/// A blob the image needs in the target repository.
#[derive(Debug, Clone)]
pub struct BlobNeed {
    /// The blob, as the manifest describes it.
    pub desc: Descriptor,
    /// Its size, from the manifest, the source or layer facts.
    pub size: Option<u64>,
    /// Schema 1 conversion needs its diff_id: compute it while it streams.
    pub diff_id: bool,
}

/// A manifest to push by digest.
#[derive(Debug, Clone)]
pub struct PushStep {
    /// The bytes.
    pub raw: Bytes,
    /// Their media type.
    pub media_type: &'static str,
    /// Their digest.
    pub digest: Digest,
    /// Child manifests it references (an index), pushed before it.
    pub children: Vec<Digest>,
}

impl PushStep {
    /// True for a Docker schema 1 manifest (signed or not).
    pub fn is_schema1(&self) -> bool {
        ManifestKind::from_media_type(self.media_type).is_some_and(ManifestKind::is_schema1)
    }
}

/// The plan for one tag.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    /// What happens.
    pub action: PlanAction,
    /// The source manifest digest.
    pub source_digest: Digest,
    /// The source manifest kind.
    pub source_kind: ManifestKind,
    /// The kind pushed.
    pub target_kind: ManifestKind,
    /// Platforms copied (`os/arch[/variant]`), for an index.
    pub platforms: Vec<String>,
    /// Blobs to make present, unique, in manifest order.
    pub blobs: Vec<BlobNeed>,
    /// Blobs pushed from memory (converted or reused configs).
    pub configs: Vec<(Digest, Bytes)>,
    /// For an index: each distinct child copied, its source and target
    /// digest (the journal keeps them for `rewrite`, `map` and `verify`).
    pub child_digests: Vec<crate::journal::ChildDigest>,
    /// Manifests to push by digest, children first, the tagged one last.
    /// Empty while the conversion waits for layer facts (`pending`).
    pub manifests: Vec<PushStep>,
    /// The conversion needs the diff_ids of these layers, known only once
    /// they were read: re-plan after the blobs are in place.
    pub pending: bool,
    /// The digest the tag will point at, when it can be computed.
    pub target_digest: Option<Digest>,
    /// Why `target_digest` is not known.
    pub target_digest_reason: Option<String>,
    /// Findings, in a stable order.
    pub findings: Vec<Finding>,
    /// Config fields the conversion drops.
    pub dropped: Vec<String>,
    /// Layers over all copied platforms.
    pub layers: usize,
    /// Bytes of all blobs over all copied platforms (as far as known).
    pub bytes: u64,
}

impl ImagePlan {
    /// The blocker findings.
    pub fn blockers(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Blocker)
    }
}

/// The done test: the journal recorded this tag as done from the same
/// source digest and format, and the target tag still points at what was
/// pushed. Returns the target digest when done.
pub fn done_digest<'a>(
    source_digest: &Digest,
    format: Format,
    done: Option<&'a DoneTag>,
    target: &TargetTag,
) -> Option<&'a Digest> {
    let d = done.filter(|_| needs_target_lookup(source_digest, format, done))?;
    (*target == TargetTag::At(d.target_digest.clone())).then_some(&d.target_digest)
}

/// Whether the done test needs the target tag looked up: only when the
/// journal has a matching record.
pub fn needs_target_lookup(source_digest: &Digest, format: Format, done: Option<&DoneTag>) -> bool {
    done.is_some_and(|d| d.source_digest == *source_digest && d.format == format)
}

/// Most distinct child manifests an index may have (after entries naming
/// the same digest are counted once): each is read and planned, and a
/// 4 MiB index can name ~25,000.
pub const MAX_INDEX_CHILDREN: usize = 1000;

/// The distinct digests of the selected entries, in index order.
pub fn distinct_children<'m>(selected: &[(usize, &'m Descriptor)]) -> Vec<(usize, &'m Descriptor)> {
    let mut seen = HashSet::new();
    selected
        .iter()
        .filter(|(_, d)| seen.insert(&d.digest))
        .copied()
        .collect()
}

/// The index entries to copy, by position.
pub fn selected_children<'m>(
    top: &'m Manifest,
    platforms: &Platforms,
) -> Vec<(usize, &'m Descriptor)> {
    top.manifests
        .iter()
        .enumerate()
        .filter(|(_, d)| platforms.wants(d.platform.as_ref()))
        .collect()
}

/// The config blob a single-image manifest's conversion reads, if any.
pub fn config_to_read(format: Format, m: &Manifest) -> Option<&Descriptor> {
    let action = convert::decide(format, m.kind);
    (action != Action::Keep && !m.kind.is_index() && !m.kind.is_schema1())
        .then_some(m.config.as_ref())
        .flatten()
}

/// `os/arch[/variant]` of an entry, or `unknown`.
fn platform_name(d: &Descriptor) -> String {
    d.platform
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// What planning one single-platform manifest gave.
struct Single {
    push: Option<PushStep>,
    reason: Option<String>,
    blobs: Vec<BlobNeed>,
    configs: Vec<(Digest, Bytes)>,
    layers: usize,
    bytes: u64,
    dropped: Vec<String>,
    /// (os, architecture) of its config, when read.
    platform: Option<(String, String)>,
}

/// Builds the plan for one tag.
pub fn plan_image(
    read: &SourceRead,
    opts: ImageOptions<'_>,
    facts: &HashMap<Digest, LayerFacts>,
    done: Option<&DoneTag>,
    target: &TargetTag,
) -> ImagePlan {
    let top = &read.top;
    let action = convert::decide(opts.format, top.kind);
    let mut plan = ImagePlan {
        action: if action == Action::Keep {
            PlanAction::Copy
        } else {
            PlanAction::Convert
        },
        source_digest: top.digest.clone(),
        source_kind: top.kind,
        target_kind: convert::target_kind(action, top.kind),
        platforms: Vec::new(),
        blobs: Vec::new(),
        configs: Vec::new(),
        child_digests: Vec::new(),
        manifests: Vec::new(),
        pending: false,
        target_digest: None,
        target_digest_reason: None,
        findings: Vec::new(),
        dropped: Vec::new(),
        layers: 0,
        bytes: 0,
    };
    if top.kind.is_schema1() {
        plan.findings.push(finding(
            crate::model::FindingCode::Schema1Manifest,
            Severity::Warning,
            match action {
                Action::Keep => "Docker schema 1 is deprecated; format = \"preserve\" copies it as it is, with the same digest, but many registries refuse schema 1 (use format = \"oci\" for this image if the target does)",
                _ => "Docker schema 1 is deprecated; converting it means reading every layer to compute its diff_id, and the digest changes",
            },
        ));
    }
    if top.kind.is_index() {
        plan_index(read, opts, facts, action, &mut plan);
    } else {
        let s = plan_single(top, read, opts, facts, &mut plan.findings);
        plan.layers = s.layers;
        plan.bytes = s.bytes;
        plan.blobs = s.blobs;
        plan.configs = s.configs;
        plan.dropped = s.dropped;
        plan.target_digest_reason = s.reason;
        if let Some(p) = s.push {
            plan.target_digest = Some(p.digest.clone());
            plan.manifests.push(p);
        }
    }
    plan.pending = plan.manifests.is_empty() && plan.target_digest_reason.is_some();
    plan.dropped.sort();
    plan.dropped.dedup();
    // Fields that change how a container runs are a warning; build
    // metadata only information, so the warning keeps its meaning.
    let (runtime, metadata): (Vec<&String>, Vec<&String>) = plan
        .dropped
        .iter()
        .partition(|f| crate::convert::config::changes_runtime(f));
    for (fields, severity, what) in [
        (
            runtime,
            Severity::Warning,
            "fields that change how a container runs",
        ),
        (metadata, Severity::Info, "build metadata"),
    ] {
        if fields.is_empty() {
            continue;
        }
        let names: Vec<&str> = fields.iter().map(|f| f.as_str()).collect();
        plan.findings.push(finding(
            crate::model::FindingCode::ConfigFieldsDropped,
            severity,
            format!(
                "the {} conversion drops {what}: {}; set format = \"docker\" or \"preserve\" for this image to keep them",
                opts.format.name(),
                names.join(", ")
            ),
        ));
    }
    match &plan.target_digest {
        // Both digests are in the report's row (fixed text: one per tag).
        Some(d) if *d != top.digest => plan.findings.push(finding(
            crate::model::FindingCode::DigestChanges,
            Severity::Info,
            "the digest changes (from source_digest to target_digest); update deployments that pin the old digest",
        )),
        None if action != Action::Keep => plan.findings.push(finding(
            crate::model::FindingCode::DigestChanges,
            Severity::Info,
            format!(
                "digest changes from {}; the new digest is known after the copy",
                top.digest
            ),
        )),
        _ => {}
    }
    if plan.blockers().next().is_some() {
        plan.action = PlanAction::Blocked;
    } else if let Some(d) = done_digest(&top.digest, opts.format, done, target) {
        plan.action = PlanAction::Done;
        plan.target_digest = Some(d.clone());
        plan.target_digest_reason = None;
    } else if let (TargetTag::At(now), Some(p)) = (target, &plan.target_digest) {
        if now == p {
            plan.action = PlanAction::AlreadyPresent;
            plan.findings.push(finding(
                crate::model::FindingCode::AlreadyPresent,
                Severity::Info,
                format!("the target tag already points at {p}"),
            ));
        }
    }
    plan
}

fn plan_index(
    read: &SourceRead,
    opts: ImageOptions<'_>,
    facts: &HashMap<Digest, LayerFacts>,
    action: Action,
    plan: &mut ImagePlan,
) {
    let top = &read.top;
    let selected = selected_children(top, opts.platforms);
    let all: Vec<String> = top.manifests.iter().map(platform_name).collect();
    plan.platforms = selected.iter().map(|(_, d)| platform_name(d)).collect();
    plan.findings.push(finding(
        crate::model::FindingCode::MultiArch,
        Severity::Info,
        format!(
            "platforms found: {}; copied: {}",
            all.join(", "),
            plan.platforms.join(", ")
        ),
    ));
    if selected.is_empty() {
        plan.findings.push(finding(
            crate::model::FindingCode::NoMatchingPlatform,
            Severity::Blocker,
            "no platform of the index matches the platforms option",
        ));
        return;
    }
    if action == Action::Keep && selected.len() != top.manifests.len() {
        plan.findings.push(finding(
            crate::model::FindingCode::PlatformsFiltered,
            Severity::Warning,
            format!(
                "copying {} of {} platforms: the index is rewritten, so its digest changes",
                selected.len(),
                top.manifests.len()
            ),
        ));
    }
    let distinct = distinct_children(&selected).len();
    if distinct > MAX_INDEX_CHILDREN {
        plan.findings.push(finding(
            crate::model::FindingCode::IndexTooLarge,
            Severity::Blocker,
            format!(
                "the index names {distinct} distinct child manifests; at most {MAX_INDEX_CHILDREN} are copied"
            ),
        ));
        return;
    }
    // Each distinct child is read and planned once; an entry naming a
    // digest seen before reuses that plan.
    let read_by_digest: HashMap<&Digest, &Manifest> = read
        .children
        .iter()
        .filter_map(|(p, m)| top.manifests.get(*p).map(|d| (&d.digest, m)))
        .collect();
    let mut planned: HashMap<&Digest, Option<ChildOut>> = HashMap::new();
    let mut outs = Vec::new();
    let mut reason = None;
    let mut seen = HashSet::new();
    for (pos, d) in selected {
        if let Some(first) = planned.get(&d.digest) {
            if let Some(out) = first {
                outs.push(ChildOut {
                    position: pos,
                    ..out.clone()
                });
            }
            continue;
        }
        // Whatever happens below, this digest is planned once.
        planned.insert(&d.digest, None);
        let Some(child) = read_by_digest.get(&d.digest).copied() else {
            reason.get_or_insert_with(|| format!("platform {} was not read", platform_name(d)));
            continue;
        };
        if child.kind.is_index() {
            plan.findings.push(finding(
                crate::model::FindingCode::ConversionError,
                Severity::Blocker,
                format!(
                    "index entry {} is itself an index; nested indexes are not supported",
                    d.digest
                ),
            ));
            continue;
        }
        if child.digest_like(&d.digest) != d.digest {
            plan.findings.push(finding(
                crate::model::FindingCode::SourceError,
                Severity::Blocker,
                format!("index entry {} was served as {}", d.digest, child.digest),
            ));
            continue;
        }
        let s = plan_single(child, read, opts, facts, &mut plan.findings);
        plan.layers += s.layers;
        plan.bytes = plan.bytes.saturating_add(s.bytes);
        plan.dropped.extend(s.dropped);
        for b in s.blobs {
            if seen.insert(b.desc.digest.clone()) {
                plan.blobs.push(b);
            }
        }
        for c in s.configs {
            if !plan.configs.iter().any(|(d, _)| *d == c.0) {
                plan.configs.push(c);
            }
        }
        match s.push {
            Some(p) => {
                let out = ChildOut {
                    position: pos,
                    digest: p.digest.clone(),
                    size: p.raw.len() as u64,
                    media_type: p.media_type,
                    config_platform: s.platform,
                };
                planned.insert(&d.digest, Some(out.clone()));
                // A platform the journal could not hold (a hostile index)
                // is kept as unknown: the digests are what matters.
                let platform = Some(platform_name(d))
                    .filter(|p| crate::journal::valid_platform(p))
                    .unwrap_or_else(|| "unknown/unknown".into());
                plan.child_digests.push(crate::journal::ChildDigest {
                    platform,
                    source_digest: d.digest.clone(),
                    target_digest: out.digest.clone(),
                });
                outs.push(out);
                if !plan.manifests.iter().any(|m| m.digest == p.digest) {
                    plan.manifests.push(p);
                }
            }
            None => {
                reason.get_or_insert(
                    s.reason
                        .unwrap_or_else(|| "a platform's digest cannot be predicted".into()),
                );
            }
        }
    }
    if plan.blockers().next().is_some() {
        return;
    }
    if let Some(r) = reason {
        plan.manifests.clear();
        plan.target_digest_reason = Some(r);
        return;
    }
    match convert::index(action, top.kind, &top.raw, &outs) {
        Ok(c) => {
            plan.target_digest = Some(c.digest.clone());
            plan.manifests.push(PushStep {
                raw: c.manifest,
                media_type: c.media_type,
                digest: c.digest,
                children: outs.iter().map(|c| c.digest.clone()).collect(),
            });
        }
        Err(e) => plan.findings.push(finding(
            crate::model::FindingCode::ConversionError,
            Severity::Blocker,
            e.to_string(),
        )),
    }
}

/// Plans one single-platform manifest (the top one, or an index child).
fn plan_single(
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
    // The blobs to ensure: all of them when the manifest is kept; the
    // layers (the config is rewritten or pushed from memory) when it is
    // converted; for schema 1, the layers the history needs.
    let needed: Vec<Descriptor> = match (action, schema1) {
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
                return s;
            }
        },
        (_, false) => {
            let config = m.config.as_ref().map(|c| c.digest.clone());
            m.blobs()
                .into_iter()
                .filter(|d| Some(&d.digest) != config.as_ref())
                .collect()
        }
    };
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
    let converted = match (action, schema1) {
        (Action::Keep, _) => Ok(convert::Converted::kept(
            m.raw.clone(),
            m.kind.media_type(),
            m.digest.clone(),
        )),
        (_, true) => {
            let known = s.blobs.iter().all(|b| {
                facts
                    .get(&b.desc.digest)
                    .is_some_and(|f| f.diff_id.is_some())
            });
            if !known {
                // Everything but the diff_ids is known: a trial conversion
                // with stand-in facts finds every other failure now, before
                // any blob of the image is read or uploaded.
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
                    findings.push(conversion_blocker(&e, &opts));
                    return s;
                }
                if action == Action::ToOci {
                    s.dropped = convert::schema1::dropped_fields(&m.raw).unwrap_or_default();
                }
                s.reason = Some("schema 1 conversion needs the layers' diff_ids, known only once the layers are read (run computes them while copying)".into());
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

/// The blocker a failed conversion is, named for its cause.
fn conversion_blocker(e: &ConvertError, opts: &ImageOptions) -> Finding {
    let code = match e {
        ConvertError::Compression { .. } => crate::model::FindingCode::UnsupportedCompression,
        ConvertError::Layer { .. } | ConvertError::Artifact(_) => {
            crate::model::FindingCode::UnknownMediaType
        }
        _ => crate::model::FindingCode::ConversionError,
    };
    finding(
        code,
        Severity::Blocker,
        format!("cannot convert to {}: {e}", opts.format.name()),
    )
}

/// Findings about a manifest's layers: foreign, non-distributable, unknown.
fn layer_findings(m: &Manifest, findings: &mut Vec<Finding>) {
    for l in &m.layers {
        if !l.urls.is_empty() {
            findings.push(finding(
                crate::model::FindingCode::ForeignLayer,
                Severity::Warning,
                format!("layer {} is served from {} and is not copied; the target must be allowed to reference it", l.digest, l.urls.join(", ")),
            ));
        } else if media::is_non_distributable(&l.media_type) {
            findings.push(finding(
                crate::model::FindingCode::NonDistributableLayer,
                Severity::Warning,
                format!(
                    "layer {} has the non-distributable type {} but no URLs; it is copied",
                    l.digest, l.media_type
                ),
            ));
        }
        if !m.kind.is_schema1() && !media::LAYER_TYPES.contains(&l.media_type.as_str()) {
            findings.push(finding(
                crate::model::FindingCode::UnknownMediaType,
                Severity::Blocker,
                format!(
                    "layer {} has the unknown media type {:?}",
                    l.digest, l.media_type
                ),
            ));
        }
    }
}

/// (os, architecture) of a config, for index entries that lack a platform.
fn config_platform(config: &[u8]) -> Option<(String, String)> {
    let c = convert::config::OciImage::from_json(config).ok()?;
    (!c.os.is_empty() && !c.architecture.is_empty()).then(|| (c.os.clone(), c.architecture.clone()))
}

#[cfg(test)]
mod tests;
