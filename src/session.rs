//! What every command that talks to registries opens first: the plan's
//! credentials resolved (the one step that reads the environment and the
//! user's auth files), the two registry clients, pinged, and the cluster
//! API clients the plan names. `run`, `check` and `verify` each open a
//! [`Session`]; a failure here stops the command ([`RunError`]).

use crate::journal::JournalError;
use crate::plan::Plan;
use crate::registry::{Client, Credentials, RegistryError, RetryPolicy};
use std::sync::Arc;

/// A failure that stops the whole run (as opposed to one image).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The plan's credentials cannot be resolved.
    #[error(transparent)]
    Plan(crate::plan::PlanError),
    /// The journal cannot be used.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The shard settings do not fit the journals there.
    #[error("{0}")]
    Shards(String),
    /// Another run of the plan writes the same repositories.
    #[error(transparent)]
    Locked(#[from] crate::lock::LockError),
    /// A registry cannot be reached or refuses us outright.
    #[error("{role} registry {registry}: {source}")]
    Registry {
        /// `source` or `target`.
        role: &'static str,
        /// Its host.
        registry: String,
        /// Why.
        source: Box<RegistryError>,
    },
}

/// The connections a command works through.
pub struct Session {
    /// The source registry.
    pub source: Arc<Client>,
    /// The target registry.
    pub target: Arc<Client>,
    /// `[source] api`, when the plan names one.
    pub source_api: Option<crate::openshift::Api>,
    /// `[target] api`, when the plan names one.
    pub target_api: Option<crate::openshift::Api>,
}

impl Session {
    /// Resolves credentials, connects to both registries and builds the
    /// cluster API clients.
    pub async fn open(plan: &Plan) -> Result<Session, RunError> {
        // Resolved once: a credential helper or password command runs once
        // for both the registry and its cluster API.
        let creds = credentials(plan).await.map_err(RunError::Plan)?;
        let (source_api, target_api) = apis(plan, &creds)?;
        let (source, target) = connect(plan, creds).await?;
        Ok(Session {
            source,
            target,
            source_api,
            target_api,
        })
    }

    /// What the plan's journal and every part's journal say, read only.
    pub fn replay(plan: &Plan) -> Result<crate::journal::Replay, RunError> {
        Ok(crate::journal::read_all(
            &plan.options.journal,
            &plan.target.registry,
        )?)
    }

    /// The plan expanded into tag jobs through the source registry (and
    /// its cluster API).
    pub async fn expand(&self, plan: &Plan) -> crate::expand::Expansion {
        crate::expand::expand(plan, &self.source, self.source_api.as_ref()).await
    }
}

/// Resolves the plan's credentials: password sources as written, or the
/// user's auth files when the plan names none. The one step that reads the
/// environment and the user's files; `run` and `check` share it. The files
/// and credential helpers (which may run for up to 30 s) are read on a
/// blocking thread, not on the runtime's.
pub async fn credentials(
    plan: &Plan,
) -> Result<(Credentials, Credentials), crate::plan::PlanError> {
    plan.preflight()?;
    let (source, target) = (plan.source.clone(), plan.target.clone());
    let written = (source.credentials.clone(), target.credentials.clone());
    let resolved = tokio::task::spawn_blocking(move || {
        (
            crate::registry::credentials::resolve(&source),
            crate::registry::credentials::resolve(&target),
        )
    })
    .await;
    Ok(resolved.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "reading auth files failed; using the plan's credentials");
        written
    }))
}

/// The cluster API clients a plan names (`[source] api`, `[target] api`),
/// each with its registry's credentials.
pub fn apis(
    plan: &Plan,
    creds: &(Credentials, Credentials),
) -> Result<(Option<crate::openshift::Api>, Option<crate::openshift::Api>), RunError> {
    let (sc, tc) = creds.clone();
    let mk = |role, ep: &Option<crate::openshift::ApiEndpoint>, c: Credentials| match ep {
        None => Ok(None),
        Some(ep) => crate::openshift::Api::new(
            ep,
            match &ep.password {
                Some(p) => Credentials {
                    username: None,
                    password: p.clone(),
                },
                None => c,
            },
        )
        .map(Some)
        .map_err(|source| RunError::Registry {
            role,
            registry: ep.url.clone(),
            source: Box::new(source),
        }),
    };
    Ok((
        mk("source API", &plan.source_api, sc)?,
        mk("target API", &plan.target_api, tc)?,
    ))
}

/// Builds the registry clients for a plan, with resolved credentials.
pub fn clients(
    plan: &Plan,
    creds: (Credentials, Credentials),
) -> Result<(Arc<Client>, Arc<Client>), RunError> {
    let policy = RetryPolicy {
        max_retries: plan.options.retries,
        ..RetryPolicy::default()
    };
    let mk = |role, ep: &crate::registry::Endpoint, c: Credentials| {
        Client::new(ep, c, policy.clone(), plan.options.transfer)
            .map(Arc::new)
            .map_err(|source| RunError::Registry {
                role,
                registry: ep.registry.clone(),
                source: Box::new(source),
            })
    };
    Ok((
        mk("source", &plan.source, creds.0)?,
        mk("target", &plan.target, creds.1)?,
    ))
}

/// Builds the clients from resolved credentials and pings both registries
/// (which also learns how each wants to be authenticated).
async fn connect(
    plan: &Plan,
    creds: (Credentials, Credentials),
) -> Result<(Arc<Client>, Arc<Client>), RunError> {
    let (source, target) = clients(plan, creds)?;
    for (role, c) in [("source", &source), ("target", &target)] {
        c.ping().await.map_err(|e| RunError::Registry {
            role,
            registry: c.registry().to_string(),
            source: Box::new(e),
        })?;
    }
    Ok((source, target))
}
