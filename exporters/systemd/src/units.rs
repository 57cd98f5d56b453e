//! The `units` collector: unit, service, timer and socket state from systemd over D-Bus.
//!
//! One collection is:
//!
//! 1. `Manager.GetAll` (system state, version, clocks) and `ListUnitsByPatterns` (every unit's
//!    load, active and sub state), concurrently;
//! 2. the include and exclude patterns, plus `ListUnitsByNames` for critical units that
//!    systemd does not have loaded, so that a missing critical unit shows up as `not-found`;
//! 3. one `GetAll` per loaded service, timer and socket on its own interface, with bounded
//!    concurrency on the one connection. systemd is single-threaded and `GetAll` on a service
//!    serialises ~250 properties and reads cgroup files, so systemd itself is the bottleneck
//!    of a large collection; five to eight `Get`s per unit
//!    (`SystemdClient::get_properties_many`) cost systemd less CPU but took longer overall
//!    in bench/systemd.sh, so `GetAll` stays;
//! 4. the units that timers trigger and that were not already read (excluded by the patterns).
//!
//! A broken bus fails the collection (the deadline in common bounds it); a unit that could not
//! be read is counted in `sysgauge_systemd_property_errors` and logged.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use regex::Regex;
use sysgauge_common::{BoxError, Collector, MetricSet};
use sysgauge_dbus::{Properties, SystemdClient, UnitStatus, interface};

use crate::{error::Error, metrics::*};

/// The active states reported as one series each for every unit (what alerts match on).
const ACTIVE_STATES: [&str; 5] = ["active", "activating", "deactivating", "inactive", "failed"];
/// The manager's `SystemState` values.
const SYSTEM_STATES: [&str; 7] = [
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
    client: SystemdClient,
    filter: UnitFilter,
    critical: Vec<String>,
}

impl UnitsCollector {
    /// A collector asking `client`, reporting the units `filter` lets through plus `critical`.
    pub fn new(client: SystemdClient, filter: UnitFilter, critical: Vec<String>) -> Self {
        Self {
            client,
            filter,
            critical,
        }
    }

    async fn collect_units(&self) -> Result<MetricSet, Error> {
        let (manager, listed) =
            tokio::join!(self.client.manager(), self.client.list_units(&[], &[]));
        let (manager, listed) = (manager?, listed?);

        let mut units: Vec<UnitStatus> = listed
            .into_iter()
            .filter(|u| self.filter.matches(&u.name) || self.critical.contains(&u.name))
            .collect();
        let missing: Vec<&str> = self
            .critical
            .iter()
            .filter(|c| !units.iter().any(|u| &u.name == *c))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            units.extend(self.client.list_units_by_names(&missing).await?);
        }
        units.sort_by(|a, b| a.name.cmp(&b.name));
        units.dedup_by(|a, b| a.name == b.name);

        let mut errors = 0usize;
        let details = self.details(&units, &mut errors).await?;

        // Timers' triggered units that the patterns left out: read their results too.
        let wanted: Vec<&str> = details
            .values()
            .filter_map(|d| match d {
                Detail::Timer(p) => p.str("Unit"),
                _ => None,
            })
            .filter(|u| !details.contains_key(*u))
            .collect();
        let mut triggered: HashMap<String, Properties> = HashMap::new();
        if !wanted.is_empty() {
            let extra = self.client.list_units_by_names(&wanted).await?;
            let extra_details = self.details(&extra, &mut errors).await?;
            for (name, detail) in extra_details {
                if let Detail::Service(p) | Detail::Other(p) = detail {
                    triggered.insert(name, p);
                }
            }
        }

        let mut set = MetricSet::new();
        report_manager(&mut set, &manager);
        let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for unit in &units {
            report_unit(&mut set, unit);
            *counts
                .entry((unit.load_state.as_str(), unit.active_state.as_str()))
                .or_default() += 1;
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
                Some(Detail::Timer(p)) => {
                    let target = p.str("Unit").unwrap_or_default();
                    let target_props = match details.get(target) {
                        Some(Detail::Service(t) | Detail::Other(t)) => Some(t),
                        _ => triggered.get(target),
                    };
                    report_timer(&mut set, &unit.name, p, target, target_props, &manager);
                }
                _ => {}
            }
        }
        set.add(&PROPERTY_ERRORS, [] as [&str; 0], errors as f64);
        Ok(set)
    }

    /// The type-specific properties of each loaded service, timer and socket (and the `Unit`
    /// properties of other units only when asked for as a timer's target), by unit name.
    async fn details(
        &self,
        units: &[UnitStatus],
        errors: &mut usize,
    ) -> Result<HashMap<String, Detail>, Error> {
        let asks: Vec<(&UnitStatus, &'static str)> = units
            .iter()
            .filter(|u| u.load_state == "loaded")
            .filter_map(|u| {
                let iface = match u.unit_type() {
                    "service" => interface::SERVICE,
                    "timer" => interface::TIMER,
                    "socket" => interface::SOCKET,
                    _ => return None,
                };
                Some((u, iface))
            })
            .collect();
        let requests = asks.iter().map(|(u, i)| (u.path.clone(), *i)).collect();
        let results = self.client.get_all_many(requests).await;
        let mut out = HashMap::with_capacity(asks.len());
        for ((unit, iface), result) in asks.into_iter().zip(results) {
            match result {
                Ok(p) => {
                    let detail = match iface {
                        interface::SERVICE => Detail::Service(p),
                        interface::TIMER => Detail::Timer(p),
                        interface::SOCKET => Detail::Socket(p),
                        _ => Detail::Other(p),
                    };
                    out.insert(unit.name.clone(), detail);
                }
                // The bus itself failed: the whole collection is unreliable.
                Err(e) if !e.is_method_error() => return Err(e.into()),
                Err(e) => {
                    *errors += 1;
                    tracing::warn!(unit = %unit.name, error = %sysgauge_common::collector::error_chain(&e), "cannot read the unit's properties");
                }
            }
        }
        Ok(out)
    }
}

/// What was read about one unit, by type.
#[derive(Debug)]
enum Detail {
    Service(Properties),
    Timer(Properties),
    Socket(Properties),
    Other(Properties),
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
    set.add(
        &UNIT_INFO,
        [
            name,
            kind,
            unit.load_state.as_str(),
            unit.active_state.as_str(),
            unit.sub_state.as_str(),
        ],
        1.0,
    );
}

fn report_service(set: &mut MetricSet, name: &str, p: &Properties) {
    if let Some(result) = p.str("Result") {
        set.add(&SERVICE_RESULT, [name, result], 1.0);
    }
    if let Some(n) = p.u64("NRestarts") {
        set.add(&SERVICE_RESTARTS, [name], n as f64);
    }
    if let Some(t) = p.timestamp_seconds("ExecMainStartTimestamp") {
        set.add(&SERVICE_LAST_START, [name], t);
    }
    if let Some(t) = p.timestamp_seconds("ExecMainExitTimestamp") {
        set.add(&SERVICE_LAST_EXIT, [name], t);
        // Only meaningful once the main process has exited at least once.
        if let Some(status) = p.i64("ExecMainStatus") {
            set.add(&SERVICE_EXIT_STATUS, [name], status as f64);
        }
    }
    if let Some(n) = p.accounting("TasksCurrent") {
        set.add(&SERVICE_TASKS, [name], n as f64);
    }
    if let Some(ns) = p.accounting("CPUUsageNSec") {
        set.add(&SERVICE_CPU, [name], ns as f64 / 1e9);
    }
    if let Some(bytes) = p.accounting("MemoryCurrent") {
        set.add(&SERVICE_MEMORY, [name], bytes as f64);
    }
}

fn report_socket(set: &mut MetricSet, name: &str, p: &Properties) {
    if let Some(n) = p.u64("NAccepted") {
        set.add(&SOCKET_ACCEPTED, [name], n as f64);
    }
    if let Some(n) = p.u64("NConnections") {
        set.add(&SOCKET_CONNECTIONS, [name], n as f64);
    }
    if let Some(n) = p.u64("NRefused") {
        set.add(&SOCKET_REFUSED, [name], n as f64);
    }
}

fn report_timer(
    set: &mut MetricSet,
    name: &str,
    p: &Properties,
    target: &str,
    target_props: Option<&Properties>,
    manager: &Properties,
) {
    if let Some(t) = p.timestamp_seconds("LastTriggerUSec") {
        set.add(&TIMER_LAST_TRIGGER, [name], t);
    }
    if let Some(t) = next_elapse(p, manager) {
        set.add(&TIMER_NEXT_ELAPSE, [name], t);
    }
    if let Some(result) = target_props.and_then(|t| t.str("Result")) {
        set.add(&TIMER_UNIT_RESULT, [name, target, result], 1.0);
    }
}

/// The next elapse as a Unix timestamp: the calendar time when the timer has one, else the
/// monotonic time moved onto the wall clock with the manager's own pair of timestamps for the
/// same instant (`UserspaceTimestamp` and `UserspaceTimestampMonotonic`). The earlier of the
/// two when both are set, as systemd fires at the earlier.
fn next_elapse(timer: &Properties, manager: &Properties) -> Option<f64> {
    let valid = |v: u64| v != 0 && v != u64::MAX;
    let realtime = timer.u64("NextElapseUSecRealtime").filter(|v| valid(*v));
    let monotonic = timer
        .u64("NextElapseUSecMonotonic")
        .filter(|v| valid(*v))
        .and_then(|mono| {
            let wall = manager.u64("UserspaceTimestamp").filter(|v| valid(*v))?;
            let wall_mono = manager.u64("UserspaceTimestampMonotonic")?;
            Some((wall as i128 + mono as i128 - wall_mono as i128).max(0) as u64)
        });
    let usec = match (realtime, monotonic) {
        (Some(r), Some(m)) => r.min(m),
        (r, m) => r.or(m)?,
    };
    Some(usec as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysgauge_dbus::Properties;

    fn props(values: &[(&str, u64)]) -> Properties {
        Properties(
            values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).into()))
                .collect(),
        )
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
    fn next_elapse_converts_monotonic_and_takes_the_earlier() {
        let manager = props(&[
            ("UserspaceTimestamp", 1_700_000_000_000_000),
            ("UserspaceTimestampMonotonic", 5_000_000),
        ]);
        let mono = props(&[
            ("NextElapseUSecRealtime", 0),
            ("NextElapseUSecMonotonic", 65_000_000),
        ]);
        assert_eq!(next_elapse(&mono, &manager), Some(1_700_000_060.0));
        let both = props(&[
            ("NextElapseUSecRealtime", 1_700_000_030_000_000),
            ("NextElapseUSecMonotonic", 65_000_000),
        ]);
        assert_eq!(next_elapse(&both, &manager), Some(1_700_000_030.0));
        let never = props(&[
            ("NextElapseUSecRealtime", u64::MAX),
            ("NextElapseUSecMonotonic", 0),
        ]);
        assert_eq!(next_elapse(&never, &manager), None);
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
        p.0.insert("ExecMainStatus".into(), 0i32.into());
        p.0.insert(
            "Result".into(),
            sysgauge_dbus::zbus::zvariant::Value::from("success")
                .try_into()
                .unwrap(),
        );
        let mut set = MetricSet::new();
        report_service(&mut set, "a.service", &p);
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
    }
}
