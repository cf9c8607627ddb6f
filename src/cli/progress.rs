//! Renders engine events: indicatif bars on a terminal (images done/total,
//! bytes with rate and ETA, one line per active transfer naming its image
//! and layer), plain log lines otherwise, or JSON lines for a program
//! (`--progress json`).

use crate::copy::Event;
use crate::model::printable;
use crate::oci::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use tokio::sync::mpsc::UnboundedReceiver;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Plain log lines.
    Plain,
    /// One JSON object per event on stderr.
    Json,
}

/// Consumes events until the engine drops its sender.
pub async fn render(mut rx: UnboundedReceiver<Event>, mode: Progress) {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match mode {
        Progress::Json => render_json(&mut rx, &mut std::io::stderr()).await,
        Progress::Auto if terminal => render_bars(&mut rx).await,
        _ => render_lines(&mut rx).await,
    }
}

/// Which image (and which of its blobs) each blob digest was first wanted
/// by: the image whose transfer it is.
#[derive(Default)]
struct Owners(HashMap<Digest, (String, usize, usize)>);

impl Owners {
    fn note(&mut self, e: &Event) {
        if let Event::BlobWanted {
            image,
            digest,
            layer,
            layers,
        } = e
        {
            self.0
                .entry(digest.clone())
                .or_insert_with(|| (image.clone(), *layer, *layers));
        }
    }

    /// `proj/app:v2 layer 3/7`, or the short digest.
    fn label(&self, d: &Digest) -> String {
        match self.0.get(d) {
            Some((image, 0, _)) => format!("{} config", printable(image)),
            Some((image, i, n)) => format!("{} layer {i}/{n}", printable(image)),
            None => d.hex()[..12].to_string(),
        }
    }
}

/// How often totals are written in JSON mode.
const TOTALS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// JSON lines: every event but the per-chunk `blob_bytes` (totals carry the
/// bytes), blob events with their image, `blob_done` with seconds and
/// rate, and a `totals` object every few seconds and at the end.
pub async fn render_json(rx: &mut UnboundedReceiver<Event>, out: &mut impl std::io::Write) {
    let mut owners = Owners::default();
    let mut started: HashMap<Digest, std::time::Instant> = HashMap::new();
    let mut summary = crate::copy::RunSummary::default();
    let (mut total, mut moved) = (0usize, 0u64);
    let mut tick = tokio::time::interval(TOTALS_EVERY);
    tick.tick().await;
    let mut line = |v: serde_json::Value| {
        let _ = writeln!(out, "{v}");
    };
    loop {
        let e = tokio::select! {
            e = rx.recv() => e,
            _ = tick.tick() => {
                line(totals(&summary, total, moved));
                continue;
            }
        };
        let Some(e) = e else { break };
        // Chunk counts come every 256 KiB of every transfer: counted, never
        // serialized.
        if let Event::BlobBytes { bytes, .. } = &e {
            moved = moved.saturating_add(*bytes);
            continue;
        }
        summary.apply(&e);
        owners.note(&e);
        let mut v = serde_json::to_value(&e).unwrap_or_default();
        match &e {
            Event::Expanded { tags, .. } => total = *tags,
            Event::BlobStarted { digest, .. } => {
                started.insert(digest.clone(), std::time::Instant::now());
                v["image"] = owners.label(digest).into();
            }
            Event::BlobDone { digest, size, .. } => {
                v["image"] = owners.label(digest).into();
                if let Some(t) = started.remove(digest) {
                    let secs = t.elapsed().as_secs_f64();
                    v["seconds"] = ((secs * 1000.0).round() / 1000.0).into();
                    if secs > 0.0 {
                        v["bytes_per_second"] = ((*size as f64 / secs) as u64).into();
                    }
                }
            }
            _ => {}
        }
        line(v);
    }
    line(totals(&summary, total, moved));
}

/// The `totals` object: images done, skipped, failed and planned; blobs
/// and bytes moved.
fn totals(s: &crate::copy::RunSummary, total: usize, moved: u64) -> serde_json::Value {
    serde_json::json!({
        "event": "totals",
        "images": total,
        "copied": s.copied,
        "skipped": s.skipped,
        "failed": s.failed.len(),
        "blobs_uploaded": s.blobs_uploaded,
        "blobs_mounted": s.blobs_mounted,
        "blobs_skipped": s.blobs_skipped,
        "bytes_streamed": moved,
    })
}

async fn render_lines(rx: &mut UnboundedReceiver<Event>) {
    while let Some(e) = rx.recv().await {
        match e {
            Event::Expanded {
                tags,
                failed_repositories,
            } => {
                eprintln!("plan: {tags} tags to check, {failed_repositories} repositories could not be listed")
            }
            Event::ImageSkipped { source } => eprintln!("skip    {source} (done and unchanged)"),
            Event::ImageReferenced { source, from } => eprintln!(
                "ref     {source} (an image stream tag importing from {})",
                printable(&from)
            ),
            Event::ImageDone {
                source,
                target,
                target_digest,
                ..
            } => {
                eprintln!("done    {source} -> {target} {target_digest}")
            }
            Event::ImageAliased { source, of } => {
                eprintln!("alias   {source} (follows {of} on the target)")
            }
            Event::ImageFailed { source, error, .. } => {
                eprintln!("FAILED  {source}: {}", printable(&error))
            }
            Event::Warning { source, message }
            | Event::NamesIgnored {
                source, message, ..
            } => {
                eprintln!("warning {source}: {}", printable(&message))
            }
            Event::Retry { what, retry, error } => {
                eprintln!("retry   {what} (#{retry}): {}", printable(&error))
            }
            _ => {}
        }
    }
}

fn style(t: &str) -> ProgressStyle {
    ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar())
}

async fn render_bars(rx: &mut UnboundedReceiver<Event>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let images = multi.add(ProgressBar::new(0));
    images.set_style(style("images {pos}/{len} {wide_msg}"));
    let bytes = multi.add(ProgressBar::new(0));
    bytes.set_style(style(
        "{bytes}/{total_bytes} {bytes_per_sec} eta {eta} [{bar:30}]",
    ));
    let mut active: HashMap<Digest, ProgressBar> = HashMap::new();
    let mut owners = Owners::default();
    while let Some(e) = rx.recv().await {
        owners.note(&e);
        match e {
            Event::Expanded { tags, .. } => images.set_length(tags as u64),
            Event::ImageSkipped { source } => {
                images.inc(1);
                images.set_message(format!("skip {source}"));
            }
            Event::ImageDone { source, .. } => {
                images.inc(1);
                images.set_message(format!("done {source}"));
            }
            Event::ImageFailed { source, error, .. } => {
                images.inc(1);
                let _ = multi.println(format!("FAILED {source}: {}", printable(&error)));
            }
            Event::ImageReferenced { source, .. } => {
                images.set_message(format!("referenced {source}"));
            }
            Event::ImageAliased { source, .. } => {
                images.set_message(format!("alias {source}"));
            }
            Event::Warning { source, message }
            | Event::NamesIgnored {
                source, message, ..
            } => {
                let _ = multi.println(format!("warning {source}: {}", printable(&message)));
            }
            Event::Retry { what, retry, error } => {
                let _ = multi.println(format!("retry {what} (#{retry}): {}", printable(&error)));
            }
            Event::BlobStarted { digest, size } => {
                if let Some(n) = size {
                    bytes.inc_length(n);
                }
                let b = multi.add(ProgressBar::new(size.unwrap_or(0)));
                b.set_style(style("  {msg} {bytes}/{total_bytes}"));
                b.set_message(owners.label(&digest));
                active.insert(digest, b);
            }
            Event::BlobBytes { digest, bytes: n } => {
                bytes.inc(n);
                if let Some(b) = active.get(&digest) {
                    b.inc(n);
                }
            }
            Event::BlobDone { digest, .. } => {
                if let Some(b) = active.remove(&digest) {
                    b.finish_and_clear();
                    multi.remove(&b);
                }
            }
            Event::ImageStarted { .. } | Event::BlobWanted { .. } => {}
        }
    }
    for (_, b) in active {
        b.finish_and_clear();
    }
    bytes.finish();
    images.finish();
}
