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

/// Runs `portal import`: every file in turn, then refreshes the planner's statistics.
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
    let actor = Actor::operator();
    let started = std::time::Instant::now();
    let mut failed = 0;
    let mut total = ImportSummary::default();
    let mut analyze_at = FIRST_ANALYZE;
    // While one Bundle is written, the next is read and checked on another thread. NDJSON is
    // streamed a chunk at a time, so a file of any size fits in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
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
    let to_read = files.clone();
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
    while let Some((path, next)) = rx.recv().await {
        let path = &path;
        let result = match next {
            Next::Bundle(feed) => app
                .import()
                .import_feed(&actor, feed, false)
                .await
                .map_err(describe),
            Next::Unreadable(message) => Err(message),
            Next::Ndjson => match std::fs::File::open(path) {
                Ok(file) => app
                    .import()
                    .import_ndjson_stream(&actor, std::io::BufReader::new(file))
                    .await
                    .map_err(describe),
                Err(e) => Err(format!("cannot read the file: {e}")),
            },
        };
        match result {
            Ok(summary) => {
                print_summary(path, &summary);
                total.add(&summary);
                if !app.is_embedded() && total.total() >= analyze_at {
                    // PostgreSQL's statistics of the tables the import looks records up in,
                    // refreshed each time the tables have doubled: lookups planned for the
                    // empty tables of the start would read every row of a type to find a few
                    // (autovacuum, which would, may be off). Every table's statistics are
                    // refreshed at the end. SQLite plans them on the unique index either way.
                    analyze_at = total.total().saturating_mul(2);
                    if let Err(e) = app.import().analyze_lookups().await {
                        eprintln!("portal import: could not refresh database statistics: {e}");
                    }
                }
            }
            Err(message) => {
                failed += 1;
                println!("{}: REJECTED, nothing imported: {message}", path.display());
            }
        }
    }
    let _ = producer.await;
    let _ = done.send(true);
    let _ = checkpointer.await;
    if let Err(e) = app.import().analyze_after_import().await {
        eprintln!("portal import: could not refresh database statistics: {e}");
    }
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
