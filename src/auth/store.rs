//! The session store: Redis (shared by every instance, survives restarts),
//! the shop's own database (the same, for a shop without Redis), or an
//! in-process store (one process; sessions end with it).

use std::time::Duration;

use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, MemoryStore, SessionManagerLayer, cookie::SameSite};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Expiration, KeysInterface, Pool, SetOptions};
use tower_sessions_redis_store::fred::types::config::{
    ConnectionConfig, PerformanceConfig, ReconnectPolicy, ServerConfig,
};

use crate::config::{SessionSettings, SessionStoreKind};
use crate::stores::sessions::DbSessions;

/// The session cookie's name: ours, not a framework default.
pub const COOKIE_NAME: &str = "storefront_session";

#[derive(Debug, Clone)]
pub enum AppSessionStore {
    Redis(RedisStore<Pool>, Pool),
    Database(DbSessions),
    Memory(MemoryStore),
}

fn redis_failure(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl SessionStore for AppSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            AppSessionStore::Redis(s, _) => s.create(record).await,
            AppSessionStore::Database(s) => s.create(record).await,
            AppSessionStore::Memory(s) => s.create(record).await,
        }
    }

    /// Saves only a session that still exists. The Redis store's own save
    /// (`SET … XX`) fails on the nil reply when the session was deleted
    /// while the request ran (a logout in another tab), which turned that
    /// request into a 503; here the request goes on, and the visitor is
    /// signed out from the next one, as the logout asked.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            AppSessionStore::Redis(_, pool) => {
                let expire = Expiration::EXAT(record.expiry_date.unix_timestamp());
                let bytes = rmp_serde::to_vec(record).map_err(redis_failure)?;
                let saved: Option<String> = pool
                    .set(record.id.to_string(), bytes.as_slice(), Some(expire), Some(SetOptions::XX), false)
                    .await
                    .map_err(redis_failure)?;
                if saved.is_none() {
                    tracing::debug!("session deleted while the request ran: not saved again");
                }
                Ok(())
            }
            // The same rule in the database and in process: a deleted
            // session stays deleted.
            AppSessionStore::Database(s) => s.save(record).await,
            AppSessionStore::Memory(s) => match s.load(&record.id).await? {
                Some(_) => s.save(record).await,
                None => Ok(()),
            },
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            AppSessionStore::Redis(s, _) => s.load(id).await,
            AppSessionStore::Database(s) => s.load(id).await,
            AppSessionStore::Memory(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            AppSessionStore::Redis(s, _) => s.delete(id).await,
            AppSessionStore::Database(s) => s.delete(id).await,
            AppSessionStore::Memory(s) => s.delete(id).await,
        }
    }
}

/// A Redis pool that fails fast while disconnected (a login then gets a clear
/// 503 instead of hanging) and reconnects on its own.
pub fn redis_pool(url: &str) -> Result<Pool, String> {
    let mut config = redis_config(url)?;
    config.fail_fast = true;
    let perf = PerformanceConfig { default_command_timeout: Duration::from_millis(500), ..Default::default() };
    let connection = ConnectionConfig {
        connection_timeout: Duration::from_millis(500),
        internal_command_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let policy = ReconnectPolicy::new_exponential(0, 100, 2_000, 2);
    let pool = Pool::new(config, Some(perf), Some(connection), Some(policy), 4).map_err(|e| e.to_string())?;
    // Connect in the background: the shop starts even while Redis is down.
    drop(pool.connect());
    Ok(pool)
}

/// One server, or a Redis Cluster when the URL lists several nodes (their
/// credentials are the first node's; the client discovers the rest).
fn redis_config(url: &str) -> Result<Config, String> {
    let parse = |node: &str| Config::from_url(node).map_err(|e| format!("SESSION_REDIS_URL: {node:?}: {e}"));
    let nodes: Vec<&str> = crate::config::redis_nodes(url).collect();
    let mut config = parse(nodes.first().copied().unwrap_or(url))?;
    if nodes.len() > 1 {
        let mut hosts = Vec::new();
        for node in &nodes {
            hosts.extend(parse(node)?.server.hosts().into_iter().map(|h| (h.host.to_string(), h.port)));
        }
        config.server = ServerConfig::new_clustered(hosts);
    }
    Ok(config)
}

pub fn store(settings: &SessionSettings, pool: Option<Pool>, db: &sea_orm::DatabaseConnection) -> AppSessionStore {
    match (settings.store, pool) {
        (SessionStoreKind::Redis, Some(pool)) => AppSessionStore::Redis(RedisStore::new(pool.clone()), pool),
        (SessionStoreKind::Database, _) => AppSessionStore::Database(DbSessions::new(db.clone())),
        _ => AppSessionStore::Memory(MemoryStore::default()),
    }
}

pub fn layer(settings: &SessionSettings, store: AppSessionStore) -> SessionManagerLayer<AppSessionStore> {
    // A new session starts with the shortest lifetime; `AuthSession` sets
    // the one its contents call for whenever it changes them.
    let anonymous = tower_sessions::cookie::time::Duration::seconds(settings.anonymous_lifetime.as_secs() as i64);
    SessionManagerLayer::new(store)
        .with_name(COOKIE_NAME)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(settings.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(anonymous))
}
