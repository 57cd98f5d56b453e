//! sysgauge-restic: restic repositories, snapshots and locks as Prometheus metrics.
//!
//! ```text
//! sysgauge-restic --repository /srv/restic --password-file /run/keys/restic once
//! sysgauge-restic --config /etc/sysgauge/restic.toml textfile --directory /var/lib/node_exporter
//! sysgauge-restic --config /etc/sysgauge/restic.toml serve
//! ```

pub mod checks;
mod collector;
mod config;
mod error;
pub mod metrics;
mod repo_check;
mod restic;
mod snapshots;

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use clap::Parser;
use sysgauge_common::{
    Collector, Identity,
    cli::{GlobalArgs, Mode},
    config::Origin,
    limits::{Concurrency, ReadInterval},
    metrics::FamilyDescription,
    run::collector_timeout,
};

use crate::{
    collector::{RepositoriesCollector, SlowMode},
    config::{RepositoryConfig, check_unique},
};

/// Who this exporter is: binary name, metric domain, default port and version.
pub static IDENTITY: Identity = Identity {
    binary: "sysgauge-restic",
    domain: "restic",
    default_port: 9865,
    version: env!("CARGO_PKG_VERSION"),
    checks: &checks::CHECKS,
};

/// restic repositories, snapshots and locks as Prometheus metrics, without taking a lock.
#[derive(Debug, Parser)]
#[command(
    name = "sysgauge-restic",
    version,
    long_version = sysgauge_common::build_info::LONG_VERSION,
    about,
    max_term_width = 100
)]
pub struct Args {
    #[command(flatten)]
    global: GlobalArgs,

    /// Repository location, as for `restic -r`; repeatable. Replaces the [[repositories]] of
    /// the configuration file. Needs --password-file or --password-command.
    #[arg(long = "repository", global = true, value_name = "REPO")]
    repositories: Vec<String>,

    /// Password file of the --repository repositories (RESTIC_PASSWORD_FILE).
    #[arg(long, global = true, value_name = "FILE")]
    password_file: Option<PathBuf>,

    /// Command printing the password of the --repository repositories
    /// (RESTIC_PASSWORD_COMMAND).
    #[arg(long, global = true, value_name = "COMMAND")]
    password_command: Option<String>,

    /// The restic binary [default: restic, from PATH].
    #[arg(long, global = true, value_name = "PATH")]
    restic: Option<PathBuf>,

    /// Under serve, how often each repository's snapshots and locks are read (1s to 1day);
    /// scrapes in between are answered from the last read [default: 5m].
    #[arg(long, global = true, value_name = "DURATION")]
    read_interval: Option<ReadInterval>,

    #[command(subcommand)]
    mode: Mode,
}

sysgauge_common::exporter_config! {
    /// The configuration file of sysgauge-restic.
    pub struct Config {
        /// The restic binary (default: `restic` from PATH).
        pub restic: Option<PathBuf>,
        /// How many repositories are read at once (default 4).
        pub concurrency: Option<Concurrency>,
        /// Under `serve`, how often each repository is read (default 5m); a repository's own
        /// `read_interval` wins.
        pub read_interval: Option<ReadInterval>,
        /// Where the rolling `check_read_data_parts` remembers the next part (default:
        /// `$STATE_DIRECTORY`, which systemd's `StateDirectory=` sets).
        pub state_directory: Option<PathBuf>,
        /// `[[repositories]]`: the repositories to read.
        pub repositories: Vec<RepositoryConfig>,
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
    let slow_mode = match args.mode {
        Mode::Serve(_) => SlowMode::Background,
        Mode::Once | Mode::Textfile(_) => SlowMode::Inline,
        Mode::Check(_) => SlowMode::Skip,
    };
    sysgauge_common::run(&IDENTITY, &args.global, &args.mode, |config: &Config| {
        let binary = args
            .restic
            .clone()
            .or_else(|| config.restic.clone())
            .unwrap_or_else(|| "restic".into());
        let collector_timeout = collector_timeout(&args.global, &config.collector);
        // A repository's own deadline comes before the collector's, so that a hung repository
        // is reported as a timeout while the others still answer.
        let default_timeout = sysgauge_common::deadline::share(collector_timeout);
        let default_read_interval = args
            .read_interval
            .or(config.read_interval)
            .map_or(config::DEFAULT_READ_INTERVAL, ReadInterval::get);
        let configs = if args.repositories.is_empty() {
            config.repositories.clone()
        } else {
            args.repositories
                .iter()
                .map(|repository| RepositoryConfig {
                    repository: Some(repository.clone()),
                    password_file: args.password_file.clone(),
                    password_command: args.password_command.clone(),
                    ..RepositoryConfig::default()
                })
                .collect()
        };
        if configs.is_empty() {
            anyhow::bail!(
                "no repositories to read: give --repository, or [[repositories]] in the --config file"
            );
        }
        let credentials = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
        let state = sysgauge_common::fs::state_directory(config.state_directory.clone());
        // Errors name the key in the file, or the flag that stands for it.
        let from_flags = !args.repositories.is_empty();
        let at = |i: usize, key: &str| {
            if from_flags {
                Origin::Flag(match key {
                    "repository" | "name" => "repository".into(),
                    other => other.replace('_', "-"),
                })
            } else {
                config.source.origin(&format!("repositories[{i}].{key}"))
            }
        };
        let repos = configs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.resolve(
                    &|key| at(i, key),
                    &binary,
                    default_timeout,
                    default_read_interval,
                    credentials.as_deref(),
                    state.as_deref(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        check_unique(&repos, &at)?;
        for repo in &repos {
            if repo.timeout > collector_timeout {
                tracing::warn!(repository = %repo.name, "the repository's timeout is longer than --collector.timeout, which then cuts it short");
            }
            let slow = [repo.stats, repo.check].into_iter().flatten();
            if slow_mode == SlowMode::Inline && slow.clone().any(|s| s.timeout > collector_timeout)
            {
                tracing::warn!(repository = %repo.name, "stats_timeout or check_timeout is longer than --collector.timeout; in once and textfile they run within the collection, so raise --collector.timeout");
            }
        }
        // In range by its type: at least 1, far below tokio's semaphore limit.
        let concurrency = config.concurrency.map_or(4, Concurrency::get);
        let collectors: Vec<Arc<dyn Collector>> = vec![Arc::new(RepositoriesCollector::new(
            binary,
            repos,
            concurrency,
            slow_mode,
        ))];
        Ok(collectors)
    })
}
