//! "Download my record": a page to choose the whole record or a span of dates, a FHIR Bundle
//! to save or give to an app (`record.json`), and a summary to print. The dates travel in the
//! query string (no health data); each download is audited as an export by the app.

use super::*;
use portal_app::record::{PrintedRecord, Span};

#[derive(Template)]
#[template(path = "download.html")]
struct DownloadPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    id: PatientId,
    errors: Vec<(String, String)>,
    date_hint: &'static str,
    from: String,
    to: String,
    for_patient: bool,
    is_proxy: bool,
}

#[derive(Template)]
#[template(path = "record_print.html")]
struct PrintPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    id: PatientId,
    span_words: String,
    sections: Vec<PrintSection>,
}

struct PrintSection {
    id: &'static str,
    title: &'static str,
    empty: &'static str,
    lines: Vec<Line>,
}

/// The dates asked for (as typed).
#[derive(Debug, Default, Deserialize)]
pub struct SpanQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The span asked for, checked; the errors to show otherwise.
fn check_span(dates: &Dates, query: &SpanQuery) -> Result<Span, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let (from, until) = results::day_span(dates, &query.from, &query.to, &mut errors);
    if errors.is_empty() {
        Ok(Span { from, until })
    } else {
        Err(errors)
    }
}

/// The download page, with what went wrong if anything (its header read through the record's
/// health record, which the viewer may open whenever they may download).
async fn download_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    query: &SpanQuery,
    errors: Vec<(String, String)>,
) -> PageResult {
    let view = state
        .app
        .records()
        .open_section(
            &user.actor(ctx),
            id,
            portal_app::chart::Section::HealthRecord,
        )
        .await?;
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::BAD_REQUEST
    };
    let for_patient = speaks_to_patient(user);
    let mut response = render(&DownloadPage {
        page: page(
            if view.is_own() || !for_patient {
                "Download your record"
            } else {
                "Download this record"
            },
            user,
            Nav::Documents,
            id,
        ),
        basis: basis_words(&view.access, &view.patient),
        patient: Banner::new(&view.patient, &state.dates, state.app.now()),
        id,
        errors,
        date_hint: state.dates.locale().date_hint(),
        from: query.from.clone(),
        to: query.to.clone(),
        for_patient,
        is_proxy: for_patient && !view.is_own(),
    });
    *response.status_mut() = status;
    Ok(response)
}

/// GET /patients/{id}/download
pub async fn download_choice(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    download_page(&state, &user, ctx, id, &SpanQuery::default(), Vec::new()).await
}

/// GET /patients/{id}/download/record.json: the FHIR Bundle, as a file.
pub async fn download_bundle(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    axum::extract::Query(query): axum::extract::Query<SpanQuery>,
) -> PageResult {
    let span = match check_span(&state.dates, &query) {
        Ok(span) => span,
        Err(errors) => return download_page(&state, &user, ctx, id, &query, errors).await,
    };
    let (_, file) = state
        .app
        .records()
        .export_bundle(&user.actor(ctx), id, span)
        .await?;
    let mut response = file.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file.file_name)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// GET /patients/{id}/download/summary: the record as one page to print.
pub async fn download_summary(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    axum::extract::Query(query): axum::extract::Query<SpanQuery>,
) -> PageResult {
    let span = match check_span(&state.dates, &query) {
        Ok(span) => span,
        Err(errors) => return download_page(&state, &user, ctx, id, &query, errors).await,
    };
    let (head, printed) = state
        .app
        .records()
        .export_summary(&user.actor(ctx), id, span)
        .await?;
    let dates = &state.dates;
    let day = |text: &str| dates.parse_day(text).map(|d| dates.civil_day(d));
    let span_words = match (day(&query.from), day(&query.to)) {
        (None, None) => "The whole record".to_string(),
        (Some(from), None) => format!("From {from} on"),
        (None, Some(to)) => format!("Up to {to}"),
        (Some(from), Some(to)) => format!("From {from} to {to}"),
    };
    Ok(render(&PrintPage {
        page: page("Health record summary", &user, Nav::Documents, id),
        basis: basis_words(&head.access, &head.patient),
        patient: Banner::new(&head.patient, dates, state.app.now()),
        id,
        span_words,
        sections: print_sections(dates, &printed),
    }))
}

/// The lines of each part of a printed record.
fn print_sections(dates: &Dates, printed: &PrintedRecord) -> Vec<PrintSection> {
    let plain = |item: &Item, detail: String| Line {
        title: label(item),
        detail,
        when: dates.day_of(item.columns.sort_at),
        href: None,
    };
    vec![
        PrintSection {
            id: "problems",
            title: "Problems",
            empty: "No problems are recorded.",
            lines: printed
                .conditions
                .iter()
                .map(|c| {
                    let status = if is_active_condition(&c.columns.status) {
                        "Current"
                    } else {
                        "Resolved or inactive"
                    };
                    plain(c, status.into())
                })
                .collect(),
        },
        PrintSection {
            id: "allergies",
            title: "Allergies and intolerances",
            empty: "No allergies are recorded.",
            lines: printed
                .allergies
                .iter()
                .map(|a| summary::allergy_line(dates, a))
                .collect(),
        },
        PrintSection {
            id: "medications",
            title: "Medications",
            empty: "No medications are recorded.",
            lines: printed
                .medications
                .iter()
                .map(|m| medication_line(dates, m))
                .collect(),
        },
        PrintSection {
            id: "immunizations",
            title: "Vaccinations",
            empty: "No vaccinations are recorded.",
            lines: printed
                .immunizations
                .iter()
                .map(|i| plain(i, String::new()))
                .collect(),
        },
        PrintSection {
            id: "results",
            title: "Test results and measurements",
            empty: "No results are recorded.",
            lines: printed
                .results
                .iter()
                .map(|r| {
                    let mut parts = Vec::new();
                    if let Some(Mapped::Observation(o)) = &r.details {
                        let (value, range) = observation_words(o);
                        parts.push(value);
                        if !range.is_empty() {
                            parts.push(format!("Normal range {range}"));
                        }
                    }
                    let (flag, _) = flag_words(r.columns.flag);
                    if !flag.is_empty() && r.columns.flag != Flag::None {
                        parts.push(flag.to_string());
                    }
                    plain(r, joined(parts))
                })
                .collect(),
        },
        PrintSection {
            id: "procedures",
            title: "Procedures",
            empty: "No procedures are recorded.",
            lines: printed
                .procedures
                .iter()
                .map(|p| plain(p, who(p).map(|w| format!("By {w}")).unwrap_or_default()))
                .collect(),
        },
        PrintSection {
            id: "visits",
            title: "Visits",
            empty: "No visits are recorded.",
            lines: printed
                .visits
                .iter()
                .map(|v| {
                    plain(
                        v,
                        joined(vec![
                            who(v).unwrap_or_default(),
                            place(v).unwrap_or_default(),
                        ]),
                    )
                })
                .collect(),
        },
    ]
}
