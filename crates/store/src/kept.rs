//! Connections kept out of the pool for the statements every request runs.
//!
//! A connection given back to sqlx's pool is first tested with a round trip to the database (on
//! SQLite, a hand-off to the connection's thread and back; on PostgreSQL, to the server), in a
//! task spawned for it: for a request whose only statement is reading its session, that doubles
//! the work. Connections kept here are given back without that test, and only when the
//! statements run on them succeeded. A connection whose work failed, or whose caller stopped
//! waiting in the middle (a dropped request), is closed instead, so none is reused in a state
//! nobody knows; the next use takes another from the pool.

use crate::{Conn, Result};
use sqlx::AnyPool;
use std::sync::Mutex;

/// What a read on a kept connection gives: its future, boxed (so that it can be shown to be
/// `Send` whatever the connection's lifetime).
pub type ReadFuture<'c, T, E = crate::Error> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, E>> + Send + 'c>>;

/// The second argument of a read on a kept connection: it says that what the read borrows (for
/// `'a`) outlives the connection's loan (`'c`), so the read's future may borrow both.
pub type Borrows<'c, 'a> = std::marker::PhantomData<&'c &'a ()>;

/// Connections taken out of the pool (detached, so the pool may open others in their place).
#[derive(Debug)]
pub(crate) struct Kept {
    state: Mutex<State>,
    /// Most connections kept, idle and in use.
    most: usize,
}

#[derive(Debug, Default)]
struct State {
    idle: Vec<Conn>,
    /// Kept connections in use.
    busy: usize,
    /// Set once the store closes: nothing is kept after.
    closed: bool,
}

/// A kept connection in use: counted until it is given back or dropped (closing it).
struct InUse<'k> {
    kept: &'k Kept,
    conn: Option<Conn>,
}

impl InUse<'_> {
    fn give_back(mut self) {
        if let (Some(conn), Ok(mut state)) = (self.conn.take(), self.kept.state.lock()) {
            state.busy = state.busy.saturating_sub(1);
            if !state.closed {
                state.idle.push(conn);
            }
        }
    }
}

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        if self.conn.is_some()
            && let Ok(mut state) = self.kept.state.lock()
        {
            state.busy = state.busy.saturating_sub(1);
        }
    }
}

impl Kept {
    pub(crate) fn new(most: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            most,
        }
    }

    /// Closes every idle connection and keeps none from now on (those in use are closed when
    /// their work ends).
    pub(crate) async fn close(&self) {
        let idle: Vec<Conn> = match self.state.lock() {
            Ok(mut state) => {
                state.closed = true;
                std::mem::take(&mut state.idle)
            }
            Err(_) => Vec::new(),
        };
        for conn in idle {
            let _ = sqlx::Connection::close(conn).await;
        }
    }

    /// An idle kept connection, marked in use.
    fn take(&self) -> Option<InUse<'_>> {
        let mut state = self.state.lock().ok()?;
        let conn = state.idle.pop()?;
        state.busy += 1;
        Some(InUse {
            kept: self,
            conn: Some(conn),
        })
    }

    /// Whether one more connection may be kept; if so, it is counted in use.
    fn make_room(&self) -> bool {
        match self.state.lock() {
            Ok(mut state) if !state.closed && state.idle.len() + state.busy < self.most => {
                state.busy += 1;
                true
            }
            _ => false,
        }
    }

    /// Runs `read`, statements that only read, on a kept connection, or on one from `pool` (kept
    /// afterwards if fewer than the most are). A read that fails on a kept connection, which may
    /// have broken since its last use (a restarted database server), is run once more on one
    /// from the pool, which tests it first where the backend needs it.
    pub(crate) async fn read<'a, T, E: From<crate::Error>>(
        &self,
        pool: &AnyPool,
        read: impl for<'c> Fn(&'c mut Conn, Borrows<'c, 'a>) -> ReadFuture<'c, T, E>,
    ) -> Result<T, E> {
        if let Some(mut in_use) = self.take()
            && let Some(conn) = in_use.conn.as_mut()
            && let Ok(out) = read(conn, std::marker::PhantomData).await
        {
            in_use.give_back();
            return Ok(out);
        }
        let mut conn = pool.acquire().await.map_err(crate::Error::from)?;
        let out = read(&mut conn, std::marker::PhantomData).await?;
        if self.make_room() {
            InUse {
                kept: self,
                conn: Some(conn.detach()),
            }
            .give_back();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Error, Store};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Whether the connection `conn` is the one `mark` was run on (a temporary table lives and
    /// dies with its connection).
    async fn marked(conn: &mut crate::Conn) -> crate::Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_temp_master WHERE name = 'kept_mark'")
                .fetch_one(conn)
                .await?;
        Ok(n > 0)
    }

    async fn mark(conn: &mut crate::Conn) -> crate::Result<()> {
        sqlx::query("CREATE TEMP TABLE kept_mark (x INTEGER)")
            .execute(conn)
            .await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_kept_connection_is_reused_and_one_whose_read_failed_never_is() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        let store = Store::connect(&url, 2).await.expect("store");
        // The first read takes a connection from the pool and keeps it.
        store
            .read_kept(|conn, _| Box::pin(async move { mark(conn).await }))
            .await
            .expect("marked");
        let again = store
            .read_kept(|conn, _| Box::pin(async move { marked(conn).await }))
            .await
            .expect("read");
        assert!(again, "the kept connection was used again");

        // A read that fails on the kept connection runs once more, on another connection.
        let runs = AtomicUsize::new(0);
        let out = store
            .read_kept(|conn, _| {
                let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
                Box::pin(async move {
                    if first {
                        assert!(marked(conn).await?, "the kept connection first");
                        return Err(Error::Corrupt("a failed read".into()));
                    }
                    marked(conn).await
                })
            })
            .await
            .expect("run again");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert!(!out, "run again on another connection");
        // The connection whose read failed was closed, not kept.
        for _ in 0..4 {
            let seen = store
                .read_kept(|conn, _| Box::pin(async move { marked(conn).await }))
                .await
                .expect("read");
            assert!(!seen, "the failed connection is never used again");
        }
    }

    #[tokio::test]
    async fn no_more_connections_are_kept_than_the_most() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("k.db").display());
        // A pool of 4: at most 2 kept.
        let store = Store::connect(&url, 4).await.expect("store");
        let gate = std::sync::Arc::new(tokio::sync::Barrier::new(4));
        let read = || {
            store.read_kept::<_, Error>(|conn, _| {
                let gate = gate.clone();
                Box::pin(async move {
                    let _: i64 = sqlx::query_scalar("SELECT 1").fetch_one(conn).await?;
                    gate.wait().await;
                    Ok(())
                })
            })
        };
        let (a, b, c, d) = tokio::join!(read(), read(), read(), read());
        for done in [a, b, c, d] {
            done.expect("read");
        }
        let state = store.kept.state.lock().expect("state");
        assert_eq!(state.busy, 0);
        assert_eq!(state.idle.len(), 2);
    }
}
