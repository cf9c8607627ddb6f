//! The registry auth dance: `WWW-Authenticate` challenges, Basic, and
//! Bearer tokens fetched from the realm per scope, cached, and renewed when
//! a token that worked before is refused (OpenShift tokens expire;
//! `password_command` is then run again). Who we are and where passwords
//! come from is `credentials`; secrets live in [`Secret`], whose `Debug`
//! and `Display` never show them.

use super::credentials::{Credentials, Secret};
use super::error::{DisplayUrl, RegistryError};
use base64::Engine as _;
use std::collections::HashMap;

use std::sync::Mutex;

/// The largest token response read (a token is a few KB).
pub const TOKEN_RESPONSE_LIMIT: usize = 1 << 20;

/// A header value marked sensitive, so HTTP-level debug output hides it.
pub fn sensitive(value: &str) -> Option<reqwest::header::HeaderValue> {
    let mut v = reqwest::header::HeaderValue::from_str(value).ok()?;
    v.set_sensitive(true);
    Some(v)
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
                Ok(resp) if resp.status().is_success() => return self.read_token(resp, &url).await,
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
                    return Err(self.refused(&url, resp.status().as_u16(), scopes, password))
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

    /// The token in a token endpoint's successful answer (`token`, or
    /// OAuth2's `access_token`), read under its size cap.
    async fn read_token(
        &self,
        resp: reqwest::Response,
        url: &DisplayUrl,
    ) -> Result<Secret, RegistryError> {
        let body = super::client::read_capped(resp, TOKEN_RESPONSE_LIMIT, self.limits)
            .await
            .map_err(|message| RegistryError::Auth {
                registry: self.registry.clone(),
                reason: format!("token endpoint {url}: {message}"),
            })?;
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| RegistryError::Auth {
            registry: self.registry.clone(),
            reason: format!("token endpoint {url} answered with bad JSON: {e}"),
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| RegistryError::Auth {
                registry: self.registry.clone(),
                reason: format!("token endpoint {url} returned no token"),
            })
    }

    /// A token endpoint that refused the request for good.
    fn refused(
        &self,
        url: &DisplayUrl,
        status: u16,
        scopes: &[Scope],
        password: Option<&Secret>,
    ) -> RegistryError {
        RegistryError::Auth {
            registry: self.registry.clone(),
            reason: format!(
                "token endpoint {url} answered HTTP {status} for scope {}{}",
                scope_key(scopes),
                if password.is_none() {
                    " (no credentials configured)"
                } else {
                    ""
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::credentials::PasswordSource;
    use std::time::Duration;

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
    fn scope_keys_are_order_free() {
        assert_eq!(
            scope_key(&[Scope::push("b"), Scope::pull("a")]),
            scope_key(&[Scope::pull("a"), Scope::push("b")])
        );
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
}
