//! The collector interface and the [`Exporter`] that runs collectors under a deadline.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::time::Instant;

use crate::metrics::{FamilyDescription, Kind, MetricSet};

/// The error a collector returns when it could not do its job at all.
///
/// Problems with individual objects (one unreadable certificate, one unit that vanished) are
/// not collector errors: they are metrics and log lines, and the collector still succeeds.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The deadlines of the running collection.
#[derive(Clone, Copy, Debug)]
struct Deadlines {
    /// When the collector is abandoned.
    end: Instant,
    /// When its sub-tasks must be done: [`crate::deadline::share`] of the timeout.
    sub_tasks: Instant,
}

tokio::task_local! {
    static DEADLINE: Deadlines;
}

/// The instant by which the running collection must be done, for collectors that split their
/// time among sub-tasks (one probe per endpoint, one process per repository). `None` outside a
/// collection. Task-locals do not follow `tokio::spawn`: read it before spawning.
///
/// Sub-tasks should take their deadline from [`crate::deadline::within`], which keeps a margin.
pub fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| d.end).ok()
}

/// The latest deadline of a sub-task of the running collection.
pub(crate) fn sub_task_deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| d.sub_tasks).ok()
}

/// One source of metrics, such as "certificate files" or "systemd units".
///
/// Collection is async. Blocking work (file I/O, a C library) belongs in
/// [`tokio::task::spawn_blocking`], so that the deadline can still answer on time.
#[async_trait]
pub trait Collector: Send + Sync + 'static {
    /// The collector's name, the value of the `collector` label on the self-metrics.
    fn name(&self) -> &'static str;

    /// Collects one snapshot.
    async fn collect(&self) -> Result<MetricSet, BoxError>;
}

/// What every exporter binary says about itself.
#[derive(Debug)]
pub struct Identity {
    /// The binary's name, e.g. `sysgauge-certs`; also the default textfile name.
    pub binary: &'static str,
    /// The metric domain after `sysgauge_`, e.g. `cert` for `sysgauge_cert_*`.
    pub domain: &'static str,
    /// The default port of `serve`.
    pub default_port: u16,
    /// The version reported in `build_info`.
    pub version: &'static str,
}

const SUCCESS_HELP: &str = "Whether the collector succeeded (1) or failed or timed out (0)";
const DURATION_HELP: &str = "How long the collector took, in seconds";
const BUILD_INFO_HELP: &str = "Build information of the exporter, always 1";

/// The self-metrics [`Exporter`] adds for an exporter of `domain` (`cert`, `systemd`, ...).
pub fn self_families(domain: &str) -> Vec<FamilyDescription> {
    let family = |suffix: &str, help: &str, labels: &[&str]| FamilyDescription {
        name: format!("sysgauge_{domain}_{suffix}"),
        help: help.to_owned(),
        kind: Kind::Gauge,
        labels: labels.iter().map(|&l| l.to_owned()).collect(),
    };
    vec![
        family("collector_success", SUCCESS_HELP, &["collector"]),
        family("collector_duration_seconds", DURATION_HELP, &["collector"]),
        family("build_info", BUILD_INFO_HELP, &["version", "revision"]),
    ]
}

/// The result of one run of every collector.
#[derive(Debug)]
pub struct Collection {
    /// Every collector's metrics plus the self-metrics.
    pub metrics: MetricSet,
    /// The names of the collectors that failed or overran the deadline.
    pub failed: Vec<&'static str>,
}

/// A set of collectors with the self-metrics that describe them.
pub struct Exporter {
    identity: &'static Identity,
    collectors: Vec<Arc<dyn Collector>>,
    timeout: Duration,
    success_name: String,
    duration_name: String,
    build_info_name: String,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<_> = self.collectors.iter().map(|c| c.name()).collect();
        f.debug_struct("Exporter")
            .field("identity", &self.identity)
            .field("collectors", &names)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Exporter {
    /// An exporter whose collectors each get `timeout` to finish.
    pub fn new(
        identity: &'static Identity,
        collectors: Vec<Arc<dyn Collector>>,
        timeout: Duration,
    ) -> Self {
        let domain = identity.domain;
        Self {
            identity,
            collectors,
            timeout,
            success_name: format!("sysgauge_{domain}_collector_success"),
            duration_name: format!("sysgauge_{domain}_collector_duration_seconds"),
            build_info_name: format!("sysgauge_{domain}_build_info"),
        }
    }

    /// Who this exporter is.
    pub fn identity(&self) -> &'static Identity {
        self.identity
    }

    /// Runs every collector concurrently, each under the deadline, and adds the self-metrics.
    ///
    /// Each collector runs as its own task, so a collector that panics is reported as failed
    /// instead of taking the process down, and one that overruns is abandoned at the deadline
    /// while the others' results still come back.
    pub async fn collect(&self) -> Collection {
        let started = Instant::now();
        let tasks: Vec<_> = self
            .collectors
            .iter()
            .map(|collector| {
                let collector = Arc::clone(collector);
                let timeout = self.timeout;
                tokio::spawn(async move {
                    let start = Instant::now();
                    let deadlines = Deadlines {
                        end: crate::deadline::add(start, timeout),
                        sub_tasks: crate::deadline::add(start, crate::deadline::share(timeout)),
                    };
                    let collect = DEADLINE.scope(deadlines, collector.collect());
                    let result = tokio::time::timeout(timeout, collect).await;
                    (result, start.elapsed())
                })
            })
            .collect();

        let mut metrics = MetricSet::new();
        let mut failed = Vec::new();
        let mut self_metrics = MetricSet::new();
        for (collector, task) in self.collectors.iter().zip(tasks) {
            let name = collector.name();
            let (ok, elapsed) = match task.await {
                Ok((Ok(Ok(set)), elapsed)) => {
                    metrics.extend(set);
                    (true, elapsed)
                }
                Ok((Ok(Err(error)), elapsed)) => {
                    tracing::error!(collector = name, error = %error_chain(&*error), "collection failed");
                    (false, elapsed)
                }
                Ok((Err(_), elapsed)) => {
                    tracing::error!(
                        collector = name,
                        timeout = %humantime::format_duration(self.timeout),
                        "collection did not finish before the deadline (--collector.timeout)"
                    );
                    (false, elapsed)
                }
                Err(join_error) => {
                    tracing::error!(collector = name, error = %join_error, "collector panicked");
                    (false, started.elapsed())
                }
            };
            if !ok {
                failed.push(name);
            }
            self_metrics.add_dynamic(
                &self.success_name,
                SUCCESS_HELP,
                vec![("collector", name.to_owned())],
                if ok { 1.0 } else { 0.0 },
            );
            self_metrics.add_dynamic(
                &self.duration_name,
                DURATION_HELP,
                vec![("collector", name.to_owned())],
                elapsed.as_secs_f64(),
            );
        }
        self_metrics.add_dynamic(
            &self.build_info_name,
            BUILD_INFO_HELP,
            vec![
                ("version", self.identity.version.to_owned()),
                (
                    "revision",
                    option_env!("SYSGAUGE_REVISION")
                        .unwrap_or("unknown")
                        .to_owned(),
                ),
            ],
            1.0,
        );
        metrics.extend(self_metrics);
        Collection { metrics, failed }
    }
}

/// An error and its sources, joined with ": ", the way `anyhow` prints `{:#}`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Many errors repeat their source's message in their own; print it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The identity the common crate's own tests run under.
#[cfg(test)]
pub(crate) static TEST_IDENTITY: Identity = Identity {
    binary: "sysgauge-test",
    domain: "test",
    default_port: 1,
    version: "9.9.9",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Desc;

    static ID: &Identity = &TEST_IDENTITY;
    const VALUE: Desc<0> = Desc::gauge("sysgauge_test_value", "A value", []);

    struct Fixed;
    #[async_trait]
    impl Collector for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        async fn collect(&self) -> Result<MetricSet, BoxError> {
            // The deadline is visible inside a collection, 200ms from its start.
            let left = deadline().expect("no deadline inside a collection") - Instant::now();
            assert!(left <= Duration::from_millis(200) && left > Duration::from_millis(100));
            // Sub-tasks get the deadline less 10%: at most 180ms, whatever they ask for.
            let sub = crate::deadline::within(Duration::MAX) - Instant::now();
            assert!(sub <= Duration::from_millis(180) && sub > Duration::from_millis(80));
            let (_, text) = crate::deadline::within_described(Duration::from_secs(5));
            assert!(
                text.ends_with("ms (the rest of the collector's timeout)"),
                "{text}"
            );
            let mut set = MetricSet::new();
            set.add(&VALUE, [] as [&str; 0], 42.0);
            Ok(set)
        }
    }

    struct Hangs;
    #[async_trait]
    impl Collector for Hangs {
        fn name(&self) -> &'static str {
            "hangs"
        }
        async fn collect(&self) -> Result<MetricSet, BoxError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(MetricSet::new())
        }
    }

    struct Panics;
    #[async_trait]
    impl Collector for Panics {
        fn name(&self) -> &'static str {
            "panics"
        }
        async fn collect(&self) -> Result<MetricSet, BoxError> {
            panic!("collector bug")
        }
    }

    struct Fails;
    #[async_trait]
    impl Collector for Fails {
        fn name(&self) -> &'static str {
            "fails"
        }
        async fn collect(&self) -> Result<MetricSet, BoxError> {
            Err("no bus".into())
        }
    }

    #[tokio::test]
    async fn deadline_panic_and_error_are_failures_and_others_still_report() {
        let exporter = Exporter::new(
            ID,
            vec![
                Arc::new(Fixed),
                Arc::new(Hangs),
                Arc::new(Panics),
                Arc::new(Fails),
            ],
            Duration::from_millis(200),
        );
        let start = std::time::Instant::now();
        let c = exporter.collect().await;
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the deadline was not kept"
        );
        assert_eq!(c.failed, ["hangs", "panics", "fails"]);
        let m = &c.metrics;
        assert_eq!(m.get("sysgauge_test_value", &[]), Some(42.0));
        for (name, ok) in [
            ("fixed", 1.0),
            ("hangs", 0.0),
            ("panics", 0.0),
            ("fails", 0.0),
        ] {
            assert_eq!(
                m.get("sysgauge_test_collector_success", &[("collector", name)]),
                Some(ok)
            );
        }
        let hang = m
            .get(
                "sysgauge_test_collector_duration_seconds",
                &[("collector", "hangs")],
            )
            .unwrap();
        assert!(
            (0.2..1.0).contains(&hang),
            "duration of the hung collector: {hang}"
        );
        assert_eq!(
            m.get("sysgauge_test_build_info", &[("version", "9.9.9")]),
            Some(1.0)
        );
    }

    struct Quick;
    #[async_trait]
    impl Collector for Quick {
        fn name(&self) -> &'static str {
            "quick"
        }
        async fn collect(&self) -> Result<MetricSet, BoxError> {
            // A sub-task's deadline under a huge collector timeout is far away, not a panic.
            let sub = crate::deadline::within(Duration::MAX);
            assert!(sub > Instant::now() + Duration::from_secs(86_400));
            Ok(MetricSet::new())
        }
    }

    #[tokio::test]
    async fn a_huge_timeout_does_not_overflow_the_deadline() {
        let exporter = Exporter::new(ID, vec![Arc::new(Quick)], Duration::MAX);
        let c = exporter.collect().await;
        assert!(c.failed.is_empty());
    }

    #[test]
    fn no_deadline_outside_a_collection() {
        assert!(deadline().is_none());
    }

    #[test]
    fn error_chain_joins_sources_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        #[derive(Debug, thiserror::Error)]
        #[error("reading /x")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(error_chain(&Outer(io)), "reading /x: gone");
    }
}
