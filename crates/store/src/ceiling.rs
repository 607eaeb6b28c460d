//! The page benchmark's ceiling (`portal bench-ceiling`): one stored resource read by primary
//! key, with no policy and no audit. Only the benchmark uses it, never a page.

use crate::{Result, Store};
use sqlx::Row;

/// The id of the stored resource whose row holds nearest `bytes` of JSON as stored (packed),
/// if any is stored.
pub async fn row_near(store: &Store, bytes: i64) -> Result<Option<String>> {
    let row =
        sqlx::query("SELECT id FROM fhir_resources ORDER BY ABS(LENGTH(json) - $1), id LIMIT 1")
            .bind(bytes)
            .fetch_optional(store.pool())
            .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// The JSON of the stored resource `id`, read by primary key.
pub async fn read(store: &Store, id: &str) -> Result<String> {
    let row = sqlx::query("SELECT json FROM fhir_resources WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await?;
    crate::packed::column(&row, "json")
}
