//! All SQL lives here, behind one `Store` whose methods read the same on PostgreSQL and SQLite.
//!
//! Each query is written once: `with_pool!` type-checks the body against both drivers, so the
//! backends cannot drift apart, and no handler ever learns which one it talks to.

mod admin;
mod audit;
mod authorization_codes;
mod clients;
mod code_batch_pg;
mod code_writer;
mod consents;
mod delegation;
mod device_codes;
mod dpop_proofs;
mod durability;
mod file_mode;
mod housekeeping;
mod keys;
mod login_addresses;
mod login_failures;
mod logout;
mod mfa_admin;
mod passkeys;
mod pushed_requests;
mod records;
mod recovery_codes;
mod refresh_retry;
mod resources;
mod roles;
mod second_factors;
mod sessions;
mod tokens;
mod totp;
#[cfg(test)]
mod turn_rule;
mod users;
mod write_turns;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::OwnedSemaphorePermit;

use crate::config::{self, DatabaseSettings};
use write_turns::WriteTransaction;

pub use admin::{Page, PageRequest, UserChanges, UserFilter, paginate};
pub use audit::AuditRecord;
pub use authorization_codes::{
    AuthorizationCode, CodeClaim, CodeWrite, CodeWritten, NewCodeFamily,
};
pub use code_writer::CodeWriter;
pub use consents::Consent;
pub use device_codes::{
    DeviceCode, DeviceCodeStored, DeviceDecision, DevicePoll, NewDeviceCode, SLOW_DOWN_STEP_SECS,
};
pub use housekeeping::Swept;
pub use login_failures::AttemptLimit;
pub(crate) use logout::end_sessions_in;
pub use logout::{EndedSession, LogoutDelivery, SessionEnding, SessionSelection, sid_revocation};
pub use passkeys::{NewPasskey, PasskeyAdded, PasskeyUse, StoredPasskey};
pub use records::{
    BrowserSettings, Client, NewClient, NewUser, RefreshFamily, RefreshRotation, Role,
    RotateOutcome, StoredKey, User, UserLogin,
};
pub use refresh_retry::RefreshRetry;
pub use resources::RegisteredResource;
pub use second_factors::{PasswordGrantFactors, SecondFactors};
pub use sessions::{NewSession, Session};
pub use totp::{TotpCredential, TotpEnrolment};

/// Opens a transaction that will write. SQLite must take its write lock at BEGIN: a deferred
/// transaction that reads first cannot upgrade once another writer has committed (SQLITE_BUSY);
/// it waits for its turn among this process's writers first (`write_turns`).
trait BeginWrite {
    type Database: sqlx::Database;

    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<WriteTransaction<Self::Database>, sqlx::Error>>;

    /// This process's turn to write, for a write made outside a transaction (one autocommit
    /// statement); hold it until the statement has run. `None` where writers need no turns.
    fn write_turn(&self) -> impl std::future::Future<Output = Option<OwnedSemaphorePermit>>;
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;

    async fn begin_write(&self) -> Result<WriteTransaction<sqlx::Postgres>, sqlx::Error> {
        Ok(WriteTransaction::new(self.begin().await?, None))
    }

    async fn write_turn(&self) -> Option<OwnedSemaphorePermit> {
        None
    }
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;

    async fn begin_write(&self) -> Result<WriteTransaction<sqlx::Sqlite>, sqlx::Error> {
        let turn = self.write_turn().await;
        Ok(WriteTransaction::new(
            self.begin_with("BEGIN IMMEDIATE").await?,
            turn,
        ))
    }

    async fn write_turn(&self) -> Option<OwnedSemaphorePermit> {
        write_turns::wait_for_turn(self.connect_options().get_filename()).await
    }
}

/// Runs `$body` with `$pool` bound to whichever pool the store holds.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Postgres($pool) => $body,
            $crate::store::Store::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// `with_pool!` for a write made outside a transaction: on SQLite it first waits for this
/// process's turn to write (`write_turns`) and holds it while `$body` runs.
macro_rules! with_write {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::store::Store::Postgres($pool) => $body,
            $crate::store::Store::Sqlite($pool) => {
                let _turn = $crate::store::BeginWrite::write_turn($pool).await;
                $body
            }
        }
    };
}
pub(crate) use with_write;

/// The database authd owns.
#[derive(Clone, Debug)]
pub enum Store {
    /// The production store, shared by every instance.
    Postgres(PgPool),
    /// The embedded default.
    Sqlite(SqlitePool),
}

/// What can go wrong in storage, in terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing asked for does not exist; the message names it.
    #[error("{0}")]
    NotFound(String),
    /// The input names something that does not exist (a role to assign); the message says what.
    #[error("{0}")]
    UnknownReference(String),
    /// A uniqueness rule was broken; the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The delegation rule forbids this admin change.
    #[error(transparent)]
    Refused(#[from] crate::domain::Refusal),
    /// The database cannot be reached right now.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or a corrupt row. Never shown to callers.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(error)
            }
            other => StoreError::Other(anyhow::Error::new(other).context("database query failed")),
        }
    }
}

/// Maps a unique-constraint violation to `Conflict(message)`, anything else as usual.
fn conflict_on_unique(error: sqlx::Error, message: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(message.to_owned())
        }
        _ => error.into(),
    }
}

/// With WAL, no mode corrupts the file; NORMAL may lose the last commits to a power cut.
fn sqlite_synchronous(mode: config::SqliteSynchronous) -> SqliteSynchronous {
    match mode {
        config::SqliteSynchronous::Full => SqliteSynchronous::Full,
        config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
        config::SqliteSynchronous::Extra => SqliteSynchronous::Extra,
    }
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Store {
    /// Opens a pool for `settings.url`; a SQLite file is created if missing.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let url = settings.url.expose();
        let acquire_timeout = Duration::from_secs(settings.acquire_timeout_secs);
        if settings.url.scheme() == "sqlite" {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| anyhow::anyhow!("database.url: {e}"))?
                .create_if_missing(true)
                // WAL lets readers proceed while a writer commits.
                .journal_mode(SqliteJournalMode::Wal)
                // Set on every connection the pool opens, not once: the pragma is per connection.
                .synchronous(sqlite_synchronous(settings.sqlite_synchronous))
                .busy_timeout(write_turns::BUSY_TIMEOUT)
                .foreign_keys(true);
            file_mode::make_database_private(url, options.get_filename())?;
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Store::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| anyhow::anyhow!("database.url: {e}"))?;
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(acquire_timeout)
                .connect_with(options)
                .await?;
            Ok(Store::Postgres(pool))
        }
    }

    /// Applies pending migrations (embedded in the binary).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Store::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
        .map_err(|e| StoreError::Other(anyhow::Error::new(e).context("applying migrations")))
    }

    /// Whether the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => sqlx::query("select 1").execute(pool).await.map(|done| done.rows_affected()))?;
        Ok(())
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Sqlite(_) => "sqlite",
        }
    }

    /// A store over the same database for one background task, with a pool of its own of at
    /// most `max_connections`, opened when the task first uses it. A PostgreSQL connection
    /// belongs to the runtime that opened it, and the pool shared with the HTTP workers holds
    /// connections that theirs opened: at shutdown those die with the workers, before the task
    /// has written its last batch. SQLite connections run on threads of their own: the shared
    /// pool serves.
    pub fn with_own_pool(&self, max_connections: u32) -> Store {
        match self {
            Store::Postgres(pool) => Store::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(pool.options().get_acquire_timeout())
                    .connect_lazy_with(pool.connect_options().as_ref().clone()),
            ),
            Store::Sqlite(_) => self.clone(),
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
    }
}
