//! Whether an exporter's check defaults say the same as its shipped alert rules.
//!
//! Each [`Check`] names the alert rules it mirrors (`"Name"`, or `"Name:2"` for the second
//! numeric comparison of the rule's expression). For each, the rule's severity picks the
//! threshold (warning or critical) and the comparison in its expression (`< 21 * 86400`,
//! `> 0`, `== 1`, `> sysgauge_backup_max_age_seconds`) must raise the alert for exactly the
//! values the default range alerts on, probed around the rule's number. The exporters' tests
//! call [`compare`] with their rules file, so a changed rule or default fails a test.

use serde::Deserialize;

use super::{Check, Default, Range};

#[derive(Deserialize)]
struct File {
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    alert: Option<String>,
    expr: String,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
}

/// The right-hand side of a comparison in a rule.
#[derive(Debug, PartialEq)]
enum Operand {
    Number(f64),
    Metric(String),
}

/// Every mismatch between `checks` and the rules in `rules_yaml`; empty when they agree.
pub fn compare(checks: &[Check], rules_yaml: &str) -> Vec<String> {
    let file: File = match serde_yaml_ng::from_str(rules_yaml) {
        Ok(f) => f,
        Err(e) => return vec![format!("rules do not parse: {e}")],
    };
    let rules: Vec<&Rule> = file.groups.iter().flat_map(|g| &g.rules).collect();
    let mut problems = Vec::new();
    for check in checks {
        if check.alerts.is_empty() {
            problems.push(format!("{}: names no alert rule", check.kind));
        }
        for link in check.alerts {
            let (name, nth) = match link.split_once(':') {
                Some((name, n)) => (name, n.parse::<usize>().unwrap_or(0)),
                None => (*link, 1),
            };
            let fail = |what: String| format!("{} / {link}: {what}", check.kind);
            let Some(rule) = rules.iter().find(|r| r.alert.as_deref() == Some(name)) else {
                problems.push(fail("no such alert rule".into()));
                continue;
            };
            let default = match rule.labels.get("severity").map(String::as_str) {
                Some("warning") => check.warning,
                Some("critical") => check.critical,
                other => {
                    problems.push(fail(format!("severity {other:?} has no plugin state")));
                    continue;
                }
            };
            if let Default::Floor { rule: rhs, .. } = default {
                // The rule must compare the same value with the same computed floor.
                let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
                if !flat(&rule.expr).contains(&format!("< {}", flat(rhs))) {
                    problems.push(fail(format!(
                        "the rule does not compare with `< {rhs}`: {:?}",
                        rule.expr
                    )));
                }
                continue;
            }
            let Some((op, operand)) = comparisons(&rule.expr).into_iter().nth(nth.wrapping_sub(1))
            else {
                problems.push(fail(format!("no comparison #{nth} in {:?}", rule.expr)));
                continue;
            };
            match (operand, default) {
                (Operand::Metric(m), Default::Metric(d)) if m == d => {}
                (Operand::Number(n), Default::Range(text)) => {
                    let Ok(range) = Range::parse(text) else {
                        problems.push(fail(format!("default {text:?} does not parse")));
                        continue;
                    };
                    let probes: Vec<f64> = if matches!(op, "==" | "!=") {
                        // Equality rules are on 0/1 states.
                        vec![0.0, 1.0]
                    } else {
                        vec![n - 1.0, n - 0.5, n, n + 0.5, n + 1.0]
                    };
                    for x in probes {
                        let rule_fires = match op {
                            "<" => x < n,
                            "<=" => x <= n,
                            ">" => x > n,
                            ">=" => x >= n,
                            "==" => x == n,
                            _ => x != n,
                        };
                        if rule_fires != range.alerts(x) {
                            problems.push(fail(format!(
                                "at {x} the rule ({op} {n}) {} but the default {text} {}",
                                if rule_fires { "fires" } else { "does not fire" },
                                if range.alerts(x) {
                                    "alerts"
                                } else {
                                    "does not alert"
                                }
                            )));
                            break;
                        }
                    }
                }
                (operand, default) => problems.push(fail(format!(
                    "the rule compares with {operand:?}, the default is {default:?}"
                ))),
            }
        }
    }
    problems
}

/// The comparisons of a PromQL expression outside label matchers, in order: the operator and
/// the number (`21 * 86400` multiplied out) or metric name right of it.
fn comparisons(expr: &str) -> Vec<(&'static str, Operand)> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            _ if depth > 0 => {}
            b'<' | b'>' | b'=' | b'!' => {
                let two = expr.get(i..i + 2).unwrap_or_default();
                let op = match two {
                    "<=" => "<=",
                    ">=" => ">=",
                    "==" => "==",
                    "!=" => "!=",
                    _ if bytes[i] == b'<' => "<",
                    _ if bytes[i] == b'>' => ">",
                    _ => {
                        i += 1;
                        continue;
                    }
                };
                i += op.len();
                let rest = expr[i..].trim_start();
                let end = rest
                    .find(|c: char| {
                        !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '*' | ' '))
                    })
                    .unwrap_or(rest.len());
                let token = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
                let token = ["and", "or", "unless"]
                    .iter()
                    .filter_map(|w| token.find(&format!(" {w}")))
                    .min()
                    .map_or(token.as_str(), |k| &token[..k])
                    .to_owned();
                let product: Option<f64> = token
                    .split('*')
                    .map(|f| f.trim().parse::<f64>().ok())
                    .product();
                out.push((
                    op,
                    match product {
                        Some(n) => Operand::Number(n),
                        None => Operand::Metric(token),
                    },
                ));
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Perf, Uom, Value};

    const RULES: &str = r#"
groups:
  - name: t
    rules:
      - alert: Soon
        expr: |
          sysgauge_x_not_after{a!="b", c=~"d"} - time() < 21 * 86400
          and
          sysgauge_x_not_after - time() >= 7 * 86400
        labels: {severity: warning}
      - alert: Now
        expr: sysgauge_x_not_after - time() < 7 * 86400
        labels: {severity: critical}
      - alert: Old
        expr: time() - sysgauge_x_last > sysgauge_x_max_age
        labels: {severity: warning}
      - alert: Failed
        expr: sysgauge_x_state{state="failed"} == 1
        labels: {severity: warning}
"#;

    fn check(warning: Default, critical: Default, alerts: &'static [&'static str]) -> Check {
        Check {
            kind: "k",
            about: "",
            metric: "sysgauge_x",
            select: &[],
            object: &[],
            value: Value::Sample,
            warning,
            critical,
            uom: Uom::None,
            perf: Perf::Each,
            alerts,
        }
    }

    #[test]
    fn agreeing_defaults_pass_and_diverging_ones_fail() {
        let good = [
            check(
                Default::Range("21d:"),
                Default::Range("7d:"),
                &["Soon", "Now"],
            ),
            check(
                Default::Metric("sysgauge_x_max_age"),
                Default::None,
                &["Old"],
            ),
            check(Default::Range("~:0"), Default::None, &["Failed"]),
        ];
        assert_eq!(compare(&good, RULES), Vec::<String>::new());
        let bad = [
            check(
                Default::Range("20d:"),
                Default::Range("7d:"),
                &["Soon", "Now"],
            ),
            check(Default::Range("21d:"), Default::Range("@7d:"), &["Now:1"]),
            check(Default::Metric("sysgauge_x_other"), Default::None, &["Old"]),
            check(Default::Range("1:"), Default::None, &["Failed"]),
            check(Default::Range("~:0"), Default::None, &["Missing"]),
            check(Default::None, Default::None, &["Soon:3"]),
        ];
        let problems = compare(&bad, RULES);
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(
            problems[0].contains("the rule (< 1814400) fires"),
            "{}",
            problems[0]
        );
        assert!(
            problems[4].contains("no such alert rule"),
            "{}",
            problems[4]
        );
    }

    #[test]
    fn comparisons_skip_label_matchers() {
        let c = comparisons("a{x!=\"1\",y=~\"z\"} == 1 unless b > 6 * 3600 or c < d_e");
        assert_eq!(
            c,
            [
                ("==", Operand::Number(1.0)),
                (">", Operand::Number(21600.0)),
                ("<", Operand::Metric("d_e".into())),
            ]
        );
    }
}
