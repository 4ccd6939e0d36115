//! Fuzz target: sysdig filter text → parser → printer → parser again. Arbitrary input must
//! never panic; whatever parses must print to text that parses back to the same tree, and
//! must compile (or fail to compile with an error, not a panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpdig::fields::Catalog;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(expr) = tpdig::filter::parse(text, &Catalog) else { return };
    let printed = expr.to_string();
    let again = tpdig::filter::parse(&printed, &Catalog).expect("printed filters parse");
    assert_eq!(expr, again, "round trip of {text:?} via {printed:?}");
    let _ = tpdig::filter::compile(&expr);
});
