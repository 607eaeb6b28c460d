use super::*;

#[test]
fn a_compose_form_names_every_bad_field() {
    let errors = NewConversation::parse("nobody", "gossip", "  ", "\n \n").expect_err("bad");
    for field in ["recipient", "topic", "subject", "body"] {
        assert!(errors.get(field).is_some(), "{field}");
    }
}

#[test]
fn a_good_compose_form_keeps_its_parts() {
    let pool = PoolId::from_uuid(uuid::Uuid::from_u128(9));
    let new = NewConversation::parse(
        &format!("pool:{pool}"),
        "medical",
        " Rash ",
        "Hello\r\nthere",
    )
    .expect("good");
    assert_eq!(new.recipient, Recipient::Pool(pool));
    assert_eq!(new.topic, Topic::MedicalQuestion);
    assert_eq!(new.subject.as_str(), "Rash");
    assert_eq!(new.body.as_str(), "Hello\nthere");
    assert_eq!(
        Recipient::parse(&new.recipient.as_form()),
        Ok(new.recipient)
    );
}

#[test]
fn bodies_keep_line_breaks_and_drop_control_characters() {
    let body = Body::message("\n\nLine one  \r\n\r\nLine\u{0} two\u{1b}[31m\t.\n\n").expect("ok");
    assert_eq!(body.as_str(), "Line one\n\nLine two[31m\t.");
    assert!(Body::message(&"x".repeat(BODY_MAX + 1)).is_err());
    assert!(Body::message(&"é".repeat(BODY_MAX)).is_ok());
    assert!(Body::note(&"x".repeat(NOTE_MAX + 1)).is_err());
}

#[test]
fn subjects_are_one_short_line() {
    assert!(Subject::parse("a\nb").is_err());
    assert!(Subject::parse(&"s".repeat(SUBJECT_MAX + 1)).is_err());
    assert_eq!(
        Subject::parse("<script>alert(1)</script>")
            .expect("text is text")
            .as_str(),
        "<script>alert(1)</script>"
    );
}

#[test]
fn a_closed_conversation_takes_no_message_and_a_reply_reopens_a_done_one() {
    assert_eq!(Status::Done.after_patient_message(), Ok(Status::Open));
    assert_eq!(Status::Open.after_clinic_message(), Ok(Status::Open));
    assert_eq!(Status::Open.mark_done(), Ok(Status::Done));
    assert_eq!(Status::Closed.after_patient_message(), Err(Closed));
    assert_eq!(Status::Closed.after_clinic_message(), Err(Closed));
    assert_eq!(Status::Closed.mark_done(), Err(Closed));
    assert!(!Status::from_stored("something else").takes_replies());
    for s in [Status::Open, Status::Done, Status::Closed] {
        assert_eq!(Status::from_stored(s.as_str()), s);
    }
}

#[test]
fn topics_round_trip_and_unknown_ones_are_refused() {
    for t in Topic::ALL {
        assert_eq!(Topic::parse(t.as_str()), Ok(t));
    }
    assert!(Topic::parse("").is_err());
}

#[test]
fn business_days_skip_weekends() {
    let fri = jiff::civil::date(2026, 12, 4);
    assert_eq!(
        business_days_between(fri, jiff::civil::date(2026, 12, 7)),
        1
    );
    assert_eq!(
        business_days_between(fri, jiff::civil::date(2026, 12, 9)),
        3
    );
    assert_eq!(business_days_between(fri, fri), 0);
    assert_eq!(
        business_days_between(fri, jiff::civil::date(2026, 12, 1)),
        0
    );
}
