//! The relationships the access policy decides on: care teams, proxy grants, break-glass.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use portal_domain::access::{AccessFacts, ProxyGrantFact, ProxyScope};
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::{PatientId, UserId};
use std::collections::HashMap;

/// The versions of what a record's pages show: the record's own version and the epoch of
/// changes that reach every record (see migration 8). Equal versions mean equal pages, at the
/// same time and for the same viewer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RecordVersion {
    /// Raised by every change of this record's data.
    pub record: i64,
    /// Raised by every change that reaches every record (result holds, directory names).
    pub epoch: i64,
}

/// What the policy decides a patient's record on, read in one round trip.
#[derive(Clone, Debug, Default)]
pub struct RecordFacts {
    /// The record exists (`None`: no such patient).
    pub version: Option<RecordVersion>,
    /// The viewer's relationships to the patient (empty for a viewer who is not an account).
    pub facts: AccessFacts,
}

/// Whether the patient's record exists, its version, and (for an account) everything the policy
/// needs to know about the account's relationship to it, in one round trip.
pub async fn record_facts(
    conn: &mut Conn,
    user: Option<UserId>,
    patient: PatientId,
) -> Result<RecordFacts> {
    Ok(record_facts_of_many(conn, user, &[patient])
        .await?
        .remove(&patient)
        .unwrap_or_default())
}

/// [`record_facts`] of several records, in one round trip (a record that does not exist is
/// left out).
pub async fn record_facts_of_many(
    conn: &mut Conn,
    user: Option<UserId>,
    patients: &[PatientId],
) -> Result<HashMap<PatientId, RecordFacts>> {
    let mut out: HashMap<PatientId, RecordFacts> = HashMap::new();
    for chunk in patients.chunks(200) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = facts_sql("$1", &list);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.map(|u| u.to_string()).unwrap_or_default());
        for p in chunk {
            q = q.bind(p.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            read_fact(&row, "", &mut out)?;
        }
    }
    Ok(finish_facts(out))
}

/// [`record_facts`] of an account's own record (if it has one) and of every record it holds or
/// held a proxy grant for, in one round trip: the records its home page lists, as the policy
/// decides on them.
pub async fn family_facts(
    conn: &mut Conn,
    user: UserId,
    own: Option<PatientId>,
) -> Result<HashMap<PatientId, RecordFacts>> {
    let sql = facts_sql(
        "$1",
        "SELECT g.patient_id FROM proxy_grants g WHERE g.proxy_user_id = $1 UNION SELECT $2",
    );
    let mut out = HashMap::new();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .bind(own.map(|p| p.to_string()).unwrap_or_default())
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        read_fact(&row, "", &mut out)?;
    }
    Ok(finish_facts(out))
}

/// SQL: one row per fact about the records in `list` (placeholders, or a query of ids) for the
/// account `user` (an
/// SQL expression): `kind`, `patient_id`, and columns named after the proxy grants'. The
/// record's own row carries its version in `starts_at` and the epoch in `ends_at`.
pub(crate) fn facts_sql(user: &str, list: &str) -> String {
    format!(
        "SELECT 'team' AS kind, patient_id, NULL AS scope, NULL AS starts_at, \
                NULL AS ends_at, NULL AS revoked_at \
         FROM care_team WHERE user_id = {user} AND patient_id IN ({list}) \
         UNION ALL \
         SELECT 'grant', patient_id, scope, starts_at, ends_at, revoked_at \
         FROM proxy_grants WHERE proxy_user_id = {user} AND patient_id IN ({list}) \
         UNION ALL \
         SELECT 'glass', patient_id, NULL, NULL, MAX(expires_at), NULL \
         FROM break_glass WHERE user_id = {user} AND patient_id IN ({list}) GROUP BY patient_id \
         UNION ALL \
         SELECT 'record', p.id, NULL, p.data_version, e.epoch, NULL \
         FROM patients p, record_epoch e WHERE p.id IN ({list})"
    )
}

/// Reads one row of [`facts_sql`] (its columns named with `prefix`) into `out`; a row whose
/// kind is NULL (none, from an outer join) adds nothing.
pub(crate) fn read_fact(
    row: &impl crate::embedded::Cells,
    prefix: &str,
    out: &mut HashMap<PatientId, RecordFacts>,
) -> Result<()> {
    let column = |name: &str| format!("{prefix}{name}");
    let Some(kind) = row.cell::<Option<String>>(column("kind").as_str())? else {
        return Ok(());
    };
    let patient: String = row.cell(column("patient_id").as_str())?;
    let out = out.entry(crate::parse_id(&patient)?).or_default();
    let facts = &mut out.facts;
    let starts: Option<i64> = row.cell(column("starts_at").as_str())?;
    let ends: Option<i64> = row.cell(column("ends_at").as_str())?;
    match kind.as_str() {
        "team" => facts.on_care_team = true,
        "grant" => {
            // An unknown scope gives no access (fail closed).
            let scope: Option<String> = row.cell(column("scope").as_str())?;
            let (Some(scope), Some(starts)) =
                (scope.as_deref().and_then(ProxyScope::from_stored), starts)
            else {
                return Ok(());
            };
            let revoked: Option<i64> = row.cell(column("revoked_at").as_str())?;
            facts.proxy_grants.push(ProxyGrantFact {
                scope,
                starts_at: from_micros(starts)?,
                ends_at: ends.map(from_micros).transpose()?,
                revoked: revoked.is_some(),
            });
        }
        "record" => {
            out.version = Some(RecordVersion {
                record: starts.unwrap_or_default(),
                epoch: ends.unwrap_or_default(),
            });
        }
        // The latest end of any break-glass access.
        _ => facts.break_glass_until = ends.map(from_micros).transpose()?,
    }
    Ok(())
}

/// The facts read, less those about records that do not exist (they decide nothing).
pub(crate) fn finish_facts(
    mut out: HashMap<PatientId, RecordFacts>,
) -> HashMap<PatientId, RecordFacts> {
    out.retain(|_, read| read.version.is_some());
    out
}

/// Raises the versions of these records: what their pages show has changed (call in the
/// transaction that changed it).
pub async fn touch_records(conn: &mut Conn, patients: &[PatientId]) -> Result<()> {
    for chunk in patients.chunks(500) {
        let list = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("UPDATE patients SET data_version = data_version + 1 WHERE id IN ({list})");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in chunk {
            q = q.bind(p.to_string());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Raises the epoch of every record: a change that reaches every record's pages (call in the
/// transaction that made it).
pub async fn touch_all_records(conn: &mut Conn) -> Result<()> {
    sqlx::query("UPDATE record_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
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
