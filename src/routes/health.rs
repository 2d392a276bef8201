//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};

use crate::cache::Cache;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

/// The process is up and serving.
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Whether the dependencies answer: 200 when the database does (Redis being
/// down only degrades the shop), 503 when it does not.
async fn readyz(State(db): State<DatabaseConnection>, State(cache): State<Cache>) -> (StatusCode, Json<Value>) {
    let database = match db.ping().await {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unreachable");
            "unreachable"
        }
    };
    let redis = if cache.is_in_process() {
        "none (cache in process)"
    } else if !cache.enabled() {
        "disabled"
    } else if cache.ping().await.is_ok() {
        "ok"
    } else {
        "unreachable"
    };
    let (status, code) = match (database, redis) {
        ("ok", "ok" | "disabled" | "none (cache in process)") => ("ok", StatusCode::OK),
        ("ok", _) => ("degraded", StatusCode::OK),
        _ => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
    };
    (code, Json(json!({ "status": status, "database": database, "redis": redis })))
}
