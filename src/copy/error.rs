//! The copy engine's errors. An image-level error ([`CopyError`]) fails one
//! tag and carries a [`FailureKind`]; a journal failure is a run-level error
//! ([`super::RunError`]) that stops the run, because nothing after it could
//! be recorded as verified.

use crate::journal::JournalError;
use crate::model::FailureKind;
use crate::oci::Digest;
use crate::registry::RegistryError;

/// Why one blob could not be made present.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Reading it from the source failed.
    #[error("{0}")]
    Source(RegistryError),
    /// Writing it into the target failed.
    #[error("{0}")]
    Target(RegistryError),
    /// What arrived does not match its digest or size, or cannot be
    /// decompressed for its diff_id.
    #[error("{0}")]
    Verification(RegistryError),
    /// Its record could not be journaled.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl BlobError {
    /// True when another whole attempt may cure it.
    pub fn is_transient(&self) -> bool {
        match self {
            BlobError::Source(e) | BlobError::Target(e) | BlobError::Verification(e) => {
                e.is_transient()
            }
            BlobError::Journal(_) => false,
        }
    }

    /// The wait a registry asked for before another attempt.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            BlobError::Source(e) | BlobError::Target(e) | BlobError::Verification(e) => {
                e.retry_after()
            }
            BlobError::Journal(_) => None,
        }
    }

    /// Records the retries made before it was final.
    pub fn with_retries(self, n: u32) -> Self {
        match self {
            BlobError::Source(e) => BlobError::Source(e.with_retries(n)),
            BlobError::Target(e) => BlobError::Target(e.with_retries(n)),
            other => other,
        }
    }

    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            BlobError::Source(_) => FailureKind::Source,
            BlobError::Target(_) => FailureKind::Target,
            BlobError::Verification(_) => FailureKind::Verification,
            BlobError::Journal(_) => FailureKind::Journal,
        }
    }
}

/// Why one tag failed. Nothing was tagged for it.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A registry request failed.
    #[error("{image}: {source}")]
    Registry {
        /// `repo:tag` in the source.
        image: String,
        /// `Source` or `Target`.
        kind: FailureKind,
        /// The request's error.
        source: Box<RegistryError>,
    },
    /// A blob could not be made present.
    #[error("{image}: blob {digest}: {source}")]
    Blob {
        /// `repo:tag` in the source.
        image: String,
        /// The blob.
        digest: Digest,
        /// Why.
        source: Box<BlobError>,
    },
    /// The image plan blocks the image (its blocker findings).
    #[error("{image}: {message}")]
    Blocked {
        /// `repo:tag` in the source.
        image: String,
        /// What kind of blocker.
        kind: FailureKind,
        /// The blockers' messages.
        message: String,
    },
    /// The target stored something other than what was pushed.
    #[error("{image}: {message}")]
    Verification {
        /// `repo:tag` in the source.
        image: String,
        /// What differed.
        message: String,
    },
    /// The journal could not be written: stops the run.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl CopyError {
    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        match self {
            CopyError::Registry { kind, .. } | CopyError::Blocked { kind, .. } => *kind,
            CopyError::Blob { source, .. } => source.kind(),
            CopyError::Verification { .. } => FailureKind::Verification,
            CopyError::Journal(_) => FailureKind::Journal,
        }
    }

    /// The journal error inside, if this is one (it stops the run).
    pub fn into_journal(self) -> Result<JournalError, CopyError> {
        match self {
            CopyError::Journal(j) => Ok(j),
            CopyError::Blob {
                image,
                digest,
                source,
            } => match *source {
                BlobError::Journal(j) => Ok(j),
                other => Err(CopyError::Blob {
                    image,
                    digest,
                    source: Box::new(other),
                }),
            },
            other => Err(other),
        }
    }
}
