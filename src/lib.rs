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
//! [`session`] resolves passwords and auth files and connects ([`shard`]
//! splits a run into parts); [`expand`] lists
//! tags into jobs; [`image_plan::read`] reads each tag's manifest, selected index
//! children and the configs a conversion needs; [`image_plan`] decides,
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
pub mod image_plan;
pub mod journal;
pub mod lock;
pub mod model;
pub mod oci;
pub mod openshift;
pub mod plan;
pub mod registry;
pub mod report;
pub mod resync;
pub mod rewrite;
pub mod session;
pub mod shard;
pub mod sync;

/// The layout holds: modules depend only on modules below them, in this
/// order (read from each file's `crate::` paths), so nothing reaches up.
#[cfg(test)]
mod layout {
    /// Bottom first.
    const LAYERS: &[&str] = &[
        "sync",
        "gojson",
        "oci",
        "model",
        "shard",
        "convert",
        "registry",
        "lock",
        "journal",
        "image_plan",
        "openshift",
        "plan",
        "expand",
        "session",
        "resync",
        "copy",
        "report",
        "rewrite",
        "cli",
    ];

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Every module `lib.rs` declares has its place in [`LAYERS`]: one
    /// left out would go unchecked.
    #[test]
    fn every_module_is_in_a_layer() {
        let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
        let text = std::fs::read_to_string(lib).unwrap_or_default();
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod "))
            .map(|l| l.trim_end_matches(';'))
            .collect();
        assert!(declared.len() > 10, "lib.rs read: {declared:?}");
        let missing: Vec<&&str> = declared.iter().filter(|m| !LAYERS.contains(m)).collect();
        assert!(missing.is_empty(), "modules in no layer: {missing:?}");
        assert_eq!(declared.len(), LAYERS.len(), "a layer names no module");
    }

    #[test]
    fn no_module_reaches_up() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
        let mut back = Vec::new();
        for f in all {
            let rel = f
                .strip_prefix(&src)
                .map(|r| r.to_path_buf())
                .unwrap_or_default();
            let first = rel.iter().next().map(|c| c.to_string_lossy().to_string());
            let Some(module) = first.map(|m| m.trim_end_matches(".rs").to_string()) else {
                continue;
            };
            let Some(from) = rank(&module) else { continue };
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if let Some(to) = rank(&name) {
                    if to > from {
                        back.push(format!("{} -> {name}", rel.display()));
                    }
                }
            }
        }
        back.sort();
        back.dedup();
        assert!(back.is_empty(), "modules reaching up: {back:#?}");
    }
}

/// The user's pages name codes that exist: every backticked kebab-case
/// name in README.md and docs/ is a finding code, a verify code, a
/// manifest kind, or one of the few other names they use (crates and
/// Debian packages), so a code renamed in the code cannot live on in the
/// docs.
#[cfg(test)]
mod doc_names {
    /// Kebab-case names the docs use that are not codes.
    const OTHER_NAMES: &[&str] = &[
        "docker-registry",
        "container-registry",
        "tracing-subscriber",
        "libyaml-safer",
        "oci-spec",
    ];

    fn names_in(text: &str) -> Vec<String> {
        text.split('`')
            .skip(1)
            .step_by(2)
            .filter(|t| {
                t.contains('-')
                    && !t.starts_with('-')
                    && !t.ends_with('-')
                    && t.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && t.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_code_the_docs_name_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut known: Vec<&str> = OTHER_NAMES.to_vec();
        known.extend(crate::model::FindingCode::ALL.iter().map(|c| c.as_str()));
        known.extend(
            crate::report::verify::VerifyCode::ALL
                .iter()
                .map(|c| c.as_str()),
        );
        use crate::oci::ManifestKind as K;
        known.extend(
            [
                K::DockerV2,
                K::DockerV1Signed,
                K::DockerV1,
                K::DockerList,
                K::OciManifest,
                K::OciIndex,
            ]
            .iter()
            .map(|k| k.name()),
        );
        let mut pages = vec![root.join("README.md")];
        for e in std::fs::read_dir(root.join("docs"))
            .into_iter()
            .flatten()
            .flatten()
        {
            pages.push(e.path());
        }
        let mut unknown = Vec::new();
        let mut seen = 0;
        for page in pages
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
        {
            let text = std::fs::read_to_string(page).unwrap_or_default();
            for name in names_in(&text) {
                seen += 1;
                if !known.contains(&name.as_str()) {
                    unknown.push(format!("{}: `{name}`", page.display()));
                }
            }
        }
        assert!(seen > 20, "the pages were read ({seen} names)");
        assert!(unknown.is_empty(), "names that are no code: {unknown:#?}");
    }
}
