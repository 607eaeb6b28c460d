//! Issue 20, item 14: a held result must not show through the report that lists it. A report
//! with any held result is held whole, and a panel released in part says that more is pending.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use crate::record::{open, page, random_id, resource_id, sign_in_new_patient};
use portal_app::Actor;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use portal_web::routes::patient_routes;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const PANEL: &str = "Basic metabolic panel";
const CONCLUSION: &str = "Outside the reference range: Glucose 182 mg/dL (high).";
/// The held, abnormal value as every page would write it.
const HELD_VALUE: &str = "182 mg/dL";
const PENDING: &str = "More results from this panel are pending review.";

/// A laboratory result: (sender's id, LOINC code, name, value, unit, low, high, when).
type Lab = (
    &'static str,
    &'static str,
    &'static str,
    f64,
    &'static str,
    f64,
    f64,
    &'static str,
);

const GLUCOSE: Lab = (
    "pia-glucose",
    "2345-7",
    "Glucose",
    182.0,
    "mg/dL",
    70.0,
    99.0,
    "2026-03-10T08:30:00Z",
);
const SODIUM: Lab = (
    "pia-sodium",
    "2951-2",
    "Sodium",
    139.0,
    "mmol/L",
    135.0,
    145.0,
    "2026-03-10T08:30:00Z",
);
/// Last year's glucose, on its own: released, so its page (and its trend) is open to Pia.
const EARLIER_GLUCOSE: Lab = (
    "pia-glucose-2025",
    "2345-7",
    "Glucose",
    94.0,
    "mg/dL",
    70.0,
    99.0,
    "2025-03-12T08:30:00Z",
);

fn urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

fn observation(lab: &Lab, patient: &str, visit: Option<&str>) -> Value {
    let (id, loinc, name, value, unit, low, high, at) = *lab;
    let mut obs = json!({"resourceType": "Observation", "id": id, "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": name}], "text": name},
        "subject": {"reference": patient}, "effectiveDateTime": at,
        "valueQuantity": {"value": value, "unit": unit},
        "referenceRange": [{"low": {"value": low, "unit": unit}, "high": {"value": high, "unit": unit}}]});
    if let Some(visit) = visit {
        obs["encounter"] = json!({"reference": visit});
    }
    obs
}

/// Pia Lund's record: a visit whose metabolic panel (a LAB report with a conclusion) lists a
/// high glucose and a normal sodium, and last year's glucose on its own.
fn bundle() -> Value {
    let (patient, practitioner, visit) = (urn(), urn(), urn());
    let (glucose, sodium) = (urn(), urn());
    let entries = [
        (
            patient.clone(),
            json!({"resourceType": "Patient", "id": "pia-patient",
            "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                            "system": "urn:test:mrn", "value": "TEST-PIA"}],
            "name": [{"use": "official", "family": "Lund", "given": ["Pia"]}],
            "gender": "female", "birthDate": "1975-11-02"}),
        ),
        (
            practitioner.clone(),
            json!({"resourceType": "Practitioner", "id": "pia-practitioner",
            "name": [{"family": "Berg", "given": ["Ines"], "prefix": ["Dr."]}]}),
        ),
        (
            visit.clone(),
            json!({"resourceType": "Encounter", "id": "pia-visit", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "type": [{"text": "Check-up"}], "subject": {"reference": patient},
            "participant": [{"individual": {"reference": practitioner}}],
            "period": {"start": "2026-03-10T08:00:00Z", "end": "2026-03-10T08:40:00Z"}}),
        ),
        (
            glucose.clone(),
            observation(&GLUCOSE, &patient, Some(&visit)),
        ),
        (sodium.clone(), observation(&SODIUM, &patient, Some(&visit))),
        (urn(), observation(&EARLIER_GLUCOSE, &patient, None)),
        (
            urn(),
            json!({"resourceType": "DiagnosticReport", "id": "pia-report", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
            "code": {"text": PANEL}, "subject": {"reference": patient}, "encounter": {"reference": visit},
            "effectiveDateTime": "2026-03-10T08:30:00Z", "issued": "2026-03-10T11:00:00Z",
            "result": [{"reference": glucose}, {"reference": sodium}], "conclusion": CONCLUSION}),
        ),
    ];
    crate::helpers::transaction(entries)
}

async fn import_pia(t: &TestApp) -> PatientId {
    t.app
        .import()
        .import_bundle(&Actor::operator(), bundle().to_string().as_bytes())
        .await
        .expect("Pia's record imports");
    let id: String = sqlx::query_scalar("SELECT id FROM patients WHERE mrn = 'TEST-PIA'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("the imported record");
    id.parse().expect("a patient id")
}

/// Every page of the record as the patient side reaches it: each GET page of the chart, the
/// results list filtered by the panel's and the held test's names, the page of every result
/// and report in the record, and the visit's page. Returns (what, status, HTML).
async fn every_record_page(
    t: &TestApp,
    c: &Client,
    pia: PatientId,
    items: &[&str],
) -> Vec<(String, StatusCode, String)> {
    // Every page of the patient's side (enrolment and the care team are the front desk's).
    let mut paths: Vec<String> = patient_routes()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && !matches!(
                    r.action(),
                    portal_domain::Action::Enrol | portal_domain::Action::ManageCareTeam
                )
        })
        .map(|r| r.path.replace("{id}", &pia.to_string()))
        .collect();
    paths.extend(
        items
            .iter()
            .map(|item| format!("/patients/{pia}/results/{item}")),
    );
    paths.push(format!(
        "/patients/{pia}/visits/{}",
        resource_id(t, "pia-visit").await
    ));
    let mut out = Vec::new();
    for path in paths {
        let (status, html) = page(t, c, &path).await;
        out.push((format!("GET {path}"), status, html));
    }
    let results = format!("/patients/{pia}/results");
    for name in ["metabolic", "glucose", ""] {
        let r = t.post_form(c, &results, &results, &[("name", name)]).await;
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "a filter applied: {name:?}"
        );
        let (status, html) = page(t, c, &location(&r)).await;
        out.push((format!("the results filtered by {name:?}"), status, html));
    }
    out
}

/// Asserts that nothing of the held panel shows: its name, its conclusion, the held value.
fn assert_nothing_of_the_panel(pages: &[(String, StatusCode, String)], phase: &str) {
    for (what, _, html) in pages {
        for secret in [
            HELD_VALUE,
            PANEL,
            "Outside the reference range",
            "Glucose 182",
        ] {
            assert!(
                !html.contains(secret),
                "{phase}: {what} shows {secret:?}: {html}"
            );
        }
    }
}

async fn release(t: &TestApp, clinician: &Client, pia: PatientId, item: &str) {
    let path = format!("/patients/{pia}/results/{item}");
    let r = t
        .post_form(clinician, &path, &format!("{path}/release"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "release {path}");
    assert_eq!(location(&r), path);
}

async fn item_14_held_result_is_not_shown_through_its_report(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = t.sign_in(Role::Admin).await;
    let rules = "/admin/results-release";
    let fields = [("category", "laboratory"), ("days", "")];
    let r = t.post_form(&admin, rules, rules, &fields).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "hold laboratory results");
    let pia = import_pia(&t).await;
    t.app
        .link_demo_records(&mut t.demo, &[], &[pia])
        .await
        .expect("Dr. Okafor joins Pia's care team");
    let report = resource_id(&t, "pia-report").await;
    let glucose = resource_id(&t, "pia-glucose").await;
    let sodium = resource_id(&t, "pia-sodium").await;
    let earlier = resource_id(&t, "pia-glucose-2025").await;
    let items = [
        report.as_str(),
        glucose.as_str(),
        sodium.as_str(),
        earlier.as_str(),
    ];

    // The clinician sees the whole panel, marked held, and releases last year's glucose.
    let clinician = t.sign_in(Role::Clinician).await;
    let results = format!("/patients/{pia}/results");
    let list = open(&t, &clinician, &results).await;
    let panel_line = list
        .split("<li")
        .find(|line| line.contains(PANEL))
        .unwrap_or_else(|| panic!("the clinician's list shows the panel: {list}"));
    assert!(
        panel_line.contains("Held: not yet visible to the patient"),
        "{panel_line}"
    );
    let html = open(&t, &clinician, &format!("{results}/{report}")).await;
    assert!(
        html.contains(CONCLUSION) && html.contains(HELD_VALUE),
        "{html}"
    );
    assert!(
        html.contains("This report is held: the patient cannot see it or its results yet."),
        "{html}"
    );
    release(&t, &clinician, pia, &earlier).await;

    // All of the panel is held: nothing of it shows to Pia anywhere.
    let c = sign_in_new_patient(&t, pia, "1975-11-02", "pia@example.org").await;
    let home = open(&t, &c, &format!("/patients/{pia}")).await;
    assert!(
        home.contains("1 new test result</a>"),
        "only last year's glucose is new: {home}"
    );
    let (status, missing) = page(&t, &c, &format!("{results}/{}", random_id())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let pages = every_record_page(&t, &c, pia, &items).await;
    assert_nothing_of_the_panel(&pages, "all held");
    for (what, status, html) in &pages {
        let held_item = [&report, &glucose, &sodium]
            .iter()
            .any(|id| what.ends_with(id.as_str()));
        if held_item {
            assert_eq!(*status, StatusCode::NOT_FOUND, "{what}");
            assert_eq!(html, &missing, "{what} answers like a missing result");
        } else {
            assert_eq!(*status, StatusCode::OK, "{what}");
        }
        assert!(!html.contains(PENDING), "all held: {what}");
    }
    let html = open(&t, &c, &format!("{results}/{earlier}")).await;
    assert!(
        html.contains("94 mg/dL"),
        "last year's glucose is there: {html}"
    );

    // Sodium released, glucose still held: sodium shows, saying the rest is pending.
    release(&t, &clinician, pia, &sodium).await;
    let home = open(&t, &c, &format!("/patients/{pia}")).await;
    assert!(
        home.contains("1 new test result</a>"),
        "the released sodium is new: {home}"
    );
    let pages = every_record_page(&t, &c, pia, &items).await;
    assert_nothing_of_the_panel(&pages, "part released");
    for (what, status, _) in &pages {
        let held_item = [&report, &glucose]
            .iter()
            .any(|id| what.ends_with(id.as_str()));
        let expected = if held_item {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
        assert_eq!(*status, expected, "part released: {what}");
    }
    let list = open(&t, &c, &results).await;
    let sodium_line = list
        .split("<li")
        .find(|line| line.contains(">Sodium</a>"))
        .unwrap_or_else(|| panic!("the released sodium is listed: {list}"));
    assert!(sodium_line.contains(PENDING), "{sodium_line}");
    let html = open(&t, &c, &format!("{results}/{sodium}")).await;
    assert!(
        html.contains("139 mmol/L") && html.contains(PENDING),
        "{html}"
    );
    // Opened a second time: the first opening's read marker stands; no second one is added.
    let read_at = || async {
        sqlx::query_scalar::<_, i64>("SELECT read_at FROM result_reads WHERE resource_id = $1")
            .bind(&sodium)
            .fetch_one(t.app.store().pool())
            .await
            .expect("the sodium is marked read")
    };
    let (markers, first) = (t.count("result_reads").await, read_at().await);
    open(&t, &c, &format!("{results}/{sodium}")).await;
    assert_eq!(
        (t.count("result_reads").await, read_at().await),
        (markers, first)
    );
    let visit = resource_id(&t, "pia-visit").await;
    let html = open(&t, &c, &format!("/patients/{pia}/visits/{visit}")).await;
    assert!(html.contains("Sodium") && html.contains(PENDING), "{html}");

    // The last held result released, and the report (held with its results: a hold on
    // laboratory results holds the LAB report that lists them): the whole panel shows, with
    // nothing pending.
    release(&t, &clinician, pia, &glucose).await;
    release(&t, &clinician, pia, &report).await;
    let home = open(&t, &c, &format!("/patients/{pia}")).await;
    assert!(
        home.contains("1 new test result</a>"),
        "the panel is new: {home}"
    );
    let list = open(&t, &c, &results).await;
    assert!(
        list.contains(&format!("{results}/{report}\">{PANEL}</a>")),
        "{list}"
    );
    assert!(
        list.contains("2 results") && list.contains("High"),
        "{list}"
    );
    let html = open(&t, &c, &format!("{results}/{report}")).await;
    assert!(html.contains(CONCLUSION), "{html}");
    assert!(
        html.contains(HELD_VALUE) && html.contains("139 mmol/L"),
        "{html}"
    );
    for (what, status, html) in every_record_page(&t, &c, pia, &items).await {
        assert_eq!(status, StatusCode::OK, "all released: {what}");
        assert!(!html.contains(PENDING), "all released: {what}");
    }
    t.stop().await;
}

both_backends!(item_14_held_result_is_not_shown_through_its_report);
