//! Expansion: a validated plan plus the source's tag lists become the list
//! of tag jobs, in a stable order (plan order, then tags sorted). Second
//! step of the flow, between `plan` and `copy`.

use crate::oci::reference::valid_tag;
use crate::oci::Digest;
use crate::openshift::Api;
use crate::plan::{ExternalImports, Format, ImageSpec, Plan, Platforms};
use crate::registry::error::DisplayUrl;
use crate::registry::{Client, RegistryError};
use std::sync::Arc;

/// One tag to migrate.
#[derive(Debug, Clone, PartialEq)]
pub struct TagJob {
    /// Source repository.
    pub source_repo: Arc<str>,
    /// Target repository.
    pub target_repo: Arc<str>,
    /// The tag (same name in both); for a history image, the tag whose
    /// earlier image it is. Boxed: no spare capacity, a plan holds a job
    /// per tag.
    pub tag: Box<str>,
    /// A history image (`[[projects]] history`): this earlier image of the
    /// tag is copied by digest and left untagged. Boxed: most jobs have
    /// none, and a plan holds a job per tag.
    pub history: Option<Box<Digest>>,
    /// Manifest format.
    pub format: Format,
    /// Platforms to copy (shared by the tags of an entry).
    pub platforms: Arc<Platforms>,
}

/// The image digest a cosign-style tag refers to: `sha256-<hex>.sig`,
/// `.att` or `.sbom` name the signature, attestation or SBOM of the image
/// `sha256:<hex>`.
pub fn signed_digest(tag: &str) -> Option<Digest> {
    let (name, kind) = tag.rsplit_once('.')?;
    if !matches!(kind, "sig" | "att" | "sbom") {
        return None;
    }
    let hex = name.strip_prefix("sha256-")?;
    format!("sha256:{hex}").parse().ok()
}

impl TagJob {
    /// `repo:tag` in the source (`repo@digest` for a history image).
    pub fn source_ref(&self) -> String {
        match &self.history {
            Some(d) => format!("{}@{d}", self.source_repo),
            None => format!("{}:{}", self.source_repo, self.tag),
        }
    }
    /// `repo:tag` in the target (`repo@source digest` for a history image,
    /// which has no tag there).
    pub fn target_ref(&self) -> String {
        match &self.history {
            Some(d) => format!("{}@{d}", self.target_repo),
            None => format!("{}:{}", self.target_repo, self.tag),
        }
    }
    /// What to read from the source: the tag, or the history digest.
    pub fn reference(&self) -> String {
        match &self.history {
            Some(d) => d.to_string(),
            None => self.tag.to_string(),
        }
    }
}

/// The repository of a `repo:tag` or `repo@digest` reference as the
/// journal and reports write them.
pub fn repo_of(reference: &str) -> &str {
    match reference.split_once('@') {
        Some((repo, _)) => repo,
        None => reference
            .rsplit_once(':')
            .map(|(r, _)| r)
            .unwrap_or(reference),
    }
}

/// An `[[images]]` entry whose tags could not be listed.
#[derive(Debug)]
pub struct ExpandFailure {
    /// The entry.
    pub spec_index: usize,
    /// Source repository.
    pub source_repo: String,
    /// Target repository.
    pub target_repo: String,
    /// Why.
    pub error: RegistryError,
}

/// The tags of `spec` selected from `all_tags`, sorted.
pub fn select_tags(spec: &ImageSpec, all_tags: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = all_tags
        .iter()
        .filter(|t| spec.wants_tag(t))
        .cloned()
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// What discovery found: the entries to expand (listed and discovered),
/// the projects it could not list, and the tags projects imported from
/// other registries: (source repository, tag) -> external reference.
#[derive(Default)]
pub struct Discovered {
    /// `[[images]]` entries, then one per discovered repository.
    pub specs: Vec<ImageSpec>,
    /// Projects that could not be listed.
    pub failures: Vec<ExpandFailure>,
    /// Tags imported from elsewhere.
    pub external: std::collections::BTreeMap<(String, String), String>,
    /// Target repositories of the discovered entries, by target namespace.
    pub streams: std::collections::BTreeMap<String, Vec<String>>,
    /// Tags to reference rather than copy (`external_imports =
    /// "reference"`): (source repository, tag, target repository, the
    /// import as it was).
    pub references: Vec<(String, String, String, crate::openshift::ExternalTag)>,
    /// Aliases to recreate on the target (with `[target] api`), after the
    /// tag they follow: (source repository, tag, target repository, the
    /// tag it follows).
    pub aliases: Vec<(String, String, String, String)>,
    /// Target repositories of streams with no image, created empty (with
    /// `[target] api`).
    pub empty_streams: Vec<String>,
    /// What discovery found that the user should know.
    pub notes: Vec<Note>,
    /// How each discovered entry's external tags are handled, by source
    /// repository.
    pub modes: std::collections::BTreeMap<String, ExternalImports>,
    /// Earlier images of discovered tags (`history = N`): (index of the
    /// entry in `specs`, tag, digest), newest first per tag.
    pub history: Vec<(usize, String, Digest)>,
    /// The digest each discovered tag points at now, from its image
    /// stream: (source repository, tag) -> digest.
    pub current: std::collections::HashMap<(String, String), Digest>,
}

/// Something discovery found about a tag, a stream or a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// `repo:tag`, `repo`, or the project.
    pub source: String,
    /// Where it would go.
    pub target: String,
    /// Stable code (see [`crate::openshift::StreamNote`], and `no-streams`,
    /// `alias-flattened`, `alias-recreated`, `alias-of-import`).
    pub code: crate::model::FindingCode,
    /// A warning (else information).
    pub warning: bool,
    /// What it means.
    pub message: String,
    /// Whether the tag's bytes are still copied (the note then belongs on
    /// its row; otherwise it is a row of its own).
    pub copied: bool,
}

/// Finds the repositories of every `[[projects]]` entry: through the
/// cluster API when `[source] api` is set (image streams, with the tags
/// imported from other registries), else through the registry's catalog.
async fn discover(plan: &Plan, source: &Client, api: Option<&Api>) -> Discovered {
    let mut d = Discovered {
        specs: plan.images.clone(),
        ..Default::default()
    };
    if plan.projects.is_empty() {
        return d;
    }
    let mut own_hosts = vec![plan.source.registry.clone()];
    own_hosts.extend(plan.source_aliases.iter().cloned());
    let target_api = plan.target_api.is_some();
    let catalog = match api {
        Some(_) => None,
        None => Some(source.catalog().await),
    };
    let mut index = plan.images.len();
    let projects = listed_projects(&mut d, plan, api, index).await;
    for p in &projects {
        let streams = match (api, &catalog) {
            (Some(api), _) => match api.image_streams(&p.source, &own_hosts).await {
                Ok(streams) => {
                    if streams.is_empty() {
                        d.notes.push(no_streams(p, api));
                    }
                    streams
                }
                Err(e) => {
                    d.failures.push(project_failure(p, index, e));
                    continue;
                }
            },
            (None, Some(Ok(repos))) => catalog_streams(repos, &p.source),
            (None, Some(Err(e))) => {
                let e = RegistryError::Protocol {
                    url: DisplayUrl::new(&format!("{}/v2/_catalog", source.registry())),
                    message: format!(
                        "cannot list the repositories of project {}: {e}; OpenShift denies the catalog to project users: set [source] api to the cluster API's URL",
                        p.source
                    ),
                };
                d.failures.push(project_failure(p, index, e));
                continue;
            }
            (None, None) => continue,
        };
        for stream in streams {
            if !p.wants_repository(&stream.name) {
                continue;
            }
            let spec = p.image(index, &stream.name);
            if add_stream(&mut d, p, spec, stream, api.is_some(), target_api) {
                index += 1;
            }
        }
    }
    d
}

/// The plan's projects, with `source = "*"` replaced by every project the
/// user can see through the cluster API (each then an entry of its own).
async fn listed_projects(
    d: &mut Discovered,
    plan: &Plan,
    api: Option<&Api>,
    index: usize,
) -> Vec<crate::plan::ProjectSpec> {
    let mut projects = Vec::new();
    for p in &plan.projects {
        if p.source != crate::plan::ALL_PROJECTS {
            projects.push(p.clone());
            continue;
        }
        let Some(api) = api else { continue };
        match api.projects().await {
            Ok(names) => projects.extend(names.iter().filter_map(|n| p.for_project(n))),
            Err(error) => d.failures.push(project_failure(p, index, error)),
        }
    }
    projects
}

/// A project that could not be listed.
fn project_failure(
    p: &crate::plan::ProjectSpec,
    spec_index: usize,
    error: RegistryError,
) -> ExpandFailure {
    ExpandFailure {
        spec_index,
        source_repo: p.source.clone(),
        target_repo: p.target.clone(),
        error,
    }
}

/// A project the cluster API lists no image stream for: most often a
/// misspelt project or the wrong API.
fn no_streams(p: &crate::plan::ProjectSpec, api: &Api) -> Note {
    Note {
        source: p.source.clone(),
        target: p.target.clone(),
        code: crate::model::FindingCode::NoStreams,
        warning: true,
        message: format!(
            "project {} has no image streams in the cluster API {}: is the project name or the API right?",
            p.source,
            api.url()
        ),
        copied: false,
    }
}

/// Without a cluster API, a project's repositories are the catalog's
/// `project/name` entries, as streams that know only their names.
fn catalog_streams(repos: &[String], project: &str) -> Vec<crate::openshift::ImageStream> {
    let prefix = format!("{project}/");
    repos
        .iter()
        .filter_map(|r| r.strip_prefix(&prefix))
        .filter(|n| !n.contains('/'))
        .map(|n| crate::openshift::ImageStream {
            name: n.to_string(),
            ..Default::default()
        })
        .collect()
}

/// A note on a discovered entry (`repo`) or one of its tags (`repo:tag`).
fn tag_note(
    spec: &ImageSpec,
    tag: Option<&str>,
    code: crate::model::FindingCode,
    warning: bool,
    message: String,
    copied: bool,
) -> Note {
    let name = |repo: &str| match tag {
        Some(t) => format!("{repo}:{t}"),
        None => repo.to_string(),
    };
    Note {
        source: name(&spec.source),
        target: name(&spec.target),
        code,
        warning,
        message,
        copied,
    }
}

/// A stream's imports from other registries, by the project's
/// `external_imports`: left out (`skip`), recreated on the target
/// (`reference`), or copied; each noted for `check`.
fn add_imports(
    d: &mut Discovered,
    p: &crate::plan::ProjectSpec,
    spec: &mut ImageSpec,
    external: &[crate::openshift::ExternalTag],
) {
    for e in external {
        if p.external_imports != ExternalImports::Copy {
            spec.skip_tags.insert(e.tag.clone());
        }
        if p.external_imports == ExternalImports::Reference {
            d.references.push((
                spec.source.clone(),
                e.tag.clone(),
                spec.target.clone(),
                e.clone(),
            ));
        }
        if !e.reference {
            d.external
                .insert((spec.source.clone(), e.tag.clone()), e.from.clone());
        }
    }
}

/// A stream's aliases (`oc tag --alias`): left out with an import that is
/// (`skip`), recreated on the target after the tag they follow (with
/// `[target] api`, or following a referenced import), else copied as
/// images of their own. Returns their notes.
fn add_aliases(
    d: &mut Discovered,
    p: &crate::plan::ProjectSpec,
    spec: &mut ImageSpec,
    stream: &crate::openshift::ImageStream,
    imported: &std::collections::BTreeSet<&str>,
    target_api: bool,
) -> Vec<Note> {
    let mut notes = Vec::new();
    for (tag, of) in &stream.aliases {
        let of_import = imported.contains(of.as_str());
        let name = &stream.name;
        if of_import && p.external_imports == ExternalImports::Skip {
            spec.skip_tags.insert(tag.clone());
            notes.push(tag_note(
                spec,
                Some(tag),
                crate::model::FindingCode::AliasOfImport,
                false,
                format!("{name}:{tag} follows the imported tag {name}:{of}; left out, as imports are (external_imports = \"skip\")"),
                false,
            ));
        } else if target_api || (of_import && p.external_imports == ExternalImports::Reference) {
            spec.skip_tags.insert(tag.clone());
            d.aliases.push((
                spec.source.clone(),
                tag.clone(),
                spec.target.clone(),
                of.clone(),
            ));
            notes.push(tag_note(
                spec,
                Some(tag),
                crate::model::FindingCode::AliasRecreated,
                false,
                format!("{name}:{tag} follows {name}:{of}; the target gets the same alias, after {of} is there"),
                false,
            ));
        } else {
            notes.push(tag_note(
                spec,
                Some(tag),
                crate::model::FindingCode::AliasFlattened,
                false,
                format!("{name}:{tag} follows {name}:{of}; without [target] api it is copied as an image of its own, and no longer follows {of} on the target"),
                true,
            ));
        }
    }
    notes
}

/// The notes on a discovered stream and its tags, each on its row (a tag
/// still copied) or a row of its own; and whether the stream could not be
/// read at all.
fn stream_notes(spec: &ImageSpec, stream: &crate::openshift::ImageStream) -> (Vec<Note>, bool) {
    let note = |tag: Option<&str>, code, warning, message, copied| Note {
        source: match tag {
            Some(t) => format!("{}:{t}", spec.source),
            None => spec.source.clone(),
        },
        target: match tag {
            Some(t) => format!("{}:{t}", spec.target),
            None => spec.target.clone(),
        },
        code,
        warning,
        message,
        copied,
    };
    let unreadable = stream
        .notes
        .iter()
        .any(|n| n.code == crate::model::FindingCode::StreamUnreadable);
    let mut notes: Vec<Note> = Vec::new();
    for n in &stream.notes {
        let copied = n.tag.as_deref().is_some_and(|t| {
            stream.tags.iter().any(|s| s == t) && !stream.not_copied.iter().any(|s| s == t)
        });
        notes.push(note(
            n.tag.as_deref(),
            n.code,
            n.warning,
            n.message.clone(),
            copied,
        ));
    }
    (notes, unreadable)
}

/// Adds one discovered stream: its entry (unless it could not be read),
/// its tags classified (imports by `external_imports`, aliases recreated
/// with `[target] api` or flattened, reference-only and imageless tags
/// left out), notes and history. Returns whether an entry was added.
fn add_stream(
    d: &mut Discovered,
    p: &crate::plan::ProjectSpec,
    mut spec: ImageSpec,
    stream: crate::openshift::ImageStream,
    from_api: bool,
    target_api: bool,
) -> bool {
    let (mut notes, unreadable) = stream_notes(&spec, &stream);
    if unreadable {
        d.notes.extend(notes);
        return false;
    }
    for t in &stream.not_copied {
        spec.skip_tags.insert(t.clone());
    }
    let imported: std::collections::BTreeSet<&str> =
        stream.external.iter().map(|e| e.tag.as_str()).collect();
    add_imports(d, p, &mut spec, &stream.external);
    notes.extend(add_aliases(d, p, &mut spec, &stream, &imported, target_api));
    d.notes.extend(notes);
    // (A repository found in the catalog has its tags listed later.)
    if from_api && stream.tags.is_empty() && stream.external.is_empty() && stream.aliases.is_empty()
    {
        if target_api {
            d.empty_streams.push(spec.target.clone());
        }
        return false;
    }
    d.modes.insert(spec.source.clone(), p.external_imports);
    if from_api {
        // Names that are no tags go along, to be reported as a tag list's
        // would be (`sort_names`).
        let listed = stream.tags.iter().chain(&stream.invalid_tags);
        spec.stream_tags = Some(listed.cloned().collect());
    }
    for (tag, digest) in stream.current {
        if spec.wants_tag(&tag) {
            d.current.insert((spec.source.clone(), tag), digest);
        }
    }
    for (tag, earlier) in stream.history {
        if spec.wants_tag(&tag) {
            for digest in earlier.into_iter().take(p.history as usize) {
                d.history.push((d.specs.len(), tag.clone(), digest));
            }
        }
    }
    d.streams
        .entry(p.target.clone())
        .or_default()
        .push(spec.target.clone());
    d.specs.push(spec);
    true
}

/// The jobs for the history images `discover` found: each earlier image
/// once per repository, copied by digest and left untagged.
fn history_jobs(d: &Discovered) -> Vec<TagJob> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, tag, digest) in &d.history {
        let Some(spec) = d.specs.get(*i) else {
            continue;
        };
        if !seen.insert((spec.source.clone(), digest.clone())) {
            continue;
        }
        out.push(TagJob {
            source_repo: spec.source.as_str().into(),
            target_repo: spec.target.as_str().into(),
            tag: tag.as_str().into(),
            history: Some(Box::new(digest.clone())),
            format: spec.format,
            platforms: Arc::new(spec.platforms.clone()),
        });
    }
    out
}

/// What a plan expands into: the tag jobs (history images included), the
/// entries that could not be listed, and what discovery found.
pub struct Expansion {
    /// Tags (and history images) to migrate, in a stable order.
    pub jobs: Vec<TagJob>,
    /// Entries and projects that could not be listed.
    pub failures: Vec<ExpandFailure>,
    /// Invalid tag names the plan would not have copied.
    pub ignored: Vec<IgnoredNames>,
    /// What discovery found (`failures` moved out).
    pub discovered: Discovered,
}

/// Finds the projects' repositories (`discover`, through `api` when
/// given), lists the tags of every entry and selects the wanted ones, and
/// adds the history images. An entry that cannot be listed is reported and
/// the rest go on. `run` and `check` both expand through here.
pub async fn expand(plan: &Plan, source: &Client, api: Option<&Api>) -> Expansion {
    let mut discovered = discover(plan, source, api).await;
    let (mut jobs, mut failures, ignored) = expand_specs(plan, source, &discovered.specs).await;
    jobs.extend(history_jobs(&discovered));
    failures.append(&mut discovered.failures);
    Expansion {
        jobs,
        failures,
        ignored,
        discovered,
    }
}

/// Invalid names in a repository's tag list that the plan would not copy
/// anyway: a warning, not a failure.
#[derive(Debug, Clone)]
pub struct IgnoredNames {
    /// The source repository.
    pub source_repo: String,
    /// Its target repository.
    pub target_repo: String,
    /// The names, sorted and de-duplicated (as the registry sent them:
    /// escape before printing).
    pub names: Vec<String>,
}

impl IgnoredNames {
    /// What to tell the user.
    pub fn message(&self) -> String {
        format!(
            "{}; the plan does not select {}, so nothing is lost",
            invalid_names_message(&self.names),
            if self.names.len() == 1 { "it" } else { "them" }
        )
    }
}

/// Sorted and de-duplicated: a name the registry repeats is one name.
fn select_names(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// "the tag list holds N names that are not valid tags: ...", naming at
/// most ten (a hostile list may hold thousands).
fn invalid_names_message(names: &[String]) -> String {
    const SHOWN: usize = 10;
    let listed: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{n:?}")).collect();
    let more = match names.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    match names.len() {
        1 => format!(
            "the tag list holds {}, which is not a valid tag; it is skipped",
            listed.join(", ")
        ),
        n => format!(
            "the tag list holds {n} names that are not valid tags: {}{more}; they are skipped",
            listed.join(", ")
        ),
    }
}

/// A failed tag listing, explained where the registry may lack the API:
/// distribution answers a missing repository with `NAME_UNKNOWN`; any
/// other 404 or a 405 is a registry without `tags/list`.
fn listing_error(e: RegistryError, spec: &ImageSpec) -> RegistryError {
    match &e {
        RegistryError::Status {
            status: 404 | 405,
            detail,
            url,
            ..
        } if !detail.contains("NAME_UNKNOWN") => RegistryError::Protocol {
            url: url.clone(),
            message: format!(
                "{e}; the source registry does not list tags (no tags/list API, or no such repository): name the tags of {} exactly, e.g. tags = [\"v1\"], and they are read without a listing",
                spec.source
            ),
        },
        _ => e,
    }
}

/// Lists and selects the tags of the given entries.
async fn expand_specs(
    plan: &Plan,
    source: &Client,
    specs: &[ImageSpec],
) -> (Vec<TagJob>, Vec<ExpandFailure>, Vec<IgnoredNames>) {
    use futures::StreamExt;
    // An entry naming its tags exactly is not listed: the tags are read
    // directly (a registry without the tag-list API still serves them).
    // A repository found through the cluster API has its tags from its
    // image stream: OpenShift's registry lists exactly the stream's status
    // tags with an image, so a re-sync costs no request per repository.
    let lists: Vec<_> = futures::stream::iter(specs.iter().map(|s| async move {
        match s.exact_tags().or_else(|| s.stream_tags.clone()) {
            Some(tags) => Ok(tags),
            None => source
                .tag_list(&s.source)
                .await
                .map_err(|e| listing_error(e, s)),
        }
    }))
    .buffered(plan.options.metadata_in_flight())
    .collect()
    .await;
    let mut jobs = Vec::new();
    let mut failures = Vec::new();
    let mut ignored = Vec::new();
    for (spec, list) in specs.iter().zip(lists) {
        match list {
            Ok(all) => {
                let good = sort_names(spec, all, &mut failures, &mut ignored);
                jobs.extend(tag_jobs(spec, &good));
            }
            Err(error) => failures.push(ExpandFailure {
                spec_index: spec.index,
                source_repo: spec.source.clone(),
                target_repo: spec.target.clone(),
                error,
            }),
        }
    }
    (jobs, failures, ignored)
}

/// A name that is not a tag never reaches a URL. Those the plan selects
/// fail the repository's listing once, all named (escaped); those it would
/// never copy are only noted. Returns the valid names.
fn sort_names(
    spec: &ImageSpec,
    all: Vec<String>,
    failures: &mut Vec<ExpandFailure>,
    ignored: &mut Vec<IgnoredNames>,
) -> Vec<String> {
    let (good, bad): (Vec<String>, Vec<String>) = all.into_iter().partition(|t| valid_tag(t));
    let (selected, unselected): (Vec<String>, Vec<String>) = select_names(bad)
        .into_iter()
        .partition(|t| spec.wants_tag(t));
    if !selected.is_empty() {
        failures.push(ExpandFailure {
            spec_index: spec.index,
            source_repo: spec.source.clone(),
            target_repo: spec.target.clone(),
            error: RegistryError::Protocol {
                url: DisplayUrl::new(&format!("/v2/{}/tags/list", spec.source)),
                message: invalid_names_message(&selected),
            },
        });
    }
    if !unselected.is_empty() {
        ignored.push(IgnoredNames {
            source_repo: spec.source.clone(),
            target_repo: spec.target.clone(),
            names: unselected,
        });
    }
    good
}

/// The jobs of the tags an entry selects from its valid names.
fn tag_jobs(spec: &ImageSpec, good: &[String]) -> Vec<TagJob> {
    // Shared by every tag of the repository.
    let (source_repo, target_repo): (Arc<str>, Arc<str>) =
        (spec.source.as_str().into(), spec.target.as_str().into());
    let platforms = Arc::new(spec.platforms.clone());
    select_tags(spec, good)
        .into_iter()
        .map(|tag| TagJob {
            source_repo: source_repo.clone(),
            target_repo: target_repo.clone(),
            // A signature, attestation or SBOM is copied as it is:
            // converting it would break what it says.
            format: match signed_digest(&tag) {
                Some(_) => Format::Preserve,
                None => spec.format,
            },
            tag: tag.into_boxed_str(),
            history: None,
            platforms: platforms.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_job_is_small() {
        // A plan holds one per tag (the size README's Performance section
        // quotes).
        assert!(std::mem::size_of::<TagJob>() <= 72);
    }

    #[test]
    fn cosign_tags_name_the_image_they_sign() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        for kind in ["sig", "att", "sbom"] {
            assert_eq!(
                signed_digest(&format!("sha256-{hex}.{kind}")).map(|d| d.to_string()),
                Some(format!("sha256:{hex}"))
            );
        }
        for not in [
            format!("sha256-{hex}"),
            format!("sha256-{hex}.txt"),
            "sha256-abc.sig".to_string(),
            "v1.sig".to_string(),
        ] {
            assert_eq!(signed_digest(&not), None, "{not}");
        }
    }

    #[test]
    fn selects_and_sorts() {
        let plan = Plan::parse(
            std::path::Path::new("p.toml"),
            r#"version = 1
[source]
registry = "a"
[target]
registry = "b"
[[images]]
source = "x/y"
tags = ["v*", "latest"]
exclude_tags = ["*-rc"]
"#,
        )
        .expect("plan");
        let all: Vec<String> = ["v2", "latest", "v1", "v3-rc", "dev", "v1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            select_tags(&plan.images[0], &all),
            vec!["latest", "v1", "v2"]
        );
    }
}
