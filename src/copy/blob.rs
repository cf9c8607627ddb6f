//! Blob transfers: make one blob present in one target repository, by the
//! cheapest way that works (already there, cross-repository mount, or a
//! streamed GET -> PUT), with each unique digest transferred at most once
//! per run. Bytes are hashed while they stream; the last chunk is held back
//! until the digest checks out, so a bad blob is never committed.

use super::{Event, Events};
use crate::journal::{BlobHow, Journal, Record};
use crate::oci::{Descriptor, Digest, DigestVerifier};
use crate::registry::{Client, MountResult, RegistryError, RetryPolicy, UploadSession};
use bytes::Bytes;
use futures::{Stream, StreamExt};
use std::collections::{HashMap, HashSet};
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

/// Shared state of all blob transfers in a run.
pub struct Blobs {
    source: Arc<Client>,
    target: Arc<Client>,
    journal: Arc<Journal>,
    events: Events,
    policy: RetryPolicy,
    limit: Semaphore,
    /// The first transfer of each digest; later requests wait on it.
    first: Mutex<HashMap<Digest, Arc<OnceCell<String>>>>,
    /// Target repositories known to hold each digest.
    known: Mutex<HashMap<Digest, Vec<String>>>,
    /// (repo, digest) pairs made present in this run.
    present: Mutex<HashSet<(String, Digest)>>,
    /// Counters.
    pub counters: BlobCounters,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Blobs {
    /// Transfer state for a run. `known` seeds which target repositories
    /// hold which blobs (from the journal), for mounts.
    pub fn new(
        source: Arc<Client>,
        target: Arc<Client>,
        journal: Arc<Journal>,
        events: Events,
        policy: RetryPolicy,
        concurrency: usize,
        known: HashMap<Digest, Vec<String>>,
    ) -> Self {
        Blobs {
            source,
            target,
            journal,
            events,
            policy,
            limit: Semaphore::new(concurrency.max(1)),
            first: Mutex::new(HashMap::new()),
            known: Mutex::new(known),
            present: Mutex::new(HashSet::new()),
            counters: BlobCounters::default(),
        }
    }

    /// Makes `desc` present in `target_repo`, reading it from `source_repo`
    /// if it has to be transferred. Returns its size.
    pub async fn ensure(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        let key = (target_repo.to_string(), desc.digest.clone());
        if lock(&self.present).contains(&key) {
            return Ok(());
        }
        let cell = lock(&self.first)
            .entry(desc.digest.clone())
            .or_default()
            .clone();
        let first_repo = cell
            .get_or_try_init(|| async {
                self.materialize(source_repo, target_repo, desc).await?;
                Ok::<_, RegistryError>(target_repo.to_string())
            })
            .await?;
        if first_repo != target_repo && !lock(&self.present).contains(&key) {
            self.materialize(source_repo, target_repo, desc).await?;
        }
        Ok(())
    }

    async fn materialize(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
    ) -> Result<(), RegistryError> {
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| RegistryError::Protocol {
                url: crate::registry::error::DisplayUrl::new(""),
                message: "transfer queue closed".into(),
            })?;
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
                        let n = self
                            .transfer(source_repo, target_repo, desc, session)
                            .await?;
                        (BlobHow::Uploaded, n)
                    }
                }
            }
        };
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
            .map_err(|e| RegistryError::Protocol {
                url: crate::registry::error::DisplayUrl::new(""),
                message: e.to_string(),
            })?;
        {
            let mut k = lock(&self.known);
            let v = k.entry(digest.clone()).or_default();
            if !v.iter().any(|r| r == target_repo) {
                v.push(target_repo.to_string());
            }
        }
        lock(&self.present).insert((target_repo.to_string(), digest.clone()));
        self.events.send(Event::BlobDone {
            digest: digest.clone(),
            how,
            size,
        });
        Ok(())
    }

    /// Streams the blob, retrying the whole transfer (new GET, new upload
    /// session) on transient failures; this is the only retry level for it.
    async fn transfer(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
        mut session: Option<UploadSession>,
    ) -> Result<u64, RegistryError> {
        let mut retries = 0;
        loop {
            let r = async {
                let s = match session.take() {
                    Some(s) => s,
                    None => self.target.upload_start(target_repo).await?,
                };
                self.stream_once(source_repo, &s, desc).await
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

    async fn stream_once(
        &self,
        source_repo: &str,
        session: &UploadSession,
        desc: &Descriptor,
    ) -> Result<u64, RegistryError> {
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
        let events = self.events.clone();
        let digest = desc.digest.clone();
        let checked = verified(
            resp.bytes_stream(),
            desc.digest.clone(),
            desc.size,
            url,
            outcome.clone(),
            move |n| {
                events.send(Event::BlobBytes {
                    digest: digest.clone(),
                    bytes: n,
                })
            },
        );
        let put = self
            .target
            .upload_put(
                session,
                &desc.digest,
                desc.size,
                reqwest::Body::wrap_stream(checked),
            )
            .await;
        if let Some(e) = lock(&outcome).take() {
            return Err(e);
        }
        put?;
        // A blob is only counted once the registry committed it and our own
        // digest check passed (it did, or `outcome` would hold an error).
        Ok(match desc.size {
            Some(n) => n,
            None => self
                .target
                .blob_head(&session.repo, &desc.digest)
                .await?
                .unwrap_or(0),
        })
    }
}

struct VerifyState<S, F> {
    inner: S,
    verifier: Option<DigestVerifier>,
    held: Option<Bytes>,
    expected: Digest,
    size: Option<u64>,
    url: crate::registry::error::DisplayUrl,
    outcome: Arc<Mutex<Option<RegistryError>>>,
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
    expected: Digest,
    size: Option<u64>,
    url: crate::registry::error::DisplayUrl,
    outcome: Arc<Mutex<Option<RegistryError>>>,
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
        held: None,
        expected,
        size,
        url,
        outcome,
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
                *lock(&st.outcome) = Some(e);
                st.finished = true;
                Err(std::io::Error::other(msg))
            };
            match st.inner.next().await {
                Some(Ok(chunk)) => {
                    let v = st.verifier.as_mut()?;
                    v.update(&chunk);
                    let seen = v.len();
                    st.unreported += chunk.len() as u64;
                    if st.unreported >= PROGRESS_STEP {
                        (st.progress)(st.unreported);
                        st.unreported = 0;
                    }
                    if let Some(want) = st.size {
                        if seen > want {
                            let e = RegistryError::Mismatch {
                                what: "size mismatch",
                                url: st.url.clone(),
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
                        url: st.url.clone(),
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
                    if let Some(want) = st.size.filter(|w| *w != n) {
                        let e = RegistryError::Mismatch {
                            what: "size mismatch",
                            url: st.url.clone(),
                            expected: want.to_string(),
                            actual: n.to_string(),
                        };
                        let r = fail(&mut st, e);
                        return Some((r, st));
                    }
                    if got != st.expected {
                        let e = RegistryError::Mismatch {
                            what: "digest mismatch",
                            url: st.url.clone(),
                            expected: st.expected.to_string(),
                            actual: got.to_string(),
                        };
                        let r = fail(&mut st, e);
                        return Some((r, st));
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
        let s = verified(
            inner,
            expected,
            size,
            crate::registry::error::DisplayUrl::new("http://x/b"),
            outcome.clone(),
            |_| {},
        );
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
