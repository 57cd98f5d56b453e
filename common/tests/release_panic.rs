//! The panic policy holds in the binary users run: the release profile unwinds, so a collector
//! that panics is reported as failed and the process goes on (docs/config.md, "Panics").
//!
//! The test profile always unwinds, so only a release build can show this; the example
//! `panicking_exporter` is built with the workspace's release profile, the one every exporter
//! ships with.

use std::process::Command;

use sysgauge_testkit::{release_example, run, sample, tempfile};

#[test]
fn a_panicking_collector_is_reported_as_failed_in_release_builds() {
    let binary = release_example("panicking_exporter");

    let out = run(Command::new(&binary).arg("once"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "once must exit 1 for a failed collector, not abort: {stderr}"
    );
    let success = |c: &str| {
        sample(
            &stdout,
            &format!("sysgauge_example_collector_success{{collector=\"{c}\"}}"),
        )
    };
    assert_eq!(success("panics"), Some(0.0), "{stdout}");
    assert_eq!(success("works"), Some(1.0), "{stdout}");
    assert_eq!(
        sample(&stdout, "sysgauge_example_up"),
        Some(1.0),
        "{stdout}"
    );
    assert!(stderr.contains("panicked"), "the panic is logged: {stderr}");
    assert!(
        stderr.contains("collector=panics"),
        "the log names the collector: {stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = run(Command::new(&binary)
        .args(["textfile", "--directory"])
        .arg(dir.path()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("sysgauge-example.prom")).unwrap();
    assert_eq!(sample(&text, "sysgauge_example_up"), Some(1.0), "{text}");
}
