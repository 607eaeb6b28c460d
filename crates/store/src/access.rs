//! The relationships the access policy decides on: care teams, proxy grants, break-glass.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use portal_domain::access::{AccessFacts, ProxyGrantFact, ProxyScope};
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::{PatientId, UserId};
use sqlx::Row;

/// Everything the policy needs to know about `user`'s relationship to `patient` (care team,
/// proxy grants, break-glass), in one round trip.
pub async fn facts(conn: &mut Conn, user: UserId, patient: PatientId) -> Result<AccessFacts> {
    let rows = sqlx::query(
        "SELECT 'team' AS kind, NULL AS scope, NULL AS starts_at, NULL AS ends_at, \
                NULL AS revoked_at \
         FROM care_team WHERE user_id = $1 AND patient_id = $2 \
         UNION ALL \
         SELECT 'grant', scope, starts_at, ends_at, revoked_at \
         FROM proxy_grants WHERE proxy_user_id = $1 AND patient_id = $2 \
         UNION ALL \
         SELECT 'glass', NULL, NULL, MAX(expires_at), NULL \
         FROM break_glass WHERE user_id = $1 AND patient_id = $2",
    )
    .bind(user.to_string())
    .bind(patient.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut facts = AccessFacts::default();
    for row in rows {
        match row.try_get::<String, _>("kind")?.as_str() {
            "team" => facts.on_care_team = true,
            "grant" => {
                // An unknown scope gives no access (fail closed).
                let scope: Option<String> = row.try_get("scope")?;
                let Some(scope) = scope.as_deref().and_then(ProxyScope::from_stored) else {
                    continue;
                };
                let starts: Option<i64> = row.try_get("starts_at")?;
                let Some(starts) = starts else { continue };
                let ends: Option<i64> = row.try_get("ends_at")?;
                let revoked: Option<i64> = row.try_get("revoked_at")?;
                facts.proxy_grants.push(ProxyGrantFact {
                    scope,
                    starts_at: from_micros(starts)?,
                    ends_at: ends.map(from_micros).transpose()?,
                    revoked: revoked.is_some(),
                });
            }
            // The latest end of any break-glass access (NULL: none).
            _ => {
                let until: Option<i64> = row.try_get("ends_at")?;
                facts.break_glass_until = until.map(from_micros).transpose()?;
            }
        }
    }
    Ok(facts)
}

/// Puts a clinician on a patient's care team (idempotent).
pub async fn add_to_care_team(conn: &mut Conn, patient: PatientId, user: UserId) -> Result<()> {
    sqlx::query(
        "INSERT INTO care_team (patient_id, user_id) VALUES ($1, $2) \
         ON CONFLICT (patient_id, user_id) DO NOTHING",
    )
    .bind(patient.to_string())
    .bind(user.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// A new proxy grant.
pub struct NewGrant<'a> {
    /// The grant's id.
    pub id: uuid::Uuid,
    /// The proxy's account.
    pub proxy: UserId,
    /// The patient.
    pub patient: PatientId,
    /// What it allows.
    pub scope: ProxyScope,
    /// "parent", "caregiver" …
    pub relationship: &'a str,
    /// When it starts.
    pub starts_at: Timestamp,
    /// When it ends, if it does.
    pub ends_at: Option<Timestamp>,
}

/// Records a proxy grant.
pub async fn add_proxy_grant(conn: &mut Conn, g: &NewGrant<'_>, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO proxy_grants (id, proxy_user_id, patient_id, scope, relationship, starts_at, \
         ends_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(g.id.to_string())
    .bind(g.proxy.to_string())
    .bind(g.patient.to_string())
    .bind(g.scope.as_str())
    .bind(g.relationship)
    .bind(to_micros(g.starts_at))
    .bind(g.ends_at.map(to_micros))
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Records break-glass access, by the clinician the capability was granted to, with its
/// reason and expiry.
pub async fn open_break_glass(
    conn: &mut Conn,
    glass: &ClinicCapability,
    id: uuid::Uuid,
    patient: PatientId,
    reason: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<()> {
    crate::require(glass, ClinicAction::BreakGlass, "break-glass access")?;
    let portal_domain::Principal::User { id: user, .. } = glass.principal() else {
        return Err(crate::Error::WrongCapability("break-glass access"));
    };
    sqlx::query(
        "INSERT INTO break_glass (id, user_id, patient_id, reason, opened_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .bind(patient.to_string())
    .bind(reason)
    .bind(to_micros(now))
    .bind(to_micros(expires_at))
    .execute(conn)
    .await?;
    Ok(())
}
