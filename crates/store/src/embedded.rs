//! Reads on the caller's thread, for a store on a SQLite file.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is handed to that
//! thread and the request waits to be woken with the rows, two thread switches a statement.
//! With few clients the page benchmark's machine was busier switching than working. The
//! statement every signed-in request runs (its session, account and the access policy's facts,
//! see [`crate::sessions::find_here`]) runs instead on connections of SQLite's own driver
//! (`rusqlite`, on the same SQLite library as sqlx's, so both see each other's locks), on the
//! request's own thread. A read in WAL mode does not wait for the writer; it holds the thread
//! for the tens of microseconds the statement takes.
//!
//! The connections are opened read-only and refuse writes (`query_only`): every write goes
//! through the pool, in its transaction, except the audit writer's batches, which one
//! long-lived writer appends on a thread of its own with [`Readers::writer`] (see
//! [`crate::audit::append_here`]): no hand-off to a connection's thread and back a batch.

use crate::{Error, Result};
use std::path::PathBuf;
use std::sync::Mutex;

/// Read-only connections to one SQLite file, opened when first needed, up to a number kept.
#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    kept: usize,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

/// A failure of SQLite's own driver, as the store's error.
pub(crate) fn error(e: rusqlite::Error) -> Error {
    Error::Embedded(e.to_string())
}

impl Readers {
    /// Connections to the SQLite file at `path`, keeping up to `kept` idle ones.
    pub(crate) fn new(path: PathBuf, kept: usize) -> Readers {
        Readers {
            path,
            kept,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<rusqlite::Connection> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        conn.execute_batch("PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;")
            .map_err(error)?;
        Ok(conn)
    }

    /// A connection to the same file that writes, for one long-lived writer (the audit
    /// writer, see [`Writer`]): set up as the pool's serving connections are
    /// ([`crate::SqliteTuning::SERVING`]), except that its commits never copy the log into the
    /// database file (its owner has that done elsewhere, see [`Writer::log_pages`]) and that it
    /// does not wait for the write lock unless told to ([`Writer::wait_for_lock`]).
    pub fn writer(&self) -> Result<Writer> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        conn.execute_batch(&crate::SqliteTuning::SERVING.pragmas())
            .map_err(error)?;
        conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA busy_timeout = 0;")
            .map_err(error)?;
        // Set after the pragma, which installs a hook of its own.
        conn.wal_hook(Some(note_log_pages));
        Ok(Writer { conn, log_pages: 0 })
    }

    /// Runs `read` on one of these connections, on this thread. A connection whose read failed
    /// is closed rather than kept.
    pub fn read<T>(&self, read: impl FnOnce(&rusqlite::Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let out = read(&conn);
        if out.is_ok() && conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.kept {
                idle.push(conn);
            }
        }
        out
    }
}

/// A connection that writes, from [`Readers::writer`]. Its transactions are short enough to
/// run on an async runtime's worker thread while no other connection holds SQLite's write lock:
/// a statement that finds the lock taken gives up at once rather than block the thread (see
/// [`crate::audit::append_here`]); [`Writer::wait_for_lock`] makes it wait, on a thread that may
/// block.
#[derive(Debug)]
pub struct Writer {
    pub(crate) conn: rusqlite::Connection,
    log_pages: u32,
}

/// How long a waiting [`Writer`] waits for the write lock, as the pool's connections do.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

std::thread_local! {
    /// The pages in the log after the last commit on this thread, from [`note_log_pages`].
    static LOG_PAGES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// SQLite's hook after each commit of a [`Writer`], on the committing thread.
fn note_log_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(u32::try_from(pages).unwrap_or(0));
    Ok(())
}

impl Writer {
    /// Whether this connection's statements wait for SQLite's write lock (up to ten seconds,
    /// as the pool's do) or give up at once.
    pub fn wait_for_lock(&mut self, wait: bool) -> Result<()> {
        let timeout = if wait {
            LOCK_WAIT
        } else {
            std::time::Duration::ZERO
        };
        self.conn.busy_timeout(timeout).map_err(error)
    }

    /// The pages in the write-ahead log after this connection's last commit: what is still to
    /// be copied into the database file (and what makes every reader's first read slower).
    pub fn log_pages(&self) -> u32 {
        self.log_pages
    }

    /// Notes the log's size after a commit on this thread.
    pub(crate) fn committed(&mut self) {
        self.log_pages = LOG_PAGES.take();
    }
}

/// Binds `values` to a statement's parameters `$1`, `$2`, … (the numbered parameters the
/// store's statements use on both databases); a number the statement does not use is skipped.
pub(crate) fn bind_numbered(
    statement: &mut rusqlite::CachedStatement<'_>,
    values: &[&dyn rusqlite::ToSql],
) -> Result<()> {
    for (i, value) in values.iter().enumerate() {
        if let Some(at) = statement
            .parameter_index(&format!("${}", i + 1))
            .map_err(error)?
        {
            statement.raw_bind_parameter(at, value).map_err(error)?;
        }
    }
    Ok(())
}

/// A row's cells by column name, on either driver: what lets one function decode a row of
/// sqlx's and of SQLite's own driver.
pub(crate) trait Cells {
    /// The cell of column `name`.
    fn cell<T: Cell>(&self, name: &str) -> Result<T>;
}

/// A value both drivers decode.
pub(crate) trait Cell:
    for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl<T> Cell for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + rusqlite::types::FromSql
{
}

impl Cells for sqlx::any::AnyRow {
    fn cell<T: Cell>(&self, name: &str) -> Result<T> {
        use sqlx::Row;
        Ok(self.try_get(name)?)
    }
}

/// A statement's columns by name, found once for all its rows: rusqlite finds a column by
/// name by comparing it with each column's in turn, a tenth of an access-log view's time.
pub(crate) struct Columns(std::collections::HashMap<String, usize>);

impl Columns {
    /// The columns of `statement`.
    pub(crate) fn of(statement: &rusqlite::Statement<'_>) -> Columns {
        Columns(
            statement
                .column_names()
                .into_iter()
                .enumerate()
                .map(|(at, name)| (name.to_string(), at))
                .collect(),
        )
    }

    /// `row`, whose cells are found by these names.
    pub(crate) fn of_row<'r, 's>(&'r self, row: &'r rusqlite::Row<'s>) -> Named<'r, 's> {
        Named { row, columns: self }
    }
}

/// A row of SQLite's own driver with its statement's [`Columns`].
pub(crate) struct Named<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    columns: &'r Columns,
}

impl Cells for Named<'_, '_> {
    fn cell<T: Cell>(&self, name: &str) -> Result<T> {
        let at = self
            .columns
            .0
            .get(name)
            .ok_or_else(|| Error::Embedded(format!("no column {name}")))?;
        self.row.get(*at).map_err(error)
    }
}
