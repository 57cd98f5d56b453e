//! `serve`: the long-running HTTP exporter.
//!
//! One task per listening socket accepts connections; each connection is served by hyper
//! (HTTP/1.1, and HTTP/2 unless the web configuration turns it off), behind TLS when the web
//! configuration asks for it. Scrapes that arrive while a collection is running wait for that
//! collection instead of starting their own, so a burst of scrapers, or a slow collector, never
//! piles up collections. Under systemd, `READY=1` is sent once every socket listens, watchdog
//! pings follow when `WatchdogSec=` is set, and SIGTERM drains open requests and exits 0.

use std::{
    net::{SocketAddr, ToSocketAddrs},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine;
use bytes::Bytes;
use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::{
    collector::Exporter,
    encode::{Format, encode},
    error::Error,
    metrics::MetricSet,
    web_config::{BasicAuth, WebConfig},
};

/// How long a client gets to send its request headers or finish a TLS handshake.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request over `--web.max-requests` waits for a slot before it gets 503.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long open requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of `serve`, after flags and configuration file are merged.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    /// Addresses to listen on (`:PORT` means every interface).
    pub listen_addresses: Vec<String>,
    /// The path that serves metrics.
    pub telemetry_path: String,
    /// The exporter-toolkit web configuration file.
    pub web_config_file: Option<PathBuf>,
    /// Take the listening sockets from systemd socket activation.
    pub systemd_socket: bool,
    /// Most requests at once; 0 is no limit.
    pub max_requests: usize,
}

/// Serves metrics until SIGTERM or SIGINT.
pub async fn serve(exporter: Arc<Exporter>, settings: ServeSettings) -> Result<(), Error> {
    let web = match &settings.web_config_file {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::default(),
    };
    let tls = match &settings.web_config_file {
        Some(path) => web.tls(path)?.map(TlsAcceptor::from),
        None => None,
    };
    let listeners = if settings.systemd_socket {
        systemd_listeners()?
    } else {
        let mut listeners = Vec::new();
        for address in &settings.listen_addresses {
            listeners.extend(bind(address).await?);
        }
        listeners
    };
    let state = Arc::new(State::new(exporter, &settings, web));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT);
    if !state.http2 {
        builder = builder.http1_only();
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let graceful = Arc::new(GracefulShutdown::new());
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let local = listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        tracing::info!(address = %local, tls = tls.is_some(), "listening");
        accept_tasks.push(tokio::spawn(accept_loop(
            listener,
            tls.clone(),
            builder.clone(),
            Arc::clone(&state),
            Arc::clone(&graceful),
            stop_rx.clone(),
        )));
    }
    systemd_ready();

    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    for task in accept_tasks {
        let _ = task.await;
    }
    let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| GracefulShutdown::new());
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after the drain timeout");
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    builder: auto::Builder<TokioExecutor>,
    state: Arc<State>,
    graceful: Arc<GracefulShutdown>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let state = Arc::clone(&state);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, std::convert::Infallible>(state.handle(req).await) }
        });
        let builder = builder.clone();
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(CLIENT_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

type SharedCollection = Shared<BoxFuture<'static, Arc<MetricSet>>>;

/// What every request handler shares.
struct State {
    exporter: Arc<Exporter>,
    in_flight: Mutex<Option<SharedCollection>>,
    telemetry_path: String,
    auth: Option<Arc<BasicAuth>>,
    headers: Vec<(HeaderName, HeaderValue)>,
    limit: Option<Arc<Semaphore>>,
    http2: bool,
}

impl State {
    fn new(exporter: Arc<Exporter>, settings: &ServeSettings, web: WebConfig) -> Self {
        // Validated by WebConfig::load, so the conversions cannot fail here.
        let headers = web
            .http_server_config
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::try_from(k).ok()?,
                    HeaderValue::try_from(v).ok()?,
                ))
            })
            .collect();
        Self {
            exporter,
            in_flight: Mutex::new(None),
            telemetry_path: settings.telemetry_path.clone(),
            auth: BasicAuth::new(web.basic_auth_users).map(Arc::new),
            headers,
            limit: (settings.max_requests > 0)
                .then(|| Arc::new(Semaphore::new(settings.max_requests))),
            http2: web.http_server_config.http2.unwrap_or(true),
        }
    }

    /// The running collection, or a new one when none is running.
    fn collection(&self) -> SharedCollection {
        let mut slot = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = slot.as_ref().filter(|f| f.peek().is_none()) {
            return running.clone();
        }
        // Spawned, so that the collection finishes and its result is shared even if the
        // scrape that started it goes away.
        let exporter = Arc::clone(&self.exporter);
        let task = tokio::spawn(async move { Arc::new(exporter.collect().await.metrics) });
        let shared = async move { task.await.unwrap_or_default() }
            .boxed()
            .shared();
        *slot = Some(shared.clone());
        shared
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let mut response = self.route(req).await;
        for (name, value) in &self.headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
        response
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        // Over the limit, a request waits briefly for a slot: a burst of scrapes is smoothed
        // out, while a flood still gets 503 instead of unbounded work.
        let _permit = match &self.limit {
            Some(limit) => {
                match tokio::time::timeout(QUEUE_TIMEOUT, Arc::clone(limit).acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => {
                        return plain(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too many requests in flight (--web.max-requests)\n",
                        );
                    }
                }
            }
            None => None,
        };
        if let Some(auth) = &self.auth
            && !authorized(auth, req.headers()).await
        {
            let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            return r;
        }
        let path = req.uri().path();
        let known = path == self.telemetry_path || path == "/" || path == "/-/healthy";
        if !known {
            return plain(StatusCode::NOT_FOUND, "Not Found\n");
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        if path == self.telemetry_path {
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = Format::negotiate(accept);
            let metrics = self.collection().await;
            let mut r = Response::new(Full::new(Bytes::from(encode(&metrics, format))));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            r
        } else if path == "/-/healthy" {
            plain(StatusCode::OK, "OK\n")
        } else {
            let mut r = Response::new(Full::new(Bytes::from(self.landing_page())));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            r
        }
    }

    fn landing_page(&self) -> String {
        let id = self.exporter.identity();
        let path = html_escape(&self.telemetry_path);
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{name}</title></head>\n\
             <body><h1>{name}</h1><p>Version {version}</p>\n\
             <ul><li><a href=\"{path}\">Metrics</a></li><li><a href=\"/-/healthy\">Health</a></li></ul>\n\
             </body></html>\n",
            name = id.binary,
            version = id.version,
        )
    }
}

async fn authorized(auth: &Arc<BasicAuth>, headers: &HeaderMap) -> bool {
    let Some((user, password)) = basic_credentials(headers) else {
        return false;
    };
    let auth = Arc::clone(auth);
    tokio::task::spawn_blocking(move || auth.check(&user, &password))
        .await
        .unwrap_or(false)
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Binds `address`; `:PORT` means every interface, IPv6 and IPv4.
async fn bind(address: &str) -> Result<Vec<TcpListener>, Error> {
    let fail = |source| Error::Listen {
        address: address.to_owned(),
        source,
    };
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| {
            Error::setting("web.listen-address", format!("bad port in {address:?}"))
        })?;
        // A dual-stack socket takes IPv4 too; hosts with IPv6 disabled get an IPv4 one.
        let any6 = SocketAddr::from(([0u16; 8], port));
        return match TcpListener::bind(any6).await {
            Ok(l) => Ok(vec![l]),
            Err(_) => Ok(vec![
                TcpListener::bind(SocketAddr::from(([0u8; 4], port)))
                    .await
                    .map_err(fail)?,
            ]),
        };
    }
    let addrs: Vec<SocketAddr> = address.to_socket_addrs().map_err(fail)?.collect();
    let mut listeners = Vec::new();
    for addr in addrs {
        listeners.push(TcpListener::bind(addr).await.map_err(fail)?);
    }
    Ok(listeners)
}

fn systemd_listeners() -> Result<Vec<TcpListener>, Error> {
    let mut fds = listenfd::ListenFd::from_env();
    let fail = |source| Error::Listen {
        address: "systemd socket".into(),
        source,
    };
    let mut listeners = Vec::new();
    for i in 0..fds.len() {
        if let Some(std_listener) = fds.take_tcp_listener(i).map_err(fail)? {
            // tokio requires non-blocking sockets; systemd passes blocking ones.
            std_listener.set_nonblocking(true).map_err(fail)?;
            listeners.push(TcpListener::from_std(std_listener).map_err(fail)?);
        }
    }
    if listeners.is_empty() {
        return Err(Error::setting(
            "web.systemd-socket",
            "systemd passed no TCP socket (is the .socket unit active?)",
        ));
    }
    Ok(listeners)
}

/// Tells systemd we are ready and, when it watches us, keeps its watchdog fed.
fn systemd_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    if let Some(interval) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::collector::{BoxError, Collector, TEST_IDENTITY};

    struct Slow(AtomicUsize);
    #[async_trait]
    impl Collector for Slow {
        fn name(&self) -> &'static str {
            "slow"
        }
        async fn collect(&self) -> Result<MetricSet, BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(MetricSet::new())
        }
    }

    #[tokio::test]
    async fn concurrent_scrapes_share_one_collection() {
        let slow = Arc::new(Slow(AtomicUsize::new(0)));
        let exporter = Arc::new(Exporter::new(
            &TEST_IDENTITY,
            vec![slow.clone()],
            Duration::from_secs(5),
        ));
        let settings = ServeSettings {
            listen_addresses: vec![],
            telemetry_path: "/metrics".into(),
            web_config_file: None,
            systemd_socket: false,
            max_requests: 0,
        };
        let state = Arc::new(State::new(exporter, &settings, WebConfig::default()));
        let waiters: Vec<_> = (0..20)
            .map(|_| {
                let state = Arc::clone(&state);
                tokio::spawn(async move { state.collection().await })
            })
            .collect();
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(
            slow.0.load(Ordering::SeqCst),
            1,
            "scrapes did not share the collection"
        );
        // Once it finished, the next scrape collects afresh.
        state.collection().await;
        assert_eq!(slow.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn basic_credentials_parse() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic cHJvbTpzM2M6cmV0"),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("prom".into(), "s3c:ret".into()))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&h), None);
    }
}
