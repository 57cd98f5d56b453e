//! End-to-end tests of sysgauge-gpu: the real binary loads a fake libnvidia-ml, compiled from
//! C by each test (tests/fake-nvml/fake_nvml.c), through the same nvml-wrapper path as the
//! real library on a host with a GPU. The fake's behaviour comes from the file named by
//! $FAKE_NVML_CONFIG.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

use sysgauge_testkit::{
    NodeExporter, Process, fakes, free_port, http_get, promtool_check_metrics, run, sample,
    tempfile::TempDir, wait_for,
};

const BIN: &str = env!("CARGO_BIN_EXE_sysgauge-gpu");

/// The fake libnvidia-ml, built by the testkit; `None` when gcc is missing.
fn fake(defines: &[&str]) -> Option<(TempDir, PathBuf)> {
    fakes::fake_nvml(defines)
}

/// Writes the fake's configuration and returns its path.
fn config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("fake-nvml.conf");
    std::fs::write(&path, text).unwrap();
    path
}

/// `sysgauge-gpu --nvml.library LIB <args>` with the fake configured by `conf`.
fn exporter(lib: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("FAKE_NVML_CONFIG", conf)
        .arg("--nvml.library")
        .arg(lib);
    cmd
}

fn once(cmd: &mut Command) -> (Output, String, String) {
    let out = run(cmd.arg("once"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn value(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
}

/// The `unit` label and value of each series of `family` for GPU `uuid`.
fn unit_series(text: &str, family: &str, uuid: &str) -> std::collections::BTreeMap<String, f64> {
    let prefix = format!(r#"{family}{{uuid="{uuid}",unit=""#);
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (unit, value) = rest.split_once(r#""} "#).unwrap();
            (unit.to_owned(), value.parse().unwrap())
        })
        .collect()
}

fn absent(text: &str, name_prefix: &str) {
    assert!(
        !text.lines().any(|l| l.starts_with(name_prefix)),
        "{name_prefix} should be left out:\n{text}"
    );
}

const TWO_GPUS: &str = "
driver_version 550.54.15
nvml_version 12.550.54.15
cuda_version 12040
gpus 2
gpu0.uuid GPU-11111111-2222-3333-4444-555555555555
gpu0.name NVIDIA A100-SXM4-40GB
gpu0.pci_bus_id 00000000:3B:00.0
gpu0.util_gpu 37
gpu0.util_memory 12
gpu0.enc_util 5
gpu0.dec_util 7
gpu0.mem_total 42949672960
gpu0.mem_free 40000000000
gpu0.mem_used 2949672960
gpu0.temperature 61
gpu0.power_usage 123456
gpu0.power_limit 250000
gpu0.enforced_power_limit 240000
gpu0.energy 987654321
gpu0.fans 2
gpu0.fan0 40
gpu0.fan1 55
gpu0.clock_graphics 1410
gpu0.clock_sm 1395
gpu0.clock_mem 1215
gpu0.clock_video 1275
gpu0.pcie_tx 1000
gpu0.pcie_rx 2500
gpu0.ecc_corrected 5
gpu0.ecc_uncorrected 1
gpu0.throttle 0x44
gpu0.throttle_supported 0x1ff
gpu0.mig_current 1
gpu0.violation_power 1500000000
gpu0.violation_thermal 250000000
gpu0.violation_sync_boost 0
gpu0.violation_board_limit 3000000
gpu0.violation_low_utilization 7000000000
gpu0.violation_reliability 5
gpu0.pstate 2
gpu0.pcie_gen 3
gpu0.pcie_gen_max 4
gpu0.pcie_width 8
gpu0.pcie_width_max 16
gpu0.pcie_replay 17
gpu0.ecc_volatile_corrected 2
gpu0.ecc_volatile_uncorrected 0
gpu0.retired_sbe 3
gpu0.retired_dbe 1
gpu0.retired_pending 1
gpu0.power_default_limit 300000
gpu0.power_min_limit 100000
gpu0.power_max_limit 400000
gpu0.max_clock_graphics 1980
gpu0.max_clock_sm 1980
gpu0.max_clock_mem 1593
gpu0.max_clock_video 1755
gpu0.field82 71
gpu0.field142 4
gpu0.field143 1
gpu0.field144 1
gpu0.field145 0
gpu0.field230 1
gpu1.uuid GPU-99999999-8888-7777-6666-555555555555
gpu1.name Tesla T4
gpu1.pci_bus_id 00000000:AF:00.0
gpu1.util_gpu 100
gpu1.util_memory 0
gpu1.mem_total 16106127360
gpu1.mem_free 16106127360
gpu1.mem_used 0
gpu1.temperature 40
gpu1.power_usage 70000
gpu1.fans !4
gpu1.clock_graphics 585
gpu1.throttle 0x1
gpu1.mig_current 0
";

/// Two GPUs with different values: every metric exactly, in base units (bytes, watts,
/// joules, hertz, bytes per second, ratios); what a GPU does not support (or may not be read)
/// is left out for that GPU, not reported as zero; the output passes promtool.
#[test]
fn two_gpus_report_exact_values_in_base_units() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let me = std::process::id();
    // This process has a compute and a graphics context (one process, counted once); PID
    // 4000000000 exists nowhere (it exited before the lookup). Utilization: two samples of this
    // process (the later one counts), one of the gone process.
    let conf = config(
        dir.path(),
        &format!(
            "{TWO_GPUS}gpu0.processes {me}:1048576,4000000000:2097152\n\
             gpu0.graphics_processes {me}:1048576\n\
             gpu0.process_util {me}:30:10:0:0:100,{me}:50:20:5:6:200,4000000000:10:0:0:0:300\n"
        ),
    );
    let toml = dir.path().join("gpu.toml");
    std::fs::write(&toml, "[nvml]\nprocesses = true\n").unwrap();
    let (out, text, stderr) = once(exporter(&lib, &conf).arg("--config").arg(&toml));
    assert!(out.status.success(), "{stderr}\n{text}");
    promtool_check_metrics(&text).unwrap();

    let a = "GPU-11111111-2222-3333-4444-555555555555";
    let b = "GPU-99999999-8888-7777-6666-555555555555";
    let s = |name: &str, labels: &str| value(&text, &format!("{name}{{{labels}}}"));
    assert_eq!(value(&text, "sysgauge_gpu_nvml_up"), 1.0);
    assert_eq!(value(&text, "sysgauge_gpu_devices"), 2.0);
    assert_eq!(
        s(
            "sysgauge_gpu_driver_info",
            r#"driver_version="550.54.15",nvml_version="12.550.54.15",cuda_version="12.4""#
        ),
        1.0
    );
    assert_eq!(
        s(
            "sysgauge_gpu_info",
            &format!(
                r#"uuid="{a}",index="0",name="NVIDIA A100-SXM4-40GB",pci_bus_id="00000000:3B:00.0""#
            )
        ),
        1.0
    );
    assert_eq!(
        s(
            "sysgauge_gpu_info",
            &format!(r#"uuid="{b}",index="1",name="Tesla T4",pci_bus_id="00000000:AF:00.0""#)
        ),
        1.0
    );
    let ua = format!(r#"uuid="{a}""#);
    let ub = format!(r#"uuid="{b}""#);
    // GPU 0: everything.
    assert_eq!(s("sysgauge_gpu_utilization_ratio", &ua), 0.37);
    assert_eq!(s("sysgauge_gpu_memory_utilization_ratio", &ua), 0.12);
    assert_eq!(s("sysgauge_gpu_encoder_utilization_ratio", &ua), 0.05);
    assert_eq!(s("sysgauge_gpu_decoder_utilization_ratio", &ua), 0.07);
    assert_eq!(s("sysgauge_gpu_memory_total_bytes", &ua), 42949672960.0);
    assert_eq!(s("sysgauge_gpu_memory_free_bytes", &ua), 40000000000.0);
    assert_eq!(s("sysgauge_gpu_memory_used_bytes", &ua), 2949672960.0);
    assert_eq!(s("sysgauge_gpu_temperature_celsius", &ua), 61.0);
    assert_eq!(s("sysgauge_gpu_power_draw_watts", &ua), 123.456);
    assert_eq!(s("sysgauge_gpu_power_limit_watts", &ua), 250.0);
    assert_eq!(s("sysgauge_gpu_power_limit_enforced_watts", &ua), 240.0);
    assert_eq!(s("sysgauge_gpu_energy_joules_total", &ua), 987654.321);
    assert_eq!(
        s("sysgauge_gpu_fan_speed_ratio", &format!(r#"{ua},fan="0""#)),
        0.4
    );
    assert_eq!(
        s("sysgauge_gpu_fan_speed_ratio", &format!(r#"{ua},fan="1""#)),
        0.55
    );
    for (clock, mhz) in [
        ("graphics", 1410.0),
        ("sm", 1395.0),
        ("memory", 1215.0),
        ("video", 1275.0),
    ] {
        assert_eq!(
            s(
                "sysgauge_gpu_clock_hertz",
                &format!(r#"{ua},clock="{clock}""#)
            ),
            mhz * 1e6
        );
    }
    assert_eq!(
        s("sysgauge_gpu_pcie_transmit_bytes_per_second", &ua),
        1_024_000.0
    );
    assert_eq!(
        s("sysgauge_gpu_pcie_receive_bytes_per_second", &ua),
        2_560_000.0
    );
    assert_eq!(
        s(
            "sysgauge_gpu_ecc_errors_total",
            &format!(r#"{ua},type="corrected""#)
        ),
        5.0
    );
    assert_eq!(
        s(
            "sysgauge_gpu_ecc_errors_total",
            &format!(r#"{ua},type="uncorrected""#)
        ),
        1.0
    );
    for (reason, on) in [
        ("gpu_idle", 0.0),
        ("applications_clocks_setting", 0.0),
        ("sw_power_cap", 1.0),
        ("hw_slowdown", 0.0),
        ("sync_boost", 0.0),
        ("sw_thermal_slowdown", 0.0),
        ("hw_thermal_slowdown", 1.0),
        ("hw_power_brake_slowdown", 0.0),
        ("display_clock_setting", 0.0),
    ] {
        assert_eq!(
            s(
                "sysgauge_gpu_clock_event_active",
                &format!(r#"{ua},reason="{reason}""#)
            ),
            on,
            "{reason}"
        );
    }
    assert_eq!(s("sysgauge_gpu_mig_enabled", &ua), 1.0);
    assert_eq!(s("sysgauge_gpu_processes", &ua), 2.0);
    // Per unit: this test's own unit (whatever cgroup it runs in here) and `unknown`.
    let units = unit_series(&text, "sysgauge_gpu_unit_memory_used_bytes", a);
    assert_eq!(units.len(), 2, "{units:?}");
    assert_eq!(units["unknown"], 2097152.0);
    let mine = units.keys().find(|u| *u != "unknown").unwrap().clone();
    assert_eq!(units[&mine], 1048576.0);
    let unit = |name: &str, unit: &str| s(name, &format!(r#"{ua},unit="{unit}""#));
    assert_eq!(unit("sysgauge_gpu_unit_processes", &mine), 1.0);
    assert_eq!(unit("sysgauge_gpu_unit_processes", "unknown"), 1.0);
    for (name, v) in [
        ("sysgauge_gpu_unit_sm_utilization_ratio", 0.5),
        ("sysgauge_gpu_unit_memory_utilization_ratio", 0.2),
        ("sysgauge_gpu_unit_encoder_utilization_ratio", 0.05),
        ("sysgauge_gpu_unit_decoder_utilization_ratio", 0.06),
    ] {
        assert_eq!(unit(name, &mine), v, "{name}");
    }
    assert_eq!(
        unit("sysgauge_gpu_unit_sm_utilization_ratio", "unknown"),
        0.1
    );
    let comm = std::fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
    assert_eq!(
        s(
            "sysgauge_gpu_process_memory_used_bytes",
            &format!(
                r#"{ua},pid="{me}",process_name="{}",unit="{mine}""#,
                comm.trim_end()
            )
        ),
        1048576.0
    );
    // A process that is gone (or in another PID namespace) still counts, without a name.
    assert_eq!(
        s(
            "sysgauge_gpu_process_memory_used_bytes",
            &format!(r#"{ua},pid="4000000000",process_name="",unit="unknown""#)
        ),
        2097152.0
    );
    assert_eq!(s("sysgauge_gpu_lost", &format!(r#"index="0",{ua}"#)), 0.0);

    // Health, in base units.
    for (reason, seconds) in [
        ("power", 1.5),
        ("thermal", 0.25),
        ("sync_boost", 0.0),
        ("board_limit", 0.003),
        ("low_utilization", 7.0),
        ("reliability", 5e-9),
    ] {
        assert_eq!(
            s(
                "sysgauge_gpu_throttle_seconds_total",
                &format!(r#"{ua},reason="{reason}""#)
            ),
            seconds,
            "{reason}"
        );
    }
    assert!(text.contains("# TYPE sysgauge_gpu_throttle_seconds_total counter"));
    assert_eq!(s("sysgauge_gpu_performance_state", &ua), 2.0);
    assert_eq!(s("sysgauge_gpu_pcie_link_generation", &ua), 3.0);
    assert_eq!(s("sysgauge_gpu_pcie_link_max_generation", &ua), 4.0);
    assert_eq!(s("sysgauge_gpu_pcie_link_width", &ua), 8.0);
    assert_eq!(s("sysgauge_gpu_pcie_link_max_width", &ua), 16.0);
    assert_eq!(s("sysgauge_gpu_pcie_replays_total", &ua), 17.0);
    let labelled = |name: &str, label: &str| s(name, &format!("{ua},{label}"));
    assert_eq!(
        labelled(
            "sysgauge_gpu_ecc_volatile_errors_total",
            r#"type="corrected""#
        ),
        2.0
    );
    assert_eq!(
        labelled(
            "sysgauge_gpu_ecc_volatile_errors_total",
            r#"type="uncorrected""#
        ),
        0.0
    );
    assert_eq!(
        labelled(
            "sysgauge_gpu_retired_pages",
            r#"cause="multiple_single_bit_ecc""#
        ),
        3.0
    );
    assert_eq!(
        labelled("sysgauge_gpu_retired_pages", r#"cause="double_bit_ecc""#),
        1.0
    );
    assert_eq!(s("sysgauge_gpu_retired_pages_pending", &ua), 1.0);
    assert_eq!(s("sysgauge_gpu_power_limit_default_watts", &ua), 300.0);
    assert_eq!(s("sysgauge_gpu_power_limit_min_watts", &ua), 100.0);
    assert_eq!(s("sysgauge_gpu_power_limit_max_watts", &ua), 400.0);
    for (clock, mhz) in [
        ("graphics", 1980.0),
        ("sm", 1980.0),
        ("memory", 1593.0),
        ("video", 1755.0),
    ] {
        assert_eq!(
            labelled(
                "sysgauge_gpu_clock_max_hertz",
                &format!(r#"clock="{clock}""#)
            ),
            mhz * 1e6
        );
    }
    assert_eq!(s("sysgauge_gpu_memory_temperature_celsius", &ua), 71.0);
    assert_eq!(
        labelled("sysgauge_gpu_remapped_rows_total", r#"cause="correctable""#),
        4.0
    );
    assert_eq!(
        labelled(
            "sysgauge_gpu_remapped_rows_total",
            r#"cause="uncorrectable""#
        ),
        1.0
    );
    assert_eq!(s("sysgauge_gpu_remapped_rows_pending", &ua), 1.0);
    assert_eq!(s("sysgauge_gpu_remapped_rows_failed", &ua), 0.0);
    for (action, on) in [
        ("none", 0.0),
        ("gpu_reset", 1.0),
        ("node_reboot", 0.0),
        ("drain_p2p", 0.0),
        ("drain_and_reset", 0.0),
    ] {
        assert_eq!(
            labelled(
                "sysgauge_gpu_recovery_action",
                &format!(r#"action="{action}""#)
            ),
            on,
            "{action}"
        );
    }

    // GPU 1: different values, and what it lacks is left out.
    assert_eq!(s("sysgauge_gpu_utilization_ratio", &ub), 1.0);
    assert_eq!(s("sysgauge_gpu_memory_utilization_ratio", &ub), 0.0);
    assert_eq!(s("sysgauge_gpu_memory_total_bytes", &ub), 16106127360.0);
    assert_eq!(s("sysgauge_gpu_memory_used_bytes", &ub), 0.0);
    assert_eq!(s("sysgauge_gpu_temperature_celsius", &ub), 40.0);
    assert_eq!(s("sysgauge_gpu_power_draw_watts", &ub), 70.0);
    assert_eq!(
        s(
            "sysgauge_gpu_clock_hertz",
            &format!(r#"{ub},clock="graphics""#)
        ),
        585e6
    );
    assert_eq!(s("sysgauge_gpu_mig_enabled", &ub), 0.0);
    // Supported reasons unknown: every reason is reported.
    assert_eq!(
        s(
            "sysgauge_gpu_clock_event_active",
            &format!(r#"{ub},reason="gpu_idle""#)
        ),
        1.0
    );
    assert_eq!(
        s(
            "sysgauge_gpu_clock_event_active",
            &format!(r#"{ub},reason="sw_power_cap""#)
        ),
        0.0
    );
    assert_eq!(s("sysgauge_gpu_processes", &ub), 0.0);
    // No processes: no unit series; no utilization samples supported: no utilization series.
    absent(&text, &format!("sysgauge_gpu_unit_memory_used_bytes{{{ub}"));
    assert_eq!(s("sysgauge_gpu_lost", &format!(r#"index="1",{ub}"#)), 0.0);
    for name in [
        "sysgauge_gpu_encoder_utilization_ratio",
        "sysgauge_gpu_decoder_utilization_ratio",
        "sysgauge_gpu_power_limit_watts",
        "sysgauge_gpu_power_limit_enforced_watts",
        "sysgauge_gpu_energy_joules_total",
        "sysgauge_gpu_fan_speed_ratio",
        "sysgauge_gpu_pcie_transmit_bytes_per_second",
        "sysgauge_gpu_ecc_errors_total",
        // The health set: GPU 1 supports none of it.
        "sysgauge_gpu_throttle_seconds_total",
        "sysgauge_gpu_performance_state",
        "sysgauge_gpu_pcie_link_generation",
        "sysgauge_gpu_pcie_link_max_generation",
        "sysgauge_gpu_pcie_link_width",
        "sysgauge_gpu_pcie_link_max_width",
        "sysgauge_gpu_pcie_replays_total",
        "sysgauge_gpu_ecc_volatile_errors_total",
        "sysgauge_gpu_retired_pages",
        "sysgauge_gpu_retired_pages_pending",
        "sysgauge_gpu_power_limit_default_watts",
        "sysgauge_gpu_power_limit_min_watts",
        "sysgauge_gpu_power_limit_max_watts",
        "sysgauge_gpu_clock_max_hertz",
        "sysgauge_gpu_memory_temperature_celsius",
        "sysgauge_gpu_remapped_rows_total",
        "sysgauge_gpu_remapped_rows_pending",
        "sysgauge_gpu_remapped_rows_failed",
        "sysgauge_gpu_recovery_action",
    ] {
        absent(&text, &format!("{name}{{{ub}"));
    }
    for clock in ["sm", "memory", "video"] {
        absent(
            &text,
            &format!(r#"sysgauge_gpu_clock_hertz{{{ub},clock="{clock}""#),
        );
    }
    // No permission to read GPU 1's fans is a warning naming the GPU, not a failure.
    assert!(
        stderr.contains("level=warn")
            && stderr.contains("nvmlDeviceGetNumFans")
            && stderr.contains(b),
        "{stderr}"
    );
    // Counters are typed as such.
    assert!(text.contains("# TYPE sysgauge_gpu_energy_joules_total counter"));
    assert!(text.contains("# TYPE sysgauge_gpu_ecc_errors_total counter"));
    // once cannot see XIDs, and says so in the metrics.
    assert_eq!(value(&text, "sysgauge_gpu_xid_listener_up"), 0.0);
    absent(&text, "sysgauge_gpu_xid_errors_total");
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        1.0
    );
}

/// A GPU in MIG mode, split into two GPU instances, one of them with two compute instances:
/// each instance is named by its ids, with its MIG UUID and profile on the info series; memory
/// per GPU instance (once, however many compute instances share it), processes per compute
/// instance. The GPU's own process list needs privileges in MIG mode (NO_PERMISSION here):
/// per-unit memory still comes from the instances' lists. An empty slot is skipped quietly, one
/// that may not be read with a warning; a GPU not in MIG mode has no MIG series.
#[test]
fn mig_instances_report_memory_and_processes() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let me = std::process::id();
    let conf = config(
        dir.path(),
        &format!(
            "{TWO_GPUS}gpu0.processes !4\n\
             gpu0.mig_max 7\n\
             gpu0.mig0.gi 1\ngpu0.mig0.ci 0\n\
             gpu0.mig0.uuid MIG-aaaaaaaa-0000-0000-0000-000000000000\n\
             gpu0.mig0.name NVIDIA A100-SXM4-40GB MIG 3g.20gb\n\
             gpu0.mig0.mem_total 21474836480\ngpu0.mig0.mem_free 20401094656\n\
             gpu0.mig0.mem_used 1073741824\n\
             gpu0.mig0.processes {me}:1048576\n\
             gpu0.mig1.gi 1\ngpu0.mig1.ci 1\n\
             gpu0.mig1.uuid MIG-bbbbbbbb-0000-0000-0000-000000000000\n\
             gpu0.mig1.name NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb\n\
             gpu0.mig1.mem_total 21474836480\ngpu0.mig1.mem_free 20401094656\n\
             gpu0.mig1.mem_used 1073741824\n\
             gpu0.mig1.processes\n\
             gpu0.mig3.gi 2\ngpu0.mig3.ci 0\n\
             gpu0.mig3.uuid MIG-cccccccc-0000-0000-0000-000000000000\n\
             gpu0.mig3.name NVIDIA A100-SXM4-40GB MIG 2g.10gb\n\
             gpu0.mig3.mem_total 10737418240\ngpu0.mig3.mem_free 10737414144\n\
             gpu0.mig3.mem_used 4096\n\
             gpu0.mig3.processes 4000000001:4096\n\
             gpu0.mig3.graphics_processes {me}:8192\n\
             gpu0.mig5.gi !4\n\
             gpu1.mig_max 7\ngpu1.mig0.gi 1\ngpu1.mig0.ci 0\n"
        ),
    );
    let (out, text, stderr) = once(&mut exporter(&lib, &conf));
    assert!(out.status.success(), "{stderr}\n{text}");
    promtool_check_metrics(&text).unwrap();
    let a = "GPU-11111111-2222-3333-4444-555555555555";
    let b = "GPU-99999999-8888-7777-6666-555555555555";
    let mig = |name: &str, labels: &str| value(&text, &format!(r#"{name}{{uuid="{a}",{labels}}}"#));
    for (gi, ci, mig_uuid, profile) in [
        (
            "1",
            "0",
            "MIG-aaaaaaaa-0000-0000-0000-000000000000",
            "3g.20gb",
        ),
        (
            "1",
            "1",
            "MIG-bbbbbbbb-0000-0000-0000-000000000000",
            "1c.3g.20gb",
        ),
        (
            "2",
            "0",
            "MIG-cccccccc-0000-0000-0000-000000000000",
            "2g.10gb",
        ),
    ] {
        assert_eq!(
            mig(
                "sysgauge_gpu_mig_instance_info",
                &format!(
                    r#"gpu_instance_id="{gi}",compute_instance_id="{ci}",mig_uuid="{mig_uuid}",profile="{profile}""#
                )
            ),
            1.0
        );
    }
    assert_eq!(text.matches("sysgauge_gpu_mig_instance_info{").count(), 3);
    for (gi, total, free, used) in [
        ("1", 21474836480.0, 20401094656.0, 1073741824.0),
        ("2", 10737418240.0, 10737414144.0, 4096.0),
    ] {
        let l = format!(r#"gpu_instance_id="{gi}""#);
        assert_eq!(mig("sysgauge_gpu_mig_memory_total_bytes", &l), total);
        assert_eq!(mig("sysgauge_gpu_mig_memory_free_bytes", &l), free);
        assert_eq!(mig("sysgauge_gpu_mig_memory_used_bytes", &l), used);
    }
    assert_eq!(
        text.matches("sysgauge_gpu_mig_memory_total_bytes{").count(),
        2
    );
    let ci = |gi: &str, ci: &str| format!(r#"gpu_instance_id="{gi}",compute_instance_id="{ci}""#);
    assert_eq!(mig("sysgauge_gpu_mig_processes", &ci("1", "0")), 1.0);
    assert_eq!(mig("sysgauge_gpu_mig_processes", &ci("1", "1")), 0.0);
    assert_eq!(mig("sysgauge_gpu_mig_processes", &ci("2", "0")), 2.0);
    assert_eq!(
        mig(
            "sysgauge_gpu_mig_processes_memory_used_bytes",
            &ci("1", "0")
        ),
        1048576.0
    );
    assert_eq!(
        mig(
            "sysgauge_gpu_mig_processes_memory_used_bytes",
            &ci("2", "0")
        ),
        12288.0
    );
    // No process, no memory figure: not a zero that would look measured.
    absent(
        &text,
        &format!(
            r#"sysgauge_gpu_mig_processes_memory_used_bytes{{uuid="{a}",{}"#,
            ci("1", "1")
        ),
    );
    // The whole GPU: this process (in two instances: counted once, its larger figure) and the
    // gone one, attributed to units from the instances' lists.
    assert_eq!(
        value(&text, &format!(r#"sysgauge_gpu_processes{{uuid="{a}"}}"#)),
        2.0
    );
    let units = unit_series(&text, "sysgauge_gpu_unit_memory_used_bytes", a);
    assert_eq!(units.len(), 2, "{units:?}");
    assert_eq!(units["unknown"], 4096.0);
    assert_eq!(
        units.iter().find(|(u, _)| *u != "unknown").unwrap().1,
        &1048576.0
    );
    assert!(
        stderr.contains("level=warn")
            && stderr.contains("nvmlDeviceGetMigDeviceHandleByIndex")
            && !stderr.contains("nvmlDeviceGetGpuInstanceId"),
        "{stderr}"
    );
    // GPU 1 is not in MIG mode: its configured instance is not there.
    for name in [
        "sysgauge_gpu_mig_instance_info",
        "sysgauge_gpu_mig_memory_total_bytes",
        "sysgauge_gpu_mig_processes",
    ] {
        absent(&text, &format!(r#"{name}{{uuid="{b}""#));
    }
}

/// GPM (Hopper and newer): activity ratios per GPU and per MIG GPU instance, exact values from
/// the fake's counters, in every mode. once and textfile pair two fresh samples taken the window
/// apart; serve keeps the last sample, so its second scrape pairs samples 2 and 3 (not 3 and 4,
/// which fresh pairs would give) and reports the average since the first scrape. A GPU whose
/// NVML says it has no GPM (gpu1), and a metric it does not offer (occupancy), have no series.
#[test]
fn gpm_activity_per_gpu_and_mig_instance_in_every_mode() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let log = dir.path().join("calls.log");
    let conf = config(
        dir.path(),
        &format!(
            "{TWO_GPUS}log {}\n\
             gpu0.mig_max 7\ngpu0.mig0.gi 1\ngpu0.mig0.ci 0\ngpu0.mig2.gi 2\ngpu0.mig2.ci 0\n\
             gpu0.gpm_supported 1\n\
             gpu0.gpm1 40,60,80\ngpu0.gpm2 50,70\ngpu0.gpm5 12.5\ngpu0.gpm10 33\n\
             gpu0.gi1.gpm1 10,20\ngpu0.gi1.gpm2 5\ngpu0.gi1.gpm5 !4\ngpu0.gi1.gpm10 1\n\
             gpu0.gi2.gpm1 90\n\
             gpu1.gpm1 99\n",
            log.display()
        ),
    );
    let toml = dir.path().join("gpu.toml");
    std::fs::write(&toml, "[nvml]\ngpm_window = \"150ms\"\n").unwrap();
    let a = "GPU-11111111-2222-3333-4444-555555555555";
    let b = "GPU-99999999-8888-7777-6666-555555555555";
    let gpu =
        |text: &str, name: &str| sample(text, &format!(r#"sysgauge_gpu_{name}{{uuid="{a}"}}"#));
    let mig = |text: &str, name: &str, gi: &str| {
        sample(
            text,
            &format!(r#"sysgauge_gpu_mig_{name}{{uuid="{a}",gpu_instance_id="{gi}"}}"#),
        )
    };
    let pairs = |log: &Path| -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("gpm "))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
            .collect()
    };
    let check_first = |text: &str, mode: &str| {
        assert_eq!(gpu(text, "graphics_activity_ratio"), Some(0.4), "{mode}");
        assert_eq!(gpu(text, "sm_activity_ratio"), Some(0.5), "{mode}");
        assert_eq!(gpu(text, "tensor_activity_ratio"), Some(0.125), "{mode}");
        assert_eq!(
            gpu(text, "dram_bandwidth_utilization_ratio"),
            Some(0.33),
            "{mode}"
        );
        assert_eq!(gpu(text, "sm_occupancy_ratio"), None, "{mode}");
        assert_eq!(
            mig(text, "graphics_activity_ratio", "1"),
            Some(0.1),
            "{mode}"
        );
        assert_eq!(mig(text, "sm_activity_ratio", "1"), Some(0.05), "{mode}");
        assert_eq!(mig(text, "tensor_activity_ratio", "1"), None, "{mode}");
        assert_eq!(
            mig(text, "dram_bandwidth_utilization_ratio", "1"),
            Some(0.01),
            "{mode}"
        );
        assert_eq!(
            mig(text, "graphics_activity_ratio", "2"),
            Some(0.9),
            "{mode}"
        );
        assert_eq!(
            text.matches("sysgauge_gpu_mig_graphics_activity_ratio{")
                .count(),
            2,
            "{mode}"
        );
        // The window, 150 ms, and not much more on a loaded machine.
        let interval = gpu(text, "gpm_interval_seconds").unwrap();
        assert!((0.15..5.0).contains(&interval), "{mode}: {interval}");
        for family in ["graphics_activity_ratio", "gpm_interval_seconds"] {
            absent(text, &format!(r#"sysgauge_gpu_{family}{{uuid="{b}""#));
        }
    };

    let (out, text, stderr) = once(exporter(&lib, &conf).arg("--config").arg(&toml));
    assert!(out.status.success(), "{stderr}");
    promtool_check_metrics(&text).unwrap();
    check_first(&text, "once");
    assert_eq!(pairs(&log), ["gpu0 1-2", "gpu0.gi1 1-2", "gpu0.gi2 1-2"]);

    std::fs::remove_file(&log).unwrap();
    let out = run(exporter(&lib, &conf)
        .arg("--config")
        .arg(&toml)
        .args(["textfile", "--directory"])
        .arg(dir.path()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("sysgauge-gpu.prom")).unwrap();
    check_first(&text, "textfile");
    assert_eq!(pairs(&log).len(), 3);

    std::fs::remove_file(&log).unwrap();
    let port = free_port();
    let _server = Process::spawn(
        "sysgauge-gpu serve",
        exporter(&lib, &conf)
            .arg("--config")
            .arg(&toml)
            .args(["serve", "--web.listen-address"])
            .arg(format!("127.0.0.1:{port}")),
        &dir.path().join("serve.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let text = wait_for("the first scrape", Duration::from_secs(20), || {
        let (status, body) = http_get(&url, &[]);
        (status == 200).then_some(body)
    });
    check_first(&text, "serve");
    std::thread::sleep(Duration::from_millis(300));
    let (status, text) = http_get(&url, &[]);
    assert_eq!(status, 200);
    assert_eq!(gpu(&text, "graphics_activity_ratio"), Some(0.6));
    assert_eq!(gpu(&text, "sm_activity_ratio"), Some(0.7));
    assert_eq!(mig(&text, "graphics_activity_ratio", "1"), Some(0.2));
    assert_eq!(mig(&text, "graphics_activity_ratio", "2"), Some(0.9));
    // The average since the first scrape: at least the 300 ms slept in between.
    let interval = gpu(&text, "gpm_interval_seconds").unwrap();
    assert!((0.3..10.0).contains(&interval), "{interval}");
    assert_eq!(
        pairs(&log),
        [
            "gpu0 1-2",
            "gpu0.gi1 1-2",
            "gpu0.gi2 1-2",
            "gpu0 2-3",
            "gpu0.gi1 2-3",
            "gpu0.gi2 2-3"
        ]
    );
}

/// `sysgauge-gpu check`: the driver's recommended recovery action is CRITICAL, as is a failed
/// row remapping; thermal throttling warns; the exact plugin output, the exit code, and the
/// objects a GPU lacking the metric does not have.
#[test]
fn check_reports_recovery_action_and_row_remap_failure() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let a = "GPU-11111111-2222-3333-4444-555555555555";
    let conf = config(dir.path(), TWO_GPUS);
    let out = run(exporter(&lib, &conf).arg("check"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert_eq!(
        text,
        format!(
            "SYSGAUGE-GPU CRITICAL - 1 critical, 1 warning of 18: recovery {a} gpu_reset 1, \
             throttled {a} hw_thermal_slowdown 1 | 'lost'=0;;;0;2 'throttled'=1;;;0;6 \
             'power-brake'=0;;;0;2 'temperature {a}'=61;~:85 \
             'temperature GPU-99999999-8888-7777-6666-555555555555'=40;~:85 'driver'=0;;;0;1 \
             'recovery'=1;;;0;4 'row-remap-failed'=0;;;0;1\n\
             CRITICAL: recovery {a} gpu_reset = 1 (critical outside ~:0)\n\
             WARNING: throttled {a} hw_thermal_slowdown = 1 (warning outside ~:0)\n"
        )
    );
    // Log lines (GPU 1's fans may not be read) go to stderr, which Nagios does not read.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nvmlDeviceGetNumFans"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Recovered (action none), but the spare rows ran out: CRITICAL for that alone.
    let conf = config(
        dir.path(),
        &format!("{TWO_GPUS}gpu0.field230 0\ngpu0.field145 1\n"),
    );
    let out =
        run(exporter(&lib, &conf).args(["check", "-k", "recovery", "-k", "row-remap-failed"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert_eq!(
        text,
        format!(
            "SYSGAUGE-GPU CRITICAL - 1 critical of 5: row-remap-failed {a} 1 | \
             'recovery'=0;;;0;4 'row-remap-failed'=1;;;0;1\n\
             CRITICAL: row-remap-failed {a} = 1 (critical outside ~:0)\n"
        )
    );
    // Neither: OK.
    let conf = config(dir.path(), &format!("{TWO_GPUS}gpu0.field230 0\n"));
    let out =
        run(exporter(&lib, &conf).args(["check", "-k", "recovery", "-k", "row-remap-failed"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text,
        "SYSGAUGE-GPU OK - 5 objects OK | 'recovery'=0;;;0;4 'row-remap-failed'=0;;;0;1\n"
    );
}

/// A library without nvmlDeviceGetPowerUsage: the power draw is left out, everything else is
/// still there; one without nvmlGpmSampleFree has no GPM series and no panic. The library and a knob come from the configuration file this time.
#[test]
fn missing_symbol_leaves_only_that_metric_out() {
    let Some((dir, lib)) = fake(&[
        "-DFAKE_NO_POWER",
        "-DFAKE_NO_GRAPHICS_PROCESSES",
        "-DFAKE_NO_PROCESS_UTIL",
        "-DFAKE_NO_GPM_FREE",
    ]) else {
        return;
    };
    let conf = config(
        dir.path(),
        &format!(
            "{TWO_GPUS}gpu0.processes 4000000000:2097152\ngpu0.gpm_supported 1\ngpu0.gpm1 40\n"
        ),
    );
    let toml = dir.path().join("gpu.toml");
    std::fs::write(
        &toml,
        format!(
            "[nvml]\nlibrary = {:?}\npcie_throughput = false\n",
            lib.display().to_string()
        ),
    )
    .unwrap();
    let out = run(Command::new(BIN)
        .env("FAKE_NVML_CONFIG", &conf)
        .arg("--config")
        .arg(&toml)
        .arg("once"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    absent(&text, "sysgauge_gpu_power_draw_watts");
    absent(&text, "sysgauge_gpu_pcie_transmit_bytes_per_second");
    // Without nvmlGpmSampleFree, nvml-wrapper would panic dropping a GPM sample: GPM is not used.
    absent(&text, "sysgauge_gpu_graphics_activity_ratio");
    absent(&text, "sysgauge_gpu_gpm_interval_seconds");
    // Without graphics lists and utilization samples, memory per unit is still there (from the
    // compute list), utilization per unit is left out; per-process series are off by default.
    let uuid = "GPU-11111111-2222-3333-4444-555555555555";
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_unit_memory_used_bytes{{uuid="{uuid}",unit="unknown"}}"#)
        ),
        2097152.0
    );
    absent(&text, "sysgauge_gpu_unit_sm_utilization_ratio");
    absent(&text, "sysgauge_gpu_process_memory_used_bytes");
    assert_eq!(
        value(
            &text,
            r#"sysgauge_gpu_power_limit_watts{uuid="GPU-11111111-2222-3333-4444-555555555555"}"#
        ),
        250.0
    );
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        1.0
    );

    // A typo in the [nvml] section is an error naming the file, line and key.
    std::fs::write(&toml, "[nvml]\nlibary = \"/x\"\n").unwrap();
    let out = run(Command::new(BIN).arg("--config").arg(&toml).arg("once"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("line 2") && err.contains("libary"), "{err}");
}

/// nvml-wrapper panics when it drops an NVML that lacks nvmlShutdown (exit 101, or an abort
/// in a release build). Such a library is refused with a clear error instead.
#[test]
fn library_without_nvml_shutdown_is_refused_without_a_panic() {
    let Some((dir, lib)) = fake(&["-DFAKE_NO_SHUTDOWN"]) else {
        return;
    };
    let conf = config(dir.path(), TWO_GPUS);
    let (out, text, stderr) = once(&mut exporter(&lib, &conf));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("lacks nvmlShutdown"), "{stderr}");
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        0.0
    );
}

/// A driver/library version mismatch (after a driver upgrade without a reboot) is a clear log
/// line and a failed collection; a kernel driver that is not loaded is "absent", not a failure.
#[test]
fn init_failures() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let conf = config(dir.path(), &format!("{TWO_GPUS}init_error 18\n"));
    let (out, text, stderr) = once(&mut exporter(&lib, &conf));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("level=error") && stderr.contains("driver/library version mismatch"),
        "{stderr}"
    );
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        0.0
    );
    absent(&text, "sysgauge_gpu_nvml_up");

    let conf = config(dir.path(), &format!("{TWO_GPUS}init_error 9\n"));
    let (out, text, stderr) = once(&mut exporter(&lib, &conf));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(value(&text, "sysgauge_gpu_nvml_up"), 0.0);
    assert_eq!(
        value(
            &text,
            r#"sysgauge_gpu_nvml_absent{reason="driver_not_loaded"}"#
        ),
        1.0
    );
    assert!(
        stderr.contains("NVIDIA kernel driver is not loaded"),
        "{stderr}"
    );

    // Any other init error fails the collection, naming the library.
    let conf = config(dir.path(), &format!("{TWO_GPUS}init_error 999\n"));
    let (out, _, stderr) = once(&mut exporter(&lib, &conf));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("nvmlInit failed") && stderr.contains(&lib.display().to_string()),
        "{stderr}"
    );
}

/// A host without the NVIDIA driver: once says so plainly and exits 0; textfile writes a file
/// that says NVML is absent, exits 0, and node_exporter reads the file. With no
/// --nvml.library, the default libnvidia-ml.so.1 is found through the linker's search path.
#[test]
fn host_without_driver_and_default_library_lookup() {
    let Some((dir, _lib)) = fake(&[]) else { return };
    let conf = config(dir.path(), TWO_GPUS);
    let missing = dir.path().join("nowhere/libnvidia-ml.so.1");
    let (out, text, stderr) = once(&mut exporter(&missing, &conf));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("NVML is absent: no NVIDIA driver on this host"),
        "{stderr}"
    );
    assert_eq!(value(&text, "sysgauge_gpu_nvml_up"), 0.0);
    assert_eq!(
        value(
            &text,
            r#"sysgauge_gpu_nvml_absent{reason="library_not_found"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        1.0
    );

    let textdir = TempDir::new().unwrap();
    let out = run(exporter(&missing, &conf)
        .args(["textfile", "--directory"])
        .arg(textdir.path()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = std::fs::read_to_string(textdir.path().join("sysgauge-gpu.prom")).unwrap();
    assert_eq!(
        value(
            &file,
            r#"sysgauge_gpu_nvml_absent{reason="library_not_found"}"#
        ),
        1.0
    );
    if let Some(node) = NodeExporter::start(textdir.path(), dir.path()) {
        let scraped = node.scrape();
        assert_eq!(value(&scraped, "sysgauge_gpu_nvml_up"), 0.0);
        assert_eq!(value(&scraped, "node_textfile_scrape_error"), 0.0);
    }

    // The default name, found through LD_LIBRARY_PATH like any library the linker finds.
    let out = run(Command::new(BIN)
        .env("FAKE_NVML_CONFIG", &conf)
        .env("LD_LIBRARY_PATH", dir.path())
        .arg("once"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(value(&text, "sysgauge_gpu_nvml_up"), 1.0);
    assert_eq!(value(&text, "sysgauge_gpu_devices"), 2.0);
}

/// A GPU lost in the middle of a collection (after three calls: handle, UUID, name) is
/// reported as lost under the UUID it had, the other GPU is complete, and the collection
/// succeeds. A GPU lost before it ever answered is reported by index.
#[test]
fn gpu_lost_mid_collection() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let b = "GPU-99999999-8888-7777-6666-555555555555";
    let conf = config(dir.path(), &format!("{TWO_GPUS}gpu1.lost_after 3\n"));
    let (out, text, stderr) = once(&mut exporter(&lib, &conf));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_lost{{index="1",uuid="{b}"}}"#)
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"sysgauge_gpu_lost{index="0",uuid="GPU-11111111-2222-3333-4444-555555555555"}"#
        ),
        0.0
    );
    // Nothing half-read from the lost GPU.
    absent(&text, &format!(r#"sysgauge_gpu_info{{uuid="{b}""#));
    assert_eq!(
        value(
            &text,
            r#"sysgauge_gpu_temperature_celsius{uuid="GPU-11111111-2222-3333-4444-555555555555"}"#
        ),
        61.0
    );
    assert_eq!(value(&text, "sysgauge_gpu_devices"), 2.0);
    assert!(
        stderr.contains("GPU lost") && stderr.contains("nvmlDeviceGetPciInfo_v3"),
        "{stderr}"
    );

    let conf = config(dir.path(), &format!("{TWO_GPUS}gpu1.lost_after 0\n"));
    let (out, text, _) = once(&mut exporter(&lib, &conf));
    assert!(out.status.success());
    assert_eq!(value(&text, r#"sysgauge_gpu_lost{index="1",uuid=""}"#), 1.0);
}

/// A driver call that hangs is cut at the collector deadline: the process answers on time and
/// reports the failure.
#[test]
fn hung_nvml_call_is_cut_at_the_deadline() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let conf = config(dir.path(), &format!("{TWO_GPUS}gpu1.sleep_ms 30000\n"));
    let start = Instant::now();
    let (out, text, stderr) = once(exporter(&lib, &conf).args(["--collector.timeout", "1s"]));
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("deadline"), "{stderr}");
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        0.0
    );
}

fn log_lines(path: &Path, what: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == what)
        .count()
}

/// serve: XIDs delivered through nvmlEventSetWait_v2 are counted by GPU and code; a GPU that
/// falls off the bus is reported lost, NVML is shut down (nvmlShutdown) and initialised again
/// at the next scrape, and the GPU is back once it answers again. XID counts survive the new
/// session and are not counted twice.
#[test]
fn serve_counts_xids_and_reinitialises_after_a_lost_gpu() {
    let Some((dir, lib)) = fake(&[]) else { return };
    let lost = dir.path().join("gpu1-lost");
    let log = dir.path().join("calls.log");
    let conf = config(
        dir.path(),
        &format!(
            "{TWO_GPUS}gpu0.xid 79,79,48\ngpu1.xid 13\ngpu1.lost_file {}\nlog {}\n",
            lost.display(),
            log.display()
        ),
    );
    let port = free_port();
    let _server = Process::spawn(
        "sysgauge-gpu serve",
        exporter(&lib, &conf)
            .args(["serve", "--web.listen-address"])
            .arg(format!("127.0.0.1:{port}")),
        &dir.path().join("serve.log"),
    );
    let url = format!("http://127.0.0.1:{port}/metrics");
    let a = "GPU-11111111-2222-3333-4444-555555555555";
    let b = "GPU-99999999-8888-7777-6666-555555555555";
    let scrape = || {
        let (status, body) = http_get(&url, &[]);
        (status == 200).then_some(body)
    };
    let xid79 = format!(r#"sysgauge_gpu_xid_errors_total{{uuid="{a}",xid="79"}}"#);
    let xid48 = format!(r#"sysgauge_gpu_xid_errors_total{{uuid="{a}",xid="48"}}"#);
    let xid13 = format!(r#"sysgauge_gpu_xid_errors_total{{uuid="{b}",xid="13"}}"#);
    let text = wait_for("four XIDs counted", Duration::from_secs(20), || {
        scrape().filter(|t| {
            sample(t, &xid48) == Some(1.0)
                && sample(t, &xid79) == Some(2.0)
                && sample(t, &xid13) == Some(1.0)
        })
    });
    assert_eq!(value(&text, "sysgauge_gpu_xid_listener_up"), 1.0);
    assert!(text.contains("# TYPE sysgauge_gpu_xid_errors_total counter"));
    // When the last XID was seen: within this test's run, and only for the GPU that had them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for (uuid, xid) in [(a, "79"), (a, "48"), (b, "13")] {
        let last = value(
            &text,
            &format!(r#"sysgauge_gpu_xid_last_timestamp_seconds{{uuid="{uuid}",xid="{xid}"}}"#),
        );
        assert!(last <= now && last > now - 60.0, "{last} vs {now}");
    }
    assert_eq!(
        text.matches("sysgauge_gpu_xid_last_timestamp_seconds{")
            .count(),
        3
    );
    // The check reads them from this serve instance: hardware-class XIDs (79, 48) within the
    // last 15 minutes are CRITICAL, an application-class one (13) a WARNING.
    let out =
        run(Command::new(BIN).args(["check", "-k", "xid-hardware", "-k", "xid", "--from", &url]));
    let checked = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{checked}");
    assert_eq!(
        checked,
        format!(
            "SYSGAUGE-GPU CRITICAL - 2 critical, 1 warning of 3: xid-hardware {a} 79 2, \
             xid-hardware {a} 48 1, xid {b} 13 1 (from {url}) | 'xid-hardware'=2;;;0;2 'xid'=1;;;0;1\n\
             CRITICAL: xid-hardware {a} 79 = 2 (critical outside ~:0)\n\
             CRITICAL: xid-hardware {a} 48 = 1 (critical outside ~:0)\n\
             WARNING: xid {b} 13 = 1 (warning outside ~:0)\n"
        )
    );
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_lost{{index="1",uuid="{b}"}}"#)
        ),
        0.0
    );
    assert_eq!(
        log_lines(&log, "init"),
        1,
        "one session serves many scrapes"
    );

    // GPU 1 falls off the bus.
    std::fs::write(&lost, "").unwrap();
    let text = scrape().unwrap();
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_lost{{index="1",uuid="{b}"}}"#)
        ),
        1.0
    );
    assert_eq!(
        value(&text, r#"sysgauge_gpu_collector_success{collector="gpus"}"#),
        1.0
    );
    absent(
        &text,
        &format!(r#"sysgauge_gpu_temperature_celsius{{uuid="{b}"}}"#),
    );
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_temperature_celsius{{uuid="{a}"}}"#)
        ),
        61.0
    );
    // The session ends: the XID listener lets go and NVML is shut down.
    wait_for(
        "nvmlShutdown after the lost GPU",
        Duration::from_secs(10),
        || (log_lines(&log, "shutdown") == 1).then_some(()),
    );
    assert_eq!(log_lines(&log, "event_set_free"), 1);

    // While it is still lost, each scrape starts a new session and reports it lost again.
    let text = scrape().unwrap();
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_lost{{index="1",uuid="{b}"}}"#)
        ),
        1.0
    );
    assert_eq!(log_lines(&log, "init"), 2);

    // It comes back.
    std::fs::remove_file(&lost).unwrap();
    let text = wait_for("GPU 1 back", Duration::from_secs(10), || {
        scrape().filter(|t| {
            sample(t, &format!(r#"sysgauge_gpu_lost{{index="1",uuid="{b}"}}"#)) == Some(0.0)
        })
    });
    assert_eq!(
        value(
            &text,
            &format!(r#"sysgauge_gpu_temperature_celsius{{uuid="{b}"}}"#)
        ),
        40.0
    );
    assert_eq!(value(&text, "sysgauge_gpu_xid_listener_up"), 1.0);
    // The counts of the first session are kept and nothing is delivered twice.
    assert_eq!(value(&text, &xid79), 2.0);
    assert_eq!(value(&text, &xid48), 1.0);
    assert_eq!(log_lines(&log, "event_delivered"), 4);
}
