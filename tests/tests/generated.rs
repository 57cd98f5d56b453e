//! The man pages (`share/man/man1/`) and shell completions (`share/completions/`, bash, zsh and
//! fish) are rendered from the exporters' clap definitions, and committed so that a package
//! (nix/package.nix) or a plain install copies them without running anything. This test
//! renders them again and fails when the committed files differ.
//!
//! `SYSGAUGE_BLESS=1` rewrites `share/` instead of failing.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use clap::CommandFactory;
use clap_complete::Shell;
use sysgauge_testkit::{files_under, units::workspace_root};

/// Every exporter's command line, as its binary parses it.
fn commands() -> Vec<clap::Command> {
    vec![
        sysgauge_backup::Args::command(),
        sysgauge_certs::Args::command(),
        sysgauge_gpu::Args::command(),
        sysgauge_restic::Args::command(),
        sysgauge_systemd::Args::command(),
    ]
}

/// `share/`'s files as they should be: path relative to `share/` → content.
fn render() -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let man_dir = tempfile::tempdir().unwrap();
    for cmd in commands() {
        // The long version names the git revision, which would change the pages with every
        // commit; the pages say the version alone.
        let cmd = cmd.long_version(None::<&'static str>);
        let name = cmd.get_name().to_owned();
        // One page for the binary and one for each of its run modes (sysgauge-certs-serve.1).
        clap_mangen::generate_to(cmd.clone(), man_dir.path()).unwrap();
        for (shell, file) in [
            (Shell::Bash, format!("{name}.bash")),
            (Shell::Zsh, format!("_{name}")),
            (Shell::Fish, format!("{name}.fish")),
        ] {
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut text);
            out.insert(format!("completions/{file}"), text);
        }
    }
    for page in files_under(man_dir.path()) {
        let text = std::fs::read(man_dir.path().join(&page)).unwrap();
        out.insert(format!("man/man1/{page}"), text);
    }
    out
}

#[test]
fn committed_man_pages_and_completions_are_current() {
    let rendered = render();
    let share = workspace_root().join("share");
    // A page and three completions per binary, at least.
    assert!(
        rendered.len() >= 4 * commands().len(),
        "{:?}",
        rendered.keys()
    );
    if std::env::var_os("SYSGAUGE_BLESS").is_some_and(|v| v == "1") {
        for dir in ["man", "completions"] {
            let _ = std::fs::remove_dir_all(share.join(dir));
        }
        for (path, text) in &rendered {
            let p = share.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        return;
    }
    let committed: Vec<String> = files_under(&share);
    assert_eq!(
        committed,
        rendered.keys().cloned().collect::<Vec<_>>(),
        "share/ holds other files than the clap definitions render; run with SYSGAUGE_BLESS=1"
    );
    for (path, text) in &rendered {
        let on_disk = std::fs::read(share.join(path)).unwrap();
        assert!(
            on_disk == *text,
            "share/{path} differs from what the clap definitions render; run with \
             SYSGAUGE_BLESS=1 cargo test -p sysgauge-testkit --test generated"
        );
    }
}

/// The pages carry what a reader looks for: the run modes, the shared flags, the version.
#[test]
fn man_pages_describe_the_run_modes_and_flags() {
    let rendered = render();
    for cmd in commands() {
        let name = cmd.get_name();
        let page = String::from_utf8(rendered[&format!("man/man1/{name}.1")].clone()).unwrap();
        assert!(page.contains(&format!(".TH {name} 1")), "{page}");
        for word in [
            "serve",
            "textfile",
            "once",
            "\\-\\-config",
            env!("CARGO_PKG_VERSION"),
        ] {
            assert!(page.contains(word), "{name}.1 does not mention {word}");
        }
        let serve =
            String::from_utf8(rendered[&format!("man/man1/{name}-serve.1")].clone()).unwrap();
        assert!(
            serve.contains("listen"),
            "{name}-serve.1 has no listen flag"
        );
    }
}
