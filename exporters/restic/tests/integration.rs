//! End-to-end tests of sysgauge-restic against real restic repositories.
//!
//! The repositories are made by Debian's restic in temporary directories; fakes are used only
//! for what a real restic cannot be made to do: hang, and print the JSON of newer releases.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use sysgauge_testkit::{
    Process, fakes, free_port, http_get, promtool_check_metrics,
    restic::{self, PASSWORD, Repo, clean_env},
    sample, wait_for,
};

const BIN: &str = env!("CARGO_BIN_EXE_sysgauge-restic");

fn restic_available() -> bool {
    restic::available()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Runs the exporter once with `args` and extra environment `env`.
fn exporter(args: &[&str], env: &[(&str, &str)]) -> (Output, String, String) {
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd);
    cmd.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn group(metric: &str, repo: &str, host: &str, paths: &str, tags: &str) -> String {
    format!(
        "sysgauge_restic_{metric}{{repository=\"{repo}\",hostname=\"{host}\",paths=\"{paths}\",tags=\"{tags}\"}}"
    )
}

fn repo_series(metric: &str, repo: &str) -> String {
    format!("sysgauge_restic_{metric}{{repository=\"{repo}\"}}")
}

/// Whether process `pid` is gone (or a zombie no one has reaped yet: it runs no more).
fn process_gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Several snapshots with different hosts, paths, tags and time zones, a stale lock and a
/// lock left by a killed restic: every value exact.
#[test]
fn snapshots_groups_and_locks_have_exact_values() {
    if !restic_available() {
        return;
    }
    let repo = Repo::init();
    let (d1, d2, d3) = (repo.data("d1"), repo.data("d2"), repo.data("d3"));
    repo.backup("h1", &["daily"], &[&d1], "2024-01-01 10:00:00", "UTC");
    repo.backup("h1", &["daily"], &[&d1], "2024-01-02 10:00:00", "UTC");
    // The same instant, 2024-03-01T00:00:00Z, written with two different offsets.
    repo.backup(
        "h2",
        &["t2", "a"],
        &[&d3, &d2],
        "2024-03-01 05:30:00",
        "Asia/Kolkata",
    );
    repo.backup("h1", &[], &[&d1], "2024-02-29 19:00:00", "America/New_York");

    // A stale lock, made by restic itself from a snapshot from 2020-01-02T03:04:05Z.
    let old = repo.backup("oldhost", &[], &[&d1], "2020-01-02 03:04:05", "UTC");
    repo.snapshot_to_lock(&old);

    // A real lock: a restic backup reading stdin holds its lock until stdin ends; kill it.
    let before_live = now();
    let mut live = Command::new("restic");
    clean_env(&mut live);
    let mut live = live
        .args([
            "backup",
            "--stdin",
            "--stdin-filename",
            "x",
            "--host",
            "live",
        ])
        .env("RESTIC_REPOSITORY", repo.path())
        .env("RESTIC_PASSWORD_FILE", repo.password_file())
        .env("RESTIC_CACHE_DIR", repo.dir().join("cache"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until restic itself reads the lock: a lock file that merely exists may still be
    // half-written, and killing restic then would leave no valid lock (seen on a loaded CI).
    wait_for(
        "restic backup --stdin to take its lock",
        Duration::from_secs(60),
        || (repo.readable_locks().len() == 2).then_some(()),
    );
    live.kill().unwrap();
    live.wait().unwrap();
    assert_eq!(
        repo.readable_locks().len(),
        2,
        "the killed restic left its lock behind"
    );

    let name = repo.path().display().to_string();
    let pw = repo.password_file().display().to_string();
    let (out, text, stderr) = exporter(
        &["--repository", &name, "--password-file", &pw, "once"],
        &[],
    );
    assert!(out.status.success(), "{stderr}");
    let after = now();
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));

    assert_eq!(v(&repo_series("repository_up", &name)), 1.0);
    assert_eq!(v(&repo_series("snapshots", &name)), 4.0);
    let (p1, p23) = (
        d1.display().to_string(),
        format!("{},{}", d2.display(), d3.display()),
    );
    assert_eq!(v(&group("group_snapshots", &name, "h1", &p1, "daily")), 2.0);
    assert_eq!(
        v(&group(
            "group_latest_snapshot_timestamp_seconds",
            &name,
            "h1",
            &p1,
            "daily"
        )),
        1_704_189_600.0
    );
    assert_eq!(v(&group("group_snapshots", &name, "h1", &p1, "")), 1.0);
    assert_eq!(
        v(&group(
            "group_latest_snapshot_timestamp_seconds",
            &name,
            "h1",
            &p1,
            ""
        )),
        1_709_251_200.0
    );
    assert_eq!(v(&group("group_snapshots", &name, "h2", &p23, "a,t2")), 1.0);
    assert_eq!(
        v(&group(
            "group_latest_snapshot_timestamp_seconds",
            &name,
            "h2",
            &p23,
            "a,t2"
        )),
        1_709_251_200.0
    );
    assert_eq!(
        text.matches("sysgauge_restic_group_snapshots{").count(),
        3,
        "{text}"
    );
    // restic 0.14 records no summary and no program version.
    assert!(
        !text.contains("group_latest_added_bytes") && !text.contains("program_info"),
        "{text}"
    );

    assert_eq!(v(&repo_series("locks", &name)), 2.0);
    assert_eq!(v(&repo_series("locks_stale", &name)), 1.0);
    assert_eq!(v(&repo_series("locks_exclusive", &name)), 0.0);
    assert_eq!(
        v(&repo_series("lock_oldest_timestamp_seconds", &name)),
        1_577_934_245.0
    );
    assert!(
        !text.contains("sysgauge_restic_repository_error{"),
        "{text}"
    );
    assert_eq!(v("sysgauge_restic_version_info{version=\"0.14.0\"}"), 1.0);
    let duration = v(&repo_series("repository_read_duration_seconds", &name));
    assert!(
        duration > 0.0 && duration < after - before_live,
        "{duration}"
    );
    // Stats and check are off by default.
    assert!(
        !text.contains("stats_") && !text.contains("check_"),
        "{text}"
    );
    promtool_check_metrics(&text).unwrap();
    // The exporter took no lock of its own.
    assert_eq!(repo.files("locks").len(), 2);
}

/// Each way of failing has its own reason; the good repository is still reported, and the
/// collection itself succeeds.
#[test]
fn failures_have_distinct_reasons() {
    if !restic_available() {
        return;
    }
    let good = Repo::init();
    good.backup("h", &[], &[&good.data("d")], "2024-05-05 05:05:05", "UTC");
    let other = Repo::init();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("wrong"), "not the password\n").unwrap();
    let config = dir.path().join("restic.toml");
    fs::write(
        &config,
        format!(
            r#"
[[repositories]]
name = "good"
repository = "{good}"
password_file = "{good_pw}"

[[repositories]]
name = "wrong-password"
repository = "{good}"
password_file = "{wrong}"

[[repositories]]
name = "missing"
repository = "{missing}"
password_file = "{good_pw}"

[[repositories]]
name = "no-password"
repository = "{other}"
password_file = "{nopw}"

[[repositories]]
name = "failing-command"
repository = "{other}"
password_command = "false"
"#,
            good = good.path().display(),
            good_pw = good.password_file().display(),
            wrong = dir.path().join("wrong").display(),
            missing = dir.path().join("nothing-here").display(),
            other = other.path().display(),
            nopw = dir.path().join("no-such-file").display(),
        ),
    )
    .unwrap();
    let (out, text, stderr) = exporter(&["--config", config.to_str().unwrap(), "once"], &[]);
    assert!(
        out.status.success(),
        "a repository's failure is not the collector's: {stderr}"
    );
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(&repo_series("repository_up", "good")), 1.0);
    assert_eq!(v(&repo_series("snapshots", "good")), 1.0);
    for (name, reason) in [
        ("wrong-password", "wrong_password"),
        ("missing", "repository_missing"),
        ("no-password", "password_unavailable"),
        ("failing-command", "password_unavailable"),
    ] {
        assert_eq!(v(&repo_series("repository_up", name)), 0.0, "{name}");
        assert_eq!(
            v(&format!(
                "sysgauge_restic_repository_error{{repository=\"{name}\",reason=\"{reason}\"}}"
            )),
            1.0,
            "{name}\n{text}"
        );
        assert!(!text.contains(&repo_series("snapshots", name)), "{name}");
        assert!(
            stderr.contains(&format!("repository={name} reason={reason}")),
            "{stderr}"
        );
    }
    assert_eq!(text.matches("sysgauge_restic_repository_error{").count(), 4);
    assert_eq!(
        v("sysgauge_restic_collector_success{collector=\"repositories\"}"),
        1.0
    );
    assert!(!stderr.contains(PASSWORD));

    // restic itself missing.
    let (out, text, _) = exporter(
        &[
            "--restic",
            "/nonexistent/restic",
            "--repository",
            "/srv/x",
            "--password-file",
            "/p",
            "once",
        ],
        &[],
    );
    assert!(out.status.success());
    assert_eq!(
        sample(
            &text,
            "sysgauge_restic_repository_error{repository=\"/srv/x\",reason=\"restic_missing\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("sysgauge_restic_version_info"));
}

/// The password reaches restic only through RESTIC_PASSWORD_FILE / _COMMAND / a systemd
/// credential; stray RESTIC_* variables of the exporter's environment do not reach restic;
/// backend secrets from the environment file reach restic's environment and nothing else.
#[test]
fn secrets_stay_out_of_argv_logs_and_metrics() {
    if !restic_available() {
        return;
    }
    let repo = Repo::init();
    repo.backup(
        "h",
        &["t"],
        &[&repo.data("d")],
        "2024-05-05 05:05:05",
        "UTC",
    );
    let dir = tempfile::tempdir().unwrap();
    // A restic that records its argv and environment, then runs the real one.
    let record = dir.path().join("record");
    fs::create_dir(&record).unwrap();
    let wrapper = dir.path().join("restic");
    fakes::script(
        &wrapper,
        &format!(
            "n=$$\nprintf '%s\\n' \"$@\" > {rec}/$n.argv\nenv > {rec}/$n.env\nexec restic \"$@\"\n",
            rec = record.display()
        ),
    );
    let envfile = dir.path().join("backend.env");
    fs::write(
        &envfile,
        "# B2\nexport AWS_SECRET_ACCESS_KEY=\"topsecret-key\"\n",
    )
    .unwrap();
    let creds = dir.path().join("creds");
    fs::create_dir(&creds).unwrap();
    fs::copy(repo.password_file(), creds.join("restic-pw")).unwrap();
    // A "REST server" that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = dir.path().join("restic.toml");
    fs::write(
        &config,
        format!(
            r#"
restic = "{wrapper}"
[[repositories]]
name = "by-credential"
repository = "{repo}"
password_credential = "restic-pw"
environment_file = "{envfile}"

[[repositories]]
name = "by-command"
repository = "{repo}"
password_command = "cat {pw}"

[[repositories]]
repository = "rest:http://backupuser:hunter2-in-url@127.0.0.1:{port}/repo"
password_file = "{pw}"
timeout = "2s"
"#,
            wrapper = wrapper.display(),
            repo = repo.path().display(),
            envfile = envfile.display(),
            pw = repo.password_file().display(),
            port = silent.local_addr().unwrap().port(),
        ),
    )
    .unwrap();
    let (out, text, stderr) = exporter(
        &[
            "--config",
            config.to_str().unwrap(),
            "--log.level",
            "debug",
            "once",
        ],
        &[
            ("RESTIC_PASSWORD", "stray-password"),
            ("RESTIC_REPOSITORY", "/elsewhere"),
            ("RESTIC_PASSWORD_COMMAND", "echo stray"),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{stderr}");
    for name in ["by-credential", "by-command"] {
        assert_eq!(
            sample(&text, &repo_series("repository_up", name)),
            Some(1.0),
            "{name}\n{text}\n{stderr}"
        );
        assert_eq!(sample(&text, &repo_series("snapshots", name)), Some(1.0));
    }
    // The URL's credentials are cut from the label and the logs; the silent REST server
    // makes restic wait until the 2s deadline.
    let stripped = format!(
        "rest:http://127.0.0.1:{}/repo",
        silent.local_addr().unwrap().port()
    );
    let url_label = text
        .lines()
        .find(|l| l.starts_with("sysgauge_restic_repository_error{"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        url_label.contains(&stripped) && url_label.contains("reason=\"timeout\""),
        "{url_label}"
    );
    for secret in [
        "hunter2-in-url",
        "backupuser",
        "topsecret-key",
        PASSWORD,
        "stray",
    ] {
        assert!(!text.contains(secret), "{secret} in metrics");
        assert!(!stderr.contains(secret), "{secret} in logs:\n{stderr}");
    }

    let mut calls = 0;
    for entry in fs::read_dir(&record).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "argv") {
            calls += 1;
            let argv = fs::read_to_string(&path).unwrap();
            for secret in ["hunter2", "topsecret", PASSWORD, "cat "] {
                assert!(!argv.contains(secret), "{secret} in argv {argv}");
            }
            assert!(
                argv == "version\n" || argv.ends_with("--json\n--no-lock\n"),
                "{argv}"
            );
            let env = fs::read_to_string(path.with_extension("env")).unwrap();
            assert!(
                !env.contains("stray") && !env.contains("/elsewhere"),
                "{env}"
            );
            let restic_vars: Vec<&str> = env.lines().filter(|l| l.starts_with("RESTIC_")).collect();
            if argv == "version\n" {
                assert!(restic_vars.is_empty(), "{env}");
                continue;
            }
            let password_vars = restic_vars
                .iter()
                .filter(|l| l.starts_with("RESTIC_PASSWORD"))
                .count();
            assert_eq!(password_vars, 1, "{restic_vars:?}");
            if env.contains("restic-pw") {
                assert!(env.contains(&format!(
                    "RESTIC_PASSWORD_FILE={}",
                    creds.join("restic-pw").display()
                )));
                assert!(
                    env.contains("AWS_SECRET_ACCESS_KEY=topsecret-key"),
                    "the environment file reaches restic"
                );
            } else {
                assert!(
                    !env.contains("AWS_SECRET_ACCESS_KEY"),
                    "only its own repository gets it"
                );
            }
        }
    }
    // version, then snapshots for each of the two good repositories (local, with no lock:
    // their locks/ folders are listed without restic), and the failing snapshots call of the
    // unreachable one.
    assert_eq!(calls, 4);
}

/// A restic that hangs is killed at the repository's deadline, with everything it started.
#[test]
fn hanging_restic_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("restic");
    fakes::script(
        &fake,
        &format!(
            "[ \"$1\" = version ] && {{ echo 'restic 0.14.0 compiled with go1.19.8 on linux/amd64'; exit 0; }}\nsleep 300 &\necho $! > {d}/child.pid\necho $$ > {d}/leader.pid\nwait\n",
            d = dir.path().display()
        ),
    );
    let start = Instant::now();
    let (out, text, stderr) = exporter(
        &[
            "--restic",
            fake.to_str().unwrap(),
            "--repository",
            "/srv/hangs",
            "--password-file",
            "/p",
            "--collector.timeout",
            "4s",
            "once",
        ],
        &[],
    );
    let elapsed = start.elapsed();
    assert!(out.status.success(), "{stderr}");
    // Default repository deadline: the collector's minus 10% (at most a second).
    assert!(
        elapsed >= Duration::from_millis(3600) && elapsed < Duration::from_millis(4500),
        "{elapsed:?}"
    );
    assert_eq!(
        sample(
            &text,
            "sysgauge_restic_repository_error{repository=\"/srv/hangs\",reason=\"timeout\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "sysgauge_restic_collector_success{collector=\"repositories\"}"
        ),
        Some(1.0)
    );
    assert!(
        stderr.contains("did not finish within 3s 600ms"),
        "{stderr}"
    );
    let pid = |f: &str| -> u32 {
        fs::read_to_string(dir.path().join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (leader, child) = (pid("leader.pid"), pid("child.pid"));
    wait_for(
        "the hung restic and its child to be killed",
        Duration::from_secs(2),
        || (process_gone(leader) && process_gone(child)).then_some(()),
    );
}

/// The JSON of restic >= 0.17 (written from restic's documented schema): summaries, program
/// versions, progress lines mixed in, the exit_error object and exit code 12.
#[test]
fn newer_restic_json_from_fixtures() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("restic");
    let lock_id = "ab".repeat(32);
    fakes::script(
        &fake,
        &format!(
            r#"f={f}
case "$RESTIC_REPOSITORY" in
  bad) cat $f/exit-error-0.17.stderr >&2; exit 12 ;;
esac
case "$1" in
  version) echo 'restic 0.17.3 compiled with go1.23.1 on linux/amd64' ;;
  snapshots) echo '[0:00] 100.00%  1 / 1 index files loaded'; cat $f/snapshots-0.17.json ;;
  list) echo {lock_id} ;;
  cat) [ "$3" = {lock_id} ] && cat $f/lock-0.17.json ;;
  *) exit 1 ;;
esac
"#,
            f = fixtures.display()
        ),
    );
    let (out, text, stderr) = exporter(
        &[
            "--restic",
            fake.to_str().unwrap(),
            "--repository",
            "new",
            "--repository",
            "bad",
            "--password-file",
            "/p",
            "once",
        ],
        &[],
    );
    assert!(out.status.success(), "{stderr}");
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    let db = |m: &str| group(m, "new", "db1", "/var/lib/postgresql", "nightly");
    assert_eq!(v(&repo_series("snapshots", "new")), 3.0);
    assert_eq!(v(&db("group_snapshots")), 2.0);
    assert_eq!(
        v(&db("group_latest_snapshot_timestamp_seconds")),
        1_725_235_200.25
    );
    assert_eq!(v(&db("group_latest_files_new")), 12.0);
    assert_eq!(v(&db("group_latest_files_changed")), 5.0);
    assert_eq!(v(&db("group_latest_files_unmodified")), 90.0);
    assert_eq!(v(&db("group_latest_dirs_new")), 1.0);
    assert_eq!(v(&db("group_latest_dirs_changed")), 2.0);
    assert_eq!(v(&db("group_latest_dirs_unmodified")), 9.0);
    assert_eq!(v(&db("group_latest_data_blobs")), 20.0);
    assert_eq!(v(&db("group_latest_tree_blobs")), 3.0);
    assert_eq!(v(&db("group_latest_added_bytes")), 1_048_576.0);
    assert_eq!(v(&db("group_latest_added_packed_bytes")), 524_288.0);
    assert_eq!(v(&db("group_latest_processed_files")), 107.0);
    assert_eq!(v(&db("group_latest_processed_bytes")), 5_000_000.0);
    assert_eq!(v(&db("group_latest_backup_duration_seconds")), 42.5);
    assert_eq!(
        v(
            "sysgauge_restic_group_latest_program_info{repository=\"new\",hostname=\"db1\",paths=\"/var/lib/postgresql\",tags=\"nightly\",program_version=\"restic 0.17.3\"}"
        ),
        1.0
    );
    let web = |m: &str| group(m, "new", "web1", "/etc/nginx,/srv/www", "");
    assert_eq!(
        v(&web("group_latest_snapshot_timestamp_seconds")),
        1_725_255_000.0
    );
    assert!(
        sample(&text, &web("group_latest_added_bytes")).is_none(),
        "no summary before 0.17"
    );
    assert_eq!(v(&repo_series("locks", "new")), 1.0);
    assert_eq!(v(&repo_series("locks_exclusive", "new")), 1.0);
    assert_eq!(v(&repo_series("locks_stale", "new")), 1.0);
    assert_eq!(
        v(&repo_series("lock_oldest_timestamp_seconds", "new")),
        1_725_238_800.0
    );
    assert_eq!(v("sysgauge_restic_version_info{version=\"0.17.3\"}"), 1.0);
    assert_eq!(
        v("sysgauge_restic_repository_error{repository=\"bad\",reason=\"wrong_password\"}"),
        1.0
    );
    promtool_check_metrics(&text).unwrap();
}

/// `stats` and `check` when enabled: exact size, a failing check on a damaged repository, the
/// time each was taken; under `serve` they run in the background and once per interval.
#[test]
fn stats_and_check_inline_and_in_serve() {
    if !restic_available() {
        return;
    }
    let repo = Repo::init();
    repo.backup("h", &[], &[&repo.data("d")], "2024-05-05 05:05:05", "UTC");
    let broken = Repo::init();
    broken.backup("h", &[], &[&broken.data("d")], "2024-05-05 05:05:05", "UTC");
    // Snapshots still list, check must fail.
    broken.truncate_a_pack();

    let expected: serde_json::Value = serde_json::from_slice(
        &repo
            .restic(
                &["stats", "--mode", "raw-data", "--json", "--no-lock"],
                None,
            )
            .stdout,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let wrapper = dir.path().join("restic");
    fakes::script(
        &wrapper,
        &format!("echo \"$1\" >> {}\nexec restic \"$@\"\n", log.display()),
    );
    let config = dir.path().join("restic.toml");
    fs::write(
        &config,
        format!(
            r#"
restic = "{wrapper}"
state_directory = "{state}"
[collector]
timeout = "60s"
[[repositories]]
name = "ok"
repository = "{repo}"
password_file = "{pw}"
stats = true
check = true
check_interval = "1h"
check_read_data_parts = 2
[[repositories]]
name = "broken"
repository = "{broken}"
password_file = "{bpw}"
check = true
"#,
            wrapper = wrapper.display(),
            repo = repo.path().display(),
            pw = repo.password_file().display(),
            broken = broken.path().display(),
            bpw = broken.password_file().display(),
            state = dir.path().display(),
        ),
    )
    .unwrap();

    let before = now();
    let (out, text, stderr) = exporter(&["--config", config.to_str().unwrap(), "once"], &[]);
    let after = now();
    assert!(out.status.success(), "{stderr}");
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        v(&repo_series("repository_size_bytes", "ok")),
        expected["total_size"].as_f64().unwrap()
    );
    assert_eq!(
        v(&repo_series("repository_blobs", "ok")),
        expected["total_blob_count"].as_f64().unwrap()
    );
    assert_eq!(v(&repo_series("stats_success", "ok")), 1.0);
    assert_eq!(v(&repo_series("check_success", "ok")), 1.0);
    assert_eq!(v(&repo_series("check_success", "broken")), 0.0);
    // restic 0.14's text: one error, the truncated pack; no suggestion.
    assert_eq!(v(&repo_series("check_errors", "broken")), 1.0);
    assert_eq!(v(&repo_series("check_errors", "ok")), 0.0);
    for r in ["ok", "broken"] {
        assert_eq!(v(&repo_series("check_suggest_prune", r)), 0.0);
        assert_eq!(v(&repo_series("check_suggest_repair_index", r)), 0.0);
    }
    assert_eq!(
        sample(&text, &repo_series("check_read_data_part", "broken")),
        None
    );
    assert_eq!(v(&repo_series("repository_up", "broken")), 1.0);
    assert!(
        sample(&text, &repo_series("stats_success", "broken")).is_none(),
        "stats is off for broken"
    );
    for series in [
        repo_series("stats_timestamp_seconds", "ok"),
        repo_series("check_timestamp_seconds", "ok"),
    ] {
        let t = v(&series);
        assert!(
            t >= before && t <= after,
            "{series} = {t}, not within [{before}, {after}]"
        );
    }
    assert!(v(&repo_series("check_duration_seconds", "ok")) > 0.0);
    assert!(
        stderr.contains("restic check failed") && stderr.contains("repository=broken"),
        "{stderr}"
    );
    promtool_check_metrics(&text).unwrap();

    // The rolling read-data subset: part 1 of 2, then 2, then 1 again, across processes.
    let part = |text: &str| {
        let v = |m: &str| sample(text, &repo_series(m, "ok")).unwrap();
        (v("check_read_data_part"), v("check_read_data_parts"))
    };
    assert_eq!(part(&text), (1.0, 2.0));
    let state_file = || {
        let files: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("check-subset.ok.")
            })
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        fs::read_to_string(&files[0]).unwrap()
    };
    assert_eq!(state_file(), "2/2\n");
    for (expected, next) in [((2.0, 2.0), "1/2\n"), ((1.0, 2.0), "2/2\n")] {
        let (out, text, stderr) = exporter(&["--config", config.to_str().unwrap(), "once"], &[]);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(part(&text), expected, "{text}");
        assert_eq!(state_file(), next);
    }
    let calls = fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().filter(|l| *l == "check").count(),
        6,
        "{calls}"
    );
    fs::remove_file(&log).unwrap();

    // serve: scrapes never wait for check, and check runs once per interval however often
    // Prometheus scrapes.
    let port = free_port();
    let _serve = Process::spawn(
        "sysgauge-restic serve",
        Command::new(BIN)
            .args([
                "--config",
                config.to_str().unwrap(),
                "serve",
                "--web.listen-address",
            ])
            .arg(format!("127.0.0.1:{port}")),
        &dir.path().join("serve.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let body = wait_for(
        "the check result to appear",
        Duration::from_secs(120),
        || {
            let (status, body) = http_get(&url, &[]);
            (status == 200
                && body.contains("sysgauge_restic_check_success{repository=\"broken\"}")
                && body.contains("sysgauge_restic_check_success{repository=\"ok\"}"))
            .then_some(body)
        },
    );
    assert_eq!(
        sample(&body, &repo_series("check_success", "ok")),
        Some(1.0)
    );
    assert_eq!(
        sample(&body, &repo_series("check_success", "broken")),
        Some(0.0)
    );
    for _ in 0..3 {
        let (status, body) = http_get(&url, &[]);
        assert_eq!(status, 200);
        assert_eq!(
            sample(&body, &repo_series("check_success", "ok")),
            Some(1.0)
        );
    }
    let calls = fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls.lines().filter(|l| *l == "check").count(),
        2,
        "{calls}"
    );
    assert_eq!(
        calls.lines().filter(|l| *l == "stats").count(),
        1,
        "{calls}"
    );
    // Each repository was read once: scrapes within read_interval (default 5m) reuse it.
    assert_eq!(
        calls.lines().filter(|l| *l == "snapshots").count(),
        2,
        "{calls}"
    );
    // Both repositories are local and hold no lock: their locks/ folders are listed directly,
    // no restic process does it (the locks test covers the folder with locks in it).
    assert_eq!(calls.lines().filter(|l| *l == "list").count(), 0, "{calls}");
}

/// A configuration mistake stops the exporter with a message naming the setting.
#[test]
fn bad_configuration_is_an_error_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("restic.toml");
    fs::write(&config, "[[repositories]]\nrepository = \"/srv/r\"\n").unwrap();
    let (out, _, stderr) = exporter(&["--config", config.to_str().unwrap(), "once"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("repositories[0].password_file") && stderr.contains("exactly one of"),
        "{stderr}"
    );
    let (out, _, stderr) = exporter(&["once"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("no repositories to read"), "{stderr}");
    fs::write(
        &config,
        "[[repositories]]\nrepository = \"/srv/r\"\npasword_file = \"/p\"\n",
    )
    .unwrap();
    let (out, _, stderr) = exporter(&["--config", config.to_str().unwrap(), "once"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("line 3") && stderr.contains("pasword_file"),
        "{stderr}"
    );
}

/// restic 0.14 on damaged repositories: a corrupt snapshot file (restic warns and exits 0), a
/// corrupt lock file and a password file readable by others, each on its own series with the
/// snapshots still reported. Then `serve`: each repository is read at most once per its
/// `read_interval`, scrapes in between start no restic (a wrapper records every call) and
/// report the read's own timestamp.
#[test]
fn warnings_bad_locks_loose_passwords_and_serve_reads_once_per_interval() {
    use std::os::unix::fs::PermissionsExt;
    if !restic_available() {
        return;
    }
    let damaged = Repo::init();
    let d = damaged.data("d");
    damaged.backup("h", &[], &[&d], "2024-05-05 05:05:05", "UTC");
    let gone = damaged.backup("h", &[], &[&d], "2024-05-06 05:05:05", "UTC");
    let snapshot = damaged
        .files("snapshots")
        .into_iter()
        .find(|f| f.starts_with(&gone))
        .unwrap();
    fs::write(damaged.path().join("snapshots").join(snapshot), "garbage").unwrap();
    fs::write(damaged.path().join("locks").join("ab".repeat(32)), "junk").unwrap();
    fs::set_permissions(damaged.password_file(), fs::Permissions::from_mode(0o644)).unwrap();
    let clean = Repo::init();
    clean.backup("h", &[], &[&clean.data("d")], "2024-05-05 05:05:05", "UTC");
    fs::set_permissions(clean.password_file(), fs::Permissions::from_mode(0o600)).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    let wrapper = dir.path().join("restic");
    fakes::script(
        &wrapper,
        &format!(
            "echo \"$1 $RESTIC_REPOSITORY\" >> {}\nexec restic \"$@\"\n",
            log.display()
        ),
    );
    let config = dir.path().join("restic.toml");
    fs::write(
        &config,
        format!(
            r#"
restic = "{wrapper}"
read_interval = "1h"
[collector]
timeout = "60s"
[[repositories]]
name = "damaged"
repository = "{damaged}"
password_file = "{dpw}"
cache_dir = "{cache}"
[[repositories]]
name = "clean"
repository = "{clean}"
password_file = "{cpw}"
cache_dir = "{cache}"
read_interval = "1s"
"#,
            wrapper = wrapper.display(),
            damaged = damaged.path().display(),
            dpw = damaged.password_file().display(),
            clean = clean.path().display(),
            cpw = clean.password_file().display(),
            cache = dir.path().join("cache").display(),
        ),
    )
    .unwrap();

    let (out, text, stderr) = exporter(&["--config", config.to_str().unwrap(), "once"], &[]);
    assert!(out.status.success(), "{stderr}");
    let v = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(v(&repo_series("repository_up", "damaged")), 1.0);
    assert_eq!(v(&repo_series("snapshots", "damaged")), 1.0);
    assert_eq!(v(&repo_series("repository_warnings", "damaged")), 1.0);
    assert_eq!(v(&repo_series("locks", "damaged")), 1.0);
    assert_eq!(v(&repo_series("locks_unreadable", "damaged")), 1.0);
    assert_eq!(v(&repo_series("locks_stale", "damaged")), 0.0);
    assert_eq!(v(&repo_series("password_file_loose", "damaged")), 1.0);
    assert_eq!(v(&repo_series("repository_warnings", "clean")), 0.0);
    assert_eq!(v(&repo_series("locks_unreadable", "clean")), 0.0);
    assert_eq!(v(&repo_series("password_file_loose", "clean")), 0.0);
    for needle in [
        "could not load snapshot",
        "cannot read a lock file",
        "chmod 600",
    ] {
        assert!(
            stderr.contains(needle) && stderr.contains("repository=damaged"),
            "{needle}: {stderr}"
        );
    }
    promtool_check_metrics(&text).unwrap();
    fs::remove_file(&log).unwrap();

    let port = free_port();
    let _serve = Process::spawn(
        "sysgauge-restic serve",
        Command::new(BIN)
            .args([
                "--config",
                config.to_str().unwrap(),
                "serve",
                "--web.listen-address",
            ])
            .arg(format!("127.0.0.1:{port}")),
        &dir.path().join("serve.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let scrape = || {
        let (status, body) = http_get(&url, &[]);
        assert_eq!(status, 200, "{body}");
        let at = |r: &str| sample(&body, &repo_series("repository_read_timestamp_seconds", r));
        (at("damaged").unwrap(), at("clean").unwrap(), body)
    };
    let first = wait_for("serve to answer", Duration::from_secs(60), || {
        let (status, body) = http_get(&url, &[]);
        (status == 200).then(|| {
            sample(
                &body,
                &repo_series("repository_read_timestamp_seconds", "damaged"),
            )
            .unwrap()
        })
    });
    // "clean" (read_interval 1s) is read again on later scrapes; "damaged" (1h) never is.
    let mut clean_reads = std::collections::BTreeSet::new();
    let started = Instant::now();
    while clean_reads.len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{clean_reads:?}"
        );
        let (damaged_at, clean_at, body) = scrape();
        assert_eq!(damaged_at, first, "damaged was read again");
        assert_eq!(
            sample(&body, &repo_series("repository_warnings", "damaged")),
            Some(1.0)
        );
        assert_eq!(
            sample(&body, &repo_series("locks_unreadable", "damaged")),
            Some(1.0)
        );
        clean_reads.insert(clean_at.to_bits());
        std::thread::sleep(Duration::from_millis(600));
    }
    let calls = fs::read_to_string(&log).unwrap();
    let count = |c: &str| calls.lines().filter(|l| *l == c).count();
    let (damaged, clean) = (damaged.path(), clean.path());
    let (damaged, clean) = (damaged.display(), clean.display());
    // One read of "damaged": snapshots, the lock listing and the one lock.
    assert_eq!(count(&format!("snapshots {damaged}")), 1, "{calls}");
    assert_eq!(count(&format!("list {damaged}")), 1, "{calls}");
    assert_eq!(count(&format!("cat {damaged}")), 1, "{calls}");
    // Every restic run for "clean" is a read some scrape reported, with its own timestamp
    // (the scrape that waited for serve may have seen one more).
    let clean_snapshots = count(&format!("snapshots {clean}"));
    assert!(
        clean_snapshots == clean_reads.len() || clean_snapshots == clean_reads.len() + 1,
        "{} reads reported: {calls}",
        clean_reads.len()
    );
    // `restic version` is asked again only when the shortest read_interval has passed.
    assert!(count("version ") <= clean_snapshots, "{calls}");
}
