//! The clinic's side of refills: the queue, opening a request (which puts it in review), the
//! decision on each medication (approve, optionally changing quantity or refills, which writes
//! a new prescription; deny with a reason; or answer by message), marking an approved
//! prescription sent to the pharmacy, and the job that moves requests nobody acted on to the
//! pool and then to its lead.

use super::*;
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::messages::{Body, Recipient, Side, Subject, Topic};
use portal_domain::refills::{Decision, RefillStatus};
use portal_store::records::ItemRow;

/// The most lines the queue shows.
const QUEUE_LIMIT: i64 = 500;
/// How many earlier prescriptions of the same drug, and recent results, the review shows.
const CONTEXT_LIMIT: i64 = 8;

/// What a clinician needs beside the request to decide it.
#[derive(Debug, Default)]
pub struct ReviewContext {
    /// Each asked-for medication's prescriptions in the record (same drug), newest first.
    pub history: Vec<(RefillItemId, Vec<crate::record::Item>)>,
    /// The patient's last visit.
    pub last_visit: Option<crate::record::Item>,
    /// The latest test results.
    pub results: Vec<crate::record::Item>,
}

/// A request as the deciding clinician sees it.
#[derive(Debug)]
pub struct Review {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// The request.
    pub request: Refill,
    /// What the decision needs beside it.
    pub context: ReviewContext,
}

fn items(rows: Vec<ItemRow>) -> Vec<crate::record::Item> {
    rows.into_iter().map(crate::record::item_of).collect()
}

impl Refills {
    /// The clinic's queue: for a clinician the requests they may decide, for staff every
    /// waiting request (who waits and for whom, never the medications).
    pub async fn queue(&self, actor: &Actor) -> Result<Vec<Queued>> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ViewInBasket)
            .map_err(|_| Error::Forbidden)?;
        let (user, role) = match actor.principal {
            Principal::User { id, role, .. } => (id, role),
            _ => return Err(Error::Forbidden),
        };
        let mut conn = self.conn().await?;
        Ok(store::queue(&mut conn, &capability, user, role, QUEUE_LIMIT).await?)
    }

    /// Takes a request in review: its unopened medications go "in review", and the patient's
    /// side is told. Returns how many moved.
    pub async fn start_review(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: RefillId,
    ) -> Result<usize> {
        let user = user_of(actor)?;
        let (access, mut tx) = self
            .open_refill(actor, (patient, id), Action::DecideRefill, true)
            .await?;
        let opened = store::mark_in_review(&mut tx, &access, id, user, self.now()).await?;
        if opened > 0 {
            let request = store::find(&mut tx, &access, id)
                .await?
                .ok_or(Error::NotFound)?;
            self.tell_patient_side(
                &mut tx,
                &access,
                request.is_confidential(),
                ("Your refill request is being reviewed", "is being reviewed"),
            )
            .await?;
            let mut event =
                self.patient_event(actor, &access, AuditAction::Update, "RefillRequest");
            event.resource_id = Some(id.to_string());
            event.detail = format!("{opened} medication(s) now in review");
            self.audit(&mut tx, &event).await?;
        }
        commit(tx).await?;
        if opened > 0 {
            self.mail_wakeup().notify_one();
        }
        Ok(opened)
    }

    /// A request as the deciding clinician reads it, with the record's context (a read: it
    /// changes nothing).
    pub async fn review(&self, actor: &Actor, patient: PatientId, id: RefillId) -> Result<Review> {
        let (access, mut tx) = self
            .open_refill(actor, (patient, id), Action::DecideRefill, false)
            .await?;
        let now = self.now();
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let request = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        let mut context = ReviewContext::default();
        for item in &request.items {
            let Some(original) = records::get(&mut tx, &access, item.medication, now).await? else {
                context.history.push((item.id, Vec::new()));
                continue;
            };
            let same_drug = if original.columns.code.is_empty() {
                vec![original]
            } else {
                records::list(
                    &mut tx,
                    &access,
                    &ItemQuery {
                        kinds: &[ItemKind::MedicationRequest],
                        code: Some((&original.columns.code_system, &original.columns.code)),
                        limit: CONTEXT_LIMIT,
                        ..ItemQuery::default()
                    },
                    now,
                )
                .await?
            };
            context.history.push((item.id, items(same_drug)));
        }
        context.last_visit = items(
            records::list(
                &mut tx,
                &access,
                &ItemQuery {
                    kinds: &[ItemKind::Encounter],
                    until: Some(now.as_microsecond() + 1),
                    limit: 1,
                    ..ItemQuery::default()
                },
                now,
            )
            .await?,
        )
        .pop();
        context.results = items(
            records::list(
                &mut tx,
                &access,
                &ItemQuery {
                    kinds: &[ItemKind::Observation],
                    category: Some("laboratory"),
                    limit: CONTEXT_LIMIT,
                    ..ItemQuery::default()
                },
                now,
            )
            .await?,
        );
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "RefillRequest");
        event.resource_id = Some(id.to_string());
        event.detail = "read to decide".into();
        self.audit_alone(&event).await?;
        Ok(Review {
            patient: row,
            access,
            request,
            context,
        })
    }

    /// Decides one medication of a request. A new decision after a refusal or a message is a
    /// new step of its own; an approved prescription is not taken back here.
    pub async fn decide(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: RefillId,
        item: RefillItemId,
        form: &DecisionForm,
    ) -> Result<RefillStatus> {
        let user = user_of(actor)?;
        let (access, mut tx) = self
            .open_refill(actor, (patient, id), Action::DecideRefill, true)
            .await?;
        let decision = Decision::parse(form).map_err(Error::Invalid)?;
        let request = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        let found = request
            .items
            .iter()
            .find(|i| i.id == item)
            .ok_or(Error::NotFound)?;
        if RefillStatus::from_stored(&form.seen) != Some(found.status) {
            return Err(Error::Conflict(format!(
                "{} was decided by someone else since you opened the page (now: {}). Reload \
                 the page to see it before deciding again.",
                found.label,
                found.status.words()
            )));
        }
        if !found.status.may_decide() {
            return Err(Error::Conflict(
                "This medication was approved already; its prescription stands.".into(),
            ));
        }
        if matches!(decision, Decision::Message { .. }) && !found.sensitivity.is_empty() {
            // Conversations are shown to every proxy of the record; this medication never is.
            return Err(Error::field(
                "choice",
                "This medication is in a confidential category, and messages are shown to the \
                 patient's proxies: deny with a reason instead, or contact the patient directly.",
            ));
        }
        let now = self.now();
        let to = RefillStatus::after(&decision);
        let detail = match &decision {
            Decision::Deny { reason } => reason.clone(),
            Decision::Approve { .. } | Decision::Message { .. } => String::new(),
        };
        if !store::move_item(
            &mut tx,
            &access,
            id,
            item,
            found.status,
            to,
            user,
            &detail,
            now,
        )
        .await?
        {
            return Err(Error::Conflict(
                "Someone decided this a moment ago. Reload the page to see it.".into(),
            ));
        }
        match &decision {
            Decision::Approve { quantity, refills } => {
                self.write_prescription(&mut tx, &access, &request, found, (*quantity, *refills))
                    .await?;
            }
            Decision::Message { text } => {
                self.answer_by_message(&mut tx, &access, user, text).await?;
            }
            Decision::Deny { .. } => {}
        }
        let (subject, what) = match to {
            RefillStatus::Approved => ("Your refill request was approved", "was approved"),
            RefillStatus::Denied => (
                "Your refill request was answered",
                "was answered: it was not approved",
            ),
            _ => (
                "Your refill request was answered",
                "was answered with a message",
            ),
        };
        self.tell_patient_side(&mut tx, &access, request.is_confidential(), (subject, what))
            .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "RefillRequest");
        event.resource_id = Some(id.to_string());
        event.detail = format!(
            "{} medication {item} (was {})",
            to.as_str(),
            found.status.as_str()
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(to)
    }

    /// Writes the renewed prescription of an approved item: a FHIR `MedicationRequest` of the
    /// portal's own, naming the prescription it renews.
    async fn write_prescription(
        &self,
        tx: &mut Tx,
        access: &PatientAccess,
        request: &Refill,
        item: &RefillItem,
        (quantity, refills): (Option<u32>, Option<u32>),
    ) -> Result<()> {
        use portal_fhir::model::{Coding, Concept, MedicationChoice, Quantity};
        let now = self.now();
        let original = records::get(tx, access, item.medication, now)
            .await?
            .map(crate::record::item_of)
            .ok_or_else(|| {
                Error::Conflict(
                    "The prescription asked about is no longer in the record; deny the \
                     request or answer by message."
                        .into(),
                )
            })?;
        let (mut medication, dosages, old_quantity, old_refills) = match &original.details {
            Some(Mapped::MedicationRequest(m)) => (
                match &m.medication {
                    MedicationChoice::Concept(c) => c.clone(),
                    MedicationChoice::Reference(_) => Concept::default(),
                },
                m.dosages.clone(),
                m.quantity.clone(),
                m.refills,
            ),
            _ => (Concept::default(), Vec::new(), None, None),
        };
        if medication.codings.is_empty() && !original.columns.code.is_empty() {
            medication.codings.push(Coding {
                system: Some(original.columns.code_system.clone()),
                code: Some(original.columns.code.clone()),
                display: Some(original.columns.label.clone()),
            });
        }
        if medication.text.is_none() {
            medication.text = Some(item.label.clone());
        }
        let quantity = match quantity {
            Some(n) => Some(Quantity {
                value: Some(f64::from(n)),
                unit: old_quantity.as_ref().and_then(|q| q.unit.clone()),
                system: old_quantity.as_ref().and_then(|q| q.system.clone()),
                code: old_quantity.as_ref().and_then(|q| q.code.clone()),
                ..Quantity::default()
            }),
            None => old_quantity,
        };
        let (approver, approver_name) = match &access.principal() {
            Principal::User { id, .. } => {
                let name = portal_store::users::find(tx, *id)
                    .await?
                    .map(|u| u.name)
                    .unwrap_or_default();
                (id.to_string(), name)
            }
            _ => return Err(Error::Forbidden),
        };
        let id = uuid::Uuid::now_v7().to_string();
        let authored = now.round(jiff::Unit::Second).unwrap_or(now).to_string();
        let patient = access.patient().to_string();
        let prior = item.medication.to_string();
        let json = portal_fhir::refill::medication_request(&portal_fhir::refill::Renewal {
            id: &id,
            patient: &patient,
            prior: &prior,
            medication: &medication,
            requester: (&approver, &approver_name),
            authored: &authored,
            dosages: &dosages,
            quantity: quantity.as_ref(),
            refills: refills.or(old_refills),
            pharmacy: &request.pharmacy.name,
        });
        store::issue(
            tx,
            access,
            &id,
            item.id,
            item.medication,
            &json.to_string(),
            now,
        )
        .await?;
        Ok(())
    }

    /// Starts a conversation from the deciding clinician to the patient's side about a refill
    /// request, routed back to that clinician for replies.
    async fn answer_by_message(
        &self,
        tx: &mut Tx,
        access: &PatientAccess,
        author: UserId,
        text: &str,
    ) -> Result<()> {
        let body = Body::message(text).map_err(|e| Error::field("message", e.0))?;
        // No drug in the subject: it is listed to every proxy of the record.
        let subject =
            Subject::parse("About your refill request").map_err(|e| Error::Internal(e.0))?;
        let conversation = portal_domain::ConversationId::from_uuid(uuid::Uuid::now_v7());
        let key = crate::messages::new_send_key();
        let message = portal_store::messages::NewMessage {
            id: portal_domain::MessageId::from_uuid(uuid::Uuid::now_v7()),
            author,
            side: Side::Clinic,
            body: &body,
            send_key: &key,
            attachments: &[],
        };
        portal_store::messages::start(
            tx,
            access,
            conversation,
            Topic::Refill,
            &subject,
            Recipient::Clinician(author),
            None,
            &message,
            self.now(),
        )
        .await?;
        Ok(())
    }

    /// Marks an approved prescription sent to the pharmacy.
    pub async fn mark_sent(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: RefillId,
        item: RefillItemId,
    ) -> Result<()> {
        let user = user_of(actor)?;
        let (access, mut tx) = self
            .open_refill(actor, (patient, id), Action::DecideRefill, true)
            .await?;
        let now = self.now();
        if !store::move_item(
            &mut tx,
            &access,
            id,
            item,
            RefillStatus::Approved,
            RefillStatus::SentToPharmacy,
            user,
            "",
            now,
        )
        .await?
        {
            return Err(Error::Conflict(
                "Only an approved prescription can be marked sent, once.".into(),
            ));
        }
        let request = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        self.tell_patient_side(
            &mut tx,
            &access,
            request.is_confidential(),
            (
                "Your prescription was sent to the pharmacy",
                "was sent to the pharmacy",
            ),
        )
        .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "RefillRequest");
        event.resource_id = Some(id.to_string());
        event.detail = format!("sent-to-pharmacy medication {item}");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    /// Moves requests nobody acted on in time: from the prescriber to the pool, then to the
    /// pool's lead, telling whom it now waits for. Safe to run from every portal process at
    /// once (each move is claimed); returns how many moved.
    pub async fn move_on_waiting(&self) -> Result<usize> {
        let jobs = authorize_clinic(&Principal::Operator, ClinicAction::RunRefillJobs)
            .map_err(|_| Error::Forbidden)?;
        let now = self.now();
        let mut conn = self.conn().await?;
        let rules = self.rules_in(&mut conn).await?;
        let step = jiff::SignedDuration::from_hours(i64::from(rules.escalate_hours.max(1)));
        let due = store::due(&mut conn, &jobs, now - step).await?;
        drop(conn);
        let mut moved = 0;
        for found in due {
            let Some(mut to) = found.stage.due(found.routed_at, now, rules.escalate_hours) else {
                continue;
            };
            if to == Stage::Lead && found.lead.is_none() {
                // A pool without a lead keeps the request.
                continue;
            }
            if to == Stage::Pool && found.pool.is_none() {
                to = Stage::Lead;
            }
            let mut tx = self.store().begin().await?;
            if !store::escalate(&mut tx, &jobs, &found, to, now).await? {
                continue;
            }
            let recipient = match (to, found.lead, found.pool) {
                (Stage::Lead, Some(lead), _) => Some(Recipient::Clinician(lead)),
                (_, _, Some(pool)) => Some(Recipient::Pool(pool)),
                _ => None,
            };
            if let Some(recipient) = recipient {
                let addresses = portal_store::messages::addresses_for(&mut tx, recipient).await?;
                let link = format!("{}/inbasket", self.config().public_url);
                for address in addresses {
                    let body = format!(
                        "A prescription refill request has waited {} hours without a \
                         decision and now waits for you.\n\nSign in to review it: {link}\n",
                        rules.escalate_hours
                    );
                    self.queue_mail(
                        &mut tx,
                        "refill-escalated",
                        &address,
                        "A refill request waits for a decision",
                        &body,
                    )
                    .await?;
                }
            }
            let actor = Actor::operator();
            let mut event = self.event(
                &actor,
                AuditAction::Update,
                "RefillRequest",
                portal_domain::audit::Outcome::Success,
            );
            event.actor_id = "portal".into();
            event.actor_role = "portal".into();
            event.patient_id = Some(found.patient.to_string());
            event.resource_id = Some(found.id.to_string());
            event.on_behalf_of = "portal".into();
            event.detail = format!("moved from {} to {}", found.stage.as_str(), to.as_str());
            self.audit(&mut tx, &event).await?;
            commit(tx).await?;
            moved += 1;
        }
        if moved > 0 {
            self.mail_wakeup().notify_one();
        }
        Ok(moved)
    }
}
