//! The `gpus` collector: every GPU NVML reports, one blocking pass per collection.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::{
        Arc, Mutex, TryLockError,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use nvml_wrapper::{
    Device, Nvml,
    enum_wrappers::device::{Clock, EccCounter, MemoryError, PcieUtilCounter, TemperatureSensor},
    enums::device::UsedGpuMemory,
    error::NvmlError,
    struct_wrappers::device::ProcessInfo,
};
use sysgauge_common::{BoxError, Collector, MetricSet};

use crate::{
    error::Error,
    metrics::*,
    session::{self, Failure, Opened, Session},
    xid::XidCounts,
};

/// What to collect besides the basics.
#[derive(Clone, Debug)]
pub struct Options {
    /// The library to load; `None` for `libnvidia-ml.so.1` through the linker's search path.
    pub library: Option<PathBuf>,
    /// Per-process series (`sysgauge_gpu_process_memory_used_bytes`, with `pid` labels).
    pub processes: bool,
    /// Memory and utilization per systemd unit (`sysgauge_gpu_unit_*`).
    pub units: bool,
    /// PCIe throughput; NVML samples it for 20 ms per direction per GPU.
    pub pcie_throughput: bool,
    /// GPM activity ratios, per GPU and MIG GPU instance, where the GPU supports GPM.
    pub gpm: bool,
    /// How far apart a one-shot run's two GPM samples are taken.
    pub gpm_window: std::time::Duration,
}

/// Clock-event (throttle) reasons: NVML's bit and the `reason` label.
const CLOCK_EVENT_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// The collector.
#[derive(Debug)]
pub struct GpusCollector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: Options,
    state: Mutex<State>,
    /// `Some` in serve, where an XID listener runs beside each session.
    xids: Option<Arc<XidCounts>>,
    /// Whether the "no NVIDIA driver" line was logged at warn level already.
    absence_logged: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    session: Option<Arc<Session>>,
    /// The thread holding the session's GPM samples, when GPM is wanted and usable.
    sampler: Option<crate::gpm::Sampler>,
    /// The UUID of each index, so that a GPU lost later is still named by its UUID.
    known: BTreeMap<u32, String>,
}

impl GpusCollector {
    /// A collector; `xids` is given in serve, where XID events can be counted.
    pub fn new(options: Options, xids: Option<Arc<XidCounts>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                options,
                state: Mutex::new(State::default()),
                xids,
                absence_logged: AtomicBool::new(false),
            }),
        }
    }
}

#[async_trait]
impl Collector for GpusCollector {
    fn name(&self) -> &'static str {
        "gpus"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let inner = Arc::clone(&self.inner);
        // NVML calls block (PCIe throughput alone sleeps 20 ms per direction). If the deadline
        // passes, this task is abandoned; it still holds the state lock, so the next collection
        // fails fast with `Busy` instead of queueing behind a hung driver.
        let mut set = tokio::task::spawn_blocking(move || inner.collect_blocking())
            .await
            .map_err(|e| Error::Task(e.to_string()))??;
        let listening = self.inner.xids.as_ref().is_some_and(|x| x.listening());
        set.add(
            &XID_LISTENER_UP,
            [] as [&str; 0],
            f64::from(u8::from(listening)),
        );
        if let Some(xids) = &self.inner.xids {
            for ((uuid, xid), count) in xids.snapshot() {
                set.add(&XID_ERRORS, [uuid, xid], count as f64);
            }
            for ((uuid, xid), at) in xids.last_seen() {
                set.add(&XID_LAST, [uuid, xid], at);
            }
        }
        Ok(set)
    }
}

impl Inner {
    fn collect_blocking(&self) -> Result<MetricSet, Error> {
        let mut state = match self.state.try_lock() {
            Ok(state) => state,
            Err(TryLockError::WouldBlock) => return Err(Error::Busy),
            // A panic inside NVML code poisoned the lock; the state is still consistent.
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        let session = match &state.session {
            Some(session) => Arc::clone(session),
            None => match session::open(self.options.library.as_ref())? {
                Opened::Up(session) => {
                    let session: Arc<Session> = Arc::from(session);
                    tracing::debug!("NVML initialised");
                    if let Some(xids) = &self.xids {
                        crate::xid::spawn(Arc::clone(&session), Arc::clone(xids));
                    }
                    state.session = Some(Arc::clone(&session));
                    state.sampler = if self.options.gpm {
                        crate::gpm::Sampler::start(Arc::clone(&session))
                    } else {
                        None
                    };
                    session
                }
                Opened::Absent(absence) => return Ok(self.absent(absence)),
            },
        };
        let state = &mut *state;
        let result = collect_devices(
            &session.nvml,
            &mut state.known,
            &self.options,
            state.sampler.as_ref(),
        );
        let reset = match &result {
            Ok((_, lost)) => *lost,
            Err(_) => true,
        };
        if reset {
            // Let go of NVML; the XID listener lets go within one wait slice, and the last
            // reference calls nvmlShutdown. The next collection initialises it again.
            session.end();
            state.session = None;
            // Its thread frees the samples and lets go of the session.
            state.sampler = None;
            tracing::info!("NVML session ended; it is initialised again at the next collection");
        }
        result.map(|(set, _)| set)
    }

    fn absent(&self, absence: session::Absence) -> MetricSet {
        let library = self.options.library.as_ref().map_or_else(
            || session::DEFAULT_LIBRARY.to_owned(),
            |p| sysgauge_common::path_label(p),
        );
        let message = match absence {
            session::Absence::LibraryNotFound => {
                "NVML is absent: no NVIDIA driver on this host (the NVML library was not found)"
            }
            session::Absence::DriverNotLoaded => {
                "NVML is absent: the NVIDIA kernel driver is not loaded"
            }
        };
        if !self.absence_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(library = %library, "{message}; reporting sysgauge_gpu_nvml_up 0");
        } else {
            tracing::debug!(library = %library, "{message}");
        }
        let mut set = MetricSet::new();
        set.add(&NVML_UP, [] as [&str; 0], 0.0);
        set.add(&NVML_ABSENT, [absence.reason()], 1.0);
        set
    }
}

/// Per-device outcome that ends the device's collection early.
pub(crate) enum Stop {
    Lost,
    Fatal(Error),
}

/// `Ok(Some)` for a value, `Ok(None)` for a metric to leave out, `Err` for a lost GPU or a
/// failed NVML.
pub(crate) fn check<T>(
    result: Result<T, NvmlError>,
    call: &'static str,
    uuid: &str,
) -> Result<Option<T>, Stop> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) => match session::classify(&e) {
            Failure::Omit => {
                match e {
                    NvmlError::NotSupported
                    | NvmlError::FailedToLoadSymbol(_)
                    | NvmlError::FunctionNotFound => {
                        tracing::debug!(uuid, call, error = %e, "not supported; left out")
                    }
                    _ => {
                        tracing::warn!(uuid, call, error = %e, "NVML call failed; metric left out")
                    }
                }
                Ok(None)
            }
            Failure::Lost => {
                tracing::warn!(uuid, call, error = %e, "GPU lost");
                Err(Stop::Lost)
            }
            Failure::Fatal => Err(Stop::Fatal(Error::Lifecycle { call, source: e })),
        },
    }
}

/// Collects every device. The flag is true when a GPU was lost (the session must end).
fn collect_devices(
    nvml: &Nvml,
    known: &mut BTreeMap<u32, String>,
    options: &Options,
    sampler: Option<&crate::gpm::Sampler>,
) -> Result<(MetricSet, bool), Error> {
    let mut set = MetricSet::new();
    let count = nvml.device_count().map_err(|source| Error::Lifecycle {
        call: "nvmlDeviceGetCount_v2",
        source,
    })?;
    let text = |r: Result<String, NvmlError>, call: &'static str| match check(r, call, "") {
        Ok(v) => Ok(v.unwrap_or_default()),
        Err(Stop::Fatal(e)) => Err(e),
        Err(Stop::Lost) => Ok(String::new()),
    };
    let driver = text(nvml.sys_driver_version(), "nvmlSystemGetDriverVersion")?;
    let nvml_version = text(nvml.sys_nvml_version(), "nvmlSystemGetNVMLVersion")?;
    let cuda = text(
        nvml.sys_cuda_driver_version()
            .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10)),
        "nvmlSystemGetCudaDriverVersion_v2",
    )?;
    set.add(&NVML_UP, [] as [&str; 0], 1.0);
    set.add(&DEVICES, [] as [&str; 0], f64::from(count));
    set.add(&DRIVER_INFO, [driver, nvml_version, cuda], 1.0);

    let mut any_lost = false;
    let mut on_gpus = Vec::new();
    let mut gpm_targets = Vec::new();
    for index in 0..count {
        let mut device_set = MetricSet::new();
        let mut targets = Vec::new();
        match collect_device(nvml, index, &mut device_set, known, options, &mut targets) {
            Ok(found) => {
                gpm_targets.extend(targets);
                set.extend(device_set);
                on_gpus.extend(found);
                set.add(&LOST, [index.to_string(), known_uuid(known, index)], 0.0);
            }
            Err(Stop::Lost) => {
                // What the GPU said before it went is dropped: a half-read GPU is worse than
                // a clearly lost one.
                any_lost = true;
                set.add(&LOST, [index.to_string(), known_uuid(known, index)], 1.0);
            }
            Err(Stop::Fatal(e)) => return Err(e),
        }
    }
    if let Some(sampler) = sampler
        && !gpm_targets.is_empty()
    {
        any_lost |= gpm(sampler, gpm_targets, options, &mut set)?;
    }
    // Every GPU's PIDs are mapped to units at once: one cgroupfs walk per collection at most.
    let pids = on_gpus
        .iter()
        .flat_map(|g| g.by_pid.keys().copied())
        .collect();
    let units = crate::cgroup::Resolver::new().units(&pids);
    for gpu in &on_gpus {
        gpu.add_to(&units, options, &mut set);
    }
    Ok((set, any_lost))
}

/// GPM activity of `targets`, averaged since their previous samples (or over the window);
/// true when a GPU was lost meanwhile.
fn gpm(
    sampler: &crate::gpm::Sampler,
    targets: Vec<crate::gpm::Target>,
    options: &Options,
    set: &mut MetricSet,
) -> Result<bool, Error> {
    let Some(readings) = sampler.read(targets, options.gpm_window) else {
        tracing::warn!("the GPM thread is gone; GPM metrics left out");
        return Ok(false);
    };
    let mut lost = false;
    for (target, reading) in readings {
        let u = target.uuid.as_str();
        let call = "nvmlGpmSampleGet/nvmlGpmMetricsGet";
        let Some(reading) = lost_is_omitted(check(reading, call, u), &mut lost)? else {
            continue;
        };
        let gi = target.gpu_instance.map(|g| g.to_string());
        if gi.is_none() {
            set.add(&GPM_INTERVAL, [u], reading.interval.as_secs_f64());
        }
        for ((_, gpu, instance), value) in crate::gpm::METRICS.iter().zip(reading.values) {
            let checked = check(value, "nvmlGpmMetricsGet", u);
            let Some(percent) = lost_is_omitted(checked, &mut lost)? else {
                continue;
            };
            match &gi {
                None => set.add(gpu, [u], percent / 100.0),
                Some(gi) => set.add(instance, [u, gi.as_str()], percent / 100.0),
            }
        }
    }
    Ok(lost)
}

/// A GPU lost while GPM samples were taken: its GPM series are left out and `lost` is set (the
/// session ends after this collection); its other series were read already.
fn lost_is_omitted<T>(
    checked: Result<Option<T>, Stop>,
    lost: &mut bool,
) -> Result<Option<T>, Error> {
    match checked {
        Ok(v) => Ok(v),
        Err(Stop::Lost) => {
            *lost = true;
            Ok(None)
        }
        Err(Stop::Fatal(e)) => Err(e),
    }
}

fn known_uuid(known: &BTreeMap<u32, String>, index: u32) -> String {
    known.get(&index).cloned().unwrap_or_default()
}

fn collect_device(
    nvml: &Nvml,
    index: u32,
    set: &mut MetricSet,
    known: &mut BTreeMap<u32, String>,
    options: &Options,
    gpm_targets: &mut Vec<crate::gpm::Target>,
) -> Result<Option<GpuProcesses>, Stop> {
    let Some(device) = check(
        nvml.device_by_index(index),
        "nvmlDeviceGetHandleByIndex_v2",
        "",
    )?
    else {
        return Ok(None);
    };
    let Some(uuid) = check(device.uuid(), "nvmlDeviceGetUUID", "")? else {
        tracing::warn!(index, "GPU has no UUID; skipped");
        return Ok(None);
    };
    known.insert(index, uuid.clone());
    let u = uuid.as_str();
    let name = check(device.name(), "nvmlDeviceGetName", u)?.unwrap_or_default();
    let bus_id = check(device.pci_info(), "nvmlDeviceGetPciInfo_v3", u)?
        .map(|p| p.bus_id)
        .unwrap_or_default();
    set.add(&INFO, [u, &index.to_string(), &name, &bus_id], 1.0);

    let percent = |v: u32| f64::from(v) / 100.0;
    if let Some(util) = check(
        device.utilization_rates(),
        "nvmlDeviceGetUtilizationRates",
        u,
    )? {
        set.add(&UTILIZATION, [u], percent(util.gpu));
        set.add(&MEMORY_UTILIZATION, [u], percent(util.memory));
    }
    if let Some(enc) = check(
        device.encoder_utilization(),
        "nvmlDeviceGetEncoderUtilization",
        u,
    )? {
        set.add(&ENCODER_UTILIZATION, [u], percent(enc.utilization));
    }
    if let Some(dec) = check(
        device.decoder_utilization(),
        "nvmlDeviceGetDecoderUtilization",
        u,
    )? {
        set.add(&DECODER_UTILIZATION, [u], percent(dec.utilization));
    }
    if let Some(mem) = check(device.memory_info(), "nvmlDeviceGetMemoryInfo_v2", u)? {
        set.add(&MEMORY_USED, [u], mem.used as f64);
        set.add(&MEMORY_FREE, [u], mem.free as f64);
        set.add(&MEMORY_TOTAL, [u], mem.total as f64);
    }
    if let Some(t) = check(
        device.temperature(TemperatureSensor::Gpu),
        "nvmlDeviceGetTemperature",
        u,
    )? {
        set.add(&TEMPERATURE, [u], f64::from(t));
    }
    let watts = |mw: u32| f64::from(mw) / 1000.0;
    if let Some(mw) = check(device.power_usage(), "nvmlDeviceGetPowerUsage", u)? {
        set.add(&POWER_DRAW, [u], watts(mw));
    }
    if let Some(mw) = check(
        device.power_management_limit(),
        "nvmlDeviceGetPowerManagementLimit",
        u,
    )? {
        set.add(&POWER_LIMIT, [u], watts(mw));
    }
    if let Some(mw) = check(
        device.enforced_power_limit(),
        "nvmlDeviceGetEnforcedPowerLimit",
        u,
    )? {
        set.add(&POWER_LIMIT_ENFORCED, [u], watts(mw));
    }
    if let Some(mj) = check(
        device.total_energy_consumption(),
        "nvmlDeviceGetTotalEnergyConsumption",
        u,
    )? {
        set.add(&ENERGY, [u], mj as f64 / 1000.0);
    }
    if let Some(fans) = check(device.num_fans(), "nvmlDeviceGetNumFans", u)? {
        for fan in 0..fans {
            if let Some(speed) = check(device.fan_speed(fan), "nvmlDeviceGetFanSpeed_v2", u)? {
                set.add(&FAN_SPEED, [u, &fan.to_string()], percent(speed));
            }
        }
    }
    for (clock, label) in [
        (Clock::Graphics, "graphics"),
        (Clock::SM, "sm"),
        (Clock::Memory, "memory"),
        (Clock::Video, "video"),
    ] {
        if let Some(mhz) = check(device.clock_info(clock), "nvmlDeviceGetClockInfo", u)? {
            set.add(&CLOCK, [u, label], f64::from(mhz) * 1e6);
        }
    }
    if options.pcie_throughput {
        // NVML reports "KB/s", taken as KiB/s (bench/gpu-device.sh checks the unit on a real GPU).
        for (counter, desc) in [
            (PcieUtilCounter::Send, &PCIE_TX),
            (PcieUtilCounter::Receive, &PCIE_RX),
        ] {
            if let Some(kbs) = check(
                device.pcie_throughput(counter),
                "nvmlDeviceGetPcieThroughput",
                u,
            )? {
                set.add(desc, [u], f64::from(kbs) * 1024.0);
            }
        }
    }
    for (error, label) in [
        (MemoryError::Corrected, "corrected"),
        (MemoryError::Uncorrected, "uncorrected"),
    ] {
        if let Some(n) = check(
            device.total_ecc_errors(error, EccCounter::Aggregate),
            "nvmlDeviceGetTotalEccErrors",
            u,
        )? {
            set.add(&ECC_ERRORS, [u, label], n as f64);
        }
    }
    clock_events(&device, u, set)?;
    crate::health::collect(&device, u, set)?;
    let mut instances = crate::mig::Found::default();
    if let Some(mig) = check(device.mig_mode(), "nvmlDeviceGetMigMode", u)? {
        set.add(&MIG_ENABLED, [u], f64::from(u8::from(mig.current == 1)));
        if mig.current == 1 {
            instances = crate::mig::collect(&device, u, set)?;
        }
    }
    // GPM: the GPU and each of its GPU instances, sampled once every GPU has been read.
    if options.gpm && check(device.gpm_support(), "nvmlGpmQueryDeviceSupport", u)? == Some(true) {
        let target = |gpu_instance| crate::gpm::Target {
            index,
            uuid: uuid.clone(),
            gpu_instance,
        };
        gpm_targets.push(target(None));
        gpm_targets.extend(instances.gpu_instances.iter().map(|&gi| target(Some(gi))));
    }
    processes(&device, u, options, instances.processes, set)
}

fn clock_events(device: &Device<'_>, u: &str, set: &mut MetricSet) -> Result<(), Stop> {
    let Some(current) = check(
        device.current_throttle_reasons(),
        "nvmlDeviceGetCurrentClocksThrottleReasons",
        u,
    )?
    else {
        return Ok(());
    };
    // Only the reasons the GPU can report; all of them when it does not say.
    let supported = check(
        device.supported_throttle_reasons(),
        "nvmlDeviceGetSupportedClocksThrottleReasons",
        u,
    )?
    .map_or(u64::MAX, |s| s.bits());
    for (bit, reason) in CLOCK_EVENT_REASONS {
        if supported & bit != 0 {
            set.add(
                &CLOCK_EVENT,
                [u, reason],
                f64::from(u8::from(current.bits() & bit != 0)),
            );
        }
    }
    Ok(())
}

/// One process on one GPU, as NVML reports it.
#[derive(Debug, Default)]
struct GpuProcess {
    /// Device memory, when NVML knows it (not under some virtualisation or MIG setups).
    memory: Option<u64>,
    /// The latest utilization sample (SM, memory, encoder, decoder; percent).
    utilization: Option<[u32; 4]>,
}

/// One GPU's processes, waiting for their units (resolved once for all GPUs).
#[derive(Debug)]
struct GpuProcesses {
    uuid: String,
    by_pid: BTreeMap<u32, GpuProcess>,
    /// Whether NVML gave utilization samples (else no utilization series).
    sampled: bool,
}

/// Processes (compute and graphics, one entry per PID; those listed by the GPU's MIG instances
/// in `instances`) and their latest utilization samples; `None` when NVML lists none or neither
/// per-unit nor per-process series are wanted.
fn processes(
    device: &Device<'_>,
    u: &str,
    options: &Options,
    instances: Vec<ProcessInfo>,
    set: &mut MetricSet,
) -> Result<Option<GpuProcesses>, Stop> {
    let compute = check(
        device.running_compute_processes(),
        "nvmlDeviceGetComputeRunningProcesses_v3",
        u,
    )?;
    let graphics = check(
        device.running_graphics_processes(),
        "nvmlDeviceGetGraphicsRunningProcesses_v3",
        u,
    )?;
    if compute.is_none() && graphics.is_none() && instances.is_empty() {
        return Ok(None);
    }
    let mut by_pid: BTreeMap<u32, GpuProcess> = BTreeMap::new();
    // A process with both contexts is in both lists with the same figure: counted once; so is
    // a process that the GPU's list and its MIG instance's list both name.
    for info in compute
        .into_iter()
        .chain(graphics)
        .flatten()
        .chain(instances)
    {
        let entry = by_pid.entry(info.pid).or_default();
        if let UsedGpuMemory::Used(bytes) = info.used_gpu_memory {
            entry.memory = Some(entry.memory.map_or(bytes, |m| m.max(bytes)));
        }
    }
    set.add(&PROCESSES, [u], by_pid.len() as f64);
    if !options.units && !options.processes {
        return Ok(None);
    }
    // Utilization samples of processes that ran in the driver's buffer window; the latest per
    // PID. A process that used no SM time has no sample and counts 0.
    let samples = check(
        // NOT_FOUND is the driver's "no process used the GPU in the buffered window".
        match device.process_utilization_stats(None) {
            Err(NvmlError::NotFound) => Ok(Vec::new()),
            other => other,
        },
        "nvmlDeviceGetProcessUtilization",
        u,
    )?;
    if let Some(samples) = &samples {
        let mut latest: BTreeMap<u32, u64> = BTreeMap::new();
        for sample in samples {
            if latest
                .get(&sample.pid)
                .is_some_and(|&t| t > sample.timestamp)
            {
                continue;
            }
            latest.insert(sample.pid, sample.timestamp);
            // Only processes that hold the GPU now: a sample of one that exited is stale.
            if let Some(entry) = by_pid.get_mut(&sample.pid) {
                entry.utilization = Some([
                    sample.sm_util,
                    sample.mem_util,
                    sample.enc_util,
                    sample.dec_util,
                ]);
            }
        }
    }
    Ok(Some(GpuProcesses {
        uuid: u.to_owned(),
        by_pid,
        sampled: samples.is_some(),
    }))
}

impl GpuProcesses {
    /// The per-unit sums and, when asked, the per-process series, given each PID's unit.
    fn add_to(&self, units: &HashMap<u32, String>, options: &Options, set: &mut MetricSet) {
        let u = self.uuid.as_str();
        let unit = |pid: &u32| {
            units
                .get(pid)
                .map_or(crate::cgroup::UNKNOWN, String::as_str)
        };
        if options.units {
            #[derive(Default)]
            struct Sum {
                processes: u32,
                memory: Option<u64>,
                utilization: [u32; 4],
            }
            let mut sums: BTreeMap<&str, Sum> = BTreeMap::new();
            for (pid, process) in &self.by_pid {
                let sum = sums.entry(unit(pid)).or_default();
                sum.processes += 1;
                if let Some(bytes) = process.memory {
                    sum.memory = Some(sum.memory.unwrap_or(0).saturating_add(bytes));
                }
                for (total, v) in sum
                    .utilization
                    .iter_mut()
                    .zip(process.utilization.unwrap_or_default())
                {
                    *total = total.saturating_add(v);
                }
            }
            for (name, sum) in &sums {
                set.add(&UNIT_PROCESSES, [u, name], f64::from(sum.processes));
                if let Some(bytes) = sum.memory {
                    set.add(&UNIT_MEMORY, [u, name], bytes as f64);
                }
                if self.sampled {
                    for (desc, v) in [
                        &UNIT_SM_UTILIZATION,
                        &UNIT_MEMORY_UTILIZATION,
                        &UNIT_ENCODER_UTILIZATION,
                        &UNIT_DECODER_UTILIZATION,
                    ]
                    .into_iter()
                    .zip(sum.utilization)
                    {
                        set.add(desc, [u, name], f64::from(v) / 100.0);
                    }
                }
            }
        }
        if options.processes {
            for (pid, process) in &self.by_pid {
                if let Some(bytes) = process.memory {
                    set.add(
                        &PROCESS_MEMORY,
                        [u, &pid.to_string(), &process_name(*pid), unit(pid)],
                        bytes as f64,
                    );
                }
            }
        }
    }
}

/// The process's command name from /proc, as `ps -o comm` shows it; empty when the process is
/// gone, hidden (`ProtectProc=invisible`) or in another PID namespace.
fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end_matches('\n').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_name_reads_proc() {
        let me = process_name(std::process::id());
        assert!(!me.is_empty());
        assert_eq!(process_name(u32::MAX), "");
    }

    #[test]
    fn clock_event_bits_are_distinct_and_complete() {
        let all = CLOCK_EVENT_REASONS
            .iter()
            .fold(0, |acc, (bit, _)| acc | bit);
        assert_eq!(all, 0x1ff);
    }
}
