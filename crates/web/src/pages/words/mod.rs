//! Words every page shows the same way: names, units and numbers, dates, and on what basis the
//! viewer sees a record.

mod dates;
mod names;
mod units;

pub use dates::{Dates, Locale};
pub use names::*;
pub use units::*;

use portal_domain::access::{AccessBasis, ProxyScope, Relationship};

/// The words under the patient's name that say on what basis the viewer sees the record, in
/// plain words ("You are viewing Leo's record as his parent.").
pub fn basis_words(
    access: &portal_domain::PatientAccess,
    patient: &portal_domain::Patient,
) -> Option<String> {
    let name = patient.given_name.trim();
    let their = match patient.sex.as_str() {
        "male" => "his",
        "female" => "her",
        _ => "their",
    };
    match access.basis() {
        AccessBasis::OwnRecord => None,
        AccessBasis::Proxy(scope) => {
            let role = match access.relationship() {
                Some(Relationship::Parent) => "parent",
                Some(Relationship::Caregiver) => "caregiver",
                _ => "proxy",
            };
            Some(match scope {
                ProxyScope::Full => {
                    format!("You are viewing {name}'s record as {their} {role}.")
                }
                ProxyScope::NonClinical => format!(
                    "You are viewing {name}'s appointments and messages as {their} {role}. \
                     {name}'s health record is not shared with you."
                ),
            })
        }
        AccessBasis::CareTeam => Some("You are on this patient's care team.".into()),
        AccessBasis::BreakGlass => {
            Some("Emergency (break-glass) access: every view is flagged for review.".into())
        }
        AccessBasis::ClinicStaff | AccessBasis::Administration | AccessBasis::Operator => {
            Some("Front-desk view: no clinical information.".into())
        }
        AccessBasis::Routed => {
            Some("This conversation was sent to you or to a pool you are in.".into())
        }
        AccessBasis::RefillRouted => Some(
            "This refill request is yours to decide: you prescribed it, or it was sent to a \
             pool you are in or lead."
                .into(),
        ),
        AccessBasis::SystemClient => None,
    }
}
