//! sysgauge-gpu: NVIDIA GPUs through NVML, as Prometheus metrics.
//!
//! ```text
//! sysgauge-gpu once
//! sysgauge-gpu --nvml.library /run/opengl-driver/lib/libnvidia-ml.so.1 textfile --directory /var/lib/node_exporter
//! sysgauge-gpu --config /etc/sysgauge/gpu.toml serve
//! ```
//!
//! It replaces a root `nvidia-smi --query-gpu` loop: NVML is loaded in-process (no fork per
//! scrape), needs no root, and metrics come in base units keyed by GPU UUID.

mod cgroup;
pub mod checks;
mod error;
mod gpm;
mod gpus;
mod health;
pub mod metrics;
mod mig;
mod session;
mod xid;

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::Parser;
use serde::Deserialize;
use sysgauge_common::{
    Collector, Identity,
    cli::{GlobalArgs, Mode},
    config::SettingError,
    metrics::FamilyDescription,
};

use crate::gpus::{GpusCollector, Options};

/// Who this exporter is: binary name, metric domain, default port and version.
pub static IDENTITY: Identity = Identity {
    binary: "sysgauge-gpu",
    domain: "gpu",
    default_port: 9864,
    version: env!("CARGO_PKG_VERSION"),
    checks: &checks::CHECKS,
};

/// NVIDIA GPUs through NVML, as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(
    name = "sysgauge-gpu",
    version,
    long_version = sysgauge_common::build_info::LONG_VERSION,
    about,
    max_term_width = 100
)]
pub struct Args {
    #[command(flatten)]
    global: GlobalArgs,

    /// The NVML library: an absolute path, or a file name for the dynamic linker to find
    /// [default: libnvidia-ml.so.1].
    #[arg(long = "nvml.library", global = true, value_name = "PATH")]
    nvml_library: Option<PathBuf>,

    #[command(subcommand)]
    mode: Mode,
}

/// `[nvml]`: how NVML is used.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvmlSection {
    /// The NVML library (`--nvml.library`).
    pub library: Option<PathBuf>,
    /// Report GPU memory per process, labelled by PID and name [default: false]: PIDs churn
    /// (a series per model load), and names are hidden under the shipped units.
    pub processes: Option<bool>,
    /// Report GPU memory and utilization per systemd unit [default: true].
    pub units: Option<bool>,
    /// Report PCIe throughput, which NVML samples for 20 ms per direction and GPU
    /// [default: true].
    pub pcie_throughput: Option<bool>,
    /// Report GPM activity ratios (SM activity and occupancy, tensor, DRAM bandwidth) per GPU
    /// and MIG GPU instance, where the GPU supports GPM (Hopper and newer) [default: true].
    pub gpm: Option<bool>,
    /// How far apart the two GPM samples of `once` and `textfile` (and the first collection of
    /// `serve`) are taken: 100 ms to 1 s [default: 200ms]. The run waits that long once.
    pub gpm_window: Option<gpm::Window>,
}

sysgauge_common::exporter_config! {
    /// The configuration file of sysgauge-gpu.
    pub struct Config {
        /// `[nvml]`
        pub nvml: NvmlSection,
    }
}

/// Every metric family this exporter reports, the self-metrics included: the reference that
/// docs/metrics.md, the dashboards and the alert rules are checked against.
pub fn families() -> Vec<FamilyDescription> {
    let mut families = sysgauge_common::collector::self_families(IDENTITY.domain);
    families.extend(metrics::families());
    families
}

/// Runs the exporter with parsed arguments: the whole program after flag parsing.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let serve = matches!(args.mode, Mode::Serve(_));
    sysgauge_common::run(&IDENTITY, &args.global, &args.mode, |config: &Config| {
        let library = args.nvml_library.clone().or(config.nvml.library.clone());
        if let Some(path) = &library {
            session::validate_library(path).map_err(|e| {
                let message = sysgauge_common::collector::error_chain(&e);
                if args.nvml_library.is_some() {
                    SettingError::flag("nvml.library", message)
                } else {
                    config.source.error("nvml.library", message)
                }
            })?;
        }
        let options = Options {
            library,
            processes: config.nvml.processes.unwrap_or(false),
            units: config.nvml.units.unwrap_or(true),
            pcie_throughput: config.nvml.pcie_throughput.unwrap_or(true),
            gpm: config.nvml.gpm.unwrap_or(true),
            gpm_window: config.nvml.gpm_window.unwrap_or(gpm::DEFAULT_WINDOW).get(),
        };
        // XIDs arrive as NVML events, which only a long-running process can wait for.
        let xids = serve.then(|| Arc::new(xid::XidCounts::default()));
        let collectors: Vec<Arc<dyn Collector>> = vec![Arc::new(GpusCollector::new(options, xids))];
        Ok(collectors)
    })
}
