use super::schedule::{
    Closure, NewHours, OpenTime, Search, Taken, WeeklyHours, instant, nearest, open_times,
    parse_closure, units,
};
use super::*;
use crate::ids::{ClosureId, HoursId, LocationId, UserId};
use jiff::civil::{Weekday, date, time};
use jiff::tz::TimeZone;

fn id<T: From<u128>>(n: u128) -> T {
    T::from(n)
}

impl From<u128> for UserId {
    fn from(n: u128) -> Self {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
}
impl From<u128> for LocationId {
    fn from(n: u128) -> Self {
        LocationId::from_uuid(uuid::Uuid::from_u128(n))
    }
}

fn visit(minutes: i64) -> VisitType {
    VisitType {
        id: VisitTypeId::from_uuid(uuid::Uuid::from_u128(minutes as u128)),
        name: format!("{minutes} minutes"),
        minutes,
        video: false,
        audience: Audience::Anyone,
        min_age: None,
        max_age: None,
        notice_minutes: 120,
        horizon_days: 60,
        active: true,
        questions: String::new(),
    }
}

fn hours(clinician: u128, weekday: Weekday, start: (i8, i8), end: (i8, i8)) -> WeeklyHours {
    WeeklyHours {
        id: HoursId::from_uuid(uuid::Uuid::from_u128(clinician * 100 + weekday as u128)),
        clinician: id(clinician),
        location: id(7),
        weekday,
        start: time(start.0, start.1, 0, 0),
        end: time(end.0, end.1, 0, 0),
        visit_types: Vec::new(),
        from: None,
        until: None,
    }
}

fn ts(s: &str) -> jiff::Timestamp {
    s.parse().expect("a test time")
}

fn new_york() -> TimeZone {
    TimeZone::get("America/New_York").expect("bundled zone")
}

fn search(v: &VisitType, from: &str, until: &str) -> Search<'static> {
    Search {
        visit_type: Box::leak(Box::new(v.clone())),
        clinician: None,
        location: None,
        from: ts(from),
        until: ts(until),
    }
}

fn starts(found: &[OpenTime]) -> Vec<String> {
    found.iter().map(|o| o.start.to_string()).collect()
}

#[test]
fn a_nine_oclock_start_stays_nine_oclock_across_spring_forward() {
    // 2026-03-08: New York moves from UTC-5 to UTC-4.
    let v = visit(20);
    let found = open_times(
        &search(&v, "2026-03-02T00:00:00Z", "2026-03-10T00:00:00Z"),
        &[hours(1, Weekday::Monday, (9, 0), (9, 20))],
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    assert_eq!(
        starts(&found),
        ["2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z"]
    );
}

#[test]
fn a_nine_oclock_start_stays_nine_oclock_across_fall_back() {
    // 2026-11-01: New York moves from UTC-4 back to UTC-5.
    let v = visit(20);
    let found = open_times(
        &search(&v, "2026-10-26T00:00:00Z", "2026-11-03T00:00:00Z"),
        &[hours(1, Weekday::Monday, (9, 0), (9, 20))],
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    assert_eq!(
        starts(&found),
        ["2026-10-26T13:00:00Z", "2026-11-02T14:00:00Z"]
    );
}

#[test]
fn wall_times_the_spring_change_skips_are_not_offered() {
    let v = visit(30);
    let found = open_times(
        &search(&v, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
        &[hours(1, Weekday::Sunday, (1, 0), (4, 0))],
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    // 01:00 and 01:30 EST, then 03:00 and 03:30 EDT; 02:00 and 02:30 do not exist.
    assert_eq!(
        starts(&found),
        [
            "2026-03-08T06:00:00Z",
            "2026-03-08T06:30:00Z",
            "2026-03-08T07:00:00Z",
            "2026-03-08T07:30:00Z"
        ]
    );
}

#[test]
fn wall_times_the_fall_change_repeats_are_offered_once() {
    let v = visit(30);
    let found = open_times(
        &search(&v, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        &[hours(1, Weekday::Sunday, (1, 0), (2, 0))],
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    // 01:00 and 01:30 happen twice; each is offered once, at the first (EDT).
    assert_eq!(
        starts(&found),
        ["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"]
    );
    let fold = instant(&new_york(), date(2026, 11, 1).at(1, 30, 0, 0));
    assert_eq!(fold, Some(ts("2026-11-01T05:30:00Z")));
    assert_eq!(instant(&new_york(), date(2026, 3, 8).at(2, 30, 0, 0)), None);
}

#[test]
fn a_forty_minute_visit_is_not_offered_over_a_twenty_minute_booking() {
    let long = visit(40);
    let mut taken = Taken::default();
    // A 20-minute visit booked at 09:20 (UTC-5 in January).
    for unit in units(ts("2026-01-05T14:20:00Z"), ts("2026-01-05T14:40:00Z")) {
        taken.hold(id(1), unit);
    }
    let found = open_times(
        &search(&long, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z"),
        &[hours(1, Weekday::Monday, (9, 0), (11, 0))],
        &[],
        &taken,
        &new_york(),
        100,
    );
    // 09:00 would run to 09:40 over the booking; 09:40 and 10:20 are free.
    assert_eq!(
        starts(&found),
        ["2026-01-05T14:40:00Z", "2026-01-05T15:20:00Z"]
    );
    // Another clinician's booking holds nothing of this one's.
    let mut other = Taken::default();
    other.hold(id(2), ts("2026-01-05T14:00:00Z"));
    assert!(other.free(
        id(1),
        ts("2026-01-05T14:00:00Z"),
        ts("2026-01-05T14:40:00Z")
    ));
}

#[test]
fn closures_remove_the_times_they_touch() {
    let v = visit(20);
    let zone = new_york();
    let (from, until, reason) =
        parse_closure(&zone, "2026-01-05 09:20", "2026-01-05 09:40", "Blocked").expect("closure");
    let blocked = Closure {
        id: ClosureId::from_uuid(uuid::Uuid::from_u128(1)),
        clinician: Some(id(1)),
        starts: from,
        ends: until,
        reason,
    };
    let (hol_from, hol_until, _) =
        parse_closure(&zone, "2026-01-06", "2026-01-06", "Holiday").expect("holiday");
    let holiday = Closure {
        id: ClosureId::from_uuid(uuid::Uuid::from_u128(2)),
        clinician: None,
        starts: hol_from,
        ends: hol_until,
        reason: "Holiday".into(),
    };
    let found = open_times(
        &search(&v, "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z"),
        &[
            hours(1, Weekday::Monday, (9, 0), (10, 0)),
            hours(1, Weekday::Tuesday, (9, 0), (10, 0)),
        ],
        &[blocked, holiday],
        &Taken::default(),
        &zone,
        100,
    );
    assert_eq!(
        starts(&found),
        ["2026-01-05T14:00:00Z", "2026-01-05T14:40:00Z"]
    );
}

#[test]
fn hours_apply_only_between_their_dates_and_for_their_visit_types() {
    let v = visit(20);
    let mut h = hours(1, Weekday::Monday, (9, 0), (9, 20));
    h.from = Some(date(2026, 1, 12));
    h.until = Some(date(2026, 1, 19));
    let found = open_times(
        &search(&v, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        std::slice::from_ref(&h),
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    assert_eq!(
        starts(&found),
        ["2026-01-12T14:00:00Z", "2026-01-19T14:00:00Z"]
    );
    h.visit_types = vec![VisitTypeId::from_uuid(uuid::Uuid::from_u128(999))];
    let none = open_times(
        &search(&v, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
        &[h],
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    assert!(none.is_empty());
}

#[test]
fn the_search_window_and_limit_bound_what_is_offered() {
    let v = visit(20);
    let found = open_times(
        &search(&v, "2026-01-05T14:30:00Z", "2026-01-12T14:20:00Z"),
        &[hours(1, Weekday::Monday, (9, 0), (10, 0))],
        &[],
        &Taken::default(),
        &new_york(),
        100,
    );
    assert_eq!(
        starts(&found),
        [
            "2026-01-05T14:40:00Z",
            "2026-01-12T14:00:00Z",
            "2026-01-12T14:20:00Z"
        ]
    );
    let first = open_times(
        &search(&v, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        &[hours(1, Weekday::Monday, (9, 0), (10, 0))],
        &[],
        &Taken::default(),
        &new_york(),
        2,
    );
    assert_eq!(
        starts(&first),
        ["2026-01-05T14:00:00Z", "2026-01-05T14:20:00Z"]
    );
}

#[test]
fn the_nearest_times_are_offered_to_a_loser_in_time_order() {
    let at = |s: &str| OpenTime {
        start: ts(s),
        end: ts(s),
        clinician: id(1),
        location: id(7),
    };
    let open = vec![
        at("2026-01-05T13:00:00Z"),
        at("2026-01-05T14:20:00Z"),
        at("2026-01-05T15:00:00Z"),
        at("2026-01-09T14:00:00Z"),
    ];
    let near = nearest(open, ts("2026-01-05T14:00:00Z"), 3);
    assert_eq!(
        starts(&near),
        [
            "2026-01-05T13:00:00Z",
            "2026-01-05T14:20:00Z",
            "2026-01-05T15:00:00Z"
        ]
    );
}

#[test]
fn patients_book_only_within_notice_and_horizon_the_clinic_any_future_time() {
    let v = visit(20);
    let now = ts("2026-01-05T12:00:00Z");
    assert!(
        !v.bookable_at(ts("2026-01-05T13:00:00Z"), now, false),
        "inside the notice"
    );
    assert!(v.bookable_at(ts("2026-01-05T14:00:00Z"), now, false));
    assert!(v.bookable_at(ts("2026-03-06T12:00:00Z"), now, false));
    assert!(
        !v.bookable_at(ts("2026-03-06T12:05:00Z"), now, false),
        "past the horizon"
    );
    assert!(v.bookable_at(ts("2026-01-05T12:05:00Z"), now, true));
    assert!(
        !v.bookable_at(ts("2026-01-05T11:55:00Z"), now, true),
        "already begun"
    );
}

#[test]
fn who_may_book_a_visit_type_follows_its_audience_and_ages() {
    let facts = |established, age| PatientFacts {
        established,
        age_years: age,
        deceased: false,
    };
    let mut v = visit(40);
    v.audience = Audience::NewPatients;
    assert_eq!(v.self_booking(facts(false, Some(30))), Ok(()));
    assert_eq!(
        v.self_booking(facts(true, Some(30))),
        Err(NotBookable::NewPatientsOnly)
    );
    v.audience = Audience::Established;
    assert_eq!(
        v.self_booking(facts(false, Some(30))),
        Err(NotBookable::EstablishedOnly)
    );
    v.audience = Audience::ClinicOnly;
    assert_eq!(
        v.self_booking(facts(true, Some(30))),
        Err(NotBookable::ClinicOnly)
    );
    v.audience = Audience::Anyone;
    v.min_age = Some(18);
    v.max_age = Some(64);
    assert_eq!(
        v.self_booking(facts(true, Some(17))),
        Err(NotBookable::TooYoung)
    );
    assert_eq!(
        v.self_booking(facts(true, Some(65))),
        Err(NotBookable::TooOld)
    );
    assert_eq!(v.self_booking(facts(true, Some(18))), Ok(()));
    assert_eq!(
        v.self_booking(facts(true, None)),
        Err(NotBookable::TooYoung)
    );
    v.active = false;
    assert_eq!(
        v.self_booking(facts(true, Some(30))),
        Err(NotBookable::Retired)
    );
    v.active = true;
    let dead = PatientFacts {
        deceased: true,
        ..facts(true, Some(30))
    };
    assert_eq!(v.self_booking(dead), Err(NotBookable::Deceased));
}

#[test]
fn the_patients_side_may_change_a_visit_only_before_the_cut_off() {
    let settings = AppointmentSettings {
        cancel_hours: 24,
        ..AppointmentSettings::default()
    };
    let start = ts("2026-01-06T14:00:00Z");
    assert!(settings.patient_may_change(start, ts("2026-01-05T14:00:00Z")));
    assert!(!settings.patient_may_change(start, ts("2026-01-05T14:00:01Z")));
}

#[test]
fn ages_count_whole_years_to_the_birthday() {
    assert_eq!(age_on("2014-03-08", date(2026, 3, 7)), Some(11));
    assert_eq!(age_on("2014-03-08", date(2026, 3, 8)), Some(12));
    assert_eq!(age_on("1990", date(2026, 3, 8)), None);
}

#[test]
fn visit_type_forms_name_each_bad_field() {
    let form = VisitTypeForm {
        name: "".into(),
        minutes: "22".into(),
        video: false,
        audience: "everyone".into(),
        min_age: "40".into(),
        max_age: "12".into(),
        notice_hours: "-1".into(),
        horizon_days: "0".into(),
        questions: "".into(),
    };
    let errors = NewVisitType::parse(&form).expect_err("refused");
    for field in [
        "name",
        "minutes",
        "audience",
        "max_age",
        "notice_hours",
        "horizon_days",
    ] {
        assert!(errors.get(field).is_some(), "{field}");
    }
    let ok = VisitTypeForm {
        name: "Follow-up visit".into(),
        minutes: "20".into(),
        video: true,
        audience: "established".into(),
        min_age: "".into(),
        max_age: "".into(),
        notice_hours: "2".into(),
        horizon_days: "60".into(),
        questions: "Where will you be?".into(),
    };
    let parsed = NewVisitType::parse(&ok).expect("accepted");
    assert_eq!(parsed.notice_minutes, 120);
    assert!(parsed.video);
}

#[test]
fn hours_forms_read_days_and_times_on_five_minute_steps() {
    let parsed = NewHours::parse(
        &["mon,wed".into(), "Friday".into()],
        "08:30",
        "12:00",
        "",
        "",
    )
    .expect("accepted");
    assert_eq!(
        parsed.weekdays,
        [Weekday::Monday, Weekday::Wednesday, Weekday::Friday]
    );
    let errors =
        NewHours::parse(&["funday".into()], "08:07", "07:00", "x", "").expect_err("refused");
    for field in ["weekdays", "start", "from"] {
        assert!(errors.get(field).is_some(), "{field}");
    }
    let backwards =
        NewHours::parse(&["mon".into()], "10:00", "09:00", "", "").expect_err("refused");
    assert!(backwards.get("end").is_some());
}

#[test]
fn a_reason_is_required_bounded_and_kept_out_of_logs() {
    assert!(Reason::parse("  ").is_err());
    assert!(Reason::parse(&"x".repeat(501)).is_err());
    assert!(Reason::parse("cough\u{7}").is_err());
    let r = Reason::parse(" Cough for two weeks\r\nand fever ").expect("reason");
    assert_eq!(r.as_str(), "Cough for two weeks\nand fever");
    assert_eq!(format!("{r:?}"), "Reason(***)");
}
