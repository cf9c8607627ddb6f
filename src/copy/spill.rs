//! Manifests read in the run's first pass (every tag's, before any copy),
//! kept until their tag's turn. They go to an unnamed file beside the
//! journal, so memory holds a few bytes per tag however many tags the plan
//! has. Where no such file can be made, or a write to it fails (a full
//! disk), what was written stays readable and later manifests are held in
//! memory up to [`MEMORY_BUDGET`]; past that, a manifest is not kept and its
//! tag fails with a message saying why. Part of `run` only: between the
//! first pass and each tag's copy.

use bytes::Bytes;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes of manifests held in memory when the file cannot take them.
pub const MEMORY_BUDGET: usize = 64 << 20;

/// Where a kept manifest is.
pub enum Kept {
    /// In the file: offset and length.
    File(u64, usize),
    /// In memory (the file could not take it).
    Memory(Bytes),
    /// Not kept: neither the file nor the memory budget could take it.
    Dropped(usize),
}

/// The store of first-pass manifests.
pub struct Spill {
    file: Option<std::fs::File>,
    /// The file still takes writes (a failed write stops them; what was
    /// written stays readable).
    writable: bool,
    len: u64,
    /// Bytes held in memory so far.
    in_memory: usize,
    budget: usize,
    /// Why the file takes no more (for the message of a dropped manifest).
    why: Option<String>,
    #[cfg(test)]
    fail_after: Option<usize>,
}

impl Spill {
    /// A store in a file that has no name, in `dir`: it is gone when the
    /// run ends, whatever way it ends.
    pub fn in_dir(dir: &Path) -> Spill {
        let (file, why) = match tempfile::tempfile_in(dir) {
            Ok(f) => (Some(f), None),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "no spill file for manifests; they stay in memory");
                (
                    None,
                    Some(format!("no spill file in {}: {e}", dir.display())),
                )
            }
        };
        Spill {
            writable: file.is_some(),
            file,
            len: 0,
            in_memory: 0,
            budget: MEMORY_BUDGET,
            why,
            #[cfg(test)]
            fail_after: None,
        }
    }

    fn write(&mut self, raw: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if let Some(n) = self.fail_after.as_mut() {
            if *n == 0 {
                return Err(std::io::Error::other("No space left on device (test)"));
            }
            *n -= 1;
        }
        match &self.file {
            Some(f) => f.write_all_at(raw, self.len),
            None => Err(std::io::Error::other("no file")),
        }
    }

    /// Keeps `raw`.
    pub fn put(&mut self, raw: Bytes) -> Kept {
        if self.writable {
            match self.write(&raw) {
                Ok(()) => {
                    let at = self.len;
                    self.len += raw.len() as u64;
                    return Kept::File(at, raw.len());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "writing the manifest spill file failed; later manifests stay in memory");
                    self.writable = false;
                    self.why = Some(format!("writing the spill file failed: {e}"));
                }
            }
        }
        match self.in_memory.checked_add(raw.len()) {
            Some(n) if n <= self.budget => {
                self.in_memory = n;
                Kept::Memory(raw)
            }
            _ => Kept::Dropped(raw.len()),
        }
    }

    /// The bytes kept as `k`.
    pub fn get(&self, k: Kept) -> std::io::Result<Bytes> {
        match (k, &self.file) {
            (Kept::Memory(b), _) => Ok(b),
            (Kept::File(at, len), Some(f)) => {
                let mut buf = vec![0u8; len];
                f.read_exact_at(&mut buf, at)?;
                Ok(Bytes::from(buf))
            }
            (Kept::File(..), None) => Err(std::io::Error::other("manifest store closed")),
            (Kept::Dropped(len), _) => Err(std::io::Error::other(format!(
                "the manifest ({len} bytes) could not be kept until its turn: {}, and {} MiB of manifests are already held in memory; free disk space beside the journal and run again",
                self.why.as_deref().unwrap_or("the spill file takes no more"),
                self.budget >> 20
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_in_a_file_and_gives_them_back() {
        let dir = std::env::temp_dir();
        let mut s = Spill::in_dir(&dir);
        let a = s.put(Bytes::from_static(b"{\"a\":1}"));
        let b = s.put(Bytes::from_static(b"[]"));
        assert!(matches!(a, Kept::File(0, 7)));
        assert!(matches!(b, Kept::File(7, 2)));
        assert_eq!(s.get(b).expect("b"), Bytes::from_static(b"[]"));
        assert_eq!(s.get(a).expect("a"), Bytes::from_static(b"{\"a\":1}"));
        // No file: memory.
        let mut m = Spill::in_dir(Path::new("/nonexistent/dir"));
        let c = m.put(Bytes::from_static(b"x"));
        assert!(matches!(c, Kept::Memory(_)));
        assert_eq!(m.get(c).expect("c"), Bytes::from_static(b"x"));
    }

    #[test]
    fn a_failed_write_keeps_what_was_spilled_and_bounds_what_follows() {
        let mut s = Spill::in_dir(&std::env::temp_dir());
        s.fail_after = Some(2);
        s.budget = 10;
        let a = s.put(Bytes::from_static(b"first"));
        let b = s.put(Bytes::from_static(b"second"));
        // The disk is full from here on.
        let c = s.put(Bytes::from_static(b"third"));
        let d = s.put(Bytes::from_static(b"fourth!"));
        let e = s.put(Bytes::from_static(b"fifth"));
        assert!(matches!(a, Kept::File(..)) && matches!(b, Kept::File(..)));
        assert!(matches!(c, Kept::Memory(_)) && matches!(e, Kept::Memory(_)));
        assert!(matches!(d, Kept::Dropped(7)));
        assert_eq!(s.get(a).expect("a"), Bytes::from_static(b"first"));
        assert_eq!(s.get(b).expect("b"), Bytes::from_static(b"second"));
        assert_eq!(s.get(c).expect("c"), Bytes::from_static(b"third"));
        assert_eq!(s.get(e).expect("e"), Bytes::from_static(b"fifth"));
        let msg = s.get(d).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("No space left") && msg.contains("free disk space"),
            "{msg}"
        );
    }
}
