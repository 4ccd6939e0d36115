//! What part of the user's filter the kernel evaluates, per tracepoint.
//!
//! ftrace filters (`PERF_EVENT_IOC_SET_FILTER`) run before a sample is written, which is
//! where the cost is (writing a sample ≈ 0.7 µs here; a rejecting filter is almost free).
//! For each tracepoint this derives a sound over-approximation of the user filter over the
//! fields that tracepoint carries exactly (`thread.tid` = `common_pid`, `evt.type` = the
//! syscall `id` on raw_syscalls), adds tpdig's self-exclusion, and decides which
//! tracepoints need not be opened at all. User space still runs the full filter, so the
//! results never change. Lifecycle tracepoints (fork, exec, exit, rename) are never
//! filtered: the thread state needs every one of them.

use crate::decode::{Role, Tracepoint};
use crate::filter::pushdown::KValue;
use crate::filter::{Expr, FieldRef, KernelField, KernelFields, KernelKind, pushdown};
use crate::params;
use crate::state::effects::STATE_CALLS;
use crate::syscalls::{self, Arch};

/// The decision for each tracepoint, in the order given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The ftrace expression to install, if any.
    pub filters: Vec<Option<String>>,
    /// Tracepoints the filter can never match and state does not need.
    pub skip: Vec<bool>,
}

struct SyscallFields {
    arch: Arch,
    /// The number's field: `id` on raw_syscalls, `__syscall_nr` on a per-syscall event.
    nr_field: String,
}

impl KernelFields for SyscallFields {
    fn kernel_field(&self, f: &FieldRef) -> Option<KernelField> {
        let name = match f.name.as_str() {
            "thread.tid" => "common_pid",
            "evt.type" => self.nr_field.as_str(),
            _ => return None,
        };
        Some(KernelField {
            name: name.into(),
            kind: KernelKind::Int,
        })
    }

    fn kernel_value(&self, f: &FieldRef, _kf: &KernelField, value: &str) -> Option<KValue> {
        match f.name.as_str() {
            "evt.type" => match syscalls_for_event(self.arch, value).as_slice() {
                // Only a name that stands for exactly one syscall is one `id == N` test.
                [nr] => Some(KValue::Int(*nr)),
                _ => None,
            },
            _ => value.parse().ok().map(KValue::Int),
        }
    }
}

/// `(pushed) || id == <each state-changing call>`: still sound, since it only adds events.
fn keep_state_calls(pushed: &str, arch: Arch) -> String {
    let ids: Vec<String> = STATE_CALLS
        .iter()
        .filter_map(|n| syscalls::number(arch, n))
        .map(|nr| format!("id == {nr}"))
        .collect();
    format!("({pushed}) || {}", ids.join(" || "))
}

/// The syscall numbers whose events sysdig calls `event` (`dup` is dup, dup2 and dup3).
pub fn syscalls_for_event(arch: Arch, event: &str) -> Vec<i64> {
    syscalls::all(arch)
        .filter(|(_, name)| params::event_name(name) == event)
        .map(|(nr, _)| nr)
        .collect()
}

/// The call (kernel event spelling) a per-syscall tracepoint `syscalls:sys_enter_NAME` is for.
fn per_syscall_call(tp: &Tracepoint) -> Option<&str> {
    if tp.system != "syscalls" {
        return None;
    }
    tp.name
        .strip_prefix("sys_enter_")
        .or_else(|| tp.name.strip_prefix("sys_exit_"))
}

fn is_state_call(event_suffix: &str) -> bool {
    STATE_CALLS
        .iter()
        .any(|c| crate::syscall_source::event_suffix(c) == event_suffix)
}

/// Only `thread.tid`, for tracepoints whose type is not a syscall.
struct TidOnly;

impl KernelFields for TidOnly {
    fn kernel_field(&self, f: &FieldRef) -> Option<KernelField> {
        (f.name == "thread.tid").then(|| KernelField {
            name: "common_pid".into(),
            kind: KernelKind::Int,
        })
    }
}

/// The `evt.type` a tracepoint's events carry when it is not a syscall event.
pub(crate) fn fixed_type(tp: &Tracepoint) -> Option<&str> {
    match tp.role {
        Role::Switch { .. } => Some("switch"),
        Role::Exit { .. } => Some("procexit"),
        Role::SysEnter { .. } | Role::SysExit { .. } => None,
        _ => Some(tp.name.as_str()),
    }
}

/// Plans the kernel filters. `exclude_tid`: tpdig's own thread, to filter out unless -D.
pub fn plan(tps: &[Tracepoint], user: Option<&Expr>, exclude_tid: Option<i32>, arch: Arch) -> Plan {
    let types = user.and_then(crate::filter::event_types);
    let dirs = user.and_then(|e| crate::filter::pushdown::restricted_values(e, "evt.dir"));
    let mut plan = Plan::default();
    for tp in tps {
        let state = tp.feeds_state();
        let mut skip = false;
        if !state {
            if let (Some(types), Some(t)) = (&types, fixed_type(tp)) {
                skip |= !types.contains(t);
            }
            // The direction never closes the syscall tracepoints: an exit needs its entry's
            // arguments (and the state its effect), and the entry its exit.
            if let Some(dirs) = &dirs
                && !matches!(tp.role, Role::SysEnter { .. } | Role::SysExit { .. })
            {
                skip |= !dirs.contains(">");
            }
            if let Some(types) = &types
                && matches!(tp.role, Role::SysEnter { .. } | Role::SysExit { .. })
            {
                // Only names that are syscalls can match a syscall event.
                skip |= !types
                    .iter()
                    .any(|t| !syscalls_for_event(arch, t).is_empty());
            }
        }
        let pushed = match (user, state) {
            (Some(e), false) => match tp.role {
                // Calls that change fds, cwd or credentials must reach the state even when
                // the filter does not show them, or later names would be stale.
                Role::SysEnter { id: ref nr, .. } | Role::SysExit { id: ref nr, .. } => {
                    let fields = SyscallFields {
                        arch,
                        nr_field: nr.name.clone(),
                    };
                    match per_syscall_call(tp) {
                        // A per-syscall event of a state call: every record is needed.
                        Some(call) if is_state_call(call) => None,
                        // Of another call: only its own records reach this filter.
                        Some(_) => pushdown(e, &fields),
                        None => pushdown(e, &fields).map(|p| keep_state_calls(&p, arch)),
                    }
                }
                _ => pushdown(e, &TidOnly),
            },
            _ => None,
        };
        let me = exclude_tid.map(|t| format!("common_pid != {t}"));
        plan.filters.push(match (pushed, me) {
            (Some(p), Some(m)) => Some(format!("({p}) && {m}")),
            (p, m) => p.or(m),
        });
        plan.skip.push(skip);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Catalog;
    use crate::tracefs::EventFormat;

    fn tp(system: &str, name: &str, fields: &str) -> Tracepoint {
        let text = format!(
            "name: {name}\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n{fields}\nprint fmt: \"\"\n"
        );
        Tracepoint::new(system, name, &text, EventFormat::parse(&text).unwrap()).unwrap()
    }

    fn tps() -> Vec<Tracepoint> {
        vec![
            tp(
                "raw_syscalls",
                "sys_enter",
                "\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;",
            ),
            tp(
                "raw_syscalls",
                "sys_exit",
                "\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;\n\tfield:long ret;\toffset:16;\tsize:8;\tsigned:1;",
            ),
            tp(
                "sched",
                "sched_switch",
                "\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;\n\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;",
            ),
            tp(
                "sched",
                "sched_process_exit",
                "\tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;\n\tfield:pid_t pid;\toffset:24;\tsize:4;\tsigned:1;",
            ),
        ]
    }

    #[test]
    fn syscall_types_and_tids_go_to_the_kernel_and_switch_is_skipped() {
        let e = crate::filter::parse(
            "evt.type=openat and thread.tid=42 and proc.name=cat",
            &Catalog,
        )
        .unwrap();
        let p = plan(&tps(), Some(&e), Some(7), Arch::X86_64);
        let f0 = p.filters[0].as_deref().unwrap();
        assert!(
            f0.starts_with("((id == 257 && common_pid == 42) || id == "),
            "{f0}"
        );
        assert!(f0.ends_with(") && common_pid != 7"), "{f0}");
        assert!(
            f0.contains("id == 3 ") && f0.contains("id == 32 "),
            "close and dup reach the state: {f0}"
        );
        assert_eq!(p.skip, vec![false, false, true, false]);
        assert_eq!(
            p.filters[3].as_deref(),
            Some("common_pid != 7"),
            "lifecycle events are never user-filtered"
        );
    }

    #[test]
    fn direction_limits_the_syscall_events_opened() {
        let e =
            crate::filter::parse("evt.dir = '<' and evt.type in (read, write)", &Catalog).unwrap();
        let p = plan(&tps(), Some(&e), None, Arch::X86_64);
        assert_eq!(
            p.skip,
            vec![false, false, true, false],
            "entries stay open for the exits' arguments"
        );
        let f1 = p.filters[1].as_deref().unwrap();
        assert!(f1.starts_with("(id == 0 || id == 1) || id == "), "{f1}");
    }

    #[test]
    fn without_a_filter_only_self_exclusion_remains() {
        let p = plan(&tps(), None, Some(9), Arch::X86_64);
        assert!(
            p.filters
                .iter()
                .all(|f| f.as_deref() == Some("common_pid != 9"))
        );
        assert!(p.skip.iter().all(|s| !s));
    }
}
