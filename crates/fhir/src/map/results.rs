//! Mapping Observation, DiagnosticReport and DocumentReference, with their values, ranges and
//! attachments.

use super::datatypes::read_concept;
use super::elements::{Node, Read};
use crate::model::{
    Attachment, Component, DiagnosticReportData, DocumentReferenceData, ObservationData,
    ObservationValue, Occurrence, ReferenceRange,
};
use crate::primitives::{decode_base64, to_instant_micros};

/// The types `Observation.value[x]` and `Observation.component.value[x]` may take.
const VALUE_TYPES: [&str; 11] = [
    "Quantity",
    "CodeableConcept",
    "String",
    "Boolean",
    "Integer",
    "Range",
    "Ratio",
    "SampledData",
    "Time",
    "DateTime",
    "Period",
];

/// `value[x]`, or the `dataAbsentReason` that stands in for it (never both: obs-6).
fn read_value(node: &Node<'_>) -> Read<Option<ObservationValue>> {
    let value = match node.choice("value", &VALUE_TYPES)? {
        None => None,
        Some((kind, key)) => match kind {
            "Quantity" => node.quantity(key)?.map(ObservationValue::Quantity),
            "CodeableConcept" => node.concept(key)?.map(ObservationValue::Concept),
            "String" => node.string(key)?.map(ObservationValue::String),
            "Boolean" => node.boolean(key)?.map(ObservationValue::Boolean),
            "Integer" => node.integer(key)?.map(ObservationValue::Integer),
            "Range" => node.range(key)?.map(ObservationValue::Range),
            "Ratio" => node.ratio(key)?.map(ObservationValue::Ratio),
            "SampledData" => {
                node.object(key)?;
                node.get(key)?
                    .map(|raw| ObservationValue::SampledData(raw.to_string()))
            }
            "Time" => node.time(key)?.map(ObservationValue::Time),
            "DateTime" => node.date_time(key)?.map(ObservationValue::DateTime),
            _ => node.period(key)?.map(ObservationValue::Period),
        },
    };
    let absent = node.concept("dataAbsentReason")?;
    match (value, absent) {
        (Some(_), Some(_)) => Err(node.error(
            "dataAbsentReason",
            "only allowed when there is no value[x] (obs-6)",
        )),
        (Some(value), None) => Ok(Some(value)),
        (None, absent) => Ok(absent.map(ObservationValue::Absent)),
    }
}

fn read_reference_range(node: &Node<'_>) -> Read<ReferenceRange> {
    let range = ReferenceRange {
        low: node.quantity("low")?,
        high: node.quantity("high")?,
        kind: node.concept("type")?,
        applies_to: node.concepts("appliesTo")?,
        age: node.range("age")?,
        text: node.string("text")?,
    };
    if range.low.is_none() && range.high.is_none() && range.text.is_none() {
        return Err(node.error_here("needs a low, a high or a text (obs-3)"));
    }
    Ok(range)
}

pub(super) fn observation(node: &Node<'_>) -> Read<ObservationData> {
    let status = node.coded("status")?;
    let code = node.one("code", read_concept)?;
    let effective = node.occurrence("effective", &["DateTime", "Period", "Timing", "Instant"])?;
    Ok(ObservationData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        categories: node.concepts("category")?,
        code: node.required("code", code)?,
        subject: node.reference("subject")?,
        encounter: node.reference("encounter")?,
        performers: node.references("performer")?,
        effective_sort: effective.as_ref().and_then(Occurrence::sort_key),
        effective,
        issued: node.instant("issued")?,
        value: read_value(node)?,
        interpretation: node.concepts("interpretation")?,
        reference_ranges: node.each("referenceRange", read_reference_range)?,
        components: node.each("component", |node| {
            let code = node.one("code", read_concept)?;
            Ok(Component {
                code: node.required("code", code)?,
                value: read_value(node)?,
                interpretation: node.concepts("interpretation")?,
                reference_ranges: node.each("referenceRange", read_reference_range)?,
            })
        })?,
        notes: node.notes("note")?,
        body_site: node.concept("bodySite")?,
        method: node.concept("method")?,
        specimen: node.reference("specimen")?,
        has_members: node.references("hasMember")?,
        derived_from: node.references("derivedFrom")?,
    })
}

pub(super) fn diagnostic_report(node: &Node<'_>) -> Read<DiagnosticReportData> {
    let status = node.coded("status")?;
    let code = node.one("code", read_concept)?;
    let effective = node.occurrence("effective", &["DateTime", "Period"])?;
    Ok(DiagnosticReportData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        categories: node.concepts("category")?,
        code: node.required("code", code)?,
        subject: node.reference("subject")?,
        encounter: node.reference("encounter")?,
        effective_sort: effective.as_ref().and_then(Occurrence::sort_key),
        effective,
        issued: node.instant("issued")?,
        performers: node.references("performer")?,
        results_interpreters: node.references("resultsInterpreter")?,
        results: node.references("result")?,
        conclusion: node.string("conclusion")?,
        conclusion_codes: node.concepts("conclusionCode")?,
        presented_forms: node.each("presentedForm", read_attachment)?,
    })
}

pub(super) fn document_reference(node: &Node<'_>) -> Read<DocumentReferenceData> {
    let status = node.coded("status")?;
    let date = node.instant("date")?;
    let contents = node.each("content", |content| {
        content.coding("format")?;
        let attachment = content.one("attachment", read_attachment)?;
        content.required("attachment", attachment)
    })?;
    if contents.is_empty() {
        return Err(node.error("content", "required element missing"));
    }
    let context = node.object("context")?;
    let (encounters, period) = match &context {
        Some(context) => (context.references("encounter")?, context.period("period")?),
        None => (Vec::new(), None),
    };
    Ok(DocumentReferenceData {
        id: node.resource_id()?,
        identifiers: node.identifiers("identifier")?,
        status: node.required("status", status)?,
        doc_status: node.coded("docStatus")?,
        type_: node.concept("type")?,
        categories: node.concepts("category")?,
        subject: node.reference("subject")?,
        date_sort: date.as_deref().and_then(to_instant_micros),
        date,
        authors: node.references("author")?,
        authenticator: node.reference("authenticator")?,
        custodian: node.reference("custodian")?,
        description: node.string("description")?,
        encounters,
        period,
        contents,
    })
}

/// The text of `bytes` in the charset of a `text/*` content type; `None` for a charset this
/// crate does not decode. Invalid UTF-8 is an error.
fn decode_text(bytes: Vec<u8>, charset: Option<&str>) -> Result<Option<String>, &'static str> {
    match charset {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| "is not valid UTF-8 text"),
        Some("iso-8859-1" | "latin1" | "latin-1") => {
            Ok(Some(bytes.into_iter().map(char::from).collect()))
        }
        Some(_) => Ok(None),
    }
}

/// Reads an `Attachment`, decoding inline `text/*` data.
fn read_attachment(node: &Node<'_>) -> Read<Attachment> {
    let content_type = node.code("contentType")?;
    // Borrowed: inline data can take megabytes.
    let data = node.text("data")?;
    let mut attachment = Attachment {
        language: node.code("language")?,
        title: node.string("title")?,
        size: node.unsigned("size")?.map(u64::from),
        url: node.uri("url")?,
        creation: node.date_time("creation")?,
        ..Attachment::default()
    };
    if let Some(data) = data {
        // att-1: the receiver must know what the data is.
        let Some(content_type) = &content_type else {
            return Err(node.error("contentType", "required when there is data (att-1)"));
        };
        let Some(bytes) = decode_base64(data) else {
            return Err(node.error("data", "is not valid base64"));
        };
        attachment.size = attachment.size.or(u64::try_from(bytes.len()).ok());
        let lower = content_type.to_ascii_lowercase();
        let mut parts = lower.split(';').map(str::trim);
        let mime = parts.next().unwrap_or_default();
        let charset = parts
            .find_map(|part| part.strip_prefix("charset="))
            .map(|set| set.trim_matches('"'));
        if mime.starts_with("text/") {
            attachment.text = decode_text(bytes, charset)
                .map_err(|problem| node.error("data", format!("{mime} data {problem}")))?;
        }
        attachment.has_binary = attachment.text.is_none();
    }
    attachment.content_type = content_type;
    Ok(attachment)
}

#[cfg(test)]
#[path = "results_tests.rs"]
mod tests;
