//! The clinic's schedule: a day or a week, for one clinician or all, with who is booked, the
//! hours each clinician keeps and the closures.

use super::Scheduled;
use crate::services::Appointments;
use crate::{Actor, Error, Result};
use jiff::civil::{Date, Time};
use portal_domain::UserId;
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::appointments::schedule::Closure;
use portal_domain::audit::{AuditAction, Outcome};
use portal_store::appointments as store;
pub use portal_store::appointments::Booked;
use portal_store::schedules;

/// How much of the schedule one page shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Span {
    /// One day.
    Day,
    /// Monday to Sunday.
    Week,
}

impl Span {
    /// Reads the query's word; anything else is a day.
    pub fn parse(raw: &str) -> Span {
        if raw == "week" { Span::Week } else { Span::Day }
    }
    /// The query's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Span::Day => "day",
            Span::Week => "week",
        }
    }
}

/// One day of the schedule.
#[derive(Debug)]
pub struct ScheduleDay {
    /// The day, on the clinic's calendar.
    pub date: Date,
    /// Hours kept that day: clinician's name, location's name, from, to.
    pub hours: Vec<(String, String, Time, Time)>,
    /// Visits booked, by time, with the patient's name and their check-in.
    pub booked: Vec<Booked>,
    /// Closures that touch the day.
    pub closures: Vec<(Closure, String)>,
}

/// The schedule page.
#[derive(Debug)]
pub struct ScheduleView {
    /// A day or a week.
    pub span: Span,
    /// The day asked for.
    pub date: Date,
    /// The days shown.
    pub days: Vec<ScheduleDay>,
    /// The clinicians with hours (the page's filter).
    pub clinicians: Vec<Scheduled>,
    /// The clinician shown, or all.
    pub clinician: Option<UserId>,
}

impl Appointments {
    /// Every open time of a kind of visit between two instants, at every clinician and
    /// location, for the clinic (no notice or horizon): what a schedule offers, with no patient
    /// in it.
    pub async fn open_times(
        &self,
        actor: &Actor,
        visit_type: portal_domain::VisitTypeId,
        from: jiff::Timestamp,
        until: jiff::Timestamp,
    ) -> Result<Vec<portal_domain::appointments::schedule::OpenTime>> {
        authorize_clinic(&actor.principal, ClinicAction::ViewSchedule)
            .map_err(|_| Error::Forbidden)?;
        let settings = self.settings().await?;
        let mut tx = self.store().begin_read().await?;
        let visit_type = schedules::visit_type(&mut tx, visit_type)
            .await?
            .ok_or(Error::NotFound)?;
        let search = portal_domain::appointments::schedule::Search {
            visit_type: &visit_type,
            clinician: None,
            location: None,
            from,
            until,
        };
        self.search(&mut tx, &search, &settings, usize::MAX).await
    }

    /// The schedule for clinicians and staff: `date` (today when none) or its week.
    pub async fn schedule(
        &self,
        actor: &Actor,
        clinician: Option<UserId>,
        date: Option<Date>,
        span: Span,
    ) -> Result<ScheduleView> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ViewSchedule)
            .map_err(|_| Error::Forbidden)?;
        let zone = self.config().appointments.zone.clone();
        let today = self.now().to_zoned_datetime(zone.clone()).date();
        let date = date.unwrap_or(today);
        let first = match span {
            Span::Day => date,
            Span::Week => date
                .checked_sub(
                    jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())),
                )
                .unwrap_or(date),
        };
        let count = match span {
            Span::Day => 1,
            Span::Week => 7,
        };
        let days: Vec<Date> = (0..count)
            .filter_map(|n| first.checked_add(jiff::Span::new().days(n)).ok())
            .collect();
        let start_of = |d: Date| {
            d.to_zoned_datetime(zone.clone())
                .map(|z| z.timestamp())
                .map_err(|e| Error::Internal(format!("day start: {e}")))
        };
        let from = start_of(first)?;
        let until = start_of(
            days.last()
                .copied()
                .unwrap_or(first)
                .tomorrow()
                .map_err(|e| Error::Internal(format!("day: {e}")))?,
        )?;
        let mut tx = self.store().begin_read().await?;
        let clinicians = schedules::scheduled_clinicians(&mut tx).await?;
        let locations = schedules::locations(&mut tx).await?;
        let hours = schedules::hours(&mut tx, clinician).await?;
        let closures = schedules::closures(&mut tx, from, until).await?;
        let booked = store::booked_between(&mut tx, &capability, clinician, from, until).await?;
        drop(tx);
        let mut event = self.event(actor, AuditAction::Read, "Schedule", Outcome::Success);
        event.detail = format!(
            "schedule {} from {first}: {} visit(s) listed",
            span.as_str(),
            booked.len()
        );
        self.audit_alone(&event).await?;
        let name_of = |id: UserId| {
            clinicians
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.name.clone())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for day in days {
            let day_from = start_of(day)?;
            let day_until = start_of(day.tomorrow().map_err(|e| Error::Internal(e.to_string()))?)?;
            let mut kept: Vec<(String, String, Time, Time)> = hours
                .iter()
                .filter(|h| h.applies_on(day))
                .map(|h| {
                    (
                        name_of(h.clinician),
                        locations
                            .iter()
                            .find(|l| l.id == h.location)
                            .map(|l| l.name.clone())
                            .unwrap_or_default(),
                        h.start,
                        h.end,
                    )
                })
                .collect();
            kept.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
            out.push(ScheduleDay {
                date: day,
                hours: kept,
                booked: booked
                    .iter()
                    .filter(|b| b.appointment.start >= day_from && b.appointment.start < day_until)
                    .cloned()
                    .collect(),
                closures: closures
                    .iter()
                    .filter(|c| c.starts < day_until && day_from < c.ends)
                    .filter(|c| {
                        clinician.is_none() || c.clinician.is_none() || c.clinician == clinician
                    })
                    .map(|c| {
                        (
                            c.clone(),
                            c.clinician
                                .map(name_of)
                                .unwrap_or_else(|| "Whole clinic".into()),
                        )
                    })
                    .collect(),
            });
        }
        Ok(ScheduleView {
            span,
            date,
            days: out,
            clinicians,
            clinician,
        })
    }
}
