//! Reading a patient's clinical items for the record pages, and the result-release state.
//! Every read takes the [`PatientAccess`] the policy granted, so it cannot name another patient.

use crate::{Conn, Result, to_micros};
use jiff::Timestamp;
use portal_domain::{PatientAccess, UserId};
use sqlx::Row;
use std::collections::HashSet;

/// Observation categories that are test results (the others, such as vital signs, social history
/// and surveys, are shown elsewhere). An observation with no category counts as a result.
pub const RESULT_CATEGORIES: &[&str] = &["laboratory", "imaging", "procedure", "clinical-test", ""];

/// DiagnosticReport categories that are clinical notes, not results: "note" (set at import for
/// a report with text and no results) and LOINC note types. The visit pages show them as notes.
pub const NOTE_REPORT_CATEGORIES: &[&str] = &[
    "note", "34117-2", "11506-3", "18842-5", "11488-4", "28570-0", "34746-8", "57133-1",
];

fn sql_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One clinical item with the names of who and where it is from.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemRow {
    /// The resource id.
    pub resource_id: String,
    /// "observation", "condition", …
    pub kind: String,
    /// The first category code.
    pub category: String,
    /// The main code's system.
    pub code_system: String,
    /// The main code.
    pub code: String,
    /// Words for it.
    pub label: String,
    /// Its status.
    pub status: String,
    /// When (UTC microseconds).
    pub sort_at: Option<i64>,
    /// The visit it belongs to.
    pub encounter_id: Option<String>,
    /// Who ordered, performed or wrote it.
    pub who_id: Option<String>,
    /// Their name.
    pub who_name: Option<String>,
    /// Where.
    pub where_id: Option<String>,
    /// Its name.
    pub where_name: Option<String>,
    /// The report that lists it.
    pub report_id: Option<String>,
    /// The abnormal flag ("" when none).
    pub flag: String,
    /// When the patient may see it; `None`: held until released.
    pub released_at: Option<i64>,
    /// The mapped details (JSON of `portal_fhir::Mapped`).
    pub details: String,
}

const COLUMNS: &str = "c.resource_id, c.kind, c.category, c.code_system, c.code, c.label, \
     c.status, c.sort_at, c.encounter_id, c.who_id, w.name AS who_name, c.where_id, \
     l.name AS where_name, c.report_id, c.flag, c.released_at, c.details \
     FROM clinical_items c \
     LEFT JOIN directory_names w ON w.resource_id = c.who_id \
     LEFT JOIN directory_names l ON l.resource_id = c.where_id";

fn item(row: &sqlx::any::AnyRow) -> Result<ItemRow> {
    Ok(ItemRow {
        resource_id: row.try_get("resource_id")?,
        kind: row.try_get("kind")?,
        category: row.try_get("category")?,
        code_system: row.try_get("code_system")?,
        code: row.try_get("code")?,
        label: row.try_get("label")?,
        status: row.try_get("status")?,
        sort_at: row.try_get("sort_at")?,
        encounter_id: row.try_get("encounter_id")?,
        who_id: row.try_get("who_id")?,
        who_name: row.try_get("who_name")?,
        where_id: row.try_get("where_id")?,
        where_name: row.try_get("where_name")?,
        report_id: row.try_get("report_id")?,
        flag: row.try_get("flag")?,
        released_at: row.try_get("released_at")?,
        details: row.try_get("details")?,
    })
}

/// Which items a reader may see: everything (the care team), or only what has been released by
/// `now` (the patient and their proxies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Held items too.
    All,
    /// Only items released at or before this time; a report only once every result it lists is.
    ReleasedBy(Timestamp),
}

impl Visibility {
    /// The SQL condition on the item aliased `item`, with the bound value if there is one.
    fn condition(self, item: &str, placeholder: usize) -> (String, Option<i64>) {
        match self {
            Visibility::All => (String::new(), None),
            Visibility::ReleasedBy(now) => (
                format!(" AND {}", released(item, placeholder)),
                Some(to_micros(now)),
            ),
        }
    }
}

/// SQL: whether the item aliased `item` is released to the patient by the time bound at
/// `$placeholder`. A report is held while any result it lists is: its conclusion and its flags
/// are written from those results, so showing it would show them.
fn released(item: &str, placeholder: usize) -> String {
    format!(
        "{item}.released_at IS NOT NULL AND {item}.released_at <= ${placeholder} \
         AND NOT EXISTS (SELECT 1 FROM clinical_items listed WHERE listed.report_id = {item}.resource_id \
         AND listed.patient_id = {item}.patient_id \
         AND (listed.released_at IS NULL OR listed.released_at > ${placeholder}))"
    )
}

/// What to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItemQuery<'a> {
    /// The kinds to include.
    pub kinds: &'a [&'a str],
    /// Only items whose label contains this (case-insensitive); empty: all.
    pub label_contains: &'a str,
    /// Only items at or after this time (UTC microseconds).
    pub from: Option<i64>,
    /// Only items before this time.
    pub until: Option<i64>,
    /// Only items of this visit.
    pub encounter_id: Option<&'a str>,
    /// Only the results this report lists.
    pub report_id: Option<&'a str>,
    /// Only items with this code system and code.
    pub code: Option<(&'a str, &'a str)>,
    /// Only items of this category.
    pub category: Option<&'a str>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// A patient's items of some kinds, newest first, that the reader may see.
pub async fn list(
    conn: &mut Conn,
    access: &PatientAccess,
    query: &ItemQuery<'_>,
    visibility: Visibility,
) -> Result<Vec<ItemRow>> {
    if query.kinds.is_empty() {
        return Ok(Vec::new());
    }
    let mut n = 1;
    let mut next = || {
        n += 1;
        n
    };
    let kinds = query
        .kinds
        .iter()
        .map(|_| format!("${}", next()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut sql = format!("SELECT {COLUMNS} WHERE c.patient_id = $1 AND c.kind IN ({kinds})");
    if !query.label_contains.is_empty() {
        sql.push_str(&format!(" AND LOWER(c.label) LIKE ${} ESCAPE '\\'", next()));
    }
    if query.from.is_some() {
        sql.push_str(&format!(" AND c.sort_at >= ${}", next()));
    }
    if query.until.is_some() {
        sql.push_str(&format!(" AND c.sort_at < ${}", next()));
    }
    if query.encounter_id.is_some() {
        sql.push_str(&format!(" AND c.encounter_id = ${}", next()));
    }
    if query.report_id.is_some() {
        sql.push_str(&format!(" AND c.report_id = ${}", next()));
    }
    if query.category.is_some() {
        sql.push_str(&format!(" AND c.category = ${}", next()));
    }
    if query.code.is_some() {
        let (a, b) = (next(), next());
        sql.push_str(&format!(" AND c.code_system = ${a} AND c.code = ${b}"));
    }
    let (visible, at) = match visibility {
        Visibility::All => (String::new(), None),
        Visibility::ReleasedBy(_) => visibility.condition("c", next()),
    };
    sql.push_str(&visible);
    sql.push_str(&format!(
        " ORDER BY c.sort_at DESC, c.resource_id LIMIT ${}",
        next()
    ));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    for kind in query.kinds {
        q = q.bind(*kind);
    }
    if !query.label_contains.is_empty() {
        q = q.bind(like_pattern(query.label_contains));
    }
    if let Some(from) = query.from {
        q = q.bind(from);
    }
    if let Some(until) = query.until {
        q = q.bind(until);
    }
    if let Some(encounter) = query.encounter_id {
        q = q.bind(encounter);
    }
    if let Some(report) = query.report_id {
        q = q.bind(report);
    }
    if let Some(category) = query.category {
        q = q.bind(category);
    }
    if let Some((system, code)) = query.code {
        q = q.bind(system).bind(code);
    }
    if let Some(at) = at {
        q = q.bind(at);
    }
    let rows = q.bind(query.limit).fetch_all(conn).await?;
    rows.iter().map(item).collect()
}

/// `%text%` in lower case, with LIKE's wildcards escaped.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// One item of the patient's record by resource id, if the reader may see it.
pub async fn get(
    conn: &mut Conn,
    access: &PatientAccess,
    resource_id: &str,
    visibility: Visibility,
) -> Result<Option<ItemRow>> {
    let (visible, at) = visibility.condition("c", 3);
    let sql = format!("SELECT {COLUMNS} WHERE c.patient_id = $1 AND c.resource_id = $2{visible}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(resource_id);
    if let Some(at) = at {
        q = q.bind(at);
    }
    q.fetch_optional(conn).await?.as_ref().map(item).transpose()
}

/// Of these items of the record, the ones the patient side cannot see at `now`: held
/// themselves, or reports listing a held result.
pub async fn held_among(
    conn: &mut Conn,
    access: &PatientAccess,
    resource_ids: &[&str],
    now: Timestamp,
) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in resource_ids.chunks(200) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT c.resource_id FROM clinical_items c WHERE c.patient_id = $1 \
             AND c.resource_id IN ({list}) AND NOT ({released})",
            released = released("c", 2),
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(access.patient().to_string())
            .bind(to_micros(now));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.insert(row.try_get("resource_id")?);
        }
    }
    Ok(out)
}

/// Releases a held result, and the results of a held report, to the patient now. Returns how
/// many items were released (0: nothing held by that id in this record).
pub async fn release(
    conn: &mut Conn,
    access: &PatientAccess,
    resource_id: &str,
    now: Timestamp,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE clinical_items SET released_at = $1 WHERE patient_id = $2 \
         AND (resource_id = $3 OR report_id = $3) \
         AND (released_at IS NULL OR released_at > $1)",
    )
    .bind(to_micros(now))
    .bind(access.patient().to_string())
    .bind(resource_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// A clinic's hold on a category of results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The category code (e.g. "laboratory", "PAT").
    pub category: String,
    /// Days to hold; `None`: until a clinician releases.
    pub days: Option<i64>,
}

/// The clinic's result holds.
pub async fn holds(conn: &mut Conn) -> Result<Vec<Hold>> {
    let rows = sqlx::query("SELECT category, days FROM result_holds ORDER BY category")
        .fetch_all(conn)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Hold {
                category: r.try_get("category")?,
                days: r.try_get("days")?,
            })
        })
        .collect()
}

/// Sets (or replaces) the hold on a category.
pub async fn set_hold(conn: &mut Conn, hold: &Hold, by: UserId, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO result_holds (category, days, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (category) DO UPDATE SET days = excluded.days, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(&hold.category)
    .bind(hold.days)
    .bind(to_micros(now))
    .bind(by.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes the hold on a category (later results of it are released at once).
pub async fn remove_hold(conn: &mut Conn, category: &str) -> Result<u64> {
    let done = sqlx::query("DELETE FROM result_holds WHERE category = $1")
        .bind(category)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Notes that an account opened these results.
pub async fn mark_read(
    conn: &mut Conn,
    user: UserId,
    resource_ids: &[&str],
    now: Timestamp,
) -> Result<()> {
    for id in resource_ids {
        sqlx::query(
            "INSERT INTO result_reads (user_id, resource_id, read_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, resource_id) DO NOTHING",
        )
        .bind(user.to_string())
        .bind(*id)
        .bind(to_micros(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Of these results, the ones the account has opened.
pub async fn read_among(
    conn: &mut Conn,
    user: UserId,
    resource_ids: &[&str],
) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in resource_ids.chunks(200) {
        if chunk.is_empty() {
            continue;
        }
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT resource_id FROM result_reads WHERE user_id = $1 AND resource_id IN ({list})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(user.to_string());
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.insert(row.try_get("resource_id")?);
        }
    }
    Ok(out)
}

/// How many released reports and results of this record the account has not opened: the lines
/// of the results list, where a result stands on its own unless the reader sees its report.
pub async fn unread_results(
    conn: &mut Conn,
    access: &PatientAccess,
    user: UserId,
    visibility: Visibility,
) -> Result<i64> {
    let (visible, at) = visibility.condition("c", 3);
    let (report_visible, _) = visibility.condition("report", 3);
    let sql = format!(
        "SELECT COUNT(*) AS n FROM clinical_items c WHERE c.patient_id = $1 \
         AND ((c.kind = 'diagnostic-report' AND c.category NOT IN ({notes})) \
         OR (c.kind = 'observation' AND c.category IN ({results}) \
         AND NOT EXISTS (SELECT 1 FROM clinical_items report WHERE report.resource_id = c.report_id \
         AND report.patient_id = c.patient_id{report_visible}))) \
         AND NOT EXISTS (SELECT 1 FROM result_reads r WHERE r.user_id = $2 \
         AND r.resource_id = c.resource_id){visible}",
        notes = sql_list(NOTE_REPORT_CATEGORIES),
        results = sql_list(RESULT_CATEGORIES),
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(user.to_string());
    if let Some(at) = at {
        q = q.bind(at);
    }
    Ok(q.fetch_one(conn).await?.try_get("n")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("Glu"), "%glu%");
        assert_eq!(like_pattern("50%_x\\"), "%50\\%\\_x\\\\%");
    }
}
