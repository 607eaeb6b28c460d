//! SMART on FHIR, standalone launch, as the Inferno (g)(10) checks put it: discovery, the
//! authorization request's checks (PKCE S256 only, state, exact redirect URI and `aud`), the
//! patient's consent (granting fewer types), the token endpoint (no-store, codes and refresh
//! tokens once, replays revoking their family), v1 and v2 scopes giving exactly the expected
//! resources, another patient's record answering 404, introspection and revocation.

use crate::both_backends;
use crate::fhir_read::{Api, import, read_token};
use crate::helpers::{TestApp, location};
use crate::record::sign_in_new_patient;
use portal_app::Actor;
use portal_store::Backend;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

const REDIRECT: &str = "https://app.example/callback";
const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory";

/// An app registered for the tests.
pub(crate) struct TestClient {
    id: String,
    secret: Option<String>,
}

pub(crate) async fn register(t: &TestApp, confidential: bool) -> TestClient {
    let app = t
        .app
        .smart()
        .register_app(
            &Actor::operator(),
            "Health Diary",
            &[REDIRECT.to_string()],
            confidential,
        )
        .await
        .expect("registered");
    TestClient {
        id: app.client_id.to_string(),
        secret: app.secret,
    }
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The authorization request's path.
fn authorize_path(t: &TestApp, client: &str, scope: &str, state: &str, challenge: &str) -> String {
    let aud = format!("{}/fhir", t.app.config().public_url.trim_end_matches('/'));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", state),
        ("aud", aud.as_str()),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ])
    .expect("query");
    format!("/oauth/authorize?{query}")
}

/// The query parameters of a redirect to the app.
fn answer_of(r: &reqwest::Response) -> Vec<(String, String)> {
    let to = location(r);
    assert!(to.starts_with(REDIRECT), "to the app: {to}");
    let query = to.split_once('?').map(|(_, q)| q).unwrap_or_default();
    serde_urlencoded::from_str(query).expect("query")
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Runs the browser's part for a signed-in patient: the request, the consent page, the answer
/// with `types` ticked (`None`: all). Gives the code and the verifier.
pub(crate) async fn code_for(
    t: &TestApp,
    browser: &Client,
    app: &TestClient,
    scope: &str,
    types: Option<&[&str]>,
) -> (String, String) {
    code_for_record(t, browser, app, scope, types, None).await
}

/// [`code_for`], choosing the record `record` (`None`: the first offered) on the consent page.
pub(crate) async fn code_for_record(
    t: &TestApp,
    browser: &Client,
    app: &TestClient,
    scope: &str,
    types: Option<&[&str]>,
    record: Option<&str>,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let r = t
        .get(
            browser,
            &authorize_path(t, &app.id, scope, "st-1/2?x", &challenge),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/oauth/consent");
    let page = t.get(browser, "/oauth/consent").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(html.contains("Health Diary"), "{html}");
    let offered_records: Vec<&str> = html
        .split("name=\"patient\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let patient = match record {
        Some(wanted) => {
            assert!(
                offered_records.contains(&wanted),
                "{wanted} is offered: {html}"
            );
            wanted.to_string()
        }
        None => offered_records.first().expect("the record").to_string(),
    };
    let offered: Vec<String> = html
        .split("name=\"type\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect();
    let mut fields: Vec<(&str, &str)> = vec![("decision", "allow"), ("patient", &patient)];
    for t in &offered {
        if types.is_none_or(|keep| keep.contains(&t.as_str())) {
            fields.push(("type", t));
        }
    }
    let r = t
        .post_form(browser, "/oauth/consent", "/oauth/consent", &fields)
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let answer = answer_of(&r);
    assert_eq!(param(&answer, "state"), Some("st-1/2?x"), "state unchanged");
    (
        param(&answer, "code").expect("a code").to_string(),
        verifier,
    )
}

/// POSTs a form to a back-channel endpoint as the app.
async fn back_channel(
    t: &TestApp,
    app: &TestClient,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = t.client().post(format!("{}{path}", t.url));
    let mut form: Vec<(&str, &str)> = fields.to_vec();
    match &app.secret {
        Some(secret) => request = request.basic_auth(&app.id, Some(secret)),
        None => form.push(("client_id", &app.id)),
    }
    let r = request.form(&form).send().await.expect("POST");
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub(crate) async fn exchange(
    t: &TestApp,
    app: &TestClient,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    let (status, headers, body) = back_channel(
        t,
        app,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    (status, body)
}

/// The ids of a search's resources, every page.
async fn ids(api: &Api<'_>, path: &str) -> BTreeSet<String> {
    api.all(path)
        .await
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect()
}

/// The ID token: RS256, signed by a key the JWKS address publishes under its `kid`, for this
/// app, naming the patient as the FHIR user.
async fn check_id_token(t: &TestApp, app: &TestClient, tokens: &Value, patient: &str) {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    let b64 = |text: &str| {
        data_encoding::BASE64URL_NOPAD
            .decode(text.as_bytes())
            .expect("base64url")
    };
    let token = tokens["id_token"].as_str().expect("an ID token");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&b64(parts[0])).expect("header");
    let claims: Value = serde_json::from_slice(&b64(parts[1])).expect("claims");
    assert_eq!(header["alg"], "RS256");
    let base = t.app.config().public_url.trim_end_matches('/').to_string();
    assert_eq!(claims["iss"], format!("{base}/fhir"));
    assert_eq!(claims["aud"], app.id.as_str());
    assert_eq!(claims["fhirUser"], format!("{base}/fhir/Patient/{patient}"));
    let jwks: Value = t
        .get(&t.client(), "/oauth/jwks")
        .await
        .json()
        .await
        .expect("jwks");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published");
    let n = rsa::BigUint::from_bytes_be(&b64(jwk["n"].as_str().expect("n")));
    let e = rsa::BigUint::from_bytes_be(&b64(jwk["e"].as_str().expect("e")));
    let verifier = VerifyingKey::<sha2::Sha256>::new(rsa::RsaPublicKey::new(n, e).expect("key"));
    let signature = Signature::try_from(b64(parts[2]).as_slice()).expect("signature");
    let signed = format!("{}.{}", parts[0], parts[1]);
    assert!(verifier.verify(signed.as_bytes(), &signature).is_ok());
    let configuration: Value = t
        .get(&t.client(), "/fhir/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("configuration");
    assert_eq!(configuration["jwks_uri"], format!("{base}/oauth/jwks"));
}

/// Lucien's record, a signed-in browser of his, and a system reader to compare with.
async fn setup(backend: Backend) -> Option<(TestApp, String, Client, String)> {
    let t = TestApp::spawn(backend).await?;
    let lucien = import(&t, "lucien-bosco.json").await;
    let browser = sign_in_new_patient(
        &t,
        lucien.parse().expect("id"),
        "1940-03-29",
        "lucien@example.test",
    )
    .await;
    let reader = read_token(&t).await;
    Some((t, lucien, browser, reader))
}

async fn discovery_names_the_endpoints_and_s256_only(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    for path in [
        "/.well-known/smart-configuration",
        "/fhir/.well-known/smart-configuration",
    ] {
        let r = t.get(&t.client(), path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let c: Value = r.json().await.expect("json");
        for key in [
            "authorization_endpoint",
            "token_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
            "jwks_uri",
        ] {
            assert!(
                c[key]
                    .as_str()
                    .is_some_and(|u| u.starts_with(&t.app.config().public_url)),
                "{key}: {c}"
            );
        }
        assert_eq!(
            c["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        let capabilities: Vec<&str> = c["capabilities"]
            .as_array()
            .expect("capabilities")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for needed in [
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "context-standalone-patient",
            "permission-offline",
            "permission-patient",
            "permission-v1",
            "permission-v2",
            "sso-openid-connect",
        ] {
            assert!(capabilities.contains(&needed), "{needed}");
        }
    }
    let r = t.get(&t.client(), "/fhir/metadata").await;
    let statement: Value = r.json().await.expect("json");
    let uris = &statement["rest"][0]["security"]["extension"][0];
    assert_eq!(
        uris["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    assert!(uris.to_string().contains("/oauth/token"));
    t.stop().await;
}

async fn authorization_requests_are_checked_before_anything_is_shared(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let app = register(&t, false).await;
    let (_, challenge) = pkce();
    let browser = t.client();
    // An unknown client or a redirect URI it did not register: told here, sent nowhere.
    let unknown = authorize_path(
        &t,
        &uuid::Uuid::now_v7().to_string(),
        "patient/*.read",
        "s",
        &challenge,
    );
    let elsewhere = authorize_path(&t, &app.id, "patient/*.read", "s", &challenge)
        .replace("app.example", "evil.example");
    for path in [unknown, elsewhere] {
        let r = t.get(&browser, &path).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(r.headers().get("location").is_none());
    }
    // Everything else is told to the app, with its state.
    let good = authorize_path(
        &t,
        &app.id,
        "launch/patient patient/*.read",
        "s9",
        &challenge,
    );
    for (bad, error) in [
        (
            good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            good.replace(&format!("&code_challenge={challenge}"), ""),
            "invalid_request",
        ),
        (good.replace("%2Ffhir", "%2Ffhir%2F"), "invalid_request"),
        (
            good.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            good.replace("patient%2F*.read", "user%2F*.read"),
            "invalid_scope",
        ),
    ] {
        let r = t.get(&browser, &bad).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{bad}");
        let answer = answer_of(&r);
        assert_eq!(param(&answer, "error"), Some(error), "{bad}");
        assert_eq!(param(&answer, "state"), Some("s9"));
    }
    assert_eq!(t.count("smart_requests").await, 0, "nothing kept");
    // A good request sends a person who is not signed in to sign in first.
    let r = t.get(&browser, &good).await;
    assert_eq!(location(&r), "/signin");
    t.stop().await;
}

async fn a_launch_grants_exactly_what_the_patient_allowed(backend: Backend) {
    let Some((t, lucien, browser, reader)) = setup(backend).await else {
        return;
    };
    let app = register(&t, false).await;
    let system = Api {
        t: &t,
        token: reader,
    };
    // The patient allows conditions and his demographics only.
    let scope = "launch/patient openid fhirUser offline_access patient/*.read";
    let (code, verifier) =
        code_for(&t, &browser, &app, scope, Some(&["Patient", "Condition"])).await;
    let (status, tokens) = exchange(&t, &app, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["patient"], lucien.as_str());
    assert_eq!(
        tokens["scope"],
        "launch/patient openid fhirUser offline_access patient/Patient.read patient/Condition.read"
    );
    check_id_token(&t, &app, &tokens, &lucien).await;
    let access = tokens["access_token"].as_str().expect("token").to_string();
    let api = Api {
        t: &t,
        token: access.clone(),
    };
    let conditions = format!("/fhir/Condition?patient={lucien}");
    assert_eq!(
        ids(&api, &conditions).await,
        ids(&system, &conditions).await
    );
    assert!(!ids(&api, &conditions).await.is_empty());
    assert_eq!(
        api.get(&format!("/fhir/Patient/{lucien}")).await.0,
        StatusCode::OK
    );
    // What was not allowed is refused; another record is not found.
    let (status, body) = api
        .get(&format!("/fhir/Observation?patient={lucien}"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let sandee = import(&t, "sandee-lesch.json").await;
    for path in [
        format!("/fhir/Patient/{sandee}"),
        format!("/fhir/Condition?patient={sandee}"),
        format!("/fhir/Patient/{sandee}/$everything"),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let some_condition = ids(&system, &format!("/fhir/Condition?patient={sandee}"))
        .await
        .into_iter()
        .next()
        .expect("Sandee has conditions");
    assert_eq!(
        api.get(&format!("/fhir/Condition/{some_condition}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    // $everything holds only the granted types.
    let everything = api
        .all(&format!("/fhir/Patient/{lucien}/$everything"))
        .await;
    let kinds: BTreeSet<&str> = everything
        .iter()
        .filter_map(|r| r["resourceType"].as_str())
        .collect();
    assert_eq!(kinds, BTreeSet::from(["Condition", "Patient"]));

    // The code works once; its reuse revokes what it issued.
    let (status, body) = exchange(&t, &app, &code, &verifier).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        api.get(&format!("/fhir/Patient/{lucien}")).await.0,
        StatusCode::UNAUTHORIZED
    );

    // With everything granted, another record is still not found: every type, by search and by
    // id, and its $everything.
    let (code, verifier) =
        code_for(&t, &browser, &app, "launch/patient patient/*.read", None).await;
    let (_, tokens) = exchange(&t, &app, &code, &verifier).await;
    let everything_granted = Api {
        t: &t,
        token: tokens["access_token"].as_str().expect("token").to_string(),
    };
    for (resource_type, _) in portal_fhir::search::SERVED {
        if !portal_fhir::search::in_patient_compartment(resource_type) {
            continue;
        }
        let path = format!("/fhir/{resource_type}?patient={sandee}");
        let (status, body) = everything_granted.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        let theirs = ids(&system, &path).await;
        if let Some(id) = theirs.iter().next() {
            let path = format!("/fhir/{resource_type}/{id}");
            assert_eq!(
                everything_granted.get(&path).await.0,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let mine = format!("/fhir/{resource_type}?patient={lucien}");
        assert_eq!(
            everything_granted.get(&mine).await.0,
            StatusCode::OK,
            "{mine}"
        );
    }
    assert_eq!(
        everything_granted
            .get(&format!("/fhir/Patient/{sandee}/$everything"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The access log names the app.
    let log = t
        .get(&browser, &format!("/patients/{lucien}/access-log"))
        .await
        .text()
        .await
        .expect("log");
    assert!(log.contains("Health Diary (a connected app)"), "{log}");
    t.stop().await;
}

async fn refresh_tokens_rotate_and_a_replay_revokes_the_family(backend: Backend) {
    let Some((t, lucien, browser, _)) = setup(backend).await else {
        return;
    };
    let app = register(&t, true).await;
    let (code, verifier) = code_for(
        &t,
        &browser,
        &app,
        "launch/patient offline_access patient/Patient.rs",
        None,
    )
    .await;
    // A wrong verifier or a wrong secret gets nothing.
    let (status, body) = exchange(&t, &app, &code, &format!("{verifier}x")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (code, verifier) = code_for(
        &t,
        &browser,
        &app,
        "launch/patient offline_access patient/Patient.rs",
        None,
    )
    .await;
    let impostor = TestClient {
        id: app.id.clone(),
        secret: Some("pps_wrong".into()),
    };
    let (status, _, body) = back_channel(
        &t,
        &impostor,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (status, first) = exchange(&t, &app, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let old_refresh = first["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let refresh = |token: String| {
        let t = &t;
        let app = &app;
        async move {
            back_channel(
                t,
                app,
                "/oauth/token",
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    let (status, headers, second) = refresh(old_refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(headers["cache-control"], "no-store");
    let new_refresh = second["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_string();
    assert_ne!(new_refresh, old_refresh);
    let access = second["access_token"].as_str().expect("access").to_string();
    let api = Api {
        t: &t,
        token: access.clone(),
    };
    assert_eq!(
        api.get(&format!("/fhir/Patient/{lucien}")).await.0,
        StatusCode::OK
    );
    // Introspection tells a live token from a dead one.
    let (_, _, live) = back_channel(&t, &app, "/oauth/introspect", &[("token", &access)]).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["patient"], lucien.as_str());
    // The old refresh token again: the whole family ends.
    let (status, _, replay) = refresh(old_refresh).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        api.get(&format!("/fhir/Patient/{lucien}")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = refresh(new_refresh).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for token in [access.as_str(), "ppa_unknown", ""] {
        let (_, _, dead) = back_channel(&t, &app, "/oauth/introspect", &[("token", token)]).await;
        assert_eq!(dead, serde_json::json!({ "active": false }), "{token}");
    }

    // Revocation takes effect at once.
    let (code, verifier) = code_for(&t, &browser, &app, "patient/Patient.rs", None).await;
    let (_, tokens) = exchange(&t, &app, &code, &verifier).await;
    let access = tokens["access_token"].as_str().expect("access").to_string();
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh"
    );
    let api = Api {
        t: &t,
        token: access.clone(),
    };
    assert_eq!(
        api.get(&format!("/fhir/Patient/{lucien}")).await.0,
        StatusCode::OK
    );
    let (status, _, _) = back_channel(&t, &app, "/oauth/revoke", &[("token", &access)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("/fhir/Patient/{lucien}")).await.0,
        StatusCode::UNAUTHORIZED
    );
    t.stop().await;
}

async fn granular_scopes_give_exactly_the_matching_resources(backend: Backend) {
    let Some((t, lucien, browser, reader)) = setup(backend).await else {
        return;
    };
    let app = register(&t, false).await;
    let system = Api {
        t: &t,
        token: reader,
    };
    let scope = format!("launch/patient patient/Observation.rs?category={LAB} patient/Condition.r");
    let (code, verifier) = code_for(&t, &browser, &app, &scope, None).await;
    let (status, tokens) = exchange(&t, &app, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let api = Api {
        t: &t,
        token: tokens["access_token"].as_str().expect("token").to_string(),
    };
    let labs = ids(
        &system,
        &format!("/fhir/Observation?patient={lucien}&category={LAB}"),
    )
    .await;
    let all = ids(&system, &format!("/fhir/Observation?patient={lucien}")).await;
    assert!(!labs.is_empty() && labs.len() < all.len());
    assert_eq!(
        ids(&api, &format!("/fhir/Observation?patient={lucien}")).await,
        labs
    );
    let vitals = "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs";
    assert!(
        ids(
            &api,
            &format!("/fhir/Observation?patient={lucien}&category={vitals}")
        )
        .await
        .is_empty()
    );
    let lab = labs.iter().next().expect("a lab");
    assert_eq!(
        api.get(&format!("/fhir/Observation/{lab}")).await.0,
        StatusCode::OK
    );
    let other = all.difference(&labs).next().expect("not a lab");
    assert_eq!(
        api.get(&format!("/fhir/Observation/{other}")).await.0,
        StatusCode::NOT_FOUND
    );
    // Conditions may be read by id but not searched.
    let condition = ids(&system, &format!("/fhir/Condition?patient={lucien}"))
        .await
        .into_iter()
        .next()
        .expect("a condition");
    assert_eq!(
        api.get(&format!("/fhir/Condition/{condition}")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.get(&format!("/fhir/Condition?patient={lucien}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // The Account page lists the app, what it sees and when it read; disconnecting ends it.
    let account = t
        .get(&browser, "/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(account.contains("Connected apps") && account.contains("Health Diary"));
    assert!(account.contains("Test results, vital signs and other measurements"));
    assert!(account.contains("Health problems and diagnoses"));
    assert!(!account.contains("Last read: Not yet"), "it has read");
    let grant = account
        .split("name=\"grant\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a grant")
        .to_string();
    // Another account cannot end it.
    let stranger = t.sign_in(portal_domain::Role::Patient).await;
    let r = t
        .post_form(
            &stranger,
            "/account",
            "/account/apps/disconnect",
            &[("grant", &grant)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        api.get(&format!("/fhir/Observation/{lab}")).await.0,
        StatusCode::OK
    );
    let r = t
        .post_form(
            &browser,
            "/account",
            "/account/apps/disconnect",
            &[("grant", &grant)],
        )
        .await;
    assert_eq!(location(&r), "/account?done=app");
    assert_eq!(
        api.get(&format!("/fhir/Observation/{lab}")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let account = t
        .get(&browser, "/account")
        .await
        .text()
        .await
        .expect("page");
    assert!(!account.contains("Health Diary"));
    t.stop().await;
}

/// An unmodified SMART client from PyPI (`fhirclient`, run by the interpreter in
/// `PORTAL_SMART_CLIENT`, which `scripts/test` always sets) launches standalone: it signs in
/// through the portal's forms with the second factor, picks the record it acts for as a proxy on
/// the consent page, and reads exactly the patient's lab Observations.
async fn an_unmodified_smart_client_launches_and_reads_labs(backend: Backend) {
    let Ok(python) = std::env::var("PORTAL_SMART_CLIENT") else {
        return;
    };
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let lucien = import(&t, "lucien-bosco.json").await;
    let lucien_id: portal_domain::PatientId = lucien.parse().expect("id");
    t.app
        .link_demo_records(&mut t.demo, &[lucien_id], &[])
        .await
        .expect("the demo patient acts for Lucien");
    let given: String = sqlx::query_scalar("SELECT given_name FROM patients WHERE id = $1")
        .bind(&lucien)
        .fetch_one(t.app.store().pool())
        .await
        .expect("name");
    let app = register(&t, false).await;
    let account = t.account(portal_domain::Role::Patient).clone();
    t.advance(jiff::SignedDuration::from_secs(30));
    let code = t.totp_code(&account.totp_secret);
    let script =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/smart_client/launch.py");
    let envs = [
        ("PORTAL_URL", t.url.clone()),
        ("CLIENT_ID", app.id.clone()),
        ("REDIRECT_URI", REDIRECT.to_string()),
        ("EMAIL", account.email.clone()),
        ("PASSWORD", account.password.clone()),
        ("TOTP_CODE", code),
        ("PATIENT_NAME", given),
    ];
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(&python)
            .arg(script)
            .envs(envs)
            .output()
    })
    .await
    .expect("joined")
    .expect("the SMART client ran");
    assert!(
        out.status.success(),
        "the SMART client failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let read: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let system = Api {
        t: &t,
        token: read_token(&t).await,
    };
    let labs = ids(
        &system,
        &format!("/fhir/Observation?patient={lucien}&category={LAB}"),
    )
    .await;
    assert!(!labs.is_empty());
    assert_eq!(read, labs);
    t.stop().await;
}

/// The person may refuse (the app hears `access_denied` with its state, and nothing is
/// granted); a request belongs to the first account that opens it and expires.
async fn a_request_is_refused_expires_and_belongs_to_one_account(backend: Backend) {
    let Some((t, _lucien, browser, _)) = setup(backend).await else {
        return;
    };
    let app = register(&t, false).await;
    let (_, challenge) = pkce();
    let path = authorize_path(
        &t,
        &app.id,
        "launch/patient patient/*.read",
        "keep-me",
        &challenge,
    );
    let r = t.get(&browser, &path).await;
    assert_eq!(location(&r), "/oauth/consent");
    let r = t
        .post_form(
            &browser,
            "/oauth/consent",
            "/oauth/consent",
            &[("decision", "deny")],
        )
        .await;
    let answer = answer_of(&r);
    assert_eq!(param(&answer, "error"), Some("access_denied"));
    assert_eq!(param(&answer, "state"), Some("keep-me"));
    assert_eq!(t.count("smart_grants").await, 0);
    // Answered once: the page is gone.
    let r = t.get(&browser, "/oauth/consent").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Allowing with nothing ticked is refused as such, and grants nothing.
    let r = t.get(&browser, &path).await;
    assert_eq!(location(&r), "/oauth/consent");
    let html = t
        .get(&browser, "/oauth/consent")
        .await
        .text()
        .await
        .expect("page");
    let patient = html
        .split("name=\"patient\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the record")
        .to_string();
    let r = t
        .post_form(
            &browser,
            "/oauth/consent",
            "/oauth/consent",
            &[("decision", "allow"), ("patient", &patient)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Choose at least one kind")
    );
    assert_eq!(t.count("smart_grants").await, 0);
    // A record the person may not connect is not found.
    let other = t.patient("Marcus Chen").to_string();
    let r = t
        .post_form(
            &browser,
            "/oauth/consent",
            "/oauth/consent",
            &[
                ("decision", "allow"),
                ("patient", &other),
                ("type", "Patient"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("smart_grants").await, 0);

    // Another account with the same request in its cookie cannot answer it.
    let r = t.get(&browser, &path).await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("portal_smart_request="))
        .and_then(|v| v.split(';').next())
        .expect("the request's cookie")
        .to_string();
    assert_eq!(
        t.get(&browser, "/oauth/consent").await.status(),
        StatusCode::OK
    );
    let request = cookie
        .strip_prefix("portal_smart_request=")
        .expect("the request id")
        .to_string();
    let sofia_user: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'patient@demo.portal.test'")
            .fetch_one(t.app.store().pool())
            .await
            .expect("Sofia's account");
    let stranger = Actor::new(
        portal_domain::Principal::User {
            id: sofia_user.parse().expect("id"),
            role: portal_domain::Role::Patient,
            own_patient: Some(t.patient("Sofia Martinez")),
        },
        portal_domain::audit::RequestContext {
            client_addr: "test".into(),
            user_agent: "test".into(),
            request_id: String::new(),
        },
    );
    assert!(matches!(
        t.app.smart().consent(&stranger, &request).await,
        Err(portal_app::Error::NotFound)
    ));

    // Half an hour later (signing in again) the request has expired.
    t.advance(jiff::SignedDuration::from_mins(31));
    let r = t
        .post_form(
            &browser,
            "/signin",
            "/signin",
            &[
                ("email", "lucien@example.test"),
                ("password", "violet kettle orbit 9"),
            ],
        )
        .await;
    assert_eq!(
        location(&r),
        "/oauth/consent",
        "back to the waiting request"
    );
    let r = t.get(&browser, "/oauth/consent").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("This request has expired")
    );
    t.stop().await;
}

/// Admins register apps on a page (the secret shown once, kept hashed); nobody else may.
async fn admins_register_apps_on_their_page(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    use portal_domain::Role;
    for role in [Role::Patient, Role::Clinician, Role::Staff] {
        let c = t.sign_in(role).await;
        let r = t.get(&c, "/admin/apps").await;
        assert!(
            matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{role}: {}",
            r.status()
        );
    }
    let admin = t.sign_in(Role::Admin).await;
    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            "/admin/apps",
            &[
                ("name", "Clinic Notes"),
                ("redirect_uris", "http://evil.example/cb"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("is not a redirect URI")
    );
    assert_eq!(t.count("smart_apps").await, 0);
    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            "/admin/apps",
            &[
                ("name", "Clinic Notes"),
                (
                    "redirect_uris",
                    "https://notes.example/cb\nhttp://localhost:9000/cb",
                ),
                ("confidential", "1"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    let secret = page
        .split("Client secret: <code>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the secret, once")
        .to_string();
    assert!(secret.starts_with("pps_"));
    let again = t
        .get(&admin, "/admin/apps")
        .await
        .text()
        .await
        .expect("page");
    assert!(again.contains("Clinic Notes") && again.contains("https://notes.example/cb"));
    assert!(!again.contains(&secret), "shown only once");
    let stored: String = sqlx::query_scalar("SELECT secret_hash FROM smart_apps")
        .fetch_one(t.app.store().pool())
        .await
        .expect("row");
    assert_ne!(stored, secret);
    t.stop().await;
}

/// Admins create API tokens on the Apps page (shown once, kept hashed) and revoke them: the
/// next request with a revoked token is refused; both are audited; nobody else may; `portal
/// token revoke` goes through the same service.
async fn admins_create_and_revoke_api_tokens(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    use portal_domain::Role;
    let admin = t.sign_in(Role::Admin).await;
    for role in [Role::Patient, Role::Clinician, Role::Staff] {
        let c = t.sign_in(role).await;
        let r = t
            .post_form(
                &c,
                "/account",
                "/admin/apps/tokens",
                &[("name", "Sneaky"), ("write", "1")],
            )
            .await;
        assert!(
            matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
            "{role}: {}",
            r.status()
        );
    }
    assert_eq!(t.count("api_tokens").await, 0);
    // Neither scope chosen: a clear error, nothing stored.
    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            "/admin/apps/tokens",
            &[("name", "Lab system")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.expect("page");
    assert!(page.contains("The token was not created"), "{page}");
    assert!(
        page.contains("value=\"Lab system\""),
        "what was typed is kept"
    );
    assert_eq!(t.count("api_tokens").await, 0);
    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            "/admin/apps/tokens",
            &[("name", "Lab system"), ("read", "1")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.expect("page");
    let token = page
        .split("Token: <code class=\"secret\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the token, once")
        .to_string();
    assert!(token.starts_with("ppt_"));
    let id: String = sqlx::query_scalar("SELECT id FROM api_tokens")
        .fetch_one(t.app.store().pool())
        .await
        .expect("row");
    let api = crate::fhir_read::Api {
        t: &t,
        token: token.clone(),
    };
    let sofia = t.patient("Sofia Martinez");
    let (status, _) = api.get(&format!("/fhir/Patient/{sofia}")).await;
    assert_eq!(status, StatusCode::OK, "the new token reads");
    let listed = t
        .get(&admin, "/admin/apps")
        .await
        .text()
        .await
        .expect("page");
    assert!(listed.contains("Lab system") && listed.contains(&id));
    assert!(!listed.contains(&token), "shown only once");

    // A wrong id is not found; staff may not revoke.
    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            "/admin/apps/tokens/not-an-id/revoke",
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let staff = t.sign_in(Role::Staff).await;
    let r = t
        .post_form(
            &staff,
            "/account",
            &format!("/admin/apps/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert!(matches!(
        r.status(),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ));
    let (status, _) = api.get(&format!("/fhir/Patient/{sofia}")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "still working after the refused revocation"
    );

    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            &format!("/admin/apps/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = t
        .get(&admin, &crate::helpers::location(&r))
        .await
        .text()
        .await
        .expect("page");
    assert!(
        page.contains("is revoked: the system using it can no longer"),
        "{page}"
    );
    assert!(page.contains("Revoked "));
    let response = t
        .client()
        .get(format!("{}/fhir/Patient/{sofia}", t.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET");
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    // Revoking again changes nothing.
    let r = t
        .post_form(
            &admin,
            "/admin/apps",
            &format!("/admin/apps/tokens/{id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let events: Vec<(String, String)> = sqlx::query_as(
        "SELECT action, detail FROM audit_events WHERE resource_type = 'ApiToken' \
         AND resource_id = $1 ORDER BY seq",
    )
    .bind(&id)
    .fetch_all(t.app.store().pool())
    .await
    .expect("events");
    assert_eq!(
        events,
        [
            ("create".to_string(), "scopes system/*.read".to_string()),
            ("delete".to_string(), "revoked".to_string())
        ]
    );
    t.stop().await;
}

both_backends!(
    admins_create_and_revoke_api_tokens,
    a_request_is_refused_expires_and_belongs_to_one_account,
    admins_register_apps_on_their_page,
    an_unmodified_smart_client_launches_and_reads_labs,
    discovery_names_the_endpoints_and_s256_only,
    authorization_requests_are_checked_before_anything_is_shared,
    a_launch_grants_exactly_what_the_patient_allowed,
    refresh_tokens_rotate_and_a_replay_revokes_the_family,
    granular_scopes_give_exactly_the_matching_resources,
);
