//! The Grafana dashboards, as code; `dashboards/*.json` is generated from here.
//!
//! Classic dashboard JSON (schemaVersion 39) for file provisioning: a `datasource` variable that
//! every panel and target uses (provisioning does not resolve `__inputs`), `job` and `instance`
//! query variables, a description and a unit on every panel, `$__rate_interval` in every rate,
//! `editable: false` and a uid that is the MD5 of the file name (as kubernetes-mixin does).
//! The per-exporter dashboards live in [`certs`], [`restic`], [`gpu`] and [`systemd`]; the fleet
//! overview in [`overview`].

use serde_json::{Value, json};

/// The kind of a panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A single number (instant query).
    Stat,
    /// A graph over time.
    TimeSeries,
    /// One row per series with its labels (instant query).
    Table,
}

/// One panel.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Title.
    pub title: &'static str,
    /// What it shows and how to read it.
    pub description: &'static str,
    /// A Grafana unit id (`s`, `bytes`, `percentunit`, ...).
    pub unit: &'static str,
    /// The panel type.
    pub kind: Kind,
    /// Width in grid columns (of 24).
    pub width: u32,
    /// Queries and their legends.
    pub targets: Vec<(String, &'static str)>,
}

/// One dashboard.
#[derive(Clone, Debug)]
pub struct Dashboard {
    /// File name under dashboards/.
    pub file: &'static str,
    /// Title.
    pub title: &'static str,
    /// What the dashboard is for.
    pub description: &'static str,
    /// A selector whose series carry the `job` and `instance` labels the variables offer.
    pub variable_selector: &'static str,
    /// Panels, laid out left to right, top to bottom.
    pub panels: Vec<Panel>,
}

/// The matchers every query carries.
pub const SCOPE: &str = r#"job=~"$job",instance=~"$instance""#;

/// `metric{job=~"$job",instance=~"$instance"}`.
pub fn sel(metric: &str) -> String {
    format!("{metric}{{{SCOPE}}}")
}

/// `metric{job=~"$job",instance=~"$instance",extra}`.
pub fn sel_with(metric: &str, extra: &str) -> String {
    format!("{metric}{{{SCOPE},{extra}}}")
}

fn panel(
    kind: Kind,
    width: u32,
    title: &'static str,
    unit: &'static str,
    description: &'static str,
    targets: Vec<(String, &'static str)>,
) -> Panel {
    Panel {
        title,
        description,
        unit,
        kind,
        width,
        targets,
    }
}

/// A stat panel, a quarter of the width.
pub fn stat(
    title: &'static str,
    unit: &'static str,
    description: &'static str,
    expr: String,
) -> Panel {
    panel(Kind::Stat, 6, title, unit, description, vec![(expr, "")])
}

/// A time series panel, half the width.
pub fn graph(
    title: &'static str,
    unit: &'static str,
    description: &'static str,
    targets: Vec<(String, &'static str)>,
) -> Panel {
    panel(Kind::TimeSeries, 12, title, unit, description, targets)
}

/// A table panel of `width` columns.
pub fn table(
    width: u32,
    title: &'static str,
    unit: &'static str,
    description: &'static str,
    expr: String,
) -> Panel {
    panel(
        Kind::Table,
        width,
        title,
        unit,
        description,
        vec![(expr, "")],
    )
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

impl Dashboard {
    /// The dashboard's uid: the MD5 of its file name.
    pub fn uid(&self) -> String {
        crate::md5::hex(self.file.as_bytes())
    }

    /// The dashboard JSON.
    pub fn to_json(&self) -> Value {
        let mut panels = Vec::new();
        let (mut x, mut y, mut row_height) = (0u32, 0u32, 0u32);
        for (i, p) in self.panels.iter().enumerate() {
            let height = if p.kind == Kind::Stat { 4 } else { 8 };
            if x + p.width > 24 {
                x = 0;
                y += row_height;
                row_height = 0;
            }
            panels.push(self.panel_json(p, i as u32 + 1, x, y, height));
            x += p.width;
            row_height = row_height.max(height);
        }
        let query_variable = |name: &str, label: &str, query: String| {
            json!({
                "name": name,
                "label": label,
                "type": "query",
                "datasource": datasource(),
                "query": {"query": query, "refId": format!("{label}Variable")},
                "definition": query,
                "refresh": 2,
                "multi": true,
                "includeAll": true,
                "allValue": ".+",
                "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
                "sort": 1,
                "hide": 0,
                "regex": "",
                "options": []
            })
        };
        let instance_selector = match self.variable_selector.strip_suffix('}') {
            Some(open) => format!(r#"{open}, job=~"$job"}}"#),
            None => format!(r#"{}{{job=~"$job"}}"#, self.variable_selector),
        };
        json!({
            "annotations": {"list": []},
            "description": self.description,
            "editable": false,
            "fiscalYearStartMonth": 0,
            "graphTooltip": 1,
            "links": [],
            "panels": panels,
            "refresh": "1m",
            "schemaVersion": 39,
            "tags": ["sysgauge"],
            "templating": {"list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                    "refresh": 1,
                    "regex": "",
                    "options": []
                },
                query_variable("job", "Job", format!("label_values({}, job)", self.variable_selector)),
                query_variable("instance", "Instance", format!("label_values({instance_selector}, instance)")),
            ]},
            "time": {"from": "now-24h", "to": "now"},
            "timepicker": {},
            "timezone": "",
            "title": self.title,
            "uid": self.uid(),
            "version": 1,
            "weekStart": ""
        })
    }

    fn panel_json(&self, p: &Panel, id: u32, x: u32, y: u32, height: u32) -> Value {
        let instant = p.kind != Kind::TimeSeries;
        let targets: Vec<Value> = p
            .targets
            .iter()
            .enumerate()
            .map(|(i, (expr, legend))| {
                json!({
                    "datasource": datasource(),
                    "expr": expr,
                    "legendFormat": if legend.is_empty() { "__auto" } else { legend },
                    "refId": ((b'A' + i as u8) as char).to_string(),
                    "instant": instant,
                    "range": !instant,
                    "format": if p.kind == Kind::Table { "table" } else { "time_series" },
                })
            })
            .collect();
        let mut v = json!({
            "id": id,
            "type": match p.kind { Kind::Stat => "stat", Kind::TimeSeries => "timeseries", Kind::Table => "table" },
            "title": p.title,
            "description": p.description,
            "datasource": datasource(),
            "gridPos": {"h": height, "w": p.width, "x": x, "y": y},
            "fieldConfig": {
                "defaults": {
                    "unit": p.unit,
                    "color": {"mode": if p.kind == Kind::TimeSeries { "palette-classic" } else { "thresholds" }},
                    "thresholds": {"mode": "absolute", "steps": [{"color": "green", "value": null}]},
                },
                "overrides": []
            },
            "targets": targets,
        });
        v["options"] = match p.kind {
            Kind::Stat => json!({
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                "colorMode": "value",
                "graphMode": "none",
                "justifyMode": "auto",
                "orientation": "auto",
                "textMode": "auto"
            }),
            Kind::TimeSeries => json!({
                "legend": {"displayMode": "table", "placement": "right", "showLegend": true, "calcs": ["lastNotNull"]},
                "tooltip": {"mode": "multi", "sort": "desc"}
            }),
            Kind::Table => {
                json!({"showHeader": true, "sortBy": [{"displayName": "Value", "desc": false}]})
            }
        };
        if p.kind == Kind::Table {
            v["transformations"] = json!([{
                "id": "organize",
                "options": {"excludeByName": {"Time": true, "__name__": true}, "renameByName": {"Value": "Value"}}
            }]);
        }
        v
    }
}

/// Every dashboard.
pub fn all() -> Vec<Dashboard> {
    vec![overview(), certs()]
}

/// The fleet overview: every exporter's health, whichever exporters exist.
pub fn overview() -> Dashboard {
    let build_info = sel_with("", r#"__name__=~"sysgauge_.+_build_info""#);
    let success = sel_with("", r#"__name__=~"sysgauge_.+_collector_success""#);
    let duration = sel_with("", r#"__name__=~"sysgauge_.+_collector_duration_seconds""#);
    let alerts = sel_with("ALERTS", r#"alertname=~"Sysgauge.+""#);
    Dashboard {
        file: "sysgauge-overview.json",
        title: "sysgauge / Overview",
        description: "Every sysgauge exporter of the fleet: which run where, whether their collectors succeed, whether their textfiles are fresh, and which sysgauge alerts are active.",
        variable_selector: r#"{__name__=~"sysgauge_.+_build_info"}"#,
        panels: vec![
            stat(
                "Exporters",
                "none",
                "Exporter processes reporting, in serve or textfile mode (one per build_info series).",
                format!("count({build_info})"),
            ),
            stat(
                "Targets down",
                "none",
                "Scrape targets of the selected jobs that Prometheus cannot scrape now (up == 0).",
                format!("count({} == 0) or vector(0)", sel("up")),
            ),
            stat(
                "Failing collectors",
                "none",
                "Collectors whose last run failed or overran --collector.timeout.",
                format!("count({success} == 0) or vector(0)"),
            ),
            stat(
                "Firing alerts",
                "none",
                "sysgauge alerts firing now, all severities.",
                format!(
                    "count({}) or vector(0)",
                    sel_with("ALERTS", r#"alertname=~"Sysgauge.+",alertstate="firing""#)
                ),
            ),
            table(
                12,
                "Exporters and versions",
                "none",
                "Each exporter with its version and revision, by job and instance; a mixed fleet shows several versions.",
                format!(
                    r#"label_replace({build_info}, "exporter", "$1", "__name__", "sysgauge_(.+)_build_info")"#
                ),
            ),
            table(
                12,
                "Active sysgauge alerts",
                "none",
                "sysgauge alerts pending or firing, with their severity; docs/runbook.md says what to do about each.",
                alerts,
            ),
            graph(
                "Collector success",
                "none",
                "1 when the collector's last run succeeded, 0 when it failed or timed out.",
                vec![(
                    format!(
                        r#"label_replace({success}, "exporter", "$1", "__name__", "sysgauge_(.+)_collector_success")"#
                    ),
                    "{{exporter}}/{{collector}} {{instance}}",
                )],
            ),
            graph(
                "Collector duration",
                "s",
                "How long each collector's last run took; close to --collector.timeout means it is about to fail.",
                vec![(
                    format!(
                        r#"label_replace({duration}, "exporter", "$1", "__name__", "sysgauge_(.+)_collector_duration_seconds")"#
                    ),
                    "{{exporter}}/{{collector}} {{instance}}",
                )],
            ),
            graph(
                "Textfile age",
                "s",
                "Time since node_exporter last saw each sysgauge-*.prom file rewritten; it should stay below the exporter's timer interval.",
                vec![(
                    format!(
                        "time() - {}",
                        sel_with(
                            "node_textfile_mtime_seconds",
                            r#"file=~"(.*/)?sysgauge-[^/]*[.]prom""#
                        )
                    ),
                    "{{instance}} {{file}}",
                )],
            ),
            graph(
                "Textfile errors and scrape health",
                "none",
                "node_exporter's textfile parse errors (1 = a file in the directory cannot be read) and whether each target can be scraped (up).",
                vec![
                    (
                        sel("node_textfile_scrape_error"),
                        "parse error {{instance}}",
                    ),
                    (sel("up"), "up {{job}} {{instance}}"),
                ],
            ),
        ],
    }
}

/// sysgauge-certs.
pub fn certs() -> Dashboard {
    let not_after = sel("sysgauge_cert_not_after_timestamp_seconds");
    Dashboard {
        file: "sysgauge-certs.json",
        title: "sysgauge / Certificates",
        description: "Certificate files watched by sysgauge-certs: time left until expiry, unreadable files, chain and key checks.",
        variable_selector: "sysgauge_cert_build_info",
        panels: vec![
            stat(
                "Certificates",
                "none",
                "Certificates read from every watched file, intermediates and roots in bundles included.",
                format!("count({not_after})"),
            ),
            stat(
                "Expiring within 21 days",
                "none",
                "Certificates with less than three weeks of validity left, expired ones included (SysgaugeCertificateExpiringSoon warns from here).",
                format!("count({not_after} - time() < 21 * 86400) or vector(0)"),
            ),
            stat(
                "Expired",
                "none",
                "Certificates whose notAfter has passed.",
                format!("count({not_after} < time()) or vector(0)"),
            ),
            stat(
                "Files with problems",
                "none",
                "Watched files that cannot be read or hold a corrupt or no certificate.",
                format!(
                    "count({} > 0) or vector(0)",
                    sel("sysgauge_cert_file_errors")
                ),
            ),
            table(
                24,
                "Time left per certificate",
                "dtdurations",
                "Every certificate with its file, position in the file, subject, issuer and serial; soonest expiry first, negative when expired.",
                format!("{not_after} - time()"),
            ),
            graph(
                "Time left, ten soonest",
                "s",
                "Validity left for the ten certificates that expire first.",
                vec![(
                    format!("bottomk(10, {not_after} - time())"),
                    "{{subject_cn}} {{path}} #{{index}}",
                )],
            ),
            graph(
                "Files matched per source",
                "none",
                "Files each configured path pattern matched; 0 usually means a typo or a missing mount.",
                vec![(sel("sysgauge_cert_source_files"), "{{instance}} {{source}}")],
            ),
            table(
                8,
                "File problems",
                "none",
                "Files with problems by reason (not_found, permission_denied, no_certificate, bad_certificate, ...); the exporter's log has the details.",
                format!("{} > 0", sel("sysgauge_cert_file_errors")),
            ),
            table(
                8,
                "Chain verification",
                "none",
                "1 when the file's chain verifies against its source's CA bundle now, 0 when it does not (only for sources with a ca_bundle).",
                sel("sysgauge_cert_file_chain_verified"),
            ),
            table(
                8,
                "Key match",
                "none",
                "1 when the source's private key belongs to the file's first certificate, 0 when not (only for sources with a key).",
                sel("sysgauge_cert_file_key_match"),
            ),
            graph(
                "Collector success",
                "none",
                "1 when the last collection succeeded, 0 when it failed or overran --collector.timeout.",
                vec![(
                    sel("sysgauge_cert_collector_success"),
                    "{{instance}} {{collector}}",
                )],
            ),
            graph(
                "Collector duration",
                "s",
                "How long reading every watched file took.",
                vec![(
                    sel("sysgauge_cert_collector_duration_seconds"),
                    "{{instance}} {{collector}}",
                )],
            ),
        ],
    }
}
