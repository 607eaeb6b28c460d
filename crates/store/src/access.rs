//! The relationships the access policy decides on: care teams, proxy grants, break-glass.

use crate::{Conn, Result, from_micros, to_micros};
use jiff::Timestamp;
use portal_domain::access::{
    AccessFacts, AgeBand, AgeRules, DEFAULT_JURISDICTION, ParentReach, ProxyGrantFact, ProxyRules,
    ProxyScope, Relationship,
};
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::record::Categories;
use portal_domain::{PatientId, UserId};
use sqlx::Row;
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
    /// The age bands read, until [`finish_facts`] puts them in place.
    bands: Vec<AgeBand>,
    jurisdiction: String,
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
    // The clinic's rules for proxies are read only for records the account holds grants for.
    let granted = format!(
        "(SELECT DISTINCT patient_id FROM proxy_grants \
          WHERE proxy_user_id = {user} AND patient_id IN ({list})) pg"
    );
    format!(
        "SELECT 'team' AS kind, patient_id, NULL AS scope, NULL AS starts_at, \
                NULL AS ends_at, NULL AS revoked_at, NULL AS info, NULL AS chose_at \
         FROM care_team WHERE user_id = {user} AND patient_id IN ({list}) \
         UNION ALL \
         SELECT 'grant', patient_id, scope, starts_at, ends_at, revoked_at, \
                relationship || ';' || shared, patient_chose_at \
         FROM proxy_grants WHERE proxy_user_id = {user} AND patient_id IN ({list}) \
         UNION ALL \
         SELECT 'glass', patient_id, NULL, NULL, MAX(expires_at), NULL, NULL, NULL \
         FROM break_glass WHERE user_id = {user} AND patient_id IN ({list}) GROUP BY patient_id \
         UNION ALL \
         SELECT 'record', p.id, NULL, p.data_version, e.epoch, NULL, p.birth_date, NULL \
         FROM patients p, record_epoch e WHERE p.id IN ({list}) \
         UNION ALL \
         SELECT 'band', pg.patient_id, r.parent_reach, r.from_age, r.until_age, \
                r.patient_may_widen, r.jurisdiction, NULL \
         FROM age_rules r, {granted} \
         WHERE r.jurisdiction = COALESCE((SELECT value FROM clinic_settings \
               WHERE key = '{JURISDICTION_KEY}'), '{DEFAULT_JURISDICTION}') \
         UNION ALL \
         SELECT 'setting', pg.patient_id, c.key, NULL, NULL, NULL, c.value, NULL \
         FROM clinic_settings c, {granted} \
         WHERE c.key = '{CONFIDENTIAL_KEY}:' || COALESCE((SELECT value FROM clinic_settings \
               WHERE key = '{JURISDICTION_KEY}'), '{DEFAULT_JURISDICTION}')"
    )
}

/// The clinic setting naming the jurisdiction whose age rules are in force.
pub const JURISDICTION_KEY: &str = "proxy.jurisdiction";
/// The clinic settings listing the confidential categories kept from proxies under each
/// jurisdiction's rules (`proxy.confidential:<jurisdiction>`: comma-separated names; absent:
/// every category).
pub const CONFIDENTIAL_KEY: &str = "proxy.confidential";

/// The setting holding the confidential categories of `jurisdiction`'s rules.
pub fn confidential_key(jurisdiction: &str) -> String {
    format!("{CONFIDENTIAL_KEY}:{jurisdiction}")
}

static CLINIC_ZONE: std::sync::OnceLock<jiff::tz::TimeZone> = std::sync::OnceLock::new();

/// Sets the clinic's time zone, in which a patient's birthday starts, for every fact read by
/// this process (set once at start-up from the configuration; UTC until then).
pub fn set_clinic_zone(zone: jiff::tz::TimeZone) {
    let _ = CLINIC_ZONE.set(zone);
}

fn clinic_zone() -> jiff::tz::TimeZone {
    CLINIC_ZONE
        .get()
        .cloned()
        .unwrap_or(jiff::tz::TimeZone::UTC)
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
            // Categories never hold a semicolon: the last one ends the relationship.
            let info: Option<String> = row.cell(column("info").as_str())?;
            let (relationship, shared) = info
                .as_deref()
                .unwrap_or("")
                .rsplit_once(';')
                .unwrap_or(("", ""));
            let chose: Option<i64> = row.cell(column("chose_at").as_str())?;
            facts.proxy_grants.push(ProxyGrantFact {
                scope,
                starts_at: from_micros(starts)?,
                ends_at: ends.map(from_micros).transpose()?,
                revoked: revoked.is_some(),
                relationship: Relationship::from_stored(relationship),
                patient_chose_at: chose.map(from_micros).transpose()?,
                shared: Categories::from_stored(shared),
            });
        }
        "record" => {
            out.version = Some(RecordVersion {
                record: starts.unwrap_or_default(),
                epoch: ends.unwrap_or_default(),
            });
            let birth: Option<String> = row.cell(column("info").as_str())?;
            // A birth date that does not read leaves it unknown: no grant reaches anything.
            facts.patient_birth = birth.and_then(|b| b.parse().ok());
            facts.rules.zone = clinic_zone();
        }
        "band" => {
            let (Some(from), Some(reach)) = (
                starts,
                row.cell::<Option<String>>(column("scope").as_str())?,
            ) else {
                return Ok(());
            };
            let widen: Option<i64> = row.cell(column("revoked_at").as_str())?;
            let band = age_band(from, ends, &reach, widen.unwrap_or(0) != 0);
            out.bands.push(band);
            let jurisdiction: Option<String> = row.cell(column("info").as_str())?;
            out.jurisdiction = jurisdiction.unwrap_or_default();
        }
        "setting" => {
            let value: Option<String> = row.cell(column("info").as_str())?;
            facts.rules.confidential = Categories::from_stored(value.as_deref().unwrap_or(""));
        }
        // The latest end of any break-glass access.
        _ => facts.break_glass_until = ends.map(from_micros).transpose()?,
    }
    Ok(())
}

/// One stored age band; an unknown reach reads as ended (fail closed).
fn age_band(from: i64, until: Option<i64>, reach: &str, widen: bool) -> AgeBand {
    let age = |n: i64| u8::try_from(n.clamp(0, 255)).unwrap_or(u8::MAX);
    AgeBand {
        from_age: age(from),
        until_age: until.map(age),
        parent_reach: match reach {
            "full" => ParentReach::Full,
            "limited" => ParentReach::Limited,
            _ => ParentReach::Ended,
        },
        patient_may_widen: widen,
    }
}

/// The facts read, less those about records that do not exist (they decide nothing), with the
/// age rules read put in place: rules that do not check out leave the defaults.
pub(crate) fn finish_facts(
    mut out: HashMap<PatientId, RecordFacts>,
) -> HashMap<PatientId, RecordFacts> {
    out.retain(|_, read| read.version.is_some());
    for read in out.values_mut() {
        let mut bands = std::mem::take(&mut read.bands);
        if bands.is_empty() {
            continue;
        }
        bands.sort_by_key(|b| b.from_age);
        let rules = AgeRules {
            jurisdiction: std::mem::take(&mut read.jurisdiction),
            bands,
        };
        if rules.check().is_ok() {
            read.facts.rules.ages = rules;
        }
    }
    out
}

/// The clinic's rules for proxies as stored: the age rules of the jurisdiction in force (the
/// defaults where none is stored or the stored bands do not check out), the confidential
/// categories kept from proxies, and the clinic's time zone.
pub async fn proxy_rules(conn: &mut Conn) -> Result<ProxyRules> {
    let stored = crate::pools::settings(&mut *conn).await?;
    let setting = |key: &str| {
        stored
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let jurisdiction = setting(JURISDICTION_KEY).unwrap_or_else(|| DEFAULT_JURISDICTION.into());
    let mut rules = ProxyRules {
        zone: clinic_zone(),
        ..ProxyRules::default()
    };
    if let Some(found) = crate::proxies::age_rules(conn)
        .await?
        .into_iter()
        .find(|r| r.jurisdiction == jurisdiction && r.check().is_ok())
    {
        rules.ages = found;
    }
    if let Some(text) = setting(&confidential_key(&jurisdiction)) {
        rules.confidential = Categories::from_stored(&text);
    }
    Ok(rules)
}

/// An account holding a grant to a record that reaches something today.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReachingProxy {
    /// The account's e-mail address.
    pub email: String,
    /// Whether it wants appointment reminders.
    pub wants_reminders: bool,
    /// What the grant reaches today under the clinic's rules.
    pub reaches: ProxyScope,
}

/// The active accounts whose grants to `patient` reach something at `now`, as the policy
/// would decide it (the grant's dates and revocation, and the clinic's age rules): whom the
/// patient's side's e-mails may go to.
pub async fn proxies_reaching(
    conn: &mut Conn,
    patient: PatientId,
    now: Timestamp,
) -> Result<Vec<ReachingProxy>> {
    let rows = sqlx::query(
        "SELECT u.email, CAST(u.appointment_reminders AS BIGINT) AS reminders, g.scope, \
         g.starts_at, g.ends_at, g.relationship, g.patient_chose_at, g.shared, p.birth_date \
         FROM proxy_grants g JOIN users u ON u.id = g.proxy_user_id \
         JOIN patients p ON p.id = g.patient_id \
         WHERE g.patient_id = $1 AND g.revoked_at IS NULL AND u.status = 'active' \
         ORDER BY u.email",
    )
    .bind(patient.to_string())
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let rules = proxy_rules(conn).await?;
    let mut out: Vec<ReachingProxy> = Vec::new();
    for r in &rows {
        use sqlx::Row;
        let Some(scope) = ProxyScope::from_stored(&r.try_get::<String, _>("scope")?) else {
            continue;
        };
        let Ok(birth) = r.try_get::<String, _>("birth_date")?.parse() else {
            continue;
        };
        let grant = ProxyGrantFact {
            scope,
            starts_at: from_micros(r.try_get("starts_at")?)?,
            ends_at: r
                .try_get::<Option<i64>, _>("ends_at")?
                .map(from_micros)
                .transpose()?,
            revoked: false,
            relationship: Relationship::from_stored(&r.try_get::<String, _>("relationship")?),
            patient_chose_at: r
                .try_get::<Option<i64>, _>("patient_chose_at")?
                .map(from_micros)
                .transpose()?,
            shared: Categories::from_stored(&r.try_get::<String, _>("shared")?),
        };
        let active = grant.starts_at <= now && grant.ends_at.is_none_or(|end| now < end);
        let Some(reaches) = rules.reach(&grant, birth, now).filter(|_| active) else {
            continue;
        };
        let email: String = r.try_get("email")?;
        let wants_reminders = r.try_get::<i64, _>("reminders")? != 0;
        match out.iter_mut().find(|p| p.email == email) {
            // Several grants to one account: the widest reach counts.
            Some(known) if reaches == ProxyScope::Full => known.reaches = reaches,
            Some(_) => {}
            None => out.push(ReachingProxy {
                email,
                wants_reminders,
                reaches,
            }),
        }
    }
    Ok(out)
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
    /// Who made it: an account id, or "operator".
    pub granted_by: &'a str,
    /// When the patient chose it themselves, if they did.
    pub patient_chose_at: Option<Timestamp>,
    /// The identity document staff checked before granting.
    pub document_checked: &'a str,
}

/// Records a proxy grant.
pub async fn add_proxy_grant(conn: &mut Conn, g: &NewGrant<'_>, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO proxy_grants (id, proxy_user_id, patient_id, scope, relationship, starts_at, \
         ends_at, created_at, granted_by, patient_chose_at, document_checked) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(g.id.to_string())
    .bind(g.proxy.to_string())
    .bind(g.patient.to_string())
    .bind(g.scope.as_str())
    .bind(g.relationship)
    .bind(to_micros(g.starts_at))
    .bind(g.ends_at.map(to_micros))
    .bind(to_micros(now))
    .bind(g.granted_by)
    .bind(g.patient_chose_at.map(to_micros))
    .bind(g.document_checked)
    .execute(conn)
    .await?;
    Ok(())
}

/// The records the acting clinician holds open break-glass access to at `now`, with when each
/// ends.
pub async fn open_break_glass_of(
    conn: &mut Conn,
    glass: &ClinicCapability,
    now: Timestamp,
) -> Result<std::collections::HashMap<PatientId, Timestamp>> {
    crate::require(glass, ClinicAction::BreakGlass, "break-glass access")?;
    let portal_domain::Principal::User { id: user, .. } = glass.principal() else {
        return Err(crate::Error::WrongCapability("break-glass access"));
    };
    let rows = sqlx::query(
        "SELECT patient_id, MAX(expires_at) AS until FROM break_glass WHERE user_id = $1 \
         AND expires_at > $2 GROUP BY patient_id",
    )
    .bind(user.to_string())
    .bind(to_micros(now))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                crate::parse_id(&r.try_get::<String, _>("patient_id")?)?,
                crate::from_micros(r.try_get("until")?)?,
            ))
        })
        .collect()
}

/// Opens break-glass access for the acting clinician to one record until `expires_at`, unless
/// access they opened earlier is still open: then that one stands (two requests at once make one
/// grant). `during` runs from now to when new access would end. Returns when the open access ends and whether this call opened it.
pub async fn open_break_glass(
    conn: &mut Conn,
    backend: crate::Backend,
    glass: &ClinicCapability,
    id: uuid::Uuid,
    patient: PatientId,
    reason: &str,
    during: std::ops::Range<Timestamp>,
) -> Result<(Timestamp, bool)> {
    let (now, expires_at) = (during.start, during.end);
    crate::require(glass, ClinicAction::BreakGlass, "break-glass access")?;
    let portal_domain::Principal::User { id: user, .. } = glass.principal() else {
        return Err(crate::Error::WrongCapability("break-glass access"));
    };
    // The record's row is the lock two requests for the same record wait on (PostgreSQL;
    // SQLite's `BEGIN IMMEDIATE` already holds the write lock).
    sqlx::query(crate::dialect::lock_patient(backend))
        .bind(patient.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let open: Option<i64> = sqlx::query(
        "SELECT MAX(expires_at) AS until FROM break_glass WHERE user_id = $1 AND patient_id = $2 \
         AND expires_at > $3",
    )
    .bind(user.to_string())
    .bind(patient.to_string())
    .bind(to_micros(now))
    .fetch_one(&mut *conn)
    .await?
    .try_get("until")?;
    if let Some(until) = open {
        return Ok((crate::from_micros(until)?, false));
    }
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
    Ok((expires_at, true))
}
