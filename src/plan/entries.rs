//! The `[[images]]` and `[[projects]]` entries: what to copy, with each
//! entry's own selection and options, and the checks across entries
//! (overlapping targets, what a project option needs of the APIs).

use super::*;

/// The `[[images]]` entries.
pub(super) fn images(c: &mut Collector, list: &[raw::Image], options: &Options) -> Vec<ImageSpec> {
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
            stream_tags: None,
        });
    }
    images
}

/// The `[[projects]]` entries.
/// What some project options need of the plan: history and `source = "*"`
/// read the source cluster API; `external_imports = "reference"` writes
/// through the target's.
pub(super) fn projects_need_apis(
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

pub(super) fn projects(
    c: &mut Collector,
    list: &[raw::Project],
    options: &Options,
) -> Vec<ProjectSpec> {
    list.iter()
        .enumerate()
        .map(|(i, p)| project(c, i, p, options))
        .collect()
}

/// One `[[projects]]` entry: its names, its selection globs, and the options
/// it may set for itself.
pub(super) fn project(
    c: &mut Collector,
    i: usize,
    p: &raw::Project,
    options: &Options,
) -> ProjectSpec {
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
pub(super) fn project_names(
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
pub(super) fn project_affix(
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
pub(super) fn external_imports_of(
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

/// Two entries from different sources may not fill one target repository
/// with the same tags.
pub(super) fn overlapping_targets(c: &mut Collector, list: &[raw::Image], images: &[ImageSpec]) {
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
