//! Live smoke tests against the running kernel. They skip (pass with a note) when not
//! root or when tracefs cannot be found or mounted; they only assert on samples of their
//! own thread, so other system-wide tests running at the same time do not disturb them.

use super::Feature;
use super::clock::{ClockMode, realtime_ns};
use super::engine::{Engine, EngineConfig, TracepointSpec};
use super::sys::RealKernel;
use crate::compat::Compat;

const TRACEFS: &str = "/sys/kernel/tracing";

/// The id of raw_syscalls:sys_enter, mounting tracefs if needed; None to skip.
fn sys_enter_id() -> Option<u32> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: not root");
        return None;
    }
    let path = format!("{TRACEFS}/events/raw_syscalls/sys_enter/id");
    if std::fs::metadata(&path).is_err() {
        let _ = nix::mount::mount(
            Some("nodev"),
            TRACEFS,
            Some("tracefs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
    }
    match std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(id) => Some(id),
        None => {
            eprintln!("skipped: no {path}");
            None
        }
    }
}

/// (pid, tid, wall ns, common_type) of one sample.
type Seen = (u32, u32, u64, Option<u16>);

/// Opens sys_enter with `compat`, makes syscalls, and returns the samples of this thread
/// as (pid, tid, wall ns, common_type).
fn capture_own(compat: Compat, filter: bool) -> Option<(Engine<RealKernel>, Vec<Seen>)> {
    let id = sys_enter_id()?;
    let tps = [TracepointSpec::new(id, "raw_syscalls:sys_enter")];
    let mut e = Engine::open(RealKernel, &tps, &EngineConfig::new(256 * 1024, compat)).unwrap();
    let tid = nix::unistd::gettid().as_raw() as u32;
    if filter {
        assert!(e.set_filter(0, &format!("common_pid == {tid}")).unwrap());
    }
    e.enable().unwrap();
    for _ in 0..200 {
        let _ = nix::unistd::getppid();
    }
    e.disable();
    e.wait(0).unwrap();
    let clock = *e.clock();
    let mut all = Vec::new();
    e.drain(|s| all.push((s.pid, s.tid, clock.wall_ns(s.time), s.common_type())));
    if filter {
        assert!(
            all.iter().all(|s| s.1 == tid),
            "the kernel filter let other threads through"
        );
    }
    let own = all.into_iter().filter(|s| s.1 == tid).collect();
    Some((e, own))
}

fn assert_sane(own: &[Seen]) {
    let id = sys_enter_id().unwrap() as u16;
    assert!(
        own.len() >= 200,
        "only {} samples of our own thread",
        own.len()
    );
    let pid = std::process::id();
    let now = realtime_ns() as u64;
    for &(p, _, wall, ct) in own {
        assert_eq!(p, pid);
        assert_eq!(ct, Some(id));
        assert!(
            now.abs_diff(wall) < 1_000_000_000,
            "wall time {wall} vs now {now}"
        );
    }
    assert!(
        own.windows(2).all(|w| w[0].2 <= w[1].2 + 1_000_000),
        "one thread's samples go forward"
    );
}

#[test]
fn live_sys_enter_samples_of_our_own_thread() {
    let Some((e, own)) = capture_own(Compat::default(), false) else {
        return;
    };
    assert_sane(&own);
    let f = e.features();
    assert_eq!(f.clockid, Feature::Used, "a 6.x kernel has use_clockid");
    assert_eq!(e.clock().mode(), ClockMode::Monotonic);
    assert_eq!(e.read_errors().count, 0);
}

#[test]
fn live_old_kernel_paths_still_give_sane_wall_times() {
    let compat = Compat {
        attr_v0: true,
        no_clockid: true,
        no_set_output: true,
        ..Default::default()
    };
    let Some((e, own)) = capture_own(compat, false) else {
        return;
    };
    assert_sane(&own);
    let f = e.features();
    eprintln!("{f}\nclock {:?}", e.clock());
    assert_eq!(
        (f.attr_size, f.clockid, f.set_output),
        (64, Feature::Forced, Feature::Forced)
    );
    match e.clock().mode() {
        ClockMode::Calibrated { uncertainty_ns } => {
            assert!(uncertainty_ns < 1_000_000, "{uncertainty_ns}")
        }
        other => panic!("expected a calibrated clock, got {other:?} ({f})"),
    }
}

#[test]
fn live_kernel_filter_keeps_only_our_thread() {
    let Some((e, own)) = capture_own(Compat::default(), true) else {
        return;
    };
    assert_sane(&own);
    assert_eq!(e.features().set_filter, Feature::Used);
}
