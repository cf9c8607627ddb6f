//! Running the built binary from a test.

use std::process::{Command, Stdio};

/// The binary, with no standard input (integration tests only: Cargo
/// names the binary to them).
pub fn bin() -> Command {
    let exe = option_env!("CARGO_BIN_EXE_rahti-migrate").unwrap_or("rahti-migrate");
    let mut c = Command::new(exe);
    c.stdin(Stdio::null());
    c
}

/// Runs the binary with `args`, then the plan path, and waits for it.
pub fn cli(args: &[&str], plan: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    bin()
        .args(args)
        .arg(plan)
        .output()
        .unwrap_or_else(|e| panic!("rahti-migrate: {e}"))
}
