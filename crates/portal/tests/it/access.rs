//! Who may open whose data: the access-policy matrix over every patient route (taken from the
//! route table, so a new route cannot be missed), the clinic pages, break-glass, proxy grants,
//! and requests that try to widen access with extra ids.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_domain::access::Action;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use portal_web::routes::{PatientRoute, patient_routes};
use reqwest::{Client, Response, StatusCode};
use sqlx::Row;

/// Who is looking, and through which relationship.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Viewer {
    /// Sofia Martinez, at her own record.
    Patient,
    /// Sofia Martinez, at her son Leo's record under her full proxy grant.
    Proxy,
    /// Dr. Maya Okafor, at Sofia's record (she is on Sofia's care team).
    Clinician,
    /// The front desk, at Sofia's record.
    Staff,
    /// The administrator, at Sofia's record.
    Admin,
}

const VIEWERS: [Viewer; 5] = [
    Viewer::Patient,
    Viewer::Proxy,
    Viewer::Clinician,
    Viewer::Staff,
    Viewer::Admin,
];

impl Viewer {
    fn role(self) -> Role {
        match self {
            Viewer::Patient | Viewer::Proxy => Role::Patient,
            Viewer::Clinician => Role::Clinician,
            Viewer::Staff => Role::Staff,
            Viewer::Admin => Role::Admin,
        }
    }

    /// The record this viewer is related to (for the clinic desk, simply a patient of the clinic).
    fn related_patient(self) -> &'static str {
        match self {
            Viewer::Proxy => "Leo Martinez",
            _ => "Sofia Martinez",
        }
    }

    fn column(self) -> usize {
        match self {
            Viewer::Patient => 0,
            Viewer::Proxy => 1,
            Viewer::Clinician => 2,
            Viewer::Staff => 3,
            Viewer::Admin => 4,
        }
    }
}

/// Whom a viewer may do an action to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum May {
    /// Only the patient they are related to.
    Related,
    /// Any patient of the clinic.
    Any,
    /// Nobody.
    Never,
}

/// Written out by hand from DESIGN.md's table of actors (never computed from the policy).
#[rustfmt::skip]
const EXPECTED: &[(Action, [May; 5])] = {
    use May::{Any, Never, Related};
    &[
        //                          patient  proxy    clinician staff  admin
        (Action::ViewDemographics, [Related, Related, Related,  Any,   Any]),
        (Action::ViewRecord,       [Related, Related, Related,  Never, Never]),
        (Action::ViewNotes,        [Related, Related, Related,  Never, Never]),
        (Action::ViewMessages,     [Related, Related, Related,  Any,   Never]),
        // The clinic answers conversations routed to it; it does not start them here.
        (Action::SendMessage,      [Related, Related, Never,    Never, Never]),
        (Action::ViewAppointments, [Related, Related, Related,  Any,   Never]),
        (Action::ManageAppointments, [Related, Related, Related, Any,  Never]),
        (Action::ViewAccessLog,    [Related, Related, Never,    Never, Never]),
        // The patient's side asks for refills; the clinic decides them on its own routes.
        (Action::RequestRefill,    [Related, Related, Never,    Never, Never]),
        // Sending a copy of the record is the patient's side's; the clinic hands records on
        // through the EHR, not from the portal.
        (Action::Export,           [Related, Related, Never,    Never, Never]),
        (Action::Enrol,            [Never,   Never,   Never,    Any,   Any]),
        // Who holds access to a record: the patient manages it, the clinic's staff and admins
        // grant parents access after checking identity; a proxy never hands access on.
        (Action::ManageProxy,      [Related, Never,   Never,    Any,   Any]),
        // Who is on a record's care team: the front desk and admins decide, never the patient's
        // side nor a clinician (who would otherwise open any record by joining its team).
        (Action::ManageCareTeam,   [Never,   Never,   Never,    Any,   Any]),
    ]
};

/// Which patient a request names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A random id no record has.
    Missing,
    /// The viewer's own or related patient.
    Related,
    /// Marcus Chen: no account, on nobody's care team, nobody's proxy.
    Unrelated,
}

fn expected_for(action: Action) -> [May; 5] {
    EXPECTED
        .iter()
        .find(|(a, _)| *a == action)
        .map(|(_, row)| *row)
        .unwrap_or_else(|| {
            panic!("EXPECTED has no row for {action:?}: add one by hand for the new route")
        })
}

fn allowed(may: May, target: Target) -> bool {
    match (may, target) {
        (_, Target::Missing) | (May::Never, _) => false,
        (May::Any, _) => true,
        (May::Related, Target::Related) => true,
        (May::Related, Target::Unrelated) => false,
    }
}

fn path_for(route: &PatientRoute, patient: PatientId) -> String {
    route.path.replace("{id}", &patient.to_string())
}

fn random_patient() -> PatientId {
    PatientId::from_uuid(uuid::Uuid::new_v4())
}

/// Sends the route's request as `client` would from the portal's own pages.
async fn send(t: &TestApp, client: &Client, route: &PatientRoute, patient: PatientId) -> Response {
    let path = path_for(route, patient);
    match route.method {
        "GET" => t.get(client, &path).await,
        "POST" => t.post_form(client, "/account", &path, &[]).await,
        other => panic!("the test does not know how to send {other} {}", route.path),
    }
}

async fn user_id(t: &TestApp, role: Role) -> String {
    sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(&t.account(role).email)
        .fetch_one(t.app.store().pool())
        .await
        .expect("account row")
        .try_get("id")
        .expect("id")
}

/// Read events about `patient` by `actor` with `outcome` in the audit trail.
/// Reads of a record by an actor (a download is read as an export).
async fn read_events(t: &TestApp, actor: &str, patient: PatientId, outcome: &str) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events \
         WHERE actor_id = $1 AND patient_id = $2 AND action IN ('read', 'export') \
         AND outcome = $3",
    )
    .bind(actor)
    .bind(patient.to_string())
    .bind(outcome)
    .fetch_one(t.app.store().pool())
    .await
    .expect("count events")
    .try_get("n")
    .expect("n")
}

async fn activation_codes_for(t: &TestApp, patient: PatientId) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM activation_codes WHERE patient_id = $1")
        .bind(patient.to_string())
        .fetch_one(t.app.store().pool())
        .await
        .expect("count codes")
        .try_get("n")
        .expect("n")
}

async fn break_glass_rows(t: &TestApp, patient: PatientId) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM break_glass WHERE patient_id = $1")
        .bind(patient.to_string())
        .fetch_one(t.app.store().pool())
        .await
        .expect("count break-glass")
        .try_get("n")
        .expect("n")
}

/// The 404 page for a patient id no record has, as `client` sees it.
async fn not_found_body(t: &TestApp, client: &Client) -> String {
    let r = t
        .get(client, &format!("/patients/{}", random_patient()))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    r.text().await.expect("body")
}

/// How many denied and successful reads of one patient by one actor the trail holds.
#[derive(Clone, Copy, Debug)]
struct Reads {
    denied: i64,
    success: i64,
}

async fn reads(t: &TestApp, actor: &str, patient: PatientId) -> Reads {
    Reads {
        denied: read_events(t, actor, patient, "denied").await,
        success: read_events(t, actor, patient, "success").await,
    }
}

/// Asserts a refusal: 404, the same page as for a missing record, audited as denied, and no
/// successful read of that patient by that actor since `before`.
async fn assert_refused(
    t: &TestApp,
    r: Response,
    actor: &str,
    patient: PatientId,
    before: Reads,
    reference: &str,
    what: &str,
) {
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{what}");
    let body = r.text().await.expect("body");
    assert_eq!(
        body, reference,
        "{what}: the refusal must look exactly like a missing record"
    );
    let after = reads(t, actor, patient).await;
    assert_eq!(
        after.denied,
        before.denied + 1,
        "{what}: the refusal is audited once"
    );
    assert_eq!(after.success, before.success, "{what}: nothing was read");
}

#[test]
fn the_expected_table_has_a_row_for_every_action_a_route_uses() {
    for route in &patient_routes() {
        let action = route.action();
        assert!(
            EXPECTED.iter().any(|(a, _)| *a == action),
            "{} {} needs {action:?}, which the hand-written EXPECTED table lacks",
            route.method,
            route.path
        );
    }
}

async fn every_patient_route_answers_every_role_as_the_table_says(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient_client = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let staff = t.sign_in(Role::Staff).await;
    let admin = t.sign_in(Role::Admin).await;
    let marcus = t.patient("Marcus Chen");
    let mut tried = 0;
    for route in &patient_routes() {
        let row = expected_for(route.action());
        for viewer in VIEWERS {
            let client = match viewer.role() {
                Role::Patient => &patient_client,
                Role::Clinician => &clinician,
                Role::Staff => &staff,
                Role::Admin => &admin,
            };
            let actor = user_id(&t, viewer.role()).await;
            // What this viewer gets from this route for a record that does not exist.
            let mut reference: Option<String> = None;
            for target in [Target::Missing, Target::Related, Target::Unrelated] {
                let (patient, name) = match target {
                    Target::Missing => (random_patient(), None),
                    Target::Related => (
                        t.patient(viewer.related_patient()),
                        Some(viewer.related_patient()),
                    ),
                    Target::Unrelated => (marcus, Some("Marcus Chen")),
                };
                let what = format!("{viewer:?} {} {} for {target:?}", route.method, route.path);
                let before = reads(&t, &actor, patient).await;
                let codes_before = t.count("activation_codes").await;
                let codes_for_patient = activation_codes_for(&t, patient).await;
                let r = send(&t, client, route, patient).await;
                tried += 1;
                if allowed(row[viewer.column()], target) {
                    // An empty form to write a message or book a visit is refused as such.
                    let empty_form = route.method == "POST"
                        && matches!(
                            route.action(),
                            Action::SendMessage
                                | Action::ManageAppointments
                                | Action::RequestRefill
                                | Action::Export
                                | Action::ManageProxy
                                | Action::ManageCareTeam
                        )
                        || route.path == "/patients/{id}/account-help";
                    // Sofia has an account of her own: she is never sent an activation code.
                    let has_account =
                        route.path == "/patients/{id}/invite" && name == Some("Sofia Martinez");
                    let expected = if empty_form {
                        StatusCode::UNPROCESSABLE_ENTITY
                    } else if has_account {
                        StatusCode::CONFLICT
                    } else {
                        StatusCode::OK
                    };
                    assert_eq!(r.status(), expected, "{what}");
                    let body = r.text().await.expect("body");
                    let name = name.expect("an allowed target is a real record");
                    if has_account {
                        assert!(body.contains("already has a portal account"), "{what}");
                        assert_eq!(
                            activation_codes_for(&t, patient).await,
                            codes_for_patient,
                            "{what}: no code was issued"
                        );
                        continue;
                    }
                    assert!(body.contains(name), "{what}: the page shows {name}");
                    if route.method == "POST"
                        && (route.path.ends_with("/cancel")
                            || route.path.ends_with("/account-help"))
                    {
                        assert_eq!(
                            activation_codes_for(&t, patient).await,
                            codes_for_patient,
                            "{what}: no code was issued"
                        );
                    } else if route.method == "POST" && route.action() != Action::Enrol {
                        // An empty form: the page again (with what is missing, if anything),
                        // read as a view of the record.
                        assert!(
                            read_events(&t, &actor, patient, "success").await > before.success,
                            "{what}: the view is audited"
                        );
                    } else if route.method == "POST" {
                        assert_eq!(
                            activation_codes_for(&t, patient).await,
                            codes_for_patient + 1,
                            "{what}: one activation code was issued"
                        );
                    } else {
                        assert_eq!(
                            read_events(&t, &actor, patient, "success").await,
                            before.success + 1,
                            "{what}: the view is audited"
                        );
                    }
                    continue;
                }
                if target == Target::Missing {
                    assert_eq!(r.status(), StatusCode::NOT_FOUND, "{what}");
                    reference = Some(r.text().await.expect("body"));
                    assert_eq!(
                        read_events(&t, &actor, patient, "denied").await,
                        1,
                        "{what}: the refusal is audited"
                    );
                    continue;
                }
                let reference = reference.as_deref().expect("the missing id is tried first");
                assert_refused(&t, r, &actor, patient, before, reference, &what).await;
                assert_eq!(
                    t.count("activation_codes").await,
                    codes_before,
                    "{what}: no activation code was written"
                );
            }
        }
    }
    assert_eq!(tried, patient_routes().len() * VIEWERS.len() * 3);
    t.stop().await;
}

/// Pages that are not about one patient. Columns: patient, clinician, staff, admin.
const CLINIC_PAGES: &[(&str, [u16; 4])] = &[
    ("/inbasket", [403, 200, 200, 403]),
    ("/schedule", [403, 200, 200, 403]),
    ("/admin/users", [403, 403, 403, 200]),
    ("/admin/audit", [403, 403, 403, 200]),
    ("/admin/audit.csv", [403, 403, 403, 200]),
    ("/admin/messaging", [403, 403, 403, 200]),
    ("/admin/refills", [403, 403, 403, 200]),
    ("/patients", [403, 200, 200, 200]),
];

async fn clinic_pages_open_only_to_their_roles(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let roles = [Role::Patient, Role::Clinician, Role::Staff, Role::Admin];
    for (i, role) in roles.into_iter().enumerate() {
        let c = t.sign_in(role).await;
        for (path, statuses) in CLINIC_PAGES {
            let r = t.get(&c, path).await;
            assert_eq!(r.status().as_u16(), statuses[i], "{role} GET {path}");
        }
    }
    t.stop().await;
}

async fn anonymous_requests_are_sent_to_sign_in(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.client();
    let sofia = t.patient("Sofia Martinez");
    for (path, _) in CLINIC_PAGES {
        let r = t.get(&c, path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "GET {path}");
        assert_eq!(location(&r), "/signin", "GET {path}");
    }
    let codes_before = t.count("activation_codes").await;
    let events_before = t.count("audit_events").await;
    for route in &patient_routes() {
        let path = path_for(route, sofia);
        let r = match route.method {
            // Anonymous forms carry the CSRF token of the sign-in page's cookie.
            "POST" => t.post_form(&c, "/signin", &path, &[]).await,
            _ => t.get(&c, &path).await,
        };
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{} {path}", route.method);
        assert_eq!(location(&r), "/signin", "{} {path}", route.method);
    }
    assert_eq!(t.count("activation_codes").await, codes_before);
    assert_eq!(
        t.count("audit_events").await,
        events_before,
        "nobody's data was read"
    );
    t.stop().await;
}

async fn break_glass_opens_an_unrelated_record_for_one_hour_and_flags_every_view(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Clinician).await;
    let doctor = user_id(&t, Role::Clinician).await;
    let marcus = t.patient("Marcus Chen");
    let home = format!("/patients/{marcus}");
    let reference = not_found_body(&t, &c).await;
    let r = t.get(&c, &home).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.text().await.expect("body"), reference);

    // A reason that says nothing opens nothing.
    let r = t
        .post_form(
            &c,
            "/patients",
            "/patients/break-glass",
            &[("mrn", "DEMO-1003"), ("reason", "because")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("at least 10 characters")
    );
    assert_eq!(break_glass_rows(&t, marcus).await, 0);
    assert_eq!(t.get(&c, &home).await.status(), StatusCode::NOT_FOUND);

    let r = t
        .post_form(
            &c,
            "/patients",
            "/patients/break-glass",
            &[
                ("mrn", "DEMO-1003"),
                ("reason", "Unconscious in the emergency department"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), home);
    let r = t.get(&c, &home).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    assert!(html.contains("Marcus"));
    assert!(html.contains("Emergency (break-glass) access"));
    let r = t.get(&c, &format!("{home}/record")).await;
    assert_eq!(r.status(), StatusCode::OK);

    // Still open at 59 minutes (the session is kept alive meanwhile), closed at 61.
    for _ in 0..5 {
        t.advance(SignedDuration::from_mins(10));
        assert_eq!(t.get(&c, &home).await.status(), StatusCode::OK);
    }
    t.advance(SignedDuration::from_mins(9));
    assert_eq!(t.get(&c, &home).await.status(), StatusCode::OK);
    t.advance(SignedDuration::from_mins(2));
    let denied_before = read_events(&t, &doctor, marcus, "denied").await;
    let r = t.get(&c, &home).await;
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "break-glass ends after an hour"
    );
    assert_eq!(r.text().await.expect("body"), reference);
    assert_eq!(
        read_events(&t, &doctor, marcus, "denied").await,
        denied_before + 1
    );
    // Her own care team is unaffected.
    let sofia = t.patient("Sofia Martinez");
    assert_eq!(
        t.get(&c, &format!("/patients/{sofia}")).await.status(),
        StatusCode::OK
    );

    let rows = sqlx::query(
        "SELECT action, on_behalf_of, break_glass FROM audit_events \
         WHERE actor_id = $1 AND patient_id = $2 AND outcome = 'success' ORDER BY seq",
    )
    .bind(&doctor)
    .bind(marcus.to_string())
    .fetch_all(t.app.store().pool())
    .await
    .expect("events");
    let reads = rows
        .iter()
        .filter(|r| r.try_get::<String, _>("action").expect("action") == "read")
        .count();
    assert_eq!(
        reads, 8,
        "two views, five keep-alive views and one at 59 minutes"
    );
    assert_eq!(rows.len(), reads + 1, "plus the opening of break-glass");
    for row in &rows {
        assert_eq!(row.try_get::<i64, _>("break_glass").expect("flag"), 1);
        assert_eq!(
            row.try_get::<String, _>("on_behalf_of").expect("basis"),
            "break-glass"
        );
    }
    t.stop().await;
}

async fn only_clinicians_can_break_the_glass(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    for role in [Role::Patient, Role::Staff, Role::Admin] {
        let c = t.sign_in(role).await;
        let r = t
            .post_form(
                &c,
                "/account",
                "/patients/break-glass",
                &[
                    ("mrn", "DEMO-1003"),
                    ("reason", "Unconscious in the emergency department"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{role}");
        assert_eq!(break_glass_rows(&t, marcus).await, 0, "{role}");
    }
    // The patient still cannot open Marcus's record afterwards.
    let c = t.sign_in(Role::Patient).await;
    assert_eq!(
        t.get(&c, &format!("/patients/{marcus}/record"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    t.stop().await;
}

async fn a_proxy_loses_access_when_the_grant_is_revoked_or_ends(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    let sofia_user = user_id(&t, Role::Patient).await;
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let reference = not_found_body(&t, &c).await;
    // Every page a proxy may open (who holds access is the patient's own to manage; enrolment
    // and the care team are the clinic's).
    let leo_pages: Vec<String> = patient_routes()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && !matches!(
                    r.action(),
                    Action::ManageProxy | Action::Enrol | Action::ManageCareTeam
                )
        })
        .map(|r| path_for(r, leo))
        .collect();
    for path in &leo_pages {
        assert_eq!(t.get(&c, path).await.status(), StatusCode::OK, "{path}");
    }
    let own_home = t.get(&c, &format!("/patients/{sofia}")).await;
    assert!(
        own_home
            .text()
            .await
            .expect("body")
            .contains("Leo Martinez")
    );

    let pool = t.app.store().pool();
    let now = t.app.now().as_microsecond();
    sqlx::query("UPDATE proxy_grants SET revoked_at = $1 WHERE patient_id = $2")
        .bind(now)
        .bind(leo.to_string())
        .execute(pool)
        .await
        .expect("revoke");
    for path in &leo_pages {
        let before = reads(&t, &sofia_user, leo).await;
        let r = t.get(&c, path).await;
        let what = format!("revoked grant: {path}");
        assert_refused(&t, r, &sofia_user, leo, before, &reference, &what).await;
    }
    let own_home = t.get(&c, &format!("/patients/{sofia}")).await;
    assert_eq!(
        own_home.status(),
        StatusCode::OK,
        "her own record stays open"
    );
    assert!(
        !own_home
            .text()
            .await
            .expect("body")
            .contains("Leo Martinez"),
        "a revoked grant is no longer offered"
    );

    // Not revoked, but ended a second ago.
    sqlx::query("UPDATE proxy_grants SET revoked_at = NULL, ends_at = $1 WHERE patient_id = $2")
        .bind(now - 1_000_000)
        .bind(leo.to_string())
        .execute(pool)
        .await
        .expect("end the grant");
    for path in &leo_pages {
        let before = reads(&t, &sofia_user, leo).await;
        let r = t.get(&c, path).await;
        let what = format!("ended grant: {path}");
        assert_refused(&t, r, &sofia_user, leo, before, &reference, &what).await;
    }

    // The same grant ending tomorrow works again: the refusals came from the grant alone.
    sqlx::query("UPDATE proxy_grants SET ends_at = $1 WHERE patient_id = $2")
        .bind(now + 86_400_000_000)
        .bind(leo.to_string())
        .execute(pool)
        .await
        .expect("extend the grant");
    for path in &leo_pages {
        assert_eq!(t.get(&c, path).await.status(), StatusCode::OK, "{path}");
    }
    let own_home = t.get(&c, &format!("/patients/{sofia}")).await;
    assert!(
        own_home
            .text()
            .await
            .expect("body")
            .contains("Leo Martinez"),
        "the grant is offered again on her home page"
    );
    t.stop().await;
}

async fn staff_open_a_patients_home_but_not_her_clinical_record(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Staff).await;
    let desk = user_id(&t, Role::Staff).await;
    let sofia = t.patient("Sofia Martinez");
    let reference = not_found_body(&t, &c).await;
    let r = t.get(&c, &format!("/patients/{sofia}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    assert!(html.contains("Sofia"));
    assert!(html.contains("Front-desk view: no clinical information."));
    assert!(
        !html.contains(&format!("/patients/{sofia}/record")),
        "no link to the clinical record"
    );
    for page in ["record", "medications", "access-log"] {
        let before = reads(&t, &desk, sofia).await;
        let r = t.get(&c, &format!("/patients/{sofia}/{page}")).await;
        let what = format!("staff at {page}");
        assert_refused(&t, r, &desk, sofia, before, &reference, &what).await;
    }
    t.stop().await;
}

async fn extra_or_repeated_ids_never_widen_access(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let c = t.sign_in(Role::Patient).await;
    let me = user_id(&t, Role::Patient).await;
    let reference = not_found_body(&t, &c).await;

    // Her own id in the query string does not open Marcus's record.
    for query in [
        format!("?id={sofia}"),
        format!("?id={sofia}&id={sofia}"),
        format!("?patient_id={sofia}&id={marcus}&id={sofia}"),
    ] {
        let before = reads(&t, &me, marcus).await;
        let r = t
            .get(&c, &format!("/patients/{marcus}/record{query}"))
            .await;
        let what = format!("Marcus's record with {query}");
        assert_refused(&t, r, &me, marcus, before, &reference, &what).await;
    }
    // Marcus's id in the query string shows her own record, and nothing of his.
    let r = t
        .get(
            &c,
            &format!("/patients/{sofia}/record?id={marcus}&patient_id={marcus}&id={marcus}"),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    assert!(html.contains("Sofia Martinez"));
    assert!(!html.contains("Chen") && !html.contains("DEMO-1003"));
    assert_eq!(read_events(&t, &me, marcus, "success").await, 0);

    // A patient id smuggled into a form is ignored: the code is for the record in the path.
    let desk = t.sign_in(Role::Staff).await;
    let marcus_codes = activation_codes_for(&t, marcus).await;
    let leo = t.patient("Leo Martinez");
    let leo_codes = activation_codes_for(&t, leo).await;
    let r = t
        .post_form(
            &desk,
            "/account",
            &format!("/patients/{leo}/invite"),
            &[
                ("patient_id", &marcus.to_string()),
                ("id", &marcus.to_string()),
                ("patient_id", &marcus.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    assert!(html.contains("Leo Martinez") && !html.contains("Chen"));
    assert_eq!(activation_codes_for(&t, leo).await, leo_codes + 1);
    assert_eq!(activation_codes_for(&t, marcus).await, marcus_codes);

    // And it does not turn a refusal into a permission.
    let codes = t.count("activation_codes").await;
    let r = t
        .post_form(
            &c,
            "/account",
            &format!("/patients/{sofia}/invite"),
            &[("patient_id", &sofia.to_string()), ("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.text().await.expect("body"), reference);
    assert_eq!(t.count("activation_codes").await, codes);
    t.stop().await;
}

both_backends!(
    every_patient_route_answers_every_role_as_the_table_says,
    clinic_pages_open_only_to_their_roles,
    anonymous_requests_are_sent_to_sign_in,
    break_glass_opens_an_unrelated_record_for_one_hour_and_flags_every_view,
    only_clinicians_can_break_the_glass,
    a_proxy_loses_access_when_the_grant_is_revoked_or_ends,
    staff_open_a_patients_home_but_not_her_clinical_record,
    extra_or_repeated_ids_never_widen_access,
);
