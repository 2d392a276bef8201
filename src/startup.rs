//! Building the application: decide where the cache and the sessions live,
//! connect, migrate, (maybe) seed the demo catalog, assemble state and
//! router, bind the listeners (the shop's, and the metrics one when
//! METRICS_ADDR is set). Tests call [`Application::build`] with port 0 and
//! read the real ports back.
//!
//! With no Redis configured (none of REDIS_URL, SESSION_REDIS_URL,
//! SESSION_STORE) the default Redis is asked once; when none answers, the
//! shop runs embedded: the cache in this process, sessions, carts and
//! throttle counters in the database. A Redis that is configured and down
//! is never replaced: the shop degrades as it always has (pages from the
//! database, sign-ins refused with 503) until it is back. One log line at
//! start says which it is.

use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cache::Cache;
use tower_sessions::SessionManagerLayer;

use crate::auth::Hasher;
use crate::auth::forms::FormSigner;
use crate::auth::store::{self, AppSessionStore};
use crate::auth::throttle::Throttle;
use crate::config::{CacheSettings, DatabaseUrl, SessionStoreKind, Settings, redis_url_shown};
use crate::routes;
use crate::seed::{self, SeedPlan};
use crate::server::Deadlines;
use crate::services::cart::CartStore;
use crate::state::{AppState, PublicUrl, QueryCounter};
use crate::stores::carts::DbCarts;
use crate::stores::throttles::DbThrottle;

/// The Redis asked for when none is configured.
pub const DEFAULT_REDIS_ADDR: &str = "127.0.0.1:6379";
/// How long that Redis has to answer before the shop starts without it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// Why the application could not start; each is one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open database {url:?}: {reason}")]
    Database { url: String, reason: String },
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
    #[error("cannot load the demo catalog: {0}")]
    Seed(String),
    #[error("cannot set up the cache: {0}")]
    Cache(String),
    #[error("cannot set up sessions: {0}")]
    Sessions(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
}

/// Opens the connection pool. SQLite gets WAL and a busy timeout so readers
/// and a writer can share the file.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, StartupError> {
    let url = &settings.database_url;
    let fail = |reason: String| StartupError::Database { url: format!("{url:?}"), reason };
    if let DatabaseUrl::Sqlite { path: Some(path), .. } = url
        && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.as_str());
    options
        .max_connections(settings.database_max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options).await.map_err(|e| fail(e.to_string()))
}

/// Applies pending migrations over a connection of their own, then opens the
/// pool. A pooled SQLite connection that read the schema before a migration
/// changed it describes `RETURNING` rows with the old columns (seen as
/// "Missing value for column" on the first insert after a new column).
pub async fn connect_migrated(settings: &Settings) -> Result<DatabaseConnection, StartupError> {
    let mut single = settings.clone();
    single.database_max_connections = 1;
    let db = connect(&single).await?;
    migrate(&db).await?;
    let _ = db.close().await;
    connect(settings).await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StartupError> {
    Migrator::up(db, None).await.map_err(|e| StartupError::Migrate(e.to_string()))
}

/// The state for one-off commands (`cache warm`, `cache stats`): connected
/// and migrated, but not listening.
pub async fn state_for_commands(mut settings: Settings) -> Result<AppState, StartupError> {
    let db = connect_migrated(&settings).await?;
    let cache = Cache::new(&settings.cache, db.clone()).map_err(StartupError::Cache)?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.addr));
    // Commands serve nobody: in-process sessions, never connected.
    settings.sessions.store = SessionStoreKind::Memory;
    let SessionParts { layer: sessions, throttle, carts } = sessions(&settings, &db)?;
    let forms = form_signer(&db).await?;
    Ok(AppState {
        db,
        forms,
        cache,
        queries: QueryCounter::default(),
        throttle,
        hasher: Hasher::new(settings.password_hash_queue),
        carts,
        sessions,
        settings: Arc::new(settings),
        public_url: PublicUrl(public_url.into()),
    })
}

async fn form_signer(db: &DatabaseConnection) -> Result<Arc<FormSigner>, StartupError> {
    FormSigner::load_or_create(db).await.map(Arc::new).map_err(|e| StartupError::Sessions(e.to_string()))
}

/// The session layer, the throttle and the carts, all in the session store.
struct SessionParts {
    layer: SessionManagerLayer<AppSessionStore>,
    throttle: Arc<Throttle>,
    carts: Arc<CartStore>,
}

/// `db` serves the database store; give it a connection whose queries are
/// not counted, as the cache's are not (the counter measures what the
/// catalog and the accounts cost, with Redis or without).
fn sessions(settings: &Settings, db: &DatabaseConnection) -> Result<SessionParts, StartupError> {
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
async fn runs_embedded(settings: &mut Settings) -> bool {
    if !settings.embedded_unless_redis_answers || redis_answers(DEFAULT_REDIS_ADDR).await {
        return false;
    }
    settings.sessions.store = SessionStoreKind::Database;
    true
}

/// The cache of the embedded shop, held in this process.
fn embedded_cache(settings: &CacheSettings, db: DatabaseConnection) -> Result<Cache, StartupError> {
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

pub struct Application {
    listener: TcpListener,
    /// `/metrics`, apart from the public router; `None` when not configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// With the database session store: the (uncounted) connection that
    /// sweeps ended sessions, carts and counters.
    sweeps: Option<DatabaseConnection>,
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })
}

impl Application {
    /// Connects, migrates and binds. With `settings.demo_catalog`, an empty
    /// catalog is filled with the demo shop first.
    pub async fn build(mut settings: Settings) -> Result<Self, StartupError> {
        // Install the metrics recorder before anything is recorded.
        crate::metrics::handle();
        let queries = QueryCounter::default();
        let embedded = runs_embedded(&mut settings).await;
        let mut db = connect_migrated(&settings).await?;
        // The cache's own queries (the outbox flusher) and the session
        // store's share the pool but are not counted: the counter measures
        // what the catalog and the accounts cost.
        let cache = if embedded {
            embedded_cache(&settings.cache, db.clone())?
        } else {
            Cache::new(&settings.cache, db.clone()).map_err(StartupError::Cache)?
        };
        let uncounted = db.clone();
        let counter = queries.clone();
        db.set_metric_callback(move |_| {
            counter.increment();
            metrics::counter!("storefront_db_queries_total").increment(1);
        });
        if settings.demo_catalog {
            let seed_error = |e: crate::error::AppError| StartupError::Seed(e.to_string());
            if seed::catalog_is_empty(&db).await.map_err(seed_error)? {
                seed::load(&db, SeedPlan::DEMO, false).await.map_err(seed_error)?;
                tracing::info!("loaded the demo catalog into the empty database");
            }
        }
        tracing::info!("{}", placement(&settings, embedded));
        if !settings.cache.enabled {
            tracing::warn!("cache disabled (CACHE_ENABLED=false): every request is served from the database");
        }
        Self::with_parts(settings, db, uncounted, cache, queries).await
    }

    async fn with_parts(
        settings: Settings,
        db: DatabaseConnection,
        uncounted: DatabaseConnection,
        cache: Cache,
        queries: QueryCounter,
    ) -> Result<Self, StartupError> {
        let listener = bind(settings.addr).await?;
        let metrics_listener = match settings.metrics_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let bound = listener.local_addr().map_err(|source| StartupError::Bind { addr: settings.addr, source })?;
        let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
        if settings.sessions.store == SessionStoreKind::Memory {
            tracing::warn!("SESSION_STORE=memory: sessions live in this process only and end when it stops");
        }
        let SessionParts { layer: sessions, throttle, carts } = sessions(&settings, &uncounted)?;
        let sweeps = (settings.sessions.store == SessionStoreKind::Database).then_some(uncounted);
        let forms = form_signer(&db).await?;
        let state = AppState {
            db,
            forms,
            cache,
            queries,
            throttle,
            hasher: Hasher::new(settings.password_hash_queue),
            carts,
            sessions,
            settings: Arc::new(settings),
            public_url: PublicUrl(public_url.into()),
        };
        let app = Application { listener, metrics_listener, state, sweeps };
        if let Some(addr) = app.metrics_addr() {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        Ok(app)
    }

    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listener.as_ref().map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_addr().map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the process receives Ctrl-C or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The signal handlers go in first: a SIGTERM that arrives while
        // startup work below waits on a slow Redis must stop the shop
        // cleanly, not kill it with the default action.
        let stop = StopSignal::install()?;
        // Pending invalidations (from before a crash, or from an outage) are
        // applied before the first request, then retried in the background.
        tokio::select! {
            flushed = self.state.cache.flush_outbox() => if let Err(e) = flushed {
                tracing::warn!(error = %e, "pending cache invalidations deferred");
            },
            () = stop.received() => return Ok(()),
        }
        let flusher = self.state.cache.spawn_outbox_flusher();
        let tracker = self.state.cache.spawn_tracker();
        let upkeep = crate::metrics::spawn_upkeep();
        let sweeper = self.sweeps.map(crate::stores::spawn_sweeper);
        let deadlines =
            Deadlines { headers: self.state.settings.header_timeout, grace: self.state.settings.shutdown_grace };
        let router = routes::router(self.state);
        let shop = crate::server::serve(self.listener, router, stop.received(), deadlines);
        // The same stop signal ends both listeners.
        let metrics = async {
            if let Some(listener) = self.metrics_listener {
                crate::server::serve(listener, crate::metrics::router(), stop.received(), deadlines).await;
            }
        };
        tokio::join!(shop, metrics);
        flusher.abort();
        upkeep.abort();
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        if let Some(tracker) = tracker {
            tracker.abort();
        }
        Ok(())
    }
}

/// Ctrl-C or SIGTERM, handled from the moment `install` returns; every
/// `received()` completes once either has arrived.
struct StopSignal(tokio::sync::watch::Receiver<bool>);

impl StopSignal {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        let (mut interrupt, mut terminate) = {
            use tokio::signal::unix::{SignalKind, signal};
            (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?)
        };
        let (tell, received) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            #[cfg(unix)]
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
            let _ = tell.send(true);
        });
        Ok(Self(received))
    }

    fn received(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut received = self.0.clone();
        async move {
            // An error means the watcher task is gone, which only happens
            // after it has sent.
            let _ = received.wait_for(|stopped| *stopped).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;

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
