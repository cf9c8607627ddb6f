//! Re-syncs that cost requests per repository, not per tag, on OpenShift.
//! Between `expand` and the first manifest read, `run` and `check` ask
//! here which tags are already done: discovery read every tag's current
//! digest from its image stream (`status.tags[].items[0].image`), so a tag
//! whose digest is the one the journal recorded as copied, in the same
//! format, has not changed in the source. It is done without a registry
//! request when the target still shows what was pushed: with `[target]
//! api`, the target image stream's tag points at the recorded target
//! digest (one stream listing per target project); without, the target's
//! tag list of the repository (one listing per repository) still holds
//! the tag. A history image (`history = N`) is named by its digest, so it
//! cannot change: with `[target] api` it is done when the journal has it
//! and the target stream's history of the repository holds what was
//! pushed. Everything else takes the normal path (manifest read, target
//! tag lookup). `verify` reads every digest; this only decides what to
//! skip.

use crate::expand::TagJob;
use crate::journal::Replay;
use crate::oci::Digest;
use crate::session::Session;
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the shortcut found: for each job judged done, its target digest.
#[derive(Debug, Default)]
pub struct Unchanged<'r> {
    /// Job index -> the journal's done record (source and target digest).
    pub done: HashMap<usize, &'r crate::journal::DoneTag>,
}

/// The jobs (by index) whose source is unchanged since the journal
/// recorded them done and whose target still shows it. `current` is
/// discovery's (source repository, tag) -> digest; empty without
/// `[source] api`, and then nothing is judged here.
pub async fn unchanged<'r>(
    session: &Session,
    jobs: &[TagJob],
    current: &HashMap<(String, String), Digest>,
    replay: &'r Replay,
    in_flight: usize,
) -> Unchanged<'r> {
    let mut out = Unchanged::default();
    // Tags whose stream digest is the journal's; and history images (a
    // digest never changes) the journal has done, when the target's
    // streams can show them.
    let with_history = session.target_api.is_some();
    let candidates: Vec<(usize, &crate::journal::DoneTag)> = jobs
        .iter()
        .enumerate()
        .filter_map(|(i, j)| {
            let done = replay.done.get(&(j.source_ref(), j.target_ref()))?;
            let now = match &j.history {
                Some(d) if with_history => d.as_ref(),
                Some(_) => return None,
                None => current.get(&(j.source_repo.to_string(), j.tag.to_string()))?,
            };
            (done.source_digest == *now && done.format == j.format).then_some((i, done))
        })
        .collect();
    if candidates.is_empty() {
        return out;
    }
    let repos: BTreeSet<&str> = candidates
        .iter()
        .filter_map(|(i, _)| jobs.get(*i).map(|j| j.target_repo.as_ref()))
        .collect();
    let shown: Shown = match &session.target_api {
        Some(api) => target_streams(api, &repos).await,
        None => target_tags(session, &repos, in_flight).await,
    };
    for (i, done) in candidates {
        let Some(j) = jobs.get(i) else { continue };
        let key = (j.target_repo.to_string(), j.tag.to_string());
        let ok = match (&shown, j.history.is_some()) {
            // A history image is in the target stream's history of some
            // tag of the repository.
            (Shown::Streams { held, .. }, true) => {
                held.contains(&(key.0, done.target_digest.clone()))
            }
            (Shown::Streams { current, .. }, false) => {
                current.get(&key) == Some(&done.target_digest)
            }
            (Shown::Tags(t), false) => t.contains(&key),
            (Shown::Tags(_), true) => false,
        };
        if ok {
            out.done.insert(i, done);
        }
    }
    out
}

/// What the target shows for the candidates' repositories.
enum Shown {
    /// From the target's image streams.
    Streams {
        /// (repository, tag) -> the digest the tag points at.
        current: HashMap<(String, String), Digest>,
        /// (repository, digest) of every image a tag's history holds.
        held: HashSet<(String, Digest)>,
    },
    /// (repository, tag) present in the repositories' tag lists.
    Tags(HashSet<(String, String)>),
}

/// The target projects' image streams: each tag's current digest and
/// every image its history holds. A
/// project whose streams cannot be read shows nothing (its tags take the
/// normal path).
async fn target_streams(api: &crate::openshift::Api, repos: &BTreeSet<&str>) -> Shown {
    let namespaces: BTreeSet<&str> = repos
        .iter()
        .filter_map(|r| r.split_once('/'))
        .map(|(ns, _)| ns)
        .collect();
    let (mut current, mut held) = (HashMap::new(), HashSet::new());
    for ns in namespaces {
        match api.image_streams(ns, &[]).await {
            Ok(streams) => {
                for s in streams {
                    let repo = format!("{ns}/{}", s.name);
                    if !repos.contains(repo.as_str()) {
                        continue;
                    }
                    for (_, earlier) in s.history {
                        held.extend(earlier.into_iter().map(|d| (repo.clone(), d)));
                    }
                    for (tag, d) in s.current {
                        held.insert((repo.clone(), d.clone()));
                        current.insert((repo.clone(), tag), d);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(namespace = ns, error = %e, "cannot read the target's image streams; its tags are looked up one by one")
            }
        }
    }
    Shown::Streams { current, held }
}

/// The target repositories' tag lists. A repository whose list cannot be
/// read shows nothing.
async fn target_tags(session: &Session, repos: &BTreeSet<&str>, in_flight: usize) -> Shown {
    let target = &session.target;
    let lists: Vec<(String, Vec<String>)> = futures::stream::iter(
        repos
            .iter()
            .map(|r| async move { (r.to_string(), target.tag_list(r).await.unwrap_or_default()) }),
    )
    .buffer_unordered(in_flight.max(1))
    .collect()
    .await;
    Shown::Tags(
        lists
            .into_iter()
            .flat_map(|(r, tags)| tags.into_iter().map(move |t| (r.clone(), t)))
            .collect(),
    )
}
