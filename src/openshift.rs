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

/// One image stream, as much of it as a migration needs, its tags
/// classified as OpenShift means them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageStream {
    /// Its name (the repository is `namespace/name`).
    pub name: String,
    /// Tags that hold an image (`status.tags[].tag` with items), the ones
    /// to copy as bytes unless a class below says otherwise.
    pub tags: Vec<String>,
    /// Tags imported from another registry (not the cluster's own).
    pub external: Vec<ExternalTag>,
    /// Tags that follow another tag of the same stream (`oc tag --alias`):
    /// (tag, the tag it follows).
    pub aliases: Vec<(String, String)>,
    /// Tags never to copy as bytes (`reference: true`, or no image).
    pub not_copied: Vec<String>,
    /// What to tell the user about this stream's tags.
    pub notes: Vec<StreamNote>,
    /// Earlier images of each tag (`status.tags[].items[1..]`), newest
    /// first.
    pub history: Vec<(String, Vec<crate::oci::Digest>)>,
    /// The image each tag points at now (`status.tags[].items[0].image`),
    /// for tags that have one: what a re-sync compares with the journal.
    pub current: Vec<(String, crate::oci::Digest)>,
}

/// A tag imported from another registry, with what it means: recreated
/// under `external_imports = "reference"` as it was.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExternalTag {
    /// The tag.
    pub tag: String,
    /// The pull spec it imports from (validated).
    pub from: String,
    /// `importPolicy.scheduled`: re-imported periodically.
    pub scheduled: bool,
    /// `importPolicy.insecure`: imported over plain HTTP or without TLS
    /// verification.
    pub insecure: bool,
    /// `importPolicy.importMode` (`Legacy`, `PreserveOriginal`), when set.
    pub import_mode: Option<String>,
    /// `referencePolicy.type` (`Source` or `Local`).
    pub reference_policy: String,
    /// `reference: true`: only a reference, no bytes in the registry.
    pub reference: bool,
}

/// Something about one tag (or the whole stream) the user should know.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamNote {
    /// The tag, or `None` for the stream.
    pub tag: Option<String>,
    /// Stable code (`import-failed`, `alias-missing`, `reference-only`,
    /// `cross-namespace`, `tracks-other-stream`, `empty-stream`,
    /// `stream-unreadable`).
    pub code: crate::model::FindingCode,
    /// True for a warning, false for information.
    pub warning: bool,
    /// What it means.
    pub message: String,
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

/// A list answered `410 Gone`: its `continue` expired.
struct Gone;

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

/// An item's name, when the item is too odd to read whole.
#[derive(Deserialize)]
struct JustName {
    metadata: Meta,
}

#[derive(Deserialize, Default)]
struct StreamSpec {
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<SpecTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecTag {
    name: String,
    #[serde(default)]
    from: Option<From>,
    #[serde(default, deserialize_with = "nullable")]
    reference: bool,
    #[serde(default, deserialize_with = "nullable")]
    import_policy: ImportPolicy,
    #[serde(default, deserialize_with = "nullable")]
    reference_policy: ReferencePolicy,
}

#[derive(Deserialize)]
struct From {
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ImportPolicy {
    #[serde(default, deserialize_with = "nullable")]
    insecure: bool,
    #[serde(default, deserialize_with = "nullable")]
    scheduled: bool,
    #[serde(default)]
    import_mode: Option<String>,
}

#[derive(Deserialize, Default)]
struct ReferencePolicy {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    kind: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct StreamStatus {
    #[serde(default, deserialize_with = "nullable")]
    docker_image_repository: String,
    #[serde(default, deserialize_with = "nullable")]
    public_docker_image_repository: String,
    #[serde(default, deserialize_with = "nullable")]
    tags: Vec<StatusTag>,
}

#[derive(Deserialize)]
struct StatusTag {
    tag: String,
    #[serde(default, deserialize_with = "nullable")]
    items: Vec<TagItem>,
    #[serde(default, deserialize_with = "nullable")]
    conditions: Vec<Condition>,
}

#[derive(Deserialize)]
struct TagItem {
    #[serde(default, deserialize_with = "nullable")]
    image: String,
}

#[derive(Deserialize)]
struct Condition {
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    status: String,
    #[serde(default, deserialize_with = "nullable")]
    message: String,
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

/// What one listed item counts towards the listing's bound, and the
/// stream (`None`: a name that could not be a repository, dropped).
struct Classified(Option<ImageStream>, usize);

impl Classified {
    fn size(&self) -> usize {
        self.1
    }
}

/// The registry host of a pull spec (`host[:port]/...`), if it names one.
fn host_of(spec: &str) -> Option<&str> {
    let (first, _) = spec.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

/// The names of the cluster's own registry, by which `oc tag` may have
/// recorded a project's own image as `DockerImage`.
pub const CLUSTER_REGISTRY_HOSTS: &[&str] = &[
    "docker-registry.default.svc:5000",
    "docker-registry.default.svc.cluster.local:5000",
    "image-registry.openshift-image-registry.svc:5000",
    "image-registry.openshift-image-registry.svc.cluster.local:5000",
];

/// A note on one tag of a stream.
fn note(tag: &str, code: crate::model::FindingCode, warning: bool, message: String) -> StreamNote {
    StreamNote {
        tag: Some(tag.to_string()),
        code,
        warning,
        message,
    }
}

/// From a stream's status: the tags that hold an image, and a note on
/// each failed import.
fn status_tags(
    raw: &RawStream,
    name: &str,
    s: &mut ImageStream,
) -> std::collections::BTreeSet<String> {
    let mut with_image = std::collections::BTreeSet::new();
    for t in &raw.status.tags {
        if !valid_tag(&t.tag) {
            continue;
        }
        let failed = t
            .conditions
            .iter()
            .find(|c| c.kind == "ImportSuccess" && c.status == "False");
        if let Some(c) = failed {
            s.notes.push(note(
                &t.tag,
                crate::model::FindingCode::ImportFailed,
                true,
                format!(
                    "the last import of {name}:{} failed: {}{}",
                    t.tag,
                    crate::model::printable(&c.message),
                    if t.items.is_empty() {
                        "; the tag has no image, nothing to copy"
                    } else {
                        "; the image it had before is copied"
                    }
                ),
            ));
        }
        if t.items.iter().any(|i| !i.image.is_empty()) {
            with_image.insert(t.tag.clone());
        }
    }
    with_image
}

/// A spec tag from `DockerImage`: the project's own image (nothing to
/// note), or an import from another registry, kept as it was imported.
fn docker_image_tag(t: &SpecTag, from: &From, name: &str, own: &[String], s: &mut ImageStream) {
    let is_own = host_of(&from.name).is_some_and(|h| own.iter().any(|o| o == h));
    if is_own && !t.reference {
        return; // the project's own image: copied as pushed
    }
    if !crate::oci::reference::valid_pull_spec(&from.name) {
        tracing::warn!(stream = %name, tag = %t.name, from = %crate::model::printable(&from.name), "an imported tag's source is not an image reference; ignored");
        s.not_copied.push(t.name.clone());
        return;
    }
    if t.reference {
        s.not_copied.push(t.name.clone());
    }
    s.external.push(ExternalTag {
        tag: t.name.clone(),
        from: from.name.clone(),
        scheduled: t.import_policy.scheduled,
        insecure: t.import_policy.insecure,
        import_mode: t.import_policy.import_mode.clone().filter(|m| valid_tag(m)),
        reference_policy: match t.reference_policy.kind.as_str() {
            "Local" => "Local".into(),
            _ => "Source".into(),
        },
        reference: t.reference,
    });
}

/// From a stream's spec: imports from other registries (`external`),
/// aliases of tags of the same stream, tags following other streams or
/// projects, each as OpenShift means it. `own` are the cluster's own
/// registry hosts (a `DockerImage` naming one is the project's image).
fn spec_tags(
    raw: &RawStream,
    namespace: &str,
    name: &str,
    own: &[String],
    with_image: &std::collections::BTreeSet<String>,
    s: &mut ImageStream,
) {
    let spec_names: std::collections::BTreeSet<&str> =
        raw.spec.tags.iter().map(|t| t.name.as_str()).collect();
    for t in &raw.spec.tags {
        if !valid_tag(&t.name) {
            continue;
        }
        let Some(from) = &t.from else { continue };
        let other_ns = from
            .namespace
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != namespace);
        match from.kind.as_str() {
            "DockerImage" => docker_image_tag(t, from, name, own, s),
            "ImageStreamTag" if !other_ns => {
                let (stream, tag) = from.name.split_once(':').unwrap_or((name, &from.name));
                if stream == name {
                    if !valid_tag(tag) {
                        continue;
                    }
                    if spec_names.contains(tag) || with_image.contains(tag) {
                        s.aliases.push((t.name.clone(), tag.to_string()));
                    } else {
                        s.notes.push(note(
                            &t.name,
                            crate::model::FindingCode::AliasMissing,
                            true,
                            format!("{name}:{} follows {name}:{tag}, which does not exist; nothing to copy", t.name),
                        ));
                        s.not_copied.push(t.name.clone());
                    }
                } else {
                    s.notes.push(note(
                        &t.name,
                        crate::model::FindingCode::TracksOtherStream,
                        false,
                        format!(
                            "{name}:{} follows {}; it is copied as the image it has now, and no longer follows it on the target",
                            t.name,
                            crate::model::printable(&from.name)
                        ),
                    ));
                }
            }
            "ImageStreamTag" | "ImageStreamImage" => {
                s.notes.push(note(
                    &t.name,
                    crate::model::FindingCode::CrossNamespace,
                    false,
                    format!(
                        "{name}:{} was tagged from {}/{}; its image is copied from this stream",
                        t.name,
                        crate::model::printable(from.namespace.as_deref().unwrap_or(namespace)),
                        crate::model::printable(&from.name)
                    ),
                ));
            }
            _ => {}
        }
    }
}

/// Reference-only tags (no bytes in the registry): not copied, with a
/// note on those the spec names.
fn reference_only(raw: &RawStream, name: &str, s: &mut ImageStream) {
    let spec_names: std::collections::BTreeSet<&str> =
        raw.spec.tags.iter().map(|t| t.name.as_str()).collect();
    // Reference-only tags that are not imports (rare) have no bytes either.
    for t in &raw.spec.tags {
        if t.reference && valid_tag(&t.name) && !s.not_copied.contains(&t.name) {
            s.not_copied.push(t.name.clone());
        }
    }
    for t in s
        .not_copied
        .iter()
        .filter(|t| spec_names.contains(t.as_str()))
    {
        if raw.spec.tags.iter().any(|st| &st.name == t && st.reference) {
            s.notes.push(note(
                t,
                crate::model::FindingCode::ReferenceOnly,
                false,
                format!(
                    "{name}:{t} is a reference only (no bytes in the registry); it is not copied"
                ),
            ));
        }
    }
}

/// An item that is not an image stream as this reader knows one: a
/// `stream-unreadable` warning on it when it has a valid name (the rest
/// of the project goes on), else nothing.
fn unreadable(namespace: &str, item: serde_json::Value, e: &serde_json::Error) -> Classified {
    let name = serde_json::from_value::<JustName>(item)
        .map(|n| n.metadata.name)
        .unwrap_or_default();
    if name.is_empty() || !valid_repository(&format!("{namespace}/{name}")) {
        tracing::warn!(error = %e, "the API lists an item that is not an image stream; ignored");
        return Classified(None, 1);
    }
    Classified(
        Some(ImageStream {
            notes: vec![StreamNote {
                tag: None,
                code: crate::model::FindingCode::StreamUnreadable,
                warning: true,
                message: format!(
                    "image stream {name} could not be read ({}); it is left out",
                    crate::model::printable(&e.to_string())
                ),
            }],
            name,
            ..ImageStream::default()
        }),
        1,
    )
}

/// Reads one listed item on its own and classifies its tags as OpenShift
/// means them: the project's own images (pushed, or `DockerImage` naming
/// the cluster's registry), imports from elsewhere, aliases within the
/// stream, reference-only tags, failed imports. Names that could not be a
/// repository or a tag are dropped (logged), never put into a URL.
fn classify(namespace: &str, item: serde_json::Value, own_hosts: &[String]) -> Classified {
    let raw: RawStream = match serde_json::from_value(item.clone()) {
        Ok(r) => r,
        Err(e) => return unreadable(namespace, item, &e),
    };
    let name = raw.metadata.name.clone();
    if name.contains('/') || !valid_repository(&format!("{namespace}/{name}")) {
        tracing::warn!(stream = ?name, "the API lists an image stream whose name is not a repository; ignored");
        return Classified(None, 1);
    }
    let size = raw.spec.tags.len().saturating_add(
        raw.status
            .tags
            .iter()
            .map(|t| t.items.len().max(1))
            .fold(0, usize::saturating_add),
    );
    let mut own: Vec<String> = own_hosts.to_vec();
    own.extend(CLUSTER_REGISTRY_HOSTS.iter().map(|h| h.to_string()));
    for repo in [
        &raw.status.docker_image_repository,
        &raw.status.public_docker_image_repository,
    ] {
        if let Some(h) = host_of(repo) {
            own.push(h.to_string());
        }
    }
    let mut s = ImageStream {
        name: name.clone(),
        ..ImageStream::default()
    };
    let with_image = status_tags(&raw, &name, &mut s);
    spec_tags(&raw, namespace, &name, &own, &with_image, &mut s);
    reference_only(&raw, &name, &mut s);
    s.tags = with_image
        .into_iter()
        .filter(|t| !s.not_copied.contains(t))
        .collect();
    if s.tags.is_empty() && s.external.is_empty() && s.aliases.is_empty() {
        s.notes.push(StreamNote {
            tag: None,
            code: crate::model::FindingCode::EmptyStream,
            warning: false,
            message: format!("image stream {name} has no image to copy"),
        });
    }
    // Digests that do not parse are dropped: nothing builds a URL from them.
    s.current = raw
        .status
        .tags
        .iter()
        .filter_map(|t| Some((t.tag.clone(), t.items.first()?.image.parse().ok()?)))
        .collect();
    s.history = raw
        .status
        .tags
        .into_iter()
        .filter(|t| s.tags.contains(&t.tag))
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
    Classified(Some(s), size)
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
