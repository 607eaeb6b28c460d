//! References between resources: what a `Reference` element points at, and every reference a
//! resource holds, so the importer can resolve them (or refuse the ones it cannot).
//!
//! Unresolvable forms are not an `Err` here but the [`Reference::Unsupported`] variant, so that
//! [`collect_references`] can return every reference with its path and the caller reports the
//! unsupported ones with that path (a conditional reference searching by anything but
//! `identifier`, a relative reference to an unknown type or a malformed id, ...).

use std::fmt;

use crate::json::{JsonContainerTrait, JsonValueTrait, Kind, Object, Value, field, kind};
use serde::{Deserialize, Serialize};

use crate::primitives::is_id;
use crate::types::is_r4_resource_type;

/// What one FHIR `Reference` element points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reference {
    /// `urn:uuid:…` (or another `urn:`): the `fullUrl` of an entry of the same Bundle.
    Internal(String),
    /// `Type/id` (a trailing `/_history/version` is dropped): a resource already on the server
    /// or sent in the same Bundle.
    Relative {
        /// The resource type named in the reference.
        resource_type: String,
        /// The logical id named in the reference.
        id: String,
    },
    /// `Type?identifier=system|value`: the one resource of that type with that identifier.
    Conditional {
        /// The resource type searched.
        resource_type: String,
        /// The identifier system, if the search named one.
        system: Option<String>,
        /// The identifier value.
        value: String,
    },
    /// `Reference.identifier` without `Reference.reference`: a resource known by its identifier.
    Logical {
        /// `Reference.type`, if given.
        resource_type: Option<String>,
        /// `Reference.identifier.system`, if given.
        system: Option<String>,
        /// `Reference.identifier.value`.
        value: String,
    },
    /// `#id`: a resource contained in the referring resource (`#` alone is the container).
    Contained(String),
    /// An absolute `http(s)://` URL. A Bundle entry may carry that URL as its `fullUrl`, so a
    /// resolver should look it up among the fullUrls before treating it as outside the import.
    External(String),
    /// A reference the importer cannot resolve, with the reason; the caller reports it.
    Unsupported {
        /// The `Reference.reference` text (or a description of the identifier).
        reference: String,
        /// Why it cannot be resolved.
        reason: String,
    },
}

impl Reference {
    /// The resource type the reference names, when it names one.
    pub fn target_type(&self) -> Option<&str> {
        match self {
            Self::Relative { resource_type, .. } | Self::Conditional { resource_type, .. } => {
                Some(resource_type)
            }
            Self::Logical { resource_type, .. } => resource_type.as_deref(),
            Self::Internal(_)
            | Self::Contained(_)
            | Self::External(_)
            | Self::Unsupported { .. } => None,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = |system: &Option<String>, value: &str| match system {
            Some(system) => format!("{system}|{value}"),
            None => value.to_owned(),
        };
        match self {
            Self::Internal(url) | Self::External(url) => f.write_str(url),
            Self::Relative { resource_type, id } => write!(f, "{resource_type}/{id}"),
            Self::Conditional {
                resource_type,
                system,
                value,
            } => write!(f, "{resource_type}?identifier={}", token(system, value)),
            Self::Logical {
                resource_type,
                system,
                value,
            } => match resource_type {
                Some(resource_type) => {
                    write!(
                        f,
                        "{resource_type} with identifier {}",
                        token(system, value)
                    )
                }
                None => write!(f, "identifier {}", token(system, value)),
            },
            Self::Contained(id) => write!(f, "#{id}"),
            Self::Unsupported { reference, .. } => f.write_str(reference),
        }
    }
}

/// An `identifier=system|value` search, as in a conditional reference or `ifNoneExist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifierSearch {
    /// The identifier system; `None` for `identifier=value` (and for `identifier=|value`).
    pub system: Option<String>,
    /// The identifier value.
    pub value: String,
}

/// Parses the query part of a conditional reference or of `Bundle.entry.request.ifNoneExist`.
/// Only a single `identifier=[system|]value` parameter is supported; `%XX` escapes are decoded
/// (a `+` stays a `+`). The error says why anything else is refused.
pub fn parse_identifier_search(query: &str) -> Result<IdentifierSearch, String> {
    if query.contains('&') {
        return Err("only a search on identifier alone is supported".to_owned());
    }
    let Some(raw) = query.strip_prefix("identifier=") else {
        return Err("only a search on identifier=system|value is supported".to_owned());
    };
    let decoded = percent_decode(raw).ok_or("bad %-escape in the search")?;
    let (system, value) = match decoded.split_once('|') {
        Some((system, value)) => ((!system.is_empty()).then(|| system.to_owned()), value),
        None => (None, decoded.as_str()),
    };
    if value.is_empty() {
        return Err("the identifier value is empty".to_owned());
    }
    Ok(IdentifierSearch {
        system,
        value: value.to_owned(),
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'%' {
            let hex = bytes.get(at + 1..at + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            at += 3;
        } else {
            out.push(byte);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn unsupported(reference: &str, reason: impl Into<String>) -> Reference {
    Reference::Unsupported {
        reference: reference.to_owned(),
        reason: reason.into(),
    }
}

/// Classifies the text of `Reference.reference`.
pub fn parse_reference_text(text: &str) -> Reference {
    if let Some(id) = text.strip_prefix('#') {
        return Reference::Contained(id.to_owned());
    }
    if text.starts_with("urn:") {
        return Reference::Internal(text.to_owned());
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        return Reference::External(text.to_owned());
    }
    if let Some((resource_type, query)) = text.split_once('?') {
        if !is_r4_resource_type(resource_type) {
            return unsupported(
                text,
                format!("{resource_type:?} is not a FHIR R4 resource type"),
            );
        }
        return match parse_identifier_search(query) {
            Ok(search) => Reference::Conditional {
                resource_type: resource_type.to_owned(),
                system: search.system,
                value: search.value,
            },
            Err(reason) => unsupported(text, reason),
        };
    }
    let parts: Vec<&str> = text.split('/').collect();
    let (resource_type, id) = match parts.as_slice() {
        [resource_type, id] | [resource_type, id, "_history", _] => (*resource_type, *id),
        _ => {
            return unsupported(
                text,
                "not a reference form FHIR defines (#id, urn:uuid:…, Type/id, Type?identifier=…, or a URL)",
            );
        }
    };
    if !is_r4_resource_type(resource_type) {
        return unsupported(
            text,
            format!("{resource_type:?} is not a FHIR R4 resource type"),
        );
    }
    if !is_id(id) {
        return unsupported(text, format!("{id:?} is not a FHIR id"));
    }
    Reference::Relative {
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
    }
}

/// What a `Reference` element (a JSON object) points at: its `reference` text, else its
/// `identifier`. `None` when it has neither (a `display`-only reference) or is not an object.
pub fn parse_reference(obj: &Value) -> Option<Reference> {
    parse_reference_element(obj.as_object()?)
}

/// [`parse_reference`] of an element already known to be an object.
pub(crate) fn parse_reference_element(obj: &Object) -> Option<Reference> {
    if let Some(text) = field(obj, "reference").and_then(Value::as_str) {
        return Some(parse_reference_text(text));
    }
    let identifier = field(obj, "identifier")?.as_object()?;
    let resource_type = field(obj, "type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let system = field(identifier, "system")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(value) = field(identifier, "value").and_then(Value::as_str) else {
        return Some(unsupported(
            "Reference.identifier",
            "a logical reference needs identifier.value",
        ));
    };
    Some(Reference::Logical {
        resource_type,
        system,
        value: value.to_owned(),
    })
}

/// The elements a `Reference` may have; an object with others is some other data type.
const REFERENCE_KEYS: [&str; 6] = [
    "id",
    "extension",
    "reference",
    "type",
    "identifier",
    "display",
];

pub(crate) fn is_reference_element(obj: &Object) -> bool {
    let points = field(obj, "reference").is_some_and(Value::is_str)
        || field(obj, "identifier").is_some_and(Value::is_object);
    points && obj.iter().all(|(key, _)| REFERENCE_KEYS.contains(&key))
}

/// Every reference in `resource`, with its element path (`Encounter.participant[0].individual`),
/// in the key order of the file. Skipped: `contained` resources (they resolve within their container),
/// extensions and modifier extensions (their values are not the resource's own links), the
/// narrative, and `display`-only references.
pub fn collect_references(resource: &Value) -> Vec<(String, Reference)> {
    let root = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or("Resource");
    let mut found = Vec::new();
    if let Some(obj) = resource.as_object() {
        // One path buffer, grown and cut back as the walk goes down and up: a path string is
        // only copied when a reference is found.
        let mut path = String::with_capacity(64);
        path.push_str(root);
        walk_object(obj, &mut path, true, &mut found);
    }
    found
}

fn walk_object(obj: &Object, path: &mut String, top: bool, found: &mut Vec<(String, Reference)>) {
    for (key, value) in obj.iter() {
        let skipped = matches!(key, "extension" | "modifierExtension" | "resourceType")
            || key.starts_with('_')
            || (top && matches!(key, "contained" | "text" | "meta"));
        if !skipped && (value.is_object() || value.is_array()) {
            let len = path.len();
            path.push('.');
            path.push_str(key);
            walk_value(value, path, found);
            path.truncate(len);
        }
    }
}

fn walk_value(value: &Value, path: &mut String, found: &mut Vec<(String, Reference)>) {
    match kind(value) {
        Kind::Object(obj) if is_reference_element(obj) => {
            if let Some(reference) = parse_reference_element(obj) {
                found.push((path.clone(), reference));
            }
        }
        Kind::Object(obj) => walk_object(obj, path, false, found),
        Kind::Array(items) => {
            use std::fmt::Write;
            for (index, item) in items.iter().enumerate() {
                if item.is_object() || item.is_array() {
                    let len = path.len();
                    // Writing to a String cannot fail.
                    let _ = write!(path, "[{index}]");
                    walk_value(item, path, found);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::json;

    #[test]
    fn urn_uuid_is_internal() {
        let reference =
            parse_reference(&json!({"reference": "urn:uuid:60739794-1d06-debc-7835-30f2f8e4314c"}));
        assert_eq!(
            reference,
            Some(Reference::Internal(
                "urn:uuid:60739794-1d06-debc-7835-30f2f8e4314c".into()
            ))
        );
    }

    #[test]
    fn type_slash_id_is_relative_and_history_is_dropped() {
        assert_eq!(
            parse_reference_text("Patient/85"),
            Reference::Relative {
                resource_type: "Patient".into(),
                id: "85".into()
            }
        );
        assert_eq!(
            parse_reference_text("Observation/abc/_history/3"),
            Reference::Relative {
                resource_type: "Observation".into(),
                id: "abc".into()
            }
        );
    }

    #[test]
    fn conditional_identifier_is_split_and_decoded() {
        assert_eq!(
            parse_reference_text(
                "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999992594"
            ),
            Reference::Conditional {
                resource_type: "Practitioner".into(),
                system: Some("http://hl7.org/fhir/sid/us-npi".into()),
                value: "9999992594".into(),
            }
        );
        assert_eq!(
            parse_reference_text("Patient?identifier=urn%3Aoid%3A1.2%7CA%20B+C"),
            Reference::Conditional {
                resource_type: "Patient".into(),
                system: Some("urn:oid:1.2".into()),
                value: "A B+C".into(),
            }
        );
        assert_eq!(
            parse_reference_text("Patient?identifier=12345"),
            Reference::Conditional {
                resource_type: "Patient".into(),
                system: None,
                value: "12345".into()
            }
        );
    }

    #[test]
    fn conditional_searches_other_than_identifier_are_unsupported() {
        for text in [
            "Patient?name=smith",
            "Patient?identifier=a|b&active=true",
            "Patient?identifier=sys|",
            "Patient?identifier=%zz",
            "Patient?identifier=a|%+1",
            "Patinet?identifier=a|b",
        ] {
            assert!(
                matches!(parse_reference_text(text), Reference::Unsupported { .. }),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_relative_references_are_unsupported_with_a_reason() {
        let Reference::Unsupported { reason, .. } = parse_reference_text("Patient/not an id")
        else {
            panic!("expected Unsupported");
        };
        assert_eq!(reason, "\"not an id\" is not a FHIR id");
        assert!(matches!(
            parse_reference_text("Obzervation/1"),
            Reference::Unsupported { .. }
        ));
        assert!(matches!(
            parse_reference_text("just-text"),
            Reference::Unsupported { .. }
        ));
    }

    #[test]
    fn identifier_only_reference_is_logical() {
        let reference = parse_reference(&json!({
            "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999984591"},
            "display": "Dr. Ted955 Reilly981"
        }));
        assert_eq!(
            reference,
            Some(Reference::Logical {
                resource_type: None,
                system: Some("http://hl7.org/fhir/sid/us-npi".into()),
                value: "9999984591".into(),
            })
        );
    }

    #[test]
    fn contained_external_and_display_only_references() {
        assert_eq!(
            parse_reference_text("#referral"),
            Reference::Contained("referral".into())
        );
        assert_eq!(
            parse_reference_text("https://example.org/fhir/Patient/1"),
            Reference::External("https://example.org/fhir/Patient/1".into())
        );
        assert_eq!(parse_reference(&json!({"display": "Dr. Who"})), None);
    }

    #[test]
    fn references_are_shown_in_their_fhir_form() {
        assert_eq!(
            parse_reference_text(
                "Location?identifier=https://github.com/synthetichealth/synthea|44a6"
            )
            .to_string(),
            "Location?identifier=https://github.com/synthetichealth/synthea|44a6"
        );
        let logical = Reference::Logical {
            resource_type: Some("Organization".into()),
            system: None,
            value: "x".into(),
        };
        assert_eq!(logical.to_string(), "Organization with identifier x");
    }

    #[test]
    fn collect_walks_nested_elements_with_indexed_paths() {
        let encounter = json!({
            "resourceType": "Encounter",
            "subject": {"reference": "urn:uuid:p1", "display": "Pat"},
            "participant": [
                {"type": [{"text": "primary performer"}], "individual": {"reference": "Practitioner?identifier=s|1"}},
                {"individual": {"display": "no link"}}
            ],
            "location": [{"location": {"reference": "Location/7"}}],
            "serviceProvider": {"identifier": {"system": "s", "value": "org"}}
        });
        let mut found = collect_references(&encounter);
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "Encounter.location[0].location",
                "Encounter.participant[0].individual",
                "Encounter.serviceProvider",
                "Encounter.subject",
            ]
        );
        assert_eq!(
            found[0].1,
            Reference::Relative {
                resource_type: "Location".into(),
                id: "7".into()
            }
        );
    }

    #[test]
    fn collect_skips_contained_extensions_and_identifiers_that_are_not_references() {
        let eob = json!({
            "resourceType": "ExplanationOfBenefit",
            "contained": [{"resourceType": "Coverage", "payor": [{"reference": "urn:uuid:hidden"}]}],
            "extension": [{"url": "x", "valueReference": {"reference": "urn:uuid:ext"}}],
            "_status": {"extension": [{"url": "y", "valueReference": {"reference": "urn:uuid:ext2"}}]},
            "insurance": [{"focal": true, "coverage": {"reference": "#coverage"}, "identifier": {"value": "claim-1"}}],
            "related": [{"reference": {"system": "s", "value": "v"}}]
        });
        let found = collect_references(&eob);
        assert_eq!(
            found,
            vec![(
                "ExplanationOfBenefit.insurance[0].coverage".to_owned(),
                Reference::Contained("coverage".into())
            )]
        );
    }
}
