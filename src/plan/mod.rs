//! The plan file (`migration.toml`): the raw TOML model, and its validation
//! into a [`Plan`]. Validation collects every problem at once, each naming
//! the file, line and key, and touches no network. First step of the flow:
//! plan -> expand -> copy -> journal -> report.

mod raw;

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

struct Collector<'a> {
    text: &'a str,
    issues: Vec<PlanIssue>,
}

impl Collector<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> Option<usize> {
        let start = span.start.min(self.text.len());
        Some(self.text[..start].bytes().filter(|b| *b == b'\n').count() + 1)
    }
    fn add(
        &mut self,
        span: Option<std::ops::Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let line = span.and_then(|s| self.line(s));
        self.issues.push(PlanIssue {
            line,
            key: key.into(),
            message: message.into(),
        });
    }
}

pub use crate::oci::reference::valid_repository;

/// Rahti 1's registry, whose workloads also name it by its service.
pub const RAHTI1_REGISTRY: &str = "docker-registry.rahti.csc.fi";
/// The in-cluster name of Rahti 1's registry.
pub const RAHTI1_SERVICE: &str = "docker-registry.default.svc:5000";

/// `[source] aliases`: host[:port] names; default for Rahti 1 its service.
fn aliases(c: &mut Collector, e: &raw::Endpoint, registry: &str) -> Vec<String> {
    match &e.aliases {
        Some(list) => {
            for a in list.get_ref() {
                if !valid_registry(a) || a.contains('@') {
                    c.add(
                        Some(list.span()),
                        "source.aliases",
                        format!("{a:?} is not a host[:port]"),
                    );
                }
            }
            list.get_ref().clone()
        }
        None if registry == RAHTI1_REGISTRY => vec![RAHTI1_SERVICE.to_string()],
        None => Vec::new(),
    }
}

fn valid_registry(host: &str) -> bool {
    !host.is_empty()
        && !host.contains("://")
        && !host.contains('/')
        && !host.contains(char::is_whitespace)
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as u64)
}

fn build_globs(
    c: &mut Collector,
    pats: &[String],
    span: std::ops::Range<usize>,
    key: &str,
) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in pats {
        match Glob::new(p) {
            Ok(g) => {
                b.add(g);
            }
            Err(e) => c.add(Some(span.clone()), key, format!("invalid glob {p:?}: {e}")),
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

/// One password source at most, from `{prefix}_env`, `{prefix}_file` and
/// `{prefix}_command` (`password` for a registry, `api_password` for a
/// cluster API).
fn password_source(
    c: &mut Collector,
    dir: &Path,
    section: &str,
    prefix: &str,
    [env, file]: [&Option<toml::Spanned<String>>; 2],
    command: &Option<toml::Spanned<Vec<String>>>,
) -> Option<PasswordSource> {
    let key = |k: &str| format!("{section}.{prefix}_{k}");
    let mut sources: Vec<(String, std::ops::Range<usize>, PasswordSource)> = Vec::new();
    if let Some(v) = env {
        sources.push((
            key("env"),
            v.span(),
            PasswordSource::Env(v.get_ref().clone()),
        ));
    }
    if let Some(v) = file {
        let p = dir.join(v.get_ref());
        if !p.is_file() {
            c.add(
                Some(v.span()),
                key("file"),
                format!("file {} does not exist", p.display()),
            );
        }
        sources.push((key("file"), v.span(), PasswordSource::File(p)));
    }
    if let Some(v) = command {
        if v.get_ref().is_empty() || v.get_ref()[0].is_empty() {
            c.add(
                Some(v.span()),
                key("command"),
                "must name a program, e.g. [\"oc\", \"whoami\", \"-t\"]",
            );
        }
        sources.push((
            key("command"),
            v.span(),
            PasswordSource::Command(v.get_ref().clone()),
        ));
    }
    if sources.len() > 1 {
        let names: Vec<&str> = sources
            .iter()
            .map(|s| s.0.rsplit('.').next().unwrap_or(""))
            .collect();
        c.add(
            Some(sources[1].1.clone()),
            sources[1].0.clone(),
            format!(
                "only one password source is allowed, found {}",
                names.join(" and ")
            ),
        );
    }
    sources.into_iter().next().map(|(_, _, p)| p)
}

fn endpoint(c: &mut Collector, dir: &Path, section: &str, e: &raw::Endpoint) -> Endpoint {
    let host = e.registry.get_ref().trim().to_string();
    if host.contains('@') {
        // Userinfo would carry a password into errors, logs and the
        // journal header: refused without echoing the value.
        c.add(
            Some(e.registry.span()),
            format!("{section}.registry"),
            "must not hold a user name or password (user:pass@host); use username and password_env, password_file or password_command",
        );
    } else if !valid_registry(&host) {
        c.add(
            Some(e.registry.span()),
            format!("{section}.registry"),
            format!("{host:?} is not a host[:port] (write it without https:// and without a path)"),
        );
    }
    let ca_file = e.ca_file.as_ref().map(|f| {
        let p = dir.join(f.get_ref());
        if !p.is_file() {
            c.add(
                Some(f.span()),
                format!("{section}.ca_file"),
                format!("file {} does not exist", p.display()),
            );
        }
        p
    });
    let password = password_source(
        c,
        dir,
        section,
        "password",
        [&e.password_env, &e.password_file],
        &e.password_command,
    );
    let credentials = match password {
        Some(p) => Credentials {
            username: Some(e.username.clone().unwrap_or_else(|| "unused".to_string())),
            password: p,
        },
        // Auth files are read when credentials are resolved, not here: a
        // validated plan depends on the file alone.
        None => Credentials {
            username: e.username.clone(),
            password: PasswordSource::None,
        },
    };
    let bound = |c: &mut Collector, v: &Option<toml::Spanned<i64>>, k: &str| {
        v.as_ref()
            .map(|_| in_range(c, v, &format!("{section}.{k}"), 1..=10_000, 1))
    };
    let requests = crate::registry::RequestLimits {
        max_requests: bound(c, &e.max_requests, "max_requests").map(|n| n as usize),
        requests_per_second: bound(c, &e.requests_per_second, "requests_per_second")
            .map(|n| n as f64),
    };
    Endpoint {
        registry: host,
        insecure: e.insecure.unwrap_or(false),
        ca_file,
        credentials,
        requests,
    }
}

fn format_of(c: &mut Collector, v: &toml::Spanned<String>, key: &str) -> Format {
    match Format::from_name(v.get_ref()) {
        Some(f) => f,
        None => {
            let other = v.get_ref();
            c.add(
                Some(v.span()),
                key,
                format!("unknown format {other:?}: use \"oci\", \"docker\" or \"preserve\""),
            );
            Format::Preserve
        }
    }
}

/// An entry's own `format` and `platforms`, else the plan's `[options]`.
fn own_options(
    c: &mut Collector,
    format: &Option<toml::Spanned<String>>,
    platforms: &Option<toml::Spanned<Vec<String>>>,
    options: &Options,
    key: &dyn Fn(&str) -> String,
) -> (Format, Platforms) {
    let format = format
        .as_ref()
        .map(|f| format_of(c, f, &key("format")))
        .unwrap_or(options.format);
    let platforms = platforms
        .as_ref()
        .map(|v| platforms_of(c, v, &key("platforms")))
        .unwrap_or_else(|| options.platforms.clone());
    (format, platforms)
}

fn platforms_of(c: &mut Collector, v: &toml::Spanned<Vec<String>>, key: &str) -> Platforms {
    let list = v.get_ref();
    if list.iter().any(|p| p == "all") {
        if list.len() > 1 {
            c.add(
                Some(v.span()),
                key,
                "\"all\" cannot be combined with other platforms",
            );
        }
        return Platforms::All;
    }
    if list.is_empty() {
        c.add(
            Some(v.span()),
            key,
            "must list at least one platform, or [\"all\"]",
        );
    }
    for p in list {
        let parts: Vec<&str> = p.split('/').collect();
        if !(2..=3).contains(&parts.len()) || parts.iter().any(|s| s.is_empty()) {
            c.add(
                Some(v.span()),
                key,
                format!("{p:?} is not os/arch or os/arch/variant (e.g. \"linux/arm64/v8\")"),
            );
        }
    }
    Platforms::Only(list.clone())
}

/// Blobs larger than this are uploaded in chunks of this size: what one
/// failed `PATCH` costs, and the memory one large transfer holds.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 << 20;

/// A positive size: a byte count or text such as "5GiB".
fn size_of(
    c: &mut Collector,
    v: &toml::Spanned<raw::Size>,
    key: &str,
    example: &str,
) -> Option<u64> {
    let n = match v.get_ref() {
        raw::Size::Bytes(n) if *n > 0 => Some(*n as u64),
        raw::Size::Text(s) => parse_size(s).filter(|n| *n > 0),
        _ => None,
    };
    if n.is_none() {
        c.add(
            Some(v.span()),
            key,
            format!("must be a positive byte count or a size such as {example}"),
        );
    }
    n
}

/// `[target]` limits, for the report.
fn limits(c: &mut Collector, target: &raw::Endpoint) -> TargetLimits {
    TargetLimits {
        max_image_size: target
            .max_image_size
            .as_ref()
            .and_then(|v| size_of(c, v, "target.max_image_size", "\"5GiB\"")),
        max_blob_size: target
            .max_blob_size
            .as_ref()
            .and_then(|v| size_of(c, v, "target.max_blob_size", "\"10GiB\"")),
        max_repositories_per_project: target.max_repositories_per_project.as_ref().and_then(|v| {
            if *v.get_ref() < 1 {
                c.add(
                    Some(v.span()),
                    "target.max_repositories_per_project",
                    "must be at least 1",
                );
                None
            } else {
                Some(*v.get_ref() as u64)
            }
        }),
    }
}

/// A whole number from the plan within `range`: `default` when absent;
/// out of range, a problem is recorded (and the range's start stands in).
fn in_range(
    c: &mut Collector,
    v: &Option<toml::Spanned<i64>>,
    key: &str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> i64 {
    match v {
        Some(v) if !range.contains(v.get_ref()) => {
            c.add(
                Some(v.span()),
                key,
                format!("must be between {} and {}", range.start(), range.end()),
            );
            *range.start()
        }
        Some(v) => *v.get_ref(),
        None => default,
    }
}

/// `[options]`, with their defaults.
fn options(c: &mut Collector, path: &Path, dir: &Path, o: raw::Options) -> Options {
    let format = o
        .format
        .as_ref()
        .map(|f| format_of(c, f, "options.format"))
        .unwrap_or(DEFAULT_FORMAT);
    let concurrency = in_range(c, &o.concurrency, "options.concurrency", 1..=256, 8) as usize;
    let retries = in_range(c, &o.retries, "options.retries", 0..=100, 5) as u32;
    let journal = match &o.journal {
        Some(j) => dir.join(j.get_ref()),
        None => {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "migration".into());
            dir.join(format!("{stem}.journal"))
        }
    };
    let platforms = o
        .platforms
        .as_ref()
        .map(|p| platforms_of(c, p, "options.platforms"))
        .unwrap_or(Platforms::All);
    let defaults = crate::registry::TransferLimits::default();
    let stall = in_range(
        c,
        &o.stall_timeout,
        "options.stall_timeout",
        1..=3600,
        defaults.window.as_secs() as i64,
    );
    let min_rate = o
        .min_rate
        .as_ref()
        .and_then(|v| size_of(c, v, "options.min_rate", "\"1KB\" (bytes per second)"))
        .unwrap_or(defaults.min_rate);
    let chunk_size = o
        .chunk_size
        .as_ref()
        .and_then(|v| size_of(c, v, "options.chunk_size", "\"16MiB\""))
        .unwrap_or(DEFAULT_CHUNK_SIZE);
    Options {
        format,
        concurrency,
        retries,
        journal,
        platforms,
        chunk_size,
        create_image_streams: o.create_image_streams.unwrap_or(true),
        transfer: crate::registry::TransferLimits {
            window: std::time::Duration::from_secs(stall as u64),
            min_rate,
        },
    }
}

/// The `[[images]]` entries.
fn images(c: &mut Collector, list: &[raw::Image], options: &Options) -> Vec<ImageSpec> {
    let mut images = Vec::new();
    for (i, im) in list.iter().enumerate() {
        let key = |k: &str| format!("images[{i}].{k}");
        let src = im.source.get_ref().trim_matches('/').to_string();
        if !valid_repository(&src) {
            c.add(
                Some(im.source.span()),
                key("source"),
                format!("{src:?} is not a repository path (lowercase, e.g. \"myproject/app\"; no registry host, no tag)"),
            );
        }
        let tgt = match &im.target {
            Some(t) => {
                let t2 = t.get_ref().trim_matches('/').to_string();
                if !valid_repository(&t2) {
                    c.add(
                        Some(t.span()),
                        key("target"),
                        format!("{t2:?} is not a repository path"),
                    );
                }
                t2
            }
            None => src.clone(),
        };
        let (tags, tag_patterns) = include_tags(c, &im.tags, &key("tags"));
        let exclude_tags = match &im.exclude_tags {
            Some(t) => build_globs(c, t.get_ref(), t.span(), &key("exclude_tags")),
            None => GlobSet::empty(),
        };
        let (fmt, plats) = own_options(c, &im.format, &im.platforms, options, &key);
        images.push(ImageSpec {
            index: i,
            source: src,
            target: tgt,
            tags,
            tag_patterns,
            exclude_tags,
            format: fmt,
            platforms: plats,
            skip_tags: Default::default(),
        });
    }
    images
}

/// `tags = [...]`: the include globs and the patterns as written (`None`:
/// every tag). An empty list is refused: it would copy nothing.
fn include_tags(
    c: &mut Collector,
    v: &Option<toml::Spanned<Vec<String>>>,
    key: &str,
) -> (Option<GlobSet>, Vec<String>) {
    let Some(t) = v else {
        return (None, Vec::new());
    };
    if t.get_ref().is_empty() {
        c.add(
            Some(t.span()),
            key,
            "is empty: leave it out to copy every tag",
        );
    }
    (
        Some(build_globs(c, t.get_ref(), t.span(), key)),
        t.get_ref().clone(),
    )
}

/// A namespace name: one repository path component.
fn valid_namespace(ns: &str) -> bool {
    !ns.contains('/') && valid_repository(ns)
}

/// The `[[projects]]` entries.
/// What some project options need of the plan: history and `source = "*"`
/// read the source cluster API; `external_imports = "reference"` writes
/// through the target's.
fn projects_need_apis(
    c: &mut Collector,
    projects: &[ProjectSpec],
    raw: &[raw::Project],
    source_api: bool,
    target_api: bool,
) {
    for (p, rp) in projects.iter().zip(raw) {
        if p.history > 0 && !source_api {
            c.add(
                rp.history.as_ref().map(|v| v.span()),
                format!("projects[{}].history", p.index),
                "earlier images of a tag are known from the image streams: history needs [source] api",
            );
        }
        if p.source == ALL_PROJECTS && !source_api {
            c.add(
                Some(rp.source.span()),
                format!("projects[{}].source", p.index),
                "\"*\" lists the projects you can see through the cluster API: it needs [source] api",
            );
        }
        if p.external_imports == ExternalImports::Reference && !target_api {
            c.add(
                rp.external_imports.as_ref().map(|v| v.span()),
                format!("projects[{}].external_imports", p.index),
                "\"reference\" creates image stream tags on the target: it needs [target] api",
            );
        }
    }
}

fn projects(c: &mut Collector, list: &[raw::Project], options: &Options) -> Vec<ProjectSpec> {
    list.iter()
        .enumerate()
        .map(|(i, p)| project(c, i, p, options))
        .collect()
}

/// One `[[projects]]` entry: its names, its selection globs, and the options
/// it may set for itself.
fn project(c: &mut Collector, i: usize, p: &raw::Project, options: &Options) -> ProjectSpec {
    let key = |k: &str| format!("projects[{i}].{k}");
    let all = p.source.get_ref().trim() == ALL_PROJECTS;
    let (source, target) = project_names(c, p, all, &key);
    let target_prefix = project_affix(c, &p.target_prefix, all, &key("target_prefix"));
    let target_suffix = project_affix(c, &p.target_suffix, all, &key("target_suffix"));
    let globs = |c: &mut Collector,
                 v: &Option<toml::Spanned<Vec<String>>>,
                 k: &str,
                 default: &[&str]| match v {
        Some(v) => build_globs(c, v.get_ref(), v.span(), &key(k)),
        None => {
            let d: Vec<String> = default.iter().map(|s| s.to_string()).collect();
            build_globs(c, &d, 0..0, &key(k))
        }
    };
    let exclude = globs(c, &p.exclude, "exclude", &[]);
    if p.exclude.is_some() && !all {
        c.add(
            p.exclude.as_ref().map(|v| v.span()),
            key("exclude"),
            "excludes projects: only with source = \"*\" (exclude_repositories leaves repositories out)",
        );
    }
    let repositories = globs(c, &p.repositories, "repositories", &["*"]);
    let exclude_repositories = globs(c, &p.exclude_repositories, "exclude_repositories", &[]);
    let (tags, tag_patterns) = include_tags(c, &p.tags, &key("tags"));
    let exclude_tags = globs(c, &p.exclude_tags, "exclude_tags", &[]);
    let history = in_range(c, &p.history, &key("history"), 0..=100, 0) as u32;
    let external_imports = external_imports_of(c, &p.external_imports, &key("external_imports"));
    let (format, platforms) = own_options(c, &p.format, &p.platforms, options, &key);
    ProjectSpec {
        index: i,
        source,
        target,
        exclude,
        target_prefix,
        target_suffix,
        repositories,
        exclude_repositories,
        tags,
        tag_patterns,
        exclude_tags,
        external_imports,
        history,
        format,
        platforms,
    }
}

/// A project's `source` and `target` namespaces. With `source = "*"` each
/// project keeps its name, so a `target` is an error.
fn project_names(
    c: &mut Collector,
    p: &raw::Project,
    all: bool,
    key: &dyn Fn(&str) -> String,
) -> (String, String) {
    let mut namespace = |v: &toml::Spanned<String>, k: &str| {
        let ns = v.get_ref().trim().to_string();
        if !valid_namespace(&ns) {
            c.add(
                Some(v.span()),
                key(k),
                format!("{ns:?} is not a project (namespace) name: lowercase, no '/'"),
            );
        }
        ns
    };
    let source = match all {
        true => ALL_PROJECTS.to_string(),
        false => namespace(&p.source, "source"),
    };
    let target = match (&p.target, all) {
        (Some(t), true) => {
            c.add(
                Some(t.span()),
                key("target"),
                "with source = \"*\" each project keeps its name: use target_prefix or target_suffix",
            );
            String::new()
        }
        (Some(t), false) => namespace(t, "target"),
        (None, _) => source.clone(),
    };
    (source, target)
}

/// `target_prefix` / `target_suffix`: only beside `source = "*"`, and only
/// characters a namespace may hold.
fn project_affix(
    c: &mut Collector,
    v: &Option<toml::Spanned<String>>,
    all: bool,
    key: &str,
) -> String {
    let Some(v) = v else { return String::new() };
    let text = v.get_ref().trim().to_string();
    let ok = all
        && text.len() < 64
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        c.add(
            Some(v.span()),
            key.to_string(),
            "only with source = \"*\", and lowercase letters, digits and '-'",
        );
    }
    text
}

/// `external_imports = "copy" | "skip" | "reference"` (default copy).
fn external_imports_of(
    c: &mut Collector,
    v: &Option<toml::Spanned<String>>,
    key: &str,
) -> ExternalImports {
    match v.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("copy", _)) => ExternalImports::Copy,
        Some(("skip", _)) => ExternalImports::Skip,
        Some(("reference", _)) => ExternalImports::Reference,
        Some((other, span)) => {
            c.add(
                Some(span),
                key.to_string(),
                format!("{other:?} is not one of \"copy\", \"skip\", \"reference\""),
            );
            ExternalImports::Copy
        }
    }
}

/// `api = "https://..."` of a section: a URL with a host, https unless the
/// section is `insecure`; trusted with the section's `ca_file`, like its
/// registry.
fn api_of(
    c: &mut Collector,
    dir: &Path,
    section: &str,
    e: &raw::Endpoint,
    ca_file: &Option<PathBuf>,
) -> Option<crate::openshift::ApiEndpoint> {
    let password = password_source(
        c,
        dir,
        section,
        "api_password",
        [&e.api_password_env, &e.api_password_file],
        &e.api_password_command,
    );
    let Some(v) = e.api.as_ref() else {
        if password.is_some() {
            c.add(
                None,
                format!("{section}.api"),
                "api_password_* is set but api is not",
            );
        }
        return None;
    };
    let key = format!("{section}.api");
    let text = v.get_ref().trim();
    let insecure = e.insecure.unwrap_or(false);
    match reqwest::Url::parse(text) {
        Ok(u)
            if u.host_str().is_some()
                && u.username().is_empty()
                && u.password().is_none()
                && u.query().is_none()
                && (u.scheme() == "https" || (u.scheme() == "http" && insecure)) =>
        {
            Some(crate::openshift::ApiEndpoint {
                url: text.trim_end_matches('/').to_string(),
                ca_file: ca_file.clone(),
                password,
            })
        }
        _ => {
            c.add(
                Some(v.span()),
                key,
                "must be the cluster API's URL, https://host[:port] (http:// only with insecure = true), without user, password or query",
            );
            None
        }
    }
}

/// Two entries from different sources may not fill one target repository
/// with the same tags.
fn overlapping_targets(c: &mut Collector, list: &[raw::Image], images: &[ImageSpec]) {
    let mut seen = std::collections::HashMap::new();
    for (i, im) in list.iter().enumerate() {
        let t = images[i].target.clone();
        if let Some(prev) = seen.insert(t.clone(), i) {
            let overlapping = images[prev].tags.is_none() || images[i].tags.is_none();
            if overlapping && images[prev].source != images[i].source {
                c.add(
                    Some(im.source.span()),
                    format!("images[{i}].target"),
                    format!("{t:?} is also the target of images[{prev}] from another source; give one of them a tags filter or another target"),
                );
            }
        }
    }
}

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
