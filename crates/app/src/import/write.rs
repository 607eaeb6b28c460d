//! The writing side of an import: ids given, references resolved, the policy asked, rows and
//! audit events written, a part at a time inside the import's one transaction.

use super::{EntryOutcome, EntryStatus, ImportSummary, Item, Key, error_at};
use crate::{Actor, App, Error, Result};
use portal_domain::PatientId;
use portal_domain::access::ClinicCapability;
use portal_domain::access::{AccessFacts, Action, authorize};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::record::{Hold, ItemKind, release_time};
use portal_fhir::{CodeSet, Reference};
use portal_store::patients::PatientRow;
use portal_store::resources::{self, ItemWrite, KnownResource, ResourceRow};
use portal_store::{Conn, patients};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The id an item is written under, and what is stored under it already.
struct Placed {
    id: String,
    existing: Option<KnownResource>,
    /// Whose record it is in.
    patient: Option<PatientId>,
    /// The visit it belongs to.
    encounter: Option<String>,
    links: Links,
}

/// A planned entry's place in [`Index::slots`].
type Slot = u32;

/// A resource type, an identifier system and a value.
type IdentifierKey = (&'static str, Box<str>, Box<str>);

/// The entries planned so far: the id each is written under, and how references find them.
/// Kept small, as a large Bundle's entries are all planned before the first is written.
#[derive(Default)]
struct Index {
    /// Each planned entry's type and id, in the order planned.
    slots: Vec<(&'static str, Box<str>)>,
    /// An entry's slot, by its index in the Bundle (or line number), until it is written.
    slot_of: HashMap<usize, Slot>,
    /// What is stored under an entry's id already, until it is written.
    existing: HashMap<Slot, KnownResource>,
    by_full_url: HashMap<Box<str>, Slot>,
    by_source: HashMap<(&'static str, Box<str>), Slot>,
    by_identifier: HashMap<IdentifierKey, Vec<Slot>>,
    /// Identifier look-ups already answered by the database during this import.
    stored: HashMap<(String, String, String), Vec<String>>,
    /// Ids of stored resources already found by type and sender's id during this import (a
    /// file of lab results points at one stored Patient thousands of times).
    stored_by_source: HashMap<(String, String), String>,
}

impl Index {
    /// The type and id of a slot, as a resolved reference.
    fn target(&self, slot: Slot) -> Option<(String, String)> {
        self.slots
            .get(slot as usize)
            .map(|(resource_type, id)| (resource_type.to_string(), id.to_string()))
    }
}

/// What one import has written so far, across its parts.
pub(super) struct Writer<'a> {
    app: &'a App,
    actor: &'a Actor,
    /// The policy's leave to import, which reads of stored records need.
    import: ClinicCapability,
    outcomes: bool,
    now: jiff::Timestamp,
    index: Index,
    seen_sources: HashSet<(&'static str, String)>,
    holds: Vec<Hold>,
    /// For each result a report of this import lists: the report and when it is released.
    report_of: HashMap<String, (String, Option<i64>)>,
    /// The results this import has written (for a planned Bundle): a report in a later part
    /// holds them with it. `None` for NDJSON, which keeps no record of earlier chunks.
    /// Ids are UUIDs, kept as such to stay small.
    results_written: Option<HashSet<uuid::Uuid>>,
    /// Created and updated per patient whose record changed, for the audit trail.
    per_patient: BTreeMap<PatientId, (u64, u64)>,
    other_changes: (u64, u64),
    summary: ImportSummary,
    /// Whether every entry was planned up front (a Bundle); otherwise each part is planned on
    /// its own (NDJSON).
    planned: bool,
}

impl<'a> Writer<'a> {
    pub(super) async fn new(
        app: &'a App,
        actor: &'a Actor,
        tx: &mut portal_store::Tx,
        import: ClinicCapability,
        outcomes: bool,
    ) -> Result<Writer<'a>> {
        let tx: &mut Conn = tx;
        Ok(Writer {
            app,
            actor,
            import,
            outcomes,
            now: app.now(),
            index: Index::default(),
            seen_sources: HashSet::new(),
            holds: portal_store::records::holds(tx).await?,
            report_of: HashMap::new(),
            results_written: None,
            per_patient: BTreeMap::new(),
            other_changes: (0, 0),
            summary: ImportSummary::default(),
            planned: false,
        })
    }

    /// Plans every entry of a Bundle before any part of it is written.
    pub(super) async fn plan_whole(
        &mut self,
        tx: &mut portal_store::Tx,
        keys: &[Key],
    ) -> Result<()> {
        self.plan(tx, keys.iter()).await?;
        self.results_written = Some(HashSet::new());
        self.planned = true;
        Ok(())
    }

    /// Writes one part. Without a plan (NDJSON), the part is planned on its own and what it
    /// resolved to is not kept: memory holds one part's worth, and later lines find earlier
    /// ones in the database.
    pub(super) async fn write_part(
        &mut self,
        tx: &mut portal_store::Tx,
        items: Vec<Item>,
    ) -> Result<()> {
        if self.planned {
            return self.write(tx, items).await;
        }
        self.plan(tx, items.iter().map(|i| &i.key)).await?;
        self.write(tx, items).await?;
        self.index = Index::default();
        self.seen_sources.clear();
        Ok(())
    }

    /// When a result or report is released to the patient (`None`: held until staff release it).
    fn release_of(&self, item: &Item) -> Option<i64> {
        let Some((p, _)) = &item.projection else {
            return Some(portal_store::to_micros(self.now));
        };
        release_time(p.kind, &p.category, &self.holds, self.now).map(portal_store::to_micros)
    }

    /// Gives each entry its id (the stored resource's, or a new one) and records where
    /// references to it point.
    async fn plan(
        &mut self,
        tx: &mut portal_store::Tx,
        keys: impl Iterator<Item = &Key> + Clone,
    ) -> Result<()> {
        let tx: &mut Conn = tx;
        // What is stored already, found in one query per resource type.
        let mut known_by_source: HashMap<(&'static str, String), KnownResource> = HashMap::new();
        let mut source_ids: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
        for key in keys.clone() {
            if let Some(sid) = &key.source_id {
                source_ids.entry(key.resource_type).or_default().push(sid);
            }
        }
        for (resource_type, ids) in &source_ids {
            for (sid, known) in resources::find_many_by_source(tx, resource_type, ids).await? {
                known_by_source.insert((resource_type, sid), known);
            }
        }
        drop(source_ids);
        // What the others' identifiers find, in one query per type and system.
        let mut wanted: BTreeMap<(&'static str, String), Vec<String>> = BTreeMap::new();
        for key in keys.clone() {
            let by_source = key
                .source_id
                .as_ref()
                .is_some_and(|sid| known_by_source.contains_key(&(key.resource_type, sid.clone())));
            if by_source {
                continue;
            }
            // A search that is refused is refused below, in entry order.
            for (system, value) in identifier_searches(key).unwrap_or_default() {
                wanted
                    .entry((key.resource_type, system))
                    .or_default()
                    .push(value);
            }
        }
        let mut found: HashMap<(&'static str, String, String), Vec<KnownResource>> = HashMap::new();
        for ((resource_type, system), values) in &wanted {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            for (value, known) in
                resources::find_many_by_identifier(tx, resource_type, system, &values).await?
            {
                found.insert((resource_type, system.clone(), value), known);
            }
        }
        drop(wanted);
        for key in keys {
            if let Some(sid) = &key.source_id
                && !self.seen_sources.insert((key.resource_type, sid.clone()))
            {
                return Err(error_at(
                    key,
                    &format!("{}.id", key.resource_type),
                    format!("the id {sid:?} appears twice in this import"),
                ));
            }
            let existing =
                match key
                    .source_id
                    .as_ref()
                    .and_then(|sid| known_by_source.remove(&(key.resource_type, sid.clone())))
                {
                    Some(known) => Some(known),
                    None => {
                        identifier_searches(key)?.into_iter().find_map(
                            |(system, value)| match found
                                .get(&(key.resource_type, system, value))
                                .map(Vec::as_slice)
                            {
                                Some([one]) => Some(one.clone()),
                                _ => None,
                            },
                        )
                    }
                };
            let id: Box<str> = match &existing {
                Some(known) => known.id.as_str().into(),
                None if key.resource_type == "Patient" => {
                    PatientId::new_v7(self.app.now()).to_string().into()
                }
                None => uuid::Uuid::now_v7().to_string().into(),
            };
            let index = &mut self.index;
            let slot = Slot::try_from(index.slots.len())
                .map_err(|_| Error::Internal("too many entries in one import".into()))?;
            index.slots.push((key.resource_type, id));
            index.slot_of.insert(key.index, slot);
            if let Some(known) = existing {
                index.existing.insert(slot, known);
            }
            if let Some(url) = &key.full_url {
                index.by_full_url.insert(url.as_str().into(), slot);
            }
            if let Some(sid) = &key.source_id {
                index
                    .by_source
                    .insert((key.resource_type, sid.as_str().into()), slot);
            }
            for (system, value) in &key.identifiers {
                index
                    .by_identifier
                    .entry((
                        key.resource_type,
                        system.as_str().into(),
                        value.as_str().into(),
                    ))
                    .or_default()
                    .push(slot);
            }
        }
        Ok(())
    }

    /// Writes planned items.
    async fn write(&mut self, tx: &mut portal_store::Tx, mut items: Vec<Item>) -> Result<()> {
        let tx: &mut Conn = tx;
        // Patients first: other resources point at them.
        items.sort_by_key(|i| (i.key.resource_type != "Patient", i.key.index));
        let mut placed: Vec<Placed> = Vec::with_capacity(items.len());
        for item in &items {
            let at = self.place(tx, item).await?;
            check_update(tx, &self.import, item, &at).await?;
            placed.push(at);
        }

        // Results a report lists belong to it, and are held while it is.
        for (item, at) in items.iter().zip(&placed) {
            let release = self.release_of(item);
            for member in &at.links.members {
                self.report_of
                    .insert(member.clone(), (at.id.clone(), release));
            }
        }

        // The policy decides for every patient touched.
        for patient in placed.iter().filter_map(|at| at.patient) {
            if !self.per_patient.contains_key(&patient) {
                authorize(
                    &self.actor.principal,
                    patient,
                    Action::WriteRecord,
                    &AccessFacts::default(),
                    self.now,
                )
                .map_err(|_| Error::Forbidden)?;
                self.per_patient.insert(patient, (0, 0));
            }
        }

        let now = self.now;
        // Indexes into `items` of the new resources and of the clinical items to write.
        let mut new_rows: Vec<usize> = Vec::new();
        let mut projected: Vec<usize> = Vec::new();
        let mut directory: Vec<(&str, &str, &str)> = Vec::new();
        for (i, (item, at)) in items.iter().zip(&placed).enumerate() {
            let counts = self
                .summary
                .per_type
                .entry(item.key.resource_type.to_string())
                .or_default();
            counts.read += 1;
            if !item.is_mapped {
                counts.kept_unmapped += 1;
            }
            let status = match &at.existing {
                None => EntryStatus::Created,
                Some(k) if k.content_hash == item.hash => EntryStatus::Unchanged,
                Some(_) => EntryStatus::Updated,
            };
            if self.outcomes {
                self.summary.entries.push(EntryOutcome {
                    index: item.key.index,
                    resource_type: item.key.resource_type.to_string(),
                    id: at.id.clone(),
                    status,
                });
            }
            let created = match status {
                EntryStatus::Unchanged => {
                    counts.unchanged += 1;
                    continue;
                }
                EntryStatus::Created => {
                    counts.created += 1;
                    true
                }
                EntryStatus::Updated => {
                    counts.updated += 1;
                    false
                }
            };
            if let Some(data) = &item.patient {
                write_patient(tx, item, at, data, now).await?;
            }
            if created {
                // New resources are written in batches below.
                new_rows.push(i);
            } else {
                resources::update(tx, &resource_row(item, at), now).await?;
                resources::replace_identifiers(
                    tx,
                    &at.id,
                    item.key.resource_type,
                    &item.key.identifiers,
                    true,
                )
                .await?;
            }
            if item.projection.is_some() && at.patient.is_some() {
                projected.push(i);
            }
            if let Some(name) = &item.directory_name {
                directory.push((at.id.as_str(), item.key.resource_type, name.as_str()));
            }
            let tally = match at.patient {
                Some(p) => self.per_patient.entry(p).or_default(),
                None => &mut self.other_changes,
            };
            if created {
                tally.0 += 1;
            } else {
                tally.1 += 1;
            }
        }

        let rows: Vec<ResourceRow<'_>> = new_rows
            .iter()
            .map(|i| resource_row(&items[*i], &placed[*i]))
            .collect();
        resources::insert_many(tx, &rows, now).await?;
        drop(rows);
        let identifier_rows: Vec<(&str, &str, &str, &str)> = new_rows
            .iter()
            .flat_map(|i| {
                let (item, at) = (&items[*i], &placed[*i]);
                item.key.identifiers.iter().map(move |(system, value)| {
                    (
                        item.key.resource_type,
                        system.as_str(),
                        value.as_str(),
                        at.id.as_str(),
                    )
                })
            })
            .collect();
        resources::insert_identifiers_many(tx, &identifier_rows).await?;
        drop(identifier_rows);
        let clinical: Vec<ItemWrite<'_>> = projected
            .iter()
            .filter_map(|i| self.clinical_item(&items[*i], &placed[*i]))
            .collect();
        resources::put_directory_names(tx, &directory).await?;
        resources::put_clinical_items(tx, &clinical).await?;
        let written: HashSet<&str> = clinical.iter().map(|c| c.resource_id).collect();
        let results: Vec<uuid::Uuid> = match self.results_written {
            Some(_) => clinical
                .iter()
                .filter(|c| c.kind == ItemKind::Observation && c.report_id.is_none())
                .filter_map(|c| uuid::Uuid::parse_str(c.resource_id).ok())
                .collect(),
            None => Vec::new(),
        };
        drop(clinical);
        self.link_earlier_results(tx, &items, &placed, &written)
            .await?;
        if let Some(done) = &mut self.results_written {
            done.extend(results);
        }
        Ok(())
    }

    /// An item's id and what is stored under it (from the plan), and what its references
    /// resolve to: whose record it is in, its visit, who and where it is from.
    async fn place(&mut self, tx: &mut Conn, item: &Item) -> Result<Placed> {
        let slot = self.index.slot_of.remove(&item.key.index).ok_or_else(|| {
            Error::Internal(format!("entry {} was not given an id", item.key.index))
        })?;
        let id = self.index.slots[slot as usize].1.to_string();
        let existing = self.index.existing.remove(&slot);
        let mut links = Links::default();
        let mut patient = if item.key.resource_type == "Patient" {
            Some(crate::parse_patient_id(&id)?)
        } else {
            None
        };
        let mut encounter = None;
        for (path, reference) in &item.refs {
            let Some((target_type, target)) =
                resolve(tx, &mut self.index, &item.key, path, reference).await?
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
            links.note(item.key.resource_type, path, field, &target_type, &target);
            if target_type == "Encounter" && encounter.is_none() && field.starts_with("encounter") {
                encounter = Some(target);
            }
        }
        Ok(Placed {
            id,
            existing,
            patient,
            encounter,
            links,
        })
    }

    /// The list row of a clinical resource, released no sooner than the report that lists it.
    fn clinical_item<'i>(&'i self, item: &'i Item, at: &'i Placed) -> Option<ItemWrite<'i>> {
        let (p, details) = item.projection.as_ref()?;
        let own_release = self.release_of(item);
        let (report_id, released_at) = match self.report_of.get(&at.id) {
            Some((report, report_release)) => (
                Some(report.as_str()),
                own_release.zip(*report_release).map(|(a, b)| a.max(b)),
            ),
            None => (None, own_release),
        };
        Some(ItemWrite {
            resource_id: &at.id,
            patient_id: at.patient?,
            kind: p.kind,
            category: &p.category,
            code_system: &p.code_system,
            code: &p.code,
            label: &p.label,
            status: &p.status,
            sort_at: p.sort_at,
            encounter_id: at.encounter.as_deref(),
            details,
            who_id: at.links.who.as_deref(),
            where_id: at.links.place.as_deref(),
            report_id,
            flag: p.flag,
            released_at,
            sensitivity: p.sensitivity,
        })
    }

    /// Links results written before the report that lists them: by an earlier part of this
    /// import (held with the report, as if written together) or by an earlier import (linked,
    /// and held only if the report is held until released). `written` are those of this part.
    async fn link_earlier_results(
        &self,
        tx: &mut Conn,
        items: &[Item],
        placed: &[Placed],
        written: &HashSet<&str>,
    ) -> Result<()> {
        for (item, at) in items.iter().zip(placed) {
            let (this_import, earlier): (Vec<&str>, Vec<&str>) = at
                .links
                .members
                .iter()
                .map(String::as_str)
                .filter(|m| !written.contains(m))
                .partition(|m| {
                    self.results_written.as_ref().is_some_and(|done| {
                        uuid::Uuid::parse_str(m).is_ok_and(|id| done.contains(&id))
                    })
                });
            let release = self.release_of(item);
            if !this_import.is_empty() {
                resources::link_report_members(tx, &at.id, &this_import, release, true).await?;
            }
            if !earlier.is_empty() {
                resources::link_report_members(tx, &at.id, &earlier, release, false).await?;
            }
        }
        Ok(())
    }

    /// One audit event per patient whose record changed, and one for directory data; the
    /// summary, entries in input order.
    pub(super) async fn finish(mut self, tx: &mut portal_store::Tx) -> Result<ImportSummary> {
        let tx: &mut Conn = tx;
        let (app, actor) = (self.app, self.actor);
        for (patient, (created, updated)) in &self.per_patient {
            if created + updated == 0 {
                continue;
            }
            let mut event = app.event(
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
            app.audit(tx, &event).await?;
        }
        let (created, updated) = self.other_changes;
        if created + updated > 0 {
            let mut event = app.event(actor, AuditAction::Create, "Directory", Outcome::Success);
            event.detail = format!(
                "FHIR import: {created} created, {updated} updated (practitioners, \
                 organizations, locations, …)"
            );
            app.audit(tx, &event).await?;
        }
        self.summary.entries.sort_by_key(|e| e.index);
        Ok(self.summary)
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

/// The `fhir_resources` row of an item.
fn resource_row<'i>(item: &'i Item, at: &'i Placed) -> ResourceRow<'i> {
    ResourceRow {
        id: &at.id,
        resource_type: item.key.resource_type,
        source_id: item.key.source_id.as_deref(),
        patient_id: at.patient,
        content_hash: &item.hash,
        json: &item.json,
    }
}

/// An update never moves a resource to another patient's record, and a Patient found only by an
/// identifier must be the same person.
async fn check_update(
    tx: &mut Conn,
    import: &ClinicCapability,
    item: &Item,
    at: &Placed,
) -> Result<()> {
    let Some(known) = &at.existing else {
        return Ok(());
    };
    if item.key.resource_type != "Patient"
        && known.patient_id.is_some()
        && known.patient_id != at.patient
    {
        return Err(error_at(
            &item.key,
            &format!("{}.{}", item.key.resource_type, compartment_field(item)),
            "this update would move the resource to another patient's record (or out of every \
             record); an update may not change whose record a resource is in"
                .into(),
        ));
    }
    if item.key.resource_type == "Patient"
        && !matched_by_source(&item.key)
        && let Some(data) = &item.patient
        && let Some(stored) =
            patients::get_for_import(tx, import, crate::parse_patient_id(&known.id)?).await?
    {
        let same_birth = data
            .birth_date
            .as_deref()
            .is_none_or(|b| b == stored.birth_date);
        let same_mrn = data.mrn.as_deref().is_none_or(|m| m == stored.mrn);
        if !same_birth || !same_mrn {
            return Err(error_at(
                &item.key,
                "Patient.identifier",
                "this Patient has no id the portal knows and its identifier matches a patient \
                 with another date of birth or medical record number; it is refused rather than \
                 overwrite that record"
                    .into(),
            ));
        }
    }
    Ok(())
}

/// Writes a Patient's `patients` row.
async fn write_patient(
    tx: &mut Conn,
    item: &Item,
    at: &Placed,
    data: &portal_fhir::model::PatientData,
    now: jiff::Timestamp,
) -> Result<()> {
    let row = patient_row(&item.key, &at.id, data)?;
    let details = serde_json::to_string(data)
        .map_err(|e| Error::Internal(format!("cannot serialise a patient: {e}")))?;
    patients::upsert_imported(tx, &row, &at.id, &details, now)
        .await
        .map_err(|e| match e {
            portal_store::Error::Conflict(_) => error_at(
                &item.key,
                "Patient.identifier",
                format!(
                    "the medical record number {:?} belongs to another patient",
                    row.mrn
                ),
            ),
            other => other.into(),
        })?;
    Ok(())
}

/// Whether an item was found by its sender's id (not by an identifier).
fn matched_by_source(key: &Key) -> bool {
    key.source_id.is_some()
        && key
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

/// The identifier searches that find the stored resource an incoming one updates when its
/// sender's id found none, in the order they are tried: the conditional-create identifier, else
/// (for a resource without an id) each of its identifiers. An identifier without a system is
/// unique nowhere: it never picks the resource to update.
fn identifier_searches(key: &Key) -> Result<Vec<(String, String)>> {
    let mut searches: Vec<(String, String)> = Vec::new();
    if let Some(search) = key
        .request
        .as_ref()
        .and_then(|r| r.if_none_exist_identifier())
    {
        let Some(system) = search.system else {
            return Err(error_at(
                key,
                "request.ifNoneExist",
                "the condition needs a system (identifier=system|value): an identifier without \
                 one can match any record"
                    .into(),
            ));
        };
        searches.push((system, search.value));
    }
    if key.source_id.is_none() {
        searches.extend(key.identifiers.iter().cloned());
    }
    searches.retain(|(system, _)| !system.is_empty());
    Ok(searches)
}

/// Resolves one reference to (type, portal id). Logical references to identifiers nobody here
/// holds, contained and absolute external references are kept as they are (`None`); anything
/// else that does not resolve refuses the whole import.
async fn resolve(
    conn: &mut Conn,
    index: &mut Index,
    key: &Key,
    path: &str,
    reference: &Reference,
) -> Result<Option<(String, String)>> {
    let broken = |what: String| error_at(key, path, what);
    match reference {
        Reference::Internal(url) => match index
            .by_full_url
            .get(url.as_str())
            .and_then(|slot| index.target(*slot))
        {
            Some(found) => Ok(Some(found)),
            None => Err(broken(format!(
                "reference {url:?} does not resolve to an entry"
            ))),
        },
        Reference::Relative { resource_type, id } => {
            if let Some(found) = portal_fhir::r4_resource_type(resource_type)
                .and_then(|static_type| index.by_source.get(&(static_type, id.as_str().into())))
                .and_then(|slot| index.target(*slot))
            {
                return Ok(Some(found));
            }
            let key = (resource_type.clone(), id.clone());
            if let Some(found) = index.stored_by_source.get(&key) {
                return Ok(Some((resource_type.clone(), found.clone())));
            }
            match resources::find_by_source(conn, resource_type, id).await? {
                Some(known) => {
                    index.stored_by_source.insert(key, known.id.clone());
                    Ok(Some((resource_type.clone(), known.id)))
                }
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
        Some(system) => match portal_fhir::r4_resource_type(resource_type) {
            Some(static_type) => index
                .by_identifier
                .get(&(static_type, system.into(), value.into()))
                .map(|slots| {
                    slots
                        .iter()
                        .filter_map(|slot| index.target(*slot).map(|(_, id)| id))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        },
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

fn patient_row(key: &Key, id: &str, data: &portal_fhir::model::PatientData) -> Result<PatientRow> {
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
        .or_else(|| key.source_id.as_ref().map(|id| format!("FHIR-{id}")))
        .unwrap_or_else(|| format!("FHIR-{id}"));
    Ok(PatientRow {
        id: crate::parse_patient_id(id)?,
        mrn,
        given_name: given,
        family_name: family,
        birth_date: data.birth_date.clone().unwrap_or_default(),
        sex: data
            .gender
            .map_or_else(|| "unknown".to_string(), |g| g.code().to_string()),
    })
}
