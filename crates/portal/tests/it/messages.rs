//! Secure messaging through the real server: conversations between the patient's side and the
//! clinic's pools, on SQLite and PostgreSQL.

use crate::auth::mail_files;
use crate::both_backends;
use crate::helpers::{TestApp, location};
use portal_app::Actor;
use portal_domain::messages::MessagingSettings;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::{Client, Response, StatusCode};
use sqlx::Row;
use std::time::{Duration, Instant};

/// A 1×1 PNG.
pub(crate) const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89, 0, 0, 0, 0x0A, b'I', b'D', b'A', b'T',
    0x78, 0x9C, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0D, 0x0A, 0x2D, 0xB4, 0, 0, 0, 0, b'I', b'E', b'N',
    b'D', 0xAE, 0x42, 0x60, 0x82,
];

/// The form value that routes a message to the pool named `name`.
pub(crate) async fn pool(t: &TestApp, name: &str) -> String {
    let id: String = sqlx::query("SELECT id FROM pools WHERE name = $1")
        .bind(name)
        .fetch_one(t.app.store().pool())
        .await
        .expect("pool")
        .try_get("id")
        .expect("id");
    format!("pool:{id}")
}

fn key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Starts a conversation as `c` in `patient`'s record; answers the portal's response.
pub(crate) async fn start(
    t: &TestApp,
    c: &Client,
    patient: PatientId,
    to: &str,
    subject: &str,
    body: &str,
    files: &[(&str, &[u8])],
) -> Response {
    let send_key = key();
    t.post_files(
        c,
        &format!("/patients/{patient}/messages/new"),
        &format!("/patients/{patient}/messages"),
        &[
            ("send_key", &send_key),
            ("recipient", to),
            ("topic", "medical"),
            ("subject", subject),
            ("body", body),
            ("intent", "send"),
        ],
        files,
    )
    .await
}

/// The conversation a successful send redirected to.
pub(crate) fn conversation_of(r: &Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sent");
    location(r).rsplit('/').next().expect("an id").to_string()
}

pub(crate) async fn reply(t: &TestApp, c: &Client, thread: &str, body: &str) -> Response {
    let send_key = key();
    t.post_files(
        c,
        "/account",
        &format!("{thread}/reply"),
        &[("send_key", &send_key), ("body", body), ("intent", "send")],
        &[],
    )
    .await
}

async fn text(t: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let r = t.get(c, path).await;
    (r.status(), r.text().await.expect("body"))
}

async fn audit_events(t: &TestApp, patient: PatientId, resource: &str, outcome: &str) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE patient_id = $1 AND resource_type = $2 \
         AND outcome = $3",
    )
    .bind(patient.to_string())
    .bind(resource)
    .bind(outcome)
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n")
}

/// The first link to an attached file on a page.
fn attachment_link(html: &str) -> String {
    let start = html.find("/attachments/").expect("a file link");
    let from = html[..start].rfind('"').expect("href start") + 1;
    let end = start + html[start..].find('"').expect("href end");
    html[from..end].to_string()
}

async fn a_patient_writes_to_a_pool_and_its_member_answers(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let nurse_line = pool(&t, "Nurse line").await;

    let (status, compose) = text(&t, &patient, &format!("/patients/{sofia}/messages/new")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(compose.contains("Not for emergencies"), "{compose}");
    assert!(compose.contains("call 911"));
    assert!(compose.contains("replies within 2 business days"));
    assert!(compose.contains("Nurse line") && compose.contains("Dr. Maya Okafor (your care team)"));

    let r = start(
        &t,
        &patient,
        sofia,
        &nurse_line,
        "Rash on my arm",
        "It started on Monday.\nIt itches.",
        &[("rash.png", PNG)],
    )
    .await;
    let id = conversation_of(&r);
    let thread = format!("/patients/{sofia}/messages/{id}");
    let (_, page) = text(&t, &patient, &thread).await;
    assert!(
        page.contains("It started on Monday.<br>It itches."),
        "{page}"
    );
    assert!(page.contains("Not read by the clinic yet"));
    assert!(page.contains("alt=\"Attached photo: rash.png\""));

    // The nurse line's member is told by e-mail, without health data.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mail = loop {
        let found = mail_files(&t)
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .find(|m| m.contains("A patient message is waiting"));
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "no e-mail to the pool");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(mail.contains("clinician@demo.portal.test"));
    for secret in ["Rash", "Monday", "Sofia", "Martinez", "itches"] {
        assert!(!mail.contains(secret), "the e-mail names {secret}");
    }

    // The in-basket lists it, unread first; opening it marks it read.
    let (status, basket) = text(&t, &clinician, "/inbasket").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        basket.contains("Rash on my arm") && basket.contains("1 unread"),
        "{basket}"
    );
    assert!(basket.contains("Sofia Martinez"));
    let (status, page) = text(&t, &clinician, &thread).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Clinic only"));
    let file = attachment_link(&page);
    let r = t.get(&clinician, &file).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment;")
    );
    assert_eq!(r.bytes().await.expect("bytes").as_ref(), PNG);
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert!(!basket.contains("1 unread"), "read once opened");

    // The home page counted no new message before the answer (and may keep that count).
    let (_, home) = text(&t, &patient, &format!("/patients/{sofia}")).await;
    assert!(!home.contains("new message"), "{home}");
    let r = reply(
        &t,
        &clinician,
        &thread,
        "Please send another photo in two days.",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The patient sees the new answer on her home page, in the menu's list, and reads it.
    let (_, home) = text(&t, &patient, &format!("/patients/{sofia}")).await;
    assert!(home.contains("1 new message"), "{home}");
    let (_, list) = text(&t, &patient, &format!("/patients/{sofia}/messages")).await;
    assert!(list.contains("1 new"), "{list}");
    let (_, page) = text(&t, &patient, &thread).await;
    assert!(page.contains("Please send another photo in two days."));
    assert!(page.contains("Dr. Maya Okafor"));
    assert!(page.contains("Read by the clinic"), "{page}");
    assert!(!page.contains("Clinic only"));
    let (_, home) = text(&t, &patient, &format!("/patients/{sofia}")).await;
    assert!(!home.contains("new message"), "read now");

    // Every read and post is in the record's trail, and the patient's access log says so.
    assert_eq!(audit_events(&t, sofia, "Message", "success").await, 5);
    assert_eq!(
        audit_events(&t, sofia, "MessageAttachment", "success").await,
        1
    );
    let (_, log) = text(&t, &patient, &format!("/patients/{sofia}/access-log")).await;
    assert!(log.contains("a message conversation"), "{log}");
    t.stop().await;
}

async fn the_pool_sees_the_message_and_a_clinician_outside_it_does_not(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let staff = t.sign_in(Role::Staff).await;
    let front_desk = pool(&t, "Front desk").await;
    let r = start(
        &t,
        &patient,
        sofia,
        &front_desk,
        "Parking",
        "Where do I park?",
        &[("map.png", PNG)],
    )
    .await;
    let id = conversation_of(&r);
    let thread = format!("/patients/{sofia}/messages/{id}");

    let (_, basket) = text(&t, &staff, "/inbasket").await;
    assert!(basket.contains("Parking"), "the front desk sees it");
    let (status, page) = text(&t, &staff, &thread).await;
    assert_eq!(status, StatusCode::OK);
    let file = attachment_link(&page);

    // Dr. Okafor is on Sofia's care team but not in the front desk pool.
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert!(!basket.contains("Parking"), "{basket}");
    let (_, list) = text(&t, &clinician, &format!("/patients/{sofia}/messages")).await;
    assert!(!list.contains("Parking"), "{list}");
    let (_, missing) = text(
        &t,
        &clinician,
        &format!("/patients/{sofia}/messages/{}", uuid::Uuid::new_v4()),
    )
    .await;
    let denied_before = audit_events(&t, sofia, "Patient", "denied").await;
    let (status, body) = text(&t, &clinician, &thread).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, missing, "refused exactly like a missing conversation");
    assert!(!body.contains("Parking"));
    let r = reply(&t, &clinician, &thread, "Hello").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t.get(&clinician, &file).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .post_form(
            &clinician,
            "/inbasket",
            &format!("{thread}/note"),
            &[("note", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        audit_events(&t, sofia, "Patient", "denied").await,
        denied_before + 4,
        "every refusal is audited"
    );
    assert_eq!(t.count("messages").await, 1, "nothing was written");
    assert_eq!(t.count("conversation_notes").await, 0);

    // Reassigned to Dr. Okafor, it leaves the front desk and reaches her.
    let me: String = sqlx::query("SELECT id FROM users WHERE email = 'clinician@demo.portal.test'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("user")
        .try_get("id")
        .expect("id");
    let r = t
        .post_form(
            &staff,
            &thread,
            &format!("{thread}/assign"),
            &[("to", &format!("user:{me}"))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = text(&t, &clinician, &thread).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = text(&t, &staff, &thread).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no longer the front desk's");
    // Admins reach no conversation at all.
    let admin = t.sign_in(Role::Admin).await;
    let (status, _) = text(&t, &admin, &thread).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    t.stop().await;
}

/// A conversation with one file in `patient`'s record, written directly (for records whose
/// patient has no account): its id and the file's id.
pub(crate) async fn conversation_in(t: &TestApp, patient: PatientId) -> (String, String) {
    let pool = t.app.store().pool();
    let author: String = sqlx::query("SELECT id FROM users WHERE email = 'staff@demo.portal.test'")
        .fetch_one(pool)
        .await
        .expect("user")
        .try_get("id")
        .expect("id");
    let front: String = sqlx::query("SELECT id FROM pools WHERE name = 'Front desk'")
        .fetch_one(pool)
        .await
        .expect("pool")
        .try_get("id")
        .expect("id");
    let (conversation, message, file) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    sqlx::query(
        "INSERT INTO conversations (id, patient_id, topic, subject, assigned_pool_id, status, \
         started_by, started_at, last_message_at) VALUES ($1, $2, 'other', 'Secret subject', $3, \
         'open', $4, 1, 1)",
    )
    .bind(&conversation)
    .bind(patient.to_string())
    .bind(&front)
    .bind(&author)
    .execute(pool)
    .await
    .expect("conversation");
    sqlx::query(
        "INSERT INTO messages (id, conversation_id, patient_id, author_id, side, body, sent_at, \
         send_key) VALUES ($1, $2, $3, $4, 'clinic', 'Secret body', 1, $5)",
    )
    .bind(&message)
    .bind(&conversation)
    .bind(patient.to_string())
    .bind(&author)
    .bind(key())
    .execute(pool)
    .await
    .expect("message");
    sqlx::query(
        "INSERT INTO message_attachments (id, message_id, patient_id, file_name, kind, size, \
         sha256, content) VALUES ($1, $2, $3, 'secret.png', 'png', $4, 'x', $5)",
    )
    .bind(&file)
    .bind(&message)
    .bind(patient.to_string())
    .bind(PNG.len() as i64)
    .bind(PNG)
    .execute(pool)
    .await
    .expect("file");
    (conversation, file)
}

async fn another_patients_conversation_is_not_found_for_read_reply_and_attachment(
    backend: Backend,
) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let (conversation, file) = conversation_in(&t, marcus).await;
    let patient = t.sign_in(Role::Patient).await;
    let (_, missing) = text(
        &t,
        &patient,
        &format!("/patients/{sofia}/messages/{}", uuid::Uuid::new_v4()),
    )
    .await;
    let messages_before = t.count("messages").await;
    for owner in [marcus, sofia] {
        let thread = format!("/patients/{owner}/messages/{conversation}");
        let (status, body) = text(&t, &patient, &thread).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{thread}");
        assert_eq!(body, missing, "{thread}: like a missing conversation");
        let r = reply(
            &t,
            &patient,
            &format!("/patients/{sofia}/messages/{conversation}"),
            "hi",
        )
        .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = t
            .get(&patient, &format!("/patients/{owner}/attachments/{file}"))
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let body = r.text().await.expect("body");
        assert!(!body.contains("Secret"));
    }
    let (_, list) = text(&t, &patient, &format!("/patients/{sofia}/messages")).await;
    assert!(!list.contains("Secret subject"));
    let r = t
        .post_form(
            &patient,
            &format!("/patients/{sofia}/messages"),
            &format!("/patients/{sofia}/messages/search"),
            &[("q", "Secret")],
        )
        .await;
    let body = r.text().await.expect("body");
    assert!(
        body.contains("No conversation contains these words"),
        "{body}"
    );
    assert_eq!(
        t.count("messages").await,
        messages_before,
        "nothing was written"
    );
    t.stop().await;
}

async fn internal_notes_never_reach_the_patient(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let r = start(
        &t,
        &patient,
        sofia,
        &pool(&t, "Nurse line").await,
        "Cough",
        "Dry cough.",
        &[],
    )
    .await;
    let thread = format!("/patients/{sofia}/messages/{}", conversation_of(&r));
    let r = t
        .post_form(
            &clinician,
            &thread,
            &format!("{thread}/note"),
            &[("note", "INTERNAL-7731 call her back")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = text(&t, &clinician, &thread).await;
    assert!(page.contains("INTERNAL-7731"), "the clinic sees its note");
    for path in [
        thread.clone(),
        format!("/patients/{sofia}/messages"),
        format!("/patients/{sofia}"),
        format!("/patients/{sofia}/access-log"),
    ] {
        let (_, body) = text(&t, &patient, &path).await;
        assert!(!body.contains("INTERNAL-7731"), "{path}");
        assert!(!body.contains("call her back"), "{path}");
    }
    // Nor do the FHIR Communications the read API will serve.
    let doctor: portal_domain::UserId =
        sqlx::query("SELECT id FROM users WHERE email = 'clinician@demo.portal.test'")
            .fetch_one(t.app.store().pool())
            .await
            .expect("user")
            .try_get::<String, _>("id")
            .expect("id")
            .parse()
            .expect("a user id");
    let actor = Actor::new(
        portal_domain::Principal::User {
            id: doctor,
            role: Role::Clinician,
            own_patient: None,
        },
        portal_domain::audit::RequestContext {
            client_addr: "test".into(),
            user_agent: "test".into(),
            request_id: String::new(),
        },
    );
    let conversation = thread
        .rsplit('/')
        .next()
        .expect("id")
        .parse()
        .expect("an id");
    let mapped = t
        .app
        .messages()
        .communications(&actor, sofia, conversation)
        .await
        .expect("communications");
    assert_eq!(mapped.len(), 1);
    let json = serde_json::to_string(&mapped).expect("json");
    assert!(
        json.contains("Dry cough.") && !json.contains("INTERNAL-7731"),
        "{json}"
    );
    // The patient cannot write notes either.
    let r = t
        .post_form(
            &patient,
            &thread,
            &format!("{thread}/note"),
            &[("note", "mine")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("conversation_notes").await, 1);
    t.stop().await;
}

async fn attachments_refuse_wrong_content_oversize_and_too_many(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let to = pool(&t, "Nurse line").await;
    let mut polyglot = PNG.to_vec();
    polyglot.extend_from_slice(b"<html><script>alert(1)</script></html>");
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "scan.png",
            b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF",
            "is not what its name says",
        ),
        (
            "page.html",
            b"<!doctype html><p>hi</p>",
            "is not a JPEG, PNG or HEIC photo or a PDF",
        ),
        (
            "drawing.svg",
            svg,
            "is not a JPEG, PNG or HEIC photo or a PDF",
        ),
        (
            "drawing.png",
            svg,
            "is not a JPEG, PNG or HEIC photo or a PDF",
        ),
        ("photo.png", &polyglot, "holds web page content"),
    ];
    for (name, bytes, words) in cases {
        let r = start(
            &t,
            &patient,
            sofia,
            &to,
            "Photo",
            "See attached.",
            &[(name, bytes)],
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let page = r.text().await.expect("body");
        assert!(page.contains(words), "{name}: {page}");
        assert!(
            page.contains("See attached."),
            "{name}: what was typed is kept"
        );
    }
    // Limits from the clinic's settings.
    let settings = MessagingSettings {
        attachment_max_bytes: 100,
        attachment_max_count: 2,
        ..MessagingSettings::default()
    };
    t.app
        .messages()
        .set_settings(&Actor::operator(), &settings)
        .await
        .expect("settings");
    let big = [PNG, &[0u8; 64]].concat();
    let r = start(
        &t,
        &patient,
        sofia,
        &to,
        "Photo",
        "Big.",
        &[("big.png", &big)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("is larger than 1 KB")
    );
    let three: [(&str, &[u8]); 3] = [("a.png", PNG), ("b.png", PNG), ("c.png", PNG)];
    let r = start(&t, &patient, sofia, &to, "Photos", "Three.", &three).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Attach at most 2 files")
    );
    assert_eq!(
        t.count("messages").await,
        0,
        "no refused message was stored"
    );
    assert_eq!(t.count("message_attachments").await, 0);
    // A body past the portal's limit is refused from its length, before it is read: the
    // answer may come while the client is still sending, which then sees the connection
    // close.
    let csrf = t.csrf_from(&patient, "/account").await;
    let huge = vec![b'x'; 53 * 1024 * 1024];
    let sent = patient
        .post(format!("{}/patients/{sofia}/messages", t.url))
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .header("x-csrf-unused", csrf)
        .body(huge)
        .send()
        .await;
    match sent {
        Ok(r) => assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let ok = start(&t, &patient, sofia, &to, "Photos", "Two.", &three[..2]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.count("message_attachments").await, 2);
    t.stop().await;
}

async fn stored_markup_in_subject_body_and_file_name_is_inert(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let r = start(
        &t,
        &patient,
        sofia,
        &pool(&t, "Nurse line").await,
        "<script>alert('s')</script>",
        "<img src=x onerror=alert('b')>\n</div><script>alert(2)</script>",
        &[("\"><svg onload=alert(3)>.png", PNG)],
    )
    .await;
    let thread = format!("/patients/{sofia}/messages/{}", conversation_of(&r));
    for (c, path) in [
        (&patient, thread.clone()),
        (&clinician, thread.clone()),
        (&clinician, "/inbasket".to_string()),
        (&patient, format!("/patients/{sofia}/messages")),
    ] {
        let (_, html) = text(&t, c, &path).await;
        assert!(
            html.contains("&#60;script&#62;alert(&#39;s&#39;)&#60;/script&#62;"),
            "{path}: {html}"
        );
        assert!(!html.contains("<script>alert"), "{path}");
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(!html.contains("<svg onload"), "{path}");
    }
    let (_, html) = text(&t, &clinician, &thread).await;
    let file = attachment_link(&html);
    let r = t.get(&clinician, &file).await;
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        !disposition.contains('<') && !disposition.contains("\"\""),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename=\"svg_onload_alert_3.png\""),
        "{disposition}"
    );
    t.stop().await;
}

async fn the_same_form_sent_twice_at_once_stores_one_message(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let to = pool(&t, "Nurse line").await;
    let send_key = key();
    let fields = [
        ("send_key", send_key.as_str()),
        ("recipient", to.as_str()),
        ("topic", "medical"),
        ("subject", "Twice"),
        ("body", "Sent twice."),
    ];
    let page = format!("/patients/{sofia}/messages/new");
    let path = format!("/patients/{sofia}/messages");
    let (a, b) = tokio::join!(
        t.post_files(&patient, &page, &path, &fields, &[]),
        t.post_files(&patient, &page, &path, &fields, &[]),
    );
    assert_eq!(
        location(&a),
        location(&b),
        "both answered with the one conversation"
    );
    assert_eq!(t.count("messages").await, 1);
    assert_eq!(t.count("conversations").await, 1);
    t.stop().await;
}

async fn a_closed_conversation_takes_no_reply_but_a_new_one_can_follow_it(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let r = start(
        &t,
        &patient,
        sofia,
        &pool(&t, "Nurse line").await,
        "Knee",
        "It hurts.",
        &[],
    )
    .await;
    let id = conversation_of(&r);
    let thread = format!("/patients/{sofia}/messages/{id}");
    let r = t
        .post_form(
            &clinician,
            &thread,
            &format!("{thread}/status"),
            &[("status", "done")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert!(basket.contains("Recently done"), "{basket}");
    // A reply from the patient opens a done conversation again.
    assert_eq!(
        reply(&t, &patient, &thread, "Still hurts.").await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert!(basket.contains("1 unread"), "{basket}");
    let r = t
        .post_form(
            &clinician,
            &thread,
            &format!("{thread}/status"),
            &[("status", "closed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let before = t.count("messages").await;
    let r = reply(&t, &patient, &thread, "One more thing.").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("This conversation is closed")
    );
    assert_eq!(t.count("messages").await, before, "no reply was stored");
    let (_, page) = text(&t, &patient, &thread).await;
    assert!(page.contains("Start a new message from it"), "{page}");
    let (_, compose) = text(
        &t,
        &patient,
        &format!("/patients/{sofia}/messages/new?from={id}"),
    )
    .await;
    assert!(compose.contains("Re: Knee") && compose.contains("follows your closed conversation"));
    t.stop().await;
}

async fn drafts_are_kept_until_sent(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let page = format!("/patients/{sofia}/messages/new");
    let r = t
        .post_files(
            &patient,
            &page,
            &format!("/patients/{sofia}/messages"),
            &[
                ("send_key", &key()),
                ("subject", "Half written"),
                ("body", "I wanted to ask"),
                ("intent", "draft"),
            ],
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, compose) = text(&t, &patient, &page).await;
    assert!(compose.contains("Half written") && compose.contains("I wanted to ask"));
    assert!(compose.contains("Draft saved"));
    assert_eq!(t.count("messages").await, 0);
    let r = start(
        &t,
        &patient,
        sofia,
        &pool(&t, "Billing").await,
        "Half written",
        "I wanted to ask about a bill.",
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, compose) = text(&t, &patient, &page).await;
    assert!(
        !compose.contains("Half written"),
        "the draft went with the message"
    );
    t.stop().await;
}

async fn a_proxy_writes_for_the_child_and_the_thread_says_so(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let leo = t.patient("Leo Martinez");
    let parent = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let r = start(
        &t,
        &parent,
        leo,
        &pool(&t, "Nurse line").await,
        "Fever",
        "Leo has a fever.",
        &[],
    )
    .await;
    let thread = format!("/patients/{leo}/messages/{}", conversation_of(&r));
    let (_, page) = text(&t, &clinician, &thread).await;
    assert!(page.contains("Sofia Martinez for Leo"), "{page}");
    let (_, page) = text(&t, &parent, &thread).await;
    assert!(page.contains("<strong>You</strong>"));
    t.stop().await;
}

async fn the_pool_hears_once_a_day_of_what_waits_too_long(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let r = start(
        &t,
        &patient,
        sofia,
        &pool(&t, "Nurse line").await,
        "Old",
        "Waiting.",
        &[],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Nothing is overdue yet: today's run (the worker's, or this one) sends no digest.
    t.app
        .messages()
        .send_overdue_digest()
        .await
        .expect("digest");
    t.advance(jiff::SignedDuration::from_hours(24 * 6));
    let first = t
        .app
        .messages()
        .send_overdue_digest()
        .await
        .expect("digest");
    let again = t
        .app
        .messages()
        .send_overdue_digest()
        .await
        .expect("digest");
    // The mail worker may have taken the day's run first; either way it ran once.
    assert!(first + again <= 1, "one run a day");
    let runs: i64 = sqlx::query("SELECT COUNT(*) AS n FROM job_runs WHERE job = 'overdue-digest'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("runs")
        .try_get("n")
        .expect("n");
    assert!(runs >= 2, "a run for the first day and one for today");
    let deadline = Instant::now() + Duration::from_secs(15);
    let digest = loop {
        t.app
            .messages()
            .send_overdue_digest()
            .await
            .expect("digest");
        let found = mail_files(&t)
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter(|m| m.contains("Patient messages are overdue"))
            .collect::<Vec<_>>();
        if !found.is_empty() {
            break found;
        }
        assert!(Instant::now() < deadline, "no digest was delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        digest.len(),
        1,
        "one digest, to the nurse line's one member"
    );
    assert!(digest[0].contains("clinician@demo.portal.test"));
    assert!(!digest[0].contains("Old") && !digest[0].contains("Sofia"));
    t.stop().await;
}

async fn the_admin_sets_messaging_and_pools_and_nobody_else_can(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let admin = t.sign_in(Role::Admin).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let patient = t.sign_in(Role::Patient).await;
    let (status, page) = text(&t, &admin, "/admin/messaging").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nurse line") && page.contains("clinician@demo.portal.test"));
    let good = [
        ("reply_time", "1 business day"),
        ("reply_days", "1"),
        ("emergency_number", "112"),
        ("crisis_line", "0800 111 222"),
        ("attachment_mb", "5"),
        ("attachment_max_count", "2"),
    ];
    // Refused values name their field and change nothing.
    let mut bad = good;
    bad[1] = ("reply_days", "forty");
    bad[4] = ("attachment_mb", "26");
    let r = t
        .post_form(
            &admin,
            "/admin/messaging",
            "/admin/messaging/settings",
            &bad,
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.expect("body");
    assert!(body.contains("Enter a whole number of business days"));
    assert!(body.contains("1 to 25"));
    assert_eq!(messaging_settings(&t).await, 0);
    // Nobody but an administrator may change them.
    for c in [&clinician, &patient] {
        let r = t
            .post_form(c, "/account", "/admin/messaging/settings", &good)
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = t
            .post_form(c, "/account", "/admin/messaging/pools", &[("name", "Mine")])
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(messaging_settings(&t).await, 0);
    let r = t
        .post_form(
            &admin,
            "/admin/messaging",
            "/admin/messaging/settings",
            &good,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, compose) = text(&t, &patient, &format!("/patients/{sofia}/messages/new")).await;
    assert!(compose.contains("call 112") && compose.contains("0800 111 222"));
    assert!(compose.contains("replies within 1 business day"));
    assert!(compose.contains("Up to 2 photos") && compose.contains("each up to 5 MB"));
    // The settings overview shows the values in force and that the admin stored them; what
    // nobody stored is the built-in default, naming the variable that sets it at start-up.
    let (status, overview) = text(&t, &admin, "/admin/settings").await;
    assert_eq!(status, StatusCode::OK);
    let admin_name = t.account(Role::Admin).name.clone();
    let row = |label: &str| -> String {
        let at = overview
            .find(label)
            .unwrap_or_else(|| panic!("{label} listed"));
        let end = at + overview[at..].find("</li>").expect("line end");
        overview[at..end].to_string()
    };
    let emergency = row("Emergency number");
    assert!(emergency.contains("<strong>112</strong>"), "{emergency}");
    assert!(
        emergency.contains(&format!("Stored by {admin_name}")),
        "{emergency}"
    );
    let idle = row("Sessions end after this long without use");
    assert!(idle.contains("PORTAL_IDLE_TIMEOUT_MINUTES"), "{idle}");
    assert!(overview.contains("href=\"/admin/messaging\">Change the messaging settings"));
    for c in [&clinician, &patient] {
        let r = t.get(c, "/admin/settings").await;
        assert!(
            matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{}",
            r.status()
        );
    }

    // A new pool, its member, and a name already taken.
    let r = t
        .post_form(
            &admin,
            "/admin/messaging",
            "/admin/messaging/pools",
            &[("name", "Referrals")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t
        .post_form(
            &admin,
            "/admin/messaging",
            "/admin/messaging/pools",
            &[("name", "referrals ")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("A pool with this name already exists"),
        "{body}"
    );
    let referrals = pool(&t, "Referrals").await.replace("pool:", "");
    let r = t
        .post_form(
            &admin,
            "/admin/messaging",
            "/admin/messaging/members",
            &[
                ("pool", &referrals),
                ("email", "patient@demo.portal.test"),
                ("change", "add"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Only clinicians and staff")
    );
    let r = t
        .post_form(
            &admin,
            "/admin/messaging",
            "/admin/messaging/members",
            &[
                ("pool", &referrals),
                ("email", "clinician@demo.portal.test"),
                ("change", "add"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, compose) = text(&t, &patient, &format!("/patients/{sofia}/messages/new")).await;
    assert!(compose.contains(">Referrals</option>"));
    t.stop().await;
}

/// The in-basket pages what waits (50 a page) across the clinician's own conversations and
/// their pool's, unread first and then the longest wait; opening one moves it down; the counts
/// cover every page; a page past the end shows the last.
async fn the_inbasket_pages_unread_first_across_the_user_and_pools(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let nurse_line = pool(&t, "Nurse line").await;
    let me: String = sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(&t.account(Role::Clinician).email)
        .fetch_one(t.app.store().pool())
        .await
        .expect("clinician")
        .try_get("id")
        .expect("id");
    let to_me = format!("user:{me}");
    // 53 conversations, five seconds apart: odd ones to the clinician, even ones to the pool.
    let mut ids = Vec::new();
    for i in 1..=53 {
        let to = if i % 2 == 1 { &to_me } else { &nurse_line };
        let r = start(
            &t,
            &patient,
            sofia,
            to,
            &format!("Question {i:02}"),
            "A question.",
            &[],
        )
        .await;
        ids.push(conversation_of(&r));
        t.advance(jiff::SignedDuration::from_secs(5));
    }
    let first = |html: &str| -> Vec<String> {
        html.match_indices("Question ")
            .map(|(at, _)| html[at..at + 11].to_string())
            .collect()
    };
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert!(
        basket.contains("Messages waiting (53, 53 with unread messages)"),
        "{basket}"
    );
    assert!(basket.contains("Messages <span class=\"count\">53</span>"));
    let shown = first(&basket);
    assert_eq!(shown.len(), 50, "50 a page");
    assert_eq!(shown[0], "Question 01", "the longest wait first");
    assert_eq!(shown[49], "Question 50");
    assert!(basket.contains("Showing 1–50 of 53"));
    assert!(basket.contains("page=2\">Next 50</a>"));
    assert!(!basket.contains("Previous 50"));
    let (_, second) = text(&t, &clinician, "/inbasket?show=messages&page=2").await;
    assert_eq!(
        first(&second),
        ["Question 51", "Question 52", "Question 53"]
    );
    assert!(second.contains("Showing 51–53 of 53") && second.contains("Previous 50"));
    for past in ["9", "4294967295", "0", "-1", "two"] {
        let (status, page) = text(
            &t,
            &clinician,
            &format!("/inbasket?show=messages&page={past}"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "page={past}");
        let want = if past == "9" || past == "4294967295" {
            "Question 51"
        } else {
            "Question 01"
        };
        assert_eq!(first(&page)[0], want, "page={past}");
    }
    // Opened by the clinic, the longest-waiting one (the clinician's) and a pool one move
    // behind every unread conversation.
    for id in [&ids[0], &ids[1]] {
        let (status, _) = text(&t, &clinician, &format!("/patients/{sofia}/messages/{id}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert!(basket.contains("Messages waiting (53, 51 with unread messages)"));
    let shown = first(&basket);
    assert_eq!(shown[0], "Question 03");
    assert_eq!(shown[49], "Question 52");
    let (_, second) = text(&t, &clinician, "/inbasket?show=messages&page=2").await;
    assert_eq!(
        first(&second),
        ["Question 53", "Question 01", "Question 02"]
    );
    // The patient writes again in an opened one: unread again, but its wait still runs from
    // the first unanswered message, so it is first again.
    let r = reply(
        &t,
        &patient,
        &format!("/patients/{sofia}/messages/{}", ids[0]),
        "Any news?",
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, basket) = text(&t, &clinician, "/inbasket").await;
    assert_eq!(first(&basket)[0], "Question 01");
    assert!(basket.contains("52 with unread messages"));
    t.stop().await;
}

both_backends!(
    the_inbasket_pages_unread_first_across_the_user_and_pools,
    the_admin_sets_messaging_and_pools_and_nobody_else_can,
    the_pool_hears_once_a_day_of_what_waits_too_long,
    a_patient_writes_to_a_pool_and_its_member_answers,
    the_pool_sees_the_message_and_a_clinician_outside_it_does_not,
    another_patients_conversation_is_not_found_for_read_reply_and_attachment,
    internal_notes_never_reach_the_patient,
    attachments_refuse_wrong_content_oversize_and_too_many,
    stored_markup_in_subject_body_and_file_name_is_inert,
    the_same_form_sent_twice_at_once_stores_one_message,
    a_closed_conversation_takes_no_reply_but_a_new_one_can_follow_it,
    drafts_are_kept_until_sent,
    a_proxy_writes_for_the_child_and_the_thread_says_so,
);

/// How many messaging settings are stored (the demo stores the appointment ones).
async fn messaging_settings(t: &TestApp) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM clinic_settings WHERE key LIKE 'messages.%'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
}
