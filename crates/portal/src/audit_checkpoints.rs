//! Audit checkpoints kept in a file outside the database: `portal audit checkpoint --append`,
//! the server's `--audit-checkpoint-file`, and `portal audit verify --checkpoints`.
//!
//! Each line is a fact (`TIME SEQ:HASH`: at that time the chain's head was there), so several
//! processes may append to one file and a repeated line does no harm.

use portal_app::App;
use portal_domain::checkpoint::{BadLine, KeptCheckpoint, parse_kept};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What can go wrong with a checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointFileError {
    /// The file could not be read, created or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A line is not `TIME SEQ:HASH`.
    #[error("{path} {bad}", path = path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// Which line, and what is wrong with it.
        bad: BadLine,
    },
    /// The file keeps no checkpoint at all, so it cannot vouch for anything.
    #[error("{path}: no checkpoint is kept there yet", path = path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The chain's head could not be read.
    #[error("{0}")]
    App(#[from] portal_app::Error),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointFileError + '_ {
    move |source| CheckpointFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Appends the chain's current head to `path` (created if missing, only ever appended to, and
/// on disk before this returns); returns the line's checkpoint.
pub async fn append(app: &App, path: &Path) -> Result<KeptCheckpoint, CheckpointFileError> {
    let kept = app.clinic().audit_checkpoint_to_keep().await?;
    let line = format!("{kept}\n");
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || append_line(&owned, &line))
        .await
        .map_err(|e| CheckpointFileError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e),
        })?
        .map_err(io_error(path))?;
    Ok(kept)
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true);
    let (mut file, created) = match options.clone().create_new(true).open(path) {
        Ok(file) => (file, true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => (options.open(path)?, false),
        Err(e) => return Err(e),
    };
    // One write of the whole line: appends from several processes do not interleave within it.
    file.write_all(line.as_bytes())?;
    file.sync_all()?;
    if created {
        sync_parent(path)?;
    }
    Ok(())
}

/// A new file's name is durable only once its folder is.
#[cfg(unix)]
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Every checkpoint `path` keeps, with its line number, in the file's order.
pub fn read(path: &Path) -> Result<Vec<(usize, KeptCheckpoint)>, CheckpointFileError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let kept = parse_kept(&text).map_err(|bad| CheckpointFileError::BadLine {
        path: path.to_path_buf(),
        bad,
    })?;
    if kept.is_empty() {
        return Err(CheckpointFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(kept)
}

/// Appends a checkpoint to `path` now and then every `every` until `shutdown` turns true;
/// a failure is logged and tried again at the next turn.
pub async fn keep(
    app: App,
    path: PathBuf,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(file = %path.display(), every_seconds = every.as_secs(), "keeping audit checkpoints");
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match append(&app, &path).await {
            Ok(kept) => tracing::debug!(seq = kept.checkpoint.seq, "audit checkpoint kept"),
            Err(e) => tracing::warn!(error = %e, "could not keep an audit checkpoint"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn lines_are_appended_to_what_the_file_already_keeps() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("checkpoints");
        append_line(&path, &format!("2026-12-03T07:00:00Z 3:{HASH}\n")).expect("create");
        append_line(&path, &format!("2026-12-03T08:00:00Z 9:{HASH}\n")).expect("append");
        let seqs: Vec<i64> = read(&path)
            .expect("read")
            .iter()
            .map(|(_, kept)| kept.checkpoint.seq)
            .collect();
        assert_eq!(seqs, [3, 9]);
    }

    #[test]
    fn a_bad_line_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("checkpoints");
        std::fs::write(
            &path,
            format!("2026-12-03T07:00:00Z 3:{HASH}\nnot a checkpoint\n"),
        )
        .expect("write");
        let err = read(&path).expect_err("bad line").to_string();
        assert!(err.contains("checkpoints line 2: "), "{err}");
        assert!(err.contains("TIME SEQ:HASH"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("checkpoints");
        assert!(matches!(read(&path), Err(CheckpointFileError::Io { .. })));
        std::fs::write(&path, "\n").expect("write");
        assert!(matches!(
            read(&path),
            Err(CheckpointFileError::Empty { .. })
        ));
    }
}
