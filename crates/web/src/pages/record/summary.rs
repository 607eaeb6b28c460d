//! The health summary and the medication list.

use super::*;

pub(super) fn condition_line(item: &Item) -> Line {
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
        when: date_of(item.columns.sort_at),
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
        when: date_of(item.columns.sort_at),
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

pub(super) fn medication_line(item: &Item) -> Line {
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
        when: date_of(item.columns.sort_at),
        href: None,
    }
}

/// Current and past medication lines.
fn medication_lines(items: &[Item]) -> (Vec<Line>, Vec<Line>) {
    let (current, past): (Vec<&Item>, Vec<&Item>) = items
        .iter()
        .partition(|m| is_active_medication(&m.columns.status));
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
        when: date_of(item.columns.sort_at),
        href: None,
    }
}

/// What is due, in words: the flu vaccine is the one due list the record supports on its own.
fn due_vaccines(immunizations: &[Item], now: jiff::Timestamp) -> Vec<String> {
    let given = immunizations.iter().map(|i| {
        (
            i.columns.code.as_str(),
            i.columns
                .sort_at
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
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let (head, summary) = state
        .app
        .records()
        .health_summary(&user.actor(ctx), id)
        .await?;
    let (problems, past_problems): (Vec<&Item>, Vec<&Item>) = summary
        .conditions
        .iter()
        .partition(|c| is_active_condition(&c.columns.status));
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
                when: date_of(i.columns.sort_at),
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
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let (head, items) = state
        .app
        .records()
        .medications(&user.actor(ctx), id)
        .await?;
    let (medications, past_medications) = medication_lines(&items);
    Ok(render(&MedicationsPage {
        page: page("Medications", &user, Nav::Record, id),
        basis: basis_words(&head.access),
        medications,
        past_medications,
        patient: head.patient,
    }))
}
