#!/bin/sh
# Copies the tracefs format files of the events tpdig uses from the running kernel into
# DEST/<kernel-release>-<arch>/<system>_<event>.format (plus header_page), mounting
# tracefs at /sys/kernel/tracing when it is not mounted (needs root; left mounted).
#
# usage: ci/capture-formats.sh [DEST]      DEST defaults to tracefs/ at the repo top.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$here/tracefs}

root=${TPDIG_TRACEFS:-}
if [ -z "$root" ]; then
    root=$(awk '$3 == "tracefs" { print $2; exit }' /proc/mounts)
fi
if [ -z "$root" ] || [ ! -d "$root/events" ]; then
    for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
        if [ -d "$d/events" ]; then root=$d; break; fi
    done
fi
if [ -z "$root" ] || [ ! -d "$root/events" ]; then
    echo "capture-formats: mounting tracefs at /sys/kernel/tracing" >&2
    mount -t tracefs nodev /sys/kernel/tracing
    root=/sys/kernel/tracing
fi

out="$dest/$(uname -r)-$(uname -m)"
mkdir -p "$out"

events="
raw_syscalls/sys_enter raw_syscalls/sys_exit
syscalls/sys_enter syscalls/sys_exit
sched/sched_switch sched/sched_process_fork sched/sched_process_exec sched/sched_process_exit
sched/sched_wakeup sched/sched_waking
task/task_newtask task/task_rename
sock/inet_sock_set_state
syscalls/sys_enter_openat syscalls/sys_exit_openat
syscalls/sys_enter_open syscalls/sys_exit_open
syscalls/sys_enter_execve syscalls/sys_exit_execve
syscalls/sys_enter_connect syscalls/sys_exit_connect
syscalls/sys_enter_read syscalls/sys_exit_read
syscalls/sys_enter_write syscalls/sys_exit_write
syscalls/sys_enter_close syscalls/sys_exit_close
"

n=0
for ev in $events; do
    f="$root/events/$ev/format"
    if [ -r "$f" ]; then
        cp "$f" "$out/$(echo "$ev" | tr / _).format"
        n=$((n + 1))
    else
        echo "capture-formats: $ev not on this kernel, skipped" >&2
    fi
done
cp "$root/events/header_page" "$out/header_page"
echo "capture-formats: $n format files and header_page from $root into $out" >&2
