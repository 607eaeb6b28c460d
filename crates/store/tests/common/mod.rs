//! What every store contract test file shares: a fixed time, and running a test on each backend
//! against a fresh, migrated database.

use jiff::Timestamp;
use portal_store::testdb::TestDatabase;
use portal_store::{Backend, Store};

/// The fixed time the tests run at.
pub fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).expect("valid")
}

/// Runs `f` on a fresh SQLite database, then on a fresh PostgreSQL one when
/// `PORTAL_TEST_POSTGRES` is set.
pub async fn each_backend<F, Fut>(f: F)
where
    F: Fn(Store, Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDatabase::create(backend).await.expect("test database") else {
            continue;
        };
        let store = db.store().await.expect("migrated store");
        f(store.clone(), backend).await;
        store.close().await;
        db.cleanup().await.expect("cleanup");
    }
}
