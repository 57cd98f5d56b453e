//! The `boot` collector: how long the last boot took per stage (firmware, loader, kernel,
//! initrd, userspace), as `systemd-analyze time` prints it, and the units that took longest to
//! activate during it, as `systemd-analyze blame` ranks them. The arithmetic is systemd's, in
//! [`sysgauge_dbus::boot`].
//!
//! The stages cost six `Get`s on the manager per collection. The slowest units need every
//! unit's three activation timestamps (three `Get`s per unit, ~45 ms of systemd's time on a
//! host with 1,000 units), so they are read once the boot has finished and kept until the
//! manager reports another finish (a new boot): what a boot took does not change afterwards.
//! A unit started again after the boot no longer shows its boot-time activation to systemd, so
//! reading once right after the boot is also the truest record. `check` does not read them
//! (a plugin has seconds, and no check uses them).
//!
//! `once` and `textfile` are a new process each time, so with a state directory
//! (`state_directory`, or systemd's `StateDirectory=`, which the shipped textfile unit has)
//! they keep the slowest units in a file there, `boot-slowest-units`, under the manager's
//! finish time on both clocks (`FinishTimestamp`, `FinishTimestampMonotonic`: together they
//! tell one boot from any other, where the kernel's boot ID is hidden from the shipped unit by
//! `ProcSubset=pid`): a timer running `textfile` every minute reads them once per boot. A file that is missing, from another boot or unreadable is read again from
//! systemd (and the last two are logged); writing it is atomic.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    sync::Arc,
};

use async_trait::async_trait;
use sysgauge_common::{BoxError, Collector, MetricSet, limits::BoundedCount};
use sysgauge_dbus::{
    MANAGER_PATH, SystemdClient,
    boot::{self, BootStages},
    interface,
};

use crate::{error::Error, metrics::*};

/// `--boot-slowest-units`: how many of the slowest units of the boot are reported, 0 (none)
/// to 100.
pub type SlowestUnits = BoundedCount<0, 100>;

/// The default of `--boot-slowest-units`, as many as fit a dashboard table.
pub const DEFAULT_SLOWEST: SlowestUnits = SlowestUnits::from_const(10);

/// Units and their activation times in µs, slowest first.
type Slowest = Vec<(String, u64)>;

/// The file in the state directory that keeps the slowest units.
const STATE_FILE: &str = "boot-slowest-units";
/// The most that file may hold: 100 units of 255-character names, with room to spare.
const STATE_LIMIT: u64 = 64 * 1024;
/// Which boot the kept slowest units were read for: the manager's finish on the wall clock
/// and on the monotonic one, and how many units were asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BootKey {
    finish_realtime: u64,
    finish: u64,
    count: usize,
}

impl BootKey {
    /// The first line of the state file.
    fn header(&self) -> String {
        format!(
            "sysgauge-systemd boot-slowest-units 1 {} {} {}",
            self.finish_realtime, self.finish, self.count
        )
    }
}

/// Reads the boot's stages and its slowest units.
#[derive(Debug)]
pub struct BootCollector {
    client: Arc<SystemdClient>,
    slowest: usize,
    /// Where the slowest units are kept across runs, if anywhere.
    state: Option<PathBuf>,
    /// The slowest units, by the `FinishTimestampMonotonic` of the boot they were read for.
    kept: tokio::sync::Mutex<Option<(u64, Slowest)>>,
}

impl BootCollector {
    /// A collector asking `client`, reporting the `slowest` units that took longest, kept
    /// across runs in the directory `state` when given.
    pub fn new(client: Arc<SystemdClient>, slowest: SlowestUnits, state: Option<PathBuf>) -> Self {
        Self {
            client,
            slowest: slowest.get(),
            state,
            kept: tokio::sync::Mutex::new(None),
        }
    }

    async fn collect_boot(&self) -> Result<MetricSet, Error> {
        let manager = self
            .client
            .get_properties(MANAGER_PATH, interface::MANAGER, boot::MANAGER_PROPERTIES)
            .await?;
        let stages = BootStages::from_manager(&manager);
        let mut set = MetricSet::new();
        for (stage, usec) in stages.stages() {
            set.add(&BOOT_STAGE, [stage], usec as f64 / 1e6);
        }
        let Some(finish) = stages.finish else {
            // Still booting: neither the userspace stage nor the units' times are final.
            return Ok(set);
        };
        if self.slowest == 0 || sysgauge_common::check::skip_slow_work() {
            return Ok(set);
        }
        let mut kept = self.kept.lock().await;
        if kept.as_ref().is_none_or(|(at, _)| *at != finish) {
            let file = match &self.state {
                Some(dir) => Some((dir.join(STATE_FILE), self.boot_key(finish).await?)),
                None => None,
            };
            let units = match file.as_ref().and_then(|(f, key)| load(f, key)) {
                Some(units) => units,
                None => {
                    let units = self.slowest_units(&stages).await?;
                    if let Some((file, key)) = &file {
                        store(file, key, &units);
                    }
                    units
                }
            };
            *kept = Some((finish, units));
        }
        if let Some((_, units)) = kept.as_ref() {
            for (name, usec) in units {
                set.add(&BOOT_UNIT_ACTIVATION, [name.as_str()], *usec as f64 / 1e6);
            }
        }
        Ok(set)
    }

    /// What the state file is kept under for the boot that finished at `finish`: one more
    /// `Get`, once per process.
    async fn boot_key(&self, finish: u64) -> Result<BootKey, Error> {
        let manager = self
            .client
            .get_properties(MANAGER_PATH, interface::MANAGER, &["FinishTimestamp"])
            .await?;
        Ok(BootKey {
            finish_realtime: manager.u64("FinishTimestamp").unwrap_or(0),
            finish,
            count: self.slowest,
        })
    }

    /// The units whose activation began before the boot finished, slowest first (by name
    /// among equals), at most `self.slowest`. A unit that vanished meanwhile is left out.
    async fn slowest_units(&self, stages: &BootStages) -> Result<Slowest, Error> {
        let units = self.client.list_units(&[], &[]).await?;
        let requests = units
            .iter()
            .map(|u| (u.path.clone(), interface::UNIT, boot::UNIT_PROPERTIES))
            .collect();
        let mut times = Vec::new();
        for (unit, result) in units
            .iter()
            .zip(self.client.get_properties_many(requests).await)
        {
            let p = match result {
                Ok(p) => p,
                Err(e) if e.is_method_error() => continue,
                Err(e) => return Err(e.into()),
            };
            let began = p.u64("InactiveExitTimestampMonotonic").unwrap_or(0);
            if let Some(usec) = boot::activation_usec(&p).filter(|_| stages.during_boot(began)) {
                times.push((unit.name.clone(), usec));
            }
        }
        times.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        times.truncate(self.slowest);
        Ok(times)
    }
}

/// The slowest units kept in `file` for `key`; `None` when there are none for it (a missing
/// file or another boot's, silently; an unreadable or malformed one, logged).
fn load(file: &Path, key: &BootKey) -> Option<Slowest> {
    let text = match sysgauge_common::fs::read_to_string(file, STATE_LIMIT) {
        Ok(text) => text,
        Err(e) => {
            if !matches!(e.problem, sysgauge_common::fs::FileProblem::NotFound) {
                tracing::warn!(file = %file.display(), error = %e, "cannot read the kept slowest units of the boot; reading them from systemd");
            }
            return None;
        }
    };
    let mut lines = text.lines();
    if lines.next() != Some(key.header().as_str()) {
        return None;
    }
    let units: Option<Slowest> = lines
        .map(|line| {
            let (usec, name) = line.split_once(' ')?;
            let ok = !name.is_empty() && !name.contains(char::is_whitespace);
            Some((name.to_owned(), usec.parse().ok()?)).filter(|_| ok)
        })
        .collect();
    match units {
        Some(units) if units.len() <= key.count => Some(units),
        _ => {
            tracing::warn!(file = %file.display(), line = 2, "the kept slowest units of the boot are not `USEC NAME` lines; reading them from systemd");
            None
        }
    }
}

/// Keeps `units` in `file` for `key`; a failure is logged (the next run reads them again).
fn store(file: &Path, key: &BootKey, units: &Slowest) {
    let mut text = key.header();
    text.push('\n');
    for (name, usec) in units {
        let _ = writeln!(text, "{usec} {name}");
    }
    let (Some(dir), Some(name)) = (file.parent(), file.file_name()) else {
        return;
    };
    if let Err(e) = sysgauge_common::textfile::write(dir, &name.to_string_lossy(), text.as_bytes())
    {
        tracing::warn!(file = %file.display(), error = %sysgauge_common::collector::error_chain(&e), "cannot keep the slowest units of the boot; the next run reads them again");
    }
}

#[async_trait]
impl Collector for BootCollector {
    fn name(&self) -> &'static str {
        "boot"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        Ok(self.collect_boot().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(count: usize) -> BootKey {
        BootKey {
            finish_realtime: 1_700_000_000_000_000,
            finish: 5_000_000,
            count,
        }
    }

    #[test]
    fn kept_units_are_read_back_only_for_the_same_boot_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let units: Slowest = vec![("a.service".into(), 2_000_000), ("b.mount".into(), 7)];
        store(&file, &key(3), &units);
        assert_eq!(load(&file, &key(3)), Some(units));
        assert_eq!(load(&file, &key(2)), None);
        let other = BootKey {
            finish: 5_000_001,
            ..key(3)
        };
        assert_eq!(load(&file, &other), None);
    }

    #[test]
    fn a_malformed_or_hostile_file_is_read_from_systemd_again() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(STATE_FILE);
        let header = key(2).header();
        for body in [
            "x a.service\n",
            "1\n",
            "1 a b.service\n",
            "1 a.service\n2 b.service\n3 c.service\n",
        ] {
            std::fs::write(&file, format!("{header}\n{body}")).unwrap();
            assert_eq!(load(&file, &key(2)), None, "{body}");
        }
        std::fs::write(&file, vec![b'1'; STATE_LIMIT as usize + 1]).unwrap();
        assert_eq!(load(&file, &key(2)), None);
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
        assert_eq!(load(&file, &key(2)), None);
    }
}
