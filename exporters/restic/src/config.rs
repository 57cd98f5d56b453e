//! Per-repository configuration: `[[repositories]]` tables, or `--repository` flags.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;
use sysgauge_common::{
    config::{Origin, SettingError},
    limits::{Interval, ReadDataParts, ReadInterval, Timeout},
};

use crate::{
    error::Error,
    repo_check::Subset,
    restic::{Restic, strip_userinfo},
};

/// One `[[repositories]]` table.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// The `repository` label; default: the repository location without credentials.
    pub name: Option<String>,
    /// The repository location, as for `restic -r` (given to restic as `RESTIC_REPOSITORY`).
    pub repository: Option<String>,
    /// A file holding the repository location (`RESTIC_REPOSITORY_FILE`), for locations that
    /// hold credentials.
    pub repository_file: Option<PathBuf>,
    /// The password file (`RESTIC_PASSWORD_FILE`).
    pub password_file: Option<PathBuf>,
    /// A command that prints the password (`RESTIC_PASSWORD_COMMAND`).
    pub password_command: Option<String>,
    /// The name of a systemd credential holding the password
    /// (`$CREDENTIALS_DIRECTORY/<name>`, from `LoadCredential=`).
    pub password_credential: Option<String>,
    /// A file of `KEY=value` lines for the backend (`AWS_SECRET_ACCESS_KEY=...`), given to
    /// restic's environment only.
    pub environment_file: Option<PathBuf>,
    /// restic's cache directory (`--cache-dir`); default: restic's own default.
    pub cache_dir: Option<PathBuf>,
    /// The deadline for reading this repository (snapshots and locks).
    pub timeout: Option<Timeout>,
    /// Under `serve`, how often the snapshots and locks are read (default: the top-level
    /// `read_interval`, else 5m); scrapes in between are answered from the last read.
    pub read_interval: Option<ReadInterval>,
    /// Also report the repository size (`restic stats --mode raw-data`); off by default, since
    /// it reads every index and costs time or money on cloud repositories.
    #[serde(default)]
    pub stats: bool,
    /// How often `stats` runs (default 6h).
    pub stats_interval: Option<Interval>,
    /// The deadline of `stats` (default 5m).
    pub stats_timeout: Option<Timeout>,
    /// Also run `restic check --no-lock`; off by default.
    #[serde(default)]
    pub check: bool,
    /// How often `check` runs (default 24h).
    pub check_interval: Option<Interval>,
    /// The deadline of `check` (default 1h).
    pub check_timeout: Option<Timeout>,
    /// Each `check` also reads one of this many parts of the data (`--read-data-subset n/N`,
    /// n advancing each run, kept in the state directory); off by default.
    pub check_read_data_parts: Option<ReadDataParts>,
}

/// How often `serve` reads a repository's snapshots and locks unless configured: snapshots
/// come once a day or so, and each read is a restic process (~0.4 s of CPU for the key) and,
/// on cloud backends, billed API calls.
pub const DEFAULT_READ_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// A slow, optional operation (`stats` or `check`): how often and how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slow {
    /// How often it runs.
    pub interval: Duration,
    /// Its deadline.
    pub timeout: Duration,
}

/// A repository ready to be read.
#[derive(Clone, Debug)]
pub struct Repository {
    /// The `repository` label.
    pub name: String,
    /// How to call restic for it.
    pub restic: Restic,
    /// The deadline for snapshots and locks.
    pub timeout: Duration,
    /// Under `serve`, the least time between two reads of snapshots and locks.
    pub read_interval: Duration,
    /// The repository's folder when it is on a local file system (`/path` or `local:/path`),
    /// whose `locks/` the exporter may list itself.
    pub local_path: Option<PathBuf>,
    /// `stats`, when enabled.
    pub stats: Option<Slow>,
    /// `check`, when enabled.
    pub check: Option<Slow>,
    /// The rolling `--read-data-subset` of `check`, when configured.
    pub check_subset: Option<Subset>,
}

/// Variables an environment file may not set: the password must come from a file, a command
/// or a credential, and the repository from the configuration.
const FORBIDDEN_IN_ENV_FILE: &[&str] = &[
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
];

impl RepositoryConfig {
    /// Checks the table and turns it into a [`Repository`]; `at` names a key of it in errors
    /// (file, line and `repositories[N].key`, or the flag that stands for it).
    pub fn resolve(
        &self,
        at: &dyn Fn(&str) -> Origin,
        binary: &Path,
        default_timeout: Duration,
        default_read_interval: Duration,
        credentials_directory: Option<&Path>,
        state_directory: Option<&Path>,
    ) -> Result<Repository, Error> {
        let bad = |key: &str, message: String| {
            Error::Setting(SettingError {
                origin: at(key),
                message,
            })
        };
        let mut env: Vec<(String, OsString)> = Vec::new();
        let mut redactions = Vec::new();
        let name = match (&self.repository, &self.repository_file) {
            (Some(location), None) => {
                if location.trim().is_empty() {
                    return Err(bad("repository", "is empty".into()));
                }
                env.push(("RESTIC_REPOSITORY".into(), location.into()));
                let name = self
                    .name
                    .clone()
                    .unwrap_or_else(|| strip_userinfo(location, ""));
                redactions.push((location.clone(), name.clone()));
                name
            }
            (None, Some(file)) => {
                env.push(("RESTIC_REPOSITORY_FILE".into(), file.into()));
                let name = self.name.clone().ok_or_else(|| {
                    bad(
                        "name",
                        "required with repository_file (the file's contents may hold credentials)"
                            .into(),
                    )
                })?;
                // Redact the location from restic's messages, if the file can be read now.
                if let Ok(text) = sysgauge_common::fs::read_to_string(
                    file,
                    sysgauge_common::fs::SECRET_FILE_LIMIT,
                ) {
                    let location = text.trim().to_owned();
                    if !location.is_empty() {
                        redactions.push((location, name.clone()));
                    }
                }
                name
            }
            _ => {
                return Err(bad(
                    "repository",
                    "give exactly one of repository and repository_file".into(),
                ));
            }
        };
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(bad("name", format!("{name:?} is not a usable label value")));
        }

        let sources = [
            self.password_file.is_some(),
            self.password_command.is_some(),
            self.password_credential.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(bad(
                "password_file",
                "give exactly one of password_file, password_command and password_credential"
                    .into(),
            ));
        }
        if let Some(file) = &self.password_file {
            env.push(("RESTIC_PASSWORD_FILE".into(), file.into()));
        }
        if let Some(command) = &self.password_command {
            env.push(("RESTIC_PASSWORD_COMMAND".into(), command.into()));
        }
        if let Some(credential) = &self.password_credential {
            if credential.is_empty() || credential.contains('/') {
                return Err(bad(
                    "password_credential",
                    format!("{credential:?} must be a plain credential name"),
                ));
            }
            let dir = credentials_directory.ok_or_else(|| {
                bad(
                    "password_credential",
                    "CREDENTIALS_DIRECTORY is not set; use LoadCredential= in the systemd unit"
                        .into(),
                )
            })?;
            env.push(("RESTIC_PASSWORD_FILE".into(), dir.join(credential).into()));
        }
        if let Some(file) = &self.environment_file {
            // Named by the key that points at the file, as well as the file and its line.
            let in_key = |e: Error| bad("environment_file", e.to_string());
            for (key, value) in read_environment_file(file).map_err(in_key)? {
                if FORBIDDEN_IN_ENV_FILE.contains(&key.as_str()) {
                    return Err(in_key(Error::EnvironmentFile {
                        path: file.clone(),
                        message: format!(
                            "{key} may not be set here; use the repository and password_* keys"
                        ),
                    }));
                }
                env.push((key, value.into()));
            }
        }
        let mut global_args = Vec::new();
        if let Some(dir) = &self.cache_dir {
            global_args.push("--cache-dir".into());
            global_args.push(dir.into());
        }
        // Every duration is in range by its type (limits::Timeout, limits::Interval).
        let timeout = self.timeout.map_or(default_timeout, Timeout::get);
        let slow = |interval: Option<Interval>,
                    default_interval,
                    timeout: Option<Timeout>,
                    default_timeout| Slow {
            interval: interval.map_or(default_interval, Interval::get),
            timeout: timeout.map_or(default_timeout, Timeout::get),
        };
        let stats = self.stats.then(|| {
            slow(
                self.stats_interval,
                Duration::from_secs(6 * 3600),
                self.stats_timeout,
                Duration::from_secs(300),
            )
        });
        let check = self.check.then(|| {
            slow(
                self.check_interval,
                Duration::from_secs(24 * 3600),
                self.check_timeout,
                Duration::from_secs(3600),
            )
        });
        let check_subset = match self.check_read_data_parts {
            None => None,
            Some(_) if !self.check => {
                return Err(bad("check_read_data_parts", "needs check = true".into()));
            }
            Some(parts) => {
                let dir = state_directory.ok_or_else(|| {
                    bad(
                        "check_read_data_parts",
                        "needs a state directory to remember the next part: set state_directory, or StateDirectory= in the systemd unit".into(),
                    )
                })?;
                Some(Subset::new(dir, &name, parts.get()))
            }
        };
        Ok(Repository {
            check_subset,
            name,
            restic: Restic {
                binary: binary.to_owned(),
                env,
                global_args,
                redactions,
            },
            timeout,
            read_interval: self
                .read_interval
                .map_or(default_read_interval, ReadInterval::get),
            local_path: self.repository.as_deref().and_then(local_path),
            stats,
            check,
        })
    }
}

/// The folder of a repository location on a local file system: an absolute path, with or
/// without restic's `local:` prefix. Other backends (`sftp:`, `rest:`, `s3:`, ...) and
/// relative paths give `None`.
fn local_path(location: &str) -> Option<PathBuf> {
    let path = location.strip_prefix("local:").unwrap_or(location);
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// Reads `KEY=value` lines: blank lines and `#` comments are skipped, an `export ` prefix is
/// allowed, and a value may be wrapped in single or double quotes. Errors name the line, never
/// its value.
pub fn read_environment_file(path: &Path) -> Result<Vec<(String, String)>, Error> {
    let text = sysgauge_common::fs::read_to_string(path, sysgauge_common::fs::SECRET_FILE_LIMIT)
        .map_err(|e| Error::EnvironmentFile {
            path: path.to_owned(),
            message: format!("cannot read: {}", e.problem),
        })?;
    parse_environment(&text).map_err(|message| Error::EnvironmentFile {
        path: path.to_owned(),
        message,
    })
}

fn parse_environment(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=value", i + 1));
        };
        let key = key.trim();
        let valid = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("line {}: {key:?} is not a variable name", i + 1));
        }
        let value = value.trim();
        let value = match value.as_bytes() {
            [q @ (b'"' | b'\''), .., last] if q == last && value.len() >= 2 => {
                &value[1..value.len() - 1]
            }
            [b'"' | b'\'', ..] => {
                return Err(format!(
                    "line {}: unterminated quote in the value of {key}",
                    i + 1
                ));
            }
            _ => value,
        };
        vars.push((key.to_owned(), value.to_owned()));
    }
    Ok(vars)
}

/// Checks that no two repositories share a name; `at(i, key)` names a key of the i-th.
pub fn check_unique(repos: &[Repository], at: &dyn Fn(usize, &str) -> Origin) -> Result<(), Error> {
    for (i, r) in repos.iter().enumerate() {
        if let Some(j) = repos[..i].iter().position(|o| o.name == r.name) {
            return Err(Error::Setting(SettingError {
                origin: at(i, "name"),
                message: format!(
                    "{:?} is also the name of repositories[{j}]; set distinct names",
                    r.name
                ),
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use sysgauge_common::config::ConfigSource;

    use super::*;

    sysgauge_common::exporter_config! {
        /// The repositories of a configuration file.
        pub struct ZeroConfig {
            /// `[[repositories]]`
            pub repositories: Vec<RepositoryConfig>,
        }
    }

    #[test]
    fn local_repositories_are_absolute_paths_with_or_without_local_prefix() {
        assert_eq!(local_path("/srv/restic"), Some("/srv/restic".into()));
        assert_eq!(local_path("local:/srv/restic"), Some("/srv/restic".into()));
        assert_eq!(local_path("sftp:user@host:/srv/restic"), None);
        assert_eq!(local_path("rest:http://127.0.0.1:8000/"), None);
        assert_eq!(local_path("s3:s3.amazonaws.com/bucket"), None);
        assert_eq!(local_path("relative/repo"), None);
    }

    fn resolve(c: &RepositoryConfig) -> Result<Repository, String> {
        c.resolve(
            &|key| ConfigSource::default().origin(&format!("repositories[0].{key}")),
            Path::new("restic"),
            Duration::from_secs(9),
            DEFAULT_READ_INTERVAL,
            Some(Path::new("/run/credentials/x.service")),
            None,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn name_defaults_to_the_location_without_credentials() {
        let c = RepositoryConfig {
            repository: Some("rest:https://u:pw@backup.lan:8000/host1".into()),
            password_file: Some("/run/keys/restic".into()),
            ..Default::default()
        };
        let r = resolve(&c).unwrap();
        assert_eq!(r.name, "rest:https://backup.lan:8000/host1");
        assert_eq!(r.timeout, Duration::from_secs(9));
        assert!(r.stats.is_none() && r.check.is_none());
        let env: Vec<_> = r
            .restic
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_string_lossy()))
            .collect();
        assert_eq!(
            env,
            [
                "RESTIC_REPOSITORY=rest:https://u:pw@backup.lan:8000/host1",
                "RESTIC_PASSWORD_FILE=/run/keys/restic"
            ]
        );
    }

    #[test]
    fn credential_uses_the_credentials_directory() {
        let c = RepositoryConfig {
            name: Some("nas".into()),
            repository: Some("/srv/restic".into()),
            password_credential: Some("restic-nas".into()),
            check: true,
            ..Default::default()
        };
        let r = resolve(&c).unwrap();
        assert_eq!(
            r.restic.env[1].1,
            OsString::from("/run/credentials/x.service/restic-nas")
        );
        assert_eq!(
            r.check,
            Some(Slow {
                interval: Duration::from_secs(86400),
                timeout: Duration::from_secs(3600)
            })
        );
        let err = c
            .resolve(
                &|key| ConfigSource::default().origin(&format!("repositories[3].{key}")),
                Path::new("restic"),
                Duration::from_secs(9),
                DEFAULT_READ_INTERVAL,
                None,
                None,
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("repositories[3].password_credential")
                && err.contains("CREDENTIALS_DIRECTORY"),
            "{err}"
        );
    }

    #[test]
    fn exactly_one_password_source_and_one_location() {
        let none = RepositoryConfig {
            repository: Some("/r".into()),
            ..Default::default()
        };
        assert!(
            resolve(&none)
                .unwrap_err()
                .contains("exactly one of password_file")
        );
        let two = RepositoryConfig {
            repository: Some("/r".into()),
            password_file: Some("/p".into()),
            password_command: Some("pass x".into()),
            ..Default::default()
        };
        assert!(resolve(&two).is_err());
        let file_without_name = RepositoryConfig {
            repository_file: Some("/etc/r".into()),
            password_file: Some("/p".into()),
            ..Default::default()
        };
        assert!(
            resolve(&file_without_name)
                .unwrap_err()
                .contains("repositories[0].name")
        );
        // Zero (and anything out of range) is refused while the file is parsed, naming the
        // file, line and key.
        let mut config = sysgauge_common::config::parse::<ZeroConfig>(
            Path::new("/etc/sysgauge/restic.toml"),
            "[[repositories]]\nrepository = \"/r\"\npassword_file = \"/p\"\ntimeout = \"0s\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(config.contains("/etc/sysgauge/restic.toml"), "{config}");
        assert!(
            config.contains("line 4") && config.contains("timeout"),
            "{config}"
        );
        config = sysgauge_common::config::parse::<ZeroConfig>(
            Path::new("/etc/sysgauge/restic.toml"),
            "[[repositories]]\ncheck_interval = \"999999999d\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            config.contains("line 2") && config.contains("out of range"),
            "{config}"
        );
    }

    #[test]
    fn read_interval_and_rolling_check_subset() {
        let mut c = RepositoryConfig {
            name: Some("nas".into()),
            repository: Some("/r".into()),
            password_file: Some("/p".into()),
            check_read_data_parts: Some("4".parse().unwrap()),
            ..Default::default()
        };
        let err = resolve(&c).unwrap_err();
        assert!(
            err.contains("repositories[0].check_read_data_parts") && err.contains("check = true"),
            "{err}"
        );
        c.check = true;
        let err = resolve(&c).unwrap_err();
        assert!(err.contains("state_directory"), "{err}");
        let r = c
            .resolve(
                &|key| ConfigSource::default().origin(&format!("repositories[0].{key}")),
                Path::new("restic"),
                Duration::from_secs(9),
                DEFAULT_READ_INTERVAL,
                None,
                Some(Path::new("/var/lib/sysgauge-restic")),
            )
            .unwrap();
        let subset = r.check_subset.unwrap();
        assert_eq!(subset.parts, 4);
        assert!(subset.file.starts_with("/var/lib/sysgauge-restic"));
        assert_eq!(r.read_interval, Duration::from_secs(300));
        for (text, problem) in [
            ("read_interval = \"0s\"", "1s"),
            ("read_interval = \"2days\"", "1day"),
            ("check_read_data_parts = 0", "between 1 and 10000"),
        ] {
            let err = sysgauge_common::config::parse::<ZeroConfig>(
                Path::new("/etc/sysgauge/restic.toml"),
                &format!("[[repositories]]\n{text}\n"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains("line 2") && err.contains(problem), "{err}");
        }
    }

    #[test]
    fn environment_files() {
        let vars = parse_environment(
            "# s3\nexport AWS_ACCESS_KEY_ID=AK\nAWS_SECRET_ACCESS_KEY=\"s e\"\n\nB='x'\nC=\n",
        )
        .unwrap();
        assert_eq!(
            vars,
            [
                ("AWS_ACCESS_KEY_ID", "AK"),
                ("AWS_SECRET_ACCESS_KEY", "s e"),
                ("B", "x"),
                ("C", "")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let err = parse_environment("A=1\nnot a line with secret\n").unwrap_err();
        assert_eq!(err, "line 2: expected KEY=value");
        let err = parse_environment("1A=secret\n").unwrap_err();
        assert!(
            err.starts_with("line 1:") && !err.contains("secret\""),
            "{err}"
        );
        assert!(
            parse_environment("A=\"open\n")
                .unwrap_err()
                .contains("line 1: unterminated")
        );
    }

    #[test]
    fn environment_file_may_not_carry_the_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(&file, "RESTIC_PASSWORD=hunter2\n").unwrap();
        let c = RepositoryConfig {
            repository: Some("/r".into()),
            password_file: Some("/p".into()),
            environment_file: Some(file),
            ..Default::default()
        };
        let err = resolve(&c).unwrap_err();
        assert!(
            err.contains("RESTIC_PASSWORD may not be set") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let c = RepositoryConfig {
            repository: Some("/r".into()),
            password_file: Some("/p".into()),
            ..Default::default()
        };
        let r = resolve(&c).unwrap();
        let at = |i: usize, key: &str| {
            ConfigSource::default().origin(&format!("repositories[{i}].{key}"))
        };
        let err = check_unique(&[r.clone(), r], &at).unwrap_err().to_string();
        assert!(err.contains("repositories[1].name"), "{err}");
    }

    /// Property-based tests of the environment-file parser, whose input may hold secrets.
    mod environment_properties {
        use proptest::prelude::*;

        use super::super::parse_environment;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

            /// Any text: no panic, and an error never quotes a value (what follows `=`).
            #[test]
            fn errors_never_quote_a_value(
                lines in proptest::collection::vec(
                    ("[ -~\\t]{0,12}", prop::option::of("[A-Za-z0-9\"' #=]{0,12}")),
                    0..8,
                ),
            ) {
                let secret = "s3cr3tV4lue";
                let text: String = lines
                    .iter()
                    .map(|(key, value)| match value {
                        Some(v) => format!("{key}={v}{secret}{v}\n"),
                        None => format!("{key}\n"),
                    })
                    .collect();
                if let Err(message) = parse_environment(&text) {
                    prop_assert!(!message.contains(secret), "{message}");
                    prop_assert!(message.starts_with("line "), "{message}");
                }
            }

            /// A well-formed file gives back exactly its variables, quoted or not.
            #[test]
            fn well_formed_files_round_trip(
                vars in proptest::collection::vec(
                    ("[A-Z_][A-Z0-9_]{0,10}", "[!-~&&[^\"'#]]([ -~&&[^\"']]{0,10}[!-~&&[^\"']])?", 0usize..4),
                    0..6,
                ),
            ) {
                let text: String = vars
                    .iter()
                    .map(|(k, v, style)| match style {
                        0 => format!("{k}={v}\n"),
                        1 => format!("export {k}=\"{v}\"\n"),
                        2 => format!("  {k} = '{v}'  \n"),
                        _ => format!("# comment\n\n{k}={v}\n"),
                    })
                    .collect();
                let parsed = parse_environment(&text).unwrap();
                let expected: Vec<(String, String)> =
                    vars.iter().map(|(k, v, _)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(parsed, expected);
            }
        }
    }
}
