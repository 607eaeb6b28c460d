//! Reading stored resources for the FHIR read API: one by id, a page of a search, a record's
//! whole compartment. A record's resources are read with the [`PatientAccess`] the policy
//! granted (so a query cannot name another record) and filtered by its [`Visibility`] as the
//! record pages are; the directory (resources in no record) with the policy's leave to use the
//! API. Pages are read in id order from after the last id of the page before, so a page stays
//! right while resources are added (new ids sort last).

use crate::records::Shown;
use crate::{Conn, Result, parse_id};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::{PatientAccess, PatientId};
use sqlx::Row;

/// A stored resource as the API needs it.
#[derive(Clone, Debug)]
pub struct StoredResource {
    /// The portal's id.
    pub id: String,
    /// The FHIR resource type.
    pub resource_type: String,
    /// The id its sender gave it.
    pub source_id: Option<String>,
    /// Its version.
    pub version: i64,
    /// When it last changed (Unix microseconds).
    pub updated_at: i64,
    /// The original JSON.
    pub json: String,
    /// What its references resolved to (text); `None` if imported before that was kept.
    pub refs: Option<String>,
}

const COLUMNS: &str = "r.id, r.resource_type, r.source_id, r.version, r.updated_at, r.json, r.refs";

fn stored(row: &sqlx::any::AnyRow) -> Result<StoredResource> {
    Ok(StoredResource {
        id: row.try_get("id")?,
        resource_type: row.try_get("resource_type")?,
        source_id: row.try_get("source_id")?,
        version: row.try_get("version")?,
        updated_at: row.try_get("updated_at")?,
        json: crate::packed::column(row, "json")?,
        refs: row.try_get("refs")?,
    })
}

/// How a date search compares a resource's span with the value's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateCompare {
    /// Within the value's span.
    Eq,
    /// Not within it.
    Ne,
    /// Reaching past its end.
    Gt,
    /// Starting before its start.
    Lt,
    /// Reaching its start or later.
    Ge,
    /// Starting at its end or earlier.
    Le,
}

/// One condition of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter<'a> {
    /// A token parameter: any of (system, code); `None` for either means any.
    Token {
        /// The parameter.
        param: &'a str,
        /// The alternatives.
        any: Vec<(Option<&'a str>, Option<&'a str>)>,
    },
    /// A word parameter: some word starts with (or is) any of these (lower case).
    Text {
        /// The parameter.
        param: &'a str,
        /// The alternatives.
        any: Vec<&'a str>,
        /// The whole word only.
        exact: bool,
    },
    /// A date parameter (`_lastUpdated`: the time the portal stored it).
    Date {
        /// The parameter.
        param: &'a str,
        /// How it compares.
        compare: DateCompare,
        /// The value's first microsecond.
        low: i64,
        /// The value's last microsecond.
        high: i64,
    },
}

/// A search of one resource type.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    /// The type.
    pub resource_type: &'a str,
    /// `_id`: any of these (empty: any id).
    pub ids: &'a [&'a str],
    /// The conditions, all met.
    pub filters: &'a [Filter<'a>],
}

/// Where a search looks: in one record (as the policy allowed), or in the directory.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// One record's resources, as `access` shows them at `now`.
    Record(&'a PatientAccess, Timestamp),
    /// Resources in no record, or patients' demographics across records (for `Patient`
    /// searches, whose results the caller authorises one by one).
    Directory(&'a ClinicCapability),
}

/// A statement being built: its text and the values bound, numbered in order.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
}

impl Sql {
    fn new(text: &str) -> Self {
        Sql {
            text: text.to_string(),
            binds: Vec::new(),
        }
    }

    /// Binds a value and gives its placeholder.
    fn text(&mut self, value: &str) -> String {
        self.binds.push(Bind::Text(value.to_string()));
        format!("${}", self.binds.len())
    }

    fn int(&mut self, value: i64) -> String {
        self.binds.push(Bind::Int(value));
        format!("${}", self.binds.len())
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Reads a page: the resources after `after` (an id), at most `limit`, in id order.
    async fn page(
        mut self,
        conn: &mut Conn,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredResource>> {
        if let Some(after) = after {
            let after = self.text(after);
            self.push(&format!(" AND r.id > {after}"));
        }
        let limit = self.int(i64::try_from(limit).unwrap_or(i64::MAX));
        self.push(&format!(" ORDER BY r.id LIMIT {limit}"));
        self.fetch_all(conn).await?.iter().map(stored).collect()
    }

    /// Reads the `n` of a `SELECT COUNT(*) AS n`.
    async fn count(self, conn: &mut Conn) -> Result<i64> {
        let rows = self.fetch_all(conn).await?;
        Ok(rows
            .first()
            .map(|r| r.try_get::<i64, _>("n"))
            .transpose()?
            .unwrap_or(0))
    }

    async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<sqlx::any::AnyRow>> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.text));
        for bind in self.binds {
            query = match bind {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        Ok(query.fetch_all(conn).await?)
    }
}

/// The scope's conditions on `r` (and, for a record, the clinical item `c` joined to it).
fn scope_sql(sql: &mut Sql, scope: Scope<'_>, resource_type: &str) -> Result<()> {
    match scope {
        Scope::Record(access, now) => {
            let patient = sql.text(&access.patient().to_string());
            sql.push(&format!(" AND r.patient_id = {patient}"));
            let shown = Shown::of(access, now);
            let at = sql.binds.len() + 1;
            let (visible, bound) = shown.condition("c", at);
            if !visible.is_empty() {
                // Resources the record pages do not list have no item, and nothing to hold.
                let visible = visible.trim_start().trim_start_matches("AND").to_string();
                sql.push(&format!(" AND (c.resource_id IS NULL OR ({visible}))"));
                if let Some(bound) = bound {
                    sql.int(bound);
                }
            }
        }
        Scope::Directory(capability) => {
            crate::require(capability, ClinicAction::ReadApi, "reading the directory")?;
            if resource_type != "Patient" {
                sql.push(" AND r.patient_id IS NULL");
            }
        }
    }
    Ok(())
}

fn like_prefix(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 1);
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn date_sql(compare: DateCompare, low_col: &str, high_col: &str, low: &str, high: &str) -> String {
    match compare {
        DateCompare::Eq => format!("{low_col} >= {low} AND {high_col} <= {high}"),
        DateCompare::Ne => format!("NOT ({low_col} >= {low} AND {high_col} <= {high})"),
        DateCompare::Gt => format!("{high_col} > {high}"),
        DateCompare::Lt => format!("{low_col} < {low}"),
        DateCompare::Ge => format!("{high_col} >= {low}"),
        DateCompare::Le => format!("{low_col} <= {high}"),
    }
}

/// The conditions of a query on `r`.
fn query_sql(sql: &mut Sql, scope: Scope<'_>, query: &Query<'_>) -> Result<()> {
    let t = sql.text(query.resource_type);
    sql.push(&format!(" AND r.resource_type = {t}"));
    scope_sql(sql, scope, query.resource_type)?;
    if !query.ids.is_empty() {
        let list: Vec<String> = query.ids.iter().map(|id| sql.text(id)).collect();
        sql.push(&format!(" AND r.id IN ({})", list.join(", ")));
    }
    let patient = match scope {
        Scope::Record(access, _) => Some(access.patient().to_string()),
        Scope::Directory(_) => None,
    };
    for filter in query.filters {
        match filter {
            Filter::Date {
                param: "_lastUpdated",
                compare,
                low,
                high,
            } => {
                let (low, high) = (sql.int(*low), sql.int(*high));
                let cmp = date_sql(*compare, "r.updated_at", "r.updated_at", &low, &high);
                sql.push(&format!(" AND {cmp}"));
            }
            Filter::Date {
                param,
                compare,
                low,
                high,
            } => {
                let mut sub =
                    String::from(" AND r.id IN (SELECT s.resource_id FROM fhir_search s WHERE ");
                if let Some(p) = &patient {
                    let p = sql.text(p);
                    sub.push_str(&format!("s.patient_id = {p} AND "));
                }
                let (t, param) = (sql.text(query.resource_type), sql.text(param));
                let (low, high) = (sql.int(*low), sql.int(*high));
                let cmp = date_sql(*compare, "s.low", "s.high", &low, &high);
                sub.push_str(&format!(
                    "s.resource_type = {t} AND s.param = {param} AND s.low IS NOT NULL AND {cmp})"
                ));
                sql.push(&sub);
            }
            Filter::Token { param, any } => {
                token_sub(sql, query.resource_type, param, patient.as_deref(), |sql| {
                    any.iter()
                        .map(|(system, code)| {
                            let mut parts = Vec::new();
                            if let Some(code) = code {
                                parts.push(format!("s.value = {}", sql.text(code)));
                            }
                            if let Some(system) = system {
                                parts.push(format!("s.system = {}", sql.text(system)));
                            }
                            if parts.is_empty() {
                                parts.push("1 = 1".into());
                            }
                            format!("({})", parts.join(" AND "))
                        })
                        .collect()
                });
            }
            Filter::Text { param, any, exact } => {
                token_sub(sql, query.resource_type, param, patient.as_deref(), |sql| {
                    any.iter()
                        .map(|word| {
                            if *exact {
                                format!("s.value = {}", sql.text(word))
                            } else {
                                let pattern = sql.text(&like_prefix(word));
                                format!("s.value LIKE {pattern} ESCAPE '\\'")
                            }
                        })
                        .collect()
                });
            }
        }
    }
    Ok(())
}

/// A condition on the tokens or words of one parameter: any of the alternatives `build` writes
/// (placeholders are numbered as they appear, so they are bound after the others).
fn token_sub(
    sql: &mut Sql,
    resource_type: &str,
    param: &str,
    patient: Option<&str>,
    build: impl FnOnce(&mut Sql) -> Vec<String>,
) {
    let t = sql.text(resource_type);
    let param = sql.text(param);
    let mut sub = format!(
        " AND r.id IN (SELECT s.resource_id FROM fhir_search s WHERE s.resource_type = {t} \
         AND s.param = {param} AND s.low IS NULL"
    );
    if let Some(p) = patient {
        let p = sql.text(p);
        sub.push_str(&format!(" AND s.patient_id = {p}"));
    }
    let alternatives = build(sql);
    sub.push_str(&format!(" AND ({}))", alternatives.join(" OR ")));
    sql.push(&sub);
}

/// A page of a search: at most `limit` resources after `after` (an id), in id order.
pub async fn search(
    conn: &mut Conn,
    scope: Scope<'_>,
    query: &Query<'_>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredResource>> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM fhir_resources r \
         LEFT JOIN clinical_items c ON c.resource_id = r.id WHERE 1 = 1"
    ));
    query_sql(&mut sql, scope, query)?;
    sql.page(conn, after, limit).await
}

/// How many resources a search finds in all.
pub async fn count(conn: &mut Conn, scope: Scope<'_>, query: &Query<'_>) -> Result<i64> {
    let mut sql = Sql::new(
        "SELECT COUNT(*) AS n FROM fhir_resources r \
         LEFT JOIN clinical_items c ON c.resource_id = r.id WHERE 1 = 1",
    );
    query_sql(&mut sql, scope, query)?;
    sql.count(conn).await
}

/// Which record a resource of this type is in: `None` if there is no such resource,
/// `Some(None)` if it is in none (the directory).
pub async fn locate(
    conn: &mut Conn,
    capability: &ClinicCapability,
    resource_type: &str,
    id: &str,
) -> Result<Option<Option<PatientId>>> {
    crate::require(capability, ClinicAction::ReadApi, "finding a resource")?;
    let row =
        sqlx::query("SELECT patient_id FROM fhir_resources WHERE id = $1 AND resource_type = $2")
            .bind(id)
            .bind(resource_type)
            .fetch_optional(conn)
            .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some(
            row.try_get::<Option<String>, _>("patient_id")?
                .map(|p| parse_id(&p))
                .transpose()?,
        )),
    }
}

/// Which record a resource the portal wrote itself is in (a message as `Communication`, an
/// appointment, a prescription written on approving a refill as `MedicationRequest`); `None`
/// if there is none of this type with this id.
pub async fn locate_own(
    conn: &mut Conn,
    capability: &ClinicCapability,
    resource_type: &str,
    id: &str,
) -> Result<Option<PatientId>> {
    crate::require(capability, ClinicAction::ReadApi, "finding a resource")?;
    let sql = match resource_type {
        "Communication" => "SELECT patient_id FROM messages WHERE id = $1",
        "Appointment" => "SELECT patient_id FROM appointments WHERE id = $1",
        "MedicationRequest" => "SELECT patient_id FROM issued_prescriptions WHERE id = $1",
        // A record enrolled at the portal, whose Patient the portal writes.
        "Patient" => "SELECT id AS patient_id FROM patients WHERE id = $1",
        _ => return Ok(None),
    };
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.map(|r| parse_id(&r.try_get::<String, _>("patient_id")?))
        .transpose()
}

/// Whether the record holds a Patient sent by the EHR (one enrolled at the portal has none).
pub async fn has_imported_patient(conn: &mut Conn, access: &PatientAccess) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM fhir_resources WHERE patient_id = $1 AND resource_type = 'Patient' \
         LIMIT 1",
    )
    .bind(access.patient().to_string())
    .fetch_optional(conn)
    .await?;
    Ok(row.is_some())
}

/// The Provenance resources of a record whose targets include any of `targets` (`Type/id`).
pub async fn provenance_of(
    conn: &mut Conn,
    scope: Scope<'_>,
    targets: &[String],
) -> Result<Vec<StoredResource>> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM fhir_resources r \
         LEFT JOIN clinical_items c ON c.resource_id = r.id WHERE 1 = 1"
    ));
    let t = sql.text("Provenance");
    sql.push(&format!(" AND r.resource_type = {t}"));
    scope_sql(&mut sql, scope, "Provenance")?;
    let list: Vec<String> = targets.iter().map(|target| sql.text(target)).collect();
    sql.push(&format!(
        " AND r.id IN (SELECT s.resource_id FROM fhir_search s WHERE s.resource_type = 'Provenance' \
         AND s.param = 'target' AND s.low IS NULL AND s.value IN ({})) ORDER BY r.id",
        list.join(", ")
    ));
    sql.fetch_all(conn).await?.iter().map(stored).collect()
}

/// A page of a record's compartment: every resource of the `types` in it, in id order.
pub async fn compartment(
    conn: &mut Conn,
    access: &PatientAccess,
    now: Timestamp,
    types: &[&str],
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredResource>> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM fhir_resources r \
         LEFT JOIN clinical_items c ON c.resource_id = r.id WHERE 1 = 1"
    ));
    let list: Vec<String> = types.iter().map(|t| sql.text(t)).collect();
    sql.push(&format!(" AND r.resource_type IN ({})", list.join(", ")));
    scope_sql(&mut sql, Scope::Record(access, now), "")?;
    sql.page(conn, after, limit).await
}

/// How many resources of the `types` a record's compartment holds.
pub async fn compartment_count(
    conn: &mut Conn,
    access: &PatientAccess,
    now: Timestamp,
    types: &[&str],
) -> Result<i64> {
    let mut sql = Sql::new(
        "SELECT COUNT(*) AS n FROM fhir_resources r \
         LEFT JOIN clinical_items c ON c.resource_id = r.id WHERE 1 = 1",
    );
    let list: Vec<String> = types.iter().map(|t| sql.text(t)).collect();
    sql.push(&format!(" AND r.resource_type IN ({})", list.join(", ")));
    scope_sql(&mut sql, Scope::Record(access, now), "")?;
    sql.count(conn).await
}

/// Resources in no record, by id (for `_include`).
pub async fn directory_by_ids(
    conn: &mut Conn,
    capability: &ClinicCapability,
    ids: &[&str],
) -> Result<Vec<StoredResource>> {
    crate::require(capability, ClinicAction::ReadApi, "reading the directory")?;
    directory(conn, ids).await
}

/// Resources in no record that a record points at (practitioners, places, medications), by id,
/// for a reader of that record.
pub async fn directory_for_record(
    conn: &mut Conn,
    _reader: &PatientAccess,
    ids: &[&str],
) -> Result<Vec<StoredResource>> {
    directory(conn, ids).await
}

/// A record's resources of the `types` for a download, in id order, as `access` shows them at
/// `now`: with `range` (inclusive start, exclusive end, Unix microseconds), only those the
/// record pages date within it, and the Patient.
pub async fn record_export(
    conn: &mut Conn,
    access: &PatientAccess,
    now: Timestamp,
    types: &[&str],
    range: (Option<i64>, Option<i64>),
) -> Result<Vec<StoredResource>> {
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM fhir_resources r \
         LEFT JOIN clinical_items c ON c.resource_id = r.id WHERE 1 = 1"
    ));
    let list: Vec<String> = types.iter().map(|t| sql.text(t)).collect();
    sql.push(&format!(" AND r.resource_type IN ({})", list.join(", ")));
    scope_sql(&mut sql, Scope::Record(access, now), "")?;
    let mut dated = Vec::new();
    if let Some(from) = range.0 {
        dated.push(format!("c.sort_at >= {}", sql.int(from)));
    }
    if let Some(until) = range.1 {
        dated.push(format!("c.sort_at < {}", sql.int(until)));
    }
    if !dated.is_empty() {
        sql.push(&format!(
            " AND (r.resource_type = 'Patient' OR ({}))",
            dated.join(" AND ")
        ));
    }
    sql.push(" ORDER BY r.id");
    sql.fetch_all(conn).await?.iter().map(stored).collect()
}

async fn directory(conn: &mut Conn, ids: &[&str]) -> Result<Vec<StoredResource>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT {COLUMNS} FROM fhir_resources r WHERE r.patient_id IS NULL"
    ));
    let list: Vec<String> = ids.iter().map(|id| sql.text(id)).collect();
    sql.push(&format!(" AND r.id IN ({}) ORDER BY r.id", list.join(", ")));
    sql.fetch_all(conn).await?.iter().map(stored).collect()
}

/// The time a stored resource last changed, as a FHIR instant.
pub fn instant(micros: i64) -> String {
    Timestamp::from_microsecond(micros)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
