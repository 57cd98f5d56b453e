//! The Nagios checks of sysgauge-systemd (`sysgauge-systemd check`); thresholds as the alert
//! rules in alerts/systemd.rules.yml.

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Samples, Series, Uom, Value};

/// Failed units, critical units that are not active (missing ones included), overdue timers,
/// critical timers that are disabled.
pub static CHECKS: [Check; 5] = [
    Check {
        kind: "failed",
        about: "units in the failed state (1) or not (0)",
        metric: metrics::UNIT_STATE.name(),
        select: &[("state", &["failed"])],
        object: &["name"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeSystemdUnitFailed"],
    },
    Check {
        kind: "critical",
        about: "units configured as critical that are not active (1), missing ones included",
        metric: metrics::UNIT_CRITICAL.name(),
        select: &[],
        object: &["name"],
        value: Value::Derived(not_active),
        warning: Default::None,
        critical: Default::Range("~:0"),
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeSystemdCriticalUnitNotActive"],
    },
    Check {
        kind: "timer-overdue",
        about: "how long ago a timer's next run was due",
        metric: metrics::TIMER_NEXT_ELAPSE.name(),
        select: &[],
        object: &["name"],
        value: Value::Age,
        warning: Default::Range("~:1h"),
        critical: Default::None,
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &["SysgaugeSystemdTimerOverdue"],
    },
    Check {
        kind: "timer-unscheduled",
        about: "how long ago a timer without a next run last fired",
        metric: metrics::TIMER_LAST_TRIGGER.name(),
        select: &[],
        object: &["name"],
        value: Value::Derived(unscheduled_since),
        warning: Default::Range("~:6h"),
        critical: Default::None,
        uom: Uom::Seconds,
        perf: Perf::Count,
        alerts: &["SysgaugeSystemdTimerOverdue:2"],
    },
    Check {
        kind: "timer-disabled",
        about: "critical timers whose unit file is disabled or masked (1) or not (0)",
        metric: metrics::UNIT_FILE_INFO.name(),
        select: &[("type", &["timer"])],
        object: &["name"],
        value: Value::Derived(critical_and_disabled),
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeSystemdCriticalTimerDisabled"],
    },
];

/// For a critical timer, 1 when its unit file is disabled or masked (it will not start after
/// a reboot), 0 otherwise; other timers are not this check's objects.
fn critical_and_disabled(samples: &Samples, info: &Series, _now: f64) -> Option<f64> {
    let name = info.label("name");
    samples
        .find(metrics::UNIT_CRITICAL.name(), &[("name", name)])
        .filter(|s| s.value == 1.0)?;
    let disabled = matches!(
        info.label("file_state"),
        "disabled" | "masked" | "masked-runtime"
    );
    Some(f64::from(u8::from(disabled)))
}

/// 1 when a critical unit is not active, 0 when it is.
fn not_active(samples: &Samples, critical: &Series, _now: f64) -> Option<f64> {
    if critical.value != 1.0 {
        return None;
    }
    let name = critical.label("name");
    let active = samples
        .find(
            metrics::UNIT_STATE.name(),
            &[("name", name), ("state", "active")],
        )
        .is_some_and(|s| s.value == 1.0);
    Some(if active { 0.0 } else { 1.0 })
}

/// The age of a timer's last trigger while it has no next elapse; timers that are scheduled
/// are left to `timer-overdue`.
fn unscheduled_since(samples: &Samples, last: &Series, now: f64) -> Option<f64> {
    let name = last.label("name");
    let scheduled = samples
        .find(metrics::TIMER_NEXT_ELAPSE.name(), &[("name", name)])
        .is_some();
    (!scheduled).then_some(now - last.value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_say_the_same_as_the_alert_rules() {
        let rules = include_str!("../../../alerts/systemd.rules.yml");
        assert_eq!(
            sysgauge_common::check::rules::compare(&super::CHECKS, rules),
            Vec::<String>::new()
        );
    }
}
