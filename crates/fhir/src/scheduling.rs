//! Appointments, open times and clinicians' schedules as FHIR R4 `Appointment`, `Slot` and
//! `Schedule` resources, for the read API to serve. Times come in as RFC 3339 text (this crate
//! has no date library) and go out as FHIR instants in UTC, ending in `Z`.

use crate::primitives::{is_instant, to_instant_micros};
use portal_domain::appointments::Status;
use serde_json::{Value, json};

/// The code system of the portal's visit types: a code is the visit type's id.
pub const VISIT_TYPE_SYSTEM: &str = "https://patient-portal.example/fhir/CodeSystem/visit-type";

/// R4's code system of reasons an appointment was cancelled.
const CANCELLATION_REASON_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason";

/// HL7 v3 ActCode, whose `VR` (virtual) is the class of a visit held at a distance.
const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// One appointment, in the terms the mapping needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppointmentFacts {
    /// The appointment's id (the Appointment's id).
    pub id: String,
    /// The patient's record id.
    pub patient_id: String,
    /// The clinician's id.
    pub practitioner_id: String,
    /// The clinician's name.
    pub practitioner_name: String,
    /// The location's id.
    pub location_id: String,
    /// The location's name.
    pub location_name: String,
    /// The visit type's id.
    pub visit_type_code: String,
    /// The visit type's name ("Follow-up visit").
    pub visit_type_name: String,
    /// Whether the visit takes place by video.
    pub video: bool,
    /// When it starts (RFC 3339, as jiff's `Timestamp` prints it: `2026-12-05T10:00:00Z`).
    pub start: String,
    /// When it ends (RFC 3339).
    pub end: String,
    /// Where it stands.
    pub status: Status,
    /// Why the patient wants the visit, in their words.
    pub reason: Option<String>,
    /// When it was booked (RFC 3339).
    pub booked_at: String,
    /// For a cancelled appointment, whether the patient's side cancelled it (`None`: not known).
    pub cancelled_by_patient: Option<bool>,
}

/// One open or taken time of a clinician's schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotFacts {
    /// The slot's id (the Slot's id).
    pub id: String,
    /// The id of the schedule it belongs to.
    pub schedule_id: String,
    /// When it starts (RFC 3339).
    pub start: String,
    /// When it ends (RFC 3339).
    pub end: String,
    /// Whether it is taken.
    pub busy: bool,
    /// The id of the visit type it is open for.
    pub visit_type_code: String,
    /// The name of the visit type it is open for.
    pub visit_type_name: String,
}

/// A clinician's schedule at one location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleFacts {
    /// The schedule's id (the Schedule's id).
    pub id: String,
    /// The clinician's id.
    pub practitioner_id: String,
    /// The clinician's name.
    pub practitioner_name: String,
    /// The location's id.
    pub location_id: String,
    /// The location's name.
    pub location_name: String,
    /// Whether the schedule is in use.
    pub active: bool,
    /// The start of the time its slots cover (RFC 3339).
    pub horizon_start: String,
    /// The end of the time its slots cover (RFC 3339).
    pub horizon_end: String,
}

/// The `Appointment` for one appointment.
///
/// A moved appointment is `cancelled` (the one that replaced it is booked) with the reason
/// "Moved to another time". R4 has no element for a video visit (R5 added `class` and
/// `virtualService`), so one is marked in `appointmentType`, whose binding to v2-0276 is only
/// preferred and has no code for it: ActCode `VR` (virtual), the code R5 puts in `class`.
pub fn appointment(a: &AppointmentFacts) -> Value {
    let status = match a.status {
        Status::Booked => "booked",
        Status::Cancelled | Status::Moved => "cancelled",
    };
    let mut resource = json!({
        "resourceType": "Appointment",
        "id": a.id,
        "status": status,
        "serviceType": [visit_type(&a.visit_type_code, &a.visit_type_name)],
        "start": utc_instant(&a.start),
        "end": utc_instant(&a.end),
        "created": utc_instant(&a.booked_at),
        "participant": [
            participant(json!({ "reference": format!("Patient/{}", a.patient_id) })),
            participant(reference("Practitioner", &a.practitioner_id, &a.practitioner_name)),
            participant(reference("Location", &a.location_id, &a.location_name)),
        ],
    });
    if let Some(obj) = resource.as_object_mut() {
        if let Some(reason) = cancelation_reason(a.status, a.cancelled_by_patient) {
            obj.insert("cancelationReason".into(), reason);
        }
        if a.video {
            obj.insert(
                "appointmentType".into(),
                json!({
                    "coding": [{ "system": ACT_CODE_SYSTEM, "code": "VR", "display": "virtual" }],
                    "text": "Video visit",
                }),
            );
        }
        // The store keeps an empty reason when the patient gave none; FHIR has no empty strings.
        if let Some(reason) = a.reason.as_deref().filter(|r| !r.trim().is_empty()) {
            obj.insert("reasonCode".into(), json!([{ "text": reason }]));
        }
        if let Some(minutes) = minutes_between(&a.start, &a.end) {
            obj.insert("minutesDuration".into(), json!(minutes));
        }
    }
    resource
}

/// The `Slot` for one open or taken time.
pub fn slot(s: &SlotFacts) -> Value {
    json!({
        "resourceType": "Slot",
        "id": s.id,
        "serviceType": [visit_type(&s.visit_type_code, &s.visit_type_name)],
        "schedule": { "reference": format!("Schedule/{}", s.schedule_id) },
        "status": if s.busy { "busy" } else { "free" },
        "start": utc_instant(&s.start),
        "end": utc_instant(&s.end),
    })
}

/// The `Schedule` for one clinician's schedule at one location.
pub fn schedule(s: &ScheduleFacts) -> Value {
    json!({
        "resourceType": "Schedule",
        "id": s.id,
        "active": s.active,
        "actor": [
            reference("Practitioner", &s.practitioner_id, &s.practitioner_name),
            reference("Location", &s.location_id, &s.location_name),
        ],
        "planningHorizon": {
            "start": utc_instant(&s.horizon_start),
            "end": utc_instant(&s.horizon_end),
        },
    })
}

fn reference(kind: &str, id: &str, name: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}"), "display": name })
}

fn participant(actor: Value) -> Value {
    json!({ "actor": actor, "required": "required", "status": "accepted" })
}

fn visit_type(code: &str, name: &str) -> Value {
    json!({
        "coding": [{ "system": VISIT_TYPE_SYSTEM, "code": code, "display": name }],
        "text": name,
    })
}

fn cancelation_reason(status: Status, by_patient: Option<bool>) -> Option<Value> {
    let coded = |code: &str, display: &str, text: &str| {
        json!({
            "coding": [{ "system": CANCELLATION_REASON_SYSTEM, "code": code, "display": display }],
            "text": text,
        })
    };
    match (status, by_patient) {
        (Status::Booked, _) => None,
        // R4's `pat-mv` ("Patient: Moved") reads as the patient moving house: text only.
        (Status::Moved, _) => Some(json!({ "text": "Moved to another time" })),
        (Status::Cancelled, Some(true)) => {
            Some(coded("pat", "Patient", "Cancelled by the patient"))
        }
        (Status::Cancelled, Some(false)) => {
            Some(coded("prov", "Provider", "Cancelled by the clinic"))
        }
        // Not knowing who cancelled, say nothing that may be wrong.
        (Status::Cancelled, None) => Some(json!({ "text": "Cancelled" })),
    }
}

/// Whole minutes from `start` to `end`; `None` unless both are times and `end` is later.
fn minutes_between(start: &str, end: &str) -> Option<i64> {
    let minutes = (to_instant_micros(end)? - to_instant_micros(start)?) / (60 * MICROS_PER_SECOND);
    (minutes > 0).then_some(minutes)
}

/// `text`, an RFC 3339 time, as a FHIR instant in UTC. Text that is no instant is passed on as
/// it is, so that a caller's mistake shows in the output instead of vanishing from it.
fn utc_instant(text: &str) -> String {
    let Some(micros) = to_instant_micros(text).filter(|_| is_instant(text)) else {
        return text.to_owned();
    };
    let (year, month, day) = civil_date(micros.div_euclid(MICROS_PER_DAY));
    // A time within a day of year 1 or 9999 may fall outside the years FHIR can write.
    if !(1..=9999).contains(&year) {
        return text.to_owned();
    }
    let of_day = micros.rem_euclid(MICROS_PER_DAY);
    let seconds = of_day / MICROS_PER_SECOND;
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60
    );
    let fraction = of_day % MICROS_PER_SECOND;
    if fraction != 0 {
        out.push_str(format!(".{fraction:06}").trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// The civil date (year, month, day) of a count of days since 1970-01-01, in the proleptic
/// Gregorian calendar: the inverse of `days_since_epoch` in `primitives`.
fn civil_date(days: i64) -> (i64, i64, i64) {
    // Count from 0000-03-01, so that the leap day is the last day of each counted year.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: Status) -> AppointmentFacts {
        AppointmentFacts {
            id: "a1".into(),
            patient_id: "p1".into(),
            practitioner_id: "u9".into(),
            practitioner_name: "Dr Ada Okafor".into(),
            location_id: "l2".into(),
            location_name: "Riverside Clinic".into(),
            visit_type_code: "v3".into(),
            visit_type_name: "Follow-up visit".into(),
            video: false,
            start: "2026-12-05T10:00:00Z".into(),
            end: "2026-12-05T10:40:00Z".into(),
            status,
            reason: Some("My knee still hurts.".into()),
            booked_at: "2026-12-01T08:15:30.5Z".into(),
            cancelled_by_patient: None,
        }
    }

    fn schedule_facts() -> ScheduleFacts {
        ScheduleFacts {
            id: "s1".into(),
            practitioner_id: "u9".into(),
            practitioner_name: "Dr Ada Okafor".into(),
            location_id: "l2".into(),
            location_name: "Riverside Clinic".into(),
            active: true,
            horizon_start: "2026-12-01T00:00:00Z".into(),
            horizon_end: "2027-03-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_booked_appointment_names_the_patient_the_clinician_and_the_place() {
        let a = appointment(&facts(Status::Booked));
        assert_eq!(a["resourceType"], "Appointment");
        assert_eq!(a["id"], "a1");
        assert_eq!(a["status"], "booked");
        assert_eq!(a["start"], "2026-12-05T10:00:00Z");
        assert_eq!(a["end"], "2026-12-05T10:40:00Z");
        assert_eq!(a["minutesDuration"], 40);
        assert_eq!(a["created"], "2026-12-01T08:15:30.5Z");
        assert_eq!(a["reasonCode"], json!([{ "text": "My knee still hurts." }]));
        assert_eq!(
            a["serviceType"],
            json!([{
                "coding": [{
                    "system": VISIT_TYPE_SYSTEM,
                    "code": "v3",
                    "display": "Follow-up visit",
                }],
                "text": "Follow-up visit",
            }])
        );
        assert_eq!(
            a["participant"],
            json!([
                {
                    "actor": { "reference": "Patient/p1" },
                    "required": "required",
                    "status": "accepted",
                },
                {
                    "actor": { "reference": "Practitioner/u9", "display": "Dr Ada Okafor" },
                    "required": "required",
                    "status": "accepted",
                },
                {
                    "actor": { "reference": "Location/l2", "display": "Riverside Clinic" },
                    "required": "required",
                    "status": "accepted",
                },
            ])
        );
        assert!(a.get("cancelationReason").is_none());
        assert!(a.get("appointmentType").is_none());
    }

    #[test]
    fn a_cancellation_says_which_side_cancelled() {
        let mut f = facts(Status::Cancelled);
        f.cancelled_by_patient = Some(true);
        let by_patient = appointment(&f);
        assert_eq!(by_patient["status"], "cancelled");
        let coding = &by_patient["cancelationReason"]["coding"][0];
        assert_eq!(coding["system"], CANCELLATION_REASON_SYSTEM);
        assert_eq!(coding["code"], "pat");
        assert_eq!(
            by_patient["cancelationReason"]["text"],
            "Cancelled by the patient"
        );

        f.cancelled_by_patient = Some(false);
        let by_clinic = appointment(&f);
        assert_eq!(by_clinic["status"], "cancelled");
        assert_eq!(by_clinic["cancelationReason"]["coding"][0]["code"], "prov");
        assert_eq!(
            by_clinic["cancelationReason"]["text"],
            "Cancelled by the clinic"
        );
    }

    #[test]
    fn a_cancellation_by_an_unknown_side_claims_no_side() {
        let a = appointment(&facts(Status::Cancelled));
        assert_eq!(a["status"], "cancelled");
        assert_eq!(a["cancelationReason"], json!({ "text": "Cancelled" }));
    }

    #[test]
    fn a_moved_appointment_is_cancelled_as_moved_to_another_time() {
        let mut f = facts(Status::Moved);
        f.cancelled_by_patient = Some(true);
        let a = appointment(&f);
        assert_eq!(a["status"], "cancelled");
        assert_eq!(
            a["cancelationReason"],
            json!({ "text": "Moved to another time" })
        );
    }

    #[test]
    fn a_booked_appointment_has_no_cancellation_reason_whoever_is_named() {
        let mut f = facts(Status::Booked);
        f.cancelled_by_patient = Some(false);
        assert!(appointment(&f).get("cancelationReason").is_none());
    }

    #[test]
    fn a_video_visit_is_marked_virtual() {
        let mut f = facts(Status::Booked);
        f.video = true;
        let a = appointment(&f);
        assert_eq!(a["appointmentType"]["coding"][0]["system"], ACT_CODE_SYSTEM);
        assert_eq!(a["appointmentType"]["coding"][0]["code"], "VR");
        assert_eq!(a["appointmentType"]["text"], "Video visit");
    }

    #[test]
    fn a_blank_reason_is_left_out() {
        let mut f = facts(Status::Booked);
        f.reason = Some("  ".into());
        assert!(appointment(&f).get("reasonCode").is_none());
        f.reason = None;
        assert!(appointment(&f).get("reasonCode").is_none());
    }

    #[test]
    fn times_with_an_offset_become_instants_in_utc() {
        let mut f = facts(Status::Booked);
        f.start = "2028-02-29T23:30:00-02:00".into();
        f.end = "2028-03-01T03:15:00+01:00".into();
        f.booked_at = "2027-12-31T23:59:59.250-00:30".into();
        let a = appointment(&f);
        assert_eq!(a["start"], "2028-03-01T01:30:00Z");
        assert_eq!(a["end"], "2028-03-01T02:15:00Z");
        assert_eq!(a["minutesDuration"], 45);
        assert_eq!(a["created"], "2028-01-01T00:29:59.25Z");
    }

    #[test]
    fn instants_come_out_in_utc_across_the_calendar() {
        for (given, expected) in [
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            ("1969-12-31T23:59:59.000001Z", "1969-12-31T23:59:59.000001Z"),
            ("2000-02-29T12:00:00+12:00", "2000-02-29T00:00:00Z"),
            ("2100-03-01T00:00:00+01:00", "2100-02-28T23:00:00Z"),
            (
                "2026-12-05T10:00:00.123456789Z",
                "2026-12-05T10:00:00.123456Z",
            ),
        ] {
            assert_eq!(utc_instant(given), expected, "{given}");
        }
    }

    #[test]
    fn text_that_is_no_instant_is_passed_on_and_gives_no_duration() {
        let mut f = facts(Status::Booked);
        f.start = "tomorrow".into();
        let a = appointment(&f);
        assert_eq!(a["start"], "tomorrow");
        assert!(a.get("minutesDuration").is_none());
        assert_eq!(
            utc_instant("0001-01-01T00:30:00+01:00"),
            "0001-01-01T00:30:00+01:00"
        );
    }

    #[test]
    fn a_slot_is_free_or_busy_in_its_schedule() {
        let mut s = SlotFacts {
            id: "t1".into(),
            schedule_id: "s1".into(),
            start: "2026-12-05T10:00:00+01:00".into(),
            end: "2026-12-05T10:20:00+01:00".into(),
            busy: false,
            visit_type_code: "v3".into(),
            visit_type_name: "Follow-up visit".into(),
        };
        let free = slot(&s);
        assert_eq!(free["resourceType"], "Slot");
        assert_eq!(free["id"], "t1");
        assert_eq!(free["status"], "free");
        assert_eq!(free["schedule"], json!({ "reference": "Schedule/s1" }));
        assert_eq!(free["start"], "2026-12-05T09:00:00Z");
        assert_eq!(free["end"], "2026-12-05T09:20:00Z");
        assert_eq!(free["serviceType"][0]["coding"][0]["code"], "v3");
        assert_eq!(free["serviceType"][0]["text"], "Follow-up visit");

        s.busy = true;
        assert_eq!(slot(&s)["status"], "busy");
    }

    #[test]
    fn a_schedule_is_the_clinicians_at_one_place_over_its_horizon() {
        let mut f = schedule_facts();
        let s = schedule(&f);
        assert_eq!(s["resourceType"], "Schedule");
        assert_eq!(s["id"], "s1");
        assert_eq!(s["active"], true);
        assert_eq!(
            s["actor"],
            json!([
                { "reference": "Practitioner/u9", "display": "Dr Ada Okafor" },
                { "reference": "Location/l2", "display": "Riverside Clinic" },
            ])
        );
        assert_eq!(
            s["planningHorizon"],
            json!({ "start": "2026-12-01T00:00:00Z", "end": "2027-03-01T00:00:00Z" })
        );

        f.active = false;
        assert_eq!(schedule(&f)["active"], false);
    }
}
