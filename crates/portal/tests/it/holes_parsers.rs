//! Issue 20, items 1, 2 and 4: hostile JSON and bodies sent to the real portal. The crash tests
//! run `portal serve` and `portal import` as child processes, so a stack overflow would end the
//! child, not this test binary.

use crate::both_backends;
use crate::helpers::{ChildPortal, TestApp};
use portal_app::Actor;
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A transaction Bundle with one Observation whose extension nests `depth` arrays deep.
fn deep_bundle(depth: usize) -> String {
    format!(
        r#"{{"resourceType":"Bundle","type":"transaction","entry":[{{"fullUrl":"urn:uuid:1","resource":{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"extension":{}1{}}},"request":{{"method":"POST","url":"Observation"}}}}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

async fn token(t: &TestApp) -> String {
    t.app
        .accounts()
        .create_api_token(&Actor::operator(), "Test EHR", "system/*.write")
        .await
        .expect("token")
        .token
}

async fn item_1_deeply_nested_json_is_refused_and_the_server_keeps_serving(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let token = token(&t).await;
    let mut child = ChildPortal::serve(&t, &[]).await;
    let client = reqwest::Client::new();
    for depth in [9_000, 200_000] {
        let response = client
            .post(format!("{}/fhir", child.url))
            .bearer_auth(&token)
            .header("content-type", "application/fhir+json")
            .body(deep_bundle(depth))
            .send()
            .await
            .expect("an answer, not a dropped connection");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "depth {depth}");
        let body: Value = response.json().await.expect("OperationOutcome");
        assert_eq!(body["resourceType"], "OperationOutcome");
        let diagnostics = body["issue"][0]["diagnostics"].as_str().unwrap_or("");
        assert!(
            diagnostics.contains("nest deeper than 100 levels"),
            "{diagnostics}"
        );
    }
    assert!(child.is_running(), "the portal process must survive");
    let health = client
        .get(format!("{}/healthz", child.url))
        .send()
        .await
        .expect("still serving");
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(t.count("clinical_items").await, 0, "nothing was imported");

    // The command line: a Bundle file and an NDJSON line, each refused with a clear message.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("deep.json"), deep_bundle(50_000)).expect("write");
    let line = format!(
        r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"extension":{}1{}}}"#,
        "[".repeat(50_000),
        "]".repeat(50_000)
    );
    std::fs::write(
        dir.path().join("deep.ndjson"),
        format!("{{\"resourceType\":\"Patient\"}}\n{line}\n"),
    )
    .expect("write");
    for file in ["deep.json", "deep.ndjson"] {
        let output = crate::import::import_command(&t, &[dir.path().join(file)]).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{file}: exits 1, no crash: {stdout}"
        );
        assert!(
            stdout.contains(&format!("{file}: REJECTED")) && stdout.contains("nest deeper"),
            "{file}: {stdout}"
        );
    }
    assert_eq!(t.count("clinical_items").await, 0);
    drop(child);
    t.stop().await;
}

async fn item_2_fhir_bodies_are_not_read_before_the_token_is_checked(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let mut child = ChildPortal::serve(&t, &[]).await;
    let client = reqwest::Client::new();
    // Warm up, then take the baseline.
    let _ = client.get(format!("{}/healthz", child.url)).send().await;
    let before = child.peak_memory();
    let body: &'static [u8] = Box::leak(vec![b' '; 60 * 1024 * 1024].into_boxed_slice());
    let attempts = (0..12).map(|_| {
        let client = client.clone();
        let url = format!("{}/fhir", child.url);
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth("not-a-token")
                .header("content-type", "application/fhir+json")
                .body(body)
                .send()
                .await
                .map(|r| r.status())
        })
    });
    let answers = futures_join(attempts).await;
    let mut refused = 0;
    for answer in answers {
        match answer {
            Ok(status) => {
                assert_eq!(status, StatusCode::UNAUTHORIZED);
                refused += 1;
            }
            // The portal may close the connection before the client has sent its whole body;
            // what matters is that it never took it in.
            Err(error) => assert!(!error.is_status(), "{error}"),
        }
    }
    // Whether a client reads its 401 before the portal closes a connection whose body it would
    // not take depends on timing; a bad token with a small body must always read its 401.
    let small = client
        .post(format!("{}/fhir", child.url))
        .bearer_auth("not-a-token")
        .header("content-type", "application/fhir+json")
        .body("{}")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        small.status(),
        StatusCode::UNAUTHORIZED,
        "{refused} big bodies read their 401"
    );
    assert!(child.is_running());
    let grew = child.peak_memory().saturating_sub(before);
    assert!(
        grew < 48 * 1024 * 1024,
        "12 bodies of 60 MB with a bad token grew the process by {} MB",
        grew / (1024 * 1024)
    );

    // With a good token, a body declared larger than the limit is refused before it is read.
    let token = token(&t).await;
    let response = client
        .post(format!("{}/fhir", child.url))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .header("content-length", (65 * 1024 * 1024).to_string())
        .body(&b"{}"[..])
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    drop(child);
    t.stop().await;
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        out.push(handle.await.expect("join"));
    }
    out
}

async fn item_4_a_repeated_json_key_is_refused_at_import(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let token = token(&t).await;
    let patient = json!({"resourceType": "Patient", "id": "p1",
        "identifier": [{"system": "urn:test:mrn", "value": "MRN-4"}],
        "name": [{"family": "Doe", "given": ["Jane"]}], "birthDate": "1980-01-01"});
    // Written by hand: serde_json cannot hold the same key twice.
    let text = format!(
        r#"{{"resourceType":"Bundle","type":"transaction","entry":[
        {{"fullUrl":"urn:uuid:p1","resource":{patient},"request":{{"method":"POST","url":"Patient"}}}},
        {{"fullUrl":"urn:uuid:d1","resource":{{"resourceType":"DocumentReference","status":"current",
          "subject":{{"reference":"urn:uuid:p1"}},
          "content":[{{"attachment":{{"contentType":"text/plain","data":"SGVsbG8=","data":"PHNjcmlwdD4="}}}}]}},
          "request":{{"method":"POST","url":"DocumentReference"}}}}]}}"#
    );
    let before = t.count("fhir_resources").await;
    let response = t
        .client()
        .post(format!("{}/fhir", t.url))
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .body(text)
        .send()
        .await
        .expect("POST /fhir");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.expect("OperationOutcome");
    let diagnostics = body["issue"][0]["diagnostics"].as_str().unwrap_or("");
    assert!(
        diagnostics.contains("\"data\" appears twice")
            && diagnostics.contains("entry[1].resource.content[0].attachment"),
        "{diagnostics}"
    );
    assert_eq!(t.count("fhir_resources").await, before, "nothing changed");
    t.stop().await;
}

both_backends!(
    item_1_deeply_nested_json_is_refused_and_the_server_keeps_serving,
    item_2_fhir_bodies_are_not_read_before_the_token_is_checked,
    item_4_a_repeated_json_key_is_refused_at_import,
);
