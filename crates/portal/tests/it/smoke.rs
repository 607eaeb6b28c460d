//! The portal starts, answers its health checks, and a patient can sign in with TOTP.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use portal_domain::Role;
use portal_store::Backend;
use reqwest::StatusCode;

async fn health_endpoints_answer(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.client();
    assert_eq!(t.get(&c, "/healthz").await.status(), StatusCode::OK);
    assert_eq!(t.get(&c, "/readyz").await.status(), StatusCode::OK);
    assert_eq!(t.get(&c, "/metrics").await.status(), StatusCode::NOT_FOUND);
    let metrics = c
        .get(format!("{}/metrics", t.metrics_url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    assert!(metrics.contains("portal_sign_ins_total"));
    assert!(!metrics.contains("Sofia"), "no health data in metrics");
    t.stop().await;
}

async fn patient_signs_in_with_totp_and_sees_their_home(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    let r = t.get(&c, "/").await;
    let sofia = t.patient("Sofia Martinez");
    assert_eq!(location(&r), format!("/patients/{sofia}"));
    let page = t.get(&c, &format!("/patients/{sofia}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.expect("body");
    assert!(html.contains("Welcome, Sofia"));
    t.stop().await;
}

both_backends!(
    health_endpoints_answer,
    patient_signs_in_with_totp_and_sees_their_home
);
