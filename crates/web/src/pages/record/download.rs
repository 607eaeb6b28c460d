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
    share_days: i64,
    email: String,
    /// A copy just sent: to whom, the code, until when.
    sent: Option<(String, String, String)>,
}

/// The summary a sent copy carries (its recipient has no account: no menu, no links).
#[derive(Template)]
#[template(path = "_shared_summary.html")]
struct SharedSummary<'a> {
    name: &'a str,
    born: &'a str,
    span_words: &'a str,
    clinic: &'a str,
    sent: String,
    sections: Vec<PrintSection>,
}

/// A sent copy's page: the code to ask for, or the copy.
#[derive(Template)]
#[template(path = "shared_record.html")]
struct SharedPage {
    page: Page,
    link: String,
    code: String,
    summary: Option<String>,
    until: String,
    error: Option<String>,
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
    download_page_with(state, user, ctx, id, query, errors, String::new(), None).await
}

/// [`download_page`], with the send form's address and a copy just sent.
#[allow(clippy::too_many_arguments)]
async fn download_page_with(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    query: &SpanQuery,
    errors: Vec<(String, String)>,
    email: String,
    sent: Option<(String, String, String)>,
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
        share_days: portal_app::record::SHARE_LIFETIME_DAYS,
        email,
        sent,
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

/// The send form.
#[derive(Debug, Default, Deserialize)]
pub struct SendForm {
    #[serde(default)]
    email: String,
}

/// POST /patients/{id}/download/send: a copy of the whole record to an e-mail address; the page
/// then shows the code to give the recipient.
pub async fn send_copy(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    axum::Form(form): axum::Form<SendForm>,
) -> PageResult {
    let actor = user.actor(ctx.clone());
    // The policy first (a refused request reads nothing), then the address.
    let leave = match state
        .app
        .records()
        .prepare_copy(&actor, id, &form.email)
        .await
    {
        Ok(leave) => leave,
        Err(portal_app::Error::Invalid(errors)) => {
            let errors = errors
                .iter()
                .map(|(_, message)| ("email".to_string(), format!("E-mail: {message}")))
                .collect();
            let mut response = download_page_with(
                &state,
                &user,
                ctx,
                id,
                &SpanQuery::default(),
                errors,
                form.email,
                None,
            )
            .await?;
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
        Err(e) => return Err(e.into()),
    };
    let span = Span {
        from: None,
        until: None,
    };
    // The summary the copy carries, as the sender would print it (read, and audited, as theirs).
    let (head, printed) = state.app.records().export_summary(&actor, id, span).await?;
    let dates = &state.dates;
    let banner = Banner::new(&head.patient, dates, state.app.now());
    let summary = SharedSummary {
        name: &banner.name,
        born: &banner.born,
        span_words: "The whole record",
        clinic: &state.app.config().clinic_name,
        sent: dates.day(state.app.now()),
        sections: print_sections(dates, &printed),
    }
    .render()
    .map_err(|e| portal_app::Error::Internal(format!("summary: {e}")))?;
    match state
        .app
        .records()
        .send_copy(&actor, leave, span, &summary)
        .await
    {
        Ok(copy) => {
            let sent = (
                form.email.trim().to_string(),
                copy.code,
                dates.day(copy.expires_at),
            );
            download_page_with(
                &state,
                &user,
                ctx,
                id,
                &SpanQuery::default(),
                Vec::new(),
                String::new(),
                Some(sent),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The page of a sent copy, anonymous.
fn shared_page(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    link: &str,
    content: (Option<String>, String, String),
    error: Option<String>,
) -> axum::response::Response {
    let (csrf, cookie) = crate::session::anonymous_csrf(state, headers);
    let (summary, code, until) = content;
    let mut response = render(&SharedPage {
        page: Page::anonymous_form("A health record sent to you", &csrf),
        link: link.to_string(),
        code,
        summary,
        until,
        error,
    });
    if let Some(cookie) = cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// GET /shared/{token}: asks for the code.
pub async fn shared_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    axum::extract::Path(link): axum::extract::Path<String>,
) -> axum::response::Response {
    shared_page(
        &state,
        &headers,
        &link,
        (None, String::new(), String::new()),
        None,
    )
}

/// The code form.
#[derive(Debug, Default, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    want: String,
}

/// POST /shared/{token}: the copy, as a page to print or as the FHIR file, for the right code.
pub async fn shared_open(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: axum::http::HeaderMap,
    axum::extract::Path(link): axum::extract::Path<String>,
    axum::Form(form): axum::Form<CodeForm>,
) -> PageResult {
    use portal_app::record::NotOpened;
    let opened = state
        .app
        .records()
        .open_copy(&link, &form.code, &ctx)
        .await?;
    let copy = match opened {
        Ok(copy) => copy,
        Err(NotOpened::WrongCode(left)) => {
            let message = if left > 1 {
                format!("That code is not right. {left} tries are left.")
            } else if left == 1 {
                "That code is not right. One try is left.".to_string()
            } else {
                "That code is not right, and no tries are left: ask for a new copy.".to_string()
            };
            let mut response = shared_page(
                &state,
                &headers,
                &link,
                (None, String::new(), String::new()),
                Some(message),
            );
            *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(response);
        }
        Err(NotOpened::Gone) => {
            return Ok(crate::error::error_page(
                axum::http::StatusCode::NOT_FOUND,
                "This link does not work any more",
                vec![
                    "It has expired, or the wrong code was typed too many times. Ask the person \
                     who sent it for a new copy."
                        .into(),
                ],
            ));
        }
    };
    if form.want == "file" {
        let mut response = copy.file.body.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/fhir+json; charset=utf-8"),
        );
        if let Ok(v) =
            HeaderValue::from_str(&format!("attachment; filename=\"{}\"", copy.file.file_name))
        {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(response);
    }
    Ok(shared_page(
        &state,
        &headers,
        &link,
        (
            Some(copy.summary_html),
            form.code,
            state.dates.day(copy.expires_at),
        ),
        None,
    ))
}
