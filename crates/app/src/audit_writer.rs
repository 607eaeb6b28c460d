//! The group-committed audit writer: events of reads (and refusals) from concurrent requests are
//! handed to one task, which appends them to the hash chain many to a transaction and answers
//! each request only once its event is durable. A page of patient data is shown only after its
//! read is recorded; nothing is fire-and-forget.
//!
//! Who owns the chain's head: nobody holds it between transactions. Each batch, like each change
//! of patient data that writes its own event in its own transaction, takes the head for the
//! length of its transaction (PostgreSQL: the head row's lock, taken by `SELECT … FOR UPDATE` or
//! by the update that moves it; SQLite: the write lock), so appends from this writer, from data
//! changes and from other portal processes on the same database interleave whole and the chain
//! stays in order. On PostgreSQL the writer remembers the head its last batch left only as a
//! guess, to save round trips: a batch written after it moves the head only if it is still
//! there (see [`Pooled::append`]). On a SQLite file the writer reads the head in each batch's
//! transaction (see [`Here`]).

use portal_domain::audit::{AuditEvent, StoredAuditEvent};
use portal_store::audit::{self, Head, HeadKey};
use portal_store::embedded::Writer;
use portal_store::{Conn, Store};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Events one transaction appends at most.
const BATCH: usize = 256;

/// Requests that may wait for the writer at once; more wait for room.
const QUEUE: usize = 4_096;

/// Log pages past which a batch on a SQLite file has the log copied into the database file,
/// beside the writer (SQLite's own default for a committing connection).
const CHECKPOINT_PAGES: u32 = 1_000;

/// An event and the request waiting for it to be durable.
struct Pending {
    event: AuditEvent,
    /// Answered with the event's position in the chain once it is committed.
    done: oneshot::Sender<Result<i64, String>>,
}

/// The handle requests give their events to.
#[derive(Clone, Debug)]
pub(crate) struct AuditWriter {
    queue: mpsc::Sender<Pending>,
    recent: Arc<Mutex<Recent>>,
}

impl AuditWriter {
    /// Starts the writer task on `store`; it ends when the last handle is dropped.
    pub(crate) fn start(store: Store, key: HeadKey) -> AuditWriter {
        let (queue, incoming) = mpsc::channel(QUEUE);
        let recent = Arc::new(Mutex::new(Recent::default()));
        tokio::spawn(run(store, key, incoming, recent.clone()));
        AuditWriter { queue, recent }
    }

    /// Every event of the chain after position `from` up to `to`, oldest first, if the events
    /// this writer committed lately hold them all (see [`Recent`]); `None` otherwise.
    pub(crate) fn recent_between(&self, from: i64, to: i64) -> Option<Vec<Arc<StoredAuditEvent>>> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .between(from, to)
    }

    /// Appends `event` to the chain and returns its position once it is committed.
    pub(crate) async fn record(&self, event: AuditEvent) -> Result<i64, String> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { event, done })
            .await
            .map_err(|_| "the audit writer has stopped".to_string())?;
        committed
            .await
            .map_err(|_| "the audit writer stopped before committing".to_string())?
    }

    /// Appends `events` to the chain (queued together, so they share commits) and returns once
    /// all are committed.
    pub(crate) async fn record_all(&self, events: Vec<AuditEvent>) -> Result<(), String> {
        let mut waiting = Vec::with_capacity(events.len());
        for event in events {
            let (done, committed) = oneshot::channel();
            self.queue
                .send(Pending { event, done })
                .await
                .map_err(|_| "the audit writer has stopped".to_string())?;
            waiting.push(committed);
        }
        for committed in waiting {
            committed
                .await
                .map_err(|_| "the audit writer stopped before committing".to_string())??;
        }
        Ok(())
    }
}

async fn run(
    store: Store,
    key: HeadKey,
    mut incoming: mpsc::Receiver<Pending>,
    recent: Arc<Mutex<Recent>>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut sink = if store.embedded().is_some() {
        Sink::Here(Here::default())
    } else {
        Sink::Pooled(Pooled { own: None, recent })
    };
    while let Some(first) = incoming.recv().await {
        batch.push(first);
        // Requests ready to run may be about to hand over their events: they run first, so few
        // clients still share batches (each batch costs its commit and its thread wakes).
        tokio::task::yield_now().await;
        // Whatever arrived while the last batch was committing goes in this one.
        while batch.len() < BATCH {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match sink.append(&store, &key, &batch).await {
            Ok(last) => {
                // The batch's events took the positions up to `last`, in order.
                let first = last + 1 - batch.len() as i64;
                for (pending, seq) in batch.drain(..).zip(first..) {
                    let _ = pending.done.send(Ok(seq));
                }
            }
            // One bad event must not fail the others: each is tried on its own.
            Err(_) => {
                for pending in batch.drain(..) {
                    let alone = sink
                        .append(&store, &key, std::slice::from_ref(&pending))
                        .await;
                    let _ = pending.done.send(alone.map_err(|e| e.to_string()));
                }
            }
        }
    }
}

/// Where the writer's batches go: through the pool, or on a SQLite file with SQLite's own
/// driver.
enum Sink {
    Pooled(Pooled),
    Here(Here),
}

impl Sink {
    /// Appends the events of `batch` in one transaction, giving the position of the last.
    async fn append(
        &mut self,
        store: &Store,
        key: &HeadKey,
        batch: &[Pending],
    ) -> portal_store::Result<i64> {
        let ids: Vec<String> = batch
            .iter()
            .map(|_| uuid::Uuid::now_v7().to_string())
            .collect();
        let events: Vec<(&str, &AuditEvent)> = ids
            .iter()
            .zip(batch)
            .map(|(id, pending)| (id.as_str(), &pending.event))
            .collect();
        match self {
            Sink::Pooled(pooled) => pooled.append(store, key, &events).await,
            Sink::Here(here) => here.append(store, key, &events).await,
        }
    }
}

/// The writer's own connection from the pool, kept from batch to batch (a connection given back
/// to the pool costs a round trip to test it), and the head its last batch left; both dropped
/// after any failure (the connection taken anew, the head read anew), so no connection in an
/// unknown state is used again. What each batch wrote is kept in `recent`.
struct Pooled {
    own: Option<(Conn, Option<Head>)>,
    recent: Arc<Mutex<Recent>>,
}

impl Pooled {
    /// Where the writer knows the head its last batch left, in one round trip
    /// ([`audit::append_after`]); where another writer has appended since (a change of patient
    /// data, another portal process), or the head is not known, in three statements in a
    /// transaction that reads the head ([`audit::append_many`]).
    async fn append(
        &mut self,
        store: &Store,
        key: &HeadKey,
        events: &[(&str, &AuditEvent)],
    ) -> portal_store::Result<i64> {
        let (mut conn, known) = match self.own.take() {
            Some(kept) => kept,
            None => (store.detached().await?, None),
        };
        let after = match &known {
            Some(head) => {
                audit::append_after(&mut conn, store.backend(), key, head, events).await?
            }
            None => None,
        };
        let after = match after {
            Some(after) => after,
            None => {
                let mut tx = store.begin_on(&mut conn).await?;
                let after = audit::append_many(&mut tx, store.backend(), key, events).await?;
                tx.commit().await?;
                after
            }
        };
        // The batch followed the head the last one left only if it took the positions right
        // after it (positions only grow, so nobody else appended in between).
        let before = after.seq - events.len() as i64;
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        match known.filter(|head| head.seq == before) {
            Some(head) => recent.extend(before, audit::chained(&head, events)),
            None => recent.restart(after.seq),
        }
        drop(recent);
        let last = after.seq;
        self.own = Some((conn, Some(after)));
        Ok(last)
    }
}

/// Events kept by [`Recent`] at most.
const RECENT: usize = 4_096;

/// The events this process's writer committed lately, as stored, with the position after which
/// the list is complete: every event of the chain after it, up to the newest listed, is listed.
/// A batch that followed the head the writer's last batch left extends it; any other (another
/// writer appended in between: a change of data, another portal process) starts it anew after
/// that batch. A page that must show every event up to its own (the access log) takes them from
/// here instead of reading them back, when it holds them all.
#[derive(Debug)]
pub(crate) struct Recent {
    after: i64,
    events: VecDeque<Arc<StoredAuditEvent>>,
}

impl Default for Recent {
    /// Nothing known yet.
    fn default() -> Self {
        Recent {
            after: i64::MAX,
            events: VecDeque::new(),
        }
    }
}

impl Recent {
    /// The newest position known complete.
    fn newest(&self) -> i64 {
        self.events.back().map_or(self.after, |e| e.seq)
    }

    /// Adds the events a batch wrote after position `before`; if that was not the newest known,
    /// what is listed no longer runs up to them, and the list starts anew with them.
    fn extend(&mut self, before: i64, stored: Vec<StoredAuditEvent>) {
        if before != self.newest() {
            self.restart(before);
        }
        self.events.extend(stored.into_iter().map(Arc::new));
        while self.events.len() > RECENT {
            if let Some(dropped) = self.events.pop_front() {
                self.after = dropped.seq;
            }
        }
    }

    /// Forgets what is listed: nothing is known before position `at`.
    fn restart(&mut self, at: i64) {
        self.events.clear();
        self.after = at;
    }

    /// Every event after `from` up to `to`, oldest first, if all are listed.
    fn between(&self, from: i64, to: i64) -> Option<Vec<Arc<StoredAuditEvent>>> {
        if from < self.after || to > self.newest() || from > to {
            return None;
        }
        // Positions ascend: the stretch is found by halving, not by reading all 4,096 on a
        // page's path.
        let start = self.events.partition_point(|e| e.seq <= from);
        let end = self.events.partition_point(|e| e.seq <= to);
        Some(self.events.range(start..end).cloned().collect())
    }
}

/// On a SQLite file: a connection of SQLite's own driver ([`Writer`]), kept from batch to batch
/// and dropped after any failure. A batch is written on the writer task's own thread, in tens of
/// microseconds: no hand-off to a pool connection's thread and back, the cost that dominated a
/// view with few clients. Only when another connection holds the write lock (a change of data,
/// a session's write, an import) does the batch wait for it, on a thread that may block. The
/// connection's commits never copy the log into the database file, which can take milliseconds:
/// past [`CHECKPOINT_PAGES`] of log, a copy runs beside the writer on a pool connection, one at
/// a time.
#[derive(Default)]
struct Here {
    conn: Option<Writer>,
    checkpoint: Option<tokio::task::JoinHandle<()>>,
}

impl Here {
    async fn append(
        &mut self,
        store: &Store,
        key: &HeadKey,
        events: &[(&str, &AuditEvent)],
    ) -> portal_store::Result<i64> {
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => store
                .embedded()
                .ok_or_else(|| portal_store::Error::Embedded("no SQLite file".into()))?
                .writer()?,
        };
        let after = match audit::append_here(&mut conn, key, events)? {
            Some(after) => after,
            None => {
                let (waited, after) = wait_and_append(conn, key, events).await?;
                conn = waited;
                after
            }
        };
        if conn.log_pages() >= CHECKPOINT_PAGES
            && self.checkpoint.as_ref().is_none_or(|c| c.is_finished())
        {
            let store = store.clone();
            self.checkpoint = Some(tokio::spawn(async move {
                if let Err(e) = store.checkpoint(false).await {
                    tracing::warn!(error = %e, "copying the audit writer's log into the database file failed");
                }
            }));
        }
        self.conn = Some(conn);
        Ok(after.seq)
    }
}

/// Appends `events` on `conn` on a thread that may block, waiting for the write lock; gives the
/// connection back (set not to wait again) with the new head.
async fn wait_and_append(
    mut conn: Writer,
    key: &HeadKey,
    events: &[(&str, &AuditEvent)],
) -> portal_store::Result<(Writer, Head)> {
    let key = key.clone();
    let owned: Vec<(String, AuditEvent)> = events
        .iter()
        .map(|(id, event)| ((*id).to_string(), (*event).clone()))
        .collect();
    let waited = tokio::task::spawn_blocking(move || {
        let events: Vec<(&str, &AuditEvent)> =
            owned.iter().map(|(id, e)| (id.as_str(), e)).collect();
        conn.wait_for_lock(true)?;
        let after = audit::append_here(&mut conn, &key, &events)?;
        conn.wait_for_lock(false)?;
        Ok::<_, portal_store::Error>((conn, after))
    })
    .await
    .map_err(|e| portal_store::Error::Embedded(format!("the audit writer's wait failed: {e}")))??;
    match waited {
        (conn, Some(after)) => Ok((conn, after)),
        (_, None) => Err(portal_store::Error::Embedded(
            "the database stayed locked past the wait".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: i64) -> StoredAuditEvent {
        StoredAuditEvent {
            seq,
            id: format!("e{seq}"),
            event: AuditEvent {
                at: jiff::Timestamp::UNIX_EPOCH,
                actor_id: "a".into(),
                actor_role: "patient".into(),
                on_behalf_of: "own-record".into(),
                patient_id: Some("p".into()),
                action: portal_domain::audit::AuditAction::Read,
                resource_type: "Record".into(),
                resource_id: None,
                outcome: portal_domain::audit::Outcome::Success,
                break_glass: false,
                detail: String::new(),
                context: Default::default(),
            },
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    fn seqs(events: Option<Vec<Arc<StoredAuditEvent>>>) -> Option<Vec<i64>> {
        events.map(|list| list.iter().map(|e| e.seq).collect())
    }

    #[test]
    fn recent_events_answer_only_for_a_stretch_they_hold_whole() {
        let mut recent = Recent::default();
        assert_eq!(seqs(recent.between(0, 0)), None, "nothing known at first");
        // The first batch followed a head the writer did not know: nothing before it is known.
        recent.restart(10);
        assert_eq!(seqs(recent.between(10, 10)), Some(vec![]));
        assert_eq!(seqs(recent.between(9, 10)), None);
        recent.extend(10, vec![stored(11), stored(12)]);
        recent.extend(12, vec![stored(13)]);
        assert_eq!(seqs(recent.between(10, 13)), Some(vec![11, 12, 13]));
        assert_eq!(seqs(recent.between(11, 12)), Some(vec![12]));
        assert_eq!(seqs(recent.between(12, 14)), None, "not yet written");
        // Another writer appended 14 and 15: the list starts anew after them.
        recent.extend(15, vec![stored(16)]);
        assert_eq!(seqs(recent.between(12, 16)), None, "14 and 15 are not held");
        assert_eq!(seqs(recent.between(15, 16)), Some(vec![16]));
        // A batch whose head was moved by someone else: nothing held runs up to it.
        recent.restart(20);
        assert_eq!(seqs(recent.between(15, 20)), None);
        assert_eq!(seqs(recent.between(20, 20)), Some(vec![]));
    }

    #[test]
    fn recent_events_keep_a_bounded_tail() {
        let mut recent = Recent::default();
        recent.restart(0);
        let all: Vec<StoredAuditEvent> = (1..=(RECENT as i64 + 10)).map(stored).collect();
        recent.extend(0, all);
        assert_eq!(recent.events.len(), RECENT);
        assert_eq!(seqs(recent.between(9, 11)), None, "the oldest were dropped");
        assert_eq!(seqs(recent.between(10, 11)), Some(vec![11]));
    }
}
