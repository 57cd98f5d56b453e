//! End-to-end tests of sysgauge-restic against real restic repositories.
