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
//!
//! `run` reads as its phases: the lock and the journals
//! (`open_journal`), the session, what to copy (`discover`), what the
//! target needs first (`prepare_target`), every tag's manifest
//! (`read_tops`), the copies (`copy_all`), and aliases last.

pub mod blob;
mod chunked;
pub mod diffid;
pub mod error;
pub mod events;
mod image;
mod placement;
mod spill;
mod stream;
mod streams;

pub use error::{BlobError, CopyError};
pub use events::{Event, Events, Failure, Lossy, RunSummary};

use crate::expand::{self, TagJob};
use crate::journal::{Journal, Record, Replay};
use crate::model::FailureKind;
use crate::oci::{Manifest, ManifestKind};
use crate::plan::Plan;
use crate::registry::RegistryError;
use crate::session::{RunError, Session};
use crate::shard::{shard_of, Shard, Sharding};
use futures::StreamExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Runs the plan to completion (or until every tag has failed or
/// succeeded), emitting events to `events`. A journal failure stops the run.
pub async fn run(plan: &Plan, sharding: Sharding, events: Events) -> Result<RunSummary, RunError> {
    // The run lock, then the journal: a run that cannot have them sends no
    // request.
    let _lock = crate::lock::acquire(&plan.options.journal, sharding.part)?;
    let (journal, journal_path, mut replay) = open_journal(plan, sharding)?;
    let session = Session::open(plan).await?;
    let journal = Arc::new(journal);
    let mut work = discover(plan, &session, sharding.part, &events).await;
    let current = std::mem::take(&mut work.expansion.discovered.current);
    let (jobs, aliases, stream_failures) =
        prepare_target(plan, &session, work, &journal, &events).await?;
    // On OpenShift, tags the image streams show unchanged since they were
    // copied are done without a registry request each.
    let unchanged = crate::resync::unchanged(
        &session,
        &jobs,
        &current,
        &replay,
        plan.options.metadata_in_flight(),
    )
    .await;
    let jobs: Vec<TagJob> = jobs
        .into_iter()
        .enumerate()
        .filter_map(|(i, j)| match unchanged.done.contains_key(&i) {
            true => {
                events.send(Event::ImageSkipped {
                    source: j.source_ref(),
                });
                None
            }
            false => Some(j),
        })
        .collect();
    let blobs = Arc::new(blob::Blobs::new(
        session.source.clone(),
        session.target.clone(),
        journal.clone(),
        events.clone(),
        blob::BlobOptions {
            policy: session.source.policy().clone(),
            concurrency: plan.options.concurrency,
            chunk_size: plan.options.chunk_size,
            max_unsized: plan.limits.max_unsized_blob(),
        },
        &mut replay,
    ));
    let mut spill = spill::Spill::in_dir(crate::shard::dir_of(&journal_path));
    let tops = read_tops(plan, &session, &blobs, &jobs, &mut spill).await;
    // On OpenShift 4 a push by digest is not added to the stream's
    // history: with a target API, history images are pushed to their tag,
    // oldest first, each tag's sequence before its current image.
    let history_to_tag = session.target_api.is_some() && jobs.iter().any(|j| j.history.is_some());
    let ctx = image::Ctx {
        source: session.source.clone(),
        target: session.target.clone(),
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
    copy_all(plan, &ctx, &spill, &jobs, tops, &journal, &events).await?;
    if let Some(api) = &session.target_api {
        streams::alias_tags(api, &aliases, &stream_failures, &journal, &events).await?;
    }
    Ok(events.summary())
}

/// Opens this run's journal (the part's, when sharded) and replays it
/// over what every other journal of the plan recorded.
fn open_journal(plan: &Plan, sharding: Sharding) -> Result<(Journal, PathBuf, Replay), RunError> {
    let journal_path = match sharding.part {
        Some(sh) => {
            crate::shard::check(&plan.options.journal, sh, sharding.reshard)
                .map_err(RunError::Shards)?;
            crate::shard::shard_path(&plan.options.journal, sh)
        }
        None => plan.options.journal.clone(),
    };
    let (journal, replay) =
        Journal::open(&journal_path, &plan.source.registry, &plan.target.registry)?;
    // What the other parts (and an unsharded run, or a run with another
    // count under --reshard; for an unsharded run, the parts of an earlier
    // sharded one) recorded: done tags, blobs to mount from, layer facts.
    // A part of another migration is refused. Its own records last: they
    // win where parts disagree.
    let mut others = crate::journal::read_all_but(
        &plan.options.journal,
        Some(&journal_path),
        &plan.target.registry,
    )?;
    others.merge(replay);
    Ok((journal, journal_path, others))
}

/// What discovery gave this run to do.
struct Work {
    expansion: expand::Expansion,
    references: Vec<(String, String, String, crate::openshift::ExternalTag)>,
    aliases: Vec<(String, String, String, String)>,
    empty: Vec<String>,
}

/// Expands the plan, keeps this part's target repositories only (no two
/// parts ever write one repository), and reports discovery's warnings.
async fn discover(plan: &Plan, session: &Session, part: Option<Shard>, events: &Events) -> Work {
    let mut expansion = session.expand(plan).await;
    let d = &expansion.discovered;
    let (mut references, mut aliases, mut empty, mut notes) = (
        d.references.clone(),
        d.aliases.clone(),
        d.empty_streams.clone(),
        d.notes.clone(),
    );
    if let Some(sh) = part {
        let mine = |repo: &str| shard_of(repo, sh.count) == sh.index;
        expansion.jobs.retain(|j| mine(&j.target_repo));
        expansion.failures.retain(|f| mine(&f.target_repo));
        expansion.ignored.retain(|i| mine(&i.target_repo));
        references.retain(|r| mine(&r.2));
        aliases.retain(|a| mine(&a.2));
        empty.retain(|e| mine(e));
        notes.retain(|n| mine(crate::expand::repo_of(&n.target)));
    }
    for n in notes.iter().filter(|n| n.warning) {
        events.send(Event::Warning {
            source: n.source.clone(),
            message: n.message.clone(),
        });
    }
    Work {
        expansion,
        references,
        aliases,
        empty,
    }
}

/// Target repositories whose image stream could not be created, and why.
type StreamFailures = HashMap<String, RegistryError>;

/// Before any copy: the target's image streams created and external tags
/// referenced (with a target API), the jobs of a stream that could not be
/// made failed, and the expansion's failures and skipped names reported.
/// Returns the jobs to copy and the aliases to make afterwards.
async fn prepare_target(
    plan: &Plan,
    session: &Session,
    work: Work,
    journal: &Journal,
    events: &Events,
) -> Result<
    (
        Vec<TagJob>,
        Vec<(String, String, String, String)>,
        StreamFailures,
    ),
    RunError,
> {
    let Work {
        expansion,
        references,
        aliases,
        empty,
    } = work;
    let stream_failures = match (&session.target_api, plan.options.create_image_streams) {
        (Some(api), true) => {
            let repos = expansion
                .jobs
                .iter()
                .map(|j| j.target_repo.as_ref())
                .chain(references.iter().map(|r| r.2.as_str()))
                .chain(aliases.iter().map(|a| a.2.as_str()))
                .chain(empty.iter().map(String::as_str));
            streams::create_streams(api, repos).await
        }
        _ => HashMap::new(),
    };
    if let Some(api) = &session.target_api {
        streams::reference_external_tags(api, &references, &stream_failures, journal, events)
            .await?;
    }
    let (jobs, refused): (Vec<TagJob>, Vec<TagJob>) = expansion
        .jobs
        .into_iter()
        .partition(|j| !stream_failures.contains_key(&*j.target_repo));
    for j in &refused {
        if let Some(e) = stream_failures.get(&*j.target_repo) {
            let error = format!("creating image stream {}: {e}", j.target_repo);
            let (s, t) = (j.source_ref(), j.target_ref());
            fail(journal, events, &s, &t, FailureKind::Target, error).await?;
        }
    }
    events.send(Event::Expanded {
        tags: jobs.len(),
        failed_repositories: expansion.failures.len(),
    });
    for i in expansion.ignored {
        events.send(Event::NamesIgnored {
            count: i.names.len(),
            message: i.message(),
            source: i.source_repo,
        });
    }
    for f in expansion.failures {
        let error = format!("listing tags of {}: {}", f.source_repo, f.error);
        let (s, t) = (&f.source_repo, &f.target_repo);
        fail(journal, events, s, t, FailureKind::Source, error).await?;
    }
    Ok((jobs, aliases, stream_failures))
}

/// Every tag's manifest first: the schema 1 images among them say which
/// blobs need a diff_id, so that the one transfer of each blob computes
/// it, whichever image makes that transfer. Each is then kept as its bytes
/// until its tag's turn: parsed, a manifest takes several times its size,
/// and a plan may have many thousand tags.
async fn read_tops(
    plan: &Plan,
    session: &Session,
    blobs: &blob::Blobs,
    jobs: &[TagJob],
    spill: &mut spill::Spill,
) -> Vec<Top> {
    let source = &session.source;
    let mut reads = futures::stream::iter(jobs.iter().map(|j| async move {
        let m = source.manifest_get(&j.source_repo, &j.reference()).await?;
        let action = crate::convert::decide(j.format, m.kind);
        if m.kind.is_schema1() && action != crate::convert::Action::Keep {
            blobs.want_diff_ids(m.layers.iter().map(|l| l.digest.clone()));
        }
        Ok::<_, RegistryError>((m.kind, m.raw))
    }))
    .buffered(plan.options.metadata_in_flight());
    // A few dozen bytes a tag (an error is boxed: most reads succeed).
    let mut tops: Vec<Top> = Vec::with_capacity(jobs.len());
    while let Some(r) = reads.next().await {
        tops.push(
            r.map(|(kind, raw)| (kind, spill.put(raw)))
                .map_err(Box::new),
        );
    }
    tops
}

/// Copies every tag, each with its manifest from the first pass; with
/// history to tag, each tag's sequence in order.
async fn copy_all(
    plan: &Plan,
    ctx: &image::Ctx<'_>,
    spill: &spill::Spill,
    jobs: &[TagJob],
    tops: Vec<Top>,
    journal: &Journal,
    events: &Events,
) -> Result<(), RunError> {
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
    if !ctx.history_to_tag {
        let mut results = futures::stream::iter(
            jobs.iter()
                .zip(tops)
                .map(|(j, top)| ctx.copy_tag(j, prepare(j, top))),
        )
        .buffer_unordered(plan.options.metadata_in_flight());
        while let Some((job, r)) = results.next().await {
            settle(journal, events, job, r).await?;
        }
        return Ok(());
    }
    let mut tops: Vec<Option<Top>> = tops.into_iter().map(Some).collect();
    let groups: Vec<Vec<(&TagJob, Top)>> = tag_sequences(jobs)
        .into_iter()
        .map(|g| {
            g.into_iter()
                .filter_map(|i| Some((jobs.get(i)?, tops.get_mut(i)?.take()?)))
                .collect()
        })
        .collect();
    let prepare = &prepare;
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
            settle(journal, events, job, r).await?;
        }
    }
    Ok(())
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
