//! The state every handler can reach; each handler extracts only the part it
//! needs (`State<DatabaseConnection>`, `State<PublicUrl>`).

use std::sync::Arc;

use axum::extract::FromRef;
use sea_orm::DatabaseConnection;

use tower_sessions::SessionManagerLayer;

use crate::auth::Hasher;
use crate::auth::forms::FormSigner;
use crate::auth::store::AppSessionStore;
use crate::auth::throttle::Throttle;
use crate::cache::Cache;
use crate::config::Settings;
use crate::mail::Mailer;
use crate::media::Media;
use crate::services::cart::CartStore;

/// The origin for absolute links, e.g. `http://127.0.0.1:3000`.
#[derive(Clone, Debug)]
pub struct PublicUrl(pub Arc<str>);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Counts the SQL statements this instance has run for the catalog and the
/// accounts (tests and metrics); the cache's and the database session
/// store's own are not counted, so the count is the same with Redis or
/// without.
#[derive(Clone, Debug, Default)]
pub struct QueryCounter(Arc<std::sync::atomic::AtomicU64>);

impl QueryCounter {
    pub fn increment(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[derive(Clone, FromRef)]
pub struct AppState {
    /// The catalog database (SQLite or PostgreSQL).
    pub db: DatabaseConnection,
    /// SQL statements run so far.
    pub queries: QueryCounter,
    /// Login throttling counters (beside the sessions).
    pub throttle: Arc<Throttle>,
    /// Password hashing, with this app's bounded queue.
    pub hasher: Hasher,
    /// Shopping carts, beside the sessions.
    pub carts: Arc<CartStore>,
    /// Signs the form tokens of visitors without a session (a key shared
    /// through the database by every instance).
    pub forms: Arc<FormSigner>,
    /// The session layer (its store is Redis, the database or in-process).
    pub sessions: SessionManagerLayer<AppSessionStore>,
    /// The Redis fragment and API cache.
    pub cache: Cache,
    /// Sends the mail outbox; nudge it after a transaction that enqueued
    /// mail commits.
    pub mailer: Mailer,
    /// Product image files under MEDIA_DIR, and the threads that make them.
    pub media: Media,
    /// Settings as loaded at start.
    pub settings: Arc<Settings>,
    /// Origin used in the API's `next` / `previous` links.
    pub public_url: PublicUrl,
}
