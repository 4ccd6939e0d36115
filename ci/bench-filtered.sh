#!/usr/bin/env bash
# Benchmark (not a test): a capture filtered on a few event types, at the kernel's floor.
#
# Runs `dd if=/dev/zero of=/dev/null bs=1 count=500000` (1M read/write calls, none of them
# selected)
#   1. bare,
#   2. under `perf record -a` of the per-syscall tracepoints tpdig would open for the same
#      selection's visible calls (openat, close, connect enter/exit) + sched_switch,
#   3. under `tpdig -q "evt.type=openat"` (per-syscall tracepoints chosen),
#   4. under `tpdig -q "evt.type in (openat, connect) and proc.name=nginx"`,
#   5. under `tpdig -q "evt.type=openat" --compat raw-syscalls` (the old source),
# RUNS times each (default 3) and prints medians of dd's own elapsed time, with ratios
# against bare and against perf record.
#
# Usage: ci/bench-filtered.sh   (root; TPDIG=path RUNS=n COUNT=n to override)
set -euo pipefail

# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
RUNS=${RUNS:-3}
COUNT=${COUNT:-500000}
WORK=$(mktemp -d /tmp/bench-filtered.XXXXXX)
trap 'stop_tpdig; rm -rf "$WORK"' EXIT

bench_setup linux-perf
PERF_PAGES=$(perf_pages 8)

run_dd() { dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>"$1"; }

declare -A T
NAMES=(bare perf open nginx raw)
for i in $(seq 1 "$RUNS"); do
    echo "run $i/$RUNS" >&2
    run_dd "$WORK/dd.err"
    T[bare]+="$(dd_seconds "$WORK/dd.err") "
    rm -f "$WORK/x.data"
    perf record -a -m "$PERF_PAGES" -o "$WORK/x.data" \
        -e syscalls:sys_enter_openat -e syscalls:sys_exit_openat \
        -e syscalls:sys_enter_close -e syscalls:sys_exit_close \
        -e syscalls:sys_enter_connect -e syscalls:sys_exit_connect -e sched:sched_switch -- \
        sh -c "dd if=/dev/zero of=/dev/null bs=1 count=$COUNT 2>'$WORK/dd.err'" \
        >/dev/null 2>"$WORK/perf.err" || bench_die "perf record failed: $(tail -n3 "$WORK/perf.err")"
    T[perf]+="$(dd_seconds "$WORK/dd.err") "
    for mode in open nginx raw; do
        case $mode in
        open) args=(-q evt.type=openat) ;;
        nginx) args=(-q "evt.type in (openat, connect) and proc.name=nginx") ;;
        raw) args=(-q --compat raw-syscalls evt.type=openat) ;;
        esac
        start_tpdig "$WORK/tpdig.err" /dev/null --buffer-size 8M "${args[@]}" ||
            bench_die "tpdig ${args[*]} did not start"
        grep -m1 'syscall source' "$WORK/tpdig.err" >&2 || true
        run_dd "$WORK/dd.err"
        T[$mode]+="$(dd_seconds "$WORK/dd.err") "
        stop_tpdig
    done
done

# shellcheck disable=SC2086
b=$(median ${T[bare]})
# shellcheck disable=SC2086
p=$(median ${T[perf]})
printf '\n%d syscalls, median of %d runs (dd elapsed)\n' "$((COUNT * 2))" "$RUNS"
printf '%-58s %8s %8s %8s   %s\n' run seconds "x bare" "x perf" "runs (s)"
for n in "${NAMES[@]}"; do
    case $n in
    bare) label="bare" ;;
    perf) label="perf record (openat/close/connect per-syscall + switch)" ;;
    open) label="tpdig -q evt.type=openat" ;;
    nginx) label="tpdig -q 'evt.type in (openat, connect) and proc.name=nginx'" ;;
    raw) label="tpdig -q evt.type=openat --compat raw-syscalls" ;;
    esac
    # shellcheck disable=SC2086
    m=$(median ${T[$n]})
    printf '%-58s %8s %8s %8s   %s\n' "$label" "$m" "$(div "$m" "$b" %.2f)" "$(div "$m" "$p" %.2f)" "${T[$n]}"
done
