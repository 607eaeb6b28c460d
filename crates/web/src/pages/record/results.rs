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
    /// How many results of the same test the list holds (a trend to look at when more than one).
    repeats: usize,
}

/// The links between pages of the results list.
pub struct Paging {
    newer: Option<String>,
    older: Option<String>,
    /// "Page 2 of 3 (61 results and reports)"; empty on a list of one page.
    words: String,
}

/// A test with more than one result, linking to its trend.
pub struct TrendRow {
    href: String,
    title: String,
    count: usize,
}

/// The list's rows, each result marked with how many results of its test the list holds.
/// The rows of `shown` lines (a page of the list), each counting how often its test appears in
/// all `lines`.
fn result_rows(
    dates: &Dates,
    id: PatientId,
    lines: &[ResultLine],
    shown: std::ops::Range<usize>,
) -> Vec<ResultRow> {
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for line in lines {
        if line.item.columns.kind == ItemKind::Observation && !line.item.columns.code.is_empty() {
            *counts
                .entry((&line.item.columns.code_system, &line.item.columns.code))
                .or_default() += 1;
        }
    }
    lines
        .get(shown)
        .unwrap_or_default()
        .iter()
        .map(|line| {
            let repeats = if line.item.columns.kind == ItemKind::Observation {
                counts
                    .get(&(
                        line.item.columns.code_system.as_str(),
                        line.item.columns.code.as_str(),
                    ))
                    .copied()
                    .unwrap_or(1)
            } else {
                1
            };
            ResultRow {
                repeats,
                ..result_row(dates, id, line)
            }
        })
        .collect()
}

fn result_row(dates: &Dates, id: PatientId, line: &ResultLine) -> ResultRow {
    let (flag, flag_class) = flag_words(line.worst_flag);
    ResultRow {
        href: format!("/patients/{id}/results/{}", line.item.resource_id),
        title: label(&line.item),
        when: dates.day_of(line.item.columns.sort_at),
        status: status_words(&line.item.columns.status),
        flag,
        flag_class,
        members: line.members,
        unread: line.unread,
        held: line.held,
        pending_panel: line.pending_panel,
        repeats: 1,
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
    patient: Banner,
    basis: Option<String>,
    id: PatientId,
    rows: Vec<ResultRow>,
    name: String,
    from: String,
    to: String,
    filtered: bool,
    date_hint: &'static str,
    trends: Vec<TrendRow>,
    paging: Paging,
    errors: Vec<(String, String)>,
    notice: Option<&'static str>,
    is_care_team: bool,
}

/// The results filter form.
#[derive(Deserialize, Default, Clone)]
pub struct FilterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A typed date, checked: ISO or the clinic's local form. `None` when left empty or wrong (and
/// then an error is added).
fn typed_day(
    dates: &Dates,
    text: &str,
    (id, field): (&str, &str),
    errors: &mut Vec<(String, String)>,
) -> Option<jiff::civil::Date> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let day = dates.parse_day(text);
    if day.is_none() {
        errors.push((
            id.into(),
            format!(
                "{field}: enter a date as {} (for example {}).",
                dates.locale().date_hint(),
                dates.input_value(jiff::civil::date(2024, 3, 5))
            ),
        ));
    }
    day
}

/// The filter a person asked for, checked; the errors to show otherwise.
fn check_filter(dates: &Dates, form: &FilterForm) -> Result<ResultFilter, Vec<(String, String)>> {
    let mut errors = Vec::new();
    if form.name.chars().count() > 100 {
        errors.push((
            "name".into(),
            "Test name: use at most 100 characters.".into(),
        ));
    }
    let (from, until) = day_span(dates, &form.from, &form.to, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ResultFilter {
        name: form.name.trim().to_string(),
        also_loinc: tests_named(&form.name),
        from,
        until,
    })
}

/// A span of days typed as From and To, checked (errors added for each field): its first
/// microsecond and the microsecond after its last day, in the clinic's zone.
pub(super) fn day_span(
    dates: &Dates,
    from: &str,
    to: &str,
    errors: &mut Vec<(String, String)>,
) -> (Option<i64>, Option<i64>) {
    let from = typed_day(dates, from, ("from", "From"), errors);
    let to = typed_day(dates, to, ("to", "To"), errors);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        errors.push((
            "to".into(),
            "To: choose a date on or after the From date.".into(),
        ));
    }
    (
        from.and_then(|d| dates.start_of(d)),
        // Up to the end of the last day: the start of the next.
        to.and_then(|d| d.tomorrow().ok())
            .and_then(|d| dates.start_of(d)),
    )
}

/// What the results page shows above the list: the form as typed, and what went wrong.
struct ListState {
    form: FilterForm,
    filter: ResultFilter,
    errors: Vec<(String, String)>,
    notice: Option<&'static str>,
    /// The filter's id, kept in the paging links.
    filter_id: Option<String>,
    /// Which page of the list, from 1.
    page: usize,
}

async fn results_page(
    state: AppState,
    user: CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    list: ListState,
) -> PageResult {
    let (head, results) = state
        .app
        .records()
        .test_results(&user.actor(ctx), id, &list.filter)
        .await?;
    let lines = &results.lines;
    let pages = lines.len().div_ceil(ROWS_PER_PAGE).max(1);
    let page_number = list.page.clamp(1, pages);
    let page_link = |n: usize| {
        let mut href = format!("/patients/{id}/results?");
        if let Some(f) = &list.filter_id {
            href.push_str(&format!("filter={f}&"));
        }
        format!("{href}page={n}")
    };
    let paging = Paging {
        newer: (page_number > 1).then(|| page_link(page_number - 1)),
        older: (page_number < pages).then(|| page_link(page_number + 1)),
        words: if pages > 1 {
            format!(
                "Page {page_number} of {pages} ({} results and reports)",
                lines.len()
            )
        } else {
            String::new()
        },
    };
    let mut trends: Vec<TrendRow> = results
        .trends
        .iter()
        .map(|t| TrendRow {
            href: format!("/patients/{id}/results/{}#trend", t.latest.resource_id),
            title: label(&t.latest),
            count: t.count,
        })
        .collect();
    trends.sort_by_key(|t| t.title.to_lowercase());
    let status = if list.errors.is_empty() {
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
            basis: basis_words(&head.access, &head.patient),
            id,
            rows: {
                let first = (page_number - 1) * ROWS_PER_PAGE;
                result_rows(
                    &state.dates,
                    id,
                    lines,
                    first..(first + ROWS_PER_PAGE).min(lines.len()),
                )
            },
            paging,
            trends,
            filtered: list.filter != ResultFilter::default(),
            name: list.form.name,
            from: list.form.from,
            to: list.form.to,
            date_hint: state.dates.locale().date_hint(),
            errors: list.errors,
            notice: list.notice,
            is_care_team,
            patient: Banner::new(&head.patient, &state.dates, state.app.now()),
        },
    ))
}

/// The query of the results list: the id of a filter this session applied, and the page.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    filter: Option<String>,
    /// Read as text: a page number nobody could have followed (0, -3, 10^20) shows page one
    /// rather than an error.
    #[serde(default)]
    page: Option<String>,
}

/// Rows on one page of the results list.
const ROWS_PER_PAGE: usize = 20;

/// What the list says when a filter's address no longer works (another session's, or signed out).
const EXPIRED_FILTER: &str = "That filter is no longer available, so all results are shown.";

/// GET /patients/{id}/results, or `?filter=ID` for a filter this session applied.
pub async fn results(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    axum::extract::Query(query): axum::extract::Query<ListQuery>,
) -> PageResult {
    let mut list = ListState {
        form: FilterForm::default(),
        filter: ResultFilter::default(),
        errors: Vec::new(),
        notice: None,
        filter_id: None,
        page: query
            .page
            .as_deref()
            .and_then(|p| p.trim().parse::<usize>().ok())
            .unwrap_or(1),
    };
    if let Some(filter_id) = query.filter.as_deref().filter(|f| !f.is_empty()) {
        let kept = if filter_id.len() <= 64 {
            state
                .app
                .records()
                .kept_result_filter(&user, id, filter_id)
                .await?
        } else {
            None
        };
        let form = kept.map(|k| FilterForm {
            name: k.name,
            from: k.from,
            to: k.to,
        });
        match form.map(|form| (check_filter(&state.dates, &form), form)) {
            Some((Ok(filter), form)) => {
                list.filter = filter;
                list.form = form;
                list.filter_id = Some(filter_id.to_string());
            }
            _ => list.notice = Some(EXPIRED_FILTER),
        }
    }
    results_page(state, user, ctx, id, list).await
}

/// POST /patients/{id}/results: a filter applied. The filter is kept for this session and the
/// browser is sent to the list's address with the filter's id, so no test name is in an
/// address and Back never asks to send a form again.
pub async fn filter_results(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    crate::error::IdPath(id): crate::error::IdPath<PatientId>,
    Form(form): Form<FilterForm>,
) -> PageResult {
    if let Err(errors) = check_filter(&state.dates, &form) {
        let list = ListState {
            form,
            filter: ResultFilter::default(),
            errors,
            notice: None,
            filter_id: None,
            page: 1,
        };
        return results_page(state, user, ctx, id, list).await;
    }
    let list = format!("/patients/{id}/results");
    let kept = SavedResultFilter {
        name: form.name.trim().to_string(),
        from: form.from.trim().to_string(),
        to: form.to.trim().to_string(),
    };
    let filter_id = state
        .app
        .records()
        .keep_result_filter(&user.actor(ctx), &user, id, &kept)
        .await?;
    Ok(match filter_id {
        Some(filter_id) => Redirect::to(&format!("{list}?filter={filter_id}")),
        // Nothing to filter by: the whole list, at its own address.
        None => Redirect::to(&list),
    }
    .into_response())
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

pub(super) fn value_row(dates: &Dates, id: PatientId, item: &Item, link: bool) -> ValueRow {
    let (value, range) = match &item.details {
        Some(Mapped::Observation(o)) => observation_words(o),
        _ => (String::new(), String::new()),
    };
    let (flag, flag_class) = flag_words(item.columns.flag);
    ValueRow {
        href: link.then(|| format!("/patients/{id}/results/{}", item.resource_id)),
        title: label(item),
        when: dates.day_of(item.columns.sort_at),
        value,
        range,
        flag,
        flag_class,
        held: false,
    }
}

/// A result's row, marked when the patient cannot see it yet.
fn held_row(
    dates: &Dates,
    id: PatientId,
    item: &Item,
    link: bool,
    held: &HashSet<ResourceId>,
) -> ValueRow {
    ValueRow {
        held: held.contains(&item.resource_id),
        ..value_row(dates, id, item, link)
    }
}

#[derive(Template)]
#[template(path = "result.html")]
struct ResultPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    id: PatientId,
    resource_id: String,
    full_name: Option<String>,
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

fn chart_of(dates: &Dates, title: &str, history: &[Item], highlight_id: ResourceId) -> String {
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
            points.push(Point {
                at,
                value,
                day: dates.day_of(Some(at)),
            });
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
    let full = full_label(&detail.item);
    let is_report = detail.item.columns.kind == ItemKind::DiagnosticReport;
    Ok(render(&ResultPage {
        page: page(&title, &user, Nav::Results, id),
        basis: basis_words(&head.access, &head.patient),
        id,
        resource_id: detail.item.resource_id.to_string(),
        full_name: (full != title).then_some(full),
        when: state.dates.day_of(detail.item.columns.sort_at),
        status: status_words(&detail.item.columns.status),
        ordered_by: detail.ordered_by.clone().unwrap_or_default(),
        main: (!is_report).then(|| value_row(&state.dates, id, &detail.item, false)),
        members: detail
            .members
            .iter()
            .map(|m| held_row(&state.dates, id, m, true, &detail.held_results))
            .collect(),
        history: detail
            .history
            .iter()
            .rev()
            .map(|h| held_row(&state.dates, id, h, false, &detail.held_results))
            .collect(),
        chart: chart_of(
            &state.dates,
            &title,
            &detail.history,
            detail.item.resource_id,
        ),
        texts: texts_of(&detail.item),
        held: detail.held,
        pending_panel: detail.pending_panel,
        can_release: detail.held && head.access.also_allows(Action::ReleaseResult),
        patient: Banner::new(&head.patient, &state.dates, state.app.now()),
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
