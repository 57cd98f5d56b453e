//! Threshold ranges in the monitoring-plugins syntax.
//!
//! `[@]start:end`, both ends inclusive; `start:` may be left out when it is 0, `end` may be
//! left out for "no upper end", and `~` as `start` is minus infinity. A value outside the range
//! raises the alert; with a leading `@`, a value inside it does. The guidelines' examples:
//!
//! | range    | alerts when          |
//! |----------|----------------------|
//! | `10`     | x < 0 or x > 10      |
//! | `10:`    | x < 10               |
//! | `~:10`   | x > 10               |
//! | `10:20`  | x < 10 or x > 20     |
//! | `@10:20` | 10 ≤ x ≤ 20          |
//!
//! As an extension, a number may carry a duration suffix (`s`, `m`, `h`, `d`, `w`) that
//! scales it to seconds, so that a certificate check reads `-w 21d: -c 7d:` rather than
//! `-w 1814400:`. A plain number is taken as is, in the check's base unit.

use std::fmt;

/// A parsed threshold range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// The lower end; `f64::NEG_INFINITY` for `~`.
    pub start: f64,
    /// The upper end; `f64::INFINITY` when left out.
    pub end: f64,
    /// `@`: alert inside the range instead of outside it.
    pub inside: bool,
}

/// Why a range does not parse; the message quotes the range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid threshold range {text:?}: {reason} (expected [@]START:END, e.g. 10, 10:, ~:10, 10:20, @10:20, 21d:)"
)]
pub struct RangeError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Range {
    /// Parses `[@][start:][end]`.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        let fail = |reason| RangeError {
            text: text.to_owned(),
            reason,
        };
        let trimmed = text.trim();
        let (inside, body) = match trimmed.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        if body.is_empty() {
            return Err(fail("empty"));
        }
        let (start, end) = match body.split_once(':') {
            Some((start, end)) => {
                let start = match start {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    s => number(s).ok_or_else(|| fail("the start is not a number"))?,
                };
                let end = match end {
                    "" => f64::INFINITY,
                    e => number(e).ok_or_else(|| fail("the end is not a number"))?,
                };
                (start, end)
            }
            None => (
                0.0,
                number(body).ok_or_else(|| fail("the end is not a number"))?,
            ),
        };
        if start > end {
            return Err(fail("the start is greater than the end"));
        }
        Ok(Range { start, end, inside })
    }

    /// Whether `value` raises the alert.
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start <= value && value <= self.end;
        // NaN is neither inside nor outside; it is handled as unknown by the caller.
        within == self.inside
    }
}

/// `number[suffix]`: a finite number, scaled to seconds by a duration suffix.
fn number(text: &str) -> Option<f64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b's' => (&text[..text.len() - 1], 1.0),
        b'm' => (&text[..text.len() - 1], 60.0),
        b'h' => (&text[..text.len() - 1], 3600.0),
        b'd' => (&text[..text.len() - 1], 86400.0),
        b'w' => (&text[..text.len() - 1], 7.0 * 86400.0),
        _ => (text, 1.0),
    };
    // Rust's float parser also takes "inf" and "NaN", which are no thresholds.
    if digits.is_empty()
        || !digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    let value: f64 = digits.parse().ok()?;
    let value = value * scale;
    value.is_finite().then_some(value)
}

impl fmt::Display for Range {
    /// The canonical form in base units, as perfdata carries it: `10`, `10:`, `~:10`,
    /// `10:20`, `@10:20`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        let end = |f: &mut fmt::Formatter<'_>| {
            if self.end.is_finite() {
                write!(f, "{}", self.end)
            } else {
                Ok(())
            }
        };
        if self.start == 0.0 && self.end.is_finite() {
            end(f)
        } else if self.start.is_finite() {
            write!(f, "{}:", self.start)?;
            end(f)
        } else {
            f.write_str("~:")?;
            end(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alerts(range: &str, values: &[f64]) -> Vec<bool> {
        let r = Range::parse(range).unwrap();
        values.iter().map(|v| r.alerts(*v)).collect()
    }

    #[test]
    fn guideline_examples() {
        let probe = [-1.0, 0.0, 5.0, 9.99, 10.0, 10.01, 15.0, 20.0, 20.01, 25.0];
        // `10`: < 0 or > 10
        assert_eq!(
            alerts("10", &probe),
            [
                true, false, false, false, false, true, true, true, true, true
            ]
        );
        // `10:`: < 10
        assert_eq!(
            alerts("10:", &probe),
            [
                true, true, true, true, false, false, false, false, false, false
            ]
        );
        // `~:10`: > 10
        assert_eq!(
            alerts("~:10", &probe),
            [
                false, false, false, false, false, true, true, true, true, true
            ]
        );
        // `10:20`: < 10 or > 20
        assert_eq!(
            alerts("10:20", &probe),
            [
                true, true, true, true, false, false, false, false, true, true
            ]
        );
        // `@10:20`: 10 ≤ x ≤ 20
        assert_eq!(
            alerts("@10:20", &probe),
            [
                false, false, false, false, true, true, true, true, false, false
            ]
        );
    }

    #[test]
    fn durations_and_canonical_form() {
        let r = Range::parse("21d:").unwrap();
        assert_eq!(r.start, 21.0 * 86400.0);
        assert_eq!(r.to_string(), "1814400:");
        assert_eq!(Range::parse("~:36h").unwrap().to_string(), "~:129600");
        assert_eq!(Range::parse("10").unwrap().to_string(), "10");
        assert_eq!(Range::parse("@10:20").unwrap().to_string(), "@10:20");
        assert_eq!(Range::parse(":5").unwrap().to_string(), "5");
        assert_eq!(Range::parse("-5:2.5").unwrap().to_string(), "-5:2.5");
        assert_eq!(Range::parse("1.5m").unwrap().end, 90.0);
    }

    #[test]
    fn bad_ranges_are_errors_quoting_the_text() {
        for bad in [
            "", "@", "abc", "20:10", "1:x", "inf", "NaN", "5q", "1e999", "~",
        ] {
            let err = Range::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }
}
