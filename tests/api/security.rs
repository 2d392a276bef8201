//! Security headers on every response, and limits on what a request may send.

use crate::on_both_backends;

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
    use crate::helpers::{Backend, Store, TestApp};
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
