//! The shared vocabulary of a migration that is not part of the image
//! specs themselves: the output [`Format`], which [`Platforms`] to copy, and
//! what is known about a layer ([`LayerFacts`]). It sits at the bottom of
//! the stack beside `oci`: `plan` produces these values, `convert`,
//! `journal` and `copy` consume them, and none of those import each other
//! for them.

use crate::oci::{Digest, Platform};

/// What to do with manifest formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Convert to OCI, as `skopeo copy -f oci` does.
    Oci,
    /// Convert to Docker schema 2, as `skopeo copy -f v2s2` does.
    Docker,
    /// Push the source bytes unchanged.
    Preserve,
}

impl Format {
    /// The name used in the plan file.
    pub fn name(self) -> &'static str {
        match self {
            Format::Oci => "oci",
            Format::Docker => "docker",
            Format::Preserve => "preserve",
        }
    }

    /// The format named `s` in a plan file.
    pub fn from_name(s: &str) -> Option<Format> {
        match s {
            "oci" => Some(Format::Oci),
            "docker" => Some(Format::Docker),
            "preserve" => Some(Format::Preserve),
            _ => None,
        }
    }
}

/// Which platforms of a multi-platform image to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platforms {
    /// Every platform.
    All,
    /// Only these `os/arch[/variant]` entries.
    Only(Vec<String>),
}

impl Platforms {
    /// True if `p` is to be copied. An entry without a platform is always
    /// copied (nothing says it is not wanted).
    pub fn wants(&self, p: Option<&Platform>) -> bool {
        match (self, p) {
            (Platforms::All, _) => true,
            (Platforms::Only(_), None) => true,
            (Platforms::Only(list), Some(p)) => {
                let s = p.to_string();
                list.iter().any(|w| {
                    *w == s || (p.variant.is_some() && *w == format!("{}/{}", p.os, p.architecture))
                })
            }
        }
    }
}

/// What is known about one layer blob after it was read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFacts {
    /// Its size in bytes.
    pub size: u64,
    /// The digest of its uncompressed content (schema 1 needs it).
    pub diff_id: Option<Digest>,
    /// Whether the blob is compressed (gzip).
    pub compressed: bool,
}

/// Which side of a migration a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// Reading from the source registry failed, or it served something
    /// unusable.
    Source,
    /// Writing to (or reading from) the target registry failed.
    Target,
    /// The image cannot be converted to the planned format, or the plan
    /// blocks it.
    Conversion,
    /// Content did not match its digest or size.
    Verification,
    /// The journal could not be written.
    Journal,
}

impl FailureKind {
    /// The name shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Source => "source",
            FailureKind::Target => "target",
            FailureKind::Conversion => "conversion",
            FailureKind::Verification => "verification",
            FailureKind::Journal => "journal",
        }
    }
}

/// Text that came from outside (a registry's error body, a manifest's media
/// type, a config key, a journal's string), made safe to print: control
/// characters (C0, DEL, C1, which include ANSI escape sequences'
/// introducers), line and paragraph separators, and the bidirectional
/// controls (which can make text read in another order than it is) are
/// shown escaped (`\u{1b}`), so a registry can neither paint, move the
/// cursor, fake lines of output, nor reorder what is shown. Everything else
/// is kept. The one escaping function for text outputs; the Markdown and
/// HTML renderers apply it before their own escaping.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `printable` escapes `c`.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' // line, paragraph separator
            | '\u{061c}' | '\u{200e}' | '\u{200f}' // ALM, LRM, RLM
            | '\u{202a}'..='\u{202e}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
        )
}

/// Bytes as a short human figure (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// What `check` (and discovery) can say about an image: the one list of
/// finding codes. Each has its name (the stable string in reports), its
/// severity and what it means; `docs/reference.md` is checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingCode {
    /// `schema1-manifest`: a Docker schema 1 image: deprecated; `oci`/`docker` convert it (its layers are read once for their diff_ids), `preserve` keeps it where the target accepts schema 1.
    Schema1Manifest,
    /// `config-fields-dropped`: the conversion drops config fields: a warning for fields that change how a container runs (`Healthcheck`, `OnBuild`, `Shell`, ...), information for build metadata.
    ConfigFieldsDropped,
    /// `digest-changes`: the target digest differs from the source's (a conversion); workloads pinned by digest need `rewrite`.
    DigestChanges,
    /// `multi-arch`: a multi-platform image: the platforms copied.
    MultiArch,
    /// `foreign-layer`: a layer served from elsewhere (`urls`): not copied; the target must be allowed to reference it.
    ForeignLayer,
    /// `non-distributable-layer`: a non-distributable layer media type.
    NonDistributableLayer,
    /// `missing-blob`: the source does not serve a blob the manifest names (in that repository).
    MissingBlob,
    /// `unknown-media-type`: a layer or artifact media type the conversion does not know.
    UnknownMediaType,
    /// `unsupported-compression`: zstd layers into `docker`, which cannot describe them.
    UnsupportedCompression,
    /// `conversion-error`: the manifest or config cannot be converted (the message says why).
    ConversionError,
    /// `image-too-large`: larger than `[target] max_image_size`.
    ImageTooLarge,
    /// `index-too-large`: an index naming more than 1,000 distinct child manifests (entries repeating a digest count once).
    IndexTooLarge,
    /// `too-many-repositories`: more target repositories than `[target] max_repositories`.
    TooManyRepositories,
    /// `repository-count-unknown`: the repository limit could not be checked: the catalog was refused.
    RepositoryCountUnknown,
    /// `quota-exceeded`: the bytes to transfer exceed the target project's image quota.
    QuotaExceeded,
    /// `quota-unknown`: the target's streams or quota could not be read, so the quota was not checked.
    QuotaUnknown,
    /// `target-project-missing`: the target project does not exist on the target cluster.
    TargetProjectMissing,
    /// `already-present`: the target tag already points at the predicted digest.
    AlreadyPresent,
    /// `source-error`: the source could not be read for this image.
    SourceError,
    /// `no-matching-platform`: no platform of the index matches `platforms`.
    NoMatchingPlatform,
    /// `platforms-filtered`: only some platforms are copied, so the index is rewritten and its digest changes.
    PlatformsFiltered,
    /// `signature-invalidated`: a cosign-style `sha256-<hex>.sig`/`.att`/`.sbom` tag (copied unchanged) names an image whose digest the conversion changes.
    SignatureInvalidated,
    /// `external-import`: an image stream tag imported from an external registry (`external_imports` says what happens).
    ExternalImport,
    /// `invalid-tag-name`: the source's tag list holds names that are no tags; those the plan does not select are skipped.
    InvalidTagName,
    /// `import-failed`: an image stream tag whose import failed: it has no image to copy.
    ImportFailed,
    /// `alias-missing`: an alias (`oc tag --alias`) of a tag that does not exist.
    AliasMissing,
    /// `alias-recreated`: an alias recreated on the target through the cluster API.
    AliasRecreated,
    /// `alias-flattened`: an alias copied as an image of its own (no target API to recreate it).
    AliasFlattened,
    /// `alias-of-import`: an alias of an imported tag.
    AliasOfImport,
    /// `reference-only`: a tag with reference policy only: no image in this registry.
    ReferenceOnly,
    /// `tracks-other-stream`: a tag that follows a tag of another stream.
    TracksOtherStream,
    /// `cross-namespace`: a tag whose image lives under another project.
    CrossNamespace,
    /// `empty-stream`: an image stream with no image to copy.
    EmptyStream,
    /// `stream-unreadable`: an image stream the cluster API returned in a form that could not be read.
    StreamUnreadable,
    /// `no-streams`: a project with no image streams.
    NoStreams,
}

impl FindingCode {
    /// Every code, in the order the reference lists them.
    pub const ALL: &'static [FindingCode] = &[
        FindingCode::Schema1Manifest,
        FindingCode::ConfigFieldsDropped,
        FindingCode::DigestChanges,
        FindingCode::MultiArch,
        FindingCode::ForeignLayer,
        FindingCode::NonDistributableLayer,
        FindingCode::MissingBlob,
        FindingCode::UnknownMediaType,
        FindingCode::UnsupportedCompression,
        FindingCode::ConversionError,
        FindingCode::ImageTooLarge,
        FindingCode::IndexTooLarge,
        FindingCode::TooManyRepositories,
        FindingCode::RepositoryCountUnknown,
        FindingCode::QuotaExceeded,
        FindingCode::QuotaUnknown,
        FindingCode::TargetProjectMissing,
        FindingCode::AlreadyPresent,
        FindingCode::SourceError,
        FindingCode::NoMatchingPlatform,
        FindingCode::PlatformsFiltered,
        FindingCode::SignatureInvalidated,
        FindingCode::ExternalImport,
        FindingCode::InvalidTagName,
        FindingCode::ImportFailed,
        FindingCode::AliasMissing,
        FindingCode::AliasRecreated,
        FindingCode::AliasFlattened,
        FindingCode::AliasOfImport,
        FindingCode::ReferenceOnly,
        FindingCode::TracksOtherStream,
        FindingCode::CrossNamespace,
        FindingCode::EmptyStream,
        FindingCode::StreamUnreadable,
        FindingCode::NoStreams,
    ];

    /// (name, severity, meaning).
    fn entry(self) -> (&'static str, &'static str, &'static str) {
        match self {
        FindingCode::Schema1Manifest => ("schema1-manifest", "warning", "a Docker schema 1 image: deprecated; `oci`/`docker` convert it (its layers are read once for their diff_ids), `preserve` keeps it where the target accepts schema 1"),
        FindingCode::ConfigFieldsDropped => ("config-fields-dropped", "warning or information", "the conversion drops config fields: a warning for fields that change how a container runs (`Healthcheck`, `OnBuild`, `Shell`, ...), information for build metadata"),
        FindingCode::DigestChanges => ("digest-changes", "information", "the target digest differs from the source's (a conversion); workloads pinned by digest need `rewrite`"),
        FindingCode::MultiArch => ("multi-arch", "information", "a multi-platform image: the platforms copied"),
        FindingCode::ForeignLayer => ("foreign-layer", "warning", "a layer served from elsewhere (`urls`): not copied; the target must be allowed to reference it"),
        FindingCode::NonDistributableLayer => ("non-distributable-layer", "warning", "a non-distributable layer media type"),
        FindingCode::MissingBlob => ("missing-blob", "blocker", "the source does not serve a blob the manifest names (in that repository)"),
        FindingCode::UnknownMediaType => ("unknown-media-type", "blocker", "a layer or artifact media type the conversion does not know"),
        FindingCode::UnsupportedCompression => ("unsupported-compression", "blocker", "zstd layers into `docker`, which cannot describe them"),
        FindingCode::ConversionError => ("conversion-error", "blocker", "the manifest or config cannot be converted (the message says why)"),
        FindingCode::ImageTooLarge => ("image-too-large", "blocker", "larger than `[target] max_image_size`"),
        FindingCode::IndexTooLarge => ("index-too-large", "blocker", "an index naming more than 1,000 distinct child manifests (entries repeating a digest count once)"),
        FindingCode::TooManyRepositories => ("too-many-repositories", "blocker", "more target repositories than `[target] max_repositories`"),
        FindingCode::RepositoryCountUnknown => ("repository-count-unknown", "warning", "the repository limit could not be checked: the catalog was refused"),
        FindingCode::QuotaExceeded => ("quota-exceeded", "blocker", "the bytes to transfer exceed the target project's image quota"),
        FindingCode::QuotaUnknown => ("quota-unknown", "warning", "the target's streams or quota could not be read, so the quota was not checked"),
        FindingCode::TargetProjectMissing => ("target-project-missing", "blocker", "the target project does not exist on the target cluster"),
        FindingCode::AlreadyPresent => ("already-present", "information", "the target tag already points at the predicted digest"),
        FindingCode::SourceError => ("source-error", "blocker", "the source could not be read for this image"),
        FindingCode::NoMatchingPlatform => ("no-matching-platform", "blocker", "no platform of the index matches `platforms`"),
        FindingCode::PlatformsFiltered => ("platforms-filtered", "warning", "only some platforms are copied, so the index is rewritten and its digest changes"),
        FindingCode::SignatureInvalidated => ("signature-invalidated", "warning", "a cosign-style `sha256-<hex>.sig`/`.att`/`.sbom` tag (copied unchanged) names an image whose digest the conversion changes"),
        FindingCode::ExternalImport => ("external-import", "information", "an image stream tag imported from an external registry (`external_imports` says what happens)"),
        FindingCode::InvalidTagName => ("invalid-tag-name", "warning", "the source's tag list (or image stream) holds names that are no tags; those the plan does not select are skipped"),
        FindingCode::ImportFailed => ("import-failed", "warning", "an image stream tag whose import failed: it has no image to copy"),
        FindingCode::AliasMissing => ("alias-missing", "warning", "an alias (`oc tag --alias`) of a tag that does not exist"),
        FindingCode::AliasRecreated => ("alias-recreated", "information", "an alias recreated on the target through the cluster API"),
        FindingCode::AliasFlattened => ("alias-flattened", "information", "an alias copied as an image of its own (no target API to recreate it)"),
        FindingCode::AliasOfImport => ("alias-of-import", "information", "an alias of an imported tag"),
        FindingCode::ReferenceOnly => ("reference-only", "information", "a tag with reference policy only: no image in this registry"),
        FindingCode::TracksOtherStream => ("tracks-other-stream", "information", "a tag that follows a tag of another stream"),
        FindingCode::CrossNamespace => ("cross-namespace", "information", "a tag whose image lives under another project"),
        FindingCode::EmptyStream => ("empty-stream", "information", "an image stream with no image to copy"),
        FindingCode::StreamUnreadable => ("stream-unreadable", "warning", "an image stream the cluster API returned in a form that could not be read"),
        FindingCode::NoStreams => ("no-streams", "warning", "a project with no image streams"),
        }
    }

    /// The stable name, e.g. `missing-blob`.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// The severity it has (`blocker`, `warning`, `information`).
    pub fn severity(self) -> &'static str {
        self.entry().1
    }

    /// What it means.
    pub fn doc(self) -> &'static str {
        self.entry().2
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FindingCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Compares with a code's stable name, as reports print it (what tests of
/// the reports assert on); the library compares variants.
impl PartialEq<&str> for FindingCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The finding codes as the Markdown table `docs/reference.md` holds.
pub fn finding_codes_table() -> String {
    let mut out = String::from("| Code | Severity | Meaning |\n|---|---|---|\n");
    for c in FindingCode::ALL {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.as_str(),
            c.severity(),
            c.doc()
        ));
    }
    out
}

/// Test support: holds the generated part of a document (between
/// `<!-- marker -->` and `<!-- /marker -->`) to `want`. With
/// `REFERENCE_BLESS=1` a differing part is rewritten instead.
#[cfg(test)]
pub(crate) fn assert_generated(doc: &str, marker: &str, want: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let (start, end) = (
        format!("<!-- {marker} -->\n"),
        format!("<!-- /{marker} -->"),
    );
    let found = text
        .split_once(start.as_str())
        .and_then(|(_, rest)| rest.split_once(end.as_str()))
        .map(|(table, _)| table.to_string());
    if found.as_deref() != Some(want) && std::env::var("REFERENCE_BLESS").is_ok() {
        if let (Some((head, rest)), true) = (text.split_once(start.as_str()), found.is_some()) {
            let tail = rest
                .split_once(end.as_str())
                .map(|(_, t)| t)
                .unwrap_or_default();
            let _ = std::fs::write(&path, format!("{head}{start}{want}{end}{tail}"));
            return;
        }
    }
    assert_eq!(
        found.as_deref(),
        Some(want),
        "{doc}, between the {marker} markers"
    );
}

#[cfg(test)]
mod finding_code_tests {
    use super::*;

    /// `docs/reference.md` lists exactly the codes the code has, between
    /// its markers. `REFERENCE_BLESS=1` rewrites that part.
    #[test]
    fn finding_codes_in_the_reference_are_the_codes() {
        assert_generated("docs/reference.md", "finding-codes", &finding_codes_table());
        let names: std::collections::HashSet<&str> =
            FindingCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), FindingCode::ALL.len(), "a name used twice");
    }
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("plain: ok ü"), "plain: ok ü");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("a\nb\rc\u{9b}d"), "a\\nb\\rc\\u{9b}d");
        assert_eq!(printable("ab\u{202e}cd\u{2066}"), "ab\\u{202e}cd\\u{2066}");
    }
}
