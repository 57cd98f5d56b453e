//! The command line every sysgauge binary shares, in the conventions of the Go exporters.
//!
//! ```text
//! sysgauge-<x> [--config FILE] [--log.level L] [--log.format F] [--collector.timeout D] <COMMAND>
//!   once                                    collect and print to stdout
//!   textfile [--directory DIR] [--file NAME] write node_exporter's textfile atomically
//!   serve [--web.listen-address ADDR]...     serve HTTP for Prometheus
//! ```
//!
//! Every value here is optional so that the configuration file can supply it; a flag that is
//! given wins over the file.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use serde::Deserialize;

use crate::limits::{MaxConnections, MaxRequests, Timeout};

/// Flags shared by every binary and every command.
#[derive(Clone, Debug, Default, Args)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Only log messages of this level or more severe [default: info].
    #[arg(long = "log.level", global = true, value_enum, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,

    /// Log format on stderr; when stderr is the systemd journal, native journal fields are
    /// used instead [default: logfmt].
    #[arg(long = "log.format", global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Deadline of each collector, e.g. 10s or 1m30s; a collector that overruns is reported as
    /// failed and the others still answer; 1ms to 1day [default: 10s].
    #[arg(long = "collector.timeout", global = true, value_name = "DURATION")]
    pub collector_timeout: Option<Timeout>,
}

/// How to run.
#[derive(Clone, Debug, Subcommand)]
pub enum Mode {
    /// Collect once and print the metrics to stdout; exit 1 if a collector failed.
    Once,
    /// Collect once and atomically write node_exporter's textfile; exit 0 once it is written.
    Textfile(TextfileArgs),
    /// Serve metrics over HTTP until SIGTERM.
    Serve(ServeArgs),
    /// Nagios/Icinga plugin: check the metrics against thresholds; exit 0 OK, 1 WARNING,
    /// 2 CRITICAL, 3 UNKNOWN.
    Check(crate::check::CheckArgs),
}

/// Flags of `textfile`.
#[derive(Clone, Debug, Default, Args)]
pub struct TextfileArgs {
    /// node_exporter's textfile directory (--collector.textfile.directory).
    #[arg(long, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// File name in that directory; must end in .prom for node_exporter to read it
    /// [default: <binary>.prom].
    #[arg(long, value_name = "NAME")]
    pub file: Option<String>,
}

/// Flags of `serve`.
#[derive(Clone, Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on, repeatable; ":PORT" listens on every interface
    /// [default: :<exporter's port>].
    #[arg(long = "web.listen-address", value_name = "ADDRESS")]
    pub listen_addresses: Vec<String>,

    /// Path under which metrics are served [default: /metrics].
    #[arg(long = "web.telemetry-path", value_name = "PATH")]
    pub telemetry_path: Option<String>,

    /// Web configuration file in the exporter-toolkit format: TLS and basic auth.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,

    /// Use the listening sockets passed by systemd socket activation instead of
    /// --web.listen-address.
    #[arg(long = "web.systemd-socket")]
    pub systemd_socket: bool,

    /// Most requests served at once; one over the limit waits up to 1s for a slot, then gets
    /// 503; 0 means no limit; at most 10000 [default: 40].
    #[arg(long = "web.max-requests", value_name = "N")]
    pub max_requests: Option<MaxRequests>,

    /// Most connections open at once, 1 to 65536; at the limit the connection idle longest is
    /// closed to make room, and it is lowered to fit the descriptor limit [default: 512].
    #[arg(long = "web.max-connections", value_name = "N")]
    pub max_connections: Option<MaxConnections>,
}

/// A log level, as in the Go exporters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything, including per-object detail.
    Debug,
    /// Start, stop and configuration.
    Info,
    /// Problems with individual objects (a broken certificate file).
    Warn,
    /// Failed collections.
    Error,
}

/// A log format for stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `time=... level=info msg="..." key=value`
    Logfmt,
    /// One JSON object per line.
    Json,
}
