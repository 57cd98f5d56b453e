//! Property-based tests of common's parsers of untrusted input: the configuration loader and
//! `Accept` negotiation. Case counts are bounded so that CI spends seconds here; seeds that
//! once failed are kept in proptest-regressions/ and replayed first.

use std::path::Path;

use proptest::prelude::*;
use sysgauge_common::{config, encode::Format};

sysgauge_common::exporter_config! {
    /// Every shared section plus keys of each TOML type.
    pub struct Config {
        /// A list.
        pub paths: Vec<String>,
        /// A count.
        pub count: Option<sysgauge_common::limits::Concurrency>,
        /// A flag.
        pub enabled: Option<bool>,
    }
}

/// A valid file using every shared key.
const VALID: &str = r#"paths = ["/a", "/b/**/*.pem"]
count = 4
enabled = true

[web]
listen_addresses = ["127.0.0.1:9999", ":9998"]
telemetry_path = "/metrics"
max_requests = 40
systemd_socket = false

[log]
level = "info"
format = "json"

[collector]
timeout = "10s"

[textfile]
directory = "/var/lib/node_exporter"
file = "x.prom"
"#;

/// Replacements that stress the loader: huge and negative numbers, huge durations, wrong
/// types, broken quoting, nesting.
const NASTY: &[&str] = &[
    "99999999999999999999",
    "-1",
    "\"9999999999999h\"",
    "\"18446744073709551615s\"",
    "\"0s\"",
    "1e309",
    "nan",
    "[[[[[[[[",
    "{ a = { b = { c = 1 } } }",
    "\"\\u0000\"",
    "'''",
    "\"\u{1F600}\"",
    "0x7fffffffffffffff",
    "",
];

fn mutate(text: &str, edits: &[(prop::sample::Index, u8, prop::sample::Index)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (at, op, pick) in edits {
        let i = at.index(lines.len());
        match op % 5 {
            // Replace a value with a nasty one.
            0 => {
                if let Some((key, _)) = lines[i].split_once('=') {
                    lines[i] = format!("{key}= {}", NASTY[pick.index(NASTY.len())]);
                }
            }
            // Drop a line, or duplicate it (a duplicate key or table).
            1 => {
                lines.remove(i);
            }
            2 => {
                let line = lines[i].clone();
                lines.insert(i, line);
            }
            // Cut a line short.
            3 => {
                let cut = pick.index(lines[i].len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|c| lines[i].is_char_boundary(*c))
                    .unwrap_or(0);
                lines[i].truncate(cut);
            }
            // Move a line elsewhere (a key into another table).
            _ => {
                let line = lines.remove(i);
                let to = pick.index(lines.len() + 1);
                lines.insert(to, line);
            }
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A mutated configuration file parses, or is refused with a message naming the file and
    /// a line that exists; it never panics.
    #[test]
    fn mutated_configuration_files_are_refused_with_file_and_line(
        edits in proptest::collection::vec(
            (any::<prop::sample::Index>(), any::<u8>(), any::<prop::sample::Index>()),
            1..6,
        ),
    ) {
        let text = mutate(VALID, &edits);
        if let Err(e) = config::parse::<Config>(Path::new("/etc/sysgauge/x.toml"), &text) {
            let message = e.to_string();
            prop_assert!(message.contains("/etc/sysgauge/x.toml"), "{message}");
            let line: usize = message
                .split("line ")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no line in {message:?} for\n{text}"));
            prop_assert!(line >= 1 && line <= text.lines().count() + 1, "{message}");
        }
    }

    /// Any header: no panic, and OpenMetrics only when the header asks for it.
    #[test]
    fn accept_never_panics_and_openmetrics_needs_asking(header in "[ -~]{0,120}") {
        let format = Format::negotiate(Some(&header));
        if !header.to_ascii_lowercase().contains("application/openmetrics-text") {
            prop_assert_eq!(format, Format::Text);
        }
    }

    /// The order of the media ranges does not matter, only their q-values.
    #[test]
    fn accept_ignores_the_order_of_ranges(
        ranges in proptest::collection::vec(
            (
                prop::sample::select(vec![
                    "application/openmetrics-text",
                    "application/openmetrics-text; version=1.0.0",
                    "application/openmetrics-text; version=0.0.1",
                    "text/plain",
                    "text/plain; version=0.0.4",
                    "text/*",
                    "*/*",
                    "application/json",
                ]),
                prop::option::of(prop::sample::select(vec![
                    "0", "0.1", "0.5", "0.9", "1", "1.0", "nan", "inf", "-1", "2", "x", "",
                ])),
            ),
            1..6,
        ),
        rotate in any::<prop::sample::Index>(),
    ) {
        let render = |rs: &[(&str, Option<&str>)]| {
            rs.iter()
                .map(|(m, q)| match q {
                    Some(q) => format!("{m};q={q}"),
                    None => (*m).to_owned(),
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut other = ranges.clone();
        other.rotate_left(rotate.index(ranges.len()));
        other.reverse();
        prop_assert_eq!(
            Format::negotiate(Some(&render(&ranges))),
            Format::negotiate(Some(&render(&other)))
        );
    }

    /// A q-value outside 0..=1 (or not a number) is not a preference: it cannot outbid a
    /// valid one.
    #[test]
    fn accept_q_values_out_of_range_do_not_win(q in prop::sample::select(vec!["nan", "inf", "2", "1e9", "-0.5", "NaN"])) {
        let header = format!("application/openmetrics-text;q={q},text/plain;q=0.5");
        prop_assert_eq!(Format::negotiate(Some(&header)), Format::Text);
    }
}

/// Seeds found by the properties above, kept as plain cases.
#[test]
fn regressions() {
    // q=inf made OpenMetrics win over an explicit text/plain preference.
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=inf,text/plain;q=1")),
        Format::Text
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=1,text/plain;q=0.5")),
        Format::OpenMetrics
    );
}
