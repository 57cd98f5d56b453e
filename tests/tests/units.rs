//! The shipped systemd units and NixOS modules, checked against `nix/units.json` (the one
//! definition of the hardening), `systemd-analyze verify`, and the security bar:
//! `systemd-analyze security --offline=true` at most 1.0 for textfile (oneshot) services and at
//! most 1.5 for serve services, every exporter included.
//!
//! `SYSGAUGE_UPDATE_UNITS=1` rewrites `units/` and the score table of `docs/security.md` instead
//! of failing on a difference.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use sysgauge_testkit::{
    available, files_under, run,
    units::{Mode, Units, parse_unit, workspace_root},
};

/// Every exporter's shipped units under a real systemd.
#[path = "units/real_systemd.rs"]
mod real_systemd;

fn updating() -> bool {
    std::env::var_os("SYSGAUGE_UPDATE_UNITS").is_some_and(|v| v == "1")
}

#[test]
fn committed_units_are_the_ones_rendered_from_the_data() {
    let rendered = Units::load().render();
    let dir = workspace_root().join("units");
    if updating() {
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in &rendered {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }
    let committed = files_under(&dir);
    let expected: Vec<String> = rendered.keys().cloned().collect();
    assert_eq!(
        committed, expected,
        "units/ holds other files than nix/units.json renders; run with SYSGAUGE_UPDATE_UNITS=1"
    );
    for (path, text) in &rendered {
        let on_disk = std::fs::read_to_string(dir.join(path)).unwrap();
        assert_eq!(
            &on_disk, text,
            "units/{path} drifted from nix/units.json; run with SYSGAUGE_UPDATE_UNITS=1"
        );
    }
    // The shape the rest of the suite relies on: 5 exporters x (3 services, timer, socket).
    assert_eq!(rendered.len(), 5 * 5 + 3);
}

#[test]
fn hardening_layers_merge_as_documented() {
    let u = Units::load();
    let certs = u.service("certs", Mode::Textfile);
    let get = |d: &BTreeMap<String, Vec<String>>, k: &str| d.get(k).cloned().unwrap_or_default();
    assert_eq!(get(&certs, "Type"), ["oneshot"]);
    assert_eq!(get(&certs, "PrivateNetwork"), ["yes"]);
    assert_eq!(get(&certs, "IPAddressDeny"), ["any"]);
    assert_eq!(get(&certs, "UMask"), ["0077"]);
    assert_eq!(
        get(&certs, "SystemCallFilter"),
        ["@system-service", "~@privileged @resources"]
    );
    assert_eq!(
        get(&certs, "ExecStart"),
        [
            "/usr/bin/sysgauge-certs --config /etc/sysgauge/certs.toml textfile --directory /var/lib/sysgauge/textfile"
        ]
    );
    // restic reads local repositories without network; remote ones get the network layer,
    // which removes IPAddressDeny.
    let restic = u.service("restic", Mode::Textfile);
    assert_eq!(get(&restic, "PrivateNetwork"), ["yes"]);
    assert_eq!(
        get(&restic, "LoadCredential"),
        ["restic-password:/etc/sysgauge/restic-password"]
    );
    // restic's own RESTIC_* variables are not passed on by the exporter; its cache goes where
    // XDG_CACHE_HOME says, in the unit's CacheDirectory=.
    assert_eq!(get(&restic, "CacheDirectory"), ["sysgauge-restic"]);
    // The rolling `check_read_data_parts` remembers its next part in StateDirectory=
    // ($STATE_DIRECTORY), writable under ProtectSystem=strict and DynamicUser=.
    assert_eq!(get(&restic, "StateDirectory"), ["sysgauge-restic"]);
    let restic_serve = u.service("restic", Mode::Serve);
    assert_eq!(get(&restic_serve, "StateDirectory"), ["sysgauge-restic"]);
    assert_eq!(
        get(&restic, "Environment"),
        ["XDG_CACHE_HOME=%C/sysgauge-restic"]
    );
    // backup remembers job successes in its StateDirectory= ($STATE_DIRECTORY).
    let backup = u.service("backup", Mode::Textfile);
    assert_eq!(get(&backup, "StateDirectory"), ["sysgauge-backup"]);
    assert_eq!(get(&backup, "ProtectHome"), ["read-only"]);
    let remote = u.hardening("restic", Mode::Textfile, true);
    assert_eq!(remote["PrivateNetwork"], false);
    assert!(!remote.contains_key("IPAddressDeny"));
    assert_eq!(
        remote["RestrictAddressFamilies"],
        "AF_UNIX AF_INET AF_INET6"
    );
    // The GPU gets the NVIDIA device nodes and nothing else.
    let gpu = u.service("gpu", Mode::Serve);
    assert_eq!(get(&gpu, "PrivateDevices"), ["no"]);
    assert_eq!(get(&gpu, "DevicePolicy"), ["closed"]);
    assert_eq!(
        get(&gpu, "DeviceAllow"),
        ["/dev/nvidiactl rw", "char-nvidia-frontend rw"]
    );
    // Bus users are static.
    let systemd = u.service("systemd", Mode::Socket);
    assert_eq!(get(&systemd, "DynamicUser"), ["no"]);
    assert_eq!(get(&systemd, "User"), ["sysgauge-systemd"]);
    assert_eq!(get(&systemd, "PrivateNetwork"), ["yes"]);
    assert_eq!(
        get(&systemd, "ExecStart"),
        [
            "/usr/bin/sysgauge-systemd --config /etc/sysgauge/systemd.toml serve --web.systemd-socket"
        ]
    );
}

/// A copy of `units/` whose ExecStart binaries exist, for `systemd-analyze verify` (which
/// checks that they do): `/usr/bin/sysgauge-<name>` becomes the workspace's release build of
/// every exporter.
fn units_with_binaries(dir: &Path) -> Vec<PathBuf> {
    let u = Units::load();
    let binaries: Vec<(String, PathBuf)> = u
        .exporters()
        .into_iter()
        .map(|name| {
            let unit = Units::unit_name(&name);
            let binary = sysgauge_testkit::release_binary(&unit)
                .unwrap_or_else(|| panic!("{unit} is not in this workspace"));
            (format!("/usr/bin/{unit} "), binary)
        })
        .collect();
    let mut paths = Vec::new();
    for (path, text) in u.render() {
        if !(path.ends_with(".service") || path.ends_with(".timer") || path.ends_with(".socket")) {
            continue;
        }
        let mut text = text;
        for (shipped, binary) in &binaries {
            text = text.replace(shipped, &format!("{} ", binary.display()));
        }
        assert!(!text.contains("/usr/bin/"), "{path}: {text}");
        // Modes share unit names; each mode is verified in its own directory.
        let (mode, file) = path.split_once('/').unwrap();
        let target = dir.join(mode).join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, text).unwrap();
        paths.push(target);
    }
    paths
}

#[test]
fn systemd_analyze_verify_passes_on_every_shipped_unit() {
    if !available("systemd-analyze", "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let paths = units_with_binaries(dir.path());
    assert_eq!(paths.len(), 25);
    for path in &paths {
        let out = run(Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(path)
            .env("SYSTEMD_LOG_LEVEL", "notice"));
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // verify reports problems of the host's own units too; only ours count.
        let ours: Vec<&str> = said
            .lines()
            .filter(|l| l.contains("sysgauge") || l.contains(&*dir.path().to_string_lossy()))
            .collect();
        assert!(
            out.status.success() && ours.is_empty(),
            "systemd-analyze verify {}: {said}",
            path.display()
        );
    }
}

/// `systemd-analyze security --offline=true` of one service file: the overall exposure.
pub fn exposure(path: &Path) -> f64 {
    let out = run(Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(path));
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let rest = l.split("Overall exposure level for ").nth(1)?;
            rest.split(": ").nth(1)?.split(' ').next()?.parse().ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "no exposure level for {}: {text}{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// The bar of the issue: oneshot units at most 1.0, long-running units at most 1.5.
fn bar(mode: Mode) -> f64 {
    if mode.serves() { 1.5 } else { 1.0 }
}

/// Scores every service unit in `units` (mode → exporter → file) and checks the bar.
fn score_all(units: &BTreeMap<(Mode, String), PathBuf>) -> BTreeMap<(Mode, String), f64> {
    let mut scores = BTreeMap::new();
    let mut over = Vec::new();
    for ((mode, name), path) in units {
        let score = exposure(path);
        if score > bar(*mode) {
            over.push(format!(
                "{name} {mode:?}: {score} > {} ({})",
                bar(*mode),
                path.display()
            ));
        }
        scores.insert((*mode, name.clone()), score);
    }
    assert!(over.is_empty(), "units over the security bar: {over:#?}");
    scores
}

fn score_table(u: &Units, scores: &BTreeMap<(Mode, String), f64>) -> String {
    let mut t = String::from(
        "| exporter | textfile (oneshot, bar 1.0) | serve (bar 1.5) | serve, socket-activated (bar 1.5) |\n|---|---|---|---|\n",
    );
    for name in u.exporters() {
        t.push_str(&format!(
            "| `sysgauge-{name}` | {:.1} | {:.1} | {:.1} |\n",
            scores[&(Mode::Textfile, name.clone())],
            scores[&(Mode::Serve, name.clone())],
            scores[&(Mode::Socket, name.clone())],
        ));
    }
    t
}

const BEGIN: &str = "<!-- scores:begin (generated by tests/tests/units.rs) -->\n";
const END: &str = "<!-- scores:end -->";

#[test]
fn every_service_meets_the_security_bar_and_docs_publish_the_scores() {
    if !available("systemd-analyze", "systemd") {
        return;
    }
    let u = Units::load();
    let root = workspace_root().join("units");
    let mut units = BTreeMap::new();
    for name in u.exporters() {
        for mode in Mode::ALL {
            units.insert(
                (mode, name.clone()),
                root.join(mode.dir())
                    .join(format!("sysgauge-{name}.service")),
            );
        }
    }
    let scores = score_all(&units);
    assert_eq!(scores.len(), 15);
    let mut table = score_table(&u, &scores);
    // With outbound network (units/dropins/network.conf; on NixOS automatic for certs with
    // endpoints and restic with remote repositories): published, and held to the serve bar.
    let dir = tempfile::tempdir().unwrap();
    table.push_str("\nWith outbound network (`units/dropins/network.conf`):\n\n| exporter | textfile | serve, socket-activated |\n|---|---|---|\n");
    for name in u.exporters() {
        let mut row = format!("| `sysgauge-{name}` |");
        for mode in [Mode::Textfile, Mode::Socket] {
            let path = dir.path().join(format!("{name}-{}.service", mode.dir()));
            let mut text = String::from("[Service]\n");
            for (k, vs) in u.service_with(&name, mode, true) {
                for v in vs {
                    text.push_str(&format!("{k}={v}\n"));
                }
            }
            std::fs::write(&path, text).unwrap();
            let score = exposure(&path);
            assert!(
                score <= bar(Mode::Serve),
                "{name} {mode:?} with network: {score}"
            );
            row.push_str(&format!(" {score:.1} |"));
        }
        table.push_str(&row);
        table.push('\n');
    }
    let docs = workspace_root().join("docs/security.md");
    let text = std::fs::read_to_string(&docs).unwrap();
    let (before, rest) = text
        .split_once(BEGIN)
        .expect("docs/security.md: no scores:begin marker");
    let (published, after) = rest
        .split_once(END)
        .expect("docs/security.md: no scores:end marker");
    if updating() {
        std::fs::write(&docs, format!("{before}{BEGIN}{table}{END}{after}")).unwrap();
    } else {
        assert_eq!(
            published, table,
            "docs/security.md's score table is stale; run with SYSGAUGE_UPDATE_UNITS=1"
        );
    }
}

/// The comparison points quoted in the docs, measured here so that they cannot go stale: a plain
/// root service scores far worse than any shipped unit.
#[test]
fn an_unhardened_unit_scores_badly_so_the_score_is_real() {
    if !available("systemd-analyze", "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.service");
    std::fs::write(
        &plain,
        "[Service]\nExecStart=/usr/bin/true\nRestart=always\n",
    )
    .unwrap();
    assert_eq!(exposure(&plain), 9.6);
    // The shipped textfile unit with its hardening removed is as bad.
    let u = Units::load();
    let stripped: String = u.render()["textfile/sysgauge-certs.service"]
        .lines()
        .filter(|l| l.starts_with('[') || l.starts_with("ExecStart=") || l.starts_with("Type="))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&plain, stripped).unwrap();
    assert_eq!(exposure(&plain), 9.6);
}

#[test]
fn every_nix_file_parses() {
    if !available("nix-instantiate", "nix-bin") {
        return;
    }
    let root = workspace_root();
    let mut nix_files: Vec<PathBuf> = files_under(&root.join("nix"))
        .into_iter()
        .filter(|p| p.ends_with(".nix"))
        .map(|p| root.join("nix").join(p))
        .collect();
    nix_files.push(root.join("flake.nix"));
    assert!(nix_files.len() >= 4, "{nix_files:?}");
    for f in &nix_files {
        let out = run(Command::new("nix-instantiate")
            .arg("--parse")
            .arg(f)
            .env("NIX_CONFIG", "build-users-group ="));
        assert!(
            out.status.success(),
            "nix-instantiate --parse {}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Evaluates `nix/module.nix` with nixpkgs' `lib` (`nix/tests/eval.nix`: `lib.evalModules`
/// with minimal declarations of the NixOS options the module sets), renders its units and
/// compares them with the plain ones (modulo store paths), then scores them.
#[test]
fn nixos_module_renders_the_same_units_as_the_plain_files() {
    let Some(lib) = std::env::var_os("SYSGAUGE_NIXPKGS_LIB") else {
        eprintln!(
            "\n*** SKIP: SYSGAUGE_NIXPKGS_LIB is not set; point it at a nixpkgs `lib` directory (a checkout of nixpkgs' lib/ or of nix-community/nixpkgs.lib) to evaluate the NixOS module ***\n"
        );
        return;
    };
    if !available("nix-instantiate", "nix-bin") {
        return;
    }
    let lib = PathBuf::from(lib);
    let lib = if lib.join("lib/default.nix").is_file() {
        lib.join("lib")
    } else {
        lib
    };
    assert!(
        lib.join("default.nix").is_file(),
        "SYSGAUGE_NIXPKGS_LIB={} holds no default.nix",
        lib.display()
    );
    let state = tempfile::tempdir().unwrap();
    let out = run(Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--readonly-mode"])
        .arg("--arg")
        .arg("lib")
        .arg(format!("import {}", lib.display()))
        .arg(workspace_root().join("nix/tests/eval.nix"))
        .env("NIX_STATE_DIR", state.path())
        .env("NIX_CONFIG", "build-users-group =")
        .env("HOME", state.path()));
    assert!(
        out.status.success(),
        "evaluating nix/tests/eval.nix failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered: BTreeMap<String, String> = serde_json::from_slice(&out.stdout).unwrap();
    let (nagios, rendered): (BTreeMap<String, String>, BTreeMap<String, String>) = rendered
        .into_iter()
        .partition(|(k, _)| k.starts_with("nagios/"));
    check_nagios_command_lines(&rendered, &nagios);
    let plain = Units::load().render();
    let expected: Vec<&String> = plain
        .keys()
        .filter(|k| k.ends_with(".service") || k.ends_with(".timer") || k.ends_with(".socket"))
        .collect();
    assert_eq!(
        rendered.keys().collect::<Vec<_>>(),
        expected,
        "the module rendered other units"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut services = BTreeMap::new();
    for (path, text) in &rendered {
        let normalised = normalise_store_paths(text);
        assert_eq!(
            parse_unit(&normalised),
            parse_unit(&plain[path]),
            "the NixOS module's {path} differs from units/{path}:\n{normalised}"
        );
        if let Some(stem) = path.strip_suffix(".service") {
            let (mode, unit) = stem.split_once('/').unwrap();
            let mode = Mode::ALL.into_iter().find(|m| m.dir() == mode).unwrap();
            let file = dir.path().join(format!("{}-{unit}.service", mode.dir()));
            std::fs::write(&file, text).unwrap();
            services.insert(
                (mode, unit.trim_start_matches("sysgauge-").to_owned()),
                file,
            );
        }
    }
    if available("systemd-analyze", "systemd") {
        let scores = score_all(&services);
        eprintln!("NixOS-rendered scores: {scores:?}");
    }
}

/// `services.sysgauge.<x>.nagios`: `command` runs `check` with the very binary and configuration
/// file of the exporter's service; `recorded` reads its textfile (textfile mode) or its
/// `/metrics` (serve mode).
fn check_nagios_command_lines(units: &BTreeMap<String, String>, nagios: &BTreeMap<String, String>) {
    assert_eq!(nagios.len(), 2 * 2 * 5, "{nagios:#?}");
    for mode in ["textfile", "serve"] {
        for name in ["backup", "certs", "gpu", "restic", "systemd"] {
            let unit = format!("sysgauge-{name}");
            let service = &units[&format!("{mode}/{unit}.service")];
            let exec = service
                .lines()
                .find_map(|l| l.strip_prefix("ExecStart="))
                .unwrap();
            // `<bin> --config <file>` of the service, then the mode's command.
            let prefix: Vec<&str> = exec.split(' ').take(3).collect();
            let prefix = prefix.join(" ");
            let command = &nagios[&format!("nagios/{mode}/{unit}.command")];
            assert_eq!(*command, format!("{prefix} check"));
            let recorded = &nagios[&format!("nagios/{mode}/{unit}.recorded")];
            let from = if mode == "textfile" {
                format!("/var/lib/sysgauge/textfile/{unit}.prom")
            } else {
                let port = exec.rsplit(':').next().unwrap();
                format!("http://127.0.0.1:{port}/metrics")
            };
            assert_eq!(*recorded, format!("{prefix} check --from {from}"));
        }
    }
}

/// `/nix/store/<hash>-sysgauge-<version>/bin/` → `/usr/bin/`, and the store path of a rendered
/// TOML configuration → `/etc/sysgauge/<name>.toml`, so that the module's units compare with the
/// plain ones.
fn normalise_store_paths(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("/nix/store/") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "/nix/store/".len()..];
        let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        let path = &tail[..end];
        if let Some((_, bin)) = path.split_once("/bin/") {
            out.push_str(&format!("/usr/bin/{bin}"));
        } else if let Some(name) = path
            .split_once("-sysgauge-")
            .and_then(|(_, n)| n.strip_suffix(".toml"))
        {
            out.push_str(&format!("/etc/sysgauge/{name}.toml"));
        } else {
            out.push_str("/nix/store/");
            out.push_str(path);
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
