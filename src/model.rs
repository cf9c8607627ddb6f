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
