//! A run started right after another: the first one's teardown (a detached child closing
//! its events one at a time) steps aside, and the second run leaves its events to it.
//! The time to the first event is measured by ci/bench-restart.sh, not asserted here.

mod common;

use common::{BIN, can_trace};
use std::process::{Command, Stdio};

fn group_lines(group: &str) -> usize {
    std::fs::read_to_string("/sys/kernel/tracing/uprobe_events")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(&format!(":{group}/")))
        .count()
}

/// `tpdig -v -n 10`, its stderr piped.
fn run_ten() -> std::process::Child {
    Command::new(BIN)
        .args(["-v", "-n", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn back_to_back_runs_share_the_kernel_politely() {
    if !can_trace() {
        eprintln!("skipped: not root");
        return;
    }
    let _g = common::serial();
    let first = run_ten();
    let group = format!("tpdig_{}", first.id());
    let out = first.wait_with_output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // Probe points share events: fewer tracefs events than points in the C library.
    let libc = err
        .lines()
        .find(|l| l.contains("uprobes in") && l.contains("libc"))
        .unwrap_or_else(|| panic!("no libc uprobes line in:\n{err}"));
    // `tpdig: probes: uprobes in LIB: POINTS in EVENTS event(s) (names)`
    let (points, events) = libc
        .split(" (")
        .next()
        .and_then(|head| head.rsplit_once(": "))
        .and_then(|(_, rest)| {
            let (p, rest) = rest.split_once(" in ")?;
            let (e, _) = rest.split_once(" event")?;
            Some((p.parse::<usize>().ok()?, e.parse::<usize>().ok()?))
        })
        .unwrap_or_else(|| panic!("unreadable line {libc}"));
    assert!(
        points >= 10 && events * 2 <= points,
        "{points} points in {events} events: {libc}"
    );

    // The second run starts while the first one's teardown is still at work: it must not
    // take those events for a dead run's leftovers.
    let second = run_ten().wait_with_output().unwrap();
    assert!(second.status.success());
    let err2 = String::from_utf8_lossy(&second.stderr);
    assert!(
        !err2.contains(&format!("removed stale probe event {group}/")),
        "the second run removed the first one's events:\n{err2}"
    );

    // The teardown finishes on its own: the group goes away (the kernel's grace periods
    // set the pace; tracefs has no change notification, so it is polled, with a generous
    // bound).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while group_lines(&group) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{group} still in uprobe_events"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
