//! A renewed prescription as a FHIR R4 `MedicationRequest` (US Core 6.1): what the clinic wrote
//! on approving a refill request, kept as the portal's own resource (never among imported ones)
//! for the EHR to pick up through the read API. It names the prescription it renews
//! (`priorPrescription`), and every reference is the portal's own id.

use crate::model::{Concept, Dosage, Quantity};
use serde_json::{Map, Value, json};

/// The identifier system of resources the portal itself writes (`urn:uuid:` values).
pub const PORTAL_ID_SYSTEM: &str = "urn:ietf:rfc:3986";

/// What the renewed prescription says.
#[derive(Clone, Debug)]
pub struct Renewal<'a> {
    /// Its portal id.
    pub id: &'a str,
    /// The patient's portal id.
    pub patient: &'a str,
    /// The renewed prescription's portal id.
    pub prior: &'a str,
    /// The drug, as the renewed prescription named it.
    pub medication: &'a Concept,
    /// The approving clinician's portal id and name.
    pub requester: (&'a str, &'a str),
    /// When it was approved (a FHIR instant).
    pub authored: &'a str,
    /// How to take it, as the renewed prescription said.
    pub dosages: &'a [Dosage],
    /// The amount per fill.
    pub quantity: Option<&'a Quantity>,
    /// Refills allowed.
    pub refills: Option<u32>,
    /// The pharmacy it goes to, by name.
    pub pharmacy: &'a str,
}

fn concept(c: &Concept) -> Value {
    let mut out = Map::new();
    let codings: Vec<Value> = c
        .codings
        .iter()
        .map(|coding| {
            let mut v = Map::new();
            if let Some(system) = &coding.system {
                v.insert("system".into(), json!(system));
            }
            if let Some(code) = &coding.code {
                v.insert("code".into(), json!(code));
            }
            if let Some(display) = &coding.display {
                v.insert("display".into(), json!(display));
            }
            Value::Object(v)
        })
        .filter(|v| v.as_object().is_some_and(|o| !o.is_empty()))
        .collect();
    if !codings.is_empty() {
        out.insert("coding".into(), Value::Array(codings));
    }
    if let Some(text) = &c.text {
        out.insert("text".into(), json!(text));
    }
    Value::Object(out)
}

fn quantity(q: &Quantity) -> Value {
    let mut out = Map::new();
    if let Some(value) = q.value {
        out.insert("value".into(), json!(value));
    }
    for (key, v) in [("unit", &q.unit), ("system", &q.system), ("code", &q.code)] {
        if let Some(v) = v {
            out.insert(key.into(), json!(v));
        }
    }
    Value::Object(out)
}

fn dosage(d: &Dosage, sequence: usize) -> Value {
    let mut out = Map::new();
    out.insert("sequence".into(), json!(sequence));
    let words: Vec<&str> = [d.text.as_deref(), d.timing_text.as_deref()]
        .into_iter()
        .flatten()
        .filter(|t| !t.trim().is_empty())
        .collect();
    if !words.is_empty() {
        out.insert("text".into(), json!(words.join("; ")));
    }
    if let Some(as_needed) = d.as_needed {
        out.insert("asNeededBoolean".into(), json!(as_needed));
    }
    if let Some(route) = &d.route {
        out.insert("route".into(), concept(route));
    }
    if let Some(dose) = &d.dose {
        out.insert(
            "doseAndRate".into(),
            json!([{ "doseQuantity": quantity(dose) }]),
        );
    }
    Value::Object(out)
}

/// The renewed prescription as a FHIR `MedicationRequest`.
pub fn medication_request(r: &Renewal<'_>) -> Value {
    let mut dispense = Map::new();
    dispense.insert("validityPeriod".into(), json!({ "start": r.authored }));
    if let Some(refills) = r.refills {
        dispense.insert("numberOfRepeatsAllowed".into(), json!(refills));
    }
    if let Some(q) = r.quantity {
        dispense.insert("quantity".into(), quantity(q));
    }
    if !r.pharmacy.is_empty() {
        dispense.insert("performer".into(), json!({ "display": r.pharmacy }));
    }
    let mut out = json!({
        "resourceType": "MedicationRequest",
        "id": r.id,
        "meta": {
            "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-medicationrequest|6.1.0"]
        },
        "identifier": [{ "system": PORTAL_ID_SYSTEM, "value": format!("urn:uuid:{}", r.id) }],
        "status": "active",
        "intent": "order",
        "category": [{ "coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
            "code": "community",
            "display": "Community"
        }] }],
        "reportedBoolean": false,
        "medicationCodeableConcept": concept(r.medication),
        "subject": { "reference": format!("Patient/{}", r.patient) },
        "authoredOn": r.authored,
        "requester": {
            "reference": format!("Practitioner/{}", r.requester.0),
            "display": r.requester.1
        },
        "priorPrescription": { "reference": format!("MedicationRequest/{}", r.prior) },
        "dispenseRequest": Value::Object(dispense),
    });
    let dosages: Vec<Value> = r
        .dosages
        .iter()
        .enumerate()
        .map(|(i, d)| dosage(d, i + 1))
        .filter(|d| d.as_object().is_some_and(|o| o.len() > 1))
        .collect();
    if !dosages.is_empty() {
        out["dosageInstruction"] = Value::Array(dosages);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Coding;

    fn simvastatin() -> Concept {
        Concept {
            codings: vec![Coding {
                system: Some("http://www.nlm.nih.gov/research/umls/rxnorm".into()),
                code: Some("314231".into()),
                display: Some("Simvastatin 10 MG Oral Tablet".into()),
            }],
            text: Some("Simvastatin 10 MG Oral Tablet".into()),
        }
    }

    #[test]
    fn a_renewal_is_an_active_order_that_names_what_it_renews() {
        let drug = simvastatin();
        let dose = Dosage {
            text: Some("Take one tablet at night".into()),
            as_needed: Some(false),
            ..Dosage::default()
        };
        let fills = Quantity {
            value: Some(30.0),
            ..Quantity::default()
        };
        let v = medication_request(&Renewal {
            id: "0190a000-0000-7000-8000-000000000001",
            patient: "p-1",
            prior: "m-1",
            medication: &drug,
            requester: ("u-1", "Dr. Maya Okafor"),
            authored: "2026-12-05T12:00:00Z",
            dosages: std::slice::from_ref(&dose),
            quantity: Some(&fills),
            refills: Some(3),
            pharmacy: "Main Street Pharmacy",
        });
        assert_eq!(v["status"], "active");
        assert_eq!(v["intent"], "order");
        assert_eq!(v["priorPrescription"]["reference"], "MedicationRequest/m-1");
        assert_eq!(v["subject"]["reference"], "Patient/p-1");
        assert_eq!(
            v["medicationCodeableConcept"]["coding"][0]["code"],
            "314231"
        );
        assert_eq!(v["dispenseRequest"]["numberOfRepeatsAllowed"], 3);
        assert_eq!(v["dispenseRequest"]["quantity"]["value"], 30.0);
        assert_eq!(
            v["dosageInstruction"][0]["text"],
            "Take one tablet at night"
        );
        assert_eq!(v["requester"]["reference"], "Practitioner/u-1");
    }
}
