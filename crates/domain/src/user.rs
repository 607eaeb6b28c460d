//! Accounts: roles and statuses.

use std::fmt;
use std::str::FromStr;

/// What kind of account a user holds. A patient-side account (`Patient`) may hold its own record,
/// proxy grants for other patients, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A patient or a proxy (parent, caregiver) acting for patients under grants.
    Patient,
    /// A clinician: sees the patients on their care team.
    Clinician,
    /// Front-desk staff: scheduling, messaging, enrolment; no clinical data.
    Staff,
    /// Administrator: accounts, settings and the audit trail; no clinical data.
    Admin,
}

impl Role {
    /// All roles, in display order.
    pub const ALL: [Role; 4] = [Role::Patient, Role::Clinician, Role::Staff, Role::Admin];

    /// The stable text stored in the database and shown in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Clinician => "clinician",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// Whether this role must use a second factor to sign in, whatever the settings say.
    pub fn requires_second_factor(self) -> bool {
        !matches!(self, Role::Patient)
    }

    /// A human label for pages.
    pub fn label(self) -> &'static str {
        match self {
            Role::Patient => "Patient",
            Role::Clinician => "Clinician",
            Role::Staff => "Staff",
            Role::Admin => "Administrator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Raised when text does not name a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Role must be one of patient, clinician, staff or admin.")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Role::Patient),
            "clinician" => Ok(Role::Clinician),
            "staff" => Ok(Role::Staff),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole),
        }
    }
}

/// Whether an account may sign in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountStatus {
    /// The account may sign in.
    Active,
    /// An admin disabled the account; its sessions have ended.
    Disabled,
}

impl AccountStatus {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Disabled => "disabled",
        }
    }

    /// Reads the stored text; anything unknown is treated as disabled (fail closed).
    pub fn from_stored(s: &str) -> Self {
        if s == "active" {
            AccountStatus::Active
        } else {
            AccountStatus::Disabled
        }
    }
}

/// An account as the clinic's administrators see it: who, with what role and status; never its
/// password hash or second-factor secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The account's id.
    pub id: crate::UserId,
    /// The sign-in e-mail (lower case).
    pub email: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Whether it may sign in.
    pub status: AccountStatus,
    /// Whether a second factor is enrolled.
    pub has_second_factor: bool,
    /// The patient record of a patient's own account.
    pub patient_id: Option<crate::PatientId>,
    /// Until when failed sign-ins (passwords or second-factor codes) lock it, if they do now.
    pub locked_until: Option<jiff::Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_stored_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn only_patients_may_skip_the_second_factor() {
        assert!(!Role::Patient.requires_second_factor());
        assert!(Role::Clinician.requires_second_factor());
        assert!(Role::Staff.requires_second_factor());
        assert!(Role::Admin.requires_second_factor());
    }

    #[test]
    fn unknown_status_fails_closed() {
        assert_eq!(AccountStatus::from_stored("weird"), AccountStatus::Disabled);
        assert_eq!(AccountStatus::from_stored("active"), AccountStatus::Active);
    }
}
