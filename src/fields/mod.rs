//! Fields: the catalog every consumer shares, and the event view they read from.
//!
//! `catalog` defines the fields; this module adapts it to the filter's traits (name lookup
//! at parse time, value extraction per event) and renders values as text for `-p`.

pub mod catalog;
pub mod info;
pub mod render_ctx;
pub mod view;

pub use catalog::{ArgUse, FIELDS, FieldDef};
pub use view::{EventView, RunClock};

use crate::filter::{FieldCatalog, FieldInfo, FieldRef, FieldValues, Value};
use std::fmt::Write as _;

/// The catalog as the filter parser sees it.
pub struct Catalog;

impl FieldCatalog for Catalog {
    fn lookup(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo, String> {
        let (id, def) = catalog::find(name).ok_or_else(|| format!("unknown field '{name}'"))?;
        match (def.arg, arg) {
            (ArgUse::None, Some(a)) => Err(format!("field '{name}' takes no argument (got '{a}')")),
            (ArgUse::Required, None) => {
                Err(format!("field '{name}' needs an argument, e.g. {name}[0]"))
            }
            _ => Ok(FieldInfo {
                id,
                ty: def.ty,
                needs_arg: def.arg == ArgUse::Required,
            }),
        }
    }

    fn names(&self) -> Vec<&str> {
        FIELDS.iter().map(|f| f.name).collect()
    }
}

impl FieldValues for EventView<'_> {
    fn value(&self, field: &FieldRef) -> Option<Value<'_>> {
        let def = FIELDS.get(field.info.id as usize)?;
        (def.extract)(self, field.arg.as_deref())
    }
}

/// Appends a value as `-p` shows it.
pub fn write_value(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Str(s) => out.push_str(s),
        Value::Bytes(b) => info::push_lossy(out, b),
        Value::Num(n) => {
            let _ = write!(out, "{n}");
        }
        Value::UNum(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Ip(ip) => {
            let _ = write!(out, "{ip}");
        }
        Value::List(items) => {
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(it, out);
            }
        }
    }
}

/// Resolves a field reference as written in a `-p` format (`proc.name`, `evt.arg.fd`,
/// `evt.arg[0]`) with the filter parser's rules and messages.
pub fn resolve(text: &str) -> Result<FieldRef, String> {
    match crate::filter::parse(&format!("{text} exists"), &Catalog) {
        Ok(crate::filter::Expr::Check(c)) => Ok(c.field),
        Ok(_) => Err(format!("'{text}' is not a field name")),
        Err(e) => Err(e.message.replace(" at column 1", "")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_references_resolve_with_arguments() {
        assert_eq!(resolve("evt.arg.fd").unwrap().arg.as_deref(), Some("fd"));
        assert_eq!(resolve("evt.arg[1]").unwrap().arg.as_deref(), Some("1"));
        assert!(resolve("proc.name").unwrap().arg.is_none());
        let e = resolve("proc.nme").unwrap_err();
        assert!(e.contains("did you mean proc.name"), "{e}");
        assert!(
            resolve("evt.arg")
                .unwrap_err()
                .contains("needs an argument")
        );
    }

    #[test]
    fn every_field_name_is_unique() {
        let mut names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len());
    }
}
