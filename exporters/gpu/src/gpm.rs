//! GPU Performance Monitoring (GPM, Hopper and newer): activity ratios per GPU and per MIG GPU
//! instance.
//!
//! NVML answers `nvmlDeviceGetUtilizationRates` with NOT_SUPPORTED on MIG devices; GPM is the
//! way to activity per GPU instance (what DCGM's profiling metrics use). A GPM metric is the
//! difference of two samples taken some time apart, so a value is always an average over an
//! interval:
//! - in `serve`, each GPU's (and instance's) last sample is kept between collections, and a
//!   collection reports the average since the previous one: nothing between two scrapes is
//!   missed, and a scrape costs no waiting. The first collection, and one that comes sooner than
//!   the window after the previous, waits until the window has passed.
//! - in `once` and `textfile`, two samples are taken the window apart (`[nvml] gpm_window`,
//!   200 ms by default), which that run waits for once, whatever the number of GPUs.
//!
//! A sample borrows the initialised library (`GpmSample<'nvml>`), which the collector's state
//! cannot hold beside the session it borrows from without unsafe code. The samples therefore
//! live on one thread per NVML session, which owns a reference to the session and answers
//! requests over a channel; when the session ends the channel closes, and the thread frees its
//! samples (`nvmlGpmSampleFree`) before it lets go of the session.

use std::{
    collections::HashMap,
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use nvml_wrapper::{
    GpmSample, Nvml, enums::gpm::GpmMetricId, error::NvmlError, gpm::gpm_metrics_get,
};
use sysgauge_common::limits::BoundedDuration;

use crate::{metrics::*, session::Session};

/// `[nvml] gpm_window`: how far apart the two samples of a `once` or `textfile` run (and of the
/// first collection of `serve`) are taken: 100 ms to 1 s. Shorter averages are noisy (the
/// counters are sampled by the driver), longer ones hold up every one-shot run.
pub type Window = BoundedDuration<100, 1000>;

/// The default [`Window`]: 200 ms.
pub const DEFAULT_WINDOW: Window = Window::from_const(Duration::from_millis(200));

/// The GPM metrics reported, with the family for a whole GPU and for a MIG GPU instance. NVML
/// gives percent; the series are ratios.
pub const METRICS: [(GpmMetricId, &GpuDesc, &InstanceDesc); 5] = [
    (
        GpmMetricId::GraphicsUtil,
        &GPM_GRAPHICS_ACTIVITY,
        &MIG_GRAPHICS_ACTIVITY,
    ),
    (GpmMetricId::SmUtil, &GPM_SM_ACTIVITY, &MIG_SM_ACTIVITY),
    (
        GpmMetricId::SmOccupancy,
        &GPM_SM_OCCUPANCY,
        &MIG_SM_OCCUPANCY,
    ),
    (
        GpmMetricId::AnyTensorUtil,
        &GPM_TENSOR_ACTIVITY,
        &MIG_TENSOR_ACTIVITY,
    ),
    (
        GpmMetricId::DramBwUtil,
        &GPM_DRAM_BANDWIDTH,
        &MIG_DRAM_BANDWIDTH,
    ),
];

/// What to sample: a GPU, or one GPU instance of a GPU in MIG mode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The GPU's NVML index, to get its handle.
    pub index: u32,
    /// The GPU's UUID: what samples are kept by, so that a renumbered GPU is not paired with
    /// another's sample.
    pub uuid: String,
    /// The GPU instance id, or `None` for the whole GPU.
    pub gpu_instance: Option<u32>,
}

/// The GPM metrics of one target over one interval.
#[derive(Debug)]
pub struct Reading {
    /// Time between the two samples.
    pub interval: Duration,
    /// Each of [`METRICS`] in order: percent, or why NVML gave none.
    pub values: Vec<Result<f64, NvmlError>>,
}

type Reply = Vec<(Target, Result<Reading, NvmlError>)>;

struct Request {
    targets: Vec<Target>,
    window: Duration,
    reply: mpsc::Sender<Reply>,
}

/// The thread holding one session's GPM samples.
#[derive(Debug)]
pub struct Sampler {
    requests: mpsc::Sender<Request>,
}

impl Sampler {
    /// Starts the thread for `session`; `None` (logged) when the library cannot free samples
    /// (nvml-wrapper would panic dropping one) or the thread cannot be started.
    pub fn start(session: Arc<Session>) -> Option<Self> {
        if session.nvml.lib().nvmlGpmSampleFree.is_err() {
            tracing::debug!("the NVML library lacks nvmlGpmSampleFree; GPM metrics left out");
            return None;
        }
        let (requests, receiver) = mpsc::channel::<Request>();
        let spawned = std::thread::Builder::new()
            .name("gpm".into())
            .spawn(move || serve_requests(&session, receiver));
        match spawned {
            Ok(_) => Some(Self { requests }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the GPM thread; GPM metrics left out");
                None
            }
        }
    }

    /// Readings of `targets`, averaged since each one's previous sample, or over `window` for a
    /// target sampled for the first time. `None` when the thread is gone (it panicked).
    pub fn read(&self, targets: Vec<Target>, window: Duration) -> Option<Reply> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .send(Request {
                targets,
                window,
                reply,
            })
            .ok()?;
        answer.recv().ok()
    }
}

/// The thread's loop: one request at a time, until the session's [`Sampler`] is dropped.
fn serve_requests(session: &Session, requests: mpsc::Receiver<Request>) {
    let nvml = &session.nvml;
    // Declared after `session`'s borrow: dropped (and freed in NVML) before the session is.
    let mut last: HashMap<Target, (Instant, GpmSample<'_>)> = HashMap::new();
    while let Ok(request) = requests.recv() {
        let reply = read(nvml, &mut last, request.targets, request.window);
        // The collection that asked may have been abandoned at its deadline: nobody to tell.
        let _ = request.reply.send(reply);
    }
}

fn sample<'n>(nvml: &'n Nvml, target: &Target) -> Result<GpmSample<'n>, NvmlError> {
    let device = nvml.device_by_index(target.index)?;
    match target.gpu_instance {
        None => device.gpm_sample(),
        Some(gi) => device.gpm_mig_sample(gi),
    }
}

fn read<'n>(
    nvml: &'n Nvml,
    last: &mut HashMap<Target, (Instant, GpmSample<'n>)>,
    targets: Vec<Target>,
    window: Duration,
) -> Reply {
    // Instances that are gone (or GPUs no longer sampled) free their samples.
    last.retain(|t, _| targets.contains(t));
    let mut failed: Vec<(Target, NvmlError)> = Vec::new();
    // A target without a previous sample gets one now; the wait below is then shared by
    // every such target.
    for target in &targets {
        if !last.contains_key(target) {
            match sample(nvml, target) {
                Ok(s) => {
                    last.insert(target.clone(), (Instant::now(), s));
                }
                Err(e) => failed.push((target.clone(), e)),
            }
        }
    }
    let youngest = targets
        .iter()
        .filter_map(|t| last.get(t).map(|(at, _)| at.elapsed()))
        .min();
    if let Some(age) = youngest
        && age < window
    {
        std::thread::sleep(window - age);
    }
    let mut reply: Reply = failed
        .into_iter()
        .map(|(t, e)| (t, Err(e)))
        .collect::<Vec<_>>();
    for target in targets {
        let Some((at, previous)) = last.remove(&target) else {
            continue;
        };
        let now = match sample(nvml, &target) {
            Ok(s) => s,
            Err(e) => {
                // Kept: the next collection averages over both intervals.
                last.insert(target.clone(), (at, previous));
                reply.push((target, Err(e)));
                continue;
            }
        };
        let taken = Instant::now();
        let ids: Vec<GpmMetricId> = METRICS.iter().map(|(id, _, _)| *id).collect();
        let result = gpm_metrics_get(nvml, &previous, &now, &ids).map(|values| Reading {
            interval: taken.duration_since(at),
            values: values.into_iter().map(|v| v.map(|m| m.value)).collect(),
        });
        last.insert(target.clone(), (taken, now));
        reply.push((target, result));
    }
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_has_distinct_families() {
        let mut names: Vec<&str> = METRICS
            .iter()
            .flat_map(|(_, g, i)| [g.name(), i.name()])
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 2 * METRICS.len());
        assert!(names.iter().all(|n| n.ends_with("_ratio")));
    }
}
