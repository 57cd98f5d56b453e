//! Job targets: a systemd service that makes a backup, or a timer and the service it starts,
//! read over D-Bus with [`sysgauge_dbus`].
//!
//! systemd remembers only the *last* run of a service: `Result`, `ExecMainStatus`,
//! `ExecMainStartTimestamp` and `ExecMainExitTimestamp`. When that run succeeded, its exit time
//! is the last success. When it failed, systemd no longer knows when the last good run was, so
//! the exporter remembers it: every success it sees is written to a small state file
//! ([`StateFile`], under systemd's `StateDirectory=`), and after a failed run the remembered
//! time is reported. Without a state directory, or before any success was seen, a failed last
//! run reports `last_success` 0: never "fresh" on a guess.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Mutex,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sysgauge_common::sync::lock;
use sysgauge_common::{BoxError, Collector, MetricSet, collector::error_chain};
use sysgauge_dbus::{ServiceStatus, SystemdClient, TimerStatus, interface};

use crate::{
    config::{Source, Target},
    error::Error,
    metrics::*,
};

/// The state file's name in the state directory.
pub const STATE_FILE: &str = "sysgauge-backup.json";

/// What one job target's unit says now.
#[derive(Debug, Default, PartialEq)]
struct JobStatus {
    service: String,
    result: String,
    exit_status: Option<i64>,
    start: Option<f64>,
    end: Option<f64>,
    running: bool,
    last_trigger: Option<f64>,
    next_elapse: Option<f64>,
}

impl JobStatus {
    /// The end of the last run when that run succeeded and is over.
    fn success_time(&self) -> Option<f64> {
        (self.result == "success" && !self.running)
            .then_some(self.end)
            .flatten()
    }
}

/// The collector of every job target.
#[derive(Debug)]
pub struct JobsCollector {
    targets: Vec<Target>,
    client: SystemdClient,
    state: Mutex<StateFile>,
}

impl JobsCollector {
    /// A collector for the job targets among `targets`, remembering successes under
    /// `state_dir` when given.
    pub fn new(
        targets: &[Target],
        client: SystemdClient,
        state_dir: Option<PathBuf>,
    ) -> Option<Self> {
        let targets: Vec<_> = targets
            .iter()
            .filter(|t| matches!(t.source, Source::Job { .. }))
            .cloned()
            .collect();
        if targets.is_empty() {
            return None;
        }
        if state_dir.is_none() {
            tracing::info!(
                "no state directory (--state-directory, or StateDirectory= in the unit): a job whose last run failed reports last_success 0"
            );
        }
        Some(Self {
            targets,
            client,
            state: Mutex::new(StateFile::load(state_dir)),
        })
    }

    async fn status(&self, unit: &str) -> Result<JobStatus, Error> {
        let dbus = |source| Error::Dbus {
            unit: unit.to_owned(),
            source: Box::new(source),
        };
        let (mut status, service_path) = if unit.ends_with(".timer") {
            let timer = self.loaded(unit).await?;
            let timer: TimerStatus = self
                .client
                .get_all_as(timer.path.as_str(), interface::TIMER)
                .await
                .map_err(dbus)?;
            let service = timer.unit.clone().unwrap_or_default();
            let unit_status = self.loaded(&service).await?;
            (
                JobStatus {
                    service,
                    last_trigger: timer.last_trigger_seconds(),
                    next_elapse: timer.next_elapse_seconds(),
                    ..JobStatus::default()
                },
                unit_status,
            )
        } else {
            let unit_status = self.loaded(unit).await?;
            (
                JobStatus {
                    service: unit.to_owned(),
                    ..JobStatus::default()
                },
                unit_status,
            )
        };
        let service: ServiceStatus = self
            .client
            .get_all_as(service_path.path.as_str(), interface::SERVICE)
            .await
            .map_err(dbus)?;
        status.exit_status = service.exit_status.map(i64::from);
        status.start = service.start_seconds();
        status.end = service.exit_seconds();
        status.result = service.result.unwrap_or_default();
        status.running =
            service_path.active_state == "activating" || service_path.sub_state == "running";
        Ok(status)
    }

    /// The unit's list entry; an error when systemd has not loaded it.
    async fn loaded(&self, unit: &str) -> Result<sysgauge_dbus::UnitStatus, Error> {
        let list = self
            .client
            .list_units_by_names(&[unit])
            .await
            .map_err(|source| Error::Dbus {
                unit: unit.to_owned(),
                source: Box::new(source),
            })?;
        let found = list.into_iter().find(|u| u.name == unit);
        match found {
            Some(u) if u.load_state == "loaded" => Ok(u),
            other => Err(Error::UnitNotLoaded {
                unit: unit.to_owned(),
                load_state: other.map_or_else(|| "absent".into(), |u| u.load_state),
            }),
        }
    }
}

#[async_trait]
impl Collector for JobsCollector {
    fn name(&self) -> &'static str {
        "jobs"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let mut set = MetricSet::new();
        for target in &self.targets {
            let Source::Job { unit } = &target.source else {
                continue;
            };
            let name = target.name.as_str();
            let status = self.status(unit).await;
            let last_success = status.as_ref().map(|s| {
                let mut state = lock(&self.state);
                match s.success_time() {
                    Some(t) => {
                        state.record(name, unit, t);
                        t
                    }
                    None => state.get(name, unit).unwrap_or(0.0),
                }
            });
            report_target(&mut set, target, last_success);
            let Ok(s) = status else { continue };
            set.add(&JOB_INFO, [name, unit, &s.service], 1.0);
            set.add(&JOB_RESULT, [name, &s.result], 1.0);
            if let Some(v) = s.exit_status {
                set.add(&JOB_EXIT_STATUS, [name], v as f64);
            }
            if let Some(v) = s.start {
                set.add(&JOB_LAST_RUN_START, [name], v);
            }
            if let Some(v) = s.end {
                set.add(&JOB_LAST_RUN_END, [name], v);
            }
            set.add(&JOB_RUNNING, [name], if s.running { 1.0 } else { 0.0 });
            if unit.ends_with(".timer") {
                if let Some(v) = s.last_trigger {
                    set.add(&JOB_TIMER_LAST_TRIGGER, [name], v);
                }
                if let Some(v) = s.next_elapse {
                    set.add(&JOB_TIMER_NEXT_ELAPSE, [name], v);
                }
            }
        }
        lock(&self.state).save_if_changed();
        Ok(set)
    }
}

/// One remembered success.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Remembered {
    unit: String,
    last_success: f64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateData {
    /// Per target name.
    jobs: BTreeMap<String, Remembered>,
}

/// The remembered last successes of job targets: `STATE_DIR/sysgauge-backup.json`, written
/// atomically (temporary file, fsync, rename) when it changes.
#[derive(Debug, Default)]
pub struct StateFile {
    path: Option<PathBuf>,
    data: StateData,
    changed: bool,
}

impl StateFile {
    /// Loads the file in `dir`; a missing or unreadable file is an empty state (and a log line).
    pub fn load(dir: Option<PathBuf>) -> Self {
        let Some(dir) = dir else {
            return Self::default();
        };
        let path = dir.join(STATE_FILE);
        let data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "state file is not valid; starting afresh");
                StateData::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateData::default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the state file; starting afresh");
                StateData::default()
            }
        };
        Self {
            path: Some(path),
            data,
            changed: false,
        }
    }

    fn get(&self, target: &str, unit: &str) -> Option<f64> {
        self.data
            .jobs
            .get(target)
            .filter(|r| r.unit == unit)
            .map(|r| r.last_success)
    }

    fn record(&mut self, target: &str, unit: &str, time: f64) {
        if self.get(target, unit).is_some_and(|t| t >= time) {
            return;
        }
        self.data.jobs.insert(
            target.to_owned(),
            Remembered {
                unit: unit.to_owned(),
                last_success: time,
            },
        );
        self.changed = true;
    }

    fn save_if_changed(&mut self) {
        let Some(path) = &self.path else { return };
        if !self.changed {
            return;
        }
        match write_atomically(path, &self.data) {
            Ok(()) => self.changed = false,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %error_chain(&e), "cannot write the state file; a later collection tries again");
            }
        }
    }
}

fn write_atomically(path: &Path, data: &StateData) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{STATE_FILE}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(data).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_needs_a_finished_successful_run() {
        let mut s = JobStatus {
            result: "success".into(),
            end: Some(10.0),
            ..JobStatus::default()
        };
        assert_eq!(s.success_time(), Some(10.0));
        s.running = true;
        assert_eq!(s.success_time(), None);
        s.running = false;
        s.result = "exit-code".into();
        assert_eq!(s.success_time(), None);
    }

    #[test]
    fn state_file_remembers_the_newest_success_per_target_and_unit() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = StateFile::load(Some(dir.path().to_owned()));
        state.record("pg", "pg.service", 100.0);
        state.record("pg", "pg.service", 50.0);
        state.save_if_changed();
        let state = StateFile::load(Some(dir.path().to_owned()));
        assert_eq!(state.get("pg", "pg.service"), Some(100.0));
        assert_eq!(state.get("pg", "other.service"), None, "the unit changed");
        std::fs::write(dir.path().join(STATE_FILE), "{not json").unwrap();
        assert_eq!(
            StateFile::load(Some(dir.path().to_owned())).get("pg", "pg.service"),
            None
        );
    }
}
