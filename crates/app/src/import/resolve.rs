//! Where each incoming resource goes and what its references point at: the index of the
//! entries planned so far, the look-ups of stored resources by sender's id and identifier, and
//! what resolved references say about who and where an item is from.

use super::{Key, error_at};
use crate::Result;
use portal_domain::PatientId;
use portal_domain::access::ClinicCapability;
use portal_fhir::Reference;
use portal_fhir::compartment::Links;
use portal_store::Conn;
use portal_store::resources::{self, KnownResource};
use std::collections::HashMap;

/// The id an item is written under, and what is stored under it already.
pub(super) struct Placed {
    pub(super) id: String,
    pub(super) existing: Option<KnownResource>,
    /// Whose record it is in.
    pub(super) patient: Option<PatientId>,
    /// The visit it belongs to.
    pub(super) encounter: Option<String>,
    pub(super) links: Links,
    /// What its references resolved to, kept for the read API.
    pub(super) refs: portal_fhir::serve::ResolvedRefs,
}

/// A planned entry's place in [`Index::slots`].
pub(super) type Slot = u32;

/// A resource type, an identifier system and a value.
pub(super) type IdentifierKey = (&'static str, Box<str>, Box<str>);

/// The entries planned so far: the id each is written under, and how references find them.
/// Kept small, as a large Bundle's entries are all planned before the first is written.
#[derive(Default)]
pub(super) struct Index {
    /// Each planned entry's type and id, in the order planned.
    pub(super) slots: Vec<(&'static str, Box<str>)>,
    /// An entry's slot, by its index in the Bundle (or line number), until it is written.
    pub(super) slot_of: HashMap<usize, Slot>,
    /// What is stored under an entry's id already, until it is written.
    pub(super) existing: HashMap<Slot, KnownResource>,
    pub(super) by_full_url: HashMap<Box<str>, Slot>,
    pub(super) by_source: HashMap<(&'static str, Box<str>), Slot>,
    pub(super) by_identifier: HashMap<IdentifierKey, Vec<Slot>>,
    /// Identifier look-ups already answered by the database during this import.
    pub(super) stored: HashMap<(String, String, String), Vec<String>>,
    /// Ids of stored resources already found by type and sender's id during this import (a
    /// file of lab results points at one stored Patient thousands of times).
    pub(super) stored_by_source: HashMap<(String, String), String>,
}

impl Index {
    /// The type and id of a slot, as a resolved reference.
    pub(super) fn target(&self, slot: Slot) -> Option<(String, String)> {
        self.slots
            .get(slot as usize)
            .map(|(resource_type, id)| (resource_type.to_string(), id.to_string()))
    }
}

/// The identifier searches that find the stored resource an incoming one updates when its
/// sender's id found none, in the order they are tried: the conditional-create identifier, else
/// (for a resource without an id) each of its identifiers. An identifier without a system is
/// unique nowhere: it never picks the resource to update.
pub(super) fn identifier_searches(key: &Key) -> Result<Vec<(String, String)>> {
    let mut searches: Vec<(String, String)> = Vec::new();
    if let Some(search) = key
        .request
        .as_ref()
        .and_then(|r| r.if_none_exist_identifier())
    {
        let Some(system) = search.system else {
            return Err(error_at(
                key,
                "request.ifNoneExist",
                "the condition needs a system (identifier=system|value): an identifier without \
                 one can match any record"
                    .into(),
            ));
        };
        searches.push((system, search.value));
    }
    if key.source_id.is_none() {
        searches.extend(key.identifiers.iter().cloned());
    }
    searches.retain(|(system, _)| !system.is_empty());
    Ok(searches)
}

/// Resolves one reference to (type, portal id). Logical references to identifiers nobody here
/// holds, contained and absolute external references are kept as they are (`None`); anything
/// else that does not resolve refuses the whole import.
pub(super) async fn resolve(
    conn: &mut Conn,
    import: &ClinicCapability,
    index: &mut Index,
    key: &Key,
    path: &str,
    reference: &Reference,
) -> Result<Option<(String, String)>> {
    let broken = |what: String| error_at(key, path, what);
    match reference {
        Reference::Internal(url) => match index
            .by_full_url
            .get(url.as_str())
            .and_then(|slot| index.target(*slot))
        {
            Some(found) => Ok(Some(found)),
            None => Err(broken(format!(
                "reference {url:?} does not resolve to an entry"
            ))),
        },
        Reference::Relative { resource_type, id } => {
            if let Some(found) = portal_fhir::r4_resource_type(resource_type)
                .and_then(|static_type| index.by_source.get(&(static_type, id.as_str().into())))
                .and_then(|slot| index.target(*slot))
            {
                return Ok(Some(found));
            }
            let key = (resource_type.clone(), id.clone());
            if let Some(found) = index.stored_by_source.get(&key) {
                return Ok(Some((resource_type.clone(), found.clone())));
            }
            match resources::find_by_source(conn, import, resource_type, id).await? {
                Some(known) => {
                    index.stored_by_source.insert(key, known.id.clone());
                    Ok(Some((resource_type.clone(), known.id)))
                }
                None => Err(broken(format!(
                    "reference \"{resource_type}/{id}\" does not resolve"
                ))),
            }
        }
        Reference::Conditional {
            resource_type,
            system,
            value,
        } => {
            if system.is_none() {
                return Err(broken(format!(
                    "reference \"{resource_type}?identifier={value}\" needs a system \
                     (identifier=system|value): an identifier without one can match any record"
                )));
            }
            let found =
                by_identifier(conn, import, index, resource_type, system.as_deref(), value).await?;
            match found.as_slice() {
                [one] => Ok(Some((resource_type.clone(), one.clone()))),
                [] => Err(broken(format!(
                    "reference \"{resource_type}?identifier={}{value}\" matches no resource",
                    system
                        .as_deref()
                        .map(|s| format!("{s}|"))
                        .unwrap_or_default()
                ))),
                _ => Err(broken(format!(
                    "reference \"{resource_type}?identifier={value}\" matches more than one resource"
                ))),
            }
        }
        Reference::Logical {
            resource_type: Some(resource_type),
            system,
            value,
        } => {
            let found =
                by_identifier(conn, import, index, resource_type, system.as_deref(), value).await?;
            Ok(match found.as_slice() {
                [one] => Some((resource_type.clone(), one.clone())),
                _ => None,
            })
        }
        Reference::Logical {
            resource_type: None,
            ..
        }
        | Reference::Contained(_)
        | Reference::External(_) => Ok(None),
        Reference::Unsupported { reference, reason } => Err(broken(format!(
            "reference {reference:?} is not supported: {reason}"
        ))),
    }
}

pub(super) async fn by_identifier(
    conn: &mut Conn,
    import: &ClinicCapability,
    index: &mut Index,
    resource_type: &str,
    system: Option<&str>,
    value: &str,
) -> Result<Vec<String>> {
    let mut found: Vec<String> = match system {
        Some(system) => match portal_fhir::r4_resource_type(resource_type) {
            Some(static_type) => index
                .by_identifier
                .get(&(static_type, system.into(), value.into()))
                .map(|slots| {
                    slots
                        .iter()
                        .filter_map(|slot| index.target(*slot).map(|(_, id)| id))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        },
        // Without a system an identifier names nothing for certain: it matches nothing.
        None => return Ok(Vec::new()),
    };
    if found.is_empty() {
        let key = (
            resource_type.to_string(),
            system.unwrap_or("").to_string(),
            value.to_string(),
        );
        found = match index.stored.get(&key) {
            Some(ids) => ids.clone(),
            None => {
                let ids: Vec<String> =
                    resources::find_by_identifier(conn, import, resource_type, &key.1, value)
                        .await?
                        .into_iter()
                        .map(|k| k.id)
                        .collect();
                index.stored.insert(key, ids.clone());
                ids
            }
        };
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(source_id: Option<&str>, if_none_exist: Option<&str>) -> Key {
        Key {
            index: 0,
            resource_type: "Patient",
            full_url: None,
            request: if_none_exist.map(|search| portal_fhir::Request {
                method: portal_fhir::Method::Post,
                url: "Patient".into(),
                if_none_exist: Some(search.into()),
            }),
            identifiers: vec![
                (String::new(), "no-system".into()),
                ("urn:mrn".into(), "M1".into()),
            ],
            source_id: source_id.map(str::to_string),
        }
    }

    #[test]
    fn a_resource_without_an_id_is_found_by_its_identifiers_with_a_system() {
        let searches = identifier_searches(&key(None, None)).expect("searches");
        assert_eq!(searches, vec![("urn:mrn".to_string(), "M1".to_string())]);
    }

    #[test]
    fn a_sender_id_leaves_only_the_conditional_create_search() {
        assert!(
            identifier_searches(&key(Some("p1"), None))
                .expect("searches")
                .is_empty()
        );
        let searches =
            identifier_searches(&key(Some("p1"), Some("identifier=urn:other|X"))).expect("ok");
        assert_eq!(searches, vec![("urn:other".to_string(), "X".to_string())]);
    }

    #[test]
    fn a_conditional_create_without_a_system_is_refused() {
        let refused = identifier_searches(&key(None, Some("identifier=X")));
        assert!(refused.is_err_and(|e| e.to_string().contains("needs a system")));
    }

    #[test]
    fn a_slot_resolves_to_its_type_and_id() {
        let index = Index {
            slots: vec![("Patient", "id-1".into())],
            ..Index::default()
        };
        assert_eq!(
            index.target(0),
            Some(("Patient".to_string(), "id-1".to_string()))
        );
        assert_eq!(index.target(1), None);
    }
}
