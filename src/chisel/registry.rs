//! Finding chisels and reading what they say about themselves.
//!
//! Search order (first match wins): the stock chisels built into the binary (from
//! `scripts/`), then `./chisels`, `~/.chisels`, and the directories in `$TPDIG_CHISEL_DIR`
//! (colon-separated). A name containing `/` or ending in `.rhai` is a path.
//!
//! A chisel describes itself with top-level constants, read from the compiled script
//! without running it (listing chisels must not execute them):
//! `DESCRIPTION`, `SHORT_DESCRIPTION`, `CATEGORY` (strings) and `ARGS`, an array of maps
//! `#{name, description, type: "int"|"string"|"ipv4"|"filter", optional: bool}`.
//! `STACKS` says the chisel reads call stacks, so running it turns `-k` on: `true` for the
//! events the filters select, or a filter text naming the events that need them
//! (`"evt.type=switch"`: only the scheduler's switches pay for a stack walk).

use super::error::{ChiselError, ChiselErrorKind};
use rhai::{AST, Dynamic, Engine};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

macro_rules! builtins {
    ($($name:literal),* $(,)?) => {
        /// The stock chisels: (name, script text).
        pub static BUILTIN: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../scripts/", $name, ".rhai"))),)*
        ];
    };
}

builtins!(
    "around",
    "bottlenecks",
    "echo_fds",
    "fdbytes_by",
    "fdcount_by",
    "fdtime_by",
    "fileslower",
    "iobytes",
    "iobytes_file",
    "iobytes_net",
    "list_login_shells",
    "lsof",
    "netlower",
    "netstat",
    "offcpu",
    "proc_exec_time",
    "ps",
    "scallslower",
    "spectrogram",
    "spy_file",
    "spy_ip",
    "spy_port",
    "spy_users",
    "stacks",
    "stderr",
    "stdin",
    "stdout",
    "topconns",
    "topfiles_bytes",
    "topfiles_errors",
    "topfiles_time",
    "topports_server",
    "topprocs_cpu",
    "topprocs_errors",
    "topprocs_file",
    "topprocs_net",
    "topscalls",
    "topscalls_time",
);

/// A chisel's script and where it came from.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    /// For messages: the path, or `builtin:NAME.rhai`.
    pub file: String,
    pub text: String,
}

impl Source {
    /// A script given as text (tests, embedding).
    pub fn from_text(name: &str, text: &str) -> Source {
        Source {
            name: name.to_string(),
            file: format!("{name}.rhai"),
            text: text.to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    Int,
    String,
    Ipv4,
    Filter,
}

impl ArgType {
    pub fn name(self) -> &'static str {
        match self {
            ArgType::Int => "int",
            ArgType::String => "string",
            ArgType::Ipv4 => "ipv4",
            ArgType::Filter => "filter",
        }
    }

    fn parse(s: &str) -> Option<ArgType> {
        Some(match s {
            "int" => ArgType::Int,
            "string" => ArgType::String,
            "ipv4" => ArgType::Ipv4,
            "filter" => ArgType::Filter,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgSpec {
    pub name: String,
    pub description: String,
    pub ty: ArgType,
    pub optional: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChiselSpec {
    pub name: String,
    pub category: String,
    pub short_desc: String,
    pub desc: String,
    pub args: Vec<ArgSpec>,
    /// Where the script was found.
    pub file: String,
    /// Whether (and on which events) the chisel needs call stacks.
    pub stacks: StackNeed,
}

/// A chisel's `STACKS` declaration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StackNeed {
    /// No stacks (no `STACKS`, or `false`).
    #[default]
    None,
    /// `true`: on the events the user's and the chisel's filters select.
    Selected,
    /// A filter text: on the events of the types this filter selects.
    Events(String),
}

fn stack_need(consts: &[(String, Dynamic)], file: &str) -> Result<StackNeed, ChiselError> {
    let Some((_, v)) = consts.iter().find(|c| c.0 == "STACKS") else {
        return Ok(StackNeed::None);
    };
    if let Ok(b) = v.as_bool() {
        return Ok(if b {
            StackNeed::Selected
        } else {
            StackNeed::None
        });
    }
    match v.clone().into_string() {
        Ok(t) if !t.trim().is_empty() => Ok(StackNeed::Events(t)),
        _ => Err(ChiselError::new(
            ChiselErrorKind::Syntax,
            file,
            "STACKS: must be true, false or a filter text".to_string(),
        )),
    }
}

/// The directories searched after the built-ins, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut v = vec![PathBuf::from("./chisels")];
    if let Some(home) = std::env::var_os("HOME") {
        v.push(Path::new(&home).join(".chisels"));
    }
    if let Some(dirs) = std::env::var_os("TPDIG_CHISEL_DIR") {
        v.extend(std::env::split_paths(&dirs).filter(|p| !p.as_os_str().is_empty()));
    }
    v
}

fn read(path: &Path, name: &str) -> Result<Source, ChiselError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ChiselError::new(ChiselErrorKind::Io, &file, e.to_string()))?;
    Ok(Source {
        name: name.to_string(),
        file,
        text,
    })
}

fn builtin(name: &str) -> Option<Source> {
    BUILTIN.iter().find(|b| b.0 == name).map(|(n, t)| Source {
        name: n.to_string(),
        file: format!("builtin:{n}.rhai"),
        text: t.to_string(),
    })
}

/// Finds a chisel by name or path.
pub fn find(name_or_path: &str) -> Result<Source, ChiselError> {
    if name_or_path.contains('/') || name_or_path.ends_with(".rhai") {
        let p = Path::new(name_or_path);
        let name = p.file_stem().map_or(name_or_path.to_string(), |s| {
            s.to_string_lossy().into_owned()
        });
        return read(p, &name);
    }
    if let Some(s) = builtin(name_or_path) {
        return Ok(s);
    }
    for d in search_dirs() {
        let p = d.join(format!("{name_or_path}.rhai"));
        if p.is_file() {
            return read(&p, name_or_path);
        }
    }
    Err(ChiselError::new(
        ChiselErrorKind::NotFound,
        name_or_path,
        "no such chisel (tpdig -cl lists them; a script path must end in .rhai)",
    ))
}

fn text_const(consts: &[(String, Dynamic)], name: &str) -> Option<String> {
    consts
        .iter()
        .find(|c| c.0 == name)
        .and_then(|c| c.1.clone().into_string().ok())
}

fn parse_args(v: &Dynamic, file: &str) -> Result<Vec<ArgSpec>, ChiselError> {
    let bad = |m: String| ChiselError::new(ChiselErrorKind::Syntax, file, format!("ARGS: {m}"));
    let Some(arr) = v.clone().try_cast::<rhai::Array>() else {
        return Err(bad("must be an array of maps".into()));
    };
    let mut out = Vec::new();
    for (i, item) in arr.into_iter().enumerate() {
        let Some(m) = item.try_cast::<rhai::Map>() else {
            return Err(bad(format!("entry {i} is not a map")));
        };
        let s = |k: &str| m.get(k).and_then(|d| d.clone().into_string().ok());
        let name = s("name").ok_or_else(|| bad(format!("entry {i} has no name")))?;
        let ty_text = s("type").unwrap_or_else(|| "string".into());
        let ty = ArgType::parse(&ty_text).ok_or_else(|| {
            bad(format!(
                "'{name}': unknown type '{ty_text}' (int, string, ipv4, filter)"
            ))
        })?;
        out.push(ArgSpec {
            name,
            description: s("description").unwrap_or_default(),
            ty,
            optional: m
                .get("optional")
                .and_then(|d| d.as_bool().ok())
                .unwrap_or(false),
        });
    }
    Ok(out)
}

/// An engine with the limits every chisel gets (the debug-build defaults of Rhai's
/// expression depths are too small for ordinary scripts).
pub fn new_engine() -> Engine {
    let mut e = Engine::new();
    e.set_max_expr_depths(256, 128);
    e
}

/// Compiles a script and reads its metadata (without running it).
pub fn spec_of(source: &Source) -> Result<(ChiselSpec, AST), ChiselError> {
    let engine = new_engine();
    let mut ast = engine.compile(&source.text).map_err(|e| {
        let pos = e.1;
        let mut err = ChiselError::new(ChiselErrorKind::Syntax, &source.file, e.0.to_string());
        if let Some(l) = pos.line() {
            err = err.at(l, pos.position().unwrap_or(0));
        }
        err
    })?;
    ast.set_source(source.file.as_str());
    let consts: Vec<(String, Dynamic)> = ast
        .iter_literal_variables(true, false)
        .map(|(n, _, v)| (n.to_string(), v))
        .collect();
    let args = match consts.iter().find(|c| c.0 == "ARGS") {
        Some((_, v)) => parse_args(v, &source.file)?,
        None => Vec::new(),
    };
    let short = text_const(&consts, "SHORT_DESCRIPTION").unwrap_or_default();
    let stacks = stack_need(&consts, &source.file)?;
    let spec = ChiselSpec {
        name: source.name.clone(),
        category: text_const(&consts, "CATEGORY").unwrap_or_else(|| "Misc".into()),
        desc: text_const(&consts, "DESCRIPTION").unwrap_or_else(|| short.clone()),
        short_desc: short,
        args,
        file: source.file.clone(),
        stacks,
    };
    Ok((spec, ast))
}

/// Every chisel reachable: built-ins, then the search directories (a name already seen
/// is shadowed). Scripts that do not compile are listed with the error as description.
pub fn list() -> Vec<ChiselSpec> {
    let mut sources: Vec<Source> = BUILTIN.iter().filter_map(|b| builtin(b.0)).collect();
    for d in search_dirs() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rhai"))
            .collect();
        paths.sort();
        for p in paths {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if sources.iter().any(|s| s.name == name) {
                continue;
            }
            if let Ok(s) = read(&p, &name) {
                sources.push(s);
            }
        }
    }
    sources
        .iter()
        .map(|s| match spec_of(s) {
            Ok((spec, _)) => spec,
            Err(e) => ChiselSpec {
                name: s.name.clone(),
                category: "Misc".into(),
                short_desc: format!("(does not load: {e})"),
                desc: e.to_string(),
                args: Vec::new(),
                file: s.file.clone(),
                stacks: StackNeed::None,
            },
        })
        .collect()
}

/// Writes `text` wrapped at `width` columns, every line after the first indented by
/// `indent` spaces (the first line continues after whatever precedes it).
fn wrap(out: &mut dyn Write, text: &str, indent: usize, width: usize) -> io::Result<()> {
    let mut col = indent;
    let mut first = true;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if !first && col + 1 + n > width {
            write!(out, "\n{}", " ".repeat(indent))?;
            col = indent;
            first = true;
        }
        if !first {
            write!(out, " ")?;
            col += 1;
        }
        write!(out, "{word}")?;
        col += n;
        first = false;
    }
    writeln!(out)
}

/// `-cl`: chisels grouped by category, sorted, as sysdig lists them.
pub fn print_list(specs: &[ChiselSpec], out: &mut dyn Write) -> io::Result<()> {
    let mut cats: Vec<&str> = specs.iter().map(|s| s.category.as_str()).collect();
    cats.sort_unstable();
    cats.dedup();
    for cat in cats {
        writeln!(out, "\nCategory: {cat}")?;
        writeln!(out, "{}", "-".repeat(cat.len() + 10))?;
        let mut in_cat: Vec<&ChiselSpec> = specs.iter().filter(|s| s.category == cat).collect();
        in_cat.sort_by(|a, b| a.name.cmp(&b.name));
        for s in in_cat {
            if s.name.len() > 15 {
                write!(out, "{}\n{}", s.name, " ".repeat(16))?;
            } else {
                write!(out, "{:<16}", s.name)?;
            }
            wrap(out, &s.short_desc, 16, 80)?;
        }
    }
    writeln!(
        out,
        "\nUse the -i flag to get detailed information about a specific chisel"
    )
}

/// `-i NAME`: the chisel's description and arguments.
pub fn print_info(spec: &ChiselSpec, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\nCategory: {}", spec.category)?;
    writeln!(out, "{}", "-".repeat(spec.category.len() + 10))?;
    if spec.name.len() > 15 {
        write!(out, "{}\n{}", spec.name, " ".repeat(16))?;
    } else {
        write!(out, "{:<16}", spec.name)?;
    }
    wrap(out, &spec.short_desc, 16, 80)?;
    writeln!(out)?;
    wrap(out, &spec.desc, 0, 80)?;
    writeln!(out, "Args:")?;
    if spec.args.is_empty() {
        writeln!(out, "(None)")?;
    }
    for a in &spec.args {
        let opt = if a.optional { " (optional)" } else { "" };
        write!(out, "[{}] {}{opt} - ", a.ty.name(), a.name)?;
        wrap(out, &a.description, 16, 80)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_compiles_and_describes_itself() {
        for (name, _) in BUILTIN {
            let src = builtin(name).unwrap();
            let (spec, _) = spec_of(&src).unwrap_or_else(|e| panic!("{e}"));
            assert!(!spec.short_desc.is_empty(), "{name}: no SHORT_DESCRIPTION");
            assert!(!spec.desc.is_empty(), "{name}: no DESCRIPTION");
            assert_ne!(spec.category, "", "{name}");
        }
    }

    #[test]
    fn args_are_read_from_the_script() {
        let (spec, _) = spec_of(&builtin("spy_file").unwrap()).unwrap();
        assert_eq!(spec.category, "I/O");
        assert_eq!(spec.args.len(), 2);
        assert_eq!(spec.args[1].name, "spy_on_file_name");
        assert!(spec.args[1].optional);
        let (spec, _) = spec_of(&builtin("fileslower").unwrap()).unwrap();
        assert_eq!(spec.args[0].ty, ArgType::Int);
        assert!(!spec.args[0].optional);
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let src = Source::from_text("bad", "const X = 1;\nfn on_event(evt) {\n  let = 3;\n}\n");
        let e = spec_of(&src).unwrap_err();
        assert_eq!(e.kind, ChiselErrorKind::Syntax);
        assert_eq!((e.file.as_str(), e.line), ("bad.rhai", 3), "{e}");
        assert!(e.column > 0);
        assert!(e.to_string().starts_with("bad.rhai:3:"), "{e}");
    }

    #[test]
    fn unknown_names_are_not_found_and_listing_groups_by_category() {
        assert_eq!(
            find("no_such_chisel_xyz").unwrap_err().kind,
            ChiselErrorKind::NotFound
        );
        let mut out = Vec::new();
        print_list(&list(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Category: I/O"), "{text}");
        assert!(
            text.contains("topfiles_bytes  Top files by R+W bytes"),
            "{text}"
        );
    }
}
