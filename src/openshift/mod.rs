//! The OpenShift cluster API, for what the registry cannot say: a
//! project's image streams (OpenShift denies `/v2/_catalog` to project
//! users), which tags were imported from elsewhere, the project's quotas,
//! and creating the image streams a push goes into. Used by `expand`
//! (discovery), `check` (quotas) and `run` (streams), beside the registry
//! client. Every answer is hostile until checked: names are validated,
//! bodies capped, pages bounded.

use crate::oci::reference::{valid_repository, valid_tag};
use crate::registry::credentials::Credentials;
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

mod quotas;
mod streams;
mod wire;

pub use quotas::{Quota, Quotas, IMAGES, IMAGESTREAMS};
use streams::classify;
pub use streams::{ExternalTag, ImageStream, StreamNote, CLUSTER_REGISTRY_HOSTS};
use wire::*;

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
        let b = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none());
        Ok(Api {
            http: crate::registry::client::http_client(b, &ep.url, ep.ca_file.as_deref())?,
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
            return Err(status_error(url, status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| api_error(url, format!("unexpected JSON: {e}")))
    }

    /// The API's URL (for messages).
    pub fn url(&self) -> &str {
        &self.base
    }

    /// One page of a list: `None` when it is larger than the cap (ask for
    /// fewer items), `Some(Err)` for a `410 Gone` on an expired `continue`.
    async fn page(
        &self,
        url: &str,
    ) -> Result<Option<Result<List<serde_json::Value>, Gone>>, RegistryError> {
        let resp = self.send(self.http.get(url), url).await?;
        let status = resp.status().as_u16();
        let body = match crate::registry::client::read_capped(resp, PAGE_LIMIT, Default::default())
            .await
        {
            Ok(b) => b,
            Err(crate::registry::client::ReadError::TooLarge(_)) if status == 200 => {
                return Ok(None)
            }
            Err(e) => return Err(e.at(&reqwest::Method::GET, url)),
        };
        if status == 410 {
            return Ok(Some(Err(Gone)));
        }
        if status != 200 {
            return Err(status_error(url, status, &body));
        }
        serde_json::from_slice(&body)
            .map(|l| Some(Ok(l)))
            .map_err(|e| api_error(url, format!("unexpected JSON: {e}")))
    }

    /// The image streams of `namespace`, every page, each stream read on
    /// its own: one that cannot be understood comes back unreadable, with
    /// a `stream-unreadable` note, and the rest go on. A page larger than
    /// the cap is asked for again with fewer items; an expired `continue`
    /// (`410 Gone`) starts the listing over, once. `own_hosts` are the
    /// names of the cluster's own registry (a `DockerImage` tag naming one
    /// is the project's own image, not an import).
    pub async fn image_streams(
        &self,
        namespace: &str,
        own_hosts: &[String],
    ) -> Result<Vec<ImageStream>, RegistryError> {
        if !valid_repository(namespace) || namespace.contains('/') {
            return Err(api_error(
                &self.base,
                format!("{namespace:?} is not a project name"),
            ));
        }
        let mut out = Vec::new();
        let mut cont: Option<String> = None;
        let mut counted = (0usize, 0usize);
        let mut items = PAGE_ITEMS;
        let mut restarted = false;
        let mut pages = 0usize;
        while pages < MAX_PAGES {
            let url = self.streams_url(namespace, items, cont.as_deref())?;
            let page = match self.page(url.as_str()).await? {
                None if items > 1 => {
                    // The API caps a page by items, not bytes: fewer.
                    items = (items / 4).max(1);
                    continue;
                }
                None => {
                    return Err(api_error(
                        url.as_str(),
                        format!(
                            "one image stream of {namespace} is larger than {PAGE_LIMIT} bytes"
                        ),
                    ))
                }
                Some(Err(Gone)) if cont.is_some() && !restarted => {
                    tracing::info!(
                        namespace,
                        "the image stream listing expired (410 Gone); starting over"
                    );
                    restarted = true;
                    (out, cont, counted) = (Vec::new(), None, (0, 0));
                    continue;
                }
                Some(Err(Gone)) => {
                    return Err(api_error(
                        url.as_str(),
                        "the listing expired (410 Gone) twice".into(),
                    ))
                }
                Some(Ok(p)) => p,
            };
            pages += 1;
            for item in page.items {
                let stream = classify(namespace, item, own_hosts);
                self.count(namespace, &mut counted, stream.size())?;
                if let Some(s) = stream.0 {
                    out.push(s);
                }
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

    /// The URL of one page of a namespace's image streams.
    fn streams_url(
        &self,
        namespace: &str,
        items: usize,
        cont: Option<&str>,
    ) -> Result<reqwest::Url, RegistryError> {
        let mut url = reqwest::Url::parse(&format!(
            "{}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams",
            self.base
        ))
        .map_err(|e| api_error(&self.base, e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("limit", &items.to_string());
        if let Some(c) = cont {
            url.query_pairs_mut().append_pair("continue", c);
        }
        Ok(url)
    }

    /// Counts one more stream of `size` tags and history entries against
    /// the listing's bounds ([`MAX_STREAMS`], [`MAX_TAGS`]).
    fn count(
        &self,
        namespace: &str,
        (streams, tags): &mut (usize, usize),
        size: usize,
    ) -> Result<(), RegistryError> {
        *tags = tags.saturating_add(size);
        *streams = streams.saturating_add(1);
        if *streams > MAX_STREAMS || *tags > MAX_TAGS {
            return Err(api_error(
                &self.base,
                format!(
                    "project {namespace} lists more than {MAX_STREAMS} image streams or {MAX_TAGS} tags and history entries; migrate it in parts ([[images]] entries, or [[projects]] with repositories globs)"
                ),
            ));
        }
        Ok(())
    }

    /// The projects the token can see (`GET
    /// /apis/project.openshift.io/v1/projects`), names validated, at most
    /// [`MAX_STREAMS`].
    pub async fn projects(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Item {
            metadata: Meta,
        }
        let url = format!("{}/apis/project.openshift.io/v1/projects", self.base);
        let list: List<serde_json::Value> = self.get_json(&url).await?;
        if list.items.len() > MAX_STREAMS {
            return Err(api_error(
                &url,
                format!("more than {MAX_STREAMS} projects listed"),
            ));
        }
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|v| serde_json::from_value::<Item>(v).ok())
            .map(|i| i.metadata.name)
            .filter(|n| !n.contains('/') && valid_repository(n))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Whether the token can see project `namespace` (OpenShift answers
    /// 403 or 404 alike for a project that does not exist and one the
    /// user may not see).
    pub async fn project_visible(&self, namespace: &str) -> Result<bool, RegistryError> {
        if !valid_repository(namespace) || namespace.contains('/') {
            return Ok(false);
        }
        let url = format!(
            "{}/apis/project.openshift.io/v1/projects/{namespace}",
            self.base
        );
        let resp = self.send(self.http.get(&url), &url).await?;
        match resp.status().as_u16() {
            200 => Ok(true),
            403 | 404 => Ok(false),
            status => Err(RegistryError::Status {
                method: "GET".into(),
                url: DisplayUrl::new(&url),
                status,
                detail: String::new(),
                retries: 0,
                retry_after: None,
            }),
        }
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

/// What a tag created on the target stands for.
pub enum TagSource<'a> {
    /// An import from another registry, with its policies as they were.
    Import(&'a ExternalTag),
    /// An alias of another tag of the same stream.
    Alias(&'a str),
}

impl Api {
    /// Creates `stream:tag` in `namespace` as `source` says: an import that
    /// keeps its `importPolicy` (scheduled, insecure, importMode),
    /// `referencePolicy` and `reference`, or an alias of another tag of the
    /// stream. One that exists already is fine.
    pub async fn create_image_stream_tag(
        &self,
        namespace: &str,
        stream: &str,
        tag: &str,
        source: TagSource<'_>,
    ) -> Result<(), RegistryError> {
        let url = format!(
            "{}/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags",
            self.base
        );
        let spec = match source {
            TagSource::Import(e) => {
                let mut import_policy = serde_json::json!({
                    "scheduled": e.scheduled,
                    "insecure": e.insecure,
                });
                if let Some(m) = &e.import_mode {
                    import_policy["importMode"] = serde_json::Value::String(m.clone());
                }
                serde_json::json!({
                    "name": tag,
                    "from": {"kind": "DockerImage", "name": e.from},
                    "importPolicy": import_policy,
                    "referencePolicy": {"type": e.reference_policy},
                    "reference": e.reference,
                })
            }
            TagSource::Alias(of) => serde_json::json!({
                "name": tag,
                "from": {"kind": "ImageStreamTag", "name": format!("{stream}:{of}")},
                "referencePolicy": {"type": "Source"},
            }),
        };
        let body = serde_json::json!({
            "apiVersion": "image.openshift.io/v1",
            "kind": "ImageStreamTag",
            "metadata": {"name": format!("{stream}:{tag}"), "namespace": namespace},
            "tag": spec,
        });
        self.post(&url, body).await
    }
}

/// A GET the API answered with `status` (its `Status` message shown).
fn status_error(url: &str, status: u16, body: &[u8]) -> RegistryError {
    RegistryError::Status {
        method: "GET".into(),
        url: DisplayUrl::new(url),
        status,
        detail: api_detail(body),
        retries: 0,
        retry_after: None,
    }
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
