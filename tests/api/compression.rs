//! Bytes on the wire: every negotiable answer in brotli, gzip or as it is,
//! by `Accept-Encoding` and its q-values, with `Vary: Accept-Encoding` and
//! an ETag per form that a 304 honours; cached forms made once, at fill
//! time, so a hit compresses nothing; signed-in pages compressed per
//! request; the stylesheet under a hashed name, kept for a year; and all of
//! it over h2c.

use std::sync::atomic::Ordering;

use scraper::{Html, Selector};

use crate::on_both_backends;
use crate::support::api::{set_price, token_for};
use crate::support::encoded::{Encoded, decode, get};
use crate::support::visitor::signed_in_with;
use crate::support::{Backend, TestApp};

/// Cached answers: an API list, a search page, the home page.
const CACHED: [&str; 3] = ["/api/products/", "/products?q=laptop", "/"];

/// `Accept-Encoding` values and the coding each must get.
const CHOICES: [(&str, &str); 9] = [
    ("gzip, deflate, br, zstd", "br"),
    ("gzip", "gzip"),
    ("x-gzip, deflate", "gzip"),
    ("br;q=0.5, gzip;q=0.8", "gzip"),
    ("br;q=1.0, gzip;q=0.8", "br"),
    ("identity;q=1, br;q=0.5", "identity"),
    ("br;q=0, gzip;q=0", "identity"),
    ("*", "br"),
    ("deflate", "identity"),
];

fn compressions(app: &TestApp) -> u64 {
    app.cache().counters().compressions.load(Ordering::Relaxed)
}

async fn fetch(app: &TestApp, path: &str, accept: Option<&str>) -> Encoded {
    let r = get(&app.client, &app.url(path), accept, None).await;
    assert_eq!(r.status, 200, "GET {path} with {accept:?}");
    r
}

fn stylesheet(home: &str) -> String {
    let doc = Html::parse_document(home);
    let link = doc.select(&Selector::parse("link[rel=stylesheet]").unwrap()).next().expect("a stylesheet");
    link.value().attr("href").expect("href").to_owned()
}

on_both_backends! {
    async fn cached_answers_come_in_the_coding_asked_for_each_with_its_own_etag(app: TestApp) {
        for path in CACHED {
            let plain = fetch(&app, path, None).await;
            assert_eq!(plain.coding(), "identity", "{path}: no Accept-Encoding, no compression");
            assert!(plain.varies_by_encoding(), "{path}: Vary");
            let mut etags = std::collections::HashMap::new();
            etags.insert("identity", plain.etag().to_owned());
            for (accept, coding) in CHOICES {
                let r = fetch(&app, path, Some(accept)).await;
                assert_eq!(r.coding(), coding, "{path} with {accept}");
                assert!(r.varies_by_encoding(), "{path} with {accept}: Vary");
                assert_eq!(r.plain(), plain.wire, "{path} with {accept}: the same body");
                let etag = etags.entry(coding).or_insert_with(|| r.etag().to_owned());
                assert_eq!(r.etag(), etag, "{path}: one ETag per form");
                if coding != "identity" {
                    assert!(r.wire.len() * 2 < plain.wire.len(), "{path} in {coding}: {} of {} bytes", r.wire.len(), plain.wire.len());
                }
            }
            let distinct: std::collections::HashSet<_> = etags.values().collect();
            assert_eq!(distinct.len(), 3, "{path}: {etags:?}");

            // A 304 for the form asked for, never for another.
            for (accept, coding) in [(Some("br"), "br"), (Some("gzip"), "gzip"), (None, "identity")] {
                let etag = &etags[coding];
                let again = get(&app.client, &app.url(path), accept, Some(etag)).await;
                assert_eq!(again.status, 304, "{path} in {coding}");
                assert_eq!(again.etag(), etag, "{path} in {coding}");
                assert!(again.varies_by_encoding() && again.wire.is_empty(), "{path} in {coding}");
                let other = if coding == "gzip" { Some("br") } else { Some("gzip") };
                let changed = get(&app.client, &app.url(path), other, Some(etag)).await;
                assert_eq!(changed.status, 200, "{path}: the {coding} ETag does not match another form");
                assert_ne!(changed.coding(), coding);
            }
        }
        // The API's JSON shrinks at least threefold.
        let json = fetch(&app, "/api/products/", None).await;
        let br = fetch(&app, "/api/products/", Some("br")).await;
        assert!(br.wire.len() * 3 <= json.wire.len(), "{} of {} bytes", br.wire.len(), json.wire.len());
    }

    async fn a_hit_compresses_nothing_and_a_change_compresses_once(app: TestApp) {
        for path in CACHED {
            for accept in [Some("br"), Some("gzip"), None] {
                fetch(&app, path, accept).await;
            }
        }
        let before = compressions(&app);
        for _ in 0..2 {
            for path in CACHED {
                for accept in [Some("gzip, deflate, br"), Some("gzip"), None] {
                    let r = fetch(&app, path, accept).await;
                    assert_eq!(r.header("x-cache"), Some("HIT"), "{path}");
                }
            }
        }
        assert_eq!(compressions(&app), before, "hits made compressed forms");

        // A price change refills the list: both forms, made once, then hits.
        let token = token_for(&app, "admin@example.com", true).await;
        let p = app.fixture.product("Steel Laptop 13").clone();
        set_price(&app, &token, p.id, "1234.50").await;
        let r = fetch(&app, "/api/products/?search=laptop", Some("br")).await;
        assert_eq!(r.header("x-cache"), Some("MISS"));
        assert!(r.text().contains("1234.50"));
        let after_fill = compressions(&app);
        assert_eq!(after_fill - before, 2, "the fill made its brotli and gzip forms");
        for accept in ["br", "gzip"] {
            let r = fetch(&app, "/api/products/?search=laptop", Some(accept)).await;
            assert_eq!((r.header("x-cache"), r.coding()), (Some("HIT"), accept));
        }
        assert_eq!(compressions(&app), after_fill);
    }

    async fn a_signed_in_page_is_compressed_for_its_request(app: TestApp) {
        let shopper = signed_in_with(&app, "packed@example.com", "packed password", false).await;
        // The first page after signing in shows the flash message, once.
        shopper.page("/").await;
        let before = compressions(&app);
        let r = get(&shopper.client, &app.url("/"), Some("gzip, br"), None).await;
        assert_eq!((r.status, r.coding()), (200, "br"));
        assert!(r.text().contains("packed@example.com"), "the shopper's own page");
        assert!(r.varies_by_encoding());
        let vary: Vec<String> = r.headers.get_all("vary").iter().map(|v| v.to_str().unwrap().to_ascii_lowercase()).collect();
        assert!(vary.iter().any(|v| v.contains("cookie")), "{vary:?}");
        assert_eq!(r.header("cache-control"), Some("private, no-store"));
        assert_eq!(compressions(&app) - before, 1, "only the form asked for");
        let again = get(&shopper.client, &app.url("/"), Some("gzip, br"), Some(r.etag())).await;
        assert_eq!(again.status, 304);
    }

    async fn answers_nothing_keeps_are_compressed_too_and_small_ones_stay_plain(app: TestApp) {
        // The sign-in form and the OpenAPI document: compressed on the way out.
        for (path, accept, coding) in [("/login", "gzip", "gzip"), ("/api/openapi.json", "br, gzip", "br")] {
            let plain = fetch(&app, path, None).await;
            let r = fetch(&app, path, Some(accept)).await;
            assert_eq!(r.coding(), coding, "{path}");
            assert!(r.varies_by_encoding(), "{path}");
            assert!(r.wire.len() < plain.wire.len(), "{path}");
            if path == "/api/openapi.json" {
                assert_eq!(r.plain(), plain.wire, "{path}: the same document");
            }
        }
        // Nothing acceptable (identity refused, no coding named): 406, kept by no cache.
        for path in ["/api/products/", "/login"] {
            let r = get(&app.client, &app.url(path), Some("identity;q=0"), None).await;
            assert_eq!(r.status, 406, "{path}");
            assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
        }
        // Under 1 KB: as it is, with no Vary to split caches by.
        for path in ["/healthz", "/api/products/999999/", "/api/categories/?page=99"] {
            let r = get(&app.client, &app.url(path), Some("br, gzip"), None).await;
            assert!(r.wire.len() < 1024, "{path} is small");
            assert_eq!(r.coding(), "identity", "{path}");
            assert!(!r.varies_by_encoding(), "{path}");
        }
    }

    async fn the_stylesheet_has_a_name_of_its_content_and_is_kept_for_a_year_in_each_coding(app: TestApp) {
        let home = app.get_html("/", 200).await;
        let href = stylesheet(&home);
        let hash = href.strip_prefix("/static/css/site.").and_then(|h| h.strip_suffix(".css")).unwrap_or("");
        assert!(hash.len() >= 6 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{href}");
        let plain = fetch(&app, &href, None).await;
        assert!(String::from_utf8_lossy(&plain.wire).contains(".product-grid"));
        let mut etags = std::collections::HashSet::new();
        for (accept, coding) in [(None, "identity"), (Some("gzip"), "gzip"), (Some("br, gzip"), "br")] {
            let r = fetch(&app, &href, accept).await;
            assert_eq!(r.coding(), coding);
            assert_eq!(r.header("cache-control"), Some("public, max-age=31536000, immutable"));
            assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
            assert!(r.varies_by_encoding());
            assert_eq!(decode(coding, &r.wire), plain.wire);
            assert!(etags.insert(r.etag().to_owned()), "an ETag per form");
            let again = get(&app.client, &app.url(&href), accept, Some(r.etag())).await;
            assert_eq!(again.status, 304);
            assert_eq!(again.header("cache-control"), Some("public, max-age=31536000, immutable"));
        }
        // Another build's name: a 404 nothing keeps.
        let other = get(&app.client, &app.url("/static/css/site.0123456789.css"), None, None).await;
        assert_eq!(other.status, 404);
        assert_eq!(other.header("cache-control"), Some("no-store"));
        // The old, unhashed name still answers, revalidated on every use.
        let unhashed = fetch(&app, "/static/css/site.css", Some("br")).await;
        assert_eq!(unhashed.header("cache-control"), Some("public, no-cache"));
        assert_eq!(unhashed.plain(), plain.wire);
    }
}

/// `curl --http2-prior-knowledge`: what it printed of the headers, and the
/// body, as sent.
fn curl_h2c(url: &str, accept: &str) -> (String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (headers, body) = (dir.path().join("headers"), dir.path().join("body"));
    let out = std::process::Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-H"])
        .arg(format!("Accept-Encoding: {accept}"))
        .arg("-D")
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .arg(url)
        .output()
        .expect("curl runs (apt-get install -y curl)");
    assert!(out.status.success(), "curl {url}: {}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read_to_string(headers).unwrap(), std::fs::read(body).unwrap())
}

#[tokio::test]
async fn pages_the_api_and_assets_answer_over_h2c_compressed() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let home = app.get_html("/", 200).await;
    let css = stylesheet(&home);
    for (path, accept, coding) in [
        ("/", "br", Some("br")),
        ("/products?q=laptop", "gzip", Some("gzip")),
        ("/api/products/", "br;q=0.9, gzip", Some("gzip")),
        (css.as_str(), "br", Some("br")),
        ("/api/openapi.json", "gzip", Some("gzip")),
        ("/categories", "identity", None),
    ] {
        let url = app.url(path);
        let plain = fetch(&app, path, None).await.wire;
        let (headers, body) = tokio::task::spawn_blocking(move || curl_h2c(&url, accept)).await.unwrap();
        let status = headers.lines().next().unwrap_or("");
        assert!(status.starts_with("HTTP/2 200"), "{path}: {status}");
        let sent = headers
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-encoding:").map(|v| v.trim().to_owned()));
        assert_eq!(sent.as_deref(), coding, "{path}: {headers}");
        assert_eq!(decode(coding.unwrap_or("identity"), &body), plain, "{path}: the same body over h2");
    }
}
