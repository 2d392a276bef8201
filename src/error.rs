//! The one error type of the HTTP boundary, with a single mapping to status
//! codes and two renderings: JSON for the API (`{"detail", "errors"}`) and an
//! HTML page in the shop's layout. Server errors are logged once, here, and
//! never show their internals to the client.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::domain::FieldErrors;
use crate::routes::body_limit::BodyLimit;
use crate::views::pages::{ErrorPage, Shell};
use crate::views::render;

#[derive(Clone, Debug, thiserror::Error)]
pub enum AppError {
    /// Input that does not parse: per-parameter messages.
    #[error("invalid input")]
    BadRequest(FieldErrors),
    /// The input clashes with existing data (a slug in use, a category that
    /// still has products): per-field messages.
    #[error("conflict")]
    Conflict(FieldErrors),
    /// Well-formed, but not something this request may do (an
    /// idempotency key sent again with another request).
    #[error("unprocessable: {0}")]
    Unprocessable(&'static str),
    /// Nothing here; the detail is safe to show (`"Not found."`, `"Invalid
    /// page."`, [`Model::missing`]).
    #[error("not found: {0}")]
    NotFound(&'static str),
    /// No (valid) credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// Not allowed (e.g. a form without a valid CSRF token).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A request body over the limit (refused before it is read, or, sent
    /// without a length, as soon as it passes the limit).
    #[error("request body too large")]
    TooLarge(BodyLimit),
    /// The database could not be reached: retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Too much work already waiting (password hashes): a 503 that tells
    /// the client, in `Retry-After`, when to come back.
    #[error("busy: retry after {0:?}")]
    Busy(std::time::Duration),
    /// Anything else: a bug or an unexpected failure.
    #[error("internal error: {0}")]
    Internal(String),
}

/// What the API looks up by id, for the 404 that names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    Product,
    Category,
    ProductImage,
}

impl Model {
    /// Django's words when no row matches (`get_object_or_404`), which DRF
    /// clients may match on.
    pub const fn missing(self) -> &'static str {
        match self {
            Model::Product => "No Product matches the given query.",
            Model::Category => "No Category matches the given query.",
            Model::ProductImage => "No ProductImage matches the given query.",
        }
    }

    /// `error`, with a "not found" worded as [`Model::missing`]: the catalog
    /// services say "Not found.", which the pages show.
    pub fn not_found(self, error: AppError) -> AppError {
        match error {
            AppError::NotFound(_) => AppError::NotFound(self.missing()),
            other => other,
        }
    }
}

/// The API's error body, also documented in the OpenAPI schema.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence saying what went wrong.
    pub detail: String,
    /// Messages per parameter or field, when the input was at fault.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(required = false)]
    pub errors: BTreeMap<String, Vec<String>>,
}

impl AppError {
    pub fn not_found() -> Self {
        AppError::NotFound("Not found.")
    }

    pub fn invalid_page() -> Self {
        AppError::NotFound("Invalid page.")
    }

    pub fn bad_param(param: &str, message: impl Into<String>) -> Self {
        AppError::BadRequest(FieldErrors::single(param, message))
    }

    /// A body an extractor refused: too large (cut off while read), or not
    /// what was expected (`message` says how).
    pub fn body_rejected(status: StatusCode, message: String) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge(BodyLimit::Small)
        } else {
            AppError::bad_param("body", message)
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Unavailable(_) | AppError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the client may see.
    pub fn body(&self) -> ErrorBody {
        let (detail, errors) = match self {
            AppError::BadRequest(errors) => ("Invalid input.", errors.as_map().clone()),
            AppError::Conflict(errors) => ("Conflict with existing data.", errors.as_map().clone()),
            AppError::NotFound(detail) | AppError::Forbidden(detail) | AppError::Unprocessable(detail) => {
                (*detail, BTreeMap::new())
            }
            AppError::Unauthorized => {
                ("Authentication credentials were not provided or are not valid.", BTreeMap::new())
            }
            AppError::TooLarge(limit) => {
                let detail = format!("The request body is larger than {}.", limit.shown());
                return ErrorBody { detail, errors: BTreeMap::new() };
            }
            AppError::Unavailable(_) => ("Service temporarily unavailable. Please retry shortly.", BTreeMap::new()),
            AppError::Busy(_) => ("The shop is busy. Please retry in a moment.", BTreeMap::new()),
            AppError::Internal(_) => ("Internal server error.", BTreeMap::new()),
        };
        ErrorBody { detail: detail.to_owned(), errors }
    }

    fn log(&self) {
        match self {
            // Shedding load is the server working as meant, not failing.
            AppError::Busy(_) => tracing::warn!(error = %self, "request refused"),
            _ if self.status_code().is_server_error() => tracing::error!(error = %self, "request failed"),
            _ => {}
        }
    }

    /// Headers that go with the status, in both renderings.
    fn add_headers(&self, response: &mut Response) {
        use axum::http::{HeaderValue, header};
        match self {
            AppError::Unauthorized => {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            AppError::Busy(wait) => set_retry_after(response, *wait),
            _ => {}
        }
    }

    /// The HTML rendering, for the shop's pages.
    pub fn into_html(self) -> Response {
        self.log();
        let status = self.status_code();
        let body = self.body();
        let page = ErrorPage {
            shell: Shell::new(status.canonical_reason().unwrap_or("Error")),
            status: status.as_u16(),
            detail: body.detail,
            errors: body.errors.into_iter().collect(),
        };
        let mut response = (status, render(&page)).into_response();
        self.add_headers(&mut response);
        response
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, SqlErr};
        // The catalog's unique columns are its slugs.
        if let Some(SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return AppError::Conflict(FieldErrors::single("slug", "This slug is already in use."));
        }
        match err {
            DbErr::ConnectionAcquire(e) => AppError::Unavailable(e.to_string()),
            DbErr::Conn(e) => AppError::Unavailable(e.to_string()),
            DbErr::Query(e) | DbErr::Exec(e) if lost_connection(&e) => AppError::Unavailable(e.to_string()),
            other => AppError::Internal(other.to_string()),
        }
    }
}

/// A statement failed because its connection did: the database went away
/// (or the pool with it) between the checkout and the answer. The pool
/// tests a connection only after it sat idle, so a query can be the first
/// to meet a dropped one.
fn lost_connection(err: &sea_orm::RuntimeErr) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        sea_orm::RuntimeErr::SqlxError(e) => {
            matches!(**e, Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed)
        }
        _ => false,
    }
}

/// A cached fill failed: the `AppError` the fill returned, unchanged.
impl From<crate::cache::FillError> for AppError {
    fn from(err: crate::cache::FillError) -> Self {
        err.downcast_ref::<AppError>().cloned().unwrap_or_else(|| AppError::Internal(err.to_string()))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log();
        let mut response = (self.status_code(), Json(self.body())).into_response();
        self.add_headers(&mut response);
        response
    }
}

/// Says how long to wait before retrying (a 429's window, a 503's backlog),
/// in whole seconds, at least 1.
pub fn retry_after(mut response: Response, wait: std::time::Duration) -> Response {
    set_retry_after(&mut response, wait);
    response
}

fn set_retry_after(response: &mut Response, wait: std::time::Duration) {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
}

/// An [`AppError`] shown as an HTML page: the error type of page handlers.
#[derive(Debug)]
pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(err: E) -> Self {
        PageError(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0.into_html()
    }
}

#[cfg(test)]
mod tests {
    use super::AppError;
    use axum::response::IntoResponse;
    use std::time::Duration;

    #[tokio::test]
    async fn busy_is_a_503_with_retry_after_in_both_renderings() {
        for (response, seconds) in [
            (AppError::Busy(Duration::from_millis(1500)).into_response(), "2"),
            (AppError::Busy(Duration::ZERO).into_html(), "1"),
        ] {
            assert_eq!(response.status(), 503);
            assert_eq!(response.headers()["retry-after"], seconds, "whole seconds, at least 1");
        }
        let json = AppError::Busy(Duration::from_secs(1)).into_response();
        let body = axum::body::to_bytes(json.into_body(), 1024).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "The shop is busy. Please retry in a moment.");
    }
}
