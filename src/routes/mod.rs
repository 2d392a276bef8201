//! HTTP routes: thin handlers that parse input, call a service and pick a
//! view. One router per area, composed here.

mod api;
mod assets;
pub mod cached;
mod health;
mod pages;

pub use api::ApiDoc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::response::{IntoResponse, Response};
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(pages::router())
        .merge(api::router())
        .merge(health::router())
        .merge(assets::router())
        .route("/metrics", axum::routing::get(render_metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::metrics::track_requests))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Prometheus text format.
async fn render_metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::metrics::handle().render(),
    )
}

/// Unknown paths: JSON under `/api`, the HTML 404 page elsewhere.
async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    if uri.path().starts_with("/api/") || uri.path() == "/api" {
        AppError::not_found().into_response()
    } else {
        AppError::not_found().into_html()
    }
}

/// A path parameter whose rejection (e.g. bad percent-encoding) is answered in
/// our error format rather than axum's plain text.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct PathParam<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::bad_param("path", rejection.body_text())
    }
}
