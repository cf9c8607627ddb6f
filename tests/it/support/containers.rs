//! Running Debian's buildah and podman from tests, each test with storage
//! of its own (vfs, chroot isolation: what works on the test machines).

use std::path::Path;
use std::process::Command;

/// `buildah` or `podman` with storage under `dir`.
pub fn tool(name: &str, dir: &Path) -> Command {
    let mut c = Command::new(name);
    c.env("BUILDAH_ISOLATION", "chroot")
        .arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(["--storage-driver", "vfs"]);
    c
}

/// Runs `c`; its standard output, or a panic naming it and its errors.
pub fn ok(mut c: Command) -> String {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{c:?}: {e} (apt-get install buildah podman runc)"));
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}
