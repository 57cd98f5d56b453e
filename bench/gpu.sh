#!/usr/bin/env bash
# sysgauge-gpu textfile against the fake libnvidia-ml with 8 GPUs, and the overhead of the
# process itself (the same run on a host without a driver, where NVML is never initialised).
# On a host with a real GPU the peer is one `nvidia-smi --query-gpu=... --format=csv` per run;
# set NVIDIA_SMI=1 there to add that row (this machine has no GPU, so it is off by default).
source "$(dirname "$0")/lib.sh"
BIN=$(release_bin gpu)
OUT=$WORK/textfile
mkdir -p "$OUT"
LIB=$WORK/libnvidia-ml.so.1
gcc -shared -fPIC -O2 -Wl,-z,nodelete -o "$LIB" "$ROOT/exporters/gpu/tests/fake-nvml/fake_nvml.c"

# Eight fully populated GPUs.
{
  echo "driver_version 550.54.15"; echo "nvml_version 12.550.54.15"; echo "cuda_version 12040"
  echo "gpus 8"
  for i in 0 1 2 3 4 5 6 7; do
    cat <<GPU
gpu$i.uuid GPU-0000000$i-1111-2222-3333-444444444444
gpu$i.name NVIDIA H100 80GB HBM3
gpu$i.pci_bus_id 00000000:$((16 + i))0:00.0
gpu$i.util_gpu $((10 * i))
gpu$i.util_memory $((5 * i))
gpu$i.enc_util 0
gpu$i.dec_util 0
gpu$i.mem_total 85899345920
gpu$i.mem_free 80000000000
gpu$i.mem_used 5899345920
gpu$i.temperature $((40 + i))
gpu$i.power_usage $((100000 + 1000 * i))
gpu$i.power_limit 700000
gpu$i.enforced_power_limit 700000
gpu$i.energy $((123456789 * (i + 1)))
gpu$i.fans 1
gpu$i.fan0 30
gpu$i.clock_graphics 1980
gpu$i.clock_sm 1980
gpu$i.clock_mem 2619
gpu$i.clock_video 1545
gpu$i.pcie_tx 1000
gpu$i.pcie_rx 2000
gpu$i.ecc_corrected 0
gpu$i.ecc_uncorrected 0
gpu$i.throttle 0x1
gpu$i.throttle_supported 0x1ff
gpu$i.mig_current 0
gpu$i.processes 1:1048576,2:2097152
GPU
  done
} > "$WORK/fake.conf"
export FAKE_NVML_CONFIG=$WORK/fake.conf

# The same 8 GPUs with 50 processes each, attributed to systemd units. Two cases:
# - visible: 50 live processes of this user, the same ones on every GPU (each `/proc/PID/cgroup`
#   answers);
# - hidden: 400 PIDs no process has (above pid_max), so every `/proc` lookup fails and the
#   exporter walks the whole cgroup tree once per run, finding none: the worst case of the shipped
#   units, where `ProtectProc=invisible` hides the GPU's users.
pids=()
for _ in $(seq 50); do sleep 600 & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$WORK"' EXIT
visible=$(for p in "${pids[@]}"; do printf '%s:1048576,' "$p"; done)
cp "$WORK/fake.conf" "$WORK/visible.conf"
cp "$WORK/fake.conf" "$WORK/hidden.conf"
for i in 0 1 2 3 4 5 6 7; do
  echo "gpu$i.processes ${visible%,}" >> "$WORK/visible.conf"
  hidden=$(for k in $(seq 50); do printf '%s:1048576,' $((5000000 + 100 * i + k)); done)
  echo "gpu$i.processes ${hidden%,}" >> "$WORK/hidden.conf"
done
hierarchy=/sys/fs/cgroup
[ -d /sys/fs/cgroup/systemd ] && hierarchy=/sys/fs/cgroup/systemd
cgroups=$(find "$hierarchy" -name cgroup.procs 2>/dev/null | wc -l)
FAKE_NVML_CONFIG=$WORK/visible.conf
visible_ms=$(mean_ms "$BIN" --nvml.library "$LIB" textfile --directory "$OUT")
visible_kib=$(peak_kib "$BIN" --nvml.library "$LIB" textfile --directory "$OUT")
FAKE_NVML_CONFIG=$WORK/hidden.conf
hidden_ms=$(mean_ms "$BIN" --nvml.library "$LIB" textfile --directory "$OUT")
hidden_kib=$(peak_kib "$BIN" --nvml.library "$LIB" textfile --directory "$OUT")
FAKE_NVML_CONFIG=$WORK/fake.conf

gpu_ms=$(mean_ms "$BIN" --nvml.library "$LIB" textfile --directory "$OUT")
gpu_kib=$(peak_kib "$BIN" --nvml.library "$LIB" textfile --directory "$OUT")
series=$(grep -vc '^#' "$OUT/sysgauge-gpu.prom")
none_ms=$(mean_ms "$BIN" --nvml.library "$WORK/none/libnvidia-ml.so.1" textfile --directory "$OUT")
none_kib=$(peak_kib "$BIN" --nvml.library "$WORK/none/libnvidia-ml.so.1" textfile --directory "$OUT")
once_ms=$(mean_ms "$BIN" --nvml.library "$WORK/none/libnvidia-ml.so.1" once)
true_ms=$(mean_ms /bin/true)

echo "sysgauge-gpu textfile, fake NVML with 8 GPUs ($series series written)"
echo
row "run" "mean wall time" "peak RSS"
row "---" "---" "---"
row "textfile, 8 GPUs (fake NVML)" "$(printf '%.2f ms' "$gpu_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$gpu_kib/1024")")"
row "textfile, 8 GPUs × 50 processes, PIDs visible in /proc" "$(printf '%.2f ms' "$visible_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$visible_kib/1024")")"
row "textfile, 8 GPUs × 50 processes, PIDs hidden (cgroupfs walk, $cgroups cgroup.procs files)" "$(printf '%.2f ms' "$hidden_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$hidden_kib/1024")")"
row "textfile, no driver (process overhead)" "$(printf '%.2f ms' "$none_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$none_kib/1024")")"
row "once, no driver (no file, no fsync)" "$(printf '%.2f ms' "$once_ms")" "-"
row "/bin/true (process start)" "$(printf '%.2f ms' "$true_ms")" "-"
if [ "${NVIDIA_SMI:-0}" = 1 ] && command -v nvidia-smi >/dev/null; then
  q=uuid,utilization.gpu,utilization.memory,memory.used,memory.free,memory.total,temperature.gpu,power.draw,power.limit,clocks.sm,clocks.mem,clocks.gr
  smi_ms=$(mean_ms nvidia-smi "--query-gpu=$q" --format=csv,noheader,nounits)
  smi_kib=$(peak_kib nvidia-smi "--query-gpu=$q" --format=csv,noheader,nounits)
  row "nvidia-smi --query-gpu (real GPU)" "$(printf '%.2f ms' "$smi_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$smi_kib/1024")")"
fi
echo
printf 'NVML work for 8 GPUs: %.2f ms per run (%.0f%% of the run); the rest is the process itself,\n' \
  "$(bc -l <<<"$gpu_ms-$none_ms")" "$(bc -l <<<"100*($gpu_ms-$none_ms)/$gpu_ms")"
printf 'mostly the durable textfile write (fsync of file and directory: %.2f ms)\n' "$(bc -l <<<"$none_ms-$once_ms")"
