//! `map`: the digest map of a migration, from the journal alone. One row
//! per migrated tag: the full source reference and the full target
//! reference, each with registry, repository, tag and digest, for updating
//! whatever pins the old images (deployments, pipelines, SBOMs).

use crate::journal::Replay;
use crate::oci::Digest;
use serde::Serialize;

/// One migrated tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapRow {
    /// `registry/repo:tag@digest` in the source.
    pub source: String,
    /// `registry/repo:tag@digest` in the target.
    pub target: String,
    /// The source digest alone.
    pub source_digest: Digest,
    /// The target digest alone.
    pub target_digest: Digest,
    /// True when the digest changed (a conversion).
    pub changed: bool,
    /// For a child manifest of a migrated index (a row of its own, named
    /// by digest, for workloads pinned to one platform): its platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

/// The rows, sorted by source reference.
pub fn rows(replay: &Replay, source_registry: &str, target_registry: &str) -> Vec<MapRow> {
    let children = replay.done.iter().flat_map(|((source, target), d)| {
        let (repo, trepo) = (
            crate::expand::repo_of(source),
            crate::expand::repo_of(target),
        );
        d.children.iter().map(move |c| MapRow {
            source: format!("{source_registry}/{repo}@{}", c.source_digest),
            target: format!("{target_registry}/{trepo}@{}", c.target_digest),
            source_digest: c.source_digest.clone(),
            target_digest: c.target_digest.clone(),
            changed: c.source_digest != c.target_digest,
            platform: Some(c.platform.clone()),
        })
    });
    let mut out: Vec<MapRow> = replay
        .done
        .iter()
        .map(|((source, target), d)| MapRow {
            // A history image is named by digest alone (`repo@digest`).
            source: match source.contains('@') {
                true => format!("{source_registry}/{source}"),
                false => format!("{source_registry}/{source}@{}", d.source_digest),
            },
            target: match target.contains('@') {
                true => format!(
                    "{target_registry}/{}@{}",
                    crate::expand::repo_of(target),
                    d.target_digest
                ),
                false => format!("{target_registry}/{target}@{}", d.target_digest),
            },
            source_digest: d.source_digest.clone(),
            target_digest: d.target_digest.clone(),
            changed: d.source_digest != d.target_digest,
            platform: None,
        })
        .chain(children)
        .collect();
    out.sort_by(|a, b| a.source.cmp(&b.source).then(a.target.cmp(&b.target)));
    // Tags of one index share its children: each child row once.
    out.dedup();
    out
}

/// A CSV field, quoted when it must be (RFC 4180).
fn csv_field(s: &str) -> String {
    let s = &crate::model::printable(s);
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The rows as CSV with a header line.
pub fn render_csv(rows: &[MapRow]) -> String {
    let mut out = String::from("source,target,source_digest,target_digest,changed,platform\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            csv_field(&r.source),
            csv_field(&r.target),
            r.source_digest,
            r.target_digest,
            r.changed,
            csv_field(r.platform.as_deref().unwrap_or_default())
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::DoneTag;
    use crate::model::Format;

    #[test]
    fn rows_carry_full_references_sorted() {
        let mut replay = Replay::default();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        for (tag, t) in [("v2", &b), ("v1", &a)] {
            replay.done.insert(
                (format!("p/app:{tag}"), format!("q/app:{tag}")),
                DoneTag {
                    source_digest: a.clone(),
                    target_digest: t.clone(),
                    format: Format::Oci,
                    children: Vec::new(),
                },
            );
        }
        let r = rows(&replay, "old.example", "new.example:5000");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].source, format!("old.example/p/app:v1@{a}"));
        assert_eq!(r[0].target, format!("new.example:5000/q/app:v1@{a}"));
        assert!(!r[0].changed && r[1].changed);
        let csv = render_csv(&r);
        assert!(csv.starts_with("source,target,source_digest,target_digest,changed,platform\n"));
        assert_eq!(csv.lines().count(), 3);
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
