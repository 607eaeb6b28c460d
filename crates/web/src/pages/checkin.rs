//! E-check-in pages: the patient's side's check-in form for a visit, and the photos of the
//! insurance card for those who may see the patient's appointments.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
use crate::pages::banner::Banner;
use crate::pages::messages::{file_response, ids};
use crate::pages::words::basis_words;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use crate::upload::Uploaded;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::appointments::{CheckinInput, CheckinPage};
use portal_app::auth::CurrentUser;
use portal_domain::access::Action;
use portal_domain::appointments::checkin::{Answer, Contact, Insurance};
use portal_domain::fields::FieldErrors;
use portal_domain::{AppointmentId, AttachmentId, PatientId};

/// Check-in's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/appointments/{item}/check-in",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || get(form),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/appointments/{item}/check-in",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || post(send),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/checkin-photos/{item}",
        access: Access::PatientItem(Action::ViewAppointments),
        serve: || get(photo),
    },
];

/// One medication or allergy to review.
pub struct Item {
    name: String,
    label: String,
    answer: &'static str,
    choices: &'static [(&'static str, &'static str)],
}

/// One text field of the form.
pub struct Field {
    name: &'static str,
    label: &'static str,
    value: String,
    kind: &'static str,
}

fn field(name: &'static str, label: &'static str, value: &str, kind: &'static str) -> Field {
    Field {
        name,
        label,
        value: value.to_string(),
        kind,
    }
}

/// One question.
pub struct Question {
    name: String,
    text: String,
    answer: String,
}

#[derive(Template)]
#[template(path = "appointment_checkin.html")]
struct CheckinShown {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    errors: FieldErrors,
    action: String,
    appointment_href: String,
    when: String,
    open: bool,
    contact: Vec<Field>,
    insurance: Vec<Field>,
    no_insurance: bool,
    clinical: bool,
    medications: Vec<Item>,
    other_medications: String,
    allergies: Vec<Item>,
    other_allergies: String,
    questions: Vec<Question>,
    sent: Option<String>,
}

const MEDICATION_ANSWERS: &[(&str, &str)] = &[
    ("still", "Yes"),
    ("no-longer", "No, I stopped"),
    ("not-sure", "Not sure"),
];
const ALLERGY_ANSWERS: &[(&str, &str)] = &[
    ("still", "Yes"),
    ("no-longer", "No"),
    ("not-sure", "Not sure"),
];

fn page(state: &AppState, user: &CurrentUser, shown: CheckinPage, errors: FieldErrors) -> Response {
    let id = shown.patient.id;
    let a = &shown.appointment;
    let items = |list: &[portal_domain::appointments::checkin::Reviewed],
                 prefix: &str,
                 choices: &'static [(&'static str, &'static str)]| {
        list.iter()
            .map(|r| Item {
                name: format!("{prefix}-{}", r.item),
                label: crate::pages::words::plain_name(&r.label),
                answer: r.answer.as_str(),
                choices,
            })
            .collect::<Vec<_>>()
    };
    let (medications, allergies, other_medications, other_allergies) = match &shown.review {
        Some(r) => (
            items(&r.medications, "med", MEDICATION_ANSWERS),
            items(&r.allergies, "allergy", ALLERGY_ANSWERS),
            r.other_medications.clone(),
            r.other_allergies.clone(),
        ),
        None => Default::default(),
    };
    render_status(
        form_status(&errors),
        &CheckinShown {
            page: Page::for_record("Check in", user, id, Nav::Appointments, Nav::Patients),
            basis: basis_words(&shown.access, &shown.patient),
            patient: Banner::new(&shown.patient, &state.dates, state.app.now()),
            errors,
            action: format!("/patients/{id}/appointments/{}/check-in", a.id),
            appointment_href: format!("/patients/{id}/appointments/{}", a.id),
            when: state.dates.appointment(a.start),
            open: shown.open,
            contact: vec![
                field("phone", "Phone number", &shown.contact.phone, "tel"),
                field(
                    "email",
                    "E-mail address (optional)",
                    &shown.contact.email,
                    "email",
                ),
                field("street", "Street address", &shown.contact.street, "text"),
                field("city", "City", &shown.contact.city, "text"),
                field("region", "State", &shown.contact.region, "text"),
                field(
                    "postal_code",
                    "ZIP code",
                    &shown.contact.postal_code,
                    "text",
                ),
            ],
            insurance: vec![
                field("payer", "Insurer or plan", &shown.insurance.payer, "text"),
                field("member_id", "Member id", &shown.insurance.member_id, "text"),
                field(
                    "group_number",
                    "Group number (optional)",
                    &shown.insurance.group_number,
                    "text",
                ),
            ],
            no_insurance: shown.insurance.none,
            clinical: shown.review.is_some(),
            medications,
            other_medications,
            allergies,
            other_allergies,
            questions: shown
                .answers
                .into_iter()
                .enumerate()
                .map(|(n, (text, answer))| Question {
                    name: format!("answer-{n}"),
                    text,
                    answer,
                })
                .collect(),
            sent: shown.sent.map(|s| state.dates.minute(s.submitted_at)),
        },
    )
}

/// GET /patients/{id}/appointments/{item}/check-in
pub async fn form(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let shown = state
        .app
        .appointments()
        .checkin_form(&user.actor(ctx), id, appointment)
        .await?;
    Ok(page(&state, &user, shown, FieldErrors::new()))
}

fn input(mut form: crate::upload::MultipartForm) -> CheckinInput {
    let pairs = |prefix: &str| {
        form.fields()
            .iter()
            .filter_map(|(name, value)| {
                name.strip_prefix(prefix)
                    .map(|item| (item.to_string(), value.clone()))
            })
            .collect::<Vec<_>>()
    };
    let medications = pairs("med-");
    let allergies = pairs("allergy-");
    let mut answers = Vec::new();
    while let Some(a) = form.text(&format!("answer-{}", answers.len())) {
        answers.push(a.to_string());
    }
    CheckinInput {
        contact: Contact {
            phone: form.get("phone"),
            email: form.get("email"),
            street: form.get("street"),
            city: form.get("city"),
            region: form.get("region"),
            postal_code: form.get("postal_code"),
        },
        insurance: Insurance {
            none: form.text("no_insurance") == Some("yes"),
            payer: form.get("payer"),
            member_id: form.get("member_id"),
            group_number: form.get("group_number"),
        },
        medications,
        other_medications: form.get("other_medications"),
        allergies,
        other_allergies: form.get("other_allergies"),
        answers,
        photos: form.take_files(),
    }
}

/// POST /patients/{id}/appointments/{item}/check-in
pub async fn send(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Uploaded(form): Uploaded,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let input = input(form);
    let appointments = state.app.appointments();
    match appointments
        .check_in(&user.actor(ctx.clone()), id, appointment, &input)
        .await
    {
        Ok(()) => Ok(Redirect::to(&format!(
            "/patients/{id}/appointments/{appointment}?checked_in=1"
        ))
        .into_response()),
        Err(Error::Invalid(errors)) => {
            let mut shown = appointments
                .checkin_form(&user.actor(ctx), id, appointment)
                .await?;
            // Show what was typed, not what was kept.
            shown.contact = input.contact.clone();
            shown.insurance = input.insurance.clone();
            if let Some(review) = shown.review.as_mut() {
                for (list, given) in [
                    (&mut review.medications, &input.medications),
                    (&mut review.allergies, &input.allergies),
                ] {
                    for r in list.iter_mut() {
                        if let Some(a) = given
                            .iter()
                            .find(|(item, _)| *item == r.item)
                            .and_then(|(_, a)| Answer::parse(a).ok())
                        {
                            r.answer = a;
                        }
                    }
                }
                review.other_medications = input.other_medications.clone();
                review.other_allergies = input.other_allergies.clone();
            }
            for (n, (_, answer)) in shown.answers.iter_mut().enumerate() {
                *answer = input.answers.get(n).cloned().unwrap_or_default();
            }
            Ok(page(&state, &user, shown, errors))
        }
        Err(other) => Err(other.into()),
    }
}

/// GET /patients/{id}/checkin-photos/{item}
pub async fn photo(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, file): (PatientId, AttachmentId) = ids(&id, &item)?;
    let (name, kind, content) = state
        .app
        .appointments()
        .checkin_photo(&user.actor(ctx), id, file)
        .await?;
    Ok(file_response(content, kind, &name))
}
