//! The `endpoints` collector: certificates as live TLS servers present them.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use rustls_pki_types::UnixTime;
use sysgauge_common::{BoxError, Collector, MetricSet, collector::error_chain, deadline};
use tokio::{sync::Semaphore, task::JoinSet, time::Instant};

use crate::{
    endpoint::Endpoint,
    error::Error,
    metrics::*,
    probe::{Handshake, probe},
    verify::{CaBundle, NotVerified, name_matches},
    x509,
};

/// Probes at once; more wait for a slot.
const CONCURRENCY: usize = 16;

/// Probes every configured endpoint, concurrently with a bound.
#[derive(Debug)]
pub struct EndpointsCollector {
    endpoints: Vec<Endpoint>,
    /// The system's roots, read once at start-up, when some endpoint has no CA bundle of its
    /// own (a `serve` process sees new system roots after a restart).
    system_roots: Option<Arc<CaBundle>>,
}

impl EndpointsCollector {
    /// A collector for `endpoints`; reads the system's roots if any endpoint needs them.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        let system_roots = if endpoints.iter().any(|e| e.ca_bundle.is_none()) {
            CaBundle::system()
                .inspect_err(|e| tracing::warn!(error = %error_chain(e), "no system CA certificates; chains are reported as not verified"))
                .ok()
                .map(Arc::new)
        } else {
            None
        };
        Self {
            endpoints,
            system_roots,
        }
    }
}

#[async_trait]
impl Collector for EndpointsCollector {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        let limit = deadline::Limit::current();
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        let mut probes = JoinSet::new();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let endpoint = endpoint.clone();
            let slots = Arc::clone(&slots);
            probes.spawn(async move {
                let _slot = slots.acquire_owned().await;
                let started = Instant::now();
                // The endpoint's own timeout, cut to what the collection has left less the
                // margin common keeps back, so that every probe's result, a timeout included,
                // is reported before the collector itself is cut off.
                let budget = limit
                    .within(endpoint.timeout)
                    .saturating_duration_since(started);
                let result = match tokio::time::timeout(budget, probe(&endpoint)).await {
                    Ok(result) => result,
                    Err(_) => Err(Error::Timeout(budget)),
                };
                (i, result, started.elapsed())
            });
        }
        let mut results: Vec<_> = probes.join_all().await;
        // Report in configuration order, whatever order the probes finished in.
        results.sort_by_key(|(i, _, _)| *i);
        let now = UnixTime::now();
        let mut set = MetricSet::new();
        for (i, result, elapsed) in results {
            let endpoint = &self.endpoints[i];
            report(
                &mut set,
                endpoint,
                result,
                elapsed,
                self.system_roots.as_deref(),
                now,
            );
        }
        Ok(set)
    }
}

fn report(
    set: &mut MetricSet,
    endpoint: &Endpoint,
    result: Result<Handshake, Error>,
    elapsed: Duration,
    system_roots: Option<&CaBundle>,
    now: UnixTime,
) {
    let url = endpoint.url.as_str();
    set.add(&PROBE_DURATION, [url], elapsed.as_secs_f64());
    let handshake = match result {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(endpoint = url, reason = e.reason(), error = %error_chain(&e), "probe failed");
            set.add(&PROBE_SUCCESS, [url], 0.0);
            set.add(&PROBE_ERROR, [url, e.reason()], 1.0);
            return;
        }
    };
    set.add(&PROBE_SUCCESS, [url], 1.0);
    set.add(&HANDSHAKE_DURATION, [url], handshake.handshake_seconds);
    set.add(&TLS_INFO, [url, &handshake.version, &handshake.cipher], 1.0);

    let mut earliest: Option<i64> = None;
    for (index, der) in handshake.certificates.iter().enumerate() {
        match x509::parse_certificate(der) {
            Ok(cert) => {
                report_certificate(set, &ENDPOINT_CERT, (url, index), &cert);
                earliest = Some(earliest.map_or(cert.not_after, |e| e.min(cert.not_after)));
            }
            Err(why) => {
                tracing::warn!(endpoint = url, index, reason = %why, "the endpoint presented a certificate that cannot be parsed");
            }
        }
    }
    if let Some(earliest) = earliest {
        set.add(&ENDPOINT_EARLIEST, [url], earliest as f64);
    }
    let Some((leaf, intermediates)) = handshake.certificates.split_first() else {
        return;
    };

    // An endpoint's own bundle is read on every probe, so that a renewed CA is picked up.
    let own_bundle = endpoint.ca_bundle.as_deref().map(|path| {
        CaBundle::load(path)
            .inspect_err(|e| tracing::warn!(endpoint = url, error = %error_chain(e), "CA bundle unusable; the chain is reported as not verified"))
            .ok()
    });
    let (bundle, bundle_label) = match (&own_bundle, &endpoint.ca_bundle) {
        (Some(own), Some(path)) => (own.as_ref(), sysgauge_common::path_label(path)),
        _ => (system_roots, "system".to_owned()),
    };
    let verified = match bundle.map(|b| b.verify(leaf, intermediates, now)) {
        Some(Ok(())) => Some(true),
        None => Some(false),
        Some(Err(NotVerified::Failed(why))) => {
            tracing::warn!(endpoint = url, ca_bundle = %bundle_label, reason = %why, "the endpoint's chain does not verify");
            Some(false)
        }
        // No verdict rather than a false "does not verify".
        Some(Err(NotVerified::Unsupported(why))) => {
            tracing::warn!(endpoint = url, ca_bundle = %bundle_label, reason = %why, "the endpoint's chain uses an algorithm sysgauge cannot verify; no verdict");
            None
        }
    };
    if let Some(verified) = verified {
        set.add(
            &ENDPOINT_VERIFIED,
            [url.to_owned(), bundle_label],
            if verified { 1.0 } else { 0.0 },
        );
    }

    let matches = name_matches(leaf, &endpoint.server_name)
        .inspect_err(|why| tracing::warn!(endpoint = url, server_name = %endpoint.server_name_text, reason = %why, "the certificate is not valid for the server name"))
        .is_ok();
    set.add(
        &ENDPOINT_NAME_MATCHES,
        [url, endpoint.server_name_text.as_str()],
        if matches { 1.0 } else { 0.0 },
    );
}
