//! Issue item 5: staff and admins cannot reach records the policy says they cannot. On the main
//! branch before the fix the admin chose the new clinician's password, the staff member's own
//! activation was not flagged, and the record's own e-mail heard nothing.

use crate::auth::{body, password_step, reset_path_in};
use crate::both_backends;
use crate::helpers::{TestApp, location};
use crate::holes_ops::run_portal;
use crate::sessions::user_id_on_admin_page;
use portal_app::Actor;
use portal_domain::Role;
use portal_domain::audit::REVIEW_FLAG;
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

/// The newest audit event's detail whose detail contains `part`.
async fn detail_with(t: &TestApp, part: &str) -> Option<String> {
    sqlx::query("SELECT detail FROM audit_events WHERE detail LIKE $1 ORDER BY seq DESC LIMIT 1")
        .bind(format!("%{part}%"))
        .fetch_optional(t.app.store().pool())
        .await
        .expect("audit")
        .map(|r| r.try_get("detail").expect("detail"))
}

/// (subject, sealed body) of the newest e-mail to `to` of `kind`.
async fn mail_subject(t: &TestApp, to: &str, kind: &str) -> Option<String> {
    sqlx::query(
        "SELECT subject FROM outbox WHERE recipient = $1 AND kind = $2 \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(to)
    .bind(kind)
    .fetch_optional(t.app.store().pool())
    .await
    .expect("outbox")
    .map(|r| r.try_get("subject").expect("subject"))
}

async fn item_5_accounts_and_codes_are_set_up_by_their_owners_and_flagged(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // An admin adds a clinician: there is no password to choose, the person gets a link.
    let admin = t.sign_in(Role::Admin).await;
    let page = body(t.get(&admin, "/admin/users").await).await;
    assert!(!page.contains("type=\"password\""), "no password field");
    let r = t
        .post_form(
            &admin,
            "/admin/users",
            "/admin/users",
            &[
                ("name", "Nia Park"),
                ("email", "nia.park@clinic.test"),
                ("role", "clinician"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/users?done=created");
    let subject = mail_subject(&t, "nia.park@clinic.test", "account-setup").await;
    assert!(subject.is_some_and(|s| s.starts_with("Set up your")));
    let created = detail_with(&t, "clinician account created")
        .await
        .expect("event");
    assert!(created.starts_with(REVIEW_FLAG), "{created}");
    let audit = body(t.get(&admin, "/admin/audit").await).await;
    assert!(audit.contains("(for review)"), "flagged on the audit page");
    // The admin cannot sign in as the new clinician with any password they might guess.
    let r = password_step(&t, &t.client(), "nia.park@clinic.test", "quiet lantern 42").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Re-enabling a clinician is flagged too.
    let id = user_id_on_admin_page(&t, &admin, &t.account(Role::Clinician).email).await;
    for status in ["disabled", "active"] {
        t.set_account_status(&admin, &id, status).await;
    }
    let enabled = detail_with(&t, "account re-enabled").await.expect("event");
    assert!(enabled.starts_with(REVIEW_FLAG), "{enabled}");

    // The very first admin: the command prints a one-time link and reads no password.
    let (code, out) = run_portal(
        &t,
        &[
            "user",
            "create",
            "--role",
            "admin",
            "--email",
            "first.admin@clinic.test",
            "--name",
            "First Admin",
        ],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    let link = reset_path_in(&out);
    // The command ran on the real clock, the test's server runs on its own fixed one: move the
    // link's expiry onto the server's clock (still 72 hours).
    let expiry = portal_store::to_micros(t.app.now() + jiff::SignedDuration::from_hours(72));
    sqlx::query("UPDATE reset_tokens SET expires_at = $1 WHERE used_at IS NULL")
        .bind(expiry)
        .execute(t.app.store().pool())
        .await
        .expect("expiry");
    let c = t.client();
    let r = t.choose_password(&c, &link, "granite meadow 7 owl").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = password_step(&t, &c, "first.admin@clinic.test", "granite meadow 7 owl").await;
    assert_eq!(
        location(&r),
        "/signin/enrol",
        "the second factor comes next"
    );

    // Staff issue a code for a record that lists the patient's own e-mail, then activate it
    // themselves from the same address: flagged, named, and the record's e-mail is told.
    let bundle = json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{
            "resource": {
                "resourceType": "Patient",
                "id": "ines",
                "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "I-7"}],
                "name": [{"family": "Ortega", "given": ["Ines"]}],
                "birthDate": "1985-03-04",
                "telecom": [{"system": "email", "value": "ines.ortega@example.org"}]
            },
            "request": {"method": "PUT", "url": "Patient/ines"}
        }]
    });
    let summary = t
        .app
        .import()
        .import_bundle(&Actor::operator(), bundle.to_string().as_bytes())
        .await
        .expect("import");
    let patient = summary.entries[0].id.clone();
    let staff = t.sign_in(Role::Staff).await;
    let invite = format!("/patients/{patient}/invite");
    let page = body(
        t.post_form(&staff, &format!("/patients/{patient}"), &invite, &[])
            .await,
    )
    .await;
    let start = page.find("<code>").expect("the code") + 6;
    let activation_code = &page[start..start + page[start..].find("</code>").expect("end")];
    let c = t.client();
    let r = t
        .activate(
            &c,
            activation_code,
            "1985-03-04",
            "not.ines@example.org",
            "violet kettle orbit 9",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let activated = detail_with(&t, "account activated").await.expect("event");
    assert!(activated.starts_with(REVIEW_FLAG), "{activated}");
    assert!(activated.contains("Sam Rivera (staff)"), "{activated}");
    let told = mail_subject(&t, "ines.ortega@example.org", "account-activated").await;
    assert!(told.is_some(), "the record's own e-mail is told");

    // The patient's access log names who issued the code.
    let r = password_step(&t, &c, "not.ines@example.org", "violet kettle orbit 9").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let log = body(t.get(&c, &format!("/patients/{patient}/access-log")).await).await;
    assert!(
        log.contains("with an activation code issued by Sam Rivera (staff)"),
        "{log}"
    );
    t.stop().await;
}

both_backends!(item_5_accounts_and_codes_are_set_up_by_their_owners_and_flagged);
