//! The cart: adding, stock checks, changes, concurrent adds, sharing across
//! instances, and two shoppers who never see each other's data.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use scraper::{Html, Selector};
use storefront::services::cart::MAX_CART_LINES;
use storefront::services::writes::{self, ProductChanges};
use storefront::views::fragments::CSRF_HOLE;
use tokio::sync::Barrier;

use crate::on_both_backends_and_stores;
use crate::support::cache::{cached_keys, redis_conn};
use crate::support::visitor::{add_to_cart, cart_lines};
use crate::support::{Backend, TestApp, Visitor, csrf_in};

fn header_count(html: &str) -> String {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse(".cart-link").unwrap()).next().unwrap().text().collect()
}

/// `n` products in stock, made for the test: the fixture has too few.
async fn stocked_products(app: &TestApp, n: usize) -> Vec<i32> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(app.add_product("garden", &format!("Garden Gnome {i:03}"), "A gnome for the garden", 5).await.0);
    }
    ids
}

/// A visitor with a session (the login form starts one) and its CSRF token.
async fn shopper(app: &TestApp) -> (Visitor, String) {
    let v = Visitor::new(app);
    let csrf = v.csrf("/login").await;
    (v, csrf)
}

async fn add_one(v: &Visitor, csrf: &str, product_id: i32) -> reqwest::Response {
    v.post("/cart/add", &[("csrf", csrf), ("product_id", &product_id.to_string()), ("quantity", "1")]).await
}

/// Fills the cart with one of each product, checking each add succeeds.
async fn fill(v: &Visitor, csrf: &str, ids: &[i32]) {
    for id in ids {
        assert_eq!(add_one(v, csrf, *id).await.status(), StatusCode::SEE_OTHER, "adding product {id}");
    }
}

/// The SQL statements a GET of `path` runs.
async fn queries_of(app: &TestApp, v: &Visitor, path: &str) -> (u64, String) {
    let before = app.state.queries.get();
    let html = v.page(path).await;
    (app.state.queries.get() - before, html)
}

/// Ten adds of new products, released together at a cart of 90 lines: ten
/// fit, ten are refused, and the cart ends with 100 lines.
async fn a_burst_of_adds_stops_at_a_hundred_lines(app: &TestApp) {
    let ids = stocked_products(app, 110).await;
    let (v, csrf) = shopper(app).await;
    fill(&v, &csrf, &ids[..90]).await;
    let barrier = Arc::new(Barrier::new(20));
    let tasks = ids[90..].iter().map(|id| {
        let (client, barrier) = (v.client.clone(), barrier.clone());
        let url = format!("{}/cart/add", v.base);
        let form = [("csrf", csrf.clone()), ("product_id", id.to_string()), ("quantity", "1".to_owned())];
        tokio::spawn(async move {
            barrier.wait().await;
            client.post(url).form(&form).send().await.unwrap().status()
        })
    });
    let statuses: Vec<StatusCode> = join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    let added = statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count();
    assert_eq!((added, refused), (10, 10), "{statuses:?}");
    assert_eq!(cart_lines(&v.page("/cart").await).len(), MAX_CART_LINES);
}

#[tokio::test]
async fn an_in_process_cart_holds_a_burst_to_a_hundred_lines_too() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.sessions.store = storefront::config::SessionStoreKind::Memory;
        s.sessions.redis_url = "redis://127.0.0.1:1".into();
    })
    .await;
    a_burst_of_adds_stops_at_a_hundred_lines(&app).await;
}

on_both_backends_and_stores! {
    async fn the_cart_page_runs_as_many_queries_for_fifty_lines_as_for_one(app: TestApp) {
        let ids = stocked_products(&app, 50).await;
        let (v, csrf) = shopper(&app).await;
        fill(&v, &csrf, &ids[..1]).await;
        let (one, html) = queries_of(&app, &v, "/cart").await;
        assert_eq!(cart_lines(&html).len(), 1);
        fill(&v, &csrf, &ids[1..]).await;
        let (fifty, html) = queries_of(&app, &v, "/cart").await;
        assert_eq!(cart_lines(&html).len(), 50);
        assert_eq!(fifty, one, "one line: {one} queries; fifty lines: {fifty}");
        // A withdrawn product still leaves the cart, at no extra query.
        writes::update_product(&app.db, app.cache(), ids[7], ProductChanges { is_active: Some(false), ..Default::default() })
            .await
            .unwrap();
        let (withdrawn, html) = queries_of(&app, &v, "/cart").await;
        let names: Vec<String> = cart_lines(&html).into_iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), 49);
        assert!(!names.contains(&"Garden Gnome 007".to_owned()));
        assert_eq!(withdrawn, one);
        assert_eq!(cart_lines(&v.page("/cart").await).len(), 49, "and stays out");
    }

    async fn a_cart_holds_at_most_a_hundred_different_products(app: TestApp) {
        let ids = stocked_products(&app, MAX_CART_LINES + 1).await;
        let (v, csrf) = shopper(&app).await;
        fill(&v, &csrf, &ids[..MAX_CART_LINES]).await;
        let extra = ids[MAX_CART_LINES];
        let r = add_one(&v, &csrf, extra).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let html = r.text().await.unwrap();
        assert!(html.contains("Your cart already holds 100 different products; remove one to add “Garden Gnome 100”."), "{html}");
        assert_eq!(cart_lines(&html).len(), MAX_CART_LINES, "the page shows the cart as it is");
        // Changing the quantity cannot start a line either.
        let r = v.post("/cart/update", &[("csrf", &csrf), ("product_id", &extra.to_string()), ("quantity", "1")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        // More of a product already in the cart is still welcome.
        assert_eq!(add_one(&v, &csrf, ids[0]).await.status(), StatusCode::SEE_OTHER);
        let lines = cart_lines(&v.page("/cart").await);
        assert_eq!(lines.len(), MAX_CART_LINES);
        assert_eq!(lines[0], ("Garden Gnome 000".to_owned(), "2".to_owned()));
        // A removed line makes room.
        let r = v.post("/cart/remove", &[("csrf", &csrf), ("product_id", &ids[0].to_string())]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(add_one(&v, &csrf, extra).await.status(), StatusCode::SEE_OTHER);
        let names: Vec<String> = cart_lines(&v.page("/cart").await).into_iter().map(|(name, _)| name).collect();
        assert_eq!(names.len(), MAX_CART_LINES);
        assert!(names.contains(&"Garden Gnome 100".to_owned()) && !names.contains(&"Garden Gnome 000".to_owned()));
    }

    async fn adds_released_together_never_pass_a_hundred_lines(app: TestApp) {
        a_burst_of_adds_stops_at_a_hundred_lines(&app).await;
    }

    async fn a_visitor_fills_and_changes_a_cart(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let keyboard = app.fixture.product("Mechanical Keyboard").clone();
        let v = Visitor::new(&app);
        let page = format!("/products/{}", sleeve.slug);
        let r = v.get(&page).await;
        assert!(r.headers().get("set-cookie").is_none(), "viewing a product stores nothing");
        let r = add_to_cart(&v, &page, sleeve.id, "2").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        add_to_cart(&v, &format!("/products/{}", keyboard.slug), keyboard.id, "1").await;
        let html = v.page("/cart").await;
        assert_eq!(cart_lines(&html), [("Laptop Sleeve".to_owned(), "2".to_owned()), ("Mechanical Keyboard".to_owned(), "1".to_owned())]);
        // 2 × 29.50 + 89.99
        assert!(html.contains("$148.99"), "subtotal");
        assert_eq!(header_count(&v.page("/").await), "Cart (3)");

        // More than the stock is refused and changes nothing.
        let r = add_to_cart(&v, &page, sleeve.id, &sleeve.stock.to_string()).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert!(r.text().await.unwrap().contains("in stock"));
        let csrf = csrf_in(&v.page("/cart").await);
        let r = v.post("/cart/update", &[("csrf", &csrf), ("product_id", &sleeve.id.to_string()), ("quantity", "5")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = v.post("/cart/update", &[("csrf", &csrf), ("product_id", &keyboard.id.to_string()), ("quantity", "500")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let r = v.post("/cart/remove", &[("csrf", &csrf), ("product_id", &keyboard.id.to_string())]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(cart_lines(&v.page("/cart").await), [("Laptop Sleeve".to_owned(), "5".to_owned())]);
        let r = v.post("/cart/update", &[("csrf", &csrf), ("product_id", &sleeve.id.to_string()), ("quantity", "0")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(v.page("/cart").await.contains("Your cart is empty."));

        // Bad input is a 400, a forged token a 403, an out-of-stock product a refusal.
        let r = v.post("/cart/add", &[("csrf", &csrf), ("product_id", &sleeve.id.to_string()), ("quantity", "lots")]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = v.post("/cart/add", &[("csrf", "forged"), ("product_id", &sleeve.id.to_string()), ("quantity", "1")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let gaming = app.fixture.product("Gaming Laptop").id;
        let r = v.post("/cart/add", &[("csrf", &csrf), ("product_id", &gaming.to_string()), ("quantity", "1")]).await;
        assert_eq!(r.status(), StatusCode::CONFLICT, "stock 0");
        let hidden = app.fixture.product("Hidden Laptop").id;
        let r = v.post("/cart/add", &[("csrf", &csrf), ("product_id", &hidden.to_string()), ("quantity", "1")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    async fn a_product_named_like_the_token_placeholder_shows_no_token(app: TestApp) {
        let v = Visitor::new(&app);
        v.register("pia@example.com", "pias password").await;
        let names = ["__storefront_csrf__".to_owned(), CSRF_HOLE.to_owned(), format!("{CSRF_HOLE} & __storefront_csrf__")];
        for name in &names {
            let (_, slug) = app.add_product("books", name, name, 5).await;
            let path = format!("/products/{slug}");
            // The page that fills the cache, then the one served from it.
            for _ in 0..2 {
                let html = v.page(&path).await;
                let token = csrf_in(&html);
                assert!(token.len() > 10, "{name}: a signed-in visitor's token");
                // Outside the forms' hidden fields (the layout's logout form
                // has one too) the token is nowhere; in the product's part of
                // the page it is in the add-to-cart form alone.
                let in_fields = html.matches(&format!(r#"name="csrf" value="{token}""#)).count();
                assert_eq!(html.matches(&token).count(), in_fields, "{name}: the token outside a form: {html}");
                let doc = Html::parse_document(&html);
                let main = doc.select(&Selector::parse("main").unwrap()).next().unwrap().inner_html();
                assert_eq!(main.matches(&token).count(), 1, "{name}: {main}");
                let text = |css: &str| -> Vec<String> {
                    doc.select(&Selector::parse(css).unwrap()).map(|e| e.text().collect::<String>()).collect()
                };
                assert_eq!(text(".product-detail h1"), std::slice::from_ref(name));
                assert_eq!(text(".breadcrumbs span"), std::slice::from_ref(name));
                assert_eq!(text(".product-detail .description"), std::slice::from_ref(name));
                let hidden = Selector::parse("form.add-to-cart input[name=csrf]").unwrap();
                assert_eq!(doc.select(&hidden).next().and_then(|e| e.value().attr("value")), Some(token.as_str()));
            }
        }
    }

    async fn two_adds_at_the_same_moment_both_count(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let v = Visitor::new(&app);
        let page = format!("/products/{}", sleeve.slug);
        add_to_cart(&v, &page, sleeve.id, "1").await;
        let csrf = csrf_in(&v.page(&page).await);
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let client = v.client.clone();
            let url = format!("{}/cart/add", v.base);
            let form = [("csrf", csrf.clone()), ("product_id", sleeve.id.to_string()), ("quantity", "3".to_owned())];
            tasks.push(tokio::spawn(async move { client.post(url).form(&form).send().await.unwrap().status() }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), StatusCode::SEE_OTHER);
        }
        assert_eq!(cart_lines(&v.page("/cart").await), [("Laptop Sleeve".to_owned(), "7".to_owned())]);
    }

    async fn the_cart_follows_the_shopper(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        Visitor::new(&app).register("mia@example.com", "mias password").await;
        let v = Visitor::new(&app);
        add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "2").await;
        // Signing in keeps the cart (the session id changes, its data stays).
        v.login("mia@example.com", "mias password").await;
        assert_eq!(cart_lines(&v.page("/cart").await), [("Laptop Sleeve".to_owned(), "2".to_owned())]);
        // Another instance (or a restart) sees the same cart.
        let other = app.second_instance().await;
        let there = Visitor { client: v.client.clone(), base: other.address.clone() };
        assert_eq!(cart_lines(&there.page("/cart").await), [("Laptop Sleeve".to_owned(), "2".to_owned())]);
    }

    async fn two_shoppers_never_see_each_other(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let keyboard = app.fixture.product("Mechanical Keyboard").clone();
        let ann = Visitor::new(&app);
        ann.sign_up("ann@example.com", "anns password").await;
        add_to_cart(&ann, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
        let ben = Visitor::new(&app);
        ben.sign_up("ben@example.com", "bens password").await;
        add_to_cart(&ben, &format!("/products/{}", keyboard.slug), keyboard.id, "4").await;
        let pages = ["/".to_owned(), "/cart".to_owned(), "/categories".to_owned(), "/products?q=laptop".to_owned(), format!("/products/{}", sleeve.slug), format!("/products/{}", keyboard.slug)];
        for path in &pages {
            let a = ann.page(path).await;
            let b = ben.page(path).await;
            assert!(a.contains("ann@example.com") && !a.contains("ben@example.com"), "{path} for ann");
            assert!(b.contains("ben@example.com") && !b.contains("ann@example.com"), "{path} for ben");
        }
        assert_eq!(cart_lines(&ann.page("/cart").await), [("Laptop Sleeve".to_owned(), "1".to_owned())]);
        assert_eq!(cart_lines(&ben.page("/cart").await), [("Mechanical Keyboard".to_owned(), "4".to_owned())]);
        // The product page is still one shared fragment, with each shopper's own token.
        let r = ann.get(&format!("/products/{}", sleeve.slug)).await;
        assert_eq!(r.headers()["x-cache"], "HIT");
        let token_ann = csrf_in(&r.text().await.unwrap());
        let token_ben = csrf_in(&ben.page(&format!("/products/{}", sleeve.slug)).await);
        assert_ne!(token_ann, token_ben);
        // An anonymous visitor gets a signed token and no session.
        let anonymous = app.get(&format!("/products/{}", sleeve.slug)).await;
        assert!(anonymous.headers().get("set-cookie").is_none(), "no session for an anonymous visitor");
        assert!(csrf_in(&anonymous.text().await.unwrap()).starts_with("s1."), "a signed token");
        // No cached entry holds either shopper's email or token.
        let url = app.state.settings.cache.redis_url.clone();
        let mut conn = redis_conn(&url);
        let keys = cached_keys(&app, &url).await;
        for key in keys.iter().filter(|k| !k.contains(":cart:")) {
            let value: Vec<u8> = redis::cmd("GET").arg(key).query_async(&mut conn).await.unwrap();
            let text = String::from_utf8_lossy(&value);
            for secret in ["ann@example.com", "ben@example.com", token_ann.as_str(), token_ben.as_str()] {
                assert!(!text.contains(secret), "{key} holds {secret}");
            }
        }
    }
}

/// Two adds of different products, sent at the same moment on one session
/// that has no cart yet (two tabs); both must be in the cart.
async fn two_first_adds_at_once(v: &Visitor, app: &TestApp) {
    let first = app.fixture.product("Laptop Sleeve").clone();
    let second = app.fixture.product("Mechanical Keyboard").clone();
    let token = csrf_in(&v.page(&format!("/products/{}", first.slug)).await);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let mut tasks = Vec::new();
    for id in [first.id, second.id] {
        let request = v.client.post(format!("{}/cart/add", v.base)).form(&[
            ("csrf", token.clone()),
            ("product_id", id.to_string()),
            ("quantity", "1".to_owned()),
        ]);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            request.send().await.unwrap().status()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::SEE_OTHER);
    }
    let mut lines = cart_lines(&v.page("/cart").await);
    lines.sort();
    assert_eq!(
        lines,
        [("Laptop Sleeve".to_owned(), "1".to_owned()), ("Mechanical Keyboard".to_owned(), "1".to_owned())]
    );
}

on_both_backends_and_stores! {
    async fn two_first_adds_at_once_both_count_for_a_guest_and_a_signed_in_shopper(app: TestApp) {
        for round in 0..4 {
            // A guest whose session holds only a message so far.
            let guest = Visitor::new(&app);
            let r = guest.register(&format!("guest{round}@example.com"), "guest password").await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            guest.page("/login").await;
            two_first_adds_at_once(&guest, &app).await;
            // A shopper just signed in: a new session, no cart yet.
            let email = format!("shopper{round}@example.com");
            app.create_user(&email, "shopper password", false).await;
            let shopper = Visitor::new(&app);
            shopper.login(&email, "shopper password").await;
            shopper.page("/").await;
            two_first_adds_at_once(&shopper, &app).await;
        }
    }
}
