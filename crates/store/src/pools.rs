//! Clinic pools (Front desk, Nurse line …) and their members, and the clinic's settings.

use crate::{Conn, Result, conflict_as, parse_id, require, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::{PoolId, UserId};
use sqlx::Row;

/// A pool and who is in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Its id.
    pub id: PoolId,
    /// Its name.
    pub name: String,
    /// Whether patients may choose it as a recipient.
    pub offered: bool,
    /// Its members' ids, names and e-mail addresses, by name.
    pub members: Vec<(UserId, String, String)>,
    /// Its lead clinician, who gets refill requests nobody in the pool acted on.
    pub lead: Option<UserId>,
}

/// Creates a pool; a name in use is a conflict.
pub async fn create(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: PoolId,
    name: &str,
    offered: bool,
    now: Timestamp,
) -> Result<()> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    sqlx::query("INSERT INTO pools (id, name, offered, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id.to_string())
        .bind(name)
        .bind(i64::from(offered))
        .bind(to_micros(now))
        .execute(conn)
        .await
        .map_err(conflict_as("pool name"))?;
    Ok(())
}

/// Adds or removes a member. `false`: nothing changed.
pub async fn set_member(
    conn: &mut Conn,
    capability: &ClinicCapability,
    pool: PoolId,
    user: UserId,
    member: bool,
) -> Result<bool> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    let sql = if member {
        "INSERT INTO pool_members (pool_id, user_id) SELECT $1, $2 \
         WHERE NOT EXISTS (SELECT 1 FROM pool_members WHERE pool_id = $1 AND user_id = $2)"
    } else {
        "DELETE FROM pool_members WHERE pool_id = $1 AND user_id = $2"
    };
    let n = sqlx::query(sql)
        .bind(pool.to_string())
        .bind(user.to_string())
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Every pool with its members, by name. Any clinic work may list them (routing choices).
pub async fn list(conn: &mut Conn) -> Result<Vec<Pool>> {
    let rows = sqlx::query(
        "SELECT p.id, p.name, p.offered, p.lead_user_id, u.id AS user_id, u.name AS user_name, u.email \
         FROM pools p LEFT JOIN pool_members m ON m.pool_id = p.id \
         LEFT JOIN users u ON u.id = m.user_id ORDER BY p.name, p.id, u.name",
    )
    .fetch_all(conn)
    .await?;
    let mut pools: Vec<Pool> = Vec::new();
    for r in &rows {
        let id: PoolId = parse_id(&r.try_get::<String, _>("id")?)?;
        if pools.last().is_none_or(|p| p.id != id) {
            pools.push(Pool {
                id,
                name: r.try_get("name")?,
                offered: r.try_get::<i64, _>("offered")? != 0,
                members: Vec::new(),
                lead: r
                    .try_get::<Option<String>, _>("lead_user_id")?
                    .map(|s| parse_id(&s))
                    .transpose()?,
            });
        }
        let user: Option<String> = r.try_get("user_id")?;
        if let (Some(user), Some(pool)) = (user, pools.last_mut()) {
            pool.members.push((
                parse_id(&user)?,
                r.try_get("user_name")?,
                r.try_get("email")?,
            ));
        }
    }
    Ok(pools)
}

/// The pools `user` is a member of.
pub async fn of_user(conn: &mut Conn, user: UserId) -> Result<Vec<PoolId>> {
    let rows = sqlx::query("SELECT pool_id FROM pool_members WHERE user_id = $1")
        .bind(user.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| parse_id(&r.try_get::<String, _>("pool_id")?))
        .collect()
}

/// Every stored clinic setting, as key and text.
pub async fn settings(conn: &mut Conn) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query("SELECT key, value FROM clinic_settings ORDER BY key")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
        .collect()
}

/// Stores one clinic setting.
pub async fn set_setting(
    conn: &mut Conn,
    capability: &ClinicCapability,
    key: &str,
    value: &str,
    by: &str,
    now: Timestamp,
) -> Result<()> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    let updated = sqlx::query(
        "UPDATE clinic_settings SET value = $2, updated_at = $3, updated_by = $4 WHERE key = $1",
    )
    .bind(key)
    .bind(value)
    .bind(to_micros(now))
    .bind(by)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO clinic_settings (key, value, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(key)
        .bind(value)
        .bind(to_micros(now))
        .bind(by)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// One stored clinic setting with who stored it and when.
#[derive(Clone, Debug)]
pub struct StoredSetting {
    /// Its key.
    pub key: String,
    /// Its text.
    pub value: String,
    /// When it was stored.
    pub updated_at: Timestamp,
    /// The account's name, or the actor id when no account has it (`cli`: the command line).
    pub updated_by: String,
}

/// Every stored clinic setting with who stored it and when (the settings overview).
pub async fn settings_with_origin(
    conn: &mut Conn,
    capability: &ClinicCapability,
) -> Result<Vec<StoredSetting>> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    let rows = sqlx::query(
        "SELECT s.key, s.value, s.updated_at, COALESCE(u.name, s.updated_by) AS who \
         FROM clinic_settings s LEFT JOIN users u ON u.id = s.updated_by ORDER BY s.key",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StoredSetting {
                key: r.try_get("key")?,
                value: r.try_get("value")?,
                updated_at: crate::from_micros(r.try_get("updated_at")?)?,
                updated_by: r.try_get("who")?,
            })
        })
        .collect()
}
