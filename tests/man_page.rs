//! The man page documents every flag the CLI accepts, and every compat switch.

#[test]
fn every_flag_is_in_the_man_page() {
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/tpdig.8")).unwrap();
    // roff escapes '-' as '\-'; compare on unescaped text.
    let text = man.replace("\\-", "-");
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
    for code in 0..=6 {
        assert!(
            text.contains(&format!(".B {code}\n")),
            "exit status {code} undocumented"
        );
    }
}
