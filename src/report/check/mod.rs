//! The dry run: walks the same path as `run` (expand, read the manifests
//! and configs, build each tag's image plan with the same pure function
//! `run` executes) with reads only (GET and HEAD; no upload, no manifest
//! push, no journal write), and renders the plans: per image what will
//! happen, what changes or is lost, what is already there, how much must
//! travel, and what Rahti 2 would refuse.
//!
//! The report depends on its inputs alone: images are listed in plan order
//! and the bytes a blob costs are attributed to the first image of the plan
//! that needs it, whatever order the reads finished in.
//!
//! It costs about one request per manifest, config and unique target blob.
//! A source blob a manifest just read names with its size is taken as
//! present (the registry accepted that manifest only with its blobs) unless
//! `--verify-source-blobs` asks; a target repository with several tags in
//! the plan is listed once, and only the tags it lists are looked up. The
//! report's [`Lookups`] say which way each was decided.

use crate::expand::{self, TagJob};
use crate::image_plan::read;
use crate::image_plan::{self, finding, ImageOptions, ImagePlan, TargetTag};
use crate::journal::Replay;
use crate::oci::{Digest, ManifestKind};
use crate::plan::{ExternalImports, Plan};
use crate::registry::{BlobStat, Client, RegistryError};
use crate::session::{RunError, Session};
use futures::StreamExt;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::OnceCell;

pub use crate::image_plan::{Finding, PlanAction as CheckAction, Severity};

/// One tag in the report.
#[derive(Debug, Clone, Serialize)]
pub struct ImageReport {
    /// `repo:tag` in the source.
    pub source: String,
    /// Source manifest digest.
    pub source_digest: Option<Digest>,
    /// `docker-v2`, `docker-v1-signed`, `docker-v1`, `docker-list`,
    /// `oci-manifest` or `oci-index`.
    pub source_kind: Option<ManifestKind>,
    /// `repo:tag` in the target.
    pub target: String,
    /// What `run` would do.
    pub action: CheckAction,
    /// The kind pushed.
    pub target_kind: Option<ManifestKind>,
    /// The digest `run` will push, when it can be computed from manifests
    /// and configs alone.
    pub target_digest: Option<Digest>,
    /// Why `target_digest` is null.
    pub target_digest_reason: Option<String>,
    /// Platforms that will be copied (`os/arch[/variant]`). Rows with the
    /// same platforms share one list.
    pub platforms: Arc<[String]>,
    /// Layers (over all copied platforms).
    pub layers: usize,
    /// Bytes of all blobs (over all copied platforms).
    pub bytes: u64,
    /// Bytes that must travel: not in the target, not counted for an
    /// earlier image of the plan.
    pub bytes_to_transfer: u64,
    /// Findings. Rows with the same fixed-text findings share one list.
    pub findings: Arc<[Finding]>,
}

impl ImageReport {
    /// A report for a tag about which nothing is known yet.
    pub(crate) fn new(source: String, target: String) -> Self {
        ImageReport {
            source,
            source_digest: None,
            source_kind: None,
            target,
            action: CheckAction::Blocked,
            target_kind: None,
            target_digest: None,
            target_digest_reason: None,
            platforms: Arc::from([]),
            layers: 0,
            bytes: 0,
            bytes_to_transfer: 0,
            findings: Arc::from([]),
        }
    }

    /// Adds a finding.
    pub(crate) fn add(&mut self, f: Finding) {
        let mut all = self.findings.to_vec();
        all.push(f);
        self.findings = all.into();
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
    /// What was looked up and what was decided without a request.
    pub lookups: Lookups,
    /// What the check cannot know, since it never writes, and assumed.
    pub assumptions: Vec<&'static str>,
}

/// How the check learned what it did not read whole: which source blobs
/// it took as present, which target tags it looked up.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Lookups {
    /// Source blobs taken as present without a request: a manifest read
    /// from the source in this check names each with its size, and a
    /// registry accepts a manifest only when it holds the blobs it names.
    pub source_blobs_from_manifests: usize,
    /// Source blobs looked up (HEAD): schema 1 manifests give no sizes,
    /// and `--verify-source-blobs` looks every blob up.
    pub source_blobs_looked_up: usize,
    /// Target repositories whose tags were listed: a tag the list lacks
    /// is not looked up.
    pub target_repositories_listed: usize,
    /// Target tags looked up (HEAD): listed ones, and those of a
    /// repository that holds one tag of the plan or could not be listed.
    pub target_tags_looked_up: usize,
}

/// What a dry run cannot know: it never writes.
pub const ASSUMED_WRITES: &str = "the target accepts what run would write (blob uploads, the manifest types shown, new repositories): check reads only and cannot test a write; a registry that refuses them fails those images in run";

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

/// Source blob sizes, looked up once per repository and digest: a blob
/// can be linked into one repository and lost from another (after a
/// partial delete or a broken push), and `run` reads each blob from the
/// repository that needs it. Keyed by the digest alone, the answer would
/// depend on which repository's read asked first, and so would the report.
type Heads = crate::sync::OnceMap<(Arc<str>, Digest), OnceCell<BlobStat>>;

/// Each target repository's tags, listed once for the whole check (`None`
/// when the listing failed: its tags are then looked up one by one).
type Listings = crate::sync::OnceMap<String, OnceCell<Option<HashSet<String>>>>;

struct Walk<'a> {
    plan: &'a Plan,
    source: &'a Client,
    target: &'a Client,
    replay: &'a Replay,
    heads: Heads,
    /// Config blobs read, once each.
    configs: read::Configs,
    /// Look every source blob up, not only those a manifest gives no size.
    verify_source_blobs: bool,
    /// Target repositories with more than one tag in the plan: listing
    /// their tags costs less than a look-up per tag.
    listed: HashSet<String>,
    listings: Listings,
    target_heads: std::sync::atomic::AtomicUsize,
    /// Each distinct list of platforms, held once for all rows.
    platform_lists: Shared<String>,
    /// Each distinct list of fixed-text findings, held once for all rows.
    finding_lists: Shared<Finding>,
}

/// Lists that many rows repeat (the same platforms, the same fixed-text
/// findings), each held once: a plan may have many thousand rows.
struct Shared<T>(std::sync::Mutex<HashSet<Arc<[T]>>>);

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Shared(Default::default())
    }
}

impl<T: std::hash::Hash + Eq> Shared<T> {
    /// The shared list equal to `items`.
    fn get(&self, items: Vec<T>) -> Arc<[T]> {
        let Ok(mut lists) = self.0.lock() else {
            return items.into();
        };
        if let Some(l) = lists.get(items.as_slice()) {
            return l.clone();
        }
        let l: Arc<[T]> = items.into();
        lists.insert(l.clone());
        l
    }
}

impl Walk<'_> {
    async fn source_size(
        &self,
        repo: &Arc<str>,
        digest: &Digest,
    ) -> Result<BlobStat, RegistryError> {
        let cell = self.heads.get(&(repo.clone(), digest.clone()));
        cell.get_or_try_init(|| self.source.blob_head(repo, digest))
            .await
            .copied()
    }

    /// Whether the target holds `repo:tag`, from the repository's tag
    /// list (`None`: not listed, look the tag up).
    async fn listed(&self, repo: &str, tag: &str) -> Option<bool> {
        if !self.listed.contains(repo) {
            return None;
        }
        let cell = self.listings.get(&repo.to_string());
        let tags = cell
            .get_or_init(|| async {
                match self.target.tag_list(repo).await {
                    Ok(tags) => Some(tags.into_iter().collect()),
                    // A repository the target does not have has no tags
                    // (distribution says NAME_UNKNOWN); any other 404 may
                    // be a registry without the tag-list API: look the
                    // tags up one by one.
                    Err(RegistryError::Status {
                        status: 404,
                        detail,
                        ..
                    }) if detail.contains("NAME_UNKNOWN") => Some(HashSet::new()),
                    Err(e) => {
                        tracing::debug!(repository = repo, error = %e, "listing target tags failed; looking tags up one by one");
                        None
                    }
                }
            })
            .await;
        tags.as_ref().map(|t| t.contains(tag))
    }

    /// The target tag: absent when the repository's list lacks it,
    /// otherwise looked up.
    async fn target_tag(&self, job: &TagJob) -> Result<TargetTag, RegistryError> {
        if self.listed(&job.target_repo, &job.tag).await == Some(false) {
            return Ok(TargetTag::Missing);
        }
        self.target_heads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(TargetTag::from(
            self.target
                .manifest_head(&job.target_repo, &job.tag)
                .await?,
        ))
    }

    /// The tag's report and plan (no plan when the source could not be
    /// read).
    async fn tag(&self, job: &TagJob) -> (ImageReport, Option<Kept>) {
        match self.plan_tag(job).await {
            Ok(mut plan) => {
                let platforms = self.platform_lists.get(std::mem::take(&mut plan.platforms));
                let findings = std::mem::take(&mut plan.findings);
                // A message of its own (not fixed text) is this row's alone.
                let findings = match findings
                    .iter()
                    .all(|f| matches!(f.message, Cow::Borrowed(_)))
                {
                    true => self.finding_lists.get(findings),
                    false => findings.into(),
                };
                let (row, kept) = report_of(job, plan, platforms, findings);
                (row, Some(kept))
            }
            Err(e) => {
                let mut r = ImageReport::new(job.source_ref(), job.target_ref());
                r.add(finding(
                    crate::model::FindingCode::SourceError,
                    Severity::Blocker,
                    e.to_string(),
                ));
                (r, None)
            }
        }
    }

    /// Reads what `run` reads, plus the target tag and the source blobs'
    /// sizes, and builds the image plan `run` would execute.
    async fn plan_tag(&self, job: &TagJob) -> Result<ImagePlan, RegistryError> {
        let top = self
            .source
            .manifest_get(&job.source_repo, &job.reference())
            .await?;
        // A history image has no tag in the target.
        let target = match job.history {
            Some(_) => TargetTag::Unknown,
            None => self.target_tag(job).await?,
        };
        let mut read = read::read_rest(
            self.source,
            &self.configs,
            &job.source_repo,
            top,
            job.format,
            &job.platforms,
        )
        .await?;
        let done = self.replay.done.get(&(job.source_ref(), job.target_ref()));
        let opts = ImageOptions {
            format: job.format,
            platforms: &job.platforms,
            max_image_size: self.plan.limits.max_image_size,
        };
        let facts = &self.replay.facts;
        let first = image_plan::plan_image(&read, opts, facts, done, &target);
        // A blob the manifest gives with its size is not looked up: the
        // source accepted that manifest only with its blobs.
        let unsized_blobs: Vec<_> = first
            .blobs
            .iter()
            .filter(|b| self.verify_source_blobs || b.size.is_none())
            .collect();
        if unsized_blobs.is_empty() {
            // Nothing learned: planning again would give the same plan.
            return Ok(first);
        }
        let sizes = futures::future::try_join_all(unsized_blobs.into_iter().map(|b| async move {
            let n = self.source_size(&job.source_repo, &b.desc.digest).await?;
            Ok::<_, RegistryError>((b.desc.digest.clone(), n))
        }))
        .await?;
        // Missing, or present with a size; present without one (a
        // registry that sends no Content-Length) keeps the manifest's.
        read.sizes = sizes
            .into_iter()
            .filter_map(|(d, st)| match st {
                BlobStat::Absent => Some((d, None)),
                BlobStat::Present(Some(n)) => Some((d, Some(n))),
                BlobStat::Present(None) => None,
            })
            .collect();
        Ok(image_plan::plan_image(&read, opts, facts, done, &target))
    }

    /// What the walk looked up, once it is over.
    fn lookups(&self, plans: &PlanBlobs) -> Lookups {
        let named: HashSet<&Digest> = plans.all.iter().map(|(d, _)| d).collect();
        let (from_manifests, looked_up) = self.heads.with(|h| {
            let heads: HashSet<&Digest> = h.keys().map(|(_, d)| d).collect();
            (
                named.iter().filter(|d| !heads.contains(**d)).count(),
                h.len(),
            )
        });
        Lookups {
            source_blobs_from_manifests: from_manifests,
            source_blobs_looked_up: looked_up,
            target_repositories_listed: self.listings.with(|l| {
                l.values()
                    .filter(|c| matches!(c.get(), Some(Some(_))))
                    .count()
            }),
            target_tags_looked_up: self.target_heads.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// The report row of a plan, and what the rest of the check needs of it.
fn report_of(
    job: &TagJob,
    plan: ImagePlan,
    platforms: Arc<[String]>,
    findings: Arc<[Finding]>,
) -> (ImageReport, Kept) {
    // Borrowed, not `into_iter`: collecting in place would keep the plan's
    // far larger allocation alive.
    let blobs = plan
        .blobs
        .iter()
        .map(|b| (b.desc.digest.clone(), b.size.unwrap_or(0)))
        .collect();
    let row = ImageReport {
        source: job.source_ref(),
        source_digest: Some(plan.source_digest),
        source_kind: Some(plan.source_kind),
        target: job.target_ref(),
        action: plan.action,
        target_kind: Some(plan.target_kind),
        target_digest: plan.target_digest,
        target_digest_reason: plan.target_digest_reason,
        platforms,
        layers: plan.layers,
        bytes: plan.bytes,
        bytes_to_transfer: 0,
        findings,
    };
    (row, blobs)
}

/// The project of a repository path (its first component).
fn project(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
}

/// The row of a tag `resync` found unchanged and still in the target:
/// done, with the journal's digests, nothing read.
fn unchanged_row(job: &TagJob, done: &crate::journal::DoneTag) -> ImageReport {
    let mut r = ImageReport::new(job.source_ref(), job.target_ref());
    r.action = CheckAction::Done;
    r.source_digest = Some(done.source_digest.clone());
    r.target_digest = Some(done.target_digest.clone());
    r
}

/// Runs the check: reads only. `verify_source_blobs` looks up every
/// source blob, also those a manifest just read gives with their size.
pub async fn check(
    plan: &Plan,
    bandwidth_bits_per_second: u64,
    verify_source_blobs: bool,
) -> Result<CheckReport, RunError> {
    check_with(
        plan,
        bandwidth_bits_per_second,
        verify_source_blobs,
        &|_| {},
    )
    .await
}

/// [`check`], calling `on_row` with each image's row as it is planned (in
/// plan order), for progress displays.
pub async fn check_with(
    plan: &Plan,
    bandwidth_bits_per_second: u64,
    verify_source_blobs: bool,
    on_row: &(dyn Fn(&ImageReport) + Sync),
) -> Result<CheckReport, RunError> {
    let session = Session::open(plan).await?;
    let replay = Session::replay(plan)?;
    let expand::Expansion {
        jobs,
        failures,
        ignored,
        discovered,
    } = session.expand(plan).await;
    // What the image streams show unchanged since it was copied: done,
    // without reads (as `run` skips it).
    let unchanged = crate::resync::unchanged(
        &session,
        &jobs,
        &discovered.current,
        &replay,
        plan.options.metadata_in_flight(),
    )
    .await;
    let Session {
        source,
        target,
        target_api,
        ..
    } = session;
    let walk = Walk::new(plan, &source, &target, &replay, verify_source_blobs, &jobs);
    // In plan order, whatever order the reads finish in.
    let walk = &walk;
    let unchanged = &unchanged;
    let mut rows = futures::stream::iter(jobs.iter().enumerate().map(|(i, j)| async move {
        match unchanged.done.get(&i) {
            Some(done) => (unchanged_row(j, done), None),
            None => walk.tag(j).await,
        }
    }))
    .buffered(plan.options.metadata_in_flight());
    let mut images: Vec<ImageReport> = Vec::with_capacity(jobs.len());
    let mut plans = PlanBlobs::with_rows(jobs.len());
    while let Some((row, kept)) = rows.next().await {
        on_row(&row);
        images.push(row);
        plans.push(kept);
    }
    plans.all.shrink_to_fit();
    drop(rows);
    signatures_invalidated(&jobs, &mut images);
    let lookups = walk.lookups(&plans);
    discovery_rows(&jobs, &discovered, ignored, failures, &mut images);
    let targets: Vec<&str> = jobs.iter().map(|j| j.target_repo.as_ref()).collect();
    let existing = existing_repositories(&target, target_api.as_ref(), &targets).await;
    if let Some(limit) = plan.limits.max_repositories_per_project {
        repository_limit(&existing, &targets, limit, &mut images);
    }
    if let Some(api) = &target_api {
        target_projects(api, &targets, &mut images).await;
        stream_quotas(api, &existing, &targets, &mut images).await;
    }
    let mut summary = Summary {
        images: images.len(),
        bandwidth_bits_per_second,
        lookups,
        assumptions: vec![ASSUMED_WRITES],
        ..Summary::default()
    };
    attribute_bytes(
        &target,
        plan.options.metadata_in_flight(),
        &jobs,
        &plans,
        &mut images,
        &mut summary,
    )
    .await;
    count(&mut summary, &images);
    Ok(CheckReport { images, summary })
}

/// The rows discovery gives beside the tags' own: imports from other
/// registries (a note on a copied tag, a row of its own when left out or
/// referenced), stream notes, skipped invalid names, and listings that
/// failed.
fn discovery_rows(
    jobs: &[TagJob],
    discovered: &expand::Discovered,
    ignored: Vec<expand::IgnoredNames>,
    failures: Vec<expand::ExpandFailure>,
    images: &mut Vec<ImageReport>,
) {
    // Tags a project imported from another registry: noted on the copied
    // ones, listed (not copied) when the plan leaves them out or
    // references them.
    for (j, im) in jobs.iter().zip(images.iter_mut()) {
        if let Some(from) = discovered
            .external
            .get(&(j.source_repo.to_string(), j.tag.to_string()))
        {
            im.add(external_import(from, ExternalImports::Copy));
        }
    }
    for ((repo, tag), from) in &discovered.external {
        let mode = discovered
            .modes
            .get(repo)
            .copied()
            .unwrap_or(ExternalImports::Copy);
        if mode == ExternalImports::Copy {
            continue;
        }
        let target = discovered
            .specs
            .iter()
            .find(|s| &s.source == repo)
            .map(|s| s.target.clone())
            .unwrap_or_else(|| repo.clone());
        let mut r = ImageReport::new(format!("{repo}:{tag}"), format!("{target}:{tag}"));
        r.action = CheckAction::Skip;
        r.add(external_import(from, mode));
        images.push(r);
    }
    // What discovery found about tags and streams: on the row of a tag
    // still copied, else a row of its own (left out).
    for n in &discovered.notes {
        let f = finding(
            n.code,
            if n.warning {
                Severity::Warning
            } else {
                Severity::Info
            },
            n.message.clone(),
        );
        match images.iter_mut().find(|i| n.copied && i.source == n.source) {
            Some(row) => row.add(f),
            None => {
                let mut r = ImageReport::new(n.source.clone(), n.target.clone());
                r.action = CheckAction::Skip;
                r.add(f);
                images.push(r);
            }
        }
    }
    for i in ignored {
        let mut r = ImageReport::new(i.source_repo.clone(), i.target_repo.clone());
        r.action = CheckAction::Skip;
        r.add(finding(
            crate::model::FindingCode::InvalidTagName,
            Severity::Warning,
            i.message(),
        ));
        images.push(r);
    }
    for f in failures {
        let mut r = ImageReport::new(f.source_repo.clone(), f.target_repo.clone());
        r.add(finding(
            crate::model::FindingCode::SourceError,
            Severity::Blocker,
            format!("listing tags: {}", f.error),
        ));
        images.push(r);
    }
}

/// The summary's counts over the rows: by action and source kind,
/// findings by severity, bytes per target repository and in all, and the
/// transfer time at the summary's bandwidth.
fn count(summary: &mut Summary, images: &[ImageReport]) {
    let mut repos: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for im in images {
        *summary
            .by_action
            .entry(im.action.name().to_string())
            .or_default() += 1;
        *summary
            .by_source_kind
            .entry(
                im.source_kind
                    .map_or("unknown", ManifestKind::name)
                    .to_string(),
            )
            .or_default() += 1;
        for f in im.findings.iter() {
            match f.severity {
                Severity::Blocker => summary.blockers += 1,
                Severity::Warning => summary.warnings += 1,
                Severity::Info => {}
            }
        }
        let repo = im.target.split(':').next().unwrap_or("").to_string();
        let e = repos.entry(repo).or_default();
        e.0 = e.0.saturating_add(im.bytes);
        e.1 = e.1.saturating_add(im.bytes_to_transfer);
        summary.bytes_to_transfer = summary
            .bytes_to_transfer
            .saturating_add(im.bytes_to_transfer);
    }
    summary.repositories = repos
        .into_iter()
        .map(|(repository, (bytes, bytes_to_transfer))| RepoBytes {
            repository,
            bytes,
            bytes_to_transfer,
        })
        .collect();
    summary.estimated_transfer_seconds =
        summary.bytes_to_transfer as f64 * 8.0 / summary.bandwidth_bits_per_second.max(1) as f64;
}

impl<'a> Walk<'a> {
    /// The walk over `jobs`: repositories with more than one tag of the
    /// plan are listed once instead of looking each tag up.
    fn new(
        plan: &'a Plan,
        source: &'a Client,
        target: &'a Client,
        replay: &'a Replay,
        verify_source_blobs: bool,
        jobs: &[TagJob],
    ) -> Walk<'a> {
        let mut tagged: HashMap<&str, usize> = HashMap::new();
        for j in jobs.iter().filter(|j| j.history.is_none()) {
            *tagged.entry(j.target_repo.as_ref()).or_default() += 1;
        }
        Walk {
            plan,
            source,
            target,
            replay,
            heads: Default::default(),
            configs: Default::default(),
            verify_source_blobs,
            listed: tagged
                .into_iter()
                .filter(|(_, n)| *n > 1)
                .map(|(r, _)| r.to_string())
                .collect(),
            listings: Default::default(),
            target_heads: Default::default(),
            platform_lists: Default::default(),
            finding_lists: Default::default(),
        }
    }
}

mod attribution;
mod limits;
mod notes;

use attribution::{attribute_bytes, Kept, PlanBlobs};
use limits::{existing_repositories, repository_limit, stream_quotas, target_projects};
use notes::{external_import, signatures_invalidated};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_small() {
        // The report holds one per tag until it is written (the size
        // README's Performance section quotes).
        assert!(std::mem::size_of::<ImageReport>() <= 216);
    }
}
