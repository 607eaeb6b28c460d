//! NDJSON import files, one resource per line, and telling them apart from a JSON document.

use crate::json::{JsonValueTrait, Kind, Limits, ParseError, ScanError, Value, kind};

use crate::error::{ImportError, shown};
use crate::types::is_r4_resource_type;

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
