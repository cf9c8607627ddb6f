//! Image streams as a migration needs them: each tag of a stream
//! classified as OpenShift means it (pushed, imported from elsewhere, an
//! alias, a reference, a failed import, tagged from another stream), and a
//! stream that cannot be read kept apart with a note, so one odd stream
//! never stops a project.

use super::wire::*;
use super::*;

/// One image stream, as much of it as a migration needs, its tags
/// classified as OpenShift means them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageStream {
    /// Its name (the repository is `namespace/name`).
    pub name: String,
    /// Tags that hold an image (`status.tags[].tag` with items), the ones
    /// to copy as bytes unless a class below says otherwise.
    pub tags: Vec<String>,
    /// Tags imported from another registry (not the cluster's own).
    pub external: Vec<ExternalTag>,
    /// Tags that follow another tag of the same stream (`oc tag --alias`):
    /// (tag, the tag it follows).
    pub aliases: Vec<(String, String)>,
    /// Tags never to copy as bytes (`reference: true`, or no image).
    pub not_copied: Vec<String>,
    /// What to tell the user about this stream's tags.
    pub notes: Vec<StreamNote>,
    /// Status tag names that are not valid tags: never in a URL, but
    /// reported as the registry's tag list would show them.
    pub invalid_tags: Vec<String>,
    /// Earlier images of each tag (`status.tags[].items[1..]`), newest
    /// first.
    pub history: Vec<(String, Vec<crate::oci::Digest>)>,
    /// The image each tag points at now (`status.tags[].items[0].image`),
    /// for tags that have one: what a re-sync compares with the journal.
    pub current: Vec<(String, crate::oci::Digest)>,
}

/// A tag imported from another registry, with what it means: recreated
/// under `external_imports = "reference"` as it was.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExternalTag {
    /// The tag.
    pub tag: String,
    /// The pull spec it imports from (validated).
    pub from: String,
    /// `importPolicy.scheduled`: re-imported periodically.
    pub scheduled: bool,
    /// `importPolicy.insecure`: imported over plain HTTP or without TLS
    /// verification.
    pub insecure: bool,
    /// `importPolicy.importMode` (`Legacy`, `PreserveOriginal`), when set.
    pub import_mode: Option<String>,
    /// `referencePolicy.type` (`Source` or `Local`).
    pub reference_policy: String,
    /// `reference: true`: only a reference, no bytes in the registry.
    pub reference: bool,
}

/// Something about one tag (or the whole stream) the user should know.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamNote {
    /// The tag, or `None` for the stream.
    pub tag: Option<String>,
    /// Stable code (`import-failed`, `alias-missing`, `reference-only`,
    /// `cross-namespace`, `tracks-other-stream`, `empty-stream`,
    /// `stream-unreadable`).
    pub code: crate::model::FindingCode,
    /// True for a warning, false for information.
    pub warning: bool,
    /// What it means.
    pub message: String,
}

/// What one listed item counts towards the listing's bound, and the
/// stream (`None`: a name that could not be a repository, dropped).
pub(super) struct Classified(pub(super) Option<ImageStream>, usize);

impl Classified {
    pub(super) fn size(&self) -> usize {
        self.1
    }
}

/// The registry host of a pull spec (`host[:port]/...`), if it names one.
fn host_of(spec: &str) -> Option<&str> {
    let (first, _) = spec.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

/// The names of the cluster's own registry, by which `oc tag` may have
/// recorded a project's own image as `DockerImage`.
pub const CLUSTER_REGISTRY_HOSTS: &[&str] = &[
    "docker-registry.default.svc:5000",
    "docker-registry.default.svc.cluster.local:5000",
    "image-registry.openshift-image-registry.svc:5000",
    "image-registry.openshift-image-registry.svc.cluster.local:5000",
];

/// A note on one tag of a stream.
fn note(tag: &str, code: crate::model::FindingCode, warning: bool, message: String) -> StreamNote {
    StreamNote {
        tag: Some(tag.to_string()),
        code,
        warning,
        message,
    }
}

/// From a stream's status: the tags that hold an image, and a note on
/// each failed import.
fn status_tags(
    raw: &RawStream,
    name: &str,
    s: &mut ImageStream,
) -> std::collections::BTreeSet<String> {
    let mut with_image = std::collections::BTreeSet::new();
    for t in &raw.status.tags {
        if !valid_tag(&t.tag) {
            if t.items.iter().any(|i| !i.image.is_empty()) {
                s.invalid_tags.push(t.tag.clone());
            }
            continue;
        }
        let failed = t
            .conditions
            .iter()
            .find(|c| c.kind == "ImportSuccess" && c.status == "False");
        if let Some(c) = failed {
            s.notes.push(note(
                &t.tag,
                crate::model::FindingCode::ImportFailed,
                true,
                format!(
                    "the last import of {name}:{} failed: {}{}",
                    t.tag,
                    crate::model::printable(&c.message),
                    if t.items.is_empty() {
                        "; the tag has no image, nothing to copy"
                    } else {
                        "; the image it had before is copied"
                    }
                ),
            ));
        }
        if t.items.iter().any(|i| !i.image.is_empty()) {
            with_image.insert(t.tag.clone());
        }
    }
    with_image
}

/// A spec tag from `DockerImage`: the project's own image (nothing to
/// note), or an import from another registry, kept as it was imported.
fn docker_image_tag(t: &SpecTag, from: &From, name: &str, own: &[String], s: &mut ImageStream) {
    let is_own = host_of(&from.name).is_some_and(|h| own.iter().any(|o| o == h));
    if is_own && !t.reference {
        return; // the project's own image: copied as pushed
    }
    if !crate::oci::reference::valid_pull_spec(&from.name) {
        tracing::warn!(stream = %name, tag = %t.name, from = %crate::model::printable(&from.name), "an imported tag's source is not an image reference; ignored");
        s.not_copied.push(t.name.clone());
        return;
    }
    if t.reference {
        s.not_copied.push(t.name.clone());
    }
    s.external.push(ExternalTag {
        tag: t.name.clone(),
        from: from.name.clone(),
        scheduled: t.import_policy.scheduled,
        insecure: t.import_policy.insecure,
        import_mode: t.import_policy.import_mode.clone().filter(|m| valid_tag(m)),
        reference_policy: match t.reference_policy.kind.as_str() {
            "Local" => "Local".into(),
            _ => "Source".into(),
        },
        reference: t.reference,
    });
}

/// From a stream's spec: imports from other registries (`external`),
/// aliases of tags of the same stream, tags following other streams or
/// projects, each as OpenShift means it. `own` are the cluster's own
/// registry hosts (a `DockerImage` naming one is the project's image).
fn spec_tags(
    raw: &RawStream,
    namespace: &str,
    name: &str,
    own: &[String],
    with_image: &std::collections::BTreeSet<String>,
    s: &mut ImageStream,
) {
    let spec_names: std::collections::BTreeSet<&str> =
        raw.spec.tags.iter().map(|t| t.name.as_str()).collect();
    for t in &raw.spec.tags {
        if !valid_tag(&t.name) {
            continue;
        }
        let Some(from) = &t.from else { continue };
        let other_ns = from
            .namespace
            .as_deref()
            .is_some_and(|n| !n.is_empty() && n != namespace);
        match from.kind.as_str() {
            "DockerImage" => docker_image_tag(t, from, name, own, s),
            "ImageStreamTag" if !other_ns => {
                let (stream, tag) = from.name.split_once(':').unwrap_or((name, &from.name));
                if stream == name {
                    if !valid_tag(tag) {
                        continue;
                    }
                    if spec_names.contains(tag) || with_image.contains(tag) {
                        s.aliases.push((t.name.clone(), tag.to_string()));
                    } else {
                        s.notes.push(note(
                            &t.name,
                            crate::model::FindingCode::AliasMissing,
                            true,
                            format!("{name}:{} follows {name}:{tag}, which does not exist; nothing to copy", t.name),
                        ));
                        s.not_copied.push(t.name.clone());
                    }
                } else {
                    s.notes.push(note(
                        &t.name,
                        crate::model::FindingCode::TracksOtherStream,
                        false,
                        format!(
                            "{name}:{} follows {}; it is copied as the image it has now, and no longer follows it on the target",
                            t.name,
                            crate::model::printable(&from.name)
                        ),
                    ));
                }
            }
            "ImageStreamTag" | "ImageStreamImage" => {
                s.notes.push(note(
                    &t.name,
                    crate::model::FindingCode::CrossNamespace,
                    false,
                    format!(
                        "{name}:{} was tagged from {}/{}; its image is copied from this stream",
                        t.name,
                        crate::model::printable(from.namespace.as_deref().unwrap_or(namespace)),
                        crate::model::printable(&from.name)
                    ),
                ));
            }
            _ => {}
        }
    }
}

/// Reference-only tags (no bytes in the registry): not copied, with a
/// note on those the spec names.
fn reference_only(raw: &RawStream, name: &str, s: &mut ImageStream) {
    let spec_names: std::collections::BTreeSet<&str> =
        raw.spec.tags.iter().map(|t| t.name.as_str()).collect();
    // Reference-only tags that are not imports (rare) have no bytes either.
    for t in &raw.spec.tags {
        if t.reference && valid_tag(&t.name) && !s.not_copied.contains(&t.name) {
            s.not_copied.push(t.name.clone());
        }
    }
    for t in s
        .not_copied
        .iter()
        .filter(|t| spec_names.contains(t.as_str()))
    {
        if raw.spec.tags.iter().any(|st| &st.name == t && st.reference) {
            s.notes.push(note(
                t,
                crate::model::FindingCode::ReferenceOnly,
                false,
                format!(
                    "{name}:{t} is a reference only (no bytes in the registry); it is not copied"
                ),
            ));
        }
    }
}

/// An item that is not an image stream as this reader knows one: a
/// `stream-unreadable` warning on it when it has a valid name (the rest
/// of the project goes on), else nothing.
fn unreadable(namespace: &str, item: serde_json::Value, e: &serde_json::Error) -> Classified {
    let name = serde_json::from_value::<JustName>(item)
        .map(|n| n.metadata.name)
        .unwrap_or_default();
    if name.is_empty() || !valid_repository(&format!("{namespace}/{name}")) {
        tracing::warn!(error = %e, "the API lists an item that is not an image stream; ignored");
        return Classified(None, 1);
    }
    Classified(
        Some(ImageStream {
            notes: vec![StreamNote {
                tag: None,
                code: crate::model::FindingCode::StreamUnreadable,
                warning: true,
                message: format!(
                    "image stream {name} could not be read ({}); it is left out",
                    crate::model::printable(&e.to_string())
                ),
            }],
            name,
            ..ImageStream::default()
        }),
        1,
    )
}

/// Reads one listed item on its own and classifies its tags as OpenShift
/// means them: the project's own images (pushed, or `DockerImage` naming
/// the cluster's registry), imports from elsewhere, aliases within the
/// stream, reference-only tags, failed imports. Names that could not be a
/// repository or a tag are dropped (logged), never put into a URL.
pub(super) fn classify(
    namespace: &str,
    item: serde_json::Value,
    own_hosts: &[String],
) -> Classified {
    let raw: RawStream = match serde_json::from_value(item.clone()) {
        Ok(r) => r,
        Err(e) => return unreadable(namespace, item, &e),
    };
    let name = raw.metadata.name.clone();
    if name.contains('/') || !valid_repository(&format!("{namespace}/{name}")) {
        tracing::warn!(stream = ?name, "the API lists an image stream whose name is not a repository; ignored");
        return Classified(None, 1);
    }
    let size = raw.spec.tags.len().saturating_add(
        raw.status
            .tags
            .iter()
            .map(|t| t.items.len().max(1))
            .fold(0, usize::saturating_add),
    );
    let mut own: Vec<String> = own_hosts.to_vec();
    own.extend(CLUSTER_REGISTRY_HOSTS.iter().map(|h| h.to_string()));
    for repo in [
        &raw.status.docker_image_repository,
        &raw.status.public_docker_image_repository,
    ] {
        if let Some(h) = host_of(repo) {
            own.push(h.to_string());
        }
    }
    let mut s = ImageStream {
        name: name.clone(),
        ..ImageStream::default()
    };
    let with_image = status_tags(&raw, &name, &mut s);
    spec_tags(&raw, namespace, &name, &own, &with_image, &mut s);
    reference_only(&raw, &name, &mut s);
    s.tags = with_image
        .into_iter()
        .filter(|t| !s.not_copied.contains(t))
        .collect();
    if s.tags.is_empty() && s.external.is_empty() && s.aliases.is_empty() {
        s.notes.push(StreamNote {
            tag: None,
            code: crate::model::FindingCode::EmptyStream,
            warning: false,
            message: format!("image stream {name} has no image to copy"),
        });
    }
    // Digests that do not parse are dropped: nothing builds a URL from them.
    s.current = raw
        .status
        .tags
        .iter()
        .filter_map(|t| Some((t.tag.clone(), t.items.first()?.image.parse().ok()?)))
        .collect();
    s.history = raw
        .status
        .tags
        .into_iter()
        .filter(|t| s.tags.contains(&t.tag))
        .map(|t| {
            let earlier = t
                .items
                .iter()
                .skip(1)
                .filter_map(|i| i.image.parse().ok())
                .collect();
            (t.tag, earlier)
        })
        .collect();
    Classified(Some(s), size)
}
