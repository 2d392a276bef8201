//! Typed settings, read once from the environment at start.
//!
//! Tests build a [`Settings`] directly and change its fields; nothing reads the
//! process environment after start. Every variable is read through one
//! helper, `Env` in `env.rs`, so an unset or blank variable always means the
//! default and a bad one always gives one [`ConfigError`] naming it.
//!
//! - `database.rs`: DATABASE_URL and the pool
//! - `server.rs`: listeners, public URL, proxies, timeouts, the hash queue
//! - `cache.rs`: REDIS_URL, CACHE_*, edge purges; Redis URL lists
//! - `sessions.rs`: SESSION_*
//! - `mail.rs`: SMTP_URL, MAIL_*
//! - `media.rs`: MEDIA_DIR

mod cache;
mod database;
mod env;
mod mail;
mod media;
mod server;
mod sessions;

use std::net::SocketAddr;
use std::time::Duration;

pub use cache::{CacheSettings, redis_nodes, redis_url_shown};
pub use database::{DEFAULT_DATABASE_URL, DatabaseUrl};
pub use mail::{DEFAULT_MAIL_DIR, DEFAULT_MAIL_FROM, MailSettings, SmtpUrl};
pub use media::DEFAULT_MEDIA_DIR;
pub use server::DEFAULT_ADDR;
pub use sessions::{SessionSettings, SessionStoreKind};

use env::Env;

#[derive(Clone, Debug)]
pub struct Settings {
    /// DATABASE_URL: SQLite file (the default) or PostgreSQL.
    pub database_url: DatabaseUrl,
    /// DATABASE_MAX_CONNECTIONS: pool size.
    pub database_max_connections: u32,
    /// STOREFRONT_ADDR: where `serve` listens; port 0 picks a free one.
    pub addr: SocketAddr,
    /// METRICS_ADDR: where `/metrics` (Prometheus text) is served, on a
    /// listener of its own so the public port and the edge cache never see
    /// it; port 0 picks a free one. Unset: metrics are not served at all.
    pub metrics_addr: Option<SocketAddr>,
    /// STOREFRONT_PUBLIC_URL: the origin used in absolute links (the API's
    /// `next`/`previous`). Taken from configuration, never from the Host
    /// header, so a cached body can never point clients at another host.
    /// Defaults to `http://` + the bound address.
    pub public_url: Option<String>,
    /// STOREFRONT_TRUSTED_PROXIES: addresses or networks (e.g. Varnish's)
    /// whose `X-Forwarded-For` names the client, for login throttling;
    /// none by default, so the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Fill an empty catalog with the demo shop at start. Not read from the
    /// environment: `serve` turns it on for SQLite, or with `--demo`.
    pub demo_catalog: bool,
    /// Cache settings (REDIS_URL, CACHE_*).
    pub cache: CacheSettings,
    /// Session settings (SESSION_*).
    pub sessions: SessionSettings,
    /// Mail settings (SMTP_URL, MAIL_*).
    pub mail: MailSettings,
    /// MEDIA_DIR: where product images are stored, by content hash.
    pub media_dir: std::path::PathBuf,
    /// Set when none of REDIS_URL, SESSION_REDIS_URL and SESSION_STORE is
    /// given: at start the default Redis is asked once, and when none
    /// answers the shop runs embedded (the cache in process; sessions,
    /// carts and throttles in the database). Settings built in code leave
    /// it off and get exactly what they name.
    pub embedded_unless_redis_answers: bool,
    /// STOREFRONT_BENCH_ROUTES: serve `/__bench/ceiling`, the load
    /// benchmark's reference route. Off unless asked for.
    pub bench_routes: bool,
    /// STOREFRONT_SHUTDOWN_GRACE_SECS: after SIGTERM, how long requests in
    /// flight may take to finish before the process exits anyway.
    pub shutdown_grace: Duration,
    /// STOREFRONT_HEADER_TIMEOUT_SECS: how long a client may take to send a
    /// request's headers (and how long an idle keep-alive connection stays
    /// open), so slow clients cannot hold connections without end.
    pub header_timeout: Duration,
    /// STOREFRONT_REQUEST_TIMEOUT_SECS: the most a request may take, body
    /// upload included, before it is answered 408.
    pub request_timeout: Duration,
    /// PASSWORD_HASH_QUEUE: how many password hashes (logins, registrations)
    /// may wait for a hashing thread; beyond that they are answered 503 with
    /// `Retry-After`, so a burst cannot queue up work without end.
    pub password_hash_queue: usize,
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
            metrics_addr: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            demo_catalog: false,
            cache: CacheSettings::default(),
            embedded_unless_redis_answers: false,
            sessions: SessionSettings::on_redis(CacheSettings::default().redis_url),
            mail: MailSettings::default(),
            media_dir: DEFAULT_MEDIA_DIR.into(),
            bench_routes: false,
            shutdown_grace: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            password_hash_queue: 16,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so the parsing is testable without
    /// touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let mut settings = Settings::with_database(database::url(&env)?);
        database::read(&env, &mut settings)?;
        server::read(&env, &mut settings)?;
        settings.cache = cache::read(&env)?;
        settings.sessions = sessions::read(&env, &settings.cache.redis_url, settings.public_url.as_deref())?;
        settings.mail = mail::read(&env)?;
        settings.media_dir = media::dir(&env)?;
        settings.embedded_unless_redis_answers =
            ["REDIS_URL", "SESSION_REDIS_URL", "SESSION_STORE"].into_iter().all(|var| env.string(var).is_none());
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_embedded_sqlite_on_localhost() {
        let s = load(&[]).unwrap();
        assert!(s.database_url.is_sqlite());
        assert_eq!(s.database_url.as_str(), "sqlite://data/storefront.db?mode=rwc");
        assert_eq!(s.addr.to_string(), "127.0.0.1:3000");
        assert_eq!(s.cache.key_prefix, "storefront");
        assert_eq!(s.cache.ttl_categories, Duration::from_secs(900));
        assert_eq!(s.cache.ttl_product_lists, Duration::from_secs(300));
        assert_eq!(s.cache.ttl_product_detail, Duration::from_secs(600));
        assert_eq!(s.media_dir, std::path::PathBuf::from("data/media"));
    }

    #[test]
    fn a_list_of_redis_nodes_is_a_cluster() {
        let s = load(&[("REDIS_URL", " redis://10.0.0.1:7000, redis://10.0.0.2:7001 ,"), ("REDIS_WAIT_REPLICAS", "1")])
            .unwrap();
        assert_eq!(s.cache.redis_url, "redis://10.0.0.1:7000,redis://10.0.0.2:7001");
        assert_eq!(s.sessions.redis_url, s.cache.redis_url, "sessions default to the cache's Redis");
        assert_eq!(s.cache.wait_replicas, 1);
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
        for (var, value) in [
            ("REDIS_URL", "localhost:6379"),
            ("REDIS_URL", "redis://10.0.0.1:7000,10.0.0.2:7001"),
            ("REDIS_URL", " , "),
            ("REDIS_WAIT_REPLICAS", "all"),
            ("SESSION_REDIS_URL", "redis://10.0.0.1:7000,redis+unix:///tmp/r.sock"),
            ("CACHE_ENABLED", "sometimes"),
            ("CACHE_KEY_PREFIX", "has space"),
            ("CACHE_VERSION", "v:1"),
            ("CACHE_TIMEOUT_MS", "0"),
            ("CACHE_TTL_PRODUCT_LISTS", "-5"),
            ("CACHE_LOCAL_MAX_MB", "lots"),
            ("STOREFRONT_BENCH_ROUTES", "maybe"),
            ("STOREFRONT_SHUTDOWN_GRACE_SECS", "forever"),
            ("STOREFRONT_HEADER_TIMEOUT_SECS", "0"),
            ("VARNISH_PURGE_URLS", "varnish:80"),
            ("STOREFRONT_TRUSTED_PROXIES", "10.0.0.0/8,varnish"),
            ("METRICS_ADDR", "9100"),
            ("METRICS_ADDR", "127.0.0.1:3000"),
            ("PASSWORD_HASH_QUEUE", "-1"),
            ("SESSION_STORE", "sqlite"),
            ("SMTP_URL", "mail.example.com:25"),
            ("MAIL_FROM", "shop"),
            ("MEDIA_DIR", "Cargo.toml"),
            ("MEDIA_DIR", "data/\u{7}media"),
        ] {
            assert_eq!(load(&[(var, value)]).unwrap_err().var, var, "{var}={value}");
        }
    }

    #[test]
    fn the_local_layer_and_bench_routes_are_set_by_name() {
        let s = load(&[]).unwrap();
        assert_eq!((s.cache.local_max_bytes, s.bench_routes), (64 << 20, false));
        let s = load(&[("CACHE_LOCAL_MAX_MB", "0"), ("STOREFRONT_BENCH_ROUTES", "on")]).unwrap();
        assert_eq!((s.cache.local_max_bytes, s.bench_routes), (0, true));
    }

    #[test]
    fn the_password_hash_queue_is_bounded_by_default() {
        assert_eq!(load(&[]).unwrap().password_hash_queue, 16);
        assert_eq!(load(&[("PASSWORD_HASH_QUEUE", "0")]).unwrap().password_hash_queue, 0);
    }

    #[test]
    fn metrics_are_served_only_when_given_an_address() {
        assert_eq!(load(&[]).unwrap().metrics_addr, None);
        let s = load(&[("METRICS_ADDR", " 127.0.0.1:9100 ")]).unwrap();
        assert_eq!(s.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
    }

    #[test]
    fn with_no_redis_named_the_shop_may_run_embedded() {
        let s = load(&[]).unwrap();
        assert!(s.embedded_unless_redis_answers);
        assert_eq!(s.sessions.store, SessionStoreKind::Redis, "the default Redis, when it answers");
        for var in ["REDIS_URL", "SESSION_REDIS_URL"] {
            assert!(!load(&[(var, "redis://10.0.0.1:6379")]).unwrap().embedded_unless_redis_answers, "{var}");
        }
        let s = load(&[("SESSION_STORE", " database ")]).unwrap();
        assert_eq!((s.sessions.store, s.embedded_unless_redis_answers), (SessionStoreKind::Database, false));
        let s = load(&[("SESSION_STORE", "memory")]).unwrap();
        assert_eq!((s.sessions.store, s.embedded_unless_redis_answers), (SessionStoreKind::Memory, false));
        let built = Settings::with_database(DatabaseUrl::parse("sqlite://x.db").unwrap());
        assert!(!built.embedded_unless_redis_answers, "settings built in code get what they name");
    }

    #[test]
    fn never_prints_a_database_password() {
        let s = load(&[("DATABASE_URL", "postgres://shop:hunter2@db:5432/shop")]).unwrap();
        let shown = format!("{:?}", s);
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
