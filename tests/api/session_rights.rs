//! What a session may do follows the database: a demotion, a password reset
//! or "sign out everywhere" ends sessions at once; a sign-in has an absolute
//! lifetime; visitors without a session store nothing, and an anonymous
//! session lives briefly; a logout in another tab never turns a running
//! request into an error.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use storefront::config::SessionStoreKind;
use storefront::models::_entities::session;

use crate::on_both_backends_and_stores;
use crate::support::cli::storefront;
use crate::support::visitor::{add_to_cart, cart_lines, cookie_value, session_cookie};
use crate::support::{Backend, TestApp, Visitor, csrf_in};

async fn api_create_category(v: &Visitor, token: &str, name: &str) -> StatusCode {
    v.client
        .post(format!("{}/api/categories/", v.base))
        .header("x-csrf-token", token)
        .json(&serde_json::json!({ "name": name }))
        .send()
        .await
        .unwrap()
        .status()
}

/// Runs `storefront user create` against the app's database, as an operator would.
fn cli_user_create(app: &TestApp, email: &str, password: &str, admin: bool) {
    let mut args = vec!["user", "create", "--email", email];
    if admin {
        args.push("--admin");
    }
    let out = storefront(
        &[("DATABASE_URL", app.state.settings.database_url.as_str()), ("STOREFRONT_PASSWORD", password)],
        &args,
    )
    .output()
    .expect("the command runs");
    assert!(out.status.success(), "user create: {}", String::from_utf8_lossy(&out.stderr));
}

on_both_backends_and_stores! {
    async fn an_admin_demoted_by_user_create_loses_admin_pages_and_api_writes_at_once(app: TestApp) {
        app.create_user("erin@example.com", "erins password", true).await;
        let v = Visitor::new(&app);
        assert_eq!(v.login("erin@example.com", "erins password").await.status(), StatusCode::SEE_OTHER);
        let r = v.get("/admin/products").await;
        assert_eq!(r.status(), StatusCode::OK);
        let token = csrf_in(&r.text().await.unwrap());
        assert_eq!(api_create_category(&v, &token, "Before").await, StatusCode::CREATED);

        // The operator resets the password without --admin.
        cli_user_create(&app, "erin@example.com", "a new password", false);

        let r = v.get("/admin/products").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "the old cookie signs nobody in");
        assert!(r.headers()["location"].to_str().unwrap().starts_with("/login"));
        assert_eq!(api_create_category(&v, &token, "After").await, StatusCode::UNAUTHORIZED);
        assert_eq!(v.signed_in_as().await, None);
        // Signed in again, with the new password, the account is a shopper's.
        assert_eq!(v.login("erin@example.com", "a new password").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(v.get("/admin/products").await.status(), StatusCode::FORBIDDEN);
        let token = csrf_in(&v.page("/").await);
        assert_eq!(api_create_category(&v, &token, "Still not").await, StatusCode::FORBIDDEN);
    }

    async fn a_promotion_shows_on_the_next_request_and_a_reset_ends_every_session(app: TestApp) {
        app.create_user("finn@example.com", "finns password", false).await;
        app.create_user("gail@example.com", "gails password", false).await;
        let (laptop, phone, other) = (Visitor::new(&app), Visitor::new(&app), Visitor::new(&app));
        laptop.login("finn@example.com", "finns password").await;
        phone.login("finn@example.com", "finns password").await;
        other.login("gail@example.com", "gails password").await;
        assert_eq!(laptop.get("/admin/products").await.status(), StatusCode::FORBIDDEN);

        app.create_user("finn@example.com", "finns password", true).await;
        for v in [&laptop, &phone] {
            assert_eq!(v.signed_in_as().await, None, "a change of rights ends the user's sessions");
        }
        assert_eq!(other.signed_in_as().await.as_deref(), Some("gail@example.com"), "another user's session stays");
        laptop.login("finn@example.com", "finns password").await;
        assert_eq!(laptop.get("/admin/products").await.status(), StatusCode::OK, "the new rights count");
    }

    async fn sign_out_everywhere_ends_every_session_of_the_account_and_only_those(app: TestApp) {
        app.create_user("hana@example.com", "hanas password", false).await;
        app.create_user("ivan@example.com", "ivans password", false).await;
        let (here, there, other) = (Visitor::new(&app), Visitor::new(&app), Visitor::new(&app));
        here.login("hana@example.com", "hanas password").await;
        there.login("hana@example.com", "hanas password").await;
        other.login("ivan@example.com", "ivans password").await;

        let page = here.page("/account").await;
        assert!(page.contains("hana@example.com") && page.contains("Sign out everywhere"));
        let r = here.post("/account/sign-out-everywhere", &[("csrf", "forged")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(there.signed_in_as().await.as_deref(), Some("hana@example.com"), "a forged post changes nothing");

        let token = csrf_in(&page.split("sign-out-everywhere").nth(1).map(|rest| format!("<form action=\"x\"{rest}")).unwrap());
        let r = here.post("/account/sign-out-everywhere", &[("csrf", &token)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(here.signed_in_as().await, None, "this session ends");
        assert_eq!(there.signed_in_as().await, None, "and every other one of the account");
        assert_eq!(other.signed_in_as().await.as_deref(), Some("ivan@example.com"), "another account's stays");
        // The password still works: only the sessions ended.
        assert_eq!(there.login("hana@example.com", "hanas password").await.status(), StatusCode::SEE_OTHER);
        // Without a sign-in the account page sends the visitor to log in.
        let r = Visitor::new(&app).get("/account").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/login?next=%2Faccount");
    }

    async fn a_signed_in_page_costs_one_user_read_and_an_anonymous_hit_none(app: TestApp) {
        app.create_user("jack@example.com", "jacks password", false).await;
        let v = Visitor::new(&app);
        v.login("jack@example.com", "jacks password").await;
        let path = "/products?q=laptop";
        app.get(path).await;
        v.get(path).await;
        for _ in 0..3 {
            let before = app.state.queries.get();
            let r = app.get(path).await;
            assert_eq!(r.headers()["x-cache"], "HIT");
            assert_eq!(app.state.queries.get() - before, 0, "an anonymous hit runs no SQL");
            let before = app.state.queries.get();
            let r = v.get(path).await;
            assert_eq!(r.headers()["x-cache"], "HIT");
            assert!(r.text().await.unwrap().contains("jack@example.com"));
            assert_eq!(app.state.queries.get() - before, 1, "a signed-in hit reads the user once");
        }
    }
}

#[tokio::test]
async fn a_sign_in_ends_after_its_absolute_lifetime_however_busy_the_session() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| s.sessions.max_age = Duration::from_secs(3)).await;
    app.create_user("kate@example.com", "kates password", false).await;
    let v = Visitor::new(&app);
    let r = v.login("kate@example.com", "kates password").await;
    let cookie = session_cookie(&r).unwrap().to_lowercase();
    let max_age: i64 = cookie.split("max-age=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
    assert!(max_age <= 3, "the cookie ends with the sign-in: {cookie}");
    let started = std::time::Instant::now();
    // The lifetime counts in whole seconds from the sign-in.
    while started.elapsed() < Duration::from_millis(1500) {
        assert_eq!(v.signed_in_as().await.as_deref(), Some("kate@example.com"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_millis(4000) - started.elapsed()).await;
    // Replay the cookie as it was, as a thief would: the server ends it.
    let replay = reqwest::Client::new()
        .get(app.url("/"))
        .header("cookie", format!("storefront_session={}", cookie_value(&session_cookie(&r).unwrap())))
        .send()
        .await
        .unwrap();
    assert!(
        !replay.text().await.unwrap().contains("kate@example.com"),
        "a sign-in past its lifetime counts for nothing"
    );
}

fn database_store(app: &TestApp) -> bool {
    app.state.settings.sessions.store == SessionStoreKind::Database
}

/// The seconds the session store will keep the session this response's
/// cookie names.
async fn session_ttl(app: &TestApp, r: &reqwest::Response) -> i64 {
    let id = cookie_value(&session_cookie(r).expect("a session cookie"));
    if database_store(app) {
        let row = session::Entity::find_by_id(id).one(&app.db).await.unwrap().expect("the session is stored");
        let now = chrono::Utc::now().timestamp_millis();
        return (row.expires_at - now).div_euclid(1000);
    }
    let client = redis::Client::open(app.state.settings.sessions.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("TTL").arg(&id).query_async(&mut conn).await.unwrap()
}

/// Deletes a session from the store, as its end does.
async fn forget_session(app: &TestApp, id: &str) {
    if database_store(app) {
        session::Entity::delete_by_id(id.to_owned()).exec(&app.db).await.unwrap();
        return;
    }
    let client = redis::Client::open(app.state.settings.sessions.redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("DEL").arg(id).query_async(&mut conn).await.unwrap();
}

on_both_backends_and_stores! {
    async fn visitors_without_a_session_store_nothing_and_anonymous_sessions_live_briefly(app: TestApp) {
        for _ in 0..15 {
            for path in ["/login", "/register"] {
                let r = app.get(path).await;
                assert_eq!(r.status(), StatusCode::OK);
                assert!(r.headers().get("set-cookie").is_none(), "GET {path} stores nothing");
            }
        }
        // A flash message alone lives two hours.
        let v = Visitor::new(&app);
        let r = v.register("lena@example.com", "lenas password").await;
        let ttl = session_ttl(&app, &r).await;
        assert!((7000..=7200).contains(&ttl), "a session with only a flash: TTL {ttl}");
        assert!(session_cookie(&r).unwrap().to_lowercase().contains("max-age=7200"));
        // A cart keeps a session for the inactivity timeout.
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let shopper = Visitor::new(&app);
        let r = add_to_cart(&shopper, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let ttl = session_ttl(&app, &r).await;
        assert!(ttl > 13 * 24 * 3600 && ttl <= 14 * 24 * 3600, "a session with a cart: TTL {ttl}");
        // Browsing keeps each session's lifetime: reading a page writes nothing.
        let cart_session = r;
        shopper.page("/cart").await; // shows (and so removes) the flash message
        for path in ["/", "/cart", "/products?q=laptop", "/login"] {
            let r = shopper.get(path).await;
            assert!(r.headers().get("set-cookie").is_none(), "GET {path} rewrote the session");
        }
        let ttl = session_ttl(&app, &cart_session).await;
        assert!(ttl > 13 * 24 * 3600, "the cart's session after browsing: TTL {ttl}");
        let signed_in = Visitor::new(&app);
        app.create_user("lars@example.com", "larss password", false).await;
        let login = signed_in.login("lars@example.com", "larss password").await;
        signed_in.page("/").await; // the flash message
        for path in ["/", "/cart", "/products?q=laptop", "/account"] {
            let r = signed_in.get(path).await;
            assert_eq!(r.status(), StatusCode::OK, "{path}");
            assert!(r.headers().get("set-cookie").is_none(), "GET {path} rewrote the session");
        }
        let ttl = session_ttl(&app, &login).await;
        assert!(ttl > 13 * 24 * 3600, "a sign-in after browsing: TTL {ttl}");
    }

    async fn a_logout_in_another_tab_while_requests_run_answers_them_signed_out_not_503(app: TestApp) {
        logout_while_requests_run(&app, "mona@example.com").await;
    }
}

/// Three rounds of twenty cart posts and a logout released together: no
/// request answers 5xx, and the logout holds.
async fn logout_while_requests_run(app: &TestApp, email: &str) {
    app.create_user(email, "a shopper's password", false).await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    for round in 0..3 {
        let v = Visitor::new(app);
        v.login(email, "a shopper's password").await;
        let token = csrf_in(&v.page(&format!("/products/{}", sleeve.slug)).await);
        let barrier = Arc::new(tokio::sync::Barrier::new(21));
        let mut tasks = Vec::new();
        for i in 0..21 {
            let (client, base, token, barrier) = (v.client.clone(), v.base.clone(), token.clone(), barrier.clone());
            let id = sleeve.id.to_string();
            tasks.push(tokio::spawn(async move {
                let request = if i == 10 {
                    client.post(format!("{base}/logout")).form(&[("csrf", token.as_str())])
                } else {
                    // Each add writes the session (its flash message).
                    client.post(format!("{base}/cart/add")).form(&[
                        ("csrf", token.as_str()),
                        ("product_id", &id),
                        ("quantity", "1"),
                    ])
                };
                barrier.wait().await;
                request.send().await.unwrap().status()
            }));
        }
        for t in tasks {
            let status = t.await.unwrap();
            assert!(!status.is_server_error(), "round {round}: {status}");
        }
        assert_eq!(v.signed_in_as().await, None, "round {round}: the logout holds");
    }
}

#[tokio::test]
async fn a_session_in_use_outlives_its_inactivity_timeout_and_keeps_its_cart() {
    session_in_use_outlives_its_inactivity_timeout(Backend::Sqlite, SessionStoreKind::Redis).await;
}

#[tokio::test]
async fn a_session_in_use_in_the_database_outlives_its_inactivity_timeout_and_keeps_its_cart() {
    session_in_use_outlives_its_inactivity_timeout(Backend::Sqlite, SessionStoreKind::Database).await;
    session_in_use_outlives_its_inactivity_timeout(Backend::Postgres, SessionStoreKind::Database).await;
}

async fn session_in_use_outlives_its_inactivity_timeout(backend: Backend, store: SessionStoreKind) {
    let app = TestApp::spawn_configured(backend, |s| {
        s.sessions.inactivity = Duration::from_secs(4);
        s.sessions.store = store;
    })
    .await;
    app.create_user("nora@example.com", "noras password", false).await;
    let signed_in = Visitor::new(&app);
    signed_in.login("nora@example.com", "noras password").await;
    let shopper = Visitor::new(&app);
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    add_to_cart(&shopper, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
    // Coming back every second for twice the timeout keeps both alive.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        assert_eq!(signed_in.signed_in_as().await.as_deref(), Some("nora@example.com"), "at {:?}", started.elapsed());
        let cart = shopper.page("/cart").await;
        assert_eq!(cart_lines(&cart).len(), 1, "the cart at {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Left alone past the timeout, both end.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(signed_in.signed_in_as().await, None);
    assert!(shopper.page("/cart").await.contains("Your cart is empty."));
}

on_both_backends_and_stores! {
    async fn a_form_shown_on_a_short_session_still_works_after_the_session_is_gone(app: TestApp) {
        app.create_user("olaf@example.com", "olafs password", false).await;
        let v = Visitor::new(&app);
        // Registering leaves a two-hour session holding a message.
        let r = v.register("olaf@example.com", "other password").await;
        let session = cookie_value(&session_cookie(&r).unwrap());
        let token = csrf_in(&v.page("/login").await);
        assert!(token.starts_with("s1."), "a visitor nobody is signed in as gets the signed token: {token}");
        // The session ends (its two hours are up) while the form is open.
        forget_session(&app, &session).await;
        let r = v.post("/login", &[("email", "olaf@example.com"), ("password", "olafs password"), ("csrf", &token)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "the form still works");
    }

    async fn a_refused_first_add_leaves_only_a_short_session(app: TestApp) {
        let gaming = app.fixture.product("Gaming Laptop").clone();
        let v = Visitor::new(&app);
        // Its own page has no form (none in stock); a stale page's form is posted.
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let token = csrf_in(&v.page(&format!("/products/{}", sleeve.slug)).await);
        let r = v.post("/cart/add", &[("csrf", token.as_str()), ("product_id", &gaming.id.to_string()), ("quantity", "1")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "out of stock");
        let ttl = session_ttl(&app, &r).await;
        assert!(ttl <= 7200, "an empty cart's session lives briefly: TTL {ttl}");
    }
}

#[tokio::test]
async fn new_carts_from_one_address_are_limited_to_a_hundred_an_hour() {
    new_carts_from_one_address_are_limited(SessionStoreKind::Redis).await;
}

#[tokio::test]
async fn new_carts_from_one_address_are_limited_to_a_hundred_an_hour_with_the_database_store() {
    new_carts_from_one_address_are_limited(SessionStoreKind::Database).await;
}

async fn new_carts_from_one_address_are_limited(store: SessionStoreKind) {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.sessions.store = store;
    })
    .await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    let token = csrf_in(&app.get_product_page(&sleeve.slug, 200).await);
    let id = sleeve.id.to_string();
    let add = |address: &'static str| {
        let request = app.client.post(app.url("/cart/add")).header("x-forwarded-for", address).form(&[
            ("csrf", token.as_str()),
            ("product_id", id.as_str()),
            ("quantity", "1"),
        ]);
        async move { request.send().await.unwrap() }
    };
    for i in 0..100 {
        assert_eq!(add("198.51.100.30").await.status(), StatusCode::SEE_OTHER, "cart {i}");
    }
    let r = add("198.51.100.30").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers().get("set-cookie").is_none(), "nothing stored");
    assert_eq!(add("198.51.100.31").await.status(), StatusCode::SEE_OTHER, "another address is not held back");
}

#[tokio::test]
async fn with_sessions_in_process_a_logout_in_another_tab_holds_too() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.sessions.store = SessionStoreKind::Memory;
    })
    .await;
    logout_while_requests_run(&app, "pete@example.com").await;
}

#[tokio::test]
async fn signed_in_shoppers_new_carts_are_not_counted_against_their_address() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("quin@example.com", "quins password", false).await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    // More sign-ins, each with a new cart, than the anonymous limit allows.
    for i in 0..=storefront::auth::throttle::MAX_NEW_CARTS {
        let v = Visitor::new(&app);
        v.login("quin@example.com", "quins password").await;
        let r = add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "cart {i}");
    }
}
