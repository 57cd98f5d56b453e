/*!
Shared machinery of the sysgauge exporters.

Every sysgauge binary is a set of [`Collector`]s plus this crate. A collector describes its
metrics as `const` [`Desc`]s and fills a [`MetricSet`] on each collection; this crate runs the
collectors under a deadline ([`Exporter`]), adds the self-metrics every exporter reports
(`sysgauge_<domain>_collector_success`, `..._collector_duration_seconds`, `..._build_info`),
encodes the result ([`encode`]) and delivers it in one of three run modes ([`run`]):

- `once` prints to stdout, for a person debugging;
- `textfile` writes node_exporter's textfile atomically ([`textfile`]);
- `serve` answers Prometheus over HTTP, with TLS and basic auth from an exporter-toolkit web
  configuration file ([`serve`], [`web_config`]);
- `check` answers Nagios or Icinga as a plugin, from the exporter's table of checks ([`check`]).

The configuration file, the command line and logging are shared too ([`config`], [`cli`],
[`logging`]), and so are reading files named by the configuration without blocking or
unbounded memory, expanding paths and globs ([`fs`]), and label values for paths ([`labels`]).

# Why not prometheus-client

The `prometheus-client` crate only writes OpenMetrics, which node_exporter's textfile parser
mis-reads (counters become untyped, `info` and `unknown` types reject the whole file), and its
registry of long-lived metric objects does not fit exporters that take a fresh snapshot on
every collection. The model here is small: descriptors, samples and two encoders.
*/

// `exporter_config!` names `sysgauge_common::__serde`, which must resolve inside this crate too.
extern crate self as sysgauge_common;

pub mod build_info;
pub mod check;
pub mod cli;
pub mod collector;
pub mod config;
pub mod deadline;
pub mod encode;
pub mod error;
pub mod fs;
pub mod labels;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod process;
pub mod run;
pub mod serve;
pub mod sync;
pub mod textfile;
pub mod web_config;

pub use collector::{BoxError, Collector, Exporter, Identity};
pub use error::Error;
pub use labels::path_label;
pub use metrics::{Desc, MetricSet, Object};
pub use run::{main, run};

#[doc(hidden)]
pub use serde as __serde;
