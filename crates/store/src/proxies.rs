//! Proxy grants as the people who manage them see them, invitations to become a proxy, and the
//! age rules each jurisdiction's parents' access follows. What a grant allows is decided by the
//! policy from the facts in [`crate::access`]; this module keeps and lists them.

use crate::{Conn, Result, from_micros, parse_id, require, to_micros};
use jiff::Timestamp;
use portal_domain::access::{
    Action, AgeBand, AgeRules, ClinicAction, ClinicCapability, ParentReach, PatientAccess,
    ProxyScope, Relationship,
};
use portal_domain::record::Categories;
use portal_domain::{PatientId, UserId};
use sqlx::Row;

/// One grant to a record, as the patient and the clinic see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRow {
    /// The grant.
    pub id: String,
    /// The proxy's account.
    pub proxy: UserId,
    /// The proxy's name.
    pub proxy_name: String,
    /// The proxy's e-mail address.
    pub proxy_email: String,
    /// How they are related.
    pub relationship: Relationship,
    /// What the grant itself allows (the age rules may narrow it).
    pub scope: Option<ProxyScope>,
    /// When it started.
    pub starts_at: Timestamp,
    /// When it ends, if it does.
    pub ends_at: Option<Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// Who made it, in words ("Sam Rivera (staff)").
    pub granted_by: String,
    /// Who made it: an account id, or "operator".
    pub granted_by_id: String,
    /// When the patient chose its reach themselves.
    pub patient_chose_at: Option<Timestamp>,
    /// Confidential categories shared with this proxy.
    pub shared: Categories,
    /// The identity document staff checked.
    pub document_checked: String,
    /// When the patient asked the clinic to remove it.
    pub removal_requested_at: Option<Timestamp>,
}

const GRANT_COLUMNS: &str = "g.id, g.proxy_user_id, u.name AS proxy_name, u.email AS proxy_email, \
     g.relationship, g.scope, g.starts_at, g.ends_at, g.revoked_at, \
     COALESCE(b.name || ' (' || b.role || ')', CASE WHEN g.granted_by = 'operator' \
       THEN 'the clinic''s administration' ELSE 'the clinic' END) AS granted_by_words, \
     g.granted_by, \
     g.patient_chose_at, g.shared, g.document_checked, g.removal_requested_at";

fn grant_row(r: &sqlx::any::AnyRow) -> Result<GrantRow> {
    let at = |column: &str| -> Result<Option<Timestamp>> {
        r.try_get::<Option<i64>, _>(column)?
            .map(from_micros)
            .transpose()
    };
    Ok(GrantRow {
        id: r.try_get("id")?,
        proxy: parse_id(&r.try_get::<String, _>("proxy_user_id")?)?,
        proxy_name: r.try_get("proxy_name")?,
        proxy_email: r.try_get("proxy_email")?,
        relationship: Relationship::from_stored(&r.try_get::<String, _>("relationship")?),
        scope: ProxyScope::from_stored(&r.try_get::<String, _>("scope")?),
        starts_at: from_micros(r.try_get("starts_at")?)?,
        ends_at: at("ends_at")?,
        revoked_at: at("revoked_at")?,
        granted_by: r.try_get("granted_by_words")?,
        granted_by_id: r.try_get("granted_by")?,
        patient_chose_at: at("patient_chose_at")?,
        shared: Categories::from_stored(&r.try_get::<String, _>("shared")?),
        document_checked: r.try_get("document_checked")?,
        removal_requested_at: at("removal_requested_at")?,
    })
}

fn require_manage(access: &PatientAccess) -> Result<()> {
    if access.action() == Action::ManageProxy {
        Ok(())
    } else {
        Err(crate::Error::WrongCapability("managing proxies"))
    }
}

/// The record's grants, live ones first, newest first.
pub async fn of_record(conn: &mut Conn, access: &PatientAccess) -> Result<Vec<GrantRow>> {
    require_manage(access)?;
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM proxy_grants g JOIN users u ON u.id = g.proxy_user_id \
         LEFT JOIN users b ON b.id = g.granted_by \
         WHERE g.patient_id = $1 ORDER BY g.revoked_at IS NOT NULL, g.created_at DESC, g.id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .fetch_all(conn)
        .await?;
    rows.iter().map(grant_row).collect()
}

/// One grant to the record.
pub async fn one(conn: &mut Conn, access: &PatientAccess, id: &str) -> Result<Option<GrantRow>> {
    require_manage(access)?;
    let sql = format!(
        "SELECT {GRANT_COLUMNS} FROM proxy_grants g JOIN users u ON u.id = g.proxy_user_id \
         LEFT JOIN users b ON b.id = g.granted_by WHERE g.patient_id = $1 AND g.id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(grant_row).transpose()
}

/// A change to one live grant of the record.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    /// End it now, by this account (or 'operator').
    Revoke(&'a str),
    /// The patient's own choice of its reach.
    Choose(ProxyScope),
    /// The confidential categories the patient shares with the proxy.
    Share(Categories),
    /// The patient asks the clinic to remove it.
    AskRemoval,
}

/// Applies `change` to the record's grant `id` if it is still live; whether it was.
pub async fn change(
    conn: &mut Conn,
    access: &PatientAccess,
    id: &str,
    change: Change<'_>,
    now: Timestamp,
) -> Result<bool> {
    require_manage(access)?;
    let (set, text): (&str, String) = match change {
        Change::Revoke(by) => ("revoked_at = $3, revoked_by = $4", by.to_string()),
        Change::Choose(scope) => (
            "patient_chose_at = $3, scope = $4",
            scope.as_str().to_string(),
        ),
        Change::Share(categories) => ("shared = $4", categories.to_stored()),
        Change::AskRemoval => ("removal_requested_at = $3", String::new()),
    };
    // Every statement binds all four, so each placeholder has a type on PostgreSQL.
    let sql = format!(
        "UPDATE proxy_grants SET {set} WHERE patient_id = $1 AND id = $2 \
         AND revoked_at IS NULL AND $3 = $3 AND $4 = $4"
    );
    let changed = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(id)
        .bind(to_micros(now))
        .bind(text)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(changed == 1)
}

/// A record with a patient's request to remove a proxy still open: what the clinic's list of
/// requests shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovalRequest {
    /// The record.
    pub patient: PatientId,
    /// The patient's name.
    pub patient_name: String,
    /// The proxy's name.
    pub proxy_name: String,
    /// When it was asked.
    pub asked_at: Timestamp,
}

/// Open requests to remove a proxy, oldest first.
pub async fn removal_requests(
    conn: &mut Conn,
    capability: &ClinicCapability,
) -> Result<Vec<RemovalRequest>> {
    require(capability, ClinicAction::FrontDesk, "the patient directory")?;
    let rows = sqlx::query(
        "SELECT g.patient_id, p.given_name || ' ' || p.family_name AS patient_name, \
         u.name AS proxy_name, g.removal_requested_at FROM proxy_grants g \
         JOIN patients p ON p.id = g.patient_id JOIN users u ON u.id = g.proxy_user_id \
         WHERE g.removal_requested_at IS NOT NULL AND g.revoked_at IS NULL \
         ORDER BY g.removal_requested_at, g.id",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RemovalRequest {
                patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
                patient_name: r.try_get("patient_name")?,
                proxy_name: r.try_get("proxy_name")?,
                asked_at: from_micros(r.try_get("removal_requested_at")?)?,
            })
        })
        .collect()
}

/// A new invitation to become a proxy.
pub struct NewInvitation<'a> {
    /// Its id.
    pub id: &'a str,
    /// The address it is sent to.
    pub email: &'a str,
    /// How the invitee is related.
    pub relationship: Relationship,
    /// What the grant will allow.
    pub scope: ProxyScope,
    /// When the grant will end, if it does.
    pub ends_at: Option<Timestamp>,
    /// Whether the patient made it (else the clinic).
    pub by_patient: bool,
    /// Who made it.
    pub invited_by: &'a str,
    /// The identity document staff checked (clinic invitations).
    pub document_checked: &'a str,
    /// The link's token, hashed.
    pub token_hash: &'a str,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

/// Records an invitation to the record.
pub async fn invite(
    conn: &mut Conn,
    access: &PatientAccess,
    i: &NewInvitation<'_>,
    now: Timestamp,
) -> Result<()> {
    require_manage(access)?;
    sqlx::query(
        "INSERT INTO proxy_invitations (id, patient_id, email, relationship, scope, ends_at, \
         by_patient, invited_by, document_checked, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(i.id)
    .bind(access.patient().to_string())
    .bind(i.email)
    .bind(i.relationship.as_str())
    .bind(i.scope.as_str())
    .bind(i.ends_at.map(to_micros))
    .bind(i64::from(i.by_patient))
    .bind(i.invited_by)
    .bind(i.document_checked)
    .bind(i.token_hash)
    .bind(to_micros(now))
    .bind(to_micros(i.expires_at))
    .execute(conn)
    .await?;
    Ok(())
}

/// An invitation as its link finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRow {
    /// Its id.
    pub id: String,
    /// The record.
    pub patient: PatientId,
    /// The address it was sent to.
    pub email: String,
    /// How the invitee is related.
    pub relationship: Relationship,
    /// What the grant will allow.
    pub scope: Option<ProxyScope>,
    /// When the grant will end.
    pub ends_at: Option<Timestamp>,
    /// Whether the patient made it.
    pub by_patient: bool,
    /// Who made it.
    pub invited_by: String,
    /// The document staff checked.
    pub document_checked: String,
    /// When it was sent.
    pub created_at: Timestamp,
    /// When the link stops working.
    pub expires_at: Timestamp,
}

const INVITATION_COLUMNS: &str = "id, patient_id, email, relationship, scope, ends_at, \
     by_patient, invited_by, document_checked, created_at, expires_at";

fn invitation_row(r: &sqlx::any::AnyRow) -> Result<InvitationRow> {
    Ok(InvitationRow {
        id: r.try_get("id")?,
        patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
        email: r.try_get("email")?,
        relationship: Relationship::from_stored(&r.try_get::<String, _>("relationship")?),
        scope: ProxyScope::from_stored(&r.try_get::<String, _>("scope")?),
        ends_at: r
            .try_get::<Option<i64>, _>("ends_at")?
            .map(from_micros)
            .transpose()?,
        by_patient: r.try_get::<i64, _>("by_patient")? != 0,
        invited_by: r.try_get("invited_by")?,
        document_checked: r.try_get("document_checked")?,
        created_at: from_micros(r.try_get("created_at")?)?,
        expires_at: from_micros(r.try_get("expires_at")?)?,
    })
}

/// The open invitation whose link hashes to `token_hash`: not accepted, cancelled or expired.
/// The link is the capability; what it finds is only the invitation itself.
pub async fn open_invitation(
    conn: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Option<InvitationRow>> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM proxy_invitations WHERE token_hash = $1 \
         AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at > $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token_hash)
        .bind(to_micros(now))
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(invitation_row).transpose()
}

/// Takes the open invitation `id` for `user`, once: whether this call took it (two acceptances
/// at once make one grant).
pub async fn take_invitation(
    conn: &mut Conn,
    id: &str,
    user: UserId,
    now: Timestamp,
) -> Result<bool> {
    let taken = sqlx::query(
        "UPDATE proxy_invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1 \
         AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(to_micros(now))
    .bind(user.to_string())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// The record's invitations still open, newest first.
pub async fn open_invitations(
    conn: &mut Conn,
    access: &PatientAccess,
    now: Timestamp,
) -> Result<Vec<InvitationRow>> {
    require_manage(access)?;
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM proxy_invitations WHERE patient_id = $1 \
         AND accepted_at IS NULL AND cancelled_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(to_micros(now))
        .fetch_all(conn)
        .await?;
    rows.iter().map(invitation_row).collect()
}

/// Cancels one of the record's open invitations; whether it was open.
pub async fn cancel_invitation(
    conn: &mut Conn,
    access: &PatientAccess,
    id: &str,
    now: Timestamp,
) -> Result<bool> {
    require_manage(access)?;
    let cancelled = sqlx::query(
        "UPDATE proxy_invitations SET cancelled_at = $3 WHERE patient_id = $1 AND id = $2 \
         AND accepted_at IS NULL AND cancelled_at IS NULL",
    )
    .bind(access.patient().to_string())
    .bind(id)
    .bind(to_micros(now))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(cancelled == 1)
}

/// Every jurisdiction's age rules, by name.
pub async fn age_rules(conn: &mut Conn) -> Result<Vec<AgeRules>> {
    let rows = sqlx::query(
        "SELECT jurisdiction, from_age, until_age, parent_reach, patient_may_widen \
         FROM age_rules ORDER BY jurisdiction, from_age",
    )
    .fetch_all(conn)
    .await?;
    let mut out: Vec<AgeRules> = Vec::new();
    for r in &rows {
        let jurisdiction: String = r.try_get("jurisdiction")?;
        let age = |n: i64| u8::try_from(n.clamp(0, 255)).unwrap_or(u8::MAX);
        let band = AgeBand {
            from_age: age(r.try_get("from_age")?),
            until_age: r.try_get::<Option<i64>, _>("until_age")?.map(age),
            parent_reach: reach_from(&r.try_get::<String, _>("parent_reach")?),
            patient_may_widen: r.try_get::<i64, _>("patient_may_widen")? != 0,
        };
        match out.last_mut() {
            Some(rules) if rules.jurisdiction == jurisdiction => rules.bands.push(band),
            _ => out.push(AgeRules {
                jurisdiction,
                bands: vec![band],
            }),
        }
    }
    Ok(out)
}

fn reach_from(text: &str) -> ParentReach {
    match text {
        "full" => ParentReach::Full,
        "limited" => ParentReach::Limited,
        _ => ParentReach::Ended,
    }
}

fn reach_text(reach: ParentReach) -> &'static str {
    match reach {
        ParentReach::Full => "full",
        ParentReach::Limited => "limited",
        ParentReach::Ended => "ended",
    }
}

/// Replaces one jurisdiction's rules (checked by the caller) with `rules`.
pub async fn save_age_rules(
    conn: &mut Conn,
    capability: &ClinicCapability,
    rules: &AgeRules,
) -> Result<()> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    sqlx::query("DELETE FROM age_rules WHERE jurisdiction = $1")
        .bind(&rules.jurisdiction)
        .execute(&mut *conn)
        .await?;
    for band in &rules.bands {
        sqlx::query(
            "INSERT INTO age_rules (jurisdiction, from_age, until_age, parent_reach, \
             patient_may_widen) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&rules.jurisdiction)
        .bind(i64::from(band.from_age))
        .bind(band.until_age.map(i64::from))
        .bind(reach_text(band.parent_reach))
        .bind(i64::from(band.patient_may_widen))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
