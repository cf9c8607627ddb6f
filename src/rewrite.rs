//! `rewrite`: after a migration, points Kubernetes and OpenShift YAML at
//! the target. Finds image references to the source registry (its name
//! and `[source] aliases`) where workloads hold them: `image` of every
//! container, init and ephemeral container (Deployment, DeploymentConfig,
//! StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, and `List`s of
//! them), and `name` of every `kind: DockerImage` object reference
//! (DeploymentConfig triggers, BuildConfig output and strategy `from`,
//! ImageStream tags). Each becomes target registry and repository, the same
//! tag, and for a digest reference the digest the journal recorded for it.
//! A reference it cannot map is listed, never guessed.
//!
//! Only the bytes of each rewritten value change: the YAML is parsed for
//! where values are (yaml-rust2's event parser gives byte positions), and
//! the edits are made in the original text, so comments, order, quoting
//! and indentation stay as they were. Reads the plan and the journal only.

use crate::journal::Replay;
use crate::oci::Digest;
use crate::plan::Plan;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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
    /// journal's done records.
    pub digests: HashMap<(String, Digest), Digest>,
    /// Source `repo:tag`s the journal records as migrated: only those are
    /// rewritten (an excluded or failed tag is reported, never pointed at
    /// a target reference that does not exist).
    pub done_tags: std::collections::HashSet<String>,
}

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
        let digests = replay
            .done
            .iter()
            .filter(|((source, target), _)| plan.produces(source, target))
            .map(|((source, _), d)| {
                let repo = crate::expand::repo_of(source);
                (
                    (repo.to_string(), d.source_digest.clone()),
                    d.target_digest.clone(),
                )
            })
            .collect();
        let done_tags = replay
            .done
            .keys()
            .filter(|(source, target)| !source.contains('@') && plan.produces(source, target))
            .map(|(source, _)| source.clone())
            .collect();
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

    /// The target reference for `reference`: `Ok(None)` when it is not a
    /// source reference at all, `Err` (why) when it is one that cannot be
    /// mapped.
    pub fn map(&self, reference: &str) -> Result<Option<String>, String> {
        let Some((host, rest)) = reference.split_once('/') else {
            return Ok(None);
        };
        if !self.source_hosts.iter().any(|h| h == host) {
            return Ok(None);
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
        if !crate::oci::reference::valid_repository(repo) {
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
            if !crate::oci::reference::valid_tag(t) {
                return Err(format!("{} is not a valid tag", crate::model::printable(t)));
            }
            // A tag alone is rewritten only when it was migrated (with a
            // digest, the digest decides below).
            if digest.is_none() && !self.done_tags.contains(&format!("{repo}:{t}")) {
                return Err(format!(
                    "the journal records no migrated {repo}:{t} (excluded by the plan, failed, or not run yet)"
                ));
            }
            out.push(':');
            out.push_str(t);
        }
        if let Some(d) = digest {
            let d: Digest = d.parse().map_err(|_| format!("{d:?} is not a digest"))?;
            let new = self
                .digests
                .get(&(repo.to_string(), d.clone()))
                .ok_or_else(|| format!("the journal records no migrated image {repo}@{d}"))?;
            out.push('@');
            out.push_str(&new.to_string());
        }
        Ok(Some(out))
    }
}

/// One value rewritten.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// 1-based line.
    pub line: usize,
    /// Byte range of the value in the text.
    pub range: std::ops::Range<usize>,
    /// The reference as it was.
    pub old: String,
    /// The reference it becomes.
    pub new: String,
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

/// A file that is not YAML.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// The parser's message.
    pub message: String,
}

/// Where an image reference was found: the value and where it starts.
struct Found {
    value: String,
    style: TScalarStyle,
    mark: Marker,
}

enum Frame {
    Map {
        /// The key whose value comes next, once it was read.
        key: Option<String>,
        docker_image: bool,
        name: Option<Found>,
    },
    Seq {
        /// The key the sequence is the value of (`containers`, ...).
        parent: Option<String>,
    },
}

/// Walks the event stream and collects the image reference values.
#[derive(Default)]
struct Collect {
    stack: Vec<Frame>,
    found: Vec<Found>,
}

const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

impl Collect {
    /// The key under which a new child of the top frame sits, consuming a
    /// mapping's pending key.
    fn child_key(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => key.take(),
            Some(Frame::Seq { parent }) => parent.clone(),
            None => None,
        }
    }
}

impl MarkedEventReceiver for Collect {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::MappingStart(..) => {
                self.child_key();
                self.stack.push(Frame::Map {
                    key: None,
                    docker_image: false,
                    name: None,
                });
            }
            Event::SequenceStart(..) => {
                let parent = self.child_key();
                self.stack.push(Frame::Seq { parent });
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    docker_image: true,
                    name: Some(n),
                    ..
                }) = self.stack.pop()
                {
                    self.found.push(n);
                }
            }
            Event::SequenceEnd => {
                self.stack.pop();
            }
            // An alias is a value (or, rarely, a key) like a scalar: it
            // consumes the pending key, so the keys after it keep their
            // values (`env: *base_env` then `image:`; `<<: *defaults`).
            Event::Alias(_) => {
                if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                    if key.take().is_none() {
                        *key = Some(String::new());
                    }
                }
            }
            Event::Scalar(value, style, ..) => {
                let in_container = self.stack.len() >= 2
                    && matches!(
                        self.stack.get(self.stack.len() - 2),
                        Some(Frame::Seq { parent: Some(p) }) if CONTAINER_LISTS.contains(&p.as_str())
                    );
                let Some(Frame::Map {
                    key,
                    docker_image,
                    name,
                    ..
                }) = self.stack.last_mut()
                else {
                    return;
                };
                match key.take() {
                    None => *key = Some(value),
                    Some(k) => match k.as_str() {
                        "image" if in_container => self.found.push(Found { value, style, mark }),
                        "kind" if value == "DockerImage" => *docker_image = true,
                        "name" => *name = Some(Found { value, style, mark }),
                        _ => {}
                    },
                }
            }
            _ => {}
        }
    }
}

/// The byte range of a scalar's value in `text`, when it is written
/// without escapes (image references never need any). The parser's marker
/// counts characters (its documentation says bytes); both readings are
/// tried, and a range is only taken when the text there is the value.
fn value_range(text: &str, f: &Found) -> Option<std::ops::Range<usize>> {
    let quote = match f.style {
        TScalarStyle::Plain => 0,
        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => 1,
        _ => return None,
    };
    let by_chars = text
        .char_indices()
        .nth(f.mark.index())
        .map(|(b, _)| b)
        .unwrap_or(text.len());
    [by_chars, f.mark.index()].into_iter().find_map(|at| {
        let start = at + quote;
        let end = start + f.value.len();
        (text.get(start..end) == Some(f.value.as_str())).then_some(start..end)
    })
}

/// Deepest nesting of collections a file may have: the event loop is
/// flat, but what reads the file after us may not be, and no workload
/// needs more.
pub const MAX_DEPTH: usize = 1000;

/// Walks the events of `text` (every document) in a loop, not by
/// recursion, so that deep nesting cannot overflow the stack; past
/// [`MAX_DEPTH`] the file is refused.
fn collect(text: &str) -> Result<Collect, YamlError> {
    let mut c = Collect::default();
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| YamlError {
            line: e.marker().line(),
            message: e.info().to_string(),
        })?;
        match ev {
            Event::StreamEnd => return Ok(c),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(YamlError {
                        line: mark.line(),
                        message: format!("nested deeper than {MAX_DEPTH} levels"),
                    });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            _ => {}
        }
        c.on_event(ev, mark);
    }
}

/// Finds and maps the image references in one YAML text (any number of
/// documents). Returns the rewritten text, the edits and what was left.
pub fn rewrite_text(
    text: &str,
    m: &Mapping,
) -> Result<(String, Vec<Edit>, Vec<Unmapped>), YamlError> {
    let c = collect(text)?;
    let mut edits = Vec::new();
    let mut unmapped = Vec::new();
    for f in c.found {
        let line = f.mark.line();
        match m.map(&f.value) {
            Ok(None) => {}
            Ok(Some(new)) => match value_range(text, &f) {
                Some(range) => edits.push(Edit {
                    line,
                    range,
                    old: f.value,
                    new,
                }),
                None => unmapped.push(Unmapped {
                    line,
                    reference: f.value,
                    reason: "written in a form this tool does not edit (block scalar or escapes)"
                        .into(),
                }),
            },
            Err(reason) => unmapped.push(Unmapped {
                line,
                reference: f.value,
                reason,
            }),
        }
    }
    edits.sort_by_key(|e| e.range.start);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for e in &edits {
        out.push_str(&text[at..e.range.start]);
        out.push_str(&e.new);
        at = e.range.end;
    }
    out.push_str(&text[at..]);
    Ok((out, edits, unmapped))
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
