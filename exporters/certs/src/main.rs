//! sysgauge-certs: X.509 certificate expiry as Prometheus metrics.
//!
//! ```text
//! sysgauge-certs --path '/etc/ssl/certs/*.pem' once
//! sysgauge-certs --config /etc/sysgauge/certs.toml textfile --directory /var/lib/node_exporter
//! sysgauge-certs --config /etc/sysgauge/certs.toml serve
//! ```

mod error;
mod files;
mod metrics;
mod verify;
mod x509;

use std::{process::ExitCode, sync::Arc};

use clap::Parser;
use sysgauge_common::{
    Collector, Identity,
    cli::{GlobalArgs, Mode},
};

use crate::files::{FileSource, FilesCollector};

static IDENTITY: Identity = Identity {
    binary: "sysgauge-certs",
    domain: "cert",
    default_port: 9862,
    version: env!("CARGO_PKG_VERSION"),
};

/// X.509 certificate expiry from files, as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "sysgauge-certs", version, about, max_term_width = 100)]
struct Args {
    #[command(flatten)]
    global: GlobalArgs,

    /// Certificate file, directory or glob (`**` recurses); repeatable. Replaces the [[files]]
    /// sources of the configuration file.
    #[arg(long = "path", global = true, value_name = "PATH")]
    paths: Vec<String>,

    #[command(subcommand)]
    mode: Mode,
}

sysgauge_common::exporter_config! {
    /// The configuration file of sysgauge-certs.
    pub struct Config {
        /// `[[files]]`: certificate file sources.
        pub files: Vec<FileSource>,
    }
}

fn main() -> ExitCode {
    sysgauge_common::main(run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    sysgauge_common::run(&IDENTITY, &args.global, &args.mode, |config: &Config| {
        let sources = if args.paths.is_empty() {
            config.files.clone()
        } else {
            vec![FileSource {
                paths: args.paths.clone(),
                ..FileSource::default()
            }]
        };
        if sources.is_empty() {
            anyhow::bail!(
                "no certificates to watch: give --path, or [[files]] in the --config file"
            );
        }
        for source in &sources {
            source.validate()?;
        }
        let collectors: Vec<Arc<dyn Collector>> = vec![Arc::new(FilesCollector::new(sources))];
        Ok(collectors)
    })
}
