//! The GPU's health beyond utilization: time throttled, P-state, the PCIe link, memory repair
//! (remapped rows, retired pages), volatile ECC, the driver's recommended recovery action, power
//! limits, memory temperature and maximum clocks. Each metric is left out for a GPU that does
//! not support it (pre-Ampere GPUs have retired pages instead of remapped rows, consumer boards
//! have no ECC, and so on).

use nvml_wrapper::{
    Device,
    enum_wrappers::device::{Clock, EccCounter, MemoryError, PerformancePolicy, RetirementCause},
    enums::device::SampleValue,
    structs::device::FieldId,
};
use sysgauge_common::MetricSet;

use crate::{
    gpus::{Stop, check},
    metrics::*,
};

/// NVML field ids (nvml.h `NVML_FI_DEV_*`) read in one `nvmlDeviceGetFieldValues` call.
const FIELD_MEMORY_TEMP: u32 = 82;
const FIELD_REMAPPED_COR: u32 = 142;
const FIELD_REMAPPED_UNC: u32 = 143;
const FIELD_REMAPPED_PENDING: u32 = 144;
const FIELD_REMAPPED_FAILURE: u32 = 145;
const FIELD_RECOVERY_ACTION: u32 = 230;

/// `nvmlDeviceGpuRecoveryAction_t` values and their `action` labels.
const RECOVERY_ACTIONS: [&str; 5] = [
    "none",
    "gpu_reset",
    "node_reboot",
    "drain_p2p",
    "drain_and_reset",
];

/// Throttle (violation) policies and their `reason` labels.
const POLICIES: [(PerformancePolicy, &str); 6] = [
    (PerformancePolicy::Power, "power"),
    (PerformancePolicy::Thermal, "thermal"),
    (PerformancePolicy::SyncBoost, "sync_boost"),
    (PerformancePolicy::BoardLimit, "board_limit"),
    (PerformancePolicy::LowUtilization, "low_utilization"),
    (PerformancePolicy::Reliability, "reliability"),
];

/// Adds the health metrics of one GPU.
pub fn collect(device: &Device<'_>, u: &str, set: &mut MetricSet) -> Result<(), Stop> {
    for (policy, reason) in POLICIES {
        if let Some(v) = check(
            device.violation_status(policy),
            "nvmlDeviceGetViolationStatus",
            u,
        )? {
            set.add(&THROTTLE_TIME, [u, reason], v.violation_time as f64 / 1e9);
        }
    }
    if let Some(state) = check(
        device.performance_state(),
        "nvmlDeviceGetPerformanceState",
        u,
    )? {
        // 32 is NVML_PSTATE_UNKNOWN.
        let p = state.as_c();
        if p <= 15 {
            set.add(&PERFORMANCE_STATE, [u], f64::from(p));
        }
    }
    for (result, call, desc) in [
        (
            device.current_pcie_link_gen(),
            "nvmlDeviceGetCurrPcieLinkGeneration",
            &PCIE_LINK_GENERATION,
        ),
        (
            device.max_pcie_link_gen(),
            "nvmlDeviceGetMaxPcieLinkGeneration",
            &PCIE_LINK_MAX_GENERATION,
        ),
        (
            device.current_pcie_link_width(),
            "nvmlDeviceGetCurrPcieLinkWidth",
            &PCIE_LINK_WIDTH,
        ),
        (
            device.max_pcie_link_width(),
            "nvmlDeviceGetMaxPcieLinkWidth",
            &PCIE_LINK_MAX_WIDTH,
        ),
        (
            device.pcie_replay_counter(),
            "nvmlDeviceGetPcieReplayCounter",
            &PCIE_REPLAYS,
        ),
    ] {
        if let Some(v) = check(result, call, u)? {
            set.add(desc, [u], f64::from(v));
        }
    }
    for (error, label) in [
        (MemoryError::Corrected, "corrected"),
        (MemoryError::Uncorrected, "uncorrected"),
    ] {
        if let Some(n) = check(
            device.total_ecc_errors(error, EccCounter::Volatile),
            "nvmlDeviceGetTotalEccErrors",
            u,
        )? {
            set.add(&ECC_VOLATILE_ERRORS, [u, label], n as f64);
        }
    }
    for (cause, label) in [
        (
            RetirementCause::MultipleSingleBitEccErrors,
            "multiple_single_bit_ecc",
        ),
        (RetirementCause::DoubleBitEccError, "double_bit_ecc"),
    ] {
        if let Some(pages) = check(
            device.retired_pages(cause),
            "nvmlDeviceGetRetiredPages_v2",
            u,
        )? {
            set.add(&RETIRED_PAGES, [u, label], pages.len() as f64);
        }
    }
    if let Some(pending) = check(
        device.are_pages_pending_retired(),
        "nvmlDeviceGetRetiredPagesPendingStatus",
        u,
    )? {
        set.add(&RETIRED_PAGES_PENDING, [u], f64::from(u8::from(pending)));
    }
    let watts = |mw: u32| f64::from(mw) / 1000.0;
    if let Some(mw) = check(
        device.power_management_limit_default(),
        "nvmlDeviceGetPowerManagementDefaultLimit",
        u,
    )? {
        set.add(&POWER_LIMIT_DEFAULT, [u], watts(mw));
    }
    if let Some(c) = check(
        device.power_management_limit_constraints(),
        "nvmlDeviceGetPowerManagementLimitConstraints",
        u,
    )? {
        set.add(&POWER_LIMIT_MIN, [u], watts(c.min_limit));
        set.add(&POWER_LIMIT_MAX, [u], watts(c.max_limit));
    }
    for (clock, label) in [
        (Clock::Graphics, "graphics"),
        (Clock::SM, "sm"),
        (Clock::Memory, "memory"),
        (Clock::Video, "video"),
    ] {
        if let Some(mhz) = check(device.max_clock_info(clock), "nvmlDeviceGetMaxClockInfo", u)? {
            set.add(&CLOCK_MAX, [u, label], f64::from(mhz) * 1e6);
        }
    }
    fields(device, u, set)
}

/// The metrics NVML only offers as field values, read in one call; each field that the GPU or
/// driver does not support comes back with its own error and is left out.
fn fields(device: &Device<'_>, u: &str, set: &mut MetricSet) -> Result<(), Stop> {
    let ids = [
        FIELD_MEMORY_TEMP,
        FIELD_REMAPPED_COR,
        FIELD_REMAPPED_UNC,
        FIELD_REMAPPED_PENDING,
        FIELD_REMAPPED_FAILURE,
        FIELD_RECOVERY_ACTION,
    ]
    .map(FieldId);
    let Some(samples) = check(device.field_values_for(&ids), "nvmlDeviceGetFieldValues", u)? else {
        return Ok(());
    };
    for (id, sample) in ids.iter().zip(samples) {
        let value = match sample.and_then(|s| s.value) {
            Ok(SampleValue::F64(v)) => v,
            Ok(SampleValue::U32(v)) => f64::from(v),
            Ok(SampleValue::U64(v)) => v as f64,
            Ok(SampleValue::I64(v)) => v as f64,
            // A field the driver does not know (older drivers lack the recovery action) or the
            // GPU does not support is left out quietly; a lost GPU or a dead NVML is not.
            Err(e) if crate::session::classify(&e) == crate::session::Failure::Omit => {
                tracing::debug!(uuid = u, field = id.0, error = %e, "field value left out");
                continue;
            }
            Err(e) => {
                check::<()>(Err(e), "nvmlDeviceGetFieldValues", u)?;
                continue;
            }
        };
        match id.0 {
            FIELD_MEMORY_TEMP => set.add(&MEMORY_TEMPERATURE, [u], value),
            FIELD_REMAPPED_COR => set.add(&REMAPPED_ROWS, [u, "correctable"], value),
            FIELD_REMAPPED_UNC => set.add(&REMAPPED_ROWS, [u, "uncorrectable"], value),
            FIELD_REMAPPED_PENDING => set.add(&REMAPPED_ROWS_PENDING, [u], flag(value)),
            FIELD_REMAPPED_FAILURE => set.add(&REMAPPED_ROWS_FAILED, [u], flag(value)),
            FIELD_RECOVERY_ACTION => {
                // An action this exporter does not know yet is reported as none of the known.
                for (i, action) in RECOVERY_ACTIONS.iter().enumerate() {
                    let on = value == i as f64;
                    set.add(&RECOVERY_ACTION, [u, action], f64::from(u8::from(on)));
                }
                if value < 0.0 || value >= RECOVERY_ACTIONS.len() as f64 {
                    tracing::warn!(uuid = u, value, "unknown GPU recovery action");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn flag(v: f64) -> f64 {
    if v != 0.0 { 1.0 } else { 0.0 }
}
