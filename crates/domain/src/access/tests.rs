//! The policy's decisions, role by role.

use super::*;
use crate::record::Sensitivity;

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("valid")
}

fn pid(n: u128) -> PatientId {
    PatientId::from_uuid(uuid::Uuid::from_u128(n))
}

fn user(role: Role, own: Option<PatientId>) -> Principal {
    Principal::User {
        id: UserId::from_uuid(uuid::Uuid::from_u128(99)),
        role,
        own_patient: own,
    }
}

fn grant(scope: ProxyScope) -> ProxyGrantFact {
    ProxyGrantFact {
        scope,
        starts_at: now() - jiff::SignedDuration::from_hours(1),
        ends_at: None,
        revoked: false,
        relationship: Relationship::Parent,
        patient_chose_at: None,
        shared: Categories::NONE,
    }
}

#[test]
fn patient_sees_own_record_but_not_another() {
    let me = user(Role::Patient, Some(pid(1)));
    for action in Action::ALL {
        let own = authorize(&me, pid(1), action, &AccessFacts::default(), now());
        let other = authorize(&me, pid(2), action, &AccessFacts::default(), now());
        assert_eq!(
            own.is_ok(),
            AccessBasis::OwnRecord.covers(action),
            "{action:?}"
        );
        assert_eq!(other, Err(Denied), "{action:?}");
    }
}

#[test]
fn patient_cannot_write_their_record_or_enrol() {
    let me = user(Role::Patient, Some(pid(1)));
    let facts = AccessFacts::default();
    assert!(authorize(&me, pid(1), Action::WriteRecord, &facts, now()).is_err());
    assert!(authorize(&me, pid(1), Action::Enrol, &facts, now()).is_err());
}

#[test]
fn proxy_needs_an_active_grant() {
    let parent = user(Role::Patient, None);
    let mut facts = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::Full)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    let ok = authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).expect("granted");
    assert_eq!(ok.basis(), AccessBasis::Proxy(ProxyScope::Full));

    facts.proxy_grants[0].ends_at = Some(now());
    assert!(authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).is_err());

    facts.proxy_grants[0].ends_at = None;
    facts.proxy_grants[0].revoked = true;
    assert!(authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).is_err());

    facts.proxy_grants[0].revoked = false;
    facts.proxy_grants[0].starts_at = now() + jiff::SignedDuration::from_secs(1);
    assert!(authorize(&parent, pid(7), Action::ViewRecord, &facts, now()).is_err());
}

#[test]
fn non_clinical_proxy_cannot_read_the_clinical_record() {
    let caregiver = user(Role::Patient, None);
    let facts = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::NonClinical)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    assert!(authorize(&caregiver, pid(7), Action::ViewAppointments, &facts, now()).is_ok());
    for action in [Action::ViewRecord, Action::ViewNotes, Action::Export] {
        assert!(authorize(&caregiver, pid(7), action, &facts, now()).is_err());
    }
}

#[test]
fn clinician_needs_care_team_or_break_glass() {
    let doc = user(Role::Clinician, None);
    let none = AccessFacts::default();
    assert!(authorize(&doc, pid(3), Action::ViewRecord, &none, now()).is_err());

    let team = AccessFacts {
        on_care_team: true,
        ..Default::default()
    };
    let access = authorize(&doc, pid(3), Action::ViewNotes, &team, now()).expect("team");
    assert!(!access.is_break_glass());

    let glass = AccessFacts {
        break_glass_until: Some(now() + jiff::SignedDuration::from_mins(5)),
        ..Default::default()
    };
    let access = authorize(&doc, pid(3), Action::ViewNotes, &glass, now()).expect("glass");
    assert!(access.is_break_glass());

    let expired = AccessFacts {
        break_glass_until: Some(now()),
        ..Default::default()
    };
    assert!(authorize(&doc, pid(3), Action::ViewNotes, &expired, now()).is_err());
}

#[test]
fn staff_do_front_desk_work_but_never_see_clinical_data() {
    let desk = user(Role::Staff, None);
    let facts = AccessFacts::default();
    assert!(authorize(&desk, pid(4), Action::ManageAppointments, &facts, now()).is_ok());
    assert!(authorize(&desk, pid(4), Action::SendMessage, &facts, now()).is_ok());
    for action in Action::ALL.into_iter().filter(|a| a.is_clinical()) {
        assert!(authorize(&desk, pid(4), action, &facts, now()).is_err());
    }
    // Even a care-team fact does not open clinical data to staff.
    let team = AccessFacts {
        on_care_team: true,
        ..Default::default()
    };
    assert!(authorize(&desk, pid(4), Action::ViewNotes, &team, now()).is_err());
}

#[test]
fn admins_enrol_but_see_no_clinical_data() {
    let admin = user(Role::Admin, None);
    let facts = AccessFacts::default();
    assert!(authorize(&admin, pid(5), Action::Enrol, &facts, now()).is_ok());
    for action in [
        Action::ViewRecord,
        Action::ViewNotes,
        Action::ViewMessages,
        Action::Export,
    ] {
        assert!(authorize(&admin, pid(5), action, &facts, now()).is_err());
    }
}

#[test]
fn system_clients_act_within_their_scopes() {
    let writer = Principal::System {
        client: ClientId::from_uuid(uuid::Uuid::from_u128(8)),
        scopes: ApiScopes {
            read: false,
            write: true,
        },
    };
    let facts = AccessFacts::default();
    assert!(authorize(&writer, pid(6), Action::WriteRecord, &facts, now()).is_ok());
    assert!(authorize(&writer, pid(6), Action::ViewRecord, &facts, now()).is_err());
    assert!(authorize(&writer, pid(6), Action::SendMessage, &facts, now()).is_err());
}

#[test]
fn the_operator_enrols_but_sees_no_clinical_data() {
    let facts = AccessFacts::default();
    assert!(authorize(&Principal::Operator, pid(5), Action::Enrol, &facts, now()).is_ok());
    assert!(
        authorize(
            &Principal::Operator,
            pid(5),
            Action::WriteRecord,
            &facts,
            now()
        )
        .is_ok()
    );
    assert!(
        authorize(
            &Principal::Operator,
            pid(5),
            Action::ViewRecord,
            &facts,
            now()
        )
        .is_err()
    );
    assert!(authorize_clinic(&Principal::Operator, ClinicAction::ManageUsers).is_ok());
    assert!(authorize_clinic(&Principal::Operator, ClinicAction::ReadAuditTrail).is_err());
}

#[test]
fn clinic_work_is_split_by_role() {
    let admin = user(Role::Admin, None);
    let doc = user(Role::Clinician, None);
    let patient = user(Role::Patient, Some(pid(1)));
    // The audit trail is a privacy officer's, on top of the role.
    assert!(authorize_clinic(&admin, ClinicAction::ReadAuditTrail).is_err());
    assert!(authorize_clinic(&doc, ClinicAction::ReadAuditTrail).is_err());
    assert!(authorize_audit_review(&admin, true).is_ok());
    assert!(authorize_audit_review(&doc, true).is_ok());
    assert!(authorize_audit_review(&admin, false).is_err());
    assert!(authorize_audit_review(&doc, false).is_err());
    assert!(authorize_audit_review(&user(Role::Staff, None), true).is_err());
    assert!(authorize_audit_review(&patient, true).is_err());
    assert!(authorize_audit_review(&Principal::Operator, true).is_err());
    assert!(authorize_clinic(&doc, ClinicAction::BreakGlass).is_ok());
    assert!(authorize_clinic(&doc, ClinicAction::SearchDirectory).is_ok());
    assert!(authorize_clinic(&patient, ClinicAction::SearchDirectory).is_err());
    // A clinician finds patients, but the front desk's lists across patients are not theirs.
    assert!(authorize_clinic(&doc, ClinicAction::FrontDesk).is_err());
    assert!(authorize_clinic(&user(Role::Staff, None), ClinicAction::FrontDesk).is_ok());
    assert!(authorize_clinic(&patient, ClinicAction::FrontDesk).is_err());
    assert!(authorize_clinic(&patient, ClinicAction::ViewInBasket).is_err());
}

fn clinician_on_team() -> (Principal, AccessFacts) {
    (
        user(Role::Clinician, None),
        AccessFacts {
            on_care_team: true,
            ..Default::default()
        },
    )
}

#[test]
fn only_the_care_team_releases_results_and_decides_refills() {
    let (doc, team) = clinician_on_team();
    for action in [Action::ReleaseResult, Action::DecideRefill] {
        assert!(authorize(&doc, pid(3), action, &team, now()).is_ok());
        let me = user(Role::Patient, Some(pid(3)));
        assert!(authorize(&me, pid(3), action, &AccessFacts::default(), now()).is_err());
        let desk = user(Role::Staff, None);
        assert!(authorize(&desk, pid(3), action, &team, now()).is_err());
        let outsider = user(Role::Clinician, None);
        assert!(authorize(&outsider, pid(3), action, &AccessFacts::default(), now()).is_err());
    }
}

#[test]
fn patients_and_full_proxies_request_refills_and_connect_apps() {
    let me = user(Role::Patient, Some(pid(1)));
    let parent = user(Role::Patient, None);
    let full = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::Full)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    let limited = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::NonClinical)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    for action in [Action::RequestRefill, Action::UseApi] {
        assert!(authorize(&me, pid(1), action, &AccessFacts::default(), now()).is_ok());
        assert!(authorize(&parent, pid(1), action, &full, now()).is_ok());
        assert!(authorize(&parent, pid(1), action, &limited, now()).is_err());
        let (doc, team) = clinician_on_team();
        assert!(authorize(&doc, pid(1), action, &team, now()).is_err());
        // Never for another patient.
        assert!(authorize(&me, pid(2), action, &AccessFacts::default(), now()).is_err());
    }
}

#[test]
fn video_visits_are_joined_by_the_patient_their_proxies_and_the_care_team() {
    let limited = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::NonClinical)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    let caregiver = user(Role::Patient, None);
    assert!(authorize(&caregiver, pid(1), Action::JoinVisit, &limited, now()).is_ok());
    let (doc, team) = clinician_on_team();
    assert!(authorize(&doc, pid(1), Action::JoinVisit, &team, now()).is_ok());
    let desk = user(Role::Staff, None);
    assert!(authorize(&desk, pid(1), Action::JoinVisit, &team, now()).is_err());
    let stranger = user(Role::Patient, Some(pid(2)));
    assert!(
        authorize(
            &stranger,
            pid(1),
            Action::JoinVisit,
            &AccessFacts::default(),
            now()
        )
        .is_err()
    );
}

#[test]
fn proxies_are_managed_by_the_patient_and_the_front_desk_never_by_a_proxy() {
    let me = user(Role::Patient, Some(pid(1)));
    assert!(
        authorize(
            &me,
            pid(1),
            Action::ManageProxy,
            &AccessFacts::default(),
            now()
        )
        .is_ok()
    );
    let parent = user(Role::Patient, None);
    let full = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::Full)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    assert!(authorize(&parent, pid(1), Action::ManageProxy, &full, now()).is_err());
    for role in [Role::Staff, Role::Admin] {
        let desk = user(role, None);
        assert!(
            authorize(
                &desk,
                pid(1),
                Action::ManageProxy,
                &AccessFacts::default(),
                now()
            )
            .is_ok()
        );
    }
    let (doc, team) = clinician_on_team();
    assert!(authorize(&doc, pid(1), Action::ManageProxy, &team, now()).is_err());
}

#[test]
fn held_results_are_shown_to_the_care_team_only() {
    let (doc, team) = clinician_on_team();
    let access = authorize(&doc, pid(1), Action::ViewRecord, &team, now()).expect("team");
    assert!(access.visibility().unreleased);
    let me = user(Role::Patient, Some(pid(1)));
    let own = authorize(
        &me,
        pid(1),
        Action::ViewRecord,
        &AccessFacts::default(),
        now(),
    )
    .expect("own");
    assert!(!own.visibility().unreleased);
    assert!(!own.visibility().shows(None, Categories::NONE, now()));
    assert!(own.visibility().shows(Some(now()), Categories::NONE, now()));
}

#[test]
fn sensitive_items_are_never_shown_to_a_proxy() {
    let parent = user(Role::Patient, None);
    let full = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::Full)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    let access = authorize(&parent, pid(1), Action::ViewRecord, &full, now()).expect("granted");
    for s in Sensitivity::ALL {
        assert!(
            !access
                .visibility()
                .shows(Some(now()), Categories::NONE.with(s), now()),
            "{s:?}"
        );
    }
    assert!(
        access
            .visibility()
            .shows(Some(now()), Categories::NONE, now())
    );
    let me = user(Role::Patient, Some(pid(1)));
    let own = authorize(
        &me,
        pid(1),
        Action::ViewRecord,
        &AccessFacts::default(),
        now(),
    )
    .expect("own");
    assert!(own.visibility().shows(
        Some(now()),
        Categories::NONE.with(Sensitivity::MentalHealth),
        now()
    ));
}

#[test]
fn an_access_tells_what_else_its_holder_may_do() {
    let (doc, team) = clinician_on_team();
    let access = authorize(&doc, pid(1), Action::ViewRecord, &team, now()).expect("team");
    assert!(access.also_allows(Action::ReleaseResult));
    assert!(!access.also_allows(Action::Enrol));
    let me = user(Role::Patient, Some(pid(1)));
    let own = authorize(
        &me,
        pid(1),
        Action::ViewRecord,
        &AccessFacts::default(),
        now(),
    )
    .expect("own");
    assert!(!own.also_allows(Action::ReleaseResult));
    assert!(own.also_allows(Action::RequestRefill));
}

#[test]
fn records_are_imported_by_writing_systems_and_the_operator_only() {
    let writer = Principal::System {
        client: ClientId::from_uuid(uuid::Uuid::from_u128(8)),
        scopes: ApiScopes {
            read: false,
            write: true,
        },
    };
    let reader = Principal::System {
        client: ClientId::from_uuid(uuid::Uuid::from_u128(9)),
        scopes: ApiScopes {
            read: true,
            write: false,
        },
    };
    assert!(authorize_clinic(&writer, ClinicAction::ImportRecords).is_ok());
    assert!(authorize_clinic(&Principal::Operator, ClinicAction::ImportRecords).is_ok());
    assert!(authorize_clinic(&reader, ClinicAction::ImportRecords).is_err());
    assert!(authorize_clinic(&user(Role::Admin, None), ClinicAction::ImportRecords).is_err());
    assert!(authorize_clinic(&writer, ClinicAction::ManageUsers).is_err());
}

#[test]
fn the_read_api_beyond_one_record_is_for_reading_systems_only() {
    let system = |read, write| Principal::System {
        client: ClientId::from_uuid(uuid::Uuid::from_u128(10)),
        scopes: ApiScopes { read, write },
    };
    assert!(authorize_clinic(&system(true, false), ClinicAction::ReadApi).is_ok());
    assert!(authorize_clinic(&system(false, true), ClinicAction::ReadApi).is_err());
    assert!(authorize_clinic(&Principal::Operator, ClinicAction::ReadApi).is_err());
    for role in [Role::Patient, Role::Clinician, Role::Staff, Role::Admin] {
        assert!(authorize_clinic(&user(role, None), ClinicAction::ReadApi).is_err());
    }
    // A reading system still reads each record only as the policy allows it.
    let reader = system(true, false);
    let patient = PatientId::from_uuid(uuid::Uuid::from_u128(11));
    let access = authorize(
        &reader,
        patient,
        Action::ViewRecord,
        &AccessFacts::default(),
        now(),
    )
    .expect("read");
    assert!(access.visibility().unreleased);
    // The whole record through the API holds its messages and appointments too.
    let messages = access.widened_to(Action::ViewMessages).expect("messages");
    assert_eq!(
        (messages.action(), messages.patient()),
        (Action::ViewMessages, patient)
    );
    assert!(access.widened_to(Action::ViewAppointments).is_some());
    assert!(access.widened_to(Action::SendMessage).is_none());
    assert!(access.widened_to(Action::WriteRecord).is_none());
    assert!(
        authorize(
            &system(false, true),
            patient,
            Action::ViewRecord,
            &AccessFacts::default(),
            now()
        )
        .is_err()
    );
}

#[test]
fn an_access_widens_only_where_its_basis_allows_and_never_for_a_clinician() {
    let me = user(Role::Patient, Some(pid(1)));
    let own = authorize(
        &me,
        pid(1),
        Action::ViewRecord,
        &AccessFacts::default(),
        now(),
    )
    .expect("own record");
    assert!(own.widened_to(Action::ViewMessages).is_some());
    assert!(own.widened_to(Action::WriteRecord).is_none());
    let parent = user(Role::Patient, None);
    let limited = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::NonClinical)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    let appointments = authorize(&parent, pid(1), Action::ViewAppointments, &limited, now())
        .expect("limited proxy");
    assert!(appointments.widened_to(Action::ViewMessages).is_some());
    assert!(appointments.widened_to(Action::ViewRecord).is_none());
    // A clinician's basis depends on the action: each is decided on its own.
    let (doc, team) = clinician_on_team();
    let chart = authorize(&doc, pid(1), Action::ViewRecord, &team, now()).expect("care team");
    assert!(chart.widened_to(Action::ViewMessages).is_none());
    assert!(chart.widened_to(Action::ViewNotes).is_none());
}

fn app(patient: PatientId, own: Option<PatientId>) -> Principal {
    Principal::App {
        client: ClientId::from_uuid(uuid::Uuid::from_u128(20)),
        user: UserId::from_uuid(uuid::Uuid::from_u128(99)),
        user_patient: own,
        patient,
        scopes: Box::new(SmartScopes::parse("patient/*.read")),
    }
}

#[test]
fn an_app_reads_only_the_granted_record_while_its_granter_may() {
    let mine = app(pid(1), Some(pid(1)));
    let none = AccessFacts::default();
    for action in [
        Action::ViewDemographics,
        Action::ViewRecord,
        Action::ViewMessages,
        Action::ViewAppointments,
    ] {
        let access = authorize(&mine, pid(1), action, &none, now()).expect("granted record");
        assert!(access.visibility().shows_every_category() && !access.visibility().unreleased);
        assert!(authorize(&mine, pid(2), action, &none, now()).is_err());
    }
    for action in [
        Action::SendMessage,
        Action::ManageAppointments,
        Action::RequestRefill,
        Action::Export,
        Action::WriteRecord,
        Action::UseApi,
        Action::ViewAccessLog,
    ] {
        assert!(
            authorize(&mine, pid(1), action, &none, now()).is_err(),
            "{action:?}"
        );
    }
    // A parent's app reads the child's record under the parent's full grant, never its
    // confidential items, and not at all once the grant ends or is limited.
    let parents = app(pid(3), None);
    let full = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::Full)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    let access = authorize(&parents, pid(3), Action::ViewRecord, &full, now()).expect("full");
    assert!(
        !access
            .visibility()
            .shows_categories(Categories::NONE.with(Sensitivity::Hiv))
    );
    let mut ended = grant(ProxyScope::Full);
    ended.revoked = true;
    let revoked = AccessFacts {
        proxy_grants: vec![ended],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    assert!(authorize(&parents, pid(3), Action::ViewRecord, &revoked, now()).is_err());
    let limited = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::NonClinical)],
        patient_birth: Some(jiff::civil::date(2020, 1, 1)),
        ..Default::default()
    };
    assert!(authorize(&parents, pid(3), Action::ViewMessages, &limited, now()).is_err());
    assert!(authorize_clinic(&mine, ClinicAction::ReadApi).is_ok());
    assert!(authorize_clinic(&mine, ClinicAction::ImportRecords).is_err());
}

/// The facts of a parent's grant (made by the clinic) for a child born on `birth`, under the
/// rules of a jurisdiction whose confidential care starts at `teen_age`.
fn parents_facts(birth: jiff::civil::Date, teen_age: u8) -> AccessFacts {
    let mut g = grant(ProxyScope::Full);
    g.starts_at = Timestamp::from_second(0).expect("valid");
    AccessFacts {
        proxy_grants: vec![g],
        patient_birth: Some(birth),
        rules: ProxyRules {
            ages: AgeRules::common_us(&format!("confidential care from {teen_age}"), teen_age),
            ..ProxyRules::default()
        },
        ..Default::default()
    }
}

fn midday(d: jiff::civil::Date) -> Timestamp {
    d.at(12, 0, 0, 0)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .expect("a day")
        .timestamp()
}

#[test]
fn a_parents_grant_narrows_at_twelve_or_thirteen_and_ends_at_eighteen() {
    use jiff::civil::date;
    let parent = user(Role::Patient, None);
    let child = pid(5);
    let birth = date(2014, 6, 15);
    let reaches = |teen_age: u8, day: jiff::civil::Date, action: Action| {
        authorize(
            &parent,
            child,
            action,
            &parents_facts(birth, teen_age),
            midday(day),
        )
        .is_ok()
    };
    // Under both jurisdictions: everything the day before the 12th birthday.
    for teen_age in [12, 13] {
        assert!(reaches(teen_age, date(2026, 6, 14), Action::ViewRecord));
    }
    // On the 12th birthday the clinical record closes under the 12 rules, not the 13 ones.
    assert!(!reaches(12, date(2026, 6, 15), Action::ViewRecord));
    assert!(reaches(12, date(2026, 6, 15), Action::ViewAppointments));
    assert!(reaches(12, date(2026, 6, 15), Action::SendMessage));
    assert!(reaches(13, date(2026, 6, 15), Action::ViewRecord));
    assert!(!reaches(13, date(2027, 6, 15), Action::ViewRecord));
    assert!(reaches(13, date(2027, 6, 15), Action::ViewMessages));
    // On the 18th birthday the parent's grant ends under both.
    for teen_age in [12, 13] {
        assert!(reaches(
            teen_age,
            date(2032, 6, 14),
            Action::ViewDemographics
        ));
        for action in Action::ALL {
            assert!(!reaches(teen_age, date(2032, 6, 15), action), "{action:?}");
        }
    }
}

#[test]
fn a_teen_may_give_a_parent_full_access_until_eighteen_and_renew_it_as_an_adult() {
    use jiff::civil::date;
    let parent = user(Role::Patient, None);
    let child = pid(5);
    let birth = date(2014, 6, 15);
    let mut facts = parents_facts(birth, 12);
    facts.proxy_grants[0].patient_chose_at = Some(midday(date(2028, 1, 10)));
    assert!(
        authorize(
            &parent,
            child,
            Action::ViewRecord,
            &facts,
            midday(date(2028, 2, 1))
        )
        .is_ok()
    );
    assert!(
        authorize(
            &parent,
            child,
            Action::ViewRecord,
            &facts,
            midday(date(2032, 6, 15))
        )
        .is_err()
    );
    facts.proxy_grants[0].patient_chose_at = Some(midday(date(2032, 7, 1)));
    assert!(
        authorize(
            &parent,
            child,
            Action::ViewRecord,
            &facts,
            midday(date(2032, 8, 1))
        )
        .is_ok()
    );
    // Confidential categories stay hidden under a full grant, except those shared.
    let access = authorize(
        &parent,
        child,
        Action::ViewRecord,
        &facts,
        midday(date(2032, 8, 1)),
    )
    .expect("renewed");
    assert!(
        !access
            .visibility()
            .shows_categories(Categories::NONE.with(Sensitivity::MentalHealth))
    );
    assert_eq!(access.relationship(), Some(Relationship::Parent));
    facts.proxy_grants[0].shared = Categories::NONE.with(Sensitivity::MentalHealth);
    let access = authorize(
        &parent,
        child,
        Action::ViewRecord,
        &facts,
        midday(date(2032, 8, 1)),
    )
    .expect("renewed");
    assert!(
        access
            .visibility()
            .shows_categories(Categories::NONE.with(Sensitivity::MentalHealth))
    );
    assert!(
        !access
            .visibility()
            .shows_categories(Categories::NONE.with(Sensitivity::Hiv))
    );
    // The clinic may choose to keep fewer categories from proxies.
    facts.rules.confidential = Categories::NONE.with(Sensitivity::Hiv);
    facts.proxy_grants[0].shared = Categories::NONE;
    let access = authorize(
        &parent,
        child,
        Action::ViewRecord,
        &facts,
        midday(date(2032, 8, 1)),
    )
    .expect("renewed");
    assert!(
        access
            .visibility()
            .shows_categories(Categories::NONE.with(Sensitivity::Genetic))
    );
    assert!(
        !access
            .visibility()
            .shows_categories(Categories::NONE.with(Sensitivity::Hiv))
    );
}

#[test]
fn a_grant_without_a_known_birth_date_reaches_nothing() {
    let parent = user(Role::Patient, None);
    let facts = AccessFacts {
        proxy_grants: vec![grant(ProxyScope::Full)],
        ..Default::default()
    };
    for action in Action::ALL {
        assert!(authorize(&parent, pid(5), action, &facts, now()).is_err());
    }
}

#[test]
fn only_the_front_desk_and_admins_manage_a_care_team() {
    let facts = AccessFacts::default();
    for role in [Role::Staff, Role::Admin] {
        assert!(
            authorize(
                &user(role, None),
                pid(7),
                Action::ManageCareTeam,
                &facts,
                now()
            )
            .is_ok()
        );
    }
    // The patient, and a clinician already on the team or in an emergency, may not.
    assert!(
        authorize(
            &user(Role::Patient, Some(pid(7))),
            pid(7),
            Action::ManageCareTeam,
            &facts,
            now()
        )
        .is_err()
    );
    let team = AccessFacts {
        on_care_team: true,
        break_glass_until: Some(now() + jiff::SignedDuration::from_hours(1)),
        ..Default::default()
    };
    assert!(
        authorize(
            &user(Role::Clinician, None),
            pid(7),
            Action::ManageCareTeam,
            &team,
            now()
        )
        .is_err()
    );
    assert!(!Action::ManageCareTeam.is_clinical());
}
