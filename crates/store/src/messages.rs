//! Conversations between a patient's side and the clinic: their messages, attachments, internal
//! notes, routing and drafts. Every function about one patient's conversations takes the
//! policy's `PatientAccess` and puts its patient in the `WHERE`.

use crate::{Conn, Error, Result, conflict_as, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ConversationFacts, PatientAccess};
use portal_domain::messages::attachment::{FileName, Kind};
use portal_domain::messages::{Body, Recipient, Side, Status, Subject, Topic};
use portal_domain::{AttachmentId, ConversationId, MessageId, PatientId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// A conversation as lists and its page show it.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// Its id.
    pub id: ConversationId,
    /// Whose record it is in.
    pub patient: PatientId,
    /// What it is about.
    pub topic: Topic,
    /// Its subject.
    pub subject: Subject,
    /// Where it is routed.
    pub routed_to: Recipient,
    /// The name of the clinician or pool it is routed to.
    pub routed_name: String,
    /// Where it stands.
    pub status: Status,
    /// When it started.
    pub started_at: Timestamp,
    /// When its last message was sent.
    pub last_message_at: Timestamp,
    /// Since when a message from the patient's side waits for an answer.
    pub waiting_since: Option<Timestamp>,
    /// The conversation it was started from, if any.
    pub follows: Option<ConversationId>,
    /// Messages the reader's side has not opened.
    pub unread: i64,
}

const CONVERSATION_COLUMNS: &str = "c.id, c.patient_id, c.topic, c.subject, c.assigned_user_id, \
     c.assigned_pool_id, c.status, c.started_at, c.last_message_at, c.waiting_since, \
     c.follows_id, COALESCE(u.name, p.name, '') AS routed_name";

const ROUTED_JOINS: &str = "LEFT JOIN users u ON u.id = c.assigned_user_id \
     LEFT JOIN pools p ON p.id = c.assigned_pool_id";

fn conversation(row: &AnyRow, unread: i64) -> Result<Conversation> {
    let user: Option<String> = row.try_get("assigned_user_id")?;
    let pool: Option<String> = row.try_get("assigned_pool_id")?;
    let routed_to = match (user, pool) {
        (Some(u), _) => Recipient::Clinician(parse_id(&u)?),
        (None, Some(p)) => Recipient::Pool(parse_id(&p)?),
        (None, None) => return Err(Error::Corrupt("a conversation routed nowhere".into())),
    };
    let topic: String = row.try_get("topic")?;
    let subject: String = row.try_get("subject")?;
    let follows: Option<String> = row.try_get("follows_id")?;
    let waiting: Option<i64> = row.try_get("waiting_since")?;
    Ok(Conversation {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        patient: parse_id(&row.try_get::<String, _>("patient_id")?)?,
        topic: Topic::parse(&topic).map_err(|e| Error::Corrupt(e.0))?,
        subject: Subject::parse(&subject).map_err(|e| Error::Corrupt(e.0))?,
        routed_to,
        routed_name: row.try_get("routed_name")?,
        status: Status::from_stored(&row.try_get::<String, _>("status")?),
        started_at: from_micros(row.try_get("started_at")?)?,
        last_message_at: from_micros(row.try_get("last_message_at")?)?,
        waiting_since: waiting.map(from_micros).transpose()?,
        follows: follows.as_deref().map(parse_id).transpose()?,
        unread,
    })
}

/// The facts the policy decides one conversation on for `user`: its patient, where it is
/// routed, and whether the user is in its pool. `None`: no such conversation.
pub async fn conversation_facts(
    conn: &mut Conn,
    conversation: ConversationId,
    user: Option<UserId>,
) -> Result<Option<ConversationFacts>> {
    let row = sqlx::query(
        "SELECT c.patient_id, c.assigned_user_id, \
         EXISTS (SELECT 1 FROM pool_members m WHERE m.pool_id = c.assigned_pool_id \
                 AND m.user_id = $2) AS in_pool \
         FROM conversations c WHERE c.id = $1",
    )
    .bind(conversation.to_string())
    .bind(user.map(|u| u.to_string()).unwrap_or_default())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let assigned: Option<String> = r.try_get("assigned_user_id")?;
        Ok(ConversationFacts {
            patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
            assigned_user: assigned.as_deref().map(parse_id).transpose()?,
            in_assigned_pool: truthy(&r, "in_pool")?,
        })
    })
    .transpose()
}

/// The conversation an attachment belongs to, for the policy to decide on.
pub async fn attachment_conversation(
    conn: &mut Conn,
    attachment: AttachmentId,
) -> Result<Option<ConversationId>> {
    let row = sqlx::query(
        "SELECT m.conversation_id FROM message_attachments a \
         JOIN messages m ON m.id = a.message_id WHERE a.id = $1",
    )
    .bind(attachment.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| parse_id(&r.try_get::<String, _>("conversation_id")?))
        .transpose()
}

fn truthy(row: &AnyRow, column: &str) -> Result<bool> {
    // EXISTS is a boolean on PostgreSQL and an integer on SQLite.
    if let Ok(b) = row.try_get::<bool, _>(column) {
        return Ok(b);
    }
    Ok(row.try_get::<i64, _>(column)? != 0)
}

/// A recipient the compose page offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offered {
    /// Who.
    pub recipient: Recipient,
    /// Their name.
    pub name: String,
}

/// Whom the patient's side may write to: the clinicians on the patient's care team, then the
/// clinic's offered pools, each in name order.
pub async fn recipients(conn: &mut Conn, access: &PatientAccess) -> Result<Vec<Offered>> {
    let rows = sqlx::query(
        "SELECT 'user' AS kind, u.id, u.name FROM care_team t JOIN users u ON u.id = t.user_id \
         WHERE t.patient_id = $1 AND u.role = 'clinician' AND u.status = 'active' \
         UNION ALL SELECT 'pool' AS kind, id, name FROM pools WHERE offered <> 0 \
         ORDER BY kind DESC, name",
    )
    .bind(access.patient().to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id: String = r.try_get("id")?;
            let kind: String = r.try_get("kind")?;
            Ok(Offered {
                recipient: if kind == "user" {
                    Recipient::Clinician(parse_id(&id)?)
                } else {
                    Recipient::Pool(parse_id(&id)?)
                },
                name: r.try_get("name")?,
            })
        })
        .collect()
}

/// A message to store.
pub struct NewMessage<'a> {
    /// Its id.
    pub id: MessageId,
    /// Who wrote it.
    pub author: UserId,
    /// Which side they write for.
    pub side: Side,
    /// The text.
    pub body: &'a Body,
    /// The form's one-time key.
    pub send_key: &'a str,
    /// Its files, already judged.
    pub attachments: &'a [NewAttachment],
}

/// A judged file to store with a message.
#[derive(Clone)]
pub struct NewAttachment {
    /// Its id.
    pub id: AttachmentId,
    /// Its cleaned name.
    pub name: FileName,
    /// What its content is.
    pub kind: Kind,
    /// Its content.
    pub content: Vec<u8>,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl std::fmt::Debug for NewAttachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "NewAttachment({}, {} bytes)",
            self.kind.as_str(),
            self.content.len()
        )
    }
}

/// The message a form's one-time key already stored, if any (a form sent twice).
pub async fn message_by_key(
    conn: &mut Conn,
    access: &PatientAccess,
    send_key: &str,
) -> Result<Option<(ConversationId, MessageId)>> {
    let row = sqlx::query(
        "SELECT conversation_id, id FROM messages WHERE send_key = $1 AND patient_id = $2",
    )
    .bind(send_key)
    .bind(access.patient().to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok((
            parse_id(&r.try_get::<String, _>("conversation_id")?)?,
            parse_id(&r.try_get::<String, _>("id")?)?,
        ))
    })
    .transpose()
}

/// Starts a conversation with its first message.
#[allow(clippy::too_many_arguments)]
pub async fn start(
    conn: &mut Conn,
    access: &PatientAccess,
    id: ConversationId,
    topic: Topic,
    subject: &Subject,
    recipient: Recipient,
    follows: Option<ConversationId>,
    first: &NewMessage<'_>,
    now: Timestamp,
) -> Result<()> {
    let (user, pool) = match recipient {
        Recipient::Clinician(u) => (Some(u.to_string()), None),
        Recipient::Pool(p) => (None, Some(p.to_string())),
    };
    let waiting = (first.side == Side::Patient).then_some(to_micros(now));
    sqlx::query(
        "INSERT INTO conversations (id, patient_id, topic, subject, assigned_user_id, \
         assigned_pool_id, status, started_by, started_at, last_message_at, waiting_since, \
         follows_id, clinic_unread) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $8, $9, $10, \
         $11)",
    )
    .bind(id.to_string())
    .bind(access.patient().to_string())
    .bind(topic.as_str())
    .bind(subject.as_str())
    .bind(user)
    .bind(pool)
    .bind(first.author.to_string())
    .bind(to_micros(now))
    .bind(waiting)
    .bind(follows.map(|f| f.to_string()))
    .bind(i64::from(first.side == Side::Patient))
    .execute(&mut *conn)
    .await?;
    requeue(conn, id).await?;
    insert_message(conn, access, id, first, now).await
}

/// Added to the in-basket key of a conversation with nothing unread, so unread ones come first
/// (timestamps in microseconds stay far below it).
const NOTHING_UNREAD: i64 = 1 << 62;

/// Rewrites the conversation's in-basket key from its unread count and wait (after either
/// changed): unread first, then the longest wait.
async fn requeue(conn: &mut Conn, id: ConversationId) -> Result<()> {
    sqlx::query(
        "UPDATE conversations SET queue_key = CASE WHEN clinic_unread > 0 THEN 0 ELSE $2 END \
         + COALESCE(waiting_since, last_message_at) WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(NOTHING_UNREAD)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a message to a conversation of the access's patient and moves the conversation to
/// `status`. `false`: no such conversation in this record.
pub async fn add(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    message: &NewMessage<'_>,
    status: Status,
    now: Timestamp,
) -> Result<bool> {
    // A message from the patient's side starts the wait for an answer unless one already
    // runs; the clinic's answer ends it.
    let sql = match message.side {
        Side::Patient => {
            "UPDATE conversations SET status = $3, last_message_at = $4, \
             waiting_since = COALESCE(waiting_since, $4), clinic_unread = clinic_unread + 1 \
             WHERE id = $1 AND patient_id = $2"
        }
        Side::Clinic => {
            "UPDATE conversations SET status = $3, last_message_at = $4, waiting_since = NULL \
             WHERE id = $1 AND patient_id = $2"
        }
    };
    let moved = sqlx::query(sql)
        .bind(conversation.to_string())
        .bind(access.patient().to_string())
        .bind(status.as_str())
        .bind(to_micros(now))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if moved != 1 {
        return Ok(false);
    }
    requeue(conn, conversation).await?;
    insert_message(conn, access, conversation, message, now).await?;
    Ok(true)
}

async fn insert_message(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    message: &NewMessage<'_>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, patient_id, author_id, side, body, sent_at, \
         send_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(message.id.to_string())
    .bind(conversation.to_string())
    .bind(access.patient().to_string())
    .bind(message.author.to_string())
    .bind(message.side.as_str())
    .bind(message.body.as_str())
    .bind(to_micros(now))
    .bind(message.send_key)
    .execute(&mut *conn)
    .await
    .map_err(conflict_as("send key"))?;
    // The record's messages are served as part of it (FHIR Communication): it has changed.
    crate::access::touch_records(&mut *conn, &[access.patient()]).await?;
    for file in message.attachments {
        sqlx::query(
            "INSERT INTO message_attachments (id, message_id, patient_id, file_name, kind, size, \
             sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(file.id.to_string())
        .bind(message.id.to_string())
        .bind(access.patient().to_string())
        .bind(file.name.as_str())
        .bind(file.kind.as_str())
        .bind(i64::try_from(file.content.len()).unwrap_or(i64::MAX))
        .bind(&file.sha256)
        .bind(file.content.as_slice())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Which conversations a list shows.
#[derive(Clone, Debug)]
pub enum Listing<'a> {
    /// Every conversation of the record (the patient's side).
    Record,
    /// Only those routed to this clinic user or their pools.
    RoutedTo(UserId),
    /// The record's conversations whose subject or messages contain the words (the patient's
    /// side).
    Search(&'a str),
}

/// The record's conversations, newest first, with what the reader's side has not opened.
pub async fn list(
    conn: &mut Conn,
    access: &PatientAccess,
    reader: Side,
    listing: Listing<'_>,
    limit: i64,
) -> Result<Vec<Conversation>> {
    let (filter, extra) = match &listing {
        Listing::Record => ("", String::new()),
        Listing::RoutedTo(user) => (
            " AND (c.assigned_user_id = $3 OR c.assigned_pool_id IN \
             (SELECT pool_id FROM pool_members WHERE user_id = $3))",
            user.to_string(),
        ),
        Listing::Search(words) => (
            " AND (LOWER(c.subject) LIKE $3 ESCAPE '!' OR EXISTS (SELECT 1 FROM messages s \
             WHERE s.conversation_id = c.id AND s.patient_id = c.patient_id \
             AND LOWER(s.body) LIKE $3 ESCAPE '!'))",
            like_pattern(words),
        ),
    };
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS}, (SELECT COUNT(*) FROM messages m \
         WHERE m.conversation_id = c.id AND m.patient_id = c.patient_id AND m.side <> $2 \
         AND m.read_at IS NULL) AS unread \
         FROM conversations c {ROUTED_JOINS} WHERE c.patient_id = $1{filter} \
         ORDER BY c.last_message_at DESC, c.id LIMIT {limit}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(reader.as_str());
    if !extra.is_empty() {
        q = q.bind(extra);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter()
        .map(|r| conversation(r, r.try_get("unread")?))
        .collect()
}

/// A LIKE pattern matching text that contains `words` (lower-cased), with `!` escaping.
fn like_pattern(words: &str) -> String {
    let mut p = String::from("%");
    for c in words.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Messages from the clinic that the patient's side has not opened, in the record.
pub async fn unread_for_patient(conn: &mut Conn, access: &PatientAccess) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM messages WHERE patient_id = $1 AND side = 'clinic' \
         AND read_at IS NULL",
    )
    .bind(access.patient().to_string())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// One conversation of the record, as `reader`'s side sees its list entry.
pub async fn find(
    conn: &mut Conn,
    access: &PatientAccess,
    id: ConversationId,
) -> Result<Option<Conversation>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c {ROUTED_JOINS} \
         WHERE c.id = $1 AND c.patient_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .bind(access.patient().to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| conversation(&r, 0)).transpose()
}

/// A message as a conversation's page shows it.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Its id.
    pub id: MessageId,
    /// Who wrote it.
    pub author: UserId,
    /// Their name.
    pub author_name: String,
    /// Whether the author wrote for a record not their own (a proxy).
    pub by_proxy: bool,
    /// Which side wrote it.
    pub side: Side,
    /// Its text.
    pub body: Body,
    /// When it was sent.
    pub sent_at: Timestamp,
    /// When the other side first opened it.
    pub read_at: Option<Timestamp>,
    /// Its files.
    pub attachments: Vec<AttachmentInfo>,
}

/// What a page says of an attached file (never its content).
#[derive(Clone, Debug)]
pub struct AttachmentInfo {
    /// Its id.
    pub id: AttachmentId,
    /// Its cleaned name.
    pub name: FileName,
    /// What it is.
    pub kind: Kind,
    /// Its size in bytes.
    pub size: i64,
}

/// The conversation's messages, oldest first, with their files.
pub async fn messages(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
) -> Result<Vec<StoredMessage>> {
    Ok(messages_of(conn, access, Some(conversation))
        .await?
        .into_iter()
        .map(|(_, m)| m)
        .collect())
}

/// Every conversation of the record with its messages (oldest first, with their files), the
/// conversations in the order they started: the record's messages as the read API serves them.
pub async fn of_record(
    conn: &mut Conn,
    access: &PatientAccess,
) -> Result<Vec<(Conversation, Vec<StoredMessage>)>> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c {ROUTED_JOINS} \
         WHERE c.patient_id = $1 ORDER BY c.started_at, c.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .fetch_all(&mut *conn)
        .await?;
    let mut out: Vec<(Conversation, Vec<StoredMessage>)> = rows
        .iter()
        .map(|r| Ok((conversation(r, 0)?, Vec::new())))
        .collect::<Result<_>>()?;
    let mut at: HashMap<ConversationId, usize> = HashMap::new();
    for (i, (c, _)) in out.iter().enumerate() {
        at.insert(c.id, i);
    }
    for (conversation, message) in messages_of(conn, access, None).await? {
        if let Some(i) = at.get(&conversation) {
            out[*i].1.push(message);
        }
    }
    Ok(out)
}

/// The messages of one conversation of the record, or of all of them, with the conversation
/// each is in, oldest first.
async fn messages_of(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: Option<ConversationId>,
) -> Result<Vec<(ConversationId, StoredMessage)>> {
    let one = if conversation.is_some() {
        " AND m.conversation_id = $2"
    } else {
        ""
    };
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.author_id, u.name, u.patient_id AS author_patient, \
         m.side, m.body, m.sent_at, m.read_at FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE m.patient_id = $1{one} ORDER BY m.sent_at, m.id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    if let Some(c) = conversation {
        query = query.bind(c.to_string());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut index: HashMap<MessageId, usize> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let side = Side::from_stored(&r.try_get::<String, _>("side")?);
        let author_patient: Option<String> = r.try_get("author_patient")?;
        let read_at: Option<i64> = r.try_get("read_at")?;
        let id: MessageId = parse_id(&r.try_get::<String, _>("id")?)?;
        index.insert(id, out.len());
        out.push((
            parse_id(&r.try_get::<String, _>("conversation_id")?)?,
            StoredMessage {
                id,
                author: parse_id(&r.try_get::<String, _>("author_id")?)?,
                author_name: r.try_get("name")?,
                by_proxy: side == Side::Patient
                    && author_patient.as_deref() != Some(access.patient().to_string().as_str()),
                side,
                body: Body::stored(r.try_get("body")?),
                sent_at: from_micros(r.try_get("sent_at")?)?,
                read_at: read_at.map(from_micros).transpose()?,
                attachments: Vec::new(),
            },
        ));
    }
    let sql = format!(
        "SELECT a.id, a.message_id, a.file_name, a.kind, a.size FROM message_attachments a \
         JOIN messages m ON m.id = a.message_id \
         WHERE a.patient_id = $1{one} ORDER BY a.id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    if let Some(c) = conversation {
        query = query.bind(c.to_string());
    }
    for f in &query.fetch_all(conn).await? {
        let message: MessageId = parse_id(&f.try_get::<String, _>("message_id")?)?;
        let kind: String = f.try_get("kind")?;
        let info = AttachmentInfo {
            id: parse_id(&f.try_get::<String, _>("id")?)?,
            name: FileName::stored(f.try_get("file_name")?),
            kind: Kind::from_stored(&kind)
                .ok_or_else(|| Error::Corrupt(format!("attachment kind {kind:?}")))?,
            size: f.try_get("size")?,
        };
        if let Some(i) = index.get(&message) {
            out[*i].1.attachments.push(info);
        }
    }
    Ok(out)
}

/// Marks the other side's messages in the conversation as opened by `reader`'s side, the first
/// time only. Returns how many were newly marked.
pub async fn mark_read(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    reader: Side,
    now: Timestamp,
) -> Result<u64> {
    let marked = sqlx::query(
        "UPDATE messages SET read_at = $4 WHERE conversation_id = $1 AND patient_id = $2 \
         AND side <> $3 AND read_at IS NULL",
    )
    .bind(conversation.to_string())
    .bind(access.patient().to_string())
    .bind(reader.as_str())
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if marked > 0 && reader == Side::Clinic {
        // Nothing of the patient's side is unread any more: it moves down the in-basket.
        sqlx::query("UPDATE conversations SET clinic_unread = 0 WHERE id = $1")
            .bind(conversation.to_string())
            .execute(&mut *conn)
            .await?;
        requeue(conn, conversation).await?;
    }
    if marked > 0 {
        // What the record shows changes: the count of new messages, and when each was received.
        crate::access::touch_records(conn, &[access.patient()]).await?;
    }
    Ok(marked)
}

/// An attached file with its content.
pub struct AttachmentFile {
    /// What the page says of it.
    pub info: AttachmentInfo,
    /// The bytes.
    pub content: Vec<u8>,
}

/// One attached file of the record, if it belongs to `conversation`.
pub async fn attachment(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    id: AttachmentId,
) -> Result<Option<AttachmentFile>> {
    let row = sqlx::query(
        "SELECT a.id, a.file_name, a.kind, a.size, a.content FROM message_attachments a \
         JOIN messages m ON m.id = a.message_id \
         WHERE a.id = $1 AND a.patient_id = $2 AND m.conversation_id = $3",
    )
    .bind(id.to_string())
    .bind(access.patient().to_string())
    .bind(conversation.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let kind: String = r.try_get("kind")?;
        Ok(AttachmentFile {
            info: AttachmentInfo {
                id,
                name: FileName::stored(r.try_get("file_name")?),
                kind: Kind::from_stored(&kind)
                    .ok_or_else(|| Error::Corrupt(format!("attachment kind {kind:?}")))?,
                size: r.try_get("size")?,
            },
            content: r.try_get("content")?,
        })
    })
    .transpose()
}

/// An internal note, or a change of routing or status, on a conversation's clinic side.
#[derive(Clone, Debug)]
pub struct ClinicEntry {
    /// Who.
    pub author_name: String,
    /// "note", "reassigned", "done", "closed".
    pub what: String,
    /// The note's text, or the change's words.
    pub text: String,
    /// When.
    pub at: Timestamp,
}

/// Writes an internal note.
pub async fn add_note(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    author: UserId,
    body: &Body,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO conversation_notes (id, conversation_id, author_id, body, written_at) \
         SELECT $1, id, $3, $4, $5 FROM conversations WHERE id = $2 AND patient_id = $6",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(conversation.to_string())
    .bind(author.to_string())
    .bind(body.as_str())
    .bind(to_micros(now))
    .bind(access.patient().to_string())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The clinic's side of a conversation: notes and changes, oldest first. Only for accesses
/// on the clinic's side (the app checks).
pub async fn clinic_entries(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
) -> Result<Vec<ClinicEntry>> {
    let rows = sqlx::query(
        "SELECT u.name, 'note' AS what, n.body AS text, n.written_at AS at \
         FROM conversation_notes n JOIN users u ON u.id = n.author_id \
         JOIN conversations c ON c.id = n.conversation_id \
         WHERE n.conversation_id = $1 AND c.patient_id = $2 \
         UNION ALL SELECT u.name, e.what, e.detail, e.at FROM conversation_events e \
         JOIN users u ON u.id = e.actor_id JOIN conversations c ON c.id = e.conversation_id \
         WHERE e.conversation_id = $1 AND c.patient_id = $2 ORDER BY at",
    )
    .bind(conversation.to_string())
    .bind(access.patient().to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ClinicEntry {
                author_name: r.try_get("name")?,
                what: r.try_get("what")?,
                text: r.try_get("text")?,
                at: from_micros(r.try_get("at")?)?,
            })
        })
        .collect()
}

/// Routes a conversation elsewhere, noting who did it.
pub async fn reassign(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    to: Recipient,
    actor: UserId,
    words: &str,
    now: Timestamp,
) -> Result<bool> {
    let (user, pool) = match to {
        Recipient::Clinician(u) => (Some(u.to_string()), None),
        Recipient::Pool(p) => (None, Some(p.to_string())),
    };
    let n = sqlx::query(
        "UPDATE conversations SET assigned_user_id = $3, assigned_pool_id = $4 \
         WHERE id = $1 AND patient_id = $2",
    )
    .bind(conversation.to_string())
    .bind(access.patient().to_string())
    .bind(user)
    .bind(pool)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(false);
    }
    note_event(conn, conversation, actor, "reassigned", words, now).await?;
    Ok(true)
}

/// Sets a conversation's status, noting who did it.
pub async fn set_status(
    conn: &mut Conn,
    access: &PatientAccess,
    conversation: ConversationId,
    status: Status,
    actor: UserId,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query("UPDATE conversations SET status = $3 WHERE id = $1 AND patient_id = $2")
        .bind(conversation.to_string())
        .bind(access.patient().to_string())
        .bind(status.as_str())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if n != 1 {
        return Ok(false);
    }
    note_event(conn, conversation, actor, status.as_str(), "", now).await?;
    Ok(true)
}

async fn note_event(
    conn: &mut Conn,
    conversation: ConversationId,
    actor: UserId,
    what: &str,
    detail: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO conversation_events (id, conversation_id, actor_id, what, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(conversation.to_string())
    .bind(actor.to_string())
    .bind(what)
    .bind(detail)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The addresses of those a conversation routed to `to` should tell: the clinician, or the
/// pool's active members.
pub async fn addresses_for(conn: &mut Conn, to: Recipient) -> Result<Vec<String>> {
    let rows = match to {
        Recipient::Clinician(u) => {
            sqlx::query("SELECT email FROM users WHERE id = $1 AND status = 'active'")
                .bind(u.to_string())
                .fetch_all(conn)
                .await?
        }
        Recipient::Pool(p) => {
            sqlx::query(
                "SELECT u.email FROM pool_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.pool_id = $1 AND u.status = 'active' ORDER BY u.email",
            )
            .bind(p.to_string())
            .fetch_all(conn)
            .await?
        }
    };
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("email")?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_like_wildcards() {
        assert_eq!(like_pattern("Rash"), "%rash%");
        assert_eq!(like_pattern("100%_!"), "%100!%!_!!%");
    }
}
