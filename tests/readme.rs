//! The README's configuration reference must say what `config::KEYS` says: every key, its
//! default and its meaning, and no key that does not exist.

use gpcguard::config::{KeyType, KEYS};

#[test]
fn readme_configuration_reference_matches_the_key_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // Only the configuration section: other README tables (the Debian packages) use the same form.
    let section = readme.split("\n## Configuration reference").nth(1).expect("README has a Configuration reference section");
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<Vec<String>> = section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.trim_matches('|').split(" | ").enumerate().map(|(i, c)| if i == 0 { c.trim().to_owned() } else { c.trim().replace('`', "") }).collect())
        .collect();
    for k in KEYS {
        let ty = match k.ty {
            KeyType::Text => "string".to_owned(),
            KeyType::TextList => "list".to_owned(),
            KeyType::Bool => "bool".to_owned(),
            KeyType::Int { min, max } => format!("integer ({min}..={max})"),
        };
        let expected = vec![format!("`{}`", k.name), ty, k.default.to_owned(), k.meaning.to_owned()];
        assert!(rows.contains(&expected), "README lacks or misstates the row {}", expected.join(" | "));
    }
    assert_eq!(rows.len(), KEYS.len(), "README lists a key that config::KEYS does not have");
}
