//! Holds the rule `write_turns` depends on: on SQLite, a write outside a transaction goes through
//! `with_write!`, which takes the process's turn to write. A write in a plain `with_pool!` would
//! still work, but it would skip the queue and meet the other writers in SQLite's busy handler
//! again (durability.md). This reads the store's source and finds such writes.

use std::path::Path;

/// The SQL verb that writes in `sql`, if any, read word by word.
fn writes(sql: &str) -> Option<&'static str> {
    let text = sql.to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .collect();
    words.windows(3).find_map(|w| match w {
        ["insert", "into", _] | ["insert", "or", _] => Some("insert"),
        ["replace", "into", _] => Some("replace"),
        ["delete", "from", _] => Some("delete"),
        ["update", _, "set"] => Some("update"),
        _ => None,
    })
}

/// The text between the parentheses that open at `start` (just past the `(`).
fn balanced(source: &str, start: usize) -> &str {
    let mut depth = 1;
    for (offset, c) in source[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &source[start..start + offset];
                }
            }
            _ => {}
        }
    }
    &source[start..]
}

/// `const NAME: &str = "...";` strings of a file, so that a body naming one is read with its SQL.
fn string_constants(source: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    for (at, _) in source.match_indices("const ") {
        let rest = &source[at + "const ".len()..];
        let Some((name, after)) = rest.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let Some(value) = after.trim_start().strip_prefix("&str") else {
            continue;
        };
        let value = value.trim_start().trim_start_matches('=').trim_start();
        if let Some(end) = value.find("\";").or_else(|| value.find("\"#;")) {
            found.push((name, &value[..end]));
        }
    }
    found
}

/// Every write found in a `with_pool!` body that opens no transaction: (line, verb).
fn unqueued_writes(source: &str) -> Vec<(usize, &'static str)> {
    let constants = string_constants(source);
    let mut found = Vec::new();
    for (at, call) in source.match_indices("with_pool!(") {
        let body = balanced(source, at + call.len());
        if body.contains("begin_write") || body.contains(".begin()") {
            continue;
        }
        let named = constants
            .iter()
            .filter(|(name, _)| {
                body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| word == *name)
            })
            .map(|(_, sql)| *sql);
        let verb = std::iter::once(body).chain(named).find_map(writes);
        if let Some(verb) = verb {
            found.push((source[..at].lines().count() + 1, verb));
        }
    }
    found
}

#[test]
fn every_autocommit_write_in_the_store_takes_its_turn() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let mut offenders = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("src/store is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|ext| ext != "rs") || path.ends_with("turn_rule.rs") {
            continue;
        }
        files += 1;
        let source = std::fs::read_to_string(&path).expect("a source file");
        for (line, verb) in unqueued_writes(&source) {
            offenders.push(format!("{}:{line}: {verb}", path.display()));
        }
    }
    assert!(files > 20, "read only {files} files in {}", dir.display());
    assert!(
        offenders.is_empty(),
        "write with with_write! (or in a begin_write transaction), not with_pool!:\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_rule_finds_a_write_in_with_pool_and_none_elsewhere() {
    let source = r#"
        const CLEAR: &str = "delete from sessions where handle = $1";
        fn a() { with_pool!(self, pool => sqlx::query("insert into users (id) values ($1)")) }
        fn b() { with_pool!(self, pool => sqlx::query(CLEAR).execute(pool)) }
        fn c() { with_pool!(self, pool => sqlx::query("update users set disabled = 1")) }
        fn d() { with_write!(self, pool => sqlx::query("insert into users (id) values ($1)")) }
        fn e() { with_pool!(self, pool => async { let tx = pool.begin_write().await?;
                 sqlx::query("delete from users").execute(&mut *tx) }) }
        fn f() { with_pool!(self, pool => sqlx::query("select updated_at, deleted from users")) }
    "#;

    let found: Vec<&str> = unqueued_writes(source)
        .into_iter()
        .map(|(_, verb)| verb)
        .collect();

    assert_eq!(found, ["insert", "delete", "update"]);
}
