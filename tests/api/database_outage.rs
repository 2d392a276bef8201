//! PostgreSQL unreachable while the shop runs: what is cached keeps being
//! served, the rest is a clear 503 (a page, or the API's JSON error), and the
//! shop recovers by itself when the database returns.

use std::time::{Duration, Instant};

use storefront::config::DatabaseUrl;

use crate::support::TestApp;
use crate::support::fixture::Fixture;
use crate::support::store::{Store, TestDatabase};
use crate::support::tcp_proxy::Proxy;

#[tokio::test]
async fn a_lost_database_leaves_cached_pages_up_and_answers_the_rest_with_503() {
    let database = TestDatabase::create().await;
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let through_proxy = database.url.replacen(":5432/", &format!(":{}/", proxy.port), 1);
    assert_ne!(through_proxy, database.url, "the test database is on port 5432");
    let store = Store::Postgres(database);
    let mut settings = store.settings();
    settings.database_url = DatabaseUrl::parse(&through_proxy).unwrap();
    let mut app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    app.fixture = Fixture::load(&app.db, app.cache()).await;
    let product = app.fixture.product("Gaming Laptop").clone();
    let cached = [
        "/api/products/?search=laptop".to_owned(),
        format!("/products/{}", product.slug),
        "/categories".to_owned(),
        format!("/api/products/{}/", product.id),
    ];
    for path in &cached {
        app.get(path).await;
        assert_eq!(app.get(path).await.headers()["x-cache"], "HIT", "{path}");
    }

    proxy.cut();
    for path in &cached {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path} is cached and needs no database");
    }
    let r = app.get("/api/products/?search=keyboard").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    let r = app.get("/products?q=keyboard").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(app.get("/readyz").await.status(), 503, "not ready without a database");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = app.get("/api/products/?search=keyboard").await;
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 503, "only a clear 503 while recovering");
        assert!(Instant::now() < deadline, "the shop did not recover when the database returned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
}
