//! The Nagios checks of sysgauge-certs (`sysgauge-certs check`); thresholds as the alert rules
//! in alerts/certs.rules.yml.

use crate::metrics;
use sysgauge_common::check::{
    Check, Default, Perf, Uom, Value,
    source::{Samples, Series},
};

const DAY: f64 = 86_400.0;

/// The certificate's lifetime (notAfter − notBefore), from the notBefore series of the same
/// certificate as `not_after`.
fn lifetime(samples: &Samples, not_after: &Series, not_before: &str, object: &str) -> Option<f64> {
    let labels = [
        (object, not_after.label(object)),
        ("index", not_after.label("index")),
        ("serial", not_after.label("serial")),
    ];
    Some(not_after.value - samples.find(not_before, &labels)?.value)
}

fn file_warning(samples: &Samples, s: &Series) -> Option<f64> {
    Some((lifetime(samples, s, metrics::NOT_BEFORE.name(), "path")? / 3.0).min(30.0 * DAY))
}

fn file_critical(samples: &Samples, s: &Series) -> Option<f64> {
    Some((lifetime(samples, s, metrics::NOT_BEFORE.name(), "path")? / 10.0).min(7.0 * DAY))
}

fn endpoint_warning(samples: &Samples, s: &Series) -> Option<f64> {
    let before = metrics::ENDPOINT_NOT_BEFORE.name();
    Some((lifetime(samples, s, before, "endpoint")? / 3.0).min(30.0 * DAY))
}

fn endpoint_critical(samples: &Samples, s: &Series) -> Option<f64> {
    let before = metrics::ENDPOINT_NOT_BEFORE.name();
    Some((lifetime(samples, s, before, "endpoint")? / 10.0).min(7.0 * DAY))
}

/// Certificate lifetime left, files and endpoints; files with errors; failing probes.
pub static CHECKS: [Check; 5] = [
    Check {
        kind: "lifetime",
        about: "time left before each certificate of each file expires; by default warning under a third of its lifetime (at most 30 days), critical under a tenth (at most 7 days)",
        metric: metrics::NOT_AFTER.name(),
        select: &[],
        object: &["path", "index"],
        value: Value::Left,
        warning: Default::Floor {
            floor: file_warning,
            rule: "clamp_max((sysgauge_cert_not_after_timestamp_seconds - sysgauge_cert_not_before_timestamp_seconds) / 3, 30 * 86400)",
        },
        critical: Default::Floor {
            floor: file_critical,
            rule: "clamp_max((sysgauge_cert_not_after_timestamp_seconds - sysgauge_cert_not_before_timestamp_seconds) / 10, 7 * 86400)",
        },
        uom: Uom::Seconds,
        perf: Perf::Each,
        alerts: &[
            "SysgaugeCertificateExpiringSoon",
            "SysgaugeCertificateExpiring",
        ],
    },
    Check {
        kind: "endpoint-lifetime",
        about: "time left before each certificate an endpoint presents expires; thresholds as for lifetime",
        metric: metrics::ENDPOINT_NOT_AFTER.name(),
        select: &[],
        object: &["endpoint", "index"],
        value: Value::Left,
        warning: Default::Floor {
            floor: endpoint_warning,
            rule: "clamp_max((sysgauge_cert_endpoint_not_after_timestamp_seconds - sysgauge_cert_endpoint_not_before_timestamp_seconds) / 3, 30 * 86400)",
        },
        critical: Default::Floor {
            floor: endpoint_critical,
            rule: "clamp_max((sysgauge_cert_endpoint_not_after_timestamp_seconds - sysgauge_cert_endpoint_not_before_timestamp_seconds) / 10, 7 * 86400)",
        },
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

    /// The floors say the same as the rules' `clamp_max` for 24-hour, 6-day, 90-day and
    /// 398-day certificates (the thresholds in docs/runbook.md's table).
    #[test]
    fn lifetime_floors_follow_the_lifetime() {
        use sysgauge_common::check::source::{Samples, parse};
        let day = 86_400.0;
        for (lifetime, warning, critical) in [
            (day, 8.0 * 3600.0, 2.4 * 3600.0),
            (6.0 * day, 2.0 * day, 0.6 * day),
            (90.0 * day, 30.0 * day, 7.0 * day),
            (398.0 * day, 30.0 * day, 7.0 * day),
        ] {
            let text = format!(
                "sysgauge_cert_not_after_timestamp_seconds{{path=\"/a\",index=\"0\",serial=\"01\"}} {lifetime}\n\
                 sysgauge_cert_not_before_timestamp_seconds{{path=\"/a\",index=\"0\",serial=\"01\"}} 0\n"
            );
            let samples = Samples {
                series: parse(&text).unwrap(),
                ..Samples::default()
            };
            let after = samples
                .named("sysgauge_cert_not_after_timestamp_seconds")
                .next()
                .unwrap();
            let w = super::file_warning(&samples, after).unwrap();
            let c = super::file_critical(&samples, after).unwrap();
            assert!((w - warning).abs() < 1e-6, "{lifetime}: warning {w}");
            assert!((c - critical).abs() < 1e-6, "{lifetime}: critical {c}");
        }
    }
}
