//! End-to-end fault tests of the child processes the release binaries run: a `restic` or `zfs`
//! that forks a child holding stdout open and hangs, one that prints endlessly, one that a signal
//! kills (after forking a child that keeps stdout open), each in `once`, `textfile` and `serve`.
//!
//! Each run asserts the documented exit code, the metric with its reason, a log line naming the
//! repository or target and its datasets, that nothing the fake started is left (its process
//! groups and anything under its directory, from `/proc`), that the run ended near its deadline,
//! and a bounded peak RSS (docs/config.md, "Limits"). `zfs` cannot run here: it is a fake, as is
//! every misbehaving restic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    Process, fakes, free_port, http_get,
    procs::{self, Proc},
    release_binary, sample, tempfile, wait_for,
};

/// The collector timeout of every run; sub-tasks get 90% of it (2.7s).
const TIMEOUT: &str = "3s";

/// A run that hangs ends within this of its start: the deadline plus time for a loaded CI.
const MAX_RUN: Duration = Duration::from_secs(15);

/// The peak RSS bound under endless output, stated in docs/config.md: 32 MiB of stdout plus the
/// exporter itself.
const MAX_RSS_KIB: u64 = 64 * 1024;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Forks a child that keeps stdout open and sleeps, and waits for it.
    ForkHangs,
    /// Prints `y` lines without end.
    Endless,
    /// Forks a child that keeps stdout open, then is killed by SIGKILL.
    Signal,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Once,
    Textfile,
    Serve,
}

/// The fake's directory, with `sleeper` (loops on `sleep 1`, so that its own command line names
/// the directory) and the fake program `name`; every process it starts records its group in
/// `groups`.
fn fake(dir: &Path, name: &str, fault: Fault) -> PathBuf {
    let d = dir.display();
    fakes::script(&dir.join("sleeper"), "while :; do sleep 1; done\n");
    let body = match fault {
        Fault::ForkHangs => format!("echo partial\n\"{d}/sleeper\" &\nwait\n"),
        Fault::Endless => "yes\n".to_owned(),
        Fault::Signal => format!("\"{d}/sleeper\" &\nkill -KILL $$\n"),
    };
    let path = dir.join(name);
    fakes::script(
        &path,
        &format!("echo $(cut -d' ' -f5 /proc/$$/stat) >> \"{d}/groups\"\n{body}"),
    );
    path
}

/// What one run left: the metrics, the log, how long it took and its peak RSS in KiB.
struct Ran {
    metrics: String,
    log: String,
    elapsed: Duration,
    peak_kib: u64,
}

/// Runs `binary args` in `mode` and checks the exit code and that nothing is left behind.
fn run(binary: &Path, args: &[&str], mode: Mode, dir: &Path) -> Option<Ran> {
    let started = Instant::now();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--collector.timeout", TIMEOUT]);
    let ran = match mode {
        Mode::Once | Mode::Textfile => {
            let out_dir = dir.join("out");
            fs::create_dir_all(&out_dir).unwrap();
            match mode {
                Mode::Once => all.push("once"),
                _ => all.extend(["textfile", "--directory", out_dir.to_str().unwrap()]),
            }
            let (out, peak_kib) = procs::run_measured(binary, &all)?;
            let elapsed = started.elapsed();
            let log = String::from_utf8_lossy(&out.stderr).into_owned();
            // The documented exit code: 0, a repository or target that cannot be read is a
            // metric, not a failed collection.
            assert_eq!(out.status.code(), Some(0), "{mode:?}: {log}");
            let metrics = match mode {
                Mode::Once => String::from_utf8_lossy(&out.stdout).into_owned(),
                _ => {
                    let name = binary.file_name().unwrap().to_str().unwrap();
                    fs::read_to_string(out_dir.join(format!("{name}.prom"))).unwrap()
                }
            };
            Ran {
                metrics,
                log,
                elapsed,
                peak_kib,
            }
        }
        Mode::Serve => {
            let port = free_port();
            let address = format!("127.0.0.1:{port}");
            all.extend(["serve", "--web.listen-address", &address]);
            let mut server = Process::spawn(
                "exporter",
                std::process::Command::new(binary).args(&all),
                &dir.join("serve.log"),
            );
            let url = format!("http://{address}/metrics");
            let metrics = wait_for("the exporter to answer", MAX_RUN, || {
                server.assert_running();
                let (code, body) = http_get(&url, &[]);
                (code == 200).then_some(body)
            });
            let elapsed = started.elapsed();
            // The exporter reaps what it started: no child of it is left, not even a zombie.
            let pid = server.pid();
            wait_for("the exporter's children to be gone", MAX_RUN, || {
                procs::children(pid).is_empty().then_some(())
            });
            let peak_kib = procs::peak_rss_kib(pid).unwrap();
            // It still answers after the faulty collection.
            let (code, _) = http_get(&url, &[]);
            assert_eq!(code, 200);
            assert!(server.terminate(MAX_RUN).is_some(), "serve did not stop");
            Ran {
                metrics,
                log: server.log(),
                elapsed,
                peak_kib,
            }
        }
    };
    let groups: Vec<u32> = fs::read_to_string(dir.join("groups"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    assert!(!groups.is_empty(), "the fake never ran");
    let left = wait_for("what the fake started to be gone", MAX_RUN, || {
        let left: Vec<Proc> = procs::leftovers(&groups, dir);
        left.is_empty().then_some(left)
    });
    assert!(left.is_empty());
    assert!(ran.elapsed < MAX_RUN, "{mode:?} took {:?}", ran.elapsed);
    Some(ran)
}

/// Every fault in every mode, for restic: `(fault, reason)`.
const RESTIC: [(Fault, &str); 3] = [
    (Fault::ForkHangs, "timeout"),
    (Fault::Endless, "output_too_large"),
    (Fault::Signal, "interrupted"),
];

fn restic(fault: Fault, reason: &str, mode: Mode) {
    let binary = release_binary("sysgauge-restic").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fake = fake(dir.path(), "restic", fault);
    let repo = format!("/srv/faulty-{}", fault_name(fault));
    let Some(ran) = run(
        &binary,
        &[
            "--restic",
            fake.to_str().unwrap(),
            "--repository",
            &repo,
            "--password-file",
            "/nonexistent",
        ],
        mode,
        dir.path(),
    ) else {
        return;
    };
    let at = format!("{mode:?} {fault:?}: {}\n{}", ran.log, ran.metrics);
    assert_eq!(
        sample(
            &ran.metrics,
            &format!(
                "sysgauge_restic_repository_error{{repository=\"{repo}\",reason=\"{reason}\"}}"
            )
        ),
        Some(1.0),
        "{at}"
    );
    assert_eq!(
        sample(
            &ran.metrics,
            &format!("sysgauge_restic_repository_up{{repository=\"{repo}\"}}")
        ),
        Some(0.0),
        "{at}"
    );
    assert!(
        ran.log
            .lines()
            .any(|l| l.contains(&format!("repository={repo}"))
                && l.contains(&format!("reason={reason}"))),
        "{at}"
    );
    if matches!(fault, Fault::Endless) {
        assert!(
            ran.log.contains("output over 33554432 bytes on stdout"),
            "{at}"
        );
    }
    eprintln!(
        "restic {fault:?} {mode:?}: peak RSS {} KiB, {:?}",
        ran.peak_kib, ran.elapsed
    );
    assert!(
        ran.peak_kib < MAX_RSS_KIB,
        "peak RSS {} KiB; {at}",
        ran.peak_kib
    );
}

/// Every fault in every mode, for zfs: `(fault, reason)`.
const ZFS: [(Fault, &str); 3] = [
    (Fault::ForkHangs, "deadline"),
    (Fault::Endless, "output_too_large"),
    (Fault::Signal, "signal"),
];

fn zfs(fault: Fault, reason: &str, mode: Mode) {
    let binary = release_binary("sysgauge-backup").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fake = fake(dir.path(), "zfs", fault);
    let config = dir.path().join("backup.toml");
    fs::write(
        &config,
        format!(
            "zfs_command = \"{}\"\n\n[[targets]]\nname = \"db\"\nkind = \"zfs\"\nmax_age = \"1d\"\ndatasets = [\"tank/db\"]\n",
            fake.display()
        ),
    )
    .unwrap();
    let Some(ran) = run(
        &binary,
        &["--config", config.to_str().unwrap()],
        mode,
        dir.path(),
    ) else {
        return;
    };
    let at = format!("{mode:?} {fault:?}: {}\n{}", ran.log, ran.metrics);
    assert_eq!(
        sample(
            &ran.metrics,
            &format!("sysgauge_backup_target_error{{target=\"db\",reason=\"{reason}\"}}")
        ),
        Some(1.0),
        "{at}"
    );
    assert_eq!(
        sample(&ran.metrics, "sysgauge_backup_target_up{target=\"db\"}"),
        Some(0.0),
        "{at}"
    );
    assert!(
        ran.log.lines().any(|l| l.contains("target=db")
            && l.contains("source=tank/db")
            && l.contains(&format!("reason={reason}"))),
        "{at}"
    );
    if matches!(fault, Fault::Endless) {
        assert!(
            ran.log.contains("output over 33554432 bytes on stdout"),
            "{at}"
        );
    }
    eprintln!(
        "zfs {fault:?} {mode:?}: peak RSS {} KiB, {:?}",
        ran.peak_kib, ran.elapsed
    );
    assert!(
        ran.peak_kib < MAX_RSS_KIB,
        "peak RSS {} KiB; {at}",
        ran.peak_kib
    );
}

fn fault_name(fault: Fault) -> &'static str {
    match fault {
        Fault::ForkHangs => "fork",
        Fault::Endless => "endless",
        Fault::Signal => "signal",
    }
}

macro_rules! fault_tests {
    ($($name:ident: $exporter:ident, $table:ident[$i:literal], $mode:ident;)*) => {$(
        #[test]
        fn $name() {
            let (fault, reason) = $table[$i];
            $exporter(fault, reason, Mode::$mode);
        }
    )*};
}

fault_tests! {
    restic_fork_holding_stdout_once: restic, RESTIC[0], Once;
    restic_fork_holding_stdout_textfile: restic, RESTIC[0], Textfile;
    restic_fork_holding_stdout_serve: restic, RESTIC[0], Serve;
    restic_endless_output_once: restic, RESTIC[1], Once;
    restic_endless_output_textfile: restic, RESTIC[1], Textfile;
    restic_endless_output_serve: restic, RESTIC[1], Serve;
    restic_killed_by_a_signal_once: restic, RESTIC[2], Once;
    restic_killed_by_a_signal_textfile: restic, RESTIC[2], Textfile;
    restic_killed_by_a_signal_serve: restic, RESTIC[2], Serve;
    zfs_fork_holding_stdout_once: zfs, ZFS[0], Once;
    zfs_fork_holding_stdout_textfile: zfs, ZFS[0], Textfile;
    zfs_fork_holding_stdout_serve: zfs, ZFS[0], Serve;
    zfs_endless_output_once: zfs, ZFS[1], Once;
    zfs_endless_output_textfile: zfs, ZFS[1], Textfile;
    zfs_endless_output_serve: zfs, ZFS[1], Serve;
    zfs_killed_by_a_signal_once: zfs, ZFS[2], Once;
    zfs_killed_by_a_signal_textfile: zfs, ZFS[2], Textfile;
    zfs_killed_by_a_signal_serve: zfs, ZFS[2], Serve;
}
