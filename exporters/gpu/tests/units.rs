//! GPU use per systemd unit, under a real systemd 252 booted by the testkit and the **shipped**
//! sysgauge-gpu units (textfile and serve, rendered from nix/units.json: `DynamicUser=yes`,
//! `ProtectProc=invisible`, `ProtectControlGroups=yes`).
//!
//! Two services that stand for ollama and JupyterLab run as other users: a system service with
//! `DynamicUser=yes` in `system.slice`, and a user service in `app.slice` of a real user manager
//! (`user@1500.service`). The fake libnvidia-ml reports their main PIDs (and one PID that exists
//! nowhere: a process that exited between NVML's answer and the lookup). The exporter cannot see
//! either service in `/proc` (the test proves it: with per-process series turned on, their
//! `process_name` is empty), yet attributes the exact memory to each unit name, through
//! cgroupfs.
//!
//! What differs from the shipped units, by drop-ins only: ExecStart names the fake library
//! (`--nvml.library`), `PrivateUsers=no` (this container cannot nest user namespaces; the units
//! would exit 217/USER), the fake's configuration file in the environment. The unit files are
//! installed byte for byte, under names unique to this test run (`sysgauge-gpu-<pid>-<mode>`):
//! boots that run at the same time share this host's cgroup tree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{os::unix::fs::PermissionsExt, path::Path};

use sysgauge_testkit::{
    fakes, sample,
    systemd::SystemdBoot,
    units::{Mode, Units},
};

const BIN: &str = env!("CARGO_BIN_EXE_sysgauge-gpu");
const UUID: &str = "GPU-11111111-2222-3333-4444-555555555555";
const LIBRARY: &str = "/usr/local/lib/sysgauge-test/libnvidia-ml.so.1";
const USER_UID: &str = "1500";
/// A PID no process can have (above the kernel's largest pid_max, 2^22).
const GONE: u32 = 99_999_999;

fn ok(boot: &SystemdBoot, args: &[&str]) -> String {
    let out = boot.exec(args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn put(boot: &SystemdBoot, path: &str, text: &str) {
    let p = boot.root_path(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// The shipped unit of `mode`, installed as `name` with the drop-ins of the module docs.
fn install(boot: &SystemdBoot, units: &Units, mode: Mode, name: &str) {
    let rendered = units.render();
    let text = &rendered[&format!("{}/sysgauge-gpu.service", mode.dir())];
    put(boot, &format!("/etc/systemd/system/{name}"), text);
    let shipped = &units.service("gpu", mode)["ExecStart"][0];
    let rest = shipped.strip_prefix("/usr/bin/sysgauge-gpu ").unwrap();
    let dropins = format!("/etc/systemd/system/{name}.d");
    put(
        boot,
        &format!("{dropins}/exec.conf"),
        &format!(
            "[Service]\nExecStart=\nExecStart=/usr/bin/sysgauge-gpu --nvml.library {LIBRARY} {rest}\n"
        ),
    );
    put(
        boot,
        &format!("{dropins}/private-users.conf"),
        "# This container cannot nest user namespaces.\n[Service]\nPrivateUsers=no\n",
    );
    put(
        boot,
        &format!("{dropins}/test.conf"),
        "[Service]\nEnvironment=FAKE_NVML_CONFIG=/etc/sysgauge/fake-nvml.conf\n",
    );
}

/// Checks one exposition: exact memory, process counts and utilization per unit, the gone PID
/// under `unknown`, no per-process series.
fn check_units(text: &str, ollama: &str, jupyter: &str, what: &str) {
    let unit = |family: &str, unit: &str| {
        value(text, &format!(r#"{family}{{uuid="{UUID}",unit="{unit}"}}"#))
    };
    assert_eq!(
        unit("sysgauge_gpu_unit_memory_used_bytes", ollama),
        8_589_934_592.0,
        "{what}"
    );
    assert_eq!(
        unit("sysgauge_gpu_unit_memory_used_bytes", jupyter),
        1_073_741_824.0,
        "{what}"
    );
    assert_eq!(
        unit("sysgauge_gpu_unit_memory_used_bytes", "unknown"),
        4096.0,
        "{what}"
    );
    assert_eq!(unit("sysgauge_gpu_unit_processes", ollama), 1.0, "{what}");
    assert_eq!(unit("sysgauge_gpu_unit_processes", jupyter), 1.0, "{what}");
    assert_eq!(
        unit("sysgauge_gpu_unit_sm_utilization_ratio", ollama),
        0.8,
        "{what}"
    );
    assert_eq!(
        unit("sysgauge_gpu_unit_sm_utilization_ratio", jupyter),
        0.15,
        "{what}"
    );
    assert_eq!(
        value(text, &format!(r#"sysgauge_gpu_processes{{uuid="{UUID}"}}"#)),
        3.0
    );
    let series = text
        .lines()
        .filter(|l| l.starts_with("sysgauge_gpu_unit_memory_used_bytes{"))
        .count();
    assert_eq!(series, 3, "{what}: exactly three units:\n{text}");
    assert!(
        !text.contains("sysgauge_gpu_process_memory_used_bytes{"),
        "{what}: per-process series are off by default:\n{text}"
    );
}

#[test]
fn shipped_units_attribute_gpu_memory_to_systemd_units_of_other_users() {
    let Some((_lib_dir, lib)) = fakes::fake_nvml(&[]) else {
        return;
    };
    let sfx = std::process::id();
    let ollama = format!("gpuattr-ollama-{sfx}.service");
    let ollama_unit = "[Unit]\nDescription=stands for ollama\n[Service]\nDynamicUser=yes\nExecStart=/bin/sleep infinity\n";
    let Some(boot) = SystemdBoot::start_with(&[(&ollama, ollama_unit)], &[&ollama]) else {
        return;
    };
    eprintln!(
        "\n*** NOTE: this container cannot nest user namespaces: the shipped gpu units run with a drop-in PrivateUsers=no ***\n"
    );
    boot.wait_active(&ollama);
    let ollama_pid = boot.property(&ollama, "MainPID");

    // A user service under a real user manager, as JupyterLab would run.
    ok(&boot, &["useradd", "-m", "-u", USER_UID, "gpujupyter"]);
    ok(
        &boot,
        &["systemctl", "start", &format!("user@{USER_UID}.service")],
    );
    let jupyter = format!("jupyter-{sfx}.service");
    let as_user = |args: &[&str]| {
        let mut all = vec![
            "runuser",
            "-u",
            "gpujupyter",
            "--",
            "env",
            "XDG_RUNTIME_DIR=/run/user/1500",
        ];
        all.extend_from_slice(args);
        ok(&boot, &all)
    };
    as_user(&[
        "systemd-run",
        "--user",
        "--slice=app.slice",
        &format!("--unit={jupyter}"),
        "/bin/sleep",
        "infinity",
    ]);
    let jupyter_pid = as_user(&["systemctl", "--user", "show", "-P", "MainPID", &jupyter])
        .trim()
        .to_owned();
    assert_ne!(jupyter_pid, "0");
    let jupyter_label = format!("user@{USER_UID}.service/app.slice/{jupyter}");
    // Both run as users other than the exporter's.
    for pid in [&ollama_pid, &jupyter_pid] {
        let user = ok(&boot, &["ps", "-o", "user=", "-p", pid]);
        assert!(!user.trim().is_empty() && user.trim() != "root", "{user}");
    }

    // What a package installs besides the units, the binary, the fake library and its
    // configuration: ollama holds 8 GiB and 80% of the SMs; JupyterLab 1 GiB, in a compute and
    // a graphics context (counted once), and 15%; a PID that is gone holds 4 KiB.
    let units = Units::load();
    let rendered = units.render();
    put(
        &boot,
        "/etc/sysusers.d/sysgauge.conf",
        &rendered["sysusers.d/sysgauge.conf"],
    );
    put(
        &boot,
        "/etc/tmpfiles.d/sysgauge.conf",
        &rendered["tmpfiles.d/sysgauge.conf"],
    );
    ok(
        &boot,
        &["systemd-sysusers", "/etc/sysusers.d/sysgauge.conf"],
    );
    ok(
        &boot,
        &[
            "systemd-tmpfiles",
            "--create",
            "/etc/tmpfiles.d/sysgauge.conf",
        ],
    );
    std::fs::copy(BIN, boot.root_path("/usr/bin/sysgauge-gpu")).unwrap();
    let inside = boot.root_path(LIBRARY);
    std::fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::fs::copy(&lib, &inside).unwrap();
    std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o755)).unwrap();
    put(
        &boot,
        "/etc/sysgauge/fake-nvml.conf",
        &format!(
            "driver_version 550.54.15\ngpus 1\ngpu0.uuid {UUID}\n\
             gpu0.processes {ollama_pid}:8589934592,{jupyter_pid}:1073741824,{GONE}:4096\n\
             gpu0.graphics_processes {jupyter_pid}:1073741824\n\
             gpu0.process_util {ollama_pid}:80:40:0:0:1000,{jupyter_pid}:15:5:0:0:1000\n"
        ),
    );
    put(&boot, "/etc/sysgauge/gpu.toml", "");

    // textfile: the shipped oneshot writes the file node_exporter reads.
    let textfile = format!("sysgauge-gpu-{sfx}-textfile.service");
    install(&boot, &units, Mode::Textfile, &textfile);
    let serve = format!("sysgauge-gpu-{sfx}-serve.service");
    install(&boot, &units, Mode::Serve, &serve);
    boot.systemctl(&["daemon-reload"]);
    boot.systemctl(&["start", &textfile]);
    assert_eq!(boot.property(&textfile, "Result"), "success");
    let file = Path::new(&units.textfile_directory()).join("sysgauge-gpu.prom");
    let text = std::fs::read_to_string(boot.root_path(&file)).unwrap();
    check_units(&text, &ollama, &jupyter_label, "textfile");

    // serve: the shipped long-running unit, scraped over its port.
    boot.systemctl(&["start", &serve]);
    let url = format!("http://127.0.0.1:{}/metrics", units.port("gpu"));
    let scrape = || ok(&boot, &["curl", "-sSf", "--max-time", "20", &url]);
    let text = scrape();
    check_units(&text, &ollama, &jupyter_label, "serve");

    // The sandbox really hides the services from the exporter's /proc: with per-process series
    // on, their PIDs come with the right unit but no name.
    put(
        &boot,
        "/etc/sysgauge/gpu.toml",
        "[nvml]\nprocesses = true\n",
    );
    boot.systemctl(&["restart", &serve]);
    let text = scrape();
    for (pid, unit, bytes) in [
        (&ollama_pid, ollama.as_str(), 8_589_934_592.0),
        (&jupyter_pid, jupyter_label.as_str(), 1_073_741_824.0),
        (&GONE.to_string(), "unknown", 4096.0),
    ] {
        assert_eq!(
            value(
                &text,
                &format!(
                    r#"sysgauge_gpu_process_memory_used_bytes{{uuid="{UUID}",pid="{pid}",process_name="",unit="{unit}"}}"#
                )
            ),
            bytes,
            "{pid}"
        );
    }
}
