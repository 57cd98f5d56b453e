//! `sysgauge-<x> check`: every exporter is also a Nagios/Icinga plugin.
//!
//! A check evaluates the same samples that `once` prints (or that a running `serve` instance
//! or a textfile holds, with `--from`) against thresholds, and answers in the plugin protocol
//! of the monitoring-plugins guidelines: one status line with performance data on stdout, one
//! line per object that is not OK, and the state as exit code (0 OK, 1 WARNING, 2 CRITICAL,
//! 3 UNKNOWN). Nothing here knows an exporter's collectors: each exporter supplies a small
//! table of [`Check`]s (which metric, how to compute the value, which labels name the object,
//! default thresholds that say the same as its shipped alert rules, the unit), declared with
//! its [`Identity`](crate::Identity).
//!
//! - [`range`], threshold ranges (`10`, `10:`, `~:10`, `10:20`, `@10:20`, and `21d:`).
//! - [`perfdata`], `'label'=value[UOM];warn;crit;min;max`.
//! - [`output`], the status line, the long output and the exit code.
//! - [`source`], samples from this collection, an HTTP `/metrics` or a textfile.

pub mod output;
pub mod perfdata;
pub mod range;
pub mod rules;
pub mod source;

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{
        Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use clap::{ArgAction, Args};
use serde::Deserialize;

pub use self::{
    output::State,
    perfdata::{Perfdata, Uom},
    range::Range,
    source::{Samples, Series},
};

/// The default bound of a whole check run (`-t`), the monitoring-plugins convention.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a check turns a sample into the value it compares with the thresholds.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    /// The sample's value as is (counts, 0/1 states).
    Sample,
    /// Seconds since the timestamp the sample holds: the age of a backup or a snapshot.
    Age,
    /// Seconds until the timestamp the sample holds: a certificate's lifetime left.
    Left,
    /// Computed by the exporter from the sample and every other sample (for conditions that
    /// join two metrics, such as "a critical unit that is not active"); `None` skips the object.
    Derived(fn(&Samples, &Series, f64) -> Option<f64>),
}

/// A default threshold.
#[derive(Clone, Copy, Debug)]
pub enum Default {
    /// None: the state never comes from this level unless a threshold is given.
    None,
    /// A range in the [`range`] syntax.
    Range(&'static str),
    /// Per object, `~:N` where N is the value of this metric for the same object (the backup
    /// exporter's per-target maximum age).
    Metric(&'static str),
    /// Per object, `N:` (alert below N) where `floor` computes N from the object's samples;
    /// `None` leaves the object without this threshold. `rule` is the right-hand side of the
    /// alert rule's `<` that says the same, as written there (whitespace aside): a certificate
    /// warns under `clamp_max((notAfter - notBefore) / 3, 30 * 86400)` seconds left.
    Floor {
        /// Computes N for one object.
        floor: fn(&Samples, &Series) -> Option<f64>,
        /// The PromQL the alert rule compares with.
        rule: &'static str,
    },
}

/// How a check reports performance data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perf {
    /// One item per object, labelled `<kind> <object>`.
    Each,
    /// One item per kind counting the objects that are not OK (for 0/1 states of many
    /// objects, which would make the line unreadably long).
    Count,
}

/// One kind of check an exporter offers.
#[derive(Debug)]
pub struct Check {
    /// The kind's name, as `-w KIND=RANGE`, `--kind` and `[check.warning]` spell it.
    pub kind: &'static str,
    /// What it checks, for `--help` readers and docs/nagios.md.
    pub about: &'static str,
    /// The metric it reads.
    pub metric: &'static str,
    /// Label constraints: the label's value must be one of the listed values.
    pub select: &'static [(&'static str, &'static [&'static str])],
    /// The labels whose values, joined by a space, name the object.
    pub object: &'static [&'static str],
    /// How the compared value is computed.
    pub value: Value,
    /// The default warning threshold.
    pub warning: Default,
    /// The default critical threshold.
    pub critical: Default,
    /// The unit of the value.
    pub uom: Uom,
    /// Per-object or counted performance data.
    pub perf: Perf,
    /// The alert rules whose thresholds the defaults mirror (a test compares them).
    pub alerts: &'static [&'static str],
}

/// Flags of `check`, after the monitoring-plugins conventions.
#[derive(Clone, Debug, Default, Args)]
pub struct CheckArgs {
    /// Warning threshold as [KIND=]RANGE, repeatable; a RANGE without KIND applies to the
    /// exporter's first check kind. Ranges: 10, 10:, ~:10, 10:20, @10:20; durations may carry
    /// s, m, h, d or w (21d:).
    #[arg(short = 'w', long = "warning", value_name = "[KIND=]RANGE")]
    pub warning: Vec<String>,

    /// Critical threshold as [KIND=]RANGE, repeatable.
    #[arg(short = 'c', long = "critical", value_name = "[KIND=]RANGE")]
    pub critical: Vec<String>,

    /// Bound of the whole run, in seconds or as a duration (10, 30s, 1m); past it the answer
    /// is UNKNOWN [default: 10s].
    #[arg(short = 't', long = "timeout", value_parser = parse_timeout, value_name = "DURATION")]
    pub timeout: Option<Duration>,

    /// List every object, not only those that are not OK.
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,

    /// Only these check kinds, repeatable [default: all].
    #[arg(short = 'k', long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,

    /// Read the samples instead of collecting: http://HOST:PORT/metrics of a running serve
    /// instance, or the path of a textfile a timer wrote (its age is reported).
    #[arg(long = "from", value_name = "URL|FILE")]
    pub from: Option<String>,
}

/// `[check]` of the configuration file: the same settings as the flags, which win.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    /// Bound of the whole run (`-t`).
    #[serde(default)]
    pub timeout: Option<crate::limits::CheckTimeout>,
    /// Warning ranges per kind (`-w KIND=RANGE`); "" removes a default.
    #[serde(default)]
    pub warning: BTreeMap<String, String>,
    /// Critical ranges per kind (`-c KIND=RANGE`); "" removes a default.
    #[serde(default)]
    pub critical: BTreeMap<String, String>,
    /// The source to read instead of collecting (`--from`).
    pub from: Option<String>,
}

/// `10` (seconds, as Nagios passes `-t`) or a humantime duration.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text).map_err(|e| e.to_string())?,
    };
    crate::limits::CheckTimeout::new(d).map(crate::limits::CheckTimeout::get)
}

static SLOW_WORK_SKIPPED: AtomicBool = AtomicBool::new(false);

/// Whether this process is a `check` run, in which collectors must skip slow work (restic
/// `check`/`stats`, reading whole archives): a plugin has seconds, and that work is read from
/// what the last timer or `serve` run recorded (`--from`).
pub fn skip_slow_work() -> bool {
    SLOW_WORK_SKIPPED.load(Ordering::Relaxed)
}

/// Marks this process as a check run; see [`skip_slow_work`].
pub fn set_skip_slow_work() {
    SLOW_WORK_SKIPPED.store(true, Ordering::Relaxed);
}

/// Thresholds resolved for one kind.
#[derive(Clone, Debug)]
pub(crate) enum Threshold {
    None,
    Range(Range),
    Metric(&'static str),
    Floor(fn(&Samples, &Series) -> Option<f64>),
}

impl Threshold {
    fn from_default(d: Default) -> Result<Threshold, String> {
        Ok(match d {
            Default::None => Threshold::None,
            Default::Range(r) => Threshold::Range(Range::parse(r).map_err(|e| e.to_string())?),
            Default::Metric(m) => Threshold::Metric(m),
            Default::Floor { floor, .. } => Threshold::Floor(floor),
        })
    }

    fn for_object(&self, samples: &Samples, check: &Check, series: &Series) -> Option<Range> {
        match self {
            Threshold::None => None,
            Threshold::Range(r) => Some(*r),
            Threshold::Metric(name) => {
                let labels: Vec<(&str, &str)> =
                    check.object.iter().map(|l| (*l, series.label(l))).collect();
                samples.find(name, &labels).map(|s| Range {
                    start: f64::NEG_INFINITY,
                    end: s.value,
                    inside: false,
                })
            }
            Threshold::Floor(floor) => floor(samples, series).map(|n| Range {
                start: n,
                end: f64::INFINITY,
                inside: false,
            }),
        }
    }
}

/// The thresholds of every kind after defaults, the configuration file and the flags.
pub(crate) fn thresholds(
    checks: &[Check],
    args: &CheckArgs,
    section: &CheckSection,
) -> Result<Vec<(Threshold, Threshold)>, String> {
    let mut out = Vec::new();
    for c in checks {
        out.push((
            Threshold::from_default(c.warning)?,
            Threshold::from_default(c.critical)?,
        ));
    }
    let index = |kind: &str, origin: &str| {
        checks.iter().position(|c| c.kind == kind).ok_or_else(|| {
            let kinds: Vec<_> = checks.iter().map(|c| c.kind).collect();
            format!(
                "{origin}: unknown check kind {kind:?} (kinds: {})",
                kinds.join(", ")
            )
        })
    };
    let parse = |text: &str, origin: &str| -> Result<Threshold, String> {
        if text.trim().is_empty() {
            return Ok(Threshold::None);
        }
        Range::parse(text)
            .map(Threshold::Range)
            .map_err(|e| format!("{origin}: {e}"))
    };
    for (level, map) in [(0, &section.warning), (1, &section.critical)] {
        let name = if level == 0 { "warning" } else { "critical" };
        for (kind, text) in map {
            let origin = format!("[check.{name}] {kind}");
            let i = index(kind, &origin)?;
            let t = parse(text, &origin)?;
            if level == 0 {
                out[i].0 = t;
            } else {
                out[i].1 = t;
            }
        }
    }
    for (level, list) in [(0, &args.warning), (1, &args.critical)] {
        let flag = if level == 0 { "-w" } else { "-c" };
        for given in list {
            let origin = format!("{flag} {given}");
            let (i, text) = match given.split_once('=') {
                Some((kind, text)) => (index(kind, &origin)?, text),
                None if checks.is_empty() => return Err(format!("{origin}: no check kinds")),
                None => (0, given.as_str()),
            };
            let t = parse(text, &origin)?;
            if level == 0 {
                out[i].0 = t;
            } else {
                out[i].1 = t;
            }
        }
    }
    Ok(out)
}

/// The result of one object of one kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The check kind.
    pub kind: &'static str,
    /// The object's name.
    pub object: String,
    /// The compared value.
    pub value: f64,
    /// Its unit.
    pub uom: Uom,
    /// The state it earned.
    pub state: State,
    /// The warning range applied.
    pub warning: Option<Range>,
    /// The critical range applied.
    pub critical: Option<Range>,
}

/// Evaluates every selected check over `samples` at time `now` (Unix seconds).
pub(crate) fn evaluate(
    checks: &[Check],
    thresholds: &[(Threshold, Threshold)],
    kinds: &[String],
    samples: &Samples,
    now: f64,
) -> Vec<(usize, Outcome)> {
    let mut out = Vec::new();
    for (i, check) in checks.iter().enumerate() {
        if !kinds.is_empty() && !kinds.iter().any(|k| k == check.kind) {
            continue;
        }
        let selected = samples.named(check.metric).filter(|s| {
            check
                .select
                .iter()
                .all(|(label, values)| values.contains(&s.label(label)))
        });
        for series in selected {
            let value = match check.value {
                Value::Sample => Some(series.value),
                // Whole seconds: stable perfdata, and nobody alerts on a fraction of one.
                Value::Age => Some((now - series.value).round()),
                Value::Left => Some((series.value - now).round()),
                Value::Derived(f) => f(samples, series, now),
            };
            let Some(value) = value else { continue };
            let object = check
                .object
                .iter()
                .map(|l| series.label(l))
                .collect::<Vec<_>>()
                .join(" ")
                // `|` starts the performance data wherever it stands; a line break ends the line.
                .replace('|', "\u{a6}")
                .replace(['\n', '\r'], " ");
            let warning = thresholds[i].0.for_object(samples, check, series);
            let critical = thresholds[i].1.for_object(samples, check, series);
            let state = if value.is_nan() {
                State::Unknown
            } else if critical.is_some_and(|r| r.alerts(value)) {
                State::Critical
            } else if warning.is_some_and(|r| r.alerts(value)) {
                State::Warning
            } else {
                State::Ok
            };
            out.push((
                i,
                Outcome {
                    kind: check.kind,
                    object,
                    value,
                    uom: check.uom,
                    state,
                    warning,
                    critical,
                },
            ));
        }
    }
    out
}

/// Prints `text` and exits with `code`, once: the `-t` watchdog and the normal end race, and
/// only the first may speak.
fn finish(text: &str, code: u8) -> ExitCode {
    static SPOKEN: Mutex<bool> = Mutex::new(false);
    let mut spoken = crate::sync::lock(&SPOKEN);
    if *spoken {
        // The other side is exiting the process; wait for it.
        loop {
            std::thread::park();
        }
    }
    *spoken = true;
    output::print(text);
    ExitCode::from(code)
}

/// Whether this process was started as `check` (the subcommand's name among the arguments),
/// before clap has parsed them: its usage errors must then be UNKNOWN too.
pub fn invoked() -> bool {
    std::env::args_os().skip(1).any(|a| a == "check")
}

/// Each collector's deadline in a check run: the collector deadline, but at most 80% of the
/// run's bound, so that a slow collector is reported as failed before the `-t` watchdog.
pub fn collector_timeout(
    collector: Duration,
    args: &CheckArgs,
    section: &CheckSection,
) -> Duration {
    let run = args
        .timeout
        .or(section.timeout.map(crate::limits::CheckTimeout::get))
        .unwrap_or(DEFAULT_TIMEOUT);
    collector.min(run.mul_f64(0.8))
}

/// A clap error in check mode: `--help` and `--version` print their text, anything else an
/// UNKNOWN line with clap's message; exit 3 either way, as the guidelines want.
pub fn usage_error(binary: &str, error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let rendered = error.render().to_string();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => finish(&rendered, 3),
        _ => {
            let message = rendered.trim_start_matches("error: ");
            unknown(binary, message)
        }
    }
}

/// The UNKNOWN answer for an error outside the checks (bad flags, a broken configuration).
pub fn unknown(binary: &str, message: &str) -> ExitCode {
    finish(&output::unknown_text(binary, message), 3)
}

/// Runs `check`: starts the `-t` watchdog, gets samples (by `collect` or `--from`), evaluates
/// the exporter's `checks` and prints the answer.
pub fn run(
    binary: &str,
    checks: &[Check],
    args: &CheckArgs,
    section: &CheckSection,
    collect: impl FnOnce() -> Result<(Samples, Vec<&'static str>), String>,
) -> ExitCode {
    let started = Instant::now();
    let timeout = args
        .timeout
        .or(section.timeout.map(crate::limits::CheckTimeout::get))
        .unwrap_or(DEFAULT_TIMEOUT);
    {
        let binary = binary.to_owned();
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            let text = output::unknown_text(
                &binary,
                &format!(
                    "timed out after {} (-t)",
                    humantime::format_duration(timeout)
                ),
            );
            let _ = finish(&text, 3);
            std::process::exit(3);
        });
    }
    let thresholds = match thresholds(checks, args, section) {
        Ok(t) => t,
        Err(e) => return unknown(binary, &e),
    };
    for kind in &args.kinds {
        if !checks.iter().any(|c| c.kind == kind) {
            let kinds: Vec<_> = checks.iter().map(|c| c.kind).collect();
            return unknown(
                binary,
                &format!(
                    "--kind {kind}: unknown check kind (kinds: {})",
                    kinds.join(", ")
                ),
            );
        }
    }
    // Collectors get most of the time left, so that a slow one is reported as failed and the
    // answer still comes before the watchdog's.
    let budget = timeout.saturating_sub(started.elapsed()).mul_f64(0.8);
    let from = args.from.as_ref().or(section.from.as_ref());
    let got = match from {
        Some(from) => Samples::read(from, started + budget).map(|s| (s, Vec::new())),
        None => collect(),
    };
    let (samples, failed) = match got {
        Ok(got) => got,
        Err(e) => return unknown(binary, &e),
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let outcomes = evaluate(checks, &thresholds, &args.kinds, &samples, now);
    let (text, state) = output::render(binary, checks, &outcomes, &samples, &failed, args.verbose);
    finish(&text, state.code())
}

#[cfg(test)]
mod tests;
