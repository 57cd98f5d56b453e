//! The boot's stages and the units' activation times, computed from the manager's and the
//! units' monotonic timestamps exactly as `systemd-analyze time` and `systemd-analyze blame`
//! compute them (systemd 252, `src/analyze/analyze-time-data.c`), so that an exporter reports
//! what an admin reads by hand.
//!
//! The manager's `<Stage>TimestampMonotonic` properties (all since systemd 209, in µs on the
//! monotonic clock; 0 for a stage that did not happen) mark where each stage begins. Firmware
//! and loader run before the kernel's clock starts, so their values count *back* from the
//! kernel's start (the EFI loader reports them). A manager that ran no security setup of its
//! own (`SecurityStartTimestampMonotonic` 0: a container's PID 1, or a user manager) knows
//! nothing before its own start: only its userspace stage is reported, measured from its start,
//! as `systemd-analyze` does.

use crate::Properties;

/// The manager properties a [`BootStages`] is computed from.
pub const MANAGER_PROPERTIES: &[&str] = &[
    "FirmwareTimestampMonotonic",
    "LoaderTimestampMonotonic",
    "InitRDTimestampMonotonic",
    "UserspaceTimestampMonotonic",
    "SecurityStartTimestampMonotonic",
    "FinishTimestampMonotonic",
];

/// The unit properties an activation time is computed from ([`activation_usec`]).
pub const UNIT_PROPERTIES: &[&str] = &[
    "InactiveExitTimestampMonotonic",
    "ActiveEnterTimestampMonotonic",
    "ActiveExitTimestampMonotonic",
];

/// The durations of the boot's stages in µs; `None` for a stage that did not happen or that
/// this manager cannot know (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootStages {
    /// Firmware, until the boot loader started.
    pub firmware: Option<u64>,
    /// The boot loader, until the kernel started.
    pub loader: Option<u64>,
    /// The kernel, until the initrd (or, without one, the system manager) started.
    pub kernel: Option<u64>,
    /// The initrd, until the system manager of the real root started.
    pub initrd: Option<u64>,
    /// The manager's own start, until its initial transaction finished. `None` while the
    /// boot has not finished.
    pub userspace: Option<u64>,
    /// The manager's `FinishTimestampMonotonic` on the clock the stages use: the end of the
    /// boot, against which units' activation times are placed. `None` while not finished.
    pub finish: Option<u64>,
    /// What the clock readings of units are shifted by: the manager's start for a manager
    /// that knows nothing before it, else 0.
    pub offset: u64,
}

impl BootStages {
    /// The stages from the manager's properties ([`MANAGER_PROPERTIES`]); an absent property
    /// (an older systemd, a broken peer) counts as 0.
    pub fn from_manager(manager: &Properties) -> BootStages {
        let at = |name: &str| manager.u64(name).unwrap_or(0);
        let (firmware, loader, initrd, userspace, security, finish) = (
            at("FirmwareTimestampMonotonic"),
            at("LoaderTimestampMonotonic"),
            at("InitRDTimestampMonotonic"),
            at("UserspaceTimestampMonotonic"),
            at("SecurityStartTimestampMonotonic"),
            at("FinishTimestampMonotonic"),
        );
        let set = |v: u64| (v > 0).then_some(v);
        if security == 0 {
            // A container's PID 1 or a user manager: everything counts from its own start.
            let finish = set(finish).map(|f| f.saturating_sub(userspace));
            return BootStages {
                userspace: finish,
                finish,
                offset: userspace,
                ..BootStages::default()
            };
        }
        BootStages {
            firmware: set(firmware).map(|f| f.saturating_sub(loader)),
            loader: set(loader),
            kernel: set(if initrd > 0 { initrd } else { userspace }),
            initrd: set(initrd).map(|i| userspace.saturating_sub(i)),
            userspace: set(finish).map(|f| f.saturating_sub(userspace)),
            finish: set(finish),
            offset: 0,
        }
    }

    /// The stages that happened, named as `systemd-analyze time` names them, in µs.
    pub fn stages(&self) -> Vec<(&'static str, u64)> {
        [
            ("firmware", self.firmware),
            ("loader", self.loader),
            ("kernel", self.kernel),
            ("initrd", self.initrd),
            ("userspace", self.userspace),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.map(|v| (name, v)))
        .collect()
    }

    /// Whether a unit whose activation began at `inactive_exit` (its
    /// `InactiveExitTimestampMonotonic`) began it during this boot, before the boot finished.
    pub fn during_boot(&self, inactive_exit: u64) -> bool {
        self.finish
            .is_some_and(|finish| inactive_exit.saturating_sub(self.offset) <= finish)
    }
}

/// How long a unit took to activate, in µs, as `systemd-analyze blame` computes it from its
/// `InactiveExitTimestampMonotonic` (activation began), `ActiveEnterTimestampMonotonic` (it
/// became active) and `ActiveExitTimestampMonotonic` (it was stopped, for a unit that never
/// became active before): `None` for a unit that was never activated or took no time.
pub fn activation_usec(unit: &Properties) -> Option<u64> {
    let at = |name: &str| unit.u64(name).unwrap_or(0);
    let (activating, activated, deactivated) = (
        at("InactiveExitTimestampMonotonic"),
        at("ActiveEnterTimestampMonotonic"),
        at("ActiveExitTimestampMonotonic"),
    );
    if activating == 0 {
        return None;
    }
    // A unit that never became active since it began activating: its stop, if any.
    let time = if activated >= activating {
        activated - activating
    } else {
        deactivated.saturating_sub(activating)
    };
    (time > 0).then_some(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(values: &[(&str, u64)]) -> Properties {
        values.iter().copied().collect()
    }

    #[test]
    fn a_host_with_efi_and_initrd_has_every_stage_as_systemd_analyze_prints_it() {
        // "Startup finished in 5.1s (firmware) + 2s (loader) + 1.5s (kernel) + 3s (initrd) +
        // 10s (userspace)": the firmware and loader values count back from the kernel.
        let s = BootStages::from_manager(&props(&[
            ("FirmwareTimestampMonotonic", 7_100_000),
            ("LoaderTimestampMonotonic", 2_000_000),
            ("InitRDTimestampMonotonic", 1_500_000),
            ("UserspaceTimestampMonotonic", 4_500_000),
            ("SecurityStartTimestampMonotonic", 4_600_000),
            ("FinishTimestampMonotonic", 14_500_000),
        ]));
        assert_eq!(
            s.stages(),
            [
                ("firmware", 5_100_000),
                ("loader", 2_000_000),
                ("kernel", 1_500_000),
                ("initrd", 3_000_000),
                ("userspace", 10_000_000),
            ]
        );
        assert!(s.during_boot(14_500_000));
        assert!(!s.during_boot(14_500_001));
    }

    #[test]
    fn without_firmware_loader_or_initrd_those_stages_are_absent() {
        let s = BootStages::from_manager(&props(&[
            ("UserspaceTimestampMonotonic", 900_000),
            ("SecurityStartTimestampMonotonic", 950_000),
            ("FinishTimestampMonotonic", 4_900_000),
        ]));
        assert_eq!(s.stages(), [("kernel", 900_000), ("userspace", 4_000_000)]);
    }

    #[test]
    fn a_container_or_user_manager_has_only_userspace_from_its_own_start() {
        let s = BootStages::from_manager(&props(&[
            ("UserspaceTimestampMonotonic", 13_239_806_027),
            ("FinishTimestampMonotonic", 13_247_181_211),
        ]));
        assert_eq!(s.stages(), [("userspace", 7_375_184)]);
        assert!(s.during_boot(13_247_000_000));
        assert!(!s.during_boot(13_248_000_000));
        // Not finished: no stage at all, no unit is "during the boot".
        let s = BootStages::from_manager(&props(&[("UserspaceTimestampMonotonic", 5)]));
        assert_eq!(s.stages(), []);
        assert!(!s.during_boot(6));
    }

    #[test]
    fn activation_is_enter_minus_exit_or_the_stop_of_a_unit_that_never_became_active() {
        let t = |exit, enter, stop| {
            activation_usec(&props(&[
                ("InactiveExitTimestampMonotonic", exit),
                ("ActiveEnterTimestampMonotonic", enter),
                ("ActiveExitTimestampMonotonic", stop),
            ]))
        };
        assert_eq!(t(100, 350, 0), Some(250));
        // A oneshot that failed: it never became active, it was stopped.
        assert_eq!(t(100, 0, 400), Some(300));
        assert_eq!(t(0, 0, 0), None, "never activated");
        assert_eq!(t(100, 100, 0), None, "no time");
        assert_eq!(activation_usec(&Properties::default()), None);
    }
}
