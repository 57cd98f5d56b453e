//! The Nagios checks of sysgauge-gpu (`sysgauge-gpu check`); thresholds as the alert rules in
//! alerts/gpu.rules.yml.

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Uom, Value};

/// Lost GPUs, thermal throttling, power brake, temperature, a usable driver.
pub static CHECKS: [Check; 5] = [
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
];

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_say_the_same_as_the_alert_rules() {
        let rules = include_str!("../../../alerts/gpu.rules.yml");
        assert_eq!(
            sysgauge_common::check::rules::compare(&super::CHECKS, rules),
            Vec::<String>::new()
        );
    }
}
