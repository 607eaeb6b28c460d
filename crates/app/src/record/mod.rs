//! The patient's health record as the pages show it: summary, results (with release holds and
//! trends), visits and documents. Every read is one policy decision and one audit event; what a
//! viewer sees of held results and confidential items is the policy's `Visibility`, applied by
//! the store in every query.

mod holds;
pub use holds::{CategoryCount, UNTIL_RELEASED_REACH_DAYS};
mod results;
mod visits;

pub use results::{
    ResultDetail, ResultFilter, ResultLine, ResultList, SavedResultFilter, TrendLink,
};
pub use visits::{Download, VisitDetail};

use crate::services::Records;
use crate::{Actor, Error, Result, commit};
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

/// The audit event of a read in progress: [`Records::finish_read`] records it.
#[must_use = "a read is shown only once its event is recorded: pass it to finish_read"]
pub(crate) struct ReadEvent(portal_domain::audit::AuditEvent);

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

impl Records {
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

    /// Authorises `action` on the patient and reads their header, in a transaction that only
    /// reads; the read's audit event is returned to be recorded by [`Records::finish_read`] once
    /// the rest is read.
    async fn open_record(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
        audit_type: &str,
        resource_id: Option<ResourceId>,
    ) -> Result<(RecordHead, portal_store::Tx, ReadEvent)> {
        let (access, tx) = self.open_patient_to_read(actor, patient, action).await?;
        self.head_of(actor, access, tx, audit_type, resource_id)
            .await
    }

    async fn head_of(
        &self,
        actor: &Actor,
        access: PatientAccess,
        mut tx: portal_store::Tx,
        audit_type: &str,
        resource_id: Option<ResourceId>,
    ) -> Result<(RecordHead, portal_store::Tx, ReadEvent)> {
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let mut event = self.patient_event(actor, &access, AuditAction::Read, audit_type);
        event.resource_id = resource_id.map(|id| id.to_string());
        Ok((
            RecordHead {
                patient: row,
                access,
            },
            tx,
            ReadEvent(event),
        ))
    }

    /// Ends a read: commits its transaction, then records the read in the audit trail and
    /// returns once the event is durable, so the caller shows nothing whose read is not recorded.
    async fn finish_read(&self, tx: portal_store::Tx, read: ReadEvent) -> Result<()> {
        commit(tx).await?;
        self.audit_alone(&read.0).await
    }

    /// The health summary: problems, allergies, medications, immunizations, latest vitals.
    pub async fn health_summary(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Summary)> {
        let (head, mut tx, viewed) = self
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
        self.finish_read(tx, viewed).await?;
        let mut summary = Summary {
            vitals,
            ..Summary::default()
        };
        for item in items(listed) {
            match item.columns.kind {
                ItemKind::Condition => summary.conditions.push(item),
                ItemKind::Allergy => summary.allergies.push(item),
                ItemKind::MedicationRequest => summary.medications.push(item),
                _ => summary.immunizations.push(item),
            }
        }
        Ok((head, summary))
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
        let (head, mut tx, viewed) = self
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
        self.finish_read(tx, viewed).await?;
        Ok((head, items(rows)))
    }
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
            .filter(|r| seen.insert((r.columns.code_system.clone(), r.columns.code.clone())))
            .collect(),
    ))
}
