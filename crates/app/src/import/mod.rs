//! Importing FHIR R4: Bundles (transaction, batch, collection) and NDJSON, each imported whole
//! or not at all, idempotently (same source id or identifier: update or no change), with every
//! reference resolved and every resource's original JSON kept.

pub mod projection;

use crate::{Actor, App, Error, Result, commit, crypto};
use portal_domain::PatientId;
use portal_domain::access::{AccessFacts, Action, authorize};
use portal_domain::audit::{AuditAction, Outcome};
use portal_fhir::json::{JsonContainerTrait, JsonValueTrait, Value};
use portal_fhir::{
    CodeSet, Entry, ImportError, Limits, Mapped, Reference, collect_references, map_resource,
};
use portal_store::patients::PatientRow;
use portal_store::resources::{self, ClinicalItem, KnownResource, ResourceRow};
use portal_store::{Conn, patients};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What happened to the resources of one type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeCounts {
    /// Resources read.
    pub read: u64,
    /// New resources written.
    pub created: u64,
    /// Known resources that changed.
    pub updated: u64,
    /// Known resources that were the same.
    pub unchanged: u64,
    /// Of those read, how many are of a type the portal keeps only as JSON.
    pub kept_unmapped: u64,
}

/// What happened to one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// A new resource.
    Created,
    /// A known resource that changed.
    Updated,
    /// A known resource that was the same.
    Unchanged,
}

/// The outcome of one entry (for a transaction-response Bundle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryOutcome {
    /// The entry's index in the Bundle (or line number in NDJSON).
    pub index: usize,
    /// Its resource type.
    pub resource_type: String,
    /// The portal's id of the resource.
    pub id: String,
    /// What happened.
    pub status: EntryStatus,
}

/// The outcome of importing one Bundle or NDJSON file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Counts per resource type.
    pub per_type: BTreeMap<String, TypeCounts>,
    /// Each entry's outcome, in entry order.
    pub entries: Vec<EntryOutcome>,
}

impl ImportSummary {
    /// Resources read in all.
    pub fn total(&self) -> u64 {
        self.per_type.values().map(|c| c.read).sum()
    }
    /// Adds another summary's counts.
    pub fn add(&mut self, other: &ImportSummary) {
        for (t, c) in &other.per_type {
            let e = self.per_type.entry(t.clone()).or_default();
            e.read += c.read;
            e.created += c.created;
            e.updated += c.updated;
            e.unchanged += c.unchanged;
            e.kept_unmapped += c.kept_unmapped;
        }
    }
}

fn rejected(e: ImportError) -> Error {
    Error::Rejected(e.to_string())
}

/// One resource on its way in.
struct Item {
    /// The entry's index in the Bundle (or line number in NDJSON).
    index: usize,
    full_url: Option<String>,
    request: Option<portal_fhir::Request>,
    /// The resource's identifiers as (system, value), sorted.
    identifiers: Vec<(String, String)>,
    /// A Patient's mapped data, the only mapping the writing needs; kept apart (not the whole
    /// [`Mapped`], whose largest variant is a kilobyte) so a large Bundle's items stay small.
    patient: Option<Box<portal_fhir::model::PatientData>>,
    /// Whether the resource's type is one the portal maps.
    is_mapped: bool,
    refs: Vec<(String, Reference)>,
    /// The list columns and mapped details of a clinical resource, worked out while preparing.
    projection: Option<(projection::Projection, String)>,
    /// A result's abnormal flag.
    flag: &'static str,
    /// The name of a practitioner, organization or location, for the record pages.
    directory_name: Option<String>,
    resource_type: String,
    source_id: Option<String>,
    existing: Option<KnownResource>,
    id: String,
    json: String,
    hash: String,
}

/// Where references point, as far as this import knows.
#[derive(Default)]
struct Index {
    by_full_url: HashMap<String, (String, String)>,
    by_source: HashMap<(String, String), String>,
    by_identifier: HashMap<(String, String, String), Vec<String>>,
    types: HashMap<String, String>,
    /// Identifier look-ups already answered by the database during this import.
    stored: HashMap<(String, String, String), Vec<String>>,
}

/// The identifiers of a resource as (system, value), read from its JSON.
fn identifiers_of(resource: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = resource
        .get("identifier")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| {
                    let value = id.get("value")?.as_str()?;
                    let system = id.get("system").and_then(Value::as_str).unwrap_or("");
                    Some((system.to_string(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

fn error_at(item: &Item, path: &str, message: String) -> Error {
    rejected(ImportError {
        entry: Some(item.index),
        line: None,
        resource_type: Some(item.resource_type.clone()),
        path: path.to_string(),
        message,
    })
}

/// A Bundle or NDJSON file checked, mapped and hashed, ready to be written: the part of an
/// import that needs no database, so it can run on another thread while the previous file is
/// written.
pub struct Prepared {
    items: Vec<Item>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("resources", &self.items.len())
            .finish()
    }
}

/// The longest NDJSON line (one resource) an import reads: room for the longest string the
/// limits allow twice over, and at least the 64 MB a `POST /fhir` body may take.
fn max_line_bytes(limits: &Limits) -> usize {
    limits
        .max_string_bytes
        .saturating_mul(2)
        .max(64 * 1024 * 1024)
}

/// Reads one line (without its `\n` or `\r\n`) into `line`, refusing one longer than `cap`
/// bytes before holding more than that; `None` at the end of the input.
fn read_line_capped(
    reader: &mut impl std::io::BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<()>> {
    line.clear();
    let mut read_any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (available.len(), false),
        };
        if line.len() + take > cap {
            return Err(std::io::Error::other(format!(
                "the line is longer than {cap} bytes, the most one resource may take \
                 (--max-string-bytes raises it)"
            )));
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(read_any.then_some(()))
}

/// Checks and maps a Bundle (JSON bytes), refusing one over `limits`. CPU only.
pub fn prepare_bundle(bytes: Vec<u8>, limits: &Limits) -> Result<Prepared> {
    let bundle = portal_fhir::parse_bundle_limited(&bytes, limits).map_err(rejected)?;
    // The tree holds its own copy of every string: the text is not needed any more.
    drop(bytes);
    let refs: Vec<_> = bundle
        .entries
        .iter()
        .map(|entry| collect_references(&entry.resource))
        .collect();
    bundle.check_collected_references(&refs).map_err(rejected)?;
    prepare_entries(bundle.entries.into_iter().zip(refs).collect())
}

/// Checks, maps and hashes entries, each with the references [`collect_references`] found in it.
fn prepare_entries(entries: Vec<(Entry, Vec<(String, Reference)>)>) -> Result<Prepared> {
    let mut items = Vec::with_capacity(entries.len());
    for (entry, refs) in entries {
        let mapped = map_resource(&entry.resource, Some(entry.index)).map_err(|e| {
            if entry.full_url.is_none() && entry.request.is_none() {
                rejected(ImportError {
                    entry: None,
                    line: Some(entry.index),
                    ..e
                })
            } else {
                rejected(e)
            }
        })?;
        let resource_type = entry.resource_type().to_string();
        let source_id = entry
            .request
            .as_ref()
            .and_then(|r| r.put_id())
            .map(str::to_string)
            .or_else(|| {
                entry
                    .resource
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        // Compact, keys in the sender's order.
        let json = portal_fhir::json::to_string(&entry.resource);
        let hash = crypto::content_hash(&json);
        let projection = match projection::kind_of(&mapped) {
            Some(kind) => Some((
                {
                    let mut p = projection::project(kind, &entry.resource);
                    if projection::is_note_report(&mapped) {
                        p.category = projection::NOTE_CATEGORY.to_string();
                    }
                    p
                },
                portal_fhir::json::write(&mapped)
                    .map_err(|e| Error::Internal(format!("cannot serialise a resource: {e}")))?,
            )),
            None => None,
        };
        let identifiers = identifiers_of(&entry.resource);
        let flag = projection::flag_of(&mapped);
        let directory_name = directory_name(&mapped);
        let is_mapped = mapped.is_mapped();
        let patient = match mapped {
            Mapped::Patient(data) => Some(Box::new(data)),
            _ => None,
        };
        // The parsed JSON is freed here, on the thread that built it, which the allocator does
        // faster than a free from the writing thread.
        let Entry {
            index,
            full_url,
            request,
            resource: _,
        } = entry;
        items.push(Item {
            index,
            full_url,
            request,
            identifiers,
            flag,
            directory_name,
            patient,
            is_mapped,
            refs,
            projection,
            resource_type,
            source_id,
            existing: None,
            id: String::new(),
            json,
            hash,
        });
    }
    Ok(Prepared { items })
}

impl App {
    /// Imports one Bundle (JSON bytes) as a whole.
    /// The bytes are taken over (a request body is not copied) and freed once parsed.
    pub async fn import_bundle(
        &self,
        actor: &Actor,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<ImportSummary> {
        let bytes = bytes.into();
        let limits = self.config().import_limits;
        let prepared = tokio::task::spawn_blocking(move || prepare_bundle(bytes, &limits))
            .await
            .map_err(|e| Error::Internal(format!("import task failed: {e}")))??;
        self.import_prepared(actor, prepared).await
    }

    /// Refreshes the planner's statistics after a bulk load (PostgreSQL runs without autovacuum
    /// here; SQLite's planner benefits too).
    pub async fn analyze_after_import(&self) -> Result<()> {
        Ok(self.store().analyze().await?)
    }

    /// Writes a prepared Bundle or file: whole, or not at all.
    pub async fn import_prepared(
        &self,
        actor: &Actor,
        prepared: Prepared,
    ) -> Result<ImportSummary> {
        let mut tx = self.store().begin().await?;
        let summary = self.write_prepared(&mut tx, actor, prepared).await?;
        commit(tx).await?;
        Ok(summary)
    }

    /// Imports NDJSON from a reader a chunk of lines at a time, all in one transaction: the
    /// whole file lands or nothing does, and memory holds one chunk, not the file. The summary
    /// has counts, not per-entry outcomes.
    pub async fn import_ndjson_stream<R>(&self, actor: &Actor, reader: R) -> Result<ImportSummary>
    where
        R: std::io::BufRead + Send + 'static,
    {
        const CHUNK_LINES: usize = 2_000;
        let limits = self.config().import_limits;
        let line_cap = max_line_bytes(&limits);
        let (tx_lines, mut rx_lines) = tokio::sync::mpsc::channel::<Result<Prepared>>(1);
        let reader_task = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let mut chunk = Vec::with_capacity(CHUNK_LINES);
            let mut bytes = Vec::new();
            for n in 0.. {
                let line = match read_line_capped(&mut reader, &mut bytes, line_cap) {
                    Ok(Some(())) => match std::str::from_utf8(&bytes) {
                        Ok(text) => text,
                        Err(_) => {
                            let _ = tx_lines.blocking_send(Err(Error::Rejected(format!(
                                "line {}: is not UTF-8 text",
                                n + 1
                            ))));
                            return;
                        }
                    },
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx_lines.blocking_send(Err(Error::Rejected(format!(
                            "line {}: cannot be read: {e}",
                            n + 1
                        ))));
                        return;
                    }
                };
                if line.trim().is_empty() {
                    continue;
                }
                match portal_fhir::parse_ndjson_line_limited(line, n + 1, &limits) {
                    Ok(resource) => {
                        let refs = collect_references(&resource);
                        chunk.push((
                            Entry {
                                index: n + 1,
                                full_url: None,
                                resource,
                                request: None,
                            },
                            refs,
                        ));
                    }
                    Err(e) => {
                        let _ = tx_lines.blocking_send(Err(rejected(e)));
                        return;
                    }
                }
                if chunk.len() == CHUNK_LINES {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_LINES));
                    if tx_lines.blocking_send(prepare_entries(full)).is_err() {
                        return;
                    }
                }
            }
            if !chunk.is_empty() {
                let _ = tx_lines.blocking_send(prepare_entries(chunk));
            }
        });
        let mut tx = self.store().begin().await?;
        let mut total = ImportSummary::default();
        while let Some(prepared) = rx_lines.recv().await {
            let summary = self.write_prepared(&mut tx, actor, prepared?).await?;
            // Counts only: per-entry outcomes would grow with the file.
            total.add(&summary);
        }
        reader_task
            .await
            .map_err(|e| Error::Internal(format!("reading task failed: {e}")))?;
        commit(tx).await?;
        Ok(total)
    }

    async fn write_prepared(
        &self,
        tx: &mut portal_store::Tx,
        actor: &Actor,
        prepared: Prepared,
    ) -> Result<ImportSummary> {
        let tx: &mut Conn = tx;
        let mut items = prepared.items;
        // Patients first: other resources point at them.
        items.sort_by_key(|i| (i.resource_type != "Patient", i.index));

        // What is stored already, found in one query per resource type.
        let mut known_by_source: HashMap<(String, String), KnownResource> = HashMap::new();
        let mut source_ids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for item in &items {
            if let Some(sid) = &item.source_id {
                source_ids.entry(&item.resource_type).or_default().push(sid);
            }
        }
        for (resource_type, ids) in &source_ids {
            for (sid, known) in resources::find_many_by_source(tx, resource_type, ids).await? {
                known_by_source.insert((resource_type.to_string(), sid), known);
            }
        }
        let mut index = Index::default();
        let mut seen_sources = HashSet::new();
        for item in &mut items {
            if let Some(sid) = &item.source_id
                && !seen_sources.insert((item.resource_type.clone(), sid.clone()))
            {
                return Err(error_at(
                    item,
                    &format!("{}.id", item.resource_type),
                    format!("the id {sid:?} appears twice in this import"),
                ));
            }
            item.existing = match item
                .source_id
                .as_ref()
                .and_then(|sid| known_by_source.get(&(item.resource_type.clone(), sid.clone())))
            {
                Some(known) => Some(known.clone()),
                None => find_existing(tx, item).await?,
            };
            item.id = match &item.existing {
                Some(known) => known.id.clone(),
                None if item.resource_type == "Patient" => {
                    PatientId::new_v7(self.now()).to_string()
                }
                None => uuid::Uuid::now_v7().to_string(),
            };
            if let Some(url) = &item.full_url {
                index
                    .by_full_url
                    .insert(url.clone(), (item.resource_type.clone(), item.id.clone()));
            }
            if let Some(sid) = &item.source_id {
                index
                    .by_source
                    .insert((item.resource_type.clone(), sid.clone()), item.id.clone());
            }
            for (system, value) in &item.identifiers {
                index
                    .by_identifier
                    .entry((item.resource_type.clone(), system.clone(), value.clone()))
                    .or_default()
                    .push(item.id.clone());
            }
            index
                .types
                .insert(item.id.clone(), item.resource_type.clone());
        }

        // Resolve references; find each resource's patient.
        let mut compartments: Vec<Option<PatientId>> = Vec::with_capacity(items.len());
        let mut encounters: Vec<Option<String>> = Vec::with_capacity(items.len());
        let mut links: Vec<Links> = Vec::with_capacity(items.len());
        for item in &items {
            let mut link = Links::default();
            let mut patient = if item.resource_type == "Patient" {
                Some(crate::parse_patient_id(&item.id)?)
            } else {
                None
            };
            let mut encounter = None;
            for (path, reference) in &item.refs {
                let Some((target_type, target)) =
                    resolve(tx, &mut index, item, path, reference).await?
                else {
                    continue;
                };
                let field = path.rsplit_once('.').map_or(path.as_str(), |(_, f)| f);
                if target_type == "Patient"
                    && patient.is_none()
                    && matches!(field, "subject" | "patient" | "beneficiary")
                {
                    patient = Some(crate::parse_patient_id(&target)?);
                }
                link.note(&item.resource_type, path, field, &target_type, &target);
                if target_type == "Encounter"
                    && encounter.is_none()
                    && field.starts_with("encounter")
                {
                    encounter = Some(target);
                }
            }
            compartments.push(patient);
            encounters.push(encounter);
            links.push(link);
        }
        // An update never moves a resource to another patient's record, and a Patient found
        // only by an identifier must be the same person.
        for (item, patient) in items.iter().zip(&compartments) {
            let Some(known) = &item.existing else {
                continue;
            };
            if item.resource_type != "Patient"
                && known.patient_id.is_some()
                && known.patient_id != *patient
            {
                return Err(error_at(
                    item,
                    &format!("{}.{}", item.resource_type, compartment_field(item)),
                    "this update would move the resource to another patient's record (or out \
                     of every record); an update may not change whose record a resource is in"
                        .into(),
                ));
            }
            if item.resource_type == "Patient"
                && !matched_by_source(item)
                && let Some(data) = &item.patient
            {
                let id = crate::parse_patient_id(&known.id)?;
                if let Some(stored) = patients::find_unchecked(tx, id).await? {
                    let same_birth = data
                        .birth_date
                        .as_deref()
                        .is_none_or(|b| b == stored.birth_date);
                    let same_mrn = data.mrn.as_deref().is_none_or(|m| m == stored.mrn);
                    if !same_birth || !same_mrn {
                        return Err(error_at(
                            item,
                            "Patient.identifier",
                            "this Patient has no id the portal knows and its identifier matches \
                             a patient with another date of birth or medical record number; it \
                             is refused rather than overwrite that record"
                                .into(),
                        ));
                    }
                }
            }
        }

        // Results a report lists belong to it, and are held while it is.
        let holds = portal_store::records::holds(tx).await?;
        let now_micros = portal_store::to_micros(self.now());
        let release_of = |item: &Item| -> Option<i64> {
            let Some((p, _)) = &item.projection else {
                return Some(now_micros);
            };
            if !matches!(p.kind, "observation" | "diagnostic-report") {
                return Some(now_micros);
            }
            match holds.iter().find(|h| h.category == p.category) {
                None => Some(now_micros),
                Some(hold) => hold
                    .days
                    .map(|d| now_micros.saturating_add(d.saturating_mul(86_400_000_000))),
            }
        };
        let mut report_of: HashMap<String, (String, Option<i64>)> = HashMap::new();
        for (item, link) in items.iter().zip(&links) {
            for member in &link.members {
                report_of.insert(member.clone(), (item.id.clone(), release_of(item)));
            }
        }

        // The policy decides for every patient touched.
        let now = self.now();
        let mut per_patient: BTreeMap<PatientId, (u64, u64)> = BTreeMap::new();
        for patient in compartments.iter().flatten() {
            if !per_patient.contains_key(patient) {
                authorize(
                    &actor.principal,
                    *patient,
                    Action::WriteRecord,
                    &AccessFacts::default(),
                    now,
                )
                .map_err(|_| Error::Forbidden)?;
                per_patient.insert(*patient, (0, 0));
            }
        }

        let mut summary = ImportSummary::default();
        let mut other_changes = (0_u64, 0_u64);
        let mut new_rows: Vec<(usize, Option<PatientId>)> = Vec::new();
        let mut new_identifiers: Vec<(usize, String, String)> = Vec::new();
        let mut projections = Vec::new();
        let mut directory: Vec<(&str, &str, &str)> = Vec::new();
        for (i, ((item, patient), encounter)) in
            items.iter().zip(&compartments).zip(&encounters).enumerate()
        {
            let counts = summary
                .per_type
                .entry(item.resource_type.clone())
                .or_default();
            counts.read += 1;
            if !item.is_mapped {
                counts.kept_unmapped += 1;
            }
            let status = match &item.existing {
                None => EntryStatus::Created,
                Some(k) if k.content_hash == item.hash => EntryStatus::Unchanged,
                Some(_) => EntryStatus::Updated,
            };
            summary.entries.push(EntryOutcome {
                index: item.index,
                resource_type: item.resource_type.clone(),
                id: item.id.clone(),
                status,
            });
            if status == EntryStatus::Unchanged {
                counts.unchanged += 1;
                continue;
            }
            if let Some(data) = &item.patient {
                let row = patient_row(item, data)?;
                let details = serde_json::to_string(data)
                    .map_err(|e| Error::Internal(format!("cannot serialise a patient: {e}")))?;
                patients::upsert_imported(tx, &row, &item.id, &details, now)
                    .await
                    .map_err(|e| match e {
                        portal_store::Error::Conflict(_) => error_at(
                            item,
                            "Patient.identifier",
                            format!(
                                "the medical record number {:?} belongs to another patient",
                                row.mrn
                            ),
                        ),
                        other => other.into(),
                    })?;
            }
            let created = item.existing.is_none();
            let identifiers = item.identifiers.clone();
            if created {
                // New resources are written in batches below.
                new_rows.push((i, *patient));
                new_identifiers.extend(identifiers.into_iter().map(|(s, v)| (i, s, v)));
                counts.created += 1;
            } else {
                let row = ResourceRow {
                    id: &item.id,
                    resource_type: &item.resource_type,
                    source_id: item.source_id.as_deref(),
                    patient_id: *patient,
                    content_hash: &item.hash,
                    json: &item.json,
                };
                resources::update(tx, &row, now).await?;
                resources::replace_identifiers(
                    tx,
                    &item.id,
                    &item.resource_type,
                    &identifiers,
                    true,
                )
                .await?;
                counts.updated += 1;
            }
            if let (Some((projection, details)), Some(patient)) = (&item.projection, patient) {
                projections.push((i, *patient, projection, details.as_str(), encounter.clone()));
            }
            if let Some(name) = &item.directory_name {
                directory.push((item.id.as_str(), item.resource_type.as_str(), name.as_str()));
            }
            let tally = match patient {
                Some(p) => per_patient.entry(*p).or_default(),
                None => &mut other_changes,
            };
            if created {
                tally.0 += 1;
            } else {
                tally.1 += 1;
            }
        }

        let rows: Vec<ResourceRow<'_>> = new_rows
            .iter()
            .map(|(i, patient)| {
                let item = &items[*i];
                ResourceRow {
                    id: &item.id,
                    resource_type: &item.resource_type,
                    source_id: item.source_id.as_deref(),
                    patient_id: *patient,
                    content_hash: &item.hash,
                    json: &item.json,
                }
            })
            .collect();
        resources::insert_many(tx, &rows, now).await?;
        let identifier_rows: Vec<(&str, &str, &str, &str)> = new_identifiers
            .iter()
            .map(|(i, system, value)| {
                let item = &items[*i];
                (
                    item.resource_type.as_str(),
                    system.as_str(),
                    value.as_str(),
                    item.id.as_str(),
                )
            })
            .collect();
        resources::insert_identifiers_many(tx, &identifier_rows).await?;
        let clinical: Vec<ClinicalItem<'_>> = projections
            .iter()
            .map(|(i, patient, p, details, encounter)| {
                let item = &items[*i];
                let link = &links[*i];
                let own_release = release_of(item);
                let (report_id, released_at) = match report_of.get(&item.id) {
                    Some((report, report_release)) => (
                        Some(report.as_str()),
                        match (own_release, report_release) {
                            (Some(a), Some(b)) => Some(a.max(*b)),
                            _ => None,
                        },
                    ),
                    None => (None, own_release),
                };
                ClinicalItem {
                    resource_id: &item.id,
                    patient_id: *patient,
                    kind: p.kind,
                    category: &p.category,
                    code_system: &p.code_system,
                    code: &p.code,
                    label: &p.label,
                    status: &p.status,
                    sort_at: p.sort_at,
                    encounter_id: encounter.as_deref(),
                    details,
                    who_id: link.who.as_deref(),
                    where_id: link.place.as_deref(),
                    report_id,
                    flag: item.flag,
                    released_at,
                }
            })
            .collect();
        resources::put_directory_names(tx, &directory).await?;
        resources::put_clinical_items(tx, &clinical).await?;
        // Results stored by an earlier import that a report of this one lists.
        let written: HashSet<&str> = clinical.iter().map(|c| c.resource_id).collect();
        for (item, link) in items.iter().zip(&links) {
            let earlier: Vec<&str> = link
                .members
                .iter()
                .map(String::as_str)
                .filter(|m| !written.contains(m))
                .collect();
            if !earlier.is_empty() {
                resources::link_report_members(tx, &item.id, &earlier, release_of(item)).await?;
            }
        }

        // One audit event per patient whose record changed, and one for directory data.
        for (patient, (created, updated)) in &per_patient {
            if created + updated == 0 {
                continue;
            }
            let mut event = self.event(
                actor,
                if *created > 0 {
                    AuditAction::Create
                } else {
                    AuditAction::Update
                },
                "HealthRecord",
                Outcome::Success,
            );
            event.patient_id = Some(patient.to_string());
            event.on_behalf_of = match actor.principal {
                portal_domain::Principal::Operator => "operator".into(),
                _ => "system-client".into(),
            };
            event.detail = format!("FHIR import: {created} created, {updated} updated");
            self.audit(tx, &event).await?;
        }
        if other_changes.0 + other_changes.1 > 0 {
            let mut event = self.event(actor, AuditAction::Create, "Directory", Outcome::Success);
            event.detail = format!(
                "FHIR import: {} created, {} updated (practitioners, organizations, locations, …)",
                other_changes.0, other_changes.1
            );
            self.audit(tx, &event).await?;
        }
        summary.entries.sort_by_key(|e| e.index);
        Ok(summary)
    }
}

/// What an item's references say about who and where it is from, and (for a report) which
/// results it lists: resource ids, resolved.
#[derive(Default)]
struct Links {
    who: Option<String>,
    /// Whether `who` is an organization, which a practitioner found later replaces.
    who_is_organization: bool,
    place: Option<String>,
    members: Vec<String>,
}

impl Links {
    fn note(
        &mut self,
        resource_type: &str,
        path: &str,
        field: &str,
        target_type: &str,
        target: &str,
    ) {
        if resource_type == "DiagnosticReport"
            && target_type == "Observation"
            && path.starts_with("DiagnosticReport.result")
        {
            self.members.push(target.to_string());
            return;
        }
        if matches!(
            field,
            "subject" | "patient" | "beneficiary" | "basedOn" | "partOf"
        ) {
            return;
        }
        match target_type {
            "Practitioner" if self.who.is_none() || self.who_is_organization => {
                self.who = Some(target.to_string());
                self.who_is_organization = false;
            }
            "Organization"
                if (field == "serviceProvider" || field == "managingOrganization")
                    && self.place.is_none() =>
            {
                self.place = Some(target.to_string());
            }
            "Organization" if self.who.is_none() => {
                self.who = Some(target.to_string());
                self.who_is_organization = true;
            }
            "Location" => {
                self.place = Some(target.to_string());
            }
            _ => {}
        }
    }
}

/// The name a practitioner, organization or location is shown by.
fn directory_name(mapped: &Mapped) -> Option<String> {
    let name = match mapped {
        Mapped::Practitioner(p) => p
            .names
            .iter()
            .find(|n| n.use_.map(CodeSet::code) == Some("official"))
            .or_else(|| p.names.first())
            .map(|n| n.display())?,
        Mapped::Organization(o) => o.name.clone()?,
        Mapped::Location(l) => l.name.clone()?,
        _ => return None,
    };
    (!name.trim().is_empty()).then_some(name)
}

/// Whether an item was found by its sender's id (not by an identifier).
fn matched_by_source(item: &Item) -> bool {
    item.source_id.is_some()
        && item
            .request
            .as_ref()
            .and_then(|r| r.if_none_exist_identifier())
            .is_none()
}

/// The element that says whose record a resource is in, for error messages.
fn compartment_field(item: &Item) -> &'static str {
    item.refs
        .iter()
        .filter_map(|(path, _)| path.rsplit_once('.').map(|(_, f)| f))
        .find_map(|f| match f {
            "subject" => Some("subject"),
            "patient" => Some("patient"),
            "beneficiary" => Some("beneficiary"),
            _ => None,
        })
        .unwrap_or("subject")
}

/// Finds the stored resource an incoming one updates when its sender's id found none: by the
/// conditional-create identifier, else (for a resource without an id) by one of its identifiers.
async fn find_existing(conn: &mut Conn, item: &Item) -> Result<Option<KnownResource>> {
    let mut searches: Vec<(String, String)> = Vec::new();
    if let Some(search) = item
        .request
        .as_ref()
        .and_then(|r| r.if_none_exist_identifier())
    {
        let Some(system) = search.system else {
            return Err(error_at(
                item,
                "request.ifNoneExist",
                "the condition needs a system (identifier=system|value): an identifier without \
                 one can match any record"
                    .into(),
            ));
        };
        searches.push((system, search.value));
    }
    if item.source_id.is_none() {
        searches.extend(item.identifiers.iter().cloned());
    }
    // An identifier without a system is unique nowhere: it never picks the resource to update.
    for (system, value) in searches
        .into_iter()
        .filter(|(system, _)| !system.is_empty())
    {
        let found =
            resources::find_by_identifier(conn, &item.resource_type, &system, &value).await?;
        if let [one] = found.as_slice() {
            return Ok(Some(one.clone()));
        }
    }
    Ok(None)
}

/// Resolves one reference to (type, portal id). Logical references to identifiers nobody here
/// holds, contained and absolute external references are kept as they are (`None`); anything
/// else that does not resolve refuses the whole import.
async fn resolve(
    conn: &mut Conn,
    index: &mut Index,
    item: &Item,
    path: &str,
    reference: &Reference,
) -> Result<Option<(String, String)>> {
    let broken = |what: String| error_at(item, path, what);
    match reference {
        Reference::Internal(url) => match index.by_full_url.get(url) {
            Some(found) => Ok(Some(found.clone())),
            None => Err(broken(format!(
                "reference {url:?} does not resolve to an entry"
            ))),
        },
        Reference::Relative { resource_type, id } => {
            if let Some(found) = index.by_source.get(&(resource_type.clone(), id.clone())) {
                return Ok(Some((resource_type.clone(), found.clone())));
            }
            match resources::find_by_source(conn, resource_type, id).await? {
                Some(known) => Ok(Some((resource_type.clone(), known.id))),
                None => Err(broken(format!(
                    "reference \"{resource_type}/{id}\" does not resolve"
                ))),
            }
        }
        Reference::Conditional {
            resource_type,
            system,
            value,
        } => {
            if system.is_none() {
                return Err(broken(format!(
                    "reference \"{resource_type}?identifier={value}\" needs a system \
                     (identifier=system|value): an identifier without one can match any record"
                )));
            }
            let found = by_identifier(conn, index, resource_type, system.as_deref(), value).await?;
            match found.as_slice() {
                [one] => Ok(Some((resource_type.clone(), one.clone()))),
                [] => Err(broken(format!(
                    "reference \"{resource_type}?identifier={}{value}\" matches no resource",
                    system
                        .as_deref()
                        .map(|s| format!("{s}|"))
                        .unwrap_or_default()
                ))),
                _ => Err(broken(format!(
                    "reference \"{resource_type}?identifier={value}\" matches more than one resource"
                ))),
            }
        }
        Reference::Logical {
            resource_type: Some(resource_type),
            system,
            value,
        } => {
            let found = by_identifier(conn, index, resource_type, system.as_deref(), value).await?;
            Ok(match found.as_slice() {
                [one] => Some((resource_type.clone(), one.clone())),
                _ => None,
            })
        }
        Reference::Logical {
            resource_type: None,
            ..
        }
        | Reference::Contained(_)
        | Reference::External(_) => Ok(None),
        Reference::Unsupported { reference, reason } => Err(broken(format!(
            "reference {reference:?} is not supported: {reason}"
        ))),
    }
}

async fn by_identifier(
    conn: &mut Conn,
    index: &mut Index,
    resource_type: &str,
    system: Option<&str>,
    value: &str,
) -> Result<Vec<String>> {
    let mut found: Vec<String> = match system {
        Some(system) => index
            .by_identifier
            .get(&(
                resource_type.to_string(),
                system.to_string(),
                value.to_string(),
            ))
            .cloned()
            .unwrap_or_default(),
        // Without a system an identifier names nothing for certain: it matches nothing.
        None => return Ok(Vec::new()),
    };
    if found.is_empty() {
        let key = (
            resource_type.to_string(),
            system.unwrap_or("").to_string(),
            value.to_string(),
        );
        found = match index.stored.get(&key) {
            Some(ids) => ids.clone(),
            None => {
                let ids: Vec<String> =
                    resources::find_by_identifier(conn, resource_type, &key.1, value)
                        .await?
                        .into_iter()
                        .map(|k| k.id)
                        .collect();
                index.stored.insert(key, ids.clone());
                ids
            }
        };
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn patient_row(item: &Item, data: &portal_fhir::model::PatientData) -> Result<PatientRow> {
    let name = data
        .names
        .iter()
        .find(|n| n.use_.map(CodeSet::code) == Some("official"))
        .or_else(|| data.names.first());
    let given = name.map(|n| n.given.join(" ")).unwrap_or_default();
    let family = name.and_then(|n| n.family.clone()).unwrap_or_default();
    let mrn = data
        .mrn
        .clone()
        .or_else(|| item.source_id.as_ref().map(|id| format!("FHIR-{id}")))
        .unwrap_or_else(|| format!("FHIR-{}", item.id));
    Ok(PatientRow {
        id: crate::parse_patient_id(&item.id)?,
        mrn,
        given_name: given,
        family_name: family,
        birth_date: data.birth_date.clone().unwrap_or_default(),
        sex: data
            .gender
            .map_or_else(|| "unknown".to_string(), |g| g.code().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], cap: usize) -> Vec<std::io::Result<String>> {
        let mut reader = std::io::BufReader::with_capacity(4, text);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line_capped(&mut reader, &mut line, cap) {
                Ok(Some(())) => out.push(Ok(String::from_utf8_lossy(&line).into_owned())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn lines_are_read_whole_across_buffers_and_refused_past_the_cap() {
        let read: Vec<String> = lines(b"first line\r\n\nlast", 64)
            .into_iter()
            .map(|l| l.expect("line"))
            .collect();
        assert_eq!(read, ["first line", "", "last"]);
        let capped = lines(b"short\nmuch too long a line\n", 10);
        assert_eq!(capped[0].as_ref().expect("first"), "short");
        let error = capped[1].as_ref().expect_err("refused").to_string();
        assert!(error.contains("longer than 10 bytes"), "{error}");
    }
}
