//! Planning an index: its selected platforms, each distinct child planned
//! once ([`super::single`]), and the index rewritten over the children's
//! new digests.

use super::single::Single;
use super::*;

pub(super) fn plan_index(
    read: &SourceRead,
    opts: ImageOptions<'_>,
    facts: &HashMap<Digest, LayerFacts>,
    action: Action,
    plan: &mut ImagePlan,
) {
    let top = &read.top;
    let selected = selected_children(top, opts.platforms);
    if !platforms_found(top, &selected, action, plan) {
        return;
    }
    // Each distinct child is read and planned once; an entry naming a
    // digest seen before reuses that plan.
    let read_by_digest: HashMap<&Digest, &Manifest> = read
        .children
        .iter()
        .filter_map(|(p, m)| top.manifests.get(*p).map(|d| (&d.digest, m)))
        .collect();
    let mut planned: HashMap<&Digest, Option<ChildOut>> = HashMap::new();
    let mut outs = Vec::new();
    let mut reason = None;
    let mut seen = HashSet::new();
    for (pos, d) in selected {
        if let Some(first) = planned.get(&d.digest) {
            if let Some(out) = first {
                outs.push(ChildOut {
                    position: pos,
                    ..out.clone()
                });
            }
            continue;
        }
        // Whatever happens below, this digest is planned once.
        planned.insert(&d.digest, None);
        let Some(child) = read_by_digest.get(&d.digest).copied() else {
            reason.get_or_insert_with(|| format!("platform {} was not read", platform_name(d)));
            continue;
        };
        if !child_fits(d, child, plan) {
            continue;
        }
        let mut s = plan_single(child, read, opts, facts, &mut plan.findings);
        let push = s.push.take();
        let platform = s.platform.take();
        let why = s.reason.take();
        merge_child(plan, s, &mut seen);
        match push {
            Some(p) => {
                let out = record_child(plan, pos, d, p, platform);
                planned.insert(&d.digest, Some(out.clone()));
                outs.push(out);
            }
            None => {
                reason.get_or_insert(
                    why.unwrap_or_else(|| "a platform's digest cannot be predicted".into()),
                );
            }
        }
    }
    finish_index(plan, action, top, &outs, reason);
}

/// The index itself, once its children are planned: rewritten over their
/// new digests, unless something blocks the image or a child's digest
/// cannot be predicted (`reason`; then nothing is pushed from the plan).
fn finish_index(
    plan: &mut ImagePlan,
    action: Action,
    top: &Manifest,
    outs: &[ChildOut],
    reason: Option<String>,
) {
    if plan.blockers().next().is_some() {
        return;
    }
    if let Some(r) = reason {
        plan.manifests.clear();
        plan.target_digest_reason = Some(r);
        return;
    }
    match convert::index(action, top.kind, &top.raw, outs) {
        Ok(c) => {
            plan.target_digest = Some(c.digest.clone());
            plan.manifests.push(PushStep {
                raw: c.manifest,
                media_type: c.media_type,
                digest: c.digest,
                children: outs.iter().map(|c| c.digest.clone()).collect(),
            });
        }
        Err(e) => plan.findings.push(finding(
            crate::model::FindingCode::ConversionError,
            Severity::Blocker,
            e.to_string(),
        )),
    }
}

/// The platforms an index names and those copied (`multi-arch`), and what
/// stops or changes it: none selected, some filtered out of a kept index,
/// too many distinct children. False when the image is blocked.
fn platforms_found(
    top: &Manifest,
    selected: &[(usize, &Descriptor)],
    action: Action,
    plan: &mut ImagePlan,
) -> bool {
    let all: Vec<String> = top.manifests.iter().map(platform_name).collect();
    plan.platforms = selected.iter().map(|(_, d)| platform_name(d)).collect();
    plan.findings.push(finding(
        crate::model::FindingCode::MultiArch,
        Severity::Info,
        format!(
            "platforms found: {}; copied: {}",
            all.join(", "),
            plan.platforms.join(", ")
        ),
    ));
    if selected.is_empty() {
        plan.findings.push(finding(
            crate::model::FindingCode::NoMatchingPlatform,
            Severity::Blocker,
            "no platform of the index matches the platforms option",
        ));
        return false;
    }
    if action == Action::Keep && selected.len() != top.manifests.len() {
        plan.findings.push(finding(
            crate::model::FindingCode::PlatformsFiltered,
            Severity::Warning,
            format!(
                "copying {} of {} platforms: the index is rewritten, so its digest changes",
                selected.len(),
                top.manifests.len()
            ),
        ));
    }
    let distinct = distinct_children(selected).len();
    if distinct > MAX_INDEX_CHILDREN {
        plan.findings.push(finding(
            crate::model::FindingCode::IndexTooLarge,
            Severity::Blocker,
            format!(
                "the index names {distinct} distinct child manifests; at most {MAX_INDEX_CHILDREN} are copied"
            ),
        ));
        return false;
    }
    true
}

/// Whether an index entry can be planned: not itself an index, and served
/// under the digest the index names (else a blocker).
fn child_fits(d: &Descriptor, child: &Manifest, plan: &mut ImagePlan) -> bool {
    if child.kind.is_index() {
        plan.findings.push(finding(
            crate::model::FindingCode::ConversionError,
            Severity::Blocker,
            format!(
                "index entry {} is itself an index; nested indexes are not supported",
                d.digest
            ),
        ));
        return false;
    }
    if child.digest_like(&d.digest) != d.digest {
        plan.findings.push(finding(
            crate::model::FindingCode::SourceError,
            Severity::Blocker,
            format!("index entry {} was served as {}", d.digest, child.digest),
        ));
        return false;
    }
    true
}

/// A child's layers, bytes, dropped fields, blobs and configs, added to
/// the index's plan (each blob and config once).
fn merge_child(plan: &mut ImagePlan, s: Single, seen: &mut HashSet<Digest>) {
    plan.layers += s.layers;
    plan.bytes = plan.bytes.saturating_add(s.bytes);
    plan.dropped.extend(s.dropped);
    for b in s.blobs {
        if seen.insert(b.desc.digest.clone()) {
            plan.blobs.push(b);
        }
    }
    for c in s.configs {
        if !plan.configs.iter().any(|(d, _)| *d == c.0) {
            plan.configs.push(c);
        }
    }
}

/// A child the index will name: its entry for the converted index, its
/// digests for the journal, its manifest to push (once).
fn record_child(
    plan: &mut ImagePlan,
    position: usize,
    d: &Descriptor,
    p: PushStep,
    config_platform: Option<(String, String)>,
) -> ChildOut {
    let out = ChildOut {
        position,
        digest: p.digest.clone(),
        size: p.raw.len() as u64,
        media_type: p.media_type,
        config_platform,
    };
    // A platform the journal could not hold (a hostile index) is kept as
    // unknown: the digests are what matters.
    let platform = Some(platform_name(d))
        .filter(|p| crate::journal::valid_platform(p))
        .unwrap_or_else(|| "unknown/unknown".into());
    plan.child_digests.push(crate::journal::ChildDigest {
        platform,
        source_digest: d.digest.clone(),
        target_digest: out.digest.clone(),
    });
    if !plan.manifests.iter().any(|m| m.digest == p.digest) {
        plan.manifests.push(p);
    }
    out
}
