//! The access policy: the one place that decides who may do what to whose data.
//!
//! Store functions that touch a patient's data take a [`PatientAccess`], which only
//! [`authorize`] can construct, after checking the principal's relationship to *that* patient.
//! Everything not explicitly allowed below is denied.

use crate::ids::{ClientId, PatientId, UserId};
use crate::user::Role;
use jiff::Timestamp;

/// Who is acting: a signed-in user or a system client holding an API token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in person.
    User {
        /// The account.
        id: UserId,
        /// The account's role.
        role: Role,
        /// The patient record the account belongs to, for a patient's own account.
        own_patient: Option<PatientId>,
    },
    /// The command line on the server: trusted with enrolment and accounts, never with
    /// clinical data.
    Operator,
    /// An EHR or other system authenticated by an API token.
    System {
        /// The token's client.
        client: ClientId,
        /// Whether the token may read patient data.
        can_read: bool,
        /// Whether the token may write patient data.
        can_write: bool,
    },
}

impl Principal {
    /// The role label written in the audit trail.
    pub fn role_label(&self) -> &'static str {
        match self {
            Principal::User { role, .. } => role.as_str(),
            Principal::Operator => "operator",
            Principal::System { .. } => "system",
        }
    }

    /// The actor id written in the audit trail.
    pub fn actor_id(&self) -> String {
        match self {
            Principal::User { id, .. } => id.to_string(),
            Principal::Operator => "cli".to_string(),
            Principal::System { client, .. } => client.to_string(),
        }
    }

    /// The user id, when a person is acting.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::Operator | Principal::System { .. } => None,
        }
    }
}

/// Something a principal may want to do with one patient's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Name, birth date, contact details: who the patient is.
    ViewDemographics,
    /// The clinical record: problems, allergies, medications, results, immunizations, vitals.
    ViewRecord,
    /// Clinical notes and visit documents.
    ViewNotes,
    /// Secure messages with the care team.
    ViewMessages,
    /// Send a secure message about the patient.
    SendMessage,
    /// Appointments.
    ViewAppointments,
    /// Book, cancel or reschedule appointments.
    ManageAppointments,
    /// Download the whole record.
    Export,
    /// The list of who accessed the record.
    ViewAccessLog,
    /// Add to or change the clinical record (imports, clinician updates).
    WriteRecord,
    /// Enrol the patient: issue activation codes.
    Enrol,
}

impl Action {
    /// Every action, for policy matrices.
    pub const ALL: [Action; 11] = [
        Action::ViewDemographics,
        Action::ViewRecord,
        Action::ViewNotes,
        Action::ViewMessages,
        Action::SendMessage,
        Action::ViewAppointments,
        Action::ManageAppointments,
        Action::Export,
        Action::ViewAccessLog,
        Action::WriteRecord,
        Action::Enrol,
    ];

    /// The stable name used in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewDemographics => "view-demographics",
            Action::ViewRecord => "view-record",
            Action::ViewNotes => "view-notes",
            Action::ViewMessages => "view-messages",
            Action::SendMessage => "send-message",
            Action::ViewAppointments => "view-appointments",
            Action::ManageAppointments => "manage-appointments",
            Action::Export => "export",
            Action::ViewAccessLog => "view-access-log",
            Action::WriteRecord => "write-record",
            Action::Enrol => "enrol",
        }
    }

    /// Whether the action reads or writes clinical data (as opposed to administrative data).
    pub fn is_clinical(self) -> bool {
        matches!(
            self,
            Action::ViewRecord | Action::ViewNotes | Action::Export | Action::WriteRecord
        )
    }
}

/// What a proxy grant allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyScope {
    /// Everything the patient could do themselves (a parent of a young child).
    Full,
    /// Appointments, messages and demographics only; no clinical record.
    NonClinical,
}

impl ProxyScope {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyScope::Full => "full",
            ProxyScope::NonClinical => "non-clinical",
        }
    }

    /// Reads the stored text; unknown scopes give no access (fail closed).
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "full" => Some(ProxyScope::Full),
            "non-clinical" => Some(ProxyScope::NonClinical),
            _ => None,
        }
    }
}

/// A proxy grant as the store found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyGrantFact {
    /// What the grant allows.
    pub scope: ProxyScope,
    /// When the grant starts.
    pub starts_at: Timestamp,
    /// When the grant ends, if it does.
    pub ends_at: Option<Timestamp>,
    /// Whether the grant was revoked.
    pub revoked: bool,
}

impl ProxyGrantFact {
    fn is_active(&self, now: Timestamp) -> bool {
        !self.revoked && self.starts_at <= now && self.ends_at.is_none_or(|end| now < end)
    }
}

/// What the store knows about a principal's relationship to one patient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessFacts {
    /// Proxy grants the principal holds for this patient.
    pub proxy_grants: Vec<ProxyGrantFact>,
    /// Whether the principal is on the patient's care team.
    pub on_care_team: bool,
    /// The expiry of the principal's latest break-glass access to this patient, if any.
    pub break_glass_until: Option<Timestamp>,
}

/// Why access was granted; written in the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessBasis {
    /// The patient reading their own record.
    OwnRecord,
    /// A proxy acting under a grant.
    Proxy(ProxyScope),
    /// A clinician on the patient's care team.
    CareTeam,
    /// A clinician outside the care team, under break-glass access.
    BreakGlass,
    /// Clinic staff doing front-desk work.
    ClinicStaff,
    /// An administrator doing enrolment.
    Administration,
    /// The server's command line.
    Operator,
    /// A system client under its token's scopes.
    SystemClient,
}

impl AccessBasis {
    /// The stable name used in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessBasis::OwnRecord => "own-record",
            AccessBasis::Proxy(ProxyScope::Full) => "proxy-full",
            AccessBasis::Proxy(ProxyScope::NonClinical) => "proxy-non-clinical",
            AccessBasis::CareTeam => "care-team",
            AccessBasis::BreakGlass => "break-glass",
            AccessBasis::ClinicStaff => "clinic-staff",
            AccessBasis::Administration => "administration",
            AccessBasis::Operator => "operator",
            AccessBasis::SystemClient => "system-client",
        }
    }
}

/// Proof that the policy allowed one principal one action on one patient's data.
///
/// Only [`authorize`] constructs it; store functions put [`PatientAccess::patient`] in every
/// query's `WHERE`, so a handler cannot reach another patient's rows even by mistake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientAccess {
    patient: PatientId,
    principal: Principal,
    action: Action,
    basis: AccessBasis,
}

impl PatientAccess {
    /// The patient whose data may be touched.
    pub fn patient(&self) -> PatientId {
        self.patient
    }
    /// Who is acting.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// What was allowed.
    pub fn action(&self) -> Action {
        self.action
    }
    /// Why it was allowed.
    pub fn basis(&self) -> AccessBasis {
        self.basis
    }
    /// Whether the audit trail must flag this access (break-glass).
    pub fn is_break_glass(&self) -> bool {
        self.basis == AccessBasis::BreakGlass
    }
}

/// The policy said no. Deliberately carries no reason: callers answer "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("access denied")]
pub struct Denied;

fn patient_may(action: Action) -> bool {
    !matches!(action, Action::WriteRecord | Action::Enrol)
}

fn proxy_may(scope: ProxyScope, action: Action) -> bool {
    match scope {
        ProxyScope::Full => patient_may(action),
        ProxyScope::NonClinical => matches!(
            action,
            Action::ViewDemographics
                | Action::ViewMessages
                | Action::SendMessage
                | Action::ViewAppointments
                | Action::ManageAppointments
        ),
    }
}

fn clinician_may(action: Action) -> bool {
    !matches!(
        action,
        Action::Export | Action::ViewAccessLog | Action::Enrol
    )
}

fn staff_may(action: Action) -> bool {
    matches!(
        action,
        Action::ViewDemographics
            | Action::ViewMessages
            | Action::SendMessage
            | Action::ViewAppointments
            | Action::ManageAppointments
            | Action::Enrol
    )
}

fn admin_may(action: Action) -> bool {
    matches!(action, Action::ViewDemographics | Action::Enrol)
}

/// Decides whether `principal` may perform `action` on `patient`'s data, given what the store
/// knows of their relationship at `now`. Deny by default.
pub fn authorize(
    principal: &Principal,
    patient: PatientId,
    action: Action,
    facts: &AccessFacts,
    now: Timestamp,
) -> Result<PatientAccess, Denied> {
    let basis = match principal {
        Principal::User {
            role: Role::Patient,
            own_patient,
            ..
        } => {
            if *own_patient == Some(patient) && patient_may(action) {
                AccessBasis::OwnRecord
            } else {
                // The widest active grant decides.
                let scope = facts
                    .proxy_grants
                    .iter()
                    .filter(|g| g.is_active(now) && proxy_may(g.scope, action))
                    .map(|g| g.scope)
                    .next()
                    .ok_or(Denied)?;
                AccessBasis::Proxy(scope)
            }
        }
        Principal::User {
            role: Role::Clinician,
            ..
        } => {
            if !clinician_may(action) {
                return Err(Denied);
            }
            if facts.on_care_team {
                AccessBasis::CareTeam
            } else if facts.break_glass_until.is_some_and(|until| now < until) {
                AccessBasis::BreakGlass
            } else {
                return Err(Denied);
            }
        }
        Principal::User {
            role: Role::Staff, ..
        } if staff_may(action) => AccessBasis::ClinicStaff,
        Principal::User {
            role: Role::Admin, ..
        } if admin_may(action) => AccessBasis::Administration,
        // The server's command line enrols and imports records; it never reads clinical data.
        Principal::Operator if admin_may(action) || action == Action::WriteRecord => {
            AccessBasis::Operator
        }
        Principal::System {
            can_read,
            can_write,
            ..
        } => {
            let allowed = match action {
                Action::WriteRecord => *can_write,
                Action::ViewDemographics | Action::ViewRecord | Action::ViewNotes => *can_read,
                _ => false,
            };
            if !allowed {
                return Err(Denied);
            }
            AccessBasis::SystemClient
        }
        _ => return Err(Denied),
    };
    Ok(PatientAccess {
        patient,
        principal: principal.clone(),
        action,
        basis,
    })
}

/// Work that is not about one patient's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClinicAction {
    /// Create, disable and list accounts.
    ManageUsers,
    /// Read and verify the audit trail.
    ReadAuditTrail,
    /// See the in-basket of messages and requests.
    ViewInBasket,
    /// See clinic schedules.
    ViewSchedule,
    /// Search the patient directory (all patients, demographics only).
    SearchDirectory,
    /// List the patients on one's own care team.
    ListCareTeamPatients,
    /// Open break-glass access to a patient outside one's care team.
    BreakGlass,
    /// Set the clinic's result-release rules (which result categories are held).
    ConfigureResultRelease,
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
        Principal::Operator if action == ClinicAction::ManageUsers => &Role::Admin,
        _ => return Err(Denied),
    };
    let allowed = match action {
        ClinicAction::ManageUsers
        | ClinicAction::ReadAuditTrail
        | ClinicAction::ConfigureResultRelease => *role == Role::Admin,
        ClinicAction::ViewInBasket | ClinicAction::ViewSchedule => {
            matches!(role, Role::Clinician | Role::Staff)
        }
        ClinicAction::SearchDirectory => matches!(role, Role::Staff | Role::Admin),
        ClinicAction::ListCareTeamPatients | ClinicAction::BreakGlass => *role == Role::Clinician,
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

/// How long break-glass access lasts once opened.
pub const BREAK_GLASS_DURATION: jiff::SignedDuration = jiff::SignedDuration::from_mins(60);

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid")
    }

    fn pid(n: u128) -> PatientId {
        PatientId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn user(role: Role, own: Option<PatientId>) -> Principal {
        Principal::User {
            id: UserId::from_uuid(uuid::Uuid::from_u128(99)),
            role,
            own_patient: own,
        }
    }

    fn grant(scope: ProxyScope) -> ProxyGrantFact {
        ProxyGrantFact {
            scope,
            starts_at: now() - jiff::SignedDuration::from_hours(1),
            ends_at: None,
            revoked: false,
        }
    }

    #[test]
    fn patient_sees_own_record_but_not_another() {
        let me = user(Role::Patient, Some(pid(1)));
        for action in Action::ALL {
            let own = authorize(&me, pid(1), action, &AccessFacts::default(), now());
            let other = authorize(&me, pid(2), action, &AccessFacts::default(), now());
            assert_eq!(own.is_ok(), patient_may(action), "{action:?}");
            assert_eq!(other, Err(Denied), "{action:?}");
        }
    }

    #[test]
    fn patient_cannot_write_their_record_or_enrol() {
        let me = user(Role::Patient, Some(pid(1)));
        let facts = AccessFacts::default();
        assert!(authorize(&me, pid(1), Action::WriteRecord, &facts, now()).is_err());
        assert!(authorize(&me, pid(1), Action::Enrol, &facts, now()).is_err());
    }

    #[test]
    fn proxy_needs_an_active_grant() {
        let parent = user(Role::Patient, None);
        let mut facts = AccessFacts {
            proxy_grants: vec![grant(ProxyScope::Full)],
            ..Default::default()
        };
        let ok = authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).expect("granted");
        assert_eq!(ok.basis(), AccessBasis::Proxy(ProxyScope::Full));

        facts.proxy_grants[0].ends_at = Some(now());
        assert!(authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).is_err());

        facts.proxy_grants[0].ends_at = None;
        facts.proxy_grants[0].revoked = true;
        assert!(authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).is_err());

        facts.proxy_grants[0].revoked = false;
        facts.proxy_grants[0].starts_at = now() + jiff::SignedDuration::from_secs(1);
        assert!(authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).is_err());
    }

    #[test]
    fn non_clinical_proxy_cannot_read_the_clinical_record() {
        let caregiver = user(Role::Patient, None);
        let facts = AccessFacts {
            proxy_grants: vec![grant(ProxyScope::NonClinical)],
            ..Default::default()
        };
        assert!(authorize(&caregiver, pid(7), Action::ViewAppointments, &facts, now()).is_ok());
        for action in [Action::ViewRecord, Action::ViewNotes, Action::Export] {
            assert!(authorize(&caregiver, pid(7), action, &facts, now()).is_err());
        }
    }

    #[test]
    fn clinician_needs_care_team_or_break_glass() {
        let doc = user(Role::Clinician, None);
        let none = AccessFacts::default();
        assert!(authorize(&doc, pid(3), Action::ViewRecord, &none, now()).is_err());

        let team = AccessFacts {
            on_care_team: true,
            ..Default::default()
        };
        let access = authorize(&doc, pid(3), Action::ViewNotes, &team, now()).expect("team");
        assert!(!access.is_break_glass());

        let glass = AccessFacts {
            break_glass_until: Some(now() + jiff::SignedDuration::from_mins(5)),
            ..Default::default()
        };
        let access = authorize(&doc, pid(3), Action::ViewNotes, &glass, now()).expect("glass");
        assert!(access.is_break_glass());

        let expired = AccessFacts {
            break_glass_until: Some(now()),
            ..Default::default()
        };
        assert!(authorize(&doc, pid(3), Action::ViewNotes, &expired, now()).is_err());
    }

    #[test]
    fn staff_do_front_desk_work_but_never_see_clinical_data() {
        let desk = user(Role::Staff, None);
        let facts = AccessFacts::default();
        assert!(authorize(&desk, pid(4), Action::ManageAppointments, &facts, now()).is_ok());
        assert!(authorize(&desk, pid(4), Action::SendMessage, &facts, now()).is_ok());
        for action in Action::ALL.into_iter().filter(|a| a.is_clinical()) {
            assert!(authorize(&desk, pid(4), action, &facts, now()).is_err());
        }
        // Even a care-team fact does not open clinical data to staff.
        let team = AccessFacts {
            on_care_team: true,
            ..Default::default()
        };
        assert!(authorize(&desk, pid(4), Action::ViewNotes, &team, now()).is_err());
    }

    #[test]
    fn admins_enrol_but_see_no_clinical_data() {
        let admin = user(Role::Admin, None);
        let facts = AccessFacts::default();
        assert!(authorize(&admin, pid(5), Action::Enrol, &facts, now()).is_ok());
        for action in [
            Action::ViewRecord,
            Action::ViewNotes,
            Action::ViewMessages,
            Action::Export,
        ] {
            assert!(authorize(&admin, pid(5), action, &facts, now()).is_err());
        }
    }

    #[test]
    fn system_clients_act_within_their_scopes() {
        let writer = Principal::System {
            client: ClientId::from_uuid(uuid::Uuid::from_u128(8)),
            can_read: false,
            can_write: true,
        };
        let facts = AccessFacts::default();
        assert!(authorize(&writer, pid(6), Action::WriteRecord, &facts, now()).is_ok());
        assert!(authorize(&writer, pid(6), Action::ViewRecord, &facts, now()).is_err());
        assert!(authorize(&writer, pid(6), Action::SendMessage, &facts, now()).is_err());
    }

    #[test]
    fn the_operator_enrols_but_sees_no_clinical_data() {
        let facts = AccessFacts::default();
        assert!(authorize(&Principal::Operator, pid(5), Action::Enrol, &facts, now()).is_ok());
        assert!(
            authorize(
                &Principal::Operator,
                pid(5),
                Action::WriteRecord,
                &facts,
                now()
            )
            .is_ok()
        );
        assert!(
            authorize(
                &Principal::Operator,
                pid(5),
                Action::ViewRecord,
                &facts,
                now()
            )
            .is_err()
        );
        assert!(authorize_clinic(&Principal::Operator, ClinicAction::ManageUsers).is_ok());
        assert!(authorize_clinic(&Principal::Operator, ClinicAction::ReadAuditTrail).is_err());
    }

    #[test]
    fn clinic_work_is_split_by_role() {
        let admin = user(Role::Admin, None);
        let doc = user(Role::Clinician, None);
        let patient = user(Role::Patient, Some(pid(1)));
        assert!(authorize_clinic(&admin, ClinicAction::ReadAuditTrail).is_ok());
        assert!(authorize_clinic(&doc, ClinicAction::ReadAuditTrail).is_err());
        assert!(authorize_clinic(&doc, ClinicAction::BreakGlass).is_ok());
        assert!(authorize_clinic(&doc, ClinicAction::SearchDirectory).is_err());
        assert!(authorize_clinic(&patient, ClinicAction::ViewInBasket).is_err());
    }
}
