//! The access policy: the one place that decides who may do what to whose data.
//!
//! Store functions that touch a patient's data take a [`PatientAccess`], which only
//! [`authorize`] can construct, after checking the principal's relationship to *that* patient.
//! Everything not explicitly allowed below is denied. Work that is not about one patient's data
//! gets a [`ClinicCapability`] ([`clinic`]); activating an account, before anyone is signed in,
//! gets an [`ActivationAccess`] ([`activation`]); system clients act within their
//! [`ApiScopes`] ([`scopes`]).

mod activation;
mod age_rules;
mod clinic;
mod messages;
mod proxy;
mod refills;
mod scopes;
mod smart;

pub use activation::{ActivationAccess, ActivationCodeFact, authorize_activation};
pub use age_rules::{AgeBand, AgeRules, ParentReach, RulesError, age_on};
pub use clinic::{
    BREAK_GLASS_DURATION, ClinicAction, ClinicCapability, authorize_audit_review, authorize_clinic,
};
pub use messages::{ConversationFacts, authorize_conversation};
pub use proxy::{DEFAULT_JURISDICTION, ProxyRules, Relationship};
pub use refills::{RefillFacts, authorize_refill};
pub use scopes::ApiScopes;
pub use smart::{Interaction, SmartScopes, TypeAccess};

use crate::ids::{ClientId, PatientId, UserId};
use crate::record::Categories;
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
        /// What the token allows.
        scopes: ApiScopes,
    },
    /// An app a patient (or their proxy) connected through SMART on FHIR, reading one record
    /// with what was granted, for as long as the person who granted it may see that record.
    App {
        /// The registered app.
        client: ClientId,
        /// Who granted it.
        user: UserId,
        /// The granting account's own record, if it has one.
        user_patient: Option<PatientId>,
        /// The one record it reads.
        patient: PatientId,
        /// What was granted.
        scopes: Box<SmartScopes>,
    },
}

impl Principal {
    /// The role label written in the audit trail.
    pub fn role_label(&self) -> &'static str {
        match self {
            Principal::User { role, .. } => role.as_str(),
            Principal::Operator => "operator",
            Principal::System { .. } => "system",
            Principal::App { .. } => "app",
        }
    }

    /// The actor id written in the audit trail.
    pub fn actor_id(&self) -> String {
        match self {
            Principal::User { id, .. } => id.to_string(),
            Principal::Operator => "cli".to_string(),
            Principal::System { client, .. } | Principal::App { client, .. } => client.to_string(),
        }
    }

    /// The user id, when a person is acting.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::Operator | Principal::System { .. } | Principal::App { .. } => None,
        }
    }

    /// The account whose relationships to a record decide for this principal: the person
    /// signed in, or the person who granted an app.
    pub fn deciding_user(&self) -> Option<UserId> {
        match self {
            Principal::User { id, .. } => Some(*id),
            Principal::App { user, .. } => Some(*user),
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
    /// Route a conversation to another clinician or pool.
    ReassignMessage,
    /// Write an internal note on a conversation, which the patient's side never sees.
    NoteMessage,
    /// Mark a conversation done, or close it to replies.
    CloseConversation,
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
    /// Release a held result to the patient.
    ReleaseResult,
    /// Ask for a prescription to be renewed.
    RequestRefill,
    /// Approve or refuse a refill request.
    DecideRefill,
    /// Join a video visit.
    JoinVisit,
    /// Grant, change or end proxy access to the record.
    ManageProxy,
    /// Connect an app of the patient's choice to read the record through the API.
    UseApi,
    /// Put clinicians on the record's care team or take them off it (the front desk and
    /// admins: who may open the record as its care team).
    ManageCareTeam,
}

impl Action {
    /// Every action, for policy matrices.
    pub const ALL: [Action; 21] = [
        Action::ViewDemographics,
        Action::ViewRecord,
        Action::ViewNotes,
        Action::ViewMessages,
        Action::SendMessage,
        Action::ReassignMessage,
        Action::NoteMessage,
        Action::CloseConversation,
        Action::ViewAppointments,
        Action::ManageAppointments,
        Action::Export,
        Action::ViewAccessLog,
        Action::WriteRecord,
        Action::Enrol,
        Action::ReleaseResult,
        Action::RequestRefill,
        Action::DecideRefill,
        Action::JoinVisit,
        Action::ManageProxy,
        Action::UseApi,
        Action::ManageCareTeam,
    ];

    /// The stable name used in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ViewDemographics => "view-demographics",
            Action::ViewRecord => "view-record",
            Action::ViewNotes => "view-notes",
            Action::ViewMessages => "view-messages",
            Action::SendMessage => "send-message",
            Action::ReassignMessage => "reassign-message",
            Action::NoteMessage => "note-message",
            Action::CloseConversation => "close-conversation",
            Action::ViewAppointments => "view-appointments",
            Action::ManageAppointments => "manage-appointments",
            Action::Export => "export",
            Action::ViewAccessLog => "view-access-log",
            Action::WriteRecord => "write-record",
            Action::Enrol => "enrol",
            Action::ReleaseResult => "release-result",
            Action::RequestRefill => "request-refill",
            Action::DecideRefill => "decide-refill",
            Action::JoinVisit => "join-visit",
            Action::ManageProxy => "manage-proxy",
            Action::UseApi => "use-api",
            Action::ManageCareTeam => "manage-care-team",
        }
    }

    /// Whether the action reads or writes clinical data (as opposed to administrative data).
    pub fn is_clinical(self) -> bool {
        matches!(
            self,
            Action::ViewRecord
                | Action::ViewNotes
                | Action::Export
                | Action::WriteRecord
                | Action::ReleaseResult
                | Action::RequestRefill
                | Action::DecideRefill
                | Action::UseApi
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
    /// How the proxy is related to the patient.
    pub relationship: Relationship,
    /// When the patient chose the grant's reach themselves, if they did.
    pub patient_chose_at: Option<Timestamp>,
    /// Confidential categories the patient shares with this proxy.
    pub shared: Categories,
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
    /// The patient's birth date, which the age rules decide a proxy's reach on (`None`: not
    /// known, and no proxy grant reaches anything).
    pub patient_birth: Option<jiff::civil::Date>,
    /// The clinic's rules for proxies.
    pub rules: ProxyRules,
}

impl AccessFacts {
    /// The first active grant that reaches `action` at `now` (within the grants' own reach and
    /// the age rules) with what it reaches, as `covers` decides for each reach.
    fn proxy_grant_for(
        &self,
        now: Timestamp,
        covers: impl Fn(AccessBasis) -> bool,
    ) -> Option<(&ProxyGrantFact, ProxyScope)> {
        let birth = self.patient_birth?;
        self.proxy_grants
            .iter()
            .filter(|g| g.is_active(now))
            .filter_map(|g| Some((g, self.rules.reach(g, birth, now)?)))
            .find(|(_, scope)| covers(AccessBasis::Proxy(*scope)))
    }
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
    /// A clinician or staff member answering a conversation routed to them or to their pool.
    Routed,
    /// A clinician deciding a refill request that is theirs to decide (they wrote the
    /// prescription, or lead or belong to the pool it is routed to).
    RefillRouted,
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
            AccessBasis::Routed => "routed-message",
            AccessBasis::RefillRouted => "routed-refill",
        }
    }

    /// Whether access on this basis covers `action`. A system client's scopes decide for it,
    /// so this basis covers nothing on its own.
    pub fn covers(self, action: Action) -> bool {
        use Action::*;
        match self {
            AccessBasis::OwnRecord => !matches!(
                action,
                WriteRecord
                    | Enrol
                    | ManageCareTeam
                    | ReleaseResult
                    | DecideRefill
                    | ReassignMessage
                    | NoteMessage
                    | CloseConversation
            ),
            // A proxy acts for the patient but may not hand the record on to more proxies.
            AccessBasis::Proxy(ProxyScope::Full) => {
                AccessBasis::OwnRecord.covers(action) && action != ManageProxy
            }
            AccessBasis::Proxy(ProxyScope::NonClinical) => matches!(
                action,
                ViewDemographics
                    | ViewMessages
                    | SendMessage
                    | ViewAppointments
                    | ManageAppointments
                    | JoinVisit
            ),
            // Conversations themselves are reached only where they are routed (`Routed`).
            AccessBasis::CareTeam | AccessBasis::BreakGlass => !matches!(
                action,
                Export
                    | ViewAccessLog
                    | Enrol
                    | ManageCareTeam
                    | RequestRefill
                    | ManageProxy
                    | UseApi
                    | ReassignMessage
                    | NoteMessage
                    | CloseConversation
            ),
            AccessBasis::ClinicStaff => matches!(
                action,
                ViewDemographics
                    | ViewMessages
                    | SendMessage
                    | ViewAppointments
                    | ManageAppointments
                    | Enrol
                    | ManageProxy
                    | ManageCareTeam
            ),
            AccessBasis::Administration => {
                matches!(
                    action,
                    ViewDemographics | Enrol | ManageProxy | ManageCareTeam
                )
            }
            // The server's command line enrols and imports records; it never reads clinical data.
            AccessBasis::Operator => matches!(
                action,
                ViewDemographics | Enrol | WriteRecord | ManageCareTeam
            ),
            AccessBasis::SystemClient => false,
            AccessBasis::Routed => matches!(
                action,
                ViewDemographics
                    | ViewMessages
                    | SendMessage
                    | ReassignMessage
                    | NoteMessage
                    | CloseConversation
            ),
            // What the decision needs is read under the decision's own action.
            AccessBasis::RefillRouted => matches!(action, ViewDemographics | DecideRefill),
        }
    }

    /// Whether results not yet released to the patient are shown: to the care team and to the
    /// EHR, never to the patient or a proxy.
    pub fn sees_unreleased(self) -> bool {
        matches!(
            self,
            AccessBasis::CareTeam
                | AccessBasis::BreakGlass
                | AccessBasis::SystemClient
                | AccessBasis::RefillRouted
        )
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
    /// For a proxy: how they are related to the patient.
    relationship: Option<Relationship>,
    /// Confidential categories not shown on this access.
    hidden: Categories,
}

impl PatientAccess {
    /// An access on a basis other than a proxy's, decided by one of the policy's other
    /// functions (a routed conversation, a routed refill).
    fn on_basis(
        patient: PatientId,
        principal: &Principal,
        action: Action,
        basis: AccessBasis,
    ) -> Self {
        PatientAccess {
            patient,
            principal: principal.clone(),
            action,
            basis,
            relationship: None,
            hidden: Categories::NONE,
        }
    }
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
    /// For a proxy: how they are related to the patient.
    pub fn relationship(&self) -> Option<Relationship> {
        self.relationship
    }
    /// Whether the audit trail must flag this access (break-glass).
    pub fn is_break_glass(&self) -> bool {
        self.basis == AccessBasis::BreakGlass
    }
    /// Whether the same principal, on the same basis, may also do `action` to this patient
    /// (for offering it on a page; doing it takes its own [`authorize`]).
    pub fn also_allows(&self, action: Action) -> bool {
        allowed(&self.principal, self.basis, action)
    }
    /// The access to do `action` as well, on the same basis and for the same patient, when the
    /// policy allows it there: what a request reading several kinds of a record's data at once
    /// (the whole record through the FHIR API, a download) holds for each kind. Only where the
    /// basis does not depend on the action (the patient's own record, a proxy's grant, a system
    /// client's scopes); a clinician's access is decided again for each action.
    pub fn widened_to(&self, action: Action) -> Option<PatientAccess> {
        let same_basis = matches!(
            self.basis,
            AccessBasis::OwnRecord | AccessBasis::Proxy(_) | AccessBasis::SystemClient
        );
        (same_basis && allowed(&self.principal, self.basis, action)).then(|| PatientAccess {
            action,
            ..self.clone()
        })
    }
    /// What of the record this access shows.
    pub fn visibility(&self) -> Visibility {
        Visibility {
            unreleased: self.basis.sees_unreleased(),
            hidden: self.hidden,
        }
    }
}

/// What of a patient's record an access shows, beyond the action itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Visibility {
    /// Results not yet released to the patient.
    pub unreleased: bool,
    /// Confidential categories not shown (a proxy's: those the clinic keeps from proxies, less
    /// those the patient shared with this one).
    pub hidden: Categories,
}

impl Visibility {
    /// Whether an item released at `released_at` (`None`: held) in the confidential
    /// categories `sensitivity` is shown at `now`.
    pub fn shows(
        self,
        released_at: Option<Timestamp>,
        sensitivity: Categories,
        now: Timestamp,
    ) -> bool {
        (self.unreleased || crate::record::is_released(released_at, now))
            && self.shows_categories(sensitivity)
    }

    /// Whether an item in the confidential categories `sensitivity` is shown: none of them is
    /// hidden.
    pub fn shows_categories(self, sensitivity: Categories) -> bool {
        !sensitivity.intersects(self.hidden)
    }

    /// Whether every confidential category is shown.
    pub fn shows_every_category(self) -> bool {
        self.hidden.is_empty()
    }
}

fn allowed(principal: &Principal, basis: AccessBasis, action: Action) -> bool {
    match principal {
        Principal::System { scopes, .. } => scopes.allow(action),
        // An app reads, on the basis of the person who granted it, what that person could read;
        // which resource types is for its scopes ([`SmartScopes::access_to`]).
        Principal::App { .. } => {
            matches!(
                action,
                Action::ViewDemographics
                    | Action::ViewRecord
                    | Action::ViewNotes
                    | Action::ViewMessages
                    | Action::ViewAppointments
            ) && basis.covers(action)
                && basis.covers(Action::UseApi)
        }
        _ => basis.covers(action),
    }
}

/// The policy said no. Deliberately carries no reason: callers answer "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("access denied")]
pub struct Denied;

/// Decides whether `principal` may perform `action` on `patient`'s data, given what the store
/// knows of their relationship at `now`. Deny by default.
pub fn authorize(
    principal: &Principal,
    patient: PatientId,
    action: Action,
    facts: &AccessFacts,
    now: Timestamp,
) -> Result<PatientAccess, Denied> {
    let (basis, grant) = basis_for(principal, patient, action, facts, now).ok_or(Denied)?;
    if !allowed(principal, basis, action) {
        return Err(Denied);
    }
    Ok(PatientAccess {
        patient,
        principal: principal.clone(),
        action,
        basis,
        relationship: grant.map(|g| g.relationship),
        // A proxy never sees the categories the clinic keeps from proxies, whatever the
        // grant, unless the patient shared them with this proxy.
        hidden: grant.map_or(Categories::NONE, |g| facts.rules.hidden_from(g)),
    })
}

/// The relationship on which `principal` could do `action` to `patient`, if any, and the proxy
/// grant it rests on.
fn basis_for<'f>(
    principal: &Principal,
    patient: PatientId,
    action: Action,
    facts: &'f AccessFacts,
    now: Timestamp,
) -> Option<(AccessBasis, Option<&'f ProxyGrantFact>)> {
    let alone = |basis: AccessBasis| Some((basis, None));
    match principal {
        Principal::User {
            role: Role::Patient,
            own_patient,
            ..
        } => {
            if *own_patient == Some(patient) && AccessBasis::OwnRecord.covers(action) {
                return alone(AccessBasis::OwnRecord);
            }
            // The first active grant whose reach today covers the action decides.
            facts
                .proxy_grant_for(now, |basis| basis.covers(action))
                .map(|(g, scope)| (AccessBasis::Proxy(scope), Some(g)))
        }
        Principal::User {
            role: Role::Clinician,
            ..
        } => {
            if facts.on_care_team {
                alone(AccessBasis::CareTeam)
            } else if facts.break_glass_until.is_some_and(|until| now < until) {
                alone(AccessBasis::BreakGlass)
            } else {
                None
            }
        }
        Principal::User {
            role: Role::Staff, ..
        } => alone(AccessBasis::ClinicStaff),
        Principal::User {
            role: Role::Admin, ..
        } => alone(AccessBasis::Administration),
        Principal::Operator => alone(AccessBasis::Operator),
        Principal::System { .. } => alone(AccessBasis::SystemClient),
        Principal::App {
            user_patient,
            patient: granted,
            ..
        } => {
            if *granted != patient {
                return None;
            }
            // The granting person's access now: their own record, or a grant still active
            // that lets them connect apps.
            if *user_patient == Some(patient) {
                return alone(AccessBasis::OwnRecord);
            }
            facts
                .proxy_grant_for(now, |basis| {
                    basis.covers(Action::UseApi) && basis.covers(action)
                })
                .map(|(g, scope)| (AccessBasis::Proxy(scope), Some(g)))
        }
    }
}

#[cfg(test)]
mod tests;
