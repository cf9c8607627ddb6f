//! One writer per repository across runs of one plan: before `run` opens
//! its journal, it takes a lock file beside it. An unsharded run takes
//! `<stem>.run.lock` and excludes every part; part I of N takes
//! `<stem>.part-I-of-N.lock` and excludes an unsharded run, another run of
//! the same part, and parts of another N (a `--reshard` while old parts
//! still run). So two runs can never write one repository.
//!
//! The journal's `flock` is not enough on a shared volume (NFS and other
//! RWX storage may not honour it), so the lock is a file created with
//! `O_EXCL` (atomic on NFSv3+ and local file systems) holding the holder's
//! host, pid and start time. Each run creates its own file, then looks for
//! the files that exclude it: of two runs that race, at least one sees the
//! other, and it backs off (both may; neither proceeds unseen). A holder
//! touches its file every [`HEARTBEAT`]; a file whose holder is a dead
//! process on this host, or that nobody touched for [`STALE_AFTER`] (a
//! crashed pod on another node), is stale and removed.

use crate::shard::{dir_of, Shard};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How often a holder touches its lock file.
pub const HEARTBEAT: Duration = Duration::from_secs(20);

/// A lock file untouched this long is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// Another run holds what this one needs.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LockError {
    /// What holds it and what to do.
    pub message: String,
}

/// Who holds a lock file.
#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Holder {
    host: String,
    pid: u32,
    /// Seconds since the Unix epoch.
    started: u64,
    /// `all` or `I/N`.
    part: String,
}

/// A held lock: removed (and its heartbeat stopped) on drop.
pub struct RunLock {
    path: PathBuf,
    stop: Option<std::sync::mpsc::Sender<()>>,
    beat: Option<std::thread::JoinHandle<()>>,
}

impl Drop for RunLock {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(b) = self.beat.take() {
            let _ = b.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn stem_of(journal: &Path) -> (PathBuf, String) {
    let dir = dir_of(journal).to_path_buf();
    let stem = journal
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "migration".into());
    (dir, stem)
}

/// The lock file of a run of `shard` (`None`: unsharded) of the journal at
/// `journal`.
pub fn lock_path(journal: &Path, shard: Option<Shard>) -> PathBuf {
    let (dir, stem) = stem_of(journal);
    match shard {
        None => dir.join(format!("{stem}.run.lock")),
        Some(s) => dir.join(format!("{stem}.part-{}-of-{}.lock", s.index, s.count)),
    }
}

/// The lock files beside `journal` that exclude a run of `shard`.
fn conflicts(journal: &Path, shard: Option<Shard>) -> Vec<PathBuf> {
    let (dir, stem) = stem_of(journal);
    let own = lock_path(journal, shard);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let part_prefix = format!("{stem}.part-");
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| *p != own)
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if name == format!("{stem}.run.lock") {
                return true;
            }
            let Some(rest) = name
                .strip_prefix(&part_prefix)
                .and_then(|r| r.strip_suffix(".lock"))
            else {
                return false;
            };
            match shard {
                // Every part excludes an unsharded run.
                None => true,
                // Parts of the same count run side by side.
                Some(s) => rest
                    .split_once("-of-")
                    .and_then(|(_, n)| n.parse::<u32>().ok())
                    .is_none_or(|n| n != s.count),
            }
        })
        .collect();
    out.sort();
    out
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Whether the lock file at `path` no longer has a live holder.
fn stale(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return true; // gone already
    };
    let untouched = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .is_some_and(|age| age > STALE_AFTER);
    if untouched {
        return true;
    }
    match read_holder(path) {
        Some(h) if h.host == this_host() => !Path::new(&format!("/proc/{}", h.pid)).exists(),
        Some(_) => false,
        // Being written this instant, or not ours to judge: only age says.
        None => false,
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text[..text.len().min(4096)]).ok()
}

fn describe(path: &Path) -> String {
    match read_holder(path) {
        Some(h) => format!(
            "{} (held by pid {} on host {}, part {}, started at {} seconds since the epoch)",
            path.display(),
            h.pid,
            crate::model::printable(&h.host),
            crate::model::printable(&h.part),
            h.started
        ),
        None => path.display().to_string(),
    }
}

/// Takes the lock of a run of `shard` of the journal at `journal`, or says
/// which run holds what it needs.
pub fn acquire(journal: &Path, shard: Option<Shard>) -> Result<RunLock, LockError> {
    let path = lock_path(journal, shard);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let holder = Holder {
        host: this_host(),
        pid: std::process::id(),
        started: now_secs(),
        part: shard.map_or("all".into(), |s| format!("{}/{}", s.index, s.count)),
    };
    let body = serde_json::to_vec(&holder).unwrap_or_default();
    let shown = path.display().to_string();
    let io = |e: std::io::Error| LockError {
        message: format!("lock file {shown}: {e}"),
    };
    let file = create_own(journal, &path)?;
    // From here on, a refusal removes our file (on drop).
    let mut lock = RunLock {
        path,
        stop: None,
        beat: None,
    };
    {
        use std::io::Write as _;
        let mut f = &file;
        f.write_all(&body).and_then(|_| f.sync_all()).map_err(io)?;
    }
    refuse_conflicts(journal, shard)?;
    let (stop, beat) = heartbeat(lock.path.clone()).map_err(io)?;
    lock.stop = Some(stop);
    lock.beat = Some(beat);
    Ok(lock)
}

/// Creates our own lock file, exclusively; a stale one is taken over once.
fn create_own(journal: &Path, path: &Path) -> Result<std::fs::File, LockError> {
    let mut tries = 0;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => return Ok(f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries == 0 => {
                tries += 1;
                if !stale(path) {
                    return Err(LockError {
                        message: format!(
                            "the plan's journal {} is in use by another run of the same part: {}; wait for it to finish (or, if it is gone, remove that file)",
                            journal.display(),
                            describe(path)
                        ),
                    });
                }
                tracing::warn!(lock = %path.display(), "removing a stale lock file");
                let _ = std::fs::remove_file(path);
            }
            Err(e) => {
                return Err(LockError {
                    message: format!("lock file {}: {e}", path.display()),
                })
            }
        }
    }
}

/// Refuses the run while a live run holds a lock that excludes it (an
/// unsharded run excludes every part, a part those of another count);
/// stale ones are removed.
fn refuse_conflicts(journal: &Path, shard: Option<Shard>) -> Result<(), LockError> {
    let held: Vec<PathBuf> = conflicts(journal, shard)
        .into_iter()
        .filter(|p| {
            if stale(p) {
                tracing::warn!(lock = %p.display(), "removing a stale lock file");
                let _ = std::fs::remove_file(p);
                false
            } else {
                true
            }
        })
        .collect();
    if held.is_empty() {
        return Ok(());
    }
    let what: Vec<String> = held.iter().map(|p| describe(p)).collect();
    Err(LockError {
        message: format!(
            "the plan's journal {} is in use by another run ({}) that would write the same repositories: {}; wait for it to finish (an unsharded run excludes every part; parts run side by side only with the same number of parts)",
            journal.display(),
            if shard.is_none() { "a sharded one" } else { "unsharded, or with another number of parts" },
            what.join("; ")
        ),
    })
}

/// The thread that touches the lock file every [`HEARTBEAT`] until the
/// sender is dropped or sends.
fn heartbeat(
    path: PathBuf,
) -> std::io::Result<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let beat = std::thread::Builder::new()
        .name("run-lock".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(HEARTBEAT) {
                if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_modified(SystemTime::now());
                }
            }
        })?;
    Ok((tx, beat))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: u32, count: u32) -> Option<Shard> {
        Some(Shard { index, count })
    }

    #[test]
    fn runs_exclude_each_other_as_their_repositories_do() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let j = dir.path().join("migration.journal");
        let all = acquire(&j, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(acquire(&j, None).is_err(), "two unsharded runs");
        assert!(
            acquire(&j, shard(0, 2)).is_err(),
            "a part beside an unsharded run"
        );
        // A refused run leaves no file behind.
        assert!(!lock_path(&j, shard(0, 2)).exists());
        drop(all);
        assert!(!lock_path(&j, None).exists(), "released on drop");
        let p0 = acquire(&j, shard(0, 2)).unwrap_or_else(|e| panic!("{e}"));
        let p1 = acquire(&j, shard(1, 2)).unwrap_or_else(|e| panic!("{e}"));
        assert!(acquire(&j, shard(1, 2)).is_err(), "the same part twice");
        assert!(
            acquire(&j, shard(0, 3)).is_err(),
            "another count (--reshard)"
        );
        let e = acquire(&j, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("part-0-of-2.lock") && e.contains("pid"), "{e}");
        drop((p0, p1));
        assert!(acquire(&j, None).is_ok());
    }

    #[test]
    fn stale_locks_are_taken_over_and_live_ones_on_other_hosts_are_not() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let j = dir.path().join("migration.journal");
        let write = |h: &Holder, age: Duration| {
            let p = lock_path(&j, None);
            std::fs::write(&p, serde_json::to_vec(h).unwrap_or_default())
                .unwrap_or_else(|e| panic!("{e}"));
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap_or_else(|e| panic!("{e}"));
            f.set_modified(SystemTime::now() - age)
                .unwrap_or_else(|e| panic!("{e}"));
        };
        let holder = |host: String, pid: u32| Holder {
            host,
            pid,
            started: 0,
            part: "all".into(),
        };
        // A dead process on this host: stale at once.
        write(&holder(this_host(), u32::MAX - 1), Duration::ZERO);
        assert!(acquire(&j, shard(0, 1)).is_ok());
        // A live one on another host, touched recently: held.
        write(&holder("elsewhere".into(), 1), Duration::from_secs(5));
        assert!(acquire(&j, shard(0, 1)).is_err());
        // The same, untouched past STALE_AFTER: a crashed pod.
        write(
            &holder("elsewhere".into(), 1),
            STALE_AFTER + Duration::from_secs(5),
        );
        assert!(acquire(&j, shard(0, 1)).is_ok());
    }
}
