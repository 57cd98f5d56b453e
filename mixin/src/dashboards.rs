//! The Grafana dashboards, as code; `dashboards/*.json` is generated from here.
//!
//! Classic dashboard JSON (schemaVersion 39) for file provisioning: a `datasource` variable that
//! every panel and target uses (provisioning does not resolve `__inputs`), `job` and `instance`
//! query variables, a description and a unit on every panel, `$__rate_interval` in every rate,
//! `editable: false` and a uid that is the MD5 of the file name (as kubernetes-mixin does).
//! The per-exporter dashboards are [`certs`], [`restic`], [`gpu`], [`systemd`] and [`backup`]; the fleet
//! overview is [`overview`].

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
    /// Whether a time series panel stacks its series (parts of a whole, like memory per unit).
    pub stacked: bool,
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
        stacked: false,
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

/// A time series panel, half the width, whose series are stacked.
pub fn stacked_graph(
    title: &'static str,
    unit: &'static str,
    description: &'static str,
    targets: Vec<(String, &'static str)>,
) -> Panel {
    Panel {
        stacked: true,
        ..graph(title, unit, description, targets)
    }
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
        if p.stacked {
            v["fieldConfig"]["defaults"]["custom"] =
                json!({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 40});
        }
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
    vec![overview(), certs(), restic(), gpu(), systemd(), backup()]
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
    let not_before = sel("sysgauge_cert_not_before_timestamp_seconds");
    // Past the renewal point: under a third of the lifetime left, capped at 30 days, as
    // SysgaugeCertificateExpiringSoon and SysgaugeCertificateEndpointExpiringSoon decide.
    let past_renewal = |after: &str, before: &str| {
        format!("{after} - time() < clamp_max(({after} - {before}) / 3, 30 * 86400)")
    };
    let ep_not_after = sel("sysgauge_cert_endpoint_not_after_timestamp_seconds");
    let ep_not_before = sel("sysgauge_cert_endpoint_not_before_timestamp_seconds");
    Dashboard {
        file: "sysgauge-certs.json",
        title: "sysgauge / Certificates",
        description: "Certificate files and live TLS endpoints watched by sysgauge-certs: time left until expiry, unreadable files and failing probes, chain, key and name checks, CRLs and revoked certificates.",
        variable_selector: "sysgauge_cert_build_info",
        panels: vec![
            stat(
                "Certificates",
                "none",
                "Certificates read from every watched file, intermediates and roots in bundles included.",
                format!("count({not_after})"),
            ),
            stat(
                "Past their renewal point",
                "none",
                "Certificates with less than a third of their lifetime (at most 30 days) left, expired ones included: SysgaugeCertificateExpiringSoon warns an hour after this.",
                format!(
                    "count({}) or vector(0)",
                    past_renewal(&not_after, &not_before)
                ),
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
            table(
                24,
                "Share of lifetime left per certificate",
                "percentunit",
                "Time left as a share of each certificate's lifetime (notAfter - notBefore): the alerts warn under a third and page under a tenth, whatever the lifetime (24 hours, 6 days, 90 days).",
                format!("({not_after} - time()) / ({not_after} - {not_before})"),
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
            table(
                12,
                "CRLs: time until nextUpdate",
                "dtdurations",
                "Every watched CRL with its file and issuer: time left until its nextUpdate, negative once it has passed (clients that check it then reject the issuer's certificates). SysgaugeCertificateCrlExpiringSoon warns under a third of the CRL's validity.",
                format!(
                    "{} - time()",
                    sel("sysgauge_cert_crl_next_update_timestamp_seconds")
                ),
            ),
            table(
                12,
                "Revoked certificates",
                "none",
                "Watched certificates whose serial a watched CRL of their issuer lists, with the CRL's file.",
                format!("{} == 1", sel("sysgauge_cert_revoked")),
            ),
            stat(
                "Endpoints",
                "none",
                "Live TLS endpoints probed ([[endpoints]]).",
                format!("count({})", sel("sysgauge_cert_probe_success")),
            ),
            stat(
                "Endpoints failing",
                "none",
                "Endpoints whose last probe did not complete a TLS handshake.",
                format!(
                    "count({} == 0) or vector(0)",
                    sel("sysgauge_cert_probe_success")
                ),
            ),
            stat(
                "Endpoints past a renewal point",
                "none",
                "Endpoints presenting a certificate with less than a third of its lifetime (at most 30 days) left, expired ones included.",
                format!(
                    "count(count by (job, instance, endpoint) ({})) or vector(0)",
                    past_renewal(&ep_not_after, &ep_not_before)
                ),
            ),
            stat(
                "Endpoints not verified or misnamed",
                "none",
                "Endpoints whose chain does not verify against their CA bundle, or whose certificate is not valid for the name sent.",
                format!(
                    "count(count by (job, instance, endpoint) (({} == 0) or ({} == 0))) or vector(0)",
                    sel("sysgauge_cert_endpoint_chain_verified"),
                    sel("sysgauge_cert_endpoint_name_matches")
                ),
            ),
            table(
                24,
                "Endpoints: time left per presented certificate",
                "dtdurations",
                "Every certificate each endpoint presented (index 0 is the leaf), with its subject, issuer and serial; negative when expired.",
                format!(
                    "{} - time()",
                    sel("sysgauge_cert_endpoint_not_after_timestamp_seconds")
                ),
            ),
            graph(
                "Endpoints: time left, ten soonest",
                "s",
                "Validity left of each endpoint's earliest-expiring certificate, for the ten that expire first.",
                vec![(
                    format!(
                        "bottomk(10, {} - time())",
                        sel("sysgauge_cert_endpoint_earliest_not_after_timestamp_seconds")
                    ),
                    "{{endpoint}} {{instance}}",
                )],
            ),
            graph(
                "Endpoint probe duration",
                "s",
                "Connection, protocol dialogue and TLS handshake, and the handshake alone.",
                vec![
                    (
                        sel("sysgauge_cert_probe_duration_seconds"),
                        "total {{endpoint}}",
                    ),
                    (
                        sel("sysgauge_cert_probe_tls_handshake_seconds"),
                        "handshake {{endpoint}}",
                    ),
                ],
            ),
            table(
                8,
                "Endpoint probe errors",
                "none",
                "Endpoints whose probe failed, with the reason (dns, refused, connect, timeout, protocol, handshake).",
                format!("{} == 1", sel("sysgauge_cert_probe_error")),
            ),
            table(
                8,
                "Endpoint chain verification",
                "none",
                "1 when the presented chain verifies against the endpoint's CA bundle (system: the system's roots), 0 when not.",
                sel("sysgauge_cert_endpoint_chain_verified"),
            ),
            table(
                8,
                "Endpoint name match",
                "none",
                "1 when the leaf is valid for the name sent (SNI, or the host), 0 when not.",
                sel("sysgauge_cert_endpoint_name_matches"),
            ),
            table(
                24,
                "Endpoint TLS versions and ciphers",
                "none",
                "The TLS version and cipher suite each endpoint negotiated.",
                sel("sysgauge_cert_probe_tls_info"),
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
                "How long each collector took: files reads every watched file, endpoints probes every endpoint.",
                vec![(
                    sel("sysgauge_cert_collector_duration_seconds"),
                    "{{instance}} {{collector}}",
                )],
            ),
        ],
    }
}

/// sysgauge-restic.
pub fn restic() -> Dashboard {
    let latest = sel("sysgauge_restic_group_latest_snapshot_timestamp_seconds");
    let group = "{{hostname}} {{paths}} {{tags}}";
    Dashboard {
        file: "sysgauge-restic.json",
        title: "sysgauge / restic",
        description: "restic repositories watched by sysgauge-restic: readability, snapshot age per group, size, locks and check results.",
        variable_selector: "sysgauge_restic_build_info",
        panels: vec![
            stat(
                "Repositories",
                "none",
                "Repositories the exporters watch.",
                format!("count({})", sel("sysgauge_restic_repository_up")),
            ),
            stat(
                "Unreadable",
                "none",
                "Repositories whose snapshots and locks could not be read in the last collection.",
                format!(
                    "count({} == 0) or vector(0)",
                    sel("sysgauge_restic_repository_up")
                ),
            ),
            stat(
                "Oldest latest snapshot",
                "s",
                "Age of the most out-of-date group's latest snapshot, over every repository.",
                format!("max(time() - {latest})"),
            ),
            stat(
                "Stale locks",
                "none",
                "Locks older than 30 minutes, over every repository; they block prune and check.",
                format!("sum({}) or vector(0)", sel("sysgauge_restic_locks_stale")),
            ),
            table(
                24,
                "Latest snapshot age per group",
                "dtdurations",
                "Each group of snapshots (same host, paths and tags) with the age of its latest snapshot.",
                format!("time() - {latest}"),
            ),
            graph(
                "Repository size",
                "bytes",
                "Bytes stored in each repository (restic stats --mode raw-data), as of the last stats run.",
                vec![(
                    sel("sysgauge_restic_repository_size_bytes"),
                    "{{instance}} {{repository}}",
                )],
            ),
            graph(
                "Snapshots",
                "none",
                "Number of snapshots in each repository; drops are forget/prune runs.",
                vec![(
                    sel("sysgauge_restic_snapshots"),
                    "{{instance}} {{repository}}",
                )],
            ),
            graph(
                "Data added by the latest backup",
                "bytes",
                "Bytes each group's latest backup added to the repository, as stored (restic >= 0.17).",
                vec![(
                    sel("sysgauge_restic_group_latest_added_packed_bytes"),
                    group,
                )],
            ),
            graph(
                "Latest backup duration",
                "s",
                "How long each group's latest backup took (restic >= 0.17).",
                vec![(
                    sel("sysgauge_restic_group_latest_backup_duration_seconds"),
                    group,
                )],
            ),
            graph(
                "Locks",
                "none",
                "Lock files in each repository, and how many of them are stale.",
                vec![
                    (sel("sysgauge_restic_locks"), "all {{repository}}"),
                    (sel("sysgauge_restic_locks_stale"), "stale {{repository}}"),
                ],
            ),
            graph(
                "Time since the last check",
                "s",
                "Time since restic check last finished for each repository.",
                vec![(
                    format!(
                        "time() - {}",
                        sel("sysgauge_restic_check_timestamp_seconds")
                    ),
                    "{{instance}} {{repository}}",
                )],
            ),
            table(
                12,
                "Check results",
                "none",
                "1 when the last restic check found no errors, 0 when it failed.",
                sel("sysgauge_restic_check_success"),
            ),
            table(
                12,
                "Read errors",
                "none",
                "Repositories that could not be read, with the reason.",
                format!("{} == 1", sel("sysgauge_restic_repository_error")),
            ),
        ],
    }
}

/// sysgauge-gpu.
pub fn gpu() -> Dashboard {
    let by_gpu = "{{instance}} {{uuid}}";
    Dashboard {
        file: "sysgauge-gpu.json",
        title: "sysgauge / GPUs",
        description: "NVIDIA GPUs watched by sysgauge-gpu: utilization, memory, temperature, power, throttling, ECC and XID errors.",
        variable_selector: "sysgauge_gpu_build_info",
        panels: vec![
            stat(
                "GPUs",
                "none",
                "GPUs NVML reports, lost ones included.",
                format!("sum({})", sel("sysgauge_gpu_devices")),
            ),
            stat(
                "Lost GPUs",
                "none",
                "GPUs that fell off the bus or no longer answer.",
                format!("sum({}) or vector(0)", sel("sysgauge_gpu_lost")),
            ),
            stat(
                "Hosts without a usable driver",
                "none",
                "Hosts where NVML cannot be used (no library or no driver loaded).",
                format!("count({} == 0) or vector(0)", sel("sysgauge_gpu_nvml_up")),
            ),
            stat(
                "GPUs above 85°C",
                "none",
                "GPUs hotter than SysgaugeGpuHot's threshold now.",
                format!(
                    "count({} > 85) or vector(0)",
                    sel("sysgauge_gpu_temperature_celsius")
                ),
            ),
            table(
                24,
                "GPUs",
                "none",
                "Each GPU's index, model and PCI bus id by uuid.",
                sel("sysgauge_gpu_info"),
            ),
            graph(
                "Utilization",
                "percentunit",
                "Fraction of time a kernel ran on each GPU.",
                vec![(sel("sysgauge_gpu_utilization_ratio"), by_gpu)],
            ),
            graph(
                "Memory used",
                "percentunit",
                "Device memory in use as a fraction of the installed memory.",
                vec![(
                    format!(
                        "{} / {}",
                        sel("sysgauge_gpu_memory_used_bytes"),
                        sel("sysgauge_gpu_memory_total_bytes")
                    ),
                    by_gpu,
                )],
            ),
            graph(
                "Temperature",
                "celsius",
                "GPU core temperature; SysgaugeGpuHot fires above 85°C.",
                vec![(sel("sysgauge_gpu_temperature_celsius"), by_gpu)],
            ),
            graph(
                "Power",
                "watt",
                "Power drawn by each board (measured, and averaged from the energy counter) and the enforced limit.",
                vec![
                    (sel("sysgauge_gpu_power_draw_watts"), "draw {{uuid}}"),
                    (
                        format!(
                            "rate({}[$__rate_interval])",
                            sel("sysgauge_gpu_energy_joules_total")
                        ),
                        "average {{uuid}}",
                    ),
                    (
                        sel("sysgauge_gpu_power_limit_enforced_watts"),
                        "limit {{uuid}}",
                    ),
                ],
            ),
            graph(
                "Clock events (throttling)",
                "none",
                "1 while a reason holds the clocks down: thermal and power reasons slow jobs; gpu_idle is harmless.",
                vec![(
                    format!("{} == 1", sel("sysgauge_gpu_clock_event_active")),
                    "{{uuid}} {{reason}}",
                )],
            ),
            graph(
                "Time throttled",
                "percentunit",
                "Share of time the clocks were held below target, by policy; counts every throttle, however short.",
                vec![(
                    format!(
                        "rate({}[$__rate_interval])",
                        sel("sysgauge_gpu_throttle_seconds_total")
                    ),
                    "{{uuid}} {{reason}}",
                )],
            ),
            graph(
                "PCIe link",
                "none",
                "PCIe generation and width now and at most; below the maximum under load is a downtrained link (idle GPUs lower the generation on purpose).",
                vec![
                    (sel("sysgauge_gpu_pcie_link_generation"), "gen {{uuid}}"),
                    (
                        sel("sysgauge_gpu_pcie_link_max_generation"),
                        "max gen {{uuid}}",
                    ),
                    (sel("sysgauge_gpu_pcie_link_width"), "width {{uuid}}"),
                    (
                        sel("sysgauge_gpu_pcie_link_max_width"),
                        "max width {{uuid}}",
                    ),
                ],
            ),
            table(
                12,
                "Recommended recovery action",
                "none",
                "What the driver asks for each GPU: none, gpu_reset, node_reboot, drain_p2p, drain_and_reset.",
                format!("{} == 1", sel("sysgauge_gpu_recovery_action")),
            ),
            graph(
                "Memory repair",
                "none",
                "Rows remapped to spares per interval by cause (Ampere and newer; growth means wearing memory), and whether a remap waits for a reset or failed.",
                vec![
                    (
                        format!(
                            "increase({}[$__rate_interval])",
                            sel("sysgauge_gpu_remapped_rows_total")
                        ),
                        "remapped {{uuid}} {{cause}}",
                    ),
                    (
                        sel("sysgauge_gpu_remapped_rows_pending"),
                        "pending {{uuid}}",
                    ),
                    (sel("sysgauge_gpu_remapped_rows_failed"), "failed {{uuid}}"),
                ],
            ),
            graph(
                "Clocks",
                "hertz",
                "Current clock frequency per clock domain.",
                vec![(sel("sysgauge_gpu_clock_hertz"), "{{uuid}} {{clock}}")],
            ),
            graph(
                "ECC errors",
                "none",
                "ECC errors per interval, by type: corrected ones are harmless in small numbers, uncorrected ones corrupt work.",
                vec![(
                    format!(
                        "increase({}[$__rate_interval])",
                        sel("sysgauge_gpu_ecc_errors_total")
                    ),
                    "{{uuid}} {{type}}",
                )],
            ),
            graph(
                "XID errors",
                "none",
                "XID errors per interval, by code (serve mode only; the kernel log has the messages).",
                vec![(
                    format!(
                        "increase({}[$__rate_interval])",
                        sel("sysgauge_gpu_xid_errors_total")
                    ),
                    "{{uuid}} XID {{xid}}",
                )],
            ),
            graph(
                "PCIe throughput",
                "binBps",
                "Bytes per second over PCIe, to and from each GPU.",
                vec![
                    (
                        sel("sysgauge_gpu_pcie_transmit_bytes_per_second"),
                        "tx {{uuid}}",
                    ),
                    (
                        sel("sysgauge_gpu_pcie_receive_bytes_per_second"),
                        "rx {{uuid}}",
                    ),
                ],
            ),
            graph(
                "Fan speed",
                "percentunit",
                "Intended speed of each fan as a fraction of its maximum.",
                vec![(sel("sysgauge_gpu_fan_speed_ratio"), "{{uuid}} fan {{fan}}")],
            ),
            stacked_graph(
                "Memory per unit",
                "bytes",
                "Device memory held by each systemd unit's processes, stacked per host (unknown: processes whose cgroup could not be found, usually just exited).",
                vec![(
                    format!(
                        "sum by (instance, unit) ({})",
                        sel("sysgauge_gpu_unit_memory_used_bytes")
                    ),
                    "{{instance}} {{unit}}",
                )],
            ),
            stacked_graph(
                "Compute per unit",
                "percentunit",
                "SM utilization of each systemd unit's processes (latest NVML sample per process), stacked per GPU.",
                vec![(
                    sel("sysgauge_gpu_unit_sm_utilization_ratio"),
                    "{{uuid}} {{unit}}",
                )],
            ),
            table(
                12,
                "Units on GPUs",
                "bytes",
                "Device memory per systemd unit and GPU now.",
                sel("sysgauge_gpu_unit_memory_used_bytes"),
            ),
            graph(
                "MIG instance memory used",
                "percentunit",
                "Device memory in use in each MIG GPU instance, as a fraction of the instance's memory; empty when no GPU is in MIG mode.",
                vec![(
                    format!(
                        "{} / {}",
                        sel("sysgauge_gpu_mig_memory_used_bytes"),
                        sel("sysgauge_gpu_mig_memory_total_bytes")
                    ),
                    "{{instance}} {{uuid}} GI {{gpu_instance_id}}",
                )],
            ),
            graph(
                "Activity (GPM)",
                "percentunit",
                "The GPU's performance counters (GPM, Hopper and newer), averaged since the previous scrape: SMs with work assigned, tensor (MMA) pipes busy, DRAM bandwidth used. Unlike Utilization (a kernel ran at all), these say how much of the GPU the work uses; empty for GPUs without GPM.",
                vec![
                    (
                        sel("sysgauge_gpu_sm_activity_ratio"),
                        "SM {{instance}} {{uuid}}",
                    ),
                    (
                        sel("sysgauge_gpu_tensor_activity_ratio"),
                        "tensor {{instance}} {{uuid}}",
                    ),
                    (
                        sel("sysgauge_gpu_dram_bandwidth_utilization_ratio"),
                        "DRAM {{instance}} {{uuid}}",
                    ),
                ],
            ),
            graph(
                "MIG instance activity (GPM)",
                "percentunit",
                "SM and tensor activity of each MIG GPU instance (GPM), averaged since the previous scrape; empty when no GPU with GPM is in MIG mode.",
                vec![
                    (
                        sel("sysgauge_gpu_mig_sm_activity_ratio"),
                        "SM {{instance}} {{uuid}} GI {{gpu_instance_id}}",
                    ),
                    (
                        sel("sysgauge_gpu_mig_tensor_activity_ratio"),
                        "tensor {{instance}} {{uuid}} GI {{gpu_instance_id}}",
                    ),
                ],
            ),
        ],
    }
}

/// sysgauge-systemd.
pub fn systemd() -> Dashboard {
    Dashboard {
        file: "sysgauge-systemd.json",
        title: "sysgauge / systemd",
        description: "systemd units watched by sysgauge-systemd: failed and critical units, service restarts and resources, timers and sockets.",
        variable_selector: "sysgauge_systemd_build_info",
        panels: vec![
            stat(
                "Failed units",
                "none",
                "Units in the failed state, as the managers count them.",
                format!("sum({})", sel("sysgauge_systemd_failed_units")),
            ),
            stat(
                "Degraded hosts",
                "none",
                "Hosts whose manager reports the system as degraded.",
                format!(
                    "count({} == 1) or vector(0)",
                    sel_with("sysgauge_systemd_system_state", r#"state="degraded""#)
                ),
            ),
            stat(
                "Critical units not active",
                "none",
                "Units configured as critical that are not active or do not exist.",
                format!(
                    "count({} == 1 unless on (job, instance, name) ({} == 1)) or vector(0)",
                    sel("sysgauge_systemd_unit_critical"),
                    sel_with("sysgauge_systemd_unit_state", r#"state="active""#)
                ),
            ),
            stat(
                "Units",
                "none",
                "Units reported, all types and states.",
                format!("sum({})", sel("sysgauge_systemd_units")),
            ),
            stat(
                "Services last OOM-killed",
                "none",
                "Services whose last run ended in an OOM kill (Result oom-kill; detected by systemd on cgroup v2 only).",
                format!(
                    "count({} == 1) or vector(0)",
                    sel_with("sysgauge_systemd_service_result", r#"result="oom-kill""#)
                ),
            ),
            table(
                12,
                "Failed units",
                "none",
                "Units in the failed state now.",
                format!(
                    "{} == 1",
                    sel_with("sysgauge_systemd_unit_state", r#"state="failed""#)
                ),
            ),
            table(
                12,
                "System state",
                "none",
                "Each manager's state (running, degraded, starting, ...).",
                format!("{} == 1", sel("sysgauge_systemd_system_state")),
            ),
            graph(
                "Units by state",
                "none",
                "Units by load and active state.",
                vec![(
                    sel("sysgauge_systemd_units"),
                    "{{instance}} {{load_state}}/{{active_state}}",
                )],
            ),
            graph(
                "Service restarts",
                "none",
                "Automatic restarts per interval; a service that keeps restarting is crashing.",
                vec![(
                    format!(
                        "increase({}[$__rate_interval]) > 0",
                        sel("sysgauge_systemd_service_restarts_total")
                    ),
                    "{{instance}} {{name}}",
                )],
            ),
            graph(
                "Service CPU",
                "percentunit",
                "CPU time per second used by each service's cgroup (1 = one core).",
                vec![(
                    format!(
                        "topk(10, rate({}[$__rate_interval]))",
                        sel("sysgauge_systemd_service_cpu_seconds_total")
                    ),
                    "{{instance}} {{name}}",
                )],
            ),
            graph(
                "Service memory",
                "bytes",
                "Memory used by each service's cgroup, the ten largest.",
                vec![(
                    format!("topk(10, {})", sel("sysgauge_systemd_service_memory_bytes")),
                    "{{instance}} {{name}}",
                )],
            ),
            table(
                12,
                "Timers: time until the next run",
                "dtdurations",
                "Time until each timer next fires; negative means overdue.",
                format!(
                    "{} - time()",
                    sel("sysgauge_systemd_timer_next_elapse_timestamp_seconds")
                ),
            ),
            table(
                12,
                "Timers: time since the last run",
                "dtdurations",
                "Time since each timer last triggered its unit.",
                format!(
                    "time() - {}",
                    sel("sysgauge_systemd_timer_last_trigger_timestamp_seconds")
                ),
            ),
            graph(
                "Socket connections",
                "ops",
                "Connections accepted and refused per second by each socket unit.",
                vec![
                    (
                        format!(
                            "rate({}[$__rate_interval])",
                            sel("sysgauge_systemd_socket_accepted_connections_total")
                        ),
                        "accepted {{name}}",
                    ),
                    (
                        format!(
                            "rate({}[$__rate_interval])",
                            sel("sysgauge_systemd_socket_refused_connections_total")
                        ),
                        "refused {{name}}",
                    ),
                ],
            ),
            graph(
                "Service tasks",
                "none",
                "Processes and threads in each service's cgroup, the ten largest.",
                vec![(
                    format!("topk(10, {})", sel("sysgauge_systemd_service_tasks")),
                    "{{instance}} {{name}}",
                )],
            ),
            graph(
                "Memory used of MemoryMax",
                "percentunit",
                "Each running service's memory as a fraction of its MemoryMax=, the ten closest; over 0.9 for 10 minutes alerts.",
                vec![(
                    format!(
                        "topk(10, {} / on (job, instance, name) {})",
                        sel("sysgauge_systemd_service_memory_bytes"),
                        sel("sysgauge_systemd_service_memory_max_bytes")
                    ),
                    "{{instance}} {{name}}",
                )],
            ),
            graph(
                "Service IO",
                "binBps",
                "Bytes read and written to block devices per service, the ten busiest (IOAccounting=, cgroup v2).",
                vec![
                    (
                        format!(
                            "topk(10, rate({}[$__rate_interval]))",
                            sel("sysgauge_systemd_service_io_read_bytes_total")
                        ),
                        "{{instance}} {{name}} read",
                    ),
                    (
                        format!(
                            "topk(10, rate({}[$__rate_interval]))",
                            sel("sysgauge_systemd_service_io_write_bytes_total")
                        ),
                        "{{instance}} {{name}} write",
                    ),
                ],
            ),
            graph(
                "Service network",
                "binBps",
                "IP bytes received and sent per service, the ten busiest (IPAccounting=).",
                vec![
                    (
                        format!(
                            "topk(10, rate({}[$__rate_interval]))",
                            sel("sysgauge_systemd_service_ip_ingress_bytes_total")
                        ),
                        "{{instance}} {{name}} in",
                    ),
                    (
                        format!(
                            "topk(10, rate({}[$__rate_interval]))",
                            sel("sysgauge_systemd_service_ip_egress_bytes_total")
                        ),
                        "{{instance}} {{name}} out",
                    ),
                ],
            ),
            graph(
                "Slice memory",
                "bytes",
                "Memory of the slices and scopes that --cgroup-include selects (system.slice, user.slice, machine.slice by default).",
                vec![(
                    sel("sysgauge_systemd_cgroup_memory_bytes"),
                    "{{instance}} {{name}}",
                )],
            ),
            graph(
                "Slice tasks",
                "none",
                "Processes and threads in each selected slice or scope.",
                vec![(
                    sel("sysgauge_systemd_cgroup_tasks"),
                    "{{instance}} {{name}}",
                )],
            ),
            graph(
                "Slice CPU",
                "none",
                "CPU time of each selected slice or scope, in cores.",
                vec![(
                    format!(
                        "rate({}[$__rate_interval])",
                        sel("sysgauge_systemd_cgroup_cpu_seconds_total")
                    ),
                    "{{instance}} {{name}}",
                )],
            ),
            table(
                12,
                "Boot stages",
                "s",
                "How long each stage of each host's last boot took (firmware, loader, kernel, initrd, userspace), as systemd-analyze time prints it; a container or a stage that did not happen has no row.",
                sel("sysgauge_systemd_boot_stage_seconds"),
            ),
            table(
                12,
                "Slowest units of the last boot",
                "s",
                "The units that took longest to activate during each host's last boot, as systemd-analyze blame ranks them.",
                sel("sysgauge_systemd_boot_unit_activation_seconds"),
            ),
        ],
    }
}

/// sysgauge-backup.
pub fn backup() -> Dashboard {
    let last = sel("sysgauge_backup_last_success_timestamp_seconds");
    let max_age = sel("sysgauge_backup_max_age_seconds");
    let by_target = "{{instance}} {{target}}";
    Dashboard {
        file: "sysgauge-backup.json",
        title: "sysgauge / Backups",
        description: "Backup targets watched by sysgauge-backup (dump files, systemd backup jobs, ZFS snapshots): age against each target's maximum age, failed jobs, unscheduled timers, unreadable targets.",
        variable_selector: "sysgauge_backup_build_info",
        panels: vec![
            stat(
                "Targets",
                "none",
                "Backup targets configured, all kinds.",
                format!("count({})", sel("sysgauge_backup_target_up")),
            ),
            stat(
                "Older than their maximum age",
                "none",
                "Targets whose newest good backup is older than their max_age, or that have none (SysgaugeBackupTooOld).",
                format!("count(time() - {last} > {max_age}) or vector(0)"),
            ),
            stat(
                "Failed jobs",
                "none",
                "Job targets whose last run ended with another result than success.",
                format!(
                    "count({} == 1) or vector(0)",
                    sel_with("sysgauge_backup_job_result", r#"result!="success""#)
                ),
            ),
            stat(
                "Unreadable targets",
                "none",
                "Targets the exporter cannot read (missing directory, permissions, unit not loaded, zfs failing).",
                format!(
                    "count({} == 0) or vector(0)",
                    sel("sysgauge_backup_target_up")
                ),
            ),
            table(
                12,
                "Age of the newest good backup",
                "dtdurations",
                "Time since each target's newest good backup; about 56 years when none is known (last success 0).",
                format!("time() - {last}"),
            ),
            table(
                12,
                "Maximum age",
                "dtdurations",
                "Each target's configured max_age; SysgaugeBackupTooOld fires when the age passes it.",
                max_age.clone(),
            ),
            graph(
                "Age as a fraction of the maximum age",
                "percentunit",
                "Age of the newest good backup divided by max_age: above 100% the target is too old. A sawtooth is a healthy schedule.",
                vec![(format!("(time() - {last}) / {max_age}"), by_target)],
            ),
            table(
                12,
                "Targets",
                "none",
                "Each target's kind and what it watches: the glob, the unit, or the datasets.",
                sel("sysgauge_backup_target_info"),
            ),
            table(
                12,
                "Unreadable targets",
                "none",
                "Targets that could not be read, with the reason; the exporter's log has the details.",
                format!("{} == 1", sel("sysgauge_backup_target_error")),
            ),
            table(
                12,
                "Newest artifact files",
                "none",
                "The newest file each artifact target matched.",
                sel("sysgauge_backup_artifact_newest_info"),
            ),
            table(
                12,
                "Newest artifact complete",
                "none",
                "1 when the newest file passes the target's content checks (pg_dump trailer, gzip, tar), 0 when it is cut short; only for targets with checks.",
                sel("sysgauge_backup_artifact_newest_complete"),
            ),
            graph(
                "Newest artifact size",
                "bytes",
                "Size of each artifact target's newest file; a sudden drop is often a truncated dump.",
                vec![(sel("sysgauge_backup_artifact_newest_size_bytes"), by_target)],
            ),
            graph(
                "Files per artifact target",
                "none",
                "Files each artifact target's path or glob matches; a rising count means old dumps are not pruned.",
                vec![(sel("sysgauge_backup_artifact_files"), by_target)],
            ),
            table(
                12,
                "Job results",
                "none",
                "The systemd Result of each job target's last run (success, exit-code, signal, timeout, ...).",
                sel("sysgauge_backup_job_result"),
            ),
            table(
                12,
                "Job exit status",
                "none",
                "The exit code of each job's last run, or the signal number that killed it.",
                sel("sysgauge_backup_job_exit_status"),
            ),
            graph(
                "Job run duration",
                "s",
                "How long each job's last completed run took (main process start to exit).",
                vec![(
                    format!(
                        "{} - {}",
                        sel("sysgauge_backup_job_last_run_end_timestamp_seconds"),
                        sel("sysgauge_backup_job_last_run_start_timestamp_seconds")
                    ),
                    by_target,
                )],
            ),
            graph(
                "Jobs running",
                "none",
                "1 while a job's run is in progress.",
                vec![(sel("sysgauge_backup_job_running"), by_target)],
            ),
            table(
                12,
                "Timers: time until the next run",
                "dtdurations",
                "Time until each timer target's timer fires next; a timer without a next run is missing here (SysgaugeBackupTimerNotScheduled).",
                format!(
                    "{} - time()",
                    sel("sysgauge_backup_job_timer_next_elapse_timestamp_seconds")
                ),
            ),
            table(
                12,
                "Timers: time since the last trigger",
                "dtdurations",
                "Time since each timer target's timer last fired.",
                format!(
                    "time() - {}",
                    sel("sysgauge_backup_job_timer_last_trigger_timestamp_seconds")
                ),
            ),
            table(
                12,
                "ZFS datasets: newest snapshot age",
                "dtdurations",
                "Time since each dataset's newest snapshot; about 56 years for a dataset without one.",
                format!(
                    "time() - {}",
                    sel("sysgauge_backup_zfs_newest_snapshot_timestamp_seconds")
                ),
            ),
            table(
                12,
                "ZFS snapshot types: newest snapshot age",
                "dtdurations",
                "Time since each dataset's newest snapshot of each type (sanoid's hourly, daily, ...), for zfs targets with snapshot_max_age; a manual or syncoid snapshot does not count. About 56 years for a type without one.",
                format!(
                    "time() - {}",
                    sel("sysgauge_backup_zfs_type_newest_snapshot_timestamp_seconds")
                ),
            ),
            table(
                12,
                "ZFS snapshot types: age against max age",
                "percentunit",
                "Age of each dataset's newest snapshot of a type divided by the type's maximum age: above 100% that type is stale (SysgaugeBackupTooOld names it).",
                format!(
                    "(time() - {}) / on (job, instance, target, type) group_left {}",
                    sel("sysgauge_backup_zfs_type_newest_snapshot_timestamp_seconds"),
                    sel("sysgauge_backup_zfs_type_max_age_seconds")
                ),
            ),
            graph(
                "ZFS space used by snapshots",
                "bytes",
                "Each dataset's usedbysnapshots: space freed if every snapshot were destroyed; a curve that only grows means pruning does not run.",
                vec![(
                    sel("sysgauge_backup_zfs_snapshots_used_bytes"),
                    "{{target}} {{dataset}}",
                )],
            ),
            graph(
                "ZFS snapshots per dataset",
                "none",
                "Snapshots of each dataset; a count that only grows means pruning does not run.",
                vec![(
                    sel("sysgauge_backup_zfs_snapshots"),
                    "{{target}} {{dataset}}",
                )],
            ),
            graph(
                "Collector success",
                "none",
                "1 when the collector's last run succeeded, 0 when it failed or overran --collector.timeout.",
                vec![(
                    sel("sysgauge_backup_collector_success"),
                    "{{instance}} {{collector}}",
                )],
            ),
            graph(
                "Collector duration",
                "s",
                "How long each collector (artifacts, jobs, zfs) took.",
                vec![(
                    sel("sysgauge_backup_collector_duration_seconds"),
                    "{{instance}} {{collector}}",
                )],
            ),
        ],
    }
}
