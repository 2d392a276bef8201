//! The load benchmark's reference route (`STOREFRONT_BENCH_ROUTES=true`).
//!
//! `/__bench/ceiling?bytes=N` answers a constant HTML body of N bytes through
//! the same middleware stack as every page, touching neither Redis nor the
//! database: the most this server can answer on its machine, against which
//! the benchmark sets the cached pages.

use axum::Router;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;

use crate::state::AppState;

/// The largest body the route sends.
const MAX_BYTES: usize = 256 * 1024;
/// Without `bytes`, about the size of a product listing page.
const DEFAULT_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/__bench/ceiling", get(ceiling))
}

async fn ceiling(RawQuery(query): RawQuery) -> impl IntoResponse {
    static BODY: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    let body = BODY.get_or_init(|| "<p>storefront</p>\n".bytes().cycle().take(MAX_BYTES).collect::<Vec<u8>>().into());
    let len = query
        .as_deref()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "bytes"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_BYTES)
        .min(MAX_BYTES);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body.slice(..len))
}
