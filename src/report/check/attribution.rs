//! Byte attribution: which image pays for each blob (the first in plan order that copies it), and what the target already holds.

use super::*;

/// What the check keeps of a tag's plan once its row is built: the blobs
/// to make present, with their sizes (0 when unknown). The plan itself
/// holds the converted manifests and configs, several KB a tag; the
/// digests are in the row.
pub(super) type Kept = Vec<(Digest, u64)>;

/// The blobs of every row's plan, in one vector: a vector per row would
/// be an allocation of its own for each of many thousand tags.
#[derive(Default)]
pub(super) struct PlanBlobs {
    pub(super) all: Vec<(Digest, u64)>,
    /// Per row, its part of `all` as start and end (`None`: the row has
    /// no plan). 32 bits: a plan with 2^32 blobs would not fit in memory.
    pub(super) rows: Vec<Option<(u32, u32)>>,
}

impl PlanBlobs {
    pub(super) fn with_rows(n: usize) -> Self {
        PlanBlobs {
            all: Vec::new(),
            rows: Vec::with_capacity(n),
        }
    }

    pub(super) fn push(&mut self, kept: Option<Kept>) {
        let end = |all: &Vec<_>| u32::try_from(all.len()).unwrap_or(u32::MAX);
        let range = kept.map(|k| {
            let start = end(&self.all);
            self.all.extend(k);
            (start, end(&self.all))
        });
        self.rows.push(range);
    }

    /// Row `i`'s blobs, when it has a plan.
    pub(super) fn of(&self, i: usize) -> Option<&[(Digest, u64)]> {
        let (start, end) = (*self.rows.get(i)?)?;
        self.all.get(start as usize..end as usize)
    }
}

/// Attributes each blob's bytes, in plan order: a blob the target holds
/// counts as already present; one it lacks is paid for by the first image
/// that will copy it (later images mount it). Blocked images move nothing.
pub(super) async fn attribute_bytes(
    target: &Client,
    concurrency: usize,
    jobs: &[TagJob],
    plans: &PlanBlobs,
    images: &mut [ImageReport],
    summary: &mut Summary,
) {
    let live = |i: usize| {
        images
            .get(i)
            .is_some_and(|im| im.action != CheckAction::Blocked)
    };
    // Each unique blob once, in the target repository of the first image
    // that needs it. One set of digests serves, in turn, to find the
    // first images and to find which image pays for each blob.
    let mut seen: HashSet<&Digest> = HashSet::new();
    let firsts = jobs
        .iter()
        .enumerate()
        .filter(|(i, _)| live(*i))
        .flat_map(|(i, job)| {
            let repo: &str = &job.target_repo;
            plans
                .of(i)
                .unwrap_or_default()
                .iter()
                .map(move |(d, size)| (repo, d, *size))
        });
    // Only the blobs the target holds are kept (few, on a first run).
    let present: Vec<(&Digest, u64)> =
        futures::stream::iter(firsts.filter(|(_, d, _)| seen.insert(d)).map(
            |(repo, d, size)| async move {
                // A failed look-up counts as absent: the estimate errs on
                // the side of bytes to move.
                let there = matches!(
                    target.blob_head(repo, d).await,
                    Ok(crate::registry::BlobStat::Present(_))
                );
                there.then_some((d, size))
            },
        ))
        .buffer_unordered(concurrency.max(1))
        .filter_map(|there| async move { there })
        .collect()
        .await;
    summary.bytes_already_present = present
        .iter()
        .map(|(_, n)| *n)
        .fold(0u64, u64::saturating_add);
    let present: HashSet<&Digest> = present.into_iter().map(|(d, _)| d).collect();
    let mut claimed = seen;
    claimed.clear();
    for (i, image) in images.iter_mut().enumerate() {
        let Some(blobs) = plans.of(i) else { continue };
        if !image.action.moves_content() {
            continue;
        }
        for (d, size) in blobs {
            if !present.contains(d) && claimed.insert(d) {
                image.bytes_to_transfer = image.bytes_to_transfer.saturating_add(*size);
                summary.unique_blobs_to_transfer += 1;
            }
        }
    }
}
