//! Blobs: `HEAD`, sizes by a one-byte range, streamed `GET`s (resumable with `Range`) and small whole reads.

use super::*;

impl Client {
    /// Whether `repo` holds a blob, and its size when the registry says
    /// (the spec makes `Content-Length` on a blob `HEAD` a should: a
    /// registry that omits it holds the blob all the same).
    pub async fn blob_head(&self, repo: &str, digest: &Digest) -> Result<BlobStat, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let req = Request::new(
            Method::HEAD,
            self.repo_url(repo, &format!("blobs/{digest}"))?,
            &scopes,
        );
        let Some(resp) = self.head(req).await? else {
            return Ok(BlobStat::Absent);
        };
        Ok(BlobStat::Present(
            resp.headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        ))
    }

    /// The size of a blob from a one-byte ranged `GET` (`Content-Range:
    /// bytes 0-0/N`), for a registry whose `HEAD` gives none; `None` when
    /// the answer does not say.
    pub async fn blob_size_by_range(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::RANGE,
            HeaderValue::from_static("bytes=0-0"),
        );
        let req = Request::new(
            Method::GET,
            self.repo_url(repo, &format!("blobs/{digest}"))?,
            &scopes,
        )
        .with_headers(headers);
        let (resp, retries) = self.send(&req, &self.policy).await?;
        let resp = self.expect(&req, resp, retries, &[200, 206]).await?;
        let total = match resp.status().as_u16() {
            206 => resp
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit_once('/'))
                .and_then(|(_, n)| n.trim().parse().ok()),
            _ => resp.content_length(),
        };
        drop(resp);
        Ok(total)
    }

    /// Starts reading a blob. One attempt: the caller retries the whole
    /// transfer, so a failure mid-body and a failed request share one
    /// budget. Redirects (to object storage) are followed; reqwest drops
    /// `Authorization` when a redirect leaves the registry's host.
    pub async fn blob_get(&self, repo: &str, digest: &Digest) -> Result<Response, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let req = Request::new(
            Method::GET,
            self.repo_url(repo, &format!("blobs/{digest}"))?,
            &scopes,
        );
        self.call_once(req, &[200]).await
    }

    /// Reads a small blob (a config) whole, retrying like any plain request,
    /// and checks its digest.
    pub async fn blob_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        limit: usize,
    ) -> Result<Bytes, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let url = self.repo_url(repo, &format!("blobs/{digest}"))?;
        let req = Request::new(Method::GET, url.clone(), &scopes);
        self.read_decoded(&req, limit, |_, body| {
            let got = digest.recompute(&body);
            if &got != digest {
                return Err(RegistryError::Mismatch {
                    what: "digest mismatch",
                    url: DisplayUrl::new(&url),
                    expected: digest.to_string(),
                    actual: got.to_string(),
                });
            }
            Ok(Bytes::from(body))
        })
        .await
    }

    /// Starts reading a blob at byte `offset` (`Range: bytes=offset-`), in
    /// one attempt. The answer may be 206 (the range) or 200 (the registry
    /// ignores ranges: the whole blob); [`Client::range_start`] says which.
    pub async fn blob_get_from(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<Response, RegistryError> {
        let scopes = [Scope::pull(repo)];
        let mut headers = HeaderMap::new();
        if offset > 0 {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes={offset}-")) {
                headers.insert(reqwest::header::RANGE, v);
            }
        }
        let req = Request::new(
            Method::GET,
            self.repo_url(repo, &format!("blobs/{digest}"))?,
            &scopes,
        )
        .with_headers(headers);
        self.call_once(req, &[200, 206]).await
    }

    /// Where a blob response starts: 0 for a 200, the first byte of
    /// `Content-Range` for a 206 (`None` when that header is unreadable).
    pub fn range_start(resp: &Response) -> Option<u64> {
        if resp.status().as_u16() == 200 {
            return Some(0);
        }
        let v = resp
            .headers()
            .get(reqwest::header::CONTENT_RANGE)?
            .to_str()
            .ok()?;
        let range = v.trim().strip_prefix("bytes ")?;
        range.split(['-', '/']).next()?.trim().parse().ok()
    }
}
