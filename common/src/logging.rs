//! Logging setup: journald when stderr is the journal, otherwise logfmt or JSON on stderr.
//!
//! systemd sets `JOURNAL_STREAM=DEV:INODE` for a service whose stderr goes to the journal; when
//! it matches our stderr, log records go to journald natively, with their level as PRIORITY and
//! their fields as journal fields, instead of as text lines.

use std::{fmt, io::IsTerminal, os::unix::fs::MetadataExt};

use tracing::{Event, Subscriber, field::Field, level_filters::LevelFilter};
use tracing_subscriber::{
    filter::Targets,
    fmt::{FmtContext, FormatEvent, FormatFields, format::Writer},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::cli::{LogFormat, LogLevel};

/// Installs the global logger. Safe to call once per process.
pub fn init(binary: &'static str, level: LogLevel, format: LogFormat) {
    let filter = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let registry = tracing_subscriber::registry().with(targets(filter));
    if stderr_is_journal() {
        match tracing_journald::layer() {
            Ok(layer) => {
                let _ = registry
                    .with(layer.with_syslog_identifier(binary.to_owned()))
                    .try_init();
                return;
            }
            Err(e) => eprintln!("journald is not reachable ({e}); logging to stderr"),
        }
    }
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Logfmt => registry
            .with(stderr.event_format(Logfmt).with_ansi(false))
            .try_init(),
        LogFormat::Json => registry
            .with(stderr.json().flatten_event(true).with_current_span(false))
            .try_init(),
    };
}

/// The libraries that speak HTTP and TLS to remote clients: what they log, a client makes them
/// log (h2 at debug for every malformed frame, rustls at warn for every fatal alert it sends),
/// and each event carries its call site's absolute source path on the build host
/// (`/home/…/.cargo/registry/…`, journald's `CODE_FILE`). `serve` logs the same connection
/// events itself, at debug and with the peer's address, so these stay silent.
const REMOTE_FACING: &[&str] = &["h2", "hyper", "hyper_util", "rustls", "tokio_rustls"];

/// Every target at `level`, but the remote-facing libraries, which are off.
fn targets(level: LevelFilter) -> Targets {
    REMOTE_FACING
        .iter()
        .fold(Targets::new().with_default(level), |t, target| {
            t.with_target(*target, LevelFilter::OFF)
        })
}

fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    if std::io::stderr().is_terminal() {
        return false;
    }
    let Some((dev, ino)) = stream.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// `time=2026-11-21T10:00:00.000Z level=warn msg="..." key=value`, as the Go exporters log.
struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = humantime::format_rfc3339_millis(std::time::SystemTime::now());
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(w, "time={now} level={level}")?;
        let mut visitor = LogfmtVisitor {
            w: &mut w,
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        writeln!(w)
    }
}

struct LogfmtVisitor<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl tracing::field::Visit for LogfmtVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let key = if field.name() == "message" {
            "msg"
        } else {
            field.name()
        };
        self.result = self.result.and_then(|()| {
            write!(self.w, " {key}=")?;
            write_logfmt_value(self.w, value)
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Quotes a value when it contains anything but plain characters.
fn write_logfmt_value(w: &mut Writer<'_>, value: &str) -> fmt::Result {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if plain {
        w.write_str(value)
    } else {
        write!(w, "{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn remote_facing_libraries_are_silent_and_the_rest_keep_the_level() {
        let debug = targets(LevelFilter::DEBUG);
        for target in [
            "h2::proto::connection",
            "rustls::common_state",
            "hyper::proto::h1::conn",
            "hyper_util::server::conn::auto",
            "tokio_rustls::server",
        ] {
            assert!(!debug.would_enable(target, &Level::ERROR), "{target}");
        }
        assert!(debug.would_enable("sysgauge_common::serve", &Level::DEBUG));
        assert!(debug.would_enable("zbus::connection", &Level::DEBUG));
        let warn = targets(LevelFilter::WARN);
        assert!(!warn.would_enable("sysgauge_common::serve", &Level::INFO));
        assert!(warn.would_enable("sysgauge_common::serve", &Level::WARN));
    }
}
