//! The Nagios checks of sysgauge-backup (`sysgauge-backup check`); thresholds as the alert
//! rules in alerts/backup.rules.yml.

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Samples, Series, Uom, Value};

/// Backup age against each target's own maximum age (zfs snapshot types included, through
/// last_success), unreadable targets, failed jobs, and artifacts that are too small, shrank or
/// have an mtime in the future.
pub static CHECKS: [Check; 6] = [
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
    Check {
        kind: "too-small",
        about: "size of each artifact target's newest file, against its min_size_bytes",
        metric: metrics::ARTIFACT_NEWEST_SIZE.name(),
        select: &[],
        object: &["target"],
        value: Value::Sample,
        warning: Default::Floor {
            floor: min_size,
            rule: "sysgauge_backup_artifact_min_size_bytes",
        },
        critical: Default::None,
        uom: Uom::Bytes,
        perf: Perf::Each,
        alerts: &["SysgaugeBackupArtifactTooSmall"],
    },
    Check {
        kind: "shrank",
        about: "size of each artifact target's newest file, against min_size_percent of the previous one's",
        metric: metrics::ARTIFACT_NEWEST_SIZE.name(),
        select: &[],
        object: &["target"],
        value: Value::Sample,
        warning: Default::Floor {
            floor: shrink_floor,
            rule: "sysgauge_backup_artifact_previous_size_bytes * sysgauge_backup_artifact_min_size_ratio",
        },
        critical: Default::None,
        uom: Uom::Bytes,
        perf: Perf::Each,
        alerts: &["SysgaugeBackupArtifactShrank"],
    },
    Check {
        kind: "future-mtime",
        about: "artifact files whose modification time is in the future (they never count as fresh)",
        metric: metrics::ARTIFACT_FUTURE_FILES.name(),
        select: &[],
        object: &["target"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeBackupArtifactFutureMtime"],
    },
];

/// The target's own sample of `metric`.
fn of_target(samples: &Samples, series: &Series, metric: &str) -> Option<f64> {
    Some(
        samples
            .find(metric, &[("target", series.label("target"))])?
            .value,
    )
}

/// The target's min_size_bytes; none without the setting.
fn min_size(samples: &Samples, series: &Series) -> Option<f64> {
    of_target(samples, series, metrics::ARTIFACT_MIN_SIZE.name())
}

/// The previous file's size times the target's ratio; none without either.
fn shrink_floor(samples: &Samples, series: &Series) -> Option<f64> {
    Some(
        of_target(samples, series, metrics::ARTIFACT_PREVIOUS_SIZE.name())?
            * of_target(samples, series, metrics::ARTIFACT_MIN_SIZE_RATIO.name())?,
    )
}

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
