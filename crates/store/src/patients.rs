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
         deceased) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(p.id.to_string())
    .bind(&p.mrn)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(&p.birth_date)
    .bind(&p.sex)
    .bind(to_micros(now))
    .bind(&p.deceased)
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
    let details: Option<Option<String>> =
        sqlx::query_scalar("SELECT details FROM patients WHERE id = $1")
            .bind(access.patient().to_string())
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

/// Searches the directory by name or MRN (case-insensitive prefix), at most `limit` rows.
pub async fn search(
    conn: &mut Conn,
    directory: &ClinicCapability,
    term: &str,
    limit: i64,
) -> Result<Vec<PatientRow>> {
    crate::require(
        directory,
        ClinicAction::SearchDirectory,
        "searching the directory",
    )?;
    let pattern = format!(
        "{}%",
        term.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let sql = format!(
        "SELECT {COLUMNS} FROM patients WHERE LOWER(family_name) LIKE $1 ESCAPE '\\' \
         OR LOWER(given_name) LIKE $1 ESCAPE '\\' OR LOWER(mrn) LIKE $1 ESCAPE '\\' \
         ORDER BY family_name, given_name, id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(pattern)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter().map(from_row).collect()
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
         details, resource_id, deceased) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (id) DO UPDATE SET mrn = excluded.mrn, given_name = excluded.given_name, \
         family_name = excluded.family_name, birth_date = excluded.birth_date, sex = excluded.sex, \
         details = excluded.details, resource_id = excluded.resource_id, \
         deceased = excluded.deceased",
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
    .execute(conn)
    .await
    .map_err(conflict_as("medical record number"))?;
    Ok(())
}
