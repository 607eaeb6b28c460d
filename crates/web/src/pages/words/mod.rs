//! Words every page shows the same way: names, units and numbers, dates, and on what basis the
//! viewer sees a record.

mod dates;
mod names;
mod units;

pub use dates::{Dates, Locale};
pub use names::*;
pub use units::*;

use portal_domain::access::{AccessBasis, ProxyScope};

/// The words under the patient's name that say on what basis the viewer sees the record.
pub fn basis_words(access: &portal_domain::PatientAccess) -> Option<&'static str> {
    match access.basis() {
        AccessBasis::OwnRecord => None,
        AccessBasis::Proxy(ProxyScope::Full) => Some("You are viewing this record as a proxy."),
        AccessBasis::Proxy(ProxyScope::NonClinical) => {
            Some("You are viewing this record as a proxy for appointments and messages.")
        }
        AccessBasis::CareTeam => Some("On your care team."),
        AccessBasis::BreakGlass => {
            Some("Emergency (break-glass) access: every view is flagged for review.")
        }
        AccessBasis::ClinicStaff | AccessBasis::Administration | AccessBasis::Operator => {
            Some("Front-desk view: no clinical information.")
        }
        AccessBasis::SystemClient => None,
    }
}
