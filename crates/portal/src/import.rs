//! `portal import`: files and folders of FHIR R4 JSON in, a summary per file out.

use portal_app::import::ImportSummary;
use portal_app::{Actor, App};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The files to import under `paths`: files as given, folders' `.json` and `.ndjson` files in
/// name order.
pub fn files(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|e| e.to_str()),
                            Some("json" | "ndjson")
                        )
                })
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// Whether a file holds NDJSON: by its extension, or by its first 64 KiB.
pub fn is_ndjson(path: &Path) -> Result<bool, String> {
    if path.extension().and_then(|e| e.to_str()) == Some("ndjson") {
        return Ok(true);
    }
    use std::io::Read;
    let mut prefix = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut prefix))
        .map_err(|e| format!("cannot read the file: {e}"))?;
    Ok(portal_fhir::detect(&prefix) == portal_fhir::InputKind::Ndjson)
}

/// A file on its way in: a Bundle being read on the reading thread, or NDJSON to be streamed.
enum Next {
    Bundle(portal_app::import::Feed),
    Ndjson,
    Unreadable(String),
}

fn describe(e: portal_app::Error) -> String {
    match e {
        portal_app::Error::Rejected(message) => message,
        portal_app::Error::Forbidden => "the importer may not write these records".to_string(),
        other => other.to_string(),
    }
}

/// Prints one file's summary.
pub fn print_summary(path: &Path, summary: &ImportSummary) {
    println!("{}: {} resources", path.display(), summary.total());
    println!(
        "  {:<26} {:>7} {:>8} {:>8} {:>10} {:>11}",
        "type", "read", "created", "updated", "unchanged", "not mapped"
    );
    for (resource_type, c) in &summary.per_type {
        println!(
            "  {:<26} {:>7} {:>8} {:>8} {:>10} {:>11}",
            resource_type, c.read, c.created, c.updated, c.unchanged, c.kept_unmapped
        );
    }
}

/// How often the import copies SQLite's write-ahead log into the database file. A copy ends
/// with a wait on the disk that holds up the writer for a few tenths of a second (measured:
/// once a second cost a third of the import's speed), so the copies are few and large. A copy
/// beside the writer never catches up with it, so once the log passes
/// `portal_store::WAL_LIMIT_BYTES` a copy waits for the writer and empties it: the log stays
/// under about that size however much is imported.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Resources imported before the planner's statistics are first refreshed.
const FIRST_ANALYZE: u64 = 2_000;

/// Files imported side by side on PostgreSQL. One file keeps one server process busy for
/// about two thirds of the time (the rest it waits for the portal); on the two cores it was
/// measured on, 1,000 generated patients imported at 12,000-13,000 resources/s two at a time,
/// 15,600-16,200 three at a time and 17,200 four at a time.
const LANES: usize = 4;

/// The files written at once with a pool of `max_connections`: each holds one connection for
/// its transaction, and one is left for refreshing statistics, so no lane waits for a
/// connection (whose wait times out) while another writes a long file.
fn lane_count(max_connections: u32) -> usize {
    let spare = usize::try_from(max_connections.saturating_sub(1)).unwrap_or(LANES);
    LANES.min(spare).max(1)
}

/// What the files imported so far came to.
struct Tally {
    total: ImportSummary,
    failed: usize,
    analyze_at: u64,
}

impl Tally {
    /// Prints one file's outcome and adds it up.
    async fn add(&mut self, app: &App, path: &Path, result: Result<ImportSummary, String>) {
        match result {
            Ok(summary) => {
                print_summary(path, &summary);
                self.total.add(&summary);
                if !app.is_embedded() && self.total.total() >= self.analyze_at {
                    // PostgreSQL's statistics of the tables the import looks records up in,
                    // refreshed each time the tables have doubled: lookups planned for the
                    // empty tables of the start would read every row of a type to find a few
                    // (autovacuum, which would, may be off). Every table's statistics are
                    // refreshed at the end. SQLite plans them on the unique index either way.
                    self.analyze_at = self.total.total().saturating_mul(2);
                    if let Err(e) = app.import().analyze_lookups().await {
                        eprintln!("portal import: could not refresh database statistics: {e}");
                    }
                }
            }
            Err(message) => {
                self.failed += 1;
                println!("{}: REJECTED, nothing imported: {message}", path.display());
            }
        }
    }
}

/// Runs `portal import`: every file in turn (on PostgreSQL, two at a time), then refreshes the
/// planner's statistics.
pub async fn run(app: &App, paths: &[PathBuf]) -> ExitCode {
    let files = match files(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("portal import: {e}");
            return ExitCode::from(2);
        }
    };
    if files.is_empty() {
        eprintln!("portal import: no .json or .ndjson files found");
        return ExitCode::from(2);
    }
    let started = std::time::Instant::now();
    let mut tally = Tally {
        total: ImportSummary::default(),
        failed: 0,
        analyze_at: FIRST_ANALYZE,
    };
    // The store opened for an import leaves checkpoints to its holder: this task copies the
    // write-ahead log into the database file beside the writer, so no commit waits on the disk.
    let (done, mut finished) = tokio::sync::watch::channel(false);
    let checkpoint_app = app.clone();
    let checkpointer = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
                _ = finished.changed() => return,
            }
            if let Err(e) = checkpoint_app.checkpoint(false).await {
                eprintln!("portal import: checkpoint failed: {e}");
            }
        }
    });
    if app.is_embedded() || files.len() == 1 {
        one_at_a_time(app, &files, &mut tally).await;
    } else {
        side_by_side(app, &files, &mut tally).await;
    }
    let _ = done.send(true);
    let _ = checkpointer.await;
    if let Err(e) = app.import().analyze_after_import().await {
        eprintln!("portal import: could not refresh database statistics: {e}");
    }
    let (total, failed) = (tally.total, tally.failed);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} file(s), {} resources read; {} file(s) rejected.",
        files.len(),
        total.total(),
        failed
    );
    println!(
        "{:.2} s, {:.0} resources/s{}",
        seconds,
        total.total() as f64 / seconds.max(1e-9),
        peak_memory_mb()
            .map(|mb| format!(", peak memory {mb} MB"))
            .unwrap_or_default()
    );
    // Everything is committed; what is left is copying the log into the database file, which
    // the next start would otherwise do.
    if app.is_embedded() {
        let syncing = std::time::Instant::now();
        match app.checkpoint(true).await {
            Ok(()) => println!(
                "Log copied into the database file in {:.2} s.",
                syncing.elapsed().as_secs_f64()
            ),
            Err(e) => {
                eprintln!("portal import: could not copy the log into the database file: {e}")
            }
        }
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The process's peak resident memory in MB (Linux), for the import's closing line.
pub fn peak_memory_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Imports the files one after the other (SQLite, which writes one transaction at a time):
/// while one Bundle is written, the next is read and checked on another thread. NDJSON is
/// streamed a chunk at a time, so a file of any size fits in memory. Files are written in
/// groups, one transaction a group (see [`Group`]).
async fn one_at_a_time(app: &App, files: &[PathBuf], tally: &mut Tally) {
    let actor = Actor::operator();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let to_read = files.to_vec();
    let limits = app.config().import_limits;
    // One thread reads every Bundle in turn and sends it in parts: while a part is written the
    // next is read, and once a file is read the next one starts.
    let producer = tokio::task::spawn_blocking(move || {
        for path in to_read {
            let kind = is_ndjson(&path);
            let bytes = match kind {
                Ok(false) => match std::fs::read(&path) {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        let next = Next::Unreadable(format!("cannot read the file: {e}"));
                        if tx.blocking_send((path, next)).is_err() {
                            return;
                        }
                        continue;
                    }
                },
                _ => None,
            };
            let (next, reading) = match (kind, bytes) {
                (Ok(false), Some(bytes)) => {
                    let (sender, feed) = portal_app::import::feed();
                    (Next::Bundle(feed), Some((sender, bytes)))
                }
                (Ok(_), _) => (Next::Ndjson, None),
                (Err(message), _) => (Next::Unreadable(message), None),
            };
            if tx.blocking_send((path, next)).is_err() {
                return;
            }
            if let Some((sender, bytes)) = reading {
                portal_app::import::read_bundle(&bytes, &limits, &sender);
            }
        }
    });
    let mut group = Group::default();
    while let Some((path, next)) = rx.recv().await {
        group.write(app, &actor, path, next).await;
        if group.is_full() {
            group.commit(app, tally).await;
        }
    }
    group.commit(app, tally).await;
    let _ = producer.await;
}

/// Resources a group of files holds before it is committed. Each transaction writes again
/// every index page it touches; one per file of a few hundred resources wrote the database
/// about five times over into SQLite's log (1,000 generated patients: 1.9 GB for a database of
/// 340 MB), and the import spent a third of its writing time there.
const GROUP_RESOURCES: u64 = 5_000;

/// The longest a group holds the database's write lock before it is committed: a portal
/// serving from the same database waits for it to write its own audit events.
const GROUP_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// Files written in one transaction, each whole or not at all, committed together; their
/// summaries are printed once they are stored.
#[derive(Default)]
struct Group {
    open: Option<(portal_app::import::ImportGroup, std::time::Instant)>,
    /// The files written into the group, or refused, in order.
    files: Vec<(PathBuf, Result<ImportSummary, String>)>,
}

impl Group {
    async fn write(&mut self, app: &App, actor: &Actor, path: PathBuf, next: Next) {
        let result = match next {
            Next::Unreadable(message) => Err(message),
            next => match self.open(app, actor).await {
                Ok(group) => write_grouped(app, actor, group, &path, next).await,
                Err(message) => Err(message),
            },
        };
        self.files.push((path, result));
    }

    async fn open(
        &mut self,
        app: &App,
        actor: &Actor,
    ) -> Result<&mut portal_app::import::ImportGroup, String> {
        if self.open.is_none() {
            let group = app.import().begin_group(actor).await.map_err(describe)?;
            self.open = Some((group, std::time::Instant::now()));
        }
        match &mut self.open {
            Some((group, _)) => Ok(group),
            None => Err("the import could not begin".to_string()),
        }
    }

    fn is_full(&self) -> bool {
        self.open.as_ref().is_some_and(|(group, started)| {
            group.resources() >= GROUP_RESOURCES || started.elapsed() >= GROUP_TIME
        })
    }

    /// Commits the group and prints its files' outcomes: a file written into a group that
    /// could not be committed is not stored, and says so.
    async fn commit(&mut self, app: &App, tally: &mut Tally) {
        let committed = match self.open.take() {
            Some((group, _)) => app.import().commit_group(group).await.map_err(describe),
            None => Ok(()),
        };
        for (path, result) in std::mem::take(&mut self.files) {
            let result = match (&committed, result) {
                (Err(why), Ok(_)) => Err(format!("could not be stored: {why}")),
                (_, result) => result,
            };
            tally.add(app, &path, result).await;
        }
    }
}

/// Writes one file into a group.
async fn write_grouped(
    app: &App,
    actor: &Actor,
    group: &mut portal_app::import::ImportGroup,
    path: &Path,
    next: Next,
) -> Result<ImportSummary, String> {
    let feed = match next {
        Next::Bundle(feed) => feed,
        Next::Unreadable(message) => return Err(message),
        Next::Ndjson => match std::fs::File::open(path) {
            Ok(file) => portal_app::import::ndjson_feed(
                std::io::BufReader::new(file),
                app.config().import_limits,
            ),
            Err(e) => return Err(format!("cannot read the file: {e}")),
        },
    };
    app.import()
        .import_feed_in_group(group, actor, feed, false)
        .await
        .map_err(describe)
}

/// Imports the files [`LANES`] at a time on PostgreSQL (fewer with few connections, see
/// [`lane_count`]): each lane reads a file on a thread of its own and writes it in its own
/// transaction. The files claim their records in name order (see
/// [`portal_app::import::Turns`]), so a file that points at what an earlier one stores finds
/// it; summaries are printed in name order.
async fn side_by_side(app: &App, files: &[PathBuf], tally: &mut Tally) {
    let files: std::sync::Arc<[PathBuf]> = files.into();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let turns = portal_app::import::Turns::new();
    let (results, mut finished) = tokio::sync::mpsc::unbounded_channel();
    let mut lanes = tokio::task::JoinSet::new();
    for _ in 0..lane_count(app.max_connections()).min(files.len()) {
        let (app, files, next, turns, results) = (
            app.clone(),
            files.clone(),
            next.clone(),
            turns.clone(),
            results.clone(),
        );
        lanes.spawn(async move {
            let actor = Actor::operator();
            let limits = app.config().import_limits;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(path) = files.get(n) else {
                    return;
                };
                let ticket = turns.ticket(n);
                let file = path.clone();
                let kind = tokio::task::spawn_blocking(move || is_ndjson(&file))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading stopped: {e}")));
                let next = match kind {
                    Ok(true) => Next::Ndjson,
                    Ok(false) => {
                        let (sender, feed) = portal_app::import::feed();
                        let file = path.clone();
                        // The reading thread sends the Bundle's parts, or why it could not.
                        tokio::task::spawn_blocking(move || match std::fs::read(&file) {
                            Ok(bytes) => portal_app::import::read_bundle(&bytes, &limits, &sender),
                            Err(e) => sender.fail(portal_app::Error::Rejected(format!(
                                "cannot read the file: {e}"
                            ))),
                        });
                        Next::Bundle(feed)
                    }
                    Err(message) => Next::Unreadable(message),
                };
                let result = write_file(&app, &actor, path, next, Some(ticket)).await;
                if results.send((n, result)).is_err() {
                    return;
                }
            }
        });
    }
    drop(results);
    // Printed in name order as they end.
    let mut ended = std::collections::BTreeMap::new();
    let mut printed = 0;
    while let Some((n, result)) = finished.recv().await {
        ended.insert(n, result);
        while let Some(result) = ended.remove(&printed) {
            tally.add(app, &files[printed], result).await;
            printed += 1;
        }
    }
    while lanes.join_next().await.is_some() {}
}

/// Writes one file that is on its way in; the message says why it was refused.
async fn write_file(
    app: &App,
    actor: &Actor,
    path: &Path,
    next: Next,
    ticket: Option<portal_app::import::Ticket>,
) -> Result<ImportSummary, String> {
    match next {
        Next::Bundle(feed) => app
            .import()
            .import_feed_in_turn(actor, feed, false, ticket)
            .await
            .map_err(describe),
        Next::Unreadable(message) => Err(message),
        Next::Ndjson => match std::fs::File::open(path) {
            Ok(file) => app
                .import()
                .import_ndjson_stream_in_turn(actor, std::io::BufReader::new(file), ticket)
                .await
                .map_err(describe),
            Err(e) => Err(format!("cannot read the file: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_leave_a_connection_spare_and_never_fall_to_none() {
        assert_eq!(lane_count(10), LANES);
        assert_eq!(lane_count(3), 2);
        assert_eq!(lane_count(2), 1);
        assert_eq!(lane_count(1), 1);
        assert_eq!(lane_count(0), 1);
    }
}
