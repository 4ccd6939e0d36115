#!/usr/bin/env bash
# Benchmark (not a test): what one probe hit costs, kprobe against uprobe, on Debian's 6.1
# kernel under qemu (this host's 6.18 has no kprobe events).
#
#   ci/bench-probe-hits.sh            # RUNS=3 COUNT=2000 by default
#
# A static C program opens /etc/passwd COUNT times (openat + close through glibc) and times
# its own loop with CLOCK_MONOTONIC. In one guest boot, RUNS times each:
#   bare         the program alone
#   tracepoints  under `tpdig -q --compat no-kprobes,no-eprobes,no-uprobes`: raw_syscalls
#                and the scheduler only, no path names (the floor every tier pays)
#   kprobe       under `tpdig -q`: the kernel tier names the path (a kprobe at the openat
#                entry, fetching the user string)
#   uprobe       under `tpdig -q --compat no-kprobes`: the uprobe tier names it (a uprobe at
#                the program's own syscall site; 6.1's event probes deliver nothing to perf)
# The cost of one hit is (tier - tracepoints) / COUNT. The guest is software-emulated
# (TCG), so absolute times are many times a real machine's; the ratio between the tiers is
# the figure to read. Medians of RUNS.
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
RUNS=${RUNS:-3}
COUNT=${COUNT:-2000}
[[ $(id -u) -eq 0 ]] || bench_die "needs root (qemu-kernel-run installs the guest kernel)"
command -v gcc >/dev/null || bench_die "needs gcc"
[[ -x $TPDIG ]] || (cd "$BENCH_ROOT" && cargo build --release -q) || bench_die "cargo build failed"
runner=$BENCH_ROOT/../shared/tools/qemu-kernel-run
[[ -x $runner ]] || bench_die "no $runner"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/openloop.c" <<'C'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int fd = openat(AT_FDCWD, "/etc/passwd", O_RDONLY);
        if (fd >= 0) close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.0f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
    return 0;
}
C
gcc -static -O2 -o "$work/openloop" "$work/openloop.c" || bench_die "gcc -static failed"

cat > "$work/guest.sh" <<GUEST
#!/bin/sh
P="/root/openloop $COUNT"
echo "tiers: \$(tpdig -v -q -- /root/openloop 1 2>&1 | grep -iE 'kprobe|uprobe|eprobe' | head -3 | tr '\n' ' ')"
for r in \$(seq 1 $RUNS); do
  echo "bare \$(\$P)"
  echo "tracepoints \$(tpdig -q --compat no-kprobes,no-eprobes,no-uprobes -- \$P)"
  echo "kprobe \$(tpdig -q -- \$P)"
  echo "uprobe \$(tpdig -q --compat no-kprobes -- \$P)"
done
GUEST
chmod +x "$work/guest.sh"
bench_log "booting the 6.1 guest ($RUNS runs of $COUNT opens per mode)"
"$runner" --timeout 1800 --file "$TPDIG:/bin/tpdig" --file "$work/openloop:/root/openloop" \
    --file "$work/guest.sh:/root/guest.sh" -- /root/guest.sh > "$work/out" 2>&1 ||
    { cat "$work/out" >&2; bench_die "the guest run failed"; }

grep '^tiers:' "$work/out" || true
m() { median $(awk -v k="$1" '$1 == k { print $2 }' "$work/out"); }
bare=$(m bare) tp=$(m tracepoints) kp=$(m kprobe) up=$(m uprobe)
hit() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/) printf "%.0f", a - b; else print "?" }'; }
kh=$(hit "$kp" "$tp") uh=$(hit "$up" "$tp")
echo "6.1 guest (TCG), openat+close of /etc/passwd, ns per iteration, medians of $RUNS:"
echo "  bare $bare | tracepoints only $tp | kprobe tier $kp | uprobe tier $up"
echo "  one hit: kprobe $kh ns, uprobe $uh ns; uprobe/kprobe $(div "$uh" "$kh")x"
