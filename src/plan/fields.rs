//! The readers of single plan values, shared by every section: sizes,
//! globs, formats, platforms, ranges, names. Each records what is wrong in
//! the [`Collector`] with the key and its place in the file, and returns a
//! usable value so that one reading reports every issue at once.

use super::*;

pub(super) struct Collector<'a> {
    pub(super) text: &'a str,
    pub(super) issues: Vec<PlanIssue>,
}

impl Collector<'_> {
    pub(super) fn line(&self, span: std::ops::Range<usize>) -> Option<usize> {
        let start = span.start.min(self.text.len());
        Some(self.text[..start].bytes().filter(|b| *b == b'\n').count() + 1)
    }
    pub(super) fn add(
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

pub(super) fn valid_registry(host: &str) -> bool {
    !host.is_empty()
        && !host.contains("://")
        && !host.contains('/')
        && !host.contains(char::is_whitespace)
}

pub(super) fn parse_size(s: &str) -> Option<u64> {
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

pub(super) fn build_globs(
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

pub(super) fn format_of(c: &mut Collector, v: &toml::Spanned<String>, key: &str) -> Format {
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
pub(super) fn own_options(
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

pub(super) fn platforms_of(
    c: &mut Collector,
    v: &toml::Spanned<Vec<String>>,
    key: &str,
) -> Platforms {
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

/// A positive size: a byte count or text such as "5GiB".
pub(super) fn size_of(
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

/// A whole number from the plan within `range`: `default` when absent;
/// out of range, a problem is recorded (and the range's start stands in).
pub(super) fn in_range(
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

/// `tags = [...]`: the include globs and the patterns as written (`None`:
/// every tag). An empty list is refused: it would copy nothing.
pub(super) fn include_tags(
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
pub(super) fn valid_namespace(ns: &str) -> bool {
    !ns.contains('/') && valid_repository(ns)
}
