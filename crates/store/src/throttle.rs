//! Failed-attempt counters for sign-in and activation, kept in the database so that every portal
//! process sees the same counts.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use sqlx::Row;

/// A key's failure count and lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleState {
    /// Consecutive failures.
    pub failures: i64,
    /// When the last one happened.
    pub last_failure_at: Timestamp,
    /// Until when attempts are refused.
    pub locked_until: Timestamp,
}

/// Reads a key's state.
pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<ThrottleState>> {
    let row =
        sqlx::query("SELECT failures, last_failure_at, locked_until FROM throttle WHERE key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    row.map(|r| {
        Ok(ThrottleState {
            failures: r.try_get("failures")?,
            last_failure_at: from_micros(r.try_get("last_failure_at")?)?,
            locked_until: from_micros(r.try_get("locked_until")?)?,
        })
    })
    .transpose()
}

/// Stores a key's new state.
pub async fn put(conn: &mut Conn, key: &str, state: &ThrottleState) -> Result<()> {
    sqlx::query(
        "INSERT INTO throttle (key, failures, last_failure_at, locked_until) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, \
         last_failure_at = excluded.last_failure_at, locked_until = excluded.locked_until",
    )
    .bind(key)
    .bind(state.failures)
    .bind(to_micros(state.last_failure_at))
    .bind(to_micros(state.locked_until))
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a key (after a success).
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
