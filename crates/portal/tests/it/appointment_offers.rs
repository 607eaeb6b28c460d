//! Earlier-time offers and reminders through the real server on SQLite and PostgreSQL, with a
//! second portal on the same database: a freed time is offered to the waiting visits, two
//! patients accepting at once through different portals give it to exactly one, the winner's old
//! time is offered in turn; each reminder goes once whichever portal claims it, never for a
//! cancelled visit nor to an account that turned reminders off.

use crate::appointments::{book, booked, finder, new_key, slots, visit_type};
use crate::both_backends;
use crate::helpers::{TestApp, csrf_in};
use jiff::SignedDuration;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::{Client, StatusCode};
use sqlx::Row;

/// The first offered time starting more than `days` days from the portal's now.
fn after_days(t: &TestApp, times: &[String], days: i64) -> String {
    let limit = t.app.now().as_second() + days * 86_400;
    times
        .iter()
        .find(|s| {
            s.rsplit('|')
                .next()
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|at| at > limit)
        })
        .cloned()
        .unwrap_or_else(|| panic!("no time {days} days ahead"))
}

/// The appointment id a booking page path ends with.
fn id_of(page: &str) -> String {
    page.rsplit('/').next().expect("id").to_string()
}

async fn scalar(t: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_one(t.app.store().pool())
        .await
        .expect("query")
        .try_get("n")
        .expect("n")
}

async fn text(t: &TestApp, sql: &str, bind: &str) -> String {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind)
        .fetch_one(t.app.store().pool())
        .await
        .expect("query")
        .try_get("v")
        .expect("v")
}

/// Books a video visit for `patient` at the first time more than `days` days ahead.
pub(crate) async fn book_at(t: &TestApp, c: &Client, patient: PatientId, days: i64) -> String {
    let video = visit_type(t, "Video visit").await;
    let mut from = String::new();
    for page in 0..6 {
        let html = finder(t, c, patient, &video, &from).await;
        let times = slots(&html);
        let limit = t.app.now().as_second() + days * 86_400;
        if times
            .last()
            .and_then(|s| s.rsplit('|').next()?.parse::<i64>().ok())
            .is_some_and(|last| last > limit)
        {
            let slot = after_days(t, &times, days);
            return booked(&book(t, c, patient, &video, &slot, &new_key()).await);
        }
        let day = t.app.now() + SignedDuration::from_hours(24 * 14 * (page + 1));
        from = format!(
            "&from={}",
            day.to_zoned_datetime(jiff::tz::TimeZone::system()).date()
        );
    }
    panic!("no time {days} days ahead");
}

async fn waitlist(t: &TestApp, c: &Client, page: &str) {
    let r = t
        .post_form(
            c,
            page,
            &format!("{page}/waitlist"),
            &[("change", "join"), ("any_clinician", "yes")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let shown = t.get(c, page).await.text().await.expect("page");
    assert!(
        shown.contains("You are on the list for an earlier time"),
        "{shown}"
    );
}

async fn a_freed_time_goes_to_the_first_waiting_patient_to_accept_it(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let other = t.another_portal().await;
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let marcus = t.patient("Marcus Chen");
    let c = t.sign_in(Role::Patient).await;
    let staff = t.sign_in(Role::Staff).await;

    let sofias = book_at(&t, &c, sofia, 10).await;
    let leos = book_at(&t, &c, leo, 12).await;
    waitlist(&t, &c, &sofias).await;
    waitlist(&t, &c, &leos).await;
    // Someone else's earlier visit, then cancelled by the clinic.
    let marcuss = book_at(&t, &staff, marcus, 3).await;
    let r = t
        .post_form(&staff, &marcuss, &format!("{marcuss}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Both waiting visits are offered the freed time, each by e-mail.
    let offers = scalar(
        &t,
        "SELECT COUNT(*) AS n FROM offers WHERE status = $1",
        "open",
    )
    .await;
    assert_eq!(offers, 2);
    let mails = scalar(
        &t,
        "SELECT COUNT(*) AS n FROM outbox WHERE kind = $1",
        "appointment-offer",
    )
    .await;
    assert_eq!(mails, 2);
    let list = t
        .get(&c, &format!("/patients/{sofia}/appointments"))
        .await
        .text()
        .await
        .expect("list");
    assert!(list.contains("Earlier times for you"), "{list}");
    // The offer shows in her access history as the portal's own doing.
    let log = t
        .get(&c, &format!("/patients/{sofia}/access-log"))
        .await
        .text()
        .await
        .expect("log");
    assert!(
        log.contains("The portal itself")
            && log.contains("an offer of an earlier appointment time"),
        "{log}"
    );
    let sofia_offer = text(
        &t,
        "SELECT id AS v FROM offers WHERE appointment_id = $1",
        &id_of(&sofias),
    )
    .await;
    let leo_offer = text(
        &t,
        "SELECT id AS v FROM offers WHERE appointment_id = $1",
        &id_of(&leos),
    )
    .await;
    let offer_page = format!("/patients/{sofia}/appointments/offers/{sofia_offer}");
    let page = t.get(&c, &offer_page).await.text().await.expect("offer");
    assert!(page.contains("Move my appointment to this time"), "{page}");
    let csrf = csrf_in(&page).expect("csrf");

    // Both accept at once, through two portals: exactly one gets the time.
    let accept = |url: String, path: String| {
        let c = c.clone();
        let csrf = csrf.clone();
        tokio::spawn(async move {
            let r = c
                .post(format!("{url}{path}"))
                .form(&[("csrf", csrf.as_str())])
                .send()
                .await
                .expect("POST");
            let status = r.status();
            (status, r.text().await.expect("body"))
        })
    };
    let one = accept(t.url.clone(), format!("{offer_page}/accept"));
    let two = accept(
        other.url.clone(),
        format!("/patients/{leo}/appointments/offers/{leo_offer}/accept"),
    );
    let results = [one.await.expect("task"), two.await.expect("task")];
    let won: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::SEE_OTHER)
        .collect();
    let lost: Vec<_> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{results:?}");
    assert!(
        lost[0]
            .1
            .contains("another patient accepted this time first"),
        "{}",
        lost[0].1
    );
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM offers WHERE status = $1",
            "accepted"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM appointments WHERE status = $1",
            "moved"
        )
        .await,
        1
    );
    // Sofia's old time (day 10) is earlier than Leo's visit (day 12): when she won, it is
    // offered to Leo in turn; when he won, his old time is later than hers and nobody waits.
    let sofia_moved = text(
        &t,
        "SELECT status AS v FROM appointments WHERE id = $1",
        &id_of(&sofias),
    )
    .await
        == "moved";
    let reoffered = scalar(
        &t,
        "SELECT COUNT(*) AS n FROM offers WHERE status = 'open' AND appointment_id = $1",
        &id_of(&leos),
    )
    .await;
    assert_eq!(reoffered, i64::from(sofia_moved));
    // Accepting again does nothing more.
    let again = c
        .post(format!("{}{offer_page}/accept", t.url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert!(matches!(
        again.status(),
        StatusCode::SEE_OTHER | StatusCode::CONFLICT
    ));
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM appointments WHERE status = $1",
            "moved"
        )
        .await,
        1
    );
    // Another patient's offer is not found.
    let r = t
        .get(
            &c,
            &format!("/patients/{marcus}/appointments/offers/{sofia_offer}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = t
        .get(
            &c,
            &format!("/patients/{leo}/appointments/offers/{sofia_offer}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    other.stop().await;
    t.stop().await;
}

async fn each_reminder_goes_once_whichever_portal_claims_it(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let other = t.another_portal().await;
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let c = t.sign_in(Role::Patient).await;
    let sofias = book_at(&t, &c, sofia, 5).await;
    let leos = book_at(&t, &c, leo, 5).await;
    let r = t.post_form(&c, &leos, &format!("{leos}/cancel"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let start: i64 = text(
        &t,
        "SELECT CAST(starts_at AS TEXT) AS v FROM appointments WHERE id = $1",
        &id_of(&sofias),
    )
    .await
    .parse::<i64>()
    .expect("micros")
        / 1_000_000;

    let run_both = || async {
        let mut tasks = Vec::new();
        for app in [t.app.clone(), other.app.clone()] {
            for _ in 0..4 {
                let app = app.clone();
                tasks.push(tokio::spawn(async move {
                    app.appointments().send_due_reminders().await
                }));
            }
        }
        for task in tasks {
            task.await.expect("task").expect("reminders");
        }
    };
    let reminders = || {
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM appointment_reminders WHERE appointment_id <> $1",
            "",
        )
    };
    let mails = || {
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM outbox WHERE kind = $1",
            "appointment-reminder",
        )
    };
    // Nothing is due yet.
    run_both().await;
    assert_eq!(reminders().await, 0);
    // 72 hours before: one reminder, one e-mail, whatever the number of portals trying.
    let now = t.app.now().as_second();
    t.advance(SignedDuration::from_secs(start - 72 * 3600 - now + 60));
    run_both().await;
    run_both().await;
    assert_eq!(reminders().await, 1);
    assert_eq!(mails().await, 1);
    // 24 hours before: the second.
    t.advance(SignedDuration::from_hours(48));
    run_both().await;
    assert_eq!(reminders().await, 2);
    assert_eq!(mails().await, 2);
    // Never for the cancelled visit.
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM appointment_reminders WHERE appointment_id = $1",
            &id_of(&leos),
        )
        .await,
        0
    );
    // The e-mail names no reason and no kind of visit.
    let body: Vec<String> =
        sqlx::query("SELECT subject FROM outbox WHERE kind = 'appointment-reminder'")
            .fetch_all(t.app.store().pool())
            .await
            .expect("subjects")
            .iter()
            .map(|r| r.try_get("subject").expect("subject"))
            .collect();
    assert!(
        body.iter()
            .all(|s| s.starts_with("Reminder: your appointment at")),
        "{body:?}"
    );
    other.stop().await;
    t.stop().await;
}

async fn an_account_that_turned_reminders_off_gets_none(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let c = t.sign_in(Role::Patient).await;
    let r = t
        .post_form(
            &c,
            "/account",
            "/account/reminders",
            &[("reminders", "off")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let account = t.get(&c, "/account").await.text().await.expect("account");
    assert!(account.contains("Turn reminders on"), "{account}");
    let page = book_at(&t, &c, sofia, 5).await;
    let start: i64 = text(
        &t,
        "SELECT CAST(starts_at AS TEXT) AS v FROM appointments WHERE id = $1",
        &id_of(&page),
    )
    .await
    .parse::<i64>()
    .expect("micros")
        / 1_000_000;
    let now = t.app.now().as_second();
    t.advance(SignedDuration::from_secs(start - 24 * 3600 - now + 60));
    t.app
        .appointments()
        .send_due_reminders()
        .await
        .expect("reminders");
    assert_eq!(
        scalar(
            &t,
            "SELECT COUNT(*) AS n FROM outbox WHERE kind = $1",
            "appointment-reminder",
        )
        .await,
        0
    );
    t.stop().await;
}

/// A freed time whose offers all end unanswered reaches the in-basket of the front desk and of
/// the clinician (never another clinician's), until someone is booked into it.
async fn a_freed_time_nobody_took_waits_in_the_inbasket_until_booked(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let c = t.sign_in(Role::Patient).await;
    let staff = t.sign_in(Role::Staff).await;
    let sofias = book_at(&t, &c, sofia, 10).await;
    waitlist(&t, &c, &sofias).await;
    let marcuss = book_at(&t, &staff, marcus, 3).await;
    let r = t
        .post_form(&staff, &marcuss, &format!("{marcuss}/cancel"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let open = scalar(
        &t,
        "SELECT COUNT(*) AS n FROM offers WHERE status = $1",
        "open",
    )
    .await;
    assert_eq!(open, 1);
    // While the offer is open, nothing failed yet.
    let basket = t.get(&staff, "/inbasket").await.text().await.expect("page");
    assert!(basket.contains("Earlier times nobody took (0)"), "{basket}");

    // The offer ends unanswered (four hours by default).
    t.advance(SignedDuration::from_hours(5));
    let staff = t.sign_in(Role::Staff).await;
    let doctor = t.sign_in(Role::Clinician).await;
    let basket = t
        .get(&staff, "/inbasket?show=unfilled")
        .await
        .text()
        .await
        .expect("page");
    assert!(basket.contains("Earlier times nobody took (1)"), "{basket}");
    assert!(basket.contains("Offered to 1 patient<"), "{basket}");
    assert!(
        basket.contains("/schedule?span=day&amp;date=")
            || basket.contains("/schedule?span=day&#38;date=")
    );
    assert!(!basket.contains("Sofia"), "the line names no patient");
    // The clinician whose time it is sees it; another clinician does not.
    let whose = text(
        &t,
        "SELECT u.email AS v FROM offers o JOIN users u ON u.id = o.clinician_id \
         WHERE o.status <> $1",
        "x",
    )
    .await;
    let name = text(&t, "SELECT name AS v FROM users WHERE email = $1", &whose).await;
    assert!(basket.contains(&format!("With {name}")), "{basket}");
    let mine = t
        .get(&doctor, "/inbasket")
        .await
        .text()
        .await
        .expect("page");
    let theirs = whose == t.account(Role::Clinician).email;
    assert!(
        mine.contains(&format!(
            "Earlier times nobody took ({})",
            i64::from(theirs)
        )),
        "{mine}"
    );

    // Booked by the desk, it leaves the in-basket.
    let start = scalar(
        &t,
        "SELECT MIN(starts_at) AS n FROM offers WHERE status <> $1",
        "x",
    )
    .await;
    let video = visit_type(&t, "Video visit").await;
    let html = finder(&t, &staff, marcus, &video, "").await;
    let slot = slots(&html)
        .into_iter()
        .find(|s| s.ends_with(&format!("|{}", start / 1_000_000)))
        .expect("the freed time is offered to the desk");
    booked(&book(&t, &staff, marcus, &video, &slot, &new_key()).await);
    let basket = t.get(&staff, "/inbasket").await.text().await.expect("page");
    assert!(basket.contains("Earlier times nobody took (0)"), "{basket}");
    t.stop().await;
}

both_backends!(
    a_freed_time_nobody_took_waits_in_the_inbasket_until_booked,
    a_freed_time_goes_to_the_first_waiting_patient_to_accept_it,
    each_reminder_goes_once_whichever_portal_claims_it,
    an_account_that_turned_reminders_off_gets_none,
);
