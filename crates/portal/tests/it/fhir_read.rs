//! The FHIR read API: read, search (GET and POST `_search`), paging, includes, `$everything`,
//! its errors and its audit, against Synthea records imported as an EHR sends them. Expected
//! counts are worked out here from the fixture JSON, not from the portal's own index.

use crate::both_backends;
use crate::helpers::TestApp;
use portal_app::Actor;
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/synthea")
            .join(name),
    )
    .expect("fixture")
}

/// The resources of one type in a fixture Bundle.
fn sent(bundle: &Value, resource_type: &str) -> Vec<Value> {
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].clone())
        .filter(|r| r["resourceType"] == resource_type)
        .collect()
}

/// Whether a CodeableConcept (or a list of them) has a coding with this code (and system).
fn has_code(concepts: &Value, system: Option<&str>, code: &str) -> bool {
    let list: Vec<&Value> = match concepts.as_array() {
        Some(items) => items.iter().collect(),
        None => vec![concepts],
    };
    list.iter().any(|c| {
        c["coding"].as_array().is_some_and(|codings| {
            codings.iter().any(|coding| {
                coding["code"] == code && system.is_none_or(|s| coding["system"] == s)
            })
        })
    })
}

/// The span an Observation's time stands for.
fn span(o: &Value) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
    span_of(o, &["effectiveDateTime"], "effectivePeriod")
}

/// The span a resource's date stands for: the first of `fields` it holds (a dateTime its
/// second, a date its day), else its `period` (open where it gives no start or end).
fn span_of(r: &Value, fields: &[&str], period: &str) -> Option<(jiff::Timestamp, jiff::Timestamp)> {
    let second = jiff::SignedDuration::from_micros(999_999);
    if let Some(at) = fields.iter().find_map(|f| r[*f].as_str()) {
        let low = instant(at);
        let high = if at.len() == 10 {
            low + jiff::SignedDuration::from_hours(24) - jiff::SignedDuration::from_micros(1)
        } else {
            low + second
        };
        return Some((low, high));
    }
    let period = &r[period];
    let low = period["start"]
        .as_str()
        .map_or(jiff::Timestamp::MIN, instant);
    let high = period["end"]
        .as_str()
        .map_or(jiff::Timestamp::MAX, |e| instant(e) + second);
    period.is_object().then_some((low, high))
}

/// A dateTime as an instant; a date alone is its UTC midnight.
fn instant(text: &str) -> jiff::Timestamp {
    if text.len() == 10 {
        return format!("{text}T00:00:00Z").parse().expect("a date");
    }
    text.parse().expect("a dateTime with a zone")
}

pub(crate) struct Api<'a> {
    pub(crate) t: &'a TestApp,
    pub(crate) token: String,
}

impl Api<'_> {
    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self
            .t
            .client()
            .get(format!("{}{path}", self.t.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("GET");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).expect("JSON answer"))
    }

    async fn post_search(&self, resource_type: &str, form: &str) -> (StatusCode, Value) {
        let response = self
            .t
            .client()
            .post(format!("{}/fhir/{resource_type}/_search", self.t.url))
            .bearer_auth(&self.token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
            .await
            .expect("POST");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).expect("JSON answer"))
    }

    /// A search's total, checking the answer is a searchset.
    pub(crate) async fn total(&self, path: &str) -> i64 {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["type"], "searchset", "{path}");
        body["total"].as_i64().expect("total")
    }

    /// Every resource of a search, following `next` links.
    pub(crate) async fn all(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(path) = next.take() {
            let (status, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            for entry in body["entry"].as_array().into_iter().flatten() {
                out.push(entry["resource"].clone());
            }
            next = next_of(&body);
        }
        out
    }
}

/// The path and query of a Bundle's `next` link.
fn next_of(bundle: &Value) -> Option<String> {
    bundle["link"]
        .as_array()?
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .map(|url| {
            let at = url.find("/fhir/").expect("a FHIR link");
            url[at..].to_string()
        })
}

/// A portal with Lucien's record imported, his portal id, and a read token.
async fn with_lucien(backend: Backend) -> Option<(TestApp, String, String)> {
    let t = TestApp::spawn(backend).await?;
    let lucien = import(&t, "lucien-bosco.json").await;
    let token = read_token(&t).await;
    Some((t, lucien, token))
}

pub(crate) async fn read_token(t: &TestApp) -> String {
    t.app
        .accounts()
        .create_api_token(&Actor::operator(), "Test reader", "system/*.read")
        .await
        .expect("token")
        .token
}

/// Imports the directory and a patient's Bundle; gives the patient's portal id.
pub(crate) async fn import(t: &TestApp, name: &str) -> String {
    for file in [
        "00-organizations-ma-2025.json",
        "00-practitioners-ma-2025.json",
        name,
    ] {
        t.app
            .import()
            .import_bundle(&Actor::operator(), fixture(file).as_slice())
            .await
            .expect("import");
    }
    let bundle: Value = serde_json::from_slice(&fixture(name)).expect("json");
    let source = sent(&bundle, "Patient")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    portal_id(t, "Patient", &source).await
}

async fn portal_id(t: &TestApp, resource_type: &str, source: &str) -> String {
    use sqlx::Row;
    sqlx::query("SELECT id FROM fhir_resources WHERE resource_type = $1 AND source_id = $2")
        .bind(resource_type)
        .bind(source)
        .fetch_one(t.app.store().pool())
        .await
        .expect("imported")
        .try_get("id")
        .expect("id")
}

async fn searches_find_what_the_fixture_holds(backend: Backend) {
    let Some((t, lucien, token)) = with_lucien(backend).await else {
        return;
    };
    let api = Api { t: &t, token };
    let bundle: Value = serde_json::from_slice(&fixture("lucien-bosco.json")).expect("json");
    let observations = sent(&bundle, "Observation");
    let p = format!("patient={lucien}");

    // Categories and codes, with and without the system.
    let labs = observations
        .iter()
        .filter(|o| has_code(&o["category"], Some(LAB), "laboratory"))
        .count() as i64;
    assert!(labs > 0);
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&category=laboratory"))
            .await,
        labs
    );
    assert_eq!(
        api.total(&format!(
            "/fhir/Observation?patient=Patient/{lucien}&category={LAB}|laboratory"
        ))
        .await,
        labs,
        "patient=Patient/id is patient=id"
    );
    let mut by_code: BTreeMap<String, i64> = BTreeMap::new();
    for o in &observations {
        for coding in o["code"]["coding"].as_array().into_iter().flatten() {
            if coding["system"] == "http://loinc.org" {
                *by_code
                    .entry(coding["code"].as_str().expect("code").to_string())
                    .or_default() += 1;
            }
        }
    }
    let (code, n) = by_code
        .iter()
        .max_by_key(|(_, n)| **n)
        .expect("a LOINC code");
    assert_eq!(
        api.total(&format!(
            "/fhir/Observation?{p}&code=http://loinc.org|{code}"
        ))
        .await,
        *n
    );
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&code={code}"))
            .await,
        *n
    );
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&code=urn:other|{code}"))
            .await,
        0,
        "another system's code is another code"
    );
    let two: Vec<&String> = by_code.keys().take(2).collect();
    assert_eq!(
        api.total(&format!(
            "/fhir/Observation?{p}&code=http://loinc.org|{},http://loinc.org|{}",
            two[0], two[1]
        ))
        .await,
        by_code[two[0]] + by_code[two[1]],
        "a comma is or"
    );

    // Dates, one bound, both bounds, and each prefix: a resource's date is the span it
    // stands for (a dateTime its second, a date its day, a period from start to end, open
    // where it gives none).
    let spans: Vec<(jiff::Timestamp, jiff::Timestamp)> =
        observations.iter().filter_map(span).collect();
    let (from, until) = (
        instant("2015-01-01T00:00:00Z"),
        instant("2020-01-01T00:00:00Z"),
    );
    let count = |keep: &dyn Fn(&(jiff::Timestamp, jiff::Timestamp)) -> bool| {
        spans.iter().filter(|s| keep(s)).count() as i64
    };
    assert_eq!(
        api.total(&format!(
            "/fhir/Observation?{p}&date=ge2015-01-01&date=lt2020-01-01"
        ))
        .await,
        count(&|(low, high)| *high >= from && *low < until)
    );
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&date=ge2015"))
            .await,
        count(&|(_, high)| *high >= from)
    );
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&date=lt2015-01-01"))
            .await,
        count(&|(low, _)| *low < from)
    );
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&date=gt2019-12-31"))
            .await,
        count(&|(_, high)| *high >= until)
    );
    let day_start = spans[0].0.strftime("%Y-%m-%d").to_string();
    let day_from = instant(&day_start);
    let day_until = day_from + jiff::SignedDuration::from_hours(24);
    assert_eq!(
        api.total(&format!("/fhir/Observation?{p}&date={day_start}"))
            .await,
        count(&|(low, high)| *low >= day_from && *high < day_until),
        "a date without a prefix is the whole day"
    );
    assert_eq!(
        api.total(&format!(
            "/fhir/Observation?{p}&category=laboratory&date=ge2015-01-01&date=lt2020-01-01"
        ))
        .await,
        observations
            .iter()
            .filter(|o| has_code(&o["category"], Some(LAB), "laboratory"))
            .filter_map(span)
            .filter(|(low, high)| *high >= from && *low < until)
            .count() as i64,
        "conditions combine"
    );

    // Other types, each by a parameter US Core asks for.
    let conditions = sent(&bundle, "Condition");
    let active = conditions
        .iter()
        .filter(|c| has_code(&c["clinicalStatus"], None, "active"))
        .count() as i64;
    assert_eq!(
        api.total(&format!("/fhir/Condition?{p}&clinical-status=active"))
            .await,
        active
    );
    for (resource_type, extra) in [
        ("Condition", ""),
        ("Encounter", ""),
        ("Immunization", ""),
        ("MedicationRequest", ""),
        ("DiagnosticReport", ""),
        ("DocumentReference", ""),
        ("Procedure", ""),
        ("CarePlan", ""),
        ("CareTeam", ""),
        ("AllergyIntolerance", ""),
        ("Provenance", ""),
    ] {
        assert_eq!(
            api.total(&format!("/fhir/{resource_type}?{p}{extra}"))
                .await,
            sent(&bundle, resource_type).len() as i64,
            "{resource_type}"
        );
    }
    let finished = sent(&bundle, "Encounter")
        .iter()
        .filter(|e| e["status"] == "finished")
        .count() as i64;
    assert_eq!(
        api.total(&format!("/fhir/Encounter?{p}&status=finished"))
            .await,
        finished
    );
    let encounter_dates = sent(&bundle, "Encounter")
        .iter()
        .filter(|e| {
            e["period"]["end"]
                .as_str()
                .is_none_or(|end| instant(end) + jiff::SignedDuration::from_micros(999_999) >= from)
        })
        .count() as i64;
    assert_eq!(
        api.total(&format!("/fhir/Encounter?{p}&date=ge2015-01-01"))
            .await,
        encounter_dates
    );

    // The patient by demographics; the directory by identifier and name.
    let patient = &sent(&bundle, "Patient")[0];
    let family = patient["name"][0]["family"].as_str().expect("family");
    let found = api
        .all(&format!(
            "/fhir/Patient?family={}",
            &family[..3].to_lowercase()
        ))
        .await;
    assert!(found.iter().any(|r| r["id"] == lucien.as_str()));
    let birth = patient["birthDate"].as_str().expect("birth date");
    let found = api
        .all(&format!(
            "/fhir/Patient?birthdate={birth}&gender={}",
            patient["gender"].as_str().expect("gender")
        ))
        .await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], lucien.as_str());

    // GET and POST _search give the same answer.
    let query = format!("{p}&date=ge1900&_count=7");
    let (_, by_get) = api.get(&format!("/fhir/Observation?{query}")).await;
    let (status, by_post) = api.post_search("Observation", &query).await;
    assert_eq!(status, StatusCode::OK, "{by_post}");
    let ids = |b: &Value| -> Vec<String> {
        b["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| e["resource"]["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids(&by_get), ids(&by_post));
    assert_eq!(by_get["total"], by_post["total"]);
    assert_eq!(ids(&by_get).len(), 7);

    // `_summary=count`: the total alone.
    let (_, counted) = api
        .get(&format!("/fhir/Observation?{p}&_summary=count"))
        .await;
    assert_eq!(counted["total"], observations.len() as i64);
    assert!(counted.get("entry").is_none());

    // `_include` and `_revinclude`.
    let (_, with_provenance) = api
        .get(&format!(
            "/fhir/Patient?_id={lucien}&_revinclude=Provenance:target"
        ))
        .await;
    let included: Vec<&Value> = with_provenance["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .collect();
    assert_eq!(included.len(), sent(&bundle, "Provenance").len());
    assert_eq!(included[0]["resource"]["resourceType"], "Provenance");
    t.stop().await;
}

async fn unsupported_parameters_and_bad_values_are_refused(backend: Backend) {
    let Some((t, lucien, token)) = with_lucien(backend).await else {
        return;
    };
    let api = Api { t: &t, token };
    for (path, says) in [
        (
            format!("/fhir/Observation?patient={lucien}&colour=blue"),
            "colour",
        ),
        (
            format!("/fhir/Observation?patient={lucien}&code:text=sugar"),
            ":text",
        ),
        (
            format!("/fhir/Observation?patient={lucien}&date=last-week"),
            "not a date",
        ),
        (
            format!("/fhir/Observation?patient={lucien}&_count=-1"),
            "_count",
        ),
        (
            "/fhir/Observation?category=laboratory".to_string(),
            "must name the patient",
        ),
        ("/fhir/Claim?patient=x".to_string(), "not a resource type"),
        (format!("/fhir/Patient/{lucien}/$export"), "$everything"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(body["resourceType"], "OperationOutcome");
        let words = body["issue"][0]["diagnostics"].as_str().expect("words");
        assert!(words.contains(says), "{path}: {words}");
    }
    let (status, body) = api
        .post_search("Observation", "patient=x&colour=blue")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    t.stop().await;
}

async fn tokens_and_ids_outside_are_refused_alike(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let lucien = import(&t, "lucien-bosco.json").await;
    let reader = read_token(&t).await;
    let writer = t.write_token().await;
    let url = format!("{}/fhir/Patient/{lucien}", t.url);

    let none = t.client().get(&url).send().await.expect("GET");
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let wrong = t
        .client()
        .get(&url)
        .bearer_auth("nope")
        .send()
        .await
        .expect("GET");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let write_only = t
        .client()
        .get(&url)
        .bearer_auth(&writer)
        .send()
        .await
        .expect("GET");
    assert_eq!(write_only.status(), StatusCode::FORBIDDEN);
    let body: Value = write_only.json().await.expect("outcome");
    assert_eq!(body["resourceType"], "OperationOutcome");

    let api = Api {
        t: &t,
        token: reader,
    };
    let (status, patient) = api.get(&format!("/fhir/Patient/{lucien}")).await;
    assert_eq!(status, StatusCode::OK, "{patient}");
    // A missing id, a real id under another type, and a made-up patient: the same 404.
    let observation = api
        .all(&format!("/fhir/Observation?patient={lucien}&_count=1"))
        .await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let mut answers = BTreeSet::new();
    for path in [
        "/fhir/Patient/0190a000-0000-7000-8000-000000000000".to_string(),
        format!("/fhir/Condition/{observation}"),
        format!("/fhir/Patient/{observation}"),
        "/fhir/Observation?patient=0190a000-0000-7000-8000-000000000000".to_string(),
        "/fhir/Patient/0190a000-0000-7000-8000-000000000000/$everything".to_string(),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        answers.insert(body.to_string());
    }
    assert_eq!(
        answers.len(),
        1,
        "every refusal reads the same: {answers:?}"
    );
    t.stop().await;
}

/// The (system, code) pairs a field holds, as a token search matches them: a code, a Coding,
/// a CodeableConcept or an Identifier, or a list of them; `path` may go through lists.
fn field_tokens(value: &Value, path: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut values = vec![value];
    for step in path.split('.') {
        values = values
            .into_iter()
            .flat_map(|v| match &v[step] {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => vec![other],
            })
            .collect();
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    for v in values {
        match v {
            Value::String(code) => out.push((String::new(), code.clone())),
            Value::Object(map) if map.contains_key("coding") => {
                for c in v["coding"].as_array().into_iter().flatten() {
                    if c["code"].is_string() {
                        out.push((text(&c["system"]), text(&c["code"])));
                    }
                }
            }
            Value::Object(map) if map.contains_key("code") => {
                out.push((text(&v["system"]), text(&v["code"])));
            }
            Value::Object(map) if map.contains_key("value") => {
                out.push((text(&v["system"]), text(&v["value"])));
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every token parameter of every served type of a patient's record, for each value the
/// fixture holds (up to four per parameter), with and without the system: the count the API
/// gives is the count of resources whose field holds it, worked out from the JSON.
async fn every_token_parameter_finds_what_the_fixture_holds(backend: Backend) {
    let Some((t, lucien, token)) = with_lucien(backend).await else {
        return;
    };
    let api = Api { t: &t, token };
    let bundle: Value = serde_json::from_slice(&fixture("lucien-bosco.json")).expect("json");
    let params: &[(&str, &str, &str)] = &[
        ("AllergyIntolerance", "clinical-status", "clinicalStatus"),
        ("CarePlan", "category", "category"),
        ("CarePlan", "status", "status"),
        ("CareTeam", "status", "status"),
        ("CareTeam", "role", "participant.role"),
        ("Condition", "category", "category"),
        ("Condition", "clinical-status", "clinicalStatus"),
        ("Condition", "code", "code"),
        ("DiagnosticReport", "category", "category"),
        ("DiagnosticReport", "code", "code"),
        ("DiagnosticReport", "status", "status"),
        ("DocumentReference", "category", "category"),
        ("DocumentReference", "type", "type"),
        ("DocumentReference", "status", "status"),
        ("DocumentReference", "identifier", "identifier"),
        ("Encounter", "status", "status"),
        ("Encounter", "class", "class"),
        ("Encounter", "type", "type"),
        ("Encounter", "identifier", "identifier"),
        ("Immunization", "status", "status"),
        ("Immunization", "vaccine-code", "vaccineCode"),
        ("MedicationRequest", "status", "status"),
        ("MedicationRequest", "intent", "intent"),
        ("Observation", "category", "category"),
        ("Observation", "code", "code"),
        ("Observation", "status", "status"),
        ("Procedure", "code", "code"),
        ("Procedure", "status", "status"),
    ];
    let mut checked = 0;
    for (resource_type, param, field) in params {
        let resources = sent(&bundle, resource_type);
        let mut values: Vec<(String, String)> = resources
            .iter()
            .flat_map(|r| field_tokens(r, field))
            .collect();
        values.sort();
        values.dedup();
        if values.is_empty() {
            // The record has none (Lucien has no allergy): the search finds none.
            let path = format!("/fhir/{resource_type}?patient={lucien}&{param}=x");
            assert_eq!(api.total(&path).await, 0, "{path}");
            continue;
        }
        for (system, code) in values.iter().take(4) {
            let with = |s: &str, c: &str| {
                resources
                    .iter()
                    .filter(|r| {
                        field_tokens(r, field)
                            .iter()
                            .any(|(fs, fc)| fc == c && (s.is_empty() || fs == s))
                    })
                    .count() as i64
            };
            let encoded = |text: &str| text.replace('|', "%7C").replace(' ', "%20");
            let by_code = format!(
                "/fhir/{resource_type}?patient={lucien}&{param}={}",
                encoded(code)
            );
            assert_eq!(api.total(&by_code).await, with("", code), "{by_code}");
            if !system.is_empty() {
                let by_both = format!(
                    "/fhir/{resource_type}?patient={lucien}&{param}={}%7C{}",
                    encoded(system),
                    encoded(code)
                );
                assert_eq!(api.total(&by_both).await, with(system, code), "{by_both}");
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} values checked");

    // Dates: each date parameter, from a year on and before it.
    let dates: &[(&str, &str, &[&str])] = &[
        ("Condition", "onset-date", &["onsetDateTime"]),
        ("Condition", "recorded-date", &["recordedDate"]),
        ("DiagnosticReport", "date", &["effectiveDateTime"]),
        ("DocumentReference", "date", &["date"]),
        ("Immunization", "date", &["occurrenceDateTime"]),
        ("MedicationRequest", "authoredon", &["authoredOn"]),
        ("Procedure", "date", &["performedDateTime"]),
        ("Encounter", "date", &[]),
        ("CarePlan", "date", &[]),
    ];
    for (resource_type, param, fields) in dates {
        let resources = sent(&bundle, resource_type);
        // Each resource's span: a dateTime's second, or its period (open where none is given).
        let period = match *resource_type {
            "Encounter" | "CarePlan" => "period",
            _ => "performedPeriod",
        };
        let spans: Vec<(jiff::Timestamp, jiff::Timestamp)> = resources
            .iter()
            .filter_map(|r| span_of(r, fields, period))
            .collect();
        if spans.is_empty() {
            continue;
        }
        let from = instant("2000-01-01T00:00:00Z");
        let on = spans.iter().filter(|(_, high)| *high >= from).count() as i64;
        let before = spans.iter().filter(|(low, _)| *low < from).count() as i64;
        let path = format!("/fhir/{resource_type}?patient={lucien}&{param}=ge2000-01-01");
        assert_eq!(api.total(&path).await, on, "{path}");
        let path = format!("/fhir/{resource_type}?patient={lucien}&{param}=lt2000-01-01");
        assert_eq!(api.total(&path).await, before, "{path}");
    }

    // The directory by identifier and name; a MedicationRequest with its medication.
    let practitioners = sent(
        &serde_json::from_slice::<Value>(&fixture("00-practitioners-ma-2025.json")).expect("json"),
        "Practitioner",
    );
    let first = &practitioners[0];
    let npi = first["identifier"][0]["value"].as_str().expect("NPI");
    let found = api
        .all(&format!("/fhir/Practitioner?identifier={npi}"))
        .await;
    assert_eq!(found.len(), 1);
    let family = first["name"][0]["family"].as_str().expect("family");
    let by_name = api
        .all(&format!(
            "/fhir/Practitioner?family={}",
            family.to_lowercase()
        ))
        .await;
    assert!(by_name.iter().any(|p| p["id"] == found[0]["id"]));
    let organizations = api.total("/fhir/Organization?name=pcp").await;
    assert!(organizations > 0);
    let with_medication = sent(&bundle, "MedicationRequest")
        .iter()
        .filter(|m| m["medicationReference"].is_object())
        .count();
    let (_, included) = api
        .get(&format!(
            "/fhir/MedicationRequest?patient={lucien}&_include=MedicationRequest:medication"
        ))
        .await;
    let medications = included["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["search"]["mode"] == "include")
        .filter(|e| e["resource"]["resourceType"] == "Medication")
        .count();
    assert_eq!(medications > 0, with_medication > 0, "{included}");
    t.stop().await;
}

/// Every reference a served resource holds points at a resource the API serves, or outside
/// the portal (an absolute URL) or inside the resource (`#id`); no sender's id goes out.
async fn references_resolve_inside_the_portal_and_everything_is_the_compartment(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let lucien = import(&t, "lucien-bosco.json").await;
    let conchita = import(&t, "conchita-ramon.json").await;
    let api = Api {
        t: &t,
        token: read_token(&t).await,
    };
    let everything = api
        .all(&format!("/fhir/Patient/{lucien}/$everything?_count=40"))
        .await;
    let bundle: Value = serde_json::from_slice(&fixture("lucien-bosco.json")).expect("json");
    let served_types: BTreeSet<&str> = [
        "Patient",
        "AllergyIntolerance",
        "CarePlan",
        "CareTeam",
        "Condition",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "Goal",
        "Immunization",
        "MedicationRequest",
        "Observation",
        "Procedure",
        "Provenance",
    ]
    .into();
    let expected = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| served_types.contains(e["resource"]["resourceType"].as_str().expect("type")))
        .count();
    assert_eq!(everything.len(), expected);
    let ids: BTreeSet<String> = everything
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        ids.len(),
        everything.len(),
        "each resource once across pages"
    );

    let mut references = BTreeSet::new();
    for resource in &everything {
        collect_references(resource, &mut references);
        let text = resource.to_string();
        assert!(!text.contains(r#""reference":"urn:"#), "{text}");
        assert!(
            !text.contains(conchita.as_str()),
            "another record's id: {text}"
        );
    }
    assert!(references.iter().any(|r| r.starts_with("Practitioner/")));
    for reference in &references {
        if reference.starts_with('#') || reference.starts_with("http") {
            continue;
        }
        let (status, body) = api.get(&format!("/fhir/{reference}")).await;
        assert_eq!(status, StatusCode::OK, "{reference}: {body}");
        assert_eq!(
            format!(
                "{}/{}",
                body["resourceType"].as_str().expect("type"),
                body["id"].as_str().expect("id")
            ),
            *reference
        );
        if let Some(patient) = body["subject"]["reference"].as_str() {
            assert_eq!(patient, format!("Patient/{lucien}"), "{reference}");
        }
    }
    // The sender's id is kept as an identifier.
    let (_, patient) = api.get(&format!("/fhir/Patient/{lucien}")).await;
    let source = sent(&bundle, "Patient")[0]["id"].clone();
    assert!(
        patient["identifier"]
            .as_array()
            .expect("identifiers")
            .iter()
            .any(|i| i["value"] == source),
        "{patient}"
    );
    t.stop().await;
}

/// Every `reference` in a resource.
pub(crate) fn collect_references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("reference") {
                out.insert(r.clone());
            }
            for v in map.values() {
                collect_references(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, out)),
        _ => {}
    }
}

/// Pages follow ids: resources added while a client pages through come after, never twice,
/// and nothing is skipped.
async fn paging_stays_right_while_data_is_added(backend: Backend) {
    let Some((t, lucien, token)) = with_lucien(backend).await else {
        return;
    };
    let api = Api { t: &t, token };
    let path = format!("/fhir/Observation?patient={lucien}&_count=10");
    let before = api.all(&path).await;
    let (_, first) = api.get(&path).await;
    let mut seen: Vec<Value> = first["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].clone())
        .collect();
    // A new result arrives for the patient between two pages.
    let bundle: Value = serde_json::from_slice(&fixture("lucien-bosco.json")).expect("json");
    let source = sent(&bundle, "Patient")[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let added = serde_json::json!({
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{
            "fullUrl": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001",
            "resource": {
                "resourceType": "Observation", "id": "added-while-paging", "status": "final",
                "category": [{"coding": [{"system": LAB, "code": "laboratory"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}], "text": "Glucose"},
                "subject": {"reference": format!("Patient/{source}")},
                "effectiveDateTime": "2026-12-01T09:00:00Z",
                "valueQuantity": {"value": 5.1, "unit": "mmol/L"}
            },
            "request": {"method": "PUT", "url": "Observation/added-while-paging"}
        }]
    });
    t.app
        .import()
        .import_bundle(&Actor::operator(), added.to_string().as_bytes())
        .await
        .expect("import");
    let mut next = next_of(&first);
    while let Some(page) = next.take() {
        let (status, body) = api.get(&page).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(
            body["entry"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["resource"].clone()),
        );
        next = next_of(&body);
    }
    let ids: Vec<&str> = seen.iter().map(|r| r["id"].as_str().expect("id")).collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no resource twice");
    assert_eq!(
        ids.len(),
        before.len() + 1,
        "every one once, the new one at the end"
    );
    assert_eq!(
        seen.last().expect("last")["identifier"]
            .as_array()
            .expect("identifiers")
            .iter()
            .filter(|i| i["value"] == "added-while-paging")
            .count(),
        1
    );
    t.stop().await;
}

/// Each request is one audit event naming the client and the record, and the patient's
/// access log shows it.
async fn each_read_is_audited_once_with_the_record(backend: Backend) {
    let Some((t, lucien, token)) = with_lucien(backend).await else {
        return;
    };
    let api = Api { t: &t, token };
    let events = |t: &TestApp, lucien: String| {
        let app = t.app.clone();
        async move {
            use sqlx::Row;
            sqlx::query(
                "SELECT COUNT(*) AS n FROM audit_events WHERE patient_id = $1 \
                 AND actor_role = 'system'",
            )
            .bind(lucien)
            .fetch_one(app.store().pool())
            .await
            .expect("count")
            .try_get::<i64, _>("n")
            .expect("n")
        }
    };
    let start = events(&t, lucien.clone()).await;
    api.get(&format!("/fhir/Patient/{lucien}")).await;
    // The same search twice: answered the same, audited each time.
    let (_, first) = api
        .get(&format!("/fhir/Observation?patient={lucien}&_count=50"))
        .await;
    let (_, again) = api
        .get(&format!("/fhir/Observation?patient={lucien}&_count=50"))
        .await;
    assert_eq!(first, again);
    api.get(&format!("/fhir/Patient/{lucien}/$everything"))
        .await;
    assert_eq!(events(&t, lucien.clone()).await, start + 4);
    // The patient's access log names the system and says what it did.
    let id: portal_domain::PatientId = lucien.parse().expect("id");
    let c = crate::record::sign_in_new_patient(&t, id, "1940-03-29", "lucien@example.test").await;
    let log = crate::record::open(&t, &c, &format!("/patients/{lucien}/access-log")).await;
    assert!(log.contains("Test reader (a connected system)"), "{log}");
    assert!(log.contains("the record, through the FHIR API"), "{log}");
    t.stop().await;
}

/// Everything the API returns for the fixture patients (the full shared set in CI): each
/// record's `$everything` pages and every directory resource they point at, run through the
/// shared validator with US Core when CI points at it (`PORTAL_FHIR_VALIDATOR`). The one
/// finding allowed is the fixture's own: a Location sent without a name.
async fn everything_served_for_the_fixture_patients_validates(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let files = crate::helpers::fixture_files();
    let mut patients = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("fixture");
        t.app
            .import()
            .import_bundle(&Actor::operator(), bytes.as_slice())
            .await
            .expect("import");
        let bundle: Value = serde_json::from_slice(&bytes).expect("json");
        for p in sent(&bundle, "Patient") {
            patients.push(portal_id(&t, "Patient", p["id"].as_str().expect("id")).await);
        }
    }
    assert!(!patients.is_empty());
    let api = Api {
        t: &t,
        token: read_token(&t).await,
    };
    let dir = tempfile::tempdir().expect("dir");
    let mut pages = 0;
    let mut served = 0;
    let mut references = BTreeSet::new();
    for patient in &patients {
        let mut next = Some(format!("/fhir/Patient/{patient}/$everything?_count=200"));
        while let Some(path) = next.take() {
            let (status, page) = api.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            for entry in page["entry"].as_array().into_iter().flatten() {
                collect_references(&entry["resource"], &mut references);
                served += 1;
            }
            std::fs::write(
                dir.path().join(format!("page-{pages}.json")),
                page.to_string(),
            )
            .expect("write");
            pages += 1;
            next = next_of(&page);
        }
    }
    let mut directory = String::new();
    for reference in &references {
        let directory_type = ["Practitioner/", "Organization/", "Location/", "Medication/"]
            .iter()
            .any(|t| reference.starts_with(t));
        if directory_type {
            let (status, resource) = api.get(&format!("/fhir/{reference}")).await;
            assert_eq!(status, StatusCode::OK, "{reference}: {resource}");
            directory.push_str(&resource.to_string());
            directory.push('\n');
            served += 1;
        }
    }
    std::fs::write(dir.path().join("directory.ndjson"), directory).expect("write");
    assert!(served > patients.len() * 10, "{served} resources served");

    let Ok(validator) = std::env::var("PORTAL_FHIR_VALIDATOR") else {
        t.stop().await;
        return;
    };
    let out = std::process::Command::new(&validator)
        .args(["--json", "--profile", "us-core"])
        .arg(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{validator} did not run: {e}"));
    let findings: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a finding as JSON"))
        .collect();
    let unexpected: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .filter(|f| {
            let known = f["resource"]
                .as_str()
                .is_some_and(|r| r.starts_with("Location/"))
                && f["path"].as_str().is_some_and(|p| p.ends_with(".name"))
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("Missing required property"));
            !known
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} findings beyond the fixture's own:\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .take(20)
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("us-core-patient") && summary.contains("us-core-observation-lab"),
        "checked against US Core: {summary}"
    );
    t.stop().await;
}

both_backends!(
    everything_served_for_the_fixture_patients_validates,
    every_token_parameter_finds_what_the_fixture_holds,
    searches_find_what_the_fixture_holds,
    unsupported_parameters_and_bad_values_are_refused,
    tokens_and_ids_outside_are_refused_alike,
    references_resolve_inside_the_portal_and_everything_is_the_compartment,
    paging_stays_right_while_data_is_added,
    each_read_is_audited_once_with_the_record,
);
