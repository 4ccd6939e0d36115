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

TPDIG=${TPDIG:-target/x86_64-unknown-linux-gnu/release/tpdig}
RUNS=${RUNS:-3}
COUNT=${COUNT:-500000}
READY_TIMEOUT=${READY_TIMEOUT:-30}
WORK=$(mktemp -d /tmp/bench-live.XXXXXX)
TPDIG_PID=
cleanup() {
    if [[ -n $TPDIG_PID ]]; then
        kill -KILL "$TPDIG_PID" 2>/dev/null || true
        wait "$TPDIG_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

die() { echo "bench-live: $*" >&2; exit 1; }

# SIGINT, then up to STOP_TIMEOUT seconds for the -v summary, then SIGKILL.
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
stop_tpdig() {
    local n=0 rc=0
    kill -INT "$TPDIG_PID" 2>/dev/null || true
    while kill -0 "$TPDIG_PID" 2>/dev/null; do
        if (( n++ >= STOP_TIMEOUT * 10 )); then
            echo "bench-live: tpdig ignored SIGINT for ${STOP_TIMEOUT}s; killing it" >&2
            kill -KILL "$TPDIG_PID" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$TPDIG_PID" 2>/dev/null || rc=$?
    (( rc == 0 || rc == 130 )) || echo "bench-live: tpdig exited with status $rc" >&2
    TPDIG_PID=
}

[[ $(id -u) -eq 0 ]] || die "needs root (perf -a, tracefs)"
[[ -x $TPDIG ]] || die "no tpdig at $TPDIG (cargo build --release, or set TPDIG)"
if ! command -v perf >/dev/null 2>&1; then
    apt-get install -y linux-perf >/dev/null || die "cannot install linux-perf"
fi
if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs nodev /sys/kernel/tracing || die "cannot mount tracefs"
fi

PAGE=$(getconf PAGESIZE)
PERF_PAGES=$(( 8 * 1024 * 1024 / PAGE ))   # 8 MiB per CPU (a power of two for 4 KiB pages)

# dd's own elapsed seconds from its stderr file:
# "500000 bytes (500 kB, 488 KiB) copied, 0.163 s, 3.1 MB/s".
dd_seconds() {
    sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' "$1" | tail -n1
}

run_dd() { # $1: file for dd's stderr
    dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>"$1"
}

median() { # numbers as arguments
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "nan" }'
}

# Total drops from tpdig's -v summary on stderr. Adapt here if the format changes;
# assumed one line per CPU like "cpu 0: 123 events, 4 drops".
tpdig_drops() {
    awk '/^(tpdig: )?cpu [0-9]+:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^drops?,?$/) { n += $i; seen = 1 } }
         END { if (seen) print n + 0; else print "?" }' "$1"
}

# Samples perf lost: `perf report --stats` ends with one "<event> stats:" section per
# event whose "LOST_SAMPLES events: N" is the number of samples lost (the
# "Aggregated stats" section counts LOST *records* instead, so it is skipped).
# Fallback: the "lost N chunks" warning (chunks, not samples; printed as "N chunks").
perf_lost() { # $1: perf.data
    local n
    n=$(perf report --stats -i "$1" 2>/dev/null |
        awk '/stats:$/ { per_event = ($0 !~ /Aggregated/) }
             per_event && /LOST_SAMPLES events:/ { s += $NF; seen = 1 }
             END { if (seen) print s + 0 }') || n=
    if [[ -z $n ]]; then
        n=$(perf script -i "$1" 2>&1 >/dev/null | grep -oiE 'lost [0-9]+ chunks' |
            awk '{ s += $2; seen = 1 } END { if (seen) print s " chunks"; else print 0 }')
    fi
    echo "${n:-?}"
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
    : >"$WORK/tpdig.err"
    # Job control on while starting it: a non-interactive shell would otherwise start
    # the background job with SIGINT ignored.
    set -m
    "$TPDIG" -q -v --buffer-size 8M >/dev/null 2>"$WORK/tpdig.err" &
    TPDIG_PID=$!
    set +m
    waited=0
    until grep -q capturing "$WORK/tpdig.err"; do
        kill -0 "$TPDIG_PID" 2>/dev/null || die "tpdig exited early: $(tail -n3 "$WORK/tpdig.err")"
        (( waited++ < READY_TIMEOUT * 10 )) || die "tpdig not ready after ${READY_TIMEOUT}s"
        sleep 0.1
    done
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
