//! Issue 23: record pages are kept in memory between views (crates/app/src/record/cache.rs).
//! Whatever changes what a page shows must show on the next view: results imported by another
//! process, a result opened, a hold set by an admin, a result released; and every view, kept or
//! not, is still audited.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::record::{open, resource_id, sign_in_new_patient};
use portal_app::Actor;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIRTH: &str = "1968-04-21";

fn urn() -> String {
    format!("urn:uuid:{}", uuid::Uuid::new_v4())
}

/// Ada Kemp's record with these laboratory results: (sender's id, LOINC code, name, value).
fn bundle(labs: &[(&str, &str, &str, f64)]) -> Value {
    let patient = urn();
    let mut entries = vec![(
        patient.clone(),
        json!({"resourceType": "Patient", "id": "ada-kemp",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                        "system": "urn:test:mrn", "value": "TEST-ADA"}],
        "name": [{"use": "official", "family": "Kemp", "given": ["Ada"]}],
        "gender": "female", "birthDate": BIRTH}),
    )];
    for (id, loinc, name, value) in labs {
        entries.push((
            urn(),
            json!({"resourceType": "Observation", "id": id, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": name}], "text": name},
            "subject": {"reference": patient}, "effectiveDateTime": "2026-02-03T09:00:00Z",
            "valueQuantity": {"value": value, "unit": "mmol/L"}}),
        ));
    }
    crate::helpers::transaction(entries)
}

const GLUCOSE: (&str, &str, &str, f64) = ("ada-glucose", "2339-0", "Glucose", 5.4);
const POTASSIUM: (&str, &str, &str, f64) = ("ada-potassium", "2823-3", "Potassium", 4.1);

async fn ada(t: &TestApp) -> PatientId {
    t.app
        .import()
        .import_bundle(
            &Actor::operator(),
            bundle(&[GLUCOSE]).to_string().as_bytes(),
        )
        .await
        .expect("Ada's record imports");
    let id: String = sqlx::query_scalar("SELECT id FROM patients WHERE mrn = 'TEST-ADA'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("the imported record");
    id.parse().expect("a patient id")
}

/// How many views of Ada's results list the audit trail holds.
async fn list_views(t: &TestApp, ada: PatientId) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE patient_id = $1 AND resource_type = 'ResultList' \
         AND outcome = 'success'",
    )
    .bind(ada.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
}

async fn kept_pages_show_every_change_on_the_next_view(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = ada(&t).await;
    let c = sign_in_new_patient(&t, ada, BIRTH, "ada.kemp@example.org").await;
    let (home, results) = (
        format!("/patients/{ada}"),
        format!("/patients/{ada}/results"),
    );

    // Seen twice, the second time from memory: the same page, each view audited.
    let first = open(&t, &c, &results).await;
    assert!(first.contains("Glucose"), "{first}");
    assert!(!first.contains("Potassium"), "{first}");
    assert_eq!(open(&t, &c, &results).await, first);
    assert_eq!(list_views(&t, ada).await, 2, "every view is audited");
    assert!(open(&t, &c, &home).await.contains("1 new test result"));

    // Another process (the import command) adds a result: the next view shows it.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ada.json");
    std::fs::write(&file, bundle(&[GLUCOSE, POTASSIUM]).to_string()).expect("write");
    let output = crate::import::import_command(&t, &[file]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let after_import = open(&t, &c, &results).await;
    assert!(after_import.contains("Potassium"), "{after_import}");
    assert!(open(&t, &c, &home).await.contains("2 new test results"));

    // Opening a result marks it read: the list and the home page say so at once.
    let potassium = resource_id(&t, "ada-potassium").await;
    let page = open(&t, &c, &format!("{results}/{potassium}")).await;
    assert!(page.contains("4.1"), "{page}");
    assert!(open(&t, &c, &home).await.contains("1 new test result"));
    assert_ne!(open(&t, &c, &results).await, after_import);

    // An admin holds laboratory results until released: the unopened glucose goes from the
    // kept pages of Ada's at once.
    let glucose = resource_id(&t, "ada-glucose").await;
    let glucose_page = format!("{results}/{glucose}");
    let admin = t.sign_in(Role::Admin).await;
    let rules = "/admin/results-release";
    let r = t
        .post_form(
            &admin,
            rules,
            rules,
            &[("category", "laboratory"), ("days", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "hold laboratory results");
    let held = open(&t, &c, &results).await;
    assert!(held.contains("Potassium"), "opened before the hold: {held}");
    assert!(!held.contains("Glucose"), "held: {held}");
    assert_eq!(
        t.get(&c, &glucose_page).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(!open(&t, &c, &home).await.contains("new test result"));

    // Released by a clinician on her care team: back on the next view. Ada's access log, kept
    // from a view before, shows the clinician's views on the next.
    let log = format!("/patients/{ada}/access-log");
    assert!(!open(&t, &c, &log).await.contains("Okafor"));
    t.app
        .link_demo_records(&mut t.demo, &[], &[ada])
        .await
        .expect("Dr. Okafor joins Ada's care team");
    let clinician = t.sign_in(Role::Clinician).await;
    open(&t, &clinician, &results).await;
    let seen = open(&t, &c, &log).await;
    assert!(seen.contains("Dr. Maya Okafor"), "{seen}");
    // Each time says its zone once (it was written twice: "8:45 AM UTC UTC").
    assert!(!seen.contains("UTC UTC"), "{seen}");
    let r = t
        .post_form(
            &clinician,
            &glucose_page,
            &format!("{glucose_page}/release"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "release the glucose");
    assert!(open(&t, &c, &results).await.contains("Glucose"));
    assert!(open(&t, &c, &home).await.contains("1 new test result"));
    t.stop().await;
}

both_backends!(kept_pages_show_every_change_on_the_next_view);

/// Views of the access log at once: each page shows its own view, however many of the others
/// the page cache's kept tail of the log already held (a kept tail serves only the views whose
/// event it holds).
async fn access_log_views_at_once_each_show_their_own(backend: Backend) {
    const VIEWS: usize = 24;
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = ada(&t).await;
    let c = sign_in_new_patient(&t, ada, BIRTH, "ada.kemp@example.org").await;
    let log = format!("/patients/{ada}/access-log");
    let views_shown = |html: String| html.matches("this access history").count();
    // The page's own words may say it too: the first view shows one view of the log.
    let words = views_shown(open(&t, &c, &log).await) - 1;
    let t = std::sync::Arc::new(t);
    let views: Vec<_> = (0..VIEWS)
        .map(|_| {
            let (t, c, log) = (t.clone(), c.clone(), log.clone());
            tokio::spawn(async move { views_shown(open(&t, &c, &log).await) - words })
        })
        .collect();
    let mut shown = Vec::new();
    for view in views {
        shown.push(view.await.expect("joined"));
    }
    // The view that took the i-th place in the audit trail shows at least the first view and
    // these i: so the pages, fewest first, show at least 2, 3, 4, ...
    shown.sort_unstable();
    for (i, n) in shown.iter().enumerate() {
        assert!(*n >= i + 2, "pages showed {shown:?} views of the log");
    }
    assert_eq!(
        views_shown(open(&t, &c, &log).await) - words,
        VIEWS + 2,
        "the next view shows every one"
    );
    if let Ok(t) = std::sync::Arc::try_unwrap(t) {
        t.stop().await;
    }
}

both_backends!(access_log_views_at_once_each_show_their_own);

/// Views of the access log alternated between two portal processes on one database: each page
/// shows every view before its own, whichever process recorded it (a process that takes new
/// entries from what its own audit writer committed must notice the other's between them).
async fn access_log_views_through_two_processes_each_show_every_earlier_view(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let ada = ada(&t).await;
    let c = sign_in_new_patient(&t, ada, BIRTH, "ada.kemp@example.org").await;
    let child = crate::helpers::ChildPortal::serve(&t, &[]).await;
    let log = format!("/patients/{ada}/access-log");
    let views_shown = |html: String| html.matches("this access history").count();
    let words = views_shown(open(&t, &c, &log).await) - 1;
    let mut views = 1;
    for round in 0..6 {
        // Some views through the other process, then one or two through this one.
        for _ in 0..(round % 3) {
            let r = c
                .get(format!("{}{log}", child.url))
                .send()
                .await
                .expect("the other process answers");
            assert_eq!(r.status(), StatusCode::OK);
            views += 1;
            assert_eq!(
                views_shown(r.text().await.expect("body")) - words,
                views,
                "the other process's page, round {round}"
            );
        }
        for _ in 0..(1 + round % 2) {
            views += 1;
            assert_eq!(
                views_shown(open(&t, &c, &log).await) - words,
                views,
                "this process's page, round {round}"
            );
        }
    }
    drop(child);
    t.stop().await;
}

both_backends!(access_log_views_through_two_processes_each_show_every_earlier_view);
