//! Reading what the image plan needs from the source, with GETs only: the
//! selected children of an index and the configs a conversion reads. Shared
//! by `run` and `check`, so both plan from the same reads.

use super::{config_to_read, distinct_children, selected_children, SourceRead, MAX_INDEX_CHILDREN};
use crate::model::{Format, Platforms};
use crate::oci::{Digest, Manifest};
use crate::registry::{Client, RegistryError};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::OnceCell;

/// Largest config blob read for conversion (distribution refuses larger
/// manifests and configs on push).
pub const CONFIG_LIMIT: usize = 4 << 20;

/// Index children fetched at once for one image.
const CHILDREN_IN_FLIGHT: usize = 4;

/// Bytes of configs [`Configs`] keeps once read.
const CONFIGS_KEPT: usize = 256 << 10;

/// Config blobs read in this run, by digest: a config shared by several
/// tags is read once (content-addressed, so the copy from any repository
/// serves them all). The most recently read ones are kept, up to
/// `CONFIGS_KEPT` bytes, so memory does not grow with the plan: a config
/// shared by tags further apart than that is read again.
#[derive(Default)]
pub struct Configs {
    cells: crate::sync::OnceMap<Digest, OnceCell<Bytes>>,
    /// Configs read, oldest first, with their sizes, and their total.
    kept: Mutex<(std::collections::VecDeque<(Digest, usize)>, usize)>,
}

impl Configs {
    /// The config `digest`, read from `repo` unless read before.
    pub async fn get(
        &self,
        source: &Client,
        repo: &str,
        digest: &Digest,
    ) -> Result<Bytes, RegistryError> {
        let cell = self.cells.get(digest);
        let mut first = false;
        let bytes = cell
            .get_or_try_init(|| {
                first = true;
                source.blob_bytes(repo, digest, CONFIG_LIMIT)
            })
            .await
            .cloned()?;
        if first {
            self.keep(digest, bytes.len());
        }
        Ok(bytes)
    }

    /// Counts a config just read, forgetting the oldest past the budget.
    fn keep(&self, digest: &Digest, len: usize) {
        let mut kept = crate::sync::lock(&self.kept);
        kept.0.push_back((digest.clone(), len));
        kept.1 += len;
        while kept.1 > CONFIGS_KEPT {
            let Some((old, n)) = kept.0.pop_front() else {
                break;
            };
            kept.1 -= n;
            self.cells.remove(&old);
        }
    }
}

/// Reads the selected children of `top` (an index) and every config the
/// conversion under `format` needs (through `configs`).
pub async fn read_rest(
    source: &Client,
    configs_read: &Configs,
    repo: &str,
    top: Manifest,
    format: Format,
    platforms: &Platforms,
) -> Result<SourceRead, RegistryError> {
    let children: Vec<(usize, Manifest)> = if top.kind.is_index() {
        // Each distinct child once; past the cap none (the plan blocks the
        // image, naming the count).
        let selected = selected_children(&top, platforms);
        let distinct = match distinct_children(&selected) {
            d if d.len() > MAX_INDEX_CHILDREN => Vec::new(),
            d => d,
        };
        futures::stream::iter(distinct.into_iter().map(|(pos, d)| async move {
            source
                .manifest_get(repo, &d.digest.to_string())
                .await
                .map(|m| (pos, m))
        }))
        .buffered(CHILDREN_IN_FLIGHT)
        .try_collect()
        .await?
    } else {
        Vec::new()
    };
    let wanted: Vec<Digest> = std::iter::once(&top)
        .chain(children.iter().map(|(_, m)| m))
        .filter(|m| !m.kind.is_index())
        .filter_map(|m| config_to_read(format, m).map(|c| c.digest.clone()))
        .collect();
    let mut configs: HashMap<Digest, Bytes> = HashMap::new();
    for d in wanted {
        if configs.contains_key(&d) {
            continue;
        }
        let b = configs_read.get(source, repo, &d).await?;
        configs.insert(d, b);
    }
    Ok(SourceRead {
        top,
        children,
        configs,
        sizes: HashMap::new(),
    })
}
