//! `authd user import FILE`: users from another system (JSON Lines), all or nothing.

use std::path::Path;

use argon2::password_hash::PasswordHash as PhcString;
use serde::Deserialize;

use crate::credentials::{PasswordHash, PasswordScheme};
use crate::domain::{RoleName, Username, parse_email};
use crate::store::NewUser;

/// One line of the import file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    username: String,
    password_hash: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    disabled: bool,
}

/// Reads and validates every line; the first bad line stops the import with its number.
pub fn read_import_file(path: &Path) -> anyhow::Result<Vec<NewUser>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut users = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let user = parse_line(line).map_err(|e| anyhow::anyhow!("line {}: {e}", index + 1))?;
        users.push(user);
    }
    Ok(users)
}

fn parse_line(line: &str) -> anyhow::Result<NewUser> {
    let entry: ImportLine = serde_json::from_str(line)?;
    let password_hash = PasswordHash::from_stored(entry.password_hash);
    let supported = match password_hash.scheme() {
        PasswordScheme::Argon2id | PasswordScheme::Argon2Other => {
            PhcString::new(password_hash.as_str()).is_ok()
        }
        // $2b$12$ + 53 characters of salt and hash.
        PasswordScheme::Bcrypt => password_hash.as_str().len() == 60,
        PasswordScheme::Unknown => false,
    };
    if !supported {
        anyhow::bail!("password_hash must be an argon2 PHC string or a $2a$/$2b$/$2y$ bcrypt hash");
    }
    Ok(NewUser {
        username: Username::parse(&entry.username)?,
        email: entry.email.as_deref().map(parse_email).transpose()?,
        full_name: entry.full_name,
        disabled: entry.disabled,
        password_hash,
        roles: entry
            .roles
            .iter()
            .map(|r| RoleName::parse(r))
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_and_argon2_lines_parse() {
        let bcrypt = r#"{"username":"johndoe","password_hash":"$2b$12$EixZaYVK1fsbw1ZfbX3OXePaWxn96p36WQoeG6Lruj3vjPGga31lW","email":"johndoe@example.com","full_name":"John Doe","roles":[],"disabled":false}"#;
        let user = parse_line(bcrypt).unwrap();
        assert_eq!(user.username.as_str(), "johndoe");
        assert_eq!(user.password_hash.scheme(), PasswordScheme::Bcrypt);
    }

    #[test]
    fn argon2i_hashes_are_accepted_for_rehashing() {
        let line = r#"{"username":"old","password_hash":"$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"}"#;
        let user = parse_line(line).unwrap();
        assert_eq!(user.password_hash.scheme(), PasswordScheme::Argon2Other);
    }

    #[test]
    fn unknown_hash_formats_and_fields_are_refused() {
        assert!(parse_line(r#"{"username":"a","password_hash":"plaintext"}"#).is_err());
        assert!(parse_line(r#"{"username":"a","password_hash":"$1$md5$x"}"#).is_err());
        assert!(parse_line(r#"{"username":"a","password_hash":"x","admin":true}"#).is_err());
        assert!(parse_line("not json").is_err());
    }
}
