//! Sessions, stored by the SHA-256 hash of their token so a database dump yields no usable cookie.

use crate::{Conn, Result, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::ids::SessionId;
use portal_domain::{PatientId, UserId};
use sqlx::any::AnyRow;

/// A session as the store reads and writes it.
pub use portal_domain::session::Session as SessionRow;

fn from_row(row: &AnyRow) -> Result<SessionRow> {
    from_columns(row, "")
}

/// A session from a row whose session columns are named `{prefix}{column}`.
fn from_columns(row: &impl crate::embedded::Cells, prefix: &str) -> Result<SessionRow> {
    let column = |name: &str| format!("{prefix}{name}");
    Ok(SessionRow {
        id: parse_id(&row.cell::<String>(column("id").as_str())?)?,
        user_id: parse_id(&row.cell::<String>(column("user_id").as_str())?)?,
        stage: row.cell(column("stage").as_str())?,
        csrf_token: row.cell(column("csrf_token").as_str())?,
        created_at: from_micros(row.cell(column("created_at").as_str())?)?,
        last_seen_at: from_micros(row.cell(column("last_seen_at").as_str())?)?,
        absolute_expires_at: from_micros(row.cell(column("absolute_expires_at").as_str())?)?,
        client_addr: row.cell(column("client_addr").as_str())?,
        user_agent: row.cell(column("user_agent").as_str())?,
    })
}

const COLUMNS: &str = "id, user_id, stage, csrf_token, created_at, last_seen_at, \
                       absolute_expires_at, client_addr, user_agent";

/// Stores a new session under the hash of its token.
pub async fn insert(conn: &mut Conn, token_hash: &str, s: &SessionRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, id, user_id, stage, csrf_token, created_at, \
         last_seen_at, absolute_expires_at, client_addr, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(token_hash)
    .bind(s.id.to_string())
    .bind(s.user_id.to_string())
    .bind(&s.stage)
    .bind(&s.csrf_token)
    .bind(to_micros(s.created_at))
    .bind(to_micros(s.last_seen_at))
    .bind(to_micros(s.absolute_expires_at))
    .bind(&s.client_addr)
    .bind(&s.user_agent)
    .execute(conn)
    .await?;
    Ok(())
}

/// Finds a session by the hash of its token.
pub async fn find(conn: &mut Conn, token_hash: &str) -> Result<Option<SessionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE token_hash = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Finds a session and its account in one round trip (every signed-in request asks).
pub async fn find_with_user(
    conn: &mut Conn,
    token_hash: &str,
) -> Result<Option<(SessionRow, crate::users::UserRow)>> {
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(STATEMENTS.alone.as_str()))
        .bind(token_hash)
        .fetch_optional(conn)
        .await?
    else {
        return Ok(None);
    };
    let session = from_columns(&row, "s_")?;
    Ok(Some((session, crate::users::from_row(&row)?)))
}

/// [`find_with_user`] and, in the same round trip, what the access policy decides the session's
/// account's access to `patient` on ([`crate::access::record_facts`]): for a request about
/// one patient's record.
pub async fn find_with_user_and_facts(
    conn: &mut Conn,
    token_hash: &str,
    patient: PatientId,
) -> Result<
    Option<(
        SessionRow,
        crate::users::UserRow,
        crate::access::RecordFacts,
    )>,
> {
    let found = read_pooled(conn, token_hash, patient, false).await?;
    Ok(found.map(|(session, user, mut facts)| {
        let facts = facts.remove(&patient).unwrap_or_default();
        (session, user, facts)
    }))
}

/// [`find_with_user_and_facts`] for a patient's home page, which also lists the account's
/// family: the facts about `patient` and, in the same round trip, about the account's own
/// record and every record it holds or held a proxy grant for (as
/// [`crate::access::family_facts`] reads them). The session's row and the facts' rows come as
/// separate rows of one statement, so the session's columns are read once.
pub async fn find_with_user_and_family_facts(
    conn: &mut Conn,
    token_hash: &str,
    patient: PatientId,
) -> Result<Option<WithFacts>> {
    read_pooled(conn, token_hash, patient, true).await
}

/// [`Statements::about`] (or with `family`, [`Statements::family`]) on a connection of sqlx's.
async fn read_pooled(
    conn: &mut Conn,
    token_hash: &str,
    patient: PatientId,
    family: bool,
) -> Result<Option<WithFacts>> {
    let sql = if family {
        &STATEMENTS.family
    } else {
        &STATEMENTS.about
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(token_hash)
        .bind(patient.to_string())
        .fetch_all(conn)
        .await?;
    let mut found = Found::default();
    for row in &rows {
        found.add(row, family)?;
    }
    Ok(found.finish())
}

/// What a request reads with its session, on a connection of sqlx's: as [`find_here`].
pub async fn find_about(
    conn: &mut Conn,
    token_hash: &str,
    about: Option<(PatientId, bool)>,
) -> Result<Option<WithFacts>> {
    match about {
        None => Ok(find_with_user(conn, token_hash)
            .await?
            .map(|(session, user)| (session, user, Default::default()))),
        Some((patient, family)) => read_pooled(conn, token_hash, patient, family).await,
    }
}

/// A session, its account and the access policy's facts about records, by patient.
pub type WithFacts = (
    SessionRow,
    crate::users::UserRow,
    std::collections::HashMap<PatientId, crate::access::RecordFacts>,
);

/// What a request reads with its session, on the caller's thread (SQLite, see
/// [`crate::embedded`]): the session and its account, and with `about` the access policy's
/// facts about that patient ([`find_with_user_and_facts`]), or with `(patient, true)` about
/// the account's family as well ([`find_with_user_and_family_facts`]).
pub fn find_here(
    conn: &rusqlite::Connection,
    token_hash: &str,
    about: Option<(PatientId, bool)>,
) -> Result<Option<WithFacts>> {
    let e = crate::embedded::error;
    let (sql, patient, family) = match about {
        None => (&STATEMENTS.alone, String::new(), false),
        Some((patient, false)) => (&STATEMENTS.about, patient.to_string(), false),
        Some((patient, true)) => (&STATEMENTS.family, patient.to_string(), true),
    };
    let mut statement = conn.prepare_cached(sql).map_err(e)?;
    crate::embedded::bind_numbered(&mut statement, &[&token_hash, &patient])?;
    let columns = crate::embedded::Columns::of(&statement);
    let mut rows = statement.raw_query();
    let mut found = Found::default();
    while let Some(row) = rows.next().map_err(e)? {
        let row = &columns.of_row(row);
        if about.is_some() {
            found.add(row, family)?;
        } else {
            found.session = Some((from_columns(row, "s_")?, crate::users::from_row(row)?));
        }
    }
    Ok(found.finish())
}

/// The session reads' statements, written once.
struct Statements {
    /// A session and its account ([`find_with_user`]).
    alone: String,
    /// With the facts about one patient, one row each ([`find_with_user_and_facts`]).
    about: String,
    /// The session's row, then the facts about the family, a row each
    /// ([`find_with_user_and_family_facts`]).
    family: String,
}

static STATEMENTS: std::sync::LazyLock<Statements> = std::sync::LazyLock::new(|| {
    let columns = session_and_user_columns();
    let alone = format!(
        "SELECT {columns} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
    );
    let facts =
        crate::access::facts_sql("(SELECT user_id FROM sessions WHERE token_hash = $1)", "$2");
    let about = format!(
        "SELECT {columns}, f.kind AS f_kind, f.patient_id AS f_patient_id, f.scope AS f_scope, \
         f.starts_at AS f_starts_at, f.ends_at AS f_ends_at, f.revoked_at AS f_revoked_at, \
         f.info AS f_info, f.chose_at AS f_chose_at \
         FROM sessions s JOIN users u ON u.id = s.user_id LEFT JOIN ({facts}) f ON 1 = 1 \
         WHERE s.token_hash = $1"
    );
    let user = "(SELECT user_id FROM sessions WHERE token_hash = $1)";
    let facts = crate::access::facts_sql(
        user,
        &format!(
            "SELECT $2 UNION SELECT g.patient_id FROM proxy_grants g WHERE g.proxy_user_id = {user} \
             UNION SELECT o.patient_id FROM users o WHERE o.id = {user}"
        ),
    );
    let nothing = columns
        .split(", ")
        .map(|c| match c.split_once(" AS ") {
            Some((_, name)) => format!("NULL AS {name}"),
            None => format!("NULL AS {}", c.trim_start_matches("u.")),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let family = format!(
        "SELECT {columns}, NULL AS f_kind, NULL AS f_patient_id, NULL AS f_scope, \
         NULL AS f_starts_at, NULL AS f_ends_at, NULL AS f_revoked_at, NULL AS f_info, \
         NULL AS f_chose_at \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 \
         UNION ALL \
         SELECT {nothing}, f.kind, f.patient_id, f.scope, f.starts_at, f.ends_at, f.revoked_at, \
         f.info, f.chose_at \
         FROM ({facts}) f"
    );
    Statements {
        alone,
        about,
        family,
    }
});

/// A session read's rows folded into the session, its account and the facts, on either
/// driver.
#[derive(Default)]
struct Found {
    session: Option<(SessionRow, crate::users::UserRow)>,
    read: std::collections::HashMap<PatientId, crate::access::RecordFacts>,
}

impl Found {
    /// One row of [`Statements::about`] (each row has the session's columns and a fact's) or
    /// of [`Statements::family`] (`family`: the session's row, or a fact's).
    fn add(&mut self, row: &impl crate::embedded::Cells, family: bool) -> Result<()> {
        let is_fact = row.cell::<Option<String>>("f_kind")?.is_some();
        if (!family || !is_fact) && self.session.is_none() {
            self.session = Some((from_columns(row, "s_")?, crate::users::from_row(row)?));
        }
        if is_fact {
            crate::access::read_fact(row, "f_", &mut self.read)?;
        }
        Ok(())
    }

    fn finish(self) -> Option<WithFacts> {
        let read = self.read;
        self.session
            .map(|(session, user)| (session, user, crate::access::finish_facts(read)))
    }
}

/// The columns of a session (`s`, named `s_…`) and its account (`u`).
fn session_and_user_columns() -> String {
    let user_columns = crate::users::COLUMNS
        .split(',')
        .map(|c| format!("u.{}", c.trim()));
    let session_columns = COLUMNS
        .split(',')
        .map(|c| format!("s.{0} AS s_{0}", c.trim()));
    user_columns
        .chain(session_columns)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Marks a session as used now.
pub async fn touch(conn: &mut Conn, token_hash: &str, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(to_micros(now))
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends one session by its token hash.
pub async fn delete(conn: &mut Conn, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends every session of an account except the one with `keep` (a session id), if given.
pub async fn delete_for_user(
    conn: &mut Conn,
    user: UserId,
    keep: Option<SessionId>,
) -> Result<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user.to_string())
        .bind(keep.map(|k| k.to_string()).unwrap_or_default())
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// The account's sessions that have not timed out, newest first.
pub async fn list_for_user(
    conn: &mut Conn,
    user: UserId,
    idle_since: Timestamp,
    now: Timestamp,
) -> Result<Vec<SessionRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND stage = 'full' \
         AND last_seen_at > $2 AND absolute_expires_at > $3 ORDER BY last_seen_at DESC"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .bind(to_micros(idle_since))
        .bind(to_micros(now))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes sessions that have timed out; returns how many.
pub async fn delete_expired(conn: &mut Conn, idle_since: Timestamp, now: Timestamp) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM sessions WHERE last_seen_at <= $1 OR absolute_expires_at <= $2")
            .bind(to_micros(idle_since))
            .bind(to_micros(now))
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}
