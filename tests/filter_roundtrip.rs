//! The filter language end to end: parse errors, print/parse round trips on random trees,
//! garbage that must not panic, evaluation semantics, and kernel pushdown soundness.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use tpdig::filter::compile::parse_num;
use tpdig::filter::pushdown::{KValue, pushdown_expr};
use tpdig::filter::{
    ArgStyle, Expr, FieldCatalog, FieldInfo, FieldRef, FieldType, FieldValues, KernelField,
    KernelFields, KernelKind, Lit, Op, Operand, Value, compile, event_types, parse, pushdown,
};

#[derive(Clone, Copy, PartialEq)]
enum Arg {
    No,
    Optional,
    Required,
}

const FIELDS: &[(&str, FieldType, Arg)] = &[
    ("proc.name", FieldType::Str, Arg::No),
    ("proc.pid", FieldType::Int, Arg::No),
    ("proc.args", FieldType::Str, Arg::No),
    ("proc.aname", FieldType::Str, Arg::Optional),
    ("thread.tid", FieldType::Int, Arg::No),
    ("evt.type", FieldType::Str, Arg::No),
    ("evt.type.is", FieldType::UInt, Arg::Required),
    ("evt.dir", FieldType::Str, Arg::No),
    ("evt.failed", FieldType::Bool, Arg::No),
    ("evt.res", FieldType::Str, Arg::No),
    ("evt.arg", FieldType::Str, Arg::Required),
    ("evt.rawarg", FieldType::Str, Arg::Required),
    ("evt.latency", FieldType::Time, Arg::No),
    ("evt.cpu", FieldType::UInt, Arg::No),
    ("fd.name", FieldType::Path, Arg::No),
    ("fd.num", FieldType::Fd, Arg::No),
    ("fd.sip", FieldType::Ip, Arg::No),
    ("fd.cip", FieldType::Ip, Arg::No),
    ("fd.cip.name", FieldType::Str, Arg::No),
    ("fd.net", FieldType::Net, Arg::No),
    ("fd.sport", FieldType::Port, Arg::No),
];

struct TestCatalog;

impl FieldCatalog for TestCatalog {
    fn lookup(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo, String> {
        let (i, &(_, ty, mode)) = FIELDS
            .iter()
            .enumerate()
            .find(|(_, f)| f.0 == name)
            .ok_or_else(|| format!("unknown field '{name}'"))?;
        match (mode, arg) {
            (Arg::No, Some(_)) => return Err(format!("field '{name}' takes no argument")),
            (Arg::Optional, Some(a)) if a.parse::<u32>().is_err() => {
                return Err(format!(
                    "field '{name}' needs a numeric argument, got '{a}'"
                ));
            }
            _ => {}
        }
        Ok(FieldInfo {
            id: i as u32,
            ty,
            needs_arg: mode == Arg::Required,
        })
    }

    fn names(&self) -> Vec<&str> {
        FIELDS.iter().map(|f| f.0).collect()
    }
}

fn p(s: &str) -> Expr {
    parse(s, &TestCatalog).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> (usize, String) {
    let e = parse(s, &TestCatalog).expect_err(s);
    (e.column, e.message)
}

// ---------------------------------------------------------------- parse errors

#[test]
fn unknown_field_suggests_nearest_name() {
    assert_eq!(
        err("proc.nme = cat"),
        (
            1,
            "unknown field 'proc.nme' at column 1 (did you mean proc.name?)".into()
        )
    );
    let (c, m) = err("proc.name = cat and zzzzzzzzzz exists");
    assert_eq!(c, 21);
    assert!(!m.contains("did you mean"), "{m}");
}

#[test]
fn error_messages_name_columns() {
    assert_eq!(
        err("proc.name = "),
        (
            13,
            "expected a value after '=' at column 13, found end of filter".into()
        )
    );
    assert_eq!(err("(proc.name = cat").0, 17);
    assert!(err("(proc.name = cat").1.contains("missing ')'"));
    assert_eq!(err("proc.name = cat)").0, 16);
    assert!(err("proc.name = cat)").1.starts_with("unbalanced ')'"));
    assert_eq!(
        err("proc.name like cat"),
        (11, "unknown operator 'like' at column 11".into())
    );
    assert_eq!(err("proc.name").0, 10);
    assert_eq!(err("").1, "empty filter");
    assert!(err("evt.arg = 1").1.contains("requires an argument"));
    assert!(err("proc.name[1] = x").1.contains("takes no argument"));
    assert!(err("evt.type in open").1.contains("expected '('"));
    assert!(err("evt.type in (open").1.contains("missing ')'"));
    assert!(
        err("proc.name = cat proc.pid = 1")
            .1
            .contains("expected 'and', 'or'")
    );
    assert!(err("proc.name = 'cat").1.contains("unterminated"));
    assert_eq!(err("and proc.name = x").0, 1);
}

// ---------------------------------------------------------------- parse shapes

#[test]
fn precedence_is_not_and_or() {
    let e = p("not proc.name = a and proc.pid = 1 or thread.tid = 2");
    let Expr::Or(l, _) = &e else { panic!("{e:?}") };
    let Expr::And(n, _) = &**l else {
        panic!("{l:?}")
    };
    assert!(matches!(**n, Expr::Not(_)));
    assert_eq!(
        e.to_string(),
        "(not proc.name = a and proc.pid = 1) or thread.tid = 2"
    );
    assert_eq!(
        p("proc.name = a and (proc.pid = 1 or thread.tid = 2)").to_string(),
        "proc.name = a and (proc.pid = 1 or thread.tid = 2)"
    );
    assert_eq!(
        p("proc.name=a and (proc.pid=1 and thread.tid=2)").to_string(),
        "proc.name = a and (proc.pid = 1 and thread.tid = 2)"
    );
}

#[test]
fn field_arguments_resolve_through_the_catalog() {
    let Expr::Check(c) = p("evt.arg.fd = 3") else {
        panic!()
    };
    assert_eq!(
        (c.field.name.as_str(), c.field.arg.as_deref()),
        ("evt.arg", Some("fd"))
    );
    assert_eq!(c.field.style, ArgStyle::Dot);
    let Expr::Check(c) = p("evt.arg[0] = 3") else {
        panic!()
    };
    assert_eq!(
        (c.field.name.as_str(), c.field.arg.as_deref()),
        ("evt.arg", Some("0"))
    );
    let Expr::Check(c) = p("evt.type.is.open = 1") else {
        panic!()
    };
    assert_eq!(
        (c.field.name.as_str(), c.field.arg.as_deref()),
        ("evt.type.is", Some("open"))
    );
    // A longer name wins over a shorter name plus argument.
    let Expr::Check(c) = p("fd.cip.name = x") else {
        panic!()
    };
    assert_eq!((c.field.name.as_str(), c.field.arg), ("fd.cip.name", None));
    let Expr::Check(c) = p("proc.aname[2] = bash") else {
        panic!()
    };
    assert_eq!(c.field.arg.as_deref(), Some("2"));
    assert_eq!(p("evt.rawarg.res < 0").to_string(), "evt.rawarg.res < 0");
}

#[test]
fn values_lists_and_quoting() {
    let Expr::Check(c) = p("fd.name in (/etc/passwd, '/a b' \"c\\\"d\")") else {
        panic!()
    };
    assert_eq!(c.op, Op::In);
    assert_eq!(
        c.value,
        Operand::List(vec![
            Lit::new("/etc/passwd"),
            Lit::new("/a b"),
            Lit::new("c\"d")
        ])
    );
    assert_eq!(
        Expr::Check(c).to_string(),
        r#"fd.name in (/etc/passwd, "/a b", "c\"d")"#
    );
    assert_eq!(p("fd.name exists").to_string(), "fd.name exists");
    assert_eq!(p("fd.name == ''").to_string(), "fd.name = \"\"");
    assert_eq!(p("evt.type in ()").to_string(), "evt.type in ()");
    assert_eq!(p("fd.net=127.0.0.1/8").to_string(), "fd.net = 127.0.0.1/8");
    assert_eq!(p("proc.name=and").to_string(), "proc.name = \"and\"");
}

// ---------------------------------------------------------------- random round trips

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const ALL_OPS: &[Op] = &[
    Op::Eq,
    Op::Ne,
    Op::Lt,
    Op::Le,
    Op::Gt,
    Op::Ge,
    Op::Contains,
    Op::IContains,
    Op::StartsWith,
    Op::EndsWith,
    Op::Glob,
    Op::In,
    Op::Intersects,
    Op::PMatch,
    Op::Exists,
];

fn field(name: &str, arg: Option<&str>, style: ArgStyle) -> FieldRef {
    FieldRef {
        name: name.into(),
        arg: arg.map(Into::into),
        style,
        info: TestCatalog.lookup(name, arg).unwrap(),
    }
}

fn random_text(r: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "cat",
        "/etc/passwd",
        "a b",
        "\"",
        "'",
        "\\",
        "(",
        ")",
        ",",
        "=",
        "!",
        "!=",
        "<",
        ">",
        "and",
        "or",
        "not",
        "in",
        "é",
        "127.0.0.1/8",
        "*",
        "?",
        "[a-z]",
        "-1",
        "0x10",
        "\t",
        "",
    ];
    let n = r.below(4);
    (0..n).map(|_| *r.pick(PIECES)).collect()
}

fn random_field(r: &mut Rng) -> FieldRef {
    match r.below(5) {
        0 => field(
            "evt.arg",
            Some(*r.pick(&["fd", "name", "res"])),
            ArgStyle::Dot,
        ),
        1 => field("evt.arg", Some(*r.pick(&["0", "1"])), ArgStyle::Bracket),
        2 => field("proc.aname", Some(*r.pick(&["1", "22"])), ArgStyle::Bracket),
        3 => field("evt.type.is", Some("open"), ArgStyle::Dot),
        _ => loop {
            let &(name, _, mode) = r.pick(FIELDS);
            if mode != Arg::Required {
                break field(name, None, ArgStyle::Bracket);
            }
        },
    }
}

fn random_expr(r: &mut Rng, depth: u32) -> Expr {
    let b = |e: Expr| Box::new(e);
    match if depth == 0 { 3 } else { r.below(5) } {
        0 => Expr::And(b(random_expr(r, depth - 1)), b(random_expr(r, depth - 1))),
        1 => Expr::Or(b(random_expr(r, depth - 1)), b(random_expr(r, depth - 1))),
        2 => Expr::Not(b(random_expr(r, depth - 1))),
        _ => {
            let op = *r.pick(ALL_OPS);
            let value = if op == Op::Exists {
                Operand::None
            } else if op.takes_list() {
                Operand::List((0..r.below(4)).map(|_| Lit::new(random_text(r))).collect())
            } else {
                Operand::One(Lit::new(random_text(r)))
            };
            Expr::Check(tpdig::filter::ast::Check {
                field: random_field(r),
                op,
                value,
                column: 0,
            })
        }
    }
}

#[test]
fn random_trees_print_and_parse_back() {
    let mut r = Rng(0x5eed_1234_abcd_0001);
    for i in 0..5000 {
        let e = random_expr(&mut r, 4);
        let s = e.to_string();
        let back = parse(&s, &TestCatalog).unwrap_or_else(|err| panic!("#{i} {s:?}: {err}"));
        assert_eq!(back, e, "#{i} {s:?}");
        assert_eq!(back.to_string(), s);
    }
}

#[test]
fn garbage_never_panics() {
    const PIECES: &[&str] = &[
        "proc.name",
        "evt.arg",
        "evt.arg.",
        "proc.aname[",
        "]",
        "[",
        "fd.net",
        "evt.type.is.",
        " ",
        "(",
        ")",
        ",",
        "=",
        "==",
        "!",
        "!=",
        "<",
        "<=",
        ">",
        "in",
        "exists",
        "not",
        "and",
        "or",
        "\"",
        "'",
        "\\",
        "x",
        "1",
        "0x",
        "é",
        "contains",
        "pmatch",
        "1.2.3.4/99",
        "\0",
    ];
    let mut r = Rng(42);
    let mut parsed = 0;
    for _ in 0..30000 {
        let n = 1 + r.below(10);
        let s: String = (0..n).map(|_| *r.pick(PIECES)).collect();
        if let Ok(e) = parse(&s, &TestCatalog) {
            parsed += 1;
            let again = parse(&e.to_string(), &TestCatalog).expect("printed form parses");
            assert_eq!(again, e, "{s:?}");
            let _ = compile(&e);
        }
        // Raw bytes too.
        let raw: String = (0..r.below(12))
            .map(|_| char::from_u32(r.below(0x300) as u32).unwrap_or('?'))
            .collect();
        let _ = parse(&raw, &TestCatalog);
    }
    assert!(parsed > 100, "generator too weak: {parsed}");
}

// ---------------------------------------------------------------- evaluation

#[derive(Default)]
struct Ev(HashMap<(String, Option<String>), Value<'static>>);

impl Ev {
    fn with(mut self, f: &str, v: Value<'static>) -> Self {
        let (name, arg) = match f.split_once('[') {
            Some((n, a)) => (n.to_string(), Some(a.trim_end_matches(']').to_string())),
            None => (f.to_string(), None),
        };
        self.0.insert((name, arg), v);
        self
    }
}

impl FieldValues for Ev {
    fn value(&self, field: &FieldRef) -> Option<Value<'_>> {
        self.0
            .get(&(field.name.clone(), field.arg.clone()))
            .cloned()
    }
}

fn s(v: &'static str) -> Value<'static> {
    Value::Str(Cow::Borrowed(v))
}

fn ip(v: &str) -> Value<'static> {
    Value::Ip(v.parse::<IpAddr>().unwrap())
}

fn ev() -> Ev {
    Ev::default()
        .with("proc.name", s("cat"))
        .with("proc.pid", Value::Num(100))
        .with("thread.tid", Value::Num(101))
        .with("evt.type", s("openat"))
        .with("evt.failed", Value::Bool(false))
        .with("fd.name", s("/etc/passwd"))
        .with("fd.num", Value::Num(3))
        .with("fd.sip", ip("10.1.2.3"))
        .with("fd.net", ip("10.1.2.3"))
        .with("fd.sport", Value::UNum(443))
        .with("evt.latency", Value::UNum(1500))
        .with("evt.res", s("ENOENT"))
        .with("evt.rawarg[res]", Value::Num(-2))
        .with("evt.arg[flags]", Value::Bytes(b"O_RDONLY|O_CLOEXEC"))
        .with(
            "proc.aname",
            Value::List(vec![s("bash"), s("sshd"), s("systemd")]),
        )
}

fn m(f: &str) -> bool {
    compile(&p(f))
        .unwrap_or_else(|e| panic!("{f}: {e}"))
        .matches(&ev())
}

#[test]
fn semantics_match_sysdig() {
    let yes = [
        "proc.name = cat",
        "proc.name == cat and proc.pid = 100",
        "proc.pid != 5",
        "proc.pid >= 100 and proc.pid < 101 and proc.pid > 99 and proc.pid <= 0x64",
        "fd.name contains pass",
        "fd.name icontains PASS",
        "fd.name startswith /etc and fd.name endswith wd",
        "fd.name glob '/etc/*'",
        "fd.name pmatch (/usr, /etc/)",
        "fd.name pmatch (/etc/passwd)",
        "evt.type in (open, openat)",
        "evt.failed = false and evt.failed != true and evt.failed = 0",
        "fd.sip = 10.1.2.3",
        "fd.sip in (1.1.1.1, 10.0.0.0/8)",
        "fd.net = 10.0.0.0/8",
        "fd.net != 192.168.0.0/16",
        "fd.sport = 443 and fd.num in (1 2 3)",
        "evt.latency > 1000",
        "evt.res = ENOENT",
        "evt.rawarg.res < 0",
        "evt.rawarg.res = -2",
        "evt.arg.flags contains O_CLOEXEC",
        "proc.aname = sshd",
        "proc.aname intersects (sshd, nope)",
        "proc.aname in (bash, sshd, systemd, init)",
        "fd.name exists",
        "not fd.cip exists",
        "not fd.cip = 1.2.3.4",
        "not proc.name = bash",
        "proc.name = bash or proc.name = cat",
    ];
    for f in yes {
        assert!(m(f), "should match: {f}");
    }
    let no = [
        "proc.name = Cat",
        "proc.name contains CAT",
        "fd.name pmatch (/et)",
        "fd.name glob '/etc/?'",
        "fd.cip != 1.2.3.4",
        "fd.cip exists",
        "fd.net = 192.168.0.0/16",
        "evt.type in ()",
        "proc.aname in (bash, sshd)",
        "proc.aname intersects (init)",
        "proc.pid > 100",
        "evt.failed = true",
        "not proc.name = cat",
        "proc.name = cat and proc.pid = 1",
    ];
    for f in no {
        assert!(!m(f), "should not match: {f}");
    }
}

#[test]
fn bad_constants_fail_at_compile_time_with_columns() {
    let e = compile(&p("proc.name = cat and proc.pid = abc")).unwrap_err();
    assert_eq!(e.column, 32);
    assert!(e.message.contains("'abc' is not a number"), "{}", e.message);
    let e = compile(&p("fd.net = 10.0.0.0/40")).unwrap_err();
    assert_eq!(e.column, 10);
    let e = compile(&p("evt.failed = maybe")).unwrap_err();
    assert!(e.message.contains("boolean"));
    let e = compile(&p("proc.pid contains 1")).unwrap_err();
    assert!(e.message.contains("not supported"), "{}", e.message);
    assert!(compile(&p("fd.sip < 1.2.3.4")).is_err());
    assert!(compile(&p("fd.num in (1, x)")).is_err());
}

// ---------------------------------------------------------------- pushdown

/// raw_syscalls-like tracepoint: common_pid is the thread id, `id` the syscall number; the
/// `filename` string field is hypothetical, to exercise string pushdown.
struct Kernel;

fn syscall_nr(name: &str) -> Option<i64> {
    Some(match name {
        "read" => 0,
        "open" => 2,
        "close" => 3,
        "openat" => 257,
        _ => return None,
    })
}

impl KernelFields for Kernel {
    fn kernel_field(&self, f: &FieldRef) -> Option<KernelField> {
        let (name, kind) = match (f.name.as_str(), &f.arg) {
            ("thread.tid", None) => ("common_pid", KernelKind::Int),
            ("evt.type", None) => ("id", KernelKind::Int),
            ("fd.name", None) => ("filename", KernelKind::Str),
            _ => return None,
        };
        Some(KernelField {
            name: name.into(),
            kind,
        })
    }

    fn kernel_value(&self, f: &FieldRef, kf: &KernelField, v: &str) -> Option<KValue> {
        if f.name == "evt.type" {
            return syscall_nr(v).map(KValue::Int);
        }
        match kf.kind {
            KernelKind::Int => parse_num(v).map(|n| KValue::Int(n as i64)),
            KernelKind::Str => Some(KValue::Str(v.into())),
        }
    }
}

fn push(f: &str) -> Option<String> {
    pushdown(&p(f), &Kernel)
}

#[test]
fn pushdown_examples() {
    assert_eq!(
        push("thread.tid = 123 and evt.type in (openat, read)").as_deref(),
        Some("common_pid == 123 && (id == 257 || id == 0)")
    );
    // Conjuncts the kernel cannot see are dropped.
    assert_eq!(
        push("proc.name = cat and thread.tid != 7").as_deref(),
        Some("common_pid != 7")
    );
    // A disjunct the kernel cannot see makes the whole `or` unconstrained...
    assert_eq!(push("proc.name = cat or thread.tid = 7"), None);
    // ...but each disjunct may itself be approximated.
    assert_eq!(
        push("(proc.name = cat and thread.tid = 1) or thread.tid = 2").as_deref(),
        Some("common_pid == 1 || common_pid == 2")
    );
    // `not` only over exact subtrees, pushed to the leaves.
    assert_eq!(
        push("not (thread.tid = 1 or evt.type = close)").as_deref(),
        Some("common_pid != 1 && id != 3")
    );
    assert_eq!(push("not (thread.tid = 1 and proc.name = cat)"), None);
    assert_eq!(
        push("thread.tid >= 10 and not thread.tid > 20").as_deref(),
        Some("common_pid >= 10 && common_pid <= 20")
    );
    // proc.pid is not common_pid; unknown syscall names are not guessed.
    assert_eq!(push("proc.pid = 5"), None);
    assert_eq!(push("evt.type = bogus"), None);
    assert_eq!(push("thread.tid exists"), None);
    // Strings become ftrace globs; patterns with characters ftrace cannot express stay home.
    assert_eq!(
        push("fd.name startswith /etc and fd.name contains pass").as_deref(),
        Some("filename ~ \"/etc*\" && filename ~ \"*pass*\"")
    );
    assert_eq!(
        push("not fd.name endswith .so").as_deref(),
        Some("!(filename ~ \"*.so\")")
    );
    assert_eq!(
        push("fd.name pmatch (/etc)").as_deref(),
        Some("filename == \"/etc\" || filename ~ \"/etc/*\"")
    );
    assert_eq!(push("fd.name contains 'a*b'"), None);
    assert_eq!(push("fd.name = 'say \"hi\"'"), None);
    assert_eq!(push("fd.name icontains etc"), None);
    assert_eq!(push("fd.name contains ''"), None);
}

/// A kernel that (wrongly) offers string mirrors of every field: the pushdown must still
/// refuse fields whose user-space comparison is not string equality.
struct StringlyKernel;

impl KernelFields for StringlyKernel {
    fn kernel_field(&self, f: &FieldRef) -> Option<KernelField> {
        Some(KernelField {
            name: f.name.replace('.', "_"),
            kind: KernelKind::Str,
        })
    }
}

#[test]
fn pushdown_refuses_cidr_and_numeric_fields_as_strings() {
    assert_eq!(pushdown(&p("fd.sip = 10.0.0.0/8"), &StringlyKernel), None);
    assert_eq!(pushdown(&p("fd.net = 10.0.0.0/8"), &StringlyKernel), None);
    assert_eq!(pushdown(&p("proc.pid = 0x10"), &StringlyKernel), None);
    assert_eq!(
        pushdown(&p("proc.name = cat"), &StringlyKernel).as_deref(),
        Some("proc_name == \"cat\"")
    );
}

#[test]
fn event_types_listing() {
    let set = |f: &str| event_types(&p(f)).map(|s| s.into_iter().collect::<Vec<_>>());
    assert_eq!(set("evt.type = open"), Some(vec!["open".to_string()]));
    assert_eq!(
        set("evt.type in (open, openat, read) and (evt.type = read or evt.type = openat)"),
        Some(vec!["openat".to_string(), "read".to_string()])
    );
    assert_eq!(
        set("proc.name = cat and evt.type = close"),
        Some(vec!["close".to_string()])
    );
    assert_eq!(set("evt.type = open or proc.name = cat"), None);
    assert_eq!(set("not evt.type = open"), None);
    assert_eq!(set("proc.name = cat"), None);
}

fn random_check_text(r: &mut Rng) -> String {
    let &(name, ty, _) = loop {
        let f = r.pick(FIELDS);
        if matches!(
            f.0,
            "thread.tid" | "evt.type" | "fd.name" | "proc.name" | "evt.failed" | "fd.num"
        ) {
            break f;
        }
    };
    let val = |r: &mut Rng| -> String {
        match name {
            "thread.tid" | "fd.num" => r.below(6).to_string(),
            "evt.type" => r
                .pick(&["open", "openat", "read", "close", "bogus"])
                .to_string(),
            "fd.name" => r
                .pick(&["/etc", "/etc/passwd", "/etcx", "/tmp/x", "etc", "pass"])
                .to_string(),
            "proc.name" => r.pick(&["cat", "bash"]).to_string(),
            _ => r.pick(&["true", "false"]).to_string(),
        }
    };
    let ops: &[&str] = match ty {
        FieldType::Bool => &["=", "!=", "in", "exists"],
        t if t.is_numeric() => &["=", "!=", "<", "<=", ">", ">=", "in", "exists"],
        _ => &[
            "=",
            "!=",
            "in",
            "intersects",
            "exists",
            "contains",
            "startswith",
            "endswith",
            "glob",
            "pmatch",
            "icontains",
        ],
    };
    let op = *r.pick(ops);
    match op {
        "exists" => format!("{name} exists"),
        "in" | "intersects" | "pmatch" => {
            let vs: Vec<String> = (0..r.below(3)).map(|_| val(r)).collect();
            format!("{name} {op} ({})", vs.join(", "))
        }
        "glob" => format!(
            "{name} glob '{}'",
            r.pick(&["/etc*", "*pass*", "/e?c", "*"])
        ),
        _ => format!("{name} {op} {}", val(r)),
    }
}

fn random_filter_text(r: &mut Rng, depth: u32) -> String {
    match if depth == 0 { 3 } else { r.below(5) } {
        0 => format!(
            "({} and {})",
            random_filter_text(r, depth - 1),
            random_filter_text(r, depth - 1)
        ),
        1 => format!(
            "({} or {})",
            random_filter_text(r, depth - 1),
            random_filter_text(r, depth - 1)
        ),
        2 => format!("not {}", random_filter_text(r, depth - 1)),
        _ => random_check_text(r),
    }
}

#[test]
fn pushed_filter_is_implied_by_the_full_filter() {
    let mut r = Rng(7);
    let (mut pushed, mut checked) = (0, 0);
    for _ in 0..3000 {
        let text = random_filter_text(&mut r, 3);
        let e = p(&text);
        let filter = compile(&e).unwrap_or_else(|err| panic!("{text}: {err}"));
        let Some(k) = pushdown_expr(&e, &Kernel) else {
            continue;
        };
        pushed += 1;
        for _ in 0..40 {
            // The kernel-mapped fields are always present (the KernelFields contract).
            let tid = r.below(6) as i64;
            let ty = *r.pick(&["open", "openat", "read", "close", "bogus"]);
            let name = *r.pick(&["/etc", "/etc/passwd", "/etcx", "/tmp/x", "pass", "/e/c"]);
            let mut ev = Ev::default()
                .with("thread.tid", Value::Num(tid))
                .with("evt.type", s(ty))
                .with("fd.name", s(name));
            if r.below(2) == 0 {
                ev = ev.with("proc.name", s(["cat", "bash"][r.below(2)]));
            }
            if r.below(2) == 0 {
                ev = ev.with("evt.failed", Value::Bool(r.below(2) == 0));
            }
            if r.below(2) == 0 {
                ev = ev.with("fd.num", Value::Num(r.below(6) as i64));
            }
            if filter.matches(&ev) {
                checked += 1;
                let kernel = |f: &str| match f {
                    "common_pid" => Some(KValue::Int(tid)),
                    // An unknown syscall still has some number, just not one we name.
                    "id" => Some(KValue::Int(syscall_nr(ty).unwrap_or(999))),
                    "filename" => Some(KValue::Str(name.into())),
                    _ => None,
                };
                assert!(
                    k.eval(&kernel),
                    "{text}\n  kernel: {k}\n  tid={tid} type={ty} name={name}"
                );
            }
        }
    }
    assert!(
        pushed > 300 && checked > 1000,
        "pushed={pushed} checked={checked}"
    );
}

// ---------------------------------------------------------------- speed

struct FastEv {
    name: &'static str,
    tid: i64,
}

impl FieldValues for FastEv {
    fn value(&self, f: &FieldRef) -> Option<Value<'_>> {
        match f.info.id {
            0 => Some(Value::Str(Cow::Borrowed(self.name))),
            4 => Some(Value::Num(self.tid)),
            _ => None,
        }
    }
}

#[test]
#[ignore = "benchmark; run with --release -- --ignored --nocapture"]
fn bench_two_clause_filter() {
    let f = compile(&p("proc.name = cat and thread.tid > 100")).unwrap();
    let evs = [
        FastEv {
            name: "cat",
            tid: 200,
        },
        FastEv {
            name: "bash",
            tid: 200,
        },
        FastEv {
            name: "cat",
            tid: 5,
        },
    ];
    let n = 10_000_000u64;
    let start = std::time::Instant::now();
    let mut hits = 0u64;
    for i in 0..n {
        hits += u64::from(f.matches(std::hint::black_box(&evs[(i % 3) as usize])));
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{:.1} M evaluations/s ({hits} hits)", n as f64 / secs / 1e6);
    assert_eq!(hits, n / 3 + u64::from(!n.is_multiple_of(3)));
}

#[test]
fn a_bare_direction_sign_is_a_value() {
    let cat = tpdig::fields::Catalog;
    for text in ["evt.dir=<", "evt.dir = >", "evt.dir=< and evt.type=read"] {
        let e = tpdig::filter::parse(text, &cat).unwrap_or_else(|e| panic!("{text}: {e}"));
        let again = tpdig::filter::parse(&e.to_string(), &cat).unwrap();
        assert_eq!(e, again);
    }
}
