//! Where the cache and the sessions live: Redis as configured, or, with no
//! Redis configured and none answering on localhost, the embedded shop (the
//! cache in this process; sessions, carts and throttle counters in the
//! database). The start line that says which is written here too.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower_sessions::SessionManagerLayer;

use super::StartupError;
use crate::auth::store::{self, AppSessionStore};
use crate::auth::throttle::Throttle;
use crate::cache::Cache;
use crate::config::{CacheSettings, SessionStoreKind, Settings, redis_url_shown};
use crate::services::cart::CartStore;
use crate::stores::carts::DbCarts;
use crate::stores::throttles::DbThrottle;

/// The Redis asked for when none is configured.
pub const DEFAULT_REDIS_ADDR: &str = "127.0.0.1:6379";
/// How long that Redis has to answer before the shop starts without it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// The session layer, the throttle and the carts, all in the session store.
pub(super) struct SessionParts {
    pub layer: SessionManagerLayer<AppSessionStore>,
    pub throttle: Arc<Throttle>,
    pub carts: Arc<CartStore>,
}

/// `db` serves the database store; give it a connection whose queries are
/// not counted, as the cache's are not (the counter measures what the
/// catalog and the accounts cost, with Redis or without).
pub(super) fn sessions(settings: &Settings, db: &DatabaseConnection) -> Result<SessionParts, StartupError> {
    let s = &settings.sessions;
    let pool = match s.store {
        SessionStoreKind::Redis => Some(store::redis_pool(&s.redis_url).map_err(StartupError::Sessions)?),
        SessionStoreKind::Database | SessionStoreKind::Memory => None,
    };
    let prefix = settings.cache.key_prefix.clone();
    let (throttle, carts) = match (s.store, &pool) {
        (SessionStoreKind::Redis, Some(pool)) => (
            Throttle::Redis { pool: pool.clone(), prefix: prefix.clone() },
            CartStore::Redis { pool: pool.clone(), prefix, ttl: s.inactivity },
        ),
        (SessionStoreKind::Database, _) => (
            Throttle::Database(DbThrottle::new(db.clone())),
            CartStore::Database(DbCarts::new(db.clone(), s.inactivity)),
        ),
        _ => (Throttle::Memory(Default::default()), CartStore::Memory(Default::default(), Default::default())),
    };
    Ok(SessionParts {
        layer: store::layer(s, store::store(s, pool, db)),
        throttle: Arc::new(throttle),
        carts: Arc::new(carts),
    })
}

/// Whether a Redis answers at `addr` within [`PROBE_TIMEOUT`]: any reply
/// to a PING counts, an error too (a Redis that wants a password is still
/// the one this shop was meant to use).
pub async fn redis_answers(addr: &str) -> bool {
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).await.ok()?;
        Some(matches!(first[0], b'+' | b'-'))
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, ask).await, Ok(Some(true)))
}

/// Decides whether the shop runs embedded (see the module header); when it
/// does, sessions, carts and throttles go to the database.
pub(super) async fn runs_embedded(settings: &mut Settings) -> bool {
    if !settings.embedded_unless_redis_answers || redis_answers(DEFAULT_REDIS_ADDR).await {
        return false;
    }
    settings.sessions.store = SessionStoreKind::Database;
    true
}

/// The cache of the embedded shop, held in this process.
pub(super) fn embedded_cache(settings: &CacheSettings, db: DatabaseConnection) -> Result<Cache, StartupError> {
    Cache::in_process(settings, db).map_err(StartupError::Cache)
}

/// The start line that says where the cache and the sessions live.
pub fn placement(settings: &Settings, embedded: bool) -> String {
    if embedded {
        return format!(
            "cache: in this process; sessions, carts and throttles: in the database \
             (no Redis configured, none on {DEFAULT_REDIS_ADDR})"
        );
    }
    let cache = if settings.cache.enabled {
        format!("Redis at {}", redis_url_shown(&settings.cache.redis_url))
    } else {
        "off (CACHE_ENABLED=false)".to_owned()
    };
    let sessions = match settings.sessions.store {
        SessionStoreKind::Redis => format!("Redis at {}", redis_url_shown(&settings.sessions.redis_url)),
        SessionStoreKind::Database => "in the database".to_owned(),
        SessionStoreKind::Memory => "in this process (they end with it)".to_owned(),
    };
    format!("cache: {cache}; sessions, carts and throttles: {sessions}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;
    use tokio::net::TcpListener;

    fn settings() -> Settings {
        Settings::with_database(DatabaseUrl::parse("sqlite://shop.db").unwrap())
    }

    #[test]
    fn the_start_line_says_where_the_cache_and_the_sessions_live_and_shows_no_password() {
        let mut s = settings();
        assert_eq!(
            placement(&s, true),
            "cache: in this process; sessions, carts and throttles: in the database \
             (no Redis configured, none on 127.0.0.1:6379)"
        );
        s.cache.redis_url = "redis://:hunter2@cache:6379".into();
        s.sessions.redis_url = "redis://:hunter2@sessions:6379".into();
        let line = placement(&s, false);
        assert_eq!(
            line,
            "cache: Redis at redis://***@cache:6379; sessions, carts and throttles: Redis at redis://***@sessions:6379"
        );
        s.sessions.store = SessionStoreKind::Database;
        s.cache.enabled = false;
        assert_eq!(
            placement(&s, false),
            "cache: off (CACHE_ENABLED=false); sessions, carts and throttles: in the database"
        );
    }

    #[tokio::test]
    async fn only_a_server_that_answers_a_ping_counts_as_a_redis() {
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let nobody = closed.local_addr().unwrap().to_string();
        drop(closed);
        assert!(!redis_answers(&nobody).await, "nothing listens");

        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap().to_string();
        let held = tokio::spawn(async move {
            let (conn, _) = silent.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(conn);
        });
        let started = std::time::Instant::now();
        assert!(!redis_answers(&silent_addr).await, "a server that says nothing");
        assert!(started.elapsed() < Duration::from_secs(1), "the probe gives up quickly");
        held.abort();

        let redis = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redis_addr = redis.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut conn, _) = redis.accept().await.unwrap();
            let mut ping = [0u8; 6];
            conn.read_exact(&mut ping).await.unwrap();
            conn.write_all(b"+PONG\r\n").await.unwrap();
        });
        assert!(redis_answers(&redis_addr).await);
    }
}
