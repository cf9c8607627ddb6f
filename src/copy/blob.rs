//! Blob transfers: make one blob present in one target repository, by the
//! cheapest way that works (already there, cross-repository mount, or a
//! streamed GET -> PUT), with each unique digest transferred at most once
//! per run. Bytes are hashed while they stream; the last chunk is held back
//! until the digest checks out, so a bad blob is never committed.

use super::diffid::{DiffHasher, DiffId};
use super::{Event, Events};
use crate::convert::LayerFacts;
use crate::journal::{BlobHow, Journal, Record};
use crate::oci::{Descriptor, Digest, DigestVerifier};
use crate::registry::{Client, MountResult, RegistryError, RetryPolicy, UploadSession};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OnceCell, Semaphore};

/// Progress is reported at most once per this many bytes of one blob.
const PROGRESS_STEP: u64 = 256 << 10;

/// Counters for the run summary.
#[derive(Debug, Default)]
pub struct BlobCounters {
    /// Blobs streamed from the source.
    pub uploaded: AtomicU64,
    /// Blobs mounted from another target repository.
    pub mounted: AtomicU64,
    /// Blobs found already present.
    pub skipped: AtomicU64,
    /// Bytes streamed.
    pub bytes_uploaded: AtomicU64,
}

/// Once-only work, keyed.
type Cells<K, T> = Mutex<HashMap<K, Arc<OnceCell<T>>>>;

/// Shared state of all blob transfers in a run.
pub struct Blobs {
    source: Arc<Client>,
    target: Arc<Client>,
    journal: Arc<Journal>,
    events: Events,
    policy: RetryPolicy,
    limit: Semaphore,
    /// The first transfer of each digest; later requests wait on it.
    first: Cells<Digest, String>,
    /// Target repositories known to hold each digest.
    known: Mutex<HashMap<Digest, Vec<String>>>,
    /// One cell per (repository, digest): set once the blob is in that
    /// repository. Every write of a blob into a repository goes through
    /// it, so no two run at once (distribution rewrites the repository's
    /// link file on each commit, and a manifest push reading it at that
    /// moment fails with "blob unknown").
    in_repo: Cells<(String, Digest), ()>,
    /// Layer facts (size, diff_id) known so far.
    facts: Mutex<HashMap<Digest, LayerFacts>>,
    /// The first computation of each digest's facts.
    facts_cells: Cells<Digest, LayerFacts>,
    /// Counters.
    pub counters: BlobCounters,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Blobs {
    /// Transfer state for a run. The journal's replay seeds which target
    /// repositories hold which blobs (for mounts) and known layer facts.
    pub fn new(
        source: Arc<Client>,
        target: Arc<Client>,
        journal: Arc<Journal>,
        events: Events,
        policy: RetryPolicy,
        concurrency: usize,
        replay: &crate::journal::Replay,
    ) -> Self {
        Blobs {
            source,
            target,
            journal,
            events,
            policy,
            limit: Semaphore::new(concurrency.max(1)),
            first: Mutex::new(HashMap::new()),
            known: Mutex::new(replay.blobs.clone()),
            in_repo: Mutex::new(HashMap::new()),
            facts: Mutex::new(replay.facts.clone()),
            facts_cells: Mutex::new(HashMap::new()),
            counters: BlobCounters::default(),
        }
    }

    fn repo_cell(&self, target_repo: &str, digest: &Digest) -> Arc<OnceCell<()>> {
        lock(&self.in_repo)
            .entry((target_repo.to_string(), digest.clone()))
            .or_default()
            .clone()
    }

    /// Makes `desc` present in `target_repo`, reading it from `source_repo`
    /// if it has to be transferred.
    pub async fn ensure(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        let here = self.repo_cell(target_repo, &desc.digest);
        here.get_or_try_init(|| async {
            // The first repository to need a digest transfers it; the others
            // wait for it, then mount from there.
            let first = lock(&self.first)
                .entry(desc.digest.clone())
                .or_default()
                .clone();
            let first_repo = first
                .get_or_try_init(|| async {
                    self.materialize(source_repo, target_repo, desc).await?;
                    Ok::<_, RegistryError>(target_repo.to_string())
                })
                .await?;
            if first_repo != target_repo {
                self.materialize(source_repo, target_repo, desc).await?;
            }
            Ok::<_, RegistryError>(())
        })
        .await
        .map(|_| ())
    }

    async fn materialize(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        let _permit = self.permit().await?;
        let digest = &desc.digest;
        let (how, size) = match self.target.blob_head(target_repo, digest).await? {
            Some(n) if desc.size.is_none_or(|s| s == n) => (BlobHow::Present, n),
            _ => {
                let from: Vec<String> = lock(&self.known)
                    .get(digest)
                    .map(|v| v.iter().filter(|r| *r != target_repo).cloned().collect())
                    .unwrap_or_default();
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
                            None => self
                                .target
                                .blob_head(target_repo, digest)
                                .await?
                                .unwrap_or(0),
                        };
                        (BlobHow::Mounted, n)
                    }
                    None => {
                        self.events.send(Event::BlobStarted {
                            digest: digest.clone(),
                            size: desc.size,
                        });
                        let (n, _) = self
                            .transfer(source_repo, target_repo, desc, session, true, false)
                            .await?;
                        (BlobHow::Uploaded, n)
                    }
                }
            }
        };
        self.record(target_repo, digest, size, how)
    }

    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, RegistryError> {
        self.limit
            .acquire()
            .await
            .map_err(|_| RegistryError::Protocol {
                url: crate::registry::error::DisplayUrl::new(""),
                message: "transfer queue closed".into(),
            })
    }

    /// Counts, journals and remembers a blob now present in `target_repo`.
    fn record(
        &self,
        target_repo: &str,
        digest: &Digest,
        size: u64,
        how: BlobHow,
    ) -> Result<(), RegistryError> {
        match how {
            BlobHow::Uploaded => {
                self.counters.uploaded.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .bytes_uploaded
                    .fetch_add(size, Ordering::Relaxed);
            }
            BlobHow::Mounted => {
                self.counters.mounted.fetch_add(1, Ordering::Relaxed);
            }
            BlobHow::Present => {
                self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.journal
            .append(&Record::Blob {
                repo: target_repo.to_string(),
                digest: digest.clone(),
                size,
                how,
            })
            .map_err(journal_err)?;
        {
            let mut k = lock(&self.known);
            let v = k.entry(digest.clone()).or_default();
            if !v.iter().any(|r| r == target_repo) {
                v.push(target_repo.to_string());
            }
        }
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
    ) -> Result<(u64, Option<DiffId>), RegistryError> {
        let mut retries = 0;
        loop {
            let r = async {
                let s = match (upload, session.take()) {
                    (false, _) => None,
                    (true, Some(s)) => Some(s),
                    (true, None) => Some(self.target.upload_start(target_repo).await?),
                };
                self.stream_once(source_repo, s.as_ref(), desc, want_diff)
                    .await
            }
            .await;
            match r {
                Ok(n) => return Ok(n),
                Err(e) if e.is_transient() && retries < self.policy.max_retries => {
                    retries += 1;
                    self.events.send(Event::Retry {
                        what: format!("blob {}", desc.digest),
                        retry: retries,
                        error: e.to_string(),
                    });
                    tokio::time::sleep(self.policy.delay(retries, None)).await;
                }
                Err(e) => return Err(e.with_retries(retries)),
            }
        }
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
    ) -> Result<(u64, Option<DiffId>), RegistryError> {
        let resp = self.source.blob_get(source_repo, &desc.digest).await?;
        let url = crate::registry::error::DisplayUrl::new(resp.url().as_str());
        if let (Some(want), Some(got)) = (desc.size, resp.content_length()) {
            if want != got {
                return Err(RegistryError::Mismatch {
                    what: "size mismatch",
                    url,
                    expected: want.to_string(),
                    actual: got.to_string(),
                });
            }
        }
        let outcome: Arc<Mutex<Option<RegistryError>>> = Arc::new(Mutex::new(None));
        let diff_slot = want_diff.then(|| Arc::new(Mutex::new(None)));
        let counted = Arc::new(AtomicU64::new(0));
        let (events, digest, c2) = (self.events.clone(), desc.digest.clone(), counted.clone());
        let check = Check {
            expected: desc.digest.clone(),
            size: desc.size,
            url: url.clone(),
            outcome: outcome.clone(),
            diff: diff_slot.clone(),
        };
        let mut checked = Box::pin(verified(resp.bytes_stream(), check, move |n| {
            c2.fetch_add(n, Ordering::Relaxed);
            events.send(Event::BlobBytes {
                digest: digest.clone(),
                bytes: n,
            })
        }));
        let sent = match session {
            Some(session) => {
                self.target
                    .upload_put(
                        session,
                        &desc.digest,
                        desc.size,
                        reqwest::Body::wrap_stream(checked),
                    )
                    .await
            }
            None => {
                while let Some(r) = checked.next().await {
                    if r.is_err() {
                        break;
                    }
                }
                Ok(())
            }
        };
        if let Some(e) = lock(&outcome).take() {
            return Err(e);
        }
        sent?;
        // The bytes were committed (or read) and our own digest check passed
        // (it did, or `outcome` would hold an error).
        let diff = match diff_slot {
            Some(slot) => match lock(&slot).take() {
                Some(Ok(d)) => Some(d),
                Some(Err(e)) => {
                    return Err(RegistryError::Protocol {
                        url,
                        message: format!("cannot compute the diff_id of {}: {e}", desc.digest),
                    })
                }
                None => None,
            },
            None => None,
        };
        Ok((desc.size.unwrap_or(counted.load(Ordering::Relaxed)), diff))
    }

    /// The size and diff_id of a layer, making it present in `target_repo`
    /// on the way (schema 1 conversion needs both). Known facts (from this
    /// run or the journal) are reused; otherwise the diff_id is computed
    /// while the blob streams to the target, or, when the target already
    /// has it, by reading it once from the source.
    pub async fn layer_facts(
        &self,
        source_repo: &str,
        target_repo: &str,
        digest: &Digest,
    ) -> Result<LayerFacts, RegistryError> {
        let known = lock(&self.facts).get(digest).cloned();
        if let Some(f) = known {
            let desc = blob_desc(digest, Some(f.size));
            self.ensure(source_repo, target_repo, &desc).await?;
            return Ok(f);
        }
        let cell = lock(&self.facts_cells)
            .entry(digest.clone())
            .or_default()
            .clone();
        let f = cell
            .get_or_try_init(|| async {
                // Computing the facts may write the blob into the repository:
                // that goes through the repository's cell. If the blob got
                // there another way, the facts are computed by reading only.
                let mut computed = None;
                self.repo_cell(target_repo, digest)
                    .get_or_try_init(|| async {
                        computed = Some(
                            self.compute_facts(source_repo, target_repo, digest, true)
                                .await?,
                        );
                        Ok::<_, RegistryError>(())
                    })
                    .await?;
                match computed {
                    Some(f) => Ok(f),
                    None => {
                        self.compute_facts(source_repo, target_repo, digest, false)
                            .await
                    }
                }
            })
            .await?
            .clone();
        self.ensure(source_repo, target_repo, &blob_desc(digest, Some(f.size)))
            .await?;
        Ok(f)
    }

    /// Reads the blob for its diff_id; with `may_upload`, uploads it on the
    /// way if the target repository lacks it.
    async fn compute_facts(
        &self,
        source_repo: &str,
        target_repo: &str,
        digest: &Digest,
        may_upload: bool,
    ) -> Result<LayerFacts, RegistryError> {
        let _permit = self.permit().await?;
        let desc = blob_desc(digest, None);
        let present = match may_upload {
            true => self.target.blob_head(target_repo, digest).await?,
            false => Some(0),
        };
        if present.is_none() {
            self.events.send(Event::BlobStarted {
                digest: digest.clone(),
                size: None,
            });
        }
        let (size, diff) = self
            .transfer(
                source_repo,
                target_repo,
                &desc,
                None,
                present.is_none(),
                true,
            )
            .await?;
        let d = diff.ok_or_else(|| RegistryError::Protocol {
            url: crate::registry::error::DisplayUrl::new(""),
            message: format!("no diff_id computed for {digest}"),
        })?;
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
            .map_err(journal_err)?;
        if may_upload {
            let how = if present.is_some() {
                BlobHow::Present
            } else {
                BlobHow::Uploaded
            };
            self.record(target_repo, digest, size, how)?;
        }
        lock(&self.facts).insert(digest.clone(), facts.clone());
        Ok(facts)
    }

    /// Makes a small in-memory blob (a converted config) present in
    /// `target_repo`.
    pub async fn ensure_bytes(
        &self,
        target_repo: &str,
        digest: &Digest,
        data: Bytes,
    ) -> Result<(), RegistryError> {
        self.repo_cell(target_repo, digest)
            .get_or_try_init(|| async {
                let size = data.len() as u64;
                let how = match self.target.blob_head(target_repo, digest).await? {
                    Some(n) if n == size => BlobHow::Present,
                    _ => {
                        self.target
                            .upload_bytes(target_repo, digest, data.clone())
                            .await?;
                        BlobHow::Uploaded
                    }
                };
                self.record(target_repo, digest, size, how)
            })
            .await
            .map(|_| ())
    }
}

fn journal_err(e: crate::journal::JournalError) -> RegistryError {
    RegistryError::Protocol {
        url: crate::registry::error::DisplayUrl::new(""),
        message: e.to_string(),
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

/// Where a verified stream leaves the diff_id it computed.
pub type DiffSlot = Arc<Mutex<Option<Result<DiffId, String>>>>;

/// What a verified stream checks, and where it reports.
pub struct Check {
    /// The digest the bytes must have.
    pub expected: Digest,
    /// Their size, if known.
    pub size: Option<u64>,
    /// Where they come from (for messages).
    pub url: crate::registry::error::DisplayUrl,
    /// Set to the error when the check fails.
    pub outcome: Arc<Mutex<Option<RegistryError>>>,
    /// When set, the diff_id is computed too and stored here at the end.
    pub diff: Option<DiffSlot>,
}

struct VerifyState<S, F> {
    inner: S,
    verifier: Option<DigestVerifier>,
    hasher: Option<DiffHasher>,
    held: Option<Bytes>,
    check: Check,
    progress: F,
    unreported: u64,
    finished: bool,
}

/// Wraps a body stream: hashes and counts every byte, holds the latest chunk
/// back, and yields it only once the next one arrived or the stream ended
/// with the expected digest and size. On a mismatch (or a source error) it
/// records the error in `outcome` and fails the stream, so the upload it
/// feeds never sends its last bytes and is never committed.
pub fn verified<S, E, F>(
    inner: S,
    check: Check,
    progress: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
    F: Fn(u64) + Send + 'static,
{
    let st = VerifyState {
        inner,
        verifier: Some(DigestVerifier::new()),
        hasher: check.diff.as_ref().map(|_| DiffHasher::new()),
        held: None,
        check,
        progress,
        unreported: 0,
        finished: false,
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.finished {
            return None;
        }
        loop {
            let fail = |st: &mut VerifyState<S, F>, e: RegistryError| {
                let msg = e.to_string();
                *lock(&st.check.outcome) = Some(e);
                st.finished = true;
                Err(std::io::Error::other(msg))
            };
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    let v = st.verifier.as_mut()?;
                    v.update(&chunk);
                    let seen = v.len();
                    if let Some(h) = st.hasher.as_mut() {
                        h.update(&chunk);
                    }
                    st.unreported += chunk.len() as u64;
                    if st.unreported >= PROGRESS_STEP {
                        (st.progress)(st.unreported);
                        st.unreported = 0;
                    }
                    if let Some(want) = st.check.size {
                        if seen > want {
                            let e = RegistryError::Mismatch {
                                what: "size mismatch",
                                url: st.check.url.clone(),
                                expected: want.to_string(),
                                actual: format!("more than {want}"),
                            };
                            let r = fail(&mut st, e);
                            return Some((r, st));
                        }
                    }
                    if let Some(prev) = st.held.replace(chunk) {
                        return Some((Ok(prev), st));
                    }
                }
                Some(Err(e)) => {
                    let err = RegistryError::Transport {
                        method: "GET".into(),
                        url: st.check.url.clone(),
                        message: format!("body failed: {e}"),
                        retries: 0,
                    };
                    let r = fail(&mut st, err);
                    return Some((r, st));
                }
                None => {
                    let v = st.verifier.take()?;
                    let n = v.len();
                    let got = v.finish();
                    if st.unreported > 0 {
                        (st.progress)(st.unreported);
                        st.unreported = 0;
                    }
                    if let Some(want) = st.check.size.filter(|w| *w != n) {
                        let e = RegistryError::Mismatch {
                            what: "size mismatch",
                            url: st.check.url.clone(),
                            expected: want.to_string(),
                            actual: n.to_string(),
                        };
                        let r = fail(&mut st, e);
                        return Some((r, st));
                    }
                    if got != st.check.expected {
                        let e = RegistryError::Mismatch {
                            what: "digest mismatch",
                            url: st.check.url.clone(),
                            expected: st.check.expected.to_string(),
                            actual: got.to_string(),
                        };
                        let r = fail(&mut st, e);
                        return Some((r, st));
                    }
                    if let (Some(h), Some(slot)) = (st.hasher.take(), st.check.diff.as_ref()) {
                        *lock(slot) = Some(h.finish());
                    }
                    st.finished = true;
                    return st.held.take().map(|h| (Ok(h), st));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|rt| rt.block_on(f))
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    fn run(
        chunks: Vec<&'static [u8]>,
        expected: Digest,
        size: Option<u64>,
    ) -> (Vec<Result<Bytes, String>>, Option<String>) {
        let outcome = Arc::new(Mutex::new(None));
        let inner = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, String>(Bytes::from_static(c))),
        );
        let check = Check {
            expected,
            size,
            url: crate::registry::error::DisplayUrl::new("http://x/b"),
            outcome: outcome.clone(),
            diff: None,
        };
        let s = verified(inner, check, |_| {});
        let out: Vec<Result<Bytes, String>> =
            block_on(s.map(|r| r.map_err(|e| e.to_string())).collect());
        let o = lock(&outcome).take().map(|e| e.to_string());
        (out, o)
    }

    #[test]
    fn passes_good_bytes_through() {
        let (out, o) = run(
            vec![b"hello ", b"world"],
            Digest::of(b"hello world"),
            Some(11),
        );
        assert!(o.is_none());
        let all: Vec<u8> = out
            .into_iter()
            .flat_map(|r| r.map(|b| b.to_vec()).unwrap_or_default())
            .collect();
        assert_eq!(all, b"hello world");
    }

    #[test]
    fn withholds_last_chunk_on_bad_digest() {
        let (out, o) = run(
            vec![b"hello ", b"w0rld"],
            Digest::of(b"hello world"),
            Some(11),
        );
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].as_ref().ok().map(|b| b.to_vec()),
            Some(b"hello ".to_vec())
        );
        assert!(out[1].is_err(), "the last chunk must not be yielded");
        let o = o.unwrap_or_default();
        assert!(
            o.contains("digest mismatch") && o.contains(&Digest::of(b"hello world").to_string()),
            "{o}"
        );
    }

    #[test]
    fn stops_on_wrong_size() {
        let (_, o) = run(
            vec![b"hello ", b"world!"],
            Digest::of(b"hello world"),
            Some(11),
        );
        assert!(o.unwrap_or_default().contains("size mismatch"));
        let (_, o) = run(vec![b"hello"], Digest::of(b"hello"), Some(11));
        assert!(o.unwrap_or_default().contains("expected 11, got 5"));
    }

    #[test]
    fn empty_blob() {
        let (out, o) = run(vec![], Digest::of(b""), Some(0));
        assert!(o.is_none() && out.is_empty());
    }
}
