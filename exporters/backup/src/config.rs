//! The `[[targets]]` of the configuration file and the quick `--artifact`/`--job` flags.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use serde::Deserialize;
use sysgauge_common::{
    config::{Origin, SettingError},
    limits::{MaxAge, Percent, SizeBytes},
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
    /// artifact: a smaller file is no good backup.
    pub min_size_bytes: Option<SizeBytes>,
    /// artifact: the newest file must be at least this share of the previous one's size.
    pub min_size_percent: Option<Percent>,
    /// job: a `.service` or `.timer` unit.
    pub unit: Option<String>,
    /// zfs: dataset names, exactly.
    #[serde(default)]
    pub datasets: Vec<String>,
    /// zfs: every dataset whose name starts with one of these.
    #[serde(default)]
    pub dataset_prefixes: Vec<String>,
    /// zfs: how a snapshot's name says its type: `sanoid` or a pattern with `{type}`.
    pub snapshot_pattern: Option<String>,
    /// zfs: the maximum age of each snapshot type (`hourly = "2h"`).
    #[serde(default)]
    pub snapshot_max_age: BTreeMap<String, MaxAge>,
}

/// The most snapshot types a zfs target may have.
pub const MAX_SNAPSHOT_TYPES: usize = 16;

/// The most bytes of a snapshot type's name.
pub const MAX_TYPE_NAME: usize = 32;

/// How a snapshot's name says its type: a pattern of `*` (any text) and `?` (one character)
/// around one `{type}`, which stands for one of the target's types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPattern {
    /// What precedes `{type}`.
    pub before: String,
    /// What follows it.
    pub after: String,
}

impl SnapshotPattern {
    /// sanoid's names, `autosnap_2026-11-29_13:00:01_hourly`.
    pub const SANOID: &'static str = "autosnap_*_{type}";

    /// Parses `sanoid` or a pattern with exactly one `{type}`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = if text == "sanoid" { Self::SANOID } else { text };
        match text.split_once("{type}") {
            Some((before, after)) if !after.contains("{type}") => Ok(Self {
                before: before.to_owned(),
                after: after.to_owned(),
            }),
            _ => Err(format!(
                "{text:?} must be \"sanoid\" or contain `{{type}}` exactly once, e.g. \"{}\"",
                Self::SANOID
            )),
        }
    }

    /// The type of a snapshot named `name` (the part after `@`): the first of `types` for which
    /// the pattern matches.
    pub fn type_of<'a>(&self, name: &str, types: &'a [(String, Duration)]) -> Option<&'a str> {
        types.iter().map(|(t, _)| t.as_str()).find(|t| {
            // `{type}` is literal text between the two halves.
            (0..=name.len()).any(|i| {
                name.is_char_boundary(i)
                    && name[i..].starts_with(t)
                    && wildcard(&self.before, &name[..i])
                    && wildcard(&self.after, &name[i + t.len()..])
            })
        })
    }
}

/// Whether `text` matches `pattern`, where `*` is any text and `?` any one character.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Greedy with one backtrack point: linear in practice, quadratic at worst.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
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
        /// A smaller file is no good backup.
        min_size: Option<u64>,
        /// The newest file must be at least this percent of the previous one's size.
        min_percent: Option<u64>,
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
        /// How a snapshot's name says its type; `None` when any snapshot counts.
        pattern: Option<SnapshotPattern>,
        /// Each type's maximum age, least first; empty when any snapshot counts.
        types: Vec<(String, Duration)>,
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
            Source::Zfs {
                datasets, prefixes, ..
            } => datasets
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
        // In range by its type (limits::MaxAge), so never zero. A zfs target with snapshot
        // types defaults to its least type's.
        let least_type = (kind == Kind::Zfs)
            .then(|| self.snapshot_max_age.values().map(|a| a.get()).min())
            .flatten();
        let Some(max_age) = self.max_age.map(MaxAge::get).or(least_type) else {
            return fail_at(
                "max_age",
                "`max_age` is missing, e.g. max_age = \"26h\"".into(),
            );
        };
        let foreign: Vec<&str> = [
            ("path", self.path.is_some(), Kind::Artifact),
            ("checks", !self.checks.is_empty(), Kind::Artifact),
            (
                "min_size_bytes",
                self.min_size_bytes.is_some(),
                Kind::Artifact,
            ),
            (
                "min_size_percent",
                self.min_size_percent.is_some(),
                Kind::Artifact,
            ),
            ("unit", self.unit.is_some(), Kind::Job),
            ("datasets", !self.datasets.is_empty(), Kind::Zfs),
            (
                "dataset_prefixes",
                !self.dataset_prefixes.is_empty(),
                Kind::Zfs,
            ),
            (
                "snapshot_pattern",
                self.snapshot_pattern.is_some(),
                Kind::Zfs,
            ),
            (
                "snapshot_max_age",
                !self.snapshot_max_age.is_empty(),
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
                Source::Artifact {
                    path,
                    checks,
                    min_size: self.min_size_bytes.map(|b| b.get() as u64),
                    min_percent: self.min_size_percent.map(|p| p.get() as u64),
                }
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
                let pattern = match (&self.snapshot_pattern, self.snapshot_max_age.is_empty()) {
                    (Some(_), true) => {
                        return fail_at(
                            "snapshot_pattern",
                            "`snapshot_pattern` needs `snapshot_max_age`, the maximum age of each type, e.g. snapshot_max_age = { hourly = \"2h\", daily = \"26h\" }".into(),
                        );
                    }
                    (_, true) => None,
                    // sanoid's names unless told otherwise.
                    (text, false) => {
                        match SnapshotPattern::parse(text.as_deref().unwrap_or("sanoid")) {
                            Ok(p) => Some(p),
                            Err(e) => {
                                return fail_at(
                                    "snapshot_pattern",
                                    format!("`snapshot_pattern` {e}"),
                                );
                            }
                        }
                    }
                };
                if self.snapshot_max_age.len() > MAX_SNAPSHOT_TYPES {
                    return fail_at(
                        "snapshot_max_age",
                        format!(
                            "`snapshot_max_age` has {} types; at most {MAX_SNAPSHOT_TYPES}",
                            self.snapshot_max_age.len()
                        ),
                    );
                }
                if let Some(bad) = self.snapshot_max_age.keys().find(|t| {
                    t.is_empty()
                        || t.len() > MAX_TYPE_NAME
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                }) {
                    return fail_at(
                        "snapshot_max_age",
                        format!(
                            "snapshot type {bad:?} must be 1 to {MAX_TYPE_NAME} letters, digits, `_` or `-`"
                        ),
                    );
                }
                let mut types: Vec<(String, Duration)> = self
                    .snapshot_max_age
                    .iter()
                    .map(|(t, a)| (t.clone(), a.get()))
                    .collect();
                types.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                Source::Zfs {
                    datasets: self.datasets.clone(),
                    prefixes: self.dataset_prefixes.clone(),
                    pattern,
                    types,
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
                checks: vec![Check::Gzip, Check::PgDumpall],
                min_size: None,
                min_percent: None,
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
    fn snapshot_types_and_sizes() {
        let t = one("[[targets]]\nname='z'\nkind='zfs'\ndatasets=['tank/db']\nsnapshot_max_age={daily='26h',hourly='2h'}\n").unwrap();
        // max_age defaults to the least type's; types are ordered by age; sanoid's names.
        assert_eq!(t.max_age, Duration::from_secs(7200));
        let Source::Zfs { pattern, types, .. } = &t.source else {
            panic!("{t:?}")
        };
        assert_eq!(
            types,
            &vec![
                ("hourly".to_string(), Duration::from_secs(7200)),
                ("daily".to_string(), Duration::from_secs(93600))
            ]
        );
        assert_eq!(
            pattern.as_ref().map(|p| p.before.as_str()),
            Some("autosnap_*_")
        );
        let e = one("[[targets]]\nname='z'\nkind='zfs'\nmax_age='1h'\ndatasets=['t']\nsnapshot_pattern='sanoid'\n").unwrap_err();
        assert!(e.starts_with("targets[0].snapshot_pattern: target \"z\": `snapshot_pattern` needs `snapshot_max_age`"), "{e}");
        let e = one("[[targets]]\nname='z'\nkind='zfs'\ndatasets=['t']\nsnapshot_pattern='auto_*'\nsnapshot_max_age={daily='1d'}\n").unwrap_err();
        assert!(e.contains("contain `{type}` exactly once"), "{e}");
        let e = one(
            "[[targets]]\nname='z'\nkind='zfs'\ndatasets=['t']\nsnapshot_max_age={'da ily'='1d'}\n",
        )
        .unwrap_err();
        assert!(e.contains("snapshot type \"da ily\" must be"), "{e}");
        let e = one(
            "[[targets]]\nname='z'\nkind='zfs'\ndatasets=['t']\nsnapshot_max_age={daily='0s'}\n",
        )
        .unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let t = one("[[targets]]\nname='a'\nkind='artifact'\nmax_age='1d'\npath='/a'\nmin_size_bytes=1024\nmin_size_percent=50\n").unwrap();
        assert!(
            matches!(
                t.source,
                Source::Artifact {
                    min_size: Some(1024),
                    min_percent: Some(50),
                    ..
                }
            ),
            "{t:?}"
        );
        let e = one("[[targets]]\nname='a'\nkind='artifact'\nmax_age='1d'\npath='/a'\nmin_size_percent=150\n").unwrap_err();
        assert!(e.contains("between 1 and 100"), "{e}");
        let e = one(
            "[[targets]]\nname='a'\nkind='artifact'\nmax_age='1d'\npath='/a'\nmin_size_bytes=0\n",
        )
        .unwrap_err();
        assert!(e.contains("between 1 and 1125899906842624"), "{e}");
        let e = one("[[targets]]\nname='a'\nkind='job'\nmax_age='1d'\nunit='a.service'\nsnapshot_max_age={daily='1d'}\n").unwrap_err();
        assert!(e.contains("key(s) snapshot_max_age do not apply"), "{e}");
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
