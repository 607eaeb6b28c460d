//! Earlier-time offers and reminders. The patient's side joins and leaves the waitlist and
//! reads and accepts its offers under the policy's `PatientAccess`; the portal's own jobs
//! (offering a freed time to waitlisted visits, sending reminders) run under the
//! `RunAppointmentJobs` capability only the server gets.

use crate::{
    Backend, Conn, Error, Result, conflict_as, dialect, from_micros, parse_id, require, to_micros,
};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability, PatientAccess};
use portal_domain::appointments::offers::OfferStatus;
use portal_domain::{AppointmentId, LocationId, OfferId, PatientId, UserId, VisitTypeId};
use sqlx::Row;
use sqlx::any::AnyRow;

fn jobs(capability: &ClinicCapability) -> Result<()> {
    require(
        capability,
        ClinicAction::RunAppointmentJobs,
        "appointment jobs",
    )
}

/// Puts a visit on the waitlist for earlier times (again, with the new choice, if it was).
pub async fn join(
    conn: &mut Conn,
    access: &PatientAccess,
    appointment: AppointmentId,
    any_clinician: bool,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("DELETE FROM waitlist WHERE patient_id = $1 AND appointment_id = $2")
        .bind(access.patient().to_string())
        .bind(appointment.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO waitlist (appointment_id, patient_id, any_clinician, joined_at) \
         SELECT id, patient_id, $3, $4 FROM appointments \
         WHERE patient_id = $1 AND id = $2 AND status = 'booked'",
    )
    .bind(access.patient().to_string())
    .bind(appointment.to_string())
    .bind(i64::from(any_clinician))
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes a visit off the waitlist and withdraws its open offers. `false`: it was not on it.
pub async fn leave(
    conn: &mut Conn,
    access: &PatientAccess,
    appointment: AppointmentId,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query("DELETE FROM waitlist WHERE patient_id = $1 AND appointment_id = $2")
        .bind(access.patient().to_string())
        .bind(appointment.to_string())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    sqlx::query(
        "UPDATE offers SET status = 'withdrawn', decided_at = $3 \
         WHERE patient_id = $1 AND appointment_id = $2 AND status = 'open'",
    )
    .bind(access.patient().to_string())
    .bind(appointment.to_string())
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Whether a visit is on the waitlist: `Some(any_clinician)` when it is.
pub async fn waitlisted(
    conn: &mut Conn,
    access: &PatientAccess,
    appointment: AppointmentId,
) -> Result<Option<bool>> {
    let row = sqlx::query(
        "SELECT CAST(any_clinician AS BIGINT) AS any_clinician FROM waitlist \
         WHERE patient_id = $1 AND appointment_id = $2",
    )
    .bind(access.patient().to_string())
    .bind(appointment.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok(r.try_get::<i64, _>("any_clinician")? != 0))
        .transpose()
}

/// A time a cancelled or moved visit freed.
#[derive(Clone, Copy, Debug)]
pub struct Freed {
    /// Whose time.
    pub clinician: UserId,
    /// Where.
    pub location: LocationId,
    /// The kind of visit it was booked for.
    pub visit_type: VisitTypeId,
    /// From.
    pub start: Timestamp,
    /// Until.
    pub end: Timestamp,
}

/// The waitlisted visits a freed time would bring forward: booked, of the same kind, starting
/// after it, with its clinician or with any clinician as each patient chose; longest waiting
/// first, at most `limit`.
pub async fn candidates(
    conn: &mut Conn,
    capability: &ClinicCapability,
    freed: &Freed,
    limit: i64,
) -> Result<Vec<(AppointmentId, PatientId)>> {
    jobs(capability)?;
    let rows = sqlx::query(
        "SELECT a.id, a.patient_id FROM waitlist w JOIN appointments a ON a.id = w.appointment_id \
         WHERE a.status = 'booked' AND a.visit_type_id = $1 AND a.starts_at > $2 \
         AND (w.any_clinician = 1 OR a.clinician_id = $3) \
         ORDER BY w.joined_at, a.id LIMIT $4",
    )
    .bind(freed.visit_type.to_string())
    .bind(to_micros(freed.start))
    .bind(freed.clinician.to_string())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_id(&r.try_get::<String, _>("id")?)?,
                parse_id(&r.try_get::<String, _>("patient_id")?)?,
            ))
        })
        .collect()
}

/// Records an offer of a freed time to a waitlisted visit.
pub async fn insert_offer(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: OfferId,
    (appointment, patient): (AppointmentId, PatientId),
    freed: &Freed,
    now: Timestamp,
    expires: Timestamp,
) -> Result<()> {
    jobs(capability)?;
    sqlx::query(
        "INSERT INTO offers (id, appointment_id, patient_id, clinician_id, location_id, \
         starts_at, ends_at, offered_at, expires_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open')",
    )
    .bind(id.to_string())
    .bind(appointment.to_string())
    .bind(patient.to_string())
    .bind(freed.clinician.to_string())
    .bind(freed.location.to_string())
    .bind(to_micros(freed.start))
    .bind(to_micros(freed.end))
    .bind(to_micros(now))
    .bind(to_micros(expires))
    .execute(conn)
    .await?;
    Ok(())
}

/// An offer as the patient's side reads it.
#[derive(Clone, Debug)]
pub struct Offer {
    /// Its id.
    pub id: OfferId,
    /// The visit it would move.
    pub appointment: AppointmentId,
    /// Whose visit.
    pub patient: PatientId,
    /// With whom.
    pub clinician: UserId,
    /// Their name.
    pub clinician_name: String,
    /// Where.
    pub location: LocationId,
    /// The location's name.
    pub location_name: String,
    /// From.
    pub start: Timestamp,
    /// Until.
    pub end: Timestamp,
    /// Until when it may be accepted.
    pub expires_at: Timestamp,
    /// Where it stands.
    pub status: OfferStatus,
}

const OFFER_COLUMNS: &str = "o.id, o.appointment_id, o.patient_id, o.clinician_id, \
     u.name AS clinician_name, o.location_id, l.name AS location_name, o.starts_at, o.ends_at, \
     o.expires_at, o.status FROM offers o JOIN users u ON u.id = o.clinician_id \
     JOIN locations l ON l.id = o.location_id";

fn offer_of(r: &AnyRow) -> Result<Offer> {
    let status: String = r.try_get("status")?;
    Ok(Offer {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        appointment: parse_id(&r.try_get::<String, _>("appointment_id")?)?,
        patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
        clinician: parse_id(&r.try_get::<String, _>("clinician_id")?)?,
        clinician_name: r.try_get("clinician_name")?,
        location: parse_id(&r.try_get::<String, _>("location_id")?)?,
        location_name: r.try_get("location_name")?,
        start: from_micros(r.try_get("starts_at")?)?,
        end: from_micros(r.try_get("ends_at")?)?,
        expires_at: from_micros(r.try_get("expires_at")?)?,
        status: OfferStatus::from_stored(&status)
            .ok_or_else(|| Error::Corrupt(format!("offer status {status:?}")))?,
    })
}

/// The patient's offers still open at `now`, soonest time first.
pub async fn open_offers(
    conn: &mut Conn,
    access: &PatientAccess,
    now: Timestamp,
) -> Result<Vec<Offer>> {
    let sql = format!(
        "SELECT {OFFER_COLUMNS} WHERE o.patient_id = $1 AND o.status = 'open' \
         AND o.expires_at > $2 AND o.starts_at > $2 ORDER BY o.starts_at, o.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(access.patient().to_string())
        .bind(to_micros(now))
        .fetch_all(conn)
        .await?;
    rows.iter().map(offer_of).collect()
}

/// One of the patient's offers; `None` for another patient's, exactly as for none.
pub async fn find_offer(
    conn: &mut Conn,
    access: &PatientAccess,
    id: OfferId,
) -> Result<Option<Offer>> {
    let sql = format!("SELECT {OFFER_COLUMNS} WHERE o.patient_id = $1 AND o.id = $2");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(access.patient().to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(offer_of).transpose()
}

/// Marks the patient's open offer accepted. `false`: not open any more.
pub async fn accept(
    conn: &mut Conn,
    access: &PatientAccess,
    id: OfferId,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE offers SET status = 'accepted', decided_at = $3 \
         WHERE patient_id = $1 AND id = $2 AND status = 'open' AND expires_at > $3",
    )
    .bind(access.patient().to_string())
    .bind(id.to_string())
    .bind(to_micros(now))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Marks the other open offers of a time just taken as taken, whoever holds them.
pub async fn taken_by_another(
    conn: &mut Conn,
    capability: &ClinicCapability,
    clinician: UserId,
    (start, end): (Timestamp, Timestamp),
    now: Timestamp,
) -> Result<()> {
    jobs(capability)?;
    sqlx::query(
        "UPDATE offers SET status = 'taken', decided_at = $4 \
         WHERE clinician_id = $1 AND status = 'open' AND starts_at < $3 AND ends_at > $2",
    )
    .bind(clinician.to_string())
    .bind(to_micros(start))
    .bind(to_micros(end))
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// A booked visit a reminder may be due for.
#[derive(Clone, Debug)]
pub struct Upcoming {
    /// The visit.
    pub appointment: AppointmentId,
    /// Whose.
    pub patient: PatientId,
    /// When it starts.
    pub start: Timestamp,
    /// When it was booked.
    pub booked_at: Timestamp,
    /// Where.
    pub location_name: String,
    /// The leads (hours) already sent.
    pub sent: Vec<i64>,
}

/// Booked visits starting in `(now, until]`, with the reminders already sent.
pub async fn upcoming(
    conn: &mut Conn,
    capability: &ClinicCapability,
    now: Timestamp,
    until: Timestamp,
) -> Result<Vec<Upcoming>> {
    jobs(capability)?;
    let rows = sqlx::query(
        "SELECT a.id, a.patient_id, a.starts_at, a.booked_at, l.name AS location_name, \
         CAST(r.lead_hours AS BIGINT) AS lead_hours FROM appointments a \
         JOIN locations l ON l.id = a.location_id \
         LEFT JOIN appointment_reminders r ON r.appointment_id = a.id \
         WHERE a.status = 'booked' AND a.starts_at > $1 AND a.starts_at <= $2 \
         ORDER BY a.starts_at, a.id",
    )
    .bind(to_micros(now))
    .bind(to_micros(until))
    .fetch_all(conn)
    .await?;
    let mut out: Vec<Upcoming> = Vec::new();
    for r in &rows {
        let id: AppointmentId = parse_id(&r.try_get::<String, _>("id")?)?;
        let lead: Option<i64> = r.try_get("lead_hours")?;
        match out.last_mut() {
            Some(last) if last.appointment == id => last.sent.extend(lead),
            _ => out.push(Upcoming {
                appointment: id,
                patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
                start: from_micros(r.try_get("starts_at")?)?,
                booked_at: from_micros(r.try_get("booked_at")?)?,
                location_name: r.try_get("location_name")?,
                sent: lead.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// Claims a visit's due reminders for this process: `false` when the visit is no longer
/// booked or another process claimed one of them first (then drop the transaction).
pub async fn claim_reminders(
    conn: &mut Conn,
    backend: Backend,
    capability: &ClinicCapability,
    appointment: AppointmentId,
    leads: &[i64],
    now: Timestamp,
) -> Result<bool> {
    jobs(capability)?;
    let status: Option<String> = sqlx::query(dialect::lock_appointment(backend))
        .bind(appointment.to_string())
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| r.try_get("status"))
        .transpose()?;
    if status.as_deref() != Some("booked") {
        return Ok(false);
    }
    for lead in leads {
        let claimed = sqlx::query(
            "INSERT INTO appointment_reminders (appointment_id, lead_hours, sent_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(appointment.to_string())
        .bind(*lead)
        .bind(to_micros(now))
        .execute(&mut *conn)
        .await
        .map_err(conflict_as("reminder"));
        match claimed {
            Ok(_) => {}
            Err(Error::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The addresses a job writes to about a patient's visits: the patient's own account and the
/// accounts holding an active proxy grant; with `reminders`, only those that want reminders.
pub async fn addresses(
    conn: &mut Conn,
    capability: &ClinicCapability,
    patient: PatientId,
    reminders: bool,
    now: Timestamp,
) -> Result<Vec<String>> {
    jobs(capability)?;
    crate::appointments::side_addresses(conn, patient, reminders, now).await
}

/// Whether an account wants appointment reminders by e-mail.
pub async fn wants_reminders(conn: &mut Conn, user: UserId) -> Result<bool> {
    let row =
        sqlx::query("SELECT CAST(appointment_reminders AS BIGINT) AS on_ FROM users WHERE id = $1")
            .bind(user.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64, _>("on_")? != 0,
        None => false,
    })
}

/// Turns an account's appointment reminders on or off.
pub async fn set_reminders(conn: &mut Conn, user: UserId, on: bool) -> Result<()> {
    sqlx::query("UPDATE users SET appointment_reminders = $2 WHERE id = $1")
        .bind(user.to_string())
        .bind(i64::from(on))
        .execute(conn)
        .await?;
    Ok(())
}
