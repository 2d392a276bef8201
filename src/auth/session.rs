//! The typed session facade: who is signed in, form tokens and flash
//! messages. `login` gives the session a new id and `logout` deletes it, so
//! an id known before a sign-in is worth nothing after it (no fixation).
//!
//! A session stores only *which* user signed in, at which `auth_version`
//! and when. Who they are and what they may do is read from the database on
//! each request that asks (one primary-key read; visitors without a session
//! cookie never pay it), so a password reset, a change of rights or "sign
//! out everywhere" (each raises the user's `auth_version`) ends every one of
//! their sessions at once.
//!
//! A request works on its own copy of the session and saves it whole, so a
//! value two requests might both create must come out the same in both:
//! the form token is made with the session itself (and anew at sign-in),
//! and a cart id is claimed in the cart store by the first request that
//! needs one. Of two flash messages set at once, one is shown.
//!
//! A request whose session cookie reaches this extractor is marked as
//! read, so its response is `private, no-store` whatever the handler
//! answers (`routes::cache_policy`); a visitor without the cookie leaves
//! no mark, and the catalog's pages stay shareable for them.
//!
//! How long a session lives depends on what it holds: a few hours for a
//! visitor with nothing but a flash message (or an empty cart), the
//! inactivity timeout once the cart holds something, and for a sign-in also
//! never beyond the absolute lifetime counted from the sign-in. Reading
//! pages pushes a kept session's expiry back, at most once a day.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::Utc;
use rand::Rng;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tower_sessions::Session;

use super::forms::FormSigner;
pub use super::lifetime::SessionPolicy;
use super::users;
use crate::error::AppError;
use crate::models::_entities::user;
use crate::routes::cache_policy::SessionRead;
use crate::services::cart::CartStore;
use crate::state::AppState;

const AUTH: &str = "auth";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
const CART: &str = "cart";
/// Set once the cart holds something: only then does the session keep the
/// inactivity timeout (a refused first add leaves a short-lived session).
const CART_KEPT: &str = "cart_kept";
/// Unix seconds of the last time the expiry was pushed back.
const TOUCHED: &str = "touched";

/// A signed-in session's claim, as stored in the session.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SignIn {
    user_id: i32,
    /// The user's `auth_version` at sign-in; a different one in the
    /// database means the session has been ended.
    auth_version: i32,
    /// Unix seconds: the absolute lifetime counts from here.
    signed_in_at: i64,
}

/// Who is signed in, as the database says now.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionUser {
    pub id: i32,
    pub email: String,
    pub is_admin: bool,
}

/// The user resolved for this request, shared by every `AuthSession` the
/// request extracts (the admin guard and the handler ask once between them).
#[derive(Clone, Default)]
struct Resolved(Arc<OnceCell<Option<SessionUser>>>);

pub struct AuthSession {
    session: Session,
    /// Whether the request carried our session cookie at all.
    has_cookie: bool,
    carts: Arc<CartStore>,
    db: DatabaseConnection,
    forms: Arc<FormSigner>,
    policy: SessionPolicy,
    resolved: Resolved,
}

fn unavailable(e: tower_sessions::session::Error) -> AppError {
    AppError::Unavailable(format!("session store: {e}"))
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for AuthSession {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let has_cookie = parts
            .headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(';').any(|c| c.trim().starts_with(super::store::COOKIE_NAME)));
        if has_cookie {
            // What the handler shows may now be this visitor's own: the
            // response is never shared (see `routes::cache_policy`).
            SessionRead::mark(&parts.extensions);
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| AppError::Internal(format!("session layer missing: {msg}")))?;
        let resolved = parts.extensions.get::<Resolved>().cloned().unwrap_or_else(|| {
            let resolved = Resolved::default();
            parts.extensions.insert(resolved.clone());
            resolved
        });
        Ok(AuthSession {
            session,
            has_cookie,
            carts: state.carts.clone(),
            db: state.db.clone(),
            forms: state.forms.clone(),
            policy: SessionPolicy::from(&state.settings.sessions),
            resolved,
        })
    }
}

impl AuthSession {
    /// Whether this visitor has a session: their pages are private.
    pub fn has_cookie(&self) -> bool {
        self.has_cookie
    }

    /// The signed-in user, checked against the database: a session whose
    /// user is gone, whose `auth_version` is old or whose absolute lifetime
    /// is over is ended here, and the visitor is signed out.
    pub async fn user(&self) -> Result<Option<SessionUser>, AppError> {
        if !self.has_cookie {
            return Ok(None);
        }
        self.resolved.0.get_or_try_init(|| self.resolve()).await.cloned()
    }

    #[tracing::instrument(name = "session.resolve_user", skip_all)]
    async fn resolve(&self) -> Result<Option<SessionUser>, AppError> {
        let Some(sign_in) = self.session.get::<SignIn>(AUTH).await.map_err(unavailable)? else {
            self.keep_alive().await;
            return Ok(None);
        };
        let now = Utc::now().timestamp();
        let over = now.saturating_sub(sign_in.signed_in_at) >= self.policy.max_age.as_secs() as i64;
        let current = if over { None } else { users::find(&self.db, sign_in.user_id).await? };
        let Some(row) = current.filter(|u| u.auth_version == sign_in.auth_version) else {
            self.end("the session's sign-in is no longer valid").await;
            return Ok(None);
        };
        self.keep_alive().await;
        Ok(Some(SessionUser { id: row.id, email: row.email, is_admin: row.is_admin }))
    }

    /// Pushes back the expiry of a session worth keeping (a sign-in, a cart
    /// with something in it) when it was last pushed back long enough ago,
    /// with the cart's own. Best effort: it must not fail the page.
    async fn keep_alive(&self) {
        let worth_keeping = self.session.get::<SignIn>(AUTH).await.ok().flatten().is_some()
            || self.session.get::<bool>(CART_KEPT).await.ok().flatten().is_some();
        if !worth_keeping {
            return;
        }
        let now = Utc::now().timestamp();
        let touched = self.session.get::<i64>(TOUCHED).await.ok().flatten().unwrap_or(0);
        if now.saturating_sub(touched) < self.policy.touch_every() {
            return;
        }
        if self.session.insert(TOUCHED, now).await.is_ok() {
            self.set_expiry().await;
        }
        if let Ok(Some(cart)) = self.session.get::<String>(CART).await
            && let Err(e) = self.carts.keep(&cart).await
        {
            tracing::warn!(error = %e, "could not push back the cart's expiry");
        }
    }

    /// Deletes a session that no longer signs anyone in.
    async fn end(&self, why: &'static str) {
        tracing::info!(why, "session ended");
        if let Err(e) = self.session.flush().await {
            tracing::warn!(error = %e, "could not delete an ended session");
        }
    }

    /// The signed-in user for the page layout. A session store or database
    /// that cannot be read shows the page as to a visitor rather than
    /// failing it.
    pub async fn user_for_layout(&self) -> Option<SessionUser> {
        match self.user().await {
            Ok(user) => user,
            Err(e) => {
                tracing::warn!(error = %e, "session unreadable: page shown signed out");
                None
            }
        }
    }

    /// The expiry this session's contents call for. Called after every
    /// change: a session loaded from the store starts with the layer's
    /// default expiry, and a save would otherwise reset it.
    async fn set_expiry(&self) {
        let sign_in = self.session.get::<SignIn>(AUTH).await.ok().flatten();
        let has_cart = self.session.get::<bool>(CART_KEPT).await.ok().flatten().is_some();
        self.session.set_expiry(Some(self.policy.expiry(sign_in.map(|s| s.signed_in_at), has_cart)));
    }

    /// Stores `value` under `key`, with a form token beside it (so every
    /// stored session has one) and the expiry its contents call for.
    async fn store(&self, key: &str, value: impl Serialize + Send) -> Result<(), AppError> {
        self.session.insert(key, value).await.map_err(unavailable)?;
        if self.session.get::<String>(CSRF).await.map_err(unavailable)?.is_none() {
            self.session.insert(CSRF, random_token()).await.map_err(unavailable)?;
        }
        self.set_expiry().await;
        Ok(())
    }

    pub async fn login(&self, user: &user::Model) -> Result<(), AppError> {
        self.session.cycle_id().await.map_err(unavailable)?;
        // A new token too: one seen before the sign-in is worth nothing after it.
        self.session.insert(CSRF, random_token()).await.map_err(unavailable)?;
        let now = Utc::now().timestamp();
        self.session.insert(TOUCHED, now).await.map_err(unavailable)?;
        let sign_in = SignIn { user_id: user.id, auth_version: user.auth_version, signed_in_at: now };
        self.store(AUTH, sign_in).await
    }

    /// Ends the session: deleted from the store, cookie removed.
    pub async fn logout(&self) -> Result<(), AppError> {
        self.session.flush().await.map_err(unavailable)
    }

    /// The token for a form on this page: a signed-in session's own, or,
    /// for everyone else, a signed one (nothing is stored for a visitor
    /// without a session, and a visitor whose short session ends while a
    /// form is open can still send it).
    pub async fn form_token(&self) -> Result<String, AppError> {
        if self.has_cookie
            && self.session.get::<SignIn>(AUTH).await.map_err(unavailable)?.is_some()
            && let Some(token) = self.session.get::<String>(CSRF).await.map_err(unavailable)?
        {
            return Ok(token);
        }
        Ok(self.forms.issue().to_string())
    }

    /// Whether `presented` is this visitor's form token: the session's own
    /// (compared in constant time), or a signed one from a page this site
    /// rendered, which counts only while nobody is signed in on the session.
    pub async fn form_token_matches(&self, presented: &str) -> Result<bool, AppError> {
        let (expected, signed_in) = if self.has_cookie {
            let expected = self.session.get::<String>(CSRF).await.map_err(unavailable)?;
            let signed_in = self.session.get::<SignIn>(AUTH).await.map_err(unavailable)?.is_some();
            (expected, signed_in)
        } else {
            (None, false)
        };
        if expected.as_deref().is_some_and(|e| constant_time_eq(e, presented)) {
            return Ok(true);
        }
        Ok(!signed_in && self.forms.verify(presented))
    }

    /// The session's own token, for a signed-in visitor's API calls
    /// (`X-CSRF-Token`); signed form tokens do not count there.
    pub async fn session_token_matches(&self, presented: &str) -> Result<bool, AppError> {
        if !self.has_cookie {
            return Ok(false);
        }
        let expected = self.session.get::<String>(CSRF).await.map_err(unavailable)?;
        Ok(expected.is_some_and(|e| constant_time_eq(&e, presented)))
    }

    /// This visitor's cart id, created (with the session) when `create`.
    pub async fn cart_id(&self, create: bool) -> Result<Option<String>, AppError> {
        if self.has_cookie
            && let Some(id) = self.session.get::<String>(CART).await.map_err(unavailable)?
        {
            return Ok(Some(id));
        }
        if !create {
            return Ok(None);
        }
        let candidate = random_token();
        let id = match self.session.id() {
            // Another request of this session may be making one right now:
            // the first claim wins for both (see `CartStore::claim`).
            Some(session) => self
                .carts
                .claim(&session.to_string(), &candidate)
                .await
                .map_err(|e| AppError::Unavailable(e.to_string()))?,
            // A new session: no other request can know it yet.
            None => candidate,
        };
        self.store(CART, &id).await?;
        Ok(Some(id))
    }

    /// The key this session's orders are filed under: a hash of its cart
    /// id, which the session keeps from its first add until it ends (a
    /// sign-in keeps it, a sign-out ends it). Orders store the hash, not the
    /// id, so what an order row holds cannot open the cart.
    pub async fn owner_key(&self, create: bool) -> Result<Option<String>, AppError> {
        use sha2::{Digest, Sha256};
        let cart = self.cart_id(create).await?;
        Ok(cart.map(|id| crate::domain::order::hex(&Sha256::digest(format!("order-owner:{id}").as_bytes()))))
    }

    /// The cart now holds something: the session keeps the inactivity
    /// timeout from here on.
    pub async fn cart_kept(&self) -> Result<(), AppError> {
        if self.session.get::<bool>(CART_KEPT).await.map_err(unavailable)?.is_none() {
            self.session.insert(TOUCHED, Utc::now().timestamp()).await.map_err(unavailable)?;
            self.store(CART_KEPT, true).await?;
        }
        Ok(())
    }

    pub fn carts(&self) -> &CartStore {
        &self.carts
    }

    /// Items in the cart, for the header; 0 when it cannot be read.
    pub async fn cart_count(&self) -> u32 {
        match self.cart_id(false).await {
            Ok(Some(id)) => self.carts.count(&id).await.unwrap_or(0),
            _ => 0,
        }
    }

    pub async fn flash(&self, message: &str) -> Result<(), AppError> {
        self.store(FLASH, message).await
    }

    pub async fn take_flash(&self) -> Option<String> {
        if !self.has_cookie {
            return None;
        }
        // `remove` marks the session changed even when there is nothing to
        // remove, and a changed session is saved: look first, so reading a
        // page writes nothing.
        self.session.get::<String>(FLASH).await.ok().flatten()?;
        let flash = self.session.remove::<String>(FLASH).await.ok().flatten();
        self.set_expiry().await;
        flash
    }
}
