//! The audit trail: append-only, hash-chained, with a keyed head so a cut-off tail shows.
//!
//! Each event's hash covers its fields, its position and the previous event's hash
//! ([`portal_domain::audit::canonical_bytes`]). The head row holds the last position and hash
//! with an HMAC under the portal's secret key: whoever can rewrite the table but does not hold
//! the key cannot hide removed events at the end.

use crate::bulk::{Cell, Insert, Kind};
use crate::{Backend, Conn, Error, Result, dialect, from_micros, to_micros};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use portal_domain::audit::{
    AuditAction, AuditEvent, GENESIS_HASH, Outcome, RequestContext, StoredAuditEvent,
    canonical_bytes,
};
pub use portal_domain::audit::{NamedEvent, PatientLogFilter, Verdict};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

/// The key that signs the chain's head.
#[derive(Clone)]
pub struct HeadKey(pub [u8; 32]);

impl std::fmt::Debug for HeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadKey(***)")
    }
}

fn event_hash(seq: i64, id: &str, event: &AuditEvent, prev: &str) -> String {
    hex::encode(Sha256::digest(canonical_bytes(seq, id, event, prev)))
}

fn head_mac(key: &HeadKey, seq: i64, hash: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(&key.0).expect("HMAC takes any key length");
    mac.update(format!("portal-audit-head-v1:{seq}:{hash}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Creates the chain's head if the trail is new.
pub async fn ensure_head(conn: &mut Conn, key: &HeadKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, 0, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(GENESIS_HASH)
    .bind(head_mac(key, 0, GENESIS_HASH))
    .execute(conn)
    .await?;
    Ok(())
}

/// Appends one event to the chain: see [`append_many`]. Returns its position.
pub async fn append(
    conn: &mut Conn,
    backend: Backend,
    key: &HeadKey,
    id: &str,
    event: &AuditEvent,
) -> Result<i64> {
    Ok(append_many(conn, backend, key, &[(id, event)]).await?.seq)
}

/// The chain's head: the last event's position and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The last position (0: no event yet).
    pub seq: i64,
    /// The last event's hash.
    pub hash: String,
}

/// The columns of `audit_events`, in the order [`chain_rows`] gives their values.
const EVENT_COLUMNS: [(&str, Kind); 18] = [
    ("seq", Kind::Int),
    ("id", Kind::Text),
    ("at", Kind::Int),
    ("actor_id", Kind::Text),
    ("actor_role", Kind::Text),
    ("on_behalf_of", Kind::Text),
    ("patient_id", Kind::Text),
    ("action", Kind::Text),
    ("resource_type", Kind::Text),
    ("resource_id", Kind::Text),
    ("outcome", Kind::Text),
    ("break_glass", Kind::Int),
    ("detail", Kind::Text),
    ("client_addr", Kind::Text),
    ("user_agent", Kind::Text),
    ("request_id", Kind::Text),
    ("prev_hash", Kind::Text),
    ("hash", Kind::Text),
];

const EVENTS: Insert<'static> = Insert {
    table: "audit_events",
    columns: &EVENT_COLUMNS,
    tail: "",
};

/// Each event's position, previous hash and hash after `head`, and the head after the last.
fn chain(head: &Head, events: &[(&str, &AuditEvent)]) -> (Vec<(i64, String, String)>, Head) {
    let mut seq = head.seq;
    let mut prev_hash = head.hash.clone();
    let mut chain = Vec::with_capacity(events.len());
    for (id, event) in events {
        seq += 1;
        let hash = event_hash(seq, id, event, &prev_hash);
        chain.push((seq, std::mem::replace(&mut prev_hash, hash.clone()), hash));
    }
    (
        chain,
        Head {
            seq,
            hash: prev_hash,
        },
    )
}

/// `events` as stored after `head`: each with its position, the hash before it and its own, and
/// its time as the store keeps it (to the microsecond). What a writer that knows the head
/// before its batch (it appended after it) can keep of what it wrote without reading it back.
pub fn chained(head: &Head, events: &[(&str, &AuditEvent)]) -> Vec<StoredAuditEvent> {
    let (chain, _) = chain(head, events);
    events
        .iter()
        .zip(chain)
        .map(|((id, event), (seq, prev_hash, hash))| StoredAuditEvent {
            seq,
            id: (*id).to_string(),
            event: AuditEvent {
                at: Timestamp::from_microsecond(to_micros(event.at)).unwrap_or(event.at),
                ..(*event).clone()
            },
            prev_hash,
            hash,
        })
        .collect()
}

/// The rows of `events` with their places in the chain, one cell per [`EVENT_COLUMNS`].
fn chain_rows<'a>(
    events: &'a [(&'a str, &'a AuditEvent)],
    chain: &'a [(i64, String, String)],
) -> Vec<Vec<Cell<'a>>> {
    events
        .iter()
        .zip(chain)
        .map(|((id, event), (seq, prev, hash))| {
            vec![
                Cell::Int(Some(*seq)),
                Cell::Text(Some(id)),
                Cell::Int(Some(to_micros(event.at))),
                Cell::Text(Some(&event.actor_id)),
                Cell::Text(Some(&event.actor_role)),
                Cell::Text(Some(&event.on_behalf_of)),
                Cell::Text(event.patient_id.as_deref()),
                Cell::Text(Some(event.action.as_str())),
                Cell::Text(Some(&event.resource_type)),
                Cell::Text(event.resource_id.as_deref()),
                Cell::Text(Some(event.outcome.as_str())),
                Cell::Int(Some(i64::from(event.break_glass))),
                Cell::Text(Some(&event.detail)),
                Cell::Text(Some(&event.context.client_addr)),
                Cell::Text(Some(&event.context.user_agent)),
                Cell::Text(Some(&event.context.request_id)),
                Cell::Text(Some(prev)),
                Cell::Text(Some(hash)),
            ]
        })
        .collect()
}

/// Appends events to the chain in order, in the caller's transaction, in three statements
/// whatever their number: the head is taken (locked until the transaction ends), the events are
/// written with their positions and hashes, and the head moves to the last. Returns the new
/// head.
pub async fn append_many(
    conn: &mut Conn,
    backend: Backend,
    key: &HeadKey,
    events: &[(&str, &AuditEvent)],
) -> Result<Head> {
    let row = sqlx::query(dialect::lock_audit_head(backend))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::Corrupt("the audit trail has no head row".into()))?;
    let head = Head {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
    };
    if events.is_empty() {
        return Ok(head);
    }
    let (chain, after) = chain(&head, events);
    EVENTS.run(conn, &chain_rows(events, &chain)).await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1")
        .bind(after.seq)
        .bind(&after.hash)
        .bind(head_mac(key, after.seq, &after.hash))
        .execute(&mut *conn)
        .await?;
    Ok(after)
}

/// [`append_many`] on a connection of SQLite's own driver, in a transaction of its own that
/// takes the write lock first (`BEGIN IMMEDIATE`), so the head it reads is the one it moves.
/// In-process each statement costs microseconds, not a round trip: the head is read anew every
/// time rather than guessed. Gives the new head, or `None` (nothing written) if another
/// connection holds the write lock and `conn` does not wait for it
/// ([`crate::embedded::Writer::wait_for_lock`]). For the audit writer.
pub fn append_here(
    conn: &mut crate::embedded::Writer,
    key: &HeadKey,
    events: &[(&str, &AuditEvent)],
) -> Result<Option<Head>> {
    use rusqlite::TransactionBehavior;
    let e = crate::embedded::error;
    let tx = match conn
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
    {
        Ok(tx) => tx,
        Err(err) if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            return Ok(None);
        }
        Err(err) => return Err(e(err)),
    };
    let head = tx
        .prepare_cached(dialect::lock_audit_head(Backend::Sqlite))
        .map_err(e)?
        .query_row([], |row| {
            Ok(Head {
                seq: row.get(0)?,
                hash: row.get(1)?,
            })
        })
        .map_err(|err| match err {
            rusqlite::Error::QueryReturnedNoRows => {
                Error::Corrupt("the audit trail has no head row".into())
            }
            other => e(other),
        })?;
    if events.is_empty() {
        return Ok(Some(head));
    }
    let (chain, after) = chain(&head, events);
    {
        let mut insert = tx.prepare_cached(&INSERT_ONE).map_err(e)?;
        for row in chain_rows(events, &chain) {
            insert
                .execute(rusqlite::params_from_iter(row.iter()))
                .map_err(e)?;
        }
        tx.prepare_cached("UPDATE audit_head SET seq = ?1, hash = ?2, mac = ?3 WHERE id = 1")
            .map_err(e)?
            .execute(rusqlite::params![
                after.seq,
                after.hash,
                head_mac(key, after.seq, &after.hash)
            ])
            .map_err(e)?;
    }
    tx.commit().map_err(e)?;
    conn.committed();
    Ok(Some(after))
}

/// One event's `INSERT`, its values numbered in [`EVENT_COLUMNS`]' order.
static INSERT_ONE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let values: Vec<String> = (1..=EVENT_COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO audit_events ({}) VALUES ({})",
        EVENTS.column_list(),
        values.join(", ")
    )
});

/// Appends events after `head` in one round trip and one transaction of their own (`conn` must
/// not be in one): the head moves only if it is still `head`, and the events are written only
/// if it moved. Gives the new head, or `None` (nothing written) if another writer had appended
/// since: then [`append_many`] in a transaction reads the head anew. For a writer that knows
/// the head it last left, such as the audit writer's batches on PostgreSQL. On SQLite, where a
/// statement costs no round trip (the audit writer there uses [`append_here`]), it writes
/// nothing and gives `None`.
pub async fn append_after(
    conn: &mut Conn,
    backend: Backend,
    key: &HeadKey,
    head: &Head,
    events: &[(&str, &AuditEvent)],
) -> Result<Option<Head>> {
    if backend == Backend::Sqlite {
        return Ok(None);
    }
    if events.is_empty() {
        return Ok(Some(head.clone()));
    }
    let (chain, after) = chain(head, events);
    let rows = chain_rows(events, &chain);
    let mac = head_mac(key, after.seq, &after.hash);
    // One statement: its own transaction.
    let sql = format!(
        "WITH moved AS (UPDATE audit_head SET seq = $1, hash = $2, mac = $3 \
         WHERE id = 1 AND seq = $4 AND hash = $5 RETURNING 1) \
         INSERT INTO audit_events ({}) {} WHERE EXISTS (SELECT 1 FROM moved)",
        EVENTS.column_list(),
        EVENTS.select_recordset(6),
    );
    let names: Vec<&str> = EVENT_COLUMNS.iter().map(|(name, _)| *name).collect();
    let inserted = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(after.seq)
        .bind(after.hash.as_str())
        .bind(mac.as_str())
        .bind(head.seq)
        .bind(head.hash.as_str())
        .bind(crate::bulk::json_rows(&names, &rows))
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok((inserted == rows.len() as u64).then_some(after))
}

const COLUMNS: &str = "seq, id, at, actor_id, actor_role, on_behalf_of, patient_id, action, \
                       resource_type, resource_id, outcome, break_glass, detail, client_addr, \
                       user_agent, request_id, prev_hash, hash";

fn from_row(row: &impl crate::embedded::Cells) -> Result<StoredAuditEvent> {
    let action: String = row.cell("action")?;
    let outcome: String = row.cell("outcome")?;
    let seq: i64 = row.cell("seq")?;
    let bad = |what: &str| Error::Corrupt(format!("audit event {seq}: {what}"));
    Ok(StoredAuditEvent {
        seq,
        id: row.cell("id")?,
        event: AuditEvent {
            at: from_micros(row.cell("at")?)?,
            actor_id: row.cell("actor_id")?,
            actor_role: row.cell("actor_role")?,
            on_behalf_of: row.cell("on_behalf_of")?,
            patient_id: row.cell("patient_id")?,
            action: AuditAction::from_stored(&action).ok_or_else(|| bad("unknown action"))?,
            resource_type: row.cell("resource_type")?,
            resource_id: row.cell("resource_id")?,
            outcome: Outcome::from_stored(&outcome).ok_or_else(|| bad("unknown outcome"))?,
            break_glass: row.cell::<i64>("break_glass")? != 0,
            detail: row.cell("detail")?,
            context: RequestContext {
                client_addr: row.cell("client_addr")?,
                user_agent: row.cell("user_agent")?,
                request_id: row.cell("request_id")?,
            },
        },
        prev_hash: row.cell("prev_hash")?,
        hash: row.cell("hash")?,
    })
}

pub(crate) const NAMED_COLUMNS: &str = "e.seq, e.id, e.at, e.actor_id, e.actor_role, e.on_behalf_of, \
    e.patient_id, e.action, e.resource_type, e.resource_id, e.outcome, e.break_glass, e.detail, \
    e.client_addr, e.user_agent, e.request_id, e.prev_hash, e.hash, \
    COALESCE(u.name, \
    (SELECT k.name FROM api_tokens k WHERE k.id = e.actor_id AND e.actor_role = 'system'), \
    (SELECT a.name FROM smart_apps a WHERE a.id = e.actor_id AND e.actor_role = 'app')) \
    AS actor_name";

/// The events of rows read with [`NAMED_COLUMNS`].
pub(crate) fn named(rows: &[AnyRow]) -> Result<Vec<NamedEvent>> {
    rows.iter()
        .map(|r| {
            Ok(NamedEvent {
                stored: from_row(r)?,
                actor_name: r.try_get("actor_name")?,
            })
        })
        .collect()
}

/// The SQL condition that keeps the events `filter` lists.
fn condition(filter: PatientLogFilter) -> &'static str {
    match filter {
        PatientLogFilter::All => "",
        PatientLogFilter::Clinic => " AND e.actor_role IN ('clinician', 'staff', 'admin')",
        PatientLogFilter::Emergency => " AND e.break_glass <> 0",
        PatientLogFilter::Refused => " AND e.outcome <> 'success'",
        PatientLogFilter::PatientSide => " AND e.actor_role = 'patient' AND e.outcome = 'success'",
    }
}

/// Which events of a record's log to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogWindow {
    /// Those before this position (paging: the last `seq` of the previous page), or from the
    /// newest.
    Before(Option<i64>),
    /// Those after this position (what was added since a page was read: positions are given
    /// under the head's lock and committed in their order, so whoever sees one event sees every
    /// event before it).
    After(i64),
}

/// The events about one patient's data matching `filter` in `window`, newest first, at most
/// `limit`.
pub async fn for_patient(
    conn: &mut Conn,
    access: &portal_domain::PatientAccess,
    filter: PatientLogFilter,
    window: LogWindow,
    limit: i64,
) -> Result<Vec<NamedEvent>> {
    let mut parts = for_patient_parts(conn, access, &[(filter, window, limit)]).await?;
    Ok(parts.pop().unwrap_or_default())
}

/// [`for_patient`] for several filters and windows at once, in one round trip: one list per
/// part asked, in the order asked.
pub async fn for_patient_parts(
    conn: &mut Conn,
    access: &portal_domain::PatientAccess,
    parts: &[(PatientLogFilter, LogWindow, i64)],
) -> Result<Vec<Vec<NamedEvent>>> {
    let (sql, at) = parts_statement(access, parts)?;
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    for ((_, _, limit), at) in parts.iter().zip(at) {
        query = query.bind(at).bind(*limit);
    }
    let rows = query.fetch_all(conn).await?;
    let mut out = Parts::new(parts.len());
    for row in &rows {
        out.add(row)?;
    }
    Ok(out.finish())
}

/// [`for_patient_parts`] on the caller's thread (SQLite, see [`crate::embedded`]).
pub fn for_patient_parts_here(
    conn: &rusqlite::Connection,
    access: &portal_domain::PatientAccess,
    parts: &[(PatientLogFilter, LogWindow, i64)],
) -> Result<Vec<Vec<NamedEvent>>> {
    let (sql, at) = parts_statement(access, parts)?;
    let e = crate::embedded::error;
    let mut statement = conn.prepare_cached(&sql).map_err(e)?;
    let patient = access.patient().to_string();
    let mut values: Vec<&dyn rusqlite::ToSql> = vec![&patient];
    for ((_, _, limit), at) in parts.iter().zip(&at) {
        values.push(at);
        values.push(limit);
    }
    crate::embedded::bind_numbered(&mut statement, &values)?;
    let columns = crate::embedded::Columns::of(&statement);
    let mut rows = statement.raw_query();
    let mut out = Parts::new(parts.len());
    while let Some(row) = rows.next().map_err(e)? {
        out.add(&columns.of_row(row))?;
    }
    Ok(out.finish())
}

/// The statement of [`for_patient_parts`]: the patient is `$1`, each part's bound and limit
/// follow; with each part's bound. Only for a capability to read the record's access log.
fn parts_statement(
    access: &portal_domain::PatientAccess,
    parts: &[(PatientLogFilter, LogWindow, i64)],
) -> Result<(String, Vec<i64>)> {
    if access.action() != portal_domain::Action::ViewAccessLog {
        return Err(Error::WrongCapability("reading the record's access log"));
    }
    let selects: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, (filter, window, _))| {
            let bound = match window {
                LogWindow::Before(_) => "<",
                LogWindow::After(_) => ">",
            };
            format!(
                "SELECT * FROM (SELECT CAST({i} AS BIGINT) AS part, {NAMED_COLUMNS} FROM audit_events e \
                 LEFT JOIN users u ON u.id = e.actor_id WHERE e.patient_id = $1 \
                 AND e.seq {bound} ${}{} ORDER BY e.seq DESC LIMIT ${}) p{i}",
                2 * i + 2,
                condition(*filter),
                2 * i + 3,
            )
        })
        .collect();
    let at = parts
        .iter()
        .map(|(_, window, _)| match window {
            LogWindow::Before(before) => before.unwrap_or(i64::MAX),
            LogWindow::After(after) => *after,
        })
        .collect();
    Ok((selects.join(" UNION ALL "), at))
}

/// The rows of [`for_patient_parts`], sorted into their parts.
struct Parts(Vec<Vec<NamedEvent>>);

impl Parts {
    fn new(count: usize) -> Parts {
        Parts((0..count).map(|_| Vec::new()).collect())
    }

    fn add(&mut self, row: &impl crate::embedded::Cells) -> Result<()> {
        let part: i64 = row.cell("part")?;
        let list = usize::try_from(part)
            .ok()
            .and_then(|p| self.0.get_mut(p))
            .ok_or_else(|| Error::Corrupt(format!("access log part {part}")))?;
        list.push(NamedEvent {
            stored: from_row(row)?,
            actor_name: row.cell("actor_name")?,
        });
        Ok(())
    }

    /// Each part newest first.
    fn finish(mut self) -> Vec<Vec<NamedEvent>> {
        for list in &mut self.0 {
            list.sort_by_key(|e| std::cmp::Reverse(e.stored.seq));
        }
        self.0
    }
}

/// The newest events, optionally only those of one patient or one actor, at most `limit`,
/// before position `before` (for paging).
pub async fn recent(
    conn: &mut Conn,
    patient: Option<&str>,
    actor: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<NamedEvent>> {
    let sql = format!(
        "SELECT {NAMED_COLUMNS} FROM audit_events e LEFT JOIN users u ON u.id = e.actor_id \
         WHERE ($1 = '' OR e.patient_id = $1) AND ($2 = '' OR e.actor_id = $2) AND e.seq < $3 \
         ORDER BY e.seq DESC LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(patient.unwrap_or(""))
        .bind(actor.unwrap_or(""))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    named(&rows)
}

/// An account's refused sign-ins (wrong passwords and codes, pauses) since `since`, newest
/// first, at most `limit`.
pub async fn refused_sign_ins(
    conn: &mut Conn,
    actor: &str,
    since: Timestamp,
    limit: i64,
) -> Result<Vec<NamedEvent>> {
    let sql = format!(
        "SELECT {NAMED_COLUMNS} FROM audit_events e LEFT JOIN users u ON u.id = e.actor_id \
         WHERE e.actor_id = $1 AND e.action = 'sign-in' AND e.outcome = 'denied' AND e.at >= $2 \
         ORDER BY e.seq DESC LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(actor)
        .bind(crate::to_micros(since))
        .bind(limit)
        .fetch_all(conn)
        .await?;
    named(&rows)
}

/// Walks the whole chain and checks every event and the head.
pub async fn verify(conn: &mut Conn, key: &HeadKey) -> Result<Verdict> {
    const PAGE: i64 = 5_000;
    let mut expected_seq = 1_i64;
    let mut expected_prev = GENESIS_HASH.to_string();
    loop {
        let sql =
            format!("SELECT {COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(expected_seq)
            .bind(PAGE)
            .fetch_all(&mut *conn)
            .await?;
        let n = rows.len() as i64;
        for row in &rows {
            let stored = match from_row(row) {
                Ok(s) => s,
                Err(e) => {
                    return Ok(Verdict::Broken {
                        seq: expected_seq,
                        problem: format!("event {expected_seq} cannot be read: {e}"),
                    });
                }
            };
            if stored.seq != expected_seq {
                return Ok(Verdict::Broken {
                    seq: expected_seq,
                    problem: format!(
                        "events {expected_seq} to {} are missing (removed)",
                        stored.seq - 1
                    ),
                });
            }
            let recomputed = event_hash(stored.seq, &stored.id, &stored.event, &stored.prev_hash);
            if recomputed != stored.hash {
                return Ok(Verdict::Broken {
                    seq: stored.seq,
                    problem: format!("event {} was changed (its hash does not match)", stored.seq),
                });
            }
            if stored.prev_hash != expected_prev {
                return Ok(Verdict::Broken {
                    seq: stored.seq,
                    problem: format!(
                        "event {} does not follow event {} (removed or reordered events)",
                        stored.seq,
                        stored.seq - 1
                    ),
                });
            }
            expected_prev = stored.hash;
            expected_seq += 1;
        }
        if n < PAGE {
            break;
        }
    }
    let last_seq = expected_seq - 1;
    let head = sqlx::query("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    let Some(head) = head else {
        return Ok(Verdict::Broken {
            seq: last_seq + 1,
            problem: "the chain's head record is missing".into(),
        });
    };
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    let mac: String = head.try_get("mac")?;
    if mac != head_mac(key, head_seq, &head_hash) {
        return Ok(Verdict::Broken {
            seq: head_seq,
            problem: "the chain's head record was changed (its signature does not match)".into(),
        });
    }
    if head_seq > last_seq {
        return Ok(Verdict::Broken {
            seq: last_seq + 1,
            problem: format!(
                "events {} to {head_seq} are missing from the end",
                last_seq + 1
            ),
        });
    }
    if head_seq < last_seq {
        return Ok(Verdict::Broken {
            seq: head_seq + 1,
            problem: format!("events after {head_seq} were not written through the portal"),
        });
    }
    if head_hash != expected_prev {
        return Ok(Verdict::Broken {
            seq: last_seq,
            problem: format!(
                "the chain up to event {last_seq} was rewritten and re-hashed (it does not match \
                 the signed head)"
            ),
        });
    }
    Ok(Verdict::Intact { events: last_seq })
}

/// The chain's current head as stored: position and hash, to keep somewhere else as a
/// checkpoint.
pub async fn head(conn: &mut Conn) -> Result<Option<(i64, String)>> {
    let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("seq")?, r.try_get("hash")?)))
        .transpose()
}

/// Whether the event at `seq` still has `hash`: a checkpoint kept outside the database shows
/// that nothing up to it was removed or rewritten, even by someone holding the key.
pub async fn matches_checkpoint(conn: &mut Conn, seq: i64, hash: &str) -> Result<bool> {
    if seq == 0 {
        return Ok(hash == GENESIS_HASH);
    }
    let row = sqlx::query("SELECT hash FROM audit_events WHERE seq = $1")
        .bind(seq)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<String, _>("hash")? == hash,
        None => false,
    })
}
