//! One tag job: resolve, skip if done, make blobs present, convert, push
//! child manifests, then the index, and the tag last. The conversion seam
//! is here: `convert::decide` picks the action for each manifest, and the
//! pure functions of `convert` produce the bytes pushed.

use super::blob::Blobs;
use super::{Event, Events};
use crate::convert::{self, Action, ChildOut, LayerFacts};
use crate::expand::TagJob;
use crate::journal::{Journal, JournalError, Record, Replay};
use crate::oci::{Digest, Manifest, ManifestKind};
use crate::plan::Platforms;
use crate::registry::{Client, RegistryError};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Largest config blob read for conversion (distribution refuses larger
/// manifests and configs on push).
const CONFIG_LIMIT: usize = 4 << 20;

/// Per manifest digest, a lock held while it is written or while an index
/// that references it is verified: distribution's storage rewrites a
/// manifest's blob in place on every push, so a concurrent reader (an index
/// push checking its children) can see it half-written.
pub(super) type ManifestLocks = Mutex<HashMap<Digest, Arc<tokio::sync::Mutex<()>>>>;

pub(super) struct Ctx<'a> {
    pub source: Arc<Client>,
    pub target: Arc<Client>,
    pub journal: Arc<Journal>,
    pub blobs: Arc<Blobs>,
    pub events: Events,
    pub replay: &'a Replay,
    pub manifest_locks: ManifestLocks,
    /// (repo, digest) of manifests pushed by digest in this run.
    pub pushed: Mutex<HashSet<(String, Digest)>>,
}

pub(super) enum Outcome {
    Copied { dropped: Vec<String> },
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
    #[error("{image}: cannot convert: {source}")]
    Convert {
        image: String,
        source: convert::ConvertError,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What is pushed for one manifest.
struct Pushed {
    raw: Bytes,
    media_type: &'static str,
    digest: Digest,
    /// Child manifests it references (indexes).
    children: Vec<Digest>,
    /// (os, architecture) of the image config, when it was read.
    platform: Option<(String, String)>,
    /// Config fields lost in conversion.
    dropped: Vec<String>,
}

fn lockmap<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ctx<'_> {
    pub async fn copy_tag<'j>(&self, job: &'j TagJob) -> (&'j TagJob, Result<Outcome, CopyError>) {
        (job, self.copy_tag_inner(job).await)
    }

    fn reg(&self, image: &str) -> impl Fn(RegistryError) -> CopyError + '_ {
        let image = image.to_string();
        move |source| CopyError::Registry {
            image: image.clone(),
            source: Box::new(source),
        }
    }

    async fn copy_tag_inner(&self, job: &TagJob) -> Result<Outcome, CopyError> {
        let image = job.source_ref();
        let m = self
            .source
            .manifest_get(&job.source_repo, &job.tag)
            .await
            .map_err(self.reg(&image))?;
        let key = (job.source_ref(), job.target_ref());
        if let Some(done) = self.replay.done.get(&key) {
            if done.source_digest == m.digest && done.format == job.format.name() {
                let now = self
                    .target
                    .manifest_head(&job.target_repo, &job.tag)
                    .await
                    .map_err(self.reg(&image))?;
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
        if !top.dropped.is_empty() {
            self.events.send(Event::Warning {
                source: image.clone(),
                message: format!(
                    "the {} conversion drops config fields: {}",
                    job.format.name(),
                    top.dropped.join(", ")
                ),
            });
        }
        self.events.send(Event::ImageDone {
            source: image,
            target: job.target_ref(),
            target_digest: top.digest,
        });
        Ok(Outcome::Copied {
            dropped: top.dropped,
        })
    }

    /// Pushes a manifest and everything below it, by digest.
    async fn push_tree(&self, job: &TagJob, m: &Manifest) -> Result<Pushed, CopyError> {
        if !m.kind.is_index() {
            return self.push_image(job, m).await;
        }
        let image = job.source_ref();
        let action = convert::decide(job.format, m.kind);
        let selected: Vec<(usize, &crate::oci::Descriptor)> = m
            .manifests
            .iter()
            .enumerate()
            .filter(|(_, d)| job.platforms.wants(d.platform.as_ref()))
            .collect();
        if selected.is_empty() {
            return Err(CopyError::Image {
                image,
                message: "no platform of the index matches the platforms option".into(),
            });
        }
        if action == Action::Keep
            && selected.len() != m.manifests.len()
            && job.platforms != Platforms::All
        {
            self.events.send(Event::Warning {
                source: image.clone(),
                message: format!(
                    "copying {} of {} platforms: the index is rewritten, so its digest changes",
                    selected.len(),
                    m.manifests.len()
                ),
            });
        }
        let image_ref = &image;
        let children = futures::future::try_join_all(selected.iter().map(|(pos, d)| async move {
            let platform = d
                .platform
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let child = self
                .source
                .manifest_get(&job.source_repo, &d.digest.to_string())
                .await
                .map_err(self.reg(&format!("{image_ref} (platform {platform})")))?;
            if child.kind.is_index() {
                return Err(CopyError::Image {
                    image: image_ref.clone(),
                    message: format!(
                        "index entry {} is itself an index; nested indexes are not supported",
                        d.digest
                    ),
                });
            }
            let p = self.push_image(job, &child).await?;
            Ok::<_, CopyError>((*pos, p))
        }))
        .await?;
        let outs: Vec<ChildOut> = children
            .iter()
            .map(|(pos, p)| ChildOut {
                position: *pos,
                digest: p.digest.clone(),
                size: p.raw.len() as u64,
                media_type: p.media_type,
                config_platform: p.platform.clone(),
            })
            .collect();
        let conv =
            convert::index(action, m.kind, &m.raw, &outs).map_err(|source| CopyError::Convert {
                image: image.clone(),
                source,
            })?;
        let mut dropped: Vec<String> = children
            .iter()
            .flat_map(|(_, p)| p.dropped.clone())
            .collect();
        dropped.sort();
        dropped.dedup();
        let pushed = Pushed {
            raw: conv.manifest,
            media_type: conv.media_type,
            digest: conv.digest,
            children: outs.iter().map(|c| c.digest.clone()).collect(),
            platform: None,
            dropped,
        };
        self.push_by_digest(job, &pushed).await?;
        Ok(pushed)
    }

    async fn ensure_blobs(
        &self,
        job: &TagJob,
        blobs: &[crate::oci::Descriptor],
    ) -> Result<(), CopyError> {
        let image = job.source_ref();
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
        .await
        .map(|_| ())
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
        let action = convert::decide(job.format, m.kind);
        let conv_err = |source| CopyError::Convert {
            image: image.clone(),
            source,
        };
        let pushed = if action == Action::Keep {
            self.ensure_blobs(job, &m.blobs()).await?;
            Pushed {
                raw: m.raw.clone(),
                media_type: m.kind.media_type(),
                digest: m.digest.clone(),
                children: Vec::new(),
                platform: None,
                dropped: Vec::new(),
            }
        } else if matches!(
            m.kind,
            ManifestKind::DockerV1 | ManifestKind::DockerV1Signed
        ) {
            let needed = convert::schema1::needed_layers(&m.raw).map_err(conv_err)?;
            let image_ref = &image;
            let facts: Vec<(Digest, LayerFacts)> =
                futures::future::try_join_all(needed.iter().map(|d| async move {
                    self.blobs
                        .layer_facts(&job.source_repo, &job.target_repo, d)
                        .await
                        .map(|f| (d.clone(), f))
                        .map_err(|source| CopyError::Blob {
                            image: image_ref.clone(),
                            digest: d.clone(),
                            source: Box::new(source),
                        })
                }))
                .await?;
            let facts: HashMap<Digest, LayerFacts> = facts.into_iter().collect();
            let c = convert::image(action, m.kind, &m.raw, None, &facts).map_err(conv_err)?;
            self.finish_conversion(job, c, None).await?
        } else {
            let config = m.config.as_ref().ok_or_else(|| CopyError::Image {
                image: image.clone(),
                message: "manifest has no config".into(),
            })?;
            let layers: Vec<crate::oci::Descriptor> = m
                .blobs()
                .into_iter()
                .filter(|d| d.digest != config.digest)
                .collect();
            // Check the conversion before moving any layer.
            let config_bytes = self
                .source
                .blob_bytes(&job.source_repo, &config.digest, CONFIG_LIMIT)
                .await
                .map_err(self.reg(&image))?;
            let c = convert::image(action, m.kind, &m.raw, Some(&config_bytes), &HashMap::new())
                .map_err(conv_err)?;
            self.ensure_blobs(job, &layers).await?;
            let platform = config_platform(&config_bytes);
            let c = match c.config {
                Some(_) => c,
                // The config is reused as it is (OCI -> Docker).
                None => convert::Converted {
                    config: Some((config.digest.clone(), config_bytes)),
                    ..c
                },
            };
            self.finish_conversion(job, c, platform).await?
        };
        self.push_by_digest(job, &pushed).await?;
        Ok(pushed)
    }

    async fn finish_conversion(
        &self,
        job: &TagJob,
        c: convert::Converted,
        platform: Option<(String, String)>,
    ) -> Result<Pushed, CopyError> {
        if let Some((d, bytes)) = &c.config {
            self.blobs
                .ensure_bytes(&job.target_repo, d, bytes.clone())
                .await
                .map_err(|source| CopyError::Blob {
                    image: job.source_ref(),
                    digest: d.clone(),
                    source: Box::new(source),
                })?;
        }
        Ok(Pushed {
            raw: c.manifest,
            media_type: c.media_type,
            digest: c.digest,
            children: Vec::new(),
            platform,
            dropped: c.dropped,
        })
    }

    /// Locks `p` and its children, in digest order (no deadlock).
    async fn lock_all(&self, p: &Pushed) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
        let mut ds: Vec<&Digest> = std::iter::once(&p.digest)
            .chain(p.children.iter())
            .collect();
        ds.sort();
        ds.dedup();
        let locks: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut m = lockmap(&self.manifest_locks);
            ds.iter()
                .map(|d| m.entry((*d).clone()).or_default().clone())
                .collect()
        };
        let mut held = Vec::new();
        for l in locks {
            held.push(l.lock_owned().await);
        }
        held
    }

    /// Pushes `p` under `reference` (a tag).
    async fn put_manifest(
        &self,
        job: &TagJob,
        p: &Pushed,
        reference: &str,
    ) -> Result<(), CopyError> {
        let _held = self.lock_all(p).await;
        self.target
            .manifest_put(&job.target_repo, reference, p.raw.clone(), p.media_type)
            .await
            .map_err(self.reg(&job.source_ref()))?;
        Ok(())
    }

    /// Pushes `p` by digest (once per run and repository), checks the
    /// digest the registry reports, and journals it.
    async fn push_by_digest(&self, job: &TagJob, p: &Pushed) -> Result<(), CopyError> {
        let key = (job.target_repo.clone(), p.digest.clone());
        let _held = self.lock_all(p).await;
        if lockmap(&self.pushed).contains(&key) {
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
            .map_err(self.reg(&job.source_ref()))?;
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
        lockmap(&self.pushed).insert(key);
        Ok(())
    }
}

/// (os, architecture) of a config, for index entries that lack a platform.
fn config_platform(config: &[u8]) -> Option<(String, String)> {
    let c = convert::config::OciImage::from_json(config).ok()?;
    (!c.os.is_empty() && !c.architecture.is_empty()).then(|| (c.os.clone(), c.architecture.clone()))
}
