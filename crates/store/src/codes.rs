//! One-time codes: patient activation codes and password-reset tokens, stored only as hashes.

use crate::{Conn, Result, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::{PatientId, UserId};
use sqlx::Row;

/// An activation code as stored.
#[derive(Clone, Debug)]
pub struct ActivationRow {
    /// The patient record it activates.
    pub patient_id: PatientId,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// When it was used, if it was.
    pub used_at: Option<Timestamp>,
    /// Wrong birth dates typed with it.
    pub failed_attempts: i64,
    /// Who issued it (an actor id: a user's id, or "operator").
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// From which client address (empty for the command line).
    pub created_addr: String,
}

/// Stores a new activation code; earlier unused codes of the same patient stop working.
pub async fn insert_activation(
    conn: &mut Conn,
    enrol: &portal_domain::PatientAccess,
    code_hash: &str,
    created_by: &str,
    created_addr: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    if enrol.action() != portal_domain::Action::Enrol {
        return Err(crate::Error::WrongCapability("enrolling the patient"));
    }
    let patient = enrol.patient();
    sqlx::query(
        "UPDATE activation_codes SET expires_at = $1 \
         WHERE patient_id = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(to_micros(now))
    .bind(patient.to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO activation_codes \
         (code_hash, patient_id, created_by, created_addr, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(code_hash)
    .bind(patient.to_string())
    .bind(created_by)
    .bind(created_addr)
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes one birth-date attempt on a usable activation code before the date is compared: in
/// one statement, so parallel attempts each see the ones before them and at most
/// `max_attempts` are ever compared. `None` when the code is unknown, used, expired or out of
/// attempts. Give the attempt back with [`give_back_activation_attempt`] when the date matched.
pub async fn take_activation_attempt(
    conn: &mut Conn,
    code_hash: &str,
    now: Timestamp,
    max_attempts: i64,
) -> Result<Option<ActivationRow>> {
    let row = sqlx::query(
        "UPDATE activation_codes SET failed_attempts = failed_attempts + 1 \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 AND failed_attempts < $3 \
         RETURNING patient_id, expires_at, used_at, failed_attempts, created_by, created_at, \
         created_addr",
    )
    .bind(code_hash)
    .bind(to_micros(now))
    .bind(max_attempts)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let used: Option<i64> = r.try_get("used_at")?;
        Ok(ActivationRow {
            patient_id: parse_id(&r.try_get::<String, _>("patient_id")?)?,
            expires_at: from_micros(r.try_get("expires_at")?)?,
            used_at: used.map(from_micros).transpose()?,
            failed_attempts: r.try_get("failed_attempts")?,
            created_by: r.try_get("created_by")?,
            created_at: from_micros(r.try_get("created_at")?)?,
            created_addr: r.try_get("created_addr")?,
        })
    })
    .transpose()
}

/// Gives back an attempt whose birth date matched.
pub async fn give_back_activation_attempt(conn: &mut Conn, code_hash: &str) -> Result<()> {
    sqlx::query(
        "UPDATE activation_codes SET failed_attempts = failed_attempts - 1 \
         WHERE code_hash = $1 AND failed_attempts > 0",
    )
    .bind(code_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks an activation code used; false when someone else used it first.
pub async fn use_activation(conn: &mut Conn, code_hash: &str, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE activation_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
    )
    .bind(to_micros(now))
    .bind(code_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every outstanding reset link of an account (a newer link, a password change, a disable).
pub async fn end_resets(conn: &mut Conn, user: UserId, now: Timestamp) -> Result<u64> {
    let done =
        sqlx::query("UPDATE reset_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
            .bind(to_micros(now))
            .bind(user.to_string())
            .execute(conn)
            .await?;
    Ok(done.rows_affected())
}

/// Stores a reset token; earlier unused tokens of the account stop working.
pub async fn insert_reset(
    conn: &mut Conn,
    token_hash: &str,
    user: UserId,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    end_resets(&mut *conn, user, now).await?;
    sqlx::query(
        "INSERT INTO reset_tokens (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(user.to_string())
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// The account of a reset token that is unused and unexpired at `now`.
pub async fn valid_reset(
    conn: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<UserId>> {
    let row = sqlx::query(
        "SELECT user_id FROM reset_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(to_micros(now))
    .fetch_optional(conn)
    .await?;
    row.map(|r| parse_id(&r.try_get::<String, _>("user_id")?))
        .transpose()
}

/// Uses up a reset token; false when it was already used or has expired.
pub async fn use_reset(conn: &mut Conn, token_hash: &str, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE reset_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(to_micros(now))
    .bind(token_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
