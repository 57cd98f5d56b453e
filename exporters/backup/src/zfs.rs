//! ZFS snapshot targets: the snapshots of each configured dataset, from `zfs list` restricted
//! to those datasets, shared by every zfs target.
//!
//! One collection runs at most two `zfs list` commands: `-d 1` with the exact `datasets` of
//! every zfs target (each one's own snapshots, and its space used by snapshots), and `-r` with
//! the datasets above the `dataset_prefixes` (the part before a prefix's last `/`, or the pool
//! a prefix without `/` names). Nothing else of the pool is read: on a pool with many
//! snapshots an unrestricted `zfs list -t snapshot` takes minutes.
//!
//! A target's `last_success` is the *oldest* of its datasets' newest snapshots: the target is
//! only as fresh as its stalest dataset. A dataset named in `datasets` that has no snapshot,
//! or does not exist, makes it 0.
//!
//! With snapshot types (`snapshot_max_age`, named by `snapshot_pattern`, sanoid's by default)
//! only snapshots whose name matches count, each type against its own maximum age: a manual or
//! syncoid snapshot, or a fresh hourly one, does not hide a dead daily schedule. So that the
//! one rule `time() - last_success > max_age` serves these targets too, `last_success` is then
//! the earliest moment a (dataset, type) goes stale, less the target's `max_age` (which
//! defaults to the least type's, for which the value is that type's newest snapshot time):
//! `min(newest[d, t] + max_age[t]) - max_age`; 0 when a dataset lacks a type.
//!
//! `zfs` runs through common's child-process runner: its own process group, killed whole at the
//! deadline or when its output passes [`STDOUT_LIMIT`], with `LC_ALL=C` and no other variables
//! than `PATH`, `HOME`, `TZ` and `LANG`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

use async_trait::async_trait;
use sysgauge_common::{
    BoxError, Collector, MetricSet, deadline,
    process::{Command, Environment, Exit},
};

use crate::{
    config::{Source, Target},
    error::Error,
    metrics::*,
};

/// The arguments after the command, before the depth and the datasets.
pub const ARGS: [&str; 8] = [
    "list",
    "-Hp",
    "-t",
    "filesystem,volume,snapshot",
    "-o",
    "name,creation,usedbysnapshots",
    "-s",
    "creation",
];

/// The most `zfs list` may print: 32 MiB, some 300,000 snapshots. A `zfs` that prints more
/// is killed and its targets report `output_too_large`.
pub const STDOUT_LIMIT: usize = 32 * 1024 * 1024;

/// What `zfs list` says of one dataset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Its `usedbysnapshots`, when it was listed itself.
    pub used_by_snapshots: Option<u64>,
    /// Its snapshots: name (after `@`) and creation time.
    pub snapshots: Vec<(String, u64)>,
}

/// The datasets listed, by name.
pub type Listing = BTreeMap<String, Dataset>;

/// The collector of every zfs target.
#[derive(Debug)]
pub struct ZfsCollector {
    targets: Vec<Target>,
    command: PathBuf,
    timeout: Duration,
    /// Exact datasets, listed with `-d 1`; none below a recursive root.
    exact: Vec<String>,
    /// Roots listed with `-r`; none below another.
    roots: Vec<String>,
}

/// The dataset a prefix is read below: up to its last `/`, or the pool it names.
fn root_of(prefix: &str) -> &str {
    match prefix.rsplit_once('/') {
        Some((root, _)) if !root.is_empty() => root,
        _ => prefix.trim_end_matches('/'),
    }
}

/// Whether `dataset` is `root` or below it.
fn within(dataset: &str, root: &str) -> bool {
    dataset == root
        || dataset
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl ZfsCollector {
    /// A collector for the zfs targets among `targets`, running `command` (the `zfs` program)
    /// with at most `timeout` per run.
    pub fn new(targets: &[Target], command: PathBuf, timeout: Duration) -> Option<Self> {
        let targets: Vec<_> = targets
            .iter()
            .filter(|t| matches!(t.source, Source::Zfs { .. }))
            .cloned()
            .collect();
        let mut exact = BTreeSet::new();
        let mut roots = BTreeSet::new();
        for t in &targets {
            if let Source::Zfs {
                datasets, prefixes, ..
            } = &t.source
            {
                exact.extend(datasets.iter().cloned());
                roots.extend(prefixes.iter().map(|p| root_of(p).to_owned()));
            }
        }
        let roots: Vec<String> = roots
            .iter()
            .filter(|r| !roots.iter().any(|o| o != *r && within(r, o)))
            .cloned()
            .collect();
        let exact = exact
            .into_iter()
            .filter(|d| !roots.iter().any(|r| within(d, r)))
            .collect();
        (!targets.is_empty()).then_some(Self {
            targets,
            command,
            timeout,
            exact,
            roots,
        })
    }

    /// Lists `datasets` with `depth` (`-d 1` or `-r`) into `listing`. A dataset that does not
    /// exist is left out with a log line (zfs lists the others and exits 1).
    async fn list(
        &self,
        depth: &[&str],
        datasets: &[String],
        listing: &mut Listing,
    ) -> Result<(), Error> {
        if datasets.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&str> = ARGS.to_vec();
        args.extend(depth);
        args.push("--");
        args.extend(datasets.iter().map(String::as_str));
        let cmd = Command::new(&self.command)
            .args(args)
            .inherit(Environment::Minimal)
            .stdout_limit(STDOUT_LIMIT);
        let fail = |source| Error::Zfs {
            source: Box::new(source),
        };
        let out = cmd
            .run(deadline::within(self.timeout))
            .await
            .map_err(fail)?;
        let missing = missing_datasets(&out.stderr_text());
        let out = match (out.exit, &missing) {
            (Exit::Code(1), Some(missing)) if !missing.is_empty() => {
                for dataset in missing {
                    tracing::warn!(dataset = %dataset, command = %cmd.display(), "zfs dataset does not exist");
                }
                out
            }
            _ => out.success().map_err(fail)?,
        };
        parse_into(&String::from_utf8_lossy(&out.stdout), listing).map_err(|message| {
            Error::ZfsOutput {
                command: cmd.display(),
                message,
            }
        })
    }
}

/// The datasets of stderr's `cannot open 'X': dataset does not exist` lines; `None` when stderr
/// says anything else.
fn missing_datasets(stderr: &str) -> Option<Vec<String>> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.strip_prefix("cannot open '")?
                .strip_suffix("': dataset does not exist")
                .map(str::to_owned)
        })
        .collect()
}

#[async_trait]
impl Collector for ZfsCollector {
    fn name(&self) -> &'static str {
        "zfs"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let mut listing = Listing::new();
        let listed = match self.list(&["-d", "1"], &self.exact, &mut listing).await {
            Ok(()) => self.list(&["-r"], &self.roots, &mut listing).await,
            Err(e) => Err(e),
        };
        let mut set = MetricSet::new();
        for target in &self.targets {
            match &listed {
                Ok(()) => report_zfs(&mut set, target, &listing),
                Err(e) => report_target(&mut set, target, Err(e)),
            }
        }
        Ok(set)
    }
}

/// Parses `zfs list` output, `NAME<TAB>CREATION<TAB>USEDBYSNAPSHOTS` lines, into a listing.
pub fn parse_into(text: &str, out: &mut Listing) -> Result<(), String> {
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || {
            format!(
                "line {}: {line:?} is not NAME<TAB>CREATION<TAB>USEDBYSNAPSHOTS",
                i + 1
            )
        };
        let mut fields = line.split('\t');
        let (Some(name), Some(creation), Some(used), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let creation: u64 = creation.trim().parse().map_err(|_| bad())?;
        match name.split_once('@') {
            Some((dataset, snapshot)) if !dataset.is_empty() => {
                out.entry(dataset.to_owned())
                    .or_default()
                    .snapshots
                    .push((snapshot.to_owned(), creation));
            }
            Some(_) => return Err(bad()),
            None => {
                let used = match used.trim() {
                    "-" => None,
                    n => Some(n.parse().map_err(|_| bad())?),
                };
                out.entry(name.to_owned()).or_default().used_by_snapshots = used;
            }
        }
    }
    Ok(())
}

/// One dataset's snapshots, summed up for a target.
#[derive(Debug, Default)]
struct Summary {
    count: u64,
    newest: u64,
    oldest: u64,
    used: Option<u64>,
    /// Per type of the target: count and newest creation (0 when none).
    by_type: Vec<(u64, u64)>,
}

fn summarize(dataset: &Dataset, target: &Target) -> Summary {
    let Source::Zfs { pattern, types, .. } = &target.source else {
        return Summary::default();
    };
    let mut s = Summary {
        used: dataset.used_by_snapshots,
        by_type: vec![(0, 0); types.len()],
        ..Summary::default()
    };
    for (name, creation) in &dataset.snapshots {
        s.count += 1;
        s.newest = s.newest.max(*creation);
        s.oldest = if s.count == 1 {
            *creation
        } else {
            s.oldest.min(*creation)
        };
        if let Some(kind) = pattern.as_ref().and_then(|p| p.type_of(name, types)) {
            let i = types.iter().position(|(t, _)| t == kind).unwrap_or(0);
            s.by_type[i].0 += 1;
            s.by_type[i].1 = s.by_type[i].1.max(*creation);
        }
    }
    s
}

fn report_zfs(set: &mut MetricSet, target: &Target, listing: &Listing) {
    let Source::Zfs {
        datasets,
        prefixes,
        types,
        ..
    } = &target.source
    else {
        return;
    };
    let none = Dataset::default();
    let mut chosen: BTreeMap<&str, Summary> = datasets
        .iter()
        .map(|d| {
            (
                d.as_str(),
                summarize(listing.get(d).unwrap_or(&none), target),
            )
        })
        .collect();
    for (dataset, v) in listing {
        if !v.snapshots.is_empty() && prefixes.iter().any(|p| dataset.starts_with(p.as_str())) {
            chosen.insert(dataset, summarize(v, target));
        }
    }
    let name = target.name.as_str();
    if chosen.is_empty() {
        tracing::warn!(target = name, source = %target.describe(), "no dataset with snapshots matches the target's prefixes");
    }
    let last_success = if types.is_empty() {
        chosen.values().map(|s| s.newest as f64).reduce(f64::min)
    } else {
        // The earliest moment a (dataset, type) goes stale, shifted onto the target's max_age;
        // 0 as soon as one lacks its type.
        let max_age = target.max_age.as_secs_f64();
        chosen
            .values()
            .flat_map(|s| s.by_type.iter().zip(types))
            .map(|((_, newest), (_, age))| {
                if *newest == 0 {
                    0.0
                } else {
                    *newest as f64 + age.as_secs_f64() - max_age
                }
            })
            .reduce(|a, b| if a == 0.0 || b == 0.0 { 0.0 } else { a.min(b) })
    };
    report_target(set, target, Ok(last_success.unwrap_or(0.0)));
    for (t, age) in types {
        set.add(&ZFS_TYPE_MAX_AGE, [name, t], age.as_secs_f64());
    }
    for (dataset, s) in chosen {
        set.add(&ZFS_SNAPSHOTS, [name, dataset], s.count as f64);
        set.add(&ZFS_NEWEST_SNAPSHOT, [name, dataset], s.newest as f64);
        set.add(&ZFS_OLDEST_SNAPSHOT, [name, dataset], s.oldest as f64);
        if let Some(used) = s.used {
            set.add(&ZFS_SNAPSHOTS_USED, [name, dataset], used as f64);
        }
        for ((count, newest), (t, _)) in s.by_type.iter().zip(types) {
            set.add(&ZFS_TYPE_SNAPSHOTS, [name, dataset, t], *count as f64);
            set.add(
                &ZFS_TYPE_NEWEST_SNAPSHOT,
                [name, dataset, t],
                *newest as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SnapshotPattern;

    fn parse(text: &str) -> Result<Listing, String> {
        let mut l = Listing::new();
        parse_into(text, &mut l).map(|()| l)
    }

    #[test]
    fn parse_datasets_and_snapshots() {
        let l = parse(
            "tank/db\t50\t4096\ntank/db@a\t100\t-\ntank/db@b\t300\t-\ntank/home@x\t200\t-\n\n",
        )
        .unwrap();
        assert_eq!(l["tank/db"].used_by_snapshots, Some(4096));
        assert_eq!(
            l["tank/db"].snapshots,
            vec![("a".into(), 100), ("b".into(), 300)]
        );
        assert_eq!(l["tank/home"].used_by_snapshots, None);
        assert_eq!(
            parse("tank/db\t100\n").unwrap_err(),
            "line 1: \"tank/db\\t100\" is not NAME<TAB>CREATION<TAB>USEDBYSNAPSHOTS"
        );
        assert!(parse("tank/db@a\t-\t-\n").is_err());
        assert!(parse("tank/db\t1\tlots\n").is_err());
    }

    #[test]
    fn roots_and_exact_datasets_do_not_overlap() {
        assert_eq!(root_of("tank/home/"), "tank/home");
        assert_eq!(root_of("tank/ho"), "tank");
        assert_eq!(root_of("tank"), "tank");
        let t = |datasets: &[&str], prefixes: &[&str]| Target {
            name: "t".into(),
            max_age: Duration::from_secs(1),
            source: Source::Zfs {
                datasets: datasets.iter().map(|s| s.to_string()).collect(),
                prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
                pattern: None,
                types: vec![],
            },
        };
        let c = ZfsCollector::new(
            &[
                t(&["tank/db", "tank/home/x", "tankx/y"], &["tank/home/"]),
                t(&[], &["tank/home/a/", "tank/home2"]),
            ],
            "zfs".into(),
            Duration::from_secs(1),
        )
        .unwrap();
        let c2 = ZfsCollector::new(
            &[t(
                &["tank/db", "tank/home/x"],
                &["tank/home/", "tank/home/a/"],
            )],
            "zfs".into(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c2.roots, vec!["tank/home".to_string()]);
        assert_eq!(c2.exact, vec!["tank/db".to_string()]);
        // tank/home2 is read below the pool, which covers every other root and dataset.
        assert_eq!(c.roots, vec!["tank".to_string()]);
        assert_eq!(c.exact, vec!["tankx/y".to_string()]);
    }

    #[test]
    fn snapshot_types_by_pattern() {
        let types = vec![
            ("hourly".to_string(), Duration::from_secs(7200)),
            ("daily".to_string(), Duration::from_secs(93600)),
        ];
        let sanoid = SnapshotPattern::parse("sanoid").unwrap();
        assert_eq!(
            sanoid.type_of("autosnap_2026-11-29_13:00:01_hourly", &types),
            Some("hourly")
        );
        assert_eq!(
            sanoid.type_of("autosnap_2026-11-29_00:00:01_daily", &types),
            Some("daily")
        );
        assert_eq!(
            sanoid.type_of("autosnap_2026-11-01_00:00:01_monthly", &types),
            None
        );
        assert_eq!(
            sanoid.type_of("syncoid_host_2026-11-29:13:00:01-GMT00:00", &types),
            None
        );
        assert_eq!(sanoid.type_of("manual_daily", &types), None);
        let zas = SnapshotPattern::parse("zfs-auto-snap_{type}-*").unwrap();
        assert_eq!(
            zas.type_of("zfs-auto-snap_daily-2026-11-29-0000", &types),
            Some("daily")
        );
        assert!(SnapshotPattern::parse("autosnap_*").is_err());
        assert!(SnapshotPattern::parse("{type}{type}").is_err());
        assert_eq!(
            missing_datasets("cannot open 'tank/gone': dataset does not exist\n"),
            Some(vec!["tank/gone".into()])
        );
        assert_eq!(
            missing_datasets("cannot open 'tank': pool I/O is currently suspended\n"),
            None
        );
    }
}

/// Properties of the `zfs list` reader on generated input (bounded case counts; failing seeds
/// kept in `proptest-regressions/zfs.txt`).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A dataset name as zfs allows it: pool, then `/`-separated components.
    fn dataset() -> impl Strategy<Value = String> {
        "[a-z][a-z0-9_.:-]{0,6}(/[a-zA-Z0-9_.: -]{1,6}){0,3}"
    }

    fn parse(text: &str) -> Result<Listing, String> {
        let mut l = Listing::new();
        parse_into(text, &mut l).map(|()| l)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No input makes the reader panic; an error names a line.
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
            if let Err(e) = parse(&text) {
                prop_assert!(e.starts_with("line "), "{e}");
            }
        }

        /// Snapshots per dataset match a model, in any order of lines.
        #[test]
        fn snapshots_match_a_model(
            lines in prop::collection::vec((dataset(), "[a-z0-9_:-]{1,8}", 0u64..=u64::from(u32::MAX)), 0..20),
            blank in prop::collection::vec(any::<bool>(), 20),
        ) {
            let mut text = String::new();
            let mut model = Listing::new();
            for (i, (ds, snap, creation)) in lines.iter().enumerate() {
                text.push_str(&format!("{ds}@{snap}\t{creation}\t-\n"));
                if blank[i] {
                    text.push('\n');
                }
                model.entry(ds.clone()).or_default().snapshots.push((snap.clone(), *creation));
            }
            prop_assert_eq!(parse(&text).unwrap(), model);
        }

        /// A line that is not a dataset or snapshot is an error naming its line number.
        #[test]
        fn a_bad_line_is_named(
            good in prop::collection::vec((dataset(), 0u64..1_000_000), 0..5),
            bad in prop::sample::select(vec!["tank/db\t100", "tank@s 100\t-", "tank@s\t-1\t-", "tank@s\t1e9\t-", "tank@s\t", "@s\t1\t-", "tank\t1\t2\t3"]),
        ) {
            let mut text: String = good.iter().map(|(d, c)| format!("{d}@s\t{c}\t-\n")).collect();
            text.push_str(bad);
            let e = parse(&text).unwrap_err();
            let expected = format!("line {}:", good.len() + 1);
            prop_assert!(e.starts_with(&expected), "{e}");
        }

        /// `*` and `?` match as a model (a regular expression) says.
        #[test]
        fn wildcard_matches_a_model(pattern in "[ab*?]{0,6}", text in "[ab]{0,8}") {
            let re = format!("^{}$", pattern.replace('?', ".").replace('*', ".*"));
            let model = regex_lite_match(&re, &text);
            prop_assert_eq!(crate::config::wildcard(&pattern, &text), model);
        }
    }

    /// A tiny backtracking matcher for the model's `.`, `.*` and literals.
    fn regex_lite_match(re: &str, text: &str) -> bool {
        fn m(p: &[u8], t: &[u8]) -> bool {
            match p {
                [] | [b'$'] => t.is_empty(),
                [b'.', b'*', rest @ ..] => (0..=t.len()).any(|i| m(rest, &t[i..])),
                [b'.', rest @ ..] => !t.is_empty() && m(rest, &t[1..]),
                [c, rest @ ..] => t.first() == Some(c) && m(rest, &t[1..]),
            }
        }
        m(&re.as_bytes()[1..], text.as_bytes())
    }
}
