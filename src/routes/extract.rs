//! What handlers take from a request, each parsed once and refused in the
//! shop's own shapes: forms (with their token checked) and JSON bodies, path
//! parameters and ids, the client's address, what a cached read or a write
//! needs from the state, and an API admin's credentials.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use sea_orm::DatabaseConnection;

use crate::auth::{AuthSession, tokens};
use crate::cache::Cache;
use crate::error::{AppError, Model, PageError};
use crate::models::_entities::user;
use crate::services::orders::{OrderDesk, Owner};
use crate::state::{AppState, PublicUrl};

/// A form body whose rejection (wrong type, bad encoding) is our 400.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Form), rejection(PageError))]
pub struct FormBody<T>(pub T);

impl From<FormRejection> for AppError {
    fn from(rejection: FormRejection) -> Self {
        AppError::body_rejected(rejection.status(), rejection.body_text())
    }
}

/// A form that carries the token of the session it was shown to.
pub trait FormToken {
    fn token(&self) -> &str;
}

/// A form post from this site: the visitor's session, and the form once
/// its token is checked (a 403 page otherwise).
pub struct CheckedForm<T>(pub AuthSession, pub T);

impl<T: DeserializeOwned + FormToken + Send> FromRequest<AppState> for CheckedForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let auth = AuthSession::from_request_parts(&mut parts, state).await?;
        let FormBody(form) = FormBody::<T>::from_request(Request::from_parts(parts, body), state).await?;
        require_csrf(&auth, form.token()).await?;
        Ok(CheckedForm(auth, form))
    }
}

/// A form that carries nothing but its token (logout, deletes).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CsrfForm {
    pub csrf: String,
}

impl FormToken for CsrfForm {
    fn token(&self) -> &str {
        &self.csrf
    }
}

/// A JSON object body whose rejection is answered in the API's error shape.
/// Only an object: serde also reads a struct from an array, by position, so
/// `["Lamps"]` would rename a category.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes =
            Bytes::from_request(Request::from_parts(parts.clone(), body), state).await.map_err(JsonRejection::from)?;
        let array = bytes.trim_ascii_start().starts_with(b"[");
        // axum's own checks and messages (content type, syntax, the field at fault) first.
        let Json(value) = Json::<T>::from_request(Request::from_parts(parts, Body::from(bytes)), state).await?;
        if array {
            return Err(AppError::bad_param("body", "Expected a JSON object."));
        }
        Ok(JsonBody(value))
    }
}

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        AppError::body_rejected(rejection.status(), rejection.body_text())
    }
}

/// A path parameter whose rejection (e.g. bad percent-encoding) is answered in
/// our error format rather than axum's plain text.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct PathParam<T>(pub T);

/// The same for HTML pages: a bad path is answered with the error page.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(PageError))]
pub struct PagePath<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::bad_param("path", rejection.body_text())
    }
}

/// The `{id}` of an admin page: a positive integer, or else the 404 page
/// (no such thing can exist there).
pub struct Id(pub i32);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PagePath(raw) = PagePath::<String>::from_request_parts(parts, state).await?;
        positive_id(&raw).map(Id).ok_or(PageError(AppError::not_found()))
    }
}

/// The `{id}` of `/api/products/{id}/`: see [`api_id`].
pub struct ProductId(pub i32);

/// The `{id}` of `/api/categories/{id}/`: see [`api_id`].
pub struct CategoryId(pub i32);

impl<S: Send + Sync> FromRequestParts<S> for ProductId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        api_id(parts, state, Model::Product).await.map(ProductId)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CategoryId {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        api_id(parts, state, Model::Category).await.map(CategoryId)
    }
}

/// The `{id}` and `{image_id}` of `/api/products/{id}/images/{image_id}/`,
/// each a positive integer, or the 404 of what it fails to name.
pub struct ProductImagePath(pub i32, pub i32);

impl<S: Send + Sync> FromRequestParts<S> for ProductImagePath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let missing = |model: Model| AppError::NotFound(model.missing());
        let PathParam((product, image)) = PathParam::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| missing(Model::Product))?;
        let product = positive_id(&product).ok_or_else(|| missing(Model::Product))?;
        let image = positive_id(&image).ok_or_else(|| missing(Model::ProductImage))?;
        Ok(ProductImagePath(product, image))
    }
}

/// The `{id}` and `{image_id}` of an admin page: the 404 page unless both
/// are positive integers.
pub struct AdminImagePath(pub i32, pub i32);

impl<S: Send + Sync> FromRequestParts<S> for AdminImagePath {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let PagePath((product, image)) = PagePath::<(String, String)>::from_request_parts(parts, state).await?;
        match (positive_id(&product), positive_id(&image)) {
            (Some(product), Some(image)) => Ok(AdminImagePath(product, image)),
            _ => Err(PageError(AppError::not_found())),
        }
    }
}

/// An API path's `{id}`: a positive integer. Anything else (`abc`, `0`, an
/// id past `i32`) is a pk no row can have, which DRF's `get_object_or_404`
/// answers as it answers a missing row: with `model`'s 404.
async fn api_id<S: Send + Sync>(parts: &mut Parts, state: &S, model: Model) -> Result<i32, AppError> {
    let missing = || AppError::NotFound(model.missing());
    let PathParam(raw) = PathParam::<String>::from_request_parts(parts, state).await.map_err(|_| missing())?;
    positive_id(&raw).ok_or_else(missing)
}

fn positive_id(raw: &str) -> Option<i32> {
    raw.parse::<i32>().ok().filter(|id| *id > 0)
}

/// The URI the client sent: nesting (the admin's) strips its prefix from
/// the one a nested route sees.
pub fn original_uri<'a>(extensions: &'a Extensions, uri: &'a Uri) -> &'a Uri {
    extensions.get::<OriginalUri>().map_or(uri, |o| &o.0)
}

/// The client's address, for throttling: the connection's peer, or, when
/// the peer is a trusted proxy, the nearest address in `X-Forwarded-For`
/// that is not one (each proxy appends the address it was reached from, so
/// only the part added by trusted proxies can be believed).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let forwarded = parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
        Ok(ClientIp(client_ip(peer, forwarded, &state.settings.trusted_proxies)))
    }
}

fn client_ip<'a>(peer: IpAddr, forwarded: impl DoubleEndedIterator<Item = &'a str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops = forwarded.rev().flat_map(|header| header.rsplit(',')).map(str::trim);
    let mut client = peer;
    for hop in hops.by_ref() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage: the last address believed so far is the best guess.
            Err(_) => break,
        }
    }
    client
}

/// A form post must carry the session's form token.
pub async fn require_csrf(auth: &AuthSession, presented: &str) -> Result<(), PageError> {
    if auth.form_token_matches(presented).await? {
        Ok(())
    } else {
        Err(PageError(AppError::Forbidden("The form has expired or did not come from this site. Please try again.")))
    }
}

/// Where a visitor who is not signed in goes instead of `path` (and comes
/// back to after signing in).
pub fn to_login(path: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// What a cached read needs: the database, the cache, the public origin its
/// links start with, and the request's headers (`If-None-Match`).
pub struct Reads {
    pub db: DatabaseConnection,
    pub cache: Cache,
    pub base: PublicUrl,
    pub headers: HeaderMap,
}

impl FromRequestParts<AppState> for Reads {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (db, cache, base) = (state.db.clone(), state.cache.clone(), state.public_url.clone());
        Ok(Reads { db, cache, base, headers: parts.headers.clone() })
    }
}

/// What a write needs: the database, and the cache it keeps current.
pub struct Writer {
    pub db: DatabaseConnection,
    pub cache: Cache,
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Writer::of(state))
    }
}

impl Writer {
    fn of(state: &AppState) -> Self {
        Writer { db: state.db.clone(), cache: state.cache.clone() }
    }
}

impl FromRequestParts<AppState> for OrderDesk {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(OrderDesk {
            db: state.db.clone(),
            cache: state.cache.clone(),
            mailer: state.mailer.clone(),
            base: state.public_url.clone(),
        })
    }
}

/// An admin, by bearer token or by session cookie (with the CSRF header on
/// a write), with what a write needs.
pub struct ApiAdmin(pub Writer);

impl FromRequestParts<AppState> for ApiAdmin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let not_admin = AppError::Forbidden("You do not have permission to perform this action.");
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or(AppError::Unauthorized)?;
            let user = tokens::user_for(&state.db, token.trim()).await?.ok_or(AppError::Unauthorized)?;
            return if user.is_admin { Ok(ApiAdmin(Writer::of(state))) } else { Err(not_admin) };
        }
        let auth = AuthSession::from_request_parts(parts, state).await?;
        let user = auth.user().await?.ok_or(AppError::Unauthorized)?;
        let csrf = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        // A read changes nothing, so another site gains nothing by sending it.
        if !parts.method.is_safe() && !auth.session_token_matches(csrf).await? {
            return Err(AppError::Forbidden("CSRF token missing or incorrect."));
        }
        if user.is_admin { Ok(ApiAdmin(Writer::of(state))) } else { Err(not_admin) }
    }
}

/// Who calls the API: a bearer token's user, a visitor with a session
/// cookie (signed in or not), or nobody. Unlike [`ApiAdmin`], anyone may
/// be one; a handler asks what it needs (an owner, an admin, the CSRF
/// header of a session's write).
pub enum ApiCaller {
    Token(user::Model),
    Session { auth: AuthSession, csrf: Option<String> },
    Anonymous,
}

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).ok_or(AppError::Unauthorized)?;
            let user = tokens::user_for(&state.db, token.trim()).await?.ok_or(AppError::Unauthorized)?;
            return Ok(ApiCaller::Token(user));
        }
        let auth = AuthSession::from_request_parts(parts, state).await?;
        if !auth.has_cookie() {
            return Ok(ApiCaller::Anonymous);
        }
        let csrf = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok(ApiCaller::Session { auth, csrf })
    }
}

impl ApiCaller {
    /// The signed-in user, if any, and whether they are an admin.
    pub async fn user(&self) -> Result<Option<(i32, bool)>, AppError> {
        Ok(match self {
            ApiCaller::Token(user) => Some((user.id, user.is_admin)),
            ApiCaller::Session { auth, .. } => auth.user().await?.map(|u| (u.id, u.is_admin)),
            ApiCaller::Anonymous => None,
        })
    }

    /// Who this caller is as an orders' owner; `create` gives a session
    /// without a key one (placing an order does).
    pub async fn owner(&self, create: bool) -> Result<Owner, AppError> {
        let user_id = self.user().await?.map(|(id, _)| id);
        let session_key = match self {
            ApiCaller::Session { auth, .. } => auth.owner_key(create).await?,
            _ => None,
        };
        Ok(Owner { user_id, session_key })
    }

    /// A write from a session must carry its form token in `X-CSRF-Token`
    /// (a page another site shows could otherwise post with the cookie).
    pub async fn require_csrf(&self) -> Result<(), AppError> {
        let ApiCaller::Session { auth, csrf } = self else { return Ok(()) };
        match csrf {
            Some(token) if auth.form_token_matches(token).await? => Ok(()),
            _ => Err(AppError::Forbidden("CSRF token missing or incorrect.")),
        }
    }
}
