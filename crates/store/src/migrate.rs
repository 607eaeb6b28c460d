//! Versioned migrations, one folder per backend with the same version numbers, applied at
//! start-up and never edited once landed (a changed one is refused by its checksum).

use crate::{Backend, Error, Result, Store, dialect};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

/// One migration, in both dialects.
pub struct Migration {
    /// The version; both folders' files start with it.
    pub version: i64,
    /// What it does.
    pub name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

impl Migration {
    fn sql(&self, backend: Backend) -> &'static str {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

/// Every migration this build knows, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "records",
        sqlite: include_str!("../migrations/sqlite/0002_records.sql"),
        postgres: include_str!("../migrations/postgres/0002_records.sql"),
    },
    Migration {
        version: 3,
        name: "record_views",
        sqlite: include_str!("../migrations/sqlite/0003_record_views.sql"),
        postgres: include_str!("../migrations/postgres/0003_record_views.sql"),
    },
    Migration {
        version: 4,
        name: "attacked",
        sqlite: include_str!("../migrations/sqlite/0004_attacked.sql"),
        postgres: include_str!("../migrations/postgres/0004_attacked.sql"),
    },
    Migration {
        version: 5,
        name: "sensitivity",
        sqlite: include_str!("../migrations/sqlite/0005_sensitivity.sql"),
        postgres: include_str!("../migrations/postgres/0005_sensitivity.sql"),
    },
    Migration {
        version: 6,
        name: "readable",
        sqlite: include_str!("../migrations/sqlite/0006_readable.sql"),
        postgres: include_str!("../migrations/postgres/0006_readable.sql"),
    },
    Migration {
        version: 7,
        name: "speed",
        sqlite: include_str!("../migrations/sqlite/0007_speed.sql"),
        postgres: include_str!("../migrations/postgres/0007_speed.sql"),
    },
    Migration {
        version: 8,
        name: "versions",
        sqlite: include_str!("../migrations/sqlite/0008_versions.sql"),
        postgres: include_str!("../migrations/postgres/0008_versions.sql"),
    },
    Migration {
        version: 9,
        name: "messages",
        sqlite: include_str!("../migrations/sqlite/0009_messages.sql"),
        postgres: include_str!("../migrations/postgres/0009_messages.sql"),
    },
    Migration {
        version: 10,
        name: "appointments",
        sqlite: include_str!("../migrations/sqlite/0010_appointments.sql"),
        postgres: include_str!("../migrations/postgres/0010_appointments.sql"),
    },
    Migration {
        version: 11,
        name: "offers_reminders",
        sqlite: include_str!("../migrations/sqlite/0011_offers_reminders.sql"),
        postgres: include_str!("../migrations/postgres/0011_offers_reminders.sql"),
    },
    Migration {
        version: 12,
        name: "checkin",
        sqlite: include_str!("../migrations/sqlite/0012_checkin.sql"),
        postgres: include_str!("../migrations/postgres/0012_checkin.sql"),
    },
    Migration {
        version: 13,
        name: "refills",
        sqlite: include_str!("../migrations/sqlite/0013_refills.sql"),
        postgres: include_str!("../migrations/postgres/0013_refills.sql"),
    },
    Migration {
        version: 14,
        name: "fhir_read",
        sqlite: include_str!("../migrations/sqlite/0014_fhir_read.sql"),
        postgres: include_str!("../migrations/postgres/0014_fhir_read.sql"),
    },
    Migration {
        version: 15,
        name: "smart",
        sqlite: include_str!("../migrations/sqlite/0015_smart.sql"),
        postgres: include_str!("../migrations/postgres/0015_smart.sql"),
    },
    Migration {
        version: 16,
        name: "proxies",
        sqlite: include_str!("../migrations/sqlite/0016_proxies.sql"),
        postgres: include_str!("../migrations/postgres/0016_proxies.sql"),
    },
    Migration {
        version: 17,
        name: "clinic",
        sqlite: include_str!("../migrations/sqlite/0017_clinic.sql"),
        postgres: include_str!("../migrations/postgres/0017_clinic.sql"),
    },
    Migration {
        version: 18,
        name: "inbasket_queue",
        sqlite: include_str!("../migrations/sqlite/0018_inbasket_queue.sql"),
        postgres: include_str!("../migrations/postgres/0018_inbasket_queue.sql"),
    },
];

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

impl Store {
    /// Applies the migrations that have not run yet, each in its own transaction. Safe to call
    /// from several processes at once.
    pub async fn migrate(&self, now: jiff::Timestamp) -> Result<Vec<i64>> {
        let backend = self.backend();
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS portal_migrations (version BIGINT PRIMARY KEY, \
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(self.pool())
        .await?;
        let mut applied = Vec::new();
        for migration in MIGRATIONS {
            let mut tx = self.begin().await?;
            if let Some(lock) = dialect::migration_lock(backend) {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let sql = migration.sql(backend);
            let row = sqlx::query("SELECT checksum FROM portal_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some(row) => {
                    let stored: String = row.try_get("checksum")?;
                    if stored != checksum(sql) {
                        return Err(Error::MigrationChanged(migration.version));
                    }
                }
                None => {
                    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *tx).await?;
                    // What SQL cannot write, written in the same transaction.
                    if migration.version == 17 {
                        crate::patients::fill_search_names(&mut tx).await?;
                    }
                    sqlx::query(
                        "INSERT INTO portal_migrations (version, name, checksum, applied_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(migration.version)
                    .bind(migration.name)
                    .bind(checksum(sql))
                    .bind(crate::to_micros(now))
                    .execute(&mut *tx)
                    .await?;
                    applied.push(migration.version);
                }
            }
            tx.commit().await?;
        }
        let newest: Option<i64> = sqlx::query("SELECT MAX(version) AS v FROM portal_migrations")
            .fetch_one(self.pool())
            .await?
            .try_get("v")?;
        let known = MIGRATIONS.last().map_or(0, |m| m.version);
        if let Some(v) = newest.filter(|v| *v > known) {
            return Err(Error::MigrationTooNew(v));
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn versions(dir: &str) -> BTreeSet<String> {
        let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_dir(path)
            .expect("migrations folder exists")
            .map(|e| {
                e.expect("readable entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_files() {
        let sqlite = versions("sqlite");
        assert_eq!(sqlite, versions("postgres"));
        assert_eq!(sqlite.len(), MIGRATIONS.len());
        for (file, migration) in sqlite.iter().zip(MIGRATIONS) {
            assert!(
                file.starts_with(&format!("{:04}_{}", migration.version, migration.name)),
                "{file} does not match migration {}",
                migration.version
            );
        }
    }

    #[test]
    fn versions_increase() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version);
        }
    }
}
