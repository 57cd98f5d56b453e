//! Performance data: `'label'=value[UOM];[warn];[crit];[min];[max]`.
//!
//! Labels are always quoted (they hold paths and unit names, often with spaces); `'` inside a
//! label is written `''` and `=`, which no grapher accepts in a label, becomes `_`. Values use
//! a dot whatever the locale, as Icinga requires.

use std::fmt::{self, Write as _};

use super::range::Range;

/// The unit of measurement of a perfdata value, from the set Nagios and its graphers know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Uom {
    /// A plain number.
    None,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
    /// Percent.
    Percent,
    /// A continuous counter.
    Counter,
}

impl Uom {
    /// The suffix written after the value.
    pub fn suffix(self) -> &'static str {
        match self {
            Uom::None => "",
            Uom::Seconds => "s",
            Uom::Bytes => "B",
            Uom::Percent => "%",
            Uom::Counter => "c",
        }
    }
}

/// One perfdata item.
#[derive(Clone, Debug, PartialEq)]
pub struct Perfdata {
    /// The label, unquoted.
    pub label: String,
    /// The value; NaN is written `U` (unknown).
    pub value: f64,
    /// Its unit.
    pub uom: Uom,
    /// The warning range, if any.
    pub warning: Option<Range>,
    /// The critical range, if any.
    pub critical: Option<Range>,
    /// The least possible value, if there is one.
    pub min: Option<f64>,
    /// The greatest possible value, if there is one.
    pub max: Option<f64>,
}

/// `label` quoted for perfdata.
pub fn quote_label(label: &str) -> String {
    let mut out = String::with_capacity(label.len() + 2);
    out.push('\'');
    for c in label.chars() {
        match c {
            '\'' => out.push_str("''"),
            '=' => out.push('_'),
            // A line break would end the plugin output's first line.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A number as perfdata writes it: shortest round-tripping form, a dot as decimal separator.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        return "U".into();
    }
    // Whole values (timestamps, byte counts) without a fraction; f64's Display never uses an
    // exponent, which graphers do not all read.
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

impl fmt::Display for Perfdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = format!("{}={}", quote_label(&self.label), number(self.value));
        if !self.value.is_nan() {
            out.push_str(self.uom.suffix());
        }
        let fields = [
            self.warning.map(|r| r.to_string()),
            self.critical.map(|r| r.to_string()),
            self.min.map(number),
            self.max.map(number),
        ];
        // Trailing empty fields may be left out.
        let used = fields
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |i| i + 1);
        for field in &fields[..used] {
            let _ = write!(out, ";{}", field.as_deref().unwrap_or(""));
        }
        f.write_str(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: &str, value: f64) -> Perfdata {
        Perfdata {
            label: label.into(),
            value,
            uom: Uom::Seconds,
            warning: None,
            critical: None,
            min: None,
            max: None,
        }
    }

    #[test]
    fn labels_are_quoted_and_escaped() {
        assert_eq!(quote_label("a b"), "'a b'");
        assert_eq!(quote_label("it's"), "'it''s'");
        assert_eq!(quote_label("k=v"), "'k_v'");
        assert_eq!(quote_label("two\nlines"), "'two lines'");
    }

    #[test]
    fn full_and_trimmed_items() {
        let mut p = item("lifetime /etc/ssl/a b.pem", 86400.0);
        assert_eq!(p.to_string(), "'lifetime /etc/ssl/a b.pem'=86400s");
        p.warning = Some(Range::parse("21d:").unwrap());
        p.critical = Some(Range::parse("7d:").unwrap());
        assert_eq!(
            p.to_string(),
            "'lifetime /etc/ssl/a b.pem'=86400s;1814400:;604800:"
        );
        p.warning = None;
        p.min = Some(0.0);
        assert_eq!(
            p.to_string(),
            "'lifetime /etc/ssl/a b.pem'=86400s;;604800:;0"
        );
        let mut q = item("ratio", 0.125);
        q.uom = Uom::Percent;
        assert_eq!(q.to_string(), "'ratio'=0.125%");
        assert_eq!(item("x", f64::NAN).to_string(), "'x'=U");
        assert_eq!(item("x", -3.5).to_string(), "'x'=-3.5s");
        assert_eq!(item("x", 1.0 / 3.0).to_string(), "'x'=0.333s");
    }
}
