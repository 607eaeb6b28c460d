//! Audit events: what the trail records, and the exact bytes its hash chain covers.

use jiff::Timestamp;

/// What happened, in the words of ASTM E2147.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// A sign-in attempt (the outcome says whether it succeeded).
    SignIn,
    /// A sign-out.
    SignOut,
    /// A read of patient data.
    Read,
    /// A creation.
    Create,
    /// A change.
    Update,
    /// A deletion.
    Delete,
    /// A download or export of a record.
    Export,
}

impl AuditAction {
    /// Every action, in the order reports list them.
    pub const ALL: [AuditAction; 7] = [
        AuditAction::SignIn,
        AuditAction::SignOut,
        AuditAction::Read,
        AuditAction::Create,
        AuditAction::Update,
        AuditAction::Delete,
        AuditAction::Export,
    ];

    /// The stable name stored in the trail.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::SignIn => "sign-in",
            AuditAction::SignOut => "sign-out",
            AuditAction::Read => "read",
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Export => "export",
        }
    }

    /// Plain words for the patient's "who accessed my record" page.
    pub fn plain_words(s: &str) -> &'static str {
        match s {
            "sign-in" => "signed in",
            "sign-out" => "signed out",
            "read" => "viewed",
            "create" => "added",
            "update" => "changed",
            "delete" => "removed",
            "export" => "downloaded",
            _ => "did something with",
        }
    }
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Success,
    /// The policy refused it, or the credentials were wrong.
    Denied,
    /// It failed for another reason.
    Failure,
}

impl Outcome {
    /// The stable name stored in the trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failure => "failure",
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The client's address.
    pub client_addr: String,
    /// The client's user agent (or app name).
    pub user_agent: String,
    /// The request id, to join the trail with the logs.
    pub request_id: String,
}

/// How an event's detail starts when the event is flagged for the admins' review (an account
/// able to read clinical data created or re-enabled, an activation that looks like staff
/// activating a patient's account themselves). Break-glass events are flagged by their own
/// column.
pub const REVIEW_FLAG: &str = "flagged for review: ";

/// One event of the trail, before it is chained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// When, in UTC.
    pub at: Timestamp,
    /// Who (a user or client id), empty when nobody could be identified.
    pub actor_id: String,
    /// The actor's role ("patient", "clinician", "system", "anonymous" …).
    pub actor_role: String,
    /// The basis of access ("own-record", "proxy-full", "break-glass" …), empty for sign-ins.
    pub on_behalf_of: String,
    /// The patient whose data was touched, if any.
    pub patient_id: Option<String>,
    /// What happened.
    pub action: AuditAction,
    /// The kind of data (e.g. "Patient", "Session", "Record").
    pub resource_type: String,
    /// Which item, if one.
    pub resource_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Flagged: break-glass access.
    pub break_glass: bool,
    /// A short note without health data (e.g. the break-glass reason, the policy action).
    pub detail: String,
    /// Where the request came from.
    pub context: RequestContext,
}

/// An event as stored: with its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAuditEvent {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// The event's id.
    pub id: String,
    /// The event.
    pub event: AuditEvent,
    /// The previous event's hash (hex), or 64 zeros for the first.
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

/// The hash that comes before the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The exact bytes that an event's hash covers, together with its position and the previous hash.
/// Each field is length-prefixed so that no two different events share bytes.
pub fn canonical_bytes(seq: i64, id: &str, event: &AuditEvent, prev_hash: &str) -> Vec<u8> {
    let at = event.at.as_microsecond().to_string();
    let seq = seq.to_string();
    let fields: [&str; 17] = [
        "portal-audit-v1",
        &seq,
        id,
        &at,
        &event.actor_id,
        &event.actor_role,
        &event.on_behalf_of,
        event.patient_id.as_deref().unwrap_or(""),
        event.action.as_str(),
        &event.resource_type,
        event.resource_id.as_deref().unwrap_or(""),
        event.outcome.as_str(),
        if event.break_glass { "1" } else { "0" },
        &event.detail,
        &event.context.client_addr,
        &event.context.user_agent,
        &event.context.request_id,
    ];
    let mut out = Vec::with_capacity(256);
    for field in fields {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out.extend_from_slice(prev_hash.as_bytes());
    out
}

impl AuditAction {
    /// Reads the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "sign-in" => AuditAction::SignIn,
            "sign-out" => AuditAction::SignOut,
            "read" => AuditAction::Read,
            "create" => AuditAction::Create,
            "update" => AuditAction::Update,
            "delete" => AuditAction::Delete,
            "export" => AuditAction::Export,
            _ => return None,
        })
    }
}

impl Outcome {
    /// Reads the stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            "failure" => Outcome::Failure,
            _ => return None,
        })
    }
}

/// An event with the actor's name, for pages.
#[derive(Clone, Debug)]
pub struct NamedEvent {
    /// The event.
    pub stored: StoredAuditEvent,
    /// The actor's display name, when the actor is a known account.
    pub actor_name: Option<String>,
}

/// Which of a patient's events to list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PatientLogFilter {
    /// Everything.
    #[default]
    All,
    /// What clinic accounts (clinicians, staff, admins) did, refused or not.
    Clinic,
    /// Emergency (break-glass) access only.
    Emergency,
    /// Refused attempts only.
    Refused,
    /// What the patient's side did (the patient and their proxies), successfully.
    PatientSide,
}

impl PatientLogFilter {
    /// Whether `event` is listed under this filter: the same test as the store's SQL condition
    /// for it (the store's contract tests compare the two).
    pub fn matches(self, event: &AuditEvent) -> bool {
        match self {
            PatientLogFilter::All => true,
            PatientLogFilter::Clinic => {
                matches!(event.actor_role.as_str(), "clinician" | "staff" | "admin")
            }
            PatientLogFilter::Emergency => event.break_glass,
            PatientLogFilter::Refused => event.outcome != Outcome::Success,
            PatientLogFilter::PatientSide => {
                event.actor_role == "patient" && event.outcome == Outcome::Success
            }
        }
    }
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every event is in place and the head matches.
    Intact {
        /// How many events were checked.
        events: i64,
    },
    /// The first problem found.
    Broken {
        /// The position of the first bad event (or where the missing ones start).
        seq: i64,
        /// What is wrong, in words.
        problem: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            at: Timestamp::from_second(1_800_000_000).expect("valid"),
            actor_id: "a".into(),
            actor_role: "patient".into(),
            on_behalf_of: "own-record".into(),
            patient_id: Some("p".into()),
            action: AuditAction::Read,
            resource_type: "Record".into(),
            resource_id: None,
            outcome: Outcome::Success,
            break_glass: false,
            detail: String::new(),
            context: RequestContext::default(),
        }
    }

    #[test]
    fn any_field_change_changes_the_bytes() {
        let base = canonical_bytes(1, "id", &event(), GENESIS_HASH);
        let mut other = event();
        other.outcome = Outcome::Denied;
        assert_ne!(base, canonical_bytes(1, "id", &other, GENESIS_HASH));
        assert_ne!(base, canonical_bytes(2, "id", &event(), GENESIS_HASH));
        let mut flagged = event();
        flagged.break_glass = true;
        assert_ne!(base, canonical_bytes(1, "id", &flagged, GENESIS_HASH));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let mut a = event();
        a.actor_id = "ab".into();
        a.actor_role = "c".into();
        let mut b = event();
        b.actor_id = "a".into();
        b.actor_role = "bc".into();
        assert_ne!(
            canonical_bytes(1, "id", &a, GENESIS_HASH),
            canonical_bytes(1, "id", &b, GENESIS_HASH)
        );
    }

    #[test]
    fn stored_names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::from_stored(a.as_str()), Some(a));
        }
        for o in [Outcome::Success, Outcome::Denied, Outcome::Failure] {
            assert_eq!(Outcome::from_stored(o.as_str()), Some(o));
        }
    }
}
