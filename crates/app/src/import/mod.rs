//! Importing FHIR R4: Bundles (transaction, batch, collection) and NDJSON, each imported whole
//! or not at all, idempotently (same source id or identifier: update or no change), with every
//! reference resolved and every resource's original JSON kept.

pub mod projection;

use crate::{Actor, App, Error, Result, commit, crypto};
use portal_domain::PatientId;
use portal_domain::access::{AccessFacts, Action, authorize};
use portal_domain::audit::{AuditAction, Outcome};
use portal_fhir::json::{JsonContainerTrait, JsonValueTrait, Value};
use portal_fhir::{
    CodeSet, Entry, ImportError, Limits, Mapped, Reference, collect_references, map_resource,
};
use portal_store::patients::PatientRow;
use portal_store::resources::{self, ClinicalItem, KnownResource, ResourceRow};
use portal_store::{Conn, patients};
use std::collections::{BTreeMap, HashMap, HashSet};

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
            identifiers: identifiers_of(&entry.resource),
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
    /// The list columns and mapped details of a clinical resource, worked out while preparing.
    projection: Option<(projection::Projection, String)>,
    /// A result's abnormal flag.
    flag: &'static str,
    /// The name of a practitioner, organization or location, for the record pages.
    directory_name: Option<String>,
    json: String,
    hash: String,
}

/// The id an item is written under, and what is stored under it already.
struct Placed {
    id: String,
    existing: Option<KnownResource>,
}

/// A planned entry's place in [`Index::slots`].
type Slot = u32;

/// A resource type, an identifier system and a value.
type IdentifierKey = (&'static str, Box<str>, Box<str>);

/// The entries planned so far: the id each is written under, and how references find them.
/// Kept small, as a large Bundle's entries are all planned before the first is written.
#[derive(Default)]
struct Index {
    /// Each planned entry's type and id, in the order planned.
    slots: Vec<(&'static str, Box<str>)>,
    /// An entry's slot, by its index in the Bundle (or line number), until it is written.
    slot_of: HashMap<usize, Slot>,
    /// What is stored under an entry's id already, until it is written.
    existing: HashMap<Slot, KnownResource>,
    by_full_url: HashMap<Box<str>, Slot>,
    by_source: HashMap<(&'static str, Box<str>), Slot>,
    by_identifier: HashMap<IdentifierKey, Vec<Slot>>,
    /// Identifier look-ups already answered by the database during this import.
    stored: HashMap<(String, String, String), Vec<String>>,
}

impl Index {
    /// The type and id of a slot, as a resolved reference.
    fn target(&self, slot: Slot) -> Option<(String, String)> {
        self.slots
            .get(slot as usize)
            .map(|(resource_type, id)| (resource_type.to_string(), id.to_string()))
    }
}

/// The identifiers of a resource as (system, value), read from its JSON.
fn identifiers_of(resource: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = resource
        .get("identifier")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .filter_map(|id| {
                    let value = id.get("value")?.as_str()?;
                    let system = id.get("system").and_then(Value::as_str).unwrap_or("");
                    Some((system.to_string(), value.to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
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
    /// entry further on, so every entry gets its id before any is written.
    Plan(Vec<Key>),
    /// Items ready to be written: of a planned Bundle, or a chunk of NDJSON lines, which the
    /// writer plans on their own.
    Items(Vec<Item>),
    /// The reading reached the end of the input: only now may the import be committed.
    End,
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

/// The most entries, and about the most bytes of text, one part of a Bundle holds.
const PART_ENTRIES: usize = 1_000;
const PART_BYTES: usize = 1024 * 1024;

/// The longest NDJSON line (one resource) an import reads: room for the longest string the
/// limits allow twice over, and at least the 64 MB a `POST /fhir` body may take.
fn max_line_bytes(limits: &Limits) -> usize {
    limits
        .max_string_bytes
        .saturating_mul(2)
        .max(64 * 1024 * 1024)
}

/// Reads one line (without its `\n` or `\r\n`) into `line`, refusing one longer than `cap`
/// bytes before holding more than that; `None` at the end of the input.
fn read_line_capped(
    reader: &mut impl std::io::BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<()>> {
    line.clear();
    let mut read_any = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        read_any = true;
        let (take, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (at, true),
            None => (available.len(), false),
        };
        if line.len() + take > cap {
            return Err(std::io::Error::other(format!(
                "the line is longer than {cap} bytes, the most one resource may take \
                 (--max-string-bytes raises it)"
            )));
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(read_any.then_some(()))
}

/// Reads a Bundle (JSON bytes) within `limits` and sends it to `out` in parts. CPU only: run it
/// on a blocking thread.
///
/// Two passes over the text, each holding one entry's tree at a time: the first checks every
/// entry and sends the keys that give each its id; the second checks references, maps and
/// hashes, and sends the items (Patients first, which the others point at) a part at a time.
/// Memory holds the text, the keys and a few parts, not a tree of the whole Bundle.
pub fn read_bundle(bytes: &[u8], limits: &Limits, out: &FeedSender) {
    if let Err(error) = read_bundle_parts(bytes, limits, out) {
        out.fail(error);
    }
}

fn read_bundle_parts(bytes: &[u8], limits: &Limits, out: &FeedSender) -> Result<()> {
    let text = portal_fhir::open_bundle(bytes, limits).map_err(rejected)?;
    let mut full_urls: HashMap<String, usize> = HashMap::new();
    let mut keys = Vec::with_capacity(text.len());
    let mut patients = Vec::new();
    let mut others = Vec::with_capacity(text.len());
    for index in 0..text.len() {
        let entry = text.entry(index).map_err(rejected)?;
        if let Some(url) = &entry.full_url
            && let Some(first) = full_urls.insert(url.clone(), index)
        {
            return Err(rejected(portal_fhir::repeated_full_url(&entry, url, first)));
        }
        let key = Key::of(&entry);
        if key.resource_type == "Patient" {
            patients.push(index);
        } else {
            others.push(index);
        }
        keys.push(key);
    }
    if !out.send(Ok(Piece::Plan(keys))) {
        return Ok(());
    }
    let mut parts = Parts::new(out);
    for index in patients.into_iter().chain(others) {
        let entry = text.entry(index).map_err(rejected)?;
        let refs = collect_references(&entry.resource);
        portal_fhir::check_entry_references(&entry, &refs, |url| full_urls.contains_key(url))
            .map_err(rejected)?;
        if !parts.push(prepare_entry(entry, refs)?, text.text_len(index)) {
            return Ok(());
        }
    }
    parts.finish();
    Ok(())
}

/// Gathers prepared items into parts, and sends each part once it is full.
struct Parts<'a> {
    out: &'a FeedSender,
    items: Vec<Item>,
    /// The bytes of text the items were read from.
    bytes: usize,
}

impl<'a> Parts<'a> {
    fn new(out: &'a FeedSender) -> Self {
        Self {
            out,
            items: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds an item read from `bytes` of text; `false` once the writer has stopped.
    fn push(&mut self, item: Item, bytes: usize) -> bool {
        self.items.push(item);
        self.bytes += bytes;
        if self.items.len() < PART_ENTRIES && self.bytes < PART_BYTES {
            return true;
        }
        self.bytes = 0;
        self.out
            .send(Ok(Piece::Items(std::mem::take(&mut self.items))))
    }

    /// Sends the last part and the end of the input.
    fn finish(self) {
        if !self.items.is_empty() && !self.out.send(Ok(Piece::Items(self.items))) {
            return;
        }
        self.out.send(Ok(Piece::End));
    }
}

/// Reads NDJSON from `reader` and sends it to `out` a chunk of lines at a time. Blocking: run
/// it on a blocking thread.
pub fn read_ndjson(reader: &mut impl std::io::BufRead, limits: &Limits, out: &FeedSender) {
    if let Err(error) = read_ndjson_parts(reader, limits, out) {
        out.fail(error);
    }
}

fn read_ndjson_parts(
    reader: &mut impl std::io::BufRead,
    limits: &Limits,
    out: &FeedSender,
) -> Result<()> {
    let line_cap = max_line_bytes(limits);
    let mut parts = Parts::new(out);
    let mut bytes = Vec::new();
    for n in 0.. {
        let line = match read_line_capped(reader, &mut bytes, line_cap) {
            Ok(Some(())) => std::str::from_utf8(&bytes)
                .map_err(|_| Error::Rejected(format!("line {}: is not UTF-8 text", n + 1)))?,
            Ok(None) => break,
            Err(e) => {
                return Err(Error::Rejected(format!(
                    "line {}: cannot be read: {e}",
                    n + 1
                )));
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let resource =
            portal_fhir::parse_ndjson_line_limited(line, n + 1, limits).map_err(rejected)?;
        let refs = collect_references(&resource);
        let entry = Entry {
            index: n + 1,
            full_url: None,
            resource,
            request: None,
        };
        let line_bytes = line.len();
        if !parts.push(prepare_entry(entry, refs)?, line_bytes) {
            return Ok(());
        }
    }
    parts.finish();
    Ok(())
}

/// Checks, maps and hashes one entry, with the references [`collect_references`] found in it.
/// Its parsed JSON is freed here, on the thread that built it.
fn prepare_entry(entry: Entry, refs: Vec<(String, Reference)>) -> Result<Item> {
    let mapped = map_resource(&entry.resource, Some(entry.index)).map_err(|e| {
        if entry.full_url.is_none() && entry.request.is_none() {
            rejected(ImportError {
                entry: None,
                line: Some(entry.index),
                ..e
            })
        } else {
            rejected(e)
        }
    })?;
    // Compact, keys in the sender's order.
    let json = portal_fhir::json::to_string(&entry.resource);
    let hash = crypto::content_hash(&json);
    let projected = projection::kind_of(&mapped).map(|kind| {
        let mut p = projection::project(kind, &entry.resource);
        if projection::is_note_report(&mapped) {
            p.category = projection::NOTE_CATEGORY.to_string();
        }
        p
    });
    let key = Key::of(&entry);
    // The parsed JSON is not needed any more: freed before the details are written out (a
    // document's text can take megabytes), on the thread that built it.
    drop(entry);
    let projection = match projected {
        Some(p) => Some((
            p,
            portal_fhir::json::write(&mapped)
                .map_err(|e| Error::Internal(format!("cannot serialise a resource: {e}")))?,
        )),
        None => None,
    };
    let flag = projection::flag_of(&mapped);
    let directory_name = directory_name(&mapped);
    let is_mapped = mapped.is_mapped();
    let patient = match mapped {
        Mapped::Patient(data) => Some(Box::new(data)),
        _ => None,
    };
    Ok(Item {
        key,
        flag,
        directory_name,
        patient,
        is_mapped,
        refs,
        projection,
        json,
        hash,
    })
}

impl App {
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
        let limits = self.config().import_limits;
        let (sender, feed) = feed();
        let reader_task = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            read_ndjson(&mut reader, &limits, &sender);
        });
        let written = self.import_feed(actor, feed, false).await;
        reader_task
            .await
            .map_err(|e| Error::Internal(format!("reading task failed: {e}")))?;
        written
    }

    /// Refreshes the planner's statistics after a bulk load (PostgreSQL runs without autovacuum
    /// here; SQLite's planner benefits too).
    pub async fn analyze_after_import(&self) -> Result<()> {
        Ok(self.store().analyze().await?)
    }

    /// Writes what a reader ([`read_bundle`], [`read_ndjson`]) sends, in one transaction: the
    /// whole input, or nothing when the reader or the writing fails. With `outcomes` the
    /// summary lists each entry's outcome (for a transaction-response), otherwise counts only.
    pub async fn import_feed(
        &self,
        actor: &Actor,
        mut feed: Feed,
        outcomes: bool,
    ) -> Result<ImportSummary> {
        let mut tx = self.store().begin().await?;
        let mut writer = Writer::new(self, actor, &mut tx, outcomes).await?;
        let mut planned = false;
        let mut ended = false;
        while let Some(piece) = feed.0.recv().await {
            match piece? {
                Piece::Plan(keys) => {
                    writer.plan(&mut tx, keys.iter()).await?;
                    writer.results_written = Some(HashSet::new());
                    planned = true;
                }
                Piece::Items(items) => {
                    if !planned {
                        writer.plan(&mut tx, items.iter().map(|i| &i.key)).await?;
                    }
                    writer.write(&mut tx, items).await?;
                    if !planned {
                        // A chunk of NDJSON: what it resolved to is not kept, so memory holds
                        // one chunk's worth (later lines find earlier ones in the database).
                        writer.index = Index::default();
                        writer.seen_sources.clear();
                    }
                }
                Piece::End => {
                    ended = true;
                    break;
                }
            }
        }
        if !ended {
            return Err(Error::Internal(
                "the import's reading stopped before the end of its input".into(),
            ));
        }
        let summary = writer.finish(&mut tx).await?;
        commit(tx).await?;
        Ok(summary)
    }
}

/// What one import has written so far, across its parts.
struct Writer<'a> {
    app: &'a App,
    actor: &'a Actor,
    outcomes: bool,
    now: jiff::Timestamp,
    index: Index,
    seen_sources: HashSet<(&'static str, String)>,
    holds: Vec<portal_store::records::Hold>,
    /// For each result a report of this import lists: the report and when it is released.
    report_of: HashMap<String, (String, Option<i64>)>,
    /// The results this import has written (for a planned Bundle): a report in a later part
    /// holds them with it. `None` for NDJSON, which keeps no record of earlier chunks.
    /// Ids are UUIDs, kept as such to stay small.
    results_written: Option<HashSet<uuid::Uuid>>,
    /// Created and updated per patient whose record changed, for the audit trail.
    per_patient: BTreeMap<PatientId, (u64, u64)>,
    other_changes: (u64, u64),
    summary: ImportSummary,
}

impl<'a> Writer<'a> {
    async fn new(
        app: &'a App,
        actor: &'a Actor,
        tx: &mut portal_store::Tx,
        outcomes: bool,
    ) -> Result<Writer<'a>> {
        let tx: &mut Conn = tx;
        Ok(Writer {
            app,
            actor,
            outcomes,
            now: app.now(),
            index: Index::default(),
            seen_sources: HashSet::new(),
            holds: portal_store::records::holds(tx).await?,
            report_of: HashMap::new(),
            results_written: None,
            per_patient: BTreeMap::new(),
            other_changes: (0, 0),
            summary: ImportSummary::default(),
        })
    }

    /// When a result or report is released to the patient (`None`: held until staff release it).
    fn release_of(&self, item: &Item) -> Option<i64> {
        let now_micros = portal_store::to_micros(self.now);
        let Some((p, _)) = &item.projection else {
            return Some(now_micros);
        };
        if !matches!(p.kind, "observation" | "diagnostic-report") {
            return Some(now_micros);
        }
        match self.holds.iter().find(|h| h.category == p.category) {
            None => Some(now_micros),
            Some(hold) => hold
                .days
                .map(|d| now_micros.saturating_add(d.saturating_mul(86_400_000_000))),
        }
    }

    /// Gives each entry its id (the stored resource's, or a new one) and records where
    /// references to it point.
    async fn plan(
        &mut self,
        tx: &mut portal_store::Tx,
        keys: impl Iterator<Item = &Key> + Clone,
    ) -> Result<()> {
        let tx: &mut Conn = tx;
        // What is stored already, found in one query per resource type.
        let mut known_by_source: HashMap<(&'static str, String), KnownResource> = HashMap::new();
        let mut source_ids: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
        for key in keys.clone() {
            if let Some(sid) = &key.source_id {
                source_ids.entry(key.resource_type).or_default().push(sid);
            }
        }
        for (resource_type, ids) in &source_ids {
            for (sid, known) in resources::find_many_by_source(tx, resource_type, ids).await? {
                known_by_source.insert((resource_type, sid), known);
            }
        }
        drop(source_ids);
        for key in keys {
            if let Some(sid) = &key.source_id
                && !self.seen_sources.insert((key.resource_type, sid.clone()))
            {
                return Err(error_at(
                    key,
                    &format!("{}.id", key.resource_type),
                    format!("the id {sid:?} appears twice in this import"),
                ));
            }
            let existing = match key
                .source_id
                .as_ref()
                .and_then(|sid| known_by_source.remove(&(key.resource_type, sid.clone())))
            {
                Some(known) => Some(known),
                None => find_existing(tx, key).await?,
            };
            let id: Box<str> = match &existing {
                Some(known) => known.id.as_str().into(),
                None if key.resource_type == "Patient" => {
                    PatientId::new_v7(self.app.now()).to_string().into()
                }
                None => uuid::Uuid::now_v7().to_string().into(),
            };
            let index = &mut self.index;
            let slot = Slot::try_from(index.slots.len())
                .map_err(|_| Error::Internal("too many entries in one import".into()))?;
            index.slots.push((key.resource_type, id));
            index.slot_of.insert(key.index, slot);
            if let Some(known) = existing {
                index.existing.insert(slot, known);
            }
            if let Some(url) = &key.full_url {
                index.by_full_url.insert(url.as_str().into(), slot);
            }
            if let Some(sid) = &key.source_id {
                index
                    .by_source
                    .insert((key.resource_type, sid.as_str().into()), slot);
            }
            for (system, value) in &key.identifiers {
                index
                    .by_identifier
                    .entry((
                        key.resource_type,
                        system.as_str().into(),
                        value.as_str().into(),
                    ))
                    .or_default()
                    .push(slot);
            }
        }
        Ok(())
    }

    /// Writes planned items.
    async fn write(&mut self, tx: &mut portal_store::Tx, mut items: Vec<Item>) -> Result<()> {
        let tx: &mut Conn = tx;
        // Patients first: other resources point at them.
        items.sort_by_key(|i| (i.key.resource_type != "Patient", i.key.index));
        // Each item's id, and what is stored under it already.
        let mut placed: Vec<Placed> = Vec::with_capacity(items.len());
        for item in &items {
            let slot = self.index.slot_of.remove(&item.key.index).ok_or_else(|| {
                Error::Internal(format!("entry {} was not given an id", item.key.index))
            })?;
            placed.push(Placed {
                id: self.index.slots[slot as usize].1.to_string(),
                existing: self.index.existing.remove(&slot),
            });
        }

        // Resolve references; find each resource's patient.
        let mut compartments: Vec<Option<PatientId>> = Vec::with_capacity(items.len());
        let mut encounters: Vec<Option<String>> = Vec::with_capacity(items.len());
        let mut links: Vec<Links> = Vec::with_capacity(items.len());
        for (item, at) in items.iter().zip(&placed) {
            let mut link = Links::default();
            let mut patient = if item.key.resource_type == "Patient" {
                Some(crate::parse_patient_id(&at.id)?)
            } else {
                None
            };
            let mut encounter = None;
            for (path, reference) in &item.refs {
                let Some((target_type, target)) =
                    resolve(tx, &mut self.index, &item.key, path, reference).await?
                else {
                    continue;
                };
                let field = path.rsplit_once('.').map_or(path.as_str(), |(_, f)| f);
                if target_type == "Patient"
                    && patient.is_none()
                    && matches!(field, "subject" | "patient" | "beneficiary")
                {
                    patient = Some(crate::parse_patient_id(&target)?);
                }
                link.note(item.key.resource_type, path, field, &target_type, &target);
                if target_type == "Encounter"
                    && encounter.is_none()
                    && field.starts_with("encounter")
                {
                    encounter = Some(target);
                }
            }
            compartments.push(patient);
            encounters.push(encounter);
            links.push(link);
        }
        // An update never moves a resource to another patient's record, and a Patient found
        // only by an identifier must be the same person.
        for ((item, at), patient) in items.iter().zip(&placed).zip(&compartments) {
            let Some(known) = &at.existing else {
                continue;
            };
            if item.key.resource_type != "Patient"
                && known.patient_id.is_some()
                && known.patient_id != *patient
            {
                return Err(error_at(
                    &item.key,
                    &format!("{}.{}", item.key.resource_type, compartment_field(item)),
                    "this update would move the resource to another patient's record (or out \
                     of every record); an update may not change whose record a resource is in"
                        .into(),
                ));
            }
            if item.key.resource_type == "Patient"
                && !matched_by_source(&item.key)
                && let Some(data) = &item.patient
            {
                let id = crate::parse_patient_id(&known.id)?;
                if let Some(stored) = patients::find_unchecked(tx, id).await? {
                    let same_birth = data
                        .birth_date
                        .as_deref()
                        .is_none_or(|b| b == stored.birth_date);
                    let same_mrn = data.mrn.as_deref().is_none_or(|m| m == stored.mrn);
                    if !same_birth || !same_mrn {
                        return Err(error_at(
                            &item.key,
                            "Patient.identifier",
                            "this Patient has no id the portal knows and its identifier matches \
                             a patient with another date of birth or medical record number; it \
                             is refused rather than overwrite that record"
                                .into(),
                        ));
                    }
                }
            }
        }

        // Results a report lists belong to it, and are held while it is.
        for ((item, at), link) in items.iter().zip(&placed).zip(&links) {
            if link.members.is_empty() {
                continue;
            }
            let release = self.release_of(item);
            for member in &link.members {
                self.report_of
                    .insert(member.clone(), (at.id.clone(), release));
            }
        }

        // The policy decides for every patient touched.
        for patient in compartments.iter().flatten() {
            if !self.per_patient.contains_key(patient) {
                authorize(
                    &self.actor.principal,
                    *patient,
                    Action::WriteRecord,
                    &AccessFacts::default(),
                    self.now,
                )
                .map_err(|_| Error::Forbidden)?;
                self.per_patient.insert(*patient, (0, 0));
            }
        }

        let now = self.now;
        let mut new_rows: Vec<(usize, Option<PatientId>)> = Vec::new();
        let mut new_identifiers: Vec<(usize, &str, &str)> = Vec::new();
        let mut projections = Vec::new();
        let mut directory: Vec<(&str, &str, &str)> = Vec::new();
        for (i, (((item, at), patient), encounter)) in items
            .iter()
            .zip(&placed)
            .zip(&compartments)
            .zip(&encounters)
            .enumerate()
        {
            let counts = self
                .summary
                .per_type
                .entry(item.key.resource_type.to_string())
                .or_default();
            counts.read += 1;
            if !item.is_mapped {
                counts.kept_unmapped += 1;
            }
            let status = match &at.existing {
                None => EntryStatus::Created,
                Some(k) if k.content_hash == item.hash => EntryStatus::Unchanged,
                Some(_) => EntryStatus::Updated,
            };
            if self.outcomes {
                self.summary.entries.push(EntryOutcome {
                    index: item.key.index,
                    resource_type: item.key.resource_type.to_string(),
                    id: at.id.clone(),
                    status,
                });
            }
            if status == EntryStatus::Unchanged {
                counts.unchanged += 1;
                continue;
            }
            let created = at.existing.is_none();
            if created {
                counts.created += 1;
            } else {
                counts.updated += 1;
            }
            if let Some(data) = &item.patient {
                let row = patient_row(&item.key, &at.id, data)?;
                let details = serde_json::to_string(data)
                    .map_err(|e| Error::Internal(format!("cannot serialise a patient: {e}")))?;
                patients::upsert_imported(tx, &row, &at.id, &details, now)
                    .await
                    .map_err(|e| match e {
                        portal_store::Error::Conflict(_) => error_at(
                            &item.key,
                            "Patient.identifier",
                            format!(
                                "the medical record number {:?} belongs to another patient",
                                row.mrn
                            ),
                        ),
                        other => other.into(),
                    })?;
            }
            if created {
                // New resources are written in batches below.
                new_rows.push((i, *patient));
                new_identifiers.extend(
                    item.key
                        .identifiers
                        .iter()
                        .map(|(s, v)| (i, s.as_str(), v.as_str())),
                );
            } else {
                let row = ResourceRow {
                    id: &at.id,
                    resource_type: item.key.resource_type,
                    source_id: item.key.source_id.as_deref(),
                    patient_id: *patient,
                    content_hash: &item.hash,
                    json: &item.json,
                };
                resources::update(tx, &row, now).await?;
                resources::replace_identifiers(
                    tx,
                    &at.id,
                    item.key.resource_type,
                    &item.key.identifiers,
                    true,
                )
                .await?;
            }
            if let (Some((projection, details)), Some(patient)) = (&item.projection, patient) {
                projections.push((i, *patient, projection, details.as_str(), encounter.clone()));
            }
            if let Some(name) = &item.directory_name {
                directory.push((at.id.as_str(), item.key.resource_type, name.as_str()));
            }
            let tally = match patient {
                Some(p) => self.per_patient.entry(*p).or_default(),
                None => &mut self.other_changes,
            };
            if created {
                tally.0 += 1;
            } else {
                tally.1 += 1;
            }
        }

        let rows: Vec<ResourceRow<'_>> = new_rows
            .iter()
            .map(|(i, patient)| {
                let item = &items[*i];
                ResourceRow {
                    id: &placed[*i].id,
                    resource_type: item.key.resource_type,
                    source_id: item.key.source_id.as_deref(),
                    patient_id: *patient,
                    content_hash: &item.hash,
                    json: &item.json,
                }
            })
            .collect();
        resources::insert_many(tx, &rows, now).await?;
        drop(rows);
        let identifier_rows: Vec<(&str, &str, &str, &str)> = new_identifiers
            .iter()
            .map(|(i, system, value)| {
                (
                    items[*i].key.resource_type,
                    *system,
                    *value,
                    placed[*i].id.as_str(),
                )
            })
            .collect();
        resources::insert_identifiers_many(tx, &identifier_rows).await?;
        drop(identifier_rows);
        let clinical: Vec<ClinicalItem<'_>> = projections
            .iter()
            .map(|(i, patient, p, details, encounter)| {
                let item = &items[*i];
                let link = &links[*i];
                let id = placed[*i].id.as_str();
                let own_release = self.release_of(item);
                let (report_id, released_at) = match self.report_of.get(id) {
                    Some((report, report_release)) => (
                        Some(report.as_str()),
                        match (own_release, report_release) {
                            (Some(a), Some(b)) => Some(a.max(*b)),
                            _ => None,
                        },
                    ),
                    None => (None, own_release),
                };
                ClinicalItem {
                    resource_id: id,
                    patient_id: *patient,
                    kind: p.kind,
                    category: &p.category,
                    code_system: &p.code_system,
                    code: &p.code,
                    label: &p.label,
                    status: &p.status,
                    sort_at: p.sort_at,
                    encounter_id: encounter.as_deref(),
                    details,
                    who_id: link.who.as_deref(),
                    where_id: link.place.as_deref(),
                    report_id,
                    flag: item.flag,
                    released_at,
                }
            })
            .collect();
        resources::put_directory_names(tx, &directory).await?;
        resources::put_clinical_items(tx, &clinical).await?;
        // Results written before the report that lists them: by an earlier part of this import
        // (held with the report, as if written together) or by an earlier import (linked, and
        // held only if the report is held until released).
        let written: HashSet<&str> = clinical.iter().map(|c| c.resource_id).collect();
        for ((item, at), link) in items.iter().zip(&placed).zip(&links) {
            let (this_import, earlier): (Vec<&str>, Vec<&str>) = link
                .members
                .iter()
                .map(String::as_str)
                .filter(|m| !written.contains(m))
                .partition(|m| {
                    self.results_written.as_ref().is_some_and(|done| {
                        uuid::Uuid::parse_str(m).is_ok_and(|id| done.contains(&id))
                    })
                });
            let release = self.release_of(item);
            if !this_import.is_empty() {
                resources::link_report_members(tx, &at.id, &this_import, release, true).await?;
            }
            if !earlier.is_empty() {
                resources::link_report_members(tx, &at.id, &earlier, release, false).await?;
            }
        }
        let results: Vec<uuid::Uuid> = match self.results_written {
            Some(_) => clinical
                .iter()
                .filter(|c| c.kind == "observation" && c.report_id.is_none())
                .filter_map(|c| uuid::Uuid::parse_str(c.resource_id).ok())
                .collect(),
            None => Vec::new(),
        };
        drop(clinical);
        if let Some(done) = &mut self.results_written {
            done.extend(results);
        }
        Ok(())
    }

    /// One audit event per patient whose record changed, and one for directory data; the
    /// summary, entries in input order.
    async fn finish(mut self, tx: &mut portal_store::Tx) -> Result<ImportSummary> {
        let tx: &mut Conn = tx;
        let (app, actor) = (self.app, self.actor);
        for (patient, (created, updated)) in &self.per_patient {
            if created + updated == 0 {
                continue;
            }
            let mut event = app.event(
                actor,
                if *created > 0 {
                    AuditAction::Create
                } else {
                    AuditAction::Update
                },
                "HealthRecord",
                Outcome::Success,
            );
            event.patient_id = Some(patient.to_string());
            event.on_behalf_of = match actor.principal {
                portal_domain::Principal::Operator => "operator".into(),
                _ => "system-client".into(),
            };
            event.detail = format!("FHIR import: {created} created, {updated} updated");
            app.audit(tx, &event).await?;
        }
        let (created, updated) = self.other_changes;
        if created + updated > 0 {
            let mut event = app.event(actor, AuditAction::Create, "Directory", Outcome::Success);
            event.detail = format!(
                "FHIR import: {created} created, {updated} updated (practitioners, \
                 organizations, locations, …)"
            );
            app.audit(tx, &event).await?;
        }
        self.summary.entries.sort_by_key(|e| e.index);
        Ok(self.summary)
    }
}

/// What an item's references say about who and where it is from, and (for a report) which
/// results it lists: resource ids, resolved.
#[derive(Default)]
struct Links {
    who: Option<String>,
    /// Whether `who` is an organization, which a practitioner found later replaces.
    who_is_organization: bool,
    place: Option<String>,
    members: Vec<String>,
}

impl Links {
    fn note(
        &mut self,
        resource_type: &str,
        path: &str,
        field: &str,
        target_type: &str,
        target: &str,
    ) {
        if resource_type == "DiagnosticReport"
            && target_type == "Observation"
            && path.starts_with("DiagnosticReport.result")
        {
            self.members.push(target.to_string());
            return;
        }
        if matches!(
            field,
            "subject" | "patient" | "beneficiary" | "basedOn" | "partOf"
        ) {
            return;
        }
        match target_type {
            "Practitioner" if self.who.is_none() || self.who_is_organization => {
                self.who = Some(target.to_string());
                self.who_is_organization = false;
            }
            "Organization"
                if (field == "serviceProvider" || field == "managingOrganization")
                    && self.place.is_none() =>
            {
                self.place = Some(target.to_string());
            }
            "Organization" if self.who.is_none() => {
                self.who = Some(target.to_string());
                self.who_is_organization = true;
            }
            "Location" => {
                self.place = Some(target.to_string());
            }
            _ => {}
        }
    }
}

/// The name a practitioner, organization or location is shown by.
fn directory_name(mapped: &Mapped) -> Option<String> {
    let name = match mapped {
        Mapped::Practitioner(p) => p
            .names
            .iter()
            .find(|n| n.use_.map(CodeSet::code) == Some("official"))
            .or_else(|| p.names.first())
            .map(|n| n.display())?,
        Mapped::Organization(o) => o.name.clone()?,
        Mapped::Location(l) => l.name.clone()?,
        _ => return None,
    };
    (!name.trim().is_empty()).then_some(name)
}

/// Whether an item was found by its sender's id (not by an identifier).
fn matched_by_source(key: &Key) -> bool {
    key.source_id.is_some()
        && key
            .request
            .as_ref()
            .and_then(|r| r.if_none_exist_identifier())
            .is_none()
}

/// The element that says whose record a resource is in, for error messages.
fn compartment_field(item: &Item) -> &'static str {
    item.refs
        .iter()
        .filter_map(|(path, _)| path.rsplit_once('.').map(|(_, f)| f))
        .find_map(|f| match f {
            "subject" => Some("subject"),
            "patient" => Some("patient"),
            "beneficiary" => Some("beneficiary"),
            _ => None,
        })
        .unwrap_or("subject")
}

/// Finds the stored resource an incoming one updates when its sender's id found none: by the
/// conditional-create identifier, else (for a resource without an id) by one of its identifiers.
async fn find_existing(conn: &mut Conn, key: &Key) -> Result<Option<KnownResource>> {
    let mut searches: Vec<(String, String)> = Vec::new();
    if let Some(search) = key
        .request
        .as_ref()
        .and_then(|r| r.if_none_exist_identifier())
    {
        let Some(system) = search.system else {
            return Err(error_at(
                key,
                "request.ifNoneExist",
                "the condition needs a system (identifier=system|value): an identifier without \
                 one can match any record"
                    .into(),
            ));
        };
        searches.push((system, search.value));
    }
    if key.source_id.is_none() {
        searches.extend(key.identifiers.iter().cloned());
    }
    // An identifier without a system is unique nowhere: it never picks the resource to update.
    for (system, value) in searches
        .into_iter()
        .filter(|(system, _)| !system.is_empty())
    {
        let found = resources::find_by_identifier(conn, key.resource_type, &system, &value).await?;
        if let [one] = found.as_slice() {
            return Ok(Some(one.clone()));
        }
    }
    Ok(None)
}

/// Resolves one reference to (type, portal id). Logical references to identifiers nobody here
/// holds, contained and absolute external references are kept as they are (`None`); anything
/// else that does not resolve refuses the whole import.
async fn resolve(
    conn: &mut Conn,
    index: &mut Index,
    key: &Key,
    path: &str,
    reference: &Reference,
) -> Result<Option<(String, String)>> {
    let broken = |what: String| error_at(key, path, what);
    match reference {
        Reference::Internal(url) => match index
            .by_full_url
            .get(url.as_str())
            .and_then(|slot| index.target(*slot))
        {
            Some(found) => Ok(Some(found)),
            None => Err(broken(format!(
                "reference {url:?} does not resolve to an entry"
            ))),
        },
        Reference::Relative { resource_type, id } => {
            if let Some(found) = portal_fhir::r4_resource_type(resource_type)
                .and_then(|static_type| index.by_source.get(&(static_type, id.as_str().into())))
                .and_then(|slot| index.target(*slot))
            {
                return Ok(Some(found));
            }
            match resources::find_by_source(conn, resource_type, id).await? {
                Some(known) => Ok(Some((resource_type.clone(), known.id))),
                None => Err(broken(format!(
                    "reference \"{resource_type}/{id}\" does not resolve"
                ))),
            }
        }
        Reference::Conditional {
            resource_type,
            system,
            value,
        } => {
            if system.is_none() {
                return Err(broken(format!(
                    "reference \"{resource_type}?identifier={value}\" needs a system \
                     (identifier=system|value): an identifier without one can match any record"
                )));
            }
            let found = by_identifier(conn, index, resource_type, system.as_deref(), value).await?;
            match found.as_slice() {
                [one] => Ok(Some((resource_type.clone(), one.clone()))),
                [] => Err(broken(format!(
                    "reference \"{resource_type}?identifier={}{value}\" matches no resource",
                    system
                        .as_deref()
                        .map(|s| format!("{s}|"))
                        .unwrap_or_default()
                ))),
                _ => Err(broken(format!(
                    "reference \"{resource_type}?identifier={value}\" matches more than one resource"
                ))),
            }
        }
        Reference::Logical {
            resource_type: Some(resource_type),
            system,
            value,
        } => {
            let found = by_identifier(conn, index, resource_type, system.as_deref(), value).await?;
            Ok(match found.as_slice() {
                [one] => Some((resource_type.clone(), one.clone())),
                _ => None,
            })
        }
        Reference::Logical {
            resource_type: None,
            ..
        }
        | Reference::Contained(_)
        | Reference::External(_) => Ok(None),
        Reference::Unsupported { reference, reason } => Err(broken(format!(
            "reference {reference:?} is not supported: {reason}"
        ))),
    }
}

async fn by_identifier(
    conn: &mut Conn,
    index: &mut Index,
    resource_type: &str,
    system: Option<&str>,
    value: &str,
) -> Result<Vec<String>> {
    let mut found: Vec<String> = match system {
        Some(system) => match portal_fhir::r4_resource_type(resource_type) {
            Some(static_type) => index
                .by_identifier
                .get(&(static_type, system.into(), value.into()))
                .map(|slots| {
                    slots
                        .iter()
                        .filter_map(|slot| index.target(*slot).map(|(_, id)| id))
                        .collect()
                })
                .unwrap_or_default(),
            None => Vec::new(),
        },
        // Without a system an identifier names nothing for certain: it matches nothing.
        None => return Ok(Vec::new()),
    };
    if found.is_empty() {
        let key = (
            resource_type.to_string(),
            system.unwrap_or("").to_string(),
            value.to_string(),
        );
        found = match index.stored.get(&key) {
            Some(ids) => ids.clone(),
            None => {
                let ids: Vec<String> =
                    resources::find_by_identifier(conn, resource_type, &key.1, value)
                        .await?
                        .into_iter()
                        .map(|k| k.id)
                        .collect();
                index.stored.insert(key, ids.clone());
                ids
            }
        };
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn patient_row(key: &Key, id: &str, data: &portal_fhir::model::PatientData) -> Result<PatientRow> {
    let name = data
        .names
        .iter()
        .find(|n| n.use_.map(CodeSet::code) == Some("official"))
        .or_else(|| data.names.first());
    let given = name.map(|n| n.given.join(" ")).unwrap_or_default();
    let family = name.and_then(|n| n.family.clone()).unwrap_or_default();
    let mrn = data
        .mrn
        .clone()
        .or_else(|| key.source_id.as_ref().map(|id| format!("FHIR-{id}")))
        .unwrap_or_else(|| format!("FHIR-{id}"));
    Ok(PatientRow {
        id: crate::parse_patient_id(id)?,
        mrn,
        given_name: given,
        family_name: family,
        birth_date: data.birth_date.clone().unwrap_or_default(),
        sex: data
            .gender
            .map_or_else(|| "unknown".to_string(), |g| g.code().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8], cap: usize) -> Vec<std::io::Result<String>> {
        let mut reader = std::io::BufReader::with_capacity(4, text);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line_capped(&mut reader, &mut line, cap) {
                Ok(Some(())) => out.push(Ok(String::from_utf8_lossy(&line).into_owned())),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn lines_are_read_whole_across_buffers_and_refused_past_the_cap() {
        let read: Vec<String> = lines(b"first line\r\n\nlast", 64)
            .into_iter()
            .map(|l| l.expect("line"))
            .collect();
        assert_eq!(read, ["first line", "", "last"]);
        let capped = lines(b"short\nmuch too long a line\n", 10);
        assert_eq!(capped[0].as_ref().expect("first"), "short");
        let error = capped[1].as_ref().expect_err("refused").to_string();
        assert!(error.contains("longer than 10 bytes"), "{error}");
    }
}
