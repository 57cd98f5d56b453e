//! The metric families of sysgauge-gpu. See docs/metrics.md for the reference.
//!
//! Every per-GPU series is keyed by `uuid`, which survives reboots and re-cabling; the index,
//! name and PCI bus id are on [`INFO`] only.

const UUID: [&str; 1] = ["uuid"];
const UNIT: [&str; 2] = ["uuid", "unit"];
const GPU_INSTANCE: [&str; 2] = ["uuid", "gpu_instance_id"];
/// A per-GPU family, as the GPM table in `gpm.rs` names it.
pub type GpuDesc = sysgauge_common::Desc<1>;
/// A per-MIG-GPU-instance family.
pub type InstanceDesc = sysgauge_common::Desc<2>;
const COMPUTE_INSTANCE: [&str; 3] = ["uuid", "gpu_instance_id", "compute_instance_id"];

sysgauge_common::metric_families! {
    pub const NVML_UP: Desc<0> = Desc::gauge(
        "sysgauge_gpu_nvml_up",
        "Whether NVML was initialised and answered (1) or there is no usable NVIDIA driver (0)",
        [],
    );
    pub const NVML_ABSENT: Desc<1> = Desc::gauge(
        "sysgauge_gpu_nvml_absent",
        "Present (1) when this host has no usable NVIDIA driver, with the reason: library_not_found or driver_not_loaded",
        ["reason"],
    );
    pub const DEVICES: Desc<0> = Desc::gauge(
        "sysgauge_gpu_devices",
        "Number of GPUs NVML reports, lost ones included",
        [],
    );
    pub const DRIVER_INFO: Desc<3> = Desc::info(
        "sysgauge_gpu_driver_info",
        "NVIDIA driver, NVML and CUDA driver API versions, always 1",
        ["driver_version", "nvml_version", "cuda_version"],
    );
    pub const XID_LISTENER_UP: Desc<0> = Desc::gauge(
        "sysgauge_gpu_xid_listener_up",
        "Whether XID errors are being counted (1, serve only) or cannot be seen (0: once and textfile, or no event support)",
        [],
    );
    pub const XID_ERRORS: Desc<2> = Desc::counter(
        "sysgauge_gpu_xid_errors_total",
        "XID errors seen since the exporter started, by XID code (unknown when the driver gives none)",
        ["uuid", "xid"],
    );
    pub const LOST: Desc<2> = Desc::gauge(
        "sysgauge_gpu_lost",
        "Whether the GPU has fallen off the bus or is otherwise lost (1) or answers (0); uuid is empty if it was lost before it ever answered",
        ["index", "uuid"],
    );
    pub const INFO: Desc<4> = Desc::info(
        "sysgauge_gpu_info",
        "Identity of each GPU, always 1",
        ["uuid", "index", "name", "pci_bus_id"],
    );
    pub const UTILIZATION: Desc<1> = Desc::gauge(
        "sysgauge_gpu_utilization_ratio",
        "Fraction of the last sample period in which a kernel ran on the GPU",
        UUID,
    );
    pub const MEMORY_UTILIZATION: Desc<1> = Desc::gauge(
        "sysgauge_gpu_memory_utilization_ratio",
        "Fraction of the last sample period in which device memory was read or written",
        UUID,
    );
    pub const ENCODER_UTILIZATION: Desc<1> = Desc::gauge(
        "sysgauge_gpu_encoder_utilization_ratio",
        "Utilization of the video encoder",
        UUID,
    );
    pub const DECODER_UTILIZATION: Desc<1> = Desc::gauge(
        "sysgauge_gpu_decoder_utilization_ratio",
        "Utilization of the video decoder",
        UUID,
    );
    pub const MEMORY_USED: Desc<1> = Desc::gauge(
        "sysgauge_gpu_memory_used_bytes",
        "Device memory in use",
        UUID,
    );
    pub const MEMORY_FREE: Desc<1> =
        Desc::gauge("sysgauge_gpu_memory_free_bytes", "Device memory free", UUID);
    pub const MEMORY_TOTAL: Desc<1> = Desc::gauge(
        "sysgauge_gpu_memory_total_bytes",
        "Device memory installed",
        UUID,
    );
    pub const TEMPERATURE: Desc<1> = Desc::gauge(
        "sysgauge_gpu_temperature_celsius",
        "GPU core temperature",
        UUID,
    );
    pub const POWER_DRAW: Desc<1> = Desc::gauge(
        "sysgauge_gpu_power_draw_watts",
        "Power drawn by the whole board",
        UUID,
    );
    pub const POWER_LIMIT: Desc<1> = Desc::gauge(
        "sysgauge_gpu_power_limit_watts",
        "Power management limit of the board",
        UUID,
    );
    pub const POWER_LIMIT_ENFORCED: Desc<1> = Desc::gauge(
        "sysgauge_gpu_power_limit_enforced_watts",
        "Power limit actually enforced (the lowest of all limiters)",
        UUID,
    );
    pub const ENERGY: Desc<1> = Desc::counter(
        "sysgauge_gpu_energy_joules_total",
        "Energy consumed since the driver was last loaded",
        UUID,
    );
    pub const FAN_SPEED: Desc<2> = Desc::gauge(
        "sysgauge_gpu_fan_speed_ratio",
        "Intended speed of each fan, as a fraction of its maximum",
        ["uuid", "fan"],
    );
    pub const CLOCK: Desc<2> = Desc::gauge(
        "sysgauge_gpu_clock_hertz",
        "Current clock frequency, by clock domain (graphics, sm, memory, video)",
        ["uuid", "clock"],
    );
    pub const PCIE_TX: Desc<1> = Desc::gauge(
        "sysgauge_gpu_pcie_transmit_bytes_per_second",
        "PCIe throughput from the GPU, sampled over 20 ms",
        UUID,
    );
    pub const PCIE_RX: Desc<1> = Desc::gauge(
        "sysgauge_gpu_pcie_receive_bytes_per_second",
        "PCIe throughput to the GPU, sampled over 20 ms",
        UUID,
    );
    pub const ECC_ERRORS: Desc<2> = Desc::counter(
        "sysgauge_gpu_ecc_errors_total",
        "ECC memory errors over the GPU's lifetime (aggregate counters), by type (corrected, uncorrected)",
        ["uuid", "type"],
    );
    pub const CLOCK_EVENT: Desc<2> = Desc::gauge(
        "sysgauge_gpu_clock_event_active",
        "Whether a clock event (throttle) reason is holding the clocks down now (1) or not (0), for each reason the GPU supports",
        ["uuid", "reason"],
    );
    pub const MIG_ENABLED: Desc<1> = Desc::gauge(
        "sysgauge_gpu_mig_enabled",
        "Whether Multi-Instance GPU mode is on (1) or off (0)",
        UUID,
    );
    pub const MIG_INSTANCE_INFO: Desc<5> = Desc::info(
        "sysgauge_gpu_mig_instance_info",
        "Each MIG compute instance of a GPU in MIG mode: its GPU and compute instance ids, MIG device UUID and profile, always 1",
        ["uuid", "gpu_instance_id", "compute_instance_id", "mig_uuid", "profile"],
    );
    pub const MIG_MEMORY_USED: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_memory_used_bytes",
        "Device memory in use in each MIG GPU instance (shared by its compute instances)",
        GPU_INSTANCE,
    );
    pub const MIG_MEMORY_FREE: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_memory_free_bytes",
        "Device memory free in each MIG GPU instance",
        GPU_INSTANCE,
    );
    pub const MIG_MEMORY_TOTAL: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_memory_total_bytes",
        "Device memory of each MIG GPU instance",
        GPU_INSTANCE,
    );
    pub const MIG_PROCESSES: Desc<3> = Desc::gauge(
        "sysgauge_gpu_mig_processes",
        "Number of processes (compute and graphics) running in each MIG compute instance",
        COMPUTE_INSTANCE,
    );
    pub const MIG_PROCESSES_MEMORY: Desc<3> = Desc::gauge(
        "sysgauge_gpu_mig_processes_memory_used_bytes",
        "Device memory used by the processes of each MIG compute instance, where NVML reports it",
        COMPUTE_INSTANCE,
    );
    pub const GPM_GRAPHICS_ACTIVITY: Desc<1> = Desc::gauge(
        "sysgauge_gpu_graphics_activity_ratio",
        "Fraction of time any graphics or compute engine was active over the GPM interval (GPM, Hopper and newer)",
        UUID,
    );
    pub const GPM_SM_ACTIVITY: Desc<1> = Desc::gauge(
        "sysgauge_gpu_sm_activity_ratio",
        "Fraction of time each SM had at least one warp assigned, averaged over the SMs and the GPM interval",
        UUID,
    );
    pub const GPM_SM_OCCUPANCY: Desc<1> = Desc::gauge(
        "sysgauge_gpu_sm_occupancy_ratio",
        "Warps resident on the SMs as a fraction of the most they can hold, over the GPM interval",
        UUID,
    );
    pub const GPM_TENSOR_ACTIVITY: Desc<1> = Desc::gauge(
        "sysgauge_gpu_tensor_activity_ratio",
        "Fraction of time the tensor (MMA) pipes were active, any precision, over the GPM interval",
        UUID,
    );
    pub const GPM_DRAM_BANDWIDTH: Desc<1> = Desc::gauge(
        "sysgauge_gpu_dram_bandwidth_utilization_ratio",
        "Device memory (DRAM) bandwidth used as a fraction of its peak, over the GPM interval",
        UUID,
    );
    pub const GPM_INTERVAL: Desc<1> = Desc::gauge(
        "sysgauge_gpu_gpm_interval_seconds",
        "Time between the two GPM samples the GPU's activity ratios were computed from",
        UUID,
    );
    pub const MIG_GRAPHICS_ACTIVITY: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_graphics_activity_ratio",
        "Fraction of time any graphics or compute engine of each MIG GPU instance was active (GPM)",
        GPU_INSTANCE,
    );
    pub const MIG_SM_ACTIVITY: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_sm_activity_ratio",
        "Fraction of time the SMs of each MIG GPU instance had at least one warp assigned (GPM)",
        GPU_INSTANCE,
    );
    pub const MIG_SM_OCCUPANCY: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_sm_occupancy_ratio",
        "Warps resident on the SMs of each MIG GPU instance as a fraction of the most they can hold (GPM)",
        GPU_INSTANCE,
    );
    pub const MIG_TENSOR_ACTIVITY: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_tensor_activity_ratio",
        "Fraction of time the tensor (MMA) pipes of each MIG GPU instance were active (GPM)",
        GPU_INSTANCE,
    );
    pub const MIG_DRAM_BANDWIDTH: Desc<2> = Desc::gauge(
        "sysgauge_gpu_mig_dram_bandwidth_utilization_ratio",
        "Device memory bandwidth used by each MIG GPU instance, as a fraction of the peak (GPM)",
        GPU_INSTANCE,
    );
    pub const PROCESSES: Desc<1> = Desc::gauge(
        "sysgauge_gpu_processes",
        "Number of processes (compute and graphics) running on the GPU",
        UUID,
    );
    pub const UNIT_PROCESSES: Desc<2> = Desc::gauge(
        "sysgauge_gpu_unit_processes",
        "Number of processes on the GPU, by the systemd unit they run in (unknown: exited, or not found)",
        UNIT,
    );
    pub const UNIT_MEMORY: Desc<2> = Desc::gauge(
        "sysgauge_gpu_unit_memory_used_bytes",
        "Device memory used by the processes of each systemd unit",
        UNIT,
    );
    pub const UNIT_SM_UTILIZATION: Desc<2> = Desc::gauge(
        "sysgauge_gpu_unit_sm_utilization_ratio",
        "SM (compute and 3D) utilization by the processes of each systemd unit, from each process's latest NVML sample",
        UNIT,
    );
    pub const UNIT_MEMORY_UTILIZATION: Desc<2> = Desc::gauge(
        "sysgauge_gpu_unit_memory_utilization_ratio",
        "Device memory read/write utilization by the processes of each systemd unit, from each process's latest NVML sample",
        UNIT,
    );
    pub const UNIT_ENCODER_UTILIZATION: Desc<2> = Desc::gauge(
        "sysgauge_gpu_unit_encoder_utilization_ratio",
        "Video encoder utilization by the processes of each systemd unit, from each process's latest NVML sample",
        UNIT,
    );
    pub const UNIT_DECODER_UTILIZATION: Desc<2> = Desc::gauge(
        "sysgauge_gpu_unit_decoder_utilization_ratio",
        "Video decoder utilization by the processes of each systemd unit, from each process's latest NVML sample",
        UNIT,
    );
    pub const PROCESS_MEMORY: Desc<4> = Desc::gauge(
        "sysgauge_gpu_process_memory_used_bytes",
        "Device memory used by each process (opt-in: [nvml] processes = true)",
        ["uuid", "pid", "process_name", "unit"],
    );
    pub const THROTTLE_TIME: Desc<2> = Desc::counter(
        "sysgauge_gpu_throttle_seconds_total",
        "Time the clocks were held below their target, by policy (power, thermal, sync_boost, board_limit, low_utilization, reliability), since the driver was loaded",
        ["uuid", "reason"],
    );
    pub const PERFORMANCE_STATE: Desc<1> = Desc::gauge(
        "sysgauge_gpu_performance_state",
        "Performance state (P-state): 0 is maximum performance, 15 minimum",
        UUID,
    );
    pub const PCIE_LINK_GENERATION: Desc<1> = Desc::gauge(
        "sysgauge_gpu_pcie_link_generation",
        "Current PCIe link generation (it drops at idle to save power)",
        UUID,
    );
    pub const PCIE_LINK_MAX_GENERATION: Desc<1> = Desc::gauge(
        "sysgauge_gpu_pcie_link_max_generation",
        "Highest PCIe link generation the GPU and the slot support together",
        UUID,
    );
    pub const PCIE_LINK_WIDTH: Desc<1> = Desc::gauge(
        "sysgauge_gpu_pcie_link_width",
        "Current PCIe link width, in lanes",
        UUID,
    );
    pub const PCIE_LINK_MAX_WIDTH: Desc<1> = Desc::gauge(
        "sysgauge_gpu_pcie_link_max_width",
        "Widest PCIe link the GPU and the slot support together, in lanes",
        UUID,
    );
    pub const PCIE_REPLAYS: Desc<1> = Desc::counter(
        "sysgauge_gpu_pcie_replays_total",
        "PCIe replays (retransmissions after link errors)",
        UUID,
    );
    pub const REMAPPED_ROWS: Desc<2> = Desc::counter(
        "sysgauge_gpu_remapped_rows_total",
        "Memory rows remapped to spares, by the kind of error that caused it (correctable, uncorrectable)",
        ["uuid", "cause"],
    );
    pub const REMAPPED_ROWS_PENDING: Desc<1> = Desc::gauge(
        "sysgauge_gpu_remapped_rows_pending",
        "Whether a row remapping waits for a GPU reset to take effect (1) or not (0)",
        UUID,
    );
    pub const REMAPPED_ROWS_FAILED: Desc<1> = Desc::gauge(
        "sysgauge_gpu_remapped_rows_failed",
        "Whether a row remapping failed (1: no spare rows left, the GPU needs service) or not (0)",
        UUID,
    );
    pub const RETIRED_PAGES: Desc<2> = Desc::gauge(
        "sysgauge_gpu_retired_pages",
        "Memory pages retired, by cause (multiple_single_bit_ecc, double_bit_ecc); pre-Ampere GPUs",
        ["uuid", "cause"],
    );
    pub const RETIRED_PAGES_PENDING: Desc<1> = Desc::gauge(
        "sysgauge_gpu_retired_pages_pending",
        "Whether pages wait for a reboot or driver reload to be retired (1) or not (0)",
        UUID,
    );
    pub const ECC_VOLATILE_ERRORS: Desc<2> = Desc::counter(
        "sysgauge_gpu_ecc_volatile_errors_total",
        "ECC memory errors since the driver was last loaded (volatile counters), by type (corrected, uncorrected)",
        ["uuid", "type"],
    );
    pub const RECOVERY_ACTION: Desc<2> = Desc::gauge(
        "sysgauge_gpu_recovery_action",
        "The driver's recommended recovery action, one series per action (none, gpu_reset, node_reboot, drain_p2p, drain_and_reset), 1 for the current one",
        ["uuid", "action"],
    );
    pub const POWER_LIMIT_DEFAULT: Desc<1> = Desc::gauge(
        "sysgauge_gpu_power_limit_default_watts",
        "Default power management limit of the board",
        UUID,
    );
    pub const POWER_LIMIT_MIN: Desc<1> = Desc::gauge(
        "sysgauge_gpu_power_limit_min_watts",
        "Lowest power limit that may be set",
        UUID,
    );
    pub const POWER_LIMIT_MAX: Desc<1> = Desc::gauge(
        "sysgauge_gpu_power_limit_max_watts",
        "Highest power limit that may be set",
        UUID,
    );
    pub const MEMORY_TEMPERATURE: Desc<1> = Desc::gauge(
        "sysgauge_gpu_memory_temperature_celsius",
        "Device memory (HBM) temperature",
        UUID,
    );
    pub const CLOCK_MAX: Desc<2> = Desc::gauge(
        "sysgauge_gpu_clock_max_hertz",
        "Maximum clock frequency, by clock domain (graphics, sm, memory, video)",
        ["uuid", "clock"],
    );
    pub const XID_LAST: Desc<2> = Desc::gauge(
        "sysgauge_gpu_xid_last_timestamp_seconds",
        "When the GPU's last XID error of each code was seen (Unix time), since the exporter started (serve only)",
        ["uuid", "xid"],
    );
}
