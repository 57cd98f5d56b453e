//! The Nagios checks of sysgauge-backup (`sysgauge-backup check`); thresholds as the alert
//! rules in alerts/backup.rules.yml.

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Samples, Series, Uom, Value};

/// Backup age against each target's own maximum age, unreadable targets, failed jobs.
pub static CHECKS: [Check; 3] = [
    Check {
        kind: "age",
        about: "time since each target's last good backup, against its max_age",
        metric: metrics::LAST_SUCCESS.name(),
        select: &[],
        object: &["target"],
        value: Value::Age,
        warning: Default::Metric(metrics::MAX_AGE.name()),
        critical: Default::None,
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &["SysgaugeBackupTooOld"],
    },
    Check {
        kind: "readable",
        about: "whether each target could be read (1) or not (0)",
        metric: metrics::TARGET_UP.name(),
        select: &[],
        object: &["target"],
        value: Value::Sample,
        warning: Default::Range("1:"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeBackupTargetUnreadable"],
    },
    Check {
        kind: "job-failed",
        about: "backup jobs whose last run did not succeed (1)",
        metric: metrics::JOB_RESULT.name(),
        select: &[],
        object: &["target", "result"],
        value: Value::Derived(unsuccessful),
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeBackupJobFailed"],
    },
];

/// The result series other than `success` (`result!="success"` in the rule).
fn unsuccessful(_: &Samples, series: &Series, _now: f64) -> Option<f64> {
    (series.label("result") != "success").then_some(series.value)
}

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_say_the_same_as_the_alert_rules() {
        let rules = include_str!("../../../alerts/backup.rules.yml");
        assert_eq!(
            sysgauge_common::check::rules::compare(&super::CHECKS, rules),
            Vec::<String>::new()
        );
    }
}
