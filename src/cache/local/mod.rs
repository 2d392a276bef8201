//! The in-process layer in front of Redis: a hit served from this process's
//! memory costs no round trip, yet stays exact.
//!
//! - Entries are copies of what Redis holds, with the tag versions they were
//!   filled under, pinned tags' included. A local hit needs every tag's
//!   *current* version, so the layer also keeps tag versions, but only ones
//!   it knows are current.
//! - It knows through Redis's own tracking: a dedicated RESP3 connection runs
//!   `CLIENT TRACKING ON BCAST PREFIX {prefix}:{tags}:`, and Redis pushes
//!   the name of every tag key that changes, expires or is evicted, whoever
//!   changed it (this instance, another one, `storefront cache clear`). A
//!   pushed tag is forgotten; the next request reads it from Redis again.
//! - On a Redis Cluster every tag lives in one slot, so tracking one node is
//!   enough: the one that answers a read of a tag key without redirecting.
//!   Its heartbeat is that read, so a node that has lost the slot (failover,
//!   resharding) is left at once for the one the redirect names.
//! - A version read from Redis is kept only if no invalidation was processed
//!   while it was in flight (the `epoch` check): otherwise a reply that left
//!   Redis before a write could be stored after that write's push, and stay
//!   stale. (This is the race that keeps us off the redis crate's own
//!   client-side cache, which stores a reply after its pushes are handled.)
//! - Without a working tracking connection (not yet up, dropped, silent past
//!   its heartbeat) nothing is served locally and every known version is
//!   dropped: a lost push can never leave a stale version behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use crate::cache::entry::{CacheStatus, Cached};
use crate::cache::tags::Tag;

mod tracking;

/// How often the tracking connection must prove it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Wait before reconnecting a dropped tracking connection.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// Tag versions kept (the rest are read from Redis when needed).
const MAX_TAGS: usize = 200_000;

#[derive(Clone)]
struct LocalEntry {
    cached: Cached,
    /// The key's tags' versions, then those of the tags the fill pinned
    /// (named in `cached.pinned`), in that order.
    versions: Arc<[u64]>,
    expires: Instant,
    weight: u64,
}

#[derive(Clone)]
struct ByBodySize;

impl quick_cache::Weighter<String, LocalEntry> for ByBodySize {
    fn weight(&self, _key: &String, entry: &LocalEntry) -> u64 {
        entry.weight
    }
}

pub struct Local {
    entries: quick_cache::sync::Cache<String, LocalEntry, ByBodySize>,
    /// Tag versions known to be current.
    tags: quick_cache::sync::Cache<Tag, u64>,
    /// Advanced by every invalidation processed.
    epoch: AtomicU64,
    /// Whether the tracking connection is up.
    live: AtomicBool,
}

/// What [`Local::snapshot`] returns: the epoch a Redis read started in.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot(Option<u64>);

impl Local {
    pub fn new(max_bytes: u64) -> Self {
        Local {
            entries: quick_cache::sync::Cache::with_weighter(
                (max_bytes / 4096).max(16) as usize,
                max_bytes,
                ByBodySize,
            ),
            tags: quick_cache::sync::Cache::new(MAX_TAGS),
            epoch: AtomicU64::new(0),
            live: AtomicBool::new(false),
        }
    }

    /// The whole cache of a shop without Redis: always live, and the tag
    /// versions it holds are the current ones by definition (see
    /// [`Local::current_versions`]).
    pub fn standalone(max_bytes: u64) -> Self {
        let local = Local::new(max_bytes);
        local.live.store(true, SeqCst);
        local
    }

    /// For a standalone cache: each tag's version, made up when it has none.
    /// A version evicted or forgotten comes back as a new random one, so an
    /// entry filled under the old one is never served again.
    pub fn current_versions(&self, tags: &[Tag]) -> Vec<u64> {
        tags.iter()
            .map(|tag| {
                self.tags
                    .get_or_insert_with(tag, || Ok::<_, std::convert::Infallible>(crate::cache::tags::random_version()))
                    .unwrap_or_else(|never| match never {})
            })
            .collect()
    }

    /// Whether hits may be served from here.
    pub fn is_live(&self) -> bool {
        self.live.load(SeqCst)
    }

    /// The entry under `key`, if its recorded versions (of `tags`, and of
    /// the tags its fill pinned) are all known to be the current ones.
    pub fn get(&self, key: &str, tags: &[Tag]) -> Option<Cached> {
        if !self.is_live() {
            return None;
        }
        let entry = self.entries.get(key)?;
        let pinned = entry.cached.pinned_tags();
        if entry.expires <= Instant::now() || entry.versions.len() != tags.len() + pinned.len() {
            return None;
        }
        let current =
            tags.iter().chain(pinned).zip(entry.versions.iter()).all(|(tag, &v)| self.tags.get(tag) == Some(v));
        current.then_some(entry.cached)
    }

    /// The version of `tag` if it is known to be current.
    pub fn known(&self, tag: &Tag) -> Option<u64> {
        if !self.is_live() {
            return None;
        }
        self.tags.get(tag)
    }

    /// How many invalidations this layer has processed: a request that
    /// starts after one never joins a fill that started before it (see
    /// `Cache::get_or_fill`).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(SeqCst)
    }

    /// Taken before a Redis read whose versions [`Local::learn`] may keep.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.is_live().then(|| self.epoch.load(SeqCst)))
    }

    /// Keeps tag versions read from Redis, unless an invalidation was
    /// processed since `snapshot`. Inserting first and checking after closes
    /// the gap between the check and the insert: an invalidation that lands
    /// in between advances the epoch, and the insert is undone.
    pub fn learn(&self, snapshot: Snapshot, tags: &[Tag], versions: &[u64]) {
        let Snapshot(Some(epoch)) = snapshot else { return };
        if self.epoch.load(SeqCst) != epoch {
            return;
        }
        for (tag, &v) in tags.iter().zip(versions) {
            self.tags.insert(tag.clone(), v);
        }
        if self.epoch.load(SeqCst) != epoch || !self.is_live() {
            for tag in tags {
                self.tags.remove(tag);
            }
        }
    }

    /// Keeps a copy of an entry Redis holds (or was just given):
    /// `versions` of its key's tags, `pinned` of the tags its fill pinned
    /// (one per `cached.pinned`; anything else is not kept).
    pub fn store(&self, key: &str, cached: &Cached, versions: &[u64], pinned: &[u64], ttl: Duration) {
        if !self.is_live() || pinned.len() != cached.pinned_tags().len() {
            return;
        }
        let names: usize = cached.pinned_tags().len() * 32;
        let forms = cached.encodings.as_ref().map_or(0, crate::encoding::Encodings::len);
        let weight = (key.len() + cached.body.len() + forms + cached.title.len() + names + 128) as u64;
        let entry = LocalEntry {
            cached: Cached { status: CacheStatus::Hit, ..cached.clone() },
            versions: versions.iter().chain(pinned).copied().collect(),
            expires: Instant::now() + ttl,
            weight,
        };
        self.entries.insert(key.to_owned(), entry);
    }

    /// These tags changed: their versions are no longer known.
    pub fn forget(&self, tags: &[Tag]) {
        self.epoch.fetch_add(1, SeqCst);
        for tag in tags {
            self.tags.remove(tag);
        }
    }

    /// Every version is unknown (flush, lost connection).
    pub fn forget_all(&self) {
        self.epoch.fetch_add(1, SeqCst);
        self.tags.clear();
    }

    fn set_live(&self, live: bool) {
        if !live {
            self.live.store(false, SeqCst);
        }
        // Versions learned before (or during) an outage may have missed
        // their pushes: start from nothing either way.
        self.forget_all();
        if live {
            self.live.store(true, SeqCst);
        }
    }

    /// Memory held by entries, as weighed for the bound.
    pub fn bytes(&self) -> u64 {
        self.entries.weight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::keys::Keys;
    use redis::{PushKind, Value};

    fn cached(body: &'static str) -> Cached {
        Cached {
            body: bytes::Bytes::from_static(body.as_bytes()),
            title: String::new(),
            etag: "\"e\"".into(),
            status: CacheStatus::Miss,
            pinned: None,
            encodings: None,
        }
    }

    fn pinning(body: &'static str, pinned: &[Tag]) -> Cached {
        Cached { pinned: Some(pinned.into()), ..cached(body) }
    }

    fn live() -> Local {
        let local = Local::new(1 << 20);
        local.set_live(true);
        local
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn an_entry_is_served_only_under_known_current_versions() {
        let local = live();
        let tags = [Tag::Lists, Tag::Product(1)];
        local.store("k", &cached("a"), &[1, 2], &[], TTL);
        assert!(local.get("k", &tags).is_none(), "versions not yet known");
        local.learn(local.snapshot(), &tags, &[1, 2]);
        let hit = local.get("k", &tags).expect("a local hit");
        assert_eq!((hit.body.as_ref(), hit.status), (b"a".as_ref(), CacheStatus::Hit));
        local.learn(local.snapshot(), &tags, &[1, 3]);
        assert!(local.get("k", &tags).is_none(), "a newer version read from Redis");
    }

    #[test]
    fn a_version_read_while_an_invalidation_arrived_is_not_kept() {
        let local = live();
        let tags = [Tag::Product(1)];
        local.store("k", &cached("old"), &[1], &[], TTL);
        // A reader's MGET leaves; the write's push is processed before its
        // reply comes back with the old version.
        let before = local.snapshot();
        local.forget(&[Tag::Product(1)]);
        local.learn(before, &tags, &[1]);
        assert!(local.get("k", &tags).is_none());
        // A push for an unrelated tag is enough to refuse (conservative).
        let before = local.snapshot();
        local.forget(&[Tag::Product(2)]);
        local.learn(before, &tags, &[1]);
        assert!(local.get("k", &tags).is_none());
    }

    #[test]
    fn nothing_is_served_or_learned_without_the_tracking_connection() {
        let local = live();
        let tags = [Tag::Lists];
        local.store("k", &cached("a"), &[5], &[], TTL);
        local.learn(local.snapshot(), &tags, &[5]);
        assert!(local.get("k", &tags).is_some());
        local.set_live(false);
        assert!(local.get("k", &tags).is_none());
        local.learn(local.snapshot(), &tags, &[5]);
        local.set_live(true);
        assert!(local.get("k", &tags).is_none(), "versions known before the outage were kept");
    }

    #[test]
    fn pushes_forget_their_tags_and_a_flush_forgets_all() {
        let keys = Keys::new("shop", "1");
        let local = live();
        let (a, b) = ([Tag::Product(1)], [Tag::Product(2)]);
        local.store("a", &cached("a"), &[1], &[], TTL);
        local.store("b", &cached("b"), &[1], &[], TTL);
        local.learn(local.snapshot(), &a, &[1]);
        local.learn(local.snapshot(), &b, &[1]);
        let push = [Value::Array(vec![Value::BulkString(keys.tag(&Tag::Product(1)).into_bytes())])];
        assert!(local.on_push(&keys, &PushKind::Invalidate, &push));
        assert!(local.get("a", &a).is_none());
        assert!(local.get("b", &b).is_some());
        assert!(local.on_push(&keys, &PushKind::Invalidate, &[Value::Nil]));
        assert!(local.get("b", &b).is_none());
        assert!(!local.on_push(&keys, &PushKind::Disconnection, &[]));
    }

    #[test]
    fn an_entry_with_pinned_tags_is_served_only_while_all_of_them_are_known_current() {
        let local = live();
        let tags = [Tag::All, Tag::Lists];
        let pins = [Tag::Product(1), Tag::Product(2)];
        local.store("k", &pinning("a", &pins), &[1, 2], &[10, 20], TTL);
        local.learn(local.snapshot(), &tags, &[1, 2]);
        assert!(local.get("k", &tags).is_none(), "pinned versions not yet known");
        local.learn(local.snapshot(), &pins[..1], &[10]);
        assert!(local.get("k", &tags).is_none(), "one pinned version still unknown");
        local.learn(local.snapshot(), &pins[1..], &[20]);
        let hit = local.get("k", &tags).expect("a local hit");
        assert_eq!(hit.pinned_tags(), pins);
        local.learn(local.snapshot(), &pins[1..], &[21]);
        assert!(local.get("k", &tags).is_none(), "a pinned tag has a newer version");
        local.learn(local.snapshot(), &pins[1..], &[20]);
        assert!(local.get("k", &tags).is_some());
        local.forget(&[Tag::Product(2)]);
        assert!(local.get("k", &tags).is_none(), "a pinned tag was invalidated");
        assert_eq!(local.known(&Tag::Product(1)), Some(10));
        assert_eq!(local.known(&Tag::Product(2)), None);
    }

    #[test]
    fn pinned_versions_that_do_not_match_the_pinned_tags_are_not_kept() {
        let local = live();
        let tags = [Tag::Lists];
        local.learn(local.snapshot(), &tags, &[1]);
        // An incomplete pin: tags named, versions unread.
        local.store("k", &pinning("a", &[Tag::Product(1)]), &[1], &[], TTL);
        assert!(local.get("k", &tags).is_none());
        local.store("k", &cached("a"), &[1], &[7], TTL);
        assert!(local.get("k", &tags).is_none());
    }

    #[test]
    fn a_standalone_cache_serves_a_pinned_entry_until_a_pinned_tag_is_forgotten() {
        let memory = Local::standalone(1 << 20);
        let tags = [Tag::Lists];
        let pins = [Tag::Product(5)];
        let versions = memory.current_versions(&tags);
        let pinned = memory.current_versions(&pins);
        memory.store("k", &pinning("a", &pins), &versions, &pinned, TTL);
        assert!(memory.get("k", &tags).is_some());
        memory.forget(&pins);
        assert!(memory.get("k", &tags).is_none());
        assert_ne!(memory.current_versions(&pins), pinned, "a forgotten version comes back new");
        assert!(memory.get("k", &tags).is_none());
    }

    #[test]
    fn expired_entries_are_not_served() {
        let local = live();
        let tags = [Tag::Lists];
        local.store("k", &cached("a"), &[5], &[], Duration::ZERO);
        local.learn(local.snapshot(), &tags, &[5]);
        assert!(local.get("k", &tags).is_none());
    }
}
