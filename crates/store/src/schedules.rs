//! The clinic's schedules: locations, kinds of visit, clinicians' weekly hours and closures, and
//! the units of time booked visits hold. Changes take the policy's `ConfigureClinic`
//! capability; reads serve open-time searches and are not about one patient's data.

use crate::{Conn, Error, Result, conflict_as, from_micros, parse_id, require, to_micros};
use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::appointments::schedule::{Closure, Taken, WeeklyHours};
use portal_domain::appointments::{Audience, NewVisitType, VisitType};
use portal_domain::{ClosureId, HoursId, LocationId, UserId, VisitTypeId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A place where the clinic sees patients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Its id.
    pub id: LocationId,
    /// Its name ("Riverside Clinic").
    pub name: String,
    /// Its street address, as patients read it.
    pub address: String,
}

/// A clinician who has weekly hours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    /// The clinician's account.
    pub id: UserId,
    /// Their name.
    pub name: String,
}

fn config(capability: &ClinicCapability) -> Result<()> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")
}

/// Adds a location; a name in use is a conflict.
pub async fn add_location(
    conn: &mut Conn,
    capability: &ClinicCapability,
    location: &Location,
    now: Timestamp,
) -> Result<()> {
    config(capability)?;
    sqlx::query("INSERT INTO locations (id, name, address, created_at) VALUES ($1, $2, $3, $4)")
        .bind(location.id.to_string())
        .bind(&location.name)
        .bind(&location.address)
        .bind(to_micros(now))
        .execute(conn)
        .await
        .map_err(conflict_as("location name"))?;
    Ok(())
}

/// Every location, by name.
pub async fn locations(conn: &mut Conn) -> Result<Vec<Location>> {
    let rows = sqlx::query("SELECT id, name, address FROM locations ORDER BY name, id")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Location {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                name: r.try_get("name")?,
                address: r.try_get("address")?,
            })
        })
        .collect()
}

/// Adds a kind of visit; a name in use is a conflict.
pub async fn add_visit_type(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: VisitTypeId,
    new: &NewVisitType,
    now: Timestamp,
) -> Result<()> {
    config(capability)?;
    sqlx::query(
        "INSERT INTO visit_types (id, name, minutes, video, audience, min_age, max_age, \
         notice_minutes, horizon_days, active, created_at, questions) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $11)",
    )
    .bind(id.to_string())
    .bind(&new.name)
    .bind(new.minutes)
    .bind(i64::from(new.video))
    .bind(new.audience.as_str())
    .bind(new.min_age)
    .bind(new.max_age)
    .bind(new.notice_minutes)
    .bind(new.horizon_days)
    .bind(to_micros(now))
    .bind(&new.questions)
    .execute(conn)
    .await
    .map_err(conflict_as("visit type name"))?;
    Ok(())
}

/// Offers a kind of visit again, or retires it (visits booked with it stay). `false`: no such
/// type.
pub async fn set_visit_type_active(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: VisitTypeId,
    active: bool,
) -> Result<bool> {
    config(capability)?;
    let n = sqlx::query("UPDATE visit_types SET active = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(i64::from(active))
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

fn visit_type_of(r: &AnyRow) -> Result<VisitType> {
    let audience: String = r.try_get("audience")?;
    Ok(VisitType {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        name: r.try_get("name")?,
        minutes: r.try_get("minutes")?,
        video: r.try_get::<i64, _>("video")? != 0,
        audience: Audience::parse(&audience)
            .map_err(|_| Error::Corrupt(format!("visit type audience {audience:?}")))?,
        min_age: r.try_get("min_age")?,
        max_age: r.try_get("max_age")?,
        notice_minutes: r.try_get("notice_minutes")?,
        horizon_days: r.try_get("horizon_days")?,
        active: r.try_get::<i64, _>("active")? != 0,
        questions: r.try_get("questions")?,
    })
}

const VISIT_TYPE_COLUMNS: &str = "id, name, CAST(minutes AS BIGINT) AS minutes, \
     CAST(video AS BIGINT) AS video, audience, CAST(min_age AS BIGINT) AS min_age, \
     CAST(max_age AS BIGINT) AS max_age, CAST(notice_minutes AS BIGINT) AS notice_minutes, \
     CAST(horizon_days AS BIGINT) AS horizon_days, CAST(active AS BIGINT) AS active, questions";

/// Every kind of visit, offered ones first, by name.
pub async fn visit_types(conn: &mut Conn) -> Result<Vec<VisitType>> {
    let sql =
        format!("SELECT {VISIT_TYPE_COLUMNS} FROM visit_types ORDER BY active DESC, name, id");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .fetch_all(conn)
        .await?;
    rows.iter().map(visit_type_of).collect()
}

/// One kind of visit.
pub async fn visit_type(conn: &mut Conn, id: VisitTypeId) -> Result<Option<VisitType>> {
    let sql = format!("SELECT {VISIT_TYPE_COLUMNS} FROM visit_types WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(visit_type_of).transpose()
}

/// Adds a block of weekly hours.
pub async fn add_hours(
    conn: &mut Conn,
    capability: &ClinicCapability,
    hours: &WeeklyHours,
    now: Timestamp,
) -> Result<()> {
    config(capability)?;
    let minute = |t: Time| i64::from(t.hour()) * 60 + i64::from(t.minute());
    let end = if hours.end == Time::MAX || (hours.end.hour() == 23 && hours.end.minute() == 59) {
        1440
    } else {
        minute(hours.end)
    };
    let types = hours
        .visit_types
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(
        "INSERT INTO weekly_hours (id, clinician_id, location_id, weekday, start_minute, \
         end_minute, visit_types, from_date, until_date, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(hours.id.to_string())
    .bind(hours.clinician.to_string())
    .bind(hours.location.to_string())
    .bind(i64::from(hours.weekday.to_monday_one_offset()))
    .bind(minute(hours.start))
    .bind(end)
    .bind(types)
    .bind(hours.from.map(|d| d.to_string()))
    .bind(hours.until.map(|d| d.to_string()))
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a block of weekly hours (visits already booked in it stay). `false`: no such block.
pub async fn remove_hours(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: HoursId,
) -> Result<bool> {
    config(capability)?;
    let n = sqlx::query("DELETE FROM weekly_hours WHERE id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

fn time_of(minute: i64) -> Result<Time> {
    if minute >= 1440 {
        return Ok(Time::MAX);
    }
    let hour = i8::try_from(minute / 60).map_err(|_| Error::Corrupt(format!("minute {minute}")))?;
    let min = i8::try_from(minute % 60).map_err(|_| Error::Corrupt(format!("minute {minute}")))?;
    Time::new(hour, min, 0, 0).map_err(|e| Error::Corrupt(format!("minute {minute}: {e}")))
}

fn date_of(raw: Option<String>) -> Result<Option<Date>> {
    raw.map(|d| {
        d.parse()
            .map_err(|e| Error::Corrupt(format!("date {d:?}: {e}")))
    })
    .transpose()
}

/// Every block of weekly hours (one clinician's, when given), by clinician, day and start.
pub async fn hours(conn: &mut Conn, clinician: Option<UserId>) -> Result<Vec<WeeklyHours>> {
    let rows = sqlx::query(
        "SELECT id, clinician_id, location_id, CAST(weekday AS BIGINT) AS weekday, \
         CAST(start_minute AS BIGINT) AS start_minute, CAST(end_minute AS BIGINT) AS end_minute, \
         visit_types, from_date, until_date FROM weekly_hours \
         WHERE ($1 IS NULL OR clinician_id = $1) ORDER BY clinician_id, weekday, start_minute, id",
    )
    .bind(clinician.map(|c| c.to_string()))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let weekday: i64 = r.try_get("weekday")?;
            let weekday = i8::try_from(weekday)
                .ok()
                .and_then(|d| Weekday::from_monday_one_offset(d).ok())
                .ok_or_else(|| Error::Corrupt(format!("weekday {weekday}")))?;
            let types: String = r.try_get("visit_types")?;
            Ok(WeeklyHours {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                clinician: parse_id(&r.try_get::<String, _>("clinician_id")?)?,
                location: parse_id(&r.try_get::<String, _>("location_id")?)?,
                weekday,
                start: time_of(r.try_get("start_minute")?)?,
                end: time_of(r.try_get("end_minute")?)?,
                visit_types: types
                    .split(',')
                    .filter(|t| !t.is_empty())
                    .map(parse_id)
                    .collect::<Result<_>>()?,
                from: date_of(r.try_get("from_date")?)?,
                until: date_of(r.try_get("until_date")?)?,
            })
        })
        .collect()
}

/// Adds a closure.
pub async fn add_closure(
    conn: &mut Conn,
    capability: &ClinicCapability,
    closure: &Closure,
    by: &str,
    now: Timestamp,
) -> Result<()> {
    config(capability)?;
    sqlx::query(
        "INSERT INTO closures (id, clinician_id, starts_at, ends_at, reason, created_at, \
         created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(closure.id.to_string())
    .bind(closure.clinician.map(|c| c.to_string()))
    .bind(to_micros(closure.starts))
    .bind(to_micros(closure.ends))
    .bind(&closure.reason)
    .bind(to_micros(now))
    .bind(by)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes a closure. `false`: no such closure.
pub async fn remove_closure(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: ClosureId,
) -> Result<bool> {
    config(capability)?;
    let n = sqlx::query("DELETE FROM closures WHERE id = $1")
        .bind(id.to_string())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The closures that touch `[from, until)`, earliest first.
pub async fn closures(conn: &mut Conn, from: Timestamp, until: Timestamp) -> Result<Vec<Closure>> {
    let rows = sqlx::query(
        "SELECT id, clinician_id, starts_at, ends_at, reason FROM closures \
         WHERE ends_at > $1 AND starts_at < $2 ORDER BY starts_at, id",
    )
    .bind(to_micros(from))
    .bind(to_micros(until))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Closure {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                clinician: r
                    .try_get::<Option<String>, _>("clinician_id")?
                    .map(|c| parse_id(&c))
                    .transpose()?,
                starts: from_micros(r.try_get("starts_at")?)?,
                ends: from_micros(r.try_get("ends_at")?)?,
                reason: r.try_get("reason")?,
            })
        })
        .collect()
}

/// The time booked visits hold in `[from, until)` (one clinician's, when given).
pub async fn taken(
    conn: &mut Conn,
    clinician: Option<UserId>,
    from: Timestamp,
    until: Timestamp,
) -> Result<Taken> {
    // A visit is booked exactly while it holds its units, so its times are read from the
    // appointments: a row a visit rather than a row a unit.
    let rows = sqlx::query(
        "SELECT clinician_id, starts_at, ends_at FROM appointments \
         WHERE status = 'booked' AND starts_at < $2 AND ends_at > $1 \
         AND ($3 IS NULL OR clinician_id = $3) ORDER BY clinician_id, starts_at",
    )
    .bind(to_micros(from))
    .bind(to_micros(until))
    .bind(clinician.map(|c| c.to_string()))
    .fetch_all(conn)
    .await?;
    let mut taken = Taken::default();
    let mut last: Option<(String, UserId)> = None;
    for r in &rows {
        let text: String = r.try_get("clinician_id")?;
        // Rows come by clinician: each id is parsed once.
        let clinician = match &last {
            Some((seen, id)) if *seen == text => *id,
            _ => {
                let id: UserId = parse_id(&text)?;
                last = Some((text, id));
                id
            }
        };
        taken.hold_between(
            clinician,
            from_micros(r.try_get("starts_at")?)?,
            from_micros(r.try_get("ends_at")?)?,
        );
    }
    Ok(taken)
}

/// The clinicians who have weekly hours, by name.
pub async fn scheduled_clinicians(conn: &mut Conn) -> Result<Vec<Scheduled>> {
    let rows = sqlx::query(
        "SELECT u.id, u.name FROM users u WHERE u.role = 'clinician' AND u.status = 'active' \
         AND EXISTS (SELECT 1 FROM weekly_hours h WHERE h.clinician_id = u.id) \
         ORDER BY u.name, u.id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Scheduled {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                name: r.try_get("name")?,
            })
        })
        .collect()
}
