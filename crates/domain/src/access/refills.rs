//! The policy for one refill request: the patient's side reaches its own record's requests
//! (the patient, or a proxy whose grant covers the clinical record); a clinician decides when on
//! the patient's care team, or when the request is theirs to decide: they wrote the
//! prescription, are in the pool it is routed to, or lead that pool. Break-glass access does not
//! decide refills, and staff never reach a request's clinical detail.

use super::{AccessBasis, AccessFacts, Action, Denied, PatientAccess, Principal, authorize};
use crate::ids::{PatientId, UserId};
use crate::user::Role;
use jiff::Timestamp;

/// What the store knows about one refill request and the acting user's relation to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefillFacts {
    /// Whose record the request belongs to.
    pub patient: PatientId,
    /// The prescriber's account, when the prescriber has one.
    pub prescriber: Option<UserId>,
    /// Whether the acting user is a member of the pool the request is routed to.
    pub in_pool: bool,
    /// The lead clinician of that pool.
    pub lead: Option<UserId>,
}

/// Decides whether `principal` may do `action` to one refill request. `facts` are the
/// principal's relationship to the request's patient. Deny by default.
pub fn authorize_refill(
    principal: &Principal,
    facts: &AccessFacts,
    refill: &RefillFacts,
    action: Action,
    now: Timestamp,
) -> Result<PatientAccess, Denied> {
    match principal {
        Principal::User {
            role: Role::Patient,
            ..
        } if action == Action::RequestRefill => {
            authorize(principal, refill.patient, action, facts, now)
        }
        Principal::User {
            id,
            role: Role::Clinician,
            ..
        } if action == Action::DecideRefill => {
            if let Ok(access) = authorize(principal, refill.patient, action, facts, now)
                && access.basis() == AccessBasis::CareTeam
            {
                return Ok(access);
            }
            let routed =
                refill.prescriber == Some(*id) || refill.in_pool || refill.lead == Some(*id);
            if routed {
                Ok(PatientAccess::on_basis(
                    refill.patient,
                    principal,
                    action,
                    AccessBasis::RefillRouted,
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
    fn request(patient: u128) -> RefillFacts {
        RefillFacts {
            patient: pid(patient),
            prescriber: Some(uid(10)),
            in_pool: false,
            lead: Some(uid(11)),
        }
    }
    fn grant(scope: ProxyScope) -> AccessFacts {
        AccessFacts {
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
        }
    }

    #[test]
    fn the_patient_and_a_full_proxy_reach_their_own_requests_only() {
        let me = user(1, Role::Patient, Some(pid(1)));
        let none = AccessFacts::default();
        assert!(authorize_refill(&me, &none, &request(1), Action::RequestRefill, now()).is_ok());
        assert_eq!(
            authorize_refill(&me, &none, &request(2), Action::RequestRefill, now()),
            Err(Denied)
        );
        assert_eq!(
            authorize_refill(&me, &none, &request(1), Action::DecideRefill, now()),
            Err(Denied)
        );
        let parent = user(2, Role::Patient, Some(pid(2)));
        let full = authorize_refill(
            &parent,
            &grant(ProxyScope::Full),
            &request(7),
            Action::RequestRefill,
            now(),
        )
        .expect("a full grant covers refills");
        assert_eq!(full.basis(), AccessBasis::Proxy(ProxyScope::Full));
        assert_eq!(
            authorize_refill(
                &parent,
                &grant(ProxyScope::NonClinical),
                &request(7),
                Action::RequestRefill,
                now()
            ),
            Err(Denied)
        );
    }

    #[test]
    fn the_prescriber_the_pool_the_lead_and_the_care_team_decide() {
        let none = AccessFacts::default();
        for (who, refill) in [
            (10, request(1)),
            (11, request(1)),
            (
                12,
                RefillFacts {
                    in_pool: true,
                    ..request(1)
                },
            ),
        ] {
            let access = authorize_refill(
                &user(who, Role::Clinician, None),
                &none,
                &refill,
                Action::DecideRefill,
                now(),
            )
            .expect("routed");
            assert_eq!(access.basis(), AccessBasis::RefillRouted);
            assert!(access.visibility().unreleased);
        }
        let team = AccessFacts {
            on_care_team: true,
            ..AccessFacts::default()
        };
        let access = authorize_refill(
            &user(13, Role::Clinician, None),
            &team,
            &request(1),
            Action::DecideRefill,
            now(),
        )
        .expect("care team");
        assert_eq!(access.basis(), AccessBasis::CareTeam);
    }

    #[test]
    fn others_break_glass_and_staff_never_decide() {
        let glass = AccessFacts {
            break_glass_until: Some(now() + jiff::SignedDuration::from_mins(30)),
            ..AccessFacts::default()
        };
        assert_eq!(
            authorize_refill(
                &user(13, Role::Clinician, None),
                &glass,
                &request(1),
                Action::DecideRefill,
                now()
            ),
            Err(Denied)
        );
        let team = AccessFacts {
            on_care_team: true,
            ..AccessFacts::default()
        };
        let in_pool = RefillFacts {
            in_pool: true,
            prescriber: Some(uid(14)),
            lead: Some(uid(14)),
            ..request(1)
        };
        for role in [Role::Staff, Role::Admin, Role::Patient] {
            for action in [Action::DecideRefill, Action::RequestRefill] {
                assert_eq!(
                    authorize_refill(&user(14, role, None), &team, &in_pool, action, now()),
                    Err(Denied),
                    "{role} {action:?}"
                );
            }
        }
        assert_eq!(
            authorize_refill(
                &Principal::Operator,
                &team,
                &in_pool,
                Action::DecideRefill,
                now()
            ),
            Err(Denied)
        );
    }

    #[test]
    fn refill_routing_reaches_nothing_else() {
        for action in Action::ALL {
            assert_eq!(
                AccessBasis::RefillRouted.covers(action),
                matches!(action, Action::ViewDemographics | Action::DecideRefill),
                "{action:?}"
            );
        }
    }
}
