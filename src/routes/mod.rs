//! HTTP routes: thin handlers that parse input, call a service and pick a
//! view, one module per area: the shop's pages, accounts, the cart and
//! checkout at the top, the API under `/api` and the admin nested under
//! `/admin`, each by resource. What handlers extract from a request is in [`extract`];
//! the layers every answer passes through are composed here.

mod admin;
mod api;
mod assets;
mod auth;
mod bench;
pub mod body_limit;
pub mod cache_policy;
pub mod cached;
mod cart;
mod checkout;
mod cross_site;
pub mod extract;
mod health;
mod media;
mod pages;
pub mod uploads;

pub use assets::prepare as prepare_assets;

use axum::Router;
use axum::extract::OriginalUri;
use axum::response::{IntoResponse, Response};

use axum::http::{HeaderValue, StatusCode, header};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::AppError;
use crate::routes::body_limit::{BodyLimit, BodyLimits};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let sessions = state.sessions.clone();
    let request_timeout = state.settings.request_timeout;
    let state_public_url = state.public_url.clone();
    let bench = if state.settings.bench_routes { bench::router() } else { Router::new() };
    // Layers that need the matched route (metrics) or serve the handlers
    // (sessions) go on the routes.
    let (api, doc) = api::router();
    let routes = Router::new()
        .merge(pages::router())
        .merge(auth::router())
        .merge(cart::router())
        .merge(checkout::router())
        .nest("/admin", admin::router(state.clone()))
        .merge(api)
        .route("/api/openapi.json", api::document(&doc))
        .merge(health::router())
        .merge(assets::router())
        .merge(media::router())
        .merge(bench)
        .fallback(not_found)
        .layer(sessions)
        // Outside the session layer, to see the answer it gives on a failed save.
        .layer(axum::middleware::from_fn(session_failures))
        .layer(axum::middleware::from_fn(crate::metrics::track_requests))
        .with_state(state);
    // The rest wrap the router once, as one stack, read top-down (outermost
    // first): `Router::layer` would wrap every route in each of them, boxing
    // the request's future once per layer (measured with scripts/profile.py:
    // 62 more allocations and 17,000 more instructions per API hit).
    let stack = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http())
        // Outside every other layer, so that it also sees the answers they
        // give themselves (a timeout, a refused cross-site form, a body too
        // large).
        .layer(axum::middleware::from_fn(cache_policy::apply))
        // Compresses what was not compressed where it was made: forms,
        // the cart, admin pages, errors. Cached bodies and static assets
        // carry their forms (and an ETag per form) already; images are
        // compressed as they are.
        .layer(CompressionLayer::new().compress_when(Uncompressed))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        .layer(axum::middleware::from_fn_with_state(state_public_url, cross_site::refuse_cross_site))
        .layer(axum::middleware::from_fn(edge_fetches))
        // Forms and API bodies are small, uploads less so; anything bigger
        // is refused (413) before it is read into memory. That limit is the
        // only one: axum's own default would cut uploads short.
        .layer(axum::middleware::from_fn(oversized_bodies))
        .layer_fn(BodyLimits)
        .layer(axum::extract::DefaultBodyLimit::disable())
        // No framing, no MIME sniffing, only our own scripts, styles and
        // images, and no full URLs leaked to other sites.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        ))
        // Innermost: the routes see the API's plain URLs, and every layer
        // above sees the 404 of an unknown format like any other answer.
        .layer_fn(api::ApiUrls)
        .service(routes);
    Router::new().fallback_service(stack)
}

/// The session layer answers a failed session save with a bare, empty 500.
/// Turn that into a clear page: the session store is unavailable, retry.
async fn session_failures(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let response = next.run(request).await;
    if response.status() == axum::http::StatusCode::INTERNAL_SERVER_ERROR
        && !response.headers().contains_key(axum::http::header::CONTENT_TYPE)
    {
        return AppError::Unavailable("the session store could not save the session".into()).into_html();
    }
    response
}

/// What the compression layer compresses (when asked to): not a small
/// body, an image or an event stream, nor one with an ETag: that one names
/// the identity form, and its handler made the other forms it has, each
/// with its own ETag.
#[derive(Clone, Copy)]
struct Uncompressed;

impl Predicate for Uncompressed {
    fn should_compress<B: axum::body::HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        !response.headers().contains_key(header::ETAG)
            && SizeAbove::new(crate::encoding::MIN_BYTES as u64).should_compress(response)
            && NotForContentType::IMAGES.should_compress(response)
            && NotForContentType::SSE.should_compress(response)
    }
}

/// The body limit refuses with a plain-text 413; answer in the shop's
/// shapes instead: `{"detail"}` JSON under `/api`, the error page elsewhere.
async fn oversized_bodies(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = is_api(request.uri().path());
    let limit = BodyLimit::for_path(request.uri().path());
    let response = next.run(request).await;
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    if api { AppError::TooLarge(limit).into_response() } else { AppError::TooLarge(limit).into_html() }
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path == "/api"
}

/// The header the project's VCL sets on every fetch from Varnish.
pub const EDGE_FETCH_HEADER: &str = "x-edge-fetch";

/// Serves an edge cache's fetch from Redis, not this process's memory (see
/// [`crate::cache::as_edge_fetch`]). Anyone may send the header: it only
/// costs them a Redis round trip.
async fn edge_fetches(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.headers().contains_key(EDGE_FETCH_HEADER) {
        crate::cache::as_edge_fetch(next.run(request)).await
    } else {
        next.run(request).await
    }
}

/// Unknown paths: JSON under `/api`, the HTML 404 page elsewhere.
async fn not_found(OriginalUri(uri): OriginalUri) -> Response {
    if is_api(uri.path()) { AppError::not_found().into_response() } else { AppError::not_found().into_html() }
}
