//! Results and notes: Observation, DiagnosticReport, DocumentReference.

use serde::{Deserialize, Serialize};

use super::{Attachment, Concept, Identifier, Occurrence, Period, Quantity, Range, Ratio};
use crate::codes::{
    CompositionStatus, DiagnosticReportStatus, DocumentReferenceStatus, ObservationStatus,
};
use crate::refs::Reference;

/// The result of an observation or of one of its components (`value[x]`), or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ObservationValue {
    /// A measured amount with its unit.
    Quantity(Quantity),
    /// A coded answer (e.g. "Never smoked tobacco").
    Concept(Concept),
    /// Text.
    String(String),
    /// Yes or no.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A range.
    Range(Range),
    /// A ratio (e.g. a titre).
    Ratio(Ratio),
    /// Sampled data (an ECG trace...), kept as its JSON text.
    SampledData(String),
    /// A time of day.
    Time(String),
    /// A date-time.
    DateTime(String),
    /// A span of time.
    Period(Period),
    /// No value, for this reason (`dataAbsentReason`).
    Absent(Concept),
}

/// What a result is compared with (`Observation.referenceRange`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRange {
    /// Lower limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<Quantity>,
    /// Upper limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<Quantity>,
    /// Normal, recommended, therapeutic, ... (`type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Concept>,
    /// Which population it applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applies_to: Vec<Concept>,
    /// The age range it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age: Option<Range>,
    /// The range in words (e.g. "Negative").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// One part of a multi-part observation, such as the systolic of a blood pressure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Component {
    /// What the part measures (required).
    pub code: Concept,
    /// Its value, or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ObservationValue>,
    /// High, low, abnormal, ... flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<Concept>,
    /// What its value is compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_ranges: Vec<ReferenceRange>,
}

/// A mapped `Observation`: a lab result, vital sign, social history item or survey answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the result stands (final, amended, ...).
    pub status: ObservationStatus,
    /// laboratory, vital-signs, social-history, survey, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// What was observed (required).
    pub code: Concept,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// The encounter it was made in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performers: Vec<Reference>,
    /// When it applies to (`effective[x]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Occurrence>,
    /// Sort key of `effective` (see [`crate::to_instant_micros`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_sort: Option<i64>,
    /// When it was released (a FHIR instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// The value, or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ObservationValue>,
    /// High, low, abnormal, ... flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<Concept>,
    /// What the value is compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_ranges: Vec<ReferenceRange>,
    /// Parts (the systolic and diastolic of a blood pressure, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Component>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Body site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_site: Option<Concept>,
    /// How it was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Concept>,
    /// The specimen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specimen: Option<Reference>,
    /// Observations grouped under this one (`hasMember`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub has_members: Vec<Reference>,
    /// Observations this one was derived from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Reference>,
}

/// A mapped `DiagnosticReport`: a lab panel or imaging report, with its result observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticReportData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the report stands.
    pub status: DiagnosticReportStatus,
    /// Laboratory, radiology, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// What the report is (required).
    pub code: Concept,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// The encounter it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective: Option<Occurrence>,
    /// Sort key of `effective`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_sort: Option<i64>,
    /// When it was released (a FHIR instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<String>,
    /// Who is responsible for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performers: Vec<Reference>,
    /// Who interpreted the results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results_interpreters: Vec<Reference>,
    /// The result Observations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<Reference>,
    /// The conclusion in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    /// The conclusion as codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conclusion_codes: Vec<Concept>,
    /// The report as presented (text decoded when `text/*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presented_forms: Vec<Attachment>,
}

/// A mapped `DocumentReference`: a clinical note or other document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentReferenceData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// current, superseded or entered-in-error.
    pub status: DocumentReferenceStatus,
    /// The document's own status (preliminary, final, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_status: Option<CompositionStatus>,
    /// The kind of document (progress note, discharge summary, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<Concept>,
    /// Categories (clinical note, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// When the reference was made (a FHIR instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Sort key of `date`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_sort: Option<i64>,
    /// Who wrote it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<Reference>,
    /// Who vouched for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticator: Option<Reference>,
    /// The organization that keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custodian: Option<Reference>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The encounters it is about (`context.encounter`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encounters: Vec<Reference>,
    /// The time it covers (`context.period`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// The content (at least one): text decoded, binary kept in the raw JSON only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<Attachment>,
}
