//! The cluster API's JSON as it is sent: lists, image streams and
//! quotas, read leniently where real clusters are lenient (`null` for an
//! empty list or map, fields absent on OKD 3.11). What `streams` and
//! `quotas` make of them is theirs; nothing here is trusted yet.

use super::*;

/// A field the API may send as `null` (Go slices and maps without
/// `omitempty`: a failed import's `items` is `null`), read as empty.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(super) struct List<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    pub(super) items: Vec<T>,
    #[serde(default)]
    pub(super) metadata: ListMeta,
}

#[derive(Deserialize, Default)]
pub(super) struct ListMeta {
    #[serde(default, rename = "continue")]
    pub(super) cont: Option<String>,
}

/// A list answered `410 Gone`: its `continue` expired.
pub(super) struct Gone;

#[derive(Deserialize)]
pub(super) struct RawStream {
    pub(super) metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) spec: StreamSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) status: StreamStatus,
}

#[derive(Deserialize)]
pub(super) struct Meta {
    pub(super) name: String,
}

/// An item's name, when the item is too odd to read whole.
#[derive(Deserialize)]
pub(super) struct JustName {
    pub(super) metadata: Meta,
}

#[derive(Deserialize, Default)]
pub(super) struct StreamSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) tags: Vec<SpecTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SpecTag {
    pub(super) name: String,
    #[serde(default)]
    pub(super) from: Option<From>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) reference: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) import_policy: ImportPolicy,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) reference_policy: ReferencePolicy,
}

#[derive(Deserialize)]
pub(super) struct From {
    pub(super) kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) name: String,
    #[serde(default)]
    pub(super) namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ImportPolicy {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) insecure: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) scheduled: bool,
    #[serde(default)]
    pub(super) import_mode: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ReferencePolicy {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub(super) kind: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) docker_image_repository: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) public_docker_image_repository: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) tags: Vec<StatusTag>,
}

#[derive(Deserialize)]
pub(super) struct StatusTag {
    pub(super) tag: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) items: Vec<TagItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) conditions: Vec<Condition>,
}

#[derive(Deserialize)]
pub(super) struct TagItem {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) image: String,
}

#[derive(Deserialize)]
pub(super) struct Condition {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    pub(super) kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) message: String,
}

#[derive(Deserialize)]
pub(super) struct RawQuota {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) status: QuotaStatus,
}

#[derive(Deserialize, Default)]
pub(super) struct QuotaStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) hard: std::collections::HashMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) used: std::collections::HashMap<String, String>,
}
