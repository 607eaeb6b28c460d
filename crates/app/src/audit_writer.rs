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
//! stays in order. The writer remembers the head its last batch left only as a guess: a batch
//! written after it moves the head only if it is still there (see [`append_all`]).

use portal_domain::audit::AuditEvent;
use portal_store::audit::{self, Head, HeadKey};
use portal_store::{Conn, Store};
use tokio::sync::{mpsc, oneshot};

/// Events one transaction appends at most.
const BATCH: usize = 256;

/// Requests that may wait for the writer at once; more wait for room.
const QUEUE: usize = 4_096;

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
}

impl AuditWriter {
    /// Starts the writer task on `store`; it ends when the last handle is dropped.
    pub(crate) fn start(store: Store, key: HeadKey) -> AuditWriter {
        let (queue, incoming) = mpsc::channel(QUEUE);
        tokio::spawn(run(store, key, incoming));
        AuditWriter { queue }
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
}

async fn run(store: Store, key: HeadKey, mut incoming: mpsc::Receiver<Pending>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    // The writer's own connection, kept from batch to batch (a connection given back to the
    // pool costs a round trip to test it), and the head its last batch left; both dropped after
    // any failure (the connection taken anew, the head read anew).
    let mut own: Option<(Conn, Option<Head>)> = None;
    while let Some(first) = incoming.recv().await {
        batch.push(first);
        // Requests ready to run may be about to hand over their events: they run first, so few
        // clients still share batches (each batch costs its round trip and its thread wakes).
        tokio::task::yield_now().await;
        // Whatever arrived while the last batch was committing goes in this one.
        while batch.len() < BATCH {
            match incoming.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        match append_all(&store, &key, &mut own, batch.iter().map(|p| &p.event)).await {
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
                    let alone =
                        append_all(&store, &key, &mut own, std::iter::once(&pending.event)).await;
                    let _ = pending.done.send(alone.map_err(|e| e.to_string()));
                }
            }
        }
    }
}

/// Appends `events` in one transaction on the writer's connection `own` (taken from the pool if
/// there is none; dropped if anything fails, so no connection in an unknown state is used
/// again), giving the position of the last. Where the writer knows the head its last batch left,
/// in one round trip ([`audit::append_after`]); where another writer has appended since (a
/// change of patient data, another portal process), or the head is not known, in three
/// statements in a transaction that reads the head ([`audit::append_many`]).
async fn append_all<'a>(
    store: &Store,
    key: &HeadKey,
    own: &mut Option<(Conn, Option<Head>)>,
    events: impl Iterator<Item = &'a AuditEvent>,
) -> portal_store::Result<i64> {
    let ids: Vec<(String, &AuditEvent)> = events
        .map(|event| (uuid::Uuid::now_v7().to_string(), event))
        .collect();
    let events: Vec<(&str, &AuditEvent)> = ids.iter().map(|(id, e)| (id.as_str(), *e)).collect();
    let (mut conn, known) = match own.take() {
        Some(kept) => kept,
        None => (store.detached().await?, None),
    };
    if let Some(head) = known
        && let Some(after) =
            audit::append_after(&mut conn, store.backend(), key, &head, &events).await?
    {
        let last = after.seq;
        *own = Some((conn, Some(after)));
        return Ok(last);
    }
    let mut tx = store.begin_on(&mut conn).await?;
    let after = audit::append_many(&mut tx, store.backend(), key, &events).await?;
    tx.commit().await?;
    let last = after.seq;
    *own = Some((conn, Some(after)));
    Ok(last)
}
