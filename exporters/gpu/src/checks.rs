//! The Nagios checks of sysgauge-gpu (`sysgauge-gpu check`); thresholds as the alert rules in
//! alerts/gpu.rules.yml.

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Samples, Series, Uom, Value};

/// Hardware-class XID codes, as the `SysgaugeGpuXidHardwareErrors` alert rule lists them: the
/// card, its memory or its link failed, not a program.
const HARDWARE_XIDS: &[&str] = &[
    "48", "62", "63", "64", "74", "79", "92", "94", "95", "119", "120", "140",
];

/// The window of the XID alert rules (`increase(...[15m]) > 0`), in seconds.
const XID_WINDOW: f64 = 15.0 * 60.0;

/// The XIDs of one GPU and code that a serve instance counted, when the last one came within
/// the alert rules' 15 minutes (else 0): the check then says what the rules say, from one
/// scrape. `None` for the other class's codes.
fn recent_xids(samples: &Samples, series: &Series, now: f64, hardware: bool) -> Option<f64> {
    let xid = series.label("xid");
    if HARDWARE_XIDS.contains(&xid) != hardware {
        return None;
    }
    let last = samples.find(
        metrics::XID_LAST.name(),
        &[("uuid", series.label("uuid")), ("xid", xid)],
    )?;
    Some(if now - last.value <= XID_WINDOW {
        series.value
    } else {
        0.0
    })
}

/// Lost GPUs, thermal throttling, power brake, temperature, a usable driver, a recovery action
/// the driver asks for, failed row remapping, and XIDs (read from a serve instance).
pub static CHECKS: [Check; 9] = [
    Check {
        kind: "lost",
        about: "GPUs fallen off the bus or otherwise lost (1)",
        metric: metrics::LOST.name(),
        select: &[],
        object: &["index", "uuid"],
        value: Value::Sample,
        warning: Default::None,
        critical: Default::Range("~:0"),
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuLost"],
    },
    Check {
        kind: "throttled",
        about: "GPUs holding their clocks down for thermal reasons (1)",
        metric: metrics::CLOCK_EVENT.name(),
        select: &[(
            "reason",
            &["sw_thermal_slowdown", "hw_thermal_slowdown", "hw_slowdown"],
        )],
        object: &["uuid", "reason"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuThermalThrottling"],
    },
    Check {
        kind: "power-brake",
        about: "GPUs slowed down by the external power brake (1)",
        metric: metrics::CLOCK_EVENT.name(),
        select: &[("reason", &["hw_power_brake_slowdown"])],
        object: &["uuid"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuPowerBrake"],
    },
    Check {
        kind: "temperature",
        about: "GPU temperature in degrees Celsius",
        metric: metrics::TEMPERATURE.name(),
        select: &[],
        object: &["uuid"],
        value: Value::Sample,
        warning: Default::Range("~:85"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Each,
        alerts: &["SysgaugeGpuHot"],
    },
    Check {
        kind: "driver",
        about: "whether NVML could be used (1) or not (0)",
        metric: metrics::NVML_UP.name(),
        select: &[],
        object: &[],
        value: Value::Sample,
        warning: Default::Range("1:"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuDriverUnavailable"],
    },
    Check {
        kind: "recovery",
        about: "GPUs for which the driver recommends a reset, a reboot or a drain (1): nvidia-smi's ERR!",
        metric: metrics::RECOVERY_ACTION.name(),
        select: &[(
            "action",
            &["gpu_reset", "node_reboot", "drain_p2p", "drain_and_reset"],
        )],
        object: &["uuid", "action"],
        value: Value::Sample,
        warning: Default::None,
        critical: Default::Range("~:0"),
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuRecoveryActionRequired"],
    },
    Check {
        kind: "row-remap-failed",
        about: "GPUs with a failed memory row remapping (1): no spare rows left",
        metric: metrics::REMAPPED_ROWS_FAILED.name(),
        select: &[],
        object: &["uuid"],
        value: Value::Sample,
        warning: Default::None,
        critical: Default::Range("~:0"),
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuRowRemapFailed"],
    },
    Check {
        kind: "xid-hardware",
        about: "hardware-class XIDs per GPU and code, counted by serve (--from), while the last came within 15 minutes",
        metric: metrics::XID_ERRORS.name(),
        select: &[],
        object: &["uuid", "xid"],
        value: Value::Derived(|samples, series, now| recent_xids(samples, series, now, true)),
        warning: Default::None,
        critical: Default::Range("~:0"),
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuXidHardwareErrors"],
    },
    Check {
        kind: "xid",
        about: "other XIDs per GPU and code, counted by serve (--from), while the last came within 15 minutes",
        metric: metrics::XID_ERRORS.name(),
        select: &[],
        object: &["uuid", "xid"],
        value: Value::Derived(|samples, series, now| recent_xids(samples, series, now, false)),
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeGpuXidErrors"],
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn hardware_xids_are_the_alert_rules_codes() {
        let rules = include_str!("../../../alerts/gpu.rules.yml");
        let codes = super::HARDWARE_XIDS.join("|");
        // Both XID rules split the codes with this very list, in both of their branches.
        assert_eq!(rules.matches(&format!("xid=~\"{codes}\"")).count(), 2);
        assert_eq!(rules.matches(&format!("xid!~\"{codes}\"")).count(), 2);
    }

    #[test]
    fn xids_count_while_the_last_of_their_code_is_within_15_minutes() {
        use sysgauge_common::check::{Samples, Series};
        let series = |name: &str, xid: &str, value: f64| Series {
            name: name.to_owned(),
            labels: vec![("uuid".into(), "GPU-1".into()), ("xid".into(), xid.into())],
            value,
        };
        let now = 2_000_000_000.0;
        let samples = Samples {
            series: vec![
                series("sysgauge_gpu_xid_errors_total", "79", 3.0),
                series("sysgauge_gpu_xid_last_timestamp_seconds", "79", now - 900.0),
                series("sysgauge_gpu_xid_errors_total", "13", 2.0),
                series("sysgauge_gpu_xid_last_timestamp_seconds", "13", now - 901.0),
            ],
            recorded: None,
            origin: "test".into(),
        };
        let [hw, _, app, _] = &samples.series[..] else {
            unreachable!()
        };
        // The rule's increase(...[15m]) > 0 still sees an XID exactly 15 minutes old.
        assert_eq!(super::recent_xids(&samples, hw, now, true), Some(3.0));
        assert_eq!(super::recent_xids(&samples, hw, now + 1.0, true), Some(0.0));
        assert_eq!(super::recent_xids(&samples, hw, now, false), None);
        assert_eq!(super::recent_xids(&samples, app, now, false), Some(0.0));
        assert_eq!(
            super::recent_xids(&samples, app, now - 1.0, false),
            Some(2.0)
        );
        assert_eq!(super::recent_xids(&samples, app, now, true), None);
    }

    #[test]
    fn defaults_say_the_same_as_the_alert_rules() {
        let rules = include_str!("../../../alerts/gpu.rules.yml");
        assert_eq!(
            sysgauge_common::check::rules::compare(&super::CHECKS, rules),
            Vec::<String>::new()
        );
    }
}
