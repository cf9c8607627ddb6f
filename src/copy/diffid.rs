//! The diff_id of a layer (sha256 of its uncompressed content), computed
//! from the bytes as they stream to the target: one pass, no temporary
//! file. Gzip (multi-member) is inflated with flate2's zlib-rs backend;
//! uncompressed blobs hash as they are. zstd, bzip2 and xz layers are
//! recognized and refused (no registry we migrate from serves them in
//! schema 1 images).

use crate::oci::Digest;
use sha2::{Digest as _, Sha256};
use std::io::Write;

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Mode {
    Sniff(Vec<u8>),
    Gzip(Box<flate2::write::MultiGzDecoder<HashWriter>>),
    Raw(HashWriter),
    Unsupported(&'static str),
    Failed(String),
}

/// Computes a diff_id from a stream of blob bytes.
pub struct DiffHasher {
    mode: Mode,
}

/// What the hasher found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffId {
    /// sha256 of the uncompressed content.
    pub diff_id: Digest,
    /// Whether the blob was compressed.
    pub compressed: bool,
}

const SNIFF: usize = 6;

impl Default for DiffHasher {
    fn default() -> Self {
        DiffHasher {
            mode: Mode::Sniff(Vec::new()),
        }
    }
}

impl DiffHasher {
    /// A hasher that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    fn decide(head: &[u8]) -> Mode {
        if head.starts_with(&[0x1f, 0x8b]) {
            Mode::Gzip(Box::new(flate2::write::MultiGzDecoder::new(HashWriter(
                Sha256::new(),
            ))))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Mode::Unsupported("zstd")
        } else if head.starts_with(b"BZh") {
            Mode::Unsupported("bzip2")
        } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            Mode::Unsupported("xz")
        } else {
            Mode::Raw(HashWriter(Sha256::new()))
        }
    }

    fn feed(&mut self, data: &[u8]) {
        match &mut self.mode {
            Mode::Gzip(d) => {
                if let Err(e) = d.write_all(data) {
                    self.mode = Mode::Failed(format!("gzip: {e}"));
                }
            }
            Mode::Raw(h) => h.0.update(data),
            _ => {}
        }
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        if let Mode::Sniff(buf) = &mut self.mode {
            buf.extend_from_slice(data);
            if buf.len() < SNIFF {
                return;
            }
            let head = std::mem::take(buf);
            self.mode = Self::decide(&head);
            self.feed(&head);
            return;
        }
        self.feed(data);
    }

    /// The diff_id, or why it cannot be had.
    pub fn finish(mut self) -> Result<DiffId, String> {
        if let Mode::Sniff(buf) = &mut self.mode {
            let head = std::mem::take(buf);
            self.mode = Self::decide(&head);
            self.feed(&head);
        }
        match self.mode {
            Mode::Gzip(d) => {
                let w = d.finish().map_err(|e| format!("gzip: {e}"))?;
                Ok(DiffId {
                    diff_id: Digest::of_hasher(w.0),
                    compressed: true,
                })
            }
            Mode::Raw(h) => Ok(DiffId {
                diff_id: Digest::of_hasher(h.0),
                compressed: false,
            }),
            Mode::Unsupported(what) => Err(format!("{what}-compressed layers are not supported")),
            Mode::Failed(e) => Err(e),
            Mode::Sniff(_) => Err("internal: undecided".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = e.write_all(data);
        e.finish().unwrap_or_default()
    }

    #[test]
    fn gzip_in_small_pieces() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut blob = gz(&data[..50_000]);
        blob.extend(gz(&data[50_000..]));
        let mut h = DiffHasher::new();
        for c in blob.chunks(7) {
            h.update(c);
        }
        assert_eq!(
            h.finish(),
            Ok(DiffId {
                diff_id: Digest::of(&data),
                compressed: true
            })
        );
    }

    #[test]
    fn raw_and_tiny_and_refused() {
        let mut h = DiffHasher::new();
        h.update(b"abc");
        assert_eq!(
            h.finish(),
            Ok(DiffId {
                diff_id: Digest::of(b"abc"),
                compressed: false
            })
        );
        let mut h = DiffHasher::new();
        h.update(&[0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0]);
        assert!(h.finish().is_err());
        let mut h = DiffHasher::new();
        h.update(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
        assert!(h.finish().is_err(), "corrupt gzip");
    }

    #[test]
    fn the_empty_gzip_layer() {
        // a3ed95...: 32 bytes of gzip around 1024 zero bytes.
        let blob = gz(&[0u8; 1024]);
        let mut h = DiffHasher::new();
        h.update(&blob);
        assert_eq!(
            h.finish().map(|d| d.diff_id.to_string()),
            Ok(
                "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
                    .to_string()
            )
        );
    }
}
