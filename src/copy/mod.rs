//! The copy engine: runs the tag jobs of a plan with bounded concurrency,
//! and emits [`Event`]s that the CLI renders and the reports count.
//!
//! For each tag: resolve the source manifest; skip it if the journal says
//! it is done and the target still has it; else make every blob present
//! (`blob`), push child manifests by digest, then the index by digest, and
//! the tag last, so a tag never points at an incomplete image. Each step is
//! journaled only after the registry accepted it and the digest matched.

pub mod blob;
pub mod diffid;
mod image;

use crate::expand::{self, TagJob};
use crate::journal::{BlobHow, Journal, JournalError, Record};
use crate::oci::Digest;
use crate::plan::Plan;
use crate::registry::{Client, RegistryError, RetryPolicy};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
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
    },
    /// A tag failed; nothing was tagged for it.
    ImageFailed {
        /// `repo:tag` (or `repo`) in the source.
        source: String,
        /// The error.
        error: String,
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

/// Where events go. Sending never fails the run: with no listener, events
/// are dropped.
#[derive(Clone, Debug, Default)]
pub struct Events(Option<UnboundedSender<Event>>);

impl Events {
    /// Events sent to `tx`.
    pub fn new(tx: UnboundedSender<Event>) -> Self {
        Events(Some(tx))
    }
    /// Events dropped.
    pub fn none() -> Self {
        Events(None)
    }
    /// Sends one event.
    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(e);
        }
    }
}

/// A failure that stops the whole run (as opposed to one image).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The journal cannot be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
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
}

/// Builds the registry clients for a plan.
pub fn clients(plan: &Plan) -> Result<(Arc<Client>, Arc<Client>), RunError> {
    let policy = RetryPolicy {
        max_retries: plan.options.retries,
        ..RetryPolicy::default()
    };
    let mk = |role, ep: &crate::registry::Endpoint| {
        Client::new(ep, policy.clone())
            .map(Arc::new)
            .map_err(|source| RunError::Registry {
                role,
                registry: ep.registry.clone(),
                source: Box::new(source),
            })
    };
    Ok((mk("source", &plan.source)?, mk("target", &plan.target)?))
}

/// Builds the clients and pings both registries (which also learns how
/// each wants to be authenticated).
pub async fn connect(plan: &Plan) -> Result<(Arc<Client>, Arc<Client>), RunError> {
    let (source, target) = clients(plan)?;
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
/// succeeded), emitting events to `events`.
pub async fn run(plan: &Plan, events: Events) -> Result<RunSummary, RunError> {
    let (source, target) = connect(plan).await?;
    let (journal, replay) =
        Journal::open(&plan.options.journal, source.registry(), target.registry())?;
    let journal = Arc::new(journal);
    let (jobs, failures) = expand::expand(plan, &source).await;
    events.send(Event::Expanded {
        tags: jobs.len(),
        failed_repositories: failures.len(),
    });
    let mut summary = RunSummary::default();
    for f in failures {
        let error = format!("listing tags of {}: {}", f.source_repo, f.error);
        journal.append(&Record::Failed {
            source: f.source_repo.clone(),
            source_digest: None,
            target: f.target_repo.clone(),
            error: error.clone(),
        })?;
        events.send(Event::ImageFailed {
            source: f.source_repo.clone(),
            error: error.clone(),
        });
        summary.failed.push(Failure {
            source: f.source_repo,
            error,
        });
    }
    let blobs = Arc::new(blob::Blobs::new(
        source.clone(),
        target.clone(),
        journal.clone(),
        events.clone(),
        source.policy().clone(),
        plan.options.concurrency,
        &replay,
    ));
    let ctx = image::Ctx {
        source,
        target,
        journal: journal.clone(),
        blobs: blobs.clone(),
        events: events.clone(),
        replay: &replay,
        manifest_locks: Default::default(),
        pushed: Default::default(),
    };
    let mut results = futures::stream::iter(jobs.iter().map(|j| ctx.copy_tag(j)))
        .buffer_unordered(plan.options.concurrency);
    while let Some((job, r)) = results.next().await {
        let job: &TagJob = job;
        match r {
            Ok(image::Outcome::Copied { dropped }) => {
                summary.copied += 1;
                if !dropped.is_empty() {
                    summary.lossy.push(Lossy {
                        source: job.source_ref(),
                        dropped,
                    });
                }
            }
            Ok(image::Outcome::Skipped) => summary.skipped += 1,
            Err(e) => {
                let error = e.to_string();
                if let image::CopyError::Journal(j) = e {
                    return Err(RunError::Journal(j));
                }
                journal.append(&Record::Failed {
                    source: job.source_ref(),
                    source_digest: None,
                    target: job.target_ref(),
                    error: error.clone(),
                })?;
                events.send(Event::ImageFailed {
                    source: job.source_ref(),
                    error: error.clone(),
                });
                summary.failed.push(Failure {
                    source: job.source_ref(),
                    error,
                });
            }
        }
    }
    let c = &blobs.counters;
    summary.blobs_uploaded = c.uploaded.load(Ordering::Relaxed);
    summary.blobs_mounted = c.mounted.load(Ordering::Relaxed);
    summary.blobs_skipped = c.skipped.load(Ordering::Relaxed);
    summary.bytes_uploaded = c.bytes_uploaded.load(Ordering::Relaxed);
    Ok(summary)
}
