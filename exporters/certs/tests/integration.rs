//! End-to-end tests of sysgauge-certs: the real binary against certificates made by the real
//! openssl, read by a real node_exporter, scraped by a real Prometheus, checked by promtool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    NodeExporter, Process, Prometheus, available, family_type, free_port, http_get, openssl,
    promtool_check_metrics, run, sample, tempfile, wait_for,
};

const BIN: &str = env!("CARGO_BIN_EXE_sysgauge-certs");

fn certs(args: &[&str]) -> Output {
    run(Command::new(BIN).args(args))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The labels of one certificate, as the exporter writes them.
fn cert_series(
    metric: &str,
    path: &Path,
    index: usize,
    cn: &str,
    issuer: &str,
    pem: &Path,
) -> String {
    let serial = run(Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pem));
    let serial = stdout(&serial)
        .trim()
        .trim_start_matches("serial=")
        .to_owned();
    format!(
        "{metric}{{path=\"{}\",index=\"{index}\",subject_cn=\"{cn}\",issuer_cn=\"{issuer}\",serial=\"{serial}\"}}",
        path.display()
    )
}

/// A directory of certificates: valid, expired, not yet valid, a CA and a leaf it signed.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        if !available("openssl", "openssl") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        openssl::certificate(
            d,
            "valid",
            "valid.test",
            "20200101000000Z",
            "20400101000000Z",
            None,
        );
        openssl::certificate(
            d,
            "expired",
            "expired.test",
            "20000101000000Z",
            "20010101000000Z",
            None,
        );
        openssl::certificate(
            d,
            "future",
            "future.test",
            "20900101000000Z",
            "20910101000000Z",
            None,
        );
        let (ca, ca_key) = openssl::certificate(
            d,
            "ca",
            "Test Root CA",
            "20200101000000Z",
            "20450101000000Z",
            None,
        );
        openssl::certificate(
            d,
            "leaf",
            "leaf.test",
            "20200101000000Z",
            "20390101000000Z",
            Some((&ca, &ca_key)),
        );
        openssl::certificate(
            d,
            "oldleaf",
            "oldleaf.test",
            "20000101000000Z",
            "20010101000000Z",
            Some((&ca, &ca_key)),
        );
        Some(Fixture { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn once_reports_every_certificate_with_the_dates_openssl_reads() {
    let Some(f) = Fixture::new() else { return };
    // A bundle: a good certificate, a corrupt block, a private key, another good one.
    let valid = std::fs::read_to_string(f.path("valid.pem")).unwrap();
    let expired = std::fs::read_to_string(f.path("expired.pem")).unwrap();
    let corrupt = valid.replacen("MII", "M!I", 1);
    let key = std::fs::read_to_string(f.path("valid.key")).unwrap();
    let bundle_dir = f.path("bundles");
    std::fs::create_dir(&bundle_dir).unwrap();
    let bundle = bundle_dir.join("bundle.pem");
    std::fs::write(&bundle, format!("{valid}{corrupt}{key}{expired}")).unwrap();
    // The same certificate as DER.
    let der = bundle_dir.join("future.der");
    run(Command::new("openssl")
        .args(["x509", "-outform", "der", "-in"])
        .arg(f.path("future.pem"))
        .arg("-out")
        .arg(&der));
    std::fs::write(bundle_dir.join("notes.txt"), "not a certificate\n").unwrap();

    let pattern = format!("{}/*.pem", f.dir.path().display());
    let out = certs(&[
        "--path",
        &pattern,
        "--path",
        bundle_dir.to_str().unwrap(),
        "once",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    for (name, cn, issuer) in [
        ("valid", "valid.test", "valid.test"),
        ("expired", "expired.test", "expired.test"),
        ("future", "future.test", "future.test"),
        ("leaf", "leaf.test", "Test Root CA"),
    ] {
        let pem = f.path(&format!("{name}.pem"));
        let after = cert_series(
            "sysgauge_cert_not_after_timestamp_seconds",
            &pem,
            0,
            cn,
            issuer,
            &pem,
        );
        let before = cert_series(
            "sysgauge_cert_not_before_timestamp_seconds",
            &pem,
            0,
            cn,
            issuer,
            &pem,
        );
        assert_eq!(
            sample(&text, &after),
            Some(openssl::not_after(&pem) as f64),
            "{after} in\n{text}"
        );
        assert_eq!(
            sample(&text, &before),
            Some(openssl::not_before(&pem) as f64),
            "{before}"
        );
    }
    // The bundle: certificates 0 and 2 are good, certificate 1 (PEM block 1) is corrupt, and
    // the key (PEM block 2) is not counted.
    let b = |i: usize, cn: &str, pem: &str| {
        cert_series(
            "sysgauge_cert_not_after_timestamp_seconds",
            &bundle,
            i,
            cn,
            cn,
            &f.path(pem),
        )
    };
    assert_eq!(
        sample(&text, &b(0, "valid.test", "valid.pem")),
        Some(openssl::not_after(&f.path("valid.pem")) as f64)
    );
    assert_eq!(
        sample(&text, &b(2, "expired.test", "expired.pem")),
        Some(openssl::not_after(&f.path("expired.pem")) as f64)
    );
    let file = |metric: &str, path: &Path, extra: &str| {
        format!("{metric}{{path=\"{}\"{extra}}}", path.display())
    };
    assert_eq!(
        sample(&text, &file("sysgauge_cert_file_certificates", &bundle, "")),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            &file(
                "sysgauge_cert_file_errors",
                &bundle,
                ",reason=\"bad_certificate\""
            )
        ),
        Some(1.0)
    );
    assert!(
        stderr(&out).contains(&format!("{}: PEM block 1 (line", bundle.display())),
        "{}",
        stderr(&out)
    );
    // DER, and a file that is no certificate at all.
    let future = f.path("future.pem");
    assert_eq!(
        sample(
            &text,
            &cert_series(
                "sysgauge_cert_not_after_timestamp_seconds",
                &der,
                0,
                "future.test",
                "future.test",
                &future
            )
        ),
        Some(openssl::not_after(&future) as f64)
    );
    let notes = bundle_dir.join("notes.txt");
    assert_eq!(
        sample(
            &text,
            &file(
                "sysgauge_cert_file_errors",
                &notes,
                ",reason=\"no_certificate\""
            )
        ),
        Some(1.0)
    );
    // Each source says how many files it matched: 6 PEM files in the fixture directory.
    assert_eq!(
        sample(
            &text,
            &format!("sysgauge_cert_source_files{{source=\"{pattern}\"}}")
        ),
        Some(6.0)
    );
    assert_eq!(
        sample(
            &text,
            "sysgauge_cert_collector_success{collector=\"files\"}"
        ),
        Some(1.0)
    );
    if available("promtool", "prometheus") {
        promtool_check_metrics(&text).unwrap();
    }
}

#[test]
fn chain_verification_and_key_match_from_the_config_file() {
    let Some(f) = Fixture::new() else { return };
    let config = f.path("certs.toml");
    std::fs::write(
        &config,
        format!(
            "[[files]]\npaths = [\"{d}/leaf.pem\", \"{d}/oldleaf.pem\", \"{d}/valid.pem\"]\nca_bundle = \"{d}/ca.pem\"\n\n\
             [[files]]\npaths = [\"{d}/expired.pem\"]\nkey = \"valid.key\"\n\n\
             [[files]]\npaths = [\"{d}/future.pem\"]\nkey = \"{d}/future.key\"\n",
            d = f.dir.path().display()
        ),
    )
    .unwrap();
    let out = certs(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let ca = f.path("ca.pem");
    let verified = |name: &str| {
        let series = format!(
            "sysgauge_cert_file_chain_verified{{path=\"{}\",ca_bundle=\"{}\"}}",
            f.path(name).display(),
            ca.display()
        );
        sample(&text, &series)
    };
    assert_eq!(verified("leaf.pem"), Some(1.0), "{text}");
    assert_eq!(
        verified("oldleaf.pem"),
        Some(0.0),
        "an expired leaf must not verify"
    );
    assert_eq!(
        verified("valid.pem"),
        Some(0.0),
        "a certificate of another issuer must not verify"
    );
    assert!(
        stderr(&out).contains("does not verify"),
        "the reason must be logged"
    );
    let key_match = |name: &str, key: &str| {
        sample(
            &text,
            &format!(
                "sysgauge_cert_file_key_match{{path=\"{}\",key_path=\"{}\"}}",
                f.path(name).display(),
                f.path(key).display()
            ),
        )
    };
    assert_eq!(
        key_match("expired.pem", "valid.key"),
        Some(0.0),
        "a relative key path is taken from the certificate's directory"
    );
    assert_eq!(key_match("future.pem", "future.key"), Some(1.0));
}

#[test]
fn textfile_is_read_by_a_real_node_exporter() {
    let Some(f) = Fixture::new() else { return };
    let textdir = tempfile::tempdir().unwrap();
    let pem = f.path("valid.pem");
    let out = certs(&[
        "--path",
        pem.to_str().unwrap(),
        "textfile",
        "--directory",
        textdir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = textdir.path().join("sysgauge-certs.prom");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let written = std::fs::read_to_string(&file).unwrap();
    if available("promtool", "prometheus") {
        promtool_check_metrics(&written).unwrap();
    }
    let Some(node) = NodeExporter::start(textdir.path(), f.dir.path()) else {
        return;
    };
    let scraped = node.scrape();
    assert_eq!(
        sample(&scraped, "node_textfile_scrape_error"),
        Some(0.0),
        "{scraped}"
    );
    for family in [
        "sysgauge_cert_not_after_timestamp_seconds",
        "sysgauge_cert_collector_success",
        "sysgauge_cert_build_info",
    ] {
        assert_eq!(
            family_type(&scraped, family),
            Some("gauge"),
            "{family} in\n{scraped}"
        );
    }
    let series = cert_series(
        "sysgauge_cert_not_after_timestamp_seconds",
        &pem,
        0,
        "valid.test",
        "valid.test",
        &pem,
    );
    assert_eq!(
        sample(&scraped, &series),
        Some(openssl::not_after(&pem) as f64)
    );
}

#[test]
fn textfile_that_cannot_be_written_fails_and_says_why() {
    let out = certs(&[
        "--path",
        "/etc/hostname",
        "textfile",
        "--directory",
        "/nonexistent/dir",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/dir/sysgauge-certs.prom"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_polling_reader_never_sees_a_partial_textfile_over_2000_rewrites() {
    let Some(f) = Fixture::new() else { return };
    let textdir = tempfile::tempdir().unwrap();
    let file = textdir.path().join("sysgauge-certs.prom");
    let pattern = format!("{}/*.pem", f.dir.path().display());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (file, done) = (file.clone(), Arc::clone(&done));
        std::thread::spawn(move || {
            let (mut reads, mut partial) = (0u64, 0u64);
            while !done.load(Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    reads += 1;
                    // A whole file ends with the build_info sample, the last family written.
                    let whole =
                        text.ends_with("\"} 1\n") && text.contains("sysgauge_cert_build_info{");
                    partial += u64::from(!whole);
                }
            }
            (reads, partial)
        })
    };
    let started = Instant::now();
    for i in 0..2000 {
        let out = certs(&[
            "--path",
            &pattern,
            "textfile",
            "--directory",
            textdir.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "rewrite {i}: {}", stderr(&out));
    }
    done.store(true, Ordering::Relaxed);
    let (reads, partial) = reader.join().unwrap();
    eprintln!(
        "2000 rewrites in {:?}; the reader read the file {reads} times",
        started.elapsed()
    );
    assert!(
        reads > 100,
        "the reader barely read the file ({reads} times)"
    );
    assert_eq!(
        partial, 0,
        "the reader saw a partial file {partial} times out of {reads}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(textdir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["sysgauge-certs.prom"],
        "temporary files were left behind"
    );
}

/// `serve` on a free port, stopped when dropped.
struct Serve {
    process: Process,
    port: u16,
    _logs: tempfile::TempDir,
}

impl Serve {
    /// Runs `sysgauge-certs ARGS serve --web.listen-address 127.0.0.1:PORT SERVE_ARGS`.
    fn start(args: &[&str], serve_args: &[&str], scheme: &str, curl_extra: &[&str]) -> Serve {
        let port = free_port();
        let logs = tempfile::tempdir().unwrap();
        let address = format!("127.0.0.1:{port}");
        let mut process = Process::spawn(
            "sysgauge-certs serve",
            Command::new(BIN)
                .args(args)
                .args(["serve", "--web.listen-address", &address])
                .args(serve_args),
            &logs.path().join("serve.log"),
        );
        let url = format!("{scheme}://localhost:{port}/-/healthy");
        wait_for("sysgauge-certs to listen", Duration::from_secs(20), || {
            process.assert_running();
            (http_get(&url, curl_extra).0 != 0).then_some(())
        });
        Serve {
            process,
            port,
            _logs: logs,
        }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://localhost:{}{path}", self.port)
    }
}

#[test]
fn serve_is_scraped_by_a_real_prometheus() {
    let Some(f) = Fixture::new() else { return };
    let pem = f.path("leaf.pem");
    let serve = Serve::start(&["--path", pem.to_str().unwrap()], &[], "http", &[]);
    let Some(prometheus) = Prometheus::start(&format!(
        "- job_name: certs\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
        serve.port
    )) else {
        return;
    };
    let result = prometheus.wait_for_series(
        "sysgauge_cert_not_after_timestamp_seconds{subject_cn=\"leaf.test\"}",
        Duration::from_secs(30),
    );
    assert_eq!(result.len(), 1);
    assert_eq!(result[0].1, openssl::not_after(&pem) as f64);
    assert_eq!(result[0].0["issuer_cn"], "Test Root CA");
    let up = prometheus.query("up{job=\"certs\"}");
    assert_eq!(up[0].1, 1.0);
}

#[test]
fn serve_negotiates_openmetrics_and_both_formats_pass_promtool() {
    let Some(f) = Fixture::new() else { return };
    let serve = Serve::start(
        &["--path", f.path("valid.pem").to_str().unwrap()],
        &[],
        "http",
        &[],
    );
    let url = serve.url("http", "/metrics");
    let (status, classic) = http_get(&url, &[]);
    assert_eq!(status, 200);
    assert!(!classic.contains("# EOF"));
    let accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let headers =
        run(Command::new("curl").args(["-sS", "-D", "-", "-o", "/dev/null", "-H", accept, &url]));
    assert!(
        stdout(&headers)
            .to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{}",
        stdout(&headers)
    );
    let (_, om) = http_get(&url, &["-H", accept]);
    assert!(om.ends_with("# EOF\n"), "{om}");
    if available("promtool", "prometheus") {
        promtool_check_metrics(&classic).unwrap();
        promtool_check_metrics(&om).unwrap();
    }
    let (status, landing) = http_get(&serve.url("http", "/"), &[]);
    assert_eq!(status, 200);
    assert!(landing.contains("href=\"/metrics\""));
    assert_eq!(http_get(&serve.url("http", "/nope"), &[]).0, 404);
    assert_eq!(http_get(&url, &["-X", "POST"]).0, 405);
}

#[test]
fn tls_and_basic_auth_from_a_web_config_file() {
    let Some(f) = Fixture::new() else { return };
    if !available("curl", "curl") {
        return;
    }
    // The server certificate is the CA-signed leaf for "localhost".
    let d = f.dir.path();
    openssl::certificate(
        d,
        "server",
        "localhost",
        "20200101000000Z",
        "20400101000000Z",
        Some((&f.path("ca.pem"), &f.path("ca.key"))),
    );
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    let web = f.path("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: {d}/server.pem\n  key_file: {d}/server.key\n  min_version: TLS12\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
             basic_auth_users:\n  prometheus: {hash}\n",
            d = d.display()
        ),
    )
    .unwrap();
    let ca = f.path("ca.pem");
    let cacert = ca.to_str().unwrap();
    let serve = Serve::start(
        &["--path", f.path("valid.pem").to_str().unwrap()],
        &["--web.config.file", web.to_str().unwrap()],
        "https",
        &["--cacert", cacert],
    );
    let url = serve.url("https", "/metrics");
    let (status, body) = http_get(&url, &["--cacert", cacert, "-u", "prometheus:s3cret"]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("sysgauge_cert_not_after_timestamp_seconds{"));
    assert_eq!(
        http_get(&url, &["--cacert", cacert, "-u", "prometheus:wrong"]).0,
        401
    );
    assert_eq!(
        http_get(&url, &["--cacert", cacert, "-u", "someone:s3cret"]).0,
        401
    );
    assert_eq!(http_get(&url, &["--cacert", cacert]).0, 401);
    let headers = run(Command::new("curl").args([
        "-sS",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "-u",
        "prometheus:s3cret",
        "--cacert",
        cacert,
        &url,
    ]));
    assert!(
        stdout(&headers)
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff")
    );
    // Plain HTTP on the TLS port gets no metrics.
    let (status, _) = http_get(&serve.url("http", "/metrics"), &["-u", "prometheus:s3cret"]);
    assert_ne!(status, 200);
}

/// A raw HTTP/1.0 GET, so that hundreds can run at once without a process each.
fn raw_get(port: u16, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, response)
}

#[test]
fn two_hundred_concurrent_scrapes_all_succeed() {
    let Some(f) = Fixture::new() else { return };
    let pattern = format!("{}/*.pem", f.dir.path().display());
    let serve = Serve::start(&["--path", &pattern], &[], "http", &[]);
    let port = serve.port;
    let barrier = Arc::new(std::sync::Barrier::new(200));
    let scrapes: Vec<_> = (0..200)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                raw_get(port, "/metrics")
            })
        })
        .collect();
    let mut ok = 0;
    for s in scrapes {
        let (status, body) = s.join().unwrap();
        assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
        assert!(
            body.contains("sysgauge_cert_build_info{"),
            "incomplete body"
        );
        ok += 1;
    }
    assert_eq!(ok, 200);
}

#[test]
fn sigterm_stops_serve_cleanly() {
    let mut serve = Serve::start(&["--path", "/etc/hostname"], &[], "http", &[]);
    let status = serve
        .process
        .terminate(Duration::from_secs(10))
        .expect("serve did not exit on SIGTERM");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("certs.toml");
    std::fs::write(
        &config,
        "[[files]]\npaths = [\"/etc/ssl/certs/*.pem\"]\nca_bundel = \"/x\"\n",
    )
    .unwrap();
    let out = certs(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(&config.display().to_string()), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("ca_bundel"), "{err}");

    let out = certs(&["--path", "/etc/[", "once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid path pattern \"/etc/[\""),
        "{}",
        stderr(&out)
    );

    let out = certs(&["once"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--path"), "{}", stderr(&out));

    let web = dir.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  alice: notahash\n").unwrap();
    let out = certs(&[
        "--path",
        "/etc/hostname",
        "serve",
        "--web.listen-address",
        "127.0.0.1:0",
        "--web.config.file",
        web.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("basic_auth_users.alice"),
        "{}",
        stderr(&out)
    );
}
