//! Throw-away databases for tests: a temporary SQLite file, or a fresh PostgreSQL database on the
//! server named by `PORTAL_TEST_POSTGRES`, dropped again by [`TestDatabase::cleanup`].

use crate::{Backend, Result, Store};
use sqlx::{AssertSqlSafe, Connection};

/// The environment variable naming the PostgreSQL server tests use
/// (e.g. `postgres://postgres@127.0.0.1:5432/test`). When it is set, PostgreSQL tests must run.
pub const POSTGRES_ENV: &str = "PORTAL_TEST_POSTGRES";

/// A database that exists only for one test.
pub struct TestDatabase {
    /// The URL to connect to.
    pub url: String,
    backend: Backend,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server for tests, if configured.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())
}

impl TestDatabase {
    /// Creates an empty database. For PostgreSQL, `None` when `PORTAL_TEST_POSTGRES` is unset;
    /// when it is set and the server is unreachable, this fails (the test must not pass).
    pub async fn create(backend: Backend) -> Result<Option<Self>> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().map_err(|e| crate::Error::Corrupt(e.to_string()))?;
                let url = format!("sqlite://{}/portal.db", dir.path().display());
                Ok(Some(Self {
                    url,
                    backend,
                    admin_url: None,
                    name: String::new(),
                    _dir: Some(dir),
                }))
            }
            Backend::Postgres => {
                let Some(admin_url) = postgres_url() else {
                    return Ok(None);
                };
                let name = format!("portal_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await?;
                admin.close().await?;
                let base = admin_url
                    .rsplit_once('/')
                    .map_or(admin_url.as_str(), |(b, _)| b);
                let url = format!("{base}/{name}");
                Ok(Some(Self {
                    url,
                    backend,
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                }))
            }
        }
    }

    /// Connects, migrates and returns a store on this database.
    pub async fn store(&self) -> Result<Store> {
        let store = Store::connect(&self.url, 5).await?;
        store.migrate(jiff::Timestamp::UNIX_EPOCH).await?;
        Ok(store)
    }

    /// Which backend it is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Drops the PostgreSQL database (SQLite files go with their temporary folder).
    pub async fn cleanup(self) -> Result<()> {
        if let Some(admin_url) = &self.admin_url {
            let mut admin = sqlx::PgConnection::connect(admin_url).await?;
            sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut admin)
            .await?;
            admin.close().await?;
        }
        Ok(())
    }
}
