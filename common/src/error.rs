//! The error type of the common crate.

use std::path::PathBuf;

use crate::config::SettingError;

/// Everything that can go wrong in the shared machinery.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read configuration file {path}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid; the message names the line and key.
    #[error("invalid configuration file {path}: {message}")]
    ConfigInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and where, as the TOML or YAML parser reports it.
        message: String,
    },
    /// A setting from the command line or the configuration file has a bad value; the message
    /// names the flag, or the file, line and key.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// The textfile could not be written; the previous file, if any, is untouched.
    #[error("cannot write textfile {path}")]
    Textfile {
        /// The file that was to be written.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A listening socket could not be opened.
    #[error("cannot listen on {address}")]
    Listen {
        /// The address.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings of the web configuration file are unusable.
    #[error("TLS setup from {path}: {message}")]
    Tls {
        /// The web configuration file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// A bad value of the flag `--flag` (or of the key that mirrors it).
    pub fn setting(flag: &str, message: impl Into<String>) -> Self {
        Error::Setting(SettingError::flag(flag, message))
    }
}
