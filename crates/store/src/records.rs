//! Reading a patient's clinical items for the record pages, and the result-release state.
//! Every read takes the [`PatientAccess`] the policy granted, so it cannot name another patient,
//! and shows what that access's [`Visibility`] allows: held results and confidential items are
//! filtered in the query itself.

use crate::{Conn, Result, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::record::{
    Categories, ClinicalItem, Flag, Hold, ItemColumns, ItemKind, NOTE_REPORT_CATEGORIES,
    RESULT_CATEGORIES,
};
use portal_domain::{PatientAccess, ResourceId, UserId, Visibility};
use sqlx::Row;
use std::collections::HashSet;

/// A clinical item as stored: its mapped details are JSON text (of `portal_fhir::Mapped`).
pub type ItemRow = ClinicalItem<String>;

fn sql_list(values: &[&str]) -> String {
    values
        .iter()
        .map(|v| format!("'{v}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

const COLUMNS: &str = "c.resource_id, c.kind, c.category, c.code_system, c.code, c.label, \
     c.status, c.sort_at, c.encounter_id, c.who_id, w.name AS who_name, c.where_id, \
     l.name AS where_name, c.report_id, c.flag, c.released_at, c.sensitivity, c.details \
     FROM clinical_items c \
     LEFT JOIN directory_names w ON w.resource_id = c.who_id \
     LEFT JOIN directory_names l ON l.resource_id = c.where_id";

fn optional_id(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<ResourceId>> {
    row.try_get::<Option<String>, _>(column)?
        .map(|id| parse_id(&id))
        .transpose()
}

fn item(row: &sqlx::any::AnyRow) -> Result<ItemRow> {
    let kind: String = row.try_get("kind")?;
    Ok(ClinicalItem {
        resource_id: parse_id(&row.try_get::<String, _>("resource_id")?)?,
        columns: ItemColumns {
            kind: ItemKind::from_stored(&kind)
                .ok_or_else(|| crate::Error::Corrupt(format!("clinical item kind {kind:?}")))?,
            category: row.try_get("category")?,
            code_system: row.try_get("code_system")?,
            code: row.try_get("code")?,
            label: row.try_get("label")?,
            status: row.try_get("status")?,
            sort_at: row.try_get("sort_at")?,
            flag: Flag::from_code(&row.try_get::<String, _>("flag")?),
            sensitivity: Categories::of_item(&row.try_get::<String, _>("sensitivity")?),
        },
        encounter_id: optional_id(row, "encounter_id")?,
        who_id: optional_id(row, "who_id")?,
        who_name: row.try_get("who_name")?,
        where_id: optional_id(row, "where_id")?,
        where_name: row.try_get("where_name")?,
        report_id: optional_id(row, "report_id")?,
        released_at: row.try_get("released_at")?,
        details: crate::packed::column(row, "details")?,
    })
}

/// What a reader is shown at a time: the policy's [`Visibility`] for their access, turned
/// into SQL conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shown {
    visibility: Visibility,
    now: Timestamp,
}

impl Shown {
    pub(crate) fn of(access: &PatientAccess, now: Timestamp) -> Self {
        Shown {
            visibility: access.visibility(),
            now,
        }
    }

    /// The SQL condition on the item aliased `item` (starting with ` AND`, or empty), with the
    /// time bound at `$placeholder` if the condition uses it.
    pub(crate) fn condition(self, item: &str, placeholder: usize) -> (String, Option<i64>) {
        let mut sql = String::new();
        let mut at = None;
        if !self.visibility.unreleased {
            sql.push_str(&format!(" AND {}", released(item, placeholder)));
            at = Some(to_micros(self.now));
        }
        if !self.visibility.shows_every_category() {
            sql.push_str(&format!(" AND {}", not_hidden(item, self.visibility)));
        }
        (sql, at)
    }
}

/// SQL: whether the item aliased `item` is in no confidential category `visibility` hides. A
/// report is as confidential as the results it lists. An item's categories are stored
/// comma-separated; what remains once every shown category is taken out must be nothing, so a
/// category this version does not know stays hidden.
fn not_hidden(item: &str, visibility: Visibility) -> String {
    let only_shown = |column: &str| {
        Categories::ALL
            .minus(visibility.hidden)
            .iter()
            .fold(format!("',' || {column} || ','"), |sql, shown| {
                format!("REPLACE({sql}, ',{},', ',')", shown.as_str())
            })
    };
    format!(
        "({item}.sensitivity = '' OR {item_rest} = ',') AND NOT EXISTS (SELECT 1 FROM \
         clinical_items listed WHERE listed.report_id = {item}.resource_id \
         AND listed.patient_id = {item}.patient_id AND listed.sensitivity <> '' \
         AND {listed_rest} <> ',')",
        item_rest = only_shown(&format!("{item}.sensitivity")),
        listed_rest = only_shown("listed.sensitivity"),
    )
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
    pub kinds: &'a [ItemKind],
    /// Only items whose label contains this (case-insensitive); empty: all.
    pub label_contains: &'a str,
    /// With `label_contains`: items with one of these LOINC codes match too (the tests whose
    /// short name, as the portal shows it, contains the text).
    pub or_loinc: &'a [&'a str],
    /// Only items at or after this time (UTC microseconds).
    pub from: Option<i64>,
    /// Only items before this time.
    pub until: Option<i64>,
    /// Only items of this visit.
    pub encounter_id: Option<ResourceId>,
    /// Only the results this report lists.
    pub report_id: Option<ResourceId>,
    /// Only items with this code system and code.
    pub code: Option<(&'a str, &'a str)>,
    /// Only items of this category.
    pub category: Option<&'a str>,
    /// At most this many, newest first.
    pub limit: i64,
}

/// A patient's items of some kinds, newest first, that the reader may see at `now`.
pub async fn list(
    conn: &mut Conn,
    access: &PatientAccess,
    query: &ItemQuery<'_>,
    now: Timestamp,
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
        let like = next();
        if query.or_loinc.is_empty() {
            sql.push_str(&format!(" AND LOWER(c.label) LIKE ${like} ESCAPE '\\'"));
        } else {
            let system = next();
            let codes = query
                .or_loinc
                .iter()
                .map(|_| format!("${}", next()))
                .collect::<Vec<_>>()
                .join(", ");
            sql.push_str(&format!(
                " AND (LOWER(c.label) LIKE ${like} ESCAPE '\\' \
                 OR (c.code_system = ${system} AND c.code IN ({codes})))"
            ));
        }
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
    let shown = Shown::of(access, now);
    let (visible, at) = if shown.visibility.unreleased {
        shown.condition("c", 0)
    } else {
        shown.condition("c", next())
    };
    sql.push_str(&visible);
    sql.push_str(&format!(
        " ORDER BY c.sort_at DESC, c.resource_id LIMIT ${}",
        next()
    ));
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(access.patient().to_string());
    for kind in query.kinds {
        q = q.bind(kind.as_str());
    }
    if !query.label_contains.is_empty() {
        q = q.bind(like_pattern(query.label_contains));
        if !query.or_loinc.is_empty() {
            q = q.bind(LOINC);
            for code in query.or_loinc {
                q = q.bind(*code);
            }
        }
    }
    if let Some(from) = query.from {
        q = q.bind(from);
    }
    if let Some(until) = query.until {
        q = q.bind(until);
    }
    if let Some(encounter) = query.encounter_id {
        q = q.bind(encounter.to_string());
    }
    if let Some(report) = query.report_id {
        q = q.bind(report.to_string());
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

/// LOINC's system URI, as stored in `clinical_items.code_system`.
const LOINC: &str = "http://loinc.org";

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

/// One item of the patient's record by resource id, if the reader may see it at `now`.
pub async fn get(
    conn: &mut Conn,
    access: &PatientAccess,
    resource_id: ResourceId,
    now: Timestamp,
) -> Result<Option<ItemRow>> {
    let (visible, at) = Shown::of(access, now).condition("c", 3);
    let sql = format!("SELECT {COLUMNS} WHERE c.patient_id = $1 AND c.resource_id = $2{visible}");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(access.patient().to_string())
        .bind(resource_id.to_string());
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
    resource_ids: &[ResourceId],
    now: Timestamp,
) -> Result<HashSet<ResourceId>> {
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
            q = q.bind(id.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.insert(parse_id(&row.try_get::<String, _>("resource_id")?)?);
        }
    }
    Ok(out)
}

/// Releases a held result, and the results of a held report, to the patient now. Returns how
/// many items were released (0: nothing held by that id in this record).
pub async fn release(
    conn: &mut Conn,
    access: &PatientAccess,
    resource_id: ResourceId,
    now: Timestamp,
) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE clinical_items SET released_at = $1 WHERE patient_id = $2 \
         AND (resource_id = $3 OR report_id = $3) \
         AND (released_at IS NULL OR released_at > $1)",
    )
    .bind(to_micros(now))
    .bind(access.patient().to_string())
    .bind(resource_id.to_string())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() > 0 {
        crate::access::touch_records(conn, &[access.patient()]).await?;
    }
    Ok(done.rows_affected())
}

/// Insists on the capability of configuring result release.
fn configuring(configure: &ClinicCapability) -> Result<()> {
    crate::require(
        configure,
        ClinicAction::ConfigureResultRelease,
        "result-release rules",
    )
}

/// The clinic's result holds.
pub async fn holds(conn: &mut Conn, work: &ClinicCapability) -> Result<Vec<Hold>> {
    // The admins configure the holds; every import applies them.
    if crate::require(
        work,
        ClinicAction::ConfigureResultRelease,
        "result-release rules",
    )
    .is_err()
    {
        crate::require(work, ClinicAction::ImportRecords, "result-release rules")?;
    }
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
pub async fn set_hold(
    conn: &mut Conn,
    configure: &ClinicCapability,
    hold: &Hold,
    now: Timestamp,
) -> Result<()> {
    configuring(configure)?;
    let portal_domain::Principal::User { id: by, .. } = configure.principal() else {
        return Err(crate::Error::WrongCapability("result-release rules"));
    };
    sqlx::query(
        "INSERT INTO result_holds (category, days, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (category) DO UPDATE SET days = excluded.days, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(&hold.category)
    .bind(hold.days)
    .bind(to_micros(now))
    .bind(by.to_string())
    .execute(&mut *conn)
    .await?;
    crate::access::touch_all_records(conn).await
}

/// One result category present in the clinic's records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryCount {
    /// The category code as senders wrote it.
    pub category: String,
    /// Results and reports of it.
    pub items: i64,
    /// Of those, the ones patients cannot see yet.
    pub held: i64,
}

/// The result categories present in every record, with how many items each has and how many
/// are held at `now` (notes sent as reports are not results and are left out).
pub async fn result_categories(
    conn: &mut Conn,
    configure: &ClinicCapability,
    now: Timestamp,
) -> Result<Vec<CategoryCount>> {
    configuring(configure)?;
    let rows = sqlx::query(
        "SELECT category, COUNT(*) AS items, \
         CAST(SUM(CASE WHEN released_at IS NULL OR released_at > $1 THEN 1 ELSE 0 END) \
         AS BIGINT) AS held \
         FROM clinical_items WHERE kind IN ($2, $3) AND category <> $4 \
         GROUP BY category ORDER BY category",
    )
    .bind(to_micros(now))
    .bind(ItemKind::Observation.as_str())
    .bind(ItemKind::DiagnosticReport.as_str())
    .bind(portal_domain::record::NOTE_CATEGORY)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CategoryCount {
                category: r.try_get("category")?,
                items: r.try_get("items")?,
                held: r.try_get::<Option<i64>, _>("held")?.unwrap_or(0),
            })
        })
        .collect()
}

/// Holds results of `categories` that arrived after `since` and that no patient or proxy has
/// opened yet, as if the rule had been there when they came: each for `hold` after it arrived
/// (`None`: until a clinician releases it). Returns how many items it holds.
pub async fn hold_unopened(
    conn: &mut Conn,
    configure: &ClinicCapability,
    categories: &[String],
    since: Timestamp,
    hold: Option<jiff::SignedDuration>,
    now: Timestamp,
) -> Result<u64> {
    configuring(configure)?;
    if categories.is_empty() {
        return Ok(0);
    }
    let list = (0..categories.len())
        .map(|i| format!("${}", i + 6))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "UPDATE clinical_items SET released_at = CASE WHEN $1 < 0 THEN NULL \
         ELSE released_at + $1 END \
         WHERE kind IN ($2, $3) AND category IN ({list}) \
         AND released_at IS NOT NULL AND released_at > $4 AND released_at <= $5 \
         AND NOT EXISTS (SELECT 1 FROM result_reads r \
                         JOIN users u ON u.id = r.user_id AND u.role = 'patient' \
                         WHERE r.resource_id = clinical_items.resource_id)"
    );
    // A negative shift stands for "until released": one typed parameter for both backends.
    let shift = hold.map_or(-1, |d| {
        i64::try_from(d.as_micros().max(0)).unwrap_or(i64::MAX)
    });
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(shift)
        .bind(ItemKind::Observation.as_str())
        .bind(ItemKind::DiagnosticReport.as_str())
        .bind(to_micros(since))
        .bind(to_micros(now));
    for category in categories {
        q = q.bind(category);
    }
    let held = q.execute(&mut *conn).await?.rows_affected();
    if held > 0 {
        crate::access::touch_all_records(conn).await?;
    }
    Ok(held)
}

/// Removes the hold on a category (later results of it are released at once).
pub async fn remove_hold(
    conn: &mut Conn,
    configure: &ClinicCapability,
    category: &str,
) -> Result<u64> {
    configuring(configure)?;
    let done = sqlx::query("DELETE FROM result_holds WHERE category = $1")
        .bind(category)
        .execute(&mut *conn)
        .await?;
    crate::access::touch_all_records(conn).await?;
    Ok(done.rows_affected())
}

/// Notes that an account opened these results of the record `access` opens (ids of other
/// records are ignored; results it had opened keep their first time).
pub async fn mark_read(
    conn: &mut Conn,
    access: &PatientAccess,
    user: UserId,
    resource_ids: &[ResourceId],
    now: Timestamp,
) -> Result<()> {
    let mut marked = 0;
    for chunk in resource_ids.chunks(200) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO result_reads (user_id, resource_id, read_at) \
             SELECT $1, c.resource_id, $2 FROM clinical_items c \
             WHERE c.patient_id = $3 AND c.resource_id IN ({list}) \
             ON CONFLICT (user_id, resource_id) DO NOTHING"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.to_string())
            .bind(to_micros(now))
            .bind(access.patient().to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        marked += q.execute(&mut *conn).await?.rows_affected();
    }
    if marked > 0 {
        crate::access::touch_records(conn, &[access.patient()]).await?;
    }
    Ok(())
}

/// Of these results of the record `access` opens, the ones the account has opened.
pub async fn read_among(
    conn: &mut Conn,
    access: &PatientAccess,
    user: UserId,
    resource_ids: &[ResourceId],
) -> Result<HashSet<ResourceId>> {
    let mut out = HashSet::new();
    for chunk in resource_ids.chunks(200) {
        if chunk.is_empty() {
            continue;
        }
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT r.resource_id FROM result_reads r JOIN clinical_items c \
             ON c.resource_id = r.resource_id AND c.patient_id = $2 \
             WHERE r.user_id = $1 AND r.resource_id IN ({list})"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user.to_string())
            .bind(access.patient().to_string());
        for id in chunk {
            q = q.bind(id.to_string());
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.insert(parse_id(&row.try_get::<String, _>("resource_id")?)?);
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
    now: Timestamp,
) -> Result<i64> {
    let shown = Shown::of(access, now);
    let (visible, at) = shown.condition("c", 3);
    let (report_visible, _) = shown.condition("report", 3);
    let sql = format!(
        "SELECT COUNT(*) AS n FROM clinical_items c WHERE c.patient_id = $1 \
         AND ((c.kind = '{report}' AND c.category NOT IN ({notes})) \
         OR (c.kind = '{observation}' AND c.category IN ({results}) \
         AND NOT EXISTS (SELECT 1 FROM clinical_items report WHERE report.resource_id = c.report_id \
         AND report.patient_id = c.patient_id{report_visible}))) \
         AND NOT EXISTS (SELECT 1 FROM result_reads r WHERE r.user_id = $2 \
         AND r.resource_id = c.resource_id){visible}",
        report = ItemKind::DiagnosticReport.as_str(),
        observation = ItemKind::Observation.as_str(),
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
