//! Prescription refills against the real server: what may be requested and each refusal's
//! message, a second request for a pending medication, another record's requests and
//! medications, staff who see that a request waits but never decide it, decisions (a new one
//! after a refusal is a new step), the renewed prescription as a FHIR MedicationRequest that
//! validates, two requests at once, and requests nobody acted on moving to the pool and its lead.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_app::Actor;
use portal_domain::audit::RequestContext;
use portal_domain::{PatientId, Principal, Role};
use portal_store::Backend;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
const NPI: &str = "1234567893";

fn urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// A prescription of Pia's record: its source id, drug, status, written when, and its
/// `dispenseRequest` (if any).
fn prescription(
    id: &str,
    (code, name): (&str, &str),
    status: &str,
    written: &str,
    dispense: Option<Value>,
    patient: &str,
    prescriber: &str,
) -> Value {
    let mut mr = json!({"resourceType": "MedicationRequest", "id": id, "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": name}], "text": name},
        "subject": {"reference": patient}, "authoredOn": written,
        "requester": {"reference": prescriber},
        "dosageInstruction": [{"text": "Take one tablet daily"}]});
    if let Some(d) = dispense {
        mr["dispenseRequest"] = d;
    }
    mr
}

/// Pia Reyes, 9: a child the demo patient (Sofia) is parent of. Her prescriber has an NPI.
/// The test clock starts on 2027-01-15.
fn pia_bundle() -> Value {
    let (patient, prescriber, locum) = (urn(), urn(), urn());
    let rx =
        |id: &str, drug: (&str, &str), status: &str, written: &str, dispense: Option<Value>| {
            (
                urn(),
                prescription(id, drug, status, written, dispense, &patient, &prescriber),
            )
        };
    let entries = vec![
        (
            patient.clone(),
            json!({"resourceType": "Patient", "id": "pia-patient",
                   "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                                   "system": "urn:test:mrn", "value": "TEST-PIA"}],
                   "name": [{"family": "Reyes", "given": ["Pia"]}],
                   "gender": "female", "birthDate": "2017-08-01"}),
        ),
        (
            prescriber.clone(),
            json!({"resourceType": "Practitioner", "id": "pia-prescriber",
                   "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": NPI}],
                   "name": [{"family": "Quill", "given": ["Ada"], "prefix": ["Dr."]}]}),
        ),
        rx(
            "pia-simva",
            ("314231", "Simvastatin 10 MG Oral Tablet"),
            "active",
            "2026-11-20",
            None,
        ),
        rx(
            "pia-furo",
            ("313988", "Furosemide 40 MG Oral Tablet"),
            "active",
            "2024-03-01",
            Some(
                json!({"numberOfRepeatsAllowed": 3, "quantity": {"value": 30, "unit": "tablet"},
                        "validityPeriod": {"start": "2024-03-01", "end": "2027-06-30"}}),
            ),
        ),
        rx(
            "pia-tramadol",
            ("835603", "tramadol hydrochloride 50 MG Oral Tablet"),
            "active",
            "2026-12-01",
            None,
        ),
        rx(
            "pia-amox",
            ("308192", "Amoxicillin 500 MG Oral Tablet"),
            "active",
            "2026-10-01",
            Some(json!({"validityPeriod": {"end": "2026-12-31"}})),
        ),
        rx(
            "pia-naproxen",
            ("849574", "Naproxen sodium 220 MG Oral Tablet"),
            "active",
            "2026-12-01",
            Some(json!({"numberOfRepeatsAllowed": 0})),
        ),
        rx(
            "pia-aspirin",
            ("243670", "Aspirin 81 MG Oral Tablet"),
            "active",
            "2025-06-01",
            None,
        ),
        // Written by a clinician of another practice, who has no portal account.
        (
            urn(),
            prescription(
                "pia-ibuprofen",
                ("310965", "Ibuprofen 200 MG Oral Tablet"),
                "active",
                "2026-12-01",
                None,
                &patient,
                &locum,
            ),
        ),
        (
            locum.clone(),
            json!({"resourceType": "Practitioner", "id": "pia-locum",
                   "name": [{"family": "Marsh", "given": ["Tom"], "prefix": ["Dr."]}]}),
        ),
        rx(
            "pia-stopped",
            ("197319", "Allopurinol 100 MG Oral Tablet"),
            "stopped",
            "2026-12-01",
            None,
        ),
    ];
    crate::helpers::transaction(entries)
}

/// Imports Pia's record and makes Sofia her parent; the demo clinician is not on her care team.
async fn import_pia(t: &mut TestApp) -> PatientId {
    t.app
        .import()
        .import_bundle(&Actor::operator(), pia_bundle().to_string().as_bytes())
        .await
        .expect("Pia's record");
    let id: String = sqlx::query_scalar("SELECT id FROM patients WHERE mrn = 'TEST-PIA'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("Pia");
    let pia: PatientId = id.parse().expect("id");
    t.app
        .link_demo_records(&mut t.demo, &[pia], &[])
        .await
        .expect("Sofia is Pia's parent");
    pia
}

/// The portal's id of an imported resource, by the sender's id.
async fn rid(t: &TestApp, source_id: &str) -> String {
    sqlx::query_scalar("SELECT id FROM fhir_resources WHERE source_id = $1")
        .bind(source_id)
        .fetch_one(t.app.store().pool())
        .await
        .unwrap_or_else(|e| panic!("no resource {source_id}: {e}"))
}

async fn pharmacy(t: &TestApp, name: &str) -> String {
    sqlx::query_scalar("SELECT id FROM pharmacies WHERE name = $1")
        .bind(name)
        .fetch_one(t.app.store().pool())
        .await
        .expect("a demo pharmacy")
}

/// The request's id in the address the form redirects to (`…/refills/{id}?sent=1`).
fn refill_id(location: &str) -> String {
    let path = location.split('?').next().unwrap_or_default();
    path.rsplit('/').next().unwrap_or_default().to_string()
}

fn send_key_in(html: &str) -> String {
    let at = html
        .find("name=\"send_key\" value=\"")
        .expect("a send key on the page")
        + "name=\"send_key\" value=\"".len();
    html[at..at + 32].to_string()
}

/// Sends a refill request for `medications` from the medications page, as the form does.
async fn request(
    t: &TestApp,
    c: &Client,
    patient: PatientId,
    medications: &[&str],
    pharmacy: &str,
) -> reqwest::Response {
    let page = format!("/patients/{patient}/medications");
    let html = t.get(c, &page).await.text().await.expect("page");
    let key = send_key_in(&html);
    let mut fields: Vec<(&str, &str)> = medications.iter().map(|m| ("medication", *m)).collect();
    fields.push(("pharmacy", pharmacy));
    fields.push(("comment", "Running low"));
    fields.push(("send_key", &key));
    t.post_form(c, &page, &format!("/patients/{patient}/refills"), &fields)
        .await
}

async fn scalar(t: &TestApp, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(t.app.store().pool())
        .await
        .expect("query")
        .try_get::<i64, _>(0)
        .expect("a number")
}

/// The EHR, reading through the API with a read token.
fn ehr() -> Actor {
    Actor::new(
        Principal::System {
            client: portal_domain::ids::ClientId::from_uuid(uuid::Uuid::new_v4()),
            scopes: portal_domain::ApiScopes {
                read: true,
                write: false,
            },
        },
        RequestContext {
            client_addr: "test".into(),
            user_agent: "test".into(),
            request_id: String::new(),
        },
    )
}

async fn each_refusal_rule_says_why_and_refuses_the_request(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    let parent = t.sign_in(Role::Patient).await;
    let main_street = pharmacy(&t, "Main Street Pharmacy").await;
    let page = t
        .get(&parent, &format!("/patients/{pia}/medications"))
        .await
        .text()
        .await
        .expect("page");
    // What may be requested, and why: the record's end date, or the clinic's window.
    for (text, what) in [
        (
            "the clinic renews prescriptions written in the last 12 months",
            "simvastatin",
        ),
        ("It is a controlled substance (DEA schedule IV)", "tramadol"),
        ("The prescription has expired.", "amoxicillin"),
        ("This prescription allows no refills", "naproxen"),
        ("It was prescribed more than 12 months ago", "aspirin"),
        ("Message your care team", "a way forward"),
    ] {
        assert!(page.contains(text), "{what}: {text:?} on the page");
    }
    assert_eq!(
        page.matches("type=\"checkbox\"").count(),
        3,
        "simvastatin, furosemide, ibuprofen"
    );
    assert!(!page.contains(&format!("value=\"{}\"", rid(&t, "pia-stopped").await)));
    // Each refused medication, sent anyway, is refused with its reason and writes nothing.
    for (source, message) in [
        ("pia-tramadol", "controlled substance (DEA schedule IV)"),
        ("pia-amox", "The prescription has expired."),
        ("pia-naproxen", "This prescription allows no refills"),
        ("pia-aspirin", "It was prescribed more than 12 months ago"),
        ("pia-stopped", "This prescription is not active."),
    ] {
        let id = rid(&t, source).await;
        let r = request(
            &t,
            &parent,
            pia,
            &[&rid(&t, "pia-simva").await, &id],
            &main_street,
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{source}");
        let body = r.text().await.expect("body");
        assert!(body.contains(message), "{source}: {message:?}");
        assert_eq!(
            t.count("refill_requests").await,
            0,
            "{source}: nothing stored"
        );
    }
    // No medication, or no pharmacy: each says what is missing.
    let r = request(&t, &parent, pia, &[], &main_street).await;
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Choose at least one medication")
    );
    let r = request(&t, &parent, pia, &[&rid(&t, "pia-simva").await], "").await;
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Choose a pharmacy from the list")
    );
    // Two allowed ones go as one request, to the prescriber's pool since she has no account.
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-simva").await, &rid(&t, "pia-furo").await],
        &main_street,
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with(&format!("/patients/{pia}/refills/")));
    assert_eq!(t.count("refill_requests").await, 1);
    assert_eq!(t.count("refill_items").await, 2);
    // The same medication again, while the clinic has it: refused, and the page says why.
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-simva").await],
        &main_street,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("A refill request for it is already with the clinic.")
    );
    assert_eq!(t.count("refill_requests").await, 1);
    // The pharmacy is remembered for the next request.
    let page = t
        .get(&parent, &format!("/patients/{pia}/medications"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(&format!("value=\"{main_street}\" selected")));
    // The e-mails say something moved, never what.
    let subjects: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM outbox WHERE kind LIKE 'refill%'")
            .fetch_all(t.app.store().pool())
            .await
            .expect("mails");
    assert!(subjects.contains(&"Your refill request was sent".to_string()));
    assert!(subjects.contains(&"A refill request is waiting".to_string()));
    assert!(
        subjects
            .iter()
            .all(|s| !s.contains("Simvastatin") && !s.contains("Pia"))
    );
    // The record marked inactive by the EHR: nothing is renewed from the portal any more.
    let mut closed = pia_bundle();
    closed["entry"][0]["resource"]["active"] = json!(false);
    t.app
        .import()
        .import_bundle(&Actor::operator(), closed.to_string().as_bytes())
        .await
        .expect("the record, now inactive");
    let page = t
        .get(&parent, &format!("/patients/{pia}/medications"))
        .await
        .text()
        .await
        .expect("page");
    assert!(!page.contains("type=\"checkbox\""));
    assert!(page.contains("Refills cannot be requested for this record."));
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-ibuprofen").await],
        &main_street,
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("refill_requests").await, 1);
    t.stop().await;
}

async fn another_records_requests_and_medications_are_not_found(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    let parent = t.sign_in(Role::Patient).await;
    let main_street = pharmacy(&t, "Main Street Pharmacy").await;
    let simva = rid(&t, "pia-simva").await;
    let r = request(&t, &parent, pia, &[&simva], &main_street).await;
    let refill = refill_id(&location(&r));
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let missing = t
        .get(
            &parent,
            &format!("/patients/{}/refills", uuid::Uuid::new_v4()),
        )
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let reference = missing.text().await.expect("body");
    // Pia's request under another record, Marcus's list: exactly "not found".
    for path in [
        format!("/patients/{sofia}/refills/{refill}"),
        format!("/patients/{marcus}/refills"),
        format!("/patients/{marcus}/refills/{refill}"),
        format!("/patients/{pia}/refills/{}", uuid::Uuid::new_v4()),
    ] {
        let r = t.get(&parent, &path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.text().await.expect("body"), reference, "{path}");
    }
    // Pia's medication asked for from Sofia's own record: the whole request is refused.
    let before = t.count("refill_items").await;
    let furo = rid(&t, "pia-furo").await;
    let r = t
        .post_form(
            &parent,
            &format!("/patients/{pia}/medications"),
            &format!("/patients/{sofia}/refills"),
            &[
                ("medication", furo.as_str()),
                ("pharmacy", &main_street),
                ("send_key", "0123456789abcdef0123456789abcdef"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("refill_items").await, before);
    // The clinician is not on Pia's care team and the request is not routed to her yet.
    sqlx::query("UPDATE clinic_settings SET value = '' WHERE key = 'refills.pool'")
        .execute(t.app.store().pool())
        .await
        .expect("no refill pool");
    let r = request(&t, &parent, pia, &[&furo], &main_street).await;
    let unrouted = refill_id(&location(&r));
    let clinician = t.sign_in(Role::Clinician).await;
    let r = t
        .get(
            &clinician,
            &format!("/patients/{pia}/refills/{unrouted}/review"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not hers to decide");
    // The routed one opens for her; under Marcus's id it does not.
    let r = t
        .get(
            &clinician,
            &format!("/patients/{marcus}/refills/{refill}/review"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .get(
            &clinician,
            &format!("/patients/{pia}/refills/{refill}/review"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // A patient or proxy never opens the review, takes it in review, decides or marks it sent.
    let r = t
        .get(&parent, &format!("/patients/{pia}/refills/{refill}/review"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let item: String = sqlx::query_scalar("SELECT id FROM refill_items WHERE request_id = $1")
        .bind(&refill)
        .fetch_one(t.app.store().pool())
        .await
        .expect("item");
    let events = t.count("refill_events").await;
    for (step, fields) in [
        ("review", vec![]),
        (
            "decide",
            vec![
                ("medication", item.as_str()),
                ("choice", "approve"),
                ("quantity", "1000"),
                ("seen", "sent"),
            ],
        ),
        ("sent", vec![("medication", item.as_str())]),
    ] {
        let r = t
            .post_form(
                &parent,
                &format!("/patients/{pia}/refills/{refill}"),
                &format!("/patients/{pia}/refills/{refill}/{step}"),
                &fields,
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{step}");
    }
    assert_eq!(t.count("refill_events").await, events, "nothing changed");
    assert_eq!(t.count("issued_prescriptions").await, 0);
    t.stop().await;
}

async fn staff_see_who_waits_but_never_the_medications_or_the_decision(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    let parent = t.sign_in(Role::Patient).await;
    let main_street = pharmacy(&t, "Main Street Pharmacy").await;
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-simva").await],
        &main_street,
    )
    .await;
    let path = location(&r);
    let refill = refill_id(&path);
    let staff = t.sign_in(Role::Staff).await;
    let basket = t.get(&staff, "/inbasket").await.text().await.expect("page");
    assert!(basket.contains("Refill request from Pia Reyes"));
    assert!(basket.contains("Waiting for Nurse line"));
    assert!(!basket.contains("Simvastatin"));
    assert!(
        !basket.contains(&format!("/refills/{refill}/review")),
        "no link to decide"
    );
    let events = t.count("refill_events").await;
    let review = format!("/patients/{pia}/refills/{refill}/review");
    let r = t.get(&staff, &review).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(!r.text().await.expect("body").contains("Simvastatin"));
    let item: String = sqlx::query_scalar("SELECT id FROM refill_items LIMIT 1")
        .fetch_one(t.app.store().pool())
        .await
        .expect("item");
    let r = t
        .post_form(
            &staff,
            "/inbasket",
            &format!("/patients/{pia}/refills/{refill}/decide"),
            &[("medication", &item), ("choice", "approve")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("refill_events").await, events, "nothing changed");
    assert_eq!(t.count("issued_prescriptions").await, 0);
    let denied = scalar(
        &t,
        "SELECT COUNT(*) FROM audit_events WHERE outcome = 'denied' AND detail LIKE 'refused decide-refill%'",
    )
    .await;
    assert!(denied >= 2, "the refusals are audited");
    t.stop().await;
}

async fn an_approval_writes_a_prescription_that_validates_and_decisions_are_kept(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    let parent = t.sign_in(Role::Patient).await;
    let main_street = pharmacy(&t, "Main Street Pharmacy").await;
    let (furo, simva) = (rid(&t, "pia-furo").await, rid(&t, "pia-simva").await);
    let ibuprofen = rid(&t, "pia-ibuprofen").await;
    let r = request(&t, &parent, pia, &[&furo, &simva, &ibuprofen], &main_street).await;
    let path = location(&r);
    let refill = refill_id(&path);
    let item_of = |source: String| {
        let t = &t;
        async move {
            sqlx::query_scalar::<_, String>("SELECT id FROM refill_items WHERE medication_id = $1")
                .bind(source)
                .fetch_one(t.app.store().pool())
                .await
                .expect("item")
        }
    };
    let (furo_item, simva_item) = (item_of(furo.clone()).await, item_of(simva.clone()).await);
    let ibuprofen_item = item_of(ibuprofen.clone()).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let review = format!("/patients/{pia}/refills/{refill}/review");
    let page = t.get(&clinician, &review).await.text().await.expect("page");
    assert!(page.contains("Furosemide 40 MG Oral Tablet") && page.contains("Running low"));
    // Reading it changes nothing; taking it in review is a form of its own.
    assert!(page.contains("Take in review"));
    assert_eq!(scalar(&t, "SELECT COUNT(*) FROM refill_events").await, 3);
    let r = t.post_form(&clinician, &review, &review, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = t.get(&clinician, &review).await.text().await.expect("page");
    assert!(page.contains("In review") && !page.contains("Take in review"));
    assert_eq!(scalar(&t, "SELECT COUNT(*) FROM refill_events").await, 6);
    let decide = format!("/patients/{pia}/refills/{refill}/decide");
    // A denial needs its reason.
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &simva_item),
                ("choice", "deny"),
                ("seen", "in-review"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Write the reason the patient will read.")
    );
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &simva_item),
                ("choice", "deny"),
                ("reason", "Please book a blood test first."),
                ("seen", "in-review"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &furo_item),
                ("choice", "approve"),
                ("quantity", "60"),
                ("refills", "2"),
                ("seen", "in-review"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Answered by message: a conversation from the clinician, in the child's messages.
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &ibuprofen_item),
                ("choice", "message"),
                ("seen", "in-review"),
                (
                    "message",
                    "Please book a visit so we can check how it works for her.",
                ),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let messages = t
        .get(&parent, &format!("/patients/{pia}/messages"))
        .await
        .text()
        .await
        .expect("page");
    assert!(messages.contains("About your refill request"));
    assert!(
        !messages.contains("Ibuprofen"),
        "no drug in a subject every proxy lists"
    );
    let shown = t.get(&parent, &path).await.text().await.expect("page");
    assert!(shown.contains("Answered by message"));
    // Approved once: a second decision is refused, and nothing more is written.
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &furo_item),
                ("choice", "approve"),
                ("seen", "approved"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(t.count("issued_prescriptions").await, 1);
    // The parent reads both outcomes, with the reason.
    let shown = t.get(&parent, &path).await.text().await.expect("page");
    assert!(shown.contains("Status: <strong class=\"status-good\">Approved</strong>"));
    assert!(shown.contains("Status: <strong class=\"status-bad\">Denied</strong>"));
    assert!(shown.contains("Please book a blood test first."));
    // Changing the refusal to an approval is a new step of its own, audited.
    let updates = scalar(
        &t,
        "SELECT COUNT(*) FROM audit_events WHERE resource_type = 'RefillRequest' AND action = 'update'",
    )
    .await;
    // A clinician whose page still showed it in review does not override the refusal unseen.
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &simva_item),
                ("choice", "approve"),
                ("seen", "in-review"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("decided by someone else")
    );
    let r = t
        .post_form(
            &clinician,
            &review,
            &decide,
            &[
                ("medication", &simva_item),
                ("choice", "approve"),
                ("seen", "denied"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let steps: Vec<String> =
        sqlx::query_scalar("SELECT status FROM refill_events WHERE item_id = $1 ORDER BY at, id")
            .bind(&simva_item)
            .fetch_all(t.app.store().pool())
            .await
            .expect("steps");
    assert_eq!(steps, ["sent", "in-review", "denied", "approved"]);
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) FROM audit_events WHERE resource_type = 'RefillRequest' AND action = 'update'",
        )
        .await,
        updates + 1
    );
    // Sent to the pharmacy, once.
    let sent = format!("/patients/{pia}/refills/{refill}/sent");
    let r = t
        .post_form(&clinician, &review, &sent, &[("medication", &furo_item)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t
        .post_form(&clinician, &review, &sent, &[("medication", &furo_item)])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        t.get(&parent, &path)
            .await
            .text()
            .await
            .expect("page")
            .contains("Sent to the pharmacy")
    );
    // The prescriptions as FHIR: active orders naming what they renew, kept apart from imports.
    let issued = t
        .app
        .refills()
        .issued_prescriptions(&ehr(), pia)
        .await
        .expect("the prescriptions");
    assert_eq!(issued.len(), 2);
    let furo_rx = issued
        .iter()
        .find(|p| p["priorPrescription"]["reference"] == format!("MedicationRequest/{furo}"))
        .expect("furosemide's renewal");
    assert_eq!(furo_rx["status"], "active");
    assert_eq!(furo_rx["intent"], "order");
    assert_eq!(furo_rx["subject"]["reference"], format!("Patient/{pia}"));
    assert_eq!(furo_rx["dispenseRequest"]["quantity"]["value"], 60.0);
    assert_eq!(furo_rx["dispenseRequest"]["quantity"]["unit"], "tablet");
    assert_eq!(furo_rx["dispenseRequest"]["numberOfRepeatsAllowed"], 2);
    assert_eq!(
        furo_rx["medicationCodeableConcept"]["coding"][0]["code"],
        "313988"
    );
    let simva_rx = issued
        .iter()
        .find(|p| p["priorPrescription"]["reference"] == format!("MedicationRequest/{simva}"))
        .expect("simvastatin's renewal");
    assert!(
        simva_rx["dispenseRequest"]
            .get("numberOfRepeatsAllowed")
            .is_none()
    );
    validate(&issued);
    // Through the read API they are in the record beside the imported prescriptions, in id
    // order, read by id as they were written (the record's links resolved).
    let api = crate::fhir_read::Api {
        t: &t,
        token: crate::fhir_read::read_token(&t).await,
    };
    let search = format!("/fhir/MedicationRequest?patient={pia}");
    let imported = scalar(
        &t,
        "SELECT COUNT(*) FROM fhir_resources WHERE resource_type = 'MedicationRequest'",
    )
    .await;
    assert_eq!(api.total(&search).await, imported + 2);
    let paged = api.all(&format!("{search}&_count=1")).await;
    let ids: Vec<&str> = paged.iter().filter_map(|r| r["id"].as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(ids, sorted, "each once, in id order");
    assert_eq!(ids.len() as i64, imported + 2);
    for rx in &issued {
        let id = rx["id"].as_str().expect("id");
        assert!(ids.contains(&id), "{id} found by the search");
        let (status, read) = api.get(&format!("/fhir/MedicationRequest/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read["priorPrescription"], rx["priorPrescription"]);
        assert_eq!(read["subject"]["reference"], format!("Patient/{pia}"));
        let prior = rx["priorPrescription"]["reference"]
            .as_str()
            .expect("prior");
        assert_eq!(api.get(&format!("/fhir/{prior}")).await.0, StatusCode::OK);
    }
    assert_eq!(
        api.total(&format!(
            "{search}&intent=order&status=active&_summary=count"
        ))
        .await,
        paged
            .iter()
            .filter(|r| r["intent"] == "order" && r["status"] == "active")
            .count() as i64
    );
    let everything = api.all(&format!("/fhir/Patient/{pia}/$everything")).await;
    for rx in &issued {
        assert!(
            everything.iter().any(|r| r["id"] == rx["id"]),
            "in $everything"
        );
    }
    // A later import of the same record leaves them as they are.
    t.app
        .import()
        .import_bundle(&Actor::operator(), pia_bundle().to_string().as_bytes())
        .await
        .expect("the record again");
    assert_eq!(
        t.app
            .refills()
            .issued_prescriptions(&ehr(), pia)
            .await
            .expect("the prescriptions"),
        issued
    );
    t.stop().await;
}

/// Checks `resources` against US Core MedicationRequest with the shared validator, when CI
/// points at it.
fn validate(resources: &[Value]) {
    if let Some(summary) = crate::helpers::validate_us_core(resources, "the renewed prescriptions")
    {
        assert!(
            summary.contains("us-core-medicationrequest"),
            "checked against US Core MedicationRequest: {summary}"
        );
    }
}

async fn two_requests_for_one_medication_at_once_store_one(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    let parent = t.sign_in(Role::Patient).await;
    let main_street = pharmacy(&t, "Main Street Pharmacy").await;
    let simva = rid(&t, "pia-simva").await;
    let page = format!("/patients/{pia}/medications");
    let html = t.get(&parent, &page).await.text().await.expect("page");
    let csrf = crate::helpers::csrf_in(&html).expect("csrf");
    // Two tabs: two forms, two keys, the same medication.
    let keys = [send_key_in(&html), {
        let again = t.get(&parent, &page).await.text().await.expect("page");
        send_key_in(&again)
    }];
    let post = |medication: &str, key: &str| {
        let (c, url) = (parent.clone(), format!("{}/patients/{pia}/refills", t.url));
        let fields = vec![
            ("medication".to_string(), medication.to_string()),
            ("pharmacy".to_string(), main_street.clone()),
            ("send_key".to_string(), key.to_string()),
            ("csrf".to_string(), csrf.clone()),
        ];
        async move { c.post(url).form(&fields).send().await.expect("POST") }
    };
    let (a, b) = tokio::join!(post(&simva, &keys[0]), post(&simva, &keys[1]));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(
        statuses,
        [303, 422],
        "one is stored, the other told it is pending"
    );
    assert_eq!(t.count("refill_items").await, 1);
    // The same form sent twice (a double click) stores one request and answers it twice.
    let html = t.get(&parent, &page).await.text().await.expect("page");
    let key = send_key_in(&html);
    let furo = rid(&t, "pia-furo").await;
    let (a, b) = tokio::join!(post(&furo, &key), post(&furo, &key));
    assert_eq!(a.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&a), location(&b));
    assert_eq!(t.count("refill_requests").await, 2);
    t.stop().await;
}

async fn requests_nobody_decides_move_to_the_pool_then_its_lead(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    // The prescriber has an account now: the demo clinician carries her NPI. The demo
    // clinician is in the nurse line and leads it.
    let admin = t.sign_in(Role::Admin).await;
    let r = t
        .post_form(
            &admin,
            "/admin/refills",
            "/admin/refills/npi",
            &[("email", "clinician@demo.portal.test"), ("npi", NPI)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let parent = t.sign_in(Role::Patient).await;
    let main_street = pharmacy(&t, "Main Street Pharmacy").await;
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-simva").await],
        &main_street,
    )
    .await;
    let refill = refill_id(&location(&r));
    // Two prescribers' medications at once: one request each, each to its own decider.
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-furo").await, &rid(&t, "pia-ibuprofen").await],
        &main_street,
    )
    .await;
    assert_eq!(location(&r), format!("/patients/{pia}/refills?sent=2"));
    let routed: Vec<(String, Option<String>, String)> = sqlx::query(
        "SELECT i.label, r.prescriber_user_id, r.stage FROM refill_items i \
         JOIN refill_requests r ON r.id = i.request_id WHERE r.id <> $1 ORDER BY i.label",
    )
    .bind(&refill)
    .fetch_all(t.app.store().pool())
    .await
    .expect("requests")
    .iter()
    .map(|row| (row.get(0), row.get(1), row.get(2)))
    .collect();
    assert_eq!(routed.len(), 2);
    assert_eq!(routed[0].0, "Furosemide 40 MG Oral Tablet");
    assert!(routed[0].1.is_some() && routed[0].2 == "prescriber");
    assert_eq!(routed[1].0, "Ibuprofen 200 MG Oral Tablet");
    assert!(routed[1].1.is_none() && routed[1].2 == "pool");
    let stage = |t: &TestApp| {
        let pool = t.app.store().pool().clone();
        let refill = refill.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT stage FROM refill_requests WHERE id = $1")
                .bind(refill)
                .fetch_one(&pool)
                .await
                .expect("stage")
        }
    };
    assert_eq!(stage(&t).await, "prescriber");
    let clinician = t.sign_in(Role::Clinician).await;
    let basket = t
        .get(&clinician, "/inbasket")
        .await
        .text()
        .await
        .expect("page");
    assert!(basket.contains("Refill request from Pia Reyes") && basket.contains("Waiting for you"));
    let moves_sql = format!(
        "SELECT COUNT(*) FROM audit_events WHERE actor_id = 'portal' \
         AND resource_type = 'RefillRequest' AND resource_id = '{refill}'"
    );
    let moves = || scalar(&t, &moves_sql);
    // Nothing moves before the clinic's 48 hours.
    t.advance(SignedDuration::from_hours(47));
    t.app.refills().move_on_waiting().await.expect("job");
    assert_eq!(stage(&t).await, "prescriber");
    t.advance(SignedDuration::from_hours(1));
    let mails = t.count("outbox").await;
    // Every process runs the job (each mail worker does too): the request moves once.
    let other = t.another_portal().await;
    let mut tasks = Vec::new();
    for app in [t.app.clone(), other.app.clone()] {
        for _ in 0..3 {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                app.refills().move_on_waiting().await
            }));
        }
    }
    for task in tasks {
        task.await.expect("task").expect("job");
    }
    other.stop().await;
    assert_eq!(stage(&t).await, "pool");
    assert_eq!(moves().await, 1, "moved once, audited in Pia's record");
    assert!(t.count("outbox").await > mails, "the pool was told");
    t.advance(SignedDuration::from_hours(48));
    t.app.refills().move_on_waiting().await.expect("job");
    assert_eq!(stage(&t).await, "lead");
    t.advance(SignedDuration::from_hours(48));
    t.app.refills().move_on_waiting().await.expect("job");
    assert_eq!(stage(&t).await, "lead", "the lead is last");
    assert_eq!(moves().await, 2);
    t.stop().await;
}

async fn the_clinic_sets_the_rules_and_the_pharmacies(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let pia = import_pia(&mut t).await;
    let admin = t.sign_in(Role::Admin).await;
    let page = t.get(&admin, "/admin/refills").await;
    assert_eq!(page.status(), StatusCode::OK);
    let nurse_line: String = sqlx::query_scalar("SELECT id FROM pools WHERE name = 'Nurse line'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("pool");
    // Nonsense is refused field by field and changes nothing.
    let r = t
        .post_form(
            &admin,
            "/admin/refills",
            "/admin/refills/rules",
            &[
                ("window_months", "0"),
                ("escalate_hours", "soon"),
                ("refused", "VI"),
                ("pool", &nurse_line),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.expect("body");
    for message in [
        "Give a whole number of months from 1 to 60.",
        "Give a whole number of hours from 1 to 336.",
        "is not a DEA schedule (II to V).",
    ] {
        assert!(body.contains(message), "{message}");
    }
    // A wider window, and schedule IV renewed online: aspirin and tramadol may be asked for.
    let r = t
        .post_form(
            &admin,
            "/admin/refills",
            "/admin/refills/rules",
            &[
                ("window_months", "24"),
                ("escalate_hours", "24"),
                ("refused", "II"),
                ("refused", "III"),
                ("pool", &nurse_line),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // A pharmacy added, another withdrawn: patients choose from what is offered.
    let r = t
        .post_form(
            &admin,
            "/admin/refills",
            "/admin/refills/pharmacies",
            &[
                ("name", "Hilltop Pharmacy"),
                ("address", "9 Hill Road"),
                ("phone", "(555) 010-0400"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t
        .post_form(
            &admin,
            "/admin/refills",
            "/admin/refills/pharmacies",
            &[
                ("name", "Hilltop Pharmacy"),
                ("address", "9 Hill Road"),
                ("phone", "1"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "listed already"
    );
    let riverside = pharmacy(&t, "Riverside Drugstore").await;
    let r = t
        .post_form(
            &admin,
            "/admin/refills",
            "/admin/refills/pharmacies/offered",
            &[("pharmacy", &riverside), ("offered", "no")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let parent = t.sign_in(Role::Patient).await;
    let page = t
        .get(&parent, &format!("/patients/{pia}/medications"))
        .await
        .text()
        .await
        .expect("page");
    assert_eq!(
        page.matches("type=\"checkbox\"").count(),
        5,
        "aspirin and tramadol too"
    );
    assert!(page.contains("the clinic renews prescriptions written in the last 24 months"));
    assert!(page.contains("Hilltop Pharmacy") && !page.contains("Riverside Drugstore"));
    let r = request(
        &t,
        &parent,
        pia,
        &[&rid(&t, "pia-tramadol").await],
        &riverside,
    )
    .await;
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Choose a pharmacy from the list")
    );
    // The rules and the directory are the admin's: a clinician is refused, and every change
    // is audited.
    let clinician = t.sign_in(Role::Clinician).await;
    let r = t
        .post_form(
            &clinician,
            "/inbasket",
            "/admin/refills/rules",
            &[
                ("window_months", "60"),
                ("escalate_hours", "1"),
                ("pool", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let changes = scalar(
        &t,
        "SELECT COUNT(*) FROM audit_events WHERE resource_type IN ('ClinicSettings', 'Pharmacy') \
         AND actor_role = 'admin'",
    )
    .await;
    assert_eq!(changes, 3);
    t.stop().await;
}

both_backends!(
    the_clinic_sets_the_rules_and_the_pharmacies,
    each_refusal_rule_says_why_and_refuses_the_request,
    another_records_requests_and_medications_are_not_found,
    staff_see_who_waits_but_never_the_medications_or_the_decision,
    an_approval_writes_a_prescription_that_validates_and_decisions_are_kept,
    two_requests_for_one_medication_at_once_store_one,
    requests_nobody_decides_move_to_the_pool_then_its_lead,
);
