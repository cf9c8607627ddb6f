//! Uploads: sessions (`POST`, cross-repository mounts), monolithic and chunked `PATCH`/`PUT`, status and cancel: distribution's upload protocol.

use super::*;

impl Client {
    /// Asks the registry to mount `digest` into `repo` from `from`.
    pub async fn blob_mount(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<MountResult, RegistryError> {
        if !valid_repository(from) {
            return Err(self.refuse(format!("mount source repository {from:?}")));
        }
        let scopes = [Scope::push(repo), Scope::pull(from)];
        let req = Request::new(
            Method::POST,
            self.repo_url(repo, &format!("blobs/uploads/?mount={digest}&from={from}"))?,
            &scopes,
        )
        .with_headers(Self::empty_body())
        .with_body(Body::Bytes(Bytes::new()));
        let resp = self.call(req, &[201, 202]).await?;
        if resp.status().as_u16() == 201 {
            return Ok(MountResult::Mounted);
        }
        Ok(MountResult::Session(self.session_from(repo, &resp)?))
    }

    pub(super) fn session_from(
        &self,
        repo: &str,
        resp: &Response,
    ) -> Result<UploadSession, RegistryError> {
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: DisplayUrl::new(resp.url().as_str()),
                message: "upload started without a Location header".into(),
            })?;
        Ok(UploadSession {
            repo: repo.to_string(),
            location: self.resolve(loc)?,
        })
    }

    /// Opens an upload session in `repo` in one attempt: every caller
    /// retries the whole upload itself (one retry level per operation).
    pub async fn upload_start_once(&self, repo: &str) -> Result<UploadSession, RegistryError> {
        let scopes = [Scope::push(repo)];
        let req = Request::new(
            Method::POST,
            self.repo_url(repo, "blobs/uploads/")?,
            &scopes,
        )
        .with_headers(Self::empty_body())
        .with_body(Body::Bytes(Bytes::new()));
        let resp = self.call_once(req, &[202]).await?;
        self.session_from(repo, &resp)
    }

    /// `Content-Length: 0`, for a request without a body (a `POST` that
    /// opens an upload: some registries read the header and fail without
    /// it; the spec's examples send it).
    pub(super) fn empty_body() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        h
    }

    /// Sends a request whose body is a stream, once (a stream cannot be
    /// sent again: the caller retries the whole transfer), authenticated
    /// and gated like every request. If the stream fails (e.g. its digest
    /// check), the request is abandoned and the registry commits nothing.
    pub(super) async fn send_stream(
        &self,
        method: Method,
        url: String,
        size: Option<u64>,
        body: reqwest::Body,
        scopes: &[Scope],
        ok: &[u16],
    ) -> Result<Response, RegistryError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Some(n) = size {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
        }
        let req = Request::new(method, url, scopes)
            .with_headers(headers)
            .with_body(Body::Stream(std::sync::Mutex::new(Some(body))));
        // The one request path, without retries: the stream goes once.
        self.call_once(req, ok).await
    }

    /// Sends the whole blob in one `PUT` and commits it under `digest`, in
    /// one attempt.
    pub async fn upload_put(
        &self,
        session: &UploadSession,
        digest: &Digest,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let url = Self::commit_url(session, digest);
        self.send_stream(Method::PUT, url, size, body, &scopes, &[201])
            .await
            .map(|_| ())
    }

    /// Sends the whole blob in one `PATCH` (no `Content-Range`: a stream
    /// from the start), in one attempt; returns the session to commit.
    pub async fn upload_patch_stream(
        &self,
        session: &UploadSession,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<UploadSession, RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let resp = self
            .send_stream(
                Method::PATCH,
                session.location.clone(),
                size,
                body,
                &scopes,
                &[202, 204],
            )
            .await?;
        match resp.headers().get("location") {
            Some(_) => self.session_from(&session.repo, &resp),
            None => Ok(session.clone()),
        }
    }

    /// Uploads a whole blob into `session` and commits it under `digest`,
    /// in one attempt: as one `PUT` with the body while the registry takes
    /// that, else as a `PATCH` with the body and an empty `PUT`. A refused
    /// monolithic `PUT` switches this client to `PATCH` for the rest of
    /// the run and comes back as a transient error, so the caller's retry
    /// sends the blob the other way.
    pub async fn upload_whole(
        &self,
        session: &UploadSession,
        digest: &Digest,
        size: Option<u64>,
        body: reqwest::Body,
    ) -> Result<(), RegistryError> {
        use std::sync::atomic::Ordering;
        if !self.monolithic.load(Ordering::Relaxed) {
            let next = self.upload_patch_stream(session, size, body).await?;
            return self.upload_finish(&next, digest).await;
        }
        match self.upload_put(session, digest, size, body).await {
            Err(RegistryError::Status {
                method,
                url,
                status,
                detail,
                ..
            }) if matches!(status, 400 | 405 | 411 | 415 | 500 | 501) => {
                self.monolithic.store(false, Ordering::Relaxed);
                tracing::info!(registry = %self.registry, status, "a blob PUT with its bytes was refused; sending blob bytes in PATCH from now on");
                Err(RegistryError::Transport {
                    method,
                    url,
                    message: format!(
                        "HTTP {status}{detail}: the registry refused the blob in one PUT; sending it as PATCH and PUT"
                    ),
                    retries: 0,
                })
            }
            r => r,
        }
    }

    /// Sends one chunk of an upload (`PATCH` with `Content-Range`), in one
    /// attempt. Returns the session to continue with (its `Location`
    /// changes on every chunk).
    pub async fn upload_patch(
        &self,
        session: &UploadSession,
        start: u64,
        data: Bytes,
    ) -> Result<UploadSession, RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let end = (start + data.len() as u64).saturating_sub(1);
        if let Ok(v) = HeaderValue::from_str(&format!("{start}-{end}")) {
            headers.insert(reqwest::header::CONTENT_RANGE, v);
        }
        let req = Request::new(Method::PATCH, session.location.clone(), &scopes)
            .with_headers(headers)
            .with_body(Body::Bytes(data));
        let resp = self.call_once(req, &[202]).await?;
        self.session_from(&session.repo, &resp)
    }

    /// How many bytes an upload session holds (`GET` on it: `Range: 0-N`
    /// means N + 1, except that distribution also says `0-0` for none),
    /// with the session to continue with.
    pub async fn upload_status(
        &self,
        session: &UploadSession,
    ) -> Result<(u64, UploadSession), RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let req = Request::new(Method::GET, session.location.clone(), &scopes);
        let resp = self.call_once(req, &[204]).await?;
        let held = resp
            .headers()
            .get(reqwest::header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once('-'))
            .and_then(|(_, end)| end.trim().parse::<u64>().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: DisplayUrl::new(&session.location),
                message: "upload status without a readable Range header".into(),
            })?;
        let next = match resp.headers().get("location") {
            Some(_) => self.session_from(&session.repo, &resp)?,
            None => session.clone(),
        };
        Ok((held + 1, next))
    }

    /// Commits a chunked upload under `digest` (`PUT` with no body), in one
    /// attempt.
    pub async fn upload_finish(
        &self,
        session: &UploadSession,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let scopes = [Scope::push(&session.repo)];
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        let req = Request::new(Method::PUT, Self::commit_url(session, digest), &scopes)
            .with_headers(headers)
            .with_body(Body::Bytes(Bytes::new()));
        self.call_once(req, &[201]).await.map(|_| ())
    }

    /// Cancels an abandoned upload session (`DELETE`), so the registry can
    /// drop what it holds. Best effort: one attempt, a failure is logged.
    pub async fn upload_cancel(&self, session: &UploadSession) {
        let scopes = [Scope::push(&session.repo)];
        let req = Request::new(Method::DELETE, session.location.clone(), &scopes);
        let r = match self.send(&req, &RetryPolicy::none()).await {
            Ok((resp, retries)) => self
                .expect(&req, resp, retries, &[204, 404])
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            tracing::debug!(error = %e, "cancelling an abandoned upload failed");
        }
    }

    /// Uploads a small blob held in memory (a converted config), retrying
    /// the whole upload (session and PUT, each sent once) on transient
    /// failures: at most `retries + 1` sessions.
    pub async fn upload_bytes(
        &self,
        repo: &str,
        digest: &Digest,
        data: Bytes,
    ) -> Result<(), RegistryError> {
        let mut retries = 0;
        loop {
            let r = async {
                let s = self.upload_start_once(repo).await?;
                self.upload_whole(
                    &s,
                    digest,
                    Some(data.len() as u64),
                    reqwest::Body::from(data.clone()),
                )
                .await
            }
            .await;
            match r {
                Err(e) if e.is_transient() && retries < self.policy.max_retries => {
                    retries += 1;
                    tokio::time::sleep(self.policy.delay(retries, e.retry_after())).await;
                }
                other => return other.map_err(|e| e.with_retries(retries)),
            }
        }
    }
}
