//! The metrics and labels sysgauge produces, read from the exporters' source.
//!
//! Every exporter declares its metric families as `const` `Desc`s in
//! `exporters/<name>/src/metrics.rs` (`Desc::gauge("name", "help", [labels])`, labels written
//! inline or as a `const` array of the same file) and its domain in `main.rs`
//! (`domain: "cert"`), from which `common` derives the self-metrics. Reading the source keeps
//! the dashboards and alerts honest without a build: a renamed metric breaks the test.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

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

/// One exporter crate found under `exporters/`.
#[derive(Clone, Debug)]
pub struct Exporter {
    /// The directory name, e.g. `certs` (the binary is `sysgauge-certs`).
    pub name: String,
    /// The metric domain, e.g. `cert`.
    pub domain: String,
    /// Its families, self-metrics included.
    pub families: Vec<Family>,
}

/// The self-metrics `common` adds for an exporter of `domain` (common/src/collector.rs).
pub fn self_metrics(domain: &str) -> Vec<Family> {
    vec![
        Family::new(
            &format!("sysgauge_{domain}_collector_success"),
            &["collector"],
        ),
        Family::new(
            &format!("sysgauge_{domain}_collector_duration_seconds"),
            &["collector"],
        ),
        Family::new(
            &format!("sysgauge_{domain}_build_info"),
            &["version", "revision"],
        ),
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

/// Every exporter under `root/exporters`, sorted by name.
pub fn exporters(root: &Path) -> Result<Vec<Exporter>, String> {
    let dir = root.join("exporters");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("src/metrics.rs").is_file())
        .collect();
    names.sort();
    names
        .iter()
        .map(|path| {
            let read = |file: &str| {
                let p = path.join(file);
                std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))
            };
            let main = read("src/main.rs")?;
            let domain = string_after(&main, "domain:")
                .ok_or_else(|| format!("{}: no `domain: \"...\"`", path.display()))?;
            let mut families = parse_descs(&read("src/metrics.rs")?)
                .map_err(|e| format!("{}/src/metrics.rs: {e}", path.display()))?;
            families.extend(self_metrics(&domain));
            Ok(Exporter {
                name: path
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                domain,
                families,
            })
        })
        .collect()
}

/// The first string literal after `key` in `text`.
fn string_after(text: &str, key: &str) -> Option<String> {
    let rest = &text[text.find(key)? + key.len()..];
    let rest = rest.trim_start().strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// The string literals of an array literal `[ "a", "b" ]` at the start of `text`; the rest.
fn string_array(text: &str) -> Option<(Vec<String>, &str)> {
    let mut rest = text.trim_start().strip_prefix('[')?;
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        if let Some(after) = rest.strip_prefix(']') {
            return Some((out, after));
        }
        let body = rest.strip_prefix('"')?;
        let end = body.find('"')?;
        out.push(body[..end].to_owned());
        rest = &body[end + 1..];
    }
}

/// Skips a Rust string literal at the start of `text` (escapes included); returns the rest.
fn skip_string(text: &str) -> Option<&str> {
    let body = text.trim_start().strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(&body[i + 1..]),
            _ => escaped = false,
        }
    }
    None
}

/// The families declared with `Desc::gauge`, `Desc::counter` and `Desc::info` in a metrics.rs.
pub fn parse_descs(text: &str) -> Result<Vec<Family>, String> {
    // `const NAME: [&str; N] = [...];` arrays of label names.
    let mut arrays = BTreeMap::new();
    for (pos, _) in text.match_indices("const ") {
        let rest = &text[pos + 6..];
        let Some((name, rest)) = rest.split_once(':') else {
            continue;
        };
        let rest = rest.trim_start();
        if !rest.starts_with("[&str") && !rest.starts_with("[&'static str") {
            continue;
        }
        let Some((_, value)) = rest.split_once('=') else {
            continue;
        };
        if let Some((labels, _)) = string_array(value) {
            arrays.insert(name.trim().to_owned(), labels);
        }
    }
    let mut families = Vec::new();
    for kind in ["Desc::gauge(", "Desc::counter(", "Desc::info("] {
        for (pos, _) in text.match_indices(kind) {
            let args = &text[pos + kind.len()..];
            let name =
                string_after(args, "").ok_or_else(|| format!("{kind} without a name literal"))?;
            // Name, then help (both literals), then the labels.
            let rest = skip_string(args).ok_or("bad name literal")?;
            let rest = rest.trim_start().strip_prefix(',').ok_or("no help text")?;
            let rest = skip_string(rest).ok_or_else(|| format!("{name}: bad help literal"))?;
            let rest = rest
                .trim_start()
                .strip_prefix(',')
                .ok_or("no labels")?
                .trim_start();
            let labels = if rest.starts_with('[') {
                string_array(rest)
                    .ok_or_else(|| format!("{name}: bad label array"))?
                    .0
            } else {
                let ident: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                arrays
                    .get(&ident)
                    .cloned()
                    .ok_or_else(|| format!("{name}: unknown label array {ident}"))?
            };
            families.push(Family { name, labels });
        }
    }
    Ok(families)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_inline_and_named_label_arrays() {
        let text = r#"
pub const CERT_LABELS: [&str; 2] = ["path", "index"];
pub const A: Desc<2> = Desc::gauge(
    "sysgauge_cert_not_after_timestamp_seconds",
    "End of \"validity\", as a Unix timestamp",
    CERT_LABELS,
);
pub const B: Desc<2> = Desc::counter("sysgauge_gpu_xid_errors_total", "XIDs", ["uuid", "xid"]);
pub const C: Desc<0> = Desc::gauge("sysgauge_gpu_nvml_up", "Up", []);
pub const D: Desc<1> = Desc::info("sysgauge_restic_version_info", "Version", ["version"]);
"#;
        let f = parse_descs(text).unwrap();
        assert_eq!(
            f,
            vec![
                Family::new(
                    "sysgauge_cert_not_after_timestamp_seconds",
                    &["path", "index"]
                ),
                Family::new("sysgauge_gpu_nvml_up", &[]),
                Family::new("sysgauge_gpu_xid_errors_total", &["uuid", "xid"]),
                Family::new("sysgauge_restic_version_info", &["version"]),
            ]
        );
    }

    #[test]
    fn an_unknown_label_array_is_an_error() {
        let err = parse_descs(r#"const X: Desc<1> = Desc::gauge("sysgauge_x", "x", NOPE);"#);
        assert_eq!(err, Err("sysgauge_x: unknown label array NOPE".to_owned()));
    }
}
