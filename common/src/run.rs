//! The four run modes, shared by every binary.
//!
//! An exporter's `main` parses its flags, then hands over to [`run`] with a function that builds
//! its collectors from the configuration. Everything after that (configuration file, logging,
//! the deadline, once/textfile/serve/check) is the same for every exporter.

use std::{io::Write, process::ExitCode, sync::Arc, time::Duration};

use crate::{
    check,
    cli::{GlobalArgs, LogFormat, LogLevel, Mode},
    collector::{Collection, Collector, Exporter, Identity, error_chain},
    config::{self, CollectorSection, ExporterConfig},
    encode::{Format, encode_to},
    error::Error,
    limits::{MaxConnections, MaxRequests, Timeout},
    logging,
    serve::{ServeSettings, serve},
    textfile,
};

/// The default deadline of a collector: Prometheus' default scrape timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default of `--web.max-requests`.
const DEFAULT_MAX_REQUESTS: usize = 40;
const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// The deadline of each collector: `--collector.timeout`, else `[collector] timeout`, else
/// [`DEFAULT_TIMEOUT`]. Exporters that split the deadline among sub-tasks when they build their
/// collectors call this too, so that they see the same value as [`run`].
pub fn collector_timeout(global: &GlobalArgs, config: &CollectorSection) -> Duration {
    global
        .collector_timeout
        .or(config.timeout)
        .map_or(DEFAULT_TIMEOUT, Timeout::get)
}

/// Runs an exporter: loads the configuration, sets up logging, builds the collectors with
/// `build` and runs `mode`.
///
/// Exit codes: 0 on success; 1 when `once` saw a collector fail or `textfile` could not write
/// its file; errors returned from here (an invalid configuration) are exit code 2 in [`main`].
pub fn run<C: ExporterConfig>(
    identity: &'static Identity,
    global: &GlobalArgs,
    mode: &Mode,
    build: impl FnOnce(&C) -> anyhow::Result<Vec<Arc<dyn Collector>>>,
) -> anyhow::Result<ExitCode> {
    let config: C = config::load(global.config.as_deref())?;
    let common = config.common();
    logging::init(
        identity.binary,
        global
            .log_level
            .or(common.log.level)
            .unwrap_or(LogLevel::Info),
        global
            .log_format
            .or(common.log.format)
            .unwrap_or(LogFormat::Logfmt),
    );
    // In range by its type (limits::Timeout), so never zero.
    let timeout = collector_timeout(global, &common.collector);
    // A check bounds its whole run (`-t`), so its collectors get less than the run.
    let timeout = match mode {
        Mode::Check(args) => {
            check::set_skip_slow_work();
            check::collector_timeout(timeout, args, &common.check)
        }
        _ => timeout,
    };
    let collectors = build(&config)?;
    let exporter = Arc::new(Exporter::new(identity, collectors, timeout));

    match mode {
        Mode::Once => {
            let collection = collect_once(&exporter)?;
            let mut stdout = std::io::stdout().lock();
            // Written as it is encoded, as the textfile is, not held whole first. A closed pipe
            // (`once | head`) is the reader's choice, not an error.
            match encode_to(&mut stdout, &collection.metrics, Format::Text)
                .and_then(|()| stdout.flush())
            {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
            Ok(if collection.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Mode::Textfile(args) => {
            let directory =
                args.directory
                    .clone()
                    .or(common.textfile.directory)
                    .ok_or(Error::setting(
                        "directory",
                        "no directory given (flag --directory or [textfile] directory)",
                    ))?;
            let default_name = format!("{}.prom", identity.binary);
            let name = args
                .file
                .clone()
                .or(common.textfile.file)
                .unwrap_or(default_name);
            if name.contains('/') || name.starts_with('.') {
                return Err(
                    Error::setting("file", format!("{name:?} must be a plain file name")).into(),
                );
            }
            if !name.ends_with(".prom") {
                tracing::warn!(file = %name, "node_exporter only reads files ending in .prom");
            }
            let collection = collect_once(&exporter)?;
            // Streamed to the file: 50,000 certificates make 57 MB of text.
            match textfile::write_with(&directory, &name, |w| {
                encode_to(w, &collection.metrics, Format::Text)
            }) {
                Ok(path) => {
                    tracing::debug!(path = %path.display(), failed = ?collection.failed, "textfile written");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    tracing::error!(error = %error_chain(&e), "textfile not written; the previous one is unchanged");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Mode::Check(args) => Ok(check::run(
            identity.binary,
            identity.checks,
            args,
            &common.check,
            || {
                let collection = collect_once(&exporter).map_err(|e| e.to_string())?;
                let samples = check::Samples::from_metrics(&collection.metrics);
                Ok((samples, collection.failed))
            },
        )),
        Mode::Serve(args) => {
            let settings = ServeSettings {
                listen_addresses: if !args.listen_addresses.is_empty() {
                    args.listen_addresses.clone()
                } else {
                    common
                        .web
                        .listen_addresses
                        .unwrap_or_else(|| vec![format!(":{}", identity.default_port)])
                },
                telemetry_path: args
                    .telemetry_path
                    .clone()
                    .or(common.web.telemetry_path)
                    .unwrap_or_else(|| "/metrics".into()),
                web_config_file: args.web_config_file.clone().or(common.web.config_file),
                systemd_socket: args.systemd_socket || common.web.systemd_socket.unwrap_or(false),
                max_requests: args
                    .max_requests
                    .or(common.web.max_requests)
                    .map_or(DEFAULT_MAX_REQUESTS, MaxRequests::get),
                max_connections: args
                    .max_connections
                    .or(common.web.max_connections)
                    .map_or(DEFAULT_MAX_CONNECTIONS, MaxConnections::get),
            };
            if !settings.telemetry_path.starts_with('/') || settings.telemetry_path == "/" {
                return Err(Error::setting(
                    "web.telemetry-path",
                    format!(
                        "{:?} must start with / and not be / itself",
                        settings.telemetry_path
                    ),
                )
                .into());
            }
            tracing::info!(version = identity.version, "starting {}", identity.binary);
            let runtime = runtime(true)?;
            let served = runtime.block_on(serve(exporter, settings));
            // Blocking work abandoned at a deadline (a hung driver call) must not keep the
            // process from exiting.
            runtime.shutdown_background();
            served?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One collection on a single-threaded runtime.
fn collect_once(exporter: &Exporter) -> std::io::Result<Collection> {
    let rt = runtime(false)?;
    let collection = rt.block_on(exporter.collect());
    // A collector abandoned at the deadline may still sit in a blocking call (a hung NFS
    // read, a stuck library); dropping the runtime would wait for it forever.
    rt.shutdown_background();
    Ok(collection)
}

/// A single-threaded runtime for one collection; a small multi-threaded one for `serve`.
fn runtime(serve: bool) -> std::io::Result<tokio::runtime::Runtime> {
    if serve {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(16)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(16)
            .enable_all()
            .build()
    }
}

/// The `main` of every binary: parses `A`, calls `run`, prints an error chain and exits 2 on
/// error.
///
/// Under `check`, every error (clap's usage errors included) is a Nagios UNKNOWN on stdout,
/// exit 3, instead.
pub fn main<A: clap::Parser>(run: fn(A) -> anyhow::Result<ExitCode>) -> ExitCode {
    let check = check::invoked();
    let args = match A::try_parse() {
        Ok(args) => args,
        Err(e) if check => return check::usage_error(A::command().get_name(), &e),
        Err(e) => e.exit(),
    };
    match run(args) {
        Ok(code) => code,
        Err(e) if check => check::unknown(A::command().get_name(), &format!("{e:#}")),
        Err(e) => {
            let binary = std::env::args().next().unwrap_or_default();
            let binary = binary.rsplit('/').next().unwrap_or_default();
            eprintln!("{binary}: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
