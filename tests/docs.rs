//! The book cannot drift from the code: every setting `Settings` knows is on the configuration page
//! and in `authd.example.toml` (with the built-in default), neither names a setting the code lacks,
//! and every link between the Markdown pages (file and `#anchor`) resolves.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use authd::config::Settings;
use serde_json::{Map, Value, json};

const PROBE: &str = "zz_probe_key";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The field names serde lists for the struct at `path`, or `None` when `path` is not a struct.
///
/// `Settings` cannot be serialized (it holds secrets), so its keys are read from the code another
/// way: every section denies unknown fields, and serde's error for an unknown field lists the
/// known ones.
fn struct_fields(path: &[String]) -> Option<Vec<String>> {
    let mut document = json!({ PROBE: 0 });
    for segment in path.iter().rev() {
        let mut parent = Map::new();
        parent.insert(segment.clone(), document);
        document = Value::Object(parent);
    }
    let error = serde_json::from_value::<Settings>(document)
        .expect_err("an unknown key must be refused")
        .to_string();
    if !error.contains(&format!("unknown field `{PROBE}`")) {
        return None;
    }
    let expected = error.split_once("expected").map_or("", |(_, rest)| rest);
    Some(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// Every setting of the code, as `section.key`.
fn code_keys() -> BTreeSet<String> {
    fn walk(path: Vec<String>, keys: &mut BTreeSet<String>) {
        match struct_fields(&path) {
            Some(fields) => {
                for field in fields {
                    // `AUTHD_CONFIG` names the configuration file itself; it is not a setting.
                    if path.is_empty() && field == "config" {
                        continue;
                    }
                    let mut child = path.clone();
                    child.push(field);
                    walk(child, keys);
                }
            }
            None => {
                keys.insert(path.join("."));
            }
        }
    }
    let mut keys = BTreeSet::new();
    walk(Vec::new(), &mut keys);
    keys
}

fn sections(keys: &BTreeSet<String>) -> BTreeSet<String> {
    keys.iter()
        .filter_map(|k| k.split_once('.').map(|(s, _)| s.to_owned()))
        .collect()
}

fn env_var(key: &str) -> String {
    format!("AUTHD_{}", key.replace('.', "__").to_uppercase())
}

/// Rows of the configuration page's tables: key -> (environment variable, default cell).
fn documented_settings() -> BTreeMap<String, (String, String)> {
    let page = read(&root().join("docs/src/configuration.md"));
    let mut rows = BTreeMap::new();
    for line in page.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        let key = cells[0].trim_start_matches("| ").trim_matches('`');
        if !key.contains('.') {
            continue;
        }
        let env = cells.get(1).unwrap_or(&"").trim_matches('`').to_owned();
        let default = (*cells.get(2).unwrap_or(&"")).to_owned();
        assert!(
            rows.insert(key.to_owned(), (env, default)).is_none(),
            "configuration.md documents {key} twice"
        );
    }
    rows
}

/// Keys of `authd.example.toml`, commented out or not, with the value text of uncommented ones.
fn example_settings() -> BTreeMap<String, Option<String>> {
    let text = read(&root().join("authd.example.toml"));
    let mut section = String::new();
    let mut keys = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let commented = line.starts_with('#');
        let Some((name, value)) = line.trim_start_matches(['#', ' ']).split_once(" = ") else {
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        let key = format!("{section}.{name}");
        let value = (!commented).then(|| value.trim_matches('"').to_owned());
        assert!(
            keys.insert(key.clone(), value).is_none(),
            "authd.example.toml names {key} twice"
        );
    }
    keys
}

#[test]
fn every_setting_of_the_code_is_on_the_configuration_page_and_in_the_example() {
    let code = code_keys();
    assert!(code.contains("server.bind") && code.contains("janitor.interval_secs"));
    let documented: BTreeSet<String> = documented_settings().into_keys().collect();
    let example: BTreeSet<String> = example_settings().into_keys().collect();

    let undocumented: Vec<_> = code.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "settings missing from docs/src/configuration.md: {undocumented:?}"
    );
    let not_in_example: Vec<_> = code.difference(&example).collect();
    assert!(
        not_in_example.is_empty(),
        "settings missing from authd.example.toml: {not_in_example:?}"
    );
    let unknown_documented: Vec<_> = documented.difference(&code).collect();
    assert!(
        unknown_documented.is_empty(),
        "docs/src/configuration.md documents settings the code lacks: {unknown_documented:?}"
    );
    let unknown_example: Vec<_> = example.difference(&code).collect();
    assert!(
        unknown_example.is_empty(),
        "authd.example.toml names settings the code lacks: {unknown_example:?}"
    );
}

#[test]
fn the_configuration_page_names_each_variable_and_the_default_of_the_example() {
    let example = example_settings();
    for (key, (env, default)) in documented_settings() {
        assert_eq!(env, env_var(&key), "environment variable of {key}");
        if let Some(Some(value)) = example.get(&key) {
            // An empty list or string is documented as "none".
            let value = if value == "[]" || value.is_empty() {
                "none"
            } else {
                value
            };
            let documented = default.split('`').nth(1).unwrap_or(&default);
            assert_eq!(
                documented, value,
                "configuration.md gives {key} the default {default}, authd.example.toml {value}"
            );
        }
    }
}

#[test]
fn the_example_configuration_holds_the_built_in_defaults() {
    let text = read(&root().join("authd.example.toml"));
    let parsed: Settings = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .build()
        .and_then(config::Config::try_deserialize)
        .expect("authd.example.toml loads, with no unknown key");
    assert_eq!(
        format!("{parsed:?}"),
        format!("{:?}", Settings::default()),
        "every uncommented value in authd.example.toml is the built-in default"
    );
}

/// The Markdown files a reader follows links through: README, BENCHMARKS and the book.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut book: Vec<PathBuf> = std::fs::read_dir(root().join("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    book.sort();
    files.extend(book);
    files
}

/// The text mdbook renders: `{{#include FILE}}` lines replaced by the file.
fn rendered(path: &Path) -> String {
    read(path)
        .lines()
        .map(|line| {
            match line
                .trim()
                .strip_prefix("{{#include ")
                .and_then(|l| l.strip_suffix("}}"))
            {
                Some(included) => rendered(&path.parent().unwrap().join(included.trim())),
                None => line.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lines outside fenced code blocks, with inline code spans removed.
fn prose_lines(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push(line.to_owned());
        }
    }
    lines
}

fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join("")
}

/// Heading ids as mdbook (and, for these headings, GitHub) generates them.
fn anchors(text: &str) -> HashSet<String> {
    let mut ids = HashSet::new();
    for line in prose_lines(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let id: String = heading
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
                c if c.is_whitespace() => Some('-'),
                _ => None,
            })
            .collect();
        let mut unique = id.clone();
        let mut counter = 1;
        while !ids.insert(unique.clone()) {
            unique = format!("{id}-{counter}");
            counter += 1;
        }
    }
    ids
}

/// Targets of inline links `[text](target)` outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(&line);
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            targets.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    targets
}

#[test]
fn every_link_between_the_pages_resolves() {
    let book = root().join("docs/src");
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = rendered(&file);
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let Ok(linked) = linked.canonicalize() else {
                broken.push(format!("{}: {target}: no such file", file.display()));
                continue;
            };
            // The HTML book contains only docs/src; a link out of it would break there.
            if file.starts_with(&book) && !linked.starts_with(book.canonicalize().unwrap()) {
                broken.push(format!("{}: {target}: leaves the book", file.display()));
            }
            if !anchor.is_empty()
                && linked.extension().is_some_and(|e| e == "md")
                && !anchors(&rendered(&linked)).contains(anchor)
            {
                broken.push(format!("{}: {target}: no such heading", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let book = root().join("docs/src");
    let summary = read(&book.join("SUMMARY.md"));
    let listed: BTreeSet<String> = link_targets(&summary).into_iter().collect();
    for page in markdown_files().iter().filter(|p| p.starts_with(&book)) {
        let name = page.file_name().unwrap().to_str().unwrap();
        assert!(
            name == "SUMMARY.md" || listed.contains(name),
            "docs/src/{name} is not linked from SUMMARY.md, so the book leaves it out"
        );
    }
}

#[test]
fn the_pages_name_no_setting_the_code_lacks() {
    let code = code_keys();
    let sections = sections(&code);
    let variables: BTreeSet<String> = code.iter().map(|k| env_var(k)).collect();
    let mut unknown = Vec::new();
    for file in markdown_files() {
        let text = read(&file);
        // `section.key` code spans in prose, and AUTHD_SECTION__KEY variables anywhere.
        let lines = prose_lines(&text);
        let spans = lines
            .iter()
            .flat_map(|line| line.split('`').skip(1).step_by(2));
        for span in spans {
            let Some((section, key)) = span.split_once('.') else {
                continue;
            };
            // File names such as `security.rs` are not settings.
            let is_file = ["rs", "md", "toml", "sql", "sh", "lua", "json", "yml"].contains(&key);
            let is_key = !key.is_empty()
                && !is_file
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if sections.contains(section) && is_key && !code.contains(span) {
                unknown.push(format!("{}: {span}", file.display()));
            }
        }
        for (i, _) in text.match_indices("AUTHD_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            // `AUTHD_PASSWORDS__*` names a whole section.
            if name.contains("__") && !name.ends_with("__") && !variables.contains(&name) {
                unknown.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "settings the code does not have:\n{}",
        unknown.join("\n")
    );
}
