#!/usr/bin/env bash
# sysgauge-backup textfile over 20 targets, against the "backup status" shell script admins
# write today (ls -t | head, stat, tail | grep for the dump trailer, zfs list | awk, mv).
#   14 artifact targets: 8 globs of plain pg_dump files (10 files of 2 MiB each, trailer
#   checked), 4 directories of tar archives (10 each, end-of-archive checked), 2 unchecked
#   globs of 50 files; 6 zfs targets over a fake zfs printing 3000 snapshots (name, creation,
#   usedbysnapshots, as the exporter asks).
# Jobs are left out: they need a systemd on D-Bus, which only the booted test container has.
# A second table adds 2 gzip-checked targets (a 64 MiB dump each, compressed), whose check
# decompresses the whole file, against `gzip -t`.
source "$(dirname "$0")/lib.sh"
BIN=$(release_bin backup)
D=$WORK/data OUT=$WORK/textfile
mkdir -p "$D" "$OUT"

# A 2 MiB plain dump with its trailer.
dump=$WORK/dump.sql
{ echo "-- PostgreSQL database dump"; head -c 2M /dev/urandom | base64;
  printf -- '--\n-- PostgreSQL database dump complete\n--\n\n'; } > "$dump"
for t in $(seq 1 8); do
  mkdir -p "$D/pg$t"
  for i in $(seq -w 1 10); do cp "$dump" "$D/pg$t/db-$i.sql"; touch -d "@$((1767000000 + 10#$i * 86400))" "$D/pg$t/db-$i.sql"; done
done
for t in $(seq 1 4); do
  mkdir -p "$D/ha$t"
  for i in $(seq -w 1 10); do tar -cf "$D/ha$t/backup-$i.tar" -C "$D" pg1/db-01.sql; done
done
for t in 1 2; do
  mkdir -p "$D/misc$t"
  for i in $(seq -w 1 50); do echo "$i" > "$D/misc$t/f-$i.bak"; done
done
cat > "$WORK/zfs" <<'ZFS'
#!/bin/sh
awk 'BEGIN { for (s = 0; s < 100; s++) for (d = 0; d < 30; d++) printf "tank/ds%02d@auto-%03d\t%d\t-\n", d, s, 1767000000 + s * 3600 + d }'
ZFS
chmod +x "$WORK/zfs"

conf=$WORK/backup.toml
{
  echo "zfs_command = \"$WORK/zfs\""
  for t in $(seq 1 8); do printf '[[targets]]\nname = "pg%s"\nkind = "artifact"\nmax_age = "26h"\npath = "%s/pg%s/*.sql"\nchecks = ["pg_dump"]\n' "$t" "$D" "$t"; done
  for t in $(seq 1 4); do printf '[[targets]]\nname = "ha%s"\nkind = "artifact"\nmax_age = "7d"\npath = "%s/ha%s"\nchecks = ["tar"]\n' "$t" "$D" "$t"; done
  for t in 1 2; do printf '[[targets]]\nname = "misc%s"\nkind = "artifact"\nmax_age = "1d"\npath = "%s/misc%s/*.bak"\n' "$t" "$D" "$t"; done
  for t in $(seq 0 5); do printf '[[targets]]\nname = "zfs%s"\nkind = "zfs"\nmax_age = "2h"\ndataset_prefixes = ["tank/ds%s"]\n' "$t" "$t"; done
} > "$conf"

cat > "$WORK/status.sh" <<'SH'
#!/bin/bash
# The backup-status textfile script: one pipeline per target.
D=$1 out=$2/backup.prom tmp=$2/backup.prom.$$
: > "$tmp"
artifact() { # name glob check
  local newest; newest=$(ls -t $2 2>/dev/null | head -1)
  echo "backup_files{target=\"$1\"} $(ls $2 2>/dev/null | wc -l)" >> "$tmp"
  [ -n "$newest" ] || return
  read -r mtime size < <(stat -c '%Y %s' "$newest")
  echo "backup_newest_mtime{target=\"$1\"} $mtime" >> "$tmp"
  echo "backup_newest_size{target=\"$1\"} $size" >> "$tmp"
  case $3 in
    pg) tail -c 4096 "$newest" | grep -q -- '-- PostgreSQL database dump complete' && ok=1 || ok=0 ;;
    tar) [ "$(tail -c 1024 "$newest" | tr -d '\0' | wc -c)" = 0 ] && ok=1 || ok=0 ;;
    gz) gzip -t "$newest" 2>/dev/null && ok=1 || ok=0 ;;
    *) return ;;
  esac
  echo "backup_newest_complete{target=\"$1\"} $ok" >> "$tmp"
}
for t in 1 2 3 4 5 6 7 8; do artifact "pg$t" "$D/pg$t/*.sql" pg; done
for t in 1 2 3 4; do artifact "ha$t" "$D/ha$t/*" tar; done
for t in 1 2; do artifact "misc$t" "$D/misc$t/*.bak" none; done
[ -n "${GZ:-}" ] && for t in 1 2; do artifact "gz$t" "$D/gz$t/*.gz" gz; done
snaps=$("$3" list -Hp -t snapshot -o name,creation -s creation)
for t in 0 1 2 3 4 5; do
  echo "$snaps" | awk -v t="$t" -F'\t' '$1 ~ "^tank/ds0"t"@" { if ($2 > n) n = $2 } END { printf "zfs_newest{target=\"zfs%s\"} %d\n", t, n }' >> "$tmp"
done
mv "$tmp" "$out"
SH
chmod +x "$WORK/status.sh"

sg_ms=$(mean_ms "$BIN" --config "$conf" textfile --directory "$OUT")
sh_ms=$(mean_ms "$WORK/status.sh" "$D" "$OUT" "$WORK/zfs")
sg_kib=$(peak_kib "$BIN" --config "$conf" textfile --directory "$OUT")
sh_kib=$(peak_kib "$WORK/status.sh" "$D" "$OUT" "$WORK/zfs")
series=$(grep -vc '^#' "$OUT/sysgauge-backup.prom")

echo "textfile for 20 backup targets (14 artifact, 6 zfs; $series series written)"
echo
row "tool" "mean wall time" "peak RSS"
row "---" "---" "---"
row "sysgauge-backup textfile" "$(printf '%.2f ms' "$sg_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$sg_kib/1024")")"
row "backup-status shell script" "$(printf '%.1f ms' "$sh_ms")" "$(printf '%.1f MiB (largest process)' "$(bc -l <<<"$sh_kib/1024")")"
echo
printf 'speed-up: %.1fx\n\n' "$(bc -l <<<"$sh_ms/$sg_ms")"

# Opt-in gzip checks: two 64 MiB dumps, compressed; both sides decompress each newest file.
big=$WORK/big.sql
{ head -c 48M /dev/urandom | base64 -w 0 | head -c 64M; printf '\n--\n-- PostgreSQL database dump complete\n--\n\n'; } > "$big"
for t in 1 2; do mkdir -p "$D/gz$t"; gzip -1 -c "$big" > "$D/gz$t/db.sql.gz"; done
for t in 1 2; do printf '[[targets]]\nname = "gz%s"\nkind = "artifact"\nmax_age = "1d"\npath = "%s/gz%s/*.gz"\nchecks = ["gzip", "pg_dump"]\n' "$t" "$D" "$t"; done >> "$conf"
gz_sg_ms=$(mean_ms "$BIN" --config "$conf" --collector.timeout 60s textfile --directory "$OUT")
export GZ=1
gz_sh_ms=$(mean_ms "$WORK/status.sh" "$D" "$OUT" "$WORK/zfs")
gz_sg_kib=$(peak_kib "$BIN" --config "$conf" --collector.timeout 60s textfile --directory "$OUT")
complete=$(grep -c 'sysgauge_backup_artifact_newest_complete{target="gz[12]"} 1' "$OUT/sysgauge-backup.prom" || true)
echo "the same plus 2 gzip-checked targets (64 MiB dump each, $(stat -c %s "$D/gz1/db.sql.gz") bytes compressed; $complete/2 verified complete)"
echo
row "tool" "mean wall time" "peak RSS"
row "---" "---" "---"
row "sysgauge-backup textfile" "$(printf '%.1f ms' "$gz_sg_ms")" "$(printf '%.1f MiB' "$(bc -l <<<"$gz_sg_kib/1024")")"
row "shell script with gzip -t" "$(printf '%.1f ms' "$gz_sh_ms")" "-"
echo
printf 'ratio: %.2fx\n' "$(bc -l <<<"$gz_sh_ms/$gz_sg_ms")"
