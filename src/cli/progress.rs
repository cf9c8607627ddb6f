//! Renders engine events: indicatif bars on a terminal (images done/total,
//! bytes with rate and ETA, one line per active transfer), plain log lines
//! otherwise.

use crate::copy::Event;
use crate::model::printable;
use crate::oci::Digest;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use tokio::sync::mpsc::UnboundedReceiver;

/// Consumes events until the engine drops its sender.
pub async fn render(mut rx: UnboundedReceiver<Event>, fancy: bool) {
    if fancy {
        render_bars(&mut rx).await
    } else {
        render_lines(&mut rx).await
    }
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
    while let Some(e) = rx.recv().await {
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
                b.set_message(digest.hex()[..12].to_string());
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
            Event::ImageStarted { .. } => {}
        }
    }
    for (_, b) in active {
        b.finish_and_clear();
    }
    bytes.finish();
    images.finish();
}
