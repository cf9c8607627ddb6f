//! `rewrite`: after a migration, points Kubernetes and OpenShift YAML at
//! the target. Reads the plan and the journal only; its place in the flow
//! is after `run` and `verify`, before the workloads are applied on the
//! target cluster.
//!
//! What it rewrites, in every document of every file:
//! - any scalar naming an image of the source registry (its name or one of
//!   `[source] aliases`), whatever key holds it: containers, Tekton steps,
//!   Argo templates, operator resources, env values, Template parameters,
//!   DeploymentConfig `lastTriggeredImage`, DockerImage object references,
//!   and references inside longer strings (the JSON of the
//!   `image.openshift.io/triggers` annotation, a script's `skopeo copy`);
//! - repository-only values (`dockerImageRepository`, kustomize `newName`,
//!   Helm `repository`): the target registry and mapped repository;
//! - `kind: ImageStreamImage` names (`stream@sha256:old`): the digest the
//!   image got on the target (an `oci` conversion changes it).
//!
//! A reference is rewritten only when the journal records that tag or
//! digest as migrated (child digests of a migrated index included); what
//! cannot be mapped is listed with the reason, never guessed, and a
//! template parameter inside a reference is named. After rewriting, any
//! other mention of the source registry (a comment, a URL, a bare host) is
//! listed by line, so nothing is left behind in silence.
//!
//! Only the bytes of each rewritten reference change ([`yaml`] keeps every
//! scalar's byte range), so comments, order, quoting and indentation stay
//! as they were.

pub mod yaml;

pub use yaml::{YamlError, MAX_DEPTH};

use crate::journal::Replay;
use crate::oci::reference::{valid_repository, valid_tag};
use crate::oci::Digest;
use crate::plan::Plan;
use std::collections::{HashMap, HashSet};
use yaml::{Node, Tree};

/// How source references map to the target.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Names of the source registry (its `registry` and aliases).
    pub source_hosts: Vec<String>,
    /// The target registry.
    pub target_host: String,
    /// Source repository -> target repository, from the plan's
    /// `[[images]]` (the journal only confirms: a record the plan cannot
    /// produce is ignored, so a planted journal cannot point YAML
    /// elsewhere).
    pub repos: HashMap<String, String>,
    /// `[[projects]]`: repositories of a namespace the plan selects map to
    /// the same name in the target namespace.
    pub projects: Vec<crate::plan::ProjectSpec>,
    /// (source repository, source digest) -> target digest, from the
    /// journal's done records: each tag's manifest and, for an index, each
    /// child's.
    pub digests: HashMap<(String, Digest), Digest>,
    /// Source `repo:tag`s the journal records as migrated: only those are
    /// rewritten (an excluded or failed tag is reported, never pointed at
    /// a target reference that does not exist). Ordered, so that a
    /// repository's tags are found by a range (`repo:` onwards).
    pub done_tags: std::collections::BTreeSet<String>,
}

/// What a value names, by where it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Role {
    /// An image: a tag or digest reference, or a bare repository meaning
    /// its `latest` tag.
    Image,
    /// A repository alone (`dockerImageRepository`, `newName`, Helm
    /// `repository`): no tag is implied.
    Repository,
}

/// Keys whose value is a repository without a tag.
/// (`baseImage` is the prometheus-operator's, beside `version`.)
const REPOSITORY_KEYS: &[&str] = &[
    "dockerImageRepository",
    "publicDockerImageRepository",
    "newName",
    "repository",
    "baseImage",
];

impl Mapping {
    /// The mapping a plan and its journal give.
    pub fn new(plan: &Plan, replay: &Replay) -> Mapping {
        let mut source_hosts = vec![plan.source.registry.clone()];
        source_hosts.extend(plan.source_aliases.iter().cloned());
        let repos: HashMap<String, String> = plan
            .images
            .iter()
            .map(|i| (i.source.clone(), i.target.clone()))
            .collect();
        let mut digests = HashMap::new();
        let mut done_tags = std::collections::BTreeSet::new();
        for ((source, target), d) in &replay.done {
            if !plan.produces(source, target) {
                continue;
            }
            let repo = crate::expand::repo_of(source).to_string();
            for c in &d.children {
                digests.insert(
                    (repo.clone(), c.source_digest.clone()),
                    c.target_digest.clone(),
                );
            }
            digests.insert(
                (repo.clone(), d.source_digest.clone()),
                d.target_digest.clone(),
            );
            if !source.contains('@') {
                done_tags.insert(source.clone());
            }
        }
        Mapping {
            source_hosts,
            target_host: plan.target.registry.clone(),
            repos,
            projects: plan.projects.clone(),
            digests,
            done_tags,
        }
    }

    /// The target repository the plan gives `repo`: its `[[images]]`
    /// entry, or a `[[projects]]` entry whose namespace and globs select it.
    fn target_repo(&self, repo: &str) -> Option<String> {
        if let Some(t) = self.repos.get(repo) {
            return Some(t.clone());
        }
        let (ns, name) = repo.split_once('/')?;
        self.projects.iter().find_map(|p| p.target_of(ns, name))
    }

    /// The source host `reference` starts with, and the rest after `/`.
    fn split_host<'r>(&self, reference: &'r str) -> Option<&'r str> {
        self.source_hosts.iter().find_map(|h| {
            reference
                .strip_prefix(h.as_str())
                .and_then(|r| r.strip_prefix('/'))
        })
    }

    /// The target reference for `reference`: `Ok(None)` when it is not a
    /// source reference at all, `Err` (why) when it is one that cannot be
    /// mapped.
    pub fn map(&self, reference: &str, role: Role) -> Result<Option<String>, String> {
        let Some(rest) = self.split_host(reference) else {
            return Ok(None);
        };
        if let Some(params) = template_parameters(rest) {
            return Err(format!(
                "{params} is a template parameter: the reference is only known once the template is processed; map it by hand"
            ));
        }
        let (name, digest) = match rest.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (rest, None),
        };
        let (repo, tag) = match name.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t)),
            _ => (name, None),
        };
        // The replacement is built only from validated parts: the plan's
        // registry and repository, and a tag and digest that pass the
        // grammar.
        if !valid_repository(repo) {
            return Err(format!(
                "{} is not a valid repository",
                crate::model::printable(repo)
            ));
        }
        let target_repo = self
            .target_repo(repo)
            .ok_or_else(|| format!("repository {repo} is not in the plan"))?;
        let mut out = format!("{}/{target_repo}", self.target_host);
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(format!("{} is not a valid tag", crate::model::printable(t)));
            }
            out.push(':');
            out.push_str(t);
        }
        match (digest, tag, role) {
            (Some(d), ..) => {
                let d: Digest = d
                    .parse()
                    .map_err(|_| format!("{} is not a digest", crate::model::printable(d)))?;
                let new = self
                    .digests
                    .get(&(repo.to_string(), d.clone()))
                    .ok_or_else(|| format!("the journal records no migrated image {repo}@{d}"))?;
                out.push('@');
                out.push_str(&new.to_string());
            }
            // A tag alone is rewritten only when it was migrated; so is a
            // bare image name, which means `latest`.
            (None, Some(_), _) | (None, None, Role::Image) => {
                let t = tag.unwrap_or("latest");
                if !self.done_tags.contains(&format!("{repo}:{t}")) {
                    return Err(format!(
                        "the journal records no migrated {repo}:{t} (excluded by the plan, failed, or not run yet)"
                    ));
                }
            }
            (None, _, Role::Repository) => {
                let prefix = format!("{repo}:");
                let first = self.done_tags.range(prefix.clone()..).next();
                if !first.is_some_and(|t| t.starts_with(&prefix)) {
                    return Err(format!(
                        "the journal records no migrated tag of {repo} (excluded by the plan, failed, or not run yet)"
                    ));
                }
            }
        }
        Ok(Some(out))
    }

    /// An `ImageStreamImage` name (`stream@digest`, in namespace `ns` when
    /// known): the name it becomes on the target (`stream@new digest`)
    /// and the target namespace.
    pub fn map_stream_image(
        &self,
        ns: Option<&str>,
        name: &str,
    ) -> Result<(String, String), String> {
        let (stream, digest) = name
            .split_once('@')
            .ok_or_else(|| "an ImageStreamImage name is stream@digest".to_string())?;
        let digest: Digest = digest
            .parse()
            .map_err(|_| format!("{} is not a digest", crate::model::printable(digest)))?;
        let mut found: Vec<(String, &Digest)> = self
            .digests
            .iter()
            .filter(|((repo, d), _)| {
                *d == digest
                    && repo.rsplit_once('/').is_some_and(|(n, s)| {
                        s == stream && ns.is_none_or(|ns| ns == n || ns.contains("${"))
                    })
            })
            .filter_map(|((repo, _), new)| Some((self.target_repo(repo)?, new)))
            .collect();
        found.sort();
        found.dedup();
        match found.as_slice() {
            [(target, new)] => {
                let (tns, tstream) = target
                    .rsplit_once('/')
                    .ok_or_else(|| format!("{target} has no namespace"))?;
                Ok((format!("{tstream}@{new}"), tns.to_string()))
            }
            [] => Err(format!(
                "the journal records no migrated image {}{stream}@{digest}",
                ns.map(|n| format!("{n}/")).unwrap_or_default()
            )),
            _ => Err(format!(
                "{stream}@{digest} was migrated from more than one namespace; give the reference a namespace"
            )),
        }
    }
}

/// The template parameters (`${NAME}`, `$(params.x)`) in a reference, or
/// `None`.
fn template_parameters(rest: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(i) = rest[at..].find('$') {
        let s = at + i;
        let close = match rest.as_bytes().get(s + 1) {
            Some(b'{') => '}',
            Some(b'(') => ')',
            _ => {
                at = s + 1;
                continue;
            }
        };
        let end = rest[s..].find(close).map_or(rest.len(), |e| s + e + 1);
        out.push(&rest[s..end]);
        at = end;
    }
    (!out.is_empty()).then(|| out.join(", "))
}

/// One reference rewritten.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// 1-based line.
    pub line: usize,
    /// Byte range of the reference in the text.
    pub range: std::ops::Range<usize>,
    /// The reference as it was.
    pub old: String,
    /// The reference it becomes.
    pub new: String,
    /// For a value with an anchor: the lines of the aliases that use it
    /// (rewritten once, where it is written).
    pub aliases: Vec<usize>,
}

/// A source reference left as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmapped {
    /// 1-based line.
    pub line: usize,
    /// The reference.
    pub reference: String,
    /// Why it was not mapped.
    pub reason: String,
}

/// A mention of the source registry left in the text after rewriting that
/// is not an image reference `rewrite` understands (a comment, a URL, a
/// registry name alone).
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    /// 1-based line.
    pub line: usize,
    /// The host named.
    pub host: String,
}

/// The outcome of rewriting one text.
#[derive(Debug, Clone, Default)]
pub struct Rewritten {
    /// The text with the edits made.
    pub text: String,
    /// What was rewritten, in text order.
    pub edits: Vec<Edit>,
    /// References left as they were, with why.
    pub unmapped: Vec<Unmapped>,
    /// Other mentions of the source registry on lines not listed above.
    pub mentions: Vec<Mention>,
}

/// Byte offsets where each line starts, for line numbers of offsets.
struct Lines(Vec<usize>);

impl Lines {
    fn new(text: &str) -> Lines {
        let mut v = vec![0];
        v.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(v)
    }

    /// The 1-based line of a byte offset.
    fn of(&self, at: usize) -> usize {
        self.0.partition_point(|&s| s <= at).max(1)
    }
}

/// True for a byte that can be part of a host name.
fn host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Where `host` is named in `text` as a whole host name (not part of a
/// longer one): byte offsets of its first byte.
fn host_mentions<'t>(text: &'t str, host: &'t str) -> impl Iterator<Item = usize> + 't {
    let bytes = text.as_bytes();
    text.match_indices(host).filter_map(move |(i, _)| {
        let before = i.checked_sub(1).and_then(|b| bytes.get(b)).copied();
        let after = bytes.get(i + host.len()).copied();
        let next = bytes.get(i + host.len() + 1).copied();
        // A longer host name (`x-host`, `host.example`) or another port
        // (`host:5000` for a host named without one) is not this host.
        let longer = before.is_some_and(host_byte)
            || after.is_some_and(|a| a.is_ascii_alphanumeric() || a == b'-')
            || (after == Some(b'.') && next.is_some_and(|c| c.is_ascii_alphanumeric()))
            || (after == Some(b':') && next.is_some_and(|c| c.is_ascii_digit()));
        let whole = !longer;
        whole.then_some(i)
    })
}

/// The image reference starting at `at` (a host named there): the longest
/// run of reference characters, a template parameter (`${X}`, `$(x)`)
/// kept whole, a trailing `.` or `:` (end of a sentence) left out.
fn reference_at(text: &str, at: usize) -> &str {
    let bytes = text.as_bytes();
    let mut end = at;
    while let Some(&b) = bytes.get(end) {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@') {
            end += 1;
        } else if b == b'$' && matches!(bytes.get(end + 1), Some(b'{' | b'(')) {
            let close = if bytes.get(end + 1) == Some(&b'{') {
                b'}'
            } else {
                b')'
            };
            match bytes[end..].iter().position(|&c| c == close) {
                Some(p) => end += p + 1,
                None => break,
            }
        } else {
            break;
        }
    }
    text[at..end].trim_end_matches(['.', ':'])
}

/// The role of a scalar by its key and its mapping's other keys.
fn role_of(tree: &Tree, s: &yaml::Scalar) -> Role {
    let key = s.key.as_deref().unwrap_or_default();
    if REPOSITORY_KEYS.contains(&key) {
        return Role::Repository;
    }
    // kustomize `images[]` (`name` beside `newName`/`newTag`), and an
    // `image` beside its own `tag` (Helm values, Argo items): the tag is
    // written apart, so the value is a repository.
    let beside = |keys: &[&str]| {
        s.parent
            .is_some_and(|p| keys.iter().any(|k| tree.get(p, k).is_some()))
    };
    match key {
        "name" if beside(&["newName", "newTag", "digest"]) => Role::Repository,
        "image" if beside(&["tag"]) => Role::Repository,
        _ => Role::Image,
    }
}

/// The namespace an object reference in mapping `map` names: its own
/// `namespace`, else the `metadata.namespace` of the nearest object
/// around it.
fn namespace_of(tree: &Tree, map: usize) -> Option<&str> {
    if let Some(ns) = tree.get(map, "namespace") {
        return Some(&ns.value);
    }
    let mut at = tree.parent(map);
    while let Some(n) = at {
        if let Some(ns) = tree
            .get_map(n, "metadata")
            .and_then(|m| tree.get(m, "namespace"))
        {
            return Some(&ns.value);
        }
        at = tree.parent(n);
    }
    None
}

struct Collector<'a> {
    text: &'a str,
    lines: Lines,
    m: &'a Mapping,
    edits: Vec<Edit>,
    unmapped: Vec<Unmapped>,
}

impl Collector<'_> {
    fn unmapped(&mut self, at: usize, reference: &str, reason: String) {
        self.unmapped.push(Unmapped {
            line: self.lines.of(at),
            reference: reference.to_string(),
            reason,
        });
    }

    fn edit(&mut self, at: usize, old: &str, new: String, aliases: Vec<usize>) {
        self.edits.push(Edit {
            line: self.lines.of(at),
            range: at..at + old.len(),
            old: old.to_string(),
            new,
            aliases,
        });
    }

    /// Every source reference written in one scalar.
    fn scalar(&mut self, s: &yaml::Scalar, role: Role, aliases: Vec<usize>) {
        let Some(raw) = self.text.get(s.raw.clone()) else {
            return;
        };
        if self.m.source_hosts.contains(&s.value) {
            self.unmapped(
                s.raw.start,
                &s.value,
                "a registry name alone: the repository beside it decides where it points; set both by hand"
                    .into(),
            );
            return;
        }
        let mut starts: Vec<usize> = self
            .m
            .source_hosts
            .iter()
            .flat_map(|h| host_mentions(raw, h))
            .collect();
        starts.sort_unstable();
        starts.dedup();
        for i in starts {
            let reference = reference_at(raw, i);
            if !reference.contains('/') {
                continue;
            }
            let at = s.raw.start + i;
            // Only the whole value takes the role its key gives; a
            // reference inside a longer string is an image.
            let role = if reference == s.value {
                role
            } else {
                Role::Image
            };
            match self.m.map(reference, role) {
                Ok(None) => {}
                Ok(Some(new)) if s.flow || reference != s.value => {
                    self.edit(at, reference, new, aliases.clone())
                }
                Ok(Some(_)) => self.unmapped(
                    at,
                    reference,
                    "written as a block scalar, which this tool does not edit".into(),
                ),
                Err(reason) => self.unmapped(at, reference, reason),
            }
        }
    }

    /// A `kind: ImageStreamImage` reference in mapping `map`.
    fn stream_image(&mut self, tree: &Tree, map: usize) {
        let Some(name) = tree.get(map, "name") else {
            return;
        };
        if !name.flow || !name.value.contains('@') {
            return;
        }
        let ns = namespace_of(tree, map);
        match self.m.map_stream_image(ns, &name.value) {
            Ok((new, target_ns)) => {
                let Some(i) = self
                    .text
                    .get(name.raw.clone())
                    .and_then(|r| r.find(name.value.as_str()))
                else {
                    return;
                };
                self.edit(name.raw.start + i, &name.value, new, Vec::new());
                // An explicit namespace follows the image to the target.
                if let Some(n) = tree.get(map, "namespace") {
                    let at = self.text.get(n.raw.clone()).and_then(|r| r.find(&n.value));
                    if let (Some(i), true) = (at, n.value != target_ns && n.flow) {
                        self.edit(n.raw.start + i, &n.value, target_ns, Vec::new());
                    }
                }
            }
            Err(reason) => self.unmapped(name.raw.start, &name.value, reason),
        }
    }
}

/// Finds and maps the image references in one YAML text (any number of
/// documents).
pub fn rewrite_text(text: &str, m: &Mapping) -> Result<Rewritten, YamlError> {
    let tree = yaml::read(text)?;
    let mut c = Collector {
        text,
        lines: Lines::new(text),
        m,
        edits: Vec::new(),
        unmapped: Vec::new(),
    };
    // Where each anchored scalar is used through an alias.
    let mut uses: HashMap<&str, Vec<usize>> = HashMap::new();
    for n in &tree.nodes {
        if let Node::Alias { anchor, at } = n {
            uses.entry(anchor.as_str())
                .or_default()
                .push(c.lines.of(*at));
        }
    }
    for (i, n) in tree.nodes.iter().enumerate() {
        match n {
            Node::Scalar(s) => {
                let aliases = s
                    .anchor
                    .as_deref()
                    .and_then(|a| uses.get(a))
                    .cloned()
                    .unwrap_or_default();
                c.scalar(s, role_of(&tree, s), aliases);
            }
            Node::Map { .. }
                if tree
                    .get(i, "kind")
                    .is_some_and(|k| k.value == "ImageStreamImage") =>
            {
                c.stream_image(&tree, i)
            }
            _ => {}
        }
    }
    let Collector {
        mut edits,
        unmapped,
        ..
    } = c;
    edits.sort_by_key(|e| e.range.start);
    edits.dedup_by_key(|e| e.range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in &edits {
        // Edits never overlap (each is one reference); one that would is
        // dropped rather than corrupting the text.
        if e.range.start < at {
            continue;
        }
        out.push_str(&text[at..e.range.start]);
        out.push_str(&e.new);
        at = e.range.end;
    }
    out.push_str(&text[at..]);
    let mentions = leftover(&out, m, &unmapped);
    Ok(Rewritten {
        text: out,
        edits,
        unmapped,
        mentions,
    })
}

/// The mentions of a source host left in `text`, on lines no unmapped
/// reference already names.
fn leftover(text: &str, m: &Mapping, unmapped: &[Unmapped]) -> Vec<Mention> {
    let lines = Lines::new(text);
    let reported: HashSet<usize> = unmapped.iter().map(|u| u.line).collect();
    let mut out: Vec<Mention> = m
        .source_hosts
        .iter()
        .flat_map(|h| {
            let lines = &lines;
            host_mentions(text, h).map(move |i| Mention {
                line: lines.of(i),
                host: h.clone(),
            })
        })
        .filter(|x| !reported.contains(&x.line))
        .collect();
    out.sort_by_key(|x| x.line);
    out.dedup_by_key(|x| x.line);
    out
}

/// A unified diff of a rewrite (zero lines of context: every edit stays on
/// its line). Written here because the edits are line-local and known;
/// a general diff algorithm would be wasted.
pub fn unified_diff(path: &str, before: &str, after: &str, edits: &[Edit]) -> String {
    if edits.is_empty() {
        return String::new();
    }
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let new: Vec<&str> = after.split_inclusive('\n').collect();
    let mut lines: Vec<usize> = edits.iter().map(|e| e.line).collect();
    lines.dedup();
    let shown = path.trim_start_matches('/');
    let mut out = format!("--- a/{shown}\n+++ b/{shown}\n");
    for l in lines {
        let (Some(o), Some(n)) = (old.get(l - 1), new.get(l - 1)) else {
            continue;
        };
        out.push_str(&format!("@@ -{l} +{l} @@\n-{o}"));
        if !o.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
        out.push_str(&format!("+{n}"));
        if !n.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    }
    out
}

/// The YAML files under `paths` (files as given; directories searched for
/// `*.yaml` and `*.yml`), sorted.
pub fn yaml_files(paths: &[std::path::PathBuf]) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut todo: Vec<std::path::PathBuf> = paths.to_vec();
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p)? {
                let e = e?.path();
                let yaml = e.extension().is_some_and(|x| x == "yaml" || x == "yml");
                // Symbolic links to directories are not followed: a loop
                // would never end.
                let real_dir = std::fs::symlink_metadata(&e).is_ok_and(|m| m.is_dir());
                if real_dir || (yaml && !e.is_dir()) {
                    todo.push(e);
                }
            }
        } else {
            out.push(p);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Writes `text` to `path` as an editor should: a symbolic link is
/// followed to the file it points to (the link stays a link), a temporary
/// file is created exclusively (an unpredictable name, never following a
/// planted link) in that file's directory with the file's mode, written,
/// fsync'd, renamed over the file, and the directory fsync'd. The file is
/// never half written and nothing else is touched.
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let real = std::fs::canonicalize(path)?;
    let meta = std::fs::metadata(&real)?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            real.display()
        )));
    }
    let dir = real
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = real
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".rahti-migrate.tmp")
        .permissions(meta.permissions())
        .tempfile_in(dir)?;
    // Created with at most the file's mode (the umask may take bits away);
    // exactly it before any byte is written.
    tmp.as_file().set_permissions(meta.permissions())?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&real).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
