//! What a binary knows about its own build: the `sysgauge_<domain>_build_info` labels and the
//! `--version` text, after the Go exporters' convention (`version`, `revision`, `branch`,
//! `goversion` → `rustversion`).
//!
//! `build.rs` finds the values: the revision and branch from `SYSGAUGE_REVISION` and
//! `SYSGAUGE_BRANCH` when the builder sets them (the Nix package passes the flake's
//! `self.rev`, or `self.dirtyRev`), else from git when cargo builds from a checkout, else
//! `unknown`; the rustc version; the build date only from `SOURCE_DATE_EPOCH`, so that builds
//! stay reproducible.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/build_info.rs"));
}

pub use generated::{BRANCH, BUILD_DATE, LONG_VERSION, REVISION, RUSTVERSION};

/// The label names of `sysgauge_<domain>_build_info`, in the order [`labels`] gives them.
pub const LABELS: [&str; 4] = ["version", "revision", "branch", "rustversion"];

/// The labels of `sysgauge_<domain>_build_info` for a binary of `version`.
pub fn labels(version: &str) -> Vec<(&'static str, String)> {
    let values = [version, REVISION, BRANCH, RUSTVERSION];
    LABELS.into_iter().zip(values.map(str::to_owned)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_version_says_what_the_labels_say() {
        assert!(LONG_VERSION.starts_with(&format!(
            "{} (branch: {BRANCH}, revision: {REVISION})\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(LONG_VERSION.contains(&format!("rust version: {RUSTVERSION}")));
        assert_eq!(
            LONG_VERSION.contains("build date:"),
            BUILD_DATE.is_some(),
            "{LONG_VERSION}"
        );
        assert!(RUSTVERSION.starts_with("1."), "{RUSTVERSION}");
        let labels = labels("1.2.3");
        assert_eq!(labels[0], ("version", "1.2.3".to_owned()));
        assert_eq!(labels.len(), LABELS.len());
    }

    /// Built from a git checkout, the revision is the checkout's HEAD (build.rs reruns when
    /// HEAD moves), and the branch its branch.
    #[test]
    fn revision_comes_from_the_checkout() {
        if std::env::var_os("SYSGAUGE_REVISION").is_some() {
            return;
        }
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        match git(&["rev-parse", "HEAD"]) {
            Some(head) => {
                assert_eq!(REVISION, head);
                let branch = git(&["rev-parse", "--abbrev-ref", "HEAD"]).unwrap();
                if branch != "HEAD" {
                    assert_eq!(BRANCH, branch);
                }
            }
            None => assert_eq!(REVISION, "unknown"),
        }
    }
}
