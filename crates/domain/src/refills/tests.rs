use super::*;

fn now() -> Timestamp {
    "2026-12-05T12:00:00Z".parse().expect("valid")
}
fn days_ago(days: i64) -> Timestamp {
    now() - SignedDuration::from_hours(24 * days)
}
fn current() -> MedicationFacts<'static> {
    MedicationFacts {
        status: "active",
        codes: vec![(RXNORM, "314231")],
        authored: Some(days_ago(30)),
        ..MedicationFacts::default()
    }
}
fn rules() -> RefillRules {
    RefillRules::default()
}

#[test]
fn a_current_prescription_without_an_end_date_goes_by_the_clinics_window() {
    assert_eq!(
        eligibility(&current(), &rules(), now()),
        Ok(Allowed::ClinicRule { months: 12 })
    );
    let old = MedicationFacts {
        authored: Some(days_ago(400)),
        ..current()
    };
    assert_eq!(
        eligibility(&old, &rules(), now()),
        Err(Refusal::TooOld { months: 12 })
    );
    let wider = RefillRules {
        window_months: 24,
        ..rules()
    };
    assert_eq!(
        eligibility(&old, &wider, now()),
        Ok(Allowed::ClinicRule { months: 24 })
    );
    let undated = MedicationFacts {
        authored: None,
        ..current()
    };
    assert_eq!(
        eligibility(&undated, &rules(), now()),
        Err(Refusal::Undated)
    );
}

#[test]
fn what_the_record_says_wins_over_the_window() {
    let valid = MedicationFacts {
        authored: Some(days_ago(600)),
        valid_until: Some(now() + SignedDuration::from_hours(24)),
        ..current()
    };
    assert_eq!(
        eligibility(&valid, &rules(), now()),
        Ok(Allowed::RecordSays)
    );
    let expired = MedicationFacts {
        valid_until: Some(days_ago(1)),
        ..current()
    };
    assert_eq!(
        eligibility(&expired, &rules(), now()),
        Err(Refusal::Expired)
    );
    let used_up = MedicationFacts {
        refills_allowed: Some(0),
        ..current()
    };
    assert_eq!(
        eligibility(&used_up, &rules(), now()),
        Err(Refusal::NoRefillsLeft)
    );
}

#[test]
fn closed_records_stopped_drugs_pending_requests_and_controlled_substances_are_refused() {
    for (facts, refusal) in [
        (
            MedicationFacts {
                deceased: true,
                ..current()
            },
            Refusal::RecordClosed,
        ),
        (
            MedicationFacts {
                record_inactive: true,
                ..current()
            },
            Refusal::RecordClosed,
        ),
        (
            MedicationFacts {
                status: "stopped",
                ..current()
            },
            Refusal::NotCurrent,
        ),
        (
            MedicationFacts {
                status: "on-hold",
                ..current()
            },
            Refusal::NotCurrent,
        ),
        (
            MedicationFacts {
                pending: true,
                ..current()
            },
            Refusal::Pending,
        ),
        (
            MedicationFacts {
                codes: vec![("http://snomed.info/sct", "1"), (RXNORM, "835603")],
                ..current()
            },
            Refusal::Controlled(DeaSchedule::IV),
        ),
    ] {
        assert_eq!(eligibility(&facts, &rules(), now()), Err(refusal));
        assert!(!refusal.words().is_empty());
    }
    // A clinic that renews schedule IV online lets tramadol through.
    let only_ii = RefillRules {
        refused_schedules: vec![DeaSchedule::II],
        ..rules()
    };
    let tramadol = MedicationFacts {
        codes: vec![(RXNORM, "835603")],
        ..current()
    };
    assert!(eligibility(&tramadol, &only_ii, now()).is_ok());
}

#[test]
fn refusals_say_what_to_do_instead() {
    assert!(Refusal::Controlled(DeaSchedule::II).offers_message());
    assert!(Refusal::TooOld { months: 12 }.offers_message());
    assert!(!Refusal::Pending.offers_message());
    assert!(
        Refusal::Controlled(DeaSchedule::II)
            .words()
            .contains("schedule II")
    );
}

#[test]
fn settings_read_as_typed_and_refuse_nonsense() {
    assert_eq!(RefillRules::parse_window(" 6 "), Ok(6));
    assert!(RefillRules::parse_window("0").is_err());
    assert!(RefillRules::parse_window("61").is_err());
    assert!(RefillRules::parse_escalate_hours("abc").is_err());
    assert_eq!(
        RefillRules::parse_schedules("IV, II,II"),
        Ok(vec![DeaSchedule::II, DeaSchedule::IV])
    );
    assert_eq!(RefillRules::parse_schedules(""), Ok(vec![]));
    assert!(RefillRules::parse_schedules("VI").is_err());
    assert_eq!(rules().schedules_text(), "II,III,IV,V");
}

#[test]
fn a_decision_names_each_bad_field() {
    let form = |choice: &str| DecisionForm {
        choice: choice.into(),
        ..DecisionForm::default()
    };
    assert_eq!(
        Decision::parse(&form("approve")),
        Ok(Decision::Approve {
            quantity: None,
            refills: None
        })
    );
    let bad = Decision::parse(&DecisionForm {
        quantity: "0".into(),
        refills: "12".into(),
        ..form("approve")
    })
    .expect_err("out of range");
    assert!(bad.get("quantity").is_some() && bad.get("refills").is_some());
    assert!(
        Decision::parse(&form("deny"))
            .expect_err("no reason")
            .get("reason")
            .is_some()
    );
    assert!(
        Decision::parse(&form("message"))
            .expect_err("no text")
            .get("message")
            .is_some()
    );
    assert!(Decision::parse(&form("maybe")).is_err());
    assert_eq!(
        Decision::parse(&DecisionForm {
            reason: "  Please book a visit first. ".into(),
            ..form("deny")
        }),
        Ok(Decision::Deny {
            reason: "Please book a visit first.".into()
        })
    );
}

#[test]
fn a_decision_cannot_take_back_a_written_prescription() {
    use RefillStatus::*;
    for s in [Sent, InReview, Denied, Messaged] {
        assert!(s.may_decide(), "{s:?}");
    }
    for s in [Approved, SentToPharmacy] {
        assert!(!s.may_decide(), "{s:?}");
    }
    for s in [Sent, InReview, Approved, Denied, Messaged, SentToPharmacy] {
        assert_eq!(RefillStatus::from_stored(s.as_str()), Some(s));
    }
}

#[test]
fn a_request_nobody_acts_on_moves_to_the_pool_then_the_lead() {
    let since = now();
    let later = |h: i64| since + SignedDuration::from_hours(h);
    assert_eq!(Stage::Prescriber.due(since, later(47), 48), None);
    assert_eq!(
        Stage::Prescriber.due(since, later(48), 48),
        Some(Stage::Pool)
    );
    assert_eq!(Stage::Pool.due(since, later(49), 48), Some(Stage::Lead));
    assert_eq!(Stage::Lead.due(since, later(500), 48), None);
}
