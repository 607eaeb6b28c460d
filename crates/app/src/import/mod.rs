//! Importing FHIR R4: Bundles (transaction, batch, collection) and NDJSON, each imported whole
//! or not at all, idempotently (same source id or identifier: update or no change), with every
//! reference resolved and every resource's original JSON kept.

mod claims;
mod ownership;
mod read;
mod resolve;
mod write;

pub use read::{read_bundle, read_ndjson};

use crate::services::Import;
use crate::{Actor, Error, Result, commit};
use portal_domain::Principal;
use portal_domain::access::{ClinicAction, ClinicCapability, authorize_clinic};
use portal_fhir::json::{JsonValueTrait, Value};
use portal_fhir::{Entry, ImportError, Reference};
use portal_store::Conn;
use portal_store::resources::ImportLock;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// What happened to the resources of one type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TypeCounts {
    /// Resources read.
    pub read: u64,
    /// New resources written.
    pub created: u64,
    /// Known resources that changed.
    pub updated: u64,
    /// Known resources that were the same.
    pub unchanged: u64,
    /// Of those read, how many are of a type the portal keeps only as JSON.
    pub kept_unmapped: u64,
}

/// What happened to one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryStatus {
    /// A new resource.
    Created,
    /// A known resource that changed.
    Updated,
    /// A known resource that was the same.
    Unchanged,
}

/// The outcome of one entry (for a transaction-response Bundle).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryOutcome {
    /// The entry's index in the Bundle (or line number in NDJSON).
    pub index: usize,
    /// Its resource type.
    pub resource_type: String,
    /// The portal's id of the resource.
    pub id: String,
    /// What happened.
    pub status: EntryStatus,
}

/// The outcome of importing one Bundle or NDJSON file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Counts per resource type.
    pub per_type: BTreeMap<String, TypeCounts>,
    /// Each entry's outcome, in entry order.
    pub entries: Vec<EntryOutcome>,
}

impl ImportSummary {
    /// Resources read in all.
    pub fn total(&self) -> u64 {
        self.per_type.values().map(|c| c.read).sum()
    }
    /// Adds another summary's counts.
    pub fn add(&mut self, other: &ImportSummary) {
        for (t, c) in &other.per_type {
            let e = self.per_type.entry(t.clone()).or_default();
            e.read += c.read;
            e.created += c.created;
            e.updated += c.updated;
            e.unchanged += c.unchanged;
            e.kept_unmapped += c.kept_unmapped;
        }
    }
}

fn rejected(e: ImportError) -> Error {
    Error::Rejected(e.to_string())
}

/// What the writer must know of an entry before any entry is written: enough to give it its id
/// and to find what references to it point at.
struct Key {
    /// The entry's index in the Bundle (or line number in NDJSON).
    index: usize,
    resource_type: &'static str,
    full_url: Option<String>,
    request: Option<portal_fhir::Request>,
    /// The resource's identifiers as (system, value), sorted.
    identifiers: Vec<(String, String)>,
    source_id: Option<String>,
}

impl Key {
    fn of(entry: &Entry) -> Key {
        let source_id = entry
            .request
            .as_ref()
            .and_then(|r| r.put_id())
            .map(str::to_string)
            .or_else(|| {
                entry
                    .resource
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
        Key {
            index: entry.index,
            // Checked to be an R4 type by the reader.
            resource_type: portal_fhir::r4_resource_type(entry.resource_type()).unwrap_or(""),
            full_url: entry.full_url.clone(),
            request: entry.request.clone(),
            identifiers: portal_fhir::compartment::identifiers_of(&entry.resource),
            source_id,
        }
    }
}

/// One resource checked, mapped and hashed, ready to be written.
struct Item {
    key: Key,
    /// A Patient's mapped data, the only mapping the writing needs; kept apart (not the whole
    /// [`Mapped`], whose largest variant is a kilobyte) so items stay small.
    patient: Option<Box<portal_fhir::model::PatientData>>,
    /// Whether the resource's type is one the portal maps.
    is_mapped: bool,
    refs: Vec<(String, Reference)>,
    /// The list columns and mapped details (packed) of a clinical resource, worked out while
    /// preparing.
    projection: Option<(portal_fhir::projection::Projection, Vec<u8>)>,
    /// The name of a practitioner, organization or location, for the record pages.
    directory_name: Option<String>,
    /// What searches of the read API find it by.
    terms: portal_fhir::search::Terms,
    /// The original JSON, packed.
    json: Vec<u8>,
    hash: String,
}

fn error_at(key: &Key, path: &str, message: String) -> Error {
    rejected(ImportError {
        entry: Some(key.index),
        line: None,
        resource_type: Some(key.resource_type.to_string()),
        path: path.to_string(),
        message,
    })
}

/// A part of an import on its way from the thread that reads it to the one that writes it.
enum Piece {
    /// The keys of every entry of a Bundle, sent before its items: a reference may point at an
    /// entry further on, so every entry gets its id before any is written. With them, the
    /// Bundle's claims (see [`claims`]).
    Plan(Vec<Key>, Vec<u64>),
    /// Items ready to be written: of a planned Bundle, or a chunk of NDJSON lines, which the
    /// writer plans on their own.
    Items(Vec<Item>),
    /// The reading reached the end of the input: only now may the import be committed.
    End,
}

/// A feed of NDJSON read from `reader` a chunk of lines at a time on a blocking thread of its
/// own. A reading that stops early (the thread failed) ends the feed without its end, so the
/// import fails.
pub fn ndjson_feed<R>(reader: R, limits: portal_fhir::Limits) -> Feed
where
    R: std::io::BufRead + Send + 'static,
{
    let (sender, feed) = feed();
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        read_ndjson(&mut reader, &limits, &sender);
    });
    feed
}

/// The reading side of one import ([`read_bundle`], [`read_ndjson`]), used on a blocking thread.
pub struct FeedSender(tokio::sync::mpsc::Sender<Result<Piece>>);

/// The writing side of one import, given to [`App::import_feed`].
pub struct Feed(tokio::sync::mpsc::Receiver<Result<Piece>>);

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

/// A channel for one import. It holds one part at a time: the reader prepares the next part
/// while the writer writes the last, and memory holds a few parts, never the whole input.
pub fn feed() -> (FeedSender, Feed) {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    (FeedSender(sender), Feed(receiver))
}

impl FeedSender {
    /// Sends a part; `false` once the writer has stopped (it failed, and has said why).
    fn send(&self, piece: Result<Piece>) -> bool {
        self.0.blocking_send(piece).is_ok()
    }

    /// Sends the error that ends this import.
    pub fn fail(&self, error: Error) {
        self.send(Err(error));
    }
}

/// The order in which inputs imported side by side claim their records: the order of their
/// numbers, from 0. Input `n` claims once every input before it has claimed (or failed before
/// it could).
#[derive(Debug)]
pub struct Turns {
    /// The inputs past the first unclaimed one that have claimed.
    claimed: Mutex<BTreeSet<usize>>,
    /// The first input that has not claimed.
    first: tokio::sync::watch::Sender<usize>,
}

impl Turns {
    /// Turns for inputs numbered from 0.
    pub fn new() -> Arc<Turns> {
        Arc::new(Turns {
            claimed: Mutex::new(BTreeSet::new()),
            first: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The ticket of input `n`; each number is given once.
    pub fn ticket(self: &Arc<Self>, n: usize) -> Ticket {
        Ticket {
            turns: Arc::clone(self),
            n,
            done: false,
        }
    }

    fn claimed(&self, n: usize) {
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        claimed.insert(n);
        self.first.send_modify(|first| {
            while claimed.remove(first) {
                *first += 1;
            }
        });
    }
}

/// One input's place in its [`Turns`]. Given up when dropped, so an input that fails before it
/// claims holds up none after it.
#[derive(Debug)]
pub struct Ticket {
    turns: Arc<Turns>,
    n: usize,
    done: bool,
}

impl Ticket {
    /// Waits until every input before this one has claimed.
    pub async fn wait(&self) {
        let mut first = self.turns.first.subscribe();
        // The sender lives in `turns`, which this ticket holds: the wait cannot fail.
        let _ = first.wait_for(|first| *first >= self.n).await;
    }

    /// This input has claimed.
    pub fn done(&mut self) {
        if !self.done {
            self.done = true;
            self.turns.claimed(self.n);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.done();
    }
}

/// Asks the policy whether `principal` may send records in (an EHR whose token has a write
/// scope, or the server's command line); a refusal is [`Error::Forbidden`].
pub fn authorize_import(principal: &Principal) -> Result<ClinicCapability> {
    authorize_clinic(principal, ClinicAction::ImportRecords).map_err(|_| Error::Forbidden)
}

impl Import {
    /// Imports one Bundle (JSON bytes) as a whole.
    /// The bytes are taken over (a request body is not copied) and freed once read.
    pub async fn import_bundle(
        &self,
        actor: &Actor,
        bytes: impl Into<Vec<u8>>,
    ) -> Result<ImportSummary> {
        let bytes = bytes.into();
        let limits = self.config().import_limits;
        let (sender, feed) = feed();
        let reader = tokio::task::spawn_blocking(move || read_bundle(&bytes, &limits, &sender));
        let written = self.import_feed(actor, feed, true).await;
        reader
            .await
            .map_err(|e| Error::Internal(format!("import task failed: {e}")))?;
        written
    }

    /// Imports NDJSON from a reader a chunk of lines at a time, all in one transaction: the
    /// whole file lands or nothing does, and memory holds a few chunks, not the file. The
    /// summary has counts, not per-entry outcomes.
    pub async fn import_ndjson_stream<R>(&self, actor: &Actor, reader: R) -> Result<ImportSummary>
    where
        R: std::io::BufRead + Send + 'static,
    {
        self.import_ndjson_stream_in_turn(actor, reader, None).await
    }

    /// [`Import::import_ndjson_stream`] in its turn among inputs imported side by side (see
    /// [`Import::import_feed_in_turn`]).
    pub async fn import_ndjson_stream_in_turn<R>(
        &self,
        actor: &Actor,
        reader: R,
        ticket: Option<Ticket>,
    ) -> Result<ImportSummary>
    where
        R: std::io::BufRead + Send + 'static,
    {
        let feed = ndjson_feed(reader, self.config().import_limits);
        self.import_feed_in_turn(actor, feed, false, ticket).await
    }

    /// Refreshes the planner's statistics after a bulk load (PostgreSQL runs without autovacuum
    /// here; SQLite's planner benefits too).
    pub async fn analyze_after_import(&self) -> Result<()> {
        Ok(self.store().analyze().await?)
    }

    /// Refreshes the statistics an import's own lookups are planned with, while a long import
    /// runs (see [`portal_store::Store::analyze_lookups`]).
    pub async fn analyze_lookups(&self) -> Result<()> {
        Ok(self.store().analyze_lookups().await?)
    }

    /// Writes what a reader ([`read_bundle`], [`read_ndjson`]) sends, in one transaction: the
    /// whole input, or nothing when the reader or the writing fails. With `outcomes` the
    /// summary lists each entry's outcome (for a transaction-response), otherwise counts only.
    pub async fn import_feed(
        &self,
        actor: &Actor,
        feed: Feed,
        outcomes: bool,
    ) -> Result<ImportSummary> {
        self.import_feed_in_turn(actor, feed, outcomes, None).await
    }

    /// [`Import::import_feed`], for one of several inputs imported side by side: with a
    /// `ticket`, this import claims its records only after the inputs before it in the ticket's
    /// order have claimed theirs, so an input that points at what an earlier one stores finds
    /// it, as if they had been imported one after the other.
    ///
    /// On PostgreSQL a Bundle's import runs beside others, holding the records it claims (see
    /// [`claims`]); NDJSON, whose records are known only as its lines are read, is imported
    /// alone. SQLite writes one import at a time.
    pub async fn import_feed_in_turn(
        &self,
        actor: &Actor,
        mut feed: Feed,
        outcomes: bool,
        mut ticket: Option<Ticket>,
    ) -> Result<ImportSummary> {
        let import = authorize_import(&actor.principal)?;
        // The first piece says whether the input is known up front (a Bundle's plan) before
        // the transaction begins. An input that could not be read begins nothing.
        let first = first_piece(&mut feed).await?;
        if let Some(ticket) = &ticket {
            ticket.wait().await;
        }
        let lock = match &first {
            Piece::Plan(..) => ImportLock::Claiming,
            _ => ImportLock::Alone,
        };
        let mut tx = self.store().begin().await?;
        portal_store::resources::lock_for_import(&mut tx, &import, lock).await?;
        if let Piece::Plan(_, claims) = &first {
            portal_store::resources::claim_for_import(&mut tx, &import, claims).await?;
        }
        if let Some(ticket) = &mut ticket {
            ticket.done();
        }
        let summary = self
            .write_feed(&mut tx, actor, import, first, feed, outcomes)
            .await?;
        commit(tx).await?;
        Ok(summary)
    }

    /// Starts a transaction that holds several imports, each whole or not at all (see
    /// [`Import::import_feed_in_group`]): for many small inputs written one after the other,
    /// where a transaction each would write the same index pages again for every input.
    /// Nothing of the group is stored until [`Import::commit_group`]. The group imports alone
    /// (on PostgreSQL it waits for, and holds up, every other import).
    pub async fn begin_group(&self, actor: &Actor) -> Result<ImportGroup> {
        let import = authorize_import(&actor.principal)?;
        let mut tx = self.store().begin().await?;
        portal_store::resources::lock_for_import(&mut tx, &import, ImportLock::Alone).await?;
        Ok(ImportGroup {
            tx,
            inputs: 0,
            resources: 0,
            broken: None,
        })
    }

    /// Imports what a reader sends into `group`, whole or not at all: an input that fails
    /// leaves nothing in the group and the inputs before it as they were. Like
    /// [`Import::import_feed`], but stored only when the group is committed.
    pub async fn import_feed_in_group(
        &self,
        group: &mut ImportGroup,
        actor: &Actor,
        mut feed: Feed,
        outcomes: bool,
    ) -> Result<ImportSummary> {
        let import = authorize_import(&actor.principal)?;
        if let Some(why) = &group.broken {
            return Err(Error::Internal(why.clone()));
        }
        let first = first_piece(&mut feed).await?;
        let mut input = portal_store::savepoint(&mut group.tx).await?;
        match self
            .write_feed(&mut input, actor, import, first, feed, outcomes)
            .await
        {
            Ok(summary) => {
                input.commit().await.map_err(portal_store::Error::from)?;
                group.inputs += 1;
                group.resources += summary.total();
                Ok(summary)
            }
            Err(e) => {
                if let Err(undone) = input.rollback().await {
                    // What the failed input wrote could not be taken back: nothing of the
                    // group may be stored.
                    group.broken = Some(format!(
                        "an earlier input of this group could not be undone: {undone}"
                    ));
                }
                Err(e)
            }
        }
    }

    /// Stores every input of `group` that was imported without error, or none of them.
    pub async fn commit_group(&self, group: ImportGroup) -> Result<()> {
        if let Some(why) = group.broken {
            return Err(Error::Internal(why));
        }
        commit(group.tx).await
    }

    /// Writes an import's pieces, `first` and then what `feed` sends, on a connection whose
    /// transaction holds this import.
    async fn write_feed(
        &self,
        conn: &mut Conn,
        actor: &Actor,
        import: ClinicCapability,
        first: Piece,
        mut feed: Feed,
        outcomes: bool,
    ) -> Result<ImportSummary> {
        let mut writer = write::Writer::new(self, actor, conn, import, outcomes).await?;
        let mut next = Some(Ok(first));
        let mut ended = false;
        while let Some(piece) = next.take() {
            match piece? {
                Piece::Plan(keys, _) => writer.plan_whole(conn, &keys).await?,
                Piece::Items(items) => writer.write_part(conn, items).await?,
                Piece::End => {
                    ended = true;
                    break;
                }
            }
            next = feed.0.recv().await;
        }
        if !ended {
            return Err(stopped_early());
        }
        writer.finish(conn).await
    }
}

/// Several imports in one transaction (see [`Import::begin_group`]).
pub struct ImportGroup {
    tx: portal_store::Tx,
    inputs: usize,
    resources: u64,
    /// Why nothing more of this group may be stored, once something could not be undone.
    broken: Option<String>,
}

impl ImportGroup {
    /// The inputs imported into the group so far.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// The resources those inputs held.
    pub fn resources(&self) -> u64 {
        self.resources
    }
}

impl std::fmt::Debug for ImportGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportGroup")
            .field("inputs", &self.inputs)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

fn stopped_early() -> Error {
    Error::Internal("the import's reading stopped before the end of its input".into())
}

/// The first piece of an import, or why there is none.
async fn first_piece(feed: &mut Feed) -> Result<Piece> {
    match feed.0.recv().await {
        Some(piece) => piece,
        None => Err(stopped_early()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Whether `ticket`'s wait ends within a short while.
    async fn turn_comes(ticket: &Ticket) -> bool {
        tokio::time::timeout(Duration::from_millis(50), ticket.wait())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn inputs_claim_in_their_order_and_one_given_up_holds_up_none() {
        let turns = Turns::new();
        let mut first = turns.ticket(0);
        let second = turns.ticket(1);
        let mut third = turns.ticket(2);
        assert!(turn_comes(&first).await);
        assert!(
            !turn_comes(&third).await,
            "the third waits for the first two"
        );
        // The third claims out of its turn's order only in the count: the second still waits
        // for the first.
        third.done();
        assert!(!turn_comes(&second).await);
        first.done();
        assert!(turn_comes(&second).await);
        let fourth = turns.ticket(3);
        assert!(!turn_comes(&fourth).await, "the second has not claimed");
        // The second failed before it could claim: dropping its ticket lets the rest go on.
        drop(second);
        assert!(turn_comes(&fourth).await);
    }
}
