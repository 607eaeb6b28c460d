//! Appointments through the real server on SQLite and PostgreSQL: finding and booking a time,
//! the race for one time, overlaps of different lengths, the booking rules (notice, horizon,
//! who may book what, the cancellation cut-off), moving and cancelling, another patient's
//! appointment, the clinic's schedule and the admin's set-up.

use crate::auth::mail_files;
use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::{Client, StatusCode};
use sqlx::Row;

/// The id of the demo's kind of visit named `name`.
pub(crate) async fn visit_type(t: &TestApp, name: &str) -> String {
    sqlx::query("SELECT id FROM visit_types WHERE name = $1")
        .bind(name)
        .fetch_one(t.app.store().pool())
        .await
        .expect("visit type")
        .try_get("id")
        .expect("id")
}

/// The value of the hidden input `name` on a page.
pub(crate) fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// Every open time a finder page offers (the radio values).
pub(crate) fn slots(html: &str) -> Vec<String> {
    html.match_indices("name=\"slot\" id=\"slot-")
        .filter_map(|(at, _)| {
            let rest = &html[at..];
            let start = rest.find("value=\"")? + 7;
            let end = rest[start..].find('"')?;
            Some(rest[start..start + end].to_string())
        })
        .collect()
}

/// The finder for `kind` in `patient`'s record: its HTML.
pub(crate) async fn finder(
    t: &TestApp,
    c: &Client,
    patient: PatientId,
    kind: &str,
    extra: &str,
) -> String {
    let r = t
        .get(
            c,
            &format!("/patients/{patient}/appointments/new?visit_type={kind}{extra}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "finder");
    r.text().await.expect("body")
}

/// Books `slot` of `kind` for `patient` with the finder's key; answers the response.
pub(crate) async fn book(
    t: &TestApp,
    c: &Client,
    patient: PatientId,
    kind: &str,
    slot: &str,
    key: &str,
) -> reqwest::Response {
    t.post_form(
        c,
        &format!("/patients/{patient}/appointments"),
        &format!("/patients/{patient}/appointments"),
        &[
            ("visit_type", kind),
            ("slot", slot),
            ("reason", "Knee pain since March"),
            ("book_key", key),
        ],
    )
    .await
}

pub(crate) fn new_key() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The appointment a booking redirected to.
pub(crate) fn booked(r: &reqwest::Response) -> String {
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "booked");
    let to = location(r);
    to.split('?').next().expect("path").to_string()
}

async fn a_patient_finds_a_time_books_it_and_gets_a_calendar_file(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let c = t.sign_in(Role::Patient).await;
    let kind = visit_type(&t, "New patient visit").await;
    let html = finder(&t, &c, sofia, &kind, "").await;
    assert!(html.contains("Open times for New patient visit"), "{html}");
    let offered = slots(&html);
    assert!(offered.len() > 20, "{} times offered", offered.len());
    let key = hidden(&html, "book_key").expect("key");
    let before = mail_files(&t).len();
    let r = book(&t, &c, sofia, &kind, &offered[0], &key).await;
    let page = booked(&r);
    let shown = t.get(&c, &format!("{page}?booked=1")).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let body = shown.text().await.expect("body");
    assert!(body.contains("Your appointment is booked"), "{body}");
    assert!(body.contains("Knee pain since March"));
    assert!(body.contains("Dr. "), "the clinician is named");

    // The same form sent again books nothing more.
    let again = book(&t, &c, sofia, &kind, &offered[0], &key).await;
    assert_eq!(booked(&again), page);
    assert_eq!(t.count("appointments").await, 1);

    // The list shows it as upcoming; the calendar file has its time and none of its reason.
    let list = t
        .get(&c, &format!("/patients/{sofia}/appointments"))
        .await
        .text()
        .await
        .expect("list");
    assert!(list.contains(&page), "listed");
    let ics = t.get(&c, &format!("{page}/appointment.ics")).await;
    assert_eq!(ics.status(), StatusCode::OK);
    assert!(
        ics.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/calendar")
    );
    let ics = ics.text().await.expect("ics");
    assert!(
        ics.contains("BEGIN:VEVENT") && ics.contains("DTSTART:"),
        "{ics}"
    );
    assert!(!ics.contains("Knee"), "no reason in the calendar file");

    // The e-mail: sent to the patient, with the calendar file, without the reason.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mail = loop {
        let files = mail_files(&t);
        if files.len() > before {
            break std::fs::read_to_string(files.last().expect("file")).expect("mail");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no confirmation e-mail"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(mail.contains("is booked"), "{mail}");
    assert!(mail.contains("appointment.ics"), "{mail}");
    assert!(!mail.contains("Knee"), "no health data in the e-mail");
    assert!(
        !mail.contains("New patient"),
        "no kind of visit in the e-mail"
    );

    // Audited as a creation in the patient's record.
    let events: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE action = 'create' \
         AND resource_type = 'Appointment' AND patient_id = $1",
    )
    .bind(sofia.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n");
    assert_eq!(events, 1);
    t.stop().await;
}

async fn fifty_requests_for_one_time_book_it_once_and_the_others_get_the_nearest_free_times(
    backend: Backend,
) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let c = t.sign_in(Role::Patient).await;
    let kind = visit_type(&t, "Video visit").await;
    let html = finder(&t, &c, sofia, &kind, "").await;
    let slot = slots(&html)[3].clone();
    let csrf = crate::helpers::csrf_in(&html).expect("csrf");
    let requests = (0..50).map(|n| {
        let c = c.clone();
        let url = t.url.clone();
        let kind = kind.clone();
        let slot = slot.clone();
        let csrf = csrf.clone();
        let patient = if n % 2 == 0 { sofia } else { leo };
        tokio::spawn(async move {
            let key = new_key();
            let r = c
                .post(format!("{url}/patients/{patient}/appointments"))
                .form(&[
                    ("visit_type", kind.as_str()),
                    ("slot", slot.as_str()),
                    ("reason", "Cough"),
                    ("book_key", key.as_str()),
                    ("csrf", csrf.as_str()),
                ])
                .send()
                .await
                .expect("POST");
            let status = r.status();
            (status, r.text().await.expect("body"))
        })
    });
    let mut won = 0;
    let mut lost = 0;
    for h in requests.collect::<Vec<_>>() {
        let (status, body) = h.await.expect("task");
        match status {
            StatusCode::SEE_OTHER => won += 1,
            StatusCode::CONFLICT => {
                assert!(body.contains("That time was just taken"), "{body}");
                assert!(!slots(&body).is_empty(), "alternatives offered");
                assert!(!slots(&body).contains(&slot), "not the taken time");
                lost += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((won, lost), (1, 49));
    assert_eq!(t.count("appointments").await, 1);
    t.stop().await;
}

async fn a_visit_cannot_overlap_another_of_a_different_length(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let c = t.sign_in(Role::Patient).await;
    let long = visit_type(&t, "New patient visit").await;
    let short = visit_type(&t, "Video visit").await;
    let html = finder(&t, &c, sofia, &long, "").await;
    let first = slots(&html)[0].clone();
    let r = book(
        &t,
        &c,
        sofia,
        &long,
        &first,
        &hidden(&html, "book_key").expect("key"),
    )
    .await;
    booked(&r);
    // The 20-minute visit starting 20 minutes into the 40-minute one (same clinician).
    let mut parts = first.split('|');
    let (who, place, at) = (
        parts.next().expect("clinician"),
        parts.next().expect("location"),
        parts.next().expect("time").parse::<i64>().expect("seconds"),
    );
    let inside = format!("{who}|{place}|{}", at + 20 * 60);
    let html = finder(&t, &c, leo, &short, "").await;
    assert!(!slots(&html).contains(&inside), "not offered");
    let r = book(&t, &c, leo, &short, &inside, &new_key()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(t.count("appointments").await, 1);
    // Right after it ends is free.
    let after = format!("{who}|{place}|{}", at + 40 * 60);
    booked(&book(&t, &c, leo, &short, &after, &new_key()).await);
    t.stop().await;
}

async fn the_booking_rules_hold_notice_horizon_audience_and_the_schedule(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let c = t.sign_in(Role::Patient).await;
    let video = visit_type(&t, "Video visit").await;
    let follow_up = visit_type(&t, "Follow-up visit").await;
    let html = finder(&t, &c, sofia, &video, "").await;
    let first = slots(&html)[0].clone();
    let mut parts = first.split('|');
    let (who, place) = (
        parts.next().expect("clinician").to_string(),
        parts.next().expect("location").to_string(),
    );
    let now = t.app.now().as_second();
    let inside_notice = format!("{who}|{place}|{}", now - now % 300 + 3600);
    let past_horizon = format!("{who}|{place}|{}", now - now % 300 + 61 * 86_400);
    let off_schedule = format!(
        "{who}|{place}|{}",
        now - now % 300 + 86_400 + 3 * 3600 + 300
    );
    for (slot, words) in [
        (inside_notice, "can no longer be booked online"),
        (past_horizon, "can no longer be booked online"),
        (off_schedule, "schedule. Choose one of the times offered"),
        ("garbage".to_string(), "Choose one of the times offered"),
    ] {
        let r = book(&t, &c, sofia, &video, &slot, &new_key()).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{slot}");
        let body = r.text().await.expect("body");
        assert!(body.contains(words), "{slot}: {body}");
    }
    // A new patient may not book a follow-up: the finder says so and a post is refused.
    let html = finder(&t, &c, sofia, &follow_up, "").await;
    assert!(
        html.contains("for patients the clinic has seen before"),
        "{html}"
    );
    assert!(slots(&html).is_empty());
    let r = book(&t, &c, sofia, &follow_up, &first, &new_key()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // No reason, no booking.
    let r = t
        .post_form(
            &c,
            &format!("/patients/{sofia}/appointments"),
            &format!("/patients/{sofia}/appointments"),
            &[
                ("visit_type", &video),
                ("slot", &first),
                ("reason", "  "),
                ("book_key", &new_key()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("appointments").await, 0);
    // The clinic may book any kind of visit, and inside the patient's notice.
    let staff = t.sign_in(Role::Staff).await;
    let html = finder(&t, &staff, sofia, &follow_up, "").await;
    let times = slots(&html);
    assert!(!times.is_empty(), "the clinic books follow-ups");
    booked(&book(&t, &staff, sofia, &follow_up, &times[0], &new_key()).await);
    t.stop().await;
}

async fn patients_move_and_cancel_until_the_cut_off_and_then_must_call(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let c = t.sign_in(Role::Patient).await;
    let video = visit_type(&t, "Video visit").await;
    let html = finder(&t, &c, sofia, &video, "").await;
    // A time more than a day ahead, outside the 24-hour cut-off.
    let later = t.app.now().as_second() + 2 * 86_400;
    let times: Vec<String> = slots(&html)
        .into_iter()
        .filter(|s| s.rsplit('|').next().and_then(|t| t.parse::<i64>().ok()) > Some(later))
        .collect();
    let page = booked(&book(&t, &c, sofia, &video, &times[0], &new_key()).await);

    // Move it to a later time: the old one is "moved", its time free again.
    let moving = t
        .get(&c, &format!("{page}/move"))
        .await
        .text()
        .await
        .expect("move");
    assert!(moving.contains("Move to this time"), "{moving}");
    let target = slots(&moving)[5].clone();
    let id = page.rsplit('/').next().expect("id").to_string();
    let r = t
        .post_form(
            &c,
            &format!("{page}/move"),
            &format!("/patients/{sofia}/appointments"),
            &[
                ("visit_type", &video),
                ("slot", &target),
                ("reason", "moved"),
                ("book_key", &hidden(&moving, "book_key").expect("key")),
                ("moving", &id),
            ],
        )
        .await;
    let moved_to = booked(&r);
    assert_ne!(moved_to, page);
    let old = t.get(&c, &page).await.text().await.expect("old");
    assert!(old.contains("Moved to another time"), "{old}");
    let html = finder(&t, &c, sofia, &video, "").await;
    assert!(
        slots(&html).contains(&times[0]),
        "the old time is free again"
    );
    let new = t.get(&c, &moved_to).await.text().await.expect("new");
    assert!(
        new.contains("Knee pain since March"),
        "the reason moved along"
    );

    // Inside the cut-off the patient is told to call; the clinic may still cancel.
    let start: i64 = target.rsplit('|').next().expect("t").parse().expect("secs");
    let now = t.app.now().as_second();
    t.advance(SignedDuration::from_secs(start - now - 3600));
    let c = t.sign_in(Role::Patient).await;
    let shown = t.get(&c, &moved_to).await.text().await.expect("page");
    assert!(shown.contains("can no longer be changed online"), "{shown}");
    assert!(!shown.contains("Cancel this appointment"));
    let r = t
        .post_form(&c, &moved_to, &format!("{moved_to}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let staff = t.sign_in(Role::Staff).await;
    let r = t
        .post_form(&staff, &moved_to, &format!("{moved_to}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cancelled = t.get(&c, &moved_to).await.text().await.expect("page");
    assert!(cancelled.contains("Cancelled"), "{cancelled}");
    let units: i64 = sqlx::query("SELECT COUNT(*) AS n FROM appointment_units")
        .fetch_one(t.app.store().pool())
        .await
        .expect("units")
        .try_get("n")
        .expect("n");
    assert_eq!(units, 0, "cancelled and moved visits hold no time");
    t.stop().await;
}

async fn another_patients_appointment_is_not_found_anywhere(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let marcus = t.patient("Marcus Chen");
    let c = t.sign_in(Role::Patient).await;
    let video = visit_type(&t, "Video visit").await;
    let html = finder(&t, &c, sofia, &video, "").await;
    let page = booked(&book(&t, &c, sofia, &video, &slots(&html)[0], &new_key()).await);
    let id = page.rsplit('/').next().expect("id").to_string();
    // Through her son's record (hers to act for) and through a record she has no access to.
    for other in [leo, marcus] {
        let base = format!("/patients/{other}/appointments/{id}");
        for path in [
            base.clone(),
            format!("{base}/appointment.ics"),
            format!("{base}/move"),
        ] {
            let r = t.get(&c, &path).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        }
        let r = t.post_form(&c, &page, &format!("{base}/cancel"), &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        // Moving her appointment from another record books nothing.
        let r = t
            .post_form(
                &c,
                &page,
                &format!("/patients/{other}/appointments"),
                &[
                    ("visit_type", &video),
                    ("slot", &slots(&html)[4]),
                    ("reason", "x"),
                    ("book_key", &new_key()),
                    ("moving", &id),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // Marcus's record itself: not hers.
    let r = t.get(&c, &format!("/patients/{marcus}/appointments")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .get(&c, &format!("/patients/{marcus}/appointments/new"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("appointments").await, 1);
    let still = t.get(&c, &page).await.text().await.expect("page");
    assert!(still.contains("Booked"), "untouched");
    t.stop().await;
}

async fn the_clinic_sees_its_schedule_and_admins_set_it_up(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let c = t.sign_in(Role::Patient).await;
    let video = visit_type(&t, "Video visit").await;
    let html = finder(&t, &c, sofia, &video, "").await;
    let slot = slots(&html)[0].clone();
    booked(&book(&t, &c, sofia, &video, &slot, &new_key()).await);
    let start: i64 = slot.rsplit('|').next().expect("t").parse().expect("secs");
    let day = jiff::Timestamp::from_second(start)
        .expect("time")
        .to_zoned_datetime(jiff::tz::TimeZone::system())
        .date();

    let staff = t.sign_in(Role::Staff).await;
    let r = t
        .get(&staff, &format!("/schedule?date={day}&span=week"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.expect("schedule");
    assert!(body.contains("Sofia Martinez"), "who is booked");
    assert!(body.contains("Video visit"));
    // Patients and admins have no schedule.
    assert_eq!(t.get(&c, "/schedule").await.status(), StatusCode::FORBIDDEN);

    // Admins add a kind of visit and hours; staff may not.
    let admin = t.sign_in(Role::Admin).await;
    let page = t.get(&admin, "/admin/schedules").await;
    assert_eq!(page.status(), StatusCode::OK);
    let r = t
        .post_form(
            &admin,
            "/admin/schedules",
            "/admin/schedules/visit-types",
            &[
                ("type_name", "Annual physical"),
                ("minutes", "45"),
                ("audience", "established"),
                ("notice_hours", "24"),
                ("horizon_days", "90"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t
        .post_form(
            &admin,
            "/admin/schedules",
            "/admin/schedules/visit-types",
            &[("type_name", ""), ("minutes", "7"), ("audience", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = r.text().await.expect("errors");
    assert!(body.contains("steps of 5 minutes"), "{body}");
    let r = t
        .post_form(
            &staff,
            "/schedule",
            "/admin/schedules/visit-types",
            &[
                ("type_name", "Sneaky"),
                ("minutes", "20"),
                ("audience", "anyone"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let types: i64 = sqlx::query("SELECT COUNT(*) AS n FROM visit_types")
        .fetch_one(t.app.store().pool())
        .await
        .expect("types")
        .try_get("n")
        .expect("n");
    assert_eq!(types, 4, "the demo's three and the admin's one");
    t.stop().await;
}

both_backends!(
    a_patient_finds_a_time_books_it_and_gets_a_calendar_file,
    fifty_requests_for_one_time_book_it_once_and_the_others_get_the_nearest_free_times,
    a_visit_cannot_overlap_another_of_a_different_length,
    the_booking_rules_hold_notice_horizon_audience_and_the_schedule,
    patients_move_and_cancel_until_the_cut_off_and_then_must_call,
    another_patients_appointment_is_not_found_anywhere,
    the_clinic_sees_its_schedule_and_admins_set_it_up,
);
