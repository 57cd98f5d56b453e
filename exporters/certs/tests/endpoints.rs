//! Live endpoints: real nginx virtual hosts, PostgreSQL, Postfix and Dovecot from Debian, and
//! deliberately broken peers. Dates are compared with what `openssl x509` reads from the files
//! the servers were given.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    Process, available, free_port, openssl, run, sample,
    servers::{
        ClosesMidHandshake, Dovecot, Mariadb, Nginx, PlainText, Postfix, Postgres, Prosody, Silent,
        Slapd, Vsftpd,
    },
    tempfile, wait_for,
};

use crate::util::*;

/// `once` over `urls` (each a `--endpoint`); returns the metrics and the log.
fn probe(urls: &[String], extra: &[&str]) -> (String, String) {
    let mut args: Vec<&str> = extra.to_vec();
    for url in urls {
        args.extend(["--endpoint", url]);
    }
    args.push("once");
    let out = certs(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (stdout(&out), stderr(&out))
}

fn value(text: &str, metric: &str, labels: &str) -> Option<f64> {
    sample(text, &format!("{metric}{{{labels}}}"))
}

#[test]
fn nginx_virtual_hosts_each_report_their_own_certificate() {
    let Some(f) = Fixture::new() else { return };
    let d = f.dir.path();
    let (ca, ca_key) = (f.path("ca.pem"), f.path("ca.key"));
    let ca_pair = Some((ca.as_path(), ca_key.as_path()));
    let (good, good_key) = openssl::certificate(
        d,
        "good",
        "good.test",
        "20200101000000Z",
        "20400101000000Z",
        ca_pair,
    );
    let (old, old_key) = openssl::certificate(
        d,
        "old",
        "old.test",
        "20000101000000Z",
        "20010101000000Z",
        ca_pair,
    );
    // Served for wrong.test, but made for another name.
    let (other, other_key) = openssl::certificate(
        d,
        "other",
        "other.test",
        "20200101000000Z",
        "20400101000000Z",
        ca_pair,
    );
    let Some(nginx) = Nginx::start(&[
        ("good.test", &good, &good_key),
        ("old.test", &old, &old_key),
        ("wrong.test", &other, &other_key),
        ("self.test", &f.path("valid.pem"), &f.path("valid.key")),
    ]) else {
        return;
    };
    let url = |name: &str| format!("tls://127.0.0.1:{}?server_name={name}", nginx.port());
    let config = f.path("endpoints.toml");
    let mut toml = String::new();
    for name in ["good.test", "old.test", "wrong.test", "self.test"] {
        toml += &format!(
            "[[endpoints]]\nurl = \"{}\"\nca_bundle = \"{}\"\n",
            url(name),
            ca.display()
        );
    }
    // The same virtual host once more, verified against the system's roots instead.
    toml += &format!(
        "[[endpoints]]\nurl = \"{}\"\n",
        url("good.test").replace("127.0.0.1", "localhost")
    );
    std::fs::write(&config, toml).unwrap();
    let out = certs(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let ca_label = ca.display().to_string();

    for (name, pem, cn, issuer) in [
        ("good.test", &good, "good.test", "Test Root CA"),
        ("old.test", &old, "old.test", "Test Root CA"),
        ("wrong.test", &other, "other.test", "Test Root CA"),
        (
            "self.test",
            &f.path("valid.pem"),
            "valid.test",
            "valid.test",
        ),
    ] {
        let endpoint = url(name);
        let after = endpoint_series(
            "sysgauge_cert_endpoint_not_after_timestamp_seconds",
            &endpoint,
            0,
            cn,
            issuer,
            pem,
        );
        let before = endpoint_series(
            "sysgauge_cert_endpoint_not_before_timestamp_seconds",
            &endpoint,
            0,
            cn,
            issuer,
            pem,
        );
        assert_eq!(
            sample(&text, &after),
            Some(openssl::not_after(pem) as f64),
            "{after} in\n{text}"
        );
        assert_eq!(
            sample(&text, &before),
            Some(openssl::not_before(pem) as f64),
            "{before}"
        );
        let e = format!("endpoint=\"{endpoint}\"");
        assert_eq!(
            value(&text, "sysgauge_cert_probe_success", &e),
            Some(1.0),
            "{name}: an untrusted or expired certificate is still a successful probe"
        );
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_endpoint_earliest_not_after_timestamp_seconds",
                &e
            ),
            Some(openssl::not_after(pem) as f64)
        );
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_probe_tls_info",
                &format!("{e},version=\"TLSv1_3\",cipher=\"TLS13_AES_256_GCM_SHA384\"")
            ),
            Some(1.0),
            "{text}"
        );
    }
    let verified = |name: &str| {
        value(
            &text,
            "sysgauge_cert_endpoint_chain_verified",
            &format!("endpoint=\"{}\",ca_bundle=\"{ca_label}\"", url(name)),
        )
    };
    let name_matches = |name: &str| {
        value(
            &text,
            "sysgauge_cert_endpoint_name_matches",
            &format!("endpoint=\"{}\",server_name=\"{name}\"", url(name)),
        )
    };
    assert_eq!(
        (verified("good.test"), name_matches("good.test")),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(
        (verified("old.test"), name_matches("old.test")),
        (Some(0.0), Some(1.0)),
        "expired"
    );
    assert_eq!(
        (verified("wrong.test"), name_matches("wrong.test")),
        (Some(1.0), Some(0.0)),
        "wrong name"
    );
    assert_eq!(
        (verified("self.test"), name_matches("self.test")),
        (Some(0.0), Some(0.0)),
        "self-signed"
    );
    // Against the system's roots a private CA does not verify.
    let system = url("good.test").replace("127.0.0.1", "localhost");
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_endpoint_chain_verified",
            &format!("endpoint=\"{system}\",ca_bundle=\"system\"")
        ),
        Some(0.0)
    );
    assert!(
        stderr(&out).contains("UnknownIssuer"),
        "why a chain does not verify is logged"
    );
}

#[test]
fn postgresql_with_ssl_on_and_off() {
    let Some(f) = Fixture::new() else { return };
    let pem = f.path("leaf.pem");
    let Some(pg) = Postgres::start(Some((&pem, &f.path("leaf.key")))) else {
        return;
    };
    let sslrequest = format!("postgres://127.0.0.1:{}?server_name=leaf.test", pg.port());
    // PostgreSQL 15 (Debian bookworm) has no direct TLS: it closes the connection.
    let direct = format!("postgres://127.0.0.1:{}?sslnegotiation=direct", pg.port());
    let (text, _) = probe(&[sslrequest.clone(), direct.clone()], &[]);
    let after = endpoint_series(
        "sysgauge_cert_endpoint_not_after_timestamp_seconds",
        &sslrequest,
        0,
        "leaf.test",
        "Test Root CA",
        &pem,
    );
    assert_eq!(
        sample(&text, &after),
        Some(openssl::not_after(&pem) as f64),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_probe_success",
            &format!("endpoint=\"{sslrequest}\"")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_probe_error",
            &format!("endpoint=\"{direct}\",reason=\"handshake\"")
        ),
        Some(1.0),
        "{text}"
    );
    drop(pg);

    let Some(plain) = Postgres::start(None) else {
        return;
    };
    let url = format!("postgres://127.0.0.1:{}", plain.port());
    let (text, log) = probe(std::slice::from_ref(&url), &[]);
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_probe_error",
            &format!("endpoint=\"{url}\",reason=\"protocol\"")
        ),
        Some(1.0),
        "{text}"
    );
    assert!(log.contains("ssl = off"), "{log}");
}

#[test]
fn postfix_smtp_starttls() {
    let Some(f) = Fixture::new() else { return };
    let pem = f.path("leaf.pem");
    let Some(postfix) = Postfix::start(&pem, &f.path("leaf.key")) else {
        return;
    };
    let url = format!("smtp://127.0.0.1:{}?server_name=leaf.test", postfix.port());
    let (text, _) = probe(std::slice::from_ref(&url), &[]);
    let after = endpoint_series(
        "sysgauge_cert_endpoint_not_after_timestamp_seconds",
        &url,
        0,
        "leaf.test",
        "Test Root CA",
        &pem,
    );
    assert_eq!(
        sample(&text, &after),
        Some(openssl::not_after(&pem) as f64),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_endpoint_name_matches",
            &format!("endpoint=\"{url}\",server_name=\"leaf.test\"")
        ),
        Some(1.0)
    );
}

#[test]
fn dovecot_imap_starttls_and_pop3_stls() {
    let Some(f) = Fixture::new() else { return };
    let pem = f.path("leaf.pem");
    let Some(dovecot) = Dovecot::start(&pem, &f.path("leaf.key")) else {
        return;
    };
    let imap = format!("imap://127.0.0.1:{}", dovecot.imap_port());
    let pop3 = format!("pop3://127.0.0.1:{}", dovecot.pop3_port());
    let (text, _) = probe(&[imap.clone(), pop3.clone()], &[]);
    for url in [&imap, &pop3] {
        let after = endpoint_series(
            "sysgauge_cert_endpoint_not_after_timestamp_seconds",
            url,
            0,
            "leaf.test",
            "Test Root CA",
            &pem,
        );
        assert_eq!(
            sample(&text, &after),
            Some(openssl::not_after(&pem) as f64),
            "{url} in\n{text}"
        );
        // Probed by address alone, the name checked is the IP address, which the certificate lacks.
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_endpoint_name_matches",
                &format!("endpoint=\"{url}\",server_name=\"127.0.0.1\"")
            ),
            Some(0.0)
        );
    }
}

/// The other protocols of a home server, each against its real server from Debian, probed in
/// one collection: XMPP client-to-server and server-to-server (Prosody), ManageSieve (Dovecot's
/// Pigeonhole), LDAP StartTLS (slapd), FTP AUTH TLS (vsftpd) and the MySQL SSLRequest
/// (MariaDB). A protocol spoken to the wrong server fails with reason `protocol`.
#[test]
fn xmpp_managesieve_ldap_ftp_and_mysql_starttls() {
    let Some(f) = Fixture::new() else { return };
    let pem = f.path("leaf.pem");
    let key = f.path("leaf.key");
    let Some(dovecot) = Dovecot::start(&pem, &key) else {
        return;
    };
    let Some(sieve) = dovecot.managesieve_port() else {
        return;
    };
    let (Some(prosody), Some(slapd), Some(vsftpd), Some(mariadb)) = (
        Prosody::start("leaf.test", &pem, &key),
        Slapd::start(&pem, &key),
        Vsftpd::start(&pem, &key),
        Mariadb::start(&pem, &key),
    ) else {
        return;
    };
    let urls = [
        format!("xmpp://127.0.0.1:{}?server_name=leaf.test", prosody.port()),
        format!(
            "xmpp-server://127.0.0.1:{}?server_name=leaf.test",
            prosody.server_port()
        ),
        format!("sieve://127.0.0.1:{sieve}?server_name=leaf.test"),
        format!("ldap://127.0.0.1:{}?server_name=leaf.test", slapd.port()),
        format!("ftp://127.0.0.1:{}?server_name=leaf.test", vsftpd.port()),
        format!("mysql://127.0.0.1:{}?server_name=leaf.test", mariadb.port()),
    ];
    let wrong = format!("mysql://127.0.0.1:{}", vsftpd.port());
    let mut all = urls.to_vec();
    all.push(wrong.clone());
    let (text, log) = probe(&all, &[]);
    for url in &urls {
        let after = endpoint_series(
            "sysgauge_cert_endpoint_not_after_timestamp_seconds",
            url,
            0,
            "leaf.test",
            "Test Root CA",
            &pem,
        );
        assert_eq!(
            sample(&text, &after),
            Some(openssl::not_after(&pem) as f64),
            "{url} in\n{text}\n{log}\nprosody: {}\nslapd: {}\nvsftpd: {}\nmariadb: {}",
            prosody.log(),
            slapd.log(),
            vsftpd.log(),
            mariadb.log()
        );
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_endpoint_name_matches",
                &format!("endpoint=\"{url}\",server_name=\"leaf.test\"")
            ),
            Some(1.0)
        );
    }
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_probe_error",
            &format!("endpoint=\"{wrong}\",reason=\"protocol\"")
        ),
        Some(1.0),
        "{text}"
    );
}

#[test]
fn broken_peers_fail_with_their_reason_within_the_deadline() {
    let silent = Silent::start();
    let plain = PlainText::start();
    let closes = ClosesMidHandshake::start();
    let closed_port = sysgauge_testkit::free_port();
    let urls = [
        format!("tls://127.0.0.1:{}", silent.port()),
        format!("smtp://127.0.0.1:{}", silent.port()),
        format!("tls://127.0.0.1:{}", plain.port()),
        format!("tls://127.0.0.1:{}", closes.port()),
        format!("tls://127.0.0.1:{closed_port}"),
        "tls://does-not-exist.invalid:443".to_owned(),
    ];
    let started = Instant::now();
    // Probes get 5s each by default, but only what is left of the 2s collector deadline.
    let (text, _) = probe(&urls, &["--collector.timeout", "2s"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "the deadline was not kept: {took:?}"
    );
    for (url, reason) in urls.iter().zip([
        "timeout",
        "timeout",
        "handshake",
        "handshake",
        "refused",
        "dns",
    ]) {
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_probe_error",
                &format!("endpoint=\"{url}\",reason=\"{reason}\"")
            ),
            Some(1.0),
            "{url} should fail with {reason}:\n{text}"
        );
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_probe_success",
                &format!("endpoint=\"{url}\"")
            ),
            Some(0.0)
        );
    }
    assert_eq!(
        value(
            &text,
            "sysgauge_cert_collector_success",
            "collector=\"endpoints\""
        ),
        Some(1.0)
    );
}

/// A server whose certificate has a P-521 key (which ring, under rustls, lacks): nginx over
/// TLS 1.3, and openssl's own server limited to TLS 1.2, where the client must also offer the
/// secp521r1 group and the ECDSA scheme names only the hash. Each probe succeeds as `openssl
/// s_client` does, with the dates, key type and size openssl reads, and the chain verifies
/// against the P-521 CA that issued it and not against another P-521 CA.
#[test]
fn p521_servers_over_tls13_and_tls12() {
    if !available("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca521, _) = ca(d, "ca521", &P521);
    let (other521, _) = ca(d, "other521", &P521);
    let (leaf, key) = p521_leaf(d, "p521", "ca521", Some("-sha512"));
    let Some(nginx) = Nginx::start(&[("p521.test", &leaf, &key)]) else {
        return;
    };
    // Only the P-521 group as well, so that the key exchange itself is P-521 too.
    let port = free_port();
    let accept = format!("127.0.0.1:{port}");
    let _tls12 = Process::spawn(
        "openssl s_server",
        Command::new("openssl")
            .args(["s_server", "-tls1_2", "-groups", "P-521", "-www"])
            .args(["-accept", &accept, "-cert"])
            .arg(&leaf)
            .arg("-key")
            .arg(&key),
        &d.join("s_server.log"),
    );
    wait_for("openssl s_server", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&accept).ok()
    });
    let tls13 = format!("tls://127.0.0.1:{}?server_name=p521.test", nginx.port());
    let tls12 = format!("tls://{accept}?server_name=p521.test");
    // nginx's virtual host once more, under another name, against the other CA.
    let tls13_other = tls13.replace("127.0.0.1", "localhost");
    let config = d.join("endpoints.toml");
    let mut toml = String::new();
    for (url, bundle) in [
        (&tls13, &ca521),
        (&tls12, &ca521),
        (&tls13_other, &other521),
    ] {
        toml += &format!(
            "[[endpoints]]\nurl = \"{url}\"\nca_bundle = \"{}\"\n",
            bundle.display()
        );
    }
    std::fs::write(&config, toml).unwrap();
    let out = certs(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let log = stderr(&out);

    let openssl_text = stdout(&run(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&leaf)));
    let key_bits = openssl_text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Public-Key: (")?
                .strip_suffix(" bit)")
        })
        .unwrap_or_else(|| panic!("no key size in\n{openssl_text}"));
    let key_algorithm = openssl_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Public Key Algorithm: "))
        .unwrap();
    for (url, version, bundle, verified) in [
        (&tls13, "TLSv1_3", &ca521, 1.0),
        (&tls12, "TLSv1_2", &ca521, 1.0),
        (&tls13_other, "TLSv1_3", &other521, 0.0),
    ] {
        let e = format!("endpoint=\"{url}\"");
        assert_eq!(
            value(&text, "sysgauge_cert_probe_success", &e),
            Some(1.0),
            "{url}:\n{text}\n{log}"
        );
        let info = value(
            &text,
            "sysgauge_cert_probe_tls_info",
            &format!(
                "{e},version=\"{version}\",cipher=\"{cipher}\"",
                cipher = match version {
                    "TLSv1_3" => "TLS13_AES_256_GCM_SHA384",
                    _ => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                }
            ),
        );
        assert_eq!(info, Some(1.0), "{url}:\n{text}");
        let series = |metric: &str| endpoint_series(metric, url, 0, "p521.test", "ca521", &leaf);
        assert_eq!(
            sample(
                &text,
                &series("sysgauge_cert_endpoint_not_after_timestamp_seconds")
            ),
            Some(openssl::not_after(&leaf) as f64),
            "{url}:\n{text}"
        );
        assert_eq!(
            sample(&text, &series("sysgauge_cert_endpoint_public_key_size")),
            Some(key_bits.parse().unwrap()),
            "{url}:\n{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("sysgauge_cert_endpoint_info{")
                    && l.contains(&e)
                    && l.contains(&format!("public_key_algorithm=\"{key_algorithm}\""))),
            "{url}: {key_algorithm}\n{text}"
        );
        assert_eq!(
            value(
                &text,
                "sysgauge_cert_endpoint_chain_verified",
                &format!("{e},ca_bundle=\"{}\"", bundle.display())
            ),
            Some(verified),
            "{url}:\n{text}\n{log}"
        );
    }
}
