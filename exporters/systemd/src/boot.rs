//! The `boot` collector: how long the last boot took per stage (firmware, loader, kernel,
//! initrd, userspace), as `systemd-analyze time` prints it, and the units that took longest to
//! activate during it, as `systemd-analyze blame` ranks them. The arithmetic is systemd's, in
//! [`sysgauge_dbus::boot`].
//!
//! The stages cost six `Get`s on the manager per collection. The slowest units need every
//! unit's three activation timestamps (three `Get`s per unit, ~45 ms of systemd's time on a
//! host with 1,000 units), so they are read once the boot has finished and kept until the
//! manager reports another finish (a new boot): what a boot took does not change afterwards.
//! A unit started again after the boot no longer shows its boot-time activation to systemd, so
//! reading once right after the boot is also the truest record. `check` does not read them
//! (a plugin has seconds, and no check uses them).

use std::sync::Arc;

use async_trait::async_trait;
use sysgauge_common::{BoxError, Collector, MetricSet, limits::BoundedCount};
use sysgauge_dbus::{
    MANAGER_PATH, SystemdClient,
    boot::{self, BootStages},
    interface,
};

use crate::{error::Error, metrics::*};

/// `--boot-slowest-units`: how many of the slowest units of the boot are reported, 0 (none)
/// to 100.
pub type SlowestUnits = BoundedCount<0, 100>;

/// The default of `--boot-slowest-units`, as many as fit a dashboard table.
pub const DEFAULT_SLOWEST: SlowestUnits = SlowestUnits::from_const(10);

/// Units and their activation times in µs, slowest first.
type Slowest = Vec<(String, u64)>;

/// Reads the boot's stages and its slowest units.
#[derive(Debug)]
pub struct BootCollector {
    client: Arc<SystemdClient>,
    slowest: usize,
    /// The slowest units, by the `FinishTimestampMonotonic` of the boot they were read for.
    kept: tokio::sync::Mutex<Option<(u64, Slowest)>>,
}

impl BootCollector {
    /// A collector asking `client`, reporting the `slowest` units that took longest.
    pub fn new(client: Arc<SystemdClient>, slowest: SlowestUnits) -> Self {
        Self {
            client,
            slowest: slowest.get(),
            kept: tokio::sync::Mutex::new(None),
        }
    }

    async fn collect_boot(&self) -> Result<MetricSet, Error> {
        let manager = self
            .client
            .get_properties(MANAGER_PATH, interface::MANAGER, boot::MANAGER_PROPERTIES)
            .await?;
        let stages = BootStages::from_manager(&manager);
        let mut set = MetricSet::new();
        for (stage, usec) in stages.stages() {
            set.add(&BOOT_STAGE, [stage], usec as f64 / 1e6);
        }
        let Some(finish) = stages.finish else {
            // Still booting: neither the userspace stage nor the units' times are final.
            return Ok(set);
        };
        if self.slowest == 0 || sysgauge_common::check::skip_slow_work() {
            return Ok(set);
        }
        let mut kept = self.kept.lock().await;
        if kept.as_ref().is_none_or(|(at, _)| *at != finish) {
            *kept = Some((finish, self.slowest_units(&stages).await?));
        }
        if let Some((_, units)) = kept.as_ref() {
            for (name, usec) in units {
                set.add(&BOOT_UNIT_ACTIVATION, [name.as_str()], *usec as f64 / 1e6);
            }
        }
        Ok(set)
    }

    /// The units whose activation began before the boot finished, slowest first (by name
    /// among equals), at most `self.slowest`. A unit that vanished meanwhile is left out.
    async fn slowest_units(&self, stages: &BootStages) -> Result<Slowest, Error> {
        let units = self.client.list_units(&[], &[]).await?;
        let requests = units
            .iter()
            .map(|u| (u.path.clone(), interface::UNIT, boot::UNIT_PROPERTIES))
            .collect();
        let mut times = Vec::new();
        for (unit, result) in units
            .iter()
            .zip(self.client.get_properties_many(requests).await)
        {
            let p = match result {
                Ok(p) => p,
                Err(e) if e.is_method_error() => continue,
                Err(e) => return Err(e.into()),
            };
            let began = p.u64("InactiveExitTimestampMonotonic").unwrap_or(0);
            if let Some(usec) = boot::activation_usec(&p).filter(|_| stages.during_boot(began)) {
                times.push((unit.name.clone(), usec));
            }
        }
        times.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        times.truncate(self.slowest);
        Ok(times)
    }
}

#[async_trait]
impl Collector for BootCollector {
    fn name(&self) -> &'static str {
        "boot"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        Ok(self.collect_boot().await?)
    }
}
