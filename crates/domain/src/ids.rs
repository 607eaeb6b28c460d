//! Typed identifiers, so that a patient id can never be passed where a user id belongs.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUID v7) identifier.
            pub fn new_v7(ts: jiff::Timestamp) -> Self {
                let secs = ts.as_second().max(0) as u64;
                let nanos = ts.subsec_nanosecond().max(0) as u32;
                Self(Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos)))
            }
            /// Wraps an existing UUID.
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(
    /// Identifies a patient record (whether or not anyone has an account for it).
    PatientId
);
typed_id!(
    /// Identifies a portal account: a patient, proxy, clinician, staff member or admin.
    UserId
);
typed_id!(
    /// Identifies a signed-in session (never the secret token itself).
    SessionId
);
typed_id!(
    /// Identifies a stored FHIR resource and the clinical item made from it (the portal's own
    /// id, never the sender's).
    ResourceId
);
typed_id!(
    /// Identifies a system client (an EHR or other system holding an API token).
    ClientId
);
typed_id!(
    /// Identifies a conversation between a patient's side and the clinic.
    ConversationId
);
typed_id!(
    /// Identifies one message of a conversation.
    MessageId
);
typed_id!(
    /// Identifies a file attached to a message.
    AttachmentId
);
typed_id!(
    /// Identifies a clinic pool (Front desk, Nurse line …) that messages can be sent to.
    PoolId
);

typed_id!(
    /// Identifies an appointment.
    AppointmentId
);
typed_id!(
    /// Identifies a kind of visit the clinic offers (new patient, follow-up, video …).
    VisitTypeId
);
typed_id!(
    /// Identifies a place where the clinic sees patients.
    LocationId
);
typed_id!(
    /// Identifies one weekly block of a clinician's schedule.
    HoursId
);
typed_id!(
    /// Identifies an earlier-time offer made to a waitlisted visit.
    OfferId
);
typed_id!(
    /// Identifies a time a clinician (or the whole clinic) is closed: a holiday, time off, a
    /// blocked hour.
    ClosureId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = PatientId::new_v7(jiff::Timestamp::UNIX_EPOCH);
        let back: PatientId = id.to_string().parse().expect("a displayed id parses");
        assert_eq!(id, back);
    }

    #[test]
    fn v7_ids_sort_by_time() {
        let a = UserId::new_v7(jiff::Timestamp::from_second(1_000).expect("valid"));
        let b = UserId::new_v7(jiff::Timestamp::from_second(2_000).expect("valid"));
        assert!(a < b);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("not-an-id".parse::<PatientId>().is_err());
    }
}

typed_id!(
    /// Identifies a patient's request for prescriptions to be renewed.
    RefillId
);
typed_id!(
    /// Identifies one medication of a refill request.
    RefillItemId
);
typed_id!(
    /// Identifies a pharmacy in the clinic's directory.
    PharmacyId
);
