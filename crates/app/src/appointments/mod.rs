//! Appointments: the patient's side (and the clinic for a patient) finds open times, books,
//! moves and cancels visits; the clinic keeps schedules ([`setup`]) and reads its day and week
//! ([`clinic_side`]). Each booking, move and cancellation is one policy action in one
//! transaction with its audit event and the e-mails it sends (with a calendar file, never the
//! reason or the kind of visit).
//!
//! No two visits of a clinician overlap: each holds its units of the clinician's time as rows
//! the database refuses twice (see `portal_store::appointments`), so of two requests for one
//! time exactly one books and the other is offered the nearest free times.

mod booking;
mod checkin;
mod clinic_side;
mod offers;
pub(crate) mod setup;

pub use booking::{
    BookForm, FindQuery, Finder, NotBooked, Offered, Opening, Slot, new_book_key, slot_value,
};
pub use checkin::{CheckinInput, CheckinPage, StoredCheckin, questions_and_answers};
pub use clinic_side::{ScheduleDay, ScheduleView, Span};
pub use offers::OfferPage;
pub use portal_store::appointments::Appointment;
pub use portal_store::offers::Offer;
pub use portal_store::schedules::{Location, Scheduled};
pub use setup::{ScheduleSetup, SettingsForm, keys};

use crate::services::Appointments;
use crate::{Actor, Error, Result, commit};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::Action;
use portal_domain::appointments::schedule::{self, OpenTime, Search};
use portal_domain::appointments::{
    AppointmentSettings, NotBookable, PatientFacts, Reason, Status, VisitType, age_on, calendar,
};
use portal_domain::audit::AuditAction;
use portal_domain::fields::FieldErrors;
use portal_domain::{
    AppointmentId, LocationId, PatientAccess, PatientId, Principal, Role, UserId, VisitTypeId,
};
use portal_store::Tx;
use portal_store::appointments::{self as store, KEY_USED, NewAppointment, TIME_TAKEN};
use portal_store::patients::{self, PatientRow};
use portal_store::schedules;

/// How many days of open times one page shows.
pub const DAYS_PER_PAGE: i64 = 14;
/// The most open times one page lists.
const TIMES_PER_PAGE: usize = 600;
/// How much of a search's window is read at once.
const SEARCH_STEP: SignedDuration = SignedDuration::from_hours(72);
/// How many free times a patient whose time was just taken is offered.
const ALTERNATIVES: usize = 3;
/// The most appointments a patient's list shows.
const LIST_LIMIT: i64 = 200;

/// The patient's appointments.
#[derive(Debug)]
pub struct AppointmentList {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// Booked visits still to come, soonest first.
    pub upcoming: Vec<Appointment>,
    /// Visits that have begun, and cancelled or moved ones, latest first.
    pub past: Vec<Appointment>,
    /// The clinic's appointment settings.
    pub settings: AppointmentSettings,
    /// Whether the viewer may book, move and cancel.
    pub may_manage: bool,
    /// The moment the list was read.
    pub now: Timestamp,
    /// Earlier times offered and still open, soonest first.
    pub offers: Vec<Offer>,
}

/// One appointment's page.
#[derive(Debug)]
pub struct AppointmentPage {
    /// The patient (header).
    pub patient: PatientRow,
    /// The access decision.
    pub access: PatientAccess,
    /// The appointment.
    pub appointment: Appointment,
    /// The clinic's appointment settings.
    pub settings: AppointmentSettings,
    /// Whether the viewer may cancel or move it now (open, not begun, and for the patient's
    /// side before the cut-off).
    pub may_change: bool,
    /// Whether it is open and not begun, but inside the patient's cut-off.
    pub inside_cut_off: bool,
    /// Whether it waits for an earlier time: `Some(any_clinician)` when it does.
    pub waitlisted: Option<bool>,
    /// Earlier times offered for it and still open.
    pub offers: Vec<Offer>,
    /// Whether the patient's side may check in now.
    pub check_in_open: bool,
    /// Its check-in, as this viewer may see it.
    pub checkin: Option<StoredCheckin>,
}

/// Whether the viewer acts for the clinic rather than the patient's side.
pub(crate) fn by_clinic(actor: &Actor) -> bool {
    !matches!(
        actor.principal,
        Principal::User {
            role: Role::Patient,
            ..
        }
    )
}

impl Appointments {
    /// The clinic's appointment settings: what the admin stored over the portal's defaults.
    pub async fn settings(&self) -> Result<AppointmentSettings> {
        let mut conn = self.conn().await?;
        let stored = portal_store::pools::settings(&mut conn).await?;
        Ok(setup::settings_from(&self.config().appointments, &stored))
    }

    pub(super) async fn settings_in(
        &self,
        conn: &mut portal_store::Conn,
    ) -> Result<AppointmentSettings> {
        let stored = portal_store::pools::settings(conn).await?;
        Ok(setup::settings_from(&self.config().appointments, &stored))
    }

    /// A read-only transaction with the policy's decision in it (a refusal is recorded and
    /// answered "not found").
    pub(super) async fn read_patient(
        &self,
        actor: &Actor,
        patient: PatientId,
        action: Action,
    ) -> Result<(PatientAccess, Tx)> {
        let tx = self.store().begin_read().await?;
        self.decide_patient(actor, patient, action, tx).await
    }

    /// The patient's appointments: upcoming and past.
    pub async fn list(&self, actor: &Actor, patient: PatientId) -> Result<AppointmentList> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ViewAppointments)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let all = store::list(&mut tx, &access, LIST_LIMIT).await?;
        let settings = self.settings_in(&mut tx).await?;
        let offers = portal_store::offers::open_offers(&mut tx, &access, self.now()).await?;
        drop(tx);
        let event = self.patient_event(actor, &access, AuditAction::Read, "AppointmentList");
        self.audit_alone(&event).await?;
        let now = self.now();
        let (upcoming, mut past): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|a| a.status == Status::Booked && a.start > now);
        past.reverse();
        Ok(AppointmentList {
            may_manage: access.also_allows(Action::ManageAppointments),
            patient: row,
            access,
            upcoming,
            past,
            settings,
            now,
            offers,
        })
    }

    /// One appointment's page.
    pub async fn show(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: AppointmentId,
    ) -> Result<AppointmentPage> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ViewAppointments)
            .await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let appointment = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        let settings = self.settings_in(&mut tx).await?;
        let waitlisted = portal_store::offers::waitlisted(&mut tx, &access, id).await?;
        let offers = portal_store::offers::open_offers(&mut tx, &access, self.now())
            .await?
            .into_iter()
            .filter(|o| o.appointment == id)
            .collect();
        let checkin = self.checkin_for(&mut tx, &access, actor, id).await?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Read, "Appointment");
        event.resource_id = Some(id.to_string());
        self.audit_alone(&event).await?;
        let now = self.now();
        let open = appointment.status.is_open() && appointment.start > now;
        let in_time = by_clinic(actor) || settings.patient_may_change(appointment.start, now);
        let manage = access.also_allows(Action::ManageAppointments);
        Ok(AppointmentPage {
            may_change: manage && open && in_time,
            inside_cut_off: manage && open && !in_time,
            waitlisted,
            offers,
            check_in_open: manage
                && !by_clinic(actor)
                && appointment.status.is_open()
                && portal_domain::appointments::checkin::is_open(appointment.start, now),
            checkin,
            patient: row,
            access,
            appointment,
            settings,
        })
    }

    /// The calendar file of one appointment (a download, audited).
    pub async fn calendar(
        &self,
        actor: &Actor,
        patient: PatientId,
        id: AppointmentId,
    ) -> Result<String> {
        let (access, mut tx) = self
            .read_patient(actor, patient, Action::ViewAppointments)
            .await?;
        let appointment = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        drop(tx);
        let mut event = self.patient_event(actor, &access, AuditAction::Export, "Appointment");
        event.resource_id = Some(id.to_string());
        event.detail = "calendar file".into();
        self.audit_alone(&event).await?;
        Ok(self.ics(&appointment))
    }

    pub(super) fn ics(&self, a: &Appointment) -> String {
        let uid = format!("{}@patient-portal", a.id);
        let summary = format!("Appointment at {}", self.config().clinic_name);
        let location = if a.location_address.is_empty() {
            a.location_name.clone()
        } else {
            format!("{}, {}", a.location_name, a.location_address)
        };
        let description = format!("Details are in the portal: {}", self.config().public_url);
        let sequence = match a.status {
            Status::Booked => 0,
            Status::Cancelled | Status::Moved => 1,
        };
        calendar::ics(&calendar::Entry {
            uid: &uid,
            sequence,
            start: a.start,
            end: a.end,
            summary: &summary,
            location: &location,
            description: &description,
            stamp: self.now(),
            cancelled: !a.status.is_open(),
        })
    }

    /// Cancels a visit: within the clinic's cut-off for the patient's side, any time before it
    /// begins for the clinic.
    pub async fn cancel(&self, actor: &Actor, patient: PatientId, id: AppointmentId) -> Result<()> {
        let (access, mut tx) = self
            .open_patient(actor, patient, Action::ManageAppointments)
            .await?;
        let now = self.now();
        let settings = self.settings_in(&mut tx).await?;
        let found = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        check_changeable(&found, &settings, now, by_clinic(actor))?;
        let by = actor.principal.actor_id();
        if !store::end(&mut tx, &access, id, Status::Cancelled, None, &by, now).await? {
            return Err(Error::Conflict(
                "This appointment was changed a moment ago. Reload the page to see it.".into(),
            ));
        }
        let cancelled = store::find(&mut tx, &access, id)
            .await?
            .ok_or(Error::NotFound)?;
        self.tell_patient_side(&mut tx, &access, &cancelled, &settings, false)
            .await?;
        portal_store::offers::leave(&mut tx, &access, id, now).await?;
        self.offer_freed(&mut tx, &offers::freed_by(&found), &settings)
            .await?;
        let mut event = self.patient_event(actor, &access, AuditAction::Update, "Appointment");
        event.resource_id = Some(id.to_string());
        event.detail = "cancelled".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    /// Queues the e-mail telling the patient's side of a booking, move or cancellation, with
    /// the calendar file: when and where, never why or the kind of visit.
    pub(super) async fn tell_patient_side(
        &self,
        tx: &mut Tx,
        access: &PatientAccess,
        appointment: &Appointment,
        settings: &AppointmentSettings,
        moved: bool,
    ) -> Result<()> {
        let addresses = store::patient_side_addresses(tx, access, self.now()).await?;
        if addresses.is_empty() {
            return Ok(());
        }
        let clinic = self.config().clinic_name.clone();
        let when = settings
            .local(appointment.start)
            .strftime("%A, %B %-d, %Y at %-I:%M %p %Z")
            .to_string();
        let link = format!("{}/", self.config().public_url);
        let (subject, opening) = match (appointment.status, moved) {
            (Status::Booked, false) => (
                format!("Your appointment at {clinic} is booked"),
                format!("An appointment at {clinic} is booked for {when}."),
            ),
            (Status::Booked, true) => (
                format!("Your appointment at {clinic} has moved"),
                format!("An appointment at {clinic} has moved to {when}."),
            ),
            _ => (
                format!("Your appointment at {clinic} is cancelled"),
                format!("The appointment at {clinic} on {when} is cancelled."),
            ),
        };
        let body = format!(
            "{opening}\n\nPlace: {}\n\nThe attached file adds it to your calendar. Sign in to \
             see the details or to change it: {link}\n\nIf you did not expect this e-mail, \
             call the clinic{}.\n",
            appointment.location_name,
            if settings.phone.is_empty() {
                String::new()
            } else {
                format!(" at {}", settings.phone)
            }
        );
        let ics = self.ics(appointment);
        for to in addresses {
            self.queue_mail_with_file(
                tx,
                ("appointment", &to, &subject, &body),
                "appointment.ics",
                &ics,
            )
            .await?;
        }
        Ok(())
    }
}

/// Whether an appointment may still be cancelled or moved by this viewer; the refusal says
/// what to do instead.
pub(super) fn check_changeable(
    a: &Appointment,
    settings: &AppointmentSettings,
    now: Timestamp,
    by_clinic: bool,
) -> Result<()> {
    if !a.status.is_open() || a.start <= now {
        return Err(Error::Conflict(
            "This appointment can no longer be changed.".into(),
        ));
    }
    if !by_clinic && !settings.patient_may_change(a.start, now) {
        let call = if settings.phone.is_empty() {
            "please call the clinic".to_string()
        } else {
            format!("please call the clinic at {}", settings.phone)
        };
        return Err(Error::Conflict(format!(
            "This appointment is less than {} hours away, so it can no longer be changed \
             online: {call}.",
            settings.cancel_hours
        )));
    }
    Ok(())
}
