//! Every route the shop serves, in one table: method, path template, who may
//! call it and who may keep its answer. Tests that must cover every route
//! walk [`ROUTES`]; the table is checked against the router itself, so a new
//! route cannot be left out of it:
//! - its paths are exactly the `.route("...")` paths in the source (outside
//!   test modules), and a router built any other way (`nest`,
//!   `route_service`, a path that is not a literal) fails the check until
//!   this scan learns it;
//! - on each path, every method the table does not list answers 405 (and
//!   so is not served).

use std::path::Path;

use crate::helpers::{Backend, TestApp};

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

use Audience::{Admin, Anyone, SignedIn};
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
    // The admin.
    shop("GET", "/admin", Admin, Visitor),
    shop("GET", "/admin/products", Admin, Visitor),
    shop("POST", "/admin/products", Admin, Visitor),
    shop("GET", "/admin/products/new", Admin, Visitor),
    shop("POST", "/admin/products/{id}", Admin, Visitor),
    shop("GET", "/admin/products/{id}/edit", Admin, Visitor),
    shop("POST", "/admin/products/{id}/delete", Admin, Visitor),
    shop("GET", "/admin/categories", Admin, Visitor),
    shop("POST", "/admin/categories", Admin, Visitor),
    shop("GET", "/admin/categories/new", Admin, Visitor),
    shop("POST", "/admin/categories/{id}", Admin, Visitor),
    shop("GET", "/admin/categories/{id}/edit", Admin, Visitor),
    shop("POST", "/admin/categories/{id}/delete", Admin, Visitor),
    // The API: reads for anyone, writes for admins.
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
    shop("GET", "/api/openapi.json", Anyone, Nobody),
    // Operations.
    shop("GET", "/healthz", Anyone, Nobody),
    shop("GET", "/readyz", Anyone, Nobody),
    shop("GET", "/static/css/site.css", Anyone, Everyone),
    shop("GET", "/__bench/ceiling", Anyone, Nobody),
    Route { method: "GET", path: "/metrics", on: Listener::Metrics, audience: Anyone, sharing: Nobody },
];

/// The methods a route table row may name; a path answers 405 to the rest.
pub const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// An app that serves every route of the table: benchmark routes on, a
/// metrics listener of its own.
pub async fn app_serving_every_route() -> TestApp {
    TestApp::spawn_configured(Backend::Sqlite, |s| {
        s.bench_routes = true;
        s.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
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

/// Every `.route("...")` path under `src/` (outside `#[cfg(test)]`
/// modules), with the listener its file serves; an error names any router
/// call this scan cannot read.
fn routes_in_source() -> Result<Vec<(Listener, String)>, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
        let name = file.strip_prefix(&src).unwrap_or(&file).display().to_string();
        let on = if name == "metrics.rs" { Listener::Metrics } else { Listener::Shop };
        for unread in [".nest(", ".nest_service(", ".route_service("] {
            if code.contains(unread) {
                return Err(format!(
                    "src/{name} builds routes with `{unread}`: teach the route table's scan to read it"
                ));
            }
        }
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            let path = rest
                .strip_prefix('"')
                .and_then(|r| r.split_once('"'))
                .map(|(path, _)| path.to_owned())
                .ok_or_else(|| format!("src/{name}: a `.route(` whose path is not a string literal"))?;
            found.push((on, path));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[test]
fn the_route_table_names_exactly_the_paths_the_source_routes() {
    let source = routes_in_source().unwrap_or_else(|e| panic!("{e}"));
    let table: Vec<(Listener, String)> = paths().into_iter().map(|(on, p)| (on, p.to_owned())).collect();
    let missing: Vec<_> = source.iter().filter(|p| !table.contains(p)).collect();
    let stale: Vec<_> = table.iter().filter(|p| !source.contains(p)).collect();
    assert!(missing.is_empty(), "routes missing from tests/api/route_table.rs: {missing:?}");
    assert!(stale.is_empty(), "rows of tests/api/route_table.rs that no router serves: {stale:?}");
}

#[tokio::test]
async fn every_method_the_route_table_does_not_name_is_refused_with_405() {
    let app = app_serving_every_route().await;
    // An admin, so that the admin guard lets every request reach its route.
    let admin = crate::cache_policy::signed_in(&app, "table-admin@example.com", true).await;
    let mut served = Vec::new();
    for (on, path) in paths() {
        let url = format!("{}{}", origin(&app, on), crate::cache_policy::fill(path, (1, "x"), (1, "x")));
        for method in METHODS {
            let listed = ROUTES.iter().any(|r| r.on == on && r.path == path && r.method == method);
            if listed {
                continue;
            }
            let r = admin.client.request(method.parse().unwrap(), &url).send().await.unwrap();
            if r.status() != 405 {
                served.push(format!("{method} {path}: {}", r.status()));
            }
        }
    }
    assert!(served.is_empty(), "served but not in the route table: {served:?}");
}
