//! A unit's cgroup resources beyond CPU, memory and tasks: IO and IP accounting counters, the
//! memory peak, and the configured limits. Services, slices and scopes all have these
//! properties (systemd's `CGroup` properties are on each of their interfaces).
//!
//! Every value is `None` when systemd reports it as not set (`u64::MAX`: accounting off, a
//! controller this cgroup setup lacks, a limit of `infinity`), so that a caller reports no
//! series rather than a wrong 0. Which systemd and kernel provide each value:
//!
//! - `IOReadBytes`, `IOWriteBytes` (systemd ≥ 238): only on the unified cgroup hierarchy (v2)
//!   with `IOAccounting=yes`; on cgroup v1, hybrid included, systemd reports them as not set;
//! - `IPIngressBytes`, `IPEgressBytes`, `IPIngressPackets`, `IPEgressPackets` (systemd ≥ 235):
//!   with `IPAccounting=yes` and BPF on a cgroup2 hierarchy (unified or hybrid);
//! - `MemoryPeak` (systemd ≥ 255, cgroup v2): an older systemd does not have the property, and
//!   [`SystemdClient::get_properties`](crate::SystemdClient::get_properties) leaves it out;
//! - `MemoryMax`, `MemoryHigh`, `TasksMax` (systemd ≥ 231; `infinity` is `u64::MAX`) and
//!   `MemoryLow` (0, no protection, is its default).

use crate::Properties;

/// The counters asked of a running unit with its accounting values: they change without a
/// signal.
pub const COUNTER_PROPERTIES: &[&str] = &[
    "IOReadBytes",
    "IOWriteBytes",
    "IPIngressBytes",
    "IPEgressBytes",
    "IPIngressPackets",
    "IPEgressPackets",
    "MemoryPeak",
];

/// The limits: configuration, changed only with a signal (daemon-reload, set-property).
pub const LIMIT_PROPERTIES: &[&str] = &["MemoryMax", "MemoryHigh", "MemoryLow", "TasksMax"];

/// A unit's IO and IP counters and memory peak, `None` where not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceCounters {
    /// `IOReadBytes`.
    pub io_read_bytes: Option<u64>,
    /// `IOWriteBytes`.
    pub io_write_bytes: Option<u64>,
    /// `IPIngressBytes`.
    pub ip_ingress_bytes: Option<u64>,
    /// `IPEgressBytes`.
    pub ip_egress_bytes: Option<u64>,
    /// `IPIngressPackets`.
    pub ip_ingress_packets: Option<u64>,
    /// `IPEgressPackets`.
    pub ip_egress_packets: Option<u64>,
    /// `MemoryPeak` (systemd ≥ 255).
    pub memory_peak: Option<u64>,
}

impl ResourceCounters {
    /// From properties read with `Get`s or `GetAll`; not-set values and wrong types are `None`.
    pub fn from_properties(p: &Properties) -> ResourceCounters {
        ResourceCounters {
            io_read_bytes: p.accounting("IOReadBytes"),
            io_write_bytes: p.accounting("IOWriteBytes"),
            ip_ingress_bytes: p.accounting("IPIngressBytes"),
            ip_egress_bytes: p.accounting("IPEgressBytes"),
            ip_ingress_packets: p.accounting("IPIngressPackets"),
            ip_egress_packets: p.accounting("IPEgressPackets"),
            memory_peak: p.accounting("MemoryPeak"),
        }
    }
}

/// A unit's configured limits, `None` for `infinity` (and for `MemoryLow=0`, the default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// `MemoryMax`: the hard limit; the kernel OOM-kills inside the cgroup above it.
    pub memory_max: Option<u64>,
    /// `MemoryHigh`: the throttling limit.
    pub memory_high: Option<u64>,
    /// `MemoryLow`: memory protected from reclaim.
    pub memory_low: Option<u64>,
    /// `TasksMax`.
    pub tasks_max: Option<u64>,
}

impl ResourceLimits {
    /// From properties read with `Get`s or `GetAll`.
    pub fn from_properties(p: &Properties) -> ResourceLimits {
        ResourceLimits {
            memory_max: p.accounting("MemoryMax"),
            memory_high: p.accounting("MemoryHigh"),
            memory_low: p.accounting("MemoryLow").filter(|&v| v != 0),
            tasks_max: p.accounting("TasksMax"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(values: &[(&str, u64)]) -> Properties {
        values.iter().copied().collect()
    }

    #[test]
    fn not_set_and_infinity_are_none_never_zero() {
        let p = props(&[
            ("IOReadBytes", u64::MAX),
            ("IOWriteBytes", 4096),
            ("IPIngressBytes", 0),
            ("MemoryMax", u64::MAX),
            ("MemoryHigh", 40 << 20),
            ("MemoryLow", 0),
            ("TasksMax", 33),
        ]);
        let c = ResourceCounters::from_properties(&p);
        assert_eq!(c.io_read_bytes, None);
        assert_eq!(c.io_write_bytes, Some(4096));
        assert_eq!(c.ip_ingress_bytes, Some(0), "a real 0 stays");
        assert_eq!(c.memory_peak, None, "absent (systemd < 255)");
        let l = ResourceLimits::from_properties(&p);
        assert_eq!(
            l,
            ResourceLimits {
                memory_max: None,
                memory_high: Some(40 << 20),
                memory_low: None,
                tasks_max: Some(33),
            }
        );
    }
}
