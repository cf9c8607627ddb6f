//! Reports: `status` (what the journal says is done, failed and pending,
//! with blob totals), `check` (the dry-run compatibility report, in
//! [`check`], rendered by [`render`]), `verify` (the journal's done tags
//! checked in the target, [`verify`]) and `map` (the digest map,
//! [`map`]). Last step of the flow; reads only.

pub mod check;
pub mod map;
pub mod render;
pub mod verify;

use crate::journal::{self, BlobHow, JournalError, Record};
use crate::model::FailureKind;
use crate::oci::Digest;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;

/// The state of one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Copied and tagged.
    Done,
    /// Last attempt failed.
    Failed,
    /// Started, not finished.
    Pending,
}

impl State {
    /// Its name in reports (`done`, `failed`, `pending`).
    pub fn name(self) -> &'static str {
        match self {
            State::Done => "done",
            State::Failed => "failed",
            State::Pending => "pending",
        }
    }
}

/// One tag in the status report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusImage {
    /// `repo:tag` in the source.
    pub source: String,
    /// Source digest, when resolved.
    pub source_digest: Option<Digest>,
    /// `repo:tag` in the target.
    pub target: String,
    /// Target digest, when done.
    pub target_digest: Option<Digest>,
    /// State.
    pub state: State,
    /// Error of the last failure.
    pub error: Option<String>,
    /// Which side the last failure was on (`source`, `target`,
    /// `conversion`, `verification`, `journal`).
    pub error_kind: Option<FailureKind>,
}

/// Totals over the whole journal.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Tags done.
    pub done: usize,
    /// Tags failed.
    pub failed: usize,
    /// Tags pending.
    pub pending: usize,
    /// Blobs streamed.
    pub blobs_uploaded: u64,
    /// Blobs mounted.
    pub blobs_mounted: u64,
    /// Blobs found present.
    pub blobs_skipped: u64,
    /// Bytes streamed.
    pub bytes_uploaded: u64,
}

/// The `status` report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Status {
    /// Tags, in the order first seen.
    pub images: Vec<StatusImage>,
    /// Totals.
    pub totals: Totals,
}

/// Builds the status report one journal record at a time: it holds a
/// line per tag, never the records.
#[derive(Default)]
pub struct StatusBuilder {
    status: Status,
    at: HashMap<(String, String), usize>,
}

impl StatusBuilder {
    fn slot(&mut self, source: &str, target: &str) -> &mut StatusImage {
        let images = &mut self.status.images;
        let i = *self
            .at
            .entry((source.to_string(), target.to_string()))
            .or_insert_with(|| {
                images.push(StatusImage {
                    source: source.to_string(),
                    source_digest: None,
                    target: target.to_string(),
                    target_digest: None,
                    state: State::Pending,
                    error: None,
                    error_kind: None,
                });
                images.len() - 1
            });
        &mut images[i]
    }

    /// Takes one record into account.
    pub fn add(&mut self, r: Record) {
        match r {
            Record::Planned {
                source,
                source_digest,
                target,
                ..
            } => {
                let im = self.slot(&source, &target);
                im.source_digest = Some(source_digest);
                im.target_digest = None;
                im.state = State::Pending;
                im.error = None;
                im.error_kind = None;
            }
            Record::Done {
                source,
                source_digest,
                target,
                target_digest,
                ..
            } => {
                let im = self.slot(&source, &target);
                im.source_digest = Some(source_digest);
                im.target_digest = Some(target_digest);
                im.state = State::Done;
                im.error = None;
                im.error_kind = None;
            }
            Record::Failed {
                source,
                source_digest,
                target,
                error,
                error_kind,
            } => {
                let im = self.slot(&source, &target);
                if source_digest.is_some() {
                    im.source_digest = source_digest;
                }
                im.state = State::Failed;
                im.error = Some(error);
                im.error_kind = error_kind;
            }
            Record::Blob { size, how, .. } => {
                let t = &mut self.status.totals;
                match how {
                    BlobHow::Uploaded => {
                        t.blobs_uploaded += 1;
                        t.bytes_uploaded = t.bytes_uploaded.saturating_add(size);
                    }
                    BlobHow::Mounted => t.blobs_mounted += 1,
                    BlobHow::Present => t.blobs_skipped += 1,
                }
            }
            Record::Header { .. } | Record::Manifest { .. } | Record::LayerFacts { .. } => {}
        }
    }

    /// The report, with its totals.
    pub fn finish(self) -> Status {
        let mut s = self.status;
        for im in &s.images {
            match im.state {
                State::Done => s.totals.done += 1,
                State::Failed => s.totals.failed += 1,
                State::Pending => s.totals.pending += 1,
            }
        }
        s
    }
}

/// The status report of the journal at `base` and its shard journals (of
/// a migration into `target_registry`), read one record at a time.
pub fn status(base: &Path, target_registry: &str) -> Result<Status, JournalError> {
    let mut b = StatusBuilder::default();
    journal::visit_all(base, target_registry, |r| b.add(r))?;
    Ok(b.finish())
}

pub use crate::model::human_bytes;

/// `sha256:` and the first 12 hex digits, or `-`.
pub fn short_digest(d: &Option<Digest>) -> String {
    d.as_ref()
        .map(|d| format!("sha256:{}", &d.hex()[..12]))
        .unwrap_or_else(|| "-".into())
}

/// The width of a text column holding `items` (at least 6).
pub fn column_width<'a>(items: impl Iterator<Item = &'a str>) -> usize {
    items.map(str::len).max().unwrap_or(0).max(6)
}

/// The status report as a plain-text table.
pub fn render_status_text(s: &Status) -> String {
    let mut out = String::new();
    let w = column_width(s.images.iter().map(|i| i.source.as_str()));
    let wt = column_width(s.images.iter().map(|i| i.target.as_str()));
    out.push_str(&format!(
        "{:<8} {:<w$} {:<wt$} {:<19} {}\n",
        "STATE", "SOURCE", "TARGET", "SOURCE DIGEST", "TARGET DIGEST"
    ));
    for i in &s.images {
        let state = i.state.name();
        out.push_str(&format!(
            "{state:<8} {:<w$} {:<wt$} {:<19} {}\n",
            i.source,
            i.target,
            short_digest(&i.source_digest),
            short_digest(&i.target_digest)
        ));
        if let Some(e) = &i.error {
            let e = crate::model::printable(e);
            match i.error_kind {
                Some(k) => out.push_str(&format!("         {} error: {e}\n", k.name())),
                None => out.push_str(&format!("         error: {e}\n")),
            }
        }
    }
    let t = &s.totals;
    out.push_str(&format!(
        "\n{} done, {} failed, {} pending; blobs: {} uploaded ({}), {} mounted, {} already present\n",
        t.done,
        t.failed,
        t.pending,
        t.blobs_uploaded,
        human_bytes(t.bytes_uploaded),
        t.blobs_mounted,
        t.blobs_skipped
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_states_in_order() {
        let d1 = Digest::of(b"1");
        let d2 = Digest::of(b"2");
        let planned = |src: &str, d: &Digest| Record::Planned {
            source: src.into(),
            source_digest: d.clone(),
            target: src.into(),
            format: crate::model::Format::Preserve,
        };
        let records = vec![
            planned("a:1", &d1),
            Record::Blob {
                repo: "a".into(),
                digest: d1.clone(),
                size: 100,
                how: BlobHow::Uploaded,
            },
            Record::Blob {
                repo: "b".into(),
                digest: d1.clone(),
                size: 100,
                how: BlobHow::Mounted,
            },
            Record::Done {
                source: "a:1".into(),
                source_digest: d1.clone(),
                target: "a:1".into(),
                target_digest: d1.clone(),
                format: crate::model::Format::Preserve,
                children: Vec::new(),
            },
            planned("a:2", &d2),
            Record::Failed {
                source: "a:2".into(),
                source_digest: None,
                target: "a:2".into(),
                error: "boom".into(),
                error_kind: Some(FailureKind::Source),
            },
            planned("a:3", &d2),
        ];
        let mut b = StatusBuilder::default();
        for r in records {
            b.add(r);
        }
        let s = b.finish();
        let states: Vec<State> = s.images.iter().map(|i| i.state).collect();
        assert_eq!(states, vec![State::Done, State::Failed, State::Pending]);
        assert_eq!(s.images[1].source_digest, Some(d2));
        assert_eq!(s.totals.done, 1);
        assert_eq!(s.totals.bytes_uploaded, 100);
        assert_eq!(s.totals.blobs_mounted, 1);
        let text = render_status_text(&s);
        assert!(text.contains("source error: boom"), "{text}");
        assert_eq!(s.images[1].error_kind, Some(FailureKind::Source));
        assert!(text.contains("1 done, 1 failed, 1 pending"), "{text}");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(5), "5 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}
