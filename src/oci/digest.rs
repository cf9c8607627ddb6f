//! Content digests (`sha256:<hex>` and `sha512:<hex>`) and the streaming
//! verifier that checks bytes against one while they pass through.

use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;

/// A digest algorithm the OCI image spec registers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Algorithm {
    /// SHA-256, what every registry uses by default.
    Sha256,
    /// SHA-512, allowed by the spec and accepted by distribution.
    Sha512,
}

impl Algorithm {
    /// The name before the `:`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the lowercase hex encoding.
    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A content digest as used by the OCI distribution spec: `sha256` or
/// `sha512`, with the exact hex length and lowercase hex the spec requires.
///
/// Held as raw bytes, not text: a sha256 digest is 33 bytes in place and a
/// clone allocates nothing (a run keeps several per blob and per tag).
/// Ordering is that of the text form: algorithm, then the bytes, which
/// order as their lowercase hex does.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(Bytes);

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Bytes {
    Sha256([u8; 32]),
    Sha512(Box<[u8; 64]>),
}

/// A string that is not a valid digest.
#[derive(Debug, thiserror::Error)]
#[error("invalid digest {0:?}: expected sha256:<64> or sha512:<128 lowercase hex characters>")]
pub struct InvalidDigest(pub String);

impl Digest {
    /// The sha256 digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest(Bytes::Sha256(Sha256::digest(data).into()))
    }

    /// The digest of `data` with this digest's algorithm (to check content
    /// against a digest whatever its algorithm).
    pub fn recompute(&self, data: &[u8]) -> Digest {
        let mut v = DigestVerifier::for_algorithm(self.algorithm());
        v.update(data);
        v.finish()
    }

    /// The sha256 digest a finished hasher holds.
    pub fn of_hasher(h: Sha256) -> Digest {
        Digest(Bytes::Sha256(h.finalize().into()))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            Bytes::Sha256(_) => Algorithm::Sha256,
            Bytes::Sha512(_) => Algorithm::Sha512,
        }
    }

    fn bytes(&self) -> &[u8] {
        match &self.0 {
            Bytes::Sha256(b) => b,
            Bytes::Sha512(b) => &b[..],
        }
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> String {
        hex::encode(self.bytes())
    }
}

impl FromStr for Digest {
    type Err = InvalidDigest;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidDigest(s.to_string());
        let (name, hex) = s.split_once(':').ok_or_else(bad)?;
        let algorithm = match name {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad()),
        };
        // Lowercase only: the spec's grammar, and what `hex` decodes
        // would otherwise accept.
        if hex.len() != algorithm.hex_len()
            || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(bad());
        }
        let bytes = match algorithm {
            Algorithm::Sha256 => {
                let mut b = [0u8; 32];
                hex::decode_to_slice(hex, &mut b).map_err(|_| bad())?;
                Bytes::Sha256(b)
            }
            Algorithm::Sha512 => {
                let mut b = Box::new([0u8; 64]);
                hex::decode_to_slice(hex, &mut b[..]).map_err(|_| bad())?;
                Bytes::Sha512(b)
            }
        };
        Ok(Digest(bytes))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 128];
        let bytes = self.bytes();
        let out = &mut buf[..bytes.len() * 2];
        hex::encode_to_slice(bytes, out).map_err(|_| fmt::Error)?;
        f.write_str(self.algorithm().name())?;
        f.write_str(":")?;
        f.write_str(std::str::from_utf8(out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// Hashes bytes as they stream past and counts them.
pub struct DigestVerifier {
    hasher: Hasher,
    len: u64,
}

impl Default for DigestVerifier {
    fn default() -> Self {
        Self::for_algorithm(Algorithm::Sha256)
    }
}

impl DigestVerifier {
    /// A sha256 verifier that has seen no bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier hashing with `algorithm`.
    pub fn for_algorithm(algorithm: Algorithm) -> Self {
        let hasher = match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        };
        DigestVerifier { hasher, len: 0 }
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
        self.len += data.len() as u64;
    }

    /// How many bytes were seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no bytes were seen.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything seen.
    pub fn finish(self) -> Digest {
        Digest(match self.hasher {
            Hasher::Sha256(h) => Bytes::Sha256(h.finalize().into()),
            Hasher::Sha512(h) => Bytes::Sha512(Box::new(h.finalize().into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_and_equality_follow_the_text() {
        let mut ds: Vec<Digest> = (0u8..40)
            .map(|i| Digest::of(&[i]))
            .chain((0u8..5).map(|i| {
                let mut v = DigestVerifier::for_algorithm(Algorithm::Sha512);
                v.update(&[i]);
                v.finish()
            }))
            .collect();
        let mut texts: Vec<String> = ds.iter().map(|d| d.to_string()).collect();
        ds.sort();
        texts.sort();
        let sorted: Vec<String> = ds.iter().map(|d| d.to_string()).collect();
        assert_eq!(sorted, texts);
        for t in &texts {
            let d: Digest = t.parse().expect("round trip");
            assert_eq!(&d.to_string(), t);
            assert!(t
                .to_uppercase()
                .replacen("SHA", "sha", 1)
                .parse::<Digest>()
                .is_err());
        }
    }

    #[test]
    fn parses_and_prints() {
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d));
        assert!("sha256:abc".parse::<Digest>().is_err());
        assert!(
            "md5:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse::<Digest>()
                .is_err()
        );
        assert!(
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
                .parse::<Digest>()
                .is_err()
        );
    }

    #[test]
    fn verifier_matches_one_shot() {
        let mut v = DigestVerifier::new();
        v.update(b"hello ");
        v.update(b"world");
        assert_eq!(v.len(), 11);
        assert_eq!(v.finish(), Digest::of(b"hello world"));
    }

    #[test]
    fn sha512_digests_parse_and_verify() {
        let d: Digest = "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
            .parse()
            .unwrap();
        assert_eq!(d.algorithm(), Algorithm::Sha512);
        assert_eq!(d.recompute(b""), d);
        assert_eq!(d.to_string().parse::<Digest>().ok(), Some(d.clone()));
        let mut v = DigestVerifier::for_algorithm(Algorithm::Sha512);
        v.update(b"");
        assert_eq!(v.finish(), d);
        // A sha512 name with a sha256-length hex is refused, and the reverse.
        assert!(format!("sha512:{}", Digest::of(b"").hex())
            .parse::<Digest>()
            .is_err());
        assert!(format!("sha256:{}", d.hex()).parse::<Digest>().is_err());
    }
}
