//! Encoders for the two exposition formats, and the choice between them.
//!
//! The classic text format (0.0.4) is what node_exporter's textfile collector parses, and what
//! HTTP scrapers get unless they ask for more. OpenMetrics 1.0 is served when the scraper's
//! `Accept` header prefers it. A counter stays a counter in both: classic text declares the
//! `_total` name itself, OpenMetrics declares the family without the suffix, as its spec says.
//! No sample carries a timestamp: node_exporter discards a textfile that has one.

use std::fmt::Write;

use crate::metrics::{Family, Kind, MetricSet};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The classic Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics text, version 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// Picks the format for an HTTP `Accept` header, honouring q-values.
    ///
    /// OpenMetrics is chosen only when the header names `application/openmetrics-text` (version
    /// 1.0.0 or unversioned) with a higher preference than anything that accepts plain text;
    /// everything else, a missing header included, gets the classic format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut best_om = 0.0_f32;
        let mut best_text = 0.0_f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut q = 1.0_f32;
            let mut version = None;
            for param in parts {
                match param.split_once('=') {
                    Some((k, v)) if k.trim().eq_ignore_ascii_case("q") => {
                        // RFC 9110: a q-value is 0 to 1; anything else (NaN, inf, 2) is
                        // read as 0 rather than allowed to outbid every valid preference.
                        q = v
                            .trim()
                            .parse()
                            .ok()
                            .filter(|q: &f32| (0.0..=1.0).contains(q))
                            .unwrap_or(0.0);
                    }
                    Some((k, v)) if k.trim().eq_ignore_ascii_case("version") => {
                        version = Some(v.trim().to_owned());
                    }
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0")) =>
                {
                    best_om = best_om.max(q);
                }
                "text/plain" | "text/*" | "*/*" => best_text = best_text.max(q),
                _ => {}
            }
        }
        if best_om > 0.0 && best_om >= best_text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Encodes `set` in `format`.
pub fn encode(set: &MetricSet, format: Format) -> String {
    let mut out = String::with_capacity(128 * set.families().len());
    // Nothing is flushed: the whole text stays in `out`.
    let _ = encode_with(&mut out, set, format, &mut |_| Ok(()));
    out
}

/// How much encoded text [`encode_to`] holds before writing it out.
const CHUNK: usize = 64 << 10;

/// Encodes `set` in `format` into `w`, 64 KiB at a time, so that a large answer (the textfile of
/// 50,000 certificates is 57 MB) is never held whole in memory beside the metrics it comes from.
pub fn encode_to(
    w: &mut dyn std::io::Write,
    set: &MetricSet,
    format: Format,
) -> std::io::Result<()> {
    let mut buf = String::with_capacity(CHUNK + 4096);
    encode_with(&mut buf, set, format, &mut |b| {
        if b.len() >= CHUNK {
            w.write_all(b.as_bytes())?;
            b.clear();
        }
        Ok(())
    })?;
    w.write_all(buf.as_bytes())
}

/// The one encoder: `flush` is offered the text after every sample and may write it out and
/// clear it.
fn encode_with(
    out: &mut String,
    set: &MetricSet,
    format: Format,
    flush: &mut dyn FnMut(&mut String) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for family in set.families() {
        if family.is_empty() {
            continue;
        }
        encode_family(out, family, format, flush)?;
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    Ok(())
}

fn encode_family(
    out: &mut String,
    family: Family<'_>,
    format: Format,
    flush: &mut dyn FnMut(&mut String) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let kind = match family.kind() {
        Kind::Gauge => "gauge",
        Kind::Counter => "counter",
    };
    // OpenMetrics names a counter family without its `_total` suffix; classic text names it
    // exactly like its samples, or the Prometheus parser would not tie them together.
    let name = family.name();
    let family_name = match (format, family.kind()) {
        (Format::OpenMetrics, Kind::Counter) => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    out.push_str("# HELP ");
    out.push_str(family_name);
    out.push(' ');
    escape_help(out, family.help(), format);
    out.push('\n');
    let _ = writeln!(out, "# TYPE {family_name} {kind}");
    for sample in family.samples() {
        out.push_str(name);
        let labels = sample.labels();
        if labels.len() > 0 {
            out.push('{');
            for (i, (name, value)) in labels.enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str("=\"");
                escape_label_value(out, value);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        write_value(out, sample.value);
        out.push('\n');
        flush(out)?;
    }
    Ok(())
}

fn escape_help(out: &mut String, help: &str, format: Format) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    // Most values (paths, names, serials) need no escape: copied whole, not a char at a time.
    if !value.bytes().any(|b| matches!(b, b'\\' | b'\n' | b'"')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        // Whole numbers (counts, timestamps, bytes) print without a decimal point or exponent.
        let _ = write!(out, "{}", v as i64);
    } else if (1e-4..1e15).contains(&v.abs()) {
        let _ = write!(out, "{v}");
    } else {
        let _ = write!(out, "{v:e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Desc;

    const TEMP: Desc<2> = Desc::gauge(
        "sysgauge_test_temperature_celsius",
        "Temperature, with a \\ and a\nnewline",
        ["sensor", "note"],
    );
    const ERRORS: Desc<1> = Desc::counter("sysgauge_test_errors_total", "Errors seen", ["kind"]);
    const BUILD: Desc<1> = Desc::info("sysgauge_test_build_info", "Build", ["version"]);

    fn sample_set() -> MetricSet {
        let mut set = MetricSet::new();
        set.add(&TEMP, ["a", "quote \" back \\ nl \n"], 21.5);
        set.add(&TEMP, ["b", ""], f64::NAN);
        set.add(&ERRORS, ["io"], 3.0);
        set.add(&BUILD, ["1.0"], 1.0);
        set
    }

    #[test]
    fn classic_text_format() {
        let expected = r#"# HELP sysgauge_test_temperature_celsius Temperature, with a \\ and a\nnewline
# TYPE sysgauge_test_temperature_celsius gauge
sysgauge_test_temperature_celsius{sensor="a",note="quote \" back \\ nl \n"} 21.5
sysgauge_test_temperature_celsius{sensor="b",note=""} NaN
# HELP sysgauge_test_errors_total Errors seen
# TYPE sysgauge_test_errors_total counter
sysgauge_test_errors_total{kind="io"} 3
# HELP sysgauge_test_build_info Build
# TYPE sysgauge_test_build_info gauge
sysgauge_test_build_info{version="1.0"} 1
"#;
        assert_eq!(encode(&sample_set(), Format::Text), expected);
    }

    /// What a writer receives in 64 KiB pieces is exactly the text `encode` returns, across
    /// several pieces, in both formats.
    #[test]
    fn streamed_text_equals_the_whole_text() {
        let mut set = sample_set();
        for i in 0..3000 {
            set.add(&TEMP, [format!("sensor {i}"), "x".repeat(40)], f64::from(i));
        }
        for format in [Format::Text, Format::OpenMetrics] {
            let whole = encode(&set, format);
            assert!(whole.len() > 2 * CHUNK, "{}", whole.len());
            let mut streamed = Vec::new();
            encode_to(&mut streamed, &set, format).unwrap();
            assert_eq!(String::from_utf8(streamed).unwrap(), whole);
        }
    }

    #[test]
    fn openmetrics_format() {
        let out = encode(&sample_set(), Format::OpenMetrics);
        assert!(out.contains(
            "# TYPE sysgauge_test_errors counter\nsysgauge_test_errors_total{kind=\"io\"} 3\n"
        ));
        assert!(out.contains("# HELP sysgauge_test_errors Errors seen\n"));
        assert!(out.contains("# TYPE sysgauge_test_build_info gauge\n"));
        assert!(out.ends_with("# EOF\n"));
        assert!(!out.contains(" info\n"));
    }

    #[test]
    fn values() {
        let mut s = String::new();
        for v in [
            0.0,
            -3.0,
            1_700_000_000.0,
            0.25,
            1e20,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-7,
        ] {
            write_value(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "0 -3 1700000000 0.25 1e20 +Inf -Inf 1e-7 ");
    }

    #[test]
    fn negotiation() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; version=0.0.1")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
    }
}
