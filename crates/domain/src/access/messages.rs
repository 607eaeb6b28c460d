//! The policy for one conversation: the patient's side reaches its own record's conversations
//! (the patient, or a proxy whose grant covers messages); the clinic reaches only those routed
//! to the user or to a pool the user belongs to, whatever care team they are on.

use super::{AccessBasis, AccessFacts, Action, Denied, PatientAccess, Principal, authorize};
use crate::ids::{PatientId, UserId};
use crate::user::Role;
use jiff::Timestamp;

/// What the store knows about one conversation and the acting user's relation to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConversationFacts {
    /// Whose record the conversation belongs to.
    pub patient: PatientId,
    /// The clinician it is routed to, if routed to one person.
    pub assigned_user: Option<UserId>,
    /// Whether it is routed to a pool the acting user is a member of.
    pub in_assigned_pool: bool,
}

/// Decides whether `principal` may do `action` to one conversation. `facts` are the principal's
/// relationship to the conversation's patient (grants, for the patient's side). Deny by default.
pub fn authorize_conversation(
    principal: &Principal,
    facts: &AccessFacts,
    conversation: &ConversationFacts,
    action: Action,
    now: Timestamp,
) -> Result<PatientAccess, Denied> {
    match principal {
        Principal::User {
            role: Role::Patient,
            ..
        } => authorize(principal, conversation.patient, action, facts, now),
        Principal::User {
            id,
            role: Role::Clinician | Role::Staff,
            ..
        } => {
            let routed = conversation.assigned_user == Some(*id) || conversation.in_assigned_pool;
            if routed && AccessBasis::Routed.covers(action) {
                Ok(PatientAccess::on_basis(
                    conversation.patient,
                    principal,
                    action,
                    AccessBasis::Routed,
                ))
            } else {
                Err(Denied)
            }
        }
        _ => Err(Denied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{ProxyGrantFact, ProxyScope};

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid")
    }
    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn pid(n: u128) -> PatientId {
        PatientId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn user(id: u128, role: Role, own: Option<PatientId>) -> Principal {
        Principal::User {
            id: uid(id),
            role,
            own_patient: own,
        }
    }
    fn to_pool(patient: u128) -> ConversationFacts {
        ConversationFacts {
            patient: pid(patient),
            assigned_user: None,
            in_assigned_pool: false,
        }
    }

    const CLINIC_ONLY: [Action; 3] = [
        Action::ReassignMessage,
        Action::NoteMessage,
        Action::CloseConversation,
    ];

    #[test]
    fn the_patient_reads_and_writes_their_own_conversations_only() {
        let me = user(1, Role::Patient, Some(pid(1)));
        let none = AccessFacts::default();
        for action in [Action::ViewMessages, Action::SendMessage] {
            assert!(authorize_conversation(&me, &none, &to_pool(1), action, now()).is_ok());
            assert_eq!(
                authorize_conversation(&me, &none, &to_pool(2), action, now()),
                Err(Denied)
            );
        }
        for action in CLINIC_ONLY {
            assert_eq!(
                authorize_conversation(&me, &none, &to_pool(1), action, now()),
                Err(Denied),
                "{action:?}"
            );
        }
    }

    #[test]
    fn a_proxy_writes_under_a_grant_that_covers_messages() {
        let parent = user(2, Role::Patient, Some(pid(2)));
        let grant = |scope| AccessFacts {
            proxy_grants: vec![ProxyGrantFact {
                scope,
                starts_at: now() - jiff::SignedDuration::from_hours(1),
                ends_at: None,
                revoked: false,
                relationship: crate::access::Relationship::Parent,
                patient_chose_at: None,
                shared: crate::record::Categories::NONE,
            }],
            patient_birth: Some(jiff::civil::date(2020, 1, 1)),
            ..AccessFacts::default()
        };
        for scope in [ProxyScope::Full, ProxyScope::NonClinical] {
            let access = authorize_conversation(
                &parent,
                &grant(scope),
                &to_pool(7),
                Action::SendMessage,
                now(),
            )
            .expect("a grant covers messages");
            assert_eq!(access.basis(), AccessBasis::Proxy(scope));
        }
        assert!(
            authorize_conversation(
                &parent,
                &AccessFacts::default(),
                &to_pool(7),
                Action::ViewMessages,
                now()
            )
            .is_err()
        );
    }

    #[test]
    fn the_clinic_reaches_only_conversations_routed_to_the_user_or_their_pool() {
        let on_team = AccessFacts {
            on_care_team: true,
            ..AccessFacts::default()
        };
        for role in [Role::Clinician, Role::Staff] {
            let me = user(3, role, None);
            let mine = ConversationFacts {
                assigned_user: Some(uid(3)),
                ..to_pool(1)
            };
            let my_pool = ConversationFacts {
                in_assigned_pool: true,
                ..to_pool(1)
            };
            let someone_elses = ConversationFacts {
                assigned_user: Some(uid(4)),
                ..to_pool(1)
            };
            for action in Action::ALL {
                let covered = AccessBasis::Routed.covers(action);
                for routed in [mine, my_pool] {
                    assert_eq!(
                        authorize_conversation(&me, &on_team, &routed, action, now()).is_ok(),
                        covered,
                        "{role} {action:?}"
                    );
                }
                // Being on the care team does not reach a conversation routed elsewhere.
                for other in [someone_elses, to_pool(1)] {
                    assert_eq!(
                        authorize_conversation(&me, &on_team, &other, action, now()),
                        Err(Denied),
                        "{role} {action:?}"
                    );
                }
            }
            let access =
                authorize_conversation(&me, &on_team, &my_pool, Action::NoteMessage, now())
                    .expect("routed");
            assert_eq!(access.basis(), AccessBasis::Routed);
            assert!(!access.visibility().unreleased);
        }
    }

    #[test]
    fn routed_access_never_reaches_the_clinical_record() {
        for action in Action::ALL.into_iter().filter(|a| a.is_clinical()) {
            assert!(!AccessBasis::Routed.covers(action), "{action:?}");
        }
    }

    #[test]
    fn admins_operators_and_systems_reach_no_conversation() {
        let routed = ConversationFacts {
            assigned_user: Some(uid(5)),
            in_assigned_pool: true,
            ..to_pool(1)
        };
        for principal in [user(5, Role::Admin, None), Principal::Operator] {
            for action in Action::ALL {
                assert_eq!(
                    authorize_conversation(
                        &principal,
                        &AccessFacts::default(),
                        &routed,
                        action,
                        now()
                    ),
                    Err(Denied)
                );
            }
        }
    }
}
