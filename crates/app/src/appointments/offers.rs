//! Earlier-time offers and reminders. A patient holding a visit asks to be offered earlier
//! times; when a time of the same kind frees up (a cancellation, a move), the waitlisted visits
//! it would bring forward are offered it by e-mail, each offer open for the clinic's offer time;
//! the first to accept moves there (the booking's units decide), and the time their visit held
//! is offered in turn. Reminders go a set number of hours before each visit, once each, from
//! whichever portal process claims them first.

use super::{AppointmentSettings, BookForm, NotBooked, slot_value};
use crate::services::Appointments;
use crate::{Actor, Error, Result, commit};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{Action, ClinicAction, authorize_clinic};
use portal_domain::appointments::offers::{OfferStatus, due_reminders};
use portal_domain::appointments::schedule::OpenTime;
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::{AppointmentId, OfferId, PatientAccess, PatientId, Principal};
use portal_store::Tx;
use portal_store::appointments as store;
use portal_store::offers::{self, Freed, Offer};
use portal_store::schedules;

/// How many waitlisted visits one freed time is offered to at once.
const OFFERED_TO: i64 = 5;

/// One offer's page.
#[derive(Debug)]
pub struct OfferPage {
    /// The patient (header).
    pub patient: portal_store::patients::PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// The offer.
    pub offer: Offer,
    /// The visit it would move.
    pub appointment: super::Appointment,
    /// Whether it may still be accepted now.
    pub open: bool,
}

impl Appointments {
    /// Puts an upcoming visit on the waitlist for earlier times (`any_clinician`: with any
    /// clinician, else only with its own).
    pub async fn join_waitlist(
        &self,
        actor: &Actor,
        patient: PatientId,
        appointment: AppointmentId,
        any_clinician: bool,
    ) -> Result<()> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageAppointments)
            .await?;
        let found = store::find(&mut tx, &access, appointment)
            .await?
            .ok_or(Error::NotFound)?;
        if !found.status.is_open() || found.start <= self.now() {
            return Err(Error::Conflict(
                "This appointment can no longer be changed.".into(),
            ));
        }
        offers::join(&mut tx, &access, appointment, any_clinician, self.now()).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "Appointment");
        event.resource_id = Some(appointment.to_string());
        event.detail = "asked to be offered earlier times".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// Takes a visit off the waitlist (its open offers are withdrawn).
    pub async fn leave_waitlist(
        &self,
        actor: &Actor,
        patient: PatientId,
        appointment: AppointmentId,
    ) -> Result<()> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageAppointments)
            .await?;
        store::find(&mut tx, &access, appointment)
            .await?
            .ok_or(Error::NotFound)?;
        offers::leave(&mut tx, &access, appointment, self.now()).await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "Appointment");
        event.resource_id = Some(appointment.to_string());
        event.detail = "stopped earlier-time offers".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// One offer's page.
    pub async fn offer(&self, actor: &Actor, patient: PatientId, id: OfferId) -> Result<OfferPage> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ViewAppointments)
            .await?;
        let row = portal_store::patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let offer = offers::find_offer(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        let appointment = store::find(&mut tx, &access, offer.appointment)
            .await?
            .ok_or(Error::NotFound)?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Offer");
        event.resource_id = Some(id.to_string());
        self.audit_alone(&event).await?;
        let now = self.now();
        Ok(OfferPage {
            open: offer.status == OfferStatus::Open
                && offer.expires_at > now
                && offer.start > now
                && appointment.status.is_open()
                && access.also_allows(Action::ManageAppointments),
            patient: row,
            access,
            offer,
            appointment,
        })
    }

    /// Accepts an offer: moves its visit to the offered time. Someone quicker is
    /// [`NotBooked::Taken`] with the nearest free times; an offer no longer open is a conflict.
    pub async fn accept_offer(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: OfferId,
    ) -> std::result::Result<AppointmentId, NotBooked> {
        let page = self.offer(actor, patient, id).await?;
        if !page.open {
            return Err(NotBooked::Failed(Error::Conflict(
                "This offer has ended: the time was taken, the offer expired or the visit changed."
                    .into(),
            )));
        }
        let time = OpenTime {
            start: page.offer.start,
            end: page.offer.end,
            clinician: page.offer.clinician,
            location: page.offer.location,
        };
        let form = BookForm {
            visit_type: page.appointment.visit_type.to_string(),
            slot: slot_value(&time),
            reason: String::new(),
            // The offer's own id: accepting twice moves the visit once.
            book_key: id.as_uuid().simple().to_string(),
            moving: Some(page.appointment.id),
            offer: Some(id),
        };
        self.book(actor, patient, &form).await
    }

    /// Settles an accepted offer inside the move's transaction: marks it accepted (refused if
    /// it is no longer open), marks the other offers of that time taken, and takes the visit
    /// off the waitlist.
    pub(super) async fn settle_offer(
        &self,
        tx: &mut Tx,
        access: &PatientAccess,
        id: OfferId,
        moved: &super::Appointment,
        time: (Timestamp, Timestamp, portal_domain::UserId),
    ) -> Result<()> {
        let now = self.now();
        if !offers::accept(tx, access, id, now).await? {
            return Err(Error::Conflict(
                "This offer has ended: the time was taken, the offer expired or the visit changed."
                    .into(),
            ));
        }
        let jobs = authorize_clinic(&Principal::Operator, ClinicAction::RunAppointmentJobs)
            .map_err(|_| Error::Internal("the portal may not run its own jobs".into()))?;
        offers::taken_by_another(tx, &jobs, time.2, (time.0, time.1), now).await?;
        offers::leave(tx, access, moved.id, now).await?;
        Ok(())
    }

    /// Offers a time a cancellation or a move just freed to the waitlisted visits it would
    /// bring forward, in the freeing transaction: an offer each, an e-mail each (no health
    /// data), an audit event each in the waiting patient's record. Nothing when the time is
    /// not free after all (a move onto part of it) or too soon for the patient's side.
    pub(super) async fn offer_freed(
        &self,
        tx: &mut Tx,
        freed: &Freed,
        settings: &AppointmentSettings,
    ) -> Result<usize> {
        let now = self.now();
        let jobs = authorize_clinic(&Principal::Operator, ClinicAction::RunAppointmentJobs)
            .map_err(|_| Error::Internal("the portal may not run its own jobs".into()))?;
        let Some(visit_type) = schedules::visit_type(tx, freed.visit_type).await? else {
            return Ok(0);
        };
        if !visit_type.active || !visit_type.bookable_at(freed.start, now, false) {
            return Ok(0);
        }
        let taken = schedules::taken(tx, Some(freed.clinician), freed.start, freed.end).await?;
        if !taken.free(freed.clinician, freed.start, freed.end) {
            return Ok(0);
        }
        let waiting = offers::candidates(tx, &jobs, freed, OFFERED_TO).await?;
        let expires = now
            .checked_add(SignedDuration::from_hours(settings.offer_hours.max(1)))
            .unwrap_or(freed.start)
            .min(freed.start);
        let clinic = self.config().clinic_name.clone();
        let when = settings
            .local(freed.start)
            .strftime("%A, %B %-d, %Y at %-I:%M %p %Z")
            .to_string();
        let until = settings
            .local(expires)
            .strftime("%B %-d at %-I:%M %p %Z")
            .to_string();
        let operator = Actor::operator();
        for (appointment, patient) in &waiting {
            let id = OfferId::from_uuid(uuid::Uuid::now_v7());
            offers::insert_offer(tx, &jobs, id, (*appointment, *patient), freed, now, expires)
                .await?;
            let link = format!(
                "{}/patients/{patient}/appointments/offers/{id}",
                self.config().public_url
            );
            let body = format!(
                "An earlier appointment time at {clinic} is free: {when}.\n\nIt is offered to \
                 a few patients who asked for an earlier time; the first to accept it gets it. \
                 The offer is open until {until}. Sign in to see it and accept it:\n{link}\n\n\
                 If you do nothing, your current appointment stays as it is.\n"
            );
            for to in offers::addresses(tx, &jobs, *patient, false, now).await? {
                self.queue_mail(
                    tx,
                    "appointment-offer",
                    &to,
                    &format!("An earlier appointment time at {clinic}"),
                    &body,
                )
                .await?;
            }
            let mut event = self.event(&operator, AuditAction::Create, "Offer", Outcome::Success);
            event.patient_id = Some(patient.to_string());
            event.resource_id = Some(id.to_string());
            event.actor_id = "portal".into();
            event.actor_role = "portal".into();
            event.on_behalf_of = "portal".into();
            event.detail = format!("offered a freed time for appointment {appointment}");
            self.audit(tx, &event).await?;
        }
        Ok(waiting.len())
    }

    /// Sends the reminders due now (once each, whichever process claims them first; never for
    /// a cancelled visit; only to accounts that want them). Returns how many visits were
    /// reminded.
    pub async fn send_due_reminders(&self) -> Result<usize> {
        let jobs = authorize_clinic(&Principal::Operator, ClinicAction::RunAppointmentJobs)
            .map_err(|_| Error::Internal("the portal may not run its own jobs".into()))?;
        let settings = self.settings().await?;
        let Some(longest) = settings.reminder_hours.iter().copied().max() else {
            return Ok(0);
        };
        let now = self.now();
        let until = now
            .checked_add(SignedDuration::from_hours(longest))
            .unwrap_or(now);
        let visits = {
            let mut conn = self.conn().await?;
            offers::upcoming(&mut conn, &jobs, now, until).await?
        };
        let clinic = self.config().clinic_name.clone();
        let operator = Actor::operator();
        let mut reminded = 0;
        for visit in visits {
            let due = due_reminders(
                visit.start,
                visit.booked_at,
                now,
                &settings.reminder_hours,
                &visit.sent,
            );
            if due.is_empty() {
                continue;
            }
            let mut tx = self.store().begin().await?;
            let backend = self.store().backend();
            if !offers::claim_reminders(&mut tx, backend, &jobs, visit.appointment, &due, now)
                .await?
            {
                // Cancelled meanwhile, or another process sent it.
                continue;
            }
            let when = settings
                .local(visit.start)
                .strftime("%A, %B %-d, %Y at %-I:%M %p %Z")
                .to_string();
            let body = format!(
                "A reminder of your appointment at {clinic} on {when}.\n\nPlace: {}\n\nSign in \
                 to see the details, or to move or cancel it: {}/\n{}\nYou can turn these \
                 reminders off on your Account page.\n",
                visit.location_name,
                self.config().public_url,
                if settings.phone.is_empty() {
                    String::new()
                } else {
                    format!(
                        "Close to the visit, call the clinic at {} instead.\n",
                        settings.phone
                    )
                }
            );
            for to in offers::addresses(&mut tx, &jobs, visit.patient, true, now).await? {
                self.queue_mail(
                    &mut tx,
                    "appointment-reminder",
                    &to,
                    &format!("Reminder: your appointment at {clinic}"),
                    &body,
                )
                .await?;
            }
            let mut event =
                self.event(&operator, AuditAction::Create, "Reminder", Outcome::Success);
            event.patient_id = Some(visit.patient.to_string());
            event.resource_id = Some(visit.appointment.to_string());
            event.actor_id = "portal".into();
            event.actor_role = "portal".into();
            event.on_behalf_of = "portal".into();
            event.detail = format!(
                "appointment reminder ({} hours before)",
                due.iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            self.audit(&mut tx, &event).await?;
            commit(tx).await?;
            reminded += 1;
        }
        if reminded > 0 {
            self.mail_wakeup().notify_one();
        }
        Ok(reminded)
    }

    /// Whether the signed-in account wants appointment reminders by e-mail.
    pub async fn reminders_wanted(&self, actor: &Actor) -> Result<bool> {
        let user = actor.principal.user_id().ok_or(Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(offers::wants_reminders(&mut conn, user).await?)
    }

    /// Turns the signed-in account's appointment reminders on or off.
    pub async fn set_reminders_wanted(&self, actor: &Actor, on: bool) -> Result<()> {
        let user = actor.principal.user_id().ok_or(Error::Forbidden)?;
        let mut tx = self.store().begin().await?;
        offers::set_reminders(&mut tx, user, on).await?;
        let mut event = self.event(actor, AuditAction::Update, "Account", Outcome::Success);
        event.resource_id = Some(user.to_string());
        event.detail = format!("appointment reminders {}", if on { "on" } else { "off" });
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }
}

/// The time a visit held, as a freed time.
pub(super) fn freed_by(a: &super::Appointment) -> Freed {
    Freed {
        clinician: a.clinician,
        location: a.location,
        visit_type: a.visit_type,
        start: a.start,
        end: a.end,
    }
}
