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

/// The project of a repository path (its first component).
fn project(repo: &str) -> &str {
    repo.split('/').next().unwrap_or(repo)
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
    let (mut images, plans) = walk.rows(&jobs, &unchanged, on_row).await;
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

mod attribution;
mod limits;
mod notes;
mod walk;

use attribution::{attribute_bytes, Kept, PlanBlobs};
use limits::{existing_repositories, repository_limit, stream_quotas, target_projects};
use notes::{external_import, signatures_invalidated};
use walk::Walk;

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
