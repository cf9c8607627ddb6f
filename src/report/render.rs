//! Renderers of the `check` report: a terminal table (colour only on a
//! TTY), JSON with stable keys, Markdown to paste into a ticket, and one
//! self-contained HTML file (summary figures, an inline SVG chart of bytes
//! per repository, a table that sorts and filters; no external assets).

use super::check::{CheckReport, Finding, ImageReport, Severity};
use super::{column_width, human_bytes, short_digest as short};
use crate::model::printable;
use crate::oci::ManifestKind;

fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=9 => format!("{secs:.1} s"),
        10..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Blocker => "blocker",
    }
}

fn summary_lines(r: &CheckReport) -> Vec<String> {
    let s = &r.summary;
    let join = |m: &std::collections::BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        format!("images: {} ({})", s.images, join(&s.by_action)),
        format!("source kinds: {}", join(&s.by_source_kind)),
        format!(
            "to transfer: {} in {} unique blobs; already in the target: {}",
            human_bytes(s.bytes_to_transfer),
            s.unique_blobs_to_transfer,
            human_bytes(s.bytes_already_present)
        ),
        format!(
            "estimated transfer time at {} Mbit/s: {}",
            s.bandwidth_bits_per_second as f64 / 1e6,
            duration(s.estimated_transfer_seconds)
        ),
        format!(
            "findings: {} blockers, {} warnings{}",
            s.blockers,
            s.warnings,
            match info_counts(r) {
                c if c.is_empty() => String::new(),
                c => format!(
                    "; information: {}",
                    c.iter()
                        .map(|(code, n)| format!("{code}: {} image{}", thousands(*n), plural(*n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        ),
        format!(
            "source blobs: {} taken as present, named with their sizes by manifests read from the source in this check; {} looked up",
            s.lookups.source_blobs_from_manifests, s.lookups.source_blobs_looked_up
        ),
        format!(
            "target tags: {} repositories listed (a tag not listed is absent); {} tags looked up",
            s.lookups.target_repositories_listed, s.lookups.target_tags_looked_up
        ),
    ]
    .into_iter()
    .chain(s.assumptions.iter().map(|a| format!("assumed: {a}")))
    .collect()
}

/// Per info finding code, the number of images that have it: the text
/// and Markdown reports count them (a 2,000-tag project would otherwise
/// print the same sentence 2,000 times) and list them only when verbose.
fn info_counts(r: &CheckReport) -> std::collections::BTreeMap<&'static str, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for i in &r.images {
        let mut codes: Vec<&'static str> = i
            .findings
            .iter()
            .filter(|f| f.severity == Severity::Info)
            .map(|f| f.code.as_str())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        for c in codes {
            *counts.entry(c).or_default() += 1;
        }
    }
    counts
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `1998` as `1,998`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut o = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// Whether a finding is listed under its image: blockers and warnings
/// always, information only when `verbose`.
fn listed(f: &Finding, verbose: bool) -> bool {
    verbose || f.severity != Severity::Info
}

/// The terminal table; info findings per image only when `verbose`
/// (always counted in the summary).
pub fn text(r: &CheckReport, color: bool, verbose: bool) -> String {
    let paint = |sev: Severity, t: &str| -> String {
        if !color {
            return t.to_string();
        }
        let code = match sev {
            Severity::Blocker => "31;1",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        format!("\x1b[{code}m{t}\x1b[0m")
    };
    let mut o = String::new();
    let w = column_width(r.images.iter().map(|i| i.source.as_str()));
    o.push_str(&format!(
        "{:<16} {:<w$} {:<34} {:<19} {:>10} {:>11}\n",
        "ACTION", "SOURCE", "KIND", "TARGET DIGEST", "BYTES", "TO TRANSFER"
    ));
    for i in &r.images {
        let kind = format!(
            "{} -> {}",
            kind_name(i.source_kind),
            kind_name(i.target_kind)
        );
        o.push_str(&format!(
            "{:<16} {:<w$} {:<34} {:<19} {:>10} {:>11}\n",
            i.action.name(),
            i.source,
            kind,
            short(&i.target_digest),
            human_bytes(i.bytes),
            human_bytes(i.bytes_to_transfer)
        ));
        if i.target != i.source {
            o.push_str(&format!("{:16} -> {}\n", "", i.target));
        }
        for f in i.findings.iter().filter(|f| listed(f, verbose)) {
            o.push_str(&format!(
                "{:16} {} {}: {}\n",
                "",
                paint(f.severity, severity(f.severity)),
                f.code,
                printable(&f.message)
            ));
        }
    }
    o.push('\n');
    for l in summary_lines(r) {
        o.push_str(&l);
        o.push('\n');
    }
    o
}

/// Pretty JSON with stable keys (a check report, or any other report),
/// written to `out` as it is encoded (a report of many tags is not held
/// whole as text), with a final newline.
pub fn json_to<T: serde::Serialize + ?Sized>(
    value: &T,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    out.write_all(b"\n")
}

/// A manifest kind's name, `?` when unknown.
fn kind_name(k: Option<ManifestKind>) -> &'static str {
    k.map_or("?", ManifestKind::name)
}

/// Text from a registry (error bodies, messages) as a Markdown table cell:
/// every character Markdown or HTML would act on is escaped, and control
/// characters (terminal escape sequences among them) become spaces.
fn md_cell(s: &str) -> String {
    let s = crate::model::printable(s);
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' => {
                o.push('\\');
                o.push(ch);
            }
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// A repository reference inside a Markdown code span: no backticks, no
/// control characters (the names are validated, this is a second fence).
fn md_code(s: &str) -> String {
    crate::model::printable(s)
        .chars()
        .map(|c| if c == '`' || c.is_control() { ' ' } else { c })
        .collect()
}

/// Markdown, to paste into a ticket; info findings per image only when
/// `verbose`, as in [`text`].
pub fn markdown(r: &CheckReport, verbose: bool) -> String {
    let mut o = String::from("## rahti-migrate check\n\n");
    for l in summary_lines(r) {
        o.push_str(&format!("- {l}\n"));
    }
    o.push_str("\n| Action | Source | Target | Kind | Target digest | Bytes | To transfer | Findings |\n|---|---|---|---|---|---:|---:|---|\n");
    for i in &r.images {
        let findings: Vec<String> = i
            .findings
            .iter()
            .filter(|f| listed(f, verbose))
            .map(|f| {
                format!(
                    "**{}** `{}`: {}",
                    severity(f.severity),
                    f.code,
                    md_cell(&f.message)
                )
            })
            .collect();
        o.push_str(&format!(
            "| {} | `{}` | `{}` | {} -> {} | `{}` | {} | {} | {} |\n",
            i.action.name(),
            md_code(&i.source),
            md_code(&i.target),
            kind_name(i.source_kind),
            kind_name(i.target_kind),
            short(&i.target_digest),
            human_bytes(i.bytes),
            human_bytes(i.bytes_to_transfer),
            findings.join("<br>")
        ));
    }
    o
}

fn esc(s: &str) -> String {
    let s = crate::model::printable(s);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn chart(r: &CheckReport) -> String {
    let repos = &r.summary.repositories;
    let max = repos.iter().map(|x| x.bytes).max().unwrap_or(0).max(1) as f64;
    let row = 26;
    let label_w = 260;
    let bar_w = 420.0;
    let height = repos.len() * row + 30;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"Bytes per repository\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        label_w + 720,
        label_w + 720
    );
    for (i, x) in repos.iter().enumerate() {
        let y = i * row + 4;
        let all = (x.bytes as f64 / max * bar_w).max(1.0);
        let tr = x.bytes_to_transfer as f64 / max * bar_w;
        o.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\">{}</text>",
            label_w - 8,
            y + 14,
            esc(&x.repository)
        ));
        o.push_str(&format!(
            "<rect class=\"all\" x=\"{label_w}\" y=\"{y}\" width=\"{all:.1}\" height=\"18\" fill=\"#b8c7d9\"><title>{}: {}</title></rect>",
            esc(&x.repository),
            human_bytes(x.bytes)
        ));
        o.push_str(&format!(
            "<rect class=\"transfer\" x=\"{label_w}\" y=\"{y}\" width=\"{tr:.1}\" height=\"18\" fill=\"#2f6db5\"><title>to transfer: {}</title></rect>",
            human_bytes(x.bytes_to_transfer)
        ));
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{} ({} to transfer)</text>",
            label_w as f64 + all + 6.0,
            y + 14,
            human_bytes(x.bytes),
            human_bytes(x.bytes_to_transfer)
        ));
    }
    let ly = repos.len() * row + 20;
    o.push_str(&format!(
        "<rect x=\"{label_w}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"#2f6db5\"/><text x=\"{}\" y=\"{ly}\" font-size=\"11\">to transfer</text><rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"#b8c7d9\"/><text x=\"{}\" y=\"{ly}\" font-size=\"11\">already there or shared</text>",
        ly - 9,
        label_w + 16,
        label_w + 100,
        ly - 9,
        label_w + 116
    ));
    o.push_str("</svg>");
    o
}

fn finding_html(f: &Finding) -> String {
    format!(
        "<li class=\"{sev}\"><b>{sev}</b> <code>{}</code> {}</li>",
        esc(f.code.as_str()),
        esc(&f.message),
        sev = severity(f.severity)
    )
}

fn row_html(i: &ImageReport) -> String {
    let worst = i
        .findings
        .iter()
        .map(|f| f.severity)
        .max_by_key(|s| match s {
            Severity::Info => 0,
            Severity::Warning => 1,
            Severity::Blocker => 2,
        })
        .map(severity)
        .unwrap_or("none");
    let findings: String = i.findings.iter().map(finding_html).collect();
    format!(
        "<tr data-severity=\"{worst}\" data-action=\"{action}\"><td data-v=\"{action}\"><span class=\"act {action}\">{action}</span></td><td data-v=\"{src}\">{src}</td><td data-v=\"{tgt}\">{tgt}</td><td data-v=\"{kind}\">{kind}</td><td data-v=\"{dig}\"><code title=\"{digfull}\">{dig}</code></td><td data-v=\"{bytes}\" class=\"num\">{hb}</td><td data-v=\"{tr}\" class=\"num\">{htr}</td><td><ul>{findings}</ul></td></tr>\n",
        action = i.action.name(),
        src = esc(&i.source),
        tgt = esc(&i.target),
        kind = esc(&format!("{} → {}", kind_name(i.source_kind), kind_name(i.target_kind))),
        dig = esc(&short(&i.target_digest)),
        digfull = esc(&i
            .target_digest
            .as_ref()
            .map(|d| d.to_string())
            .or_else(|| i.target_digest_reason.clone())
            .unwrap_or_default()),
        bytes = i.bytes,
        hb = human_bytes(i.bytes),
        tr = i.bytes_to_transfer,
        htr = human_bytes(i.bytes_to_transfer),
    )
}

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d2733}
h1{font-size:1.4em}
.cards{display:flex;gap:1em;flex-wrap:wrap;margin:1em 0}
.card{border:1px solid #ccd5e0;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.4em}
table{border-collapse:collapse;width:100%;margin-top:1em}
th,td{border-bottom:1px solid #e1e6ec;padding:.35em .5em;text-align:left;vertical-align:top;font-size:.9em}
th{cursor:pointer;background:#f3f6f9;user-select:none}
th.sorted-asc::after{content:" ▲"}th.sorted-desc::after{content:" ▼"}
td.num{text-align:right;white-space:nowrap}
ul{margin:0;padding-left:1em}
td:last-child{overflow-wrap:anywhere;min-width:16em}
.act{white-space:nowrap}
svg{max-width:100%;height:auto}
li.blocker b{color:#b00020}li.warning b{color:#a15c00}li.info b{color:#2f6db5}
.act{padding:.1em .4em;border-radius:4px;background:#eef2f6}
.act.blocked{background:#fde0e4}.act.convert{background:#fff1d6}.act.done,.act.already-present{background:#e1f3e6}
.controls{display:flex;gap:1em;align-items:center}
#errors{color:#b00020}
"#;

const SCRIPT: &str = r#"
(function(){
  var errors=document.getElementById('errors');
  window.addEventListener('error',function(e){errors.textContent+=String(e.message)+'\n';});
  var table=document.getElementById('images');
  var body=table.tBodies[0];
  var filter=document.getElementById('filter');
  var sev=document.getElementById('severity');
  function apply(){
    var q=filter.value.toLowerCase(), s=sev.value, shown=0;
    Array.prototype.forEach.call(body.rows,function(r){
      var ok=(!q||r.textContent.toLowerCase().indexOf(q)>=0)&&(s==='all'||r.getAttribute('data-severity')===s);
      r.style.display=ok?'':'none'; if(ok){shown++;}
    });
    document.getElementById('shown').textContent=shown;
  }
  filter.addEventListener('input',apply); sev.addEventListener('change',apply);
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,idx){
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('sorted-asc');
      Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){
        var x=a.cells[idx].getAttribute('data-v')||a.cells[idx].textContent, y=b.cells[idx].getAttribute('data-v')||b.cells[idx].textContent;
        var nx=parseFloat(x), ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny)&&String(nx)===x&&String(ny)===y)?nx-ny:x.localeCompare(y);
        return asc?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  apply();
})();
"#;

/// A figure card of the HTML pages.
fn card(label: &str, value: String) -> String {
    format!(
        "<div class=\"card\">{}<b>{}</b></div>",
        esc(label),
        esc(&value)
    )
}

/// One self-contained HTML file.
pub fn html(r: &CheckReport) -> String {
    let s = &r.summary;
    let cards = [
        card("images", s.images.to_string()),
        card("to transfer", human_bytes(s.bytes_to_transfer)),
        card(
            "unique blobs to transfer",
            s.unique_blobs_to_transfer.to_string(),
        ),
        card("already in target", human_bytes(s.bytes_already_present)),
        card(
            &format!(
                "time at {} Mbit/s",
                s.bandwidth_bits_per_second as f64 / 1e6
            ),
            duration(s.estimated_transfer_seconds),
        ),
        card("blockers", s.blockers.to_string()),
        card("warnings", s.warnings.to_string()),
    ]
    .join("");
    let kinds: String = summary_lines(r)
        .iter()
        .map(|l| format!("<li>{}</li>", esc(l)))
        .collect();
    let rows: String = r.images.iter().map(row_html).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rahti-migrate check</title><style>{STYLE}</style></head><body>\n<h1>rahti-migrate check</h1>\n<div class=\"cards\">{cards}</div>\n<ul>{kinds}</ul>\n<h2>Bytes per repository</h2>\n{chart}\n<h2>Images</h2>\n<div class=\"controls\"><label>Filter <input id=\"filter\" type=\"search\" placeholder=\"image, code, text\"></label><label>Severity <select id=\"severity\"><option value=\"all\">all</option><option value=\"blocker\">blocker</option><option value=\"warning\">warning</option><option value=\"info\">info</option><option value=\"none\">none</option></select></label><span><span id=\"shown\">{n}</span> of {n} shown</span></div>\n<table id=\"images\"><thead><tr><th>Action</th><th>Source</th><th>Target</th><th>Kind</th><th>Target digest</th><th>Bytes</th><th>To transfer</th><th>Findings</th></tr></thead><tbody>\n{rows}</tbody></table>\n<pre id=\"errors\"></pre>\n<script>{SCRIPT}</script>\n</body></html>\n",
        chart = chart(r),
        n = r.images.len(),
    )
}

/// The status page's rows per project (a heading row with its totals) and
/// repository: done, failed, pending.
fn project_rows(s: &super::Status) -> String {
    use super::State;
    type Counts = [usize; 3];
    let slot = |st: State| match st {
        State::Done => 0,
        State::Failed => 1,
        State::Pending => 2,
    };
    // Project -> its totals and its repositories', in one pass.
    let mut projects: std::collections::BTreeMap<
        &str,
        (Counts, std::collections::BTreeMap<&str, Counts>),
    > = Default::default();
    for i in &s.images {
        let repo = crate::expand::repo_of(&i.source);
        let project = repo.split('/').next().unwrap_or(repo);
        let (total, repos) = projects.entry(project).or_default();
        total[slot(i.state)] += 1;
        repos.entry(repo).or_default()[slot(i.state)] += 1;
    }
    let row = |tr: &str, cell: &str, name: &str, [d, f, p]: Counts| {
        format!(
            "<{tr}><{cell}>{}</{cell}><td class=\"num\">{d}</td><td class=\"num\">{f}</td><td class=\"num\">{p}</td></tr>",
            esc(name)
        )
    };
    let mut out = String::new();
    for (project, (total, repos)) in &projects {
        out.push_str(&row("tr class=\"project\"", "th", project, *total));
        for (repo, counts) in repos {
            out.push_str(&row("tr", "td", repo, *counts));
        }
    }
    out
}

/// `status --format html`: one self-contained page of where the migration
/// stands, in the check report's style: totals, done/failed/pending per
/// project and repository, the failures with their kind and message, and
/// every tag in a table that sorts and filters by state.
pub fn status_html(s: &super::Status) -> String {
    use super::State;
    let t = &s.totals;
    let cards = [
        card("done", t.done.to_string()),
        card("failed", t.failed.to_string()),
        card("pending", t.pending.to_string()),
        card("bytes moved", human_bytes(t.bytes_uploaded)),
        card("blobs uploaded", t.blobs_uploaded.to_string()),
        card("blobs mounted", t.blobs_mounted.to_string()),
        card("blobs already there", t.blobs_skipped.to_string()),
    ]
    .join("");
    let by_project = project_rows(s);
    let failures: String = s
        .images
        .iter()
        .filter(|i| i.state == State::Failed)
        .map(|i| {
            format!(
                "<li><b>{}</b> ({} error): {}</li>",
                esc(&i.source),
                i.error_kind.map_or("unknown", |k| k.name()),
                esc(i.error.as_deref().unwrap_or(""))
            )
        })
        .collect();
    let failures = match failures.is_empty() {
        true => "<p>None.</p>".to_string(),
        false => format!("<ul class=\"failures\">{failures}</ul>"),
    };
    let rows: String = s
        .images
        .iter()
        .map(|i| {
            let state = i.state.name();
            format!(
                "<tr data-severity=\"{state}\"><td><span class=\"act {state}\">{state}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&i.source),
                esc(&i.target),
                esc(&i.target_digest.as_ref().map(|d| d.to_string()).unwrap_or_default()),
                esc(i.error.as_deref().unwrap_or("")),
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rahti-migrate status</title><style>{STYLE}.act.failed{{background:#fde0e4}}.act.pending{{background:#fff1d6}}tr.project th{{background:#f3f6f9}}</style></head><body>\n<h1>rahti-migrate status</h1>\n<div class=\"cards\">{cards}</div>\n<h2>Failures</h2>\n{failures}\n<h2>Projects and repositories</h2>\n<table id=\"repositories\"><thead><tr><th>Repository</th><th>Done</th><th>Failed</th><th>Pending</th></tr></thead><tbody>{by_project}</tbody></table>\n<h2>Images</h2>\n<div class=\"controls\"><label>Filter <input id=\"filter\" type=\"search\" placeholder=\"image, digest, error\"></label><label>State <select id=\"severity\"><option value=\"all\">all</option><option value=\"done\">done</option><option value=\"failed\">failed</option><option value=\"pending\">pending</option></select></label><span><span id=\"shown\">{n}</span> of {n} shown</span></div>\n<table id=\"images\"><thead><tr><th>State</th><th>Source</th><th>Target</th><th>Target digest</th><th>Error</th></tr></thead><tbody>\n{rows}</tbody></table>\n<pre id=\"errors\"></pre>\n<script>{SCRIPT}</script>\n</body></html>\n",
        n = s.images.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_escape_what_came_from_a_registry() {
        let got = md_cell("<script>x</script> *b* | [l](u) \u{1b}[31mred\nnext & `c`");
        // Controls are shown escaped (printable), then Markdown-escaped.
        assert_eq!(
            got,
            "\\<script\\>x\\</script\\> \\*b\\* \\| \\[l\\](u) \\\\u{1b}\\[31mred\\\\nnext \\& \\`c\\`"
        );
        assert_eq!(md_code("a/b:`t`\u{1b}\u{202e}"), "a/b: t \\u{1b}\\u{202e}");
    }
}

/// Snapshots of every rendering of `check` and `status` over one fixed
/// report, in `tests/golden/snapshots/`: a wording or layout change shows
/// up as a diff of those files. `GOLDEN_BLESS=1` writes missing ones
/// (delete the ones a change affects, bless, review the diff).
#[cfg(test)]
mod snapshots {
    use super::super::check::{CheckAction, Lookups, RepoBytes, Summary};
    use super::*;
    use crate::image_plan::finding;
    use crate::model::FindingCode;
    use std::sync::Arc;

    fn digest(c: char) -> crate::oci::Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn image(source: &str, action: CheckAction, findings: Vec<Finding>) -> ImageReport {
        let mut i = ImageReport::new(source.into(), source.replace("proj/", "proj-new/"));
        i.action = action;
        i.source_digest = Some(digest('a'));
        i.source_kind = Some(ManifestKind::DockerV2);
        i.target_kind = Some(ManifestKind::OciManifest);
        i.target_digest = Some(digest('b'));
        i.layers = 3;
        i.bytes = 52_428_800;
        i.bytes_to_transfer = 10_485_760;
        for f in findings {
            i.add(f);
        }
        i
    }

    fn report() -> CheckReport {
        let mut blocked = image(
            "proj/db:13",
            CheckAction::Blocked,
            vec![finding(
                FindingCode::ImageTooLarge,
                Severity::Blocker,
                "the image is 6.0 GiB; the target accepts at most 5.0 GiB",
            )],
        );
        blocked.target_digest = None;
        blocked.target_digest_reason = Some("blocked".into());
        blocked.bytes_to_transfer = 0;
        let mut done = image("proj/app:v1", CheckAction::Done, vec![]);
        done.bytes_to_transfer = 0;
        let mut s1 = image(
            "proj/old:1.0",
            CheckAction::Convert,
            vec![
                finding(
                    FindingCode::Schema1Manifest,
                    Severity::Warning,
                    "Docker schema 1 is deprecated",
                ),
                finding(
                    FindingCode::DigestChanges,
                    Severity::Info,
                    "the target digest differs from the source's",
                ),
            ],
        );
        s1.source_kind = Some(ManifestKind::DockerV1Signed);
        s1.platforms = Arc::from(["linux/amd64".to_string()]);
        let images = vec![
            image(
                "proj/app:v2",
                CheckAction::Convert,
                vec![finding(
                    FindingCode::DigestChanges,
                    Severity::Info,
                    "the target digest differs from the source's",
                )],
            ),
            done,
            s1,
            blocked,
        ];
        let mut by_action = std::collections::BTreeMap::new();
        for i in &images {
            *by_action.entry(i.action.name().to_string()).or_insert(0) += 1;
        }
        CheckReport {
            summary: Summary {
                images: images.len(),
                by_action,
                by_source_kind: [
                    ("docker-v1-signed".to_string(), 1),
                    ("docker-v2".to_string(), 3),
                ]
                .into_iter()
                .collect(),
                unique_blobs_to_transfer: 4,
                bytes_to_transfer: 20_971_520,
                bytes_already_present: 52_428_800,
                blockers: 1,
                warnings: 1,
                bandwidth_bits_per_second: 100_000_000,
                estimated_transfer_seconds: 1.68,
                repositories: vec![RepoBytes {
                    repository: "proj-new/app".into(),
                    bytes: 104_857_600,
                    bytes_to_transfer: 10_485_760,
                }],
                lookups: Lookups {
                    source_blobs_from_manifests: 9,
                    source_blobs_looked_up: 3,
                    target_repositories_listed: 1,
                    target_tags_looked_up: 2,
                },
                assumptions: vec![super::super::check::ASSUMED_WRITES],
            },
            images,
        }
    }

    fn status() -> super::super::Status {
        use crate::journal::Record;
        let mut b = super::super::StatusBuilder::default();
        let d = digest;
        b.add(Record::Done {
            source: "proj/app:v1".into(),
            source_digest: d('a'),
            target: "proj-new/app:v1".into(),
            target_digest: d('b'),
            format: crate::model::Format::Oci,
            children: Vec::new(),
        });
        b.add(Record::Planned {
            source: "proj/app:v2".into(),
            source_digest: d('c'),
            target: "proj-new/app:v2".into(),
            format: crate::model::Format::Oci,
        });
        b.add(Record::Failed {
            source: "proj/db:13".into(),
            source_digest: Some(d('e')),
            target: "proj-new/db:13".into(),
            error: "target registry refused the manifest: 413".into(),
            error_kind: Some(crate::model::FailureKind::Target),
        });
        b.add(Record::Blob {
            repo: "proj-new/app".into(),
            digest: d('f'),
            size: 1_048_576,
            how: crate::journal::BlobHow::Uploaded,
        });
        b.finish()
    }

    fn snapshot(name: &str, got: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/snapshots")
            .join(name);
        if !path.exists() && std::env::var("GOLDEN_BLESS").is_ok() {
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(&path));
            let _ = std::fs::write(&path, got);
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(got, want, "{} differs", path.display());
    }

    #[test]
    fn check_and_status_render_as_their_snapshots() {
        let r = report();
        snapshot("check.txt", &text(&r, false, false));
        snapshot("check-verbose.txt", &text(&r, false, true));
        snapshot("check.md", &markdown(&r, false));
        let mut json = Vec::new();
        json_to(&r, &mut json).unwrap_or_else(|e| panic!("{e}"));
        snapshot("check.json", &String::from_utf8_lossy(&json));
        let s = status();
        snapshot("status.txt", &super::super::render_status_text(&s));
        let mut json = Vec::new();
        json_to(&s, &mut json).unwrap_or_else(|e| panic!("{e}"));
        snapshot("status.json", &String::from_utf8_lossy(&json));
        snapshot("status.html", &status_html(&s));
    }
}
