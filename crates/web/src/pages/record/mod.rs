//! The health record pages: summary, medications, test results (list, one result with its
//! trend, release of held results), visits and documents. The application layer decides and
//! audits; these modules turn its items into words for the templates. The words every page
//! shares (dates, numbers, values, ranges, flags) are here; each page lives in its own module.

mod documents;
mod download;
mod results;
mod summary;
mod visits;

pub use documents::{documents, download};
pub use download::{download_bundle, download_choice, download_summary};
pub use results::{filter_results, release, result, results};
pub(crate) use summary::{medication_line, medications_page};
pub use summary::{medications, summary};
pub use visits::{visit, visits};

use crate::AppState;
use crate::error::{IdPath, PageError, PageResult};
use crate::layout::{Nav, Page, render};
use crate::pages::banner::Banner;
use crate::pages::words::{
    DIASTOLIC, Dates, SYSTOLIC, basis_words, blood_pressure, decimals_of, medication_name,
    name_words, place_name, rounded, short_test_name, tests_named, unit_for_people, vaccine_name,
};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use crate::trend::{Band, Point, trend_svg};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::auth::CurrentUser;
use portal_app::record::{Item, ResultFilter, ResultLine, SavedResultFilter};
use portal_domain::Action;
use portal_domain::record::{
    Flag, FluVaccine, ItemKind, flu_vaccine, is_active_condition, is_active_medication,
};
use portal_domain::{PatientId, ResourceId, Role};
use portal_fhir::Mapped;
use portal_fhir::model::{Concept, ObservationValue, Occurrence, Quantity, ReferenceRange};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The health record's pages.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/record",
        access: Access::Patient(Action::ViewRecord),
        serve: || get(summary),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/medications",
        access: Access::Patient(Action::ViewRecord),
        serve: || get(medications),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/results",
        access: Access::Patient(Action::ViewRecord),
        serve: || get(results),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/results",
        access: Access::PatientItem(Action::ViewRecord),
        serve: || post(filter_results),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/results/{item}",
        access: Access::PatientItem(Action::ViewRecord),
        serve: || get(result),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/results/{item}/release",
        access: Access::PatientItem(Action::ReleaseResult),
        serve: || post(release),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/visits",
        access: Access::Patient(Action::ViewNotes),
        serve: || get(visits),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/visits/{item}",
        access: Access::PatientItem(Action::ViewNotes),
        serve: || get(visit),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/documents",
        access: Access::Patient(Action::ViewNotes),
        serve: || get(documents),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/download",
        access: Access::Patient(Action::ViewRecord),
        serve: || get(download_choice),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/download/record.json",
        access: Access::Patient(Action::ViewRecord),
        serve: || get(download_bundle),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/download/summary",
        access: Access::Patient(Action::ViewRecord),
        serve: || get(download_summary),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/download/send",
        access: Access::Patient(Action::Export),
        serve: || post(download::send_copy),
    },
    Route {
        method: "GET",
        path: "/shared/{token}",
        access: Access::Public,
        serve: || get(download::shared_form),
    },
    Route {
        method: "POST",
        path: "/shared/{token}",
        access: Access::Public,
        serve: || post(download::shared_open),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/documents/{item}",
        access: Access::PatientItem(Action::ViewNotes),
        serve: || get(download),
    },
];

/// The two ids of a record item's path, checked: a patient id and a resource id (a UUID).
pub struct ItemPath {
    /// The patient.
    pub patient: PatientId,
    /// The item's resource id.
    pub item: ResourceId,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ItemPath {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let not_found = || PageError(portal_app::Error::NotFound).into_response();
        let Path((patient, item)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        let patient = patient.parse().map_err(|_| not_found())?;
        let item = item.parse().map_err(|_| not_found())?;
        Ok(ItemPath { patient, item })
    }
}

fn page(title: &str, user: &CurrentUser, nav: Nav, patient: PatientId) -> Page {
    let nav = if user.role == Role::Patient {
        nav
    } else {
        Nav::Patients
    };
    Page::signed_in(title, user, nav, Some(patient))
}

/// Whether the page speaks to the patient (or their proxy) rather than to the clinic's staff.
fn speaks_to_patient(user: &CurrentUser) -> bool {
    user.role == Role::Patient
}

/// A number without needless decimals (three significant figures at most).
pub fn number(value: f64) -> String {
    rounded(value, None)
}

/// A quantity in words; `decimals` is the precision of the reference range it is read against.
fn quantity_with(q: &Quantity, decimals: Option<usize>) -> String {
    let mut out = String::new();
    if let Some(c) = &q.comparator {
        out.push_str(portal_fhir::CodeSet::code(*c));
        out.push(' ');
    }
    match q.value {
        Some(v) => out.push_str(&rounded(v, decimals)),
        None => out.push('?'),
    }
    if let Some(unit) = q.unit.as_deref().or(q.code.as_deref()) {
        let unit = unit_for_people(unit);
        if !unit.is_empty() {
            out.push(' ');
            out.push_str(&unit);
        }
    }
    out
}

fn quantity(q: &Quantity) -> String {
    quantity_with(q, None)
}

/// A coded concept in words; one the sender named only by code says so.
fn concept(c: &Concept) -> String {
    name_words(&c.label()).unwrap_or_else(|| "not named by the clinic".into())
}

/// The decimals a reference range is written with, if there is a range with numbers.
fn range_decimals(ranges: &[ReferenceRange]) -> Option<usize> {
    let range = ranges.first()?;
    [&range.low, &range.high]
        .into_iter()
        .flatten()
        .filter_map(|q| q.value)
        .map(decimals_of)
        .max()
}

/// A result's value in words, rounded to the precision of its reference range.
pub fn value_text(value: Option<&ObservationValue>, ranges: &[ReferenceRange]) -> String {
    let decimals = range_decimals(ranges);
    match value {
        None => String::new(),
        Some(ObservationValue::Quantity(q)) => quantity_with(q, decimals),
        Some(ObservationValue::Concept(c)) => concept(c),
        Some(ObservationValue::String(s)) => s.clone(),
        Some(ObservationValue::Boolean(b)) => if *b { "Yes" } else { "No" }.into(),
        Some(ObservationValue::Integer(n)) => n.to_string(),
        Some(ObservationValue::Range(r)) => format!(
            "{} to {}",
            r.low.as_ref().map(quantity).unwrap_or_default(),
            r.high.as_ref().map(quantity).unwrap_or_default()
        ),
        Some(ObservationValue::Ratio(r)) => format!(
            "{} : {}",
            r.numerator.as_ref().map(quantity).unwrap_or_default(),
            r.denominator.as_ref().map(quantity).unwrap_or_default()
        ),
        Some(ObservationValue::SampledData(_)) => "A recorded trace (not shown here)".into(),
        Some(ObservationValue::Time(t)) | Some(ObservationValue::DateTime(t)) => t.clone(),
        Some(ObservationValue::Period(p)) => format!(
            "{} to {}",
            p.start.as_deref().unwrap_or("?"),
            p.end.as_deref().unwrap_or("?")
        ),
        Some(ObservationValue::Absent(reason)) => format!("No value: {}", concept(reason)),
    }
}

/// The reference range in words ("70–99 mg/dL", "below 200 mg/dL").
pub fn range_text(ranges: &[ReferenceRange]) -> String {
    let Some(range) = ranges.first() else {
        return String::new();
    };
    if let Some(text) = &range.text {
        return text.clone();
    }
    let decimals = range_decimals(ranges);
    match (&range.low, &range.high) {
        (Some(low), Some(high)) => format!(
            "{}–{}",
            low.value.map(|v| rounded(v, decimals)).unwrap_or_default(),
            quantity_with(high, decimals)
        ),
        (Some(low), None) => format!("{} or more", quantity_with(low, decimals)),
        (None, Some(high)) => format!("up to {}", quantity_with(high, decimals)),
        (None, None) => String::new(),
    }
}

/// A blood pressure sent as one Observation with a systolic and a diastolic component, as one
/// reading ("92/78 mmHg").
fn blood_pressure_of(o: &portal_fhir::model::ObservationData) -> Option<String> {
    let number = |code: &str| {
        o.components.iter().find_map(|c| {
            let has_code = c.code.has_code(LOINC, code);
            match &c.value {
                Some(ObservationValue::Quantity(q)) if has_code => q
                    .value
                    .map(|v| (v, q.unit.clone().or(q.code.clone()).unwrap_or_default())),
                _ => None,
            }
        })
    };
    let (systolic, unit) = number(SYSTOLIC)?;
    let (diastolic, _) = number(DIASTOLIC)?;
    Some(blood_pressure(systolic, diastolic, &unit))
}

/// LOINC's system URI.
const LOINC: &str = "http://loinc.org";

/// An Observation's value and reference range in words. A panel of components (blood
/// pressure, or any other) is shown together on one line.
pub fn observation_words(o: &portal_fhir::model::ObservationData) -> (String, String) {
    if o.value.is_none() && !o.components.is_empty() {
        if let Some(reading) = blood_pressure_of(o) {
            return (reading, String::new());
        }
        let value = o
            .components
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    component_name(&c.code),
                    value_text(c.value.as_ref(), &c.reference_ranges)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let range = o
            .components
            .iter()
            .filter_map(|c| {
                let r = range_text(&c.reference_ranges);
                (!r.is_empty()).then(|| format!("{} {r}", component_name(&c.code)))
            })
            .collect::<Vec<_>>()
            .join(", ");
        return (value, range);
    }
    (
        value_text(o.value.as_ref(), &o.reference_ranges),
        range_text(&o.reference_ranges),
    )
}

/// A component's name: the short name when the catalogue has one.
fn component_name(code: &Concept) -> String {
    code.codings
        .iter()
        .find_map(|c| short_test_name(c.system.as_deref().unwrap_or_default(), c.code.as_deref()?))
        .map(str::to_string)
        .unwrap_or_else(|| concept(code))
}

/// The flag in words and the class that styles it; never colour alone (the words are shown).
pub fn flag_words(flag: Flag) -> (&'static str, &'static str) {
    let class = match flag.severity() {
        3 => "flag critical",
        2 => "flag abnormal",
        1 => "flag normal",
        _ => "",
    };
    (flag.words(), class)
}

fn occurrence(dates: &Dates, o: Option<&Occurrence>) -> String {
    match o {
        None => String::new(),
        Some(Occurrence::DateTime(d)) => dates.fhir(d),
        Some(Occurrence::Period(p)) => match (&p.start, &p.end) {
            (Some(s), Some(e)) => {
                let (s, e) = (dates.fhir(s), dates.fhir(e));
                if s == e { s } else { format!("{s} to {e}") }
            }
            (Some(s), None) => format!("since {}", dates.fhir(s)),
            (None, Some(e)) => format!("until {}", dates.fhir(e)),
            (None, None) => String::new(),
        },
        Some(Occurrence::Age(q)) => format!("at age {}", quantity(q)),
        Some(Occurrence::Range(r)) => format!(
            "between ages {} and {}",
            r.low.as_ref().map(quantity).unwrap_or_default(),
            r.high.as_ref().map(quantity).unwrap_or_default()
        ),
        Some(Occurrence::Text(t)) | Some(Occurrence::Timing(t)) => t.clone(),
        Some(Occurrence::Ended) => "ended".into(),
    }
}

/// One line of a list.
pub struct Line {
    /// What it is.
    pub title: String,
    /// Details in words.
    pub detail: String,
    /// When.
    pub when: String,
    /// Where it opens, if it has a page.
    pub href: Option<String>,
}

/// What an item is called when the clinic sent no name for it: never a bare "not named".
fn nameless(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Encounter => "A visit (no type sent by the clinic)",
        ItemKind::Condition => "A problem (no name sent by the clinic)",
        ItemKind::Allergy => "An allergy (no substance named by the clinic)",
        ItemKind::MedicationRequest => "A medication (no name sent by the clinic)",
        ItemKind::Immunization => "A vaccine (no name sent by the clinic)",
        ItemKind::Observation => "A result (no test name sent by the clinic)",
        ItemKind::DiagnosticReport => "A report (no name sent by the clinic)",
        ItemKind::Document => "A document (no title sent by the clinic)",
        ItemKind::Procedure => "A procedure (no name sent by the clinic)",
        ItemKind::CarePlan => "A care plan (no name sent by the clinic)",
        ItemKind::CareTeam => "A care team (no name sent by the clinic)",
    }
}

/// An item's name on lists: the short name people know a test by, a drug without registry
/// prefixes, any other name without terminology tags.
fn label(item: &Item) -> String {
    if ItemKind::RESULTS.contains(&item.columns.kind)
        && let Some(short) = short_test_name(&item.columns.code_system, &item.columns.code)
    {
        return short.to_string();
    }
    full_label(item)
}

/// An item's full name as the record sends it (without terminology tags).
fn full_label(item: &Item) -> String {
    match name_words(&item.columns.label) {
        Some(name) if item.columns.kind == ItemKind::MedicationRequest => medication_name(&name),
        Some(name) => name,
        None => nameless(item.columns.kind).to_string(),
    }
}

/// Who recorded or saw to an item, as people write the name (never an internal code).
fn who(item: &Item) -> Option<String> {
    item.who_name.as_deref().and_then(place_name)
}

/// Where an item happened, as people write the place (never an internal code).
fn place(item: &Item) -> Option<String> {
    item.where_name.as_deref().and_then(place_name)
}

fn joined(parts: Vec<String>) -> String {
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The mark on what the patient cannot see yet (only the care team sees held items).
const HELD_WORDS: &str = "Held: not yet visible to the patient";

/// What a result released before the rest of its panel says about the rest.
const PENDING_PANEL_WORDS: &str = "More results from this panel are pending review.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_drop_needless_decimals() {
        assert_eq!(number(5.0), "5");
        assert_eq!(number(5.25), "5.25");
        assert_eq!(number(0.1234), "0.123");
        assert_eq!(number(16.907), "16.9");
        assert_eq!(number(-0.0001), "0");
    }

    #[test]
    fn flags_are_words_not_only_colours() {
        assert_eq!(flag_words(Flag::High), ("High", "flag abnormal"));
        assert_eq!(
            flag_words(Flag::CriticalLow),
            ("Critically low", "flag critical")
        );
        assert_eq!(flag_words(Flag::None), ("", ""));
    }

    #[test]
    fn ranges_read_naturally() {
        let q = |v: f64| Quantity {
            value: Some(v),
            unit: Some("mg/dL".into()),
            ..Quantity::default()
        };
        let both = ReferenceRange {
            low: Some(q(70.0)),
            high: Some(q(99.0)),
            ..ReferenceRange::default()
        };
        assert_eq!(range_text(&[both]), "70–99 mg/dL");
        let high = ReferenceRange {
            high: Some(q(200.0)),
            ..ReferenceRange::default()
        };
        assert_eq!(range_text(&[high]), "up to 200 mg/dL");
        assert_eq!(range_text(&[]), "");
    }
}
