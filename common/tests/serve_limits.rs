//! `serve` under attack, on loopback, with the release binary as it ships: every connection
//! has a bounded cost, descriptors running out do not stop scrapes, a flood of wrong passwords
//! does not delay them, and the conventions scrapers expect (gzip, keep-alive, Host).
//!
//! The exporter is sysgauge-certs reading the system's CA bundle (about 80 KB of metrics). Attack loops are bounded in count and time; the tests that load
//! the machine run one at a time, so that one's load does not skew another's latency.
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpStream},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    Process, Prometheus, available, free_port, release_binary, tempfile, wait_for,
};

/// One load test at a time.
static LOAD: Mutex<()> = Mutex::new(());

const CA_BUNDLE: &str = "/etc/ssl/certs/*.pem";

struct Serve {
    process: Process,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Serve {
    /// Starts `sysgauge-certs serve` on a free loopback port; `wrapper` runs it under another
    /// program (prlimit), `extra` are more serve flags.
    fn start(wrapper: &[&str], extra: &[&str], web_config: Option<&str>) -> Option<Serve> {
        if !available("openssl", "openssl")
            || !std::path::Path::new("/etc/ssl/certs").is_dir()
            || !available("curl", "curl")
        {
            return None;
        }
        // SYSGAUGE_SERVE_BINARY measures another build (an older commit, for before/after).
        let binary = std::env::var_os("SYSGAUGE_SERVE_BINARY")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| release_binary("sysgauge-certs").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        cmd.args(["--path", CA_BUNDLE, "serve", "--web.listen-address"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra);
        if let Some(yaml) = web_config {
            let path = dir.path().join("web.yml");
            std::fs::write(&path, yaml).unwrap();
            cmd.arg("--web.config.file").arg(path);
        }
        let mut process = Process::spawn("sysgauge-certs", &mut cmd, &dir.path().join("log"));
        wait_for("serve to listen", Duration::from_secs(30), || {
            process.assert_running();
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Some(Serve {
            process,
            port,
            _dir: dir,
        })
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }

    /// Resident memory of the exporter, from /proc.
    fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.pid()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

/// An HTTP/1.1 answer: status, headers (lowercase names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` on `stream` and reads one answer (Content-Length bodies only, as serve
/// sends); `None` when the connection closed first.
fn exchange(stream: &mut TcpStream, request: &str) -> Option<Answer> {
    stream.write_all(request.as_bytes()).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Answer {
        status,
        headers,
        body,
    })
}

fn get(path: &str, extra_headers: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra_headers}\r\n")
}

/// Whether the server closes `stream` (EOF or reset) within `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut sink = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false;
            }
            Err(_) => return true,
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HEADERS (END_STREAM | END_HEADERS) of `GET /metrics`, HPACK without Huffman coding.
fn h2_get_metrics(stream: u32) -> Vec<u8> {
    let mut block = vec![0x82, 0x86, 0x04, 8];
    block.extend_from_slice(b"/metrics");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    h2_frame(0x1, 0x5, stream, &block)
}

#[test]
fn silent_and_preface_only_connections_are_closed() {
    let Some(serve) = Serve::start(&[], &[], None) else {
        return;
    };
    let mut silent = serve.connect();
    let mut preface = serve.connect();
    preface.write_all(H2_PREFACE).unwrap();
    preface
        .write_all(&h2_frame(0x4, 0, 0, &[]))
        .expect("SETTINGS");
    let started = Instant::now();
    // 10 s to the first request, checked every second; 8 s more for a loaded machine.
    assert!(
        closed_by_server(&mut silent, Duration::from_secs(18)),
        "a connection that sends nothing was kept"
    );
    assert!(
        closed_by_server(
            &mut preface,
            Duration::from_secs(18).saturating_sub(started.elapsed())
        ),
        "a connection that sent only the HTTP/2 preface was kept"
    );
}

#[test]
fn zero_window_http2_clients_do_not_grow_memory() {
    let _load = LOAD.lock().unwrap_or_else(|e| e.into_inner());
    let Some(serve) = Serve::start(&[], &[], None) else {
        return;
    };
    let mut s = serve.connect();
    let answer = exchange(&mut s, &get("/metrics", "")).unwrap();
    assert_eq!(answer.status, 200);
    let body = answer.body.len() as u64;
    assert!(body > 50_000, "the CA bundle gave only {body} bytes");
    drop(s);
    let baseline = serve.rss_bytes();
    // Bodies held by --web.max-requests (40), plus the connections' buffers and allocator slack;
    // without bounds, 30 connections × 100 streams hold 3,000 bodies.
    let bound = baseline + 40 * body + 48 * 1024 * 1024;

    let mut attackers: Vec<TcpStream> = (0..30)
        .map(|_| {
            let mut a = serve.connect();
            let mut out = H2_PREFACE.to_vec();
            // SETTINGS_INITIAL_WINDOW_SIZE = 0: no stream may receive a byte of its body.
            out.extend(h2_frame(0x4, 0, 0, &[0, 4, 0, 0, 0, 0]));
            out.extend(h2_frame(0x4, 0x1, 0, &[]));
            a.write_all(&out).unwrap();
            a
        })
        .collect();
    // Every 200 ms each connection opens 5 more streams, up to 100: a stalled stream is never
    // finished, so without bounds every answer stays in memory.
    let mut peak = 0;
    let started = Instant::now();
    let mut next_stream = 1u32;
    while started.elapsed() < Duration::from_secs(8) {
        if next_stream < 200 {
            let batch: Vec<u8> = (0..5)
                .flat_map(|i| h2_get_metrics(next_stream + 2 * i))
                .collect();
            for a in &mut attackers {
                // The server may have closed it already.
                let _ = a.write_all(&batch);
            }
            next_stream += 10;
        }
        peak = peak.max(serve.rss_bytes());
        assert!(
            peak < bound,
            "RSS {} MiB under the zero-window attack (baseline {} MiB, body {} KiB, bound {} MiB)",
            peak >> 20,
            baseline >> 20,
            body >> 10,
            bound >> 20
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "zero-window attack: RSS peak {} MiB, baseline {} MiB, body {} KiB",
        peak >> 20,
        baseline >> 20,
        body >> 10
    );
    // The stalled answers are abandoned (10 s without progress), their connections closed and
    // their request slots freed: a scrape gets its answer again, while the attackers stay
    // connected.
    wait_for(
        "a scrape answered after the attack",
        Duration::from_secs(20),
        || {
            let mut s = serve.connect();
            (exchange(&mut s, &get("/metrics", "")).map(|a| a.status) == Some(200)).then_some(())
        },
    );
    drop(attackers);
    let mut s = serve.connect();
    assert_eq!(
        exchange(&mut s, &get("/metrics", "")).unwrap().status,
        200,
        "no scrape after the attack"
    );
}

#[test]
fn idle_connections_beyond_the_descriptor_limit_do_not_stop_scrapes() {
    let _load = LOAD.lock().unwrap_or_else(|e| e.into_inner());
    if !available("prlimit", "util-linux") {
        return;
    }
    // Soft and hard limit 128: raising the soft limit cannot help, shedding must.
    let Some(serve) = Serve::start(&["prlimit", "--nofile=128:128", "--"], &[], None) else {
        return;
    };
    let mut idle = Vec::new();
    for i in 0..300 {
        let mut c = serve.connect();
        if i % 2 == 1 {
            c.write_all(H2_PREFACE).unwrap();
        }
        idle.push(c);
    }
    for round in 0..3 {
        let started = Instant::now();
        let mut s = serve.connect();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let answer = exchange(&mut s, &get("/metrics", ""));
        assert_eq!(
            answer.map(|a| a.status),
            Some(200),
            "round {round}: no scrape with {} idle connections open (log: {})",
            idle.len(),
            serve.process.log()
        );
        eprintln!(
            "scrape beside 300 idle connections: {:?}",
            started.elapsed()
        );
        for _ in 0..50 {
            idle.push(serve.connect());
        }
    }
}

/// A flood of wrong passwords (25 connections repeating one, 25 trying new ones) while a
/// legitimate scraper, whose credentials the server has seen, scrapes every 200 ms.
#[test]
fn a_flood_of_wrong_passwords_does_not_delay_scrapes() {
    use base64::Engine;
    let _load = LOAD.lock().unwrap_or_else(|e| e.into_inner());
    // Cost 10, as htpasswd and the exporter-toolkit documentation make them.
    let hash = bcrypt::hash("s3cret", 10).unwrap();
    let yaml = format!("basic_auth_users:\n  prometheus: {hash}\n");
    let Some(serve) = Serve::start(&[], &[], Some(&yaml)) else {
        return;
    };
    let basic = |user: &str, password: &str| {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Authorization: Basic {token}\r\n")
    };
    let legit = get("/metrics", &basic("prometheus", "s3cret"));
    let mut s = serve.connect();
    assert_eq!(exchange(&mut s, &legit).unwrap().status, 200);
    let quiet = {
        let started = Instant::now();
        assert_eq!(exchange(&mut s, &legit).unwrap().status, 200);
        started.elapsed()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let port = serve.port;
    let flood: Vec<_> = (0..50)
        .map(|t| {
            let (stop, sent) = (Arc::clone(&stop), Arc::clone(&sent));
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(15);
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && i < 2000 {
                    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
                        continue;
                    };
                    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    while !stop.load(Ordering::Relaxed) && i < 2000 {
                        i += 1;
                        let password = if t % 2 == 0 {
                            "wrong".to_owned()
                        } else {
                            format!("wrong-{t}-{i}")
                        };
                        let req = get("/metrics", &basic("prometheus", &password));
                        if exchange(&mut c, &req).is_none() {
                            break;
                        }
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = c.shutdown(Shutdown::Both);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let mut worst = Duration::ZERO;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let mut c = serve.connect();
        let status = exchange(&mut c, &legit).map(|a| a.status);
        worst = worst.max(started.elapsed());
        statuses.push(status);
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for t in flood {
        t.join().unwrap();
    }
    eprintln!(
        "wrong-password flood: {} requests; legitimate scrape {quiet:?} when quiet, worst {worst:?} during the flood",
        sent.load(Ordering::Relaxed)
    );
    assert!(
        statuses.iter().all(|s| *s == Some(200)),
        "legitimate scrapes failed during the flood: {statuses:?}"
    );
    // Without the flood a scrape takes milliseconds; before the fix, up to 2.2 s and 503s.
    assert!(
        worst < Duration::from_millis(750),
        "a legitimate scrape took {worst:?} during the flood"
    );
}

#[test]
fn gzip_answers_are_decoded_by_prometheus() {
    let Some(serve) = Serve::start(&[], &[], None) else {
        return;
    };
    let mut s = serve.connect();
    let gz = exchange(&mut s, &get("/metrics", "Accept-Encoding: gzip\r\n")).unwrap();
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept, Accept-Encoding"));
    let plain = exchange(
        &mut s,
        &get("/metrics", "Accept-Encoding: gzip;q=0, identity\r\n"),
    )
    .unwrap();
    assert_eq!(plain.header("content-encoding"), None);
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut decoded)
        .unwrap();
    let names = |text: &str| -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("# TYPE"))
            .map(str::to_owned)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(&decoded),
        names(&String::from_utf8_lossy(&plain.body))
    );
    assert!(
        gz.body.len() * 3 < plain.body.len(),
        "gzip did not compress"
    );

    // Prometheus asks for gzip on every scrape; an answer it cannot decode fails the scrape.
    let Some(prometheus) = Prometheus::start(&format!(
        "- job_name: certs\n  static_configs:\n  - targets: ['127.0.0.1:{}']\n",
        serve.port
    )) else {
        return;
    };
    let series = prometheus.wait_for_series(
        "count(sysgauge_cert_not_after_timestamp_seconds)",
        Duration::from_secs(30),
    );
    assert!(series[0].1 > 50.0, "{series:?}");
    assert_eq!(prometheus.query("up{job=\"certs\"}")[0].1, 1.0);
}

#[test]
fn keep_alive_outlives_a_20s_scrape_gap_and_host_is_required() {
    let Some(serve) = Serve::start(&[], &[], None) else {
        return;
    };
    let mut s = serve.connect();
    assert_eq!(
        exchange(&mut s, &get("/-/healthy", "")).unwrap().status,
        200
    );
    std::thread::sleep(Duration::from_secs(20));
    let again = exchange(&mut s, &get("/-/healthy", ""));
    assert_eq!(
        again.map(|a| a.status),
        Some(200),
        "the connection was closed during a 20 s gap"
    );
    let no_host = exchange(&mut s, "GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(no_host.status, 400);
}

/// What a remote client can make serve log: at debug only, from serve itself (the peer named),
/// never from the HTTP/2 or TLS library, whose events carry their build host's source paths.
/// Before, h2 logged each malformed frame and rustls each fatal alert (at warn) by themselves.
#[test]
fn remote_triggered_log_lines_are_serves_own_at_debug() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = sysgauge_testkit::openssl::certificate(
        dir.path(),
        "server",
        "localhost",
        "20200101000000Z",
        "20450101000000Z",
        None,
    );
    let tls = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        cert.display(),
        key.display()
    );
    let debug = ["--log.level", "debug", "--log.format", "json"];
    let (Some(mut plain), Some(mut tls)) = (
        Serve::start(&[], &debug, None),
        Serve::start(&[], &debug, Some(&tls)),
    ) else {
        return;
    };
    // HTTP/2: a DATA frame on stream 0 is a connection error.
    let mut h2 = plain.connect();
    h2.write_all(H2_PREFACE).unwrap();
    h2.write_all(&h2_frame(0x4, 0, 0, &[])).unwrap();
    h2.write_all(&h2_frame(0x0, 0, 0, b"junk")).unwrap();
    assert!(closed_by_server(&mut h2, Duration::from_secs(10)));
    // TLS: plain HTTP to the TLS port gets a fatal alert.
    let mut clear = tls.connect();
    clear.write_all(get("/metrics", "").as_bytes()).unwrap();
    assert!(closed_by_server(&mut clear, Duration::from_secs(10)));
    for (serve, said) in [
        (&mut plain, "connection ended with an error"),
        (&mut tls, "TLS handshake failed"),
    ] {
        let log = wait_for(said, Duration::from_secs(10), || {
            let log = serve.process.log();
            log.contains(said).then_some(log)
        });
        for line in log.lines().filter(|l| l.starts_with('{')) {
            assert!(
                line.contains(r#""target":"sysgauge"#),
                "a library logged: {line}"
            );
            if line.contains(r#""peer":"#) {
                assert!(line.contains(r#""level":"DEBUG""#), "{line}");
            }
        }
        assert!(
            !log.contains("/.cargo/") && !log.contains("/registry/"),
            "{log}"
        );
    }
}
