//! rahti-migrate moves container images between registries, from a plan.
//!
//! ```text
//! migration.toml -> plan (validated) -> expand (repos, tags) -> resolve manifests
//!   -> blob transfers: streamed GET->PUT, sha256 checked in the stream, deduped,
//!      cross-repo mounted, never buffered whole
//!   -> convert manifests/configs (oci | docker | preserve)
//!   -> push: blobs, then child manifests, then index, tag last
//!   -> journal record (only after the digest checked out) -> report
//! ```
//!
//! The engine ([`copy`]) emits [`copy::Event`]s; the CLI's progress display
//! and the reports consume them.
#![deny(missing_docs)]

pub mod cli;
pub mod convert;
pub mod copy;
pub mod expand;
pub mod journal;
pub mod model;
pub mod oci;
pub mod plan;
pub mod registry;
pub mod report;
