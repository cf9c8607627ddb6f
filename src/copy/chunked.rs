//! Chunked, resumable upload of one large blob: one streamed GET from the
//! source, cut into `PATCH` chunks on the target. Part of [`super::blob`]'s
//! transfers (blobs larger than the chunk size, when no diff_id is wanted).
//!
//! Only the current chunk is held in memory. The bytes read from the source
//! are hashed exactly once, in order, as they arrive; the registry holds a
//! prefix of them and the chunk buffer the rest. So:
//! - a source read that fails resumes with `Range: bytes=N-` at the next
//!   byte not yet read (a source that ignores `Range`, or answers another
//!   range, is read from byte 0 and the bytes already taken are skipped:
//!   what is uploaded is still hashed end to end);
//! - a `PATCH` that fails is resumed from the offset the registry reports
//!   for the session, out of the chunk buffer, with no new source read;
//! - a commit (`PUT`) that fails is sent again, unless the registry has
//!   the blob by then (the answer, not the commit, was lost);
//! - anything else (a session the registry no longer knows, an offset
//!   outside the chunk) restarts the blob in a new session, with a fresh
//!   hash, and the old session is cancelled with `DELETE`.
//!
//! Every retry of any of these counts against the blob's one budget of
//! `retries`; when it runs out the session is cancelled.

use super::error::BlobError;
use super::Event;
use crate::oci::{Descriptor, DigestVerifier};
use crate::registry::error::DisplayUrl;
use crate::registry::retry::RateGuard;
use crate::registry::{Client, RegistryError, UploadSession};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::pin::Pin;

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// The blob a chunked transfer moves, and the chunk size it moves it in.
struct Blob<'a> {
    source_repo: &'a str,
    desc: &'a Descriptor,
    size: u64,
    chunk: usize,
}

/// The source stream, positioned at `pos`.
struct Source {
    body: Body,
    /// Bytes read from `body` past the last chunk boundary, not yet taken.
    pending: Option<Bytes>,
    url: DisplayUrl,
    rate: RateGuard,
    /// Bytes of this response still to skip (already taken before).
    skip: u64,
}

/// Where one chunked upload stands.
struct Upload {
    session: UploadSession,
    hasher: DigestVerifier,
    /// Source bytes read and hashed.
    pos: u64,
    /// Bytes the registry holds.
    committed: u64,
    /// Bytes `committed..pos`, not yet accepted by the registry.
    buf: BytesMut,
    /// Every byte is sent and the digest checked out: only the commit is
    /// left.
    verified: bool,
}

impl super::blob::Blobs {
    /// Uploads `desc` (whose size is known) into `target_repo` in chunks of
    /// `chunk` bytes; returns its size.
    pub(super) async fn transfer_chunked(
        &self,
        source_repo: &str,
        target_repo: &str,
        desc: &Descriptor,
        session: Option<UploadSession>,
        size: u64,
        chunk: usize,
    ) -> Result<u64, BlobError> {
        let mut retries = 0u32;
        let mut up = match session {
            Some(s) => self.fresh(s, desc),
            None => self.start(target_repo, desc, &mut retries).await?,
        };
        let blob = Blob {
            source_repo,
            desc,
            size,
            chunk,
        };
        let mut src: Option<Source> = None;
        loop {
            let Fault(kind, e) = match self.step(&blob, &mut up, &mut src).await {
                Ok(true) => return Ok(size),
                Ok(false) => continue,
                Err(f) => f,
            };
            // Every fault costs one retry of the blob's budget; when it is
            // spent, the session is cancelled.
            if let Err(e) = self.retry_or_fail(&mut retries, desc, e).await {
                self.target().upload_cancel(&up.session).await;
                return Err(e);
            }
            match kind {
                // Resume the read where it stopped.
                Step::Source => src = None,
                // Go on from what the registry holds, if it can say.
                Step::Upload if self.resume(&mut up).await => {}
                Step::Upload | Step::Restart => {
                    // Start the blob over in a new session.
                    self.target().upload_cancel(&up.session).await;
                    src = None;
                    up = self.start(target_repo, desc, &mut retries).await?;
                }
                // A commit whose answer was lost may have happened.
                Step::Finish => {
                    if let Ok(st) = self.target().blob_head(target_repo, &desc.digest).await {
                        if st.holds(Some(size)) {
                            return Ok(size);
                        }
                    }
                }
            }
        }
    }

    /// A new session, its opening retried within the blob's budget.
    async fn start(
        &self,
        target_repo: &str,
        desc: &Descriptor,
        retries: &mut u32,
    ) -> Result<Upload, BlobError> {
        loop {
            match self.target().upload_start_once(target_repo).await {
                Ok(s) => return Ok(self.fresh(s, desc)),
                Err(e) => {
                    self.retry_or_fail(retries, desc, BlobError::Target(e))
                        .await?
                }
            }
        }
    }

    fn fresh(&self, session: UploadSession, desc: &Descriptor) -> Upload {
        Upload {
            session,
            hasher: DigestVerifier::for_algorithm(desc.digest.algorithm()),
            pos: 0,
            committed: 0,
            buf: BytesMut::new(),
            verified: false,
        }
    }

    /// After a failed `PATCH`: true when the session goes on from what the
    /// registry holds, with `up` moved there.
    async fn resume(&self, up: &mut Upload) -> bool {
        let Ok((held, next)) = self.target().upload_status(&up.session).await else {
            return false;
        };
        // distribution says `0-0` for an empty session too.
        let held = if up.committed == 0 && held == 1 {
            0
        } else {
            held
        };
        if held < up.committed || held > up.pos {
            return false;
        }
        let _ = up.buf.split_to((held - up.committed) as usize);
        up.committed = held;
        up.session = next;
        true
    }

    /// Fills the chunk buffer from the source and sends it; true when the
    /// blob is committed.
    async fn step(
        &self,
        blob: &Blob<'_>,
        up: &mut Upload,
        src: &mut Option<Source>,
    ) -> Result<bool, Fault> {
        let desc = blob.desc;
        self.fill(blob, up, src).await?;
        self.send_chunk(desc, up).await?;
        if up.committed < blob.size {
            return Ok(false);
        }
        // Every byte is with the registry: commit only if they are the
        // blob (a mismatch restarts it from scratch, in a new session).
        verify_whole(desc, up)?;
        self.target()
            .upload_finish(&up.session, &desc.digest)
            .await
            .map_err(|e| Fault(Step::Finish, BlobError::Target(e)))?;
        Ok(true)
    }

    /// Reads the source until the chunk buffer is full or the blob read,
    /// hashing each byte as it is taken into the chunk.
    async fn fill(
        &self,
        blob: &Blob<'_>,
        up: &mut Upload,
        src: &mut Option<Source>,
    ) -> Result<(), Fault> {
        let &Blob {
            source_repo,
            desc,
            size,
            chunk,
        } = blob;
        while up.buf.len() < chunk && up.pos < size {
            if src.is_none() {
                *src = Some(self.open(source_repo, desc, up.pos, size).await?);
            }
            let Some(s) = src.as_mut() else { continue };
            if let Some(rest) = s.pending.take() {
                let room = chunk - up.buf.len();
                let mut rest = rest;
                let take = rest.split_to(rest.len().min(room));
                if !rest.is_empty() {
                    s.pending = Some(rest);
                }
                up.hasher.update(&take);
                up.pos += take.len() as u64;
                up.buf.extend_from_slice(&take);
                continue;
            }
            let piece = match s.body.next().await {
                Some(Ok(b)) => b,
                Some(Err(e)) => {
                    return Err(Fault(Step::Source, source_failed(&s.url, &e.to_string())))
                }
                None => {
                    return Err(Fault(
                        Step::Source,
                        source_failed(&s.url, &format!("body ended at byte {} of {size}", up.pos)),
                    ))
                }
            };
            if let Err(m) = s.rate.on_bytes(piece.len() as u64) {
                return Err(Fault(Step::Source, source_failed(&s.url, &m)));
            }
            let mut piece = piece;
            if s.skip > 0 {
                let n = s.skip.min(piece.len() as u64);
                s.skip -= n;
                piece = piece.slice(n as usize..);
            }
            if up.pos + piece.len() as u64 > size {
                return Err(Fault(
                    Step::Restart,
                    BlobError::Verification(RegistryError::Mismatch {
                        what: "size mismatch",
                        url: s.url.clone(),
                        expected: size.to_string(),
                        actual: format!("more than {size} bytes"),
                    }),
                ));
            }
            // Taken into the chunk (and hashed) up to its boundary; the
            // rest waits for the next chunk.
            s.pending = Some(piece);
        }
        Ok(())
    }

    /// Sends the chunk buffer as one `PATCH`, if it holds anything.
    async fn send_chunk(&self, desc: &Descriptor, up: &mut Upload) -> Result<(), Fault> {
        if up.buf.is_empty() {
            return Ok(());
        }
        let data = up.buf.clone().freeze();
        let n = data.len() as u64;
        up.session = self
            .target()
            .upload_patch(&up.session, up.committed, data)
            .await
            .map_err(|e| Fault(Step::Upload, BlobError::Target(e)))?;
        up.committed += n;
        up.buf.clear();
        self.events().send(Event::BlobBytes {
            digest: desc.digest.clone(),
            bytes: n,
        });
        Ok(())
    }

    /// Opens the source at byte `pos`: a range if the registry serves one
    /// starting there, else the whole blob with the first `pos` bytes to
    /// skip.
    async fn open(
        &self,
        source_repo: &str,
        desc: &Descriptor,
        pos: u64,
        size: u64,
    ) -> Result<Source, Fault> {
        let resp = self
            .source()
            .blob_get_from(source_repo, &desc.digest, pos)
            .await
            .map_err(|e| Fault(Step::Source, BlobError::Source(e)))?;
        let url = DisplayUrl::new(resp.url().as_str());
        let start = Client::range_start(&resp);
        let (resp, skip) = match start {
            Some(s) if s == pos => (resp, 0),
            // The whole blob (Range ignored): skip what was taken.
            Some(0) => (resp, pos),
            _ => {
                // Another range than asked for: read it all, skip what we have.
                drop(resp);
                let full = self
                    .source()
                    .blob_get_from(source_repo, &desc.digest, 0)
                    .await
                    .map_err(|e| Fault(Step::Source, BlobError::Source(e)))?;
                if Client::range_start(&full) != Some(0) {
                    return Err(Fault(
                        Step::Source,
                        source_failed(&url, "the registry answers with a range not asked for"),
                    ));
                }
                (full, pos)
            }
        };
        if let Some(len) = resp.content_length() {
            if len + pos - skip != size {
                return Err(Fault(
                    Step::Restart,
                    BlobError::Verification(RegistryError::Mismatch {
                        what: "size mismatch",
                        url,
                        expected: size.to_string(),
                        actual: (len + pos - skip).to_string(),
                    }),
                ));
            }
        }
        Ok(Source {
            body: Box::pin(resp.bytes_stream()),
            pending: None,
            url,
            rate: RateGuard::new(self.source().limits()),
            skip,
        })
    }
}

/// Which part of a step failed, which decides how the upload goes on.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Reading the source failed: resume the read.
    Source,
    /// A `PATCH` failed: ask the registry where the session stands.
    Upload,
    /// The bytes sent are wrong: start over in a new session.
    Restart,
    /// The commit failed: it may have happened anyway.
    Finish,
}

/// A failed step and why.
struct Fault(Step, BlobError);
/// Checks, once, that the bytes the registry now holds hash to the blob's
/// digest; a mismatch restarts the blob in a new session.
fn verify_whole(desc: &Descriptor, up: &mut Upload) -> Result<(), Fault> {
    if up.verified {
        return Ok(());
    }
    let got = std::mem::replace(
        &mut up.hasher,
        DigestVerifier::for_algorithm(desc.digest.algorithm()),
    )
    .finish();
    if got != desc.digest {
        return Err(Fault(
            Step::Restart,
            BlobError::Verification(RegistryError::Mismatch {
                what: "digest mismatch",
                url: DisplayUrl::new(&up.session.location),
                expected: desc.digest.to_string(),
                actual: got.to_string(),
            }),
        ));
    }
    up.verified = true;
    Ok(())
}

fn source_failed(url: &DisplayUrl, message: &str) -> BlobError {
    BlobError::Source(RegistryError::Transport {
        method: "GET".into(),
        url: url.clone(),
        message: format!("body failed: {message}"),
        retries: 0,
    })
}
