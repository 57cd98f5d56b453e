//! sysgauge-backup: are the backups fresh? Artifacts (dumps, archives), systemd backup jobs and
//! ZFS snapshots, each target with its own maximum age, as Prometheus metrics.
//!
//! ```text
//! sysgauge-backup --artifact 'pg=/var/backup/postgresql/*.sql:26h' --job nightly=backup.timer:26h once
//! sysgauge-backup --config /etc/sysgauge/backup.toml textfile --directory /var/lib/node_exporter
//! sysgauge-backup --config /etc/sysgauge/backup.toml serve
//! ```

mod artifact;
pub mod checks;
mod config;
mod content;
mod error;
mod job;
pub mod metrics;
mod zfs;

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use sysgauge_common::{
    Collector, Identity,
    cli::{GlobalArgs, Mode},
    config::Origin,
    metrics::FamilyDescription,
    run::collector_timeout,
};
use sysgauge_dbus::{Bus, Options, SystemdClient};

use crate::{
    artifact::ArtifactsCollector,
    config::{Kind, TargetConfig},
    job::JobsCollector,
    zfs::ZfsCollector,
};

/// Who this exporter is: binary name, metric domain, default port and version.
pub static IDENTITY: Identity = Identity {
    binary: "sysgauge-backup",
    domain: "backup",
    default_port: 9866,
    version: env!("CARGO_PKG_VERSION"),
    checks: &checks::CHECKS,
};

/// Backup freshness (files, systemd jobs, ZFS snapshots) as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(
    name = "sysgauge-backup",
    version,
    long_version = sysgauge_common::build_info::LONG_VERSION,
    about,
    max_term_width = 100
)]
pub struct Args {
    #[command(flatten)]
    global: GlobalArgs,

    /// An artifact target NAME=PATH_OR_GLOB:MAXAGE, e.g. 'pg=/var/backup/pg/*.sql:26h';
    /// repeatable. Content checks need the configuration file. Flags replace the file's
    /// [[targets]].
    #[arg(long = "artifact", global = true, value_name = "NAME=GLOB:MAXAGE")]
    artifacts: Vec<String>,

    /// A job target NAME=UNIT:MAXAGE, e.g. nightly=backup.timer:26h; repeatable.
    #[arg(long = "job", global = true, value_name = "NAME=UNIT:MAXAGE")]
    jobs: Vec<String>,

    /// The zfs command [default: zfs, from PATH].
    #[arg(long = "zfs-command", global = true, value_name = "PATH")]
    zfs_command: Option<PathBuf>,

    /// D-Bus address to use instead of the system bus, for job targets.
    #[arg(long = "bus-address", global = true, value_name = "ADDRESS")]
    bus_address: Option<String>,

    /// Where job targets' last successes are remembered across failed runs and restarts
    /// [default: $STATE_DIRECTORY, set by systemd's StateDirectory=; else not remembered].
    #[arg(long = "state-directory", global = true, value_name = "DIR")]
    state_directory: Option<PathBuf>,

    #[command(subcommand)]
    mode: Mode,
}

sysgauge_common::exporter_config! {
    /// The configuration file of sysgauge-backup.
    pub struct Config {
        /// `[[targets]]`: what to watch.
        pub targets: Vec<TargetConfig>,
        /// The zfs command.
        pub zfs_command: Option<PathBuf>,
        /// D-Bus address instead of the system bus.
        pub bus_address: Option<String>,
        /// Where job successes are remembered.
        pub state_directory: Option<PathBuf>,
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
    sysgauge_common::run(&IDENTITY, &args.global, &args.mode, |config: &Config| {
        let from_flags: Vec<TargetConfig> = args
            .artifacts
            .iter()
            .map(|v| config::parse_flag("artifact", v, Kind::Artifact))
            .chain(
                args.jobs
                    .iter()
                    .map(|v| config::parse_flag("job", v, Kind::Job)),
            )
            .collect::<Result<_, _>>()?;
        let targets = if from_flags.is_empty() {
            config::check_all(&config.targets, &|i, key| {
                config.source.origin(&format!("targets[{i}].{key}"))
            })?
        } else {
            // Flags come in two kinds; a target from either is named by the flag.
            let kinds: Vec<&str> = args
                .artifacts
                .iter()
                .map(|_| "artifact")
                .chain(args.jobs.iter().map(|_| "job"))
                .collect();
            config::check_all(&from_flags, &|i, _| Origin::Flag(kinds[i].into()))?
        };
        if targets.is_empty() {
            anyhow::bail!(
                "no backup targets: give --artifact or --job, or [[targets]] in the --config file"
            );
        }
        let deadline = collector_timeout(&args.global, &config.collector);
        // Inner deadlines stay under the collector's, so that a slow target is reported as
        // such while the collection as a whole still answers.
        let inner = sysgauge_common::deadline::share(deadline);
        let mut collectors: Vec<Arc<dyn Collector>> = Vec::new();
        if let Some(c) = ArtifactsCollector::new(&targets, inner) {
            collectors.push(Arc::new(c));
        }
        let bus = match args.bus_address.clone().or(config.bus_address.clone()) {
            Some(address) => Bus::Address(address),
            None => Bus::System,
        };
        let state_dir = sysgauge_common::fs::state_directory(
            args.state_directory
                .clone()
                .or(config.state_directory.clone()),
        );
        let client = SystemdClient::new(
            bus,
            Options {
                connect_timeout: inner.min(Duration::from_secs(5)),
                call_timeout: inner,
                max_concurrent_calls: 8,
            },
        );
        if let Some(c) = JobsCollector::new(&targets, client, state_dir) {
            collectors.push(Arc::new(c));
        }
        let zfs = args
            .zfs_command
            .clone()
            .or(config.zfs_command.clone())
            .unwrap_or_else(|| PathBuf::from("zfs"));
        if let Some(c) = ZfsCollector::new(&targets, zfs, inner) {
            collectors.push(Arc::new(c));
        }
        Ok(collectors)
    })
}
