//! Prometheus metrics: one process-wide recorder, rendered at `/metrics` on
//! the metrics listener (METRICS_ADDR) only. The public router does not
//! serve it: per-route status counts (login outcomes among them) are for
//! the operator, and a public URL could be cached by the edge.
//!
//! | metric | labels |
//! | --- | --- |
//! | `storefront_cache_requests_total` | `kind`, `result` (hit, miss, bypass) |
//! | `storefront_cache_fill_seconds` | `kind` |
//! | `storefront_cache_local_hits_total` | `kind` (hits served from process memory) |
//! | `storefront_cache_local_bytes` | (memory held by the in-process layer) |
//! | `storefront_cache_errors_total` | |
//! | `storefront_cache_invalidations_total` | `tag` (the tag's family, never an id) |
//! | `storefront_http_request_duration_seconds` | `route`, `method`, `status` |
//! | `storefront_db_queries_total` | (SQL statements run for requests and writes) |
//! | `storefront_password_hash_refused_total` | (hashes refused, 503, because the queue was full) |
//! | `storefront_password_hash_skipped_total` | (hashes skipped because their client had gone) |
//!
//! Hit rate: `sum(rate(storefront_cache_requests_total{result="hit"}[5m])) /
//! sum(rate(storefront_cache_requests_total[5m]))`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder once per process (several apps in one test process
/// share it) and returns its handle.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed; ours then renders empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The metrics listener's routes: `/metrics`, and 404 for anything else,
/// under the shop's rule on who may keep a response (none: each is a moment).
pub fn router() -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(render))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(axum::middleware::from_fn(crate::routes::cache_policy::apply))
}

/// Prometheus text format.
async fn render() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render())
}

/// Drains the histograms' sample buffers every few seconds. A recorder
/// built without the crate's HTTP listener gets no upkeep of its own, and
/// its buffers would keep every sample until the next scrape of `/metrics`
/// (at 40,000 requests/s, 320 KB a second).
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    let handle = handle();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Records the latency of every request, labelled by its route pattern (so
/// ids in paths never multiply the series).
pub async fn track_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::histogram!(
        "storefront_http_request_duration_seconds",
        "route" => route,
        "method" => method,
        "status" => response.status().as_u16().to_string()
    )
    .record(started.elapsed().as_secs_f64());
    response
}
