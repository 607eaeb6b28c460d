//! Reading FHIR JSON element by element, checking each value's JSON type and primitive format
//! and naming its path in any error. The shared data types built on this are in `datatypes`.

use crate::json::{JsonValueTrait, Kind, Object, Value, field, kind};

use crate::codes::CodeSet;
use crate::error::{ImportError, shown, shown_str};
use crate::primitives::{is_code, is_date, is_date_time, is_id, is_instant, is_time, is_uri};
use crate::types::is_r4_resource_type;

/// Shorthand for the results of this module.
pub(crate) type Read<T> = Result<T, ImportError>;

/// Where an error is: which entry and which resource type.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    entry: Option<usize>,
    resource_type: &'a str,
}

/// One JSON object of a resource (the resource itself or an element in it), with its path.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    obj: &'a Object,
    path: String,
    place: Place<'a>,
}

impl<'a> Node<'a> {
    /// The resource as a node, after checking that it is an object with a known R4 type.
    pub(crate) fn root(resource: &'a Value, entry: Option<usize>) -> Read<Self> {
        let fail = |message: String| ImportError::at(entry, None, "resourceType", message);
        let Kind::Object(obj) = kind(resource) else {
            return Err(ImportError::at(
                entry,
                None,
                "",
                "not a FHIR resource: expected a JSON object",
            ));
        };
        let resource_type = match field(obj, "resourceType") {
            Some(name) if name.as_str().is_some_and(is_r4_resource_type) => {
                name.as_str().unwrap_or_default()
            }
            Some(other) => {
                return Err(fail(format!(
                    "{} is not a FHIR R4 resource type",
                    shown(other)
                )));
            }
            None => return Err(fail("required element missing".to_owned())),
        };
        Ok(Self {
            obj,
            path: resource_type.to_owned(),
            place: Place {
                entry,
                resource_type,
            },
        })
    }

    /// The JSON object itself.
    pub(super) fn fields(&self) -> &'a Object {
        self.obj
    }

    /// The resource type of the resource this node belongs to.
    pub(crate) fn resource_type(&self) -> &'a str {
        self.place.resource_type
    }

    fn path_of(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// An error at `path`.
    fn error_at(&self, path: String, message: impl Into<String>) -> ImportError {
        ImportError::at(
            self.place.entry,
            Some(self.place.resource_type),
            path,
            message,
        )
    }

    /// An error at this node's element `key`.
    pub(crate) fn error(&self, key: &str, message: impl Into<String>) -> ImportError {
        self.error_at(self.path_of(key), message)
    }

    /// An error about this node as a whole.
    pub(crate) fn error_here(&self, message: impl Into<String>) -> ImportError {
        self.error_at(self.path.clone(), message)
    }

    /// The raw value of `key`; JSON `null` is refused, as FHIR JSON has no nulls.
    pub(crate) fn get(&self, key: &str) -> Read<Option<&'a Value>> {
        match field(self.obj, key) {
            Some(value) if value.is_null() => {
                Err(self.error(key, "null is not allowed (leave the element out)"))
            }
            other => Ok(other),
        }
    }

    /// The keys that start with `prefix` followed by a capital: the choices of `prefix[x]`.
    fn choice_keys(&self, prefix: &str) -> Vec<&'a str> {
        let mut keys: Vec<&'a str> = self
            .obj
            .iter()
            .map(|(key, _)| key)
            .filter(|key| {
                key.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
            })
            .collect();
        // Sorted, so messages do not depend on the file's key order.
        keys.sort_unstable();
        keys
    }

    /// Which type of the choice element `prefix[x]` is given, out of `allowed` (type names as
    /// in FHIR: `Quantity`, `DateTime`, ...), with its key. At most one may be present.
    pub(crate) fn choice(
        &self,
        prefix: &str,
        allowed: &[&str],
    ) -> Read<Option<(&'a str, &'a str)>> {
        let keys = self.choice_keys(prefix);
        match keys.as_slice() {
            [] => Ok(None),
            [key] => {
                let kind = &key[prefix.len()..];
                match allowed.iter().find(|name| **name == kind) {
                    Some(_) => Ok(Some((kind, key))),
                    None => Err(self.error(
                        key,
                        format!(
                            "{prefix}[x] cannot be of type {kind} (allowed: {})",
                            allowed.join(", ")
                        ),
                    )),
                }
            }
            several => Err(self.error(
                &format!("{prefix}[x]"),
                format!("only one of {} may be given", several.join(", ")),
            )),
        }
    }

    /// Fails with "required element missing" at `key` when `value` is `None`.
    pub(crate) fn required<T>(&self, key: &str, value: Option<T>) -> Read<T> {
        value.ok_or_else(|| self.error(key, "required element missing"))
    }

    /// A FHIR `string`: a non-empty JSON string.
    pub(crate) fn string(&self, key: &str) -> Read<Option<String>> {
        Ok(self.text(key)?.map(str::to_owned))
    }

    /// [`Node::string`], borrowed from the document (for long strings not worth a copy).
    pub(crate) fn text(&self, key: &str) -> Read<Option<&'a str>> {
        match self.get(key)?.map(kind) {
            None => Ok(None),
            Some(Kind::String("")) => {
                Err(self.error(key, "empty strings are not allowed (leave the element out)"))
            }
            Some(Kind::String(text)) => Ok(Some(text)),
            Some(_) => Err(self.error(key, "expected a string")),
        }
    }

    /// A string that must pass `check`, described as `what` in the error.
    fn checked(&self, key: &str, check: fn(&str) -> bool, what: &str) -> Read<Option<String>> {
        match self.string(key)? {
            Some(text) if !check(&text) => {
                Err(self.error(key, format!("{} is not a FHIR {what}", shown_str(&text))))
            }
            other => Ok(other),
        }
    }

    /// A FHIR `code` (no value set).
    pub(crate) fn code(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_code, "code")
    }

    /// A FHIR `uri`.
    pub(crate) fn uri(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_uri, "uri")
    }

    /// A FHIR `date`.
    pub(crate) fn date(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_date, "date")
    }

    /// A FHIR `dateTime`.
    pub(crate) fn date_time(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_date_time, "dateTime")
    }

    /// A FHIR `instant`.
    pub(crate) fn instant(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_instant, "instant")
    }

    /// A FHIR `time`.
    pub(crate) fn time(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_time, "time")
    }

    /// A FHIR `id`.
    pub(crate) fn id(&self, key: &str) -> Read<Option<String>> {
        self.checked(key, is_id, "id")
    }

    /// A code of the required value set `T`.
    pub(crate) fn coded<T: CodeSet>(&self, key: &str) -> Read<Option<T>> {
        match self.get(key)?.map(kind) {
            None => Ok(None),
            Some(Kind::String(code)) => T::from_code(code).map(Some).ok_or_else(|| {
                self.error(
                    key,
                    format!("{} is not one of {}", shown_str(code), T::CODES.join("|")),
                )
            }),
            Some(_) => Err(self.error(key, "expected a string")),
        }
    }

    /// A repeating code of the required value set `T`.
    pub(crate) fn coded_list<T: CodeSet>(&self, key: &str) -> Read<Vec<T>> {
        let codes = self.strings(key)?;
        codes
            .iter()
            .enumerate()
            .map(|(index, code)| {
                T::from_code(code).ok_or_else(|| {
                    self.error(
                        &format!("{key}[{index}]"),
                        format!("{} is not one of {}", shown_str(code), T::CODES.join("|")),
                    )
                })
            })
            .collect()
    }

    /// A FHIR `boolean`.
    pub(crate) fn boolean(&self, key: &str) -> Read<Option<bool>> {
        match self.get(key)?.map(kind) {
            None => Ok(None),
            Some(Kind::Bool(flag)) => Ok(Some(flag)),
            Some(_) => Err(self.error(key, "expected a boolean (true or false)")),
        }
    }

    /// A FHIR `decimal`.
    pub(crate) fn decimal(&self, key: &str) -> Read<Option<f64>> {
        match self.get(key)?.map(kind) {
            None => Ok(None),
            Some(Kind::Number(number)) => Ok(number.as_f64()),
            Some(_) => Err(self.error(key, "expected a number")),
        }
    }

    /// A FHIR `integer` (signed 32-bit).
    pub(crate) fn integer(&self, key: &str) -> Read<Option<i64>> {
        match self.get(key)? {
            None => Ok(None),
            Some(value) => match value
                .as_i64()
                .filter(|number| i32::try_from(*number).is_ok())
            {
                Some(number) => Ok(Some(number)),
                None => {
                    Err(self.error(key, format!("expected an integer, found {}", shown(value))))
                }
            },
        }
    }

    /// A FHIR `unsignedInt` (0 or more).
    pub(crate) fn unsigned(&self, key: &str) -> Read<Option<u32>> {
        match self.integer(key)? {
            None => Ok(None),
            Some(number) => u32::try_from(number)
                .map(Some)
                .map_err(|_| self.error(key, format!("{number} is below 0"))),
        }
    }

    /// A FHIR `positiveInt` (1 or more).
    pub(crate) fn positive(&self, key: &str) -> Read<Option<u32>> {
        match self.unsigned(key)? {
            Some(0) => Err(self.error(key, "0 is not a positive integer")),
            other => Ok(other),
        }
    }

    /// An array of FHIR strings.
    pub(crate) fn strings(&self, key: &str) -> Read<Vec<String>> {
        let Some(value) = self.get(key)? else {
            return Ok(Vec::new());
        };
        let Kind::Array(items) = kind(value) else {
            return Err(self.error(key, "expected an array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| match kind(item) {
                Kind::String(text) if !text.is_empty() => Ok(text.to_owned()),
                _ => Err(self.error(&format!("{key}[{index}]"), "expected a non-empty string")),
            })
            .collect()
    }

    /// A single element `key` that is a JSON object.
    pub(crate) fn object(&self, key: &str) -> Read<Option<Node<'a>>> {
        match self.get(key)?.map(kind) {
            None => Ok(None),
            Some(Kind::Object(obj)) => Ok(Some(self.child(obj, self.path_of(key)))),
            Some(Kind::Array(_)) => Err(self.error(key, "expected an object, not an array")),
            Some(_) => Err(self.error(key, "expected an object")),
        }
    }

    /// A repeating element `key`: a JSON array of objects.
    pub(crate) fn objects(&self, key: &str) -> Read<Vec<Node<'a>>> {
        let items = match self.get(key)?.map(kind) {
            None => return Ok(Vec::new()),
            Some(Kind::Array(items)) => items,
            Some(_) => {
                return Err(self.error(
                    key,
                    "expected an array (FHIR JSON writes repeating elements as arrays)",
                ));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = format!("{}[{index}]", self.path_of(key));
                match kind(item) {
                    Kind::Object(obj) => Ok(self.child(obj, path)),
                    _ => Err(self.error_at(path, "expected an object")),
                }
            })
            .collect()
    }

    fn child(&self, obj: &'a Object, path: String) -> Node<'a> {
        Node {
            obj,
            path,
            place: self.place,
        }
    }

    /// Reads each element of repeating `key` with `read`.
    pub(crate) fn each<T>(&self, key: &str, read: impl Fn(&Node<'a>) -> Read<T>) -> Read<Vec<T>> {
        self.objects(key)?.iter().map(read).collect()
    }

    /// Reads single element `key` with `read`.
    pub(crate) fn one<T>(&self, key: &str, read: impl Fn(&Node<'a>) -> Read<T>) -> Read<Option<T>> {
        self.object(key)?.as_ref().map(read).transpose()
    }

    /// The resource's `id`, checked to be a FHIR id.
    pub(crate) fn resource_id(&self) -> Read<Option<String>> {
        self.id("id")
    }
}

#[cfg(test)]
#[path = "elements_tests.rs"]
mod tests;
