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

use portal_domain::audit::AuditEvent;
use portal_store::audit::{self, Head, HeadKey};
use portal_store::embedded::Writer;
use portal_store::{Conn, Store};
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
    let mut sink = if store.embedded().is_some() {
        Sink::Here(Here::default())
    } else {
        Sink::Pooled(Pooled::default())
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
/// unknown state is used again.
#[derive(Default)]
struct Pooled(Option<(Conn, Option<Head>)>);

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
        let (mut conn, known) = match self.0.take() {
            Some(kept) => kept,
            None => (store.detached().await?, None),
        };
        if let Some(head) = known
            && let Some(after) =
                audit::append_after(&mut conn, store.backend(), key, &head, events).await?
        {
            let last = after.seq;
            self.0 = Some((conn, Some(after)));
            return Ok(last);
        }
        let mut tx = store.begin_on(&mut conn).await?;
        let after = audit::append_many(&mut tx, store.backend(), key, events).await?;
        tx.commit().await?;
        let last = after.seq;
        self.0 = Some((conn, Some(after)));
        Ok(last)
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
