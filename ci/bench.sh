#!/usr/bin/env bash
# The benchmark suite: tpdig against perf, strace and sysdig, measured in one run on one
# machine, written up as BENCHMARKS.md. Not a test and not part of .ci/run: the full mode
# takes about 20 minutes and its figures move with the machine's load.
#
#   ci/bench.sh            full mode, rewrites BENCHMARKS.md at the repository root
#   ci/bench.sh --quick    every measurement with tiny sizes (under a minute); writes
#                          /tmp/tpdig-bench-quick.md unless --out is given
#   ci/bench.sh --out F    write the report to F
#   RUNS=n                 repetitions of each timing (medians; default 3, quick 1)
#   TPDIG=path             the binary (default: the static release build, built if absent)
#
# Sections (each figure beside its peers' and the ratio):
#   1. workload slowdown: wall time of a workload under a tracer / bare, for a syscall storm
#      (dd bs=1), a file-heavy job (grep -r through /usr/include), a loopback TCP transfer
#      and a fork/exec storm, under tpdig live (-q, -w, -w -z, a chisel, without the probe
#      tier), `perf record -a` of the same tracepoints with the same 8 MiB rings, `perf
#      trace` and `strace -f` (the last two on a smaller size of each workload, with its own
#      bare time, as they are 100-600x slower); drops of each;
#   2. consumer throughput over one 2M-event capture (1M one-byte dd copies): tpdig -r (text,
#      JSON, -q, a filter, two chisels, -z input, no-probe input) vs `perf script` over the
#      perf.data of the same command; `sysdig -r` over the sample .scap files (other inputs);
#      filter evaluation from the ignored test bench_two_clause_filter;
#   3. capture size per event (-w, -w -z) vs perf.data;
#   4. peak RSS and CPU time over a capture under load; time from start to the first event.
# The workload is the timed part: each tracer is started and ready before the workload
# starts, and its start-up and write-out are not counted (they are in section 4).
set -uo pipefail
# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
cd "$BENCH_ROOT" || exit 1

QUICK=0
OUT=
while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --out) OUT=$2; shift ;;
    -h | --help) sed -n '2,27p' "$0"; exit 0 ;;
    *) bench_die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

if ((QUICK)); then
    RUNS=${RUNS:-1}
    DD_N=20000 FILES_DIR=/usr/include/linux TCP_MB=8 FORKS=50
    SLOW_DIV=10 CAP_N=20000 MEM_SECS=2 FIRST_RUNS=1 SLOW_TIMEOUT=15
    OUT=${OUT:-/tmp/tpdig-bench-quick.md}
else
    RUNS=${RUNS:-3}
    DD_N=500000 FILES_DIR=/usr/include TCP_MB=256 FORKS=2000
    SLOW_DIV=20 CAP_N=500000 MEM_SECS=60 FIRST_RUNS=5 SLOW_TIMEOUT=300
    OUT=${OUT:-$BENCH_ROOT/BENCHMARKS.md}
fi

bench_setup linux-perf strace sysdig
[[ -d $FILES_DIR ]] || FILES_DIR=/usr/share
WORK=$(mktemp -d /tmp/tpdig-bench.XXXXXX)
LOADGEN_PID=
cleanup() {
    stop_tpdig
    [[ -n $LOADGEN_PID ]] && { kill -- -"$LOADGEN_PID" 2>/dev/null; wait "$LOADGEN_PID" 2>/dev/null; }
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A R # results: key -> value; printed into the report
# Noise: other builds on the machine, sampled at each section.
NOISE_MAX=0
noise() {
    local n
    n=$(ps -eo comm= | grep -cE '^(rustc|cargo|cc|cc1|ld|ld.lld|clang)$')
    ((n > NOISE_MAX)) && NOISE_MAX=$n
    NOISE_LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
}
NOISE_LOADS=()
section() { noise; bench_log "[$(($(date +%s) - START_S)) s] $*"; }
T_START=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
START_S=$(date +%s)

# ------------------------------------------------------------------ workloads
cat >"$WORK/timed.sh" <<'EOF'
#!/bin/bash
# timed.sh OUT CMD...: run CMD (output discarded), write its wall time in ns to OUT.
out=$1; shift
s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N)
echo $((e - s)) >"$out"
EOF
cat >"$WORK/tcp.py" <<'EOF'
# Loopback TCP transfer: MB mebibytes in 4 KiB send() calls to a reader thread.
import socket, sys, threading
mb = float(sys.argv[1]); total = int(mb * 1048576); chunk = b"x" * 4096
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def sink():
    c, _ = srv.accept()
    while c.recv(65536):
        pass
t = threading.Thread(target=sink); t.start()
cli = socket.create_connection(srv.getsockname())
sent = 0
while sent < total:
    cli.sendall(chunk); sent += len(chunk)
cli.close(); t.join()
EOF
chmod +x "$WORK/timed.sh"
PY=$(command -v /usr/bin/python3 || command -v python3)

WORKLOADS=(dd files tcp fork)
declare -A WL_DESC
# wl_cmd NAME DIV: the command of workload NAME at 1/DIV of its size.
wl_cmd() {
    local div=$2
    case $1 in
    dd) echo dd if=/dev/zero of=/dev/null bs=1 count=$((DD_N / div)) ;;
    files)
        local dir=$FILES_DIR
        ((div > 1)) && dir=$SLOW_FILES_DIR
        echo grep -r -F -q -e tpdig-bench-no-such-string "$dir" ;;
    tcp) echo "$PY" "$WORK/tcp.py" "$(div "$TCP_MB" "$div" %.2f)" ;;
    fork) echo bash -c "'for ((i = 0; i < $((FORKS / div)); i++)); do /bin/true; done'" ;;
    esac
}
# The smaller tree for the slow tracers: the subdirectory of FILES_DIR nearest to 1/SLOW_DIV
# of its files.
SLOW_FILES_DIR=$(
    total=$(find "$FILES_DIR" -type f | wc -l)
    find "$FILES_DIR" -mindepth 1 -maxdepth 2 -type d | while read -r d; do
        echo "$(find "$d" -type f | wc -l) $d"
    done | awk -v want=$((total / SLOW_DIV)) '{ d = $1 - want; if (d < 0) d = -d }
        NR == 1 || d < best { best = d; dir = $2 } END { print dir }'
)
[[ -n $SLOW_FILES_DIR ]] || SLOW_FILES_DIR=$FILES_DIR
WL_DESC[dd]="\`dd if=/dev/zero of=/dev/null bs=1 count=$DD_N\` ($((DD_N * 2)) syscalls)"
WL_DESC[files]="\`grep -r\` (no match) through $FILES_DIR ($(find "$FILES_DIR" -type f | wc -l) files, $(du -sh "$FILES_DIR" | cut -f1))"
WL_DESC[tcp]="$TCP_MB MiB over loopback TCP in 4 KiB sends (python3)"
WL_DESC[fork]="$FORKS fork+exec of /bin/true from a bash loop"
declare -A WL_SLOW_DESC
WL_SLOW_DESC[dd]="count=$((DD_N / SLOW_DIV))"
WL_SLOW_DESC[files]="$SLOW_FILES_DIR ($(find "$SLOW_FILES_DIR" -type f | wc -l) files)"
WL_SLOW_DESC[tcp]="$(div "$TCP_MB" "$SLOW_DIV" %.2f) MiB"
WL_SLOW_DESC[fork]="$((FORKS / SLOW_DIV)) execs"

# Warm the page cache and python's imports before anything is timed.
for w in "${WORKLOADS[@]}"; do eval "$(wl_cmd "$w" 1)" >/dev/null 2>&1; done

HAVE_FLIGHT=0
"$TPDIG" --help 2>/dev/null | grep -q -- '--flight-recorder' && HAVE_FLIGHT=1

# ------------------------------------------------------------------ 1. slowdown
# Tracers: key|label|size (1 = full size, slow = 1/SLOW_DIV)
TRACERS=(
    "bare|bare|1"
    "tq|tpdig -q|1"
    "tw|tpdig -w|1"
    "twz|tpdig -w -z|1"
    "tch|tpdig -c topscalls|1"
    "tnp|tpdig -q --compat no-uprobes,no-eprobes|1"
    "tns|tpdig -q --compat no-state|1"
    "prec|perf record -a (same tracepoints, 8 MiB/CPU)|1"
    "bares|bare (small size)|slow"
    "ptr|perf trace (small size)|slow"
    "str|strace -f (small size)|slow"
)
((HAVE_FLIGHT)) && TRACERS+=("tfr|tpdig --flight-recorder|1")

# run_under KEY RUN WORKLOAD...: one tracer session over the workloads, one after the other,
# each timed on its own; sets R[t.KEY.W.RUN] and R[d.KEY.W.RUN] (the session's drops).
run_under() {
    local key=$1 i=$2 div=1 script="$WORK/session.sh" drops="-" w
    shift 2
    [[ $key == bares || $key == ptr || $key == str ]] && div=$SLOW_DIV
    {
        echo "#!/bin/bash"
        for w in "$@"; do
            rm -f "$WORK/t.$w.ns"
            echo "\"$WORK/timed.sh\" \"$WORK/t.$w.ns\" $(wl_cmd "$w" "$div")"
        done
    } >"$script"
    chmod +x "$script"
    case $key in
    bare | bares) "$script" ;;
    tq | tw | twz | tch | tnp | tns | tfr)
        local args=()
        case $key in
        tq) args=(-q) ;;
        tw) args=(-w "$WORK/live.tpd") ;;
        twz) args=(-z -w "$WORK/live.tpd") ;;
        tch) args=(-c topscalls) ;;
        tnp) args=(-q --compat no-uprobes,no-eprobes) ;;
        tns) args=(-q --compat no-state) ;;
        tfr) args=(--flight-recorder -w "$WORK/flight.tpd" --no-final-dump) ;;
        esac
        local ready=capturing nap=
        [[ $key == tfr ]] && ready="probes: uprobes" nap=1
        if READY_PATTERN=$ready READY_SLEEP=$nap start_tpdig "$WORK/tp.err" /dev/null "${args[@]}"; then
            "$script"
            stop_tpdig
            drops=$(tpdig_drops "$WORK/tp.err")
        fi
        rm -f "$WORK/live.tpd" ;;
    prec)
        rm -f "$WORK/rec.data"
        perf record -q -B -a "${PERF_EVENTS[@]}" -m "$(perf_pages 8)" -o "$WORK/rec.data" -- \
            "$script" >/dev/null 2>"$WORK/perf.err" ||
            bench_log "perf record failed: $(tail -n2 "$WORK/perf.err")"
        drops=$(perf_lost "$WORK/rec.data") ;;
    ptr)
        timeout -s INT "$SLOW_TIMEOUT" perf trace -o "$WORK/trace.out" -- "$script" >/dev/null 2>&1
        drops=$(grep -oE 'LOST [0-9]+ events' "$WORK/trace.out" | awk '{ s += $2 } END { print s + 0 }')
        rm -f "$WORK/trace.out" ;;
    str)
        timeout -s INT "$SLOW_TIMEOUT" strace -f -qq -o /dev/null -- "$script" >/dev/null 2>&1
        drops="0 (synchronous)" ;;
    esac
    for w in "$@"; do
        # A workload cut off by SLOW_TIMEOUT has no time file: "?" (shown as a gap).
        R[t.$key.$w.$i]=$(div "$(cat "$WORK/t.$w.ns" 2>/dev/null || echo ?)" 1000000000 %.4f)
        R[d.$key.$w.$i]=$drops
    done
}

section "1. workload slowdown ($RUNS runs x ${#WORKLOADS[@]} workloads x ${#TRACERS[@]} tracers)"
# Full mode: one tracer session per workload, so drops belong to one workload. Quick mode:
# one session over all four (tracer start-up is most of a quick run).
for i in $(seq "$RUNS"); do
    if ((QUICK)); then
        for tr in "${TRACERS[@]}"; do
            key=${tr%%|*}
            bench_log "  run $i/$RUNS all workloads under $key"
            run_under "$key" "$i" "${WORKLOADS[@]}"
        done
    else
        for w in "${WORKLOADS[@]}"; do
            for tr in "${TRACERS[@]}"; do
                key=${tr%%|*}
                bench_log "  run $i/$RUNS $w under $key"
                run_under "$key" "$i" "$w"
            done
        done
    fi
done
# medians
for w in "${WORKLOADS[@]}"; do
    for tr in "${TRACERS[@]}"; do
        key=${tr%%|*}
        ts=() ds=()
        for i in $(seq "$RUNS"); do ts+=("${R[t.$key.$w.$i]}"); ds+=("${R[d.$key.$w.$i]}"); done
        R[t.$key.$w]=$(median "${ts[@]}")
        R[runs.$key.$w]="${ts[*]}"
        if printf '%s\n' "${ds[@]}" | grep -qv '^[0-9]\+$'; then
            R[d.$key.$w]=$(printf '%s\n' "${ds[@]}" | sort -u | paste -sd/)
        else
            R[d.$key.$w]=$(median "${ds[@]}")
        fi
        base=bare
        [[ $key == bares || $key == ptr || $key == str ]] && base=bares
        R[s.$key.$w]=$(div "${R[t.$key.$w]}" "${R[t.$base.$w]:-?}" %.2f)
    done
done

# ------------------------------------------------------------------ 2./3. reading, sizes
section "2. consumer throughput and capture size (dd count=$CAP_N, $((CAP_N * 4)) events)"
CAP_CMD=(dd if=/dev/zero of=/dev/null bs=1 count="$CAP_N")
perf record -q "${PERF_EVENTS[@]}" -m "$(perf_pages 8)" -o "$WORK/perf.data" -- "${CAP_CMD[@]}" >/dev/null 2>&1
"$TPDIG" -w "$WORK/cap.tpd" -- "${CAP_CMD[@]}" >/dev/null 2>&1
"$TPDIG" -z -w "$WORK/capz.tpd" -- "${CAP_CMD[@]}" >/dev/null 2>&1
"$TPDIG" --compat no-uprobes,no-eprobes -w "$WORK/capnp.tpd" -- "${CAP_CMD[@]}" >/dev/null 2>&1
R[ev.perf]=$(perf_samples "$WORK/perf.data")
R[ev.cap]=$(tpdig_read_events "$WORK/cap.tpd")
R[ev.capz]=$(tpdig_read_events "$WORK/capz.tpd")
R[ev.capnp]=$(tpdig_read_events "$WORK/capnp.tpd")
R[b.perf]=$(stat -c %s "$WORK/perf.data")
R[b.cap]=$(stat -c %s "$WORK/cap.tpd")
R[b.capz]=$(stat -c %s "$WORK/capz.tpd")
for k in perf cap capz; do R[bpe.$k]=$(div "${R[b.$k]}" "${R[ev.$k]}" %.1f); done

FILTER='proc.name=dd and evt.type=write'
# Readers: key|label|events key|command
READERS=(
    "ps|perf script > /dev/null|perf|perf script -i $WORK/perf.data"
    "rq|tpdig -r -q|cap|$TPDIG -r $WORK/cap.tpd -q"
    "rt|tpdig -r > /dev/null (text)|cap|$TPDIG -r $WORK/cap.tpd"
    "psw|perf script piped to wc -l|perf|secs_wc perf script -i $WORK/perf.data"
    "rtw|tpdig -r piped to wc -l (text)|cap|secs_wc $TPDIG -r $WORK/cap.tpd"
    "rj|tpdig -r -j > /dev/null (JSON)|cap|$TPDIG -r $WORK/cap.tpd -j"
    "rf|tpdig -r -q '$FILTER' (filter only)|cap|$TPDIG -r $WORK/cap.tpd -q '$FILTER'"
    "rcf|tpdig -r -c topfiles_bytes|cap|$TPDIG -r $WORK/cap.tpd -c topfiles_bytes"
    "rcs|tpdig -r -c topscalls|cap|$TPDIG -r $WORK/cap.tpd -c topscalls"
    "rz|tpdig -r -q of the -z capture|capz|$TPDIG -r $WORK/capz.tpd -q"
    "rnp|tpdig -r -q of a capture without the probe tier|capnp|$TPDIG -r $WORK/capnp.tpd -q"
    "rns|tpdig -r -q --compat no-state (no state engine)|cap|$TPDIG -r $WORK/cap.tpd -q --compat no-state"
)
for i in $(seq "$RUNS"); do
    for rd in "${READERS[@]}"; do
        IFS='|' read -r key _ _ cmd <<<"$rd"
        bench_log "  run $i/$RUNS reader $key"
        case $cmd in
            secs_wc\ *) R[rt.$key.$i]=$(eval "$cmd") ;;
            *) R[rt.$key.$i]=$(eval "secs $cmd") ;;
        esac
    done
done
for rd in "${READERS[@]}"; do
    IFS='|' read -r key _ evk _ <<<"$rd"
    ts=()
    for i in $(seq "$RUNS"); do ts+=("${R[rt.$key.$i]}"); done
    R[rt.$key]=$(median "${ts[@]}")
    R[rate.$key]=$(div "${R[ev.$evk]}" "${R[rt.$key]}" %.0f)
    R[rr.$key]=$(div "${R[rate.$key]}" "${R[rate.ps]}" %.2f)
done
# Piped readers compare with perf script piped the same way.
R[rr.rtw]=$(div "${R[rate.rtw]}" "${R[rate.psw]}" %.2f)
R[rr.psw]=1.00
# Formatting alone: the time text adds over -q, as a rate.
R[rate.fmt]=$(awk -v n="${R[ev.cap]}" -v a="${R[rt.rt]}" -v b="${R[rt.rq]}" \
    'BEGIN { if (a > b && n > 0) printf "%.0f\n", n / (a - b); else print "?" }')

# sysdig -r over its own sample captures; tpdig -r over a capture of similar size.
section "  sysdig -r over /work/shared/scap-samples"
SCAP_DIR=${SCAP_DIR:-$BENCH_ROOT/../shared/scap-samples}
SYSDIG_ROWS=()
if [[ -d $SCAP_DIR ]] && command -v sysdig >/dev/null; then
    for f in "$SCAP_DIR"/*.scap; do
        n=$(timeout 60 sysdig -r "$f" 2>/dev/null | wc -l)
        ((n > 0)) || continue
        ts=()
        for _ in $(seq $((RUNS * 3))); do ts+=("$(secs timeout 60 sysdig -r "$f")"); done
        t=$(median "${ts[@]}")
        SYSDIG_ROWS+=("$(basename "$f")|$(stat -c %s "$f")|$n|$t|$(div "$n" "$t" %.0f)")
    done
fi
"$TPDIG" -w "$WORK/small.tpd" -- dd if=/dev/zero of=/dev/null bs=1 count=40 >/dev/null 2>&1
R[ev.small]=$(tpdig_read_events "$WORK/small.tpd")
ts=()
for _ in $(seq $((RUNS * 3))); do ts+=("$(secs "$TPDIG" -r "$WORK/small.tpd")"); done
R[rt.small]=$(median "${ts[@]}")
R[rate.small]=$(div "${R[ev.small]}" "${R[rt.small]}" %.0f)
R[b.small]=$(stat -c %s "$WORK/small.tpd")

# Filter evaluation: the ignored benchmark test.
section "  filter evaluation (cargo test --release --test filter_roundtrip bench_two_clause_filter)"
# Quick mode runs the newest built test binary if there is one (a rebuild takes minutes
# on a busy machine); the full mode builds it from the current source.
filter_bin=
((QUICK)) && filter_bin=$(ls -t "$BENCH_ROOT"/target/x86_64-unknown-linux-gnu/release/deps/filter_roundtrip-* 2>/dev/null |
    grep -v '\.d$' | head -n1)
if [[ -n $filter_bin && -x $filter_bin ]]; then
    filter_cmd=("$filter_bin" bench_two_clause_filter --ignored --nocapture)
else
    filter_cmd=(cargo test --release -q --test filter_roundtrip bench_two_clause_filter -- --ignored --nocapture)
fi
R[filter]=$(timeout 900 "${filter_cmd[@]}" 2>/dev/null | sed -n 's/^\([0-9.]*\) M evaluations\/s.*/\1/p' | tail -n1)
R[filter]=${R[filter]:-?}

# ------------------------------------------------------------------ 4. memory, start-up
# A background load: the four workloads in a loop, in their own process group.
start_load() {
    set -m
    (
        while :; do
            for w in "${WORKLOADS[@]}"; do eval "$(wl_cmd "$w" 1)" >/dev/null 2>&1; done
        done
    ) &
    LOADGEN_PID=$!
    set +m
}
stop_load() {
    [[ -n $LOADGEN_PID ]] || return 0
    kill -- -"$LOADGEN_PID" 2>/dev/null
    wait "$LOADGEN_PID" 2>/dev/null
    LOADGEN_PID=
}

section "4. peak RSS and CPU over ${MEM_SECS}s under load"
mem_tpdig() { # key, tpdig args
    local key=$1
    shift
    start_load
    local ready=capturing nap=
    [[ $key == mfr ]] && ready="probes: uprobes" nap=1
    if READY_PATTERN=$ready READY_SLEEP=$nap start_tpdig "$WORK/mem.err" /dev/null "$@"; then
        sleep "$MEM_SECS"
        R[rss.$key]=$(proc_hwm_kib "$TPDIG_PID")
        R[cpu.$key]=$(proc_cpu_secs "$TPDIG_PID")
        stop_tpdig
        R[ev.$key]=$(tpdig_events "$WORK/mem.err")
        R[d.$key]=$(tpdig_drops "$WORK/mem.err")
    fi
    stop_load
    rm -f "$WORK/mem.tpd"
}
mem_tpdig mq -q
mem_tpdig mw -w "$WORK/mem.tpd"
((HAVE_FLIGHT)) && mem_tpdig mfr --flight-recorder -w "$WORK/mem.tpd" --no-final-dump
# perf record -a of the same tracepoints, as a peer (GNU time's maximum RSS). Pipe mode
# (-o -) into a byte counter: a minute of system-wide records would be gigabytes of disk.
start_load
/usr/bin/time -f '%M %U %S' -o "$WORK/perf.time" perf record -q -a "${PERF_EVENTS[@]}" \
    -m "$(perf_pages 8)" -o - -- sleep "$MEM_SECS" 2>"$WORK/perf.err" | wc -c >"$WORK/perf.bytes"
stop_load
read -r 'R[rss.mp]' u s <"$WORK/perf.time" 2>/dev/null
R[cpu.mp]=$(awk -v u="${u:-0}" -v s="${s:-0}" 'BEGIN { printf "%.2f\n", u + s }')
R[ev.mp]="$(div "$(cat "$WORK/perf.bytes")" 1048576 %.0f) MiB of records"
# perf -q prints no lost-chunks warning and pipe mode has no file for `perf report --stats`.
R[d.mp]="not counted (pipe mode)"

section "4. time from start to the first event printed"
start_load
f1=() f2=()
for _ in $(seq "$FIRST_RUNS"); do
    f1+=("$(first_line timeout -s INT 60 "$TPDIG")")
    f2+=("$(first_line timeout -s INT 60 bash -c 'exec perf trace -a 2>&1')")
    sleep 0.5
done
stop_load
R[first.tpdig]=$(median "${f1[@]}")
R[first.ptrace]=$(median "${f2[@]}")
R[first.runs.tpdig]="${f1[*]}"
R[first.runs.ptrace]="${f2[*]}"
# Back to back: a run started the moment the previous one exits, while its teardown runs.
b1=() b2=()
for _ in $(seq "$FIRST_RUNS"); do
    b1+=("$(back_to_back "$TPDIG" -n 10)")
    b2+=("$(back_to_back bash -c 'exec perf trace -a 2>&1 | head -n 10')")
done
R[b2b.tpdig]=$(median "${b1[@]}")
R[b2b.ptrace]=$(median "${b2[@]}")
R[b2b.runs.tpdig]="${b1[*]}"

# ------------------------------------------------------------------ 5. filtered capture
# The per-syscall tracepoints: ci/bench-filtered.sh runs the dd storm bare, under perf
# record of the same per-syscall tracepoints, and under filtered tpdig runs; its table is
# kept as printed and its medians read back for the targets.
section "5. filtered capture (ci/bench-filtered.sh, dd count=$DD_N)"
RUNS=$RUNS COUNT=$DD_N TPDIG=$TPDIG "$BENCH_ROOT/ci/bench-filtered.sh" >"$WORK/filtered.txt" 2>"$WORK/filtered.err" ||
    bench_log "ci/bench-filtered.sh failed: $(tail -n3 "$WORK/filtered.err")"
filtered_median() { # the seconds column of the row whose label starts with $1
    awk -v l="$1" 'index($0, l) == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+$/) { print $i; exit } }' "$WORK/filtered.txt"
}
R[f.bare]=$(filtered_median "bare")
R[f.perf]=$(filtered_median "perf record")
R[f.open]=$(filtered_median "tpdig -q evt.type=openat ")
R[f.nginx]=$(filtered_median "tpdig -q 'evt.type in")
R[f.raw]=$(filtered_median "tpdig -q evt.type=openat --compat")

# ------------------------------------------------------------------ report
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - START_S))
ok() { # verdict from an awk condition on numbers; $1: condition with a, b; $2 a; $3 b
    awk -v a="$2" -v b="$3" "BEGIN { num = \"^-?[0-9.]+(e[-+]?[0-9]+)?\$\";
        if (a !~ num || b !~ num) { print \"unmeasured\"; exit }
        if ($1) print \"met\"; else print \"**NOT met**\" }"
}
x() { [[ $1 == "?" ]] && echo "?" || echo "$1x"; }
fmt_n() { awk -v n="$1" 'BEGIN { if (n ~ /^[0-9.]+$/) { if (n >= 1e6) printf "%.2fM\n", n / 1e6; else if (n >= 1e3) printf "%.0fk\n", n / 1e3; else print n } else print n }'; }
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
mem_total=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
virt=$(systemd-detect-virt 2>/dev/null)
[[ -z $virt || $virt == none ]] && { grep -q hypervisor /proc/cpuinfo && virt="virtual machine" || virt="bare metal"; }
noise
mode="full"
((QUICK)) && mode="quick (tiny sizes: the figures below are smoke-test numbers, not results)"

{
    echo "# Benchmarks"
    echo
    echo "Generated by \`ci/bench.sh\` ($mode) on $T_START in $((ELAPSED / 60)) min $((ELAPSED % 60)) s. Every"
    echo "figure is the median of $RUNS runs measured in the same run as its peers; ratios are"
    echo "tpdig / peer unless said otherwise. Regenerate with \`sudo ci/bench.sh\` (about 20 minutes;"
    echo "\`ci/bench.sh --quick\` checks the harness in under a minute)."
    echo
    echo "## Machine"
    echo
    echo "- CPU: $(nproc) x $cpu_model ($virt); memory $mem_total"
    echo "- kernel $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "- tpdig $("$TPDIG" -V 2>/dev/null | awk '{ print $2 }') ($(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$BENCH_ROOT" && git diff --quiet HEAD 2>/dev/null || echo ", uncommitted changes")), static release build"
    echo "- peers: $(perf --version 2>/dev/null), $(strace -V 2>/dev/null | head -n1), $(sysdig --version 2>/dev/null)"
    echo "- **noise**: load average $LOAD_START at the start, $LOAD_END at the end, on $(nproc) CPUs;"
    echo "  1-minute load at each section: ${NOISE_LOADS[*]}; up to $NOISE_MAX compiler processes"
    echo "  (rustc, cargo, cc, ld) of other builds were seen running at those moments."
    echo "  The machine was shared with other builds: single figures can move by tens of percent"
    echo "  between runs; the per-run times are listed so the spread shows."
    echo
    echo "## Targets"
    echo
    echo "| target | tpdig | peer | ratio | verdict |"
    echo "|---|---|---|---|---|"
    a=${R[s.tq.dd]} b=${R[s.prec.dd]}
    echo "| live: dd under \`tpdig -q\` no slower than under \`perf record -a\` (slowdown vs bare) | ${a}x | ${b}x | $(div "$a" "$b" %.2f) | $(ok 'a <= b' "$a" "$b") |"
    a=${R[d.tq.dd]} b=${R[d.prec.dd]}
    echo "| live: dd drops of \`tpdig -q\` no more than \`perf record -a\`, 8 MiB per CPU | $a | $b | - | $(ok 'a <= b' "$a" "$b") |"
    echo "| filter evaluation >= 10M events/s (two clauses, decoded events) | ${R[filter]}M/s | - | - | $(ok 'a >= 10' "${R[filter]}" 0) |"
    echo "| text formatting >= 2M events/s to /dev/null (\`tpdig -r\`, whole pipeline) | $(fmt_n "${R[rate.rt]}")/s | perf script $(fmt_n "${R[rate.ps]}")/s | $(x "${R[rr.rt]}") | $(ok 'a >= 2000000' "${R[rate.rt]}" 0) |"
    echo "| text formatting alone (time text adds over \`-r -q\`, as a rate) | $(fmt_n "${R[rate.fmt]}")/s | - | - | $(ok 'a >= 2000000' "${R[rate.fmt]}" 0) |"
    echo "| \`tpdig -r\` to /dev/null >= 5x perf script's events/s | $(fmt_n "${R[rate.rt]}")/s | $(fmt_n "${R[rate.ps]}")/s | $(x "${R[rr.rt]}") | $(ok 'a >= 5' "${R[rr.rt]}" 0) |"
    echo "| \`tpdig -r \\| wc -l\` >= 6x \`perf script \\| wc -l\` (text into a pipe) | $(fmt_n "${R[rate.rtw]}")/s | $(fmt_n "${R[rate.psw]}")/s | $(x "${R[rr.rtw]}") | $(ok 'a >= 6' "${R[rr.rtw]}" 0) |"
    a=$(div "${R[bpe.capz]}" "${R[bpe.perf]}" %.3f)
    echo "| \`-z\` bytes/event <= 1/4 of perf.data's | ${R[bpe.capz]} B | ${R[bpe.perf]} B | $a | $(ok 'a <= 0.25' "$a" 0) |"
    a=${R[d.tw.dd]} b=${R[d.tq.dd]}
    echo "| \`-w\` during the dd storm drops no more than \`-q\` | $a | $b | - | $(ok 'a <= b' "$a" "$b") |"
    a=${R[d.twz.dd]}
    echo "| \`-w -z\` during the dd storm drops no more than \`-q\` | $a | $b | - | $(ok 'a <= b' "$a" "$b") |"
    for c in rcf:topfiles_bytes rcs:topscalls; do
        k=${c%%:*}
        echo "| chisel ${c#*:} >= 1M events/s over a $(fmt_n "${R[ev.cap]}")-event capture | $(fmt_n "${R[rate.$k]}")/s | \`-r -q\` $(fmt_n "${R[rate.rq]}")/s | $(div "${R[rate.$k]}" "${R[rate.rq]}" %.2f) of -r -q | $(ok 'a >= 1000000' "${R[rate.$k]}" 0) |"
    done
    echo "| names tier: dd slowdown with / without uprobes and eprobes | ${R[s.tq.dd]}x | ${R[s.tnp.dd]}x | $(div "${R[s.tq.dd]}" "${R[s.tnp.dd]}" %.2f) | reported (no threshold) |"
    echo "| names tier: files-job slowdown with / without | ${R[s.tq.files]}x | ${R[s.tnp.files]}x | $(div "${R[s.tq.files]}" "${R[s.tnp.files]}" %.2f) | reported (no threshold) |"
    echo "| names tier: \`-r -q\` events/s of a capture with / without the probe tier | $(fmt_n "${R[rate.rq]}")/s | $(fmt_n "${R[rate.rnp]}")/s | $(div "${R[rate.rq]}" "${R[rate.rnp]}" %.2f) | reported (no threshold) |"
    echo "| state engine: dd slowdown with / without (\`--compat no-state\`) | ${R[s.tq.dd]}x | ${R[s.tns.dd]}x | $(div "${R[s.tq.dd]}" "${R[s.tns.dd]}" %.2f) | reported (no threshold) |"
    echo "| state engine: \`-r -q\` events/s with / without | $(fmt_n "${R[rate.rq]}")/s | $(fmt_n "${R[rate.rns]}")/s | $(div "${R[rate.rq]}" "${R[rate.rns]}" %.2f) | reported (no threshold) |"
    for f in open:'tpdig -q "evt.type=openat"' nginx:'tpdig -q "evt.type in (openat, connect) and proc.name=nginx"'; do
        a=${R[f.${f%%:*}]:-?}
        echo "| filtered: dd under \`${f#*:}\` <= 1.1x perf record of the same per-syscall tracepoints | ${a} s | ${R[f.perf]:-?} s | $(div "$a" "${R[f.perf]:-?}" %.2f) | $(ok 'a <= 1.1 * b' "$a" "${R[f.perf]:-?}") |"
        echo "| filtered: the same <= 1.3x bare | ${a} s | bare ${R[f.bare]:-?} s | $(div "$a" "${R[f.bare]:-?}" %.2f) | $(ok 'a <= 1.3 * b' "$a" "${R[f.bare]:-?}") |"
    done
    if ((HAVE_FLIGHT)); then
        echo "| flight recorder: dd slowdown under \`--flight-recorder -w F --no-final-dump\` (vs \`-q\`) | ${R[s.tfr.dd]}x | ${R[s.tq.dd]}x | $(div "${R[s.tfr.dd]}" "${R[s.tq.dd]}" %.2f) | reported (its readiness is guessed: it prints no \`capturing\` line, so the run starts 1 s after its probes line) |"
        echo "| flight recorder: tpdig CPU seconds over ${MEM_SECS} s under load (vs \`-q\`) | ${R[cpu.mfr]:-?} s | ${R[cpu.mq]:-?} s | $(div "${R[cpu.mfr]:-?}" "${R[cpu.mq]:-?}" %.2f) | unverified: the harness cannot tell when the recorder is ready or whether the process it measures is the one recording (no -v summary); a near-zero figure means it measured the wrong thing |"
    else
        echo "| flight recorder: tpdig CPU time while recording | not built | - | - | not built (\`--flight-recorder\` is not in \`tpdig --help\`) |"
    fi
    echo
    echo "## 1. Workload slowdown"
    echo
    echo "Wall time of the workload under the tracer divided by its bare wall time. System-wide"
    echo "tracers (tpdig, \`perf record -a\`) are started and ready before the workload; \`perf trace\`"
    echo "and \`strace -f\` follow the workload's process tree and run a 1/$SLOW_DIV size of it, compared"
    echo "with the bare time of that size. \`perf record -a\` records the tracepoints tpdig opens"
    echo "(\`${PERF_EVENTS[*]//-e /}\`) with 8 MiB per CPU; tpdig also places its"
    echo "uprobes (the names tier) unless \`--compat no-uprobes,no-eprobes\`."
    echo "A ? is a run cut off after ${SLOW_TIMEOUT} s. Drops: records the kernel"
    echo "discarded (tpdig -v summary, \`perf report --stats\` LOST_SAMPLES, \`perf trace\` LOST lines)."
    ((QUICK)) && echo "Quick mode: one tracer session runs all four workloads, so each drop count is the session's."
    echo
    for w in "${WORKLOADS[@]}"; do
        echo "### $w: ${WL_DESC[$w]}"
        echo
        echo "Small size for the slow tracers: ${WL_SLOW_DESC[$w]}."
        echo
        echo "| tracer | seconds (median) | slowdown | drops | runs (s) |"
        echo "|---|---|---|---|---|"
        for tr in "${TRACERS[@]}"; do
            IFS='|' read -r key label _ <<<"$tr"
            echo "| $label | ${R[t.$key.$w]} | $(x "${R[s.$key.$w]}") | ${R[d.$key.$w]} | ${R[runs.$key.$w]} |"
        done
        echo
        echo "tpdig -q vs perf record -a: $(div "${R[s.tq.$w]}" "${R[s.prec.$w]}" %.2f)x the slowdown;"
        echo "vs perf trace: $(div "${R[s.tq.$w]}" "${R[s.ptr.$w]}" %.3f)x; vs strace -f: $(div "${R[s.tq.$w]}" "${R[s.str.$w]}" %.3f)x."
        echo
    done
    echo "## 2. Consumer throughput"
    echo
    echo "One capture of \`${CAP_CMD[*]}\` by each tool (\`perf record\` of the same tracepoints, \`tpdig"
    echo "-w -- cmd\`), read to /dev/null; events/s = events in the file / wall time of the whole"
    echo "process (start-up included). perf.data holds ${R[ev.perf]} samples, the tpdig capture ${R[ev.cap]} events."
    echo "The rows \"piped to wc -l\" time the reader and \`wc -l\` together, and compare tpdig with"
    echo "perf script piped the same way."
    echo
    echo "| reader | seconds | events/s | vs perf script |"
    echo "|---|---|---|---|"
    for rd in "${READERS[@]}"; do
        IFS='|' read -r key label _ _ <<<"$rd"
        echo "| $label | ${R[rt.$key]} | $(fmt_n "${R[rate.$key]}") | $(x "${R[rr.$key]}") |"
    done
    echo
    echo "Filter evaluation alone (\`cargo test --release --test filter_roundtrip bench_two_clause_filter"
    echo "-- --ignored --nocapture\`, \`proc.name = cat and thread.tid > 100\` over decoded events):"
    echo "${R[filter]}M evaluations/s."
    echo
    echo "**sysdig -r** reads only its own .scap files (sysdig cannot capture here: no driver), so the"
    echo "inputs differ: the sample captures in /work/shared/scap-samples, each a few dozen events,"
    echo "read $((RUNS * 3)) times (median). At this size both tools' times are start-up; the rows compare"
    echo "start-up cost more than throughput. tpdig's row is a capture of similar size."
    echo
    echo "| input | bytes | events | seconds | events/s |"
    echo "|---|---|---|---|---|"
    for row in "${SYSDIG_ROWS[@]}"; do
        IFS='|' read -r f b n t r <<<"$row"
        echo "| sysdig -r $f | $b | $n | $t | $(fmt_n "$r") |"
    done
    ((${#SYSDIG_ROWS[@]})) || echo "| sysdig -r | - | - | - | not measured (no sysdig or no samples) |"
    echo "| tpdig -r (small capture of dd count=40) | ${R[b.small]} | ${R[ev.small]} | ${R[rt.small]} | $(fmt_n "${R[rate.small]}") |"
    echo
    echo "## 3. Capture size"
    echo
    echo "| file | events | bytes | bytes/event | vs perf.data |"
    echo "|---|---|---|---|---|"
    echo "| perf.data | ${R[ev.perf]} | ${R[b.perf]} | ${R[bpe.perf]} | 1.0x |"
    echo "| tpdig -w | ${R[ev.cap]} | ${R[b.cap]} | ${R[bpe.cap]} | $(x "$(div "${R[bpe.cap]}" "${R[bpe.perf]}" %.3f)") |"
    echo "| tpdig -w -z | ${R[ev.capz]} | ${R[b.capz]} | ${R[bpe.capz]} | $(x "$(div "${R[bpe.capz]}" "${R[bpe.perf]}" %.3f)") |"
    echo
    echo "## 4. Memory, CPU and start-up"
    echo
    echo "A ${MEM_SECS} s system-wide capture while the four workloads run in a loop. Peak RSS is the"
    echo "kernel's VmHWM of the tpdig process (GNU time's maximum RSS for perf); CPU is user + system"
    echo "seconds of the tracer over the capture."
    echo
    echo "| tracer | peak RSS (MiB) | CPU s | events | drops |"
    echo "|---|---|---|---|---|"
    mib() { div "$1" 1024 %.1f; }
    echo "| tpdig -q | $(mib "${R[rss.mq]:-?}") | ${R[cpu.mq]:-?} | ${R[ev.mq]:-?} | ${R[d.mq]:-?} |"
    echo "| tpdig -w | $(mib "${R[rss.mw]:-?}") | ${R[cpu.mw]:-?} | ${R[ev.mw]:-?} | ${R[d.mw]:-?} |"
    ((HAVE_FLIGHT)) && echo "| tpdig --flight-recorder | $(mib "${R[rss.mfr]:-?}") | ${R[cpu.mfr]:-?} | ${R[ev.mfr]:-?} | ${R[d.mfr]:-?} |"
    echo "| perf record -a (same tracepoints, -o - to a pipe) | $(mib "${R[rss.mp]:-?}") | ${R[cpu.mp]:-?} | ${R[ev.mp]:-?} | ${R[d.mp]:-?} |"
    echo
    echo "Time from launch to the first event line on stdout (system-wide, under the same load;"
    echo "median of $FIRST_RUNS): tpdig ${R[first.tpdig]} s (runs: ${R[first.runs.tpdig]}), \`perf trace -a\`"
    echo "${R[first.ptrace]} s (runs: ${R[first.runs.ptrace]}); ratio $(div "${R[first.tpdig]}" "${R[first.ptrace]}" %.2f)."
    echo "tpdig's includes the /proc snapshot, placing its uprobes and the 20 ms reorder window."
    echo "Back to back (\`tpdig -n 10\` started as the previous one exits, while its teardown"
    echo "runs; median of $FIRST_RUNS): first event after ${R[b2b.tpdig]} s (runs: ${R[b2b.runs.tpdig]}),"
    echo "\`perf trace -a\` the same way ${R[b2b.ptrace]} s."
    echo
    echo "## 5. Filtered capture"
    echo
    echo "\`ci/bench-filtered.sh\`: the dd storm (none of its calls selected) bare, under \`perf record -a\`"
    echo "of the per-syscall tracepoints tpdig opens for the selection, and under filtered tpdig runs"
    echo "(per-syscall tracepoints chosen; the last row forces the raw_syscalls source). dd's own"
    echo "elapsed time, medians of $RUNS:"
    echo
    echo '```'
    sed '/^$/d' "$WORK/filtered.txt"
    echo '```'
    echo
    echo "## Where tpdig is behind"
    echo
    behind=0
    for w in "${WORKLOADS[@]}"; do
        r=$(div "${R[s.tq.$w]}" "${R[s.prec.$w]}" %.2f)
        if [[ $(ok 'a > 1.05' "$r" 0) == met ]]; then
            echo "- $w: the workload runs ${r}x as slowly under \`tpdig -q\` as under \`perf record -a\` (${R[s.tq.$w]}x vs ${R[s.prec.$w]}x bare)."
            behind=1
        fi
    done
    for rd in "${READERS[@]}"; do
        IFS='|' read -r key label _ _ <<<"$rd"
        [[ $key == ps ]] && continue
        if [[ $(ok 'a < 1' "${R[rr.$key]}" 0) == met ]]; then
            echo "- reading: $label is slower than perf script (${R[rr.$key]}x)."
            behind=1
        fi
    done
    if [[ $(ok 'a > b' "${R[first.tpdig]}" "${R[first.ptrace]}") == met ]]; then
        echo "- start-up: the first event comes $(div "${R[first.tpdig]}" "${R[first.ptrace]}" %.1f)x later than \`perf trace -a\`'s."
        behind=1
    fi
    if [[ $(ok 'a > b' "${R[rss.mq]:-?}" "${R[rss.mp]:-?}") == met ]]; then
        echo "- memory: peak RSS $(mib "${R[rss.mq]}") MiB vs perf record's $(mib "${R[rss.mp]}") MiB."
        behind=1
    fi
    ((behind)) || echo "- nowhere in the comparisons above (see the NOT met rows of the targets, if any)."
    echo "- Targets marked **NOT met** above are misses, whatever the peers do."
    echo
    echo "## Reproduce"
    echo
    echo '```'
    echo "cargo build --release"
    echo "sudo ci/bench.sh            # installs linux-perf, strace, sysdig from Debian if missing"
    echo "sudo ci/bench.sh --quick    # the harness itself, tiny sizes (a few minutes on a busy machine)"
    echo '```'
    echo
    echo "Sizes: RUNS=$RUNS, dd count $DD_N, files $FILES_DIR, TCP $TCP_MB MiB, $FORKS execs, slow"
    echo "tracers at 1/$SLOW_DIV, capture dd count $CAP_N, ${MEM_SECS} s memory run. Older single-topic"
    echo "scripts: \`ci/bench-live.sh\`, \`ci/bench-capture.sh\`, \`ci/bench-consumer.sh\`."
} >"$OUT.tmp" && mv "$OUT.tmp" "$OUT"
bench_log "wrote $OUT"
((QUICK)) && cat "$OUT"
exit 0
