//! The vocabulary of the image and distribution specs: digests, media types
//! and the manifest model. Every other module speaks in these types.

pub mod digest;
pub mod manifest;
pub mod media;
pub mod reference;

pub use digest::{Digest, DigestVerifier};
pub use manifest::{Descriptor, Manifest, ManifestKind, Platform};
