//! Boots a real systemd (see `sysgauge_testkit::systemd`) with N generated oneshot services,
//! prints `PID <pid>` once they have all run, and keeps it up until stdin closes. The
//! benchmarks use it: `bench/systemd.sh`.
//!
//! ```text
//! cargo run -p sysgauge-testkit --example boot-systemd -- 1000
//! ```
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Read;

use sysgauge_testkit::systemd::SystemdBoot;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("the number of units"))
        .unwrap_or(1000);
    let units = sysgauge_testkit::systemd::generated_services("bench", n);
    let refs: Vec<(&str, &str)> = units
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let Some(boot) = SystemdBoot::start(&refs) else {
        std::process::exit(77);
    };
    boot.wait_settled(std::time::Duration::from_secs(120));
    println!("PID {}", boot.pid());
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
