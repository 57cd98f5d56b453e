//! Fakes for what cannot run for real on a test machine, shared by the exporters' tests and the
//! mixin's end-to-end tests: a libnvidia-ml built from C (no GPU here), and executable shell
//! scripts standing in for a program (`zfs` without a pool, a restic that hangs), plus setting a
//! file's modification time (a backup file "made" at a given time).

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, UNIX_EPOCH},
};

use crate::{available, run, units::workspace_root};

/// The C source of the fake NVML (`exporters/gpu/tests/fake-nvml/fake_nvml.c`); its behaviour
/// comes from the file named by `$FAKE_NVML_CONFIG` (see the source's header).
pub fn fake_nvml_source() -> PathBuf {
    workspace_root().join("exporters/gpu/tests/fake-nvml/fake_nvml.c")
}

/// A temporary directory holding a fake `libnvidia-ml.so.1` compiled by the real gcc from
/// [`fake_nvml_source`] with `defines` (e.g. `-DFAKE_NO_POWER`), and the library's path;
/// `None` (after a loud SKIP) when gcc is missing.
pub fn fake_nvml(defines: &[&str]) -> Option<(tempfile::TempDir, PathBuf)> {
    if !available("gcc", "gcc") {
        return None;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let lib = dir.path().join("libnvidia-ml.so.1");
    let out = run(Command::new("gcc")
        .args([
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            "-Werror",
            "-Wl,-z,nodelete",
            "-o",
        ])
        .arg(&lib)
        .arg(fake_nvml_source())
        .args(defines));
    assert!(
        out.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((dir, lib))
}

/// Writes an executable `/bin/sh` script to `path`: `#!/bin/sh`, a newline, then `body`.
pub fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Sets the modification time of the file at `path` to `unix` (seconds since the epoch).
pub fn set_mtime(path: &Path, unix: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(UNIX_EPOCH + Duration::from_secs(unix))
        .unwrap();
}
