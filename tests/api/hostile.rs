//! Hostile input: arbitrary query strings, path segments, form and JSON
//! bodies on every route answer in the documented shape (a 4xx with
//! `{"detail"}` under `/api`, an HTML page elsewhere), never a 5xx; junk
//! parameters cannot flood the cache. On PostgreSQL, which refuses some
//! strings (NUL bytes) that SQLite takes.

use std::sync::Arc;

use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;

use crate::support::api::token_for;
use crate::support::cache::cached_keys;
use crate::support::visitor::admin;
use crate::support::{Backend, TestApp, Visitor, csrf_in};

/// GET routes; `{}` takes an arbitrary path segment.
const GET_ROUTES: &[&str] = &[
    "/",
    "/products",
    "/products/{}",
    "/categories",
    "/categories/{}",
    "/api/products/",
    "/api/products/{}/",
    "/api/categories/",
    "/api/categories/{}/",
    "/cart",
    "/login",
    "/register",
    "/admin/products",
    "/healthz",
    "/static/css/{}",
    "/{}",
];

/// The parameters the routes read, and some they do not.
const KEYS: &[&str] = &[
    "search",
    "q",
    "page",
    "page_size",
    "ordering",
    "sort",
    "category",
    "category__id",
    "min_price",
    "max_price",
    "in_stock",
    "next",
    "utm_source",
];

/// Every byte outside the unreserved set as `%XX`: the server sees exactly
/// the arbitrary text (or bytes) the strategy made.
fn encode(raw: &[u8]) -> String {
    raw.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<String>().prop_map(String::into_bytes),
        "[0-9.eE+-]{0,40}".prop_map(String::into_bytes),
        Just(b"\0".to_vec()),
        // A NUL inside otherwise good text, which passes every other check.
        "[A-Za-z]{1,8}".prop_map(|s| format!("{s}\0{s}").into_bytes()),
        Just(b"%zz".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
        Just("9".repeat(400).into_bytes()),
        Just("laptop ".repeat(100).into_bytes()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![proptest::sample::select(KEYS).prop_map(|k| k.as_bytes().to_vec()), text()];
    proptest::collection::vec((key, text()), 0..6).prop_map(|pairs| {
        pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        "[0-9.-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(
                            &["name", "slug", "description", "price", "stock", "category", "category_id", "is_active"]
                                [..]
                        )
                        .prop_map(str::to_owned),
                        any::<String>()
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// What every answer must be: below 500, and a 4xx in the documented shape.
async fn check(response: reqwest::Response, what: &str) -> Result<(), TestCaseError> {
    let status = response.status().as_u16();
    let api = response.url().path().starts_with("/api/");
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = response.bytes().await.map_err(|e| TestCaseError::fail(format!("{what}: body: {e}")))?;
    prop_assert!(status < 500, "{what} answered {status}: {}", String::from_utf8_lossy(&body));
    if (400..500).contains(&status) && status != 405 {
        if api {
            prop_assert!(content_type.starts_with("application/json"), "{what}: {status} as {content_type}");
            let error: Value = serde_json::from_slice(&body)
                .map_err(|e| TestCaseError::fail(format!("{what}: {status} is not JSON: {e}")))?;
            prop_assert!(error["detail"].is_string(), "{what}: {status} without detail: {error}");
        } else {
            prop_assert!(content_type.starts_with("text/html"), "{what}: {status} as {content_type}");
        }
    }
    Ok(())
}

/// Who sends the cases.
#[derive(Clone, Copy)]
enum Sender {
    Anyone,
    /// With an admin's API token.
    ApiAdmin,
    /// A browser signed in as an admin, with its CSRF token, so that form
    /// fields reach validation rather than the login redirect.
    SignedInAdmin,
}

#[derive(Default)]
struct Credentials {
    token: String,
    browser: Option<(Visitor, String)>,
}

/// Runs `cases` inputs from `strategy` through `request` against one server
/// (proptest drives synchronously; each case blocks on the server's runtime).
fn run<S, F, Fut>(cases: u32, strategy: S, sender: Sender, request: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(Arc<TestApp>, Arc<Credentials>, S::Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), TestCaseError>>,
{
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let app = Arc::new(runtime.block_on(TestApp::spawn(Backend::Postgres)));
    let credentials = Arc::new(runtime.block_on(async {
        match sender {
            Sender::Anyone => Credentials::default(),
            Sender::ApiAdmin => {
                Credentials { token: token_for(&app, "fuzz-admin@example.com", true).await, browser: None }
            }
            Sender::SignedInAdmin => {
                let browser = admin(&app).await;
                let csrf = csrf_in(&browser.page("/admin/products/new").await);
                Credentials { token: String::new(), browser: Some((browser, csrf)) }
            }
        }
    }));
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&strategy, |input| runtime.block_on(request(app.clone(), credentials.clone(), input)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn arbitrary_query_strings_and_path_segments_never_cause_a_5xx() {
    let input = (proptest::sample::select(GET_ROUTES), text(), query());
    run(400, input, Sender::Anyone, |app, _, (route, segment, query)| async move {
        let path = route.replace("{}", &encode(&segment));
        let url = format!("{}?{query}", app.url(&path));
        let response = app.client.get(&url).send().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(response, &format!("GET {path}?{query}")).await
    });
}

/// POSTs an encoded form body and checks the answer.
async fn post_form(client: &reqwest::Client, url: &str, body: String) -> Result<(), TestCaseError> {
    let response = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    check(response, &format!("POST {url} {body}")).await
}

#[test]
fn arbitrary_form_bodies_never_cause_a_5xx() {
    let routes = [
        "/login",
        "/register",
        "/logout",
        "/cart/add",
        "/cart/update",
        "/cart/remove",
        "/admin/products",
        "/admin/categories/1",
    ];
    let input = (proptest::sample::select(routes.to_vec()), proptest::collection::vec((text(), text()), 0..6));
    run(200, input, Sender::Anyone, |app, _, (route, fields)| async move {
        let body = fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
        post_form(&app.client, &app.url(route), body).await
    });
}

#[test]
fn arbitrary_admin_form_fields_never_cause_a_5xx() {
    let routes = ["/admin/products", "/admin/products/1", "/admin/categories", "/admin/categories/1"];
    let fields = ["name", "slug", "description", "price", "stock", "category_id", "is_active"];
    let field = prop_oneof![proptest::sample::select(fields.to_vec()).prop_map(|k| k.as_bytes().to_vec()), text()];
    let input = (proptest::sample::select(routes.to_vec()), proptest::collection::vec((field, text()), 1..4));
    run(200, input, Sender::SignedInAdmin, |app, who, (route, overrides)| async move {
        let (browser, csrf) = who.browser.as_ref().expect("a signed-in browser");
        // A valid form with some fields replaced: a hostile value must get
        // past the other fields' checks to reach the database.
        let mut form: Vec<(Vec<u8>, Vec<u8>)> =
            [("name", "Brass Lamp"), ("price", "12.50"), ("stock", "3"), ("category_id", "1"), ("description", "Warm")]
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect();
        for (k, v) in overrides {
            match form.iter_mut().find(|(key, _)| *key == k) {
                Some(field) => field.1 = v,
                None => form.push((k, v)),
            }
        }
        let mut body = format!("csrf={}", encode(csrf.as_bytes()));
        for (k, v) in &form {
            body.push_str(&format!("&{}={}", encode(k), encode(v)));
        }
        post_form(&browser.client, &app.url(route), body).await
    });
}

#[test]
fn arbitrary_json_bodies_from_an_admin_never_cause_a_5xx() {
    let routes = [
        (reqwest::Method::POST, "/api/products/"),
        (reqwest::Method::PATCH, "/api/products/1/"),
        (reqwest::Method::PUT, "/api/products/2/"),
        (reqwest::Method::POST, "/api/categories/"),
        (reqwest::Method::PATCH, "/api/categories/1/"),
    ];
    let input = (proptest::sample::select(routes.to_vec()), json_value());
    run(300, input, Sender::ApiAdmin, |app, who, ((method, route), body)| async move {
        let response = app
            .client
            .request(method.clone(), app.url(route))
            .bearer_auth(&who.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(response, &format!("{method} {route} {body}")).await
    });
}

#[tokio::test]
async fn ten_thousand_junk_parameters_make_no_new_cache_entries() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let redis = app.state.settings.cache.redis_url.clone();
    let paths = ["/api/products/?search=laptop", "/products?q=laptop", "/categories", "/api/categories/"];
    for path in paths {
        app.get(path).await;
    }
    let before = cached_keys(&app, &redis).await;
    let statuses: Vec<u16> = futures_util::stream::iter(0..10_000)
        .map(|i| {
            let app = &app;
            let base = paths[i % paths.len()];
            let sep = if base.contains('?') { '&' } else { '?' };
            async move { app.get(&format!("{base}{sep}junk{i}={i}&utm_campaign=x{i}")).await.status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|&s| s == 200), "some junk requests failed");
    let after = cached_keys(&app, &redis).await;
    assert_eq!(after, before, "junk parameters created entries");
}

#[tokio::test]
async fn a_repeated_parameter_is_never_an_error() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let repeated = "page=2&page=1&next=/a&next=/b&q=x&q=laptop&search=x&search=laptop&ordering=x&ordering=price";
    for path in ["/", "/products", "/categories", "/api/products/", "/api/categories/", "/login", "/register", "/cart"]
    {
        let r = app.get(&format!("{path}?{repeated}")).await;
        assert_eq!(r.status(), 200, "{path}: the last of each parameter counts");
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_not_a_crash() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = token_for(&app, "deep@example.com", true).await;
    for depth in [200, 5_000, 30_000] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let r = app
            .client
            .post(app.url("/api/products/"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "depth {depth}");
        let error: Value = r.json().await.unwrap();
        assert!(error["detail"].is_string(), "{error}");
    }
    // The server is still there.
    assert_eq!(app.get("/healthz").await.status(), 200);
}
