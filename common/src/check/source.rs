//! Where a check's samples come from: this process's own collection, a running `serve`
//! instance (`--from http://HOST:PORT/metrics`) or a textfile a timer wrote
//! (`--from /var/lib/node_exporter/sysgauge-restic.prom`).
//!
//! Reading what an earlier run recorded is how slow work (restic `check` and `stats`, content
//! verification of large archives) reaches a check without running inline: the check states
//! the recording's age.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use crate::metrics::MetricSet;

/// The most bytes read from a `--from` source: far above any exporter's answer, and a bound
/// against a peer that never stops sending.
const MAX_BYTES: u64 = 64 << 20;

/// One sample with owned names, whatever its origin.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The metric name.
    pub name: String,
    /// Label pairs.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Series {
    /// The value of label `name`, or "" when the series has none (as in PromQL).
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The samples a check evaluates, and how old they are.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Every sample.
    pub series: Vec<Series>,
    /// When they were recorded, for samples read from a file; `None` when just collected.
    pub recorded: Option<SystemTime>,
    /// Where they came from, for the output ("collected" or the `--from` source).
    pub origin: String,
}

impl Samples {
    /// The samples of a collection made just now.
    pub fn from_metrics(set: &MetricSet) -> Samples {
        let series = set
            .families()
            .flat_map(|family| {
                family.samples().map(move |s| Series {
                    name: family.name().to_owned(),
                    labels: s
                        .labels()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    value: s.value,
                })
            })
            .collect();
        Samples {
            series,
            recorded: None,
            origin: "collected".into(),
        }
    }

    /// Every series named `name`.
    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Series> + 'a {
        self.series.iter().filter(move |s| s.name == name)
    }

    /// The first series named `name` whose labels include `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Option<&Series> {
        self.series
            .iter()
            .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
    }

    /// Reads `from`: an `http://` URL of a serve instance, or a textfile path.
    pub fn read(from: &str, deadline: Instant) -> Result<Samples, String> {
        if let Some(rest) = from.strip_prefix("http://") {
            let text = http_get(rest, deadline).map_err(|e| format!("{from}: {e}"))?;
            let series = parse(&text).map_err(|e| format!("{from}: {e}"))?;
            Ok(Samples {
                series,
                recorded: None,
                origin: from.to_owned(),
            })
        } else if from.contains("://") {
            Err(format!(
                "{from}: only http:// URLs and file paths are read (for a serve instance behind TLS or basic auth, read its textfile instead)"
            ))
        } else {
            let path = Path::new(from);
            let file = std::fs::File::open(path).map_err(|e| format!("{from}: {e}"))?;
            let recorded = file.metadata().and_then(|m| m.modified()).ok();
            let mut text = String::new();
            file.take(MAX_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| format!("{from}: {e}"))?;
            let series = parse(&text).map_err(|e| format!("{from}: {e}"))?;
            Ok(Samples {
                series,
                recorded,
                origin: from.to_owned(),
            })
        }
    }
}

/// `GET` over plain HTTP/1.0 (no chunked encoding to undo), bounded by `deadline`.
fn http_get(rest: &str, deadline: Instant) -> Result<String, String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "timed out".to_owned())
    };
    let address = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, left()?).map_err(|e| e.to_string())?;
    stream
        .set_write_timeout(Some(left()?))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain;version=0.0.4\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        stream
            .set_read_timeout(Some(left()?))
            .map_err(|e| e.to_string())?;
        let n = stream.read(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timed out".into(),
            _ => e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
        if body.len() as u64 > MAX_BYTES {
            return Err(format!("answer larger than {MAX_BYTES} bytes"));
        }
    }
    let text = String::from_utf8(body).map_err(|_| "answer is not UTF-8".to_owned())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "malformed HTTP answer".to_owned())?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("HTTP status {status:?}"));
    }
    Ok(body.to_owned())
}

/// Parses the Prometheus text format (0.0.4): comments skipped, timestamps ignored.
pub fn parse(text: &str) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fail = |what: &str| format!("line {}: {what}: {line:?}", number + 1);
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .ok_or_else(|| fail("no value"))?;
        let name = &line[..name_end];
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(inner) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(inner).ok_or_else(|| fail("bad labels"))?;
            labels = parsed;
            rest = after;
        }
        let value = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| fail("no value"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| fail("bad value"))?,
        };
        out.push(Series {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// `k="v",...}` with `\\`, `\"` and `\n` escapes; returns the labels and the text after `}`.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_owned();
        let mut chars = s[eq + 1..].trim_start().strip_prefix('"')?.char_indices();
        let body = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key, value));
        s = &body[end + 1..];
    }
}

/// How long ago `recorded` was, for the output.
pub fn age(recorded: SystemTime) -> Duration {
    SystemTime::now()
        .duration_since(recorded)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exposition_text() {
        let text = "# HELP a x\n# TYPE a gauge\na 1\nb{x=\"q\\\"uo\\\\te\",y=\"two\\nlines\"} 2.5 1700000000\nc{} -Inf\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].value, 1.0);
        assert_eq!(s[1].label("x"), "q\"uo\\te");
        assert_eq!(s[1].label("y"), "two\nlines");
        assert_eq!(s[1].value, 2.5);
        assert_eq!(s[2].value, f64::NEG_INFINITY);
        let err = parse("a 1\nb{x=\"1} 2\n").unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
        assert!(parse("a notanumber\n").is_err());
    }

    #[test]
    fn reads_a_textfile_with_its_age() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.prom");
        std::fs::write(&path, "sysgauge_x{a=\"b\"} 3\n").unwrap();
        let s = Samples::read(
            path.to_str().unwrap(),
            Instant::now() + Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(s.find("sysgauge_x", &[("a", "b")]).unwrap().value, 3.0);
        assert!(age(s.recorded.unwrap()) < Duration::from_secs(60));
        let err = Samples::read("/nonexistent/x.prom", Instant::now()).unwrap_err();
        assert!(err.contains("/nonexistent/x.prom"), "{err}");
        let err = Samples::read("https://x/metrics", Instant::now()).unwrap_err();
        assert!(err.contains("only http://"), "{err}");
    }
}
