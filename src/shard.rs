//! Sharded runs: a plan's target repositories split into N parts by a
//! stable hash of their names, each part run by its own process (an
//! Indexed Job's pod) with its own journal beside the plan's. Here: which
//! part a repository belongs to, where each part's journal lives, the
//! part from the command line, and the check that all parts of a run
//! agree on N. `run` filters its jobs with [`shard_of`]; `journal` reads
//! every part's records through [`shard_journals`].

use std::path::{Path, PathBuf};

/// How a run is split: the part this process runs (none: the whole plan),
/// and whether journals of a run with another number of parts may be
/// reused (`--reshard`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sharding {
    /// This process's part.
    pub part: Option<Shard>,
    /// Reuse part journals of another count.
    pub reshard: bool,
}

/// The directory holding the file at `path` (`.` for a bare file name):
/// where a journal's parts, lock files and spill files live.
pub fn dir_of(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// One part of a sharded run: shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which part, 0-based (Kubernetes' `JOB_COMPLETION_INDEX`).
    pub index: u32,
    /// How many parts.
    pub count: u32,
}

/// The journal of one shard: `<stem>.shard-I-of-N.<ext>` beside `base`.
pub fn shard_path(base: &Path, shard: Shard) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "migration".into());
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    base.with_file_name(format!(
        "{stem}.shard-{}-of-{}{ext}",
        shard.index, shard.count
    ))
}

/// The shard journals beside `base` (any count), sorted.
pub fn shard_journals(base: &Path) -> Vec<(PathBuf, Shard)> {
    let dir = dir_of(base);
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let prefix = format!("{stem}.shard-");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(rest) = name
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_suffix(ext.as_str()))
        else {
            continue;
        };
        let Some((i, n)) = rest.split_once("-of-") else {
            continue;
        };
        if let (Ok(index), Ok(count)) = (i.parse(), n.parse()) {
            if index < count {
                out.push((dir.join(&name), Shard { index, count }));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The part a target repository belongs to, out of `count`: a stable
/// hash (FNV-1a) of its name, so the partition depends on nothing but the
/// name and every process computes the same one.
pub fn shard_of(target_repo: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in target_repo.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(count.max(1))) as u32
}

/// Refuses a shard count that differs from the shard journals already
/// there, unless `--reshard` asked to reuse them.
pub fn check(journal: &Path, sh: Shard, reshard: bool) -> Result<(), String> {
    let others: Vec<String> = shard_journals(journal)
        .into_iter()
        .filter(|(_, s)| s.count != sh.count)
        .map(|(p, _)| p.display().to_string())
        .collect();
    if others.is_empty() || reshard {
        return Ok(());
    }
    Err(format!(
        "this run is part {} of {}, but journals of a run in another number of parts are there ({}); use the same number of parts, or --reshard to reuse their records",
        sh.index,
        sh.count,
        others.join(", ")
    ))
}

/// The part to migrate, from `--shard I/N`, or `--shards N` with
/// `JOB_COMPLETION_INDEX` from the environment.
pub fn from_args(shard: Option<&str>, shards: Option<u32>) -> Result<Option<Shard>, String> {
    let (index, count) = match (shard, shards) {
        (Some(s), _) => {
            let (i, n) = s
                .split_once('/')
                .ok_or_else(|| format!("--shard {s:?} is not I/N (e.g. 0/3)"))?;
            let parse = |v: &str| {
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("--shard {s:?} is not I/N (e.g. 0/3)"))
            };
            (parse(i)?, parse(n)?)
        }
        (None, Some(n)) => {
            let i = std::env::var("JOB_COMPLETION_INDEX").map_err(|_| {
                "--shards needs JOB_COMPLETION_INDEX in the environment (set by a Kubernetes Indexed Job)".to_string()
            })?;
            let i = i
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("JOB_COMPLETION_INDEX {i:?} is not a number"))?;
            (i, n)
        }
        (None, None) => return Ok(None),
    };
    if count == 0 || index >= count {
        return Err(format!(
            "part {index} of {count} does not exist: parts are 0 to N-1"
        ));
    }
    Ok(Some(Shard { index, count }))
}
