//! URLs, built only from validated names, and where credentials may go: the registry's own paths, `Location` and `Link` resolved against its origin and refused when they leave it (or HTTPS).

use super::*;

impl Client {
    /// A URL under `/v2/{repo}/`, built from validated parts only: a
    /// repository that is not a repository path is refused before any
    /// request (it could otherwise escape the repository, e.g. `../../x`).
    pub(super) fn repo_url(&self, repo: &str, rest: &str) -> Result<String, RegistryError> {
        if !valid_repository(repo) {
            return Err(self.refuse(format!("repository {repo:?}")));
        }
        Ok(self.url(&format!("/v2/{repo}/{rest}")))
    }

    pub(super) fn refuse(&self, what: String) -> RegistryError {
        RegistryError::Protocol {
            url: DisplayUrl::new(&self.url("/v2/")),
            message: format!("refusing to build a URL from {what}: not a valid name"),
        }
    }

    /// The URL of a manifest; the reference must be a tag or a digest.
    pub(super) fn manifest_url(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<String, RegistryError> {
        if !valid_reference(reference) {
            return Err(self.refuse(format!("reference {reference:?}")));
        }
        self.repo_url(repo, &format!("manifests/{reference}"))
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    /// Resolves an upload `Location` against the registry. It may name
    /// another host (object storage); then no credentials are sent to it
    /// (see [`Client::credentials_for`]). Leaving HTTPS for HTTP is refused.
    pub(super) fn resolve(&self, location: &str) -> Result<String, RegistryError> {
        let bad = |message: String| RegistryError::Protocol {
            url: DisplayUrl::new(location),
            message,
        };
        let u = self
            .base
            .join(location)
            .map_err(|e| bad(format!("bad Location header: {e}")))?;
        if self.base.scheme() == "https" && u.scheme() != "https" {
            return Err(bad(format!(
                "refusing a Location that leaves HTTPS for {}",
                u.scheme()
            )));
        }
        Ok(u.to_string())
    }

    /// The next page of a listing from a `Link` header: only its path and
    /// query are kept, on the registry's own host (as containers/image
    /// does), so a hostile `Link` can neither send the registry's
    /// credentials elsewhere nor downgrade to HTTP.
    pub(super) fn next_page(&self, link: &str) -> Result<String, RegistryError> {
        let u = self.base.join(link).map_err(|e| RegistryError::Protocol {
            url: DisplayUrl::new(link),
            message: format!("bad Link header: {e}"),
        })?;
        if !u.path().starts_with("/v2/") {
            return Err(RegistryError::Protocol {
                url: DisplayUrl::new(link),
                message: "Link header points outside /v2/".into(),
            });
        }
        let mut next = self.base.clone();
        next.set_path(u.path());
        next.set_query(u.query());
        Ok(next.to_string())
    }

    /// True when a request to `url` may carry this registry's credentials:
    /// same scheme, host and port as the registry.
    pub(super) fn credentials_for(&self, url: &str) -> bool {
        reqwest::Url::parse(url)
            .map(|u| u.origin() == self.base.origin())
            .unwrap_or(false)
    }

    pub(super) fn commit_url(session: &UploadSession, digest: &Digest) -> String {
        let sep = if session.location.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}digest={digest}", session.location)
    }
}
