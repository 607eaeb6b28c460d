//! One patient's appointments: booking (the visit and the units of the clinician's time it
//! holds, in one statement each), listing, cancelling and moving. Every function takes the
//! policy's `PatientAccess` and puts its patient in the `WHERE`.

use crate::{Conn, Error, Result, conflict_as, from_micros, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::PatientAccess;
use portal_domain::appointments::schedule::units;
use portal_domain::appointments::{Reason, Status};
use portal_domain::{AppointmentId, LocationId, PatientId, UserId, VisitTypeId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// An appointment as pages show it.
#[derive(Clone, Debug)]
pub struct Appointment {
    /// Its id.
    pub id: AppointmentId,
    /// Whose visit.
    pub patient: PatientId,
    /// With whom.
    pub clinician: UserId,
    /// The clinician's name.
    pub clinician_name: String,
    /// Where.
    pub location: LocationId,
    /// The location's name.
    pub location_name: String,
    /// The location's address.
    pub location_address: String,
    /// The kind of visit.
    pub visit_type: VisitTypeId,
    /// Its name.
    pub visit_type_name: String,
    /// Whether it takes place by video.
    pub video: bool,
    /// When it starts.
    pub start: Timestamp,
    /// When it ends.
    pub end: Timestamp,
    /// Where it stands.
    pub status: Status,
    /// Why, in the patient's words.
    pub reason: Reason,
    /// Who booked it (an account id, or "cli").
    pub booked_by: String,
    /// When.
    pub booked_at: Timestamp,
    /// When it was last cancelled or moved.
    pub changed_at: Option<Timestamp>,
    /// The appointment it replaced.
    pub moved_from: Option<AppointmentId>,
    /// The appointment that replaced it.
    pub moved_to: Option<AppointmentId>,
}

/// A visit to book.
#[derive(Clone, Debug)]
pub struct NewAppointment<'a> {
    /// Its id.
    pub id: AppointmentId,
    /// With whom.
    pub clinician: UserId,
    /// Where.
    pub location: LocationId,
    /// The kind of visit.
    pub visit_type: VisitTypeId,
    /// When it starts (on a unit boundary).
    pub start: Timestamp,
    /// When it ends.
    pub end: Timestamp,
    /// Why.
    pub reason: &'a Reason,
    /// Who books it.
    pub booked_by: &'a str,
    /// The form's one-time key.
    pub book_key: &'a str,
    /// The appointment it replaces (a move).
    pub moved_from: Option<AppointmentId>,
}

/// What booking ran into.
pub const TIME_TAKEN: &str = "appointment time";
/// The same form was sent before.
pub const KEY_USED: &str = "booking form";

/// Books a visit: the appointment and the units of the clinician's time it holds. A unit held
/// already (an overlapping visit) is [`Error::Conflict`] naming [`TIME_TAKEN`]; a form sent
/// before, [`KEY_USED`]. The caller's transaction is then unusable: drop it.
pub async fn book(
    conn: &mut Conn,
    access: &PatientAccess,
    new: &NewAppointment<'_>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO appointments (id, patient_id, clinician_id, location_id, visit_type_id, \
         starts_at, ends_at, status, reason, booked_by, booked_at, moved_from, book_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'booked', $8, $9, $10, $11, $12)",
    )
    .bind(new.id.to_string())
    .bind(access.patient().to_string())
    .bind(new.clinician.to_string())
    .bind(new.location.to_string())
    .bind(new.visit_type.to_string())
    .bind(to_micros(new.start))
    .bind(to_micros(new.end))
    .bind(new.reason.as_str())
    .bind(new.booked_by)
    .bind(to_micros(now))
    .bind(new.moved_from.map(|m| m.to_string()))
    .bind(new.book_key)
    .execute(&mut *conn)
    .await
    .map_err(conflict_as(KEY_USED))?;
    hold(&mut *conn, new.clinician, new.id, new.start, new.end).await?;
    // The record's appointments are served as part of it (FHIR Appointment): it has changed.
    crate::access::touch_records(conn, &[access.patient()]).await
}

/// Inserts the units `[start, end)` of `clinician`'s time for `appointment`, in one statement.
async fn hold(
    conn: &mut Conn,
    clinician: UserId,
    appointment: AppointmentId,
    start: Timestamp,
    end: Timestamp,
) -> Result<()> {
    let held: Vec<i64> = units(start, end).map(to_micros).collect();
    if held.is_empty() {
        return Err(Error::Corrupt("a visit without length".into()));
    }
    let mut sql = String::from(
        "INSERT INTO appointment_units (clinician_id, unit_at, appointment_id) VALUES ",
    );
    for i in 0..held.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("($1, ${}, $2)", i + 3));
    }
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(clinician.to_string())
        .bind(appointment.to_string());
    for unit in held {
        query = query.bind(unit);
    }
    query.execute(conn).await.map_err(conflict_as(TIME_TAKEN))?;
    Ok(())
}

const COLUMNS: &str = "a.id, a.patient_id, a.clinician_id, u.name AS clinician_name, \
     a.location_id, l.name AS location_name, l.address AS location_address, a.visit_type_id, \
     v.name AS visit_type_name, CAST(v.video AS BIGINT) AS video, a.starts_at, a.ends_at, \
     a.status, a.reason, a.booked_by, a.booked_at, a.changed_at, a.moved_from, a.moved_to";

const JOINED: &str = "appointments a JOIN users u ON u.id = a.clinician_id \
     JOIN locations l ON l.id = a.location_id JOIN visit_types v ON v.id = a.visit_type_id";

fn optional_id<T: std::str::FromStr>(r: &AnyRow, column: &str) -> Result<Option<T>> {
    r.try_get::<Option<String>, _>(column)?
        .map(|s| parse_id(&s))
        .transpose()
}

pub(crate) fn appointment_of(r: &AnyRow) -> Result<Appointment> {
    let status: String = r.try_get("status")?;
    Ok(Appointment {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
        clinician: parse_id(&r.try_get::<String, _>("clinician_id")?)?,
        clinician_name: r.try_get("clinician_name")?,
        location: parse_id(&r.try_get::<String, _>("location_id")?)?,
        location_name: r.try_get("location_name")?,
        location_address: r.try_get("location_address")?,
        visit_type: parse_id(&r.try_get::<String, _>("visit_type_id")?)?,
        visit_type_name: r.try_get("visit_type_name")?,
        video: r.try_get::<i64, _>("video")? != 0,
        start: from_micros(r.try_get("starts_at")?)?,
        end: from_micros(r.try_get("ends_at")?)?,
        status: Status::from_stored(&status)
            .ok_or_else(|| Error::Corrupt(format!("appointment status {status:?}")))?,
        reason: Reason::from_stored(r.try_get("reason")?),
        booked_by: r.try_get("booked_by")?,
        booked_at: from_micros(r.try_get("booked_at")?)?,
        changed_at: r
            .try_get::<Option<i64>, _>("changed_at")?
            .map(from_micros)
            .transpose()?,
        moved_from: optional_id(r, "moved_from")?,
        moved_to: optional_id(r, "moved_to")?,
    })
}

/// The patient's appointments, soonest first (at most `limit`).
pub async fn list(conn: &mut Conn, access: &PatientAccess, limit: i64) -> Result<Vec<Appointment>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {JOINED} WHERE a.patient_id = $1 ORDER BY a.starts_at DESC, a.id LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(access.patient().to_string())
        .bind(limit)
        .fetch_all(conn)
        .await?;
    let mut found: Vec<Appointment> = rows.iter().map(appointment_of).collect::<Result<_>>()?;
    found.reverse();
    Ok(found)
}

/// One of the patient's appointments; `None` for another patient's, exactly as for none.
pub async fn find(
    conn: &mut Conn,
    access: &PatientAccess,
    id: AppointmentId,
) -> Result<Option<Appointment>> {
    let sql = format!("SELECT {COLUMNS} FROM {JOINED} WHERE a.patient_id = $1 AND a.id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(access.patient().to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(appointment_of).transpose()
}

/// The appointment a booking form with `key` made for this patient, if any.
pub async fn by_key(
    conn: &mut Conn,
    access: &PatientAccess,
    key: &str,
) -> Result<Option<AppointmentId>> {
    let row = sqlx::query("SELECT id FROM appointments WHERE patient_id = $1 AND book_key = $2")
        .bind(access.patient().to_string())
        .bind(key)
        .fetch_optional(conn)
        .await?;
    row.map(|r| parse_id(&r.try_get::<String, _>("id")?))
        .transpose()
}

/// Ends a booked appointment as `status` (cancelled, or moved to `moved_to`) and frees its
/// units. `false`: not this patient's, or no longer booked (someone changed it first).
pub async fn end(
    conn: &mut Conn,
    access: &PatientAccess,
    id: AppointmentId,
    status: Status,
    moved_to: Option<AppointmentId>,
    by: &str,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE appointments SET status = $3, moved_to = $4, changed_by = $5, changed_at = $6 \
         WHERE patient_id = $1 AND id = $2 AND status = 'booked'",
    )
    .bind(access.patient().to_string())
    .bind(id.to_string())
    .bind(status.as_str())
    .bind(moved_to.map(|m| m.to_string()))
    .bind(by)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM appointment_units WHERE appointment_id = $1")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    crate::access::touch_records(conn, &[access.patient()]).await?;
    Ok(true)
}

/// Whether the clinic has seen the patient before: a visit in the imported record, or a visit
/// booked through the portal that has begun.
pub async fn established(conn: &mut Conn, access: &PatientAccess, now: Timestamp) -> Result<bool> {
    let row = sqlx::query(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM clinical_items \
           WHERE patient_id = $1 AND kind = 'encounter') \
         OR EXISTS (SELECT 1 FROM appointments WHERE patient_id = $1 AND status = 'booked' \
           AND starts_at <= $2) THEN 1 ELSE 0 END AS seen",
    )
    .bind(access.patient().to_string())
    .bind(to_micros(now))
    .fetch_one(conn)
    .await?;
    Ok(row.try_get::<i64, _>("seen")? != 0)
}

/// A booked visit as the clinic's schedule shows it.
#[derive(Clone, Debug)]
pub struct Booked {
    /// The appointment.
    pub appointment: Appointment,
    /// The patient's name as the record has it.
    pub patient_name: String,
    /// Whether the patient's side checked in: with changed contact details or insurance, and
    /// with clinical changes reported.
    pub checked_in: Option<(bool, bool)>,
}

/// The booked visits in `[from, until)` (one clinician's, when given), by time: the schedule
/// page, under the policy's `ViewSchedule`.
pub async fn booked_between(
    conn: &mut Conn,
    capability: &portal_domain::access::ClinicCapability,
    clinician: Option<UserId>,
    from: Timestamp,
    until: Timestamp,
) -> Result<Vec<Booked>> {
    crate::require(
        capability,
        portal_domain::access::ClinicAction::ViewSchedule,
        "the schedule",
    )?;
    let sql = format!(
        "SELECT {COLUMNS}, p.given_name, p.family_name, \
         CAST(c.contact_changed + c.insurance_changed AS BIGINT) AS desk_changed, \
         CAST(c.clinical_changed AS BIGINT) AS clinical_changed FROM {JOINED} \
         JOIN patients p ON p.id = a.patient_id \
         LEFT JOIN checkins c ON c.appointment_id = a.id \
         WHERE a.status = 'booked' AND a.starts_at >= $1 AND a.starts_at < $2 \
         AND ($3 IS NULL OR a.clinician_id = $3) ORDER BY a.starts_at, u.name, a.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(to_micros(from))
        .bind(to_micros(until))
        .bind(clinician.map(|c| c.to_string()))
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let given: String = r.try_get("given_name")?;
            let family: String = r.try_get("family_name")?;
            let desk: Option<i64> = r.try_get("desk_changed")?;
            let clinical: Option<i64> = r.try_get("clinical_changed")?;
            Ok(Booked {
                appointment: appointment_of(r)?,
                patient_name: format!("{given} {family}").trim().to_string(),
                checked_in: desk.map(|d| (d > 0, clinical.unwrap_or(0) > 0)),
            })
        })
        .collect()
}

/// Records on a moved appointment the one that replaced it.
pub async fn link_move(
    conn: &mut Conn,
    access: &PatientAccess,
    old: AppointmentId,
    new: AppointmentId,
) -> Result<()> {
    sqlx::query("UPDATE appointments SET moved_to = $3 WHERE patient_id = $1 AND id = $2")
        .bind(access.patient().to_string())
        .bind(old.to_string())
        .bind(new.to_string())
        .execute(&mut *conn)
        .await?;
    crate::access::touch_records(conn, &[access.patient()]).await
}

/// The addresses that hear about the patient's appointments: the patient's own account and
/// the accounts holding an active proxy grant at `now`.
pub async fn patient_side_addresses(
    conn: &mut Conn,
    access: &PatientAccess,
    now: Timestamp,
) -> Result<Vec<String>> {
    side_addresses(conn, access.patient(), false, now).await
}

/// The patient's side's addresses (only those that want reminders, with `reminders`).
pub(crate) async fn side_addresses(
    conn: &mut Conn,
    patient: PatientId,
    reminders: bool,
    now: Timestamp,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT email FROM users WHERE patient_id = $1 AND status = 'active' \
         AND ($2 = 0 OR appointment_reminders = 1) ORDER BY 1",
    )
    .bind(patient.to_string())
    .bind(i64::from(reminders))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = rows
        .iter()
        .map(|r| Ok(r.try_get::<String, _>("email")?))
        .collect::<Result<Vec<String>>>()?;
    // Proxies whose grants reach anything today (every reach covers appointments).
    for proxy in crate::access::proxies_reaching(conn, patient, now).await? {
        if (!reminders || proxy.wants_reminders) && !out.contains(&proxy.email) {
            out.push(proxy.email);
        }
    }
    out.sort();
    Ok(out)
}
