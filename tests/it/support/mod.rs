//! The integration-test harness, shared by all tests of one test binary:
//! a token server, a Rahti-1-like registry (token auth, schema 1, plain
//! HTTP) and a Rahti-2-like registry (token auth over TLS with a test CA),
//! all on 127.0.0.1 with free ports and temporary storage, started once.
//! Tests use their own repository names (see [`Harness::unique`]).

pub mod certs;
pub mod cli;
pub mod containers;
pub mod fixtures;
pub mod openshift;
pub mod other;
pub mod project;
pub mod proxy;
pub mod registry;
pub mod schema1;
pub mod skopeo;
pub mod thief;
pub mod token;

use http_body_util::combinators::BoxBody;
use hyper::body::Bytes;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

pub const R1_USER: &str = "alice";
pub const R1_PASS: &str = "r1-secret-password";
pub const R2_USER: &str = "bob";
pub const R2_PASS: &str = "r2-secret-password";

/// A binary built beside the running example
/// (`target/<profile>/examples/x` -> `target/<profile>/<name>`).
#[allow(dead_code)] // the demo's and the bench's, not the tests'
pub fn sibling_binary(name: &str) -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.parent()
        .and_then(Path::parent)
        .map(|p| p.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A listener on a fresh 127.0.0.1 port, and its `127.0.0.1:port`.
pub async fn loopback() -> Result<(tokio::net::TcpListener, String), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string();
    Ok((listener, addr))
}

/// Serves `handler` on a fresh 127.0.0.1 port on the current runtime.
pub async fn serve<F, Fut>(handler: F) -> Result<String, String>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<Body>, BoxError>> + Send + 'static,
{
    let (listener, addr) = loopback().await?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let h = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(h);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// Serves `handler` over TLS (with `cert_der` and `key_der`) on a fresh
/// 127.0.0.1 port on the current runtime.
pub async fn serve_tls<F, Fut>(
    handler: F,
    cert_der: &[u8],
    key_der: &[u8],
) -> Result<String, String>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<Body>, BoxError>> + Send + 'static,
{
    use tokio_rustls::rustls;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls::pki_types::CertificateDer::from(cert_der.to_vec())],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key_der.to_vec().into()),
        )
        .map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let (listener, addr) = loopback().await?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (h, acceptor) = (handler.clone(), acceptor.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(h);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    Ok(addr)
}

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub pki: certs::Pki,
    pub tokens: token::TokenServer,
    pub rahti1: registry::Registry,
    pub rahti2: registry::Registry,
    pub r1: fixtures::Pusher,
    pub r2: fixtures::Pusher,
    extra: std::sync::Mutex<Option<Extra>>,
}

static HARNESS: OnceLock<Result<Harness, String>> = OnceLock::new();
/// The harness's temporary directory, removed when the process exits
/// (statics are never dropped, so `TempDir` alone would leave it behind).
static ROOT: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_root() {
    if let Some(p) = ROOT.get() {
        let _ = std::fs::remove_dir_all(p);
    }
}

pub fn harness() -> &'static Harness {
    match HARNESS.get_or_init(start) {
        Ok(h) => h,
        Err(e) => panic!("test harness failed to start: {e}"),
    }
}

fn start() -> Result<Harness, String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let dir = tempfile::Builder::new()
        .prefix("rahti-migrate-test-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    if ROOT.set(dir.path().to_path_buf()).is_ok() {
        // SAFETY: registers a plain function to run at normal exit.
        unsafe { libc::atexit(remove_root) };
    }
    let pki = certs::make(dir.path())?;
    let signer = token::Signer::new(&pki.token_cert_der, &pki.token_key_pem)?;
    let tokens = rt.block_on(token::TokenServer::start(
        signer.clone(),
        (&pki.tls_cert_der, &pki.tls_key_der),
    ))?;
    tokens.set_passwords(R1_USER, &[R1_PASS]);
    tokens.set_passwords(R2_USER, &[R2_PASS]);
    let rahti1 = registry::Registry::start(
        &dir.path().join("rahti1"),
        &registry::Config {
            service: "rahti1-registry",
            auth: registry::Auth::Token {
                realm: &tokens.realm(),
                cert: &pki.token_cert_file,
            },
            tls: None,
            schema1: true,
        },
    )?;
    let rahti2 = registry::Registry::start(
        &dir.path().join("rahti2"),
        &registry::Config {
            service: "rahti2-registry",
            // An HTTPS registry names an HTTPS realm (as Rahti 2 does):
            // credentials never travel in cleartext.
            auth: registry::Auth::Token {
                realm: &tokens.realm_tls(),
                cert: &pki.token_cert_file,
            },
            tls: Some((&pki.tls_cert, &pki.tls_key)),
            schema1: false,
        },
    )?;
    let (r1, r2) = pushers(&pki, signer, &rahti1, &rahti2)?;
    Ok(Harness {
        rt,
        dir,
        pki,
        tokens,
        rahti1,
        rahti2,
        r1,
        r2,
        extra: std::sync::Mutex::new(None),
    })
}

/// Clients that seed each registry directly (plain HTTP for Rahti 1, the
/// test CA for Rahti 2), signing their own tokens.
fn pushers(
    pki: &certs::Pki,
    signer: token::Signer,
    rahti1: &registry::Registry,
    rahti2: &registry::Registry,
) -> Result<(fixtures::Pusher, fixtures::Pusher), String> {
    let ca = std::fs::read(&pki.ca_file).map_err(|e| e.to_string())?;
    let ca = reqwest::Certificate::from_pem(&ca).map_err(|e| e.to_string())?;
    let plain = reqwest::Client::builder()
        .build()
        .map_err(|e| e.to_string())?;
    let tls = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .map_err(|e| e.to_string())?;
    let r1 = fixtures::Pusher {
        http: plain,
        base: rahti1.base_url(),
        signer: signer.clone(),
        service: rahti1.service.clone(),
    };
    let r2 = fixtures::Pusher {
        http: tls,
        base: rahti2.base_url(),
        signer,
        service: rahti2.service.clone(),
    };
    Ok((r1, r2))
}

/// Two more registries, started on first use: one with Basic auth
/// (htpasswd, user `carol`), one without any auth.
pub struct Extra {
    pub basic: registry::Registry,
    pub open: registry::Registry,
}

pub const BASIC_USER: &str = "carol";
pub const BASIC_PASS: &str = "basic-secret-password";

impl Harness {
    pub fn extra(&self) -> std::sync::MutexGuard<'_, Option<Extra>> {
        let mut g = self.extra.lock().unwrap_or_else(|p| p.into_inner());
        if g.is_none() {
            let hash = bcrypt::hash_with_salt(BASIC_PASS, 4, *b"rahti-migrate-16")
                .map(|h| h.to_string())
                .unwrap_or_else(|e| panic!("bcrypt: {e}"));
            let file = self.dir.path().join("htpasswd");
            std::fs::write(&file, format!("{BASIC_USER}:{hash}\n"))
                .unwrap_or_else(|e| panic!("{e}"));
            let basic = registry::Registry::start(
                &self.dir.path().join("basic"),
                &registry::Config {
                    service: "basic-registry",
                    auth: registry::Auth::Htpasswd(&file),
                    tls: None,
                    schema1: false,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let open = registry::Registry::start(
                &self.dir.path().join("open"),
                &registry::Config {
                    service: "open-registry",
                    auth: registry::Auth::Anonymous,
                    tls: None,
                    schema1: false,
                },
            )
            .unwrap_or_else(|e| panic!("{e}"));
            *g = Some(Extra { basic, open });
        }
        g
    }
}

/// Options for a test plan.
pub struct PlanOpts<'a> {
    pub source_addr: Option<&'a str>,
    pub options: &'a str,
    pub images: &'a str,
    pub source_password: Option<&'a str>,
    /// Replaces the source's `password_file` line (e.g. a password_command).
    pub source_auth: Option<&'a str>,
}

impl Default for PlanOpts<'_> {
    fn default() -> Self {
        PlanOpts {
            source_addr: None,
            options: "retries = 2",
            images: "",
            source_password: None,
            source_auth: None,
        }
    }
}

impl Harness {
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A name no other test uses.
    pub fn unique(&self, prefix: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!("{prefix}{}", N.fetch_add(1, Ordering::Relaxed))
    }

    /// Writes a plan into a new temporary directory, which lives as long
    /// as the returned guard (the journal goes there too).
    pub fn temp_plan(&self, o: PlanOpts) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tmp");
        let plan = self.plan(dir.path(), o);
        (dir, plan)
    }

    /// Writes a plan into `dir` for Rahti-1 -> Rahti-2 with password files.
    pub fn plan(&self, dir: &Path, o: PlanOpts) -> PathBuf {
        let w = |name: &str, data: &str| {
            let p = dir.join(name);
            std::fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        };
        w("r1.pass", o.source_password.unwrap_or(R1_PASS));
        w("r2.pass", R2_PASS);
        let text = format!(
            r#"version = 1
[source]
registry = "{src}"
insecure = true
username = "{R1_USER}"
{src_auth}
[target]
registry = "{dst}"
ca_file = "{ca}"
username = "{R2_USER}"
password_file = "r2.pass"
[options]
{opts}
{images}
"#,
            src = o.source_addr.unwrap_or(&self.rahti1.addr),
            src_auth = o.source_auth.unwrap_or("password_file = \"r1.pass\""),
            dst = self.rahti2.addr,
            ca = self.pki.ca_file.display(),
            opts = o.options,
            images = o.images,
        );
        let p = dir.join("migration.toml");
        w("migration.toml", &text);
        p
    }

    /// Points `plan`'s target at `proxy` (plain HTTP in front of the TLS
    /// registry).
    pub fn target_via(&self, plan: &Path, proxy: &proxy::Proxy) {
        let text = std::fs::read_to_string(plan)
            .unwrap_or_else(|e| panic!("read {}: {e}", plan.display()))
            .replace(
                &format!("registry = \"{}\"", self.rahti2.addr),
                &format!("registry = \"{}\"\ninsecure = true", proxy.addr),
            );
        std::fs::write(plan, text).unwrap_or_else(|e| panic!("write {}: {e}", plan.display()));
    }

    /// The digest `repo:tag` has in the target ("" when it is absent).
    pub fn target_digest(&self, reference: &str) -> String {
        let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, ""));
        self.block_on(self.r2.get_manifest(repo, tag))
            .map(|g| g.digest)
            .unwrap_or_default()
    }

    /// A fault proxy in front of the Rahti-1-like source.
    pub fn proxy_r1(&self) -> proxy::Proxy {
        self.block_on(proxy::Proxy::start(self.rahti1.base_url(), None))
            .unwrap_or_else(|e| panic!("proxy: {e}"))
    }

    /// A fault proxy (plain HTTP) in front of the Rahti-2-like target.
    pub fn proxy_r2(&self) -> proxy::Proxy {
        self.block_on(proxy::Proxy::start(
            self.rahti2.base_url(),
            Some(&self.pki.ca_file),
        ))
        .unwrap_or_else(|e| panic!("proxy: {e}"))
    }
}
