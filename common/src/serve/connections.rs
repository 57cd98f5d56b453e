//! The bounded cost of every connection: how many there are, how long each may stay, and which
//! one is closed first when descriptors or connection slots run out.
//!
//! Each accepted connection gets a [`Conn`] record in the [`Connections`] table. The record
//! learns from the socket (every read and write, through [`Tracked`]) and from the request
//! handler (a [`RequestGuard`] per request, alive until its response body is dropped), and a
//! per-connection timer asks it once a second whether the connection must go:
//!
//! - no complete request within [`HEADER_TIMEOUT`] of the accept: a client that sends nothing,
//!   only the HTTP/2 preface, or only finishes a TLS handshake;
//! - HTTP/1: a request whose headers started arriving but did not finish within
//!   [`HEADER_TIMEOUT`] (slowloris);
//! - no request in progress for [`IDLE_TIMEOUT`] (keep-alive, longer than Prometheus' own 5
//!   minutes so that the client closes first and never reuses a connection that we close);
//! - a response that is ready but not fully handed to the socket within [`SEND_TIMEOUT`], or that
//!   made no progress for [`STALL_TIMEOUT`] (an HTTP/2 client announcing a zero window, a TCP
//!   client that never reads): its memory and its request slot are freed.
//!
//! At `--web.max-connections`, or when accept fails because the process is out of descriptors,
//! the connection that has been idle longest (no request in progress) is closed to make room: a
//! scrape never waits behind connections that do nothing.

use std::{
    collections::{BTreeMap, HashMap},
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Notify,
};

/// How long a client has from the accept to its first complete request (TLS handshake
/// included), and an HTTP/1 client from the first byte of a request to the end of its headers.
pub(super) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection without a request in progress is kept open.
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// How long a ready response may take to be handed to the socket entirely.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a ready response may go without a byte written to its connection.
pub(super) const STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Close {
    /// Drop it now: it is abusive or stalled, and waiting for it gains nothing.
    Abort(&'static str),
    /// Ask it to finish (HTTP/2 GOAWAY; HTTP/1 closes once idle), then drop it.
    Graceful(&'static str),
}

/// Every open connection.
#[derive(Debug)]
pub(super) struct Connections {
    table: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    max: usize,
}

impl Connections {
    /// A table that holds at most `max` connections.
    pub(super) fn new(max: usize) -> Self {
        Self {
            table: Mutex::default(),
            next_id: AtomicU64::new(0),
            max: max.max(1),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        crate::sync::lock(&self.table)
    }

    /// Records a new connection. At the limit, the longest idle connection is told to close to
    /// make room; when every connection has a request in progress, `None`: refuse this one.
    pub(super) fn admit(self: &Arc<Self>) -> Option<Registered> {
        let mut table = self.table();
        let live = table.values().filter(|c| !c.lock().shedding).count();
        if live >= self.max && !shed_oldest_idle(&table) {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(Instant::now()));
        table.insert(id, Arc::clone(&conn));
        Some(Registered {
            connections: Arc::clone(self),
            id,
            conn,
        })
    }

    /// Tells the longest idle connection to close (descriptors ran out); whether there was one.
    pub(super) fn shed_one(&self) -> bool {
        shed_oldest_idle(&self.table())
    }

    /// How many connections are open.
    pub(super) fn len(&self) -> usize {
        self.table().len()
    }
}

fn shed_oldest_idle(table: &HashMap<u64, Arc<Conn>>) -> bool {
    let victim = table
        .values()
        .filter_map(|c| {
            let s = c.lock();
            (s.open == 0 && !s.shedding).then_some((s.last_seen, c))
        })
        .min_by_key(|(seen, _)| *seen)
        .map(|(_, c)| c);
    match victim {
        Some(c) => {
            c.lock().shedding = true;
            c.shed.notify_one();
            true
        }
        None => false,
    }
}

/// A connection's entry in the table, removed when this is dropped.
#[derive(Debug)]
pub(super) struct Registered {
    connections: Arc<Connections>,
    id: u64,
    /// The connection's record.
    pub(super) conn: Arc<Conn>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.table().remove(&self.id);
    }
}

/// What is known about one connection.
#[derive(Debug)]
pub(super) struct Conn {
    state: Mutex<ConnState>,
    /// Signalled when the connection is chosen to make room.
    pub(super) shed: Notify,
}

#[derive(Debug)]
struct ConnState {
    accepted: Instant,
    /// Whether requests came as HTTP/1 (known from the first request on).
    http1: bool,
    /// Requests received so far.
    requests: u64,
    /// Requests whose response body is not yet dropped.
    open: usize,
    /// When `open` last fell to 0 (the accept, before the first request).
    idle_since: Instant,
    /// HTTP/1: when the first byte after the last request arrived, while no request is open.
    partial_since: Option<Instant>,
    /// The last read or write, or the end of a request.
    last_seen: Instant,
    /// The last write of at least one byte.
    last_write: Instant,
    /// Responses that are ready and not yet sent, by request number: when they became ready.
    ready: BTreeMap<u64, Instant>,
    /// Chosen to make room; not counted against the limit any more.
    shedding: bool,
}

impl Conn {
    fn new(now: Instant) -> Self {
        Self {
            state: Mutex::new(ConnState {
                accepted: now,
                http1: false,
                requests: 0,
                open: 0,
                idle_since: now,
                partial_since: None,
                last_seen: now,
                last_write: now,
                ready: BTreeMap::new(),
                shedding: false,
            }),
            shed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnState> {
        crate::sync::lock(&self.state)
    }

    /// A request arrived (its headers are complete); the guard lives as long as its response.
    pub(super) fn request_started(self: &Arc<Self>, http1: bool) -> RequestGuard {
        let mut s = self.lock();
        s.http1 = http1;
        s.requests += 1;
        s.open += 1;
        s.partial_since = None;
        s.last_seen = Instant::now();
        RequestGuard {
            conn: Arc::clone(self),
            number: s.requests,
        }
    }

    fn on_read(&self) {
        let now = Instant::now();
        let mut s = self.lock();
        s.last_seen = now;
        if s.open == 0 && s.partial_since.is_none() {
            s.partial_since = Some(now);
        }
    }

    fn on_write(&self) {
        let now = Instant::now();
        let mut s = self.lock();
        s.last_seen = now;
        s.last_write = now;
    }

    /// Whether, and how, the connection must be closed at `now`.
    pub(super) fn verdict(&self, now: Instant) -> Option<Close> {
        let s = self.lock();
        let past = |since: Instant, limit: Duration| now.saturating_duration_since(since) > limit;
        if let Some((_, &ready)) = s.ready.first_key_value() {
            if past(ready, SEND_TIMEOUT) {
                return Some(Close::Abort("a response was not sent within 30s"));
            }
            if past(ready.max(s.last_write), STALL_TIMEOUT) {
                return Some(Close::Abort("a response made no progress for 10s"));
            }
        }
        if s.open > 0 {
            return None;
        }
        if s.requests == 0 && past(s.accepted, HEADER_TIMEOUT) {
            return Some(Close::Abort("no request within 10s of connecting"));
        }
        if s.http1 && s.partial_since.is_some_and(|t| past(t, HEADER_TIMEOUT)) {
            return Some(Close::Abort("request headers not complete within 10s"));
        }
        if past(s.idle_since, IDLE_TIMEOUT) {
            return Some(Close::Graceful("idle"));
        }
        None
    }
}

/// One request in progress on a connection; dropped with its response body.
#[derive(Debug)]
pub(super) struct RequestGuard {
    conn: Arc<Conn>,
    number: u64,
}

impl RequestGuard {
    /// The response is ready: from now on it must be sent within the send timeouts.
    pub(super) fn response_ready(&self) {
        self.conn.lock().ready.insert(self.number, Instant::now());
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut s = self.conn.lock();
        s.ready.remove(&self.number);
        s.open = s.open.saturating_sub(1);
        s.last_seen = now;
        if s.open == 0 {
            s.idle_since = now;
            s.partial_since = None;
        }
    }
}

/// A socket that tells its connection's record about every read and write.
#[derive(Debug)]
pub(super) struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
}

impl<S> Tracked<S> {
    pub(super) fn new(inner: S, conn: Arc<Conn>) -> Self {
        Self { inner, conn }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.conn.on_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.conn.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: Instant, secs: u64) -> Instant {
        base + Duration::from_secs(secs)
    }

    #[test]
    fn a_silent_connection_is_closed_after_the_header_timeout() {
        let c = Arc::new(Conn::new(Instant::now()));
        let t0 = c.lock().accepted;
        assert_eq!(c.verdict(at(t0, 9)), None);
        assert!(matches!(c.verdict(at(t0, 11)), Some(Close::Abort(_))));
    }

    #[test]
    fn an_idle_keep_alive_connection_stays_for_the_idle_timeout() {
        let c = Arc::new(Conn::new(Instant::now()));
        drop(c.request_started(true));
        let t0 = c.lock().idle_since;
        assert_eq!(c.verdict(at(t0, 120)), None, "closed before 2 minutes");
        assert_eq!(c.verdict(at(t0, 5 * 60 + 10)), None);
        assert_eq!(c.verdict(at(t0, 6 * 60 + 1)), Some(Close::Graceful("idle")));
    }

    #[test]
    fn http1_partial_headers_time_out_but_http2_control_frames_do_not() {
        for http1 in [true, false] {
            let c = Arc::new(Conn::new(Instant::now()));
            drop(c.request_started(http1));
            c.on_read();
            let t0 = c.lock().partial_since.unwrap();
            let v = c.verdict(at(t0, 11));
            assert_eq!(v.is_some(), http1, "http1={http1}: {v:?}");
        }
    }

    #[test]
    fn a_stalled_response_closes_its_connection() {
        let c = Arc::new(Conn::new(Instant::now()));
        let guard = c.request_started(false);
        let t0 = Instant::now();
        assert_eq!(
            c.verdict(at(t0, 60)),
            None,
            "a running collection is no stall"
        );
        guard.response_ready();
        assert!(matches!(c.verdict(at(t0, 11)), Some(Close::Abort(_))));
        drop(guard);
        assert_eq!(c.verdict(at(t0, 11)), None);
    }

    #[test]
    fn the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let connections = Arc::new(Connections::new(2));
        let a = connections.admit().unwrap();
        let b = connections.admit().unwrap();
        let _busy = a.conn.request_started(true);
        let c = connections.admit().expect("b is idle and makes room");
        assert!(b.conn.lock().shedding && !a.conn.lock().shedding);
        let _busy_c = c.conn.request_started(true);
        assert!(connections.admit().is_none(), "only busy connections left");
        drop(b);
        assert_eq!(connections.len(), 2);
    }
}
