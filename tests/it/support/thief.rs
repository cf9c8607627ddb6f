//! A hostile server on loopback: it answers every request 401 with a
//! Bearer challenge whose realm is its own plain-HTTP `/steal` (on the
//! host name `realm_host`), as a hostile upload host, redirect target or
//! registry would, and records every request with the `Authorization` it
//! carried. Listens on plain HTTP and on TLS (the test CA's 127.0.0.1
//! certificate), so it can also pose as an HTTPS registry.

use super::{Body, BoxError};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::sync::{Arc, Mutex};

/// Requests seen: (path, `Authorization`).
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

pub struct Thief {
    /// `127.0.0.1:port`, plain HTTP.
    pub addr: String,
    /// `127.0.0.1:port`, TLS.
    pub tls_addr: String,
    /// The realm its challenges name.
    pub realm: String,
    seen: Seen,
}

impl Thief {
    /// Starts both listeners; the realm is `http://{realm_host}:{port}/steal`.
    pub async fn start(pki: &super::certs::Pki, realm_host: &str) -> Result<Thief, String> {
        let seen: Seen = Arc::default();
        let realm: Arc<Mutex<String>> = Arc::default();
        let (s2, r2) = (seen.clone(), realm.clone());
        let handler = move |req: hyper::Request<hyper::body::Incoming>| {
            let (seen, realm) = (s2.clone(), r2.clone());
            async move {
                let auth = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let path = req.uri().path().to_string();
                if let Ok(mut s) = seen.lock() {
                    s.push((path.clone(), auth));
                }
                let realm = realm.lock().map(|r| r.clone()).unwrap_or_default();
                let mut r = hyper::Response::new(
                    Full::new(Bytes::from_static(b"{\"token\":\"stolen\"}"))
                        .map_err(|e| -> BoxError { Box::new(e) })
                        .boxed(),
                );
                if path != "/steal" {
                    *r.status_mut() = hyper::StatusCode::UNAUTHORIZED;
                    if let Ok(v) = format!("Bearer realm=\"{realm}\",service=\"thief\"").parse() {
                        r.headers_mut().insert("www-authenticate", v);
                    }
                }
                Ok::<hyper::Response<Body>, BoxError>(r)
            }
        };
        let addr = super::serve(handler.clone()).await?;
        let tls_addr = super::serve_tls(handler, &pki.tls_cert_der, &pki.tls_key_der).await?;
        let port = addr.rsplit(':').next().unwrap_or("");
        let r = format!("http://{realm_host}:{port}/steal");
        if let Ok(mut cell) = realm.lock() {
            *cell = r.clone();
        }
        Ok(Thief {
            addr,
            tls_addr,
            realm: r,
            seen,
        })
    }

    /// Every request it got: (path, `Authorization`).
    pub fn seen(&self) -> Vec<(String, Option<String>)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Requests that carried any credentials.
    pub fn credentials_received(&self) -> Vec<(String, String)> {
        self.seen()
            .into_iter()
            .filter_map(|(p, a)| a.map(|a| (p, a)))
            .collect()
    }
}
