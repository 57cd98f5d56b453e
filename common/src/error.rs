//! The error type of the common crate.

use std::path::PathBuf;

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
    /// A setting from the command line or the configuration file has a bad value.
    #[error("invalid setting {key}: {message}")]
    Setting {
        /// The flag or key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
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
    /// A program does not exist.
    #[error("{program} not found")]
    ProgramMissing {
        /// The program.
        program: PathBuf,
    },
    /// A program exists but cannot be started (permissions, not an executable).
    #[error("cannot start {program}")]
    ProgramUnusable {
        /// The program.
        program: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A program was still running at its deadline; its process group was killed.
    #[error("{program} did not finish within {timeout}; its process group was killed")]
    ProcessTimeout {
        /// The program and its arguments.
        program: String,
        /// The time it had, human-readable.
        timeout: String,
    },
    /// A program printed more than its bound; its process group was killed.
    #[error("{program}: output over {limit} bytes on {stream}; its process group was killed")]
    OutputTooLarge {
        /// The program and its arguments.
        program: String,
        /// `stdout`.
        stream: &'static str,
        /// The bound, in bytes.
        limit: usize,
    },
    /// A program exited with a code other than 0.
    #[error("{program} exited with code {code}: {stderr}")]
    ProcessExit {
        /// The program and its arguments.
        program: String,
        /// The exit code.
        code: i32,
        /// The end of its stderr, on one line.
        stderr: String,
    },
    /// A signal ended a program.
    #[error("{program} was killed by {name}: {stderr}")]
    ProcessSignal {
        /// The program and its arguments.
        program: String,
        /// The signal number.
        signal: i32,
        /// The signal's name, e.g. `SIGKILL`.
        name: String,
        /// The end of its stderr, on one line.
        stderr: String,
    },
    /// Waiting for a program or reading its output failed.
    #[error("cannot read from {program}")]
    ProcessIo {
        /// The program and its arguments.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// A stable label value for a failed child process (`not_found`, `unusable`, `timeout`,
    /// `output_too_large`, `exit_code`, `signal`, `read_failed`); `error` for the other errors.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::ProgramMissing { .. } => "not_found",
            Error::ProgramUnusable { .. } => "unusable",
            Error::ProcessTimeout { .. } => "timeout",
            Error::OutputTooLarge { .. } => "output_too_large",
            Error::ProcessExit { .. } => "exit_code",
            Error::ProcessSignal { .. } => "signal",
            Error::ProcessIo { .. } => "read_failed",
            _ => "error",
        }
    }
}
