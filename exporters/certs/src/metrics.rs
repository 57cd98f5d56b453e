//! The metric families of sysgauge-certs. See docs/metrics.md for the reference.

/// The labels that identify one certificate in a file.
pub const CERT_LABELS: [&str; 5] = ["path", "index", "subject_cn", "issuer_cn", "serial"];

/// The labels that identify one certificate presented by an endpoint.
pub const ENDPOINT_CERT_LABELS: [&str; 5] =
    ["endpoint", "index", "subject_cn", "issuer_cn", "serial"];

sysgauge_common::metric_families! {
    pub const NOT_AFTER: Desc<5> = Desc::gauge(
        "sysgauge_cert_not_after_timestamp_seconds",
        "End of the certificate's validity (notAfter), as a Unix timestamp",
        CERT_LABELS,
    );
    pub const NOT_BEFORE: Desc<5> = Desc::gauge(
        "sysgauge_cert_not_before_timestamp_seconds",
        "Start of the certificate's validity (notBefore), as a Unix timestamp",
        CERT_LABELS,
    );
    pub const INFO: Desc<11> = Desc::info(
        "sysgauge_cert_info",
        "What the certificate is made of, always 1: DNS and IP subject alternative names, SHA-256 fingerprint, public key and signature algorithms, whether it is a CA",
        [
            "path",
            "index",
            "subject_cn",
            "issuer_cn",
            "serial",
            "dns_names",
            "ip_addresses",
            "fingerprint_sha256",
            "public_key_algorithm",
            "signature_algorithm",
            "ca",
        ],
    );
    pub const PUBLIC_KEY_SIZE: Desc<5> = Desc::gauge(
        "sysgauge_cert_public_key_size",
        "Size of the certificate's public key in bits (RSA modulus, EC curve; 256 for Ed25519)",
        CERT_LABELS,
    );
    pub const FILE_CERTIFICATES: Desc<1> = Desc::gauge(
        "sysgauge_cert_file_certificates",
        "Number of certificates read from the file",
        ["path"],
    );
    pub const FILE_ERRORS: Desc<2> = Desc::gauge(
        "sysgauge_cert_file_errors",
        "Problems with the file in this collection, by reason (unreadable, not a certificate, corrupt PEM block or container, wrong PKCS#12 password, trailing data, bad CA bundle or key)",
        ["path", "reason"],
    );
    pub const CHAIN_VERIFIED: Desc<2> = Desc::gauge(
        "sysgauge_cert_file_chain_verified",
        "Whether the file's first certificate, with the others as intermediates, chains to the source's CA bundle now (1) or not (0)",
        ["path", "ca_bundle"],
    );
    pub const KEY_MATCH: Desc<2> = Desc::gauge(
        "sysgauge_cert_file_key_match",
        "Whether the source's private key belongs to the file's first certificate (1) or not (0)",
        ["path", "key_path"],
    );
    pub const CRL_THIS_UPDATE: Desc<3> = Desc::gauge(
        "sysgauge_cert_crl_this_update_timestamp_seconds",
        "When the certificate revocation list was issued (thisUpdate), as a Unix timestamp",
        ["path", "index", "issuer_cn"],
    );
    pub const CRL_NEXT_UPDATE: Desc<3> = Desc::gauge(
        "sysgauge_cert_crl_next_update_timestamp_seconds",
        "When the next CRL is due (nextUpdate), as a Unix timestamp; clients that check the CRL fail after it",
        ["path", "index", "issuer_cn"],
    );
    pub const CRL_REVOKED: Desc<3> = Desc::gauge(
        "sysgauge_cert_crl_revoked_certificates",
        "Number of certificates the CRL lists as revoked",
        ["path", "index", "issuer_cn"],
    );
    pub const REVOKED: Desc<4> = Desc::gauge(
        "sysgauge_cert_revoked",
        "Whether a watched CRL of the certificate's issuer lists it (1) or not (0); absent when no CRL of its issuer is watched",
        ["path", "index", "serial", "crl"],
    );
    pub const SOURCE_FILES: Desc<1> = Desc::gauge(
        "sysgauge_cert_source_files",
        "Number of files the path pattern matched; 0 usually means a typo or a missing mount",
        ["source"],
    );

    pub const PROBE_SUCCESS: Desc<1> = Desc::gauge(
        "sysgauge_cert_probe_success",
        "Whether the endpoint completed a TLS handshake (1) or not (0); an untrusted or expired certificate still counts as success",
        ["endpoint"],
    );
    pub const PROBE_ERROR: Desc<2> = Desc::gauge(
        "sysgauge_cert_probe_error",
        "Why the probe failed, set to 1: dns, refused, connect, timeout, protocol (STARTTLS or SSLRequest) or handshake",
        ["endpoint", "reason"],
    );
    pub const PROBE_DURATION: Desc<1> = Desc::gauge(
        "sysgauge_cert_probe_duration_seconds",
        "How long the whole probe took: connection, protocol dialogue and handshake",
        ["endpoint"],
    );
    pub const HANDSHAKE_DURATION: Desc<1> = Desc::gauge(
        "sysgauge_cert_probe_tls_handshake_seconds",
        "How long the TLS handshake took",
        ["endpoint"],
    );
    pub const TLS_INFO: Desc<3> = Desc::info(
        "sysgauge_cert_probe_tls_info",
        "The negotiated TLS version and cipher suite, always 1",
        ["endpoint", "version", "cipher"],
    );
    pub const ENDPOINT_NOT_AFTER: Desc<5> = Desc::gauge(
        "sysgauge_cert_endpoint_not_after_timestamp_seconds",
        "End of validity (notAfter) of a certificate the endpoint presented, as a Unix timestamp",
        ENDPOINT_CERT_LABELS,
    );
    pub const ENDPOINT_NOT_BEFORE: Desc<5> = Desc::gauge(
        "sysgauge_cert_endpoint_not_before_timestamp_seconds",
        "Start of validity (notBefore) of a certificate the endpoint presented, as a Unix timestamp",
        ENDPOINT_CERT_LABELS,
    );
    pub const ENDPOINT_INFO: Desc<11> = Desc::info(
        "sysgauge_cert_endpoint_info",
        "What the presented certificate is made of, always 1: DNS and IP subject alternative names, SHA-256 fingerprint, public key and signature algorithms, whether it is a CA",
        [
            "endpoint",
            "index",
            "subject_cn",
            "issuer_cn",
            "serial",
            "dns_names",
            "ip_addresses",
            "fingerprint_sha256",
            "public_key_algorithm",
            "signature_algorithm",
            "ca",
        ],
    );
    pub const ENDPOINT_PUBLIC_KEY_SIZE: Desc<5> = Desc::gauge(
        "sysgauge_cert_endpoint_public_key_size",
        "Size of the presented certificate's public key in bits (RSA modulus, EC curve; 256 for Ed25519)",
        ENDPOINT_CERT_LABELS,
    );
    pub const ENDPOINT_EARLIEST: Desc<1> = Desc::gauge(
        "sysgauge_cert_endpoint_earliest_not_after_timestamp_seconds",
        "The earliest notAfter among the certificates the endpoint presented",
        ["endpoint"],
    );
    pub const ENDPOINT_VERIFIED: Desc<2> = Desc::gauge(
        "sysgauge_cert_endpoint_chain_verified",
        "Whether the presented chain verifies now against the system roots or the endpoint's CA bundle (1) or not (0)",
        ["endpoint", "ca_bundle"],
    );
    pub const ENDPOINT_NAME_MATCHES: Desc<2> = Desc::gauge(
        "sysgauge_cert_endpoint_name_matches",
        "Whether the leaf certificate is valid for the server name that was sent (1) or not (0)",
        ["endpoint", "server_name"],
    );
}

/// The families a certificate is reported in: a file's or an endpoint's.
pub struct CertFamilies {
    not_after: &'static sysgauge_common::Desc<5>,
    not_before: &'static sysgauge_common::Desc<5>,
    info: &'static sysgauge_common::Desc<11>,
    key_size: &'static sysgauge_common::Desc<5>,
}

/// The families of a certificate read from a file.
pub const FILE_CERT: CertFamilies = CertFamilies {
    not_after: &NOT_AFTER,
    not_before: &NOT_BEFORE,
    info: &INFO,
    key_size: &PUBLIC_KEY_SIZE,
};

/// The families of a certificate an endpoint presented.
pub const ENDPOINT_CERT: CertFamilies = CertFamilies {
    not_after: &ENDPOINT_NOT_AFTER,
    not_before: &ENDPOINT_NOT_BEFORE,
    info: &ENDPOINT_INFO,
    key_size: &ENDPOINT_PUBLIC_KEY_SIZE,
};

/// The series of one certificate, the `index`th of `place` (a file's path label or an
/// endpoint): validity, the info series and the key size. SANs are joined with `,` in sorted
/// order, so that the series stays the same across collections.
pub fn report_certificate(
    set: &mut sysgauge_common::MetricSet,
    families: &CertFamilies,
    (place, index): (&str, usize),
    cert: &crate::x509::CertInfo,
) {
    let index = index.to_string();
    let mut series = set.object([
        place,
        index.as_str(),
        &cert.subject_cn,
        &cert.issuer_cn,
        &cert.serial,
    ]);
    series.add(families.not_after, cert.not_after as f64);
    series.add(families.not_before, cert.not_before as f64);
    let details = &cert.details;
    series.add_with(
        families.info,
        [
            details.dns_names.join(",").as_str(),
            &details.ip_addresses.join(","),
            &details.fingerprint_sha256,
            &details.public_key_algorithm,
            &details.signature_algorithm,
            if details.is_ca { "true" } else { "false" },
        ],
        1.0,
    );
    if let Some(n) = details.public_key_bits {
        series.add(families.key_size, f64::from(n));
    }
}
