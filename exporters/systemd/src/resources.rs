//! Where the resources go: services' IO and IP counters, memory peak and limits, and the
//! accounting of slices and scopes.
//!
//! Services' values come in the same `Get`s as their CPU, memory and tasks (see `units`):
//! the counters with the accounting values while the service's processes may run, the limits
//! once with them (they are kept in `serve` until systemd signals a change). Slices and scopes
//! are read on every collection, one `Get` per property, for the few that `--cgroup-include`
//! selects (by default `system.slice`, `user.slice`, `machine.slice`): scopes come and go with
//! login sessions and containers, so they are only reported when a pattern asks for them.
//!
//! Every value systemd reports as not set (accounting off, a controller this cgroup setup
//! lacks, a limit of `infinity`) is left out, never reported as 0.

use sysgauge_common::MetricSet;
use sysgauge_dbus::{ServiceStatus, SystemdClient, UnitStatus, interface};

use crate::{error::Error, metrics::*, units::UnitFilter};

/// The properties read of each slice and scope.
const CGROUP_PROPERTIES: &[&str] = &[
    "TasksCurrent",
    "CPUUsageNSec",
    "MemoryCurrent",
    "IOReadBytes",
    "IOWriteBytes",
];

/// The default `--cgroup-include`: the slices systemd itself sets up.
pub const DEFAULT_CGROUP_INCLUDE: &str = r"(system|user|machine)\.slice";

/// A service's IO and IP counters, memory peak and limits.
pub(crate) fn report_service(set: &mut MetricSet, name: &str, s: &ServiceStatus) {
    let c = &s.counters;
    let l = &s.limits;
    for (desc, value) in [
        (&SERVICE_IO_READ, c.io_read_bytes),
        (&SERVICE_IO_WRITE, c.io_write_bytes),
        (&SERVICE_IP_INGRESS_BYTES, c.ip_ingress_bytes),
        (&SERVICE_IP_EGRESS_BYTES, c.ip_egress_bytes),
        (&SERVICE_IP_INGRESS_PACKETS, c.ip_ingress_packets),
        (&SERVICE_IP_EGRESS_PACKETS, c.ip_egress_packets),
        (&SERVICE_MEMORY_PEAK, c.memory_peak),
        (&SERVICE_MEMORY_MAX, l.memory_max),
        (&SERVICE_MEMORY_HIGH, l.memory_high),
        (&SERVICE_MEMORY_LOW, l.memory_low),
        (&SERVICE_TASKS_MAX, l.tasks_max),
    ] {
        if let Some(v) = value {
            set.add(desc, [name], v as f64);
        }
    }
}

/// Reads and reports the accounting of the loaded, active slices and scopes among `units` that
/// `filter` selects; returns how many could not be read (each is logged). A broken bus fails
/// the collection.
pub(crate) async fn report_cgroups(
    set: &mut MetricSet,
    client: &SystemdClient,
    units: &[UnitStatus],
    filter: &UnitFilter,
) -> Result<usize, Error> {
    let selected: Vec<&UnitStatus> = units
        .iter()
        .filter(|u| {
            u.load_state == "loaded"
                && u.active_state == "active"
                && matches!(u.unit_type(), "slice" | "scope")
                && filter.matches(&u.name)
        })
        .collect();
    if selected.is_empty() {
        return Ok(0);
    }
    let requests = selected
        .iter()
        .map(|u| {
            let iface = if u.unit_type() == "slice" {
                interface::SLICE
            } else {
                interface::SCOPE
            };
            (u.path.clone(), iface, CGROUP_PROPERTIES)
        })
        .collect();
    let mut errors = 0;
    for (unit, result) in selected
        .iter()
        .zip(client.get_properties_many(requests).await)
    {
        let p = match result {
            Ok(p) => p,
            Err(e) if !e.is_method_error() => return Err(Error::Bus(Box::new(e))),
            Err(e) => {
                errors += 1;
                tracing::warn!(unit = %unit.name, error = %sysgauge_common::collector::error_chain(&e), "cannot read the cgroup's accounting");
                continue;
            }
        };
        let labels = [unit.name.as_str(), unit.unit_type()];
        if let Some(n) = p.accounting("TasksCurrent") {
            set.add(&CGROUP_TASKS, labels, n as f64);
        }
        if let Some(ns) = p.accounting("CPUUsageNSec") {
            set.add(&CGROUP_CPU, labels, ns as f64 / 1e9);
        }
        for (desc, property) in [
            (&CGROUP_MEMORY, "MemoryCurrent"),
            (&CGROUP_IO_READ, "IOReadBytes"),
            (&CGROUP_IO_WRITE, "IOWriteBytes"),
        ] {
            if let Some(v) = p.accounting(property) {
                set.add(desc, labels, v as f64);
            }
        }
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysgauge_dbus::{ResourceCounters, ResourceLimits};

    #[test]
    fn not_set_values_have_no_series() {
        let s = ServiceStatus {
            counters: ResourceCounters {
                io_write_bytes: Some(1 << 20),
                ip_ingress_packets: Some(0),
                ..ResourceCounters::default()
            },
            limits: ResourceLimits {
                memory_max: Some(64 << 20),
                ..ResourceLimits::default()
            },
            ..ServiceStatus::default()
        };
        let mut set = MetricSet::new();
        report_service(&mut set, "a.service", &s);
        let name = [("name", "a.service")];
        assert_eq!(set.get(SERVICE_IO_WRITE.name(), &name), Some(1048576.0));
        assert_eq!(set.get(SERVICE_IP_INGRESS_PACKETS.name(), &name), Some(0.0));
        assert_eq!(set.get(SERVICE_MEMORY_MAX.name(), &name), Some(67108864.0));
        assert_eq!(set.get(SERVICE_IO_READ.name(), &name), None);
        assert_eq!(set.get(SERVICE_MEMORY_HIGH.name(), &name), None);
        assert_eq!(set.get(SERVICE_MEMORY_PEAK.name(), &name), None);
    }
}
