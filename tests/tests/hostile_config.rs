//! Hostile configuration against the release binaries of all five exporters: huge durations and
//! counts, by flag and by file, in once, textfile and serve, are configuration errors (exit 2,
//! a message naming the flag or the file, line and key), never an abort (exit 134) or another
//! signal; semantic errors name the file and line; and hundreds of mutated configuration files
//! per binary end with an exit code, never a signal.
//!
//! Release binaries, because what broke (an `Instant + Duration` overflow, tokio's semaphore
//! limit, `panic = "abort"`) only showed there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Read,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use sysgauge_testkit::{free_port, tempfile, units::workspace_root};

/// The release build of `name`, one of this workspace's binaries.
fn release_binary(name: &str) -> PathBuf {
    sysgauge_testkit::release_binary(name).expect("a binary of this workspace")
}

const BINARIES: [&str; 5] = [
    "sysgauge-backup",
    "sysgauge-certs",
    "sysgauge-gpu",
    "sysgauge-restic",
    "sysgauge-systemd",
];

/// A huge duration: far past what `Instant` can add, and a plain overflow of u64 seconds.
const HUGE_DURATIONS: [&str; 2] = ["9999999999999h", "584942417355y"];
/// A huge count: `u64::MAX`, past tokio's semaphore limit (`usize::MAX >> 3`).
const HUGE_COUNT: &str = "18446744073709551615";
/// Just past tokio's semaphore limit, and a TOML integer (which `u64::MAX` is not).
const HUGE_FILE_COUNT: &str = "2305843009213693952";

struct Ran {
    status: ExitStatus,
    stderr: String,
    timed_out: bool,
}

/// Runs `binary` with `args`, killed after `limit` (which a configuration error never needs).
fn run(binary: &Path, args: &[&str], limit: Duration) -> Ran {
    let mut child = Command::new(binary)
        .args(args)
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("STATE_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ran {
        status,
        stderr: reader.join().unwrap(),
        timed_out,
    }
}

/// The three modes, each with what it needs to get as far as collecting.
fn modes(dir: &Path) -> Vec<Vec<String>> {
    vec![
        vec!["once".into()],
        vec![
            "textfile".into(),
            "--directory".into(),
            dir.display().to_string(),
        ],
        vec![
            "serve".into(),
            "--web.listen-address".into(),
            format!("127.0.0.1:{}", free_port()),
        ],
    ]
}

fn assert_config_error(ran: &Ran, what: &str, names: &[&str]) {
    assert!(
        ran.status.signal().is_none(),
        "{what}: killed by signal {:?} (134 = abort): {}",
        ran.status.signal(),
        ran.stderr
    );
    assert!(!ran.timed_out, "{what}: still running: {}", ran.stderr);
    assert_eq!(ran.status.code(), Some(2), "{what}: {}", ran.stderr);
    for name in names {
        assert!(
            ran.stderr.contains(name),
            "{what}: the message does not name {name:?}: {}",
            ran.stderr
        );
    }
}

#[test]
fn huge_durations_and_counts_by_flag_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in BINARIES {
        let binary = release_binary(name);
        for mode in modes(dir.path()) {
            let mode: Vec<&str> = mode.iter().map(String::as_str).collect();
            for huge in HUGE_DURATIONS {
                let mut args = vec!["--collector.timeout", huge];
                args.extend(&mode);
                let ran = run(&binary, &args, Duration::from_secs(30));
                assert_config_error(&ran, &format!("{name} {args:?}"), &["--collector.timeout"]);
            }
            if mode[0] == "serve" {
                let mut args = mode.clone();
                args.extend(["--web.max-requests", HUGE_COUNT]);
                let ran = run(&binary, &args, Duration::from_secs(30));
                assert_config_error(&ran, &format!("{name} {args:?}"), &["--web.max-requests"]);
            }
        }
    }
    let systemd = release_binary("sysgauge-systemd");
    for count in [HUGE_COUNT, "2305843009213693952", "0"] {
        let ran = run(
            &systemd,
            &["--max-concurrent-calls", count, "once"],
            Duration::from_secs(30),
        );
        assert_config_error(&ran, count, &["--max-concurrent-calls"]);
    }
    let backup = release_binary("sysgauge-backup");
    let ran = run(
        &backup,
        &["--job", "n=backup.timer:9999999999999h", "once"],
        Duration::from_secs(30),
    );
    assert_config_error(&ran, "--job with a huge age", &["--job", "out of range"]);
}

/// Per binary: configuration files with a huge value, and the key and line each names.
fn huge_files(name: &str) -> Vec<(String, &'static str, usize)> {
    let huge = HUGE_DURATIONS[0];
    let mut files = vec![
        (
            format!("[collector]\n\ntimeout = \"{huge}\"\n"),
            "timeout",
            3,
        ),
        (
            format!("[web]\nmax_requests = {HUGE_FILE_COUNT}\n"),
            "max_requests",
            2,
        ),
    ];
    let repository = "[[repositories]]\nrepository = \"/srv/r\"\npassword_file = \"/p\"\n";
    match name {
        "sysgauge-restic" => {
            for key in ["timeout", "stats_timeout", "check_timeout", "check_interval"] {
                files.push((format!("{repository}stats = true\n{key} = \"{huge}\"\n"), key, 5));
            }
            files.push((format!("concurrency = {HUGE_FILE_COUNT}\n{repository}"), "concurrency", 1));
        }
        "sysgauge-systemd" => {
            files.push((format!("max_concurrent_calls = {HUGE_FILE_COUNT}\n"), "max_concurrent_calls", 1));
        }
        "sysgauge-backup" => files.push((
            format!("[[targets]]\nname = \"a\"\nkind = \"artifact\"\npath = \"/x\"\nmax_age = \"{huge}\"\n"),
            "max_age",
            5,
        )),
        "sysgauge-certs" => files.push((
            format!("[[endpoints]]\nurl = \"tls://127.0.0.1:1\"\ntimeout = \"{huge}\"\n"),
            "timeout",
            3,
        )),
        _ => {}
    }
    files
}

#[test]
fn huge_durations_and_counts_in_the_file_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hostile.toml");
    let config_arg = config.display().to_string();
    for name in BINARIES {
        let binary = release_binary(name);
        for (text, key, line) in huge_files(name) {
            std::fs::write(&config, &text).unwrap();
            for mode in modes(dir.path()) {
                let mut args = vec!["--config", config_arg.as_str()];
                args.extend(mode.iter().map(String::as_str));
                let ran = run(&binary, &args, Duration::from_secs(30));
                assert_config_error(
                    &ran,
                    &format!("{name} {args:?} with\n{text}"),
                    &[&config_arg, &format!("line {line}"), key, "out of range"],
                );
            }
        }
    }
}

#[test]
fn semantic_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("semantic.toml");
    let path = config.display().to_string();
    let cases: [(&str, &str, &str); 5] = [
        (
            "sysgauge-certs",
            "[[endpoints]]\nurl = \"tls://a:1\"\n\n[[endpoints]]\nurl = \"gopher://b\"\n",
            ":5: endpoints[1].url",
        ),
        (
            "sysgauge-certs",
            "[[files]]\npaths = [\"/etc/ssl/[x\"]\n",
            ":2: files[0].paths",
        ),
        (
            "sysgauge-restic",
            "[[repositories]]\nrepository = \"/r\"\npassword_file = \"/p\"\npassword_command = \"x\"\n",
            ":3: repositories[0].password_file",
        ),
        (
            "sysgauge-backup",
            "[[targets]]\nname = \"a\"\nkind = \"job\"\nmax_age = \"1h\"\nunit = \"backup\"\n",
            ":5: targets[0].unit",
        ),
        (
            "sysgauge-systemd",
            "unit_exclude = []\nunit_include = [\"ok\", \"bad(\"]\n",
            ":2: unit_include",
        ),
    ];
    for (name, text, names) in cases {
        std::fs::write(&config, text).unwrap();
        let ran = run(
            &release_binary(name),
            &["--config", &path, "once"],
            Duration::from_secs(30),
        );
        assert_config_error(
            &ran,
            &format!("{name} with\n{text}"),
            &[&format!("{path}{names}")],
        );
    }
    // The same mistake given by flag names the flag.
    let ran = run(
        &release_binary("sysgauge-certs"),
        &["--endpoint", "gopher://b", "once"],
        Duration::from_secs(30),
    );
    assert_config_error(&ran, "--endpoint", &["--endpoint: "]);
}

/// The TOML examples of docs/config.md: the shared sections, and each exporter's.
fn documented_examples() -> Vec<(&'static str, String)> {
    let docs = std::fs::read_to_string(workspace_root().join("docs/config.md")).unwrap();
    let mut common = String::new();
    let mut per_binary: Vec<(&'static str, String)> =
        BINARIES.iter().map(|b| (*b, String::new())).collect();
    let mut section = String::new();
    let mut in_block = false;
    for line in docs.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            section = heading.trim().to_owned();
        } else if line.trim_start().starts_with("```") {
            in_block = !in_block && line.contains("toml");
        } else if in_block {
            let target = if section.starts_with("Sections every exporter") {
                Some(&mut common)
            } else {
                per_binary
                    .iter_mut()
                    .find(|(b, _)| section == *b)
                    .map(|(_, t)| t)
            };
            if let Some(text) = target {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(
        common.contains("[collector]"),
        "no shared example in docs/config.md"
    );
    // The exporter's own keys first: top-level keys must come before the first table.
    per_binary
        .into_iter()
        .map(|(b, own)| (b, format!("{own}\n{common}")))
        .collect()
}

/// A small deterministic generator (xorshift), so that a failure is reproducible from its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NASTY: &[&str] = &[
    "\"9999999999999h\"",
    "\"0s\"",
    "18446744073709551615",
    "2305843009213693952",
    "-1",
    "0",
    "\"\"",
    "\"/dev/zero\"",
    "[\"[\", \"**/\\u0000\"]",
    "\"gopher://x\"",
    "\"tls://[::1\"",
    "1e309",
    "{ a = 1 }",
    "'''",
];

fn mutate(seed: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = seed.lines().map(str::to_owned).collect();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(lines.len());
        match rng.below(4) {
            0 => {
                if let Some((key, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{key}= {}", NASTY[rng.below(NASTY.len())]);
                }
            }
            1 => {
                lines.remove(i);
            }
            2 => {
                let line = lines[i].clone();
                let to = rng.below(lines.len() + 1);
                lines.insert(to, line);
            }
            _ => {
                let mut cut = rng.below(lines[i].len() + 1);
                while !lines[i].is_char_boundary(cut) {
                    cut -= 1;
                }
                lines[i].truncate(cut);
            }
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
    }
    lines.join("\n")
}

/// 300 mutated configuration files per binary (1,500 runs), each run with `once`: an exit
/// code every time, never a signal. Bounded in time: each run is killed after 30 s (counted,
/// not a failure: a valid file may point at a peer that answers slowly), the whole test takes
/// a minute or two on a loaded 2-core machine.
#[test]
fn mutated_configuration_files_never_end_in_a_signal() {
    let mutations: usize = std::env::var("SYSGAUGE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mutated.toml");
    let config_arg = config.display().to_string();
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut codes: std::collections::BTreeMap<(&str, Option<i32>), usize> = Default::default();
    let started = Instant::now();
    for (name, seed) in documented_examples() {
        let binary: PathBuf = release_binary(name);
        for n in 0..mutations {
            let text = mutate(&seed, &mut rng);
            std::fs::write(&config, &text).unwrap();
            let ran = run(
                &binary,
                &["--config", &config_arg, "--log.level", "error", "once"],
                Duration::from_secs(30),
            );
            assert!(
                ran.timed_out || ran.status.signal().is_none(),
                "{name}, mutation {n}: signal {:?}: {}\n--- file ---\n{text}",
                ran.status.signal(),
                ran.stderr
            );
            if ran.status.code() == Some(2) {
                // A configuration error names the file.
                assert!(
                    ran.stderr.contains(&config_arg) || ran.stderr.contains("--"),
                    "{name}, mutation {n}: error without the file: {}\n--- file ---\n{text}",
                    ran.stderr
                );
            }
            *codes.entry((name, ran.status.code())).or_default() += 1;
        }
    }
    eprintln!(
        "mutated configuration files: {codes:?} in {:?}",
        started.elapsed()
    );
    // The mutations must reach past the parser: some files load, some are refused.
    for name in BINARIES {
        assert!(
            codes.get(&(name, Some(2))).copied().unwrap_or(0) > 0,
            "{name}: no mutation was refused: {codes:?}"
        );
    }
}
