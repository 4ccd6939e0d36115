#!/usr/bin/env bash
# Benchmark (not a test): a run started right after another. tpdig's teardown (closing
# its events and removing its probes, in a detached child) costs the kernel a grace period
# per event under the lock every tracefs user needs; a second run must not wait for it.
# Prints the first-event time of a lone run and of a back-to-back second run, medians of
# RUNS (default 5), beside `perf trace -a` measured the same way.
#
# Usage: ci/bench-restart.sh   (root; TPDIG=path RUNS=n to override)
set -uo pipefail
# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
bench_setup linux-perf
RUNS=${RUNS:-5}
lone=() b2b=() perf=()
for _ in $(seq "$RUNS"); do
    sleep 5
    lone+=("$(first_line timeout -s INT 60 "$TPDIG" -n 10)")
    b2b+=("$(back_to_back "$TPDIG" -n 10)")
    perf+=("$(back_to_back bash -c 'exec perf trace -a 2>&1 | head -n 10')")
done
echo "tpdig -n 10, first event: alone $(median "${lone[@]}") s (runs: ${lone[*]});" \
    "back to back $(median "${b2b[@]}") s (runs: ${b2b[*]});" \
    "perf trace -a back to back $(median "${perf[@]}") s (runs: ${perf[*]})"
