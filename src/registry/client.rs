//! The registry client: one method per registry operation, named resource
//! first (`manifest_get`, `blob_head`, `upload_put`, ...), on top of one
//! request path ([`Client::send`]) that holds all HTTP policy: auth,
//! `Accept`, retry of transient failures, capped error bodies.

use super::auth::{AfterUnauthorized, Auth, Credentials, Scope};
use super::error::{body_detail, transport_message, DisplayUrl, RegistryError};
use super::retry::{
    is_transient_status, parse_retry_after, RateGuard, RetryPolicy, TransferLimits,
};
use crate::oci::reference::{valid_reference, valid_repository};
use crate::oci::{media, Digest, Manifest};
use bytes::Bytes;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE,
};
use reqwest::{Method, Response};
use std::path::PathBuf;
use std::time::Duration;

/// The largest manifest (or list page) we read: the OpenShift registry's
/// and distribution's own push limit, so nothing larger could be pushed.
pub const MANIFEST_READ_LIMIT: usize = 4 << 20;
/// The most names a tag list or catalog may hold in total (all pages).
pub const LIST_TOTAL_LIMIT: usize = 100_000;
/// Tags asked for per tag-list request.
pub const TAG_PAGE: usize = 1000;
/// How much of an error body is read for its diagnostics.
pub const ERROR_BODY_LIMIT: usize = 64 << 10;

/// Where a registry is and how to log in.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `host[:port]`.
    pub registry: String,
    /// Plain HTTP instead of HTTPS (local registries only).
    pub insecure: bool,
    /// An extra CA bundle (PEM) to trust.
    pub ca_file: Option<PathBuf>,
    /// Login as the plan writes it; with no password source, the user's
    /// auth files are consulted when the clients are built.
    pub credentials: Credentials,
    /// Requests in flight and per second (`max_requests`,
    /// `requests_per_second`).
    pub requests: super::RequestLimits,
}

/// An upload in progress: where to send the bytes.
#[derive(Debug, Clone)]
pub struct UploadSession {
    /// Target repository.
    pub repo: String,
    /// Absolute upload URL from `Location`.
    pub location: String,
}

/// The result of asking for a cross-repository mount.
#[derive(Debug)]
pub enum MountResult {
    /// The blob is now in the repository.
    Mounted,
    /// The registry did not mount; it opened an upload instead.
    Session(UploadSession),
}

/// What a blob `HEAD` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStat {
    /// The repository does not hold it.
    Absent,
    /// It holds it, with this size when the registry said.
    Present(Option<u64>),
}

impl BlobStat {
    /// Present, and of size `want` as far as the registry says (a
    /// registry that gives no size holds the content-addressed blob all
    /// the same).
    pub fn holds(self, want: Option<u64>) -> bool {
        match self {
            BlobStat::Absent => false,
            BlobStat::Present(n) => n.is_none() || want.is_none() || n == want,
        }
    }
}

/// A client for one registry.
pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    registry: String,
    auth: Auth,
    policy: RetryPolicy,
    limits: TransferLimits,
    gate: super::gate::Gate,
    /// Whether a blob under `chunk_size` goes up as one `PUT` with a body
    /// (one request fewer) or as a `PATCH` with the bytes and an empty
    /// `PUT` (what containers/image does). Starts true; the first refused
    /// monolithic `PUT` turns it off for the rest of the run: some
    /// registries take blob bytes only in a `PATCH`.
    monolithic: std::sync::atomic::AtomicBool,
}

struct Request<'a> {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Option<Bytes>,
    scopes: &'a [Scope],
}

impl Client {
    /// A client for `ep`, logging in with `credentials` (resolved by
    /// [`super::auth::resolve`]), retrying plain requests by `policy`,
    /// failing bodies slower than `limits`.
    pub fn new(
        ep: &Endpoint,
        credentials: Credentials,
        policy: RetryPolicy,
        limits: TransferLimits,
    ) -> Result<Client, RegistryError> {
        let setup = |message: String| RegistryError::Setup {
            registry: ep.registry.clone(),
            message,
        };
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("rahti-migrate/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .redirect(redirect_policy())
            .read_timeout(limits.window);
        if let Some(ca) = &ep.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| setup(format!("reading ca_file {}: {e}", ca.to_string_lossy())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| setup(format!("ca_file {} is not PEM: {e}", ca.to_string_lossy())))?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let http = b.build().map_err(|e| setup(transport_message(&e)))?;
        let scheme = if ep.insecure { "http" } else { "https" };
        let base = reqwest::Url::parse(&format!("{scheme}://{}/", ep.registry)).map_err(|e| {
            setup(format!(
                "registry {:?} is not a host[:port]: {e}",
                ep.registry
            ))
        })?;
        let auth = Auth::new(&ep.registry, &base, credentials, policy.clone(), limits);
        Ok(Client {
            http,
            base,
            registry: ep.registry.clone(),
            auth,
            policy,
            limits,
            gate: super::gate::Gate::new(ep.requests),
            monolithic: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// `host[:port]` of this registry.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The slowest a body may be.
    pub fn limits(&self) -> TransferLimits {
        self.limits
    }

    /// The retry policy for plain requests.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// A URL under `/v2/{repo}/`, built from validated parts only: a
    /// repository that is not a repository path is refused before any
    /// request (it could otherwise escape the repository, e.g. `../../x`).
    fn repo_url(&self, repo: &str, rest: &str) -> Result<String, RegistryError> {
        if !valid_repository(repo) {
            return Err(self.refuse(format!("repository {repo:?}")));
        }
        Ok(self.url(&format!("/v2/{repo}/{rest}")))
    }

    fn refuse(&self, what: String) -> RegistryError {
        RegistryError::Protocol {
            url: DisplayUrl::new(&self.url("/v2/")),
            message: format!("refusing to build a URL from {what}: not a valid name"),
        }
    }

    /// The URL of a manifest; the reference must be a tag or a digest.
    fn manifest_url(&self, repo: &str, reference: &str) -> Result<String, RegistryError> {
        if !valid_reference(reference) {
            return Err(self.refuse(format!("reference {reference:?}")));
        }
        self.repo_url(repo, &format!("manifests/{reference}"))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// Resolves an upload `Location` against the registry. It may name
    /// another host (object storage); then no credentials are sent to it
    /// (see [`Client::credentials_for`]). Leaving HTTPS for HTTP is refused.
    fn resolve(&self, location: &str) -> Result<String, RegistryError> {
        let bad = |message: String| RegistryError::Protocol {
            url: DisplayUrl::new(location),
            message,
        };
        let u = self
            .base
            .join(location)
            .map_err(|e| bad(format!("bad Location header: {e}")))?;
        if self.base.scheme() == "https" && u.scheme() != "https" {
            return Err(bad(format!(
                "refusing a Location that leaves HTTPS for {}",
                u.scheme()
            )));
        }
        Ok(u.to_string())
    }

    /// The next page of a listing from a `Link` header: only its path and
    /// query are kept, on the registry's own host (as containers/image
    /// does), so a hostile `Link` can neither send the registry's
    /// credentials elsewhere nor downgrade to HTTP.
    fn next_page(&self, link: &str) -> Result<String, RegistryError> {
        let u = self.base.join(link).map_err(|e| RegistryError::Protocol {
            url: DisplayUrl::new(link),
            message: format!("bad Link header: {e}"),
        })?;
        if !u.path().starts_with("/v2/") {
            return Err(RegistryError::Protocol {
                url: DisplayUrl::new(link),
                message: "Link header points outside /v2/".into(),
            });
        }
        let mut next = self.base.clone();
        next.set_path(u.path());
        next.set_query(u.query());
        Ok(next.to_string())
    }

    /// True when a request to `url` may carry this registry's credentials:
    /// same scheme, host and port as the registry.
    fn credentials_for(&self, url: &str) -> bool {
        reqwest::Url::parse(url)
            .map(|u| u.origin() == self.base.origin())
            .unwrap_or(false)
    }

    /// What to do with a 401 to a request sent to `url` (with `sent`):
    /// only the registry's own answer (not an upload host's, nor a
    /// redirect target's: `resp`'s final URL) may teach a challenge or
    /// renew a token; any other 401 is that request's error.
    async fn after_401(
        &self,
        url: &str,
        resp: &Response,
        sent: &super::auth::Sent,
    ) -> AfterUnauthorized {
        if !self.credentials_for(url) || resp.url().origin() != self.base.origin() {
            tracing::debug!(url = %DisplayUrl::new(resp.url().as_str()), "401 from another origin than the registry's; not a challenge");
            return AfterUnauthorized::Fail;
        }
        let www = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok());
        self.auth.unauthorized(sent, www).await
    }

    /// The error for a challenge whose realm was refused.
    fn refused(&self, reason: String) -> RegistryError {
        RegistryError::Auth {
            registry: self.registry.clone(),
            reason,
        }
    }

    /// Sends one request, authenticating as the registry asks and retrying
    /// transient failures by `policy`. Returns the final response whatever
    /// its status, with the number of retries made.
    async fn send(
        &self,
        req: &Request<'_>,
        policy: &RetryPolicy,
    ) -> Result<(Response, u32), RegistryError> {
        let mut retries = 0u32;
        let mut auth_rounds = 0u32;
        loop {
            let sent = match self.credentials_for(&req.url) {
                true => self.auth.authorize(&self.http, req.scopes).await?,
                false => Default::default(),
            };
            let slot = self.gate.enter().await;
            let mut rb = self
                .http
                .request(req.method.clone(), &req.url)
                .headers(req.headers.clone());
            if let Some(h) = sent.header().and_then(super::auth::sensitive) {
                rb = rb.header(AUTHORIZATION, h);
            }
            if let Some(b) = &req.body {
                rb = rb.body(b.clone());
            }
            let answer = rb.send().await;
            // In flight until the answer's head arrived; a body read later
            // (a blob stream) is bounded by the transfer limit instead.
            drop(slot);
            let (retry_after, err) = match answer {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status == 401 && auth_rounds < 3 {
                        match self.after_401(&req.url, &resp, &sent).await {
                            AfterUnauthorized::Retry => {
                                auth_rounds += 1;
                                continue;
                            }
                            AfterUnauthorized::Refused(why) => return Err(self.refused(why)),
                            AfterUnauthorized::Fail => return Ok((resp, retries)),
                        }
                    }
                    if status == 401 {
                        return Ok((resp, retries));
                    }
                    self.auth.accepted(&sent).await;
                    if !is_transient_status(status) || retries >= policy.max_retries {
                        return Ok((resp, retries));
                    }
                    let ra = retry_after_of(&resp).map(|d| d.min(policy.max_delay));
                    // The registry asked for a pause: everyone waits.
                    if let Some(d) = ra {
                        self.gate.pause(d);
                    }
                    tracing::debug!(status, url = %DisplayUrl::new(&req.url), "transient status, retrying");
                    (ra, None)
                }
                Err(e) => {
                    let err = RegistryError::Transport {
                        method: req.method.to_string(),
                        url: DisplayUrl::new(&req.url),
                        message: transport_message(&e),
                        retries,
                    };
                    if retries >= policy.max_retries {
                        return Err(err);
                    }
                    tracing::debug!(error = %err, "transport error, retrying");
                    (None, Some(err))
                }
            };
            drop(err);
            retries += 1;
            tokio::time::sleep(policy.delay(retries, retry_after)).await;
        }
    }

    /// Turns a response with an unexpected status into an error.
    async fn expect(
        &self,
        req: &Request<'_>,
        resp: Response,
        retries: u32,
        ok: &[u16],
    ) -> Result<Response, RegistryError> {
        let status = resp.status().as_u16();
        if ok.contains(&status) {
            return Ok(resp);
        }
        let retry_after = retry_after_of(&resp).map(|d| d.min(self.policy.max_delay));
        if let (Some(d), true) = (retry_after, is_transient_status(status)) {
            self.gate.pause(d);
        }
        let body = read_prefix(resp, ERROR_BODY_LIMIT).await;
        let mut detail = body_detail(&body);
        if status == 401 {
            detail.push_str(" (credentials missing or refused)");
        }
        Err(RegistryError::Status {
            method: req.method.to_string(),
            url: DisplayUrl::new(&req.url),
            status,
            detail,
            retries,
            retry_after,
        })
    }

    /// One attempt at reading a whole response body: the request is sent
    /// once (auth rounds aside), a status other than 200 is an error, and
    /// the body is read up to `limit` bytes at the minimum rate.
    async fn read_once(
        &self,
        req: &Request<'_>,
        limit: usize,
    ) -> Result<(HeaderMap, Vec<u8>), RegistryError> {
        let (resp, retries) = self.send(req, &RetryPolicy::none()).await?;
        let resp = self.expect(req, resp, retries, &[200]).await?;
        let headers = resp.headers().clone();
        let body = read_capped(resp, limit, self.limits)
            .await
            .map_err(|e| e.at(&req.method, &req.url))?;
        Ok((headers, body))
    }

    /// Reads a whole response and decodes it, retrying the read and the
    /// decoding together on transient failures (statuses, connection and
    /// body failures, content that arrived damaged): the one retry level of
    /// every operation that reads a body whole.
    async fn read_decoded<T>(
        &self,
        req: &Request<'_>,
        limit: usize,
        decode: impl Fn(&HeaderMap, Vec<u8>) -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut retries = 0;
        loop {
            let r = match self.read_once(req, limit).await {
                Ok((headers, body)) => decode(&headers, body),
                Err(e) => Err(e),
            };
            match r {
                Err(e) if e.is_transient() && retries < self.policy.max_retries => {
                    retries += 1;
                    tracing::debug!(error = %e, "read failed, retrying");
                    tokio::time::sleep(self.policy.delay(retries, e.retry_after())).await;
                }
                other => return other.map_err(|e| e.with_retries(retries)),
            }
        }
    }

    async fn call(&self, req: Request<'_>, ok: &[u16]) -> Result<Response, RegistryError> {
        let (resp, retries) = self.send(&req, &self.policy).await?;
        self.expect(&req, resp, retries, ok).await
    }

    /// `GET /v2/`: checks the registry answers and learns its auth scheme.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        self.call(
            Request {
                method: Method::GET,
                url: self.url("/v2/"),
                headers: HeaderMap::new(),
                body: None,
                scopes: &[],
            },
            &[200],
        )
        .await
        .map(|_| ())
    }

    async fn paginated(
        &self,
        first: String,
        scopes: &[Scope],
        field: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(RegistryError::Protocol {
                    url: DisplayUrl::new(&url),
                    message: "more than 10000 pages of results".into(),
                });
            }
            let req = Request {
                method: Method::GET,
                url,
                headers: HeaderMap::new(),
                body: None,
                scopes,
            };
            let (link, items) = self
                .read_decoded(&req, MANIFEST_READ_LIMIT, |headers, body| {
                    let link = headers
                        .get("link")
                        .and_then(|v| v.to_str().ok())
                        .and_then(next_link);
                    // A page that does not decode arrived damaged, or the
                    // registry is broken: either way another read may help.
                    let v: serde_json::Value =
                        serde_json::from_slice(&body).map_err(|e| RegistryError::Damaged {
                            url: DisplayUrl::new(&req.url),
                            message: format!("bad JSON in list: {e}"),
                        })?;
                    let items: Vec<String> = v
                        .get(field)
                        .and_then(|t| t.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|t| t.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok((link, items))
                })
                .await?;
            out.extend(items);
            if out.len() > LIST_TOTAL_LIMIT {
                return Err(RegistryError::Protocol {
                    url: DisplayUrl::new(&self.url("/v2/")),
                    message: format!("the list holds more than {LIST_TOTAL_LIMIT} names"),
                });
            }
            next = match link {
                Some(l) => Some(self.next_page(&l)?),
                None => None,
            };
        }
        Ok(out)
    }

    /// Every tag of `repo`, following `Link` pagination.
    pub async fn tag_list(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        self.tag_list_paged(repo, TAG_PAGE).await
    }

    /// Every tag of `repo`, asking for `page` tags a request.
    pub async fn tag_list_paged(
        &self,
        repo: &str,
        page: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let scopes = [Scope::pull(repo)];
        self.paginated(
            self.repo_url(repo, &format!("tags/list?n={page}"))?,
            &scopes,
            "tags",
        )
        .await
    }

    /// Every repository in the registry's catalog (plain distribution
    /// registries; OpenShift denies it to normal users).
    pub async fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        self.catalog_paged(TAG_PAGE).await
    }

    /// The catalog, asking for `page` repositories a request. Names that
    /// are not repository paths are left out (and logged): nothing may
    /// build a URL from them.
    pub async fn catalog_paged(&self, page: usize) -> Result<Vec<String>, RegistryError> {
        let scopes = [Scope::catalog()];
        let mut repos = self
            .paginated(
                self.url(&format!("/v2/_catalog?n={page}")),
                &scopes,
                "repositories",
            )
            .await?;
        repos.retain(|r| {
            let ok = valid_repository(r);
            if !ok {
                tracing::warn!(registry = %self.registry, repository = ?r, "catalog lists an invalid repository name; ignored");
            }
            ok
        });
        Ok(repos)
    }

    fn accept_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&media::MANIFEST_ACCEPT.join(", ")) {
            h.insert(ACCEPT, v);
        }
        h
    }

    /// Fetches a manifest by tag or digest and checks its digest.
    pub async fn manifest_get(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let url = self.manifest_url(repo, reference)?;
        let req = Request {
            method: Method::GET,
            url: url.clone(),
            headers: Self::accept_headers(),
            body: None,
            scopes: &scopes,
        };
        let by_digest = reference.parse::<Digest>().ok();
        self.read_decoded(&req, MANIFEST_READ_LIMIT, |headers, raw| {
            let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let header_digest = headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            let expected = by_digest.clone().or(header_digest);
            let mismatch = |exp: &Digest, actual: &Digest| RegistryError::Mismatch {
                what: "manifest digest mismatch",
                url: DisplayUrl::new(&url),
                expected: exp.to_string(),
                actual: actual.to_string(),
            };
            let raw = Bytes::from(raw);
            match (Manifest::parse(ct, raw.clone()), expected) {
                (Ok(m), Some(exp)) => {
                    let actual = m.digest_like(&exp);
                    if exp != actual {
                        return Err(mismatch(&exp, &actual));
                    }
                    Ok(m)
                }
                (Ok(m), None) => Ok(m),
                // Bytes that do not parse and do not match their digest
                // were damaged on the way.
                (Err(e), expected) => match expected.map(|exp| (exp.recompute(&raw), exp)) {
                    Some((got, exp)) if got != exp => Err(mismatch(&exp, &got)),
                    _ => Err(RegistryError::Protocol {
                        url: DisplayUrl::new(&url),
                        message: e.to_string(),
                    }),
                },
            }
        })
        .await
    }

    /// Sends a HEAD: `None` on 404, the response on 200.
    async fn head(&self, req: Request<'_>) -> Result<Option<Response>, RegistryError> {
        let (resp, retries) = self.send(&req, &self.policy).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        self.expect(&req, resp, retries, &[200]).await.map(Some)
    }

    /// The digest a tag or digest reference points at, or `None` if absent.
    pub async fn manifest_head(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let req = Request {
            method: Method::HEAD,
            url: self.manifest_url(repo, reference)?,
            headers: Self::accept_headers(),
            body: None,
            scopes: &scopes,
        };
        let Some(resp) = self.head(req).await? else {
            return Ok(None);
        };
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        match header {
            Some(d) => Ok(Some(d)),
            // The spec makes the header optional: the manifest is there,
            // and its digest is that of the body.
            None => match self.manifest_get(repo, reference).await {
                Ok(m) => Ok(Some(m.digest)),
                Err(RegistryError::Status { status: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Pushes a manifest under `reference` (tag or digest); returns the
    /// digest the registry assigned.
    pub async fn manifest_put(
        &self,
        repo: &str,
        reference: &str,
        raw: Bytes,
        media_type: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        self.manifest_put_with(repo, reference, raw, media_type, &self.policy)
            .await
    }

    /// [`Client::manifest_put`] in one attempt: for a schema 1 manifest,
    /// which many registries refuse (distribution without schema 1 answers
    /// 500, not 400), so that the refusal is known at once.
    pub async fn manifest_put_once(
        &self,
        repo: &str,
        reference: &str,
        raw: Bytes,
        media_type: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        self.manifest_put_with(repo, reference, raw, media_type, &RetryPolicy::none())
            .await
    }

    async fn manifest_put_with(
        &self,
        repo: &str,
        reference: &str,
        raw: Bytes,
        media_type: &str,
        policy: &RetryPolicy,
    ) -> Result<Option<Digest>, RegistryError> {
        let scopes = [Scope::push(repo)];
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(media_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        let req = Request {
            method: Method::PUT,
            url: self.manifest_url(repo, reference)?,
            headers,
            body: Some(raw),
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, policy).await?;
        let resp = self.expect(&req, resp, retries, &[200, 201]).await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()))
    }

    /// Whether `repo` holds a blob, and its size when the registry says
    /// (the spec makes `Content-Length` on a blob `HEAD` a should: a
    /// registry that omits it holds the blob all the same).
    pub async fn blob_head(&self, repo: &str, digest: &Digest) -> Result<BlobStat, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let req = Request {
            method: Method::HEAD,
            url: self.repo_url(repo, &format!("blobs/{digest}"))?,
            headers: HeaderMap::new(),
            body: None,
            scopes: &scopes,
        };
        let Some(resp) = self.head(req).await? else {
            return Ok(BlobStat::Absent);
        };
        Ok(BlobStat::Present(
            resp.headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        ))
    }

    /// The size of a blob from a one-byte ranged `GET` (`Content-Range:
    /// bytes 0-0/N`), for a registry whose `HEAD` gives none; `None` when
    /// the answer does not say.
    pub async fn blob_size_by_range(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::RANGE,
            HeaderValue::from_static("bytes=0-0"),
        );
        let req = Request {
            method: Method::GET,
            url: self.repo_url(repo, &format!("blobs/{digest}"))?,
            headers,
            body: None,
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &self.policy).await?;
        let resp = self.expect(&req, resp, retries, &[200, 206]).await?;
        let total = match resp.status().as_u16() {
            206 => resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, n)| n.trim().parse().ok()),
            _ => resp.content_length(),
        };
        drop(resp);
        Ok(total)
    }

    /// Starts reading a blob. One attempt: the caller retries the whole
    /// transfer, so a failure mid-body and a failed request share one
    /// budget. Redirects (to object storage) are followed; reqwest drops
    /// `Authorization` when a redirect leaves the registry's host.
    pub async fn blob_get(&self, repo: &str, digest: &Digest) -> Result<Response, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let req = Request {
            method: Method::GET,
            url: self.repo_url(repo, &format!("blobs/{digest}"))?,
            headers: HeaderMap::new(),
            body: None,
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        self.expect(&req, resp, retries, &[200]).await
    }

    /// Reads a small blob (a config) whole, retrying like any plain request,
    /// and checks its digest.
    pub async fn blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let url = self.repo_url(repo, &format!("blobs/{digest}"))?;
        let req = Request {
            method: Method::GET,
            url: url.clone(),
            headers: HeaderMap::new(),
            body: None,
            scopes: &scopes,
        };
        self.read_decoded(&req, limit, |_, body| {
            let got = digest.recompute(&body);
            if &got != digest {
                return Err(RegistryError::Mismatch {
                    what: "digest mismatch",
                    url: DisplayUrl::new(&url),
                    expected: digest.to_string(),
                    actual: got.to_string(),
                });
            }
            Ok(Bytes::from(body))
        })
        .await
    }

    /// Asks the registry to mount `digest` into `repo` from `from`.
    pub async fn blob_mount(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<MountResult, RegistryError> {
        if !valid_repository(from) {
            return Err(self.refuse(format!("mount source repository {from:?}")));
        }
        let scopes = [Scope::push(repo), Scope::pull(from)];
        let req = Request {
            method: Method::POST,
            url: self.repo_url(repo, &format!("blobs/uploads/?mount={digest}&from={from}"))?,
            headers: Self::empty_body(),
            body: Some(Bytes::new()),
            scopes: &scopes,
        };
        let resp = self.call(req, &[201, 202]).await?;
        if resp.status().as_u16() == 201 {
            return Ok(MountResult::Mounted);
        }
        Ok(MountResult::Session(self.session_from(repo, &resp)?))
    }

    fn session_from(&self, repo: &str, resp: &Response) -> Result<UploadSession, RegistryError> {
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: DisplayUrl::new(resp.url().as_str()),
                message: "upload started without a Location header".into(),
            })?;
        Ok(UploadSession {
            repo: repo.to_string(),
            location: self.resolve(loc)?,
        })
    }

    /// Opens an upload session in `repo` in one attempt: every caller
    /// retries the whole upload itself (one retry level per operation).
    pub async fn upload_start_once(&self, repo: &str) -> Result<UploadSession, RegistryError> {
        let scopes = [Scope::push(repo)];
        let req = Request {
            method: Method::POST,
            url: self.repo_url(repo, "blobs/uploads/")?,
            headers: Self::empty_body(),
            body: Some(Bytes::new()),
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        let resp = self.expect(&req, resp, retries, &[202]).await?;
        self.session_from(repo, &resp)
    }

    /// `Content-Length: 0`, for a request without a body (a `POST` that
    /// opens an upload: some registries read the header and fail without
    /// it; the spec's examples send it).
    fn empty_body() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        h
    }

    fn commit_url(session: &UploadSession, digest: &Digest) -> String {
        let sep = if session.location.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}digest={digest}", session.location)
    }

    /// Sends a request whose body is a stream, once (a stream cannot be
    /// sent again: the caller retries the whole transfer), authenticated
    /// and gated like every request. If the stream fails (e.g. its digest
    /// check), the request is abandoned and the registry commits nothing.
    async fn send_stream(
        &self,
        method: Method,
        url: String,
        size: Option<u64>,
        body: reqwest::Body,
        scopes: &[Scope],
        ok: &[u16],
    ) -> Result<Response, RegistryError> {
        let mut headers = HeaderMap::new();
        let sent = match self.credentials_for(&url) {
            true => self.auth.authorize(&self.http, scopes).await?,
            false => Default::default(),
        };
        let _slot = self.gate.enter().await;
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(n) = size {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        let mut rb = self
            .http
            .request(method.clone(), &url)
            .headers(headers)
            .body(body);
        if let Some(h) = sent.header().and_then(super::auth::sensitive) {
            rb = rb.header(AUTHORIZATION, h);
        }
        let resp = rb.send().await.map_err(|e| RegistryError::Transport {
            method: method.to_string(),
            url: DisplayUrl::new(&url),
            message: transport_message(&e),
            retries: 0,
        })?;
        if resp.status().as_u16() == 401 {
            match self.after_401(&url, &resp, &sent).await {
                AfterUnauthorized::Retry => {
                    return Err(RegistryError::Transport {
                        method: method.to_string(),
                        url: DisplayUrl::new(&url),
                        message: "token expired during the upload".into(),
                        retries: 0,
                    })
                }
                AfterUnauthorized::Refused(why) => return Err(self.refused(why)),
                AfterUnauthorized::Fail => {}
            }
        } else {
            self.auth.accepted(&sent).await;
        }
        let req = Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            scopes,
        };
        self.expect(&req, resp, 0, ok).await
    }

    /// Sends the whole blob in one `PUT` and commits it under `digest`, in
    /// one attempt.
    pub async fn upload_put(
        &self,
        session: &UploadSession,
        digest: &Digest,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let url = Self::commit_url(session, digest);
        self.send_stream(Method::PUT, url, size, body, &scopes, &[201])
            .await
            .map(|_| ())
    }

    /// Sends the whole blob in one `PATCH` (no `Content-Range`: a stream
    /// from the start), in one attempt; returns the session to commit.
    pub async fn upload_patch_stream(
        &self,
        session: &UploadSession,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<UploadSession, RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let resp = self
            .send_stream(
                Method::PATCH,
                session.location.clone(),
                size,
                body,
                &scopes,
                &[202, 204],
            )
            .await?;
        match resp.headers().get("location") {
            Some(_) => self.session_from(&session.repo, &resp),
            None => Ok(session.clone()),
        }
    }

    /// Uploads a whole blob into `session` and commits it under `digest`,
    /// in one attempt: as one `PUT` with the body while the registry takes
    /// that, else as a `PATCH` with the body and an empty `PUT`. A refused
    /// monolithic `PUT` switches this client to `PATCH` for the rest of
    /// the run and comes back as a transient error, so the caller's retry
    /// sends the blob the other way.
    pub async fn upload_whole(
        &self,
        session: &UploadSession,
        digest: &Digest,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        use std::sync::atomic::Ordering;
        if !self.monolithic.load(Ordering::Relaxed) {
            let next = self.upload_patch_stream(session, size, body).await?;
            return self.upload_finish(&next, digest).await;
        }
        match self.upload_put(session, digest, size, body).await {
            Err(RegistryError::Status {
                method,
                url,
                status,
                detail,
                ..
            }) if matches!(status, 400 | 405 | 411 | 415 | 500 | 501) => {
                self.monolithic.store(false, Ordering::Relaxed);
                tracing::info!(registry = %self.registry, status, "a blob PUT with its bytes was refused; sending blob bytes in PATCH from now on");
                Err(RegistryError::Transport {
                    method,
                    url,
                    message: format!(
                        "HTTP {status}{detail}: the registry refused the blob in one PUT; sending it as PATCH and PUT"
                    ),
                    retries: 0,
                })
            }
            r => r,
        }
    }

    /// Starts reading a blob at byte `offset` (`Range: bytes=offset-`), in
    /// one attempt. The answer may be 206 (the range) or 200 (the registry
    /// ignores ranges: the whole blob); [`Client::range_start`] says which.
    pub async fn blob_get_from(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<Response, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let mut headers = HeaderMap::new();
        if offset > 0 {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-")) {
                headers.insert(reqwest::header::RANGE, v);
            }
        }
        let req = Request {
            method: Method::GET,
            url: self.repo_url(repo, &format!("blobs/{digest}"))?,
            headers,
            body: None,
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        self.expect(&req, resp, retries, &[200, 206]).await
    }

    /// Where a blob response starts: 0 for a 200, the first byte of
    /// `Content-Range` for a 206 (`None` when that header is unreadable).
    pub fn range_start(resp: &Response) -> Option<u64> {
        if resp.status().as_u16() == 200 {
            return Some(0);
        }
        let v = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)?
            .to_str()
            .ok()?;
        let range = v.trim().strip_prefix("bytes ")?;
        range.split(['-', '/']).next()?.trim().parse().ok()
    }

    /// Sends one chunk of an upload (`PATCH` with `Content-Range`), in one
    /// attempt. Returns the session to continue with (its `Location`
    /// changes on every chunk).
    pub async fn upload_patch(
        &self,
        session: &UploadSession,
        start: u64,
        data: Bytes,
    ) -> Result<UploadSession, RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let end = (start + data.len() as u64).saturating_sub(1);
        if let Ok(v) = HeaderValue::from_str(&format!("{start}-{end}")) {
            headers.insert(reqwest::header::CONTENT_RANGE, v);
        }
        let req = Request {
            method: Method::PATCH,
            url: session.location.clone(),
            headers,
            body: Some(data),
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        let resp = self.expect(&req, resp, retries, &[202]).await?;
        self.session_from(&session.repo, &resp)
    }

    /// How many bytes an upload session holds (`GET` on it: `Range: 0-N`
    /// means N + 1, except that distribution also says `0-0` for none),
    /// with the session to continue with.
    pub async fn upload_status(
        &self,
        session: &UploadSession,
    ) -> Result<(u64, UploadSession), RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let req = Request {
            method: Method::GET,
            url: session.location.clone(),
            headers: HeaderMap::new(),
            body: None,
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        let resp = self.expect(&req, resp, retries, &[204]).await?;
        let held = resp
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once('-'))
            .and_then(|(_, end)| end.trim().parse::<u64>().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: DisplayUrl::new(&session.location),
                message: "upload status without a readable Range header".into(),
            })?;
        let next = match resp.headers().get("location") {
            Some(_) => self.session_from(&session.repo, &resp)?,
            None => session.clone(),
        };
        Ok((held + 1, next))
    }

    /// Commits a chunked upload under `digest` (`PUT` with no body), in one
    /// attempt.
    pub async fn upload_finish(
        &self,
        session: &UploadSession,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let req = Request {
            method: Method::PUT,
            url: Self::commit_url(session, digest),
            headers,
            body: Some(Bytes::new()),
            scopes: &scopes,
        };
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        self.expect(&req, resp, retries, &[201]).await.map(|_| ())
    }

    /// Cancels an abandoned upload session (`DELETE`), so the registry can
    /// drop what it holds. Best effort: one attempt, a failure is logged.
    pub async fn upload_cancel(&self, session: &UploadSession) {
        let scopes = [Scope::push(&session.repo)];
        let req = Request {
            method: Method::DELETE,
            url: session.location.clone(),
            headers: HeaderMap::new(),
            body: None,
            scopes: &scopes,
        };
        let r = match self.send(&req, &RetryPolicy::none()).await {
            Ok((resp, retries)) => self
                .expect(&req, resp, retries, &[204, 404])
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "cancelling an abandoned upload failed");
        }
    }

    /// Uploads a small blob held in memory (a converted config), retrying
    /// the whole upload (session and PUT, each sent once) on transient
    /// failures: at most `retries + 1` sessions.
    pub async fn upload_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        data: Bytes,
    ) -> Result<(), RegistryError> {
        let mut retries = 0;
        loop {
            let r = async {
                let s = self.upload_start_once(repo).await?;
                self.upload_whole(
                    &s,
                    digest,
                    Some(data.len() as u64),
                    reqwest::Body::from(data.clone()),
                )
                .await
            }
            .await;
            match r {
                Err(e) if e.is_transient() && retries < self.policy.max_retries => {
                    retries += 1;
                    tokio::time::sleep(self.policy.delay(retries, e.retry_after())).await;
                }
                other => return other.map_err(|e| e.with_retries(retries)),
            }
        }
    }
}

/// Redirects (blob reads sent to object storage) are followed up to 10
/// times, never from HTTPS to HTTP. reqwest itself drops `Authorization`
/// when a redirect leaves the registry's scheme, host or port.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let downgrade = attempt.previous().iter().any(|u| u.scheme() == "https")
            && attempt.url().scheme() != "https";
        if downgrade {
            attempt.error("refusing a redirect from HTTPS to HTTP")
        } else if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// The `Retry-After` of a response (seconds or HTTP-date).
fn retry_after_of(resp: &Response) -> Option<Duration> {
    parse_retry_after(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
    )
}

/// Reads the first `limit` bytes of a body (an error body, for its
/// diagnostics) and drops the rest; a failed read keeps what arrived.
async fn read_prefix(mut resp: Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = limit - out.len();
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The connection failed or the body was too slow.
    Failed(String),
    /// The body is larger than allowed.
    TooLarge(usize),
}

impl ReadError {
    /// As a registry error for the request `method url`.
    pub(crate) fn at(self, method: &Method, url: &str) -> RegistryError {
        match self {
            ReadError::Failed(message) => RegistryError::Transport {
                method: method.to_string(),
                url: DisplayUrl::new(url),
                message,
                retries: 0,
            },
            ReadError::TooLarge(limit) => RegistryError::Protocol {
                url: DisplayUrl::new(url),
                message: format!("response larger than {limit} bytes"),
            },
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Failed(m) => f.write_str(m),
            ReadError::TooLarge(limit) => write!(f, "response larger than {limit} bytes"),
        }
    }
}

/// Reads at most `limit` bytes of a body, no slower than `limits`; more,
/// or slower, is an error.
pub(crate) async fn read_capped(
    mut resp: Response,
    limit: usize,
    limits: TransferLimits,
) -> Result<Vec<u8>, ReadError> {
    let mut out = Vec::new();
    let mut rate = RateGuard::new(limits);
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ReadError::Failed(transport_message(&e)))?
    {
        if out.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
        rate.on_bytes(chunk.len() as u64)
            .map_err(ReadError::Failed)?;
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The target of `Link: <url>; rel="next"`.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.contains("rel=\"next\"") && !params.contains("rel=next") {
            return None;
        }
        Some(
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_link_header() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    fn client(registry: &str, insecure: bool) -> Client {
        let ep = Endpoint {
            registry: registry.into(),
            insecure,
            ca_file: None,
            credentials: Credentials {
                username: None,
                password: super::super::auth::PasswordSource::None,
            },
            requests: Default::default(),
        };
        match Client::new(
            &ep,
            ep.credentials.clone(),
            RetryPolicy::none(),
            TransferLimits::default(),
        ) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_link_keeps_only_its_path_on_the_registry_host() {
        let c = client("reg.example:5000", false);
        let next = c.next_page("https://evil.example/v2/a/tags/list?last=b&n=2");
        assert_eq!(
            next.ok().as_deref(),
            Some("https://reg.example:5000/v2/a/tags/list?last=b&n=2")
        );
        let next = c.next_page("http://reg.example:5000/v2/_catalog?last=x");
        assert_eq!(
            next.ok().as_deref(),
            Some("https://reg.example:5000/v2/_catalog?last=x")
        );
        assert!(c.next_page("/admin/secrets").is_err());
    }

    #[test]
    fn credentials_stay_on_the_registry_origin() {
        let c = client("reg.example:5000", false);
        assert!(c.credentials_for("https://reg.example:5000/v2/a/blobs/uploads/x"));
        assert!(!c.credentials_for("https://storage.example/upload/x"));
        assert!(!c.credentials_for("https://reg.example:5001/v2/"));
        assert!(!c.credentials_for("http://reg.example:5000/v2/"));
    }

    #[test]
    fn a_location_may_not_leave_https() {
        let c = client("reg.example", false);
        assert!(c
            .resolve("http://reg.example/v2/a/blobs/uploads/u")
            .is_err());
        assert_eq!(
            c.resolve("/v2/a/blobs/uploads/u?_state=s").ok().as_deref(),
            Some("https://reg.example/v2/a/blobs/uploads/u?_state=s")
        );
        assert!(c.resolve("https://storage.example/u").is_ok());
        let plain = client("127.0.0.1:5000", true);
        assert!(plain
            .resolve("http://127.0.0.1:5000/v2/a/blobs/uploads/u")
            .is_ok());
    }

    #[test]
    fn urls_are_built_from_valid_names_only() {
        let c = client("reg.example", false);
        assert!(c.manifest_url("a/b", "../../other/manifests/pwn").is_err());
        assert!(c.manifest_url("a/b", "x?y=1#f").is_err());
        assert!(c.repo_url("a/../b", "tags/list").is_err());
        assert_eq!(
            c.manifest_url("a/b", "v1").ok().as_deref(),
            Some("https://reg.example/v2/a/b/manifests/v1")
        );
    }

    #[test]
    fn commit_url_appends_digest() {
        let d = Digest::of(b"");
        let s = UploadSession {
            repo: "a".into(),
            location: "http://r/v2/a/blobs/uploads/u?_state=x".into(),
        };
        assert_eq!(
            Client::commit_url(&s, &d),
            format!("http://r/v2/a/blobs/uploads/u?_state=x&digest={d}")
        );
    }
}
