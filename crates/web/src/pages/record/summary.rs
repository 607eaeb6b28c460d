//! The health summary and the medication list.

use super::*;

pub(super) fn condition_line(dates: &Dates, item: &Item) -> Line {
    let when = dates.day_of(item.columns.sort_at);
    let mut parts = Vec::new();
    if let Some(Mapped::Condition(c)) = &item.details {
        // The line's date is when it began already; say so only when they differ.
        let began = occurrence(dates, c.onset.as_ref());
        if !began.is_empty() && began != when {
            parts.push(format!("Began {began}"));
        }
        if let Some(end) = c.abatement.as_ref() {
            parts.push(format!("Resolved {}", occurrence(dates, Some(end))));
        }
        if let Some(v) = &c.verification_status {
            let code = v.codings.iter().find_map(|coding| coding.code.as_deref());
            let words = match code {
                Some("unconfirmed") | Some("provisional") => "Not yet confirmed",
                Some("differential") => "One of several possible diagnoses",
                Some("refuted") => "Ruled out",
                Some("entered-in-error") => "Entered in error",
                _ => "",
            };
            if !words.is_empty() {
                parts.push(words.into());
            }
        }
    }
    if let Some(who) = who(item) {
        parts.push(format!("Recorded by {who}"));
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when,
        href: None,
    }
}

/// SNOMED CT's code for anaphylaxis: a reaction that is severe whatever severity was sent.
const ANAPHYLAXIS: &str = "39579001";

/// How bad a recorded reaction was, worst first.
fn severity_rank(code: Option<&str>) -> u8 {
    match code {
        Some("severe") => 3,
        Some("moderate") => 2,
        Some("mild") => 1,
        _ => 0,
    }
}

pub(super) fn allergy_line(dates: &Dates, item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(Mapped::AllergyIntolerance(a)) = &item.details {
        let mut worst = 0;
        let mut reactions = Vec::new();
        for reaction in &a.reactions {
            let anaphylaxis = reaction
                .manifestations
                .iter()
                .any(|m| m.has_code("http://snomed.info/sct", ANAPHYLAXIS));
            let rank = if anaphylaxis {
                3
            } else {
                severity_rank(reaction.severity.map(portal_fhir::CodeSet::code))
            };
            worst = worst.max(rank);
            let what = reaction
                .manifestations
                .iter()
                .map(|m| concept(m).to_lowercase())
                .collect::<Vec<_>>()
                .join(", ");
            let severity = match rank {
                3 => "severe reaction",
                2 => "moderate reaction",
                1 => "mild reaction",
                _ => "reaction",
            };
            if !what.is_empty() {
                reactions.push((rank, format!("{severity} ({what})")));
            }
        }
        // Worst first, so the line starts with what matters most.
        reactions.sort_by_key(|r| std::cmp::Reverse(r.0));
        let reactions: Vec<String> = reactions.into_iter().map(|(_, words)| words).collect();
        if !reactions.is_empty() {
            parts.push(capitalised(&reactions.join("; ")));
        }
        // Criticality is the potential for a serious reaction; beside a severe reaction that
        // happened, "low" would mislead, so it is left out then.
        if worst < 3
            && let Some(c) = a.criticality
        {
            let words = match portal_fhir::CodeSet::code(c) {
                "high" => "High risk of a serious reaction",
                "low" => "Low risk of a serious reaction",
                _ => "Risk of a serious reaction not assessed",
            };
            parts.push(words.into());
        }
        let kinds: Vec<&str> = a
            .categories
            .iter()
            .map(|c| match portal_fhir::CodeSet::code(*c) {
                "food" => "Food",
                "medication" => "Medicine",
                "environment" => "Environment",
                "biologic" => "Biologic",
                other => other,
            })
            .collect();
        if !kinds.is_empty() {
            parts.push(kinds.join(", "));
        }
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: dates.day_of(item.columns.sort_at),
        href: None,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A dosage in words, each thing said once ("Take as needed." and "as needed" are the same).
fn dosage_words(dosage: &portal_fhir::model::Dosage) -> String {
    let mut words: Vec<String> = Vec::new();
    if let Some(dose) = &dosage.dose {
        let amount = quantity(dose);
        // A dose sent without a unit is a count of whatever the medicine comes as.
        let has_unit = dose.unit.is_some() || dose.code.is_some();
        words.push(if has_unit {
            amount
        } else {
            format!("{amount} at a time")
        });
    }
    if let Some(text) = dosage.text.as_ref().or(dosage.timing_text.as_ref()) {
        let text = crate::pages::words::plain_name(text.trim());
        let text = text.trim_end_matches('.').trim();
        if !text.is_empty() {
            words.push(text.to_string());
        }
    }
    let said = words.join(" ").to_lowercase();
    if words.len() > 1 {
        // "1 at a time, Every four to six hours": the instruction reads on after the dose.
        words[1..].iter_mut().for_each(|w| {
            if let Some(first) = w.get(..1) {
                *w = format!("{}{}", first.to_lowercase(), &w[1..]);
            }
        });
    }
    if dosage.as_needed == Some(true) && !said.contains("as needed") {
        words.push("as needed".into());
    }
    words.join(", ")
}

pub(crate) fn medication_line(dates: &Dates, item: &Item) -> Line {
    let mut parts = Vec::new();
    if let Some(Mapped::MedicationRequest(m)) = &item.details {
        for dosage in &m.dosages {
            let words = dosage_words(dosage);
            if !words.is_empty() && !parts.contains(&words) {
                parts.push(words);
            }
        }
        if let Some(refills) = m.refills {
            parts.push(format!(
                "{refills} refill{} left",
                if refills == 1 { "" } else { "s" }
            ));
        }
    }
    if let Some(who) = who(item) {
        parts.push(format!("Prescribed by {who}"));
    }
    Line {
        title: label(item),
        detail: joined(parts),
        when: dates.day_of(item.columns.sort_at),
        href: None,
    }
}

/// Current and past medication lines. After death no medication is current.
fn medication_lines(dates: &Dates, items: &[Item], deceased: bool) -> (Vec<Line>, Vec<Line>) {
    let (current, past): (Vec<&Item>, Vec<&Item>) = items
        .iter()
        .partition(|m| !deceased && is_active_medication(&m.columns.status));
    (
        current
            .into_iter()
            .map(|m| medication_line(dates, m))
            .collect(),
        past.into_iter()
            .map(|m| medication_line(dates, m))
            .collect(),
    )
}

fn vital_line(dates: &Dates, id: PatientId, item: &Item) -> Line {
    let value = match &item.details {
        Some(Mapped::Observation(o)) => observation_words(o).0,
        _ => String::new(),
    };
    Line {
        title: label(item),
        detail: value,
        when: dates.day_of(item.columns.sort_at),
        href: Some(format!("/patients/{id}/results/{}", item.resource_id)),
    }
}

/// The latest vital signs as lines, a blood pressure sent as two Observations (systolic and
/// diastolic, taken together) shown as one reading.
fn vital_lines(dates: &Dates, id: PatientId, vitals: &[Item]) -> Vec<Line> {
    let number = |item: &Item| match &item.details {
        Some(Mapped::Observation(o)) => match &o.value {
            Some(ObservationValue::Quantity(q)) => q
                .value
                .map(|v| (v, q.unit.clone().or(q.code.clone()).unwrap_or_default())),
            _ => None,
        },
        _ => None,
    };
    let is =
        |item: &Item, code: &str| item.columns.code_system == LOINC && item.columns.code == code;
    let mut lines = Vec::with_capacity(vitals.len());
    for item in vitals {
        if is(item, DIASTOLIC)
            && vitals
                .iter()
                .any(|s| is(s, SYSTOLIC) && s.columns.sort_at == item.columns.sort_at)
        {
            continue;
        }
        let diastolic = vitals
            .iter()
            .find(|d| is(d, DIASTOLIC) && d.columns.sort_at == item.columns.sort_at);
        match (is(item, SYSTOLIC), diastolic.and_then(number), number(item)) {
            (true, Some((low, _)), Some((high, unit))) => lines.push(Line {
                title: "Blood pressure".into(),
                detail: blood_pressure(high, low, &unit),
                when: dates.day_of(item.columns.sort_at),
                href: Some(format!("/patients/{id}/results/{}", item.resource_id)),
            }),
            _ => lines.push(vital_line(dates, id, item)),
        }
    }
    lines
}

/// Doses of one vaccine, shown together: "Flu vaccine — 22 doses, last Jul 14, 1977".
pub struct VaccineGroup {
    /// The vaccine's name.
    name: String,
    /// "22 doses, last May 13, 1977".
    summary: String,
    /// Each dose, newest first.
    doses: Vec<Line>,
}

fn vaccine_groups(dates: &Dates, immunizations: &[Item]) -> Vec<VaccineGroup> {
    let mut groups: Vec<(String, Vec<&Item>)> = Vec::new();
    for item in immunizations {
        let name = vaccine_name(&item.columns.code_system, &item.columns.code)
            .map(str::to_string)
            .unwrap_or_else(|| label(item));
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, doses)) => doses.push(item),
            None => groups.push((name, vec![item])),
        }
    }
    let mut out: Vec<VaccineGroup> = groups
        .into_iter()
        .map(|(name, mut doses)| {
            doses.sort_by_key(|d| std::cmp::Reverse(d.columns.sort_at));
            let last = dates.day_of(doses.first().and_then(|d| d.columns.sort_at));
            let summary = match doses.len() {
                1 => format!("1 dose, {last}"),
                n => format!("{n} doses, last {last}"),
            };
            VaccineGroup {
                name,
                summary,
                doses: doses
                    .iter()
                    .map(|d| Line {
                        title: full_label(d),
                        detail: place(d).map(|w| format!("At {w}")).unwrap_or_default(),
                        when: dates.day_of(d.columns.sort_at),
                        href: None,
                    })
                    .collect(),
            }
        })
        .collect();
    // The vaccine given most recently first.
    out.sort_by_key(|g| {
        std::cmp::Reverse(
            immunizations
                .iter()
                .filter(|i| {
                    vaccine_name(&i.columns.code_system, &i.columns.code)
                        .map(str::to_string)
                        .unwrap_or_else(|| label(i))
                        == g.name
                })
                .filter_map(|i| i.columns.sort_at)
                .max(),
        )
    });
    out
}

/// What is due, in words: the flu vaccine is the one due list the record supports on its own.
/// Nothing is due for a patient who has died.
fn due_vaccines(
    dates: &Dates,
    immunizations: &[Item],
    now: jiff::Timestamp,
    for_patient: bool,
) -> Vec<String> {
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
            dates.day(last_given)
        )],
        FluVaccine::UpToDate => Vec::new(),
        FluVaccine::NoneRecorded if for_patient => vec![
            "Flu vaccine: no flu vaccine is recorded here; ask your clinic whether one is due."
                .into(),
        ],
        FluVaccine::NoneRecorded => vec!["Flu vaccine: none recorded in this record.".into()],
    }
}

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    problems: Vec<Line>,
    past_problems: Vec<Line>,
    allergies: Vec<Line>,
    medications: Vec<Line>,
    past_medications: Vec<Line>,
    vaccines: Vec<VaccineGroup>,
    due: Vec<String>,
    vitals: Vec<Line>,
    id: PatientId,
    for_patient: bool,
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
    let dates = &state.dates;
    let deceased = head.patient.deceased.is_some();
    let for_patient = speaks_to_patient(&user);
    let (problems, past_problems): (Vec<&Item>, Vec<&Item>) = summary
        .conditions
        .iter()
        .partition(|c| is_active_condition(&c.columns.status));
    let (medications, past_medications) = medication_lines(dates, &summary.medications, deceased);
    Ok(render(&SummaryPage {
        page: page("Health summary", &user, Nav::Record, id),
        basis: basis_words(&head.access, &head.patient),
        problems: problems
            .into_iter()
            .map(|c| condition_line(dates, c))
            .collect(),
        past_problems: past_problems
            .into_iter()
            .map(|c| condition_line(dates, c))
            .collect(),
        allergies: summary
            .allergies
            .iter()
            .map(|a| allergy_line(dates, a))
            .collect(),
        medications,
        past_medications,
        due: if deceased {
            Vec::new()
        } else {
            due_vaccines(dates, &summary.immunizations, state.app.now(), for_patient)
        },
        vaccines: vaccine_groups(dates, &summary.immunizations),
        vitals: vital_lines(dates, id, &summary.vitals),
        patient: Banner::new(&head.patient, dates, state.app.now()),
        id,
        for_patient,
    }))
}

#[derive(Template)]
#[template(path = "medications.html")]
struct MedicationsPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    medications: Vec<Line>,
    past_medications: Vec<Line>,
    refill: Option<crate::pages::refills::RefillSection>,
    errors: portal_domain::fields::FieldErrors,
}

/// GET /patients/{id}/medications: current and past medications, and for the patient's side
/// the refill request form.
pub async fn medications(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    medications_page(&state, &user, ctx, id, None).await
}

/// The medications page; with `refused`, again after a refill request was refused (what was
/// typed, and why), at 422.
pub(crate) async fn medications_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    refused: Option<(
        portal_domain::fields::FieldErrors,
        portal_app::refills::RefillForm,
    )>,
) -> PageResult {
    let actor = user.actor(ctx);
    let (head, items) = state.app.records().medications(&actor, id).await?;
    let deceased = head.patient.deceased.is_some();
    let (medications, past_medications) = medication_lines(&state.dates, &items, deceased);
    let refill = if head.access.also_allows(Action::RequestRefill) && user.role == Role::Patient {
        let options = state.app.refills().options(&actor, &head).await?;
        Some(crate::pages::refills::section(
            state,
            id,
            &items,
            options,
            refused.as_ref().map(|(_, typed)| typed),
        ))
    } else {
        None
    };
    let status = if refused.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        axum::http::StatusCode::OK
    };
    Ok(crate::layout::render_status(
        status,
        &MedicationsPage {
            page: page("Medications", user, Nav::Record, id),
            basis: basis_words(&head.access, &head.patient),
            medications,
            past_medications,
            refill,
            errors: refused.map(|(e, _)| e).unwrap_or_default(),
            patient: Banner::new(&head.patient, &state.dates, state.app.now()),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portal_domain::record::{ClinicalItem, ItemColumns};
    use portal_fhir::model::Dosage;

    /// An item as the record pages get it, from the FHIR resource a clinic sends.
    fn item(kind: ItemKind, code: &str, label: &str, resource: serde_json::Value) -> Item {
        let value = portal_fhir::json::parse(resource.to_string().as_bytes()).expect("JSON");
        let mapped = portal_fhir::map_resource(&value, None).expect("a valid resource");
        ClinicalItem {
            resource_id: ResourceId::from_uuid(uuid::Uuid::new_v4()),
            columns: ItemColumns {
                kind,
                category: String::new(),
                code_system: if code.is_empty() { "" } else { LOINC }.into(),
                code: code.into(),
                label: label.into(),
                status: "final".into(),
                sort_at: Some(1_000),
                flag: Flag::None,
                sensitivity: portal_domain::record::Categories::NONE,
            },
            encounter_id: None,
            who_id: None,
            who_name: None,
            where_id: None,
            where_name: None,
            report_id: None,
            released_at: Some(0),
            details: Some(mapped),
        }
    }

    fn allergy(resource: serde_json::Value) -> Item {
        item(ItemKind::Allergy, "", "Latex (substance)", resource)
    }

    fn vital(code: &str, name: &str, value: f64) -> Item {
        item(
            ItemKind::Observation,
            code,
            name,
            serde_json::json!({
                "resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": LOINC, "code": code}], "text": name},
                "subject": {"reference": "Patient/p"},
                "effectiveDateTime": "2026-01-05T10:00:00Z",
                "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
            }),
        )
    }

    #[test]
    fn a_blood_pressure_sent_in_two_parts_is_one_reading() {
        let id = PatientId::new_v7(jiff::Timestamp::UNIX_EPOCH);
        let vitals = [
            vital(DIASTOLIC, "Diastolic blood pressure", 78.0),
            vital("8867-4", "Heart rate", 66.0),
            vital(SYSTOLIC, "Systolic blood pressure", 92.0),
        ];
        let lines = vital_lines(&Dates::default(), id, &vitals);
        let words: Vec<(String, String)> = lines.into_iter().map(|l| (l.title, l.detail)).collect();
        assert_eq!(
            words,
            vec![
                ("Heart rate".to_string(), "66 mmHg".to_string()),
                ("Blood pressure".to_string(), "92/78 mmHg".to_string()),
            ]
        );
    }

    fn latex(criticality: &str, reactions: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "resourceType": "AllergyIntolerance",
            "patient": {"reference": "Patient/p"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
            "code": {"text": "Latex (substance)"},
            "category": ["environment"],
            "criticality": criticality,
            "reaction": reactions
        })
    }

    #[test]
    fn a_severe_reaction_is_never_next_to_a_low_risk() {
        let line = allergy_line(
            &Dates::default(),
            &allergy(latex(
                "low",
                serde_json::json!([
                    {"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "247472004", "display": "Wheal (finding)"}]}], "severity": "mild"},
                    {"manifestation": [{"coding": [{"system": "http://snomed.info/sct", "code": "39579001", "display": "Anaphylaxis (disorder)"}]}]}
                ]),
            )),
        );
        assert_eq!(line.title, "Latex");
        assert!(
            line.detail
                .starts_with("Severe reaction (anaphylaxis); mild reaction (wheal)"),
            "{}",
            line.detail
        );
        assert!(
            !line.detail.to_lowercase().contains("low"),
            "{}",
            line.detail
        );
    }

    #[test]
    fn criticality_is_stated_as_a_potential() {
        let line = allergy_line(
            &Dates::default(),
            &allergy(latex(
                "high",
                serde_json::json!([{"manifestation": [{"text": "Hives"}], "severity": "mild"}]),
            )),
        );
        assert_eq!(
            line.detail,
            "Mild reaction (hives) · High risk of a serious reaction · Environment"
        );
    }

    #[test]
    fn as_needed_is_said_once() {
        let dosage = Dosage {
            text: Some("Take as needed.".into()),
            as_needed: Some(true),
            ..Dosage::default()
        };
        assert_eq!(dosage_words(&dosage), "Take as needed");
        let bare = Dosage {
            as_needed: Some(true),
            ..Dosage::default()
        };
        assert_eq!(dosage_words(&bare), "as needed");
        let tagged = Dosage {
            text: Some("Every four to six hours (qualifier value)".into()),
            ..Dosage::default()
        };
        assert_eq!(dosage_words(&tagged), "Every four to six hours");
    }
}
