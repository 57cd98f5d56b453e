//! End-to-end tests of sysgauge-gpu (being written).
