//! `verify`: after a run, proves with reads only that what the journal
//! records as done is in the target. For every done tag: the target tag
//! resolves to the recorded digest; every child manifest, config and layer
//! it references is there with its size; under `preserve` the digest is the
//! source's; and the source tag has not moved since it was copied. Reads
//! the journal and both registries; writes nothing.

use crate::journal::DoneTag;
use crate::model::Format;
use crate::oci::{Digest, Manifest};
use crate::registry::{BlobStat, Client, RegistryError};
use crate::session::{RunError, Session};
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// One thing wrong with one migrated tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// `repo:tag` in the source.
    pub source: String,
    /// `repo:tag` in the target.
    pub target: String,
    /// Stable code (see [`VerifyCode`]).
    pub code: VerifyCode,
    /// What is wrong, with the digests involved.
    pub message: String,
}

/// What `verify` can find wrong with a migrated tag: the one list of
/// codes, each with what it means; `docs/reference.md` is checked
/// against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyCode {
    /// `tag-missing`
    TagMissing,
    /// `tag-moved`
    TagMoved,
    /// `manifest-missing`
    ManifestMissing,
    /// `child-missing`
    ChildMissing,
    /// `blob-missing`
    BlobMissing,
    /// `blob-size`
    BlobSize,
    /// `digest-changed`
    DigestChanged,
    /// `source-changed`
    SourceChanged,
    /// `unreadable`
    Unreadable,
    /// `not-migrated`
    NotMigrated,
}

impl VerifyCode {
    /// Every code, in the order the reference lists them.
    pub const ALL: &'static [VerifyCode] = &[
        VerifyCode::TagMissing,
        VerifyCode::TagMoved,
        VerifyCode::ManifestMissing,
        VerifyCode::ChildMissing,
        VerifyCode::BlobMissing,
        VerifyCode::BlobSize,
        VerifyCode::DigestChanged,
        VerifyCode::SourceChanged,
        VerifyCode::Unreadable,
        VerifyCode::NotMigrated,
    ];

    /// (stable name, what it means).
    fn entry(self) -> (&'static str, &'static str) {
        match self {
            VerifyCode::TagMissing => ("tag-missing", "the target tag is gone"),
            VerifyCode::TagMoved => (
                "tag-moved",
                "the target tag points at another digest than the one migrated",
            ),
            VerifyCode::ManifestMissing => (
                "manifest-missing",
                "the migrated manifest (or an index's child) cannot be read from the target",
            ),
            VerifyCode::ChildMissing => (
                "child-missing",
                "the index no longer names a child the journal recorded",
            ),
            VerifyCode::BlobMissing => (
                "blob-missing",
                "a config or layer is not in the target repository",
            ),
            VerifyCode::BlobSize => (
                "blob-size",
                "a config or layer has another size than its manifest says",
            ),
            VerifyCode::DigestChanged => (
                "digest-changed",
                "an image copied with `preserve` does not have its source digest",
            ),
            VerifyCode::SourceChanged => (
                "source-changed",
                "the source tag moved or is gone since it was copied: run again to copy it",
            ),
            VerifyCode::Unreadable => (
                "unreadable",
                "a registry could not be asked (the message says which and why), or the journal record names no tag",
            ),
            VerifyCode::NotMigrated => (
                "not-migrated",
                "the journal records the tag as failed or unfinished",
            ),
        }
    }

    /// The stable name, e.g. `tag-moved`.
    pub fn as_str(self) -> &'static str {
        self.entry().0
    }

    /// What it means.
    pub fn doc(self) -> &'static str {
        self.entry().1
    }
}

impl std::fmt::Display for VerifyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verify codes as the Markdown table `docs/reference.md` holds.
pub fn verify_codes_table() -> String {
    let mut out = String::from("| Code | Meaning |\n|---|---|\n");
    for c in VerifyCode::ALL {
        out.push_str(&format!("| `{}` | {} |\n", c.as_str(), c.doc()));
    }
    out
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Tags the journal records as done, all checked.
    pub images: usize,
    /// Manifests read from the target.
    pub manifests: usize,
    /// Blobs looked up in the target (each (repository, digest) once).
    pub blobs: usize,
    /// Tags the journal records as failed or unfinished (each also a
    /// `not-migrated` problem).
    pub not_done: usize,
    /// Everything wrong, in journal order of the tags.
    pub problems: Vec<Problem>,
}

/// Blob sizes looked up in the target, by (repository, digest).
type Sizes = Mutex<HashMap<(String, Digest), Option<u64>>>;

/// A size for messages: the number, or "no size".
fn size_text(n: Option<u64>) -> String {
    n.map_or_else(|| "no size".to_string(), |n| format!("{n} bytes"))
}

struct Verifier<'a> {
    source: &'a Client,
    target: &'a Client,
    sizes: Sizes,
}

/// Verifies every tag the plan's journal records as done.
pub async fn verify(plan: &crate::plan::Plan) -> Result<VerifyReport, RunError> {
    let mut replay = Session::replay(plan)?;
    // Only what this plan could have copied is checked (see
    // `Plan::produces`).
    replay.retain_done(|s, t| plan.produces(s, t));
    let Session { source, target, .. } = Session::open(plan).await?;
    let v = Verifier {
        source: &source,
        target: &target,
        sizes: Mutex::new(HashMap::new()),
    };
    let mut done: Vec<(&(String, String), &DoneTag)> = replay.done.iter().collect();
    done.sort_by(|a, b| a.0.cmp(b.0));
    let results: Vec<(Vec<Problem>, usize)> =
        futures::stream::iter(done.iter().map(|((s, t), d)| v.one(s, t, d)))
            .buffered(plan.options.concurrency)
            .collect()
            .await;
    let mut report = VerifyReport {
        images: done.len(),
        ..VerifyReport::default()
    };
    for (problems, manifests) in results {
        report.manifests += manifests;
        report.problems.extend(problems);
    }
    report.blobs = v.sizes.lock().map(|s| s.len()).unwrap_or(0);
    // What the journal says did not arrive: "everything is in place" must
    // not hide images whose last attempt failed or never finished.
    let status = super::status(&plan.options.journal, &plan.target.registry)?;
    for im in status.images {
        let (code, message) = match im.state {
            super::State::Done => continue,
            super::State::Failed => (
                VerifyCode::NotMigrated,
                format!(
                    "the last attempt failed ({} error): {}",
                    im.error_kind.map_or("unknown", |k| k.name()),
                    im.error.as_deref().unwrap_or("no message")
                ),
            ),
            super::State::Pending => (
                VerifyCode::NotMigrated,
                "started but never finished (run again to complete it)".to_string(),
            ),
        };
        report.not_done += 1;
        report.problems.push(Problem {
            source: im.source,
            target: im.target,
            code,
            message,
        });
    }
    Ok(report)
}

impl Verifier<'_> {
    /// Checks one done tag; returns its problems and the manifests read.
    async fn one(&self, source: &str, target: &str, done: &DoneTag) -> (Vec<Problem>, usize) {
        let mut problems = Vec::new();
        let mut say = |code: VerifyCode, message: String| {
            problems.push(Problem {
                source: source.to_string(),
                target: target.to_string(),
                code,
                message,
            })
        };
        // A history image (`repo@digest`) has no tag on either side.
        let history = target.contains('@');
        let (src_repo, src_tag) = match source.split_once('@') {
            Some((r, d)) => (r, d),
            None => source.rsplit_once(':').unwrap_or((source, "")),
        };
        let (repo, tag) = match target.split_once('@') {
            Some((r, _)) => (r, ""),
            None => target.rsplit_once(':').unwrap_or((target, "")),
        };
        if src_tag.is_empty() || (!history && tag.is_empty()) {
            say(VerifyCode::Unreadable, "the journal names no tag".into());
            return (problems, 0);
        }
        if done.format == Format::Preserve && done.source_digest != done.target_digest {
            say(
                VerifyCode::DigestChanged,
                format!(
                    "copied with format preserve, but the target digest {} is not the source's {}",
                    done.target_digest, done.source_digest
                ),
            );
        }
        match self.source.manifest_head(src_repo, src_tag).await {
            Ok(Some(_)) if history => {}
            Ok(Some(d)) if d != done.source_digest => say(
                VerifyCode::SourceChanged,
                format!(
                    "the source tag moved since it was copied: now {d}, copied {}",
                    done.source_digest
                ),
            ),
            Ok(None) => say(VerifyCode::SourceChanged, "the source tag is gone".into()),
            Ok(Some(_)) => {}
            Err(e) => say(VerifyCode::Unreadable, format!("source: {e}")),
        }
        let target_tag = match history {
            true => Ok(Some(done.target_digest.clone())),
            false => self.target.manifest_head(repo, tag).await,
        };
        match target_tag {
            Ok(Some(d)) if d == done.target_digest => {}
            Ok(Some(d)) => say(
                VerifyCode::TagMoved,
                format!(
                    "the target tag points at {d}, not at the migrated {}",
                    done.target_digest
                ),
            ),
            Ok(None) => say(VerifyCode::TagMissing, "the target tag is gone".into()),
            Err(e) => say(VerifyCode::Unreadable, format!("target: {e}")),
        }
        // The migrated image itself, by digest, whatever the tag says now.
        let (found, manifests) = self.image(repo, done).await;
        for (code, message) in found {
            say(code, message);
        }
        (problems, manifests)
    }

    /// The migrated image in the target by digest: every manifest (an
    /// index's children too), config and layer with its size, and the
    /// children the journal recorded. Returns the problems (code, message)
    /// and the manifests read.
    async fn image(&self, repo: &str, done: &DoneTag) -> (Vec<(VerifyCode, String)>, usize) {
        let mut found = Vec::new();
        let mut say = |code: VerifyCode, message: String| found.push((code, message));
        let mut manifests = 0;
        let mut todo = vec![done.target_digest.clone()];
        let mut seen = std::collections::HashSet::new();
        let mut walked = true;
        while let Some(d) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            let m = match self.target.manifest_get(repo, &d.to_string()).await {
                Ok(m) => m,
                Err(e) => {
                    say(
                        VerifyCode::ManifestMissing,
                        format!("manifest {d}: {}", short(&e)),
                    );
                    walked = false;
                    continue;
                }
            };
            manifests += 1;
            todo.extend(m.manifests.iter().map(|c| c.digest.clone()));
            for (blob, want) in blobs_of(&m) {
                match self.size(repo, &blob, want).await {
                    Ok(BlobStat::Present(n)) if n.is_none() || want.is_none() || n == want => {}
                    Ok(BlobStat::Present(n)) => say(
                        VerifyCode::BlobSize,
                        format!(
                            "blob {blob} has {}, the manifest says {}",
                            size_text(n),
                            size_text(want)
                        ),
                    ),
                    Ok(BlobStat::Absent) => say(
                        VerifyCode::BlobMissing,
                        format!("blob {blob} is not in {repo}"),
                    ),
                    Err(e) => say(VerifyCode::Unreadable, format!("blob {blob}: {e}")),
                }
            }
        }
        // The children the journal recorded (what `map` and `rewrite`
        // point pinned platform digests at) are the index's.
        if walked {
            for c in done
                .children
                .iter()
                .filter(|c| !seen.contains(&c.target_digest))
            {
                say(
                    VerifyCode::ChildMissing,
                    format!(
                        "the migrated index does not name the {} child {} the journal records",
                        c.platform, c.target_digest
                    ),
                );
            }
        }
        (found, manifests)
    }

    /// Whether the target holds a blob, with its size, looked up once
    /// per run. A registry whose `HEAD` gives no size is asked with a
    /// one-byte ranged `GET` when the manifest gives one to compare.
    async fn size(
        &self,
        repo: &str,
        digest: &Digest,
        want: Option<u64>,
    ) -> Result<BlobStat, RegistryError> {
        let key = (repo.to_string(), digest.clone());
        if let Some(n) = self.sizes.lock().ok().and_then(|s| s.get(&key).copied()) {
            return Ok(n.map_or(BlobStat::Absent, |n| BlobStat::Present(Some(n))));
        }
        let st = match self.target.blob_head(repo, digest).await? {
            BlobStat::Present(None) if want.is_some() => {
                BlobStat::Present(self.target.blob_size_by_range(repo, digest).await?)
            }
            st => st,
        };
        if let (Ok(mut s), BlobStat::Absent | BlobStat::Present(Some(_))) = (self.sizes.lock(), st)
        {
            let n = match st {
                BlobStat::Present(n) => n,
                BlobStat::Absent => None,
            };
            s.insert(key, n);
        }
        Ok(st)
    }
}

/// The blobs a manifest references (config and layers, not foreign ones),
/// with their sizes where it gives them.
fn blobs_of(m: &Manifest) -> Vec<(Digest, Option<u64>)> {
    m.config
        .iter()
        .chain(m.layers.iter().filter(|l| l.urls.is_empty()))
        .map(|d| (d.digest.clone(), d.size))
        .collect()
}

fn short(e: &RegistryError) -> String {
    crate::model::printable(&e.to_string())
}

/// `verify` as text: one line per problem, then a summary.
pub fn render_text(r: &VerifyReport) -> String {
    let mut out = String::new();
    for p in &r.problems {
        out.push_str(&format!(
            "{} -> {}: {}: {}\n",
            p.source,
            p.target,
            p.code,
            crate::model::printable(&p.message)
        ));
    }
    out.push_str(&format!(
        "verified {} images ({} manifests, {} blobs){}: {}\n",
        r.images,
        r.manifests,
        r.blobs,
        match r.not_done {
            0 => String::new(),
            n => format!("; {n} not migrated (failed or unfinished)"),
        },
        match r.problems.len() {
            0 => "everything is in place".to_string(),
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/reference.md` lists exactly the verify codes the code has.
    #[test]
    fn verify_codes_in_the_reference_are_the_codes() {
        crate::model::assert_generated("docs/reference.md", "verify-codes", &verify_codes_table());
        let names: std::collections::HashSet<&str> =
            VerifyCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), VerifyCode::ALL.len(), "a name used twice");
        for c in VerifyCode::ALL {
            let json = serde_json::to_string(c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()), "JSON name of {c:?}");
        }
    }
}
