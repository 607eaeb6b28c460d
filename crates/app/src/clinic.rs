//! The clinic's side: care-team lists, finding patients, recently opened records and
//! break-glass access.

use crate::services::Clinic;
use crate::throttle::Limits;
use crate::{Actor, Error, Result, commit};
use jiff::SignedDuration;
use portal_domain::access::{BREAK_GLASS_DURATION, ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, Outcome};
use portal_domain::fields::BreakGlassReason;
use portal_domain::{PatientId, Principal};
use portal_store::patients::{self, PatientRow};

/// Medical record numbers a clinician may try that open nothing, before break-glass pauses.
const BREAK_GLASS_MISSES: Limits = Limits {
    free_failures: 5,
    first_lock: SignedDuration::from_mins(1),
    max_lock: SignedDuration::from_mins(30),
    forget_after: SignedDuration::from_hours(1),
};

/// What a directory search found, and whether the box held anything to search by.
pub struct Search {
    /// The records found (at most [`SEARCH_LIMIT`]), by name.
    pub found: Vec<patients::Found>,
    /// Whether there were more than it shows.
    pub more: bool,
    /// For a clinician: the found records their emergency access is open to, until when.
    pub emergency: std::collections::HashMap<PatientId, jiff::Timestamp>,
}

/// Records one directory search shows.
pub const SEARCH_LIMIT: usize = 50;

/// A record the user opened lately.
pub struct Recent {
    /// Its demographics.
    pub row: PatientRow,
    /// Until when the user's emergency access to it is open, if it is.
    pub emergency_until: Option<jiff::Timestamp>,
}

/// The record break-glass is asked for: by the number the clinician typed, or picked from a
/// search's results.
#[derive(Clone, Copy)]
pub enum Emergency<'a> {
    /// A medical record number.
    Mrn(&'a str),
    /// A record found by a search.
    Record(PatientId),
}

/// What else waits in the in-basket besides messages and refill requests.
pub struct OtherWork {
    /// A clinician's care-team patients with results waiting to be released.
    pub results: Vec<portal_store::inbasket::HeldResults>,
    /// Check-ins with changes for visits still to come (a clinician's own; the front desk's
    /// contact and insurance changes).
    pub check_ins: Vec<portal_store::inbasket::ChangedCheckIn>,
    /// Freed times offered to waitlisted patients that nobody took (a clinician's own; every
    /// clinician's for the front desk), still to come and still free.
    pub unfilled: Vec<portal_store::inbasket::UnfilledTime>,
}

impl Clinic {
    /// The in-basket's other work for the acting clinician or staff member: names and counts,
    /// no health data (reading it opens no record).
    pub async fn other_work(&self, actor: &Actor) -> Result<OtherWork> {
        let capability = authorize_clinic(&actor.principal, ClinicAction::ViewInBasket)
            .map_err(|_| Error::Forbidden)?;
        let Principal::User { id: user, role, .. } = &actor.principal else {
            return Err(Error::Forbidden);
        };
        let clinician = *role == portal_domain::Role::Clinician;
        let mut conn = self.conn().await?;
        let results = if clinician {
            portal_store::inbasket::results_to_release(&mut conn, &capability, *user, 200).await?
        } else {
            Vec::new()
        };
        // Visits from the start of today in the clinic's calendar.
        let zone = &self.config().appointments.zone;
        let today = self.now().to_zoned_datetime(zone.clone()).date();
        let from = zone
            .to_timestamp(today.at(0, 0, 0, 0))
            .unwrap_or(self.now());
        let check_ins = portal_store::inbasket::changed_check_ins(
            &mut conn,
            &capability,
            clinician.then_some(*user),
            from,
            200,
        )
        .await?;
        let unfilled = portal_store::inbasket::unfilled_times(
            &mut conn,
            &capability,
            clinician.then_some(*user),
            self.now(),
            200,
        )
        .await?;
        Ok(OtherWork {
            results,
            check_ins,
            unfilled,
        })
    }

    /// The patients on the acting clinician's care team (empty for anyone else).
    pub async fn care_team_list(&self, actor: &Actor) -> Result<Vec<PatientRow>> {
        let Ok(list) = authorize_clinic(&actor.principal, ClinicAction::ListCareTeamPatients)
        else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn().await?;
        Ok(patients::on_care_team(&mut conn, &list).await?)
    }

    /// Searches the directory by name (accents and case ignored), date of birth or medical
    /// record number; demographics only, audited as a directory search (never with the words
    /// searched for). `None` when the box holds nothing to search by.
    pub async fn find(&self, actor: &Actor, term: &str) -> Result<Option<Search>> {
        let directory = authorize_clinic(&actor.principal, ClinicAction::SearchDirectory)
            .map_err(|_| Error::Forbidden)?;
        let Some(query) = portal_domain::patient::PatientQuery::parse(term) else {
            return Ok(None);
        };
        let mut conn = self.conn().await?;
        let limit = i64::try_from(SEARCH_LIMIT).unwrap_or(50) + 1;
        let mut found = patients::search(&mut conn, &directory, &query, limit).await?;
        let emergency = match authorize_clinic(&actor.principal, ClinicAction::BreakGlass) {
            Ok(glass) => {
                portal_store::access::open_break_glass_of(&mut conn, &glass, self.now()).await?
            }
            Err(_) => Default::default(),
        };
        drop(conn);
        let more = found.len() > SEARCH_LIMIT;
        found.truncate(SEARCH_LIMIT);
        let detail = format!(
            "directory search, {}{} result(s)",
            found.len(),
            if more { "+" } else { "" }
        );
        self.audit_directory_search(actor, detail).await?;
        Ok(Some(Search {
            found,
            more,
            emergency,
        }))
    }

    /// Records a search of the directory in the audit trail (demographics were shown; never the
    /// words searched for).
    pub(crate) async fn audit_directory_search(&self, actor: &Actor, detail: String) -> Result<()> {
        let mut event = self.event(
            actor,
            AuditAction::Read,
            "PatientDirectory",
            Outcome::Success,
        );
        event.detail = detail;
        self.audit_alone(&event).await
    }

    /// The records the user opened lately (at most ten), newest first, with any emergency
    /// access still open. Names only: reading the list is not a view of any record.
    pub async fn recent(&self, actor: &Actor) -> Result<Vec<Recent>> {
        let directory = authorize_clinic(&actor.principal, ClinicAction::SearchDirectory)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        let rows = patients::recently_opened(&mut conn, &directory, 10).await?;
        let open = match authorize_clinic(&actor.principal, ClinicAction::BreakGlass) {
            Ok(glass) => {
                portal_store::access::open_break_glass_of(&mut conn, &glass, self.now()).await?
            }
            Err(_) => Default::default(),
        };
        Ok(rows
            .into_iter()
            .map(|row| Recent {
                emergency_until: open.get(&row.id).copied(),
                row,
            })
            .collect())
    }

    /// Opens break-glass access for a clinician to a patient outside their care team, by MRN,
    /// with a typed reason. Flagged in the audit trail; expires after an hour.
    pub async fn break_glass(
        &self,
        actor: &Actor,
        target: Emergency<'_>,
        reason: &str,
    ) -> Result<(PatientId, jiff::Timestamp)> {
        let cap = authorize_clinic(&actor.principal, ClinicAction::BreakGlass)
            .map_err(|_| Error::Forbidden)?;
        let Principal::User { id: user, .. } = cap.principal() else {
            return Err(Error::Forbidden);
        };
        let mut errors = portal_domain::fields::FieldErrors::new();
        if let Emergency::Mrn(mrn) = target
            && mrn.trim().is_empty()
        {
            errors.add("mrn", "Medical record number is required.");
        }
        let reason = errors.take("reason", BreakGlassReason::parse(reason));
        let Some(reason) = reason.filter(|_| errors.is_empty()) else {
            return Err(Error::Invalid(errors));
        };
        // Misses count against the clinician, so the form cannot be used to walk MRNs.
        let key = format!("break-glass:{user}");
        let attempt = self.take_attempt(&[(&key, BREAK_GLASS_MISSES)]).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let patient = match target {
            Emergency::Mrn(mrn) => patients::id_by_mrn(&mut tx, mrn.trim()).await?,
            Emergency::Record(id) => patients::exists(&mut tx, id).await?.then_some(id),
        };
        let Some(patient) = patient else {
            drop(tx);
            let picked = matches!(target, Emergency::Record(_));
            let mut event = self.event(actor, AuditAction::Create, "BreakGlass", Outcome::Denied);
            event.break_glass = true;
            event.detail = if picked {
                "break-glass refused: the record picked from a search is not there".into()
            } else {
                "break-glass refused: the medical record number matched no record this access \
                 can open"
                    .into()
            };
            self.audit_alone(&event).await?;
            if picked {
                // A record that is not there, as any other that cannot be opened.
                return Err(Error::NotFound);
            }
            return Err(Error::field(
                "mrn",
                "Emergency access cannot be opened with this medical record number. Check the \
                 number on the patient's wristband or chart.",
            ));
        };
        let (until, opened) = portal_store::access::open_break_glass(
            &mut tx,
            self.store().backend(),
            &cap,
            uuid::Uuid::now_v7(),
            patient,
            reason.as_str(),
            now..now + BREAK_GLASS_DURATION,
        )
        .await?;
        let mut event = self.event(actor, AuditAction::Create, "BreakGlass", Outcome::Success);
        event.patient_id = Some(patient.to_string());
        event.on_behalf_of = "break-glass".into();
        event.break_glass = true;
        event.detail = if opened {
            format!("break-glass opened: {}", reason.as_str())
        } else {
            format!("break-glass asked again while open: {}", reason.as_str())
        };
        self.audit(&mut tx, &event).await?;
        if opened {
            self.tell_privacy_officers(&mut tx, *user, now).await?;
        }
        commit(tx).await?;
        self.attempt_succeeded(attempt, &[]).await?;
        Ok((patient, until))
    }

    /// Tells every privacy officer that emergency access was opened: who and when, never whose
    /// record or why (those are in the audit reports the e-mail links to).
    async fn tell_privacy_officers(
        &self,
        tx: &mut portal_store::Conn,
        clinician: portal_domain::UserId,
        at: jiff::Timestamp,
    ) -> Result<()> {
        let officers = portal_store::users::privacy_officer_emails(tx).await?;
        if officers.is_empty() {
            return Ok(());
        }
        let name = portal_store::users::find(tx, clinician)
            .await?
            .map_or_else(|| "A clinician".to_string(), |u| u.name);
        let clinic = &self.config().clinic_name;
        let body = format!(
            "Hello,\n\n{name} opened emergency (break-glass) access to a patient's record at \
             {at} (UTC), giving a reason. Review it among the flagged events of the audit \
             reports: {base}/admin/audit?only=flagged\n\n{clinic}\n",
            at = at.strftime("%Y-%m-%d %H:%M"),
            base = self.config().public_url.trim_end_matches('/'),
        );
        for to in officers {
            self.queue_mail(
                tx,
                "break-glass",
                &to,
                "Emergency access to a record was opened",
                &body,
            )
            .await?;
        }
        Ok(())
    }
}
