//! Results filters kept for the session that applied them, so a filtered list is reached by a
//! short opaque id instead of a test name in the address.

use crate::{Conn, Result, to_micros};
use jiff::Timestamp;
use portal_domain::PatientId;
use portal_domain::ids::SessionId;
use sqlx::Row;

/// A filter as the person typed it (already checked).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SavedFilter {
    /// Part of a test's name.
    pub name: String,
    /// The first day, as typed; empty for none.
    pub from: String,
    /// The last day, as typed; empty for none.
    pub to: String,
}

/// How many filters one session keeps; older ones go as new ones come, so a session cannot fill
/// the table however often it filters.
pub const KEPT_PER_SESSION: i64 = 20;

/// Keeps `filter` under `id` for this session and record (and forgets the session's oldest
/// beyond [`KEPT_PER_SESSION`]).
pub async fn save(
    conn: &mut Conn,
    id: &str,
    session: SessionId,
    patient: PatientId,
    filter: &SavedFilter,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO result_filters (id, session_id, patient_id, name, from_day, to_day, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(session.to_string())
    .bind(patient.to_string())
    .bind(&filter.name)
    .bind(&filter.from)
    .bind(&filter.to)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "DELETE FROM result_filters WHERE session_id = $1 AND id <> $3 AND id NOT IN \
         (SELECT id FROM result_filters WHERE session_id = $1 \
          ORDER BY created_at DESC, id LIMIT $2)",
    )
    .bind(session.to_string())
    .bind(KEPT_PER_SESSION)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The filter kept under `id`, only for the session and record it was made for.
pub async fn find(
    conn: &mut Conn,
    id: &str,
    session: SessionId,
    patient: PatientId,
) -> Result<Option<SavedFilter>> {
    let row = sqlx::query(
        "SELECT name, from_day, to_day FROM result_filters \
         WHERE id = $1 AND session_id = $2 AND patient_id = $3",
    )
    .bind(id)
    .bind(session.to_string())
    .bind(patient.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|row| {
        Ok(SavedFilter {
            name: row.try_get("name")?,
            from: row.try_get("from_day")?,
            to: row.try_get("to_day")?,
        })
    })
    .transpose()
}
