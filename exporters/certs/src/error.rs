//! The error type of sysgauge-certs.

use std::path::PathBuf;

/// What can go wrong with one certificate file or one endpoint.
///
/// None of these stops a collection: each becomes a metric with the [`Error::reason`] label
/// (`sysgauge_cert_file_errors` for files, `sysgauge_cert_probe_error` for endpoints) and a log
/// line naming the file or endpoint. Only [`Error::Pattern`], [`Error::Setting`] and
/// [`Error::Endpoint`], found at
/// start-up, stop the exporter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read, or is not a regular file within the size limit.
    #[error(transparent)]
    File(#[from] sysgauge_common::fs::FileError),
    /// The file holds no certificate at all.
    #[error("{path}: no certificate found (neither a PEM CERTIFICATE block nor DER)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// One PEM block is not valid base64, or its contents are not a certificate.
    #[error("{path}: {at} is not a valid certificate: {message}")]
    BadBlock {
        /// The file.
        path: PathBuf,
        /// Where: `PEM block 1 (line 13)`, `DER`, `PKCS#7 certificate 2`, ...
        at: String,
        /// What is wrong.
        message: String,
    },
    /// Bytes follow a DER certificate or PKCS#7 bundle; what came before is still read.
    #[error("{path}: {message}")]
    Trailing {
        /// The file.
        path: PathBuf,
        /// How many bytes, after which.
        message: String,
    },
    /// A PKCS#7 or PKCS#12 container or a CRL is corrupt, or uses an algorithm not read here.
    #[error("{path}: {format}: {message}")]
    Container {
        /// The file.
        path: PathBuf,
        /// `PKCS#7`, `PKCS#12` or `CRL`, and where in the file.
        format: String,
        /// What is wrong.
        message: String,
        /// `bad_pkcs7`, `bad_pkcs12` or `bad_crl`.
        reason: &'static str,
    },
    /// A file's chain uses a signature or key algorithm that cannot be verified here.
    #[error("{path}: chain not checked: {message}")]
    UnsupportedAlgorithm {
        /// The file.
        path: PathBuf,
        /// Which algorithm, as webpki reports it.
        message: String,
    },
    /// A PKCS#12 file needs a password, the configured one is wrong, or it cannot be read.
    #[error("{path}: PKCS#12 password: {message}")]
    Password {
        /// The PKCS#12 file (or the password file, when that is what failed).
        path: PathBuf,
        /// What is wrong; never the password itself.
        message: String,
    },
    /// A CA bundle configured for the source cannot be used.
    #[error("CA bundle {path}: {message}")]
    CaBundle {
        /// The bundle.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A private key configured for the source cannot be read or used.
    #[error("private key {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A private key of an algorithm sysgauge cannot compare with a certificate (Ed448,
    /// RSA-PSS, brainpool curves, ...): no verdict rather than a false "bad key".
    #[error("private key {path}: not compared with the certificate: {message}")]
    UnsupportedKey {
        /// The key file.
        path: PathBuf,
        /// Which algorithm.
        message: String,
    },
    /// A configured endpoint URL is not valid.
    #[error("invalid endpoint {url:?}: {message}")]
    Endpoint {
        /// The URL as configured.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The endpoint's host name did not resolve.
    #[error("cannot resolve the host: {0}")]
    Resolve(String),
    /// The TCP connection failed.
    #[error("cannot connect")]
    Connect(#[source] std::io::Error),
    /// The server did not speak the expected protocol before TLS (STARTTLS, SSLRequest).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The TLS handshake failed.
    #[error("TLS handshake: {0}")]
    Handshake(String),
    /// The probe did not finish within its deadline.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A setting of a `[[files]]` source other than its paths is not valid.
    #[error("{key}: {message}")]
    Setting {
        /// The key, e.g. `pkcs12_password_credential`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A path pattern is not a valid glob.
    #[error("invalid path pattern {pattern:?}: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// The stable `reason` label value of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::File(e) => e.reason(),
            Error::NoCertificate { .. } => "no_certificate",
            Error::BadBlock { .. } => "bad_certificate",
            Error::Trailing { .. } => "trailing_data",
            Error::Container { reason, .. } => reason,
            Error::Password { .. } => "bad_password",
            Error::UnsupportedAlgorithm { .. } | Error::UnsupportedKey { .. } => {
                "unsupported_algorithm"
            }
            Error::CaBundle { .. } => "bad_ca_bundle",
            Error::Key { .. } => "bad_key",
            Error::Pattern { .. } => "bad_pattern",
            Error::Setting { .. } => "bad_setting",
            Error::Endpoint { .. } => "bad_endpoint",
            Error::Resolve(_) => "dns",
            Error::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => "refused",
            Error::Connect(_) => "connect",
            Error::Protocol(_) => "protocol",
            Error::Handshake(_) => "handshake",
            Error::Timeout(_) => "timeout",
        }
    }
}
