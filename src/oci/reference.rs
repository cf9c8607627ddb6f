//! The distribution reference grammar for the names that go into URLs:
//! repository paths, tags and digests. Every name that comes from a plan,
//! a registry's tag list or catalog, or the journal is checked here before
//! a URL is built from it.

/// True for a repository path: `/`-separated components of lowercase
/// alphanumerics joined by `.`, `_`, `__` or runs of `-`, at most 255
/// characters (distribution's `path-component`).
pub fn valid_repository(path: &str) -> bool {
    !path.is_empty() && path.len() <= 255 && path.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    // Runs of separators between alphanumeric runs.
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok =
            matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|x| x == b'-'));
        if !ok {
            return false;
        }
    }
    true
}

/// True for a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'_' | b'.' | b'-'))
}

/// True for a manifest reference: a tag or a digest this build reads.
pub fn valid_reference(reference: &str) -> bool {
    valid_tag(reference) || reference.parse::<super::Digest>().is_ok()
}

/// True for a reference as the journal and reports write them:
/// `repo:tag` or `repo@digest`, each part valid (with `bare_repo`, a plain
/// repository too: a failed listing names one).
pub fn valid_image_ref(reference: &str, bare_repo: bool) -> bool {
    if let Some((repo, digest)) = reference.split_once('@') {
        return valid_repository(repo) && digest.parse::<super::Digest>().is_ok();
    }
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => valid_repository(repo) && valid_tag(tag),
        _ => bare_repo && valid_repository(reference),
    }
}

/// True for a registry as a plan names it: `host[:port]`, a host name or
/// an address (IPv6 in brackets), nothing that could carry a path, a user,
/// or a line break.
pub fn valid_registry(registry: &str) -> bool {
    !registry.is_empty()
        && registry.len() <= 255
        && registry.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

/// True for a pull spec as `oc tag` records an imported tag's source:
/// `[host[:port]/]path[:tag][@digest]`, the path in the repository
/// grammar (the host is recognised by a `.` or `:`, or `localhost`).
pub fn valid_pull_spec(spec: &str) -> bool {
    if spec.len() > 1024 {
        return false;
    }
    let (name, digest) = match spec.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (spec, None),
    };
    if digest.is_some_and(|d| d.parse::<super::Digest>().is_err()) {
        return false;
    }
    let (host, path) = match name.split_once('/') {
        Some((h, p)) if h.contains(['.', ':']) || h == "localhost" => (Some(h), p),
        _ => (None, name),
    };
    if host.is_some_and(|h| !valid_registry(h)) {
        return false;
    }
    let (path, tag) = match path.rsplit_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (path, None),
    };
    valid_repository(path) && tag.is_none_or(valid_tag)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pull_specs_as_oc_tag_records_them() {
        for ok in [
            "docker.io/library/nginx:1.25",
            "nginx",
            "quay.io/org/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "registry.example:5000/a/b:v1",
            "localhost/x:y",
        ] {
            assert!(super::valid_pull_spec(ok), "{ok}");
        }
        for bad in [
            "docker.io/x:v1\n  securityContext: {}",
            "docker.io/X:v1",
            "a b",
            "docker.io/x@sha256:zz",
            "",
            "http://docker.io/x",
        ] {
            assert!(!super::valid_pull_spec(bad), "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn image_references_as_the_journal_writes_them() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(valid_image_ref("ns/app:v1", false));
        assert!(valid_image_ref(&format!("ns/app@{d}"), false));
        assert!(valid_image_ref("ns/app", true));
        assert!(!valid_image_ref("ns/app", false));
        for bad in [
            "ns/app:v1\nsecurityContext:",
            "ns/app:v1 x",
            "NS/app:v1",
            "ns/app@sha256:xyz",
            "ns/../app:v1",
            "",
        ] {
            assert!(!valid_image_ref(bad, true), "{bad:?}");
        }
        assert!(valid_registry("image-registry.apps.2.rahti.csc.fi"));
        assert!(valid_registry("127.0.0.1:5000"));
        assert!(valid_registry("[::1]:5000"));
        for bad in ["a\nb", "a/b", "user@host", "a b", ""] {
            assert!(!valid_registry(bad), "{bad:?}");
        }
    }

    #[test]
    fn repositories() {
        for ok in ["a", "proj/app", "a.b/c_d/e__f", "a-b/c---d", "x0/9y"] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in [
            "", "A/b", "a..b", "a._b", "a___b", "-a", "a-", "a//b", "a/../b", "a b", "a?b",
        ] {
            assert!(!valid_repository(bad), "{bad}");
        }
        assert!(!valid_repository(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_references() {
        for ok in ["v1", "latest", "_x", "1.2-rc_3", &"t".repeat(128)] {
            assert!(valid_tag(ok), "{ok}");
        }
        for bad in [
            "",
            ".x",
            "-x",
            "../../other/manifests/pwn",
            "x?y=1#f",
            "a/b",
            "a b",
            "\u{1b}[31m",
            &"t".repeat(129),
        ] {
            assert!(!valid_tag(bad), "{bad:?}");
            assert!(!valid_reference(bad), "{bad:?}");
        }
        assert!(valid_reference(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
    }
}
