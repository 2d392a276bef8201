//! Database settings: where the catalog lives (DATABASE_URL) and the pool
//! size (DATABASE_MAX_CONNECTIONS).
//!
//! A [`DatabaseUrl`] that exists names a supported database, and its `Debug`
//! never shows a password.

use std::path::PathBuf;

use super::env::Env;
use super::{ConfigError, Settings};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/storefront.db";

/// Where the catalog lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file; its parent directory is created if missing.
    Sqlite {
        url: String,
        path: Option<PathBuf>,
    },
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("sqlite:") {
            let rest = rest.trim_start_matches("//");
            let file = rest.split('?').next().unwrap_or("");
            if file.is_empty() {
                return Err("a SQLite URL needs a file, e.g. sqlite://data/storefront.db".into());
            }
            let path = (file != ":memory:").then(|| PathBuf::from(file));
            // `mode=rwc` creates the file on first start.
            let url = if rest.contains("mode=") {
                format!("sqlite://{rest}")
            } else if rest.contains('?') {
                format!("sqlite://{rest}&mode=rwc")
            } else {
                format!("sqlite://{rest}?mode=rwc")
            };
            Ok(DatabaseUrl::Sqlite { url, path })
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(raw.to_owned()))
        } else {
            let scheme = raw.split(':').next().unwrap_or(raw);
            Err(format!("unsupported scheme {scheme:?}; use sqlite://FILE or postgres://USER@HOST/DB"))
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            DatabaseUrl::Sqlite { url, .. } => url,
            DatabaseUrl::Postgres(url) => url,
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite { .. })
    }
}

/// Database URLs may carry a password: print the scheme and host only.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite { url, .. } => write!(f, "{url}"),
            DatabaseUrl::Postgres(url) => {
                let host = url.rsplit('@').next().unwrap_or("");
                let host = if url.contains('@') { host } else { url.trim_start_matches("postgres://") };
                write!(f, "postgres://…@{host}")
            }
        }
    }
}

/// DATABASE_URL, or the default SQLite file.
pub(super) fn url(env: &Env) -> Result<DatabaseUrl, ConfigError> {
    let url = env.read("DATABASE_URL", DatabaseUrl::parse)?;
    Ok(url.unwrap_or_else(|| DatabaseUrl::parse(DEFAULT_DATABASE_URL).expect("the default URL parses")))
}

/// The database settings besides the URL.
pub(super) fn read(env: &Env, settings: &mut Settings) -> Result<(), ConfigError> {
    let pool = env.number_in("DATABASE_MAX_CONNECTIONS", "a number", 1..=1000)?;
    settings.database_max_connections = pool.unwrap_or(settings.database_max_connections);
    Ok(())
}
