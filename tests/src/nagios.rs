//! A private Nagios 4 (Debian's `nagios4`) that runs plugins the way a monitoring host does,
//! from a temporary configuration: its own log, lock, status, command and check-result files
//! in a temporary directory, no system paths. `interval_length=1` makes the check interval
//! seconds, so every service is checked within seconds of the start.
//!
//! A test reads the result the way Nagios parsed it, from its own `status.dat`: state,
//! plugin output, long output and performance data.

use std::{collections::BTreeMap, os::unix::fs::PermissionsExt};

use super::*;

/// One service: its name and the plugin's argument vector.
#[derive(Clone, Debug)]
pub struct Service {
    /// `service_description`.
    pub name: String,
    /// The plugin and its arguments.
    pub argv: Vec<String>,
}

/// A service's status as Nagios recorded it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceStatus {
    /// 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub current_state: u8,
    /// The first line of the plugin's output, before `|`.
    pub plugin_output: String,
    /// The further lines, with `\n` as Nagios escapes it in status.dat.
    pub long_plugin_output: String,
    /// Every perfdata item Nagios found, first line and long output together.
    pub performance_data: String,
}

/// A running Nagios, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Nagios {
    dir: tempfile::TempDir,
    process: Process,
}

impl Nagios {
    /// Starts Nagios with `services` on one host; `None` (after a SKIP line) when nagios4 is
    /// not installed.
    pub fn start(services: &[Service]) -> Option<Nagios> {
        if !available("nagios4", "nagios4-core") {
            return None;
        }
        let binary = which("nagios4").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("checkresults")).unwrap();
        let user = String::from_utf8(run(Command::new("id").arg("-un")).stdout).unwrap();
        let group = String::from_utf8(run(Command::new("id").arg("-gn")).stdout).unwrap();
        let p = |name: &str| d.join(name).display().to_string();
        let main = format!(
            "log_file={log}\ncfg_file={objects}\nobject_cache_file={cache}\n\
             precached_object_file={precache}\nstatus_file={status}\nstatus_update_interval=1\n\
             nagios_user={user}\nnagios_group={group}\ncheck_external_commands=0\n\
             command_file={cmd}\nlock_file={lock}\ntemp_file={tmp}\ntemp_path={dir}\n\
             check_result_path={results}\ncheck_result_reaper_frequency=1\ninterval_length=1\n\
             enable_notifications=0\nretain_state_information=0\nstate_retention_file={retention}\n\
             query_socket={qh}\nuse_syslog=0\nenable_event_handlers=0\nexecute_host_checks=0\n\
             max_service_check_spread=1\nservice_inter_check_delay_method=n\n\
             service_check_timeout=30\nillegal_macro_output_chars=`~$&|<>\n",
            log = p("nagios.log"),
            objects = p("objects.cfg"),
            cache = p("objects.cache"),
            precache = p("objects.precache"),
            status = p("status.dat"),
            user = user.trim(),
            group = group.trim(),
            cmd = p("nagios.cmd"),
            lock = p("nagios.lock"),
            tmp = p("nagios.tmp"),
            dir = d.display(),
            results = p("checkresults"),
            retention = p("retention.dat"),
            qh = p("nagios.qh"),
        );
        std::fs::write(d.join("nagios.cfg"), main).unwrap();
        let mut objects = String::from(
            "define timeperiod {\n timeperiod_name always\n alias always\n sunday 00:00-24:00\n \
             monday 00:00-24:00\n tuesday 00:00-24:00\n wednesday 00:00-24:00\n \
             thursday 00:00-24:00\n friday 00:00-24:00\n saturday 00:00-24:00\n}\n\
             define command {\n command_name noop\n command_line /bin/true\n}\n\
             define contact {\n contact_name nobody\n host_notifications_enabled 0\n \
             service_notifications_enabled 0\n host_notification_period always\n \
             service_notification_period always\n host_notification_options n\n \
             service_notification_options n\n host_notification_commands noop\n \
             service_notification_commands noop\n}\n\
             define host {\n host_name sysgauge\n address 127.0.0.1\n max_check_attempts 1\n \
             check_period always\n contacts nobody\n notification_period always\n}\n",
        );
        for (i, service) in services.iter().enumerate() {
            // Each plugin command line goes into a script: Nagios' own command-line syntax
            // treats `;`, `!` and `$` specially, and a test's paths may hold any of them.
            let script = d.join(format!("plugin-{i}.sh"));
            let quoted: Vec<String> = service
                .argv
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
                .collect();
            std::fs::write(&script, format!("#!/bin/sh\nexec {}\n", quoted.join(" "))).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            objects.push_str(&format!(
                "define command {{\n command_name plugin-{i}\n command_line {script}\n}}\n\
                 define service {{\n host_name sysgauge\n service_description {name}\n \
                 check_command plugin-{i}\n max_check_attempts 1\n check_interval 5\n \
                 retry_interval 5\n check_period always\n contacts nobody\n \
                 notification_period always\n}}\n",
                script = script.display(),
                name = service.name,
            ));
        }
        std::fs::write(d.join("objects.cfg"), objects).unwrap();
        let verify = run(Command::new(&binary).arg("-v").arg(d.join("nagios.cfg")));
        assert!(
            verify.status.success(),
            "nagios4 -v rejects the configuration:\n{}",
            String::from_utf8_lossy(&verify.stdout)
        );
        let process = Process::spawn(
            "nagios4",
            Command::new(&binary).arg(d.join("nagios.cfg")),
            &d.join("stdout.log"),
        );
        Some(Nagios { dir, process })
    }

    /// Waits until Nagios has checked every service once (status.dat says
    /// `has_been_checked=1`) and returns each service's status by name.
    pub fn wait_for_results(
        &mut self,
        expected: usize,
        timeout: Duration,
    ) -> BTreeMap<String, ServiceStatus> {
        let status = self.dir.path().join("status.dat");
        let deadline = Instant::now() + timeout;
        loop {
            self.process.assert_running();
            let text = std::fs::read_to_string(&status).unwrap_or_default();
            let services = parse_status(&text);
            if services.len() == expected && services.values().all(|(checked, _)| *checked) {
                return services.into_iter().map(|(k, (_, s))| (k, s)).collect();
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for Nagios to check every service; \
                 status.dat:\n{text}\nnagios.log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Nagios' own log (service alerts, plugin errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nagios.log")).unwrap_or_default()
    }
}

impl Drop for Nagios {
    fn drop(&mut self) {
        // SIGTERM lets Nagios stop its worker processes; Process's drop kills it otherwise.
        self.process.terminate(Duration::from_secs(10));
    }
}

/// The `servicestatus` blocks of status.dat: name → (checked yet, status).
fn parse_status(text: &str) -> BTreeMap<String, (bool, ServiceStatus)> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = rest.find("servicestatus {") {
        let block = &rest[start..];
        let end = block.find("\n\t}").unwrap_or(block.len());
        let body = &block[..end];
        let mut fields = BTreeMap::new();
        for line in body.lines().skip(1) {
            if let Some((k, v)) = line.trim_start().split_once('=') {
                fields.insert(k, v);
            }
        }
        let get = |k: &str| fields.get(k).copied().unwrap_or_default().to_owned();
        out.insert(
            get("service_description"),
            (
                get("has_been_checked") == "1",
                ServiceStatus {
                    current_state: get("current_state").parse().unwrap_or(255),
                    plugin_output: get("plugin_output"),
                    long_plugin_output: get("long_plugin_output"),
                    performance_data: get("performance_data"),
                },
            ),
        );
        rest = &block[end..];
    }
    out
}
