//! The plan file as written: every key the file may hold, with its span so
//! that validation can name the line. Unknown keys are refused here.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Plan {
    pub version: Spanned<i64>,
    pub source: Endpoint,
    pub target: Endpoint,
    #[serde(default)]
    pub options: Option<Options>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub projects: Vec<Project>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum Size {
    Bytes(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Endpoint {
    pub registry: Spanned<String>,
    pub insecure: Option<bool>,
    pub ca_file: Option<Spanned<String>>,
    pub username: Option<String>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_command: Option<Spanned<Vec<String>>>,
    pub max_image_size: Option<Spanned<Size>>,
    pub max_blob_size: Option<Spanned<Size>>,
    pub max_repositories_per_project: Option<Spanned<i64>>,
    pub aliases: Option<Spanned<Vec<String>>>,
    pub api: Option<Spanned<String>>,
    pub max_requests: Option<Spanned<i64>>,
    pub requests_per_second: Option<Spanned<i64>>,
    pub api_password_env: Option<Spanned<String>>,
    pub api_password_file: Option<Spanned<String>>,
    pub api_password_command: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct Options {
    pub format: Option<Spanned<String>>,
    pub concurrency: Option<Spanned<i64>>,
    pub retries: Option<Spanned<i64>>,
    pub journal: Option<Spanned<String>>,
    pub platforms: Option<Spanned<Vec<String>>>,
    pub stall_timeout: Option<Spanned<i64>>,
    pub min_rate: Option<Spanned<Size>>,
    pub chunk_size: Option<Spanned<Size>>,
    pub create_image_streams: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Image {
    pub source: Spanned<String>,
    pub target: Option<Spanned<String>>,
    pub tags: Option<Spanned<Vec<String>>>,
    pub exclude_tags: Option<Spanned<Vec<String>>>,
    pub format: Option<Spanned<String>>,
    pub platforms: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Project {
    pub source: Spanned<String>,
    pub target: Option<Spanned<String>>,
    pub exclude: Option<Spanned<Vec<String>>>,
    pub target_prefix: Option<Spanned<String>>,
    pub target_suffix: Option<Spanned<String>>,
    pub repositories: Option<Spanned<Vec<String>>>,
    pub exclude_repositories: Option<Spanned<Vec<String>>>,
    pub tags: Option<Spanned<Vec<String>>>,
    pub exclude_tags: Option<Spanned<Vec<String>>>,
    pub history: Option<Spanned<i64>>,
    pub external_imports: Option<Spanned<String>>,
    pub format: Option<Spanned<String>>,
    pub platforms: Option<Spanned<Vec<String>>>,
}
