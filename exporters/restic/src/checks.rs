//! The Nagios checks of sysgauge-restic (`sysgauge-restic check`); thresholds as the alert
//! rules in alerts/restic.rules.yml. `restic check` is slow and never runs inside a check: its
//! result is read from a running serve instance or a timer's textfile (`--from`).

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Uom, Value};

/// Snapshot age per backup group, stale locks, unreadable or empty repositories, check result.
pub static CHECKS: [Check; 5] = [
    Check {
        kind: "snapshot-age",
        about: "time since the latest snapshot of each host, paths and tags",
        metric: metrics::GROUP_LATEST.name(),
        select: &[],
        object: &["repository", "hostname", "paths", "tags"],
        value: Value::Age,
        warning: Default::Range("~:36h"),
        critical: Default::None,
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &["SysgaugeResticNoRecentSnapshot"],
    },
    Check {
        kind: "stale-locks",
        about: "locks whose process is gone",
        metric: metrics::LOCKS_STALE.name(),
        select: &[],
        object: &["repository"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Each,
        alerts: &["SysgaugeResticStaleLocks"],
    },
    Check {
        kind: "readable",
        about: "whether each repository could be read (1) or not (0)",
        metric: metrics::UP.name(),
        select: &[],
        object: &["repository"],
        value: Value::Sample,
        warning: Default::Range("1:"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeResticRepositoryUnreadable"],
    },
    Check {
        kind: "snapshots",
        about: "snapshots in each repository",
        metric: metrics::SNAPSHOTS.name(),
        select: &[],
        object: &["repository"],
        value: Value::Sample,
        warning: Default::Range("1:"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Each,
        alerts: &["SysgaugeResticNoSnapshots"],
    },
    Check {
        kind: "check",
        about: "whether the last recorded restic check passed (1) or found errors (0)",
        metric: metrics::CHECK_SUCCESS.name(),
        select: &[],
        object: &["repository"],
        value: Value::Sample,
        warning: Default::None,
        critical: Default::Range("1:"),
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeResticCheckFailed"],
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_say_the_same_as_the_alert_rules() {
        let rules = include_str!("../../../alerts/restic.rules.yml");
        assert_eq!(
            sysgauge_common::check::rules::compare(&super::CHECKS, rules),
            Vec::<String>::new()
        );
    }
}
