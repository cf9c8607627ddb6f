//! One tag job (its manifest already read by the run): read what else the
//! image plan needs, plan it (the pure
//! `image_plan::plan_image`, the same one `check` uses), and execute the
//! plan: make every blob present, push the configs, the child manifests by
//! digest, then the index, and the tag last, so a tag never points at an
//! incomplete image. Schema 1 conversions need the layers' diff_ids, which
//! are computed while the layers stream; the plan is then made again with
//! them.

use super::blob::Blobs;
use super::error::{BlobError, CopyError};
use super::{Event, Events};
use crate::expand::TagJob;
use crate::image_plan::{self, ImageOptions, ImagePlan, PlanAction, PushStep, Severity, TargetTag};
use crate::journal::{Journal, Record, Replay};
use crate::model::FailureKind;
use crate::oci::{Digest, Manifest};
use crate::registry::{Client, RegistryError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Per manifest digest, a lock held while it is written or while an index
/// that references it is verified: distribution's storage rewrites a
/// manifest's blob in place on every push, so a concurrent reader (an index
/// push checking its children) can see it half-written.
pub(super) type ManifestLocks = crate::sync::OnceMap<Digest, tokio::sync::Mutex<()>>;

/// Manifest locks held; on drop they are released, and those nobody else
/// holds or waits for leave the map (it would otherwise keep one lock per
/// manifest of the run).
struct Held<'a> {
    locks: &'a ManifestLocks,
    digests: Vec<Digest>,
    guards: Vec<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.guards.clear();
        for d in &self.digests {
            // Every holder and waiter has a clone: one count is the map's.
            if self
                .locks
                .with(|m| m.get(d).is_some_and(|l| Arc::strong_count(l) == 1))
            {
                self.locks.remove(d);
            }
        }
    }
}

pub(super) struct Ctx<'a> {
    pub source: Arc<Client>,
    pub target: Arc<Client>,
    pub journal: Arc<Journal>,
    pub blobs: Arc<Blobs>,
    pub events: Events,
    pub replay: &'a Replay,
    pub max_image_size: Option<u64>,
    pub manifest_locks: ManifestLocks,
    /// (repo, digest) of manifests pushed by digest in this run.
    pub pushed: Mutex<HashSet<(Arc<str>, Digest)>>,
    /// Config blobs read in this run.
    pub configs: crate::image_plan::read::Configs,
    /// Push history images to their tag (the run orders them oldest
    /// first), not only by digest: OpenShift 4 adds only pushes to a tag
    /// to a stream's history.
    pub history_to_tag: bool,
}

pub(super) enum Outcome {
    Copied,
    Skipped,
}

/// The failure kind of a plan's blockers: conversion, unless the source
/// itself is at fault.
fn blocker_kind(plan: &ImagePlan) -> FailureKind {
    if plan.blockers().all(|f| {
        matches!(
            f.code,
            crate::model::FindingCode::MissingBlob | crate::model::FindingCode::SourceError
        )
    }) {
        FailureKind::Source
    } else {
        FailureKind::Conversion
    }
}

impl Ctx<'_> {
    /// Copies one tag whose manifest was read (`top`).
    pub async fn copy_tag<'j>(
        &self,
        job: &'j TagJob,
        top: Result<Manifest, RegistryError>,
    ) -> (&'j TagJob, Result<Outcome, CopyError>) {
        (job, self.copy_tag_inner(job, top).await)
    }

    fn err(&self, image: &str, kind: FailureKind) -> impl Fn(RegistryError) -> CopyError + '_ {
        let image = image.to_string();
        move |source| CopyError::Registry {
            image: image.clone(),
            kind,
            source: Box::new(source),
        }
    }

    fn blob_err<'a>(
        &self,
        image: &'a str,
        digest: &'a Digest,
    ) -> impl Fn(BlobError) -> CopyError + 'a {
        move |source| CopyError::Blob {
            image: image.to_string(),
            digest: digest.clone(),
            source: Box::new(source),
        }
    }

    async fn copy_tag_inner(
        &self,
        job: &TagJob,
        top: Result<Manifest, RegistryError>,
    ) -> Result<Outcome, CopyError> {
        let image = job.source_ref();
        let top = top.map_err(self.err(&image, FailureKind::Source))?;
        let done = self.replay.done.get(&(job.source_ref(), job.target_ref()));
        // The done test needs the target tag only when the journal has a
        // matching record; otherwise nothing more than the manifest is read.
        let target = self.target_tag(job, &top.digest, done).await?;
        if image_plan::done_digest(&top.digest, job.format, done, &target).is_some() {
            self.events.send(Event::ImageSkipped { source: image });
            return Ok(Outcome::Skipped);
        }
        let read = crate::image_plan::read::read_rest(
            &self.source,
            &self.configs,
            &job.source_repo,
            top,
            job.format,
            &job.platforms,
        )
        .await
        .map_err(self.err(&image, FailureKind::Source))?;
        let opts = ImageOptions {
            format: job.format,
            platforms: &job.platforms,
            max_image_size: self.max_image_size,
        };
        let plan_with = |facts: &HashMap<Digest, crate::model::LayerFacts>| {
            image_plan::plan_image(&read, opts, facts, done, &target)
        };
        let mut plan = plan_with(&self.blobs.known_facts());
        if plan.action == PlanAction::Blocked {
            let message: Vec<&str> = plan.blockers().map(|f| f.message.as_ref()).collect();
            return Err(CopyError::Blocked {
                image,
                kind: blocker_kind(&plan),
                message: message.join("; "),
            });
        }
        self.start(job, &plan).await?;
        self.ensure_blobs(job, &plan).await?;
        if plan.pending {
            // Schema 1: the diff_ids are known now; plan again with them.
            plan = plan_with(&self.blobs.known_facts());
            if plan.pending || plan.action == PlanAction::Blocked {
                let message: Vec<String> = plan
                    .blockers()
                    .map(|f| f.message.to_string())
                    .chain(plan.target_digest_reason.clone())
                    .collect();
                return Err(CopyError::Blocked {
                    image,
                    kind: FailureKind::Conversion,
                    message: message.join("; "),
                });
            }
        }
        self.push_configs(job, &plan).await?;
        let Some(top) = plan.manifests.last() else {
            return Err(CopyError::Blocked {
                image,
                kind: FailureKind::Conversion,
                message: "the plan pushes no manifest".into(),
            });
        };
        self.push_manifests(job, &plan, top).await?;
        self.finish(job, &plan, top).await?;
        Ok(Outcome::Copied)
    }

    /// The target tag, looked up only when the journal has a matching done
    /// record (the done test needs it); a history image has no tag and is
    /// there if its recorded digest is.
    async fn target_tag(
        &self,
        job: &TagJob,
        source_digest: &Digest,
        done: Option<&crate::journal::DoneTag>,
    ) -> Result<TargetTag, CopyError> {
        if !image_plan::needs_target_lookup(source_digest, job.format, done) {
            return Ok(TargetTag::Unknown);
        }
        let reference = match (&job.history, done) {
            (Some(_), Some(d)) => d.target_digest.to_string(),
            _ => job.tag.to_string(),
        };
        let found = self
            .target
            .manifest_head(&job.target_repo, &reference)
            .await
            .map_err(self.err(&job.source_ref(), FailureKind::Target))?;
        Ok(TargetTag::from(found))
    }

    /// The image starts: its event, its warnings, and the `Planned` record.
    async fn start(&self, job: &TagJob, plan: &ImagePlan) -> Result<(), CopyError> {
        let image = job.source_ref();
        self.events.send(Event::ImageStarted {
            source: image.clone(),
        });
        for f in plan
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
        {
            self.events.send(Event::Warning {
                source: image.clone(),
                message: f.message.to_string(),
            });
        }
        self.journal
            .append(&Record::Planned {
                source: job.source_ref(),
                source_digest: plan.source_digest.clone(),
                target: job.target_ref(),
                format: job.format,
            })
            .await?;
        Ok(())
    }

    /// Pushes the configs the plan wrote (converted ones, from memory).
    async fn push_configs(&self, job: &TagJob, plan: &ImagePlan) -> Result<(), CopyError> {
        let image = job.source_ref();
        for (d, bytes) in &plan.configs {
            self.events.send(Event::BlobWanted {
                image: image.clone(),
                digest: d.clone(),
                layer: 0,
                layers: plan.blobs.len(),
            });
            self.blobs
                .ensure_bytes(&job.target_repo, d, bytes.clone())
                .await
                .map_err(self.blob_err(&image, d))?;
        }
        Ok(())
    }

    /// Pushes the manifests, `top` (the last) tagged last.
    async fn push_manifests(
        &self,
        job: &TagJob,
        plan: &ImagePlan,
        top: &PushStep,
    ) -> Result<(), CopyError> {
        match (
            plan.manifests.len(),
            job.history.is_none() && !top.is_schema1(),
        ) {
            // A single image is pushed once, by its tag: everything it
            // references is in place. (Schema 1 goes by digest first: a
            // registry that refuses it says so at once, without retries.)
            (1, true) => self.push(job, top, Some(&job.tag)).await?,
            _ => {
                // Children by digest, then the index by digest; the tag
                // last (a history image stays untagged).
                for step in &plan.manifests {
                    self.push(job, step, None).await?;
                }
                if job.history.is_none() || self.history_to_tag {
                    self.put_manifest(job, top, &job.tag).await?;
                }
            }
        }
        Ok(())
    }

    /// The image is complete: the `Done` record (only now), then its event.
    async fn finish(
        &self,
        job: &TagJob,
        plan: &ImagePlan,
        top: &PushStep,
    ) -> Result<(), CopyError> {
        self.journal
            .append(&Record::Done {
                source: job.source_ref(),
                source_digest: plan.source_digest.clone(),
                target: job.target_ref(),
                target_digest: top.digest.clone(),
                format: job.format,
                children: plan.child_digests.clone(),
            })
            .await?;
        self.events.send(Event::ImageDone {
            source: job.source_ref(),
            target: job.target_ref(),
            target_digest: top.digest.clone(),
            // Only what may change how a container runs: build metadata
            // is dropped from nearly every Docker image (check lists it
            // as info).
            dropped: plan
                .dropped
                .iter()
                .filter(|f| crate::convert::config::changes_runtime(f))
                .cloned()
                .collect(),
        });
        Ok(())
    }

    /// Makes every blob of the plan present in the target repository,
    /// computing diff_ids on the way where the conversion needs them.
    async fn ensure_blobs(&self, job: &TagJob, plan: &ImagePlan) -> Result<(), CopyError> {
        let image = job.source_ref();
        let image = &image;
        let layers = plan.blobs.len();
        futures::future::try_join_all(plan.blobs.iter().enumerate().map(|(i, b)| async move {
            self.events.send(Event::BlobWanted {
                image: image.clone(),
                digest: b.desc.digest.clone(),
                layer: i + 1,
                layers,
            });
            let r = if b.diff_id {
                self.blobs
                    .layer_facts(&job.source_repo, &job.target_repo, &b.desc.digest)
                    .await
                    .map(|_| ())
            } else {
                self.blobs
                    .ensure(&job.source_repo, &job.target_repo, &b.desc)
                    .await
            };
            r.map_err(self.blob_err(image, &b.desc.digest))
        }))
        .await
        .map(|_| ())
    }

    /// Locks `p` and its children, in digest order (no deadlock).
    async fn lock_all(&self, p: &PushStep) -> Held<'_> {
        let mut ds: Vec<Digest> = std::iter::once(&p.digest)
            .chain(p.children.iter())
            .cloned()
            .collect();
        ds.sort();
        ds.dedup();
        let locks = self.manifest_locks.get_all(&ds);
        let mut guards = Vec::new();
        for l in locks {
            guards.push(l.lock_owned().await);
        }
        Held {
            locks: &self.manifest_locks,
            digests: ds,
            guards,
        }
    }

    /// Pushes `p` under `reference` (a tag).
    async fn put_manifest(
        &self,
        job: &TagJob,
        p: &PushStep,
        reference: &str,
    ) -> Result<(), CopyError> {
        let _held = self.lock_all(p).await;
        self.target
            .manifest_put(&job.target_repo, reference, p.raw.clone(), p.media_type)
            .await
            .map_err(|e| self.put_err(job, p, e))?;
        Ok(())
    }

    /// A refused manifest push, explained where the cause is likely the
    /// format: many registries no longer take schema 1 (distribution
    /// without it answers 500 `UNKNOWN`, or 400 `DIGEST_INVALID`).
    fn put_err(&self, job: &TagJob, p: &PushStep, e: RegistryError) -> CopyError {
        match &e {
            RegistryError::Status {
                status: 400 | 500, ..
            } if p.is_schema1() => CopyError::Blocked {
                image: job.source_ref(),
                kind: FailureKind::Target,
                message: format!(
                    "{e}; the target refused a schema 1 manifest (many registries no longer accept schema 1): use format = \"oci\" or \"docker\" for this image"
                ),
            },
            _ => self.err(&job.source_ref(), FailureKind::Target)(e),
        }
    }

    /// Pushes `p` under `tag`, or by digest (once per run and repository),
    /// checks the digest the registry reports, and journals it.
    async fn push(&self, job: &TagJob, p: &PushStep, tag: Option<&str>) -> Result<(), CopyError> {
        let key = (job.target_repo.clone(), p.digest.clone());
        let _held = self.lock_all(p).await;
        let known = crate::sync::lock(&self.pushed).contains(&key);
        if known && tag.is_none() {
            return Ok(());
        }
        let reference = tag
            .map(str::to_string)
            .unwrap_or_else(|| p.digest.to_string());
        let (repo, raw) = (&job.target_repo, p.raw.clone());
        let put = match p.is_schema1() {
            true => {
                self.target
                    .manifest_put_once(repo, &reference, raw, p.media_type)
                    .await
            }
            false => {
                self.target
                    .manifest_put(repo, &reference, raw, p.media_type)
                    .await
            }
        };
        let got = put.map_err(|e| self.put_err(job, p, e))?;
        if let Some(g) = got.filter(|g| *g != p.digest) {
            return Err(CopyError::Verification {
                image: job.source_ref(),
                message: format!(
                    "target registry stored manifest as {g}, expected {}",
                    p.digest
                ),
            });
        }
        if !known {
            self.journal
                .append(&Record::Manifest {
                    repo: job.target_repo.to_string(),
                    digest: p.digest.clone(),
                })
                .await?;
            // Only pushes by digest consult the set (a tag is pushed every
            // time); remembering each tagged image would cost memory per
            // tag for a repeated journal line saved now and then.
            if tag.is_none() {
                crate::sync::lock(&self.pushed).insert(key);
            }
        }
        Ok(())
    }
}
