//! The registry error type: what failed, where (URL without query string or
//! credentials), the registry's own diagnostics, and how many retries were
//! made.

use crate::model::printable;
use std::fmt;

/// A URL shown without its query string (upload `_state`, tokens) and
/// without any userinfo.
#[derive(Clone, PartialEq, Eq)]
pub struct DisplayUrl(String);

impl DisplayUrl {
    /// Wraps `url`, dropping what must not be shown.
    pub fn new(url: &str) -> Self {
        let no_query = url.split(['?', '#']).next().unwrap_or("");
        let shown = match no_query.split_once("://") {
            Some((scheme, rest)) => {
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let host = host.rsplit('@').next().unwrap_or(host);
                format!("{scheme}://{host}{path}")
            }
            None => no_query.to_string(),
        };
        DisplayUrl(shown)
    }
}

impl fmt::Display for DisplayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DisplayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Everything that can go wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered with a status the operation does not accept.
    #[error("{method} {url}: HTTP {status}{detail}{}", retries_note(*.retries))]
    Status {
        /// HTTP method.
        method: String,
        /// Where.
        url: DisplayUrl,
        /// The status code.
        status: u16,
        /// The registry's error codes and messages, prefixed with ": ".
        detail: String,
        /// Retries made before giving up.
        retries: u32,
        /// The wait the registry asked for (`Retry-After`), already capped.
        retry_after: Option<std::time::Duration>,
    },
    /// The connection failed (refused, reset, timed out, body cut short).
    #[error("{method} {url}: {message}{}", retries_note(*.retries))]
    Transport {
        /// HTTP method.
        method: String,
        /// Where.
        url: DisplayUrl,
        /// The transport's message (never contains headers).
        message: String,
        /// Retries made before giving up.
        retries: u32,
    },
    /// Credentials were refused, or a token could not be had.
    #[error("authentication to {registry} failed: {reason}")]
    Auth {
        /// Registry host.
        registry: String,
        /// Why, without any secret.
        reason: String,
    },
    /// A password source could not be read.
    #[error("{0}")]
    Credentials(String),
    /// Content did not match its digest or size.
    #[error("{what} {url}: expected {expected}, got {actual}")]
    Mismatch {
        /// "digest mismatch" or "size mismatch".
        what: &'static str,
        /// Where the content came from.
        url: DisplayUrl,
        /// What the manifest said.
        expected: String,
        /// What arrived.
        actual: String,
    },
    /// An answer that arrived damaged (a list page that does not decode):
    /// worth another read.
    #[error("{url}: {message}")]
    Damaged {
        /// Where.
        url: DisplayUrl,
        /// What was wrong.
        message: String,
    },
    /// The registry's answer does not make sense (missing header, bad JSON).
    #[error("{url}: {message}")]
    Protocol {
        /// Where.
        url: DisplayUrl,
        /// What was wrong.
        message: String,
    },
    /// The HTTP client could not be built (bad CA file, ...).
    #[error("setting up the connection to {registry}: {message}")]
    Setup {
        /// Registry host.
        registry: String,
        /// What failed.
        message: String,
    },
}

fn retries_note(retries: u32) -> String {
    match retries {
        0 => String::new(),
        1 => " (after 1 retry)".to_string(),
        n => format!(" (after {n} retries)"),
    }
}

impl RegistryError {
    /// True for failures another attempt may cure: connection trouble,
    /// 408/429/5xx, and content that arrived damaged. A 401 is not: the
    /// request path already renewed the credentials once before giving it
    /// (a token that expired mid-upload comes back as a transport error).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Transport { .. }
            | RegistryError::Mismatch { .. }
            | RegistryError::Damaged { .. } => true,
            RegistryError::Status { status, .. } => super::retry::is_transient_status(*status),
            _ => false,
        }
    }

    /// The delay the registry asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            RegistryError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Records how many retries were made before this error was final.
    pub fn with_retries(mut self, n: u32) -> Self {
        match &mut self {
            RegistryError::Status { retries, .. } | RegistryError::Transport { retries, .. } => {
                *retries = n
            }
            _ => {}
        }
        self
    }
}

/// A transport error's message, without the URL reqwest would add (the
/// caller shows a redacted one) and with the underlying causes.
pub fn transport_message(e: &reqwest::Error) -> String {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_body() || e.is_decode() {
        "response body failed".to_string()
    } else if e.is_request() {
        "request failed".to_string()
    } else {
        "HTTP error".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// The registry's error envelope: `{"errors":[{"code","message"}]}`.
#[derive(serde::Deserialize)]
struct Envelope {
    errors: Vec<EnvelopeError>,
}

#[derive(serde::Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// At most this many characters of a registry's diagnostics are shown.
const DETAIL_CHARS: usize = 500;

/// Turns an error body into ": CODE message; CODE message" (or the start of
/// the body when it is not the registry envelope), shortened and with
/// control characters escaped: it reaches terminals and logs.
pub fn body_detail(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        let parts: Vec<String> = env
            .errors
            .iter()
            .map(|e| format!("{} {}", e.code, e.message).trim().to_string())
            .collect();
        if !parts.is_empty() {
            let joined: String = parts.join("; ").chars().take(DETAIL_CHARS).collect();
            return format!(": {}", printable(&joined));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(DETAIL_CHARS).collect();
    format!(": {}", printable(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_url_hides_query_and_userinfo() {
        assert_eq!(
            DisplayUrl::new("https://u:p@reg.example/v2/a/blobs/uploads/x?_state=abc&digest=d")
                .to_string(),
            "https://reg.example/v2/a/blobs/uploads/x"
        );
        assert_eq!(
            DisplayUrl::new("http://127.0.0.1:5000/token?scope=x").to_string(),
            "http://127.0.0.1:5000/token"
        );
    }

    #[test]
    fn envelope_detail() {
        let b = br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"x"}]}"#;
        assert_eq!(body_detail(b), ": BLOB_UNKNOWN blob unknown to registry");
        assert_eq!(body_detail(b"oops"), ": oops");
        assert_eq!(body_detail(b""), "");
        let hostile = br#"{"errors":[{"code":"DENIED","message":"[2J[31mgive me your token
error: fake line"}]}"#;
        let d = body_detail(hostile);
        assert!(!d.chars().any(char::is_control), "{d:?}");
        assert!(d.contains("\\u{1b}[2J"), "{d}");
        assert!(body_detail(&[b'x'; 100_000]).len() < 600);
    }

    #[test]
    fn status_error_names_retries() {
        let e = RegistryError::Status {
            method: "GET".into(),
            url: DisplayUrl::new("http://r/v2/"),
            status: 503,
            detail: String::new(),
            retries: 0,
            retry_after: None,
        }
        .with_retries(3);
        assert_eq!(
            e.to_string(),
            "GET http://r/v2/: HTTP 503 (after 3 retries)"
        );
        assert!(e.is_transient());
        for status in [400, 401, 403, 404] {
            let e = RegistryError::Status {
                method: "GET".into(),
                url: DisplayUrl::new("http://r/v2/"),
                status,
                detail: String::new(),
                retries: 0,
                retry_after: None,
            };
            assert!(!e.is_transient(), "{status} is final");
        }
    }
}
