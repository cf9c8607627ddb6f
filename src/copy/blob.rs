//! Blob transfers: make one blob present in one target repository, by the
//! cheapest way that works (already there, cross-repository mount, or a
//! streamed GET -> PUT), with each unique digest transferred at most once
//! per run. Bytes are hashed while they stream; the last chunk is held back
//! until the digest checks out, so a bad blob is never committed (the
//! stream layers are in `stream`).

use super::diffid::DiffId;
use super::error::BlobError;
use super::placement::{Known, Placement, RepoId};
use super::{Event, Events};
use crate::journal::{BlobHow, Journal, Record};
use crate::model::LayerFacts;
use crate::oci::{Descriptor, Digest};
use crate::registry::error::DisplayUrl;
use crate::registry::{BlobStat, Client, MountResult, RegistryError, RetryPolicy, UploadSession};
use bytes::Bytes;
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, Semaphore};

pub use super::stream::{verified, Check, DiffSlot, Outcome, PROGRESS_STEP};

/// Once-only work, keyed.
type Cells<K, T> = crate::sync::OnceMap<K, OnceCell<T>>;

/// How blob transfers are made.
#[derive(Debug, Clone)]
pub struct BlobOptions {
    /// The retry budget of one blob transfer.
    pub policy: RetryPolicy,
    /// Transfers in flight.
    pub concurrency: usize,
    /// Blobs larger than this are uploaded in chunks of this size.
    pub chunk_size: u64,
    /// Most bytes read of a blob whose size no manifest gives (schema 1
    /// layers): past it the transfer fails, so an endless layer cannot
    /// fill the target's upload area.
    pub max_unsized: u64,
}

/// Shared state of all blob transfers in a run.
pub struct Blobs {
    source: Arc<Client>,
    target: Arc<Client>,
    journal: Arc<Journal>,
    events: Events,
    policy: RetryPolicy,
    limit: Semaphore,
    /// The transfer of each digest under way; requests for it meanwhile
    /// wait on it, then mount from the repository it names. A finished
    /// one is forgotten (`in_repo` says where the blob is).
    first: Cells<Digest, RepoId>,
    /// For each digest, the target repositories that hold it (the sources
    /// of mounts) or are getting it.
    in_repo: Mutex<Placement>,
    /// Blobs larger than this are uploaded in chunks of this size.
    chunk_size: u64,
    /// See [`BlobOptions::max_unsized`].
    max_unsized: u64,
    /// Layer facts (size, diff_id) known so far.
    facts: Mutex<HashMap<Digest, LayerFacts>>,
    /// Blobs whose diff_id a schema 1 conversion will need: whichever
    /// image transfers one first computes it in that one stream.
    diff_wanted: Mutex<std::collections::HashSet<Digest>>,
    /// The first computation of each digest's facts.
    facts_cells: Cells<Digest, LayerFacts>,
}

use crate::sync::lock;

impl Blobs {
    /// Transfer state for a run. The journal's replay seeds which target
    /// repositories hold which blobs (for mounts) and known layer facts.
    pub fn new(
        source: Arc<Client>,
        target: Arc<Client>,
        journal: Arc<Journal>,
        events: Events,
        opts: BlobOptions,
        replay: &mut crate::journal::Replay,
    ) -> Self {
        let BlobOptions {
            policy,
            concurrency,
            chunk_size,
            max_unsized,
        } = opts;
        let blobs = Blobs {
            source,
            target,
            journal,
            events,
            policy,
            limit: Semaphore::new(concurrency.max(1)),
            chunk_size: chunk_size.max(1),
            max_unsized,
            first: Default::default(),
            in_repo: Mutex::new(Placement::default()),
            facts: Mutex::new(std::mem::take(&mut replay.facts)),
            diff_wanted: Mutex::new(Default::default()),
            facts_cells: Default::default(),
        };
        {
            let mut m = lock(&blobs.in_repo);
            for (digest, repos) in std::mem::take(&mut replay.blobs) {
                for r in repos.iter() {
                    let id = m.repo(r);
                    m.set(&digest, id, Known::Recorded);
                }
            }
        }
        blobs
    }

    pub(super) fn source(&self) -> &Client {
        &self.source
    }

    pub(super) fn target(&self) -> &Client {
        &self.target
    }

    pub(super) fn events(&self) -> &Events {
        &self.events
    }

    /// Marks blobs whose diff_id a schema 1 image of this run needs (the
    /// run reads every tag's manifest first, so this is known before any
    /// transfer).
    pub fn want_diff_ids(&self, digests: impl IntoIterator<Item = Digest>) {
        let known = lock(&self.facts);
        let mut w = lock(&self.diff_wanted);
        w.extend(
            digests
                .into_iter()
                .filter(|d| known.get(d).is_none_or(|f| f.diff_id.is_none())),
        );
    }

    fn diff_wanted(&self, digest: &Digest) -> bool {
        lock(&self.diff_wanted).contains(digest)
    }

    /// The layer facts known so far (from the journal and this run).
    pub fn known_facts(&self) -> HashMap<Digest, LayerFacts> {
        lock(&self.facts).clone()
    }

    /// The number of target repository `repo`.
    fn repo(&self, repo: &str) -> RepoId {
        lock(&self.in_repo).repo(repo)
    }

    /// Runs `make` to put `digest` in `target_repo`, once per run: later
    /// and concurrent calls wait for it, and after it succeeded they
    /// return at once.
    async fn once_in_repo<F, Fut>(
        &self,
        target_repo: &str,
        digest: &Digest,
        make: F,
    ) -> Result<(), BlobError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), BlobError>>,
    {
        let cell = {
            let mut m = lock(&self.in_repo);
            let repo = m.repo(target_repo);
            if m.get(digest, repo) == Some(Known::Present) {
                return Ok(());
            }
            m.pending(digest, repo)
        };
        cell.get_or_try_init(make).await?;
        self.mark_present(target_repo, digest);
        Ok(())
    }

    /// Notes `digest` as present in `target_repo`.
    fn mark_present(&self, target_repo: &str, digest: &Digest) {
        let mut m = lock(&self.in_repo);
        let repo = m.repo(target_repo);
        m.present(digest, repo);
    }

    /// Makes `desc` present in `target_repo`, reading it from `source_repo`
    /// if it has to be transferred.
    pub async fn ensure(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
    ) -> Result<(), BlobError> {
        self.once_in_repo(target_repo, &desc.digest, || async {
            // The first repository to need a digest transfers it; the others
            // wait for it, then mount from there.
            let first = self.first.get(&desc.digest);
            let first_repo = *first
                .get_or_try_init(|| async {
                    self.materialize(source_repo, target_repo, desc).await?;
                    Ok::<_, BlobError>(self.repo(target_repo))
                })
                .await?;
            // Later requests find the blob through `in_repo`.
            self.first.remove_if_same(&desc.digest, &first);
            if first_repo != self.repo(target_repo) {
                self.materialize(source_repo, target_repo, desc).await?;
            }
            Ok::<_, BlobError>(())
        })
        .await
    }

    async fn materialize(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
    ) -> Result<(), BlobError> {
        let _permit = self.permit().await;
        let digest = &desc.digest;
        let (how, size) = match self
            .target
            .blob_head(target_repo, digest)
            .await
            .map_err(BlobError::Target)?
        {
            st @ BlobStat::Present(n) if st.holds(desc.size) => {
                (BlobHow::Present, n.or(desc.size).unwrap_or(0))
            }
            _ => {
                let from: Vec<Arc<str>> = {
                    let m = lock(&self.in_repo);
                    m.holders(digest)
                        .filter_map(|(r, _)| m.name(r))
                        .filter(|r| &***r != target_repo)
                        .cloned()
                        .collect()
                };
                let mut session = None;
                let mut mounted = None;
                for repo in from.iter().take(3) {
                    match self.target.blob_mount(target_repo, digest, repo).await {
                        Ok(MountResult::Mounted) => {
                            mounted = Some(repo.clone());
                            break;
                        }
                        Ok(MountResult::Session(s)) => {
                            session = Some(s);
                            break;
                        }
                        Err(e) => tracing::debug!(error = %e, "mount failed; uploading instead"),
                    }
                }
                match mounted {
                    Some(_) => {
                        let n = match desc.size {
                            Some(n) => n,
                            None => match self
                                .target
                                .blob_head(target_repo, digest)
                                .await
                                .map_err(BlobError::Target)?
                            {
                                BlobStat::Present(Some(n)) => n,
                                _ => 0,
                            },
                        };
                        (BlobHow::Mounted, n)
                    }
                    None => {
                        self.events.send(Event::BlobStarted {
                            digest: digest.clone(),
                            size: desc.size,
                        });
                        let want_diff = self.diff_wanted(digest);
                        let (n, diff) = self
                            .transfer(source_repo, target_repo, desc, session, true, want_diff)
                            .await?;
                        if let Some(d) = diff {
                            self.store_facts(digest, n, d).await?;
                        }
                        (BlobHow::Uploaded, n)
                    }
                }
            }
        };
        self.record(target_repo, digest, size, how).await
    }

    /// A transfer slot. The semaphore is never closed, so waiting on it
    /// cannot fail; a closed one would only mean the run is ending.
    async fn permit(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.limit.acquire().await.ok()
    }

    /// Journals, remembers and reports (the event is what the run summary
    /// counts) a blob now present in `target_repo`.
    async fn record(
        &self,
        target_repo: &str,
        digest: &Digest,
        size: u64,
        how: BlobHow,
    ) -> Result<(), BlobError> {
        self.journal
            .append(&Record::Blob {
                repo: target_repo.to_string(),
                digest: digest.clone(),
                size,
                how,
            })
            .await?;
        // Present from now on: a source for mounts, and any wait for it
        // in this repository is over.
        self.mark_present(target_repo, digest);
        self.events.send(Event::BlobDone {
            digest: digest.clone(),
            how,
            size,
        });
        Ok(())
    }
    /// Streams the blob, retrying the whole transfer (new GET, new upload
    /// session) on transient failures; this is the only retry level for it.
    /// With `upload` false the blob is only read (for its diff_id).
    async fn transfer(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
        mut session: Option<UploadSession>,
        upload: bool,
        want_diff: bool,
    ) -> Result<(u64, Option<DiffId>), BlobError> {
        if upload && !want_diff {
            if let Some(size) = desc.size.filter(|s| *s > self.chunk_size) {
                let chunk = usize::try_from(self.chunk_size).unwrap_or(usize::MAX);
                return self
                    .transfer_chunked(source_repo, target_repo, desc, session, size, chunk)
                    .await
                    .map(|n| (n, None));
            }
        }
        let mut retries = 0;
        loop {
            let s = match (upload, session.take()) {
                (false, _) => None,
                (true, Some(s)) => Some(s),
                (true, None) => match self.target.upload_start_once(target_repo).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.retry_or_fail(&mut retries, desc, BlobError::Target(e))
                            .await?;
                        continue;
                    }
                },
            };
            let r = self
                .stream_once(source_repo, s.as_ref(), desc, want_diff)
                .await;
            match r {
                Ok(n) => return Ok(n),
                Err(e) => {
                    // The session will not be used again.
                    if let Some(s) = &s {
                        self.target.upload_cancel(s).await;
                    }
                    self.retry_or_fail(&mut retries, desc, e).await?;
                }
            }
        }
    }

    /// Counts one more retry of a blob transfer and waits before it, or
    /// gives `e` back when it is final or the budget is spent.
    pub(super) async fn retry_or_fail(
        &self,
        retries: &mut u32,
        desc: &Descriptor,
        e: BlobError,
    ) -> Result<(), BlobError> {
        if !e.is_transient() || *retries >= self.policy.max_retries {
            return Err(e.with_retries(*retries));
        }
        *retries += 1;
        self.events.send(Event::Retry {
            what: format!("blob {}", desc.digest),
            retry: *retries,
            error: e.to_string(),
        });
        tokio::time::sleep(self.policy.delay(*retries, e.retry_after())).await;
        Ok(())
    }

    /// One attempt: GET from the source, checked in the stream, and PUT
    /// into `session` (or, without a session, only read: to learn the
    /// diff_id of a blob the target already has). Returns the byte count
    /// and, when `want_diff`, the diff_id.
    async fn stream_once(
        &self,
        source_repo: &str,
        session: Option<&UploadSession>,
        desc: &Descriptor,
        want_diff: bool,
    ) -> Result<(u64, Option<DiffId>), BlobError> {
        let resp = self
            .source
            .blob_get(source_repo, &desc.digest)
            .await
            .map_err(BlobError::Source)?;
        let url = DisplayUrl::new(resp.url().as_str());
        if let (Some(want), Some(got)) = (desc.size, resp.content_length()) {
            if want != got {
                return Err(BlobError::Verification(RegistryError::Mismatch {
                    what: "size mismatch",
                    url,
                    expected: want.to_string(),
                    actual: got.to_string(),
                }));
            }
        }
        let outcome = Outcome::default();
        let diff_slot = want_diff.then(DiffSlot::default);
        let counted = Arc::new(AtomicU64::new(0));
        let (events, digest, c2) = (self.events.clone(), desc.digest.clone(), counted.clone());
        let check = Check {
            expected: desc.digest.clone(),
            size: desc.size,
            max_unsized: self.max_unsized,
            url,
            outcome: outcome.clone(),
            diff: diff_slot.clone(),
            limits: self.source.limits(),
        };
        let mut checked = Box::pin(verified(resp.bytes_stream(), check, move |n| {
            c2.fetch_add(n, Ordering::Relaxed);
            events.send(Event::BlobBytes {
                digest: digest.clone(),
                bytes: n,
            })
        }));
        let sent = match session {
            Some(session) => self
                .target
                .upload_whole(
                    session,
                    &desc.digest,
                    desc.size,
                    reqwest::Body::wrap_stream(checked),
                )
                .await
                .map_err(BlobError::Target),
            None => {
                while let Some(r) = checked.next().await {
                    if r.is_err() {
                        break;
                    }
                }
                Ok(())
            }
        };
        // A failed check explains a failed upload better than the upload's
        // own error does.
        if let Some(e) = lock(&outcome).take() {
            return Err(e);
        }
        sent?;
        // The bytes were committed (or read) and every check passed.
        let diff = diff_slot.and_then(|slot| lock(&slot).take());
        Ok((desc.size.unwrap_or(counted.load(Ordering::Relaxed)), diff))
    }

    /// The size and diff_id of a layer, making it present in `target_repo`
    /// on the way (schema 1 conversion needs both). Known facts (from this
    /// run or the journal) are reused. Otherwise the blob is made present
    /// the usual way, and its first transfer in this run computes the
    /// diff_id in its stream; only a blob that got there without being read
    /// (already in the target, or mounted) is read once, for the facts.
    pub async fn layer_facts(
        &self,
        source_repo: &str,
        target_repo: &str,
        digest: &Digest,
    ) -> Result<LayerFacts, BlobError> {
        let known = |d: &Digest| {
            lock(&self.facts)
                .get(d)
                .filter(|f| f.diff_id.is_some())
                .cloned()
        };
        if let Some(f) = known(digest) {
            self.ensure(source_repo, target_repo, &blob_desc(digest, Some(f.size)))
                .await?;
            return Ok(f);
        }
        self.want_diff_ids([digest.clone()]);
        self.ensure(source_repo, target_repo, &blob_desc(digest, None))
            .await?;
        if let Some(f) = known(digest) {
            return Ok(f);
        }
        let cell = self.facts_cells.get(digest);
        let f = cell
            .get_or_try_init(|| async {
                match known(digest) {
                    Some(f) => Ok(f),
                    None => self.compute_facts(source_repo, digest).await,
                }
            })
            .await?
            .clone();
        Ok(f)
    }

    /// Journals and remembers a layer's facts learnt from its stream.
    async fn store_facts(
        &self,
        digest: &Digest,
        size: u64,
        d: DiffId,
    ) -> Result<LayerFacts, BlobError> {
        let facts = LayerFacts {
            size,
            diff_id: Some(d.diff_id.clone()),
            compressed: d.compressed,
        };
        self.journal
            .append(&Record::LayerFacts {
                digest: digest.clone(),
                size,
                diff_id: d.diff_id,
                compressed: d.compressed,
            })
            .await?;
        lock(&self.facts).insert(digest.clone(), facts.clone());
        Ok(facts)
    }

    /// Reads the blob once, only for its diff_id (it is already in the
    /// target).
    async fn compute_facts(
        &self,
        source_repo: &str,
        digest: &Digest,
    ) -> Result<LayerFacts, BlobError> {
        let _permit = self.permit().await;
        let desc = blob_desc(digest, None);
        let (size, diff) = self
            .transfer(source_repo, "", &desc, None, false, true)
            .await?;
        let d = diff.ok_or_else(|| {
            BlobError::Verification(RegistryError::Protocol {
                url: DisplayUrl::new(""),
                message: format!("no diff_id computed for {digest}"),
            })
        })?;
        self.store_facts(digest, size, d).await
    }

    /// Makes a small in-memory blob (a converted config) present in
    /// `target_repo`.
    pub async fn ensure_bytes(
        &self,
        target_repo: &str,
        digest: &Digest,
        data: Bytes,
    ) -> Result<(), BlobError> {
        self.once_in_repo(target_repo, digest, || async {
            let size = data.len() as u64;
            let how = match self
                .target
                .blob_head(target_repo, digest)
                .await
                .map_err(BlobError::Target)?
            {
                st if st.holds(Some(size)) => BlobHow::Present,
                _ => {
                    self.target
                        .upload_bytes(target_repo, digest, data.clone())
                        .await
                        .map_err(BlobError::Target)?;
                    BlobHow::Uploaded
                }
            };
            self.record(target_repo, digest, size, how).await
        })
        .await
    }
}

fn blob_desc(digest: &Digest, size: Option<u64>) -> Descriptor {
    Descriptor {
        media_type: String::new(),
        digest: digest.clone(),
        size,
        urls: Vec::new(),
        platform: None,
    }
}
