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
use tokio::net::TcpListener;

use crate::cache::Cache;

use crate::auth::Hasher;
use crate::auth::forms::FormSigner;
use crate::config::{DatabaseUrl, SessionStoreKind, Settings};
use crate::mail::Mailer;
use crate::media::{Media, MediaStore};
use crate::routes;
use crate::seed::{self, SeedPlan};
use crate::server::Deadlines;
use crate::state::{AppState, PublicUrl, QueryCounter};

mod placement;
mod signal;

pub use placement::{DEFAULT_REDIS_ADDR, placement, redis_answers};
use placement::{SessionParts, embedded_cache, runs_embedded, sessions};
use signal::StopSignal;

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
    #[error("cannot set up mail: {0}")]
    Mail(String),
    #[error("cannot use MEDIA_DIR {dir:?}: {source}")]
    Media { dir: std::path::PathBuf, source: std::io::Error },
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
        // A ping on every checkout is a round trip per statement (a page
        // makes several). One idle this long may have been dropped; a query
        // that meets a connection lost since is a 503 (see `AppError`).
        .test_before_acquire_if_idle_for(Duration::from_secs(5))
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

/// Applies pending migrations, then fills the search documents a migration
/// left empty (the folding is the application's, see `domain::search`).
pub async fn migrate(db: &DatabaseConnection) -> Result<(), StartupError> {
    Migrator::up(db, None).await.map_err(|e| StartupError::Migrate(e.to_string()))?;
    crate::models::product::fill_search_documents(db).await.map_err(|e| StartupError::Migrate(e.to_string()))?;
    Ok(())
}

/// The state for one-off commands (`cache warm`, `cache stats`): connected
/// and migrated, but not listening.
pub async fn state_for_commands(mut settings: Settings) -> Result<AppState, StartupError> {
    let db = connect_migrated(&settings).await?;
    let cache = Cache::new(&settings.cache, db.clone()).map_err(StartupError::Cache)?;
    let public_url = settings.public_url.clone().unwrap_or_else(|| format!("http://{}", settings.addr));
    // Commands serve nobody: in-process sessions, never connected.
    settings.sessions.store = SessionStoreKind::Memory;
    let parts = sessions(&settings, &db)?;
    let mailer = Mailer::new(&settings.mail, db.clone()).map_err(StartupError::Mail)?;
    state(settings, db, cache, QueryCounter::default(), parts, mailer, public_url).await
}

/// The media store, its directory created if missing.
pub fn media(settings: &Settings) -> Result<Media, StartupError> {
    let dir = &settings.media_dir;
    std::fs::create_dir_all(dir).map_err(|source| StartupError::Media { dir: dir.clone(), source })?;
    Ok(Media::new(MediaStore::new(dir)))
}

/// The state every request (or command) shares, from its parts.
async fn state(
    settings: Settings,
    db: DatabaseConnection,
    cache: Cache,
    queries: QueryCounter,
    parts: SessionParts,
    mailer: Mailer,
    public_url: String,
) -> Result<AppState, StartupError> {
    let forms = FormSigner::load_or_create(&db).await.map_err(|e| StartupError::Sessions(e.to_string()))?;
    let SessionParts { layer: sessions, throttle, carts } = parts;
    let media = media(&settings)?;
    Ok(AppState {
        media,
        db,
        forms: Arc::new(forms),
        cache,
        mailer,
        queries,
        throttle,
        hasher: Hasher::new(settings.password_hash_queue),
        carts,
        sessions,
        settings: Arc::new(settings),
        public_url: PublicUrl(public_url.into()),
    })
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
        // The cache's own queries (the outbox flusher), the session store's
        // and the mail deliverer's share the pool but are not counted: the
        // counter measures what the catalog and the accounts cost.
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
                seed::load(&db, &media(&settings)?, SeedPlan::DEMO, false).await.map_err(seed_error)?;
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
        let parts = sessions(&settings, &uncounted)?;
        let mailer = Mailer::new(&settings.mail, uncounted.clone()).map_err(StartupError::Mail)?;
        tracing::info!("{}", mailer.describe());
        let sweeps = (settings.sessions.store == SessionStoreKind::Database).then_some(uncounted);
        let state = state(settings, db, cache, queries, parts, mailer, public_url).await?;
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
            flushed = self.state.cache.flusher().flush() => if let Err(e) = flushed {
                tracing::warn!(error = %e, "pending cache invalidations deferred");
            },
            () = stop.received() => return Ok(()),
        }
        let flusher = self.state.cache.flusher().spawn();
        let tracker = self.state.cache.spawn_tracker();
        let upkeep = crate::metrics::spawn_upkeep();
        let sweeper = self.sweeps.map(crate::stores::spawn_sweeper);
        // Its first pass sends what an earlier run left due.
        let deliverer = self.state.mailer.spawn();
        let deadlines =
            Deadlines { headers: self.state.settings.header_timeout, grace: self.state.settings.shutdown_grace };
        // Off the async threads; a request for an asset meanwhile waits.
        tokio::task::spawn_blocking(routes::prepare_assets);
        let router = routes::router(self.state);
        let shop = crate::server::serve(self.listener, router, stop.received(), deadlines);
        // The same stop signal ends both listeners.
        let metrics = async {
            if let Some(listener) = self.metrics_listener {
                crate::server::serve(listener, crate::metrics::router(), stop.received(), deadlines).await;
            }
        };
        tokio::join!(shop, metrics);
        deliverer.stop().await;
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
