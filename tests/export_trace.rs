//! `--export-trace`: the timeline of a known workload parses as Chrome Trace Event Format
//! JSON, and the span of its openat lasts exactly the latency tpdig reports for that call.

mod common;

use common::*;

#[test]
fn the_openat_span_of_a_known_workload_matches_its_latency() {
    if !can_trace() {
        return;
    }
    let dir = std::env::temp_dir();
    let marker = dir.join(format!("tpdig-export-{}-marker", std::process::id()));
    std::fs::write(&marker, "x\n").unwrap();
    let marker = marker.to_str().unwrap().to_string();
    let cap = format!("{marker}.tpd");
    let json = format!("{marker}.json");
    let out = run(&["-q", "-w", &cap, "--", "cat", &marker], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let filter = format!("evt.type=openat and evt.dir=< and evt.arg.name={marker}");
    let lat = run(
        &["-r", &cap, "-p", "%evt.latency %thread.tid", &filter],
        &[],
    );
    let lat = String::from_utf8_lossy(&lat.stdout).into_owned();
    let mut cols = lat.split_whitespace();
    let latency: u64 = cols.next().and_then(|s| s.parse().ok()).expect(&lat);
    let tid: u64 = cols.next().and_then(|s| s.parse().ok()).expect(&lat);

    let exp = run(&["-r", &cap, "--export-trace", &json], &[]);
    assert!(
        exp.status.success(),
        "{}",
        String::from_utf8_lossy(&exp.stderr)
    );
    assert!(
        exp.stdout.is_empty(),
        "the timeline replaces the event lines"
    );
    let text = std::fs::read_to_string(&json).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = doc["traceEvents"].as_array().expect("traceEvents");
    let span = events
        .iter()
        .find(|e| {
            e["ph"] == "X"
                && e["name"] == "openat"
                && e["args"]["entry"].as_str().unwrap_or("").contains(&marker)
        })
        .expect("a span for the marker's openat");
    assert_eq!(span["tid"].as_u64(), Some(tid));
    let dur_ns = (span["dur"].as_f64().unwrap() * 1000.0).round() as u64;
    assert_eq!(dur_ns, latency, "span {span}");
    assert!(
        events.iter().any(|e| e["ph"] == "M"
            && e["name"] == "thread_name"
            && e["tid"].as_u64() == Some(tid)
            && e["args"]["name"] == "cat"),
        "the thread's track is named"
    );
    for f in [&cap, &json, &marker] {
        let _ = std::fs::remove_file(f);
    }
}

#[test]
fn export_trace_needs_a_capture() {
    let out = run(&["--export-trace", "/tmp/tpdig-never.json", "-n", "1"], &[]);
    assert!(!out.status.success());
}
