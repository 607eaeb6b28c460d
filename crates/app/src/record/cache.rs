//! What record pages show, kept in memory between views.
//!
//! A page's data (the header, the health summary, the results list, one result with its
//! history, the count of new results) depends only on the record's data, on what the viewer's
//! access shows of it (`Visibility`), on the viewer (read markers) and on the time (results
//! released later). Each entry is keyed by the record's version and the epoch of changes that
//! reach every record, which the policy's own query reads on every view
//! ([`portal_store::access::record_facts`]) and which every change of what a page shows raises in
//! its transaction, on this process or another sharing the database. So a view that finds an
//! entry shows what reading the database would show, less results released by time since the
//! entry was made: an entry is used for [`FRESH_FOR`] at most, and never when the clock reads
//! earlier than when it was made (nothing is shown before its release time).
//!
//! The policy still decides every view and every view is still audited; the cache only saves
//! reading and decoding the same rows again. Its size is bounded by an estimate of the bytes its
//! entries hold; the oldest entries go first.

use portal_domain::access::Visibility;
use portal_domain::{PatientId, ResourceId, UserId};
use portal_store::access::RecordVersion;
use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How long an entry may be shown for: results whose release time passes show up within it.
pub(crate) const FRESH_FOR: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// The default bound on what the cache holds, in estimated bytes.
pub const DEFAULT_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// Which page's data an entry holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum View {
    /// The record's header (demographics).
    Head,
    /// The health summary.
    Summary,
    /// Medications, current and past.
    Medications,
    /// The results list with this filter (name, LOINC codes, from, until).
    Results(String, Vec<&'static str>, Option<i64>, Option<i64>),
    /// One result or report.
    Result(ResourceId),
    /// How many results the viewer has not opened.
    NewResults,
    /// How many of the clinic's messages the patient's side has not opened.
    NewMessages,
    /// The newest events of the access log that match a filter, at most so many (kept with no
    /// version: each view reads what was added since, see `Records::access_log`).
    AccessLog(portal_domain::audit::PatientLogFilter, i64),
    /// An answer of the FHIR read API about this record (a read, a search, `$everything`), by
    /// its request.
    Fhir(String),
}

/// An entry's key: the record at a version, seen with a visibility by a viewer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub patient: PatientId,
    pub version: Option<RecordVersion>,
    pub visibility: Visibility,
    pub viewer: Option<UserId>,
    pub view: View,
}

struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    made_at: jiff::Timestamp,
    weight: usize,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they were put (a key may appear again after it was replaced; the
    /// stale position is skipped when its turn to go comes).
    order: VecDeque<(Key, jiff::Timestamp)>,
    bytes: usize,
}

/// The page cache of one process.
pub(crate) struct PageCache {
    inner: Mutex<Inner>,
    budget: usize,
}

impl PageCache {
    /// A cache holding at most about `budget` bytes (0: holds nothing).
    pub(crate) fn new(budget: usize) -> Self {
        PageCache {
            inner: Mutex::new(Inner::default()),
            budget,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (each change is one step).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value kept under `key`, if it is fresh at `now` and of type `T`.
    pub(crate) fn get<T: Send + Sync + 'static>(
        &self,
        key: &Key,
        now: jiff::Timestamp,
    ) -> Option<Arc<T>> {
        let inner = self.lock();
        let entry = inner.entries.get(key)?;
        if now < entry.made_at || now >= entry.made_at + FRESH_FOR {
            return None;
        }
        entry.value.clone().downcast::<T>().ok()
    }

    /// Keeps `value` under `key`, made (read from the database) at `made_at`, weighing about
    /// `weight` bytes; older entries go to keep within the budget.
    pub(crate) fn put<T: Send + Sync + 'static>(
        &self,
        key: Key,
        value: Arc<T>,
        made_at: jiff::Timestamp,
        weight: usize,
    ) {
        let weight = weight.saturating_add(std::mem::size_of::<Key>() * 2 + 64);
        if weight > self.budget / 4 {
            return;
        }
        let mut inner = self.lock();
        let mut placed = false;
        if let Some(old) = inner.entries.insert(
            key.clone(),
            Entry {
                value,
                made_at,
                weight,
            },
        ) {
            inner.bytes -= old.weight;
            // The same entry brought up to date keeps its place.
            placed = old.made_at == made_at;
        }
        inner.bytes += weight;
        if !placed {
            inner.order.push_back((key, made_at));
        }
        while inner.bytes > self.budget {
            let Some((oldest, made)) = inner.order.pop_front() else {
                break;
            };
            // Only the position of the entry as it is now removes it.
            if inner
                .entries
                .get(&oldest)
                .is_some_and(|e| e.made_at == made)
                && let Some(gone) = inner.entries.remove(&oldest)
            {
                inner.bytes -= gone.weight;
            }
        }
        // Positions of replaced entries would otherwise pile up under a steady load.
        if inner.order.len() > inner.entries.len() * 2 + 64 {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|(k, made)| entries.get(k).is_some_and(|e| e.made_at == *made));
        }
    }

    /// Estimated bytes held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u128, record: i64) -> Key {
        Key {
            patient: PatientId::from_uuid(uuid::Uuid::from_u128(n)),
            version: Some(RecordVersion { record, epoch: 0 }),
            visibility: Visibility {
                unreleased: false,
                hidden: portal_domain::record::Categories::ALL,
            },
            viewer: None,
            view: View::Summary,
        }
    }

    fn at(seconds: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + seconds).expect("a time")
    }

    #[test]
    fn an_entry_is_found_under_its_key_while_fresh() {
        let cache = PageCache::new(1 << 20);
        cache.put(key(1, 3), Arc::new(String::from("page")), at(0), 100);
        assert_eq!(
            cache.get::<String>(&key(1, 3), at(59)).as_deref(),
            Some(&"page".to_string())
        );
        // Another version, another patient, another type: not found.
        assert!(cache.get::<String>(&key(1, 4), at(1)).is_none());
        assert!(cache.get::<String>(&key(2, 3), at(1)).is_none());
        assert!(cache.get::<u32>(&key(1, 3), at(1)).is_none());
        // Stale after a minute, and never used by a clock that reads earlier than it was made.
        assert!(cache.get::<String>(&key(1, 3), at(60)).is_none());
        assert!(cache.get::<String>(&key(1, 3), at(-1)).is_none());
    }

    #[test]
    fn the_oldest_entries_go_to_keep_the_budget() {
        let cache = PageCache::new(10_000);
        for n in 0..100 {
            cache.put(key(n, 0), Arc::new(n), at(0), 1_000);
        }
        assert!(cache.bytes() <= 10_000, "held {}", cache.bytes());
        assert!(cache.get::<u128>(&key(99, 0), at(1)).is_some());
        assert!(cache.get::<u128>(&key(0, 0), at(1)).is_none());
        // A value too big for the cache is not kept.
        cache.put(key(500, 0), Arc::new(0_u8), at(0), 5_000);
        assert!(cache.get::<u8>(&key(500, 0), at(1)).is_none());
    }

    #[test]
    fn an_entry_brought_up_to_date_keeps_its_place() {
        let cache = PageCache::new(1 << 20);
        for n in 0..1_000 {
            cache.put(key(1, 0), Arc::new(n), at(0), 100);
        }
        assert_eq!(cache.lock().order.len(), 1);
        assert_eq!(cache.get::<i32>(&key(1, 0), at(1)).as_deref(), Some(&999));
    }

    #[test]
    fn replacing_an_entry_keeps_the_count_of_bytes_right() {
        let cache = PageCache::new(1 << 20);
        for second in 0..1_000 {
            cache.put(key(1, 0), Arc::new(second), at(second), 100);
        }
        let one = cache.bytes();
        assert!(one < 1_000, "one entry counted as {one} bytes");
        assert_eq!(cache.get::<i64>(&key(1, 0), at(999)).as_deref(), Some(&999));
        assert!(cache.lock().order.len() <= 66);
    }
}
