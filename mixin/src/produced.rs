//! The metrics and labels sysgauge produces, from the exporters' own descriptors.
//!
//! Every exporter is a library crate whose `families()` lists the `Desc`s its collectors write
//! (declared through `sysgauge_common::metric_families!`, so the list cannot miss one) and the
//! self-metrics `common` adds. Dashboards, alert rules and docs/metrics.md are checked against
//! these: a renamed metric or label breaks the build of the check, not a dashboard in production.

use sysgauge_common::metrics::FamilyDescription;

/// A metric family: its sample name and label names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Family {
    /// The sample name (a counter's ends in `_total`).
    pub name: String,
    /// The label names.
    pub labels: Vec<String>,
}

impl Family {
    fn new(name: &str, labels: &[&str]) -> Family {
        Family {
            name: name.to_owned(),
            labels: labels.iter().map(|&l| l.to_owned()).collect(),
        }
    }
}

impl From<FamilyDescription> for Family {
    fn from(d: FamilyDescription) -> Family {
        Family {
            name: d.name,
            labels: d.labels,
        }
    }
}

/// One exporter of the workspace.
#[derive(Clone, Debug)]
pub struct Exporter {
    /// The directory name under `exporters/`, e.g. `certs` (the binary is `sysgauge-certs`).
    pub name: String,
    /// The metric domain, e.g. `cert`.
    pub domain: String,
    /// Its families, self-metrics included, with help texts and types.
    pub descriptions: Vec<FamilyDescription>,
    /// The same families as names and labels.
    pub families: Vec<Family>,
}

/// Every exporter of the workspace, sorted by name.
pub fn exporters() -> Vec<Exporter> {
    let exporter =
        |identity: &sysgauge_common::Identity, descriptions: Vec<FamilyDescription>| Exporter {
            name: identity
                .binary
                .strip_prefix("sysgauge-")
                .unwrap_or(identity.binary)
                .to_owned(),
            domain: identity.domain.to_owned(),
            families: descriptions.iter().cloned().map(Family::from).collect(),
            descriptions,
        };
    vec![
        exporter(&sysgauge_backup::IDENTITY, sysgauge_backup::families()),
        exporter(&sysgauge_certs::IDENTITY, sysgauge_certs::families()),
        exporter(&sysgauge_gpu::IDENTITY, sysgauge_gpu::families()),
        exporter(&sysgauge_restic::IDENTITY, sysgauge_restic::families()),
        exporter(&sysgauge_systemd::IDENTITY, sysgauge_systemd::families()),
    ]
}

/// What Prometheus and node_exporter's textfile collector produce that the mixin uses.
/// `job` and `instance` are target labels every series has; they are not listed here.
pub fn external_metrics() -> Vec<Family> {
    vec![
        Family::new("up", &[]),
        Family::new("node_textfile_mtime_seconds", &["file"]),
        Family::new("node_textfile_scrape_error", &[]),
        // Prometheus' own series for alerts, with the labels of the alert rule.
        Family::new("ALERTS", &["alertname", "alertstate", "severity"]),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_exporter_with_its_self_metrics() {
        let exporters = exporters();
        let names: Vec<_> = exporters.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["backup", "certs", "gpu", "restic", "systemd"]);
        // Each directory under exporters/ is one of them.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../exporters");
        let mut dirs: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        dirs.sort();
        assert_eq!(dirs, names);
        for e in &exporters {
            for suffix in [
                "collector_success",
                "collector_duration_seconds",
                "build_info",
            ] {
                let name = format!("sysgauge_{}_{suffix}", e.domain);
                assert!(e.families.iter().any(|f| f.name == name), "{name}");
            }
            // Every family of an exporter is in its own domain.
            let prefix = format!("sysgauge_{}_", e.domain);
            for f in &e.families {
                assert!(f.name.starts_with(&prefix), "{} in {}", f.name, e.name);
            }
        }
        let certs = exporters.iter().find(|e| e.name == "certs").unwrap();
        assert!(certs.families.contains(&Family::new(
            "sysgauge_cert_not_after_timestamp_seconds",
            &["path", "index", "subject_cn", "issuer_cn", "serial"]
        )));
    }
}
