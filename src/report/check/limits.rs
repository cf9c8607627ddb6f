//! The target's limits `check` holds the plan to: its existing repositories and projects, each project's image stream and image quota, and the repository count per project.

use super::*;

/// The repositories the target holds now: its image streams through the
/// cluster API (for the namespaces the plan pushes into), else its catalog.
pub(super) async fn existing_repositories(
    target: &Client,
    api: Option<&crate::openshift::Api>,
    targets: &[&str],
) -> Result<HashSet<String>, String> {
    let Some(api) = api else {
        return target
            .catalog()
            .await
            .map(|r| r.into_iter().collect())
            .map_err(|e| format!("the target's catalog could not be read ({e})"));
    };
    let namespaces: std::collections::BTreeSet<&str> = targets.iter().map(|t| project(t)).collect();
    let mut out = HashSet::new();
    for ns in namespaces {
        let streams = api
            .image_streams(ns, &[])
            .await
            .map_err(|e| format!("the image streams of {ns} could not be read ({e})"))?;
        out.extend(streams.into_iter().map(|s| format!("{ns}/{}", s.name)));
    }
    Ok(out)
}

/// Reports `target-project-missing` on every image bound for a target
/// project the token cannot see (it does not exist, or the user is not a
/// member): `run` would fail each of them.
pub(super) async fn target_projects(
    api: &crate::openshift::Api,
    targets: &[&str],
    images: &mut [ImageReport],
) {
    let namespaces: std::collections::BTreeSet<&str> = targets.iter().map(|t| project(t)).collect();
    for ns in namespaces {
        let why = match api.project_visible(ns).await {
            Ok(true) => continue,
            Ok(false) => format!(
                "project {ns} does not exist on the target, or you cannot see it: create it (oc new-project {ns}) or ask to be added"
            ),
            Err(e) => format!("project {ns} could not be looked up on the target ({e})"),
        };
        for im in images.iter_mut().filter(|i| project(&i.target) == ns) {
            im.add(finding(
                crate::model::FindingCode::TargetProjectMissing,
                Severity::Blocker,
                why.clone(),
            ));
        }
    }
}

/// Reports `quota-exceeded` where the plan would create more image
/// streams than a target project's ResourceQuota leaves.
pub(super) async fn stream_quotas(
    api: &crate::openshift::Api,
    existing: &Result<HashSet<String>, String>,
    targets: &[&str],
    images: &mut [ImageReport],
) {
    let existing = match existing {
        Ok(e) => e,
        Err(why) => {
            // Never skipped in silence: run may then fail on the quota.
            let why = format!("the target project's image stream quota was not checked: {why}");
            return warn_each(images, crate::model::FindingCode::QuotaUnknown, &why);
        }
    };
    let namespaces: std::collections::BTreeSet<&str> = targets.iter().map(|t| project(t)).collect();
    for ns in namespaces {
        let in_ns = |i: &ImageReport| project(&i.target) == ns;
        let new_repos: HashSet<&str> = targets
            .iter()
            .filter(|t| project(t) == ns && !existing.contains(**t))
            .copied()
            .collect();
        // Images the run will push into the project, once each.
        let new_images: HashSet<String> = images
            .iter()
            .filter(|i| in_ns(i) && matches!(i.action, CheckAction::Copy | CheckAction::Convert))
            .map(|i| {
                i.target_digest
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| i.source.clone())
            })
            .collect();
        if new_repos.is_empty() && new_images.is_empty() {
            continue;
        }
        let quotas = match api.quotas(ns).await {
            Ok(q) => q,
            Err(e) => {
                for im in images.iter_mut().filter(|i| in_ns(i)) {
                    im.add(finding(
                        crate::model::FindingCode::RepositoryCountUnknown,
                        Severity::Warning,
                        format!("the quotas of {ns} could not be read ({e})"),
                    ));
                }
                continue;
            }
        };
        over_quota(images, ns, &quotas, &new_repos, new_images.len());
    }
}

/// Blocks the images of project `ns` that would push it over its tightest
/// image stream or image quota: the plan adds `new_repos` streams and
/// `new_images` images.
fn over_quota(
    images: &mut [ImageReport],
    ns: &str,
    quotas: &crate::openshift::Quotas,
    new_repos: &HashSet<&str>,
    new_images: usize,
) {
    use crate::openshift::{IMAGES, IMAGESTREAMS};
    for (resource, adds, what) in [
        (IMAGESTREAMS, new_repos.len(), "image streams"),
        (IMAGES, new_images, "images"),
    ] {
        let Some(quota) = quotas.tightest(resource).filter(|_| adds > 0) else {
            continue;
        };
        if quota
            .used
            .checked_add(adds as u64)
            .is_some_and(|n| n <= quota.hard)
        {
            continue;
        }
        for im in images.iter_mut().filter(|i| {
            let repo = i.target.split(':').next().unwrap_or("");
            project(&i.target) == ns
                && match resource {
                    IMAGESTREAMS => new_repos.contains(repo),
                    _ => matches!(i.action, CheckAction::Copy | CheckAction::Convert),
                }
        }) {
            im.add(finding(
                crate::model::FindingCode::QuotaExceeded,
                Severity::Blocker,
                format!(
                    "project {ns} may hold {} {what} and has {}; the plan adds {adds} new ones",
                    quota.hard, quota.used
                ),
            ));
            im.action = CheckAction::Blocked;
        }
    }
}

/// Reports `too-many-repositories` where the plan would push a project over
/// the target's repository limit (`repository-count-unknown` when the
/// existing repositories could not be counted).
pub(super) fn repository_limit(
    existing: &Result<HashSet<String>, String>,
    targets: &[&str],
    limit: u64,
    images: &mut [ImageReport],
) {
    let existing = match existing {
        Ok(e) => e,
        Err(why) => {
            // Counting the existing repositories as zero would hide the
            // very problem the limit is there to find.
            let why =
                format!("the limit of {limit} repositories per project was not checked: {why}");
            return warn_each(
                images,
                crate::model::FindingCode::RepositoryCountUnknown,
                &why,
            );
        }
    };
    let mut per_project: BTreeMap<&str, (HashSet<String>, HashSet<String>)> = BTreeMap::new();
    for r in existing.iter() {
        per_project
            .entry(project(r))
            .or_default()
            .0
            .insert(r.clone());
    }
    for t in targets {
        let e = per_project.entry(project(t)).or_default();
        if !e.0.contains(*t) {
            e.1.insert(t.to_string());
        }
    }
    for (proj, (have, new)) in &per_project {
        let total = have.len() + new.len();
        if total as u64 > limit && !new.is_empty() {
            for im in images.iter_mut().filter(|i| {
                let repo = i.target.split(':').next().unwrap_or("");
                project(repo) == *proj && new.contains(repo)
            }) {
                im.add(finding(
                    crate::model::FindingCode::TooManyRepositories,
                    Severity::Blocker,
                    format!(
                        "project {proj} would hold {total} repositories ({} there now, {} new), over the limit of {limit}",
                        have.len(),
                        new.len()
                    ),
                ));
                im.action = CheckAction::Blocked;
            }
        }
    }
}

/// A limit that could not be checked: a warning on every image, never a
/// silent skip.
fn warn_each(images: &mut [ImageReport], code: crate::model::FindingCode, why: &str) {
    for im in images.iter_mut() {
        im.add(finding(code, Severity::Warning, why.to_string()));
    }
}
