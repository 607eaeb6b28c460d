//! Reading an import file: a transaction, batch or collection Bundle, or NDJSON with one resource
//! per line; and telling the two apart.

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::json::{
    JsonContainerTrait, JsonValueMutTrait, JsonValueTrait, Kind, Limits, Object, ParseError,
    ScanError, Value, field, kind,
};

use crate::error::{ImportError, shown, shown_str};
use crate::primitives::{is_id, is_uri};
use crate::refs::{IdentifierSearch, Reference, collect_references, parse_identifier_search};
use crate::types::is_r4_resource_type;

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

/// The HTTP methods an import entry may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Create (or, with `ifNoneExist`, create unless one matches).
    Post,
    /// Create or replace the resource at `Type/id`.
    Put,
}

impl Method {
    /// The method as written in FHIR JSON (`POST`, `PUT`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Post => "POST",
            Self::Put => "PUT",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Bundle.entry.request` of a transaction or batch entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to do with the resource.
    pub method: Method,
    /// `Type` for POST, `Type/id` (of the entry's own type) for PUT.
    pub url: String,
    /// A conditional create's search, checked to be `identifier=[system|]value`.
    pub if_none_exist: Option<String>,
}

impl Request {
    /// The parsed `ifNoneExist` search, if there is one.
    pub fn if_none_exist_identifier(&self) -> Option<IdentifierSearch> {
        self.if_none_exist
            .as_deref()
            .and_then(|query| parse_identifier_search(query).ok())
    }

    /// The id a PUT names (`85` of `Patient/85`); `None` for POST.
    pub fn put_id(&self) -> Option<&str> {
        match self.method {
            Method::Put => self.url.split_once('/').map(|(_, id)| id),
            Method::Post => None,
        }
    }
}

/// One `Bundle.entry`: its resource as JSON, kept whole for the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in `Bundle.entry` (0-based), for error messages.
    pub index: usize,
    /// `Bundle.entry.fullUrl`, which references in the Bundle may use.
    pub full_url: Option<String>,
    /// The resource, exactly as sent (a JSON object with a known R4 `resourceType`).
    pub resource: Value,
    /// The request, for transaction and batch Bundles (always `Some` there, `None` otherwise).
    pub request: Option<Request>,
}

impl Entry {
    /// The entry's `resourceType` (checked by [`parse_bundle`] to be an R4 type).
    pub fn resource_type(&self) -> &str {
        self.resource
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
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

/// What kind of import file a byte prefix looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// One JSON document (a Bundle, or a single resource).
    Json,
    /// Newline-delimited JSON, one resource per line.
    Ndjson,
}

/// Guesses the kind of a file from its first bytes: NDJSON when the first non-space byte is `{`,
/// the first line is a complete JSON object, and a later line starts with `{`; JSON otherwise.
/// Give a prefix long enough to hold the first line and the start of the second; a one-line
/// NDJSON file reads as JSON (a single resource).
pub fn detect(bytes_prefix: &[u8]) -> InputKind {
    let text = bytes_prefix
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(bytes_prefix);
    let start = text
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    if text.first() != Some(&b'{') {
        return InputKind::Json;
    }
    let Some(newline) = text.iter().position(|&byte| byte == b'\n') else {
        return InputKind::Json;
    };
    let first_is_object = crate::json::parse(&text[..newline]).is_ok_and(|value| value.is_object());
    let next_starts_object = text[newline..]
        .split(|&byte| byte == b'\n')
        .map(|line| line.trim_ascii_start())
        .find(|line| !line.is_empty())
        .is_some_and(|line| line.first() == Some(&b'{'));
    if first_is_object && next_starts_object {
        InputKind::Ndjson
    } else {
        InputKind::Json
    }
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

fn bundle_error(path: &str, message: impl Into<String>) -> ImportError {
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

fn parse_entry(
    index: usize,
    mut raw: Value,
    bundle_kind: BundleKind,
) -> Result<Entry, ImportError> {
    let fail = |resource_type: Option<&str>, path: &str, message: String| {
        ImportError::at(Some(index), resource_type, path, message)
    };
    let Some(entry) = raw.as_object_mut() else {
        return Err(fail(None, "Bundle.entry", "expected an object".to_owned()));
    };
    let resource = match field(entry, "resource") {
        Some(resource) if resource.is_object() => resource,
        Some(_) => {
            return Err(fail(
                None,
                "Bundle.entry.resource",
                "expected an object".to_owned(),
            ));
        }
        None => {
            return Err(fail(
                None,
                "Bundle.entry.resource",
                "required element missing".to_owned(),
            ));
        }
    };
    let resource_type = match resource.get("resourceType").map(kind) {
        Some(Kind::String(name)) if is_r4_resource_type(name) => name,
        Some(_) => {
            return Err(fail(
                None,
                "Bundle.entry.resource.resourceType",
                format!(
                    "{} is not a FHIR R4 resource type",
                    resource.get("resourceType").map(shown).unwrap_or_default()
                ),
            ));
        }
        None => {
            return Err(fail(
                None,
                "Bundle.entry.resource.resourceType",
                "required element missing".to_owned(),
            ));
        }
    };
    let full_url = match field(entry, "fullUrl").map(|value| (value, value.as_str())) {
        None => None,
        Some((_, Some(url))) if is_uri(url) => Some(url.to_owned()),
        Some((other, _)) => {
            return Err(fail(
                Some(resource_type),
                "Bundle.entry.fullUrl",
                format!("{} is not a FHIR uri", shown(other)),
            ));
        }
    };
    let request = match bundle_kind {
        BundleKind::Collection => None,
        BundleKind::Transaction | BundleKind::Batch => Some(
            parse_request(field(entry, "request"), resource_type, resource)
                .map_err(|(path, message)| fail(Some(resource_type), &path, message))?,
        ),
    };
    // Checked above to be an object.
    let resource = entry.remove(&"resource").unwrap_or_default();
    Ok(Entry {
        index,
        full_url,
        resource,
        request,
    })
}

fn parse_request(
    raw: Option<&Value>,
    resource_type: &str,
    resource: &Value,
) -> Result<Request, (String, String)> {
    let fail = |element: &str, message: String| (format!("Bundle.entry.request{element}"), message);
    let request = match raw.map(kind) {
        Some(Kind::Object(request)) => request,
        Some(_) => return Err(fail("", "expected an object".to_owned())),
        None => {
            return Err(fail(
                "",
                "required in a transaction or batch (method and url)".to_owned(),
            ));
        }
    };
    let method = match field(request, "method").map(kind) {
        None => return Err(fail(".method", "required element missing".to_owned())),
        Some(Kind::String(method)) => match method {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "GET" | "HEAD" | "DELETE" | "PATCH" => {
                return Err(fail(
                    ".method",
                    format!("{method} is not imported (only POST and PUT)"),
                ));
            }
            _ => {
                return Err(fail(
                    ".method",
                    format!("{} is not an HTTP method FHIR allows", shown_str(method)),
                ));
            }
        },
        Some(_) => return Err(fail(".method", "expected a string".to_owned())),
    };
    let url = match field(request, "url").map(|value| (value, value.as_str())) {
        None => return Err(fail(".url", "required element missing".to_owned())),
        Some((_, Some(url))) if is_uri(url) => url.to_owned(),
        Some((other, _)) => {
            return Err(fail(".url", format!("{} is not a FHIR uri", shown(other))));
        }
    };
    match method {
        Method::Post if url != resource_type => {
            return Err(fail(
                ".url",
                format!(
                    "a POST of a {resource_type} must go to {resource_type:?}, not {}",
                    shown_str(&url)
                ),
            ));
        }
        Method::Put => {
            let own_id = resource.get("id").and_then(Value::as_str);
            match url.split_once('/') {
                Some((url_type, id)) if url_type == resource_type && is_id(id) => {
                    if let Some(own) = own_id.filter(|own| *own != id) {
                        return Err(fail(
                            ".url",
                            format!(
                                "{} does not match the resource's id {}",
                                shown_str(&url),
                                shown_str(own)
                            ),
                        ));
                    }
                }
                _ => {
                    return Err(fail(
                        ".url",
                        format!(
                            "a PUT of a {resource_type} must go to {resource_type}/id, not {}",
                            shown_str(&url)
                        ),
                    ));
                }
            }
        }
        Method::Post => {}
    }
    let if_none_exist = match field(request, "ifNoneExist").map(kind) {
        None => None,
        Some(Kind::String(query)) => {
            parse_identifier_search(query).map_err(|reason| {
                fail(".ifNoneExist", format!("{}: {reason}", shown_str(query)))
            })?;
            Some(query.to_owned())
        }
        Some(_) => return Err(fail(".ifNoneExist", "expected a string".to_owned())),
    };
    Ok(Request {
        method,
        url,
        if_none_exist,
    })
}

/// Parses one NDJSON line (blank lines are the caller's to skip) into a resource: a JSON object
/// with a known R4 `resourceType` other than `Bundle`. Errors name the line as `line 7`.
pub fn parse_ndjson_line(line: &str, line_no: usize) -> Result<Value, ImportError> {
    parse_ndjson_line_limited(line, line_no, &Limits::NONE)
}

/// [`parse_ndjson_line`] with `limits` on the length of every string, checked before the tree
/// is built.
pub fn parse_ndjson_line_limited(
    line: &str,
    line_no: usize,
    limits: &Limits,
) -> Result<Value, ImportError> {
    let value: Value = crate::json::parse_limited(line.as_bytes(), limits).map_err(|error| {
        match error {
            ParseError::Syntax(message) | ParseError::Limit(ScanError::TooDeep(message)) => {
                ImportError::document(format!("not JSON: {message}"))
            }
            ParseError::Limit(limit) => ImportError::document(limit.to_string()),
        }
        .on_line(line_no)
    })?;
    let fail = |resource_type: Option<&str>, path: &str, message: String| {
        ImportError::at(None, resource_type, path, message).on_line(line_no)
    };
    if !value.is_object() {
        return Err(fail(
            None,
            "",
            "not a FHIR resource: expected a JSON object".to_owned(),
        ));
    }
    let resource_type = value.get("resourceType");
    match resource_type.map(kind) {
        Some(Kind::String("Bundle")) => Err(fail(
            Some("Bundle"),
            "",
            "a Bundle cannot be a line of NDJSON (import it as a file of its own)".to_owned(),
        )),
        Some(Kind::String(name)) if is_r4_resource_type(name) => Ok(value),
        Some(_) => Err(fail(
            None,
            "resourceType",
            format!(
                "{} is not a FHIR R4 resource type",
                resource_type.map(shown).unwrap_or_default()
            ),
        )),
        None => Err(fail(
            None,
            "resourceType",
            "required element missing".to_owned(),
        )),
    }
}

#[cfg(test)]
#[path = "bundle_tests.rs"]
mod tests;
