//! Operating the cache: `storefront cache warm|stats|clear`, `/metrics`, and
//! the cost of an invalidation not growing with the number of cached keys.

use std::collections::BTreeMap;

use storefront::domain::Money;
use storefront::services::writes::{self, ProductChanges};

use crate::support::cli::{serve, storefront};
use crate::support::fixture::Fixture;
use crate::support::redis_server::RedisServer;
use crate::support::store::{Store, TestDatabase, unique_name};
use crate::support::{Backend, TestApp};

#[tokio::test]
async fn warm_fills_what_requests_read_and_stats_show_the_hit_rate() {
    let db = TestDatabase::create().await;
    let prefix = unique_name("sfops");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("CACHE_KEY_PREFIX", prefix.as_str()),
        ("STOREFRONT_PUBLIC_URL", "http://shop.test"),
        ("CACHE_OUTBOX_INTERVAL_MS", "100"),
    ];
    let out = storefront(&env, &["seed", "--categories", "5", "--products", "200"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = storefront(&env, &["cache", "warm", "--products", "10"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(0 failed)"), "{}", String::from_utf8_lossy(&out.stdout));

    let served = serve(&env, &["serve"]);
    let client = reqwest::Client::new();
    let categories: serde_json::Value =
        client.get(format!("{}/api/categories/", served.address)).send().await.unwrap().json().await.unwrap();
    let newest: serde_json::Value =
        client.get(format!("{}/api/products/", served.address)).send().await.unwrap().json().await.unwrap();
    let mut paths = vec!["/".to_owned(), "/categories".to_owned(), "/products".to_owned()];
    for c in categories["results"].as_array().unwrap() {
        paths.push(format!("/categories/{}", c["slug"].as_str().unwrap()));
    }
    for p in newest["results"].as_array().unwrap().iter().take(10) {
        paths.push(format!("/products/{}", p["slug"].as_str().unwrap()));
        paths.push(format!("/api/products/{}/", p["id"]));
    }
    for path in &paths {
        let r = client.get(format!("{}{path}", served.address)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-cache"], "HIT", "{path} was warmed");
    }
    // The stats reach Redis on the flusher's next beat.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let out = storefront(&env, &["cache", "stats"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
            .trim()
            .to_owned()
    };
    let hits: u64 = field("hits").parse().unwrap();
    assert!(hits >= paths.len() as u64, "{stdout}");
    let rate: f64 = field("hit rate").trim_end_matches('%').parse().unwrap();
    assert!(rate > 50.0, "{stdout}");
    assert!(field("entries").parse::<u64>().unwrap() > 20, "{stdout}");
    assert!(!field("redis memory").is_empty());

    // `cache clear` retires every entry of this app, and nothing else.
    let out = storefront(&env, &["cache", "clear"]).output().unwrap();
    assert!(out.status.success());
    let r = client.get(format!("{}/categories", served.address)).send().await.unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
}

/// An app whose metrics listener is on a free port of its own.
async fn app_with_metrics() -> TestApp {
    TestApp::spawn_configured(Backend::Sqlite, |s| s.metrics_addr = Some("127.0.0.1:0".parse().unwrap())).await
}

#[tokio::test]
async fn metrics_show_hits_misses_and_latency() {
    let app = app_with_metrics().await;
    app.get_json("/api/products/?ordering=price", 200).await;
    app.get_json("/api/products/?ordering=price", 200).await;
    let text = app.metrics().await;
    for needle in [
        r#"storefront_cache_requests_total{kind="api-products",result="hit"}"#,
        r#"storefront_cache_requests_total{kind="api-products",result="miss"}"#,
        "storefront_cache_fill_seconds",
        "storefront_cache_invalidations_total{tag=\"product\"}",
        r#"storefront_http_request_duration_seconds_count{route="/api/products/",method="GET",status="200"}"#,
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn metrics_are_served_on_their_own_address_and_the_public_port_answers_404() {
    let app = app_with_metrics().await;
    assert_ne!(app.metrics_address.as_deref(), Some(app.address.as_str()));
    app.get_json("/api/categories/", 200).await;
    // Twice: the second would be a hit if the answer were cacheable.
    for _ in 0..2 {
        let r = app.get("/metrics").await;
        assert_eq!(r.status(), 404);
        assert!(r.headers().get("x-cache").is_none(), "not served through the cache");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "the shop's 404 page");
        let body = r.text().await.unwrap();
        assert!(!body.contains("storefront_"), "{body}");
    }
    let origin = app.metrics_address.clone().unwrap();
    let r = app.client.get(format!("{origin}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    let needle =
        r#"storefront_http_request_duration_seconds_count{route="/api/categories/",method="GET",status="200"}"#;
    assert!(text.contains(needle), "missing {needle} in\n{text}");
    // The metrics listener serves nothing of the shop's.
    let r = app.client.get(format!("{origin}/api/categories/")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn without_a_metrics_address_no_metrics_are_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    assert_eq!(app.metrics_address, None);
    assert_eq!(app.get("/metrics").await.status(), 404);
}

/// Redis's own count of the commands it ran, by command.
async fn command_counts(conn: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(conn).await.unwrap();
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.split(',').find_map(|f| f.strip_prefix("calls="))?.parse().ok()?;
            Some((name.to_owned(), calls))
        })
        .filter(|(name, _)| name != "info" && name != "config")
        .collect()
}

#[tokio::test]
async fn an_invalidation_costs_the_same_with_1000_or_100000_cached_keys() {
    let redis = RedisServer::start();
    let store = Store::create(Backend::Postgres).await;
    let mut settings = store.settings();
    settings.cache.redis_url = redis.url();
    let mut app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    app.fixture = Fixture::load(&app.db, app.cache()).await;
    let product = app.fixture.product("Steel Laptop 13").id;
    let client = redis::Client::open(redis.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let prefix = app.cache().keys().prefix().to_owned();
    let version = app.cache().keys().version().to_owned();

    let mut filled = 0;
    let mut measure = |target: usize| {
        let mut conn = conn.clone();
        let (prefix, version, app) = (prefix.clone(), version.clone(), &app);
        let start = filled;
        filled = target;
        async move {
            // Entries under the app's own prefix, as a busy shop would have.
            for chunk in (start..target).collect::<Vec<_>>().chunks(5000) {
                let mut pipe = redis::pipe();
                for i in chunk {
                    pipe.cmd("SET")
                        .arg(format!("{prefix}:{version}:api-products:page={i}"))
                        .arg("x")
                        .arg("EX")
                        .arg(600)
                        .ignore();
                }
                pipe.query_async::<()>(&mut conn).await.unwrap();
            }
            redis::cmd("CONFIG").arg("RESETSTAT").query_async::<()>(&mut conn).await.unwrap();
            let started = std::time::Instant::now();
            let cents = 10_000 + target as i64;
            writes::update_product(
                &app.db,
                app.cache(),
                product,
                ProductChanges { price: Some(Money::from_cents(cents).unwrap()), ..Default::default() },
            )
            .await
            .unwrap();
            let elapsed = started.elapsed();
            let dbsize: u64 = redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
            (command_counts(&mut conn).await, elapsed, dbsize)
        }
    };
    let (small, small_time, small_size) = measure(1_000).await;
    let (large, large_time, large_size) = measure(100_000).await;
    println!(
        "product save: {small_time:?} with {small_size} keys, {large_time:?} with {large_size} keys; commands {small:?}"
    );
    assert!(large_size >= 100_000);
    assert_eq!(small, large, "the same Redis work whatever the number of keys");
    for forbidden in ["scan", "keys", "flushdb", "flushall"] {
        assert!(!large.contains_key(forbidden), "{forbidden} on the write path: {large:?}");
    }
    assert!(large.contains_key("set"), "{large:?}");
}
