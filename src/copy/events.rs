//! The engine's events and the run summary folded from them. `run` and
//! the blob transfers send [`Event`]s through [`Events`]; the CLI's
//! progress display renders them, and [`RunSummary`] is their sum.

use crate::journal::BlobHow;
use crate::model::FailureKind;
use crate::oci::Digest;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// Something the engine did, for progress displays and logs. Serialized
/// (`run --progress json`) as one object per event with its kind in
/// `event` (`image_done`, `blob_started`, ...) and the fields below.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
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
    /// An image needs a blob (sent before it is made present): which
    /// image a transfer belongs to, for displays.
    BlobWanted {
        /// `repo:tag` in the source.
        image: String,
        /// The blob.
        digest: Digest,
        /// Its place among the image's blobs, 1-based; 0 for a config
        /// written from memory (a converted one).
        layer: usize,
        /// How many blobs the image has.
        layers: usize,
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
