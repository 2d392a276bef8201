//! The typed session facade: who is signed in, CSRF tokens and flash
//! messages. `login` gives the session a new id and `logout` deletes it, so
//! an id known before a sign-in is worth nothing after it (no fixation).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use std::sync::Arc;

use crate::error::AppError;
use crate::services::cart::CartStore;
use crate::state::AppState;

const USER: &str = "user";
const CSRF: &str = "csrf";
const FLASH: &str = "flash";
const CART: &str = "cart";

/// Who is signed in, as kept in the session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    pub id: i32,
    pub email: String,
    pub is_admin: bool,
}

pub struct AuthSession {
    session: Session,
    /// Whether the request carried our session cookie at all.
    has_cookie: bool,
    carts: Arc<CartStore>,
}

fn unavailable(e: tower_sessions::session::Error) -> AppError {
    AppError::Unavailable(format!("session store: {e}"))
}

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| AppError::Internal(format!("session layer missing: {msg}")))?;
        Ok(AuthSession { session, has_cookie, carts: state.carts.clone() })
    }
}

impl AuthSession {
    /// Whether this visitor has a session: their pages are private.
    pub fn has_cookie(&self) -> bool {
        self.has_cookie
    }

    pub async fn user(&self) -> Result<Option<SessionUser>, AppError> {
        if !self.has_cookie {
            return Ok(None);
        }
        self.session.get(USER).await.map_err(unavailable)
    }

    /// The signed-in user for the page layout. A session store that cannot
    /// be read shows the page as to a visitor rather than failing it.
    pub async fn user_for_layout(&self) -> Option<SessionUser> {
        match self.user().await {
            Ok(user) => user,
            Err(e) => {
                tracing::warn!(error = %e, "session unreadable: page shown signed out");
                None
            }
        }
    }

    pub async fn login(&self, user: SessionUser) -> Result<(), AppError> {
        self.session.cycle_id().await.map_err(unavailable)?;
        self.session.insert(USER, user).await.map_err(unavailable)?;
        self.session.insert(CSRF, random_token()).await.map_err(unavailable)
    }

    /// Ends the session: deleted from the store, cookie removed.
    pub async fn logout(&self) -> Result<(), AppError> {
        self.session.flush().await.map_err(unavailable)
    }

    /// The session's CSRF token, created (and the session with it) if needed.
    pub async fn csrf_token(&self) -> Result<String, AppError> {
        if let Some(token) = self.session.get::<String>(CSRF).await.map_err(unavailable)? {
            return Ok(token);
        }
        let token = random_token();
        self.session.insert(CSRF, &token).await.map_err(unavailable)?;
        Ok(token)
    }

    /// Compares in constant time; a visitor without a session has no token.
    pub async fn csrf_matches(&self, presented: &str) -> Result<bool, AppError> {
        if !self.has_cookie {
            return Ok(false);
        }
        let Some(expected) = self.session.get::<String>(CSRF).await.map_err(unavailable)? else {
            return Ok(false);
        };
        let (a, b) = (expected.as_bytes(), presented.as_bytes());
        Ok(a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0)
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
        let id = random_token();
        self.session.insert(CART, &id).await.map_err(unavailable)?;
        Ok(Some(id))
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
        self.session.insert(FLASH, message).await.map_err(unavailable)
    }

    pub async fn take_flash(&self) -> Option<String> {
        if !self.has_cookie {
            return None;
        }
        self.session.remove::<String>(FLASH).await.ok().flatten()
    }
}
