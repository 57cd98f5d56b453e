//! Multi-Instance GPU (MIG): the instances a GPU in MIG mode is split into.
//!
//! NVML represents each compute instance as a "MIG device": a handle below the physical GPU
//! (`nvmlDeviceGetMigDeviceHandleByIndex`) that answers the usual device calls for its share.
//! Its memory is that of its GPU instance (the compute instances of one GPU instance share
//! it), so memory is reported per GPU instance, and processes per compute instance. Series are
//! labelled by the parent GPU's `uuid` and the instance ids, which stay the same for as long as
//! the instance exists (`nvidia-smi mig -lgi` / `-lci` show the same ids); the MIG device's own
//! UUID and its profile (`3g.20gb`) are on the info metric.
//!
//! Utilization is not read here: NVML answers `nvmlDeviceGetUtilizationRates` with
//! NOT_SUPPORTED for MIG devices. Activity per GPU instance comes from GPM samples (`gpm.rs`),
//! for the GPU instances this module finds.

use std::collections::BTreeSet;

use nvml_wrapper::{
    Device,
    enums::device::UsedGpuMemory,
    error::{NvmlError, nvml_sym, nvml_try},
    struct_wrappers::device::ProcessInfo,
};
use sysgauge_common::MetricSet;

use crate::{
    gpus::{Stop, check},
    metrics::*,
};

/// What a GPU in MIG mode is split into, besides its series.
#[derive(Debug, Default)]
pub struct Found {
    /// The processes of every instance (for the per-unit attribution of the whole GPU; without
    /// privileges, NVML lists a MIG-mode GPU's processes only per instance).
    pub processes: Vec<ProcessInfo>,
    /// The GPU instance ids (for GPM samples per instance).
    pub gpu_instances: BTreeSet<u32>,
}

/// Adds the instances of a GPU in MIG mode to `set` and returns their processes and GPU
/// instance ids.
pub fn collect(device: &Device<'_>, u: &str, set: &mut MetricSet) -> Result<Found, Stop> {
    let mut found_all = Found::default();
    let processes = &mut found_all.processes;
    let Some(slots) = check(
        device.mig_device_count(),
        "nvmlDeviceGetMaxMigDeviceCount",
        u,
    )?
    else {
        return Ok(found_all);
    };
    // The GPU instances whose memory was reported (one per GPU instance, whatever the number
    // of its compute instances).
    let mut memory_done = BTreeSet::new();
    for slot in 0..slots {
        // An empty slot is NOT_FOUND: the usual case, not worth a log line.
        let mig = match device.mig_device_by_index(slot) {
            Err(NvmlError::NotFound) => continue,
            other => check(other, "nvmlDeviceGetMigDeviceHandleByIndex", u)?,
        };
        let Some(mig) = mig else { continue };
        let (Some(gi), Some(ci)) = (
            check(instance_id(&mig, Id::Gpu), "nvmlDeviceGetGpuInstanceId", u)?,
            check(
                instance_id(&mig, Id::Compute),
                "nvmlDeviceGetComputeInstanceId",
                u,
            )?,
        ) else {
            continue;
        };
        found_all.gpu_instances.insert(gi);
        let (gi, ci) = (gi.to_string(), ci.to_string());
        let mig_uuid = check(mig.uuid(), "nvmlDeviceGetUUID", u)?.unwrap_or_default();
        let name = check(mig.name(), "nvmlDeviceGetName", u)?.unwrap_or_default();
        set.add(
            &MIG_INSTANCE_INFO,
            [u, &gi, &ci, &mig_uuid, profile(&name)],
            1.0,
        );
        if !memory_done.contains(&gi)
            && let Some(mem) = check(mig.memory_info(), "nvmlDeviceGetMemoryInfo_v2", u)?
        {
            set.add(&MIG_MEMORY_USED, [u, &gi], mem.used as f64);
            set.add(&MIG_MEMORY_FREE, [u, &gi], mem.free as f64);
            set.add(&MIG_MEMORY_TOTAL, [u, &gi], mem.total as f64);
            memory_done.insert(gi.clone());
        }
        let compute = check(
            mig.running_compute_processes(),
            "nvmlDeviceGetComputeRunningProcesses_v3",
            u,
        )?;
        let graphics = check(
            mig.running_graphics_processes(),
            "nvmlDeviceGetGraphicsRunningProcesses_v3",
            u,
        )?;
        if compute.is_none() && graphics.is_none() {
            continue;
        }
        let mut found: std::collections::BTreeMap<u32, Option<u64>> = Default::default();
        for info in compute.into_iter().chain(graphics).flatten() {
            let bytes = match info.used_gpu_memory {
                UsedGpuMemory::Used(b) => Some(b),
                UsedGpuMemory::Unavailable => None,
            };
            let entry = found.entry(info.pid).or_insert(bytes);
            *entry = (*entry).max(bytes);
            processes.push(info);
        }
        set.add(&MIG_PROCESSES, [u, &gi, &ci], found.len() as f64);
        let known: Vec<u64> = found.values().flatten().copied().collect();
        if !known.is_empty() {
            set.add(
                &MIG_PROCESSES_MEMORY,
                [u, &gi, &ci],
                known.iter().sum::<u64>() as f64,
            );
        }
    }
    Ok(found_all)
}

/// The profile in a MIG device's name: `3g.20gb` of `NVIDIA A100-SXM4-40GB MIG 3g.20gb`; the
/// whole name when it has no `MIG` part.
fn profile(name: &str) -> &str {
    name.rsplit_once("MIG ").map_or(name, |(_, p)| p.trim())
}

enum Id {
    Gpu,
    Compute,
}

/// `nvmlDeviceGetGpuInstanceId` / `nvmlDeviceGetComputeInstanceId` of a MIG device handle,
/// which nvml-wrapper 0.13 does not wrap (its `unwrapped_functions.txt`). The only unsafe code
/// of the exporter: nvml-wrapper's own methods make the same kind of call.
#[allow(unsafe_code)]
fn instance_id(device: &Device<'_>, which: Id) -> Result<u32, NvmlError> {
    let lib = device.nvml().lib();
    let symbol = match which {
        Id::Gpu => lib.nvmlDeviceGetGpuInstanceId.as_ref(),
        Id::Compute => lib.nvmlDeviceGetComputeInstanceId.as_ref(),
    };
    let function = nvml_sym(symbol)?;
    let mut id: std::os::raw::c_uint = 0;
    // SAFETY: the handle is valid for the lifetime of `device` (it came from
    // nvmlDeviceGetMigDeviceHandleByIndex of the same initialised library), the function is
    // nvml.h's `nvmlReturn_t f(nvmlDevice_t, unsigned int *)`, and `id` outlives the call.
    nvml_try(unsafe { function(device.handle(), &mut id) })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn profile_is_the_part_after_mig() {
        assert_eq!(
            super::profile("NVIDIA A100-SXM4-40GB MIG 3g.20gb"),
            "3g.20gb"
        );
        assert_eq!(
            super::profile("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me"),
            "1g.10gb+me"
        );
        assert_eq!(super::profile("odd"), "odd");
    }
}
