//! Session settings (SESSION_*): where sessions live, and how long they and
//! their cookie last.
//!
//! Unless told otherwise, sessions use the cache's Redis, and their cookie is
//! `Secure` exactly when the shop's public URL is https.

use std::time::Duration;

use super::ConfigError;
use super::cache::redis_url;
use super::env::{DAY, Env, HOUR};

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

impl SessionSettings {
    /// The defaults: sessions in the Redis at `redis_url`, a cookie that is
    /// not `Secure`.
    pub(super) fn on_redis(redis_url: String) -> Self {
        SessionSettings {
            store: SessionStoreKind::Redis,
            redis_url,
            cookie_secure: false,
            inactivity: 14 * DAY,
            max_age: 30 * DAY,
            anonymous_lifetime: 2 * HOUR,
        }
    }
}

/// Reads the session settings over defaults drawn from the cache's Redis URL
/// and the shop's public URL.
pub(super) fn read(env: &Env, cache_redis_url: &str, public_url: Option<&str>) -> Result<SessionSettings, ConfigError> {
    let mut s = SessionSettings::on_redis(cache_redis_url.to_owned());
    s.cookie_secure = public_url.is_some_and(|u| u.starts_with("https://"));
    let store = env.read("SESSION_STORE", |v| match v.trim() {
        "redis" => Ok(SessionStoreKind::Redis),
        "database" => Ok(SessionStoreKind::Database),
        "memory" => Ok(SessionStoreKind::Memory),
        other => Err(format!("{other:?} is not redis, database or memory")),
    })?;
    s.store = store.unwrap_or(s.store);
    // The sessions' Redis client is built without unix sockets: TCP only.
    if let Some(url) = env.read("SESSION_REDIS_URL", |v| redis_url(v, &["redis://", "rediss://"]))? {
        s.redis_url = url;
    }
    s.cookie_secure = env.flag("SESSION_COOKIE_SECURE")?.unwrap_or(s.cookie_secure);

    let days = |var| env.duration_in(var, DAY, "a number of days", 1..=365);
    s.inactivity = days("SESSION_INACTIVITY_DAYS")?.unwrap_or(s.inactivity);
    s.max_age = days("SESSION_MAX_AGE_DAYS")?.unwrap_or(s.max_age);
    let hours = env.duration_in("SESSION_ANONYMOUS_HOURS", HOUR, "a number of hours", 1..=720)?;
    s.anonymous_lifetime = hours.unwrap_or(s.anonymous_lifetime);
    Ok(s)
}
