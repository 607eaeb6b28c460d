//! FHIR R4 (4.0.1) JSON for the patient portal: what `portal import` reads.
//!
//! - [`parse_bundle`] reads a transaction, batch or collection Bundle, [`parse_ndjson_line`] one
//!   line of NDJSON, and [`detect`] tells the two kinds of file apart.
//! - [`map_resource`] checks one resource and maps it into plain structs ([`Mapped`]): Patient,
//!   Practitioner, Organization, Location, Encounter, Condition, AllergyIntolerance, Medication,
//!   MedicationRequest, Immunization, Observation, DiagnosticReport, DocumentReference,
//!   Procedure, CarePlan and CareTeam; any other R4 type is [`Mapped::Unmapped`]. The caller
//!   keeps each resource's original JSON ([`Entry::resource`]) beside what is mapped.
//! - [`collect_references`] lists every reference a resource holds, as a [`Reference`] the
//!   importer can resolve; [`Bundle::check_references`] checks those that must resolve inside
//!   the Bundle.
//! - Every rejection is an [`ImportError`] naming the entry (or line), the resource type and the
//!   element path, e.g. `entry 12 (Observation): Observation.effectiveDateTime: "2020-13-45" is
//!   not a FHIR dateTime`.
//!
//! - [`projection`] reads what the record pages list of a resource (its kind, category, code,
//!   label, status, time, abnormal flag and confidential category) in the domain's terms;
//!   [`compartment`] tells whose record a resource is in and who and where it is from.
//!
//! - [`communication`] maps secure messages to `Communication` resources for the read API;
//!   [`questionnaire`] maps check-in answers to `QuestionnaireResponse`.
//! - [`scheduling`] maps appointments, open times and schedules to `Appointment`, `Slot` and
//!   `Schedule` resources for the read API.
//!
//! No database, no HTTP, no async: bytes and JSON in, checked data out.

#![warn(missing_docs)]

pub mod bundle;
pub mod codes;
pub mod communication;
pub mod compartment;
pub mod entry;
pub mod error;
pub mod json;
pub mod map;
pub mod model;
pub mod ndjson;
pub mod primitives;
pub mod projection;
pub mod questionnaire;
pub mod refill;
pub mod refs;
pub mod scheduling;
pub mod search;
pub mod serve;
pub mod types;

pub use bundle::{
    Bundle, BundleKind, BundleText, Entry, InputKind, Method, Request, check_entry_references,
    detect, open_bundle, parse_bundle, parse_bundle_limited, parse_ndjson_line,
    parse_ndjson_line_limited, repeated_full_url,
};
pub use codes::CodeSet;
pub use error::ImportError;
pub use json::Limits;
pub use map::{MAPPED_TYPES, Mapped, map_resource};
pub use primitives::to_instant_micros;
pub use refs::{IdentifierSearch, Reference, collect_references, parse_reference};
pub use types::{R4_RESOURCE_TYPES, is_r4_resource_type, r4_resource_type};
