//! Watching systemd's units for changes, so that a long-running caller can keep what it read
//! about a unit until systemd says the unit changed.
//!
//! After `Subscribe`, systemd broadcasts `PropertiesChanged` for a unit whenever any of its
//! properties that are marked as emitting changes do (its states, `Result`,
//! `ExecMainStatus`, `NRestarts`, the timestamps, a timer's next elapse; not the accounting
//! values), `UnitRemoved` when it forgets a unit, and `Reloading` around a daemon-reload.
//!
//! The guarantee a cache needs is ordering, and D-Bus gives it: systemd writes the change
//! signals it has queued before it handles the next method call, the bus daemon forwards one
//! sender's messages in order, and zbus's reader hands every message to the matching queues
//! before it reads the next one. So once the reply to any call has arrived, every signal that
//! systemd sent before answering it is already queued here, and [`UnitWatch::flush`] collects
//! it. A caller that calls `flush` after a call therefore learns of every change systemd made
//! before answering that call.
//!
//! On the bus, a task reads the signals as they come, so that a quiet caller cannot make the
//! queue fill up: zbus stops reading the connection when a queue is full, replies included.
//! On systemd's private socket, systemd sends every signal unsubscribed, and the reader of
//! that connection notes them itself before it hands over any later reply.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use futures_util::{FutureExt, StreamExt, stream::SelectAll};
use tokio::sync::{mpsc, oneshot};
use zbus::{
    Connection, MatchRule, MessageStream,
    message::Type,
    names::OwnedUniqueName,
    zvariant::{ObjectPath, OwnedObjectPath},
};

use sysgauge_common::sync::lock;

use crate::{DESTINATION, MANAGER_PATH, interface};

/// Unit objects under this path send `PropertiesChanged`.
const UNIT_PATHS: &str = "/org/freedesktop/systemd1/unit";
/// How many signals may wait in zbus's queue before the reader task takes them.
const QUEUE: usize = 1024;

/// What changed since the previous [`crate::SystemdClient::unit_changes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnitChanges {
    /// Assume every unit changed: the first call, a new connection, a daemon-reload or
    /// re-execution, or a connection on which changes are not watched (the private socket).
    All,
    /// The object paths of the units whose properties changed or that systemd removed.
    Units(HashSet<OwnedObjectPath>),
}

impl UnitChanges {
    /// Whether the unit at `path` may have changed.
    pub fn includes(&self, path: &OwnedObjectPath) -> bool {
        match self {
            UnitChanges::All => true,
            UnitChanges::Units(paths) => paths.contains(path),
        }
    }
}

impl UnitChanges {
    /// Adds `other`'s changes to these.
    pub fn merge(&mut self, other: &UnitChanges) {
        match (&mut *self, other) {
            (UnitChanges::All, _) => {}
            (_, UnitChanges::All) => *self = UnitChanges::All,
            (UnitChanges::Units(mine), UnitChanges::Units(theirs)) => {
                mine.extend(theirs.iter().cloned())
            }
        }
    }
}

/// The changes signalled since the last flush; shared by both kinds of link.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    units: HashSet<OwnedObjectPath>,
    all: bool,
}

impl Seen {
    /// Notes the signal `member` sent by systemd for the object at `path`; `removed` decodes
    /// the path of the unit a `UnitRemoved` names. Other signals change nothing.
    pub(crate) fn note(
        &mut self,
        member: &str,
        path: &str,
        removed: impl FnOnce() -> Option<OwnedObjectPath>,
    ) {
        match member {
            "PropertiesChanged"
                if path
                    .strip_prefix(UNIT_PATHS)
                    .is_some_and(|unit| unit.starts_with('/')) =>
            {
                match ObjectPath::try_from(path) {
                    Ok(p) => {
                        self.units.insert(p.into());
                    }
                    Err(_) => self.all = true,
                }
            }
            "UnitRemoved" => match removed() {
                Some(p) => {
                    self.units.insert(p);
                }
                None => self.all = true,
            },
            "Reloading" => self.all = true,
            _ => {}
        }
    }

    /// What was noted, leaving nothing.
    pub(crate) fn take(&mut self) -> UnitChanges {
        let seen = std::mem::take(self);
        if seen.all {
            UnitChanges::All
        } else {
            UnitChanges::Units(seen.units)
        }
    }
}

/// A subscription to systemd's unit signals on one bus connection.
#[derive(Debug)]
pub(crate) struct UnitWatch {
    connection: Option<OwnedUniqueName>,
    seen: Arc<Mutex<Seen>>,
    flushes: mpsc::Sender<oneshot::Sender<()>>,
}

impl UnitWatch {
    /// Adds the match rules, then subscribes (in this order, so that no signal falls between),
    /// and starts the reader task.
    pub(crate) async fn start(connection: &Connection) -> zbus::Result<Self> {
        let systemd_signal = || {
            MatchRule::builder()
                .msg_type(Type::Signal)
                .sender(DESTINATION)
        };
        let rules = [
            systemd_signal()?
                .interface("org.freedesktop.DBus.Properties")?
                .member("PropertiesChanged")?
                .path_namespace(UNIT_PATHS)?
                .build(),
            systemd_signal()?
                .interface(interface::MANAGER)?
                .member("UnitRemoved")?
                .path(MANAGER_PATH)?
                .build(),
            systemd_signal()?
                .interface(interface::MANAGER)?
                .member("Reloading")?
                .path(MANAGER_PATH)?
                .build(),
            // systemd's own connection to the bus going away (daemon-reexec) ends the watch.
            MatchRule::builder()
                .msg_type(Type::Signal)
                .sender("org.freedesktop.DBus")?
                .interface("org.freedesktop.DBus")?
                .member("NameOwnerChanged")?
                .arg(0, DESTINATION)?
                .build(),
        ];
        let mut signals = SelectAll::new();
        for rule in rules {
            signals.push(MessageStream::for_match_rule(rule, connection, Some(QUEUE)).await?);
        }
        match connection
            .call_method(
                Some(DESTINATION),
                MANAGER_PATH,
                Some(interface::MANAGER),
                "Subscribe",
                &(),
            )
            .await
        {
            // Subscribed on this connection before, by an earlier watch.
            Err(zbus::Error::MethodError(name, ..))
                if name.as_str() == "org.freedesktop.systemd1.AlreadySubscribed" => {}
            other => {
                other?;
            }
        }
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (flushes, requests) = mpsc::channel(1);
        tokio::spawn(read(signals, Arc::clone(&seen), requests));
        Ok(Self {
            connection: connection.unique_name().cloned(),
            seen,
            flushes,
        })
    }

    /// Whether this watch is on `connection`.
    pub(crate) fn is_on(&self, connection: &Connection) -> bool {
        self.connection.is_some() && self.connection.as_ref() == connection.unique_name()
    }

    /// The changes seen since the last flush, including every signal queued by now; `None`
    /// when the watch has ended (the connection closed, systemd left the bus).
    pub(crate) async fn flush(&self) -> Option<UnitChanges> {
        let (done, wait) = oneshot::channel();
        self.flushes.send(done).await.ok()?;
        wait.await.ok()?;
        Some(lock(&self.seen).take())
    }
}

/// The reader task: records every signal, and on a flush request everything already queued.
/// Ends when the watch is dropped, the connection fails or systemd's bus name changes owner.
async fn read(
    mut signals: SelectAll<MessageStream>,
    seen: Arc<Mutex<Seen>>,
    mut requests: mpsc::Receiver<oneshot::Sender<()>>,
) {
    loop {
        tokio::select! {
            biased;
            request = requests.recv() => {
                let Some(done) = request else { return };
                while let Some(next) = signals.next().now_or_never() {
                    if !next.is_some_and(|m| m.is_ok_and(|m| record(&seen, &m))) {
                        return;
                    }
                }
                let _ = done.send(());
            }
            next = signals.next() => {
                if !next.is_some_and(|m| m.is_ok_and(|m| record(&seen, &m))) {
                    return;
                }
            }
        }
    }
}

/// Notes what `message` changed; false when it ends the watch.
fn record(seen: &Mutex<Seen>, message: &zbus::Message) -> bool {
    let header = message.header();
    let member = header.member().map_or("", |m| m.as_str());
    if member == "NameOwnerChanged" {
        // systemd re-executed or left the bus; its subscriptions may be gone.
        tracing::debug!("systemd's bus name changed owner; watching again");
        return false;
    }
    let path = header.path().map_or("", |p| p.as_str());
    lock(seen).note(member, path, || {
        message
            .body()
            .deserialize::<(String, OwnedObjectPath)>()
            .ok()
            .map(|(_, p)| p)
    });
    true
}
