//! The policy for clinic work that is not about one patient's data: accounts, the audit trail,
//! the in-basket, the directory, result-release rules and record imports.

use super::{Denied, Principal};
use crate::user::Role;

/// Work that is not about one patient's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClinicAction {
    /// Create, disable and list accounts.
    ManageUsers,
    /// Read, report on and verify the audit trail: only through [`authorize_audit_review`], for
    /// a privacy officer.
    ReadAuditTrail,
    /// See the in-basket of messages and requests.
    ViewInBasket,
    /// See clinic schedules.
    ViewSchedule,
    /// Search the patient directory (all patients, demographics only): a clinician finds
    /// their own patients, and others to open by break-glass.
    SearchDirectory,
    /// The front desk's lists across patients: patients' requests to remove a proxy, the
    /// clinic's adoption figures.
    FrontDesk,
    /// List the patients on one's own care team.
    ListCareTeamPatients,
    /// Open break-glass access to a patient outside one's care team.
    BreakGlass,
    /// Set the clinic's result-release rules (which result categories are held).
    ConfigureResultRelease,
    /// Set the clinic's settings and its message pools.
    ConfigureClinic,
    /// Send records in (FHIR Bundles): an EHR with a write scope, or the server's command line.
    ImportRecords,
    /// The portal's own appointment jobs: offering freed times to waitlisted visits, and
    /// sending reminders. Only the server itself runs them.
    RunAppointmentJobs,
    /// The portal's own refill job: moving requests nobody acted on to the pool, then to its
    /// lead. Only the server itself runs it.
    RunRefillJobs,
    /// Use the FHIR read API beyond one record: find which record a resource is in, and read
    /// the directory (practitioners, organizations, locations, medications). Only a system
    /// client whose token may read; each record's data is still decided patient by patient.
    ReadApi,
}

/// Proof that the policy allowed a piece of clinic work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClinicCapability {
    principal: Principal,
    action: ClinicAction,
}

impl ClinicCapability {
    /// Who is acting.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// What was allowed.
    pub fn action(&self) -> ClinicAction {
        self.action
    }
}

/// Decides whether `principal` may do clinic work that is not about one patient. Deny by default.
pub fn authorize_clinic(
    principal: &Principal,
    action: ClinicAction,
) -> Result<ClinicCapability, Denied> {
    let role = match principal {
        Principal::User { role, .. } => role,
        Principal::Operator
            if matches!(
                action,
                ClinicAction::ManageUsers
                    | ClinicAction::ImportRecords
                    | ClinicAction::ConfigureClinic
                    | ClinicAction::RunAppointmentJobs
                    | ClinicAction::RunRefillJobs
            ) =>
        {
            &Role::Admin
        }
        Principal::System { scopes, .. }
            if action == ClinicAction::ImportRecords && scopes.write =>
        {
            return Ok(ClinicCapability {
                principal: principal.clone(),
                action,
            });
        }
        Principal::System { scopes, .. } if action == ClinicAction::ReadApi && scopes.read => {
            return Ok(ClinicCapability {
                principal: principal.clone(),
                action,
            });
        }
        // An app reads the directory; each record it touches is decided on its own (only the
        // granted one is ever allowed).
        Principal::App { .. } if action == ClinicAction::ReadApi => {
            return Ok(ClinicCapability {
                principal: principal.clone(),
                action,
            });
        }
        _ => return Err(Denied),
    };
    let allowed = match action {
        ClinicAction::ManageUsers
        | ClinicAction::ConfigureResultRelease
        | ClinicAction::ConfigureClinic => *role == Role::Admin,
        // A permission on top of the role: see `authorize_audit_review`.
        ClinicAction::ReadAuditTrail => false,
        ClinicAction::ViewInBasket | ClinicAction::ViewSchedule => {
            matches!(role, Role::Clinician | Role::Staff)
        }
        ClinicAction::SearchDirectory => {
            matches!(role, Role::Clinician | Role::Staff | Role::Admin)
        }
        ClinicAction::FrontDesk => matches!(role, Role::Staff | Role::Admin),
        ClinicAction::ListCareTeamPatients | ClinicAction::BreakGlass => *role == Role::Clinician,
        // People send records through the pages of the EHR, not through the portal's; nobody
        // runs the portal's own jobs but the portal.
        // The API is for systems; people read records through the pages.
        ClinicAction::ReadApi => false,
        ClinicAction::ImportRecords
        | ClinicAction::RunAppointmentJobs
        | ClinicAction::RunRefillJobs => {
            matches!(principal, Principal::Operator)
        }
    };
    if allowed {
        Ok(ClinicCapability {
            principal: principal.clone(),
            action,
        })
    } else {
        Err(Denied)
    }
}

/// Decides whether `principal` may read the audit reports: an admin or a clinician account the
/// clinic made a privacy officer (`privacy_officer`, as the account's row says today). Deny by
/// default: every other account, a patient's even if the flag were set, systems and apps.
pub fn authorize_audit_review(
    principal: &Principal,
    privacy_officer: bool,
) -> Result<ClinicCapability, Denied> {
    match principal {
        Principal::User {
            role: Role::Admin | Role::Clinician,
            ..
        } if privacy_officer => Ok(ClinicCapability {
            principal: principal.clone(),
            action: ClinicAction::ReadAuditTrail,
        }),
        _ => Err(Denied),
    }
}

/// How long break-glass access lasts once opened.
pub const BREAK_GLASS_DURATION: jiff::SignedDuration = jiff::SignedDuration::from_mins(60);
