//! The command line: `run`, `check`, `status`, `verify`, `map`,
//! `rewrite`, `init`, one function each. Raw arguments become settings
//! here; the work is done by the library modules, and engine events are
//! rendered by [`progress`]. The grammar (subcommands, options) is in
//! `args`.

mod args;
pub mod progress;

pub use args::*;

use crate::copy::{self, Events};
use crate::journal;
use crate::plan::Plan;
use crate::report;
use std::path::PathBuf;

/// Exit code: everything worked.
pub const EXIT_OK: i32 = 0;
/// Exit code: some image failed (or a blocker was found).
pub const EXIT_FAILED: i32 = 1;
/// Exit code: bad plan or usage.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The commented starter plan printed by `init`.
pub const STARTER_PLAN: &str = include_str!("../../migration.toml.example");

fn load_plan(path: &std::path::Path) -> Result<Plan, i32> {
    Plan::load(path).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })
}

/// Runs a parsed command line; returns the exit code.
pub async fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Init => {
            print!("{STARTER_PLAN}");
            EXIT_OK
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "rahti-migrate", &mut std::io::stdout());
            EXIT_OK
        }
        Command::Man { subcommand } => man(subcommand.as_deref()),
        Command::Status { plan, format } => status(&plan, format),
        Command::Verify { plan, format } => verify(&plan, format).await,
        Command::Map { plan, format } => map(&plan, format),
        Command::Rewrite {
            plan,
            paths,
            in_place,
        } => rewrite(&plan, &paths, in_place),
        Command::Check {
            plan,
            format,
            output,
            bandwidth,
            concurrency,
            verify_source_blobs,
            verbose,
            progress,
        } => {
            let how = CheckHow {
                format,
                output: output.as_deref(),
                bandwidth: &bandwidth,
                concurrency,
                verify_source_blobs,
                verbose,
                json_progress: progress == progress::Progress::Json,
            };
            check(&plan, how).await
        }
        Command::Run {
            plan,
            dry_run: true,
            concurrency,
            bandwidth,
            ..
        } => check(&plan, CheckHow::dry_run(&bandwidth, concurrency)).await,
        Command::Run {
            plan,
            concurrency,
            no_progress,
            progress,
            dry_run: false,
            shard,
            shards,
            reshard,
            ..
        } => {
            let part = match crate::shard::from_args(shard.as_deref(), shards) {
                Ok(s) => s,
                Err(message) => {
                    eprintln!("error: {message}");
                    return EXIT_USAGE;
                }
            };
            let mode = match no_progress {
                true => progress::Progress::Plain,
                false => progress,
            };
            let sharding = crate::shard::Sharding { part, reshard };
            run(&plan, concurrency, mode, sharding).await
        }
    }
}

/// Loads the plan and applies a `--concurrency` override.
fn plan_with(path: &std::path::Path, concurrency: Option<u16>) -> Result<Plan, i32> {
    let mut plan = load_plan(path)?;
    if let Some(c) = concurrency {
        plan.options.concurrency = c as usize;
    }
    Ok(plan)
}

/// The exit code and message of a run-level error: a plan problem found
/// when credentials were resolved, or a journal another run holds, is a
/// usage error (nothing was sent).
fn run_error(e: &crate::session::RunError) -> i32 {
    eprintln!("error: {e}");
    match e {
        crate::session::RunError::Plan(_) => EXIT_USAGE,
        crate::session::RunError::Journal(j) => journal_exit(j),
        crate::session::RunError::Shards(_) | crate::session::RunError::Locked(_) => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}

/// The exit code of a journal that cannot be used: one another run holds,
/// one of another migration, or one that is not a journal (edited or
/// planted) is refused before anything is done (2); a read or write that
/// failed is 1.
fn journal_exit(e: &journal::JournalError) -> i32 {
    match e {
        journal::JournalError::Io { .. } => EXIT_FAILED,
        _ => EXIT_USAGE,
    }
}

/// The plan and what its journal says (read only), for the offline
/// commands.
fn plan_and_journal(path: &std::path::Path) -> Result<(Plan, journal::Replay), i32> {
    let plan = load_plan(path)?;
    match journal::read_all(&plan.options.journal, &plan.target.registry) {
        Ok(mut replay) => {
            let dropped = replay.retain_done(|s, t| plan.produces(s, t));
            if dropped > 0 {
                eprintln!(
                    "warning: {dropped} done records in the journal name copies this plan does not make (another plan's, or the plan changed); they are ignored"
                );
            }
            Ok((plan, replay))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(journal_exit(&e))
        }
    }
}

/// `status`: what the journal says, offline.
fn status(plan: &std::path::Path, format: StatusFormat) -> i32 {
    let plan = match load_plan(plan) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let s = match report::status(&plan.options.journal, &plan.target.registry) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return journal_exit(&e);
        }
    };
    match format {
        StatusFormat::Text => print!("{}", report::render_status_text(&s)),
        StatusFormat::Html => print!("{}", report::render::status_html(&s)),
        StatusFormat::Json => {
            if !print_json(&s) {
                return EXIT_FAILED;
            }
        }
    }
    if s.totals.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// Prints `value` as pretty JSON, written as it is encoded (a report of
/// many tags is never held whole as text); false when it cannot be.
fn print_json<T: serde::Serialize>(value: &T) -> bool {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = report::render::json_to(value, &mut out).and_then(|()| out.flush());
    match written {
        Ok(()) => true,
        Err(e) => {
            eprintln!("error: {e}");
            false
        }
    }
}

/// `verify`: what the journal records as done, checked in the target.
async fn verify(plan: &std::path::Path, format: OutputFormat) -> i32 {
    let plan = match load_plan(plan) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let r = match report::verify::verify(&plan).await {
        Ok(r) => r,
        Err(e) => return run_error(&e),
    };
    let printed = match format {
        OutputFormat::Text => {
            print!("{}", report::verify::render_text(&r));
            true
        }
        OutputFormat::Json => print_json(&r),
    };
    if !printed || !r.problems.is_empty() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `map`: the digest map, from the journal.
fn map(plan: &std::path::Path, format: MapFormat) -> i32 {
    let (plan, replay) = match plan_and_journal(plan) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rows = report::map::rows(&replay, &plan.source.registry, &plan.target.registry);
    match format {
        MapFormat::Csv => print!("{}", report::map::render_csv(&rows)),
        MapFormat::Json => {
            if !print_json(&rows) {
                return EXIT_FAILED;
            }
        }
    }
    EXIT_OK
}

/// A file's rewrite, planned: its path, its name as shown, its text and
/// what rewriting it gives.
type PlannedRewrite = (PathBuf, String, String, crate::rewrite::Rewritten);

/// Reads and rewrites every file in memory, before any is written: a file
/// that cannot be read or parsed is reported (the code is then 1) and
/// leaves all of them as they were under `--in-place`.
fn plan_rewrites(
    files: Vec<PathBuf>,
    mapping: &crate::rewrite::Mapping,
) -> (Vec<PlannedRewrite>, i32) {
    let mut code = EXIT_OK;
    let mut planned = Vec::new();
    for f in files {
        let shown = f.display().to_string();
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {shown}: {e}");
                code = EXIT_FAILED;
                continue;
            }
        };
        match crate::rewrite::rewrite_text(&text, mapping) {
            Ok(r) => planned.push((f, shown, text, r)),
            Err(e) => {
                eprintln!("error: {shown}: not YAML: {e}");
                code = EXIT_FAILED;
            }
        }
    }
    (planned, code)
}

/// `rewrite`: YAML pointed at the target, as a diff or in place.
fn rewrite(plan: &std::path::Path, paths: &[PathBuf], in_place: bool) -> i32 {
    let (plan, replay) = match plan_and_journal(plan) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mapping = crate::rewrite::Mapping::new(&plan, &replay);
    let files = match crate::rewrite::yaml_files(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (planned, mut code) = plan_rewrites(files, &mapping);
    if in_place && code != EXIT_OK {
        eprintln!("nothing written: every file must be readable YAML before any is changed");
        return code;
    }
    let (mut changed, mut left, mut mentioned) = (0, 0, 0);
    for (f, shown, text, r) in planned {
        for u in &r.unmapped {
            eprintln!(
                "{shown}:{}: not rewritten: {}: {}",
                u.line,
                crate::model::printable(&u.reference),
                u.reason
            );
            code = EXIT_FAILED;
        }
        for e in r.edits.iter().filter(|e| !e.aliases.is_empty()) {
            let lines: Vec<String> = e.aliases.iter().map(|l| l.to_string()).collect();
            eprintln!(
                "{shown}:{}: an anchored value, rewritten once where it is written; the aliases at line {} use it",
                e.line,
                lines.join(", ")
            );
        }
        for m in &r.mentions {
            eprintln!(
                "{shown}:{}: still names {} (not an image reference this tool can map: check it by hand)",
                m.line, m.host
            );
            code = EXIT_FAILED;
        }
        left += r.unmapped.len();
        mentioned += r.mentions.len();
        changed += r.edits.len();
        if r.edits.is_empty() {
            continue;
        }
        if in_place {
            if let Err(e) = crate::rewrite::write_atomically(&f, &r.text) {
                eprintln!("error: writing {shown}: {e}");
                code = EXIT_FAILED;
            }
        } else {
            print!(
                "{}",
                crate::rewrite::unified_diff(&shown, &text, &r.text, &r.edits)
            );
        }
    }
    eprintln!(
        "{changed} references {}, {left} left as they were, {mentioned} other mentions of the source registry",
        if in_place { "rewritten" } else { "to rewrite" }
    );
    code
}

/// `man [SUBCOMMAND]`: the man page of the command (section 1), or of one
/// subcommand (`rahti-migrate-run(1)`, as git names its pages), on stdout.
fn man(sub: Option<&str>) -> i32 {
    let cmd = <Cli as clap::CommandFactory>::command();
    let page = match sub {
        None => clap_mangen::Man::new(cmd),
        Some(name) => match cmd.find_subcommand(name) {
            Some(c) => clap_mangen::Man::new(c.clone().bin_name(format!("rahti-migrate {name}")))
                .title(format!("rahti-migrate-{name}")),
            None => {
                eprintln!("error: no subcommand {name:?}");
                return EXIT_USAGE;
            }
        },
    };
    let mut out = Vec::new();
    match page
        .render(&mut out)
        .and_then(|()| std::io::Write::write_all(&mut std::io::stdout(), &out))
    {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: writing the man page: {e}");
            EXIT_FAILED
        }
    }
}

/// `run`: the copy, with progress, until done or Ctrl-C.
async fn run(
    plan: &std::path::Path,
    concurrency: Option<u16>,
    mode: progress::Progress,
    sharding: crate::shard::Sharding,
) -> i32 {
    let plan = match plan_with(plan, concurrency) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let renderer = tokio::spawn(progress::render(rx, mode));
    let result = tokio::select! {
        r = copy::run(&plan, sharding, Events::new(tx)) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    // The engine (and its event sender) is gone: the renderer ends.
    let _ = renderer.await;
    match result {
        None => {
            eprintln!("interrupted: in-flight uploads abandoned; the journal holds every verified step; run again to resume");
            EXIT_INTERRUPTED
        }
        Some(Err(e)) => run_error(&e),
        // A program reading JSON lines gets the summary as one more.
        Some(Ok(summary)) if mode == progress::Progress::Json => {
            let mut v = serde_json::to_value(&summary).unwrap_or_default();
            v["event"] = "summary".into();
            eprintln!("{v}");
            summary_exit(&summary)
        }
        Some(Ok(summary)) => print_summary(&summary),
    }
}

/// Prints the run summary; returns the exit code it implies.
fn print_summary(summary: &copy::RunSummary) -> i32 {
    eprintln!(
        "{} copied, {} already done, {} failed; blobs: {} uploaded ({}), {} mounted, {} already present",
        summary.copied,
        summary.skipped,
        summary.failed.len(),
        summary.blobs_uploaded,
        report::human_bytes(summary.bytes_uploaded),
        summary.blobs_mounted,
        summary.blobs_skipped
    );
    if summary.names_ignored > 0 {
        eprintln!(
            "{} invalid tag names skipped (the plan does not select them; not failures)",
            summary.names_ignored
        );
    }
    if summary.aliased > 0 {
        eprintln!(
            "{} aliases recreated on the target (image stream tags following another tag)",
            summary.aliased
        );
    }
    if summary.referenced > 0 {
        eprintln!(
            "{} imported tags referenced on the target (image stream tags importing from their external images)",
            summary.referenced
        );
    }
    if !summary.lossy.is_empty() {
        eprintln!("converted with loss (use format = \"docker\" or \"preserve\" for these images to keep the fields):");
        for l in &summary.lossy {
            eprintln!(
                "  {}: {}",
                l.source,
                crate::model::printable(&l.dropped.join(", "))
            );
        }
    }
    if summary.failed.is_empty() {
        return summary_exit(summary);
    }
    eprintln!("failed:");
    for f in &summary.failed {
        eprintln!(
            "  {} ({} error): {}",
            f.source,
            f.kind.name(),
            crate::model::printable(&f.error)
        );
    }
    summary_exit(summary)
}

/// The exit code a run's summary implies: 1 when an image failed.
fn summary_exit(summary: &copy::RunSummary) -> i32 {
    match summary.failed.is_empty() {
        true => EXIT_OK,
        false => EXIT_FAILED,
    }
}

/// What `check` was asked for.
struct CheckHow<'a> {
    format: ReportFormat,
    output: Option<&'a std::path::Path>,
    bandwidth: &'a str,
    concurrency: Option<u16>,
    verify_source_blobs: bool,
    verbose: bool,
    /// One JSON object per image planned on stderr, and the summary last.
    json_progress: bool,
}

impl<'a> CheckHow<'a> {
    /// `run --dry-run`: the text report, with the run's own options.
    fn dry_run(bandwidth: &'a str, concurrency: Option<u16>) -> Self {
        CheckHow {
            format: ReportFormat::Text,
            output: None,
            bandwidth,
            concurrency,
            verify_source_blobs: false,
            verbose: false,
            json_progress: false,
        }
    }
}

/// `check` (and `run --dry-run`): the compatibility report.
async fn check(plan: &std::path::Path, how: CheckHow<'_>) -> i32 {
    let CheckHow {
        format,
        output,
        bandwidth,
        concurrency,
        verify_source_blobs,
        verbose,
        json_progress,
    } = how;
    let plan = match plan_with(plan, concurrency) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(bits) = report::check::parse_bandwidth(bandwidth) else {
        eprintln!(
            "error: --bandwidth {bandwidth:?} is not a bandwidth (e.g. 100Mbit, 1Gbit, 50MB/s)"
        );
        return EXIT_USAGE;
    };
    let on_row = |i: &report::check::ImageReport| {
        if json_progress {
            let count = |s| i.findings.iter().filter(|f| f.severity == s).count();
            eprintln!(
                "{}",
                serde_json::json!({
                    "event": "image_checked",
                    "source": i.source,
                    "target": i.target,
                    "action": i.action.name(),
                    "target_digest": i.target_digest,
                    "blockers": count(report::check::Severity::Blocker),
                    "warnings": count(report::check::Severity::Warning),
                })
            );
        }
    };
    let r = match report::check::check_with(&plan, bits, verify_source_blobs, &on_row).await {
        Ok(r) => r,
        Err(e) => return run_error(&e),
    };
    if json_progress {
        let mut v = serde_json::to_value(&r.summary).unwrap_or_default();
        v["event"] = "summary".into();
        eprintln!("{v}");
    }
    let to_tty = output.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let mut out: Box<dyn std::io::Write> = match output {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("error: writing {}: {e}", path.display());
                return EXIT_FAILED;
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    // JSON is written as it is encoded: a report of many tags is not held
    // whole as text.
    let written = match format {
        ReportFormat::Text => out.write_all(report::render::text(&r, to_tty, verbose).as_bytes()),
        ReportFormat::Json => report::render::json_to(&r, &mut out),
        ReportFormat::Markdown => out.write_all(report::render::markdown(&r, verbose).as_bytes()),
        ReportFormat::Html => out.write_all(report::render::html(&r).as_bytes()),
    }
    .and_then(|()| out.flush());
    if let Err(e) = written {
        let to = output.map_or("standard output".to_string(), |p| p.display().to_string());
        eprintln!("error: writing {to}: {e}");
        return EXIT_FAILED;
    }
    if r.has_blockers() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}
