//! E-check-ins: what the patient's side confirmed before a visit, the photos of the insurance
//! card, and the record's current medications and allergies to review. Every function takes
//! the policy's `PatientAccess` and puts its patient in the `WHERE`.

use crate::{Conn, Error, Result, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::PatientAccess;
use portal_domain::appointments::checkin::{Contact, Insurance, Review};
use portal_domain::messages::attachment::{FileName, Kind};
use portal_domain::{AppointmentId, AttachmentId, Visibility};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A photo of the insurance card to keep.
#[derive(Clone)]
pub struct CardPhoto {
    /// Its id.
    pub id: AttachmentId,
    /// "front" or "back".
    pub side: &'static str,
    /// Its cleaned name.
    pub name: FileName,
    /// What it is.
    pub kind: Kind,
    /// The bytes.
    pub content: Vec<u8>,
}

/// A check-in to store.
#[derive(Clone, Debug)]
pub struct NewCheckin<'a> {
    /// Its id.
    pub id: &'a str,
    /// The visit.
    pub appointment: AppointmentId,
    /// Who sent it (an account id).
    pub submitted_by: &'a str,
    /// Contact details.
    pub contact: &'a Contact,
    /// Whether they differ from the check-in before.
    pub contact_changed: bool,
    /// Insurance.
    pub insurance: &'a Insurance,
    /// Whether it differs from the check-in before.
    pub insurance_changed: bool,
    /// The medications and allergies reviewed (`None`: a viewer who may not see them).
    pub review: Option<&'a Review>,
    /// The answers as a FHIR QuestionnaireResponse.
    pub questionnaire_response: &'a str,
}

/// A stored check-in.
#[derive(Clone, Debug)]
pub struct Checkin {
    /// Its id.
    pub id: String,
    /// The visit.
    pub appointment: AppointmentId,
    /// Who sent it.
    pub submitted_by: String,
    /// When.
    pub submitted_at: Timestamp,
    /// Contact details.
    pub contact: Contact,
    /// Whether they changed since the check-in before.
    pub contact_changed: bool,
    /// Insurance.
    pub insurance: Insurance,
    /// Whether it changed since the check-in before.
    pub insurance_changed: bool,
    /// The medications and allergies reviewed.
    pub review: Review,
    /// Whether the patient reported clinical changes.
    pub clinical_changed: bool,
    /// The FHIR QuestionnaireResponse.
    pub questionnaire_response: String,
    /// The card photos: id, side, name.
    pub photos: Vec<(AttachmentId, String, String)>,
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt(format!("check-in JSON: {e}")))
}

fn read<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("check-in JSON: {e}")))
}

/// Stores a visit's check-in with its card photos, replacing an earlier one of the same visit.
pub async fn save(
    conn: &mut Conn,
    access: &PatientAccess,
    new: &NewCheckin<'_>,
    photos: &[CardPhoto],
    now: Timestamp,
) -> Result<()> {
    let patient = access.patient().to_string();
    sqlx::query(
        "DELETE FROM checkin_files WHERE patient_id = $1 AND checkin_id IN \
         (SELECT id FROM checkins WHERE patient_id = $1 AND appointment_id = $2)",
    )
    .bind(&patient)
    .bind(new.appointment.to_string())
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM checkins WHERE patient_id = $1 AND appointment_id = $2")
        .bind(&patient)
        .bind(new.appointment.to_string())
        .execute(&mut *conn)
        .await?;
    let review = new.review.cloned().unwrap_or_default();
    sqlx::query(
        "INSERT INTO checkins (id, appointment_id, patient_id, submitted_by, submitted_at, \
         contact, contact_changed, insurance, insurance_changed, medications, allergies, \
         clinical_changed, questionnaire_response) \
         SELECT $1, id, patient_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 FROM appointments \
         WHERE patient_id = $13 AND id = $2",
    )
    .bind(new.id)
    .bind(new.appointment.to_string())
    .bind(new.submitted_by)
    .bind(to_micros(now))
    .bind(json(new.contact)?)
    .bind(i64::from(new.contact_changed))
    .bind(json(new.insurance)?)
    .bind(i64::from(new.insurance_changed))
    .bind(json(&(&review.medications, &review.other_medications))?)
    .bind(json(&(&review.allergies, &review.other_allergies))?)
    .bind(i64::from(review.has_changes()))
    .bind(new.questionnaire_response)
    .bind(&patient)
    .execute(&mut *conn)
    .await?;
    for photo in photos {
        sqlx::query(
            "INSERT INTO checkin_files (id, checkin_id, patient_id, side, name, kind, content) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(photo.id.to_string())
        .bind(new.id)
        .bind(&patient)
        .bind(photo.side)
        .bind(photo.name.as_str())
        .bind(photo.kind.as_str())
        .bind(photo.content.as_slice())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

const COLUMNS: &str = "id, appointment_id, submitted_by, submitted_at, contact, \
     CAST(contact_changed AS BIGINT) AS contact_changed, insurance, \
     CAST(insurance_changed AS BIGINT) AS insurance_changed, medications, allergies, \
     CAST(clinical_changed AS BIGINT) AS clinical_changed, questionnaire_response";

fn checkin_of(r: &AnyRow) -> Result<Checkin> {
    let (medications, other_medications): (Vec<_>, String) =
        read(&r.try_get::<String, _>("medications")?)?;
    let (allergies, other_allergies): (Vec<_>, String) =
        read(&r.try_get::<String, _>("allergies")?)?;
    Ok(Checkin {
        id: r.try_get("id")?,
        appointment: parse_id(&r.try_get::<String, _>("appointment_id")?)?,
        submitted_by: r.try_get("submitted_by")?,
        submitted_at: from_micros(r.try_get("submitted_at")?)?,
        contact: read(&r.try_get::<String, _>("contact")?)?,
        contact_changed: r.try_get::<i64, _>("contact_changed")? != 0,
        insurance: read(&r.try_get::<String, _>("insurance")?)?,
        insurance_changed: r.try_get::<i64, _>("insurance_changed")? != 0,
        review: Review {
            medications,
            other_medications,
            allergies,
            other_allergies,
        },
        clinical_changed: r.try_get::<i64, _>("clinical_changed")? != 0,
        questionnaire_response: r.try_get("questionnaire_response")?,
        photos: Vec::new(),
    })
}

/// The check-in of one of the patient's visits, with its photos' names.
pub async fn of_visit(
    conn: &mut Conn,
    access: &PatientAccess,
    appointment: AppointmentId,
) -> Result<Option<Checkin>> {
    let sql =
        format!("SELECT {COLUMNS} FROM checkins WHERE patient_id = $1 AND appointment_id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(access.patient().to_string())
        .bind(appointment.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    let Some(mut found) = row.as_ref().map(checkin_of).transpose()? else {
        return Ok(None);
    };
    let photos = sqlx::query(
        "SELECT id, side, name FROM checkin_files WHERE patient_id = $1 AND checkin_id = $2 \
         ORDER BY side DESC",
    )
    .bind(access.patient().to_string())
    .bind(&found.id)
    .fetch_all(conn)
    .await?;
    for p in &photos {
        found.photos.push((
            parse_id(&p.try_get::<String, _>("id")?)?,
            p.try_get("side")?,
            p.try_get("name")?,
        ));
    }
    Ok(Some(found))
}

/// The patient's latest check-in before `appointment`'s (for what changed since).
pub async fn latest_other(
    conn: &mut Conn,
    access: &PatientAccess,
    appointment: AppointmentId,
) -> Result<Option<Checkin>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM checkins WHERE patient_id = $1 AND appointment_id <> $2 \
         ORDER BY submitted_at DESC LIMIT 1"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(access.patient().to_string())
        .bind(appointment.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(checkin_of).transpose()
}

/// One card photo of the patient's: its name, kind and bytes.
pub async fn photo(
    conn: &mut Conn,
    access: &PatientAccess,
    id: AttachmentId,
) -> Result<Option<(FileName, Kind, Vec<u8>)>> {
    let row = sqlx::query(
        "SELECT name, kind, content FROM checkin_files WHERE patient_id = $1 AND id = $2",
    )
    .bind(access.patient().to_string())
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        let kind: String = r.try_get("kind")?;
        Ok((
            FileName::stored(r.try_get("name")?),
            Kind::from_stored(&kind)
                .ok_or_else(|| Error::Corrupt(format!("file kind {kind:?}")))?,
            r.try_get("content")?,
        ))
    })
    .transpose()
}

/// The record's current medications and allergies (id, name) as `visibility` shows them: what
/// check-in asks the patient's side to review.
pub async fn to_review(
    conn: &mut Conn,
    access: &PatientAccess,
    visibility: Visibility,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let rows = sqlx::query(
        "SELECT resource_id, kind, label, sensitivity FROM clinical_items \
         WHERE patient_id = $1 AND kind IN ('medication-request', 'allergy') \
         AND status = 'active' ORDER BY kind, label, resource_id",
    )
    .bind(access.patient().to_string())
    .fetch_all(conn)
    .await?;
    let mut medications = Vec::new();
    let mut allergies = Vec::new();
    for r in &rows {
        let sensitivity: String = r.try_get("sensitivity")?;
        if !visibility.shows_categories(portal_domain::record::Categories::of_item(&sensitivity)) {
            continue;
        }
        let item = (r.try_get("resource_id")?, r.try_get("label")?);
        match r.try_get::<String, _>("kind")?.as_str() {
            "allergy" => allergies.push(item),
            _ => medications.push(item),
        }
    }
    medications.dedup_by(|a, b| a.1 == b.1);
    Ok((medications, allergies))
}
