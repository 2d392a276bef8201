//! Typed settings, read once from the environment at start.
//!
//! Tests build a [`Settings`] directly and change its fields; nothing reads the
//! process environment after start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// Where sessions live and how their cookie behaves.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    /// SESSION_STORE: `redis` (the default), `database` (sessions, carts
    /// and throttles in the shop's database: one or many instances, no
    /// Redis needed, kept across restarts) or `memory` (one process only;
    /// sessions end with the process).
    pub store: SessionStoreKind,
    /// SESSION_REDIS_URL: defaults to REDIS_URL.
    pub redis_url: String,
    /// SESSION_COOKIE_SECURE: defaults to whether STOREFRONT_PUBLIC_URL is https.
    pub cookie_secure: bool,
    /// SESSION_INACTIVITY_DAYS: a session unused this long ends.
    pub inactivity: Duration,
    /// SESSION_MAX_AGE_DAYS: a sign-in ends this long after it began,
    /// however busy the session has been.
    pub max_age: Duration,
    /// SESSION_ANONYMOUS_HOURS: how long a session that holds no sign-in and
    /// no cart lives (a flash message, a form token).
    pub anonymous_lifetime: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStoreKind {
    Redis,
    Database,
    Memory,
}

/// How the Redis cache behaves.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// REDIS_URL: the cache's Redis; several comma-separated nodes mean a
    /// Redis Cluster.
    pub redis_url: String,
    /// REDIS_WAIT_REPLICAS: how many replicas must hold an invalidation
    /// before it counts as applied (WAIT), so a failover cannot bring back a
    /// tag version it replaced; 0 (the default) does not wait.
    pub wait_replicas: u32,
    /// CACHE_ENABLED: `false` serves every request from the database
    /// (`X-Cache: BYPASS`), e.g. to measure the uncached path.
    pub enabled: bool,
    /// CACHE_KEY_PREFIX: first part of every key, so several apps (or tests)
    /// can share one Redis.
    pub key_prefix: String,
    /// CACHE_VERSION: bump to retire every cached entry at once.
    pub version: String,
    /// CACHE_TIMEOUT_MS: bound on each Redis call.
    pub timeout: Duration,
    /// CACHE_BREAKER_COOLDOWN_MS: how long a failing Redis is left alone.
    pub breaker_cooldown: Duration,
    /// CACHE_TTL_CATEGORIES, CACHE_TTL_PRODUCT_LISTS, CACHE_TTL_PRODUCT_DETAIL
    /// (seconds). Entries get up to 10% less, so entries filled together do
    /// not all expire together.
    pub ttl_categories: Duration,
    pub ttl_product_lists: Duration,
    pub ttl_product_detail: Duration,
    /// CACHE_OUTBOX_INTERVAL_MS: how often pending invalidations are retried.
    pub outbox_interval: Duration,
    /// CACHE_OUTBOX_RETENTION_SECS: how long applied invalidations stay in
    /// the outbox for caches that are away (a Redis that is down, another
    /// deployment's); one away longer retires everything it holds.
    pub outbox_retention: Duration,
    /// CACHE_LOCAL_MAX_MB: memory for the in-process layer in front of Redis
    /// (copies of hot entries, kept exact by Redis's invalidation pushes);
    /// 0 turns it off, so every hit asks Redis.
    pub local_max_bytes: u64,
    /// VARNISH_PURGE_URLS: the edge caches to purge by tag after each write
    /// (comma- or space-separated, e.g. `http://varnish-1:80`); none by
    /// default.
    pub purge_urls: Vec<String>,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            wait_replicas: 0,
            enabled: true,
            key_prefix: "storefront".to_owned(),
            version: "1".to_owned(),
            timeout: Duration::from_millis(75),
            breaker_cooldown: Duration::from_secs(3),
            ttl_categories: Duration::from_secs(15 * 60),
            ttl_product_lists: Duration::from_secs(5 * 60),
            ttl_product_detail: Duration::from_secs(10 * 60),
            outbox_interval: Duration::from_secs(1),
            outbox_retention: Duration::from_secs(24 * 3600),
            local_max_bytes: 64 * 1024 * 1024,
            purge_urls: Vec::new(),
        }
    }
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
            sessions: SessionSettings {
                store: SessionStoreKind::Redis,
                redis_url: CacheSettings::default().redis_url,
                cookie_secure: false,
                inactivity: Duration::from_secs(14 * 24 * 3600),
                max_age: Duration::from_secs(30 * 24 * 3600),
                anonymous_lifetime: Duration::from_secs(2 * 3600),
            },
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
        let get = |var: &'static str| lookup(var).filter(|v| !v.trim().is_empty());
        let bad = |var: &'static str, problem: String| ConfigError { var, problem };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_url = DatabaseUrl::parse(&database_url).map_err(|p| bad("DATABASE_URL", p))?;
        let mut settings = Settings::with_database(database_url);

        if let Some(addr) = get("STOREFRONT_ADDR") {
            settings.addr = addr
                .trim()
                .parse()
                .map_err(|_| bad("STOREFRONT_ADDR", format!("{addr:?} is not an address like 127.0.0.1:3000")))?;
        }
        if let Some(addr) = get("METRICS_ADDR") {
            let parsed: SocketAddr = addr
                .trim()
                .parse()
                .map_err(|_| bad("METRICS_ADDR", format!("{addr:?} is not an address like 127.0.0.1:9100")))?;
            if parsed == settings.addr && parsed.port() != 0 {
                return Err(bad(
                    "METRICS_ADDR",
                    format!("{addr:?} is STOREFRONT_ADDR; metrics need a port of their own"),
                ));
            }
            settings.metrics_addr = Some(parsed);
        }
        if let Some(n) = get("DATABASE_MAX_CONNECTIONS") {
            settings.database_max_connections = match n.trim().parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(bad("DATABASE_MAX_CONNECTIONS", format!("{n:?} is not a number from 1 to 1000")));
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
        if let Some(list) = get("STOREFRONT_TRUSTED_PROXIES") {
            settings.trusted_proxies = list
                .split([',', ' '])
                .filter(|item| !item.is_empty())
                .map(|item| {
                    item.parse::<ipnet::IpNet>()
                        .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                        .map_err(|_| {
                            bad("STOREFRONT_TRUSTED_PROXIES", format!("{item:?} is not an address or network"))
                        })
                })
                .collect::<Result<_, _>>()?;
        }
        settings.cache = cache_from(&get)?;
        settings.sessions.redis_url = settings.cache.redis_url.clone();
        settings.sessions.cookie_secure = settings.public_url.as_deref().is_some_and(|u| u.starts_with("https://"));
        if let Some(v) = get("SESSION_STORE") {
            settings.sessions.store = match v.trim() {
                "redis" => SessionStoreKind::Redis,
                "database" => SessionStoreKind::Database,
                "memory" => SessionStoreKind::Memory,
                other => return Err(bad("SESSION_STORE", format!("{other:?} is not redis, database or memory"))),
            };
        }
        settings.embedded_unless_redis_answers =
            ["REDIS_URL", "SESSION_REDIS_URL", "SESSION_STORE"].into_iter().all(|var| get(var).is_none());
        if let Some(url) = get("SESSION_REDIS_URL") {
            settings.sessions.redis_url = redis_url(&url, &["redis://", "rediss://"], "SESSION_REDIS_URL")?;
        }
        if let Some(v) = flag(&get, "SESSION_COOKIE_SECURE")? {
            settings.sessions.cookie_secure = v;
        }
        if let Some(v) = flag(&get, "STOREFRONT_BENCH_ROUTES")? {
            settings.bench_routes = v;
        }
        if let Some(secs) = seconds(&get, "STOREFRONT_SHUTDOWN_GRACE_SECS", 0..=600)? {
            settings.shutdown_grace = secs;
        }
        if let Some(secs) = seconds(&get, "STOREFRONT_HEADER_TIMEOUT_SECS", 1..=300)? {
            settings.header_timeout = secs;
        }
        if let Some(secs) = seconds(&get, "STOREFRONT_REQUEST_TIMEOUT_SECS", 1..=600)? {
            settings.request_timeout = secs;
        }
        if let Some(v) = get("PASSWORD_HASH_QUEUE") {
            settings.password_hash_queue = match v.trim().parse::<usize>() {
                Ok(n) if n <= 10_000 => n,
                _ => {
                    return Err(bad("PASSWORD_HASH_QUEUE", format!("{v:?} is not a number of hashes from 0 to 10000")));
                }
            };
        }
        if let Some(v) = get("SESSION_INACTIVITY_DAYS") {
            settings.sessions.inactivity = match v.trim().parse::<u64>() {
                Ok(days) if (1..=365).contains(&days) => Duration::from_secs(days * 24 * 3600),
                _ => {
                    return Err(bad("SESSION_INACTIVITY_DAYS", format!("{v:?} is not a number of days from 1 to 365")));
                }
            };
        }
        if let Some(v) = get("SESSION_MAX_AGE_DAYS") {
            settings.sessions.max_age = match v.trim().parse::<u64>() {
                Ok(days) if (1..=365).contains(&days) => Duration::from_secs(days * 24 * 3600),
                _ => return Err(bad("SESSION_MAX_AGE_DAYS", format!("{v:?} is not a number of days from 1 to 365"))),
            };
        }
        if let Some(v) = get("SESSION_ANONYMOUS_HOURS") {
            settings.sessions.anonymous_lifetime = match v.trim().parse::<u64>() {
                Ok(hours) if (1..=720).contains(&hours) => Duration::from_secs(hours * 3600),
                _ => {
                    return Err(bad(
                        "SESSION_ANONYMOUS_HOURS",
                        format!("{v:?} is not a number of hours from 1 to 720"),
                    ));
                }
            };
        }
        Ok(settings)
    }
}

/// A Redis URL list as it may be printed: any password replaced by `***`.
pub fn redis_url_shown(url: &str) -> String {
    redis_nodes(url)
        .map(|node| match (node.split_once("://"), node.rfind('@')) {
            (Some((scheme, _)), Some(at)) if at > scheme.len() => format!("{scheme}://***@{}", &node[at + 1..]),
            _ => node.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The nodes of a Redis URL list: one server, or several nodes of a cluster.
pub fn redis_nodes(url: &str) -> impl Iterator<Item = &str> {
    url.split(',').map(str::trim).filter(|n| !n.is_empty())
}

/// A Redis URL, or a comma-separated list of cluster nodes, each with one of
/// `schemes`.
fn redis_url(url: &str, schemes: &[&str], var: &'static str) -> Result<String, ConfigError> {
    let url = url.trim();
    let nodes: Vec<&str> = redis_nodes(url).collect();
    let bad = |problem: String| ConfigError { var, problem };
    if nodes.is_empty() {
        return Err(bad(format!("{url:?} is not a URL like redis://127.0.0.1:6379")));
    }
    if let Some(node) = nodes.iter().find(|n| !schemes.iter().any(|s| n.starts_with(s))) {
        return Err(bad(format!("{node:?} is not a URL like redis://127.0.0.1:6379")));
    }
    if nodes.len() > 1 && nodes.iter().any(|n| n.starts_with("redis+unix://")) {
        return Err(bad("a cluster's nodes are reached over TCP, not a unix socket".into()));
    }
    Ok(nodes.join(","))
}

/// A boolean variable: absent, or one of the usual spellings of yes and no.
fn flag(get: &impl Fn(&'static str) -> Option<String>, var: &'static str) -> Result<Option<bool>, ConfigError> {
    let Some(v) = get(var) else { return Ok(None) };
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(Some(true)),
        "0" | "false" | "no" | "off" => Ok(Some(false)),
        _ => Err(ConfigError { var, problem: format!("{v:?} is not true or false") }),
    }
}

/// A whole number of seconds within `range`.
fn seconds(
    get: &impl Fn(&'static str) -> Option<String>,
    var: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<Duration>, ConfigError> {
    let Some(v) = get(var) else { return Ok(None) };
    match v.trim().parse::<u64>() {
        Ok(secs) if range.contains(&secs) => Ok(Some(Duration::from_secs(secs))),
        _ => Err(ConfigError {
            var,
            problem: format!("{v:?} is not a number of seconds from {} to {}", range.start(), range.end()),
        }),
    }
}

fn cache_from(get: &impl Fn(&'static str) -> Option<String>) -> Result<CacheSettings, ConfigError> {
    let mut c = CacheSettings::default();
    let bad = |var: &'static str, problem: String| ConfigError { var, problem };
    if let Some(url) = get("REDIS_URL") {
        c.redis_url = redis_url(&url, &["redis://", "rediss://", "redis+unix://"], "REDIS_URL")?;
    }
    if let Some(v) = get("REDIS_WAIT_REPLICAS") {
        c.wait_replicas = match v.trim().parse::<u32>() {
            Ok(n) if n <= 5 => n,
            _ => return Err(bad("REDIS_WAIT_REPLICAS", format!("{v:?} is not a number of replicas from 0 to 5"))),
        };
    }
    if let Some(v) = flag(get, "CACHE_ENABLED")? {
        c.enabled = v;
    }
    if let Some(v) = get("CACHE_KEY_PREFIX") {
        let v = v.trim();
        if v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
            return Err(bad("CACHE_KEY_PREFIX", format!("{v:?} must be 1-64 letters, digits, '-', '_' or '.'")));
        }
        c.key_prefix = v.to_owned();
    }
    if let Some(v) = get("CACHE_VERSION") {
        let v = v.trim();
        if v.len() > 32 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
            return Err(bad("CACHE_VERSION", format!("{v:?} must be 1-32 letters, digits, '-', '_' or '.'")));
        }
        c.version = v.to_owned();
    }
    let duration = |var: &'static str,
                    unit_ms: u64,
                    range: std::ops::RangeInclusive<u64>|
     -> Result<Option<Duration>, ConfigError> {
        match get(var) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if range.contains(&n) => Ok(Some(Duration::from_millis(n * unit_ms))),
                _ => Err(bad(var, format!("{v:?} is not a whole number from {} to {}", range.start(), range.end()))),
            },
        }
    };
    if let Some(d) = duration("CACHE_TIMEOUT_MS", 1, 1..=60_000)? {
        c.timeout = d;
    }
    if let Some(d) = duration("CACHE_BREAKER_COOLDOWN_MS", 1, 10..=600_000)? {
        c.breaker_cooldown = d;
    }
    if let Some(d) = duration("CACHE_OUTBOX_INTERVAL_MS", 1, 10..=600_000)? {
        c.outbox_interval = d;
    }
    if let Some(d) = duration("CACHE_OUTBOX_RETENTION_SECS", 1000, 1..=30 * 86_400)? {
        c.outbox_retention = d;
    }
    if let Some(v) = get("CACHE_LOCAL_MAX_MB") {
        c.local_max_bytes = match v.trim().parse::<u64>() {
            Ok(mb) if mb <= 65_536 => mb * 1024 * 1024,
            _ => return Err(bad("CACHE_LOCAL_MAX_MB", format!("{v:?} is not a whole number of MB from 0 to 65536"))),
        };
    }
    if let Some(v) = get("VARNISH_PURGE_URLS") {
        for url in v.split([',', ' ']).filter(|u| !u.is_empty()) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad("VARNISH_PURGE_URLS", format!("{url:?} is not a URL like http://varnish:80")));
            }
            c.purge_urls.push(url.trim_end_matches('/').to_owned());
        }
    }
    if let Some(d) = duration("CACHE_TTL_CATEGORIES", 1000, 1..=604_800)? {
        c.ttl_categories = d;
    }
    if let Some(d) = duration("CACHE_TTL_PRODUCT_LISTS", 1000, 1..=604_800)? {
        c.ttl_product_lists = d;
    }
    if let Some(d) = duration("CACHE_TTL_PRODUCT_DETAIL", 1000, 1..=604_800)? {
        c.ttl_product_detail = d;
    }
    Ok(c)
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
    fn redis_passwords_are_never_shown() {
        assert_eq!(redis_url_shown("redis://:hunter2@cache:6379/0"), "redis://***@cache:6379/0");
        assert_eq!(redis_url_shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redis_url_shown("rediss://u:p@a:7000,rediss://u:p@b:7001"),
            "rediss://***@a:7000,rediss://***@b:7001"
        );
    }

    #[test]
    fn never_prints_a_database_password() {
        let s = load(&[("DATABASE_URL", "postgres://shop:hunter2@db:5432/shop")]).unwrap();
        let shown = format!("{:?}", s);
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
