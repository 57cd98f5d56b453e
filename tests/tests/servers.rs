//! Proves that each server of `sysgauge_testkit::servers` really runs and serves the given
//! certificates, checked with the real `openssl s_client`, and that each broken peer misbehaves
//! exactly as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    time::Duration,
};

use sysgauge_testkit::{
    http_get, openssl,
    servers::{
        ClosesMidHandshake, Dovecot, Nginx, PlainText, Postfix, Postgres, SClient, Silent,
        pem_certificates, s_client, x509,
    },
    tempfile,
};

const NOT_BEFORE: &str = "20250101000000Z";
const NOT_AFTER: &str = "20350101000000Z";

/// A self-signed certificate for `cn` under `dir`, valid 2025 to 2035.
fn cert(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    openssl::certificate(dir, name, cn, NOT_BEFORE, NOT_AFTER, None)
}

/// `openssl x509 -subject` and `-fingerprint -sha256` of each certificate in a PEM file.
fn identities_in_file(pem: &Path) -> Vec<(String, String)> {
    pem_certificates(&std::fs::read_to_string(pem).unwrap())
        .iter()
        .map(|c| identity(c))
        .collect()
}

fn identity(pem: &str) -> (String, String) {
    (
        x509(pem, &["-subject"]),
        x509(pem, &["-fingerprint", "-sha256"]),
    )
}

/// Asserts that a TLS 1.3 handshake succeeded and that the certificates presented are exactly
/// the ones in the file `pem`, in order.
fn assert_presents(seen: &SClient, pem: &Path, what: &str) {
    assert!(seen.success, "{what}: handshake failed:\n{}", seen.output);
    assert_eq!(
        seen.protocol.as_deref(),
        Some("TLSv1.3"),
        "{what}: {seen:?}"
    );
    assert!(
        seen.cipher
            .as_deref()
            .is_some_and(|c| c.starts_with("TLS_")),
        "{what}: {seen:?}"
    );
    let presented: Vec<_> = seen.certificates.iter().map(|c| identity(c)).collect();
    assert_eq!(
        presented,
        identities_in_file(pem),
        "{what}: wrong certificates"
    );
}

/// Whether a process with this pid still exists.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Asserts that the peer closed `s` without sending anything: an end of stream, or a reset
/// where the peer closed with bytes of ours unread.
fn assert_closed(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    match s.read_to_end(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "the peer answered {buf:?}"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}"),
    }
}

/// Whether a connection to `port` is refused, now or within a few seconds: the test binaries run
/// side by side (scripts/run-tests), and another test's `free_port` may probe the port a stopped
/// server just left, for a moment.
fn refused(port: u16) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let refused = TcpStream::connect(("127.0.0.1", port))
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused);
        if refused || std::time::Instant::now() > deadline {
            return refused;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn nginx_serves_each_sni_name_its_own_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (alpha, alpha_key) = cert(d, "alpha", "alpha.test");
    let (beta, beta_key) = cert(d, "beta", "beta.test");
    // gamma.test: signed by a private CA, served with its chain (leaf, then the CA).
    let (ca, ca_key) = cert(d, "ca", "Private Test CA");
    let (gamma_leaf, gamma_key) = openssl::certificate(
        d,
        "gamma",
        "gamma.test",
        NOT_BEFORE,
        NOT_AFTER,
        Some((&ca, &ca_key)),
    );
    let gamma = d.join("gamma-chain.pem");
    std::fs::write(
        &gamma,
        std::fs::read_to_string(&gamma_leaf).unwrap() + &std::fs::read_to_string(&ca).unwrap(),
    )
    .unwrap();
    let vhosts = [
        ("alpha.test", alpha.as_path(), alpha_key.as_path()),
        ("beta.test", beta.as_path(), beta_key.as_path()),
        ("gamma.test", gamma.as_path(), gamma_key.as_path()),
    ];
    let Some(nginx) = Nginx::start(&vhosts) else {
        return;
    };
    let port = nginx.port();
    for (name, pem, _) in vhosts {
        let seen = s_client(port, Some(name), None);
        assert_presents(&seen, pem, name);
        assert_eq!(
            x509(&seen.certificates[0], &["-subject"]),
            format!("subject=CN = {name}")
        );
        // The server block for the name answers, not only its certificate.
        let (status, body) = http_get(
            &format!("https://{name}:{port}/"),
            &["-k", "--resolve", &format!("{name}:{port}:127.0.0.1")],
        );
        assert_eq!((status, body), (200, format!("{name}\n")));
    }
    let chain = s_client(port, Some("gamma.test"), None).certificates;
    assert_eq!(chain.len(), 2);
    assert_eq!(
        x509(&chain[1], &["-subject"]),
        "subject=CN = Private Test CA"
    );
    // The test's certificates carry the dates asked for.
    assert_eq!(
        x509(&chain[0], &["-dates"]),
        "notBefore=Jan  1 00:00:00 2025 GMT\nnotAfter=Jan  1 00:00:00 2035 GMT"
    );

    // No SNI, or a name it does not serve: the default server with the first certificate.
    assert_presents(&s_client(port, None, None), &alpha, "no SNI");
    assert_presents(
        &s_client(port, Some("unknown.test"), None),
        &alpha,
        "unknown name",
    );
    let (status, body) = http_get(&format!("https://127.0.0.1:{port}/"), &["-k"]);
    assert_eq!((status, body.as_str()), (200, "default\n"));

    let pid = nginx.pid();
    assert!(nginx.dir().join("nginx.pid").is_file());
    drop(nginx);
    assert!(!alive(pid), "nginx master {pid} still runs after drop");
    assert!(
        refused(port),
        "port {port} still open after drop: workers left behind"
    );
}

#[test]
fn nginx_that_cannot_start_fails_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (alpha, _) = cert(dir.path(), "alpha", "alpha.test");
    let (_, beta_key) = cert(dir.path(), "beta", "beta.test");
    let started = std::panic::catch_unwind(|| {
        Nginx::start(&[("alpha.test", alpha.as_path(), beta_key.as_path())]).map(|n| n.port())
    });
    let message = match started {
        Ok(None) => return, // not installed: skipped
        Ok(Some(port)) => panic!("nginx started on {port} with a key of another certificate"),
        Err(e) => e.downcast::<String>().map(|s| *s).unwrap_or_default(),
    };
    assert!(
        message.starts_with("nginx exited at start-up; its log:\n"),
        "{message}"
    );
    assert!(message.contains("key values mismatch"), "{message}");
}

#[test]
fn postgres_offers_tls_after_sslrequest_and_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, key) = cert(dir.path(), "db", "db.test");
    let Some(pg) = Postgres::start(Some((&pem, &key))) else {
        return;
    };
    let seen = s_client(pg.port(), Some("db.test"), Some("postgres"));
    assert_presents(&seen, &pem, "postgres SSLRequest");
    // PostgreSQL 15 has no direct TLS: a ClientHello first is a bad startup packet, closed
    // without an answer.
    let direct = s_client(pg.port(), Some("db.test"), None);
    assert!(
        !direct.success && direct.certificates.is_empty(),
        "{}",
        direct.output
    );
    assert!(
        direct.output.contains("unexpected eof"),
        "{}",
        direct.output
    );
    assert!(
        pg.log().contains("invalid length of startup packet"),
        "{}",
        pg.log()
    );
    assert_eq!(pg.psql("show ssl"), "on");
    assert_eq!(pg.psql("show port"), pg.port().to_string());
    // libpq over TLS too: the server reports the connection as encrypted.
    let out = sysgauge_testkit::run(
        std::process::Command::new(pg.bin("psql"))
            .args(["-XAtq", "-d"])
            .arg(format!("{}?sslmode=require", pg.url("postgres")))
            .args([
                "-c",
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
            ]),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "t", "{out:?}");

    // The server's copy of the key: 0600, owned by the server's user.
    use std::os::unix::fs::MetadataExt;
    let key_meta = std::fs::metadata(pg.data_dir().join("server.key")).unwrap();
    assert_eq!(key_meta.mode() & 0o777, 0o600);
    let data_meta = std::fs::metadata(pg.data_dir()).unwrap();
    assert_eq!(key_meta.uid(), data_meta.uid());

    pg.psql("create database shop");
    pg.psql_in(
        "shop",
        "create table items (id int primary key, name text); insert into items select g, 'item ' || g from generate_series(1, 100) g",
    );
    assert_eq!(pg.psql_in("shop", "select count(*) from items"), "100");

    let dump = pg.pg_dump("shop", &[], &dir.path().join("shop.sql"));
    assert_eq!(dump, dir.path().join("shop.sql"));
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(
        text.starts_with("--\n-- PostgreSQL database dump\n--\n"),
        "{text}"
    );
    // Since 15.14 (CVE-2025-8714) the trailer is not the end of a plain dump: `\restrict KEY`
    // follows the header and `\unrestrict KEY` the trailer.
    let (_, tail) = text
        .split_once("\n--\n-- PostgreSQL database dump complete\n--\n\n")
        .expect("the dump-complete trailer");
    match text.split_once("\n\\restrict ") {
        Some((_, rest)) => {
            let key = rest.lines().next().unwrap();
            assert_eq!(tail, format!("\\unrestrict {key}\n\n"));
        }
        None => assert_eq!(tail, ""),
    }
    assert!(text.contains("COPY public.items (id, name) FROM stdin;\n1\titem 1\n"));
    assert!(text.contains("\n100\titem 100\n\\.\n"));

    let custom = pg.pg_dump("shop", &["-Fc"], &dir.path().join("shop.dump"));
    let bytes = std::fs::read(custom).unwrap();
    assert_eq!(&bytes[..5], b"PGDMP", "custom-format magic");

    let all = pg.pg_dumpall(&[], &dir.path().join("all.sql"));
    let text = std::fs::read_to_string(all).unwrap();
    assert!(
        text.starts_with("--\n-- PostgreSQL database cluster dump\n--\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\n--\n-- PostgreSQL database cluster dump complete\n--\n\n"),
        "{text}"
    );
    assert!(text.contains("CREATE DATABASE shop "));

    let (pid, port) = (pg.pid(), pg.port());
    drop(pg);
    assert!(!alive(pid), "postmaster {pid} still runs after drop");
    assert!(refused(port));
}

#[test]
fn postgres_without_tls_refuses_sslrequest() {
    let Some(pg) = Postgres::start(None) else {
        return;
    };
    assert_eq!(pg.psql("show ssl"), "off");
    assert_eq!(pg.psql("select 6 * 7"), "42");
    let seen = s_client(pg.port(), None, Some("postgres"));
    assert!(!seen.success, "a handshake without ssl:\n{}", seen.output);
    assert!(seen.certificates.is_empty());
}

#[test]
fn postfix_offers_starttls_with_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, key) = cert(dir.path(), "mail", "mail.test");
    let Some(postfix) = Postfix::start(&pem, &key) else {
        return;
    };
    // The greeting is the private instance's own.
    let mut s = TcpStream::connect(("127.0.0.1", postfix.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut greeting = [0u8; 64];
    let n = s.read(&mut greeting).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&greeting[..n]),
        format!("220 {} ESMTP Postfix\r\n", Postfix::HOSTNAME)
    );
    s.write_all(b"QUIT\r\n").unwrap();
    drop(s);

    let seen = s_client(postfix.port(), Some("mail.test"), Some("smtp"));
    assert_presents(&seen, &pem, "postfix STARTTLS");
    assert!(
        postfix.log().contains("smtpd") && postfix.log().contains("starttls=1"),
        "{}",
        postfix.log()
    );
    let (pid, port) = (postfix.pid(), postfix.port());
    drop(postfix);
    assert!(!alive(pid), "postfix master {pid} still runs after drop");
    assert!(refused(port));
}

#[test]
fn dovecot_offers_imap_starttls_and_pop3_stls_with_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, key) = cert(dir.path(), "imap", "imap.test");
    let Some(dovecot) = Dovecot::start(&pem, &key) else {
        return;
    };
    assert_ne!(dovecot.imap_port(), dovecot.pop3_port());
    let seen = s_client(dovecot.imap_port(), Some("imap.test"), Some("imap"));
    assert_presents(&seen, &pem, "dovecot IMAP STARTTLS");
    let seen = s_client(dovecot.pop3_port(), Some("imap.test"), Some("pop3"));
    assert_presents(&seen, &pem, "dovecot POP3 STLS");
    let (pid, imap, pop3) = (dovecot.pid(), dovecot.imap_port(), dovecot.pop3_port());
    drop(dovecot);
    assert!(!alive(pid), "dovecot {pid} still runs after drop");
    assert!(refused(imap) && refused(pop3));
}

#[test]
fn silent_peer_accepts_and_never_answers() {
    let silent = Silent::start();
    let mut s = TcpStream::connect(("127.0.0.1", silent.port())).unwrap();
    s.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = s
        .read(&mut buf)
        .expect_err("the silent peer answered or closed");
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err}"
    );
    assert_eq!(silent.connections(), 1);
    let port = silent.port();
    drop(silent);
    // Dropping closes the held connection and the listener.
    // The bytes sent were never read, so the close is a reset.
    assert_closed(&mut s);
    assert!(refused(port));
}

#[test]
fn plain_text_peer_answers_tls_with_http_400() {
    let peer = PlainText::start();
    let mut s = TcpStream::connect(("127.0.0.1", peer.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"\x16\x03\x01\x00\x05hello").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(answer, PlainText::RESPONSE);
    assert!(answer.starts_with("HTTP/1.0 400 Bad Request\r\n"));
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    assert!(answer.contains(&format!("Content-Length: {}\r\n", body.len())));

    let seen = s_client(peer.port(), Some("plain.test"), None);
    assert!(!seen.success, "{}", seen.output);
    assert!(seen.certificates.is_empty());
    assert!(
        seen.output.contains("wrong version number"),
        "{}",
        seen.output
    );
    assert_eq!(peer.connections(), 2);
}

#[test]
fn closes_mid_handshake_peer_reads_the_client_hello_and_closes() {
    let peer = ClosesMidHandshake::start();
    let seen = s_client(peer.port(), Some("closes.test"), None);
    assert!(!seen.success, "{}", seen.output);
    assert!(seen.certificates.is_empty());
    assert!(seen.output.contains("unexpected eof"), "{}", seen.output);
    assert_eq!((peer.connections(), peer.client_hellos()), (1, 1));
    // Something that is not a ClientHello is not counted.
    let mut s = TcpStream::connect(("127.0.0.1", peer.port())).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // It closes after reading five bytes, with the rest unread.
    assert_closed(&mut s);
    assert_eq!((peer.connections(), peer.client_hellos()), (2, 1));
}
