//! The `users` collector: the units of users' systemd managers (a JupyterLab or a sync client
//! run as user services), for the users configured (`--user-manager UID`, `user_managers`).
//!
//! Each manager is asked on its own connection ([`sysgauge_dbus::user_manager_bus`]): as
//! root, on its private socket `/run/user/UID/systemd/private`, which systemd opens to root
//! and the user; otherwise on the user's bus `/run/user/UID/bus`, which answers the user only
//! (an instance run as that user). docs/security.md weighs the two. One collection per
//! manager is `Manager.GetAll`-free: a `ListUnitsByPatterns` and two `Get`s (`SystemState`,
//! `NFailedUnits`). A manager that cannot be reached (the user is not logged in and has no
//! lingering, the socket is refused) is `sysgauge_systemd_user_manager_up 0` and a log line;
//! the other managers are still reported.

use async_trait::async_trait;
use sysgauge_common::{BoxError, Collector, MetricSet, limits::BoundedCount};
use sysgauge_dbus::{MANAGER_PATH, Options, SystemdClient, interface, user_manager_bus};

use crate::{
    error::Error,
    metrics::*,
    units::{ACTIVE_STATES, SYSTEM_STATES, UnitFilter},
};

/// How many users' managers may be configured: 0 to 256 (each is a connection and a listing
/// per collection).
pub type UserCount = BoundedCount<0, 256>;

/// Reads the units of the configured users' managers.
#[derive(Debug)]
pub struct UsersCollector {
    managers: Vec<(u32, SystemdClient)>,
    filter: UnitFilter,
}

impl UsersCollector {
    /// A collector of the managers of `uids`, reporting the units `filter` lets through.
    pub fn new(uids: &[u32], filter: UnitFilter, options: Options) -> Self {
        let managers = uids
            .iter()
            .map(|uid| (*uid, SystemdClient::new(user_manager_bus(*uid), options)))
            .collect();
        Self { managers, filter }
    }

    async fn collect_users(&self) -> Result<MetricSet, Error> {
        let reads = self.managers.iter().map(|(uid, client)| async move {
            let uid = uid.to_string();
            let read = async {
                let (manager, units) = tokio::join!(
                    client.get_properties(
                        MANAGER_PATH,
                        interface::MANAGER,
                        &["SystemState", "NFailedUnits"]
                    ),
                    client.list_units(&[], &[])
                );
                Ok::<_, sysgauge_dbus::Error>((manager?, units?))
            };
            (uid, read.await)
        });
        let mut set = MetricSet::new();
        for (uid, result) in futures_util::future::join_all(reads).await {
            let (manager, units) = match result {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(uid = %uid, error = %sysgauge_common::collector::error_chain(&e), "cannot read the user's systemd manager");
                    set.add(&USER_MANAGER_UP, [uid.as_str()], 0.0);
                    continue;
                }
            };
            set.add(&USER_MANAGER_UP, [uid.as_str()], 1.0);
            // A state set, as the system manager's: one series per state, no churn.
            let state = manager.str("SystemState").unwrap_or("unknown");
            for s in SYSTEM_STATES {
                let on = f64::from(u8::from(s == state));
                set.add(&USER_SYSTEM_STATE, [uid.as_str(), s], on);
            }
            if !SYSTEM_STATES.contains(&state) {
                set.add(&USER_SYSTEM_STATE, [uid.as_str(), state], 1.0);
            }
            if let Some(n) = manager.u64("NFailedUnits") {
                set.add(&USER_FAILED_UNITS, [uid.as_str()], n as f64);
            }
            for unit in units.iter().filter(|u| self.filter.matches(&u.name)) {
                let (name, kind) = (unit.name.as_str(), unit.unit_type());
                for s in ACTIVE_STATES {
                    let on = f64::from(u8::from(s == unit.active_state));
                    set.add(&USER_UNIT_STATE, [uid.as_str(), name, kind, s], on);
                }
                if !ACTIVE_STATES.contains(&unit.active_state.as_str()) {
                    let state = unit.active_state.as_str();
                    set.add(&USER_UNIT_STATE, [uid.as_str(), name, kind, state], 1.0);
                }
            }
        }
        Ok(set)
    }
}

#[async_trait]
impl Collector for UsersCollector {
    fn name(&self) -> &'static str {
        "users"
    }

    async fn collect(&self) -> Result<MetricSet, BoxError> {
        Ok(self.collect_users().await?)
    }
}
