//! API tokens of system clients, stored only as SHA-256 hashes.

use crate::{Conn, Result, conflict_as, parse_id, to_micros};
use jiff::Timestamp;
use portal_domain::ids::ClientId;
use sqlx::Row;

/// A token as stored (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    /// The client the token authenticates.
    pub id: ClientId,
    /// What the admin called it.
    pub name: String,
    /// Space-separated SMART scopes, e.g. `system/*.write`.
    pub scopes: String,
}

/// Stores a new token by its hash.
pub async fn insert(
    conn: &mut Conn,
    row: &TokenRow,
    token_hash: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, scopes, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(row.id.to_string())
    .bind(&row.name)
    .bind(&row.scopes)
    .bind(token_hash)
    .bind(to_micros(now))
    .execute(conn)
    .await
    .map_err(conflict_as("token"))?;
    Ok(())
}

/// The unrevoked token with this hash.
pub async fn find_active(conn: &mut Conn, token_hash: &str) -> Result<Option<TokenRow>> {
    let row = sqlx::query(
        "SELECT id, name, scopes FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(TokenRow {
            id: parse_id(&r.try_get::<String, _>("id")?)?,
            name: r.try_get("name")?,
            scopes: r.try_get("scopes")?,
        })
    })
    .transpose()
}

/// Revokes a token; false when there is no such active token.
pub async fn revoke(conn: &mut Conn, id: ClientId, now: Timestamp) -> Result<bool> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(to_micros(now))
            .bind(id.to_string())
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// A token as the administration lists it (never the token itself, nor its hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// Its client, name and scopes.
    pub row: TokenRow,
    /// When it was created.
    pub created_at: jiff::Timestamp,
    /// When it was revoked, if it was.
    pub revoked_at: Option<jiff::Timestamp>,
}

/// Every token, active ones first, newest first, at most `limit`.
pub async fn list(conn: &mut Conn, limit: i64) -> Result<Vec<TokenInfo>> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at, revoked_at FROM api_tokens \
         ORDER BY CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END, created_at DESC, id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(token_info).collect()
}

/// One token by its client id.
pub async fn find(conn: &mut Conn, id: ClientId) -> Result<Option<TokenInfo>> {
    let row = sqlx::query(
        "SELECT id, name, scopes, created_at, revoked_at FROM api_tokens WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(token_info).transpose()
}

fn token_info(r: &sqlx::any::AnyRow) -> Result<TokenInfo> {
    let revoked: Option<i64> = r.try_get("revoked_at")?;
    Ok(TokenInfo {
        row: TokenRow {
            id: parse_id(&r.try_get::<String, _>("id")?)?,
            name: r.try_get("name")?,
            scopes: r.try_get("scopes")?,
        },
        created_at: crate::from_micros(r.try_get("created_at")?)?,
        revoked_at: revoked.map(crate::from_micros).transpose()?,
    })
}
