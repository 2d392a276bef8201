//! The throttles cannot be raced: parallel login guesses and registrations
//! released together are held to the limits; registering tells nobody
//! whether an email has an account; IPv6 clients are counted by /64.

use std::sync::Arc;

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use storefront::config::SessionStoreKind;

use crate::on_both_backends_and_stores;
use crate::support::{Backend, TestApp, Visitor, csrf_in};

/// Sends `forms` to `path` from `visitors` at the same moment; returns
/// each answer's status in order.
async fn burst(visitors: Vec<Visitor>, path: &str, forms: Vec<Vec<(String, String)>>) -> Vec<StatusCode> {
    let barrier = Arc::new(tokio::sync::Barrier::new(forms.len()));
    let mut tasks = Vec::new();
    for (v, form) in visitors.into_iter().zip(forms) {
        let barrier = barrier.clone();
        let request = v.client.post(format!("{}{path}", v.base)).form(&form);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            request.send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

fn login_form(email: &str, password: &str, csrf: &str) -> Vec<(String, String)> {
    [("email", email), ("password", password), ("csrf", csrf)]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

on_both_backends_and_stores! {
    async fn forty_parallel_guesses_get_five_tries_and_the_right_password_no_extra_one(app: TestApp) {
        app.create_user("nina@example.com", "ninas password", false).await;
        let visitors: Vec<Visitor> = (0..40).map(|_| Visitor::new(&app)).collect();
        let mut forms = Vec::new();
        for (i, v) in visitors.iter().enumerate() {
            let csrf = v.csrf("/login").await;
            let password = if i == 36 { "ninas password" } else { "wrong password" };
            forms.push(login_form("nina@example.com", password, &csrf));
        }
        let statuses = burst(visitors, "/login", forms).await;
        let tried = statuses.iter().filter(|s| **s != StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!(tried, 5, "exactly the limit is checked: {statuses:?}");
        assert!(statuses.iter().all(|s| [StatusCode::BAD_REQUEST, StatusCode::SEE_OTHER, StatusCode::TOO_MANY_REQUESTS].contains(s)), "{statuses:?}");
        if statuses[36] == StatusCode::SEE_OTHER {
            // The right password was among the five tried: the lock lifts for it.
            assert_eq!(statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count(), 4);
        } else {
            assert_eq!(statuses[36], StatusCode::TOO_MANY_REQUESTS, "the right password is not tried beyond the limit");
            let r = Visitor::new(&app).login("nina@example.com", "ninas password").await;
            assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the account stays locked");
            assert!(r.headers().contains_key("retry-after"));
        }
    }

    async fn registering_answers_the_same_for_a_new_and_a_taken_email(app: TestApp) {
        let answer = |email: &'static str| {
            let v = Visitor::new(&app);
            async move {
                let r = v.register(email, "some password").await;
                let status = r.status();
                let location = r.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
                let page = v.page("/login").await;
                let flash = scraper::Html::parse_document(&page)
                    .select(&scraper::Selector::parse(".flash").unwrap())
                    .next()
                    .map(|e| e.text().collect::<String>());
                (status, location, flash, page.contains("already exists"))
            }
        };
        let new = answer("olga@example.com").await;
        let taken = answer("olga@example.com").await;
        assert_eq!(new.0, StatusCode::SEE_OTHER);
        assert_eq!(new, taken, "a taken email reads exactly as a new one");
        assert!(!taken.3, "nothing says the account exists");
        let users = storefront::models::_entities::user::Entity::find().all(&app.db).await.unwrap();
        assert_eq!(users.len(), 1);
        // The first password is the account's; the second changed nothing.
        assert_eq!(Visitor::new(&app).login("olga@example.com", "some password").await.status(), StatusCode::SEE_OTHER);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_released_together_are_held_to_ten_an_hour_per_address() {
    registrations_released_together(Backend::Sqlite, SessionStoreKind::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registrations_released_together_are_held_to_ten_an_hour_per_address_in_the_database_too() {
    registrations_released_together(Backend::Sqlite, SessionStoreKind::Database).await;
    registrations_released_together(Backend::Postgres, SessionStoreKind::Database).await;
}

async fn registrations_released_together(backend: Backend, store: SessionStoreKind) {
    let app = TestApp::spawn_configured(backend, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        s.sessions.store = store;
    })
    .await;
    let visitors: Vec<Visitor> = (0..15).map(|_| Visitor::forwarded_for(&app, "198.51.100.20")).collect();
    let mut forms = Vec::new();
    for (i, v) in visitors.iter().enumerate() {
        let csrf = v.csrf("/register").await;
        forms.push(login_form(&format!("burst{i}@example.com"), "burst password", &csrf));
    }
    let statuses = burst(visitors, "/register", forms).await;
    let registered = statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count();
    assert_eq!(registered, 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 5, "{statuses:?}");
    let users = storefront::models::_entities::user::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(users.len(), 10);
    let v = Visitor::forwarded_for(&app, "198.51.100.20");
    let r = v.register("late@example.com", "late password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&retry), "{retry}");
    assert!(r.text().await.unwrap().contains("Too many accounts"));
    // Another client is not held back by that one.
    let r = Visitor::forwarded_for(&app, "198.51.100.21").register("late@example.com", "late password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn ipv6_clients_are_throttled_by_their_64() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.create_user("pia@example.com", "pias password", false).await;
    // Twenty failures, each from another address of one /64.
    for i in 1..=20 {
        let v = Visitor::forwarded_for(&app, &format!("2001:db8:5:6::{i:x}"));
        let r = v.login(&format!("nobody{i}@example.com"), "whatever pass").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = Visitor::forwarded_for(&app, "2001:db8:5:6:ffff::1").login("pia@example.com", "pias password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "the same /64 is one client");
    let r = Visitor::forwarded_for(&app, "2001:db8:5:7::1").login("pia@example.com", "pias password").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the next /64 is another");
}

#[tokio::test]
async fn a_visitor_without_a_session_posts_a_form_with_a_signed_token_and_never_without_one() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    let page = app.get_product_page(&sleeve.slug, 200).await;
    let token = csrf_in(&page);
    let id = sleeve.id.to_string();
    for bad in ["", "forged", "s1.1700000000.0011223344556677.00"] {
        let r = app
            .client
            .post(app.url("/cart/add"))
            .form(&[("csrf", bad), ("product_id", &id), ("quantity", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "token {bad:?}");
        assert!(r.headers().get("set-cookie").is_none(), "a refused post stores nothing");
    }
    let r = app
        .client
        .post(app.url("/cart/add"))
        .form(&[("csrf", token.as_str()), ("product_id", &id), ("quantity", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the page's own token works");
}
