//! The admin: products and categories, with create, edit and delete forms,
//! and orders with their status moves, nested under `/admin`. Only admins get in (the guard is a route layer):
//! visitors are sent to log in, shoppers get a 403 page. Every write goes
//! through `services::writes`, so the cache and every public page see it on
//! the very next request.

mod categories;
mod orders;
mod products;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::auth::AuthSession;
use crate::domain::FieldErrors;
use crate::error::{AppError, PageError};
use crate::routes::extract::{original_uri, to_login};
use crate::state::AppState;

/// The routes under `/admin`.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/admin/products") }))
        .merge(products::router())
        .merge(categories::router())
        .merge(orders::router())
        .route_layer(middleware::from_fn_with_state(state, require_admin))
}

/// Visitors go to the login page (and come back); shoppers get 403.
async fn require_admin(auth: AuthSession, request: Request, next: Next) -> Response {
    match auth.user().await {
        Ok(Some(user)) if user.is_admin => next.run(request).await,
        Ok(Some(_)) => AppError::Forbidden("This page is for the shop's administrators.").into_html(),
        Ok(None) => {
            let original = original_uri(request.extensions(), request.uri());
            to_login(original.path_and_query().map(|p| p.as_str()).unwrap_or("/admin"))
        }
        Err(e) => e.into_html(),
    }
}

/// A write refused for its input (a category that does not exist, a slug
/// another admin took first, a category that still has products): the
/// messages, to show on the form again. Anything else is an error page.
fn refused_fields(e: AppError) -> Result<FieldErrors, PageError> {
    match e {
        AppError::BadRequest(errors) | AppError::Conflict(errors) => Ok(errors),
        other => Err(PageError(other)),
    }
}

/// A form shown with errors answers 400; a fresh one 200.
fn form_status(errors: &FieldErrors) -> StatusCode {
    if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST }
}

/// After a write: the message for the next page, and back to the list.
async fn saved(auth: &AuthSession, message: &str, list: &str) -> Result<Response, PageError> {
    auth.flash(message).await?;
    Ok(Redirect::to(list).into_response())
}
