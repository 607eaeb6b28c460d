//! Drafts of messages: one per writer, record and conversation, kept until sent or discarded.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use portal_domain::access::PatientAccess;
use portal_domain::{ConversationId, UserId};
use sqlx::Row;

/// A kept draft, as typed (not yet validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Draft {
    /// The chosen recipient's form text (new conversations).
    pub recipient: String,
    /// The chosen topic's form text (new conversations).
    pub topic: String,
    /// The subject as typed (new conversations).
    pub subject: String,
    /// The text as typed.
    pub body: String,
    /// When it was saved (`None` for a draft never saved).
    pub saved_at: Option<Timestamp>,
}

fn key(conversation: Option<ConversationId>) -> String {
    conversation.map(|c| c.to_string()).unwrap_or_default()
}

/// The writer's draft for a new conversation (`None`) or a reply.
pub async fn find(
    conn: &mut Conn,
    access: &PatientAccess,
    writer: UserId,
    conversation: Option<ConversationId>,
) -> Result<Option<Draft>> {
    let row = sqlx::query(
        "SELECT recipient, topic, subject, body, saved_at FROM message_drafts \
         WHERE user_id = $1 AND patient_id = $2 AND conversation_key = $3",
    )
    .bind(writer.to_string())
    .bind(access.patient().to_string())
    .bind(key(conversation))
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Draft {
            recipient: r.try_get("recipient")?,
            topic: r.try_get("topic")?,
            subject: r.try_get("subject")?,
            body: r.try_get("body")?,
            saved_at: Some(from_micros(r.try_get("saved_at")?)?),
        })
    })
    .transpose()
}

/// Keeps the writer's draft, replacing an earlier one.
pub async fn save(
    conn: &mut Conn,
    access: &PatientAccess,
    writer: UserId,
    conversation: Option<ConversationId>,
    draft: &Draft,
    now: Timestamp,
) -> Result<()> {
    discard(conn, access, writer, conversation).await?;
    sqlx::query(
        "INSERT INTO message_drafts (user_id, patient_id, conversation_key, recipient, topic, \
         subject, body, saved_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(writer.to_string())
    .bind(access.patient().to_string())
    .bind(key(conversation))
    .bind(&draft.recipient)
    .bind(&draft.topic)
    .bind(&draft.subject)
    .bind(&draft.body)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Drops the writer's draft, if any.
pub async fn discard(
    conn: &mut Conn,
    access: &PatientAccess,
    writer: UserId,
    conversation: Option<ConversationId>,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM message_drafts WHERE user_id = $1 AND patient_id = $2 \
         AND conversation_key = $3",
    )
    .bind(writer.to_string())
    .bind(access.patient().to_string())
    .bind(key(conversation))
    .execute(conn)
    .await?;
    Ok(())
}
