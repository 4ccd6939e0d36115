//! The field names chisels may use: the shared catalog plus a few that only make sense for
//! aggregation (`evt.count`). They live here rather than in `fields::` because
//! they classify events for scripts; the catalog proper stays what filters and `-p` document.
//! Extra fields get ids above [`EXTRA_BASE`] and are answered by [`ChiselValues`] before the
//! catalog is asked.

use crate::fields::{self, EventView};
use crate::filter::{FieldCatalog, FieldInfo, FieldRef, FieldType, FieldValues, Value};

/// Ids at and above this are chisel-only fields.
pub const EXTRA_BASE: u32 = 1_000_000;

struct Extra {
    name: &'static str,
    ty: FieldType,
    desc: &'static str,
}

const EXTRAS: &[Extra] = &[Extra {
    name: "evt.count",
    ty: FieldType::UInt,
    desc: "1 for every event (a value to count with)",
}];

pub use crate::syscalls::io_direction;

/// The catalog chisel filters and keys are parsed with.
pub struct ChiselCatalog;

impl FieldCatalog for ChiselCatalog {
    fn lookup(&self, name: &str, arg: Option<&str>) -> Result<FieldInfo, String> {
        if let Some(i) = EXTRAS.iter().position(|e| e.name == name) {
            if let Some(a) = arg {
                return Err(format!("field '{name}' takes no argument (got '{a}')"));
            }
            return Ok(FieldInfo {
                id: EXTRA_BASE + i as u32,
                ty: EXTRAS[i].ty,
                needs_arg: false,
            });
        }
        fields::Catalog.lookup(name, arg)
    }

    fn names(&self) -> Vec<&str> {
        let mut v = fields::Catalog.names();
        v.extend(EXTRAS.iter().map(|e| e.name));
        v
    }
}

/// (name, description) of the chisel-only fields, for the documentation.
pub fn extra_fields() -> impl Iterator<Item = (&'static str, &'static str)> {
    EXTRAS.iter().map(|e| (e.name, e.desc))
}

/// Resolves a field reference (`fd.name`, `evt.arg.fd`, `evt.count`) for a chisel.
pub fn resolve(text: &str) -> Result<FieldRef, String> {
    match crate::filter::parse(&format!("{text} exists"), &ChiselCatalog) {
        Ok(crate::filter::Expr::Check(c)) => Ok(c.field),
        Ok(_) => Err(format!("'{text}' is not a field name")),
        Err(e) => Err(e.message.replace(" at column 1", "")),
    }
}

/// An event as chisel filters and feeds read it.
pub struct ChiselValues<'v, 'a>(pub &'v EventView<'a>);

impl FieldValues for ChiselValues<'_, '_> {
    fn value(&self, field: &FieldRef) -> Option<Value<'_>> {
        if field.info.id < EXTRA_BASE {
            return self.0.value(field);
        }
        extra_value(self.0, field.info.id - EXTRA_BASE)
    }
}

fn extra_value<'v>(_v: &'v EventView<'_>, i: u32) -> Option<Value<'v>> {
    match EXTRAS.get(i as usize)?.name {
        "evt.count" => Some(Value::UNum(1)),
        _ => None,
    }
}

/// Parses and compiles a chisel filter; the error names the column.
pub fn compile_filter(text: &str) -> Result<(crate::filter::Expr, crate::filter::Filter), String> {
    let expr =
        crate::filter::parse(text, &ChiselCatalog).map_err(|e| format!("filter '{text}': {e}"))?;
    let f = crate::filter::compile(&expr).map_err(|e| format!("filter '{text}': {e}"))?;
    Ok((expr, f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_fields_resolve_and_catalog_fields_still_do() {
        assert!(resolve("evt.count").unwrap().info.id >= EXTRA_BASE);
        assert!(resolve("fd.name").unwrap().info.id < EXTRA_BASE);
        assert!(resolve("evt.rawarg.res").is_ok());
        assert!(resolve("evt.nope").is_err());
        assert!(compile_filter("fd.type=file and evt.is_io=true").is_ok());
        assert!(compile_filter("fd.type=").is_err());
    }

    #[test]
    fn io_calls_are_classified() {
        assert_eq!(io_direction("pwrite64"), Some(true));
        assert_eq!(io_direction("recvfrom"), Some(false));
        assert_eq!(io_direction("openat"), None);
    }
}
