/*!
A small client of systemd's D-Bus API, shared by the sysgauge exporters that read unit state
(sysgauge-systemd, and the backup exporter for its timers and services).

It does three things and keeps them cheap:

- **One connection, reused and re-established.** [`SystemdClient`] connects lazily, keeps the
  connection for later calls, and drops it when the bus goes away (the peer closed the socket,
  an I/O error, a call that did not answer in time), so that the next call connects again.
  A D-Bus restart therefore costs one failed collection, not a restart of the exporter.
- **Everything under a deadline.** Connecting and every call have a timeout, so a hung or
  absent bus gives an error within that time, never a hung caller.
- **Few round trips.** [`SystemdClient::list_units`] is one `ListUnitsByPatterns` call that
  returns the load, active and sub state of every unit; per-unit detail is one
  `Properties.GetAll` per unit and interface ([`SystemdClient::get_all_many`]) or a few
  `Properties.Get`s ([`SystemdClient::get_properties_many`]), run with bounded concurrency on
  the one connection; and [`SystemdClient::unit_changes`] says which units changed since the
  last call (from systemd's signals), so that a long-running caller re-reads only those.

The bus is the system bus by default; [`Bus::Address`] points at any other (a test's
container, a user manager's `unix:path=/run/user/1000/bus`). [`Bus::Direct`] talks to systemd
on its private socket, peer to peer, without the bus daemon: each message then costs one hop
instead of two plus the daemon's validation and routing, which is most of the cost of many
small calls. systemd answers there for root only; [`Bus::Auto`] uses it when it can and the
system bus otherwise.

Replies can be decoded straight into small structs ([`SystemdClient::get_all_as`]), so that a
`GetAll` of some 250 properties costs only the fields a caller keeps.

```no_run
# async fn f() -> Result<(), sysgauge_dbus::Error> {
use sysgauge_dbus::{Bus, SystemdClient, interface};
let client = SystemdClient::new(Bus::System, Default::default());
let units = client.list_units(&[], &["*.service"]).await?;
let paths = units.iter().map(|u| (u.path.clone(), interface::SERVICE)).collect();
for (unit, props) in units.iter().zip(client.get_all_many(paths).await) {
    println!("{} {:?}", unit.name, props?.u32("NRestarts"));
}
# Ok(()) }
```
*/

pub mod boot;
mod direct;
pub mod resources;
pub mod status;
mod watch;

use std::{collections::HashMap, path::PathBuf, sync::Arc, sync::Mutex, time::Duration};

use futures_util::{StreamExt, stream};
/// The zbus this crate is built on, for callers that need its types (values, paths).
pub use zbus;

pub use direct::PRIVATE_SOCKET;
pub use resources::{ResourceCounters, ResourceLimits};
pub use status::{ServiceStatus, SocketStatus, TimerStatus};
pub use watch::UnitChanges;
use zbus::{
    Connection,
    zvariant::{OwnedObjectPath, OwnedValue, Value},
};

/// The well-known name of systemd's manager on the bus.
pub const DESTINATION: &str = "org.freedesktop.systemd1";
/// The object path of the manager.
pub const MANAGER_PATH: &str = "/org/freedesktop/systemd1";

/// The D-Bus interfaces of systemd's objects, for [`SystemdClient::get_all`].
pub mod interface {
    /// The manager (`SystemState`, `Version`, `NFailedUnits`, ...).
    pub const MANAGER: &str = "org.freedesktop.systemd1.Manager";
    /// Properties every unit has (`ActiveEnterTimestamp`, `StateChangeTimestamp`, ...).
    pub const UNIT: &str = "org.freedesktop.systemd1.Unit";
    /// Services (`Result`, `ExecMainStatus`, `NRestarts`, `CPUUsageNSec`, ...).
    pub const SERVICE: &str = "org.freedesktop.systemd1.Service";
    /// Timers (`LastTriggerUSec`, `NextElapseUSecRealtime`, `Unit`, `Result`).
    pub const TIMER: &str = "org.freedesktop.systemd1.Timer";
    /// Sockets (`NAccepted`, `NConnections`, `NRefused`, `Result`).
    pub const SOCKET: &str = "org.freedesktop.systemd1.Socket";
    /// Slices (`TasksCurrent`, `MemoryCurrent`, `CPUUsageNSec`, `IOReadBytes`, ...).
    pub const SLICE: &str = "org.freedesktop.systemd1.Slice";
    /// Scopes: login sessions, containers (the same accounting properties as slices).
    pub const SCOPE: &str = "org.freedesktop.systemd1.Scope";
}

/// What can go wrong talking to systemd.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bus could not be reached (no socket, refused, authentication failed).
    #[error("cannot connect to the D-Bus {bus}")]
    Connect {
        /// Which bus.
        bus: String,
        /// Why.
        #[source]
        source: zbus::Error,
    },
    /// A call got an error reply, or the connection failed during the call.
    #[error("D-Bus call {method} on {path} failed")]
    Call {
        /// The method, e.g. `ListUnitsByPatterns`.
        method: &'static str,
        /// The object path.
        path: String,
        /// Why.
        #[source]
        source: zbus::Error,
    },
    /// Connecting or a call did not finish in time.
    #[error("{what} did not answer within {after:?}")]
    Timeout {
        /// What was attempted.
        what: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// A reply did not have the expected type.
    #[error("unexpected reply to {method}")]
    Reply {
        /// The method.
        method: &'static str,
        /// Why it could not be decoded.
        #[source]
        source: zbus::Error,
    },
}

impl Error {
    /// Whether this is an error reply from systemd about one object (no such unit, unknown
    /// interface) rather than a problem with the bus itself.
    pub fn is_method_error(&self) -> bool {
        matches!(
            self,
            Error::Call {
                source: zbus::Error::MethodError(..) | zbus::Error::FDO(_),
                ..
            }
        )
    }
}

/// Which bus to talk to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bus {
    /// The system bus (`DBUS_SYSTEM_BUS_ADDRESS`, or `/run/dbus/system_bus_socket`).
    #[default]
    System,
    /// The session bus of the current user (`DBUS_SESSION_BUS_ADDRESS`), where the user's
    /// systemd manager answers.
    Session,
    /// A D-Bus address, e.g. `unix:path=/run/user/1000/bus`.
    Address(String),
    /// systemd's private socket at this path ([`PRIVATE_SOCKET`] for the system manager),
    /// peer to peer, without a bus daemon. systemd accepts only root there.
    Direct(PathBuf),
    /// [`PRIVATE_SOCKET`] when this process runs as root and the socket exists, else the
    /// system bus; also the system bus when connecting to the socket fails.
    Auto,
}

impl Bus {
    /// [`Bus::Auto`] resolved: the private socket or the system bus.
    fn resolve(&self) -> Bus {
        match self {
            Bus::Auto if is_root() && std::path::Path::new(PRIVATE_SOCKET).exists() => {
                Bus::Direct(PRIVATE_SOCKET.into())
            }
            Bus::Auto => Bus::System,
            other => other.clone(),
        }
    }
}

/// The bus of the systemd manager of the user with `uid`: its private socket
/// `/run/user/UID/systemd/private` when this process runs as root (a user manager accepts root
/// and its own user there, peer to peer), else the user's bus `/run/user/UID/bus` (which
/// dbus-daemon opens to that user only, so it works for the exporter's own user).
pub fn user_manager_bus(uid: u32) -> Bus {
    if is_root() {
        Bus::Direct(format!("/run/user/{uid}/systemd/private").into())
    } else {
        Bus::Address(format!("unix:path=/run/user/{uid}/bus"))
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is the effective uid.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl std::fmt::Display for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::System => f.write_str("system bus"),
            Bus::Session => f.write_str("session bus"),
            Bus::Address(a) => write!(f, "bus at {a}"),
            Bus::Direct(p) => write!(f, "private socket {}", p.display()),
            Bus::Auto => f.write_str("private socket or system bus"),
        }
    }
}

/// Timeouts and limits of a [`SystemdClient`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The most time connecting (socket, authentication, `Hello`) may take.
    pub connect_timeout: Duration,
    /// The most time one method call may take.
    pub call_timeout: Duration,
    /// The most method calls in flight at once on the connection; further calls wait for
    /// one to finish. dbus-daemon refuses calls beyond the replies one connection may await
    /// (`max_replies_per_connection`, 128 on Debian's system bus: `LimitsExceeded`), so keep
    /// this well under that; the private socket has no such limit.
    pub max_concurrent_calls: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(5),
            max_concurrent_calls: 16,
        }
    }
}

/// One entry of `ListUnits*`: the unit's name, states and object path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, zbus::zvariant::Type)]
pub struct UnitStatus {
    /// The unit name, e.g. `backup.service`.
    pub name: String,
    /// The description.
    pub description: String,
    /// loaded, not-found, bad-setting, error, masked, ...
    pub load_state: String,
    /// active, reloading, inactive, failed, activating, deactivating, maintenance.
    pub active_state: String,
    /// The type-specific state: running, exited, dead, waiting, listening, ...
    pub sub_state: String,
    /// The unit this one follows, or empty.
    pub following: String,
    /// The unit's object path, for [`SystemdClient::get_all`].
    pub path: OwnedObjectPath,
    /// The id of a queued job, or 0.
    pub job_id: u32,
    /// The type of the queued job, or empty.
    pub job_type: String,
    /// The queued job's object path.
    pub job_path: OwnedObjectPath,
}

impl UnitStatus {
    /// The unit type: the part of the name after the last dot (`service`, `timer`, ...).
    pub fn unit_type(&self) -> &str {
        self.name.rsplit_once('.').map_or("", |(_, t)| t)
    }
}

/// The properties of one interface of one object, from `GetAll`.
#[derive(Clone, Debug, Default)]
pub struct Properties(pub HashMap<String, OwnedValue>);

/// Properties that are all `t` (unsigned 64-bit) values, as most of systemd's accounting and
/// timestamp properties are: how tests and examples make the answer of a `GetAll` without a bus.
impl<'a> FromIterator<(&'a str, u64)> for Properties {
    fn from_iter<I: IntoIterator<Item = (&'a str, u64)>>(values: I) -> Self {
        Properties(
            values
                .into_iter()
                .map(|(name, value)| (name.to_owned(), OwnedValue::from(value)))
                .collect(),
        )
    }
}

impl Properties {
    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value<'static>> {
        self.0.get(name).map(|v| &**v)
    }

    /// An unsigned integer property (`t`, `u`, `q` or `y`).
    pub fn u64(&self, name: &str) -> Option<u64> {
        match self.get(name)? {
            Value::U64(v) => Some(*v),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U8(v) => Some(u64::from(*v)),
            _ => None,
        }
    }

    /// A `u` property.
    pub fn u32(&self, name: &str) -> Option<u32> {
        match self.get(name)? {
            Value::U32(v) => Some(*v),
            _ => None,
        }
    }

    /// A signed integer property (`i`, `x`, `n`).
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::I64(v) => Some(*v),
            Value::I32(v) => Some(i64::from(*v)),
            Value::I16(v) => Some(i64::from(*v)),
            _ => None,
        }
    }

    /// A string property (`s`, `o`).
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.get(name)? {
            Value::Str(v) => Some(v.as_str()),
            Value::ObjectPath(v) => Some(v.as_str()),
            _ => None,
        }
    }

    /// A `b` property.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(v) => Some(*v),
            _ => None,
        }
    }

    /// A systemd accounting value (`CPUUsageNSec`, `MemoryCurrent`, `TasksCurrent`, ...);
    /// `None` when systemd reports "not set" (`u64::MAX`), e.g. accounting is off or the unit
    /// is not running.
    pub fn accounting(&self, name: &str) -> Option<u64> {
        self.u64(name).and_then(accounting_value)
    }

    /// A wall-clock timestamp in microseconds (`ExecMainStartTimestamp`, `LastTriggerUSec`,
    /// ...), as Unix seconds; `None` when it never happened (0) or is infinite (`u64::MAX`).
    pub fn timestamp_seconds(&self, name: &str) -> Option<f64> {
        self.u64(name).and_then(usec_to_seconds)
    }
}

/// A systemd wall-clock timestamp in microseconds (`ExecMainStartTimestamp`,
/// `LastTriggerUSec`, ...) as Unix seconds; `None` for never (0) or infinity (`u64::MAX`).
pub fn usec_to_seconds(usec: u64) -> Option<f64> {
    (usec != 0 && usec != u64::MAX).then(|| usec as f64 / 1e6)
}

/// A systemd accounting value (`CPUUsageNSec`, `MemoryCurrent`, `TasksCurrent`, ...);
/// `None` for systemd's "not set" (`u64::MAX`), e.g. accounting is off or the unit is not
/// running.
pub fn accounting_value(value: u64) -> Option<u64> {
    (value != u64::MAX).then_some(value)
}

/// When a timer elapses next, as Unix seconds, from its `NextElapseUSecRealtime` (calendar)
/// and `NextElapseUSecMonotonic` (`OnBootSec=`, `OnActiveSec=`, `OnUnitActiveSec=`, ...)
/// properties: the monotonic time is put on the wall clock with this machine's clocks now, as
/// `systemctl list-timers` does, and the earlier of the two is taken when both are set, as
/// systemd fires at the earlier. `None` when neither is set: the timer will not elapse again.
pub fn next_elapse_seconds(realtime_usec: Option<u64>, monotonic_usec: Option<u64>) -> Option<f64> {
    use rustix::time::{ClockId, clock_gettime};
    let usec = |t: rustix::time::Timespec| t.tv_sec as i128 * 1_000_000 + t.tv_nsec as i128 / 1000;
    let now = (
        usec(clock_gettime(ClockId::Realtime)),
        usec(clock_gettime(ClockId::Monotonic)),
    );
    next_elapse_at(realtime_usec, monotonic_usec, now)
}

/// [`next_elapse_seconds`] with the clocks' readings (realtime, monotonic) in microseconds.
fn next_elapse_at(
    realtime_usec: Option<u64>,
    monotonic_usec: Option<u64>,
    (now_realtime, now_monotonic): (i128, i128),
) -> Option<f64> {
    let set = |v: &u64| *v != 0 && *v != u64::MAX;
    let realtime = realtime_usec.filter(set).map(i128::from);
    let monotonic = monotonic_usec
        .filter(set)
        .map(|m| now_realtime + (i128::from(m) - now_monotonic));
    let usec = match (realtime, monotonic) {
        (Some(r), Some(m)) => r.min(m),
        (r, m) => r.or(m)?,
    };
    Some(usec.max(0) as f64 / 1e6)
}

/// An open connection: through a bus daemon, or peer to peer on the private socket.
#[derive(Clone, Debug)]
enum Link {
    Bus(Connection),
    Direct(Arc<direct::Direct>),
}

impl Link {
    fn is_closed(&self) -> bool {
        match self {
            Link::Bus(c) => c.is_closed(),
            Link::Direct(d) => d.is_closed(),
        }
    }
}

/// The source of [`SystemdClient::unit_changes`] on the current link.
#[derive(Debug)]
enum Watching {
    /// A subscription on a bus connection.
    Bus(watch::UnitWatch),
    /// The private connection, whose reader notes the signals systemd sends it anyway.
    Direct(Arc<direct::Direct>),
}

/// A method return, from either kind of link.
enum Reply {
    Bus(zbus::Message),
    Direct(direct::Reply),
}

impl Reply {
    fn deserialize<T>(&self) -> Result<T, zbus::Error>
    where
        T: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        match self {
            Reply::Bus(m) => m.body().deserialize(),
            Reply::Direct(r) => r.deserialize(),
        }
    }
}

/// A client of systemd's manager on one bus; see the crate documentation.
#[derive(Debug)]
pub struct SystemdClient {
    bus: Bus,
    options: Options,
    connection: Mutex<Option<Link>>,
    // Serialises connecting, so that concurrent callers after a bus restart open one
    // connection rather than one each.
    connecting: tokio::sync::Mutex<()>,
    // One permit per method call in flight (`Options::max_concurrent_calls`).
    calls: tokio::sync::Semaphore,
    // What `unit_changes` watches: the connection it last answered for.
    watch: tokio::sync::Mutex<Option<Watching>>,
    // Whether a refused subscription was logged already (it is refused on every call).
    watch_refused: std::sync::atomic::AtomicBool,
    // The changes owed to each caller of `unit_changes_for` since its last call.
    // Held across taking and sharing out, so that no caller misses what another took.
    owed: tokio::sync::Mutex<HashMap<usize, UnitChanges>>,
}

impl SystemdClient {
    /// A client of `bus`; nothing is connected until the first call.
    pub fn new(bus: Bus, options: Options) -> Self {
        Self {
            bus,
            options,
            calls: tokio::sync::Semaphore::new(options.max_concurrent_calls.max(1)),
            connection: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            watch: tokio::sync::Mutex::new(None),
            watch_refused: std::sync::atomic::AtomicBool::new(false),
            owed: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The bus this client talks to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The open connection, or a new one when there is none or the old one was closed.
    async fn link(&self) -> Result<Link, Error> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _guard = self.connecting.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let bus = self.bus.resolve();
        let link = match self.connect(&bus).await {
            Err(e) if self.bus == Bus::Auto && bus != Bus::System => {
                tracing::info!(error = %e, "cannot use systemd's private socket; using the system bus");
                self.connect(&Bus::System).await?
            }
            other => other?,
        };
        tracing::debug!(bus = %bus, "connected to systemd");
        *self.lock() = Some(link.clone());
        Ok(link)
    }

    async fn connect(&self, bus: &Bus) -> Result<Link, Error> {
        let connect = async {
            if let Bus::Direct(path) = bus {
                return direct::Direct::connect(path, self.options.connect_timeout)
                    .await
                    .map(|d| Link::Direct(Arc::new(d)));
            }
            let builder = match bus {
                Bus::Session => zbus::connection::Builder::session(),
                Bus::Address(a) => zbus::connection::Builder::address(a.as_str()),
                _ => zbus::connection::Builder::system(),
            }?;
            // No zbus method timeout: `call` puts its own around every call, whose error
            // says which call did not answer.
            builder.build().await.map(Link::Bus)
        };
        tokio::time::timeout(self.options.connect_timeout, connect)
            .await
            .map_err(|_| Error::Timeout {
                what: format!("connecting to the D-Bus {bus}"),
                after: self.options.connect_timeout,
            })?
            .map_err(|source| Error::Connect {
                bus: bus.to_string(),
                source,
            })
    }

    /// Forgets the connection, so that the next call connects again.
    pub fn disconnect(&self) {
        if self.lock().take().is_some() {
            tracing::debug!(bus = %self.bus, "dropped the D-Bus connection");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Link>> {
        sysgauge_common::sync::lock(&self.connection)
    }

    fn cached(&self) -> Option<Link> {
        let mut slot = self.lock();
        match &*slot {
            Some(c) if !c.is_closed() => Some(c.clone()),
            Some(_) => {
                tracing::info!(bus = %self.bus, "the D-Bus connection was closed; reconnecting");
                *slot = None;
                None
            }
            None => None,
        }
    }

    /// Calls `method` on systemd with `body`, under the call timeout. A failure that is not
    /// an error reply drops the connection, so that the next call starts afresh.
    async fn call<B>(
        &self,
        path: &str,
        interface: &str,
        method: &'static str,
        body: &B,
    ) -> Result<Reply, Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let link = self.link().await?;
        // The semaphore is never closed, so acquiring only waits.
        let _permit = self.calls.acquire().await.ok();
        let call = async {
            match &link {
                Link::Bus(c) => c
                    .call_method(Some(DESTINATION), path, Some(interface), method, body)
                    .await
                    .map(Reply::Bus),
                Link::Direct(d) => d
                    .call(DESTINATION, path, interface, method, body)
                    .await
                    .map(Reply::Direct),
            }
        };
        let result = match tokio::time::timeout(self.options.call_timeout, call).await {
            Ok(Ok(message)) => return Ok(message),
            Ok(Err(source)) => Error::Call {
                method,
                path: path.to_owned(),
                source,
            },
            Err(_) => Error::Timeout {
                what: format!("{method} on {path}"),
                after: self.options.call_timeout,
            },
        };
        if !result.is_method_error() {
            self.disconnect();
        }
        Err(result)
    }

    /// `ListUnitsByPatterns(states, patterns)`: every unit systemd has loaded whose active,
    /// load or sub state is one of `states` and whose name matches one of the shell-style
    /// `patterns`; empty slices mean all. Units that failed to load (not-found, bad-setting,
    /// error) are included when something references them.
    pub async fn list_units(
        &self,
        states: &[&str],
        patterns: &[&str],
    ) -> Result<Vec<UnitStatus>, Error> {
        const METHOD: &str = "ListUnitsByPatterns";
        let reply = self
            .call(
                MANAGER_PATH,
                interface::MANAGER,
                METHOD,
                &(states, patterns),
            )
            .await?;
        reply.deserialize().map_err(|source| Error::Reply {
            method: METHOD,
            source,
        })
    }

    /// `ListUnitsByNames(names)`: the named units, loading them if needed, so that a unit
    /// that does not exist comes back with load state `not-found` instead of missing.
    pub async fn list_units_by_names(&self, names: &[&str]) -> Result<Vec<UnitStatus>, Error> {
        const METHOD: &str = "ListUnitsByNames";
        let reply = self
            .call(MANAGER_PATH, interface::MANAGER, METHOD, &(names,))
            .await?;
        reply.deserialize().map_err(|source| Error::Reply {
            method: METHOD,
            source,
        })
    }

    /// `Properties.GetAll(interface)` on the object at `path`.
    pub async fn get_all(&self, path: &str, interface: &str) -> Result<Properties, Error> {
        const METHOD: &str = "GetAll";
        let reply = self
            .call(
                path,
                "org.freedesktop.DBus.Properties",
                METHOD,
                &(interface,),
            )
            .await?;
        reply
            .deserialize()
            .map(Properties)
            .map_err(|source| Error::Reply {
                method: METHOD,
                source,
            })
    }

    /// `Properties.GetAll(interface)` on the object at `path`, decoded straight into `T`: a
    /// struct with the `a{sv}` signature whose fields name the properties wanted (serde
    /// `rename`, `zvariant::as_value::optional`); the others are skipped while decoding,
    /// never stored. See the crate documentation.
    pub async fn get_all_as<T>(&self, path: &str, interface: &str) -> Result<T, Error>
    where
        T: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        const METHOD: &str = "GetAll";
        let reply = self
            .call(
                path,
                "org.freedesktop.DBus.Properties",
                METHOD,
                &(interface,),
            )
            .await?;
        reply.deserialize().map_err(|source| Error::Reply {
            method: METHOD,
            source,
        })
    }

    /// [`get_all_as`](Self::get_all_as) for each (path, interface), at most
    /// `max_concurrent_calls` at a time, results in the order of `requests` and handed to
    /// `each` as they come, so that a caller can turn each into what it keeps at once.
    pub async fn get_all_as_many<T, R, F>(
        &self,
        requests: Vec<(OwnedObjectPath, &'static str)>,
        mut each: F,
    ) -> Vec<R>
    where
        T: serde::de::DeserializeOwned + zbus::zvariant::Type + Send + 'static,
        F: FnMut(Result<T, Error>) -> R,
    {
        stream::iter(to_get_alls(requests))
            .map(|r: GetAll| self.get_all_as_owned::<T>(r.path, r.interface))
            .buffered(self.options.max_concurrent_calls.max(1))
            .map(&mut each)
            .collect()
            .await
    }

    async fn get_all_as_owned<T>(
        &self,
        path: OwnedObjectPath,
        interface: &'static str,
    ) -> Result<T, Error>
    where
        T: serde::de::DeserializeOwned + zbus::zvariant::Type,
    {
        self.get_all_as(path.as_str(), interface).await
    }

    /// `Properties.Get` of each of `names` on one interface of the object at `path`, all in
    /// flight at once. Much cheaper for systemd than `GetAll` when a few properties are
    /// needed: `GetAll` on a service serialises some 250 properties and reads a dozen cgroup
    /// files. A property this systemd does not have (an older version) is left out; only when
    /// none could be read is the unit's error returned.
    pub async fn get_properties(
        &self,
        path: &str,
        interface: &str,
        names: &[&str],
    ) -> Result<Properties, Error> {
        const METHOD: &str = "Get";
        let calls = names.iter().map(|name| async move {
            let reply = self
                .call(
                    path,
                    "org.freedesktop.DBus.Properties",
                    METHOD,
                    &(interface, *name),
                )
                .await?;
            reply
                .deserialize::<OwnedValue>()
                .map(|v| ((*name).to_owned(), v))
                .map_err(|source| Error::Reply {
                    method: METHOD,
                    source,
                })
        });
        let mut properties = HashMap::with_capacity(names.len());
        let mut first_error = None;
        for result in futures_util::future::join_all(calls).await {
            match result {
                Ok((name, value)) => {
                    properties.insert(name, value);
                }
                Err(e) if !e.is_method_error() => return Err(e),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if properties.is_empty() => Err(e),
            _ => Ok(Properties(properties)),
        }
    }

    /// [`get_properties`](Self::get_properties) for each (path, interface, names), at most
    /// `max_concurrent_calls` objects at a time, results in the order of `requests`.
    pub async fn get_properties_many(
        &self,
        requests: Vec<(OwnedObjectPath, &'static str, &'static [&'static str])>,
    ) -> Vec<Result<Properties, Error>> {
        stream::iter(to_gets(requests))
            .map(|r: Get| self.get_properties_owned(r.path, r.interface, r.names))
            .buffered(self.options.max_concurrent_calls.max(1))
            .collect()
            .await
    }

    async fn get_properties_owned(
        &self,
        path: OwnedObjectPath,
        interface: &'static str,
        names: &'static [&'static str],
    ) -> Result<Properties, Error> {
        self.get_properties(path.as_str(), interface, names).await
    }

    /// Which units changed since the previous call, for a caller that keeps what it read
    /// about units between calls (see the `watch` module for why this is exact): the result
    /// includes every change systemd made before it answered any call of this client that
    /// finished before this one started. The first call on a connection returns
    /// [`UnitChanges::All`] (on a bus it subscribes to systemd's signals), as does every call
    /// where changes cannot be watched (a bus policy that refuses `Subscribe`).
    pub async fn unit_changes(&self) -> Result<UnitChanges, Error> {
        self.unit_changes_for(0).await
    }

    /// [`unit_changes`](Self::unit_changes) for one of several callers sharing this client
    /// (and its one connection), each with its own `caller` number: each learns every change
    /// since its own previous call, whichever caller's call took it from the connection. A
    /// caller's first call returns [`UnitChanges::All`].
    pub async fn unit_changes_for(&self, caller: usize) -> Result<UnitChanges, Error> {
        let mut owed = self.owed.lock().await;
        let fresh = self.take_unit_changes().await?;
        for (other, changes) in owed.iter_mut() {
            if *other != caller {
                changes.merge(&fresh);
            }
        }
        let empty = UnitChanges::Units(Default::default());
        Ok(match owed.insert(caller, empty) {
            Some(mut mine) => {
                mine.merge(&fresh);
                mine
            }
            None => UnitChanges::All,
        })
    }

    /// The changes the connection noted since they were last taken.
    async fn take_unit_changes(&self) -> Result<UnitChanges, Error> {
        let connection = match self.link().await? {
            Link::Direct(direct) => {
                // The first call on this connection: what it noted so far covers only part
                // of what the caller kept.
                let mut slot = self.watch.lock().await;
                let changes = direct.changes();
                return Ok(match &*slot {
                    Some(Watching::Direct(d)) if Arc::ptr_eq(d, &direct) => changes,
                    _ => {
                        *slot = Some(Watching::Direct(direct));
                        UnitChanges::All
                    }
                });
            }
            Link::Bus(connection) => connection,
        };
        let mut slot = self.watch.lock().await;
        if let Some(Watching::Bus(watch)) = slot.as_ref()
            && watch.is_on(&connection)
            && let Some(changes) = watch.flush().await
        {
            return Ok(changes);
        }
        *slot = None;
        let subscribe = watch::UnitWatch::start(&connection);
        match tokio::time::timeout(self.options.call_timeout, subscribe).await {
            Ok(Ok(watch)) => *slot = Some(Watching::Bus(watch)),
            Ok(Err(source @ (zbus::Error::MethodError(..) | zbus::Error::FDO(_)))) => {
                use std::sync::atomic::Ordering;
                if !self.watch_refused.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %source, "cannot subscribe to systemd's signals; reading every unit on every collection");
                }
            }
            Ok(Err(source)) => {
                self.disconnect();
                return Err(Error::Call {
                    method: "Subscribe",
                    path: MANAGER_PATH.to_owned(),
                    source,
                });
            }
            Err(_) => {
                self.disconnect();
                return Err(Error::Timeout {
                    what: "Subscribe".to_owned(),
                    after: self.options.call_timeout,
                });
            }
        }
        Ok(UnitChanges::All)
    }

    /// The manager's own properties (`SystemState`, `Version`, `NFailedUnits`, ...).
    pub async fn manager(&self) -> Result<Properties, Error> {
        self.get_all(MANAGER_PATH, interface::MANAGER).await
    }

    /// `GetAll` for each (path, interface), at most `max_concurrent_calls` at a time, on one
    /// connection. The results come back in the order of `requests`; each is on its own, so a
    /// unit that vanished between listing and asking costs only its own entry.
    pub async fn get_all_many(
        &self,
        requests: Vec<(OwnedObjectPath, &'static str)>,
    ) -> Vec<Result<Properties, Error>> {
        // Futures are made as the stream is polled, so that at most `max_concurrent_calls`
        // exist at once (a zbus call future is tens of KiB; a thousand made up front cost
        // 80 MiB). The requests become lifetime-free structs in a plain fn first: a closure
        // over a tuple with borrowed elements inside this async fn trips rustc's Send
        // inference in callers' `async_trait` futures.
        stream::iter(to_get_alls(requests))
            .map(|r: GetAll| self.get_all_owned(r.path, r.interface))
            .buffered(self.options.max_concurrent_calls.max(1))
            .collect()
            .await
    }

    async fn get_all_owned(
        &self,
        path: OwnedObjectPath,
        interface: &'static str,
    ) -> Result<Properties, Error> {
        self.get_all(path.as_str(), interface).await
    }
}

fn to_get_alls(requests: Vec<(OwnedObjectPath, &'static str)>) -> Vec<GetAll> {
    requests
        .into_iter()
        .map(|(path, interface)| GetAll { path, interface })
        .collect()
}

fn to_gets(requests: Vec<(OwnedObjectPath, &'static str, &'static [&'static str])>) -> Vec<Get> {
    requests
        .into_iter()
        .map(|(path, interface, names)| Get {
            path,
            interface,
            names,
        })
        .collect()
}

/// One request of [`SystemdClient::get_all_many`].
struct GetAll {
    path: OwnedObjectPath,
    interface: &'static str,
}

/// One request of [`SystemdClient::get_properties_many`].
struct Get {
    path: OwnedObjectPath,
    interface: &'static str,
    names: &'static [&'static str],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(values: Vec<(&str, Value<'static>)>) -> Properties {
        Properties(
            values
                .into_iter()
                .map(|(k, v)| (k.to_owned(), OwnedValue::try_from(v).unwrap()))
                .collect(),
        )
    }

    #[test]
    fn accessors_decode_systemd_conventions() {
        let p = props(vec![
            ("NRestarts", Value::U32(3)),
            ("ExecMainStatus", Value::I32(-2)),
            ("CPUUsageNSec", Value::U64(u64::MAX)),
            ("MemoryCurrent", Value::U64(4096)),
            ("ExecMainExitTimestamp", Value::U64(0)),
            ("LastTriggerUSec", Value::U64(1_700_000_000_500_000)),
            ("Result", Value::from("exit-code")),
        ]);
        assert_eq!(p.u32("NRestarts"), Some(3));
        assert_eq!(p.u64("NRestarts"), Some(3));
        assert_eq!(p.i64("ExecMainStatus"), Some(-2));
        assert_eq!(p.accounting("CPUUsageNSec"), None);
        assert_eq!(p.accounting("MemoryCurrent"), Some(4096));
        assert_eq!(p.timestamp_seconds("ExecMainExitTimestamp"), None);
        assert_eq!(
            p.timestamp_seconds("LastTriggerUSec"),
            Some(1_700_000_000.5)
        );
        assert_eq!(p.str("Result"), Some("exit-code"));
        assert_eq!(p.str("NRestarts"), None, "wrong type is None, not a panic");
        assert_eq!(p.u64("Missing"), None);
    }

    #[test]
    fn next_elapse_puts_monotonic_on_the_wall_clock_and_takes_the_earlier() {
        // Now: wall clock 1_700_000_000 s, monotonic 5 s.
        let now = (1_700_000_000_000_000, 5_000_000);
        assert_eq!(
            next_elapse_at(Some(0), Some(65_000_000), now),
            Some(1_700_000_060.0)
        );
        assert_eq!(
            next_elapse_at(Some(1_700_000_030_000_000), Some(65_000_000), now),
            Some(1_700_000_030.0)
        );
        assert_eq!(
            next_elapse_at(Some(1_700_000_090_000_000), Some(65_000_000), now),
            Some(1_700_000_060.0)
        );
        assert_eq!(next_elapse_at(Some(u64::MAX), Some(0), now), None);
        assert_eq!(next_elapse_at(None, None, now), None);
        // Read with this machine's clocks: an hour from now is an hour from now.
        let mono = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let in_an_hour = (mono.tv_sec as u64 + 3600) * 1_000_000;
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let next = next_elapse_seconds(None, Some(in_an_hour)).unwrap();
        assert!(
            (next - (wall + 3600.0)).abs() < 2.0,
            "{next} vs {wall} + 3600"
        );
    }

    #[test]
    fn unit_type_is_the_suffix() {
        let mut u = UnitStatus {
            name: "a.b.timer".into(),
            description: String::new(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "waiting".into(),
            following: String::new(),
            path: OwnedObjectPath::try_from("/x").unwrap(),
            job_id: 0,
            job_type: String::new(),
            job_path: OwnedObjectPath::try_from("/").unwrap(),
        };
        assert_eq!(u.unit_type(), "timer");
        u.name = "noext".into();
        assert_eq!(u.unit_type(), "");
    }

    #[tokio::test]
    async fn absent_bus_fails_fast_with_a_connect_error() {
        let client = SystemdClient::new(
            Bus::Address("unix:path=/nonexistent/sysgauge-test-bus".into()),
            Options::default(),
        );
        let start = std::time::Instant::now();
        let err = client.list_units(&[], &[]).await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(err.to_string().contains("/nonexistent/sysgauge-test-bus"));
    }

    #[tokio::test]
    async fn silent_peer_times_out_instead_of_hanging() {
        // A socket that accepts and never speaks: the D-Bus handshake cannot finish.
        let dir = std::env::temp_dir().join(format!("sysgauge-dbus-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bus");
        let _ = std::fs::remove_file(&path);
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let client = SystemdClient::new(
            Bus::Address(format!("unix:path={}", path.display())),
            Options {
                connect_timeout: Duration::from_millis(300),
                ..Options::default()
            },
        );
        let start = std::time::Instant::now();
        let err = client.manager().await.unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(2));
        hold.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
