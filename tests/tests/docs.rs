//! The docs are the code: README's parameter table is the template's parameters, the state
//! tables name the definition's states, and every test the docs cite as a guard exists where
//! they say (the example email is kept by `notify.rs`).

use std::collections::BTreeSet;
use std::path::Path;

use recorder_tests::template::{read_repo_file, repo_root, Template};

/// The cells of each Markdown table row that starts with `` | `Name` ``.
fn rows(markdown: &str) -> Vec<Vec<String>> {
    markdown
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| line.trim_matches('|').split(" | ").map(|cell| cell.trim().to_owned()).collect())
        .collect()
}

/// The text between backticks at the start of a cell: `` `NatGatewayIDs` `` -> `NatGatewayIDs`.
fn code(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?.split('`').next()
}

#[test]
fn the_readme_lists_every_parameter_with_the_templates_default() {
    let template = Template::load();
    let parameters = template.root["Parameters"].as_mapping().unwrap();
    let readme = read_repo_file("README.md");
    let section = readme.split("### Parameters").nth(1).expect("README's Parameters section");
    let section = section.split("\n#").next().unwrap();
    let listed: Vec<(String, String)> = rows(section)
        .into_iter()
        .filter_map(|cells| {
            let name = code(&cells[0])?;
            parameters.contains_key(name).then(|| (name.to_owned(), cells[1].clone()))
        })
        .collect();
    let names: BTreeSet<&str> = listed.iter().map(|(name, _)| name.as_str()).collect();
    let expected: BTreeSet<&str> = parameters.keys().filter_map(|k| k.as_str()).collect();
    assert_eq!(names, expected, "README's parameter table and template.yaml's Parameters");
    for (name, default) in &listed {
        let actual = match &parameters[name.as_str()]["Default"] {
            serde_norway::Value::Null => "(required)".to_owned(),
            serde_norway::Value::String(s) if s.is_empty() => "(empty)".to_owned(),
            serde_norway::Value::String(s) => format!("`{s}`"),
            other => format!("`{}`", serde_norway::to_string(other).unwrap().trim()),
        };
        assert_eq!(default, &actual, "README gives {name} the default {default}; the template {actual}");
    }
}

/// Every "`Name` default N" and "`Name` (default N)" in a document, as (name, N).
fn defaults_in_prose(text: &str) -> Vec<(String, String)> {
    text.split('`')
        .collect::<Vec<_>>()
        .windows(2)
        .filter_map(|pair| {
            let rest = pair[1].strip_prefix(" default ").or_else(|| pair[1].strip_prefix(" (default "))?;
            let value = rest.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
            Some((pair[0].to_owned(), value.to_owned()))
        })
        .collect()
}

#[test]
fn a_default_the_prose_mentions_is_the_templates() {
    let template = Template::load();
    let mut checked = 0;
    for document in ["README.md", "docs/DESIGN.md"] {
        for (name, value) in defaults_in_prose(&read_repo_file(document)) {
            let Some(parameter) = template.root["Parameters"].get(name.as_str()) else { continue };
            let default = serde_norway::to_string(&parameter["Default"]).unwrap();
            assert_eq!(default.trim(), value, "{document} says {name} defaults to {value}");
            checked += 1;
        }
    }
    assert!(checked >= 2, "the check found the defaults DESIGN states ({checked})");
}

/// The state names in the first column of a Markdown table that starts `| state |`.
fn state_table(markdown: &str) -> BTreeSet<String> {
    let mut in_table = false;
    let mut states = BTreeSet::new();
    for line in markdown.lines() {
        if line.starts_with("| state |") {
            in_table = true;
            continue;
        }
        if in_table && !line.starts_with('|') {
            break;
        }
        if in_table && !line.starts_with("|---") {
            let first = line.trim_matches('|').split(" | ").next().unwrap_or_default().trim();
            // "(OK rule)", "(schedule)" are not states; "Sent?, WaitForDelivery" is two
            if !first.starts_with('(') {
                states.extend(first.split(", ").map(str::to_owned));
            }
        }
    }
    states
}

#[test]
fn the_state_tables_name_the_definitions_states() {
    let asl: serde_json::Value = serde_json::from_str(&read_repo_file("statemachine/recorder.asl.json")).unwrap();
    let states = asl["States"].as_object().unwrap();
    let tasks: BTreeSet<String> =
        states.iter().filter(|(_, s)| s["Type"] == "Task").map(|(name, _)| name.clone()).collect();
    for document in ["docs/DESIGN.md", "README.md", "crates/recorder/src/contract.rs"] {
        let text = read_repo_file(document);
        // contract.rs carries the table in its module docs, behind "//! "
        let text: String = text.lines().map(|l| l.strip_prefix("//! ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
        let named = state_table(&text);
        for state in &named {
            assert!(states.contains_key(state), "{document} names a state {state} the definition does not have");
        }
        for task in &tasks {
            assert!(named.contains(task), "{document}'s table leaves out the task {task}");
        }
    }
}

/// Every `fn name` of a test in the repository's Rust files, with the file's name.
fn test_functions() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() && !name.starts_with('.') && name != "target" && name != "node_modules" {
                walk(&path, out);
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines() {
                    let line = line.trim_start();
                    let rest = line.strip_prefix("async fn ").or_else(|| line.strip_prefix("fn "));
                    if let Some(function) = rest.and_then(|r| r.split('(').next()) {
                        out.push((function.to_owned(), name.clone()));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["crates", "tests", "cf-assistive-macros", "tools"] {
        walk(&repo_root().join(dir), &mut out);
    }
    out
}

#[test]
fn every_test_the_docs_cite_exists_and_the_invariants_table_names_its_files() {
    let functions = test_functions();
    let files: BTreeSet<&str> = functions.iter().map(|(_, file)| file.as_str()).collect();
    let mut cited = 0;
    for document in ["docs/DESIGN.md", "README.md"] {
        let text = read_repo_file(document);
        // A cited test: a backticked snake_case name of four words or more
        for name in text.split('`').skip(1).step_by(2) {
            let words = name.split('_').count();
            if words >= 4 && name.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()) {
                assert!(functions.iter().any(|(f, _)| f == name), "{document} cites `{name}`, which no file defines");
                cited += 1;
            }
        }
    }
    assert!(cited >= 20, "only {cited} test names found in the docs");
    // In the invariants table, each file named is a file of the repository
    let design = read_repo_file("docs/DESIGN.md");
    let table = design.split("## Invariants, and the test that guards each").nth(1).expect("the invariants table");
    let table = table.split("\n## ").next().unwrap();
    for row in rows_of_any(table) {
        for name in row.split('`').skip(1).step_by(2).filter(|n| n.ends_with(".rs")) {
            assert!(files.contains(name), "the invariants table names {name}, which does not exist");
        }
    }
}

/// Every table row of a Markdown text, header and rule lines left out.
fn rows_of_any(markdown: &str) -> Vec<&str> {
    markdown.lines().filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| invariant")).collect()
}

#[test]
fn pressing_enter_at_the_stack_name_never_updates_a_stack_of_the_original() {
    // The original's README suggests these names for its two stacks; SAM's own default is sam-app
    let theirs = ["vpc-flowlogs-recorder", "vpc-flowlogs-recorder-assistive-macros", "sam-app"];
    for config in ["samconfig.toml", "cf-assistive-macros/samconfig.toml"] {
        let text = read_repo_file(config);
        let name = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("stack_name = "))
            .unwrap_or_else(|| panic!("{config} suggests no stack name"))
            .trim_matches('"');
        assert!(!theirs.contains(&name), "{config} suggests {name}, a name of the original's stacks");
        // The ALARM rule is <stack>-alarm-fired, at most 64 characters; a dot would break the alarm names
        assert!(name.len() <= 52 && !name.contains('.'), "{config}: {name}");
    }
}
