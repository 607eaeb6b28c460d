//! Imported FHIR resources: the original JSON of each, the identifiers it is found by, and the
//! projection of its clinical data that the record pages read.

use crate::bulk::{Cell, Insert, Kind};
use crate::{Conn, Result, conflict_as, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability};
use portal_domain::record::ItemColumns;
use portal_domain::{PatientAccess, PatientId, ResourceId};
use sqlx::Row;

/// A resource as the store knows it, for deciding create / update / unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownResource {
    /// The portal's id of the resource.
    pub id: String,
    /// The hash of its JSON when last imported; empty for a resource imported before the read
    /// API kept what its references resolved to, so its next import updates it.
    pub content_hash: String,
    /// How many times it was written.
    pub version: i64,
    /// The patient it belongs to, if any.
    pub patient_id: Option<PatientId>,
}

fn known(row: &sqlx::any::AnyRow) -> Result<KnownResource> {
    let patient: Option<String> = row.try_get("patient_id")?;
    Ok(KnownResource {
        id: row.try_get("id")?,
        content_hash: row.try_get("content_hash")?,
        version: row.try_get("version")?,
        patient_id: patient.as_deref().map(parse_id).transpose()?,
    })
}

/// Finds a resource by the id its sender gave it.
pub async fn find_by_source(
    conn: &mut Conn,
    import: &ClinicCapability,
    resource_type: &str,
    source_id: &str,
) -> Result<Option<KnownResource>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let row = sqlx::query(
        "SELECT id, CASE WHEN refs IS NULL THEN '' ELSE content_hash END AS content_hash, version, patient_id FROM fhir_resources \
         WHERE resource_type = $1 AND source_id = $2",
    )
    .bind(resource_type)
    .bind(source_id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(known).transpose()
}

/// Finds a resource by its portal id.
pub async fn find(
    conn: &mut Conn,
    import: &ClinicCapability,
    id: &str,
) -> Result<Option<KnownResource>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let row = sqlx::query(
        "SELECT id, CASE WHEN refs IS NULL THEN '' ELSE content_hash END AS content_hash, version, patient_id FROM fhir_resources WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(known).transpose()
}

/// The resources of `resource_type` carrying an identifier with exactly this system.
pub async fn find_by_identifier(
    conn: &mut Conn,
    import: &ClinicCapability,
    resource_type: &str,
    system: &str,
    value: &str,
) -> Result<Vec<KnownResource>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let rows = sqlx::query(
        "SELECT r.id, CASE WHEN r.refs IS NULL THEN '' ELSE r.content_hash END AS content_hash, r.version, r.patient_id FROM fhir_identifiers i \
         JOIN fhir_resources r ON r.id = i.resource_id \
         WHERE i.resource_type = $1 AND i.system = $2 AND i.value = $3 \
         ORDER BY r.id",
    )
    .bind(resource_type)
    .bind(system)
    .bind(value)
    .fetch_all(conn)
    .await?;
    rows.iter().map(known).collect()
}

/// One resource to write.
pub struct ResourceRow<'a> {
    /// The portal's id.
    pub id: &'a str,
    /// The FHIR resource type.
    pub resource_type: &'a str,
    /// The sender's id, if it gave one.
    pub source_id: Option<&'a str>,
    /// The patient compartment it belongs to.
    pub patient_id: Option<PatientId>,
    /// SHA-256 of the JSON.
    pub content_hash: &'a str,
    /// The original JSON, packed ([`crate::packed::pack`] with [`crate::packed::Packing::Resource`]).
    pub json: &'a [u8],
    /// What its references resolved to (`portal_fhir::serve::ResolvedRefs` as text).
    pub refs: &'a str,
}

/// Creates a resource (version 1).
pub async fn insert(
    conn: &mut Conn,
    import: &ClinicCapability,
    row: &ResourceRow<'_>,
    now: Timestamp,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    sqlx::query(
        "INSERT INTO fhir_resources (id, resource_type, source_id, patient_id, content_hash, json, \
         refs, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $8, 1, $7, $7)",
    )
    .bind(row.id)
    .bind(row.resource_type)
    .bind(row.source_id)
    .bind(row.patient_id.map(|p| p.to_string()))
    .bind(row.content_hash)
    .bind(row.json)
    .bind(to_micros(now))
    .bind(row.refs)
    .execute(conn)
    .await
    .map_err(conflict_as("resource id"))?;
    Ok(())
}

/// Replaces a resource's JSON, bumping its version.
pub async fn update(
    conn: &mut Conn,
    import: &ClinicCapability,
    row: &ResourceRow<'_>,
    now: Timestamp,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    sqlx::query(
        "UPDATE fhir_resources SET source_id = $2, patient_id = $3, content_hash = $4, json = $5, \
         refs = $7, version = version + 1, updated_at = $6 WHERE id = $1",
    )
    .bind(row.id)
    .bind(row.source_id)
    .bind(row.patient_id.map(|p| p.to_string()))
    .bind(row.content_hash)
    .bind(row.json)
    .bind(to_micros(now))
    .bind(row.refs)
    .execute(conn)
    .await
    .map_err(conflict_as("resource id"))?;
    Ok(())
}

/// Replaces the identifiers a resource is found by (`had_any`: false for a new resource, which
/// has none to delete).
pub async fn replace_identifiers(
    conn: &mut Conn,
    import: &ClinicCapability,
    resource_id: &str,
    resource_type: &str,
    identifiers: &[(String, String)],
    had_any: bool,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    if had_any {
        sqlx::query("DELETE FROM fhir_identifiers WHERE resource_id = $1")
            .bind(resource_id)
            .execute(&mut *conn)
            .await?;
    }
    for (system, value) in identifiers {
        sqlx::query(
            "INSERT INTO fhir_identifiers (resource_type, system, value, resource_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(resource_type)
        .bind(system)
        .bind(value)
        .bind(resource_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The stored JSON of one resource of the record `access` opens (`None`: not in it).
pub async fn json(
    conn: &mut Conn,
    access: &PatientAccess,
    id: ResourceId,
) -> Result<Option<String>> {
    let row = sqlx::query("SELECT json FROM fhir_resources WHERE id = $1 AND patient_id = $2")
        .bind(id.to_string())
        .bind(access.patient().to_string())
        .fetch_optional(conn)
        .await?;
    row.map(|r| crate::packed::column(&r, "json")).transpose()
}

/// One clinical item to write, as the import has it (ids as the text it holds them in).
pub struct ItemWrite<'a> {
    /// The resource it projects.
    pub resource_id: &'a str,
    /// Whose record it is in.
    pub patient_id: PatientId,
    /// What the record lists of it.
    pub columns: &'a ItemColumns,
    /// The visit it belongs to (portal resource id).
    pub encounter_id: Option<&'a str>,
    /// The mapped details as JSON, packed ([`crate::packed::pack`] with
    /// [`crate::packed::Packing::Details`]).
    pub details: &'a [u8],
    /// Who ordered, performed or wrote it (a practitioner's or organization's resource id).
    pub who_id: Option<&'a str>,
    /// Where (a location's or organization's resource id).
    pub where_id: Option<&'a str>,
    /// For a result: the report that lists it.
    pub report_id: Option<&'a str>,
    /// When the patient may see it (UTC microseconds); `None`: held until released. A
    /// rewritten item keeps an earlier release.
    pub released_at: Option<i64>,
}

/// Counts of resources by type (for import summaries and tests).
pub async fn count_by_type(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT resource_type, COUNT(*) AS n FROM fhir_resources GROUP BY resource_type \
         ORDER BY resource_type",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("resource_type")?, r.try_get("n")?)))
        .collect()
}

/// Rows per multi-row statement: well under both backends' limits on bound parameters.
const BATCH_ROWS: usize = 200;

fn is_sqlite(conn: &Conn) -> bool {
    conn.backend_name().eq_ignore_ascii_case("sqlite")
}

/// How an import keeps clear of the others writing at the same time, in every portal process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportLock {
    /// No other import writes until this one ends: for an input whose entries are not known
    /// before it is written (NDJSON, read a chunk at a time).
    Alone,
    /// Beside other imports, each of which first claims every record it touches
    /// ([`claim_for_import`]): two that touch the same record run one after the other, and the
    /// second finds what the first stored instead of creating it a second time.
    Claiming,
}

/// Takes the imports' lock (on PostgreSQL; SQLite has one writer at a time) until the
/// transaction ends.
pub async fn lock_for_import(
    conn: &mut Conn,
    import: &ClinicCapability,
    lock: ImportLock,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let backend = if is_sqlite(conn) {
        crate::Backend::Sqlite
    } else {
        crate::Backend::Postgres
    };
    if let Some(lock) = crate::dialect::import_lock(backend, lock == ImportLock::Alone) {
        sqlx::query(lock).execute(conn).await?;
    }
    Ok(())
}

/// Claims records for this import until its transaction ends (PostgreSQL; nothing on SQLite,
/// where imports write one at a time): each claim is a 64-bit digest of something the import
/// stores, looks up or points at (see the import's claims). An import that claims any of the
/// same waits until this one has ended. Claims are taken in ascending order, all at once, so
/// two imports never each wait for the other; two different records whose digests are equal
/// only make their imports take turns.
pub async fn claim_for_import(
    conn: &mut Conn,
    import: &ClinicCapability,
    claims: &[u64],
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    if is_sqlite(conn) || claims.is_empty() {
        return Ok(());
    }
    let mut sorted = claims.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    // The two-key form of the advisory lock: a space of its own, apart from the one-key locks
    // of migrations and of the imports' lock. Rows come out of the array in its order.
    let mut pairs = String::with_capacity(sorted.len() * 24 + 2);
    pairs.push('[');
    for (i, claim) in sorted.iter().enumerate() {
        if i > 0 {
            pairs.push(',');
        }
        let (high, low) = split_claim(*claim);
        pairs.push_str(&format!("[{high},{low}]"));
    }
    pairs.push(']');
    sqlx::query(
        "SELECT pg_advisory_xact_lock((e->>0)::int, (e->>1)::int) \
         FROM json_array_elements($1::json) AS e",
    )
    .bind(pairs)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A claim as the two signed 32-bit keys of an advisory lock.
fn split_claim(claim: u64) -> (i32, i32) {
    ((claim >> 32) as u32 as i32, claim as u32 as i32)
}

/// The stored resources of one type with any of these sender ids, by sender id.
pub async fn find_many_by_source(
    conn: &mut Conn,
    import: &ClinicCapability,
    resource_type: &str,
    source_ids: &[&str],
) -> Result<std::collections::HashMap<String, KnownResource>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let mut found = std::collections::HashMap::new();
    for chunk in source_ids.chunks(BATCH_ROWS * 2) {
        let (first, list) = if is_sqlite(conn) {
            ("?", vec!["?"; chunk.len()].join(", "))
        } else {
            let numbered: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            ("$1", numbered.join(", "))
        };
        let sql = format!(
            "SELECT id, CASE WHEN refs IS NULL THEN '' ELSE content_hash END AS content_hash, version, patient_id, source_id FROM fhir_resources \
             WHERE resource_type = {first} AND source_id IN ({list})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(resource_type);
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let source: String = row.try_get("source_id")?;
            found.insert(source, known(&row)?);
        }
    }
    Ok(found)
}

/// The stored resources with any of these (resource type, sender id) keys, by key: in one
/// query for many keys on PostgreSQL, where each query is a round trip; one per type on
/// SQLite.
pub async fn find_many_by_source_keys(
    conn: &mut Conn,
    import: &ClinicCapability,
    keys: &[(&str, &str)],
) -> Result<std::collections::HashMap<(String, String), KnownResource>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let mut found = std::collections::HashMap::new();
    if is_sqlite(conn) {
        let mut by_type: std::collections::BTreeMap<&str, Vec<&str>> =
            std::collections::BTreeMap::new();
        for (resource_type, source_id) in keys {
            by_type.entry(resource_type).or_default().push(source_id);
        }
        for (resource_type, ids) in by_type {
            for (source_id, known) in find_many_by_source(conn, import, resource_type, &ids).await?
            {
                found.insert((resource_type.to_string(), source_id), known);
            }
        }
        return Ok(found);
    }
    for chunk in keys.chunks(BATCH_ROWS * 10) {
        let rows: Vec<Vec<Cell<'_>>> = chunk
            .iter()
            .map(|(t, s)| vec![Cell::Text(Some(t)), Cell::Text(Some(s))])
            .collect();
        let rows = sqlx::query(
            "SELECT r.id, CASE WHEN r.refs IS NULL THEN '' ELSE r.content_hash END AS content_hash, r.version, r.patient_id, r.resource_type, r.source_id              FROM json_to_recordset($1::json) AS k(t text, s text)              JOIN fhir_resources r ON r.resource_type = k.t AND r.source_id = k.s",
        )
        .bind(crate::bulk::json_rows(&["t", "s"], &rows))
        .fetch_all(&mut *conn)
        .await?;
        for row in rows {
            found.insert(
                (row.try_get("resource_type")?, row.try_get("source_id")?),
                known(&row)?,
            );
        }
    }
    Ok(found)
}

/// [`find_by_identifier`] for many values of one type and system, in few queries: the stored
/// resources each value names, by value.
pub async fn find_many_by_identifier(
    conn: &mut Conn,
    import: &ClinicCapability,
    resource_type: &str,
    system: &str,
    values: &[&str],
) -> Result<std::collections::HashMap<String, Vec<KnownResource>>> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let mut found: std::collections::HashMap<String, Vec<KnownResource>> =
        std::collections::HashMap::new();
    for chunk in values.chunks(BATCH_ROWS * 2) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT r.id, CASE WHEN r.refs IS NULL THEN '' ELSE r.content_hash END AS content_hash, r.version, r.patient_id, i.value FROM fhir_identifiers i \
             JOIN fhir_resources r ON r.id = i.resource_id \
             WHERE i.resource_type = $1 AND i.system = $2 AND i.value IN ({list}) \
             ORDER BY r.id"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(resource_type)
            .bind(system);
        for value in chunk {
            query = query.bind(*value);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let value: String = row.try_get("value")?;
            found.entry(value).or_default().push(known(&row)?);
        }
    }
    Ok(found)
}

/// Creates many resources (version 1) in few statements.
pub async fn insert_many(
    conn: &mut Conn,
    import: &ClinicCapability,
    rows: &[ResourceRow<'_>],
    now: Timestamp,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let patients: Vec<Option<String>> = rows
        .iter()
        .map(|r| r.patient_id.map(|p| p.to_string()))
        .collect();
    let now = to_micros(now);
    let cells: Vec<Vec<Cell<'_>>> = rows
        .iter()
        .zip(&patients)
        .map(|(row, patient)| {
            vec![
                Cell::Text(Some(row.id)),
                Cell::Text(Some(row.resource_type)),
                Cell::Text(row.source_id),
                Cell::Text(patient.as_deref()),
                Cell::Text(Some(row.content_hash)),
                Cell::Bytes(row.json),
                Cell::Text(Some(row.refs)),
                Cell::Int(Some(1)),
                Cell::Int(Some(now)),
                Cell::Int(Some(now)),
            ]
        })
        .collect();
    Insert {
        table: "fhir_resources",
        columns: &[
            ("id", Kind::Text),
            ("resource_type", Kind::Text),
            ("source_id", Kind::Text),
            ("patient_id", Kind::Text),
            ("content_hash", Kind::Text),
            ("json", Kind::Bytes),
            ("refs", Kind::Text),
            ("version", Kind::Int),
            ("created_at", Kind::Int),
            ("updated_at", Kind::Int),
        ],
        tail: "",
    }
    .run(conn, &cells)
    .await
    .map_err(|e| match e {
        crate::Error::Database(db) => conflict_as("resource id")(db),
        other => other,
    })
}

/// Adds identifiers (resource type, system, value, resource id) of new resources.
pub async fn insert_identifiers_many(
    conn: &mut Conn,
    import: &ClinicCapability,
    rows: &[(&str, &str, &str, &str)],
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let cells: Vec<Vec<Cell<'_>>> = rows
        .iter()
        .map(|(t, system, value, id)| {
            vec![
                Cell::Text(Some(t)),
                Cell::Text(Some(system)),
                Cell::Text(Some(value)),
                Cell::Text(Some(id)),
            ]
        })
        .collect();
    Insert {
        table: "fhir_identifiers",
        columns: &[
            ("resource_type", Kind::Text),
            ("system", Kind::Text),
            ("value", Kind::Text),
            ("resource_id", Kind::Text),
        ],
        tail: "ON CONFLICT DO NOTHING",
    }
    .run(conn, &cells)
    .await
}

/// Writes (or rewrites) many clinical items in few statements.
pub async fn put_clinical_items(
    conn: &mut Conn,
    import: &ClinicCapability,
    items: &[ItemWrite<'_>],
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let patients: Vec<String> = items.iter().map(|i| i.patient_id.to_string()).collect();
    let sensitivities: Vec<String> = items
        .iter()
        .map(|i| i.columns.sensitivity.to_stored())
        .collect();
    let cells: Vec<Vec<Cell<'_>>> = items
        .iter()
        .zip(&patients)
        .zip(&sensitivities)
        .map(|((item, patient), sensitivity)| {
            let c = item.columns;
            vec![
                Cell::Text(Some(item.resource_id)),
                Cell::Text(Some(patient)),
                Cell::Text(Some(c.kind.as_str())),
                Cell::Text(Some(&c.category)),
                Cell::Text(Some(&c.code_system)),
                Cell::Text(Some(&c.code)),
                Cell::Text(Some(&c.label)),
                Cell::Text(Some(&c.status)),
                Cell::Int(c.sort_at),
                Cell::Text(item.encounter_id),
                Cell::Bytes(item.details),
                Cell::Text(item.who_id),
                Cell::Text(item.where_id),
                Cell::Text(item.report_id),
                Cell::Text(Some(c.flag.code())),
                Cell::Int(item.released_at),
                Cell::Text(Some(sensitivity)),
            ]
        })
        .collect();
    Insert {
        table: "clinical_items",
        columns: &[
            ("resource_id", Kind::Text),
            ("patient_id", Kind::Text),
            ("kind", Kind::Text),
            ("category", Kind::Text),
            ("code_system", Kind::Text),
            ("code", Kind::Text),
            ("label", Kind::Text),
            ("status", Kind::Text),
            ("sort_at", Kind::Int),
            ("encounter_id", Kind::Text),
            ("details", Kind::Bytes),
            ("who_id", Kind::Text),
            ("where_id", Kind::Text),
            ("report_id", Kind::Text),
            ("flag", Kind::Text),
            ("released_at", Kind::Int),
            ("sensitivity", Kind::Text),
        ],
        tail: "ON CONFLICT (resource_id) DO UPDATE SET patient_id = excluded.patient_id, \
             kind = excluded.kind, category = excluded.category, \
             code_system = excluded.code_system, code = excluded.code, label = excluded.label, \
             status = excluded.status, sort_at = excluded.sort_at, \
             encounter_id = excluded.encounter_id, details = excluded.details, \
             who_id = excluded.who_id, where_id = excluded.where_id, \
             report_id = COALESCE(excluded.report_id, clinical_items.report_id), \
             flag = excluded.flag, sensitivity = excluded.sensitivity, \
             released_at = COALESCE(clinical_items.released_at, excluded.released_at)",
    }
    .run(conn, &cells)
    .await
}

/// Links results stored earlier to the report that lists them. A report held until staff
/// release it holds them too. Otherwise, with `same_import` (results written earlier in the
/// import that writes the report) each is released no sooner than the report, as if the two had
/// been written together; results of an earlier import keep the release they had.
pub async fn link_report_members(
    conn: &mut Conn,
    import: &ClinicCapability,
    report_id: &str,
    members: &[&str],
    released_at: Option<i64>,
    same_import: bool,
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    for chunk in members.chunks(BATCH_ROWS) {
        let list = (0..chunk.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE clinical_items SET report_id = $1, released_at = CASE \
             WHEN $2 IS NULL THEN NULL \
             WHEN $3 AND released_at IS NOT NULL AND released_at < $2 THEN $2 \
             ELSE released_at END \
             WHERE resource_id IN ({list})"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(report_id)
            .bind(released_at)
            .bind(same_import);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records the display names of directory resources (practitioners, organizations, locations).
pub async fn put_directory_names(
    conn: &mut Conn,
    import: &ClinicCapability,
    rows: &[(&str, &str, &str)],
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let cells: Vec<Vec<Cell<'_>>> = rows
        .iter()
        .map(|(id, t, name)| {
            vec![
                Cell::Text(Some(id)),
                Cell::Text(Some(t)),
                Cell::Text(Some(name)),
            ]
        })
        .collect();
    Insert {
        table: "directory_names",
        columns: &[
            ("resource_id", Kind::Text),
            ("resource_type", Kind::Text),
            ("name", Kind::Text),
        ],
        tail: "ON CONFLICT (resource_id) DO UPDATE SET name = excluded.name",
    }
    .run(conn, &cells)
    .await
}

/// One search term of a resource (what `portal_fhir::search::terms_of` finds): a token or word, or a date
/// span.
pub struct SearchTerm<'a> {
    /// The resource.
    pub resource_id: &'a str,
    /// Its type.
    pub resource_type: &'a str,
    /// Whose record it is in.
    pub patient_id: Option<&'a str>,
    /// The search parameter.
    pub param: &'a str,
    /// A token's system.
    pub system: &'a str,
    /// A token's code or a word.
    pub value: &'a str,
    /// A date span's first and last microsecond.
    pub span: Option<(i64, i64)>,
}

/// Forgets the search terms of resources about to be indexed anew.
pub async fn clear_search_terms(
    conn: &mut Conn,
    import: &ClinicCapability,
    resource_ids: &[&str],
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    for id in resource_ids {
        sqlx::query("DELETE FROM fhir_search WHERE resource_id = $1")
            .bind(*id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Records search terms, in few statements.
pub async fn put_search_terms(
    conn: &mut Conn,
    import: &ClinicCapability,
    terms: &[SearchTerm<'_>],
) -> Result<()> {
    crate::require(import, ClinicAction::ImportRecords, "importing records")?;
    let cells: Vec<Vec<Cell<'_>>> = terms
        .iter()
        .map(|t| {
            vec![
                Cell::Text(Some(t.resource_id)),
                Cell::Text(Some(t.resource_type)),
                Cell::Text(t.patient_id),
                Cell::Text(Some(t.param)),
                Cell::Text(Some(t.system)),
                Cell::Text(Some(t.value)),
                Cell::Int(t.span.map(|s| s.0)),
                Cell::Int(t.span.map(|s| s.1)),
            ]
        })
        .collect();
    Insert {
        table: "fhir_search",
        columns: &[
            ("resource_id", Kind::Text),
            ("resource_type", Kind::Text),
            ("patient_id", Kind::Text),
            ("param", Kind::Text),
            ("system", Kind::Text),
            ("value", Kind::Text),
            ("low", Kind::Int),
            ("high", Kind::Int),
        ],
        tail: "",
    }
    .run(conn, &cells)
    .await
}
