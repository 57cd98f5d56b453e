#!/usr/bin/env bash
# sysgauge-systemd against node_exporter's systemd collector, over the same 1,000 units of the
# same real systemd 252 (booted in namespaces on an overlay root by the testkit's
# boot-systemd example; needs root, see shared/reference/real-systemd.md).
#
# Figures: wall time of `once` (process start, connect, collect, print) and of one HTTP scrape
# of each long-running exporter, the collection time each reports about itself, and peak RSS.
# Run as root, sysgauge-systemd talks to systemd's private socket by default; the "system bus"
# row is the same collection through dbus-daemon, as the shipped non-root unit does it.
# Goals (issue 3): >= 3x faster than node_exporter, < 100 ms for 1,000 units, < 20 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
UNITS=${UNITS:-1000}
RUNS=${RUNS:-20}

for tool in hyperfine curl jq prometheus-node-exporter nsenter; do
  command -v "$tool" >/dev/null || { echo "bench/systemd.sh: $tool is missing (scripts/install-test-deps)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "bench/systemd.sh: booting systemd in namespaces needs root" >&2; exit 1; }

# The workspace as shipped: a build of one package resolves other features and rebuilds.
cargo build --release -q --workspace
cargo build -q -p sysgauge-testkit --example boot-systemd
BIN=$PWD/target/release/sysgauge-systemd
NODE=$(command -v prometheus-node-exporter)

# The container lives as long as the boot-systemd's stdin stays open.
coproc BOOT { exec target/debug/examples/boot-systemd "$UNITS"; }
trap 'exec {BOOT[1]}>&-; wait "$BOOT_PID" 2>/dev/null || true' EXIT
read -r _ PID <&"${BOOT[0]}"
inside() { nsenter -t "$PID" -a -r -w "$@"; }
OUT=$(mktemp -d /var/tmp/sysgauge-bench-systemd.XXXXXX)
trap 'exec {BOOT[1]}>&-; wait "$BOOT_PID" 2>/dev/null || true; rm -rf "$OUT"' EXIT

INCLUDE='bench-[0-9]+\.service'
BUS=unix:path=/run/dbus/system_bus_socket
inside "$BIN" --unit-include "$INCLUDE" serve --web.listen-address 127.0.0.1:9863 >"$OUT/sg.log" 2>&1 &
# The shipped unit's way: another user than root, so through dbus-daemon, keeping what it read
# of each unit until systemd signals a change.
inside setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$BIN" --unit-include "$INCLUDE" serve --web.listen-address 127.0.0.1:9867 >"$OUT/sg-bus.log" 2>&1 &
inside "$NODE" --collector.disable-defaults --collector.systemd \
  --collector.systemd.unit-include "$INCLUDE" \
  --collector.systemd.enable-task-metrics --collector.systemd.enable-restarts-metrics \
  --collector.systemd.enable-start-time-metrics \
  --web.listen-address 127.0.0.1:9100 >"$OUT/ne.log" 2>&1 &
for url in http://127.0.0.1:9863/metrics http://127.0.0.1:9867/metrics http://127.0.0.1:9100/metrics; do
  for _ in $(seq 100); do inside curl -sf -o /dev/null "$url" && break; sleep 0.1; done
done

sg_units=$(inside curl -s http://127.0.0.1:9863/metrics | grep -c '^sysgauge_systemd_unit_info{')
ne_units=$(inside curl -s http://127.0.0.1:9100/metrics | grep '^node_systemd_unit_state{' | grep -c 'state="active"')
echo "units reported: sysgauge $sg_units, node_exporter $ne_units"

# A state directory, as the shipped textfile unit has: the boot's slowest units are read once.
inside mkdir -p /var/tmp/sg-state
inside hyperfine -N --warmup 3 --runs "$RUNS" --export-json /bench.json \
  -n "sysgauge-systemd once" "$BIN --unit-include $INCLUDE once" \
  -n "sysgauge-systemd once, system bus" "$BIN --bus-address $BUS --unit-include $INCLUDE once" \
  -n "sysgauge-systemd once, state directory" "env STATE_DIRECTORY=/var/tmp/sg-state $BIN --unit-include $INCLUDE once" \
  -n "sysgauge-systemd serve, one scrape" "curl -sf -o /dev/null http://127.0.0.1:9863/metrics" \
  -n "sysgauge-systemd serve, non-root, one scrape" "curl -sf -o /dev/null http://127.0.0.1:9867/metrics" \
  -n "node_exporter --collector.systemd, one scrape" "curl -sf -o /dev/null http://127.0.0.1:9100/metrics" \
  >"$OUT/hyperfine.txt"
cp "$(printf /proc/%s/root/bench.json "$PID")" "$OUT/bench.json"
jq -r '.results[] | "\(.command): mean \(.mean * 1000 | floor) ms, median \(.median * 1000 | floor) ms, min \(.min * 1000 | floor) ms"' "$OUT/bench.json"

# Self-reported collection times, median of 10 scrapes each: per scrape the slowest of the
# collectors (units, states, boot), which run at once on one connection.
slowest_collector() { awk '/^sysgauge_systemd_collector_duration_seconds/ {if ($2 > m) m = $2} END {print m}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
collect() { for _ in $(seq 10); do inside curl -s "$1" | slowest_collector; done | median; }
sg_collect=$(collect http://127.0.0.1:9863/metrics)
nr_collect=$(collect http://127.0.0.1:9867/metrics)
ne_collect=$(for _ in $(seq 10); do inside curl -s http://127.0.0.1:9100/metrics | awk '/^node_scrape_collector_duration_seconds\{collector="systemd"\}/ {print $2}'; done | median)

once_rss=$(inside /usr/bin/time -f %M "$BIN" --unit-include "$INCLUDE" once 2>&1 >/dev/null | tail -1)
bus_rss=$(inside /usr/bin/time -f %M "$BIN" --bus-address "$BUS" --unit-include "$INCLUDE" once 2>&1 >/dev/null | tail -1)
sg_once=$(inside "$BIN" --unit-include "$INCLUDE" once | slowest_collector)
bus_once=$(inside "$BIN" --bus-address "$BUS" --unit-include "$INCLUDE" once | slowest_collector)
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
sg_pid=$(pgrep -f "^$BIN --unit-include .* serve --web.listen-address 127.0.0.1:9863" | head -1)
nr_pid=$(pgrep -f "^$BIN --unit-include .* serve --web.listen-address 127.0.0.1:9867" | head -1)
ne_pid=$(pgrep -f "^$NODE --collector.disable-defaults --collector.systemd" | head -1)
sg_rss=$(hwm "$sg_pid"); nr_rss=$(hwm "$nr_pid"); ne_rss=$(hwm "$ne_pid")

calc() { awk "BEGIN {print $1}"; }
# Medians: on a shared machine a few runs stall on other processes and skew the mean.
mean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$OUT/bench.json"; }
once_ms=$(mean "sysgauge-systemd once")
bus_ms=$(mean "sysgauge-systemd once, system bus")
state_ms=$(mean "sysgauge-systemd once, state directory")
sg_ms=$(mean "sysgauge-systemd serve, one scrape")
nr_ms=$(mean "sysgauge-systemd serve, non-root, one scrape")
ne_ms=$(mean "node_exporter --collector.systemd, one scrape")

echo
echo "systemd: $UNITS units, $RUNS runs each (hyperfine medians; collection = the exporter's own figure, median of 10)"
printf '%-46s %12s %14s %14s\n' "" "wall ms" "collection ms" "peak RSS KiB"
printf '%-46s %12.1f %14.1f %14s\n' "sysgauge-systemd once" "$once_ms" "$(calc "$sg_once*1000")" "$once_rss"
printf '%-46s %12.1f %14.1f %14s\n' "sysgauge-systemd once, system bus" "$bus_ms" "$(calc "$bus_once*1000")" "$bus_rss"
printf '%-46s %12.1f %14s %14s\n' "sysgauge-systemd once, state directory" "$state_ms" "" ""
printf '%-46s %12.1f %14.1f %14s\n' "sysgauge-systemd serve, one scrape" "$sg_ms" "$(calc "$sg_collect*1000")" "$sg_rss"
printf '%-46s %12.1f %14.1f %14s\n' "sysgauge-systemd serve, non-root, one scrape" "$nr_ms" "$(calc "$nr_collect*1000")" "$nr_rss"
printf '%-46s %12.1f %14.1f %14s\n' "node_exporter --collector.systemd, one scrape" "$ne_ms" "$(calc "$ne_collect*1000")" "$ne_rss"
printf 'ratio node_exporter / sysgauge: scrape %.1fx, collection %.1fx, peak RSS %.1fx; once on the system bus: wall %.1fx\n' \
  "$(calc "$ne_ms/$sg_ms")" "$(calc "$ne_collect/$sg_collect")" "$(calc "$ne_rss/$sg_rss")" "$(calc "$ne_ms/$bus_ms")"
printf 'ratio node_exporter / sysgauge serve as non-root (system bus, units kept until systemd signals a change): scrape %.1fx, collection %.1fx, peak RSS %.1fx\n' \
  "$(calc "$ne_ms/$nr_ms")" "$(calc "$ne_collect/$nr_collect")" "$(calc "$ne_rss/$nr_rss")"
