//! The plugin's answer: status line, long output, exit code.
//!
//! ```text
//! SYSGAUGE-CERTS CRITICAL - 1 critical, 1 warning of 3: lifetime /c/expired.pem -3d 1h, lifetime /c/soon.pem 12d | 'lifetime /c/expired.pem'=-266400s;1814400:;604800: ...
//! CRITICAL: lifetime /c/expired.pem = -3d 1h (critical outside 604800:)
//! WARNING: lifetime /c/soon.pem = 12d (warning outside 1814400:)
//! ```
//!
//! The first line names the worst objects (critical first, then unknown, then warning, each
//! by how far past the threshold); one line per object that is not OK follows, every object
//! with `-v`. Everything goes to stdout: Nagios does not read stderr.

use std::{fmt::Write as _, io::Write as _};

use super::{Check, Outcome, Perf, Samples, source::age};
use crate::check::perfdata::{Perfdata, Uom};

/// A plugin state, ordered from best to worst as monitoring-plugins' `max_state_alt`:
/// OK < WARNING < UNKNOWN < CRITICAL. A critical object found while another collector failed
/// is still reported as CRITICAL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Every object within its thresholds.
    Ok,
    /// A warning threshold crossed.
    Warning,
    /// The plugin could not tell.
    Unknown,
    /// A critical threshold crossed.
    Critical,
}

impl State {
    /// The exit code: 0, 1, 2 or 3.
    pub fn code(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }

    /// The name Nagios shows.
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// `SYSGAUGE-CERTS` for `sysgauge-certs`.
pub fn service(binary: &str) -> String {
    binary.to_ascii_uppercase()
}

/// An UNKNOWN answer with one line of explanation.
pub fn unknown_text(binary: &str, message: &str) -> String {
    // The first line must stay one line; the rest of a multi-line message is long output.
    let mut lines = message.lines();
    let first = lines.next().unwrap_or_default();
    let mut text = format!("{} UNKNOWN - {first}\n", service(binary));
    for line in lines {
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// Writes the answer to stdout, ignoring a closed pipe.
pub(crate) fn print(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// A value for a person: durations as `3d 4h`, bytes as `1.5GiB`.
pub fn human(value: f64, uom: Uom) -> String {
    match uom {
        Uom::Seconds if value.is_finite() => {
            let sign = if value < 0.0 { "-" } else { "" };
            let s = value.abs().round() as u64;
            let (d, h, m, sec) = (s / 86400, s % 86400 / 3600, s % 3600 / 60, s % 60);
            let text = if d > 0 {
                if h > 0 {
                    format!("{d}d {h}h")
                } else {
                    format!("{d}d")
                }
            } else if h > 0 {
                format!("{h}h {m}m")
            } else if m > 0 {
                format!("{m}m {sec}s")
            } else {
                format!("{sec}s")
            };
            format!("{sign}{text}")
        }
        Uom::Bytes if value.is_finite() => {
            let mut v = value;
            let mut unit = "B";
            for u in ["KiB", "MiB", "GiB", "TiB"] {
                if v.abs() < 1024.0 {
                    break;
                }
                v /= 1024.0;
                unit = u;
            }
            format!(
                "{}{unit}",
                super::perfdata::number((v * 10.0).round() / 10.0)
            )
        }
        uom => format!("{}{}", super::perfdata::number(value), uom.suffix()),
    }
}

/// How far past its threshold an outcome is, for ordering the worst first.
fn badness(o: &Outcome) -> f64 {
    let range = match o.state {
        State::Critical => o.critical,
        State::Warning => o.warning,
        _ => None,
    };
    match range {
        Some(r) if !r.inside => (r.start - o.value).max(o.value - r.end),
        _ => 0.0,
    }
}

/// One line of long output.
fn describe(o: &Outcome) -> String {
    let mut line = format!(
        "{}: {} {} = {}",
        o.state.name(),
        o.kind,
        o.object,
        human(o.value, o.uom)
    );
    let range = match o.state {
        State::Critical => o.critical.map(|r| ("critical", r)),
        State::Warning => o.warning.map(|r| ("warning", r)),
        _ => None,
    };
    if let Some((level, r)) = range {
        let side = if r.inside { "inside" } else { "outside" };
        let _ = write!(line, " ({level} {side} {r})");
    }
    line
}

/// The whole answer and its state.
pub fn render(
    binary: &str,
    checks: &[Check],
    outcomes: &[(usize, Outcome)],
    samples: &Samples,
    failed: &[&'static str],
    verbose: u8,
) -> (String, State) {
    let mut state = outcomes
        .iter()
        .map(|(_, o)| o.state)
        .max()
        .unwrap_or(State::Ok);
    let mut problems: Vec<&Outcome> = outcomes
        .iter()
        .map(|(_, o)| o)
        .filter(|o| o.state != State::Ok)
        .collect();
    problems.sort_by(|a, b| {
        b.state
            .cmp(&a.state)
            .then(badness(b).total_cmp(&badness(a)))
    });

    let mut summary = String::new();
    if !failed.is_empty() {
        state = state.max(State::Unknown);
        let _ = write!(summary, "collector failed: {}; ", failed.join(", "));
    }
    if outcomes.is_empty() {
        state = state.max(State::Unknown);
        summary.push_str("nothing to check: no object has the checked metrics");
    } else if problems.is_empty() {
        let n = outcomes.len();
        let _ = write!(summary, "{n} object{} OK", if n == 1 { "" } else { "s" });
    } else {
        let count = |s: State| problems.iter().filter(|o| o.state == s).count();
        let mut counts = Vec::new();
        for s in [State::Critical, State::Unknown, State::Warning] {
            let n = count(s);
            if n > 0 {
                counts.push(format!("{n} {}", s.name().to_ascii_lowercase()));
            }
        }
        let _ = write!(summary, "{} of {}: ", counts.join(", "), outcomes.len());
        let named: Vec<String> = problems
            .iter()
            .take(3)
            .map(|o| format!("{} {} {}", o.kind, o.object, human(o.value, o.uom)))
            .collect();
        summary.push_str(&named.join(", "));
        if problems.len() > 3 {
            let _ = write!(summary, " and {} more", problems.len() - 3);
        }
    }
    if let Some(recorded) = samples.recorded {
        let _ = write!(
            summary,
            " (recorded {} ago in {})",
            human(age(recorded).as_secs_f64(), Uom::Seconds),
            samples.origin
        );
    } else if samples.origin != "collected" {
        let _ = write!(summary, " (from {})", samples.origin);
    }

    let mut perf = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        let mine = outcomes.iter().filter(|(k, _)| *k == i).map(|(_, o)| o);
        match check.perf {
            Perf::Each => perf.extend(mine.map(|o| Perfdata {
                label: format!("{} {}", o.kind, o.object),
                value: o.value,
                uom: o.uom,
                warning: o.warning,
                critical: o.critical,
                min: None,
                max: None,
            })),
            Perf::Count => {
                let all: Vec<_> = mine.collect();
                if !all.is_empty() {
                    perf.push(Perfdata {
                        label: check.kind.to_owned(),
                        value: all.iter().filter(|o| o.state != State::Ok).count() as f64,
                        uom: Uom::None,
                        warning: None,
                        critical: None,
                        min: Some(0.0),
                        max: Some(all.len() as f64),
                    });
                }
            }
        }
    }
    let perf: Vec<String> = perf.iter().map(ToString::to_string).collect();

    let mut text = format!("{} {} - {summary}", service(binary), state.name());
    if !perf.is_empty() {
        text.push_str(" | ");
        text.push_str(&perf.join(" "));
    }
    text.push('\n');
    for o in &problems {
        text.push_str(&describe(o));
        text.push('\n');
    }
    if verbose > 0 {
        for (_, o) in outcomes.iter().filter(|(_, o)| o.state == State::Ok) {
            text.push_str(&describe(o));
            text.push('\n');
        }
    }
    (text, state)
}
