//! Stopping the shop: on SIGTERM the listener closes, requests in flight
//! finish, and the process exits within its grace period even when one of
//! them does not; after a crash (SIGKILL) mid-write, nothing acknowledged
//! is missing and no invalidation is lost.

use std::time::{Duration, Instant};

use crate::support::cli::{Served, serve, storefront};
use crate::support::redis_server::RedisServer;
use crate::support::store::{TestDatabase, unique_name};

/// A shop on a fresh SQLite file whose cache Redis the test can make slow.
fn shop(redis: &RedisServer, grace_secs: &str) -> (Served, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}/shop.db", dir.path().display());
    let served = serve(
        &[
            ("DATABASE_URL", &database),
            ("REDIS_URL", &redis.url()),
            ("CACHE_TIMEOUT_MS", "10000"),
            ("STOREFRONT_SHUTDOWN_GRACE_SECS", grace_secs),
        ],
        &["serve"],
    );
    (served, dir)
}

/// Puts the Redis to sleep for `secs`, from another thread.
fn sleep_redis(redis: &RedisServer, secs: &str) {
    let port = redis.port.to_string();
    let secs = secs.to_owned();
    std::thread::spawn(move || {
        let _ = std::process::Command::new("redis-cli").args(["-p", &port, "DEBUG", "SLEEP", &secs]).output();
    });
}

/// A request that waits on Redis, which is asleep for `secs`. It is sent
/// once the shop answers, so its startup work is behind it.
fn request_held_by_redis(
    redis: &RedisServer,
    address: &str,
    secs: &str,
) -> std::thread::JoinHandle<Result<u16, String>> {
    let healthz = format!("{address}/healthz");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let answered = runtime.block_on(async { reqwest::get(&healthz).await.map(|r| r.status().as_u16()) });
    assert_eq!(answered.ok(), Some(200), "the shop does not answer");
    sleep_redis(redis, secs);
    std::thread::sleep(Duration::from_millis(150));
    let url = format!("{address}/api/products/?search=desk&ordering=price");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(async {
            let r = reqwest::get(&url).await.map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            r.bytes().await.map_err(|e| e.to_string())?;
            Ok(status)
        })
    })
}

#[test]
fn sigterm_lets_requests_in_flight_finish_and_refuses_new_ones() {
    let redis = RedisServer::start();
    let (mut shop, _dir) = shop(&redis, "10");
    let in_flight = request_held_by_redis(&redis, &shop.address, "6");
    // Time for the request to reach the server even while the rest of the
    // test suite loads both cores (1 s was once too little).
    std::thread::sleep(Duration::from_millis(3000));
    shop.terminate();
    std::thread::sleep(Duration::from_millis(200));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let late = runtime.block_on(async {
        reqwest::Client::new().get(format!("{}/healthz", shop.address)).timeout(Duration::from_secs(2)).send().await
    });
    assert!(late.is_err(), "a request after SIGTERM was served: {:?}", late.map(|r| r.status()));
    assert_eq!(in_flight.join().expect("thread"), Ok(200), "the request in flight was cut off");
    // Once its last request is answered, the shop exits.
    assert_eq!(shop.wait_exit(Duration::from_secs(2)), Some(0), "the shop did not exit cleanly");
}

#[test]
fn a_request_stuck_past_the_grace_period_does_not_hold_the_exit() {
    let redis = RedisServer::start();
    let (mut shop, _dir) = shop(&redis, "1");
    let stuck = request_held_by_redis(&redis, &shop.address, "8");
    std::thread::sleep(Duration::from_millis(3000));
    let stopped = Instant::now();
    shop.terminate();
    assert_eq!(shop.wait_exit(Duration::from_secs(4)), Some(0), "the shop waited past its grace period");
    let took = stopped.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "exited after {took:?}");
    assert!(stuck.join().expect("thread").is_err(), "the stuck request cannot have been answered");
}

#[test]
fn sigterm_while_startup_waits_on_redis_stops_cleanly() {
    let redis = RedisServer::start();
    // A fresh SQLite shop loads its demo catalog, which leaves the whole
    // cache to invalidate before the first request; Redis sleeps through it.
    let dir = tempfile::tempdir().expect("dir");
    let database = format!("sqlite://{}/shop.db", dir.path().display());
    sleep_redis(&redis, "8");
    std::thread::sleep(Duration::from_millis(150));
    let mut shop =
        serve(&[("DATABASE_URL", &database), ("REDIS_URL", &redis.url()), ("CACHE_TIMEOUT_MS", "10000")], &["serve"]);
    std::thread::sleep(Duration::from_millis(500));
    let stopped = Instant::now();
    shop.terminate();
    assert_eq!(shop.wait_exit(Duration::from_secs(4)), Some(0), "SIGTERM during startup did not stop the shop cleanly");
    assert!(stopped.elapsed() < Duration::from_secs(3), "it waited for Redis: {:?}", stopped.elapsed());
}

#[test]
fn a_crash_mid_write_loses_no_acknowledged_write_and_no_invalidation() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let database = runtime.block_on(TestDatabase::create());
    let redis = RedisServer::start();
    let prefix = unique_name("sfcrash");
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("REDIS_URL", &redis.url()),
        ("CACHE_KEY_PREFIX", &prefix),
        ("STOREFRONT_PASSWORD", "crash test password"),
    ];
    let run = |args: &[&str]| {
        let out = storefront(&env, args).output().expect("runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["migrate"]);
    run(&["seed", "--categories", "3", "--products", "40"]);
    run(&["user", "create", "--email", "ops@example.com", "--admin"]);
    let token = run(&["token", "create", "--email", "ops@example.com"])
        .lines()
        .find(|l| l.starts_with("sft_"))
        .expect("a token")
        .to_owned();

    let mut shop = serve(&env, &["serve"]);
    let client = reqwest::Client::new();
    let (api, page) = runtime.block_on(async {
        let api = format!("{}/api/products/1/", shop.address);
        let product: serde_json::Value = client.get(&api).send().await.unwrap().json().await.unwrap();
        let page = format!("{}/products/{}", shop.address, product["slug"].as_str().unwrap());
        for url in [&api, &page, &api, &page] {
            client.get(url).send().await.unwrap();
        }
        (api, page)
    });

    // Price changes, one after another, until the process dies under them.
    let writer = {
        let (client, api, token) = (client.clone(), api.clone(), token.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(async {
                let mut acknowledged = 0;
                for n in 1..10_000 {
                    let body = serde_json::json!({ "price": format!("{}.00", 100 + n) });
                    match client.patch(&api).bearer_auth(&token).json(&body).send().await {
                        Ok(r) if r.status() == 200 => acknowledged = n,
                        _ => break,
                    }
                }
                acknowledged
            })
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    shop.crash();
    let acknowledged = writer.join().expect("writer");
    assert!(acknowledged > 0, "no write was acknowledged before the crash");

    let shop = serve(&env, &["serve"]);
    let (api, page) = (api.replace(&prefix_of(&api), &shop.address), page.replace(&prefix_of(&page), &shop.address));
    runtime.block_on(async {
        let product: serde_json::Value = client.get(&api).send().await.unwrap().json().await.unwrap();
        let price: f64 = product["price"].as_str().unwrap().parse().unwrap();
        // The last acknowledged write, or the one in flight if it committed.
        let last = (100 + acknowledged) as f64;
        assert!(price == last || price == last + 1.0, "price {price} after {acknowledged} acknowledged writes");
        let html = client.get(&page).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(&format!("{price:.2}")), "the page shows a stale price, not {price:.2}");
    });
    // Invalidations the crash left pending were applied before serving.
    let stats = run(&["cache", "stats"]);
    let pending = stats.lines().find_map(|l| l.strip_prefix("pending")).map(str::trim);
    assert_eq!(pending, Some("redis 0"), "invalidations still pending after the restart:\n{stats}");
}

/// `http://127.0.0.1:PORT` of a URL.
fn prefix_of(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    format!("http://{}", &rest[..rest.find('/').unwrap()])
}
