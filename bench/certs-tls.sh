#!/usr/bin/env bash
# sysgauge-certs probing 16 TLS virtual hosts of one real nginx, against blackbox_exporter's TLS
# probe (Debian's prometheus-blackbox-exporter) over the same 16 targets. Both run as servers;
# each round is one curl that fetches everything at once (sysgauge: one scrape that probes all
# 16 endpoints concurrently; blackbox: 16 /probe requests in parallel, as Prometheus would send
# them), so the client's overhead is the same on both sides.
source "$(dirname "$0")/lib.sh"
BIN=$(release_bin certs)
N=16
cd "$WORK"
mkdir -p nginx/logs

# A private CA and one certificate per virtual host.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=Bench CA" -keyout ca.key -out ca.pem 2>/dev/null
for i in $(seq 1 $N); do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=v$i.test" \
    -keyout "v$i.key" -out "v$i.csr" 2>/dev/null
  openssl x509 -req -in "v$i.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days $((30 + i)) \
    -extfile <(printf 'subjectAltName=DNS:v%s.test' "$i") -out "v$i.pem" 2>/dev/null
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NGINX_PORT=$(free_port) SG_PORT=$(free_port) BB_PORT=$(free_port)
{
  echo "daemon off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/logs/error.log;"
  [ "$(id -u)" -eq 0 ] && echo "user root root;"
  echo "events {} http { access_log off;"
  for i in $(seq 1 $N); do
    echo "server { listen 127.0.0.1:$NGINX_PORT ssl; server_name v$i.test;"
    echo "  ssl_certificate $WORK/v$i.pem; ssl_certificate_key $WORK/v$i.key; return 200; }"
  done
  echo "}"
} > nginx/nginx.conf
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/logs/error.log" &
PIDS=($!)

# sysgauge-certs serve, one endpoint per virtual host, verified against the private CA.
for i in $(seq 1 $N); do
  printf '[[endpoints]]\nurl = "tls://127.0.0.1:%s?server_name=v%s.test"\nca_bundle = "%s/ca.pem"\n' \
    "$NGINX_PORT" "$i" "$WORK"
done > certs.toml
"$BIN" --config certs.toml --log.level error serve --web.listen-address "127.0.0.1:$SG_PORT" &
PIDS+=($!)

# blackbox_exporter: a module per virtual host, since the SNI name is per module.
{
  echo "modules:"
  for i in $(seq 1 $N); do
    echo "  v$i: {prober: tcp, timeout: 5s, tcp: {tls: true, tls_config: {server_name: v$i.test, ca_file: $WORK/ca.pem}}}"
  done
} > blackbox.yml
prometheus-blackbox-exporter --config.file=blackbox.yml --web.listen-address="127.0.0.1:$BB_PORT" \
  --log.level=error &
PIDS+=($!)
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

for port in $NGINX_PORT $SG_PORT $BB_PORT; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done

SG_URL="http://127.0.0.1:$SG_PORT/metrics"
BB_URLS=()
for i in $(seq 1 $N); do BB_URLS+=("http://127.0.0.1:$BB_PORT/probe?module=v$i&target=127.0.0.1:$NGINX_PORT"); done
printf '%s\n' "${BB_URLS[@]}" | sed 's/^/url = "/; s/$/"/; s/^/-o \/dev\/null\n/' > blackbox.curl

ok_sg=$(curl -s "$SG_URL" | grep -c '^sysgauge_cert_probe_success{.*} 1$')
ok_bb=0
for u in "${BB_URLS[@]}"; do curl -s "$u" | grep -q '^probe_success 1$' && ok_bb=$((ok_bb + 1)); done

sg_ms=$(mean_ms curl -s -o /dev/null "$SG_URL")
bb_ms=$(mean_ms curl -s --parallel --parallel-max $N -K blackbox.curl)
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

echo "probing $N TLS virtual hosts of one nginx (successful probes: sysgauge $ok_sg/$N, blackbox $ok_bb/$N)"
echo
row "tool" "mean wall time of one round" "peak RSS of the exporter"
row "---" "---" "---"
row "sysgauge-certs serve (1 scrape)" "$(printf '%.1f ms' "$sg_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$(hwm "${PIDS[1]}")/1024")")"
row "blackbox_exporter (16 probes)" "$(printf '%.1f ms' "$bb_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$(hwm "${PIDS[2]}")/1024")")"
echo
printf 'ratio: blackbox takes %.2fx the time of sysgauge-certs\n' "$(bc -l <<<"$bb_ms/$sg_ms")"
