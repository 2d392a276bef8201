//! Tags pinned during a fill, through the cache's own API (no route pins
//! any yet): an entry is served only while the products its fill pinned are
//! unchanged, over Redis (this instance and another one), over a cache
//! without Redis, and never when the pins could not be read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{DatabaseConnection, EntityTrait};
use storefront::cache::{Cache, CacheStatus, Cached, EntryKey, Filled, Pinned, Tag, as_edge_fetch};
use storefront::models::_entities::product;
use storefront::services::writes;
use tokio::sync::{Barrier, Notify};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::cache::{app_with_own_redis, redis_conn};
use crate::support::redis_server::RedisServer;
use crate::support::writes::price_change;

/// A stand-in for a listing: an entry whose fill pins one product's tag,
/// then reads that product's price (in that order, as `Cache::pin` asks).
/// The entry is under another product's page key, so that a write to the
/// pinned product changes none of the key's own tags: only the pin can
/// make it a miss.
struct Listing {
    key: EntryKey,
    shown: i32,
    fills: AtomicU32,
}

impl Listing {
    fn new(app: &TestApp) -> Listing {
        let page = app.fixture.product("Laptop Sleeve");
        let shown = app.fixture.product("Mechanical Keyboard").id;
        Listing { key: app.cache().keys().product_page(&page.slug), shown, fills: AtomicU32::new(0) }
    }

    async fn get(&self, cache: &Cache, db: &DatabaseConnection) -> Cached {
        self.get_pinning(cache, db, cache).await
    }

    /// As [`Listing::get`], the pin taken on `pins` (another cache).
    async fn get_pinning(&self, cache: &Cache, db: &DatabaseConnection, pins: &Cache) -> Cached {
        cache
            .get_or_fill(&self.key, || async {
                self.fills.fetch_add(1, Ordering::SeqCst);
                let pinned = pins.pin(vec![Tag::Product(self.shown), Tag::Product(self.shown)]).await;
                let row = product::Entity::find_by_id(self.shown).one(db).await?;
                let row = row.ok_or_else(|| std::io::Error::other("the shown product is gone"))?;
                Ok(Filled { body: row.price_cents.to_string().into(), title: String::new(), pinned, sent_whole: false })
            })
            .await
            .expect("the fill reads a product")
    }

    fn fills(&self) -> u32 {
        self.fills.load(Ordering::SeqCst)
    }
}

fn served(cached: &Cached) -> (CacheStatus, &str) {
    (cached.status, std::str::from_utf8(&cached.body).unwrap())
}

on_both_backends! {
    async fn a_write_to_a_pinned_product_is_a_miss_at_once_and_the_refill_is_served(app: TestApp) {
        let listing = Listing::new(&app);
        let first = listing.get(app.cache(), &app.db).await;
        assert_eq!(served(&first), (CacheStatus::Miss, "8999"));
        assert_eq!(first.pinned_tags(), [Tag::Product(listing.shown)], "pinned once, named in the response");
        let hit = listing.get(app.cache(), &app.db).await;
        assert_eq!(served(&hit), (CacheStatus::Hit, "8999"));
        assert_eq!(hit.pinned_tags(), [Tag::Product(listing.shown)]);
        assert_eq!(listing.fills(), 1);

        writes::update_product(&app.db, app.cache(), listing.shown, price_change(7100)).await.unwrap();
        assert_eq!(served(&listing.get(app.cache(), &app.db).await), (CacheStatus::Miss, "7100"));
        assert_eq!(served(&listing.get(app.cache(), &app.db).await), (CacheStatus::Hit, "7100"));
        // An edge's fetch reads the pinned version from Redis, not memory.
        let from_redis = as_edge_fetch(listing.get(app.cache(), &app.db)).await;
        assert_eq!(served(&from_redis), (CacheStatus::Hit, "7100"));
        assert_eq!(listing.fills(), 2);
    }

    async fn another_instance_serves_a_pinned_entry_until_the_pinned_product_changes(app: TestApp) {
        let other = app.second_instance().await;
        let listing = Listing::new(&app);
        listing.get(app.cache(), &app.db).await;
        // The other instance knows no version yet: it reads the pinned one
        // from Redis in a second round trip, and learns it.
        assert_eq!(served(&listing.get(other.cache(), &other.db).await), (CacheStatus::Hit, "8999"));
        assert_eq!(served(&listing.get(other.cache(), &other.db).await), (CacheStatus::Hit, "8999"));
        writes::update_product(&app.db, app.cache(), listing.shown, price_change(7200)).await.unwrap();
        // The other instance sees it once Redis's push reaches its memory.
        let started = std::time::Instant::now();
        loop {
            let cached = listing.get(other.cache(), &other.db).await;
            if served(&cached).1 == "7200" {
                break;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "the write never reached the other instance");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(listing.fills(), 2);
    }

    async fn a_pinned_tag_gone_from_redis_is_a_miss(app: TestApp) {
        let listing = Listing::new(&app);
        listing.get(app.cache(), &app.db).await;
        let mut redis = redis_conn(&app.state.settings.cache.redis_url);
        let tag = app.cache().keys().tag(&Tag::Product(listing.shown));
        redis::cmd("DEL").arg(&tag).query_async::<()>(&mut redis).await.unwrap();
        // As an edge's fetch, so that the answer is Redis's, whenever the
        // deletion's push reaches this instance's memory.
        let after = as_edge_fetch(listing.get(app.cache(), &app.db)).await;
        assert_eq!(served(&after), (CacheStatus::Miss, "8999"));
        assert_eq!(listing.fills(), 2);
    }

    async fn a_fill_whose_pins_could_not_be_read_is_served_but_never_stored(app: TestApp) {
        // A cache that cannot read versions (here disabled; Redis failing
        // gives the same) stands in for a Redis that failed at the pin.
        let mut settings = (*app.state.settings).clone();
        settings.cache.enabled = false;
        let off = TestApp::spawn_settings(None, settings, |_| {}).await;
        let unread = off.cache().pin(vec![Tag::Product(1)]).await;
        assert!(!unread.is_complete());
        assert_eq!(unread.tags(), [Tag::Product(1)]);

        let listing = Listing::new(&app);
        for _ in 0..2 {
            let cached = listing.get_pinning(app.cache(), &app.db, off.cache()).await;
            assert_eq!(served(&cached), (CacheStatus::Miss, "8999"));
            assert_eq!(cached.pinned_tags(), [Tag::Product(listing.shown)], "the response still names its pins");
        }
        assert_eq!(listing.fills(), 2);
        let mut redis = redis_conn(&app.state.settings.cache.redis_url);
        let exists: u32 = redis::cmd("EXISTS").arg(&listing.key.key).query_async(&mut redis).await.unwrap();
        assert_eq!(exists, 0, "the entry was stored");
        // Pinning nothing is complete.
        assert!(off.cache().pin(Vec::new()).await.is_complete());
        assert_eq!(Pinned::default(), app.cache().pin(Vec::new()).await);
    }

    async fn without_redis_a_pinned_entry_is_served_until_the_pinned_product_changes(app: TestApp) {
        let memory = Cache::in_process(&app.state.settings.cache, app.db.clone()).unwrap();
        let listing = Listing::new(&app);
        assert_eq!(served(&listing.get(&memory, &app.db).await), (CacheStatus::Miss, "8999"));
        assert_eq!(served(&listing.get(&memory, &app.db).await), (CacheStatus::Hit, "8999"));
        writes::update_product(&app.db, &memory, listing.shown, price_change(7300)).await.unwrap();
        assert_eq!(served(&listing.get(&memory, &app.db).await), (CacheStatus::Miss, "7300"));
        assert_eq!(served(&listing.get(&memory, &app.db).await), (CacheStatus::Hit, "7300"));
        assert_eq!(listing.fills(), 2);
    }
}

#[tokio::test]
async fn pinning_while_redis_is_dead_is_incomplete_and_quick() {
    let mut redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    assert!(app.cache().pin(vec![Tag::Product(1)]).await.is_complete());
    redis.kill();
    let started = std::time::Instant::now();
    let pinned = app.cache().pin(vec![Tag::Product(1), Tag::Product(2)]).await;
    assert!(!pinned.is_complete());
    assert!(started.elapsed() <= app.state.settings.cache.timeout * 2, "took {:?}", started.elapsed());
}

/// A fill of a [`Listing`], led in a task of its own and held once it has
/// pinned the product and read it: it passes `read`, then waits for
/// `release`; `leader` gives the body it served.
struct HeldFill {
    leader: tokio::task::JoinHandle<String>,
    read: Arc<Barrier>,
    release: Arc<Notify>,
}

fn hold_a_fill(app: &TestApp, listing: &Arc<Listing>) -> HeldFill {
    let (read, release) = (Arc::new(Barrier::new(2)), Arc::new(Notify::new()));
    let leader = {
        let (cache, db, listing, read, release) =
            (app.cache().clone(), app.db.clone(), listing.clone(), read.clone(), release.clone());
        tokio::spawn(async move {
            let body = cache
                .get_or_fill(&listing.key, || async {
                    listing.fills.fetch_add(1, Ordering::SeqCst);
                    let pinned = cache.pin(vec![Tag::Product(listing.shown)]).await;
                    let row = product::Entity::find_by_id(listing.shown).one(&db).await?.expect("the product");
                    // Read, and held before it is handed out.
                    read.wait().await;
                    release.notified().await;
                    Ok(Filled {
                        body: row.price_cents.to_string().into(),
                        title: String::new(),
                        pinned,
                        sent_whole: false,
                    })
                })
                .await
                .expect("the leader's fill");
            String::from_utf8(body.body.to_vec()).unwrap()
        })
    };
    HeldFill { leader, read, release }
}

/// A request that comes after a write must not be handed the body of a
/// fill that pinned the product before it, even where this process has no
/// in-process layer to tell it that the write happened (another instance's
/// order, its push not here yet): it joins that fill, then finds the pin
/// moved in Redis and fills again.
async fn a_request_after_a_write_never_gets_an_older_fill_it_joined(backend: crate::support::Backend) {
    let app = TestApp::spawn_configured(backend, |s| s.cache.local_max_bytes = 0).await;
    let listing = Arc::new(Listing::new(&app));
    let held = hold_a_fill(&app, &listing);
    held.read.wait().await;
    writes::update_product(&app.db, app.cache(), listing.shown, price_change(6100)).await.unwrap();
    let joiner = {
        let (cache, db, listing) = (app.cache().clone(), app.db.clone(), listing.clone());
        tokio::spawn(async move { served(&listing.get(&cache, &db).await).1.to_owned() })
    };
    // Long enough for the joiner to find the flight and wait on it.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    held.release.notify_one();
    assert_eq!(held.leader.await.unwrap(), "8999", "the leader came before the write");
    assert_eq!(joiner.await.unwrap(), "6100", "the joiner came after it");
    assert_eq!(listing.fills(), 2, "the joiner filled again");
    assert_eq!(served(&listing.get(app.cache(), &app.db).await), (CacheStatus::Hit, "6100"));
}

#[tokio::test]
async fn a_request_after_a_write_never_gets_an_older_fill_it_joined_sqlite() {
    a_request_after_a_write_never_gets_an_older_fill_it_joined(crate::support::Backend::Sqlite).await;
}

#[tokio::test]
async fn a_request_after_a_write_never_gets_an_older_fill_it_joined_postgres() {
    a_request_after_a_write_never_gets_an_older_fill_it_joined(crate::support::Backend::Postgres).await;
}

/// A burst on a cold entry is one fill, however late its last request
/// comes: the fill creates the version of a tag it pins for the first time,
/// and Redis pushes that creation to the in-process layer as it would a
/// change, yet nothing the fill read has changed.
#[tokio::test]
async fn a_request_that_comes_after_its_fill_created_the_pinned_tags_shares_that_fill() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite).await;
    assert!(app.state.settings.cache.local_max_bytes > 0, "the in-process layer, which gets the pushes, is on");
    let listing = Arc::new(Listing::new(&app));
    // As after a seed: the product has never been pinned or written.
    let mut redis = redis_conn(&app.state.settings.cache.redis_url);
    let tag = app.cache().keys().tag(&Tag::Product(listing.shown));
    redis::cmd("DEL").arg(&tag).query_async::<()>(&mut redis).await.unwrap();
    // The fill pins the product's tag, which has no version yet: it creates it.
    let held = hold_a_fill(&app, &listing);
    held.read.wait().await;
    // Long enough for the creation's push to reach this process.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let late = {
        let (cache, db, listing) = (app.cache().clone(), app.db.clone(), listing.clone());
        tokio::spawn(async move { served(&listing.get(&cache, &db).await).1.to_owned() })
    };
    // Long enough for the late request to find the flight and wait on it.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    held.release.notify_one();
    assert_eq!(held.leader.await.unwrap(), "8999");
    assert_eq!(late.await.unwrap(), "8999");
    assert_eq!(listing.fills(), 1, "the late request shared the fill");
}
