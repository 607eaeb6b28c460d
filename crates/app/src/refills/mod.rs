//! Prescription refills: the patient's side sees which current medications may be renewed from
//! the portal and why (not), sends one request for several to a pharmacy of the clinic's
//! directory, and follows each medication's status; the clinic reviews, decides and marks
//! prescriptions sent ([`clinic`]); admins keep the pharmacies and rules ([`setup`]). Each step
//! is one policy action (request, decide) in one transaction with its audit event and the
//! e-mails it sends, which carry no health data.

mod clinic;
pub(crate) mod setup;

pub use clinic::{Review, ReviewContext};
pub use portal_domain::refills::DecisionForm;
pub use portal_store::refills::{Item as RefillItem, Pharmacy, Queued, Refill, Step};
pub use setup::{PharmacyForm, RefillSetup, RulesForm, keys};

use crate::services::Refills;
use crate::{Actor, Error, Result, commit};
use portal_domain::access::{Action, Denied, authorize_refill};
use portal_domain::audit::AuditAction;
use portal_domain::record::{ItemKind, is_active_medication};
use portal_domain::refills::{
    Allowed, MedicationFacts, RefillRules, Refusal, Stage, eligibility, parse_comment,
};
use portal_domain::{
    PatientAccess, PatientId, PharmacyId, Principal, RefillId, RefillItemId, ResourceId, Role,
    UserId,
};
use portal_fhir::Mapped;
use portal_store::Tx;
use portal_store::patients::{self, PatientRow};
use portal_store::records::{self, ItemQuery};
use portal_store::refills::{self as store, NewItem, NewRequest};
use std::collections::{HashMap, HashSet};

/// The most requests the patient's list shows.
const LIST_LIMIT: i64 = 100;
/// The most medications one record lists (as the medications page does).
const MEDICATION_LIMIT: i64 = 2_000;

/// One current medication with whether it may be requested.
#[derive(Clone, Debug)]
pub struct Choice {
    /// The imported prescription.
    pub medication: ResourceId,
    /// Its name.
    pub label: String,
    /// May it be requested, and why (not).
    pub verdict: std::result::Result<Allowed, Refusal>,
}

/// What the medications page offers for refills.
#[derive(Debug)]
pub struct RefillOptions {
    /// Current medications, in the page's order, with their verdicts.
    pub choices: Vec<Choice>,
    /// Pharmacies the patient may choose.
    pub pharmacies: Vec<Pharmacy>,
    /// The one chosen last time.
    pub preferred: Option<PharmacyId>,
    /// The clinic's rules.
    pub rules: RefillRules,
    /// The form's one-time key.
    pub send_key: String,
    /// Requests with a medication still waiting.
    pub waiting: usize,
}

/// What a refill request form sent.
#[derive(Clone, Debug, Default)]
pub struct RefillForm {
    /// The chosen medications' ids.
    pub medications: Vec<String>,
    /// The chosen pharmacy's id.
    pub pharmacy: String,
    /// The patient's comment.
    pub comment: String,
    /// The form's one-time key.
    pub send_key: String,
}

/// The patient's requests.
#[derive(Debug)]
pub struct RefillList {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// Requests, newest first.
    pub requests: Vec<Refill>,
}

/// One request as its page shows it.
#[derive(Debug)]
pub struct RefillPage {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// The request.
    pub request: Refill,
}

fn user_of(actor: &Actor) -> Result<UserId> {
    actor.principal.user_id().ok_or(Error::NotFound)
}

/// The validity end of a prescription as the record gives it: a bare date lasts to its end.
fn valid_until(m: &portal_fhir::model::MedicationRequestData) -> Option<jiff::Timestamp> {
    let start = m.valid_until_sort?;
    let bare_date = m.valid_until.as_deref().is_some_and(|v| v.len() <= 10);
    let end = if bare_date {
        start + 86_400_000_000
    } else {
        start
    };
    jiff::Timestamp::from_microsecond(end).ok()
}

/// The verdict on one medication item of the record.
fn verdict(
    item: &crate::record::Item,
    (patient, inactive): (&PatientRow, bool),
    pending: &HashMap<ResourceId, (RefillId, bool)>,
    rules: &RefillRules,
    now: jiff::Timestamp,
) -> std::result::Result<Allowed, Refusal> {
    let mut codes = Vec::new();
    if !item.columns.code.is_empty() {
        codes.push((
            item.columns.code_system.as_str(),
            item.columns.code.as_str(),
        ));
    }
    let (authored, refills_allowed, valid) = match &item.details {
        Some(Mapped::MedicationRequest(m)) => {
            if let portal_fhir::model::MedicationChoice::Concept(c) = &m.medication {
                for coding in &c.codings {
                    if let (Some(system), Some(code)) = (&coding.system, &coding.code) {
                        codes.push((system.as_str(), code.as_str()));
                    }
                }
            }
            (
                m.authored_sort
                    .and_then(|us| jiff::Timestamp::from_microsecond(us).ok()),
                m.refills,
                valid_until(m),
            )
        }
        _ => (None, None, None),
    };
    eligibility(
        &MedicationFacts {
            status: &item.columns.status,
            codes,
            authored,
            refills_allowed,
            valid_until: valid,
            pending: pending.contains_key(&item.resource_id),
            deceased: patient.deceased.is_some(),
            record_inactive: inactive,
        },
        rules,
        now,
    )
}

impl Refills {
    /// The clinic's refill rules: what the admin stored over the portal's defaults.
    pub(crate) async fn rules_in(&self, conn: &mut portal_store::Conn) -> Result<RefillRules> {
        let stored = portal_store::pools::settings(conn).await?;
        Ok(setup::rules_from(&stored))
    }

    async fn read_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
    ) -> Result<(PatientAccess, Tx)> {
        let tx = self.store().begin_read().await?;
        self.decide_patient(actor, patient, action, tx).await
    }

    /// A request's access for `action`: `RequestRefill` for the patient's side, `DecideRefill`
    /// for a clinician the request is theirs to decide (`authorize_refill` gives nobody else
    /// either). A refusal is recorded and answered "not found", as for a request that does not
    /// exist.
    pub(crate) async fn open_refill(
        &self,
        actor: &Actor,
        (patient, id): (PatientId, RefillId),
        action: Action,
        write: bool,
    ) -> Result<(PatientAccess, Tx)> {
        let mut tx = if write {
            self.store().begin().await?
        } else {
            self.store().begin_read().await?
        };
        let user = actor.principal.user_id();
        let decided = match user {
            Some(user) => {
                let facts = portal_store::access::record_facts(&mut tx, Some(user), patient)
                    .await?
                    .facts;
                match store::refill_facts(&mut tx, id, user).await? {
                    Some(refill) if refill.patient == patient => {
                        authorize_refill(&actor.principal, &facts, &refill, action, self.now())
                    }
                    _ => Err(Denied),
                }
            }
            None => Err(Denied),
        };
        match decided {
            Ok(access) => Ok((access, tx)),
            Err(Denied) => {
                drop(tx);
                Err(self.refused(actor, patient, (action, true)).await)
            }
        }
    }

    /// What the medications page offers: each current medication's verdict, the pharmacies
    /// and the one chosen last. Part of the medications page's view, `viewed` (its read is
    /// already in the audit trail), so it records no event of its own; only for viewers who may
    /// also request refills for the record.
    pub async fn options(
        &self,
        actor: &Actor,
        viewed: &crate::record::RecordHead,
    ) -> Result<RefillOptions> {
        if !viewed.access.also_allows(Action::RequestRefill) {
            return Err(Error::NotFound);
        }
        let (access, mut tx) = self
            .read_patient(actor, viewed.patient.id, Action::RequestRefill)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let now = self.now();
        let rows = records::list(
            &mut tx,
            &access,
            &ItemQuery {
                kinds: &[ItemKind::MedicationRequest],
                limit: MEDICATION_LIMIT,
                ..ItemQuery::default()
            },
            now,
        )
        .await?;
        let pending = store::pending_medications(&mut tx, &access).await?;
        let inactive = patients::marked_inactive(&mut tx, &access).await?;
        let pharmacies = store::pharmacies(&mut tx, true).await?;
        let preferred = store::preferred_pharmacy(&mut tx, &access)
            .await?
            .filter(|p| pharmacies.iter().any(|ph| ph.id == *p));
        let rules = self.rules_in(&mut tx).await?;
        // Counted as the list shows them: a proxy never counts a confidential medication.
        let sees_confidential = access.visibility().shows_every_category();
        let waiting = pending
            .values()
            .filter(|(_, confidential)| sees_confidential || !confidential)
            .map(|(request, _)| request)
            .collect::<HashSet<_>>()
            .len();
        drop(tx);
        let deceased = row.deceased.is_some();
        let choices = rows
            .into_iter()
            .map(crate::record::item_of)
            .filter(|item| !deceased && is_active_medication(&item.columns.status))
            .map(|item| Choice {
                medication: item.resource_id,
                label: item.columns.label.clone(),
                verdict: verdict(&item, (&row, inactive), &pending, &rules, now),
            })
            .collect();
        Ok(RefillOptions {
            choices,
            pharmacies,
            preferred,
            rules,
            send_key: crate::messages::new_send_key(),
            waiting,
        })
    }

    /// Sends the chosen medications to the clinic: one request per prescriber (each decides
    /// only what they wrote), all at once. The same form sent twice stores them once; a refused
    /// form changes nothing and says why, per medication. Returns the requests, the first one
    /// first.
    pub async fn request(
        &self,
        actor: &Actor,
        patient: PatientId,
        form: &RefillForm,
    ) -> Result<Vec<RefillId>> {
        let author = user_of(actor)?;
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::RequestRefill)
            .await?;
        if crate::appointments::by_clinic(actor) {
            drop(tx);
            return Err(self
                .refused(actor, patient, (Action::RequestRefill, true))
                .await);
        }
        if let Some(existing) = store::by_key(&mut tx, &access, &form.send_key).await? {
            return Ok(vec![existing]);
        }
        crate::messages::check_send_key(&form.send_key)?;
        let mut errors = portal_domain::fields::FieldErrors::new();
        let mut ids: Vec<ResourceId> = Vec::new();
        for raw in &form.medications {
            match raw.trim().parse::<ResourceId>() {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                // An id that is no medication of this record refuses the whole request.
                Err(_) => return Err(Error::NotFound),
            }
        }
        if ids.is_empty() {
            errors.add("medications", "Choose at least one medication to refill.");
        }
        if ids.len() > 50 {
            errors.add("medications", "Choose at most 50 medications at once.");
        }
        let pharmacies = store::pharmacies(&mut tx, true).await?;
        let pharmacy = form
            .pharmacy
            .trim()
            .parse::<PharmacyId>()
            .ok()
            .filter(|id| pharmacies.iter().any(|p| p.id == *id));
        if pharmacy.is_none() {
            errors.add("pharmacy", "Choose a pharmacy from the list.");
        }
        let comment = match parse_comment(&form.comment) {
            Ok(c) => c,
            Err(e) => {
                errors.add("comment", e.0);
                String::new()
            }
        };
        let now = self.now();
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let rules = self.rules_in(&mut tx).await?;
        let pending = store::pending_medications(&mut tx, &access).await?;
        let inactive = patients::marked_inactive(&mut tx, &access).await?;
        let mut groups: Vec<(Option<UserId>, Vec<NewItem>)> = Vec::new();
        for id in &ids {
            let Some(found) = records::get(&mut tx, &access, *id, now).await? else {
                return Err(Error::NotFound);
            };
            if found.columns.kind != ItemKind::MedicationRequest {
                return Err(Error::NotFound);
            }
            let item = crate::record::item_of(found);
            if let Err(refusal) = verdict(&item, (&row, inactive), &pending, &rules, now) {
                errors.add(
                    "medications",
                    format!("{}: {}", item.columns.label, refusal.words()),
                );
                continue;
            }
            let prescriber = match item.who_id {
                Some(who) => store::account_of_practitioner(&mut tx, who).await?,
                None => None,
            };
            let new = NewItem {
                id: RefillItemId::from_uuid(uuid::Uuid::now_v7()),
                medication: item.resource_id,
                label: item.columns.label.clone(),
                sensitivity: item.columns.sensitivity,
            };
            // One request per prescriber: each decides only what they wrote.
            match groups.iter_mut().find(|(p, _)| *p == prescriber) {
                Some((_, items)) => items.push(new),
                None => groups.push((prescriber, vec![new])),
            }
        }
        let Some(pharmacy) = pharmacy.filter(|_| errors.is_empty()) else {
            // The same form may have been stored a moment ago by a request sent with it (a
            // double click), which is why its medications now wait: answer that request.
            if let Some(existing) = store::by_key(&mut tx, &access, &form.send_key).await? {
                return Ok(vec![existing]);
            }
            return Err(Error::Invalid(errors));
        };
        let mut sent = Vec::with_capacity(groups.len());
        let mut confidential = false;
        for (n, (prescriber, items)) in groups.iter().enumerate() {
            let pool = match prescriber {
                Some(user) => store::pool_of(&mut tx, *user).await?,
                None => None,
            };
            let pool = match pool {
                Some(pool) => Some(pool),
                None => self.refill_pool(&mut tx).await?,
            };
            let stage = if prescriber.is_some() {
                Stage::Prescriber
            } else {
                Stage::Pool
            };
            let id = RefillId::from_uuid(uuid::Uuid::now_v7());
            // The form's key names the first request; the others carry it with their number.
            let key = if n == 0 {
                form.send_key.clone()
            } else {
                format!("{}.{n}", form.send_key)
            };
            let created = store::create(
                &mut tx,
                &access,
                &NewRequest {
                    id,
                    requested_by: author,
                    pharmacy,
                    comment: &comment,
                    prescriber: *prescriber,
                    pool,
                    stage,
                    items,
                    send_key: &key,
                },
                now,
            )
            .await;
            match created {
                Err(portal_store::Error::Conflict("send key")) => {
                    // The same form, sent at the same moment, was stored by the other request.
                    drop(tx);
                    return self.sent_by_key(actor, patient, &form.send_key).await;
                }
                Err(portal_store::Error::Conflict(_)) => {
                    return Err(Error::field(
                        "medications",
                        "A refill request for one of these medications is already with the \
                         clinic.",
                    ));
                }
                other => other?,
            }
            self.tell_clinic(&mut tx, *prescriber, pool).await?;
            confidential |= items.iter().any(|i| !i.sensitivity.is_empty());
            let mut event =
                self.patient_event(actor, &access, AuditAction::Create, "RefillRequest");
            event.resource_id = Some(id.to_string());
            event.detail = format!("{} medication(s)", items.len());
            self.audit(&mut tx, &event).await?;
            sent.push(id);
        }
        store::set_preferred_pharmacy(&mut tx, &access, pharmacy, now).await?;
        self.tell_patient_side(
            &mut tx,
            &access,
            confidential,
            ("Your refill request was sent", "was sent"),
        )
        .await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(sent)
    }

    async fn sent_by_key(
        &self,
        actor: &Actor,
        patient: PatientId,
        key: &str,
    ) -> Result<Vec<RefillId>> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::RequestRefill)
            .await?;
        let first = store::by_key(&mut tx, &access, key)
            .await?
            .ok_or_else(|| Error::Conflict("The request was not stored; send it again.".into()))?;
        Ok(vec![first])
    }

    /// The record's requests, newest first.
    pub async fn list(&self, actor: &Actor, patient: PatientId) -> Result<RefillList> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::RequestRefill)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let requests = store::list(&mut tx, &access, LIST_LIMIT).await?;
        drop(tx);
        let event = self.patient_event(actor, &access, AuditAction::Read, "RefillRequestList");
        self.audit_alone(&event).await?;
        Ok(RefillList {
            patient: row,
            access,
            requests,
        })
    }

    /// One request, for the patient's side.
    pub async fn show(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: RefillId,
    ) -> Result<RefillPage> {
        let (access, mut tx) = self
            .open_refill(actor, (patient, id), Action::RequestRefill, false)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let request = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "RefillRequest");
        event.resource_id = Some(id.to_string());
        self.audit_alone(&event).await?;
        Ok(RefillPage {
            patient: row,
            access,
            request,
        })
    }

    /// The prescriptions the clinic wrote for the record on approving refills, as FHIR
    /// `MedicationRequest`s (for the read API), read under the record's policy and audited.
    pub async fn issued_prescriptions(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<Vec<serde_json::Value>> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ViewRecord)
            .await?;
        let issued = store::issued(&mut tx, &access).await?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "MedicationRequest");
        event.detail = format!("{} renewed prescription(s) as FHIR", issued.len());
        self.audit_alone(&event).await?;
        issued
            .iter()
            .map(|issued| {
                serde_json::from_str(&issued.json)
                    .map_err(|e| Error::Internal(format!("issued prescription {}: {e}", issued.id)))
            })
            .collect()
    }

    /// Tells the prescriber (or, without one, the pool's members) that a request waits: no
    /// patient, no medication.
    async fn tell_clinic(
        &self,
        tx: &mut Tx,
        prescriber: Option<UserId>,
        pool: Option<portal_domain::PoolId>,
    ) -> Result<()> {
        use portal_domain::messages::Recipient;
        let to = match (prescriber, pool) {
            (Some(user), _) => Recipient::Clinician(user),
            (None, Some(pool)) => Recipient::Pool(pool),
            (None, None) => return Ok(()),
        };
        let addresses = portal_store::messages::addresses_for(tx, to).await?;
        let link = format!("{}/inbasket", self.config().public_url);
        let clinic = self.config().clinic_name.clone();
        for address in addresses {
            let body = format!(
                "A prescription refill request waits for you in the {clinic} in-basket.\n\n\
                 Sign in to review it: {link}\n"
            );
            self.queue_mail(
                tx,
                "refill-waiting",
                &address,
                "A refill request is waiting",
                &body,
            )
            .await?;
        }
        Ok(())
    }

    /// Tells the patient's side that a request moved (no medication, no reason: they read it
    /// signed in); of a `confidential` request (one holding such a medication), only the
    /// patient's own account.
    pub(crate) async fn tell_patient_side(
        &self,
        tx: &mut Tx,
        access: &PatientAccess,
        confidential: bool,
        (subject, what): (&str, &str),
    ) -> Result<()> {
        let proxies = !confidential;
        let addresses = store::patient_side_addresses(tx, access, proxies, self.now()).await?;
        let clinic = self.config().clinic_name.clone();
        let link = format!("{}/", self.config().public_url);
        for to in addresses {
            let body = format!(
                "A prescription refill request at {clinic} {what}.\n\nSign in to see where it \
                 stands: {link}\n\nIf you did not expect this e-mail, call the clinic.\n"
            );
            self.queue_mail(tx, "refill-update", &to, subject, &body)
                .await?;
        }
        Ok(())
    }
}
