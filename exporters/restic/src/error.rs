//! The error type of sysgauge-restic.

use std::path::PathBuf;

/// What can go wrong with one repository, or with the configuration.
///
/// A repository that cannot be read does not fail the collection: it becomes
/// `sysgauge_restic_repository_up 0` plus `sysgauge_restic_repository_error` with the
/// [`Error::reason`] label, and a log line naming the repository (never its secrets).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// restic said the password is wrong (exit code 12 since 0.17.1, a message before).
    #[error("wrong password or no key found: {message}")]
    WrongPassword {
        /// restic's message, secrets removed.
        message: String,
    },
    /// restic found no repository at the location (exit code 10 since 0.17.0).
    #[error("no repository at this location: {message}")]
    RepositoryMissing {
        /// restic's message, secrets removed.
        message: String,
    },
    /// The backend's server could not be reached (connection refused, unknown host).
    #[error("repository server unreachable: {message}")]
    Unreachable {
        /// restic's message, secrets removed.
        message: String,
    },
    /// restic could not lock the repository (exit code 11 since 0.17.0).
    #[error("repository is locked: {message}")]
    Locked {
        /// restic's message, secrets removed.
        message: String,
    },
    /// restic could not get a password (missing password file, failing command).
    #[error("no password available: {message}")]
    PasswordUnavailable {
        /// restic's message, secrets removed.
        message: String,
    },
    /// restic did not finish before the deadline; its process group was killed.
    #[error("restic {command} did not finish within {timeout}; its process group was killed")]
    Timeout {
        /// The restic command, e.g. `snapshots`.
        command: &'static str,
        /// The deadline, human-readable.
        timeout: String,
    },
    /// The restic binary does not exist.
    #[error("restic binary {path} not found")]
    ResticMissing {
        /// The configured binary.
        path: PathBuf,
    },
    /// The restic binary exists but cannot be started.
    #[error("cannot start restic binary {path}")]
    ResticUnusable {
        /// The configured binary.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// restic was interrupted (exit code 130) or killed by a signal.
    #[error("restic {command} was interrupted or killed by a signal")]
    Interrupted {
        /// The restic command.
        command: &'static str,
    },
    /// Running restic failed otherwise: it printed more than its output bound, or its pipes
    /// failed; its process group was killed.
    #[error("restic {command}")]
    Process {
        /// The restic command.
        command: &'static str,
        /// What the runner reported.
        #[source]
        source: sysgauge_common::Error,
    },
    /// restic answered, but not with the JSON we expect.
    #[error("restic {command} printed output that is not the expected JSON: {message}")]
    InvalidOutput {
        /// The restic command.
        command: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Any other failure of restic (exit code 1 with an unknown message, 2, 3, ...).
    #[error("restic {command} failed with exit code {code}: {message}")]
    Failed {
        /// The restic command.
        command: &'static str,
        /// The exit code.
        code: i32,
        /// restic's message, secrets removed.
        message: String,
    },
    /// A configuration setting is invalid.
    #[error("{what}: {message}")]
    Config {
        /// Which setting, e.g. `repositories[2].password_file`.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// An environment file cannot be read or has a bad line.
    #[error("environment file {path}: {message}")]
    EnvironmentFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line number (never the line's value).
        message: String,
    },
}

impl Error {
    /// The stable `reason` label value of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::WrongPassword { .. } => "wrong_password",
            Error::RepositoryMissing { .. } => "repository_missing",
            Error::Unreachable { .. } => "unreachable",
            Error::Locked { .. } => "locked",
            Error::PasswordUnavailable { .. } => "password_unavailable",
            Error::Timeout { .. } => "timeout",
            Error::ResticMissing { .. } => "restic_missing",
            Error::ResticUnusable { .. } => "restic_unusable",
            Error::Interrupted { .. } => "interrupted",
            Error::Process { source, .. } => source.reason(),
            Error::InvalidOutput { .. } => "invalid_output",
            Error::Failed { .. } => "error",
            Error::Config { .. } | Error::EnvironmentFile { .. } => "config",
        }
    }
}
