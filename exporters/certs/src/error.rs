//! The error type of sysgauge-certs.

use std::path::PathBuf;

/// What can go wrong with one certificate file or its companions.
///
/// None of these stops a collection: each becomes a `sysgauge_cert_file_errors` series with the
/// [`Error::reason`] label and a log line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no certificate at all.
    #[error("{path}: no certificate found (neither a PEM CERTIFICATE block nor DER)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// One PEM block is not valid base64, or its contents are not a certificate.
    #[error("{path}: PEM block {block} (line {line}) is not a valid certificate: {message}")]
    BadBlock {
        /// The file.
        path: PathBuf,
        /// Position of the block among the file's PEM blocks, from 0.
        block: usize,
        /// The line of its BEGIN marker, from 1.
        line: usize,
        /// What is wrong.
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
            Error::Read { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => "not_found",
                std::io::ErrorKind::PermissionDenied => "permission_denied",
                _ => "read_failed",
            },
            Error::NoCertificate { .. } => "no_certificate",
            Error::BadBlock { .. } => "bad_certificate",
            Error::CaBundle { .. } => "bad_ca_bundle",
            Error::Key { .. } => "bad_key",
            Error::Pattern { .. } => "bad_pattern",
        }
    }
}
