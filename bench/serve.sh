#!/usr/bin/env bash
# Throughput and tail latency of `serve` against node_exporter, both serving the same metrics:
# sysgauge-certs serve over the system's CA bundle, and node_exporter (textfile collector only)
# reading the textfile that sysgauge-certs wrote from the same bundle. Rounds at 1, 50 and 500
# connections: wrk over HTTP/1.1 for ROUND_S seconds, h2load over HTTP/2 for 4 requests per
# connection (at least 50; TLS with ALPN, since node_exporter speaks HTTP/2 only over TLS; p99
# from h2load's per-request log). Both servers keep their default request limits (40 in
# flight), so the 500-connection rounds also show how each sheds load. RSS of each server after
# every round. Loopback only, bounded in time.
source "$(dirname "$0")/lib.sh"
BIN=$(release_bin certs)
ROUND_S=${ROUND_S:-5}
CONNECTIONS=(${CONNECTIONS:-1 50 500})
cd "$WORK"
ulimit -n 4096 2>/dev/null || true

mkdir text
"$BIN" --path '/etc/ssl/certs/*.pem' textfile --directory text
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost" \
  -keyout tls.key -out tls.pem 2>/dev/null
printf 'tls_server_config:\n  cert_file: %s/tls.pem\n  key_file: %s/tls.key\n' "$WORK" "$WORK" > web.yml

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
declare -A PID
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
# start CMD...: runs a server on a free port (the word PORT in CMD), waits until it
# listens, and sets $PORT. One at a time, so that no two draw the same free port.
start() {
  PORT=$(free_port)
  local args=("${@//PORT/$PORT}")
  "${args[@]}" >>"$WORK/servers.log" 2>&1 &
  PIDS+=($!)
  PID[$PORT]=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return; sleep 0.1; done
  echo "$1 did not start" >&2
  exit 1
}
SERVE=("$BIN" --path '/etc/ssl/certs/*.pem' --log.level error serve --web.listen-address 127.0.0.1:PORT)
NODE=(prometheus-node-exporter --collector.disable-defaults --collector.textfile
  --collector.textfile.directory="$WORK/text" --web.listen-address=127.0.0.1:PORT --log.level=error)
start "${SERVE[@]}"
SG=$PORT
start "${SERVE[@]}" --web.config.file web.yml
SG_TLS=$PORT
start "${NODE[@]}"
NE=$PORT
start "${NODE[@]}" --web.config.file=web.yml
NE_TLS=$PORT
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/${PID[$1]}/status"; }
size() { curl -s "$@" | wc -c | awk '{printf "%.0f KB", $1 / 1000}'; }

echo "answers: sysgauge-certs $(size "http://127.0.0.1:$SG/metrics"), node_exporter $(size "http://127.0.0.1:$NE/metrics") (identity)"
echo
row "server" "protocol" "connections" "requests/s" "p99" "non-200" "RSS after"
row "---" "---" "---" "---" "---" "---" "---"

# wrk: requests/s, p99 from --latency, non-2xx from its summary.
wrk_round() {
  local port=$1 c=$2 out
  out=$(wrk -t "$((c < 2 ? 1 : 2))" -c "$c" -d "${ROUND_S}s" --timeout 10s --latency \
    "http://127.0.0.1:$port/metrics")
  echo "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    "$(awk '/Non-2xx/ {n = $NF} /Socket errors/ {e = $0} END {printf "%s%s", n + 0, (e ? " (" e ")" : "")}' <<<"$out")"
}

# h2load over TLS: requests/s from its summary, p99 from its per-request log (microseconds).
h2_round() {
  local port=$1 c=$2 out
  rm -f h2.log
  # A request count, not a duration: h2load -D does not finish with 500 clients.
  out=$(timeout 120 h2load -c "$c" -t "$((c < 2 ? 1 : 2))" -n "$((c < 13 ? 50 : 4 * c))" \
    --log-file=h2.log "https://localhost:$port/metrics" 2>&1)
  echo "$(awk '/^finished in/ {gsub(",", ""); printf "%.0f", $4}' <<<"$out")" \
    "$(awk '{print $3}' h2.log | sort -n | awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2fms", v[i] / 1000}')" \
    "$(awk '$2 != 200 {n++} END {print n + 0}' h2.log)"
}

for c in "${CONNECTIONS[@]}"; do
  for name in sysgauge-certs node_exporter; do
    if [ $name = sysgauge-certs ]; then plain=$SG tls=$SG_TLS; else plain=$NE tls=$NE_TLS; fi
    read -r rps p99 bad <<<"$(wrk_round "$plain" "$c")"
    row "$name" "HTTP/1.1 (wrk)" "$c" "$rps" "$p99" "$bad" "$(rss "$plain")"
    read -r rps p99 bad <<<"$(h2_round "$tls" "$c")"
    row "$name" "HTTP/2 + TLS (h2load)" "$c" "$rps" "$p99" "$bad" "$(rss "$tls")"
  done
done
