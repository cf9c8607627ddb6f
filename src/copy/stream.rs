//! The stream layers a blob's bytes pass through between the source's
//! body and the target's upload (see [`verified`]): size, diff_id,
//! progress and digest checked while the bytes flow, the last chunk held
//! back until every check passed. `blob` feeds its transfers through
//! them; nothing here does I/O of its own.

use super::diffid::{DiffHasher, DiffId};
use super::error::BlobError;
use crate::oci::{Digest, DigestVerifier};
use crate::registry::error::DisplayUrl;
use crate::registry::retry::RateGuard;
use crate::registry::{RegistryError, TransferLimits};
use crate::sync::lock;
use bytes::Bytes;
use futures::{ready, Stream};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Progress is reported at most once per this many bytes of one blob.
pub const PROGRESS_STEP: u64 = 256 << 10;

/// Where a failed check leaves its error, for the caller of the upload that
/// the stream fed (the upload itself only sees an I/O error).
pub type Outcome = Arc<Mutex<Option<BlobError>>>;

/// Where a verified stream leaves the diff_id it computed.
pub type DiffSlot = Arc<Mutex<Option<DiffId>>>;

/// What a verified stream checks, and where it reports.
pub struct Check {
    /// The digest the bytes must have.
    pub expected: Digest,
    /// Their size, if known.
    pub size: Option<u64>,
    /// When the size is not known, the most bytes accepted.
    pub max_unsized: u64,
    /// Where they come from (for messages).
    pub url: DisplayUrl,
    /// Set to the error when a check fails.
    pub outcome: Outcome,
    /// When set, the diff_id is computed too and stored here at the end.
    pub diff: Option<DiffSlot>,
    /// The slowest the body may be.
    pub limits: TransferLimits,
}

/// The chunks flowing between the layers of a verified stream.
type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, BlobError>> + Send>>;

/// Wraps a body stream in stacked layers, as containers/image stacks its
/// readers, innermost first:
/// 1. `SourceErrors`: a failed read of the body, or one slower than the
///    minimum rate ([`RateGuard`]), is a source failure;
/// 2. `SizeCheck`: no more bytes than the descriptor's size, and not
///    fewer at the end; without a size, no more than `max_unsized`;
/// 3. `DiffIdTap`: the diff_id of the uncompressed content, when wanted;
/// 4. `ProgressTap`: byte counts, at most every [`PROGRESS_STEP`];
/// 5. `DigestCheck`: the digest (sha256 or sha512) of every byte; the latest chunk is held back
///    until the next one arrives or the stream ends with the expected
///    digest, so the upload the stream feeds never sends its last bytes,
///    and is never committed, unless every check passed;
/// 6. `IntoBody`: a failure is left in `outcome` and surfaces to the
///    HTTP client as an I/O error.
pub fn verified<S, E, F>(
    inner: S,
    check: Check,
    progress: F,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
    F: Fn(u64) + Send + Unpin + 'static,
{
    let s: Chunks = Box::pin(SourceErrors {
        inner,
        url: check.url.clone(),
        rate: RateGuard::new(check.limits),
    });
    let s: Chunks = Box::pin(SizeCheck {
        inner: s,
        want: check.size,
        cap: check.size.unwrap_or(check.max_unsized),
        seen: 0,
        url: check.url.clone(),
    });
    let s: Chunks = match check.diff {
        Some(slot) => Box::pin(DiffIdTap {
            inner: s,
            hasher: Some(DiffHasher::new()),
            slot,
            url: check.url.clone(),
        }),
        None => s,
    };
    let s: Chunks = Box::pin(ProgressTap {
        inner: s,
        unreported: 0,
        progress,
    });
    let s: Chunks = Box::pin(DigestCheck {
        inner: s,
        verifier: Some(DigestVerifier::for_algorithm(check.expected.algorithm())),
        held: None,
        expected: check.expected,
        url: check.url,
    });
    IntoBody {
        inner: s,
        outcome: check.outcome,
        finished: false,
    }
}

/// Layer 1: body read errors, and trickling bodies, become source failures.
struct SourceErrors<S> {
    inner: S,
    url: DisplayUrl,
    rate: RateGuard,
}

impl<S, E> Stream for SourceErrors<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    type Item = Result<Bytes, BlobError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let failed = |url: &DisplayUrl, message: String| {
            BlobError::Source(RegistryError::Transport {
                method: "GET".into(),
                url: url.clone(),
                message,
                retries: 0,
            })
        };
        let item = ready!(Pin::new(&mut self.inner).poll_next(cx));
        Poll::Ready(item.map(|r| match r {
            Ok(chunk) => match self.rate.on_bytes(chunk.len() as u64) {
                Ok(()) => Ok(chunk),
                Err(m) => Err(failed(&self.url, m)),
            },
            Err(e) => Err(failed(&self.url, format!("body failed: {e}"))),
        }))
    }
}

fn size_mismatch(url: &DisplayUrl, want: u64, actual: String) -> BlobError {
    BlobError::Verification(RegistryError::Mismatch {
        what: "size mismatch",
        url: url.clone(),
        expected: want.to_string(),
        actual,
    })
}

/// Layer 2: the byte count matches the descriptor's size, or, without
/// one, stays under the cap.
struct SizeCheck {
    inner: Chunks,
    want: Option<u64>,
    cap: u64,
    seen: u64,
    url: DisplayUrl,
}

impl Stream for SizeCheck {
    type Item = Result<Bytes, BlobError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let r = ready!(self.inner.as_mut().poll_next(cx));
        Poll::Ready(match r {
            Some(Ok(chunk)) => {
                self.seen = self.seen.saturating_add(chunk.len() as u64);
                match (self.want, self.seen > self.cap) {
                    (_, false) => Some(Ok(chunk)),
                    (Some(want), true) => Some(Err(size_mismatch(
                        &self.url,
                        want,
                        format!("more than {want}"),
                    ))),
                    (None, true) => Some(Err(BlobError::Verification(RegistryError::Mismatch {
                        what: "blob without a size in its manifest is too large",
                        url: self.url.clone(),
                        expected: format!("at most {} bytes", self.cap),
                        actual: format!("more than {}", self.cap),
                    }))),
                }
            }
            None => match self.want {
                Some(want) if self.seen != want => {
                    let seen = self.seen;
                    self.seen = want; // report once
                    Some(Err(size_mismatch(&self.url, want, seen.to_string())))
                }
                _ => None,
            },
            other => other,
        })
    }
}

/// Layer 3: the diff_id, from the decompressed bytes.
struct DiffIdTap {
    inner: Chunks,
    hasher: Option<DiffHasher>,
    slot: DiffSlot,
    url: DisplayUrl,
}

impl Stream for DiffIdTap {
    type Item = Result<Bytes, BlobError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let r = ready!(self.inner.as_mut().poll_next(cx));
        Poll::Ready(match r {
            Some(Ok(chunk)) => {
                if let Some(h) = self.hasher.as_mut() {
                    h.update(&chunk);
                }
                Some(Ok(chunk))
            }
            None => match self.hasher.take().map(DiffHasher::finish) {
                Some(Ok(d)) => {
                    *lock(&self.slot) = Some(d);
                    None
                }
                Some(Err(e)) => Some(Err(BlobError::Verification(RegistryError::Protocol {
                    url: self.url.clone(),
                    message: format!("cannot compute the diff_id: {e}"),
                }))),
                None => None,
            },
            other => other,
        })
    }
}

/// Layer 4: progress reports.
struct ProgressTap<F> {
    inner: Chunks,
    unreported: u64,
    progress: F,
}

impl<F: Fn(u64) + Unpin> Stream for ProgressTap<F> {
    type Item = Result<Bytes, BlobError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let r = ready!(self.inner.as_mut().poll_next(cx));
        if let Some(Ok(chunk)) = &r {
            self.unreported += chunk.len() as u64;
        }
        if self.unreported > 0 && (self.unreported >= PROGRESS_STEP || r.is_none()) {
            (self.progress)(self.unreported);
            self.unreported = 0;
        }
        Poll::Ready(r)
    }
}

/// Layer 5: the digest, with the last chunk held back until it checks out.
struct DigestCheck {
    inner: Chunks,
    verifier: Option<DigestVerifier>,
    held: Option<Bytes>,
    expected: Digest,
    url: DisplayUrl,
}

impl Stream for DigestCheck {
    type Item = Result<Bytes, BlobError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let r = ready!(self.inner.as_mut().poll_next(cx));
            match r {
                Some(Ok(chunk)) => {
                    if let Some(v) = self.verifier.as_mut() {
                        v.update(&chunk);
                    }
                    if let Some(prev) = self.held.replace(chunk) {
                        return Poll::Ready(Some(Ok(prev)));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => {
                    let Some(v) = self.verifier.take() else {
                        return Poll::Ready(None);
                    };
                    let got = v.finish();
                    if got != self.expected {
                        return Poll::Ready(Some(Err(BlobError::Verification(
                            RegistryError::Mismatch {
                                what: "digest mismatch",
                                url: self.url.clone(),
                                expected: self.expected.to_string(),
                                actual: got.to_string(),
                            },
                        ))));
                    }
                    return Poll::Ready(self.held.take().map(Ok));
                }
            }
        }
    }
}

/// Layer 6: the first failure is kept for the caller and ends the stream
/// with an I/O error (what an HTTP body stream may yield).
struct IntoBody {
    inner: Chunks,
    outcome: Outcome,
    finished: bool,
}

impl Stream for IntoBody {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let r = ready!(self.inner.as_mut().poll_next(cx));
        Poll::Ready(match r {
            Some(Ok(chunk)) => Some(Ok(chunk)),
            Some(Err(e)) => {
                let msg = e.to_string();
                *lock(&self.outcome) = Some(e);
                self.finished = true;
                Some(Err(std::io::Error::other(msg)))
            }
            None => {
                self.finished = true;
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

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
        let outcome = Outcome::default();
        let inner = futures::stream::iter(
            chunks
                .into_iter()
                .map(|c| Ok::<_, String>(Bytes::from_static(c))),
        );
        let check = Check {
            expected,
            size,
            max_unsized: 16,
            url: DisplayUrl::new("http://x/b"),
            outcome: outcome.clone(),
            diff: None,
            limits: TransferLimits::default(),
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
