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
    /// systemd could not be asked at all: the bus is absent, hung or broke mid-collection.
    #[error("cannot read unit state from systemd")]
    Bus(#[source] Box<sysgauge_dbus::Error>),
}

impl From<sysgauge_dbus::Error> for Error {
    fn from(e: sysgauge_dbus::Error) -> Self {
        // Boxed: zbus errors are large, and every Result of this crate would carry the size.
        Error::Bus(Box::new(e))
    }
}
