//! The `[[targets]]` of the configuration file and the quick `--artifact`/`--job` flags.

use std::{collections::HashSet, time::Duration};

use serde::Deserialize;
use sysgauge_common::{
    config::{Origin, SettingError},
    limits::MaxAge,
};

use crate::error::Error;

/// What kind of backup a target watches.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Files: a path or glob.
    Artifact,
    /// A systemd service, or a timer and the service it starts.
    Job,
    /// ZFS snapshots of datasets.
    Zfs,
}

impl Kind {
    /// The `kind` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Artifact => "artifact",
            Kind::Job => "job",
            Kind::Zfs => "zfs",
        }
    }
}

/// A content check of an artifact, which catches a truncated or half-written backup.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A plain-format `pg_dump` file ends with `-- PostgreSQL database dump complete`.
    PgDump,
    /// A `pg_dumpall` file ends with `-- PostgreSQL database cluster dump complete`.
    PgDumpall,
    /// The file is a complete gzip stream (every member's CRC and length check out). This
    /// decompresses the whole file, so it costs a full read; the other checks then apply to the
    /// decompressed data.
    Gzip,
    /// A tar archive ends with its end-of-archive marker (two zeroed 512-byte blocks).
    Tar,
}

/// One `[[targets]]` entry as written; see [`Target`] for the checked form.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// The `target` label value; unique.
    pub name: String,
    /// artifact, job or zfs.
    pub kind: Option<Kind>,
    /// The most a backup may age before it is stale, e.g. "26h".
    pub max_age: Option<MaxAge>,
    /// artifact: a file path or glob (`*`, `?`, `[..]`, `**`).
    pub path: Option<String>,
    /// artifact: content checks of the newest files.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// job: a `.service` or `.timer` unit.
    pub unit: Option<String>,
    /// zfs: dataset names, exactly.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// zfs: every dataset whose name starts with one of these.
    #[serde(default)]
    pub dataset_prefixes: Vec<String>,
}

/// A checked target.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The `target` label value.
    pub name: String,
    /// The maximum age.
    pub max_age: Duration,
    /// What it watches.
    pub source: Source,
}

/// What a target watches, by kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Files.
    Artifact {
        /// Path or glob.
        path: String,
        /// Content checks.
        checks: Vec<Check>,
    },
    /// A unit.
    Job {
        /// `.service` or `.timer`.
        unit: String,
    },
    /// Datasets.
    Zfs {
        /// Exact names.
        datasets: Vec<String>,
        /// Name prefixes.
        prefixes: Vec<String>,
    },
}

impl Target {
    /// The kind.
    pub fn kind(&self) -> Kind {
        match self.source {
            Source::Artifact { .. } => Kind::Artifact,
            Source::Job { .. } => Kind::Job,
            Source::Zfs { .. } => Kind::Zfs,
        }
    }

    /// What it watches, for the `source` label: the glob, the unit, or the datasets and
    /// prefixes (a prefix written with a trailing `*`).
    pub fn describe(&self) -> String {
        match &self.source {
            Source::Artifact { path, .. } => path.clone(),
            Source::Job { unit } => unit.clone(),
            Source::Zfs { datasets, prefixes } => datasets
                .iter()
                .cloned()
                .chain(prefixes.iter().map(|p| format!("{p}*")))
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl TargetConfig {
    /// Checks the entry: the keys its kind needs are there, and no key of another kind.
    /// `at` names a key of it in errors (file, line and `targets[N].key`, or the flag).
    pub fn check(&self, at: &dyn Fn(&str) -> Origin) -> Result<Target, Error> {
        let name = &self.name;
        let fail_at = |key: &str, message: String| {
            Err(Error::Setting(SettingError {
                origin: at(key),
                message: format!("target {name:?}: {message}"),
            }))
        };
        if self.name.is_empty() {
            return fail_at("name", "`name` must not be empty".into());
        }
        let Some(kind) = self.kind else {
            return fail_at("kind", "`kind` is missing (artifact, job or zfs)".into());
        };
        // In range by its type (limits::MaxAge), so never zero.
        let Some(max_age) = self.max_age.map(MaxAge::get) else {
            return fail_at(
                "max_age",
                "`max_age` is missing, e.g. max_age = \"26h\"".into(),
            );
        };
        let foreign: Vec<&str> = [
            ("path", self.path.is_some(), Kind::Artifact),
            ("checks", !self.checks.is_empty(), Kind::Artifact),
            ("unit", self.unit.is_some(), Kind::Job),
            ("datasets", !self.datasets.is_empty(), Kind::Zfs),
            (
                "dataset_prefixes",
                !self.dataset_prefixes.is_empty(),
                Kind::Zfs,
            ),
        ]
        .into_iter()
        .filter(|(_, set, k)| *set && *k != kind)
        .map(|(key, _, _)| key)
        .collect();
        if let Some(first) = foreign.first() {
            return fail_at(
                first,
                format!(
                    "key(s) {} do not apply to kind = \"{}\"",
                    foreign.join(", "),
                    kind.as_str()
                ),
            );
        }
        let source = match kind {
            Kind::Artifact => {
                let Some(path) = self.path.clone().filter(|p| !p.is_empty()) else {
                    return fail_at(
                        "path",
                        "kind = \"artifact\" needs `path` (a file or a glob)".into(),
                    );
                };
                if let Err(e) = sysgauge_common::fs::validate_pattern(&path) {
                    return fail_at("path", format!("`path` {path:?} is not a valid glob: {e}"));
                }
                let mut checks = self.checks.clone();
                let mut seen = HashSet::new();
                checks.retain(|c| seen.insert(*c));
                if checks.contains(&Check::PgDump) && checks.contains(&Check::PgDumpall) {
                    return fail_at(
                        "checks",
                        "`checks` may hold pg_dump or pg_dumpall, not both".into(),
                    );
                }
                Source::Artifact { path, checks }
            }
            Kind::Job => {
                let Some(unit) = self.unit.clone() else {
                    return fail_at(
                        "unit",
                        "kind = \"job\" needs `unit` (a .service or .timer)".into(),
                    );
                };
                if !(unit.ends_with(".service") || unit.ends_with(".timer")) {
                    return fail_at(
                        "unit",
                        format!("`unit` {unit:?} must be a .service or a .timer unit"),
                    );
                }
                Source::Job { unit }
            }
            Kind::Zfs => {
                if self.datasets.is_empty() && self.dataset_prefixes.is_empty() {
                    return fail_at(
                        "datasets",
                        "kind = \"zfs\" needs `datasets` or `dataset_prefixes` (or both)".into(),
                    );
                }
                if let Some(bad) = self
                    .datasets
                    .iter()
                    .chain(&self.dataset_prefixes)
                    .find(|d| d.is_empty() || d.contains('@'))
                {
                    return fail_at(
                        "datasets",
                        format!("{bad:?} is not a dataset name (empty, or a snapshot with @)"),
                    );
                }
                Source::Zfs {
                    datasets: self.datasets.clone(),
                    prefixes: self.dataset_prefixes.clone(),
                }
            }
        };
        Ok(Target {
            name: self.name.clone(),
            max_age,
            source,
        })
    }
}

/// Checks every entry and that names are unique; `at(i, key)` names a key of the i-th.
pub fn check_all(
    targets: &[TargetConfig],
    at: &dyn Fn(usize, &str) -> Origin,
) -> Result<Vec<Target>, Error> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(targets.len());
    for (i, t) in targets.iter().enumerate() {
        let target = t.check(&|key| at(i, key))?;
        if !names.insert(target.name.clone()) {
            return Err(Error::Setting(SettingError {
                origin: at(i, "name"),
                message: format!(
                    "target {:?}: the name is used by an earlier target; names must be unique",
                    target.name
                ),
            }));
        }
        out.push(target);
    }
    Ok(out)
}

/// Parses a quick flag `NAME=WHAT:MAXAGE` (`--artifact`, `--job`). The maximum age follows the
/// last colon, so a path may contain colons.
pub fn parse_flag(flag: &str, value: &str, kind: Kind) -> Result<TargetConfig, Error> {
    let fail = |message: &str| {
        Err(Error::Setting(SettingError::flag(
            flag,
            format!(
                "{value:?}: {message}; expected NAME=WHAT:MAXAGE, e.g. --{flag} {}",
                match kind {
                    Kind::Artifact => "'pg=/var/backup/pg/*.sql:26h'",
                    _ => "nightly=backup.timer:26h",
                }
            ),
        )))
    };
    let Some((name, rest)) = value.split_once('=') else {
        return fail("no `=`");
    };
    let Some((what, age)) = rest.rsplit_once(':') else {
        return fail("no `:` before the maximum age");
    };
    let max_age = match age.parse::<MaxAge>() {
        Ok(d) => d,
        Err(e) => return fail(&format!("bad maximum age {age:?}: {e}")),
    };
    let mut t = TargetConfig {
        name: name.to_owned(),
        kind: Some(kind),
        max_age: Some(max_age),
        ..TargetConfig::default()
    };
    match kind {
        Kind::Artifact => t.path = Some(what.to_owned()),
        Kind::Job => t.unit = Some(what.to_owned()),
        Kind::Zfs => t.datasets = vec![what.to_owned()],
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use sysgauge_common::config::ConfigSource;

    use super::*;

    fn one(toml_text: &str) -> Result<Target, String> {
        #[derive(Deserialize)]
        struct F {
            targets: Vec<TargetConfig>,
        }
        let f: F = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        check_all(&f.targets, &|i, key| {
            ConfigSource::default().origin(&format!("targets[{i}].{key}"))
        })
        .map(|mut v| v.remove(0))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn every_kind_parses() {
        let t = one("[[targets]]\nname='pg'\nkind='artifact'\nmax_age='26h'\npath='/b/*.sql.gz'\nchecks=['gzip','pg_dumpall','gzip']\n").unwrap();
        assert_eq!(t.max_age, Duration::from_secs(26 * 3600));
        assert_eq!(
            t.source,
            Source::Artifact {
                path: "/b/*.sql.gz".into(),
                checks: vec![Check::Gzip, Check::PgDumpall]
            }
        );
        let t =
            one("[[targets]]\nname='n'\nkind='job'\nmax_age='1d'\nunit='backup.timer'\n").unwrap();
        assert_eq!(t.describe(), "backup.timer");
        let t = one("[[targets]]\nname='z'\nkind='zfs'\nmax_age='2h'\ndatasets=['tank/db']\ndataset_prefixes=['tank/home/']\n").unwrap();
        assert_eq!(t.describe(), "tank/db,tank/home/*");
        assert_eq!(t.kind(), Kind::Zfs);
    }

    #[test]
    fn mistakes_name_the_target_and_key() {
        let e = one(
            "[[targets]]\nname='pg'\nkind='artifact'\nmax_age='26h'\nunit='x.service'\npath='/a'\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "targets[0].unit: target \"pg\": key(s) unit do not apply to kind = \"artifact\""
        );
        let e = one("[[targets]]\nname='pg'\nkind='artifact'\npath='/a'\n").unwrap_err();
        assert!(e.contains("`max_age` is missing"), "{e}");
        let e =
            one("[[targets]]\nname='j'\nkind='job'\nmax_age='1h'\nunit='backup'\n").unwrap_err();
        assert!(e.contains("must be a .service or a .timer"), "{e}");
        let e = one("[[targets]]\nname='z'\nkind='zfs'\nmax_age='1h'\n").unwrap_err();
        assert!(e.contains("needs `datasets` or `dataset_prefixes`"), "{e}");
        let e = one("[[targets]]\nname='a'\nkind='artifact'\nmax_age='1h'\npath='/a/[x'\n")
            .unwrap_err();
        assert!(e.contains("not a valid glob"), "{e}");
        let e = one(
            "[[targets]]\nname='a'\nkind='artifact'\nmax_age='1h'\npath='/a'\nchecks=['zip']\n",
        )
        .unwrap_err();
        assert!(e.contains("unknown variant `zip`"), "{e}");
        let e = one("[[targets]]\nname='a'\nkind='artifact'\nmax_age='1h'\npath='/a'\n[[targets]]\nname='a'\nkind='job'\nmax_age='1h'\nunit='a.service'\n").unwrap_err();
        assert!(
            e.starts_with("targets[1].name: target \"a\": the name"),
            "{e}"
        );
    }

    #[test]
    fn quick_flags() {
        let t = parse_flag("artifact", "pg=/srv/b:ck/*.sql:26h", Kind::Artifact)
            .unwrap()
            .check(&|_| Origin::Flag("artifact".into()))
            .unwrap();
        assert_eq!(t.name, "pg");
        assert_eq!(t.describe(), "/srv/b:ck/*.sql");
        assert_eq!(t.max_age, Duration::from_secs(26 * 3600));
        let t = parse_flag("job", "n=backup.service:1d 2h", Kind::Job)
            .unwrap()
            .check(&|_| Origin::Flag("job".into()))
            .unwrap();
        assert_eq!(t.max_age, Duration::from_secs(26 * 3600));
        let e = parse_flag("job", "n=backup.service", Kind::Job).unwrap_err();
        assert!(e.to_string().contains("no `:`"), "{e}");
        let e = parse_flag("job", "n=backup.service:soon", Kind::Job).unwrap_err();
        assert!(e.to_string().contains("bad maximum age \"soon\""), "{e}");
        let e = parse_flag("job", "backup.service:1d", Kind::Job).unwrap_err();
        assert!(e.to_string().contains("no `=`"), "{e}");
    }
}
