//! The registry client: one method per registry operation, named resource
//! first (`manifest_get`, `blob_head`, `upload_put`, ...), on top of one
//! request path (`Client::send`) that holds all HTTP policy: auth,
//! `Accept`, retry of transient failures, capped error bodies. This file
//! holds the client, that path and body reading; one file per resource
//! holds its methods (`manifests`, `blobs`, `uploads`, `lists`), and
//! `urls` every URL built or followed. [`http_client`] is shared with the
//! cluster API client.

use super::auth::{AfterUnauthorized, Auth, Scope};
use super::credentials::Credentials;
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

mod blobs;
mod lists;
mod manifests;
mod uploads;
mod urls;

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
    body: Body,
    scopes: &'a [Scope],
}

impl<'a> Request<'a> {
    /// A request with no body and no headers of its own, authorized for
    /// `scopes`.
    fn new(method: Method, url: String, scopes: &'a [Scope]) -> Self {
        Request {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::None,
            scopes,
        }
    }

    fn with_headers(self, headers: HeaderMap) -> Self {
        Request { headers, ..self }
    }

    fn with_body(self, body: Body) -> Self {
        Request { body, ..self }
    }
}

/// A request's body: none, bytes (sent again on a retry), or a stream,
/// which can be sent once: a request with one is never retried here (a
/// blob transfer is retried, or resumed, as a whole by its caller).
enum Body {
    None,
    Bytes(Bytes),
    Stream(std::sync::Mutex<Option<reqwest::Body>>),
}

impl Body {
    /// The body for one attempt: `Err` when a stream was sent already.
    fn for_attempt(&self) -> Result<Option<reqwest::Body>, ()> {
        match self {
            Body::None => Ok(None),
            Body::Bytes(b) => Ok(Some(b.clone().into())),
            Body::Stream(s) => crate::sync::lock(s).take().map(Some).ok_or(()),
        }
    }
}

impl Client {
    /// A client for `ep`, logging in with `credentials` (resolved by
    /// [`super::credentials::resolve`]), retrying plain requests by `policy`,
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
        let b = reqwest::Client::builder()
            .redirect(redirect_policy())
            .read_timeout(limits.window);
        let http = http_client(b, &ep.registry, ep.ca_file.as_deref())?;
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
            // A stream goes once: what would send it again (a retry, a new
            // token) ends the attempt instead.
            let body = req
                .body
                .for_attempt()
                .map_err(|()| RegistryError::Transport {
                    method: req.method.to_string(),
                    url: DisplayUrl::new(&req.url),
                    message: match auth_rounds > 0 {
                        true => "the token expired during the upload".into(),
                        false => "the upload's body cannot be sent again".into(),
                    },
                    retries,
                })?;
            let answer = self.attempt(req, &sent, body).await;
            let retry_after = match answer {
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
                    ra
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
                    None
                }
            };
            retries += 1;
            tokio::time::sleep(policy.delay(retries, retry_after)).await;
        }
    }

    /// One attempt: the request with its credentials and body, in flight
    /// under the registry's gate until the answer's head arrived (a body
    /// read later, a blob stream, is bounded by the transfer limit
    /// instead).
    async fn attempt(
        &self,
        req: &Request<'_>,
        sent: &super::auth::Sent,
        body: Option<reqwest::Body>,
    ) -> reqwest::Result<Response> {
        let _slot = self.gate.enter().await;
        let mut rb = self
            .http
            .request(req.method.clone(), &req.url)
            .headers(req.headers.clone());
        if let Some(h) = sent.header().and_then(super::auth::sensitive) {
            rb = rb.header(AUTHORIZATION, h);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        rb.send().await
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

    /// [`Self::call`] with one attempt: for a request its caller retries
    /// as a whole (a blob transfer, an upload step) or that carries a
    /// stream.
    async fn call_once(&self, req: Request<'_>, ok: &[u16]) -> Result<Response, RegistryError> {
        let (resp, retries) = self.send(&req, &RetryPolicy::none()).await?;
        self.expect(&req, resp, retries, ok).await
    }

    /// `GET /v2/`: checks the registry answers and learns its auth scheme.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        self.call(Request::new(Method::GET, self.url("/v2/"), &[]), &[200])
            .await
            .map(|_| ())
    }

    /// Sends a HEAD: `None` on 404, the response on 200.
    async fn head(&self, req: Request<'_>) -> Result<Option<Response>, RegistryError> {
        let (resp, retries) = self.send(&req, &self.policy).await?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        self.expect(&req, resp, retries, &[200]).await.map(Some)
    }
}

/// The HTTP client for a registry or a cluster API (`what` names it in
/// errors): `b` with our user agent, a 30 s connect timeout and the extra
/// CA bundle, if any, trusted beside the system roots.
pub fn http_client(
    b: reqwest::ClientBuilder,
    what: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, RegistryError> {
    let setup = |message: String| RegistryError::Setup {
        registry: what.to_string(),
        message,
    };
    let mut b = b
        .user_agent(concat!("rahti-migrate/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30));
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| setup(format!("reading ca_file {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| setup(format!("ca_file {} is not PEM: {e}", ca.display())))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| setup(transport_message(&e)))
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
                password: super::super::credentials::PasswordSource::None,
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
