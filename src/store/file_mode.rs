//! The SQLite database and its `-wal` and `-shm` files hold password hashes, secret hashes and
//! sealed keys: they are created 0600, and an existing database readable by others is made so.

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Makes the database file at `path` private before SQLite opens it. SQLite gives a new `-wal`
/// and `-shm` the mode of the database file, so a 0600 database keeps them 0600 too.
pub(super) fn make_database_private(url: &str, path: &Path) -> anyhow::Result<()> {
    if is_in_memory(url, path) {
        return Ok(());
    }
    // An empty file is a valid empty database; SQLite fills it in.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(error) => anyhow::bail!("database.url: cannot create {}: {error}", path.display()),
    }
    for file in [
        path.to_path_buf(),
        sibling(path, "-wal"),
        sibling(path, "-shm"),
    ] {
        restrict(&file);
    }
    Ok(())
}

/// Removes group and other permissions from an existing file, saying so.
fn restrict(path: &Path) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(path, Permissions::from_mode(mode & 0o700)) {
        Ok(()) => log::warn!(
            "{} was accessible to group or others (mode {mode:04o}); it is now {:04o}",
            path.display(),
            mode & 0o700
        ),
        Err(error) => log::warn!(
            "{} is accessible to group or others (mode {mode:04o}) and cannot be changed: {error}",
            path.display()
        ),
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn is_in_memory(url: &str, path: &Path) -> bool {
    let query = url.split_once('?').map_or("", |(_, query)| query);
    let name = path.to_string_lossy();
    name.is_empty()
        || name == ":memory:"
        || name.starts_with("file:")
        || query.split('&').any(|pair| pair == "mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_database_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db");

        make_database_private("sqlite://authd.db", &path).unwrap();

        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn existing_files_readable_by_others_are_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authd.db");
        for file in [path.clone(), sibling(&path, "-wal"), sibling(&path, "-shm")] {
            std::fs::write(&file, b"").unwrap();
            std::fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        }

        make_database_private("sqlite://authd.db", &path).unwrap();

        for file in [path.clone(), sibling(&path, "-wal"), sibling(&path, "-shm")] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }

    #[test]
    fn in_memory_databases_touch_no_file() {
        assert!(is_in_memory(
            "sqlite::memory:",
            Path::new("file:sqlx-in-memory-1")
        ));
        assert!(is_in_memory("sqlite://x?mode=memory", Path::new("x")));
        assert!(!is_in_memory(
            "sqlite://data/authd.db?mode=rwc",
            Path::new("data/authd.db")
        ));
    }
}
