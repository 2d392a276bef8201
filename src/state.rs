//! The state every handler can reach; each handler extracts only the part it
//! needs (`State<DatabaseConnection>`, `State<PublicUrl>`).

use std::sync::Arc;

use axum::extract::FromRef;
use sea_orm::DatabaseConnection;

use crate::config::Settings;

/// The origin for absolute links, e.g. `http://127.0.0.1:3000`.
#[derive(Clone, Debug)]
pub struct PublicUrl(pub Arc<str>);

impl PublicUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, FromRef)]
pub struct AppState {
    /// The catalog database (SQLite or PostgreSQL).
    pub db: DatabaseConnection,
    /// Settings as loaded at start.
    pub settings: Arc<Settings>,
    /// Origin used in the API's `next` / `previous` links.
    pub public_url: PublicUrl,
}
