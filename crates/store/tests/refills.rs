//! The refills store's contract on SQLite and (when `PORTAL_TEST_POSTGRES` is set) PostgreSQL:
//! the database refuses a second waiting request for one medication, however many race; another
//! patient's request is not found and cannot be moved; a step moves only from where it was; the
//! clinic's queue shows a clinician what they may decide and staff every waiting request; a
//! request nobody acted on moves on once.

mod common;

use common::{each_backend, now};
use jiff::SignedDuration;
use portal_domain::access::{AccessFacts, Action, ClinicAction, authorize, authorize_clinic};
use portal_domain::access::{ProxyGrantFact, ProxyScope};
use portal_domain::record::Sensitivity;
use portal_domain::refills::{RefillStatus, Stage};
use portal_domain::{
    PatientAccess, PatientId, PharmacyId, PoolId, Principal, RefillId, RefillItemId, ResourceId,
    Role, UserId,
};
use portal_store::refills::{self, NewItem, NewRequest, Pharmacy};
use portal_store::{Conn, Error, Store, patients, pools, users};

fn uid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}
fn patient(n: u128) -> PatientId {
    PatientId::from_uuid(uid(n))
}
fn user(n: u128) -> UserId {
    UserId::from_uuid(uid(0x100 + n))
}
fn medication(n: u128) -> ResourceId {
    ResourceId::from_uuid(uid(0x200 + n))
}
const PRESCRIBER: u128 = 10;
const OTHER_CLINICIAN: u128 = 11;
const STAFF: u128 = 12;

fn access(p: PatientId) -> PatientAccess {
    authorize(
        &Principal::User {
            id: user(p.as_uuid().as_u128()),
            role: Role::Patient,
            own_patient: Some(p),
        },
        p,
        Action::RequestRefill,
        &AccessFacts::default(),
        now(),
    )
    .expect("own record")
}

fn pharmacy() -> PharmacyId {
    PharmacyId::from_uuid(uid(0x300))
}
fn pool() -> PoolId {
    PoolId::from_uuid(uid(0x400))
}

async fn setup(conn: &mut Conn) {
    let config = authorize_clinic(&Principal::Operator, ClinicAction::ConfigureClinic)
        .expect("the operator configures");
    for n in [1u128, 2] {
        patients::insert(
            conn,
            &patients::PatientRow {
                id: patient(n),
                mrn: format!("MRN{n}"),
                given_name: "Test".into(),
                family_name: format!("Patient{n}"),
                birth_date: "2015-01-01".into(),
                sex: "female".into(),
                deceased: None,
            },
            now(),
        )
        .await
        .expect("patient");
    }
    for (n, role, patient_id) in [
        (1u128, Role::Patient, Some(patient(1))),
        (2, Role::Patient, Some(patient(2))),
        (PRESCRIBER, Role::Clinician, None),
        (OTHER_CLINICIAN, Role::Clinician, None),
        (STAFF, Role::Staff, None),
    ] {
        users::insert(
            conn,
            &users::NewUser {
                id: user(n),
                email: &format!("u{n}@example.org"),
                name: &format!("User {n}"),
                role,
                password_hash: "x",
                patient_id,
            },
            now(),
        )
        .await
        .expect("user");
    }
    refills::add_pharmacy(
        conn,
        &config,
        &Pharmacy {
            id: pharmacy(),
            name: "Main Street Pharmacy".into(),
            address: "1 Main Street".into(),
            phone: "555".into(),
            offered: true,
        },
        now(),
    )
    .await
    .expect("pharmacy");
    pools::create(conn, &config, pool(), "Nurse line", true, now())
        .await
        .expect("pool");
    refills::set_pool_lead(conn, &config, pool(), Some(user(OTHER_CLINICIAN)))
        .await
        .expect("lead");
}

async fn send(
    store: &Store,
    p: u128,
    meds: &[u128],
    key: &str,
) -> Result<(RefillId, Vec<RefillItemId>), Error> {
    let mut tx = store.begin().await.expect("tx");
    let id = RefillId::from_uuid(uuid::Uuid::now_v7());
    let items: Vec<NewItem> = meds
        .iter()
        .map(|m| NewItem {
            id: RefillItemId::from_uuid(uuid::Uuid::now_v7()),
            medication: medication(*m),
            label: format!("Drug {m}"),
            // Drugs 7 and 8 are in a confidential category.
            sensitivity: (7..=8)
                .contains(m)
                .then_some(Sensitivity::SexualAndReproductive)
                .into_iter()
                .collect(),
        })
        .collect();
    refills::create(
        &mut tx,
        &access(patient(p)),
        &NewRequest {
            id,
            requested_by: user(p),
            pharmacy: pharmacy(),
            comment: "",
            prescriber: Some(user(PRESCRIBER)),
            pool: Some(pool()),
            stage: Stage::Prescriber,
            items: &items,
            send_key: key,
        },
        now(),
    )
    .await?;
    tx.commit().await.expect("commit");
    Ok((id, items.iter().map(|i| i.id).collect()))
}

#[tokio::test]
async fn one_waiting_request_per_medication_however_many_race() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        setup(&mut tx).await;
        tx.commit().await.expect("commit");
        let (first, items) = send(&store, 1, &[1, 2], "k1").await.expect("first");
        let again = send(&store, 1, &[3, 2], "k2")
            .await
            .expect_err("drug 2 waits");
        assert!(
            matches!(again, Error::Conflict("pending request")),
            "{again:?}"
        );
        let same_form = send(&store, 1, &[3], "k1")
            .await
            .expect_err("the same form");
        assert!(
            matches!(same_form, Error::Conflict("send key")),
            "{same_form:?}"
        );
        // Nothing of a refused request stays.
        let mut conn = store.pool().acquire().await.expect("conn");
        let listed = refills::list(&mut conn, &access(patient(1)), 10)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].items.len(), 2);
        // Once decided, it may be asked for again.
        let moved = refills::move_item(
            &mut conn,
            &access(patient(1)),
            first,
            items[1],
            RefillStatus::Sent,
            RefillStatus::Denied,
            user(PRESCRIBER),
            "Book a visit",
            now(),
        )
        .await
        .expect("move");
        assert!(moved);
        drop(conn);
        send(&store, 1, &[2], "k3").await.expect("asked again");
        // Twenty at once for one drug: one is stored.
        let racers = (0..20).map(|n| {
            let store = store.clone();
            tokio::spawn(async move { send(&store, 1, &[9], &format!("race{n}")).await })
        });
        let mut stored = 0;
        for racer in racers {
            match racer.await.expect("task") {
                Ok(_) => stored += 1,
                Err(Error::Conflict("pending request")) => {}
                Err(e) => panic!("unexpected: {e:?}"),
            }
        }
        assert_eq!(stored, 1);
    })
    .await;
}

#[tokio::test]
async fn another_patients_request_is_not_found_and_steps_move_only_from_where_they_were() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        setup(&mut tx).await;
        tx.commit().await.expect("commit");
        let (id, items) = send(&store, 1, &[1], "k1").await.expect("sent");
        let mut conn = store.pool().acquire().await.expect("conn");
        let other = access(patient(2));
        assert!(
            refills::find(&mut conn, &other, id)
                .await
                .expect("find")
                .is_none()
        );
        assert!(
            refills::list(&mut conn, &other, 10)
                .await
                .expect("list")
                .is_empty()
        );
        assert!(
            !refills::move_item(
                &mut conn,
                &other,
                id,
                items[0],
                RefillStatus::Sent,
                RefillStatus::Approved,
                user(PRESCRIBER),
                "",
                now(),
            )
            .await
            .expect("move")
        );
        assert_eq!(
            refills::mark_in_review(&mut conn, &other, id, user(PRESCRIBER), now())
                .await
                .expect("review"),
            0
        );
        let mine = access(patient(1));
        assert_eq!(
            refills::mark_in_review(&mut conn, &mine, id, user(PRESCRIBER), now())
                .await
                .expect("review"),
            1
        );
        // From "sent" no more: it is in review.
        assert!(
            !refills::move_item(
                &mut conn,
                &mine,
                id,
                items[0],
                RefillStatus::Sent,
                RefillStatus::Approved,
                user(PRESCRIBER),
                "",
                now(),
            )
            .await
            .expect("move")
        );
        assert!(
            refills::move_item(
                &mut conn,
                &mine,
                id,
                items[0],
                RefillStatus::InReview,
                RefillStatus::Approved,
                user(PRESCRIBER),
                "",
                now() + SignedDuration::from_mins(1),
            )
            .await
            .expect("move")
        );
        let found = refills::find(&mut conn, &mine, id)
            .await
            .expect("find")
            .expect("hers");
        let steps: Vec<RefillStatus> = found.items[0].steps.iter().map(|s| s.status).collect();
        assert_eq!(
            steps,
            [
                RefillStatus::Sent,
                RefillStatus::InReview,
                RefillStatus::Approved
            ]
        );
        assert_eq!(found.items[0].steps[2].by, format!("User {PRESCRIBER}"));
        // One prescription per item.
        refills::issue(
            &mut conn,
            &mine,
            "rx1",
            items[0],
            medication(1),
            "{}",
            now(),
        )
        .await
        .expect("issued");
        let twice = refills::issue(
            &mut conn,
            &mine,
            "rx2",
            items[0],
            medication(1),
            "{}",
            now(),
        )
        .await
        .expect_err("once");
        assert!(matches!(twice, Error::Conflict(_)));
        assert!(
            refills::issued(&mut conn, &other)
                .await
                .expect("issued")
                .is_empty()
        );
    })
    .await;
}

/// A parent's full proxy access to patient `p`'s record.
fn proxy(p: PatientId) -> PatientAccess {
    authorize(
        &Principal::User {
            id: user(2),
            role: Role::Patient,
            own_patient: Some(patient(2)),
        },
        p,
        Action::RequestRefill,
        &AccessFacts {
            proxy_grants: vec![ProxyGrantFact {
                scope: ProxyScope::Full,
                starts_at: now() - SignedDuration::from_hours(1),
                ends_at: None,
                revoked: false,
                relationship: portal_domain::access::Relationship::Parent,
                patient_chose_at: None,
                shared: portal_domain::record::Categories::NONE,
            }],
            patient_birth: Some(jiff::civil::date(2020, 1, 1)),
            ..AccessFacts::default()
        },
        now(),
    )
    .expect("a full grant")
}

#[tokio::test]
async fn a_proxy_never_sees_a_confidential_medication_or_is_told_of_it() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        setup(&mut tx).await;
        tx.commit().await.expect("commit");
        let (mixed, _) = send(&store, 1, &[1, 7], "k1").await.expect("mixed");
        let (confidential, _) = send(&store, 1, &[8], "k2").await.expect("confidential");
        let mut conn = store.pool().acquire().await.expect("conn");
        let own = refills::list(&mut conn, &access(patient(1)), 10)
            .await
            .expect("list");
        assert_eq!(own.len(), 2);
        let parent = proxy(patient(1));
        let seen = refills::find(&mut conn, &parent, mixed)
            .await
            .expect("find")
            .expect("the request");
        let labels: Vec<&str> = seen.items.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(labels, ["Drug 1"]);
        assert!(
            refills::find(&mut conn, &parent, confidential)
                .await
                .expect("find")
                .is_none()
        );
        assert_eq!(
            refills::list(&mut conn, &parent, 10)
                .await
                .expect("list")
                .len(),
            1
        );
        // The e-mail of a request holding it goes to the patient's own account only.
        portal_store::access::add_proxy_grant(
            &mut conn,
            &portal_store::access::NewGrant {
                id: uid(0x500),
                proxy: user(2),
                patient: patient(1),
                scope: ProxyScope::Full,
                relationship: "parent",
                starts_at: now() - SignedDuration::from_hours(1),
                ends_at: None,
                granted_by: "operator",
                // The patient (12 by now) chose to give the parent full access.
                patient_chose_at: Some(now() - SignedDuration::from_hours(1)),
                document_checked: "",
            },
            now(),
        )
        .await
        .expect("grant");
        let everyone = refills::patient_side_addresses(&mut conn, &access(patient(1)), true, now())
            .await
            .expect("addresses");
        assert_eq!(everyone, ["u1@example.org", "u2@example.org"]);
        let mine = refills::patient_side_addresses(&mut conn, &access(patient(1)), false, now())
            .await
            .expect("addresses");
        assert_eq!(mine, ["u1@example.org"]);
    })
    .await;
}

#[tokio::test]
async fn the_queue_shows_clinicians_theirs_and_staff_everything() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        setup(&mut tx).await;
        tx.commit().await.expect("commit");
        let (id, _) = send(&store, 1, &[1, 2], "k1").await.expect("sent");
        let basket = authorize_clinic(
            &Principal::User {
                id: user(STAFF),
                role: Role::Staff,
                own_patient: None,
            },
            ClinicAction::ViewInBasket,
        )
        .expect("in-basket");
        let mut conn = store.pool().acquire().await.expect("conn");
        let prescriber = refills::queue(&mut conn, &basket, user(PRESCRIBER), Role::Clinician, 10)
            .await
            .expect("queue");
        assert_eq!(prescriber.len(), 1);
        assert!(prescriber[0].mine);
        assert_eq!(prescriber[0].waiting, 2);
        assert_eq!(prescriber[0].id, id);
        // The pool's lead sees it (not yet as theirs); another clinician of no pool does not.
        let lead = refills::queue(
            &mut conn,
            &basket,
            user(OTHER_CLINICIAN),
            Role::Clinician,
            10,
        )
        .await
        .expect("queue");
        assert_eq!(lead.len(), 1);
        assert!(!lead[0].mine);
        let staff = refills::queue(&mut conn, &basket, user(STAFF), Role::Staff, 10)
            .await
            .expect("queue");
        assert_eq!(staff.len(), 1);
        let stranger = refills::queue(&mut conn, &basket, user(2), Role::Clinician, 10)
            .await
            .expect("queue");
        assert!(stranger.is_empty());
        // The job moves it on once, however often it runs.
        let jobs = authorize_clinic(&Principal::Operator, ClinicAction::RunRefillJobs)
            .expect("the portal's job");
        let later = now() + SignedDuration::from_hours(50);
        let due = refills::due(&mut conn, &jobs, later - SignedDuration::from_hours(48))
            .await
            .expect("due");
        assert_eq!(due.len(), 1);
        assert!(
            refills::escalate(&mut conn, &jobs, &due[0], Stage::Pool, later)
                .await
                .expect("moved")
        );
        assert!(
            !refills::escalate(&mut conn, &jobs, &due[0], Stage::Pool, later)
                .await
                .expect("once")
        );
        let wrong = refills::due(&mut conn, &basket, later)
            .await
            .expect_err("not the job's");
        assert!(matches!(wrong, Error::WrongCapability(_)));
    })
    .await;
}
