//! A loopback stand-in for the OpenShift cluster API, implementing exactly
//! the endpoints and JSON shapes of `../shared/docs/rahti.md` that the tool
//! uses: image stream lists (with `limit` and `continue`), image stream
//! creation, ResourceQuota lists. It checks the bearer token on every
//! request (401 without it), answers 403 for projects the token may not
//! read, and describes images that a real `docker-registry` holds (the test
//! fills it from what it pushed).

use super::{Body, BoxError};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// One image stream as the API shows it.
#[derive(Clone, Default)]
pub struct Stream {
    /// status.tags[]: (tag, image digests newest first).
    pub tags: Vec<(String, Vec<String>)>,
    /// spec.tags[] imported from elsewhere: (tag, external reference).
    pub external: Vec<(String, String)>,
    /// The whole item exactly as a real API returns it (written by the
    /// test in the shapes of real `oc get is -o json`): when set, it is
    /// served instead of what the fields above make.
    pub raw: Option<serde_json::Value>,
}

#[derive(Default)]
struct State {
    /// namespace -> stream name -> stream.
    streams: BTreeMap<String, BTreeMap<String, Stream>>,
    /// namespace -> (hard, used) of openshift.io/imagestreams.
    quotas: BTreeMap<String, (u64, u64)>,
    /// namespace -> (hard, used) of openshift.io/images.
    image_quotas: BTreeMap<String, (u64, u64)>,
    /// Namespaces the token may not read.
    denied: BTreeSet<String>,
    /// Items per page at most, whatever `limit` asks (servers may answer
    /// with fewer).
    page: Option<usize>,
    /// Every request: (method, path and query, status).
    log: Vec<(String, String, u16)>,
    /// Image stream tags created: (namespace, "stream:tag", from).
    istags: Vec<(String, String, String)>,
    /// The `tag` object of each image stream tag created, by
    /// (namespace, "stream:tag").
    istag_specs: Vec<(String, String, serde_json::Value)>,
    /// Serve lists as OKD 3.11 does (`apiVersion: v1`, a `selfLink`, no
    /// `remainingItemCount`).
    v1_lists: bool,
    /// Answer the next request carrying a `continue` with 410 Gone (the
    /// token expired).
    gone_once: bool,
    /// Projects that do not exist (every other one does, for a GET of the
    /// project itself).
    missing: BTreeSet<String>,
    /// Projects listed besides those with streams.
    extra_projects: BTreeSet<String>,
}

#[derive(Clone)]
pub struct Api {
    pub url: String,
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn json(status: u16, v: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from(v.to_string()))
            .map_err(|e| -> BoxError { Box::new(e) })
            .boxed(),
    );
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn status(code: u16, reason: &str, message: &str) -> Response<Body> {
    json(
        code,
        serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": reason, "message": message, "code": code}),
    )
}

impl Api {
    /// Starts the server; requests must carry `Authorization: Bearer
    /// <token>`.
    pub async fn start(token: &str) -> Result<Api, String> {
        let state: Arc<Mutex<State>> = Arc::default();
        let (s2, t2) = (state.clone(), token.to_string());
        let addr = super::serve(move |req| {
            let (state, token) = (s2.clone(), t2.clone());
            async move { Ok::<_, BoxError>(handle(req, state, token).await) }
        })
        .await?;
        Ok(Api {
            url: format!("http://{addr}"),
            state,
        })
    }

    pub fn set_stream(&self, namespace: &str, name: &str, stream: Stream) {
        lock(&self.state)
            .streams
            .entry(namespace.to_string())
            .or_default()
            .insert(name.to_string(), stream);
    }

    pub fn set_quota(&self, namespace: &str, hard: u64, used: u64) {
        lock(&self.state)
            .quotas
            .insert(namespace.to_string(), (hard, used));
    }

    /// Sets (or with `None` removes) the project's image quota.
    pub fn set_image_quota(&self, namespace: &str, quota: Option<(u64, u64)>) {
        let mut st = lock(&self.state);
        match quota {
            Some(q) => st.image_quotas.insert(namespace.to_string(), q),
            None => st.image_quotas.remove(namespace),
        };
    }

    /// Project `ns` does not exist.
    pub fn set_missing(&self, ns: &str) {
        lock(&self.state).missing.insert(ns.to_string());
    }

    /// Project `ns` exists (and is listed) though it has no streams.
    pub fn add_project(&self, ns: &str) {
        lock(&self.state).extra_projects.insert(ns.to_string());
    }

    /// Lists as OKD 3.11 answers them.
    pub fn serve_v1_lists(&self) {
        lock(&self.state).v1_lists = true;
    }

    /// The next `continue` gets 410 Gone.
    pub fn expire_continue_once(&self) {
        lock(&self.state).gone_once = true;
    }

    /// The `tag` objects of image stream tags created.
    pub fn istag_specs(&self) -> Vec<(String, String, serde_json::Value)> {
        lock(&self.state).istag_specs.clone()
    }

    pub fn set_page_size(&self, n: usize) {
        lock(&self.state).page = Some(n);
    }

    pub fn deny(&self, namespace: &str) {
        lock(&self.state).denied.insert(namespace.to_string());
    }

    /// The stream names of a namespace.
    pub fn streams(&self, namespace: &str) -> Vec<String> {
        lock(&self.state)
            .streams
            .get(namespace)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Image stream tags created: (namespace, "stream:tag", from).
    pub fn istags(&self) -> Vec<(String, String, String)> {
        lock(&self.state).istags.clone()
    }

    /// Requests seen: (method, path and query, status).
    pub fn log(&self) -> Vec<(String, String, u16)> {
        lock(&self.state).log.clone()
    }
}

fn stream_json(ns: &str, name: &str, s: &Stream) -> serde_json::Value {
    if let Some(raw) = &s.raw {
        return raw.clone();
    }
    serde_json::json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "lookupPolicy": {"local": false},
            "tags": s.external.iter().map(|(tag, from)| serde_json::json!({
                "name": tag,
                "from": {"kind": "DockerImage", "name": from},
                "importPolicy": {}, "referencePolicy": {"type": "Source"}
            })).collect::<Vec<_>>()
        },
        "status": {
            "dockerImageRepository": format!("image-registry.openshift-image-registry.svc:5000/{ns}/{name}"),
            "tags": s.tags.iter().map(|(tag, items)| serde_json::json!({
                "tag": tag,
                "items": items.iter().enumerate().map(|(g, d)| serde_json::json!({
                    "created": "2024-01-02T03:04:05Z",
                    "dockerImageReference": format!("image-registry.openshift-image-registry.svc:5000/{ns}/{name}@{d}"),
                    "image": d,
                    "generation": g + 1
                })).collect::<Vec<_>>()
            })).collect::<Vec<_>>()
        }
    })
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    token: String,
) -> Response<Body> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {token}"));
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let resp = route(&method, &path, &query, &body, authorized, &state);
    let pq = match query.is_empty() {
        true => path.clone(),
        false => format!(
            "{path}?{}",
            query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        ),
    };
    lock(&state).log.push((method, pq, resp.status().as_u16()));
    resp
}

fn route(
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
    authorized: bool,
    state: &Mutex<State>,
) -> Response<Body> {
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized");
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut st = lock(state);
    let st = &mut *st;
    match (method, parts.as_slice()) {
        ("GET", ["apis", "image.openshift.io", "v1", "namespaces", ns, "imagestreams"]) => {
            list_streams(st, ns, query)
        }
        ("POST", ["apis", "image.openshift.io", "v1", "namespaces", ns, "imagestreams"]) => {
            create_stream(st, ns, body)
        }
        ("POST", ["apis", "image.openshift.io", "v1", "namespaces", ns, "imagestreamtags"]) => {
            create_istag(st, ns, body)
        }
        ("GET", ["apis", "project.openshift.io", "v1", "projects"]) => list_projects(st),
        ("GET", ["apis", "project.openshift.io", "v1", "projects", ns]) => get_project(st, ns),
        ("GET", ["api", "v1", "namespaces", ns, "resourcequotas"]) => quotas(st, ns),
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        ),
    }
}

/// `GET .../namespaces/NS/imagestreams`: a page of `limit` streams, with
/// `continue`; in the OKD 3.11 shape when `v1_lists` is set.
fn list_streams(st: &mut State, ns: &str, query: &BTreeMap<String, String>) -> Response<Body> {
    if st.denied.contains(ns) {
        return status(403, "Forbidden", &format!("imagestreams.image.openshift.io is forbidden: User \"u\" cannot list resource \"imagestreams\" in API group \"image.openshift.io\" in the namespace \"{ns}\""));
    }
    let all: Vec<(String, Stream)> = st
        .streams
        .get(ns)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(usize::MAX)
        .min(st.page.unwrap_or(usize::MAX));
    if query.contains_key("continue") && std::mem::take(&mut st.gone_once) {
        return status(410, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.");
    }
    let from: usize = query
        .get("continue")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<serde_json::Value> = all
        .iter()
        .skip(from)
        .take(limit)
        .map(|(n, s)| stream_json(ns, n, s))
        .collect();
    let next = from + page.len();
    let cont = if next < all.len() {
        next.to_string()
    } else {
        String::new()
    };
    let remaining = all.len() - next;
    let list = match st.v1_lists {
        // OKD 3.11: the legacy group, a selfLink, no count of
        // what remains; an empty list's items are null.
        true => serde_json::json!({"kind": "ImageStreamList", "apiVersion": "v1",
            "metadata": {"selfLink": format!("/oapi/v1/namespaces/{ns}/imagestreams"), "resourceVersion": "1", "continue": cont},
            "items": if page.is_empty() { serde_json::Value::Null } else { serde_json::Value::Array(page) }}),
        false => {
            let mut meta = serde_json::json!({"resourceVersion": "1", "continue": cont});
            if remaining > 0 {
                meta["remainingItemCount"] = remaining.into();
            }
            serde_json::json!({"kind": "ImageStreamList", "apiVersion": "image.openshift.io/v1",
                "metadata": meta, "items": page})
        }
    };
    json(200, list)
}

/// `POST .../namespaces/NS/imagestreams`: a new empty stream, counted
/// against the project's image stream quota.
fn create_stream(st: &mut State, ns: &str, body: &[u8]) -> Response<Body> {
    if st.denied.contains(ns) {
        return status(403, "Forbidden", "cannot create imagestreams");
    }
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let Some(name) = v["metadata"]["name"].as_str().map(str::to_string) else {
        return status(422, "Invalid", "metadata.name: Required value");
    };
    if let Some((hard, used)) = st.quotas.get(ns).copied() {
        if used >= hard {
            return status(
                403,
                "Forbidden",
                "exceeded quota: openshift.io/imagestreams",
            );
        }
        st.quotas.insert(ns.to_string(), (hard, used + 1));
    }
    let streams = st.streams.entry(ns.to_string()).or_default();
    if streams.contains_key(&name) {
        return status(409, "AlreadyExists", "imagestreams already exists");
    }
    streams.insert(name.clone(), Stream::default());
    json(201, stream_json(ns, &name, &Stream::default()))
}

/// `POST .../namespaces/NS/imagestreamtags`: a tag of an existing stream
/// from a `DockerImage` or `ImageStreamTag`.
fn create_istag(st: &mut State, ns: &str, body: &[u8]) -> Response<Body> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let name = v["metadata"]["name"].as_str().unwrap_or("").to_string();
    let from = &v["tag"]["from"];
    let Some((stream, _)) = name.split_once(':') else {
        return status(422, "Invalid", "metadata.name: must be stream:tag");
    };
    if !matches!(
        from["kind"].as_str(),
        Some("DockerImage" | "ImageStreamTag")
    ) || from["name"].as_str().is_none()
    {
        return status(
            422,
            "Invalid",
            "tag.from: kind must be DockerImage or ImageStreamTag",
        );
    }
    if !st.streams.get(ns).is_some_and(|m| m.contains_key(stream)) {
        return status(404, "NotFound", "imagestreams.image.openshift.io not found");
    }
    let from = from["name"].as_str().unwrap_or("").to_string();
    st.istags.push((ns.to_string(), name.clone(), from));
    st.istag_specs
        .push((ns.to_string(), name.clone(), v["tag"].clone()));
    json(201, v)
}

/// `GET /apis/project.openshift.io/v1/projects`: the projects the user
/// may see.
fn list_projects(st: &State) -> Response<Body> {
    let names: BTreeSet<String> = st
        .streams
        .keys()
        .chain(st.extra_projects.iter())
        .filter(|n| !st.denied.contains(*n) && !st.missing.contains(*n))
        .cloned()
        .collect();
    let items: Vec<serde_json::Value> = names
        .iter()
        .map(|n| serde_json::json!({"metadata": {"name": n, "annotations": {"openshift.io/requester": "u"}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}))
        .collect();
    json(
        200,
        serde_json::json!({"kind": "ProjectList", "apiVersion": "project.openshift.io/v1",
            "metadata": {}, "items": items}),
    )
}

/// `GET /apis/project.openshift.io/v1/projects/NS`.
fn get_project(st: &State, ns: &str) -> Response<Body> {
    if st.denied.contains(ns) || st.missing.contains(ns) {
        return status(403, "Forbidden", &format!("projects.project.openshift.io \"{ns}\" is forbidden: User \"u\" cannot get resource \"projects\" in API group \"project.openshift.io\" in the namespace \"{ns}\""));
    }
    json(
        200,
        serde_json::json!({"kind": "Project", "apiVersion": "project.openshift.io/v1",
        "metadata": {"name": ns}, "status": {"phase": "Active"}}),
    )
}

/// `GET /api/v1/namespaces/NS/resourcequotas`: the image stream and image
/// quotas set for the project.
fn quotas(st: &State, ns: &str) -> Response<Body> {
    let one = |name: &str, key: &str, (hard, used): (u64, u64)| {
        serde_json::json!({
            "metadata": {"name": name},
            "spec": {"hard": {key: hard.to_string()}},
            "status": {
                "hard": {key: hard.to_string()},
                "used": {key: used.to_string()}
            }
        })
    };
    let mut items: Vec<serde_json::Value> = Vec::new();
    if let Some(q) = st.quotas.get(ns) {
        items.push(one("image-streams", "openshift.io/imagestreams", *q));
    }
    if let Some(q) = st.image_quotas.get(ns) {
        items.push(one("images", "openshift.io/images", *q));
    }
    json(
        200,
        serde_json::json!({"kind": "ResourceQuotaList", "apiVersion": "v1", "items": items}),
    )
}
