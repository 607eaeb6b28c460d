//! Past visits, and one visit with its notes, results and everything else recorded at it.

use super::results::{texts_of, value_row};
use super::summary::{condition_line, medication_line};
use super::*;

#[derive(Template)]
#[template(path = "visits.html")]
struct VisitsPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    visits: Vec<Line>,
}

fn visit_line(dates: &Dates, id: PatientId, item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(who) = who(item) {
        parts.push(who);
    }
    if let Some(place) = place(item) {
        parts.push(place);
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: dates.day_of(item.columns.sort_at),
        href: Some(format!("/patients/{id}/visits/{}", item.resource_id)),
    }
}

/// GET /patients/{id}/visits
pub async fn visits(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let (head, visits) = state.app.records().visits(&user.actor(ctx), id).await?;
    Ok(render(&VisitsPage {
        page: page("Visits", &user, Nav::Visits, id),
        basis: basis_words(&head.access, &head.patient),
        visits: visits
            .iter()
            .map(|v| visit_line(&state.dates, id, v))
            .collect(),
        patient: Banner::new(&head.patient, &state.dates, state.app.now()),
    }))
}

/// A note shown on a visit page (always as text).
pub struct Note {
    title: String,
    when: String,
    text: String,
    /// The text's Markdown as safe structure.
    html: String,
}

#[derive(Template)]
#[template(path = "visit.html")]
struct VisitPage {
    page: Page,
    id: PatientId,
    patient: Banner,
    basis: Option<String>,
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
    let (head, detail) = state
        .app
        .records()
        .visit(&user.actor(ctx), id, path.item)
        .await?;
    let dates = &state.dates;
    let (class, reasons, when) = match &detail.visit.details {
        Some(Mapped::Encounter(e)) => (
            class_words(&e.class),
            e.reason_codes
                .iter()
                .map(concept)
                .collect::<Vec<_>>()
                .join(", "),
            occurrence(dates, e.period.clone().map(Occurrence::Period).as_ref()),
        ),
        _ => (
            String::new(),
            String::new(),
            dates.day_of(detail.visit.columns.sort_at),
        ),
    };
    let mut diagnoses = Vec::new();
    let mut notes = Vec::new();
    let mut results = Vec::new();
    let mut other = Vec::new();
    for item in &detail.items {
        match item.columns.kind {
            ItemKind::Condition => diagnoses.push(condition_line(dates, item)),
            ItemKind::Document => {
                if let Some(Mapped::DocumentReference(d)) = &item.details {
                    for content in &d.contents {
                        notes.push(Note {
                            title: d
                                .type_
                                .as_ref()
                                .map(concept)
                                .unwrap_or_else(|| "Clinical note".into()),
                            when: dates.day_of(item.columns.sort_at),
                            text: content.text.clone().unwrap_or_else(|| {
                                "This document is not text; download it from Documents.".into()
                            }),
                            html: String::new(),
                        });
                    }
                }
            }
            ItemKind::DiagnosticReport | ItemKind::Observation => {
                if item.is_result()
                    && (item.columns.kind == ItemKind::DiagnosticReport
                        || detail.stand_alone.contains(&item.resource_id))
                {
                    let mut parts = vec![value_row(dates, id, item, false).value];
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
                        when: dates.day_of(item.columns.sort_at),
                        href: Some(format!("/patients/{id}/results/{}", item.resource_id)),
                    });
                }
                for (title, text) in texts_of(item) {
                    // Senders often put the same note in a DocumentReference and a report.
                    let seen = notes.iter().any(|n: &Note| n.text.trim() == text.trim());
                    if item.columns.kind == ItemKind::DiagnosticReport && !seen {
                        notes.push(Note {
                            title: format!("{} — {title}", label(item)),
                            when: dates.day_of(item.columns.sort_at),
                            text,
                            html: String::new(),
                        });
                    }
                }
            }
            ItemKind::MedicationRequest => other.push(medication_line(dates, item)),
            _ => other.push(Line {
                title: vaccine_name(&item.columns.code_system, &item.columns.code)
                    .map_or_else(|| label(item), str::to_string),
                detail: item.columns.kind.words().into(),
                when: dates.day_of(item.columns.sort_at),
                href: None,
            }),
        }
    }
    for note in &mut notes {
        note.html = crate::markdown::note_html(&note.text);
    }
    Ok(render(&VisitPage {
        page: page(&label(&detail.visit), &user, Nav::Visits, id),
        id,
        basis: basis_words(&head.access, &head.patient),
        when,
        class,
        clinician: who(&detail.visit).unwrap_or_default(),
        place: place(&detail.visit).unwrap_or_default(),
        reasons,
        diagnoses,
        notes,
        results,
        other,
        patient: Banner::new(&head.patient, &state.dates, state.app.now()),
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
