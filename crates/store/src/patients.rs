//! Patient records: who the patient is (demographics). The clinical record comes with imports.

use crate::{Conn, Result, conflict_as, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ActivationAccess, ClinicAction, ClinicCapability};
use portal_domain::{PatientAccess, PatientId, Principal, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A patient's demographics as the store reads and writes them.
pub use portal_domain::patient::Patient as PatientRow;

const COLUMNS: &str = "id, mrn, given_name, family_name, birth_date, sex, deceased";

fn from_row(row: &AnyRow) -> Result<PatientRow> {
    Ok(PatientRow {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        mrn: row.try_get("mrn")?,
        given_name: row.try_get("given_name")?,
        family_name: row.try_get("family_name")?,
        birth_date: row.try_get("birth_date")?,
        sex: row.try_get("sex")?,
        deceased: row.try_get("deceased")?,
    })
}

/// Creates a patient record; a repeated MRN is a conflict.
pub async fn insert(conn: &mut Conn, p: &PatientRow, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO patients (id, mrn, given_name, family_name, birth_date, sex, created_at, \
         deceased, search_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(p.id.to_string())
    .bind(&p.mrn)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(&p.birth_date)
    .bind(&p.sex)
    .bind(to_micros(now))
    .bind(&p.deceased)
    .bind(search_name(p))
    .execute(conn)
    .await
    .map_err(conflict_as("medical record number"))?;
    Ok(())
}

/// Reads the demographics the policy allowed.
pub async fn get(conn: &mut Conn, access: &PatientAccess) -> Result<Option<PatientRow>> {
    by_id(conn, access.patient()).await
}

/// Reads the record an activation code names, to compare the birth date typed.
pub async fn get_for_activation(
    conn: &mut Conn,
    access: &ActivationAccess,
) -> Result<Option<PatientRow>> {
    by_id(conn, access.patient()).await
}

/// Reads a record an import is about to update, to check it is the same person.
pub async fn get_for_import(
    conn: &mut Conn,
    import: &ClinicCapability,
    id: PatientId,
) -> Result<Option<PatientRow>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    by_id(conn, id).await
}

async fn by_id(conn: &mut Conn, id: PatientId) -> Result<Option<PatientRow>> {
    let sql = format!("SELECT {COLUMNS} FROM patients WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Whether the record's imported Patient is marked inactive (`Patient.active` false): a closed
/// record, whose prescriptions are not renewed from the portal.
pub async fn marked_inactive(conn: &mut Conn, access: &PatientAccess) -> Result<bool> {
    let details: Option<Option<String>> =
        sqlx::query_scalar("SELECT details FROM patients WHERE id = $1")
            .bind(access.patient().to_string())
            .fetch_optional(conn)
            .await?;
    let Some(details) = details.flatten() else {
        return Ok(false);
    };
    let value: serde_json::Value = serde_json::from_str(&details)
        .map_err(|e| crate::Error::Corrupt(format!("patient details: {e}")))?;
    Ok(value.get("active") == Some(&serde_json::Value::Bool(false)))
}

/// The imported demographics (the mapped Patient as JSON) of the record an activation code
/// names: for telling the record's own e-mail addresses of the activation.
pub async fn details_for_activation(
    conn: &mut Conn,
    access: &ActivationAccess,
) -> Result<Option<String>> {
    details_of(conn, access.patient()).await
}

/// The imported demographics (FHIR JSON) of a record the clinic enrols, to find the e-mail
/// addresses it lists.
pub async fn details_for_enrolment(
    conn: &mut Conn,
    enrol: &PatientAccess,
) -> Result<Option<String>> {
    if enrol.action() != portal_domain::Action::Enrol {
        return Err(crate::Error::WrongCapability("enrolling the patient"));
    }
    details_of(conn, enrol.patient()).await
}

/// A record's imported demographics (FHIR JSON), if it came from an import.
async fn details_of(conn: &mut Conn, id: PatientId) -> Result<Option<String>> {
    let details: Option<Option<String>> =
        sqlx::query_scalar("SELECT details FROM patients WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(details.flatten())
}

/// The records a reference the clinic knows names: the portal's own id, a medical record number,
/// or the id the EHR gave its Patient resource (for enrolment from the command line, which then
/// goes through the policy). More than one means the reference is ambiguous.
pub async fn ids_by_reference(conn: &mut Conn, reference: &str) -> Result<Vec<PatientId>> {
    let rows = sqlx::query(
        "SELECT id FROM patients WHERE id = $1 OR mrn = $1 \
         UNION SELECT p.id FROM patients p JOIN fhir_resources r ON r.id = p.resource_id \
         WHERE r.resource_type = 'Patient' AND r.source_id = $1",
    )
    .bind(reference)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| parse_id(&r.try_get::<String, _>("id")?))
        .collect()
}

/// Whether a record exists (for break-glass from a search's result, which then goes through
/// the policy).
pub async fn exists(conn: &mut Conn, id: PatientId) -> Result<bool> {
    Ok(by_id(conn, id).await?.is_some())
}

/// Finds a record's id by MRN (for break-glass and enrolment, which then go through the policy).
pub async fn id_by_mrn(conn: &mut Conn, mrn: &str) -> Result<Option<PatientId>> {
    let row = sqlx::query("SELECT id FROM patients WHERE mrn = $1")
        .bind(mrn)
        .fetch_optional(conn)
        .await?;
    row.map(|r| parse_id(&r.try_get::<String, _>("id")?))
        .transpose()
}

/// The patients on the acting clinician's care team, by family name.
pub async fn on_care_team(conn: &mut Conn, list: &ClinicCapability) -> Result<Vec<PatientRow>> {
    crate::require(
        list,
        ClinicAction::ListCareTeamPatients,
        "listing one's patients",
    )?;
    let Principal::User { id: clinician, .. } = list.principal() else {
        return Err(crate::Error::WrongCapability("listing one's patients"));
    };
    let sql = "SELECT p.id, p.mrn, p.given_name, p.family_name, p.birth_date, p.sex, p.deceased \
               FROM patients p JOIN care_team c ON c.patient_id = p.id \
               WHERE c.user_id = $1 ORDER BY p.family_name, p.given_name, p.id";
    let rows = sqlx::query(sql)
        .bind(clinician.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// The name a record is found by, as searches compare it.
fn search_name(p: &PatientRow) -> String {
    portal_domain::patient::search_key(&format!("{} {}", p.given_name, p.family_name))
}

/// Writes the search form of every record's name (migration 17, in its transaction).
pub(crate) async fn fill_search_names(conn: &mut Conn) -> Result<()> {
    let rows = sqlx::query("SELECT id, given_name, family_name FROM patients")
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        let id: String = row.try_get("id")?;
        let name = format!(
            "{} {}",
            row.try_get::<String, _>("given_name")?,
            row.try_get::<String, _>("family_name")?
        );
        sqlx::query("UPDATE patients SET search_name = $1 WHERE id = $2")
            .bind(portal_domain::patient::search_key(&name))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One record a directory search found.
#[derive(Clone, Debug)]
pub struct Found {
    /// Its demographics.
    pub row: PatientRow,
    /// Whether the searching clinician is on its care team (always false for others).
    pub on_care_team: bool,
}

/// Escapes `LIKE`'s wildcards (the pattern uses `ESCAPE '\\'`).
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Searches the directory (demographics only): every name word must start a word of the
/// patient's name, the date of birth must match, or the one word is the medical record number
/// (any case); at most `limit` rows, by name. For a clinician each row says whether they are on
/// its care team.
pub async fn search(
    conn: &mut Conn,
    directory: &ClinicCapability,
    query: &portal_domain::patient::PatientQuery,
    limit: i64,
) -> Result<Vec<Found>> {
    crate::require(
        directory,
        ClinicAction::SearchDirectory,
        "searching the directory",
    )?;
    let Principal::User { id: user, .. } = directory.principal() else {
        return Err(crate::Error::WrongCapability("searching the directory"));
    };
    // $1 the user, $2 the limit, then the date of birth and each word's pattern.
    let mut binds: Vec<String> = Vec::new();
    let next = |value: String, binds: &mut Vec<String>| {
        binds.push(value);
        format!("${}", binds.len() + 2)
    };
    let mut wanted = Vec::new();
    if let Some(born) = &query.born {
        wanted.push(format!("p.birth_date = {}", next(born.clone(), &mut binds)));
    }
    let names: Vec<String> = query
        .words
        .iter()
        .map(|w| {
            let at = next(format!("% {}%", like_escaped(w)), &mut binds);
            format!("p.search_name LIKE {at} ESCAPE '\\'")
        })
        .collect();
    let by_name = (!names.is_empty()).then(|| names.join(" AND "));
    let by_mrn = query
        .mrn
        .as_ref()
        .map(|mrn| format!("LOWER(p.mrn) = {}", next(mrn.to_lowercase(), &mut binds)));
    match (by_name, by_mrn) {
        (Some(name), Some(mrn)) => wanted.push(format!("(({name}) OR {mrn})")),
        (Some(name), None) => wanted.push(name),
        (None, Some(mrn)) => wanted.push(mrn),
        (None, None) => {}
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT p.id, p.mrn, p.given_name, p.family_name, p.birth_date, p.sex, p.deceased, \
         CASE WHEN EXISTS (SELECT 1 FROM care_team c WHERE c.patient_id = p.id \
           AND c.user_id = $1) THEN 1 ELSE 0 END AS on_team \
         FROM patients p WHERE {} ORDER BY p.family_name, p.given_name, p.birth_date, p.id \
         LIMIT $2",
        wanted.join(" AND ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .bind(limit);
    for value in binds {
        q = q.bind(value);
    }
    let rows = q.fetch_all(conn).await?;
    rows.iter()
        .map(|r| {
            Ok(Found {
                row: from_row(r)?,
                on_care_team: r.try_get::<i64, _>("on_team")? != 0,
            })
        })
        .collect()
}

/// The records a user opened lately (their newest audited successful views), newest first, at
/// most `limit`; the policy still decides each opening.
pub async fn recently_opened(
    conn: &mut Conn,
    directory: &ClinicCapability,
    limit: usize,
) -> Result<Vec<PatientRow>> {
    crate::require(
        directory,
        ClinicAction::SearchDirectory,
        "listing recent patients",
    )?;
    let Principal::User { id: user, .. } = directory.principal() else {
        return Err(crate::Error::WrongCapability("listing recent patients"));
    };
    // The newest 200 events name the recent records; each record once, newest first.
    let rows = sqlx::query(
        "SELECT patient_id, MAX(seq) AS newest FROM (SELECT patient_id, seq FROM audit_events \
         WHERE actor_id = $1 AND outcome = 'success' AND action = 'read' \
         AND resource_type NOT IN ('AuditReport', 'Enrolment') ORDER BY seq DESC LIMIT 200) e \
         WHERE patient_id IS NOT NULL GROUP BY patient_id ORDER BY newest DESC",
    )
    .bind(user.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<String> = rows
        .iter()
        .take(limit)
        .map(|r| r.try_get::<String, _>("patient_id"))
        .collect::<std::result::Result<_, _>>()?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // The records in one read, then in the order they were opened.
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM patients WHERE id IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in &ids {
        q = q.bind(id.clone());
    }
    let found: Vec<PatientRow> = q
        .fetch_all(conn)
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<_>>()?;
    Ok(ids
        .iter()
        .filter_map(|id| found.iter().find(|p| p.id.to_string() == *id).cloned())
        .collect())
}

/// The patients a proxy holds a grant for that is in force at `now` (the policy still decides
/// per request).
pub async fn with_grants_for(
    conn: &mut Conn,
    proxy: UserId,
    now: Timestamp,
) -> Result<Vec<PatientRow>> {
    let sql = "SELECT DISTINCT p.id, p.mrn, p.given_name, p.family_name, p.birth_date, p.sex, p.deceased \
               FROM patients p JOIN proxy_grants g ON g.patient_id = p.id \
               WHERE g.proxy_user_id = $1 AND g.revoked_at IS NULL AND g.starts_at <= $2 \
               AND (g.ends_at IS NULL OR g.ends_at > $2) \
               ORDER BY p.family_name, p.given_name, p.id";
    let rows = sqlx::query(sql)
        .bind(proxy.to_string())
        .bind(to_micros(now))
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Creates or updates the demographics of an imported Patient resource (`resource_id` is the
/// portal id of the resource; `details` the mapped demographics as JSON). The record keeps its
/// id across re-imports.
pub async fn upsert_imported(
    conn: &mut Conn,
    import: &ClinicCapability,
    p: &PatientRow,
    resource_id: &str,
    details: &str,
    now: Timestamp,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    sqlx::query(
        "INSERT INTO patients (id, mrn, given_name, family_name, birth_date, sex, created_at, \
         details, resource_id, deceased, search_name) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO UPDATE SET mrn = excluded.mrn, given_name = excluded.given_name, \
         family_name = excluded.family_name, birth_date = excluded.birth_date, sex = excluded.sex, \
         details = excluded.details, resource_id = excluded.resource_id, \
         deceased = excluded.deceased, search_name = excluded.search_name",
    )
    .bind(p.id.to_string())
    .bind(&p.mrn)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(&p.birth_date)
    .bind(&p.sex)
    .bind(to_micros(now))
    .bind(details)
    .bind(resource_id)
    .bind(&p.deceased)
    .bind(search_name(p))
    .execute(conn)
    .await
    .map_err(conflict_as("medical record number"))?;
    Ok(())
}
