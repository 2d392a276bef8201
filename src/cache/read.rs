//! The read path: an entry from the in-process layer, or from Redis with its
//! tags' current versions in one round trip, or filled once per key and
//! version set (see the module above for why it stays exact). An entry that
//! pinned tags during its fill ([`pin`](super::pin)) also needs those
//! tags' versions: from the in-process layer where it knows them, else in a
//! second round trip.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::breaker::Permit;
use super::edge::is_edge_fetch;
use super::entry::{CacheStatus, Cached, Entry, Filled};
use super::keys::EntryKey;
use super::local::Local;
use super::pin::Pinned;
use super::tags::{Tag, parse_version, random_version};
use super::{Cache, CacheError, FlushError};

/// Why a fill failed: the fill's own error, shared by every request that
/// waited on that fill. The cache never looks inside it; the caller gets
/// its own error type back with [`FillError::downcast_ref`].
#[derive(Clone, Debug)]
pub struct FillError(Arc<dyn std::error::Error + Send + Sync>);

// Like `anyhow::Error`, this is not itself a `std::error::Error`, so that
// any error converts into it with `?` inside a fill.
impl<E: std::error::Error + Send + Sync + 'static> From<E> for FillError {
    fn from(error: E) -> Self {
        FillError(Arc::new(error))
    }
}

impl FillError {
    /// The fill's error, if it is an `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

impl fmt::Display for FillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a flight hands each request that shared it: the fill's entry and
/// the tags it pinned, and the invalidation epoch its leader came in.
pub(super) type Flown = ((Cached, Pinned), u64);

/// Which fill a miss may share: one for the same key and static versions.
/// A pinned tag's version is known only once a fill has pinned it, so the
/// static versions alone would let a request that arrives after a write to
/// a pinned product (an order's 201 already sent) join a fill that pinned
/// it before, and get its older body. So a request that joined a fill with
/// pinned tags checks them in Redis once it ends, and fills again if one
/// moved (see `get_or_fill`): that holds whether this process has had the
/// write's push or not.
///
/// The flight is not also of this process's invalidation epoch, as it is
/// without Redis (`serve_in_process`, where nothing else checks): Redis
/// pushes a tag's creation as it pushes a change, and a cold entry's fill
/// creates the tags it pins, so the rest of a burst on that entry would
/// start a fill of its own with nothing changed.
fn flight_key(entry: &EntryKey, versions: &[u64]) -> String {
    let versions: Vec<String> = versions.iter().map(u64::to_string).collect();
    format!("{}#{}", entry.key, versions.join("."))
}

fn count_request(kind: &'static str, result: &'static str) {
    metrics::counter!("storefront_cache_requests_total", "kind" => kind, "result" => result).increment(1);
}

impl Cache {
    /// Serves `entry` from Redis, or fills it with `fill` and stores it.
    #[tracing::instrument(name = "cache.get_or_fill", level = "debug", skip_all, fields(key = %entry.key))]
    pub async fn get_or_fill<F, Fut>(&self, entry: &EntryKey, fill: F) -> Result<Cached, FillError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, FillError>>,
    {
        let counters = &self.inner.counters;
        let record = |result: &'static str| count_request(entry.kind, result);
        let bypass = |filled: Filled| {
            counters.bypasses.fetch_add(1, Ordering::Relaxed);
            record("bypass");
            // Served once: the response compresses it, in the coding asked
            // for, if it must.
            let e = Entry::new(Vec::new(), filled.pinned, filled.title, filled.body);
            Cached { encodings: None, ..Cached::from_entry(e, CacheStatus::Bypass) }
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
        let epoch = local.map_or(0, Local::epoch);
        let Ok((found, versions)) = Box::pin(self.lookup(entry, permit)).await else {
            return Ok(bypass(Box::pin(fill()).await?));
        };
        if let (Some(local), Some(snapshot)) = (local, snapshot) {
            local.learn(snapshot, &entry.tags, &versions);
        }
        if let Some(e) = found.and_then(Entry::decode).filter(|e| e.versions == versions)
            && (e.pinned.is_empty() || Box::pin(self.pins_hold(local, &e.pinned)).await)
        {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            record("hit");
            let pinned = e.pinned.versions().to_vec();
            let cached = Cached::from_entry(e, CacheStatus::Hit);
            if let Some(local) = local {
                local.store(&entry.key, &cached, &versions, &pinned, self.ttl(entry.ttl));
            }
            return Ok(cached);
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        record("miss");
        let flight = flight_key(entry, &versions);
        let mut own = Some(fill);
        let shared = Box::pin(self.inner.flights.run(flight.clone(), || {
            let (fill, versions) = (own.take(), versions.clone());
            async move { Ok((self.fill_and_store(entry, versions, local, fill).await?, epoch)) }
        }))
        .await;
        let ((cached, pinned), led_in) = shared?;
        // This request led the fill, or shared one with nothing pinned.
        let Some(fill) = own else { return Ok(cached) };
        if pinned.is_empty() {
            return Ok(cached);
        }
        // It joined a fill that pinned its products before this request
        // came: a write since (an order acknowledged on any instance, whose
        // push this process may not have had yet) makes that body older
        // than the request. Redis's versions decide; a fill of those newer
        // versions is shared by the requests that find the same. Pins that
        // could not be read cannot be checked: the body is served only if
        // nothing was invalidated here since the fill began.
        let current =
            if pinned.is_complete() { Box::pin(self.pins_hold(None, &pinned)).await } else { led_in == epoch };
        if current {
            return Ok(cached);
        }
        let seen: Vec<String> = pinned.versions().iter().map(u64::to_string).collect();
        let again = format!("{flight}#after:{}#{epoch}", seen.join("."));
        let mut own = Some(fill);
        let refilled = Box::pin(self.inner.flights.run(again, || {
            let fill = own.take();
            async move { Ok((self.fill_and_store(entry, versions, local, fill).await?, epoch)) }
        }))
        .await;
        Ok((refilled?.0).0)
    }

    /// A flight's work: the entry another flight stored meanwhile, or
    /// `fill`'s, stored in Redis (and this process's layer). `fill` is
    /// `None` only for a caller that joined a flight, which never runs this.
    async fn fill_and_store<F, Fut>(
        &self,
        entry: &EntryKey,
        versions: Vec<u64>,
        local: Option<&Local>,
        fill: Option<F>,
    ) -> Result<(Cached, Pinned), FillError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, FillError>>,
    {
        // A flight for these versions that ended between our lookup and
        // now has stored its entry: serve that, fill nothing.
        if let Some(e) = self.stored(&entry.key).await.filter(|e| e.versions == versions)
            && self.pins_hold(local, &e.pinned).await
        {
            let pinned = e.pinned.clone();
            return Ok((Cached::from_entry(e, CacheStatus::Hit), pinned));
        }
        let fill = fill.ok_or_else(|| FillError::from(std::io::Error::other("a flight ran without its fill")))?;
        let filled = self.fill(entry, fill).await?;
        let forms = self.forms_of(&filled);
        let e = Entry::filled(versions, filled, forms);
        let pinned = e.pinned.clone();
        // Pinned tags whose versions could not be read: this request gets
        // the body, nobody else does.
        if !e.pinned.is_complete() {
            return Ok((Cached::from_entry(e, CacheStatus::Miss), pinned));
        }
        let ttl = self.ttl_with_jitter(entry.ttl);
        let mut store = redis::pipe();
        store.cmd("SET").arg(&entry.key).arg(e.encode()).arg("PX").arg(ttl.as_millis() as u64).ignore();
        // A failed store costs only the next request a miss.
        let stored = self.call::<()>(&store).await.is_ok();
        let (versions, pinned_versions) = (e.versions.clone(), e.pinned.versions().to_vec());
        let cached = Cached::from_entry(e, CacheStatus::Miss);
        if stored && let Some(local) = local {
            local.store(&entry.key, &cached, &versions, &pinned_versions, ttl);
        }
        Ok((cached, pinned))
    }

    /// Runs a fill, timed and counted, then (in tests) the fill hook.
    async fn fill<F, Fut>(&self, entry: &EntryKey, fill: F) -> Result<Filled, FillError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, FillError>>,
    {
        let started = std::time::Instant::now();
        let filled = fill().await?;
        self.inner.counters.fills.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("storefront_cache_fill_seconds", "kind" => entry.kind)
            .record(started.elapsed().as_secs_f64());
        #[cfg(feature = "test-seams")]
        self.run_fill_hook(&entry.key).await;
        Ok(filled)
    }

    /// [`Cache::get_or_fill`] without Redis. The versions are taken before
    /// the fill, as with Redis, so a fill that raced a write is stored
    /// under versions the write has already replaced, and never served;
    /// [`Local::get`] checks the pinned tags' versions too.
    async fn serve_in_process<F, Fut>(&self, memory: &Local, entry: &EntryKey, fill: F) -> Result<Cached, FillError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Filled, FillError>>,
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
        // Without Redis, nothing checks a joined fill's pins afterwards:
        // any invalidation learned since it began splits later requests off.
        let epoch = memory.epoch();
        let versions = memory.current_versions(&entry.tags);
        let flight = format!("{}#{epoch}", flight_key(entry, &versions));
        let shared = Box::pin(self.inner.flights.run(flight, || async move {
            // A flight for these versions that ended meanwhile stored it.
            if let Some(hit) = memory.get(&entry.key, &entry.tags) {
                return Ok(((hit, Pinned::default()), epoch));
            }
            let filled = self.fill(entry, fill).await?;
            let forms = self.forms_of(&filled);
            let e = Entry::filled(versions, filled, forms);
            let complete = e.pinned.is_complete();
            let (versions, pinned) = (e.versions.clone(), e.pinned.versions().to_vec());
            let cached = Cached::from_entry(e, CacheStatus::Miss);
            if complete {
                memory.store(&entry.key, &cached, &versions, &pinned, self.ttl_with_jitter(entry.ttl));
            }
            Ok(((cached, Pinned::default()), epoch))
        }))
        .await;
        Ok((shared?.0).0)
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
            match self.flusher().flush().await {
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
        Ok((found, self.versions_or_create(&tag_keys, &values).await?))
    }

    /// The versions in `values` (an MGET's answer for `tag_keys`), with the
    /// absent tags created with a fresh random version.
    async fn versions_or_create(
        &self,
        tag_keys: &[String],
        values: &[Option<Vec<u8>>],
    ) -> Result<Vec<u64>, CacheError> {
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
        Ok(versions.into_iter().map(|v| v.unwrap_or(0)).collect())
    }

    /// For [`Cache::pin`] over Redis: the current version of each tag,
    /// created when absent. The in-process layer answers for the versions
    /// it knows are current; the rest are one MGET, and learned. Even for
    /// an edge's fetch: a version known here that Redis has just replaced
    /// (its push not yet arrived) was replaced by a write that committed
    /// before the fill reads, so it only makes the entry unservable.
    pub(super) async fn tag_versions(&self, tags: &[Tag]) -> Result<Vec<u64>, CacheError> {
        let local = self.inner.local.as_ref().map(|(local, _)| local.as_ref());
        let mut versions: Vec<Option<u64>> = tags.iter().map(|t| local.and_then(|l| l.known(t))).collect();
        let unknown: Vec<Tag> =
            tags.iter().zip(&versions).filter(|(_, v)| v.is_none()).map(|(t, _)| t.clone()).collect();
        if !unknown.is_empty() {
            let snapshot = local.map(Local::snapshot);
            let tag_keys: Vec<String> = unknown.iter().map(|t| self.inner.keys.tag(t)).collect();
            let mut get = redis::cmd("MGET");
            get.arg(&tag_keys);
            let values: Vec<Option<Vec<u8>>> = self.call(&get).await?;
            if values.len() != tag_keys.len() {
                return Err(CacheError("MGET answered the wrong number of values".into()));
            }
            let read = self.versions_or_create(&tag_keys, &values).await?;
            if let (Some(local), Some(snapshot)) = (local, snapshot) {
                local.learn(snapshot, &unknown, &read);
            }
            let mut read = read.into_iter();
            for v in versions.iter_mut().filter(|v| v.is_none()) {
                *v = read.next();
            }
        }
        Ok(versions.into_iter().map(|v| v.unwrap_or(0)).collect())
    }

    /// Whether each tag an entry pinned still has the version it recorded.
    /// The in-process layer answers for versions it knows are current
    /// (except for an edge cache's fetch, which must see Redis, as a hit
    /// does); the rest are one MGET, and learned. A pinned tag absent from
    /// Redis has changed since (evicted, cleared): a miss, and it is not
    /// created here (the fill that follows pins it again).
    async fn pins_hold(&self, local: Option<&Local>, pinned: &Pinned) -> bool {
        if pinned.is_empty() {
            return true;
        }
        if !pinned.is_complete() {
            return false;
        }
        let known = local.filter(|_| !is_edge_fetch());
        let mut unknown: Vec<(&Tag, u64)> = Vec::new();
        for (tag, &recorded) in pinned.tags().iter().zip(pinned.versions()) {
            match known.and_then(|l| l.known(tag)) {
                Some(current) if current != recorded => return false,
                Some(_) => {}
                None => unknown.push((tag, recorded)),
            }
        }
        if unknown.is_empty() {
            return true;
        }
        let snapshot = local.map(Local::snapshot);
        let mut get = redis::cmd("MGET");
        for (tag, _) in &unknown {
            get.arg(self.inner.keys.tag(tag));
        }
        let Ok(values) = self.call::<Vec<Option<Vec<u8>>>>(&get).await else { return false };
        if values.len() != unknown.len() {
            return false;
        }
        let current: Vec<Option<u64>> = values.iter().map(|v| v.as_deref().and_then(parse_version)).collect();
        if let (Some(local), Some(snapshot)) = (local, snapshot) {
            let (tags, versions): (Vec<Tag>, Vec<u64>) =
                unknown.iter().zip(&current).filter_map(|((tag, _), v)| Some(((*tag).clone(), (*v)?))).unzip();
            local.learn(snapshot, &tags, &versions);
        }
        unknown.iter().zip(current).all(|((_, recorded), current)| current == Some(*recorded))
    }
}
