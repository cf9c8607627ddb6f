//! The dry run: walks the same path as `run` (expand, resolve manifests,
//! decide and compute the conversion, look up the target) with reads only
//! (GET and HEAD; no upload, no manifest push, no journal write), and says
//! per image what will happen, what changes or is lost, what is already
//! there, how much must travel, and what Rahti 2 would refuse.

use crate::convert::{self, Action, ChildOut, ConvertError, LayerFacts};
use crate::copy::{connect, RunError};
use crate::expand::{self, TagJob};
use crate::journal::{self, Replay};
use crate::oci::{Descriptor, Digest, Manifest, ManifestKind};
use crate::plan::Plan;
use crate::registry::{Client, RegistryError};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Good to know.
    Info,
    /// Something changes or is lost.
    Warning,
    /// The image will not migrate as planned.
    Blocker,
}

/// One thing the check found about an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `config-fields-dropped`.
    pub code: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What it means for this image.
    pub message: String,
}

/// What `run` would do with an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum CheckAction {
    /// Copied as it is.
    Copy,
    /// Converted.
    Convert,
    /// The target tag already has the predicted digest.
    AlreadyPresent,
    /// The journal says done and the source is unchanged.
    Done,
    /// A blocker stops it.
    Blocked,
}

impl CheckAction {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            CheckAction::Copy => "copy",
            CheckAction::Convert => "convert",
            CheckAction::AlreadyPresent => "already-present",
            CheckAction::Done => "done",
            CheckAction::Blocked => "blocked",
        }
    }
}

/// One tag in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// `repo:tag` in the source.
    pub source: String,
    /// Source manifest digest.
    pub source_digest: Option<Digest>,
    /// `docker-v2`, `docker-v1-signed`, `docker-v1`, `docker-list`,
    /// `oci-manifest` or `oci-index`.
    pub source_kind: Option<&'static str>,
    /// `repo:tag` in the target.
    pub target: String,
    /// What `run` would do.
    pub action: CheckAction,
    /// The kind pushed.
    pub target_kind: Option<&'static str>,
    /// The digest `run` will push, when it can be computed from manifests
    /// and configs alone.
    pub target_digest: Option<Digest>,
    /// Why `target_digest` is null.
    pub target_digest_reason: Option<String>,
    /// Platforms that will be copied (`os/arch[/variant]`).
    pub platforms: Vec<String>,
    /// Layers (over all copied platforms).
    pub layers: usize,
    /// Bytes of all blobs (over all copied platforms).
    pub bytes: u64,
    /// Bytes that must travel: not in the target, not counted for an
    /// earlier image of the plan.
    pub bytes_to_transfer: u64,
    /// Findings.
    pub findings: Vec<Finding>,
}

impl ImageReport {
    /// A report for a tag about which nothing is known yet.
    fn new(source: String, target: String) -> Self {
        ImageReport {
            source,
            source_digest: None,
            source_kind: None,
            target,
            action: CheckAction::Blocked,
            target_kind: None,
            target_digest: None,
            target_digest_reason: None,
            platforms: Vec::new(),
            layers: 0,
            bytes: 0,
            bytes_to_transfer: 0,
            findings: Vec::new(),
        }
    }
}

/// Bytes per target repository.
#[derive(Debug, Clone, Serialize)]
pub struct RepoBytes {
    /// Target repository.
    pub repository: String,
    /// All bytes of its images.
    pub bytes: u64,
    /// Bytes to transfer for it.
    pub bytes_to_transfer: u64,
}

/// Totals.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    /// Images (tags) checked.
    pub images: usize,
    /// Images by action.
    pub by_action: BTreeMap<String, usize>,
    /// Images by source kind.
    pub by_source_kind: BTreeMap<String, usize>,
    /// Unique blobs that must travel.
    pub unique_blobs_to_transfer: usize,
    /// Their bytes.
    pub bytes_to_transfer: u64,
    /// Bytes of blobs the target already holds.
    pub bytes_already_present: u64,
    /// Findings of severity blocker.
    pub blockers: usize,
    /// Findings of severity warning.
    pub warnings: usize,
    /// Bandwidth assumed, bits per second.
    pub bandwidth_bits_per_second: u64,
    /// `bytes_to_transfer` at that bandwidth, in seconds.
    pub estimated_transfer_seconds: f64,
    /// Bytes per target repository.
    pub repositories: Vec<RepoBytes>,
}

/// The compatibility report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CheckReport {
    /// One entry per tag, in plan order.
    pub images: Vec<ImageReport>,
    /// Totals.
    pub summary: Summary,
}

impl CheckReport {
    /// True when some image is blocked.
    pub fn has_blockers(&self) -> bool {
        self.summary.blockers > 0
    }
}

/// Parses a bandwidth: `100Mbit`, `1Gbit`, `500kbit`, `50MB/s` (bytes),
/// or a bare number of Mbit/s. Returns bits per second.
pub fn parse_bandwidth(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_lowercase().replace(' ', "");
    let t = t.trim_end_matches("/s").trim_end_matches("ps");
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit {
        "" | "mbit" => 1e6,
        "bit" => 1.0,
        "kbit" => 1e3,
        "gbit" => 1e9,
        "b" => 8.0,
        "kb" => 8e3,
        "mb" => 8e6,
        "gb" => 8e9,
        _ => return None,
    };
    let v = (n * mult) as u64;
    (v > 0).then_some(v)
}

struct Walk<'a> {
    plan: &'a Plan,
    source: &'a Client,
    target: &'a Client,
    replay: &'a Replay,
    /// Blobs already counted for transfer (or found present) in this check.
    seen: Mutex<HashSet<(String, Digest)>>,
    seen_global: Mutex<HashMap<Digest, bool>>,
    /// Bytes of blobs the target already holds.
    present_bytes: Mutex<u64>,
}

fn finding(code: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
    Finding {
        code,
        severity,
        message: message.into(),
    }
}

const KNOWN_LAYER_TYPES: &[&str] = &[
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
];

/// What the walk learnt about one single-platform image.
struct One {
    pushed: Option<(Digest, u64, &'static str)>,
    reason: Option<String>,
    layers: usize,
    bytes: u64,
    to_transfer: u64,
    dropped: Vec<String>,
}

impl Walk<'_> {
    async fn one(
        &self,
        job: &TagJob,
        m: &Manifest,
        findings: &mut Vec<Finding>,
    ) -> Result<One, RegistryError> {
        let action = convert::decide(job.format, m.kind);
        let mut one = One {
            pushed: None,
            reason: None,
            layers: m.layers.len(),
            bytes: 0,
            to_transfer: 0,
            dropped: Vec::new(),
        };
        for l in &m.layers {
            if !l.urls.is_empty() {
                findings.push(finding(
                    "foreign-layer",
                    Severity::Warning,
                    format!("layer {} is served from {} and is not copied; the target must be allowed to reference it", l.digest, l.urls.join(", ")),
                ));
            } else if l.media_type.contains("nondistributable") || l.media_type.contains("foreign")
            {
                findings.push(finding(
                    "non-distributable-layer",
                    Severity::Warning,
                    format!(
                        "layer {} has the non-distributable type {} but no URLs; it is copied",
                        l.digest, l.media_type
                    ),
                ));
            }
            if !m.kind.is_index()
                && !matches!(
                    m.kind,
                    ManifestKind::DockerV1 | ManifestKind::DockerV1Signed
                )
                && !KNOWN_LAYER_TYPES.contains(&l.media_type.as_str())
            {
                findings.push(finding(
                    "unknown-media-type",
                    Severity::Blocker,
                    format!(
                        "layer {} has the unknown media type {:?}",
                        l.digest, l.media_type
                    ),
                ));
            }
        }
        let mut facts = HashMap::new();
        for b in m.blobs() {
            let size = match self.source.blob_head(&job.source_repo, &b.digest).await? {
                Some(n) => n,
                None => {
                    findings.push(finding(
                        "missing-blob",
                        Severity::Blocker,
                        format!(
                            "the source does not serve blob {} that the manifest references",
                            b.digest
                        ),
                    ));
                    b.size.unwrap_or(0)
                }
            };
            one.bytes += size;
            if let Some(f) = self.replay.facts.get(&b.digest) {
                facts.insert(b.digest.clone(), f.clone());
            }
            let key = (job.target_repo.clone(), b.digest.clone());
            if !self.seen.lock().map(|mut s| s.insert(key)).unwrap_or(false) {
                continue;
            }
            let known_globally = self
                .seen_global
                .lock()
                .ok()
                .and_then(|g| g.get(&b.digest).copied());
            match known_globally {
                // Another image of the plan brings it: a mount, no transfer.
                Some(_) => {}
                None => {
                    let present = self
                        .target
                        .blob_head(&job.target_repo, &b.digest)
                        .await?
                        .is_some();
                    if present {
                        if let Ok(mut p) = self.present_bytes.lock() {
                            *p += size;
                        }
                    } else {
                        one.to_transfer += size;
                    }
                    if let Ok(mut g) = self.seen_global.lock() {
                        g.insert(b.digest.clone(), present);
                    }
                }
            }
        }
        if let Some(max) = self.plan.limits.max_image_size {
            if one.bytes > max {
                findings.push(finding(
                    "image-too-large",
                    Severity::Blocker,
                    format!(
                        "{} is larger than the target's limit of {}",
                        super::human_bytes(one.bytes),
                        super::human_bytes(max)
                    ),
                ));
            }
        }
        match action {
            Action::Keep => {
                one.pushed = Some((m.digest.clone(), m.raw.len() as u64, m.kind.media_type()))
            }
            _ if matches!(
                m.kind,
                ManifestKind::DockerV1 | ManifestKind::DockerV1Signed
            ) =>
            {
                let needed = convert::schema1::needed_layers(&m.raw);
                let have_all = needed
                    .as_ref()
                    .map(|n| n.iter().all(|d| facts.contains_key(d)))
                    .unwrap_or(false);
                if have_all {
                    self.convert(job, m, action, None, &facts, &mut one, findings);
                } else if let Err(e) = needed {
                    findings.push(finding(
                        "conversion-error",
                        Severity::Blocker,
                        e.to_string(),
                    ));
                } else {
                    if action == Action::ToOci {
                        one.dropped = convert::schema1::dropped_fields(&m.raw).unwrap_or_default();
                    }
                    one.reason = Some("schema 1 conversion needs the layers' diff_ids, known only once the layers are read (run computes them while copying)".into());
                }
            }
            _ => {
                let config = match &m.config {
                    Some(c) => Some(
                        self.source
                            .blob_bytes(&job.source_repo, &c.digest, 4 << 20)
                            .await?,
                    ),
                    None => None,
                };
                self.convert(
                    job,
                    m,
                    action,
                    config.as_deref(),
                    &facts,
                    &mut one,
                    findings,
                );
            }
        }
        Ok(one)
    }

    #[allow(clippy::too_many_arguments)]
    fn convert(
        &self,
        job: &TagJob,
        m: &Manifest,
        action: Action,
        config: Option<&[u8]>,
        facts: &HashMap<Digest, LayerFacts>,
        one: &mut One,
        findings: &mut Vec<Finding>,
    ) {
        match convert::image(action, m.kind, &m.raw, config, facts) {
            Ok(c) => {
                one.pushed = Some((c.digest.clone(), c.manifest.len() as u64, c.media_type));
                if !c.dropped.is_empty() {
                    one.dropped = c.dropped;
                }
            }
            Err(e) => {
                let code = if matches!(e, ConvertError::Layer { .. } | ConvertError::Artifact(_)) {
                    "unknown-media-type"
                } else {
                    "conversion-error"
                };
                findings.push(finding(
                    code,
                    Severity::Blocker,
                    format!("cannot convert to {}: {e}", job.format.name()),
                ));
            }
        }
    }

    async fn tag(&self, job: &TagJob) -> ImageReport {
        let mut r = ImageReport::new(job.source_ref(), job.target_ref());
        if let Err(e) = self.tag_inner(job, &mut r).await {
            r.findings
                .push(finding("source-error", Severity::Blocker, e.to_string()));
        }
        r.action = if r.findings.iter().any(|f| f.severity == Severity::Blocker) {
            CheckAction::Blocked
        } else {
            r.action
        };
        r
    }

    async fn tag_inner(&self, job: &TagJob, r: &mut ImageReport) -> Result<(), RegistryError> {
        let m = self.source.manifest_get(&job.source_repo, &job.tag).await?;
        r.source_digest = Some(m.digest.clone());
        r.source_kind = Some(m.kind.name());
        let action = convert::decide(job.format, m.kind);
        r.target_kind = Some(convert::target_kind(action, m.kind).name());
        let mut findings = Vec::new();
        if matches!(
            m.kind,
            ManifestKind::DockerV1 | ManifestKind::DockerV1Signed
        ) {
            findings.push(finding(
                "schema1-manifest",
                Severity::Warning,
                "Docker schema 1 is deprecated; converting it means reading every layer to compute its diff_id, and the digest changes",
            ));
        }
        let mut dropped = Vec::new();
        let pushed = if m.kind.is_index() {
            let all: Vec<String> = m
                .manifests
                .iter()
                .map(|d| {
                    d.platform
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "unknown".into())
                })
                .collect();
            let selected: Vec<(usize, &Descriptor)> = m
                .manifests
                .iter()
                .enumerate()
                .filter(|(_, d)| job.platforms.wants(d.platform.as_ref()))
                .collect();
            r.platforms = selected
                .iter()
                .map(|(_, d)| {
                    d.platform
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "unknown".into())
                })
                .collect();
            findings.push(finding(
                "multi-arch",
                Severity::Info,
                format!(
                    "platforms found: {}; copied: {}",
                    all.join(", "),
                    r.platforms.join(", ")
                ),
            ));
            let mut outs = Vec::new();
            let mut unknown = None;
            for (pos, d) in selected {
                let child = self
                    .source
                    .manifest_get(&job.source_repo, &d.digest.to_string())
                    .await?;
                let one = self.one(job, &child, &mut findings).await?;
                r.layers += one.layers;
                r.bytes += one.bytes;
                r.bytes_to_transfer += one.to_transfer;
                dropped.extend(one.dropped);
                match one.pushed {
                    Some((digest, size, media_type)) => outs.push(ChildOut {
                        position: pos,
                        digest,
                        size,
                        media_type,
                        config_platform: None,
                    }),
                    None => {
                        unknown = one
                            .reason
                            .or(Some("a platform's digest cannot be predicted".into()))
                    }
                }
            }
            match unknown {
                Some(reason) => {
                    r.target_digest_reason = Some(reason);
                    None
                }
                None => match convert::index(action, m.kind, &m.raw, &outs) {
                    Ok(c) => Some(c.digest),
                    Err(e) => {
                        findings.push(finding(
                            "conversion-error",
                            Severity::Blocker,
                            e.to_string(),
                        ));
                        None
                    }
                },
            }
        } else {
            let one = self.one(job, &m, &mut findings).await?;
            r.layers = one.layers;
            r.bytes = one.bytes;
            r.bytes_to_transfer = one.to_transfer;
            dropped = one.dropped;
            r.target_digest_reason = one.reason;
            one.pushed.map(|p| p.0)
        };
        dropped.sort();
        dropped.dedup();
        if !dropped.is_empty() {
            findings.push(finding(
                "config-fields-dropped",
                Severity::Warning,
                format!(
                    "the {} conversion drops {}; set format = \"docker\" or \"preserve\" for this image to keep them",
                    job.format.name(),
                    dropped.join(", ")
                ),
            ));
        }
        match &pushed {
            Some(d) if *d != m.digest => findings.push(finding(
                "digest-changes",
                Severity::Info,
                format!(
                    "digest changes: {} -> {d}; update deployments that pin the old digest",
                    m.digest
                ),
            )),
            None if action != Action::Keep => findings.push(finding(
                "digest-changes",
                Severity::Info,
                format!(
                    "digest changes from {}; the new digest is known after the copy",
                    m.digest
                ),
            )),
            _ => {}
        }
        r.target_digest = pushed.clone();
        r.action = if action == Action::Keep {
            CheckAction::Copy
        } else {
            CheckAction::Convert
        };
        let now = self
            .target
            .manifest_head(&job.target_repo, &job.tag)
            .await?;
        let done = self.replay.done.get(&(job.source_ref(), job.target_ref()));
        if let Some(done) =
            done.filter(|d| d.source_digest == m.digest && d.format == job.format.name())
        {
            if now.as_ref() == Some(&done.target_digest) {
                r.action = CheckAction::Done;
                r.target_digest = Some(done.target_digest.clone());
                r.target_digest_reason = None;
                r.bytes_to_transfer = 0;
            }
        } else if let (Some(now), Some(p)) = (&now, &pushed) {
            if now == p {
                r.action = CheckAction::AlreadyPresent;
                r.bytes_to_transfer = 0;
                findings.push(finding(
                    "already-present",
                    Severity::Info,
                    format!("the target tag already points at {p}"),
                ));
            }
        }
        r.findings.extend(findings);
        Ok(())
    }
}

/// The project of a repository path (its first component).
fn project(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

/// Runs the check: reads only.
pub async fn check(plan: &Plan, bandwidth_bits_per_second: u64) -> Result<CheckReport, RunError> {
    let (source, target) = connect(plan).await?;
    let (replay, _) = journal::read(&plan.options.journal)?;
    let (jobs, failures) = expand::expand(plan, &source).await;
    let walk = Walk {
        plan,
        source: &source,
        target: &target,
        replay: &replay,
        seen: Mutex::new(HashSet::new()),
        seen_global: Mutex::new(HashMap::new()),
        present_bytes: Mutex::new(0),
    };
    // Images in plan order; the walk is concurrent but byte accounting
    // (first image to need a blob pays for it) follows completion order.
    let mut images: Vec<ImageReport> = futures::stream::iter(jobs.iter().map(|j| walk.tag(j)))
        .buffered(plan.options.concurrency)
        .collect()
        .await;
    for f in failures {
        let mut r = ImageReport::new(f.source_repo.clone(), f.target_repo.clone());
        r.findings = vec![finding(
            "source-error",
            Severity::Blocker,
            format!("listing tags: {}", f.error),
        )];
        images.push(r);
    }
    if let Some(limit) = plan.limits.max_repositories_per_project {
        let existing: HashSet<String> = target
            .catalog()
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut per_project: BTreeMap<&str, (HashSet<String>, HashSet<String>)> = BTreeMap::new();
        for r in existing.iter() {
            per_project
                .entry(project(r))
                .or_default()
                .0
                .insert(r.clone());
        }
        for s in &plan.images {
            let e = per_project.entry(project(&s.target)).or_default();
            if !e.0.contains(&s.target) {
                e.1.insert(s.target.clone());
            }
        }
        for (proj, (have, new)) in &per_project {
            let total = have.len() + new.len();
            if total as u64 > limit && !new.is_empty() {
                for im in images.iter_mut().filter(|i| {
                    let repo = i.target.split(':').next().unwrap_or("");
                    project(repo) == *proj && new.contains(repo)
                }) {
                    im.findings.push(finding(
                        "too-many-repositories",
                        Severity::Blocker,
                        format!(
                            "project {proj} would hold {total} repositories ({} there now, {} new), over the limit of {limit}",
                            have.len(),
                            new.len()
                        ),
                    ));
                    im.action = CheckAction::Blocked;
                }
            }
        }
    }
    let mut summary = Summary {
        images: images.len(),
        bandwidth_bits_per_second,
        ..Summary::default()
    };
    let mut repos: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for im in &images {
        *summary
            .by_action
            .entry(im.action.name().to_string())
            .or_default() += 1;
        *summary
            .by_source_kind
            .entry(im.source_kind.unwrap_or("unknown").to_string())
            .or_default() += 1;
        for f in &im.findings {
            match f.severity {
                Severity::Blocker => summary.blockers += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => {}
            }
        }
        let repo = im.target.split(':').next().unwrap_or("").to_string();
        let e = repos.entry(repo).or_default();
        e.0 += im.bytes;
        e.1 += im.bytes_to_transfer;
        summary.bytes_to_transfer += im.bytes_to_transfer;
    }
    if let Ok(g) = walk.seen_global.lock() {
        summary.unique_blobs_to_transfer = g.values().filter(|present| !**present).count();
    }
    summary.bytes_already_present = walk.present_bytes.lock().map(|p| *p).unwrap_or(0);
    summary.repositories = repos
        .into_iter()
        .map(|(repository, (bytes, bytes_to_transfer))| RepoBytes {
            repository,
            bytes,
            bytes_to_transfer,
        })
        .collect();
    summary.estimated_transfer_seconds =
        summary.bytes_to_transfer as f64 * 8.0 / bandwidth_bits_per_second.max(1) as f64;
    Ok(CheckReport { images, summary })
}
