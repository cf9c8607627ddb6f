//! Manifests: `GET` (capped, parsed, digest checked), `HEAD` (with a `GET` fallback when the registry sends no digest) and `PUT`.

use super::*;

impl Client {
    pub(super) fn accept_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&media::MANIFEST_ACCEPT.join(", ")) {
            h.insert(ACCEPT, v);
        }
        h
    }

    /// Fetches a manifest by tag or digest and checks its digest.
    pub async fn manifest_get(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let url = self.manifest_url(repo, reference)?;
        let req =
            Request::new(Method::GET, url.clone(), &scopes).with_headers(Self::accept_headers());
        let by_digest = reference.parse::<Digest>().ok();
        self.read_decoded(&req, MANIFEST_READ_LIMIT, |headers, raw| {
            let ct = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
            let header_digest = headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            let expected = by_digest.clone().or(header_digest);
            let mismatch = |exp: &Digest, actual: &Digest| RegistryError::Mismatch {
                what: "manifest digest mismatch",
                url: DisplayUrl::new(&url),
                expected: exp.to_string(),
                actual: actual.to_string(),
            };
            let raw = Bytes::from(raw);
            match (Manifest::parse(ct, raw.clone()), expected) {
                (Ok(m), Some(exp)) => {
                    let actual = m.digest_like(&exp);
                    if exp != actual {
                        return Err(mismatch(&exp, &actual));
                    }
                    Ok(m)
                }
                (Ok(m), None) => Ok(m),
                // Bytes that do not parse and do not match their digest
                // were damaged on the way.
                (Err(e), expected) => match expected.map(|exp| (exp.recompute(&raw), exp)) {
                    Some((got, exp)) if got != exp => Err(mismatch(&exp, &got)),
                    _ => Err(RegistryError::Protocol {
                        url: DisplayUrl::new(&url),
                        message: e.to_string(),
                    }),
                },
            }
        })
        .await
    }

    /// The digest a tag or digest reference points at, or `None` if absent.
    pub async fn manifest_head(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let req = Request::new(Method::HEAD, self.manifest_url(repo, reference)?, &scopes)
            .with_headers(Self::accept_headers());
        let Some(resp) = self.head(req).await? else {
            return Ok(None);
        };
        let header = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        match header {
            Some(d) => Ok(Some(d)),
            // The spec makes the header optional: the manifest is there,
            // and its digest is that of the body.
            None => match self.manifest_get(repo, reference).await {
                Ok(m) => Ok(Some(m.digest)),
                Err(RegistryError::Status { status: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Pushes a manifest under `reference` (tag or digest); returns the
    /// digest the registry assigned.
    pub async fn manifest_put(
        &self,
        repo: &str,
        reference: &str,
        raw: Bytes,
        media_type: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        self.manifest_put_with(repo, reference, raw, media_type, &self.policy)
            .await
    }

    /// [`Client::manifest_put`] in one attempt: for a schema 1 manifest,
    /// which many registries refuse (distribution without schema 1 answers
    /// 500, not 400), so that the refusal is known at once.
    pub async fn manifest_put_once(
        &self,
        repo: &str,
        reference: &str,
        raw: Bytes,
        media_type: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        self.manifest_put_with(repo, reference, raw, media_type, &RetryPolicy::none())
            .await
    }

    pub(super) async fn manifest_put_with(
        &self,
        repo: &str,
        reference: &str,
        raw: Bytes,
        media_type: &str,
        policy: &RetryPolicy,
    ) -> Result<Option<Digest>, RegistryError> {
        let scopes = [Scope::push(repo)];
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(media_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        let req = Request::new(Method::PUT, self.manifest_url(repo, reference)?, &scopes)
            .with_headers(headers)
            .with_body(Body::Bytes(raw));
        let (resp, retries) = self.send(&req, policy).await?;
        let resp = self.expect(&req, resp, retries, &[200, 201]).await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()))
    }
}
