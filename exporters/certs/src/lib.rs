//! sysgauge-certs: X.509 certificate expiry as Prometheus metrics, from files and from live
//! TLS endpoints (plain TLS, SMTP/IMAP/POP3 STARTTLS, PostgreSQL).
//!
//! ```text
//! sysgauge-certs --path '/etc/ssl/certs/*.pem' once
//! sysgauge-certs --endpoint 'tls://127.0.0.1:443?server_name=cloud.example' once
//! sysgauge-certs --config /etc/sysgauge/certs.toml textfile --directory /var/lib/node_exporter
//! sysgauge-certs --config /etc/sysgauge/certs.toml serve
//! ```

pub mod checks;
mod der;
mod ecdsa_p521;
mod endpoint;
mod endpoints;
mod error;
mod files;
pub mod metrics;
mod pkcs12;
mod pkcs7;
mod probe;
mod revocation;
mod starttls;
mod verify;
mod x509;

use std::{process::ExitCode, sync::Arc};

use clap::Parser;
use sysgauge_common::{
    Collector, Identity,
    cli::{GlobalArgs, Mode},
    config::SettingError,
    metrics::FamilyDescription,
};

use crate::{
    endpoint::{Endpoint, EndpointConfig},
    endpoints::EndpointsCollector,
    files::{FileSource, FilesCollector},
};

/// Who this exporter is: binary name, metric domain, default port and version.
pub static IDENTITY: Identity = Identity {
    binary: "sysgauge-certs",
    domain: "cert",
    default_port: 9862,
    version: env!("CARGO_PKG_VERSION"),
    checks: &checks::CHECKS,
};

/// X.509 certificate expiry from files and live TLS endpoints, as Prometheus metrics.
#[derive(Debug, Parser)]
#[command(
    name = "sysgauge-certs",
    version,
    long_version = sysgauge_common::build_info::LONG_VERSION,
    about,
    max_term_width = 100
)]
pub struct Args {
    #[command(flatten)]
    global: GlobalArgs,

    /// Certificate file, directory or glob (`**` recurses); repeatable. Replaces the [[files]]
    /// sources of the configuration file.
    #[arg(long = "path", global = true, value_name = "PATH")]
    paths: Vec<String>,

    /// Endpoint to probe, repeatable: tls://, smtp://, imap://, pop3://, postgres://, xmpp://,
    /// xmpp-server://, sieve://, ldap://, ftp:// or mysql:// HOST[:PORT], with ?server_name=NAME
    /// for SNI (and ?sslnegotiation=direct for PostgreSQL 17). Replaces the [[endpoints]] of the
    /// configuration file.
    #[arg(long = "endpoint", global = true, value_name = "URL")]
    endpoints: Vec<String>,

    #[command(subcommand)]
    mode: Mode,
}

sysgauge_common::exporter_config! {
    /// The configuration file of sysgauge-certs.
    pub struct Config {
        /// `[[files]]`: certificate file sources.
        pub files: Vec<FileSource>,
        /// `[[endpoints]]`: live TLS endpoints.
        pub endpoints: Vec<EndpointConfig>,
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
        let sources = if args.paths.is_empty() {
            config.files.clone()
        } else {
            vec![FileSource {
                paths: args.paths.clone(),
                ..FileSource::default()
            }]
        };
        let endpoints = if args.endpoints.is_empty() {
            config.endpoints.clone()
        } else {
            let url = |url: &String| EndpointConfig {
                url: url.clone(),
                ..EndpointConfig::default()
            };
            args.endpoints.iter().map(url).collect()
        };
        if sources.is_empty() && endpoints.is_empty() {
            anyhow::bail!(
                "nothing to watch: give --path or --endpoint, or [[files]] or [[endpoints]] in the --config file"
            );
        }
        let mut collectors: Vec<Arc<dyn Collector>> = Vec::new();
        // Errors name the key in the file (`files[1].paths`, `endpoints[0].url`), or the flag
        // that stands for the whole list.
        let at = |flag: &str, key: String, e: &dyn std::fmt::Display| {
            let flags_given = if flag == "path" {
                !args.paths.is_empty()
            } else {
                !args.endpoints.is_empty()
            };
            if flags_given {
                SettingError::flag(flag, e.to_string())
            } else {
                config.source.error(&key, e.to_string())
            }
        };
        if !sources.is_empty() {
            for (i, source) in sources.iter().enumerate() {
                source
                    .validate()
                    .map_err(|e| at("path", format!("files[{i}].paths"), &e))?;
            }
            collectors.push(Arc::new(FilesCollector::new(sources)));
        }
        if !endpoints.is_empty() {
            let endpoints = endpoints
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    Endpoint::parse(e)
                        .map_err(|err| at("endpoint", format!("endpoints[{i}].url"), &err))
                })
                .collect::<Result<Vec<_>, _>>()?;
            collectors.push(Arc::new(EndpointsCollector::new(endpoints)));
        }
        Ok(collectors)
    })
}
