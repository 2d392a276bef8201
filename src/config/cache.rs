//! Cache settings (REDIS_URL, REDIS_WAIT_REPLICAS, CACHE_*,
//! VARNISH_PURGE_URLS), and the Redis URL lists the cache and the sessions
//! share.
//!
//! A Redis URL as stored is normalised: nodes trimmed, joined by commas.
//! Anything that prints one goes through [`redis_url_shown`], which hides
//! passwords.

use std::time::Duration;

use super::ConfigError;
use super::env::{Env, MILLISECOND, SECOND, is_http};

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
    /// CACHE_NAIVE_STOCK_INVALIDATION: `true` makes every order retire the
    /// product and every listing, as shops that purge by product and
    /// category do. Only for the benchmark's comparison; never in a shop.
    pub naive_stock_invalidation: bool,
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
            naive_stock_invalidation: false,
        }
    }
}

/// Reads the cache settings over the defaults.
pub(super) fn read(env: &Env) -> Result<CacheSettings, ConfigError> {
    let mut c = CacheSettings::default();
    if let Some(url) = env.read("REDIS_URL", |v| redis_url(v, &["redis://", "rediss://", "redis+unix://"]))? {
        c.redis_url = url;
    }
    c.wait_replicas = env.number_in("REDIS_WAIT_REPLICAS", "a number of replicas", 0..=5)?.unwrap_or(c.wait_replicas);
    c.enabled = env.flag("CACHE_ENABLED")?.unwrap_or(c.enabled);
    c.naive_stock_invalidation = env.flag("CACHE_NAIVE_STOCK_INVALIDATION")?.unwrap_or(c.naive_stock_invalidation);
    if let Some(prefix) = env.read("CACHE_KEY_PREFIX", |v| key_part(v, 64))? {
        c.key_prefix = prefix;
    }
    if let Some(version) = env.read("CACHE_VERSION", |v| key_part(v, 32))? {
        c.version = version;
    }

    let duration = |var: &'static str, unit, range| env.duration_in(var, unit, "a whole number", range);
    c.timeout = duration("CACHE_TIMEOUT_MS", MILLISECOND, 1..=60_000)?.unwrap_or(c.timeout);
    c.breaker_cooldown =
        duration("CACHE_BREAKER_COOLDOWN_MS", MILLISECOND, 10..=600_000)?.unwrap_or(c.breaker_cooldown);
    c.outbox_interval = duration("CACHE_OUTBOX_INTERVAL_MS", MILLISECOND, 10..=600_000)?.unwrap_or(c.outbox_interval);
    let retention = duration("CACHE_OUTBOX_RETENTION_SECS", SECOND, 1..=30 * 86_400)?;
    c.outbox_retention = retention.unwrap_or(c.outbox_retention);

    let local_mb = env.number_in("CACHE_LOCAL_MAX_MB", "a whole number of MB", 0..=65_536_u64)?;
    c.local_max_bytes = local_mb.map_or(c.local_max_bytes, |mb| mb * 1024 * 1024);
    let purge = env.list("VARNISH_PURGE_URLS", "a URL like http://varnish:80", |url| {
        is_http(url).then(|| url.trim_end_matches('/').to_owned())
    })?;
    c.purge_urls = purge.unwrap_or_default();

    let ttl = |var| duration(var, SECOND, 1..=604_800);
    c.ttl_categories = ttl("CACHE_TTL_CATEGORIES")?.unwrap_or(c.ttl_categories);
    c.ttl_product_lists = ttl("CACHE_TTL_PRODUCT_LISTS")?.unwrap_or(c.ttl_product_lists);
    c.ttl_product_detail = ttl("CACHE_TTL_PRODUCT_DETAIL")?.unwrap_or(c.ttl_product_detail);
    Ok(c)
}

/// A part of every cache key (the prefix, the version): at most `max`
/// characters that need no escaping.
fn key_part(value: &str, max: usize) -> Result<String, String> {
    let v = value.trim();
    if v.len() > max || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
        return Err(format!("{v:?} must be 1-{max} letters, digits, '-', '_' or '.'"));
    }
    Ok(v.to_owned())
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
pub(super) fn redis_url(url: &str, schemes: &[&str]) -> Result<String, String> {
    let url = url.trim();
    let nodes: Vec<&str> = redis_nodes(url).collect();
    if nodes.is_empty() {
        return Err(format!("{url:?} is not a URL like redis://127.0.0.1:6379"));
    }
    if let Some(node) = nodes.iter().find(|n| !schemes.iter().any(|s| n.starts_with(s))) {
        return Err(format!("{node:?} is not a URL like redis://127.0.0.1:6379"));
    }
    if nodes.len() > 1 && nodes.iter().any(|n| n.starts_with("redis+unix://")) {
        return Err("a cluster's nodes are reached over TCP, not a unix socket".into());
    }
    Ok(nodes.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_passwords_are_never_shown() {
        assert_eq!(redis_url_shown("redis://:hunter2@cache:6379/0"), "redis://***@cache:6379/0");
        assert_eq!(redis_url_shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redis_url_shown("rediss://u:p@a:7000,rediss://u:p@b:7001"),
            "rediss://***@a:7000,rediss://***@b:7001"
        );
    }
}
