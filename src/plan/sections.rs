//! The `[source]`, `[target]` and `[options]` sections: registries and
//! their aliases, password sources, cluster APIs, the target's limits and
//! the run's options.

use super::*;

/// `[source] aliases`: host[:port] names; default for Rahti 1 its service.
pub(super) fn aliases(c: &mut Collector, e: &raw::Endpoint, registry: &str) -> Vec<String> {
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

/// One password source at most, from `{prefix}_env`, `{prefix}_file` and
/// `{prefix}_command` (`password` for a registry, `api_password` for a
/// cluster API).
pub(super) fn password_source(
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

pub(super) fn endpoint(
    c: &mut Collector,
    dir: &Path,
    section: &str,
    e: &raw::Endpoint,
) -> Endpoint {
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

/// `[target]` limits, for the report.
pub(super) fn limits(c: &mut Collector, target: &raw::Endpoint) -> TargetLimits {
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

/// `[options]`, with their defaults.
pub(super) fn options(c: &mut Collector, path: &Path, dir: &Path, o: raw::Options) -> Options {
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

/// `api = "https://..."` of a section: a URL with a host, https unless the
/// section is `insecure`; trusted with the section's `ca_file`, like its
/// registry.
pub(super) fn api_of(
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
