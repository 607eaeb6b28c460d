//! The portal's database: one pool over SQLite or PostgreSQL, versioned migrations for both, and
//! one module of plain SQL per aggregate.
//!
//! Every query is written once with `$1` placeholders and runs on either backend through sqlx's
//! `Any` driver; the few statements where the dialects differ live in [`dialect`]. Times are
//! stored as Unix microseconds and ids as UUID text, which both backends hold the same way.

pub mod access;
pub mod appointments;
pub mod audit;
pub mod audit_report;
mod bulk;
pub mod care_team;
pub mod ceiling;
pub mod checkins;
pub mod codes;
pub mod dialect;
pub mod drafts;
pub mod embedded;
pub mod enrolment;
pub mod inbasket;
mod kept;
pub use kept::{Borrows, ReadFuture};
pub mod messages;
pub mod migrate;
pub mod offers;
pub mod outbox;
pub mod packed;
pub mod patients;
pub mod pools;
pub mod proxies;
pub mod records;
pub mod refills;
pub mod resources;
pub mod result_filters;
pub mod schedules;
pub mod served;
pub mod sessions;
pub mod shares;
pub mod smart;
#[cfg(feature = "test-support")]
pub mod testdb;
pub mod throttle;
pub mod tokens;
pub mod users;

use jiff::Timestamp;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions};
use std::str::FromStr;
use std::time::Duration;

pub use sqlx::AnyConnection as Conn;

/// A connection taken from the pool, on either backend.
pub type PoolConn = sqlx::pool::PoolConnection<sqlx::Any>;

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A transaction inside a connection's transaction: a savepoint, undone on its own.
pub type Savepoint<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// Sets a savepoint in the transaction `conn` is in (outside one, begins a transaction).
pub async fn savepoint(conn: &mut Conn) -> Result<Savepoint<'_>> {
    use sqlx::Connection;
    Ok(conn.begin().await?)
}

/// Which database the portal runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (one file, one machine).
    Sqlite,
    /// PostgreSQL (several portal processes may share it).
    Postgres,
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL is neither `sqlite://` nor `postgres://`.
    #[error("unsupported database URL: it must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    /// A unique constraint refused the write (e.g. an e-mail already in use).
    #[error("a record with the same {0} already exists")]
    Conflict(&'static str),
    /// A stored migration differs from the one this build carries.
    #[error("migration {0} was changed after it was applied")]
    MigrationChanged(i64),
    /// The database holds migrations newer than this build knows.
    #[error("the database was migrated by a newer portal (version {0})")]
    MigrationTooNew(i64),
    /// A stored value could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The database failed, read on the caller's thread ([`embedded`]).
    #[error("database error: {0}")]
    Embedded(String),
    /// A capability for other work was passed (a bug in the caller).
    #[error("a capability for {0} is needed")]
    WrongCapability(&'static str),
}

/// Checks that a clinic capability is for `action` (the policy grants one type for all clinic
/// work, so each store function that takes one checks which work it was granted for).
pub(crate) fn require(
    capability: &portal_domain::access::ClinicCapability,
    action: portal_domain::access::ClinicAction,
    what: &'static str,
) -> Result<()> {
    if capability.action() == action {
        Ok(())
    } else {
        Err(Error::WrongCapability(what))
    }
}

/// Connections kept for the statements every request runs: enough for them, with most
/// connections left to the pool.
fn kept_count(max_connections: u32) -> usize {
    usize::try_from(max_connections / 2).unwrap_or(1).max(1)
}

/// Shorthand for store results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The connection pool and what the store needs to know about it.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    kept: std::sync::Arc<kept::Kept>,
    embedded: Option<std::sync::Arc<embedded::Readers>>,
}

/// Microseconds since the Unix epoch, as stored.
pub fn to_micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// Reads a stored time back.
pub fn from_micros(us: i64) -> Result<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| Error::Corrupt(format!("time {us}: {e}")))
}

/// Parses a stored id back into its typed form.
pub fn parse_id<T: FromStr>(s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::Corrupt(format!("id {s:?} is not a UUID")))
}

/// The size of SQLite's write-ahead log past which [`Store::checkpoint`] waits for the writer
/// and empties it.
pub const WAL_LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// How SQLite connections are set up beyond what every connection gets (WAL with `synchronous =
/// NORMAL`, foreign keys, a busy timeout, temporary data in memory). PostgreSQL ignores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SqliteTuning {
    /// Log pages after which a committing connection copies the write-ahead log into the
    /// database file (SQLite's `wal_autocheckpoint`). 0: commits never do; whoever holds the
    /// store runs [`Store::checkpoint`] instead, off the writer's path.
    pub autocheckpoint_pages: u32,
    /// Page cache per connection, in KiB.
    pub cache_kib: u32,
}

impl SqliteTuning {
    /// SQLite's own defaults: right for a server with many short transactions. (The file is not
    /// memory-mapped: a server that touched most of a large database would count all of it in
    /// its resident memory, 1.3 GB in the page benchmark on 10,000 patients.)
    pub const SERVING: Self = Self {
        autocheckpoint_pages: 1000,
        cache_kib: 2000,
    };
    /// For a bulk import: large transactions whose pages stay cached, and no checkpoint inside a
    /// commit (a checkpoint waits on the disk; the importer runs them beside the writer).
    pub const BULK: Self = Self {
        autocheckpoint_pages: 0,
        cache_kib: 32 * 1024,
    };

    fn pragmas(self) -> String {
        format!(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
             PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = {}; PRAGMA cache_size = -{};",
            self.autocheckpoint_pages, self.cache_kib
        )
    }
}

impl Store {
    /// Connects to `url` (`sqlite://PATH` or `postgres://…`). SQLite files are created when
    /// missing and run in WAL mode with foreign keys on.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        Self::connect_tuned(url, max_connections, SqliteTuning::SERVING).await
    }

    /// [`Store::connect`] with SQLite connections set up for `tuning`.
    pub async fn connect_tuned(
        url: &str,
        max_connections: u32,
        tuning: SqliteTuning,
    ) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(Error::UnsupportedUrl);
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            // An embedded database's connection cannot drop away between two uses: a check before
            // each would only be one more hand-off to the connection's thread. A server's can
            // (a restart), so PostgreSQL connections are checked.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(tuning.pragmas()))
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        // The file SQLite itself opened (none in memory), for reads on the caller's thread.
        let embedded = match backend {
            Backend::Sqlite => {
                let file: String =
                    sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                        .fetch_one(&pool)
                        .await?;
                (!file.is_empty()).then(|| {
                    std::sync::Arc::new(embedded::Readers::new(
                        file.into(),
                        kept_count(max_connections),
                    ))
                })
            }
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            backend,
            kept: std::sync::Arc::new(kept::Kept::new(kept_count(max_connections))),
            embedded,
        })
    }

    /// Reads on the caller's thread, for a store on a SQLite file.
    pub fn embedded(&self) -> Option<&embedded::Readers> {
        self.embedded.as_deref()
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for reads that need no transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Runs `read`, statements that only read and do not change the connection's state, on a
    /// connection kept for the statements every request runs (see `kept`): cheaper than one from
    /// the pool, and run again on a fresh one if it fails.
    pub async fn read_kept<'a, T, E: From<Error>>(
        &self,
        read: impl for<'c> Fn(&'c mut Conn, Borrows<'c, 'a>) -> ReadFuture<'c, T, E>,
    ) -> Result<T, E> {
        self.kept.read(&self.pool, read).await
    }

    /// A connection of the pool's own, for one long-lived user (such as the audit writer): it is
    /// not given back, and the pool may open another in its place.
    pub async fn detached(&self) -> Result<Conn> {
        Ok(self.pool.acquire().await?.detach())
    }

    /// [`Store::begin`] on a connection of the caller's.
    pub async fn begin_on<'c>(
        &self,
        conn: &'c mut Conn,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>> {
        use sqlx::Connection;
        Ok(match self.backend {
            Backend::Sqlite => conn.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => conn.begin().await?,
        })
    }

    /// Starts a transaction that only reads: on SQLite it takes no write lock (`BEGIN`,
    /// deferred), so reads run beside each other and beside the writer. A write inside it may
    /// fail with "busy" if another write committed since it began; use [`Store::begin`] to write.
    pub async fn begin_read(&self) -> Result<Tx> {
        Ok(self.pool.begin().await?)
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so a transaction that reads before it writes waits for other writers instead of failing.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Refreshes the query planner's statistics (after a bulk load).
    pub async fn analyze(&self) -> Result<()> {
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    /// Refreshes the statistics of the tables an import looks stored records up in (resources
    /// by sender id and by identifier, patients): what keeps an import's own lookups planned
    /// for the tables' size while it runs. A fraction of [`Store::analyze`]'s work, which also
    /// samples every table the pages read. Of the resources, only the columns looked up by
    /// are sampled (the table's size is counted either way): sampling the packed JSON as well
    /// took twice as long (254,000 resources: 230 ms against 125 ms).
    /// Nothing on SQLite, which plans those lookups on their unique indexes whatever the size.
    pub async fn analyze_lookups(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            return Ok(());
        }
        sqlx::query(
            "ANALYZE fhir_resources (resource_type, source_id, patient_id), fhir_identifiers, \
             patients",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Copies SQLite's write-ahead log into the database file. `truncate`: all of it, waiting
    /// for readers and writers, and empties the log. Otherwise as far as it can without waiting
    /// (beside a writer that keeps committing): such a copy never catches up with the writer,
    /// so the log would never start again from the beginning and would grow by everything
    /// written; once it holds more than [`WAL_LIMIT_BYTES`], this copy waits for the writer's
    /// transaction to end, copies all of it and empties the log. Nothing on PostgreSQL, which
    /// checkpoints by itself.
    pub async fn checkpoint(&self, truncate: bool) -> Result<()> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        if truncate {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
            return Ok(());
        }
        self.checkpoint_within(WAL_LIMIT_BYTES).await
    }

    /// The copy of [`Store::checkpoint`] that does not wait, emptying the log past `limit` bytes.
    async fn checkpoint_within(&self, limit: u64) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut *conn)
            .await?;
        // (busy, frames in the log, frames copied); -1 when the database is not in WAL mode.
        let frames: i64 = sqlx::Row::try_get(&row, 1)?;
        let page: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut *conn)
            .await?;
        // Each frame is a page and a 24-byte header.
        let log_bytes = u64::try_from(frames.max(0) * (page + 24)).unwrap_or(u64::MAX);
        if log_bytes > limit {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.kept.close().await;
        self.pool.close().await;
    }
}

/// Maps a unique-constraint violation to [`Error::Conflict`] naming `what`.
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict(what),
        _ => Error::Database(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn a_copy_beside_a_writer_empties_the_log_once_it_passes_the_limit() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect_tuned(&url, 2, SqliteTuning::BULK)
            .await
            .expect("store");
        sqlx::query("CREATE TABLE t (v TEXT)")
            .execute(store.pool())
            .await
            .expect("table");
        let wal = dir.path().join("t.db-wal");
        let log_size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let row = "x".repeat(4000);
        for _ in 0..300 {
            sqlx::query("INSERT INTO t (v) VALUES ($1)")
                .bind(&row)
                .execute(store.pool())
                .await
                .expect("insert");
        }
        assert!(
            log_size() > 1_000_000,
            "the bulk store leaves copying to its holder"
        );
        store.checkpoint_within(u64::MAX).await.expect("copy");
        assert!(
            log_size() > 1_000_000,
            "under the limit the log is copied, not emptied"
        );
        store.checkpoint_within(1_000_000).await.expect("copy");
        assert_eq!(log_size(), 0, "past the limit the log is emptied");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(n, 300);
    }

    async fn pragma(store: &Store, name: &str) -> i64 {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(store.pool())
            .await
            .expect("pragma");
        row.try_get(0).expect("a number")
    }

    #[tokio::test]
    async fn a_bulk_store_leaves_checkpoints_to_its_holder_and_caches_more() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let serving = Store::connect(&url, 1).await.expect("store");
        assert_eq!(pragma(&serving, "wal_autocheckpoint").await, 1000);
        assert_eq!(pragma(&serving, "foreign_keys").await, 1);
        serving.close().await;

        let bulk = Store::connect_tuned(&url, 1, SqliteTuning::BULK)
            .await
            .expect("store");
        assert_eq!(pragma(&bulk, "wal_autocheckpoint").await, 0);
        assert_eq!(pragma(&bulk, "cache_size").await, -32 * 1024);
        assert_eq!(pragma(&bulk, "foreign_keys").await, 1);
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(bulk.pool())
            .await
            .expect("write");
        bulk.checkpoint(false).await.expect("passive checkpoint");
        bulk.checkpoint(true).await.expect("full checkpoint");
        let wal = dir.path().join("t.db-wal");
        assert_eq!(
            std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
            0,
            "the log is emptied"
        );
    }
}
