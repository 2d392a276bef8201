//! Applying the outbox: each cache namespace this instance serves reads the
//! rows past its own cursor and applies them, then moves its cursor.
//!
//! - Redis keeps its namespace's cursor itself, next to the tag versions and
//!   written after them: a Redis restored from a snapshot or a replica comes
//!   back with the cursor that matches its entries, and catches up from
//!   there. A Redis that has no cursor (new, flushed, evicted) retires
//!   everything it holds, as does one whose cursor is older than the rows
//!   retention deleted.
//! - The in-process cache keeps its cursor in memory; it starts empty.
//! - Edge caches cannot keep one, so theirs is a row in `cache_cursors`.
//! - Redis goes before the edges, so a purged edge refetches from a Redis
//!   that no longer holds the old entry; the edges are purged even when
//!   Redis fails (while Redis is skipped, refetches come from the database).

use std::sync::{Mutex, Weak};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};

use super::cursor::{Cursor, Row};
use super::local::Local;
use super::outbox;
use super::tags::Tag;
use super::{Cache, Inner, edge};
use crate::config::CacheSettings;

/// Rows read per query.
const BATCH: u64 = 500;

/// One cache this instance applies the outbox to.
#[derive(Clone, Copy)]
enum Sink<'a> {
    Redis,
    Memory(&'a Local),
    Edges(&'a edge::Edges),
}

impl Sink<'_> {
    fn name(&self) -> &'static str {
        match self {
            Sink::Redis => "redis",
            Sink::Memory(_) => "in-process",
            Sink::Edges(_) => "edges",
        }
    }
}

fn database(e: DbErr) -> FlushError {
    FlushError::Database(e.to_string())
}

fn tags_of(rows: &[&Row]) -> Vec<Tag> {
    let mut tags: Vec<Tag> = rows.iter().flat_map(|r| r.tags.split(' ').filter_map(Tag::parse)).collect();
    tags.sort();
    tags.dedup();
    tags
}

/// Applies the outbox to every cache this instance serves, now
/// ([`Flusher::flush`]) or on a beat ([`Flusher::spawn`]). It owns what only
/// the outbox needs: the database, the edge caches and the cursors kept
/// outside Redis. The [`Cache`] owns it, and it writes to Redis through the
/// cache's own invalidation.
pub struct Flusher {
    /// The cache that owns this flusher (weak, or neither would be dropped).
    cache: Weak<Inner>,
    db: DatabaseConnection,
    /// The edge caches to purge after writes, if any.
    edges: Option<edge::Edges>,
    /// The in-process cache's place in the outbox.
    memory_cursor: Mutex<Option<Cursor>>,
    /// The `cache_cursors` row of this instance's edge caches.
    edge_cursor: String,
    /// Held while the outbox is applied.
    flushing: tokio::sync::Mutex<()>,
    /// How often [`Flusher::spawn`]'s task runs.
    interval: Duration,
    /// How long applied rows stay for caches that are away.
    retention: Duration,
}

impl Flusher {
    pub(super) fn new(
        cache: Weak<Inner>,
        settings: &CacheSettings,
        db: DatabaseConnection,
        edges: Option<edge::Edges>,
    ) -> Self {
        Flusher {
            cache,
            db,
            edges,
            memory_cursor: Mutex::new(None),
            edge_cursor: edge::cursor_name(&settings.key_prefix, &settings.purge_urls),
            flushing: tokio::sync::Mutex::new(()),
            interval: settings.outbox_interval,
            retention: settings.outbox_retention,
        }
    }

    /// The cache this flusher belongs to. A flusher is only reachable
    /// through its cache ([`Cache::flusher`]), so the cache is alive.
    fn cache(&self) -> Cache {
        Cache { inner: self.cache.upgrade().expect("a flusher is reached through its live cache") }
    }

    fn sinks<'a>(&'a self, cache: &'a Cache) -> Vec<Sink<'a>> {
        let mut sinks = Vec::new();
        if cache.enabled() {
            sinks.push(Sink::Redis);
        }
        if let Some(memory) = &cache.inner.memory {
            sinks.push(Sink::Memory(memory));
        }
        if let Some(edges) = &self.edges {
            sinks.push(Sink::Edges(edges));
        }
        sinks
    }

    /// Applies pending invalidations from the outbox to every cache this
    /// instance serves: Redis, the in-process cache, the edge caches.
    /// Returns how many rows were applied (counted once per cache). The
    /// first error is returned after every cache was tried.
    #[tracing::instrument(name = "cache.flush_outbox", level = "debug", skip_all)]
    pub async fn flush(&self) -> Result<usize, FlushError> {
        // One flush at a time per instance: a second would only redo it.
        let _one = self.flushing.lock().await;
        let cache = self.cache();
        let mut applied = 0;
        let mut first_error = None;
        for sink in self.sinks(&cache) {
            match self.flush_into(&cache, sink).await {
                Ok(n) => applied += n,
                Err(e) => {
                    tracing::debug!(cache = sink.name(), error = %e, "outbox not applied");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(applied),
        }
    }

    #[tracing::instrument(name = "cache.flush_into", level = "debug", skip_all, fields(cache = sink.name()))]
    async fn flush_into(&self, cache: &Cache, sink: Sink<'_>) -> Result<usize, FlushError> {
        let db = &self.db;
        let (mut cursor, start) = match self.load_cursor(cache, sink).await? {
            Some(cursor) => {
                let start = cursor.position;
                (cursor, Some(start))
            }
            None => {
                // New, or lost its cursor: what it holds may be older than
                // any row left, so retire it all. Rows before the settled
                // position committed before that.
                let cursor = Cursor::at(outbox::settled(db).await.map_err(database)?);
                tracing::info!(cache = sink.name(), "no outbox cursor: retiring every cached entry once");
                self.apply(cache, sink, &[Tag::All], &cursor).await?;
                (cursor, None)
            }
        };
        let from = cursor.position;
        let settled = outbox::settled(db).await.map_err(database)?;
        let mut seen = Vec::new();
        let mut after = None;
        let mut applied = 0;
        loop {
            let rows = outbox::rows_from(db, from, after, BATCH).await.map_err(database)?;
            let complete = rows.len() < BATCH as usize;
            let pending: Vec<&Row> = rows.iter().filter(|r| cursor.is_pending(r)).collect();
            seen.extend(rows.iter().map(|r| (r.id, r.position)));
            after = rows.last().map(|r| (r.position, r.id)).or(after);
            let next = cursor.advanced(&seen, settled, complete);
            // A cursor that only moved is not written: the rows it passes
            // are applied and read again harmlessly. It is written when
            // its applied set shrinks, so it never lags behind for long.
            if !pending.is_empty() || next.applied != cursor.applied {
                self.apply(cache, sink, &tags_of(&pending), &next).await?;
                applied += pending.len();
            }
            cursor = next;
            if complete {
                break;
            }
        }
        // Read after the rows: a row deleted before it was read shows here.
        if let Some(start) = start
            && outbox::pruned_through(db).await.map_err(database)? >= start
        {
            tracing::warn!(cache = sink.name(), "away longer than the outbox retention: retiring every cached entry");
            self.apply(cache, sink, &[Tag::All], &cursor).await?;
        }
        Ok(applied)
    }

    async fn load_cursor(&self, cache: &Cache, sink: Sink<'_>) -> Result<Option<Cursor>, FlushError> {
        match sink {
            Sink::Redis => {
                let mut get = redis::pipe();
                get.cmd("GET").arg(cache.inner.keys.outbox_cursor());
                let (raw,): (Option<String>,) = cache.call(&get).await.map_err(|e| FlushError::Redis(e.to_string()))?;
                Ok(raw.as_deref().and_then(Cursor::decode))
            }
            Sink::Memory(_) => Ok(self.memory_cursor.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            Sink::Edges(_) => outbox::load_cursor(&self.db, &self.edge_cursor).await.map_err(database),
        }
    }

    /// Applies `tags` to `sink`, then stores its new cursor.
    async fn apply(&self, cache: &Cache, sink: Sink<'_>, tags: &[Tag], cursor: &Cursor) -> Result<(), FlushError> {
        match sink {
            Sink::Redis => {
                cache.invalidate_redis(tags, Some(cursor)).await.map_err(|e| FlushError::Redis(e.to_string()))
            }
            Sink::Memory(memory) => {
                memory.forget(tags);
                cache.count_invalidations(tags);
                *self.memory_cursor.lock().unwrap_or_else(|p| p.into_inner()) = Some(cursor.clone());
                Ok(())
            }
            Sink::Edges(edges) => {
                if !tags.is_empty() {
                    edges.purge(tags).await.map_err(FlushError::Edge)?;
                    edges.purge_again_after(tags.to_vec(), edge::REPURGE_AFTER);
                }
                outbox::save_cursor(&self.db, &self.edge_cursor, cursor).await.map_err(database)
            }
        }
    }

    /// How many outbox rows each cache this instance serves has yet to
    /// apply, by name (`redis`, `in-process`, `edges`). A cache without a
    /// cursor has every row left to apply.
    #[tracing::instrument(name = "cache.pending", skip_all)]
    pub async fn pending(&self) -> Result<Vec<(&'static str, usize)>, FlushError> {
        let cache = self.cache();
        let mut counts = Vec::new();
        for sink in self.sinks(&cache) {
            let cursor = self.load_cursor(&cache, sink).await?;
            let from = cursor.as_ref().map_or(i64::MIN, |c| c.position);
            let (mut count, mut after) = (0, None);
            loop {
                let rows = outbox::rows_from(&self.db, from, after, BATCH).await.map_err(database)?;
                count += rows.iter().filter(|r| cursor.as_ref().is_none_or(|c| c.is_pending(r))).count();
                after = rows.last().map(|r| (r.position, r.id));
                if rows.len() < BATCH as usize {
                    break;
                }
            }
            counts.push((sink.name(), count));
        }
        Ok(counts)
    }

    /// Makes every entry of this app stale at once, in Redis (one SET:
    /// never FLUSHDB, which would also end every session sharing the server)
    /// and at every edge (every object carries the `all` tag). Through the
    /// outbox, so what cannot be applied now is applied later.
    #[tracing::instrument(name = "cache.clear", skip_all)]
    pub async fn clear(&self) -> Result<(), FlushError> {
        outbox::record(&self.db, &[Tag::All]).await.map_err(|e| FlushError::Database(e.to_string()))?;
        self.flush().await.map(|_| ())
    }

    /// Retries pending invalidations forever, every `outbox_interval`, and
    /// reports new hit/miss counts on the same beat.
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let cache = self.cache();
        tokio::spawn(async move {
            let flusher = cache.flusher();
            let mut tick = tokio::time::interval(flusher.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut pruned_at: Option<std::time::Instant> = None;
            let prune_every = PRUNE_EVERY.min(flusher.retention / 4);
            loop {
                tick.tick().await;
                if pruned_at.is_none_or(|at| at.elapsed() >= prune_every) {
                    pruned_at = Some(std::time::Instant::now());
                    match flusher.prune().await {
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
                    && let Err(e) = flusher.flush().await
                {
                    tracing::debug!(error = %e, "outbox flush deferred");
                }
            }
        })
    }

    /// Deletes outbox rows older than the retention window.
    #[tracing::instrument(name = "cache.prune_outbox", level = "debug", skip_all)]
    pub async fn prune(&self) -> Result<u64, FlushError> {
        outbox::prune(&self.db, self.retention).await.map_err(database)
    }
}

/// How often the flusher prunes the outbox.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error("outbox: {0}")]
    Database(String),
    #[error("outbox: {0}")]
    Redis(String),
    #[error("outbox: edge purge: {0}")]
    Edge(String),
}
