//! What a Bundle's import claims before it writes, so that imports can run side by side (see
//! `portal_store::resources::claim_for_import`): every record it may create, update, find or
//! point at, named the way another import would name it. Two imports that could touch the same
//! record, or where one could find what the other stores, share a claim and take turns.
//!
//! A record is named by its sender's id (`Type/id`) and by each of its identifiers
//! (`Type?identifier=system|value`): an entry claims its own id and every identifier it carries
//! or searches by; a reference claims the id or identifier it names. References inside the
//! Bundle (`urn:uuid:…`), to contained resources and to absolute URLs name nothing another
//! import stores. A claim is the first 8 bytes of a SHA-256 digest, the same in every process.

use super::Key;
use portal_fhir::Reference;
use sha2::{Digest, Sha256};

/// The claims of one Bundle: the digests of what its entries and their references name,
/// sorted, each once.
#[derive(Debug, Default)]
pub(super) struct Claims(Vec<u64>);

impl Claims {
    /// Adds what an entry names: its sender's id, its identifiers and its conditional-create
    /// search.
    pub(super) fn add_entry(&mut self, key: &Key) {
        if let Some(id) = &key.source_id {
            self.0.push(by_id(key.resource_type, id));
        }
        for (system, value) in &key.identifiers {
            self.0.push(by_identifier(key.resource_type, system, value));
        }
        if let Some(search) = key
            .request
            .as_ref()
            .and_then(|r| r.if_none_exist_identifier())
        {
            let system = search.system.unwrap_or_default();
            self.0
                .push(by_identifier(key.resource_type, &system, &search.value));
        }
    }

    /// Adds what a reference names outside the Bundle.
    pub(super) fn add_reference(&mut self, reference: &Reference) {
        match reference {
            Reference::Relative { resource_type, id } => self.0.push(by_id(resource_type, id)),
            Reference::Conditional {
                resource_type,
                system,
                value,
            }
            | Reference::Logical {
                resource_type: Some(resource_type),
                system,
                value,
            } => self.0.push(by_identifier(
                resource_type,
                system.as_deref().unwrap_or_default(),
                value,
            )),
            Reference::Logical {
                resource_type: None,
                ..
            }
            | Reference::Internal(_)
            | Reference::Contained(_)
            | Reference::External(_)
            | Reference::Unsupported { .. } => {}
        }
    }

    /// The claims, sorted, each once.
    pub(super) fn finish(mut self) -> Vec<u64> {
        self.0.sort_unstable();
        self.0.dedup();
        self.0
    }
}

fn by_id(resource_type: &str, id: &str) -> u64 {
    digest(&["id", resource_type, id])
}

fn by_identifier(resource_type: &str, system: &str, value: &str) -> u64 {
    digest(&["identifier", resource_type, system, value])
}

/// The digest of the parts, each ended by a zero byte, which keeps `a` + `bc` apart from
/// `ab` + `c`. (A part may itself hold a zero byte, JSON's `\u0000`; two different records
/// whose claims then came out equal would only make their imports take turns.)
fn digest(parts: &[&str]) -> u64 {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let out = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    u64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(source_id: Option<&str>, identifiers: &[(&str, &str)]) -> Key {
        Key {
            index: 0,
            resource_type: "Practitioner",
            full_url: None,
            request: None,
            identifiers: identifiers
                .iter()
                .map(|(s, v)| (s.to_string(), v.to_string()))
                .collect(),
            source_id: source_id.map(str::to_string),
        }
    }

    fn claims_of_entry(key: &Key) -> Vec<u64> {
        let mut claims = Claims::default();
        claims.add_entry(key);
        claims.finish()
    }

    fn claims_of_reference(reference: Reference) -> Vec<u64> {
        let mut claims = Claims::default();
        claims.add_reference(&reference);
        claims.finish()
    }

    #[test]
    fn a_reference_by_id_claims_what_the_entry_with_that_id_claims() {
        let stored = claims_of_entry(&key(Some("p1"), &[("urn:npi", "123")]));
        let pointing = claims_of_reference(Reference::Relative {
            resource_type: "Practitioner".into(),
            id: "p1".into(),
        });
        assert_eq!(pointing.len(), 1);
        assert!(stored.contains(&pointing[0]));
    }

    #[test]
    fn a_reference_by_identifier_claims_what_the_entry_with_that_identifier_claims() {
        let stored = claims_of_entry(&key(Some("p1"), &[("urn:npi", "123")]));
        for reference in [
            Reference::Conditional {
                resource_type: "Practitioner".into(),
                system: Some("urn:npi".into()),
                value: "123".into(),
            },
            Reference::Logical {
                resource_type: Some("Practitioner".into()),
                system: Some("urn:npi".into()),
                value: "123".into(),
            },
        ] {
            let pointing = claims_of_reference(reference);
            assert!(stored.contains(&pointing[0]));
        }
    }

    #[test]
    fn different_records_claim_differently() {
        let one = claims_of_entry(&key(Some("p1"), &[]));
        let other_id = claims_of_entry(&key(Some("p2"), &[]));
        let other_type = claims_of_reference(Reference::Relative {
            resource_type: "Organization".into(),
            id: "p1".into(),
        });
        let id_as_identifier = claims_of_entry(&key(None, &[("p1", "")]));
        assert_ne!(one, other_id);
        assert_ne!(one, other_type);
        assert_ne!(one, id_as_identifier);
        // Parts are kept apart: system "ab" + value "c" is not system "a" + value "bc".
        assert_ne!(
            claims_of_entry(&key(None, &[("ab", "c")])),
            claims_of_entry(&key(None, &[("a", "bc")]))
        );
    }

    #[test]
    fn references_within_the_bundle_claim_nothing_and_claims_are_sorted_once() {
        assert!(claims_of_reference(Reference::Internal("urn:uuid:1".into())).is_empty());
        assert!(claims_of_reference(Reference::Contained("#a".into())).is_empty());
        let mut claims = Claims::default();
        for id in ["b", "a", "b", "c"] {
            claims.add_reference(&Reference::Relative {
                resource_type: "Patient".into(),
                id: id.into(),
            });
        }
        let claims = claims.finish();
        assert_eq!(claims.len(), 3);
        assert!(claims.windows(2).all(|w| w[0] < w[1]));
    }
}
