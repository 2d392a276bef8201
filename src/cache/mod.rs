//! The Redis cache: fragments and API bodies stored as bytes, ready to send.
//!
//! - Keys and tags are built only in [`keys`]; an entry records the version of
//!   each tag it depends on ([`entry`]), and a hit is an entry whose recorded
//!   versions all equal the current ones, checked with one MGET.
//! - A write changes its tags' versions (one SET each): constant cost, no
//!   SCAN. Versions are random, so a tag lost to eviction or a restart can
//!   never come back with an old entry's value.
//! - Readers take the versions *before* reading the database, so an entry
//!   filled from data older than a write is stored under old versions and
//!   never served (no stale fill).
//! - Tags known only once the fill has begun (the products a listing shows)
//!   are pinned by the fill itself ([`pin`]) before it reads what they
//!   guard; the entry records them with their versions, and a hit needs
//!   those current too. To invalidation they are ordinary tags.
//! - Writes record their tags in an outbox in the same transaction; the tags
//!   are applied after commit, and again in the background until every
//!   cache over the database has taken them: never lost. A [`Flusher`]
//!   ([`flush`]), owned by the cache, does that; it holds the database, the
//!   edge caches and the cursors, and writes to Redis through
//!   [`Cache`]'s own invalidation.
//! - Every Redis call is bounded by a timeout, and a circuit breaker skips a
//!   failing Redis entirely: the shop then answers from the database.
//! - In front of Redis, an in-process layer ([`local`]) serves hot entries
//!   with no round trip, kept exact by Redis's invalidation pushes.
//! - Without Redis ([`Cache::in_process`]) that layer is the whole cache:
//!   entries and tag versions both live in this process, exact within it,
//!   and other processes' writes reach it through the outbox.
//! - Whole pages shown to everyone are kept in this process by the digest
//!   of what they are made of ([`pages`]): that digest is also their ETag,
//!   so a page hit neither renders the layout again nor hashes the page.
//! - The cache knows nothing of HTTP: a fill's error comes back as a
//!   [`FillError`], the same one to every request that waited on the fill,
//!   and the caller turns it back into its own error type.
//! - The hook tests use to pause a fill (`FillHook`) exists only with the
//!   `test-seams` feature, which `cargo test` turns on.

mod breaker;
pub mod conn;
mod cursor;
mod edge;
pub mod entry;
mod flight;
mod flush;
pub mod keys;
mod local;
pub mod outbox;
pub mod pages;
mod pin;
mod read;
mod stats;
pub mod tags;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use sea_orm::DatabaseConnection;

use crate::config::CacheSettings;
use crate::encoding::{Coding, Effort, Encodings};
pub use breaker::Breaker;
use conn::{Conn, Nodes, Query};
use cursor::Cursor;
pub use edge::as_edge_fetch;
pub use entry::{CacheStatus, Cached, Filled};
use flight::Flights;
pub use flush::{FlushError, Flusher};
pub use keys::{EntryKey, Keys, TtlClass};
use local::Local;
pub use pages::{KeptPage, PageDigest, PageInputs, PageMemo};
pub use pin::Pinned;
pub use read::FillError;
pub use tags::Tag;
use tags::random_version;

/// Counters for `/metrics` and `cache stats`.
#[derive(Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    /// Hits served by the in-process layer (also counted in `hits`).
    pub local_hits: AtomicU64,
    pub misses: AtomicU64,
    pub bypasses: AtomicU64,
    pub errors: AtomicU64,
    pub fills: AtomicU64,
    pub invalidations: AtomicU64,
    /// Compressed forms made (by fills, pages kept in memory and bodies
    /// served once): a hit adds none.
    pub compressions: AtomicU64,
    reported_hits: AtomicU64,
    reported_misses: AtomicU64,
}

/// Called between a fill's database read and its store; tests use it to
/// interleave a write there. Only with the `test-seams` feature, which the
/// integration tests turn on: a release build has no hook to call.
#[cfg(feature = "test-seams")]
pub type FillHook = Arc<dyn Fn(&str) -> futures_util::future::BoxFuture<'static, ()> + Send + Sync>;

struct Inner {
    keys: Keys,
    settings: CacheSettings,
    /// Replaced by a fresh one after a failed probe on a cluster (see
    /// [`Cache::reconnect_cluster`]).
    redis: Option<std::sync::RwLock<Conn>>,
    /// The nodes REDIS_URL names.
    nodes: Nodes,
    /// The in-process layer, and the nodes its tracking connection uses
    /// (RESP3, for pushes).
    local: Option<(Arc<Local>, Nodes)>,
    /// Without Redis: the whole cache, in this process.
    memory: Option<Arc<Local>>,
    /// Rendered pages shown to everyone; none when caching is off, so the
    /// bypassed path renders every page.
    pages: Option<PageMemo>,
    /// Applies the outbox to this cache, its in-process layer and the edges.
    flusher: Flusher,
    breaker: Breaker,
    /// Fills in flight (see `read::flight_key`).
    flights: Flights<Result<read::Flown, FillError>>,
    counters: CacheCounters,
    #[cfg(feature = "test-seams")]
    fill_hook: std::sync::RwLock<Option<FillHook>>,
}

#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

/// A Redis failure, already counted by the breaker.
#[derive(Debug, thiserror::Error)]
#[error("redis: {0}")]
pub struct CacheError(String);

impl Cache {
    /// Builds the cache. The Redis connection is made lazily, so the shop
    /// starts (degraded) when Redis is down.
    pub fn new(settings: &CacheSettings, db: DatabaseConnection) -> Result<Self, String> {
        let nodes = Nodes::parse(&settings.redis_url)?;
        let redis =
            if settings.enabled { Some(std::sync::RwLock::new(Conn::lazy(&nodes, settings.timeout)?)) } else { None };
        let local = if settings.enabled && settings.local_max_bytes > 0 {
            // Invalidation pushes arrive on the tracking connection itself,
            // which needs RESP3.
            Some((Arc::new(Local::new(settings.local_max_bytes)), nodes.resp3()))
        } else {
            None
        };
        Self::build(settings, db, redis, nodes, local, None)
    }

    /// A cache with no Redis: entries and tag versions in this process,
    /// up to `CACHE_LOCAL_MAX_MB`. Exact within the process; writes from
    /// other processes over the same database arrive through the outbox.
    pub fn in_process(settings: &CacheSettings, db: DatabaseConnection) -> Result<Self, String> {
        let nodes = Nodes::parse(&settings.redis_url)?;
        let memory = (settings.enabled && settings.local_max_bytes > 0)
            .then(|| Arc::new(Local::standalone(settings.local_max_bytes)));
        Self::build(settings, db, None, nodes, None, memory)
    }

    fn build(
        settings: &CacheSettings,
        db: DatabaseConnection,
        redis: Option<std::sync::RwLock<Conn>>,
        nodes: Nodes,
        local: Option<(Arc<Local>, Nodes)>,
        memory: Option<Arc<Local>>,
    ) -> Result<Self, String> {
        let edges = edge::Edges::new(&settings.purge_urls, EDGE_TIMEOUT)?;
        Ok(Cache {
            inner: Arc::new_cyclic(|inner| Inner {
                keys: Keys::new(&settings.key_prefix, &settings.version),
                settings: settings.clone(),
                redis,
                nodes,
                local,
                memory,
                pages: settings.enabled.then(|| PageMemo::new(PAGE_MEMO_BYTES)),
                flusher: Flusher::new(inner.clone(), settings, db, edges),
                breaker: Breaker::new(settings.breaker_cooldown),
                flights: Flights::default(),
                counters: CacheCounters::default(),
                #[cfg(feature = "test-seams")]
                fill_hook: std::sync::RwLock::new(None),
            }),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The rendered pages kept in this process, if caching is on.
    pub fn pages(&self) -> Option<&PageMemo> {
        self.inner.pages.as_ref()
    }

    pub fn counters(&self) -> &CacheCounters {
        &self.inner.counters
    }

    /// Both compressed forms of a body kept for many responses (a fill's,
    /// a page kept in memory), counted.
    pub fn compress(&self, body: &[u8]) -> Encodings {
        let forms = Encodings::make(body, Effort::Fill);
        self.count_compressions(&forms);
        forms
    }

    /// The form of a body served once that the request asks for, counted.
    pub fn compress_once(&self, body: &[u8], coding: Coding) -> Encodings {
        let forms = Encodings::only(body, coding);
        self.count_compressions(&forms);
        forms
    }

    fn count_compressions(&self, forms: &Encodings) {
        let made = forms.gzip.is_some() as u64 + forms.br.is_some() as u64;
        self.inner.counters.compressions.fetch_add(made, Ordering::Relaxed);
    }

    /// The forms a fill's entry keeps: none for a page's fragment.
    fn forms_of(&self, filled: &Filled) -> Encodings {
        if filled.sent_whole { self.compress(&filled.body) } else { Encodings::default() }
    }

    /// What applies the outbox: now, or on a beat in the background.
    pub fn flusher(&self) -> &Flusher {
        &self.inner.flusher
    }

    /// Whether Redis is used.
    pub fn enabled(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// Whether this is a cache without Redis, in this process.
    pub fn is_in_process(&self) -> bool {
        self.inner.memory.is_some()
    }

    /// Whether Redis is currently being used (breaker closed).
    pub fn healthy(&self) -> bool {
        self.enabled() && self.inner.breaker.is_closed()
    }

    /// Sets (or, with `None`, removes) the hook every fill runs before its
    /// store.
    #[cfg(feature = "test-seams")]
    pub fn set_fill_hook(&self, hook: Option<FillHook>) {
        *self.inner.fill_hook.write().unwrap_or_else(|p| p.into_inner()) = hook;
    }

    #[cfg(feature = "test-seams")]
    async fn run_fill_hook(&self, key: &str) {
        let hook = self.inner.fill_hook.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(key).await;
        }
    }

    pub fn ttl(&self, class: TtlClass) -> Duration {
        let s = &self.inner.settings;
        match class {
            TtlClass::Categories => s.ttl_categories,
            TtlClass::ProductLists => s.ttl_product_lists,
            TtlClass::ProductDetail => s.ttl_product_detail,
        }
    }

    /// The TTL with up to 10% taken off at random.
    fn ttl_with_jitter(&self, class: TtlClass) -> Duration {
        let ttl = self.ttl(class);
        let jitter = ttl.as_millis() as u64 / 10;
        ttl - Duration::from_millis(rand::rng().random_range(0..=jitter))
    }

    /// Runs a Redis command with the timeout; failures open the breaker.
    async fn call<T: redis::FromRedisValue + Send>(&self, query: &impl Query) -> Result<T, CacheError> {
        let Some(mut conn) = self.conn() else {
            return Err(CacheError("disabled".into()));
        };
        let result = tokio::time::timeout(self.inner.settings.timeout, query.run::<T>(&mut conn)).await;
        let error = match result {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {} ms", self.inner.settings.timeout.as_millis()),
        };
        Err(self.failure(error))
    }

    /// After a failed probe, a cluster connection starts again from the
    /// seeds, and has the cool-down to connect. The cluster client learns a
    /// new topology from redirects, but a master that died leaves only
    /// refused connections, and a slot map read before its replica took
    /// over could stay in use.
    fn reconnect_cluster(&self) {
        let Some(redis) = &self.inner.redis else { return };
        if !self.inner.nodes.is_cluster() {
            return;
        }
        match Conn::lazy(&self.inner.nodes, self.inner.settings.timeout) {
            Ok(fresh) => *redis.write().unwrap_or_else(|p| p.into_inner()) = fresh,
            Err(e) => tracing::warn!(error = %e, "cannot reconnect to the cluster"),
        }
    }

    /// A handle on the current connection.
    fn conn(&self) -> Option<Conn> {
        self.inner.redis.as_ref().map(|c| c.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Counts a failed Redis call and opens the breaker.
    fn failure(&self, error: String) -> CacheError {
        self.inner.counters.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("storefront_cache_errors_total").increment(1);
        self.inner.breaker.failure(&error);
        CacheError(error)
    }

    /// Gives each tag a new version in Redis: every entry that depends on
    /// one of them is no longer served. Constant cost in the number of
    /// cached keys. Then stores `cursor`, after the versions, so a Redis
    /// never holds a cursor ahead of its versions (see [`flush`]).
    #[tracing::instrument(name = "cache.invalidate", level = "debug", skip_all, fields(tags = tags.len()))]
    async fn invalidate_redis(&self, tags: &[Tag], cursor: Option<&Cursor>) -> Result<(), CacheError> {
        if !self.enabled() || (tags.is_empty() && cursor.is_none()) {
            return Ok(());
        }
        // All tag keys share one hash slot, and the cursor is in it too, so
        // this is one pipeline to one node even on a cluster.
        let mut set = redis::pipe();
        for tag in tags {
            set.cmd("SET").arg(self.inner.keys.tag(tag)).arg(random_version().to_string()).ignore();
        }
        if let Some(cursor) = cursor {
            set.cmd("SET").arg(self.inner.keys.outbox_cursor()).arg(cursor.encode()).ignore();
        }
        let wait = self.inner.settings.wait_replicas;
        if wait > 0 {
            // The replicas must have the new versions before this counts: a
            // failover to one without them would revive the old versions and
            // the entries stored under them. Short of that, the row stays in
            // the outbox and this instance stops trusting Redis for a while.
            // Replicas that are not attached (a master promoted after its
            // own died) cannot be promoted either, so only attached ones are
            // waited for; ROLE lists them.
            let within = (self.inner.settings.timeout / 2).as_millis().max(1) as u64;
            set.cmd("WAIT").arg(wait).arg(within);
            set.cmd("ROLE");
            let (acked, (_, _, attached)): (u32, (String, i64, Vec<redis::Value>)) = self.call(&set).await?;
            let needed = wait.min(attached.len() as u32);
            if acked < needed {
                return Err(self.failure(format!("only {acked} of {needed} replicas took an invalidation")));
            }
        } else {
            self.call::<()>(&set).await?;
        }
        // This instance sees its own write at once; the others when Redis's
        // push reaches them.
        if let Some((local, _)) = &self.inner.local {
            local.forget(tags);
        }
        self.count_invalidations(tags);
        Ok(())
    }

    fn count_invalidations(&self, tags: &[Tag]) {
        self.inner.counters.invalidations.fetch_add(tags.len() as u64, Ordering::Relaxed);
        for tag in tags {
            metrics::counter!("storefront_cache_invalidations_total", "tag" => tag.family()).increment(1);
        }
    }

    /// Runs the in-process layer's tracking connection (reconnecting as
    /// needed) until aborted; `None` when the layer is off.
    pub fn spawn_tracker(&self) -> Option<tokio::task::JoinHandle<()>> {
        let (local, nodes) = self.inner.local.as_ref()?;
        Some(local.spawn_tracker(nodes.clone(), self.inner.keys.clone()))
    }

    /// Whether hits are being served from this process's memory.
    pub fn local_live(&self) -> bool {
        self.inner.memory.is_some() || self.inner.local.as_ref().is_some_and(|(local, _)| local.is_live())
    }

    /// `PING`, for readiness.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut ping = redis::pipe();
        ping.cmd("PING").ignore();
        self.call::<()>(&ping).await
    }
}

/// How long an edge cache may take to answer a purge.
const EDGE_TIMEOUT: Duration = Duration::from_secs(1);

/// The memory for whole pages shown to everyone: the hottest hundred or
/// so pages (20-40 KB each); the rest are put together from their cached
/// fragments. Small, so that filling it does not read as growth.
const PAGE_MEMO_BYTES: u64 = 4 * 1024 * 1024;
