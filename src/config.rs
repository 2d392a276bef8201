//! Typed settings, read once from the environment at start.
//!
//! Tests build a [`Settings`] directly and change its fields; nothing reads the
//! process environment after start.

use std::net::SocketAddr;
use std::path::PathBuf;

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
            Err(format!(
                "unsupported scheme {scheme:?}; use sqlite://FILE or postgres://USER@HOST/DB"
            ))
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
                let host = if url.contains('@') {
                    host
                } else {
                    url.trim_start_matches("postgres://")
                };
                write!(f, "postgres://…@{host}")
            }
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/storefront.db";
pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

#[derive(Clone, Debug)]
pub struct Settings {
    /// DATABASE_URL: SQLite file (the default) or PostgreSQL.
    pub database_url: DatabaseUrl,
    /// DATABASE_MAX_CONNECTIONS: pool size.
    pub database_max_connections: u32,
    /// STOREFRONT_ADDR: where `serve` listens; port 0 picks a free one.
    pub addr: SocketAddr,
    /// STOREFRONT_PUBLIC_URL: the origin used in absolute links (the API's
    /// `next`/`previous`). Taken from configuration, never from the Host
    /// header, so a cached body can never point clients at another host.
    /// Defaults to `http://` + the bound address.
    pub public_url: Option<String>,
    /// Fill an empty catalog with the demo shop at start. Not read from the
    /// environment: `serve` turns it on for SQLite, or with `--demo`.
    pub demo_catalog: bool,
}

/// One bad setting: the variable and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl Settings {
    /// Settings for local use and tests: embedded SQLite, default address.
    pub fn with_database(database_url: DatabaseUrl) -> Self {
        Settings {
            database_url,
            database_max_connections: 10,
            addr: DEFAULT_ADDR.parse().expect("constant address"),
            public_url: None,
            demo_catalog: false,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so the parsing is testable without
    /// touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let bad = |var: &'static str, problem: String| ConfigError { var, problem };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_url = DatabaseUrl::parse(&database_url).map_err(|p| bad("DATABASE_URL", p))?;
        let mut settings = Settings::with_database(database_url);

        if let Some(addr) = get("STOREFRONT_ADDR") {
            settings.addr = addr.trim().parse().map_err(|_| {
                bad(
                    "STOREFRONT_ADDR",
                    format!("{addr:?} is not an address like 127.0.0.1:3000"),
                )
            })?;
        }
        if let Some(n) = get("DATABASE_MAX_CONNECTIONS") {
            settings.database_max_connections = match n.trim().parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(bad(
                        "DATABASE_MAX_CONNECTIONS",
                        format!("{n:?} is not a number from 1 to 1000"),
                    ));
                }
            };
        }
        if let Some(url) = get("STOREFRONT_PUBLIC_URL") {
            let url = url.trim().trim_end_matches('/').to_owned();
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains('?') {
                return Err(bad(
                    "STOREFRONT_PUBLIC_URL",
                    format!("{url:?} is not an origin like https://shop.example"),
                ));
            }
            settings.public_url = Some(url);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_embedded_sqlite_on_localhost() {
        let s = load(&[]).unwrap();
        assert!(s.database_url.is_sqlite());
        assert_eq!(
            s.database_url.as_str(),
            "sqlite://data/storefront.db?mode=rwc"
        );
        assert_eq!(s.addr.to_string(), "127.0.0.1:3000");
    }

    #[test]
    fn names_the_variable_that_is_wrong() {
        let e = load(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_URL");
        let e = load(&[("STOREFRONT_ADDR", "nowhere")]).unwrap_err();
        assert_eq!(e.var, "STOREFRONT_ADDR");
        let e = load(&[("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(e.var, "DATABASE_MAX_CONNECTIONS");
        let e = load(&[("STOREFRONT_PUBLIC_URL", "shop.example")]).unwrap_err();
        assert_eq!(e.var, "STOREFRONT_PUBLIC_URL");
    }

    #[test]
    fn never_prints_a_database_password() {
        let s = load(&[("DATABASE_URL", "postgres://shop:hunter2@db:5432/shop")]).unwrap();
        let shown = format!("{:?}", s);
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
