//! The contract of the record and resource stores, on SQLite and PostgreSQL: what a reader is
//! shown (held results, confidential items, another patient's items never), the release of held
//! results, read markers, the resources an import writes and finds again, and the capabilities
//! each function insists on.

mod common;

use common::{each_backend, now};
use jiff::SignedDuration;
use portal_domain::access::{
    AccessFacts, Action, ClinicAction, ClinicCapability, ProxyGrantFact, ProxyScope, authorize,
    authorize_clinic,
};
use portal_domain::record::{Flag, ItemColumns, ItemKind, Sensitivity};
use portal_domain::{PatientAccess, PatientId, Principal, ResourceId, Role, UserId};
use portal_store::packed::{self, Packing};
use portal_store::records::{self, ItemQuery};
use portal_store::resources::{self, ItemWrite, ResourceRow};
use portal_store::{Backend, Conn, Error, Store, patients, to_micros, users};

fn patient(n: u128) -> PatientId {
    PatientId::from_uuid(uuid::Uuid::from_u128(n))
}

fn rid(n: u128) -> ResourceId {
    ResourceId::from_uuid(uuid::Uuid::from_u128(0x1000 + n))
}

fn user(n: u128, role: Role, own: Option<PatientId>) -> Principal {
    Principal::User {
        id: UserId::from_uuid(uuid::Uuid::from_u128(0x9000 + n)),
        role,
        own_patient: own,
    }
}

fn importing() -> ClinicCapability {
    authorize_clinic(&Principal::Operator, ClinicAction::ImportRecords)
        .expect("the operator imports")
}

/// The patient herself, her parent (a full proxy) and her clinician, each reading her record.
fn readers(of: PatientId) -> [(&'static str, PatientAccess); 3] {
    let own = authorize(
        &user(1, Role::Patient, Some(of)),
        of,
        Action::ViewRecord,
        &AccessFacts::default(),
        now(),
    )
    .expect("her own record");
    let proxy = authorize(
        &user(2, Role::Patient, None),
        of,
        Action::ViewRecord,
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
    .expect("a full proxy");
    let team = authorize(
        &user(3, Role::Clinician, None),
        of,
        Action::ViewRecord,
        &AccessFacts {
            on_care_team: true,
            ..AccessFacts::default()
        },
        now(),
    )
    .expect("her care team");
    [("patient", own), ("proxy", proxy), ("care team", team)]
}

/// One item to write.
struct Seed {
    n: u128,
    patient: PatientId,
    kind: ItemKind,
    label: &'static str,
    hours_ago: i64,
    report: Option<u128>,
    released: bool,
    sensitivity: Option<Sensitivity>,
}

fn seed(n: u128, patient: PatientId, kind: ItemKind, label: &'static str, hours_ago: i64) -> Seed {
    Seed {
        n,
        patient,
        kind,
        label,
        hours_ago,
        report: None,
        released: true,
        sensitivity: None,
    }
}

async fn add_patient(conn: &mut Conn, id: PatientId, mrn: &str) {
    patients::insert(
        conn,
        &patients::PatientRow {
            id,
            mrn: mrn.into(),
            given_name: "Test".into(),
            family_name: mrn.into(),
            birth_date: "1990-01-01".into(),
            sex: "female".into(),
            deceased: None,
        },
        now(),
    )
    .await
    .expect("patient");
}

/// Writes the resources and items as an import does.
async fn write(conn: &mut Conn, seeds: &[Seed]) {
    let import = importing();
    let ids: Vec<String> = seeds.iter().map(|s| rid(s.n).to_string()).collect();
    let types: Vec<&str> = seeds
        .iter()
        .map(|s| match s.kind {
            ItemKind::Observation => "Observation",
            ItemKind::DiagnosticReport => "DiagnosticReport",
            _ => "Condition",
        })
        .collect();
    let sources: Vec<String> = seeds.iter().map(|s| format!("src-{}", s.n)).collect();
    let json: Vec<Vec<u8>> = seeds
        .iter()
        .zip(&types)
        .map(|(s, t)| {
            packed::pack(
                Packing::Resource,
                &format!(r#"{{"resourceType":"{t}","id":"src-{}"}}"#, s.n),
            )
        })
        .collect();
    let details: Vec<Vec<u8>> = seeds
        .iter()
        .map(|s| packed::pack(Packing::Details, &format!(r#"{{"n":{}}}"#, s.n)))
        .collect();
    let rows: Vec<ResourceRow<'_>> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| ResourceRow {
            id: &ids[i],
            resource_type: types[i],
            source_id: Some(&sources[i]),
            patient_id: Some(s.patient),
            content_hash: "hash",
            json: &json[i],
            refs: "",
        })
        .collect();
    resources::insert_many(conn, &import, &rows, now())
        .await
        .expect("resources");
    let columns: Vec<ItemColumns> = seeds
        .iter()
        .map(|s| ItemColumns {
            kind: s.kind,
            category: if s.kind == ItemKind::Condition {
                String::new()
            } else {
                "laboratory".into()
            },
            code_system: "http://loinc.org".into(),
            code: format!("code-{}", s.n),
            label: s.label.into(),
            status: "final".into(),
            sort_at: Some(to_micros(now() - SignedDuration::from_hours(s.hours_ago))),
            flag: Flag::Normal,
            sensitivity: s.sensitivity.into_iter().collect(),
        })
        .collect();
    let reports: Vec<Option<String>> = seeds
        .iter()
        .map(|s| s.report.map(|r| rid(r).to_string()))
        .collect();
    let items: Vec<ItemWrite<'_>> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| ItemWrite {
            resource_id: &ids[i],
            patient_id: s.patient,
            columns: &columns[i],
            encounter_id: None,
            details: &details[i],
            who_id: None,
            where_id: None,
            report_id: reports[i].as_deref(),
            released_at: s
                .released
                .then(|| to_micros(now() - SignedDuration::from_hours(1))),
        })
        .collect();
    resources::put_clinical_items(conn, &import, &items)
        .await
        .expect("items");
}

async fn labels(conn: &mut Conn, access: &PatientAccess, kinds: &[ItemKind]) -> Vec<String> {
    records::list(
        conn,
        access,
        &ItemQuery {
            kinds,
            limit: 100,
            ..ItemQuery::default()
        },
        now(),
    )
    .await
    .expect("list")
    .into_iter()
    .map(|i| i.columns.label)
    .collect()
}

/// Ann's record (held results, a confidential condition, a report listing a confidential
/// result) and Ben's, in one database.
async fn two_records(store: &Store) -> (PatientId, PatientId) {
    let (ann, ben) = (patient(1), patient(2));
    let mut tx = store.begin().await.expect("tx");
    add_patient(&mut tx, ann, "ANN").await;
    add_patient(&mut tx, ben, "BEN").await;
    write(
        &mut tx,
        &[
            seed(1, ann, ItemKind::Condition, "Asthma", 30),
            Seed {
                sensitivity: Some(Sensitivity::SubstanceUse),
                ..seed(2, ann, ItemKind::Condition, "Alcohol use disorder", 20)
            },
            seed(3, ann, ItemKind::DiagnosticReport, "Blood count", 10),
            Seed {
                report: Some(3),
                ..seed(4, ann, ItemKind::Observation, "Haemoglobin", 10)
            },
            Seed {
                report: Some(3),
                released: false,
                ..seed(5, ann, ItemKind::Observation, "Platelets", 10)
            },
            seed(6, ann, ItemKind::DiagnosticReport, "Screen", 5),
            Seed {
                report: Some(6),
                sensitivity: Some(Sensitivity::Hiv),
                ..seed(7, ann, ItemKind::Observation, "HIV-1 RNA", 5)
            },
            seed(8, ann, ItemKind::Observation, "Glucose", 2),
            seed(9, ben, ItemKind::Condition, "Ben's diabetes", 1),
            seed(10, ben, ItemKind::Observation, "Ben's glucose", 1),
        ],
    )
    .await;
    tx.commit().await.expect("commit");
    (ann, ben)
}

#[tokio::test]
async fn packed_json_reads_back_and_json_stored_as_text_before_packing_still_reads() {
    each_backend(|store, backend| async move {
        let (ann, _) = two_records(&store).await;
        let mut conn = store.pool().acquire().await.expect("conn");
        let [_, _, (_, team)] = readers(ann);
        let json = resources::json(&mut conn, &team, rid(1))
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            json, r#"{"resourceType":"Condition","id":"src-1"}"#,
            "{backend:?}"
        );
        // A row as a version before packing wrote it: JSON text (on PostgreSQL, whose column
        // the migration turned into bytes, that text's UTF-8 bytes).
        for (sql, text) in [
            (
                "UPDATE fhir_resources SET json = $1 WHERE id = $2",
                r#"{"resourceType":"Condition","id":"old"}"#,
            ),
            (
                "UPDATE clinical_items SET details = $1 WHERE resource_id = $2",
                r#"{"old":true}"#,
            ),
        ] {
            let query = sqlx::query(sql);
            let query = match backend {
                Backend::Sqlite => query.bind(text),
                Backend::Postgres => query.bind(text.as_bytes()),
            };
            query
                .bind(rid(1).to_string())
                .execute(&mut *conn)
                .await
                .expect("write text");
        }
        if backend == Backend::Sqlite {
            let stored: String =
                sqlx::query_scalar("SELECT typeof(json) FROM fhir_resources WHERE id = $1")
                    .bind(rid(1).to_string())
                    .fetch_one(&mut *conn)
                    .await
                    .expect("type");
            assert_eq!(
                stored, "text",
                "the old row is text, as an earlier version wrote it"
            );
        }
        let json = resources::json(&mut conn, &team, rid(1))
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(
            json, r#"{"resourceType":"Condition","id":"old"}"#,
            "{backend:?}"
        );
        let items = records::list(
            &mut conn,
            &team,
            &ItemQuery {
                kinds: &[ItemKind::Condition],
                limit: 10,
                ..ItemQuery::default()
            },
            now(),
        )
        .await
        .expect("list");
        let details: Vec<&str> = items.iter().map(|i| i.details.as_str()).collect();
        assert_eq!(details, [r#"{"n":2}"#, r#"{"old":true}"#], "{backend:?}");
    })
    .await;
}

#[tokio::test]
async fn each_reader_sees_what_the_policy_shows_newest_first() {
    each_backend(|store, backend| async move {
        let (ann, _) = two_records(&store).await;
        let mut conn = store.pool().acquire().await.expect("conn");
        let [(_, own), (_, proxy), (_, team)] = readers(ann);
        let results = [ItemKind::DiagnosticReport, ItemKind::Observation];
        // Newest first; items of the same time in the order of their ids.
        assert_eq!(
            labels(&mut conn, &team, &results).await,
            [
                "Glucose",
                "Screen",
                "HIV-1 RNA",
                "Blood count",
                "Haemoglobin",
                "Platelets"
            ],
            "{backend:?}: the care team sees everything, newest first"
        );
        assert_eq!(
            labels(&mut conn, &own, &results).await,
            ["Glucose", "Screen", "HIV-1 RNA", "Haemoglobin"],
            "{backend:?}: the patient sees no held result, nor the report that lists one"
        );
        assert_eq!(
            labels(&mut conn, &proxy, &results).await,
            ["Glucose", "Haemoglobin"],
            "{backend:?}: a proxy sees no confidential result, nor its report"
        );
        assert_eq!(
            labels(&mut conn, &own, &[ItemKind::Condition]).await,
            ["Alcohol use disorder", "Asthma"]
        );
        assert_eq!(
            labels(&mut conn, &proxy, &[ItemKind::Condition]).await,
            ["Asthma"],
            "{backend:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn another_patients_items_never_appear() {
    each_backend(|store, backend| async move {
        let (ann, ben) = two_records(&store).await;
        let mut conn = store.pool().acquire().await.expect("conn");
        for (who, access) in readers(ann) {
            let all = labels(&mut conn, &access, &ItemKind::ALL).await;
            assert!(
                all.iter().all(|l| !l.starts_with("Ben's")),
                "{backend:?} {who}: {all:?}"
            );
            for item in [rid(9), rid(10)] {
                assert_eq!(
                    records::get(&mut conn, &access, item, now())
                        .await
                        .expect("get"),
                    None,
                    "{backend:?} {who}: Ben's item through Ann's access"
                );
            }
            assert_eq!(
                resources::json(&mut conn, &access, rid(10))
                    .await
                    .expect("json"),
                None,
                "{backend:?} {who}: Ben's JSON through Ann's access"
            );
        }
        let [(_, own), _, _] = readers(ann);
        assert!(
            resources::json(&mut conn, &own, rid(1))
                .await
                .expect("json")
                .is_some_and(|j| j.contains("src-1"))
        );
        let [_, _, (_, bens_team)] = readers(ben);
        assert_eq!(
            labels(&mut conn, &bens_team, &[ItemKind::Condition]).await,
            ["Ben's diabetes"]
        );
    })
    .await;
}

#[tokio::test]
async fn filters_narrow_the_list() {
    each_backend(|store, backend| async move {
        let (ann, _) = two_records(&store).await;
        let mut conn = store.pool().acquire().await.expect("conn");
        let [_, _, (_, team)] = readers(ann);
        let query = |q: ItemQuery<'static>| q;
        let cases: Vec<(ItemQuery<'_>, Vec<&str>)> = vec![
            (
                query(ItemQuery {
                    kinds: &[ItemKind::Observation],
                    label_contains: "GLU",
                    limit: 10,
                    ..ItemQuery::default()
                }),
                vec!["Glucose"],
            ),
            (
                query(ItemQuery {
                    kinds: &[ItemKind::Observation],
                    report_id: Some(rid(3)),
                    limit: 10,
                    ..ItemQuery::default()
                }),
                vec!["Haemoglobin", "Platelets"],
            ),
            (
                query(ItemQuery {
                    kinds: &[ItemKind::Observation],
                    from: Some(to_micros(now() - SignedDuration::from_hours(6))),
                    limit: 10,
                    ..ItemQuery::default()
                }),
                vec!["Glucose", "HIV-1 RNA"],
            ),
            (
                query(ItemQuery {
                    kinds: &[ItemKind::Observation],
                    until: Some(to_micros(now() - SignedDuration::from_hours(6))),
                    limit: 1,
                    ..ItemQuery::default()
                }),
                vec!["Haemoglobin"],
            ),
            (
                query(ItemQuery {
                    kinds: &[ItemKind::Observation],
                    code: Some(("http://loinc.org", "code-8")),
                    limit: 10,
                    ..ItemQuery::default()
                }),
                vec!["Glucose"],
            ),
            (
                query(ItemQuery {
                    kinds: &[],
                    limit: 10,
                    ..ItemQuery::default()
                }),
                vec![],
            ),
        ];
        for (q, expected) in cases {
            let got: Vec<String> = records::list(&mut conn, &team, &q, now())
                .await
                .expect("list")
                .into_iter()
                .map(|i| i.columns.label)
                .collect();
            assert_eq!(got, expected, "{backend:?}: {q:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn releasing_a_report_releases_its_results_and_nothing_of_another_record() {
    each_backend(|store, backend| async move {
        let (ann, _) = two_records(&store).await;
        let [(_, own), _, (_, team)] = readers(ann);
        let mut conn = store.pool().acquire().await.expect("conn");
        let held = records::held_among(&mut conn, &own, &[rid(3), rid(4), rid(5), rid(8)], now())
            .await
            .expect("held");
        assert_eq!(
            held,
            [rid(3), rid(5)].into_iter().collect(),
            "{backend:?}: the held result and its report"
        );
        assert_eq!(
            records::release(&mut conn, &team, rid(10), now())
                .await
                .expect("release"),
            0,
            "{backend:?}: Ben's result is not in Ann's record"
        );
        assert_eq!(
            records::release(&mut conn, &team, rid(3), now())
                .await
                .expect("release"),
            1,
            "{backend:?}: the one held result of the report"
        );
        assert!(
            records::held_among(&mut conn, &own, &[rid(3), rid(5)], now())
                .await
                .expect("held")
                .is_empty()
        );
        let results = [ItemKind::DiagnosticReport, ItemKind::Observation];
        assert!(
            labels(&mut conn, &own, &results)
                .await
                .contains(&"Platelets".to_string())
        );
    })
    .await;
}

#[tokio::test]
async fn read_markers_stay_in_their_record() {
    each_backend(|store, backend| async move {
        let (ann, ben) = two_records(&store).await;
        let [(_, own), _, _] = readers(ann);
        let reader = UserId::from_uuid(uuid::Uuid::from_u128(0x9001));
        let mut conn = store.pool().acquire().await.expect("conn");
        users::insert(
            &mut conn,
            &users::NewUser {
                id: reader,
                email: "ann@example.test",
                name: "Ann",
                role: Role::Patient,
                password_hash: "not a hash",
                patient_id: Some(ann),
            },
            now(),
        )
        .await
        .expect("Ann's account");
        let before = records::unread_results(&mut conn, &own, reader, now())
            .await
            .expect("unread");
        // Opening Ben's result through Ann's access marks nothing.
        records::mark_read(&mut conn, &own, reader, &[rid(8), rid(10)], now())
            .await
            .expect("mark");
        let read = records::read_among(&mut conn, &own, reader, &[rid(8), rid(10)])
            .await
            .expect("read");
        assert_eq!(read, [rid(8)].into_iter().collect(), "{backend:?}");
        assert_eq!(
            records::unread_results(&mut conn, &own, reader, now())
                .await
                .expect("unread"),
            before - 1,
            "{backend:?}"
        );
        let [_, _, (_, bens_team)] = readers(ben);
        assert!(
            records::read_among(&mut conn, &bens_team, reader, &[rid(10)])
                .await
                .expect("read")
                .is_empty(),
            "{backend:?}: Ben's result was never marked"
        );
    })
    .await;
}

#[tokio::test]
async fn an_import_finds_what_it_wrote_and_only_with_its_capability() {
    each_backend(|store, backend| async move {
        let (ann, _) = two_records(&store).await;
        let import = importing();
        let mut tx = store.begin().await.expect("tx");
        let ids = [rid(1).to_string(), rid(4).to_string()];
        resources::insert_identifiers_many(
            &mut tx,
            &import,
            &[
                ("Condition", "urn:test", "A-1", ids[0].as_str()),
                ("Observation", "urn:test", "A-4", ids[1].as_str()),
            ],
        )
        .await
        .expect("identifiers");
        let by_source =
            resources::find_many_by_source(&mut tx, &import, "Condition", &["src-1", "src-404"])
                .await
                .expect("by source");
        assert_eq!(by_source.len(), 1, "{backend:?}");
        assert_eq!(by_source["src-1"].id, ids[0]);
        assert_eq!(by_source["src-1"].patient_id, Some(ann));
        let by_identifier = resources::find_many_by_identifier(
            &mut tx,
            &import,
            "Observation",
            "urn:test",
            &["A-4", "A-1"],
        )
        .await
        .expect("by identifier");
        assert_eq!(
            by_identifier.len(),
            1,
            "{backend:?}: identifiers are per type"
        );
        assert_eq!(by_identifier["A-4"][0].id, ids[1]);
        // A report written later holds an earlier, released result with it.
        resources::link_report_members(
            &mut tx,
            &import,
            &rid(6).to_string(),
            &[&ids[1]],
            None,
            false,
        )
        .await
        .expect("link");
        tx.commit().await.expect("commit");
        let [(_, own), _, (_, team)] = readers(ann);
        let mut conn = store.pool().acquire().await.expect("conn");
        assert_eq!(
            records::get(&mut conn, &team, rid(4), now())
                .await
                .expect("get")
                .and_then(|i| i.report_id),
            Some(rid(6))
        );
        assert_eq!(
            records::get(&mut conn, &own, rid(4), now())
                .await
                .expect("get"),
            None,
            "{backend:?}: held with the report that now lists it"
        );
        // Another clinic capability does not open the import's functions.
        let desk = authorize_clinic(&user(4, Role::Staff, None), ClinicAction::SearchDirectory)
            .expect("staff");
        assert!(matches!(
            resources::find_many_by_source(&mut conn, &desk, "Condition", &["src-1"]).await,
            Err(Error::WrongCapability(_))
        ));
        assert!(matches!(
            records::holds(&mut conn, &desk).await,
            Err(Error::WrongCapability(_))
        ));
    })
    .await;
}

/// A patient's capability to read her own record's access log.
fn own_access_log(patient: PatientId) -> portal_domain::PatientAccess {
    authorize(
        &user(1, Role::Patient, Some(patient)),
        patient,
        Action::ViewAccessLog,
        &AccessFacts::default(),
        now(),
    )
    .expect("her own log")
}

/// What the audit writer keeps of the events it appended (`audit::chained`) is what the store
/// reads back, and each filter's test in Rust (`PatientLogFilter::matches`) lists the events its
/// SQL condition lists: the access log may take new entries from either.
#[tokio::test]
async fn kept_events_and_filters_are_those_the_store_reads() {
    use portal_domain::audit::{
        AuditAction, AuditEvent, Outcome, PatientLogFilter, RequestContext,
    };
    use portal_store::audit::{self, HeadKey, LogWindow};
    each_backend(|store, backend| async move {
        let patient = PatientId::from_uuid(uuid::Uuid::from_u128(41));
        let key = HeadKey([7; 32]);
        let roles = [
            "patient",
            "clinician",
            "staff",
            "admin",
            "anonymous",
            "system",
        ];
        let outcomes = [Outcome::Success, Outcome::Denied, Outcome::Failure];
        let events: Vec<AuditEvent> = (0..36)
            .map(|n| AuditEvent {
                // Nanoseconds the store does not keep.
                at: now() + jiff::SignedDuration::from_nanos(n * 1_001),
                actor_id: format!("actor-{}", n % 5),
                actor_role: roles[n as usize % roles.len()].into(),
                on_behalf_of: "own-record".into(),
                patient_id: Some(patient.to_string()),
                action: AuditAction::Read,
                resource_type: "Record".into(),
                resource_id: None,
                outcome: outcomes[(n / 6) as usize % outcomes.len()],
                break_glass: n % 7 == 3,
                detail: format!("view {n}"),
                context: RequestContext::default(),
            })
            .collect();
        let ids: Vec<String> = (0..events.len()).map(|n| format!("e{n}")).collect();
        let batch: Vec<(&str, &AuditEvent)> = ids.iter().map(String::as_str).zip(&events).collect();
        let mut tx = store.begin().await.expect("tx");
        audit::ensure_head(&mut tx, &key).await.expect("head");
        let before = audit::append_many(&mut tx, backend, &key, &[])
            .await
            .expect("head");
        audit::append_many(&mut tx, backend, &key, &batch)
            .await
            .expect("append");
        tx.commit().await.expect("commit");
        let kept = audit::chained(&before, &batch);
        let access = own_access_log(patient);
        let filters = [
            PatientLogFilter::All,
            PatientLogFilter::Clinic,
            PatientLogFilter::Emergency,
            PatientLogFilter::Refused,
            PatientLogFilter::PatientSide,
        ];
        let parts: Vec<_> = filters
            .iter()
            .map(|f| (*f, LogWindow::Before(None), 100))
            .collect();
        let mut conn = store.pool().acquire().await.expect("conn");
        let read = audit::for_patient_parts(&mut conn, &access, &parts)
            .await
            .expect("read");
        for (filter, read) in filters.iter().zip(read) {
            let mut listed: Vec<_> = kept
                .iter()
                .filter(|e| filter.matches(&e.event))
                .cloned()
                .collect();
            listed.reverse();
            let stored: Vec<_> = read.into_iter().map(|e| e.stored).collect();
            assert!(!stored.is_empty(), "{filter:?} lists some");
            assert_eq!(listed, stored, "{backend:?} {filter:?}");
        }
    })
    .await;
}

/// The access log's parts read on the caller's thread (SQLite) are those the pool reads: each
/// part's events, newest first, with the names of those who acted.
#[tokio::test]
async fn access_log_parts_read_here_are_those_read_through_the_pool() {
    use portal_domain::audit::{
        AuditAction, AuditEvent, Outcome, PatientLogFilter, RequestContext,
    };
    use portal_store::audit::{self, HeadKey, LogWindow};
    each_backend(|store, backend| async move {
        let Some(here_readers) = store.embedded() else {
            assert_eq!(backend, Backend::Postgres, "SQLite reads here");
            return;
        };
        let patient = PatientId::from_uuid(uuid::Uuid::from_u128(40));
        let key = HeadKey([7; 32]);
        let mut tx = store.begin().await.expect("tx");
        audit::ensure_head(&mut tx, &key).await.expect("head");
        for n in 0..12 {
            let event = AuditEvent {
                at: now(),
                actor_id: format!("actor-{}", n % 3),
                actor_role: if n % 4 == 0 { "clinician" } else { "patient" }.into(),
                on_behalf_of: "own-record".into(),
                patient_id: Some(patient.to_string()),
                action: AuditAction::Read,
                resource_type: "Record".into(),
                resource_id: None,
                outcome: if n == 5 {
                    Outcome::Denied
                } else {
                    Outcome::Success
                },
                break_glass: n == 7,
                detail: format!("view {n}"),
                context: RequestContext::default(),
            };
            audit::append(&mut tx, backend, &key, &format!("e{n}"), &event)
                .await
                .expect("append");
        }
        tx.commit().await.expect("commit");
        let access = own_access_log(patient);
        let parts = [
            (PatientLogFilter::All, LogWindow::Before(None), 5),
            (PatientLogFilter::Emergency, LogWindow::Before(None), 100),
            (PatientLogFilter::Refused, LogWindow::Before(None), 100),
            (PatientLogFilter::All, LogWindow::After(8), 10),
            (PatientLogFilter::Clinic, LogWindow::Before(Some(9)), 2),
        ];
        let mut conn = store.pool().acquire().await.expect("conn");
        let pooled = audit::for_patient_parts(&mut conn, &access, &parts)
            .await
            .expect("pool");
        let here = here_readers
            .read(|c| audit::for_patient_parts_here(c, &access, &parts))
            .expect("here");
        let seqs = |parts: &[Vec<portal_domain::audit::NamedEvent>]| {
            parts
                .iter()
                .map(|part| part.iter().map(|e| e.stored.seq).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            seqs(&here),
            vec![
                vec![12, 11, 10, 9, 8],
                vec![8],
                vec![6],
                vec![12, 11, 10, 9],
                vec![5, 1]
            ]
        );
        assert_eq!(seqs(&here), seqs(&pooled));
        for (here, pooled) in here.iter().flatten().zip(pooled.iter().flatten()) {
            assert_eq!(here.stored, pooled.stored);
            assert_eq!(here.actor_name, pooled.actor_name);
        }
        // A capability for another action reads nothing.
        let record = &readers(patient)[0].1;
        assert!(matches!(
            readers_read(&store, record, &parts),
            Err(Error::WrongCapability(_))
        ));
    })
    .await;
}

fn readers_read(
    store: &Store,
    access: &PatientAccess,
    parts: &[(
        portal_domain::audit::PatientLogFilter,
        portal_store::audit::LogWindow,
        i64,
    )],
) -> Result<Vec<Vec<portal_domain::audit::NamedEvent>>, Error> {
    store
        .embedded()
        .expect("SQLite")
        .read(|c| portal_store::audit::for_patient_parts_here(c, access, parts))
}
