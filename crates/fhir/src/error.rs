//! The one error of this crate: why an input cannot be imported, and where in it.

/// Why a FHIR input was rejected, naming the entry (or NDJSON line), resource type and element.
///
/// Displayed as `entry 12 (Observation): Observation.effectiveDateTime: "2020-13-45" is not a
/// FHIR dateTime`; parts that are `None` or empty are left out, so an error about the whole
/// document reads as its message alone (`not JSON: expected value at line 1 column 1`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ImportError {
    /// Index of the Bundle entry (0-based, as in `Bundle.entry[N]`), if the error is in one.
    pub entry: Option<usize>,
    /// Line number (1-based) of an NDJSON input, if the error is on one.
    pub line: Option<usize>,
    /// The `resourceType` of the resource at fault, when it is known.
    pub resource_type: Option<String>,
    /// FHIRPath-like element path, e.g. `Observation.component[1].valueQuantity.value`.
    pub path: String,
    /// What is wrong, in words a person importing the file can act on.
    pub message: String,
}

impl ImportError {
    /// An error about the document as a whole (not JSON, not a Bundle, ...).
    pub fn document(message: impl Into<String>) -> Self {
        Self {
            entry: None,
            line: None,
            resource_type: None,
            path: String::new(),
            message: message.into(),
        }
    }

    /// An error at an element `path` of a resource, in Bundle entry `entry` if there is one.
    pub fn at(
        entry: Option<usize>,
        resource_type: Option<&str>,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            entry,
            line: None,
            resource_type: resource_type.map(str::to_owned),
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error, placed on NDJSON line `line` (1-based) instead of a Bundle entry.
    #[must_use]
    pub fn on_line(mut self, line: usize) -> Self {
        self.entry = None;
        self.line = Some(line);
        self
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let position = match (self.entry, self.line) {
            (Some(entry), _) => Some(format!("entry {entry}")),
            (None, Some(line)) => Some(format!("line {line}")),
            (None, None) => None,
        };
        match (position, self.resource_type.as_deref()) {
            (Some(position), Some(resource_type)) => {
                out.push_str(&format!("{position} ({resource_type}): "));
            }
            (Some(position), None) => out.push_str(&format!("{position}: ")),
            // Outside a Bundle the path usually starts with the type already; say it only once.
            (None, Some(resource_type)) if !self.path.starts_with(resource_type) => {
                out.push_str(&format!("{resource_type}: "));
            }
            (None, _) => {}
        }
        if !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// Shows a JSON value inside a message: quoted and escaped as in the file, cut short if long.
pub(crate) fn shown(value: &crate::json::Value) -> String {
    const LIMIT: usize = 80;
    let text = crate::json::to_string(value);
    if text.chars().count() <= LIMIT {
        return text;
    }
    let cut: String = text.chars().take(LIMIT).collect();
    format!("{cut}…")
}

/// Shows a string inside a message the way [`shown`] shows a JSON string.
pub(crate) fn shown_str(text: &str) -> String {
    shown(&crate::json::string(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_error_names_entry_type_path_and_message() {
        let error = ImportError::at(
            Some(12),
            Some("Observation"),
            "Observation.effectiveDateTime",
            "\"2020-13-45\" is not a FHIR dateTime",
        );
        assert_eq!(
            error.to_string(),
            "entry 12 (Observation): Observation.effectiveDateTime: \"2020-13-45\" is not a FHIR dateTime"
        );
    }

    #[test]
    fn document_error_is_only_its_message() {
        let error = ImportError::document("not JSON: expected value at line 1 column 1");
        assert_eq!(
            error.to_string(),
            "not JSON: expected value at line 1 column 1"
        );
    }

    #[test]
    fn entry_error_without_known_type_leaves_out_the_parentheses() {
        let error = ImportError::at(
            Some(3),
            None,
            "Bundle.entry.resource",
            "required element missing",
        );
        assert_eq!(
            error.to_string(),
            "entry 3: Bundle.entry.resource: required element missing"
        );
    }

    #[test]
    fn ndjson_error_names_the_line() {
        let error = ImportError::at(
            None,
            Some("Patient"),
            "Patient.birthDate",
            "\"1990-02-30\" is not a FHIR date",
        )
        .on_line(7);
        assert_eq!(
            error.to_string(),
            "line 7 (Patient): Patient.birthDate: \"1990-02-30\" is not a FHIR date"
        );
    }

    #[test]
    fn lone_resource_error_does_not_repeat_the_type() {
        let error = ImportError::at(
            None,
            Some("Observation"),
            "Observation.status",
            "expected a string",
        );
        assert_eq!(error.to_string(), "Observation.status: expected a string");
        let other = ImportError::at(None, Some("Observation"), "", "unknown resource");
        assert_eq!(other.to_string(), "Observation: unknown resource");
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(200);
        let text = shown_str(&long);
        assert!(text.starts_with("\"xxx"));
        assert!(text.ends_with('…'));
        assert_eq!(text.chars().count(), 81);
    }
}
