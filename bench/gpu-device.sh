#!/usr/bin/env bash
# sysgauge-gpu against nvidia-smi and pynvml on a host with a real NVIDIA GPU, under load.
#
#   bench/gpu-device.sh /path/to/release/sysgauge-gpu        (results under $OUT, default ./out)
#
# Needs: the NVIDIA driver, python3 with torch (the load) and pynvml (GPM for comparison);
# nvidia-smi is compared against when present (without it, the script says so and still runs
# sysgauge's part). It builds nothing and changes no GPU setting (MIG mode, clocks, limits are
# left as they are). Ends in about a minute: the load's start waits at most 60 s, the sampling
# 30 s, each timed run 5 s, and timing stops 150 s after the start.
#
# 1. A torch load in the background: holds 20 GiB, runs bf16 8192x8192 matmuls and, on a second
#    stream, host-to-device copies from pinned memory, for at most 40 s; it prints the H2D rate
#    it achieves every second (a known PCIe rate to check NVML's PCIe unit against).
# 2. Once it runs, at the same moment: `sysgauge-gpu once` (per-process series on, GPM window
#    1 s), `nvidia-smi --query-gpu=...`, `--query-compute-apps`, `nvidia-smi -q`, and pynvml's
#    GPM metrics over 1 s.
# 3. 10 timed runs of each tool, then the load is stopped.
# 4. A comparison table: nvidia-smi's value and unit, sysgauge's in base units, match or not
#    (with a tolerance for fast-moving values).
#
# Files under $OUT (6): sysgauge.prom, smi-gpu.csv, smi-apps.csv, smi-q.txt, pynvml-gpm.json,
# report.txt (load log, stderr, timings, the table).
set -u
BIN=${1:?usage: $0 /path/to/sysgauge-gpu}
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPORT=$OUT/report.txt
: >"$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }
now_us() { echo "${EPOCHREALTIME/./}"; }  # microseconds, without starting a process
ms_since() { local d=$(($(now_us) - $1)); printf '%d.%03d' $((d / 1000)) $((d % 1000)); }
START=$(now_us)

[ -x "$BIN" ] || { say "not executable: $BIN"; exit 2; }
SMI=$(command -v nvidia-smi || true)
[ -n "$SMI" ] || say "nvidia-smi: not found; comparing sysgauge with pynvml only"
python3 -c 'import pynvml' 2>/dev/null && PYNVML=1 || { PYNVML=0; say "pynvml: not importable; no GPM comparison"; }
python3 -c 'import torch' 2>/dev/null && TORCH=1 || { TORCH=0; say "torch: not importable; no load (idle GPU)"; }
say "sysgauge-gpu: $("$BIN" --version 2>&1 | head -1)"

# --- 1. the load ---
cat >"$WORK/load.py" <<'PY'
import os, sys, time
import torch
duration = float(sys.argv[1])
dev = "cuda"
hold = torch.empty(20 * 2**30, dtype=torch.uint8, device=dev)  # 20 GiB held
a = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
b = torch.randn(8192, 8192, dtype=torch.bfloat16, device=dev)
src = torch.empty(256 * 2**20, dtype=torch.uint8).pin_memory()
dst = torch.empty(256 * 2**20, dtype=torch.uint8, device=dev)
copies = torch.cuda.Stream()
c = a @ b
dst.copy_(src)
torch.cuda.synchronize()
print(f"RUNNING pid={os.getpid()}", flush=True)
end = time.time() + duration
copied, last = 0, time.time()
while time.time() < end:
    for _ in range(16):
        c = a @ b
    with torch.cuda.stream(copies):
        for _ in range(8):
            dst.copy_(src, non_blocking=True)
    copied += 8 * src.numel()
    torch.cuda.synchronize()
    now = time.time()
    if now - last >= 1.0:
        print(f"h2d_bytes_per_second={copied / (now - last):.0f}", flush=True)
        copied, last = 0, now
print("DONE", flush=True)
PY
LOAD_PID=
if [ "$TORCH" = 1 ]; then
  timeout 60 python3 "$WORK/load.py" 40 >"$WORK/load.log" 2>&1 &
  LOAD_PID=$!
  say "load: started (shell pid $LOAD_PID), waiting for torch and CUDA to initialise"
  for _ in $(seq 1 600); do  # up to 60 s
    grep -q '^RUNNING' "$WORK/load.log" 2>/dev/null && break
    kill -0 "$LOAD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if grep -q '^RUNNING' "$WORK/load.log"; then
    say "load: $(grep '^RUNNING' "$WORK/load.log")"
    sleep 2  # a second of steady load, and a first H2D rate line
  else
    say "load: did not start:"; tail -20 "$WORK/load.log" | tee -a "$REPORT"
  fi
fi

# --- 2. everything at the same moment ---
cat >"$WORK/gpu.toml" <<'TOML'
[nvml]
processes = true
gpm_window = "1s"
TOML
cat >"$WORK/gpm.py" <<'PY'
import json, sys, time
import pynvml as n
IDS = {1: "graphics_util", 2: "sm_util", 3: "sm_occupancy", 5: "any_tensor_util",
       10: "dram_bw_util", 20: "pcie_tx_per_sec", 21: "pcie_rx_per_sec"}
n.nvmlInit()
h = n.nvmlDeviceGetHandleByIndex(0)
out = {}
try:
    out["supported"] = int(n.nvmlGpmQueryDeviceSupport(h).isSupportedDevice)
    s1, s2 = n.nvmlGpmSampleAlloc(), n.nvmlGpmSampleAlloc()
    n.nvmlGpmSampleGet(h, s1)
    t0 = time.monotonic()
    time.sleep(1.0)
    n.nvmlGpmSampleGet(h, s2)
    out["interval_seconds"] = time.monotonic() - t0
    g = n.c_nvmlGpmMetricsGet_t()
    g.version = n.NVML_GPM_METRICS_GET_VERSION
    g.numMetrics = len(IDS)
    g.sample1, g.sample2 = s1, s2
    for i, m in enumerate(IDS):
        g.metrics[i].metricId = m
    n.nvmlGpmMetricsGet(g)
    for i, (m, name) in enumerate(IDS.items()):
        r = g.metrics[i]
        info = getattr(r, "metricInfo", None)
        unit = getattr(info, "unit", None) if info is not None else None
        out[name] = {"id": m, "return": int(r.nvmlReturn), "value": r.value,
                     "unit": unit.decode() if isinstance(unit, bytes) else unit}
    n.nvmlGpmSampleFree(s1)
    n.nvmlGpmSampleFree(s2)
except Exception as e:  # noqa: BLE001 (a report, not a program)
    out["error"] = repr(e)
json.dump(out, sys.stdout, indent=1)
PY
QUERY=index,uuid,name,pci.bus_id,driver_version,pstate,utilization.gpu,utilization.memory,utilization.encoder,utilization.decoder,memory.total,memory.used,memory.free,memory.reserved,temperature.gpu,temperature.memory,power.draw,power.draw.instant,power.limit,enforced.power.limit,power.default_limit,power.min_limit,power.max_limit,clocks.gr,clocks.sm,clocks.mem,clocks.video,clocks.max.gr,clocks.max.sm,clocks.max.mem,pcie.link.gen.current,pcie.link.gen.max,pcie.link.width.current,pcie.link.width.max,ecc.errors.corrected.volatile.total,ecc.errors.uncorrected.volatile.total,ecc.errors.corrected.aggregate.total,ecc.errors.uncorrected.aggregate.total,retired_pages.single_bit_ecc.count,retired_pages.double_bit.count,retired_pages.pending,remapped_rows.correctable,remapped_rows.uncorrectable,remapped_rows.pending,remapped_rows.failure,mig.mode.current,fan.speed,clocks_event_reasons.active,clocks_throttle_reasons.active
if [ -n "$SMI" ]; then
  # An unknown field fails the whole query: keep those this nvidia-smi knows.
  timeout 20 "$SMI" --help-query-gpu >"$WORK/help.txt" 2>&1
  KNOWN=
  for f in ${QUERY//,/ }; do
    grep -q "\"$f\"" "$WORK/help.txt" && KNOWN=${KNOWN:+$KNOWN,}$f
  done
  QUERY=$KNOWN
fi
T0=$(now_us)
timeout 30 "$BIN" --config "$WORK/gpu.toml" once >"$OUT/sysgauge.prom" 2>"$WORK/sysgauge.err" &
P_SG=$!
P_GPM=
if [ "$PYNVML" = 1 ]; then
  timeout 30 python3 "$WORK/gpm.py" >"$OUT/pynvml-gpm.json" 2>"$WORK/gpm.err" &
  P_GPM=$!
fi
P_SMI=
if [ -n "$SMI" ]; then
  timeout 30 "$SMI" --query-gpu="$QUERY" --format=csv >"$OUT/smi-gpu.csv" 2>&1 &
  P_SMI="$! "
  timeout 30 "$SMI" --query-compute-apps=pid,used_memory --format=csv >"$OUT/smi-apps.csv" 2>&1 &
  P_SMI+="$! "
  timeout 30 "$SMI" -q >"$OUT/smi-q.txt" 2>&1 &
  P_SMI+="$!"
fi
wait "$P_SG"
RC_SG=$?
# $P_GPM and $P_SMI are deliberately unquoted: none, one or three pids.
# shellcheck disable=SC2086
wait $P_GPM $P_SMI
say "sysgauge-gpu once: exit status $RC_SG"
say "sampling: all tools done in $(ms_since "$T0") ms (sysgauge's GPM window: 1 s)"
say "--- sysgauge stderr ---"; cat "$WORK/sysgauge.err" >>"$REPORT"
[ -s "$WORK/gpm.err" ] 2>/dev/null && { say "--- pynvml stderr ---"; cat "$WORK/gpm.err" >>"$REPORT"; }

# --- 3. 10 timed runs of each ---
cat >"$WORK/default.toml" <<'TOML'
[nvml]
TOML
cat >"$WORK/nogpm.toml" <<'TOML'
[nvml]
gpm = false
TOML
timed() {  # label, command...: the median and max of 10 runs, in ms
  local label=$1; shift
  local times=() t
  # The whole script stays under 3 minutes: timing stops at 150 s.
  if (($(now_us) - START > 150000000)); then
    say "$label: skipped, past 150 s"
    return
  fi
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    t=$(now_us)
    timeout 5 "$@" >/dev/null 2>&1
    times+=("$(ms_since "$t")")
  done
  python3 - "$label" "${times[@]}" <<'PY' | tee -a "$REPORT"
import statistics, sys
t = sorted(float(x) for x in sys.argv[2:])
print(f"{sys.argv[1]:<48} median {statistics.median(t):8.1f} ms  max {t[-1]:8.1f} ms")
PY
}
say "--- 10 runs each (wall time) ---"
timed "sysgauge-gpu once (defaults: GPM 200 ms window)" "$BIN" --config "$WORK/default.toml" once
timed "sysgauge-gpu once (gpm = false)" "$BIN" --config "$WORK/nogpm.toml" once
if [ -n "$SMI" ]; then
  timed "nvidia-smi --query-gpu (same fields)" "$SMI" --query-gpu="$QUERY" --format=csv
  timed "nvidia-smi -q" "$SMI" -q
fi

# --- the load ends ---
if [ -n "$LOAD_PID" ]; then
  kill "$LOAD_PID" 2>/dev/null
  wait "$LOAD_PID" 2>/dev/null
  say "--- load log ---"; cat "$WORK/load.log" >>"$REPORT"
fi

# --- 4. the comparison ---
cat >"$WORK/compare.py" <<'PY'
import csv, json, os, re, sys
out = sys.argv[1]
def read(name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read()
    except OSError:
        return ""
prom = {}
for line in read("sysgauge.prom").splitlines():
    m = re.match(r'^([a-z_:]+)(\{(.*)\})? (\S+)$', line)
    if m:
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        prom.setdefault(m.group(1), []).append((labels, float(m.group(4))))
def sg(name, **want):
    for labels, v in prom.get(name, []):
        if all(labels.get(k) == w for k, w in want.items()):
            return v
    return None
smi = {}
rows = list(csv.reader(read("smi-gpu.csv").splitlines(), skipinitialspace=True))
if len(rows) >= 2 and len(rows[0]) == len(rows[1]):
    for head, value in zip(rows[0], rows[1]):
        field, _, unit = head.partition(" [")
        smi[field] = (value, unit.rstrip("]"))
q = read("smi-q.txt")
uuid = smi.get("uuid", (None,))[0] or next((l["uuid"] for l, _ in prom.get("sysgauge_gpu_info", [])), "")
table = []
def row(field, smi_value, smi_unit, sg_value, sg_name, scale, tol_abs=0.0, tol_rel=0.0):
    """smi_value in smi_unit; scale converts it to sysgauge's base unit."""
    if sg_value is None or smi_value is None:
        table.append((field, f"{smi_value} {smi_unit}", str(sg_value), sg_name, "n/a"))
        return
    want = smi_value * scale
    ok = abs(sg_value - want) <= tol_abs + tol_rel * abs(want)
    table.append((field, f"{smi_value:g} {smi_unit}", f"{sg_value:g}", sg_name, "yes" if ok else "NO"))
def num(field):
    v = smi.get(field, (None, ""))[0]
    if v is None:
        return None, ""
    m = re.match(r"^\s*([-+0-9.]+)", v)
    if field == "pstate" and v.startswith("P"):
        return float(v[1:]), "P-state"
    if v in ("Enabled", "Disabled"):
        return float(v == "Enabled"), v
    return (float(m.group(1)) if m else None), smi[field][1] or v
U = {"uuid": uuid}
cases = [
    ("memory.total", "sysgauge_gpu_memory_total_bytes", {}, 2**20, 0, 0),
    ("memory.used", "sysgauge_gpu_memory_used_bytes", {}, 2**20, 2 * 2**20, 0.01),
    ("memory.free", "sysgauge_gpu_memory_free_bytes", {}, 2**20, 2 * 2**20, 0.01),
    ("utilization.gpu", "sysgauge_gpu_utilization_ratio", {}, 0.01, 0.15, 0),
    ("utilization.memory", "sysgauge_gpu_memory_utilization_ratio", {}, 0.01, 0.15, 0),
    ("temperature.gpu", "sysgauge_gpu_temperature_celsius", {}, 1, 2, 0),
    ("temperature.memory", "sysgauge_gpu_memory_temperature_celsius", {}, 1, 2, 0),
    ("power.draw", "sysgauge_gpu_power_draw_watts", {}, 1, 0, 0.2),
    ("power.limit", "sysgauge_gpu_power_limit_watts", {}, 1, 0.5, 0),
    ("enforced.power.limit", "sysgauge_gpu_power_limit_enforced_watts", {}, 1, 0.5, 0),
    ("power.default_limit", "sysgauge_gpu_power_limit_default_watts", {}, 1, 0.5, 0),
    ("power.min_limit", "sysgauge_gpu_power_limit_min_watts", {}, 1, 0.5, 0),
    ("power.max_limit", "sysgauge_gpu_power_limit_max_watts", {}, 1, 0.5, 0),
    ("clocks.gr", "sysgauge_gpu_clock_hertz", {"clock": "graphics"}, 1e6, 0, 0.05),
    ("clocks.sm", "sysgauge_gpu_clock_hertz", {"clock": "sm"}, 1e6, 0, 0.05),
    ("clocks.mem", "sysgauge_gpu_clock_hertz", {"clock": "memory"}, 1e6, 0, 0.01),
    ("clocks.video", "sysgauge_gpu_clock_hertz", {"clock": "video"}, 1e6, 0, 0.05),
    ("clocks.max.gr", "sysgauge_gpu_clock_max_hertz", {"clock": "graphics"}, 1e6, 0, 0),
    ("clocks.max.sm", "sysgauge_gpu_clock_max_hertz", {"clock": "sm"}, 1e6, 0, 0),
    ("clocks.max.mem", "sysgauge_gpu_clock_max_hertz", {"clock": "memory"}, 1e6, 0, 0),
    ("pstate", "sysgauge_gpu_performance_state", {}, 1, 0, 0),
    ("pcie.link.gen.current", "sysgauge_gpu_pcie_link_generation", {}, 1, 0, 0),
    ("pcie.link.gen.max", "sysgauge_gpu_pcie_link_max_generation", {}, 1, 0, 0),
    ("pcie.link.width.current", "sysgauge_gpu_pcie_link_width", {}, 1, 0, 0),
    ("pcie.link.width.max", "sysgauge_gpu_pcie_link_max_width", {}, 1, 0, 0),
    ("ecc.errors.corrected.aggregate.total", "sysgauge_gpu_ecc_errors_total", {"type": "corrected"}, 1, 0, 0),
    ("ecc.errors.uncorrected.aggregate.total", "sysgauge_gpu_ecc_errors_total", {"type": "uncorrected"}, 1, 0, 0),
    ("ecc.errors.corrected.volatile.total", "sysgauge_gpu_ecc_volatile_errors_total", {"type": "corrected"}, 1, 0, 0),
    ("ecc.errors.uncorrected.volatile.total", "sysgauge_gpu_ecc_volatile_errors_total", {"type": "uncorrected"}, 1, 0, 0),
    ("remapped_rows.correctable", "sysgauge_gpu_remapped_rows_total", {"cause": "correctable"}, 1, 0, 0),
    ("remapped_rows.uncorrectable", "sysgauge_gpu_remapped_rows_total", {"cause": "uncorrectable"}, 1, 0, 0),
    ("remapped_rows.pending", "sysgauge_gpu_remapped_rows_pending", {}, 1, 0, 0),
    ("remapped_rows.failure", "sysgauge_gpu_remapped_rows_failed", {}, 1, 0, 0),
    ("mig.mode.current", "sysgauge_gpu_mig_enabled", {}, 1, 0, 0),
]
if smi:
    for field, name, labels, scale, ta, tr in cases:
        v, unit = num(field)
        row(field, v, unit, sg(name, **U, **labels), name, scale, ta, tr)
    # nvidia-smi -q's PCIe throughput ("KB/s"), and the unit sysgauge assumes (1024 bytes).
    for d, name in (("Tx", "sysgauge_gpu_pcie_transmit_bytes_per_second"), ("Rx", "sysgauge_gpu_pcie_receive_bytes_per_second")):
        m = re.search(rf"{d} Throughput\s*:\s*([0-9]+)\s*(\S+)", q)
        if m:
            row(f"-q {d} Throughput (x1024)", float(m.group(1)), m.group(2), sg(name, **U), name, 1024, 0, 0.5)
    # Processes: --query-compute-apps against the per-process series.
    apps = list(csv.reader(read("smi-apps.csv").splitlines(), skipinitialspace=True))[1:]
    for app in apps:
        if len(app) >= 2 and app[0].isdigit():
            m = re.match(r"([0-9]+)", app[1])
            row(f"process {app[0]} used_memory", float(m.group(1)) if m else None, "MiB",
                sg("sysgauge_gpu_process_memory_used_bytes", uuid=uuid, pid=app[0]),
                "sysgauge_gpu_process_memory_used_bytes", 2**20, 0, 0)
# GPM: pynvml over 1 s against sysgauge's (GPM window 1 s, started at the same moment).
gpm = {}
try:
    gpm = json.loads(read("pynvml-gpm.json") or "{}")
except ValueError:
    pass
for key, name in (("graphics_util", "sysgauge_gpu_graphics_activity_ratio"),
                  ("sm_util", "sysgauge_gpu_sm_activity_ratio"),
                  ("sm_occupancy", "sysgauge_gpu_sm_occupancy_ratio"),
                  ("any_tensor_util", "sysgauge_gpu_tensor_activity_ratio"),
                  ("dram_bw_util", "sysgauge_gpu_dram_bandwidth_utilization_ratio")):
    r = gpm.get(key)
    if isinstance(r, dict) and r.get("return") == 0:
        row(f"GPM {key} (pynvml, 1 s)", r["value"], r.get("unit") or "%", sg(name, **U), name, 0.01, 0.10, 0)
w = 22
print(f"{'field':<40} {'nvidia-smi / pynvml':<{w}} {'sysgauge':<{w}} {'series':<48} match")
for f, a, b, n, ok in table:
    print(f"{f:<40} {a:<{w}} {b:<{w}} {n:<48} {ok}")
print()
print("sysgauge GPM interval:", sg("sysgauge_gpu_gpm_interval_seconds", **U), "s; pynvml:", gpm.get("interval_seconds"))
for key in ("pcie_tx_per_sec", "pcie_rx_per_sec"):
    r = gpm.get(key)
    if isinstance(r, dict):
        print(f"pynvml GPM {key}: {r.get('value')} (unit {r.get('unit')!r}, return {r.get('return')})")
print("units:", [(l.get("unit"), v) for l, v in prom.get("sysgauge_gpu_unit_memory_used_bytes", [])])
print("process units:", [(l.get("pid"), l.get("unit"), l.get("process_name")) for l, _ in prom.get("sysgauge_gpu_process_memory_used_bytes", [])])
rates = [int(x) for x in re.findall(r"h2d_bytes_per_second=([0-9]+)", sys.stdin.read())]
rx = sg("sysgauge_gpu_pcie_receive_bytes_per_second", **U)
if rates and rx:
    # The load's measured host-to-device rate against NVML's rx counter read as KiB/s (x1024)
    # and as kB/s (x1000): the ratio nearer 1 tells the unit, if the copies dominate PCIe rx.
    mid = sorted(rates)[len(rates) // 2]
    raw = rx / 1024  # NVML's own number
    print(f"PCIe rx: load measured {mid:.4g} B/s (median of {len(rates)} 1-s windows); NVML rx counter {raw:.6g}; "
          f"one NVML unit = {mid / raw:.5g} bytes if the copies are all of rx "
          f"(1000: kB/s, 1024: KiB/s, ~1e6: MB/s as NVIDIA/nvidia-settings#114 suggests)")
mismatches = sum(1 for t in table if t[4] == "NO")
print(f"{len(table)} rows compared, {mismatches} mismatches")
PY
say "--- comparison (GPU 0) ---"
cat "$WORK/load.log" 2>/dev/null | python3 "$WORK/compare.py" "$OUT" 2>&1 | tee -a "$REPORT"
say "total: $(ms_since "$START") ms"
ls -l "$OUT" | tee -a "$REPORT" >/dev/null
