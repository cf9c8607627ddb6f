//! Just enough of the manifest formats to walk an image: which blobs and
//! child manifests a manifest references. The original bytes are kept
//! beside the parsed view so that `preserve` pushes them unchanged.

use super::digest::Digest;
use super::media;
use base64::Engine as _;
use serde::Deserialize;

/// What kind of manifest a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestKind {
    /// Docker schema 2 image manifest.
    DockerV2,
    /// Docker schema 1, signed.
    DockerV1Signed,
    /// Docker schema 1, unsigned.
    DockerV1,
    /// Docker manifest list.
    DockerList,
    /// OCI image manifest.
    OciManifest,
    /// OCI image index.
    OciIndex,
}

impl ManifestKind {
    /// The media type a registry expects in `Content-Type` for this kind.
    pub fn media_type(self) -> &'static str {
        match self {
            ManifestKind::DockerV2 => media::DOCKER_MANIFEST,
            ManifestKind::DockerV1Signed => media::DOCKER_V1_SIGNED,
            ManifestKind::DockerV1 => media::DOCKER_V1,
            ManifestKind::DockerList => media::DOCKER_LIST,
            ManifestKind::OciManifest => media::OCI_MANIFEST,
            ManifestKind::OciIndex => media::OCI_INDEX,
        }
    }

    /// The kind a manifest media type names.
    pub fn from_media_type(t: &str) -> Option<ManifestKind> {
        match t {
            media::OCI_MANIFEST => Some(ManifestKind::OciManifest),
            media::OCI_INDEX => Some(ManifestKind::OciIndex),
            media::DOCKER_MANIFEST => Some(ManifestKind::DockerV2),
            media::DOCKER_LIST => Some(ManifestKind::DockerList),
            media::DOCKER_V1_SIGNED => Some(ManifestKind::DockerV1Signed),
            media::DOCKER_V1 => Some(ManifestKind::DockerV1),
            _ => None,
        }
    }

    /// True for Docker schema 1, signed or not: the one place that says so.
    pub fn is_schema1(self) -> bool {
        matches!(self, ManifestKind::DockerV1 | ManifestKind::DockerV1Signed)
    }

    /// True for lists and indexes.
    pub fn is_index(self) -> bool {
        matches!(self, ManifestKind::DockerList | ManifestKind::OciIndex)
    }

    /// The short name used in reports (`docker-v2`, `oci-index`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ManifestKind::DockerV2 => "docker-v2",
            ManifestKind::DockerV1Signed => "docker-v1-signed",
            ManifestKind::DockerV1 => "docker-v1",
            ManifestKind::DockerList => "docker-list",
            ManifestKind::OciManifest => "oci-manifest",
            ManifestKind::OciIndex => "oci-index",
        }
    }
}

/// A platform as written in an index descriptor.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    #[serde(default)]
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    #[serde(default)]
    pub os: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// A content descriptor: what a manifest says about a blob or child manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    #[serde(default)]
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes; schema 1 layers have none.
    #[serde(default)]
    pub size: Option<u64>,
    /// External URLs (foreign / non-distributable layers).
    #[serde(default)]
    pub urls: Vec<String>,
    /// Platform, on index entries.
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// A parsed manifest: its kind and the content it references.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The format.
    pub kind: ManifestKind,
    /// The exact bytes as served.
    pub raw: bytes::Bytes,
    /// The digest a registry assigns to `raw` (for signed schema 1: of the
    /// payload without signatures).
    pub digest: Digest,
    /// Config blob (schema 2 and OCI images).
    pub config: Option<Descriptor>,
    /// Layer blobs, in manifest order. For schema 1 these come from
    /// `fsLayers` (top first, sizes unknown).
    pub layers: Vec<Descriptor>,
    /// Child manifests (lists and indexes).
    pub manifests: Vec<Descriptor>,
}

/// A manifest that cannot be understood.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The JSON does not parse into the expected shape.
    #[error("manifest does not parse as {kind}: {source}")]
    Json {
        /// The format it was read as.
        kind: &'static str,
        /// The decoder's message.
        source: serde_json::Error,
    },
    /// Neither the Content-Type nor the document says what it is.
    #[error("unknown manifest media type {0:?}")]
    UnknownMediaType(String),
    /// A signed schema 1 manifest whose JWS header is malformed.
    #[error("schema 1 signature header is malformed: {0}")]
    BadSignature(String),
    /// An object with two keys that differ only in case (or not at all):
    /// Go reads the last, serde the first, so what the manifest references
    /// would depend on who reads it.
    #[error("manifest has the key {first:?} and again {second:?} in one object; refusing a manifest that readers would read differently")]
    AmbiguousKey {
        /// The first spelling.
        first: String,
        /// The repeat.
        second: String,
    },
    /// The manifest is not JSON that Go's decoder reads.
    #[error("manifest is not valid JSON: {0}")]
    Syntax(crate::gojson::SyntaxError),
    /// An OCI manifest or index that the OCI image spec's types refuse.
    #[error("not a valid {kind}: {message}")]
    InvalidOci {
        /// The format it was read as.
        kind: &'static str,
        /// What oci-spec found wrong.
        message: String,
    },
}

/// Checks an OCI manifest or index against the OCI image spec's own types
/// (the `oci-spec` crate): required fields, descriptor shapes, digests. The
/// bytes are only read; what is pushed is still the source bytes or the
/// Go-compatible writer's output.
fn validate_oci(kind: ManifestKind, raw: &[u8]) -> Result<(), ManifestError> {
    let invalid = |e: oci_spec::OciSpecError| ManifestError::InvalidOci {
        kind: kind.name(),
        message: e.to_string(),
    };
    match kind {
        ManifestKind::OciManifest => oci_spec::image::ImageManifest::from_reader(raw)
            .map(|_| ())
            .map_err(invalid),
        ManifestKind::OciIndex => oci_spec::image::ImageIndex::from_reader(raw)
            .map(|_| ())
            .map_err(invalid),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    signatures: Option<serde_json::Value>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ImageDoc {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FsLayer {
    blob_sum: Digest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Doc {
    #[serde(default)]
    fs_layers: Vec<FsLayer>,
}

/// Decides the kind of a manifest from its Content-Type, falling back to
/// the document's own `mediaType` and shape.
pub fn detect_kind(content_type: Option<&str>, raw: &[u8]) -> Result<ManifestKind, ManifestError> {
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let by_type = ManifestKind::from_media_type;
    let probe: Probe = serde_json::from_slice(raw).map_err(|source| ManifestError::Json {
        kind: "a manifest",
        source,
    })?;
    if let Some(mt) = probe.media_type.as_deref().and_then(by_type) {
        return Ok(mt);
    }
    if let Some(k) = by_type(&ct) {
        // A plain "application/json" schema 1 with signatures is still signed.
        return Ok(k);
    }
    match probe.schema_version {
        Some(1) if probe.signatures.is_some() => Ok(ManifestKind::DockerV1Signed),
        Some(1) => Ok(ManifestKind::DockerV1),
        Some(2) if probe.manifests.is_some() => Ok(ManifestKind::OciIndex),
        Some(2) => Ok(ManifestKind::OciManifest),
        _ => Err(ManifestError::UnknownMediaType(ct)),
    }
}

impl Manifest {
    /// Parses `raw`, served with `content_type`.
    pub fn parse(content_type: Option<&str>, raw: bytes::Bytes) -> Result<Manifest, ManifestError> {
        // One reading of what the manifest references: serde below and the
        // Go-compatible conversion must see the same keys.
        let doc = crate::gojson::parse(&raw).map_err(ManifestError::Syntax)?;
        if let Some((first, second)) = crate::gojson::ambiguous_key(&doc) {
            return Err(ManifestError::AmbiguousKey { first, second });
        }
        drop(doc);
        let kind = detect_kind(content_type, &raw)?;
        let json_err = |source| ManifestError::Json {
            kind: kind.name(),
            source,
        };
        let mut m = Manifest {
            kind,
            digest: registry_digest(kind, &raw)?,
            raw: raw.clone(),
            config: None,
            layers: Vec::new(),
            manifests: Vec::new(),
        };
        match kind {
            ManifestKind::DockerV2 | ManifestKind::OciManifest => {
                validate_oci(kind, &raw)?;
                let doc: ImageDoc = serde_json::from_slice(&raw).map_err(json_err)?;
                m.config = Some(doc.config);
                m.layers = doc.layers;
            }
            ManifestKind::DockerList | ManifestKind::OciIndex => {
                validate_oci(kind, &raw)?;
                let doc: IndexDoc = serde_json::from_slice(&raw).map_err(json_err)?;
                m.manifests = doc.manifests;
            }
            ManifestKind::DockerV1 | ManifestKind::DockerV1Signed => {
                let doc: V1Doc = serde_json::from_slice(&raw).map_err(json_err)?;
                m.layers = doc
                    .fs_layers
                    .into_iter()
                    .map(|l| Descriptor {
                        media_type: media::DOCKER_LAYER_GZIP.into(),
                        digest: l.blob_sum,
                        size: None,
                        urls: Vec::new(),
                        platform: None,
                    })
                    .collect();
            }
        }
        Ok(m)
    }

    /// Every blob the manifest references, config first, without repeats.
    /// Layers with `urls` (foreign layers) are left out: registries do not
    /// serve them and skopeo does not copy them either.
    pub fn blobs(&self) -> Vec<Descriptor> {
        let mut seen = std::collections::HashSet::new();
        self.config
            .iter()
            .chain(self.layers.iter().filter(|l| l.urls.is_empty()))
            .filter(|d| seen.insert(d.digest.clone()))
            .cloned()
            .collect()
    }

    /// Layers with `urls`, which are not copied.
    pub fn foreign_layers(&self) -> impl Iterator<Item = &Descriptor> {
        self.layers.iter().filter(|l| !l.urls.is_empty())
    }
}

#[derive(Deserialize)]
struct Signature {
    protected: String,
}

#[derive(Deserialize)]
struct SignedDoc {
    signatures: Vec<Signature>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Protected {
    format_length: usize,
    format_tail: String,
}

/// The digest a registry gives `raw`: of the bytes themselves, except for
/// signed schema 1, where it is the digest of the payload rebuilt from the
/// JWS `protected` header (`formatLength` bytes, then `formatTail`).
pub fn registry_digest(kind: ManifestKind, raw: &[u8]) -> Result<Digest, ManifestError> {
    if kind != ManifestKind::DockerV1Signed {
        return Ok(Digest::of(raw));
    }
    let payload = schema1_payload(raw)?;
    Ok(Digest::of(&payload))
}

impl Manifest {
    /// This manifest's digest computed with `like`'s algorithm (a parent
    /// may name a child by its sha512 digest), to compare with `like`.
    pub fn digest_like(&self, like: &Digest) -> Digest {
        if like.algorithm() == self.digest.algorithm() {
            return self.digest.clone();
        }
        match self.kind {
            ManifestKind::DockerV1Signed => match schema1_payload(&self.raw) {
                Ok(p) => like.recompute(&p),
                Err(_) => self.digest.clone(),
            },
            _ => like.recompute(&self.raw),
        }
    }
}

/// The signed-over payload of a signed schema 1 manifest.
pub fn schema1_payload(raw: &[u8]) -> Result<Vec<u8>, ManifestError> {
    let bad = |m: &str| ManifestError::BadSignature(m.to_string());
    let doc: SignedDoc =
        serde_json::from_slice(raw).map_err(|e| ManifestError::BadSignature(e.to_string()))?;
    let first = doc.signatures.first().ok_or_else(|| bad("no signatures"))?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let protected = b64
        .decode(first.protected.trim_end_matches('='))
        .map_err(|e| ManifestError::BadSignature(format!("protected header: {e}")))?;
    let p: Protected = serde_json::from_slice(&protected)
        .map_err(|e| ManifestError::BadSignature(format!("protected header: {e}")))?;
    let tail = b64
        .decode(p.format_tail.trim_end_matches('='))
        .map_err(|e| ManifestError::BadSignature(format!("formatTail: {e}")))?;
    let head = raw
        .get(..p.format_length)
        .ok_or_else(|| bad("formatLength is longer than the manifest"))?;
    let mut payload = head.to_vec();
    payload.extend_from_slice(&tail);
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_media_type_names_are_the_specs() {
        use oci_spec::image::MediaType as M;
        for (ours, spec) in [
            (media::OCI_MANIFEST, M::ImageManifest),
            (media::OCI_INDEX, M::ImageIndex),
            (media::OCI_CONFIG, M::ImageConfig),
            (media::OCI_LAYER, M::ImageLayer),
            (media::OCI_LAYER_GZIP, M::ImageLayerGzip),
            (media::OCI_LAYER_ZSTD, M::ImageLayerZstd),
        ] {
            assert_eq!(ours, spec.to_string());
        }
    }

    #[test]
    fn keys_that_readers_would_read_differently_are_refused() {
        let d = Digest::of(b"a");
        let e = Digest::of(b"b");
        let doc = |layer: &str| {
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{d}","size":1}},"layers":[{layer}]}}"#,
                media::DOCKER_MANIFEST,
                media::DOCKER_CONFIG
            )
        };
        let good = doc(&format!(
            r#"{{"mediaType":"{}","digest":"{d}","size":1}}"#,
            media::DOCKER_LAYER_GZIP
        ));
        assert!(Manifest::parse(None, good.into()).is_ok());
        for twice in [
            format!(r#""digest":"{d}","Digest":"{e}""#),
            format!(r#""digest":"{d}","digest":"{e}""#),
            format!(r#""digest":"{d}","dige\u017ft":"{e}""#),
        ] {
            let bad = doc(&format!(
                r#"{{"mediaType":"{}",{twice},"size":1}}"#,
                media::DOCKER_LAYER_GZIP
            ));
            let r = Manifest::parse(None, bad.into());
            assert!(
                matches!(r, Err(ManifestError::AmbiguousKey { .. })),
                "{twice}: {r:?}"
            );
        }
    }

    #[test]
    fn oci_manifests_are_validated_by_the_spec_types() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let good = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{d}","size":0}},"layers":[]}}"#,
            media::OCI_MANIFEST,
            media::OCI_CONFIG
        );
        assert!(Manifest::parse(Some(media::OCI_MANIFEST), good.clone().into()).is_ok());
        // A descriptor without its size is not an OCI descriptor.
        let bad = good.replace(r#","size":0"#, "");
        let e = Manifest::parse(Some(media::OCI_MANIFEST), bad.into())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("not a valid oci-manifest"), "{e}");
    }

    #[test]
    fn detects_kinds() {
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[]}"#;
        assert_eq!(detect_kind(None, oci).ok(), Some(ManifestKind::OciManifest));
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(detect_kind(None, idx).ok(), Some(ManifestKind::OciIndex));
        assert_eq!(
            detect_kind(Some(media::DOCKER_LIST), idx).ok(),
            Some(ManifestKind::DockerList)
        );
        assert!(detect_kind(None, br#"{"schemaVersion":3}"#).is_err());
    }

    #[test]
    fn blobs_skip_foreign_and_repeats() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let raw = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"c","digest":"{d}","size":0}},"layers":[{{"mediaType":"l","digest":"{d}","size":0}},{{"mediaType":"f","digest":"{d}","size":0,"urls":["https://x"]}}]}}"#,
            media::DOCKER_MANIFEST
        );
        let m = Manifest::parse(None, raw.into_bytes().into()).expect("parses");
        assert_eq!(m.kind, ManifestKind::DockerV2);
        assert_eq!(m.blobs().len(), 1);
        assert_eq!(m.foreign_layers().count(), 1);
    }

    #[test]
    fn schema1_payload_digest() {
        // A payload, then a signature block whose protected header says the
        // payload is the first 11 bytes plus the tail "\n}".
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let body = "{\"a\":\"b\",\n";
        let protected = b64.encode(format!(
            r#"{{"formatLength":{},"formatTail":"{}"}}"#,
            body.len(),
            b64.encode("}")
        ));
        let raw = format!(r#"{body}"signatures":[{{"protected":"{protected}"}}]}}"#);
        let d = registry_digest(ManifestKind::DockerV1Signed, raw.as_bytes()).expect("digest");
        assert_eq!(d, Digest::of(b"{\"a\":\"b\",\n}"));
    }
}
