//! What a client of the seed's Django REST Framework API relies on beyond
//! the URLs and filters: the product's every field, timestamps as DRF
//! writes them, Django's words in a missing object's 404, and the extras of
//! DRF's router (format suffixes, `?format=json`, the API root).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::api::token_for;

/// Sends `method path` with an admin's `token` and a JSON `body`; returns
/// the status and the JSON body (null when empty).
async fn send(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let response = app.client.request(method, app.url(path)).bearer_auth(token).json(&body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
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
}
