//! Reading what the caches hold: the `X-Cache` verdict of a response, a
//! price as the API and a product page serve it, the entries under an
//! app's key prefix in Redis; and an app whose cache is a Redis of the
//! test's own.

use std::time::Duration;

use storefront::cache::conn::{Conn, Nodes};

use super::app::TestApp;
use super::fixture::Fixture;
use super::redis_server::RedisServer;
use super::store::{Backend, Store};

pub async fn x_cache(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert!(response.status().is_success(), "GET {path}: {}", response.status());
    response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned()
}

pub async fn price_of(app: &TestApp, id: i32) -> String {
    app.get_product_json(id, 200).await["price"].as_str().unwrap().to_owned()
}

/// A connection to `url`, a server or a cluster, that reaches every key.
pub fn redis_conn(url: &str) -> Conn {
    Conn::lazy(&Nodes::parse(url).unwrap(), Duration::from_secs(2)).unwrap()
}

/// Entry keys under this app's prefix, on every node (a test may SCAN; the
/// app never does).
pub async fn cached_keys(app: &TestApp, redis_url: &str) -> Vec<String> {
    let pattern = format!("{}:*", app.cache().keys().prefix());
    let mut keys = std::collections::BTreeSet::new();
    for node in storefront::config::redis_nodes(redis_url) {
        let client = redis::Client::open(node).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    let mut keys: Vec<String> = keys.into_iter().collect();
    // Entries only: not tags, shared stats or login counters.
    keys.retain(|k| !k.contains(":{tags}:") && !k.ends_with(":stats") && !k.contains(":throttle:"));
    keys
}

/// A product page through an edge cache: its `X-Varnish-Cache` verdict
/// and the price it shows.
pub async fn page_price(client: &reqwest::Client, url: &str) -> (String, String) {
    let r = client.get(url).send().await.expect("through Varnish");
    let verdict = r.headers().get("x-varnish-cache").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
    let html = r.text().await.unwrap();
    let price = html.split("<p class=\"price\">").nth(1).and_then(|rest| rest.split('<').next()).unwrap_or("");
    (verdict, price.to_owned())
}

/// A server whose cache is a Redis of the test's own.
pub async fn app_with_own_redis(redis: &RedisServer) -> TestApp {
    let store = Store::create(Backend::Postgres).await;
    let mut settings = store.settings();
    settings.cache.redis_url = redis.url();
    settings.cache.breaker_cooldown = Duration::from_millis(300);
    settings.cache.outbox_interval = Duration::from_millis(100);
    let mut app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    app.fixture = Fixture::load(&app.db, &app.state.cache).await;
    app
}
