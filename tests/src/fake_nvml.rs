//! The fake libnvidia-ml of sysgauge's GPU tests, compiled with the real gcc.
//!
//! There is no GPU on the development and CI machines, so `sysgauge-gpu` is tested against a
//! small C library (`exporters/gpu/tests/fake-nvml/fake_nvml.c`, whose header documents its
//! configuration file) that exports the NVML symbols the exporter uses. The exporter loads it
//! through the same `dlopen` path as the real library, with `--nvml.library PATH`; the fake
//! reads its behaviour from the file named by `$FAKE_NVML_CONFIG` at every `nvmlInit`.
//!
//! Used by the GPU exporter's integration tests and by the real-systemd run of the shipped GPU
//! units (`tests/tests/units.rs`).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{available, run, units::workspace_root};

/// The environment variable that names the fake's configuration file.
pub const CONFIG_ENV: &str = "FAKE_NVML_CONFIG";

/// The C source of the fake.
pub fn source() -> PathBuf {
    workspace_root().join("exporters/gpu/tests/fake-nvml/fake_nvml.c")
}

/// Compiles the fake into `dir/libnvidia-ml.so.1` with `defines` (e.g. `-DFAKE_NO_POWER`, see
/// the source's header) and returns its path; `None` (after a loud SKIP) when gcc is missing.
/// Panics with gcc's complaint when it does not compile.
pub fn build(dir: &Path, defines: &[&str]) -> Option<PathBuf> {
    if !available("gcc", "gcc") {
        return None;
    }
    let lib = dir.join("libnvidia-ml.so.1");
    // -z nodelete: the fake's state survives dlclose between NVML sessions, as the kernel
    // driver's does for the real library.
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
        .arg(source())
        .args(defines));
    assert!(
        out.status.success(),
        "gcc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(lib)
}
