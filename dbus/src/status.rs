//! The typed status of services, timers and sockets: the properties the exporters report,
//! decoded in one place for sysgauge-systemd and sysgauge-backup alike.
//!
//! Each struct has the `a{sv}` signature, so a `GetAll` reply decodes straight into it
//! ([`SystemdClient::get_all_as`](crate::SystemdClient::get_all_as)), keeping only these
//! fields; [`ServiceStatus::from_properties`] builds one from the `Get`s that are cheaper for
//! services ([`SERVICE_PROPERTIES`]). A property of another type than systemd documents (a
//! different systemd, a broken peer) is left out, never a panic.

use serde::Deserialize;
use zbus::zvariant::{Type, as_value};

use crate::{
    Properties, accounting_value, next_elapse_seconds,
    resources::{ResourceCounters, ResourceLimits},
    usec_to_seconds,
};

/// The service properties of [`ServiceStatus`] without the accounting values: what a service
/// says about its last run, which changes only with a signal.
pub const SERVICE_PROPERTIES: &[&str] = &[
    "Result",
    "ExecMainStatus",
    "NRestarts",
    "ExecMainStartTimestamp",
    "ExecMainExitTimestamp",
];
/// The accounting values of [`ServiceStatus`], which change without a signal while its
/// processes run: tasks, CPU, memory and the [`COUNTER_PROPERTIES`](crate::resources::COUNTER_PROPERTIES).
pub const ACCOUNTING_PROPERTIES: &[&str] = &[
    "TasksCurrent",
    "CPUUsageNSec",
    "MemoryCurrent",
    "IOReadBytes",
    "IOWriteBytes",
    "IPIngressBytes",
    "IPEgressBytes",
    "IPIngressPackets",
    "IPEgressPackets",
    "MemoryPeak",
];
/// [`SERVICE_PROPERTIES`], [`ACCOUNTING_PROPERTIES`] and the
/// [`LIMIT_PROPERTIES`](crate::resources::LIMIT_PROPERTIES): what is asked of a service whose
/// processes may run, read for the first time.
pub const SERVICE_AND_ACCOUNTING_PROPERTIES: &[&str] = &[
    "Result",
    "ExecMainStatus",
    "NRestarts",
    "ExecMainStartTimestamp",
    "ExecMainExitTimestamp",
    "TasksCurrent",
    "CPUUsageNSec",
    "MemoryCurrent",
    "IOReadBytes",
    "IOWriteBytes",
    "IPIngressBytes",
    "IPEgressBytes",
    "IPIngressPackets",
    "IPEgressPackets",
    "MemoryPeak",
    "MemoryMax",
    "MemoryHigh",
    "MemoryLow",
    "TasksMax",
];

/// A service (`org.freedesktop.systemd1.Service`): its last run and, while it runs, its
/// accounting values. Every field is `None` when systemd did not send it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Type)]
#[zvariant(signature = "a{sv}")]
#[serde(default)]
pub struct ServiceStatus {
    /// `Result`: success, exit-code, signal, timeout, ...
    #[serde(rename = "Result", with = "as_value::optional")]
    pub result: Option<String>,
    /// `ExecMainStatus`: the main process's exit status (or signal number).
    #[serde(rename = "ExecMainStatus", with = "as_value::optional")]
    pub exit_status: Option<i32>,
    /// `NRestarts`: automatic restarts since the service was last started by hand.
    #[serde(rename = "NRestarts", with = "as_value::optional")]
    pub restarts: Option<u32>,
    /// `ExecMainStartTimestamp`, µs since the epoch; 0 for never.
    #[serde(rename = "ExecMainStartTimestamp", with = "as_value::optional")]
    pub start_usec: Option<u64>,
    /// `ExecMainExitTimestamp`, µs since the epoch; 0 for never.
    #[serde(rename = "ExecMainExitTimestamp", with = "as_value::optional")]
    pub exit_usec: Option<u64>,
    /// `TasksCurrent`; `u64::MAX` for not set.
    #[serde(rename = "TasksCurrent", with = "as_value::optional")]
    pub tasks: Option<u64>,
    /// `CPUUsageNSec`; `u64::MAX` for not set.
    #[serde(rename = "CPUUsageNSec", with = "as_value::optional")]
    pub cpu_nsec: Option<u64>,
    /// `MemoryCurrent`; `u64::MAX` for not set.
    #[serde(rename = "MemoryCurrent", with = "as_value::optional")]
    pub memory: Option<u64>,
    /// IO and IP counters and the memory peak, read with the accounting values (not decoded
    /// from a typed `GetAll`).
    #[serde(skip)]
    pub counters: ResourceCounters,
    /// The configured limits, read with the accounting values when a service may run and
    /// kept with its status (not decoded from a typed `GetAll`).
    #[serde(skip)]
    pub limits: ResourceLimits,
}

impl ServiceStatus {
    /// From the properties read with `Get`s (or an untyped `GetAll`).
    pub fn from_properties(p: &Properties) -> ServiceStatus {
        ServiceStatus {
            result: p.str("Result").map(str::to_owned),
            exit_status: p.i64("ExecMainStatus").and_then(|v| i32::try_from(v).ok()),
            restarts: p.u32("NRestarts"),
            start_usec: p.u64("ExecMainStartTimestamp"),
            exit_usec: p.u64("ExecMainExitTimestamp"),
            tasks: p.u64("TasksCurrent"),
            cpu_nsec: p.u64("CPUUsageNSec"),
            memory: p.u64("MemoryCurrent"),
            counters: ResourceCounters::from_properties(p),
            limits: ResourceLimits::from_properties(p),
        }
    }

    /// Without the accounting values and counters (what can be kept between collections);
    /// the limits stay.
    pub fn without_accounting(self) -> ServiceStatus {
        ServiceStatus {
            tasks: None,
            cpu_nsec: None,
            memory: None,
            counters: ResourceCounters::default(),
            ..self
        }
    }

    /// With the accounting values and counters in `p`, read now.
    pub fn with_accounting(self, p: &Properties) -> ServiceStatus {
        ServiceStatus {
            tasks: p.u64("TasksCurrent"),
            cpu_nsec: p.u64("CPUUsageNSec"),
            memory: p.u64("MemoryCurrent"),
            counters: ResourceCounters::from_properties(p),
            ..self
        }
    }

    /// When the last run's main process started, as Unix seconds.
    pub fn start_seconds(&self) -> Option<f64> {
        self.start_usec.and_then(usec_to_seconds)
    }

    /// When the last run's main process exited, as Unix seconds.
    pub fn exit_seconds(&self) -> Option<f64> {
        self.exit_usec.and_then(usec_to_seconds)
    }

    /// `TasksCurrent`, `None` when not set.
    pub fn tasks(&self) -> Option<u64> {
        self.tasks.and_then(accounting_value)
    }

    /// `CPUUsageNSec`, `None` when not set.
    pub fn cpu_nsec(&self) -> Option<u64> {
        self.cpu_nsec.and_then(accounting_value)
    }

    /// `MemoryCurrent`, `None` when not set.
    pub fn memory(&self) -> Option<u64> {
        self.memory.and_then(accounting_value)
    }
}

/// A timer (`org.freedesktop.systemd1.Timer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Type)]
#[zvariant(signature = "a{sv}")]
#[serde(default)]
pub struct TimerStatus {
    /// `Unit`: the unit it starts.
    #[serde(rename = "Unit", with = "as_value::optional")]
    pub unit: Option<String>,
    /// `LastTriggerUSec`, µs since the epoch; 0 for never.
    #[serde(rename = "LastTriggerUSec", with = "as_value::optional")]
    pub last_trigger_usec: Option<u64>,
    /// `NextElapseUSecRealtime`, µs since the epoch.
    #[serde(rename = "NextElapseUSecRealtime", with = "as_value::optional")]
    pub next_realtime_usec: Option<u64>,
    /// `NextElapseUSecMonotonic`, µs since boot.
    #[serde(rename = "NextElapseUSecMonotonic", with = "as_value::optional")]
    pub next_monotonic_usec: Option<u64>,
}

impl TimerStatus {
    /// When it last fired, as Unix seconds.
    pub fn last_trigger_seconds(&self) -> Option<f64> {
        self.last_trigger_usec.and_then(usec_to_seconds)
    }

    /// When it fires next, as Unix seconds ([`next_elapse_seconds`]).
    pub fn next_elapse_seconds(&self) -> Option<f64> {
        next_elapse_seconds(self.next_realtime_usec, self.next_monotonic_usec)
    }
}

/// A socket (`org.freedesktop.systemd1.Socket`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Type)]
#[zvariant(signature = "a{sv}")]
#[serde(default)]
pub struct SocketStatus {
    /// `NAccepted`: connections accepted since it started.
    #[serde(rename = "NAccepted", with = "as_value::optional")]
    pub accepted: Option<u32>,
    /// `NConnections`: connections open now.
    #[serde(rename = "NConnections", with = "as_value::optional")]
    pub connections: Option<u32>,
    /// `NRefused`: connections refused since it started.
    #[serde(rename = "NRefused", with = "as_value::optional")]
    pub refused: Option<u32>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use zbus::zvariant::{
        Endian, Value,
        serialized::{Context, Data},
        to_bytes,
    };

    use super::*;

    fn decode<T: serde::de::DeserializeOwned + Type>(all: &HashMap<&str, Value<'_>>) -> T {
        let ctx = Context::new_dbus(Endian::Little, 0);
        let bytes = to_bytes(ctx, all).unwrap();
        let data = Data::new(bytes.bytes(), ctx);
        data.deserialize().unwrap().0
    }

    #[test]
    fn typed_get_all_keeps_the_wanted_fields_and_skips_the_rest() {
        let mut all: HashMap<&str, Value<'_>> = HashMap::new();
        all.insert("Result", Value::from("exit-code"));
        all.insert("ExecMainStatus", Value::I32(3));
        all.insert("NRestarts", Value::U32(4));
        all.insert("MemoryCurrent", Value::U64(u64::MAX));
        // Unknown properties of other types, nested ones too, are skipped.
        all.insert("ExecStart", Value::from(vec!["/bin/true", "x"]));
        all.insert("Slice", Value::from("system.slice"));
        let s: ServiceStatus = decode(&all);
        assert_eq!(s.result.as_deref(), Some("exit-code"));
        assert_eq!(s.exit_status, Some(3));
        assert_eq!(s.restarts, Some(4));
        assert_eq!(s.memory(), None);
        assert_eq!(s.start_usec, None);
    }

    #[test]
    fn timer_status_decodes_its_properties() {
        let mut all: HashMap<&str, Value<'_>> = HashMap::new();
        all.insert("Unit", Value::from("backup.service"));
        all.insert("LastTriggerUSec", Value::U64(1_700_000_000_000_000));
        all.insert("NextElapseUSecRealtime", Value::U64(0));
        all.insert("Result", Value::from("success"));
        let t: TimerStatus = decode(&all);
        assert_eq!(t.unit.as_deref(), Some("backup.service"));
        assert_eq!(t.last_trigger_seconds(), Some(1_700_000_000.0));
        assert_eq!(t.next_elapse_seconds(), None);
    }

    #[test]
    fn from_properties_matches_the_typed_decoding_and_drops_wrong_types() {
        let mut p = Properties::default();
        p.0.insert("NRestarts".into(), 2u32.into());
        p.0.insert("ExecMainStatus".into(), 1i32.into());
        p.0.insert("ExecMainStartTimestamp".into(), 5u64.into());
        // A wrong type (a broken peer) is left out.
        p.0.insert("ExecMainExitTimestamp".into(), true.into());
        p.0.insert("Result".into(), Value::from("signal").try_into().unwrap());
        let s = ServiceStatus::from_properties(&p);
        assert_eq!(s.restarts, Some(2));
        assert_eq!(s.exit_status, Some(1));
        assert_eq!(s.start_usec, Some(5));
        assert_eq!(s.exit_usec, None);
        assert_eq!(s.result.as_deref(), Some("signal"));
        let mut acc = Properties::default();
        acc.0.insert("TasksCurrent".into(), 3u64.into());
        let s = s.with_accounting(&acc);
        assert_eq!(s.tasks(), Some(3));
        assert_eq!(s.clone().without_accounting().tasks, None);
        assert_eq!(
            SERVICE_AND_ACCOUNTING_PROPERTIES,
            [
                SERVICE_PROPERTIES,
                ACCOUNTING_PROPERTIES,
                crate::resources::LIMIT_PROPERTIES
            ]
            .concat()
        );
        assert_eq!(
            ACCOUNTING_PROPERTIES,
            [
                &["TasksCurrent", "CPUUsageNSec", "MemoryCurrent"][..],
                crate::resources::COUNTER_PROPERTIES
            ]
            .concat()
        );
    }
}
