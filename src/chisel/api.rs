//! What scripts can call: the `evt` object, filters and intervals, native aggregation,
//! output helpers, the thread table. Everything is registered on one Rhai engine per
//! chisel; the functions share the sink's [`Shared`] state through an `Rc` (Rhai runs
//! without `sync`: single-threaded, 15–20% faster).
//!
//! Handles (tables, histograms, vars) are passed by value (an `Rc` clone) so that methods
//! on them are "pure" in Rhai's sense and work on top-level constants — the way a script
//! keeps state, since Rhai functions see the script's constants but not its variables.

use super::agg::{self, Amount, Feed, Hist, HistData, Table, TableData, Target};
use super::current;
use super::fields::{self as cfields, ChiselValues};
use super::format;
use super::snapshot;
use crate::decode::Kind;
use crate::fields::EventView;
use crate::filter::{Expr, FieldRef, FieldValues, Filter, Value};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Map};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

type RResult<T> = Result<T, Box<EvalAltResult>>;

/// State the script's functions and the sink share.
pub struct Shared {
    pub out: Box<dyn Write>,
    /// The first error writing output (reported at the end).
    pub out_error: Option<io::Error>,
    /// `set_filter`: the text, its parse (for kernel pushdown) and compiled form.
    pub filter: Option<(String, Expr, Filter)>,
    pub interval_ns: Option<u64>,
    pub end_requested: bool,
    pub feeds: Vec<Feed>,
    /// Some feed needs CPU time from scheduler switches.
    pub wants_cpu: bool,
    /// Some feed measures off-CPU time (it watches every event for threads coming back).
    pub wants_offcpu: bool,
    /// Field references resolved by `evt["name"]`, by name.
    pub fields: HashMap<String, Option<FieldRef>>,
    pub live: bool,
    /// `set_snaplen`: the script shows I/O data, this many bytes of each call's.
    pub snaplen: Option<usize>,
    /// `dump()`: the flight recorder's request flag, when the run is one.
    pub dump_request: Option<Arc<AtomicBool>>,
    /// `dump()` outside a flight-recorder run was reported once.
    pub dump_warned: bool,
}

impl Shared {
    pub fn new(out: Box<dyn Write>) -> Shared {
        Shared {
            out,
            out_error: None,
            filter: None,
            interval_ns: None,
            end_requested: false,
            feeds: Vec::new(),
            wants_cpu: false,
            wants_offcpu: false,
            snaplen: None,
            fields: HashMap::new(),
            live: false,
            dump_request: None,
            dump_warned: false,
        }
    }

    pub fn write_line(&mut self, s: &str) {
        self.write_text(s);
        self.write_text("\n");
    }

    /// `write(text)`: output without a line end (data that carries its own).
    pub fn write_text(&mut self, s: &str) {
        if self.out_error.is_some() {
            return;
        }
        if let Err(e) = self.out.write_all(s.as_bytes()) {
            self.out_error = Some(e);
        }
    }
}

pub type SharedRc = Rc<RefCell<Shared>>;

/// The script's `evt`: a token for the event being delivered (see [`current`]).
#[derive(Clone, Copy, Debug)]
pub struct Evt {
    pub generation: u64,
}

/// `table()`: key → sum.
#[derive(Clone, Debug, Default)]
pub struct TableH(pub Table);

/// `hist()`: values → quantiles.
#[derive(Clone, Debug, Default)]
pub struct HistH(pub Hist);

/// `filter(text)`: a compiled filter a script can test events against.
#[derive(Clone, Debug)]
pub struct FilterH(pub Rc<Filter>);

/// `vars()`: a mutable map for script state that is not an aggregate.
#[derive(Clone, Debug, Default)]
pub struct Vars(pub Rc<RefCell<Map>>);

/// Converts a field value for the script: text → string, numbers → int, IPs → string,
/// lists → array.
pub fn to_dynamic(v: Value<'_>) -> Dynamic {
    match v {
        Value::Str(s) => Dynamic::from(s.into_owned()),
        Value::Bytes(b) => Dynamic::from(String::from_utf8_lossy(b).into_owned()),
        Value::Num(n) => Dynamic::from_int(n),
        Value::UNum(n) => Dynamic::from_int(n as INT),
        Value::Bool(b) => Dynamic::from_bool(b),
        Value::Ip(ip) => Dynamic::from(ip.to_string()),
        Value::List(items) => Dynamic::from_array(items.into_iter().map(to_dynamic).collect()),
    }
}

fn stale() -> Box<EvalAltResult> {
    "evt is only valid inside the on_event call it was given to".into()
}

/// Reads the current event for token `e`.
fn ev<R>(e: &Evt, f: impl FnOnce(&EventView<'_>) -> R) -> RResult<R> {
    current::with_event(e.generation, f).ok_or_else(stale)
}

fn opt<T: Into<Dynamic>>(v: Option<T>) -> Dynamic {
    v.map_or(Dynamic::UNIT, Into::into)
}

fn field_of(shared: &SharedRc, name: &str) -> RResult<FieldRef> {
    if let Some(f) = shared.borrow().fields.get(name) {
        return f
            .clone()
            .ok_or_else(|| format!("unknown field '{name}'").into());
    }
    let r = cfields::resolve(name);
    shared
        .borrow_mut()
        .fields
        .insert(name.to_string(), r.as_ref().ok().cloned());
    r.map_err(|e| e.into())
}

fn evt_field(shared: &SharedRc, e: &Evt, name: &str) -> RResult<Dynamic> {
    let f = field_of(shared, name)?;
    ev(e, |v| {
        ChiselValues(v).value(&f).map_or(Dynamic::UNIT, to_dynamic)
    })
}

fn catalog_field(v: &EventView<'_>, name: &str) -> Dynamic {
    // Names here are fixed and known to exist; resolution is cached by the catalog lookup.
    match crate::fields::catalog::find(name) {
        Some((id, def)) => {
            let _ = id;
            (def.extract)(v, None).map_or(Dynamic::UNIT, to_dynamic)
        }
        None => Dynamic::UNIT,
    }
}

fn key_of(parts: &Array) -> String {
    let mut k = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(agg::KEY_SEP);
        }
        k.push_str(&p.to_string());
    }
    k
}

fn key_fields(names: &[String]) -> RResult<Vec<FieldRef>> {
    names
        .iter()
        .map(|n| cfields::resolve(n.trim()).map_err(|e| e.into()))
        .collect()
}

fn amount_of(spec: &str, shared: &SharedRc) -> RResult<Amount> {
    Ok(match spec.trim() {
        "" | "evt.count" => Amount::Count,
        "cpu.time" | "thread.exectime" => {
            shared.borrow_mut().wants_cpu = true;
            Amount::CpuTime
        }
        "offcpu.time" => {
            shared.borrow_mut().wants_offcpu = true;
            Amount::OffCpuTime(Default::default())
        }
        f => Amount::Field(cfields::resolve(f).map_err(|e| -> Box<EvalAltResult> { e.into() })?),
    })
}

fn filter_of(text: &str) -> RResult<Option<Filter>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let (_, f) = cfields::compile_filter(text).map_err(|e| -> Box<EvalAltResult> { e.into() })?;
    Ok(Some(f))
}

fn add_feed(
    shared: &SharedRc,
    target: Target,
    keys: Vec<String>,
    amount: &str,
    filter: &str,
) -> RResult<()> {
    let feed = Feed {
        target,
        keys: key_fields(&keys)?,
        amount: amount_of(amount, shared)?,
        filter: filter_of(filter)?,
    };
    shared.borrow_mut().feeds.push(feed);
    Ok(())
}

fn strings(a: &Array) -> Vec<String> {
    a.iter().map(|d| d.to_string()).collect()
}

/// sysdig's top-table rendering: value column and key columns 20 wide (keys but the last
/// cut to 20), a rule of 80 dashes. `units`: none, bytes, time, timepct (of `delta_ns`).
pub fn top_text(t: &TableData, n: usize, headers: &[String], units: &str, delta_ns: i64) -> String {
    let mut s = String::new();
    for h in headers {
        s.push_str(&format::pad(h, 20));
    }
    s.push('\n');
    s.push_str(&"-".repeat(80));
    s.push('\n');
    for (key, v) in t.top(n) {
        let value = match units {
            "bytes" => format::format_bytes(v),
            "time" => format::format_time(v),
            "timepct" => {
                if delta_ns > 0 {
                    format!("{:.2}%", v as f64 / delta_ns as f64 * 100.0)
                } else {
                    "0.00%".into()
                }
            }
            _ => v.to_string(),
        };
        let mut line = format::pad(&value, 20);
        let parts: Vec<&str> = key.split(agg::KEY_SEP).collect();
        for (i, p) in parts.iter().enumerate() {
            if i + 1 < parts.len() {
                let cut: String = p.chars().take(20).collect();
                line.push_str(&format::pad(&cut, 20));
            } else {
                line.push_str(p);
            }
        }
        s.push_str(&line);
        s.push('\n');
    }
    s
}

/// Registers the whole API on `engine`.
pub fn register(engine: &mut Engine, shared: &SharedRc) {
    engine.register_type_with_name::<Evt>("Event");
    engine.register_type_with_name::<TableH>("Table");
    engine.register_type_with_name::<HistH>("Histogram");
    engine.register_type_with_name::<Vars>("Vars");
    engine.register_type_with_name::<FilterH>("Filter");

    let sh = shared.clone();
    engine.on_print(move |s| sh.borrow_mut().write_line(s));
    let sh = shared.clone();
    engine.register_fn("write", move |s: &str| sh.borrow_mut().write_text(s));
    engine.on_debug(|s, src, pos| {
        let src = src.unwrap_or("script");
        if pos.is_none() {
            eprintln!("{src}: {s}");
        } else {
            eprintln!(
                "{src}:{}:{}: {s}",
                pos.line().unwrap_or(0),
                pos.position().unwrap_or(0)
            );
        }
    });

    register_evt(engine, shared);
    register_control(engine, shared);
    register_tables(engine, shared);
    register_output(engine, shared);
    register_state(engine);
}

fn register_evt(engine: &mut Engine, shared: &SharedRc) {
    engine.register_get("num", |e: &mut Evt| ev(e, |v| v.ev.num as INT));
    engine.register_get("ts", |e: &mut Evt| ev(e, |v| v.ev.ts as INT));
    engine.register_get("reltime", |e: &mut Evt| {
        ev(e, |v| v.ev.ts.saturating_sub(v.clock.first_ts) as INT)
    });
    engine.register_get("cpu", |e: &mut Evt| ev(e, |v| v.ev.cpu as INT));
    engine.register_get("tid", |e: &mut Evt| ev(e, |v| v.ev.tid as INT));
    engine.register_get("pid", |e: &mut Evt| ev(e, |v| v.ev.pid as INT));
    engine.register_get("type", |e: &mut Evt| {
        ev(e, |v| ImmutableString::from(v.type_name().as_ref()))
    });
    engine.register_get("dir", |e: &mut Evt| {
        ev(e, |v| {
            ImmutableString::from(if v.ev.dir() == '<' { "<" } else { ">" })
        })
    });
    engine.register_get("is_enter", |e: &mut Evt| ev(e, |v| v.ev.dir() != '<'));
    engine.register_get("is_exit", |e: &mut Evt| ev(e, |v| v.ev.dir() == '<'));
    engine.register_get("syscall", |e: &mut Evt| ev(e, |v| opt(v.syscall())));
    engine.register_get("res", |e: &mut Evt| {
        ev(e, |v| match v.ev.kind {
            Kind::SyscallExit { ret, .. } => Dynamic::from_int(ret),
            _ => Dynamic::UNIT,
        })
    });
    engine.register_get("failed", |e: &mut Evt| {
        ev(
            e,
            |v| matches!(v.ev.kind, Kind::SyscallExit { ret, .. } if (-4095..0).contains(&ret)),
        )
    });
    engine.register_get("latency", |e: &mut Evt| {
        ev(e, |v| opt(v.latency().map(|l| l as INT)))
    });
    engine.register_get("is_io", |e: &mut Evt| {
        ev(e, |v| v.syscall().and_then(cfields::io_direction).is_some())
    });
    engine.register_get("is_io_read", |e: &mut Evt| {
        ev(e, |v| {
            v.syscall().and_then(cfields::io_direction) == Some(false)
        })
    });
    engine.register_get("is_io_write", |e: &mut Evt| {
        ev(e, |v| {
            v.syscall().and_then(cfields::io_direction) == Some(true)
        })
    });
    engine.register_get("data", |e: &mut Evt| {
        ev(e, |v| match v.io_data() {
            Some(d) => Dynamic::from(data_text(v, d)),
            None => Dynamic::UNIT,
        })
    });
    engine.register_get("info", |e: &mut Evt| {
        ev(e, |v| ImmutableString::from(v.info()))
    });
    for (getter, field) in [
        ("proc_name", "proc.name"),
        ("ppid", "proc.ppid"),
        ("exe", "proc.exe"),
        ("cmdline", "proc.cmdline"),
        ("user", "user.name"),
        ("uid", "user.uid"),
        ("fd", "fd.num"),
        ("fd_name", "fd.name"),
        ("fd_type", "fd.type"),
        ("fd_typechar", "fd.typechar"),
        ("container", "container.id"),
    ] {
        engine.register_get(getter, move |e: &mut Evt| {
            ev(e, |v| catalog_field(v, field))
        });
    }
    let sh = shared.clone();
    engine.register_indexer_get(move |e: &mut Evt, name: &str| evt_field(&sh, e, name));
    let sh = shared.clone();
    engine.register_fn("field", move |e: &mut Evt, name: &str| {
        evt_field(&sh, e, name)
    });
    engine.register_fn("to_string", |e: &mut Evt| {
        ev(e, |v| {
            format!("{} {} {} {}", v.ev.num, v.ev.tid, v.type_name(), v.info())
        })
    });
}

/// A call's data as a chisel prints it: in the run's format (`-A`, `-x`, `-X`, `-b`), or as
/// text with its line ends and tabs kept and other control bytes as `.`; never cut.
fn data_text(v: &EventView<'_>, d: &[u8]) -> String {
    use crate::params::BufferFormat;
    let d = &d[..d.len().min(v.data.snaplen)];
    if v.data.format != BufferFormat::Normal {
        let mut s = String::new();
        crate::params::bytebuf::write_buffer(d, v.data.format, 0, &mut s);
        return s;
    }
    String::from_utf8_lossy(d)
        .chars()
        .map(|c| match c {
            '\n' | '\t' => c,
            c if c.is_control() => '.',
            c => c,
        })
        .collect()
}

fn register_control(engine: &mut Engine, shared: &SharedRc) {
    let sh = shared.clone();
    engine.register_fn("set_filter", move |text: &str| -> RResult<()> {
        let text = text.trim();
        if text.is_empty() {
            sh.borrow_mut().filter = None;
            return Ok(());
        }
        let (expr, f) =
            cfields::compile_filter(text).map_err(|e| -> Box<EvalAltResult> { e.into() })?;
        sh.borrow_mut().filter = Some((text.to_string(), expr, f));
        Ok(())
    });
    let sh = shared.clone();
    engine.register_fn("set_interval_s", move |s: INT| -> RResult<()> {
        if s <= 0 {
            return Err(format!("set_interval_s({s}): the interval must be positive").into());
        }
        sh.borrow_mut().interval_ns = Some(s as u64 * 1_000_000_000);
        Ok(())
    });
    let sh = shared.clone();
    engine.register_fn("set_interval_ns", move |ns: INT| -> RResult<()> {
        if ns <= 0 {
            return Err(format!("set_interval_ns({ns}): the interval must be positive").into());
        }
        sh.borrow_mut().interval_ns = Some(ns as u64);
        Ok(())
    });
    engine.register_fn("filter", |text: &str| -> RResult<FilterH> {
        match filter_of(text)? {
            Some(f) => Ok(FilterH(Rc::new(f))),
            None => Err("filter(): empty filter text".into()),
        }
    });
    engine.register_fn("matches", |f: FilterH, e: Evt| {
        ev(&e, |v| f.0.matches(&ChiselValues(v)))
    });
    let sh = shared.clone();
    engine.register_fn("end_capture", move || sh.borrow_mut().end_requested = true);
    let sh = shared.clone();
    engine.register_fn("set_snaplen", move |n: INT| -> RResult<()> {
        let n = usize::try_from(n).map_err(|_| format!("set_snaplen({n}): not a byte count"))?;
        sh.borrow_mut().snaplen = Some(n);
        Ok(())
    });
    let sh = shared.clone();
    engine.register_fn("is_live", move || sh.borrow().live);
    let sh = shared.clone();
    engine.register_fn("dump", move || request_dump(&mut sh.borrow_mut()));
}

/// `dump()`: asks the flight recorder for a dump of its rings (true), or, in a run without
/// one, says so once on stderr and does nothing (false). The recorder ignores requests
/// while a dump is pending or once `--max-dumps` is reached.
fn request_dump(sh: &mut Shared) -> bool {
    match &sh.dump_request {
        Some(flag) => {
            // ATOMICS: Release pairs with the recorder's AcqRel swap; the flag is the only
            // data passed.
            flag.store(true, Ordering::Release);
            true
        }
        None => {
            if !sh.dump_warned {
                sh.dump_warned = true;
                eprintln!(
                    "tpdig: warning: the chisel called dump(), which needs --flight-recorder -w FILE; ignored"
                );
            }
            false
        }
    }
}

fn register_tables(engine: &mut Engine, shared: &SharedRc) {
    engine.register_fn("table", TableH::default);
    engine.register_fn("add", |t: TableH, key: &str, n: INT| {
        t.0.borrow_mut().add(key, n)
    });
    engine.register_fn("add", |t: TableH, key: Array, n: INT| {
        t.0.borrow_mut().add(&key_of(&key), n)
    });
    engine.register_fn("get", |t: TableH, key: &str| {
        t.0.borrow().map.get(key).copied().unwrap_or(0)
    });
    engine.register_fn("get", |t: TableH, key: Array| {
        t.0.borrow().map.get(&key_of(&key)).copied().unwrap_or(0)
    });
    engine.register_fn("len", |t: TableH| t.0.borrow().map.len() as INT);
    engine.register_fn("total", |t: TableH| t.0.borrow().total());
    engine.register_fn("clear", |t: TableH| t.0.borrow_mut().map.clear());
    engine.register_fn("top", |t: TableH, n: INT| -> Array {
        t.0.borrow()
            .top(n.max(0) as usize)
            .into_iter()
            .map(|(k, v)| {
                let mut row: Array = vec![Dynamic::from_int(v)];
                row.extend(k.split(agg::KEY_SEP).map(|p| Dynamic::from(p.to_string())));
                Dynamic::from_array(row)
            })
            .collect()
    });
    engine.register_fn("split_key", |k: &str| -> Array {
        k.split(agg::KEY_SEP)
            .map(|p| Dynamic::from(p.to_string()))
            .collect()
    });
    let sh = shared.clone();
    engine.register_fn(
        "feed",
        move |t: TableH, key: &str, amount: &str, filter: &str| {
            add_feed(
                &sh,
                Target::Table(t.0.clone()),
                vec![key.to_string()],
                amount,
                filter,
            )
        },
    );
    let sh = shared.clone();
    engine.register_fn(
        "feed",
        move |t: TableH, keys: Array, amount: &str, filter: &str| {
            add_feed(
                &sh,
                Target::Table(t.0.clone()),
                strings(&keys),
                amount,
                filter,
            )
        },
    );

    engine.register_fn("hist", HistH::default);
    engine.register_fn("add", |h: HistH, v: INT| h.0.borrow_mut().add(v));
    engine.register_fn("count", |h: HistH| h.0.borrow().count as INT);
    engine.register_fn("sum", |h: HistH| h.0.borrow().sum as INT);
    engine.register_fn("min", |h: HistH| {
        let h = h.0.borrow();
        if h.count == 0 { 0 } else { h.min }
    });
    engine.register_fn("max", |h: HistH| {
        let h = h.0.borrow();
        if h.count == 0 { 0 } else { h.max }
    });
    engine.register_fn("mean", |h: HistH| h.0.borrow().mean() as FLOAT);
    engine.register_fn("quantile", |h: HistH, q: FLOAT| h.0.borrow().quantile(q));
    engine.register_fn("count_between", |h: HistH, lo: INT, hi: INT| {
        h.0.borrow().count_between(lo, hi) as INT
    });
    engine.register_fn("clear", |h: HistH| h.0.borrow_mut().clear());
    let sh = shared.clone();
    engine.register_fn("feed", move |h: HistH, amount: &str, filter: &str| {
        add_feed(&sh, Target::Hist(h.0.clone()), Vec::new(), amount, filter)
    });

    engine.register_fn("vars", Vars::default);
    engine.register_fn("get", |v: Vars, k: &str| {
        v.0.borrow().get(k).cloned().unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("set", |v: Vars, k: &str, x: Dynamic| {
        v.0.borrow_mut().insert(k.into(), x);
    });
    engine.register_fn("has", |v: Vars, k: &str| v.0.borrow().contains_key(k));
    engine.register_fn("remove", |v: Vars, k: &str| {
        v.0.borrow_mut().remove(k).unwrap_or(Dynamic::UNIT)
    });
    engine.register_fn("keys", |v: Vars| -> Array {
        v.0.borrow()
            .keys()
            .map(|k| Dynamic::from(k.to_string()))
            .collect()
    });
    engine.register_fn("len", |v: Vars| v.0.borrow().len() as INT);
    engine.register_fn("clear", |v: Vars| v.0.borrow_mut().clear());
    engine.register_fn("add", |v: Vars, k: &str, n: INT| -> INT {
        let mut m = v.0.borrow_mut();
        let cur = m.get(k).and_then(|d| d.as_int().ok()).unwrap_or(0);
        m.insert(k.into(), Dynamic::from_int(cur + n));
        cur + n
    });
}

fn register_output(engine: &mut Engine, shared: &SharedRc) {
    engine.register_fn("format_bytes", format::format_bytes);
    engine.register_fn("format_time", format::format_time);
    engine.register_fn("pad", |s: &str, w: INT| format::pad(s, w.max(0) as usize));
    engine.register_fn("term_width", || format::term_width() as INT);
    engine.register_fn(
        "top_text",
        |t: TableH, n: INT, headers: Array, units: &str, delta: INT| {
            top_text(
                &t.0.borrow(),
                n.max(0) as usize,
                &strings(&headers),
                units,
                delta,
            )
        },
    );
    let sh = shared.clone();
    engine.register_fn(
        "print_top",
        move |t: TableH, n: INT, headers: Array, units: &str| {
            let text = top_text(
                &t.0.borrow(),
                n.max(0) as usize,
                &strings(&headers),
                units,
                0,
            );
            sh.borrow_mut().write_line(text.trim_end_matches('\n'));
        },
    );
    let sh = shared.clone();
    engine.register_fn(
        "print_top",
        move |t: TableH, n: INT, headers: Array, units: &str, delta: INT| {
            let text = top_text(
                &t.0.borrow(),
                n.max(0) as usize,
                &strings(&headers),
                units,
                delta,
            );
            sh.borrow_mut().write_line(text.trim_end_matches('\n'));
        },
    );
    let sh = shared.clone();
    engine.register_fn("write", move |s: &str| {
        let mut b = sh.borrow_mut();
        if b.out_error.is_none()
            && let Err(e) = b.out.write_all(s.as_bytes())
        {
            b.out_error = Some(e);
        }
    });
    engine.register_fn("write_file", |path: &str, text: &str| -> RResult<()> {
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}").into())
    });
    engine.register_fn("clear_screen", || "\x1b[2J\x1b[H".to_string());
    engine.register_fn("format_ts", |ns: INT| {
        let off = crate::wall_time::utc_offset(ns / 1_000_000_000);
        crate::wall_time::format_datetime(ns.max(0) as u64, off, true)
    });
}

fn register_state(engine: &mut Engine) {
    fn no_state() -> Box<EvalAltResult> {
        "the thread table is readable in on_capture_start, on_event and on_interval only".into()
    }
    fn compiled(filter: &str) -> RResult<Option<Filter>> {
        filter_of(filter)
    }
    engine.register_fn("threads", || {
        current::with_state(|s| snapshot::threads(s, None)).ok_or_else(no_state)
    });
    engine.register_fn("threads", |filter: &str| -> RResult<Array> {
        let f = compiled(filter)?;
        current::with_state(|s| snapshot::threads(s, f.as_ref())).ok_or_else(no_state)
    });
    engine.register_fn("fds", || {
        current::with_state(|s| snapshot::fds(s, None)).ok_or_else(no_state)
    });
    engine.register_fn("fds", |filter: &str| -> RResult<Array> {
        let f = compiled(filter)?;
        current::with_state(|s| snapshot::fds(s, f.as_ref())).ok_or_else(no_state)
    });
    engine.register_fn("machine", snapshot::machine);
}

/// A new, empty histogram handle (for tests and the sink).
pub fn new_hist() -> HistH {
    HistH(Rc::new(RefCell::new(HistData::default())))
}
