//! FHIR import: every fixture imports with the right counts on both backends, re-import changes
//! nothing, an edited resource updates, and every kind of bad Bundle is refused with a message
//! naming where, leaving the database exactly as it was.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::helpers::{fixture_dir, fixture_files};
use portal_app::Actor;
use portal_store::Backend;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Distinct resources per type, counted from the raw JSON: a resource sent again with the same
/// type and id (or the same conditional-create identifier) is the same resource.
fn expected_counts(files: &[PathBuf]) -> BTreeMap<String, i64> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for file in files {
        let bundle: Value =
            serde_json::from_slice(&std::fs::read(file).expect("read")).expect("json");
        for entry in bundle["entry"].as_array().expect("entries") {
            let resource = &entry["resource"];
            let t = resource["resourceType"].as_str().expect("type").to_string();
            let key = entry["request"]["ifNoneExist"]
                .as_str()
                .map(str::to_string)
                .or_else(|| resource["id"].as_str().map(str::to_string))
                .or_else(|| entry["fullUrl"].as_str().map(str::to_string))
                .expect("some key");
            seen.insert((t, key));
        }
    }
    let mut counts = BTreeMap::new();
    for (t, _) in seen {
        *counts.entry(t).or_insert(0) += 1;
    }
    counts
}

async fn stored_counts(t: &TestApp) -> BTreeMap<String, i64> {
    let rows = sqlx::query(
        "SELECT resource_type, COUNT(*) AS n FROM fhir_resources GROUP BY resource_type",
    )
    .fetch_all(t.app.store().pool())
    .await
    .expect("counts");
    rows.iter()
        .map(|r| {
            (
                r.try_get("resource_type").expect("t"),
                r.try_get("n").expect("n"),
            )
        })
        .collect()
}

/// Row counts of every table the import writes, and a checksum of the stored resources.
async fn fingerprint(t: &TestApp) -> (Vec<i64>, String) {
    let mut counts = Vec::new();
    for table in [
        "patients",
        "fhir_resources",
        "fhir_identifiers",
        "clinical_items",
        "audit_events",
    ] {
        counts.push(t.count(table).await);
    }
    let rows =
        sqlx::query("SELECT id, content_hash, version, json FROM fhir_resources ORDER BY id")
            .fetch_all(t.app.store().pool())
            .await
            .expect("rows");
    let mut hasher = Sha256::new();
    for r in rows {
        for col in ["id", "content_hash"] {
            hasher.update(r.try_get::<String, _>(col).expect("col").as_bytes());
        }
        let json = portal_store::packed::unpack(&r.try_get::<Vec<u8>, _>("json").expect("json"));
        hasher.update(json.expect("unpacks").as_bytes());
        hasher.update(
            r.try_get::<i64, _>("version")
                .expect("version")
                .to_be_bytes(),
        );
    }
    (counts, format!("{:x}", hasher.finalize()))
}

async fn import_all(t: &TestApp, files: &[PathBuf]) -> portal_app::import::ImportSummary {
    let mut total = portal_app::import::ImportSummary::default();
    for file in files {
        let bytes = std::fs::read(file).expect("read");
        let summary = t
            .app
            .import()
            .import_bundle(&Actor::operator(), bytes.as_slice())
            .await
            .unwrap_or_else(|e| panic!("{} was refused: {e}", file.display()));
        total.add(&summary);
    }
    total
}

async fn every_fixture_imports_with_counts_matching_the_json(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let files = fixture_files();
    let summary = import_all(&t, &files).await;
    assert_eq!(stored_counts(&t).await, expected_counts(&files));
    let read: u64 = files
        .iter()
        .map(|f| {
            let b: Value = serde_json::from_slice(&std::fs::read(f).expect("read")).expect("json");
            b["entry"].as_array().expect("entries").len() as u64
        })
        .sum();
    assert_eq!(summary.total(), read, "every entry is counted as read");
    // Claims and the like are kept, not dropped.
    assert!(stored_counts(&t).await.get("Claim").copied().unwrap_or(0) > 0);
    // Every patient bundle created a patient record with its MRN.
    let patients: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM patients WHERE resource_id IS NOT NULL")
            .fetch_one(t.app.store().pool())
            .await
            .expect("patients");
    assert_eq!(patients, expected_counts(&files)["Patient"]);
    t.stop().await;
}

async fn importing_the_same_bundles_again_changes_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let files = fixture_files();
    import_all(&t, &files).await;
    let before = fingerprint(&t).await;
    let again = import_all(&t, &files).await;
    assert_eq!(fingerprint(&t).await, before);
    for (resource_type, c) in &again.per_type {
        assert_eq!(
            (c.created, c.updated),
            (0, 0),
            "{resource_type} changed on re-import"
        );
    }
    t.stop().await;
}

fn small_patient() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea/lucien-bosco.json");
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

async fn an_edited_resource_updates_the_record(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let mut bundle = small_patient();
    t.app
        .import()
        .import_bundle(&Actor::operator(), bundle.to_string().as_bytes())
        .await
        .expect("first import");
    let entry = bundle["entry"]
        .as_array_mut()
        .expect("entries")
        .iter_mut()
        .find(|e| {
            e["resource"]["resourceType"] == "Observation"
                && e["resource"]["valueQuantity"].is_object()
        })
        .expect("an observation with a quantity");
    entry["resource"]["valueQuantity"]["value"] = json!(123.5);
    let id = entry["resource"]["id"].as_str().expect("id").to_string();
    let summary = t
        .app
        .import()
        .import_bundle(&Actor::operator(), bundle.to_string().as_bytes())
        .await
        .expect("second import");
    let obs = summary.per_type["Observation"];
    assert_eq!((obs.created, obs.updated), (0, 1));
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT json FROM fhir_resources WHERE resource_type = 'Observation' AND source_id = $1",
    )
    .bind(&id)
    .fetch_one(t.app.store().pool())
    .await
    .expect("stored");
    let stored = portal_store::packed::unpack(&stored).expect("unpacks");
    let stored: Value = serde_json::from_str(&stored).expect("json");
    assert_eq!(stored["valueQuantity"]["value"], json!(123.5));
    t.stop().await;
}

async fn kept_json_comes_back_unchanged(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let bundle = small_patient();
    t.app
        .import()
        .import_bundle(&Actor::operator(), bundle.to_string().as_bytes())
        .await
        .expect("import");
    for entry in bundle["entry"].as_array().expect("entries") {
        let resource = &entry["resource"];
        let stored: Vec<u8> = sqlx::query_scalar(
            "SELECT json FROM fhir_resources WHERE resource_type = $1 AND source_id = $2",
        )
        .bind(resource["resourceType"].as_str().expect("type"))
        .bind(resource["id"].as_str().expect("id"))
        .fetch_one(t.app.store().pool())
        .await
        .expect("stored");
        let stored = portal_store::packed::unpack(&stored).expect("unpacks");
        let stored: Value = serde_json::from_str(&stored).expect("json");
        assert_eq!(&stored, resource);
    }
    t.stop().await;
}

fn bad_bundles() -> Vec<(&'static str, String, &'static [&'static str])> {
    let good = small_patient();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = good.clone();
        f(&mut b);
        b.to_string()
    };
    let first = |b: &mut Value, t: &str| -> usize {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .position(|e| e["resource"]["resourceType"] == t)
            .expect("resource of type")
    };
    vec![
        (
            "not JSON",
            "{\"resourceType\": \"Bundle\", ".to_string(),
            &["JSON"],
        ),
        (
            "not FHIR",
            "{\"hello\": \"world\"}".to_string(),
            &["resourceType"],
        ),
        (
            "wrong resourceType",
            json!({"resourceType": "Patient", "id": "x"}).to_string(),
            &["Bundle"],
        ),
        (
            "missing required element",
            with(&|b| {
                let i = first(b, "Observation");
                b["entry"][i]["resource"]
                    .as_object_mut()
                    .expect("obj")
                    .remove("status");
            }),
            &["entry", "Observation", "Observation.status"],
        ),
        (
            "broken reference",
            with(&|b| {
                let i = first(b, "Observation");
                b["entry"][i]["resource"]["subject"] =
                    json!({"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"});
            }),
            &["entry", "Observation", "Observation.subject"],
        ),
        (
            "wrong value type",
            with(&|b| {
                let i = first(b, "Observation");
                b["entry"][i]["resource"]["status"] = json!(5);
            }),
            &["entry", "Observation", "Observation.status"],
        ),
        (
            "a date that is not a date",
            with(&|b| {
                let i = first(b, "Patient");
                b["entry"][i]["resource"]["birthDate"] = json!("1950-02-30");
            }),
            &["entry", "Patient", "Patient.birthDate"],
        ),
    ]
}

async fn bad_bundles_are_refused_and_change_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // Something already there, so "unchanged" is about more than an empty database.
    let conchita = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea");
    import_all(&t, &[conchita.join("00-organizations-ma-2025.json")]).await;
    let before = fingerprint(&t).await;
    for (case, body, words) in bad_bundles() {
        let err = t
            .app
            .import()
            .import_bundle(&Actor::operator(), body.as_bytes())
            .await
            .expect_err(case);
        let message = err.to_string();
        for word in words {
            assert!(
                message.contains(word),
                "{case}: {message:?} should name {word:?}"
            );
        }
        assert_eq!(fingerprint(&t).await, before, "{case} changed the database");
    }
    t.stop().await;
}

async fn the_import_command_reports_per_file_and_fails_on_a_bad_one(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("bad.json"), "{\"resourceType\": \"Bundle\", \"type\": \"transaction\", \"entry\": [{\"resource\": {\"resourceType\": \"Nonsense\"}}]}").expect("write");
    let output = import_command(
        &t,
        &[
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/synthea/lucien-bosco.json"),
            dir.path().join("bad.json"),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("lucien-bosco.json:"), "{stdout}");
    assert!(stdout.contains("Observation"), "{stdout}");
    assert!(stdout.contains("bad.json: REJECTED"), "{stdout}");
    assert!(stdout.contains("Nonsense"), "{stdout}");
    t.stop().await;
}

/// `portal import` of a folder: on PostgreSQL several files are written side by side, yet each
/// patient's file finds the practitioners and organizations of the files before it (its
/// conditional references would refuse it otherwise), and the shared ones are stored once.
async fn the_import_command_writes_a_folder_as_if_in_name_order(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let files = fixture_files();
    let output = import_command(&t, &[fixture_dir()]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("REJECTED"), "{stdout}");
    // Summaries in name order.
    let printed: Vec<usize> = files
        .iter()
        .map(|f| {
            let name = f.file_name().and_then(|n| n.to_str()).expect("name");
            stdout.find(name).expect("every file is reported")
        })
        .collect();
    assert!(printed.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    assert_eq!(stored_counts(&t).await, expected_counts(&files));
    // Importing the folder again changes nothing.
    let before = fingerprint(&t).await;
    let again = import_command(&t, &[fixture_dir()]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(fingerprint(&t).await, before);
    t.stop().await;
}

/// `portal import` writes files in groups, one transaction a group: a file that fails after
/// parts of it were written (an NDJSON line late in the file) leaves nothing, and the files
/// before and after it in the same group are stored whole; the audit trail stays intact.
async fn a_file_that_fails_midway_leaves_the_rest_of_its_group_stored(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea");
    let good = [
        fixtures.join("00-organizations-ma-2025.json"),
        fixtures.join("00-practitioners-ma-2025.json"),
        fixtures.join("lucien-bosco.json"),
        fixtures.join("sandee-lesch.json"),
    ];
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("late-bad-line.ndjson");
    std::fs::write(&bad, ndjson_patient_and_observations(4_500, Some(4_400))).expect("write");
    let mut files = good[..3].to_vec();
    files.push(bad);
    files.push(good[3].clone());
    let output = import_command(&t, &files).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("late-bad-line.ndjson: REJECTED, nothing imported"),
        "{stdout}"
    );
    assert!(stdout.contains("line 4400"), "{stdout}");
    assert_eq!(stdout.matches("REJECTED").count(), 1, "{stdout}");
    assert!(stdout.contains("sandee-lesch.json: "), "{stdout}");
    assert_eq!(stored_counts(&t).await, expected_counts(&good));
    let streamed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM patients WHERE family_name = 'Stream'")
            .fetch_one(t.app.store().pool())
            .await
            .expect("count");
    assert_eq!(streamed, 0, "nothing of the failed file is stored");
    let (code, verified) = crate::audit::run_verify(&t).await;
    assert_eq!(code, 0, "{verified}");
    t.stop().await;
}

/// Runs `portal import FILES…` as its own process on the test's database and data directory.
pub async fn import_command(t: &TestApp, files: &[PathBuf]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .arg("--data-dir")
        .arg(t.data_dir.path())
        .arg("--database")
        .arg(database_url(t).await)
        .arg("import")
        .args(files)
        .output()
        .expect("run portal import")
}

/// The test database's URL, read back from the database itself.
pub async fn database_url(t: &TestApp) -> String {
    match t.app.store().backend() {
        Backend::Sqlite => {
            let file: String =
                sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(t.app.store().pool())
                    .await
                    .expect("file");
            format!("sqlite://{file}")
        }
        Backend::Postgres => {
            let name: String = sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(t.app.store().pool())
                .await
                .expect("name");
            let base = portal_store::testdb::postgres_url().expect("postgres url");
            let base = base
                .rsplit_once('/')
                .map_or(base.as_str(), |(b, _)| b)
                .to_string();
            format!("{base}/{name}")
        }
    }
}

both_backends!(
    every_fixture_imports_with_counts_matching_the_json,
    importing_the_same_bundles_again_changes_nothing,
    an_edited_resource_updates_the_record,
    kept_json_comes_back_unchanged,
    bad_bundles_are_refused_and_change_nothing,
    the_import_command_writes_a_folder_as_if_in_name_order,
    the_import_command_reports_per_file_and_fails_on_a_bad_one,
    a_file_that_fails_midway_leaves_the_rest_of_its_group_stored,
);

fn ndjson_patient_and_observations(n: usize, bad_line: Option<usize>) -> String {
    let mut lines = vec![
        json!({"resourceType": "Patient", "id": "nd-1", "birthDate": "1970-01-02",
               "name": [{"family": "Stream", "given": ["Nora"]}], "gender": "female"})
        .to_string(),
    ];
    for i in 0..n {
        let date = if bad_line == Some(i + 2) {
            "2020-13-45".to_string()
        } else {
            format!("2020-01-{:02}", i % 28 + 1)
        };
        lines.push(
            json!({"resourceType": "Observation", "id": format!("nd-obs-{i}"), "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
                   "subject": {"reference": "Patient/nd-1"}, "effectiveDateTime": date,
                   "valueQuantity": {"value": 90 + (i % 40), "unit": "mg/dL"}})
            .to_string(),
        );
    }
    lines.join("\n") + "\n"
}

async fn ndjson_streams_across_chunks_and_lands_whole(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let text = ndjson_patient_and_observations(4_500, None);
    let summary = t
        .app
        .import()
        .import_ndjson_stream(&Actor::operator(), std::io::Cursor::new(text.into_bytes()))
        .await
        .expect("import");
    assert_eq!(summary.per_type["Observation"].created, 4_500);
    assert_eq!(summary.per_type["Patient"].created, 1);
    // Observations of later chunks point at the patient of the first.
    let linked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM clinical_items c JOIN patients p ON p.id = c.patient_id \
         WHERE p.family_name = 'Stream' AND c.kind = 'observation'",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("count");
    assert_eq!(linked, 4_500);
    t.stop().await;
}

async fn a_bad_ndjson_line_late_in_the_file_changes_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let before = fingerprint(&t).await;
    // The bad line sits in a late part: earlier parts were already written in the transaction.
    let text = ndjson_patient_and_observations(4_500, Some(4_400));
    let err = t
        .app
        .import()
        .import_ndjson_stream(&Actor::operator(), std::io::Cursor::new(text.into_bytes()))
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(message.contains("line 4400"), "{message}");
    assert!(
        message.contains("Observation.effectiveDateTime"),
        "{message}"
    );
    assert_eq!(fingerprint(&t).await, before, "nothing was written");
    t.stop().await;
}

both_backends!(
    ndjson_streams_across_chunks_and_lands_whole,
    a_bad_ndjson_line_late_in_the_file_changes_nothing,
);

/// A transaction Bundle of `observations` laboratory results, far more than one part of an
/// import (1,000 entries), laid out so references cross parts both ways: a report first that
/// lists two results of a later part, a report near the end that lists two of an earlier part,
/// and the visit and the Patient last. `bad` puts an invalid date in that result.
fn bundle_of_many_parts(observations: usize, bad: Option<usize>) -> Value {
    let urn = |name: String| format!("urn:uuid:parts-{name}");
    let patient = urn("patient".into());
    let visit = urn("visit".into());
    let result = |i: usize| urn(format!("obs-{i}"));
    let report = |id: &str, members: [usize; 2]| {
        json!({"resourceType": "DiagnosticReport", "id": id, "status": "final",
               "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "PAT"}]}],
               "code": {"text": "Panel"}, "subject": {"reference": patient},
               "effectiveDateTime": "2026-01-05T08:00:00Z",
               "result": members.map(|i| json!({"reference": result(i)}))})
    };
    let mut entries = vec![(
        urn("early-report".into()),
        report("early-report", [1_500, 1_501]),
    )];
    for i in 0..observations {
        let date = if bad == Some(i) {
            "2026-13-45".to_string()
        } else {
            format!("2026-01-{:02}T08:00:00Z", i % 28 + 1)
        };
        entries.push((
            result(i),
            json!({"resourceType": "Observation", "status": "final",
                   "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
                   "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
                   "subject": {"reference": patient}, "encounter": {"reference": visit},
                   "effectiveDateTime": date, "valueQuantity": {"value": 90 + i % 40, "unit": "mg/dL"}}),
        ));
    }
    entries.push((urn("late-report".into()), report("late-report", [10, 11])));
    entries.push((
        visit.clone(),
        json!({"resourceType": "Encounter", "status": "finished",
               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
               "subject": {"reference": patient},
               "period": {"start": "2026-01-05T07:50:00Z"}}),
    ));
    entries.push((
        patient.clone(),
        json!({"resourceType": "Patient", "identifier": [{"system": "urn:test:mrn", "value": "PARTS-1"}],
               "name": [{"family": "Parts", "given": ["Paula"]}], "gender": "female", "birthDate": "1980-02-03"}),
    ));
    crate::helpers::transaction(entries)
}

/// A Bundle is written a part at a time, in one transaction: references cross parts forwards
/// and backwards, a report holds the results it lists whichever part they are in, and a bad
/// entry in the last part leaves nothing behind.
async fn a_bundle_of_many_parts_is_written_as_one(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // Reports (category PAT, pathology) are held for 5 days; their results (laboratory) are not.
    sqlx::query(
        "INSERT INTO result_holds (category, days, updated_at, updated_by) \
         VALUES ('PAT', 5, 0, 'test')",
    )
    .execute(t.app.store().pool())
    .await
    .expect("hold");
    let before = fingerprint(&t).await;
    let bad = bundle_of_many_parts(2_400, Some(2_390)).to_string();
    let error = t
        .app
        .import()
        .import_bundle(&Actor::operator(), bad.as_bytes())
        .await
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("entry 2391") && error.contains("Observation.effectiveDateTime"),
        "{error}"
    );
    assert_eq!(fingerprint(&t).await, before, "nothing was written");

    let summary = t
        .app
        .import()
        .import_bundle(
            &Actor::operator(),
            bundle_of_many_parts(2_400, None).to_string().as_bytes(),
        )
        .await
        .expect("import");
    assert_eq!(summary.per_type["Observation"].created, 2_400);
    assert_eq!(summary.entries.len(), 2_404);
    assert!(
        summary
            .entries
            .iter()
            .enumerate()
            .all(|(i, e)| e.index == i),
        "outcomes in entry order"
    );
    let pool = t.app.store().pool();
    // Every result found the Patient and the visit, both written after them in the Bundle.
    let (results, with_visit): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(c.encounter_id) FROM clinical_items c \
         JOIN patients p ON p.id = c.patient_id \
         WHERE p.family_name = 'Parts' AND c.kind = 'observation'",
    )
    .fetch_one(pool)
    .await
    .expect("count");
    assert_eq!((results, with_visit), (2_400, 2_400));
    // The four listed results are held with their reports: the early report's from a later
    // part, the late report's from an earlier one. The others are out at once.
    let now = portal_store::to_micros(t.app.now());
    let held_until = now + 5 * 86_400_000_000;
    let rows: Vec<(Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT report_id, released_at FROM clinical_items WHERE kind = 'observation'",
    )
    .fetch_all(pool)
    .await
    .expect("rows");
    let reports: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "SELECT source_id, id FROM fhir_resources WHERE resource_type = 'DiagnosticReport'",
    )
    .fetch_all(pool)
    .await
    .expect("reports")
    .into_iter()
    .collect();
    let mut listed = 0;
    for (report_id, released_at) in rows {
        match report_id {
            Some(report) => {
                listed += 1;
                assert!(
                    report == reports["early-report"] || report == reports["late-report"],
                    "{report}"
                );
                assert_eq!(released_at, Some(held_until), "held with its report");
            }
            None => assert_eq!(released_at, Some(now), "not listed: released at once"),
        }
    }
    assert_eq!(listed, 4);
    t.stop().await;
}

both_backends!(a_bundle_of_many_parts_is_written_as_one);

/// The same Bundle sent three times at once (an EHR retrying too early) is applied once: the
/// other two wait, then find every resource stored and unchanged. None fails on a unique key.
async fn the_same_bundle_three_times_at_once_lands_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea");
    let operator = Actor::operator();
    // The practitioners and organizations the patient's Bundle points at.
    for directory in [
        "00-organizations-ma-2025.json",
        "00-practitioners-ma-2025.json",
    ] {
        let bytes = std::fs::read(repo.join(directory)).expect("read");
        t.app
            .import()
            .import_bundle(&operator, bytes)
            .await
            .expect("directory");
    }
    let bundle = std::fs::read(repo.join("conchita-ramon.json")).expect("read");
    let before = t.count("patients").await;
    let import = t.app.import();
    let send = || import.import_bundle(&operator, bundle.as_slice());
    let (a, b, c) = tokio::join!(send(), send(), send());
    let mut created = Vec::new();
    for outcome in [a, b, c] {
        let summary = outcome.expect("every copy is accepted");
        let all: u64 = summary.per_type.values().map(|c| c.created).sum();
        let unchanged: u64 = summary.per_type.values().map(|c| c.unchanged).sum();
        assert!(all == 0 || unchanged == 0, "all new or all unchanged");
        created.push(all);
    }
    created.sort();
    assert!(
        created[0] == 0 && created[1] == 0 && created[2] > 0,
        "created once, then unchanged: {created:?}"
    );
    assert_eq!(t.count("patients").await, before + 1);
    t.stop().await;
}

both_backends!(the_same_bundle_three_times_at_once_lands_once);

/// `portal invite --patient` takes what the clinic knows: the portal's record id, the medical
/// record number, or the id the EHR gave its Patient resource; each names the same record.
async fn an_activation_code_is_issued_by_record_id_mrn_or_ehr_id(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let lucien = crate::fhir_read::import(&t, "lucien-bosco.json").await;
    let mrn: String = sqlx::query_scalar("SELECT mrn FROM patients WHERE id = $1")
        .bind(&lucien)
        .fetch_one(t.app.store().pool())
        .await
        .expect("the record");
    let accounts = t.app.accounts();
    for reference in [lucien.as_str(), mrn.as_str(), "85", " 85 "] {
        let invitation = accounts
            .invite_by_reference(&Actor::operator(), reference)
            .await
            .unwrap_or_else(|e| panic!("{reference}: {e}"));
        assert_eq!(invitation.patient.id.to_string(), lucien, "{reference}");
    }
    for unknown in ["", "86", "no such record"] {
        assert!(matches!(
            accounts
                .invite_by_reference(&Actor::operator(), unknown)
                .await,
            Err(portal_app::Error::NotFound)
        ));
    }
    t.stop().await;
}

both_backends!(an_activation_code_is_issued_by_record_id_mrn_or_ehr_id);
