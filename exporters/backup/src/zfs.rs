//! ZFS snapshot targets: the newest snapshot of each dataset, from one run of
//! `zfs list -Hp -t snapshot -o name,creation -s creation` per collection, shared by every zfs
//! target.
//!
//! A target's `last_success` is the *oldest* of its datasets' newest snapshots: the target is
//! only as fresh as its stalest dataset. A dataset named in `datasets` that has no snapshot
//! makes it 0 (the list of snapshots cannot tell a dataset without snapshots from a missing
//! one).
//!
//! `zfs` runs through common's child-process runner: its own process group, killed whole at the
//! deadline or when its output passes [`STDOUT_LIMIT`], with `LC_ALL=C` and no other variables
//! than `PATH`, `HOME`, `TZ` and `LANG`.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use async_trait::async_trait;
use sysgauge_common::{
    BoxError, Collector, MetricSet, deadline,
    process::{Command, Environment},
};

use crate::{
    config::{Source, Target},
    error::Error,
    metrics::*,
};

/// The arguments after the command.
pub const ARGS: [&str; 8] = [
    "list",
    "-Hp",
    "-t",
    "snapshot",
    "-o",
    "name,creation",
    "-s",
    "creation",
];

/// The most `zfs list` may print: 32 MiB, some 400,000 snapshots. A `zfs` that prints more
/// is killed and its targets report `output_too_large`.
pub const STDOUT_LIMIT: usize = 32 * 1024 * 1024;

/// Per dataset: number of snapshots and the newest creation time.
pub type Snapshots = BTreeMap<String, (u64, f64)>;

/// The collector of every zfs target.
#[derive(Debug)]
pub struct ZfsCollector {
    targets: Vec<Target>,
    command: PathBuf,
    timeout: Duration,
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
        (!targets.is_empty()).then_some(Self {
            targets,
            command,
            timeout,
        })
    }

    async fn list(&self) -> Result<Snapshots, Error> {
        let cmd = Command::new(&self.command)
            .args(ARGS)
            .inherit(Environment::Minimal)
            .stdout_limit(STDOUT_LIMIT);
        let out = cmd
            .run(deadline::within(self.timeout))
            .await
            .and_then(|out| out.success())
            .map_err(|source| Error::Zfs {
                source: Box::new(source),
            })?;
        parse(&String::from_utf8_lossy(&out.stdout)).map_err(|message| Error::ZfsOutput {
            command: cmd.display(),
            message,
        })
    }
}

#[async_trait]
impl Collector for ZfsCollector {
    fn name(&self) -> &'static str {
        "zfs"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let snapshots = self.list().await;
        let mut set = MetricSet::new();
        for target in &self.targets {
            match &snapshots {
                Ok(s) => report_zfs(&mut set, target, s),
                Err(e) => report_target(&mut set, target, Err(e)),
            }
        }
        Ok(set)
    }
}

/// Parses `NAME<TAB>CREATION` lines; only snapshots (`dataset@snap`) count.
pub fn parse(text: &str) -> Result<Snapshots, String> {
    let mut out = Snapshots::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || format!("line {}: {line:?} is not NAME<TAB>CREATION", i + 1);
        let (name, creation) = line.split_once('\t').ok_or_else(bad)?;
        let creation: u64 = creation.trim().parse().map_err(|_| bad())?;
        let Some((dataset, _)) = name.split_once('@') else {
            return Err(bad());
        };
        let entry = out.entry(dataset.to_owned()).or_insert((0, 0.0));
        entry.0 += 1;
        entry.1 = entry.1.max(creation as f64);
    }
    Ok(out)
}

fn report_zfs(set: &mut MetricSet, target: &Target, snapshots: &Snapshots) {
    let Source::Zfs { datasets, prefixes } = &target.source else {
        return;
    };
    let mut chosen: BTreeMap<&str, (u64, f64)> = datasets
        .iter()
        .map(|d| (d.as_str(), snapshots.get(d).copied().unwrap_or((0, 0.0))))
        .collect();
    for (dataset, v) in snapshots {
        if prefixes.iter().any(|p| dataset.starts_with(p.as_str())) {
            chosen.insert(dataset, *v);
        }
    }
    let name = target.name.as_str();
    let oldest_newest = chosen.values().map(|v| v.1).reduce(f64::min);
    if chosen.is_empty() {
        tracing::warn!(target = name, source = %target.describe(), "no dataset with snapshots matches the target's prefixes");
    }
    report_target(set, target, Ok(oldest_newest.unwrap_or(0.0)));
    for (dataset, (count, newest)) in chosen {
        set.add(&ZFS_SNAPSHOTS, [name, dataset], count as f64);
        set.add(&ZFS_NEWEST_SNAPSHOT, [name, dataset], newest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_counts_and_newest() {
        let s = parse("tank/db@a\t100\ntank/db@b\t300\ntank/home@x\t200\n\n").unwrap();
        assert_eq!(s["tank/db"], (2, 300.0));
        assert_eq!(s["tank/home"], (1, 200.0));
        assert_eq!(
            parse("tank/db\t100\n").unwrap_err(),
            "line 1: \"tank/db\\t100\" is not NAME<TAB>CREATION"
        );
        assert!(parse("tank/db@a\t-\n").is_err());
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// No input makes the reader panic; an error names a line.
        #[test]
        fn arbitrary_text_never_panics(text in "(?s).{0,400}") {
            if let Err(e) = parse(&text) {
                prop_assert!(e.starts_with("line "), "{e}");
            }
        }

        /// Counts and newest creation per dataset match a model, in any order of lines.
        #[test]
        fn counts_and_newest_match_a_model(
            lines in prop::collection::vec((dataset(), "[a-z0-9_:-]{1,8}", 0u64..=u64::from(u32::MAX)), 0..20),
            blank in prop::collection::vec(any::<bool>(), 20),
        ) {
            let mut text = String::new();
            let mut model = Snapshots::new();
            for (i, (ds, snap, creation)) in lines.iter().enumerate() {
                text.push_str(&format!("{ds}@{snap}\t{creation}\n"));
                if blank[i] {
                    text.push('\n');
                }
                let e = model.entry(ds.clone()).or_insert((0, 0.0));
                e.0 += 1;
                e.1 = e.1.max(*creation as f64);
            }
            prop_assert_eq!(parse(&text).unwrap(), model);
        }

        /// A line that is not a snapshot is an error naming its line number.
        #[test]
        fn a_bad_line_is_named(
            good in prop::collection::vec((dataset(), 0u64..1_000_000), 0..5),
            bad in prop::sample::select(vec!["tank/db\t100", "tank@s 100", "tank@s\t-1", "tank@s\t1e9", "tank@s\t"]),
        ) {
            let mut text: String = good.iter().map(|(d, c)| format!("{d}@s\t{c}\n")).collect();
            text.push_str(bad);
            let e = parse(&text).unwrap_err();
            let expected = format!("line {}:", good.len() + 1);
            prop_assert!(e.starts_with(&expected), "{e}");
        }
    }
}
