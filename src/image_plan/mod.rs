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
    dropped_findings(&mut plan, opts);
    digest_findings(&mut plan, &top.digest, action);
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

/// What the conversion drops: fields that change how a container runs are
/// a warning, build metadata only information (so the warning keeps its
/// meaning).
fn dropped_findings(plan: &mut ImagePlan, opts: ImageOptions<'_>) {
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
}

/// Whether the digest changes, and to what when that is known.
fn digest_findings(plan: &mut ImagePlan, source: &Digest, action: Action) {
    match &plan.target_digest {
        // Both digests are in the report's row (fixed text: one per tag).
        Some(d) if d != source => plan.findings.push(finding(
            crate::model::FindingCode::DigestChanges,
            Severity::Info,
            "the digest changes (from source_digest to target_digest); update deployments that pin the old digest",
        )),
        None if action != Action::Keep => plan.findings.push(finding(
            crate::model::FindingCode::DigestChanges,
            Severity::Info,
            format!(
                "digest changes from {}; the new digest is known after the copy",
                source
            ),
        )),
        _ => {}
    }
}

/// (os, architecture) of a config, for index entries that lack a platform.
fn config_platform(config: &[u8]) -> Option<(String, String)> {
    let c = convert::config::OciImage::from_json(config).ok()?;
    (!c.os.is_empty() && !c.architecture.is_empty()).then(|| (c.os.clone(), c.architecture.clone()))
}

mod findings;
mod index;
mod single;

use findings::{conversion_blocker, layer_findings};
pub use findings::{finding, Finding, Severity};
use index::plan_index;
use single::plan_single;

#[cfg(test)]
mod tests;

pub mod read;
