//! Accounts on sessions: registration, login, logout, session ids, cookie
//! attributes, CSRF, throttling, redirects, shared and failing session stores.

use std::time::Duration;

use reqwest::StatusCode;
use scraper::{Html, Selector};
use sea_orm::EntityTrait;

use crate::on_both_backends_and_stores;
use crate::support::cache::{cached_keys, redis_conn};
use crate::support::cli::{serve, storefront};
use crate::support::fixture::Fixture;
use crate::support::redis_server::RedisServer;
use crate::support::store::{Store, TestDatabase};
use crate::support::visitor::{add_to_cart, cart_lines, cookie_value, session_cookie};
use crate::support::{Backend, TestApp, Visitor, csrf_in};

on_both_backends_and_stores! {
    async fn register_login_and_logout(app: TestApp) {
        let v = Visitor::new(&app);
        let r = v.register("Ada@Example.com", "correct horse").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/login");
        assert_eq!(v.signed_in_as().await, None, "registering signs nobody in");
        assert_eq!(v.login("ada@example.com", "correct horse").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(v.signed_in_as().await.as_deref(), Some("ada@example.com"));
        // The same email in another case is the same account.
        let other = Visitor::new(&app);
        let r = other.register("ADA@example.COM", "another horse").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let users = storefront::models::_entities::user::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(users.len(), 1, "no second account");

        let csrf = csrf_in(&v.page("/").await);
        let r = v.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(v.signed_in_as().await, None);

        let r = other.login("ada@EXAMPLE.com", "correct horse").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(other.signed_in_as().await.as_deref(), Some("ada@example.com"));
    }

    async fn registration_keeps_values_and_explains_errors(app: TestApp) {
        let v = Visitor::new(&app);
        let csrf = v.csrf("/register").await;
        let r = v.post("/register", &[("email", "not-an-email"), ("password", "short"), ("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let doc = Html::parse_document(&r.text().await.unwrap());
        let errors: Vec<String> = doc.select(&Selector::parse(".field-error").unwrap()).map(|e| e.text().collect()).collect();
        assert_eq!(errors, ["Enter a valid email address.", "Use at least 8 characters."]);
        let kept = doc.select(&Selector::parse("input[name=email]").unwrap()).next().unwrap().value().attr("value");
        assert_eq!(kept, Some("not-an-email"));
    }

    async fn wrong_password_and_unknown_email_read_the_same(app: TestApp) {
        Visitor::new(&app).register("bob@example.com", "bobs password").await;
        let mut bodies = Vec::new();
        for (email, password) in [("bob@example.com", "wrong password"), ("nobody@example.com", "bobs password")] {
            let v = Visitor::new(&app);
            let r = v.login(email, password).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            let doc = Html::parse_document(&r.text().await.unwrap());
            bodies.push(doc.select(&Selector::parse(".form-error").unwrap()).next().unwrap().text().collect::<String>());
        }
        assert_eq!(bodies[0], "Invalid email or password.");
        assert_eq!(bodies[0], bodies[1]);
    }

    async fn login_gives_a_new_session_id_and_logout_ends_it(app: TestApp) {
        let v = Visitor::new(&app);
        // Registering leaves a session with a flash message (and a token).
        let r = v.register("eve@example.com", "eves password").await;
        let before = cookie_value(&session_cookie(&r).expect("the flash is kept in a session"));
        let csrf = csrf_in(&v.page("/login").await);
        let r = v.post("/login", &[("email", "eve@example.com"), ("password", "eves password"), ("csrf", &csrf)]).await;
        let after = cookie_value(&session_cookie(&r).expect("login sets a new cookie"));
        assert_ne!(before, after, "the id changes on login");
        // The id from before the login is worth nothing now.
        let attacker = reqwest::Client::new();
        let html = attacker
            .get(app.url("/"))
            .header("cookie", format!("storefront_session={before}"))
            .send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("eve@example.com"));
        // After logout, the signed-in id is gone from the store too.
        let csrf = csrf_in(&v.page("/").await);
        v.post("/logout", &[("csrf", &csrf)]).await;
        let html = attacker
            .get(app.url("/"))
            .header("cookie", format!("storefront_session={after}"))
            .send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("eve@example.com"), "a logged-out session must not work when replayed");
    }

    async fn session_cookie_attributes(app: TestApp) {
        Visitor::new(&app).register("sam@example.com", "sams password").await;
        let v = Visitor::new(&app);
        for path in ["/", "/login", "/register", "/products/laptop-sleeve"] {
            let r = v.get(path).await;
            assert!(session_cookie(&r).is_none(), "a visitor's GET {path} stores nothing");
        }
        let r = v.login("sam@example.com", "sams password").await;
        let cookie = session_cookie(&r).unwrap();
        let lower = cookie.to_lowercase();
        assert!(lower.contains("httponly"), "{cookie}");
        assert!(lower.contains("samesite=lax"), "{cookie}");
        assert!(!lower.contains("secure;") && !lower.ends_with("secure"), "plain http: {cookie}");
        assert!(lower.contains("max-age=1209599") || lower.contains("max-age=1209600"), "14 days of inactivity: {cookie}");
    }

    async fn forms_without_a_valid_csrf_token_are_refused(app: TestApp) {
        Visitor::new(&app).register("carol@example.com", "carols password").await;
        let v = Visitor::new(&app);
        v.page("/login").await;
        for token in ["", "forged"] {
            let r = v.post("/login", &[("email", "carol@example.com"), ("password", "carols password"), ("csrf", token)]).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
        assert_eq!(v.signed_in_as().await, None);
        v.login("carol@example.com", "carols password").await;
        let r = v.post("/logout", &[("csrf", "forged")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(v.signed_in_as().await.as_deref(), Some("carol@example.com"), "still signed in");
        let r = v.post("/register", &[("email", "x@example.com"), ("password", "long enough"), ("csrf", "nope")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    async fn next_is_followed_only_to_local_paths(app: TestApp) {
        Visitor::new(&app).register("dan@example.com", "dans password").await;
        for (next, expected) in [("/products?q=lamp", "/products?q=lamp"), ("https://evil.example/", "/"), ("//evil.example", "/"), ("/\\evil.example", "/")] {
            let v = Visitor::new(&app);
            let html = v.page(&format!("/login?next={}", form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>())).await;
            let csrf = csrf_in(&html);
            let r = v.post("/login", &[("email", "dan@example.com"), ("password", "dans password"), ("csrf", &csrf), ("next", next)]).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            assert_eq!(r.headers()["location"], expected, "next={next}");
        }
    }

    async fn failed_logins_are_throttled(app: TestApp) {
        Visitor::new(&app).register("fay@example.com", "fays password").await;
        let v = Visitor::new(&app);
        for _ in 0..4 {
            assert_eq!(v.login("fay@example.com", "wrong password").await.status(), StatusCode::BAD_REQUEST);
        }
        // A success clears the account's count...
        assert_eq!(v.login("fay@example.com", "fays password").await.status(), StatusCode::SEE_OTHER);
        for _ in 0..5 {
            assert_eq!(v.login("fay@example.com", "wrong password").await.status(), StatusCode::BAD_REQUEST);
        }
        // ...and five failures in a row lock the account, right password or not.
        let r = v.login("fay@example.com", "fays password").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
        // Twenty failures from one address lock that address for every account.
        for i in 0..11 {
            v.login(&format!("ghost{i}@example.com"), "whatever pass").await;
        }
        Visitor::new(&app).register("gus@example.com", "guss password").await;
        let r = Visitor::new(&app).login("gus@example.com", "guss password").await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    async fn signed_in_pages_are_private_and_cached_fragments_hold_no_user(app: TestApp) {
        let v = Visitor::new(&app);
        v.sign_up("hal@example.com", "hals password").await;
        let anonymous = app.get("/products?q=laptop").await;
        assert!(anonymous.headers()["cache-control"].to_str().unwrap().starts_with("public"));
        let r = v.get("/products?q=laptop").await;
        assert_eq!(r.headers()["x-cache"], "HIT", "the catalog fragment is shared");
        assert_eq!(r.headers()["cache-control"], "private, no-store");
        let vary: Vec<&str> = r.headers().get_all("vary").iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(vary, ["Accept-Encoding", "Cookie"]);
        assert!(r.text().await.unwrap().contains("hal@example.com"));
        for path in ["/", "/categories", "/products/steel-laptop-13", "/categories/books"] {
            v.page(path).await;
        }
        // No cached entry holds the user's email.
        let url = app.state.settings.cache.redis_url.clone();
        let mut conn = redis_conn(&url);
        let keys = cached_keys(&app, &url).await;
        let mut entries = 0;
        for key in &keys {
            let value: Vec<u8> = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap();
            assert!(!String::from_utf8_lossy(&value).contains("hal@example.com"), "{key}");
            entries += 1;
        }
        assert!(entries >= 5, "{entries}");
    }

    async fn sessions_work_across_instances(app: TestApp) {
        let v = Visitor::new(&app);
        v.sign_up("ivy@example.com", "ivys password").await;
        // Another instance (or this one restarted) reads the same session.
        let other = app.second_instance().await;
        let on_other = Visitor { client: v.client.clone(), base: other.address.clone() };
        assert_eq!(on_other.signed_in_as().await.as_deref(), Some("ivy@example.com"));
        let csrf = csrf_in(&on_other.page("/").await);
        on_other.post("/logout", &[("csrf", &csrf)]).await;
        assert_eq!(v.signed_in_as().await, None, "logout on one instance ends it on all");
    }
}

#[tokio::test]
async fn an_idle_session_expires() {
    let store = Store::create(Backend::Sqlite).await;
    let mut settings = store.settings();
    settings.sessions.inactivity = Duration::from_secs(2);
    let app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    let v = Visitor::new(&app);
    v.sign_up("jo@example.com", "jos password").await;
    assert!(v.signed_in_as().await.is_some());
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(v.signed_in_as().await, None);
}

#[tokio::test]
async fn an_in_memory_session_store_works_without_redis() {
    let store = Store::create(Backend::Sqlite).await;
    let mut settings = store.settings();
    settings.sessions.store = storefront::config::SessionStoreKind::Memory;
    settings.sessions.redis_url = "redis://127.0.0.1:1".into();
    let app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    let v = Visitor::new(&app);
    v.sign_up("kim@example.com", "kims password").await;
    assert_eq!(v.signed_in_as().await.as_deref(), Some("kim@example.com"));
}

#[tokio::test]
async fn a_restarted_session_store_keeps_shoppers_signed_in_with_their_carts() {
    let mut redis = RedisServer::start();
    let store = Store::create(Backend::Sqlite).await;
    let mut settings = store.settings();
    settings.sessions.redis_url = redis.url();
    let mut app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    app.fixture = Fixture::load(&app.db, app.cache()).await;
    let v = Visitor::new(&app);
    v.sign_up("kim@example.com", "kims password").await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "2").await;
    let expected = vec![("Laptop Sleeve".to_owned(), "2".to_owned())];
    assert_eq!(cart_lines(&v.page("/cart").await), expected);

    // A planned restart of the session Redis, which persists its data.
    redis.shutdown_saving();
    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let cart = v.get("/cart").await;
        if cart.status() == StatusCode::OK {
            assert_eq!(cart_lines(&cart.text().await.unwrap()), expected, "the cart survived");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the session store never came back: {}", cart.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(v.signed_in_as().await.as_deref(), Some("kim@example.com"), "still signed in");
}

#[tokio::test]
async fn a_dead_session_store_keeps_browsing_up_and_answers_logins_with_503() {
    let mut redis = RedisServer::start();
    let store = Store::create(Backend::Sqlite).await;
    let mut settings = store.settings();
    settings.sessions.redis_url = redis.url();
    let app = TestApp::spawn_settings(Some(store), settings, |_| {}).await;
    Fixture::load(&app.db, app.cache()).await;
    let v = Visitor::new(&app);
    v.sign_up("lee@example.com", "lees password").await;
    let csrf = v.csrf("/products").await.to_owned();
    redis.kill();
    for path in ["/", "/products?q=laptop", "/api/products/", "/categories/books"] {
        assert_eq!(app.get(path).await.status(), 200, "anonymous {path}");
        assert_eq!(v.get(path).await.status(), 200, "signed-in visitor {path}");
    }
    // The login form needs no session; signing in does.
    let fresh = Visitor::new(&app);
    let token = fresh.csrf("/login").await;
    let r =
        fresh.post("/login", &[("email", "lee@example.com"), ("password", "lees password"), ("csrf", &token)]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("temporarily unavailable"));
    let r = v.post("/login", &[("email", "lee@example.com"), ("password", "lees password"), ("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn user_create_reads_the_password_from_stdin_and_makes_an_admin() {
    use std::io::Write;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create());
    let mut child =
        storefront(&[("DATABASE_URL", db.url.as_str())], &["user", "create", "--email", "Boss@Example.com", "--admin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    child.stdin.take().unwrap().write_all(b"the boss password\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("boss@example.com (admin)"));
    let served = serve(&[("DATABASE_URL", db.url.as_str())], &["serve"]);
    rt.block_on(async {
        let v = Visitor::at(&served.address);
        assert_eq!(v.login("boss@example.com", "the boss password").await.status(), StatusCode::SEE_OTHER);
        assert!(v.page("/").await.contains(r#"href="/admin""#));
    });
    // A short password is refused with one line.
    let out = storefront(
        &[("DATABASE_URL", db.url.as_str()), ("STOREFRONT_PASSWORD", "short")],
        &["user", "create", "--email", "x@example.com"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// Fails 20 logins, the per-address limit, as `visitor`.
async fn fail_twenty_logins(visitor: &Visitor) {
    for i in 0..20 {
        let r = visitor.login(&format!("nobody{i}@example.com"), "whatever pass").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    Visitor::new(&app).register("ivy@example.com", "ivys password").await;
    fail_twenty_logins(&Visitor::forwarded_for(&app, "198.51.100.7")).await;
    let r = Visitor::forwarded_for(&app, "198.51.100.7").login("ivy@example.com", "ivys password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "that client is throttled");
    let r = Visitor::forwarded_for(&app, "198.51.100.8").login("ivy@example.com", "ivys password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "another client behind the same proxy is not");
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    Visitor::new(&app).register("jon@example.com", "jons password").await;
    for i in 0..20 {
        let v = Visitor::forwarded_for(&app, &format!("198.51.100.{i}"));
        let r = v.login(&format!("nobody{i}@example.com"), "whatever pass").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = Visitor::forwarded_for(&app, "203.0.113.1").login("jon@example.com", "jons password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "a made-up header does not dodge the limit");
}
