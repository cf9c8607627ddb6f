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
//! In the code: [`plan`] validates the file (it reads nothing else);
//! [`copy::credentials`] resolves passwords and auth files; [`expand`] lists
//! tags into jobs; [`copy::read`] reads each tag's manifest, selected index
//! children and the configs a conversion needs; [`copy::image_plan`] decides,
//! as a pure function of those reads, the journal and the target tag, what
//! happens to the image (action, blobs, manifests in push order, predicted
//! digest, findings). `run` ([`copy::run`]) executes that plan through the
//! blob transfers ([`copy::blob`]) and the [`journal`]; `check`
//! ([`report::check`]) builds the same plans with reads only and renders
//! them. [`convert`] holds the pure conversions the plan calls; [`gojson`]
//! the Go-compatible JSON reading and writing that the conversions and the
//! manifest reader ([`oci`]) share; [`model`] and [`oci`] the vocabulary
//! every layer shares. [`openshift`] talks to the cluster API (project
//! discovery, quotas, image streams) beside the registry client; after a
//! run, [`report`] verifies and maps it, and [`rewrite`] points workloads'
//! YAML at the target.
//!
//! The engine emits [`copy::Event`]s: the CLI's progress display renders
//! them, and the run summary is their sum.
#![deny(missing_docs)]

pub mod cli;
pub mod convert;
pub mod copy;
pub mod expand;
pub mod gojson;
pub mod journal;
pub mod lock;
pub mod model;
pub mod oci;
pub mod openshift;
pub mod plan;
pub mod registry;
pub mod report;
pub mod rewrite;
