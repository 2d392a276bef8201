//! Varnish in front, with the project's VCL (deploy/varnish/storefront.vcl):
//! anonymous catalog pages and API answers become hits, indexed by the
//! app's Surrogate-Key; a purge by tag drops exactly the objects carrying
//! one of its tags; a signed-in visitor is never served from Varnish, nor
//! is anyone an error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use storefront::cache::Tag;

use crate::support::api::{set_price, token_for};
use crate::support::cache::page_price;
use crate::support::store::unique_name;
use crate::support::tcp_proxy::Proxy;
use crate::support::{Backend, TestApp, Visitor, free_port};

/// A varnishd of the test's own on a free loopback port.
pub struct Varnish {
    pub address: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Varnish {
    /// Starts varnishd with the project's VCL, its backend the app on
    /// `backend_port`, and waits until it accepts connections.
    pub fn start(backend_port: u16) -> Varnish {
        Self::start_on(backend_port, free_port())
    }

    /// The same on a given port (chosen before the app, which purges it).
    pub fn start_on(backend_port: u16, port: u16) -> Varnish {
        let installed = Command::new("varnishd").arg("-V").stderr(Stdio::null()).stdout(Stdio::null()).status();
        assert!(
            installed.is_ok_and(|s| s.success()),
            "varnishd is not installed: apt-get install -y varnish varnish-modules"
        );
        let dir = tempfile::tempdir().expect("dir");
        let vcl = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/varnish/storefront.vcl"))
            .expect("the VCL");
        let backend = ".port = \"3000\";";
        assert!(vcl.contains(backend), "the VCL's backend port moved");
        let vcl_path = dir.path().join("storefront.vcl");
        std::fs::write(&vcl_path, vcl.replace(backend, &format!(".port = \"{backend_port}\";"))).expect("write VCL");
        let log = std::fs::File::create(dir.path().join("varnishd.log")).expect("log");
        let work: PathBuf = dir.path().join("work");
        let child = Command::new("varnishd")
            .args(["-F", "-j", "none", "-a", &format!("127.0.0.1:{port}"), "-s", "malloc,32m", "-l", "2m"])
            .arg("-n")
            .arg(&work)
            .arg("-f")
            .arg(&vcl_path)
            // Small pools for a 2-core test machine; no grace, so a purged or
            // expired object is never served while it refetches.
            .args(["-p", "thread_pools=1", "-p", "thread_pool_min=5", "-p", "default_grace=0"])
            .args(["-p", "auto_restart=off"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("varnishd starts");
        let mut varnish = Varnish { address: format!("http://127.0.0.1:{port}"), child, dir };
        // The VCL is compiled with gcc first: allow a few seconds.
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = varnish.child.try_wait() {
                panic!("varnishd exited ({status}): {}", varnish.log());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "varnishd not listening: {}", varnish.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        varnish
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("varnishd.log")).unwrap_or_default()
    }

    /// `PURGE` with these tags, as the app sends after a write.
    pub async fn purge(&self, tags: &[Tag]) -> reqwest::Response {
        let names: Vec<String> = tags.iter().map(Tag::name).collect();
        reqwest::Client::new()
            .request(reqwest::Method::from_bytes(b"PURGE").unwrap(), format!("{}/", self.address))
            .header("xkey-purge", names.join(" "))
            .send()
            .await
            .expect("purge")
    }
}

impl Drop for Varnish {
    /// SIGTERM, so the manager stops its worker process too; SIGKILL if
    /// that takes more than 5 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app_port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the app's port")
}

/// What Varnish did with a GET: HIT, MISS or PASS, and the status.
async fn edge(client: &reqwest::Client, url: &str) -> (String, u16) {
    let r = client.get(url).send().await.expect("through Varnish");
    let verdict = r.headers().get("x-varnish-cache").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
    (verdict, r.status().as_u16())
}

#[tokio::test]
async fn anonymous_catalog_answers_become_varnish_hits() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let varnish = Varnish::start(app_port(&app));
    let product = app.fixture.product("Steel Laptop 13");
    let urls = [
        format!("/products/{}", product.slug),
        "/categories".to_owned(),
        "/products?q=laptop".to_owned(),
        "/api/products/?search=laptop".to_owned(),
        format!("/api/products/{}/", product.id),
    ];
    let client = reqwest::Client::new();
    for path in &urls {
        let url = format!("{}{path}", varnish.address);
        assert_eq!(edge(&client, &url).await, ("MISS".to_owned(), 200), "{path}");
        assert_eq!(edge(&client, &url).await, ("HIT".to_owned(), 200), "{path}");
    }
}

#[tokio::test]
async fn a_purge_by_tag_drops_exactly_the_objects_carrying_it() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let varnish = Varnish::start(app_port(&app));
    let edited = app.fixture.product("Steel Laptop 13").clone();
    let other = app.fixture.product("Mechanical Keyboard").clone();
    let client = reqwest::Client::new();
    let url = |path: String| format!("{}{path}", varnish.address);
    let (edited_page, other_page, list, own_category, other_category) = (
        url(format!("/products/{}", edited.slug)),
        url(format!("/products/{}", other.slug)),
        url("/api/products/?search=laptop".to_owned()),
        url(format!("/categories/{}", edited.category)),
        url("/categories/books".to_owned()),
    );
    for u in [&edited_page, &other_page, &list, &own_category, &other_category] {
        edge(&client, u).await;
        assert_eq!(edge(&client, u).await.0, "HIT", "{u}");
    }
    // What a price edit retires: not the counts every category page shows.
    let mut tags = Tag::for_product(edited.id, &[&edited.slug], &[(edited.category_id, edited.category)]);
    tags.retain(|t| *t != Tag::Categories);
    let purged = varnish.purge(&tags).await;
    assert_eq!(purged.status(), 200);
    assert_eq!(edge(&client, &edited_page).await.0, "MISS", "the edited product's page");
    assert_eq!(edge(&client, &list).await.0, "MISS", "a list it may appear in");
    assert_eq!(edge(&client, &own_category).await.0, "MISS", "its category's page");
    assert_eq!(edge(&client, &other_page).await.0, "HIT", "another product's page stays");
    assert_eq!(edge(&client, &other_category).await.0, "HIT", "another category's page stays");
}

#[tokio::test]
async fn a_signed_in_visitor_is_never_served_from_varnish() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let varnish = Varnish::start(app_port(&app));
    let anonymous = reqwest::Client::new();
    let home = format!("{}/", varnish.address);
    edge(&anonymous, &home).await;
    assert_eq!(edge(&anonymous, &home).await.0, "HIT");

    let shopper = Visitor { base: varnish.address.clone(), ..Visitor::new(&app) };
    shopper.sign_up("edge@example.com", "edge password").await;
    for _ in 0..2 {
        let r = shopper.get("/").await;
        assert_eq!(r.headers()["x-varnish-cache"], "PASS");
    }
    assert_eq!(shopper.signed_in_as().await.as_deref(), Some("edge@example.com"), "the shopper's own page");
    // The signed-in page was not stored for anyone else.
    let r = anonymous.get(&home).send().await.unwrap();
    assert_eq!(r.headers()["x-varnish-cache"], "HIT");
    assert!(!r.text().await.unwrap().contains("edge@example.com"));
}

/// An app that purges `purge` after writes (retrying every 100 ms), and
/// Varnish on `varnish_port` in front of it, with the fixture's own
/// invalidations through.
async fn app_behind_varnish(purge: String, varnish_port: u16) -> (TestApp, Varnish) {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.cache.purge_urls = vec![purge];
        s.cache.outbox_interval = Duration::from_millis(100);
    })
    .await;
    let varnish = Varnish::start_on(app_port(&app), varnish_port);
    outbox_drained(&app).await;
    (app, varnish)
}

/// Waits until every pending invalidation has reached every sink: the
/// fixture's own, recorded before Varnish was up, would otherwise purge
/// the test's pages when they get through.
async fn outbox_drained(app: &TestApp) {
    let started = Instant::now();
    while app.cache().flusher().pending().await.unwrap().iter().any(|&(_, n)| n > 0) {
        assert!(started.elapsed() < Duration::from_secs(10), "the outbox does not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_admin_edit_shows_through_varnish_on_the_next_request() {
    let varnish_port = free_port();
    let purge = format!("http://127.0.0.1:{varnish_port}");
    let (app, varnish) = app_behind_varnish(purge, varnish_port).await;
    let token = token_for(&app, "edge-admin@example.com", true).await;
    let (edited, other) = (app.fixture.product("Steel Laptop 13").clone(), app.fixture.product("Mechanical Keyboard"));
    let client = reqwest::Client::new();
    let (edited_page, other_page) = (
        format!("{}/products/{}", varnish.address, edited.slug),
        format!("{}/products/{}", varnish.address, other.slug),
    );
    let api = format!("{}/api/products/{}/", varnish.address, edited.id);
    for url in [&edited_page, &other_page, &api] {
        edge(&client, url).await;
        assert_eq!(edge(&client, url).await.0, "HIT", "{url}");
    }

    set_price(&app, &token, edited.id, "1234.50").await;
    assert_eq!(page_price(&client, &edited_page).await, ("MISS".to_owned(), "$1,234.50".to_owned()));
    let body: serde_json::Value = client.get(&api).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["price"], "1234.50", "the API through Varnish");
    assert_eq!(edge(&client, &other_page).await.0, "HIT", "another product's page stays a hit");
}

#[tokio::test]
async fn a_purge_that_cannot_reach_varnish_is_retried_until_it_does() {
    let varnish_port = free_port();
    // Purges go through a proxy the test can cut; pages are read directly.
    let proxy = Proxy::start(([127, 0, 0, 1], varnish_port).into()).await;
    let purge = format!("http://127.0.0.1:{}", proxy.port);
    let (app, varnish) = app_behind_varnish(purge, varnish_port).await;
    let token = token_for(&app, "edge-admin@example.com", true).await;
    let product = app.fixture.product("Steel Laptop 13").clone();
    let client = reqwest::Client::new();
    let page = format!("{}/products/{}", varnish.address, product.slug);
    edge(&client, &page).await;
    assert_eq!(edge(&client, &page).await.0, "HIT");

    proxy.cut();
    set_price(&app, &token, product.id, "777.00").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = app.cache().flusher().pending().await.unwrap();
    // Redis took them, and retrying the purge must not empty Redis again;
    // the edges have the missed purge still to apply.
    assert_eq!(pending[0], ("redis", 0), "{pending:?}");
    assert!(pending[1].0 == "edges" && pending[1].1 > 0, "the missed purge is kept: {pending:?}");

    proxy.restore();
    outbox_drained(&app).await;
    assert_eq!(page_price(&client, &page).await, ("MISS".to_owned(), "$777.00".to_owned()));
}

#[tokio::test]
async fn clearing_the_cache_empties_varnish_too() {
    let varnish_port = free_port();
    let (app, varnish) = app_behind_varnish(format!("http://127.0.0.1:{varnish_port}"), varnish_port).await;
    let client = reqwest::Client::new();
    let urls = ["/categories".to_owned(), format!("/api/products/{}/", app.fixture.product("Mechanical Keyboard").id)];
    for path in &urls {
        let url = format!("{}{path}", varnish.address);
        edge(&client, &url).await;
        assert_eq!(edge(&client, &url).await.0, "HIT", "{path}");
    }
    app.cache().flusher().clear().await.expect("cache clear");
    for path in &urls {
        let url = format!("{}{path}", varnish.address);
        assert_eq!(edge(&client, &url).await.0, "MISS", "{path} after cache clear");
    }
}

#[tokio::test]
async fn a_page_fetched_across_a_purge_is_purged_again() {
    let varnish_port = free_port();
    let (app, varnish) = app_behind_varnish(format!("http://127.0.0.1:{varnish_port}"), varnish_port).await;
    let token = token_for(&app, "edge-admin@example.com", true).await;
    let product = app.fixture.product("Steel Laptop 13").clone();
    let page = format!("{}/products/{}", varnish.address, product.slug);
    // Varnish's fetch reads the old price from the database, then pauses
    // before answering.
    let (reached_tx, mut reached_rx) = tokio::sync::mpsc::channel::<()>(1);
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let hook: storefront::cache::FillHook = {
        let release = release.clone();
        std::sync::Arc::new(move |_key: &str| {
            let (reached, release) = (reached_tx.clone(), release.clone());
            Box::pin(async move {
                let _ = reached.send(()).await;
                release.notified().await;
            })
        })
    };
    app.cache().set_fill_hook(Some(hook));
    let fetch = {
        let page = page.clone();
        tokio::spawn(async move { page_price(&reqwest::Client::new(), &page).await })
    };
    reached_rx.recv().await.expect("the fetch reached its fill");
    app.cache().set_fill_hook(None);
    // The write commits and purges while that fetch is under way; the fetch
    // then lands in Varnish with the old price.
    set_price(&app, &token, product.id, "2222.00").await;
    release.notify_one();
    let (verdict, old) = fetch.await.unwrap();
    assert_eq!(verdict, "MISS");
    assert_ne!(old, "$2,222.00", "the fetch began before the write");
    // The repeated purge drops it.
    let client = reqwest::Client::new();
    let started = Instant::now();
    while page_price(&client, &page).await.1 != "$2,222.00" {
        assert!(started.elapsed() < Duration::from_secs(5), "the page fetched across the purge stays in Varnish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_product_created_after_its_page_answered_404_shows_through_varnish_on_the_next_request() {
    let varnish_port = free_port();
    let (app, varnish) = app_behind_varnish(format!("http://127.0.0.1:{varnish_port}"), varnish_port).await;
    let token = token_for(&app, "edge-admin@example.com", true).await;
    let client = reqwest::Client::new();
    let page = format!("{}/products/walnut-lamp", varnish.address);
    for _ in 0..2 {
        let r = client.get(&page).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_ne!(r.headers()["x-varnish-cache"], "HIT", "a 404 answered from Varnish");
    }
    let created = app
        .client
        .post(app.url("/api/products/"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "Walnut Lamp", "slug": "walnut-lamp", "price": "49.00", "stock": 2,
            "category_id": app.fixture.category("computers").id,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let r = client.get(&page).send().await.unwrap();
    assert_eq!(r.status(), 200, "the page right after the product was created");
    assert!(r.text().await.unwrap().contains("Walnut Lamp"));
    assert_eq!(edge(&client, &page).await, ("HIT".to_owned(), 200), "and cached from then on");
}

/// A backend that answers `/status/<n>` with status n and a public
/// `Cache-Control`, and counts the requests it gets.
async fn careless_backend() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let status = uri.path().rsplit('/').next().and_then(|n| n.parse().ok()).unwrap_or(500);
            let status =
                axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            (status, [("cache-control", "public, max-age=600, s-maxage=600")], "an error")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, served)
}

#[tokio::test]
async fn varnish_never_answers_an_error_from_its_cache_whatever_the_backend_says() {
    let (port, served) = careless_backend().await;
    let varnish = Varnish::start(port);
    let client = reqwest::Client::new();
    let statuses = [404, 410, 500, 503];
    for status in statuses {
        let url = format!("{}/status/{status}", varnish.address);
        for _ in 0..3 {
            let (verdict, got) = edge(&client, &url).await;
            assert_eq!(got, status);
            assert_ne!(verdict, "HIT", "{status} answered from Varnish");
        }
    }
    let fetched = served.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(fetched, 3 * statuses.len(), "every error came from the backend");
}

/// Two deployments over one database, each behind its own Varnish: a write
/// through one is purged from the other's Varnish too, by the other's own
/// instances (the edges' outbox cursor is per set of purge URLs).
#[tokio::test]
async fn a_write_through_one_deployment_is_purged_from_the_other_deployments_varnish() {
    let (port_a, port_b) = (free_port(), free_port());
    let (a, _varnish_a) = app_behind_varnish(format!("http://127.0.0.1:{port_a}"), port_a).await;
    let mut settings = (*a.state.settings).clone();
    settings.cache.purge_urls = vec![format!("http://127.0.0.1:{port_b}")];
    settings.cache.key_prefix = unique_name("sftgreen");
    let b = TestApp::start(None, settings).await;
    let varnish_b = Varnish::start_on(app_port(&b), port_b);
    outbox_drained(&b).await;
    let product = a.fixture.product("Steel Laptop 13").clone();
    let client = reqwest::Client::new();
    let page = format!("{}/products/{}", varnish_b.address, product.slug);
    edge(&client, &page).await;
    assert_eq!(edge(&client, &page).await.0, "HIT", "cached at B's Varnish");

    let token = token_for(&a, "edge-admin@example.com", true).await;
    set_price(&a, &token, product.id, "1357.00").await;
    let started = Instant::now();
    loop {
        let (verdict, price) = page_price(&client, &page).await;
        if price == "$1,357.00" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "B's Varnish still serves {price} ({verdict})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outbox_drained(&b).await;
}

#[tokio::test]
async fn varnish_keeps_one_object_per_coding_and_a_purge_retires_every_one() {
    use crate::support::encoded::get;
    let varnish_port = free_port();
    let purge = format!("http://127.0.0.1:{varnish_port}");
    let (app, varnish) = app_behind_varnish(purge, varnish_port).await;
    let token = token_for(&app, "edge-admin@example.com", true).await;
    let product = app.fixture.product("Steel Laptop 13").clone();
    let client = reqwest::Client::new();
    // A browser's list, gzip alone, none, and a list with q-values.
    let codings = [
        (Some("gzip, deflate, br, zstd"), "br"),
        (Some("gzip"), "gzip"),
        (None, "identity"),
        (Some("br;q=0.5, gzip"), "gzip"),
    ];
    for path in [format!("/products/{}", product.slug), "/api/products/?search=laptop".to_owned()] {
        let url = format!("{}{path}", varnish.address);
        let mut etags = Vec::new();
        for (accept, coding) in codings {
            let first = get(&client, &url, accept, None).await;
            assert_eq!((first.status, first.header("x-varnish-cache")), (200, Some("MISS")), "{path} {accept:?}");
            assert_eq!(first.coding(), coding, "{path} {accept:?}");
            let second = get(&client, &url, accept, None).await;
            assert_eq!(second.header("x-varnish-cache"), Some("HIT"), "{path} {accept:?}");
            assert_eq!((second.coding(), second.etag()), (coding, first.etag()), "{path} {accept:?}");
            assert!(second.varies_by_encoding(), "{path}");
            assert!(second.text().contains("Steel Laptop 13"), "{path}");
            let unchanged = get(&client, &url, accept, Some(first.etag())).await;
            assert_eq!(unchanged.status, 304, "{path} {accept:?}: a 304 from Varnish");
            etags.push(first.etag().to_owned());
        }
        assert_eq!(etags[1], etags[3], "{path}: both gzip answers are the same form");
        assert_eq!(etags.iter().collect::<std::collections::HashSet<_>>().len(), 3, "{path}: {etags:?}");
    }

    // One write: every coding's object of the product page is retired.
    set_price(&app, &token, product.id, "1111.00").await;
    let url = format!("{}/products/{}", varnish.address, product.slug);
    for (accept, coding) in codings {
        let r = get(&client, &url, accept, None).await;
        assert_eq!((r.header("x-varnish-cache"), r.coding()), (Some("MISS"), coding), "{accept:?} after the purge");
        assert!(r.text().contains("$1,111.00"), "{accept:?}: the new price");
    }
}
