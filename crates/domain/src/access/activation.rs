//! The narrow capability of activating an account: before anyone is signed in, a valid
//! activation code lets the portal read one patient's birth date (to compare with the one typed)
//! and create that patient's account; nothing else.

use super::Denied;
use crate::ids::PatientId;
use jiff::Timestamp;

/// An activation code as the store found it, after taking one attempt on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActivationCodeFact {
    /// The patient record it activates.
    pub patient: PatientId,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Whether it was used already.
    pub used: bool,
    /// Wrong birth dates typed with it, this attempt included.
    pub failed_attempts: i64,
}

/// Proof that a usable activation code names this patient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivationAccess {
    patient: PatientId,
}

impl ActivationAccess {
    /// The patient whose birth date may be read and whose account may be created.
    pub fn patient(&self) -> PatientId {
        self.patient
    }
}

/// Decides whether an activation code may go on to compare the birth date: unused, not
/// expired, and within `max_attempts`.
pub fn authorize_activation(
    code: &ActivationCodeFact,
    max_attempts: i64,
    now: Timestamp,
) -> Result<ActivationAccess, Denied> {
    if code.used || code.expires_at <= now || code.failed_attempts > max_attempts {
        return Err(Denied);
    }
    Ok(ActivationAccess {
        patient: code.patient,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).expect("valid")
    }

    fn code() -> ActivationCodeFact {
        ActivationCodeFact {
            patient: PatientId::from_uuid(uuid::Uuid::from_u128(1)),
            expires_at: now() + jiff::SignedDuration::from_hours(1),
            used: false,
            failed_attempts: 1,
        }
    }

    #[test]
    fn a_usable_code_opens_only_its_own_patient() {
        let access = authorize_activation(&code(), 5, now()).expect("usable");
        assert_eq!(access.patient(), code().patient);
    }

    #[test]
    fn used_expired_or_exhausted_codes_open_nothing() {
        let used = ActivationCodeFact {
            used: true,
            ..code()
        };
        let expired = ActivationCodeFact {
            expires_at: now(),
            ..code()
        };
        let exhausted = ActivationCodeFact {
            failed_attempts: 6,
            ..code()
        };
        for c in [used, expired, exhausted] {
            assert_eq!(authorize_activation(&c, 5, now()), Err(Denied));
        }
    }
}
