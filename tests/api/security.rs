//! Security headers on every response, and limits on what a request may send.

use crate::on_both_backends;
use crate::support::store::Store;
use crate::support::visitor::{add_to_cart, cart_lines};
use crate::support::{Backend, TestApp, Visitor, csrf_in};

on_both_backends! {
    async fn every_response_carries_the_security_headers(app: TestApp) {
        for path in ["/", "/products?q=laptop", "/api/products/", "/no-such-page", "/api/products/?page=x", "/login", "/static/css/site.css"] {
            let r = app.get(path).await;
            let h = r.headers();
            let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP")).to_str().unwrap();
            assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(h["x-frame-options"], "DENY", "{path}");
            assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin", "{path}");
        }
    }

    async fn oversized_bodies_are_refused_unread(app: TestApp) {
        let huge = "x".repeat(200 * 1024);
        let r = app.client.post(app.url("/login")).form(&[("email", huge.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 413);
        let r = app.client.post(app.url("/register")).header("content-type", "application/x-www-form-urlencoded").body(huge).send().await.unwrap();
        assert_eq!(r.status(), 413);
        assert!(r.text().await.unwrap().contains("larger than 64 KiB"), "the shop's error page");
        // Sent without a length (chunked), it is cut off while read: the same answer.
        let chunks = futures_util::stream::iter((0..100).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 1024])));
        let r = app.client.post(app.url("/register")).header("content-type", "application/x-www-form-urlencoded").body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
        assert_eq!(r.status(), 413);
        assert!(r.text().await.unwrap().contains("larger than 64 KiB"), "the shop's error page");
    }

    async fn malformed_form_bodies_are_a_400_not_a_500(app: TestApp) {
        let r = app.client.post(app.url("/login")).header("content-type", "application/json").body("{}").send().await.unwrap();
        assert_eq!(r.status(), 400);
        let r = app.client.post(app.url("/login")).header("content-type", "application/x-www-form-urlencoded").body(vec![0xff, 0xfe, b'=', 0xff]).send().await.unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
}

#[tokio::test]
async fn the_benchmark_route_exists_only_when_asked_for() {
    let app = TestApp::spawn_empty(Backend::Sqlite).await;
    assert_eq!(app.get("/__bench/ceiling").await.status(), 404);
    let app = TestApp::spawn_with(Store::create(Backend::Sqlite).await, |s| s.bench_routes = true).await;
    let r = app.get("/__bench/ceiling?bytes=1000").await;
    assert_eq!(r.status(), 200);
    // Through the same middleware as every page.
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.bytes().await.unwrap().len(), 1000);
    assert_eq!(app.get("/__bench/ceiling?bytes=999999999").await.bytes().await.unwrap().len(), 256 * 1024);
}

/// A signed-in shopper with one item in the cart, and the token of their page.
async fn victim(app: &TestApp) -> (Visitor, String) {
    app.create_user("vic@example.com", "vics password", false).await;
    let v = Visitor::new(app);
    v.login("vic@example.com", "vics password").await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
    let token = csrf_in(&v.page("/cart").await);
    (v, token)
}

on_both_backends! {
    async fn cross_site_posts_are_refused_on_every_form_and_api_route(app: TestApp) {
        let (victim, token) = victim(&app).await;
        let keyboard = app.fixture.product("Mechanical Keyboard").id.to_string();
        let p = app.fixture.product("Gaming Laptop").id;
        let posts = ["/cart/add".to_owned(), "/cart/update".to_owned(), "/cart/remove".to_owned(), "/login".to_owned(), "/register".to_owned(),
            "/logout".to_owned(), "/account/sign-out-everywhere".to_owned(), "/admin/products".to_owned(), format!("/admin/products/{p}/delete")];
        let fetch_site = ("sec-fetch-site", "cross-site");
        let sibling = ("sec-fetch-site", "same-site");
        let evil_origin = ("origin", "https://evil.example");
        let null_origin = ("origin", "null");
        for path in &posts {
            for (name, value) in [fetch_site, sibling, evil_origin, null_origin] {
                // With the victim's cookies and token: even so, the browser said where it came from.
                let r = victim.client.post(app.url(path)).header(name, value)
                    .form(&[("csrf", token.as_str()), ("product_id", keyboard.as_str()), ("quantity", "1")]).send().await.unwrap();
                assert_eq!(r.status(), 403, "{path} with {name}: {value}");
                assert!(r.headers().get("set-cookie").is_none(), "{path}: nothing stored");
                assert!(r.text().await.unwrap().contains("another site"), "{path}: the error page says why");
            }
        }
        // The API answers in its own shape.
        let r = victim.client.post(app.url("/api/categories/")).header("origin", "https://evil.example")
            .header("x-csrf-token", &token).json(&serde_json::json!({"name": "Evil"})).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let body: serde_json::Value = r.json().await.unwrap();
        assert!(body["detail"].as_str().unwrap().contains("Cross-site"), "{body}");
        // The attack the layer exists for: a cross-site post carries no cookie
        // (SameSite=Lax), so it would have made a new session and replaced the victim's.
        let attacker = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let page = app.get_html("/products/mechanical-keyboard", 200).await;
        let signed = csrf_in(&page);
        let r = attacker.post(app.url("/cart/add")).header("origin", "https://evil.example").header("sec-fetch-site", "cross-site")
            .form(&[("csrf", signed.as_str()), ("product_id", keyboard.as_str()), ("quantity", "1")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.headers().get("set-cookie").is_none(), "no session planted");
        assert_eq!(victim.signed_in_as().await.as_deref(), Some("vic@example.com"), "the victim is still signed in");
        assert_eq!(cart_lines(&victim.page("/cart").await), [("Laptop Sleeve".to_owned(), "1".to_owned())]);
    }

    async fn same_origin_posts_from_a_browser_go_through(app: TestApp) {
        let (victim, token) = victim(&app).await;
        let keyboard = app.fixture.product("Mechanical Keyboard").id.to_string();
        let form = [("csrf", token.as_str()), ("product_id", keyboard.as_str()), ("quantity", "1")];
        let r = victim.client.post(app.url("/cart/add")).header("sec-fetch-site", "same-origin").header("origin", &app.address).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 303, "fetch metadata says same-origin");
        let r = victim.client.post(app.url("/cart/add")).header("origin", &app.address).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 303, "an Origin naming the host asked for");
        // Reads are never refused: a link from another site still opens the shop.
        let r = victim.client.get(app.url("/cart")).header("sec-fetch-site", "cross-site").header("origin", "https://evil.example").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(cart_lines(&r.text().await.unwrap()).len(), 2);
    }
}
