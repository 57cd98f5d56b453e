//! A small PromQL scanner: enough to list what an expression names, not to evaluate it.
//!
//! promtool 2.42 has no parse-only command, and `promtool check rules` only sees alert
//! expressions, so the dashboards' queries are checked here: every vector selector with its
//! matchers, every label named in a grouping clause (`by`, `without`, `on`, `ignoring`,
//! `group_left`, `group_right`) or read by `label_replace`/`label_join`, the labels those two
//! functions introduce, and every range with the function it is passed to. Grafana's variables
//! (`$job`, `${datasource}`, `$__rate_interval`) are accepted where PromQL has a string or a
//! duration.

/// One label matcher of a selector, e.g. `job=~"$job"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    /// The label name.
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    /// The value, without quotes (escapes kept as written).
    pub value: String,
}

/// One vector selector: `metric{matchers}` or `{matchers}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// The metric name written before the braces, if any.
    pub metric: Option<String>,
    /// The matchers inside the braces.
    pub matchers: Vec<Matcher>,
    /// The functions and aggregations the selector is an argument of, outermost first.
    pub within: Vec<String>,
}

impl Selector {
    /// The value of the matcher for `label` with operator `op`, if any.
    pub fn matcher(&self, label: &str) -> Option<&Matcher> {
        self.matchers.iter().find(|m| m.label == label)
    }
}

/// What an expression names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Every vector selector, in order.
    pub selectors: Vec<Selector>,
    /// Labels the expression reads outside selectors: grouping clauses and the source labels
    /// of `label_replace`/`label_join`.
    pub grouping_labels: Vec<String>,
    /// Labels the expression creates (`label_replace`/`label_join` destinations,
    /// `count_values`' label).
    pub introduced_labels: Vec<String>,
    /// Every range `[...]` with the innermost function it appears in (`rate`, `max_over_time`;
    /// empty when none) and its text, e.g. `("rate", "$__rate_interval")`.
    pub ranges: Vec<(String, String)>,
    /// Every function called, in order.
    pub functions: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number(String),
    Var(String),
    Punct(String),
}

const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN",
];
const AGGREGATORS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn tokenize(expr: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            // A comment runs to the end of the line.
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            // Numbers, and durations such as 5m or 1h30m.
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '+' || chars[i] == '-')
                        && matches!(chars[i - 1], 'e' | 'E')
                        && chars[start..i]
                            .iter()
                            .all(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == 'E')))
            {
                i += 1;
            }
            tokens.push(Token::Number(chars[start..i].iter().collect()));
        } else if c == '"' || c == '\'' || c == '`' {
            let quote = c;
            let start = i + 1;
            i += 1;
            while i < chars.len() && chars[i] != quote {
                if chars[i] == '\\' && quote != '`' {
                    i += 1;
                }
                i += 1;
            }
            if i >= chars.len() {
                return Err(format!("unterminated string in {expr:?}"));
            }
            tokens.push(Token::Str(chars[start..i].iter().collect()));
            i += 1;
        } else if c == '$' {
            let start = i;
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            tokens.push(Token::Var(
                chars[start..i.min(chars.len())].iter().collect(),
            ));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["=~", "!~", "!=", "==", ">=", "<="].contains(&two.as_str()) {
                tokens.push(Token::Punct(two));
                i += 2;
            } else if "(){}[],=<>+-*/%^@:".contains(c) {
                tokens.push(Token::Punct(c.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {c:?} in {expr:?}"));
            }
        }
    }
    Ok(tokens)
}

fn is_punct(t: Option<&Token>, p: &str) -> bool {
    matches!(t, Some(Token::Punct(x)) if x == p)
}

/// Lists the selectors, labels and ranges of a PromQL expression (Grafana variables allowed).
pub fn analyse(expr: &str) -> Result<Analysis, String> {
    let tokens = tokenize(expr)?;
    let mut out = Analysis::default();
    // The functions whose argument lists we are inside, innermost last, with the depth of
    // parentheses at which their arguments are and the string arguments seen so far.
    let mut calls: Vec<(String, usize, Vec<String>)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    let mut depth_brackets = 0usize;
    // An aggregation whose `by`/`without` clause comes before its arguments.
    let mut pending: Option<String> = None;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Ident(name)
                if AGGREGATORS.contains(&name.as_str())
                    && matches!(tokens.get(i + 1), Some(Token::Ident(k)) if k == "by" || k == "without") =>
            {
                out.functions.push(name.clone());
                pending = Some(name.clone());
                i += 1;
            }
            Token::Ident(name) if GROUPING.contains(&name.as_str()) => {
                i += 1;
                if is_punct(tokens.get(i), "(") {
                    i += 1;
                    while i < tokens.len() && !is_punct(tokens.get(i), ")") {
                        match &tokens[i] {
                            Token::Ident(l) => out.grouping_labels.push(l.clone()),
                            Token::Punct(p) if p == "," => {}
                            t => {
                                return Err(format!(
                                    "unexpected {t:?} in a {name} clause of {expr:?}"
                                ));
                            }
                        }
                        i += 1;
                    }
                    if i >= tokens.len() {
                        return Err(format!("unclosed {name} clause in {expr:?}"));
                    }
                    i += 1;
                }
            }
            Token::Ident(name) if name == "offset" => {
                // offset 1d, offset -5m
                i += 1;
                if is_punct(tokens.get(i), "-") {
                    i += 1;
                }
                i += 1;
            }
            Token::Ident(name) if KEYWORDS.contains(&name.as_str()) => i += 1,
            Token::Ident(name) if is_punct(tokens.get(i + 1), "(") => {
                out.functions.push(name.clone());
                depth += 1;
                calls.push((name.clone(), depth, Vec::new()));
                i += 2;
            }
            Token::Ident(name) => {
                let metric = name.clone();
                i += 1;
                let matchers = if is_punct(tokens.get(i), "{") {
                    parse_matchers(&tokens, &mut i, expr)?
                } else {
                    Vec::new()
                };
                out.selectors.push(Selector {
                    metric: Some(metric),
                    matchers,
                    within: calls.iter().map(|c| c.0.clone()).collect(),
                });
            }
            Token::Punct(p) if p == "{" => {
                let matchers = parse_matchers(&tokens, &mut i, expr)?;
                out.selectors.push(Selector {
                    metric: None,
                    matchers,
                    within: calls.iter().map(|c| c.0.clone()).collect(),
                });
            }
            Token::Punct(p) if p == "(" => {
                depth += 1;
                if let Some(name) = pending.take() {
                    calls.push((name, depth, Vec::new()));
                }
                i += 1;
            }
            Token::Punct(p) if p == ")" => {
                if let Some((name, d, strings)) = calls.last()
                    && *d == depth
                {
                    match name.as_str() {
                        "label_replace" if strings.len() == 4 => {
                            out.introduced_labels.push(strings[0].clone());
                            out.grouping_labels.push(strings[2].clone());
                        }
                        "label_join" if strings.len() >= 2 => {
                            out.introduced_labels.push(strings[0].clone());
                            out.grouping_labels.extend(strings[2..].iter().cloned());
                        }
                        "count_values" if !strings.is_empty() => {
                            out.introduced_labels.push(strings[0].clone());
                        }
                        "label_replace" | "label_join" => {
                            return Err(format!("{name} with the wrong arguments in {expr:?}"));
                        }
                        _ => {}
                    }
                    calls.pop();
                }
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced parentheses in {expr:?}"))?;
                i += 1;
            }
            Token::Punct(p) if p == "[" => {
                depth_brackets += 1;
                let start = i + 1;
                while i < tokens.len() && !is_punct(tokens.get(i), "]") {
                    i += 1;
                }
                if i >= tokens.len() {
                    return Err(format!("unclosed range in {expr:?}"));
                }
                let text: Vec<String> = tokens[start..i]
                    .iter()
                    .map(|t| match t {
                        Token::Ident(s) | Token::Number(s) | Token::Var(s) | Token::Punct(s) => {
                            s.clone()
                        }
                        Token::Str(s) => format!("{s:?}"),
                    })
                    .collect();
                let function = calls.last().map(|c| c.0.clone()).unwrap_or_default();
                out.ranges.push((function, text.concat()));
                depth_brackets -= 1;
                i += 1;
            }
            Token::Str(s) => {
                if let Some((_, d, strings)) = calls.last_mut()
                    && *d == depth
                {
                    strings.push(s.clone());
                }
                i += 1;
            }
            Token::Punct(p) if p == "}" || p == "]" => {
                return Err(format!("unbalanced {p} in {expr:?}"));
            }
            _ => i += 1,
        }
    }
    if depth != 0 || depth_brackets != 0 {
        return Err(format!("unbalanced parentheses in {expr:?}"));
    }
    Ok(out)
}

fn parse_matchers(tokens: &[Token], i: &mut usize, expr: &str) -> Result<Vec<Matcher>, String> {
    // tokens[*i] is "{".
    *i += 1;
    let mut matchers = Vec::new();
    loop {
        match tokens.get(*i) {
            Some(Token::Punct(p)) if p == "}" => {
                *i += 1;
                return Ok(matchers);
            }
            Some(Token::Punct(p)) if p == "," => *i += 1,
            Some(Token::Ident(label)) => {
                let op = match tokens.get(*i + 1) {
                    Some(Token::Punct(op)) if ["=", "!=", "=~", "!~"].contains(&op.as_str()) => {
                        op.clone()
                    }
                    t => {
                        return Err(format!(
                            "expected a matcher operator after {label}, got {t:?} in {expr:?}"
                        ));
                    }
                };
                let value = match tokens.get(*i + 2) {
                    Some(Token::Str(v)) => v.clone(),
                    t => {
                        return Err(format!(
                            "expected a string after {label}{op}, got {t:?} in {expr:?}"
                        ));
                    }
                };
                matchers.push(Matcher {
                    label: label.clone(),
                    op,
                    value,
                });
                *i += 3;
            }
            t => return Err(format!("unexpected {t:?} in a selector of {expr:?}")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn selectors_grouping_and_ranges() {
        let a = analyse(
            r#"sum by (job, instance) (rate(sysgauge_gpu_energy_joules_total{job=~"$job",instance=~"$instance"}[$__rate_interval])) / on (job) group_left (uuid) max_over_time(up[5m]) > 1e3 offset 1d"#,
        )
        .unwrap();
        assert_eq!(a.selectors.len(), 2);
        assert_eq!(
            a.selectors[0].metric.as_deref(),
            Some("sysgauge_gpu_energy_joules_total")
        );
        assert_eq!(
            a.selectors[0].matcher("instance").unwrap(),
            &Matcher {
                label: "instance".into(),
                op: "=~".into(),
                value: "$instance".into()
            }
        );
        assert_eq!(a.selectors[0].within, ["sum", "rate"]);
        assert_eq!(a.selectors[1].metric.as_deref(), Some("up"));
        assert_eq!(a.selectors[1].within, ["max_over_time"]);
        assert!(a.selectors[1].matchers.is_empty());
        assert_eq!(a.grouping_labels, ["job", "instance", "job", "uuid"]);
        assert_eq!(
            a.ranges,
            [
                ("rate".to_owned(), "$__rate_interval".to_owned()),
                ("max_over_time".to_owned(), "5m".to_owned())
            ]
        );
        assert_eq!(a.functions, ["sum", "rate", "max_over_time"]);
    }

    #[test]
    fn label_replace_introduces_and_reads_labels() {
        let a = analyse(
            r#"label_replace({__name__=~"sysgauge_.+_collector_success"}, "exporter", "$1", "__name__", "sysgauge_(.+)_collector_success") == 0"#,
        )
        .unwrap();
        assert_eq!(a.selectors.len(), 1);
        assert_eq!(a.selectors[0].metric, None);
        assert_eq!(a.selectors[0].matchers[0].label, "__name__");
        assert_eq!(a.introduced_labels, ["exporter"]);
        assert_eq!(a.grouping_labels, ["__name__"]);
    }

    #[test]
    fn keywords_strings_and_numbers_are_not_metrics() {
        let a = analyse("time() - x > 21 * 86400 and y unless on (path) z or vector(0)").unwrap();
        let names: Vec<_> = a
            .selectors
            .iter()
            .map(|s| s.metric.clone().unwrap())
            .collect();
        assert_eq!(names, ["x", "y", "z"]);
    }

    #[test]
    fn malformed_expressions_are_errors() {
        assert!(analyse("sum(x").is_err());
        assert!(analyse(r#"x{job="a"#).is_err());
        assert!(analyse("x{job}").is_err());
        assert!(analyse("x[5m").is_err());
    }
}
