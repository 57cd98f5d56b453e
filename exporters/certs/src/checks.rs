//! The Nagios checks of sysgauge-certs (`sysgauge-certs check`); thresholds as the alert rules
//! in alerts/certs.rules.yml.

use crate::metrics;
use sysgauge_common::check::{Check, Default, Perf, Uom, Value};

/// Certificate lifetime left, files and endpoints; files with errors; failing probes.
pub static CHECKS: [Check; 5] = [
    Check {
        kind: "lifetime",
        about: "time left before each certificate of each file expires",
        metric: metrics::NOT_AFTER.name(),
        select: &[],
        object: &["path", "index"],
        value: Value::Left,
        warning: Default::Range("21d:"),
        critical: Default::Range("7d:"),
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &[
            "SysgaugeCertificateExpiringSoon",
            "SysgaugeCertificateExpiring",
        ],
    },
    Check {
        kind: "endpoint-lifetime",
        about: "time left before the first certificate an endpoint presents expires",
        metric: metrics::ENDPOINT_EARLIEST.name(),
        select: &[],
        object: &["endpoint"],
        value: Value::Left,
        warning: Default::Range("21d:"),
        critical: Default::Range("7d:"),
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &[
            "SysgaugeCertificateEndpointExpiringSoon",
            "SysgaugeCertificateEndpointExpiring",
        ],
    },
    Check {
        kind: "not-yet-valid",
        about: "time until a certificate becomes valid (0 or less: valid)",
        metric: metrics::NOT_BEFORE.name(),
        select: &[],
        object: &["path", "index"],
        value: Value::Left,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::Seconds,
        perf: Perf::Count,
        alerts: &["SysgaugeCertificateNotYetValid"],
    },
    Check {
        kind: "file-errors",
        about: "certificate files that cannot be read or hold no usable certificate",
        metric: metrics::FILE_ERRORS.name(),
        select: &[],
        object: &["path", "reason"],
        value: Value::Sample,
        warning: Default::Range("~:0"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeCertificateFileError"],
    },
    Check {
        kind: "probe",
        about: "whether each endpoint could be probed (1) or not (0)",
        metric: metrics::PROBE_SUCCESS.name(),
        select: &[],
        object: &["endpoint"],
        value: Value::Sample,
        warning: Default::Range("1:"),
        critical: Default::None,
        uom: Uom::None,
        perf: Perf::Count,
        alerts: &["SysgaugeCertificateEndpointProbeFailing"],
    },
];

#[cfg(test)]
mod tests {
    #[test]
    fn defaults_say_the_same_as_the_alert_rules() {
        let rules = include_str!("../../../alerts/certs.rules.yml");
        assert_eq!(
            sysgauge_common::check::rules::compare(&super::CHECKS, rules),
            Vec::<String>::new()
        );
    }
}
