//! The health-record pages over HTTP: results with their values and flags, held results and
//! their release, visits with notes shown as text, document downloads, one audit event per
//! view, the results filter, and another patient's item ids answering exactly like missing ones.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_app::Actor;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use portal_web::routes::record_item_routes;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

/// One test result in a fixture record.
struct Lab {
    id: &'static str,
    name: &'static str,
    loinc: &'static str,
    category: &'static str,
    value: f64,
    unit: &'static str,
    range: Option<(f64, f64)>,
    at: &'static str,
    at_visit: bool,
}

/// A small record: a patient, their clinician, one visit with a problem and a note, some results
/// (optionally listed by a report).
struct Person {
    tag: &'static str,
    given: &'static str,
    family: &'static str,
    gender: &'static str,
    birth: &'static str,
    clinician: (&'static str, &'static str),
    visit_start: &'static str,
    problem: &'static str,
    labs: Vec<Lab>,
    report: Option<&'static str>,
    note: &'static str,
}

/// Nina Ortiz: a child the demo patient (Sofia) is parent of, on the demo clinician's care team.
fn nina_record() -> Person {
    Person {
        tag: "nina",
        given: "Nina",
        family: "Ortiz",
        gender: "female",
        birth: "2015-04-09",
        clinician: ("Ada", "Quill"),
        visit_start: "2026-02-20T09:00:00Z",
        problem: "Iron deficiency anaemia",
        labs: vec![
            Lab {
                id: "nina-hb",
                name: "Haemoglobin",
                loinc: "718-7",
                category: "laboratory",
                value: 10.2,
                unit: "g/dL",
                range: Some((11.5, 15.5)),
                at: "2026-02-20T09:15:00Z",
                at_visit: true,
            },
            Lab {
                id: "nina-glucose",
                name: "Glucose",
                loinc: "2339-0",
                category: "laboratory",
                value: 5.1,
                unit: "mmol/L",
                range: Some((3.9, 5.6)),
                at: "2026-01-10T08:00:00Z",
                at_visit: false,
            },
            Lab {
                id: "nina-weight",
                name: "Body weight",
                loinc: "29463-7",
                category: "vital-signs",
                value: 24.0,
                unit: "kg",
                range: None,
                at: "2026-02-20T09:05:00Z",
                at_visit: true,
            },
        ],
        report: None,
        note: "Nina was seen for tiredness.\n<script>alert(1)</script>\nPlan: iron for 3 months.\n",
    }
}

/// Omar Haddad: on nobody's care team, nobody's proxy; his cholesterol is listed by a report.
fn omar_record() -> Person {
    Person {
        tag: "omar",
        given: "Omar",
        family: "Haddad",
        gender: "male",
        birth: "1980-06-01",
        clinician: ("Rui", "Costa"),
        visit_start: "2026-03-05T14:00:00Z",
        problem: "Raised cholesterol",
        labs: vec![Lab {
            id: "omar-chol",
            name: "Total cholesterol",
            loinc: "2093-3",
            category: "laboratory",
            value: 6.8,
            unit: "mmol/L",
            range: Some((3.0, 5.2)),
            at: "2026-03-05T14:10:00Z",
            at_visit: true,
        }],
        report: Some("Lipid panel"),
        note: "Omar discussed his diet.\n",
    }
}

fn urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// A transaction Bundle of `p`'s record, shaped like Synthea's.
fn bundle(p: &Person) -> Value {
    let (patient, practitioner, visit) = (urn(), urn(), urn());
    let tag = p.tag;
    let mut entries = vec![
        (
            patient.clone(),
            json!({"resourceType": "Patient", "id": format!("{tag}-patient"),
                   "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                                   "system": "urn:test:mrn", "value": mrn(p)}],
                   "name": [{"use": "official", "family": p.family, "given": [p.given]}],
                   "gender": p.gender, "birthDate": p.birth}),
        ),
        (
            practitioner.clone(),
            json!({"resourceType": "Practitioner", "id": format!("{tag}-practitioner"),
                   "name": [{"family": p.clinician.1, "given": [p.clinician.0], "prefix": ["Dr."]}]}),
        ),
        (
            visit.clone(),
            json!({"resourceType": "Encounter", "id": format!("{tag}-visit"), "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB", "display": "ambulatory"},
                   "type": [{"text": "Follow-up visit"}], "subject": {"reference": patient},
                   "participant": [{"individual": {"reference": practitioner}}],
                   "period": {"start": p.visit_start, "end": p.visit_start}, "reasonCode": [{"text": "Tiredness"}]}),
        ),
        (
            urn(),
            json!({"resourceType": "Condition", "id": format!("{tag}-problem"),
                   "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                   "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
                   "code": {"text": p.problem}, "subject": {"reference": patient},
                   "encounter": {"reference": visit}, "onsetDateTime": p.visit_start}),
        ),
        (
            urn(),
            json!({"resourceType": "DocumentReference", "id": format!("{tag}-note"), "status": "current",
                   "type": {"text": "Visit note"}, "subject": {"reference": patient}, "date": p.visit_start,
                   "author": [{"reference": practitioner}],
                   "content": [{"attachment": {"contentType": "text/plain",
                                               "data": data_encoding::BASE64.encode(p.note.as_bytes())}}],
                   "context": {"encounter": [{"reference": visit}]}}),
        ),
    ];
    let mut members = Vec::new();
    for lab in &p.labs {
        let full_url = urn();
        let mut obs = json!({"resourceType": "Observation", "id": lab.id, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": lab.category}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": lab.loinc, "display": lab.name}], "text": lab.name},
            "subject": {"reference": patient}, "effectiveDateTime": lab.at,
            "valueQuantity": {"value": lab.value, "unit": lab.unit}});
        if let Some((low, high)) = lab.range {
            obs["referenceRange"] = json!([{"low": {"value": low, "unit": lab.unit}, "high": {"value": high, "unit": lab.unit}}]);
        }
        if lab.at_visit {
            obs["encounter"] = json!({"reference": visit});
        }
        members.push(json!({"reference": full_url}));
        entries.push((full_url, obs));
    }
    if let Some(name) = p.report {
        entries.push((
            urn(),
            json!({"resourceType": "DiagnosticReport", "id": format!("{tag}-report"), "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
                   "code": {"text": name}, "subject": {"reference": patient}, "encounter": {"reference": visit},
                   "effectiveDateTime": p.visit_start, "result": members}),
        ));
    }
    crate::helpers::transaction(entries)
}

fn mrn(p: &Person) -> String {
    format!("TEST-{}", p.tag.to_uppercase())
}

/// Imports `p`'s record as the command line does; returns the new record's id.
async fn import(t: &TestApp, p: &Person) -> PatientId {
    t.app
        .import()
        .import_bundle(&Actor::operator(), bundle(p).to_string().as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{}'s record was refused: {e}", p.given));
    let id: String = sqlx::query_scalar("SELECT id FROM patients WHERE mrn = $1")
        .bind(mrn(p))
        .fetch_one(t.app.store().pool())
        .await
        .expect("the imported record");
    id.parse().expect("a patient id")
}

/// Imports Nina's record and makes Sofia her parent (proxy) and Dr. Okafor her clinician.
async fn import_nina(t: &mut TestApp) -> PatientId {
    let nina = import(t, &nina_record()).await;
    t.app
        .link_demo_records(&mut t.demo, &[nina], &[nina])
        .await
        .expect("link Nina to the demo accounts");
    nina
}

/// The portal's id of an imported resource, by the sender's id.
pub(crate) async fn resource_id(t: &TestApp, source_id: &str) -> String {
    sqlx::query_scalar("SELECT id FROM fhir_resources WHERE source_id = $1")
        .bind(source_id)
        .fetch_one(t.app.store().pool())
        .await
        .unwrap_or_else(|e| panic!("no resource {source_id}: {e}"))
}

async fn released_at(t: &TestApp, resource_id: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT released_at FROM clinical_items WHERE resource_id = $1")
        .bind(resource_id)
        .fetch_one(t.app.store().pool())
        .await
        .expect("clinical item")
}

async fn user_id(t: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(t.app.store().pool())
        .await
        .expect("account row")
}

/// Gives the record `patient` an account through activation and signs it in (password only:
/// patients choose whether to add a second factor).
pub(crate) async fn sign_in_new_patient(
    t: &TestApp,
    patient: PatientId,
    birth: &str,
    email: &str,
) -> Client {
    let code = t
        .app
        .accounts()
        .invite(&Actor::operator(), patient)
        .await
        .expect("activation code")
        .code;
    let c = t.client();
    let password = "violet kettle orbit 9";
    let fields = [
        ("code", code.as_str()),
        ("birth_date", birth),
        ("email", email),
        ("password", password),
    ];
    let r = t.post_form(&c, "/activate", "/activate", &fields).await;
    assert_eq!(location(&r), "/signin?done=activated");
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[("email", email), ("password", password)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    c
}

pub(crate) async fn page(t: &TestApp, c: &Client, path: &str) -> (StatusCode, String) {
    let r = t.get(c, path).await;
    (r.status(), r.text().await.expect("body"))
}

/// GETs a page that must open, and returns its HTML.
pub(crate) async fn open(t: &TestApp, c: &Client, path: &str) -> String {
    let (status, html) = page(t, c, path).await;
    assert_eq!(status, StatusCode::OK, "GET {path}");
    html
}

/// Sends a record route's request as the portal's own pages would.
async fn send(t: &TestApp, c: &Client, method: &str, path: &str) -> Response {
    match method {
        "GET" => t.get(c, path).await,
        "POST" => t.post_form(c, "/account", path, &[]).await,
        other => panic!("the test does not know how to send {other} {path}"),
    }
}

pub(crate) fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn a_patient_sees_their_own_results_with_value_range_and_flag(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let omar = import(&t, &omar_record()).await;
    import(&t, &nina_record()).await;
    let c = sign_in_new_patient(&t, omar, "1980-06-01", "omar@example.org").await;
    let report = resource_id(&t, "omar-report").await;
    let chol = resource_id(&t, "omar-chol").await;

    let list = open(&t, &c, &format!("/patients/{omar}/results")).await;
    assert!(list.contains("Omar Haddad"), "{list}");
    assert!(list.contains(&format!(
        "/patients/{omar}/results/{report}\">Lipid panel</a>"
    )));
    assert!(list.contains("1 result"), "the report counts its result");
    assert!(
        list.contains("High"),
        "the report shows its worst flag in words"
    );
    assert!(list.contains("<span class=\"badge\">New</span>"));
    assert!(!list.contains("Hemoglobin"), "nothing of Nina's record");

    let html = open(&t, &c, &format!("/patients/{omar}/results/{report}")).await;
    assert!(html.contains("Results in this report"));
    assert!(html.contains(&format!(
        "/patients/{omar}/results/{chol}\">Total cholesterol</a>"
    )));
    assert!(html.contains("6.8 mmol/L"));

    let html = open(&t, &c, &format!("/patients/{omar}/results/{chol}")).await;
    assert!(html.contains("<h1>Total cholesterol</h1>"), "{html}");
    assert!(
        html.contains("<dd class=\"value\">6.8 mmol/L</dd>"),
        "{html}"
    );
    assert!(
        html.contains("3.0–5.2 mmol/L"),
        "the reference range, at its own precision"
    );
    assert!(html.contains("<span class=\"flag abnormal\">High</span>"));
    assert!(html.contains("Ordered by Dr. Rui Costa"), "{html}");
    assert!(!html.contains("This result is held"));

    // Opened results are no longer new.
    let list = open(&t, &c, &format!("/patients/{omar}/results")).await;
    assert!(!list.contains("<span class=\"badge\">New</span>"), "{list}");
    t.stop().await;
}

async fn another_patients_items_answer_like_missing_ones_and_change_nothing(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    // Omar's result is held, so a release that wrongly reached it would show.
    let admin = t.sign_in(Role::Admin).await;
    let fields = [("category", "laboratory"), ("days", "")];
    let r = t
        .post_form(
            &admin,
            "/admin/results-release",
            "/admin/results-release",
            &fields,
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let nina = import_nina(&mut t).await;
    let omar = import(&t, &omar_record()).await;
    let sofia = t.patient("Sofia Martinez");
    let chol = resource_id(&t, "omar-chol").await;
    let omar_items = [
        ("/results/", chol.clone()),
        ("/results/", resource_id(&t, "omar-report").await),
        ("/visits/", resource_id(&t, "omar-visit").await),
        ("/documents/", resource_id(&t, "omar-note").await),
    ];
    let (conversation, file) = crate::messages::conversation_in(&t, omar).await;
    let omar_items: Vec<(&str, String)> = omar_items
        .into_iter()
        .chain([("/messages/", conversation), ("/attachments/", file)])
        .collect();
    assert_eq!(released_at(&t, &chol).await, None, "held until released");

    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let viewers = [
        ("patient", &patient, sofia),
        ("proxy", &patient, nina),
        ("clinician", &clinician, nina),
    ];
    let before = record_state(&t).await;
    let mut tried = 0;
    for (viewer, c, related) in viewers {
        let missing_record = send(&t, c, "GET", &format!("/patients/{}", random_id())).await;
        assert_eq!(missing_record.status(), StatusCode::NOT_FOUND);
        let reference = missing_record.text().await.expect("body");
        for (method, template) in record_item_routes() {
            let path = |patient: PatientId, item: &str| {
                template
                    .replace("{id}", &patient.to_string())
                    .replace("{item}", item)
            };
            let mut attempts = Vec::new();
            if template.contains("{item}") {
                attempts.push((path(related, &random_id()), "a missing item"));
                for (kind, item) in &omar_items {
                    if template.contains(kind) {
                        attempts.push((path(related, item), "Omar's item in a record they see"));
                        attempts.push((path(omar, item), "Omar's item in his record"));
                    }
                }
            } else {
                let missing: PatientId = random_id().parse().expect("a patient id");
                attempts.push((path(missing, ""), "a missing record"));
                attempts.push((path(omar, ""), "Omar's record"));
            }
            for (path, what) in attempts {
                let what = format!("{viewer}: {method} {path} ({what})");
                let r = send(&t, c, method, &path).await;
                tried += 1;
                assert_eq!(r.status(), StatusCode::NOT_FOUND, "{what}");
                let body = r.text().await.expect("body");
                assert_eq!(
                    body, reference,
                    "{what}: must look exactly like a missing record"
                );
                assert!(!body.contains("Haddad") && !body.contains("cholesterol"));
            }
        }
        assert_eq!(record_state(&t).await, before, "{viewer}: nothing changed");
    }
    // Per viewer: a missing item and Omar's two results under both paths for the result page
    // and for release (5 + 5), his visit and his document likewise (3 + 3), the filter (2),
    // and his conversation under both paths for its page, reply, note, reassign and status,
    // and his attached file likewise (6 × 3), a missing appointment for its page, calendar
    // file, move, cancel, waitlist and check-in (7) and a missing offer for its page and
    // accept and a missing card photo (3; another patient's appointment, offer and photo have
    // their own tests in appointments.rs, appointment_offers.rs and checkin.rs), and a missing
    // refill request for its page, its review and taking it in review, decision and "sent"
    // (5; another record's requests are tried in refills.rs).
    assert_eq!(tried, 3 * 51);
    assert_eq!(
        released_at(&t, &chol).await,
        None,
        "Omar's result is still held"
    );
    t.stop().await;
}

/// What a refused request must leave as it was: every item's release, the read markers, and
/// the successful reads and changes of anyone's record.
async fn record_state(t: &TestApp) -> (Vec<(String, Option<i64>)>, i64, i64) {
    let pool = t.app.store().pool();
    let items =
        sqlx::query("SELECT resource_id, released_at FROM clinical_items ORDER BY resource_id")
            .fetch_all(pool)
            .await
            .expect("items")
            .iter()
            .map(|r| {
                (
                    r.try_get("resource_id").expect("id"),
                    r.try_get("released_at").expect("at"),
                )
            })
            .collect();
    let successes: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE outcome = 'success' AND patient_id IS NOT NULL",
    )
    .fetch_one(pool)
    .await
    .expect("count events");
    (items, t.count("result_reads").await, successes)
}

async fn proxies_and_the_care_team_see_results_and_the_desk_and_admin_do_not(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let nina = import_nina(&mut t).await;
    let hb = resource_id(&t, "nina-hb").await;
    let visit = resource_id(&t, "nina-visit").await;
    let note = resource_id(&t, "nina-note").await;
    let weight = resource_id(&t, "nina-weight").await;
    for role in [Role::Patient, Role::Clinician] {
        let c = t.sign_in(role).await;
        let list = open(&t, &c, &format!("/patients/{nina}/results")).await;
        assert!(list.contains("Nina Ortiz"), "{role}");
        assert!(
            list.contains(&format!("/patients/{nina}/results/{hb}\">Hemoglobin</a>")),
            "{role}: {list}"
        );
        assert!(list.contains("Glucose"), "{role}");
        assert!(
            !list.contains(">Weight</a>"),
            "{role}: vital signs are not test results"
        );
        let html = open(&t, &c, &format!("/patients/{nina}/results/{hb}")).await;
        assert!(
            html.contains("<dd class=\"value\">10.2 g/dL</dd>"),
            "{role}: {html}"
        );
        assert!(html.contains("11.5–15.5 g/dL"), "{role}");
        assert!(
            html.contains("<span class=\"flag abnormal\">Low</span>"),
            "{role}"
        );
        let summary = open(&t, &c, &format!("/patients/{nina}/record")).await;
        assert!(
            summary.contains("Iron deficiency anaemia"),
            "{role}: {summary}"
        );
        assert!(
            summary.contains(&format!("results/{weight}\">Weight</a>")),
            "{role}: the latest vital signs"
        );
    }
    let pages = [
        format!("/patients/{nina}/record"),
        format!("/patients/{nina}/medications"),
        format!("/patients/{nina}/results"),
        format!("/patients/{nina}/results/{hb}"),
        format!("/patients/{nina}/visits"),
        format!("/patients/{nina}/visits/{visit}"),
        format!("/patients/{nina}/documents"),
        format!("/patients/{nina}/documents/{note}"),
    ];
    for role in [Role::Staff, Role::Admin] {
        let c = t.sign_in(role).await;
        let (status, reference) = page(&t, &c, &format!("/patients/{}", random_id())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for path in &pages {
            let (status, body) = page(&t, &c, path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{role} GET {path}");
            assert_eq!(body, reference, "{role} GET {path}");
        }
    }
    t.stop().await;
}

async fn a_held_result_waits_for_a_clinician_to_release_it(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = t.sign_in(Role::Admin).await;
    let rules = "/admin/results-release";
    let set_hold = |category: &'static str, days: &'static str| {
        let (t, admin) = (&t, &admin);
        async move {
            let fields = [("category", category), ("days", days)];
            t.post_form(admin, rules, rules, &fields).await
        }
    };
    let days_message = "Days: enter a whole number from 1 to 365, or leave it empty";
    for (category, days, message) in [
        ("laboratory", "abc", days_message),
        ("laboratory", "0", days_message),
        ("laboratory", "366", days_message),
        (
            "lab results",
            "",
            "Category: enter a category code such as laboratory",
        ),
    ] {
        let r = set_hold(category, days).await;
        let what = format!("category {category:?}, days {days:?}");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let html = r.text().await.expect("body");
        assert!(html.contains(message), "{what}: {html}");
        assert_eq!(t.count("result_holds").await, 0, "{what}: no hold written");
    }
    let r = set_hold("laboratory", "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        format!("{rules}?held=0"),
        "nothing in the records to hold yet"
    );
    let html = open(&t, &admin, rules).await;
    assert!(
        html.contains("<th scope=\"row\">laboratory</th>")
            && html.contains("Held until a clinician releases")
    );

    let nina = import_nina(&mut t).await;
    let hb = resource_id(&t, "nina-hb").await;
    let glucose = resource_id(&t, "nina-glucose").await;
    let visit = resource_id(&t, "nina-visit").await;
    let results = format!("/patients/{nina}/results");
    let hb_page = format!("{results}/{hb}");

    let proxy = t.sign_in(Role::Patient).await;
    let list = open(&t, &proxy, &results).await;
    assert!(
        !list.contains("Hemoglobin") && !list.contains("Glucose"),
        "{list}"
    );
    assert!(list.contains("No test results yet"));
    let (status, missing) = page(&t, &proxy, &format!("{results}/{}", random_id())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = page(&t, &proxy, &hb_page).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a held result is not there for the patient side"
    );
    assert_eq!(body, missing);
    let html = open(&t, &proxy, &format!("/patients/{nina}/visits/{visit}")).await;
    assert!(!html.contains("Hemoglobin"), "nor on its visit's page");

    let clinician = t.sign_in(Role::Clinician).await;
    let list = open(&t, &clinician, &results).await;
    assert!(list.contains("Hemoglobin") && list.contains("Glucose"));
    assert_eq!(
        list.matches("Held: not yet visible to the patient").count(),
        2
    );
    let html = open(&t, &clinician, &hb_page).await;
    assert!(html.contains("This result is held: the patient cannot see it yet."));
    assert!(html.contains("Release to the patient now"));
    assert!(html.contains("10.2 g/dL"));
    let r = t
        .post_form(&clinician, &hb_page, &format!("{hb_page}/release"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), hb_page);
    assert_eq!(
        released_at(&t, &hb).await,
        Some(t.app.now().as_microsecond())
    );
    assert!(
        !open(&t, &clinician, &hb_page)
            .await
            .contains("This result is held")
    );
    let releases: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'update' AND resource_type = 'ResultRelease' \
         AND resource_id = $1 AND patient_id = $2 AND outcome = 'success'",
    )
    .bind(&hb)
    .bind(nina.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("count releases");
    assert_eq!(releases, 1, "the release is audited");

    // The patient side cannot release the other held result itself.
    let r = send(&t, &proxy, "POST", &format!("{results}/{glucose}/release")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(released_at(&t, &glucose).await, None);

    let list = open(&t, &proxy, &results).await;
    assert!(
        list.contains("Hemoglobin") && !list.contains("Glucose"),
        "{list}"
    );
    let html = open(&t, &proxy, &hb_page).await;
    assert!(html.contains("<dd class=\"value\">10.2 g/dL</dd>") && html.contains("Low"));
    assert!(!html.contains("held"), "{html}");
    t.stop().await;
}

async fn a_result_held_for_some_days_reaches_the_patient_side_when_they_are_up(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = t.sign_in(Role::Admin).await;
    let rules = "/admin/results-release";
    let fields = [("category", "laboratory"), ("days", "2")];
    let r = t.post_form(&admin, rules, rules, &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(open(&t, &admin, rules).await.contains("2 days"));
    let nina = import_nina(&mut t).await;
    let hb = resource_id(&t, "nina-hb").await;
    let two_days = 2 * 86_400_000_000;
    assert_eq!(
        released_at(&t, &hb).await,
        Some(t.app.now().as_microsecond() + two_days)
    );
    let hb_page = format!("/patients/{nina}/results/{hb}");

    // An hour before the two days are up (the sign-in moves the clock 30 seconds).
    t.advance(SignedDuration::from_hours(47));
    let proxy = t.sign_in(Role::Patient).await;
    assert_eq!(page(&t, &proxy, &hb_page).await.0, StatusCode::NOT_FOUND);
    let list = open(&t, &proxy, &format!("/patients/{nina}/results")).await;
    assert!(!list.contains("Hemoglobin"), "{list}");

    t.advance(SignedDuration::from_hours(1));
    let proxy = t.sign_in(Role::Patient).await;
    let html = open(&t, &proxy, &hb_page).await;
    assert!(
        html.contains("<dd class=\"value\">10.2 g/dL</dd>"),
        "{html}"
    );
    t.stop().await;
}

async fn a_note_with_markup_shows_as_text_and_downloads_as_plain_text(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let nina = import_nina(&mut t).await;
    let visit = resource_id(&t, "nina-visit").await;
    let note = resource_id(&t, "nina-note").await;
    let c = t.sign_in(Role::Patient).await;

    let list = open(&t, &c, &format!("/patients/{nina}/visits")).await;
    assert!(
        list.contains(&format!(
            "/patients/{nina}/visits/{visit}\">Follow-up visit</a>"
        )),
        "{list}"
    );
    let html = open(&t, &c, &format!("/patients/{nina}/visits/{visit}")).await;
    assert!(html.contains("Nina was seen for tiredness."), "{html}");
    let escaped = [
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&#60;script&#62;alert(1)&#60;/script&#62;",
    ];
    assert!(
        escaped.iter().any(|e| html.contains(e)),
        "the note's markup is shown escaped: {html}"
    );
    assert!(
        !html.contains("<script>alert"),
        "the note's markup is never HTML"
    );
    assert!(
        html.contains("Iron deficiency anaemia"),
        "the visit's diagnosis"
    );
    assert!(html.contains("Dr. Ada Quill"), "the visit's clinician");
    assert!(html.contains("Hemoglobin"), "the visit's result");

    let docs = open(&t, &c, &format!("/patients/{nina}/documents")).await;
    let download = format!("/patients/{nina}/documents/{note}");
    assert!(
        docs.contains(&format!("{download}\">Visit note</a>")),
        "{docs}"
    );
    let r = t.get(&c, &download).await;
    assert_eq!(r.status(), StatusCode::OK);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(
        header("content-type").starts_with("text/plain"),
        "{}",
        header("content-type")
    );
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"clinical-note-2026-02-20.txt\""
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(
        r.text().await.expect("body"),
        nina_record().note,
        "the note as written"
    );
    t.stop().await;
}

async fn every_record_view_is_audited_as_a_read_of_that_patient(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let nina = import_nina(&mut t).await;
    let hb = resource_id(&t, "nina-hb").await;
    let visit = resource_id(&t, "nina-visit").await;
    let note = resource_id(&t, "nina-note").await;
    let views = [
        ("record", None, "HealthSummary"),
        ("results", None, "ResultList"),
        ("results", Some(&hb), "Result"),
        ("visits", None, "VisitList"),
        ("visits", Some(&visit), "Visit"),
        ("documents", None, "DocumentList"),
        ("documents", Some(&note), "Document"),
    ];
    for (role, basis) in [
        (Role::Patient, "proxy-full"),
        (Role::Clinician, "care-team"),
    ] {
        let c = t.sign_in(role).await;
        let actor = user_id(&t, &t.account(role).email).await;
        for (page_name, item, resource_type) in views {
            let path = match item {
                Some(item) => format!("/patients/{nina}/{page_name}/{item}"),
                None => format!("/patients/{nina}/{page_name}"),
            };
            let before = reads_of(&t, &actor, nina).await;
            assert_eq!(
                t.get(&c, &path).await.status(),
                StatusCode::OK,
                "{role} GET {path}"
            );
            let after = reads_of(&t, &actor, nina).await;
            assert_eq!(
                after.len(),
                before.len() + 1,
                "{role} GET {path}: one read event"
            );
            let expected = (resource_type.to_string(), item.cloned(), basis.to_string());
            assert_eq!(after.last(), Some(&expected), "{role} GET {path}");
        }
    }
    t.stop().await;
}

/// Successful reads of `patient` by `actor`: (resource type, resource id, basis), oldest first.
async fn reads_of(
    t: &TestApp,
    actor: &str,
    patient: PatientId,
) -> Vec<(String, Option<String>, String)> {
    sqlx::query(
        "SELECT resource_type, resource_id, on_behalf_of FROM audit_events WHERE actor_id = $1 \
         AND patient_id = $2 AND action = 'read' AND outcome = 'success' ORDER BY seq",
    )
    .bind(actor)
    .bind(patient.to_string())
    .fetch_all(t.app.store().pool())
    .await
    .expect("read events")
    .iter()
    .map(|r| {
        (
            r.try_get("resource_type").expect("type"),
            r.try_get("resource_id").expect("id"),
            r.try_get("on_behalf_of").expect("basis"),
        )
    })
    .collect()
}

async fn the_results_filter_checks_dates_and_narrows_the_list(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let nina = import_nina(&mut t).await;
    let c = t.sign_in(Role::Patient).await;
    let results = format!("/patients/{nina}/results");
    let filter = |name: &'static str, from: &'static str, to: &'static str| {
        let (t, c, results) = (&t, &c, &results);
        async move {
            let fields = [("name", name), ("from", from), ("to", to)];
            let r = t.post_form(c, results, results, &fields).await;
            if r.status() != StatusCode::SEE_OTHER {
                return (r.status(), r.text().await.expect("body"));
            }
            // A filter that works sends the browser to the list's own address with an opaque
            // id: no test name in it, and Back does not post the form again.
            let to = location(&r);
            assert!(to.starts_with(results.as_str()), "{to}");
            assert!(
                name.is_empty() || !to.to_lowercase().contains(&name.to_lowercase()),
                "the test name stays out of the address: {to}"
            );
            let r = t.get(c, &to).await;
            (r.status(), r.text().await.expect("body"))
        }
    };
    for (from, to, message) in [
        (
            "2026-13-01",
            "",
            "From: enter a date as MM/DD/YYYY (for example 03/05/2024).",
        ),
        (
            "",
            "31/01/2026",
            "To: enter a date as MM/DD/YYYY (for example 03/05/2024).",
        ),
        (
            "2026-02-01",
            "2026-01-01",
            "To: choose a date on or after the From date.",
        ),
    ] {
        let (status, html) = filter("", from, to).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "from {from:?} to {to:?}"
        );
        assert!(html.contains(message), "from {from:?} to {to:?}: {html}");
    }
    // (name, from, to) and whether Haemoglobin (20 February) and Glucose (10 January) are listed.
    for (name, from, to, haemoglobin, glucose) in [
        ("haemo", "", "", true, false),
        // The short name the list shows finds it as well as the name the record sent.
        ("hemo", "", "", true, false),
        ("GLUCOSE", "", "", false, true),
        ("", "2026-02-01", "", true, false),
        ("", "", "2026-01-10", false, true),
        ("", "2026-01-10", "2026-02-20", true, true),
        // The clinic's local form works as well as ISO.
        ("", "01/10/2026", "02/20/2026", true, true),
        ("", "2/1/2026", "", true, false),
        ("%", "", "", false, false),
    ] {
        let what = format!("name {name:?}, from {from:?}, to {to:?}");
        let (status, html) = filter(name, from, to).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        assert_eq!(
            html.contains(">Hemoglobin</a>"),
            haemoglobin,
            "{what}: {html}"
        );
        assert_eq!(html.contains(">Glucose</a>"), glucose, "{what}: {html}");
        if !haemoglobin && !glucose {
            assert!(html.contains("No results match these filters."), "{what}");
        }
        assert!(
            html.contains(&format!("<a href=\"{results}\">Show all</a>")),
            "{what}"
        );
    }
    // A filter's address works only in the session that applied it: another session of the
    // same person, or a made-up id, gets the whole list and says why.
    let fields = [("name", "hemo"), ("from", ""), ("to", "")];
    let r = t.post_form(&c, &results, &results, &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let filtered = location(&r);
    let mine = open(&t, &c, &filtered).await;
    assert!(mine.contains(">Hemoglobin</a>") && !mine.contains(">Glucose</a>"));
    let elsewhere = t.sign_in(Role::Patient).await;
    for address in [filtered.clone(), format!("{results}?filter=made-up")] {
        let html = open(&t, &elsewhere, &address).await;
        assert!(
            html.contains("That filter is no longer available, so all results are shown."),
            "{address}: {html}"
        );
        assert!(html.contains(">Hemoglobin</a>") && html.contains(">Glucose</a>"));
    }
    // A page number nobody could have followed shows the first page, not an error.
    for odd in [
        "?page=-3",
        "?page=0",
        "?page=99999999999999999999",
        "?page=two",
    ] {
        let html = open(&t, &c, &format!("{results}{odd}")).await;
        assert!(html.contains(">Glucose</a>"), "{odd}");
    }
    // However often a session filters, it keeps a bounded number of filters.
    for _ in 0..30 {
        let r = t
            .post_form(&elsewhere, &results, &results, &[("name", "glucose")])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
    let r = t
        .post_form(&elsewhere, &results, &results, &[("name", "hemo")])
        .await;
    let newest = location(&r);
    assert!(
        open(&t, &elsewhere, &newest)
            .await
            .contains(">Hemoglobin</a>")
    );
    assert!(
        t.count("result_filters").await <= 2 * portal_store::result_filters::KEPT_PER_SESSION,
        "filters are bounded per session"
    );
    t.stop().await;
}

/// A rule made after results arrived holds the ones nobody on the patient's side has opened yet;
/// what the patient has read stays readable. The page shows the categories present and counts.
async fn a_new_hold_reaches_results_nobody_has_opened(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let nina = import_nina(&mut t).await;
    let hb = resource_id(&t, "nina-hb").await;
    let glucose = resource_id(&t, "nina-glucose").await;
    let results = format!("/patients/{nina}/results");
    let proxy = t.sign_in(Role::Patient).await;
    let list = open(&t, &proxy, &results).await;
    assert!(list.contains(">Hemoglobin</a>") && list.contains(">Glucose</a>"));
    open(&t, &proxy, &format!("{results}/{glucose}")).await;

    let admin = t.sign_in(Role::Admin).await;
    let rules = "/admin/results-release";
    let before = open(&t, &admin, rules).await;
    let row = before
        .split("<tr>")
        .find(|r| r.contains("<th scope=\"row\">laboratory"))
        .unwrap_or_else(|| panic!("laboratory is offered, being in the records: {before}"));
    assert!(
        row.contains("<td>2</td><td>0</td>"),
        "two results, none held: {row}"
    );
    let r = t
        .post_form(
            &admin,
            rules,
            rules,
            &[("category", "laboratory"), ("days", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{rules}?held=1"));
    let after = open(&t, &admin, &location(&r)).await;
    assert!(
        after
            .contains("1 result already in the records, not yet opened by a patient, is held now."),
        "{after}"
    );
    let row = after
        .split("<tr>")
        .find(|r| r.contains("<th scope=\"row\">laboratory"))
        .unwrap_or_else(|| panic!("{after}"));
    assert!(row.contains("<td>2</td><td>1</td>"), "one held now: {row}");

    // The unopened hemoglobin waits for a clinician; the glucose the parent read stays.
    let list = open(&t, &proxy, &results).await;
    assert!(
        list.contains(">Glucose</a>") && !list.contains("Hemoglobin"),
        "{list}"
    );
    let (status, _) = page(&t, &proxy, &format!("{results}/{hb}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let clinician = t.sign_in(Role::Clinician).await;
    let list = open(&t, &clinician, &results).await;
    let hb_line = list
        .split("<li")
        .find(|l| l.contains(">Hemoglobin</a>"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        hb_line.contains("Held: not yet visible to the patient"),
        "{hb_line}"
    );
    t.stop().await;
}

/// A patient who has died: every reader's banner says when; nothing is due and no medication is
/// current any more, whatever status the prescription was sent with.
async fn a_deceased_patients_record_says_so_and_nothing_is_current(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6a1f0c2e-0b8e-4c1e-9d57-3f1d2e4b5a60",
         "request": {"method": "POST", "url": "Patient"},
         "resource": {"resourceType": "Patient", "id": "ruth",
            "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                            "system": "urn:example:mrn", "value": "RUTH-1"}],
            "name": [{"family": "Okoro", "given": ["Ruth"]}], "gender": "female",
            "birthDate": "1921-03-02", "deceasedDateTime": "1977-07-14T04:17:45-04:00"}},
        {"fullUrl": "urn:uuid:6a1f0c2e-0b8e-4c1e-9d57-3f1d2e4b5a61",
         "request": {"method": "POST", "url": "MedicationRequest"},
         "resource": {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": {"text": "NDA020800 Digoxin 0.125 MG Oral Tablet"},
            "subject": {"reference": "urn:uuid:6a1f0c2e-0b8e-4c1e-9d57-3f1d2e4b5a60"},
            "authoredOn": "1976-01-05"}}
    ]});
    t.app
        .import()
        .import_bundle(&Actor::operator(), bundle.to_string().as_bytes())
        .await
        .expect("Ruth's record");
    let ruth: PatientId =
        sqlx::query_scalar::<_, String>("SELECT id FROM patients WHERE mrn = 'RUTH-1'")
            .fetch_one(t.app.store().pool())
            .await
            .expect("the record")
            .parse()
            .expect("an id");
    t.app
        .link_demo_records(&mut t.demo, &[ruth], &[ruth])
        .await
        .expect("linked");
    for role in [Role::Patient, Role::Clinician] {
        let c = t.sign_in(role).await;
        let summary = open(&t, &c, &format!("/patients/{ruth}/record")).await;
        assert!(summary.contains("Died Jul 14, 1977"), "{role}: {summary}");
        assert!(!summary.contains("Age "), "{role}: no age after death");
        assert!(!summary.contains("Flu vaccine: "), "{role}: nothing is due");
        assert!(
            summary.contains("No current medications are recorded."),
            "{role}: {summary}"
        );
        let meds = open(&t, &c, &format!("/patients/{ruth}/medications")).await;
        assert!(
            meds.contains("Digoxin 0.125 MG Oral Tablet") && !meds.contains("NDA020800"),
            "{role}: the drug, without its registry prefix, among past medications: {meds}"
        );
        let home = open(&t, &c, &format!("/patients/{ruth}")).await;
        assert!(
            home.contains("Died Jul 14, 1977"),
            "{role}: every page's banner"
        );
    }
    t.stop().await;
}

both_backends!(
    a_deceased_patients_record_says_so_and_nothing_is_current,
    a_new_hold_reaches_results_nobody_has_opened,
    a_patient_sees_their_own_results_with_value_range_and_flag,
    another_patients_items_answer_like_missing_ones_and_change_nothing,
    proxies_and_the_care_team_see_results_and_the_desk_and_admin_do_not,
    a_held_result_waits_for_a_clinician_to_release_it,
    a_result_held_for_some_days_reaches_the_patient_side_when_they_are_up,
    a_note_with_markup_shows_as_text_and_downloads_as_plain_text,
    every_record_view_is_audited_as_a_read_of_that_patient,
    the_results_filter_checks_dates_and_narrows_the_list,
);
