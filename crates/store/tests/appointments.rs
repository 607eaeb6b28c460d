//! The appointments store's contract on SQLite and (when `PORTAL_TEST_POSTGRES` is set)
//! PostgreSQL: the database itself refuses overlapping visits of one clinician, whatever their
//! lengths and however many transactions race; cancelling frees the time; another patient's
//! appointment is not found.

mod common;

use common::{each_backend, now};
use jiff::SignedDuration;
use jiff::civil::{Weekday, time};
use portal_domain::access::{AccessFacts, Action, ClinicAction, authorize, authorize_clinic};
use portal_domain::appointments::schedule::{Closure, WeeklyHours};
use portal_domain::appointments::{Audience, NewVisitType, Reason, Status};
use portal_domain::{
    AppointmentId, ClosureId, HoursId, LocationId, PatientAccess, PatientId, Principal, Role,
    UserId, VisitTypeId,
};
use portal_store::appointments::{self, NewAppointment, TIME_TAKEN};
use portal_store::schedules::{self, Location};
use portal_store::{Conn, Error, Store, patients, users};

fn uid(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

fn clinician() -> UserId {
    UserId::from_uuid(uid(0x51))
}

fn access(patient: PatientId, action: Action) -> PatientAccess {
    authorize(
        &Principal::User {
            id: UserId::from_uuid(uid(0x900 + patient.as_uuid().as_u128())),
            role: Role::Patient,
            own_patient: Some(patient),
        },
        patient,
        action,
        &AccessFacts::default(),
        now(),
    )
    .expect("own record")
}

async fn setup(conn: &mut Conn) -> (VisitTypeId, VisitTypeId, LocationId) {
    let config = authorize_clinic(&Principal::Operator, ClinicAction::ConfigureClinic)
        .expect("the operator configures");
    users::insert(
        conn,
        &users::NewUser {
            id: clinician(),
            email: "dr@example.org",
            name: "Dr Rivera",
            role: Role::Clinician,
            password_hash: "x",
            patient_id: None,
        },
        now(),
    )
    .await
    .expect("clinician");
    for n in [1u128, 2] {
        patients::insert(
            conn,
            &patients::PatientRow {
                id: PatientId::from_uuid(uid(n)),
                mrn: format!("MRN{n}"),
                given_name: "Test".into(),
                family_name: format!("Patient{n}"),
                birth_date: "1990-01-01".into(),
                sex: "female".into(),
                deceased: None,
            },
            now(),
        )
        .await
        .expect("patient");
    }
    let location = Location {
        id: LocationId::from_uuid(uid(0x10)),
        name: "Riverside".into(),
        address: "1 River St".into(),
    };
    schedules::add_location(conn, &config, &location, now())
        .await
        .expect("location");
    let mut ids = Vec::new();
    for (n, minutes) in [(0x20u128, 20), (0x40, 40)] {
        let id = VisitTypeId::from_uuid(uid(n));
        let new = NewVisitType {
            name: format!("{minutes}-minute visit"),
            minutes,
            video: false,
            audience: Audience::Anyone,
            min_age: None,
            max_age: None,
            notice_minutes: 60,
            horizon_days: 60,
            questions: String::new(),
        };
        schedules::add_visit_type(conn, &config, id, &new, now())
            .await
            .expect("visit type");
        ids.push(id);
    }
    let hours = WeeklyHours {
        id: HoursId::from_uuid(uid(0x30)),
        clinician: clinician(),
        location: location.id,
        weekday: Weekday::Monday,
        start: time(9, 0, 0, 0),
        end: time(12, 0, 0, 0),
        visit_types: vec![ids[0]],
        from: None,
        until: None,
    };
    schedules::add_hours(conn, &config, &hours, now())
        .await
        .expect("hours");
    (ids[0], ids[1], location.id)
}

fn at(minutes_after: i64) -> jiff::Timestamp {
    // A unit boundary (the fixed time is one) a day after the fixed time.
    let base = jiff::Timestamp::from_second(1_800_000_000 + 86_400).expect("time");
    base + SignedDuration::from_mins(minutes_after)
}

async fn book(
    store: &Store,
    patient: u128,
    visit_type: VisitTypeId,
    location: LocationId,
    start: i64,
    minutes: i64,
    key: &str,
) -> Result<AppointmentId, Error> {
    let access = access(
        PatientId::from_uuid(uid(patient)),
        Action::ManageAppointments,
    );
    let reason = Reason::parse("check-up").expect("reason");
    let id = AppointmentId::from_uuid(uuid::Uuid::now_v7());
    let mut tx = store.begin().await.expect("tx");
    appointments::book(
        &mut tx,
        &access,
        &NewAppointment {
            id,
            clinician: clinician(),
            location,
            visit_type,
            start: at(start),
            end: at(start + minutes),
            reason: &reason,
            booked_by: "test",
            book_key: key,
            moved_from: None,
        },
        now(),
    )
    .await?;
    tx.commit().await.map_err(Error::from)?;
    Ok(id)
}

#[tokio::test]
async fn the_database_refuses_visits_that_overlap_whatever_their_lengths() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        let (short, long, location) = setup(&mut tx).await;
        tx.commit().await.expect("commit");

        let first = book(&store, 1, long, location, 0, 40, "k1")
            .await
            .expect("40 minutes at 0");
        let overlap = book(&store, 2, short, location, 20, 20, "k2")
            .await
            .expect_err("20 minutes inside the 40");
        assert!(
            matches!(overlap, Error::Conflict(TIME_TAKEN)),
            "{overlap:?}"
        );
        let straddle = book(&store, 2, long, location, 35, 40, "k3")
            .await
            .expect_err("40 minutes over its end");
        assert!(
            matches!(straddle, Error::Conflict(TIME_TAKEN)),
            "{straddle:?}"
        );
        book(&store, 2, short, location, 40, 20, "k4")
            .await
            .expect("right after it");
        let again = book(&store, 2, short, location, 60, 20, "k4")
            .await
            .expect_err("the same form twice");
        assert!(
            matches!(again, Error::Conflict(appointments::KEY_USED)),
            "{again:?}"
        );

        let mut conn = store.pool().acquire().await.expect("conn");
        let taken = schedules::taken(&mut conn, Some(clinician()), at(-60), at(120))
            .await
            .expect("taken");
        assert!(!taken.free(clinician(), at(0), at(5)));
        assert!(taken.free(clinician(), at(60), at(80)));

        // Cancelling frees the time; a second cancel changes nothing.
        let own = access(PatientId::from_uuid(uid(1)), Action::ManageAppointments);
        assert!(
            appointments::end(
                &mut conn,
                &own,
                first,
                Status::Cancelled,
                None,
                "test",
                now()
            )
            .await
            .expect("cancel")
        );
        assert!(
            !appointments::end(
                &mut conn,
                &own,
                first,
                Status::Cancelled,
                None,
                "test",
                now()
            )
            .await
            .expect("again")
        );
        drop(conn);
        book(&store, 2, short, location, 20, 20, "k5")
            .await
            .expect("the freed time");
    })
    .await;
}

#[tokio::test]
async fn of_many_transactions_booking_one_time_exactly_one_wins() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        let (short, _, location) = setup(&mut tx).await;
        tx.commit().await.expect("commit");
        let racers = (0..20).map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                book(
                    &store,
                    1 + n % 2,
                    short,
                    location,
                    100,
                    20,
                    &format!("race{n}"),
                )
                .await
            })
        });
        let results = futures_join(racers).await;
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "{results:?}");
        for r in results.iter().filter(|r| r.is_err()) {
            assert!(matches!(r, Err(Error::Conflict(TIME_TAKEN))), "{r:?}");
        }
    })
    .await;
}

async fn futures_join<T: std::fmt::Debug>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.expect("task"));
    }
    out
}

#[tokio::test]
async fn another_patients_appointment_is_not_found_and_cannot_be_cancelled() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        let (short, _, location) = setup(&mut tx).await;
        tx.commit().await.expect("commit");
        let mine = book(&store, 1, short, location, 0, 20, "k1")
            .await
            .expect("book");
        let other = access(PatientId::from_uuid(uid(2)), Action::ManageAppointments);
        let mut conn = store.pool().acquire().await.expect("conn");
        assert!(
            appointments::find(&mut conn, &other, mine)
                .await
                .expect("find")
                .is_none()
        );
        assert!(
            appointments::list(&mut conn, &other, 50)
                .await
                .expect("list")
                .is_empty()
        );
        assert!(
            !appointments::end(&mut conn, &other, mine, Status::Cancelled, None, "x", now())
                .await
                .expect("refused")
        );
        let own = access(PatientId::from_uuid(uid(1)), Action::ViewAppointments);
        let found = appointments::find(&mut conn, &own, mine)
            .await
            .expect("find")
            .expect("hers");
        assert_eq!(found.status, Status::Booked);
        assert_eq!(found.clinician_name, "Dr Rivera");
        assert_eq!(found.location_name, "Riverside");
        assert_eq!(found.end - found.start, SignedDuration::from_mins(20));
    })
    .await;
}

#[tokio::test]
async fn schedules_read_back_as_written() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        let (short, _, _) = setup(&mut tx).await;
        let config = authorize_clinic(&Principal::Operator, ClinicAction::ConfigureClinic)
            .expect("configure");
        let closure = Closure {
            id: ClosureId::from_uuid(uid(0x77)),
            clinician: None,
            starts: at(0),
            ends: at(60 * 24),
            reason: "Holiday".into(),
        };
        schedules::add_closure(&mut tx, &config, &closure, "cli", now())
            .await
            .expect("closure");
        tx.commit().await.expect("commit");
        let mut conn = store.pool().acquire().await.expect("conn");
        let hours = schedules::hours(&mut conn, None).await.expect("hours");
        assert_eq!(hours.len(), 1);
        assert_eq!(hours[0].weekday, Weekday::Monday);
        assert_eq!(hours[0].start, time(9, 0, 0, 0));
        assert_eq!(hours[0].end, time(12, 0, 0, 0));
        assert_eq!(hours[0].visit_types, vec![short]);
        let types = schedules::visit_types(&mut conn).await.expect("types");
        assert_eq!(types.len(), 2);
        assert!(
            types
                .iter()
                .all(|t| t.active && t.audience == Audience::Anyone)
        );
        let found = schedules::closures(&mut conn, at(60), at(120))
            .await
            .expect("closures");
        assert_eq!(found, vec![closure]);
        assert!(
            schedules::closures(&mut conn, at(60 * 24), at(60 * 25))
                .await
                .expect("after")
                .is_empty()
        );
        let clinicians = schedules::scheduled_clinicians(&mut conn)
            .await
            .expect("who");
        assert_eq!(clinicians.len(), 1);
        assert_eq!(clinicians[0].name, "Dr Rivera");
        // A name in use is a conflict.
        let again = schedules::add_location(
            &mut conn,
            &config,
            &Location {
                id: LocationId::from_uuid(uid(0x11)),
                name: "Riverside".into(),
                address: "elsewhere".into(),
            },
            now(),
        )
        .await
        .expect_err("same name");
        assert!(matches!(again, Error::Conflict(_)), "{again:?}");
    })
    .await;
}
