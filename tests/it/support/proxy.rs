//! A fault-injecting HTTP proxy in front of a real registry, in the test
//! process. Rules match a method and a path fragment and fire a set number
//! of times: an error status (with `Retry-After`), a connection reset, a
//! body cut short, a corrupted byte, or a stall until released. It can also
//! "expire" every bearer token seen so far (answering 401 for them, as a
//! registry does for an expired OpenShift token).

use super::{Body, BoxError};
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};
use hyper::{Request, Response};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub enum Fault {
    Status(u16, Option<u64>),
    Reset,
    Truncate(usize),
    Corrupt,
    Stall(Arc<AtomicBool>),
    /// Expire every token seen so far, then answer as for an expired token.
    ExpireTokens,
    /// Answer 307 to the same path on another host name (as a registry
    /// redirects blob reads to object storage); the redirected request is
    /// served as if its URL were pre-signed.
    RedirectTo(String),
    /// Answer 307 to the same path under `.0` (`http://host:port`), a
    /// server that is not the registry.
    RedirectElsewhere(String),
    /// Serve the upstream answer with `.0` replaced by `.1` in its body (a
    /// hostile registry's tag list, say).
    Replace(String, String),
    /// Forward the request, then drop the connection instead of the
    /// answer: the registry did it, the client does not know. Matches only
    /// requests with an empty body (a chunked upload's final `PUT`).
    CommitLost,
    /// Answer `.0` to requests that carry a body (a registry that takes
    /// blob bytes only in `PATCH`, refusing a `PUT` with them).
    BodyRefused(u16),
    /// Answer `.0` to requests without a `Content-Length` header (a
    /// registry that reads it on a `POST`).
    LengthRequired(u16),
    /// Wait this long, then forward.
    Delay(Duration),
    /// Answer 429 with `Retry-After` as an HTTP-date (now).
    TooManyUntilNow,
    /// Forward the request without its `Range` header (a registry that
    /// ignores ranges).
    IgnoreRange,
    /// Serve the body `.0` bytes at a time, one piece every `.1`.
    Trickle(usize, Duration),
    /// Serve the upstream answer with `.1` replaced by `.2` in header `.0`
    /// (a `Link` or `Location` pointing elsewhere).
    RewriteHeader(&'static str, String, String),
    /// Serve the upstream answer without header `.0` (a registry that
    /// sends less than distribution: no `Docker-Content-Digest` on a
    /// manifest `HEAD`, no `Content-Length` on a blob `HEAD`).
    DropHeader(&'static str),
}

struct Rule {
    method: Option<String>,
    path: String,
    fault: Fault,
    /// Matching requests to let through before the rule fires.
    skip: usize,
    remaining: usize,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen_tokens: HashSet<String>,
    expired: HashSet<String>,
    challenge: Option<String>,
    log: Vec<(String, String, u16)>,
    /// Path and `Range` header of every GET.
    ranges: Vec<(String, Option<String>)>,
    /// Every request, in arrival order.
    seen: Vec<Seen>,
    clock: u64,
    schedule: Option<Schedule>,
    /// How many times each (method, path) was asked, for the schedule.
    asked: std::collections::HashMap<(String, String), u64>,
    injected: u64,
    /// Requests being handled now, and the most at once.
    in_flight: usize,
    max_in_flight: usize,
    /// Arrival and answer times of requests answered by a fault.
    faulted: Vec<(Instant, Instant, u16)>,
    /// Writes (POST, PUT, PATCH, DELETE) answered so far.
    writes: u64,
    kill: Option<KillAt>,
    /// Credentials of the requests that were redirected, by path.
    presigned: std::collections::HashMap<String, Option<String>>,
    /// For each redirected request: the Authorization header it carried.
    redirected_auth: Vec<Option<String>>,
}

/// One request as the proxy saw it, for ordering checks.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When it arrived.
    pub at: Instant,
    /// When its answer left (its head).
    pub answered: Instant,
    /// Order in which requests arrived.
    pub start: u64,
    /// Order in which answers were complete (headers received upstream).
    pub end: u64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The body of a manifest PUT.
    pub body: Option<Bytes>,
}

/// A seeded schedule of random faults: whether the n-th request with a
/// given method and path gets a fault depends only on the seed, so a
/// failing schedule replays whatever the interleaving.
#[derive(Clone, Copy)]
pub struct Schedule {
    pub seed: u64,
    /// Faults per thousand requests.
    pub per_mille: u64,
}

fn mix(seed: u64, parts: &[&str], n: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() has fixed keys: the same on every run.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    parts.hash(&mut h);
    n.hash(&mut h);
    h.finish()
}

/// A request path without what changes from run to run (the test's
/// namespace, upload session ids), so a schedule replays by seed.
fn stable_path(path: &str) -> String {
    let mut out = Vec::new();
    let mut after_uploads = false;
    for (i, seg) in path.split('/').enumerate() {
        if i == 2 || after_uploads {
            out.push("*");
        } else {
            out.push(seg);
        }
        after_uploads = seg == "uploads";
    }
    out.join("/")
}

impl Schedule {
    fn pick(&self, method: &str, path: &str, n: u64) -> Option<Fault> {
        let x = mix(self.seed, &[method, path], n);
        if x % 1000 >= self.per_mille {
            return None;
        }
        let y = mix(self.seed ^ 0x5eed, &[method, path], n);
        Some(match y % 6 {
            0 => Fault::Status(503, Some(0)),
            1 => Fault::TooManyUntilNow,
            2 => Fault::Reset,
            3 => Fault::Truncate((y >> 8) as usize % 4096),
            4 => Fault::Corrupt,
            _ => Fault::Delay(Duration::from_millis(30)),
        })
    }
}

/// Kills a process right after the registry answered its n-th write.
struct KillAt {
    writes: u64,
    pid: Arc<std::sync::atomic::AtomicI32>,
}

#[derive(Clone)]
pub struct Proxy {
    pub addr: String,
    state: Arc<Mutex<State>>,
}

fn lock(s: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// A plain-HTTP proxy in front of `upstream`; `ca` is trusted when the
    /// upstream speaks TLS.
    pub async fn start(upstream: String, ca: Option<&std::path::Path>) -> Result<Proxy, String> {
        let state: Arc<Mutex<State>> = Arc::default();
        let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| e.to_string())?;
            b = b.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).map_err(|e| e.to_string())?,
            );
        }
        let http = b.build().map_err(|e| e.to_string())?;
        let addr_cell: Arc<Mutex<String>> = Arc::default();
        let (s2, a2) = (state.clone(), addr_cell.clone());
        let addr = super::serve(move |req| {
            let (state, http, up) = (s2.clone(), http.clone(), upstream.clone());
            let me = a2.lock().map(|a| a.clone()).unwrap_or_default();
            async move { handle(req, state, http, up, me).await }
        })
        .await?;
        if let Ok(mut a) = addr_cell.lock() {
            *a = addr.clone();
        }
        Ok(Proxy { addr, state })
    }

    /// Adds a rule that fires `times` times for requests whose path
    /// contains `path` (and whose method is `method`, if given).
    pub fn add(&self, method: Option<&str>, path: &str, fault: Fault, times: usize) {
        self.add_after(method, path, fault, 0, times);
    }

    /// [`Proxy::add`], letting the first `skip` matching requests through.
    pub fn add_after(
        &self,
        method: Option<&str>,
        path: &str,
        fault: Fault,
        skip: usize,
        times: usize,
    ) {
        lock(&self.state).rules.push(Rule {
            method: method.map(str::to_string),
            path: path.to_string(),
            fault,
            skip,
            remaining: times,
        });
    }

    /// Injects random faults by `schedule` from now on.
    pub fn random(&self, schedule: Schedule) {
        lock(&self.state).schedule = Some(schedule);
    }

    /// Every `Authorization: Bearer` value seen so far.
    pub fn tokens(&self) -> Vec<String> {
        let s = lock(&self.state);
        s.seen_tokens
            .iter()
            .chain(s.expired.iter())
            .cloned()
            .collect()
    }

    /// Faults the random schedule injected.
    pub fn injected(&self) -> u64 {
        lock(&self.state).injected
    }

    /// Waits until no request is being handled (those a killed client
    /// left behind still reach the registry), at most 10 s.
    pub fn wait_idle(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        while lock(&self.state).in_flight > 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        // A request whose client went away may still be finishing in the
        // registry.
        std::thread::sleep(Duration::from_millis(300));
    }

    /// The most requests handled at once.
    pub fn max_in_flight(&self) -> usize {
        lock(&self.state).max_in_flight
    }

    /// Arrival and answer times of the requests a fault answered, with the
    /// status given.
    pub fn faulted(&self) -> Vec<(Instant, Instant, u16)> {
        lock(&self.state).faulted.clone()
    }

    /// Requests seen.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state).seen.clone()
    }

    /// Writes answered so far.
    pub fn writes(&self) -> u64 {
        lock(&self.state).writes
    }

    /// SIGKILLs the process whose id `pid` will hold once the registry has
    /// answered the `writes`-th write (the answer is then not delivered).
    pub fn kill_after_writes(&self, writes: u64, pid: Arc<std::sync::atomic::AtomicI32>) {
        let mut s = lock(&self.state);
        s.writes = 0;
        s.kill = Some(KillAt { writes, pid });
    }

    /// The `Range` headers of the requests whose path contains `path`, in
    /// order (`None` for a request without one).
    pub fn ranges(&self, path: &str) -> Vec<Option<String>> {
        lock(&self.state)
            .ranges
            .iter()
            .filter(|(p, _)| p.contains(path))
            .map(|(_, r)| r.clone())
            .collect()
    }

    pub fn clear(&self) {
        lock(&self.state).rules.clear();
    }

    /// The Authorization headers redirected requests carried.
    pub fn redirected_auth(&self) -> Vec<Option<String>> {
        lock(&self.state).redirected_auth.clone()
    }

    /// Requests seen whose method is `method` and path contains `path`,
    /// with the status answered.
    pub fn hits(&self, method: &str, path: &str) -> Vec<u16> {
        lock(&self.state)
            .log
            .iter()
            .filter(|(m, p, _)| m == method && p.contains(path))
            .map(|(_, _, s)| *s)
            .collect()
    }
}

fn status_reply(code: u16, retry_after: Option<u64>, challenge: Option<String>) -> Response<Body> {
    let body = format!(r#"{{"errors":[{{"code":"INJECTED","message":"injected fault {code}"}}]}}"#);
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|e| -> BoxError { Box::new(e) })
            .boxed(),
    );
    *r.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(s) = retry_after {
        if let Ok(v) = s.to_string().parse() {
            r.headers_mut().insert("retry-after", v);
        }
    }
    if let Some(c) = challenge.and_then(|c| c.parse().ok()) {
        r.headers_mut().insert("www-authenticate", c);
    }
    r
}

/// Counts the request in flight while it is handled.
async fn handle(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    upstream: String,
    me: String,
) -> Result<Response<Body>, BoxError> {
    /// Leaves the count when the request is done, or dropped (its client
    /// went away).
    struct InFlight(Arc<Mutex<State>>);
    impl Drop for InFlight {
        fn drop(&mut self) {
            lock(&self.0).in_flight -= 1;
        }
    }
    {
        let mut s = lock(&state);
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
    }
    let _counted = InFlight(state.clone());
    handle_inner(req, state.clone(), http, upstream, me).await
}

/// What a request brought, read as it arrives (before any fault).
struct Arrival {
    method: String,
    path: String,
    /// Path and query forwarded upstream.
    pq: String,
    query: String,
    auth: Option<String>,
    /// A redirected (presigned) request: the credentials the redirect
    /// would have carried upstream.
    forward_auth: Option<String>,
    arrived: Instant,
    empty_body: bool,
    has_length: bool,
    start: u64,
}

fn arrival(req: &Request<hyper::body::Incoming>, state: &Mutex<State>) -> Arrival {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let mut pq = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut forward_auth = None;
    if req.uri().query() == Some("_presigned=1") {
        let mut s = lock(state);
        s.redirected_auth.push(auth.clone());
        forward_auth = s.presigned.get(&path).cloned().flatten();
        pq = path.clone();
        auth = None;
    }
    if method == "GET" {
        let range = req
            .headers()
            .get("range")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        lock(state).ranges.push((path.clone(), range));
    }
    let start = {
        let mut s = lock(state);
        s.clock += 1;
        s.clock
    };
    Arrival {
        query: req.uri().query().unwrap_or("").to_string(),
        empty_body: req
            .headers()
            .get("content-length")
            .is_some_and(|v| v.as_bytes() == b"0"),
        has_length: req.headers().contains_key("content-length"),
        method,
        path,
        pq,
        auth,
        forward_auth,
        arrived: Instant::now(),
        start,
    }
}

/// The fault for this request (a rule, else the random schedule), whether
/// its token has expired, and the last challenge seen (to answer 401).
fn choose_fault(s: &mut State, a: &Arrival) -> (Option<Fault>, bool, Option<String>) {
    let expired = a.auth.as_ref().is_some_and(|t| s.expired.contains(t));
    if let Some(t) = a.auth.as_ref().filter(|t| t.starts_with("Bearer ")) {
        if !expired {
            s.seen_tokens.insert(t.clone());
        }
    }
    let mut fault = if expired {
        None
    } else {
        let rule = s.rules.iter_mut().find(|r| {
            (!matches!(r.fault, Fault::CommitLost) || a.empty_body)
                && (!matches!(r.fault, Fault::BodyRefused(_)) || !a.empty_body)
                && (!matches!(r.fault, Fault::LengthRequired(_)) || !a.has_length)
                && r.remaining > 0
                && r.method.as_deref().map(|m| m == a.method).unwrap_or(true)
                && a.path.contains(&r.path)
        });
        match rule {
            Some(r) if r.skip > 0 => {
                r.skip -= 1;
                None
            }
            Some(r) => {
                r.remaining -= 1;
                Some(r.fault.clone())
            }
            None => None,
        }
    };
    if let (None, Some(sched)) = (&fault, s.schedule) {
        let stable = stable_path(&a.path);
        let n = s
            .asked
            .entry((a.method.clone(), stable.clone()))
            .or_insert(0);
        *n += 1;
        let n = *n;
        fault = sched.pick(&a.method, &stable, n);
        if fault.is_some() {
            s.injected += 1;
        }
    }
    let mut expired = expired;
    if let Some(Fault::ExpireTokens) = fault {
        let seen: Vec<String> = s.seen_tokens.drain().collect();
        s.expired.extend(seen);
        expired = a.auth.as_ref().is_some_and(|t| s.expired.contains(t));
        fault = None;
    }
    (fault, expired, s.challenge.clone())
}

/// The faults answered without the registry (refusals, statuses, resets,
/// redirects); a delay or a stall waits here and lets the request go on.
async fn answer_locally(
    fault: &Option<Fault>,
    a: &Arrival,
    state: &Mutex<State>,
    me: &str,
) -> Option<Result<Response<Body>, BoxError>> {
    let log = |code: u16| {
        lock(state)
            .log
            .push((a.method.clone(), a.path.clone(), code))
    };
    let redirect = |code: u16, location: String| {
        log(code);
        let mut r = status_reply(code, None, None);
        if let Ok(v) = location.parse() {
            r.headers_mut().insert("location", v);
        }
        r
    };
    match fault {
        Some(Fault::BodyRefused(code) | Fault::LengthRequired(code)) => {
            log(*code);
            let mut r = status_reply(*code, None, None);
            *r.body_mut() = Full::new(Bytes::from_static(
                b"feature not supported: missing content length",
            ))
            .map_err(|e| -> BoxError { Box::new(e) })
            .boxed();
            Some(Ok(r))
        }
        Some(Fault::Status(code, ra)) => {
            log(*code);
            lock(state).faulted.push((a.arrived, Instant::now(), *code));
            Some(Ok(status_reply(*code, *ra, None)))
        }
        Some(Fault::Reset) => {
            log(0);
            Some(Err("injected reset".into()))
        }
        Some(Fault::TooManyUntilNow) => {
            log(429);
            let mut r = status_reply(429, None, None);
            let now = httpdate::fmt_http_date(std::time::SystemTime::now());
            if let Ok(v) = now.parse() {
                r.headers_mut().insert("retry-after", v);
            }
            Some(Ok(r))
        }
        Some(Fault::RedirectTo(host)) => {
            lock(state).presigned.insert(a.path.clone(), a.auth.clone());
            let port = me.rsplit(':').next().unwrap_or("");
            Some(Ok(redirect(
                307,
                format!("http://{host}:{port}{}?_presigned=1", a.path),
            )))
        }
        Some(Fault::RedirectElsewhere(base)) => {
            Some(Ok(redirect(307, format!("{base}{}", a.path))))
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(*d).await;
            None
        }
        Some(Fault::Stall(released)) => {
            log(999);
            let until = Instant::now() + Duration::from_secs(120);
            while !released.load(Ordering::Relaxed) && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        }
        _ => None,
    }
}

/// Records an answered request; returns the client to kill when this is
/// the write the kill point waits for.
fn record(
    state: &Mutex<State>,
    a: &Arrival,
    status: u16,
    body: Option<Bytes>,
) -> Option<Arc<std::sync::atomic::AtomicI32>> {
    let is_write = matches!(a.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    let mut s = lock(state);
    s.clock += 1;
    let end = s.clock;
    s.seen.push(Seen {
        at: a.arrived,
        answered: Instant::now(),
        start: a.start,
        end,
        method: a.method.clone(),
        path: a.path.clone(),
        query: a.query.clone(),
        status,
        body,
    });
    if is_write {
        s.writes += 1;
    }
    match &s.kill {
        Some(k) if is_write && s.writes == k.writes => Some(k.pid.clone()),
        _ => None,
    }
}

/// SIGKILLs the client at its kill point.
async fn kill_client(pid: Arc<std::sync::atomic::AtomicI32>) {
    // The pid is set right after the spawn; wait for it if needed.
    let until = Instant::now() + Duration::from_secs(10);
    while pid.load(Ordering::SeqCst) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let p = pid.load(Ordering::SeqCst);
    if p > 0 {
        // SAFETY: kill(2) on the child process the test spawned.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// The upstream answer's headers as the client sees them: locations
/// pointed back at the proxy, and the header faults applied.
fn response_headers(
    fault: &Option<Fault>,
    resp: &reqwest::Response,
    upstream: &str,
    me: &str,
    state: &Mutex<State>,
) -> hyper::http::response::Builder {
    let mut out = Response::builder().status(resp.status().as_u16());
    let here = |v: &hyper::header::HeaderValue| {
        v.to_str()
            .unwrap_or("")
            .replace(upstream, &format!("http://{me}"))
    };
    for (k, v) in resp.headers().iter() {
        if k == "transfer-encoding" || k == "connection" {
            continue;
        }
        if let Some(Fault::RewriteHeader(name, from, to)) = fault {
            if k == *name {
                out = out.header(k, here(v).replace(from.as_str(), to));
                continue;
            }
        }
        if k == "content-length" && matches!(fault, Some(Fault::Replace(..))) {
            continue;
        }
        if matches!(fault, Some(Fault::DropHeader(name)) if k == *name) {
            continue;
        }
        if k == "location" {
            out = out.header(k, here(v));
            continue;
        }
        if k == "www-authenticate" {
            lock(state).challenge = v.to_str().ok().map(str::to_string);
        }
        out = out.header(k, v);
    }
    out
}

/// The upstream answer's body, with a body fault applied.
async fn response_body(fault: Option<Fault>, resp: reqwest::Response) -> Result<Body, BoxError> {
    let full = |b: Bytes| {
        Full::new(b)
            .map_err(|e| -> BoxError { Box::new(e) })
            .boxed()
    };
    Ok(match fault {
        Some(Fault::Corrupt) => {
            let mut b = resp.bytes().await?.to_vec();
            if !b.is_empty() {
                let i = b.len() / 2;
                b[i] ^= 0xff;
            }
            full(Bytes::from(b))
        }
        Some(Fault::Replace(from, to)) => {
            let b = String::from_utf8_lossy(&resp.bytes().await?).replace(from.as_str(), &to);
            full(Bytes::from(b))
        }
        Some(Fault::Trickle(piece, every)) => {
            let b = resp.bytes().await?;
            let pieces: Vec<Bytes> = b.chunks(piece.max(1)).map(Bytes::copy_from_slice).collect();
            let s = futures::stream::iter(pieces).then(move |p| async move {
                tokio::time::sleep(every).await;
                Ok::<_, BoxError>(Frame::data(p))
            });
            BodyExt::boxed(StreamBody::new(s))
        }
        Some(Fault::Truncate(n)) => {
            let b = resp.bytes().await?;
            let cut = b.slice(..n.min(b.len()));
            // The cut part is flushed before the connection fails, so the
            // client holds exactly `n` bytes.
            let s = futures::stream::iter(vec![
                Ok::<_, BoxError>(Frame::data(cut)),
                Err::<Frame<Bytes>, BoxError>("injected truncation".into()),
            ])
            .then(|item| async move {
                if item.is_err() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                item
            });
            BodyExt::boxed(StreamBody::new(s))
        }
        _ => {
            let s = resp
                .bytes_stream()
                .map(|r| r.map(Frame::data).map_err(|e| -> BoxError { Box::new(e) }));
            BodyExt::boxed(StreamBody::new(s))
        }
    })
}

/// One request through the proxy: what arrived, the fault chosen, an
/// answer made here or the registry's, recorded, with header and body
/// faults applied on the way back.
async fn handle_inner(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
    upstream: String,
    me: String,
) -> Result<Response<Body>, BoxError> {
    let a = arrival(&req, &state);
    let (fault, expired, challenge) = choose_fault(&mut lock(&state), &a);
    let log = |code: u16| {
        lock(&state)
            .log
            .push((a.method.clone(), a.path.clone(), code))
    };
    if expired {
        log(401);
        return Ok(status_reply(401, None, challenge));
    }
    if let Some(answer) = answer_locally(&fault, &a, &state, &me).await {
        return answer;
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut rb = http.request(parts.method.clone(), format!("{upstream}{}", a.pq));
    for (k, v) in parts.headers.iter() {
        if matches!(fault, Some(Fault::IgnoreRange)) && k == "range" {
            continue;
        }
        if k != "host" && k != "connection" && k != "content-length" {
            rb = rb.header(k, v);
        }
    }
    if let Some(t) = &a.forward_auth {
        rb = rb.header("authorization", t);
    }
    let manifest_put = a.method == "PUT" && a.path.contains("/manifests/");
    let sent_body = manifest_put.then(|| body.clone());
    let resp = rb.body(body).send().await?;
    let status = resp.status().as_u16();
    log(status);
    let kill = record(&state, &a, status, sent_body);
    if matches!(fault, Some(Fault::CommitLost)) {
        return Err("injected: the answer to a commit was lost".into());
    }
    if let Some(pid) = kill {
        kill_client(pid).await;
        return Err("killed the client".into());
    }
    let out = response_headers(&fault, &resp, &upstream, &me, &state);
    Ok(out.body(response_body(fault, resp).await?)?)
}
