//! The journal: an append-only file of JSON records, one a line, each
//! fsync'd before the step it records counts as done. A record is written
//! only after the target accepted the content and its digest checked out,
//! so replaying the journal never claims more than is true. A torn last
//! line (the process was killed mid-write) is dropped on open. Sits after
//! the copy engine in the flow; `status` and resume read it back.

use crate::model::{FailureKind, Format};
use crate::oci::Digest;
use crate::shard::{dir_of, shard_journals};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The journal format version written in the header.
pub const JOURNAL_VERSION: u32 = 1;

/// How a blob came to be in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobHow {
    /// Streamed from the source.
    Uploaded,
    /// Mounted from another target repository.
    Mounted,
    /// Already there.
    Present,
}

/// A child manifest of a migrated index: what it was and what it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildDigest {
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The child's digest in the source index.
    pub source_digest: Digest,
    /// The child's digest in the target index.
    pub target_digest: Digest,
}

/// True for a platform as the journal writes it: `os/arch[/variant]`,
/// each part of letters, digits, `.`, `_` and `-`.
pub fn valid_platform(p: &str) -> bool {
    let parts: Vec<&str> = p.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|x| {
            !x.is_empty()
                && x.len() <= 64
                && x.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    /// First line: which registries this journal is about.
    Header {
        /// Format version.
        version: u32,
        /// Source registry host.
        source_registry: String,
        /// Target registry host.
        target_registry: String,
    },
    /// A tag is about to be copied (source digest resolved).
    Planned {
        /// `repo:tag` in the source.
        source: String,
        /// What the tag pointed at.
        source_digest: Digest,
        /// `repo:tag` in the target.
        target: String,
        /// Output format.
        format: Format,
    },
    /// A blob is in a target repository and was verified.
    Blob {
        /// Target repository.
        repo: String,
        /// Blob digest.
        digest: Digest,
        /// Bytes.
        size: u64,
        /// How it got there.
        how: BlobHow,
    },
    /// What reading a layer taught: its size and diff_id (schema 1
    /// conversion needs them; kept so a resumed run need not read it again).
    LayerFacts {
        /// Blob digest.
        digest: Digest,
        /// Bytes.
        size: u64,
        /// sha256 of the uncompressed content.
        diff_id: Digest,
        /// Whether the blob is compressed.
        compressed: bool,
    },
    /// A manifest was pushed by digest and the registry agreed on it.
    Manifest {
        /// Target repository.
        repo: String,
        /// Its digest.
        digest: Digest,
    },
    /// A tag was pushed last, pointing at a complete image.
    Done {
        /// `repo:tag` in the source.
        source: String,
        /// Source manifest digest.
        source_digest: Digest,
        /// `repo:tag` in the target.
        target: String,
        /// Target manifest digest.
        target_digest: Digest,
        /// Output format.
        format: Format,
        /// For an index: each child copied, its source and target digest
        /// (a workload pinned to a child digest maps through these).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        children: Vec<ChildDigest>,
    },
    /// A tag (or a whole repository, when its tags could not be listed)
    /// failed; nothing was tagged.
    Failed {
        /// `repo:tag` (or `repo`) in the source.
        source: String,
        /// Source digest, when it was resolved.
        source_digest: Option<Digest>,
        /// `repo:tag` (or `repo`) in the target.
        target: String,
        /// The error, without secrets.
        error: String,
        /// Which side failed (absent in journals written before it existed).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_kind: Option<FailureKind>,
    },
}

impl Record {
    /// Whether every name in the record passes the distribution grammar: a
    /// journal is input (a file on a shared volume), and its names end up
    /// in URLs, in the user's YAML (`rewrite`) and on the terminal. A
    /// record that fails is refused as [`JournalError::Corrupt`].
    pub fn check(&self) -> Result<(), String> {
        use crate::oci::reference::{valid_image_ref, valid_registry, valid_repository};
        let image = |what: &str, r: &str, bare: bool| {
            if valid_image_ref(r, bare) {
                Ok(())
            } else {
                Err(format!(
                    "{what} {} is not a valid image reference",
                    crate::model::printable(&format!("{r:?}"))
                ))
            }
        };
        let repo = |r: &str| {
            if valid_repository(r) {
                Ok(())
            } else {
                Err(format!(
                    "repository {} is not a valid repository",
                    crate::model::printable(&format!("{r:?}"))
                ))
            }
        };
        match self {
            Record::Header {
                source_registry,
                target_registry,
                ..
            } => {
                for r in [source_registry, target_registry] {
                    if !valid_registry(r) {
                        return Err(format!(
                            "registry {} is not a host[:port]",
                            crate::model::printable(&format!("{r:?}"))
                        ));
                    }
                }
                Ok(())
            }
            Record::Planned { source, target, .. } => {
                image("source", source, false)?;
                image("target", target, false)
            }
            Record::Done {
                source,
                target,
                children,
                ..
            } => {
                image("source", source, false)?;
                image("target", target, false)?;
                match children.iter().find(|c| !valid_platform(&c.platform)) {
                    Some(c) => Err(format!(
                        "platform {} is not os/arch[/variant]",
                        crate::model::printable(&format!("{:?}", c.platform))
                    )),
                    None => Ok(()),
                }
            }
            Record::Failed { source, target, .. } => {
                image("source", source, true)?;
                image("target", target, true)
            }
            Record::Blob { repo: r, .. } | Record::Manifest { repo: r, .. } => repo(r),
            Record::LayerFacts { .. } => Ok(()),
        }
    }
}

/// Journal trouble.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing failed.
    #[error("journal {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal belongs to another migration.
    #[error("journal {} was written for target registry {found}, but the plan's target is {expected}; use another journal file for this plan", path.display())]
    OtherTarget {
        /// The file.
        path: PathBuf,
        /// The target registry in the journal.
        found: String,
        /// The plan's target registry.
        expected: String,
    },
    /// Another process has the journal open for writing.
    #[error("journal {} is in use by another run (it holds the journal's lock); wait for it to finish, or give this plan another journal", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// A line in the middle does not parse (the file was edited).
    #[error("journal {}: line {line} is not a journal record: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The decoder's message.
        message: String,
    },
    /// The journal's version is newer than this build.
    #[error("journal {} has version {found}; this build reads version {JOURNAL_VERSION}", path.display())]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
}

/// What a tag's last completed copy was.
#[derive(Debug, Clone, PartialEq)]
pub struct DoneTag {
    /// Source digest at the time.
    pub source_digest: Digest,
    /// What was pushed.
    pub target_digest: Digest,
    /// Format used.
    pub format: Format,
    /// For an index: its children, source and target digests.
    pub children: Vec<ChildDigest>,
}

/// What the journal says, replayed: the state the records build, not the
/// records themselves (a reader that needs each record, such as `status`,
/// visits them with [`visit_all`] without holding them).
#[derive(Debug, Default, Clone)]
pub struct Replay {
    /// Records replayed, the header included.
    pub records: usize,
    /// The target registry the journal's header names.
    pub target_registry: Option<String>,
    /// Completed tags by (source `repo:tag`, target `repo:tag`).
    pub done: HashMap<(String, String), DoneTag>,
    /// Target repositories known to hold each blob.
    pub blobs: HashMap<Digest, Vec<String>>,
    /// Layer facts learnt.
    pub facts: HashMap<Digest, crate::model::LayerFacts>,
}

impl Replay {
    fn apply(&mut self, r: &Record) {
        self.records += 1;
        match r {
            Record::Header {
                target_registry, ..
            } if self.records == 1 => {
                self.target_registry = Some(target_registry.clone());
            }
            Record::Done {
                source,
                source_digest,
                target,
                target_digest,
                format,
                children,
            } => {
                self.done.insert(
                    (source.clone(), target.clone()),
                    DoneTag {
                        source_digest: source_digest.clone(),
                        target_digest: target_digest.clone(),
                        format: *format,
                        children: children.clone(),
                    },
                );
            }
            Record::LayerFacts {
                digest,
                size,
                diff_id,
                compressed,
            } => {
                self.facts.insert(
                    digest.clone(),
                    crate::model::LayerFacts {
                        size: *size,
                        diff_id: Some(diff_id.clone()),
                        compressed: *compressed,
                    },
                );
            }
            // Only valid repository names may later become a mount's
            // `from`; a damaged or edited record is ignored.
            Record::Blob { repo, digest, .. } if crate::oci::reference::valid_repository(repo) => {
                let v = self.blobs.entry(digest.clone()).or_default();
                if !v.contains(repo) {
                    v.push(repo.clone());
                }
            }
            _ => {}
        }
    }
}

/// Reads a journal without opening it for writing. A missing file is an
/// empty journal. Returns its replay and the byte length of the good part.
pub fn read(path: &Path) -> Result<(Replay, u64), JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Replay::default(), 0)),
        Err(e) => return Err(io(e)),
    };
    replay_from(path, std::io::BufReader::new(f))
}

/// Replays journal lines from `reader` (`path` names it in errors): the
/// replay of the records up to a torn last line, and the byte length of
/// that good part.
pub fn replay_from(path: &Path, reader: impl BufRead) -> Result<(Replay, u64), JournalError> {
    let mut replay = Replay::default();
    let good_len = scan(path, reader, |r| replay.apply(&r))?;
    Ok((replay, good_len))
}

/// Hands each complete record of the journal lines in `reader` to `f`, in
/// order, holding one at a time. A torn last line is left out; a bad line
/// anywhere else is an error. Returns the byte length of the good part.
fn scan(
    path: &Path,
    mut reader: impl BufRead,
    mut f: impl FnMut(Record),
) -> Result<u64, JournalError> {
    let io = |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut good_len = 0u64;
    let mut line = Vec::new();
    let mut n = 0;
    let mut pending_err: Option<JournalError> = None;
    loop {
        line.clear();
        let got = reader.read_until(b'\n', &mut line).map_err(io)?;
        if got == 0 {
            break;
        }
        n += 1;
        if let Some(e) = pending_err.take() {
            // A bad line followed by more lines is not a torn tail.
            return Err(e);
        }
        let complete = line.last() == Some(&b'\n');
        match serde_json::from_slice::<Record>(&line) {
            Ok(r) if complete => {
                if let Err(message) = r.check() {
                    return Err(JournalError::Corrupt {
                        path: path.to_path_buf(),
                        line: n,
                        message,
                    });
                }
                if let (1, Record::Header { version, .. }) = (n, &r) {
                    if *version > JOURNAL_VERSION {
                        return Err(JournalError::Version {
                            path: path.to_path_buf(),
                            found: *version,
                        });
                    }
                }
                f(r);
                good_len += got as u64;
            }
            Ok(_) => {} // no newline: torn while writing; dropped
            Err(e) => {
                pending_err = Some(JournalError::Corrupt {
                    path: path.to_path_buf(),
                    line: n,
                    message: crate::model::printable(&e.to_string()),
                })
            }
        }
    }
    Ok(good_len)
}

/// Hands every record of the journal at `base` and of every shard journal
/// beside it to `f`, in the order [`read_all`] replays them, holding one
/// at a time.
/// Every file must be a journal of a migration into `target_registry`: a
/// part journal of another migration, put beside this one, is refused
/// (naming the file), never merged.
pub fn visit_all(
    base: &Path,
    target_registry: &str,
    mut f: impl FnMut(Record),
) -> Result<(), JournalError> {
    let paths =
        std::iter::once(base.to_path_buf()).chain(shard_journals(base).into_iter().map(|(p, _)| p));
    for path in paths {
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(JournalError::Io { path, source }),
        };
        let mut wrong: Option<JournalError> = None;
        let mut first = true;
        scan(&path, std::io::BufReader::new(file), |r| {
            if std::mem::take(&mut first) {
                wrong = same_target(&path, header_target(&r), target_registry).err();
            }
            if wrong.is_none() {
                f(r)
            }
        })?;
        if let Some(e) = wrong {
            return Err(e);
        }
    }
    Ok(())
}

/// The target registry a journal's first record names (`None`: it is no
/// header).
fn header_target(first: &Record) -> Option<&str> {
    match first {
        Record::Header {
            target_registry, ..
        } => Some(target_registry),
        _ => None,
    }
}

/// Whether the journal at `path`, whose header names `found`, belongs to a
/// migration into `expected`.
fn same_target(path: &Path, found: Option<&str>, expected: &str) -> Result<(), JournalError> {
    match found {
        Some(f) if f == expected => Ok(()),
        Some(f) => Err(JournalError::OtherTarget {
            path: path.to_path_buf(),
            found: crate::model::printable(f),
            expected: expected.to_string(),
        }),
        None => Err(JournalError::Corrupt {
            path: path.to_path_buf(),
            line: 1,
            message: "the first line is not a journal header".into(),
        }),
    }
}

/// What the journal at `base` and every shard journal beside it say
/// together (read only): the whole of a sharded migration.
pub fn read_all(base: &Path, target_registry: &str) -> Result<Replay, JournalError> {
    read_all_but(base, None, target_registry)
}

/// [`read_all`] without the journal at `skip` (a part's own, which it
/// has open).
/// Every journal read must name `target_registry` in its header (see
/// [`visit_all`]).
pub fn read_all_but(
    base: &Path,
    skip: Option<&Path>,
    target_registry: &str,
) -> Result<Replay, JournalError> {
    let read_one = |path: &Path| -> Result<Replay, JournalError> {
        let (replay, _) = read(path)?;
        if replay.records > 0 {
            same_target(path, replay.target_registry.as_deref(), target_registry)?;
        }
        Ok(replay)
    };
    let mut all = Replay::default();
    if Some(base) != skip {
        all = read_one(base)?;
    }
    for (path, _) in shard_journals(base) {
        if Some(path.as_path()) != skip {
            all.merge(read_one(&path)?);
        }
    }
    Ok(all)
}

impl Replay {
    /// Keeps only the done tags for which `keep(source, target)` holds
    /// (those a plan can produce); returns how many were dropped.
    pub fn retain_done(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> usize {
        let before = self.done.len();
        self.done.retain(|(s, t), _| keep(s, t));
        before - self.done.len()
    }

    /// Adds what another journal (a shard's) says, as if its records came
    /// after these: its done tags and layer facts win, blob locations add
    /// up. (Records only ever add to the state, so this is the same as
    /// replaying them in that order.)
    pub fn merge(&mut self, other: Replay) {
        self.records += other.records;
        self.done.extend(other.done);
        self.facts.extend(other.facts);
        for (digest, repos) in other.blobs {
            let v = self.blobs.entry(digest).or_default();
            for repo in repos {
                if !v.contains(&repo) {
                    v.push(repo);
                }
            }
        }
    }
}

/// fsyncs the directory holding `path`, so that a newly created entry is
/// durable.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = dir_of(path);
    std::fs::File::open(dir)?.sync_all()
}

/// A record waiting for the writer, and where to say it is durable.
type Pending = (Vec<u8>, tokio::sync::oneshot::Sender<Result<(), String>>);

/// An open journal, appended to by the engine. Records are written and
/// fsync'd by a writer thread of its own, off the async runtime: callers
/// wait for their record's fsync without blocking a runtime worker, and
/// records that arrive together share one fsync (group commit).
pub struct Journal {
    path: PathBuf,
    tx: Mutex<Option<std::sync::mpsc::Sender<Pending>>>,
    /// The writer thread; it holds the file and its lock.
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Journal {
    /// Opens (or creates) the journal for a migration into
    /// `target_registry`, dropping a torn last line, and replays it.
    pub fn open(
        path: &Path,
        source_registry: &str,
        target_registry: &str,
    ) -> Result<(Journal, Replay), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let existed = path.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io)?;
        // One writer per journal: an advisory lock (flock) on the file,
        // held until the writer thread closes it. Taken before anything is
        // read or truncated, so a second run changes nothing.
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        if !existed {
            // The new file's name must survive a crash too.
            sync_dir(path).map_err(io)?;
        }
        let (replay, good_len) = read(path)?;
        if let Some(found) = &replay.target_registry {
            if found != target_registry {
                return Err(JournalError::OtherTarget {
                    path: path.to_path_buf(),
                    found: found.clone(),
                    expected: target_registry.to_string(),
                });
            }
        }
        file.set_len(good_len).map_err(io)?;
        file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        let mut good_len = good_len;
        if replay.records == 0 {
            let header = Record::Header {
                version: JOURNAL_VERSION,
                source_registry: source_registry.to_string(),
                target_registry: target_registry.to_string(),
            };
            let line = encode(&header).map_err(io)?;
            file.write_all(&line).map_err(io)?;
            file.sync_data().map_err(io)?;
            good_len += line.len() as u64;
        }
        let (tx, rx) = std::sync::mpsc::channel::<Pending>();
        let handle = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || writer(file, good_len, rx))
            .map_err(io)?;
        let j = Journal {
            path: path.to_path_buf(),
            tx: Mutex::new(Some(tx)),
            writer: Some(handle),
        };
        Ok((j, replay))
    }

    /// Appends one record; returns once it is fsync'd.
    pub async fn append(&self, r: &Record) -> Result<(), JournalError> {
        let rx = self.send(r)?;
        let got = rx.await;
        self.settle(got)
    }

    /// [`Journal::append`] for callers outside the async runtime.
    pub fn append_blocking(&self, r: &Record) -> Result<(), JournalError> {
        let rx = self.send(r)?;
        let got = rx.blocking_recv();
        self.settle(got)
    }

    fn io(&self, msg: impl Into<String>) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(msg.into()),
        }
    }

    fn send(
        &self,
        r: &Record,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<(), String>>, JournalError> {
        let line = encode(r).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            source: e,
        })?;
        let (done, rx) = tokio::sync::oneshot::channel();
        let tx = self
            .tx
            .lock()
            .map_err(|_| self.io("journal lock poisoned"))?;
        tx.as_ref()
            .ok_or_else(|| self.io("journal closed"))?
            .send((line, done))
            .map_err(|_| self.io("the journal writer stopped"))?;
        Ok(rx)
    }

    fn settle(
        &self,
        got: Result<Result<(), String>, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<(), JournalError> {
        match got {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.io(e)),
            Err(_) => Err(self.io("the journal writer stopped")),
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Closing the channel ends the writer once it has written what it
        // was sent; waiting for it means the file (and its lock) is closed
        // when the journal is gone, so the next open finds it free.
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

fn encode(r: &Record) -> Result<Vec<u8>, std::io::Error> {
    let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// The writer thread: takes every record waiting, writes them, fsyncs once,
/// and only then tells each sender that its record is durable. A failed
/// write truncates the file back to the last complete record and fails
/// this and every later append: nothing after a lost record may count.
fn writer(mut file: std::fs::File, mut good_len: u64, rx: std::sync::mpsc::Receiver<Pending>) {
    let mut broken: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let result = match &broken {
            Some(e) => Err(e.clone()),
            None => {
                let mut buf = Vec::with_capacity(batch.iter().map(|(l, _)| l.len()).sum());
                for (line, _) in &batch {
                    buf.extend_from_slice(line);
                }
                match file.write_all(&buf).and_then(|_| file.sync_data()) {
                    Ok(()) => {
                        good_len += buf.len() as u64;
                        Ok(())
                    }
                    Err(e) => {
                        let _ = file
                            .set_len(good_len)
                            .and_then(|_| file.seek(std::io::SeekFrom::Start(good_len)));
                        let msg = format!("write failed: {e}");
                        broken = Some(format!("unusable after an earlier {msg}"));
                        Err(msg)
                    }
                }
            }
        };
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rm-journal-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    fn done(tag: &str) -> Record {
        Record::Done {
            source: format!("a:{tag}"),
            source_digest: Digest::of(tag.as_bytes()),
            target: format!("b:{tag}"),
            target_digest: Digest::of(b"t"),
            format: Format::Preserve,
            children: Vec::new(),
        }
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let p = tmp("torn");
        {
            let (j, r) = Journal::open(&p, "src", "dst").expect("open");
            assert_eq!(r.records, 0);
            j.append_blocking(&done("v1")).expect("append");
        }
        // Simulate a kill mid-write.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open raw");
        f.write_all(br#"{"kind":"done","sou"#).expect("write");
        drop(f);
        let (j, r) = Journal::open(&p, "src", "dst").expect("reopen");
        assert_eq!(r.records, 2);
        assert!(r
            .done
            .contains_key(&("a:v1".to_string(), "b:v1".to_string())));
        j.append_blocking(&done("v2")).expect("append after torn");
        drop(j);
        let (r, _) = read(&p).expect("read");
        assert_eq!(r.records, 3, "torn line replaced, not kept");
    }

    #[test]
    fn one_writer_at_a_time() {
        let p = tmp("locked");
        let (j, _) = Journal::open(&p, "src", "dst").expect("open");
        j.append_blocking(&done("v1")).expect("append");
        let before = std::fs::read(&p).expect("read");
        let e = Journal::open(&p, "src", "dst").err();
        assert!(
            matches!(e, Some(JournalError::Locked { .. })),
            "second open: {e:?}"
        );
        assert_eq!(std::fs::read(&p).expect("read"), before, "file untouched");
        // Readers are not writers.
        assert_eq!(read(&p).expect("read").0.records, 2);
        drop(j);
        assert!(Journal::open(&p, "src", "dst").is_ok(), "free once closed");
    }

    #[test]
    fn refuses_other_target_and_corruption() {
        let p = tmp("other");
        drop(Journal::open(&p, "src", "dst").expect("open"));
        let e = Journal::open(&p, "src", "elsewhere")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("written for target registry dst"), "{e}");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open raw");
        f.write_all(b"garbage\n{\"kind\":\"manifest\",\"repo\":\"r\",\"digest\":\"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}\n").expect("write");
        drop(f);
        let e = read(&p).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("line 2 is not a journal record"), "{e}");
    }
}
