//! The Redis cache: hits and misses, HTTP revalidation, normalized keys,
//! TTLs, exact invalidation on every kind of write, two instances, the
//! stale-fill race, stampedes, and Redis failing in every way.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use storefront::cache::FillHook;
use storefront::domain::{Money, Slug};
use storefront::services::writes::{self, CategoryChanges, NewProduct, ProductChanges};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::cache::{app_with_own_redis, cached_keys, price_of, redis_conn, x_cache};
use crate::support::redis_server::RedisServer;
use crate::support::writes::price_change;

on_both_backends! {
    async fn a_second_request_is_a_hit_with_the_same_bytes(app: TestApp) {
        for path in ["/api/products/?search=laptop&page=2", "/api/categories/", "/products?q=laptop", "/categories", "/", "/categories/books"] {
            let first = app.get(path).await;
            assert_eq!(first.headers()["x-cache"], "MISS", "{path}");
            let etag = first.headers()["etag"].to_str().unwrap().to_owned();
            let body = first.text().await.unwrap();
            let queries = app.state.queries.get();
            let second = app.get(path).await;
            assert_eq!(second.headers()["x-cache"], "HIT", "{path}");
            assert_eq!(app.state.queries.get(), queries, "{path}: a hit runs no query");
            assert_eq!(second.headers()["etag"].to_str().unwrap(), etag, "{path}");
            assert_eq!(second.text().await.unwrap(), body, "{path}");
        }
        let p = app.fixture.product("Steel Laptop 13");
        for path in [format!("/api/products/{}/", p.id), format!("/products/{}", p.slug)] {
            assert_eq!(x_cache(&app, &path).await, "MISS");
            assert_eq!(x_cache(&app, &path).await, "HIT");
        }
    }

    async fn etags_revalidate_with_304(app: TestApp) {
        for path in ["/api/products/", "/products/steel-laptop-13"] {
            let first = app.get(path).await;
            let etag = first.headers()["etag"].to_str().unwrap().to_owned();
            assert!(etag.starts_with('"') && etag.ends_with('"'), "strong etag: {etag}");
            let cache_control = first.headers()["cache-control"].to_str().unwrap().to_owned();
            // Anonymous catalog responses can be shared: no cookie, no Vary on it.
            assert!(first.headers().get("set-cookie").is_none(), "{path}");
            assert!(first.headers().get("vary").is_none_or(|v| !v.to_str().unwrap().to_lowercase().contains("cookie")), "{path}");
            assert!(cache_control.contains("public") && cache_control.contains("s-maxage="), "{cache_control}");
            assert!(first.headers()["surrogate-key"].to_str().unwrap().contains("all"));
            for inm in [etag.clone(), format!("\"nope\", {etag}"), format!("W/{etag}"), "*".to_owned()] {
                let r = app.get_with_header(path, "if-none-match", &inm).await;
                assert_eq!(r.status(), 304, "{path} If-None-Match: {inm}");
                assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
                assert_eq!(r.headers()["cache-control"].to_str().unwrap(), cache_control);
                assert!(r.text().await.unwrap().is_empty());
            }
            let r = app.get_with_header(path, "if-none-match", "\"other\"").await;
            assert_eq!(r.status(), 200);
        }
    }

    async fn spellings_of_one_request_share_one_entry(app: TestApp) {
        assert_eq!(x_cache(&app, "/api/products/?page=1&ordering=price").await, "MISS");
        assert_eq!(x_cache(&app, "/api/products/?ordering=price").await, "HIT");
        assert_eq!(x_cache(&app, "/api/products/?ordering=price&utm_source=x").await, "HIT");
        assert_eq!(x_cache(&app, "/api/products/?ordering=price&page_size=20&search=").await, "HIT");
        assert_eq!(x_cache(&app, "/products?q=Laptop%20%20Steel").await, "MISS");
        assert_eq!(x_cache(&app, "/products?q=steel+laptop&page=1&utm_campaign=y").await, "HIT", "term order is not part of the query");
        assert_eq!(x_cache(&app, "/products?q=laptop+steel").await, "HIT");
    }

    async fn a_term_repeated_a_hundred_times_is_that_one_term_and_its_entry(app: TestApp) {
        let hundred = ["e", "E"].repeat(50).join("+");
        assert_eq!(x_cache(&app, "/api/products/?search=e").await, "MISS");
        assert_eq!(x_cache(&app, &format!("/api/products/?search={hundred}")).await, "HIT");
        assert_eq!(x_cache(&app, "/products?q=e").await, "MISS");
        let r = app.get(&format!("/products?q={hundred}")).await;
        assert_eq!(r.headers()["x-cache"], "HIT");
        let doc = scraper::Html::parse_document(&r.text().await.unwrap());
        let q = scraper::Selector::parse("#header-q").unwrap();
        assert_eq!(doc.select(&q).next().and_then(|e| e.value().attr("value")), Some("e"), "the search that ran");
    }

    async fn junk_parameters_create_no_entries(app: TestApp) {
        let url = app.state.settings.cache.redis_url.clone();
        app.get_json("/api/products/", 200).await;
        let before = cached_keys(&app, &url).await;
        for i in 0..200 {
            app.get_json(&format!("/api/products/?junk{i}={i}&utm_source={i}"), 200).await;
        }
        // Invalid input never reaches the cache either.
        for i in 0..50 {
            app.get_json(&format!("/api/products/?page=x{i}"), 400).await;
        }
        assert_eq!(cached_keys(&app, &url).await, before);
    }

    async fn ttls_follow_the_kind_of_entry(app: TestApp) {
        let url = app.state.settings.cache.redis_url.clone();
        let p = app.fixture.product("Gaming Laptop");
        for path in ["/api/categories/".to_owned(), "/api/products/".to_owned(), format!("/api/products/{}/", p.id)] {
            app.get_json(&path, 200).await;
        }
        let mut conn = redis_conn(&url);
        let s = &app.state.settings.cache;
        for (kind, ttl) in [("api-categories", s.ttl_categories), ("api-products", s.ttl_product_lists), ("api-product", s.ttl_product_detail)] {
            let key = cached_keys(&app, &url).await.into_iter().find(|k| k.contains(&format!(":{kind}:"))).expect(kind);
            let pttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
            let ttl = ttl.as_millis() as i64;
            assert!(pttl <= ttl && pttl >= ttl * 89 / 100, "{kind}: pttl {pttl} for ttl {ttl}");
        }
    }

    async fn a_price_change_shows_everywhere_at_once(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13").clone();
        let other = app.fixture.product("Laptop Sleeve").clone();
        let pages = [
            format!("/api/products/{}/", p.id),
            format!("/products/{}", p.slug),
            "/products?q=steel".to_owned(),
            "/categories/computers".to_owned(),
            "/api/products/?search=steel".to_owned(),
            format!("/api/products/?category__id={}&ordering=-price", p.category_id),
        ];
        let other_detail = format!("/api/products/{}/", other.id);
        for path in pages.iter().chain([&other_detail]) {
            x_cache(&app, path).await;
            assert_eq!(x_cache(&app, path).await, "HIT", "{path}");
        }
        writes::update_product(&app.db, app.cache(), p.id, price_change(123_456)).await.unwrap();
        for path in &pages {
            let body = app.get(path).await.text().await.unwrap();
            // Pages write prices for people, the API as decimals.
            let price = if path.starts_with("/api/") { "\"1234.56\"" } else { "$1,234.56" };
            assert!(body.contains(price), "{path} shows the new price");
            assert!(!body.contains("999.00"), "{path} still shows the old price");
        }
        // Per-item invalidation: another product's detail is still cached.
        assert_eq!(x_cache(&app, &other_detail).await, "HIT");
    }

    async fn create_delete_and_move_update_lists_and_counts(app: TestApp) {
        let books = app.fixture.category("books").clone();
        let computers = app.fixture.category("computers").clone();
        let count = |v: &Value, slug: &str| v["results"].as_array().unwrap().iter().find(|c| c["slug"] == slug).unwrap()["product_count"].as_u64().unwrap();
        let cats = app.get_json("/api/categories/", 200).await;
        let (books_n, computers_n) = (count(&cats, "books"), count(&cats, "computers"));
        app.get_html("/categories/books", 200).await;
        app.get_html("/categories/computers", 200).await;
        app.get_html("/", 200).await;

        let created = writes::create_product(&app.db, app.cache(), NewProduct {
            category_id: books.id, name: "Brand New Atlas".into(), slug: Slug::parse("brand-new-atlas").unwrap(),
            description: "Maps".into(), price: Money::from_cents(2500).unwrap(), stock: 4, is_active: true, created_at: None,
        }).await.unwrap();
        let cats = app.get_json("/api/categories/", 200).await;
        assert_eq!(count(&cats, "books"), books_n + 1);
        assert!(app.get_html("/categories/books", 200).await.contains("Brand New Atlas"));
        assert!(app.get_html("/", 200).await.contains("Brand New Atlas"), "newest on the home page");
        assert!(app.get_html("/categories", 200).await.contains(&format!("{} products", books_n + 1)));

        // Moving it changes both categories' pages and counts.
        writes::update_product(&app.db, app.cache(), created.id, ProductChanges { category_id: Some(computers.id), ..Default::default() }).await.unwrap();
        let cats = app.get_json("/api/categories/", 200).await;
        assert_eq!((count(&cats, "books"), count(&cats, "computers")), (books_n, computers_n + 1));
        assert!(!app.get_html("/categories/books", 200).await.contains("Brand New Atlas"));
        assert!(app.get_html("/categories/computers", 200).await.contains("Brand New Atlas"));
        let detail = app.get_product_json(created.id, 200).await;
        assert_eq!(detail["category"]["slug"], "computers");

        // A new slug: the old page is gone at once, the new one is there.
        app.get_html("/products/brand-new-atlas", 200).await;
        writes::update_product(&app.db, app.cache(), created.id, ProductChanges { slug: Some(Slug::parse("renamed-atlas").unwrap()), ..Default::default() }).await.unwrap();
        app.get_html("/products/brand-new-atlas", 404).await;
        app.get_html("/products/renamed-atlas", 200).await;

        writes::delete_product(&app.db, app.cache(), created.id).await.unwrap();
        app.get_product_json(created.id, 404).await;
        app.get_html("/products/renamed-atlas", 404).await;
        let cats = app.get_json("/api/categories/", 200).await;
        assert_eq!(count(&cats, "computers"), computers_n);
        assert!(!app.get_html("/categories/computers", 200).await.contains("Atlas"));
    }

    async fn deactivating_hides_a_product_everywhere(app: TestApp) {
        let p = app.fixture.product("Rust in Action").clone();
        for path in [format!("/products/{}", p.slug), "/products?q=rust".to_owned()] {
            app.get_html(&path, 200).await;
        }
        writes::update_product(&app.db, app.cache(), p.id, ProductChanges { is_active: Some(false), ..Default::default() }).await.unwrap();
        app.get_product_page(&p.slug, 404).await;
        assert!(!app.get_html("/products?q=rust", 200).await.contains("Rust in Action"));
    }

    async fn a_category_change_reaches_every_page_showing_it(app: TestApp) {
        let books = app.fixture.category("books").clone();
        let p = app.fixture.product("Rust in Action").clone();
        let paths = [format!("/products/{}", p.slug), "/categories".to_owned(), "/".to_owned(), "/products?q=rust".to_owned()];
        for path in &paths {
            app.get_html(path, 200).await;
        }
        app.get_product_json(p.id, 200).await;
        writes::update_category(&app.db, app.cache(), books.id, CategoryChanges { name: Some("Fine Books".into()), ..Default::default() }).await.unwrap();
        for path in &paths {
            assert!(app.get_html(path, 200).await.contains("Fine Books"), "{path}");
        }
        assert_eq!(app.get_product_json(p.id, 200).await["category"]["name"], "Fine Books");
        assert_eq!(app.get_json(&format!("/api/categories/{}/", books.id), 200).await["name"], "Fine Books");
    }

    async fn a_bulk_write_invalidates_what_it_touched(app: TestApp) {
        let books = app.fixture.category("books").clone();
        let p = app.fixture.product("Rust in Action").clone();
        app.get_product_page(&p.slug, 200).await;
        app.get_product_json(p.id, 200).await;
        app.get_json("/api/products/?category=books", 200).await;
        let n = writes::set_category_products_active(&app.db, app.cache(), books.id, false).await.unwrap();
        assert!(n > 0);
        app.get_product_page(&p.slug, 404).await;
        app.get_product_json(p.id, 404).await;
        assert_eq!(app.get_json("/api/products/?category=books", 200).await["count"], 0);
    }

    async fn a_rolled_back_write_invalidates_nothing(app: TestApp) {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, PaginatorTrait, TransactionTrait};
        use storefront::models::_entities::{cache_outbox, product};
        let p = app.fixture.product("Gaming Laptop").clone();
        let path = format!("/api/products/{}/", p.id);
        app.get_json(&path, 200).await;
        assert_eq!(x_cache(&app, &path).await, "HIT");
        // Applied rows stay for the retention window: count what is there.
        let before = cache_outbox::Entity::find().count(&app.db).await.unwrap();
        let txn = app.db.begin().await.unwrap();
        let mut model = product::Entity::find_by_id(p.id).one(&txn).await.unwrap().unwrap().into_active_model();
        model.price_cents = Set(1);
        model.update(&txn).await.unwrap();
        // The hook recorded its tags inside the transaction...
        assert!(cache_outbox::Entity::find().count(&txn).await.unwrap() > before);
        txn.rollback().await.unwrap();
        // ...so they vanish with it, and the entry stays valid.
        assert_eq!(cache_outbox::Entity::find().count(&app.db).await.unwrap(), before);
        app.cache().flusher().flush().await.unwrap();
        assert_eq!(x_cache(&app, &path).await, "HIT");
        assert_eq!(price_of(&app, p.id).await, "1499.99");
    }

    async fn a_write_on_one_instance_is_read_on_the_other(app: TestApp) {
        let other = app.second_instance().await;
        let p = app.fixture.product("Mechanical Keyboard").clone();
        for instance in [&app, &other] {
            instance.get_product_json(p.id, 200).await;
            instance.get_product_page(&p.slug, 200).await;
        }
        assert_eq!(x_cache(&other, &format!("/api/products/{}/", p.id)).await, "HIT");
        for (i, writer) in [&app, &other].into_iter().enumerate() {
            let cents = 5000 + i as i64;
            writes::update_product(&writer.db, writer.cache(), p.id, price_change(cents)).await.unwrap();
            let expected = format!("{}.{:02}", cents / 100, cents % 100);
            // The writer sees its write at once; the other instance as soon as
            // Redis's invalidation push reaches its in-process layer.
            assert_eq!(price_of(writer, p.id).await, expected);
            assert!(writer.get_product_page(&p.slug, 200).await.contains(&expected));
            let started = Instant::now();
            for reader in [&app, &other] {
                while price_of(reader, p.id).await != expected {
                    assert!(started.elapsed() < Duration::from_secs(1), "the write never reached the other instance");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                assert!(reader.get_product_page(&p.slug, 200).await.contains(&expected));
            }
        }
    }

    async fn a_fill_that_read_before_a_write_is_never_served_after_it(app: TestApp) {
        let p = app.fixture.product("Laptop Sleeve").clone();
        let path = format!("/api/products/{}/", p.id);
        let (reached_tx, mut reached_rx) = tokio::sync::mpsc::channel::<()>(1);
        let release = Arc::new(tokio::sync::Notify::new());
        let hook: FillHook = {
            let release = release.clone();
            Arc::new(move |_key: &str| {
                let reached = reached_tx.clone();
                let release = release.clone();
                Box::pin(async move {
                    let _ = reached.send(()).await;
                    release.notified().await;
                })
            })
        };
        app.cache().set_fill_hook(Some(hook));
        // The reader reads the old price from the database, then pauses
        // before storing it.
        let reader = {
            let client = app.client.clone();
            let url = app.url(&path);
            tokio::spawn(async move { client.get(url).send().await.unwrap().json::<Value>().await.unwrap() })
        };
        reached_rx.recv().await.expect("the reader reached its store");
        app.cache().set_fill_hook(None);
        // A write commits and invalidates while the reader is paused.
        writes::update_product(&app.db, app.cache(), p.id, price_change(7777)).await.unwrap();
        release.notify_one();
        let stale = reader.await.unwrap();
        assert_eq!(stale["price"], "29.50", "the paused reader began before the write");
        // Its late store must not be served.
        for _ in 0..3 {
            assert_eq!(price_of(&app, p.id).await, "77.77");
        }
    }

    async fn the_cache_version_separates_entries(app: TestApp) {
        app.get_json("/api/categories/", 200).await;
        assert_eq!(x_cache(&app, "/api/categories/").await, "HIT");
        let mut settings = (*app.state.settings).clone();
        settings.cache.version = "2".into();
        let v2 = TestApp::spawn_settings(None, settings, |_| {}).await;
        assert_eq!(x_cache(&v2, "/api/categories/").await, "MISS");
    }

    async fn bypass_mode_never_touches_redis(app: TestApp) {
        let mut settings = (*app.state.settings).clone();
        settings.cache.enabled = false;
        let off = TestApp::spawn_settings(None, settings, |_| {}).await;
        assert_eq!(x_cache(&off, "/api/products/").await, "BYPASS");
        assert_eq!(x_cache(&off, "/api/products/").await, "BYPASS");
        assert_eq!(x_cache(&off, "/").await, "BYPASS");
        let ready = off.get_json("/readyz", 200).await;
        assert_eq!(ready["redis"], "disabled");
    }
}

async fn concurrent_misses_fill_once(backend: crate::support::Backend) {
    // A hundred requests at once on the test's one thread: a Redis reply can
    // wait longer than the default timeout to be read, and a timed-out call
    // bypasses the cache. That is tested elsewhere; here only the fill counts.
    let app = TestApp::spawn_configured(backend, |s| s.cache.timeout = Duration::from_secs(2)).await;
    // What one fill of a list costs, measured on a cold key.
    let before = app.state.queries.get();
    app.get_json("/api/products/?ordering=name", 200).await;
    let one_fill = app.state.queries.get() - before;
    assert!(one_fill >= 1);
    let fills = app.cache().counters().fills.load(std::sync::atomic::Ordering::Relaxed);
    let bypasses = app.cache().counters().bypasses.load(std::sync::atomic::Ordering::Relaxed);
    let before = app.state.queries.get();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/products/?ordering=-name");
        tasks.push(tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let bypassed = app.cache().counters().bypasses.load(std::sync::atomic::Ordering::Relaxed) - bypasses;
    assert_eq!(bypassed, 0, "requests that skipped Redis");
    assert_eq!(app.state.queries.get() - before, one_fill, "100 concurrent misses ran the queries of one fill");
    assert_eq!(app.cache().counters().fills.load(std::sync::atomic::Ordering::Relaxed) - fills, 1);
}

mod concurrent_misses_fill_once {
    #[tokio::test]
    async fn sqlite() {
        super::concurrent_misses_fill_once(crate::support::Backend::Sqlite).await
    }
    #[tokio::test]
    async fn postgres() {
        super::concurrent_misses_fill_once(crate::support::Backend::Postgres).await
    }
}

#[tokio::test]
async fn a_write_while_redis_is_down_is_not_lost() {
    let mut redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    let p = app.fixture.product("Steel Laptop 13").clone();
    let paths =
        [format!("/api/products/{}/", p.id), format!("/products/{}", p.slug), "/api/products/?search=steel".to_owned()];
    for path in &paths {
        app.get(path).await;
        assert_eq!(x_cache(&app, path).await, "HIT");
    }
    // Redis goes away with the old entries saved, and comes back with them.
    redis.shutdown_saving();
    writes::update_product(&app.db, app.cache(), p.id, price_change(4242)).await.unwrap();
    for path in &paths {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], "BYPASS", "{path}");
        assert!(r.text().await.unwrap().contains("42.42"), "{path} during the outage");
    }
    assert_eq!(app.get_json("/readyz", 200).await["status"], "degraded");
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut hit_again = false;
    while Instant::now() < deadline {
        for path in &paths {
            let r = app.get(path).await;
            let status = r.headers()["x-cache"].to_str().unwrap().to_owned();
            let body = r.text().await.unwrap();
            assert!(
                body.contains("42.42") && !body.contains("999.00"),
                "{path} served pre-write data after Redis returned ({status})"
            );
            hit_again |= status == "HIT";
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(hit_again, "caching resumed by itself");
}

#[tokio::test]
async fn a_dead_redis_never_takes_the_shop_down() {
    let mut redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    app.get_json("/api/products/", 200).await;
    redis.kill();
    // Every request answers; once the breaker is open, without waiting on Redis.
    let started = Instant::now();
    let mut statuses = Vec::new();
    for path in [
        "/",
        "/products?q=laptop",
        "/api/products/",
        "/api/categories/",
        "/categories/books",
        "/products/steel-laptop-13",
    ]
    .repeat(5)
    {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        statuses.push(r.headers()["x-cache"].to_str().unwrap().to_owned());
    }
    assert!(statuses.iter().all(|s| s == "BYPASS"), "{statuses:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let ready = app.get_json("/readyz", 200).await;
    assert_eq!((ready["status"].as_str(), ready["redis"].as_str()), (Some("degraded"), Some("unreachable")));
    // Caching resumes by itself when Redis returns (empty, after a crash).
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = x_cache(&app, "/api/categories/").await;
        if status == "HIT" {
            break;
        }
        assert!(Instant::now() < deadline, "caching did not resume ({status})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get_json("/readyz", 200).await["status"], "ok");
}

#[tokio::test]
async fn a_slow_redis_costs_each_request_at_most_the_timeout() {
    let redis = RedisServer::start();
    let app = app_with_own_redis(&redis).await;
    // Connected, but none of the paths below cached: an entry this
    // instance holds in memory would be served with no Redis call at all.
    app.get_json("/api/products/?search=warm", 200).await;
    // Redis stops answering for two seconds.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let sleeper = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG").arg("SLEEP").arg(2).query_async(&mut conn).await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in ["/api/products/", "/products?q=laptop", "/", "/api/categories/"] {
        let started = Instant::now();
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-cache"], "BYPASS", "{path}");
        // One timed-out call at most, then the breaker skips Redis.
        assert!(started.elapsed() < Duration::from_millis(1000), "{path} took {:?}", started.elapsed());
    }
    sleeper.await.unwrap();
}
