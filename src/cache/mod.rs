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
//! - Writes record their tags in an outbox in the same transaction; the tags
//!   are applied after commit, and again by a background flusher until
//!   every cache over the database has taken them ([`flush`]: never lost).
//! - Every Redis call is bounded by a timeout, and a circuit breaker skips a
//!   failing Redis entirely: the shop then answers from the database.
//! - In front of Redis, an in-process layer ([`local`]) serves hot entries
//!   with no round trip, kept exact by Redis's invalidation pushes.
//! - Without Redis ([`Cache::in_process`]) that layer is the whole cache:
//!   entries and tag versions both live in this process, exact within it,
//!   and other processes' writes reach it through the outbox.

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
pub mod tags;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use sea_orm::DatabaseConnection;

use crate::config::CacheSettings;
use crate::error::AppError;
pub use breaker::Breaker;
use breaker::Permit;
use conn::{Conn, Nodes, Query};
use cursor::Cursor;
use entry::Entry;
use flight::Flights;
pub use keys::{EntryKey, Keys, TtlClass};
use local::Local;
pub use tags::Tag;

tokio::task_local! {
    /// Set while serving an edge cache's fetch (see [`as_edge_fetch`]).
    static EDGE_FETCH: ();
}

/// Runs `serve` as an edge cache's fetch, which skips the in-process layer.
///
/// A write applies its invalidation to Redis, then purges the edges, which
/// refetch at once, possibly from another instance whose in-process layer
/// has not yet had Redis's push: served from there, the old page would stay
/// at the edge for its whole `s-maxage`. Redis itself is already current.
pub async fn as_edge_fetch<F: Future>(serve: F) -> F::Output {
    EDGE_FETCH.scope((), serve).await
}

fn is_edge_fetch() -> bool {
    EDGE_FETCH.try_with(|_| ()).is_ok()
}

/// How a response was served, sent as `X-Cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// Redis skipped: disabled, or unavailable.
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    /// The status of a response composed of several entries.
    pub fn combine(self, other: CacheStatus) -> CacheStatus {
        use CacheStatus::*;
        match (self, other) {
            (Bypass, _) | (_, Bypass) => Bypass,
            (Miss, _) | (_, Miss) => Miss,
            _ => Hit,
        }
    }
}

/// What a fill produces: the body and, for pages, their title.
pub struct Filled {
    pub body: Bytes,
    pub title: String,
}

/// A cached (or freshly filled) body.
#[derive(Clone, Debug)]
pub struct Cached {
    pub body: Bytes,
    pub title: String,
    pub etag: String,
    pub status: CacheStatus,
}

impl Cached {
    fn from_entry(e: Entry, status: CacheStatus) -> Self {
        Cached { etag: e.etag(), body: e.body, title: e.title, status }
    }
}

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
    reported_hits: AtomicU64,
    reported_misses: AtomicU64,
}

/// Called between a fill's database read and its store; tests use it to
/// interleave a write there.
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
    /// The in-process cache's place in the outbox.
    memory_cursor: std::sync::Mutex<Option<Cursor>>,
    /// The `cache_cursors` row of this instance's edge caches.
    edge_cursor: String,
    /// Held while the outbox is applied.
    flushing: tokio::sync::Mutex<()>,
    db: DatabaseConnection,
    /// The edge caches to purge after writes, if any.
    edges: Option<edge::Edges>,
    breaker: Breaker,
    flights: Flights<Result<Cached, AppError>>,
    counters: CacheCounters,
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

fn count_request(kind: &'static str, result: &'static str) {
    metrics::counter!("storefront_cache_requests_total", "kind" => kind, "result" => result).increment(1);
}

fn random_version() -> u64 {
    // Never 0, so a version always differs from "absent".
    rand::rng().random_range(1..=u64::MAX)
}

fn parse_version(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

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
        Ok(Cache {
            inner: Arc::new(Inner {
                keys: Keys::new(&settings.key_prefix, &settings.version),
                settings: settings.clone(),
                redis,
                nodes,
                local,
                memory,
                memory_cursor: std::sync::Mutex::new(None),
                edge_cursor: edge::cursor_name(&settings.key_prefix, &settings.purge_urls),
                flushing: tokio::sync::Mutex::new(()),
                db,
                edges: edge::Edges::new(&settings.purge_urls, EDGE_TIMEOUT)?,
                breaker: Breaker::new(settings.breaker_cooldown),
                flights: Flights::default(),
                counters: CacheCounters::default(),
                fill_hook: std::sync::RwLock::new(None),
            }),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn counters(&self) -> &CacheCounters {
        &self.inner.counters
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

    #[doc(hidden)]
    pub fn set_fill_hook(&self, hook: Option<FillHook>) {
        *self.inner.fill_hook.write().unwrap_or_else(|p| p.into_inner()) = hook;
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

    /// Serves `entry` from Redis, or fills it with `fill` and stores it.
    pub async fn get_or_fill<F, Fut>(&self, entry: &EntryKey, fill: F) -> Result<Cached, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, AppError>>,
    {
        let counters = &self.inner.counters;
        let record = |result: &'static str| count_request(entry.kind, result);
        let bypass = |filled: Filled| {
            counters.bypasses.fetch_add(1, Ordering::Relaxed);
            record("bypass");
            Cached::from_entry(Entry::new(Vec::new(), filled.title, filled.body), CacheStatus::Bypass)
        };
        if let Some(memory) = &self.inner.memory {
            return self.serve_in_process(memory, entry, fill).await;
        }
        let permit = if self.enabled() { self.inner.breaker.permit() } else { Permit::Skip };
        // Everything past a local hit is boxed: the future of a hit stays
        // small, and middleware moves it several times per request.
        if permit == Permit::Skip {
            return Ok(bypass(Box::pin(fill()).await?));
        }
        let local = self.inner.local.as_ref().map(|(local, _)| local.as_ref());
        if permit == Permit::Call
            && !is_edge_fetch()
            && let Some(hit) = local.and_then(|l| l.get(&entry.key, &entry.tags))
        {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            counters.local_hits.fetch_add(1, Ordering::Relaxed);
            record("hit");
            metrics::counter!("storefront_cache_local_hits_total", "kind" => entry.kind).increment(1);
            return Ok(hit);
        }
        let snapshot = local.map(Local::snapshot);
        let Ok((found, versions)) = Box::pin(self.lookup(entry, permit)).await else {
            return Ok(bypass(Box::pin(fill()).await?));
        };
        if let (Some(local), Some(snapshot)) = (local, snapshot) {
            local.learn(snapshot, &entry.tags, &versions);
        }
        if let Some(e) = found.and_then(Entry::decode).filter(|e| e.versions == versions) {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            record("hit");
            let cached = Cached::from_entry(e, CacheStatus::Hit);
            if let Some(local) = local {
                local.store(&entry.key, &cached, &versions, self.ttl(entry.ttl));
            }
            return Ok(cached);
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        record("miss");
        let flight = format!("{}#{}", entry.key, versions.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
        Box::pin(self.inner.flights.run(flight, || async move {
            // A flight for these versions that ended between our lookup and
            // now has stored its entry: serve that, fill nothing.
            if let Some(e) = self.stored(&entry.key).await.filter(|e| e.versions == versions) {
                return Ok(Cached::from_entry(e, CacheStatus::Hit));
            }
            let filled = self.fill(entry, fill).await?;
            let e = Entry::new(versions, filled.title, filled.body);
            let ttl = self.ttl_with_jitter(entry.ttl);
            let mut store = redis::pipe();
            store.cmd("SET").arg(&entry.key).arg(e.encode()).arg("PX").arg(ttl.as_millis() as u64).ignore();
            // A failed store costs only the next request a miss.
            let stored = self.call::<()>(&store).await.is_ok();
            let versions = e.versions.clone();
            let cached = Cached::from_entry(e, CacheStatus::Miss);
            if stored && let Some(local) = local {
                local.store(&entry.key, &cached, &versions, ttl);
            }
            Ok(cached)
        }))
        .await
    }

    /// Runs a fill, timed and counted, then the test hook.
    async fn fill<F, Fut>(&self, entry: &EntryKey, fill: F) -> Result<Filled, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, AppError>>,
    {
        let started = std::time::Instant::now();
        let filled = fill().await?;
        self.inner.counters.fills.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("storefront_cache_fill_seconds", "kind" => entry.kind)
            .record(started.elapsed().as_secs_f64());
        let hook = self.inner.fill_hook.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(hook) = hook {
            hook(&entry.key).await;
        }
        Ok(filled)
    }

    /// [`Cache::get_or_fill`] without Redis. The versions are taken before
    /// the fill, as with Redis, so a fill that raced a write is stored
    /// under versions the write has already replaced, and never served.
    async fn serve_in_process<F, Fut>(&self, memory: &Local, entry: &EntryKey, fill: F) -> Result<Cached, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, AppError>>,
    {
        let counters = &self.inner.counters;
        let record = |result: &'static str| count_request(entry.kind, result);
        if let Some(hit) = memory.get(&entry.key, &entry.tags) {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            counters.local_hits.fetch_add(1, Ordering::Relaxed);
            record("hit");
            return Ok(hit);
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        record("miss");
        let versions = memory.current_versions(&entry.tags);
        let flight = format!("{}#{}", entry.key, versions.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
        Box::pin(self.inner.flights.run(flight, || async move {
            // A flight for these versions that ended meanwhile stored it.
            if let Some(hit) = memory.get(&entry.key, &entry.tags) {
                return Ok(hit);
            }
            let filled = self.fill(entry, fill).await?;
            let e = Entry::new(versions, filled.title, filled.body);
            let versions = e.versions.clone();
            let cached = Cached::from_entry(e, CacheStatus::Miss);
            memory.store(&entry.key, &cached, &versions, self.ttl_with_jitter(entry.ttl));
            Ok(cached)
        }))
        .await
    }

    /// The entry stored under `key`, if any and readable.
    async fn stored(&self, key: &str) -> Option<Entry> {
        let mut get = redis::pipe();
        get.cmd("GET").arg(key);
        let (raw,): (Option<Vec<u8>>,) = self.call(&get).await.ok()?;
        raw.map(Bytes::from).and_then(Entry::decode)
    }

    /// One round trip: the entry and the current version of each of its
    /// tags. Absent tags are created with a fresh random version.
    async fn lookup(&self, entry: &EntryKey, permit: Permit) -> Result<(Option<Bytes>, Vec<u64>), CacheError> {
        let tag_keys: Vec<String> = entry.tags.iter().map(|t| self.inner.keys.tag(t)).collect();
        // A plain command, not a pipeline: a cluster splits it by slot (the
        // entry's, and the one all tags share).
        let mut get = redis::cmd("MGET");
        get.arg(&entry.key).arg(&tag_keys);
        let mut values: Vec<Option<Vec<u8>>> = match self.call(&get).await {
            Ok(values) => values,
            Err(e) => {
                if permit == Permit::Probe {
                    self.reconnect_cluster();
                }
                return Err(e);
            }
        };
        if permit == Permit::Probe {
            // Back from an outage: apply the invalidations recorded meanwhile
            // before serving anything cached.
            match self.flush_outbox().await {
                // Redis is current; an edge that missed a purge is retried
                // by the flusher, and must not keep Redis from being used.
                Ok(_) | Err(FlushError::Edge(_)) => {}
                // Already counted (the breaker is open again).
                Err(FlushError::Redis(e)) => return Err(CacheError(e)),
                // Whether Redis holds every invalidation is unknown: try again
                // after a cool-down, rather than leave the probe unanswered.
                Err(e @ FlushError::Database(_)) => return Err(self.failure(e.to_string())),
            }
            self.inner.breaker.success();
            values = self.call(&get).await?;
        }
        if values.len() != tag_keys.len() + 1 {
            return Err(CacheError("MGET answered the wrong number of values".into()));
        }
        let found = values.remove(0).map(Bytes::from);
        let mut versions: Vec<Option<u64>> = values.iter().map(|v| v.as_deref().and_then(parse_version)).collect();
        let missing: Vec<usize> = (0..versions.len()).filter(|&i| versions[i].is_none()).collect();
        if !missing.is_empty() {
            let mut init = redis::pipe();
            let fresh: Vec<u64> = missing.iter().map(|_| random_version()).collect();
            for (&i, v) in missing.iter().zip(&fresh) {
                // NX GET: keep (and learn) a version another instance just set.
                init.cmd("SET").arg(&tag_keys[i]).arg(v.to_string()).arg("NX").arg("GET");
            }
            let previous: Vec<Option<Vec<u8>>> = self.call(&init).await?;
            for ((&i, v), prev) in missing.iter().zip(fresh).zip(previous) {
                versions[i] = Some(prev.as_deref().and_then(parse_version).unwrap_or(v));
            }
        }
        Ok((found, versions.into_iter().map(|v| v.unwrap_or(0)).collect()))
    }

    /// Gives each tag a new version in Redis: every entry that depends on
    /// one of them is no longer served. Constant cost in the number of
    /// cached keys. Then stores `cursor`, after the versions, so a Redis
    /// never holds a cursor ahead of its versions (see [`flush`]).
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

    /// Adds this instance's hits and misses since the last report to the
    /// shared `{prefix}:stats` hash, so `storefront cache stats` sees the hit
    /// rate of all instances together.
    pub async fn report_stats(&self) -> Result<(), CacheError> {
        let c = &self.inner.counters;
        let hits = c.hits.load(Ordering::Relaxed);
        let misses = c.misses.load(Ordering::Relaxed);
        let new_hits = hits - c.reported_hits.load(Ordering::Relaxed);
        let new_misses = misses - c.reported_misses.load(Ordering::Relaxed);
        if new_hits == 0 && new_misses == 0 {
            return Ok(());
        }
        let key = self.inner.keys.stats();
        let mut incr = redis::pipe();
        incr.cmd("HINCRBY").arg(&key).arg("hits").arg(new_hits).ignore();
        incr.cmd("HINCRBY").arg(&key).arg("misses").arg(new_misses).ignore();
        self.call::<()>(&incr).await?;
        c.reported_hits.store(hits, Ordering::Relaxed);
        c.reported_misses.store(misses, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the shared hit and miss totals.
    pub async fn shared_stats(&self) -> Result<(u64, u64), CacheError> {
        let mut get = redis::pipe();
        get.cmd("HMGET").arg(self.inner.keys.stats()).arg("hits").arg("misses");
        let (values,): (Vec<Option<u64>>,) = self.call(&get).await?;
        Ok((values.first().copied().flatten().unwrap_or(0), values.get(1).copied().flatten().unwrap_or(0)))
    }

    /// Makes every entry of this app stale at once, in Redis (one SET:
    /// never FLUSHDB, which would also end every session sharing the server)
    /// and at every edge (every object carries the `all` tag). Through the
    /// outbox, so what cannot be applied now is applied later.
    pub async fn clear(&self) -> Result<(), FlushError> {
        outbox::record(&self.inner.db, &[Tag::All]).await.map_err(|e| FlushError::Database(e.to_string()))?;
        self.flush_outbox().await.map(|_| ())
    }

    /// Every primary holding cache data (one, or each cluster master), for
    /// operator commands that must visit them all.
    pub async fn primaries(&self) -> Result<Vec<redis::ConnectionInfo>, CacheError> {
        let Some(mut conn) = self.conn() else { return Err(CacheError("disabled".into())) };
        match tokio::time::timeout(Duration::from_secs(5), conn.primaries(&self.inner.nodes)).await {
            Ok(result) => result.map_err(CacheError),
            Err(_) => Err(CacheError("no answer to CLUSTER NODES within 5 s".into())),
        }
    }

    /// Retries pending invalidations forever, every `outbox_interval`, and
    /// reports new hit/miss counts on the same beat.
    pub fn spawn_outbox_flusher(&self) -> tokio::task::JoinHandle<()> {
        let cache = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(cache.inner.settings.outbox_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut pruned_at: Option<std::time::Instant> = None;
            let prune_every = flush::PRUNE_EVERY.min(cache.inner.settings.outbox_retention / 4);
            loop {
                tick.tick().await;
                if pruned_at.is_none_or(|at| at.elapsed() >= prune_every) {
                    pruned_at = Some(std::time::Instant::now());
                    match cache.prune_outbox().await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(rows = n, "outbox rows past the retention window deleted"),
                        Err(e) => tracing::warn!(error = %e, "outbox not pruned"),
                    }
                }
                if cache.inner.breaker.is_closed() {
                    let _ = cache.report_stats().await;
                }
                if let Some((local, _)) = &cache.inner.local {
                    metrics::gauge!("storefront_cache_local_bytes").set(local.bytes() as f64);
                }
                // An open breaker is probed by the next request, which
                // flushes before serving anything cached.
                if cache.inner.breaker.is_closed()
                    && let Err(e) = cache.flush_outbox().await
                {
                    tracing::debug!(error = %e, "outbox flush deferred");
                }
            }
        })
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

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("outbox: {0}")]
    Database(String),
    #[error("outbox: {0}")]
    Redis(String),
    #[error("outbox: edge purge: {0}")]
    Edge(String),
}

/// How long an edge cache may take to answer a purge.
const EDGE_TIMEOUT: Duration = Duration::from_secs(1);
