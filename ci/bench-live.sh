#!/usr/bin/env bash
# Benchmark (not a test): cost of watching 1M syscalls live.
#
# Runs `dd if=/dev/zero of=/dev/null bs=1 count=500000` (500k reads + 500k writes)
#   1. bare,
#   2. under `perf record -a` of raw_syscalls enter/exit + sched_switch, 8 MiB per CPU,
#   3. under `tpdig -q -v --buffer-size 8M`,
# RUNS times each (default 3) and prints medians: dd's own elapsed time (so tool
# start-up and write-out are not counted), the slowdown against bare, and the events
# each tool lost.
#
# Usage: ci/bench-live.sh            (root; TPDIG=path RUNS=n COUNT=n to override)
set -euo pipefail

# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
RUNS=${RUNS:-3}
COUNT=${COUNT:-500000}
WORK=$(mktemp -d /tmp/bench-live.XXXXXX)
trap 'stop_tpdig; rm -rf "$WORK"' EXIT
die() { bench_die "$*"; }

bench_setup linux-perf
PERF_PAGES=$(perf_pages 8)   # 8 MiB per CPU (a power of two for 4 KiB pages)

run_dd() { # $1: file for dd's stderr
    dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>"$1"
}

bare_t=(); perf_t=(); perf_l=(); tp_t=(); tp_l=()

for i in $(seq 1 "$RUNS"); do
    echo "run $i/$RUNS: bare" >&2
    run_dd "$WORK/dd.err"
    bare_t+=("$(dd_seconds "$WORK/dd.err")")

    echo "run $i/$RUNS: perf record" >&2
    rm -f "$WORK/x.data"
    perf record -a -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit -e sched:sched_switch \
        -m "$PERF_PAGES" -o "$WORK/x.data" -- \
        sh -c "dd if=/dev/zero of=/dev/null bs=1 count=$COUNT 2>'$WORK/dd.err'" \
        >/dev/null 2>"$WORK/perf.err" || die "perf record failed: $(tail -n3 "$WORK/perf.err")"
    perf_t+=("$(dd_seconds "$WORK/dd.err")")
    perf_l+=("$(perf_lost "$WORK/x.data")")

    echo "run $i/$RUNS: tpdig" >&2
    start_tpdig "$WORK/tpdig.err" /dev/null -q --buffer-size 8M || die "tpdig did not start"
    run_dd "$WORK/dd.err"
    tp_t+=("$(dd_seconds "$WORK/dd.err")")
    stop_tpdig
    tp_l+=("$(tpdig_drops "$WORK/tpdig.err")")
done

b=$(median "${bare_t[@]}")
ratio() { awk -v t="$1" -v b="$b" 'BEGIN { if (b > 0) printf "%.1fx", t / b; else print "?" }'; }
p=$(median "${perf_t[@]}")
t=$(median "${tp_t[@]}")
# Drop counts may be "?" when a summary could not be parsed; median of numbers only.
median_or_any() { # median when every value is a number, else the values as they are
    if printf '%s\n' "$@" | grep -qv '^[0-9]\+$'; then echo "$*"; else median "$@"; fi
}
pl=$(median_or_any "${perf_l[@]}")
tl=$(median_or_any "${tp_l[@]}")

printf '\n%d syscalls, median of %d runs (dd elapsed)\n' "$(( COUNT * 2 ))" "$RUNS"
printf '%-12s %10s %9s %12s   %s\n' tool seconds slowdown "lost/drops" "runs (s)"
printf '%-12s %10s %9s %12s   %s\n' bare "$b" 1.0x - "${bare_t[*]}"
printf '%-12s %10s %9s %12s   %s\n' "perf record" "$p" "$(ratio "$p")" "$pl" "${perf_t[*]}"
printf '%-12s %10s %9s %12s   %s\n' tpdig "$t" "$(ratio "$t")" "$tl" "${tp_t[*]}"
