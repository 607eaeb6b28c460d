//! Whose record a resource is in, and who and where it is from: the FHIR knowledge the import
//! needs beside the mapping (the patient compartment's elements, identifiers, the names the
//! directory shows, and what each kind of reference says).

use crate::json::{JsonContainerTrait, JsonValueTrait, Value};
use crate::{CodeSet, Mapped};

/// The elements that put a resource in a patient's record (its patient compartment, as the
/// portal reads it).
pub const PATIENT_FIELDS: &[&str] = &["subject", "patient", "beneficiary"];

/// The element (of the reference paths given) that says whose record a resource is in, for
/// error messages; `subject` when none does.
pub fn patient_field<'a>(paths: impl IntoIterator<Item = &'a str>) -> &'static str {
    paths
        .into_iter()
        .filter_map(|path| path.rsplit_once('.').map(|(_, field)| field))
        .find_map(|field| PATIENT_FIELDS.iter().find(|f| **f == field).copied())
        .unwrap_or("subject")
}

/// The identifiers of a resource as (system, value), read from its JSON, sorted, without
/// repeats.
pub fn identifiers_of(resource: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = resource
        .get("identifier")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| {
                    let value = id.get("value")?.as_str()?;
                    let system = id.get("system").and_then(Value::as_str).unwrap_or("");
                    Some((system.to_string(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// The name a practitioner, organization or location is shown by.
pub fn directory_name(mapped: &Mapped) -> Option<String> {
    let name = match mapped {
        Mapped::Practitioner(p) => p
            .names
            .iter()
            .find(|n| n.use_.map(CodeSet::code) == Some("official"))
            .or_else(|| p.names.first())
            .map(|n| n.display())?,
        Mapped::Organization(o) => o.name.clone()?,
        Mapped::Location(l) => l.name.clone()?,
        _ => return None,
    };
    (!name.trim().is_empty()).then_some(name)
}

/// What an item's references say about who and where it is from, and (for a report) which
/// results it lists: resource ids, resolved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Links {
    /// Who ordered, performed or wrote it.
    pub who: Option<String>,
    /// Whether `who` is an organization, which a practitioner found later replaces.
    pub who_is_organization: bool,
    /// Where.
    pub place: Option<String>,
    /// For a report: the results it lists.
    pub members: Vec<String>,
}

impl Links {
    /// Notes one resolved reference: at `path` (its element `field`) of a `resource_type`,
    /// pointing at a `target_type` whose portal id is `target`.
    pub fn note(
        &mut self,
        resource_type: &str,
        path: &str,
        field: &str,
        target_type: &str,
        target: &str,
    ) {
        if resource_type == "DiagnosticReport"
            && target_type == "Observation"
            && path.starts_with("DiagnosticReport.result")
        {
            self.members.push(target.to_string());
            return;
        }
        if matches!(
            field,
            "subject" | "patient" | "beneficiary" | "basedOn" | "partOf"
        ) {
            return;
        }
        match target_type {
            "Practitioner" if self.who.is_none() || self.who_is_organization => {
                self.who = Some(target.to_string());
                self.who_is_organization = false;
            }
            "Organization"
                if (field == "serviceProvider" || field == "managingOrganization")
                    && self.place.is_none() =>
            {
                self.place = Some(target.to_string());
            }
            "Organization" if self.who.is_none() => {
                self.who = Some(target.to_string());
                self.who_is_organization = true;
            }
            "Location" => {
                self.place = Some(target.to_string());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::json;

    #[test]
    fn a_report_lists_its_results_and_a_practitioner_beats_an_organization() {
        let mut links = Links::default();
        links.note(
            "DiagnosticReport",
            "DiagnosticReport.result[0]",
            "result",
            "Observation",
            "obs-1",
        );
        links.note(
            "DiagnosticReport",
            "DiagnosticReport.subject",
            "subject",
            "Patient",
            "p",
        );
        links.note(
            "DiagnosticReport",
            "DiagnosticReport.performer[0]",
            "performer",
            "Organization",
            "lab",
        );
        assert_eq!(links.who.as_deref(), Some("lab"));
        links.note(
            "DiagnosticReport",
            "DiagnosticReport.performer[1]",
            "performer",
            "Practitioner",
            "dr",
        );
        assert_eq!(links.members, vec!["obs-1".to_string()]);
        assert_eq!(links.who.as_deref(), Some("dr"));
        assert!(!links.who_is_organization);
        assert_eq!(links.place, None);
    }

    #[test]
    fn a_visit_takes_its_place_from_the_service_provider_or_a_location() {
        let mut links = Links::default();
        links.note(
            "Encounter",
            "Encounter.serviceProvider",
            "serviceProvider",
            "Organization",
            "clinic",
        );
        assert_eq!(links.place.as_deref(), Some("clinic"));
        links.note(
            "Encounter",
            "Encounter.location[0].location",
            "location",
            "Location",
            "room",
        );
        assert_eq!(links.place.as_deref(), Some("room"));
        assert_eq!(links.who, None);
    }

    #[test]
    fn the_patient_field_is_named_from_the_references() {
        assert_eq!(
            patient_field(["Claim.provider", "Claim.patient"]),
            "patient"
        );
        assert_eq!(patient_field(["Observation.performer[0]"]), "subject");
    }

    #[test]
    fn identifiers_are_sorted_without_repeats() {
        let resource = json!({"identifier": [
            {"system": "urn:b", "value": "2"}, {"value": "x"}, {"system": "urn:b", "value": "2"},
            {"system": "urn:a"}]});
        assert_eq!(
            identifiers_of(&resource),
            vec![
                (String::new(), "x".to_string()),
                ("urn:b".to_string(), "2".to_string())
            ]
        );
    }
}
