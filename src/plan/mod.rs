//! The plan file (`migration.toml`): the raw TOML model, and its validation
//! into a [`Plan`]. Validation collects every problem at once, each naming
//! the file, line and key, and touches no network. First step of the flow:
//! plan -> expand -> copy -> journal -> report.

mod entries;
mod fields;
mod raw;
mod sections;

use entries::*;
use fields::*;
use sections::*;

use crate::registry::{Credentials, Endpoint, PasswordSource};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::fmt;
use std::path::{Path, PathBuf};

pub use crate::model::{Format, Platforms};

/// One `[[images]]` entry, validated.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Position in the plan (0-based), for messages.
    pub index: usize,
    /// Source repository path.
    pub source: String,
    /// Target repository path.
    pub target: String,
    /// Tag globs to include (`None`: all tags).
    pub tags: Option<GlobSet>,
    /// The include patterns as written.
    pub tag_patterns: Vec<String>,
    /// Tag globs to leave out.
    pub exclude_tags: GlobSet,
    /// Manifest format.
    pub format: Format,
    /// Platforms to copy.
    pub platforms: Platforms,
    /// Tags left out by name (a project's external imports under
    /// `external_imports = "skip"`).
    pub skip_tags: std::collections::BTreeSet<String>,
    /// The tags the cluster API lists for a discovered repository (its
    /// image stream's status tags with an image: what the registry's own
    /// tag list would say), so the registry's tag list is not read.
    pub stream_tags: Option<Vec<String>>,
}

impl ImageSpec {
    /// The tags this entry names exactly, when every include pattern is a
    /// plain tag (no glob): they need no tag listing (some registries have
    /// none). Excluded and skipped ones are left out; sorted.
    pub fn exact_tags(&self) -> Option<Vec<String>> {
        if self.tags.is_none()
            || !self
                .tag_patterns
                .iter()
                .all(|t| crate::oci::reference::valid_tag(t))
        {
            return None;
        }
        let mut out: Vec<String> = self
            .tag_patterns
            .iter()
            .filter(|t| self.wants_tag(t))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        Some(out)
    }

    /// True if `tag` is selected by this entry.
    pub fn wants_tag(&self, tag: &str) -> bool {
        self.tags.as_ref().map(|g| g.is_match(tag)).unwrap_or(true)
            && !self.exclude_tags.is_match(tag)
            && !self.skip_tags.contains(tag)
    }
}

/// What happens to tags a project imported from another registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalImports {
    /// Copy their bytes like any tag.
    Copy,
    /// Leave them out.
    Skip,
    /// Create on the target an image stream tag that imports from the
    /// same external reference (needs `[target] api`); no bytes copied.
    Reference,
}

/// One `[[projects]]` entry: every repository of a namespace, found at run
/// time (through the cluster API, or the registry's catalog).
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    /// Position in the plan (0-based), for messages.
    pub index: usize,
    /// Source namespace, or `*`: every project the user can see (listed
    /// through the cluster API), each becoming an entry of its own.
    pub source: String,
    /// Target namespace (for `*`: unused, see `target_prefix`).
    pub target: String,
    /// `source = "*"`: project-name globs to leave out.
    pub exclude: GlobSet,
    /// `source = "*"`: each project's target is prefix + name + suffix.
    pub target_prefix: String,
    /// See `target_prefix`.
    pub target_suffix: String,
    /// Repository-name globs to include (names within the namespace).
    pub repositories: GlobSet,
    /// Repository-name globs to leave out.
    pub exclude_repositories: GlobSet,
    /// Tag globs to include (`None`: all tags).
    pub tags: Option<GlobSet>,
    /// The include patterns as written.
    pub tag_patterns: Vec<String>,
    /// Tag globs to leave out.
    pub exclude_tags: GlobSet,
    /// Tags imported from elsewhere.
    pub external_imports: ExternalImports,
    /// Earlier images of each tag to copy too (by digest, untagged).
    pub history: u32,
    /// Manifest format.
    pub format: Format,
    /// Platforms to copy.
    pub platforms: Platforms,
}

/// `[[projects]] source = "*"`.
pub const ALL_PROJECTS: &str = "*";

impl ProjectSpec {
    /// The target repository of `ns/name` if this entry selects it.
    pub fn target_of(&self, ns: &str, name: &str) -> Option<String> {
        let p = match self.source == ALL_PROJECTS {
            true => std::borrow::Cow::Owned(self.for_project(ns)?),
            false => std::borrow::Cow::Borrowed(self),
        };
        (p.source == ns && !name.contains('/') && p.wants_repository(name))
            .then(|| format!("{}/{name}", p.target))
    }

    /// For `source = "*"`: the entry for one listed project, or `None` when
    /// it is excluded or the name it gets on the target is no name.
    pub fn for_project(&self, name: &str) -> Option<ProjectSpec> {
        if self.source != ALL_PROJECTS || self.exclude.is_match(name) || !valid_namespace(name) {
            return None;
        }
        let target = format!("{}{name}{}", self.target_prefix, self.target_suffix);
        valid_namespace(&target).then(|| ProjectSpec {
            source: name.to_string(),
            target,
            ..self.clone()
        })
    }

    /// True if the repository `name` (within the namespace) is selected.
    pub fn wants_repository(&self, name: &str) -> bool {
        self.repositories.is_match(name) && !self.exclude_repositories.is_match(name)
    }

    /// The `[[images]]`-like entry for one discovered repository.
    pub fn image(&self, index: usize, name: &str) -> ImageSpec {
        ImageSpec {
            index,
            source: format!("{}/{name}", self.source),
            target: format!("{}/{name}", self.target),
            tags: self.tags.clone(),
            tag_patterns: self.tag_patterns.clone(),
            exclude_tags: self.exclude_tags.clone(),
            format: self.format,
            platforms: self.platforms.clone(),
            skip_tags: Default::default(),
            stream_tags: None,
        }
    }
}

/// Limits of the target registry, for the compatibility report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetLimits {
    /// Largest image accepted, in bytes.
    pub max_image_size: Option<u64>,
    /// Largest blob read when no manifest gives its size (schema 1
    /// layers); [`DEFAULT_MAX_BLOB_SIZE`] when not set.
    pub max_blob_size: Option<u64>,
    /// Most repositories (image streams) per project.
    pub max_repositories_per_project: Option<u64>,
}

/// `[target] max_blob_size` when the plan sets none: 10 GiB.
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 10 << 30;

impl TargetLimits {
    /// The most bytes read of a blob whose size no manifest gives: the
    /// blob limit, and the image limit when that is smaller.
    pub fn max_unsized_blob(&self) -> u64 {
        let blob = self.max_blob_size.unwrap_or(DEFAULT_MAX_BLOB_SIZE);
        self.max_image_size.map_or(blob, |i| i.min(blob))
    }
}

/// Run-wide options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Default format for images.
    pub format: Format,
    /// Blob transfers in flight (listing and manifest requests get
    /// [`Options::metadata_in_flight`]).
    pub concurrency: usize,
    /// Retries for each operation.
    pub retries: u32,
    /// Journal file.
    pub journal: PathBuf,
    /// Default platforms.
    pub platforms: Platforms,
    /// How slow a response body may be before it counts as failed.
    pub transfer: crate::registry::TransferLimits,
    /// Blobs larger than this are uploaded in resumable chunks of this size.
    pub chunk_size: u64,
    /// Create each missing target image stream before pushing into it
    /// (with `[target] api`).
    pub create_image_streams: bool,
}

impl Options {
    /// Listing and manifest requests in flight (and images in flight in
    /// `run`): twice `concurrency`, at least 4 and at most 64. Blob
    /// transfers keep their own `concurrency` slots, so the small reads
    /// and pushes of other images go on while large blobs hold theirs.
    pub fn metadata_in_flight(&self) -> usize {
        (self.concurrency.saturating_mul(2)).clamp(4, 64)
    }
}

/// A validated plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan file.
    pub path: PathBuf,
    /// Where images come from.
    pub source: Endpoint,
    /// Other names workloads use for the source registry (`rewrite` maps
    /// them too); for Rahti 1 by default its in-cluster service name.
    pub source_aliases: Vec<String>,
    /// Where they go.
    pub target: Endpoint,
    /// Target limits (for `check`).
    pub limits: TargetLimits,
    /// Options.
    pub options: Options,
    /// The images.
    pub images: Vec<ImageSpec>,
    /// The projects, found at run time.
    pub projects: Vec<ProjectSpec>,
    /// The source cluster's API, for project discovery.
    pub source_api: Option<crate::openshift::ApiEndpoint>,
    /// The target cluster's API, for quotas and image streams.
    pub target_api: Option<crate::openshift::ApiEndpoint>,
}

/// One problem in a plan file.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanIssue {
    /// 1-based line, where known.
    pub line: Option<usize>,
    /// Key path, e.g. `images[2].tags`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// A plan that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file cannot be read.
    #[error("cannot read plan {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file has problems.
    #[error("{}", render_issues(path, issues))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        issues: Vec<PlanIssue>,
    },
}

fn render_issues(path: &Path, issues: &[PlanIssue]) -> String {
    let mut s = format!(
        "{} has {} problem{}:",
        path.display(),
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    );
    for i in issues {
        s.push_str(&format!("\n  {}", IssueLine(path, i)));
    }
    s
}

struct IssueLine<'a>(&'a Path, &'a PlanIssue);

impl fmt::Display for IssueLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let IssueLine(path, i) = self;
        match i.line {
            Some(l) => write!(f, "{}:{l}: ", path.display())?,
            None => write!(f, "{}: ", path.display())?,
        }
        if i.key.is_empty() {
            write!(f, "{}", i.message)
        } else {
            write!(f, "{}: {}", i.key, i.message)
        }
    }
}

pub use crate::oci::reference::valid_repository;

/// Rahti 1's registry, whose workloads also name it by its service.
pub const RAHTI1_REGISTRY: &str = "docker-registry.rahti.csc.fi";
/// The in-cluster name of Rahti 1's registry.
pub const RAHTI1_SERVICE: &str = "docker-registry.default.svc:5000";

/// Blobs larger than this are uploaded in chunks of this size: what one
/// failed `PATCH` costs, and the memory one large transfer holds.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;

impl Plan {
    /// The target repository this plan gives the source repository `repo`:
    /// its `[[images]]` entry, or a `[[projects]]` entry whose namespace
    /// and globs select it.
    pub fn target_repo_of(&self, repo: &str) -> Option<String> {
        if let Some(i) = self.images.iter().find(|i| i.source == repo) {
            return Some(i.target.clone());
        }
        let (ns, name) = repo.split_once('/')?;
        self.projects.iter().find_map(|p| p.target_of(ns, name))
    }

    /// Whether this plan could have copied `source` to `target` (journal
    /// references: `repo:tag`, or `repo@digest` for a history image): the
    /// repositories map as the plan says, with the same tag or digest. A
    /// journal record that fails this was not written by a run of this
    /// plan (or the plan changed since), and is not trusted.
    pub fn produces(&self, source: &str, target: &str) -> bool {
        let split = |r: &str| -> Option<(String, String)> {
            match r.split_once('@') {
                Some((repo, d)) => Some((repo.to_string(), format!("@{d}"))),
                None => r
                    .rsplit_once(':')
                    .map(|(repo, t)| (repo.to_string(), format!(":{t}"))),
            }
        };
        match (split(source), split(target)) {
            (Some((s, sr)), Some((t, tr))) => {
                sr == tr && self.target_repo_of(&s).is_some_and(|want| want == t)
            }
            _ => false,
        }
    }

    /// Reads and validates the plan at `path`.
    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Plan::parse(path, &text)
    }

    /// Validates plan text that was read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Plan, PlanError> {
        let invalid = |issues| PlanError::Invalid {
            path: path.to_path_buf(),
            issues,
        };
        let mut c = Collector {
            text,
            issues: Vec::new(),
        };
        let raw: raw::Plan = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let msg = e.message().trim().to_string();
                c.add(e.span(), "", msg);
                return Err(invalid(c.issues));
            }
        };
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        if *raw.version.get_ref() != 1 {
            c.add(
                Some(raw.version.span()),
                "version",
                format!(
                    "unsupported plan version {}; this build reads version 1",
                    raw.version.get_ref()
                ),
            );
        }
        let source = endpoint(&mut c, &dir, "source", &raw.source);
        let source_aliases = aliases(&mut c, &raw.source, &source.registry);
        if let Some(a) = &raw.target.aliases {
            c.add(
                Some(a.span()),
                "target.aliases",
                "only [source] has aliases (the names workloads use for it)",
            );
        }
        let target = endpoint(&mut c, &dir, "target", &raw.target);
        let limits = limits(&mut c, &raw.target);
        let options = options(&mut c, path, &dir, raw.options.unwrap_or_default());
        let images = images(&mut c, &raw.images, &options);
        let projects = projects(&mut c, &raw.projects, &options);
        if images.is_empty() && projects.is_empty() {
            c.add(
                None,
                "images",
                "the plan lists no [[images]] and no [[projects]]",
            );
        }
        let source_api = api_of(&mut c, &dir, "source", &raw.source, &source.ca_file);
        let target_api = api_of(&mut c, &dir, "target", &raw.target, &target.ca_file);
        projects_need_apis(
            &mut c,
            &projects,
            &raw.projects,
            source_api.is_some(),
            target_api.is_some(),
        );
        overlapping_targets(&mut c, &raw.images, &images);
        if !c.issues.is_empty() {
            return Err(invalid(c.issues));
        }
        Ok(Plan {
            path: path.to_path_buf(),
            source,
            source_aliases,
            target,
            limits,
            options,
            images,
            projects,
            source_api,
            target_api,
        })
    }

    /// Checks what can only be checked just before a run: that password
    /// environment variables are set. Nothing is sent over the network.
    pub fn preflight(&self) -> Result<(), PlanError> {
        let mut issues = Vec::new();
        for (section, ep) in [("source", &self.source), ("target", &self.target)] {
            if let PasswordSource::Env(var) = &ep.credentials.password {
                if std::env::var(var)
                    .map(|v| v.trim().is_empty())
                    .unwrap_or(true)
                {
                    issues.push(PlanIssue {
                        line: None,
                        key: format!("{section}.password_env"),
                        message: format!("environment variable {var} is not set or empty"),
                    });
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(PlanError::Invalid {
                path: self.path.clone(),
                issues,
            })
        }
    }
}

/// The format used when a plan names none.
pub const DEFAULT_FORMAT: Format = Format::Oci;

#[cfg(test)]
mod tests;
