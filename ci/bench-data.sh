#!/usr/bin/env bash
# Benchmark (not a test): what copying I/O data costs a write-heavy program.
#
# Runs `dd if=/dev/zero of=FILE bs=100 count=COUNT` (COUNT reads and COUNT writes of 100
# bytes through the C library) RUNS times each (default 3):
#   1. bare,
#   2. under `tpdig -q -- dd` (names, no data),
#   3. under `tpdig -q -s 80 -- dd` (each read's and write's first 80 bytes copied),
#   4. under `strace -f -s 80 -o /dev/null -- dd` (strace's copy of the same bytes),
# and prints dd's own elapsed time (medians; start-up and teardown are not counted), the
# slowdown against bare, and how many of tpdig's data exits carried their data.
#
# Usage: ci/bench-data.sh            (root; TPDIG=path RUNS=n COUNT=n to override)
set -euo pipefail

# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
RUNS=${RUNS:-3}
COUNT=${COUNT:-200000}
WORK=$(mktemp -d /tmp/bench-data.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

bench_setup strace
dd_cmd=(dd if=/dev/zero of="$WORK/out" bs=100 count="$COUNT")

bare_t=(); off_t=(); on_t=(); st_t=(); cover=""
for i in $(seq 1 "$RUNS"); do
    bench_log "run $i/$RUNS"
    "${dd_cmd[@]}" 2>"$WORK/dd.err"
    bare_t+=("$(dd_seconds "$WORK/dd.err")")
    "$TPDIG" -q -- "${dd_cmd[@]}" 2>"$WORK/dd.err"
    off_t+=("$(dd_seconds "$WORK/dd.err")")
    "$TPDIG" -q -v -s 80 -- "${dd_cmd[@]}" 2>"$WORK/dd.err"
    on_t+=("$(dd_seconds "$WORK/dd.err")")
    cover=$(grep -o 'I/O data (calls with data.*' "$WORK/dd.err" | sed 's/.*): //' || true)
    strace -f -s 80 -o /dev/null -- "${dd_cmd[@]}" 2>"$WORK/dd.err"
    st_t+=("$(dd_seconds "$WORK/dd.err")")
done

b=$(median "${bare_t[@]}")
ratio() { awk -v t="$1" -v b="$b" 'BEGIN { if (b > 0) printf "%.1fx", t / b; else print "?" }'; }
printf '%-34s %10s %8s\n' "dd bs=100 count=$COUNT (median of $RUNS)" "seconds" "vs bare"
for row in "bare:${bare_t[*]}" "tpdig -q (no data):${off_t[*]}" \
           "tpdig -q -s 80 (data):${on_t[*]}" "strace -f -s 80:${st_t[*]}"; do
    name=${row%%:*}
    # shellcheck disable=SC2086
    t=$(median ${row#*:})
    printf '%-34s %10s %8s\n' "$name" "$t" "$(ratio "$t")"
done
echo "tpdig data coverage (calls with data / calls that moved bytes): ${cover:-?}"
