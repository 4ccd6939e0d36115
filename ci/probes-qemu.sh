#!/usr/bin/env bash
# Probe tiers on Debian's 6.1 kernel under qemu (kprobe events and event probes present).
#
#   ci/probes-qemu.sh
#
# Builds the probes_live test binary, boots the guest, and there:
#   1. creates an event probe on syscalls:sys_enter_openat and reads it through ftrace
#      (trace file), showing whether the kernel fetches the path;
#   2. runs the probes_live tests: ProbeSet::install must find that event probes created
#      on this kernel deliver no perf samples, drop them, and fall back to uprobes (the
#      static test binary itself is probed; the guest has no C library).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(cargo test --test probes_live --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*probes_live[^"]*\)".*/\1/p' | tail -1)
[ -n "$bin" ] || { echo "probes-qemu: no test binary" >&2; exit 2; }
script=$(mktemp); trap 'rm -f "$script"' EXIT
cat > "$script" <<'GUEST'
#!/bin/sh
T=/sys/kernel/tracing
echo 'e:qk/openat syscalls/sys_enter_openat path=+u0($filename):ustring' >> $T/dynamic_events
echo 1 > $T/events/qk/openat/enable
cat /etc/passwd > /dev/null
echo 0 > $T/events/qk/openat/enable
echo "ftrace lines of the event probe:"; grep -c 'openat:' $T/trace; grep 'path="/etc/passwd"' $T/trace | head -2
echo '-:qk/openat' >> $T/dynamic_events
/root/probes_live --test-threads=1 --nocapture 2>&1 | cut -c1-300
GUEST
chmod +x "$script"
/work/shared/tools/qemu-kernel-run --timeout 600 --file "$bin:/root/probes_live" \
  --file "$script:/root/check.sh" -- /root/check.sh
