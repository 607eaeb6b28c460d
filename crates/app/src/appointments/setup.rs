//! The clinic's schedules, set up by admins (pages) and the command line: locations, kinds of
//! visit, clinicians' weekly hours, closures, and the appointment settings. Every change is
//! audited.

use crate::services::Appointments;
use crate::{Actor, Error, Result, commit};
use jiff::Timestamp;
use portal_domain::access::{ClinicAction, ClinicCapability, authorize_clinic};
use portal_domain::appointments::schedule::{Closure, NewHours, WeeklyHours, parse_closure};
use portal_domain::appointments::{AppointmentSettings, NewVisitType, VisitType, VisitTypeForm};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::fields::FieldErrors;
use portal_domain::{ClosureId, HoursId, LocationId, Role, UserId, VisitTypeId};
use portal_store::schedules::{self, Location};
use portal_store::{Tx, pools, users};

/// The setting keys appointments read from the clinic's settings.
pub mod keys {
    /// Hours before a visit after which the patient's side must call to change it.
    pub const CANCEL_HOURS: &str = "appointments.cancel_hours";
    /// The number patients call.
    pub const PHONE: &str = "appointments.phone";
    /// Hours before a visit each reminder goes ("72,24").
    pub const REMINDER_HOURS: &str = "appointments.reminder_hours";
    /// Hours an earlier-time offer stays open.
    pub const OFFER_HOURS: &str = "appointments.offer_hours";
}

/// Reads stored settings over the defaults; unreadable values keep the default.
pub fn settings_from(
    defaults: &AppointmentSettings,
    stored: &[(String, String)],
) -> AppointmentSettings {
    let mut s = defaults.clone();
    for (key, value) in stored {
        match key.as_str() {
            keys::CANCEL_HOURS => {
                s.cancel_hours = value
                    .parse::<i64>()
                    .map(|h| h.clamp(0, AppointmentSettings::MAX_CANCEL_HOURS))
                    .unwrap_or(s.cancel_hours)
            }
            keys::PHONE => s.phone = value.clone(),
            keys::REMINDER_HOURS => {
                if let Ok(leads) = portal_domain::appointments::offers::parse_reminder_hours(value)
                {
                    s.reminder_hours = leads;
                }
            }
            keys::OFFER_HOURS => {
                s.offer_hours = value
                    .parse::<i64>()
                    .map(|h| h.clamp(1, MAX_OFFER_HOURS))
                    .unwrap_or(s.offer_hours)
            }
            _ => {}
        }
    }
    s
}

/// The longest an earlier-time offer stays open, in hours.
pub const MAX_OFFER_HOURS: i64 = 72;

/// The appointment settings as an admin's form sent them.
#[derive(Clone, Debug, Default)]
pub struct SettingsForm {
    /// Hours before a visit after which patients must call.
    pub cancel_hours: String,
    /// The clinic's phone number.
    pub phone: String,
    /// Reminder leads, e.g. "72, 24" (empty: no reminders).
    pub reminder_hours: String,
    /// Hours an earlier-time offer stays open.
    pub offer_hours: String,
}

/// Everything the schedule set-up page shows.
#[derive(Debug)]
pub struct ScheduleSetup {
    /// The locations.
    pub locations: Vec<Location>,
    /// Every kind of visit, offered ones first.
    pub visit_types: Vec<VisitType>,
    /// Every active clinician: id, name.
    pub clinicians: Vec<(UserId, String)>,
    /// Every block of weekly hours.
    pub hours: Vec<WeeklyHours>,
    /// Closures that have not ended, earliest first.
    pub closures: Vec<Closure>,
    /// The appointment settings.
    pub settings: AppointmentSettings,
}

fn configure(actor: &Actor) -> Result<ClinicCapability> {
    authorize_clinic(&actor.principal, ClinicAction::ConfigureClinic).map_err(|_| Error::Forbidden)
}

fn name_error(field: &'static str, what: &str) -> Error {
    Error::field(field, format!("A {what} with this name already exists."))
}

impl Appointments {
    /// The schedule set-up page (admins).
    pub async fn setup(&self, actor: &Actor) -> Result<ScheduleSetup> {
        configure(actor)?;
        let mut tx = self.store().begin_read().await?;
        let locations = schedules::locations(&mut tx).await?;
        let visit_types = schedules::visit_types(&mut tx).await?;
        let clinicians = users::list(&mut tx)
            .await?
            .into_iter()
            .filter(|u| {
                u.role == Role::Clinician && u.status == portal_domain::user::AccountStatus::Active
            })
            .map(|u| (u.id, u.name))
            .collect::<Vec<_>>();
        let hours = schedules::hours(&mut tx, None).await?;
        let now = self.now();
        let closures = schedules::closures(&mut tx, now, Timestamp::MAX).await?;
        let stored = pools::settings(&mut tx).await?;
        drop(tx);
        let mut clinicians = clinicians;
        clinicians.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(ScheduleSetup {
            locations,
            visit_types,
            clinicians,
            hours,
            closures,
            settings: settings_from(&self.config().appointments, &stored),
        })
    }

    async fn audited(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        action: AuditAction,
        what: &str,
        id: String,
        detail: String,
    ) -> Result<()> {
        let mut event = self.event(actor, action, what, Outcome::Success);
        event.resource_id = Some(id);
        event.detail = detail;
        self.audit(tx, &event).await
    }

    /// Adds a location.
    pub async fn add_location(
        &self,
        actor: &Actor,
        name: &str,
        address: &str,
    ) -> Result<LocationId> {
        let capability = configure(actor)?;
        let mut errors = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
            errors.add("name", "Enter a name of 1 to 80 characters.");
        }
        let address = address.trim();
        if address.chars().count() > 200 || address.chars().any(char::is_control) {
            errors.add("address", "Enter an address of up to 200 characters.");
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let location = Location {
            id: LocationId::from_uuid(uuid::Uuid::now_v7()),
            name: name.to_string(),
            address: address.to_string(),
        };
        let mut tx = self.store().begin().await?;
        schedules::add_location(&mut tx, &capability, &location, self.now())
            .await
            .map_err(|e| match e {
                portal_store::Error::Conflict(_) => name_error("name", "location"),
                other => other.into(),
            })?;
        self.audited(
            &mut tx,
            actor,
            AuditAction::Create,
            "Location",
            location.id.to_string(),
            format!("location {name}"),
        )
        .await?;
        commit(tx).await?;
        Ok(location.id)
    }

    /// Adds a kind of visit.
    pub async fn add_visit_type(&self, actor: &Actor, form: &VisitTypeForm) -> Result<VisitTypeId> {
        let capability = configure(actor)?;
        let new = NewVisitType::parse(form).map_err(Error::Invalid)?;
        let id = VisitTypeId::from_uuid(uuid::Uuid::now_v7());
        let mut tx = self.store().begin().await?;
        schedules::add_visit_type(&mut tx, &capability, id, &new, self.now())
            .await
            .map_err(|e| match e {
                portal_store::Error::Conflict(_) => name_error("name", "visit type"),
                other => other.into(),
            })?;
        self.audited(
            &mut tx,
            actor,
            AuditAction::Create,
            "VisitType",
            id.to_string(),
            format!("visit type {} ({} minutes)", new.name, new.minutes),
        )
        .await?;
        commit(tx).await?;
        Ok(id)
    }

    /// Offers a kind of visit again, or retires it.
    pub async fn set_visit_type_offered(
        &self,
        actor: &Actor,
        id: VisitTypeId,
        offered: bool,
    ) -> Result<()> {
        let capability = configure(actor)?;
        let mut tx = self.store().begin().await?;
        if !schedules::set_visit_type_active(&mut tx, &capability, id, offered).await? {
            return Err(Error::NotFound);
        }
        self.audited(
            &mut tx,
            actor,
            AuditAction::Update,
            "VisitType",
            id.to_string(),
            if offered { "offered" } else { "retired" }.into(),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    /// Finds a clinician by e-mail address or id.
    async fn clinician(&self, tx: &mut Tx, who: &str) -> Result<UserId> {
        let who = who.trim();
        let found = match who.parse::<UserId>() {
            Ok(id) => users::find(tx, id).await?,
            Err(_) => users::find_by_email(tx, &who.to_lowercase()).await?,
        };
        found
            .filter(|u| u.role == Role::Clinician)
            .map(|u| u.id)
            .ok_or_else(|| Error::field("clinician", "No clinician has this e-mail address."))
    }

    /// Finds a location by name or id.
    async fn location(&self, tx: &mut Tx, which: &str) -> Result<LocationId> {
        let which = which.trim();
        schedules::locations(tx)
            .await?
            .into_iter()
            .find(|l| l.id.to_string() == which || l.name.eq_ignore_ascii_case(which))
            .map(|l| l.id)
            .ok_or_else(|| Error::field("location", "No location has this name."))
    }

    /// Adds weekly hours: one block per day named, for `visit_types` (names or ids; none for
    /// every kind).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_hours(
        &self,
        actor: &Actor,
        clinician: &str,
        location: &str,
        weekdays: &[String],
        (start, end): (&str, &str),
        (from, until): (&str, &str),
        visit_types: &[String],
    ) -> Result<Vec<HoursId>> {
        let capability = configure(actor)?;
        let new = NewHours::parse(weekdays, start, end, from, until).map_err(Error::Invalid)?;
        let mut tx = self.store().begin().await?;
        let clinician = self.clinician(&mut tx, clinician).await?;
        let location = self.location(&mut tx, location).await?;
        let known = schedules::visit_types(&mut tx).await?;
        let mut types = Vec::new();
        for wanted in visit_types
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            let found = known
                .iter()
                .find(|v| v.id.to_string() == wanted || v.name.eq_ignore_ascii_case(wanted))
                .ok_or_else(|| Error::field("visit_types", "No visit type has this name."))?;
            if !types.contains(&found.id) {
                types.push(found.id);
            }
        }
        let mut ids = Vec::new();
        for weekday in &new.weekdays {
            let hours = WeeklyHours {
                id: HoursId::from_uuid(uuid::Uuid::now_v7()),
                clinician,
                location,
                weekday: *weekday,
                start: new.start,
                end: new.end,
                visit_types: types.clone(),
                from: new.from,
                until: new.until,
            };
            schedules::add_hours(&mut tx, &capability, &hours, self.now()).await?;
            self.audited(
                &mut tx,
                actor,
                AuditAction::Create,
                "Schedule",
                hours.id.to_string(),
                format!(
                    "weekly hours {} {}-{}",
                    portal_domain::appointments::schedule::weekday_code(*weekday),
                    new.start.strftime("%H:%M"),
                    new.end.strftime("%H:%M")
                ),
            )
            .await?;
            ids.push(hours.id);
        }
        commit(tx).await?;
        Ok(ids)
    }

    /// Removes a block of weekly hours (visits booked in it stay booked).
    pub async fn remove_hours(&self, actor: &Actor, id: HoursId) -> Result<()> {
        let capability = configure(actor)?;
        let mut tx = self.store().begin().await?;
        if !schedules::remove_hours(&mut tx, &capability, id).await? {
            return Err(Error::NotFound);
        }
        self.audited(
            &mut tx,
            actor,
            AuditAction::Delete,
            "Schedule",
            id.to_string(),
            "weekly hours removed".into(),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    /// Closes a clinician's time (`clinician` empty: the whole clinic) from `from` to `until`,
    /// wall-clock times in the clinic's zone ("2026-12-24" or "2026-12-24 13:00"). Visits
    /// already booked in it stay booked: the clinic moves them.
    pub async fn add_closure(
        &self,
        actor: &Actor,
        clinician: &str,
        (from, until): (&str, &str),
        reason: &str,
    ) -> Result<ClosureId> {
        let capability = configure(actor)?;
        let zone = self.config().appointments.zone.clone();
        let (starts, ends, reason) =
            parse_closure(&zone, from, until, reason).map_err(Error::Invalid)?;
        let mut tx = self.store().begin().await?;
        let clinician = if clinician.trim().is_empty() {
            None
        } else {
            Some(self.clinician(&mut tx, clinician).await?)
        };
        let closure = Closure {
            id: ClosureId::from_uuid(uuid::Uuid::now_v7()),
            clinician,
            starts,
            ends,
            reason,
        };
        let by = actor.principal.actor_id();
        schedules::add_closure(&mut tx, &capability, &closure, &by, self.now()).await?;
        self.audited(
            &mut tx,
            actor,
            AuditAction::Create,
            "Closure",
            closure.id.to_string(),
            format!("closed: {}", closure.reason),
        )
        .await?;
        commit(tx).await?;
        Ok(closure.id)
    }

    /// Removes a closure.
    pub async fn remove_closure(&self, actor: &Actor, id: ClosureId) -> Result<()> {
        let capability = configure(actor)?;
        let mut tx = self.store().begin().await?;
        if !schedules::remove_closure(&mut tx, &capability, id).await? {
            return Err(Error::NotFound);
        }
        self.audited(
            &mut tx,
            actor,
            AuditAction::Delete,
            "Closure",
            id.to_string(),
            "closure removed".into(),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }

    /// Stores the cancellation cut-off, the clinic's phone number, the reminders' leads and how
    /// long offers stay open.
    pub async fn save_settings(&self, actor: &Actor, form: &SettingsForm) -> Result<()> {
        let capability = configure(actor)?;
        let mut errors = FieldErrors::new();
        let hours = form
            .cancel_hours
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|h| (0..=AppointmentSettings::MAX_CANCEL_HOURS).contains(h));
        if hours.is_none() {
            errors.add(
                "cancel_hours",
                format!(
                    "Enter whole hours from 0 to {}.",
                    AppointmentSettings::MAX_CANCEL_HOURS
                ),
            );
        }
        let phone = form.phone.trim();
        if phone.chars().count() > 40 || phone.chars().any(char::is_control) {
            errors.add("phone", "Enter a phone number of up to 40 characters.");
        }
        let leads = errors.take(
            "reminder_hours",
            portal_domain::appointments::offers::parse_reminder_hours(&form.reminder_hours),
        );
        let offer_hours = form
            .offer_hours
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|h| (1..=MAX_OFFER_HOURS).contains(h));
        if offer_hours.is_none() {
            errors.add(
                "offer_hours",
                format!("Enter whole hours from 1 to {MAX_OFFER_HOURS}."),
            );
        }
        let (Some(hours), Some(leads), Some(offer_hours), true) =
            (hours, leads, offer_hours, errors.is_empty())
        else {
            return Err(Error::Invalid(errors));
        };
        let leads = leads
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let by = actor.principal.actor_id();
        let now = self.now();
        let mut tx = self.store().begin().await?;
        pools::set_setting(
            &mut tx,
            &capability,
            keys::CANCEL_HOURS,
            &hours.to_string(),
            &by,
            now,
        )
        .await?;
        pools::set_setting(&mut tx, &capability, keys::PHONE, phone, &by, now).await?;
        pools::set_setting(&mut tx, &capability, keys::REMINDER_HOURS, &leads, &by, now).await?;
        pools::set_setting(
            &mut tx,
            &capability,
            keys::OFFER_HOURS,
            &offer_hours.to_string(),
            &by,
            now,
        )
        .await?;
        self.audited(
            &mut tx,
            actor,
            AuditAction::Update,
            "ClinicSettings",
            "appointments".into(),
            format!(
                "cancellation cut-off {hours} hours; reminders {leads}; offers open {offer_hours} hours"
            ),
        )
        .await?;
        commit(tx).await?;
        Ok(())
    }
}
