//! Reading a password from standard input: a hidden prompt on a terminal, else the first line.

use std::io::{BufRead, IsTerminal};

use secrecy::SecretString;

/// Reads one password; never from the command line, where `ps` and shell history would see it.
pub fn read_password(prompt: &str) -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    let line = if stdin.is_terminal() {
        rpassword::prompt_password(prompt)?
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line
    };
    let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
    Ok(SecretString::from(trimmed))
}
