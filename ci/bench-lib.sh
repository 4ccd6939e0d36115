# Shared helpers of the benchmark scripts (ci/bench.sh, ci/bench-live.sh,
# ci/bench-capture.sh, ci/bench-consumer.sh). Sourced, not run.
#
# Every parser of a peer's or tpdig's output lives here, once, so that a format change is
# fixed in one place. Functions print "?" when a number cannot be read rather than failing:
# a benchmark that stops half-way tells less than one that shows a gap.

BENCH_ROOT=${BENCH_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
TPDIG=${TPDIG:-$BENCH_ROOT/target/x86_64-unknown-linux-gnu/release/tpdig}

bench_die() { echo "bench: $*" >&2; exit 1; }
bench_log() { echo "bench: $*" >&2; }

# Root, tracefs mounted, the peers installed from Debian, a release binary.
# $@: Debian packages wanted (default: linux-perf strace sysdig).
bench_setup() {
    [[ $(id -u) -eq 0 ]] || bench_die "needs root (perf -a, tracefs)"
    local want=("${@:-linux-perf strace sysdig}") need=() p bin
    # shellcheck disable=SC2206
    want=(${want[*]})
    for p in "${want[@]}"; do
        case $p in linux-perf) bin=perf ;; *) bin=$p ;; esac
        command -v "$bin" >/dev/null 2>&1 || need+=("$p")
    done
    command -v bc >/dev/null 2>&1 || need+=(bc)
    command -v python3 >/dev/null 2>&1 || need+=(python3)
    if ((${#need[@]})); then
        bench_log "installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
            bench_die "cannot install ${need[*]}"
    fi
    if ! mountpoint -q /sys/kernel/tracing; then
        mount -t tracefs nodev /sys/kernel/tracing || bench_die "cannot mount tracefs"
    fi
    if [[ ! -x $TPDIG ]]; then
        (cd "$BENCH_ROOT" && cargo build --release -q) || bench_die "cargo build --release failed"
    fi
}

now_ns() { date +%s%N; }

median() { # numbers as arguments; non-numbers ignored; "?" when none
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "?" }'
}

# a / b with a format (default %.1f); "?" when either is not a number or b is 0.
div() {
    awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN {
        if (a !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || b !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ || b + 0 == 0) print "?";
        else printf f "\n", a / b }'
}

# Seconds a command takes, wall clock, its output thrown away.
secs() {
    local s e
    s=$(now_ns)
    "$@" >/dev/null 2>&1 || true
    e=$(now_ns)
    div $((e - s)) 1000000000 %.4f
}

# Seconds a command takes with its output piped to `wc -l`, as a user reads a trace
# (`perf script | wc -l`): the pipe's cost counts, /dev/null's shortcut does not.
secs_wc() {
    local s e
    s=$(now_ns)
    { "$@" 2>/dev/null || true; } | wc -l >/dev/null
    e=$(now_ns)
    div $((e - s)) 1000000000 %.4f
}

# dd's own elapsed seconds from its stderr ("... copied, 0.163 s, 3.1 MB/s").
dd_seconds() {
    sed -n 's/.* copied, \([0-9.e+-]*\) s,.*/\1/p' "$1" | tail -n1
}

# tpdig -v summary on stderr:
#   tpdig: N events in S s (R events/s), M shown, D drops
#   tpdig: cpu 0: N events, D drops
tpdig_drops() { # $1: stderr file
    local d
    d=$(sed -n 's/^tpdig: [0-9]* events in .*, \([0-9]*\) drops$/\1/p' "$1" | tail -n1)
    if [[ -z $d ]]; then
        d=$(awk '/^(tpdig: )?cpu [0-9]+:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^drops?,?$/) { n += $i; seen = 1 } }
                 END { if (seen) print n + 0 }' "$1")
    fi
    echo "${d:-?}"
}
tpdig_events() { # $1: stderr file of a live -v run
    local n
    n=$(sed -n 's/^tpdig: \([0-9]*\) events in .*/\1/p' "$1" | tail -n1)
    echo "${n:-?}"
}
# `tpdig -r FILE -q -v`: "tpdig: N events read in S s (R events/s) ..."
tpdig_read_events() { # $1: capture
    local n
    n=$("$TPDIG" -r "$1" -q -v 2>&1 >/dev/null | sed -n 's/^tpdig: \([0-9]*\) events read.*/\1/p' | tail -n1)
    echo "${n:-?}"
}

# Samples perf lost: `perf report --stats` has one "<event> stats:" section per event whose
# "LOST_SAMPLES events: N" counts lost samples (the "Aggregated stats" section counts LOST
# *records*, so it is skipped). Fallback: the "lost N chunks" warning (chunks, not samples).
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
perf_samples() { # $1: perf.data
    perf script -i "$1" -F event 2>/dev/null | wc -l
}

# The tracepoints tpdig opens that perf can record too (tpdig also places uprobes).
PERF_EVENTS=(-e raw_syscalls:sys_enter -e raw_syscalls:sys_exit -e sched:sched_switch
    -e sched:sched_process_fork -e sched:sched_process_exec -e sched:sched_process_exit
    -e task:task_rename -e sock:inet_sock_set_state)
perf_pages() { # 8 MiB per CPU (default) in pages
    echo $(((${1:-8} * 1024 * 1024) / $(getconf PAGESIZE)))
}

# Start tpdig in the background and wait for its "capturing" line; TPDIG_PID is set.
# READY_PATTERN overrides the line waited for, READY_SLEEP adds seconds after it (for modes
# that print no "capturing" line, such as --flight-recorder).
# $1: stderr file, $2: stdout file, rest: tpdig arguments.
TPDIG_PID=
READY_TIMEOUT=${READY_TIMEOUT:-60}
start_tpdig() {
    local err=$1 out=$2 waited=0
    shift 2
    : >"$err"
    # Job control on while starting it: a non-interactive shell would otherwise start
    # the background job with SIGINT ignored.
    set -m
    "$TPDIG" -v "$@" >"$out" 2>"$err" &
    TPDIG_PID=$!
    set +m
    until grep -q -- "${READY_PATTERN:-capturing}" "$err"; do
        if ! kill -0 "$TPDIG_PID" 2>/dev/null; then
            bench_log "tpdig $* exited early: $(tail -n3 "$err")"
            TPDIG_PID=
            return 1
        fi
        if ((waited++ >= READY_TIMEOUT * 20)); then
            bench_log "tpdig $* not ready after ${READY_TIMEOUT}s"
            stop_tpdig
            return 1
        fi
        sleep 0.05
    done
    [[ -z ${READY_SLEEP:-} ]] || sleep "$READY_SLEEP"
}

# SIGINT, then up to STOP_TIMEOUT seconds for the -v summary, then SIGKILL.
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
stop_tpdig() {
    local n=0 rc=0
    [[ -n $TPDIG_PID ]] || return 0
    kill -INT "$TPDIG_PID" 2>/dev/null || true
    while kill -0 "$TPDIG_PID" 2>/dev/null; do
        if ((n++ >= STOP_TIMEOUT * 10)); then
            bench_log "tpdig ignored SIGINT for ${STOP_TIMEOUT}s; killing it"
            kill -KILL "$TPDIG_PID" 2>/dev/null || true
            break
        fi
        sleep 0.1
    done
    wait "$TPDIG_PID" 2>/dev/null || rc=$?
    ((rc == 0 || rc == 130)) || bench_log "tpdig exited with status $rc"
    TPDIG_PID=
}

# Peak RSS (KiB) and CPU seconds (user + system) of a live process.
# Seconds from launch to the first line on stdout, then the command is stopped; $@: command.
first_line() {
    local s e pidf
    pidf=$(mktemp /tmp/tpdig-first.XXXXXX)
    s=$(now_ns)
    e=$( ("$@" 2>/dev/null & echo $! >"$pidf"; wait) |
        { IFS= read -r _; now_ns; kill -INT "$(cat "$pidf")" 2>/dev/null; })
    rm -f "$pidf"
    [[ -n $e ]] && div $((e - s)) 1000000000 %.3f || echo "?"
}

# first_line of a second run started the moment a first run of the same command exits
# (tpdig's teardown of the first then runs beside the second's start); $@: command.
back_to_back() {
    sleep 5 # the run before, if any, is done tearing down
    "$@" >/dev/null 2>&1
    first_line timeout -s INT 60 "$@"
}

proc_hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
proc_cpu_secs() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
        "/proc/$1/stat" 2>/dev/null || echo "?"
}
