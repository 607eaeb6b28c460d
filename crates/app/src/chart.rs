//! Opening a patient's chart: each section is one policy action, one read and one audit event.

use crate::{Actor, App, Error, Result, commit};
use portal_domain::access::{AccessBasis, Action};
use portal_domain::audit::AuditAction;
use portal_domain::{PatientAccess, PatientId, Principal, Role};
use portal_store::audit::NamedEvent;
use portal_store::patients::{self, PatientRow};

/// A part of a patient's chart, as the pages show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// Who the patient is, and what needs attention.
    Overview,
    /// Problems, allergies, results, immunizations, vitals.
    HealthRecord,
    /// Current and past medications.
    Medications,
    /// Secure messages.
    Messages,
    /// Appointments.
    Appointments,
    /// Who accessed the record.
    AccessLog,
}

impl Section {
    /// The policy action the section needs.
    pub fn action(self) -> Action {
        match self {
            Section::Overview => Action::ViewDemographics,
            Section::HealthRecord | Section::Medications => Action::ViewRecord,
            Section::Messages => Action::ViewMessages,
            Section::Appointments => Action::ViewAppointments,
            Section::AccessLog => Action::ViewAccessLog,
        }
    }

    /// The data category written in the audit trail.
    pub fn resource_type(self) -> &'static str {
        match self {
            Section::Overview => "Patient",
            Section::HealthRecord => "HealthRecord",
            Section::Medications => "MedicationList",
            Section::Messages => "MessageList",
            Section::Appointments => "AppointmentList",
            Section::AccessLog => "AccessLog",
        }
    }
}

/// A chart section the policy allowed, with the patient's header.
#[derive(Debug)]
pub struct ChartView {
    /// The patient's demographics (for the header).
    pub patient: PatientRow,
    /// The access decision (for breadcrumbs such as "acting as proxy").
    pub access: PatientAccess,
}

impl ChartView {
    /// Whether the viewer is looking at their own record.
    pub fn is_own(&self) -> bool {
        self.access.basis() == AccessBasis::OwnRecord
    }
}

impl App {
    /// Opens one section of a patient's chart: policy, read, audit.
    pub async fn open_section(
        &self,
        actor: &Actor,
        patient: PatientId,
        section: Section,
    ) -> Result<ChartView> {
        let access = self
            .authorize_patient(actor, patient, section.action())
            .await?;
        let mut tx = self.store().begin().await?;
        let row = patients::get(&mut tx, &access)
            .await?
            .ok_or(Error::NotFound)?;
        let event = self.patient_event(actor, &access, AuditAction::Read, section.resource_type());
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(ChartView {
            patient: row,
            access,
        })
    }

    /// Who accessed a patient's record, newest first.
    pub async fn access_log(
        &self,
        actor: &Actor,
        patient: PatientId,
    ) -> Result<(ChartView, Vec<NamedEvent>)> {
        let view = self
            .open_section(actor, patient, Section::AccessLog)
            .await?;
        let mut conn = self.conn().await?;
        let events =
            portal_store::audit::for_patient(&mut conn, &view.access.patient().to_string(), 200)
                .await?;
        Ok((view, events))
    }

    /// The records a patient-side account may open: its own and those it holds grants for.
    pub async fn my_patients(&self, actor: &Actor) -> Result<Vec<PatientRow>> {
        let Principal::User {
            id,
            role: Role::Patient,
            own_patient,
        } = &actor.principal
        else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn().await?;
        let mut out = Vec::new();
        if let Some(own) = own_patient
            && let Some(row) = patients::find_unchecked(&mut conn, *own).await?
        {
            out.push(row);
        }
        out.extend(patients::with_grants_for(&mut conn, *id, self.now()).await?);
        Ok(out)
    }
}
