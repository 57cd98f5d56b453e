/*!
Test support for sysgauge's end-to-end tests: real components from Debian's packages.

- [`NodeExporter`] runs `prometheus-node-exporter` with only the textfile collector, so a test
  can check that node_exporter reads what an exporter wrote.
- [`Prometheus`] runs a real Prometheus that scrapes a target, and answers PromQL queries.
- [`promtool_check_metrics`] validates exposition text with `promtool check metrics`.
- [`http_get`] fetches a URL with curl (TLS, client certificates and basic auth included).
- [`fakes`]: the fake libnvidia-ml compiled from C, fake programs as shell scripts, file
  modification times.
- [`nagios::Nagios`] runs Debian's Nagios 4 on a temporary configuration and reads its status.dat.
- [`restic::Repo`]: a real restic repository made by Debian's restic in a temporary directory.
- [`systemd::SystemdBoot`] boots a real systemd as PID 1 of new namespaces on an overlay root,
  with the units a test defines, for code that talks to systemd and for unit files.

A component that is not installed makes the test print a loud `SKIP` line and return, unless
`SYSGAUGE_REQUIRE_COMPONENTS=1` is set (the project's test script sets it, so that CI fails
instead of skipping when an install step is missing).
*/
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

pub use tempfile;

pub mod fakes;
pub mod nagios;
pub mod procs;
pub mod restic;
pub mod servers;
pub mod systemd;
pub mod units;

/// Whether `program` can be run. When it cannot, prints why and the test should return; under
/// `SYSGAUGE_REQUIRE_COMPONENTS=1` it panics instead.
pub fn available(program: &str, package: &str) -> bool {
    if which(program).is_some() {
        return true;
    }
    let message = format!(
        "SKIP: {program} is not installed (Debian package {package}); this test needs the real component"
    );
    if std::env::var_os("SYSGAUGE_REQUIRE_COMPONENTS").is_some_and(|v| v == "1") {
        panic!("{message}, and SYSGAUGE_REQUIRE_COMPONENTS=1");
    }
    eprintln!("\n*** {message} ***\n");
    false
}

/// The full path of `program` on PATH (plus /usr/sbin, where Debian puts daemons).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process that is killed (by its own pid) when the guard is dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Process {
    /// Spawns `cmd` with stdout and stderr going to `log`.
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Process {
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child,
            name: name.to_owned(),
            log: log.to_owned(),
        }
    }

    /// What the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the process's log if it has exited; for use inside `wait_for` loops, so
    /// that a server that died at start-up says why instead of timing out.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "{} exited with {status}; its log:\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("stopped {} (pid {})", self.name, self.child.id());
        }
    }
}

/// Every file under `dir` (symbolic links included, not followed), relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// Runs a command to completion and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// A GET with curl. `extra` are more curl arguments (`-u user:pw`, `--cacert`, headers).
/// Returns the HTTP status and the body; status 0 and curl's complaint when there was no HTTP
/// answer at all.
pub fn http_get(url: &str, extra: &[&str]) -> (u16, String) {
    let out = run(Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    match code.trim().parse().unwrap_or(0) {
        0 => (0, String::from_utf8_lossy(&out.stderr).into_owned()),
        code => (code, body.to_owned()),
    }
}

/// Runs `promtool check metrics` on `text`; `Err` carries promtool's complaint.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(said)
    }
}

/// The value of the sample `series` in exposition text, e.g. `node_textfile_scrape_error` or
/// `foo{a="b",c="d"}`. Label order does not matter: node_exporter sorts labels by name.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    let wanted = parse_series(series)?;
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (parse_series(name)? == wanted).then(|| value.parse().ok())?
    })
}

/// A series' name and its labels sorted by name; label values keep their escapes.
fn parse_series(series: &str) -> Option<(String, Vec<(String, String)>)> {
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_owned(), Vec::new()));
    };
    let mut labels = Vec::new();
    let mut rest = rest.strip_suffix('}')?;
    while !rest.is_empty() {
        let (label, after) = rest.split_once("=\"")?;
        // The value ends at the first quote that is not escaped.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end?;
        labels.push((
            label.trim_start_matches(',').to_owned(),
            after[..end].to_owned(),
        ));
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels.sort();
    Some((name.to_owned(), labels))
}

/// The `# TYPE` of `family` in exposition text.
pub fn family_type<'a>(text: &'a str, family: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix("# TYPE ")?;
        let (name, kind) = rest.split_once(' ')?;
        (name == family).then_some(kind)
    })
}

/// A real node_exporter with only the textfile collector enabled.
#[derive(Debug)]
pub struct NodeExporter {
    _process: Process,
    port: u16,
}

impl NodeExporter {
    /// Starts node_exporter reading `textfile_dir`; `None` when it is not installed.
    pub fn start(textfile_dir: &Path, log_dir: &Path) -> Option<NodeExporter> {
        if !available("prometheus-node-exporter", "prometheus-node-exporter") {
            return None;
        }
        let port = free_port();
        let process = Process::spawn(
            "node_exporter",
            Command::new("prometheus-node-exporter")
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--collector.disable-defaults")
                .arg("--collector.textfile")
                .arg(format!(
                    "--collector.textfile.directory={}",
                    textfile_dir.display()
                )),
            &log_dir.join("node_exporter.log"),
        );
        let url = format!("http://127.0.0.1:{port}/metrics");
        wait_for("node_exporter to answer", Duration::from_secs(20), || {
            (http_get(&url, &[]).0 == 200).then_some(())
        });
        Some(NodeExporter {
            _process: process,
            port,
        })
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// One scrape of node_exporter's /metrics.
    pub fn scrape(&self) -> String {
        let (status, body) = http_get(&format!("http://127.0.0.1:{}/metrics", self.port), &[]);
        assert_eq!(status, 200, "node_exporter answered {status}");
        body
    }
}

/// A real Prometheus scraping one job every second.
#[derive(Debug)]
pub struct Prometheus {
    _process: Process,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus with `scrape_config` (a YAML list item under `scrape_configs:`, e.g.
    /// job, static targets and scheme); `None` when it is not installed.
    pub fn start(scrape_config: &str) -> Option<Prometheus> {
        Self::start_with_rules(scrape_config, &[])
    }

    /// Like [`Prometheus::start`], with `rule_files` (alerting and recording rules) loaded and
    /// evaluated every second.
    pub fn start_with_rules(scrape_config: &str, rule_files: &[&Path]) -> Option<Prometheus> {
        if !available("prometheus", "prometheus") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let rules: String = rule_files
            .iter()
            .map(|p| format!("  - {:?}\n", p.display().to_string()))
            .collect();
        let rules = if rules.is_empty() {
            String::new()
        } else {
            format!("rule_files:\n{rules}")
        };
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n{rules}scrape_configs:\n{scrape_config}\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let process = Process::spawn(
            "prometheus",
            Command::new("prometheus")
                .arg(format!(
                    "--config.file={}",
                    dir.path().join("prometheus.yml").display()
                ))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}")),
            &dir.path().join("prometheus.log"),
        );
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        wait_for("Prometheus to be ready", Duration::from_secs(60), || {
            (http_get(&ready, &[]).0 == 200).then_some(())
        });
        Some(Prometheus {
            _process: process,
            port,
            _dir: dir,
        })
    }

    /// The port it listens on, on 127.0.0.1 (its own `/metrics` tells its memory and series).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An instant query; returns each result's labels and value.
    pub fn query(&self, promql: &str) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let (status, body) = http_get(
            &url,
            &["-G", "--data-urlencode", &format!("query={promql}")],
        );
        assert_eq!(status, 200, "query {promql} failed: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let labels = r["metric"].as_object().cloned().unwrap_or_default();
                let value = r["value"][1].as_str().unwrap().parse().unwrap();
                (labels, value)
            })
            .collect()
    }

    /// GET of an HTTP API path such as `/api/v1/rules`; returns the JSON answer's `data`.
    pub fn api(&self, path: &str) -> serde_json::Value {
        let (status, body) = http_get(&format!("http://127.0.0.1:{}{path}", self.port), &[]);
        assert_eq!(status, 200, "GET {path} failed: {body}");
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"].take()
    }

    /// Waits until `promql` returns at least one series, and returns the results.
    pub fn wait_for_series(
        &self,
        promql: &str,
        timeout: Duration,
    ) -> Vec<(serde_json::Map<String, serde_json::Value>, f64)> {
        wait_for(&format!("a result for {promql}"), timeout, || {
            let r = self.query(promql);
            (!r.is_empty()).then_some(r)
        })
    }
}

/// Certificates made by the real `openssl` command.
pub mod openssl {
    use super::*;

    /// Makes a key and a certificate for `cn` under `dir/name.{key,pem}`, valid from
    /// `not_before` to `not_after` (openssl `-not_before`/`-not_after` syntax,
    /// `YYYYMMDDHHMMSSZ`), self-signed or signed by `ca` (`dir/ca.{key,pem}` paths).
    pub fn certificate(
        dir: &Path,
        name: &str,
        cn: &str,
        not_before: &str,
        not_after: &str,
        ca: Option<(&Path, &Path)>,
    ) -> (PathBuf, PathBuf) {
        let key = dir.join(format!("{name}.key"));
        let pem = dir.join(format!("{name}.pem"));
        // openssl ca's bookkeeping goes to a hidden folder, out of the way of the tests' globs.
        let work = dir.join(format!(".openssl-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let csr = work.join("req.csr");
        let ok = |out: Output| {
            assert!(
                out.status.success(),
                "openssl failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        ok(run(Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr)
            .args(["-subj", &format!("/CN={cn}")])));
        // `openssl ca` is the only command of openssl 3.0 that takes explicit dates.
        let db = work.join("index.db");
        std::fs::write(&db, "").unwrap();
        let conf = work.join("ca.cnf");
        std::fs::write(
            &conf,
            format!(
                "[ca]\ndefault_ca=d\n[d]\ndatabase={db}\nnew_certs_dir={dir}\nserial={serial}\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\nunique_subject=no\n[p]\ncommonName=supplied\n[ext]\nbasicConstraints=critical,CA:{is_ca}\nsubjectAltName=DNS:{cn}\nkeyUsage=critical,digitalSignature,keyCertSign,cRLSign\n",
                db = db.display(),
                dir = work.display(),
                serial = work.join("serial").display(),
                is_ca = if ca.is_none() { "TRUE" } else { "FALSE" },
            ),
        )
        .unwrap();
        // Distinct serials per name, so that certificates of one CA never share one.
        let serial: u32 = name
            .bytes()
            .fold(0x1000, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
        std::fs::write(
            work.join("serial"),
            format!("{:08X}\n", serial & 0x7fff_ffff),
        )
        .unwrap();
        let mut cmd = Command::new("openssl");
        cmd.args(["ca", "-batch", "-notext", "-config"])
            .arg(&conf)
            .args([
                "-extensions",
                "ext",
                "-startdate",
                not_before,
                "-enddate",
                not_after,
            ])
            .arg("-in")
            .arg(&csr)
            .arg("-out")
            .arg(&pem);
        match ca {
            Some((ca_pem, ca_key)) => cmd.arg("-cert").arg(ca_pem).arg("-keyfile").arg(ca_key),
            None => cmd.arg("-selfsign").arg("-keyfile").arg(&key),
        };
        ok(run(&mut cmd));
        (pem, key)
    }

    /// Makes `dir/name.crl` (PEM) with `openssl ca -gencrl`: issued by `ca` (certificate and
    /// key paths), listing `revoked` (PEM certificates of that CA), with thisUpdate and
    /// nextUpdate as given (`YYYYMMDDHHMMSSZ`).
    pub fn crl(
        dir: &Path,
        name: &str,
        (ca_pem, ca_key): (&Path, &Path),
        revoked: &[&Path],
        this_update: &str,
        next_update: &str,
    ) -> PathBuf {
        let work = dir.join(format!(".openssl-crl-{name}"));
        std::fs::create_dir_all(&work).unwrap();
        let db = work.join("index.db");
        std::fs::write(&db, "").unwrap();
        std::fs::write(work.join("crlnumber"), "01\n").unwrap();
        let conf = work.join("ca.cnf");
        std::fs::write(
            &conf,
            format!(
                "[ca]\ndefault_ca=d\n[d]\ndatabase={db}\ncrlnumber={n}\ndefault_md=sha256\n",
                db = db.display(),
                n = work.join("crlnumber").display(),
            ),
        )
        .unwrap();
        let ca = |cmd: &mut Command| -> Output {
            run(cmd
                .arg("-config")
                .arg(&conf)
                .arg("-cert")
                .arg(ca_pem)
                .arg("-keyfile")
                .arg(ca_key))
        };
        let ok = |out: Output| {
            assert!(
                out.status.success(),
                "openssl failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for cert in revoked {
            ok(ca(Command::new("openssl")
                .args(["ca", "-revoke"])
                .arg(cert)));
        }
        let crl = dir.join(format!("{name}.crl"));
        ok(ca(Command::new("openssl")
            .args(["ca", "-gencrl", "-crl_lastupdate", this_update])
            .args(["-crl_nextupdate", next_update, "-out"])
            .arg(&crl)));
        crl
    }

    /// `openssl x509 -enddate` of a PEM file, as a Unix timestamp.
    pub fn not_after(pem: &Path) -> i64 {
        x509_date(pem, "-enddate")
    }

    /// `openssl x509 -startdate` of a PEM file, as a Unix timestamp.
    pub fn not_before(pem: &Path) -> i64 {
        x509_date(pem, "-startdate")
    }

    fn x509_date(pem: &Path, flag: &str) -> i64 {
        let out = run(Command::new("openssl")
            .args(["x509", "-noout", flag, "-in"])
            .arg(pem));
        let text = String::from_utf8_lossy(&out.stdout);
        let date = text.trim().split_once('=').unwrap().1.to_owned();
        let out = run(Command::new("date").args(["-u", "-d", &date, "+%s"]));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

/// A binary of the workspace (`sysgauge-certs`) as a debug build, built (or found up to date)
/// by cargo; `None` when the workspace has no such exporter. For tests of the code; tests of
/// what ships use [`release_binary`].
pub fn workspace_binary(name: &str) -> Option<PathBuf> {
    static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    built_binary(name, "debug", &BUILT)
}

/// The path of binary `name` of this workspace built with `cargo build --release`
/// (`target/release/<name>`): the binary users run (`panic = "unwind"`, LTO). Built once per test
/// process like [`workspace_binary`]; `None` when no crate of the workspace is called `name`.
/// For the end-to-end tests of what ships: the fault tests, the units under a booted systemd
/// (installed at `/usr/bin`), the mixin's real-Prometheus test.
pub fn release_binary(name: &str) -> Option<PathBuf> {
    static BUILT: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    built_binary(name, "release", &BUILT)
}

/// `target/<profile>/<name>`, after building every binary of the workspace in `profile` once
/// (`built` says whether this process did already).
fn built_binary(name: &str, profile: &str, built: &std::sync::Mutex<bool>) -> Option<PathBuf> {
    let root = units::workspace_root();
    let short = name.strip_prefix("sysgauge-").unwrap_or(name);
    if !root
        .join("exporters")
        .join(short)
        .join("Cargo.toml")
        .is_file()
    {
        return None;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join(profile).join(name);
    // Built once per test process, and as the whole workspace: a `-p NAME` build resolves
    // features for that package alone and would rebuild the dependencies that `cargo build
    // --workspace` (or `cargo test --workspace`) already made, doubling time and disk.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let started = Instant::now();
        let mut args = vec!["build", "--quiet", "--locked", "--workspace", "--bins"];
        if profile == "release" {
            args.push("--release");
        }
        let out = run(Command::new(env!("CARGO")).args(&args).current_dir(&root));
        assert!(
            out.status.success(),
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        // How long the build took, for CI's time budget (the release build is the costly one).
        eprintln!(
            "cargo {}: {:.1}s",
            args.join(" "),
            started.elapsed().as_secs_f64()
        );
        *built = true;
    }
    assert!(binary.is_file(), "{} was not built", binary.display());
    Some(binary)
}

/// The release build of the example `example` (of any workspace crate), for behaviour of the
/// release profile that no shipped binary can be made to show on purpose (a panicking
/// collector). Built with `--workspace`, so that features resolve as for the shipped binaries
/// and the dependencies `cargo build --release --workspace` made are reused: a `-p` build
/// resolves features for one package and rebuilt them (about three minutes on CI's two cores).
pub fn release_example(example: &str) -> PathBuf {
    cargo_release(&["--workspace", "--example", example]);
    let binary = release_dir().join("examples").join(example);
    assert!(binary.is_file(), "{} was not built", binary.display());
    binary
}

fn release_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| units::workspace_root().join("target"))
        .join("release")
}

fn cargo_release(args: &[&str]) {
    let out = run(Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--release", "--locked"])
        .args(args)
        .current_dir(units::workspace_root()));
    assert!(
        out.status.success(),
        "cargo build --release {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
