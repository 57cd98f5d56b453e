//! The typed metric model every collector writes into.
//!
//! A collector describes each metric family once, as a `const` [`Desc`], and then adds samples
//! to a [`MetricSet`] for one collection. The model is deliberately small: sysgauge exporters
//! collect a fresh snapshot on every run (the "const metrics" style of the Go exporters), so
//! there is no long-lived registry of metric objects, only descriptors and samples.
//!
//! Names are checked when the descriptor is built, which for a `const` means at compile time:
//! every name starts with `sysgauge_`, a counter's name ends in `_total` and an info metric's in
//! `_info`. Label names are checked the same way, and the number of label values handed to
//! [`MetricSet::add`] is fixed by the descriptor's type, so a wrong arity does not compile.

use std::borrow::Cow;

use indexmap::IndexSet;

/// The type of a metric family, as written in `# TYPE` lines.
///
/// Only the two types that both node_exporter's textfile parser and OpenMetrics understand are
/// offered. Info-style metrics are gauges set to 1 (see [`Desc::info`]), because node_exporter
/// rejects a whole textfile that declares `# TYPE x info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A value that can go up and down.
    Gauge,
    /// A monotonically increasing value; its sample name ends in `_total`.
    Counter,
}

/// The description of one metric family: name, help text, type and label names.
///
/// `N` is the number of labels, so that [`MetricSet::add`] takes exactly `N` label values.
#[derive(Debug)]
pub struct Desc<const N: usize> {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: [&'static str; N],
}

impl<const N: usize> Desc<N> {
    /// A gauge. Panics (at compile time, for a `const`) on an invalid name or label.
    pub const fn gauge(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        Self::new(name, help, Kind::Gauge, labels)
    }

    /// A counter; `name` is the sample name and must end in `_total`.
    pub const fn counter(
        name: &'static str,
        help: &'static str,
        labels: [&'static str; N],
    ) -> Self {
        assert!(
            ends_with(name, "_total"),
            "a counter's name must end in _total"
        );
        Self::new(name, help, Kind::Counter, labels)
    }

    /// An info-style metric: a gauge whose name ends in `_info`, always set to 1, that carries
    /// its information in labels.
    pub const fn info(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Self {
        assert!(
            ends_with(name, "_info"),
            "an info metric's name must end in _info"
        );
        Self::new(name, help, Kind::Gauge, labels)
    }

    const fn new(
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: [&'static str; N],
    ) -> Self {
        assert!(
            starts_with(name, "sysgauge_"),
            "metric names start with sysgauge_"
        );
        assert!(is_metric_name(name), "invalid metric name");
        assert!(!help.is_empty(), "every metric family needs a help text");
        let mut i = 0;
        while i < N {
            assert!(is_label_name(labels[i]), "invalid label name");
            i += 1;
        }
        Self {
            name,
            help,
            kind,
            labels,
        }
    }

    /// The family's name (for a counter, the sample name ending in `_total`).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The family without its samples: name, help, type and label names.
    pub fn describe(&self) -> FamilyDescription {
        FamilyDescription {
            name: self.name.to_owned(),
            help: self.help.to_owned(),
            kind: self.kind,
            labels: self.labels.iter().map(|&l| l.to_owned()).collect(),
        }
    }
}

/// What a metric family is, without samples: the reference that docs/metrics.md, the
/// dashboards and the alert rules are checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyDescription {
    /// The family's name (a counter's ends in `_total`).
    pub name: String,
    /// The help text.
    pub help: String,
    /// Gauge or counter.
    pub kind: Kind,
    /// The label names, in order.
    pub labels: Vec<String>,
}

/// Declares the metric families of a module as `const` [`Desc`]s, each documented with its
/// help text, plus a function `families()` that lists them all in declaration order.
///
/// Declaring them through this macro is what makes the list complete: a family cannot be added
/// without appearing in `families()`, which the docs and mixin tests read.
///
/// ```
/// sysgauge_common::metric_families! {
///     pub const UP: Desc<1> = Desc::gauge(
///         "sysgauge_example_up",
///         "Whether the example answered (1) or not (0)",
///         ["name"],
///     );
/// }
/// assert_eq!(families()[0].name, "sysgauge_example_up");
/// ```
#[macro_export]
macro_rules! metric_families {
    ($(
        $(#[$meta:meta])*
        $vis:vis const $name:ident : Desc<$n:literal> =
            Desc::$ctor:ident($metric:literal, $help:literal, $labels:expr $(,)?);
    )*) => {
        $(
            $(#[$meta])*
            #[doc = $help]
            $vis const $name: $crate::Desc<$n> = $crate::Desc::$ctor($metric, $help, $labels);
        )*

        /// Every metric family declared in this module, in declaration order.
        pub fn families() -> ::std::vec::Vec<$crate::metrics::FamilyDescription> {
            ::std::vec![$($name.describe()),*]
        }
    };
}

/// The samples of one collection, grouped into families in the order they were first used.
///
/// A family that receives no sample is not written at all: a metric that a device does not
/// support is left out rather than reported as zero.
///
/// The set is laid out for the largest collections (50,000 certificates, five series each):
/// a family keeps its label names once, and each sample only the positions of its label values
/// in one table of the set, where every distinct value is stored once (a certificate's path,
/// subject, issuer and serial repeat on all its series). A sample then costs four bytes a
/// label and its value, in a few large allocations instead of one per sample.
#[derive(Clone, Debug, Default)]
pub struct MetricSet {
    families: Vec<Stored>,
    values: IndexSet<Box<str>>,
}

/// One family as stored: `ids` holds `labels.len()` value positions per sample, in the order
/// of `labels`, and `values` one number per sample.
#[derive(Clone, Debug)]
struct Stored {
    name: Cow<'static, str>,
    help: Cow<'static, str>,
    kind: Kind,
    labels: Vec<&'static str>,
    ids: Vec<u32>,
    values: Vec<f64>,
}

/// A metric family of a [`MetricSet`], with its samples, ready to encode.
#[derive(Clone, Copy, Debug)]
pub struct Family<'a> {
    stored: &'a Stored,
    values: &'a IndexSet<Box<str>>,
}

impl<'a> Family<'a> {
    /// The family name; a counter's name ends in `_total`.
    pub fn name(&self) -> &'a str {
        &self.stored.name
    }

    /// The help text, written on the `# HELP` line.
    pub fn help(&self) -> &'a str {
        &self.stored.help
    }

    /// Gauge or counter.
    pub fn kind(&self) -> Kind {
        self.stored.kind
    }

    /// The label names every sample of the family has, in order.
    pub fn label_names(&self) -> &'a [&'static str] {
        &self.stored.labels
    }

    /// How many samples the family has.
    pub fn len(&self) -> usize {
        self.stored.values.len()
    }

    /// Whether the family has no sample.
    pub fn is_empty(&self) -> bool {
        self.stored.values.is_empty()
    }

    /// The samples, in the order they were added.
    pub fn samples(self) -> impl ExactSizeIterator<Item = Sample<'a>> + 'a {
        let (stored, values) = (self.stored, self.values);
        let width = stored.labels.len();
        (0..stored.values.len()).map(move |i| Sample {
            names: &stored.labels,
            ids: &stored.ids[i * width..(i + 1) * width],
            values,
            value: stored.values[i],
        })
    }
}

/// One sample of a [`Family`]: its label pairs and its value.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    names: &'a [&'static str],
    ids: &'a [u32],
    values: &'a IndexSet<Box<str>>,
    /// The sample value.
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// Label names and values, in the order the descriptor declares them.
    pub fn labels(self) -> impl ExactSizeIterator<Item = (&'static str, &'a str)> + 'a {
        let values = self.values;
        self.names.iter().zip(self.ids).map(move |(&name, &id)| {
            let value = values.get_index(id as usize).map_or("", |v| &**v);
            (name, value)
        })
    }
}

/// The series of one object in a [`MetricSet`]; see [`MetricSet::object`].
#[derive(Debug)]
pub struct Object<'a, const N: usize> {
    set: &'a mut MetricSet,
    ids: [u32; N],
}

impl<const N: usize> Object<'_, N> {
    /// Adds a sample of `desc`, whose labels are the object's.
    pub fn add(&mut self, desc: &Desc<N>, value: f64) {
        self.set.push_sample(desc, &self.ids, value);
    }

    /// Adds a sample of `desc`, whose labels are the object's followed by `more`; that `K` is
    /// `N + M` is checked when it compiles:
    ///
    /// ```compile_fail
    /// # use sysgauge_common::{Desc, MetricSet};
    /// const INFO: Desc<2> = Desc::info("sysgauge_example_info", "Kind", ["path", "kind"]);
    /// let mut set = MetricSet::new();
    /// set.object(["/etc/ssl/a.pem"]).add_with(&INFO, ["a", "b"], 1.0);
    /// ```
    pub fn add_with<const M: usize, const K: usize, V: AsRef<str>>(
        &mut self,
        desc: &Desc<K>,
        more: [V; M],
        value: f64,
    ) {
        const {
            assert!(
                N + M == K,
                "the object's labels and `more` must make the family's"
            )
        };
        let mut ids = [0; K];
        ids[..N].copy_from_slice(&self.ids);
        for (id, v) in ids[N..].iter_mut().zip(&more) {
            *id = self.set.intern(v.as_ref());
        }
        self.set.push_sample(desc, &ids, value);
    }
}

/// Two sets are equal when their families hold the same samples in the same order; where the
/// values sit in the table is not compared.
impl PartialEq for MetricSet {
    fn eq(&self, other: &Self) -> bool {
        self.families().len() == other.families().len()
            && self.families().zip(other.families()).all(|(a, b)| {
                a.name() == b.name()
                    && a.help() == b.help()
                    && a.kind() == b.kind()
                    && a.label_names() == b.label_names()
                    && a.len() == b.len()
                    && a.samples().zip(b.samples()).all(|(x, y)| {
                        x.value.to_bits() == y.value.to_bits() && x.labels().eq(y.labels())
                    })
            })
    }
}

impl MetricSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample of the family `desc`, with label values in the order of its labels.
    /// A label value equal to one added before is stored once.
    pub fn add<const N: usize, V: AsRef<str>>(
        &mut self,
        desc: &Desc<N>,
        values: [V; N],
        value: f64,
    ) {
        let ids = values.map(|v| self.intern(v.as_ref()));
        self.push_sample(desc, &ids, value);
    }

    /// Adds a sample of a family whose name is only known at run time (the per-exporter
    /// self-metrics such as `sysgauge_cert_collector_success`).
    pub(crate) fn add_dynamic(
        &mut self,
        name: &str,
        help: &'static str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        let (names, ids): (Vec<&'static str>, Vec<u32>) = labels
            .into_iter()
            .map(|(name, v)| (name, self.intern(&v)))
            .unzip();
        self.push(
            (
                Cow::Owned(name.to_owned()),
                Cow::Borrowed(help),
                Kind::Gauge,
            ),
            &names,
            &ids,
            value,
        );
    }

    /// The position of the label value `v` in the table, added if it is new.
    fn intern(&mut self, v: &str) -> u32 {
        let id = match self.values.get_index_of(v) {
            Some(id) => id,
            None => self.values.insert_full(v.into()).0,
        };
        // Four thousand million distinct values would not fit in memory first.
        u32::try_from(id).expect("fewer than 2^32 distinct label values")
    }

    /// The series of one object, whose first `N` label values (what identifies it: a
    /// certificate's path, index, subject, issuer and serial) are the same on each: they are
    /// looked up once for all of them.
    ///
    /// ```
    /// # use sysgauge_common::{Desc, MetricSet};
    /// const SIZE: Desc<1> = Desc::gauge("sysgauge_example_size_bytes", "Size", ["path"]);
    /// const INFO: Desc<2> = Desc::info("sysgauge_example_info", "Kind", ["path", "kind"]);
    /// let mut set = MetricSet::new();
    /// let mut file = set.object(["/etc/ssl/a.pem"]);
    /// file.add(&SIZE, 1200.0);
    /// file.add_with(&INFO, ["certificate"], 1.0);
    /// assert_eq!(set.get("sysgauge_example_info", &[("kind", "certificate")]), Some(1.0));
    /// ```
    pub fn object<const N: usize, V: AsRef<str>>(&mut self, values: [V; N]) -> Object<'_, N> {
        let ids = values.map(|v| self.intern(v.as_ref()));
        Object { set: self, ids }
    }

    /// Appends one sample of `desc`, label values given by their positions.
    fn push_sample<const N: usize>(&mut self, desc: &Desc<N>, ids: &[u32; N], value: f64) {
        self.push(
            (
                Cow::Borrowed(desc.name),
                Cow::Borrowed(desc.help),
                desc.kind,
            ),
            &desc.labels,
            ids,
            value,
        );
    }

    /// Appends one sample to its family, creating the family on first use.
    fn push(
        &mut self,
        key: (Cow<'static, str>, Cow<'static, str>, Kind),
        labels: &[&'static str],
        ids: &[u32],
        value: f64,
    ) {
        if let Some(family) = self.family(key, labels) {
            family.ids.extend_from_slice(ids);
            family.values.push(value);
        }
    }

    /// The family named in `key`, created on first use; `None` (and an error logged) when it
    /// exists with other label names.
    fn family(
        &mut self,
        (name, help, kind): (Cow<'static, str>, Cow<'static, str>, Kind),
        labels: &[&'static str],
    ) -> Option<&mut Stored> {
        // Linear search: a collection has tens of families, and keeping insertion order makes
        // the output read in the order the collector wrote it.
        let family = match self.families.iter().position(|f| f.name == name) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(Stored {
                    name,
                    help,
                    kind,
                    labels: labels.to_vec(),
                    ids: Vec::new(),
                    values: Vec::new(),
                });
                self.families.last_mut().expect("just pushed")
            }
        };
        if family.labels != labels {
            // Two descriptors of one name with different labels: a programming error that the
            // exporters' tests catch; at run time the sample is dropped, not written under the
            // wrong names.
            debug_assert!(
                false,
                "{} has labels {:?}, not {labels:?}",
                family.name, family.labels
            );
            tracing::error!(family = %family.name, "a sample with other label names than its family's was dropped");
            return None;
        }
        Some(family)
    }

    /// Moves every family of `other` into this set, merging families of the same name.
    pub fn extend(&mut self, other: MetricSet) {
        let MetricSet { families, values } = other;
        let map: Vec<u32> = values.iter().map(|v| self.intern(v)).collect();
        for family in families {
            let Stored {
                name,
                help,
                kind,
                labels,
                ids,
                values,
            } = family;
            if let Some(into) = self.family((name, help, kind), &labels) {
                into.ids.extend(ids.iter().map(|&id| map[id as usize]));
                into.values.extend(values);
            }
        }
    }

    /// The families, in the order they were first used.
    pub fn families(&self) -> impl ExactSizeIterator<Item = Family<'_>> + '_ {
        self.families.iter().map(|stored| Family {
            stored,
            values: &self.values,
        })
    }

    /// The value of the first sample of `name` whose labels include all of `labels`; meant for
    /// tests and for exporters that derive one metric from another.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.families()
            .find(|f| f.name() == name)?
            .samples()
            .find(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels().any(|(lk, lv)| lk == *k && lv == *v))
            })
            .map(|s| s.value)
    }
}

const fn starts_with(s: &str, prefix: &str) -> bool {
    let (s, p) = (s.as_bytes(), prefix.as_bytes());
    if s.len() < p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if s[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn ends_with(s: &str, suffix: &str) -> bool {
    let (s, p) = (s.as_bytes(), suffix.as_bytes());
    if s.len() < p.len() {
        return false;
    }
    let offset = s.len() - p.len();
    let mut i = 0;
    while i < p.len() {
        if s[offset + i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the classic metric-name rule.
pub(crate) const fn is_metric_name(s: &str) -> bool {
    is_name(s.as_bytes(), true)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus itself).
pub(crate) const fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    is_name(b, false) && !(b.len() >= 2 && b[0] == b'_' && b[1] == b'_')
}

const fn is_name(b: &[u8], colon: bool) -> bool {
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let ok = c.is_ascii_alphabetic()
            || c == b'_'
            || (colon && c == b':')
            || (i > 0 && c.is_ascii_digit());
        if !ok {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: Desc<1> = Desc::gauge("sysgauge_test_up", "Whether the thing is up", ["thing"]);
    const RUNS: Desc<0> = Desc::counter("sysgauge_test_runs_total", "Runs so far", []);

    #[test]
    fn equal_label_values_are_stored_once_even_across_merged_sets() {
        let mut set = MetricSet::new();
        set.add(&UP, ["/etc/ssl/a.pem"], 1.0);
        set.add(&UP, [String::from("/etc/ssl/a.pem")], 0.0);
        let mut other = MetricSet::new();
        other.add(&UP, ["/etc/ssl/c.pem"], 2.0);
        other.add(&UP, ["/etc/ssl/b.pem"], 1.0);
        set.extend(other);
        set.add(&UP, ["/etc/ssl/b.pem"], 0.0);
        assert_eq!(set.values.len(), 3);
        let family = set.families().next().unwrap();
        let samples: Vec<(Vec<(&str, &str)>, f64)> = family
            .samples()
            .map(|s| (s.labels().collect(), s.value))
            .collect();
        let thing = |v| vec![("thing", v)];
        assert_eq!(
            samples,
            [
                (thing("/etc/ssl/a.pem"), 1.0),
                (thing("/etc/ssl/a.pem"), 0.0),
                (thing("/etc/ssl/c.pem"), 2.0),
                (thing("/etc/ssl/b.pem"), 1.0),
                (thing("/etc/ssl/b.pem"), 0.0),
            ]
        );
    }

    #[test]
    fn families_keep_first_use_order_and_merge_samples() {
        let mut set = MetricSet::new();
        set.add(&UP, ["a"], 1.0);
        set.add(&RUNS, [] as [&str; 0], 3.0);
        set.add(&UP, ["b"], 0.0);
        let names: Vec<_> = set.families().map(|f| f.name()).collect();
        assert_eq!(names, ["sysgauge_test_up", "sysgauge_test_runs_total"]);
        assert_eq!(set.families().next().unwrap().len(), 2);
        let runs = set.families().nth(1).unwrap();
        assert_eq!(runs.samples().map(|s| s.value).collect::<Vec<_>>(), [3.0]);
        assert_eq!(runs.samples().next().unwrap().labels().count(), 0);
        assert_eq!(set.get("sysgauge_test_up", &[("thing", "b")]), Some(0.0));
        assert_eq!(set.get("sysgauge_test_up", &[("thing", "c")]), None);
    }

    #[test]
    fn extend_merges_families_of_the_same_name() {
        let mut a = MetricSet::new();
        a.add(&UP, ["a"], 1.0);
        let mut b = MetricSet::new();
        b.add(&UP, ["b"], 1.0);
        b.add(&RUNS, [] as [&str; 0], 1.0);
        a.extend(b);
        assert_eq!(a.families().len(), 2);
        assert_eq!(a.families().next().unwrap().len(), 2);
        assert_eq!(a.get("sysgauge_test_up", &[("thing", "b")]), Some(1.0));
    }

    #[test]
    fn sets_are_equal_by_their_samples_not_their_tables() {
        let mut a = MetricSet::new();
        a.add(&UP, ["x"], 1.0);
        a.add(&UP, ["y"], 2.0);
        let mut b = MetricSet::new();
        let mut c = MetricSet::new();
        c.add(&UP, ["y"], 2.0);
        b.add(&UP, ["x"], 1.0);
        b.extend(c);
        assert_eq!(a, b);
        b.add(&UP, ["z"], 3.0);
        assert_ne!(a, b);
    }

    #[test]
    #[should_panic(expected = "has labels")]
    fn a_family_keeps_its_label_names() {
        const OTHER: Desc<1> = Desc::gauge("sysgauge_test_up", "Whether it is up", ["other"]);
        let mut set = MetricSet::new();
        set.add(&UP, ["a"], 1.0);
        set.add(&OTHER, ["b"], 1.0);
    }

    #[test]
    fn name_rules() {
        assert!(is_metric_name("sysgauge_a:b_1"));
        assert!(!is_metric_name("1abc"));
        assert!(!is_metric_name("a-b"));
        assert!(is_label_name("subject_cn"));
        assert!(!is_label_name("__name__"));
        assert!(!is_label_name("a:b"));
        assert!(starts_with("sysgauge_x", "sysgauge_"));
        assert!(ends_with("x_total", "_total"));
        assert!(!ends_with("al", "_total"));
    }

    #[test]
    #[should_panic(expected = "metric names start with sysgauge_")]
    fn foreign_prefix_is_rejected() {
        let _ = Desc::gauge("node_up", "help", []);
    }

    #[test]
    #[should_panic(expected = "must end in _total")]
    fn counter_without_total_is_rejected() {
        let _ = Desc::counter("sysgauge_runs", "help", []);
    }
}
