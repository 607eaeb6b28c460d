//! The store's contract, run on SQLite and (when `PORTAL_TEST_POSTGRES` is set) PostgreSQL:
//! accounts, the audit chain, the outbox and the directory search. Records and resources have
//! their own files.

mod common;

use common::{each_backend, now};

use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::audit::{AuditAction, AuditEvent, Outcome, RequestContext};
use portal_domain::patient::PatientQuery;
use portal_domain::{PatientId, Role, UserId};
use portal_store::audit::{HeadKey, Verdict};
use portal_store::{Error, audit, outbox, patients, users};

fn event(n: usize) -> AuditEvent {
    AuditEvent {
        at: now(),
        actor_id: format!("actor-{n}"),
        actor_role: "patient".into(),
        on_behalf_of: "own-record".into(),
        patient_id: Some("p1".into()),
        action: AuditAction::Read,
        resource_type: "Record".into(),
        resource_id: None,
        outcome: Outcome::Success,
        break_glass: false,
        detail: String::new(),
        context: RequestContext::default(),
    }
}

/// Events with ids, to append in batches.
struct Numbered {
    ids: Vec<String>,
    events: Vec<AuditEvent>,
}

impl Numbered {
    fn new(count: usize) -> Numbered {
        Numbered {
            ids: (0..count).map(|n| format!("e{n}")).collect(),
            events: (0..count).map(event).collect(),
        }
    }

    /// The events from `from` up to `to`, with their ids.
    fn batch(&self, from: usize, to: usize) -> Vec<(&str, &AuditEvent)> {
        (from..to)
            .map(|n| (self.ids[n].as_str(), &self.events[n]))
            .collect()
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    each_backend(|store, _| async move {
        assert!(store.migrate(now()).await.expect("again").is_empty());
    })
    .await;
}

#[tokio::test]
async fn statistics_refresh_on_either_database() {
    each_backend(|store, _| async move {
        store.analyze_lookups().await.expect("lookups");
        store.analyze().await.expect("every table");
    })
    .await;
}

#[tokio::test]
async fn duplicate_email_is_a_conflict() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        let new = |id: u128| users::NewUser {
            id: UserId::from_uuid(uuid::Uuid::from_u128(id)),
            email: "a@example.org",
            name: "A",
            role: Role::Staff,
            password_hash: "x",
            patient_id: None,
        };
        users::insert(&mut tx, &new(1), now()).await.expect("first");
        let err = users::insert(&mut tx, &new(2), now())
            .await
            .expect_err("second");
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn audit_chain_verifies_and_detects_a_cut_tail() {
    each_backend(|store, backend| async move {
        let key = HeadKey([7; 32]);
        let mut tx = store.begin().await.expect("tx");
        audit::ensure_head(&mut tx, &key).await.expect("head");
        for n in 0..5 {
            audit::append(&mut tx, backend, &key, &format!("e{n}"), &event(n))
                .await
                .expect("append");
        }
        tx.commit().await.expect("commit");
        let mut conn = store.pool().acquire().await.expect("conn");
        assert_eq!(
            audit::verify(&mut conn, &key).await.expect("verify"),
            Verdict::Intact { events: 5 }
        );
        // The application cannot change or remove events.
        let update = sqlx::query("UPDATE audit_events SET detail = 'x' WHERE seq = 2")
            .execute(&mut *conn)
            .await;
        assert!(update.is_err(), "update must be refused");
        let delete = sqlx::query("DELETE FROM audit_events WHERE seq = 5")
            .execute(&mut *conn)
            .await;
        assert!(delete.is_err(), "delete must be refused");
        // A wrong key does not verify the head.
        let verdict = audit::verify(&mut conn, &HeadKey([8; 32]))
            .await
            .expect("verify");
        assert!(matches!(verdict, Verdict::Broken { .. }));
    })
    .await;
}

/// The audit writer's one-round-trip append on PostgreSQL: after the head it knows, batches of
/// any size; after a head another writer moved, nothing, until the head is read anew. On
/// SQLite it writes nothing (the writer there appends with `append_here`).
#[tokio::test]
async fn audit_append_after_a_known_head_writes_only_while_the_head_is_that() {
    each_backend(|store, backend| async move {
        let key = HeadKey([7; 32]);
        let mut conn = store.pool().acquire().await.expect("conn");
        audit::ensure_head(&mut conn, &key).await.expect("head");
        let numbered = Numbered::new(40);
        let batch = |from: usize, to: usize| numbered.batch(from, to);
        if backend == portal_store::Backend::Sqlite {
            let genesis = audit::append_many(&mut conn, backend, &key, &[])
                .await
                .expect("head");
            let none = audit::append_after(&mut conn, backend, &key, &genesis, &batch(0, 3))
                .await
                .expect("append after");
            assert_eq!(none, None, "nothing written on SQLite");
            return;
        }
        // Appended in a transaction that reads the head, as a change of data does.
        let in_transaction = async |events: Vec<(&str, &AuditEvent)>| {
            let mut tx = store.begin().await.expect("tx");
            let head = audit::append_many(&mut tx, backend, &key, &events)
                .await
                .expect("append");
            tx.commit().await.expect("commit");
            head
        };
        let mut head = in_transaction(batch(0, 1)).await;
        assert_eq!(head.seq, 1);
        // Batches of 7, 8, 3 and 1.
        for (from, to) in [(1, 8), (8, 16), (16, 19), (19, 20)] {
            head = audit::append_after(&mut conn, backend, &key, &head, &batch(from, to))
                .await
                .expect("append after")
                .expect("the head was the one known");
            assert_eq!(head.seq, to as i64);
        }
        let count = || async {
            let mut conn = store.pool().acquire().await.expect("conn");
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM audit_events")
                .fetch_one(&mut *conn)
                .await
                .expect("count")
        };
        assert_eq!(count().await, 20);
        // Another writer appends: the head known before is stale, and nothing is written.
        let moved = in_transaction(batch(20, 22)).await;
        let stale = audit::append_after(&mut conn, backend, &key, &head, &batch(22, 30))
            .await
            .expect("append after");
        assert_eq!(stale, None, "the head had moved");
        assert_eq!(count().await, 22, "nothing written after a stale head");
        // After the head as it is, the batch lands.
        let last = audit::append_after(&mut conn, backend, &key, &moved, &batch(22, 30))
            .await
            .expect("append after")
            .expect("the head was the one known");
        assert_eq!(last.seq, 30);
        // The connection is in no transaction after either.
        let mut tx = store.begin_on(&mut conn).await.expect("a new transaction");
        audit::append_many(&mut tx, backend, &key, &batch(30, 31))
            .await
            .expect("append");
        tx.commit().await.expect("commit");
        assert_eq!(
            audit::verify(&mut conn, &key).await.expect("verify"),
            Verdict::Intact { events: 31 }
        );
    })
    .await;
}

/// On a SQLite file, the audit writer's appends on SQLite's own driver and appends in the
/// pool's transactions (changes of data) interleave in one chain, each reading the head the
/// other left; an empty batch only reads it; a failing batch writes nothing. While another
/// connection holds the write lock, a writer that does not wait writes nothing and says so; one
/// that waits writes once the lock is free. PostgreSQL has no such writer.
#[tokio::test]
async fn audit_appends_on_sqlites_own_driver_interleave_with_the_pools() {
    each_backend(|store, backend| async move {
        let Some(readers) = store.embedded() else {
            assert_eq!(backend, portal_store::Backend::Postgres, "a SQLite file");
            return;
        };
        let key = HeadKey([7; 32]);
        let mut conn = store.pool().acquire().await.expect("conn");
        audit::ensure_head(&mut conn, &key).await.expect("head");
        let numbered = Numbered::new(40);
        let batch = |from: usize, to: usize| numbered.batch(from, to);
        let mut writer = readers.writer().expect("a writing connection");
        let here = |writer: &mut portal_store::embedded::Writer, events: &[(&str, &AuditEvent)]| {
            audit::append_here(writer, &key, events)
                .expect("append")
                .expect("the lock was free")
        };
        assert_eq!(here(&mut writer, &batch(0, 5)).seq, 5);
        let mut tx = store.begin().await.expect("tx");
        let head = audit::append_many(&mut tx, backend, &key, &batch(5, 7))
            .await
            .expect("append");
        tx.commit().await.expect("commit");
        assert_eq!(head.seq, 7);
        let head = here(&mut writer, &batch(7, 20));
        assert_eq!(head.seq, 20);
        assert_eq!(
            here(&mut writer, &[]),
            head,
            "an empty batch leaves the head"
        );
        // A failing batch (an id already in the chain) writes none of its events.
        let mut again = batch(20, 23);
        again[2].0 = "e3";
        audit::append_here(&mut writer, &key, &again).expect_err("a repeated id");
        assert_eq!(here(&mut writer, &batch(20, 30)).seq, 30);
        // The pool holds the write lock: the writer gives up at once, writing nothing.
        let mut tx = store.begin().await.expect("tx");
        audit::append_many(&mut tx, backend, &key, &batch(30, 31))
            .await
            .expect("append");
        let busy = audit::append_here(&mut writer, &key, &batch(31, 35)).expect("no failure");
        assert_eq!(busy, None, "the lock was taken");
        // Told to wait, it writes once the lock is given up.
        writer.wait_for_lock(true).expect("wait");
        let waiting: Vec<(String, AuditEvent)> = (31..35)
            .map(|n| (numbered.ids[n].clone(), numbered.events[n].clone()))
            .collect();
        let thread_key = key.clone();
        let thread = std::thread::spawn(move || {
            let batch: Vec<(&str, &AuditEvent)> =
                waiting.iter().map(|(id, e)| (id.as_str(), e)).collect();
            let written = audit::append_here(&mut writer, &thread_key, &batch);
            (writer, written)
        });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!thread.is_finished(), "the writer waits for the lock");
        tx.commit().await.expect("commit");
        let (mut writer, written) = thread.join().expect("the waiting thread");
        assert_eq!(written.expect("append").map(|h| h.seq), Some(35));
        assert!(writer.log_pages() > 0, "the log's pages after the commit");
        writer.wait_for_lock(false).expect("no wait");
        assert_eq!(
            audit::verify(&mut conn, &key).await.expect("verify"),
            Verdict::Intact { events: 35 }
        );
    })
    .await;
}

#[tokio::test]
async fn outbox_message_is_claimed_once() {
    each_backend(|store, backend| async move {
        let mut tx = store.begin().await.expect("tx");
        outbox::enqueue(&mut tx, "m1", "test", "a@example.org", "Hi", "Body", now())
            .await
            .expect("enqueue");
        tx.commit().await.expect("commit");
        let later = now() + jiff::SignedDuration::from_secs(60);
        let mut conn = store.pool().acquire().await.expect("conn");
        let first = outbox::claim(&mut conn, backend, now(), later)
            .await
            .expect("claim");
        assert_eq!(first.map(|m| m.id), Some("m1".to_string()));
        let second = outbox::claim(&mut conn, backend, now(), later)
            .await
            .expect("claim");
        assert!(
            second.is_none(),
            "a claimed message is not handed out twice"
        );
        outbox::mark_sent(&mut conn, "m1", now())
            .await
            .expect("sent");
        assert_eq!(outbox::pending(&mut conn).await.expect("pending"), 0);
    })
    .await;
}

#[tokio::test]
async fn patient_search_escapes_wildcards() {
    each_backend(|store, _| async move {
        let mut tx = store.begin().await.expect("tx");
        for (n, given, family, born) in [
            (1u128, "Ann", "Lee", "1980-01-01"),
            (2, "Ann", "L%e", "1980-01-01"),
            (3, "Ramón", "García-López", "2019-07-02"),
            (4, "Ramona", "O'Brien", "1950-03-04"),
        ] {
            let row = patients::PatientRow {
                id: PatientId::from_uuid(uuid::Uuid::from_u128(n)),
                mrn: format!("MRN{n}"),
                given_name: given.into(),
                family_name: family.into(),
                birth_date: born.into(),
                sex: "female".into(),
                deceased: None,
            };
            patients::insert(&mut tx, &row, now())
                .await
                .expect("insert");
        }
        let desk = portal_domain::Principal::User {
            id: UserId::from_uuid(uuid::Uuid::from_u128(90)),
            role: Role::Staff,
            own_patient: None,
        };
        let directory = authorize_clinic(&desk, ClinicAction::SearchDirectory).expect("staff");
        let find = |text: &str| PatientQuery::parse(text).expect("query");
        let mut names = async |text: &str| -> Vec<String> {
            patients::search(&mut tx, &directory, &find(text), 10)
                .await
                .expect("search")
                .into_iter()
                .map(|f| f.row.display_name())
                .collect()
        };
        // Accents, case and punctuation do not matter, on either database.
        assert_eq!(
            names("ramon").await,
            ["Ramón García-López", "Ramona O'Brien"]
        );
        assert_eq!(names("RAMÓN garcia").await, ["Ramón García-López"]);
        assert_eq!(names("lopez").await, ["Ramón García-López"]);
        assert_eq!(names("obrien").await, ["Ramona O'Brien"]);
        // A date of birth alone, or with a name.
        assert_eq!(names("07/02/2019").await, ["Ramón García-López"]);
        assert_eq!(names("ramon 1950-03-04").await, ["Ramona O'Brien"]);
        // A medical record number, in any case.
        assert_eq!(names("mrn4").await, ["Ramona O'Brien"]);
        // LIKE's wildcards are letters like any other, never wildcards.
        assert_eq!(names("l%e").await, ["Ann L%e"]);
        assert!(names("%").await.is_empty());
        assert!(names("_").await.is_empty());
        // A capability for other clinic work does not search the directory.
        let schedule = authorize_clinic(&desk, ClinicAction::ViewSchedule).expect("staff");
        assert!(matches!(
            patients::search(&mut tx, &schedule, &find("le"), 10).await,
            Err(Error::WrongCapability(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn a_session_read_with_a_records_facts_gives_the_same_facts_as_read_alone() {
    use portal_store::access::{self, NewGrant};
    use portal_store::sessions::{self, SessionRow};
    each_backend(|store, backend| async move {
        let mut tx = store.begin().await.expect("tx");
        let parent = UserId::from_uuid(uuid::Uuid::from_u128(7));
        users::insert(
            &mut tx,
            &users::NewUser {
                id: parent,
                email: "parent@example.org",
                name: "Parent",
                role: Role::Patient,
                password_hash: "x",
                patient_id: None,
            },
            now(),
        )
        .await
        .expect("account");
        let (child, stranger) = (
            PatientId::from_uuid(uuid::Uuid::from_u128(8)),
            PatientId::from_uuid(uuid::Uuid::from_u128(9)),
        );
        for (id, mrn) in [(child, "MRN-8"), (stranger, "MRN-9")] {
            let row = patients::PatientRow {
                id,
                mrn: mrn.into(),
                given_name: "Kim".into(),
                family_name: "Lee".into(),
                birth_date: "2015-01-02".into(),
                sex: "female".into(),
                deceased: None,
            };
            patients::insert(&mut tx, &row, now())
                .await
                .expect("record");
        }
        access::add_proxy_grant(
            &mut tx,
            &NewGrant {
                id: uuid::Uuid::from_u128(10),
                proxy: parent,
                patient: child,
                scope: portal_domain::access::ProxyScope::Full,
                relationship: "parent",
                starts_at: now(),
                ends_at: None,
                granted_by: "operator",
                patient_chose_at: None,
                document_checked: "",
            },
            now(),
        )
        .await
        .expect("grant");
        access::touch_records(&mut tx, &[child])
            .await
            .expect("touch");
        let session = SessionRow {
            id: portal_domain::ids::SessionId::from_uuid(uuid::Uuid::from_u128(11)),
            user_id: parent,
            stage: "full".into(),
            csrf_token: "csrf".into(),
            created_at: now(),
            last_seen_at: now(),
            absolute_expires_at: now(),
            client_addr: "127.0.0.1".into(),
            user_agent: "test".into(),
        };
        sessions::insert(&mut tx, "hash", &session)
            .await
            .expect("session");
        for patient in [
            child,
            stranger,
            PatientId::from_uuid(uuid::Uuid::from_u128(99)),
        ] {
            let alone = access::record_facts(&mut tx, Some(parent), patient)
                .await
                .expect("facts");
            let (found, user, with) = sessions::find_with_user_and_facts(&mut tx, "hash", patient)
                .await
                .expect("read")
                .expect("the session");
            assert_eq!(found.id, session.id);
            assert_eq!(user.id, parent);
            assert_eq!(with.version, alone.version, "{patient}");
            assert_eq!(with.facts, alone.facts, "{patient}");
        }
        let child_facts = access::record_facts(&mut tx, Some(parent), child)
            .await
            .expect("facts");
        assert_eq!(child_facts.facts.proxy_grants.len(), 1);
        assert_eq!(child_facts.version.map(|v| v.record), Some(1));
        assert!(
            sessions::find_with_user_and_facts(&mut tx, "other", child)
                .await
                .expect("read")
                .is_none()
        );
        tx.commit().await.expect("commit");
        // On SQLite the same reads on the caller's thread give the same.
        let Some(readers) = store.embedded() else {
            assert_eq!(
                backend,
                portal_store::Backend::Postgres,
                "SQLite reads here"
            );
            return;
        };
        let mut tx = store.begin_read().await.expect("tx");
        let (found, user, facts) = readers
            .read(|c| sessions::find_here(c, "hash", None))
            .expect("read")
            .expect("the session");
        assert_eq!((found.id, user.id), (session.id, parent));
        assert!(facts.is_empty());
        for patient in [child, stranger] {
            let (_, _, pooled) = sessions::find_with_user_and_facts(&mut tx, "hash", patient)
                .await
                .expect("read")
                .expect("the session");
            let (found, user, mut here) = readers
                .read(|c| sessions::find_here(c, "hash", Some((patient, false))))
                .expect("read")
                .expect("the session");
            assert_eq!((found.id, user.id), (session.id, parent));
            let here = here.remove(&patient).unwrap_or_default();
            assert_eq!(here.version, pooled.version, "{patient}");
            assert_eq!(here.facts, pooled.facts, "{patient}");
            let (_, _, pooled) =
                sessions::find_with_user_and_family_facts(&mut tx, "hash", patient)
                    .await
                    .expect("read")
                    .expect("the session");
            let (_, _, here) = readers
                .read(|c| sessions::find_here(c, "hash", Some((patient, true))))
                .expect("read")
                .expect("the session");
            let versions = |facts: &std::collections::HashMap<PatientId, access::RecordFacts>| {
                let mut all: Vec<_> = facts
                    .iter()
                    .map(|(id, f)| (*id, f.version, f.facts.proxy_grants.len()))
                    .collect();
                all.sort_by_key(|(id, ..)| *id);
                all
            };
            assert_eq!(versions(&here), versions(&pooled), "{patient}");
        }
        assert!(
            readers
                .read(|c| sessions::find_here(c, "other", Some((child, false))))
                .expect("read")
                .is_none()
        );
        // Its connections only read.
        let wrote = readers
            .read(|c| Ok(c.execute("DELETE FROM sessions", []).is_ok()))
            .expect("read");
        assert!(!wrote, "a reader's connection refuses writes");
        assert!(
            sessions::find(&mut tx, "hash")
                .await
                .expect("read")
                .is_some()
        );
    })
    .await;
}
