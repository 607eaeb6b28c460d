//! One entry of an import Bundle: its request (POST or PUT, with a conditional create) and its
//! resource, checked.

use std::fmt;

use crate::json::{JsonValueMutTrait, JsonValueTrait, Kind, Value, field, kind};

use crate::bundle::BundleKind;
use crate::error::{ImportError, shown, shown_str};
use crate::primitives::{is_id, is_uri};
use crate::refs::{IdentifierSearch, parse_identifier_search};
use crate::types::is_r4_resource_type;

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

pub(crate) fn parse_entry(
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
