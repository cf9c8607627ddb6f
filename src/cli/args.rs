//! The command line's grammar: every subcommand, option and format, as
//! clap reads them (and as `completions` and `man` print them). What each
//! one does is in [`super`].

use super::progress;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Moves container images between registries, from a plan file.
#[derive(Parser, Debug)]
#[command(name = "rahti-migrate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print a shell completion script (bash, zsh, fish, elvish,
    /// powershell)
    ///
    /// For example `rahti-migrate completions bash >
    /// /etc/bash_completion.d/rahti-migrate`, or for zsh into a directory
    /// of `$fpath` as `_rahti-migrate`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), generated from the same definitions
    ///
    /// `rahti-migrate man > rahti-migrate.1`, and one page per subcommand:
    /// `rahti-migrate man run > rahti-migrate-run.1`.
    Man {
        /// A subcommand, for its own page.
        subcommand: Option<String>,
    },
    /// Copy every image of the plan; resumes from the journal.
    Run {
        /// The plan file (migration.toml).
        plan: PathBuf,
        /// Blob transfers in flight (overrides the plan's concurrency option).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: Option<u16>,
        /// Plain log lines instead of progress bars (`--progress plain`).
        #[arg(long, conflicts_with = "progress")]
        no_progress: bool,
        /// How progress is shown: `auto` (bars on a terminal, plain lines
        /// otherwise), `plain`, or `json` (one JSON object per event on
        /// stderr, for programs; see docs/reference.md).
        #[arg(long, value_enum, default_value = "auto")]
        progress: progress::Progress,
        /// Change nothing: print the `check` report instead.
        #[arg(long)]
        dry_run: bool,
        /// With --dry-run: bandwidth for the transfer-time estimate.
        #[arg(long, default_value = "100Mbit", requires = "dry_run")]
        bandwidth: String,
        /// Migrate part I (0-based) of N of the plan, partitioned by target
        /// repository; its journal is `<journal stem>.shard-I-of-N.journal`.
        #[arg(long, value_name = "I/N", conflicts_with = "shards")]
        shard: Option<String>,
        /// Migrate part $JOB_COMPLETION_INDEX of N (a Kubernetes Indexed
        /// Job).
        #[arg(long, value_name = "N")]
        shards: Option<u32>,
        /// Run with another number of parts than the journals there were
        /// written with, reusing their records.
        #[arg(long)]
        reshard: bool,
    },
    /// Dry run: the compatibility report (reads only)
    ///
    /// What would happen to each image, what changes or is lost, what is
    /// already there, how much must travel, what the target will refuse.
    /// Exit 1 when anything blocks.
    Check {
        /// The plan file.
        plan: PathBuf,
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
        format: ReportFormat,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Bandwidth for the transfer-time estimate (e.g. 100Mbit, 1Gbit,
        /// 50MB/s).
        #[arg(long, default_value = "100Mbit")]
        bandwidth: String,
        /// Overrides the plan's concurrency option: reads in flight are twice it
        /// (4 to 64). The report does not depend on it.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: Option<u16>,
        /// Look up every source blob (one HEAD each). By default a blob a
        /// manifest names with its size is taken as present: the source
        /// accepted that manifest only with its blobs.
        #[arg(long)]
        verify_source_blobs: bool,
        /// List information findings (digest changes, platforms found,
        /// build metadata dropped) under each image in the text and
        /// Markdown reports; without it they are counted in the summary.
        /// JSON and HTML always list them.
        #[arg(long, short)]
        verbose: bool,
        /// `json`: one JSON object per image as it is planned on stderr
        /// (`image_checked`), and the summary last; the report itself is
        /// unchanged.
        #[arg(long, value_enum, default_value = "auto")]
        progress: progress::Progress,
    },
    /// Show what the journal says: done, failed, pending.
    Status {
        /// The plan file.
        plan: PathBuf,
        /// Output format: a table, JSON, or one HTML page for a project
        /// owner (`> status.html`).
        #[arg(long, value_enum, default_value_t = StatusFormat::Text)]
        format: StatusFormat,
    },
    /// Prove that what the journal records as done is in the target
    /// (reads only)
    ///
    /// For every done tag: the target tag resolves to the migrated digest,
    /// every manifest, config and layer of it is there with its size, a
    /// preserved image kept its digest, and the source tag has not moved
    /// since. Exit 1 when anything is wrong.
    Verify {
        /// The plan file.
        plan: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Print the digest map: source and target reference of every migrated
    /// tag, with registry and digest (from the journal; offline).
    Map {
        /// The plan file.
        plan: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = MapFormat::Csv)]
        format: MapFormat,
    },
    /// Point Kubernetes and OpenShift YAML at the target
    ///
    /// Rewrites every image reference to the source registry (and its
    /// aliases), whatever key holds it: target registry and repository,
    /// and for digests the migrated digest from the journal (index
    /// children included); repository-only values and ImageStreamImage
    /// names too. Only what the journal records as migrated is rewritten.
    /// Prints a unified diff unless --in-place. References that cannot be
    /// mapped, and any other mention of the source registry left, are
    /// listed as file:line (exit 1), never guessed.
    Rewrite {
        /// The plan file.
        plan: PathBuf,
        /// YAML files or directories (searched for *.yaml and *.yml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the files instead of printing a diff.
        #[arg(long)]
        in_place: bool,
    },
    /// Print a commented starter plan.
    Init,
}

/// Output formats of `map`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapFormat {
    /// One line per tag, with a header.
    Csv,
    /// A JSON array.
    Json,
}

/// Output formats of `check`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// A table (colour on a terminal).
    Text,
    /// JSON with stable keys.
    Json,
    /// Markdown, for a ticket.
    Markdown,
    /// One self-contained HTML page.
    Html,
}

/// Output formats of `status`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    /// A table.
    Text,
    /// JSON with stable keys.
    Json,
    /// One self-contained HTML page.
    Html,
}

/// Output formats of `verify`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// A table.
    Text,
    /// JSON with stable keys.
    Json,
}
