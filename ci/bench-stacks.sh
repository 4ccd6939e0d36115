#!/usr/bin/env bash
# Benchmark (not a test): what call stacks (-k) cost on every write of a syscall storm.
#
# Runs `dd if=/dev/zero of=/dev/null bs=1 count=500000` (500k reads and 500k writes, every
# write selected)
#   1. bare,
#   2. under `perf record -a` of raw_syscalls sys_enter/sys_exit filtered in the kernel on
#      the write call (`id == 1`, what tpdig's pushdown sets), without call graphs,
#   3. the same with `-g` (frame-pointer call chains on every sample),
#   4. under `tpdig -q "evt.type=write"` (no stacks; its own choice of tracepoints),
#   5. under `tpdig -k -q "evt.type=write"` (raw_syscalls, chains on both, named live),
# RUNS times each (default 3) and prints medians of dd's own elapsed time, with ratios
# against bare and against perf record -g, and the records each tracer lost.
#
# Usage: ci/bench-stacks.sh   (root; TPDIG=path RUNS=n COUNT=n to override)
set -euo pipefail

# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
RUNS=${RUNS:-3}
COUNT=${COUNT:-500000}
WORK=$(mktemp -d /tmp/bench-stacks.XXXXXX)
trap 'stop_tpdig; rm -rf "$WORK"' EXIT

bench_setup linux-perf
PERF_PAGES=$(perf_pages 8)
WRITE_NR=1 # x86_64

run_dd() { dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>"$1"; }

perf_dd() { # $@: extra perf record options
    rm -f "$WORK/x.data"
    perf record -a -m "$PERF_PAGES" -o "$WORK/x.data" "$@" \
        -e raw_syscalls:sys_enter --filter "id == $WRITE_NR" \
        -e raw_syscalls:sys_exit --filter "id == $WRITE_NR" -- \
        sh -c "dd if=/dev/zero of=/dev/null bs=1 count=$COUNT 2>'$WORK/dd.err'" \
        >/dev/null 2>"$WORK/perf.err" || bench_die "perf record failed: $(tail -n3 "$WORK/perf.err")"
}

declare -A T L
NAMES=(bare perf perfg tpdig tpdigk)
for i in $(seq 1 "$RUNS"); do
    echo "run $i/$RUNS" >&2
    run_dd "$WORK/dd.err"
    T[bare]+="$(dd_seconds "$WORK/dd.err") "
    perf_dd
    T[perf]+="$(dd_seconds "$WORK/dd.err") "
    L[perf]+="$(perf_lost "$WORK/x.data") "
    perf_dd -g
    T[perfg]+="$(dd_seconds "$WORK/dd.err") "
    L[perfg]+="$(perf_lost "$WORK/x.data") "
    for mode in tpdig tpdigk; do
        case $mode in
        tpdig) args=(-q evt.type=write) ;;
        tpdigk) args=(-k -q evt.type=write) ;;
        esac
        start_tpdig "$WORK/tpdig.err" /dev/null --buffer-size 8M "${args[@]}" ||
            bench_die "tpdig ${args[*]} did not start"
        run_dd "$WORK/dd.err"
        T[$mode]+="$(dd_seconds "$WORK/dd.err") "
        stop_tpdig
        L[$mode]+="$(tpdig_drops "$WORK/tpdig.err") "
    done
done

# shellcheck disable=SC2086
b=$(median ${T[bare]})
# shellcheck disable=SC2086
g=$(median ${T[perfg]})
printf '\n%d syscalls (%d writes), median of %d runs (dd elapsed)\n' "$((COUNT * 2))" "$COUNT" "$RUNS"
printf '%-52s %8s %8s %10s   %-24s %s\n' run seconds "x bare" "x perf -g" "runs (s)" "lost per run"
for n in "${NAMES[@]}"; do
    case $n in
    bare) label="bare" ;;
    perf) label="perf record raw_syscalls (id == write)" ;;
    perfg) label="perf record -g raw_syscalls (id == write)" ;;
    tpdig) label="tpdig -q evt.type=write" ;;
    tpdigk) label="tpdig -k -q evt.type=write" ;;
    esac
    # shellcheck disable=SC2086
    m=$(median ${T[$n]})
    printf '%-52s %8s %8s %10s   %-24s %s\n' "$label" "$m" "$(div "$m" "$b" %.2f)" \
        "$(div "$m" "$g" %.2f)" "${T[$n]}" "${L[$n]:--}"
done
