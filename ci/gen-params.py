#!/usr/bin/env python3
"""Generate tpdig's sysdig parameter tables: src/params/gen_events.rs and gen_flags.rs.

Usage: ci/gen-params.py --libs DIR [--tracefs DIR] [--out DIR]

Inputs (read on the machine that runs this, never at build time):
  * ../shared/reference/sysdig-0.29-events.txt: every sysdig 0.29 event with its
    parameters ('> name(TYPE p, ...)' enter, '< name(...)' exit).  A later line for
    the same name and direction is a newer event version and wins.  This list is
    the authority for which parameters exist, their order and their types.
  * a checkout of falcosecurity/libs (--libs): driver/event_table.c for each
    parameter's print format (PF_HEX, PF_OCT ...), flag table and the dirfd of an
    FSRELPATH; driver/flags_table.c and driver/ppm_events_public.h for the flag
    tables (sysdig's names, order, and its own 'PPM' bit values).  Looked up by
    (event name, direction, parameter name); only facts are taken.
  * the kernel value of each flag name, by compiling a C probe against this
    machine's headers with gcc (names the headers do not define get none).
  * this kernel's syscalls:sys_enter_<name>/format files, through the helpers of
    ci/gen-syscalls.py, for the kernel argument names.

Where a value comes from (the Source of each parameter), rules in this order:
  1. EXPLICIT below (struct fields behind a pointer: pipe's int[2], rlimit ...);
  2. an exit's first parameter (res, fd, uid ...) is the return value, unless
     sysdig's first exit parameter is not the result (none in 0.29 but kept
     general) -- type ERRNO/FD/PID or the name res;
  3. BYTEBUF 'data' is the I/O buffer (Data);
  4. the same matching of sysdig names onto kernel arguments as
     ci/gen-syscalls.py (SYNONYMS, OVERRIDES, type agreement): a scalar is the
     register (Reg), a buffer type is the user memory it points to (Mem);
  5. anything else is State: the caller's tables (dev, ino, tuple, exe, vm_size
     ...) or, failing those, missing.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = "ci/gen-params.py"
REF = os.path.join(ROOT, "..", "shared", "reference", "sysdig-0.29-events.txt")

spec = importlib.util.spec_from_file_location("gensc", os.path.join(ROOT, "ci", "gen-syscalls.py"))
gensc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gensc)

# (syscall, sysdig param, direction) -> (kind, arg, offset, size)
EXPLICIT = {
    ("pipe", "fd1", "<"): ("MemField", 0, 0, 4), ("pipe", "fd2", "<"): ("MemField", 0, 4, 4),
    ("pipe2", "fd1", "<"): ("MemField", 0, 0, 4), ("pipe2", "fd2", "<"): ("MemField", 0, 4, 4),
    ("socketpair", "fd1", "<"): ("MemField", 3, 0, 4),
    ("socketpair", "fd2", "<"): ("MemField", 3, 4, 4),
    ("getrlimit", "cur", "<"): ("MemField", 1, 0, 8), ("getrlimit", "max", "<"): ("MemField", 1, 8, 8),
    ("setrlimit", "cur", "<"): ("MemField", 1, 0, 8), ("setrlimit", "max", "<"): ("MemField", 1, 8, 8),
    ("prlimit64", "newcur", "<"): ("MemField", 2, 0, 8),
    ("prlimit64", "newmax", "<"): ("MemField", 2, 8, 8),
    ("prlimit64", "oldcur", "<"): ("MemField", 3, 0, 8),
    ("prlimit64", "oldmax", "<"): ("MemField", 3, 8, 8),
    ("getresuid", "ruid", "<"): ("MemField", 0, 0, 4), ("getresuid", "euid", "<"): ("MemField", 1, 0, 4),
    ("getresuid", "suid", "<"): ("MemField", 2, 0, 4),
    ("getresgid", "rgid", "<"): ("MemField", 0, 0, 4), ("getresgid", "egid", "<"): ("MemField", 1, 0, 4),
    ("getresgid", "sgid", "<"): ("MemField", 2, 0, 4),
    ("sendfile", "offset", "<"): ("MemField", 2, 0, 8),
    ("copy_file_range", "offout", "<"): ("MemField", 3, 0, 8),
    ("copy_file_range", "offin", ">"): ("MemField", 1, 0, 8),
    ("nanosleep", "interval", ">"): ("Mem", 0, 0, 0),
    ("poll", "fds", "<"): ("Mem", 0, 0, 0),
    ("ppoll", "fds", "<"): ("Mem", 0, 0, 0),
    ("ppoll", "timeout", ">"): ("Mem", 2, 0, 0),
    ("ppoll", "sigmask", ">"): ("Mem", 3, 0, 0),
    ("connect", "addr", ">"): ("Mem", 1, 0, 0),
    ("bind", "addr", "<"): ("Mem", 1, 0, 0),
    ("sendto", "tuple", ">"): ("State", 0, 0, 0),
    ("semop", "nsops", "<"): ("Reg", 2, 0, 0),
}

# Flag tables whose kernel encoding is an enumeration (the value is one of the
# entries) rather than a set of bits; others decode bit by bit.
ENUM_TABLES = {
    "socket_families", "lseek_whence", "shutdown_how", "rlimit_resources", "fcntl_commands",
    "sockopt_levels", "sockopt_options", "ptrace_requests", "quotactl_cmds", "quotactl_types",
    "quotactl_quota_fmts", "semctl_commands", "prctl_options", "bpf_commands", "fsconfig_cmds",
    "keyctl_operations", "io_uring_register_opcodes",
}
# Kernel spellings where sysdig's name is not a C macro.
KERNEL_ALIAS = {"AF_DECnet": "AF_DECnet", "MAP_ANONYMOUS": "MAP_ANONYMOUS"}
HEADERS = """#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <sched.h>
#include <linux/futex.h>
#include <poll.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <unistd.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/quota.h>
#include <linux/openat2.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <linux/bpf.h>
#include <stdio.h>
"""


def die(msg):
    print(f"gen-params: {msg}", file=sys.stderr)
    sys.exit(1)


def parse_reference(path):
    """{(event, dir): [(TYPE, name)]}, the newest version of each."""
    ev = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"([<>]) (\w+)\((.*)\)\s*$", line)
            if not m:
                continue
            params = []
            for p in filter(None, (x.strip() for x in m.group(3).split(","))):
                typ, _, pname = p.partition(" ")
                params.append((typ, pname.strip().replace(" ", "_")))
            ev[(m.group(2), m.group(1))] = params
    return ev


def parse_event_table(text):
    """{(event, dir, param): (fmt, info)} from libs' driver/event_table.c."""
    out = {}
    for m in re.finditer(r"\[PPME_\w+?_([EX])\]\s*=\s*\{\s*\"(\w+)\"(.*?)(?=\n\s*\[PPME_|\n\};)", text, re.S):
        d = ">" if m.group(1) == "E" else "<"
        for p in re.finditer(r"\{\"(\w+)\",\s*PT_(\w+),\s*PF_(\w+)(?:,\s*([^}]*?))?\s*\}", m.group(3)):
            key = (m.group(2), d, p.group(1))
            info = (p.group(4) or "").strip()
            # newer versions come later in the table and win; a non-empty info
            # from an older version fills a gap
            old = out.get(key, ("NA", ""))
            out[key] = (p.group(3), info or old[1])
    return out


def parse_defines(text):
    defs = {}
    for m in re.finditer(r"^#define\s+(PPM_\w+)\s+((?:.*\\\n)*.*)$", text, re.M):
        body = re.sub(r"/\*.*?\*/", "", m.group(2).replace("\\\n", " "), flags=re.S).strip()
        defs[m.group(1)] = body
    return defs


def eval_ppm(expr, defs, depth=0):
    if depth > 20:
        die(f"define loop at {expr}")
    e = re.sub(r"\b(PPM_\w+)\b", lambda m: f"({eval_ppm(defs[m.group(1)], defs, depth + 1)})", expr)
    def lit(m):
        t = m.group(1)
        return t if t.lower().startswith("0x") or len(t) == 1 or t[0] != "0" else "0o" + t[1:]
    e = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b", lit, e)
    return int(eval(e, {}, {}))  # expressions of integers, <<, |, (), ~


def parse_flag_tables(text, defs):
    tables = {}
    for m in re.finditer(r"const struct ppm_name_value (\w+)\[\]\s*=\s*\{(.*?)\n\};", text, re.S):
        entries = []
        for e in re.finditer(r"\{\"([^\"]+)\",\s*([^}]+?)\}", m.group(2)):
            try:
                entries.append((e.group(1), eval_ppm(e.group(2), defs) & 0xFFFFFFFF))
            except (NameError, KeyError, SyntaxError):
                entries = None  # a table of non-PPM constants: not one sysdig 0.29 uses
                break
        if entries is None:
            continue
        tables[m.group(1)] = entries
    return tables


def kernel_values(names):
    """{name: kernel value} for every name this machine's headers define."""
    names = sorted(set(names))
    pending = list(names)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "k.c")
        for _ in range(50):
            body = HEADERS + "int main(void){\n" + "".join(
                f'printf("{n} %lld\\n", (long long)({KERNEL_ALIAS.get(n, n)}));\n' for n in pending
            ) + "return 0;}\n"
            with open(src, "w") as f:
                f.write(body)
            r = subprocess.run(["gcc", "-w", "-o", os.path.join(d, "k"), src],
                               capture_output=True, text=True)
            if r.returncode == 0:
                out = subprocess.run([os.path.join(d, "k")], capture_output=True, text=True).stdout
                return {l.split()[0]: int(l.split()[1]) for l in out.splitlines()}
            bad = set(re.findall(r"['\u2018](\w+)['\u2019] undeclared", r.stderr))
            if not bad:
                die("C probe failed:\n" + r.stderr[:2000])
            pending = [n for n in pending if KERNEL_ALIAS.get(n, n) not in bad]
    die("C probe did not converge")


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--libs", required=True, help="falcosecurity/libs checkout")
    ap.add_argument("--tracefs", default="/sys/kernel/tracing")
    ap.add_argument("--out", default=os.path.join(ROOT, "src", "params"))
    a = ap.parse_args()

    ref = parse_reference(REF)
    with open(os.path.join(a.libs, "driver", "event_table.c")) as f:
        etab = parse_event_table(f.read())
    with open(os.path.join(a.libs, "driver", "ppm_events_public.h")) as f:
        defs = parse_defines(f.read())
    with open(os.path.join(a.libs, "driver", "flags_table.c")) as f:
        ftabs = parse_flag_tables(f.read(), defs)

    evdir = os.path.join(a.tracefs, "events", "syscalls")
    if not os.path.isdir(evdir):
        die(f"{evdir} not readable (mount -t tracefs nodev {a.tracefs})")
    fn_to_sc = {v: k for k, v in gensc.KERNEL_FN.items()}
    kernel = {}
    for d in sorted(os.listdir(evdir)):
        if d.startswith("sys_enter_"):
            fn = d[len("sys_enter_"):]
            with open(os.path.join(evdir, d, "format")) as f:
                kernel[fn_to_sc.get(fn, fn)] = gensc.parse_format(f.read())

    used_tables = set()
    events = {}  # syscall -> (event, enter params, exit params)
    for sc, kargs in sorted(kernel.items()):
        ev = gensc.SYSDIG_EVENT.get(sc, sc)
        if sc in gensc.SYSDIG_NOT_SYSCALL or (ev == sc and sc in gensc.SYSDIG_VIA_ALIAS_ONLY):
            continue
        if (ev, ">") not in ref and (ev, "<") not in ref:
            continue
        dirs = []
        for d in (">", "<"):
            params = ref.get((ev, d), [])
            shape = {p: (i, t) for p, i, t in gensc.sysdig_shape(sc, kargs, params)}
            if d == "<":
                # exit params shown on the enter too keep the enter's mapping
                for p, i, t in gensc.sysdig_shape(sc, kargs, ref.get((ev, ">"), [])):
                    shape.setdefault(p, (i, t))
            lst = []
            for pos, (typ, pname) in enumerate(params):
                fmt, info = etab.get((ev, d, pname), ("NA", ""))
                if fmt not in ("DEC", "HEX", "OCT", "NA", "10_PADDED_DEC"):
                    fmt = "NA"
                table = None
                dirfd = None
                if typ.startswith("FLAGS") or typ == "MODE":
                    if info and re.match(r"^\w+$", info) and info in ftabs:
                        table = info
                        used_tables.add(info)
                m = re.match(r"DIRFD_PARAM\((\d+)\)", info)
                if typ == "FSRELPATH" and m:
                    dirfd = int(m.group(1))
                key = (sc, pname, d)
                if key in EXPLICIT:
                    kind, arg, off, size = EXPLICIT[key]
                    src = {"MemField": f"MemField {{ arg: {arg}, offset: {off}, size: {size} }}",
                           "Mem": f"Mem({arg})", "Reg": f"Reg({arg})", "State": "State"}[kind]
                elif d == "<" and pos == 0 and (typ in ("ERRNO", "FD", "PID") or pname == "res"
                                                or (not kargs and typ in ("UID", "GID"))):
                    src = "Ret"
                elif typ == "BYTEBUF" and pname == "data":
                    src = "Data"
                elif pname in shape:
                    i, _ = shape[pname]
                    kptr = gensc.kind_of(kargs[i][0], kargs[i][1], sc) == "Pointer"
                    src = f"Mem({i})" if kptr and pname != "addr" else f"Reg({i})"
                else:
                    src = "State"
                lst.append((pname, typ, fmt, table, src, dirfd))
            dirs.append(lst)
        events[sc] = (ev, dirs[0], dirs[1])

    kv = kernel_values([n for t in used_tables for n, _ in ftabs[t]])

    hdr = [f"// @generated by {SELF}; do not edit.",
           f"// Sources: {os.path.relpath(REF, ROOT)} (parameters), falcosecurity/libs",
           "// driver/event_table.c, flags_table.c, ppm_events_public.h (print formats, flag",
           f"// tables), {evdir}/sys_enter_*/format of kernel {os.uname().release}",
           "// (argument registers) and this machine's C headers (kernel flag values).",
           ""]

    ty_map = {"FLAGS8": "Flags8", "FLAGS16": "Flags16", "FLAGS32": "Flags32", "FD": "Fd",
              "PID": "Pid", "ERRNO": "Errno", "MODE": "Mode", "CHARBUF": "CharBuf",
              "BYTEBUF": "ByteBuf", "FSPATH": "FsPath", "FSRELPATH": "FsRelPath",
              "SOCKADDR": "SockAddr", "SOCKTUPLE": "SockTuple", "FDLIST": "FdList",
              "RELTIME": "RelTime", "ABSTIME": "AbsTime", "SIGTYPE": "SigType",
              "SYSCALLID": "SyscallId", "UID": "Uid", "GID": "Gid", "DYNAMIC": "Dyn",
              "SIGSET": "SigSet", "CHARBUFARRAY": "CharBufArray",
              "CHARBUF_PAIR_ARRAY": "CharBufPairArray"}
    fmt_map = {"DEC": "Dec", "HEX": "Hex", "OCT": "Oct", "NA": "Na", "10_PADDED_DEC": "Dec"}

    def ty(t):
        if t in ty_map:
            return ty_map[t]
        m = re.match(r"^(U?)INT(\d+)$", t)
        if not m:
            die(f"unknown sysdig type {t}")
        return f"{'Uint' if m.group(1) else 'Int'}{m.group(2)}"

    def param(p):
        pname, typ, fmt, table, src, dirfd = p
        t = f"Some(&flags::{table.upper()})" if table else "None"
        dfd = f"Some({dirfd})" if dirfd is not None else "None"
        return (f"Param {{ name: {rust_str(pname)}, ty: {ty(typ)}, fmt: {fmt_map[fmt]}, "
                f"flags: {t}, src: {src}, dirfd: {dfd} }}")

    body = ["use super::Fmt::*;", "use super::ParamType::*;", "use super::Source::*;",
            "use super::{EventParams, Param, gen_flags as flags};", "",
            "/// Every syscall sysdig 0.29 has an event for, by kernel syscall name (sorted).",
            f"pub(super) static EVENTS: [EventParams; {len(events)}] = ["]
    for sc in sorted(events):
        ev, en, ex = events[sc]
        body.append(f"    EventParams {{ syscall: {rust_str(sc)}, event: {rust_str(ev)},")
        body.append("        enter: &[" + ", ".join(param(p) for p in en) + "],")
        body.append("        exit: &[" + ", ".join(param(p) for p in ex) + "] },")
    body.append("];")
    with open(os.path.join(a.out, "gen_events.rs"), "w") as f:
        f.write("\n".join(hdr + body) + "\n")

    fb = ["use super::{FlagEntry, FlagKind, FlagTable};", ""]
    for t in sorted(used_tables):
        kind = "Enum" if t in ENUM_TABLES else ("Open" if t == "file_flags" else "Bits")
        ents = []
        for n, v in ftabs[t]:
            k = kv.get(KERNEL_ALIAS.get(n, n))
            if t == "file_flags" and n in ("O_RDONLY", "O_WRONLY", "O_RDWR"):
                k = {"O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2}[n]
            ks = f"Some({k & 0xFFFFFFFFFFFFFFFF:#x})" if k is not None else "None"
            ents.append(f"FlagEntry {{ name: {rust_str(n)}, ppm: {v:#x}, kernel: {ks} }}")
        fb.append(f"/// sysdig's `{t}`, in sysdig's order.")
        fb.append(f"pub static {t.upper()}: FlagTable = FlagTable {{ name: {rust_str(t)}, "
                  f"kind: FlagKind::{kind}, entries: &[")
        fb.extend(f"    {e}," for e in ents)
        fb.append("] };")
        fb.append("")
    with open(os.path.join(a.out, "gen_flags.rs"), "w") as f:
        f.write("\n".join(hdr + fb))
    print(f"{len(events)} syscalls, {len(used_tables)} flag tables", file=sys.stderr)


if __name__ == "__main__":
    main()
