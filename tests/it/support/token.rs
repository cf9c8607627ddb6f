//! A test token server in the style of distribution's token auth (and
//! OpenShift's `/openshift/token`): checks Basic credentials, and returns a
//! JWT signed with the test key, carrying the signing certificate in `x5c`,
//! granting the requested repository actions. It counts what it issues.

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub const ISSUER: &str = "rahti-migrate-test-issuer";

#[derive(Clone)]
pub struct Signer {
    key: Arc<jsonwebtoken::EncodingKey>,
    x5c: String,
}

impl Signer {
    pub fn new(cert_der: &[u8], key_pem: &str) -> Result<Signer, String> {
        Ok(Signer {
            key: Arc::new(
                jsonwebtoken::EncodingKey::from_ec_pem(key_pem.as_bytes())
                    .map_err(|e| format!("token key: {e}"))?,
            ),
            x5c: base64::engine::general_purpose::STANDARD.encode(cert_der),
        })
    }

    /// A token for `service` granting `scopes` (`repository:name:actions`).
    pub fn token(&self, subject: &str, service: &str, scopes: &[String]) -> Result<String, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs() as i64;
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let mut parts = s.splitn(3, ':');
                let (t, rest) = (parts.next()?, parts.collect::<Vec<_>>());
                if rest.len() != 2 {
                    return None;
                }
                let (name, actions) = (rest[0], rest[1]);
                let acts: Vec<&str> = actions.split(',').collect();
                Some(serde_json::json!({"type": t, "name": name, "actions": acts}))
            })
            .collect();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": subject, "aud": service,
            "exp": now + 3600, "nbf": now - 10, "iat": now,
            "jti": format!("{now}-{}", rand_id()),
            "access": access,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.x5c = Some(vec![self.x5c.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| format!("sign: {e}"))
    }
}

fn rand_id() -> u64 {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed) as u64
}

pub struct TokenServer {
    pub addr: String,
    /// The same endpoint over TLS (the test CA's 127.0.0.1 certificate).
    pub tls_addr: String,
    /// username -> accepted passwords.
    pub users: Arc<Mutex<HashMap<String, Vec<String>>>>,
}

impl TokenServer {
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The realm over HTTPS, for the HTTPS registry.
    pub fn realm_tls(&self) -> String {
        format!("https://{}/token", self.tls_addr)
    }

    pub fn set_passwords(&self, user: &str, passwords: &[&str]) {
        if let Ok(mut u) = self.users.lock() {
            u.insert(
                user.to_string(),
                passwords.iter().map(|s| s.to_string()).collect(),
            );
        }
    }

    pub async fn start(signer: Signer, tls: (&[u8], &[u8])) -> Result<TokenServer, String> {
        let users: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
        let issued: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let refused = Arc::new(AtomicUsize::new(0));
        let (u2, i2, r2, s2) = (
            users.clone(),
            issued.clone(),
            refused.clone(),
            signer.clone(),
        );
        let handler = move |req: Request<hyper::body::Incoming>| {
            let (users, issued, refused, signer) = (u2.clone(), i2.clone(), r2.clone(), s2.clone());
            async move {
                let r = handle(req, &users, &issued, &refused, &signer);
                Ok::<_, super::BoxError>(
                    r.map(|b| b.map_err(|e| -> super::BoxError { Box::new(e) }).boxed()),
                )
            }
        };
        let addr = super::serve(handler.clone()).await?;
        let tls_addr = super::serve_tls(handler, tls.0, tls.1).await?;
        Ok(TokenServer {
            addr,
            tls_addr,
            users,
        })
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn handle(
    req: Request<hyper::body::Incoming>,
    users: &Mutex<HashMap<String, Vec<String>>>,
    issued: &Mutex<HashMap<String, usize>>,
    refused: &AtomicUsize,
    signer: &Signer,
) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or("").to_string();
    let mut service = String::new();
    let mut scopes = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "service" => service = v,
            "scope" => scopes.extend(v.split(' ').map(str::to_string)),
            _ => {}
        }
    }
    let creds = req
        .headers()
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let subject = match creds {
        None => {
            // Anonymous: a token that grants nothing (as OpenShift's
            // "anonymous" token does for private projects).
            scopes.clear();
            "anonymous".to_string()
        }
        Some(c) => {
            let (user, pass) = c.split_once(':').unwrap_or((&c, ""));
            let ok = users
                .lock()
                .map(|u| {
                    u.get(user)
                        .map(|ps| ps.iter().any(|p| p == pass))
                        .unwrap_or(false)
                })
                .unwrap_or(false);
            if !ok {
                refused.fetch_add(1, Ordering::Relaxed);
                return reply(
                    StatusCode::UNAUTHORIZED,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.into(),
                );
            }
            user.to_string()
        }
    };
    match signer.token(&subject, &service, &scopes) {
        Ok(t) => {
            if let Ok(mut m) = issued.lock() {
                *m.entry(service).or_default() += 1;
            }
            reply(
                StatusCode::OK,
                serde_json::json!({"token": t, "access_token": t, "expires_in": 3600}).to_string(),
            )
        }
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}
