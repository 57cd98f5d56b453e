//! Helpers shared by the test modules: running the binary, fixtures, `serve`.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use sysgauge_testkit::{Process, available, free_port, http_get, openssl, run, tempfile, wait_for};

pub const BIN: &str = env!("CARGO_BIN_EXE_sysgauge-certs");

pub fn certs(args: &[&str]) -> Output {
    run(Command::new(BIN).args(args))
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The series of one certificate of a file, as the exporter writes it; the serial is what
/// `openssl x509 -serial` reads from `pem`.
pub fn cert_series(
    metric: &str,
    path: &Path,
    index: usize,
    cn: &str,
    issuer: &str,
    pem: &Path,
) -> String {
    series(
        metric,
        ("path", &path.display().to_string()),
        index,
        cn,
        issuer,
        pem,
    )
}

/// The series of one certificate an endpoint presented.
pub fn endpoint_series(
    metric: &str,
    endpoint: &str,
    index: usize,
    cn: &str,
    issuer: &str,
    pem: &Path,
) -> String {
    series(metric, ("endpoint", endpoint), index, cn, issuer, pem)
}

fn series(
    metric: &str,
    (key, value): (&str, &str),
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
        "{metric}{{{key}=\"{value}\",index=\"{index}\",subject_cn=\"{cn}\",issuer_cn=\"{issuer}\",serial=\"{serial}\"}}"
    )
}

/// A directory of certificates: valid, expired, not yet valid, a CA and a leaf it signed.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Option<Fixture> {
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs `openssl args` in `dir`; panics with its error output when it fails.
pub fn openssl_in(dir: &Path, args: &[&str]) {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl req -newkey` arguments for a P-521 key.
pub const P521: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"];

/// A self-signed CA `dir/{name}.{pem,key}` (CN `name`, 30 days) with a key made by `newkey`.
pub fn ca(dir: &Path, name: &str, newkey: &[&str]) -> (PathBuf, PathBuf) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let subj = format!("/CN={name}");
    let mut args = vec!["req", "-x509", "-nodes", "-days", "30", "-subj", &subj];
    args.extend(newkey);
    args.extend(["-keyout", &key, "-out", &pem]);
    openssl_in(dir, &args);
    (dir.join(pem), dir.join(key))
}

/// A P-521 leaf `dir/{name}.{pem,key}` for `{name}.test` (CN and DNS name), signed by the CA
/// `dir/{issuer}.{pem,key}` with `openssl x509 -req` and `md` (`-sha512`; none for an Edwards
/// CA, which fixes its own hash).
pub fn p521_leaf(dir: &Path, name: &str, issuer: &str, md: Option<&str>) -> (PathBuf, PathBuf) {
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let subj = format!("/CN={name}.test");
    let mut args = vec!["req", "-new", "-nodes", "-subj", &subj];
    args.extend(P521);
    args.extend(["-keyout", &key, "-out", &csr]);
    openssl_in(dir, &args);
    std::fs::write(dir.join(&ext), format!("subjectAltName=DNS:{name}.test\n")).unwrap();
    let (ca_pem, ca_key) = (format!("{issuer}.pem"), format!("{issuer}.key"));
    let mut args = vec![
        "x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-days", "30", "-extfile",
        &ext, "-out", &pem,
    ];
    args.extend(md);
    openssl_in(dir, &args);
    (dir.join(pem), dir.join(key))
}

/// `serve` on a free port, stopped when dropped.
pub struct Serve {
    pub process: Process,
    pub port: u16,
    _logs: tempfile::TempDir,
}

impl Serve {
    /// Runs `sysgauge-certs ARGS serve --web.listen-address 127.0.0.1:PORT SERVE_ARGS`.
    pub fn start(args: &[&str], serve_args: &[&str], scheme: &str, curl_extra: &[&str]) -> Serve {
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

    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://localhost:{}{path}", self.port)
    }
}

/// A raw HTTP/1.0 GET, so that hundreds can run at once without a process each.
pub fn raw_get(port: u16, path: &str) -> (u16, String) {
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
