//! The portal's own resources through the FHIR read API and the download: messages as
//! Communication, appointments as Appointment, and, for a record enrolled at the portal, its
//! Patient. Sofia's record here has no EHR data at all: everything served is the portal's.

use crate::appointments::{book, booked, finder, hidden, slots, visit_type};
use crate::both_backends;
use crate::fhir_read::{Api, collect_references, read_token};
use crate::helpers::TestApp;
use crate::messages::{conversation_of, pool, reply, start};
use portal_domain::Role;
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

async fn messages_and_appointments_are_served_as_part_of_the_record(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let r = start(
        &t,
        &patient,
        sofia,
        &pool(&t, "Nurse line").await,
        "Cough",
        "Dry cough since Monday.",
        &[("cough.png", crate::messages::PNG)],
    )
    .await;
    let thread = format!("/patients/{sofia}/messages/{}", conversation_of(&r));
    let r = t
        .post_form(
            &clinician,
            &thread,
            &format!("{thread}/note"),
            &[("note", "INTERNAL-7731 call her back")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = reply(&t, &clinician, &thread, "Please rest and drink fluids.").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let kind = visit_type(&t, "New patient visit").await;
    let html = finder(&t, &patient, sofia, &kind, "").await;
    let key = hidden(&html, "book_key").expect("key");
    let visit = booked(&book(&t, &patient, sofia, &kind, &slots(&html)[0], &key).await);
    let visit = visit.rsplit('/').next().expect("id").to_string();

    let api = Api {
        t: &t,
        token: read_token(&t).await,
    };
    let path = format!("/fhir/Communication?patient={sofia}");
    let messages = api.all(&path).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    let text = serde_json::to_string(&messages).expect("json");
    assert!(!text.contains("INTERNAL-7731"), "no internal note: {text}");
    let (first, second) = (&messages[0], &messages[1]);
    assert!(first["id"].as_str() < second["id"].as_str(), "in id order");
    assert_eq!(first["subject"]["reference"], format!("Patient/{sofia}"));
    assert_eq!(
        first["payload"][0]["contentString"],
        "Dry cough since Monday."
    );
    let file = &first["payload"][1]["contentAttachment"];
    assert_eq!(
        (file["title"].as_str(), file["contentType"].as_str()),
        (Some("cough.png"), Some("image/png"))
    );
    assert!(file.get("url").is_none(), "no link the API cannot answer");
    assert!(first.get("received").is_some(), "the clinic opened it");
    assert_eq!(first["recipient"][0]["display"], "Nurse line");
    assert!(
        first["recipient"][0].get("reference").is_none(),
        "pools are named, not linked"
    );
    assert_eq!(
        second["inResponseTo"][0]["reference"],
        format!("Communication/{}", first["id"].as_str().expect("id"))
    );
    assert!(
        second["sender"]["display"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(second["sender"].get("reference").is_none());
    // Read by id, the same resource.
    let (status, read) = api
        .get(&format!(
            "/fhir/Communication/{}",
            second["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&read, second);
    // Searched by their parameters, in memory as the index searches imported ones.
    for (query, expected) in [
        ("category=medical", 2),
        ("category=other", 0),
        ("sent=ge2020-01-01", 2),
        ("sent=lt2020-01-01", 0),
        ("status=completed", 2),
        ("_summary=count", 2),
    ] {
        assert_eq!(
            api.total(&format!("{path}&{query}")).await,
            expected,
            "{query}"
        );
    }
    let first_id = first["id"].as_str().expect("id");
    assert_eq!(api.total(&format!("{path}&_id={first_id}")).await, 1);
    // Another record holds none of them.
    assert_eq!(
        api.total(&format!(
            "/fhir/Communication?patient={marcus}&_id={first_id}"
        ))
        .await,
        0
    );

    let appointments = api.all(&format!("/fhir/Appointment?patient={sofia}")).await;
    assert_eq!(appointments.len(), 1);
    let a = &appointments[0];
    assert_eq!(
        (a["id"].as_str(), a["status"].as_str()),
        (Some(visit.as_str()), Some("booked"))
    );
    assert_eq!(a["reasonCode"][0]["text"], "Knee pain since March");
    assert_eq!(
        a["participant"][0]["actor"]["reference"],
        format!("Patient/{sofia}")
    );
    let base = format!("/fhir/Appointment?patient={sofia}");
    for (query, expected) in [
        ("status=booked", 1),
        ("status=cancelled", 0),
        ("date=ge2020-01-01", 1),
        ("date=lt2020-01-01", 0),
    ] {
        assert_eq!(
            api.total(&format!("{base}&{query}")).await,
            expected,
            "{query}"
        );
    }

    // The record enrolled at the portal has a Patient the portal writes.
    let (status, me) = api.get(&format!("/fhir/Patient/{sofia}")).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["name"][0]["family"], "Martinez");

    // $everything: the Patient, the messages, the appointment, in pages, nothing twice.
    let everything = api
        .all(&format!("/fhir/Patient/{sofia}/$everything?_count=2"))
        .await;
    let kinds: Vec<&str> = everything
        .iter()
        .map(|r| r["resourceType"].as_str().expect("type"))
        .collect();
    assert_eq!(everything.len(), 4, "{kinds:?}");
    let ids: BTreeSet<&str> = everything.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), 4);
    for kind in ["Patient", "Communication", "Appointment"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    // Every link resolves inside the portal.
    let mut links = BTreeSet::new();
    everything
        .iter()
        .for_each(|r| collect_references(r, &mut links));
    for link in &links {
        let (status, _) = api.get(&format!("/fhir/{link}")).await;
        assert_eq!(status, StatusCode::OK, "{link}");
    }
    crate::helpers::validate_us_core(&everything, "the portal's own resources");

    // A new message changes the answer at once (answers are kept by the record's version).
    let r = reply(&t, &patient, &thread, "Thank you.").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(api.total(&path).await, 3);
    // Cancelling changes the appointment's status (the first free time is inside the
    // patient's cut-off: the front desk cancels it).
    let staff = t.sign_in(Role::Staff).await;
    let r = t
        .post_form(
            &staff,
            &format!("/patients/{sofia}/appointments/{visit}"),
            &format!("/patients/{sofia}/appointments/{visit}/cancel"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "cancelled");
    let (_, a) = api.get(&format!("/fhir/Appointment/{visit}")).await;
    assert_eq!(a["status"], "cancelled");

    // Unknown ids and another record's are not found alike.
    for path in [
        format!("/fhir/Communication/{}", uuid::Uuid::now_v7()),
        format!("/fhir/Appointment/{}", uuid::Uuid::now_v7()),
        format!("/fhir/MedicationRequest/{}", uuid::Uuid::now_v7()),
        format!("/fhir/Patient/{}", uuid::Uuid::now_v7()),
    ] {
        let (status, body) = api.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["resourceType"], "OperationOutcome");
    }

    // The patient's download holds the same resources, and no internal note.
    let r = t
        .get(&patient, &format!("/patients/{sofia}/download/record.json"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let file: Value = serde_json::from_str(&r.text().await.expect("file")).expect("json");
    let held: Vec<&str> = file["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["resource"]["resourceType"].as_str())
        .collect();
    assert_eq!(
        held.iter().filter(|k| **k == "Communication").count(),
        3,
        "{held:?}"
    );
    assert_eq!(held.iter().filter(|k| **k == "Appointment").count(), 1);
    assert_eq!(held.iter().filter(|k| **k == "Patient").count(), 1);
    assert!(!file.to_string().contains("INTERNAL-7731"));
    t.stop().await;
}

both_backends!(messages_and_appointments_are_served_as_part_of_the_record);
