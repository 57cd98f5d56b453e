//! The `sysgauge-restic` binary: everything but flag parsing lives in the library crate.

fn main() -> std::process::ExitCode {
    sysgauge_common::main(sysgauge_restic::run)
}
