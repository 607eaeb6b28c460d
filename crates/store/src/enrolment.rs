//! Enrolment as the clinic follows it: whether a record has an account of its own, a code
//! waiting to be used, or neither; cancelling codes; the clinic's adoption figures.

use crate::{Conn, Result, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::user::AccountStatus;
use portal_domain::{Action, PatientAccess, UserId};
use sqlx::Row;

/// The account that signs in as the record's patient.
#[derive(Clone, Debug)]
pub struct OwnAccount {
    /// Its id.
    pub user: UserId,
    /// The address it signs in with.
    pub email: String,
    /// Whether an admin disabled it.
    pub status: AccountStatus,
    /// When it was activated.
    pub created_at: Timestamp,
    /// When it last completed sign-in, if known.
    pub last_signed_in_at: Option<Timestamp>,
    /// Whether it has an authenticator app set up.
    pub has_second_factor: bool,
    /// Its sessions that have not ended (some may have timed out unseen).
    pub sessions: i64,
}

/// An activation code that still works.
#[derive(Clone, Debug)]
pub struct IssuedCode {
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The name of the account that issued it (none for the command line).
    pub issued_by: Option<String>,
}

/// Where a record's enrolment stands.
#[derive(Clone, Debug)]
pub struct Enrolment {
    /// Its own account, if it has one.
    pub account: Option<OwnAccount>,
    /// The code waiting to be used, if any (the newest).
    pub code: Option<IssuedCode>,
}

fn enrolling(access: &PatientAccess) -> Result<()> {
    if access.action() == Action::Enrol {
        Ok(())
    } else {
        Err(crate::Error::WrongCapability("enrolling the patient"))
    }
}

/// The record's account and waiting code, as of `now`.
pub async fn of_record(
    conn: &mut Conn,
    enrol: &PatientAccess,
    now: Timestamp,
) -> Result<Enrolment> {
    enrolling(enrol)?;
    let patient = enrol.patient().to_string();
    let account = sqlx::query(
        "SELECT u.id, u.email, u.status, u.created_at, u.last_signed_in_at, \
         CASE WHEN u.totp_secret_enc IS NULL THEN 0 ELSE 1 END AS has_totp, \
         (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id) AS sessions \
         FROM users u WHERE u.patient_id = $1",
    )
    .bind(&patient)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(account_of)
    .transpose()?;
    let code = sqlx::query(
        "SELECT c.created_at, c.expires_at, u.name FROM activation_codes c \
         LEFT JOIN users u ON u.id = c.created_by \
         WHERE c.patient_id = $1 AND c.used_at IS NULL AND c.expires_at > $2 \
         ORDER BY c.created_at DESC LIMIT 1",
    )
    .bind(&patient)
    .bind(to_micros(now))
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| -> Result<IssuedCode> {
        Ok(IssuedCode {
            created_at: from_micros(r.try_get("created_at")?)?,
            expires_at: from_micros(r.try_get("expires_at")?)?,
            issued_by: r.try_get("name")?,
        })
    })
    .transpose()?;
    Ok(Enrolment { account, code })
}

fn account_of(r: &sqlx::any::AnyRow) -> Result<OwnAccount> {
    Ok(OwnAccount {
        user: parse_id(&r.try_get::<String, _>("id")?)?,
        email: r.try_get("email")?,
        status: AccountStatus::from_stored(&r.try_get::<String, _>("status")?),
        created_at: from_micros(r.try_get("created_at")?)?,
        last_signed_in_at: r
            .try_get::<Option<i64>, _>("last_signed_in_at")?
            .map(from_micros)
            .transpose()?,
        has_second_factor: r.try_get::<i64, _>("has_totp")? != 0,
        sessions: r.try_get("sessions")?,
    })
}

/// An account with proxy access to the record (a parent, guardian or caregiver).
#[derive(Clone, Debug)]
pub struct ProxyAccount {
    /// The account.
    pub account: OwnAccount,
    /// The proxy's name.
    pub name: String,
    /// How they are related to the patient.
    pub relationship: String,
}

/// The accounts whose proxy access to the record is in force at `now`, by name.
pub async fn proxy_accounts(
    conn: &mut Conn,
    enrol: &PatientAccess,
    now: Timestamp,
) -> Result<Vec<ProxyAccount>> {
    enrolling(enrol)?;
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.status, u.created_at, u.last_signed_in_at, u.name, \
         g.relationship, CASE WHEN u.totp_secret_enc IS NULL THEN 0 ELSE 1 END AS has_totp, \
         (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id) AS sessions \
         FROM proxy_grants g JOIN users u ON u.id = g.proxy_user_id \
         WHERE g.patient_id = $1 AND g.revoked_at IS NULL AND g.starts_at <= $2 \
         AND (g.ends_at IS NULL OR g.ends_at > $2) ORDER BY u.name, u.id, g.created_at",
    )
    .bind(enrol.patient().to_string())
    .bind(to_micros(now))
    .fetch_all(conn)
    .await?;
    let mut out: Vec<ProxyAccount> = Vec::new();
    for r in &rows {
        let account = account_of(r)?;
        // One line an account, whatever number of grants it holds.
        if out.iter().any(|p| p.account.user == account.user) {
            continue;
        }
        out.push(ProxyAccount {
            account,
            name: r.try_get("name")?,
            relationship: r.try_get("relationship")?,
        });
    }
    Ok(out)
}

/// Makes every waiting code of the record stop working at `now`; how many there were.
pub async fn cancel_codes(conn: &mut Conn, enrol: &PatientAccess, now: Timestamp) -> Result<u64> {
    enrolling(enrol)?;
    let done = sqlx::query(
        "UPDATE activation_codes SET expires_at = $1 \
         WHERE patient_id = $2 AND used_at IS NULL AND expires_at > $1",
    )
    .bind(to_micros(now))
    .bind(enrol.patient().to_string())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// The clinic's adoption figures: records, records whose own account is active, and of those
/// the ones that signed in since `since`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Adoption {
    /// Patient records.
    pub records: i64,
    /// Records with an active account of their own.
    pub with_account: i64,
    /// Of those, the accounts that completed sign-in since the given time.
    pub signed_in_lately: i64,
}

/// Reads the adoption figures (for the front desk and admins: counts only, no names).
pub async fn adoption(
    conn: &mut Conn,
    directory: &ClinicCapability,
    since: Timestamp,
) -> Result<Adoption> {
    crate::require(directory, ClinicAction::FrontDesk, "the adoption figures")?;
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM patients) AS records, \
         (SELECT COUNT(*) FROM users WHERE patient_id IS NOT NULL AND status = 'active') AS with_account, \
         (SELECT COUNT(*) FROM users WHERE patient_id IS NOT NULL AND status = 'active' \
           AND last_signed_in_at >= $1) AS lately",
    )
    .bind(to_micros(since))
    .fetch_one(conn)
    .await?;
    Ok(Adoption {
        records: row.try_get("records")?,
        with_account: row.try_get("with_account")?,
        signed_in_lately: row.try_get("lately")?,
    })
}

/// Notes that an account completed sign-in at `now`.
pub async fn signed_in(conn: &mut Conn, user: UserId, now: Timestamp) -> Result<()> {
    sqlx::query("UPDATE users SET last_signed_in_at = $1 WHERE id = $2")
        .bind(to_micros(now))
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes an account's authenticator app and recovery codes (the help desk's reset, after
/// checking who asks); the account sets up a new one at its next sign-in when the clinic
/// requires one. Only the record's own account or a proxy's in force, with an app set up:
/// `false` for any other.
pub async fn clear_second_factor(
    conn: &mut Conn,
    enrol: &PatientAccess,
    user: UserId,
) -> Result<bool> {
    enrolling(enrol)?;
    crate::users::remove_second_factor(
        conn,
        user,
        "(patient_id = $2 OR id IN (SELECT proxy_user_id FROM proxy_grants \
         WHERE patient_id = $2 AND revoked_at IS NULL))",
        Some(enrol.patient().to_string()),
    )
    .await
}
