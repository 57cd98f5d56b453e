#!/usr/bin/env bash
# sysgauge-restic against the shell script it replaces: `restic snapshots --json | jq` per
# repository, written as a textfile. Three local repositories with 50 snapshots each (made once
# by the real restic and kept in $BENCH_DIR). Wall time via hyperfine, peak RSS via
# /usr/bin/time. Needs restic, jq, hyperfine, GNU time (scripts/install-test-deps).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-${TMPDIR:-/tmp}/sysgauge-bench-restic}
RUNS=${RUNS:-10}
for c in restic jq hyperfine /usr/bin/time; do
  command -v "$c" >/dev/null || { echo "bench/restic.sh: $c is not installed" >&2; exit 1; }
done
cargo build --release -q -p sysgauge-restic
bin=$PWD/target/release/sysgauge-restic

# Never let the caller's RESTIC_* variables reach the repositories made here.
for v in $(env | grep -o '^RESTIC_[A-Z_]*' || true); do unset "$v"; done
mkdir -p "$BENCH_DIR"
pw=$BENCH_DIR/password
[ -f "$pw" ] || echo "bench password" > "$pw"
if [ ! -f "$BENCH_DIR/repo3/config" ]; then
  echo "making three repositories with 50 snapshots each in $BENCH_DIR (once)..." >&2
  rm -rf "$BENCH_DIR"/repo1 "$BENCH_DIR"/repo2 "$BENCH_DIR"/repo3 "$BENCH_DIR"/data
  mkdir -p "$BENCH_DIR/data"
  RESTIC_PASSWORD_FILE=$pw restic -r "$BENCH_DIR/repo1" init -q
  for i in $(seq 1 50); do
    host=host$((i % 3)); tag=tag$((i % 2))
    echo "$i" > "$BENCH_DIR/data/file$((i % 7))"
    RESTIC_PASSWORD_FILE=$pw restic -r "$BENCH_DIR/repo1" backup -q --host "$host" --tag "$tag" \
      --time "2024-01-01 00:$(printf %02d $((i % 60))):00" "$BENCH_DIR/data"
  done
  cp -a "$BENCH_DIR/repo1" "$BENCH_DIR/repo2"
  cp -a "$BENCH_DIR/repo1" "$BENCH_DIR/repo3"
fi

out=$BENCH_DIR/out
mkdir -p "$out"
cat > "$BENCH_DIR/sysgauge.toml" <<TOML
[collector]
timeout = "60s"
$(for r in 1 2 3; do printf '[[repositories]]\nname = "repo%s"\nrepository = "%s"\npassword_file = "%s"\n' "$r" "$BENCH_DIR/repo$r" "$pw"; done)
TOML

# The peer: what "restic-metrics every six hours" scripts do, one repository after another.
cat > "$BENCH_DIR/restic-jq.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
export RESTIC_PASSWORD_FILE=$pw
tmp=\$(mktemp "$out/.restic-jq.XXXXXX")
for r in 1 2 3; do
  restic -r "$BENCH_DIR/repo\$r" snapshots --json --no-lock | jq -r --arg repo "repo\$r" '
    "restic_snapshots{repository=\"\(\$repo)\"} \(length)",
    (group_by([.hostname, (.paths|sort|join(",")), ((.tags // [])|sort|join(","))])[]
     | max_by(.time) as \$l
     | "restic_latest_snapshot_timestamp_seconds{repository=\"\(\$repo)\",hostname=\"\(\$l.hostname)\",paths=\"\(\$l.paths|sort|join(","))\",tags=\"\((\$l.tags // [])|sort|join(","))\"} \(\$l.time | sub("\\\\.[0-9]+";"") | fromdateiso8601)")'
done > "\$tmp"
mv "\$tmp" "$out/restic-jq.prom"
SH
chmod +x "$BENCH_DIR/restic-jq.sh"

sg="$bin --config $BENCH_DIR/sysgauge.toml textfile --directory $out"
# Both must produce the same snapshot counts before they are timed.
$sg && "$BENCH_DIR/restic-jq.sh"
for r in 1 2 3; do
  a=$(grep "^sysgauge_restic_snapshots{repository=\"repo$r\"}" "$out/sysgauge-restic.prom" | awk '{print $2}')
  b=$(grep "^restic_snapshots{repository=\"repo$r\"}" "$out/restic-jq.prom" | awk '{print $2}')
  [ "$a" = 50 ] && [ "$b" = 50 ] || { echo "snapshot counts differ: sysgauge $a, script $b" >&2; exit 1; }
done

json=$BENCH_DIR/hyperfine.json
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$json" \
  -n sysgauge-restic "$sg" -n "restic snapshots | jq" "$BENCH_DIR/restic-jq.sh" >&2
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
rss_sg=$(rss $sg); rss_sh=$(rss "$BENCH_DIR/restic-jq.sh")
read -r t_sg t_sh < <(jq -r '[.results[].mean] | "\(.[0]) \(.[1])"' "$json")
calls_sg=$(( 1 + 3 )) # restic version, then snapshots per repository (local, no locks: locks/ is listed directly)
printf '\nsysgauge-restic textfile vs restic snapshots --json | jq (3 repositories x 50 snapshots, %s runs)\n' "$RUNS"
printf '%-24s %12s %14s %14s\n' tool "mean wall s" "peak RSS KiB" "restic calls"
printf '%-24s %12.3f %14s %14s\n' sysgauge-restic "$t_sg" "$rss_sg" "$calls_sg"
printf '%-24s %12.3f %14s %14s\n' "restic snapshots | jq" "$t_sh" "$rss_sh" 3
awk -v a="$t_sg" -v b="$t_sh" 'BEGIN { printf "wall-time ratio sysgauge/script: %.2f, script/sysgauge %.2f (sysgauge also reports locks and reads repositories concurrently)\n", a / b, b / a }'

# --- serve: CPU seconds and restic processes per 100 scrapes over the same 3 repositories ---
# "before" is sysgauge-restic as of BEFORE_REV (default: main just before read_interval was
# merged), built once into $BENCH_DIR; "after" is this tree's binary with the
# default read_interval (5m); the peer is the jq script above run once per scrape. CPU is the
# server's own plus its reaped children's (utime+stime+cutime+cstime of /proc/PID/stat);
# restic processes are counted by a wrapper that logs each call.
SCRAPES=${SCRAPES:-100}
BEFORE_REV=${BEFORE_REV:-9e5e4b0519ce}
before_bin=$BENCH_DIR/sysgauge-restic-$BEFORE_REV
if [ ! -x "$before_bin" ]; then
  echo "building sysgauge-restic at $BEFORE_REV for the serve row (once)..." >&2
  src=$BENCH_DIR/before-src
  rm -rf "$src"; mkdir -p "$src"
  git archive "$BEFORE_REV" | tar -x -C "$src"
  # The same target directory: the external dependencies are shared, the workspace crates
  # (another path) built apart; this tree's binary is copied out again afterwards.
  root=$PWD
  (cd "$src" && SYSGAUGE_REVISION=$BEFORE_REV cargo build --release -q -p sysgauge-restic --target-dir "$root/target")
  cp target/release/sysgauge-restic "$before_bin"
  rm -rf "$src"
  cargo build --release -q -p sysgauge-restic
fi
calls_log=$BENCH_DIR/restic-calls.log
cat > "$BENCH_DIR/restic-wrapper" <<SH
#!/bin/sh
echo "\$1" >> "$calls_log"
exec restic "\$@"
SH
chmod +x "$BENCH_DIR/restic-wrapper"
ticks=$(getconf CLK_TCK)
cpu_of() { awk -v t="$ticks" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / t }' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# serve_row NAME BINARY: starts it, scrapes once to warm up (the first read), then SCRAPES more.
serve_row() {
  local name=$1 binary=$2 port pid cpu0 cpu1 calls
  port=$(free_port)
  "$binary" --config "$BENCH_DIR/sysgauge.toml" --restic "$BENCH_DIR/restic-wrapper" serve \
    --web.listen-address "127.0.0.1:$port" 2>"$BENCH_DIR/serve-$name.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/metrics" && break; sleep 0.2; done
  : > "$calls_log"
  cpu0=$(cpu_of "$pid")
  for _ in $(seq "$SCRAPES"); do curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; done
  cpu1=$(cpu_of "$pid")
  calls=$(wc -l < "$calls_log")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v n="$name" -v c="$cpu1" -v c0="$cpu0" -v k="$calls" -v s="$SCRAPES" \
    'BEGIN { printf "%-34s %16.2f %18.0f\n", n, (c - c0) * 100 / s, k * 100 / s }'
}
printf '\nserve, %s scrapes after a warm-up scrape, figures per 100 scrapes (3 repositories x 50 snapshots)\n' "$SCRAPES"
printf '%-34s %16s %18s\n' tool "CPU s/100" "restic procs/100"
serve_row "sysgauge-restic serve ($BEFORE_REV)" "$before_bin"
serve_row "sysgauge-restic serve (this tree)" "$bin"
# The peer: the script once per scrape, CPU from GNU time (its children included).
: > "$calls_log"
peer_cpu=0
for _ in $(seq "$SCRAPES"); do
  c=$(/usr/bin/time -f '%U %S' "$BENCH_DIR/restic-jq.sh" 2>&1 >/dev/null | tail -1 | awk '{print $1 + $2}')
  peer_cpu=$(awk -v a="$peer_cpu" -v b="$c" 'BEGIN { print a + b }')
done
awk -v c="$peer_cpu" -v s="$SCRAPES" \
  'BEGIN { printf "%-34s %16.2f %18.0f\n", "restic snapshots | jq per scrape", c * 100 / s, 300 }'
