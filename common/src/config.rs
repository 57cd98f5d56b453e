//! The TOML configuration file: its shared sections and how it is loaded.
//!
//! Every exporter reads one TOML file. The sections that every exporter understands (`[web]`,
//! `[log]`, `[collector]`, `[textfile]`) are declared here; each exporter adds its own keys with
//! [`exporter_config!`](crate::exporter_config). Unknown keys are errors: a typo in a key must
//! not silently fall back to a default. Flags given on the command line override the file.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, de::DeserializeOwned};

use crate::{
    cli::{LogFormat, LogLevel},
    error::Error,
};

/// `[web]`: the HTTP server of `serve`. Each key mirrors a `--web.*` flag.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    /// Addresses to listen on (`--web.listen-address`).
    pub listen_addresses: Option<Vec<String>>,
    /// The path that serves metrics (`--web.telemetry-path`).
    pub telemetry_path: Option<String>,
    /// An exporter-toolkit web configuration file (`--web.config.file`).
    pub config_file: Option<PathBuf>,
    /// Use the sockets passed by systemd socket activation (`--web.systemd-socket`).
    pub systemd_socket: Option<bool>,
    /// The most requests served at once; 0 for no limit (`--web.max-requests`).
    pub max_requests: Option<usize>,
}

/// `[log]`: logging (`--log.level`, `--log.format`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// debug, info, warn or error.
    pub level: Option<LogLevel>,
    /// logfmt or json; ignored when stderr is the journal.
    pub format: Option<LogFormat>,
}

/// `[collector]`: how collections run.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSection {
    /// The deadline of each collector, e.g. "10s" (`--collector.timeout`).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
}

/// `[textfile]`: where `textfile` writes.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextfileSection {
    /// node_exporter's textfile directory (`textfile --directory`).
    pub directory: Option<PathBuf>,
    /// The file name in it (`textfile --file`).
    pub file: Option<String>,
}

/// The shared sections of an exporter's configuration.
#[derive(Clone, Debug, Default)]
pub struct CommonConfig {
    /// `[web]`
    pub web: WebSection,
    /// `[log]`
    pub log: LogSection,
    /// `[collector]`
    pub collector: CollectorSection,
    /// `[textfile]`
    pub textfile: TextfileSection,
    /// `[check]`
    pub check: crate::check::CheckSection,
}

/// An exporter's whole configuration file. Implemented by [`exporter_config!`](crate::exporter_config).
pub trait ExporterConfig: DeserializeOwned + Default {
    /// The shared sections.
    fn common(&self) -> CommonConfig;
}

/// Declares an exporter's configuration struct: the shared sections plus the exporter's own
/// keys, all optional, unknown keys rejected.
///
/// ```
/// sysgauge_common::exporter_config! {
///     /// The configuration of sysgauge-example.
///     pub struct Config {
///         /// Paths to look at.
///         pub paths: Vec<String>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! exporter_config {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, $crate::__serde::Deserialize)]
        #[serde(crate = "sysgauge_common::__serde", deny_unknown_fields)]
        $vis struct $name {
            /// `[web]`, shared by every exporter.
            #[serde(default)]
            pub web: $crate::config::WebSection,
            /// `[log]`, shared by every exporter.
            #[serde(default)]
            pub log: $crate::config::LogSection,
            /// `[collector]`, shared by every exporter.
            #[serde(default)]
            pub collector: $crate::config::CollectorSection,
            /// `[textfile]`, shared by every exporter.
            #[serde(default)]
            pub textfile: $crate::config::TextfileSection,
            /// `[check]`, shared by every exporter.
            #[serde(default)]
            pub check: $crate::check::CheckSection,
            $($(#[$fmeta])* #[serde(default)] $fvis $field: $ty,)*
        }

        impl $crate::config::ExporterConfig for $name {
            fn common(&self) -> $crate::config::CommonConfig {
                $crate::config::CommonConfig {
                    web: self.web.clone(),
                    log: self.log.clone(),
                    collector: self.collector.clone(),
                    textfile: self.textfile.clone(),
                    check: self.check.clone(),
                }
            }
        }
    };
}

/// Loads the configuration file at `path`, or the defaults when there is none.
pub fn load<C: ExporterConfig>(path: Option<&Path>) -> Result<C, Error> {
    let Some(path) = path else {
        return Ok(C::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses configuration text; `path` is only used in error messages.
pub fn parse<C: ExporterConfig>(path: &Path, text: &str) -> Result<C, Error> {
    toml::from_str(text).map_err(|e| Error::ConfigInvalid {
        path: path.to_owned(),
        message: describe_toml_error(text, &e),
    })
}

/// "line L, column C, in [table] `the line`: message", so the reader sees the key.
fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().to_owned();
    let Some(span) = error.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.len() - line_start + 1;
    let line = text[line_start..].lines().next().unwrap_or_default().trim();
    // The nearest table header above the line says which section the key is in.
    let table = before
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|t| format!(", in {t}"))
        .unwrap_or_default();
    format!("line {line_no}, column {column}{table}, `{line}`: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::exporter_config! {
        /// A test configuration.
        pub struct TestConfig {
            /// Some paths.
            pub paths: Vec<String>,
        }
    }

    fn parse_test(text: &str) -> Result<TestConfig, String> {
        parse(Path::new("/etc/sysgauge/test.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn full_file_parses() {
        let c = parse_test(
            r#"
paths = ["/a", "/b/**/*.pem"]
[web]
listen_addresses = ["127.0.0.1:1234"]
max_requests = 5
[log]
level = "debug"
format = "json"
[collector]
timeout = "2s 500ms"
[textfile]
directory = "/var/lib/node_exporter"
"#,
        )
        .unwrap();
        assert_eq!(c.paths, ["/a", "/b/**/*.pem"]);
        assert_eq!(c.collector.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.log.level, Some(LogLevel::Debug));
        assert_eq!(c.web.max_requests, Some(5));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse_test("paths = []\n[web]\nlisten_adress = [\":1\"]\n").unwrap_err();
        assert!(err.contains("/etc/sysgauge/test.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("listen_adress"), "{err}");
    }

    #[test]
    fn bad_value_names_line_and_key() {
        let err = parse_test("[collector]\ntimeout = \"ten seconds\"\n").unwrap_err();
        assert!(err.contains("line 2"), "{err}");
        assert!(err.contains("timeout"), "{err}");
        let err = parse_test("[log]\nlevel = \"loud\"\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("loud"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let err = load::<TestConfig>(Some(Path::new("/nonexistent/x.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
