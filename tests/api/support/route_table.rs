//! Every route the shop serves, in one table: method, path template, who may
//! call it and who may keep its answer. Tests that must cover every route
//! walk [`ROUTES`]; the `route_table` test module checks the table against
//! the router itself, so a new route cannot be left out of it.

use super::app::TestApp;
use super::store::Backend;

/// Which listener serves a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Listener {
    /// The shop's own, behind the edge cache.
    Shop,
    /// `METRICS_ADDR`, for the scraper.
    Metrics,
}

/// Who may call a route (others are sent to log in or refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Anyone,
    SignedIn,
    Admin,
    /// Whoever placed the order the path names (and an admin, where the
    /// route is also an admin's); everyone else is told it is not there.
    Owner,
}

/// Who may keep a route's successful answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// A catalog page: any cache, for a visitor without a session; only
    /// that visitor's browser, and not stored, once they have one.
    CatalogPage,
    /// The same for everyone, session or not (catalog API reads, the
    /// stylesheet): any cache.
    Everyone,
    /// The visitor's own (their session, their form token): never stored.
    Visitor,
    /// Of the moment (probes, documents, counters): never stored.
    Nobody,
}

#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub on: Listener,
    pub audience: Audience,
    pub sharing: Sharing,
}

const fn shop(method: &'static str, path: &'static str, audience: Audience, sharing: Sharing) -> Route {
    Route { method, path, on: Listener::Shop, audience, sharing }
}

use Audience::{Admin, Anyone, Owner, SignedIn};
use Sharing::{CatalogPage, Everyone, Nobody, Visitor};

pub const ROUTES: &[Route] = &[
    // Catalog pages.
    shop("GET", "/", Anyone, CatalogPage),
    shop("GET", "/categories", Anyone, CatalogPage),
    shop("GET", "/categories/{slug}", Anyone, CatalogPage),
    shop("GET", "/products", Anyone, CatalogPage),
    shop("GET", "/products/{slug}", Anyone, CatalogPage),
    // Accounts.
    shop("GET", "/login", Anyone, Visitor),
    shop("POST", "/login", Anyone, Visitor),
    shop("GET", "/register", Anyone, Visitor),
    shop("POST", "/register", Anyone, Visitor),
    shop("POST", "/logout", Anyone, Visitor),
    shop("GET", "/account", SignedIn, Visitor),
    shop("POST", "/account/sign-out-everywhere", SignedIn, Visitor),
    // The cart.
    shop("GET", "/cart", Anyone, Visitor),
    shop("POST", "/cart/add", Anyone, Visitor),
    shop("POST", "/cart/update", Anyone, Visitor),
    shop("POST", "/cart/remove", Anyone, Visitor),
    // Checkout and orders.
    shop("GET", "/checkout", Anyone, Visitor),
    shop("POST", "/checkout", Anyone, Visitor),
    shop("GET", "/orders/{number}", Owner, Visitor),
    shop("GET", "/account/orders", SignedIn, Visitor),
    // The admin.
    shop("GET", "/admin", Admin, Visitor),
    shop("GET", "/admin/products", Admin, Visitor),
    shop("POST", "/admin/products", Admin, Visitor),
    shop("GET", "/admin/products/new", Admin, Visitor),
    shop("POST", "/admin/products/{id}", Admin, Visitor),
    shop("GET", "/admin/products/{id}/edit", Admin, Visitor),
    shop("POST", "/admin/products/{id}/delete", Admin, Visitor),
    shop("POST", "/admin/products/{id}/images", Admin, Visitor),
    shop("POST", "/admin/products/{id}/images/{image_id}/move", Admin, Visitor),
    shop("POST", "/admin/products/{id}/images/{image_id}/delete", Admin, Visitor),
    shop("GET", "/admin/categories", Admin, Visitor),
    shop("POST", "/admin/categories", Admin, Visitor),
    shop("GET", "/admin/categories/new", Admin, Visitor),
    shop("POST", "/admin/categories/{id}", Admin, Visitor),
    shop("GET", "/admin/categories/{id}/edit", Admin, Visitor),
    shop("POST", "/admin/categories/{id}/delete", Admin, Visitor),
    shop("GET", "/admin/orders", Admin, Visitor),
    shop("GET", "/admin/orders/{number}", Admin, Visitor),
    shop("POST", "/admin/orders/{number}/status", Admin, Visitor),
    // The API: reads for anyone, writes for admins; each also with DRF's
    // `.json` suffix.
    shop("GET", "/api/", Anyone, Nobody),
    shop("GET", "/api", Anyone, Nobody),
    shop("GET", "/api/products/", Anyone, Everyone),
    shop("GET", "/api/products", Anyone, Everyone),
    shop("POST", "/api/products/", Admin, Nobody),
    shop("POST", "/api/products", Admin, Nobody),
    shop("GET", "/api/products/{id}/", Anyone, Everyone),
    shop("GET", "/api/products/{id}", Anyone, Everyone),
    shop("PUT", "/api/products/{id}/", Admin, Nobody),
    shop("PUT", "/api/products/{id}", Admin, Nobody),
    shop("PATCH", "/api/products/{id}/", Admin, Nobody),
    shop("PATCH", "/api/products/{id}", Admin, Nobody),
    shop("DELETE", "/api/products/{id}/", Admin, Nobody),
    shop("DELETE", "/api/products/{id}", Admin, Nobody),
    shop("GET", "/api/products/{id}/images/", Anyone, Everyone),
    shop("GET", "/api/products/{id}/images", Anyone, Everyone),
    shop("POST", "/api/products/{id}/images/", Admin, Nobody),
    shop("POST", "/api/products/{id}/images", Admin, Nobody),
    shop("PATCH", "/api/products/{id}/images/{image_id}/", Admin, Nobody),
    shop("PATCH", "/api/products/{id}/images/{image_id}", Admin, Nobody),
    shop("DELETE", "/api/products/{id}/images/{image_id}/", Admin, Nobody),
    shop("DELETE", "/api/products/{id}/images/{image_id}", Admin, Nobody),
    shop("POST", "/api/orders/", Anyone, Visitor),
    shop("POST", "/api/orders", Anyone, Visitor),
    shop("GET", "/api/orders/", Admin, Visitor),
    shop("GET", "/api/orders", Admin, Visitor),
    shop("GET", "/api/orders/{number}/", Owner, Visitor),
    shop("GET", "/api/orders/{number}", Owner, Visitor),
    shop("PATCH", "/api/orders/{number}/", Admin, Nobody),
    shop("PATCH", "/api/orders/{number}", Admin, Nobody),
    shop("GET", "/api/categories/", Anyone, Everyone),
    shop("GET", "/api/categories", Anyone, Everyone),
    shop("POST", "/api/categories/", Admin, Nobody),
    shop("POST", "/api/categories", Admin, Nobody),
    shop("GET", "/api/categories/{id}/", Anyone, Everyone),
    shop("GET", "/api/categories/{id}", Anyone, Everyone),
    shop("PUT", "/api/categories/{id}/", Admin, Nobody),
    shop("PUT", "/api/categories/{id}", Admin, Nobody),
    shop("PATCH", "/api/categories/{id}/", Admin, Nobody),
    shop("PATCH", "/api/categories/{id}", Admin, Nobody),
    shop("DELETE", "/api/categories/{id}/", Admin, Nobody),
    shop("DELETE", "/api/categories/{id}", Admin, Nobody),
    shop("GET", "/api/products.json", Anyone, Everyone),
    shop("POST", "/api/products.json", Admin, Nobody),
    shop("GET", "/api/products/{id}.json", Anyone, Everyone),
    shop("PUT", "/api/products/{id}.json", Admin, Nobody),
    shop("PATCH", "/api/products/{id}.json", Admin, Nobody),
    shop("DELETE", "/api/products/{id}.json", Admin, Nobody),
    shop("GET", "/api/products/{id}/images.json", Anyone, Everyone),
    shop("POST", "/api/products/{id}/images.json", Admin, Nobody),
    shop("PATCH", "/api/products/{id}/images/{image_id}.json", Admin, Nobody),
    shop("DELETE", "/api/products/{id}/images/{image_id}.json", Admin, Nobody),
    shop("POST", "/api/orders.json", Anyone, Visitor),
    shop("GET", "/api/orders.json", Admin, Visitor),
    shop("GET", "/api/orders/{number}.json", Owner, Visitor),
    shop("PATCH", "/api/orders/{number}.json", Admin, Nobody),
    shop("GET", "/api/categories.json", Anyone, Everyone),
    shop("POST", "/api/categories.json", Admin, Nobody),
    shop("GET", "/api/categories/{id}.json", Anyone, Everyone),
    shop("PUT", "/api/categories/{id}.json", Admin, Nobody),
    shop("PATCH", "/api/categories/{id}.json", Admin, Nobody),
    shop("DELETE", "/api/categories/{id}.json", Admin, Nobody),
    shop("GET", "/api/openapi.json", Anyone, Nobody),
    // Operations.
    shop("GET", "/healthz", Anyone, Nobody),
    shop("GET", "/readyz", Anyone, Nobody),
    shop("GET", "/static/css/{file}", Anyone, Everyone),
    shop("GET", "/media/{file}", Anyone, Everyone),
    shop("GET", "/__bench/ceiling", Anyone, Nobody),
    Route { method: "GET", path: "/metrics", on: Listener::Metrics, audience: Anyone, sharing: Nobody },
];

/// The methods a route table row may name; a path answers 405 to the rest.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// An app that serves every route of the table: benchmark routes on, a
/// metrics listener of its own, and the picture of each fixture product
/// (see [`media_file`]) stored.
pub async fn app_serving_every_route() -> TestApp {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.bench_routes = true;
        s.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    for p in &app.fixture.products {
        app.state.media.store_drawn(route_picture(p.id)).expect("picture stored");
    }
    app
}

/// A tiny picture drawn for product `id`.
fn route_picture(id: i32) -> image::DynamicImage {
    let [a, b, c, d] = id.to_be_bytes();
    image::DynamicImage::ImageRgb8(image::RgbImage::from_fn(4, 3, |x, y| image::Rgb([a ^ b, c ^ x as u8, d ^ y as u8])))
}

/// The name of a file of product `id`'s picture: stored by
/// [`app_serving_every_route`] for the fixture's products only.
pub fn media_file(id: i32) -> String {
    let stored = storefront::media::process::prepare_image(route_picture(id)).hash;
    format!("{stored}-4.webp")
}

/// The origin serving `listener` in `app`.
pub fn origin(app: &TestApp, listener: Listener) -> &str {
    match listener {
        Listener::Shop => &app.address,
        Listener::Metrics => app.metrics_address.as_deref().expect("a metrics listener"),
    }
}

/// The distinct (listener, path) pairs of the table.
pub fn paths() -> Vec<(Listener, &'static str)> {
    let mut paths: Vec<_> = ROUTES.iter().map(|r| (r.on, r.path)).collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The id tests give [`fill`] for a product or category that does not exist.
pub const MISSING: i32 = 999_999;

/// `path` with its `{id}` and `{slug}` filled (the product's for product
/// routes, the category's for category routes), its `{number}` (an
/// order's), its `{image_id}` (one no product has) and its `{file}` (the
/// product's picture, see [`media_file`], or the stylesheet's hashed name).
pub fn fill(path: &str, product: (i32, &str), category: (i32, &str), order: &str) -> String {
    let (id, slug) = if path.contains("/categories/") { category } else { product };
    let path = path.replace("{id}", &id.to_string()).replace("{slug}", slug).replace("{number}", order);
    let path = path.replace("{image_id}", "987654");
    if path.starts_with("/static/css/") {
        // What does not exist, for the 999999 that names a missing product:
        // another build's stylesheet.
        let css = storefront::views::SITE_CSS.rsplit('/').next().unwrap();
        path.replace("{file}", if product.0 == MISSING { "site.0000000000.css" } else { css })
    } else if path.contains("{file}") {
        path.replace("{file}", &media_file(product.0))
    } else {
        path
    }
}
