//! The health record pages: summary, medications, test results (list, one result with its
//! trend, release of held results), visits and documents. The application layer decides and
//! audits; this module turns its items into words for the templates.

use crate::AppState;
use crate::error::{PageError, PageResult};
use crate::layout::{Nav, Page, render};
use crate::pages::patient::basis_words;
use crate::security::Ctx;
use crate::session::SignedIn;
use crate::trend::{Band, Point, trend_svg};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use portal_app::auth::CurrentUser;
use portal_app::record::{Item, ResultFilter, ResultLine};
use portal_app::types::PatientRow;
use portal_domain::record::{
    Flag, FluVaccine, ItemKind, flu_vaccine, is_active_condition, is_active_medication,
};
use portal_domain::{PatientId, ResourceId, Role};
use portal_fhir::Mapped;
use portal_fhir::model::{Concept, ObservationValue, Occurrence, Quantity, ReferenceRange};
use serde::Deserialize;
use std::collections::HashSet;

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
        out.push(' ');
        out.push_str(unit);
    }
    out
}

fn concept(c: &Concept) -> String {
    let label = c.label();
    if label.is_empty() {
        "Not named in the record".into()
    } else {
        label
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
    if item.label.is_empty() {
        "Not named in the record".into()
    } else {
        item.label.clone()
    }
}

fn joined(parts: Vec<String>) -> String {
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

fn condition_line(item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(Mapped::Condition(c)) = &item.details {
        if let Some(onset) = c.onset.as_ref() {
            parts.push(format!("Began {}", occurrence(Some(onset))));
        }
        if let Some(end) = c.abatement.as_ref() {
            parts.push(format!("Resolved {}", occurrence(Some(end))));
        }
        if let Some(v) = &c.verification_status {
            let v = v
                .codings
                .iter()
                .find_map(|coding| coding.code.clone())
                .unwrap_or_else(|| v.label());
            if v != "confirmed" && !v.is_empty() {
                parts.push(format!("Verification: {v}"));
            }
        }
    }
    if let Some(who) = &item.who_name {
        parts.push(format!("Recorded by {who}"));
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: date_of(item.sort_at),
        href: None,
    }
}

fn allergy_line(item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(Mapped::AllergyIntolerance(a)) = &item.details {
        for reaction in &a.reactions {
            let what = reaction
                .manifestations
                .iter()
                .map(concept)
                .collect::<Vec<_>>()
                .join(", ");
            let severity = reaction
                .severity
                .map(|s| format!(" ({})", portal_fhir::CodeSet::code(s)))
                .unwrap_or_default();
            if !what.is_empty() {
                parts.push(format!("Reaction: {what}{severity}"));
            }
        }
        if let Some(c) = a.criticality {
            parts.push(format!(
                "Risk: {}",
                criticality_words(portal_fhir::CodeSet::code(c))
            ));
        }
        if !a.categories.is_empty() {
            parts.push(
                a.categories
                    .iter()
                    .map(|c| portal_fhir::CodeSet::code(*c))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: date_of(item.sort_at),
        href: None,
    }
}

fn criticality_words(code: &str) -> &'static str {
    match code {
        "high" => "high",
        "low" => "low",
        _ => "unable to assess",
    }
}

fn medication_line(item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(Mapped::MedicationRequest(m)) = &item.details {
        for dosage in &m.dosages {
            let mut words = Vec::new();
            if let Some(dose) = &dosage.dose {
                words.push(quantity(dose));
            }
            if let Some(text) = dosage.text.as_ref().or(dosage.timing_text.as_ref()) {
                words.push(text.clone());
            }
            if dosage.as_needed == Some(true) {
                words.push("as needed".into());
            }
            if !words.is_empty() {
                parts.push(words.join(", "));
            }
        }
        if let Some(refills) = m.refills {
            parts.push(format!(
                "{refills} refill{} left",
                if refills == 1 { "" } else { "s" }
            ));
        }
    }
    if let Some(who) = &item.who_name {
        parts.push(format!("Prescribed by {who}"));
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: date_of(item.sort_at),
        href: None,
    }
}

/// Current and past medication lines.
fn medication_lines(items: &[Item]) -> (Vec<Line>, Vec<Line>) {
    let (current, past): (Vec<&Item>, Vec<&Item>) =
        items.iter().partition(|m| is_active_medication(&m.status));
    (
        current.into_iter().map(medication_line).collect(),
        past.into_iter().map(medication_line).collect(),
    )
}

fn vital_line(item: &Item) -> Line {
    let value = match &item.details {
        Some(Mapped::Observation(o)) if !o.components.is_empty() && o.value.is_none() => o
            .components
            .iter()
            .map(|c| format!("{} {}", concept(&c.code), value_text(c.value.as_ref())))
            .collect::<Vec<_>>()
            .join(", "),
        Some(Mapped::Observation(o)) => value_text(o.value.as_ref()),
        _ => String::new(),
    };
    Line {
        title: label(item),
        detail: value,
        when: date_of(item.sort_at),
        href: None,
    }
}

/// What is due, in words: the flu vaccine is the one due list the record supports on its own.
fn due_vaccines(immunizations: &[Item], now: jiff::Timestamp) -> Vec<String> {
    let given = immunizations.iter().map(|i| {
        (
            i.code.as_str(),
            i.sort_at
                .and_then(|at| jiff::Timestamp::from_microsecond(at).ok()),
        )
    });
    match flu_vaccine(given, now) {
        FluVaccine::Due { last_given } => vec![format!(
            "Flu vaccine: due (last given {}).",
            date_of(Some(last_given.as_microsecond()))
        )],
        FluVaccine::UpToDate => Vec::new(),
        FluVaccine::NoneRecorded => vec![
            "Flu vaccine: no flu vaccine is recorded here; ask your clinic whether one is due."
                .into(),
        ],
    }
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage {
    page: Page,
    patient: PatientRow,
    basis: Option<&'static str>,
    problems: Vec<Line>,
    past_problems: Vec<Line>,
    allergies: Vec<Line>,
    medications: Vec<Line>,
    past_medications: Vec<Line>,
    immunizations: Vec<Line>,
    due: Vec<String>,
    vitals: Vec<Line>,
    id: PatientId,
}

/// GET /patients/{id}/record: the health summary.
pub async fn summary(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
) -> PageResult {
    let (head, summary) = state.app.health_summary(&user.actor(ctx), id).await?;
    let (problems, past_problems): (Vec<&Item>, Vec<&Item>) = summary
        .conditions
        .iter()
        .partition(|c| is_active_condition(&c.status));
    let (medications, past_medications) = medication_lines(&summary.medications);
    Ok(render(&SummaryPage {
        page: page("Health summary", &user, Nav::Record, id),
        basis: basis_words(&head.access),
        problems: problems.into_iter().map(condition_line).collect(),
        past_problems: past_problems.into_iter().map(condition_line).collect(),
        allergies: summary.allergies.iter().map(allergy_line).collect(),
        medications,
        past_medications,
        due: due_vaccines(&summary.immunizations, state.app.now()),
        immunizations: summary
            .immunizations
            .iter()
            .map(|i| Line {
                title: label(i),
                detail: i
                    .where_name
                    .clone()
                    .map(|w| format!("At {w}"))
                    .unwrap_or_default(),
                when: date_of(i.sort_at),
                href: None,
            })
            .collect(),
        vitals: summary.vitals.iter().map(vital_line).collect(),
        patient: head.patient,
        id,
    }))
}

#[derive(Template)]
#[template(path = "medications.html")]
struct MedicationsPage {
    page: Page,
    patient: PatientRow,
    basis: Option<&'static str>,
    medications: Vec<Line>,
    past_medications: Vec<Line>,
}

/// GET /patients/{id}/medications: current and past medications.
pub async fn medications(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
) -> PageResult {
    let (head, items) = state.app.medications(&user.actor(ctx), id).await?;
    let (medications, past_medications) = medication_lines(&items);
    Ok(render(&MedicationsPage {
        page: page("Medications", &user, Nav::Record, id),
        basis: basis_words(&head.access),
        medications,
        past_medications,
        patient: head.patient,
    }))
}

/// The mark on what the patient cannot see yet (only the care team sees held items).
const HELD_WORDS: &str = "Held: not yet visible to the patient";

/// What a result released before the rest of its panel says about the rest.
const PENDING_PANEL_WORDS: &str = "More results from this panel are pending review.";

/// A line of the results list.
pub struct ResultRow {
    href: String,
    title: String,
    when: String,
    status: String,
    flag: &'static str,
    flag_class: &'static str,
    members: usize,
    unread: bool,
    held: bool,
    pending_panel: bool,
}

fn result_row(id: PatientId, line: &ResultLine) -> ResultRow {
    let (flag, flag_class) = flag_words(line.worst_flag);
    ResultRow {
        href: format!("/patients/{id}/results/{}", line.item.resource_id),
        title: label(&line.item),
        when: date_of(line.item.sort_at),
        status: status_words(&line.item.status),
        flag,
        flag_class,
        members: line.members,
        unread: line.unread,
        held: line.held,
        pending_panel: line.pending_panel,
    }
}

fn status_words(status: &str) -> String {
    match status {
        "final" => "Final".into(),
        "preliminary" => "Preliminary".into(),
        "amended" | "corrected" => "Corrected".into(),
        "registered" | "partial" => "In progress".into(),
        "cancelled" => "Cancelled".into(),
        "entered-in-error" => "Entered in error".into(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "results.html")]
struct ResultsPage {
    page: Page,
    patient: PatientRow,
    basis: Option<&'static str>,
    id: PatientId,
    rows: Vec<ResultRow>,
    name: String,
    from: String,
    to: String,
    filtered: bool,
    errors: Vec<(String, String)>,
    is_care_team: bool,
}

/// The results filter form.
#[derive(Deserialize, Default)]
pub struct FilterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn parse_day(
    text: &str,
    (id, field): (&str, &str),
    errors: &mut Vec<(String, String)>,
) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let day = text
        .parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| format!("{d}T00:00:00Z").parse::<jiff::Timestamp>().ok());
    match day {
        Some(t) => Some(t.as_microsecond()),
        None => {
            errors.push((id.into(), format!("{field}: enter a date as YYYY-MM-DD.")));
            None
        }
    }
}

async fn results_page(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    form: FilterForm,
) -> PageResult {
    let mut errors = Vec::new();
    if form.name.chars().count() > 100 {
        errors.push((
            "name".into(),
            "Test name: use at most 100 characters.".into(),
        ));
    }
    let from = parse_day(&form.from, ("from", "From"), &mut errors);
    let to = parse_day(&form.to, ("to", "To"), &mut errors).map(|t| t + 86_400_000_000);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        errors.push((
            "to".into(),
            "To: choose a date on or after the From date.".into(),
        ));
    }
    let filter = if errors.is_empty() {
        ResultFilter {
            name: form.name.clone(),
            from,
            until: to,
        }
    } else {
        ResultFilter::default()
    };
    let (head, lines) = state
        .app
        .test_results(&user.actor(ctx), id, &filter)
        .await?;
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    let is_care_team = user.role == Role::Clinician;
    Ok(crate::layout::render_status(
        status,
        &ResultsPage {
            page: page("Test results", &user, Nav::Results, id),
            basis: basis_words(&head.access),
            id,
            rows: lines.iter().map(|l| result_row(id, l)).collect(),
            filtered: filter != ResultFilter::default(),
            name: form.name,
            from: form.from,
            to: form.to,
            errors,
            is_care_team,
            patient: head.patient,
        },
    ))
}

/// GET /patients/{id}/results
pub async fn results(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
) -> PageResult {
    results_page(state, user, ctx, id, FilterForm::default()).await
}

/// POST /patients/{id}/results: the list filtered (a form post, so test names stay out of URLs).
pub async fn filter_results(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    crate::error::IdPath(id): crate::error::IdPath<PatientId>,
    Form(form): Form<FilterForm>,
) -> PageResult {
    results_page(state, user, ctx, id, form).await
}

/// A row of a report's results or of a result's history.
pub struct ValueRow {
    href: Option<String>,
    title: String,
    when: String,
    value: String,
    range: String,
    flag: &'static str,
    flag_class: &'static str,
    held: bool,
}

fn value_row(id: PatientId, item: &Item, link: bool) -> ValueRow {
    let (value, range) = match &item.details {
        Some(Mapped::Observation(o)) if o.value.is_none() && !o.components.is_empty() => (
            o.components
                .iter()
                .map(|c| format!("{} {}", concept(&c.code), value_text(c.value.as_ref())))
                .collect::<Vec<_>>()
                .join(", "),
            o.components
                .iter()
                .filter_map(|c| {
                    let r = range_text(&c.reference_ranges);
                    (!r.is_empty()).then(|| format!("{} {r}", concept(&c.code)))
                })
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(Mapped::Observation(o)) => (
            value_text(o.value.as_ref()),
            range_text(&o.reference_ranges),
        ),
        _ => (String::new(), String::new()),
    };
    let (flag, flag_class) = flag_words(item.flag);
    ValueRow {
        href: link.then(|| format!("/patients/{id}/results/{}", item.resource_id)),
        title: label(item),
        when: date_of(item.sort_at),
        value,
        range,
        flag,
        flag_class,
        held: false,
    }
}

/// A result's row, marked when the patient cannot see it yet.
fn held_row(id: PatientId, item: &Item, link: bool, held: &HashSet<ResourceId>) -> ValueRow {
    ValueRow {
        held: held.contains(&item.resource_id),
        ..value_row(id, item, link)
    }
}

#[derive(Template)]
#[template(path = "result.html")]
struct ResultPage {
    page: Page,
    patient: PatientRow,
    basis: Option<&'static str>,
    id: PatientId,
    resource_id: String,
    when: String,
    status: String,
    ordered_by: String,
    main: Option<ValueRow>,
    members: Vec<ValueRow>,
    history: Vec<ValueRow>,
    chart: String,
    texts: Vec<(String, String)>,
    held: bool,
    pending_panel: bool,
    can_release: bool,
}

fn chart_of(title: &str, history: &[Item], highlight_id: ResourceId) -> String {
    let mut unit = String::new();
    let mut band: Option<Band> = None;
    let mut points = Vec::new();
    let mut highlight = None;
    for item in history {
        if let (Some(Mapped::Observation(o)), Some(at)) = (&item.details, item.sort_at)
            && let Some(ObservationValue::Quantity(q)) = &o.value
            && let Some(value) = q.value
        {
            if unit.is_empty() {
                unit = q.unit.clone().or(q.code.clone()).unwrap_or_default();
            }
            if band.is_none()
                && let Some(r) = o.reference_ranges.first()
            {
                let low = r.low.as_ref().and_then(|q| q.value);
                let high = r.high.as_ref().and_then(|q| q.value);
                if low.is_some() || high.is_some() {
                    band = Some(Band { low, high });
                }
            }
            if item.resource_id == highlight_id {
                highlight = Some(points.len());
            }
            points.push(Point { at, value });
        }
    }
    if points.len() < 2 {
        return String::new();
    }
    trend_svg(title, &unit, &points, band.as_ref(), highlight)
}

fn texts_of(item: &Item) -> Vec<(String, String)> {
    let mut out = Vec::new();
    match &item.details {
        Some(Mapped::DiagnosticReport(r)) => {
            if let Some(c) = &r.conclusion {
                out.push(("Conclusion".to_string(), c.clone()));
            }
            for form in &r.presented_forms {
                if let Some(text) = &form.text {
                    out.push((
                        form.title.clone().unwrap_or_else(|| "Report".into()),
                        text.clone(),
                    ));
                }
            }
        }
        Some(Mapped::Observation(o)) => {
            for note in &o.notes {
                out.push(("Note".into(), note.clone()));
            }
        }
        _ => {}
    }
    out
}

/// GET /patients/{id}/results/{rid}: one result or report.
pub async fn result(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    path: ItemPath,
) -> PageResult {
    let id = path.patient;
    let (head, detail) = state
        .app
        .test_result(&user.actor(ctx), id, path.item)
        .await?;
    let title = label(&detail.item);
    let is_report = detail.item.kind == ItemKind::DiagnosticReport;
    Ok(render(&ResultPage {
        page: page(&title, &user, Nav::Results, id),
        basis: basis_words(&head.access),
        id,
        resource_id: detail.item.resource_id.to_string(),
        when: date_of(detail.item.sort_at),
        status: status_words(&detail.item.status),
        ordered_by: detail.ordered_by.clone().unwrap_or_default(),
        main: (!is_report).then(|| value_row(id, &detail.item, false)),
        members: detail
            .members
            .iter()
            .map(|m| held_row(id, m, true, &detail.held_results))
            .collect(),
        history: detail
            .history
            .iter()
            .rev()
            .map(|h| held_row(id, h, false, &detail.held_results))
            .collect(),
        chart: chart_of(&title, &detail.history, detail.item.resource_id),
        texts: texts_of(&detail.item),
        held: detail.held,
        pending_panel: detail.pending_panel,
        can_release: detail.held && user.role == Role::Clinician,
        patient: head.patient,
    }))
}

/// POST /patients/{id}/results/{rid}/release: a clinician releases a held result.
pub async fn release(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    path: ItemPath,
) -> PageResult {
    state
        .app
        .release_result(&user.actor(ctx), path.patient, path.item)
        .await?;
    Ok(Redirect::to(&format!("/patients/{}/results/{}", path.patient, path.item)).into_response())
}

#[derive(Template)]
#[template(path = "visits.html")]
struct VisitsPage {
    page: Page,
    patient: PatientRow,
    basis: Option<&'static str>,
    visits: Vec<Line>,
}

fn visit_line(id: PatientId, item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(who) = &item.who_name {
        parts.push(who.clone());
    }
    if let Some(place) = &item.where_name {
        parts.push(place.clone());
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: date_of(item.sort_at),
        href: Some(format!("/patients/{id}/visits/{}", item.resource_id)),
    }
}

/// GET /patients/{id}/visits
pub async fn visits(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
) -> PageResult {
    let (head, visits) = state.app.visits(&user.actor(ctx), id).await?;
    Ok(render(&VisitsPage {
        page: page("Visits", &user, Nav::Visits, id),
        basis: basis_words(&head.access),
        visits: visits.iter().map(|v| visit_line(id, v)).collect(),
        patient: head.patient,
    }))
}

/// A note shown on a visit page (always as text).
pub struct Note {
    title: String,
    when: String,
    text: String,
}

#[derive(Template)]
#[template(path = "visit.html")]
struct VisitPage {
    page: Page,
    id: PatientId,
    patient: PatientRow,
    basis: Option<&'static str>,
    when: String,
    class: String,
    clinician: String,
    place: String,
    reasons: String,
    diagnoses: Vec<Line>,
    notes: Vec<Note>,
    results: Vec<Line>,
    other: Vec<Line>,
}

/// GET /patients/{id}/visits/{vid}
pub async fn visit(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    path: ItemPath,
) -> PageResult {
    let id = path.patient;
    let (head, detail) = state.app.visit(&user.actor(ctx), id, path.item).await?;
    let (class, reasons, when) = match &detail.visit.details {
        Some(Mapped::Encounter(e)) => (
            class_words(&e.class),
            e.reason_codes
                .iter()
                .map(concept)
                .collect::<Vec<_>>()
                .join(", "),
            occurrence(e.period.clone().map(Occurrence::Period).as_ref()),
        ),
        _ => (String::new(), String::new(), date_of(detail.visit.sort_at)),
    };
    let mut diagnoses = Vec::new();
    let mut notes = Vec::new();
    let mut results = Vec::new();
    let mut other = Vec::new();
    for item in &detail.items {
        match item.kind {
            ItemKind::Condition => diagnoses.push(condition_line(item)),
            ItemKind::Document => {
                if let Some(Mapped::DocumentReference(d)) = &item.details {
                    for content in &d.contents {
                        notes.push(Note {
                            title: d
                                .type_
                                .as_ref()
                                .map(concept)
                                .unwrap_or_else(|| "Clinical note".into()),
                            when: date_of(item.sort_at),
                            text: content.text.clone().unwrap_or_else(|| {
                                "This document is not text; download it from Documents.".into()
                            }),
                        });
                    }
                }
            }
            ItemKind::DiagnosticReport | ItemKind::Observation => {
                if item.is_result()
                    && (item.kind == ItemKind::DiagnosticReport
                        || detail.stand_alone.contains(&item.resource_id))
                {
                    let mut parts = vec![value_row(id, item, false).value];
                    if detail.held.contains(&item.resource_id) {
                        parts.push(HELD_WORDS.into());
                    }
                    if item
                        .report_id
                        .is_some_and(|report| detail.held.contains(&report))
                    {
                        parts.push(PENDING_PANEL_WORDS.into());
                    }
                    results.push(Line {
                        title: label(item),
                        detail: joined(parts),
                        when: date_of(item.sort_at),
                        href: Some(format!("/patients/{id}/results/{}", item.resource_id)),
                    });
                }
                for (title, text) in texts_of(item) {
                    // Senders often put the same note in a DocumentReference and a report.
                    let seen = notes.iter().any(|n: &Note| n.text.trim() == text.trim());
                    if item.kind == ItemKind::DiagnosticReport && !seen {
                        notes.push(Note {
                            title: format!("{} — {title}", label(item)),
                            when: date_of(item.sort_at),
                            text,
                        });
                    }
                }
            }
            ItemKind::MedicationRequest => other.push(medication_line(item)),
            _ => other.push(Line {
                title: label(item),
                detail: item.kind.words().into(),
                when: date_of(item.sort_at),
                href: None,
            }),
        }
    }
    Ok(render(&VisitPage {
        page: page(&label(&detail.visit), &user, Nav::Visits, id),
        id,
        basis: basis_words(&head.access),
        when,
        class,
        clinician: detail.visit.who_name.clone().unwrap_or_default(),
        place: detail.visit.where_name.clone().unwrap_or_default(),
        reasons,
        diagnoses,
        notes,
        results,
        other,
        patient: head.patient,
    }))
}

/// The visit's class in words (HL7 v3 ActCode), else its display or code.
fn class_words(class: &portal_fhir::model::Coding) -> String {
    let known = match class.code.as_deref() {
        Some("AMB") => Some("Office visit"),
        Some("EMER") => Some("Emergency"),
        Some("IMP") | Some("ACUTE") => Some("Hospital stay"),
        Some("VR") => Some("Virtual visit"),
        Some("HH") => Some("Home visit"),
        Some("OBSENC") => Some("Observation stay"),
        _ => None,
    };
    known
        .map(str::to_string)
        .or_else(|| class.display.clone())
        .or_else(|| class.code.clone())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "documents.html")]
struct DocumentsPage {
    page: Page,
    patient: PatientRow,
    basis: Option<&'static str>,
    documents: Vec<Line>,
}

/// GET /patients/{id}/documents
pub async fn documents(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
) -> PageResult {
    let (head, documents) = state.app.documents(&user.actor(ctx), id).await?;
    Ok(render(&DocumentsPage {
        page: page("Documents", &user, Nav::Documents, id),
        basis: basis_words(&head.access),
        documents: documents
            .iter()
            .map(|d| {
                let mut parts = Vec::new();
                if let Some(who) = &d.who_name {
                    parts.push(format!("By {who}"));
                }
                if let Some(Mapped::DocumentReference(doc)) = &d.details
                    && let Some(content) = doc.contents.first()
                {
                    parts.push(match content.content_type.as_deref() {
                        Some(t) if t.starts_with("text/") => "Text".into(),
                        Some("application/pdf") => "PDF".into(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    });
                }
                Line {
                    title: label(d),
                    detail: joined(parts),
                    when: date_of(d.sort_at),
                    href: Some(format!("/patients/{id}/documents/{}", d.resource_id)),
                }
            })
            .collect(),
        patient: head.patient,
    }))
}

/// GET /patients/{id}/documents/{did}: the document as a download (text as plain text, never
/// rendered as HTML).
pub async fn download(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    path: ItemPath,
) -> PageResult {
    let file = state
        .app
        .document_download(&user.actor(ctx), path.patient, path.item)
        .await?;
    let mut response = file.bytes.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

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
