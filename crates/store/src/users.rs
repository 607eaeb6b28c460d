//! Accounts: who can sign in, with what role, password hash and second factor.

use crate::{Conn, Result, conflict_as, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::user::{AccountStatus, Role};
use portal_domain::{PatientId, UserId};
use sqlx::Row;

/// An account as stored.
#[derive(Clone)]
pub struct UserRow {
    /// The account's id.
    pub id: UserId,
    /// The sign-in e-mail (lower case).
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Whether it may sign in.
    pub status: AccountStatus,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// The patient record of a patient's own account.
    pub patient_id: Option<PatientId>,
    /// The TOTP secret, encrypted under the portal key.
    pub totp_secret_enc: Option<String>,
    /// The last TOTP time step accepted (replay protection).
    pub totp_last_step: i64,
    /// When the second factor was enrolled.
    pub totp_enabled_at: Option<Timestamp>,
    /// When the account was created.
    pub created_at: Timestamp,
    /// Whether it holds the privacy officer permission.
    pub privacy_officer: bool,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

pub(crate) const COLUMNS: &str = "id, email, name, role, status, password_hash, patient_id, totp_secret_enc, \
                       totp_last_step, totp_enabled_at, created_at, privacy_officer";

pub(crate) fn from_row(row: &impl crate::embedded::Cells) -> Result<UserRow> {
    let role: String = row.cell("role")?;
    let patient: Option<String> = row.cell("patient_id")?;
    let enabled: Option<i64> = row.cell("totp_enabled_at")?;
    Ok(UserRow {
        id: parse_id(&row.cell::<String>("id")?)?,
        email: row.cell("email")?,
        name: row.cell("name")?,
        role: role
            .parse()
            .map_err(|_| crate::Error::Corrupt(format!("role {role:?}")))?,
        status: AccountStatus::from_stored(&row.cell::<String>("status")?),
        password_hash: row.cell("password_hash")?,
        patient_id: patient.as_deref().map(parse_id).transpose()?,
        totp_secret_enc: row.cell("totp_secret_enc")?,
        totp_last_step: row.cell("totp_last_step")?,
        totp_enabled_at: enabled.map(from_micros).transpose()?,
        created_at: from_micros(row.cell("created_at")?)?,
        privacy_officer: row.cell::<i64>("privacy_officer")? != 0,
    })
}

/// What it takes to create an account.
pub struct NewUser<'a> {
    /// The new id.
    pub id: UserId,
    /// The sign-in e-mail (already lower case).
    pub email: &'a str,
    /// The display name.
    pub name: &'a str,
    /// The role.
    pub role: Role,
    /// The argon2id PHC string.
    pub password_hash: &'a str,
    /// The patient record, for a patient's own account.
    pub patient_id: Option<PatientId>,
}

/// Creates an account; an e-mail already in use, or a patient record that already has an
/// account, is a conflict.
pub async fn insert(conn: &mut Conn, user: &NewUser<'_>, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, email, name, role, status, password_hash, patient_id, \
         created_at, password_changed_at) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $7)",
    )
    .bind(user.id.to_string())
    .bind(user.email)
    .bind(user.name)
    .bind(user.role.as_str())
    .bind(user.password_hash)
    .bind(user.patient_id.map(|p| p.to_string()))
    .bind(to_micros(now))
    .execute(conn)
    .await
    .map_err(conflict_as("e-mail address"))?;
    Ok(())
}

/// Finds an account by sign-in e-mail.
pub async fn find_by_email(conn: &mut Conn, email: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(email)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Finds an account by id.
pub async fn find(conn: &mut Conn, id: UserId) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every account, newest first, for the admin's user list.
pub async fn list(conn: &mut Conn) -> Result<Vec<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at DESC, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Replaces the password hash.
pub async fn set_password(
    conn: &mut Conn,
    id: UserId,
    password_hash: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(to_micros(now))
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Enrols (or replaces) the TOTP second factor; `last_step` is the step of the code that proved it.
pub async fn set_totp(
    conn: &mut Conn,
    id: UserId,
    secret_enc: &str,
    last_step: i64,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE users SET totp_secret_enc = $1, totp_last_step = $2, totp_enabled_at = $3 \
         WHERE id = $4",
    )
    .bind(secret_enc)
    .bind(last_step)
    .bind(to_micros(now))
    .bind(id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a TOTP code of `step` was used, unless a code of that step or later was used
/// already. Returns false for a replay; the check and the write are one statement, so two
/// requests racing with the same code cannot both win.
pub async fn consume_totp_step(conn: &mut Conn, id: UserId, step: i64) -> Result<bool> {
    let done =
        sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
            .bind(step)
            .bind(id.to_string())
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Enables or disables an account.
pub async fn set_status(conn: &mut Conn, id: UserId, status: AccountStatus) -> Result<bool> {
    let done = sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id.to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the recovery codes (stored as SHA-256 hashes).
pub async fn replace_recovery_codes(conn: &mut Conn, id: UserId, hashes: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    for hash in hashes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(id.to_string())
            .bind(hash)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Uses up one recovery code; false when it is unknown or already used.
pub async fn consume_recovery_code(
    conn: &mut Conn,
    id: UserId,
    hash: &str,
    now: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 \
         WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(to_micros(now))
    .bind(id.to_string())
    .bind(hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many recovery codes are left.
pub async fn recovery_codes_left(conn: &mut Conn, id: UserId) -> Result<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(id.to_string())
    .fetch_one(conn)
    .await?;
    Ok(row.try_get("n")?)
}

/// Whether the account holds the privacy officer permission (read at each request that needs
/// it, so a change takes effect at once).
pub async fn is_privacy_officer(conn: &mut Conn, id: UserId) -> Result<bool> {
    let flag: Option<i64> =
        sqlx::query_scalar("SELECT privacy_officer FROM users WHERE id = $1 AND status = 'active'")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(flag.unwrap_or(0) != 0)
}

/// Grants or takes back the privacy officer permission of an admin or clinician account; false
/// when there is no such account.
pub async fn set_privacy_officer(
    conn: &mut Conn,
    manage: &portal_domain::access::ClinicCapability,
    id: UserId,
    on: bool,
) -> Result<bool> {
    crate::require(
        manage,
        portal_domain::access::ClinicAction::ManageUsers,
        "managing accounts",
    )?;
    let done = sqlx::query(
        "UPDATE users SET privacy_officer = $1 WHERE id = $2 AND role IN ('admin', 'clinician')",
    )
    .bind(i64::from(on))
    .bind(id.to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The privacy officers' addresses (active accounts), to tell them of break-glass access.
pub async fn privacy_officer_emails(conn: &mut Conn) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT email FROM users WHERE privacy_officer <> 0 AND status = 'active' ORDER BY email",
    )
    .fetch_all(conn)
    .await?)
}

/// The privacy officers' ids (for the Users page).
pub async fn privacy_officers(conn: &mut Conn) -> Result<Vec<UserId>> {
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM users WHERE privacy_officer <> 0")
        .fetch_all(conn)
        .await?;
    ids.iter().map(|id| crate::parse_id(id)).collect()
}

/// The accounts whose name or e-mail contains `text` (any ASCII case), for the audit reports'
/// "who": ids and names, at most `limit`.
pub async fn names_matching(
    conn: &mut Conn,
    text: &str,
    limit: i64,
) -> Result<Vec<(String, String)>> {
    let pattern = format!(
        "%{}%",
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let rows = sqlx::query(
        "SELECT id, name FROM users WHERE LOWER(name) LIKE $1 ESCAPE '\\' \
         OR LOWER(email) LIKE $1 ESCAPE '\\' ORDER BY name, id LIMIT $2",
    )
    .bind(pattern)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("name")?)))
        .collect()
}

/// The names of the accounts `ids` names (those that exist), by name.
pub async fn names_of(conn: &mut Conn, ids: &[String]) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT name FROM users WHERE id IN ({}) ORDER BY name",
        marks.join(", ")
    );
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(id.clone());
    }
    Ok(q.fetch_all(conn).await?)
}

/// Removes a clinic account's authenticator app and recovery codes (an admin's help-desk reset);
/// the account sets up a new one at its next sign-in. Never a patient's or proxy's account,
/// which are reset through a record (`enrolment::clear_second_factor`). `false`: no such
/// clinic account, or it has no authenticator app.
pub async fn clear_second_factor(conn: &mut Conn, user: UserId) -> Result<bool> {
    remove_second_factor(conn, user, "role <> 'patient'", None).await
}

/// Removes the authenticator app and recovery codes of `user` where `condition` (SQL over the
/// users row, `$2` bound to `extra` when given) holds and an app is set up; `false` otherwise,
/// and nothing is touched.
pub(crate) async fn remove_second_factor(
    conn: &mut Conn,
    user: UserId,
    condition: &'static str,
    extra: Option<String>,
) -> Result<bool> {
    let sql = format!(
        "UPDATE users SET totp_secret_enc = NULL, totp_last_step = 0, totp_enabled_at = NULL \
         WHERE id = $1 AND totp_secret_enc IS NOT NULL AND {condition}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.to_string());
    if let Some(extra) = extra {
        q = q.bind(extra);
    }
    if q.execute(&mut *conn).await?.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(true)
}
