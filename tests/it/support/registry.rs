//! Starts Debian's `docker-registry` (CNCF distribution 2.8) on 127.0.0.1
//! with a free port and temporary storage, configured like Rahti 1 (token
//! auth, schema 1 enabled, plain HTTP) or Rahti 2 (token auth over TLS with
//! the test CA). The process dies with the test binary (PDEATHSIG).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub addr: String,
    pub service: String,
    pub tls: bool,
    pub dir: PathBuf,
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a test registry authenticates.
pub enum Auth<'a> {
    /// distribution's token auth: realm, and the certificate tokens are
    /// signed with.
    Token { realm: &'a str, cert: &'a Path },
    /// Basic auth from an htpasswd file (bcrypt).
    Htpasswd(&'a Path),
    /// None: anyone may pull and push.
    Anonymous,
}

pub struct Config<'a> {
    pub service: &'a str,
    pub auth: Auth<'a>,
    pub tls: Option<(&'a Path, &'a Path)>,
    pub schema1: bool,
}

pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

impl Registry {
    pub fn start(dir: &Path, cfg: &Config) -> Result<Registry, String> {
        std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let tls = match cfg.tls {
            Some((c, k)) => format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                c.display(),
                k.display()
            ),
            None => String::new(),
        };
        let yaml = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: {addr}\n  secret: rahti-migrate-test-secret\n{tls}{auth}compatibility:\n  schema1:\n    enabled: {schema1}\nvalidation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n",
            data = dir.join("data").display(),
            auth = match &cfg.auth {
                Auth::Token { realm, cert } => format!(
                    "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    cfg.service,
                    super::token::ISSUER,
                    cert.display()
                ),
                Auth::Htpasswd(file) => format!("auth:\n  htpasswd:\n    realm: {}\n    path: {}\n", cfg.service, file.display()),
                Auth::Anonymous => String::new(),
            },
            schema1 = cfg.schema1,
        );
        let conf = dir.join("config.yml");
        std::fs::File::create(&conf)
            .and_then(|mut f| f.write_all(yaml.as_bytes()))
            .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("registry.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to
        // kill the registry when this test process exits.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // PDEATHSIG fires when the spawning *thread* ends, so the spawn
        // happens on a thread that lives as long as the test binary.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        });
        let child = rx.recv().map_err(|e| e.to_string())?.map_err(|e| {
            format!("starting docker-registry (apt-get install docker-registry): {e}")
        })?;
        let r = Registry {
            addr: addr.clone(),
            service: cfg.service.to_string(),
            tls: cfg.tls.is_some(),
            dir: dir.to_path_buf(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
                return Err(format!("docker-registry did not start on {addr}: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(r)
    }

    pub fn base_url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Every file the registry keeps for repositories under `prefix`
    /// (blob links, manifests, tags, uploads): for "nothing was written".
    pub fn stored_files(&self, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        let root = self
            .dir
            .join("data/docker/registry/v2/repositories")
            .join(prefix);
        walk(&root, &mut out);
        out.sort();
        out
    }
}

fn walk(p: &Path, out: &mut Vec<String>) {
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path.display().to_string());
            }
        }
    }
}
