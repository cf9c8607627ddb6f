//! The OpenShift cluster API, for what the registry cannot say: a
//! project's image streams (OpenShift denies `/v2/_catalog` to project
//! users), which tags were imported from elsewhere, the project's quotas,
//! and creating the image streams a push goes into. Used by `expand`
//! (discovery), `check` (quotas) and `run` (streams), beside the registry
//! client. Every answer is hostile until checked: names are validated,
//! bodies capped, pages bounded.

use crate::oci::reference::{valid_repository, valid_tag};
use crate::registry::auth::Credentials;
use crate::registry::error::{transport_message, DisplayUrl};
use crate::registry::RegistryError;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Largest page of a list read from the API.
const PAGE_LIMIT: usize = 8 << 20;
/// Items asked for per page.
const PAGE_ITEMS: usize = 200;
/// Pages followed at most.
const MAX_PAGES: usize = 1000;

/// Most image streams one project's listing may hold.
pub const MAX_STREAMS: usize = 10_000;

/// Most tags (spec and status) and history entries, added up over one
/// project's streams: the registry's bound on a list is 100,000 names.
pub const MAX_TAGS: usize = 100_000;

/// Where the cluster API is (`[source] api`, `[target] api`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEndpoint {
    /// `https://host:port` (or `http://` with `insecure`).
    pub url: String,
    /// An extra CA bundle to trust.
    pub ca_file: Option<PathBuf>,
    /// Its own token source (`api_password_*`); `None`: the registry's.
    pub password: Option<crate::registry::PasswordSource>,
}

/// A client of one cluster's API, with the registry's credentials (the
/// same OpenShift token).
pub struct Api {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    /// The token, read once (a `password_command` is not run per request).
    token: tokio::sync::OnceCell<Option<crate::registry::Secret>>,
}

/// One image stream, as much of it as a migration needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageStream {
    /// Its name (the repository is `namespace/name`).
    pub name: String,
    /// Tags that hold an image (`status.tags[].tag`).
    pub tags: Vec<String>,
    /// Tags imported from another registry: (tag, external reference).
    pub external: Vec<(String, String)>,
    /// Earlier images of each tag (`status.tags[].items[1..]`), newest
    /// first.
    pub history: Vec<(String, Vec<crate::oci::Digest>)>,
}

/// A project's ResourceQuota objects.
pub struct Quotas(Vec<RawQuota>);

impl Quotas {
    /// The tightest quota on `resource` ([`IMAGESTREAMS`] or [`IMAGES`]),
    /// if any object limits it.
    pub fn tightest(&self, resource: &str) -> Option<Quota> {
        let mut best: Option<Quota> = None;
        for q in &self.0 {
            let parse = |m: &std::collections::HashMap<String, String>| {
                m.get(resource).and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(hard) = parse(&q.status.hard) {
                let used = parse(&q.status.used).unwrap_or(0);
                // The tightest quota is the one that binds.
                if best.is_none_or(|b| hard.saturating_sub(used) < b.hard.saturating_sub(b.used)) {
                    best = Some(Quota { hard, used });
                }
            }
        }
        best
    }
}

/// One ResourceQuota resource of a project: its hard limit and use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// The hard limit.
    pub hard: u64,
    /// In use.
    pub used: u64,
}

/// A field the API may send as `null` (Go slices and maps without
/// `omitempty`: a failed import's `items` is `null`), read as empty.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct List<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    items: Vec<T>,
    #[serde(default)]
    metadata: ListMeta,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default, rename = "continue")]
    cont: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    spec: StreamSpec,
    #[serde(default, deserialize_with = "nullable")]
    status: StreamStatus,
}

#[derive(Deserialize)]
struct Meta {
    name: String,
}

#[derive(Deserialize, Default)]
struct StreamSpec {
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<SpecTag>,
}

#[derive(Deserialize)]
struct SpecTag {
    name: String,
    #[serde(default)]
    from: Option<From>,
}

#[derive(Deserialize)]
struct From {
    kind: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct StreamStatus {
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<StatusTag>,
}

#[derive(Deserialize)]
struct StatusTag {
    tag: String,
    #[serde(default, deserialize_with = "nullable")]
    items: Vec<TagItem>,
}

#[derive(Deserialize)]
struct TagItem {
    #[serde(default)]
    image: String,
}

#[derive(Deserialize)]
struct RawQuota {
    #[serde(default, deserialize_with = "nullable")]
    status: QuotaStatus,
}

#[derive(Deserialize, Default)]
struct QuotaStatus {
    #[serde(default, deserialize_with = "nullable")]
    hard: std::collections::HashMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    used: std::collections::HashMap<String, String>,
}

/// The quota resource counting a project's image streams.
pub const IMAGESTREAMS: &str = "openshift.io/imagestreams";
/// The quota resource counting a project's unique images (history too).
pub const IMAGES: &str = "openshift.io/images";

fn api_error(url: &str, message: String) -> RegistryError {
    RegistryError::Protocol {
        url: DisplayUrl::new(url),
        message,
    }
}

impl Api {
    /// A client for `ep`, authenticating with `credentials`' password as a
    /// bearer token.
    pub fn new(ep: &ApiEndpoint, credentials: Credentials) -> Result<Api, RegistryError> {
        let setup = |message: String| RegistryError::Setup {
            registry: ep.url.clone(),
            message,
        };
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("rahti-migrate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &ep.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(format!("reading ca_file {}: {e}", ca.display())))?;
            for c in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| setup(format!("ca_file {} is not PEM: {e}", ca.display())))?
            {
                b = b.add_root_certificate(c);
            }
        }
        Ok(Api {
            http: b.build().map_err(|e| setup(transport_message(&e)))?,
            base: ep.url.trim_end_matches('/').to_string(),
            credentials,
            token: tokio::sync::OnceCell::new(),
        })
    }

    async fn send(
        &self,
        rb: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut rb = rb;
        let token = self
            .token
            .get_or_try_init(|| self.credentials.resolve())
            .await?;
        if let Some(token) = token {
            if let Some(v) = crate::registry::auth::sensitive(&format!("Bearer {}", token.expose()))
            {
                rb = rb.header(reqwest::header::AUTHORIZATION, v);
            }
        }
        rb.send().await.map_err(|e| RegistryError::Transport {
            method: "API".into(),
            url: DisplayUrl::new(url),
            message: transport_message(&e),
            retries: 0,
        })
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, url: &str) -> Result<T, RegistryError> {
        let resp = self.send(self.http.get(url), url).await?;
        let status = resp.status().as_u16();
        let body = crate::registry::client::read_capped(resp, PAGE_LIMIT, Default::default())
            .await
            .map_err(|e| e.at(&reqwest::Method::GET, url))?;
        if status != 200 {
            return Err(RegistryError::Status {
                method: "GET".into(),
                url: DisplayUrl::new(url),
                status,
                detail: api_detail(&body),
                retries: 0,
                retry_after: None,
            });
        }
        serde_json::from_slice(&body).map_err(|e| api_error(url, format!("unexpected JSON: {e}")))
    }

    /// The image streams of `namespace`, every page.
    pub async fn image_streams(&self, namespace: &str) -> Result<Vec<ImageStream>, RegistryError> {
        if !valid_repository(namespace) || namespace.contains('/') {
            return Err(api_error(
                &self.base,
                format!("{namespace:?} is not a project name"),
            ));
        }
        let mut out = Vec::new();
        let mut cont: Option<String> = None;
        let (mut streams, mut tags) = (0usize, 0usize);
        for _ in 0..MAX_PAGES {
            let mut url = reqwest::Url::parse(&format!(
                "{}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams",
                self.base
            ))
            .map_err(|e| api_error(&self.base, e.to_string()))?;
            url.query_pairs_mut()
                .append_pair("limit", &PAGE_ITEMS.to_string());
            if let Some(c) = &cont {
                url.query_pairs_mut().append_pair("continue", c);
            }
            let page: List<RawStream> = self.get_json(url.as_str()).await?;
            for s in page.items {
                tags = tags.saturating_add(
                    s.spec.tags.len().saturating_add(
                        s.status
                            .tags
                            .iter()
                            .map(|t| t.items.len().max(1))
                            .fold(0usize, usize::saturating_add),
                    ),
                );
                streams = streams.saturating_add(1);
                if streams > MAX_STREAMS || tags > MAX_TAGS {
                    return Err(api_error(
                        &self.base,
                        format!(
                            "project {namespace} lists more than {MAX_STREAMS} image streams or {MAX_TAGS} tags and history entries; migrate it in parts ([[images]] entries, or [[projects]] with repositories globs)"
                        ),
                    ));
                }
                let Some(stream) = checked_stream(namespace, s) else {
                    continue;
                };
                out.push(stream);
            }
            cont = page.metadata.cont.filter(|c| !c.is_empty());
            if cont.is_none() {
                return Ok(out);
            }
        }
        Err(api_error(
            &self.base,
            format!("more than {MAX_PAGES} pages of image streams"),
        ))
    }

    /// The ResourceQuotas of `namespace`, read in one request.
    pub async fn quotas(&self, namespace: &str) -> Result<Quotas, RegistryError> {
        let url = format!("{}/api/v1/namespaces/{namespace}/resourcequotas", self.base);
        let list: List<RawQuota> = self.get_json(&url).await?;
        Ok(Quotas(list.items))
    }

    /// Creates the image stream `namespace/name`; one that exists already
    /// is fine.
    pub async fn create_image_stream(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<(), RegistryError> {
        let url = format!(
            "{}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams",
            self.base
        );
        let body = serde_json::json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStream",
            "metadata": {"name": name, "namespace": namespace},
        });
        self.post(&url, body).await
    }

    /// POSTs a new object; one that exists already (409) is fine.
    async fn post(&self, url: &str, body: serde_json::Value) -> Result<(), RegistryError> {
        let rb = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let resp = self.send(rb, url).await?;
        match resp.status().as_u16() {
            200 | 201 | 202 | 409 => Ok(()),
            status => {
                let body = crate::registry::client::read_capped(resp, 64 << 10, Default::default())
                    .await
                    .unwrap_or_default();
                Err(RegistryError::Status {
                    method: "POST".into(),
                    url: DisplayUrl::new(url),
                    status,
                    detail: api_detail(&body),
                    retries: 0,
                    retry_after: None,
                })
            }
        }
    }
}

impl Api {
    /// Creates `stream:tag` in `namespace` importing from the external
    /// `from` (an image stream tag of kind DockerImage); one that exists
    /// already is fine.
    pub async fn create_image_stream_tag(
        &self,
        namespace: &str,
        stream: &str,
        tag: &str,
        from: &str,
    ) -> Result<(), RegistryError> {
        let url = format!(
            "{}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags",
            self.base
        );
        let body = serde_json::json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStreamTag",
            "metadata": {"name": format!("{stream}:{tag}"), "namespace": namespace},
            "tag": {
                "name": tag,
                "from": {"kind": "DockerImage", "name": from},
                "referencePolicy": {"type": "Source"},
            },
        });
        self.post(&url, body).await
    }
}

/// A stream with its names checked: a name or tag that could not be a
/// repository path or tag is dropped (logged), never put into a URL.
fn checked_stream(namespace: &str, s: RawStream) -> Option<ImageStream> {
    let name = s.metadata.name;
    if name.contains('/') || !valid_repository(&format!("{namespace}/{name}")) {
        tracing::warn!(stream = ?name, "the API lists an image stream whose name is not a repository; ignored");
        return None;
    }
    let status: Vec<StatusTag> = s
        .status
        .tags
        .into_iter()
        .filter(|t| valid_tag(&t.tag))
        .collect();
    let tags = status.iter().map(|t| t.tag.clone()).collect();
    // Digests that do not parse are dropped: nothing builds a URL from them.
    let history = status
        .into_iter()
        .map(|t| {
            let earlier = t
                .items
                .iter()
                .skip(1)
                .filter_map(|i| i.image.parse().ok())
                .collect();
            (t.tag, earlier)
        })
        .collect();
    let external = s
        .spec
        .tags
        .into_iter()
        .filter_map(|t| match t.from {
            Some(f) if f.kind == "DockerImage" && valid_tag(&t.name) => {
                // It goes into the target stream under `reference`: only a
                // pull spec that passes the grammar.
                if crate::oci::reference::valid_pull_spec(&f.name) {
                    Some((t.name, f.name))
                } else {
                    tracing::warn!(stream = %name, tag = %t.name, from = %crate::model::printable(&f.name), "an imported tag's source is not an image reference; ignored");
                    None
                }
            }
            _ => None,
        })
        .collect();
    Some(ImageStream {
        name,
        tags,
        external,
        history,
    })
}

/// The `message` of a Kubernetes `Status` body, shortened and escaped.
fn api_detail(body: &[u8]) -> String {
    let msg = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    match msg.trim() {
        "" => String::new(),
        m => format!(": {}", crate::model::printable(m)),
    }
}
