//! `sysgauge-<x> check` under a real Nagios 4: Nagios runs the plugins on its schedule, and the
//! test reads state, plugin output and performance data from Nagios' own status.dat, as
//! Nagios parsed them.

#![allow(clippy::unwrap_used)]

use std::{
    path::Path,
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sysgauge_testkit::{
    fakes, nagios::Nagios, nagios::Service, openssl, run, tempfile, workspace_binary,
};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYYMMDDHHMMSSZ`, as `openssl ca -startdate/-enddate` takes it.
fn openssl_date(unix: i64) -> String {
    let out = run(Command::new("date").args(["-u", "-d", &format!("@{unix}"), "+%Y%m%d%H%M%SZ"]));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The value of perfdata item `label` in Nagios' performance_data.
fn perf_value(perfdata: &str, label: &str) -> f64 {
    let quoted = format!("'{label}'=");
    let start = perfdata
        .find(&quoted)
        .unwrap_or_else(|| panic!("no perfdata {quoted} in {perfdata:?}"))
        + quoted.len();
    let value: String = perfdata[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-' || *c == '.')
        .collect();
    value.parse().unwrap()
}

/// The thresholds after the value and unit of item `label`: `warn;crit;min;max`.
fn perf_thresholds<'a>(perfdata: &'a str, label: &str) -> &'a str {
    let quoted = format!("'{label}'=");
    let start = perfdata.find(&quoted).unwrap() + quoted.len();
    let item = perfdata[start..].split(' ').next().unwrap();
    item.split_once(';').map_or("", |(_, t)| t)
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn certs_and_backup_checks_under_nagios() {
    let (Some(certs), Some(backup)) = (
        workspace_binary("sysgauge-certs"),
        workspace_binary("sysgauge-backup"),
    ) else {
        panic!("the exporters are not in this workspace");
    };
    if sysgauge_testkit::which("openssl").is_none()
        && !sysgauge_testkit::available("openssl", "openssl")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = now();
    let day = 86400;
    let (expired, _) = openssl::certificate(
        d,
        "expired",
        "expired.test",
        &openssl_date(t - 400 * day),
        &openssl_date(t - 2 * day),
        None,
    );
    let (soon, _) = openssl::certificate(
        d,
        "soon",
        "soon.test",
        // A 90-day certificate with 10 days left: under the third of its lifetime (30 days)
        // that the default warns at, above the tenth (7 days, capped) that is critical.
        &openssl_date(t - 80 * day),
        &openssl_date(t + 10 * day),
        None,
    );
    let (valid, _) = openssl::certificate(
        d,
        "valid",
        "valid.test",
        &openssl_date(t - day),
        &openssl_date(t + 300 * day),
        None,
    );

    // Backups: a fresh dump, a stale one (3 days old, max_age 1d).
    for (name, age) in [("fresh", 600), ("stale", 3 * day)] {
        std::fs::create_dir(d.join(name)).unwrap();
        let dump = d.join(name).join("db.sql");
        std::fs::write(&dump, "-- dump\n").unwrap();
        fakes::set_mtime(&dump, (t - age) as u64);
    }
    let backup_config = d.join("backup.toml");
    std::fs::write(
        &backup_config,
        format!(
            "[[targets]]\nname = \"fresh\"\nkind = \"artifact\"\nmax_age = \"26h\"\npath = \"{}/fresh/*.sql\"\n\
             [[targets]]\nname = \"stale\"\nkind = \"artifact\"\nmax_age = \"1d\"\npath = \"{}/stale/*.sql\"\n",
            d.display(),
            d.display()
        ),
    )
    .unwrap();
    let broken_config = d.join("broken.toml");
    std::fs::write(
        &broken_config,
        "[[targets]]\nname = \"x\"\nmax_agee = \"1d\"\n",
    )
    .unwrap();
    // What a timer recorded: the textfile `--from` reads, with its age.
    let textfile_dir = d.join("textfile");
    std::fs::create_dir(&textfile_dir).unwrap();
    let out = run(Command::new(&backup)
        .arg("--config")
        .arg(&backup_config)
        .args(["textfile", "--directory"])
        .arg(&textfile_dir));
    assert!(out.status.success(), "{out:?}");
    let recorded = textfile_dir.join("sysgauge-backup.prom");

    let service = |name: &str, argv: Vec<String>| Service {
        name: name.into(),
        argv,
    };
    let certs_s = arg(&certs);
    let backup_s = arg(&backup);
    let services = [
        service(
            "certs-expired",
            vec![
                certs_s.clone(),
                "--path".into(),
                arg(&expired),
                "check".into(),
            ],
        ),
        service(
            "certs-soon",
            vec![certs_s.clone(), "--path".into(), arg(&soon), "check".into()],
        ),
        service(
            "certs-valid",
            vec![
                certs_s.clone(),
                "--path".into(),
                arg(&valid),
                "check".into(),
                "-v".into(),
            ],
        ),
        // Flags override the defaults: nothing under 400 days is OK any more.
        service(
            "certs-thresholds",
            vec![
                certs_s.clone(),
                "--path".into(),
                arg(&valid),
                "check".into(),
                "-w".into(),
                "400d:".into(),
                "-c".into(),
                "lifetime=1d:".into(),
            ],
        ),
        service(
            "certs-usage",
            vec![certs_s.clone(), "check".into(), "--no-such-flag".into()],
        ),
        service(
            "backup",
            vec![
                backup_s.clone(),
                "--config".into(),
                arg(&backup_config),
                "check".into(),
            ],
        ),
        service(
            "backup-broken",
            vec![
                backup_s.clone(),
                "--config".into(),
                arg(&broken_config),
                "check".into(),
            ],
        ),
        service(
            "backup-recorded",
            vec![
                backup_s.clone(),
                "--config".into(),
                arg(&backup_config),
                "check".into(),
                "--from".into(),
                arg(&recorded),
            ],
        ),
    ];
    let Some(mut nagios) = Nagios::start(&services) else {
        return;
    };
    let status = nagios.wait_for_results(services.len(), Duration::from_secs(120));
    eprintln!("{status:#?}");
    let get = |name: &str| {
        status
            .get(name)
            .unwrap_or_else(|| panic!("no service {name}: {status:#?}"))
            .clone()
    };

    let s = get("certs-expired");
    let label = format!("lifetime {} 0", expired.display());
    assert_eq!(s.current_state, 2, "{s:?}");
    assert!(
        s.plugin_output.starts_with(&format!(
            "SYSGAUGE-CERTS CRITICAL - 1 critical of 2: {label} -2d"
        )),
        "{s:?}"
    );
    assert!(
        s.long_plugin_output
            .starts_with(&format!("CRITICAL: {label} = -2d")),
        "{s:?}"
    );
    let left = perf_value(&s.performance_data, &label);
    assert!(
        (-2.0 * 86400.0 - 600.0..-2.0 * 86400.0 + 600.0).contains(&left),
        "{s:?}"
    );
    assert_eq!(
        perf_thresholds(&s.performance_data, &label),
        "2592000:;604800:"
    );

    let s = get("certs-soon");
    let label = format!("lifetime {} 0", soon.display());
    assert_eq!(s.current_state, 1, "{s:?}");
    // Ten days less the seconds since the certificate was made: `9d 23h...`, or `10d` when
    // Nagios ran the check within the same second.
    let head = format!("SYSGAUGE-CERTS WARNING - 1 warning of 2: {label} ");
    assert!(
        s.plugin_output.starts_with(&format!("{head}9d 23h"))
            || s.plugin_output == format!("{head}10d"),
        "{s:?}"
    );
    let left = perf_value(&s.performance_data, &label);
    assert!(
        (10.0 * 86400.0 - 600.0..=10.0 * 86400.0).contains(&left),
        "{s:?}"
    );

    let s = get("certs-valid");
    let label = format!("lifetime {} 0", valid.display());
    assert_eq!(s.current_state, 0, "{s:?}");
    assert_eq!(s.plugin_output, "SYSGAUGE-CERTS OK - 2 objects OK");
    // -v lists the OK object too.
    // 300 days less the seconds since the certificate was made, as for `certs-soon` above.
    let head = format!("OK: {label} = ");
    assert!(
        s.long_plugin_output.starts_with(&format!("{head}299d 23h"))
            // Nagios keeps the line break as the two characters `\n`.
            || s.long_plugin_output.starts_with(&format!("{head}300d\\n")),
        "{s:?}"
    );
    assert_eq!(
        perf_thresholds(&s.performance_data, &label),
        "2592000:;604800:"
    );

    let s = get("certs-thresholds");
    assert_eq!(s.current_state, 1, "{s:?}");
    assert_eq!(
        perf_thresholds(&s.performance_data, &label),
        "34560000:;86400:"
    );

    let s = get("certs-usage");
    assert_eq!(s.current_state, 3, "{s:?}");
    assert!(
        s.plugin_output
            .starts_with("SYSGAUGE-CERTS UNKNOWN - unexpected argument '--no-such-flag'"),
        "{s:?}"
    );

    let s = get("backup");
    assert_eq!(s.current_state, 1, "{s:?}");
    assert!(
        s.plugin_output
            .starts_with("SYSGAUGE-BACKUP WARNING - 1 warning of 10: age stale 3d"),
        "{s:?}"
    );
    assert!(
        s.long_plugin_output
            .starts_with("WARNING: age stale = 3d (warning outside ~:86400)"),
        "{s:?}"
    );
    assert!(
        (590.0..700.0).contains(&perf_value(&s.performance_data, "age fresh")),
        "{s:?}"
    );
    assert_eq!(perf_thresholds(&s.performance_data, "age fresh"), "~:93600");
    assert_eq!(perf_thresholds(&s.performance_data, "age stale"), "~:86400");
    assert!(s.performance_data.contains("'readable'=0;;;0;2"), "{s:?}");
    // The artifact checks (docs/nagios.md): sizes as they are, no file dated in the future.
    assert!(s.performance_data.contains("'too-small stale'=8B"), "{s:?}");
    assert!(
        s.performance_data.contains("'future-mtime'=0;;;0;2"),
        "{s:?}"
    );

    let s = get("backup-broken");
    assert_eq!(s.current_state, 3, "{s:?}");
    assert!(
        s.plugin_output.starts_with(&format!(
            "SYSGAUGE-BACKUP UNKNOWN - invalid configuration file {}: line 3",
            broken_config.display()
        )),
        "{s:?}"
    );
    assert!(s.plugin_output.contains("max_agee"), "{s:?}");

    let s = get("backup-recorded");
    assert_eq!(s.current_state, 1, "{s:?}");
    assert!(s.plugin_output.contains("(recorded "), "{s:?}");
    assert!(
        s.plugin_output
            .ends_with(&format!(" ago in {})", recorded.display())),
        "{s:?}"
    );
    assert_eq!(perf_thresholds(&s.performance_data, "age stale"), "~:86400");

    // Nagios logged the alerts with the states the plugins exited with.
    let log = nagios.log();
    assert!(
        log.contains("SERVICE ALERT: sysgauge;certs-expired;CRITICAL;HARD;1;"),
        "{log}"
    );
    assert!(
        log.contains("SERVICE ALERT: sysgauge;backup-broken;UNKNOWN;HARD;1;"),
        "{log}"
    );
}
