//! Reading an import file: a transaction, batch or collection Bundle, or NDJSON with one resource
//! per line; and telling the two apart.

use std::collections::{HashMap, HashSet};

use crate::json::{
    JsonContainerTrait, JsonValueMutTrait, JsonValueTrait, Kind, Limits, Object, ParseError,
    ScanError, Value, field, kind,
};

use crate::error::{ImportError, shown, shown_str};
use crate::primitives::is_id;
use crate::refs::{Reference, collect_references};
use crate::types::is_r4_resource_type;

use crate::entry::parse_entry;
pub use crate::entry::{Entry, Method, Request};
pub use crate::ndjson::{InputKind, detect, parse_ndjson_line, parse_ndjson_line_limited};

/// The kinds of Bundle the importer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleKind {
    /// All entries succeed or the whole Bundle fails (`Bundle.type` `transaction`).
    Transaction,
    /// Each entry stands alone (`batch`).
    Batch,
    /// A set of resources with no request (`collection`).
    Collection,
}

/// A parsed import Bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// Transaction, batch or collection.
    pub kind: BundleKind,
    /// The entries, in file order.
    pub entries: Vec<Entry>,
}

impl Bundle {
    /// Checks the references that must resolve inside the Bundle itself: every `urn:` reference
    /// names an entry's `fullUrl`, every `#id` a contained resource, and no reference is of an
    /// unsupported form. Conditional, relative, logical and external references are left to the
    /// importer, which may find their targets in the database.
    pub fn check_references(&self) -> Result<(), ImportError> {
        let refs: Vec<_> = self
            .entries
            .iter()
            .map(|entry| collect_references(&entry.resource))
            .collect();
        self.check_collected_references(&refs)
    }

    /// [`Bundle::check_references`] with each entry's references already collected (by
    /// [`collect_references`], in entry order), so an importer that needs them anyway walks each
    /// resource once.
    pub fn check_collected_references(
        &self,
        refs: &[Vec<(String, Reference)>],
    ) -> Result<(), ImportError> {
        let full_urls: HashSet<&str> = self
            .entries
            .iter()
            .filter_map(|entry| entry.full_url.as_deref())
            .collect();
        for (entry, entry_refs) in self.entries.iter().zip(refs) {
            check_entry_references(entry, entry_refs, |url| full_urls.contains(url))?;
        }
        Ok(())
    }
}

/// [`Bundle::check_references`] for one entry, with its references collected and
/// `is_full_url` telling whether some entry of its Bundle has a fullUrl.
pub fn check_entry_references(
    entry: &Entry,
    refs: &[(String, Reference)],
    is_full_url: impl Fn(&str) -> bool,
) -> Result<(), ImportError> {
    for (path, reference) in refs {
        let problem = match reference {
            Reference::Internal(url) if !is_full_url(url) => Some(format!(
                "{} matches no entry's fullUrl in this Bundle",
                shown_str(url)
            )),
            Reference::Contained(id) if !id.is_empty() && !has_contained(&entry.resource, id) => {
                Some(format!("#{id} names no contained resource"))
            }
            Reference::Unsupported { reference, reason } => {
                Some(format!("{}: {reason}", shown_str(reference)))
            }
            _ => None,
        };
        if let Some(message) = problem {
            return Err(ImportError::at(
                Some(entry.index),
                Some(entry.resource_type()),
                path.clone(),
                message,
            ));
        }
    }
    Ok(())
}

fn has_contained(resource: &Value, id: &str) -> bool {
    resource
        .get("contained")
        .and_then(Value::as_array)
        .is_some_and(|contained| {
            contained
                .iter()
                .any(|inner| inner.get("id").and_then(Value::as_str) == Some(id))
        })
}

/// Parses a Bundle file: checks that it is JSON, a Bundle of type transaction, batch or
/// collection, that each entry holds a resource of a known R4 type, that fullUrls do not repeat,
/// and (transaction and batch) that each request is a POST to the entry's type or a PUT to
/// `Type/id` of its own type and id, with any `ifNoneExist` an identifier search. The resources
/// themselves are checked by [`crate::map_resource`]; references by [`Bundle::check_references`].
pub fn parse_bundle(bytes: &[u8]) -> Result<Bundle, ImportError> {
    parse_bundle_limited(bytes, &Limits::default())
}

/// [`parse_bundle`] with `limits` on the number of entries and the length of each string,
/// checked before the document is parsed.
pub fn parse_bundle_limited(bytes: &[u8], limits: &Limits) -> Result<Bundle, ImportError> {
    let text = open_bundle(bytes, limits)?;
    let mut seen_full_urls: HashMap<String, usize> = HashMap::new();
    let mut entries = Vec::with_capacity(text.len());
    for index in 0..text.len() {
        let entry = text.entry(index)?;
        if let Some(url) = &entry.full_url
            && let Some(first) = seen_full_urls.insert(url.clone(), index)
        {
            return Err(repeated_full_url(&entry, url, first));
        }
        entries.push(entry);
    }
    Ok(Bundle {
        kind: text.kind,
        entries,
    })
}

/// The error for an entry whose fullUrl an earlier entry (`first`) has.
pub fn repeated_full_url(entry: &Entry, url: &str, first: usize) -> ImportError {
    ImportError::at(
        Some(entry.index),
        Some(entry.resource_type()),
        "Bundle.entry.fullUrl",
        format!("{} repeats the fullUrl of entry {first}", shown_str(url)),
    )
}

/// A Bundle whose envelope is checked and whose entries are read one at a time, as often as
/// needed ([`BundleText::entry`]): an importer holds one entry's tree at a time, not the whole
/// document's. The fullUrls across entries are the reader's to check ([`repeated_full_url`]).
#[derive(Debug)]
pub struct BundleText<'a> {
    /// Transaction, batch or collection.
    pub kind: BundleKind,
    entries: crate::json::Split<'a>,
}

impl BundleText<'_> {
    /// How many entries the Bundle has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many bytes entry `index` takes as text.
    pub fn text_len(&self, index: usize) -> usize {
        self.entries.text_len(index)
    }

    /// Parses and checks entry `index`, as [`parse_bundle`] does each entry.
    pub fn entry(&self, index: usize) -> Result<Entry, ImportError> {
        let raw = self.entries.entry(index).map_err(|error| match error {
            ParseError::Syntax(message) | ParseError::Limit(ScanError::TooDeep(message)) => {
                ImportError::document(format!("not JSON: {message}"))
            }
            ParseError::Limit(limit) => ImportError::document(limit.to_string()),
        })?;
        parse_entry(index, raw, self.kind)
    }
}

/// Checks a Bundle's text within `limits` and its envelope (a Bundle of type transaction, batch
/// or collection, with a valid id and an `entry` array), leaving the entries to be read one by
/// one.
pub fn open_bundle<'a>(bytes: &'a [u8], limits: &Limits) -> Result<BundleText<'a>, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut entries = crate::json::parse_split(bytes, limits).map_err(|error| match error {
        ParseError::Syntax(message) | ParseError::Limit(ScanError::TooDeep(message)) => {
            ImportError::document(format!("not JSON: {message}"))
        }
        ParseError::Limit(limit @ ScanError::TooManyEntries { .. }) => {
            bundle_error("Bundle.entry", limit.to_string())
        }
        ParseError::Limit(limit @ ScanError::StringTooLong { entry, .. }) => {
            ImportError::at(entry, None, "", limit.to_string())
        }
    })?;
    let Some(bundle) = entries.envelope.as_object_mut() else {
        return Err(ImportError::document(
            "not a FHIR resource: expected a JSON object",
        ));
    };
    match field(bundle, "resourceType").map(kind) {
        Some(Kind::String("Bundle")) => {}
        Some(Kind::String(name)) if is_r4_resource_type(name) => {
            return Err(ImportError::document(format!(
                "expected a Bundle, found a {name} (a single resource is imported as NDJSON)"
            )));
        }
        Some(_) => {
            return Err(ImportError::document(format!(
                "not a FHIR resource: resourceType {} is not a FHIR R4 resource type",
                field(bundle, "resourceType").map(shown).unwrap_or_default()
            )));
        }
        None => {
            return Err(ImportError::document(
                "not a FHIR resource: resourceType is missing",
            ));
        }
    }
    let kind = bundle_kind(bundle)?;
    if let Some(id) = field(bundle, "id")
        && !id.as_str().is_some_and(is_id)
    {
        return Err(bundle_error(
            "Bundle.id",
            format!("{} is not a FHIR id", shown(id)),
        ));
    }
    if field(bundle, "entry").is_some_and(|entries| !entries.is_array()) {
        return Err(bundle_error("Bundle.entry", "expected an array"));
    }
    Ok(BundleText { kind, entries })
}

pub(crate) fn bundle_error(path: &str, message: impl Into<String>) -> ImportError {
    ImportError::at(None, Some("Bundle"), path, message)
}

fn bundle_kind(bundle: &Object) -> Result<BundleKind, ImportError> {
    const OTHER_TYPES: [&str; 6] = [
        "document",
        "message",
        "transaction-response",
        "batch-response",
        "history",
        "searchset",
    ];
    match field(bundle, "type").map(kind) {
        None => Err(bundle_error("Bundle.type", "required element missing")),
        Some(Kind::String(kind)) => match kind {
            "transaction" => Ok(BundleKind::Transaction),
            "batch" => Ok(BundleKind::Batch),
            "collection" => Ok(BundleKind::Collection),
            other if OTHER_TYPES.contains(&other) => Err(bundle_error(
                "Bundle.type",
                format!(
                    "{} Bundles are not imported (expected transaction, batch or collection)",
                    shown_str(other)
                ),
            )),
            other => Err(bundle_error(
                "Bundle.type",
                format!("{} is not a Bundle type", shown_str(other)),
            )),
        },
        Some(_) => Err(bundle_error("Bundle.type", "expected a string")),
    }
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
