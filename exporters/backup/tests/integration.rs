//! End-to-end tests of sysgauge-backup: the real binary against files with set modification
//! times, dumps made by a real `pg_dump`/`pg_dumpall` and the real `gzip` and `tar`, a real
//! systemd booted in namespaces running backup units that succeed and fail, and a fake `zfs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    available, fakes, promtool_check_metrics, run, sample, servers::Postgres, systemd::SystemdBoot,
    tempfile,
};

const BIN: &str = env!("CARGO_BIN_EXE_sysgauge-backup");

fn backup(args: &[&str]) -> Output {
    run(Command::new(BIN).args(args))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `once` with a configuration file; asserts that it succeeded and that promtool accepts it.
fn once_with(config: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("once");
    let out = backup(&args);
    assert!(
        out.status.success(),
        "once failed: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    let text = stdout(&out);
    if available("promtool", "prometheus") {
        promtool_check_metrics(&text).unwrap();
    }
    text
}

fn get(text: &str, series: &str) -> Option<f64> {
    sample(text, series)
}

/// Copies the first `len` bytes of `from` to `to`: a dump cut short, as a full disk or a killed
/// job leaves it.
fn truncated_copy(from: &Path, to: &Path, len: usize) {
    let data = std::fs::read(from).unwrap();
    assert!(len < data.len());
    std::fs::write(to, &data[..len]).unwrap();
}

const T1: u64 = 1_767_000_000;
const T2: u64 = 1_767_086_400;
const T3: u64 = 1_767_172_800;

#[test]
fn artifacts_with_real_pg_dump_gzip_and_tar_are_checked_for_truncation() {
    let Some(pg) = Postgres::start(None) else {
        return;
    };
    for program in [("gzip", "gzip"), ("tar", "tar")] {
        if !available(program.0, program.1) {
            return;
        }
    }
    pg.psql("CREATE DATABASE shop");
    pg.psql_in(
        "shop",
        "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 2000) g",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // pg_dump: an older complete dump and a newer one cut in the middle of the COPY data.
    std::fs::create_dir(d.join("pg")).unwrap();
    let full = pg.pg_dump("shop", &[], &d.join("pg/shop-1.sql"));
    let full_text = std::fs::read_to_string(&full).unwrap();
    assert!(full_text.contains("-- PostgreSQL database dump complete"));
    truncated_copy(&full, &d.join("pg/shop-2.sql"), full_text.len() / 2);
    fakes::set_mtime(&full, T1);
    fakes::set_mtime(&d.join("pg/shop-2.sql"), T2);
    let cut_len = (full_text.len() / 2) as f64;

    // pg_dumpall: complete, and cut right after the dump of one database, where that
    // database's "dump complete" trailer is the last line but the cluster's is missing.
    std::fs::create_dir(d.join("all")).unwrap();
    let all = pg.pg_dumpall(&[], &d.join("all/cluster-1.sql"));
    let all_text = std::fs::read_to_string(&all).unwrap();
    let marker = "-- PostgreSQL database dump complete\n--\n\n";
    let first_db_end = all_text.find(marker).unwrap() + marker.len();
    assert!(first_db_end < all_text.len() - 100);
    truncated_copy(&all, &d.join("all/cluster-2.sql"), first_db_end);
    fakes::set_mtime(&all, T1);
    fakes::set_mtime(&d.join("all/cluster-2.sql"), T3);

    // gzip (the real command): a complete .sql.gz newest; then a truncated newest.
    std::fs::create_dir(d.join("gz")).unwrap();
    std::fs::copy(&full, d.join("gz/shop.sql")).unwrap();
    let out = run(Command::new("gzip").arg("-9").arg(d.join("gz/shop.sql")));
    assert!(out.status.success());
    fakes::set_mtime(&d.join("gz/shop.sql.gz"), T3);
    let gz_len = std::fs::metadata(d.join("gz/shop.sql.gz")).unwrap().len();
    std::fs::create_dir(d.join("gzcut")).unwrap();
    truncated_copy(
        &d.join("gz/shop.sql.gz"),
        &d.join("gzcut/shop.sql.gz"),
        gz_len as usize - 10,
    );
    fakes::set_mtime(&d.join("gzcut/shop.sql.gz"), T3);

    // tar (the real command), complete and cut inside a member.
    std::fs::create_dir(d.join("ha")).unwrap();
    let out = run(Command::new("tar")
        .arg("-cf")
        .arg(d.join("ha/full.tar"))
        .arg("-C")
        .arg(d)
        .arg("pg"));
    assert!(out.status.success(), "{out:?}");
    truncated_copy(&d.join("ha/full.tar"), &d.join("ha/cut.tar"), 5000);
    fakes::set_mtime(&d.join("ha/full.tar"), T1);
    fakes::set_mtime(&d.join("ha/cut.tar"), T2);

    let config = d.join("backup.toml");
    let p = |s: &str| d.join(s).display().to_string();
    std::fs::write(
        &config,
        format!(
            r#"
[[targets]]
name = "shop"
kind = "artifact"
max_age = "26h"
path = "{pg}"
checks = ["pg_dump"]

[[targets]]
name = "cluster"
kind = "artifact"
max_age = "1d"
path = "{all}"
checks = ["pg_dumpall"]

[[targets]]
name = "gz"
kind = "artifact"
max_age = "2d"
path = "{gz}"
checks = ["gzip", "pg_dump"]

[[targets]]
name = "gzcut"
kind = "artifact"
max_age = "2d"
path = "{gzcut}"
checks = ["gzip"]

[[targets]]
name = "ha"
kind = "artifact"
max_age = "7d"
path = "{ha}"
checks = ["tar"]

[[targets]]
name = "unchecked"
kind = "artifact"
max_age = "1h"
path = "{pg}"

[[targets]]
name = "missing"
kind = "artifact"
max_age = "1h"
path = "{missing}"

[[targets]]
name = "broken"
kind = "artifact"
max_age = "1h"
path = "/etc/passwd/not-a-dir"
"#,
            pg = p("pg/shop-*.sql"),
            all = p("all/*.sql"),
            gz = p("gz/*.gz"),
            gzcut = p("gzcut/*.gz"),
            ha = p("ha"),
            missing = p("nothing-here-*.sql"),
        ),
    )
    .unwrap();
    let text = once_with(&config, &[]);
    let s = |series: &str| get(&text, series);

    // pg_dump: the newest file is the cut one; the last success is the older complete dump.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_files{target="shop"}"#),
        Some(2.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_modified_timestamp_seconds{target="shop"}"#),
        Some(T2 as f64)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_size_bytes{target="shop"}"#),
        Some(cut_len)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_complete{target="shop"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="shop"}"#),
        Some(T1 as f64)
    );
    assert_eq!(
        s(r#"sysgauge_backup_max_age_seconds{target="shop"}"#),
        Some(26.0 * 3600.0)
    );
    assert_eq!(s(r#"sysgauge_backup_target_up{target="shop"}"#), Some(1.0));
    let newest = format!(
        r#"sysgauge_backup_artifact_newest_info{{target="shop",path="{}"}}"#,
        p("pg/shop-2.sql")
    );
    assert_eq!(s(&newest), Some(1.0));
    assert!(stderr_of_once(&config).contains("backup file is incomplete"));

    // pg_dumpall: one database's trailer is not the cluster's.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_complete{target="cluster"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="cluster"}"#),
        Some(T1 as f64)
    );
    // gzip: decompressed to the end, and the dump inside has its trailer.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_complete{target="gz"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="gz"}"#),
        Some(T3 as f64)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_size_bytes{target="gz"}"#),
        Some(gz_len as f64)
    );
    // A truncated gzip and nothing older: no success at all.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_complete{target="gzcut"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="gzcut"}"#),
        Some(0.0)
    );
    // tar in a directory target: the cut archive is newest, the full one is the success.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_files{target="ha"}"#),
        Some(2.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_complete{target="ha"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="ha"}"#),
        Some(T1 as f64)
    );
    // Without checks the newest file counts, cut or not, and no completeness is claimed.
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="unchecked"}"#),
        Some(T2 as f64)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_newest_complete{target="unchecked"}"#),
        None
    );
    // Nothing matches: readable, zero files, never succeeded (so the age alert fires).
    assert_eq!(
        s(r#"sysgauge_backup_artifact_files{target="missing"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="missing"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_target_up{target="missing"}"#),
        Some(1.0)
    );
    // Unreadable: a metric and a log line, and the exporter still answers for the others.
    assert_eq!(
        s(r#"sysgauge_backup_target_up{target="broken"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_target_error{target="broken",reason="read_failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="broken"}"#),
        None
    );
    assert_eq!(
        s(r#"sysgauge_backup_collector_success{collector="artifacts"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(&format!(
            r#"sysgauge_backup_target_info{{target="ha",kind="artifact",source="{}"}}"#,
            p("ha")
        )),
        Some(1.0)
    );
}

fn stderr_of_once(config: &Path) -> String {
    stderr(&backup(&["--config", config.to_str().unwrap(), "once"]))
}

#[test]
fn quick_flags_and_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("db.sql");
    std::fs::write(&f, "x").unwrap();
    fakes::set_mtime(&f, T1);
    let out = backup(&["--artifact", &format!("db={}:30h", f.display()), "once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        get(
            &text,
            r#"sysgauge_backup_last_success_timestamp_seconds{target="db"}"#
        ),
        Some(T1 as f64)
    );
    assert_eq!(
        get(&text, r#"sysgauge_backup_max_age_seconds{target="db"}"#),
        Some(108000.0)
    );
    assert_eq!(
        get(
            &text,
            r#"sysgauge_backup_artifact_newest_size_bytes{target="db"}"#
        ),
        Some(1.0)
    );

    let out = backup(&["--artifact", "db=/x", "once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--artifact: \"db=/x\": no `:` before the maximum age"),
        "{}",
        stderr(&out)
    );

    let config = dir.path().join("backup.toml");
    std::fs::write(
        &config,
        "[[targets]]\nname = \"a\"\nkind = \"artifact\"\nmax_age = \"1h\"\npath = \"/a\"\n\n[[targets]]\nname = \"j\"\nkind = \"job\"\nmax_age = \"1h\"\nunit = \"backup.service\"\npath = \"/b\"\n",
    )
    .unwrap();
    let out = backup(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(2));
    // The file, the line of the offending key (line 12: `path = "/b"`) and the key's path.
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "sysgauge-backup: error: {}:12: targets[1].path: target \"j\": key(s) path do not apply to kind = \"job\"",
            config.display()
        )
    );
    std::fs::write(
        &config,
        "[[targets]]\nname = \"a\"\nkind = \"artifact\"\nmax_age = \"1h\"\npaht = \"/a\"\n",
    )
    .unwrap();
    let out = backup(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("line 5") && err.contains("paht"), "{err}");
    let out = backup(&["once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no backup targets"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn artifacts_with_future_mtimes_too_small_and_shrinking() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("a")).unwrap();
    let file = |name: &str, len: usize, mtime: u64| {
        let p = d.join("a").join(name);
        std::fs::write(&p, vec![b'x'; len]).unwrap();
        fakes::set_mtime(&p, mtime);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    file("1.dump", 1000, T1);
    file("2.dump", 300, T2);
    // Written by a host whose clock runs a day ahead: it would be "fresh" for a day.
    file("3.dump", 2000, now + 86_400);
    let config = d.join("backup.toml");
    std::fs::write(
        &config,
        format!(
            r#"[[targets]]
name = "shrank"
kind = "artifact"
max_age = "3650d"
path = "{dir}/a/*.dump"
min_size_percent = 50

[[targets]]
name = "small"
kind = "artifact"
max_age = "3650d"
path = "{dir}/a/*.dump"
min_size_bytes = 500
"#,
            dir = d.display()
        ),
    )
    .unwrap();
    let out = backup(&["--config", config.to_str().unwrap(), "once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    if available("promtool", "prometheus") {
        promtool_check_metrics(&text).unwrap();
    }
    let s = |series: &str| get(&text, series);
    for t in ["shrank", "small"] {
        let f = |m: &str| s(&format!(r#"sysgauge_backup_artifact_{m}{{target="{t}"}}"#));
        assert_eq!(f("files"), Some(3.0), "{t}");
        assert_eq!(f("future_files"), Some(1.0), "{t}");
        // The future file is neither the newest nor fresh.
        assert_eq!(
            f("newest_modified_timestamp_seconds"),
            Some(T2 as f64),
            "{t}"
        );
        assert_eq!(f("newest_size_bytes"), Some(300.0), "{t}");
    }
    // 300 bytes after 1000: under 50%; it still counts as the last success.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_previous_size_bytes{target="shrank"}"#),
        Some(1000.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_min_size_ratio{target="shrank"}"#),
        Some(0.5)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="shrank"}"#),
        Some(T2 as f64)
    );
    // 300 bytes is under min_size_bytes: the older 1000-byte file is the last good one.
    assert_eq!(
        s(r#"sysgauge_backup_artifact_min_size_bytes{target="small"}"#),
        Some(500.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="small"}"#),
        Some(T1 as f64)
    );
    assert_eq!(
        s(r#"sysgauge_backup_artifact_previous_size_bytes{target="small"}"#),
        None
    );
    let err = stderr(&out);
    for needle in [
        "modification time is in the future",
        "3.dump",
        "shrank against the previous one",
        "smaller than min_size_bytes",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }

    // The Nagios check says the same: WARNING for each condition, the others OK.
    let out = backup(&["--config", config.to_str().unwrap(), "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    for needle in [
        "WARNING: too-small small = 300B (warning outside 500:)",
        "WARNING: shrank shrank = 300B (warning outside 500:)",
        "WARNING: future-mtime shrank = 1",
        "WARNING: future-mtime small = 1",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(
        !text.contains("WARNING: too-small shrank") && !text.contains("WARNING: shrank small"),
        "{text}"
    );
}

/// A fake `zfs`: prints a fixed snapshot list for the exact arguments the exporter must use.
fn fake_zfs(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("zfs");
    fakes::script(&path, &format!("{body}\n"));
    path
}

/// A fake `zfs list` over the pool in `pool` (NAME<TAB>CREATION<TAB>USEDBYSNAPSHOTS lines) that
/// honours `-d 1`/`-r` and the datasets it is given, refuses an unrestricted listing, says
/// `dataset does not exist` as zfs does, and records each call in `calls`.
const FAKE_ZFS_LIST: &str = r#"here=$(dirname "$0")
printf '%s\n' "$*" >> "$here/calls"
[ "$1 $2 $3 $4 $5 $6 $7 $8" = "list -Hp -t filesystem,volume,snapshot -o name,creation,usedbysnapshots -s creation" ] || { echo "unexpected arguments: $*" >&2; exit 2; }
shift 8
case "$1" in
  -d) [ "$2" = 1 ] || exit 2; depth=1; shift 2;;
  -r) depth=r; shift;;
  *) echo "refused: an unrestricted listing ($*)" >&2; exit 2;;
esac
[ "$1" = "--" ] && shift
[ $# -gt 0 ] || { echo "refused: no datasets given" >&2; exit 2; }
rc=0
for ds in "$@"; do
  cut -f1 "$here/pool" | grep -qxF "$ds" || { echo "cannot open '$ds': dataset does not exist" >&2; rc=1; continue; }
  awk -F'\t' -v ds="$ds" -v depth="$depth" '$1 == ds || index($1, ds "@") == 1 { print; next }
    index($1, ds "/") == 1 { rest = substr($1, length(ds) + 2); if (depth == "r" || (index(rest, "/") == 0 && index(rest, "@") == 0)) print }' "$here/pool"
done
exit $rc"#;

/// A pool with sanoid's snapshots of every type, a newer syncoid snapshot, a child dataset and
/// a dataset no target asks for (whose snapshots must not be read).
const POOL: &str = "tank\t1700000000\t0
tank/db\t1700000000\t1048576
tank/db@autosnap_2026-01-01_00:00:01_yearly\t1767225601\t-
tank/db@autosnap_2026-01-01_00:00:01_monthly\t1767225601\t-
tank/db@autosnap_2026-01-03_00:00:01_daily\t1767398401\t-
tank/db@autosnap_2026-01-04_00:00:01_weekly\t1767484801\t-
tank/db@autosnap_2026-01-04_00:00:01_daily\t1767484801\t-
tank/db@autosnap_2026-01-04_10:00:01_hourly\t1767520801\t-
tank/db@autosnap_2026-01-04_11:00:01_hourly\t1767524401\t-
tank/db@syncoid_nas_2026-01-05:00:00:00-GMT00:00\t1767571200\t-
tank/db/sub\t1700000000\t512
tank/db/sub@autosnap_2026-01-06_00:00:01_hourly\t1767657601\t-
tank/home\t1700000000\t0
tank/home/alice\t1700000000\t2048
tank/home/alice@autosnap_2026-01-04_00:00:01_daily\t1767484801\t-
tank/home/alice@autosnap_2026-01-04_11:00:01_hourly\t1767524401\t-
tank/home/bob\t1700000000\t4096
tank/home/bob@autosnap_2026-01-02_00:00:01_daily\t1767312001\t-
tank/home/bob@autosnap_2026-01-04_11:00:01_hourly\t1767524401\t-
tank/other\t1700000000\t0
tank/other@autosnap_2026-01-09_00:00:01_hourly\t1767916801\t-
";

#[test]
fn zfs_snapshots_from_a_fake_zfs() {
    let dir = tempfile::tempdir().unwrap();
    let zfs = fake_zfs(dir.path(), FAKE_ZFS_LIST);
    std::fs::write(dir.path().join("pool"), POOL).unwrap();
    let config = dir.path().join("backup.toml");
    std::fs::write(
        &config,
        format!(
            r#"zfs_command = "{}"

[[targets]]
name = "db"
kind = "zfs"
datasets = ["tank/db"]
snapshot_pattern = "sanoid"
snapshot_max_age = {{ hourly = "2h", daily = "26h", weekly = "8d", monthly = "32d", yearly = "366d" }}

[[targets]]
name = "any"
kind = "zfs"
max_age = "2h"
datasets = ["tank/db"]

[[targets]]
name = "homes"
kind = "zfs"
max_age = "2h"
dataset_prefixes = ["tank/home/"]
snapshot_max_age = {{ hourly = "2h", daily = "26h" }}

[[targets]]
name = "gone"
kind = "zfs"
max_age = "1d"
datasets = ["tank/db", "tank/gone"]
"#,
            zfs.display()
        ),
    )
    .unwrap();
    let out = backup(&["--config", config.to_str().unwrap(), "once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    if available("promtool", "prometheus") {
        promtool_check_metrics(&text).unwrap();
    }
    // Two listings, each restricted to what the targets name: the exact datasets at depth 1
    // (tank/db once for two targets), the prefixes' parent recursively.
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    let head =
        "list -Hp -t filesystem,volume,snapshot -o name,creation,usedbysnapshots -s creation";
    assert_eq!(
        calls,
        format!("{head} -d 1 -- tank/db tank/gone\n{head} -r -- tank/home\n")
    );
    let s = |series: &str| get(&text, series);
    // Every snapshot of tank/db, none of its child's: 8, the newest the syncoid one.
    assert_eq!(
        s(r#"sysgauge_backup_zfs_snapshots{target="db",dataset="tank/db"}"#),
        Some(8.0)
    );
    assert_eq!(
        s(
            r#"sysgauge_backup_zfs_newest_snapshot_timestamp_seconds{target="db",dataset="tank/db"}"#
        ),
        Some(1_767_571_200.0)
    );
    assert_eq!(
        s(
            r#"sysgauge_backup_zfs_oldest_snapshot_timestamp_seconds{target="db",dataset="tank/db"}"#
        ),
        Some(1_767_225_601.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_zfs_snapshots_used_bytes{target="db",dataset="tank/db"}"#),
        Some(1_048_576.0)
    );
    // Each sanoid type on its own.
    for (kind, count, newest, max_age) in [
        ("hourly", 2.0, 1_767_524_401.0, 7200.0),
        ("daily", 2.0, 1_767_484_801.0, 93_600.0),
        ("weekly", 1.0, 1_767_484_801.0, 691_200.0),
        ("monthly", 1.0, 1_767_225_601.0, 2_764_800.0),
        ("yearly", 1.0, 1_767_225_601.0, 31_622_400.0),
    ] {
        let labels = format!(r#"target="db",dataset="tank/db",type="{kind}""#);
        assert_eq!(
            s(&format!("sysgauge_backup_zfs_type_snapshots{{{labels}}}")),
            Some(count),
            "{kind}"
        );
        assert_eq!(
            s(&format!(
                "sysgauge_backup_zfs_type_newest_snapshot_timestamp_seconds{{{labels}}}"
            )),
            Some(newest),
            "{kind}"
        );
        assert_eq!(
            s(&format!(
                r#"sysgauge_backup_zfs_type_max_age_seconds{{target="db",type="{kind}"}}"#
            )),
            Some(max_age)
        );
    }
    // The newer syncoid snapshot does not make the target fresh: the hourly one decides (the
    // first type to go stale), against max_age, the least type's 2h.
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="db"}"#),
        Some(1_767_524_401.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_max_age_seconds{target="db"}"#),
        Some(7200.0)
    );
    // Without types any snapshot counts, as before.
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="any"}"#),
        Some(1_767_571_200.0)
    );
    // bob's daily (Jan 2 + 26h) goes stale before anyone's hourly: 1767312001 + 93600 - 7200.
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="homes"}"#),
        Some(1_767_398_401.0)
    );
    assert_eq!(
        s(
            r#"sysgauge_backup_zfs_type_newest_snapshot_timestamp_seconds{target="homes",dataset="tank/home/bob",type="daily"}"#
        ),
        Some(1_767_312_001.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_zfs_snapshots_used_bytes{target="homes",dataset="tank/home/alice"}"#),
        Some(2048.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_zfs_snapshots{target="homes",dataset="tank/home/bob"}"#),
        Some(2.0)
    );
    // Neither the pool nor tank/other were read; tank/home has no snapshot of its own.
    assert!(
        !text.contains("tank/other") && !text.contains(r#"dataset="tank/home""#),
        "{text}"
    );
    // A listed dataset that does not exist: 0 snapshots, last success 0, and a log line; the
    // other datasets of the same listing are still read.
    assert_eq!(
        s(r#"sysgauge_backup_zfs_snapshots{target="gone",dataset="tank/gone"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_zfs_snapshots{target="gone",dataset="tank/db"}"#),
        Some(8.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="gone"}"#),
        Some(0.0)
    );
    assert!(
        stderr(&out).contains("zfs dataset does not exist") && stderr(&out).contains("tank/gone"),
        "{}",
        stderr(&out)
    );

    // zfs fails: every zfs target is down with the reason; the exporter still answers.
    let failing = fake_zfs(
        dir.path(),
        "echo 'cannot open: no pools available' >&2; exit 1",
    );
    let out = backup(&[
        "--config",
        config.to_str().unwrap(),
        "--zfs-command",
        failing.to_str().unwrap(),
        "once",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for t in ["db", "any", "homes", "gone"] {
        assert_eq!(
            get(
                &text,
                &format!(r#"sysgauge_backup_target_up{{target="{t}"}}"#)
            ),
            Some(0.0)
        );
        assert_eq!(
            get(
                &text,
                &format!(r#"sysgauge_backup_target_error{{target="{t}",reason="zfs_failed"}}"#)
            ),
            Some(1.0)
        );
    }
    assert!(
        stderr(&out).contains("no pools available"),
        "{}",
        stderr(&out)
    );

    // zfs hangs: killed at the deadline, reported, and the run ends in time.
    let hanging = fake_zfs(dir.path(), "exec sleep 60");
    let start = Instant::now();
    let out = backup(&[
        "--config",
        config.to_str().unwrap(),
        "--zfs-command",
        hanging.to_str().unwrap(),
        "--collector.timeout",
        "2s",
        "once",
    ]);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        get(
            &stdout(&out),
            r#"sysgauge_backup_target_error{target="db",reason="deadline"}"#
        ),
        Some(1.0)
    );
    // The collector's 2s less 10%.
    assert!(
        stderr(&out).contains("did not finish within 1s 800ms; its process group was killed"),
        "{}",
        stderr(&out)
    );
}

/// A unit's `t` (usec) property over D-Bus, exactly as systemd holds it, in seconds.
fn usec_property(boot: &SystemdBoot, unit: &str, interface: &str, property: &str) -> f64 {
    let path = boot.property(unit, "Id");
    assert_eq!(path, unit);
    let object = format!(
        "/org/freedesktop/systemd1/unit/{}",
        unit.replace('-', "_2d").replace('.', "_2e")
    );
    let out = boot.exec(&[
        "busctl",
        "get-property",
        "org.freedesktop.systemd1",
        &object,
        &format!("org.freedesktop.systemd1.{interface}"),
        property,
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let usec: u64 = text.trim().strip_prefix("t ").unwrap().parse().unwrap();
    usec as f64 / 1e6
}

#[test]
fn jobs_in_a_real_systemd_succeed_fail_and_keep_their_last_success() {
    let ok = "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo dumping; sleep 0.2'\n";
    let fail = "[Service]\nType=oneshot\nExecStart=/bin/sh -c 'echo disk full >&2; exit 3'\n";
    let timer = "[Timer]\nOnActiveSec=1s\nAccuracySec=1ms\nUnit=backup-timed.service\n";
    // Only a monotonic trigger, an hour after the timer starts.
    let hourly = "[Timer]\nOnActiveSec=1h\nAccuracySec=1ms\nUnit=backup-ok.service\n";
    let units = [
        ("backup-ok.service", ok),
        ("backup-fail.service", fail),
        ("backup-flaky.service", ok),
        ("backup-timed.service", ok),
        ("backup-timed.timer", timer),
        ("backup-hourly.timer", hourly),
    ];
    let Some(boot) = SystemdBoot::start_with(
        &units,
        &[
            "backup-ok.service",
            "backup-fail.service",
            "backup-flaky.service",
            "backup-timed.timer",
            "backup-hourly.timer",
        ],
    ) else {
        return;
    };
    boot.wait_for_property("backup-ok.service", "Result", "success");
    boot.wait_for_property("backup-fail.service", "Result", "exit-code");
    boot.wait_until(
        "backup-timed.service to finish",
        Duration::from_secs(60),
        |b| b.property("backup-timed.service", "ExecMainExitTimestampMonotonic") != "0",
    );
    boot.wait_until(
        "backup-flaky.service to finish",
        Duration::from_secs(60),
        |b| b.property("backup-flaky.service", "ExecMainExitTimestampMonotonic") != "0",
    );

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let config = dir.path().join("backup.toml");
    std::fs::write(
        &config,
        format!(
            r#"bus_address = "{bus}"
state_directory = "{state}"

[[targets]]
name = "ok"
kind = "job"
max_age = "26h"
unit = "backup-ok.service"

[[targets]]
name = "fail"
kind = "job"
max_age = "26h"
unit = "backup-fail.service"

[[targets]]
name = "flaky"
kind = "job"
max_age = "26h"
unit = "backup-flaky.service"

[[targets]]
name = "timed"
kind = "job"
max_age = "1d"
unit = "backup-timed.timer"

[[targets]]
name = "hourly"
kind = "job"
max_age = "2h"
unit = "backup-hourly.timer"

[[targets]]
name = "absent"
kind = "job"
max_age = "1d"
unit = "no-such-backup.service"
"#,
            bus = boot.bus_address(),
            state = state.display(),
        ),
    )
    .unwrap();
    let text = once_with(&config, &[]);
    let s = |series: &str| get(&text, series);

    // Success: result, status, and the last success is the exit of the last run.
    let ok_start = usec_property(
        &boot,
        "backup-ok.service",
        "Service",
        "ExecMainStartTimestamp",
    );
    let ok_end = usec_property(
        &boot,
        "backup-ok.service",
        "Service",
        "ExecMainExitTimestamp",
    );
    assert!(ok_start + 0.2 <= ok_end, "{ok_start} {ok_end}");
    assert_eq!(
        s(r#"sysgauge_backup_job_result{target="ok",result="success"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_exit_status{target="ok"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_last_run_start_timestamp_seconds{target="ok"}"#),
        Some(ok_start)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_last_run_end_timestamp_seconds{target="ok"}"#),
        Some(ok_end)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="ok"}"#),
        Some(ok_end)
    );
    assert_eq!(s(r#"sysgauge_backup_job_running{target="ok"}"#), Some(0.0));

    // Failure, never succeeded: exit-code, status 3, last success 0 (so the alert fires).
    let fail_end = usec_property(
        &boot,
        "backup-fail.service",
        "Service",
        "ExecMainExitTimestamp",
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_result{target="fail",result="exit-code"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_exit_status{target="fail"}"#),
        Some(3.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_last_run_end_timestamp_seconds{target="fail"}"#),
        Some(fail_end)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="fail"}"#),
        Some(0.0)
    );

    // A timer target reports the service it triggers; fired, then the service ran.
    assert_eq!(
        s(
            r#"sysgauge_backup_job_info{target="timed",unit="backup-timed.timer",service="backup-timed.service"}"#
        ),
        Some(1.0)
    );
    let trigger =
        s(r#"sysgauge_backup_job_timer_last_trigger_timestamp_seconds{target="timed"}"#).unwrap();
    assert_eq!(
        trigger,
        usec_property(&boot, "backup-timed.timer", "Timer", "LastTriggerUSec")
    );
    let timed_start =
        s(r#"sysgauge_backup_job_last_run_start_timestamp_seconds{target="timed"}"#).unwrap();
    let timed_end = s(r#"sysgauge_backup_last_success_timestamp_seconds{target="timed"}"#).unwrap();
    assert!(
        trigger <= timed_start && timed_start < timed_end,
        "{trigger} {timed_start} {timed_end}"
    );

    // A timer with only a monotonic trigger is scheduled too: an hour after it started.
    let hourly_start = usec_property(&boot, "backup-hourly.timer", "Unit", "ActiveEnterTimestamp");
    let next = s(r#"sysgauge_backup_job_timer_next_elapse_timestamp_seconds{target="hourly"}"#)
        .expect("no next elapse for a monotonic timer");
    assert!(
        (next - (hourly_start + 3600.0)).abs() < 1.0,
        "next elapse {next}, started {hourly_start}"
    );

    // A unit systemd does not have: down, with the reason.
    assert_eq!(
        s(r#"sysgauge_backup_target_up{target="absent"}"#),
        Some(0.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_target_error{target="absent",reason="unit_not_loaded"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_collector_success{collector="jobs"}"#),
        Some(1.0)
    );

    // flaky succeeded and was seen; now it fails. systemd forgets the success, the state
    // file does not.
    let flaky_ok_end = usec_property(
        &boot,
        "backup-flaky.service",
        "Service",
        "ExecMainExitTimestamp",
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="flaky"}"#),
        Some(flaky_ok_end)
    );
    boot.install(&[("backup-flaky.service", fail)]);
    let out = boot.exec(&["systemctl", "start", "backup-flaky.service"]);
    assert!(!out.status.success(), "the failing run must fail");
    boot.wait_for_property("backup-flaky.service", "Result", "exit-code");
    let text = once_with(&config, &[]);
    let s = |series: &str| get(&text, series);
    let flaky_fail_end = usec_property(
        &boot,
        "backup-flaky.service",
        "Service",
        "ExecMainExitTimestamp",
    );
    assert!(flaky_fail_end > flaky_ok_end);
    assert_eq!(
        s(r#"sysgauge_backup_job_result{target="flaky",result="exit-code"}"#),
        Some(1.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_exit_status{target="flaky"}"#),
        Some(3.0)
    );
    assert_eq!(
        s(r#"sysgauge_backup_job_last_run_end_timestamp_seconds{target="flaky"}"#),
        Some(flaky_fail_end)
    );
    assert_eq!(
        s(r#"sysgauge_backup_last_success_timestamp_seconds{target="flaky"}"#),
        Some(flaky_ok_end),
        "the remembered success"
    );
    // Without the state directory only systemd's memory is left: 0.
    let text = once_with(
        &config,
        &["--state-directory", "/nonexistent-sysgauge-state"],
    );
    assert_eq!(
        get(
            &text,
            r#"sysgauge_backup_last_success_timestamp_seconds{target="flaky"}"#
        ),
        Some(0.0)
    );

    // The bus goes away: every job target is down, the run still ends in time.
    drop(boot);
    let start = Instant::now();
    let text = once_with(&config, &[]);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(
        get(
            &text,
            r#"sysgauge_backup_target_error{target="ok",reason="dbus"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn a_slow_gzip_check_is_finished_in_serve_mode_after_the_deadline() {
    // A gzip whose content is 512 MiB (of zeros, so the file itself stays small) takes seconds
    // to decompress in a test build, far longer than the 360 ms inner deadline (the 400 ms
    // collector timeout less 10%); the check keeps running in its thread and a later scrape uses
    // its verdict. (Incompressible data inflates at copying speed and once finished within the
    // deadline on an idle machine.)
    let dir = tempfile::tempdir().unwrap();
    {
        use std::io::Write;
        let file = File::create(dir.path().join("big.sql.gz")).unwrap();
        let mut gzip = Command::new("gzip")
            .args(["-1", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(file)
            .spawn()
            .unwrap();
        let mut stdin = gzip.stdin.take().unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..512 {
            stdin.write_all(&zeros).unwrap();
        }
        stdin
            .write_all(b"\n--\n-- PostgreSQL database dump complete\n--\n\n")
            .unwrap();
        drop(stdin);
        assert!(gzip.wait().unwrap().success());
    }
    let gz = dir.path().join("big.sql.gz");
    fakes::set_mtime(&gz, T3);
    let config = dir.path().join("backup.toml");
    std::fs::write(
        &config,
        format!(
            "[collector]\ntimeout = \"400ms\"\n[[targets]]\nname = \"big\"\nkind = \"artifact\"\nmax_age = \"1d\"\npath = \"{}\"\nchecks = [\"gzip\", \"pg_dump\"]\n",
            gz.display()
        ),
    )
    .unwrap();
    let port = sysgauge_testkit::free_port();
    let mut serve = sysgauge_testkit::Process::spawn(
        "sysgauge-backup serve",
        Command::new(BIN).args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ]),
        &dir.path().join("serve.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let first = sysgauge_testkit::wait_for("serve to answer", Duration::from_secs(20), || {
        let (code, body) = sysgauge_testkit::http_get(&url, &[]);
        (code == 200).then_some(body)
    });
    // The first scrape answered in time, without a verdict yet.
    assert_eq!(
        get(
            &first,
            r#"sysgauge_backup_artifact_newest_complete{target="big"}"#
        ),
        None,
        "{first}"
    );
    assert_eq!(
        get(
            &first,
            r#"sysgauge_backup_last_success_timestamp_seconds{target="big"}"#
        ),
        Some(0.0)
    );
    let done = sysgauge_testkit::wait_for("the check to finish", Duration::from_secs(120), || {
        let (_, body) = sysgauge_testkit::http_get(&url, &[]);
        get(
            &body,
            r#"sysgauge_backup_artifact_newest_complete{target="big"}"#,
        )
        .map(|_| body)
    });
    assert_eq!(
        get(
            &done,
            r#"sysgauge_backup_artifact_newest_complete{target="big"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        get(
            &done,
            r#"sysgauge_backup_last_success_timestamp_seconds{target="big"}"#
        ),
        Some(T3 as f64)
    );
    serve.terminate(Duration::from_secs(10));
}
