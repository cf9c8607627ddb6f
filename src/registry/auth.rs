//! Credentials and the registry auth dance: `WWW-Authenticate` challenges,
//! Basic, and Bearer tokens fetched from the realm per scope, cached, and
//! renewed when a token that worked before is refused (OpenShift tokens
//! expire; `password_command` is then run again).
//!
//! Secrets live in [`Secret`], whose `Debug` and `Display` never show them.

use super::error::{DisplayUrl, RegistryError};
use base64::Engine as _;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// A password or token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for building a header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a password comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum PasswordSource {
    /// No password: anonymous access.
    None,
    /// An environment variable, read when first needed.
    Env(String),
    /// A file whose first line is the password.
    File(PathBuf),
    /// A command whose standard output is the password; run again when a
    /// token that worked before is refused (e.g. `["oc", "whoami", "-t"]`).
    Command(Vec<String>),
    /// A value found in a Docker or containers auth file.
    Static(Secret),
}

/// A username and where its password comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Credentials {
    /// Username (OpenShift ignores it; `unused` by convention).
    pub username: Option<String>,
    /// The password's source.
    pub password: PasswordSource,
}

impl Credentials {
    /// Reads the password now.
    pub async fn resolve(&self) -> Result<Option<Secret>, RegistryError> {
        let err = RegistryError::Credentials;
        match &self.password {
            PasswordSource::None => Ok(None),
            PasswordSource::Static(s) => Ok(Some(s.clone())),
            PasswordSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
                _ => Err(err(format!(
                    "environment variable {var} (password_env) is not set or empty"
                ))),
            },
            PasswordSource::File(path) => {
                let text = tokio::fs::read_to_string(path).await.map_err(|e| {
                    err(format!(
                        "reading password_file {}: {e}",
                        path.to_string_lossy()
                    ))
                })?;
                let line = text.lines().next().unwrap_or("").trim().to_string();
                if line.is_empty() {
                    return Err(err(format!(
                        "password_file {} is empty",
                        path.to_string_lossy()
                    )));
                }
                Ok(Some(Secret::new(line)))
            }
            PasswordSource::Command(argv) => {
                run_password_command(argv, PASSWORD_COMMAND_TIMEOUT).await
            }
        }
    }

    /// True when asking again may give a new password.
    pub fn can_refresh(&self) -> bool {
        matches!(
            self.password,
            PasswordSource::Command(_) | PasswordSource::File(_) | PasswordSource::Env(_)
        )
    }
}

/// How long `password_command` may run before it is killed.
pub const PASSWORD_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest token response read (a token is a few KB).
pub const TOKEN_RESPONSE_LIMIT: usize = 1 << 20;

/// Runs `password_command` (no shell) and takes its first output line,
/// killing it after `timeout`: a hung `oc whoami -t` must not hang the run.
async fn run_password_command(
    argv: &[String],
    timeout: Duration,
) -> Result<Option<Secret>, RegistryError> {
    let err = RegistryError::Credentials;
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| err("password_command is empty".to_string()))?;
    let child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err(format!("running password_command {prog:?}: {e}")))?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(r) => r.map_err(|e| err(format!("running password_command {prog:?}: {e}")))?,
        Err(_) => {
            return Err(err(format!(
                "password_command {prog:?} did not finish within {} s; it was stopped",
                timeout.as_secs_f64()
            )))
        }
    };
    if !out.status.success() {
        return Err(err(format!(
            "password_command {prog:?} failed with {}",
            out.status
        )));
    }
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if s.is_empty() {
        return Err(err(format!("password_command {prog:?} printed nothing")));
    }
    Ok(Some(Secret::new(s)))
}

/// A header value marked sensitive, so HTTP-level debug output hides it.
pub fn sensitive(value: &str) -> Option<reqwest::header::HeaderValue> {
    let mut v = reqwest::header::HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
}

/// The credentials to use for `ep`: its password source as the plan
/// writes it, or, when it names none, the user's auth files (then
/// anonymous). The only place that reads the auth files.
pub fn resolve(ep: &super::Endpoint) -> Credentials {
    match ep.credentials.password {
        PasswordSource::None => {
            from_auth_files(&ep.registry).unwrap_or_else(|| ep.credentials.clone())
        }
        _ => ep.credentials.clone(),
    }
}

/// Looks `registry` up in the auth files skopeo and podman use:
/// `$REGISTRY_AUTH_FILE`, `${XDG_RUNTIME_DIR}/containers/auth.json`, then
/// `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`). In each, as
/// Docker and containers/image read them: a `credHelpers` entry for the
/// registry, else its `auths` entry, else the `credsStore` helper; the
/// first file that gives credentials wins.
pub fn from_auth_files(registry: &str) -> Option<Credentials> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("REGISTRY_AUTH_FILE") {
        files.push(PathBuf::from(p));
    }
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
        files.push(Path::new(&dir).join("containers/auth.json"));
    }
    if let Ok(dir) = std::env::var("DOCKER_CONFIG") {
        files.push(Path::new(&dir).join("config.json"));
    } else if let Ok(home) = std::env::var("HOME") {
        files.push(Path::new(&home).join(".docker/config.json"));
    }
    files.iter().find_map(|f| lookup_auth_file(f, registry))
}

/// The host an auth file key names (`https://host/v1/` -> `host`).
fn key_host(k: &str) -> &str {
    k.trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
}

/// Finds `registry` in one auth file: `credHelpers`, `auths` (`{"auth":
/// b64(user:password)}`), `credsStore`.
pub fn lookup_auth_file(path: &Path, registry: &str) -> Option<Credentials> {
    let text = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    let helper_for = v
        .get("credHelpers")
        .and_then(|h| h.as_object())
        .and_then(|h| h.iter().find(|(k, _)| key_host(k) == registry))
        .and_then(|(_, name)| name.as_str());
    if let Some(name) = helper_for {
        return credential_helper(name, registry, HELPER_TIMEOUT);
    }
    let entry = v
        .get("auths")
        .and_then(|a| a.as_object())
        .and_then(|a| a.iter().find(|(k, _)| key_host(k) == registry))
        .map(|(_, e)| e);
    if let Some(c) = entry.and_then(auths_entry) {
        return Some(c);
    }
    let store = v.get("credsStore").and_then(|s| s.as_str())?;
    credential_helper(store, registry, HELPER_TIMEOUT)
}

/// An `auths` entry's credentials.
fn auths_entry(entry: &serde_json::Value) -> Option<Credentials> {
    let b64 = entry.get("auth")?.as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some(Credentials {
        username: Some(user.to_string()),
        password: PasswordSource::Static(Secret::new(pass)),
    })
}

/// How long a credential helper may run before it is killed.
pub const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a credential helper may print (its JSON is a few hundred
/// bytes).
const HELPER_OUTPUT_LIMIT: usize = 64 << 10;

/// Asks `docker-credential-<name> get` for `registry`'s credentials, as
/// Docker and skopeo do: the host on standard input, `{"Username",
/// "Secret"}` on standard output. A helper that is missing, fails (no
/// credentials stored), prints too much or runs past `timeout` gives none
/// and a warning naming the helper; what it prints is never logged. A
/// helper name must be a plain word (it becomes a program name).
pub fn credential_helper(name: &str, registry: &str, timeout: Duration) -> Option<Credentials> {
    let warn = |why: &str| {
        tracing::warn!(helper = name, registry, "credential helper: {why}");
        None
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return warn("not a helper name");
    }
    run_helper(&format!("docker-credential-{name}"), registry, timeout)
}

/// Runs one credential helper program (see [`credential_helper`]).
fn run_helper(program: &str, registry: &str, timeout: Duration) -> Option<Credentials> {
    use std::io::{Read as _, Write as _};
    let warn = |why: &str| {
        tracing::warn!(helper = program, registry, "credential helper: {why}");
        None
    };
    let mut child = match std::process::Command::new(program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return warn(&format!("cannot run {program}: {e}")),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(registry.as_bytes());
    }
    // The output is read on a thread while this one keeps the deadline.
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(HELPER_OUTPUT_LIMIT as u64 + 1).read_to_end(&mut out);
        }
        out
    });
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return warn(&format!(
                    "{program} did not finish within {} s; stopped",
                    timeout.as_secs()
                ));
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    if !status.success() {
        return warn(&format!("{program} has no credentials for it ({status})"));
    }
    if out.len() > HELPER_OUTPUT_LIMIT {
        return warn(&format!(
            "{program} printed more than {HELPER_OUTPUT_LIMIT} bytes"
        ));
    }
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let Ok(r) = serde_json::from_slice::<Reply>(&out) else {
        return warn(&format!("{program} printed no credentials JSON"));
    };
    if r.secret.is_empty() {
        return warn(&format!("{program} gave an empty secret"));
    }
    // `<token>` marks an identity token (an OAuth refresh token). It is
    // sent as the password with no username; the refresh-token exchange
    // some registries want instead is not implemented.
    Some(Credentials {
        username: Some(r.username).filter(|u| !u.is_empty() && u != "<token>"),
        password: PasswordSource::Static(Secret::new(r.secret)),
    })
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// Service name to ask the token for.
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
        }),
        _ => None,
    }
}

/// `k="v", k2=v2` with quoted values that may hold commas and `\"`.
fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            val.push(n)
                        }
                    }
                    '"' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                val.push(*c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), val.trim().to_string());
    }
    out
}

/// Access asked of one repository, as a token scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// Resource type: `repository` or `registry`.
    pub kind: &'static str,
    /// Repository path (or `catalog`).
    pub name: String,
    /// `pull`, `pull,push` or `*`.
    pub actions: &'static str,
}

impl Scope {
    /// Read access to `repo`.
    pub fn pull(repo: &str) -> Scope {
        Scope {
            kind: "repository",
            name: repo.to_string(),
            actions: "pull",
        }
    }
    /// Read and write access to `repo`.
    pub fn push(repo: &str) -> Scope {
        Scope {
            kind: "repository",
            name: repo.to_string(),
            actions: "pull,push",
        }
    }
    /// Listing the registry's catalog.
    pub fn catalog() -> Scope {
        Scope {
            kind: "registry",
            name: "catalog".to_string(),
            actions: "*",
        }
    }
    /// The scope string sent to the token endpoint.
    pub fn as_param(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions)
    }
}

/// The key a token is cached under: its sorted scopes.
fn scope_key(scopes: &[Scope]) -> String {
    let mut v: Vec<String> = scopes.iter().map(Scope::as_param).collect();
    v.sort();
    v.join(" ")
}

struct Token {
    value: Secret,
    proven: bool,
    /// The password generation it was fetched with.
    generation: u64,
}

#[derive(Default)]
struct State {
    challenge: Option<Challenge>,
    password: Option<Option<Secret>>,
    /// Bumped each time an expired credential forces a new password.
    generation: u64,
    tokens: HashMap<String, Token>,
}

/// What was sent on one request, so a 401 can be judged.
#[derive(Debug, Clone, Default)]
pub struct Sent {
    token_key: Option<String>,
    header: Option<String>,
}

impl Sent {
    /// The `Authorization` header value sent, if any.
    pub fn header(&self) -> Option<&str> {
        self.header.as_deref()
    }
}

/// What to do after a 401.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterUnauthorized {
    /// Send the request again with new credentials.
    Retry,
    /// The credentials are refused.
    Fail,
    /// The registry named a token realm our credentials may not go to
    /// (why, without secrets).
    Refused(String),
}

/// Auth state for one registry.
///
/// The state lock is only held for short, synchronous bookkeeping: never
/// across the network or `password_command`. A request whose token is
/// cached never waits for one that is being fetched. Fetches of the same
/// token, and runs of `password_command`, are made once at a time through
/// their own gates (a second caller waits for the first one's result
/// instead of asking again).
pub struct Auth {
    registry: String,
    /// The registry's own scheme, host and port: challenges come only from
    /// there, and a token realm must keep to [`Auth::realm_allowed`].
    base: reqwest::Url,
    creds: Credentials,
    policy: super::retry::RetryPolicy,
    limits: super::retry::TransferLimits,
    state: Mutex<State>,
    /// Held while the password is read (at most one `password_command`).
    password_gate: tokio::sync::Mutex<()>,
    /// One gate per token key, held while that token is fetched.
    fetch_gates: crate::sync::OnceMap<String, tokio::sync::Mutex<()>>,
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl Auth {
    /// Auth for `registry` with `creds`; token requests retry by `policy`
    /// and fail when slower than `limits`.
    pub fn new(
        registry: &str,
        base: &reqwest::Url,
        creds: Credentials,
        policy: super::retry::RetryPolicy,
        limits: super::retry::TransferLimits,
    ) -> Self {
        Auth {
            registry: registry.to_string(),
            base: base.clone(),
            creds,
            policy,
            limits,
            state: Mutex::new(State::default()),
            password_gate: tokio::sync::Mutex::new(()),
            fetch_gates: Default::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// The password (read once, and again after a renewal) with the
    /// generation it belongs to.
    async fn password(&self) -> Result<(Option<Secret>, u64), RegistryError> {
        {
            let st = self.state();
            if let Some(p) = &st.password {
                return Ok((p.clone(), st.generation));
            }
        }
        let _gate = self.password_gate.lock().await;
        let generation = {
            let st = self.state();
            if let Some(p) = &st.password {
                return Ok((p.clone(), st.generation));
            }
            st.generation
        };
        let p = self.creds.resolve().await?;
        let mut st = self.state();
        if st.generation == generation {
            st.password = Some(p.clone());
        }
        Ok((p, generation))
    }

    fn basic(&self, password: &Secret) -> String {
        let user = self.creds.username.as_deref().unwrap_or("unused");
        let raw = format!("{user}:{}", password.expose());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }

    fn cached(&self, key: &str) -> Option<Sent> {
        self.state().tokens.get(key).map(|t| Sent {
            header: Some(format!("Bearer {}", t.value.expose())),
            token_key: Some(key.to_string()),
        })
    }

    /// The `Authorization` value for a request needing `scopes`, fetching a
    /// token if the registry asked for Bearer and none is cached.
    pub async fn authorize(
        &self,
        http: &reqwest::Client,
        scopes: &[Scope],
    ) -> Result<Sent, RegistryError> {
        let challenge = self.state().challenge.clone();
        match challenge {
            None => Ok(Sent::default()),
            Some(Challenge::Basic) => match self.password().await?.0 {
                Some(p) => Ok(Sent {
                    token_key: None,
                    header: Some(self.basic(&p)),
                }),
                None => Ok(Sent::default()),
            },
            Some(Challenge::Bearer { realm, service }) => {
                let key = scope_key(scopes);
                if let Some(sent) = self.cached(&key) {
                    return Ok(sent);
                }
                let gate = self.fetch_gates.get(&key);
                let _gate = gate.lock().await;
                // Someone else may have fetched it while we waited.
                if let Some(sent) = self.cached(&key) {
                    return Ok(sent);
                }
                let (password, generation) = self.password().await?;
                let token = self
                    .fetch_token(http, &realm, service.as_deref(), scopes, password.as_ref())
                    .await?;
                let header = format!("Bearer {}", token.expose());
                let mut st = self.state();
                if st.generation == generation {
                    st.tokens.insert(
                        key.clone(),
                        Token {
                            value: token,
                            proven: false,
                            generation,
                        },
                    );
                }
                Ok(Sent {
                    token_key: Some(key),
                    header: Some(header),
                })
            }
        }
    }

    /// The request that used `sent` got a non-401 answer: its token works.
    pub async fn accepted(&self, sent: &Sent) {
        if let Some(k) = &sent.token_key {
            if let Some(t) = self.state().tokens.get_mut(k) {
                t.proven = true;
            }
        }
    }

    /// Whether the password (Basic, to fetch a token) may go to `realm`, a
    /// token endpoint this registry named in its own challenge: an
    /// `http(s)` URL without user or password; `https` when the registry
    /// is (plain `http` only for a registry the plan marks `insecure`);
    /// on another host only over HTTPS from an HTTPS registry (Docker
    /// Hub's realm is `auth.docker.io`), and then logged.
    pub fn realm_allowed(&self, realm: &str) -> Result<(), String> {
        let shown = DisplayUrl::new(realm);
        let u = reqwest::Url::parse(realm)
            .map_err(|e| format!("the token realm {shown} is not a URL: {e}"))?;
        if !matches!(u.scheme(), "https" | "http") {
            return Err(format!("the token realm {shown} is not an http(s) URL"));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(format!(
                "the token realm {shown} carries a user or password"
            ));
        }
        let tls = self.base.scheme() == "https";
        if tls && u.scheme() != "https" {
            return Err(format!(
                "the registry is HTTPS but names the token realm {shown}, which would send the credentials in cleartext"
            ));
        }
        if u.host_str() != self.base.host_str() {
            if !tls {
                return Err(format!(
                    "the registry (plain HTTP) names a token realm on another host, {shown}; credentials go to another host only over HTTPS"
                ));
            }
            tracing::info!(registry = %self.registry, realm = %shown, "token realm on another host (over HTTPS)");
        }
        Ok(())
    }

    /// Handles a 401 that the registry itself (its own scheme, host and
    /// port, not a redirect target or upload host) answered to a request
    /// that carried `sent`.
    pub async fn unauthorized(
        &self,
        sent: &Sent,
        www_authenticate: Option<&str>,
    ) -> AfterUnauthorized {
        let challenge = www_authenticate.and_then(parse_challenge);
        if let Some(Challenge::Bearer { realm, .. }) = &challenge {
            if let Err(why) = self.realm_allowed(realm) {
                tracing::warn!(registry = %self.registry, "{why}; refused");
                return AfterUnauthorized::Refused(why);
            }
        }
        let mut st = self.state();
        if sent.header.is_none() {
            // First contact: learn how to authenticate, then try again.
            return match challenge {
                Some(c) => {
                    st.challenge = Some(c);
                    AfterUnauthorized::Retry
                }
                None => AfterUnauthorized::Fail,
            };
        }
        if let Some(c) = challenge {
            st.challenge = Some(c);
        }
        match &sent.token_key {
            Some(k) => {
                let proven = st.tokens.get(k).map(|t| t.proven).unwrap_or(false);
                let still_same = st
                    .tokens
                    .get(k)
                    .map(|t| Some(format!("Bearer {}", t.value.expose())) == sent.header)
                    .unwrap_or(false);
                if !still_same {
                    // Another request already renewed this token.
                    return AfterUnauthorized::Retry;
                }
                let generation = st.tokens.get(k).map(|t| t.generation).unwrap_or(0);
                st.tokens.remove(k);
                if generation < st.generation {
                    // Fetched with a password since replaced: fetch anew.
                    return AfterUnauthorized::Retry;
                }
                if !proven {
                    return AfterUnauthorized::Fail;
                }
                // A token that worked was refused: it expired, and so did
                // every token fetched with the same password (one OpenShift
                // token stands behind them all). Ask for the password again
                // (password_command may give a new one).
                st.generation += 1;
                st.tokens.clear();
                if self.creds.can_refresh() {
                    st.password = None;
                }
                AfterUnauthorized::Retry
            }
            None => AfterUnauthorized::Fail,
        }
    }

    async fn fetch_token(
        &self,
        http: &reqwest::Client,
        realm: &str,
        service: Option<&str>,
        scopes: &[Scope],
        password: Option<&Secret>,
    ) -> Result<Secret, RegistryError> {
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(s) = service {
            query.push(("service", s.to_string()));
        }
        for s in scopes {
            query.push(("scope", s.as_param()));
        }
        let policy = &self.policy;
        let url = DisplayUrl::new(realm);
        let mut retries = 0;
        loop {
            let mut req = http.get(realm).query(&query);
            if let Some(p) = password {
                if let Some(v) = sensitive(&self.basic(p)) {
                    req = req.header(reqwest::header::AUTHORIZATION, v);
                }
            }
            let (retry_after, err) = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let body = super::client::read_capped(resp, TOKEN_RESPONSE_LIMIT, self.limits)
                        .await
                        .map_err(|message| RegistryError::Auth {
                            registry: self.registry.clone(),
                            reason: format!("token endpoint {url}: {message}"),
                        })?;
                    let t: TokenResponse =
                        serde_json::from_slice(&body).map_err(|e| RegistryError::Auth {
                            registry: self.registry.clone(),
                            reason: format!("token endpoint {url} answered with bad JSON: {e}"),
                        })?;
                    return t
                        .token
                        .or(t.access_token)
                        .filter(|t| !t.is_empty())
                        .map(Secret::new)
                        .ok_or_else(|| RegistryError::Auth {
                            registry: self.registry.clone(),
                            reason: format!("token endpoint {url} returned no token"),
                        });
                }
                Ok(resp) if super::retry::is_transient_status(resp.status().as_u16()) => (
                    super::retry::parse_retry_after(
                        resp.headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok()),
                    ),
                    RegistryError::Status {
                        method: "GET".into(),
                        url: url.clone(),
                        status: resp.status().as_u16(),
                        detail: String::new(),
                        retries,
                        retry_after: None,
                    },
                ),
                Ok(resp) => {
                    return Err(RegistryError::Auth {
                        registry: self.registry.clone(),
                        reason: format!(
                            "token endpoint {url} answered HTTP {} for scope {}{}",
                            resp.status().as_u16(),
                            scope_key(scopes),
                            if password.is_none() {
                                " (no credentials configured)"
                            } else {
                                ""
                            }
                        ),
                    })
                }
                Err(e) => (
                    None,
                    RegistryError::Transport {
                        method: "GET".into(),
                        url: url.clone(),
                        message: super::error::transport_message(&e),
                        retries,
                    },
                ),
            };
            if retries >= policy.max_retries {
                return Err(err.with_retries(retries));
            }
            retries += 1;
            tokio::time::sleep(policy.delay(retries, retry_after)).await;
        }
    }
}

#[cfg(test)]
mod tests {

    #[cfg(unix)]
    fn helper_script(dir: &Path, name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt as _;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("{e}"));
        p.display().to_string()
    }

    #[cfg(unix)]
    #[test]
    fn credential_helpers_give_credentials_or_none_within_bounds() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        // The host arrives on stdin; the reply names it back.
        let ok = helper_script(
            d,
            "ok",
            r#"read host; [ "$1" = get ] || exit 3; printf '{"ServerURL":"%s","Username":"bob","Secret":"s3cret-%s"}' "$host" "$host""#,
        );
        let c = run_helper(&ok, "reg.example:5000", Duration::from_secs(5));
        assert_eq!(
            c,
            Some(Credentials {
                username: Some("bob".into()),
                password: PasswordSource::Static(Secret::new("s3cret-reg.example:5000")),
            })
        );
        let token = helper_script(
            d,
            "token",
            r#"printf '{"Username":"<token>","Secret":"refresh"}'"#,
        );
        let c = run_helper(&token, "r", Duration::from_secs(5));
        assert_eq!(
            c.and_then(|c| c.username),
            None,
            "an identity token has no username"
        );
        let missing = helper_script(
            d,
            "missing",
            "echo 'credentials not found in native keychain'; exit 1",
        );
        assert_eq!(run_helper(&missing, "r", Duration::from_secs(5)), None);
        let flood = helper_script(d, "flood", "head -c 200000 /dev/zero");
        assert_eq!(run_helper(&flood, "r", Duration::from_secs(5)), None);
        let started = std::time::Instant::now();
        let hang = helper_script(d, "hang", "exec sleep 30");
        assert_eq!(run_helper(&hang, "r", Duration::from_millis(300)), None);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "killed at the deadline"
        );
        assert_eq!(
            run_helper(
                &d.join("nope").display().to_string(),
                "r",
                Duration::from_secs(1)
            ),
            None
        );
        assert_eq!(
            credential_helper("../evil", "r", Duration::from_secs(1)),
            None,
            "not a plain name"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_auth_file_entry_for_the_registry_comes_before_credsstore() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:pw");
        std::fs::write(
            &f,
            format!(r#"{{"auths":{{"reg.example":{{"auth":"{auth}"}}}},"credsStore":"rahti-test-nonexistent"}}"#),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            lookup_auth_file(&f, "reg.example").and_then(|c| c.username),
            Some("alice".into())
        );
        // Another registry falls through to the store, which is not
        // installed: none.
        assert_eq!(lookup_auth_file(&f, "other.example"), None);
    }
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = parse_challenge(
            r#"Bearer realm="https://r.example/openshift/token",service="reg, one",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://r.example/openshift/token".into(),
                service: Some("reg, one".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn realms_keep_credentials_on_the_registry_or_on_https() {
        let auth = |base: &str| {
            Auth::new(
                "reg",
                &reqwest::Url::parse(base).unwrap_or_else(|e| panic!("{e}")),
                Credentials {
                    username: None,
                    password: PasswordSource::None,
                },
                crate::registry::RetryPolicy::none(),
                Default::default(),
            )
        };
        let https = auth("https://reg.example:5000/");
        assert!(https
            .realm_allowed("https://reg.example/openshift/token")
            .is_ok());
        assert!(https.realm_allowed("https://auth.docker.io/token").is_ok());
        for bad in [
            "http://reg.example/token",
            "http://auth.docker.io/token",
            "https://user:pw@reg.example/token",
            "ftp://reg.example/token",
            "/token",
        ] {
            assert!(https.realm_allowed(bad).is_err(), "{bad}");
        }
        let plain = auth("http://127.0.0.1:5000/");
        assert!(plain.realm_allowed("http://127.0.0.1:5001/token").is_ok());
        assert!(plain.realm_allowed("https://127.0.0.1/token").is_ok());
        assert!(plain.realm_allowed("http://localhost:5001/token").is_err());
        assert!(plain.realm_allowed("https://auth.docker.io/token").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
        let c = Credentials {
            username: Some("u".into()),
            password: PasswordSource::Static(s),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn scope_keys_are_order_free() {
        assert_eq!(
            scope_key(&[Scope::push("b"), Scope::pull("a")]),
            scope_key(&[Scope::pull("a"), Scope::push("b")])
        );
    }

    #[test]
    fn reads_docker_auth_file() {
        let dir = std::env::temp_dir().join(format!("rm-auth-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let f = dir.join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("unused:tok:en");
        let _ = std::fs::write(
            &f,
            format!(r#"{{"auths":{{"https://reg.example:5000":{{"auth":"{auth}"}}}}}}"#),
        );
        let c = lookup_auth_file(&f, "reg.example:5000");
        assert_eq!(
            c,
            Some(Credentials {
                username: Some("unused".into()),
                password: PasswordSource::Static(Secret::new("tok:en"))
            })
        );
        assert_eq!(lookup_auth_file(&f, "other"), None);
    }

    #[tokio::test]
    async fn a_hung_password_command_is_stopped() {
        let argv = vec!["sleep".to_string(), "30".to_string()];
        let t = std::time::Instant::now();
        let e = run_password_command(&argv, Duration::from_millis(200))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("did not finish within"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_slow_token_endpoint_does_not_hold_up_cached_tokens() {
        // A realm that accepts connections and never answers.
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("bind: {e}"),
        };
        let realm = format!(
            "http://{}/token",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        let _keep = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                held.push(c);
            }
        });
        let base = reqwest::Url::parse(&realm).unwrap_or_else(|e| panic!("{e}"));
        let auth = std::sync::Arc::new(Auth::new(
            "reg",
            &base,
            Credentials {
                username: None,
                password: PasswordSource::None,
            },
            crate::registry::RetryPolicy::none(),
            Default::default(),
        ));
        let www = format!(r#"Bearer realm="{realm}",service="reg""#);
        assert_eq!(
            auth.unauthorized(&Sent::default(), Some(&www)).await,
            AfterUnauthorized::Retry
        );
        auth.state().tokens.insert(
            scope_key(&[Scope::pull("b")]),
            Token {
                value: Secret::new("tok-b"),
                proven: true,
                generation: 0,
            },
        );
        let http = reqwest::Client::new();
        let (a2, h2) = (auth.clone(), http.clone());
        let slow = tokio::spawn(async move { a2.authorize(&h2, &[Scope::pull("a")]).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let fast = tokio::time::timeout(
            Duration::from_secs(2),
            auth.authorize(&http, &[Scope::pull("b")]),
        )
        .await;
        assert!(
            matches!(fast, Ok(Ok(ref s)) if s.header() == Some("Bearer tok-b")),
            "a cached token waited for another token's fetch"
        );
        slow.abort();
    }

    #[tokio::test]
    async fn resolves_command_and_env() {
        let c = Credentials {
            username: None,
            password: PasswordSource::Command(vec!["echo".into(), " tok ".into()]),
        };
        assert_eq!(c.resolve().await.ok().flatten(), Some(Secret::new("tok")));
        let c = Credentials {
            username: None,
            password: PasswordSource::Env("RM_TEST_SURELY_UNSET_VAR".into()),
        };
        let e = c
            .resolve()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("RM_TEST_SURELY_UNSET_VAR"), "{e}");
    }
}
