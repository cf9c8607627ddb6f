//! Findings about tags rather than images: imported from another registry, and cosign-style signatures whose subject's digest changes.

use super::*;

/// The `external-import` finding of a tag imported from `from`, handled
/// by `mode`.
pub(super) fn external_import(from: &str, mode: ExternalImports) -> Finding {
    let what = match mode {
        ExternalImports::Copy => {
            "its bytes are copied (external_imports = \"skip\" leaves such tags out)"
        }
        ExternalImports::Skip => "left out (external_imports = \"skip\")",
        ExternalImports::Reference => {
            "not copied: an image stream tag importing from it is created in the target (external_imports = \"reference\")"
        }
    };
    finding(
        crate::model::FindingCode::ExternalImport,
        Severity::Info,
        format!(
            "imported into the project from {}; {what}",
            crate::model::printable(from)
        ),
    )
}

/// Reports `signature-invalidated` on cosign-style tags (`sha256-<hex>.sig`,
/// `.att`, `.sbom`, copied unchanged) whose signed image the plan converts
/// to another digest: the signature no longer names the migrated image.
pub(super) fn signatures_invalidated(jobs: &[TagJob], images: &mut [ImageReport]) {
    // The images the plan's signature tags name: most plans have none.
    let signed: HashSet<(&str, Digest)> = jobs
        .iter()
        .filter_map(|j| {
            Some((
                j.source_repo.as_ref(),
                crate::expand::signed_digest(&j.tag)?,
            ))
        })
        .collect();
    if signed.is_empty() {
        return;
    }
    // (source repository, source digest) -> (image, format, target digest).
    let mut changed: HashMap<(&str, Digest), (String, &'static str, Digest)> = HashMap::new();
    for (j, im) in jobs.iter().zip(images.iter()) {
        let (Some(s), Some(t)) = (&im.source_digest, &im.target_digest) else {
            continue;
        };
        if s != t && signed.contains(&(j.source_repo.as_ref(), s.clone())) {
            changed
                .entry((j.source_repo.as_ref(), s.clone()))
                .or_insert((j.source_ref(), j.format.name(), t.clone()));
        }
    }
    for (i, j) in jobs.iter().enumerate() {
        let Some(signed) = crate::expand::signed_digest(&j.tag) else {
            continue;
        };
        let Some((image, format, target)) = changed.get(&(j.source_repo.as_ref(), signed.clone()))
        else {
            continue;
        };
        if let Some(im) = images.get_mut(i) {
            im.add(finding(
                crate::model::FindingCode::SignatureInvalidated,
                Severity::Warning,
                format!(
                    "{} refers to {signed}, which the {format} conversion of {image} turns into {target}: it will not match the migrated image; set format = \"preserve\" for {} to keep it valid",
                    j.tag, j.source_repo
                ),
            ));
        }
    }
}
