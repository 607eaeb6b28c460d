//! Mapping Patient, Practitioner, Organization and Location.

use super::datatypes::read_concept;
use super::elements::{Node, Read};
use crate::model::{
    Deceased, Identifier, LocationData, OrganizationData, PatientData, PractitionerData,
    Qualification,
};

/// The identifier system of US National Provider Identifiers.
const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";

fn value_where(identifiers: &[Identifier], wanted: impl Fn(&Identifier) -> bool) -> Option<String> {
    identifiers
        .iter()
        .find(|identifier| wanted(identifier))
        .and_then(|identifier| identifier.value.clone())
}

pub(super) fn patient(node: &Node<'_>) -> Read<PatientData> {
    let identifiers = node.identifiers("identifier")?;
    let mrn = value_where(&identifiers, |identifier| {
        identifier.type_code.as_deref() == Some("MR")
    });
    let deceased = match node.choice("deceased", &["Boolean", "DateTime"])? {
        Some(("Boolean", key)) => node.boolean(key)?.map(Deceased::Flag),
        Some((_, key)) => node.date_time(key)?.map(Deceased::At),
        None => None,
    };
    let mut communication = node.each("communication", |node| {
        let language = node.concept("language")?;
        Ok((
            node.required("language", language)?,
            node.boolean("preferred")?,
        ))
    })?;
    // The preferred language first; the others keep their order.
    communication.sort_by_key(|(_, preferred)| *preferred != Some(true));
    Ok(PatientData {
        id: node.resource_id()?,
        mrn,
        identifiers,
        active: node.boolean("active")?,
        names: node.human_names("name")?,
        gender: node.coded("gender")?,
        birth_date: node.date("birthDate")?,
        deceased,
        addresses: node.addresses("address")?,
        telecom: node.contact_points("telecom")?,
        languages: communication
            .into_iter()
            .map(|(language, _)| language)
            .collect(),
        marital_status: node.concept("maritalStatus")?,
        general_practitioners: node.references("generalPractitioner")?,
        managing_organization: node.reference("managingOrganization")?,
    })
}

pub(super) fn practitioner(node: &Node<'_>) -> Read<PractitionerData> {
    let identifiers = node.identifiers("identifier")?;
    let npi = value_where(&identifiers, |identifier| {
        identifier.system.as_deref() == Some(NPI_SYSTEM)
    });
    Ok(PractitionerData {
        id: node.resource_id()?,
        npi,
        identifiers,
        active: node.boolean("active")?,
        names: node.human_names("name")?,
        telecom: node.contact_points("telecom")?,
        addresses: node.addresses("address")?,
        gender: node.coded("gender")?,
        qualifications: node.each("qualification", |node| {
            let code = node.one("code", read_concept)?;
            Ok(Qualification {
                code: node.required("code", code)?,
                issuer: node.reference("issuer")?,
                period: node.period("period")?,
            })
        })?,
    })
}

pub(super) fn organization(node: &Node<'_>) -> Read<OrganizationData> {
    Ok(OrganizationData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        active: node.boolean("active")?,
        types: node.concepts("type")?,
        name: node.string("name")?,
        telecom: node.contact_points("telecom")?,
        addresses: node.addresses("address")?,
        part_of: node.reference("partOf")?,
    })
}

pub(super) fn location(node: &Node<'_>) -> Read<LocationData> {
    Ok(LocationData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.coded("status")?,
        name: node.string("name")?,
        description: node.string("description")?,
        mode: node.coded("mode")?,
        types: node.concepts("type")?,
        telecom: node.contact_points("telecom")?,
        address: node.address("address")?,
        physical_type: node.concept("physicalType")?,
        managing_organization: node.reference("managingOrganization")?,
        part_of: node.reference("partOf")?,
    })
}

#[cfg(test)]
mod tests {
    use crate::json::Value;
    use sonic_rs::json;

    use crate::codes::{AdministrativeGender, ContactPointSystem, LocationMode, NameUse};
    use crate::map::{Mapped, map_resource};
    use crate::model::Deceased;
    use crate::refs::Reference;

    fn map(resource: Value) -> Mapped {
        match map_resource(&resource, Some(0)) {
            Ok(mapped) => mapped,
            Err(error) => panic!("{error}"),
        }
    }

    fn error(resource: Value) -> String {
        match map_resource(&resource, Some(0)) {
            Ok(mapped) => panic!("expected an error, got {mapped:?}"),
            Err(error) => error.to_string(),
        }
    }

    fn lucien() -> Value {
        json!({
            "resourceType": "Patient", "id": "85",
            "identifier": [
                {"system": "https://github.com/synthetichealth/synthea", "value": "d831ec91"},
                {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}],
                          "text": "Medical record number"},
                 "system": "http://hospital.smarthealthit.org", "value": "mrn-d831"}
            ],
            "name": [{"use": "official", "family": "Bosco882", "given": ["Lucien408"], "prefix": ["Mr."]}],
            "telecom": [{"system": "phone", "value": "555-510-6254", "use": "home"}],
            "gender": "male", "birthDate": "1940-03-29",
            "deceasedDateTime": "1977-07-14T04:17:45-04:00",
            "address": [{"line": ["445 Braun Mews"], "city": "Boston", "state": "MA", "postalCode": "02110"}],
            "maritalStatus": {"text": "Never Married"},
            "communication": [
                {"language": {"text": "Spanish"}},
                {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en-US"}], "text": "English"},
                 "preferred": true}
            ]
        })
    }

    #[test]
    fn patient_keeps_names_dates_mrn_and_preferred_language_first() {
        let Mapped::Patient(patient) = map(lucien()) else {
            panic!("expected a Patient");
        };
        assert_eq!(patient.id.as_deref(), Some("85"));
        assert_eq!(patient.mrn.as_deref(), Some("mrn-d831"));
        assert_eq!(patient.identifiers.len(), 2);
        assert_eq!(
            patient.identifiers[1].type_text.as_deref(),
            Some("Medical record number")
        );
        assert_eq!(patient.names[0].use_, Some(NameUse::Official));
        assert_eq!(patient.names[0].display(), "Mr. Lucien408 Bosco882");
        assert_eq!(patient.gender, Some(AdministrativeGender::Male));
        assert_eq!(patient.birth_date.as_deref(), Some("1940-03-29"));
        assert_eq!(
            patient.deceased,
            Some(Deceased::At("1977-07-14T04:17:45-04:00".into()))
        );
        assert_eq!(patient.addresses[0].city.as_deref(), Some("Boston"));
        assert_eq!(patient.telecom[0].system, Some(ContactPointSystem::Phone));
        let languages: Vec<String> = patient
            .languages
            .iter()
            .map(|language| language.label())
            .collect();
        assert_eq!(languages, ["English", "Spanish"]);
        assert_eq!(
            patient
                .marital_status
                .map(|status| status.label())
                .as_deref(),
            Some("Never Married")
        );
    }

    #[test]
    fn patient_with_no_elements_is_valid() {
        let Mapped::Patient(patient) = map(json!({"resourceType": "Patient"})) else {
            panic!("expected a Patient");
        };
        assert_eq!(patient.id, None);
        assert!(patient.names.is_empty());
    }

    #[test]
    fn patient_birth_date_must_be_a_real_date() {
        let mut patient = lucien();
        patient["birthDate"] = json!("1990-02-30");
        assert_eq!(
            error(patient),
            "entry 0 (Patient): Patient.birthDate: \"1990-02-30\" is not a FHIR date"
        );
    }

    #[test]
    fn patient_gender_must_be_an_administrative_gender() {
        let mut patient = lucien();
        patient["gender"] = json!("dude");
        assert_eq!(
            error(patient),
            "entry 0 (Patient): Patient.gender: \"dude\" is not one of male|female|other|unknown"
        );
    }

    #[test]
    fn patient_deceased_boolean_and_date_time_cannot_both_be_given() {
        let mut patient = lucien();
        patient["deceasedBoolean"] = json!(true);
        assert_eq!(
            error(patient),
            "entry 0 (Patient): Patient.deceased[x]: only one of deceasedBoolean, deceasedDateTime may be given"
        );
    }

    #[test]
    fn patient_names_must_be_an_array() {
        let mut patient = lucien();
        patient["name"] = json!({"family": "Bosco882"});
        assert_eq!(
            error(patient),
            "entry 0 (Patient): Patient.name: expected an array (FHIR JSON writes repeating elements as arrays)"
        );
        let mut patient = lucien();
        patient["name"][0]["given"] = json!(["Lucien408", 5]);
        assert_eq!(
            error(patient),
            "entry 0 (Patient): Patient.name[0].given[1]: expected a non-empty string"
        );
    }

    #[test]
    fn practitioner_npi_comes_from_the_npi_identifier() {
        let Mapped::Practitioner(practitioner) = map(json!({
            "resourceType": "Practitioner", "id": "5ec252c6",
            "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999984591"}],
            "name": [{"family": "Reilly981", "given": ["Ted955"], "prefix": ["Dr."]}],
            "qualification": [{"code": {"text": "MD"}, "issuer": {"reference": "Organization/1"}}]
        })) else {
            panic!("expected a Practitioner");
        };
        assert_eq!(practitioner.npi.as_deref(), Some("9999984591"));
        assert_eq!(practitioner.names[0].display(), "Dr. Ted955 Reilly981");
        assert_eq!(practitioner.qualifications[0].code.label(), "MD");
        assert_eq!(
            practitioner.qualifications[0].issuer,
            Some(Reference::Relative {
                resource_type: "Organization".into(),
                id: "1".into()
            })
        );
    }

    #[test]
    fn location_managed_by_identifier_is_a_logical_reference() {
        let Mapped::Location(location) = map(json!({
            "resourceType": "Location", "id": "81c75a54", "status": "active", "mode": "instance",
            "name": "Fitchburg Outpatient Clinic",
            "address": {"line": ["881 Main Street"], "city": "Fitchburg"},
            "managingOrganization": {"identifier": {"system": "https://github.com/synthetichealth/synthea", "value": "74ab"},
                                     "display": "Fitchburg Outpatient Clinic"}
        })) else {
            panic!("expected a Location");
        };
        assert_eq!(
            location.name.as_deref(),
            Some("Fitchburg Outpatient Clinic")
        );
        assert_eq!(location.mode, Some(LocationMode::Instance));
        assert_eq!(
            location.address.and_then(|address| address.city).as_deref(),
            Some("Fitchburg")
        );
        assert_eq!(
            location.managing_organization,
            Some(Reference::Logical {
                resource_type: None,
                system: Some("https://github.com/synthetichealth/synthea".into()),
                value: "74ab".into()
            })
        );
    }

    #[test]
    fn organization_keeps_name_and_address() {
        let Mapped::Organization(organization) = map(json!({
            "resourceType": "Organization", "name": "PCP87052", "active": true,
            "address": [{"city": "DRACUT", "state": "MA"}],
            "telecom": [{"system": "phone", "value": "(555) 555-5555"}]
        })) else {
            panic!("expected an Organization");
        };
        assert_eq!(organization.name.as_deref(), Some("PCP87052"));
        assert_eq!(organization.active, Some(true));
        assert_eq!(organization.addresses[0].state.as_deref(), Some("MA"));
        assert_eq!(
            organization.telecom[0].value.as_deref(),
            Some("(555) 555-5555")
        );
    }
}
