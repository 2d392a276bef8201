//! Static assets, compiled into the binary so the shop runs from any working
//! directory.

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Extension, Router};

use crate::routes::cache_policy::Shareable;
use crate::state::AppState;

const SITE_CSS: &str = include_str!("../../static/css/site.css");

pub fn router() -> Router<AppState> {
    Router::new().route("/static/css/site.css", get(site_css))
}

/// The same for everyone: any cache may keep it for an hour.
async fn site_css() -> impl IntoResponse {
    let shareable = Shareable(HeaderValue::from_static("public, max-age=3600"));
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], Extension(shareable), SITE_CSS)
}
