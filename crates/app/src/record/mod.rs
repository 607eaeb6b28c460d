//! The patient's health record as the pages show it: summary, results (with release holds and
//! trends), visits and documents. Every read is one policy decision and one audit event; what a
//! viewer sees of held results and confidential items is the policy's `Visibility`, applied by
//! the store in every query.

pub(crate) mod cache;
mod holds;
pub use holds::{CategoryCount, UNTIL_RELEASED_REACH_DAYS};
mod export;
mod share;
pub use share::{CopyLeave, NotOpened, OpenedCopy, SHARE_LIFETIME_DAYS, SentCopy};
mod results;
mod visits;

pub use export::{PrintedRecord, RecordFile, Span};
pub use results::{
    ResultDetail, ResultFilter, ResultLine, ResultList, SavedResultFilter, TrendLink,
};
pub use visits::{Download, VisitDetail};

use crate::services::Records;
use crate::{Actor, Error, Result, commit};
use cache::View;
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
use std::sync::Arc;

/// The page cache's default size (see [`crate::Config::page_cache_bytes`]).
pub const PAGE_CACHE_DEFAULT_BYTES: usize = cache::DEFAULT_BUDGET_BYTES;

/// A clinical item with its mapped resource (`None` if the stored details cannot be read,
/// which is logged).
pub type Item = ClinicalItem<Option<Mapped>>;

/// Reads a stored item's details into the mapped resource.
pub(crate) fn item_of(row: ItemRow) -> Item {
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

    /// Authorises `action` on the patient and reads their header, then starts a transaction that
    /// only reads; the read's audit event is returned to be recorded by
    /// [`Records::finish_read`] once the rest is read.
    async fn open_record(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
        audit_type: &str,
        resource_id: Option<ResourceId>,
    ) -> Result<(RecordHead, portal_store::Tx, ReadEvent)> {
        let opened = self
            .open_view(actor, patient, action, audit_type, resource_id)
            .await?;
        let tx = self.store().begin_read().await?;
        Ok((opened.head, tx, opened.viewed))
    }

    /// Authorises `action` on the patient (one round trip) and gives the record's header (kept
    /// in the page cache), the version that keys the page's data, and the read's audit event.
    pub(crate) async fn open_view(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
        audit_type: &str,
        resource_id: Option<ResourceId>,
    ) -> Result<Opened> {
        let (access, version, conn) = self.decide_to_read(actor, patient, action).await?;
        let row = match self.kept_head(&access, version) {
            Some(row) => row,
            None => {
                let mut conn = match conn {
                    Some(conn) => conn,
                    None => self.conn().await?,
                };
                self.head_row(&mut conn, &access, version)
                    .await?
                    .ok_or(Error::NotFound)?
            }
        };
        let mut event = self.patient_event(actor, &access, AuditAction::Read, audit_type);
        event.resource_id = resource_id.map(|id| id.to_string());
        Ok(Opened {
            head: RecordHead {
                patient: row,
                access,
            },
            version,
            viewer: viewer(actor),
            viewed: ReadEvent(event),
        })
    }

    /// The record's header (demographics), if the page cache holds it.
    pub(crate) fn kept_head(
        &self,
        access: &PatientAccess,
        version: portal_store::access::RecordVersion,
    ) -> Option<PatientRow> {
        self.pages()
            .get::<PatientRow>(&head_key(access, version), self.now())
            .map(|row| PatientRow::clone(&row))
    }

    /// The record's header (demographics), from the page cache or read on `conn`.
    pub(crate) async fn head_row(
        &self,
        conn: &mut Conn,
        access: &PatientAccess,
        version: portal_store::access::RecordVersion,
    ) -> Result<Option<PatientRow>> {
        if let Some(row) = self.kept_head(access, version) {
            return Ok(Some(row));
        }
        let now = self.now();
        let Some(row) = patients::get(conn, access).await? else {
            return Ok(None);
        };
        let weight = row.given_name.len() + row.family_name.len() + 256;
        self.pages().put(
            head_key(access, version),
            Arc::new(row.clone()),
            now,
            weight,
        );
        Ok(Some(row))
    }

    /// A page's data for an opened record: from the page cache, or computed by `read` in a
    /// transaction that only reads (returning the data and an estimate of its size in bytes)
    /// and kept. `None` from `read`: nothing to show (not kept).
    async fn page<T: Send + Sync + 'static>(
        &self,
        opened: &Opened,
        view: View,
        read: impl AsyncFnOnce(&mut Conn, &PatientAccess, jiff::Timestamp) -> Result<Option<(T, usize)>>,
    ) -> Result<Option<Arc<T>>> {
        let key = opened.key(view);
        let now = self.now();
        if let Some(hit) = self.pages().get::<T>(&key, now) {
            return Ok(Some(hit));
        }
        let mut tx = self.store().begin_read().await?;
        let Some((data, weight)) = read(&mut tx, &opened.head.access, now).await? else {
            return Ok(None);
        };
        commit(tx).await?;
        let data = Arc::new(data);
        self.pages().put(key, data.clone(), now, weight);
        Ok(Some(data))
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
    ) -> Result<(RecordHead, Arc<Summary>)> {
        let opened = self
            .open_view(actor, patient, Action::ViewRecord, "HealthSummary", None)
            .await?;
        let summary = self
            .page(&opened, View::Summary, async |conn, access, now| {
                let listed = records::list(
                    conn,
                    access,
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
                let vitals = latest_vitals(conn, access, now).await?;
                let weight = weigh(&listed) + weigh(&vitals);
                let mut summary = Summary {
                    vitals: items(vitals),
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
                Ok(Some((summary, weight)))
            })
            .await?
            .ok_or(Error::NotFound)?;
        let head = self.record_view(opened).await?;
        Ok((head, summary))
    }

    /// Medication orders, current and past, newest first.
    pub async fn medications(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(RecordHead, Arc<Vec<Item>>)> {
        let opened = self
            .open_view(actor, patient, Action::ViewRecord, "MedicationList", None)
            .await?;
        let list = self
            .page(&opened, View::Medications, async |conn, access, now| {
                let rows = records::list(
                    conn,
                    access,
                    &ItemQuery {
                        kinds: &[ItemKind::MedicationRequest],
                        limit: 2_000,
                        ..ItemQuery::default()
                    },
                    now,
                )
                .await?;
                let weight = weigh(&rows);
                Ok(Some((items(rows), weight)))
            })
            .await?
            .ok_or(Error::NotFound)?;
        let head = self.record_view(opened).await?;
        Ok((head, list))
    }

    /// Records an opened record's read in the audit trail, returning once the event is durable
    /// (the caller shows nothing whose read is not recorded), and gives back its header.
    pub(crate) async fn record_view(&self, opened: Opened) -> Result<RecordHead> {
        Ok(self.record_view_at(opened).await?.0)
    }

    /// [`Records::record_view`], giving also the read's position in the audit trail: what is
    /// read after it sees every event up to there.
    pub(crate) async fn record_view_at(&self, opened: Opened) -> Result<(RecordHead, i64)> {
        let seq = self.audit_at(&opened.viewed.0).await?;
        Ok((opened.head, seq))
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

/// A record opened to read: authorised, with its header, its version and the read's audit event.
pub(crate) struct Opened {
    head: RecordHead,
    version: portal_store::access::RecordVersion,
    viewer: Option<portal_domain::UserId>,
    viewed: ReadEvent,
}

impl Opened {
    /// The page cache's key of one view of this record, for this viewer.
    fn key(&self, view: View) -> cache::Key {
        cache::Key {
            patient: self.head.access.patient(),
            version: Some(self.version),
            visibility: self.head.access.visibility(),
            viewer: self.viewer,
            view,
        }
    }
}

/// The page cache's key of a record's header.
fn head_key(access: &PatientAccess, version: portal_store::access::RecordVersion) -> cache::Key {
    cache::Key {
        patient: access.patient(),
        version: Some(version),
        visibility: access.visibility(),
        viewer: None,
        view: View::Head,
    }
}

/// An estimate of the memory items read from these rows take.
fn weigh(rows: &[ItemRow]) -> usize {
    rows.iter()
        .map(|r| 3 * r.details.len() + r.columns.label.len() + 512)
        .sum()
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
) -> Result<Vec<ItemRow>> {
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
    Ok(rows
        .into_iter()
        .filter(|r| seen.insert((r.columns.code_system.clone(), r.columns.code.clone())))
        .collect())
}
