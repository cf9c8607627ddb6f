//! Credentials: who we are to a registry and where the password comes
//! from (the plan's password sources, or the auth files skopeo and podman
//! read, credential helpers included), and `Secret`, which never prints.
//! `auth` turns them into the headers a registry's challenge asks for.

use super::error::RegistryError;
use base64::Engine as _;
use std::fmt;
use std::path::{Path, PathBuf};
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

#[cfg(test)]
mod tests {
    use super::*;

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
