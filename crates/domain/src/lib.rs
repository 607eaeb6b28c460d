//! Domain types, rules and the access policy of the patient portal.
//!
//! No I/O, no async, no database and no HTTP live here: only the words the portal speaks and the
//! rules that decide what may happen.

pub mod access;
pub mod appointments;
pub mod audit;
pub mod checkpoint;
pub mod fields;
pub mod ids;
pub mod messages;
pub mod password;
pub mod patient;
pub mod record;
pub mod refills;
pub mod session;
pub mod user;

pub use access::{
    AccessBasis, AccessFacts, Action, ApiScopes, PatientAccess, Principal, ProxyScope, Visibility,
};
pub use ids::{
    AppointmentId, AttachmentId, ClosureId, ConversationId, HoursId, LocationId, MessageId,
    OfferId, PatientId, PharmacyId, PoolId, RefillId, RefillItemId, ResourceId, UserId,
    VisitTypeId,
};
pub use patient::Patient;
pub use user::Role;
