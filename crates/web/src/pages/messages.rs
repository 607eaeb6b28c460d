//! Secure messaging pages: a record's conversations, composing, one conversation (with the
//! clinic's notes and routing for the clinic), attached files, and the in-basket.

use crate::AppState;
use crate::error::{IdPath, PageError, PageResult};
use crate::layout::{Nav, Page, form_status, render, render_status};
use crate::pages::banner::Banner;
use crate::pages::words::{Dates, basis_words};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use crate::upload::Uploaded;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_app::messages::{
    AttachmentFile, ClinicEntry, Compose, Conversation, MessageForm, SavedDraft, StoredMessage,
    Thread, Waiting,
};
use portal_domain::access::Action;
use portal_domain::audit::RequestContext;
use portal_domain::fields::FieldErrors;
use portal_domain::messages::attachment::size_words;
use portal_domain::messages::{Recipient, Side, Status, Topic};
use portal_domain::{AttachmentId, ConversationId, PatientId, Role};
use serde::Deserialize;

/// Messaging's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/messages",
        access: Access::Patient(Action::ViewMessages),
        serve: || get(list),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/messages/search",
        access: Access::Patient(Action::ViewMessages),
        serve: || post(search),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/messages/new",
        access: Access::Patient(Action::SendMessage),
        serve: || get(compose),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/messages",
        access: Access::Patient(Action::SendMessage),
        serve: || post(start),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/messages/{item}",
        access: Access::PatientItem(Action::ViewMessages),
        serve: || get(thread),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/messages/{item}/reply",
        access: Access::PatientItem(Action::SendMessage),
        serve: || post(reply),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/messages/{item}/note",
        access: Access::PatientItem(Action::NoteMessage),
        serve: || post(note),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/messages/{item}/assign",
        access: Access::PatientItem(Action::ReassignMessage),
        serve: || post(assign),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/messages/{item}/status",
        access: Access::PatientItem(Action::CloseConversation),
        serve: || post(status),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/attachments/{item}",
        access: Access::PatientItem(Action::ViewMessages),
        serve: || get(attachment),
    },
    Route {
        method: "GET",
        path: "/inbasket",
        access: Access::Clinic,
        serve: || get(inbasket),
    },
];

/// The routes whose forms carry files (`multipart/form-data`), for the tests that send them.
pub const FORMS_WITH_FILES: &[&str] = &[
    "/patients/{id}/messages",
    "/patients/{id}/messages/{item}/reply",
    "/patients/{id}/appointments/{item}/check-in",
];

fn page_for(title: &str, user: &CurrentUser, patient: PatientId) -> Page {
    Page::for_record(title, user, patient, Nav::Messages, Nav::InBasket)
}

/// One conversation in a list.
pub struct ListEntry {
    href: String,
    subject: String,
    topic: &'static str,
    routed: String,
    when: String,
    status: &'static str,
    unread: i64,
}

fn status_words(status: Status, patient_side: bool) -> &'static str {
    match (status, patient_side) {
        (Status::Open, true) => "Open",
        (Status::Open, false) => "Waiting",
        (Status::Done, _) => "Answered",
        (Status::Closed, _) => "Closed",
    }
}

fn list_entry(c: &Conversation, dates: &Dates, patient_side: bool) -> ListEntry {
    ListEntry {
        href: format!("/patients/{}/messages/{}", c.patient, c.id),
        subject: c.subject.as_str().to_string(),
        topic: c.topic.label(),
        routed: c.routed_name.clone(),
        when: dates.minute(c.last_message_at),
        status: status_words(c.status, patient_side),
        unread: c.unread,
    }
}

#[derive(Template)]
#[template(path = "messages.html")]
struct ListPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    entries: Vec<ListEntry>,
    patient_side: bool,
    can_write: bool,
    new_href: String,
    search_action: String,
    list_href: String,
    term: String,
    searched: bool,
}

async fn list_page(
    state: AppState,
    user: CurrentUser,
    ctx: RequestContext,
    id: PatientId,
    term: Option<String>,
) -> PageResult {
    let list = state
        .app
        .messages()
        .list(&user.actor(ctx), id, term.as_deref())
        .await?;
    let entries = list
        .conversations
        .iter()
        .map(|c| list_entry(c, &state.dates, list.patient_side))
        .collect();
    let unread: i64 = if list.patient_side {
        list.conversations.iter().map(|c| c.unread).sum()
    } else {
        0
    };
    Ok(render(&ListPage {
        page: page_for("Messages", &user, id).with_new("Messages", unread),
        basis: basis_words(&list.access, &list.patient),
        patient: Banner::new(&list.patient, &state.dates, state.app.now()),
        entries,
        patient_side: list.patient_side,
        can_write: list.patient_side && list.access.also_allows(Action::SendMessage),
        new_href: format!("/patients/{id}/messages/new"),
        search_action: format!("/patients/{id}/messages/search"),
        list_href: format!("/patients/{id}/messages"),
        searched: term.is_some(),
        term: term.unwrap_or_default(),
    }))
}

/// GET /patients/{id}/messages
pub async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    list_page(state, user, ctx, id, None).await
}

/// The search form (POST, so the words never sit in a URL).
#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: String,
}

/// POST /patients/{id}/messages/search
pub async fn search(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(form): Form<SearchForm>,
) -> PageResult {
    let term: String = form.q.trim().chars().take(100).collect();
    list_page(state, user, ctx, id, Some(term)).await
}

/// A choice in a select.
pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "message_new.html")]
struct ComposePage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    errors: FieldErrors,
    action: String,
    recipients: Vec<Choice>,
    topics: Vec<Choice>,
    subject: String,
    body: String,
    send_key: String,
    follows: Option<(String, String)>,
    saved: Option<String>,
    reply_time: String,
    emergency: String,
    crisis: String,
    files_hint: String,
    max_files: usize,
}

fn files_hint(settings: &portal_domain::messages::MessagingSettings) -> String {
    if settings.attachment_max_count == 0 {
        return String::new();
    }
    format!(
        "Up to {} photo{} (JPEG, PNG or HEIC from a phone) or PDF document{}, each up to {}.",
        settings.attachment_max_count,
        if settings.attachment_max_count == 1 {
            ""
        } else {
            "s"
        },
        if settings.attachment_max_count == 1 {
            ""
        } else {
            "s"
        },
        size_words(settings.attachment_max_bytes)
    )
}

fn compose_page(
    state: &AppState,
    user: &CurrentUser,
    id: PatientId,
    compose: Compose,
    draft: SavedDraft,
    errors: FieldErrors,
) -> Response {
    let recipients = compose
        .recipients
        .iter()
        .map(|o| {
            let value = o.recipient.as_form();
            Choice {
                selected: value == draft.recipient,
                label: match o.recipient {
                    Recipient::Clinician(_) => format!("{} (your care team)", o.name),
                    Recipient::Pool(_) => o.name.clone(),
                },
                value,
            }
        })
        .collect();
    let topics = Topic::ALL
        .iter()
        .map(|t| Choice {
            value: t.as_str().into(),
            label: t.label().into(),
            selected: t.as_str() == draft.topic,
        })
        .collect();
    let status = form_status(&errors);
    render_status(
        status,
        &ComposePage {
            page: page_for("New message", user, id),
            basis: basis_words(&compose.access, &compose.patient),
            patient: Banner::new(&compose.patient, &state.dates, state.app.now()),
            errors,
            action: format!("/patients/{id}/messages"),
            recipients,
            topics,
            subject: draft.subject,
            body: draft.body,
            send_key: compose.send_key,
            follows: compose
                .follows
                .map(|c| (c.id.to_string(), c.subject.as_str().to_string())),
            saved: draft.saved_at.map(|at| state.dates.minute(at)),
            reply_time: compose.settings.reply_time.clone(),
            emergency: compose.settings.emergency_number.clone(),
            crisis: compose.settings.crisis_line.clone(),
            files_hint: files_hint(&compose.settings),
            max_files: compose.settings.attachment_max_count,
        },
    )
}

/// Which closed conversation a new one starts from.
#[derive(Deserialize)]
pub struct ComposeQuery {
    from: Option<String>,
    /// A topic to start with (from a page that suggests writing, e.g. about a refill).
    topic: Option<String>,
}

/// GET /patients/{id}/messages/new
pub async fn compose(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Query(query): Query<ComposeQuery>,
) -> PageResult {
    let follows = match query.from.as_deref() {
        Some(raw) => Some(raw.parse().map_err(|_| PageError(Error::NotFound))?),
        None => None,
    };
    let compose = state
        .app
        .messages()
        .compose(&user.actor(ctx), id, follows)
        .await?;
    let mut draft = compose.draft.clone();
    if draft.topic.is_empty()
        && let Some(topic) = query
            .topic
            .as_deref()
            .and_then(|t| Topic::ALL.into_iter().find(|k| k.as_str() == t))
    {
        draft.topic = topic.as_str().into();
    }
    Ok(compose_page(
        &state,
        &user,
        id,
        compose,
        draft,
        FieldErrors::new(),
    ))
}

fn message_form(mut form: crate::upload::MultipartForm) -> MessageForm {
    MessageForm {
        recipient: form.get("recipient"),
        topic: form.get("topic"),
        subject: form.get("subject"),
        body: form.get("body"),
        send_key: form.get("send_key"),
        follows: form.text("follows").and_then(|f| f.parse().ok()),
        files: form.take_files(),
    }
}

fn saving_draft(form: &crate::upload::MultipartForm) -> bool {
    form.text("intent") == Some("draft")
}

/// POST /patients/{id}/messages: sends a new conversation, or keeps it as a draft.
pub async fn start(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Uploaded(form): Uploaded,
) -> PageResult {
    let draft = saving_draft(&form);
    let form = message_form(form);
    let actor = user.actor(ctx.clone());
    let messages = state.app.messages();
    if draft {
        messages.save_compose_draft(&actor, id, &form).await?;
        return Ok(Redirect::to(&format!("/patients/{id}/messages/new")).into_response());
    }
    match messages.start(&actor, id, &form).await {
        Ok(conversation) => {
            Ok(Redirect::to(&format!("/patients/{id}/messages/{conversation}")).into_response())
        }
        Err((Error::Invalid(errors), typed)) => {
            let compose = messages.compose(&user.actor(ctx), id, form.follows).await?;
            Ok(compose_page(&state, &user, id, compose, typed, errors))
        }
        Err((Error::Conflict(message), typed)) => {
            let compose = messages.compose(&user.actor(ctx), id, form.follows).await?;
            let errors = FieldErrors::single("body", message);
            Ok(compose_page(&state, &user, id, compose, typed, errors))
        }
        Err((other, _)) => Err(other.into()),
    }
}

/// One message as the page shows it.
pub struct MessageView {
    author: String,
    mine: bool,
    from_clinic: bool,
    when: String,
    lines: Vec<String>,
    read: Option<String>,
    files: Vec<FileView>,
}

/// One attached file as the page shows it.
pub struct FileView {
    href: String,
    name: String,
    what: String,
    inline: bool,
}

/// A clinic note or routing change as the page shows it.
pub struct EntryView {
    who: String,
    when: String,
    what: String,
    lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "message_thread.html")]
struct ThreadPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    errors: FieldErrors,
    subject: String,
    topic: &'static str,
    routed: String,
    status: &'static str,
    closed: bool,
    done: bool,
    patient_side: bool,
    messages: Vec<MessageView>,
    entries: Option<Vec<EntryView>>,
    routes: Vec<Choice>,
    can_note: bool,
    can_assign: bool,
    can_finish: bool,
    can_reply: bool,
    base: String,
    new_from: String,
    body: String,
    saved: Option<String>,
    send_key: String,
    reply_time: String,
    emergency: String,
    files_hint: String,
    max_files: usize,
    note: String,
}

fn author_words(m: &StoredMessage, patient_given: &str, viewer: &CurrentUser) -> String {
    if m.author == viewer.id {
        return "You".into();
    }
    match m.side {
        Side::Patient if m.by_proxy => format!("{} for {}", m.author_name, patient_given),
        _ => m.author_name.clone(),
    }
}

fn lines(text: &str) -> Vec<String> {
    text.split('\n').map(str::to_string).collect()
}

/// What a refused form on a conversation's page gives back: its errors and what was typed.
#[derive(Default)]
struct Again {
    errors: FieldErrors,
    body: Option<String>,
    note: String,
}

impl Again {
    fn errors(errors: FieldErrors) -> Self {
        Self {
            errors,
            ..Self::default()
        }
    }
}

fn thread_page(
    state: &AppState,
    user: &CurrentUser,
    id: PatientId,
    thread: Thread,
    again: Again,
) -> Response {
    let Again {
        errors,
        body: typed,
        note,
    } = again;
    let patient_side = user.role == Role::Patient;
    let dates = &state.dates;
    let given = thread.patient.given_name.trim().to_string();
    let messages = thread
        .messages
        .iter()
        .map(|m| {
            let mine_side = (m.side == Side::Patient) == patient_side;
            MessageView {
                author: author_words(m, &given, user),
                mine: m.author == user.id,
                from_clinic: m.side == Side::Clinic,
                when: dates.minute(m.sent_at),
                lines: lines(m.body.as_str()),
                read: mine_side.then(|| match (m.read_at, patient_side) {
                    (Some(at), true) => format!("Read by the clinic {}", dates.minute(at)),
                    (Some(at), false) => format!("Read by the patient {}", dates.minute(at)),
                    (None, true) => "Not read by the clinic yet".into(),
                    (None, false) => "Not read by the patient yet".into(),
                }),
                files: m
                    .attachments
                    .iter()
                    .map(|f| FileView {
                        href: format!("/patients/{id}/attachments/{}", f.id),
                        name: f.name.as_str().to_string(),
                        what: format!("{}, {}", f.kind.label(), size_words(f.size.max(0) as usize)),
                        inline: f.kind.shown_inline(),
                    })
                    .collect(),
            }
        })
        .collect();
    let entries = thread.clinic_entries.as_ref().map(|entries| {
        entries
            .iter()
            .map(|e: &ClinicEntry| EntryView {
                who: e.author_name.clone(),
                when: dates.minute(e.at),
                what: match e.what.as_str() {
                    "note" => "Internal note".into(),
                    "reassigned" => format!("Reassigned {}", e.text),
                    "done" => "Marked done".into(),
                    "closed" => "Closed the conversation".into(),
                    "open" => "Opened again".into(),
                    other => other.to_string(),
                },
                lines: if e.what == "note" {
                    lines(&e.text)
                } else {
                    Vec::new()
                },
            })
            .collect()
    });
    let c = &thread.conversation;
    let routes = thread
        .routes
        .iter()
        .map(|o| Choice {
            value: o.recipient.as_form(),
            label: match o.recipient {
                Recipient::Pool(_) => format!("Pool: {}", o.name),
                Recipient::Clinician(_) => o.name.clone(),
            },
            selected: o.recipient == c.routed_to,
        })
        .collect();
    let access = &thread.access;
    let status = form_status(&errors);
    render_status(
        status,
        &ThreadPage {
            page: page_for(c.subject.as_str(), user, id),
            basis: basis_words(access, &thread.patient),
            patient: Banner::new(&thread.patient, dates, state.app.now()),
            errors,
            subject: c.subject.as_str().to_string(),
            topic: c.topic.label(),
            routed: c.routed_name.clone(),
            status: status_words(c.status, patient_side),
            closed: c.status == Status::Closed,
            done: c.status == Status::Done,
            patient_side,
            messages,
            entries,
            routes,
            can_note: !patient_side && access.also_allows(Action::NoteMessage),
            can_assign: !patient_side && access.also_allows(Action::ReassignMessage),
            can_finish: !patient_side && access.also_allows(Action::CloseConversation),
            can_reply: c.status.takes_replies() && access.also_allows(Action::SendMessage),
            base: format!("/patients/{id}/messages/{}", c.id),
            new_from: format!("/patients/{id}/messages/new?from={}", c.id),
            body: typed.unwrap_or(thread.draft.body),
            saved: thread.draft.saved_at.map(|at| dates.minute(at)),
            send_key: thread.send_key,
            reply_time: thread.settings.reply_time.clone(),
            emergency: thread.settings.emergency_number.clone(),
            files_hint: files_hint(&thread.settings),
            max_files: thread.settings.attachment_max_count,
            note,
        },
    )
}

/// GET /patients/{id}/messages/{item}
pub async fn thread(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, conversation) = ids(&id, &item)?;
    let thread = state
        .app
        .messages()
        .open(&user.actor(ctx), id, conversation)
        .await?;
    Ok(thread_page(&state, &user, id, thread, Again::default()))
}

/// A path's patient and conversation (or file); malformed ones answer as missing.
pub(crate) fn ids<T: std::str::FromStr>(id: &str, item: &str) -> Result<(PatientId, T), PageError> {
    match (id.parse(), item.parse()) {
        (Ok(id), Ok(item)) => Ok((id, item)),
        _ => Err(PageError(Error::NotFound)),
    }
}

/// Shows the conversation again with a form's errors (and what was typed).
async fn thread_with_errors(
    state: &AppState,
    user: &CurrentUser,
    ctx: RequestContext,
    id: PatientId,
    conversation: ConversationId,
    again: Again,
) -> PageResult {
    let thread = state
        .app
        .messages()
        .open(&user.actor(ctx), id, conversation)
        .await?;
    Ok(thread_page(state, user, id, thread, again))
}

/// POST /patients/{id}/messages/{item}/reply
pub async fn reply(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Uploaded(form): Uploaded,
) -> PageResult {
    let (id, conversation): (PatientId, ConversationId) = ids(&id, &item)?;
    let draft = saving_draft(&form);
    let form = message_form(form);
    let actor = user.actor(ctx.clone());
    let messages = state.app.messages();
    let back = format!("/patients/{id}/messages/{conversation}");
    if draft {
        messages
            .save_reply_draft(&actor, id, conversation, &form)
            .await?;
        return Ok(Redirect::to(&back).into_response());
    }
    match messages.reply(&actor, id, conversation, &form).await {
        Ok(()) => Ok(Redirect::to(&back).into_response()),
        Err((Error::Invalid(errors), typed)) => {
            thread_with_errors(
                &state,
                &user,
                ctx,
                id,
                conversation,
                Again {
                    errors,
                    body: Some(typed.body),
                    note: String::new(),
                },
            )
            .await
        }
        Err((Error::Conflict(message), typed)) => {
            let errors = FieldErrors::single("body", message);
            thread_with_errors(
                &state,
                &user,
                ctx,
                id,
                conversation,
                Again {
                    errors,
                    body: Some(typed.body),
                    note: String::new(),
                },
            )
            .await
        }
        Err((other, _)) => Err(other.into()),
    }
}

/// The internal note form.
#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

/// POST /patients/{id}/messages/{item}/note
pub async fn note(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Form(form): Form<NoteForm>,
) -> PageResult {
    let (id, conversation): (PatientId, ConversationId) = ids(&id, &item)?;
    match state
        .app
        .messages()
        .note(&user.actor(ctx.clone()), id, conversation, &form.note)
        .await
    {
        Ok(()) => Ok(
            Redirect::to(&format!("/patients/{id}/messages/{conversation}#notes")).into_response(),
        ),
        Err(Error::Invalid(errors)) => {
            thread_with_errors(
                &state,
                &user,
                ctx,
                id,
                conversation,
                Again {
                    errors,
                    body: None,
                    note: form.note,
                },
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// The reassign form.
#[derive(Deserialize)]
pub struct AssignForm {
    #[serde(default)]
    to: String,
}

/// POST /patients/{id}/messages/{item}/assign
pub async fn assign(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Form(form): Form<AssignForm>,
) -> PageResult {
    let (id, conversation): (PatientId, ConversationId) = ids(&id, &item)?;
    match state
        .app
        .messages()
        .reassign(&user.actor(ctx.clone()), id, conversation, &form.to)
        .await
    {
        // The conversation may no longer be the user's to open.
        Ok(()) => Ok(Redirect::to("/inbasket").into_response()),
        Err(Error::Invalid(errors)) => {
            thread_with_errors(&state, &user, ctx, id, conversation, Again::errors(errors)).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The done/close form.
#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

/// POST /patients/{id}/messages/{item}/status
pub async fn status(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> PageResult {
    let (id, conversation): (PatientId, ConversationId) = ids(&id, &item)?;
    let close = match form.status.as_str() {
        "done" => false,
        "closed" => true,
        _ => {
            let errors = FieldErrors::single("status", "Choose done or closed.");
            return thread_with_errors(&state, &user, ctx, id, conversation, Again::errors(errors))
                .await;
        }
    };
    match state
        .app
        .messages()
        .finish(&user.actor(ctx.clone()), id, conversation, close)
        .await
    {
        Ok(()) => Ok(Redirect::to("/inbasket").into_response()),
        Err(Error::Conflict(message)) => {
            let errors = FieldErrors::single("status", message);
            thread_with_errors(&state, &user, ctx, id, conversation, Again::errors(errors)).await
        }
        Err(other) => Err(other.into()),
    }
}

/// GET /patients/{id}/attachments/{item}: the file, to those who may read its conversation:
/// always a download, never sniffed, never cached.
pub async fn attachment(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, file): (PatientId, AttachmentId) = ids(&id, &item)?;
    let AttachmentFile { info, content } = state
        .app
        .messages()
        .attachment(&user.actor(ctx), id, file)
        .await?;
    Ok(file_response(content, info.kind, &info.name))
}

/// A stored file as a download: its own content type, `nosniff` (from the security headers), a
/// sandboxing CSP, and its cleaned name.
pub(crate) fn file_response(
    content: Vec<u8>,
    kind: portal_domain::messages::attachment::Kind,
    name: &portal_domain::messages::attachment::FileName,
) -> Response {
    let mut response = content.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(kind.content_type()),
    );
    // The stored name holds only letters, digits, spaces, dots, dashes and underscores; the
    // ASCII fallback drops the rest.
    let ascii: String = name
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // A download when opened on its own; pages show pictures with <img>, which ignores this.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent(name.as_str())
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}

/// RFC 5987 percent-encoding of a file name.
fn percent(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One line of the in-basket.
pub struct BasketEntry {
    href: String,
    patient: String,
    subject: String,
    topic: &'static str,
    routed: String,
    mine: bool,
    unread: i64,
    waiting: String,
}

#[derive(Template)]
#[template(path = "inbasket.html")]
struct InBasketPage {
    page: Page,
    waiting: Vec<BasketEntry>,
    done: Vec<BasketEntry>,
    /// How many conversations wait in all, and how many of them hold unread messages.
    open: String,
    unread: i64,
    /// Which of them this page shows, counted from 1 ("1–50").
    shown: String,
    /// Links to the pages before and after, when there are such pages.
    previous: Option<String>,
    next: Option<String>,
    refills: Vec<RefillEntry>,
    /// Patients with results to release: link, name, how many.
    results: Vec<(String, String, i64)>,
    /// Check-ins with changes: link, name, visit time, what changed.
    check_ins: Vec<(String, String, String, String)>,
    /// Patients asking to remove a proxy: link, name, proxy, asked on.
    removals: Vec<(String, String, String, String)>,
    /// Freed times nobody took: link to the schedule, when, with whom, offered to how many.
    unfilled: Vec<(String, String, String, i64)>,
    /// The kinds of work with their counts, as filter links: key, words, count, link, current.
    kinds: Vec<(&'static str, &'static str, usize, String, bool)>,
    /// The kind shown alone, or "all".
    show: &'static str,
    /// Whether the user is a clinician (who releases results).
    clinician: bool,
}

/// Which of the in-basket's kinds to show (`?show=`).
#[derive(Deserialize)]
pub struct InBasketQuery {
    show: Option<String>,
    /// The page of waiting messages, from 1 (anything else is the first).
    page: Option<String>,
}

/// One waiting refill request in the in-basket: who and for whom; a link to decide it only for
/// clinicians (staff never see the medications).
struct RefillEntry {
    href: Option<String>,
    patient: String,
    waiting: i64,
    since: String,
    routed: String,
    mine: bool,
}

fn basket_entry(w: &Waiting, dates: &Dates) -> BasketEntry {
    BasketEntry {
        href: format!("/patients/{}/messages/{}", w.patient, w.conversation),
        patient: w.patient_name.clone(),
        subject: w.subject.as_str().to_string(),
        topic: w.topic.label(),
        routed: w.routed_name.clone(),
        mine: w.mine,
        unread: w.unread,
        waiting: dates.minute(w.waiting_since.unwrap_or(w.last_message_at)),
    }
}

/// GET /inbasket
pub async fn inbasket(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(query): Query<InBasketQuery>,
) -> PageResult {
    let actor = user.actor(ctx);
    let other = state.app.clinic().other_work(&actor).await?;
    let results: Vec<(String, String, i64)> = other
        .results
        .iter()
        .map(|h| {
            (
                format!("/patients/{}/results", h.patient),
                h.patient_name.clone(),
                h.held,
            )
        })
        .collect();
    let check_ins: Vec<(String, String, String, String)> = other
        .check_ins
        .iter()
        .map(|c| {
            let mut what = Vec::new();
            if c.contact {
                what.push("contact details");
            }
            if c.insurance {
                what.push("insurance");
            }
            if c.clinical {
                what.push("medications or allergies");
            }
            (
                format!("/patients/{}/appointments/{}", c.patient, c.appointment),
                c.patient_name.clone(),
                state.dates.minute(c.starts_at),
                what.join(", "),
            )
        })
        .collect();
    let unfilled: Vec<(String, String, String, i64)> = other
        .unfilled
        .iter()
        .map(|u| {
            let date = state.dates.civil_today(u.start);
            (
                format!("/schedule?span=day&date={date}&clinician={}", u.clinician),
                format!(
                    "{} to {}",
                    state.dates.appointment(u.start),
                    state.dates.clock(u.end)
                ),
                u.clinician_name.clone(),
                u.offered,
            )
        })
        .collect();
    let removals: Vec<(String, String, String, String)> = if user.role == portal_domain::Role::Staff
    {
        crate::pages::proxies::removal_lines(&state, &actor).await?
    } else {
        Vec::new()
    };
    let asked_page = query
        .page
        .as_deref()
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1);
    let basket = state.app.messages().inbasket(&actor, asked_page).await?;
    let decides = user.role == portal_domain::Role::Clinician;
    let refills = state
        .app
        .refills()
        .queue(&actor)
        .await?
        .into_iter()
        .map(|q| RefillEntry {
            href: decides.then(|| format!("/patients/{}/refills/{}/review", q.patient, q.id)),
            patient: q.patient_name,
            waiting: q.waiting,
            since: state.dates.minute(q.routed_at),
            routed: q.waiting_for,
            mine: q.mine,
        })
        .collect();
    let waiting: Vec<BasketEntry> = basket
        .waiting
        .iter()
        .map(|w| basket_entry(w, &state.dates))
        .collect();
    let refills: Vec<RefillEntry> = refills;
    let clinician = user.role == portal_domain::Role::Clinician;
    let mut counts = vec![
        (
            "messages",
            "Messages",
            usize::try_from(basket.open).unwrap_or(0),
        ),
        ("refills", "Refill requests", refills.len()),
    ];
    if clinician {
        counts.push((
            "results",
            "Results to release",
            results.iter().map(|r| r.2 as usize).sum(),
        ));
    }
    counts.push(("check-ins", "Check-ins with changes", check_ins.len()));
    counts.push(("unfilled", "Earlier times nobody took", unfilled.len()));
    if !clinician {
        counts.push(("proxies", "Proxy removal requests", removals.len()));
    }
    let show = counts
        .iter()
        .map(|(key, _, _)| *key)
        .find(|key| query.show.as_deref() == Some(*key))
        .unwrap_or("all");
    let mut kinds = vec![(
        "all",
        "Everything",
        counts.iter().map(|c| c.2).sum(),
        "/inbasket".to_string(),
        show == "all",
    )];
    kinds.extend(counts.iter().map(|(key, words, n)| {
        (
            *key,
            *words,
            *n,
            format!("/inbasket?show={key}"),
            show == *key,
        )
    }));
    Ok(render(&InBasketPage {
        page: Page::signed_in("In-basket", &user, Nav::InBasket, None),
        open: thousands(basket.open),
        unread: basket.unread,
        shown: format!(
            "{}–{}",
            thousands(basket.offset + 1),
            thousands(basket.offset + waiting.len() as i64)
        ),
        previous: (basket.page > 1)
            .then(|| format!("/inbasket?show=messages&page={}", basket.page - 1)),
        next: (basket.page < basket.pages)
            .then(|| format!("/inbasket?show=messages&page={}", basket.page + 1)),
        waiting,
        refills,
        results,
        check_ins,
        removals,
        unfilled,
        kinds,
        show,
        clinician,
        done: basket
            .done
            .iter()
            .map(|w| basket_entry(w, &state.dates))
            .collect(),
    }))
}

/// A count with thousands separated by commas ("10,000").
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_with_thousands_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-4200), "-4,200");
    }

    #[test]
    fn file_names_are_percent_encoded_for_the_header() {
        assert_eq!(percent("ÉCZÉMA photo.jpg"), "%C3%89CZ%C3%89MA%20photo.jpg");
    }
}
