//! A record's care team as the front desk and admins manage it: the clinicians who may open the
//! record as its care team, putting one on and taking one off.

use crate::{Conn, Result, parse_id};
use portal_domain::{Action, PatientAccess, UserId};
use sqlx::Row;

fn managing(access: &PatientAccess) -> Result<()> {
    if access.action() == Action::ManageCareTeam {
        Ok(())
    } else {
        Err(crate::Error::WrongCapability("managing the care team"))
    }
}

/// A clinician on a care team, or one who could be put on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The account.
    pub user: UserId,
    /// The clinician's name.
    pub name: String,
    /// Whether the account may sign in (a disabled one keeps its place but opens nothing).
    pub active: bool,
}

fn member(r: &sqlx::any::AnyRow) -> Result<Member> {
    Ok(Member {
        user: parse_id(&r.try_get::<String, _>("id")?)?,
        name: r.try_get("name")?,
        active: r.try_get::<String, _>("status")? == "active",
    })
}

/// The record's care team, by name.
pub async fn of_record(conn: &mut Conn, access: &PatientAccess) -> Result<Vec<Member>> {
    managing(access)?;
    let rows = sqlx::query(
        "SELECT u.id, u.name, u.status FROM care_team c JOIN users u ON u.id = c.user_id \
         WHERE c.patient_id = $1 ORDER BY u.name, u.id",
    )
    .bind(access.patient().to_string())
    .fetch_all(conn)
    .await?;
    rows.iter().map(member).collect()
}

/// The active clinicians not on the record's care team, by name: those who can be put on it.
pub async fn candidates(conn: &mut Conn, access: &PatientAccess) -> Result<Vec<Member>> {
    managing(access)?;
    let rows = sqlx::query(
        "SELECT u.id, u.name, u.status FROM users u WHERE u.role = 'clinician' \
         AND u.status = 'active' AND NOT EXISTS (SELECT 1 FROM care_team c \
         WHERE c.patient_id = $1 AND c.user_id = u.id) ORDER BY u.name, u.id",
    )
    .bind(access.patient().to_string())
    .fetch_all(conn)
    .await?;
    rows.iter().map(member).collect()
}

/// Puts an active clinician on the record's care team: `false` when the account is no active
/// clinician or is on the team already (nothing changes).
pub async fn add(conn: &mut Conn, access: &PatientAccess, user: UserId) -> Result<bool> {
    managing(access)?;
    let added = sqlx::query(
        "INSERT INTO care_team (patient_id, user_id) SELECT $1, u.id FROM users u \
         WHERE u.id = $2 AND u.role = 'clinician' AND u.status = 'active' \
         AND NOT EXISTS (SELECT 1 FROM care_team c WHERE c.patient_id = $1 AND c.user_id = $2)",
    )
    .bind(access.patient().to_string())
    .bind(user.to_string())
    .execute(conn)
    .await;
    match added {
        Ok(done) => Ok(done.rows_affected() == 1),
        // Two requests at once: the other one put them on.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Takes a clinician off the record's care team: `false` when they were not on it.
pub async fn remove(conn: &mut Conn, access: &PatientAccess, user: UserId) -> Result<bool> {
    managing(access)?;
    let removed = sqlx::query("DELETE FROM care_team WHERE patient_id = $1 AND user_id = $2")
        .bind(access.patient().to_string())
        .bind(user.to_string())
        .execute(conn)
        .await?;
    Ok(removed.rows_affected() == 1)
}
