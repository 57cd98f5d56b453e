#!/usr/bin/env bash
# sysgauge-certs textfile over 100 certificate files, against the shell loop admins write today:
# one `openssl x509 -enddate` per file, then `date` to turn it into a timestamp, then `mv`.
# Goal (issue 2): at least 200 times faster, peak memory under 10 MiB.
# Then 50,000 certificate files in one textfile run (issue 17: under 1 s and 64 MiB): 250 distinct
# certificates made by openssl, hard-linked 200 times each (`cp -al` of a folder of them) so that
# generating them takes seconds, not 50,000 openssl runs; the exporter reads and parses every file
# all the same. Five patterns of 10,000 files each, the most one pattern expands to.
source "$(dirname "$0")/lib.sh"
BIN=$(release_bin certs)
CERTS=$WORK/certs OUT=$WORK/textfile
mkdir -p "$CERTS" "$OUT"
for i in $(seq -w 1 100); do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$((100 + 10#$i))" \
    -subj "/CN=host$i.example" -keyout /dev/null -out "$CERTS/host$i.pem" 2>/dev/null
done

cat > "$WORK/loop.sh" <<'LOOP'
#!/bin/bash
# The textfile script people write: a process or three per certificate.
out=$2/certs.prom
tmp=$out.$$
: > "$tmp"
for f in "$1"/*.pem; do
  end=$(openssl x509 -enddate -noout -in "$f" | cut -d= -f2)
  echo "ssl_cert_not_after{path=\"$f\"} $(date -d "$end" +%s)" >> "$tmp"
done
mv "$tmp" "$out"
LOOP

sg_ms=$(mean_ms "$BIN" --path "$CERTS/*.pem" textfile --directory "$OUT")
sh_ms=$(mean_ms bash "$WORK/loop.sh" "$CERTS" "$OUT")
sg_kib=$(peak_kib "$BIN" --path "$CERTS/*.pem" textfile --directory "$OUT")
sh_kib=$(peak_kib bash "$WORK/loop.sh" "$CERTS" "$OUT")
series=$(grep -c '^sysgauge_cert_not_after' "$OUT/sysgauge-certs.prom")

echo "textfile for 100 certificate files ($series not_after series written)"
echo
row "tool" "mean wall time" "peak RSS"
row "---" "---" "---"
row "sysgauge-certs textfile" "$(printf '%.2f ms' "$sg_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$sg_kib/1024")")"
row "openssl/date/mv shell loop" "$(printf '%.1f ms' "$sh_ms")" "$(printf '%.1f MiB (largest process)' "$(bc -l <<<"$sh_kib/1024")")"
echo
printf 'speed-up: %.0fx (goal: at least 200x); sysgauge peak RSS %.1f MiB (goal: under 10 MiB)\n' \
  "$(bc -l <<<"$sh_ms/$sg_ms")" "$(bc -l <<<"$sg_kib/1024")"

# 50,000 files.
BIG=$WORK/big
mkdir -p "$BIG/base"
for i in $(seq -w 1 250); do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$((30 + 10#$i))" \
    -subj "/CN=big$i.example" -addext "subjectAltName=DNS:big$i.example,DNS:www.big$i.example" \
    -keyout /dev/null -out "$BIG/base/c$i.pem" 2>/dev/null
done
paths=()
for s in 0 1 2 3 4; do
  mkdir -p "$BIG/s$s"
  for j in $(seq -w 1 40); do cp -al "$BIG/base" "$BIG/s$s/$j"; done
  paths+=(--path "$BIG/s$s/*/*.pem")
done
big_ms=$(mean_ms "$BIN" "${paths[@]}" textfile --directory "$OUT")
big_kib=$(peak_kib "$BIN" "${paths[@]}" textfile --directory "$OUT")
big_series=$(grep -c '^sysgauge_cert_not_after' "$OUT/sysgauge-certs.prom")
echo
echo "textfile for 50,000 certificate files ($big_series not_after series written)"
echo
row "tool" "mean wall time" "peak RSS"
row "---" "---" "---"
row "sysgauge-certs textfile" "$(printf '%.0f ms' "$big_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$big_kib/1024")")"
echo
printf 'goal (issue 17): under 1 s and under 64 MiB\n'
