//! The patient's health record as the pages show it: summary, results (with release holds and
//! trends), visits and documents. Every read is one policy decision and one audit event; the
//! patient and their proxies see results only once released, the care team sees them all.

use crate::{Actor, App, Error, Result, commit};
use portal_domain::ResourceId;
use portal_domain::access::{AccessBasis, Action, ClinicAction, authorize_clinic};
use portal_domain::audit::AuditAction;
use portal_domain::record::{
    ClinicalItem, Flag, Hold, ItemKind, VITAL_SIGNS, check_hold, is_pending_panel,
};
use portal_domain::{PatientAccess, PatientId, Principal};
use portal_fhir::Mapped;
use portal_fhir::model::Attachment;
use portal_store::Conn;
use portal_store::patients::{self, PatientRow};
use portal_store::records::{self, ItemQuery, ItemRow};
use std::collections::{HashMap, HashSet};

/// A clinical item with its mapped resource (`None` if the stored details cannot be read,
/// which is logged).
pub type Item = ClinicalItem<Option<Mapped>>;

/// Reads a stored item's details into the mapped resource.
fn item_of(row: ItemRow) -> Item {
    let id = row.resource_id;
    row.map_details(|details| match serde_json::from_str::<Mapped>(&details) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(resource = %id, error = %e, "stored details unreadable");
            None
        }
    })
}

fn items(rows: Vec<ItemRow>) -> Vec<Item> {
    rows.into_iter().map(item_of).collect()
}

/// A record page's header data: who the patient is and on what basis the viewer sees them.
#[derive(Debug)]
pub struct RecordHead {
    /// The patient.
    pub patient: PatientRow,
    /// The policy's decision.
    pub access: PatientAccess,
}

/// What the health summary shows.
#[derive(Debug, Default)]
pub struct Summary {
    /// Problems (conditions), newest first.
    pub conditions: Vec<Item>,
    /// Allergies and intolerances.
    pub allergies: Vec<Item>,
    /// Medication orders, newest first.
    pub medications: Vec<Item>,
    /// Immunizations given, newest first.
    pub immunizations: Vec<Item>,
    /// The latest value of each vital sign.
    pub vitals: Vec<Item>,
}

/// A line of the results list: a report with its results, or a result on its own.
#[derive(Debug)]
pub struct ResultLine {
    /// The report or result.
    pub item: Item,
    /// For a report: how many results it lists, and the worst flag among them.
    pub members: usize,
    /// The worst flag of the report and its results.
    pub worst_flag: Flag,
    /// Not yet opened by this account.
    pub unread: bool,
    /// Not yet visible to the patient.
    pub held: bool,
    /// A result released before the rest of its panel: its report is still held.
    pub pending_panel: bool,
}

/// Filters of the results list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultFilter {
    /// Part of the test's name.
    pub name: String,
    /// From this date (UTC microseconds), inclusive.
    pub from: Option<i64>,
    /// Up to this date, exclusive.
    pub until: Option<i64>,
}

/// One result or report opened.
#[derive(Debug)]
pub struct ResultDetail {
    /// The result or report.
    pub item: Item,
    /// For a report: its results.
    pub members: Vec<Item>,
    /// For a result: the same test over time, oldest first.
    pub history: Vec<Item>,
    /// The clinician who ordered it, or the visit's clinician.
    pub ordered_by: Option<String>,
    /// Not yet visible to the patient.
    pub held: bool,
    /// A result released before the rest of its panel: its report is still held.
    pub pending_panel: bool,
    /// Of its results or its history, those not yet visible to the patient.
    pub held_results: HashSet<ResourceId>,
}

/// A visit opened.
#[derive(Debug)]
pub struct VisitDetail {
    /// The encounter.
    pub visit: Item,
    /// Everything recorded at it: diagnoses, notes, results, medications, procedures, …
    pub items: Vec<Item>,
    /// Results shown on their own line: those of no report, or of a report the viewer cannot
    /// see yet.
    pub stand_alone: HashSet<ResourceId>,
    /// Of its items and the reports listing them, those not yet visible to the patient.
    pub held: HashSet<ResourceId>,
}

/// A document to download.
#[derive(Debug)]
pub struct Download {
    /// A file name without health data in it.
    pub file_name: String,
    /// The MIME type.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl App {
    /// The answer when a record the viewer may open has no such item (or it is another
    /// patient's): the refusal is audited, the page is the same 404 as any missing record.
    async fn missing_item(
        &self,
        actor: &Actor,
        access: &PatientAccess,
        audit_type: &str,
        resource_id: ResourceId,
    ) -> Error {
        let mut event = self.patient_event(actor, access, AuditAction::Read, audit_type);
        event.outcome = portal_domain::audit::Outcome::Denied;
        event.resource_id = Some(resource_id.to_string());
        event.detail = "no such item in this record".into();
        if let Err(e) = self.audit_alone(&event).await {
            return e;
        }
        Error::NotFound
    }

    /// Authorises `action` on the patient, reads their header, and writes the audit event.
    async fn open_record(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
        audit_type: &str,
        resource_id: Option<ResourceId>,
    ) -> Result<(RecordHead, portal_store::Tx)> {
        let (access, mut tx) = self.open_patient(actor, patient, action).await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let mut event = self.patient_event(actor, &access, AuditAction::Read, audit_type);
        event.resource_id = resource_id.map(|id| id.to_string());
        self.audit(&mut tx, &event).await?;
        Ok((
            RecordHead {
                patient: row,
                access,
            },
            tx,
        ))
    }

    /// The health summary: problems, allergies, medications, immunizations, latest vitals.
    pub async fn health_summary(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Summary)> {
        let (head, mut tx) = self
            .open_record(actor, patient, Action::ViewRecord, "HealthSummary", None)
            .await?;
        let now = self.now();
        let listed = records::list(
            &mut tx,
            &head.access,
            &ItemQuery {
                kinds: &[
                    ItemKind::Condition,
                    ItemKind::Allergy,
                    ItemKind::MedicationRequest,
                    ItemKind::Immunization,
                ],
                limit: 5_000,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        let vitals = latest_vitals(&mut tx, &head.access, now).await?;
        commit(tx).await?;
        let mut summary = Summary {
            vitals,
            ..Summary::default()
        };
        for item in items(listed) {
            match item.kind {
                ItemKind::Condition => summary.conditions.push(item),
                ItemKind::Allergy => summary.allergies.push(item),
                ItemKind::MedicationRequest => summary.medications.push(item),
                _ => summary.immunizations.push(item),
            }
        }
        Ok((head, summary))
    }

    /// Test results, newest first: reports with their results, and results on their own.
    pub async fn test_results(
        &self,
        actor: &Actor,
        patient: PatientId,
        filter: &ResultFilter,
    ) -> Result<(RecordHead, Vec<ResultLine>)> {
        let (head, mut tx) = self
            .open_record(actor, patient, Action::ViewRecord, "ResultList", None)
            .await?;
        let now = self.now();
        let rows = records::list(
            &mut tx,
            &head.access,
            &ItemQuery {
                kinds: ItemKind::RESULTS,
                label_contains: filter.name.trim(),
                from: filter.from,
                until: filter.until,
                limit: 2_000,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        // Results whose name matched bring their report in.
        let mut reports: Vec<ItemRow> = Vec::new();
        let mut seen: HashSet<ResourceId> = HashSet::new();
        let mut stand_alone: Vec<ItemRow> = Vec::new();
        let mut members_of: HashMap<ResourceId, Vec<ItemRow>> = HashMap::new();
        for row in rows.into_iter().filter(ItemRow::is_result) {
            if row.kind == ItemKind::DiagnosticReport {
                if seen.insert(row.resource_id) {
                    reports.push(row);
                }
            } else if let Some(report) = row.report_id {
                members_of.entry(report).or_default().push(row);
            } else {
                stand_alone.push(row);
            }
        }
        let unlisted: Vec<ResourceId> = members_of
            .keys()
            .filter(|id| !seen.contains(*id))
            .copied()
            .collect();
        for report_id in unlisted {
            match records::get(&mut tx, &head.access, report_id, now).await? {
                Some(report) => {
                    seen.insert(report_id);
                    reports.push(report);
                }
                // A report the viewer may not see yet: its released results stand on their own.
                None => stand_alone.extend(members_of.remove(&report_id).unwrap_or_default()),
            }
        }
        let ids: Vec<ResourceId> = reports
            .iter()
            .chain(&stand_alone)
            .map(|r| r.resource_id)
            .collect();
        let read = match viewer(actor) {
            Some(user) => records::read_among(&mut tx, &head.access, user, &ids).await?,
            None => HashSet::new(),
        };
        let mut asked = ids.clone();
        asked.extend(stand_alone.iter().filter_map(|r| r.report_id));
        let held = records::held_among(&mut tx, &head.access, &asked, now).await?;
        commit(tx).await?;
        let mut lines: Vec<ResultLine> = reports
            .into_iter()
            .chain(stand_alone)
            .map(|row| {
                let members = members_of.get(&row.resource_id);
                let worst = Flag::worst(
                    members
                        .into_iter()
                        .flatten()
                        .map(|m| m.flag)
                        .chain(std::iter::once(row.flag)),
                );
                ResultLine {
                    members: members.map_or(0, Vec::len),
                    worst_flag: worst,
                    unread: viewer(actor).is_some() && !read.contains(&row.resource_id),
                    held: held.contains(&row.resource_id),
                    pending_panel: pending_panel(&row, &held),
                    item: item_of(row),
                }
            })
            .collect();
        lines.sort_by(|a, b| {
            b.item
                .sort_at
                .cmp(&a.item.sort_at)
                .then_with(|| a.item.resource_id.cmp(&b.item.resource_id))
        });
        Ok((head, lines))
    }

    /// One result or report, with its results or its history; marks it read for the viewer.
    pub async fn test_result(
        &self,
        actor: &Actor,
        patient: PatientId,
        resource_id: ResourceId,
    ) -> Result<(RecordHead, ResultDetail)> {
        let (head, mut tx) = self
            .open_record(
                actor,
                patient,
                Action::ViewRecord,
                "Result",
                Some(resource_id),
            )
            .await?;
        let now = self.now();
        let Some(row) = records::get(&mut tx, &head.access, resource_id, now)
            .await?
            .filter(|r| ItemKind::RESULTS.contains(&r.kind))
        else {
            drop(tx);
            return Err(self
                .missing_item(actor, &head.access, "Result", resource_id)
                .await);
        };
        let (members, history) = if row.kind == ItemKind::DiagnosticReport {
            let members = records::list(
                &mut tx,
                &head.access,
                &ItemQuery {
                    kinds: &[ItemKind::Observation],
                    report_id: Some(row.resource_id),
                    limit: 500,
                    ..ItemQuery::default()
                },
                now,
            )
            .await?;
            (members, Vec::new())
        } else {
            let mut history = records::list(
                &mut tx,
                &head.access,
                &ItemQuery {
                    kinds: &[ItemKind::Observation],
                    code: Some((&row.code_system, &row.code)),
                    limit: 500,
                    ..ItemQuery::default()
                },
                now,
            )
            .await?;
            history.reverse();
            (Vec::new(), history)
        };
        // The visit's clinician ordered it; a report's own performer is often the lab.
        let visit_clinician = match row.encounter_id {
            Some(encounter) => records::get(&mut tx, &head.access, encounter, now)
                .await?
                .and_then(|e| e.who_name),
            None => None,
        };
        let ordered_by = visit_clinician.or_else(|| row.who_name.clone());
        if let Some(user) = viewer(actor) {
            let mut opened = vec![row.resource_id];
            opened.extend(members.iter().map(|m| m.resource_id));
            records::mark_read(&mut tx, &head.access, user, &opened, now).await?;
        }
        let mut asked = vec![row.resource_id];
        asked.extend(row.report_id);
        asked.extend(members.iter().chain(&history).map(|r| r.resource_id));
        let mut held = records::held_among(&mut tx, &head.access, &asked, now).await?;
        commit(tx).await?;
        let pending_panel = pending_panel(&row, &held);
        let is_held = held.remove(&row.resource_id);
        if let Some(report) = &row.report_id {
            held.remove(report);
        }
        Ok((
            head,
            ResultDetail {
                held: is_held,
                pending_panel,
                held_results: held,
                item: item_of(row),
                members: items(members),
                history: items(history),
                ordered_by,
            },
        ))
    }

    /// Releases a held result (or report, with its results) to the patient now.
    pub async fn release_result(
        &self,
        actor: &Actor,
        patient: PatientId,
        resource_id: ResourceId,
    ) -> Result<u64> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ReleaseResult)
            .await?;
        let released = records::release(&mut tx, &access, resource_id, self.now()).await?;
        if released == 0 {
            drop(tx);
            return Err(self
                .missing_item(actor, &access, "ResultRelease", resource_id)
                .await);
        }
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "ResultRelease");
        event.resource_id = Some(resource_id.to_string());
        event.detail = format!("released {released} item(s) to the patient");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(released)
    }

    /// Past visits, newest first.
    pub async fn visits(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Vec<Item>)> {
        self.list_of(
            actor,
            patient,
            (Action::ViewNotes, "VisitList"),
            &[ItemKind::Encounter],
        )
        .await
    }

    /// Medication orders, current and past, newest first.
    pub async fn medications(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Vec<Item>)> {
        self.list_of(
            actor,
            patient,
            (Action::ViewRecord, "MedicationList"),
            &[ItemKind::MedicationRequest],
        )
        .await
    }

    /// One record list of some kinds, newest first: policy, read, audit.
    async fn list_of(
        &self,
        actor: &Actor,
        patient: PatientId,
        (action, audit_type): (Action, &str),
        kinds: &[ItemKind],
    ) -> Result<(RecordHead, Vec<Item>)> {
        let (head, mut tx) = self
            .open_record(actor, patient, action, audit_type, None)
            .await?;
        let rows = records::list(
            &mut tx,
            &head.access,
            &ItemQuery {
                kinds,
                limit: 2_000,
                ..ItemQuery::default()
            },
            self.now(),
        )
        .await?;
        commit(tx).await?;
        Ok((head, items(rows)))
    }

    /// One visit with what was recorded at it.
    pub async fn visit(
        &self,
        actor: &Actor,
        patient: PatientId,
        visit_id: ResourceId,
    ) -> Result<(RecordHead, VisitDetail)> {
        let (head, mut tx) = self
            .open_record(actor, patient, Action::ViewNotes, "Visit", Some(visit_id))
            .await?;
        let now = self.now();
        let Some(visit) = records::get(&mut tx, &head.access, visit_id, now)
            .await?
            .filter(|r| r.kind == ItemKind::Encounter)
        else {
            drop(tx);
            return Err(self
                .missing_item(actor, &head.access, "Visit", visit_id)
                .await);
        };
        let rows = records::list(
            &mut tx,
            &head.access,
            &ItemQuery {
                kinds: &[
                    ItemKind::Condition,
                    ItemKind::Document,
                    ItemKind::DiagnosticReport,
                    ItemKind::Observation,
                    ItemKind::MedicationRequest,
                    ItemKind::Procedure,
                    ItemKind::Immunization,
                    ItemKind::CarePlan,
                    ItemKind::Allergy,
                ],
                encounter_id: Some(visit_id),
                limit: 2_000,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        // A result listed by a report stands on its own only while the viewer cannot see the
        // report (the report may be of another visit).
        let here: HashSet<ResourceId> = rows.iter().map(|r| r.resource_id).collect();
        let elsewhere: HashSet<ResourceId> = rows
            .iter()
            .filter_map(|r| r.report_id)
            .filter(|report| !here.contains(report))
            .collect();
        let mut unseen_reports = HashSet::new();
        for report in &elsewhere {
            if records::get(&mut tx, &head.access, *report, now)
                .await?
                .is_none()
            {
                unseen_reports.insert(*report);
            }
        }
        let stand_alone = rows
            .iter()
            .filter(|r| r.kind == ItemKind::Observation)
            .filter(|r| {
                r.report_id
                    .is_none_or(|report| unseen_reports.contains(&report))
            })
            .map(|r| r.resource_id)
            .collect();
        let asked: Vec<ResourceId> = here.iter().chain(&elsewhere).copied().collect();
        let held = records::held_among(&mut tx, &head.access, &asked, now).await?;
        commit(tx).await?;
        Ok((
            head,
            VisitDetail {
                visit: item_of(visit),
                items: items(rows),
                stand_alone,
                held,
            },
        ))
    }

    /// Clinical documents (notes), newest first.
    pub async fn documents(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Vec<Item>)> {
        self.list_of(
            actor,
            patient,
            (Action::ViewNotes, "DocumentList"),
            &[ItemKind::Document],
        )
        .await
    }

    /// One document's content, to download.
    pub async fn document_download(
        &self,
        actor: &Actor,
        patient: PatientId,
        document_id: ResourceId,
    ) -> Result<Download> {
        let (head, mut tx) = self
            .open_record(
                actor,
                patient,
                Action::ViewNotes,
                "Document",
                Some(document_id),
            )
            .await?;
        let Some(row) = records::get(&mut tx, &head.access, document_id, self.now())
            .await?
            .filter(|r| r.kind == ItemKind::Document)
        else {
            drop(tx);
            return Err(self
                .missing_item(actor, &head.access, "Document", document_id)
                .await);
        };
        let raw = portal_store::resources::json(&mut tx, &head.access, row.resource_id).await?;
        commit(tx).await?;
        let sort_at = row.sort_at;
        let attachment = match item_of(row).details {
            Some(Mapped::DocumentReference(doc)) => doc.contents.into_iter().next(),
            _ => None,
        }
        .ok_or(Error::NotFound)?;
        let date = sort_at
            .and_then(|at| jiff::Timestamp::from_microsecond(at).ok())
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "undated".into());
        download_of(&attachment, raw.as_deref(), &date)
    }

    /// How many released results this viewer has not opened yet, given the access the policy
    /// granted for the page asking (the home page); 0 unless that access covers the clinical
    /// record of a patient-side account (own record, or a proxy with full access).
    pub async fn unread_result_count(&self, actor: &Actor, access: &PatientAccess) -> Result<i64> {
        let Some(user) = viewer(actor) else {
            return Ok(0);
        };
        if !matches!(
            access.basis(),
            AccessBasis::OwnRecord | AccessBasis::Proxy(portal_domain::access::ProxyScope::Full)
        ) {
            return Ok(0);
        }
        let mut conn = self.conn().await?;
        Ok(records::unread_results(&mut conn, access, user, self.now()).await?)
    }

    /// The clinic's result holds (admins).
    pub async fn result_holds(&self, actor: &Actor) -> Result<Vec<Hold>> {
        authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(records::holds(&mut conn).await?)
    }

    /// Holds results of a category for `days` days, or until released (`None`).
    pub async fn set_result_hold(
        &self,
        actor: &Actor,
        category: &str,
        days: Option<i64>,
    ) -> Result<()> {
        authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let Principal::User { id, .. } = &actor.principal else {
            return Err(Error::Forbidden);
        };
        let hold = check_hold(category, days).map_err(Error::Rejected)?;
        let category = hold.category.as_str();
        let mut tx = self.store().begin().await?;
        records::set_hold(&mut tx, &hold, *id, self.now()).await?;
        let mut event = self.event(
            actor,
            AuditAction::Update,
            "ResultReleaseRule",
            portal_domain::audit::Outcome::Success,
        );
        event.detail = match days {
            Some(d) => format!("hold {category} results for {d} day(s)"),
            None => format!("hold {category} results until released"),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Stops holding a category.
    pub async fn remove_result_hold(&self, actor: &Actor, category: &str) -> Result<()> {
        authorize_clinic(&actor.principal, ClinicAction::ConfigureResultRelease)
            .map_err(|_| Error::Forbidden)?;
        let mut tx = self.store().begin().await?;
        let category = category.trim();
        if records::remove_hold(&mut tx, category).await? == 0 {
            return Err(Error::NotFound);
        }
        let mut event = self.event(
            actor,
            AuditAction::Delete,
            "ResultReleaseRule",
            portal_domain::audit::Outcome::Success,
        );
        event.detail = format!("stop holding {category} results");
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }
}

/// Whether a result is out before the rest of its panel: the report listing it is still held.
fn pending_panel(row: &ItemRow, held: &HashSet<ResourceId>) -> bool {
    is_pending_panel(row.kind, row.report_id.is_some_and(|r| held.contains(&r)))
}

/// The account whose "read" markers apply: patient-side users (the patient and proxies).
fn viewer(actor: &Actor) -> Option<portal_domain::UserId> {
    match &actor.principal {
        Principal::User {
            id,
            role: portal_domain::Role::Patient,
            ..
        } => Some(*id),
        _ => None,
    }
}

/// The latest value of each vital sign (by code).
async fn latest_vitals(
    conn: &mut Conn,
    access: &PatientAccess,
    now: jiff::Timestamp,
) -> Result<Vec<Item>> {
    let rows = records::list(
        conn,
        access,
        &ItemQuery {
            kinds: &[ItemKind::Observation],
            category: Some(VITAL_SIGNS),
            limit: 300,
            ..ItemQuery::default()
        },
        now,
    )
    .await?;
    let mut seen = HashSet::new();
    Ok(items(
        rows.into_iter()
            .filter(|r| seen.insert((r.code_system.clone(), r.code.clone())))
            .collect(),
    ))
}

/// The bytes of an attachment: its decoded text, or its inline data read from the stored JSON.
fn download_of(attachment: &Attachment, raw: Option<&str>, date: &str) -> Result<Download> {
    let content_type = attachment
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let extension = match content_type.split(';').next().unwrap_or("").trim() {
        "text/plain" => "txt",
        "text/html" => "html.txt",
        "application/pdf" => "pdf",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        _ => "bin",
    };
    let file_name = format!("clinical-note-{date}.{extension}");
    if let Some(text) = &attachment.text {
        // Text is always served as plain text, so HTML in a note is never rendered.
        return Ok(Download {
            file_name,
            content_type: "text/plain; charset=utf-8".into(),
            bytes: text.clone().into_bytes(),
        });
    }
    if attachment.has_binary {
        // The stored JSON is read with the importer's parser, which refuses repeated keys: the
        // bytes served are the ones the import checked, never a second "data" it did not see.
        use portal_fhir::json::{JsonContainerTrait, JsonValueTrait};
        let stored = raw
            .map(|json| portal_fhir::json::parse(json.as_bytes()))
            .transpose()
            .map_err(|_| Error::Internal("stored document is not readable JSON".into()))?;
        let data = stored
            .as_ref()
            .and_then(|v| {
                v.get("content")?
                    .as_array()?
                    .first()?
                    .get("attachment")?
                    .get("data")?
                    .as_str()
                    .map(str::to_string)
            })
            .ok_or(Error::NotFound)?;
        let bytes = data_encoding::BASE64
            .decode(data.as_bytes())
            .map_err(|_| Error::Internal("stored attachment is not base64".into()))?;
        return Ok(Download {
            file_name,
            content_type,
            bytes,
        });
    }
    Err(Error::NotFound)
}
