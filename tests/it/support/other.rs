//! A second OCI registry implementation, beside CNCF distribution: the
//! `container-registry` crate (a minimal registry on axum), served in the
//! test process on 127.0.0.1 with Basic auth (any user and password) and
//! temporary storage. What it lacks, as the issue found: no `tags/list`,
//! no cross-repository mount (a mount `POST` opens a plain session), no
//! blob bytes in the final `PUT` (only in `PATCH`), repositories of exactly
//! two components, no schema 1, no referrers.

use container_registry::auth::Permissions;
use container_registry::ContainerRegistry;
use std::path::Path;
use std::sync::Arc;

pub struct Other {
    /// `127.0.0.1:port`, plain HTTP.
    pub addr: String,
}

impl Other {
    /// Starts it on the current runtime, storing under `dir`.
    pub async fn start(dir: &Path) -> Result<Other, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let registry = ContainerRegistry::builder()
            .storage(dir)
            .auth_provider(Arc::new(Permissions::ReadWrite))
            .build()
            .map_err(|e| e.to_string())?;
        let router = registry.make_router();
        let (listener, addr) = super::loopback().await?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Other { addr })
    }
}
