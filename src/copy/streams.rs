//! What `run` makes on the target through the cluster API rather than the
//! registry: image streams created before any push, image stream tags
//! that reference an external image (`external_imports = "reference"`),
//! and aliases (`oc tag --alias`) recreated once the tag they follow is
//! there.

use super::{fail, Event, Events, RunError};
use crate::journal::Journal;
use crate::model::FailureKind;
use std::collections::HashMap;

/// Creates the target image streams the jobs push into that do not exist
/// yet, before any push: a push must not depend on the registry creating
/// them. A stream that cannot be created fails the jobs that need it.
pub(super) async fn create_streams<'a>(
    api: &crate::openshift::Api,
    repos: impl Iterator<Item = &'a str>,
) -> HashMap<String, crate::registry::RegistryError> {
    let mut by_ns: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        Default::default();
    for repo in repos {
        if let Some((ns, name)) = repo.split_once('/') {
            if !name.contains('/') {
                by_ns.entry(ns).or_default().insert(name);
            }
        }
    }
    let mut failed = HashMap::new();
    for (ns, names) in by_ns {
        let existing: std::collections::HashSet<String> = match api.image_streams(ns, &[]).await {
            Ok(s) => s.into_iter().map(|s| s.name).collect(),
            Err(e) => {
                tracing::warn!(namespace = ns, error = %e, "cannot list the target's image streams; creating each");
                Default::default()
            }
        };
        for name in names.into_iter().filter(|n| !existing.contains(*n)) {
            if let Err(e) = api.create_image_stream(ns, name).await {
                failed.insert(format!("{ns}/{name}"), e);
            }
        }
    }
    failed
}

/// `external_imports = "reference"`: each such tag becomes an image
/// stream tag on the target importing from the same external image.
pub(super) async fn reference_external_tags(
    api: &crate::openshift::Api,
    references: &[(String, String, String, crate::openshift::ExternalTag)],
    stream_failures: &HashMap<String, crate::registry::RegistryError>,
    journal: &Journal,
    events: &Events,
) -> Result<(), RunError> {
    for (source_repo, tag, target_repo, from) in references {
        let source = format!("{source_repo}:{tag}");
        let target = format!("{target_repo}:{tag}");
        let made = match stream_failures.get(target_repo) {
            Some(e) => Err(format!("creating image stream {target_repo}: {e}")),
            None => {
                let (ns, stream) = target_repo.split_once('/').unwrap_or(("", target_repo));
                api.create_image_stream_tag(
                    ns,
                    stream,
                    tag,
                    crate::openshift::TagSource::Import(from),
                )
                .await
                .map_err(|e| format!("creating image stream tag {target}: {e}"))
            }
        };
        let done = made.map(|()| Event::ImageReferenced {
            source: source.clone(),
            from: from.from.clone(),
        });
        made_on_target(journal, events, &source, &target, done).await?;
    }
    Ok(())
}

/// Reports a tag made on the target through the API (its event), or
/// records why it could not be.
async fn made_on_target(
    journal: &Journal,
    events: &Events,
    source: &str,
    target: &str,
    made: Result<Event, String>,
) -> Result<(), RunError> {
    match made {
        Ok(e) => {
            events.send(e);
            Ok(())
        }
        Err(error) => fail(journal, events, source, target, FailureKind::Target, error).await,
    }
}

/// Aliases (`oc tag --alias`) recreated on the target, each once the tag
/// it follows is there (copied or referenced in this run, or before); an
/// alias of a tag that failed fails too, and says so.
pub(super) async fn alias_tags(
    api: &crate::openshift::Api,
    aliases: &[(String, String, String, String)],
    stream_failures: &HashMap<String, crate::registry::RegistryError>,
    journal: &Journal,
    events: &Events,
) -> Result<(), RunError> {
    let failed: std::collections::HashSet<String> = events
        .summary()
        .failed
        .into_iter()
        .map(|f| f.source)
        .collect();
    for (source_repo, tag, target_repo, of) in aliases {
        let source = format!("{source_repo}:{tag}");
        let target = format!("{target_repo}:{tag}");
        let made = if failed.contains(&format!("{source_repo}:{of}")) {
            Err(format!("the tag it follows, {source_repo}:{of}, failed"))
        } else if let Some(e) = stream_failures.get(target_repo) {
            Err(format!("creating image stream {target_repo}: {e}"))
        } else {
            let (ns, stream) = target_repo.split_once('/').unwrap_or(("", target_repo));
            api.create_image_stream_tag(ns, stream, tag, crate::openshift::TagSource::Alias(of))
                .await
                .map_err(|e| format!("creating the alias {target}: {e}"))
        };
        let done = made.map(|()| Event::ImageAliased {
            source: source.clone(),
            of: format!("{target_repo}:{of}"),
        });
        made_on_target(journal, events, &source, &target, done).await?;
    }
    Ok(())
}
