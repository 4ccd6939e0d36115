#!/usr/bin/env bash
# Consumer-side throughput: how fast tpdig turns ring records into output, next to
# `perf script` formatting the same kind of records. Not a test.
#
# Superseded for offline reading by ci/bench.sh (section 2: `tpdig -r` text, JSON, filter,
# chisels vs `perf script` over the same command's capture); this script remains the live
# view: the rate tpdig keeps up with while the storm runs.
#
#   ci/bench-consumer.sh [N]        (root; N one-byte writes per storm, default 1000000)
#
# What it measures:
#   perf   `perf record -a -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit` during a
#          `dd bs=1 count=N` storm, then the time of `perf script > /dev/null` over that
#          file: perf's offline decode+format rate (events/s = samples / seconds).
#   tpdig  measured live, during the same kind of storm, and
#          the rate is its own -v summary ("N events in S s (R events/s)"), which includes
#          idle time before and after the storm; its drop count says when it fell behind:
#            -q -v               read + decode + state only (no formatting)
#            -v > /dev/null      + text formatting of every event
#            -v FILTER >/dev/null + filter evaluation (proc.name=dd and evt.type=write),
#                                 with the evt.type part pushed into the kernel
#   The live rates are bounded by how fast dd makes events; compare the drop counts and
#   the elapsed times rather than the events/s alone.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
[ "$(id -u)" = 0 ] || { echo "bench-consumer: run as root" >&2; exit 2; }
if ! command -v perf >/dev/null; then
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi
bin=target/x86_64-unknown-linux-gnu/release/tpdig
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
storm() { dd if=/dev/zero of=/dev/null bs=1 count="$N" 2>/dev/null; }
now() { date +%s.%N; }

echo "== perf record -a + perf script ($N-byte dd storm)"
perf record -q -a -m 2048 -o "$work/perf.data" -e raw_syscalls:sys_enter -e raw_syscalls:sys_exit \
  -- sh -c "dd if=/dev/zero of=/dev/null bs=1 count=$N 2>/dev/null" 2>"$work/perf.err" || true
grep -i lost "$work/perf.err" || true
samples=$(perf script -i "$work/perf.data" -F event 2>/dev/null | wc -l)
t0=$(now); perf script -i "$work/perf.data" > /dev/null 2>&1; t1=$(now)
awk -v n="$samples" -v a="$t0" -v b="$t1" 'BEGIN {
  printf "perf script: %d events in %.2f s = %.0f events/s\n", n, b-a, n/(b-a) }'

run_tpdig() {  # label, then tpdig arguments; stdout of tpdig goes to /dev/null
  local label=$1; shift
  "$bin" -v "$@" > /dev/null 2> "$work/err" &
  local pid=$!
  # wait for the capturing line instead of sleeping
  for _ in $(seq 1 600); do grep -q capturing "$work/err" && break; sleep 0.1; done
  local t0 t1; t0=$(now); storm; t1=$(now)
  kill -INT "$pid"; wait "$pid" || true
  local summary; summary=$(grep -E '^tpdig: [0-9]+ events in' "$work/err" || echo "no summary")
  awk -v a="$t0" -v b="$t1" -v l="$label" 'BEGIN { printf "%-34s dd took %.2f s; ", l, b-a }'
  echo "${summary#tpdig: }"
}

echo "== tpdig live during the storm (release build)"
run_tpdig "tpdig -q -v (decode only)" -q
run_tpdig "tpdig -v > /dev/null (format)" 
run_tpdig "tpdig -v FILTER > /dev/null" 'proc.name=dd and evt.type=write'
