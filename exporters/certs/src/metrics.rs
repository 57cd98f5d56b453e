//! The metric families of sysgauge-certs. See docs/metrics.md for the reference.

use sysgauge_common::Desc;

/// The labels that identify one certificate in a file.
pub const CERT_LABELS: [&str; 5] = ["path", "index", "subject_cn", "issuer_cn", "serial"];

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
pub const FILE_CERTIFICATES: Desc<1> = Desc::gauge(
    "sysgauge_cert_file_certificates",
    "Number of certificates read from the file",
    ["path"],
);
pub const FILE_ERRORS: Desc<2> = Desc::gauge(
    "sysgauge_cert_file_errors",
    "Problems with the file in this collection, by reason (unreadable, not a certificate, corrupt PEM block, bad CA bundle or key)",
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
pub const SOURCE_FILES: Desc<1> = Desc::gauge(
    "sysgauge_cert_source_files",
    "Number of files the path pattern matched; 0 usually means a typo or a missing mount",
    ["source"],
);
