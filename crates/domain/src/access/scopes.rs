//! What a system client's token allows, written as SMART on FHIR system scopes.

use super::Action;

/// The scopes of a system client's token. Only `system/*.read`, `system/*.write` and
/// `system/*.*` are known today; anything else is refused when the token is made, never
/// silently widened or narrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiScopes {
    /// `system/*.read`: read every patient's demographics, record, notes, messages and
    /// appointments.
    pub read: bool,
    /// `system/*.write`: send records in.
    pub write: bool,
}

impl ApiScopes {
    /// No access at all (what unreadable stored scopes give).
    pub const NONE: ApiScopes = ApiScopes {
        read: false,
        write: false,
    };

    /// Parses space-separated scopes; the error names the scope that is not known.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut scopes = ApiScopes::NONE;
        for scope in raw.split_whitespace() {
            match scope {
                "system/*.read" => scopes.read = true,
                "system/*.write" => scopes.write = true,
                "system/*.*" => {
                    scopes.read = true;
                    scopes.write = true;
                }
                other => {
                    return Err(format!(
                        "Scope {other:?} is not known; use system/*.read, system/*.write or system/*.*."
                    ));
                }
            }
        }
        if scopes == ApiScopes::NONE {
            return Err("Scope is required.".into());
        }
        Ok(scopes)
    }

    /// The scopes as stored and shown, in a fixed order.
    pub fn as_text(self) -> String {
        let mut parts = Vec::new();
        if self.read {
            parts.push("system/*.read");
        }
        if self.write {
            parts.push("system/*.write");
        }
        parts.join(" ")
    }

    /// Whether these scopes allow `action` on a patient's data.
    pub fn allow(self, action: Action) -> bool {
        match action {
            Action::WriteRecord => self.write,
            // The read API serves the portal's own messages and appointments as part of the
            // record (Communication, Appointment), so a reading system may read them; it can
            // never send, book or act for the patient.
            Action::ViewDemographics
            | Action::ViewRecord
            | Action::ViewNotes
            | Action::ViewMessages
            | Action::ViewAppointments => self.read,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_read_write_or_both() {
        assert_eq!(
            ApiScopes::parse("system/*.read"),
            Ok(ApiScopes {
                read: true,
                write: false
            })
        );
        assert_eq!(
            ApiScopes::parse("system/*.* system/*.read"),
            Ok(ApiScopes {
                read: true,
                write: true
            })
        );
        assert!(ApiScopes::parse("").is_err());
        assert!(ApiScopes::parse("patient/*.read").is_err_and(|e| e.contains("patient/*.read")));
        assert_eq!(
            ApiScopes::parse("system/*.write system/*.read")
                .expect("known")
                .as_text(),
            "system/*.read system/*.write"
        );
    }

    #[test]
    fn a_write_scope_cannot_read_and_a_read_scope_cannot_write() {
        let write = ApiScopes::parse("system/*.write").expect("known");
        assert!(write.allow(Action::WriteRecord));
        assert!(!write.allow(Action::ViewRecord));
        let read = ApiScopes::parse("system/*.read").expect("known");
        assert!(read.allow(Action::ViewNotes));
        assert!(!read.allow(Action::WriteRecord));
        assert!(read.allow(Action::ViewMessages) && read.allow(Action::ViewAppointments));
        assert!(!write.allow(Action::ViewMessages) && !write.allow(Action::ViewAppointments));
        for action in [
            Action::SendMessage,
            Action::Export,
            Action::ReleaseResult,
            Action::ManageAppointments,
            Action::RequestRefill,
            Action::ManageProxy,
        ] {
            assert!(!ApiScopes::parse("system/*.*").expect("known").allow(action));
        }
    }
}
