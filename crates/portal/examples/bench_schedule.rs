//! Open-time search benchmark: a clinic of 50 clinicians at 3 locations, weekday hours
//! (8:00–12:00 and 13:00–17:00), 3 kinds of visit, a holiday and some time off, and about a
//! third of the next 8 weeks booked; then the patient's finder (14 days a page, every
//! clinician) over the 8 weeks, and the whole 8 weeks in one search, timed many times.
//! Prints p50 and p99 for each on the database given.
//!
//!   cargo run --release -p portal --example bench_schedule -- sqlite|postgres [ROUNDS]
//!
//! PostgreSQL: a fresh database on the server `PORTAL_TEST_POSTGRES` names, dropped afterwards
//! (`scripts/bench-schedule` sets it).

use jiff::{SignedDuration, Timestamp};
use portal_app::appointments::FindQuery;
use portal_app::{Actor, FixedClock};
use portal_domain::audit::RequestContext;
use portal_domain::{PatientId, Principal, Role, UserId};
use portal_store::Backend;
use portal_store::testdb::TestDatabase;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLINICIANS: usize = 50;
const PATIENTS: usize = 400;
const WEEKS: i64 = 8;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what}: {} runs, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let backend = match args.next().as_deref() {
        Some("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    };
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(200);
    let db = TestDatabase::create(backend)
        .await?
        .ok_or("no database for this backend")?;
    let data_dir = tempfile::tempdir()?;
    let settings = {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            settings: portal::settings::Settings,
        }
        let mut s = Wrapper::parse_from(["portal"]).settings;
        s.data_dir = data_dir.path().to_path_buf();
        s.database = Some(db.url.parse()?);
        s.time_zone = "America/Chicago".into();
        s
    };
    // Monday 2027-01-04, 06:00 in Chicago.
    let start: Timestamp = "2027-01-04T12:00:00Z".parse()?;
    let clock = Arc::new(FixedClock::new(start));
    let store = portal::open_store(&settings, clock.as_ref()).await?;
    let app = portal::build_app(&settings, store, clock.clone()).await?;
    let operator = Actor::operator();
    let appointments = app.appointments();

    print!("seeding {CLINICIANS} clinicians, {PATIENTS} patients … ");
    let seeding = Instant::now();
    for place in ["North", "Central", "South"] {
        appointments
            .add_location(&operator, &format!("{place} Clinic"), "1 Main Street")
            .await?;
    }
    for (name, minutes, who) in [
        ("New patient visit", "40", "anyone"),
        ("Follow-up visit", "20", "anyone"),
        ("Video visit", "20", "anyone"),
    ] {
        let form = portal_domain::appointments::VisitTypeForm {
            name: name.into(),
            minutes: minutes.into(),
            audience: who.into(),
            notice_hours: "2".into(),
            horizon_days: "70".into(),
            ..Default::default()
        };
        appointments.add_visit_type(&operator, &form).await?;
    }
    for n in 0..CLINICIANS {
        let email = format!("clinician{n}@bench.portal.test");
        let new = portal_app::accounts::NewStaffAccount::parse(
            &email,
            &format!("Dr. Bench {n:02}"),
            "clinician",
        )
        .map_err(|e| format!("{e}"))?;
        app.accounts().create_staff_account(&operator, new).await?;
        let place = ["North Clinic", "Central Clinic", "South Clinic"][n % 3];
        let days = vec!["mon,tue,wed,thu,fri".to_string()];
        for (from, to) in [("08:00", "12:00"), ("13:00", "17:00")] {
            appointments
                .add_hours(&operator, &email, place, &days, (from, to), ("", ""), &[])
                .await?;
        }
        if n % 10 == 0 {
            appointments
                .add_closure(&operator, &email, ("2027-01-18", "2027-01-22"), "Time off")
                .await?;
        }
    }
    appointments
        .add_closure(&operator, "", ("2027-02-15", "2027-02-15"), "Holiday")
        .await?;
    let mut patients = Vec::new();
    for n in 0..PATIENTS {
        let row = portal_domain::Patient {
            id: PatientId::new_v7(start),
            mrn: format!("BENCH{n:05}"),
            given_name: "Bench".into(),
            family_name: format!("Patient{n}"),
            birth_date: "1980-01-01".into(),
            sex: "female".into(),
            deceased: None,
        };
        app.create_patient_record(&operator, &row).await?;
        patients.push(row.id);
    }
    println!("{:.1} s", seeding.elapsed().as_secs_f64());

    // A third of the 8 weeks' open times booked, by the front desk, as 20-minute visits.
    let staff = Actor::new(
        Principal::User {
            id: UserId::new_v7(start),
            role: Role::Staff,
            own_patient: None,
        },
        RequestContext::default(),
    );
    let setup = appointments.setup(&operator).await?;
    let kind = setup
        .visit_types
        .iter()
        .find(|v| v.minutes == 20)
        .ok_or("no 20-minute visit")?
        .clone();
    let booking = Instant::now();
    let mut booked = 0usize;
    let until = start + SignedDuration::from_hours(24 * 7 * WEEKS);
    let open = appointments
        .open_times(&staff, kind.id, start, until)
        .await?;
    for (i, time) in open.iter().enumerate() {
        if i % 3 != 0 || time.start <= start + SignedDuration::from_hours(3) {
            continue;
        }
        let form = portal_app::appointments::BookForm {
            visit_type: kind.id.to_string(),
            slot: portal_app::appointments::slot_value(time),
            reason: "Check-up".into(),
            book_key: portal_app::appointments::new_book_key(),
            moving: None,
            offer: None,
        };
        let patient = patients[booked % patients.len()];
        if appointments.book(&staff, patient, &form).await.is_ok() {
            booked += 1;
        }
    }
    println!(
        "booked {booked} visits in {:.1} s",
        booking.elapsed().as_secs_f64()
    );
    app.checkpoint(false).await.ok();
    app.store().analyze().await?;

    // The patient's finder: 14 days a page, every clinician and location, four pages for the
    // 8 weeks, as a patient reads them (policy, reads, search, audit).
    let patient = Actor::new(
        Principal::User {
            id: UserId::new_v7(start),
            role: Role::Patient,
            own_patient: Some(patients[1]),
        },
        RequestContext::default(),
    );
    let today = start
        .to_zoned_datetime(jiff::tz::TimeZone::get("America/Chicago")?)
        .date();
    let mut pages = Vec::new();
    let mut offered = 0;
    for round in 0..rounds {
        let page = round % 4;
        let from = today.checked_add(jiff::Span::new().days(14 * page as i64))?;
        let t = Instant::now();
        let finder = appointments
            .find(
                &patient,
                patients[1],
                FindQuery {
                    visit_type: Some(kind.id),
                    from: Some(from),
                    ..FindQuery::default()
                },
                None,
            )
            .await?;
        pages.push(t.elapsed());
        offered += finder.openings.len();
    }
    println!("{} open times a page on average", offered / rounds.max(1));
    report("finder page (14 days, 50 clinicians)", pages);

    // The whole 8 weeks in one search, read and worked out as the finder does.
    let mut whole = Vec::new();
    let mut found = 0;
    for _ in 0..rounds.min(100) {
        let t = Instant::now();
        let n = appointments
            .open_times(&staff, kind.id, start, until)
            .await?
            .len();
        whole.push(t.elapsed());
        found = n;
    }
    println!("{found} open times in 8 weeks");
    report("one search over 8 weeks (50 clinicians)", whole);
    app.store().close().await;
    db.cleanup().await?;
    Ok(())
}
