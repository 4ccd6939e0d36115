//! The man page documents every flag the CLI accepts, every compat switch, every exit code
//! and every field of the catalog.

fn man_text() -> String {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/tpdig.8")).unwrap();
    // roff escapes '-' as '\-'; compare on unescaped text.
    man.replace("\\-", "-")
}

#[test]
fn every_flag_is_in_the_man_page() {
    let text = man_text();
    let missing: Vec<String> = tpdig::cli::flag_names()
        .into_iter()
        .filter(|f| !text.contains(f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "flags missing from man/tpdig.8: {missing:?}"
    );
    for (switch, _) in tpdig::compat::SWITCHES {
        assert!(
            text.contains(&format!(".B {switch}")),
            "compat switch {switch} undocumented"
        );
    }
    for code in 0..=7 {
        assert!(
            text.contains(&format!(".B {code}\n")),
            "exit status {code} undocumented"
        );
    }
}

#[test]
fn every_field_is_in_the_man_page() {
    let text = man_text();
    let missing: Vec<&str> = tpdig::fields::FIELDS
        .iter()
        .map(|f| f.name)
        .filter(|n| {
            !text.contains(&format!(".B {n}\n")) && !text.contains(&format!(".B {n}[ARG]\n"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "fields missing from man/tpdig.8 (run ci/gen-man-fields.sh): {missing:?}"
    );
}

/// Regression: a text line starting with a quote (`'>' for entries...`) was read as an
/// undefined macro and `man` warned. groff (groff-base, which man-db depends on) with every
/// warning enabled must have nothing to say about the page.
#[test]
fn the_man_page_renders_without_troff_warnings() {
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/man/tpdig.8");
    let out = std::process::Command::new("groff")
        .args(["-man", "-ww", "-z", page])
        .output()
        .unwrap_or_else(|e| panic!("cannot run groff ({e}): install groff-base"));
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && warnings.is_empty(),
        "groff -man -ww -z man/tpdig.8 warns:\n{warnings}"
    );
}
