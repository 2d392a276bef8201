//! Stopping the shop: on SIGTERM the listener closes, requests in flight
//! finish, and the process exits within its grace period even when one of
//! them does not.

use std::time::{Duration, Instant};

use crate::cli::serve;
use crate::redis_server::RedisServer;

/// A shop on a fresh SQLite file whose cache Redis the test can make slow.
fn shop(redis: &RedisServer, grace_secs: &str) -> (crate::cli::Served, tempfile::TempDir) {
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

/// A request that waits on Redis, which is asleep for `secs`.
fn request_held_by_redis(
    redis: &RedisServer,
    address: &str,
    secs: &str,
) -> std::thread::JoinHandle<Result<u16, String>> {
    let port = redis.port.to_string();
    let secs = secs.to_owned();
    std::thread::spawn(move || {
        let _ = std::process::Command::new("redis-cli").args(["-p", &port, "DEBUG", "SLEEP", &secs]).output();
    });
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
    let in_flight = request_held_by_redis(&redis, &shop.address, "1.5");
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    shop.terminate();
    std::thread::sleep(Duration::from_millis(200));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let late = runtime.block_on(async {
        reqwest::Client::new().get(format!("{}/healthz", shop.address)).timeout(Duration::from_secs(2)).send().await
    });
    assert!(late.is_err(), "a request after SIGTERM was served: {:?}", late.map(|r| r.status()));
    assert_eq!(in_flight.join().expect("thread"), Ok(200), "the request in flight was cut off");
    assert_eq!(shop.wait_exit(Duration::from_secs(5)), Some(0), "the shop did not exit cleanly");
    assert!(stopped.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_request_stuck_past_the_grace_period_does_not_hold_the_exit() {
    let redis = RedisServer::start();
    let (mut shop, _dir) = shop(&redis, "1");
    let stuck = request_held_by_redis(&redis, &shop.address, "6");
    std::thread::sleep(Duration::from_millis(300));
    let stopped = Instant::now();
    shop.terminate();
    assert_eq!(shop.wait_exit(Duration::from_secs(4)), Some(0), "the shop waited past its grace period");
    let took = stopped.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "exited after {took:?}");
    assert!(stuck.join().expect("thread").is_err(), "the stuck request cannot have been answered");
}
