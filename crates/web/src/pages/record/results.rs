//! Test results: the list and its filter, one result or report with its trend, and release
//! of a held result.

use super::*;

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
        when: date_of(line.item.columns.sort_at),
        status: status_words(&line.item.columns.status),
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
        .records()
        .test_results(&user.actor(ctx), id, &filter)
        .await?;
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    // Held results are marked for those who may see them before the patient does.
    let is_care_team = head.access.visibility().unreleased;
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
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
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
    pub(super) value: String,
    range: String,
    flag: &'static str,
    flag_class: &'static str,
    held: bool,
}

pub(super) fn value_row(id: PatientId, item: &Item, link: bool) -> ValueRow {
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
    let (flag, flag_class) = flag_words(item.columns.flag);
    ValueRow {
        href: link.then(|| format!("/patients/{id}/results/{}", item.resource_id)),
        title: label(item),
        when: date_of(item.columns.sort_at),
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
        if let (Some(Mapped::Observation(o)), Some(at)) = (&item.details, item.columns.sort_at)
            && let Some(ObservationValue::Quantity(q)) = &o.value
            && let Some(value) = q.value
        {
            if unit.is_empty() {
                unit = q
                    .unit
                    .as_deref()
                    .or(q.code.as_deref())
                    .map(unit_for_people)
                    .unwrap_or_default();
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

pub(super) fn texts_of(item: &Item) -> Vec<(String, String)> {
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
        .records()
        .test_result(&user.actor(ctx), id, path.item)
        .await?;
    let title = label(&detail.item);
    let is_report = detail.item.columns.kind == ItemKind::DiagnosticReport;
    Ok(render(&ResultPage {
        page: page(&title, &user, Nav::Results, id),
        basis: basis_words(&head.access),
        id,
        resource_id: detail.item.resource_id.to_string(),
        when: date_of(detail.item.columns.sort_at),
        status: status_words(&detail.item.columns.status),
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
        can_release: detail.held && head.access.also_allows(Action::ReleaseResult),
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
        .records()
        .release_result(&user.actor(ctx), path.patient, path.item)
        .await?;
    Ok(Redirect::to(&format!("/patients/{}/results/{}", path.patient, path.item)).into_response())
}
