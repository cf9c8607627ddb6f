//! The copy engine: runs the tag jobs of a plan with bounded concurrency,
//! and emits [`Event`]s that the CLI renders and the reports count.
//!
//! For each tag: resolve the source manifest; skip it if the journal says
//! it is done and the target still has it; else read what the image plan
//! needs (`read`), plan it (`image_plan`, shared with `check`) and execute
//! the plan: make every blob present (`blob`), push configs, child
//! manifests by digest, then the index by digest, and the tag last, so a
//! tag never points at an incomplete image. Each step is journaled only
//! after the registry accepted it and the digest matched. An image fails
//! alone, with a kind (`error`); a journal failure stops the run.

pub mod blob;
mod chunked;
pub mod diffid;
pub mod error;
mod image;
pub mod image_plan;
mod placement;
pub mod read;
mod spill;

pub use error::{BlobError, CopyError};

use crate::expand::{self, TagJob};
use crate::journal::{BlobHow, Journal, JournalError, Record};
use crate::model::FailureKind;
use crate::oci::{Digest, Manifest, ManifestKind};
use crate::plan::Plan;
use crate::registry::{Client, Credentials, RegistryError, RetryPolicy};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// Something the engine did, for progress displays and logs.
#[derive(Debug, Clone)]
pub enum Event {
    /// The plan was expanded.
    Expanded {
        /// Tags to look at.
        tags: usize,
        /// `[[images]]` entries whose tags could not be listed.
        failed_repositories: usize,
    },
    /// A tag is being copied.
    ImageStarted {
        /// `repo:tag` in the source.
        source: String,
    },
    /// A tag was already done and unchanged.
    ImageSkipped {
        /// `repo:tag` in the source.
        source: String,
    },
    /// A tag was copied.
    ImageDone {
        /// `repo:tag` in the source.
        source: String,
        /// `repo:tag` in the target.
        target: String,
        /// What the target tag now points at.
        target_digest: Digest,
        /// Config fields its conversion dropped that may change how a
        /// container runs (build metadata is left out).
        dropped: Vec<String>,
    },
    /// A tag imported from elsewhere was referenced on the target: an
    /// image stream tag importing from the same external image.
    ImageReferenced {
        /// `repo:tag` in the source.
        source: String,
        /// The external reference it imports from.
        from: String,
    },
    /// An alias was recreated on the target: an image stream tag that
    /// follows another tag of its stream.
    ImageAliased {
        /// `repo:tag` in the source.
        source: String,
        /// `repo:tag` in the target it follows.
        of: String,
    },
    /// A tag failed; nothing was tagged for it.
    ImageFailed {
        /// `repo:tag` (or `repo`) in the source.
        source: String,
        /// Which side failed.
        kind: FailureKind,
        /// The error.
        error: String,
    },
    /// Invalid names in a repository's tag list that the plan does not
    /// select: skipped, and not a failure.
    NamesIgnored {
        /// The source repository.
        source: String,
        /// How many names.
        count: usize,
        /// What to tell the user (names as the registry sent them: escape
        /// before printing).
        message: String,
    },
    /// A non-fatal note about an image.
    Warning {
        /// `repo:tag` in the source.
        source: String,
        /// What to know.
        message: String,
    },
    /// A blob started streaming.
    BlobStarted {
        /// Its digest.
        digest: Digest,
        /// Its size, if known.
        size: Option<u64>,
    },
    /// More bytes of a blob were streamed.
    BlobBytes {
        /// Its digest.
        digest: Digest,
        /// Bytes since the last event.
        bytes: u64,
    },
    /// A blob is present in a target repository.
    BlobDone {
        /// Its digest.
        digest: Digest,
        /// How.
        how: BlobHow,
        /// Its size.
        size: u64,
    },
    /// An operation is being retried.
    Retry {
        /// What.
        what: String,
        /// Retry number.
        retry: u32,
        /// The error that caused it.
        error: String,
    },
}

/// Where events go: to a listener (progress, logs) when there is one, and
/// always into the run's tally, which is the run summary. Sending never
/// fails the run.
#[derive(Clone, Debug, Default)]
pub struct Events {
    tx: Option<UnboundedSender<Event>>,
    tally: Arc<Mutex<RunSummary>>,
}

impl Events {
    /// Events sent to `tx`.
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Events {
            tx: Some(tx),
            tally: Arc::default(),
        }
    }
    /// Events only tallied.
    pub fn none() -> Self {
        Events::default()
    }
    /// Sends one event.
    pub fn send(&self, e: Event) {
        if let Ok(mut t) = self.tally.lock() {
            t.apply(&e);
        }
        if let Some(tx) = &self.tx {
            let _ = tx.send(e);
        }
    }
    /// What the events sent so far add up to.
    pub fn summary(&self) -> RunSummary {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

/// A failure that stops the whole run (as opposed to one image).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan's credentials cannot be resolved.
    #[error(transparent)]
    Plan(crate::plan::PlanError),
    /// The journal cannot be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The shard settings do not fit the journals there.
    #[error("{0}")]
    Shards(String),
    /// Another run of the plan writes the same repositories.
    #[error(transparent)]
    Locked(#[from] crate::lock::LockError),
    /// A registry cannot be reached or refuses us outright.
    #[error("{role} registry {registry}: {source}")]
    Registry {
        /// `source` or `target`.
        role: &'static str,
        /// Its host.
        registry: String,
        /// Why.
        source: Box<RegistryError>,
    },
}

/// One failed tag.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Failure {
    /// `repo:tag` (or `repo`) in the source.
    pub source: String,
    /// Which side failed.
    pub kind: FailureKind,
    /// The error.
    pub error: String,
}

/// A tag whose conversion dropped config fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Lossy {
    /// `repo:tag` in the source.
    pub source: String,
    /// Fields dropped, e.g. `config.Healthcheck`.
    pub dropped: Vec<String>,
}

/// What a run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RunSummary {
    /// Tags copied in this run.
    pub copied: usize,
    /// Tags skipped as already done.
    pub skipped: usize,
    /// Tags (or repositories) that failed.
    pub failed: Vec<Failure>,
    /// Blobs streamed.
    pub blobs_uploaded: u64,
    /// Blobs mounted.
    pub blobs_mounted: u64,
    /// Blobs already present.
    pub blobs_skipped: u64,
    /// Bytes streamed.
    pub bytes_uploaded: u64,
    /// Tags whose conversion lost config fields.
    pub lossy: Vec<Lossy>,
    /// Imported tags referenced on the target instead of copied.
    pub referenced: usize,
    /// Invalid names in tag lists that the plan does not select (skipped,
    /// a warning: not failures).
    pub names_ignored: usize,
    /// Aliases recreated on the target.
    pub aliased: usize,
}

impl RunSummary {
    /// Counts one event: the summary is the sum of the run's events.
    pub fn apply(&mut self, e: &Event) {
        match e {
            Event::ImageDone {
                source, dropped, ..
            } => {
                self.copied += 1;
                if !dropped.is_empty() {
                    self.lossy.push(Lossy {
                        source: source.clone(),
                        dropped: dropped.clone(),
                    });
                }
            }
            Event::ImageSkipped { .. } => self.skipped += 1,
            Event::ImageReferenced { .. } => self.referenced += 1,
            Event::ImageAliased { .. } => self.aliased += 1,
            Event::NamesIgnored { count, .. } => {
                self.names_ignored = self.names_ignored.saturating_add(*count)
            }
            Event::ImageFailed {
                source,
                kind,
                error,
            } => self.failed.push(Failure {
                source: source.clone(),
                kind: *kind,
                error: error.clone(),
            }),
            Event::BlobDone { how, size, .. } => match how {
                BlobHow::Uploaded => {
                    self.blobs_uploaded += 1;
                    self.bytes_uploaded = self.bytes_uploaded.saturating_add(*size);
                }
                BlobHow::Mounted => self.blobs_mounted += 1,
                BlobHow::Present => self.blobs_skipped += 1,
            },
            _ => {}
        }
    }
}

/// Resolves the plan's credentials: password sources as written, or the
/// user's auth files when the plan names none. The one step that reads the
/// environment and the user's files; `run` and `check` share it.
pub fn credentials(plan: &Plan) -> Result<(Credentials, Credentials), crate::plan::PlanError> {
    plan.preflight()?;
    Ok((
        crate::registry::auth::resolve(&plan.source),
        crate::registry::auth::resolve(&plan.target),
    ))
}

/// The cluster API clients a plan names (`[source] api`, `[target] api`),
/// each with its registry's credentials.
pub fn apis(
    plan: &Plan,
) -> Result<(Option<crate::openshift::Api>, Option<crate::openshift::Api>), RunError> {
    let (sc, tc) = credentials(plan).map_err(RunError::Plan)?;
    let mk = |role, ep: &Option<crate::openshift::ApiEndpoint>, c: Credentials| match ep {
        None => Ok(None),
        Some(ep) => crate::openshift::Api::new(
            ep,
            match &ep.password {
                Some(p) => Credentials {
                    username: None,
                    password: p.clone(),
                },
                None => c,
            },
        )
        .map(Some)
        .map_err(|source| RunError::Registry {
            role,
            registry: ep.url.clone(),
            source: Box::new(source),
        }),
    };
    Ok((
        mk("source API", &plan.source_api, sc)?,
        mk("target API", &plan.target_api, tc)?,
    ))
}

/// Creates the target image streams the jobs push into that do not exist
/// yet, before any push: a push must not depend on the registry creating
/// them. A stream that cannot be created fails the jobs that need it.
async fn create_streams<'a>(
    api: &crate::openshift::Api,
    repos: impl Iterator<Item = &'a str>,
) -> HashMap<String, crate::registry::RegistryError> {
    let mut by_ns: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    for repo in repos {
        if let Some((ns, name)) = repo.split_once('/') {
            if !name.contains('/') {
                by_ns.entry(ns).or_default().insert(name);
            }
        }
    }
    let mut failed = HashMap::new();
    for (ns, names) in by_ns {
        let existing: std::collections::HashSet<String> = match api.image_streams(ns, &[]).await {
            Ok(s) => s.into_iter().map(|s| s.name).collect(),
            Err(e) => {
                tracing::warn!(namespace = ns, error = %e, "cannot list the target's image streams; creating each");
                Default::default()
            }
        };
        for name in names.into_iter().filter(|n| !existing.contains(*n)) {
            if let Err(e) = api.create_image_stream(ns, name).await {
                failed.insert(format!("{ns}/{name}"), e);
            }
        }
    }
    failed
}

/// `external_imports = "reference"`: each such tag becomes an image
/// stream tag on the target importing from the same external image.
async fn reference_external_tags(
    api: &crate::openshift::Api,
    references: &[(String, String, String, crate::openshift::ExternalTag)],
    stream_failures: &HashMap<String, crate::registry::RegistryError>,
    journal: &Journal,
    events: &Events,
) -> Result<(), RunError> {
    for (source_repo, tag, target_repo, from) in references {
        let source = format!("{source_repo}:{tag}");
        let target = format!("{target_repo}:{tag}");
        let made = match stream_failures.get(target_repo) {
            Some(e) => Err(format!("creating image stream {target_repo}: {e}")),
            None => {
                let (ns, stream) = target_repo.split_once('/').unwrap_or(("", target_repo));
                api.create_image_stream_tag(
                    ns,
                    stream,
                    tag,
                    crate::openshift::TagSource::Import(from),
                )
                .await
                .map_err(|e| format!("creating image stream tag {target}: {e}"))
            }
        };
        let done = made.map(|()| Event::ImageReferenced {
            source: source.clone(),
            from: from.from.clone(),
        });
        made_on_target(journal, events, &source, &target, done).await?;
    }
    Ok(())
}

/// Reports a tag made on the target through the API (its event), or
/// records why it could not be.
async fn made_on_target(
    journal: &Journal,
    events: &Events,
    source: &str,
    target: &str,
    made: Result<Event, String>,
) -> Result<(), RunError> {
    match made {
        Ok(e) => {
            events.send(e);
            Ok(())
        }
        Err(error) => fail(journal, events, source, target, FailureKind::Target, error).await,
    }
}

/// Builds the registry clients for a plan, with resolved credentials.
pub fn clients(
    plan: &Plan,
    creds: (Credentials, Credentials),
) -> Result<(Arc<Client>, Arc<Client>), RunError> {
    let policy = RetryPolicy {
        max_retries: plan.options.retries,
        ..RetryPolicy::default()
    };
    let mk = |role, ep: &crate::registry::Endpoint, c: Credentials| {
        Client::new(ep, c, policy.clone(), plan.options.transfer)
            .map(Arc::new)
            .map_err(|source| RunError::Registry {
                role,
                registry: ep.registry.clone(),
                source: Box::new(source),
            })
    };
    Ok((
        mk("source", &plan.source, creds.0)?,
        mk("target", &plan.target, creds.1)?,
    ))
}

/// Resolves credentials, builds the clients and pings both registries
/// (which also learns how each wants to be authenticated).
pub async fn connect(plan: &Plan) -> Result<(Arc<Client>, Arc<Client>), RunError> {
    let creds = credentials(plan).map_err(RunError::Plan)?;
    let (source, target) = clients(plan, creds)?;
    for (role, c) in [("source", &source), ("target", &target)] {
        c.ping().await.map_err(|e| RunError::Registry {
            role,
            registry: c.registry().to_string(),
            source: Box::new(e),
        })?;
    }
    Ok((source, target))
}

/// Runs the plan to completion (or until every tag has failed or
/// succeeded), emitting events to `events`. A journal failure stops the run.
pub async fn run(plan: &Plan, events: Events) -> Result<RunSummary, RunError> {
    // The run lock, then the journal: a run that cannot have them sends no
    // request.
    let _lock = crate::lock::acquire(&plan.options.journal, plan.options.shard)?;
    let journal_path = match plan.options.shard {
        Some(sh) => {
            shard_check(plan, sh)?;
            crate::journal::shard_path(&plan.options.journal, sh)
        }
        None => plan.options.journal.clone(),
    };
    let (journal, mut replay) =
        Journal::open(&journal_path, &plan.source.registry, &plan.target.registry)?;
    {
        // What the other parts (and an unsharded run, or a run with
        // another count under --reshard; for an unsharded run, the parts
        // of an earlier sharded one) recorded: done tags, blobs to mount
        // from, layer facts. A part of another migration is refused.
        // Its own records last: they win where parts disagree.
        let mut others = crate::journal::read_all_but(
            &plan.options.journal,
            Some(&journal_path),
            &plan.target.registry,
        )?;
        others.merge(replay);
        replay = others;
    }
    let (source, target) = connect(plan).await?;
    let (source_api, target_api) = apis(plan)?;
    let journal = Arc::new(journal);
    let expand::Expansion {
        mut jobs,
        mut failures,
        mut ignored,
        discovered,
    } = expand::expand(plan, &source, source_api.as_ref()).await;
    let mut references = discovered.references.clone();
    let mut aliases = discovered.aliases.clone();
    let mut empty = discovered.empty_streams.clone();
    let mut notes = discovered.notes.clone();
    if let Some(sh) = plan.options.shard {
        // This part's target repositories only: no two parts ever write
        // one repository.
        jobs.retain(|j| shard_of(&j.target_repo, sh.count) == sh.index);
        failures.retain(|f| shard_of(&f.target_repo, sh.count) == sh.index);
        ignored.retain(|i| shard_of(&i.target_repo, sh.count) == sh.index);
        references.retain(|r| shard_of(&r.2, sh.count) == sh.index);
        aliases.retain(|a| shard_of(&a.2, sh.count) == sh.index);
        empty.retain(|e| shard_of(e, sh.count) == sh.index);
        notes.retain(|n| shard_of(crate::expand::repo_of(&n.target), sh.count) == sh.index);
    }
    for n in notes.iter().filter(|n| n.warning) {
        events.send(Event::Warning {
            source: n.source.clone(),
            message: n.message.clone(),
        });
    }
    let stream_failures = match (&target_api, plan.options.create_image_streams) {
        (Some(api), true) => {
            let repos = jobs
                .iter()
                .map(|j| j.target_repo.as_ref())
                .chain(references.iter().map(|r| r.2.as_str()))
                .chain(aliases.iter().map(|a| a.2.as_str()))
                .chain(empty.iter().map(String::as_str));
            create_streams(api, repos).await
        }
        _ => HashMap::new(),
    };
    if let Some(api) = &target_api {
        reference_external_tags(api, &references, &stream_failures, &journal, &events).await?;
    }
    let (jobs, refused): (Vec<TagJob>, Vec<TagJob>) = jobs
        .into_iter()
        .partition(|j| !stream_failures.contains_key(&*j.target_repo));
    for j in &refused {
        if let Some(e) = stream_failures.get(&*j.target_repo) {
            fail(
                &journal,
                &events,
                &j.source_ref(),
                &j.target_ref(),
                FailureKind::Target,
                format!("creating image stream {}: {e}", j.target_repo),
            )
            .await?;
        }
    }
    events.send(Event::Expanded {
        tags: jobs.len(),
        failed_repositories: failures.len(),
    });
    for i in ignored {
        events.send(Event::NamesIgnored {
            count: i.names.len(),
            message: i.message(),
            source: i.source_repo,
        });
    }
    for f in failures {
        let error = format!("listing tags of {}: {}", f.source_repo, f.error);
        fail(
            &journal,
            &events,
            &f.source_repo,
            &f.target_repo,
            FailureKind::Source,
            error,
        )
        .await?;
    }
    let blobs = Arc::new(blob::Blobs::new(
        source.clone(),
        target.clone(),
        journal.clone(),
        events.clone(),
        blob::BlobOptions {
            policy: source.policy().clone(),
            concurrency: plan.options.concurrency,
            chunk_size: plan.options.chunk_size,
            max_unsized: plan.limits.max_unsized_blob(),
        },
        &mut replay,
    ));
    // Every tag's manifest first: the schema 1 images among them say which
    // blobs need a diff_id, so that the one transfer of each blob computes
    // it, whichever image makes that transfer. Each is then kept as its
    // bytes until its tag's turn: parsed, a manifest takes several times
    // its size, and a plan may have many thousand tags.
    let mut spill = spill::Spill::in_dir(crate::journal::dir_of(&journal_path));
    let mut reads = futures::stream::iter(jobs.iter().map(|j| {
        let (source, blobs) = (&source, &blobs);
        async move {
            let m = source.manifest_get(&j.source_repo, &j.reference()).await?;
            let action = crate::convert::decide(j.format, m.kind);
            if image_plan::is_schema1(m.kind) && action != crate::convert::Action::Keep {
                blobs.want_diff_ids(m.layers.iter().map(|l| l.digest.clone()));
            }
            Ok::<_, RegistryError>((m.kind, m.raw))
        }
    }))
    .buffered(plan.options.metadata_in_flight());
    // A few dozen bytes a tag (an error is boxed: most reads succeed).
    let mut tops: Vec<Result<(ManifestKind, spill::Kept), Box<RegistryError>>> =
        Vec::with_capacity(jobs.len());
    while let Some(r) = reads.next().await {
        tops.push(
            r.map(|(kind, raw)| (kind, spill.put(raw)))
                .map_err(Box::new),
        );
    }
    drop(reads);
    // On OpenShift 4 a push by digest is not added to the stream's
    // history: with a target API, history images are pushed to their tag,
    // oldest first, each tag's sequence before its current image.
    let history_to_tag = target_api.is_some() && jobs.iter().any(|j| j.history.is_some());
    let ctx = image::Ctx {
        source,
        target,
        journal: journal.clone(),
        blobs,
        events: events.clone(),
        replay: &replay,
        max_image_size: plan.limits.max_image_size,
        manifest_locks: Default::default(),
        pushed: Default::default(),
        configs: Default::default(),
        history_to_tag,
    };
    // It parsed a moment ago; the same bytes parse the same way.
    let prepare = |j: &TagJob, top: Top| {
        top.map_err(|e| *e).and_then(|(kind, kept)| {
            let protocol = |message: String| RegistryError::Protocol {
                url: crate::registry::DisplayUrl::new(&format!(
                    "/v2/{}/manifests/{}",
                    j.source_repo,
                    j.reference()
                )),
                message,
            };
            let raw = spill.get(kept).map_err(|e| {
                protocol(format!(
                    "reading the manifest kept from the first pass: {e}"
                ))
            })?;
            Manifest::parse(Some(kind.media_type()), raw).map_err(|e| protocol(e.to_string()))
        })
    };
    if !history_to_tag {
        let mut results = futures::stream::iter(
            jobs.iter()
                .zip(tops)
                .map(|(j, top)| ctx.copy_tag(j, prepare(j, top))),
        )
        .buffer_unordered(plan.options.metadata_in_flight());
        while let Some((job, r)) = results.next().await {
            settle(&journal, &events, job, r).await?;
        }
    } else {
        let mut tops: Vec<Option<Top>> = tops.into_iter().map(Some).collect();
        let groups: Vec<Vec<(&TagJob, Top)>> = tag_sequences(&jobs)
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .filter_map(|i| Some((jobs.get(i)?, tops.get_mut(i)?.take()?)))
                    .collect()
            })
            .collect();
        let (ctx, prepare) = (&ctx, &prepare);
        let mut results = futures::stream::iter(groups.into_iter().map(|g| async move {
            let mut out = Vec::with_capacity(g.len());
            for (j, top) in g {
                out.push(ctx.copy_tag(j, prepare(j, top)).await);
            }
            out
        }))
        .buffer_unordered(plan.options.metadata_in_flight());
        while let Some(batch) = results.next().await {
            for (job, r) in batch {
                settle(&journal, &events, job, r).await?;
            }
        }
    }
    if let Some(api) = &target_api {
        alias_tags(api, &aliases, &stream_failures, &journal, &events).await?;
    }
    Ok(events.summary())
}

/// A tag's manifest from the first pass: its kind and where its bytes
/// are kept, or why it could not be read.
type Top = Result<(ManifestKind, spill::Kept), Box<RegistryError>>;

/// The jobs as sequences to run one after the other: for each target tag
/// with history images, those images oldest first and then the tag's
/// current image; every other job alone. (History jobs follow the tag
/// jobs in `jobs`, newest first per tag.)
fn tag_sequences(jobs: &[TagJob]) -> Vec<Vec<usize>> {
    let mut by_tag: std::collections::BTreeMap<(&str, &str), Vec<usize>> = Default::default();
    for (i, j) in jobs.iter().enumerate() {
        by_tag
            .entry((j.target_repo.as_ref(), j.tag.as_ref()))
            .or_default()
            .push(i);
    }
    by_tag
        .into_values()
        .map(|mut g| {
            // [current, newest, ..., oldest] -> [oldest, ..., newest, current]
            g.reverse();
            g
        })
        .collect()
}

/// Records a tag job's failure (a journal failure stops the run).
async fn settle(
    journal: &Journal,
    events: &Events,
    job: &TagJob,
    r: Result<image::Outcome, CopyError>,
) -> Result<(), RunError> {
    let Err(e) = r else {
        return Ok(());
    };
    let e = match e.into_journal() {
        Ok(j) => return Err(RunError::Journal(j)),
        Err(e) => e,
    };
    let kind = e.kind();
    fail(
        journal,
        events,
        &job.source_ref(),
        &job.target_ref(),
        kind,
        e.to_string(),
    )
    .await
}

/// Aliases (`oc tag --alias`) recreated on the target, each once the tag
/// it follows is there (copied or referenced in this run, or before); an
/// alias of a tag that failed fails too, and says so.
async fn alias_tags(
    api: &crate::openshift::Api,
    aliases: &[(String, String, String, String)],
    stream_failures: &HashMap<String, crate::registry::RegistryError>,
    journal: &Journal,
    events: &Events,
) -> Result<(), RunError> {
    let failed: std::collections::HashSet<String> = events
        .summary()
        .failed
        .into_iter()
        .map(|f| f.source)
        .collect();
    for (source_repo, tag, target_repo, of) in aliases {
        let source = format!("{source_repo}:{tag}");
        let target = format!("{target_repo}:{tag}");
        let made = if failed.contains(&format!("{source_repo}:{of}")) {
            Err(format!("the tag it follows, {source_repo}:{of}, failed"))
        } else if let Some(e) = stream_failures.get(target_repo) {
            Err(format!("creating image stream {target_repo}: {e}"))
        } else {
            let (ns, stream) = target_repo.split_once('/').unwrap_or(("", target_repo));
            api.create_image_stream_tag(ns, stream, tag, crate::openshift::TagSource::Alias(of))
                .await
                .map_err(|e| format!("creating the alias {target}: {e}"))
        };
        let done = made.map(|()| Event::ImageAliased {
            source: source.clone(),
            of: format!("{target_repo}:{of}"),
        });
        made_on_target(journal, events, &source, &target, done).await?;
    }
    Ok(())
}

/// The part a target repository belongs to, out of `count`: a stable
/// hash (FNV-1a) of its name, so the partition depends on nothing but the
/// name and every process computes the same one.
pub fn shard_of(target_repo: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in target_repo.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(count.max(1))) as u32
}

/// Refuses a shard count that differs from the shard journals already
/// there, unless `--reshard` asked to reuse them.
fn shard_check(plan: &Plan, sh: crate::journal::Shard) -> Result<(), RunError> {
    let others: Vec<String> = crate::journal::shard_journals(&plan.options.journal)
        .into_iter()
        .filter(|(_, s)| s.count != sh.count)
        .map(|(p, _)| p.display().to_string())
        .collect();
    if others.is_empty() || plan.options.reshard {
        return Ok(());
    }
    Err(RunError::Shards(format!(
        "this run is part {} of {}, but journals of a run in another number of parts are there ({}); use the same number of parts, or --reshard to reuse their records",
        sh.index,
        sh.count,
        others.join(", ")
    )))
}

/// Records and reports a failed tag (or repository).
async fn fail(
    journal: &Journal,
    events: &Events,
    source: &str,
    target: &str,
    kind: FailureKind,
    error: String,
) -> Result<(), RunError> {
    let record = Record::Failed {
        source: source.to_string(),
        source_digest: None,
        target: target.to_string(),
        error: error.clone(),
        error_kind: Some(kind),
    };
    // What is no repository (a `source = "*"` listing that failed) is
    // reported, not journalled: a journal holds only valid names.
    if record.check().is_ok() {
        journal.append(&record).await?;
    }
    events.send(Event::ImageFailed {
        source: source.to_string(),
        kind,
        error,
    });
    Ok(())
}
