#!/usr/bin/env bash
# Benchmark (not a test): reading one sysdig capture with `tpdig -r` and `sysdig -r`.
#
# The capture is written by `tpdig -w X.scap` of a `dd bs=1` command (sysdig cannot
# capture here: no driver loads), then read by both tools:
#   1. text to /dev/null (the default line for every event);
#   2. a filter with -q (events parsed, state kept, nothing printed).
# Prints events/s side by side and the ratio; each timing is the median of RUNS runs.
#
# Usage: ci/bench-scap.sh        (root; TPDIG=path RUNS=n COUNT=n to override)
set -euo pipefail
# shellcheck source=ci/bench-lib.sh
source "$(dirname "$0")/bench-lib.sh"
cd "$BENCH_ROOT"
RUNS=${RUNS:-3}
COUNT=${COUNT:-100000}
bench_setup sysdig
WORK=$(mktemp -d /tmp/bench-scap.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$TPDIG" -w "$WORK/dd.scap" -- dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>/dev/null
events=$(sysdig -r "$WORK/dd.scap" 2>/dev/null | wc -l)
filter='evt.type=read and evt.dir=<'
declare -a st tt sq tq
for _ in $(seq "$RUNS"); do
    st+=("$(secs sysdig -r "$WORK/dd.scap")")
    tt+=("$(secs "$TPDIG" -r "$WORK/dd.scap")")
    sq+=("$(secs sysdig -q -r "$WORK/dd.scap" "$filter")")
    tq+=("$(secs "$TPDIG" -q -r "$WORK/dd.scap" "$filter")")
done
rate() { div "$events" "$1" %.0f; }
st_m=$(median "${st[@]}") tt_m=$(median "${tt[@]}")
sq_m=$(median "${sq[@]}") tq_m=$(median "${tq[@]}")
echo "scap capture: $events events ($(stat -c %s "$WORK/dd.scap") bytes), medians of $RUNS runs"
printf '%-28s %12s %12s %8s\n' "read" "sysdig ev/s" "tpdig ev/s" "ratio"
printf '%-28s %12s %12s %7sx\n' "text > /dev/null" "$(rate "$st_m")" "$(rate "$tt_m")" \
    "$(div "$st_m" "$tt_m" %.1f)"
printf '%-28s %12s %12s %7sx\n' "-q '$filter'" "$(rate "$sq_m")" "$(rate "$tq_m")" \
    "$(div "$sq_m" "$tq_m" %.1f)"
