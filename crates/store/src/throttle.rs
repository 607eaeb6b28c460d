//! Failed-attempt counters for sign-in and activation, kept in the database so that every portal
//! process sees the same counts.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use sqlx::Row;

/// Forgets a key (after a success).
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM throttle WHERE key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// What [`reserve`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt was taken: the key now counts this many failures, this one included.
    Taken(i64),
    /// The key is locked until then; nothing was counted.
    Locked(Timestamp),
}

/// Takes one attempt on `key` before it is evaluated: counts it as a failure in one statement,
/// unless the key is locked, so however many attempts arrive at once each sees the count of
/// those before it. Failures last counted before `forget_before` start again from one. The
/// caller sets the lock the new count earns ([`lock`]) in the same transaction, and gives the
/// attempt back ([`give_back`]) if it succeeds.
pub async fn reserve(
    conn: &mut Conn,
    key: &str,
    now: Timestamp,
    forget_before: Timestamp,
) -> Result<Reservation> {
    let now_us = to_micros(now);
    let taken: Option<i64> = sqlx::query_scalar(
        "INSERT INTO throttle (key, failures, last_failure_at, locked_until) \
         VALUES ($1, 1, $2, $2) \
         ON CONFLICT (key) DO UPDATE SET \
         failures = CASE WHEN throttle.last_failure_at < $3 THEN 1 \
         ELSE throttle.failures + 1 END, \
         last_failure_at = excluded.last_failure_at \
         WHERE throttle.locked_until <= excluded.last_failure_at \
         RETURNING failures",
    )
    .bind(key)
    .bind(now_us)
    .bind(to_micros(forget_before))
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(failures) = taken {
        return Ok(Reservation::Taken(failures));
    }
    let until: i64 = sqlx::query_scalar("SELECT locked_until FROM throttle WHERE key = $1")
        .bind(key)
        .fetch_one(conn)
        .await?;
    Ok(Reservation::Locked(from_micros(until)?))
}

/// Locks a key until `until`.
pub async fn lock(conn: &mut Conn, key: &str, until: Timestamp) -> Result<()> {
    sqlx::query("UPDATE throttle SET locked_until = $2 WHERE key = $1")
        .bind(key)
        .bind(to_micros(until))
        .execute(conn)
        .await?;
    Ok(())
}

/// Gives back an attempt [`reserve`] took that succeeded: one failure fewer, and no lock once
/// the count is below `free_failures` again.
pub async fn give_back(
    conn: &mut Conn,
    key: &str,
    free_failures: i64,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE throttle SET failures = failures - 1, \
         locked_until = CASE WHEN failures - 1 < $2 AND locked_until > $3 THEN $3 \
         ELSE locked_until END \
         WHERE key = $1 AND failures > 0",
    )
    .bind(key)
    .bind(free_failures)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The keys starting with `prefix` that are locked at `now`, with until when.
pub async fn locked_with_prefix(
    conn: &mut Conn,
    prefix: &str,
    now: Timestamp,
) -> Result<std::collections::HashMap<String, Timestamp>> {
    let rows = sqlx::query(
        "SELECT key, locked_until FROM throttle WHERE key LIKE $1 AND locked_until > $2",
    )
    .bind(format!("{prefix}%"))
    .bind(to_micros(now))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>("key")?,
                crate::from_micros(r.try_get("locked_until")?)?,
            ))
        })
        .collect()
}

/// Until when `key` is locked, if it is locked at `now`.
pub async fn locked_until(conn: &mut Conn, key: &str, now: Timestamp) -> Result<Option<Timestamp>> {
    let until: Option<i64> = sqlx::query_scalar(
        "SELECT locked_until FROM throttle WHERE key = $1 AND locked_until > $2",
    )
    .bind(key)
    .bind(to_micros(now))
    .fetch_optional(conn)
    .await?;
    until.map(crate::from_micros).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).expect("valid")
    }

    #[tokio::test]
    async fn reservations_count_until_locked_and_old_failures_are_forgotten() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url, 1).await.expect("store");
        store.migrate(t(0)).await.expect("migrate");
        let mut conn = store.pool().acquire().await.expect("conn");
        for n in 1..=3 {
            let r = reserve(&mut conn, "k", t(n), t(n - 3600))
                .await
                .expect("reserve");
            assert_eq!(r, Reservation::Taken(n));
        }
        lock(&mut conn, "k", t(100)).await.expect("lock");
        let r = reserve(&mut conn, "k", t(50), t(50 - 3600))
            .await
            .expect("reserve");
        assert_eq!(r, Reservation::Locked(t(100)));
        give_back(&mut conn, "k", 3, t(60))
            .await
            .expect("give back");
        let r = reserve(&mut conn, "k", t(61), t(61 - 3600))
            .await
            .expect("reserve");
        assert_eq!(r, Reservation::Taken(3), "unlocked below the free count");
        let r = reserve(&mut conn, "k", t(9000), t(9000 - 3600))
            .await
            .expect("reserve");
        assert_eq!(
            r,
            Reservation::Taken(1),
            "an hour later the count starts again"
        );
        clear(&mut conn, "k").await.expect("clear");
        let r = reserve(&mut conn, "k", t(9001), t(9001 - 3600))
            .await
            .expect("reserve");
        assert_eq!(r, Reservation::Taken(1));
        drop(conn);
        store.close().await;
    }
}
