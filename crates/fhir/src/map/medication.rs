//! Mapping Medication and MedicationRequest.

use super::datatypes::{read_concept, read_timing};
use super::elements::{Node, Read};
use crate::model::{Dosage, MedicationChoice, MedicationData, MedicationRequestData};
use crate::primitives::to_instant_micros;

pub(super) fn medication(node: &Node<'_>) -> Read<MedicationData> {
    Ok(MedicationData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        code: node.concept("code")?,
        status: node.coded("status")?,
        form: node.concept("form")?,
        manufacturer: node.reference("manufacturer")?,
    })
}

pub(super) fn medication_request(node: &Node<'_>) -> Read<MedicationRequestData> {
    let status = node.coded("status")?;
    let intent = node.coded("intent")?;
    let medication = match node.choice("medication", &["CodeableConcept", "Reference"])? {
        Some(("CodeableConcept", key)) => {
            node.one(key, read_concept)?.map(MedicationChoice::Concept)
        }
        Some((_, key)) => Some(MedicationChoice::Reference(node.required_reference(key)?)),
        None => None,
    };
    let authored_on = node.date_time("authoredOn")?;
    let (refills, quantity, validity) = match node.object("dispenseRequest")? {
        Some(dispense) => (
            dispense.unsigned("numberOfRepeatsAllowed")?,
            dispense.quantity("quantity")?,
            dispense.period("validityPeriod")?,
        ),
        None => (None, None, None),
    };
    let valid_until = validity.and_then(|p| p.end);
    Ok(MedicationRequestData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        intent: node.required("intent", intent)?,
        categories: node.concepts("category")?,
        medication: node.required("medication[x]", medication)?,
        subject: node.required_reference("subject")?,
        encounter: node.reference("encounter")?,
        authored_sort: authored_on.as_deref().and_then(to_instant_micros),
        authored_on,
        requester: node.reference("requester")?,
        recorder: node.reference("recorder")?,
        reason_codes: node.concepts("reasonCode")?,
        reason_references: node.references("reasonReference")?,
        dosages: node.each("dosageInstruction", read_dosage)?,
        refills,
        quantity,
        valid_until_sort: valid_until.as_deref().and_then(to_instant_micros),
        valid_until,
        notes: node.notes("note")?,
    })
}

fn read_dosage(node: &Node<'_>) -> Read<Dosage> {
    let as_needed = match node.choice("asNeeded", &["Boolean", "CodeableConcept"])? {
        Some(("Boolean", key)) => node.boolean(key)?,
        Some((_, key)) => node.concept(key)?.map(|_| true),
        None => None,
    };
    let mut dose = None;
    for dose_and_rate in node.objects("doseAndRate")? {
        dose_and_rate.concept("type")?;
        match dose_and_rate.choice("dose", &["Range", "Quantity"])? {
            Some(("Quantity", key)) => {
                let quantity = dose_and_rate.quantity(key)?;
                dose = dose.or(quantity);
            }
            Some((_, key)) => {
                dose_and_rate.range(key)?;
            }
            None => {}
        }
    }
    Ok(Dosage {
        text: node.string("text")?,
        timing_text: node.one("timing", read_timing)?.flatten(),
        as_needed,
        dose,
        route: node.concept("route")?,
        additional_instructions: node.concepts("additionalInstruction")?,
    })
}

#[cfg(test)]
mod tests {
    use crate::json::{JsonValueMutTrait as _, Value};
    use sonic_rs::json;

    use crate::codes::{MedicationRequestIntent, MedicationRequestStatus, MedicationStatus};
    use crate::map::{Mapped, map_resource};
    use crate::model::MedicationChoice;
    use crate::refs::Reference;

    fn request() -> Value {
        json!({
            "resourceType": "MedicationRequest", "id": "3b2213dc",
            "status": "stopped", "intent": "order",
            "category": [{"text": "Community"}],
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "243670", "display": "Aspirin 81 MG Oral Tablet"}], "text": "Aspirin 81 MG Oral Tablet"},
            "subject": {"reference": "urn:uuid:d831"},
            "authoredOn": "1940-12-24T00:11:45-05:00",
            "requester": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"},
            "dosageInstruction": [{
                "sequence": 1, "text": "Take at regular intervals.",
                "timing": {"repeat": {"frequency": 3, "period": 1.0, "periodUnit": "d"}},
                "asNeededBoolean": false,
                "doseAndRate": [{"type": {"text": "Ordered"}, "doseQuantity": {"value": 1.0}}],
                "route": {"text": "Oral"}
            }],
            "dispenseRequest": {"numberOfRepeatsAllowed": 2, "quantity": {"value": 30.0}}
        })
    }

    fn error(resource: Value) -> String {
        match map_resource(&resource, Some(9)) {
            Ok(mapped) => panic!("expected an error, got {mapped:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn medication_request_keeps_drug_dose_timing_and_refills() {
        let Ok(Mapped::MedicationRequest(request)) = map_resource(&request(), Some(9)) else {
            panic!("expected a MedicationRequest");
        };
        assert_eq!(request.status, MedicationRequestStatus::Stopped);
        assert_eq!(request.intent, MedicationRequestIntent::Order);
        let MedicationChoice::Concept(drug) = &request.medication else {
            panic!("expected a coded medication");
        };
        assert_eq!(
            drug.code_in("http://www.nlm.nih.gov/research/umls/rxnorm"),
            Some("243670")
        );
        assert_eq!(request.subject, Reference::Internal("urn:uuid:d831".into()));
        assert_eq!(
            request.authored_on.as_deref(),
            Some("1940-12-24T00:11:45-05:00")
        );
        assert!(request.authored_sort.is_some());
        let dosage = &request.dosages[0];
        assert_eq!(dosage.text.as_deref(), Some("Take at regular intervals."));
        assert_eq!(dosage.timing_text.as_deref(), Some("3 times a day"));
        assert_eq!(dosage.as_needed, Some(false));
        assert_eq!(dosage.dose.as_ref().and_then(|dose| dose.value), Some(1.0));
        assert_eq!(
            dosage.route.as_ref().map(|route| route.label()).as_deref(),
            Some("Oral")
        );
        assert_eq!(request.refills, Some(2));
    }

    #[test]
    fn medication_reference_is_kept_as_a_reference() {
        let mut with_reference = request();
        let fields = with_reference.as_object_mut().expect("object");
        fields.remove(&"medicationCodeableConcept");
        fields.insert(
            "medicationReference",
            json!({"reference": "urn:uuid:med-1"}),
        );
        let Ok(Mapped::MedicationRequest(request)) = map_resource(&with_reference, None) else {
            panic!("expected a MedicationRequest");
        };
        assert_eq!(
            request.medication,
            MedicationChoice::Reference(Reference::Internal("urn:uuid:med-1".into()))
        );
    }

    #[test]
    fn medication_request_needs_status_intent_subject_and_medication() {
        for (key, path) in [
            ("status", "MedicationRequest.status"),
            ("intent", "MedicationRequest.intent"),
            ("subject", "MedicationRequest.subject"),
            (
                "medicationCodeableConcept",
                "MedicationRequest.medication[x]",
            ),
        ] {
            let mut incomplete = request();
            incomplete.as_object_mut().expect("object").remove(&key);
            assert_eq!(
                error(incomplete),
                format!("entry 9 (MedicationRequest): {path}: required element missing")
            );
        }
    }

    #[test]
    fn medication_request_status_must_be_in_its_value_set() {
        let mut bad = request();
        bad["status"] = json!("paused");
        assert_eq!(
            error(bad),
            "entry 9 (MedicationRequest): MedicationRequest.status: \"paused\" is not one of \
             active|on-hold|cancelled|completed|entered-in-error|stopped|draft|unknown"
        );
    }

    #[test]
    fn refills_cannot_be_negative() {
        let mut bad = request();
        bad["dispenseRequest"]["numberOfRepeatsAllowed"] = json!(-1);
        assert_eq!(
            error(bad),
            "entry 9 (MedicationRequest): MedicationRequest.dispenseRequest.numberOfRepeatsAllowed: -1 is below 0"
        );
    }

    #[test]
    fn medication_keeps_code_status_and_form() {
        let Ok(Mapped::Medication(medication)) = map_resource(
            &json!({"resourceType": "Medication", "id": "58f7a300",
                    "code": {"text": "10 ML Furosemide 10 MG/ML Injection"}, "status": "active",
                    "form": {"text": "Injection"}}),
            None,
        ) else {
            panic!("expected a Medication");
        };
        assert_eq!(
            medication.code.map(|code| code.label()).as_deref(),
            Some("10 ML Furosemide 10 MG/ML Injection")
        );
        assert_eq!(medication.status, Some(MedicationStatus::Active));
        assert_eq!(
            medication.form.map(|form| form.label()).as_deref(),
            Some("Injection")
        );
    }
}
