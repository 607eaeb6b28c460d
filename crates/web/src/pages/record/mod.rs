//! The health record pages: summary, medications, test results (list, one result with its
//! trend, release of held results), visits and documents. The application layer decides and
//! audits; these modules turn its items into words for the templates. The words every page
//! shares (dates, numbers, values, ranges, flags) are here; each page lives in its own module.

mod documents;
mod results;
mod summary;
mod visits;

pub use documents::{documents, download};
pub use results::{filter_results, release, result, results};
pub use summary::{medications, summary};
pub use visits::{visit, visits};

use crate::AppState;
use crate::error::{IdPath, PageError, PageResult};
use crate::layout::{Nav, Page, render};
use crate::pages::words::{basis_words, plain_name, unit_for_people};
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
use portal_app::record::{Item, ResultFilter, ResultLine};
use portal_app::types::PatientRow;
use portal_domain::Action;
use portal_domain::record::{
    Flag, FluVaccine, ItemKind, flu_vaccine, is_active_condition, is_active_medication,
};
use portal_domain::{PatientId, ResourceId, Role};
use portal_fhir::Mapped;
use portal_fhir::model::{Concept, ObservationValue, Occurrence, Quantity, ReferenceRange};
use serde::Deserialize;
use std::collections::HashSet;

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

/// A date for people (UTC): `2024-03-05`.
pub fn date_of(micros: Option<i64>) -> String {
    micros
        .and_then(|at| jiff::Timestamp::from_microsecond(at).ok())
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "Date not recorded".into())
}

/// A number without needless decimals.
pub fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

fn quantity(q: &Quantity) -> String {
    let mut out = String::new();
    if let Some(c) = &q.comparator {
        out.push_str(portal_fhir::CodeSet::code(*c));
        out.push(' ');
    }
    match q.value {
        Some(v) => out.push_str(&number(v)),
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

fn concept(c: &Concept) -> String {
    let label = c.label();
    if label.is_empty() {
        "Not named in the record".into()
    } else {
        plain_name(&label)
    }
}

/// A result's value in words.
pub fn value_text(value: Option<&ObservationValue>) -> String {
    match value {
        None => String::new(),
        Some(ObservationValue::Quantity(q)) => quantity(q),
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
    match (&range.low, &range.high) {
        (Some(low), Some(high)) => format!(
            "{}–{}",
            low.value.map(number).unwrap_or_default(),
            quantity(high)
        ),
        (Some(low), None) => format!("{} or more", quantity(low)),
        (None, Some(high)) => format!("up to {}", quantity(high)),
        (None, None) => String::new(),
    }
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

fn occurrence(o: Option<&Occurrence>) -> String {
    match o {
        None => String::new(),
        Some(Occurrence::DateTime(d)) => d.get(..10).unwrap_or(d).to_string(),
        Some(Occurrence::Period(p)) => match (&p.start, &p.end) {
            (Some(s), Some(e)) => {
                let (s, e) = (s.get(..10).unwrap_or(s), e.get(..10).unwrap_or(e));
                if s == e {
                    s.to_string()
                } else {
                    format!("{s} to {e}")
                }
            }
            (Some(s), None) => format!("since {}", s.get(..10).unwrap_or(s)),
            (None, Some(e)) => format!("until {}", e.get(..10).unwrap_or(e)),
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

fn label(item: &Item) -> String {
    if item.columns.label.is_empty() {
        "Not named in the record".into()
    } else {
        plain_name(&item.columns.label)
    }
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
