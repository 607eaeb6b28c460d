//! The writing side of an import: ids given, references resolved, the policy asked, rows and
//! audit events written, a part at a time inside the import's one transaction.

use super::{EntryOutcome, EntryStatus, ImportSummary, Item, Key, error_at};
use crate::{Actor, App, Error, Result};
use portal_domain::PatientId;
use portal_domain::access::ClinicCapability;
use portal_domain::access::{AccessFacts, Action, authorize};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::record::{Hold, ItemKind, release_time};
use portal_store::Conn;
use portal_store::resources::{self, ItemWrite, KnownResource, ResourceRow, SearchTerm};
use std::collections::{BTreeMap, HashMap, HashSet};

use super::ownership::{check_update, write_patient};
use super::resolve::{Index, Placed, Slot, identifier_searches, resolve};
use portal_fhir::compartment::Links;

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
        tx: &mut Conn,
        import: ClinicCapability,
        outcomes: bool,
    ) -> Result<Writer<'a>> {
        let holds = portal_store::records::holds(tx, &import).await?;
        Ok(Writer {
            app,
            actor,
            import,
            outcomes,
            now: app.now(),
            index: Index::default(),
            seen_sources: HashSet::new(),
            holds,
            report_of: HashMap::new(),
            results_written: None,
            per_patient: BTreeMap::new(),
            other_changes: (0, 0),
            summary: ImportSummary::default(),
            planned: false,
        })
    }

    /// Plans every entry of a Bundle before any part of it is written.
    pub(super) async fn plan_whole(&mut self, tx: &mut Conn, keys: &[Key]) -> Result<()> {
        self.plan(tx, keys.iter()).await?;
        self.results_written = Some(HashSet::new());
        self.planned = true;
        Ok(())
    }

    /// Writes one part. Without a plan (NDJSON), the part is planned on its own and what it
    /// resolved to is not kept: memory holds one part's worth, and later lines find earlier
    /// ones in the database.
    pub(super) async fn write_part(&mut self, tx: &mut Conn, items: Vec<Item>) -> Result<()> {
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
        tx: &mut Conn,
        keys: impl Iterator<Item = &Key> + Clone,
    ) -> Result<()> {
        // What is stored already, found in few queries.
        let source_keys: Vec<(&str, &str)> = keys
            .clone()
            .filter_map(|key| Some((key.resource_type, key.source_id.as_deref()?)))
            .collect();
        let mut known_by_source: HashMap<(&'static str, String), KnownResource> = HashMap::new();
        let stored = resources::find_many_by_source_keys(tx, &self.import, &source_keys).await?;
        drop(source_keys);
        for key in keys.clone() {
            if let Some(sid) = &key.source_id
                && let Some(known) = stored.get(&(key.resource_type.to_string(), sid.clone()))
            {
                known_by_source.insert((key.resource_type, sid.clone()), known.clone());
            }
        }
        drop(stored);
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
                resources::find_many_by_identifier(tx, &self.import, resource_type, system, &values)
                    .await?
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
    async fn write(&mut self, tx: &mut Conn, mut items: Vec<Item>) -> Result<()> {
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
        // Indexes of the resources created or updated, whose search terms are written below.
        let mut indexed: Vec<usize> = Vec::new();
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
                write_patient(tx, &self.import, item, at, data, now).await?;
            }
            if created {
                // New resources are written in batches below.
                new_rows.push(i);
                indexed.push(i);
            } else {
                let refs = at.refs.to_text();
                resources::update(tx, &self.import, &resource_row(item, at, &refs), now).await?;
                resources::clear_search_terms(tx, &self.import, &[&at.id]).await?;
                indexed.push(i);
                resources::replace_identifiers(
                    tx,
                    &self.import,
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

        let refs: Vec<String> = new_rows.iter().map(|i| placed[*i].refs.to_text()).collect();
        let rows: Vec<ResourceRow<'_>> = new_rows
            .iter()
            .zip(&refs)
            .map(|(i, refs)| resource_row(&items[*i], &placed[*i], refs))
            .collect();
        resources::insert_many(tx, &self.import, &rows, now).await?;
        drop(rows);
        drop(refs);
        self.write_search_terms(tx, &items, &placed, &indexed)
            .await?;
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
        resources::insert_identifiers_many(tx, &self.import, &identifier_rows).await?;
        drop(identifier_rows);
        let clinical: Vec<ItemWrite<'_>> = projected
            .iter()
            .filter_map(|i| self.clinical_item(&items[*i], &placed[*i]))
            .collect();
        resources::put_directory_names(tx, &self.import, &directory).await?;
        resources::put_clinical_items(tx, &self.import, &clinical).await?;
        let written: HashSet<&str> = clinical.iter().map(|c| c.resource_id).collect();
        let results: Vec<uuid::Uuid> = match self.results_written {
            Some(_) => clinical
                .iter()
                .filter(|c| c.columns.kind == ItemKind::Observation && c.report_id.is_none())
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

    /// Writes the search terms of the items at `indexed`.
    async fn write_search_terms(
        &self,
        tx: &mut Conn,
        items: &[Item],
        placed: &[Placed],
        indexed: &[usize],
    ) -> Result<()> {
        let patients: Vec<Option<String>> = indexed
            .iter()
            .map(|i| placed[*i].patient.map(|p| p.to_string()))
            .collect();
        let targets: Vec<Vec<String>> = indexed
            .iter()
            .map(|i| match items[*i].key.resource_type {
                "Provenance" => placed[*i]
                    .refs
                    .targets()
                    .map(|(t, id)| format!("{t}/{id}"))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        let terms: Vec<SearchTerm<'_>> = indexed
            .iter()
            .zip(patients.iter().zip(&targets))
            .flat_map(|(i, (patient, targets))| {
                search_terms(&items[*i], &placed[*i], patient.as_deref(), targets)
            })
            .collect();
        resources::put_search_terms(tx, &self.import, &terms).await?;
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
        let mut refs = portal_fhir::serve::ResolvedRefs::default();
        for (path, reference) in &item.refs {
            let Some((target_type, target)) = resolve(
                tx,
                &self.import,
                &mut self.index,
                &item.key,
                path,
                reference,
            )
            .await?
            else {
                continue;
            };
            refs.note(reference, &target_type, &target);
            let field = path.rsplit_once('.').map_or(path.as_str(), |(_, f)| f);
            // A Provenance is in the record of the patient it is about.
            let names_patient = matches!(field, "subject" | "patient" | "beneficiary")
                || (item.key.resource_type == "Provenance"
                    && path.starts_with("Provenance.target"));
            if target_type == "Patient" && patient.is_none() && names_patient {
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
            refs,
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
            columns: p,
            encounter_id: at.encounter.as_deref(),
            details,
            who_id: at.links.who.as_deref(),
            where_id: at.links.place.as_deref(),
            report_id,
            released_at,
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
                resources::link_report_members(
                    tx,
                    &self.import,
                    &at.id,
                    &this_import,
                    release,
                    true,
                )
                .await?;
            }
            if !earlier.is_empty() {
                resources::link_report_members(tx, &self.import, &at.id, &earlier, release, false)
                    .await?;
            }
        }
        Ok(())
    }

    /// One audit event per patient whose record changed, and one for directory data; the
    /// summary, entries in input order.
    pub(super) async fn finish(mut self, tx: &mut Conn) -> Result<ImportSummary> {
        let (app, actor) = (self.app, self.actor);
        // Every record's pages change when a practitioner, organization or place does, and
        // the changed records' pages when they do. Both are taken before the audit trail's
        // head, in the order every writer takes them (the epoch, a patient's row, the head:
        // result-hold changes take the epoch and then the head, a result's release the
        // patient's row and then the head), so no two transactions each hold what the other
        // waits for.
        let (created, updated) = self.other_changes;
        if created + updated > 0 {
            portal_store::access::touch_all_records(tx).await?;
        }
        let changed: Vec<PatientId> = self
            .per_patient
            .iter()
            .filter(|(_, (created, updated))| created + updated > 0)
            .map(|(patient, _)| *patient)
            .collect();
        portal_store::access::touch_records(tx, &changed).await?;
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

/// The `fhir_resources` row of an item, with what its references resolved to as text.
fn resource_row<'i>(item: &'i Item, at: &'i Placed, refs: &'i str) -> ResourceRow<'i> {
    ResourceRow {
        id: &at.id,
        resource_type: item.key.resource_type,
        source_id: item.key.source_id.as_deref(),
        patient_id: at.patient,
        content_hash: &item.hash,
        json: &item.json,
        refs,
    }
}

/// The search terms of an item: those its JSON gives, and for a Provenance the resources it
/// is about (for `_revinclude=Provenance:target`).
fn search_terms<'i>(
    item: &'i Item,
    at: &'i Placed,
    patient: Option<&'i str>,
    targets: &'i [String],
) -> impl Iterator<Item = SearchTerm<'i>> {
    let row = move |param: &'i str, system: &'i str, value: &'i str, span| SearchTerm {
        resource_id: &at.id,
        resource_type: item.key.resource_type,
        patient_id: patient,
        param,
        system,
        value,
        span,
    };
    let tokens = item
        .terms
        .tokens()
        .map(move |(param, system, value)| row(param, system, value, None));
    let dates = item
        .terms
        .dates
        .iter()
        .map(move |(param, low, high)| row(param, "", "", Some((*low, *high))));
    let targets = targets.iter().map(move |t| row("target", "", t, None));
    tokens.chain(dates).chain(targets)
}
