//! The in-process layer in front of Redis: hot entries are served with no
//! round trip, and a change anywhere (this instance, another one, the command
//! line, a lost connection) stops them being served.

use std::time::{Duration, Instant};

use storefront::services::writes;

use crate::support::TestApp;
use crate::support::cache::{app_with_own_redis, price_of, x_cache};
use crate::support::redis_server::RedisServer;
use crate::support::writes::price_change;

/// Waits until the app's tracking connection is up, so hits may be local.
async fn wait_until_local(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !app.cache().local_live() {
        assert!(Instant::now() < deadline, "the cache's tracking connection never came up");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn hot_entries_are_served_without_asking_redis() {
    let redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    wait_until_local(&app).await;
    let p = app.fixture.product("Gaming Laptop").clone();
    let paths = [
        format!("/api/products/{}/", p.id),
        "/api/products/?search=laptop".to_owned(),
        format!("/products/{}", p.slug),
        "/categories".to_owned(),
    ];
    // The first requests create the tags, and Redis pushes each creation:
    // versions learned meanwhile are dropped. A few rounds settle it.
    let mut rounds = 0;
    loop {
        let lookups = redis.calls("mget");
        for path in &paths {
            app.get(path).await;
        }
        if redis.calls("mget") == lookups {
            break;
        }
        rounds += 1;
        assert!(rounds < 10, "hits never became local");
    }
    let lookups = redis.calls("mget");
    for _ in 0..20 {
        for path in &paths {
            assert_eq!(x_cache(&app, path).await, "HIT", "{path}");
        }
    }
    assert_eq!(redis.calls("mget"), lookups, "80 hits asked Redis");
    assert!(app.cache().counters().local_hits.load(std::sync::atomic::Ordering::Relaxed) >= 80);
}

#[tokio::test]
async fn an_edge_caches_fetch_is_answered_from_redis_not_local_memory() {
    let redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    wait_until_local(&app).await;
    let path = format!("/products/{}", app.fixture.product("Gaming Laptop").slug);
    let started = Instant::now();
    loop {
        let lookups = redis.calls("mget");
        app.get(&path).await;
        if redis.calls("mget") == lookups {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the page never became a local hit");
    }
    // Varnish's fetch after a purge may reach an instance that has not yet
    // had Redis's push: it must read the versions from Redis.
    let lookups = redis.calls("mget");
    let r = app.get_with_header(&path, "x-edge-fetch", "1").await;
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert_eq!(redis.calls("mget"), lookups + 1, "the edge's fetch asked Redis");
    app.get(&path).await;
    assert_eq!(redis.calls("mget"), lookups + 1, "others are still served locally");
}

#[tokio::test]
async fn a_write_on_another_instance_stops_local_hits_within_moments() {
    let redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    let other = app.second_instance().await;
    wait_until_local(&app).await;
    wait_until_local(&other).await;
    let p = app.fixture.product("Mechanical Keyboard").clone();
    app.get(&format!("/api/products/{}/", p.id)).await;
    assert_eq!(x_cache(&app, &format!("/api/products/{}/", p.id)).await, "HIT");
    let lookups = redis.calls("mget");
    assert_eq!(x_cache(&app, &format!("/api/products/{}/", p.id)).await, "HIT");
    assert_eq!(redis.calls("mget"), lookups, "the hit was not local");

    writes::update_product(&other.db, other.cache(), p.id, price_change(6543)).await.unwrap();
    let written = Instant::now();
    while price_of(&app, p.id).await != "65.43" {
        assert!(written.elapsed() < Duration::from_secs(1), "the other instance's write never arrived");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("the write reached the other instance after {:?}", written.elapsed());
}

#[tokio::test]
async fn clearing_the_cache_from_outside_reaches_local_hits() {
    let redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    wait_until_local(&app).await;
    let path = "/api/categories/";
    app.get(path).await;
    assert_eq!(x_cache(&app, path).await, "HIT");
    // What `storefront cache clear` does, from another process: a new
    // version of the tag every entry carries.
    let all = app.cache().keys().tag(&storefront::cache::Tag::All);
    redis.cli(&["SET", &all, "12345"]);
    let cleared = Instant::now();
    while x_cache(&app, path).await != "MISS" {
        assert!(cleared.elapsed() < Duration::from_secs(1), "local hits went on after the clear");
    }
    // And a FLUSHALL (an operator's mistake) as well.
    assert_eq!(x_cache(&app, path).await, "HIT");
    redis.cli(&["FLUSHALL"]);
    let flushed = Instant::now();
    while x_cache(&app, path).await != "MISS" {
        assert!(flushed.elapsed() < Duration::from_secs(1), "local hits went on after FLUSHALL");
    }
}

#[tokio::test]
async fn a_lost_tracking_connection_pauses_local_hits_and_forgets_versions() {
    let redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    wait_until_local(&app).await;
    let p = app.fixture.product("Gaming Laptop").clone();
    let path = format!("/api/products/{}/", p.id);
    app.get(&path).await;
    assert_eq!(x_cache(&app, &path).await, "HIT");
    // Cut the tracking connection only: pushes sent meanwhile would be lost.
    let clients = redis.cli(&["CLIENT", "LIST"]);
    let tracking: Vec<&str> = clients
        .lines()
        .filter(|l| l.split(' ').any(|f| f.starts_with("flags=") && f.contains('t')))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(tracking.len(), 1, "{clients}");
    redis.cli(&["CLIENT", "KILL", "ID", tracking[0]]);
    // A write lands while no pushes can arrive.
    let tag = app.cache().keys().tag(&storefront::cache::Tag::Product(p.id));
    redis.cli(&["SET", &tag, "777"]);
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.cache().local_live() {
        assert!(Instant::now() < deadline, "the lost tracking connection went unnoticed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The tracking connection comes back, knowing nothing it cannot trust:
    // the version it knew before is gone, so the changed tag is read anew.
    wait_until_local(&app).await;
    assert_eq!(x_cache(&app, &path).await, "MISS");
    assert_eq!(x_cache(&app, &path).await, "HIT");
}
