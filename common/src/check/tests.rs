//! Unit tests of thresholds, evaluation, the answer and its exit code.

use super::*;

const DAY: f64 = 86400.0;

static CHECKS: [Check; 3] = [
    Check {
        kind: "lifetime",
        about: "time left",
        metric: "sysgauge_t_not_after",
        select: &[],
        object: &["path"],
        value: Value::Left,
        warning: Default::Range("21d:"),
        critical: Default::Range("7d:"),
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &[],
    },
    Check {
        kind: "age",
        about: "age against the object's maximum",
        metric: "sysgauge_t_last",
        select: &[],
        object: &["target"],
        value: Value::Age,
        warning: Default::Metric("sysgauge_t_max_age"),
        critical: Default::None,
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &[],
    },
    Check {
        kind: "failed",
        about: "failed units",
        metric: "sysgauge_t_state",
        select: &[("state", &["failed"])],
        object: &["name"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &[],
    },
];

const NOW: f64 = 1_800_000_000.0;

fn series(name: &str, labels: &[(&str, &str)], value: f64) -> Series {
    Series {
        name: name.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        value,
    }
}

fn samples() -> Samples {
    Samples {
        series: vec![
            series(
                "sysgauge_t_not_after",
                &[("path", "/c/expired.pem")],
                NOW - 3.0 * DAY,
            ),
            series(
                "sysgauge_t_not_after",
                &[("path", "/c/soon.pem")],
                NOW + 12.0 * DAY,
            ),
            series(
                "sysgauge_t_not_after",
                &[("path", "/c/it's ok|x")],
                NOW + 90.0 * DAY,
            ),
            series("sysgauge_t_last", &[("target", "db")], NOW - 3600.0),
            series("sysgauge_t_max_age", &[("target", "db")], 26.0 * 3600.0),
            series("sysgauge_t_last", &[("target", "home")], NOW - 2.0 * DAY),
            series("sysgauge_t_max_age", &[("target", "home")], DAY),
            series(
                "sysgauge_t_state",
                &[("name", "a.service"), ("state", "failed")],
                1.0,
            ),
            series(
                "sysgauge_t_state",
                &[("name", "a.service"), ("state", "active")],
                0.0,
            ),
            series(
                "sysgauge_t_state",
                &[("name", "b.service"), ("state", "failed")],
                0.0,
            ),
        ],
        recorded: None,
        origin: "collected".into(),
    }
}

fn answer(args: &CheckArgs, section: &CheckSection, samples: &Samples) -> (String, State) {
    let t = thresholds(&CHECKS, args, section).unwrap();
    let outcomes = evaluate(&CHECKS, &t, &args.kinds, samples, NOW);
    output::render(
        "sysgauge-test",
        &CHECKS,
        &outcomes,
        samples,
        &[],
        args.verbose,
    )
}

#[test]
fn states_summary_long_output_and_perfdata() {
    let (text, state) = answer(&CheckArgs::default(), &CheckSection::default(), &samples());
    assert_eq!(state, State::Critical);
    assert_eq!(state.code(), 2);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "SYSGAUGE-TEST CRITICAL - 1 critical, 3 warning of 7: lifetime /c/expired.pem -3d, \
         lifetime /c/soon.pem 12d, age home 2d and 1 more \
         | 'lifetime /c/expired.pem'=-259200s;1814400:;604800: \
         'lifetime /c/soon.pem'=1036800s;1814400:;604800: \
         'lifetime /c/it''s ok\u{a6}x'=7776000s;1814400:;604800: \
         'age db'=3600s;~:93600 'age home'=172800s;~:86400 'failed'=1;;;0;2"
    );
    assert_eq!(
        lines[1..],
        [
            "CRITICAL: lifetime /c/expired.pem = -3d (critical outside 604800:)",
            "WARNING: lifetime /c/soon.pem = 12d (warning outside 1814400:)",
            "WARNING: age home = 2d (warning outside ~:86400)",
            "WARNING: failed a.service = 1 (warning outside ~:0)",
        ]
    );
    assert_eq!(
        text.matches('|').count(),
        1,
        "one perfdata separator: {text}"
    );
}

#[test]
fn flags_override_the_file_which_overrides_defaults() {
    let mut section = CheckSection::default();
    section.critical.insert("lifetime".into(), "".into());
    section.warning.insert("failed".into(), "".into());
    let args = CheckArgs {
        // A bare range is for the first kind.
        warning: vec!["~:0".into(), "age=3d".into()],
        kinds: vec!["lifetime".into(), "age".into(), "failed".into()],
        verbose: 1,
        ..CheckArgs::default()
    };
    let (text, state) = answer(&args, &section, &samples());
    // Lifetime: any positive value warns now, no critical left; age: 0..3d is fine.
    assert_eq!(state, State::Warning, "{text}");
    assert!(
        text.starts_with("SYSGAUGE-TEST WARNING - 2 warning of 7: lifetime /c/it's ok\u{a6}x 90d, lifetime /c/soon.pem 12d |"),
        "{text}"
    );
    // -v lists the OK objects too.
    assert!(text.contains("\nOK: age db = 1h 0m\n"), "{text}");
    assert!(text.contains("\nOK: failed b.service = 0\n"), "{text}");
}

#[test]
fn only_selected_kinds_and_ok_and_nothing() {
    let args = CheckArgs {
        kinds: vec!["age".into()],
        warning: vec!["age=5d".into()],
        ..CheckArgs::default()
    };
    let (text, state) = answer(&args, &CheckSection::default(), &samples());
    assert_eq!(state, State::Ok);
    assert_eq!(
        text,
        "SYSGAUGE-TEST OK - 2 objects OK | 'age db'=3600s;432000 'age home'=172800s;432000\n"
    );
    let (text, state) = answer(
        &CheckArgs::default(),
        &CheckSection::default(),
        &Samples::default(),
    );
    assert_eq!(state, State::Unknown);
    assert_eq!(state.code(), 3);
    assert!(
        text.starts_with("SYSGAUGE-TEST UNKNOWN - nothing to check"),
        "{text}"
    );
}

#[test]
fn failed_collector_is_unknown_unless_something_is_critical() {
    let mut s = samples();
    s.series.retain(|x| x.name != "sysgauge_t_not_after");
    let t = thresholds(&CHECKS, &CheckArgs::default(), &CheckSection::default()).unwrap();
    let outcomes = evaluate(&CHECKS, &t, &[], &s, NOW);
    let (text, state) = output::render("sysgauge-test", &CHECKS, &outcomes, &s, &["files"], 0);
    assert_eq!(state, State::Unknown, "{text}");
    assert!(
        text.starts_with("SYSGAUGE-TEST UNKNOWN - collector failed: files; "),
        "{text}"
    );
    let outcomes = evaluate(&CHECKS, &t, &[], &samples(), NOW);
    let (_, state) = output::render("sysgauge-test", &CHECKS, &outcomes, &samples(), &["x"], 0);
    assert_eq!(state, State::Critical);
}

#[test]
fn bad_thresholds_name_the_flag_or_key() {
    let bad =
        |args: CheckArgs, section: CheckSection| thresholds(&CHECKS, &args, &section).unwrap_err();
    let e = bad(
        CheckArgs {
            warning: vec!["lifetime=20:10".into()],
            ..CheckArgs::default()
        },
        CheckSection::default(),
    );
    assert!(
        e.starts_with("-w lifetime=20:10: invalid threshold range \"20:10\""),
        "{e}"
    );
    let e = bad(
        CheckArgs {
            critical: vec!["nope=1".into()],
            ..CheckArgs::default()
        },
        CheckSection::default(),
    );
    assert!(
        e.contains("unknown check kind \"nope\" (kinds: lifetime, age, failed)"),
        "{e}"
    );
    let mut section = CheckSection::default();
    section.warning.insert("age".into(), "x".into());
    let e = bad(CheckArgs::default(), section);
    assert!(e.starts_with("[check.warning] age: "), "{e}");
}

#[test]
fn timeout_flag_takes_seconds_or_durations_within_bounds() {
    assert_eq!(parse_timeout("10"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
    assert!(parse_timeout("0").is_err());
    assert!(parse_timeout("2h").is_err());
    assert!(parse_timeout("soon").is_err());
    let args = CheckArgs {
        timeout: Some(Duration::from_secs(5)),
        ..CheckArgs::default()
    };
    assert_eq!(
        collector_timeout(Duration::from_secs(10), &args, &CheckSection::default()),
        Duration::from_secs(4)
    );
}

#[test]
fn exit_codes() {
    assert_eq!(
        [State::Ok, State::Warning, State::Critical, State::Unknown].map(State::code),
        [0, 1, 2, 3]
    );
    assert!(State::Critical > State::Unknown && State::Unknown > State::Warning);
    assert_eq!(
        output::unknown_text("sysgauge-x", "bad config\nline 3"),
        "SYSGAUGE-X UNKNOWN - bad config\nline 3\n"
    );
}

#[test]
fn human_values() {
    use output::human;
    assert_eq!(human(-3.0 * DAY - 3600.0, Uom::Seconds), "-3d 1h");
    assert_eq!(human(5400.0, Uom::Seconds), "1h 30m");
    assert_eq!(human(42.0, Uom::Seconds), "42s");
    assert_eq!(human(1536.0 * 1024.0 * 1024.0, Uom::Bytes), "1.5GiB");
    assert_eq!(human(3.0, Uom::None), "3");
}
