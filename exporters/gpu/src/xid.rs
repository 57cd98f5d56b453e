//! Counting XID errors in `serve`.
//!
//! An NVML event set only sees events that happen after it was registered, so XIDs are only
//! visible to a long-running process: `once` and `textfile` report
//! `sysgauge_gpu_xid_listener_up 0` and no XID counts. In `serve`, one thread per NVML
//! session waits on an event set registered for critical XID errors on every GPU and counts
//! them by GPU and code. Counts survive the end of a session (they are counters of this
//! process, not of the session).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use nvml_wrapper::{
    Nvml, bitmasks::event::EventTypes, enums::event::XidError, error::NvmlError, event::EventSet,
};

use crate::session::Session;

/// How long one wait on the event set lasts; also how long a listener takes to notice that
/// its session ended.
const WAIT_SLICE_MS: u32 = 500;

/// XID counts by (uuid, xid), shared by the listeners and the collector.
#[derive(Debug, Default)]
pub struct XidCounts {
    counts: Mutex<BTreeMap<(String, String), u64>>,
    /// When each GPU's last XID of each code was seen, Unix seconds.
    last: Mutex<BTreeMap<(String, String), f64>>,
    /// Listeners currently waiting on an event set.
    listeners: AtomicUsize,
}

impl XidCounts {
    /// The counts, sorted.
    pub fn snapshot(&self) -> Vec<((String, String), u64)> {
        let counts = sysgauge_common::sync::lock(&self.counts);
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Whether a listener is waiting for XIDs now.
    pub fn listening(&self) -> bool {
        self.listeners.load(Ordering::Acquire) > 0
    }

    /// When each GPU's last XID of each code was seen (Unix seconds), sorted by (uuid, xid).
    pub fn last_seen(&self) -> Vec<((String, String), f64)> {
        let last = sysgauge_common::sync::lock(&self.last);
        last.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    fn add(&self, uuid: String, xid: String) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        sysgauge_common::sync::lock(&self.last).insert((uuid.clone(), xid.clone()), now);
        let mut counts = sysgauge_common::sync::lock(&self.counts);
        *counts.entry((uuid, xid)).or_default() += 1;
    }
}

/// Starts the listener of `session`; it ends when the session does.
pub fn spawn(session: Arc<Session>, counts: Arc<XidCounts>) {
    // Counted as listening from the start, so that the scrape that opened the session
    // already says so; the listener takes itself off when it gives up or its session ends.
    counts.listeners.fetch_add(1, Ordering::AcqRel);
    let thread_counts = Arc::clone(&counts);
    let spawned = std::thread::Builder::new()
        .name("nvml-xid".into())
        .spawn(move || {
            listen(&session, &thread_counts);
            thread_counts.listeners.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(e) = spawned {
        counts.listeners.fetch_sub(1, Ordering::AcqRel);
        tracing::warn!(error = %e, "cannot start the XID listener; XIDs are not counted");
    }
}

fn listen(session: &Session, counts: &XidCounts) {
    let nvml = &session.nvml;
    let lib = nvml.lib();
    // nvml-wrapper panics when an event set is dropped without nvmlEventSetFree.
    if lib.nvmlEventSetCreate.is_err()
        || lib.nvmlDeviceRegisterEvents.is_err()
        || lib.nvmlEventSetWait_v2.is_err()
        || lib.nvmlEventSetFree.is_err()
    {
        tracing::warn!("the NVML library has no event functions; XIDs are not counted");
        return;
    }
    let Some(set) = register(nvml) else {
        return;
    };
    tracing::debug!("listening for XID errors");
    while !session.has_ended() {
        match set.wait(WAIT_SLICE_MS) {
            Ok(event) => {
                let Some(xid) = event.event_data else {
                    continue;
                };
                let xid = match xid {
                    XidError::Value(v) => v.to_string(),
                    XidError::Unknown => "unknown".to_owned(),
                };
                let uuid = event.device.uuid().unwrap_or_default();
                tracing::warn!(uuid = %uuid, xid = %xid, "XID error");
                counts.add(uuid, xid);
            }
            Err(NvmlError::Timeout) => {}
            Err(NvmlError::Uninitialized | NvmlError::DriverNotLoaded) => break,
            Err(e) => {
                // A lost GPU and the like: the collector ends the session; do not spin.
                tracing::debug!(error = %e, "waiting for XID events failed");
                std::thread::sleep(Duration::from_millis(u64::from(WAIT_SLICE_MS)));
            }
        }
    }
    tracing::debug!("XID listener stopped");
}

/// An event set registered for XIDs on every GPU that supports it.
///
/// nvml-wrapper frees the set when registering one device fails, so a failure means starting
/// again with a new set, without that device.
fn register(nvml: &Nvml) -> Option<EventSet<'_>> {
    let count = match nvml.device_count() {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "XID listener: cannot count GPUs");
            return None;
        }
    };
    let mut skip = Vec::new();
    'again: loop {
        let mut set = match nvml.create_event_set() {
            Ok(set) => set,
            Err(e) => {
                tracing::warn!(error = %e, "cannot create an NVML event set; XIDs are not counted");
                return None;
            }
        };
        for index in (0..count).filter(|i| !skip.contains(i)) {
            let registered = nvml
                .device_by_index(index)
                .map_err(Into::into)
                .and_then(|device| device.register_events(EventTypes::CRITICAL_XID_ERROR, set));
            match registered {
                Ok(s) => set = s,
                Err(e) => {
                    tracing::warn!(index, error = %e.error, "GPU cannot report XID events");
                    skip.push(index);
                    continue 'again;
                }
            }
        }
        return Some(set);
    }
}
