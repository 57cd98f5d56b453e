//! Every shipped unit of every exporter under the real systemd 252 of the testkit, in one boot:
//! the sysusers and tmpfiles files are applied, each textfile timer fires and leaves a 0644 file
//! that a real node_exporter reads without error and that holds the exporter's
//! `sysgauge_<domain>_collector_success 1` for a meaningful configuration, each serve unit
//! (`Type=notify`, its watchdog fed) and each socket-activated unit answers scrapes, and the
//! journal shows no sandbox failure.
//!
//! The unit files are installed byte for byte as shipped. What differs is in drop-ins, and only
//! what this container or the lack of installed binaries forces:
//! - the workspace's release build (as users get it) is copied to `/usr/bin/sysgauge-<name>` in
//!   the container's overlay,
//!   where the shipped ExecStart expects it, and `exec.conf` adds the test's arguments (for the
//!   GPU, `--nvml.library` naming the fake libnvidia-ml);
//! - `private-users.conf` sets `PrivateUsers=no`: this container cannot nest user namespaces
//!   (the units would exit 217/USER); on a normal host `PrivateUsers=yes` works;
//! - test settings: the timer fires every 2 seconds, the watchdog is 2 seconds, the fake NVML's
//!   configuration file, and the group that may read the restic repository.

use std::{
    collections::BTreeMap,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::PathBuf,
    time::Duration,
};

use sysgauge_testkit::{
    NodeExporter, fakes,
    restic::Repo,
    sample,
    systemd::SystemdBoot,
    units::{Mode, Units},
    wait_for,
};

/// The exposition lines of `family` in `text` (samples only).
fn samples_of<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .collect()
}

/// The value of `series` in `text`; panics naming it when it is absent.
fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// Journal lines that show the sandbox (or anything else) breaking an exporter.
const BAD: &[&str] = &[
    "Failed",
    "failed",
    "status=2",
    "217/USER",
    "226/NAMESPACE",
    "Permission denied",
    "permission denied",
    "Operation not permitted",
    "Read-only file system",
    "read-only file system",
    "SIGSYS",
    "watchdog",
    "error",
    "level=warn",
    "WARN",
    "cannot",
    "Cannot",
    "denied",
];

/// One exporter under test: where its units get their settings, and what its output must hold.
struct Case {
    /// The exporter's name: units `sysgauge-<name>.*`.
    name: &'static str,
    /// The metric domain: `sysgauge_<domain>_collector_success`.
    domain: &'static str,
    /// Arguments put before the subcommand in ExecStart (by the `exec.conf` drop-in).
    args: Vec<String>,
    /// More `[Service]` lines for the service in every mode, as a drop-in (`test.conf`).
    service: String,
    /// Checks one exposition of this exporter (the textfile as node_exporter serves it, or a
    /// scrape of the serve unit); panics with what is wrong.
    check: Box<dyn Fn(&str)>,
}

/// The booted systemd with what a package would install besides the units.
struct Host {
    boot: SystemdBoot,
    units: Units,
    rendered: BTreeMap<String, String>,
}

impl Host {
    fn start() -> Option<Host> {
        // journald too: the sandbox's failures and the exporters' logs are read from the journal.
        let boot = SystemdBoot::start_with(
            &[],
            &["systemd-journald.socket", "systemd-journald.service"],
        )?;
        eprintln!(
            "\n*** NOTE: this container cannot nest user namespaces: the shipped units run here with a drop-in PrivateUsers=no (they would exit 217/USER); on a normal host PrivateUsers=yes works ***\n"
        );
        let units = Units::load();
        let rendered = units.render();
        let host = Host {
            boot,
            units,
            rendered,
        };
        // The harness boots systemd with --log-target=console; its messages about units (start,
        // finish, failures with their exit status) are wanted in the journal.
        host.ok(&["systemd-analyze", "set-log-target", "journal"]);
        host.put(
            "/etc/sysusers.d/sysgauge.conf",
            &host.rendered["sysusers.d/sysgauge.conf"],
        );
        host.put(
            "/etc/tmpfiles.d/sysgauge.conf",
            &host.rendered["tmpfiles.d/sysgauge.conf"],
        );
        host.ok(&["systemd-sysusers", "/etc/sysusers.d/sysgauge.conf"]);
        host.ok(&[
            "systemd-tmpfiles",
            "--create",
            "/etc/tmpfiles.d/sysgauge.conf",
        ]);
        Some(host)
    }

    /// Writes a file inside the container.
    fn put(&self, path: &str, text: &str) {
        let p = self.boot.root_path(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Runs a command inside; panics when it fails. Returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.boot.exec(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn gid(&self, group: &str) -> u32 {
        self.ok(&["getent", "group", group])
            .split(':')
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    }

    fn uid(&self, user: &str) -> u32 {
        self.ok(&["id", "-u", user]).trim().parse().unwrap()
    }

    /// Installs the shipped units of `mode` for every case, byte for byte, with the drop-ins
    /// described in the module documentation, and reloads systemd once.
    fn install(&self, cases: &[Case], mode: Mode, extra: &[(String, String)]) {
        let mut files = Vec::new();
        for case in cases {
            let unit = Units::unit_name(case.name);
            for suffix in ["service", "timer", "socket"] {
                if let Some(text) = self
                    .rendered
                    .get(&format!("{}/{unit}.{suffix}", mode.dir()))
                {
                    files.push((format!("{unit}.{suffix}"), text.clone()));
                }
            }
            // The workspace's release build goes where the shipped ExecStart expects it, inside the
            // container's overlay: run from the checkout, it would be invisible to a service
            // with PrivateTmp= whenever the checkout lives under /tmp or /var/tmp (as a CI
            // clone may), and ProtectHome= hides /home and /root.
            let build = sysgauge_testkit::release_binary(&unit)
                .unwrap_or_else(|| panic!("{unit} is not in the workspace"));
            let binary = PathBuf::from(format!("/usr/bin/{unit}"));
            std::fs::copy(&build, self.boot.root_path(&binary)).unwrap();
            let shipped = &self.units.service(case.name, mode)["ExecStart"][0];
            let rest = shipped
                .strip_prefix(&format!("/usr/bin/{unit} "))
                .unwrap_or_else(|| panic!("unexpected ExecStart {shipped}"));
            let args: String = case.args.iter().map(|a| format!("{a} ")).collect();
            let dropins = format!("/etc/systemd/system/{unit}.service.d");
            self.put(
                &format!("{dropins}/exec.conf"),
                &format!(
                    "# The test's arguments before the shipped ones.\n[Service]\nExecStart=\nExecStart={} {args}{rest}\n",
                    binary.display()
                ),
            );
            self.put(
                &format!("{dropins}/private-users.conf"),
                "# This container cannot nest user namespaces.\n[Service]\nPrivateUsers=no\n",
            );
            self.put(
                &format!("{dropins}/test.conf"),
                &format!("[Service]\n{}", case.service),
            );
        }
        for (path, text) in extra {
            self.put(path, text);
        }
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        self.boot.install(&refs);
    }

    /// The journal of `sysgauge-<name>.service`: systemd's messages about it and the exporter's
    /// log records, one line each: the priority, the message and the record's own fields
    /// (`ERROR=...`), so that a failure's details are seen.
    fn journal(&self, name: &str) -> Vec<(u8, String)> {
        let unit = format!("sysgauge-{name}.service");
        let out = self
            .boot
            .exec(&["journalctl", "--no-pager", "-o", "json", "-u", &unit]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let entry: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_str(l).unwrap();
                let field = |k: &str| entry.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                let mut text = field("MESSAGE").to_owned();
                for (k, v) in &entry {
                    let systemd = k.starts_with('_')
                        || k.starts_with("CODE_")
                        || k.starts_with("SYSLOG_")
                        || k.starts_with("JOB_")
                        || [
                            "MESSAGE",
                            "PRIORITY",
                            "TARGET",
                            "MESSAGE_ID",
                            "UNIT",
                            "INVOCATION_ID",
                            "UNIT_RESULT",
                            "EXIT_CODE",
                            "EXIT_STATUS",
                            "CPU_USAGE_NSEC",
                        ]
                        .contains(&k.as_str());
                    if !systemd && let Some(v) = v.as_str() {
                        text.push_str(&format!(" {k}={v:?}"));
                    }
                }
                (field("PRIORITY").parse().unwrap_or(7), text)
            })
            .collect()
    }

    fn journal_text(&self, name: &str) -> String {
        self.journal(name)
            .iter()
            .map(|(p, t)| format!("<{p}> {t}\n"))
            .collect()
    }

    /// Runs the case's checks on `text` (`what` says where it came from); when they fail,
    /// prints the exporter's journal first.
    fn check(&self, case: &Case, text: &str, what: &str) {
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            collectors_succeeded(case, text);
            (case.check)(text);
        }));
        if let Err(e) = checked {
            eprintln!(
                "{what}: sysgauge-{} is not as expected; its journal:\n{}",
                case.name,
                self.journal_text(case.name)
            );
            std::panic::resume_unwind(e);
        }
    }

    /// The journal of `sysgauge-<name>.service` (systemd's messages and the exporter's log) has
    /// no entry at priority warning or above and no line that shows a failure, except lines
    /// containing one of `allowed`.
    fn journal_is_clean(&self, name: &str, what: &str, allowed: &[&str]) {
        let unit = format!("sysgauge-{name}.service");
        let journal = self.journal(name);
        let text = self.journal_text(name);
        for (priority, line) in &journal {
            if allowed.iter().any(|a| line.contains(a)) {
                continue;
            }
            assert!(
                *priority > 4,
                "{what}: the journal of {unit} has an entry at priority {priority}: {line}\n{text}"
            );
            if let Some(bad) = BAD.iter().find(|b| line.contains(*b)) {
                panic!("{what}: the journal of {unit} says {bad:?}:\n{text}");
            }
        }
        // Not vacuous: systemd reported on the unit.
        assert!(
            text.contains(&format!("Finished sysgauge-{name}"))
                || text.contains(&format!("Started sysgauge-{name}")),
            "{what}: nothing about {unit} in the journal:\n{text}"
        );
        eprintln!("{what}: the journal of {unit}:\n{text}");
    }

    /// Scrapes `sysgauge-<name>` on its port from inside the container.
    fn scrape(&self, name: &str) -> String {
        let url = format!("http://127.0.0.1:{}/metrics", self.units.port(name));
        self.ok(&["curl", "-sSf", "--max-time", "20", &url])
    }
}

/// Every exporter's collectors succeeded, and there is at least one of them.
fn collectors_succeeded(case: &Case, text: &str) {
    let family = format!("sysgauge_{}_collector_success", case.domain);
    let samples = samples_of(text, &family);
    assert!(!samples.is_empty(), "{}: no {family}:\n{text}", case.name);
    assert!(
        samples.iter().all(|l| l.ends_with(" 1")),
        "{}: {samples:?}",
        case.name
    );
}

fn certs(host: &Host) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let (pem, _) = sysgauge_testkit::openssl::certificate(
        dir.path(),
        "web",
        "web.example",
        "20250101000000Z",
        "20991231235959Z",
        None,
    );
    host.put(
        "/etc/sysgauge/certs/web.pem",
        &std::fs::read_to_string(&pem).unwrap(),
    );
    host.put(
        "/etc/sysgauge/certs.toml",
        "[[files]]\npaths = [\"/etc/sysgauge/certs/*.pem\"]\n",
    );
    let not_after = sysgauge_testkit::openssl::not_after(&pem);
    Case {
        name: "certs",
        domain: "cert",
        args: Vec::new(),
        service: String::new(),
        check: Box::new(move |text| {
            let expiry = samples_of(text, "sysgauge_cert_not_after_timestamp_seconds");
            assert_eq!(expiry.len(), 1, "{text}");
            let v: f64 = expiry[0].rsplit_once(' ').unwrap().1.parse().unwrap();
            assert_eq!(v, not_after as f64, "{expiry:?}");
        }),
    }
}

/// sysgauge-systemd reads the units over the system bus from inside its sandbox, as the static
/// user `sysgauge-systemd`.
fn systemd(host: &Host) -> Case {
    host.put(
        "/etc/sysgauge/systemd.toml",
        "critical_units = [\"dbus.service\", \"absent-critical.service\"]\n",
    );
    Case {
        name: "systemd",
        domain: "systemd",
        args: Vec::new(),
        service: String::new(),
        check: Box::new(|text| {
            assert_eq!(
                value(
                    text,
                    r#"sysgauge_systemd_unit_state{name="dbus.service",type="service",state="active"}"#
                ),
                1.0
            );
            assert_eq!(
                value(
                    text,
                    r#"sysgauge_systemd_unit_state{name="sysgauge-test.target",type="target",state="active"}"#
                ),
                1.0
            );
            for unit in ["dbus.service", "absent-critical.service"] {
                assert_eq!(
                    value(
                        text,
                        &format!(r#"sysgauge_systemd_unit_critical{{name="{unit}"}}"#)
                    ),
                    1.0
                );
            }
            assert!(
                samples_of(text, "sysgauge_systemd_manager_info")
                    .iter()
                    .any(|l| l.contains("version=\"252")),
                "{text}"
            );
        }),
    }
}

const PG_DUMPALL: &str = "--\n-- PostgreSQL database cluster dump\n--\n\nSET default_transaction_read_only = off;\n\n--\n-- PostgreSQL database cluster dump complete\n--\n\n";

/// sysgauge-backup, as the static user `sysgauge-backup`: a job target (a timer's service, over
/// the system bus, remembered in its StateDirectory) and artifact targets under /var/backup and
/// /home (ProtectHome=read-only).
fn backup(host: &Host) -> Case {
    host.put("/var/backup/postgresql/all-2025-01-01.sql", PG_DUMPALL);
    host.put("/home/backup/photos/.keep", "");
    host.ok(&[
        "tar",
        "-C",
        "/etc/sysgauge",
        "-cf",
        "/home/backup/photos/photos-2025-01-01.tar",
        "certs.toml",
    ]);
    host.ok(&["chmod", "-R", "a+rX", "/var/backup", "/home/backup"]);
    host.put(
        "/etc/systemd/system/backup-nightly.service",
        "[Service]\nType=oneshot\nExecStart=/bin/true\n",
    );
    host.put(
        "/etc/systemd/system/backup-nightly.timer",
        "[Timer]\nOnCalendar=daily\n",
    );
    host.boot.systemctl(&["daemon-reload"]);
    host.boot.systemctl(&["start", "backup-nightly.timer"]);
    host.boot.systemctl(&["start", "backup-nightly.service"]);
    assert_eq!(
        host.boot.property("backup-nightly.service", "Result"),
        "success"
    );
    // The job's end, in microseconds, over the bus.
    let out = host.ok(&[
        "busctl",
        "get-property",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1/unit/backup_2dnightly_2eservice",
        "org.freedesktop.systemd1.Service",
        "ExecMainExitTimestamp",
    ]);
    let ended: f64 = out
        .trim()
        .strip_prefix("t ")
        .unwrap()
        .parse::<f64>()
        .unwrap()
        / 1e6;
    assert!(ended > 1.7e9, "{out}");
    host.put(
        "/etc/sysgauge/backup.toml",
        r#"[[targets]]
name = "postgresql"
kind = "artifact"
max_age = "26h"
path = "/var/backup/postgresql/all-*.sql"
checks = ["pg_dumpall"]

[[targets]]
name = "photos"
kind = "artifact"
max_age = "8d"
path = "/home/backup/photos/*.tar"
checks = ["tar"]

[[targets]]
name = "nightly"
kind = "job"
max_age = "26h"
unit = "backup-nightly.timer"
"#,
    );
    let mtime = |path: &str| {
        std::fs::metadata(host.boot.root_path(path))
            .unwrap()
            .mtime() as f64
    };
    let sql = mtime("/var/backup/postgresql/all-2025-01-01.sql");
    let tar = mtime("/home/backup/photos/photos-2025-01-01.tar");
    Case {
        name: "backup",
        domain: "backup",
        args: Vec::new(),
        service: String::new(),
        check: Box::new(move |text| {
            for target in ["postgresql", "photos", "nightly"] {
                assert_eq!(
                    value(
                        text,
                        &format!(r#"sysgauge_backup_target_up{{target="{target}"}}"#)
                    ),
                    1.0,
                    "{target}"
                );
            }
            for (target, mtime) in [("postgresql", sql), ("photos", tar)] {
                assert_eq!(
                    value(
                        text,
                        &format!(r#"sysgauge_backup_artifact_files{{target="{target}"}}"#)
                    ),
                    1.0
                );
                assert_eq!(
                    value(
                        text,
                        &format!(
                            r#"sysgauge_backup_artifact_newest_complete{{target="{target}"}}"#
                        )
                    ),
                    1.0
                );
                assert_eq!(
                    value(
                        text,
                        &format!(
                            r#"sysgauge_backup_last_success_timestamp_seconds{{target="{target}"}}"#
                        )
                    )
                    .floor(),
                    mtime
                );
            }
            assert_eq!(
                value(
                    text,
                    r#"sysgauge_backup_job_result{target="nightly",result="success"}"#
                ),
                1.0
            );
            assert_eq!(
                value(text, r#"sysgauge_backup_job_exit_status{target="nightly"}"#),
                0.0
            );
            let last = value(
                text,
                r#"sysgauge_backup_last_success_timestamp_seconds{target="nightly"}"#,
            );
            assert!((last - ended).abs() < 1e-3, "{last} vs {ended}");
        }),
    }
}

/// sysgauge-restic reads a real local repository, its password passed with LoadCredential=
/// as the shipped unit does, its cache in the unit's CacheDirectory=.
fn restic(host: &Host) -> (Case, String) {
    // A real repository with two snapshots, made by the testkit's restic, then copied to where
    // a host keeps one (the test's temporary directories are under /tmp, which the sandbox
    // hides).
    let made = Repo::init();
    let data = made.data("data");
    for time in ["2025-01-01 03:00:00", "2025-01-02 03:00:00"] {
        made.backup("web", &["nightly"], &[&data], time, "UTC");
    }
    let config: serde_json::Value =
        serde_json::from_slice(&made.restic(&["cat", "config"], None).stdout).unwrap();
    let id = config["id"].as_str().unwrap().to_owned();
    let repo = "/srv/restic/repo";
    std::fs::create_dir_all(host.boot.root_path("/srv/restic")).unwrap();
    let out = sysgauge_testkit::run(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(made.path())
            .arg(host.boot.root_path(repo)),
    );
    assert!(out.status.success(), "cp: {out:?}");
    // The password is what the shipped unit's LoadCredential= names; root-only, as on a host.
    host.put(
        "/etc/sysgauge/restic-password",
        &std::fs::read_to_string(made.password_file()).unwrap(),
    );
    host.ok(&["chmod", "0600", "/etc/sysgauge/restic-password"]);
    // restic makes its files readable by the repository's group when the config file is
    // (restic >= 0.14); the exporter gets that group with SupplementaryGroups=.
    host.put(
        "/etc/sysusers.d/restic-readers.conf",
        "g restic-readers -\n",
    );
    host.ok(&["systemd-sysusers", "/etc/sysusers.d/restic-readers.conf"]);
    host.ok(&["chgrp", "-R", "restic-readers", repo]);
    host.ok(&["chmod", "-R", "g+rX", repo]);
    host.ok(&["chmod", "o+x", "/srv/restic"]);
    host.put(
        "/etc/sysgauge/restic.toml",
        &format!(
            "[[repositories]]\nname = \"local\"\nrepository = \"{repo}\"\npassword_credential = \"restic-password\"\n"
        ),
    );
    let case = Case {
        name: "restic",
        domain: "restic",
        args: Vec::new(),
        service: "# The group that may read the repository.\nSupplementaryGroups=restic-readers\n"
            .into(),
        check: Box::new(|text| {
            assert_eq!(
                value(text, r#"sysgauge_restic_repository_up{repository="local"}"#),
                1.0
            );
            assert_eq!(
                value(text, r#"sysgauge_restic_snapshots{repository="local"}"#),
                2.0
            );
            assert_eq!(
                value(text, r#"sysgauge_restic_locks{repository="local"}"#),
                0.0
            );
            let latest = samples_of(
                text,
                "sysgauge_restic_group_latest_snapshot_timestamp_seconds",
            );
            assert_eq!(latest.len(), 1, "one group (host web, tag nightly): {text}");
            let t: f64 = latest[0].rsplit_once(' ').unwrap().1.parse().unwrap();
            assert_eq!(t, 1_735_786_800.0, "2025-01-02 03:00:00 UTC: {latest:?}");
        }),
    };
    (case, id)
}

/// The GPU with the fake libnvidia-ml: no GPU here. The library lies where the sandbox reads
/// (ProtectSystem=strict leaves /usr readable), named with --nvml.library.
fn gpu(host: &Host) -> Case {
    let (_dir, lib) = fakes::fake_nvml(&[]).expect("gcc");
    let inside = "/usr/local/lib/sysgauge-test/libnvidia-ml.so.1";
    let target = host.boot.root_path(inside);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(&lib, &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).unwrap();
    host.put(
        "/etc/sysgauge/fake-nvml.conf",
        "driver_version 550.54.15\nnvml_version 12.550.54.15\ncuda_version 12040\ngpus 1\ngpu0.uuid GPU-11111111-2222-3333-4444-555555555555\ngpu0.name NVIDIA A100-SXM4-40GB\ngpu0.pci_bus_id 00000000:3B:00.0\ngpu0.util_gpu 37\ngpu0.util_memory 12\ngpu0.temperature 61\n",
    );
    host.put("/etc/sysgauge/gpu.toml", "");
    Case {
        name: "gpu",
        domain: "gpu",
        args: vec!["--nvml.library".into(), inside.into()],
        service: "Environment=FAKE_NVML_CONFIG=/etc/sysgauge/fake-nvml.conf\n".into(),
        check: Box::new(|text| {
            let uuid = "GPU-11111111-2222-3333-4444-555555555555";
            assert_eq!(value(text, "sysgauge_gpu_nvml_up"), 1.0);
            assert_eq!(value(text, "sysgauge_gpu_devices"), 1.0);
            assert_eq!(
                value(
                    text,
                    &format!(r#"sysgauge_gpu_utilization_ratio{{uuid="{uuid}"}}"#)
                ),
                0.37
            );
            assert_eq!(
                value(
                    text,
                    &format!(r#"sysgauge_gpu_temperature_celsius{{uuid="{uuid}"}}"#)
                ),
                61.0
            );
        }),
    }
}

#[test]
fn every_exporter_runs_under_real_systemd() {
    let Some(host) = Host::start() else { return };
    eprintln!(
        "\n*** NOTE: no GPU and no /dev/nvidia* here: sysgauge-gpu runs against the fake libnvidia-ml (--nvml.library by a drop-in), so the units' DeviceAllow= list is loaded but never exercised; on a host with the driver the service sees only /dev/nvidiactl and /dev/nvidia0... ***\n"
    );
    let boot = &host.boot;
    let textfile_dir = host.units.textfile_directory();
    let (restic_case, restic_id) = restic(&host);
    let cases = vec![
        certs(&host),
        systemd(&host),
        backup(&host),
        restic_case,
        gpu(&host),
    ];
    assert_eq!(
        cases
            .iter()
            .map(|c| c.name)
            .collect::<std::collections::BTreeSet<_>>(),
        host.units.exporters().iter().map(String::as_str).collect(),
        "every exporter is run"
    );

    // textfile: each timer (made to fire every 2 seconds by a drop-in) runs its oneshot.
    let soon: Vec<(String, String)> = cases
        .iter()
        .map(|c| {
            (
                format!("/etc/systemd/system/sysgauge-{}.timer.d/soon.conf", c.name),
                "[Timer]\nOnCalendar=\nOnCalendar=*:*:0/2\nRandomizedDelaySec=0\nAccuracySec=1s\n"
                    .to_owned(),
            )
        })
        .collect();
    host.install(&cases, Mode::Textfile, &soon);
    for case in &cases {
        boot.systemctl(&["start", &format!("sysgauge-{}.timer", case.name)]);
    }
    let prom = |name: &str| boot.root_path(format!("{textfile_dir}/sysgauge-{name}.prom"));
    for case in &cases {
        wait_for(
            &format!("the timer to run sysgauge-{}.service", case.name),
            Duration::from_secs(60),
            || prom(case.name).is_file().then_some(()),
        );
    }
    for case in &cases {
        boot.systemctl(&["stop", &format!("sysgauge-{}.timer", case.name)]);
    }
    let textfile_gid = host.gid("sysgauge-textfile");
    let dir_meta = std::fs::metadata(boot.root_path(&textfile_dir)).unwrap();
    assert_eq!(dir_meta.permissions().mode() & 0o7777, 0o2775);
    for case in &cases {
        let unit = format!("sysgauge-{}.service", case.name);
        // The last run, which may have been under way when the timer stopped, succeeded.
        boot.wait_for_property(&unit, "ActiveState", "inactive");
        assert_eq!(boot.property(&unit, "Result"), "success", "{unit}");
        assert_eq!(boot.property(&unit, "ExecMainStatus"), "0", "{unit}");
        assert_eq!(boot.property(&unit, "Type"), "oneshot");
        let meta = std::fs::metadata(prom(case.name)).unwrap();
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o644,
            "{unit}: despite UMask=0077"
        );
        assert_eq!(
            meta.gid(),
            textfile_gid,
            "{unit}: written through the static group"
        );
        match host.units.user(case.name) {
            Some(user) => {
                assert_eq!(boot.property(&unit, "DynamicUser"), "no");
                assert_eq!(meta.uid(), host.uid(&user), "{unit}: written by {user}");
            }
            None => {
                assert_eq!(boot.property(&unit, "DynamicUser"), "yes");
                assert_ne!(meta.uid(), 0, "{unit}: not written by root");
            }
        }
    }
    let logs = tempfile::tempdir().unwrap();
    if let Some(node) = NodeExporter::start(&boot.root_path(&textfile_dir), logs.path()) {
        let body = node.scrape();
        assert_eq!(value(&body, "node_textfile_scrape_error"), 0.0, "{body}");
        for case in &cases {
            host.check(case, &body, "textfile");
        }
    }
    // restic's cache is in the unit's CacheDirectory= (DynamicUser: under /var/cache/private).
    let cache = boot.root_path(format!(
        "/var/cache/private/sysgauge-restic/restic/{restic_id}/snapshots"
    ));
    let cached = std::fs::read_dir(&cache)
        .unwrap_or_else(|e| panic!("restic's cache {}: {e}", cache.display()))
        .count();
    assert_eq!(cached, 2, "both snapshots cached");
    // sysgauge-backup remembers the job's success in its StateDirectory=.
    let state =
        std::fs::read_to_string(boot.root_path("/var/lib/sysgauge-backup/sysgauge-backup.json"))
            .expect("sysgauge-backup's state file");
    assert!(state.contains("nightly"), "{state}");
    for case in &cases {
        host.journal_is_clean(case.name, "textfile", &[]);
    }

    // serve: Type=notify, with the watchdog shortened to 2s to show that it is fed.
    let watchdog: Vec<(String, String)> = cases
        .iter()
        .map(|c| {
            (
                format!(
                    "/etc/systemd/system/sysgauge-{}.service.d/watchdog.conf",
                    c.name
                ),
                "[Service]\nWatchdogSec=2s\n".to_owned(),
            )
        })
        .collect();
    host.install(&cases, Mode::Serve, &watchdog);
    for case in &cases {
        boot.systemctl(&["start", &format!("sysgauge-{}.service", case.name)]);
    }
    for case in &cases {
        boot.wait_active(&format!("sysgauge-{}.service", case.name));
    }
    std::thread::sleep(Duration::from_secs(5));
    for case in &cases {
        let unit = format!("sysgauge-{}.service", case.name);
        assert_eq!(boot.property(&unit, "ActiveState"), "active", "{unit}");
        assert_eq!(boot.property(&unit, "NRestarts"), "0", "{unit}");
        host.check(case, &host.scrape(case.name), "serve");
    }
    for case in &cases {
        let unit = format!("sysgauge-{}.service", case.name);
        boot.systemctl(&["stop", &unit]);
        assert_eq!(boot.property(&unit, "Result"), "success", "{unit}");
        host.journal_is_clean(case.name, "serve", &[]);
    }

    // socket: the service has no network of its own and answers on the inherited socket.
    host.install(&cases, Mode::Socket, &[]);
    for case in &cases {
        boot.systemctl(&["start", &format!("sysgauge-{}.socket", case.name)]);
    }
    for case in &cases {
        let unit = format!("sysgauge-{}.service", case.name);
        host.check(case, &host.scrape(case.name), "socket");
        boot.wait_active(&unit);
        assert_eq!(boot.property(&unit, "PrivateNetwork"), "yes", "{unit}");
    }
    for case in &cases {
        let unit = format!("sysgauge-{}", case.name);
        boot.systemctl(&[
            "stop",
            &format!("{unit}.socket"),
            &format!("{unit}.service"),
        ]);
        assert_eq!(
            boot.property(&format!("{unit}.service"), "Result"),
            "success"
        );
        host.journal_is_clean(case.name, "socket", &[]);
    }

    // A host without the NVIDIA driver: the shipped textfile unit, its default library not
    // found. The file is still written, the run exits 0 and the unit is not failed.
    let mut no_driver = gpu_without_driver();
    host.install(std::slice::from_mut(&mut no_driver), Mode::Textfile, &[]);
    std::fs::remove_file(prom("gpu")).unwrap();
    boot.systemctl(&["start", "sysgauge-gpu.service"]);
    assert_eq!(boot.property("sysgauge-gpu.service", "Result"), "success");
    assert_eq!(boot.property("sysgauge-gpu.service", "ExecMainStatus"), "0");
    assert_eq!(
        boot.property("sysgauge-gpu.service", "ActiveState"),
        "inactive"
    );
    let file = std::fs::read_to_string(prom("gpu")).unwrap();
    assert_eq!(
        value(
            &file,
            r#"sysgauge_gpu_nvml_absent{reason="library_not_found"}"#
        ),
        1.0
    );
    if let Some(node) = NodeExporter::start(&boot.root_path(&textfile_dir), logs.path()) {
        let body = node.scrape();
        assert_eq!(value(&body, "node_textfile_scrape_error"), 0.0, "{body}");
        assert_eq!(value(&body, "sysgauge_gpu_nvml_up"), 0.0);
        collectors_succeeded(&no_driver, &body);
    }
    host.journal_is_clean("gpu", "no driver", &["NVML is absent"]);
}

/// sysgauge-gpu as shipped, on a host without the driver: the default library name, which the
/// linker does not find here.
fn gpu_without_driver() -> Case {
    Case {
        name: "gpu",
        domain: "gpu",
        args: Vec::new(),
        service: String::new(),
        check: Box::new(|_| {}),
    }
}
