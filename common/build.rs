//! Build information for `build_info` and `--version` (`src/build.rs` includes what this writes):
//! the revision and branch, from `SYSGAUGE_REVISION`/`SYSGAUGE_BRANCH` when the builder knows
//! them (the Nix package sets the revision from the flake) or else from git when cargo builds
//! from a checkout; the rustc version; the build date only from SOURCE_DATE_EPOCH, so that a
//! build is reproducible. Whatever cannot be known is "unknown".

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    for var in ["SYSGAUGE_REVISION", "SYSGAUGE_BRANCH", "SOURCE_DATE_EPOCH"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let git = Git::find(&manifest_dir);
    if let Some(git) = &git {
        git.rerun_on_head_change();
    }
    let revision = given("SYSGAUGE_REVISION")
        .or_else(|| git.as_ref()?.output(&["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // "HEAD" is git's answer on a detached HEAD: no branch.
    let branch = given("SYSGAUGE_BRANCH")
        .or_else(|| git.as_ref()?.output(&["rev-parse", "--abbrev-ref", "HEAD"]))
        .filter(|b| b != "HEAD")
        .unwrap_or_else(|| "unknown".to_owned());
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    // "rustc 1.91.0 (f8297e351 2025-10-28)" → "1.91.0".
    let rustversion = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned());
    let build_date = given("SOURCE_DATE_EPOCH")
        .and_then(|s| s.parse::<i64>().ok())
        .map(rfc3339);

    // What clap prints after the binary's name for --version, as Go exporters print it.
    let version = env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let mut long_version = format!("{version} (branch: {branch}, revision: {revision})\n");
    if let Some(date) = &build_date {
        long_version.push_str(&format!("  build date:   {date}\n"));
    }
    long_version.push_str(&format!("  rust version: {rustversion}"));

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let text = format!(
        "/// The git revision of the source, or \"unknown\".\n\
         pub const REVISION: &str = {revision:?};\n\
         /// The git branch of the source, or \"unknown\".\n\
         pub const BRANCH: &str = {branch:?};\n\
         /// The version of rustc that built this.\n\
         pub const RUSTVERSION: &str = {rustversion:?};\n\
         /// SOURCE_DATE_EPOCH as RFC 3339, when the build was given one.\n\
         pub const BUILD_DATE: Option<&str> = {build_date:?};\n\
         /// The text of --version (clap's long_version).\n\
         pub const LONG_VERSION: &str = {long_version:?};\n"
    );
    std::fs::write(out.join("build_info.rs"), text).expect("cannot write build_info.rs");
}

/// A non-empty environment variable.
fn given(var: &str) -> Option<String> {
    env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The checkout the crate is built from.
struct Git {
    dir: PathBuf,
}

impl Git {
    /// `None` without git or outside a checkout (a crate tarball, the Nix build's source).
    fn find(dir: &Path) -> Option<Self> {
        let git = Self {
            dir: dir.to_owned(),
        };
        git.output(&["rev-parse", "--git-dir"])?;
        Some(git)
    }

    /// What `git ARGS` prints, trimmed; `None` when git fails.
    fn output(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
        (out.status.success() && !text.is_empty()).then_some(text)
    }

    /// Re-runs this script when HEAD moves: a checkout or a commit changes HEAD (in the
    /// worktree's own git dir) or the branch's ref (in the common dir, loose or packed).
    fn rerun_on_head_change(&self) {
        let path = |args: &[&str]| {
            self.output(args)
                .map(|p| self.dir.join(p))
                .filter(|p| p.exists())
        };
        let mut watched = Vec::new();
        watched.extend(path(&["rev-parse", "--git-path", "HEAD"]));
        if let Some(reference) = self.output(&["symbolic-ref", "-q", "HEAD"]) {
            watched.extend(path(&["rev-parse", "--git-path", &reference]));
        }
        watched.extend(path(&["rev-parse", "--git-path", "packed-refs"]));
        for p in watched {
            println!("cargo::rerun-if-changed={}", p.display());
        }
    }
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC; proleptic Gregorian calendar).
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
