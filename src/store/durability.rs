//! Whether the database keeps what authd acknowledges: a warning for settings that may not.

use super::{Store, StoreError};

impl Store {
    /// Database settings under which a commit authd has acknowledged can be lost, one sentence
    /// each; empty when there are none. Reads the session's values (one `show` per setting).
    pub async fn durability_warnings(&self) -> Result<Vec<String>, StoreError> {
        let mut warnings = Vec::new();
        match self {
            Store::Postgres(pool) => {
                for (setting, risk) in [
                    (
                        "synchronous_commit",
                        "a crash of the database server can undo the last commits authd \
                         acknowledged (up to 3 x wal_writer_delay)",
                    ),
                    (
                        "fsync",
                        "a crash of the database server or a power cut can lose or corrupt data",
                    ),
                ] {
                    let value: String = sqlx::query_scalar(&format!("show {setting}"))
                        .fetch_one(pool)
                        .await?;
                    if value.eq_ignore_ascii_case("off") {
                        warnings.push(format!("PostgreSQL runs with {setting} = off: {risk}"));
                    }
                }
            }
            Store::Sqlite(pool) => {
                let mode: i64 = sqlx::query_scalar("pragma synchronous")
                    .fetch_one(pool)
                    .await?;
                // 0 = OFF, 1 = NORMAL; authd sets FULL (2) unless told otherwise.
                if mode < 2 {
                    warnings.push(
                        "SQLite runs with database.sqlite_synchronous = \"normal\": a power cut \
                         can undo the last commits authd acknowledged"
                            .to_owned(),
                    );
                }
            }
        }
        Ok(warnings)
    }
}
