//! Who may keep each answer, over every route of the route table: a
//! visitor without a session, a signed-in shopper and an admin call each
//! one, on success and on error, and every answer's `Cache-Control` follows
//! the shop's one rule (src/routes/cache_policy.rs): the visitor's own is
//! `private, no-store` with `Vary: Cookie`, an error is `no-store`, and only
//! the catalog's answers (and the stylesheet) are public, catalog pages only
//! to visitors without a session.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, HeaderMap, SET_COOKIE, VARY};
use storefront::domain::Slug;
use storefront::services::writes::{self, NewCategory};

use crate::support::route_table::{
    Audience, Listener, METHODS, ROUTES, Route, Sharing, app_serving_every_route, fill, origin, paths,
};
use crate::support::store::unique_name;
use crate::support::visitor::signed_in_with;
use crate::support::{TestApp, Visitor, csrf_in};

const PRIVATE: &str = "private, no-store";
const PASSWORD: &str = "route table password";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Shopper,
    Admin,
}

impl Who {
    fn may_call(self, audience: Audience) -> bool {
        match audience {
            Audience::Anyone => true,
            Audience::SignedIn => self != Who::Anonymous,
            Audience::Admin => self == Who::Admin,
            // Every signed-in caller places an order of its own (`Caller`).
            Audience::Owner => self != Who::Anonymous,
        }
    }
}

/// A visitor signed in as a new account.
async fn signed_in(app: &TestApp, email: &str, admin: bool) -> Visitor {
    signed_in_with(app, email, PASSWORD, admin).await
}

/// One caller of the table's routes: a client, and for a signed-in one the
/// account it signs in again as when a route (logout, sign out everywhere)
/// has ended its session.
struct Caller {
    email: String,
    visitor: Option<Visitor>,
    /// The number of an order this caller placed: a signed-in caller owns
    /// it; an anonymous one placed it without a session, so nobody does.
    order: String,
}

impl Caller {
    async fn new(app: &TestApp, who: Who) -> Caller {
        let email = format!("{}@example.com", unique_name("caller").to_lowercase());
        let visitor = match who {
            Who::Anonymous => None,
            Who::Shopper => Some(signed_in(app, &email, false).await),
            Who::Admin => Some(signed_in(app, &email, true).await),
        };
        let body = serde_json::json!({
            "email": email,
            "shipping": {"name": "C", "line1": "1 Road", "city": "Rome", "postal_code": "00100", "country": "IT"},
            "lines": [{"product_id": app.fixture.product("Laptop Sleeve").id, "quantity": 1}],
        });
        let request = match &visitor {
            Some(v) => v.client.post(app.url("/api/orders/")).header("x-csrf-token", v.csrf("/login").await),
            None => app.client.post(app.url("/api/orders/")),
        };
        let placed = request.json(&body).send().await.unwrap();
        assert_eq!(placed.status(), StatusCode::CREATED, "{who:?} places an order");
        let order = placed.json::<serde_json::Value>().await.unwrap()["number"].as_str().unwrap().to_owned();
        Caller { email, visitor, order }
    }

    /// Sends `method path`, with what the route expects of a form or an API
    /// call (a form token, a body) so that it gets past the first checks.
    async fn send(&self, app: &TestApp, on: Listener, method: &str, path: &str) -> reqwest::Response {
        let client = match &self.visitor {
            Some(visitor) => {
                if visitor.signed_in_as().await.as_deref() != Some(self.email.as_str()) {
                    let r = visitor.login(&self.email, PASSWORD).await;
                    assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign in again as {}", self.email);
                }
                &visitor.client
            }
            // No cookie store: never a session.
            None => &app.client,
        };
        let url = format!("{}{path}", origin(app, on));
        let mut request = client.request(method.parse().unwrap(), &url);
        if method != "GET" {
            let token = match &self.visitor {
                Some(visitor) => visitor.csrf("/login").await,
                None => csrf_in(&app.get_html("/login", 200).await),
            };
            request = if path.starts_with("/api/") {
                request.header("x-csrf-token", token).json(&serde_json::json!({}))
            } else {
                let product = app.fixture.product("Mechanical Keyboard").id.to_string();
                request.form(&[("csrf", token.as_str()), ("product_id", &product), ("quantity", "1")])
            };
        }
        request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }
}

/// What is wrong with `headers` on `route`'s answer to `who`, by the rule.
fn broken_rule(route: &Route, who: Who, status: StatusCode, headers: &HeaderMap) -> Option<String> {
    let cache_control = headers.get(CACHE_CONTROL).and_then(|v| v.to_str().ok()).unwrap_or("(none)");
    let varies_on_cookie =
        headers.get_all(VARY).iter().filter_map(|v| v.to_str().ok()).any(|v| v.to_ascii_lowercase().contains("cookie"));
    let has_session = who != Who::Anonymous;
    let reads_session = has_session && matches!(route.sharing, Sharing::CatalogPage | Sharing::Visitor);
    let public = match route.sharing {
        Sharing::CatalogPage => !has_session,
        Sharing::Everyone => true,
        Sharing::Visitor | Sharing::Nobody => false,
    };
    let ok = if reads_session || headers.contains_key(SET_COOKIE) {
        cache_control == PRIVATE && varies_on_cookie
    } else if status.as_u16() >= 400 {
        cache_control.contains("no-store") && !cache_control.contains("public")
    } else if public {
        let catalog = route.sharing != Sharing::CatalogPage || cache_control.contains("s-maxage=");
        cache_control.starts_with("public, ") && catalog && !varies_on_cookie
    } else {
        cache_control == PRIVATE
    };
    let vary = if varies_on_cookie { ", Vary: Cookie" } else { "" };
    (!ok).then(|| format!("{who:?} {} {} -> {status}: Cache-Control: {cache_control}{vary}", route.method, route.path))
}

#[tokio::test]
async fn every_route_tells_caches_who_may_keep_its_answer_to_each_caller() {
    let app = app_serving_every_route().await;
    let product = app.fixture.product("Steel Laptop 13").clone();
    let category = app.fixture.category("computers").clone();
    let mut wrong = Vec::new();
    for who in [Who::Anonymous, Who::Shopper, Who::Admin] {
        let caller = Caller::new(&app, who).await;
        // Reads first; each write gets a product and a category of its own
        // to change or delete.
        let (reads, writes): (Vec<&Route>, Vec<&Route>) = ROUTES.iter().partition(|r| r.method == "GET");
        for route in reads.into_iter().chain(writes) {
            let path = if route.method == "GET" {
                fill(route.path, (product.id, product.slug.as_str()), (category.id, category.slug), &caller.order)
            } else {
                let (product, category) = throwaways(&app).await;
                fill(route.path, (product.0, product.1.as_str()), (category.0, category.1.as_str()), &caller.order)
            };
            let r = caller.send(&app, route.on, route.method, &path).await;
            let status = r.status();
            assert!(
                !status.is_server_error() && status != StatusCode::METHOD_NOT_ALLOWED,
                "{who:?} {} {path}: {status}",
                route.method
            );
            if route.method == "GET" {
                // The caller reached what the table says: the route itself, or the door.
                let reached = if who.may_call(route.audience) {
                    status.as_u16() < 400
                } else if route.audience == Audience::Owner {
                    [StatusCode::NOT_FOUND, StatusCode::UNAUTHORIZED].contains(&status)
                } else {
                    // Pages send a visitor to log in; the API answers 401.
                    [StatusCode::SEE_OTHER, StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&status)
                };
                assert!(reached, "{who:?} GET {path}: {status}");
            }
            wrong.extend(broken_rule(route, who, status, r.headers()));
        }
    }
    assert!(wrong.is_empty(), "answers that break the caching rule:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn no_error_on_any_route_may_be_stored() {
    let app = app_serving_every_route().await;
    let mut wrong = Vec::new();
    let mut not_errors = Vec::new();
    for who in [Who::Anonymous, Who::Shopper, Who::Admin] {
        let caller = Caller::new(&app, who).await;
        // A product or category that does not exist, on every route that names one.
        for route in ROUTES.iter().filter(|r| r.path.contains('{')) {
            let path = fill(route.path, (999_999, "no-such-product"), (999_999, "no-such-category"), "SF-0000000000");
            let r = caller.send(&app, route.on, route.method, &path).await;
            let status = r.status();
            if who.may_call(route.audience) && !status.is_client_error() {
                not_errors.push(format!("{who:?} {} {path}: {status}", route.method));
            }
            wrong.extend(broken_rule(route, who, status, r.headers()));
        }
        // A method a path does not serve (the admin's guard answers first
        // to those it keeps out).
        for (on, path) in paths() {
            let filled = fill(path, (1, "x"), (1, "x"), "SF-0000000000");
            let rows: Vec<&Route> = ROUTES.iter().filter(|r| r.on == on && r.path == path).collect();
            for method in METHODS.into_iter().filter(|m| rows.iter().all(|r| r.method != *m)) {
                let r = caller.send(&app, on, method, &filled).await;
                let route = Route { method, path, on, audience: rows[0].audience, sharing: Sharing::Nobody };
                if who.may_call(route.audience) && r.status() != StatusCode::METHOD_NOT_ALLOWED {
                    not_errors.push(format!("{who:?} {method} {path}: {}", r.status()));
                }
                wrong.extend(broken_rule(&route, who, r.status(), r.headers()));
            }
        }
        // Paths no route serves, pages and API, on both listeners.
        for (on, path) in [
            (Listener::Shop, "/no-such-page"),
            (Listener::Shop, "/api/no-such-thing"),
            (Listener::Metrics, "/no-such-thing"),
        ] {
            let r = caller.send(&app, on, "GET", path).await;
            let route = Route { method: "GET", path, on, audience: Audience::Anyone, sharing: Sharing::Nobody };
            if r.status() != StatusCode::NOT_FOUND {
                not_errors.push(format!("{who:?} GET {path}: {}", r.status()));
            }
            wrong.extend(broken_rule(&route, who, r.status(), r.headers()));
        }
    }
    assert!(not_errors.is_empty(), "expected errors, got:\n{}", not_errors.join("\n"));
    assert!(wrong.is_empty(), "errors a cache could keep:\n{}", wrong.join("\n"));
}

/// A product and a category made for one write to change or delete:
/// (id, slug) each.
async fn throwaways(app: &TestApp) -> ((i32, String), (i32, String)) {
    let product = app.add_product("computers", &unique_name("Route table lamp"), "For one write", 3).await;
    let slug = Slug::parse(&unique_name("route-table").replace('_', "-")).expect("a slug");
    let category = writes::create_category(
        &app.db,
        app.cache(),
        NewCategory { name: unique_name("Route table shelf"), slug: slug.clone(), description: String::new() },
    )
    .await
    .expect("a category");
    (product, (category.id, slug.to_string()))
}
