//! The error type of sysgauge-backup.

use std::path::PathBuf;

/// What can go wrong with the configuration or with one target.
///
/// Only [`Error::Config`] stops the exporter (at start-up). Every other error belongs to one
/// target: it becomes `sysgauge_backup_target_up{target} 0` plus a log line naming the target,
/// and the other targets are still reported.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A target in the configuration file or on the command line is invalid.
    #[error("{0}")]
    Config(String),
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// systemd could not be asked about a unit.
    #[error("cannot read unit {unit} over D-Bus")]
    Dbus {
        /// The unit.
        unit: String,
        /// Why (boxed: zbus errors are large, and this enum is in every target's result).
        #[source]
        source: Box<sysgauge_dbus::Error>,
    },
    /// systemd does not know the unit (not-found, bad-setting, masked, ...).
    #[error("unit {unit} is not loaded (load state {load_state})")]
    UnitNotLoaded {
        /// The unit.
        unit: String,
        /// systemd's LoadState.
        load_state: String,
    },
    /// The `zfs` command could not be run, failed, ran past its deadline or printed too much.
    #[error("zfs")]
    Zfs {
        /// What the child-process runner reported, with the command line (boxed: large, and
        /// this enum is in every target's result).
        #[source]
        source: Box<sysgauge_common::Error>,
    },
    /// `zfs list` printed a line that is not `NAME<TAB>CREATION`.
    #[error("{command} printed unexpected output: {message}")]
    ZfsOutput {
        /// The command line.
        command: String,
        /// Which line, and what is wrong.
        message: String,
    },
    /// The target's check did not finish before the collector's deadline.
    #[error(
        "not finished within {0:?} (a content check of a large file keeps running and is used once done)"
    )]
    Deadline(std::time::Duration),
}

impl Error {
    /// The stable `reason` label value of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Read { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => "not_found",
                std::io::ErrorKind::PermissionDenied => "permission_denied",
                _ => "read_failed",
            },
            Error::Dbus { .. } => "dbus",
            Error::UnitNotLoaded { .. } => "unit_not_loaded",
            Error::Zfs { source } => match source.reason() {
                "timeout" => "deadline",
                "output_too_large" => "output_too_large",
                "signal" => "signal",
                _ => "zfs_failed",
            },
            Error::ZfsOutput { .. } => "zfs_failed",
            Error::Deadline(_) => "deadline",
        }
    }
}
