//! The Nix package (`nix/package.nix`), checked with Debian's nix-bin and no nixpkgs:
//! `nix/tests/package-eval.nix` evaluates it with builtins-only stand-ins for the few `lib`
//! functions it calls, and copies its source into a scratch store, so the tests see exactly the
//! files a `nix build` gets.
//!
//! - cargo resolves the workspace from that copy alone (`cargo metadata --locked --offline`), and
//!   fails, as the test shows, once a workspace member is missing;
//! - every workspace file in cargo's dep-info (sources, `include_str!` fixtures, build scripts)
//!   is in it;
//! - the package reports the revision it is given, and installs a man page and bash, zsh and
//!   fish completions for every exporter binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
use sysgauge_testkit::{available, files_under, run, tempfile::TempDir, units::workspace_root};

/// `nix/package.nix` as the package-eval harness sees it, with its source copied into a
/// scratch store under `store`.
struct Package {
    store: TempDir,
    eval: Value,
}

impl Package {
    /// Evaluates the package; `None` (after the testkit's SKIP line) without nix-instantiate.
    fn evaluate(args: &[(&str, &str)]) -> Option<Self> {
        if !available("nix-instantiate", "nix-bin") {
            return None;
        }
        let store = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("nix-instantiate");
        // --read-write-mode: --eval alone only computes the source's store path; the test
        // needs the copy. The store is a chroot store in the temporary directory, so nothing
        // touches the machine's /nix.
        cmd.args([
            "--eval",
            "--strict",
            "--json",
            "--read-write-mode",
            "--store",
        ])
        .arg(format!(
            "local?root={}",
            store.path().join("root").display()
        ))
        .env("NIX_CONFIG", "build-users-group =")
        .env("HOME", store.path());
        // nix-instantiate --eval calls the file's function only when given some --arg.
        for name in ["revision", "sourceDateEpoch"] {
            let expr = args
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("null", |(_, e)| e);
            cmd.args(["--arg", name, expr]);
        }
        let out = run(cmd.arg(workspace_root().join("nix/tests/package-eval.nix")));
        assert!(
            out.status.success(),
            "evaluating nix/tests/package-eval.nix failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let eval = serde_json::from_slice(&out.stdout).unwrap();
        Some(Self { store, eval })
    }

    /// The package's source directory, as copied into the scratch store.
    fn src(&self) -> PathBuf {
        let src = self.eval["src"].as_str().unwrap();
        let src = self
            .store
            .path()
            .join("root")
            .join(src.strip_prefix('/').unwrap());
        assert!(src.is_dir(), "{} was not copied", src.display());
        src
    }

    /// The environment variables the build gets.
    fn env(&self, name: &str) -> Option<&str> {
        self.eval["env"][name].as_str()
    }
}

/// The workspace members' manifests, relative to the workspace root, as cargo reads them in
/// `dir` (`cargo metadata --locked --offline`, resolving every dependency for this machine's
/// platform); `Err` with cargo's complaint when it cannot.
fn member_manifests(dir: &Path) -> Result<BTreeSet<String>, String> {
    // Only the host's dependencies: offline, the sources of Windows-only crates are absent.
    let host = run(Command::new("rustc").arg("-vV"));
    let host = String::from_utf8(host.stdout).unwrap();
    let host = host
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names no host");
    let out = run(Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version=1"])
        .args(["--filter-platform", host])
        .current_dir(dir));
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = Path::new(meta["workspace_root"].as_str().unwrap()).to_owned();
    let members: BTreeSet<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    Ok(meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| members.contains(p["id"].as_str().unwrap()))
        .map(|p| {
            let manifest = Path::new(p["manifest_path"].as_str().unwrap());
            manifest
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect())
}

/// The paths in a Makefile-style dep-info file (`target: dep dep…`, spaces escaped).
fn dep_info_paths(text: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in text.lines() {
        // A dep-info line is "target: deps"; lines starting with '#' carry env-dep comments.
        if line.starts_with('#') {
            continue;
        }
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        out.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            out.push(PathBuf::from(current));
        }
    }
    out
}

/// `path` without `.` and `a/..` components (`include_str!("../x")` leaves them in dep-info).
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Lists the source the package builds from, resolves the workspace from exactly that copy,
/// and shows that the check bites: without `dbus/`, cargo cannot load the workspace.
#[test]
fn package_source_resolves_the_whole_workspace() {
    let Some(package) = Package::evaluate(&[]) else {
        return;
    };
    let src = package.src();
    let files = files_under(&src);
    eprintln!(
        "package source {} ({} files):\n{}\n…",
        package.eval["src"],
        files.len(),
        files[..files.len().min(12)].join("\n")
    );
    for f in ["Cargo.toml", "Cargo.lock", "nix/package.nix", "flake.nix"] {
        assert!(files.iter().any(|x| x == f), "{f} is not in the source");
    }
    for excluded in [".git", "target"] {
        assert!(
            !files
                .iter()
                .any(|f| f == excluded || f.starts_with(&format!("{excluded}/"))),
            "{excluded} is in the package source"
        );
    }

    let here = member_manifests(&workspace_root()).unwrap();
    assert!(here.len() >= 9, "{here:?}");
    // A writable copy: the store's files are read-only, and the test removes a member below.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("src");
    let out = run(Command::new("cp").arg("-r").arg(&src).arg(&copy));
    assert!(out.status.success(), "{out:?}");
    let there = member_manifests(&copy).unwrap_or_else(|e| {
        panic!("cargo metadata --locked --offline fails on the package source: {e}")
    });
    assert_eq!(
        there, here,
        "the package source holds other workspace members"
    );

    std::fs::remove_dir_all(copy.join("dbus")).unwrap();
    let missing = member_manifests(&copy).expect_err("cargo loaded a workspace without dbus/");
    assert!(missing.contains("dbus"), "{missing}");
}

/// Every file inside the workspace that cargo's dep-info names (every source file of every
/// target, `include_str!` fixtures, build scripts) is in the package source.
#[test]
fn package_source_holds_every_file_the_build_reads() {
    let Some(package) = Package::evaluate(&[]) else {
        return;
    };
    let source: BTreeSet<String> = files_under(&package.src()).into_iter().collect();
    let root = workspace_root();
    // Everything the suite compiles, so that the dep-info is complete and current. After
    // `cargo test --workspace` (scripts/test) there is nothing left to do.
    let out = run(Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--locked",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
        ])
        .current_dir(&root));
    assert!(
        out.status.success(),
        "cargo build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut read = BTreeSet::new();
    let mut dep_files = 0;
    for profile in ["debug", "release"] {
        for dir in ["deps", "examples", "build", "."] {
            let Ok(entries) = std::fs::read_dir(target.join(profile).join(dir)) else {
                continue;
            };
            for e in entries {
                let p = e.unwrap().path();
                // Build scripts' dep-info is one level deeper: build/<crate>-<hash>/*.d.
                let files: Vec<PathBuf> = if p.is_dir() {
                    std::fs::read_dir(&p)
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .collect()
                } else {
                    vec![p]
                };
                for f in files.iter().filter(|f| f.extension() == Some("d".as_ref())) {
                    dep_files += 1;
                    let text = std::fs::read_to_string(f).unwrap();
                    for path in dep_info_paths(&text) {
                        // rustc's own dep-info (deps/) is relative to the workspace root,
                        // where cargo runs it; cargo's copies next to the binaries are absolute.
                        let path = lexically_normal(&root.join(path));
                        // Stale dep-info may name files since deleted; generated files live
                        // under target/.
                        // `.git/` is read only by common/build.rs for the revision, which the
                        // Nix build passes as SYSGAUGE_REVISION instead (nix/package.nix).
                        if let Ok(rel) = path.strip_prefix(&root)
                            && !rel.starts_with("target")
                            && !rel.starts_with(".git")
                            && path.is_file()
                        {
                            read.insert(rel.to_string_lossy().into_owned());
                        }
                    }
                }
            }
        }
    }
    assert!(dep_files > 0, "no dep-info under {}", target.display());
    // The check saw every member's sources, and the fixture a unit test reads.
    for member in member_manifests(&root).unwrap() {
        let dir = member.trim_end_matches("Cargo.toml");
        assert!(
            read.iter()
                .any(|f| f.starts_with(dir) && f.ends_with(".rs")),
            "the dep-info names no source of {dir}"
        );
    }
    assert!(
        read.contains("exporters/restic/tests/fixtures/snapshots-0.17.json"),
        "{read:?}"
    );
    let missing: Vec<&String> = read.difference(&source).collect();
    assert!(
        missing.is_empty(),
        "files the build reads are not in the package source (nix/source.nix): {missing:?}"
    );
    eprintln!(
        "{} workspace files in the dep-info, all in the package source",
        read.len()
    );
}

/// The package reports the revision the flake passes (`self.rev` / `self.dirtyRev`), and
/// `unknown` without one; the source time becomes SOURCE_DATE_EPOCH.
#[test]
fn package_passes_the_flake_revision_to_the_build() {
    let Some(flake) = Package::evaluate(&[
        (
            "revision",
            "\"0123456789abcdef0123456789abcdef01234567-dirty\"",
        ),
        ("sourceDateEpoch", "1700000000"),
    ]) else {
        return;
    };
    assert_eq!(
        flake.env("SYSGAUGE_REVISION"),
        Some("0123456789abcdef0123456789abcdef01234567-dirty")
    );
    assert_eq!(flake.env("SOURCE_DATE_EPOCH"), Some("1700000000"));
    let plain = Package::evaluate(&[]).unwrap();
    assert_eq!(plain.env("SYSGAUGE_REVISION"), Some("unknown"));
    assert_eq!(plain.env("SOURCE_DATE_EPOCH"), None);
    // The flake wires them from self.
    let flake_nix = std::fs::read_to_string(workspace_root().join("flake.nix")).unwrap();
    assert!(
        flake_nix.contains("revision = self.rev or self.dirtyRev or null;"),
        "flake.nix does not pass its revision to the package"
    );
}

/// Every exporter binary gets its man page and bash, zsh and fish completions installed, from
/// files that are in the package source.
#[test]
fn package_installs_man_pages_and_completions() {
    let Some(package) = Package::evaluate(&[]) else {
        return;
    };
    let source: BTreeSet<String> = files_under(&package.src()).into_iter().collect();
    let binaries: Vec<&str> = package.eval["binaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    let exporters: Vec<String> = member_manifests(&workspace_root())
        .unwrap()
        .iter()
        .filter_map(|m| m.strip_prefix("exporters/")?.strip_suffix("/Cargo.toml"))
        .map(|name| format!("sysgauge-{name}"))
        .collect();
    assert_eq!(binaries, exporters);
    let install = package.eval["postInstall"].as_str().unwrap();
    assert!(
        install.contains("installManPage share/man/man1/*.1"),
        "{install}"
    );
    for bin in &binaries {
        assert!(
            source.contains(&format!("share/man/man1/{bin}.1")),
            "no man page for {bin}"
        );
        for file in [
            format!("share/completions/{bin}.bash"),
            format!("share/completions/_{bin}"),
            format!("share/completions/{bin}.fish"),
        ] {
            assert!(
                source.contains(&file),
                "{file} is not in the package source"
            );
            assert!(
                install.contains(&file),
                "{file} is not installed:\n{install}"
            );
        }
    }
}
