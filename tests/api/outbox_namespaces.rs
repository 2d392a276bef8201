//! Every cache over one database gets every invalidation: a second Redis,
//! a second key prefix on one Redis, a cache that was away longer than the
//! outbox keeps rows. Each instance applies the outbox itself; no instance
//! takes a row away from another.

use std::time::{Duration, Instant};

use sea_orm::{EntityTrait, PaginatorTrait};
use storefront::config::Settings;
use storefront::models::_entities::cache_outbox;
use storefront::services::writes;

use crate::support::fixture::FixtureProduct;
use crate::support::redis_server::RedisServer;
use crate::support::store::unique_name;
use crate::support::writes::price_change;
use crate::support::{Backend, TestApp};

/// Both backends: positions are ids on SQLite, transactions on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(crate::support::Backend::Sqlite).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name(crate::support::Backend::Postgres).await
                }
            }
        )*
    };
}

on_both!(
    a_cache_whose_redis_comes_back_with_old_entries_catches_up_on_what_another_cache_applied,
    a_second_key_prefix_on_the_same_redis_gets_every_invalidation,
    a_cache_away_longer_than_the_retention_window_retires_everything_it_held,
);

fn quick(settings: &mut Settings) {
    settings.cache.outbox_interval = Duration::from_millis(100);
    settings.cache.breaker_cooldown = Duration::from_millis(300);
}

/// Instance A, over a fresh database with the fixture catalog.
async fn first(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    TestApp::spawn_configured(backend, |s| {
        quick(s);
        configure(s);
    })
    .await
}

/// Instance B over A's database, with its cache set up by `configure`.
async fn second(a: &TestApp, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = (*a.state.settings).clone();
    configure(&mut settings);
    let mut b = TestApp::start(None, settings).await;
    b.fixture = a.fixture.clone();
    b
}

fn pages(p: &FixtureProduct) -> [String; 2] {
    [format!("/api/products/{}/", p.id), format!("/products/{}", p.slug)]
}

async fn cached_on(app: &TestApp, paths: &[String]) {
    for path in paths {
        app.get(path).await;
        assert_eq!(app.get(path).await.headers()["x-cache"], "HIT", "{path} is cached before the write");
    }
}

/// Until `deadline`, every answer shows `new` and never `old`; returns
/// whether one was a hit again.
async fn always_current(app: &TestApp, paths: &[String], new: &str, old: &str, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    let mut hit = false;
    while Instant::now() < until {
        for path in paths {
            let r = app.get(path).await;
            assert_eq!(r.status(), 200, "{path}");
            let status = r.headers()["x-cache"].to_str().unwrap().to_owned();
            let body = r.text().await.unwrap();
            assert!(body.contains(new) && !body.contains(old), "{path} served the old price ({status})");
            hit |= status == "HIT";
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hit
}

async fn wait_for(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn nothing_pending(app: &TestApp) -> bool {
    app.cache().flusher().pending().await.is_ok_and(|counts| counts.iter().all(|&(_, n)| n == 0))
}

fn old_price(p: &FixtureProduct) -> String {
    format!("{}.{:02}", p.cents / 100, p.cents % 100)
}

/// The scenario: B has its own Redis, A's is healthy; B's Redis
/// goes down, a price changes through B, and B's Redis comes back with its
/// saved entries. A's flusher applied the row to A's Redis long before.
async fn a_cache_whose_redis_comes_back_with_old_entries_catches_up_on_what_another_cache_applied(backend: Backend) {
    let mut redis_b = RedisServer::start();
    let a = first(backend, |_| {}).await;
    let b = second(&a, |s| s.cache.redis_url = redis_b.url()).await;
    let p = a.fixture.product("Steel Laptop 13").clone();
    let paths = pages(&p);
    cached_on(&a, &paths).await;
    cached_on(&b, &paths).await;

    redis_b.shutdown_saving();
    writes::update_product(&b.db, b.cache(), p.id, price_change(4242)).await.unwrap();
    wait_for("A's cache takes the change", Duration::from_secs(10), async || nothing_pending(&a).await).await;
    assert!(always_current(&a, &paths, "42.42", &old_price(&p), Duration::from_millis(300)).await, "A hits again");

    redis_b.restart();
    assert!(
        always_current(&b, &paths, "42.42", &old_price(&p), Duration::from_secs(3)).await,
        "B caches again once its Redis is back"
    );
    assert!(nothing_pending(&b).await, "B's Redis has every row: {:?}", b.cache().flusher().pending().await);
}

/// Two deployments (blue and green) on one Redis, each with its own prefix.
async fn a_second_key_prefix_on_the_same_redis_gets_every_invalidation(backend: Backend) {
    let a = first(backend, |_| {}).await;
    let b = second(&a, |s| s.cache.key_prefix = unique_name("sftgreen")).await;
    let p = a.fixture.product("Mechanical Keyboard").clone();
    let paths = pages(&p);
    cached_on(&a, &paths).await;
    cached_on(&b, &paths).await;

    writes::update_product(&a.db, a.cache(), p.id, price_change(4343)).await.unwrap();
    // A applied it on the write; B's flusher applies it on its next beat.
    wait_for("B's prefix takes the change", Duration::from_secs(5), async || nothing_pending(&b).await).await;
    let (new, old) = ("43.43", old_price(&p));
    assert!(always_current(&b, &paths, new, &old, Duration::from_millis(500)).await, "B hits again");
    assert!(always_current(&a, &paths, new, &old, Duration::from_millis(300)).await, "A hits again");
}

/// B's Redis is down for longer than the outbox keeps rows: the row it
/// needed is gone when it returns, so it retires everything it held.
async fn a_cache_away_longer_than_the_retention_window_retires_everything_it_held(backend: Backend) {
    let retention = |s: &mut Settings| s.cache.outbox_retention = Duration::from_secs(1);
    let mut redis_b = RedisServer::start();
    let a = first(backend, retention).await;
    let b = second(&a, |s| {
        retention(s);
        s.cache.redis_url = redis_b.url();
    })
    .await;
    let p = a.fixture.product("Gaming Laptop").clone();
    let paths = pages(&p);
    cached_on(&b, &paths).await;

    redis_b.shutdown_saving();
    writes::update_product(&a.db, a.cache(), p.id, price_change(4444)).await.unwrap();
    wait_for("the row leaves the outbox", Duration::from_secs(10), async || {
        cache_outbox::Entity::find().count(&a.db).await.unwrap() == 0
    })
    .await;

    redis_b.restart();
    assert!(
        always_current(&b, &paths, "44.44", &old_price(&p), Duration::from_secs(3)).await,
        "B caches again once its Redis is back"
    );
}

/// On PostgreSQL ids are handed out before commit: a row can become visible
/// after one with a higher id has been applied. It is applied all the same.
#[tokio::test]
async fn a_row_committed_after_a_later_one_was_applied_is_applied_too() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel, TransactionTrait};
    use storefront::models::_entities::product;
    let app = first(Backend::Postgres, |_| {}).await;
    let (slow, fast) = (app.fixture.product("Steel Laptop 13").clone(), app.fixture.product("Rust in Action").clone());
    let paths = pages(&slow);
    cached_on(&app, &paths).await;

    // The slow write records its row first and commits last.
    let txn = app.db.begin().await.unwrap();
    let mut model = product::Entity::find_by_id(slow.id).one(&txn).await.unwrap().unwrap().into_active_model();
    model.price_cents = Set(4545);
    model.update(&txn).await.unwrap();
    let later = writes::update_product(&app.db, app.cache(), fast.id, price_change(4646));
    tokio::time::timeout(Duration::from_secs(10), later).await.expect("the later write is not blocked").unwrap();
    app.cache().flusher().flush().await.unwrap();
    txn.commit().await.unwrap();

    app.cache().flusher().flush().await.unwrap();
    assert!(always_current(&app, &paths, "45.45", &old_price(&slow), Duration::from_millis(300)).await);
}
