//! One tag job: resolve, skip if done, push blobs, child manifests, index,
//! and the tag last. The conversion seam is [`Ctx::target_manifest`]: it
//! maps a source manifest to the bytes pushed to the target.

use super::blob::Blobs;
use super::{Event, Events};
use crate::expand::TagJob;
use crate::journal::{Journal, JournalError, Record, Replay};
use crate::oci::{Digest, Manifest};
use crate::plan::{Format, Platforms};
use crate::registry::{Client, RegistryError};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;

/// Per (repository, digest): a lock, and whether the manifest was pushed.
pub(super) type ManifestLocks =
    std::sync::Mutex<HashMap<(String, Digest), Arc<tokio::sync::Mutex<bool>>>>;

pub(super) struct Ctx<'a> {
    pub source: Arc<Client>,
    pub target: Arc<Client>,
    pub journal: Arc<Journal>,
    pub blobs: Arc<Blobs>,
    pub events: Events,
    pub replay: &'a Replay,
    /// One lock per (repository, manifest digest): distribution's storage
    /// corrupts concurrent writes of the same manifest, and pushing the
    /// same manifest twice at once is wasted work anyway.
    pub manifest_locks: ManifestLocks,
}

pub(super) enum Outcome {
    Copied,
    Skipped,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum CopyError {
    #[error("{image}: {source}")]
    Registry {
        image: String,
        source: Box<RegistryError>,
    },
    #[error("{image}: blob {digest}: {source}")]
    Blob {
        image: String,
        digest: Digest,
        source: Box<RegistryError>,
    },
    #[error("{image}: {message}")]
    Image { image: String, message: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What is pushed for one manifest.
struct Pushed {
    raw: Bytes,
    media_type: &'static str,
    digest: Digest,
}

impl Ctx<'_> {
    pub async fn copy_tag<'j>(&self, job: &'j TagJob) -> (&'j TagJob, Result<Outcome, CopyError>) {
        (job, self.copy_tag_inner(job).await)
    }

    async fn copy_tag_inner(&self, job: &TagJob) -> Result<Outcome, CopyError> {
        let image = job.source_ref();
        let reg = |source: RegistryError| CopyError::Registry {
            image: image.clone(),
            source: Box::new(source),
        };
        let m = self
            .source
            .manifest_get(&job.source_repo, &job.tag)
            .await
            .map_err(reg)?;
        let key = (job.source_ref(), job.target_ref());
        if let Some(done) = self.replay.done.get(&key) {
            if done.source_digest == m.digest && done.format == job.format.name() {
                let now = self
                    .target
                    .manifest_head(&job.target_repo, &job.tag)
                    .await
                    .map_err(reg)?;
                if now.as_ref() == Some(&done.target_digest) {
                    self.events.send(Event::ImageSkipped { source: image });
                    return Ok(Outcome::Skipped);
                }
            }
        }
        self.events.send(Event::ImageStarted {
            source: image.clone(),
        });
        self.journal.append(&Record::Planned {
            source: job.source_ref(),
            source_digest: m.digest.clone(),
            target: job.target_ref(),
            format: job.format.name().to_string(),
        })?;
        let top = self.push_tree(job, &m).await?;
        // The tag goes last: everything it points at is in place.
        self.put_manifest(job, &top, &job.tag).await?;
        self.journal.append(&Record::Done {
            source: job.source_ref(),
            source_digest: m.digest.clone(),
            target: job.target_ref(),
            target_digest: top.digest.clone(),
            format: job.format.name().to_string(),
        })?;
        self.events.send(Event::ImageDone {
            source: image,
            target: job.target_ref(),
            target_digest: top.digest,
        });
        Ok(Outcome::Copied)
    }

    /// Pushes a manifest and everything below it, by digest.
    async fn push_tree(&self, job: &TagJob, m: &Manifest) -> Result<Pushed, CopyError> {
        let image = job.source_ref();
        if m.kind.is_index() {
            if job.format == Format::Preserve && job.platforms != Platforms::All {
                self.events.send(Event::Warning {
                    source: image.clone(),
                    message: "format \"preserve\" keeps the index bytes, so every platform is copied; the platforms filter needs format \"oci\" or \"docker\"".into(),
                });
            }
            let children = futures::future::try_join_all(m.manifests.iter().map(|d| async {
                let image = &image;
                let child = self
                    .source
                    .manifest_get(&job.source_repo, &d.digest.to_string())
                    .await
                    .map_err(|source| CopyError::Registry {
                        image: format!(
                            "{image} (platform {})",
                            d.platform
                                .as_ref()
                                .map(|p| p.to_string())
                                .unwrap_or_default()
                        ),
                        source: Box::new(source),
                    })?;
                if child.kind.is_index() {
                    return Err(CopyError::Image {
                        image: image.to_string(),
                        message: format!(
                            "index entry {} is itself an index; nested indexes are not supported",
                            d.digest
                        ),
                    });
                }
                self.push_image(job, &child).await
            }))
            .await?;
            drop(children);
        } else {
            return self.push_image(job, m).await;
        }
        let out = self.target_manifest(job, m)?;
        self.push_by_digest(job, &out).await?;
        Ok(out)
    }

    async fn push_image(&self, job: &TagJob, m: &Manifest) -> Result<Pushed, CopyError> {
        let image = job.source_ref();
        for f in m.foreign_layers() {
            self.events.send(Event::Warning {
                source: image.clone(),
                message: format!(
                    "foreign layer {} is not copied (it is served from {})",
                    f.digest,
                    f.urls.join(", ")
                ),
            });
        }
        let blobs = m.blobs();
        let image = &image;
        futures::future::try_join_all(blobs.iter().map(|d| async move {
            self.blobs
                .ensure(&job.source_repo, &job.target_repo, d)
                .await
                .map_err(|source| CopyError::Blob {
                    image: image.clone(),
                    digest: d.digest.clone(),
                    source: Box::new(source),
                })
        }))
        .await?;
        let out = self.target_manifest(job, m)?;
        self.push_by_digest(job, &out).await?;
        Ok(out)
    }

    /// The conversion seam: the bytes pushed for source manifest `m`.
    fn target_manifest(&self, job: &TagJob, m: &Manifest) -> Result<Pushed, CopyError> {
        match job.format {
            Format::Preserve => Ok(Pushed {
                raw: m.raw.clone(),
                media_type: m.kind.media_type(),
                digest: m.digest.clone(),
            }),
            other => Err(CopyError::Image {
                image: job.source_ref(),
                message: format!("format {:?} is not supported by this build", other.name()),
            }),
        }
    }

    fn manifest_lock(&self, repo: &str, digest: &Digest) -> Arc<tokio::sync::Mutex<bool>> {
        let mut m = self
            .manifest_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        m.entry((repo.to_string(), digest.clone()))
            .or_default()
            .clone()
    }

    /// Pushes `p` under `reference` (its digest or a tag), one writer per
    /// manifest at a time. Returns the digest the registry reported.
    async fn put_manifest(
        &self,
        job: &TagJob,
        p: &Pushed,
        reference: &str,
    ) -> Result<Option<Digest>, CopyError> {
        let lock = self.manifest_lock(&job.target_repo, &p.digest);
        let _held = lock.lock().await;
        self.target
            .manifest_put(&job.target_repo, reference, p.raw.clone(), p.media_type)
            .await
            .map_err(|source| CopyError::Registry {
                image: job.source_ref(),
                source: Box::new(source),
            })
    }

    async fn push_by_digest(&self, job: &TagJob, p: &Pushed) -> Result<(), CopyError> {
        let lock = self.manifest_lock(&job.target_repo, &p.digest);
        let mut pushed = lock.lock().await;
        if *pushed {
            return Ok(());
        }
        let got = self
            .target
            .manifest_put(
                &job.target_repo,
                &p.digest.to_string(),
                p.raw.clone(),
                p.media_type,
            )
            .await
            .map_err(|source| CopyError::Registry {
                image: job.source_ref(),
                source: Box::new(source),
            })?;
        if let Some(g) = got.filter(|g| *g != p.digest) {
            return Err(CopyError::Image {
                image: job.source_ref(),
                message: format!(
                    "target registry stored manifest as {g}, expected {}",
                    p.digest
                ),
            });
        }
        self.journal.append(&Record::Manifest {
            repo: job.target_repo.clone(),
            digest: p.digest.clone(),
        })?;
        *pushed = true;
        Ok(())
    }
}
