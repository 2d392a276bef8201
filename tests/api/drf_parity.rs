//! What a client of the seed's Django REST Framework API relies on beyond
//! the URLs and filters: the product's every field, timestamps as DRF
//! writes them, Django's words in a missing object's 404, and the extras of
//! DRF's router (format suffixes, `?format=json`, the API root).

use chrono::{TimeZone, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::api::token_for;

const NO_PRODUCT: &str = "No Product matches the given query.";
const NO_CATEGORY: &str = "No Category matches the given query.";

/// Sends `method path` with an admin's `token` and a JSON `body`; returns
/// the status and the JSON body (null when empty).
async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app.client.request(method, app.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// GET `path`: the status, the `X-Cache` verdict and the JSON body.
async fn get_cached(app: &TestApp, path: &str) -> (u16, String, Value) {
    let response = app.get(path).await;
    let status = response.status().as_u16();
    let verdict = response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
    (status, verdict, response.json().await.unwrap_or(Value::Null))
}

/// A timestamp as DRF writes one: RFC 3339 in UTC with `Z`, and six
/// fractional digits, none of them all zero, or none at all.
fn assert_drf_timestamp(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("{value} is not a string"));
    assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
    let (whole, fraction) = text.strip_suffix('Z').unwrap_or_else(|| panic!("{text} is not in UTC")).split_at(19);
    assert!(!whole.contains('.'), "{text}");
    if !fraction.is_empty() {
        let digits = fraction.strip_prefix('.').unwrap_or_else(|| panic!("{text}"));
        assert!(digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()), "{text}");
        assert_ne!(digits, "000000", "{text}: a whole second has no fraction");
    }
}

fn detail(message: &str) -> Value {
    json!({"detail": message})
}

on_both_backends! {
    async fn products_carry_is_active_and_their_categorys_description(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13");
        let computers = app.fixture.category("computers");
        let category = json!({
            "id": computers.id, "name": "Computers", "slug": "computers", "description": "Laptops and accessories",
        });
        let list = app.get_json("/api/products/?category=computers", 200).await;
        for product in list["results"].as_array().unwrap() {
            assert_eq!((&product["is_active"], &product["category"]), (&json!(true), &category), "{product}");
        }
        let one = app.get_product_json(p.id, 200).await;
        assert_eq!((&one["is_active"], &one["category"]), (&json!(true), &category));
        for field in ["updated_at", "created_at", "product_count"] {
            assert!(!one["category"].as_object().unwrap().contains_key(field), "{field}");
        }

        // A write answers with the stored value, hidden or not.
        let token = token_for(&app, "root@example.com", true).await;
        let path = format!("/api/products/{}/", p.id);
        let (status, hidden) = send(&app, Method::PATCH, &path, &token, json!({"is_active": false})).await;
        assert_eq!((status, &hidden["is_active"], &hidden["category"]), (StatusCode::OK, &json!(false), &category));
        let (status, shown) = send(&app, Method::PATCH, &path, &token, json!({"is_active": true})).await;
        assert_eq!((status, &shown["is_active"]), (StatusCode::OK, &json!(true)));

        // A new description reaches every cached product that embeds it.
        app.get_product_json(p.id, 200).await;
        app.get_json("/api/products/?category=computers", 200).await;
        let category_path = format!("/api/categories/{}/", computers.id);
        let (status, _) = send(&app, Method::PATCH, &category_path, &token, json!({"description": "Machines"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.get_product_json(p.id, 200).await["category"]["description"], "Machines");
        let list = app.get_json("/api/products/?category=computers", 200).await;
        assert_eq!(list["results"][0]["category"]["description"], "Machines");
    }

    async fn timestamps_have_six_fractional_digits_or_none(app: TestApp) {
        // The fixture's are whole seconds.
        let steel = app.fixture.product("Steel Laptop 13");
        let body = app.get_product_json(steel.id, 200).await;
        assert_eq!(body["created_at"], "2026-06-01T12:00:00Z");

        let at = |micros| Some(Utc.with_ymd_and_hms(2026, 6, 2, 8, 30, 5).unwrap() + chrono::Duration::microseconds(micros));
        let (half, _) = app.add_product_created("garden", "Half Second Lamp", "Made at .5 s", 1, at(500_000)).await;
        let (micro, _) = app.add_product_created("garden", "Micro Lamp", "Made at .123456 s", 1, at(123_456)).await;
        assert_eq!(app.get_product_json(half, 200).await["created_at"], "2026-06-02T08:30:05.500000Z");
        assert_eq!(app.get_product_json(micro, 200).await["created_at"], "2026-06-02T08:30:05.123456Z");
        let list = app.get_json("/api/products/?category=garden&ordering=created_at", 200).await;
        let written: Vec<&Value> = list["results"].as_array().unwrap().iter().map(|p| &p["created_at"]).collect();
        assert_eq!(written, ["2026-06-02T08:30:05.123456Z", "2026-06-02T08:30:05.500000Z"]);

        // What the clock gives a write, in its answer and on the next read.
        let token = token_for(&app, "root@example.com", true).await;
        let path = format!("/api/products/{half}/");
        let (status, patched) = send(&app, Method::PATCH, &path, &token, json!({"stock": 2})).await;
        assert_eq!(status, StatusCode::OK);
        assert_drf_timestamp(&patched["updated_at"]);
        let read = app.get_product_json(half, 200).await;
        assert_drf_timestamp(&read["updated_at"]);
        assert_eq!(read["created_at"], "2026-06-02T08:30:05.500000Z");

        // An order's.
        let order = json!({
            "email": "buyer@example.com",
            "shipping": {"name": "B", "line1": "1 Road", "city": "Oslo", "postal_code": "0150", "country": "NO"},
            "lines": [{"product_id": steel.id, "quantity": 1}],
        });
        let response = app.client.post(app.url("/api/orders/")).json(&order).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let placed: Value = response.json().await.unwrap();
        assert_drf_timestamp(&placed["created_at"]);
        assert_drf_timestamp(&placed["updated_at"]);
    }

    async fn a_missing_object_is_a_404_in_djangos_words(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let hidden = app.fixture.product("Hidden Laptop").id.to_string();
        let books = app.fixture.category("books").id;
        // Nothing with the id, an id no row can have, and a hidden product (to a read).
        let ids = [("999999", true), ("abc", true), ("0", true), ("2147483648", true), (hidden.as_str(), false)];
        for (id, write) in ids {
            let path = format!("/api/products/{id}/");
            assert_eq!(app.get_json(&path, 404).await, detail(NO_PRODUCT), "GET {path}");
            // Twice: the cached path answers the same, and keeps no 404.
            let (status, verdict, body) = get_cached(&app, &path).await;
            assert_eq!((status, body), (404, detail(NO_PRODUCT)), "GET {path} again");
            assert_ne!(verdict, "HIT", "GET {path} again");
            if write {
                let replacement = json!({"name": "Lamp", "price": "1.00", "stock": 1, "category_id": books});
                let writes = [(Method::PUT, replacement), (Method::PATCH, json!({"stock": 1})), (Method::DELETE, Value::Null)];
                for (method, body) in writes {
                    let (status, answer) = send(&app, method.clone(), &path, &token, body).await;
                    assert_eq!((status, answer), (StatusCode::NOT_FOUND, detail(NO_PRODUCT)), "{method} {path}");
                }
            }
        }
        for id in ["424242", "abc", "-1"] {
            let path = format!("/api/categories/{id}/");
            assert_eq!(app.get_json(&path, 404).await, detail(NO_CATEGORY), "GET {path}");
            let writes = [(Method::PUT, json!({"name": "Lamps"})), (Method::PATCH, json!({})), (Method::DELETE, Value::Null)];
            for (method, body) in writes {
                let (status, answer) = send(&app, method.clone(), &path, &token, body).await;
                assert_eq!((status, answer), (StatusCode::NOT_FOUND, detail(NO_CATEGORY)), "{method} {path}");
            }
        }
        // A product's missing category is a field error, as before.
        let sleeve = format!("/api/products/{}/", app.fixture.product("Laptop Sleeve").id);
        let (status, body) = send(&app, Method::PATCH, &sleeve, &token, json!({"category_id": 424242})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        // Other 404s keep their words.
        assert_eq!(app.get_json("/api/no-such-thing/", 404).await, detail("Not found."));
        assert_eq!(app.get_json("/api/products/?page=99", 404).await, detail("Invalid page."));
        assert_eq!(app.get_json("/api/categories/?page=9", 404).await, detail("Invalid page."));
    }

    async fn json_suffixes_and_format_json_are_the_plain_url_and_its_cache_entry(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13").id;
        let books = app.fixture.category("books").id;
        let spellings: Vec<Vec<String>> = vec![
            vec![
                "/api/products.json?page=2".into(),
                "/api/products/?page=2".into(),
                "/api/products.json/?page=2".into(),
                "/api/products/?format=json&page=2".into(),
                "/api/products?page=2&format=json".into(),
            ],
            vec![
                format!("/api/products/{p}/?format=json"),
                format!("/api/products/{p}.json"),
                format!("/api/products/{p}.json/"),
                format!("/api/products/{p}"),
            ],
            vec!["/api/categories.json".into(), "/api/categories/".into(), "/api/categories.json/?format=json".into()],
            vec![
                format!("/api/categories/{books}.json/"),
                format!("/api/categories/{books}/"),
                format!("/api/categories/{books}?format=json"),
            ],
        ];
        for urls in spellings {
            let (status, verdict, first) = get_cached(&app, &urls[0]).await;
            assert_eq!((status, verdict.as_str()), (200, "MISS"), "{}", urls[0]);
            for url in &urls[1..] {
                let (status, verdict, body) = get_cached(&app, url).await;
                assert_eq!((status, verdict.as_str()), (200, "HIT"), "{url} is {}", urls[0]);
                assert_eq!(body, first, "{url} is {}", urls[0]);
            }
        }
        // Links name the plain URL.
        let body = app.get_json("/api/products.json", 200).await;
        assert_eq!(body["next"], app.url("/api/products/?page=2"));
        // Writes take the suffix too.
        let token = token_for(&app, "root@example.com", true).await;
        let path = format!("/api/products/{p}.json");
        let (status, body) = send(&app, Method::PATCH, &path, &token, json!({"stock": 6})).await;
        assert_eq!((status, &body["stock"]), (StatusCode::OK, &json!(6)));
    }

    async fn any_other_format_is_a_404_before_anything_else(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13").id;
        for path in [
            "/api/products.xml".to_owned(),
            "/api/products.xml/".to_owned(),
            "/api/products/?format=api".to_owned(),
            "/api/products/?format=xml".to_owned(),
            format!("/api/products/{p}.xml"),
            format!("/api/products/{p}/?format=api"),
            "/api/categories.api".to_owned(),
            "/api/categories/?format=xml".to_owned(),
            "/api/?format=xml".to_owned(),
            "/api/.json".to_owned(),
        ] {
            let response = app.get(&path).await;
            assert_eq!(response.status(), 404, "{path}");
            assert_eq!(response.headers()["cache-control"], "no-store", "{path}");
            assert_eq!(response.json::<Value>().await.unwrap(), detail("Not found."), "{path}");
        }
        // Before the credentials are looked at, as DRF negotiates first.
        let response = app.client.post(app.url("/api/products.xml")).json(&json!({})).send().await.unwrap();
        assert_eq!(response.status(), 404);
        // A blank format is no format; the document is not the API's.
        app.get_json("/api/products/?format=", 200).await;
        app.get_json("/api/openapi.json?format=xml", 200).await;
    }

    async fn the_api_root_links_each_list_from_the_public_origin(app: TestApp) {
        let expected = json!({
            "products": app.url("/api/products/"),
            "categories": app.url("/api/categories/"),
            "orders": app.url("/api/orders/"),
        });
        for path in ["/api/", "/api", "/api/?format=json"] {
            assert_eq!(app.get_json(path, 200).await, expected, "{path}");
        }
        // From configuration, never from the Host header.
        let response = app.client.get(app.url("/api/")).header("host", "evil.example").send().await.unwrap();
        assert_eq!(response.json::<Value>().await.unwrap(), expected);
        // Each link is served.
        for (name, status) in [("products", 200), ("categories", 200), ("orders", 401)] {
            let r = app.client.get(expected[name].as_str().unwrap()).send().await.unwrap();
            assert_eq!(r.status(), status, "{name}");
        }
        let r = app.client.post(app.url("/api/")).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 405);
    }
}
