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
    let listed = root
        .get(&"resourceType")
        .and_then(|t| t.as_str())
        .is_some_and(has_identifier_list);
    if let Some(source_id) = served.source_id.filter(|s| *s != served.id && listed) {
        keep_source_id(root, source_id);
    }
    done
}

/// Whether R4 gives resources of this type a list of identifiers (a Provenance, say, has
/// none: its sender's id cannot go with it).
fn has_identifier_list(resource_type: &str) -> bool {
    !matches!(
        resource_type,
        "Provenance"
            | "AuditEvent"
            | "Binary"
            | "Bundle"
            | "Parameters"
            | "OperationOutcome"
            | "Subscription"
            | "CapabilityStatement"
    )
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

/// The key under which a resolved reference is kept: the same reference written the same way
/// in the same resource gets the same key. `None` for references never resolved (contained,
/// unsupported).
pub fn reference_key(reference: &Reference) -> Option<String> {
    Some(match reference {
        Reference::Internal(url) | Reference::External(url) => url.clone(),
        Reference::Relative { resource_type, id } => format!("{resource_type}/{id}"),
        Reference::Conditional {
            resource_type,
            system,
            value,
        } => format!(
            "{resource_type}?{}|{value}",
            system.as_deref().unwrap_or_default()
        ),
        Reference::Logical {
            resource_type,
            system,
            value,
        } => format!(
            "~{}|{}|{value}",
            resource_type.as_deref().unwrap_or_default(),
            system.as_deref().unwrap_or_default()
        ),
        Reference::Contained(_) | Reference::Unsupported { .. } => return None,
    })
}

/// What a resource's references resolved to when it was imported, kept beside its JSON: one
/// line per reference, its [`reference_key`], a tab, and `Type/portal-id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedRefs(Vec<(String, String, String)>);

impl ResolvedRefs {
    /// Notes that `reference` resolved to `resource_type`/`id`.
    pub fn note(&mut self, reference: &Reference, resource_type: &str, id: &str) {
        let Some(key) = reference_key(reference) else {
            return;
        };
        if key.contains(['\t', '\n']) || self.0.iter().any(|(k, _, _)| *k == key) {
            return;
        }
        self.0
            .push((key, resource_type.to_string(), id.to_string()));
    }

    /// The stored text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (key, resource_type, id) in &self.0 {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(key);
            out.push('\t');
            out.push_str(resource_type);
            out.push('/');
            out.push_str(id);
        }
        out
    }

    /// Reads the stored text (lines it cannot read are left out).
    pub fn from_text(text: &str) -> Self {
        ResolvedRefs(
            text.lines()
                .filter_map(|line| {
                    let (key, target) = line.split_once('\t')?;
                    let (resource_type, id) = target.split_once('/')?;
                    Some((key.to_string(), resource_type.to_string(), id.to_string()))
                })
                .collect(),
        )
    }

    /// The portal's type and id a reference resolved to.
    pub fn get(&self, reference: &Reference) -> Option<(String, String)> {
        let key = reference_key(reference)?;
        self.0
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, t, id)| (t.clone(), id.clone()))
    }

    /// Keeps only the references to the resources `keep` accepts (by type and id).
    pub fn retain(&mut self, keep: impl Fn(&str, &str) -> bool) {
        self.0
            .retain(|(_, resource_type, id)| keep(resource_type, id));
    }

    /// The targets, as `Type/id`.
    pub fn targets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(_, t, id)| (t.as_str(), id.as_str()))
    }
}

/// A stored resource as served: the original JSON parsed, rewritten with what its references
/// resolved to, written out compact. `None` when the stored JSON cannot be read.
pub fn serve_stored(json: &str, served: &Served<'_>, refs: &ResolvedRefs) -> Option<String> {
    let mut resource = crate::json::parse(json.as_bytes()).ok()?;
    rewrite(&mut resource, served, |r| refs.get(r));
    Some(crate::json::to_string(&resource))
}

/// The identifier system of the portal's own medical record numbers.
pub const MRN_SYSTEM: &str = "https://patient-portal.example/fhir/sid/mrn";

/// The demographics of a record enrolled at the portal rather than sent in by the EHR.
#[derive(Clone, Copy, Debug)]
pub struct Demographics<'a> {
    /// The record's id.
    pub id: &'a str,
    /// The medical record number.
    pub mrn: &'a str,
    /// Given names, space-separated.
    pub given: &'a str,
    /// Family name.
    pub family: &'a str,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: &'a str,
    /// Administrative sex as the portal keeps it.
    pub sex: &'a str,
}

/// A Patient resource for a record that has none from the EHR, from what the portal knows.
pub fn patient_of(d: &Demographics<'_>) -> String {
    let gender = match d.sex {
        "female" | "male" | "other" => d.sex,
        _ => "unknown",
    };
    let given: Vec<&str> = d.given.split_whitespace().collect();
    let mut patient = json!({
        "resourceType": "Patient",
        "id": d.id,
        "identifier": [{
            "type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                "code": "MR"
            }]},
            "system": MRN_SYSTEM,
            "value": d.mrn
        }],
        "name": [{
            "text": format!("{} {}", d.given.trim(), d.family.trim()),
            "family": d.family,
            "given": given
        }],
        "gender": gender,
    });
    if crate::primitives::is_date(d.birth_date)
        && let Some(obj) = patient.as_object_mut()
    {
        obj.insert("birthDate", json!(d.birth_date));
    }
    crate::json::to_string(&patient)
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

    #[test]
    fn resolved_references_are_kept_as_text_and_read_back() {
        let mut refs = ResolvedRefs::default();
        refs.note(
            &Reference::Internal("urn:uuid:patient-1".into()),
            "Patient",
            "p-1",
        );
        refs.note(
            &Reference::Conditional {
                resource_type: "Practitioner".into(),
                system: Some("http://hl7.org/fhir/sid/us-npi".into()),
                value: "9999999999".into(),
            },
            "Practitioner",
            "pr-1",
        );
        refs.note(
            &Reference::Internal("urn:uuid:patient-1".into()),
            "Patient",
            "p-1",
        );
        let text = refs.to_text();
        assert_eq!(text.lines().count(), 2);
        let back = ResolvedRefs::from_text(&text);
        assert_eq!(back, refs);
        let json = r#"{"resourceType":"Observation","id":"s","subject":{"reference":"urn:uuid:patient-1"},
            "performer":[{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999999999"}]}"#;
        let out = serve_stored(json, &served(Some("s")), &back).expect("served");
        assert!(out.contains(r#""reference":"Patient/p-1""#), "{out}");
        assert!(out.contains(r#""reference":"Practitioner/pr-1""#), "{out}");
        assert_eq!(back.targets().count(), 2);
    }

    #[test]
    fn a_type_without_identifiers_gets_none() {
        let mut p =
            parse(br#"{"resourceType": "Provenance", "id": "s", "target": []}"#).expect("JSON");
        rewrite(&mut p, &served(Some("s")), known);
        assert!(p.get("identifier").is_none());
    }
}
