//! Prescription refills: the clinic's pharmacy directory, each record's preferred pharmacy,
//! patients' requests (an item per medication, each step kept), the prescriptions the clinic
//! wrote on approval, the clinic's queue, and the job moving requests nobody acted on.
//!
//! The patient's side and deciding clinicians reach a request under the policy's
//! `PatientAccess` (its patient in every `WHERE`); the queue under `ViewInBasket`; the job under
//! `RunRefillJobs`. At most one request per medication waits: the database refuses a second.

use crate::{Conn, Error, Result, conflict_as, from_micros, parse_id, require, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability, PatientAccess, RefillFacts};
use portal_domain::record::Categories;
use portal_domain::refills::{RefillStatus, Stage};
use portal_domain::{
    PatientId, PharmacyId, PoolId, RefillId, RefillItemId, ResourceId, Role, UserId,
};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::HashMap;

/// The identifier system of US National Provider Identifiers.
pub const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";

/// A pharmacy of the clinic's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pharmacy {
    /// Its id.
    pub id: PharmacyId,
    /// Its name.
    pub name: String,
    /// Its street address.
    pub address: String,
    /// Its phone number.
    pub phone: String,
    /// Whether patients may choose it.
    pub offered: bool,
}

fn pharmacy(r: &AnyRow) -> Result<Pharmacy> {
    Ok(Pharmacy {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        name: r.try_get("name")?,
        address: r.try_get("address")?,
        phone: r.try_get("phone")?,
        offered: r.try_get::<i64, _>("offered")? != 0,
    })
}

/// The clinic's pharmacies by name (only those offered, with `offered_only`).
pub async fn pharmacies(conn: &mut Conn, offered_only: bool) -> Result<Vec<Pharmacy>> {
    let rows = sqlx::query(
        "SELECT id, name, address, phone, offered FROM pharmacies \
         WHERE $1 = 0 OR offered = 1 ORDER BY name, address",
    )
    .bind(i64::from(offered_only))
    .fetch_all(conn)
    .await?;
    rows.iter().map(pharmacy).collect()
}

/// Adds a pharmacy to the directory ([`Error::Conflict`] if one with the same name and address
/// is there).
pub async fn add_pharmacy(
    conn: &mut Conn,
    capability: &ClinicCapability,
    p: &Pharmacy,
    now: Timestamp,
) -> Result<()> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    sqlx::query(
        "INSERT INTO pharmacies (id, name, address, phone, offered, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(p.id.to_string())
    .bind(&p.name)
    .bind(&p.address)
    .bind(&p.phone)
    .bind(i64::from(p.offered))
    .bind(to_micros(now))
    .execute(conn)
    .await
    .map_err(conflict_as("pharmacy name and address"))?;
    Ok(())
}

/// Offers a pharmacy to patients or stops offering it. `false`: no such pharmacy.
pub async fn set_pharmacy_offered(
    conn: &mut Conn,
    capability: &ClinicCapability,
    id: PharmacyId,
    offered: bool,
) -> Result<bool> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    let n = sqlx::query("UPDATE pharmacies SET offered = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(i64::from(offered))
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The pharmacy the record's refills last went to, if any.
pub async fn preferred_pharmacy(
    conn: &mut Conn,
    access: &PatientAccess,
) -> Result<Option<PharmacyId>> {
    sqlx::query("SELECT pharmacy_id FROM preferred_pharmacies WHERE patient_id = $1")
        .bind(access.patient().to_string())
        .fetch_optional(conn)
        .await?
        .map(|r| parse_id(&r.try_get::<String, _>("pharmacy_id")?))
        .transpose()
}

/// Remembers the record's pharmacy.
pub async fn set_preferred_pharmacy(
    conn: &mut Conn,
    access: &PatientAccess,
    pharmacy: PharmacyId,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO preferred_pharmacies (patient_id, pharmacy_id, updated_at) \
         VALUES ($1, $2, $3) ON CONFLICT (patient_id) \
         DO UPDATE SET pharmacy_id = excluded.pharmacy_id, updated_at = excluded.updated_at",
    )
    .bind(access.patient().to_string())
    .bind(pharmacy.to_string())
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The record's medications a request waits for, with the request each waits in and whether it
/// is in a confidential category.
pub async fn pending_medications(
    conn: &mut Conn,
    access: &PatientAccess,
) -> Result<HashMap<ResourceId, (RefillId, bool)>> {
    let rows = sqlx::query(
        "SELECT medication_id, request_id, sensitivity FROM refill_items \
         WHERE patient_id = $1 AND status IN ('sent', 'in-review')",
    )
    .bind(access.patient().to_string())
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                parse_id(&r.try_get::<String, _>("medication_id")?)?,
                (
                    parse_id(&r.try_get::<String, _>("request_id")?)?,
                    !r.try_get::<String, _>("sensitivity")?.is_empty(),
                ),
            ))
        })
        .collect()
}

/// The active clinician account whose NPI the Practitioner `practitioner` (a portal resource
/// id) carries: the prescriber's account, if they have one.
pub async fn account_of_practitioner(
    conn: &mut Conn,
    practitioner: ResourceId,
) -> Result<Option<UserId>> {
    sqlx::query(
        "SELECT u.id FROM fhir_identifiers i JOIN users u ON u.npi = i.value \
         WHERE i.resource_id = $1 AND i.system = $2 AND u.role = 'clinician' \
         AND u.status = 'active' ORDER BY u.id LIMIT 1",
    )
    .bind(practitioner.to_string())
    .bind(NPI_SYSTEM)
    .fetch_optional(conn)
    .await?
    .map(|r| parse_id(&r.try_get::<String, _>("id")?))
    .transpose()
}

/// The pool a clinician's refill requests are shared with: the first by name they belong to,
/// those with a lead first.
pub async fn pool_of(conn: &mut Conn, user: UserId) -> Result<Option<PoolId>> {
    sqlx::query(
        "SELECT p.id FROM pool_members m JOIN pools p ON p.id = m.pool_id WHERE m.user_id = $1 \
         ORDER BY CASE WHEN p.lead_user_id IS NULL THEN 1 ELSE 0 END, p.name LIMIT 1",
    )
    .bind(user.to_string())
    .fetch_optional(conn)
    .await?
    .map(|r| parse_id(&r.try_get::<String, _>("id")?))
    .transpose()
}

/// Sets (or clears) a clinician's NPI. [`Error::Conflict`] if another account has it.
pub async fn set_npi(
    conn: &mut Conn,
    capability: &ClinicCapability,
    user: UserId,
    npi: Option<&str>,
) -> Result<bool> {
    require(capability, ClinicAction::ManageUsers, "accounts")?;
    let n = sqlx::query("UPDATE users SET npi = $2 WHERE id = $1 AND role = 'clinician'")
        .bind(user.to_string())
        .bind(npi)
        .execute(conn)
        .await
        .map_err(conflict_as("NPI"))?
        .rows_affected();
    Ok(n == 1)
}

/// Sets (or clears) a pool's lead clinician. `false`: no such pool.
pub async fn set_pool_lead(
    conn: &mut Conn,
    capability: &ClinicCapability,
    pool: PoolId,
    lead: Option<UserId>,
) -> Result<bool> {
    require(capability, ClinicAction::ConfigureClinic, "clinic settings")?;
    let n = sqlx::query("UPDATE pools SET lead_user_id = $2 WHERE id = $1")
        .bind(pool.to_string())
        .bind(lead.map(|u| u.to_string()))
        .execute(conn)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// One medication of a new request.
#[derive(Clone, Debug)]
pub struct NewItem {
    /// Its id.
    pub id: RefillItemId,
    /// The imported prescription asked about.
    pub medication: ResourceId,
    /// Its name as the page showed it.
    pub label: String,
    /// The confidential categories it falls in (none, for most).
    pub sensitivity: Categories,
}

/// A new request as the policy allowed it.
#[derive(Clone, Debug)]
pub struct NewRequest<'a> {
    /// Its id.
    pub id: RefillId,
    /// Who sent it.
    pub requested_by: UserId,
    /// Where the prescriptions should go.
    pub pharmacy: PharmacyId,
    /// The patient's comment.
    pub comment: &'a str,
    /// The prescriber's account, when they have one.
    pub prescriber: Option<UserId>,
    /// The pool it is shared with.
    pub pool: Option<PoolId>,
    /// Who it waits for first.
    pub stage: Stage,
    /// The medications.
    pub items: &'a [NewItem],
    /// The form's one-time key.
    pub send_key: &'a str,
}

/// Stores a request with its items, each at "sent". [`Error::Conflict`] `"pending request"`
/// when a request for one of the medications already waits; `"send key"` when the same form
/// was stored before.
pub async fn create(
    conn: &mut Conn,
    access: &PatientAccess,
    new: &NewRequest<'_>,
    now: Timestamp,
) -> Result<()> {
    let patient = access.patient().to_string();
    sqlx::query(
        "INSERT INTO refill_requests (id, patient_id, requested_by, pharmacy_id, comment, \
         prescriber_user_id, pool_id, stage, routed_at, created_at, send_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)",
    )
    .bind(new.id.to_string())
    .bind(&patient)
    .bind(new.requested_by.to_string())
    .bind(new.pharmacy.to_string())
    .bind(new.comment)
    .bind(new.prescriber.map(|u| u.to_string()))
    .bind(new.pool.map(|p| p.to_string()))
    .bind(new.stage.as_str())
    .bind(to_micros(now))
    .bind(new.send_key)
    .execute(&mut *conn)
    .await
    .map_err(conflict_as("send key"))?;
    for (position, item) in new.items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO refill_items (id, request_id, patient_id, medication_id, label, \
             sensitivity, position, status, status_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'sent', $8)",
        )
        .bind(item.id.to_string())
        .bind(new.id.to_string())
        .bind(&patient)
        .bind(item.medication.to_string())
        .bind(&item.label)
        .bind(item.sensitivity.to_stored())
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(to_micros(now))
        .execute(&mut *conn)
        .await
        .map_err(conflict_as("pending request"))?;
        add_event(
            conn,
            access,
            item.id,
            RefillStatus::Sent,
            &new.requested_by.to_string(),
            "",
            now,
        )
        .await?;
    }
    Ok(())
}

async fn add_event(
    conn: &mut Conn,
    access: &PatientAccess,
    item: RefillItemId,
    status: RefillStatus,
    actor: &str,
    detail: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO refill_events (id, item_id, patient_id, status, actor_id, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(item.to_string())
    .bind(access.patient().to_string())
    .bind(status.as_str())
    .bind(actor)
    .bind(detail)
    .bind(to_micros(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The request a one-time key stored in this record, if any.
pub async fn by_key(
    conn: &mut Conn,
    access: &PatientAccess,
    key: &str,
) -> Result<Option<RefillId>> {
    sqlx::query("SELECT id FROM refill_requests WHERE patient_id = $1 AND send_key = $2")
        .bind(access.patient().to_string())
        .bind(key)
        .fetch_optional(conn)
        .await?
        .map(|r| parse_id(&r.try_get::<String, _>("id")?))
        .transpose()
}

/// One step an item went through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The status it reached.
    pub status: RefillStatus,
    /// When.
    pub at: Timestamp,
    /// Who (a name; empty for the portal itself).
    pub by: String,
    /// The reason or note that came with it.
    pub detail: String,
}

/// One medication of a request.
#[derive(Clone, Debug)]
pub struct Item {
    /// Its id.
    pub id: RefillItemId,
    /// The imported prescription asked about.
    pub medication: ResourceId,
    /// Its name as asked for.
    pub label: String,
    /// Where it stands.
    pub status: RefillStatus,
    /// Since when.
    pub status_at: Timestamp,
    /// The reason of a refusal (the patient's side reads it).
    pub reason: String,
    /// Every step, oldest first.
    pub steps: Vec<Step>,
    /// The prescription written on approval (its portal id).
    pub issued: Option<String>,
    /// The confidential categories it falls in (none, for most).
    pub sensitivity: Categories,
}

/// A request with its items.
#[derive(Clone, Debug)]
pub struct Refill {
    /// Its id.
    pub id: RefillId,
    /// Whose record.
    pub patient: PatientId,
    /// Who sent it, by name.
    pub requested_by_name: String,
    /// Whether the sender is a proxy (not the patient's own account).
    pub by_proxy: bool,
    /// The pharmacy.
    pub pharmacy: Pharmacy,
    /// The patient's comment.
    pub comment: String,
    /// The prescriber's account.
    pub prescriber: Option<UserId>,
    /// The prescriber's name, when they have an account.
    pub prescriber_name: Option<String>,
    /// The pool it is shared with, by name.
    pub pool_name: Option<String>,
    /// The pool's lead, by name.
    pub lead_name: Option<String>,
    /// Who it waits for.
    pub stage: Stage,
    /// Since when.
    pub routed_at: Timestamp,
    /// When it was sent.
    pub created_at: Timestamp,
    /// The medications.
    pub items: Vec<Item>,
}

const REQUEST_COLUMNS: &str = "r.id, r.patient_id, r.comment, r.prescriber_user_id, r.stage, \
     r.routed_at, r.created_at, u.name AS by_name, \
     CASE WHEN u.patient_id = r.patient_id THEN 0 ELSE 1 END AS by_proxy, \
     ph.id AS ph_id, ph.name AS ph_name, ph.address AS ph_address, ph.phone AS ph_phone, \
     ph.offered AS ph_offered, pr.name AS prescriber_name, po.name AS pool_name, \
     lead.name AS lead_name \
     FROM refill_requests r JOIN users u ON u.id = r.requested_by \
     JOIN pharmacies ph ON ph.id = r.pharmacy_id \
     LEFT JOIN users pr ON pr.id = r.prescriber_user_id \
     LEFT JOIN pools po ON po.id = r.pool_id \
     LEFT JOIN users lead ON lead.id = po.lead_user_id";

impl Refill {
    /// Whether it holds a medication in a confidential category (as its reader sees it).
    pub fn is_confidential(&self) -> bool {
        self.items.iter().any(|i| !i.sensitivity.is_empty())
    }
}

fn request_row(r: &AnyRow) -> Result<Refill> {
    let stage: String = r.try_get("stage")?;
    Ok(Refill {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
        requested_by_name: r.try_get("by_name")?,
        by_proxy: r.try_get::<i64, _>("by_proxy")? != 0,
        pharmacy: Pharmacy {
            id: parse_id(&r.try_get::<String, _>("ph_id")?)?,
            name: r.try_get("ph_name")?,
            address: r.try_get("ph_address")?,
            phone: r.try_get("ph_phone")?,
            offered: r.try_get::<i64, _>("ph_offered")? != 0,
        },
        comment: r.try_get("comment")?,
        prescriber: r
            .try_get::<Option<String>, _>("prescriber_user_id")?
            .map(|s| parse_id(&s))
            .transpose()?,
        prescriber_name: r.try_get("prescriber_name")?,
        pool_name: r.try_get("pool_name")?,
        lead_name: r.try_get("lead_name")?,
        stage: Stage::from_stored(&stage)
            .ok_or_else(|| Error::Corrupt(format!("refill stage {stage:?}")))?,
        routed_at: from_micros(r.try_get("routed_at")?)?,
        created_at: from_micros(r.try_get("created_at")?)?,
        items: Vec::new(),
    })
}

fn status_of(s: &str) -> Result<RefillStatus> {
    RefillStatus::from_stored(s).ok_or_else(|| Error::Corrupt(format!("refill status {s:?}")))
}

/// Fills in the items (with their steps and prescriptions) of requests of the access's patient.
async fn with_items(
    conn: &mut Conn,
    access: &PatientAccess,
    mut requests: Vec<Refill>,
) -> Result<Vec<Refill>> {
    if requests.is_empty() {
        return Ok(requests);
    }
    let ids: Vec<String> = requests.iter().map(|r| r.id.to_string()).collect();
    let placeholders = (0..ids.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT i.id, i.request_id, i.medication_id, i.label, i.status, i.status_at, i.reason, \
         i.sensitivity, p.id AS issued_id FROM refill_items i \
         LEFT JOIN issued_prescriptions p ON p.item_id = i.id \
         WHERE i.patient_id = $1 AND i.request_id IN ({placeholders}) \
         ORDER BY i.request_id, i.position"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    for id in &ids {
        q = q.bind(id.as_str());
    }
    let items = q.fetch_all(&mut *conn).await?;
    let sql = format!(
        "SELECT e.item_id, e.status, e.at, e.detail, COALESCE(u.name, '') AS by_name \
         FROM refill_events e JOIN refill_items i ON i.id = e.item_id \
         LEFT JOIN users u ON u.id = e.actor_id \
         WHERE e.patient_id = $1 AND i.request_id IN ({placeholders}) ORDER BY e.at, e.id"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    for id in &ids {
        q = q.bind(id.as_str());
    }
    let events = q.fetch_all(&mut *conn).await?;
    for row in &items {
        let request: RefillId = parse_id(&row.try_get::<String, _>("request_id")?)?;
        let id: RefillItemId = parse_id(&row.try_get::<String, _>("id")?)?;
        let mut steps = Vec::new();
        for e in &events {
            if e.try_get::<String, _>("item_id")? == id.to_string() {
                steps.push(Step {
                    status: status_of(&e.try_get::<String, _>("status")?)?,
                    at: from_micros(e.try_get("at")?)?,
                    by: e.try_get("by_name")?,
                    detail: e.try_get("detail")?,
                });
            }
        }
        let item = Item {
            id,
            medication: parse_id(&row.try_get::<String, _>("medication_id")?)?,
            label: row.try_get("label")?,
            status: status_of(&row.try_get::<String, _>("status")?)?,
            status_at: from_micros(row.try_get("status_at")?)?,
            reason: row.try_get("reason")?,
            steps,
            issued: row.try_get("issued_id")?,
            sensitivity: Categories::of_item(&row.try_get::<String, _>("sensitivity")?),
        };
        // A confidential medication is never shown to a viewer who may not see it (a proxy).
        if !access.visibility().shows_categories(item.sensitivity) {
            continue;
        }
        if let Some(r) = requests.iter_mut().find(|r| r.id == request) {
            r.items.push(item);
        }
    }
    Ok(requests)
}

/// The record's requests, newest first, at most `limit`.
pub async fn list(conn: &mut Conn, access: &PatientAccess, limit: i64) -> Result<Vec<Refill>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} WHERE r.patient_id = $1 \
         ORDER BY r.created_at DESC, r.id DESC LIMIT $2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let requests = rows.iter().map(request_row).collect::<Result<Vec<_>>>()?;
    Ok(with_items(conn, access, requests)
        .await?
        .into_iter()
        .filter(|r| !r.items.is_empty())
        .collect())
}

/// One request of the record.
pub async fn find(conn: &mut Conn, access: &PatientAccess, id: RefillId) -> Result<Option<Refill>> {
    let sql = format!("SELECT {REQUEST_COLUMNS} WHERE r.patient_id = $1 AND r.id = $2");
    let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    let request = request_row(&row)?;
    Ok(with_items(conn, access, vec![request])
        .await?
        .pop()
        .filter(|r| !r.items.is_empty()))
}

/// What the policy decides a request on, for `user`: whose it is, its prescriber, whether
/// `user` is in its pool, and the pool's lead. Read before any access exists, so it returns
/// nothing else.
pub async fn refill_facts(
    conn: &mut Conn,
    id: RefillId,
    user: UserId,
) -> Result<Option<RefillFacts>> {
    let row = sqlx::query(
        "SELECT r.patient_id, r.prescriber_user_id, po.lead_user_id, \
         (SELECT COUNT(*) FROM pool_members m WHERE m.pool_id = r.pool_id AND m.user_id = $2) \
           AS in_pool \
         FROM refill_requests r LEFT JOIN pools po ON po.id = r.pool_id WHERE r.id = $1",
    )
    .bind(id.to_string())
    .bind(user.to_string())
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(RefillFacts {
            patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
            prescriber: r
                .try_get::<Option<String>, _>("prescriber_user_id")?
                .map(|s| parse_id(&s))
                .transpose()?,
            in_pool: r.try_get::<i64, _>("in_pool")? > 0,
            lead: r
                .try_get::<Option<String>, _>("lead_user_id")?
                .map(|s| parse_id(&s))
                .transpose()?,
        })
    })
    .transpose()
}

/// Moves a request's unopened items to "in review". Returns how many moved.
pub async fn mark_in_review(
    conn: &mut Conn,
    access: &PatientAccess,
    request: RefillId,
    by: UserId,
    now: Timestamp,
) -> Result<usize> {
    let rows = sqlx::query(
        "UPDATE refill_items SET status = 'in-review', status_at = $3 \
         WHERE patient_id = $1 AND request_id = $2 AND status = 'sent' RETURNING id",
    )
    .bind(access.patient().to_string())
    .bind(request.to_string())
    .bind(to_micros(now))
    .fetch_all(&mut *conn)
    .await?;
    for r in &rows {
        let item: RefillItemId = parse_id(&r.try_get::<String, _>("id")?)?;
        add_event(
            conn,
            access,
            item,
            RefillStatus::InReview,
            &by.to_string(),
            "",
            now,
        )
        .await?;
    }
    Ok(rows.len())
}

/// Moves one item of a request from `from` to `to`, with its step. `false`: it was not at
/// `from` (someone else decided a moment ago) or is not in this request.
#[allow(clippy::too_many_arguments)]
pub async fn move_item(
    conn: &mut Conn,
    access: &PatientAccess,
    request: RefillId,
    item: RefillItemId,
    from: RefillStatus,
    to: RefillStatus,
    by: UserId,
    reason: &str,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE refill_items SET status = $5, status_at = $6, reason = $7, decided_by = $8 \
         WHERE patient_id = $1 AND request_id = $2 AND id = $3 AND status = $4",
    )
    .bind(access.patient().to_string())
    .bind(request.to_string())
    .bind(item.to_string())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(to_micros(now))
    .bind(reason)
    .bind(by.to_string())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(false);
    }
    add_event(conn, access, item, to, &by.to_string(), reason, now).await?;
    Ok(true)
}

/// Keeps the prescription written on approving an item.
pub async fn issue(
    conn: &mut Conn,
    access: &PatientAccess,
    id: &str,
    item: RefillItemId,
    prior: ResourceId,
    json: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO issued_prescriptions (id, item_id, patient_id, prior_id, json, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(item.to_string())
    .bind(access.patient().to_string())
    .bind(prior.to_string())
    .bind(json)
    .bind(to_micros(now))
    .execute(&mut *conn)
    .await
    .map_err(conflict_as("prescription for this item"))?;
    // The prescription is served as part of the record (FHIR MedicationRequest).
    crate::access::touch_records(conn, &[access.patient()]).await
}

/// A prescription the clinic wrote on approving a refill.
#[derive(Clone, Debug)]
pub struct Issued {
    /// Its id.
    pub id: String,
    /// The FHIR `MedicationRequest`, as written.
    pub json: String,
    /// When it was written.
    pub created_at: Timestamp,
}

/// The prescriptions the clinic wrote for the record, newest first.
pub async fn issued(conn: &mut Conn, access: &PatientAccess) -> Result<Vec<Issued>> {
    // A confidential medication's renewal is shown only to those who may see it.
    let rows = sqlx::query(
        "SELECT p.id, p.json, p.created_at FROM issued_prescriptions p \
         JOIN refill_items i ON i.id = p.item_id \
         WHERE p.patient_id = $1 AND ($2 = 1 OR i.sensitivity = '') \
         ORDER BY p.created_at DESC, p.id DESC",
    )
    .bind(access.patient().to_string())
    .bind(i64::from(access.visibility().shows_every_category()))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Issued {
                id: r.try_get("id")?,
                json: r.try_get("json")?,
                created_at: from_micros(r.try_get("created_at")?)?,
            })
        })
        .collect()
}

/// One line of the clinic's refill queue. Staff see the line (who waits, for whom), never the
/// medications.
#[derive(Clone, Debug)]
pub struct Queued {
    /// The request.
    pub id: RefillId,
    /// Whose record.
    pub patient: PatientId,
    /// The patient's name.
    pub patient_name: String,
    /// How many of its medications wait.
    pub waiting: i64,
    /// When it was sent.
    pub created_at: Timestamp,
    /// Who it waits for.
    pub stage: Stage,
    /// Since when.
    pub routed_at: Timestamp,
    /// The name of whom it waits for: the prescriber, the pool or its lead.
    pub waiting_for: String,
    /// Whether it waits for the user personally (or their pool, once it went there).
    pub mine: bool,
}

/// Requests with a medication still waiting, oldest first, at most `limit`: for a clinician
/// those they may decide (theirs as prescriber or lead, their pools', their care team's); for
/// staff every one.
pub async fn queue(
    conn: &mut Conn,
    capability: &ClinicCapability,
    user: UserId,
    role: Role,
    limit: i64,
) -> Result<Vec<Queued>> {
    require(capability, ClinicAction::ViewInBasket, "the in-basket")?;
    let rows = sqlx::query(
        "SELECT r.id, r.patient_id, pt.given_name, pt.family_name, r.created_at, r.stage, \
         r.routed_at, pr.name AS prescriber_name, po.name AS pool_name, lead.name AS lead_name, \
         CASE WHEN (r.stage = 'prescriber' AND r.prescriber_user_id = $1) \
           OR (r.stage = 'pool' AND EXISTS (SELECT 1 FROM pool_members m \
               WHERE m.pool_id = r.pool_id AND m.user_id = $1)) \
           OR (r.stage = 'lead' AND po.lead_user_id = $1) THEN 1 ELSE 0 END AS mine, \
         (SELECT COUNT(*) FROM refill_items i WHERE i.request_id = r.id \
           AND i.status IN ('sent', 'in-review')) AS waiting \
         FROM refill_requests r JOIN patients pt ON pt.id = r.patient_id \
         LEFT JOIN users pr ON pr.id = r.prescriber_user_id \
         LEFT JOIN pools po ON po.id = r.pool_id \
         LEFT JOIN users lead ON lead.id = po.lead_user_id \
         WHERE EXISTS (SELECT 1 FROM refill_items i WHERE i.request_id = r.id \
           AND i.status IN ('sent', 'in-review')) \
         AND ($2 = 1 OR r.prescriber_user_id = $1 OR po.lead_user_id = $1 \
           OR EXISTS (SELECT 1 FROM pool_members m WHERE m.pool_id = r.pool_id \
             AND m.user_id = $1) \
           OR EXISTS (SELECT 1 FROM care_team ct WHERE ct.patient_id = r.patient_id \
             AND ct.user_id = $1)) \
         ORDER BY r.routed_at, r.id LIMIT $3",
    )
    .bind(user.to_string())
    .bind(i64::from(role == Role::Staff))
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let stage: String = r.try_get("stage")?;
            let stage = Stage::from_stored(&stage)
                .ok_or_else(|| Error::Corrupt(format!("refill stage {stage:?}")))?;
            let prescriber: Option<String> = r.try_get("prescriber_name")?;
            let pool: Option<String> = r.try_get("pool_name")?;
            let lead: Option<String> = r.try_get("lead_name")?;
            let waiting_for = match stage {
                Stage::Prescriber => prescriber.or(pool),
                Stage::Pool => pool,
                Stage::Lead => lead.or(pool),
            }
            .unwrap_or_else(|| "the care team".into());
            Ok(Queued {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
                patient_name: format!(
                    "{} {}",
                    r.try_get::<String, _>("given_name")?,
                    r.try_get::<String, _>("family_name")?
                ),
                waiting: r.try_get("waiting")?,
                created_at: from_micros(r.try_get("created_at")?)?,
                stage,
                routed_at: from_micros(r.try_get("routed_at")?)?,
                waiting_for,
                mine: r.try_get::<i64, _>("mine")? != 0,
            })
        })
        .collect()
}

/// A request due to move on, as the job found it.
#[derive(Clone, Debug)]
pub struct Due {
    /// The request.
    pub id: RefillId,
    /// Whose record.
    pub patient: PatientId,
    /// Who it waited for.
    pub stage: Stage,
    /// Since when.
    pub routed_at: Timestamp,
    /// Its pool.
    pub pool: Option<PoolId>,
    /// The pool's lead.
    pub lead: Option<UserId>,
}

/// Requests with a medication waiting, routed before `before`, that can still move on (a
/// request in a pool without a lead stays with the pool).
pub async fn due(
    conn: &mut Conn,
    capability: &ClinicCapability,
    before: Timestamp,
) -> Result<Vec<Due>> {
    require(capability, ClinicAction::RunRefillJobs, "refill jobs")?;
    let rows = sqlx::query(
        "SELECT r.id, r.patient_id, r.stage, r.routed_at, r.pool_id, po.lead_user_id \
         FROM refill_requests r LEFT JOIN pools po ON po.id = r.pool_id \
         WHERE r.stage <> 'lead' AND r.routed_at <= $1 AND r.pool_id IS NOT NULL \
         AND NOT (r.stage = 'pool' AND po.lead_user_id IS NULL) \
         AND EXISTS (SELECT 1 FROM refill_items i WHERE i.request_id = r.id \
           AND i.status IN ('sent', 'in-review')) ORDER BY r.routed_at LIMIT 500",
    )
    .bind(to_micros(before))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let stage: String = r.try_get("stage")?;
            Ok(Due {
                id: parse_id(&r.try_get::<String, _>("id")?)?,
                patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
                stage: Stage::from_stored(&stage)
                    .ok_or_else(|| Error::Corrupt(format!("refill stage {stage:?}")))?,
                routed_at: from_micros(r.try_get("routed_at")?)?,
                pool: r
                    .try_get::<Option<String>, _>("pool_id")?
                    .map(|s| parse_id(&s))
                    .transpose()?,
                lead: r
                    .try_get::<Option<String>, _>("lead_user_id")?
                    .map(|s| parse_id(&s))
                    .transpose()?,
            })
        })
        .collect()
}

/// Moves a request on to `to`, if it still is where the job found it (so of two processes
/// running the job, one moves it). `true`: this call moved it.
pub async fn escalate(
    conn: &mut Conn,
    capability: &ClinicCapability,
    found: &Due,
    to: Stage,
    now: Timestamp,
) -> Result<bool> {
    require(capability, ClinicAction::RunRefillJobs, "refill jobs")?;
    let n = sqlx::query(
        "UPDATE refill_requests SET stage = $4, routed_at = $5 \
         WHERE id = $1 AND stage = $2 AND routed_at = $3 AND EXISTS (SELECT 1 FROM refill_items i \
           WHERE i.request_id = refill_requests.id AND i.status IN ('sent', 'in-review'))",
    )
    .bind(found.id.to_string())
    .bind(found.stage.as_str())
    .bind(to_micros(found.routed_at))
    .bind(to.as_str())
    .bind(to_micros(now))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The addresses a refill update goes to: the patient's own account, and (with `proxies`: the
/// request holds no confidential medication) proxies whose grant covers the clinical record.
pub async fn patient_side_addresses(
    conn: &mut Conn,
    access: &PatientAccess,
    proxies: bool,
    now: Timestamp,
) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT email FROM users WHERE patient_id = $1 AND status = 'active' ORDER BY 1",
    )
    .bind(access.patient().to_string())
    .fetch_all(&mut *conn)
    .await?;
    let mut out = rows
        .iter()
        .map(|r| Ok(r.try_get::<String, _>("email")?))
        .collect::<Result<Vec<String>>>()?;
    // Proxies whose grants reach the clinical record today.
    if proxies {
        for proxy in crate::access::proxies_reaching(conn, access.patient(), now).await? {
            if proxy.reaches == portal_domain::access::ProxyScope::Full
                && !out.contains(&proxy.email)
            {
                out.push(proxy.email);
            }
        }
    }
    out.sort();
    Ok(out)
}
