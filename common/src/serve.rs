//! `serve`: the long-running HTTP exporter.
//!
//! One task per listening socket accepts connections; each connection is served by hyper
//! (HTTP/1.1, and HTTP/2 unless the web configuration turns it off), behind TLS when the web
//! configuration asks for it. Scrapes that arrive while a collection is running wait for that
//! collection instead of starting their own, so a burst of scrapers, or a slow collector, never
//! piles up collections. Under systemd, `READY=1` is sent once every socket listens, watchdog
//! pings follow when `WatchdogSec=` is set, and SIGTERM drains open requests and exits 0.
//!
//! Every connection has a bounded cost (see [`connections`] for the timeouts and which
//! connection makes room when slots or descriptors run out): at most `--web.max-connections`
//! of them, HTTP/2 limited to [`H2_MAX_STREAMS`] streams and small flow-control windows, and a
//! response holds its `--web.max-requests` slot until it is sent ([`body`]). Authentication
//! comes before the slot, answers repeated credentials from memory, and runs bcrypt on at most
//! [`bcrypt_workers`] threads, so that a flood of wrong passwords neither takes the slots nor
//! the CPU that scrapes need.

mod body;
mod connections;

use std::{
    net::{SocketAddr, ToSocketAddrs},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine;
use bytes::Bytes;
use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Version, header,
};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
};
use tokio_rustls::TlsAcceptor;

use self::{
    body::{Coding, ResponseBody},
    connections::{Close, Conn, Connections, HEADER_TIMEOUT, Tracked},
};
use crate::{
    collector::Exporter,
    encode::Format,
    error::Error,
    metrics::MetricSet,
    web_config::{BasicAuth, WebConfig},
};

/// How long a request over `--web.max-requests` waits for a slot before it gets 503.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a request whose credentials are not remembered waits for a bcrypt worker before it
/// gets 503.
const AUTH_QUEUE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long open requests may take to finish after SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection asked to close gracefully (idle) gets before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Concurrent HTTP/2 streams per connection; a scrape needs one.
pub const H2_MAX_STREAMS: u32 = 8;
/// HTTP/2 flow-control windows we announce: requests have no bodies, so these only bound what a
/// client can make us buffer.
const H2_STREAM_WINDOW: u32 = 16 * 1024;
const H2_CONNECTION_WINDOW: u32 = 64 * 1024;
/// HTTP/2: bytes of a response buffered per stream, and the largest request header list.
const H2_SEND_BUFFER: usize = 32 * 1024;
const H2_MAX_HEADER_LIST: u32 = 16 * 1024;
/// HTTP/1: the connection's read and write buffer, which bounds request headers too.
const H1_BUFFER: usize = 32 * 1024;
/// Descriptors kept free for everything but connections (listeners, collectors' files and
/// pipes, the journal): `--web.max-connections` is lowered to fit the limit minus this.
const RESERVED_DESCRIPTORS: u64 = 64;
/// How often, at most, running out of descriptors is logged as a warning.
const EXHAUSTION_WARNING_EVERY: Duration = Duration::from_secs(60);

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
    /// Most connections at once.
    pub max_connections: usize,
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
    let max_connections = fit_to_descriptors(settings.max_connections, raise_descriptor_limit());
    let connections = Arc::new(Connections::new(max_connections));
    let state = Arc::new(State::new(exporter, &settings, web));
    let builder = http_builder(state.http2);

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_tasks = Vec::new();
    for listener in listeners {
        let local = listener
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        tracing::info!(address = %local, tls = tls.is_some(), max_connections, "listening");
        accept_tasks.push(tokio::spawn(accept_loop(
            listener,
            Server {
                tls: tls.clone(),
                builder: builder.clone(),
                state: Arc::clone(&state),
                stop: stop_rx.clone(),
            },
            Arc::clone(&connections),
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
    // Every connection finishes its requests and closes, or is dropped at the drain timeout.
    let deadline = Instant::now() + DRAIN_TIMEOUT + CLOSE_GRACE;
    while connections.len() > 0 {
        if Instant::now() >= deadline {
            tracing::warn!("some connections were still open after the drain timeout");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// hyper's settings: HTTP/1.1 with keep-alive and small buffers, HTTP/2 with few streams and
/// small windows. Timeouts are kept by [`connections`] instead of hyper's header-read timeout,
/// which also counts the time a keep-alive connection waits for its next request.
fn http_builder(http2: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(H1_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_send_buf_size(H2_SEND_BUFFER)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .keep_alive_interval(Some(Duration::from_secs(60)))
        .keep_alive_timeout(Duration::from_secs(20));
    if !http2 {
        builder = builder.http1_only();
    }
    builder
}

/// Raises the soft limit on open descriptors to the hard limit, as Go programs do at start, and
/// returns the soft limit in effect (`None`: unlimited or unknown).
fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => return limit.maximum,
            // A unit's system call filter may forbid it; its LimitNOFILE= then applies.
            Err(e) => tracing::debug!(error = %e, "cannot raise the descriptor limit"),
        }
    }
    limit.current
}

/// `--web.max-connections`, lowered when the descriptor limit cannot hold that many.
fn fit_to_descriptors(max_connections: usize, soft_limit: Option<u64>) -> usize {
    let Some(limit) = soft_limit else {
        return max_connections;
    };
    let reserve = RESERVED_DESCRIPTORS.min(limit / 4);
    let fits = usize::try_from(limit - reserve)
        .unwrap_or(usize::MAX)
        .max(1);
    if fits < max_connections {
        tracing::warn!(
            max_connections,
            descriptor_limit = limit,
            lowered_to = fits,
            "the descriptor limit cannot hold --web.max-connections; raise LimitNOFILE="
        );
        return fits;
    }
    max_connections
}

/// What every connection task shares.
#[derive(Clone)]
struct Server {
    tls: Option<TlsAcceptor>,
    builder: auto::Builder<TokioExecutor>,
    state: Arc<State>,
    stop: watch::Receiver<bool>,
}

async fn accept_loop(listener: TcpListener, server: Server, connections: Arc<Connections>) {
    let mut stop = server.stop.clone();
    let mut warned: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_out_of_descriptors(&e) => {
                // Make room: close the connection idle longest and try again, so that a scrape
                // waiting in the backlog gets its descriptor.
                if warned.is_none_or(|t| t.elapsed() >= EXHAUSTION_WARNING_EVERY) {
                    tracing::warn!(error = %e, open = connections.len(), "out of descriptors; closing idle connections");
                    warned = Some(Instant::now());
                }
                let pause = if connections.shed_one() { 5 } else { 100 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(registered) = connections.admit() else {
            tracing::debug!(%peer, "connection limit reached and every connection is busy; refused");
            continue;
        };
        // Scrape answers are written whole; Nagle's algorithm only delays their last segment.
        let _ = stream.set_nodelay(true);
        let server = server.clone();
        tokio::spawn(async move {
            let conn = Arc::clone(&registered.conn);
            server.serve_connection(stream, peer, conn).await;
            drop(registered);
        });
    }
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
    )
}

impl Server {
    async fn serve_connection(self, stream: TcpStream, peer: SocketAddr, conn: Arc<Conn>) {
        let io = Tracked::new(stream, Arc::clone(&conn));
        let result = match self.tls.clone() {
            None => self.drive(io, &conn).await,
            Some(acceptor) => {
                // The handshake counts against the time to the first request.
                let stream = tokio::select! {
                    s = acceptor.accept(io) => match s {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                    },
                    _ = tokio::time::sleep(HEADER_TIMEOUT) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                    _ = conn.shed.notified() => return,
                };
                self.drive(stream, &conn).await
            }
        };
        match result {
            Ok(Some(reason)) => tracing::debug!(%peer, reason, "connection closed"),
            Ok(None) => {}
            Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
        }
    }

    /// Serves one connection until it ends or must be closed; `Some(reason)` when we closed it.
    async fn drive<I>(
        &self,
        io: I,
        conn: &Arc<Conn>,
    ) -> Result<Option<&'static str>, Box<dyn std::error::Error + Send + Sync>>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let state = Arc::clone(&self.state);
        let on_conn = Arc::clone(conn);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            let guard = on_conn.request_started(req.version() < Version::HTTP_2);
            async move { Ok::<_, std::convert::Infallible>(state.handle(req, guard).await) }
        });
        let connection = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(connection);
        let mut stop = self.stop.clone();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut closing: Option<(Instant, &'static str)> = None;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    return result.map(|()| closing.map(|(_, why)| why));
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    if let Some((deadline, why)) = closing {
                        if now >= deadline {
                            return Ok(Some(why));
                        }
                        continue;
                    }
                    match conn.verdict(now) {
                        None => {}
                        Some(Close::Abort(why)) => return Ok(Some(why)),
                        Some(Close::Graceful(why)) => {
                            connection.as_mut().graceful_shutdown();
                            closing = Some((now + CLOSE_GRACE, why));
                        }
                    }
                }
                // Chosen to make room: it has no request in progress, so nothing is cut short.
                _ = conn.shed.notified() => return Ok(Some("closed to make room")),
                _ = stop.changed(), if closing.is_none() => {
                    connection.as_mut().graceful_shutdown();
                    closing = Some((Instant::now() + DRAIN_TIMEOUT, "shutting down"));
                }
            }
        }
    }
}

type SharedCollection = Shared<BoxFuture<'static, Arc<MetricSet>>>;

/// What every request handler shares.
struct State {
    exporter: Arc<Exporter>,
    in_flight: Mutex<Option<SharedCollection>>,
    telemetry_path: String,
    auth: Option<Arc<BasicAuth>>,
    /// Bounds the threads that run bcrypt at once.
    bcrypt: Semaphore,
    headers: Vec<(HeaderName, HeaderValue)>,
    limit: Option<Arc<Semaphore>>,
    http2: bool,
}

/// The answer of an authentication check.
enum Auth {
    Granted,
    Denied,
    /// Every bcrypt worker stayed busy for [`AUTH_QUEUE_TIMEOUT`].
    Busy,
}

/// bcrypt threads at once: half the CPUs, 1 or 2, so that a flood of unknown passwords leaves
/// CPU for the scrapes.
pub fn bcrypt_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() / 2)
        .clamp(1, 2)
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
            bcrypt: Semaphore::new(bcrypt_workers()),
            headers,
            limit: (settings.max_requests > 0)
                .then(|| Arc::new(Semaphore::new(settings.max_requests))),
            http2: web.http_server_config.http2.unwrap_or(true),
        }
    }

    /// The running collection, or a new one when none is running.
    fn collection(&self) -> SharedCollection {
        let mut slot = crate::sync::lock(&self.in_flight);
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

    async fn handle(
        &self,
        req: Request<Incoming>,
        guard: connections::RequestGuard,
    ) -> Response<ResponseBody> {
        let (response, permit) = self.route(req).await;
        let (mut parts, bytes) = response.into_parts();
        for (name, value) in &self.headers {
            parts.headers.insert(name.clone(), value.clone());
        }
        Response::from_parts(parts, ResponseBody::new(bytes, permit, guard))
    }

    /// The answer, and the `--web.max-requests` slot it holds until it is sent.
    async fn route(
        &self,
        req: Request<Incoming>,
    ) -> (Response<Bytes>, Option<OwnedSemaphorePermit>) {
        if req.version() == Version::HTTP_11 && !req.headers().contains_key(header::HOST) {
            return (
                plain(StatusCode::BAD_REQUEST, "Host header missing\n"),
                None,
            );
        }
        // Authentication first: a request without valid credentials never takes a slot.
        if let Some(auth) = &self.auth {
            match self.authorize(auth, req.headers()).await {
                Auth::Granted => {}
                Auth::Denied => {
                    let mut r = plain(StatusCode::UNAUTHORIZED, "Unauthorized\n");
                    r.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
                    return (r, None);
                }
                Auth::Busy => {
                    return (
                        plain(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "too many password checks in progress\n",
                        ),
                        None,
                    );
                }
            }
        }
        // Over the limit, a request waits briefly for a slot: a burst of scrapes is smoothed
        // out, while a flood still gets 503 instead of unbounded work.
        let permit = match &self.limit {
            Some(limit) => {
                match tokio::time::timeout(QUEUE_TIMEOUT, Arc::clone(limit).acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    _ => {
                        return (
                            plain(
                                StatusCode::SERVICE_UNAVAILABLE,
                                "too many requests in flight (--web.max-requests)\n",
                            ),
                            None,
                        );
                    }
                }
            }
            None => None,
        };
        (self.answer(&req).await, permit)
    }

    async fn answer(&self, req: &Request<Incoming>) -> Response<Bytes> {
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
            let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
            let format = Format::negotiate(header_str(header::ACCEPT));
            let coding = Coding::negotiate(header_str(header::ACCEPT_ENCODING));
            let metrics = self.collection().await;
            let (data, content_encoding) = coding.encode(&metrics, format);
            let mut r = Response::new(Bytes::from(data));
            let headers = r.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            headers.insert(
                header::VARY,
                HeaderValue::from_static("Accept, Accept-Encoding"),
            );
            if let Some(coding) = content_encoding {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            }
            r
        } else if path == "/-/healthy" {
            plain(StatusCode::OK, "OK\n")
        } else {
            let mut r = Response::new(Bytes::from(self.landing_page()));
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

    /// Checks basic auth: remembered credentials answer at once; others wait for one of the few
    /// bcrypt workers.
    async fn authorize(&self, auth: &Arc<BasicAuth>, headers: &HeaderMap) -> Auth {
        let Some((user, password)) = basic_credentials(headers) else {
            return Auth::Denied;
        };
        let verdict = |ok| if ok { Auth::Granted } else { Auth::Denied };
        if let Some(ok) = auth.cached(&user, &password) {
            return verdict(ok);
        }
        let Ok(Ok(_worker)) = tokio::time::timeout(AUTH_QUEUE_TIMEOUT, self.bcrypt.acquire()).await
        else {
            return Auth::Busy;
        };
        // While this request waited, another may have checked the same credentials: `check`
        // looks at the memory first.
        let auth = Arc::clone(auth);
        let ok = tokio::task::spawn_blocking(move || auth.check(&user, &password))
            .await
            .unwrap_or(false);
        verdict(ok)
    }
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

fn plain(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(body.as_bytes()));
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
            max_connections: 10,
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
