//! Registration, login, logout and the account page. Every form carries a
//! form token (the session's, or a signed one for a visitor without a
//! session); a login gives the session a new id; logout deletes it.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use crate::auth::throttle::Throttle;
use crate::auth::users::{self, RegisterError};
use crate::auth::{AuthSession, Email, Hasher, Password};
use crate::domain::QueryPairs;
use crate::error::{AppError, PageError, retry_after};
use crate::routes::extract::{ClientIp, CsrfForm, FormBody, require_csrf, to_login};
use crate::state::AppState;
use crate::views::pages::{AccountPage, LoginPage, RegisterPage, Shell};
use crate::views::render;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/register", get(register_form).post(register))
        .route("/logout", post(logout))
        .route("/account", get(account))
        .route("/account/sign-out-everywhere", post(sign_out_everywhere))
}

/// Only a path on this site may be followed after login: no scheme, no
/// host, no protocol-relative `//`, no backslash tricks.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control());
    ok.then_some(next)
}

/// The login form's query, read like every query of the shop: repeated
/// parameters are not an error, the last one counts.
async fn login_form(auth: AuthSession, RawQuery(raw): RawQuery) -> Result<Response, PageError> {
    let pairs = QueryPairs::parse(raw.as_deref());
    let page = LoginPage {
        shell: Shell::for_visitor(&auth, "Log in").await,
        csrf: auth.form_token().await?,
        next: pairs.get("next").and_then(safe_next).unwrap_or("").to_owned(),
        email: String::new(),
        error: String::new(),
    };
    Ok(render(&page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: String,
}

const BAD_CREDENTIALS: &str = "Invalid email or password.";
const TOO_MANY_LOGINS: &str = "Too many failed attempts. Please wait and try again.";
const TOO_MANY_REGISTRATIONS: &str = "Too many accounts were created from your network. Please try again later.";
/// What registering answers, whether the email was new or taken: saying
/// "taken" would tell anyone which addresses have accounts here.
const REGISTERED: &str = "Thank you. If the email was new, your account is ready: sign in with it. If you already had an account, sign in with its password.";

fn throttle_unavailable(e: crate::auth::throttle::ThrottleError) -> AppError {
    AppError::Unavailable(e.to_string())
}

/// The login form again, with the email kept and a message.
async fn login_again(auth: &AuthSession, form: &LoginForm, status: StatusCode, error: &str) -> Response {
    let page = LoginPage {
        shell: Shell::for_visitor(auth, "Log in").await,
        csrf: auth.form_token().await.unwrap_or_default(),
        next: safe_next(&form.next).unwrap_or("").to_owned(),
        email: form.email.trim().to_owned(),
        error: error.to_owned(),
    };
    (status, render(&page)).into_response()
}

async fn login(
    State(db): State<DatabaseConnection>,
    State(hasher): State<Hasher>,
    State(throttle): State<std::sync::Arc<Throttle>>,
    ClientIp(ip): ClientIp,
    auth: AuthSession,
    FormBody(form): FormBody<LoginForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    // A malformed email gets the same answer as a wrong password.
    let (Ok(email), Ok(password)) = (Email::parse(&form.email), Password::parse(&form.password)) else {
        return Ok(login_again(&auth, &form, StatusCode::BAD_REQUEST, BAD_CREDENTIALS).await);
    };
    // The attempt is counted before the hash, atomically, so parallel
    // guesses cannot all slip past the limit.
    if let Some(wait) = throttle.reserve_login(&email, ip).await.map_err(throttle_unavailable)? {
        let page = login_again(&auth, &form, StatusCode::TOO_MANY_REQUESTS, TOO_MANY_LOGINS).await;
        return Ok(retry_after(page, wait));
    }
    let user = match users::authenticate(&db, &hasher, &email, password).await {
        Ok(Some(user)) => user,
        Ok(None) => return Ok(login_again(&auth, &form, StatusCode::BAD_REQUEST, BAD_CREDENTIALS).await),
        Err(busy @ AppError::Busy(_)) => {
            // Never checked, so not a failed attempt.
            throttle.login_not_tried(&email, ip).await.map_err(throttle_unavailable)?;
            return Err(busy.into());
        }
        Err(e) => return Err(e.into()),
    };
    throttle.login_succeeded(&email, ip).await.map_err(throttle_unavailable)?;
    auth.login(&user).await?;
    auth.flash("You are signed in.").await?;
    let target = safe_next(&form.next).filter(|n| !n.is_empty()).unwrap_or("/");
    Ok(Redirect::to(target).into_response())
}

async fn register_form(auth: AuthSession) -> Result<Response, PageError> {
    let page = RegisterPage {
        shell: Shell::for_visitor(&auth, "Create an account").await,
        csrf: auth.form_token().await?,
        email: String::new(),
        email_error: String::new(),
        password_error: String::new(),
        error: String::new(),
    };
    Ok(render(&page))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegisterForm {
    email: String,
    password: String,
    csrf: String,
}

/// Registration answers the same whether the email was new or taken (see
/// [`REGISTERED`]), and signs nobody in: the difference would tell. Each
/// attempt that gets as far as hashing a password is counted against the
/// client's address first.
async fn register(
    State(db): State<DatabaseConnection>,
    State(throttle): State<std::sync::Arc<Throttle>>,
    ClientIp(ip): ClientIp,
    State(hasher): State<Hasher>,
    auth: AuthSession,
    FormBody(form): FormBody<RegisterForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let email = Email::parse(&form.email);
    let password = Password::parse(&form.password);
    let mut page = RegisterPage {
        shell: Shell::new("Create an account"),
        csrf: String::new(),
        email: form.email.trim().to_owned(),
        email_error: email.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
        password_error: password.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
        error: String::new(),
    };
    let mut status = StatusCode::BAD_REQUEST;
    let mut wait = None;
    if let (Ok(email), Ok(password)) = (email, password) {
        match throttle.reserve_registration(ip).await.map_err(throttle_unavailable)? {
            Some(w) => {
                (status, wait) = (StatusCode::TOO_MANY_REQUESTS, Some(w));
                page.error = TOO_MANY_REGISTRATIONS.to_owned();
            }
            None => match users::register(&db, &hasher, email, password, false).await {
                Ok(_) | Err(RegisterError::EmailTaken) => {
                    auth.flash(REGISTERED).await?;
                    return Ok(Redirect::to("/login").into_response());
                }
                Err(RegisterError::Other(busy @ AppError::Busy(_))) => {
                    throttle.registration_not_tried(ip).await.map_err(throttle_unavailable)?;
                    return Err(busy.into());
                }
                Err(RegisterError::Other(e)) => return Err(e.into()),
            },
        }
    }
    page.shell = Shell::for_visitor(&auth, "Create an account").await;
    page.csrf = auth.form_token().await?;
    let response = (status, render(&page)).into_response();
    Ok(match wait {
        Some(wait) => retry_after(response, wait),
        None => response,
    })
}

async fn logout(auth: AuthSession, FormBody(form): FormBody<CsrfForm>) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    auth.logout().await?;
    Ok(Redirect::to("/").into_response())
}

async fn account(auth: AuthSession) -> Result<Response, PageError> {
    let Some(user) = auth.user().await? else { return Ok(to_login("/account")) };
    let page = AccountPage {
        shell: Shell::for_visitor(&auth, "Your account").await,
        csrf: auth.form_token().await?,
        email: user.email,
        is_admin: user.is_admin,
    };
    Ok(render(&page))
}

/// Ends every session of this account, on every device, this one included.
async fn sign_out_everywhere(
    State(db): State<DatabaseConnection>,
    auth: AuthSession,
    FormBody(form): FormBody<CsrfForm>,
) -> Result<Response, PageError> {
    require_csrf(&auth, &form.csrf).await?;
    let Some(user) = auth.user().await? else { return Ok(to_login("/account")) };
    users::end_sessions(&db, user.id).await?;
    auth.logout().await?;
    auth.flash("You are signed out on every device.").await?;
    Ok(Redirect::to("/login").into_response())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/admin?x=1"), Some("/admin?x=1"));
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "evil", "javascript:alert(1)", "/\nx"]
        {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }
}
