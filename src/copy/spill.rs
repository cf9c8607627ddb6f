//! Manifests read in the run's first pass (every tag's, before any copy),
//! kept until their tag's turn. They go to an unnamed file beside the
//! journal, so memory holds a few bytes per tag however many tags the plan
//! has; where no such file can be made they stay in memory. Part of `run`
//! only: between the first pass and each tag's copy.

use bytes::Bytes;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Where a kept manifest is.
pub enum Kept {
    /// In the file: offset and length.
    File(u64, usize),
    /// In memory (no file could be made).
    Memory(Bytes),
}

/// The store of first-pass manifests.
pub struct Spill {
    file: Option<std::fs::File>,
    len: u64,
}

impl Spill {
    /// A store in a file that has no name, in `dir`: it is gone when the
    /// run ends, whatever way it ends.
    pub fn in_dir(dir: &Path) -> Spill {
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| tracing::debug!(error = %e, "manifests stay in memory"))
            .ok();
        Spill { file, len: 0 }
    }

    /// Keeps `raw`.
    pub fn put(&mut self, raw: Bytes) -> Kept {
        if let Some(f) = &self.file {
            match f.write_all_at(&raw, self.len) {
                Ok(()) => {
                    let at = self.len;
                    self.len += raw.len() as u64;
                    return Kept::File(at, raw.len());
                }
                Err(e) => {
                    tracing::debug!(error = %e, "manifests stay in memory");
                    self.file = None;
                }
            }
        }
        Kept::Memory(raw)
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
}
