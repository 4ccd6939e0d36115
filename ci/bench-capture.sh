#!/usr/bin/env bash
# Benchmark (not a test): trace files against perf.data, on the same workload in one run.
#
#   1. capture size per event: `perf record` of raw_syscalls enter/exit + sched_switch for a
#      `dd bs=1` command vs `tpdig -w` and `tpdig -w -z` of the same command;
#   2. reading speed: `perf script > /dev/null` vs `tpdig -r -q` (decode, state, no output),
#      `tpdig -r > /dev/null` (text) and `tpdig -r -j > /dev/null`, in events/s; and both
#      text readers piped to `wc -l`, as a user reads a trace;
#   3. writing under a system-wide syscall storm: drops of `tpdig -w` vs `tpdig -q`.
# Each timing is the median of RUNS runs. Prints ratios; targets from the trace-file issue:
# read >= 5x perf script, -z bytes/event <= 1/4 of perf.data, -w drops no more than -q;
# from the everyday-use issue: `tpdig -r | wc -l` >= 6x `perf script | wc -l`.
#
# ci/bench.sh measures all of this (and more) with medians and writes BENCHMARKS.md; this
# script is the quick, capture-only subset.
#
# Usage: ci/bench-capture.sh        (root; TPDIG=path RUNS=n COUNT=n to override)
set -euo pipefail
# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
cd "$BENCH_ROOT"
RUNS=${RUNS:-3}
COUNT=${COUNT:-200000}
bench_setup linux-perf
WORK=$(mktemp -d /tmp/bench-capture.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
dd_cmd=(dd if=/dev/zero of=/dev/null bs=1 count="$COUNT")
pages=$(( 8 * 1024 * 1024 / $(getconf PAGESIZE) ))

# median, secs, tpdig_read_events: ci/bench-lib.sh

echo "capturing: ${dd_cmd[*]}" >&2
perf record -q -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit -e sched:sched_switch \
    -m "$pages" -o "$WORK/perf.data" -- "${dd_cmd[@]}" 2>/dev/null
"$TPDIG" -w "$WORK/cap.tpd" -- "${dd_cmd[@]}" 2>/dev/null
"$TPDIG" -z -w "$WORK/capz.tpd" -- "${dd_cmd[@]}" 2>/dev/null

perf_events=$(perf script -i "$WORK/perf.data" 2>/dev/null | wc -l)
tp_events=$(tpdig_read_events "$WORK/cap.tpd")
tpz_events=$(tpdig_read_events "$WORK/capz.tpd")
perf_bytes=$(stat -c %s "$WORK/perf.data")
tp_bytes=$(stat -c %s "$WORK/cap.tpd")
tpz_bytes=$(stat -c %s "$WORK/capz.tpd")

declare -a ps tq tt tj pw tw
for _ in $(seq "$RUNS"); do
    pw+=("$(secs_wc perf script -i "$WORK/perf.data")")
    tw+=("$(secs_wc "$TPDIG" -r "$WORK/cap.tpd")")
    ps+=("$(secs perf script -i "$WORK/perf.data")")
    tq+=("$(secs "$TPDIG" -r "$WORK/cap.tpd" -q)")
    tt+=("$(secs "$TPDIG" -r "$WORK/cap.tpd")")
    tj+=("$(secs "$TPDIG" -r "$WORK/cap.tpd" -j)")
done
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "?" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "?" }'; }
p_rate=$(rate "$perf_events" "$(median "${ps[@]}")")
q_rate=$(rate "$tp_events" "$(median "${tq[@]}")")
t_rate=$(rate "$tp_events" "$(median "${tt[@]}")")
j_rate=$(rate "$tp_events" "$(median "${tj[@]}")")
pw_rate=$(rate "$perf_events" "$(median "${pw[@]}")")
tw_rate=$(rate "$tp_events" "$(median "${tw[@]}")")

echo
echo "== capture size (same command: ${dd_cmd[*]})"
printf '%-22s %10s %10s %12s %10s\n' tool events bytes bytes/event "vs perf"
bpe() { awk -v b="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", b / n; else print "?" }'; }
pb=$(bpe "$perf_bytes" "$perf_events")
printf '%-22s %10s %10s %12s %10s\n' "perf record" "$perf_events" "$perf_bytes" "$pb" 1.0x
printf '%-22s %10s %10s %12s %10s\n' "tpdig -w" "$tp_events" "$tp_bytes" "$(bpe "$tp_bytes" "$tp_events")" "$(ratio "$(bpe "$tp_bytes" "$tp_events")" "$pb")"
printf '%-22s %10s %10s %12s %10s\n' "tpdig -w -z" "$tpz_events" "$tpz_bytes" "$(bpe "$tpz_bytes" "$tpz_events")" "$(ratio "$(bpe "$tpz_bytes" "$tpz_events")" "$pb")"
echo
echo "== reading (median of $RUNS)"
printf '%-26s %12s %10s\n' reader events/s "vs perf"
printf '%-26s %12s %10s\n' "perf script" "$p_rate" 1.0x
printf '%-26s %12s %10s\n' "tpdig -r -q" "$q_rate" "$(ratio "$q_rate" "$p_rate")"
printf '%-26s %12s %10s\n' "tpdig -r (text)" "$t_rate" "$(ratio "$t_rate" "$p_rate")"
printf '%-26s %12s %10s\n' "tpdig -r -j" "$j_rate" "$(ratio "$j_rate" "$p_rate")"
echo
echo "== reading into a pipe (| wc -l, median of $RUNS; target >= 6x)"
printf '%-26s %12s %10s\n' reader events/s "vs perf"
printf '%-26s %12s %10s\n' "perf script | wc -l" "$pw_rate" 1.0x
printf '%-26s %12s %10s\n' "tpdig -r | wc -l (text)" "$tw_rate" "$(ratio "$tw_rate" "$pw_rate")"

echo
echo "== writing during a system-wide storm (dd bs=1 count=$COUNT, 8 MiB rings)"
storm() { # $@: tpdig arguments; prints the drops of its -v summary
    local err="$WORK/storm.err"
    set -m
    "$TPDIG" -v "$@" 2>"$err" &
    local pid=$!
    set +m
    until grep -q capturing "$err" 2>/dev/null; do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    "${dd_cmd[@]}" 2>/dev/null
    kill -INT "$pid"; wait "$pid" || true
    sed -n 's/^tpdig: [0-9]* events in .*, \([0-9]*\) drops$/\1/p' "$err"
}
printf '%-22s %10s\n' mode drops
printf '%-22s %10s\n' "tpdig -q" "$(storm -q)"
printf '%-22s %10s\n' "tpdig -w" "$(storm -w "$WORK/storm.tpd")"
printf '%-22s %10s\n' "tpdig -w -z" "$(storm -z -w "$WORK/stormz.tpd")"
