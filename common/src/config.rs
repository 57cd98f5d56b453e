//! The TOML configuration file: its shared sections and how it is loaded.
//!
//! Every exporter reads one TOML file. The sections that every exporter understands (`[web]`,
//! `[log]`, `[collector]`, `[textfile]`) are declared here; each exporter adds its own keys with
//! [`exporter_config!`](crate::exporter_config). Unknown keys are errors: a typo in a key must
//! not silently fall back to a default. Flags given on the command line override the file.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use serde::{Deserialize, de::DeserializeOwned};

use crate::{
    cli::{LogFormat, LogLevel},
    error::Error,
    limits::{MaxConnections, MaxRequests, Timeout},
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
    pub max_requests: Option<MaxRequests>,
    /// The most connections open at once, 1 to 65536 (`--web.max-connections`).
    pub max_connections: Option<MaxConnections>,
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
    pub timeout: Option<Timeout>,
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
    /// The file it was read from, which names keys in errors found after parsing.
    fn source(&self) -> &ConfigSource;
    /// Records the file it was read from; called by [`load`] and [`parse`].
    fn set_source(&mut self, source: ConfigSource);
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
            /// The file this was read from, to name file, line and key in errors.
            #[serde(skip)]
            pub source: $crate::config::ConfigSource,
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

            fn source(&self) -> &$crate::config::ConfigSource {
                &self.source
            }

            fn set_source(&mut self, source: $crate::config::ConfigSource) {
                self.source = source;
            }
        }
    };
}

/// Loads the configuration file at `path`, or the defaults when there is none.
pub fn load<C: ExporterConfig>(path: Option<&Path>) -> Result<C, Error> {
    let Some(path) = path else {
        return Ok(C::default());
    };
    let text = crate::fs::read_to_string(path, crate::fs::CONFIG_FILE_LIMIT).map_err(|e| {
        Error::ConfigRead {
            path: path.to_owned(),
            source: e.into(),
        }
    })?;
    parse(path, &text)
}

/// Parses configuration text; `path` is only used in error messages.
pub fn parse<C: ExporterConfig>(path: &Path, text: &str) -> Result<C, Error> {
    let mut config: C = toml::from_str(text).map_err(|e| Error::ConfigInvalid {
        path: path.to_owned(),
        message: describe_toml_error(text, &e),
    })?;
    config.set_source(ConfigSource {
        file: Some(Arc::new((path.to_owned(), text.to_owned()))),
    });
    Ok(config)
}

/// The configuration file a configuration was read from, if any: it turns a key path such as
/// `repositories[1].timeout` into the file and line where the key is written, for errors that
/// are only found after parsing (a bad URL, an invalid glob, two settings that conflict).
#[derive(Clone, Debug, Default)]
pub struct ConfigSource {
    file: Option<Arc<(PathBuf, String)>>,
}

impl ConfigSource {
    /// Where `key` is set: file and line when it (or, failing that, the nearest table above
    /// it) is written in the file.
    ///
    /// `key` is a dotted path with array indexes counted from 0: `collector.timeout`,
    /// `repositories[2].password_file`, `endpoints[0].url`.
    pub fn origin(&self, key: &str) -> Origin {
        let (file, line) = match &self.file {
            Some(file) => (Some(file.0.clone()), locate(&file.1, key)),
            None => (None, None),
        };
        Origin::Key {
            file,
            line,
            key: key.to_owned(),
        }
    }

    /// A [`SettingError`] for `key`, located in the file.
    pub fn error(&self, key: &str, message: impl Into<String>) -> SettingError {
        SettingError {
            origin: self.origin(key),
            message: message.into(),
        }
    }
}

/// The 1-based line at which `key` is written in `text`, or the line of the deepest table on
/// its path that is written; `None` when not even the first part is in the file.
fn locate(text: &str, key: &str) -> Option<usize> {
    let document = toml::de::DeTable::parse(text).ok()?;
    let mut table = document.get_ref();
    let mut found: Option<usize> = None;
    let mut parts = key_parts(key).peekable();
    while let Some((name, indexes)) = parts.next() {
        let Some((k, mut value)) = table.iter().find(|(k, _)| k.get_ref() == name) else {
            break;
        };
        // A key's own line, except for an array of tables, where each element's header is
        // the better place.
        found = Some(k.span().start);
        for index in indexes {
            let toml::de::DeValue::Array(items) = value.get_ref() else {
                return found.map(|at| line_of(text, at));
            };
            let Some(item) = items.get(index) else {
                return found.map(|at| line_of(text, at));
            };
            found = Some(item.span().start);
            value = item;
        }
        match value.get_ref() {
            toml::de::DeValue::Table(inner) if parts.peek().is_some() => table = inner,
            _ => break,
        }
    }
    found.map(|at| line_of(text, at))
}

/// `a[1][2].b` → `("a", [1, 2])`, `("b", [])`.
fn key_parts(key: &str) -> impl Iterator<Item = (&str, Vec<usize>)> {
    key.split('.').map(|part| {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        let indexes = rest
            .split('[')
            .filter_map(|i| i.trim_end_matches(']').parse().ok())
            .collect();
        (name, indexes)
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Where a setting was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, without its dashes: `collector.timeout`.
    Flag(String),
    /// A key of the configuration file.
    Key {
        /// The file, when one was read.
        file: Option<PathBuf>,
        /// The line of the key, when it is written in the file.
        line: Option<usize>,
        /// The dotted key path, e.g. `repositories[1].timeout`.
        key: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::Key {
                file: Some(file),
                line: Some(line),
                key,
            } => write!(f, "{}:{line}: {key}", file.display()),
            Origin::Key {
                file: Some(file),
                line: None,
                key,
            } => write!(f, "{}: {key}", file.display()),
            Origin::Key {
                file: None, key, ..
            } => write!(f, "{key}"),
        }
    }
}

/// A setting with a bad value, found after parsing: the one error shape for every exporter's
/// semantic configuration errors. Its message starts with the flag (`--endpoint`) or the file,
/// line and key (`/etc/sysgauge/certs.toml:12: endpoints[1].url`).
#[derive(Clone, Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct SettingError {
    /// The flag or key.
    pub origin: Origin,
    /// What is wrong with it.
    pub message: String,
}

impl SettingError {
    /// An error in the flag `--flag` (given without dashes).
    pub fn flag(flag: &str, message: impl Into<String>) -> Self {
        Self {
            origin: Origin::Flag(flag.trim_start_matches('-').to_owned()),
            message: message.into(),
        }
    }
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
        assert_eq!(
            c.collector.timeout.map(Timeout::get),
            Some(std::time::Duration::from_millis(2500))
        );
        assert_eq!(c.log.level, Some(LogLevel::Debug));
        assert_eq!(c.web.max_requests.map(MaxRequests::get), Some(5));
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
    fn out_of_range_values_name_line_and_key() {
        let err = parse_test("[collector]\n\ntimeout = \"9999999999h\"\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("timeout"), "{err}");
        assert!(err.contains("out of range"), "{err}");
        let err = parse_test("[web]\nmax_requests = 99999999999\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("max_requests"),
            "{err}"
        );
    }

    #[test]
    fn semantic_errors_name_file_line_and_key() {
        let text = "paths = [\"/a\"]\n\n[[files]]\nx = 1\n\n[[files]]\n# c\nurl = \"bad\"\n[web]\nlisten_addresses = []\n";
        let path = Path::new("/etc/t.toml");
        let source = ConfigSource {
            file: Some(Arc::new((path.to_owned(), text.to_owned()))),
        };
        let e = source.error("files[1].url", "bad URL").to_string();
        assert_eq!(e, "/etc/t.toml:8: files[1].url: bad URL");
        // A key not written falls back to its table; an index too large to the array.
        assert_eq!(
            source.error("files[0].url", "m").to_string(),
            "/etc/t.toml:3: files[0].url: m"
        );
        assert_eq!(
            source.error("files[7].url", "m").to_string(),
            "/etc/t.toml:3: files[7].url: m"
        );
        assert_eq!(
            source.error("web.listen_addresses", "m").to_string(),
            "/etc/t.toml:10: web.listen_addresses: m"
        );
        assert_eq!(
            source.error("nothere", "m").to_string(),
            "/etc/t.toml: nothere: m"
        );
        assert_eq!(
            ConfigSource::default().error("a.b", "m").to_string(),
            "a.b: m"
        );
        assert_eq!(
            SettingError::flag("--endpoint", "m").to_string(),
            "--endpoint: m"
        );
        // Inline tables and arrays of inline tables too.
        let text = "files = [{ url = \"a\" },\n  { url = \"b\" }]\n";
        let source = ConfigSource {
            file: Some(Arc::new((path.to_owned(), text.to_owned()))),
        };
        assert_eq!(
            source.origin("files[1].url").to_string(),
            "/etc/t.toml:2: files[1].url"
        );
        let parsed: TestConfig = parse(path, "paths = [\"/x\"]\n").unwrap();
        assert_eq!(
            parsed.source.origin("paths").to_string(),
            "/etc/t.toml:1: paths"
        );
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let err = load::<TestConfig>(Some(Path::new("/nonexistent/x.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"));
    }
}
