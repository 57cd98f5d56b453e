//! Fault tests of files and paths against the release binaries: a FIFO, `/dev/zero`, a
//! directory and a 200 MB file wherever the configuration names a file, names that differ only
//! in invalid UTF-8 bytes, and a dangling symbolic link under a glob.
//!
//! Each run is bounded (a hang fails the test instead of blocking it), checks the documented
//! exit status, the metric with its reason, the log line naming the file, that the good sources
//! are still reported, and the peak RSS (`VmHWM`) against the bound docs/config.md states.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    ffi::OsStr,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    Process, available, free_port, http_get, openssl, promtool_check_metrics, release_binary,
    sample, tempfile, wait_for,
};

/// The most a run may take: generous for a loaded 2-core machine, far below "forever".
const LIMIT: Duration = Duration::from_secs(60);
/// Peak RSS bound for these runs (docs/config.md, "Limits"): a 200 MB file is never read whole.
const PEAK_KIB: u64 = 64 * 1024;

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    peak_kib: u64,
}

/// Runs `cmd` to its end, at most [`LIMIT`], sampling its peak RSS while it runs.
fn run_bounded(cmd: &mut Command) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = sysgauge_testkit::procs::peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} hung: still running after {LIMIT:?}; stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ran {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
        peak_kib: peak,
    }
}

/// Starts `bin args... serve` on a free port and returns it with its first good scrape.
fn serve(bin: &Path, args: &[&OsStr], log: &Path) -> (Process, String, String) {
    let port = free_port();
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let mut server = Process::spawn(
        &format!("{name} serve"),
        Command::new(bin).args(args).args([
            "serve",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ]),
        log,
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = wait_for(&format!("{name} serve to answer"), LIMIT, || {
        server.assert_running();
        let (status, body) = http_get(&url, &["--max-time", "40"]);
        (status == 200).then_some(body)
    });
    (server, text, url)
}

/// Runs `bin args...` in `once` (whose exit code must be one of `once_codes`), `textfile` and
/// `serve` (scraped twice: a bad file holds nothing open), handing each output and its log to
/// `check`, and bounds the peak RSS of each run by [`PEAK_KIB`].
fn in_every_mode(bin: &Path, args: &[&OsStr], once_codes: &[i32], check: impl Fn(&str, &str)) {
    let name = bin.file_name().unwrap().to_string_lossy().into_owned();
    let ran = run_bounded(Command::new(bin).args(args).arg("once"));
    assert!(
        ran.code.is_some_and(|c| once_codes.contains(&c)),
        "once exited {:?}: {}",
        ran.code,
        ran.stderr
    );
    check(&ran.stdout, &ran.stderr);
    assert!(
        ran.peak_kib < PEAK_KIB,
        "once: peak RSS {} KiB",
        ran.peak_kib
    );

    let out = tempfile::tempdir().unwrap();
    let ran = run_bounded(
        Command::new(bin)
            .args(args)
            .args(["textfile", "--directory"])
            .arg(out.path()),
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let text = std::fs::read_to_string(out.path().join(format!("{name}.prom"))).unwrap();
    check(&text, &ran.stderr);
    assert!(
        ran.peak_kib < PEAK_KIB,
        "textfile: peak RSS {} KiB",
        ran.peak_kib
    );

    let (mut server, text, url) = serve(bin, args, &out.path().join("serve.log"));
    let (status, again) = http_get(&url, &["--max-time", "30"]);
    assert_eq!(status, 200);
    check(&text, &server.log());
    check(&again, &server.log());
    let peak = sysgauge_testkit::procs::peak_rss_kib(server.pid()).unwrap();
    assert!(peak < PEAK_KIB, "serve: peak RSS {peak} KiB");
    assert!(server.terminate(LIMIT).is_some_and(|s| s.success()));
}

/// The four bad files: a FIFO, a character device, a directory and a 200 MB (sparse) file.
struct BadFiles {
    _dir: tempfile::TempDir,
    fifo: PathBuf,
    directory: PathBuf,
    huge: PathBuf,
}

impl BadFiles {
    fn new() -> BadFiles {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let directory = dir.path().join("directory");
        std::fs::create_dir(&directory).unwrap();
        let huge = dir.path().join("huge");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(200_000_000)
            .unwrap();
        BadFiles {
            _dir: dir,
            fifo,
            directory,
            huge,
        }
    }

    /// Each bad file with the reason the exporters give it.
    fn each(&self) -> [(&Path, &'static str); 4] {
        [
            (&self.fifo, "not_regular_file"),
            (Path::new("/dev/zero"), "not_regular_file"),
            (&self.directory, "not_regular_file"),
            (&self.huge, "too_large"),
        ]
    }
}

/// A label value as the exposition format writes it.
fn esc(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The label value of a path: see docs/metrics.md, "Paths as label values".
fn label(path: &Path) -> String {
    esc(&sysgauge_common_path_label(path))
}

/// The rule of docs/metrics.md, written out independently of the exporters' code.
fn sysgauge_common_path_label(path: &Path) -> String {
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[test]
fn a_bad_config_file_is_a_configuration_error_for_every_exporter_in_every_mode() {
    let bad = BadFiles::new();
    let textfile_dir = tempfile::tempdir().unwrap();
    for name in [
        "sysgauge-certs",
        "sysgauge-backup",
        "sysgauge-restic",
        "sysgauge-gpu",
        "sysgauge-systemd",
    ] {
        let bin = release_binary(name).unwrap();
        for (path, _) in bad.each() {
            for mode in [
                vec!["once"],
                vec![
                    "textfile",
                    "--directory",
                    textfile_dir.path().to_str().unwrap(),
                ],
                vec!["serve", "--web.listen-address", "127.0.0.1:0"],
            ] {
                let ran = run_bounded(Command::new(&bin).arg("--config").arg(path).args(&mode));
                assert_eq!(
                    ran.code,
                    Some(2),
                    "{name} --config {path:?} {mode:?}: {}",
                    ran.stderr
                );
                assert!(
                    ran.stderr.contains(&*path.to_string_lossy()),
                    "{name}: the error must name {path:?}: {}",
                    ran.stderr
                );
                assert!(
                    ran.peak_kib < PEAK_KIB,
                    "{name} --config {path:?}: peak RSS {} KiB",
                    ran.peak_kib
                );
            }
        }
    }
    assert_eq!(std::fs::read_dir(textfile_dir.path()).unwrap().count(), 0);
}

/// A certs configuration with one good source and one source per bad file in every place a
/// path is accepted, plus two names that differ only in invalid bytes and a dangling link.
struct CertsCase {
    dir: tempfile::TempDir,
    _bad: BadFiles,
    config: PathBuf,
    good: PathBuf,
    /// (series that must be present with value 1, what the log must name)
    expected: Vec<(String, String)>,
}

fn certs_case() -> Option<CertsCase> {
    if !available("openssl", "openssl") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (good, _key) = openssl::certificate(
        d,
        "good",
        "good.test",
        "20200101000000Z",
        "20400101000000Z",
        None,
    );
    let bad = BadFiles::new();
    let mut config = String::new();
    let mut expected = Vec::new();
    let good_s = good.to_str().unwrap();
    config.push_str(&format!("[[files]]\npaths = [{good_s:?}]\n"));
    for (i, (path, reason)) in bad.each().into_iter().enumerate() {
        let p = path.to_str().unwrap();
        // The bad file as a source's path. A directory is expanded (here: empty), not refused.
        if path != bad.directory {
            config.push_str(&format!("[[files]]\npaths = [{p:?}]\n"));
            expected.push((
                format!(
                    "sysgauge_cert_file_errors{{path=\"{}\",reason=\"{reason}\"}}",
                    label(path)
                ),
                p.to_owned(),
            ));
        }
        // As the key and as the CA bundle of a source with a good certificate of its own.
        let cert = d.join(format!("leaf{i}.pem"));
        std::fs::copy(&good, &cert).unwrap();
        let c = cert.to_str().unwrap();
        config.push_str(&format!("[[files]]\npaths = [{c:?}]\nkey = {p:?}\n"));
        expected.push((
            format!(
                "sysgauge_cert_file_errors{{path=\"{}\",reason=\"bad_key\"}}",
                label(&cert)
            ),
            p.to_owned(),
        ));
        let cert = d.join(format!("chain{i}.pem"));
        std::fs::copy(&good, &cert).unwrap();
        let c = cert.to_str().unwrap();
        config.push_str(&format!("[[files]]\npaths = [{c:?}]\nca_bundle = {p:?}\n"));
        expected.push((
            format!(
                "sysgauge_cert_file_errors{{path=\"{}\",reason=\"bad_ca_bundle\"}}",
                label(path)
            ),
            p.to_owned(),
        ));
    }
    // Names that differ only in an invalid UTF-8 byte, and a dangling link, under one glob.
    let names = d.join("names");
    std::fs::create_dir(&names).unwrap();
    for byte in [0xffu8, 0xfe] {
        let name = names.join(OsStr::from_bytes(&[b'a', byte, b'.', b'p', b'e', b'm']));
        std::fs::copy(&good, &name).unwrap();
        expected.push((
            format!(
                "sysgauge_cert_file_certificates{{path=\"{}\"}}",
                label(&name)
            ),
            String::new(),
        ));
    }
    let dangling = names.join("dangling.pem");
    std::os::unix::fs::symlink(d.join("gone.pem"), &dangling).unwrap();
    expected.push((
        format!(
            "sysgauge_cert_file_errors{{path=\"{}\",reason=\"broken_symlink\"}}",
            label(&dangling)
        ),
        dangling.to_str().unwrap().to_owned(),
    ));
    config.push_str(&format!(
        "[[files]]\npaths = [{:?}]\n",
        format!("{}/*.pem", names.display())
    ));
    let config_path = d.join("certs.toml");
    std::fs::write(&config_path, config).unwrap();
    Some(CertsCase {
        dir,
        _bad: bad,
        config: config_path,
        good,
        expected,
    })
}

fn check_certs_output(case: &CertsCase, text: &str, log: &str) {
    for (series, named) in &case.expected {
        assert_eq!(sample(text, series), Some(1.0), "{series} in\n{text}");
        assert!(
            log.contains(named.as_str()),
            "the log must name {named}:\n{log}"
        );
    }
    let good = format!(
        "sysgauge_cert_file_certificates{{path=\"{}\"}}",
        label(&case.good)
    );
    assert_eq!(sample(text, &good), Some(1.0), "{good} in\n{text}");
    assert_eq!(
        sample(
            text,
            r#"sysgauge_cert_collector_success{collector="files"}"#
        ),
        Some(1.0)
    );
    // The good certificates of the sources whose key or CA bundle is bad are still reported.
    for i in 0..4 {
        let leaf = case.dir.path().join(format!("leaf{i}.pem"));
        let series = format!(
            "sysgauge_cert_file_certificates{{path=\"{}\"}}",
            label(&leaf)
        );
        assert_eq!(sample(text, &series), Some(1.0), "{series}");
    }
    // No duplicate series, by the reference parser.
    if available("promtool", "prometheus") {
        promtool_check_metrics(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    }
}

#[test]
fn certs_bad_files_cost_only_themselves_in_once_textfile_and_serve() {
    let Some(case) = certs_case() else { return };
    let bin = release_binary("sysgauge-certs").unwrap();
    in_every_mode(
        &bin,
        &[OsStr::new("--config"), case.config.as_os_str()],
        &[0],
        |text, log| check_certs_output(&case, text, log),
    );
}

#[test]
fn backup_artifacts_that_are_not_regular_files_are_errors_with_a_reason() {
    let bad = BadFiles::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A directory target holding a good dump, a FIFO, a dangling link and two names that
    // differ only in an invalid byte.
    let dumps = d.join("dumps");
    std::fs::create_dir(&dumps).unwrap();
    std::fs::write(
        dumps.join("good.sql"),
        "SET x;\n--\n-- PostgreSQL database dump complete\n--\n\n",
    )
    .unwrap();
    let fifo = dumps.join("pipe.sql");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let dangling = dumps.join("dangling.sql");
    std::os::unix::fs::symlink(d.join("gone.sql"), &dangling).unwrap();
    let twins: Vec<PathBuf> = [0xffu8, 0xfe]
        .iter()
        .map(|b| dumps.join(OsStr::from_bytes(&[b'x', *b, b'.', b'l', b'n', b'k'])))
        .collect();
    for twin in &twins {
        std::os::unix::fs::symlink(d.join("gone"), twin).unwrap();
    }
    let mut config = format!(
        "[[targets]]\nname = \"dumps\"\nkind = \"artifact\"\nmax_age = \"1h\"\npath = {:?}\nchecks = [\"pg_dump\"]\n",
        dumps.to_str().unwrap()
    );
    for (i, (path, _)) in bad.each().into_iter().enumerate() {
        config.push_str(&format!(
            "[[targets]]\nname = \"bad{i}\"\nkind = \"artifact\"\nmax_age = \"1h\"\npath = {:?}\nchecks = [\"gzip\"]\n",
            path.to_str().unwrap()
        ));
    }
    let config_path = d.join("backup.toml");
    std::fs::write(&config_path, config).unwrap();
    let bin = release_binary("sysgauge-backup").unwrap();

    let check = |text: &str, log: &str| {
        let s = |series: &str| sample(text, series);
        assert_eq!(
            s(r#"sysgauge_backup_artifact_files{target="dumps"}"#),
            Some(1.0)
        );
        assert_eq!(
            s(r#"sysgauge_backup_artifact_newest_complete{target="dumps"}"#),
            Some(1.0)
        );
        for (path, reason) in [(&fifo, "not_regular_file"), (&dangling, "broken_symlink")]
            .into_iter()
            .chain(twins.iter().map(|t| (t, "broken_symlink")))
        {
            let series = format!(
                "sysgauge_backup_artifact_file_errors{{target=\"dumps\",path=\"{}\",reason=\"{reason}\"}}",
                label(path)
            );
            assert_eq!(s(&series), Some(1.0), "{series} in\n{text}");
        }
        assert!(log.contains(dangling.to_str().unwrap()), "{log}");
        for (i, (path, _)) in bad.each().into_iter().enumerate() {
            let t = format!("bad{i}");
            // A directory names its (no) files; anything else is refused by type or size.
            if path == bad.directory {
                assert_eq!(
                    s(&format!("sysgauge_backup_artifact_files{{target=\"{t}\"}}")),
                    Some(0.0)
                );
                continue;
            }
            let reason = if path == bad.huge {
                // A 200 MB file is a regular file: it is streamed, found not gzip, and
                // reported incomplete without being held in memory.
                assert_eq!(
                    s(&format!(
                        "sysgauge_backup_artifact_newest_complete{{target=\"{t}\"}}"
                    )),
                    Some(0.0),
                    "{text}"
                );
                continue;
            } else {
                "not_regular_file"
            };
            let series = format!(
                "sysgauge_backup_artifact_file_errors{{target=\"{t}\",path=\"{}\",reason=\"{reason}\"}}",
                label(path)
            );
            assert_eq!(s(&series), Some(1.0), "{series} in\n{text}");
            assert!(log.contains(path.to_str().unwrap()), "{log}");
        }
        if available("promtool", "prometheus") {
            promtool_check_metrics(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    };

    in_every_mode(
        &bin,
        &[OsStr::new("--config"), config_path.as_os_str()],
        &[0],
        check,
    );
}

#[test]
fn restic_password_files_that_are_not_regular_files_are_refused_before_restic_runs() {
    if !available("restic", "restic") {
        return;
    }
    let bad = BadFiles::new();
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("[collector]\ntimeout = \"30s\"\n");
    for (i, (path, _)) in bad.each().into_iter().enumerate() {
        config.push_str(&format!(
            "[[repositories]]\nname = \"r{i}\"\nrepository = {:?}\npassword_file = {:?}\n",
            dir.path().join(format!("repo{i}")).to_str().unwrap(),
            path.to_str().unwrap()
        ));
    }
    let config_path = dir.path().join("restic.toml");
    std::fs::write(&config_path, config).unwrap();
    let bin = release_binary("sysgauge-restic").unwrap();
    let check = |text: &str, log: &str| {
        for (i, (path, _)) in bad.each().into_iter().enumerate() {
            let series = format!(
                "sysgauge_restic_repository_error{{repository=\"r{i}\",reason=\"password_unavailable\"}}"
            );
            assert_eq!(sample(text, &series), Some(1.0), "{series} in\n{text}");
            assert!(log.contains(path.to_str().unwrap()), "{log}");
        }
    };
    // once exits 0: a repository that cannot be read is a metric, not a failed collector.
    in_every_mode(
        &bin,
        &[OsStr::new("--config"), config_path.as_os_str()],
        &[0, 1],
        check,
    );
}

#[test]
fn gpu_library_that_is_not_a_regular_file_is_an_error_not_a_dlopen_hang() {
    let bad = BadFiles::new();
    let bin = release_binary("sysgauge-gpu").unwrap();
    let out = tempfile::tempdir().unwrap();
    for (path, _) in bad.each() {
        for mode in [
            vec!["once"],
            vec!["textfile", "--directory", out.path().to_str().unwrap()],
        ] {
            let ran = run_bounded(
                Command::new(&bin)
                    .arg("--nvml.library")
                    .arg(path)
                    .args(&mode),
            );
            let expected = if mode[0] == "once" { 1 } else { 0 };
            assert_eq!(
                ran.code,
                Some(expected),
                "--nvml.library {path:?} {mode:?}: {}",
                ran.stderr
            );
            assert!(
                ran.stderr.contains(&*path.to_string_lossy()),
                "the log must name {path:?}: {}",
                ran.stderr
            );
            let text = if mode[0] == "once" {
                ran.stdout.clone()
            } else {
                std::fs::read_to_string(out.path().join("sysgauge-gpu.prom")).unwrap()
            };
            assert_eq!(
                sample(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
                Some(0.0),
                "{text}"
            );
            assert!(ran.peak_kib < PEAK_KIB, "peak RSS {} KiB", ran.peak_kib);
        }
    }
    // serve: the collection fails, the server answers and stays up.
    let (mut server, text, _) = serve(
        &bin,
        &[OsStr::new("--nvml.library"), bad.fifo.as_os_str()],
        &out.path().join("serve.log"),
    );
    assert_eq!(
        sample(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        Some(0.0),
        "{text}"
    );
    assert!(server.log().contains(bad.fifo.to_str().unwrap()));
    assert!(server.terminate(LIMIT).is_some_and(|s| s.success()));
}
