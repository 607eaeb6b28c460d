//! A stored resource as the read API serves it: under the portal's id, with every reference the
//! portal resolved pointing at the portal's ids, and the sender's id kept as an identifier. The
//! original JSON stays stored as it was sent; this makes the copy that goes out.
//!
//! Every `Reference` element is rewritten, in extensions and contained resources too: one the
//! resolver knows becomes `Type/portal-id`; one it does not loses its `reference` text (a
//! sender's id or a `urn:uuid` means nothing outside the Bundle it came in) and keeps its
//! identifier and display; a reference to a contained resource (`#id`) stays as it is.

use crate::json::{JsonValueMutTrait, JsonValueTrait, Object, Value, json};
use crate::refs::{Reference, is_reference_element, parse_reference_element};

/// The identifier system under which a served resource keeps the id its sender gave it.
pub const SOURCE_ID_SYSTEM: &str = "https://patient-portal.example/fhir/sid/source-id";

/// What a reference that resolves to nothing says instead, when it has nothing else to say.
const UNRESOLVED: &str = "Not available from this portal";

/// The served resource's own facts.
#[derive(Clone, Copy, Debug)]
pub struct Served<'a> {
    /// The portal's id.
    pub id: &'a str,
    /// The stored version (`meta.versionId`).
    pub version: i64,
    /// When it was last changed (`meta.lastUpdated`, a FHIR instant).
    pub last_updated: &'a str,
    /// The id the sender gave it, if any.
    pub source_id: Option<&'a str>,
}

/// What a rewrite did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    /// References now pointing at the portal's ids.
    pub resolved: usize,
    /// References whose target the portal does not know (their `reference` text removed).
    pub unresolved: usize,
}

/// Rewrites `resource` (a parsed resource) in place as the API serves it. `resolve` gives the
/// portal's resource type and id for a reference, or `None`.
pub fn rewrite(
    resource: &mut Value,
    served: &Served<'_>,
    mut resolve: impl FnMut(&Reference) -> Option<(String, String)>,
) -> Rewritten {
    let mut done = Rewritten::default();
    let Some(root) = resource.as_object_mut() else {
        return done;
    };
    for (key, value) in root.iter_mut() {
        // The narrative is the sender's text; `meta` and `id` are replaced below.
        if !matches!(key, "text" | "meta" | "id" | "resourceType") {
            walk(value, &mut resolve, &mut done);
        }
    }
    root.insert("id", json!(served.id));
    let mut meta = match root.remove(&"meta") {
        Some(meta) if meta.is_object() => meta,
        _ => json!({}),
    };
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("versionId", json!(served.version.to_string()));
        meta.insert("lastUpdated", json!(served.last_updated));
        // Where the sender's copy came from says nothing about the portal's.
        meta.remove(&"source");
    }
    root.insert("meta", meta);
    if let Some(source_id) = served.source_id.filter(|s| *s != served.id) {
        keep_source_id(root, source_id);
    }
    done
}

/// Adds the sender's id as an identifier, unless the resource lists it already.
fn keep_source_id(root: &mut Object, source_id: &str) {
    let entry = json!({ "system": SOURCE_ID_SYSTEM, "value": source_id });
    match root.get_mut(&"identifier").and_then(|v| v.as_array_mut()) {
        Some(list) => {
            let listed = list.iter().any(|i| {
                i.get("system").and_then(|s| s.as_str()) == Some(SOURCE_ID_SYSTEM)
                    && i.get("value").and_then(|v| v.as_str()) == Some(source_id)
            });
            if !listed {
                list.push(entry);
            }
        }
        None => {
            root.insert("identifier", json!([entry]));
        }
    }
}

fn walk(
    value: &mut Value,
    resolve: &mut impl FnMut(&Reference) -> Option<(String, String)>,
    done: &mut Rewritten,
) {
    if let Some(obj) = value.as_object_mut() {
        if is_reference_element(obj) {
            rewrite_reference(obj, resolve, done);
            return;
        }
        for (_, child) in obj.iter_mut() {
            walk(child, resolve, done);
        }
    } else if let Some(items) = value.as_array_mut() {
        for item in items.iter_mut() {
            walk(item, resolve, done);
        }
    }
}

fn rewrite_reference(
    obj: &mut Object,
    resolve: &mut impl FnMut(&Reference) -> Option<(String, String)>,
    done: &mut Rewritten,
) {
    let Some(reference) = parse_reference_element(obj) else {
        return;
    };
    if matches!(reference, Reference::Contained(_)) {
        return;
    }
    match resolve(&reference) {
        Some((resource_type, id)) => {
            obj.insert("reference", json!(format!("{resource_type}/{id}")));
            done.resolved += 1;
        }
        // An absolute URL the portal does not hold still points somewhere real.
        None if matches!(reference, Reference::External(_)) => {}
        None => {
            obj.remove(&"reference");
            if let Reference::Conditional {
                resource_type,
                system,
                value,
            } = &reference
            {
                // The search named an identifier: keep it as the reference's identifier.
                let mut identifier = json!({ "value": value });
                if let (Some(system), Some(id)) = (system, identifier.as_object_mut()) {
                    id.insert("system", json!(system));
                }
                obj.insert("identifier", identifier);
                obj.insert("type", json!(resource_type));
            }
            let says_something = ["identifier", "display"]
                .iter()
                .any(|k| obj.get(k).is_some());
            if !says_something {
                obj.insert("display", json!(UNRESOLVED));
            }
            done.unresolved += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{JsonContainerTrait, parse};

    fn served(source_id: Option<&'static str>) -> Served<'static> {
        Served {
            id: "0190a000-0000-7000-8000-0000000000aa",
            version: 3,
            last_updated: "2026-12-05T12:00:00Z",
            source_id,
        }
    }

    /// The portal knows the Patient (by fullUrl and by id), the Encounter and the Practitioner.
    fn known(r: &Reference) -> Option<(String, String)> {
        let hit = |t: &str, id: &str| Some((t.to_string(), id.to_string()));
        match r {
            Reference::Internal(u) if u == "urn:uuid:patient-1" => hit("Patient", "p-1"),
            Reference::Relative { resource_type, id }
                if resource_type == "Encounter" && id == "e" =>
            {
                hit("Encounter", "e-1")
            }
            Reference::Conditional { value, .. } if value == "9999999999" => {
                hit("Practitioner", "pr-1")
            }
            Reference::Logical { value, .. } if value == "MRN-1" => hit("Patient", "p-1"),
            _ => None,
        }
    }

    fn observation() -> Value {
        parse(
            br##"{"resourceType": "Observation", "id": "sender-7",
              "meta": {"versionId": "12", "source": "#ehr", "profile": ["http://example.org/p"]},
              "identifier": [{"system": "urn:lab", "value": "L-1"}],
              "status": "final", "code": {"text": "Glucose"},
              "subject": {"reference": "urn:uuid:patient-1"},
              "encounter": {"reference": "Encounter/e/_history/2"},
              "performer": [
                {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999999999"},
                {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1111111111", "display": "Dr. Who"},
                {"reference": "urn:uuid:gone"},
                {"reference": "#lab"},
                {"reference": "https://other.example/fhir/Organization/1"},
                {"type": "Patient", "identifier": {"system": "urn:mrn", "value": "MRN-1"}}
              ],
              "extension": [{"url": "http://example.org/x", "valueReference": {"reference": "urn:uuid:patient-1"}}],
              "contained": [{"resourceType": "Organization", "id": "lab", "partOf": {"reference": "urn:uuid:gone"}}]
            }"##,
        )
        .expect("JSON")
    }

    #[test]
    fn every_reference_the_portal_knows_points_at_its_ids() {
        let mut o = observation();
        let done = rewrite(&mut o, &served(Some("sender-7")), known);
        assert_eq!(o["subject"]["reference"], "Patient/p-1");
        assert_eq!(o["encounter"]["reference"], "Encounter/e-1");
        assert_eq!(o["performer"][0]["reference"], "Practitioner/pr-1");
        assert_eq!(o["performer"][5]["reference"], "Patient/p-1");
        assert_eq!(o["performer"][5]["identifier"]["value"], "MRN-1");
        assert_eq!(
            o["extension"][0]["valueReference"]["reference"],
            "Patient/p-1"
        );
        assert_eq!(done.resolved, 5);
    }

    #[test]
    fn what_the_portal_does_not_know_loses_its_reference_but_keeps_what_it_says() {
        let mut o = observation();
        let done = rewrite(&mut o, &served(Some("sender-7")), known);
        // An unknown conditional keeps its identifier and display.
        let unknown = &o["performer"][1];
        assert!(unknown.get("reference").is_none());
        assert_eq!(unknown["identifier"]["value"], "1111111111");
        assert_eq!(
            unknown["identifier"]["system"],
            "http://hl7.org/fhir/sid/us-npi"
        );
        assert_eq!(unknown["type"], "Practitioner");
        assert_eq!(unknown["display"], "Dr. Who");
        // A urn nothing resolves says so in words; no urn goes out.
        assert!(o["performer"][2].get("reference").is_none());
        assert_eq!(o["performer"][2]["display"], UNRESOLVED);
        assert!(o["contained"][0]["partOf"].get("reference").is_none());
        // Contained and absolute references stay.
        assert_eq!(o["performer"][3]["reference"], "#lab");
        assert_eq!(
            o["performer"][4]["reference"],
            "https://other.example/fhir/Organization/1"
        );
        assert_eq!(done.unresolved, 3);
        assert!(!o.to_string().contains("urn:uuid"));
    }

    #[test]
    fn the_portal_id_version_and_the_senders_id_as_an_identifier() {
        let mut o = observation();
        rewrite(&mut o, &served(Some("sender-7")), known);
        assert_eq!(o["id"], "0190a000-0000-7000-8000-0000000000aa");
        assert_eq!(o["meta"]["versionId"], "3");
        assert_eq!(o["meta"]["lastUpdated"], "2026-12-05T12:00:00Z");
        assert_eq!(o["meta"]["profile"][0], "http://example.org/p");
        assert!(o["meta"].get("source").is_none());
        assert_eq!(o["identifier"][0]["value"], "L-1");
        assert_eq!(o["identifier"][1]["system"], SOURCE_ID_SYSTEM);
        assert_eq!(o["identifier"][1]["value"], "sender-7");
        // Served again, the sender's id is listed once.
        rewrite(&mut o, &served(Some("sender-7")), known);
        assert_eq!(o["identifier"].as_array().map(|a| a.len()), Some(2));
        // No sender's id: no identifier added; none before: none made up.
        let mut bare = parse(br#"{"resourceType": "Patient", "gender": "female"}"#).expect("JSON");
        rewrite(&mut bare, &served(None), known);
        assert!(bare.get("identifier").is_none());
        assert_eq!(bare["id"], "0190a000-0000-7000-8000-0000000000aa");
    }
}
