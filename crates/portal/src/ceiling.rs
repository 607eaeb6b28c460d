//! The benchmark's ceiling: a bare axum handler that reads one row of about 2 KB by primary key
//! through the same pool settings on the same database, with nothing else (no session, policy,
//! audit or template). Pages are measured as a share of what it serves in the same run.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use portal_store::Store;

/// The row the ceiling reads: the stored resource whose JSON is nearest 2 KB.
pub async fn pick_row(store: &Store) -> Result<String, String> {
    portal_store::ceiling::row_near(store, 2048)
        .await
        .map_err(|e| format!("cannot read the database: {e}"))?
        .ok_or_else(|| "the database holds no resource to read: import some records first".into())
}

#[derive(Clone)]
struct Ceiling {
    store: Store,
    id: String,
}

/// The ceiling's router: `GET /` answers the row's JSON.
pub fn router(store: Store, id: String) -> Router {
    Router::new()
        .route("/", get(read_row))
        .with_state(Ceiling { store, id })
}

async fn read_row(State(c): State<Ceiling>) -> Result<String, StatusCode> {
    portal_store::ceiling::read(&c.store, &c.id)
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}
