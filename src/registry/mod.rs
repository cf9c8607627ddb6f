//! Talking to registries: transport, auth, retry and errors. Sits under the
//! copy engine, which only calls [`Client`] methods.

pub mod auth;
pub mod client;
pub mod credentials;
pub mod error;
pub mod gate;
pub mod retry;

pub use client::{BlobStat, Client, Endpoint, MountResult, UploadSession};
pub use credentials::{Credentials, PasswordSource, Secret};
pub use error::DisplayUrl;
pub use error::RegistryError;
pub use gate::RequestLimits;
pub use retry::{RetryPolicy, TransferLimits};
