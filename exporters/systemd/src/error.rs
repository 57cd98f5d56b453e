//! The error type of sysgauge-systemd.

/// What stops sysgauge-systemd from starting or from collecting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unit include or exclude pattern is not a valid regular expression.
    #[error("invalid unit pattern {pattern:?} ({setting}): {message}")]
    Pattern {
        /// The flag or configuration key it came from.
        setting: &'static str,
        /// The pattern.
        pattern: String,
        /// What is wrong.
        message: String,
    },
    /// A configuration value is out of range.
    #[error("{setting}: {message}")]
    Setting {
        /// The flag or configuration key.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// systemd could not be asked at all: the bus is absent, hung or broke mid-collection.
    #[error("cannot read unit state from systemd")]
    Bus(#[from] sysgauge_dbus::Error),
}
