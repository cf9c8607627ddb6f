//! Format conversion, as pure functions: source manifest (and config) bytes
//! plus layer facts in, target bytes out, with the list of what was
//! dropped. The rules reproduce `skopeo copy -f oci` / `-f v2s2` of Debian's
//! skopeo 1.9.3 byte for byte (see `docs/conversion.md`), so an
//! image converted here has the digest CSC's documented command gives.
//! Called by the copy engine between "manifest resolved" and "manifest
//! pushed"; it never touches the network.
//!
//! Deliberate differences from skopeo: uncompressed layers stay
//! uncompressed (skopeo gzips them with bytes zlib cannot reproduce), and
//! the output depends on the input alone (a Docker list entry made from an
//! OCI index entry without a platform takes the child's config platform).

pub mod config;
pub use crate::gojson;
mod manifests;
pub mod schema1;

pub use manifests::{index, ChildOut};

use crate::model::Format;
pub use crate::model::LayerFacts;
use crate::oci::{media, Digest, ManifestKind};
use bytes::Bytes;
use std::collections::HashMap;

/// What the engine does with a manifest of some kind under some format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Push the source bytes.
    Keep,
    /// Convert to OCI.
    ToOci,
    /// Convert to Docker schema 2.
    ToDocker,
}

/// Decides the conversion for a manifest kind; the whole decision, so a
/// dry run and the engine agree.
pub fn decide(format: Format, kind: ManifestKind) -> Action {
    use ManifestKind::*;
    match (format, kind) {
        (Format::Preserve, _) => Action::Keep,
        (Format::Oci, OciManifest | OciIndex) => Action::Keep,
        (Format::Oci, _) => Action::ToOci,
        (Format::Docker, DockerV2 | DockerList) => Action::Keep,
        (Format::Docker, _) => Action::ToDocker,
    }
}

/// The kind an action turns `kind` into.
pub fn target_kind(action: Action, kind: ManifestKind) -> ManifestKind {
    match (action, kind.is_index()) {
        (Action::Keep, _) => kind,
        (Action::ToOci, false) => ManifestKind::OciManifest,
        (Action::ToOci, true) => ManifestKind::OciIndex,
        (Action::ToDocker, false) => ManifestKind::DockerV2,
        (Action::ToDocker, true) => ManifestKind::DockerList,
    }
}

/// A converted manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The manifest bytes.
    pub manifest: Bytes,
    /// Its media type.
    pub media_type: &'static str,
    /// Its digest.
    pub digest: Digest,
    /// A new config blob to upload (digest, bytes).
    pub config: Option<(Digest, Bytes)>,
    /// Config fields the conversion lost, e.g. `config.Healthcheck`.
    pub dropped: Vec<String>,
}

impl Converted {
    /// A manifest pushed as it is, under the digest the registry gives
    /// it (for signed schema 1, that of the payload without signatures:
    /// the signed bytes differ on every read, and a push by the digest of
    /// those bytes is refused with `DIGEST_INVALID`).
    pub fn kept(raw: Bytes, media_type: &'static str, digest: Digest) -> Self {
        Converted {
            digest,
            ..Converted::new(raw, media_type, None, Vec::new())
        }
    }

    /// Wraps manifest bytes (kept exactly as given: a kept manifest must not
    /// be re-encoded) with their digest.
    fn new(
        manifest: impl Into<Bytes>,
        media_type: &'static str,
        config: Option<Vec<u8>>,
        dropped: Vec<String>,
    ) -> Self {
        let manifest: Bytes = manifest.into();
        Converted {
            digest: Digest::of(&manifest),
            manifest,
            media_type,
            config: config.map(|c| (Digest::of(&c), Bytes::from(c))),
            dropped,
        }
    }
}

/// Why a manifest cannot be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConvertError {
    /// The manifest is not valid JSON or lacks a field.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The config does not decode.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A layer media type the target format cannot express.
    #[error("layer {digest}: media type {media_type:?} {reason}")]
    Layer {
        /// Layer digest.
        digest: String,
        /// Its media type.
        media_type: String,
        /// Why.
        reason: &'static str,
    },
    /// A layer compression the target format cannot hold (zstd, and
    /// zstd:chunked, into Docker; skopeo refuses it too).
    #[error("layer {digest} is compressed with zstd ({media_type}), which Docker format cannot hold; use format = \"oci\" or \"preserve\" for this image")]
    Compression {
        /// Layer digest.
        digest: String,
        /// Its media type.
        media_type: String,
    },
    /// An OCI artifact, not an image.
    #[error("config media type {0:?} is not an image config: an artifact cannot be converted to Docker format")]
    Artifact(String),
    /// A schema 1 manifest whose history is inconsistent.
    #[error("schema 1: {0}")]
    Schema1(String),
    /// A layer's facts (size, diff_id) are missing.
    #[error("layer {0}: its size or diff_id is not known")]
    MissingFacts(String),
}

/// Converts a single-image manifest.
///
/// `config` is the source config blob (schema 2 and OCI sources); `facts`
/// gives each layer's size and diff_id (schema 1 sources).
pub fn image(
    action: Action,
    kind: ManifestKind,
    manifest: &[u8],
    config: Option<&[u8]>,
    facts: &HashMap<Digest, LayerFacts>,
) -> Result<Converted, ConvertError> {
    use ManifestKind::*;
    match (action, kind) {
        (Action::Keep, _) => Ok(Converted::new(
            manifest.to_vec(),
            kind.media_type(),
            None,
            Vec::new(),
        )),
        (Action::ToOci, DockerV2) => {
            let cfg = config.ok_or_else(|| ConvertError::Manifest("config blob missing".into()))?;
            let oci = config::OciImage::from_json(cfg)?.to_json().into_bytes();
            let m = manifests::docker_to_oci(manifest, &Digest::of(&oci), oci.len() as u64)?;
            Ok(Converted::new(
                m,
                media::OCI_MANIFEST,
                Some(oci),
                config::dropped_fields(cfg),
            ))
        }
        (Action::ToDocker, OciManifest) => {
            let m = manifests::oci_to_docker(manifest)?;
            Ok(Converted::new(m, media::DOCKER_MANIFEST, None, Vec::new()))
        }
        (Action::ToOci | Action::ToDocker, DockerV1 | DockerV1Signed) => {
            schema1::convert(action, manifest, facts)
        }
        (a, k) => Err(ConvertError::Manifest(format!(
            "no conversion {a:?} for a {} manifest",
            k.name()
        ))),
    }
}

#[cfg(test)]
mod tests;
