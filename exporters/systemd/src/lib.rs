//! sysgauge-systemd: systemd unit, service, timer and socket health as Prometheus metrics.
//!
//! ```text
//! sysgauge-systemd once
//! sysgauge-systemd --unit-include '.+\.(service|timer)' --critical-unit backup.service serve
//! sysgauge-systemd --config /etc/sysgauge/systemd.toml textfile --directory /var/lib/node_exporter
//! ```

mod boot;
pub mod checks;
mod error;
pub mod metrics;
mod resources;
mod states;
mod units;
mod users;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use sysgauge_common::{
    Collector, Identity,
    cli::{GlobalArgs, Mode},
    config::SettingError,
    limits::Concurrency,
    metrics::FamilyDescription,
    run::collector_timeout,
};
use sysgauge_dbus::{Bus, Options, SystemdClient};

use crate::{
    boot::{BootCollector, DEFAULT_SLOWEST, SlowestUnits},
    error::Error,
    states::StatesCollector,
    units::{UnitFilter, UnitsCollector},
    users::{UserCount, UsersCollector},
};

/// Who this exporter is: binary name, metric domain, default port and version.
pub static IDENTITY: Identity = Identity {
    binary: "sysgauge-systemd",
    domain: "systemd",
    default_port: 9863,
    version: env!("CARGO_PKG_VERSION"),
    checks: &checks::CHECKS,
};

/// The default exclude pattern: unit types that are numerous, short-lived or rarely alerted on.
const DEFAULT_EXCLUDE: &str = r".+\.(automount|device|mount|scope|slice|swap)";
/// The default number of `GetAll` calls in flight at once.
const DEFAULT_CONCURRENCY: Concurrency = Concurrency::from_const(64);

/// systemd unit, service, timer and socket health over D-Bus, as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(
    name = "sysgauge-systemd",
    version,
    long_version = sysgauge_common::build_info::LONG_VERSION,
    about,
    max_term_width = 100
)]
pub struct Args {
    #[command(flatten)]
    global: GlobalArgs,

    /// Report units whose whole name matches this regular expression; repeatable
    /// [default: all].
    #[arg(long = "unit-include", global = true, value_name = "REGEX")]
    unit_include: Vec<String>,

    /// Leave out units whose whole name matches this regular expression; repeatable
    /// [default: .+\.(automount|device|mount|scope|slice|swap)].
    #[arg(long = "unit-exclude", global = true, value_name = "REGEX")]
    unit_exclude: Vec<String>,

    /// A unit that alerts and dashboards should single out; always reported, even when the
    /// patterns leave it out or it does not exist. Repeatable.
    #[arg(long = "critical-unit", global = true, value_name = "UNIT")]
    critical_units: Vec<String>,

    /// Report the accounting (CPU, memory, IO, tasks) of the slices and scopes whose whole name
    /// matches this regular expression; repeatable [default: (system|user|machine)\.slice].
    #[arg(long = "cgroup-include", global = true, value_name = "REGEX")]
    cgroup_include: Vec<String>,

    /// Report the unit-file state (enabled, disabled, masked, ...) of the reported units whose
    /// whole name matches this regular expression, and of the critical units; repeatable
    /// [default: .+\.(timer|socket|path)].
    #[arg(long = "unit-file-include", global = true, value_name = "REGEX")]
    unit_file_include: Vec<String>,

    /// D-Bus address to use, e.g. unix:path=/run/user/1000/bus for a user's manager
    /// [default: systemd's private socket /run/systemd/private when running as root, else
    /// the system bus].
    #[arg(long = "bus-address", global = true, value_name = "ADDRESS")]
    bus_address: Option<String>,

    /// Most D-Bus calls in flight at once [default: 64].
    #[arg(long = "max-concurrent-calls", global = true, value_name = "N")]
    max_concurrent_calls: Option<Concurrency>,

    /// How many of the units that took longest to activate during the last boot to report,
    /// 0 (none) to 100 [default: 10].
    #[arg(long = "boot-slowest-units", global = true, value_name = "N")]
    boot_slowest_units: Option<SlowestUnits>,

    /// The uid of a user whose systemd manager to report as well (read on
    /// /run/user/UID/systemd/private as root, else on /run/user/UID/bus); repeatable, at most
    /// 256 [default: none].
    #[arg(long = "user-manager", global = true, value_name = "UID")]
    user_managers: Vec<u32>,

    #[command(subcommand)]
    mode: Mode,
}

sysgauge_common::exporter_config! {
    /// The configuration file of sysgauge-systemd.
    pub struct Config {
        /// Anchored regular expressions of units to report; all when empty.
        pub unit_include: Vec<String>,
        /// Anchored regular expressions of units to leave out.
        pub unit_exclude: Option<Vec<String>>,
        /// Units to single out, always reported.
        pub critical_units: Vec<String>,
        /// Anchored regular expressions of the slices and scopes whose accounting is reported.
        pub cgroup_include: Option<Vec<String>>,
        /// Anchored regular expressions of the units whose unit-file state is reported.
        pub unit_file_include: Option<Vec<String>>,
        /// D-Bus address instead of the system bus.
        pub bus_address: Option<String>,
        /// Most D-Bus calls in flight at once.
        pub max_concurrent_calls: Option<Concurrency>,
        /// How many of the boot's slowest units to report.
        pub boot_slowest_units: Option<SlowestUnits>,
        /// The uids of users whose systemd managers to report.
        pub user_managers: Vec<u32>,
        /// Where `once` and `textfile` keep the boot's slowest units across runs (default:
        /// `$STATE_DIRECTORY`, which systemd's `StateDirectory=` sets).
        pub state_directory: Option<std::path::PathBuf>,
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
        let pick = |flag: &Vec<String>, file: &Vec<String>| {
            if flag.is_empty() {
                file.clone()
            } else {
                flag.clone()
            }
        };
        let include = pick(&args.unit_include, &config.unit_include);
        let exclude = if !args.unit_exclude.is_empty() {
            args.unit_exclude.clone()
        } else {
            config
                .unit_exclude
                .clone()
                .unwrap_or_else(|| vec![DEFAULT_EXCLUDE.to_owned()])
        };
        let critical = pick(&args.critical_units, &config.critical_units);
        // Which setting a bad pattern came from: the flag when given, else the file.
        let origin = |message: String, flag: &Vec<String>, key: &str| {
            if flag.is_empty() {
                config.source.error(&key.replace('-', "_"), message)
            } else {
                SettingError::flag(key, message)
            }
        };
        let filter = UnitFilter::new(&include, &exclude).map_err(|e| {
            // The pattern itself is in the message; the origin says which list it is in.
            if matches!(&e, Error::Pattern { setting, .. } if *setting == "unit include") {
                origin(e.to_string(), &args.unit_include, "unit-include")
            } else {
                origin(e.to_string(), &args.unit_exclude, "unit-exclude")
            }
        })?;
        let cgroups = optional_patterns(
            &args.cgroup_include,
            &config.cgroup_include,
            resources::DEFAULT_CGROUP_INCLUDE,
            "cgroup-include",
        )
        .map_err(|e| origin(e, &args.cgroup_include, "cgroup-include"))?;
        let file_states = optional_patterns(
            &args.unit_file_include,
            &config.unit_file_include,
            states::DEFAULT_UNIT_FILE_INCLUDE,
            "unit-file-include",
        )
        .map_err(|e| origin(e, &args.unit_file_include, "unit-file-include"))?;
        // In range by its type: at least 1, far below tokio's semaphore limit.
        let concurrency = args
            .max_concurrent_calls
            .or(config.max_concurrent_calls)
            .unwrap_or(DEFAULT_CONCURRENCY)
            .get();
        // Without an address: systemd's private socket when running as root (no bus daemon
        // in between, several times cheaper per call), else the system bus.
        let bus = match args.bus_address.clone().or(config.bus_address.clone()) {
            Some(address) => Bus::Address(address),
            None => Bus::Auto,
        };
        // Connecting and each call get the sub-tasks' share of the collector's deadline: the
        // collection as a whole is bounded by it in common, these keep a hung call from
        // outliving it and report it as such while the collection still answers.
        let deadline =
            sysgauge_common::deadline::share(collector_timeout(&args.global, &config.collector));
        let users = if args.user_managers.is_empty() {
            config.user_managers.clone()
        } else {
            args.user_managers.clone()
        };
        UserCount::new(users.len() as u64).map_err(|e| {
            let message = format!("{} users' managers: {e}", users.len());
            if args.user_managers.is_empty() {
                config.source.error("user_managers", message)
            } else {
                SettingError::flag("user-manager", message)
            }
        })?;
        let slowest = args
            .boot_slowest_units
            .or(config.boot_slowest_units)
            .unwrap_or(DEFAULT_SLOWEST);
        let options = Options {
            connect_timeout: deadline.min(Duration::from_secs(5)),
            call_timeout: deadline,
            max_concurrent_calls: concurrency,
        };
        // One connection for the system manager's collectors: systemd sends every signal to
        // each of its private connections, and each connection costs it a setup.
        let client = Arc::new(SystemdClient::new(bus, options));
        // `serve` collects again and again: it keeps what it read of each unit until systemd
        // signals a change.
        let keep = matches!(args.mode, Mode::Serve(_));
        let mut collectors: Vec<Arc<dyn Collector>> = vec![
            Arc::new(UnitsCollector::new(
                Arc::clone(&client),
                filter.clone(),
                critical.clone(),
                cgroups,
                keep,
            )),
            Arc::new(StatesCollector::new(
                Arc::clone(&client),
                filter.clone(),
                file_states,
                critical,
                keep,
            )),
            Arc::new(BootCollector::new(
                client,
                slowest,
                sysgauge_common::fs::state_directory(config.state_directory.clone()),
            )),
        ];
        if !users.is_empty() {
            collectors.push(Arc::new(UsersCollector::new(&users, filter, options)));
        }
        Ok(collectors)
    })
}

/// A list of unit patterns that has a default and may be turned off: the flag's when given,
/// else the file's, else `default`; an empty list in the file selects no unit (an empty pattern
/// matches no name), where an empty unit include means all units. The error names `setting`.
fn optional_patterns(
    flag: &[String],
    file: &Option<Vec<String>>,
    default: &str,
    setting: &str,
) -> Result<UnitFilter, String> {
    let patterns = if !flag.is_empty() {
        flag.to_vec()
    } else {
        file.clone().unwrap_or_else(|| vec![default.to_owned()])
    };
    let patterns = if patterns.is_empty() {
        vec![String::new()]
    } else {
        patterns
    };
    UnitFilter::new(&patterns, &[]).map_err(|e| {
        e.to_string()
            .replace("unit include", &setting.replace('-', " "))
    })
}
