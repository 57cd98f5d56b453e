//! Certificate files: `once`, `textfile` and node_exporter, configuration errors.

use std::{
    path::Path,
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use sysgauge_testkit::{
    NodeExporter, available, family_type, openssl, promtool_check_metrics, run, sample, tempfile,
};

use crate::util::*;

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

/// The labels of the first sample of `family` whose `path` label is `path`, parsed from
/// exposition text (values may hold commas and escaped quotes).
fn sample_labels(text: &str, family: &str, path: &Path) -> Option<Vec<(String, String)>> {
    let want = format!("path=\"{}\"", path.display());
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&want))?;
    let body = &line[family.len() + 1..line.rfind('}')?];
    let mut labels = Vec::new();
    let mut chars = body.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            return Some(labels);
        }
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?),
                '"' => break,
                c => value.push(c),
            }
        }
        labels.push((name.trim_start_matches(',').to_owned(), value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// `sysgauge_cert_info` and `sysgauge_cert_public_key_size` say what `openssl x509 -text
/// -fingerprint -sha256` says, for every key type a home server meets: RSA (2048 and a weak
/// 1024), RSA-PSS, P-256, P-521, Ed25519 and Ed448, each with DNS and IP names in no particular
/// order.
#[test]
fn info_series_equal_what_openssl_prints() {
    if !available("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kinds: [(&str, &[&str]); 7] = [
        ("rsa2048", &["-newkey", "rsa:2048"]),
        ("rsa1024", &["-newkey", "rsa:1024"]),
        (
            "rsapss",
            &["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
        (
            "p256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        (
            "p521",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
        ),
        ("ed25519", &["-newkey", "ed25519"]),
        ("ed448", &["-newkey", "ed448"]),
    ];
    for (name, newkey) in kinds {
        let out = run(Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "30"])
            .args(newkey)
            .arg("-keyout")
            .arg(dir.path().join(format!("{name}.key")))
            .arg("-out")
            .arg(dir.path().join(format!("{name}.pem")))
            .args(["-subj", &format!("/CN={name}.test")])
            .args([
                "-addext",
                &format!(
                    "subjectAltName=DNS:{name}.test,DNS:alt.{name}.test,DNS:{name}.test,IP:::1,IP:127.0.0.1"
                ),
            ]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pattern = format!("{}/*.pem", dir.path().display());
    let out = certs(&["--path", &pattern, "once"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    for (name, _) in kinds {
        let pem = dir.path().join(format!("{name}.pem"));
        let openssl = |flags: &[&str]| -> String {
            let out = run(Command::new("openssl")
                .args(["x509", "-noout", "-in"])
                .arg(&pem)
                .args(flags));
            String::from_utf8(out.stdout).unwrap()
        };
        let text_out = openssl(&["-text"]);
        let after = |marker: &str| -> String {
            let line = text_out
                .lines()
                .find(|l| l.trim_start().starts_with(marker))
                .unwrap_or_else(|| panic!("no {marker} in\n{text_out}"));
            line.trim_start()[marker.len()..].trim().to_owned()
        };
        let fingerprint = openssl(&["-fingerprint", "-sha256"])
            .trim()
            .strip_prefix("sha256 Fingerprint=")
            .unwrap()
            .to_owned();
        // "DNS:a, DNS:b, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
        let sans = openssl(&["-ext", "subjectAltName"]);
        let sans_line = sans.lines().nth(1).unwrap().trim().to_owned();
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for entry in sans_line.split(", ") {
            if let Some(d) = entry.strip_prefix("DNS:") {
                dns.push(d.to_owned());
            } else if let Some(ip) = entry.strip_prefix("IP Address:") {
                ips.push(ip.parse::<std::net::IpAddr>().unwrap().to_string());
            }
        }
        dns.sort();
        dns.dedup();
        ips.sort();
        let labels = sample_labels(&text, "sysgauge_cert_info", &pem)
            .unwrap_or_else(|| panic!("no sysgauge_cert_info for {name} in\n{text}"));
        let label = |k: &str| -> String {
            labels
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{name}: no label {k} in {labels:?}"))
        };
        assert_eq!(label("fingerprint_sha256"), fingerprint, "{name}");
        assert_eq!(
            label("public_key_algorithm"),
            after("Public Key Algorithm:"),
            "{name}"
        );
        assert_eq!(
            label("signature_algorithm"),
            after("Signature Algorithm:"),
            "{name}"
        );
        assert_eq!(label("dns_names"), dns.join(","), "{name}");
        assert_eq!(label("ip_addresses"), ips.join(","), "{name}");
        assert_eq!(label("ip_addresses"), "127.0.0.1,::1", "{name}");
        assert_eq!(label("dns_names"), format!("alt.{name}.test,{name}.test"));
        // openssl's self-signed certificates from `req -x509` carry CA:TRUE.
        let is_ca = text_out.contains("CA:TRUE");
        assert_eq!(label("ca"), is_ca.to_string(), "{name}");
        // "Public-Key: (2048 bit)". openssl prints no size for an Edwards key ("ED448
        // Public-Key:"), whose size (EVP_PKEY_get_bits, what `s_client` prints as "Server public
        // key is 456 bit") is that of the key it dumps after "pub:": 32 or 57 bytes.
        let bits = text_out
            .lines()
            .find_map(|l| {
                let rest = l.trim().split("Public-Key: (").nth(1)?;
                rest.strip_suffix(" bit)")?.parse::<f64>().ok()
            })
            .unwrap_or_else(|| {
                let dump = text_out.split("pub:").nth(1).unwrap_or_default();
                let bytes = dump
                    .lines()
                    .skip(1)
                    .map(str::trim)
                    .take_while(|l| {
                        !l.is_empty() && l.chars().all(|c| c.is_ascii_hexdigit() || c == ':')
                    })
                    .flat_map(|l| l.split(':').filter(|b| !b.is_empty()))
                    .count();
                (bytes * 8) as f64
            });
        let series = cert_series(
            "sysgauge_cert_public_key_size",
            &pem,
            0,
            &format!("{name}.test"),
            &format!("{name}.test"),
            &pem,
        );
        assert_eq!(sample(&text, &series), Some(bits), "{series}");
    }
    // The weak key is reported as such, so that the alert can see it.
    let weak = cert_series(
        "sysgauge_cert_public_key_size",
        &dir.path().join("rsa1024.pem"),
        0,
        "rsa1024.test",
        "rsa1024.test",
        &dir.path().join("rsa1024.pem"),
    );
    assert_eq!(sample(&text, &weak), Some(1024.0));
}

/// Every container openssl writes is read, each certificate with the dates and serial openssl
/// prints for it: PKCS#7 (PEM and DER), PKCS#12 (with a password file, with the empty
/// password), OpenSSL's TRUSTED CERTIFICATE, DER with trailing bytes, and a negative serial.
/// A wrong PKCS#12 password, a legacy-encrypted PKCS#12 and the trailing bytes each give their
/// own error series and a log line naming the file, never the password.
#[test]
fn containers_and_odd_encodings_that_openssl_reads() {
    if !available("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ossl = |args: &[&str]| openssl_in(d, args);
    // Two self-signed certificates: one with a negative serial, as openssl allows.
    for (name, serial) in [("a", "0x5eed"), ("neg", "-0x1234ab")] {
        ossl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-set_serial",
            serial,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={name}.test"),
        ]);
    }
    let files = d.join("files");
    std::fs::create_dir(&files).unwrap();
    ossl(&[
        "crl2pkcs7",
        "-nocrl",
        "-certfile",
        "a.pem",
        "-certfile",
        "neg.pem",
        "-out",
        "files/bundle.p7b",
    ]);
    ossl(&[
        "pkcs7",
        "-in",
        "files/bundle.p7b",
        "-outform",
        "DER",
        "-out",
        "files/bundle.p7c",
    ]);
    ossl(&[
        "x509",
        "-in",
        "neg.pem",
        "-addtrust",
        "serverAuth",
        "-out",
        "files/trusted.pem",
    ]);
    ossl(&["x509", "-in", "a.pem", "-outform", "DER", "-out", "a.der"]);
    let mut trailing = std::fs::read(d.join("a.der")).unwrap();
    trailing.extend_from_slice(b"garbage\n");
    std::fs::write(files.join("trailing.der"), &trailing).unwrap();
    // The password of the first source comes as a systemd credential, as LoadCredential=
    // hands it over; the others' from files.
    std::fs::create_dir(d.join("creds")).unwrap();
    std::fs::write(d.join("creds/p12"), "s3cret pw\n").unwrap();
    std::fs::write(d.join("password"), "s3cret pw\n").unwrap();
    std::fs::write(d.join("wrong"), "not it\n").unwrap();
    let p12 = |out: &str, pass: &str, extra: &[&str]| {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            "a.pem",
            "-inkey",
            "a.key",
            "-certfile",
            "neg.pem",
            "-passout",
            pass,
            "-out",
            out,
        ];
        args.extend_from_slice(extra);
        ossl(&args);
    };
    p12("files/store.p12", "file:password", &[]);
    let nopass = d.join("nopass");
    std::fs::create_dir(&nopass).unwrap();
    p12("nopass/empty.pfx", "pass:", &[]);
    p12("nopass/needs.p12", "file:password", &[]);
    let other = d.join("other");
    std::fs::create_dir(&other).unwrap();
    p12("other/wrong.p12", "file:password", &[]);
    // OpenSSL 1.x's encryption (RC2-40 certificates, 3DES keys), 3DES with a SHA-1 MAC as
    // Windows and Java write it, and no MAC at all.
    p12("other/legacy.p12", "file:wrong", &["-legacy"]);
    p12(
        "other/des.p12",
        "file:wrong",
        &["-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1"],
    );
    p12("other/nomac.p12", "file:wrong", &["-nomac"]);
    let store = std::fs::read(files.join("store.p12")).unwrap();
    std::fs::write(other.join("cut.p12"), &store[..store.len() / 2]).unwrap();
    let p7c = std::fs::read(files.join("bundle.p7c")).unwrap();
    std::fs::write(other.join("cut.p7c"), &p7c[..p7c.len() - 100]).unwrap();

    let config = d.join("certs.toml");
    std::fs::write(
        &config,
        format!(
            "[[files]]\npaths = [\"{d}/files\"]\npkcs12_password_credential = \"p12\"\n\n\
             [[files]]\npaths = [\"{d}/other\"]\npkcs12_password_file = \"{d}/wrong\"\n\n\
             [[files]]\npaths = [\"{d}/nopass\"]\n",
            d = d.display()
        ),
    )
    .unwrap();
    let out = run(Command::new(BIN)
        .args(["--config", config.to_str().unwrap(), "once"])
        .env("CREDENTIALS_DIRECTORY", d.join("creds")));
    let text = stdout(&out);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");

    // (file, index, certificate it must be) for every certificate of every container.
    let expected = [
        ("bundle.p7b", 0, "a"),
        ("bundle.p7b", 1, "neg"),
        ("bundle.p7c", 0, "a"),
        ("bundle.p7c", 1, "neg"),
        ("trusted.pem", 0, "neg"),
        ("trailing.der", 0, "a"),
        ("store.p12", 0, "a"),
        ("store.p12", 1, "neg"),
    ];
    let empty = [("empty.pfx", 0, "a"), ("empty.pfx", 1, "neg")];
    let with_other_password = [
        ("legacy.p12", 0, "a"),
        ("legacy.p12", 1, "neg"),
        ("des.p12", 0, "a"),
        ("des.p12", 1, "neg"),
        ("nomac.p12", 0, "a"),
        ("nomac.p12", 1, "neg"),
    ];
    let all = expected
        .iter()
        .map(|e| (&files, e))
        .chain(empty.iter().map(|e| (&nopass, e)))
        .chain(with_other_password.iter().map(|e| (&other, e)));
    for (dir, &(file, index, name)) in all {
        let pem = d.join(format!("{name}.pem"));
        let cn = format!("{name}.test");
        let series = cert_series(
            "sysgauge_cert_not_after_timestamp_seconds",
            &dir.join(file),
            index,
            &cn,
            &cn,
            &pem,
        );
        assert_eq!(
            sample(&text, &series),
            Some(openssl::not_after(&pem) as f64),
            "{series} in\n{text}"
        );
    }
    // The negative serial as `openssl x509 -serial` prints it (cert_series asked openssl).
    assert!(text.contains("serial=\"-1234AB\""), "{text}");
    assert!(text.contains("serial=\"5EED\""), "{text}");
    let file_series = |metric: &str, path: &Path, extra: &str| {
        sample(
            &text,
            &format!("{metric}{{path=\"{}\"{extra}}}", path.display()),
        )
    };
    for (file, n) in [
        ("bundle.p7b", 2.0),
        ("trusted.pem", 1.0),
        ("store.p12", 2.0),
        ("trailing.der", 1.0),
    ] {
        assert_eq!(
            file_series("sysgauge_cert_file_certificates", &files.join(file), ""),
            Some(n),
            "{file}"
        );
    }
    let reason = |path: &Path, reason: &str| {
        file_series(
            "sysgauge_cert_file_errors",
            path,
            &format!(",reason=\"{reason}\""),
        )
    };
    assert_eq!(
        reason(&files.join("trailing.der"), "trailing_data"),
        Some(1.0)
    );
    assert!(
        log.contains(&format!(
            "{}: at byte {}: 8 bytes follow",
            files.join("trailing.der").display(),
            trailing.len() - 8
        )),
        "{log}"
    );
    assert_eq!(reason(&other.join("wrong.p12"), "bad_password"), Some(1.0));
    assert_eq!(
        file_series(
            "sysgauge_cert_file_certificates",
            &other.join("wrong.p12"),
            ""
        ),
        Some(0.0)
    );
    assert!(
        log.contains(&format!(
            "{}: PKCS#12 password: wrong password",
            other.join("wrong.p12").display()
        )),
        "{log}"
    );
    assert_eq!(reason(&nopass.join("needs.p12"), "bad_password"), Some(1.0));
    assert!(log.contains("the file needs a password"), "{log}");
    assert_eq!(reason(&other.join("cut.p12"), "bad_pkcs12"), Some(1.0));
    assert!(
        log.contains(&format!("{}: PKCS#12: ", other.join("cut.p12").display())),
        "{log}"
    );
    assert_eq!(reason(&other.join("cut.p7c"), "bad_pkcs7"), Some(1.0));
    // Only the files above have problems, and no password reaches the log.
    assert_eq!(
        text.matches("sysgauge_cert_file_errors{").count(),
        5,
        "{text}"
    );
    assert!(!log.contains("s3cret") && !log.contains("not it"), "{log}");
}

/// A CRL made by `openssl ca -gencrl`, as PEM and DER: its dates equal what `openssl crl`
/// prints, its revoked count is right, and of two certificates of its issuer only the revoked
/// one is reported as such; a certificate of another issuer gets no verdict; a corrupt CRL is
/// `bad_crl`.
#[test]
fn crls_and_the_certificates_they_revoke() {
    if !available("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ossl = |args: &[&str]| -> String {
        let out = run(Command::new("openssl").current_dir(d).args(args));
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let self_signed = |name: &str| {
        let mut args = vec!["req", "-x509", "-days", "30", "-subj"];
        let subj = format!("/CN={name}");
        args.push(&subj);
        args.extend(ec);
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        args.extend(["-keyout", &key, "-out", &pem]);
        ossl(&args);
    };
    self_signed("crl-ca");
    self_signed("other");
    std::fs::write(d.join("index.txt"), "").unwrap();
    std::fs::write(d.join("crlnumber"), "01\n").unwrap();
    std::fs::write(
        d.join("ca.cnf"),
        "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=7\n",
    )
    .unwrap();
    for (name, serial) in [("revoked", "0x1001"), ("kept", "0x1002")] {
        let mut args = vec!["req", "-new", "-subj"];
        let subj = format!("/CN={name}.test");
        args.push(&subj);
        args.extend(ec);
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        args.extend(["-keyout", &key, "-out", &csr]);
        ossl(&args);
        ossl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "crl-ca.pem",
            "-CAkey",
            "crl-ca.key",
            "-set_serial",
            serial,
            "-days",
            "30",
            "-out",
            &pem,
        ]);
    }
    let ca_args = [
        "-config",
        "ca.cnf",
        "-keyfile",
        "crl-ca.key",
        "-cert",
        "crl-ca.pem",
    ];
    let mut revoke = vec!["ca", "-revoke", "revoked.pem"];
    revoke.extend(ca_args);
    ossl(&revoke);
    let mut gencrl = vec!["ca", "-gencrl", "-out", "ca.crl"];
    gencrl.extend(ca_args);
    ossl(&gencrl);
    ossl(&[
        "crl",
        "-in",
        "ca.crl",
        "-outform",
        "DER",
        "-out",
        "ca-crl.der",
    ]);

    // A CRL that cannot be read: `bad_crl`, not a certificate problem.
    std::fs::write(
        d.join("broken.crl"),
        "-----BEGIN X509 CRL-----\nMIIBAAAA\n-----END X509 CRL-----\n",
    )
    .unwrap();
    let out = certs(&[
        "--path",
        &format!("{}/*.pem", d.display()),
        "--path",
        &format!("{}/broken.crl", d.display()),
        "--path",
        &format!("{}/ca.crl", d.display()),
        "--path",
        &format!("{}/ca-crl.der", d.display()),
        "once",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let date = |flag: &str| -> f64 {
        let printed = ossl(&["crl", "-noout", flag, "-in", "ca.crl"]);
        let when = printed.trim().split_once('=').unwrap().1.to_owned();
        let out = run(Command::new("date").args(["-u", "-d", &when, "+%s"]));
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    for crl in ["ca.crl", "ca-crl.der"] {
        let labels = format!(
            "{{path=\"{}\",index=\"0\",issuer_cn=\"crl-ca\"}}",
            d.join(crl).display()
        );
        let value = |metric: &str| sample(&text, &format!("{metric}{labels}"));
        assert_eq!(
            value("sysgauge_cert_crl_this_update_timestamp_seconds"),
            Some(date("-lastupdate")),
            "{crl} in\n{text}"
        );
        assert_eq!(
            value("sysgauge_cert_crl_next_update_timestamp_seconds"),
            Some(date("-nextupdate"))
        );
        assert_eq!(value("sysgauge_cert_crl_revoked_certificates"), Some(1.0));
        for (name, serial, revoked) in [("revoked", "1001", 1.0), ("kept", "1002", 0.0)] {
            let series = format!(
                "sysgauge_cert_revoked{{path=\"{}\",index=\"0\",serial=\"{serial}\",crl=\"{}\"}}",
                d.join(format!("{name}.pem")).display(),
                d.join(crl).display()
            );
            assert_eq!(sample(&text, &series), Some(revoked), "{series}");
        }
    }
    // Two CRLs and three certificates of their issuer (the self-signed CA is one): six
    // verdicts, none for the certificate of another issuer.
    assert_eq!(text.matches("sysgauge_cert_revoked{").count(), 6, "{text}");
    let other = format!(
        "sysgauge_cert_revoked{{path=\"{}\"",
        d.join("other.pem").display()
    );
    assert!(!text.contains(&other), "{text}");
    let broken = format!(
        "sysgauge_cert_file_errors{{path=\"{}\",reason=\"bad_crl\"}}",
        d.join("broken.crl").display()
    );
    assert_eq!(sample(&text, &broken), Some(1.0), "{text}");
    assert_eq!(
        text.matches("sysgauge_cert_file_errors{").count(),
        1,
        "{text}"
    );
    assert!(stderr(&out).contains("the certificate is revoked"));
    assert!(
        stderr(&out).contains("CRL, PEM block 0 (line 1)"),
        "{}",
        stderr(&out)
    );

    // Enough files for several reader threads, the CRL among them in the middle: every
    // certificate, in whichever thread's part, is matched against it, and the series come in
    // the order of the paths.
    let many = d.join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..700 {
        let from = match i {
            350 => "ca.crl",
            i if i % 2 == 0 => "revoked.pem",
            _ => "kept.pem",
        };
        std::fs::hard_link(d.join(from), many.join(format!("{i:04}.pem"))).unwrap();
    }
    let out = certs(&["--path", &format!("{}/*", many.display()), "once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let verdicts: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("sysgauge_cert_revoked{path=\""))
        .map(|l| {
            let (path, rest) = l.split_once('"').unwrap();
            let value = rest.rsplit_once(' ').unwrap().1.parse().unwrap();
            (path.to_owned(), value)
        })
        .collect();
    let expected: Vec<(String, f64)> = (0..700)
        .filter(|&i| i != 350)
        .map(|i| {
            let path = many.join(format!("{i:04}.pem")).display().to_string();
            (path, if i % 2 == 0 { 1.0 } else { 0.0 })
        })
        .collect();
    assert_eq!(verdicts, expected);
}

/// P-521, which ring cannot verify: a chain made by openssl (a P-521 CA signing a P-521 leaf
/// with SHA-256, openssl's default, and one with SHA-512) verifies exactly where `openssl
/// verify` accepts it, and not against another P-521 CA; a P-521 key matches its certificate
/// and not another's. An Ed448 CA, which sysgauge cannot check at all, is reported as
/// `unsupported_algorithm` with no verdict, not as a chain that does not verify.
#[test]
fn p521_chains_and_keys_verify_as_openssl_says_and_ed448_is_unsupported() {
    if !available("openssl", "openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ca(d, "ca521", &P521);
    ca(d, "other521", &P521);
    ca(d, "ca448", &["-newkey", "ed448"]);
    p521_leaf(d, "leaf256", "ca521", Some("-sha256"));
    p521_leaf(d, "leaf512", "ca521", Some("-sha512"));
    p521_leaf(d, "leaf448", "ca448", None);
    // What openssl says, for comparison.
    let openssl_verifies = |ca: &str, leaf: &str| {
        run(Command::new("openssl").current_dir(d).args([
            "verify",
            "-CAfile",
            &format!("{ca}.pem"),
            &format!("{leaf}.pem"),
        ]))
        .status
        .success()
    };
    assert!(openssl_verifies("ca521", "leaf256"));
    assert!(openssl_verifies("ca521", "leaf512"));
    assert!(!openssl_verifies("other521", "leaf256"));
    let config = d.join("certs.toml");
    std::fs::write(
        &config,
        format!(
            "[[files]]\npaths = [\"{d}/leaf256.pem\", \"{d}/leaf512.pem\"]\nca_bundle = \"{d}/ca521.pem\"\nkey = \"leaf256.key\"\n\n\
             [[files]]\npaths = [\"{d}/leaf448.pem\"]\nca_bundle = \"{d}/ca448.pem\"\n\n\
             [[files]]\npaths = [\"{d}/ca448.pem\"]\nkey = \"ca448.key\"\n",
            d = d.display()
        ),
    )
    .unwrap();
    let out = certs(&["--config", config.to_str().unwrap(), "once"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let verified = |leaf: &str, ca: &str| {
        sample(
            &text,
            &format!(
                "sysgauge_cert_file_chain_verified{{path=\"{}\",ca_bundle=\"{}\"}}",
                d.join(format!("{leaf}.pem")).display(),
                d.join(format!("{ca}.pem")).display()
            ),
        )
    };
    assert_eq!(
        verified("leaf256", "ca521"),
        Some(1.0),
        "{text}\n{}",
        stderr(&out)
    );
    assert_eq!(verified("leaf512", "ca521"), Some(1.0), "{text}");
    let key_match = |leaf: &str| {
        sample(
            &text,
            &format!(
                "sysgauge_cert_file_key_match{{path=\"{}\",key_path=\"{}\"}}",
                d.join(format!("{leaf}.pem")).display(),
                d.join("leaf256.key").display()
            ),
        )
    };
    assert_eq!(key_match("leaf256"), Some(1.0), "{text}");
    assert_eq!(key_match("leaf512"), Some(0.0), "{text}");
    // A file is reported by its first source only: the other CA, alone.
    std::fs::write(
        &config,
        format!(
            "[[files]]\npaths = [\"{d}/leaf256.pem\"]\nca_bundle = \"{d}/other521.pem\"\n",
            d = d.display()
        ),
    )
    .unwrap();
    let other = certs(&["--config", config.to_str().unwrap(), "once"]);
    let other_text = stdout(&other);
    assert_eq!(
        sample(
            &other_text,
            &format!(
                "sysgauge_cert_file_chain_verified{{path=\"{}\",ca_bundle=\"{}\"}}",
                d.join("leaf256.pem").display(),
                d.join("other521.pem").display()
            )
        ),
        Some(0.0),
        "{other_text}"
    );
    // Ed448: no verdict, a reason that says so.
    assert_eq!(verified("leaf448", "ca448"), None, "{text}");
    assert_eq!(
        sample(
            &text,
            &format!(
                "sysgauge_cert_file_errors{{path=\"{}\",reason=\"unsupported_algorithm\"}}",
                d.join("leaf448.pem").display()
            )
        ),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("reason=\"bad_key\""), "{text}");
    // An Ed448 private key: no key_match verdict either, the same reason, a log line that says
    // what was not done and why.
    assert_eq!(
        sample(
            &text,
            &format!(
                "sysgauge_cert_file_errors{{path=\"{}\",reason=\"unsupported_algorithm\"}}",
                d.join("ca448.pem").display()
            )
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        !text.contains(&format!("key_path=\"{}\"", d.join("ca448.key").display())),
        "{text}"
    );
    let log = stderr(&out);
    assert!(
        log.lines().any(|l| l.contains("ca448.key")
            && l.contains("reason=unsupported_algorithm")
            && l.contains("not compared with the certificate")
            && l.contains("ED448")),
        "{log}"
    );
}
