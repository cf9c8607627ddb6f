//! Findings: what the image plan says about an image, each with its code
//! (`crate::model::FindingCode`), severity and message; and the findings
//! a manifest's layers and a failed conversion give.

use super::*;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Good to know.
    Info,
    /// Something changes or is lost.
    Warning,
    /// The image will not migrate as planned.
    Blocker,
}

/// One thing the plan found about an image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `config-fields-dropped`.
    pub code: crate::model::FindingCode,
    /// Severity.
    pub severity: Severity,
    /// What it means for this image (most are fixed text: no allocation
    /// for each of many thousand tags).
    pub message: std::borrow::Cow<'static, str>,
}

/// A finding.
pub fn finding(
    code: crate::model::FindingCode,
    severity: Severity,
    message: impl Into<std::borrow::Cow<'static, str>>,
) -> Finding {
    Finding {
        code,
        severity,
        message: message.into(),
    }
}

/// The blocker a failed conversion is, named for its cause.
pub(super) fn conversion_blocker(e: &ConvertError, opts: &ImageOptions) -> Finding {
    let code = match e {
        ConvertError::Compression { .. } => crate::model::FindingCode::UnsupportedCompression,
        ConvertError::Layer { .. } | ConvertError::Artifact(_) => {
            crate::model::FindingCode::UnknownMediaType
        }
        _ => crate::model::FindingCode::ConversionError,
    };
    finding(
        code,
        Severity::Blocker,
        format!("cannot convert to {}: {e}", opts.format.name()),
    )
}

/// Findings about a manifest's layers: foreign, non-distributable, unknown.
pub(super) fn layer_findings(m: &Manifest, findings: &mut Vec<Finding>) {
    for l in &m.layers {
        if !l.urls.is_empty() {
            findings.push(finding(
                crate::model::FindingCode::ForeignLayer,
                Severity::Warning,
                format!("layer {} is served from {} and is not copied; the target must be allowed to reference it", l.digest, l.urls.join(", ")),
            ));
        } else if media::is_non_distributable(&l.media_type) {
            findings.push(finding(
                crate::model::FindingCode::NonDistributableLayer,
                Severity::Warning,
                format!(
                    "layer {} has the non-distributable type {} but no URLs; it is copied",
                    l.digest, l.media_type
                ),
            ));
        }
        if !m.kind.is_schema1() && !media::LAYER_TYPES.contains(&l.media_type.as_str()) {
            findings.push(finding(
                crate::model::FindingCode::UnknownMediaType,
                Severity::Blocker,
                format!(
                    "layer {} has the unknown media type {:?}",
                    l.digest, l.media_type
                ),
            ));
        }
    }
}
