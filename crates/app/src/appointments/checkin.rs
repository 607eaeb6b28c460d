//! E-check-in: from seven days before a visit until it begins, the patient's side confirms
//! contact details and insurance (with photos of the card, judged and stored like message
//! attachments), reviews the record's medications and allergies (when the viewer may see the
//! record) and answers the kind of visit's questions, kept as a FHIR `QuestionnaireResponse`.
//! What changed since the patient's check-in before is flagged: contact and insurance for the
//! front desk, the clinical review for the visit's clinician.

use super::{Appointment, by_clinic};
use crate::messages::Upload;
use crate::services::Appointments;
use crate::{Actor, Error, Result, commit};
use portal_domain::access::Action;
use portal_domain::appointments::checkin::{
    self, Answer, Contact, Insurance, Review, Reviewed, questions,
};
use portal_domain::audit::AuditAction;
use portal_domain::fields::FieldErrors;
use portal_domain::messages::attachment::{self, FileName};
use portal_domain::{AppointmentId, AttachmentId, PatientAccess, PatientId, Principal, Role};
use portal_fhir::communication::Party;
use portal_fhir::questionnaire::{CheckinAnswers, questionnaire_response};
use portal_store::appointments as store;
use portal_store::checkins::{self, CardPhoto, Checkin, NewCheckin};
use portal_store::patients::{self, PatientRow};
use portal_store::schedules;

pub use portal_store::checkins::Checkin as StoredCheckin;

/// The most card photos (front and back).
const MAX_PHOTOS: usize = 2;
/// The largest card photo.
const MAX_PHOTO_BYTES: usize = 10 * 1024 * 1024;

/// The check-in page.
#[derive(Debug)]
pub struct CheckinPage {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// The visit.
    pub appointment: Appointment,
    /// Whether check-in is open now.
    pub open: bool,
    /// Contact details to confirm (this visit's check-in, else the one before).
    pub contact: Contact,
    /// Insurance to confirm, likewise.
    pub insurance: Insurance,
    /// The record's medications and allergies with the answers given (`None`: this viewer
    /// may not see the record).
    pub review: Option<Review>,
    /// The kind of visit's questions with the answers given.
    pub answers: Vec<(String, String)>,
    /// This visit's check-in, when sent.
    pub sent: Option<Checkin>,
}

/// What the check-in form sent.
#[derive(Clone, Debug, Default)]
pub struct CheckinInput {
    /// Contact details as typed.
    pub contact: Contact,
    /// Insurance as typed.
    pub insurance: Insurance,
    /// Each medication's record id with the answer's form text.
    pub medications: Vec<(String, String)>,
    /// Other medicines.
    pub other_medications: String,
    /// Each allergy's record id with the answer's form text.
    pub allergies: Vec<(String, String)>,
    /// Other allergies.
    pub other_allergies: String,
    /// The answers, in the questions' order.
    pub answers: Vec<String>,
    /// Photos of the insurance card (front, then back).
    pub photos: Vec<Upload>,
}

fn reviewed(
    items: &[(String, String)],
    given: &[(String, String)],
    errors: &mut FieldErrors,
    field: &'static str,
) -> Vec<Reviewed> {
    items
        .iter()
        .filter_map(|(item, label)| {
            let raw = given
                .iter()
                .find(|(id, _)| id == item)
                .map(|(_, a)| a.as_str())
                .unwrap_or("");
            let answer = errors.take(field, Answer::parse(raw))?;
            Some(Reviewed {
                item: item.clone(),
                label: label.clone(),
                answer,
            })
        })
        .collect()
}

fn author(actor: &Actor, patient: PatientId) -> Party {
    match &actor.principal {
        Principal::User {
            own_patient: Some(own),
            ..
        } if *own == patient => Party::Patient(patient.to_string()),
        // The response names the proxy by account; its name is on the account.
        Principal::User { id, .. } => Party::RelatedPerson(id.to_string(), String::new()),
        _ => Party::Patient(patient.to_string()),
    }
}

impl Appointments {
    /// The check-in page of one of the patient's visits (the patient's side).
    pub async fn checkin_form(
        &self,
        actor: &Actor,
        patient: PatientId,
        appointment: AppointmentId,
    ) -> Result<CheckinPage> {
        if by_clinic(actor) {
            // The patient's side checks in; the clinic's refusal reads like a missing visit.
            return Err(self
                .refused(actor, patient, (Action::ManageAppointments, true))
                .await);
        }
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ManageAppointments)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let found = store::find(&mut tx, &access, appointment)
            .await?
            .ok_or(Error::NotFound)?;
        let sent = checkins::of_visit(&mut tx, &access, appointment).await?;
        let before = match &sent {
            Some(_) => None,
            None => checkins::latest_other(&mut tx, &access, appointment).await?,
        };
        let visit_type = schedules::visit_type(&mut tx, found.visit_type)
            .await?
            .ok_or(Error::NotFound)?;
        let review = if access.also_allows(Action::ViewRecord) {
            let (meds, allergies) =
                checkins::to_review(&mut tx, &access, access.visibility()).await?;
            let previous = sent.as_ref().map(|s| &s.review);
            let answer_of = |list: Option<&Vec<Reviewed>>, item: &str| {
                list.and_then(|l| l.iter().find(|r| r.item == item))
                    .map_or(Answer::Still, |r| r.answer)
            };
            Some(Review {
                medications: meds
                    .iter()
                    .map(|(item, label)| Reviewed {
                        answer: answer_of(previous.map(|p| &p.medications), item),
                        item: item.clone(),
                        label: label.clone(),
                    })
                    .collect(),
                other_medications: previous
                    .map(|p| p.other_medications.clone())
                    .unwrap_or_default(),
                allergies: allergies
                    .iter()
                    .map(|(item, label)| Reviewed {
                        answer: answer_of(previous.map(|p| &p.allergies), item),
                        item: item.clone(),
                        label: label.clone(),
                    })
                    .collect(),
                other_allergies: previous
                    .map(|p| p.other_allergies.clone())
                    .unwrap_or_default(),
            })
        } else {
            None
        };
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "CheckIn");
        event.resource_id = Some(appointment.to_string());
        self.audit_alone(&event).await?;
        let kept = sent.as_ref().or(before.as_ref());
        let given = sent
            .as_ref()
            .map(|s| answers_of(&s.questionnaire_response))
            .unwrap_or_default();
        let answers = questions(&visit_type.questions)
            .into_iter()
            .enumerate()
            .map(|(n, q)| (q, given.get(n).cloned().unwrap_or_default()))
            .collect();
        Ok(CheckinPage {
            open: checkin::is_open(found.start, self.now()) && found.status.is_open(),
            contact: kept.map(|k| k.contact.clone()).unwrap_or_default(),
            insurance: kept.map(|k| k.insurance.clone()).unwrap_or_default(),
            patient: row,
            access,
            appointment: found,
            review,
            answers,
            sent,
        })
    }

    /// Checks in for one of the patient's visits (the patient's side, within the window): all
    /// of it in one transaction with its audit event; a refused form changes nothing.
    pub async fn check_in(
        &self,
        actor: &Actor,
        patient: PatientId,
        appointment: AppointmentId,
        input: &CheckinInput,
    ) -> Result<()> {
        if by_clinic(actor) {
            // The patient's side checks in; the clinic's refusal reads like a missing visit.
            return Err(self
                .refused(actor, patient, (Action::ManageAppointments, true))
                .await);
        }
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageAppointments)
            .await?;
        let found = store::find(&mut tx, &access, appointment)
            .await?
            .ok_or(Error::NotFound)?;
        let now = self.now();
        if !found.status.is_open() || !checkin::is_open(found.start, now) {
            return Err(Error::Conflict(
                "Check-in is open from 7 days before the appointment until it begins.".into(),
            ));
        }
        let mut errors = FieldErrors::new();
        let contact = Contact::parse(&input.contact)
            .map_err(|e| e.iter().for_each(|(f, m)| errors.add(f, m.clone())))
            .ok();
        let insurance = Insurance::parse(&input.insurance)
            .map_err(|e| e.iter().for_each(|(f, m)| errors.add(f, m.clone())))
            .ok();
        let review = if access.also_allows(Action::ViewRecord) {
            let (meds, allergies) =
                checkins::to_review(&mut tx, &access, access.visibility()).await?;
            let medications = reviewed(&meds, &input.medications, &mut errors, "medications");
            let allergies = reviewed(&allergies, &input.allergies, &mut errors, "allergies");
            let other_medications = errors
                .take(
                    "other_medications",
                    checkin::free_text(&input.other_medications, "other medicines"),
                )
                .unwrap_or_default();
            let other_allergies = errors
                .take(
                    "other_allergies",
                    checkin::free_text(&input.other_allergies, "other allergies"),
                )
                .unwrap_or_default();
            Some(Review {
                medications,
                other_medications,
                allergies,
                other_allergies,
            })
        } else {
            None
        };
        let visit_type = schedules::visit_type(&mut tx, found.visit_type)
            .await?
            .ok_or(Error::NotFound)?;
        let asked = questions(&visit_type.questions);
        let mut answers = Vec::new();
        for (n, question) in asked.iter().enumerate() {
            let raw = input.answers.get(n).map(String::as_str).unwrap_or("");
            if let Some(a) = errors.take("answers", checkin::free_text(raw, "an answer")) {
                answers.push((question.clone(), a));
            }
        }
        let photos = judge_photos(&input.photos, &mut errors);
        let (Some(contact), Some(insurance), true) = (contact, insurance, errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        let before = checkins::latest_other(&mut tx, &access, appointment).await?;
        let id = uuid::Uuid::now_v7().to_string();
        let response = questionnaire_response(&CheckinAnswers {
            id: &id,
            patient: &patient.to_string(),
            author: author(actor, patient),
            visit_type: &visit_type.id.to_string(),
            authored: &now.to_string(),
            answers: &answers,
        })
        .to_string();
        let by = actor.principal.actor_id();
        checkins::save(
            &mut tx,
            &access,
            &NewCheckin {
                id: &id,
                appointment,
                submitted_by: &by,
                contact: &contact,
                contact_changed: before.as_ref().is_some_and(|b| b.contact != contact),
                insurance: &insurance,
                insurance_changed: before.as_ref().is_some_and(|b| b.insurance != insurance)
                    || !photos.is_empty(),
                review: review.as_ref(),
                questionnaire_response: &response,
            },
            &photos,
            now,
        )
        .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "CheckIn");
        event.resource_id = Some(appointment.to_string());
        event.detail = format!("checked in; {} card photo(s)", photos.len());
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// One photo of an insurance card, for whoever may see the patient's appointments.
    pub async fn checkin_photo(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: AttachmentId,
    ) -> Result<(FileName, attachment::Kind, Vec<u8>)> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ViewAppointments)
            .await?;
        let found = checkins::photo(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "CheckInPhoto");
        event.resource_id = Some(id.to_string());
        self.audit_alone(&event).await?;
        Ok(found)
    }

    /// A visit's check-in as this viewer may see it: all of it for the patient's side; contact
    /// and insurance for the front desk; and for a clinician the clinical review and the
    /// answers too. `None` when there is none.
    pub(super) async fn checkin_for(
        &self,
        tx: &mut portal_store::Tx,
        access: &PatientAccess,
        actor: &Actor,
        appointment: AppointmentId,
    ) -> Result<Option<Checkin>> {
        let Some(mut found) = checkins::of_visit(tx, access, appointment).await? else {
            return Ok(None);
        };
        let staff = matches!(
            actor.principal,
            Principal::User {
                role: Role::Staff | Role::Admin,
                ..
            }
        );
        if staff || !access.also_allows(Action::ViewRecord) {
            found.review = Review::default();
            found.clinical_changed = false;
            found.questionnaire_response = String::new();
        }
        Ok(Some(found))
    }
}

/// The answers in a stored `QuestionnaireResponse`, in its items' order.
pub fn answers_of(response: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(response) else {
        return Vec::new();
    };
    value["item"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    i["answer"][0]["valueString"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The questions and answers in a stored `QuestionnaireResponse`.
pub fn questions_and_answers(response: &str) -> Vec<(String, String)> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(response) else {
        return Vec::new();
    };
    value["item"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["text"].as_str().unwrap_or("").to_string(),
                        i["answer"][0]["valueString"]
                            .as_str()
                            .unwrap_or("")
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn judge_photos(files: &[Upload], errors: &mut FieldErrors) -> Vec<CardPhoto> {
    if files.len() > MAX_PHOTOS {
        errors.add(
            "files",
            "Add at most two photos: the front and the back of the card.",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (n, file) in files.iter().enumerate() {
        let shown = FileName::clean(&file.name, attachment::Kind::Pdf);
        let shown = shown.as_str().trim_end_matches(".pdf").to_string();
        match attachment::judge(&file.bytes, &file.name, &shown, MAX_PHOTO_BYTES) {
            Ok(kind) => out.push(CardPhoto {
                id: AttachmentId::from_uuid(uuid::Uuid::now_v7()),
                side: if n == 0 { "front" } else { "back" },
                name: FileName::clean(&file.name, kind),
                kind,
                content: file.bytes.clone(),
            }),
            Err(refused) => errors.add("files", refused.to_string()),
        }
    }
    out
}
