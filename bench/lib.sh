# Shared helpers for bench/*.sh (sourced, not run).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /var/tmp/sysgauge-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# release_bin NAME: builds the workspace in release mode, as shipped (building one package
# resolves other features and rebuilds), and prints sysgauge-NAME's path.
release_bin() {
  (cd "$ROOT" && cargo build --release --quiet --workspace) >&2
  echo "$ROOT/target/release/sysgauge-$1"
}

# mean_ms CMD...: mean wall time of CMD in milliseconds, measured by hyperfine without a shell
# (so globs reach the program unexpanded; arguments must not contain spaces).
mean_ms() {
  local json="$WORK/hyperfine.json"
  hyperfine --shell=none --style none --warmup 3 --min-runs 20 --export-json "$json" -- "$*" >/dev/null 2>&1
  jq -r '.results[0].mean * 1000' "$json"
}

# peak_kib CMD...: peak resident memory of CMD in KiB (the largest of 5 runs).
peak_kib() {
  local max=0 kib
  for _ in 1 2 3 4 5; do
    /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>&1
    kib=$(tail -1 "$WORK/rss")
    ((kib > max)) && max=$kib
  done
  echo "$max"
}

# row LABEL VALUE...: one table row.
row() { printf '| %s |' "$1"; shift; printf ' %s |' "$@"; echo; }
