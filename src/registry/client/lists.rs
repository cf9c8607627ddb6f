//! Lists: tag lists and the catalog, page by page through `Link`, bounded in pages and names.

use super::*;

impl Client {
    pub(super) async fn paginated(
        &self,
        first: String,
        scopes: &[Scope],
        field: &str,
    ) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 10_000 {
                return Err(RegistryError::Protocol {
                    url: DisplayUrl::new(&url),
                    message: "more than 10000 pages of results".into(),
                });
            }
            let req = Request::new(Method::GET, url, scopes);
            let (link, items) = self
                .read_decoded(&req, MANIFEST_READ_LIMIT, |headers, body| {
                    let link = headers
                        .get("link")
                        .and_then(|v| v.to_str().ok())
                        .and_then(next_link);
                    // A page that does not decode arrived damaged, or the
                    // registry is broken: either way another read may help.
                    let v: serde_json::Value =
                        serde_json::from_slice(&body).map_err(|e| RegistryError::Damaged {
                            url: DisplayUrl::new(&req.url),
                            message: format!("bad JSON in list: {e}"),
                        })?;
                    let items: Vec<String> = v
                        .get(field)
                        .and_then(|t| t.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|t| t.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    Ok((link, items))
                })
                .await?;
            out.extend(items);
            if out.len() > LIST_TOTAL_LIMIT {
                return Err(RegistryError::Protocol {
                    url: DisplayUrl::new(&self.url("/v2/")),
                    message: format!("the list holds more than {LIST_TOTAL_LIMIT} names"),
                });
            }
            next = match link {
                Some(l) => Some(self.next_page(&l)?),
                None => None,
            };
        }
        Ok(out)
    }

    /// Every tag of `repo`, following `Link` pagination.
    pub async fn tag_list(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        self.tag_list_paged(repo, TAG_PAGE).await
    }

    /// Every tag of `repo`, asking for `page` tags a request.
    pub async fn tag_list_paged(
        &self,
        repo: &str,
        page: usize,
    ) -> Result<Vec<String>, RegistryError> {
        let scopes = [Scope::pull(repo)];
        self.paginated(
            self.repo_url(repo, &format!("tags/list?n={page}"))?,
            &scopes,
            "tags",
        )
        .await
    }

    /// Every repository in the registry's catalog (plain distribution
    /// registries; OpenShift denies it to normal users).
    pub async fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        self.catalog_paged(TAG_PAGE).await
    }

    /// The catalog, asking for `page` repositories a request. Names that
    /// are not repository paths are left out (and logged): nothing may
    /// build a URL from them.
    pub async fn catalog_paged(&self, page: usize) -> Result<Vec<String>, RegistryError> {
        let scopes = [Scope::catalog()];
        let mut repos = self
            .paginated(
                self.url(&format!("/v2/_catalog?n={page}")),
                &scopes,
                "repositories",
            )
            .await?;
        repos.retain(|r| {
            let ok = valid_repository(r);
            if !ok {
                tracing::warn!(registry = %self.registry, repository = ?r, "catalog lists an invalid repository name; ignored");
            }
            ok
        });
        Ok(repos)
    }
}
