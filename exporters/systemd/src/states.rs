//! The `states` collector: for every reported unit of every type (services, timers, sockets,
//! mounts, targets, paths, ... as the include and exclude patterns and the critical units say),
//! when it last entered and left the active and inactive states, and its unit-file state
//! (`enabled`, `disabled`, `static`, `masked`, ...).
//!
//! One collection lists the units (`ListUnitsByPatterns`, one call) and asks each loaded one
//! four `Get`s on `org.freedesktop.systemd1.Unit`: `ActiveEnterTimestamp`,
//! `ActiveExitTimestamp`, `InactiveEnterTimestamp`, `InactiveExitTimestamp`; and a fifth,
//! `UnitFileState`, of the units `--unit-file-include` selects (timers, sockets and paths by
//! default: the units whose being disabled means something does not run) and the critical
//! units.
//!
//! Why not every unit's file state: systemd computes it on first request after each
//! daemon-reload by scanning every directory of unit files for links to the unit, so its cost
//! grows with the number of unit files, per unit. Measured on systemd 252 with 1,006 files in
//! /etc/systemd/system: 8.4 s of PID 1's CPU for 1,000 units' `UnitFileState` after a reload
//! (then ~20 µs each, cached until the next reload); `ListUnitFiles` costs the same scan on
//! every call. A NixOS host links all its units there, and a `nixos-rebuild switch` reloads.
//! The timestamps change only when the unit changes state, which systemd signals, and the
//! unit-file state only with a daemon-reload (which `systemctl enable` and `disable` do and
//! which systemd signals as well), so `serve` keeps what it read of a unit until systemd
//! signals a change of it, as the `units` collector does, on the same connection; a collection on a quiet host then
//! costs the listing only.
//!
//! The unit-file state is an `_info` series whose label changes only when an admin enables,
//! disables or masks the unit: no churn from the unit's runs.

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use sysgauge_common::{BoxError, Collector, MetricSet};
use sysgauge_dbus::{
    Properties, SystemdClient, UnitChanges, UnitStatus, interface, zbus::zvariant::OwnedObjectPath,
};

use crate::{
    error::Error,
    metrics::*,
    units::{UnitFilter, selected_units},
};

/// The default `--unit-file-include`: the units that start others when enabled.
pub const DEFAULT_UNIT_FILE_INCLUDE: &str = r".+\.(timer|socket|path)";

/// The properties read of a unit whose file state is reported; without the last, of the others.
const PROPERTIES: &[&str] = &[
    "ActiveEnterTimestamp",
    "ActiveExitTimestamp",
    "InactiveEnterTimestamp",
    "InactiveExitTimestamp",
    "UnitFileState",
];
/// The state-change times alone.
const TIMESTAMPS: &[&str] = PROPERTIES.split_last().expect("not empty").1;

/// This collector's caller number for [`SystemdClient::unit_changes_for`] on the connection it
/// shares with the `units` collector (which is 0).
const CHANGES_CALLER: usize = 1;

/// What is reported of one unit.
#[derive(Clone, Debug, Default, PartialEq)]
struct Times {
    active_enter: Option<f64>,
    active_exit: Option<f64>,
    inactive_enter: Option<f64>,
    inactive_exit: Option<f64>,
    /// Empty for a unit without a unit file (transient units of older systemd, mount units
    /// from /proc/self/mountinfo): then no series.
    file_state: String,
}

impl Times {
    fn from_properties(p: &Properties) -> Times {
        Times {
            active_enter: p.timestamp_seconds("ActiveEnterTimestamp"),
            active_exit: p.timestamp_seconds("ActiveExitTimestamp"),
            inactive_enter: p.timestamp_seconds("InactiveEnterTimestamp"),
            inactive_exit: p.timestamp_seconds("InactiveExitTimestamp"),
            file_state: p.str("UnitFileState").unwrap_or_default().to_owned(),
        }
    }
}

/// One unit's kept times, with the states and job it was listed with when read.
#[derive(Debug)]
struct Kept {
    active_state: String,
    sub_state: String,
    job_id: u32,
    times: Times,
}

/// Reads the reported units' state-change times and unit-file states.
#[derive(Debug)]
pub struct StatesCollector {
    client: Arc<SystemdClient>,
    filter: UnitFilter,
    /// The units whose unit-file state is read, besides the critical ones.
    file_states: UnitFilter,
    critical: Vec<String>,
    /// What was read in earlier collections, by object path, when kept (`serve`).
    cache: Option<tokio::sync::Mutex<HashMap<OwnedObjectPath, Kept>>>,
}

impl StatesCollector {
    /// A collector asking `client` about the loaded units `filter` lets through plus
    /// `critical`, the unit-file state of those `file_states` selects and of `critical`; with
    /// `keep`, what it reads of a unit is kept until systemd signals a change.
    pub fn new(
        client: Arc<SystemdClient>,
        filter: UnitFilter,
        file_states: UnitFilter,
        critical: Vec<String>,
        keep: bool,
    ) -> Self {
        Self {
            client,
            filter,
            file_states,
            critical,
            cache: keep.then(|| tokio::sync::Mutex::new(HashMap::new())),
        }
    }

    async fn collect_states(&self) -> Result<MetricSet, Error> {
        let listed = self.client.list_units(&[], &[]).await?;
        let mut units = selected_units(&self.client, listed, &self.filter, &self.critical).await?;
        units.retain(|u| u.load_state == "loaded");
        let mut cache = match &self.cache {
            Some(cache) => {
                let mut cache = cache.lock().await;
                forget(
                    &mut cache,
                    &self.client.unit_changes_for(CHANGES_CALLER).await?,
                );
                Some(cache)
            }
            None => None,
        };
        let kept = |u: &UnitStatus| {
            cache.as_ref().and_then(|c| c.get(&u.path)).filter(|k| {
                k.active_state == u.active_state
                    && k.sub_state == u.sub_state
                    && k.job_id == u.job_id
            })
        };
        let (mut times, mut ask) = (HashMap::new(), Vec::new());
        for unit in &units {
            match kept(unit) {
                Some(k) => {
                    times.insert(unit.name.as_str(), k.times.clone());
                }
                None => ask.push(unit),
            }
        }
        let requests = ask
            .iter()
            .map(|u| {
                let names = if self.file_states.matches(&u.name) || self.critical.contains(&u.name)
                {
                    PROPERTIES
                } else {
                    TIMESTAMPS
                };
                (u.path.clone(), interface::UNIT, names)
            })
            .collect();
        let mut fresh = Vec::new();
        let mut errors = 0;
        for (unit, result) in ask
            .iter()
            .zip(self.client.get_properties_many(requests).await)
        {
            match result {
                Ok(p) => {
                    let t = Times::from_properties(&p);
                    fresh.push((*unit, t.clone()));
                    times.insert(unit.name.as_str(), t);
                }
                Err(e) if !e.is_method_error() => return Err(e.into()),
                Err(e) => {
                    errors += 1;
                    tracing::warn!(unit = %unit.name, error = %sysgauge_common::collector::error_chain(&e), "cannot read the unit's state-change times");
                }
            }
        }
        if let Some(cache) = cache.as_mut() {
            // What changed while it was read is not kept: it may be from before the change.
            let changes = self.client.unit_changes_for(CHANGES_CALLER).await?;
            forget(cache, &changes);
            for (unit, t) in fresh {
                if !changes.includes(&unit.path) {
                    cache.insert(
                        unit.path.clone(),
                        Kept {
                            active_state: unit.active_state.clone(),
                            sub_state: unit.sub_state.clone(),
                            job_id: unit.job_id,
                            times: t,
                        },
                    );
                }
            }
        }

        let mut set = MetricSet::new();
        for unit in &units {
            if let Some(t) = times.get(unit.name.as_str()) {
                report(&mut set, &unit.name, unit.unit_type(), t);
            }
        }
        set.add(&STATE_PROPERTY_ERRORS, [] as [&str; 0], f64::from(errors));
        Ok(set)
    }
}

/// Drops what systemd signalled a change of.
fn forget(cache: &mut HashMap<OwnedObjectPath, Kept>, changes: &UnitChanges) {
    match changes {
        UnitChanges::All => cache.clear(),
        UnitChanges::Units(paths) => cache.retain(|path, _| !paths.contains(path)),
    }
}

fn report(set: &mut MetricSet, name: &str, kind: &str, t: &Times) {
    for (desc, ts) in [
        (&UNIT_ACTIVE_ENTER, t.active_enter),
        (&UNIT_ACTIVE_EXIT, t.active_exit),
        (&UNIT_INACTIVE_ENTER, t.inactive_enter),
        (&UNIT_INACTIVE_EXIT, t.inactive_exit),
    ] {
        if let Some(ts) = ts {
            set.add(desc, [name, kind], ts);
        }
    }
    if !t.file_state.is_empty() {
        set.add(&UNIT_FILE_INFO, [name, kind, t.file_state.as_str()], 1.0);
    }
}

#[async_trait]
impl Collector for StatesCollector {
    fn name(&self) -> &'static str {
        "states"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        Ok(self.collect_states().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysgauge_dbus::zbus::zvariant::{OwnedValue, Value};

    #[test]
    fn never_is_no_series_and_an_empty_file_state_is_no_info() {
        let p = Properties(
            [
                ("ActiveEnterTimestamp", Value::U64(1_700_000_000_250_000)),
                ("ActiveExitTimestamp", Value::U64(0)),
                ("InactiveExitTimestamp", Value::U64(1_699_999_999_000_000)),
                ("UnitFileState", Value::from("")),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), OwnedValue::try_from(v).unwrap()))
            .collect(),
        );
        let mut set = MetricSet::new();
        report(&mut set, "a.mount", "mount", &Times::from_properties(&p));
        assert_eq!(
            set.get(
                UNIT_ACTIVE_ENTER.name(),
                &[("name", "a.mount"), ("type", "mount")]
            ),
            Some(1_700_000_000.25)
        );
        assert_eq!(set.get(UNIT_ACTIVE_EXIT.name(), &[]), None);
        assert_eq!(set.get(UNIT_INACTIVE_ENTER.name(), &[]), None);
        assert_eq!(
            set.get(UNIT_INACTIVE_EXIT.name(), &[]),
            Some(1_699_999_999.0)
        );
        assert_eq!(set.get(UNIT_FILE_INFO.name(), &[]), None);
    }
}
