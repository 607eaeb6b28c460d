//! The few statements whose SQL differs between SQLite and PostgreSQL.

use crate::Backend;

/// Takes the lock that serialises migrations across portal processes (PostgreSQL only; SQLite
/// serialises writers by itself).
pub fn migration_lock(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some("SELECT pg_advisory_xact_lock(7202611260001)"),
    }
}

/// Takes the imports' lock until the transaction ends, across portal processes: `alone`, no
/// other import writes meanwhile; otherwise shared with the other imports that hold it so, each
/// of which claims the records it touches (PostgreSQL only; SQLite's `BEGIN IMMEDIATE` already
/// holds the write lock).
pub fn import_lock(backend: Backend, alone: bool) -> Option<&'static str> {
    match (backend, alone) {
        (Backend::Sqlite, _) => None,
        (Backend::Postgres, true) => Some("SELECT pg_advisory_xact_lock(7202611260002)"),
        (Backend::Postgres, false) => Some("SELECT pg_advisory_xact_lock_shared(7202611260002)"),
    }
}

/// Claims the next due outbox message for one worker: `$1` = now, `$2` = lock-until.
/// On PostgreSQL `SKIP LOCKED` lets several processes drain the queue without taking the same
/// message twice; SQLite has one writer at a time, so a plain sub-select is enough.
pub fn claim_outbox(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "UPDATE outbox SET locked_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                         AND (locked_until IS NULL OR locked_until <= $1) \
                         ORDER BY next_attempt_at, id LIMIT 1) \
             RETURNING id, kind, recipient, subject, body, attempts, attachment_name, attachment"
        }
        Backend::Postgres => {
            "UPDATE outbox SET locked_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
                         AND (locked_until IS NULL OR locked_until <= $1) \
                         ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, recipient, subject, body, attempts, attachment_name, attachment"
        }
    }
}

/// Reads the audit chain's head and, on PostgreSQL, locks its row until the transaction ends.
/// SQLite transactions already hold the database's write lock (`BEGIN IMMEDIATE`).
pub fn lock_audit_head(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT seq, hash FROM audit_head WHERE id = 1",
        Backend::Postgres => "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
    }
}

/// Reads a visit's status and, on PostgreSQL, locks its row until the transaction ends, so a
/// reminder is never queued for a visit cancelled meanwhile (SQLite's `BEGIN IMMEDIATE` already
/// holds the write lock).
pub fn lock_appointment(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT status FROM appointments WHERE id = $1",
        Backend::Postgres => "SELECT status FROM appointments WHERE id = $1 FOR UPDATE",
    }
}

/// Locks a patient's row until the transaction ends (PostgreSQL; SQLite's `BEGIN IMMEDIATE`
/// already holds the write lock), so two requests about one record take turns.
pub fn lock_patient(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT id FROM patients WHERE id = $1",
        Backend::Postgres => "SELECT id FROM patients WHERE id = $1 FOR UPDATE",
    }
}
