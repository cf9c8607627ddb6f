//! The walk of `check`: each tag's manifests and configs read once,
//! its image plan built (the same pure function `run` executes), and the
//! target asked what it already holds; reads only. Source blob sizes and
//! target tag lists are looked up once each, whatever order the reads
//! finish in.

use super::*;

/// Source blob sizes, looked up once per repository and digest: a blob
/// can be linked into one repository and lost from another (after a
/// partial delete or a broken push), and `run` reads each blob from the
/// repository that needs it. Keyed by the digest alone, the answer would
/// depend on which repository's read asked first, and so would the report.
type Heads = crate::sync::OnceMap<(Arc<str>, Digest), OnceCell<BlobStat>>;

/// Each target repository's tags, listed once for the whole check (`None`
/// when the listing failed: its tags are then looked up one by one).
type Listings = crate::sync::OnceMap<String, OnceCell<Option<HashSet<String>>>>;

pub(super) struct Walk<'a> {
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
    pub(super) fn lookups(&self, plans: &PlanBlobs) -> Lookups {
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

/// The row of a tag `resync` found unchanged and still in the target:
/// done, with the journal's digests, nothing read.
fn unchanged_row(job: &TagJob, done: &crate::journal::DoneTag) -> ImageReport {
    let mut r = ImageReport::new(job.source_ref(), job.target_ref());
    r.action = CheckAction::Done;
    r.source_digest = Some(done.source_digest.clone());
    r.target_digest = Some(done.target_digest.clone());
    r
}

impl<'a> Walk<'a> {
    /// The walk over `jobs`: repositories with more than one tag of the
    /// plan are listed once instead of looking each tag up.
    pub(super) fn new(
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

impl Walk<'_> {
    /// Every tag's row, in plan order whatever order the reads finish in,
    /// `on_row` called with each; a tag `resync` found unchanged is done
    /// without reads.
    pub(super) async fn rows(
        &self,
        jobs: &[TagJob],
        unchanged: &crate::resync::Unchanged<'_>,
        on_row: &(dyn Fn(&ImageReport) + Sync),
    ) -> (Vec<ImageReport>, PlanBlobs) {
        let mut rows = futures::stream::iter(jobs.iter().enumerate().map(|(i, j)| async move {
            match unchanged.done.get(&i) {
                Some(done) => (unchanged_row(j, done), None),
                None => self.tag(j).await,
            }
        }))
        .buffered(self.plan.options.metadata_in_flight());
        let mut images: Vec<ImageReport> = Vec::with_capacity(jobs.len());
        let mut plans = PlanBlobs::with_rows(jobs.len());
        while let Some((row, kept)) = rows.next().await {
            on_row(&row);
            images.push(row);
            plans.push(kept);
        }
        plans.all.shrink_to_fit();
        (images, plans)
    }
}
