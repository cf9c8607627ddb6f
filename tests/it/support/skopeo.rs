//! Runs Debian's skopeo (the oracle) against the harness registries. Calls
//! are serialized: skopeo keeps a blob-info cache in one bolt file.

use super::{Harness, R1_PASS, R1_USER, R2_PASS, R2_USER};
use std::process::Command;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Which registry a reference lives in.
#[derive(Clone, Copy)]
pub enum Reg<'a> {
    Rahti1,
    Rahti2,
    /// A plain-HTTP registry at this address, any credentials (the
    /// second implementation, `support::other`).
    Plain(&'a str),
}

/// A directory with the test CA as `ca.crt`, for `--cert-dir`.
pub fn cert_dir(h: &Harness) -> String {
    let dir = h.dir.path().join("skopeo-certs");
    if !dir.join("ca.crt").exists() {
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::copy(&h.pki.ca_file, dir.join("ca.crt"));
    }
    dir.display().to_string()
}

fn side(h: &Harness, r: Reg, prefix: &str, args: &mut Vec<String>) -> String {
    match r {
        Reg::Rahti1 => {
            args.push(format!("--{prefix}-tls-verify=false"));
            args.push(format!("--{prefix}-creds={R1_USER}:{R1_PASS}"));
            h.rahti1.addr.clone()
        }
        Reg::Rahti2 => {
            args.push(format!("--{prefix}-cert-dir={}", cert_dir(h)));
            args.push(format!("--{prefix}-creds={R2_USER}:{R2_PASS}"));
            h.rahti2.addr.clone()
        }
        Reg::Plain(addr) => {
            args.push(format!("--{prefix}-tls-verify=false"));
            args.push(format!("--{prefix}-creds=other:other-password"));
            addr.to_string()
        }
    }
}

/// `skopeo copy [extra] docker://SRC docker://DST`.
pub fn copy(h: &Harness, extra: &[&str], src: (Reg, &str), dst: (Reg, &str)) -> Result<(), String> {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut args: Vec<String> = vec!["copy".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let s = side(h, src.0, "src", &mut args);
    let d = side(h, dst.0, "dest", &mut args);
    args.push(format!("docker://{s}/{}", src.1));
    args.push(format!("docker://{d}/{}", dst.1));
    // skopeo uploads a schema 1 image's repeated empty layer from several
    // goroutines at once, and distribution can answer one of them 500
    // while another rewrites the repository's link file for that blob (the
    // race rahti-migrate avoids with one write per repository and blob).
    // That is the oracle failing, not the code under test: try again.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let out = Command::new("skopeo")
            .args(&args)
            .output()
            .map_err(|e| format!("running skopeo (apt-get install skopeo): {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if attempts < 3 && err.contains("500 (Internal Server Error)") {
            continue;
        }
        return Err(format!("skopeo {}: {err}", args.join(" ")));
    }
}
