#!/usr/bin/env python3
"""Generate tpdig's syscall tables: src/syscalls/gen_*.rs.

Usage: ci/gen-syscalls.py [--tracefs DIR] [--out DIR]

Inputs (read on the machine that runs this, never at build time):
  * syscall numbers: the uapi headers of linux-libc-dev
      /usr/include/x86_64-linux-gnu/asm/unistd_64.h   -> gen_table_x86_64.rs
      /usr/include/x86_64-linux-gnu/asm/unistd_32.h   -> gen_table_i386.rs
      /usr/include/asm-generic/unistd.h               -> gen_table_aarch64.rs
    The generic header is evaluated with a tiny preprocessor using the
    __ARCH_WANT_* set that arm64's uapi asm/unistd.h defines (listed below).
    Syscalls newer than the installed headers are added from NEWER_SYSCALLS
    (numbers are kernel ABI facts from the kernel's syscall tables) only when
    the header lacks them; the generated header says so.
  * errno names: /usr/include/asm-generic/errno-base.h and errno.h, plus the
    kernel-internal codes (include/linux/errno.h) that leak to tracepoints
    as syscall results, e.g. ERESTARTSYS.  Aliases (EWOULDBLOCK = EAGAIN)
    never replace the first name given to a number.
  * enter arguments: this kernel's tracefs syscalls/sys_enter_<name>/format
    files -> gen_args_x86_64.rs.  Skipped (with a warning, keeping the
    committed file) when tracefs is not readable.

Argument rules (the generated table is the single place they are applied):
  Kind.  Any type with '*' or a pointer typedef (cap_user_*_t) is a Pointer;
    so is an 'unsigned long' whose name says it is a user address (addr,
    start, brk, newsp, tls, *_addr, *ptr).  Arguments named like a file
    descriptor (fd, fildes, *fd, fd_*, *_fd) are Signed(4) whatever the
    kernel type, so close(-1) renders -1 as sysdig does.  Other scalar types
    are Signed or Unsigned with the C size of the type (int 4, long 8,
    umode_t 2 ...); the raw register value is truncated to that size.  An
    unknown scalar type stops the generator, so a new kernel gets a look.
  Names.  When sysdig 0.29 has an enter event for the syscall (the
    '> name(TYPE arg, ...)' lines of the reference list; a later line for the
    same name is a newer event version and wins; SYSDIG_EVENT maps syscalls
    that sysdig reports under another event name, e.g. pread64 -> pread),
    the enter line shows exactly sysdig's parameters, in sysdig's order, that
    have a kernel argument carrying the same value:
      1. a per-syscall override (OVERRIDES: tgkill pid<-tgid, tid<-pid ...),
      2. else the first unused kernel argument whose name is the sysdig name
         or one of its SYNONYMS (dirfd<-dfd, name<-filename|pathname,
         size<-count|len ...),
      3. and only if the types agree: a kernel pointer matches a sysdig
         scalar only for 'addr' (brk/mmap/futex show the address); sysdig
         buffer-like types (FSPATH, SOCKADDR, RELTIME, FDLIST, ...) match only
         kernel pointers (tpdig resolves them later).
    sysdig parameters with no such kernel argument are left out (sysdig
    computes them, e.g. openat2's resolve from struct open_how), as are
    kernel arguments sysdig does not show (read's buf).  A sysdig kind of
    FD or PID makes the argument Signed(4).
    Syscalls sysdig has no enter event for show all kernel arguments under
    the kernel's names.  Each shown argument records its register index (SHOWN
    table); ALIGNED lists every argument in register order (sysdig's name where
    mapped) so it can be zipped with the six argument registers.
  Tracepoint names are kernel function names; KERNEL_FN maps the few x86_64
  syscalls whose function differs (stat -> newstat, umount2 -> umount ...),
  so both tables are keyed by the syscall name of gen_table_x86_64.rs.
"""

import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELF = "ci/gen-syscalls.py"
INC = "/usr/include"
SYSDIG_EVENTS = os.path.join(ROOT, "..", "shared", "reference", "sysdig-0.29-events.txt")

# arm64's uapi asm/unistd.h defines these before including asm-generic/unistd.h.
AARCH64_DEFINES = {
    "__BITS_PER_LONG": 64,
    "__ARCH_WANT_RENAMEAT": 1,
    "__ARCH_WANT_NEW_STAT": 1,
    "__ARCH_WANT_SET_GET_RLIMIT": 1,
    "__ARCH_WANT_TIME32_SYSCALLS": 1,
    "__ARCH_WANT_SYS_CLONE3": 1,
    "__ARCH_WANT_MEMFD_SECRET": 1,
}

# Syscalls added after linux-libc-dev 6.1 (kernel syscall tables, through 6.18).
_COMMON_NEW = [
    (451, "cachestat"), (452, "fchmodat2"), (454, "futex_wake"), (455, "futex_wait"),
    (456, "futex_requeue"), (457, "statmount"), (458, "listmount"),
    (459, "lsm_get_self_attr"), (460, "lsm_set_self_attr"), (461, "lsm_list_modules"),
    (462, "mseal"), (463, "setxattrat"), (464, "getxattrat"), (465, "listxattrat"),
    (466, "removexattrat"), (467, "open_tree_attr"), (468, "file_getattr"),
    (469, "file_setattr"),
]
NEWER_SYSCALLS = {
    "x86_64": _COMMON_NEW + [(335, "uretprobe"), (336, "uprobe"), (453, "map_shadow_stack")],
    "i386": _COMMON_NEW,
    "aarch64": _COMMON_NEW + [(453, "map_shadow_stack")],
}

# Kernel-internal errno values (include/linux/errno.h); never seen by user space
# but visible in sys_exit tracepoints.
KERNEL_ERRNO = [
    (512, "ERESTARTSYS"), (513, "ERESTARTNOINTR"), (514, "ERESTARTNOHAND"),
    (515, "ENOIOCTLCMD"), (516, "ERESTART_RESTARTBLOCK"), (517, "EPROBE_DEFER"),
    (518, "EOPENSTALE"), (519, "ENOPARAM"), (521, "EBADHANDLE"), (522, "ENOTSYNC"),
    (523, "EBADCOOKIE"), (524, "ENOTSUPP"), (525, "ETOOSMALL"), (526, "ESERVERFAULT"),
    (527, "EBADTYPE"), (528, "EJUKEBOX"), (529, "EIOCBQUEUED"), (530, "ERECALLCONFLICT"),
    (531, "ENOGRACE"),
]

# x86_64 syscall name -> tracepoint (kernel function) name, where they differ.
KERNEL_FN = {
    "stat": "newstat", "lstat": "newlstat", "fstat": "newfstat", "uname": "newuname",
    "umount2": "umount", "sendfile": "sendfile64",
}

# Syscall name -> the sysdig event name it is reported under, where they differ.
SYSDIG_EVENT = {
    "pread64": "pread", "pwrite64": "pwrite", "_llseek": "llseek", "prlimit64": "prlimit",
    "inotify_init1": "inotify_init", "sendfile64": "sendfile", "umount2": "umount",
    "signalfd4": "signalfd", "eventfd2": "eventfd", "accept4": "accept", "dup2": "dup",
    "dup3": "dup", "pipe2": "pipe",
}
# sysdig events that are not syscalls (or not this syscall): never used for naming.
SYSDIG_NOT_SYSCALL = {
    "syscall", "switch", "procexit", "signaldeliver", "cpu_hotplug", "tracer", "container",
    "notification", "page_fault", "pluginevent",
}
# 'umount' in sysdig is umount2 (flags); the kernel 'umount' name is keyed as
# umount2 via KERNEL_FN, so the event is reached only through SYSDIG_EVENT.
SYSDIG_VIA_ALIAS_ONLY = {"umount"}

# sysdig parameter -> kernel argument names carrying the same value, best first.
SYNONYMS = {
    "fd": ["fd", "fildes", "ufd", "oldfd"],
    "dirfd": ["dfd", "fd"],
    "name": ["filename", "pathname", "name", "path"],
    "path": ["pathname", "filename", "path", "name"],
    "filename": ["filename"],
    "pathname": ["filename", "pathname"],
    "size": ["count", "len", "size"],
    "length": ["len"],
    "domain": ["family"],
    "proto": ["protocol"],
    "addr": ["addr", "start", "brk", "uaddr", "uservaddr"],
    "request": ["request", "cmd"],
    "argument": ["arg"],
    "operation": ["cmd"],
    "nstype": ["flags"],
    "initval": ["count"],
    "interval": ["rqtp"],
    "fds": ["ufds"],
    "timeout": ["timeout_msecs", "tsp", "timeout"],
    "offset": ["offset", "off"],
    "flags": ["flags", "unshare_flags"],
    "val": ["val", "arg"],
    "fdin": ["fd_in"],
    "offin": ["off_in"],
}
# (syscall, sysdig parameter) -> kernel argument, where names would mislead.
OVERRIDES = {
    ("tgkill", "pid"): "tgid",
    ("tgkill", "tid"): "pid",
    ("tkill", "tid"): "pid",
}
SYSDIG_SCALAR = re.compile(r"^(FD|PID|UID|GID|UINT\d+|INT\d+|FLAGS\d+|SIGTYPE|ERRNO|SYSCALLID)$")

SIGNED = {
    "int": 4, "long": 8, "long long": 8, "pid_t": 4, "key_t": 4, "clockid_t": 4,
    "timer_t": 4, "mqd_t": 4, "key_serial_t": 4, "rwf_t": 4, "__s32": 4, "s32": 4,
    "loff_t": 8, "off_t": 8, "ssize_t": 8,
}
UNSIGNED = {
    "unsigned int": 4, "unsigned": 4, "u32": 4, "__u32": 4, "uid_t": 4, "gid_t": 4,
    "qid_t": 4, "umode_t": 2, "size_t": 8, "unsigned long": 8, "aio_context_t": 8,
    "u64": 8, "__u64": 8, "unsigned char": 1, "u8": 1, "unsigned short": 2, "u16": 2,
}
POINTER_TYPEDEFS = {"cap_user_header_t", "cap_user_data_t"}
ADDR_NAME = re.compile(r"^(addr|start|brk|newsp|tls|.*_addr|.*ptr)$")
FD_NAME = re.compile(r"^(fd|fildes|[a-z]*fd|fd_[a-z]+|[a-z]+_fd)$")


def die(msg):
    sys.exit(f"gen-syscalls: {msg}")


def pkg_version(pkg):
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ---------------------------------------------------------------- syscall tables

def parse_simple_unistd(path):
    """unistd_64.h / unistd_32.h: plain '#define __NR_name N' lines."""
    table = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"#define\s+__NR_(\w+)\s+(\d+)\s*$", line)
            if m:
                table[int(m.group(2))] = m.group(1)
    return table


def eval_cond(expr, defs):
    """Evaluate a #if expression of the forms the generic unistd.h uses."""
    expr = re.sub(r"defined\s*\(\s*(\w+)\s*\)", lambda m: "1" if m.group(1) in defs else "0", expr)
    expr = re.sub(r"defined\s+(\w+)", lambda m: "1" if m.group(1) in defs else "0", expr)
    expr = re.sub(r"[A-Za-z_]\w*", lambda m: str(defs.get(m.group(0), 0)), expr)
    expr = expr.replace("&&", " and ").replace("||", " or ")
    expr = re.sub(r"!(?!=)", " not ", expr)
    if not re.fullmatch(r"[\d\s()=!<>a-z]*", expr):
        die(f"cannot evaluate #if {expr!r}")
    return bool(eval(expr, {"__builtins__": {}}))  # noqa: S307 - digits and operators only


def parse_generic_unistd(path, defines):
    defs = dict(defines)
    stack = []  # (active, taken)
    active = True
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = text.replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("#"):
            continue
        m = re.match(r"#\s*(\w+)\s*(.*)$", line)
        if not m:
            continue
        d, rest = m.group(1), m.group(2).strip()
        if d in ("if", "ifdef", "ifndef"):
            if d == "ifdef":
                c = rest in defs
            elif d == "ifndef":
                c = rest not in defs
            else:
                c = eval_cond(rest, defs)
            stack.append((active, active and c))
            active = active and c
        elif d == "elif":
            parent, taken = stack[-1]
            c = parent and not taken and eval_cond(rest, defs)
            stack[-1] = (parent, taken or c)
            active = c
        elif d == "else":
            parent, taken = stack[-1]
            active = parent and not taken
            stack[-1] = (parent, True)
        elif d == "endif":
            active = stack.pop()[0]
        elif not active:
            continue
        elif d == "define":
            parts = rest.split(None, 1)
            name = parts[0]
            if "(" in name:
                continue
            val = parts[1].strip() if len(parts) > 1 else "1"
            if re.fullmatch(r"\d+", val):
                defs[name] = int(val)
            elif val in defs:
                defs[name] = defs[val]
            else:
                defs[name] = val
        elif d == "undef":
            defs.pop(rest, None)
    if stack:
        die(f"{path}: unbalanced #if")
    table = {}
    for name, val in defs.items():
        if name.startswith("__NR_") and name != "__NR_syscalls" and isinstance(val, int):
            table[val] = name[len("__NR_"):]
    return table


def add_newer(table, arch):
    added = []
    names = set(table.values())
    for nr, name in NEWER_SYSCALLS[arch]:
        if nr not in table and name not in names:
            table[nr] = name
            added.append(name)
    return added


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write(out_dir, fname, header_lines, body):
    path = os.path.join(out_dir, fname)
    with open(path, "w") as f:
        f.write(f"// @generated by {SELF}; do not edit.\n")
        for h in header_lines:
            f.write(f"// {h}\n")
        f.write("\n")
        f.write(body)
    print(f"wrote {os.path.relpath(path, ROOT)}")


def emit_table(out_dir, arch, source, version, table, added):
    hdr = [f"Source: {source} (linux-libc-dev {version})."]
    if added:
        hdr.append("Newer than those headers (kernel syscall tables, see NEWER_SYSCALLS):")
        hdr.append("  " + " ".join(added))
    top = max(table)
    lines = [f"/// Syscall names indexed by number ({len(table)} of {top + 1} slots used).",
             f"pub(super) static NAMES: [Option<&str>; {top + 1}] = ["]
    for nr in range(top + 1):
        name = table.get(nr)
        lines.append(f"    Some({rust_str(name)}), // {nr}" if name else f"    None, // {nr}")
    lines.append("];")
    lines.append("")
    by_name = sorted((name, nr) for nr, name in table.items())
    lines.append("/// (name, number) sorted by name, for binary search.")
    lines.append(f"pub(super) static BY_NAME: [(&str, u16); {len(by_name)}] = [")
    for name, nr in by_name:
        lines.append(f"    ({rust_str(name)}, {nr}),")
    lines.append("];")
    write(out_dir, f"gen_table_{arch}.rs", hdr, "\n".join(lines) + "\n")


# ---------------------------------------------------------------------- errno

def parse_errno(paths):
    by_nr = {}
    names = {}
    for p in paths:
        with open(p) as f:
            for line in f:
                m = re.match(r"#define\s+(E\w+)\s+(\w+)", line)
                if not m:
                    continue
                name, val = m.group(1), m.group(2)
                nr = int(val) if val.isdigit() else names.get(val)
                if nr is None:
                    die(f"{p}: cannot resolve {name} = {val}")
                names[name] = nr
                by_nr.setdefault(nr, name)
    for nr, name in KERNEL_ERRNO:
        by_nr.setdefault(nr, name)
    return by_nr


def emit_errno(out_dir, version):
    paths = [f"{INC}/asm-generic/errno-base.h", f"{INC}/asm-generic/errno.h"]
    by_nr = parse_errno(paths)
    hdr = [f"Source: {', '.join(paths)} (linux-libc-dev {version}),",
           "plus kernel-internal codes 512.. from include/linux/errno.h (KERNEL_ERRNO)."]
    lines = ["/// (errno, name) sorted by errno; aliases keep the first name.",
             f"pub(super) static ERRNO: [(u16, &str); {len(by_nr)}] = ["]
    for nr in sorted(by_nr):
        lines.append(f"    ({nr}, {rust_str(by_nr[nr])}),")
    lines.append("];")
    write(out_dir, "gen_errno.rs", hdr, "\n".join(lines) + "\n")


# ---------------------------------------------------------------- enter args

def parse_format(text):
    """Fields after __syscall_nr of a sys_enter_* format file: [(type, name)]."""
    args = []
    seen_nr = False
    for line in text.splitlines():
        m = re.match(r"\s*field:(.*?);\s*offset:", line)
        if not m:
            continue
        decl = m.group(1).strip()
        m2 = re.match(r"(.*?)\s*\b(\w+)$", decl)
        if not m2:
            die(f"bad field {decl!r}")
        ctype, name = m2.group(1).strip(), m2.group(2)
        if name == "__syscall_nr":
            seen_nr = True
            continue
        if seen_nr:
            args.append((ctype, name))
    if not seen_nr:
        die("format without __syscall_nr")
    return args


def kind_of(ctype, name, where):
    base = re.sub(r"\bconst\b", "", ctype).strip()
    if "*" in base or base in POINTER_TYPEDEFS:
        return "Pointer"
    if FD_NAME.match(name):
        return "Signed(4)"
    base = re.sub(r"^enum \w+$", "int", base)
    if base == "unsigned long" and ADDR_NAME.match(name):
        return "Pointer"
    if base in SIGNED:
        return f"Signed({SIGNED[base]})"
    if base in UNSIGNED:
        return f"Unsigned({UNSIGNED[base]})"
    die(f"{where}: unknown kernel type {ctype!r} of {name!r}; add it to SIGNED/UNSIGNED")


def parse_sysdig(path):
    events = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"> (\w+)\((.*)\)\s*$", line)
            if not m:
                continue
            params = []
            for p in filter(None, (x.strip() for x in m.group(2).split(","))):
                typ, _, pname = p.partition(" ")
                params.append((typ, pname.strip()))
            events[m.group(1)] = params  # a later version of the event wins
    return events


def sysdig_shape(sc, kargs, params):
    """Map sysdig's enter params onto kernel args: [(sysdig name, kernel index, sysdig type)]."""
    used = set()
    out = []
    knames = [n for _, n in kargs]
    for typ, pname in params:
        cands = [OVERRIDES[(sc, pname)]] if (sc, pname) in OVERRIDES else \
            [pname] + [s for s in SYNONYMS.get(pname, []) if s != pname]
        for c in cands:
            if c not in knames:
                continue
            i = knames.index(c)
            if i in used:
                continue
            kptr = kind_of(kargs[i][0], kargs[i][1], sc) == "Pointer"
            if SYSDIG_SCALAR.match(typ):
                if kptr and pname != "addr":
                    continue
            elif not kptr:
                continue
            used.add(i)
            out.append((pname, i, typ))
            break
    return out


def emit_args(out_dir, tracefs, x86_names):
    evdir = os.path.join(tracefs, "events", "syscalls")
    if not os.path.isdir(evdir):
        print(f"warning: {evdir} not readable; keeping committed gen_args_x86_64.rs",
              file=sys.stderr)
        return
    if not os.path.exists(SYSDIG_EVENTS):
        die(f"{SYSDIG_EVENTS} missing")
    sysdig = parse_sysdig(SYSDIG_EVENTS)
    fn_to_sc = {v: k for k, v in KERNEL_FN.items()}
    kernel = {}
    for d in sorted(os.listdir(evdir)):
        if not d.startswith("sys_enter_"):
            continue
        fn = d[len("sys_enter_"):]
        with open(os.path.join(evdir, d, "format")) as f:
            kernel[fn_to_sc.get(fn, fn)] = parse_format(f.read())
    aligned = {}
    shown = {}
    n_sysdig = 0
    for sc, kargs in sorted(kernel.items()):
        raw = [(n, kind_of(t, n, sc)) for t, n in kargs]
        ev = SYSDIG_EVENT.get(sc)
        if ev is None and sc not in SYSDIG_NOT_SYSCALL and sc not in SYSDIG_VIA_ALIAS_ONLY:
            ev = sc
        if ev is not None and ev in sysdig and sc not in SYSDIG_NOT_SYSCALL:
            n_sysdig += 1
            lst = []
            for pname, i, typ in sysdig_shape(sc, kargs, sysdig[ev]):
                k = "Signed(4)" if typ in ("FD", "PID") else raw[i][1]
                lst.append((pname, k, i))
            shown[sc] = lst
        else:
            shown[sc] = [(n, k, i) for i, (n, k) in enumerate(raw)]
        named = list(raw)
        for pname, k, i in shown[sc]:
            named[i] = (pname, k)
        aligned[sc] = named
    unknown = sorted(set(kernel) - set(x86_names))
    hdr = [f"Source: {evdir}/sys_enter_*/format of kernel {os.uname().release}",
           f"and {os.path.relpath(SYSDIG_EVENTS, ROOT)} for sysdig's parameter names",
           f"({n_sysdig} syscalls shaped like sysdig's enter event; rules in {SELF}).",
           f"Kernel events without an x86_64 table name: {' '.join(unknown) or 'none'}."]

    def table(name, typ, doc, data, fmt):
        lines = [f"/// {doc}", f"pub(super) static {name}: [(&str, &[{typ}]); {len(data)}] = ["]
        for sc in sorted(data):
            items = ", ".join(fmt(a) for a in data[sc])
            lines.append(f"    ({rust_str(sc)}, &[{items}]),")
        lines.append("];")
        return "\n".join(lines)

    body = "use super::ArgKind::{self, *};\nuse super::EnterArg;\n\n"
    body += table("SHOWN", "EnterArg", "What the enter line shows, by syscall name: sysdig's names and "
                  "order where sysdig has the event, else every argument.", shown,
                  lambda a: f"EnterArg {{ name: {rust_str(a[0])}, kind: {a[1]}, reg: {a[2]} }}")
    body += "\n\n"
    body += table("ALIGNED", "(&str, ArgKind)", "Every argument in register order, by syscall name; "
                  "sysdig's name where it shows the value, the kernel's otherwise.", aligned,
                  lambda a: f"({rust_str(a[0])}, {a[1]})")
    body += "\n"
    write(out_dir, "gen_args_x86_64.rs", hdr, body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracefs", default="/sys/kernel/tracing")
    ap.add_argument("--out", default=os.path.join(ROOT, "src", "syscalls"))
    a = ap.parse_args()
    version = pkg_version("linux-libc-dev")
    srcs = {
        "x86_64": f"{INC}/x86_64-linux-gnu/asm/unistd_64.h",
        "i386": f"{INC}/x86_64-linux-gnu/asm/unistd_32.h",
        "aarch64": f"{INC}/asm-generic/unistd.h",
    }
    for p in list(srcs.values()) + [f"{INC}/asm-generic/errno.h"]:
        if not os.path.exists(p):
            die(f"{p} missing: apt-get install linux-libc-dev")
    x86_names = None
    for arch, src in srcs.items():
        if arch == "aarch64":
            table = parse_generic_unistd(src, AARCH64_DEFINES)
            src = f"{src} with arm64's __ARCH_WANT_* set"
        else:
            table = parse_simple_unistd(src)
        if len(table) < 300:
            die(f"{src}: only {len(table)} syscalls parsed")
        added = add_newer(table, arch)
        if arch == "x86_64":
            x86_names = set(table.values())
        emit_table(a.out, arch, src, version, table, added)
    emit_errno(a.out, version)
    emit_args(a.out, a.tracefs, x86_names)


if __name__ == "__main__":
    main()
