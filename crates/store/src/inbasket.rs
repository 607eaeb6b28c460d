//! The clinic's in-basket: conversations routed to a user or their pools, across patients; and
//! the response-time rule's list of what waits too long.

use crate::{Conn, Result, from_micros, parse_id, require, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::messages::{Status, Subject, Topic};
use portal_domain::{ConversationId, PatientId, UserId};
use sqlx::Row;

/// One line of the in-basket (no message text: the list names the patient and the subject).
#[derive(Clone, Debug)]
pub struct Waiting {
    /// The conversation.
    pub conversation: ConversationId,
    /// Whose record.
    pub patient: PatientId,
    /// The patient's name.
    pub patient_name: String,
    /// Its subject.
    pub subject: Subject,
    /// What it is about.
    pub topic: Topic,
    /// Where it stands.
    pub status: Status,
    /// The clinician's or pool's name it is routed to.
    pub routed_name: String,
    /// Whether it is routed to the user personally.
    pub mine: bool,
    /// Messages from the patient's side nobody at the clinic opened.
    pub unread: i64,
    /// Its last message.
    pub last_message_at: Timestamp,
    /// Since when a message waits for an answer.
    pub waiting_since: Option<Timestamp>,
}

/// How a page of the in-basket is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Unread first, then the longest wait (what waits for an answer).
    Waiting,
    /// The latest message first (what was done lately).
    Recent,
}

/// Above this key a conversation has nothing unread (see migration 18).
const NOTHING_UNREAD: i64 = 1 << 62;

/// The pools the user belongs to.
async fn pools_of(conn: &mut Conn, user: UserId) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT pool_id FROM pool_members WHERE user_id = $1 ORDER BY pool_id")
        .bind(user.to_string())
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>("pool_id")?))
        .collect()
}

/// One query part per place work is routed to: the user ($1) and each of their pools ($3 on),
/// with status $2. A conversation is routed to a user or to a pool, so the parts never share a
/// row; the pool parts leave out any routed to the user as well, to be sure.
fn routed_parts(pools: usize, select: &str) -> Vec<String> {
    let mut parts = vec![format!(
        "{select} FROM conversations WHERE assigned_user_id = $1 AND status = $2"
    )];
    for i in 0..pools {
        parts.push(format!(
            "{select} FROM conversations WHERE assigned_pool_id = ${} AND status = $2 \
             AND (assigned_user_id IS NULL OR assigned_user_id <> $1)",
            i + 3
        ));
    }
    parts
}

/// A query over [`routed_parts`] with its parameters bound: the user, the status, each pool.
fn routed_query<'q>(
    sql: String,
    user: UserId,
    status: Status,
    pools: &[String],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user.to_string())
        .bind(status.as_str());
    for pool in pools {
        q = q.bind(pool.clone());
    }
    q
}

/// How many conversations with `status` are routed to the user or their pools, and how many
/// of those have a message from the patient's side nobody at the clinic opened: read from
/// the queue indexes alone.
pub async fn counts(
    conn: &mut Conn,
    capability: &ClinicCapability,
    user: UserId,
    status: Status,
) -> Result<(i64, i64)> {
    require(capability, ClinicAction::ViewInBasket, "the in-basket")?;
    let pools = pools_of(conn, user).await?;
    let select = format!(
        "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN queue_key < {NOTHING_UNREAD} THEN 1 \
         ELSE 0 END), 0) AS unread"
    );
    let sql = format!(
        "SELECT COALESCE(SUM(n), 0) AS n, COALESCE(SUM(unread), 0) AS unread FROM ({}) parts",
        routed_parts(pools.len(), &select).join(" UNION ALL ")
    );
    // PostgreSQL sums bigints into numerics: read the totals as text on both.
    let sql = format!("SELECT CAST(n AS TEXT) AS n, CAST(unread AS TEXT) AS unread FROM ({sql}) t");
    let row = routed_query(sql, user, status, &pools)
        .fetch_one(conn)
        .await?;
    let number = |name: &str| -> Result<i64> {
        let text: String = row.try_get(name)?;
        text.parse()
            .map_err(|_| crate::Error::Corrupt(format!("an in-basket count: {text}")))
    };
    Ok((number("n")?, number("unread")?))
}

/// One page of the conversations with `status` routed to the user or their pools: `limit`
/// from `offset` on, in `order`. Each routed place gives its first `offset + limit` from its
/// index range, so a page costs about as much as its size, whatever waits behind it.
#[allow(clippy::too_many_arguments)]
pub async fn page(
    conn: &mut Conn,
    capability: &ClinicCapability,
    user: UserId,
    status: Status,
    order: Order,
    offset: i64,
    limit: i64,
) -> Result<Vec<Waiting>> {
    require(capability, ClinicAction::ViewInBasket, "the in-basket")?;
    let pools = pools_of(conn, user).await?;
    let (key, dir) = match order {
        Order::Waiting => ("queue_key", ""),
        Order::Recent => ("last_message_at", " DESC"),
    };
    let offset = offset.max(0);
    let limit = limit.max(0);
    let each = offset.saturating_add(limit);
    let parts: Vec<String> = routed_parts(pools.len(), &format!("SELECT id, {key} AS k"))
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            format!("SELECT * FROM ({part} ORDER BY {key}{dir}, id{dir} LIMIT {each}) b{i}")
        })
        .collect();
    let sql = format!(
        "SELECT c.id, c.patient_id, pt.given_name, pt.family_name, c.subject, c.topic, \
         c.status, COALESCE(u.name, p.name, '') AS routed_name, \
         CASE WHEN c.assigned_user_id = $1 THEN 1 ELSE 0 END AS mine, c.clinic_unread, \
         c.last_message_at, c.waiting_since \
         FROM (SELECT id, k FROM ({}) routed ORDER BY k{dir}, id{dir} LIMIT {limit} \
         OFFSET {offset}) q \
         JOIN conversations c ON c.id = q.id JOIN patients pt ON pt.id = c.patient_id \
         LEFT JOIN users u ON u.id = c.assigned_user_id \
         LEFT JOIN pools p ON p.id = c.assigned_pool_id \
         ORDER BY q.k{dir}, q.id{dir}",
        parts.join(" UNION ALL ")
    );
    let rows = routed_query(sql, user, status, &pools)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            let subject: String = r.try_get("subject")?;
            let topic: String = r.try_get("topic")?;
            let waiting: Option<i64> = r.try_get("waiting_since")?;
            Ok(Waiting {
                conversation: parse_id(&r.try_get::<String, _>("id")?)?,
                patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
                patient_name: format!(
                    "{} {}",
                    r.try_get::<String, _>("given_name")?,
                    r.try_get::<String, _>("family_name")?
                ),
                subject: Subject::parse(&subject).map_err(|e| crate::Error::Corrupt(e.0))?,
                topic: Topic::parse(&topic).map_err(|e| crate::Error::Corrupt(e.0))?,
                status: Status::from_stored(&r.try_get::<String, _>("status")?),
                routed_name: r.try_get("routed_name")?,
                mine: r.try_get::<i64, _>("mine")? != 0,
                unread: r.try_get("clinic_unread")?,
                last_message_at: from_micros(r.try_get("last_message_at")?)?,
                waiting_since: waiting.map(from_micros).transpose()?,
            })
        })
        .collect()
}

/// Conversations waiting for an answer since before `before`, with the addresses of those
/// they are routed to (the clinician, or each active member of the pool): the overdue digest.
pub async fn overdue(conn: &mut Conn, before: Timestamp) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT u.email, COUNT(*) AS n FROM conversations c \
         JOIN users u ON u.id = c.assigned_user_id OR u.id IN \
           (SELECT user_id FROM pool_members WHERE pool_id = c.assigned_pool_id) \
         WHERE c.status = 'open' AND c.waiting_since IS NOT NULL AND c.waiting_since < $1 \
         AND u.status = 'active' GROUP BY u.email ORDER BY u.email",
    )
    .bind(to_micros(before))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("email")?, r.try_get("n")?)))
        .collect()
}

/// Claims a background job's run for one period: `true` for the one caller, in whatever
/// process, that inserted the period's row first.
pub async fn claim_run(conn: &mut Conn, job: &str, period: &str, now: Timestamp) -> Result<bool> {
    let n = sqlx::query(
        "INSERT INTO job_runs (job, period, started_at) SELECT $1, $2, $3 \
         WHERE NOT EXISTS (SELECT 1 FROM job_runs WHERE job = $1 AND period = $2)",
    )
    .bind(job)
    .bind(period)
    .bind(to_micros(now))
    .execute(conn)
    .await;
    match n {
        Ok(done) => Ok(done.rows_affected() == 1),
        // Another process inserted the same row at the same moment.
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A patient on the user's care team with results held until a clinician releases them.
#[derive(Clone, Debug)]
pub struct HeldResults {
    /// Whose record.
    pub patient: PatientId,
    /// The patient's name.
    pub patient_name: String,
    /// How many results and reports wait.
    pub held: i64,
}

/// The user's care-team patients with results held until a clinician releases them, most
/// first, at most `limit` (a clinician's in-basket; staff never see results).
pub async fn results_to_release(
    conn: &mut Conn,
    capability: &ClinicCapability,
    user: UserId,
    limit: usize,
) -> Result<Vec<HeldResults>> {
    require(capability, ClinicAction::ViewInBasket, "the in-basket")?;
    // Held items are few: read them, keep the results (not notes, vitals or surveys).
    let rows = sqlx::query(
        "SELECT i.patient_id, p.given_name, p.family_name, i.kind, i.category \
         FROM care_team c JOIN clinical_items i ON i.patient_id = c.patient_id \
         JOIN patients p ON p.id = c.patient_id \
         WHERE c.user_id = $1 AND i.kind IN ('observation', 'diagnostic-report') \
         AND i.released_at IS NULL LIMIT 20000",
    )
    .bind(user.to_string())
    .fetch_all(conn)
    .await?;
    let mut held: Vec<HeldResults> = Vec::new();
    for r in &rows {
        let kind = portal_domain::record::ItemKind::from_stored(&r.try_get::<String, _>("kind")?);
        let category: String = r.try_get("category")?;
        if !kind.is_some_and(|k| portal_domain::record::is_result(k, &category)) {
            continue;
        }
        let patient: PatientId = parse_id(&r.try_get::<String, _>("patient_id")?)?;
        match held.iter_mut().find(|h| h.patient == patient) {
            Some(h) => h.held += 1,
            None => held.push(HeldResults {
                patient,
                patient_name: format!(
                    "{} {}",
                    r.try_get::<String, _>("given_name")?,
                    r.try_get::<String, _>("family_name")?
                ),
                held: 1,
            }),
        }
    }
    held.sort_by(|a, b| {
        b.held
            .cmp(&a.held)
            .then_with(|| a.patient_name.cmp(&b.patient_name))
    });
    held.truncate(limit);
    Ok(held)
}

/// A check-in that changed something, for a visit still to come.
#[derive(Clone, Debug)]
pub struct ChangedCheckIn {
    /// The visit.
    pub appointment: String,
    /// Whose.
    pub patient: PatientId,
    /// The patient's name.
    pub patient_name: String,
    /// When the visit starts.
    pub starts_at: Timestamp,
    /// What changed: contact details, insurance, medications or allergies.
    pub contact: bool,
    /// The insurance.
    pub insurance: bool,
    /// Medications or allergies (shown to clinicians only).
    pub clinical: bool,
}

/// Check-ins with changes for booked visits from `from` on, soonest first, at most `limit`: a
/// clinician's own visits (with medication and allergy changes), or for the front desk every
/// visit whose contact details or insurance changed.
pub async fn changed_check_ins(
    conn: &mut Conn,
    capability: &ClinicCapability,
    clinician: Option<UserId>,
    from: Timestamp,
    limit: i64,
) -> Result<Vec<ChangedCheckIn>> {
    require(capability, ClinicAction::ViewInBasket, "the in-basket")?;
    let changed = if clinician.is_some() {
        "(k.contact_changed <> 0 OR k.insurance_changed <> 0 OR k.clinical_changed <> 0)"
    } else {
        "(k.contact_changed <> 0 OR k.insurance_changed <> 0)"
    };
    let sql = format!(
        "SELECT k.appointment_id, k.patient_id, p.given_name, p.family_name, a.starts_at, \
         k.contact_changed, k.insurance_changed, k.clinical_changed \
         FROM checkins k JOIN appointments a ON a.id = k.appointment_id \
         JOIN patients p ON p.id = k.patient_id \
         WHERE a.status = 'booked' AND a.starts_at >= $1 AND ($2 = '' OR a.clinician_id = $2) \
         AND {changed} ORDER BY a.starts_at, k.appointment_id LIMIT $3"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(to_micros(from))
        .bind(clinician.map(|c| c.to_string()).unwrap_or_default())
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(ChangedCheckIn {
                appointment: r.try_get("appointment_id")?,
                patient: parse_id(&r.try_get::<String, _>("patient_id")?)?,
                patient_name: format!(
                    "{} {}",
                    r.try_get::<String, _>("given_name")?,
                    r.try_get::<String, _>("family_name")?
                ),
                starts_at: from_micros(r.try_get("starts_at")?)?,
                contact: r.try_get::<i64, _>("contact_changed")? != 0,
                insurance: r.try_get::<i64, _>("insurance_changed")? != 0,
                clinical: clinician.is_some() && r.try_get::<i64, _>("clinical_changed")? != 0,
            })
        })
        .collect()
}

/// A freed time offered to waitlisted patients that nobody took: every offer ended (expired,
/// withdrawn) without being accepted, the time is still to come and still free.
#[derive(Clone, Debug)]
pub struct UnfilledTime {
    /// Whose time.
    pub clinician: UserId,
    /// The clinician's name.
    pub clinician_name: String,
    /// From.
    pub start: Timestamp,
    /// Until.
    pub end: Timestamp,
    /// How many patients it was offered to.
    pub offered: i64,
}

/// Freed times whose earlier-time offers all failed, soonest first, at most `limit`: the
/// clinician's own (`Some`), or every clinician's for the front desk (`None`).
pub async fn unfilled_times(
    conn: &mut Conn,
    capability: &ClinicCapability,
    clinician: Option<UserId>,
    now: Timestamp,
    limit: i64,
) -> Result<Vec<UnfilledTime>> {
    require(capability, ClinicAction::ViewInBasket, "the in-basket")?;
    let rows = sqlx::query(
        "SELECT o.clinician_id, u.name, o.starts_at, o.ends_at, COUNT(*) AS offered \
         FROM offers o JOIN users u ON u.id = o.clinician_id \
         WHERE o.starts_at > $1 AND ($2 = '' OR o.clinician_id = $2) \
         GROUP BY o.clinician_id, u.name, o.starts_at, o.ends_at \
         HAVING SUM(CASE WHEN o.status IN ('accepted', 'taken') \
           OR (o.status = 'open' AND o.expires_at > $1) THEN 1 ELSE 0 END) = 0 \
         AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.clinician_id = o.clinician_id \
           AND a.status = 'booked' AND a.starts_at < o.ends_at AND a.ends_at > o.starts_at) \
         ORDER BY o.starts_at, o.clinician_id LIMIT $3",
    )
    .bind(to_micros(now))
    .bind(clinician.map(|c| c.to_string()).unwrap_or_default())
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(UnfilledTime {
                clinician: parse_id(&r.try_get::<String, _>("clinician_id")?)?,
                clinician_name: r.try_get("name")?,
                start: from_micros(r.try_get("starts_at")?)?,
                end: from_micros(r.try_get("ends_at")?)?,
                offered: r.try_get("offered")?,
            })
        })
        .collect()
}
