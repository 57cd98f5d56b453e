//! A real systemd 252, booted as PID 1 of new namespaces, for tests of code that talks to
//! systemd (sysgauge-systemd, the backup exporter's timers, the shipped unit files).
//!
//! The recipe is the one in shared/reference/real-systemd.md:
//!
//! - `setsid unshare --pid --fork --mount --uts --ipc --net --cgroup --propagation private`
//!   runs a small script that mounts an **overlay** of `/` (lower) and a fresh folder under
//!   /var/tmp (upper) and `exec chroot`s into it as `/lib/systemd/systemd --system`.
//!   systemd-tmpfiles empties /tmp at boot; on the overlay that only touches the upper layer.
//!   Never boot systemd on the machine's own root, even in a private mount namespace.
//!   The overlay is made `rshared` (in the new, private mount namespace only: nothing
//!   propagates to the machine's), as `/` is on a host: systemd leaves that to the container
//!   manager, and without it `LoadCredential=` gives services an empty directory.
//! - The units under test are written into the upper layer's `/etc/systemd/system` before the
//!   boot, with a `sysgauge-test.target` that `Wants=` them and D-Bus; systemd starts that target.
//! - Commands run inside with `nsenter -t PID -a -r -w` (all namespaces, its root and working
//!   directory); the container's files are under `/proc/PID/root`.
//! - [`Drop`] kills the container's PID 1 by its pid (PID 1 ignores SIGTERM; when it dies the
//!   kernel kills every process of its PID namespace) and removes the temporary folder.
//!
//! Because the lower layer is `/`, binaries built in the workspace (`target/debug/...`) are
//! visible at the same path inside, so a test runs the exporter with [`SystemdBoot::command`].
//!
//! Boots running at the same time (tests of one binary run in parallel) start in the same
//! cgroup, so their systemds build their trees in the same place: give units that may run at
//! the same time in different boots different names, or one boot's systemd counts (and, when a
//! oneshot ends, kills) the other's processes.
//!
//! Booting needs root and `unshare`/`nsenter` (util-linux) plus the Debian packages systemd,
//! dbus and iproute2. When they are missing, [`SystemdBoot::start`] prints a loud SKIP and
//! returns `None` (or panics under `SYSGAUGE_REQUIRE_COMPONENTS=1`), like [`crate::available`].
//!
//! ```no_run
//! use sysgauge_testkit::systemd::SystemdBoot;
//! let Some(boot) = SystemdBoot::start(&[(
//!     "hello.service",
//!     "[Service]\nType=oneshot\nExecStart=/bin/true\n",
//! )]) else { return };
//! boot.wait_for_property("hello.service", "Result", "success");
//! let out = boot.exec(&["systemctl", "show", "-p", "ExecMainStatus", "hello.service"]);
//! assert_eq!(String::from_utf8_lossy(&out.stdout), "ExecMainStatus=0\n");
//! ```

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use crate::{available, run, wait_for};

/// The target the booted systemd starts; it wants D-Bus and the units under test.
pub const TARGET: &str = "sysgauge-test.target";

/// The boot script, run inside the new namespaces with the temporary folder as `$1`.
const BOOT_SCRIPT: &str = r#"set -e
T="$1"
R="$T/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$T/upper,workdir=$T/work" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
# Shared propagation inside this (private) mount namespace, as on a host, where systemd makes /
# shared itself; in a container it leaves that to the container manager. Without it, what
# systemd mounts from a helper namespace (LoadCredential='s ramfs) never reaches the services.
mount --make-rshared "$R"
export container=other
exec chroot "$R" /lib/systemd/systemd --system --unit=sysgauge-test.target --log-target=console
"#;

/// A systemd booted in new namespaces on an overlay root; see the module documentation.
#[derive(Debug)]
pub struct SystemdBoot {
    /// `unshare`, whose child is the container's PID 1.
    unshare: Child,
    /// PID 1 of the container, as seen from here.
    pid: u32,
    /// The temporary folder: upper and work layers, the mount point, the console log.
    dir: PathBuf,
}

impl SystemdBoot {
    /// Boots systemd with `units` (name, unit file contents) installed in /etc/systemd/system,
    /// all of them wanted by the boot target, and waits until D-Bus answers. `None` (after a
    /// loud SKIP) when this machine cannot boot one.
    pub fn start(units: &[(&str, &str)]) -> Option<SystemdBoot> {
        let names: Vec<&str> = units.iter().map(|(n, _)| *n).collect();
        Self::start_with(units, &names)
    }

    /// Like [`start`](Self::start), but only the units named in `wanted` are started at boot;
    /// the others are installed and can be started by the test.
    pub fn start_with(units: &[(&str, &str)], wanted: &[&str]) -> Option<SystemdBoot> {
        if !can_boot() {
            return None;
        }
        // /var/tmp, not /tmp: on the same file system as the lower layer's files and outside
        // what tmpfiles cleans.
        let dir = tempfile::Builder::new()
            .prefix("sysgauge-systemd-")
            .tempdir_in("/var/tmp")
            .unwrap()
            .keep();
        let upper = dir.join("upper");
        let unit_dir = upper.join("etc/systemd/system");
        std::fs::create_dir_all(&unit_dir).unwrap();
        std::fs::create_dir_all(dir.join("work")).unwrap();
        std::fs::create_dir_all(dir.join("root")).unwrap();
        // An empty machine-id: systemd makes a transient one instead of using the host's.
        std::fs::write(upper.join("etc/machine-id"), "").unwrap();
        for (name, contents) in units {
            std::fs::write(unit_dir.join(name), contents).unwrap();
        }
        let wants: Vec<&str> = ["dbus.socket", "dbus.service"]
            .into_iter()
            .chain(wanted.iter().copied())
            .collect();
        std::fs::write(
            unit_dir.join(TARGET),
            format!(
                "[Unit]\nDescription=sysgauge test target\nWants={}\n",
                wants.join(" ")
            ),
        )
        .unwrap();
        std::fs::write(dir.join("boot.sh"), BOOT_SCRIPT).unwrap();

        let log = std::fs::File::create(dir.join("console.log")).unwrap();
        let unshare = Command::new("setsid")
            .args([
                "unshare",
                "--pid",
                "--fork",
                "--mount",
                "--uts",
                "--ipc",
                "--net",
                "--cgroup",
                "--propagation",
                "private",
                "sh",
            ])
            .arg(dir.join("boot.sh"))
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("cannot run setsid unshare");
        let setsid_pid = unshare.id();
        let mut boot = SystemdBoot {
            unshare,
            pid: 0,
            dir,
        };
        // setsid execs unshare (same pid); unshare's forked child runs the script, which
        // execs chroot, which execs systemd: that child is the container's PID 1.
        boot.pid = wait_for(
            "the container's systemd to start",
            Duration::from_secs(20),
            || {
                let pid = child_of(setsid_pid)?;
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
                exe.ends_with("systemd").then_some(pid)
            },
        );
        boot.wait_until("D-Bus to answer", Duration::from_secs(60), |b| {
            b.exec(&["busctl", "--system", "status", "org.freedesktop.systemd1"])
                .status
                .success()
        });
        // Loopback starts down in a new network namespace.
        let out = boot.exec(&["ip", "link", "set", "lo", "up"]);
        assert!(out.status.success(), "ip link set lo up: {out:?}");
        Some(boot)
    }

    /// PID 1 of the container, as seen from outside.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The temporary folder of this boot (its `console.log` has systemd's console output).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A command that runs `program` inside the container: its namespaces, root and working
    /// directory. Binaries under the workspace are visible at the same path inside.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid.to_string(), "-a", "-r", "-w"])
            .arg(program);
        cmd
    }

    /// Runs `args` inside the container to completion.
    pub fn exec(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args[0]);
        cmd.args(&args[1..]);
        run(&mut cmd)
    }

    /// Runs `systemctl args...` inside and returns its stdout; panics when it fails.
    pub fn systemctl(&self, args: &[&str]) -> String {
        let mut all = vec!["systemctl"];
        all.extend_from_slice(args);
        let out = self.exec(&all);
        assert!(
            out.status.success(),
            "systemctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// One property of a unit, as `systemctl show -P` prints it.
    pub fn property(&self, unit: &str, property: &str) -> String {
        let out = self.exec(&["systemctl", "show", "-P", property, unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits (up to 60 s) until `unit`'s `property` is `value`.
    pub fn wait_for_property(&self, unit: &str, property: &str, value: &str) {
        self.wait_until(
            &format!("{unit} {property}={value}"),
            Duration::from_secs(60),
            |b| b.property(unit, property) == value,
        );
    }

    /// Waits (up to 60 s) until `unit` is active.
    pub fn wait_active(&self, unit: &str) {
        self.wait_for_property(unit, "ActiveState", "active");
    }

    /// Waits (up to `timeout`) until the boot target is active and no job is queued: every
    /// unit started at boot has finished starting (or failed).
    pub fn wait_settled(&self, timeout: Duration) {
        self.wait_until("the boot to settle", timeout, |b| {
            b.property(TARGET, "ActiveState") == "active"
                && b.exec(&["systemctl", "list-jobs", "--no-legend"])
                    .stdout
                    .is_empty()
        });
    }

    /// A path inside the container, as seen from outside: `/proc/PID/root/<path>`.
    pub fn root_path(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        Path::new(&format!("/proc/{}/root", self.pid)).join(path.strip_prefix("/").unwrap_or(path))
    }

    /// The address of the container's system bus for a client outside it. Inside, the default
    /// system bus address works.
    pub fn bus_address(&self) -> String {
        format!(
            "unix:path={}",
            self.root_path("/run/dbus/system_bus_socket").display()
        )
    }

    /// Installs (or replaces) unit files and runs `systemctl daemon-reload`.
    pub fn install(&self, units: &[(&str, &str)]) {
        for (name, contents) in units {
            std::fs::write(self.root_path("/etc/systemd/system").join(name), contents).unwrap();
        }
        self.systemctl(&["daemon-reload"]);
    }

    /// Polls `f` every 50 ms; panics with the console log's tail after `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut f: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !f(self) {
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}; systemd's console:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SystemdBoot {
    fn drop(&mut self) {
        if self.pid != 0 {
            // PID 1 of a namespace ignores SIGTERM; SIGKILL ends it and with it every process
            // of the namespace, and the mount namespace with the overlay.
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        // The overlay was only mounted in the dead mount namespace; what is left is plain files.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether this machine can boot a container: root, util-linux, systemd.
fn can_boot() -> bool {
    for (program, package) in [
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("setsid", "util-linux"),
        ("systemctl", "systemd"),
        ("dbus-daemon", "dbus"),
        ("ip", "iproute2"),
    ] {
        if !available(program, package) {
            return false;
        }
    }
    let uid = run(Command::new("id").arg("-u"));
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        let message = "SKIP: booting systemd in namespaces needs root";
        if std::env::var_os("SYSGAUGE_REQUIRE_COMPONENTS").is_some_and(|v| v == "1") {
            panic!("{message}, and SYSGAUGE_REQUIRE_COMPONENTS=1");
        }
        eprintln!("\n*** {message} ***\n");
        return false;
    }
    true
}

/// The first child of `pid`, from /proc/PID/task/*/children.
fn child_of(pid: u32) -> Option<u32> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// `n` oneshot services named `<prefix>-0000.service` ...: every tenth fails with exit status 1,
/// the others succeed. For scale tests and benchmarks.
pub fn generated_services(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let exit = if i % 10 == 9 { 1 } else { 0 };
            (
                format!("{prefix}-{i:04}.service"),
                format!(
                    "[Unit]\nDescription=generated {i}\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -c 'exit {exit}'\n"
                ),
            )
        })
        .collect()
}
