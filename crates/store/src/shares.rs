//! "Send my record": copies of records sent to an e-mail address, opened with a link and a code.
//! Wrong codes are counted before the code is compared (atomically), so tries made at once
//! cannot pass the limit.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use portal_domain::access::{Action, PatientAccess};
use portal_domain::{PatientId, UserId};
use sqlx::Row;

/// The most wrong codes a copy takes before it is locked.
pub const MAX_TRIES: i64 = 5;

/// A copy to keep.
#[derive(Clone, Debug)]
pub struct NewShare<'a> {
    /// Its id.
    pub id: &'a str,
    /// Who sent it.
    pub shared_by: UserId,
    /// The e-mail address it went to.
    pub recipient: &'a str,
    /// The link's token (SHA-256).
    pub link_hash: &'a str,
    /// The code (SHA-256).
    pub code_hash: &'a str,
    /// The FHIR file, sealed.
    pub sealed_file: &'a str,
    /// The summary to print, sealed.
    pub sealed_summary: &'a str,
    /// The file's name.
    pub file_name: &'a str,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// Keeps a copy, under the policy's leave to hand the record on (`Action::Export`).
pub async fn add(
    conn: &mut Conn,
    access: &PatientAccess,
    share: &NewShare<'_>,
    now: Timestamp,
) -> Result<()> {
    if access.action() != Action::Export {
        return Err(crate::Error::Corrupt(
            "sending a copy needs the leave to export".into(),
        ));
    }
    sqlx::query(
        "INSERT INTO record_shares (id, patient_id, shared_by, recipient, link_hash, code_hash, \
         sealed_file, sealed_summary, file_name, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(share.id)
    .bind(access.patient().to_string())
    .bind(share.shared_by.to_string())
    .bind(share.recipient)
    .bind(share.link_hash)
    .bind(share.code_hash)
    .bind(share.sealed_file)
    .bind(share.sealed_summary)
    .bind(share.file_name)
    .bind(to_micros(now))
    .bind(to_micros(share.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// A copy whose link was followed, with one try counted.
#[derive(Clone, Debug)]
pub struct Tried {
    /// Its id.
    pub id: String,
    /// Whose record.
    pub patient: PatientId,
    /// Where it was sent.
    pub recipient: String,
    /// The code (SHA-256).
    pub code_hash: String,
    /// The FHIR file, sealed.
    pub sealed_file: String,
    /// The summary, sealed.
    pub sealed_summary: String,
    /// The file's name.
    pub file_name: String,
    /// When the link stops working.
    pub expires_at: Timestamp,
    /// Tries left after this one, if it is wrong.
    pub tries_left: i64,
}

/// Counts a try at the copy behind `link_hash`: `None` when there is no such copy, it expired,
/// or it is locked by wrong codes.
pub async fn try_open(conn: &mut Conn, link_hash: &str, now: Timestamp) -> Result<Option<Tried>> {
    let n = sqlx::query(
        "UPDATE record_shares SET failed_tries = failed_tries + 1 WHERE link_hash = $1 \
         AND failed_tries < $2 AND expires_at > $3",
    )
    .bind(link_hash)
    .bind(MAX_TRIES)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT id, patient_id, recipient, code_hash, sealed_file, sealed_summary, file_name, \
         expires_at, failed_tries FROM record_shares WHERE link_hash = $1",
    )
    .bind(link_hash)
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Tried {
        id: row.try_get("id")?,
        patient: crate::parse_id(&row.try_get::<String, _>("patient_id")?)?,
        recipient: row.try_get("recipient")?,
        code_hash: row.try_get("code_hash")?,
        sealed_file: row.try_get("sealed_file")?,
        sealed_summary: row.try_get("sealed_summary")?,
        file_name: row.try_get("file_name")?,
        expires_at: from_micros(row.try_get("expires_at")?)?,
        tries_left: MAX_TRIES - row.try_get::<i64, _>("failed_tries")?,
    }))
}

/// The right code was given: the try is not counted against the copy, and its first opening is
/// kept.
pub async fn opened(conn: &mut Conn, id: &str, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE record_shares SET failed_tries = failed_tries - 1, \
         opened_at = COALESCE(opened_at, $2) WHERE id = $1 AND failed_tries > 0",
    )
    .bind(id)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}
