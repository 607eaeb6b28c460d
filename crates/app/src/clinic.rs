//! The clinic's side: care-team lists, the patient directory and break-glass access.

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

impl Clinic {
    /// The patients the acting clinician may see through their care team; for staff and admins,
    /// the directory matching `term` (at least 2 characters).
    pub async fn patient_list(&self, actor: &Actor, term: &str) -> Result<Vec<PatientRow>> {
        let mut conn = self.conn().await?;
        if let Ok(list) = authorize_clinic(&actor.principal, ClinicAction::ListCareTeamPatients) {
            return Ok(patients::on_care_team(&mut conn, &list).await?);
        }
        let directory = authorize_clinic(&actor.principal, ClinicAction::SearchDirectory)
            .map_err(|_| Error::Forbidden)?;
        let term = term.trim();
        if term.chars().count() < 2 {
            return Ok(Vec::new());
        }
        let rows = patients::search(&mut conn, &directory, term, 50).await?;
        drop(conn);
        let mut event = self.event(
            actor,
            AuditAction::Read,
            "PatientDirectory",
            Outcome::Success,
        );
        event.detail = format!("directory search, {} result(s)", rows.len());
        self.audit_alone(&event).await?;
        Ok(rows)
    }

    /// Opens break-glass access for a clinician to a patient outside their care team, by MRN,
    /// with a typed reason. Flagged in the audit trail; expires after an hour.
    pub async fn break_glass(&self, actor: &Actor, mrn: &str, reason: &str) -> Result<PatientId> {
        let cap = authorize_clinic(&actor.principal, ClinicAction::BreakGlass)
            .map_err(|_| Error::Forbidden)?;
        let Principal::User { id: user, .. } = cap.principal() else {
            return Err(Error::Forbidden);
        };
        let mrn = mrn.trim();
        let mut errors = portal_domain::fields::FieldErrors::new();
        if mrn.is_empty() {
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
        let Some(patient) = patients::id_by_mrn(&mut tx, mrn).await? else {
            drop(tx);
            let mut event = self.event(actor, AuditAction::Create, "BreakGlass", Outcome::Denied);
            event.break_glass = true;
            event.detail = "break-glass refused: the medical record number matched no record \
                            this access can open"
                .into();
            self.audit_alone(&event).await?;
            return Err(Error::field(
                "mrn",
                "Emergency access cannot be opened with this medical record number. Check the \
                 number on the patient's wristband or chart.",
            ));
        };
        portal_store::access::open_break_glass(
            &mut tx,
            &cap,
            uuid::Uuid::now_v7(),
            patient,
            reason.as_str(),
            now,
            now + BREAK_GLASS_DURATION,
        )
        .await?;
        let mut event = self.event(actor, AuditAction::Create, "BreakGlass", Outcome::Success);
        event.patient_id = Some(patient.to_string());
        event.on_behalf_of = "break-glass".into();
        event.break_glass = true;
        event.detail = format!("break-glass opened: {}", reason.as_str());
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.attempt_succeeded(attempt, &[]).await?;
        Ok(patient)
    }
}
