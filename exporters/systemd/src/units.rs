//! The `units` collector: unit, service, timer and socket state from systemd over D-Bus.
//!
//! One collection is:
//!
//! 1. `Manager.GetAll` (system state, version) and `ListUnitsByPatterns` (every unit's
//!    load, active and sub state), concurrently;
//! 2. the include and exclude patterns, plus `ListUnitsByNames` for critical units that
//!    systemd does not have loaded, so that a missing critical unit shows up as `not-found`;
//! 3. per loaded service, timer and socket, its type-specific properties, with bounded
//!    concurrency on the one connection, each reply decoded at once into a small struct of
//!    the fields reported:
//!    - services: five `Get`s (`Result`, `ExecMainStatus`, `NRestarts`,
//!      `ExecMainStartTimestamp`, `ExecMainExitTimestamp`), plus `TasksCurrent`,
//!      `CPUUsageNSec` and `MemoryCurrent` for units whose processes may run. systemd is
//!      single-threaded, and one `GetAll` on a service costs it ~0.3 ms (it serialises ~250
//!      properties and reads a dozen cgroup files) against ~12 µs per `Get`; through
//!      dbus-daemon, which adds tens of µs per message, the `Get`s are still faster;
//!    - timers and sockets: one `GetAll` (their interfaces are small);
//! 4. the units that timers trigger and that were not already read (excluded by the patterns).
//!
//! In `serve` ([`UnitsCollector::new`] with `keep`) step 3 skips what is kept from earlier
//! collections: services' and timers' properties stay until systemd signals a change of the
//! unit ([`SystemdClient::unit_changes`], asked right after the listing, whose answer is the
//! barrier: every change systemd made before it is known then). A unit that changes while it is
//! being read is not kept. The accounting values of running services and the sockets' counters
//! change without a signal and are read every time.
//!
//! bench/systemd.sh and `cargo run --release -p sysgauge-dbus --example probe` have the
//! figures behind these choices.
//!
//! A broken bus fails the collection (the deadline in common bounds it); a unit that could not
//! be read is counted in `sysgauge_systemd_property_errors` and logged.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use async_trait::async_trait;
use regex::Regex;
use sysgauge_common::{BoxError, Collector, MetricSet};
use sysgauge_dbus::{
    Properties, ServiceStatus, SocketStatus, SystemdClient, TimerStatus, UnitChanges, UnitStatus,
    accounting_value, interface, next_elapse_seconds, status, usec_to_seconds,
    zbus::zvariant::{OwnedObjectPath, Type},
};

use crate::{error::Error, metrics::*};

/// The active states reported as one series each for every unit (what alerts match on).
pub(crate) const ACTIVE_STATES: [&str; 5] =
    ["active", "activating", "deactivating", "inactive", "failed"];
/// The services' `Result` values that get a series each for every service (and every timer's
/// triggered unit): the ones alerts match on. A rarer value (`resources`, `protocol`,
/// `watchdog`, `start-limit-hit`, `exec-condition`, ...) gets a series only while it is the
/// result, so that a unit's series stay the same across its runs.
pub(crate) const RESULTS: [&str; 6] = [
    "success",
    "exit-code",
    "signal",
    "core-dump",
    "timeout",
    "oom-kill",
];
/// The manager's `SystemState` values.
pub(crate) const SYSTEM_STATES: [&str; 7] = [
    "initializing",
    "starting",
    "running",
    "degraded",
    "maintenance",
    "stopping",
    "offline",
];

/// Which units are reported.
#[derive(Clone, Debug)]
pub struct UnitFilter {
    include: Regex,
    exclude: Option<Regex>,
}

impl UnitFilter {
    /// A filter from anchored regular expressions: a unit is reported when its whole name
    /// matches one of `include` (all when empty) and none of `exclude`.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, Error> {
        let include = if include.is_empty() {
            any_of("unit include", &[".+".to_owned()])?
        } else {
            any_of("unit include", include)?
        };
        let exclude = if exclude.is_empty() {
            None
        } else {
            Some(any_of("unit exclude", exclude)?)
        };
        Ok(Self { include, exclude })
    }

    /// Whether `name` is reported.
    pub fn matches(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.exclude.as_ref().is_some_and(|e| e.is_match(name))
    }
}

/// The units a collector reports, from the manager's list: those `filter` selects and the
/// `critical` ones. A critical unit that nothing references is not loaded until asked for by
/// name (a timer nobody enabled is the case alerts care about most): those are read by name.
pub(crate) async fn selected_units(
    client: &SystemdClient,
    listed: Vec<UnitStatus>,
    filter: &UnitFilter,
    critical: &[String],
) -> Result<Vec<UnitStatus>, Error> {
    let mut units: Vec<UnitStatus> = listed
        .into_iter()
        .filter(|u| filter.matches(&u.name) || critical.contains(&u.name))
        .collect();
    let missing: Vec<&str> = critical
        .iter()
        .filter(|c| !units.iter().any(|u| &u.name == *c))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        units.extend(client.list_units_by_names(&missing).await?);
    }
    Ok(units)
}

/// `^(?:(?:a)|(?:b))$`, after checking each pattern on its own so that an error names it.
fn any_of(setting: &'static str, patterns: &[String]) -> Result<Regex, Error> {
    for pattern in patterns {
        Regex::new(pattern).map_err(|e| Error::Pattern {
            setting,
            pattern: pattern.clone(),
            message: e.to_string(),
        })?;
    }
    let joined: Vec<String> = patterns.iter().map(|p| format!("(?:{p})")).collect();
    Regex::new(&format!("^(?:{})$", joined.join("|"))).map_err(|e| Error::Pattern {
        setting,
        pattern: patterns.join(", "),
        message: e.to_string(),
    })
}

/// Reads units from systemd on each collection.
#[derive(Debug)]
pub struct UnitsCollector {
    client: Arc<SystemdClient>,
    filter: UnitFilter,
    critical: Vec<String>,
    /// The slices and scopes whose accounting is reported.
    cgroups: UnitFilter,
    /// What was read in earlier collections, when kept (`serve`).
    cache: Option<tokio::sync::Mutex<Cache>>,
}

impl UnitsCollector {
    /// A collector asking `client`, reporting the units `filter` lets through plus `critical`.
    /// With `keep`, what it reads of a unit is kept until systemd says the unit changed
    /// (worth it when collecting again and again, as `serve` does). The slices and scopes
    /// `cgroups` selects have their accounting reported.
    pub fn new(
        client: Arc<SystemdClient>,
        filter: UnitFilter,
        critical: Vec<String>,
        cgroups: UnitFilter,
        keep: bool,
    ) -> Self {
        Self {
            client,
            filter,
            critical,
            cgroups,
            cache: keep.then(|| tokio::sync::Mutex::new(Cache::default())),
        }
    }

    async fn collect_units(&self) -> Result<MetricSet, Error> {
        let start = std::time::Instant::now();
        let (manager, listed) =
            tokio::join!(self.client.manager(), self.client.list_units(&[], &[]));
        let (manager, listed) = (manager?, listed?);
        let mut set = MetricSet::new();
        let cgroup_errors =
            crate::resources::report_cgroups(&mut set, &self.client, &listed, &self.cgroups)
                .await?;

        let mut units = selected_units(&self.client, listed, &self.filter, &self.critical).await?;
        units.sort_by(|a, b| a.name.cmp(&b.name));
        units.dedup_by(|a, b| a.name == b.name);

        let listed_after = start.elapsed();
        // The listing answered: every change systemd made before it is known now (see
        // `SystemdClient::unit_changes`), so the kept units that did not change are current.
        let mut cache = match &self.cache {
            Some(cache) => {
                let mut cache = cache.lock().await;
                cache.forget(&self.client.unit_changes().await?);
                Some(cache)
            }
            None => None,
        };
        let mut read = Read::default();
        self.details(&units, cache.as_deref(), &mut read).await?;

        // Timers' triggered units that the patterns left out: read their results too.
        let wanted: Vec<&str> = read
            .details
            .values()
            .filter_map(|d| match d {
                Detail::Timer(t) => t.unit.as_deref(),
                _ => None,
            })
            .filter(|u| !read.details.contains_key(*u))
            .collect();
        let mut triggered: HashMap<String, Service> = HashMap::new();
        if !wanted.is_empty() {
            let extra = self.client.list_units_by_names(&wanted).await?;
            let mut extra_read = Read::default();
            self.details(&extra, cache.as_deref(), &mut extra_read)
                .await?;
            for (name, detail) in extra_read.details {
                if let Detail::Service(s) = detail {
                    triggered.insert(name, *s);
                }
            }
            read.errors += extra_read.errors;
            read.kept += extra_read.kept;
            read.fresh.append(&mut extra_read.fresh);
        }
        // A unit that changed while it was being read is not kept: what was read may be from
        // before the change.
        if let Some(cache) = cache.as_mut() {
            let changes = self.client.unit_changes().await?;
            cache.forget(&changes);
            cache.keep(std::mem::take(&mut read.fresh), &changes);
        }

        tracing::debug!(
            units = units.len(),
            kept = read.kept,
            list_seconds = listed_after.as_secs_f64(),
            read_seconds = (start.elapsed() - listed_after).as_secs_f64(),
            "read the units; kept = how many came unchanged from earlier collections"
        );
        let details = &read.details;
        report_manager(&mut set, &manager);
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for unit in &units {
            report_unit(&mut set, unit);
            *counts
                .entry((unit.load_state.as_str(), unit.active_state.as_str()))
                .or_default() += 1;
        }
        // Every active state for each load state present, 0 when no unit is in it: a unit
        // passing through a state does not create and drop a series.
        let loads: std::collections::BTreeSet<&str> = counts.keys().map(|(l, _)| *l).collect();
        for load in loads {
            for active in ACTIVE_STATES {
                counts.entry((load, active)).or_default();
            }
        }
        for ((load, active), n) in counts {
            set.add(&UNITS, [load, active], n as f64);
        }
        for name in &self.critical {
            set.add(&UNIT_CRITICAL, [name.as_str()], 1.0);
        }
        for unit in &units {
            match details.get(&unit.name) {
                Some(Detail::Service(p)) => report_service(&mut set, &unit.name, p),
                Some(Detail::Socket(p)) => report_socket(&mut set, &unit.name, p),
                Some(Detail::Timer(t)) => {
                    let target = t.unit.as_deref().unwrap_or_default();
                    let target_service = match details.get(target) {
                        Some(Detail::Service(s)) => Some(&**s),
                        _ => triggered.get(target),
                    };
                    report_timer(&mut set, &unit.name, t, target, target_service);
                }
                _ => {}
            }
        }
        set.add(
            &PROPERTY_ERRORS,
            [] as [&str; 0],
            (read.errors + cgroup_errors) as f64,
        );
        Ok(set)
    }

    /// The type-specific properties of each loaded service, timer and socket into `read`,
    /// from `cache` where it has them. Services are read with `Get`s: one `GetAll` on a
    /// service costs systemd ~0.3 ms (it serialises ~250 properties and reads a dozen cgroup
    /// files) against ~15 µs per `Get`, and even through dbus-daemon five `Get`s are faster.
    async fn details(
        &self,
        units: &[UnitStatus],
        cache: Option<&Cache>,
        read: &mut Read,
    ) -> Result<(), Error> {
        let loaded = |kind: &'static str| {
            units
                .iter()
                .filter(move |u| u.load_state == "loaded" && u.unit_type() == kind)
        };
        let kept = |u: &UnitStatus| cache.and_then(|c| c.get(u)).cloned();

        // Services: what was kept, plus the accounting values of those whose processes may
        // run (systemd does not signal their changes).
        let mut services = Vec::new();
        let mut requests = Vec::new();
        for unit in loaded("service") {
            let kept = match kept(unit) {
                Some(Detail::Service(s)) => Some(*s),
                _ => None,
            };
            read.kept += usize::from(kept.is_some());
            let names = match (&kept, may_run(unit)) {
                (None, false) => SERVICE,
                (None, true) => SERVICE_RUNNING,
                (Some(_), true) => ACCOUNTING,
                (Some(_), false) => &[],
            };
            if !names.is_empty() {
                requests.push((unit.path.clone(), interface::SERVICE, names));
            }
            services.push((unit, kept, !names.is_empty()));
        }
        let mut results = self.client.get_properties_many(requests).await.into_iter();
        for (unit, kept, asked) in services {
            let result = if asked { results.next() } else { None };
            let service = match (kept, result) {
                (Some(kept), None) => Ok(kept),
                (Some(kept), Some(r)) => r.map(|p| kept.with_accounting(&p)),
                (None, Some(r)) => r.map(|p| {
                    let s = for_unit(Service::from_properties(&p), unit);
                    if cache.is_some() {
                        let kept = s.clone().without_accounting();
                        read.fresh
                            .push(Kept::new(unit, Detail::Service(Box::new(kept))));
                    }
                    s
                }),
                (None, None) => continue,
            };
            read.keep(
                unit,
                service
                    .map(|s| Detail::Service(Box::new(s)))
                    .map_err(Box::new),
            )?;
        }

        // Timers: what was kept, the others read; sockets are always read (their
        // connection counts change without a signal).
        let mut timers = Vec::new();
        for unit in loaded("timer") {
            match kept(unit) {
                Some(detail) => {
                    read.details.insert(unit.name.clone(), detail);
                    read.kept += 1;
                }
                None => timers.push(unit),
            }
        }
        let results = self
            .get_all_each(&timers, interface::TIMER, Detail::Timer)
            .await;
        for (unit, detail) in timers.into_iter().zip(results) {
            if let (Ok(d), Some(_)) = (&detail, cache) {
                read.fresh.push(Kept::new(unit, d.clone()));
            }
            read.keep(unit, detail)?;
        }
        let sockets: Vec<&UnitStatus> = loaded("socket").collect();
        let results = self
            .get_all_each(&sockets, interface::SOCKET, Detail::Socket)
            .await;
        for (unit, detail) in sockets.into_iter().zip(results) {
            read.keep(unit, detail)?;
        }
        Ok(())
    }

    /// A typed `GetAll` of `interface` on each of `units`, each reply turned into what is kept
    /// as it comes.
    async fn get_all_each<T, R>(
        &self,
        units: &[&UnitStatus],
        interface: &'static str,
        each: fn(T) -> R,
    ) -> Vec<Result<R, Box<sysgauge_dbus::Error>>>
    where
        T: serde::de::DeserializeOwned + Type + Send + 'static,
    {
        let requests = units.iter().map(|u| (u.path.clone(), interface)).collect();
        self.client
            .get_all_as_many(requests, |r: Result<T, _>| r.map(each).map_err(Box::new))
            .await
    }
}

/// What one collection read: each unit's detail by name, the units that could not be read,
/// and what was read afresh (to keep, when keeping).
#[derive(Debug, Default)]
struct Read {
    details: HashMap<String, Detail>,
    errors: usize,
    /// How many units' properties came from the cache.
    kept: usize,
    fresh: Vec<Kept>,
}

impl Read {
    /// Keeps a unit's detail, or counts and logs why it could not be read; a broken bus
    /// fails the whole collection.
    fn keep(
        &mut self,
        unit: &UnitStatus,
        detail: Result<Detail, Box<sysgauge_dbus::Error>>,
    ) -> Result<(), Error> {
        match detail {
            Ok(d) => {
                self.details.insert(unit.name.clone(), d);
                Ok(())
            }
            Err(e) if !e.is_method_error() => Err(Error::Bus(e)),
            Err(e) => {
                self.errors += 1;
                tracing::warn!(unit = %unit.name, error = %sysgauge_common::collector::error_chain(&e), "cannot read the unit's properties");
                Ok(())
            }
        }
    }
}

/// What `serve` keeps of each unit between collections: the services' and timers' properties
/// that systemd signals changes of, by object path, with the states they were read in. An
/// entry goes when systemd signals a change of the unit; one whose unit is listed in other
/// states than it was read in is not used either (a signal that was never sent).
#[derive(Debug, Default)]
struct Cache {
    units: HashMap<OwnedObjectPath, Kept>,
}

/// One unit's kept detail, with the object path, states and job it was listed with.
#[derive(Debug)]
struct Kept {
    path: OwnedObjectPath,
    active_state: String,
    sub_state: String,
    job_id: u32,
    detail: Detail,
}

impl Kept {
    fn new(unit: &UnitStatus, detail: Detail) -> Kept {
        Kept {
            path: unit.path.clone(),
            active_state: unit.active_state.clone(),
            sub_state: unit.sub_state.clone(),
            job_id: unit.job_id,
            detail,
        }
    }

    /// Whether `unit` is listed as it was when this was read.
    fn listed_as(&self, unit: &UnitStatus) -> bool {
        self.active_state == unit.active_state
            && self.sub_state == unit.sub_state
            && self.job_id == unit.job_id
    }
}

impl Cache {
    fn get(&self, unit: &UnitStatus) -> Option<&Detail> {
        self.units
            .get(&unit.path)
            .filter(|kept| kept.listed_as(unit))
            .map(|kept| &kept.detail)
    }

    fn forget(&mut self, changes: &UnitChanges) {
        match changes {
            UnitChanges::All => self.units.clear(),
            UnitChanges::Units(paths) => {
                for path in paths {
                    self.units.remove(path);
                }
            }
        }
    }

    /// Keeps what was read, except the units in `changes` (they changed while being read).
    fn keep(&mut self, fresh: Vec<Kept>, changes: &UnitChanges) {
        for kept in fresh {
            if !changes.includes(&kept.path) {
                self.units.insert(kept.path.clone(), kept);
            }
        }
    }
}

/// Whether the unit's processes may be running, so that its cgroup's accounting means
/// something; stopped and exited units (a finished oneshot with RemainAfterExit) have none.
fn may_run(unit: &UnitStatus) -> bool {
    matches!(
        unit.active_state.as_str(),
        "active" | "activating" | "deactivating" | "reloading"
    ) && unit.sub_state != "exited"
}

/// The service properties asked with `Get`.
const SERVICE: &[&str] = status::SERVICE_PROPERTIES;
/// The accounting values, asked of services whose processes may run.
const ACCOUNTING: &[&str] = status::ACCOUNTING_PROPERTIES;
/// [`SERVICE`] and [`ACCOUNTING`].
const SERVICE_RUNNING: &[&str] = status::SERVICE_AND_ACCOUNTING_PROPERTIES;

/// What is reported of a service, decoded by sysgauge-dbus (shared with sysgauge-backup).
type Service = ServiceStatus;
/// What is reported of a timer.
type Timer = TimerStatus;
/// What is reported of a socket.
type Socket = SocketStatus;

/// A service's status with accounting only while its processes may run.
fn for_unit(service: Service, unit: &UnitStatus) -> Service {
    if may_run(unit) {
        service
    } else {
        service.without_accounting()
    }
}

/// systemd's "not set" for accounting values left out.
fn accounting(v: Option<u64>) -> Option<u64> {
    v.and_then(accounting_value)
}

/// A wall-clock timestamp in microseconds as Unix seconds; `None` for never or infinity.
fn seconds(usec: Option<u64>) -> Option<f64> {
    usec.and_then(usec_to_seconds)
}

/// What was read about one unit, by type.
#[derive(Clone, Debug)]
enum Detail {
    /// Boxed: a service's properties are several times a timer's or a socket's.
    Service(Box<Service>),
    Timer(Timer),
    Socket(Socket),
}

#[async_trait]
impl Collector for UnitsCollector {
    fn name(&self) -> &'static str {
        "units"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        Ok(self.collect_units().await?)
    }
}

fn report_manager(set: &mut MetricSet, manager: &Properties) {
    let state = manager.str("SystemState").unwrap_or("unknown");
    for s in SYSTEM_STATES {
        set.add(&SYSTEM_STATE, [s], f64::from(u8::from(s == state)));
    }
    if !SYSTEM_STATES.contains(&state) {
        set.add(&SYSTEM_STATE, [state], 1.0);
    }
    if let Some(n) = manager.u64("NFailedUnits") {
        set.add(&FAILED_UNITS, [] as [&str; 0], n as f64);
    }
    set.add(
        &MANAGER_INFO,
        [
            manager.str("Version").unwrap_or_default(),
            manager.str("Virtualization").unwrap_or_default(),
        ],
        1.0,
    );
}

fn report_unit(set: &mut MetricSet, unit: &UnitStatus) {
    let (name, kind) = (unit.name.as_str(), unit.unit_type());
    for s in ACTIVE_STATES {
        set.add(
            &UNIT_STATE,
            [name, kind, s],
            f64::from(u8::from(s == unit.active_state)),
        );
    }
    // reloading and maintenance are short-lived; they get a series only while they last.
    if !ACTIVE_STATES.contains(&unit.active_state.as_str()) {
        set.add(&UNIT_STATE, [name, kind, unit.active_state.as_str()], 1.0);
    }
    // No active or sub state here: they change with every run, and each change would make
    // new series (the active state is the state set above).
    set.add(&UNIT_INFO, [name, kind, unit.load_state.as_str()], 1.0);
}

fn report_service(set: &mut MetricSet, name: &str, s: &Service) {
    if let Some(result) = &s.result {
        report_result(set, &SERVICE_RESULT, [name], result);
    }
    if let Some(n) = s.restarts {
        set.add(&SERVICE_RESTARTS, [name], f64::from(n));
    }
    if let Some(t) = seconds(s.start_usec) {
        set.add(&SERVICE_LAST_START, [name], t);
    }
    if let Some(t) = seconds(s.exit_usec) {
        set.add(&SERVICE_LAST_EXIT, [name], t);
        // Only meaningful once the main process has exited at least once.
        if let Some(status) = s.exit_status {
            set.add(&SERVICE_EXIT_STATUS, [name], f64::from(status));
        }
    }
    if let Some(n) = accounting(s.tasks) {
        set.add(&SERVICE_TASKS, [name], n as f64);
    }
    if let Some(ns) = accounting(s.cpu_nsec) {
        set.add(&SERVICE_CPU, [name], ns as f64 / 1e9);
    }
    if let Some(bytes) = accounting(s.memory) {
        set.add(&SERVICE_MEMORY, [name], bytes as f64);
    }
    crate::resources::report_service(set, name, s);
}

/// A `Result` as a state set: [`RESULTS`] one series each, a rarer value while it lasts.
fn report_result<const N: usize, const M: usize>(
    set: &mut MetricSet,
    desc: &sysgauge_common::metrics::Desc<M>,
    labels: [&str; N],
    result: &str,
) {
    let with = |value: &str| -> [String; M] {
        std::array::from_fn(|i| labels.get(i).copied().unwrap_or(value).to_owned())
    };
    for r in RESULTS {
        set.add(desc, with(r), f64::from(u8::from(r == result)));
    }
    if !RESULTS.contains(&result) {
        set.add(desc, with(result), 1.0);
    }
}

fn report_socket(set: &mut MetricSet, name: &str, s: &Socket) {
    if let Some(n) = s.accepted {
        set.add(&SOCKET_ACCEPTED, [name], f64::from(n));
    }
    if let Some(n) = s.connections {
        set.add(&SOCKET_CONNECTIONS, [name], f64::from(n));
    }
    if let Some(n) = s.refused {
        set.add(&SOCKET_REFUSED, [name], f64::from(n));
    }
}

fn report_timer(
    set: &mut MetricSet,
    name: &str,
    t: &Timer,
    target: &str,
    target_service: Option<&Service>,
) {
    if let Some(ts) = seconds(t.last_trigger_usec) {
        set.add(&TIMER_LAST_TRIGGER, [name], ts);
    }
    if let Some(ts) = next_elapse_seconds(t.next_realtime_usec, t.next_monotonic_usec) {
        set.add(&TIMER_NEXT_ELAPSE, [name], ts);
    }
    if let Some(result) = target_service.and_then(|s| s.result.as_deref()) {
        report_result(set, &TIMER_UNIT_RESULT, [name, target], result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysgauge_dbus::Properties;

    fn props(values: &[(&str, u64)]) -> Properties {
        values.iter().copied().collect()
    }

    #[test]
    fn filter_is_anchored_and_exclude_wins() {
        let f = UnitFilter::new(
            &["ssh.*".into(), "nginx\\.service".into()],
            &[".+\\.socket".into()],
        )
        .unwrap();
        assert!(f.matches("ssh.service"));
        assert!(f.matches("nginx.service"));
        assert!(!f.matches("ssh.socket"), "exclude wins");
        assert!(
            !f.matches("my-nginx.service"),
            "include is anchored at the start"
        );
        assert!(
            !f.matches("nginx.service.d"),
            "include is anchored at the end"
        );
        let all = UnitFilter::new(&[], &[]).unwrap();
        assert!(all.matches("anything.mount"));
    }

    #[test]
    fn bad_pattern_names_itself_and_its_setting() {
        let err = UnitFilter::new(&["ok".into(), "bad(".into()], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"bad(\""), "{err}");
        assert!(err.contains("unit include"), "{err}");
    }

    #[test]
    fn service_exit_status_only_after_an_exit_and_not_set_accounting_is_left_out() {
        let mut p = props(&[
            ("NRestarts", 2),
            ("ExecMainStartTimestamp", 1_700_000_000_000_000),
            ("ExecMainExitTimestamp", 0),
            ("CPUUsageNSec", u64::MAX),
            ("MemoryCurrent", 1 << 20),
        ]);
        p.0.insert("NRestarts".into(), 2u32.into());
        p.0.insert("ExecMainStatus".into(), 0i32.into());
        p.0.insert(
            "Result".into(),
            sysgauge_dbus::zbus::zvariant::Value::from("success")
                .try_into()
                .unwrap(),
        );
        let mut set = MetricSet::new();
        report_service(&mut set, "a.service", &Service::from_properties(&p));
        assert_eq!(
            set.get(SERVICE_RESTARTS.name(), &[("name", "a.service")]),
            Some(2.0)
        );
        assert_eq!(set.get(SERVICE_EXIT_STATUS.name(), &[]), None);
        assert_eq!(set.get(SERVICE_CPU.name(), &[]), None);
        assert_eq!(set.get(SERVICE_MEMORY.name(), &[]), Some(1048576.0));
        assert_eq!(
            set.get(SERVICE_RESULT.name(), &[("result", "success")]),
            Some(1.0)
        );
        assert_eq!(
            set.get(SERVICE_RESULT.name(), &[("result", "oom-kill")]),
            Some(0.0)
        );
    }

    #[test]
    fn results_are_a_state_set_with_rare_values_only_while_they_last() {
        let service = |r: &str| Service {
            result: Some(r.into()),
            ..Service::default()
        };
        let series = |r: &str| {
            let mut set = MetricSet::new();
            report_service(&mut set, "a.service", &service(r));
            report_timer(
                &mut set,
                "a.timer",
                &Timer::default(),
                "a.service",
                Some(&service(r)),
            );
            set
        };
        let (ok, failed, rare) = (
            series("success"),
            series("exit-code"),
            series("start-limit-hit"),
        );
        for r in RESULTS {
            let want = f64::from(u8::from(r == "exit-code"));
            assert_eq!(
                failed.get(SERVICE_RESULT.name(), &[("result", r)]),
                Some(want)
            );
            assert_eq!(
                failed.get(
                    TIMER_UNIT_RESULT.name(),
                    &[("name", "a.timer"), ("unit", "a.service"), ("result", r)]
                ),
                Some(want)
            );
            assert_eq!(
                ok.get(SERVICE_RESULT.name(), &[("result", r)]),
                Some(f64::from(u8::from(r == "success")))
            );
            assert_eq!(rare.get(SERVICE_RESULT.name(), &[("result", r)]), Some(0.0));
        }
        assert_eq!(
            rare.get(SERVICE_RESULT.name(), &[("result", "start-limit-hit")]),
            Some(1.0)
        );
        assert_eq!(
            ok.get(SERVICE_RESULT.name(), &[("result", "start-limit-hit")]),
            None
        );
    }

    #[test]
    fn typed_get_all_keeps_the_wanted_fields_and_skips_the_rest() {
        use sysgauge_dbus::zbus::zvariant::{
            Endian, Value,
            serialized::{Context, Data},
            to_bytes,
        };
        let mut all: HashMap<&str, Value<'_>> = HashMap::new();
        all.insert("Result", Value::from("exit-code"));
        all.insert("ExecMainStatus", Value::I32(3));
        all.insert("NRestarts", Value::U32(4));
        all.insert("MemoryCurrent", Value::U64(u64::MAX));
        // Unknown properties of other types, nested ones too, are skipped.
        all.insert("ExecStart", Value::from(vec!["/bin/true", "x"]));
        all.insert("Slice", Value::from("system.slice"));
        let ctx = Context::new_dbus(Endian::Little, 0);
        let bytes = to_bytes(ctx, &all).unwrap();
        let data = Data::new(bytes.bytes(), ctx);
        let (s, _): (Service, _) = data.deserialize().unwrap();
        assert_eq!(s.result.as_deref(), Some("exit-code"));
        assert_eq!(s.exit_status, Some(3));
        assert_eq!(s.restarts, Some(4));
        assert_eq!(accounting(s.memory), None);
        assert_eq!(s.start_usec, None);
    }

    /// A listed unit `name` in these states, at `/name`.
    fn listed(name: &str, active: &str, sub: &str) -> UnitStatus {
        UnitStatus {
            name: name.into(),
            description: String::new(),
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: sub.into(),
            following: String::new(),
            path: format!("/{}", name.replace('.', "_")).try_into().unwrap(),
            job_id: 0,
            job_type: String::new(),
            job_path: "/".try_into().unwrap(),
        }
    }

    fn result(detail: Option<&Detail>) -> Option<&str> {
        match detail {
            Some(Detail::Service(s)) => s.result.as_deref(),
            _ => None,
        }
    }

    #[test]
    fn cache_keeps_until_a_change_and_only_for_the_states_it_was_read_in() {
        let service = |r: &str| {
            Detail::Service(Box::new(Service {
                result: Some(r.into()),
                ..Service::default()
            }))
        };
        let (a, b) = (
            listed("a.service", "failed", "failed"),
            listed("b.service", "active", "exited"),
        );
        let path = |u: &UnitStatus| UnitChanges::Units([u.path.clone()].into());
        let mut cache = Cache::default();

        // b changed while it was being read: only a is kept.
        cache.keep(
            vec![
                Kept::new(&a, service("exit-code")),
                Kept::new(&b, service("success")),
            ],
            &path(&b),
        );
        assert_eq!(result(cache.get(&a)), Some("exit-code"));
        assert!(cache.get(&b).is_none());

        // Listed in other states than it was read in (a signal never came): not used.
        assert!(
            cache
                .get(&listed("a.service", "inactive", "dead"))
                .is_none()
        );
        let mut queued = a.clone();
        queued.job_id = 7;
        assert!(cache.get(&queued).is_none());

        // A change of another unit leaves a; a change of a, or of everything, drops it.
        cache.forget(&path(&b));
        assert!(cache.get(&a).is_some());
        cache.forget(&path(&a));
        assert!(cache.get(&a).is_none());
        cache.keep(vec![Kept::new(&a, service("exit-code"))], &path(&b));
        cache.forget(&UnitChanges::All);
        assert!(cache.get(&a).is_none());
        // Nothing read while everything changed is kept.
        cache.keep(vec![Kept::new(&a, service("exit-code"))], &UnitChanges::All);
        assert!(cache.get(&a).is_none());
    }

    #[test]
    fn accounting_only_while_processes_may_run() {
        let unit = |active: &str, sub: &str| listed("a.service", active, sub);
        assert!(may_run(&unit("active", "running")));
        assert!(may_run(&unit("deactivating", "stop-sigterm")));
        assert!(!may_run(&unit("active", "exited")));
        assert!(!may_run(&unit("failed", "failed")));
        let s = for_unit(
            Service {
                tasks: Some(1),
                memory: Some(10),
                cpu_nsec: Some(5),
                ..Service::default()
            },
            &unit("inactive", "dead"),
        );
        assert_eq!((s.tasks, s.memory, s.cpu_nsec), (None, None, None));
    }
}
