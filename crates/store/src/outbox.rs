//! The durable outbox: e-mail written in the same transaction as the change that caused it,
//! delivered later by a background worker, retried until it goes.

use crate::{Backend, Conn, Result, dialect, to_micros};
use jiff::Timestamp;
use sqlx::Row;

/// A message waiting to go.
#[derive(Clone)]
pub struct OutboxMessage {
    /// The message's id.
    pub id: String,
    /// What kind ("password-reset", …).
    pub kind: String,
    /// The address.
    pub recipient: String,
    /// The subject line.
    pub subject: String,
    /// The body as the app stored it (the app seals it: it may carry a reset link; never
    /// health data).
    pub body: String,
    /// How many times delivery was tried, including this one.
    pub attempts: i64,
    /// A file sent with it: its name and content as the app stored it (sealed like the body).
    pub attachment: Option<(String, String)>,
}

impl std::fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Queues a message.
pub async fn enqueue(
    conn: &mut Conn,
    id: &str,
    kind: &str,
    recipient: &str,
    subject: &str,
    body: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, kind, recipient, subject, body, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(id)
    .bind(kind)
    .bind(recipient)
    .bind(subject)
    .bind(body)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a file to a queued message, in the transaction that queued it.
pub async fn attach(conn: &mut Conn, id: &str, name: &str, content: &str) -> Result<()> {
    sqlx::query("UPDATE outbox SET attachment_name = $2, attachment = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(content)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims the next due message for this worker until `lock_until`; no other worker gets it
/// in the meantime.
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    now: Timestamp,
    lock_until: Timestamp,
) -> Result<Option<OutboxMessage>> {
    let row = sqlx::query(dialect::claim_outbox(backend))
        .bind(to_micros(now))
        .bind(to_micros(lock_until))
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(OutboxMessage {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            recipient: r.try_get("recipient")?,
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            attempts: r.try_get("attempts")?,
            attachment: match (
                r.try_get::<Option<String>, _>("attachment_name")?,
                r.try_get::<Option<String>, _>("attachment")?,
            ) {
                (Some(name), Some(content)) => Some((name, content)),
                _ => None,
            },
        })
    })
    .transpose()
}

/// Records a delivery.
pub async fn mark_sent(conn: &mut Conn, id: &str, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET sent_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2",
    )
    .bind(to_micros(now))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed delivery and when to try again.
pub async fn mark_failed(
    conn: &mut Conn,
    id: &str,
    error: &str,
    retry_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET locked_until = NULL, next_attempt_at = $1, last_error = $2 WHERE id = $3",
    )
    .bind(to_micros(retry_at))
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many messages are waiting (for /metrics).
pub async fn pending(conn: &mut Conn) -> Result<i64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL")
        .fetch_one(conn)
        .await?;
    Ok(row.try_get("n")?)
}
