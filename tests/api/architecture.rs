//! `docs/architecture.md` stays exact: every module its tables name is where they say, and
//! every source file of the three crates is named (by itself or by its folder).

use std::{collections::BTreeSet, path::Path};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The module tables: `### \`crate\` (\`dir\`)` followed by rows whose first cell names modules.
fn named_modules(doc: &str) -> Vec<(String, String)> {
    let mut named = Vec::new();
    let mut dir = None;
    for line in doc.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            dir = heading.split('`').nth(3).map(str::to_owned);
        } else if line.starts_with("## ") {
            dir = None;
        } else if let (Some(dir), Some(row)) = (&dir, line.strip_prefix("| ")) {
            let first_cell = row.split(" | ").next().unwrap_or_default();
            // Backticked names sit at the odd positions of the split.
            for name in first_cell.split('`').skip(1).step_by(2) {
                named.push((dir.clone(), name.to_owned()));
            }
        }
    }
    named
}

fn exists(dir: &str, name: &str) -> bool {
    let base = Path::new(ROOT).join(dir);
    let name = name.trim_end_matches('/');
    [base.join(name), base.join(format!("{name}.rs"))]
        .iter()
        .any(|path| path.exists())
}

#[test]
fn every_module_the_architecture_names_is_where_it_says_and_every_file_is_named() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let named = named_modules(&doc);
    let dirs: BTreeSet<&str> = named.iter().map(|(dir, _)| dir.as_str()).collect();
    assert_eq!(
        dirs,
        BTreeSet::from([
            "crates/ephemail-mail/src/",
            "crates/ephemail-store/src/",
            "src/"
        ]),
        "one table per crate"
    );
    let missing: Vec<String> = named
        .iter()
        .filter(|(dir, name)| !exists(dir, name))
        .map(|(dir, name)| format!("{dir}{name}"))
        .collect();
    assert!(missing.is_empty(), "named but not there: {missing:?}");
    for dir in dirs {
        for entry in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            let module = file.trim_end_matches(".rs");
            let is_named = named.iter().any(|(named_dir, name)| {
                named_dir == dir && {
                    let name = name.trim_end_matches('/');
                    name == file || name == module || name.starts_with(&format!("{module}/"))
                }
            });
            assert!(is_named, "{dir}{file} is not in docs/architecture.md");
        }
    }
}
