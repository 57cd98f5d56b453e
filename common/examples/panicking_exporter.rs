//! An exporter with one collector that panics and one that works, built by
//! `tests/release_panic.rs` with the release profile to show the documented panic policy in the
//! binary users run: the panicking collector is reported as failed
//! (`sysgauge_example_collector_success{collector="panics"} 0`), the others still answer, and
//! the process goes on (exit 1 from `once`, a written file from `textfile`, answers from
//! `serve`).
//!
//! It goes through the same `sysgauge_common::main` and `run` as every exporter, and the panic
//! strategy is a property of the Cargo profile, not of the binary: what holds here holds for
//! `sysgauge-certs` and the others built with `cargo build --release`. An example is not
//! installed, so the shipped binaries carry no hook to make them panic.

use std::{process::ExitCode, sync::Arc};

use async_trait::async_trait;
use clap::Parser;
use sysgauge_common::{
    BoxError, Collector, Desc, Identity, MetricSet,
    cli::{GlobalArgs, Mode},
};

static IDENTITY: Identity = Identity {
    binary: "sysgauge-example",
    domain: "example",
    default_port: 9899,
    version: "0.0.0",
    checks: &[],
};

/// An exporter whose `panics` collector panics on every collection.
#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    mode: Mode,
}

sysgauge_common::exporter_config! {
    /// No keys of its own.
    pub struct Config {}
}

const UP: Desc<0> = Desc::gauge("sysgauge_example_up", "Always 1", []);

struct Works;
#[async_trait]
impl Collector for Works {
    fn name(&self) -> &'static str {
        "works"
    }
    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let mut set = MetricSet::new();
        set.add(&UP, [] as [&str; 0], 1.0);
        Ok(set)
    }
}

struct Panics;
#[async_trait]
impl Collector for Panics {
    fn name(&self) -> &'static str {
        "panics"
    }
    async fn collect(&self) -> Result<MetricSet, BoxError> {
        // In a blocking task as well as in the async one: both are where collectors do work.
        tokio::task::spawn_blocking(|| panic!("a bug in a blocking collector")).await?;
        panic!("a bug in an async collector")
    }
}

fn main() -> ExitCode {
    sysgauge_common::main(|args: Args| {
        sysgauge_common::run(&IDENTITY, &args.global, &args.mode, |_: &Config| {
            let collectors: Vec<Arc<dyn Collector>> = vec![Arc::new(Works), Arc::new(Panics)];
            Ok(collectors)
        })
    })
}
