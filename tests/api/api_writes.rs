//! API writes: who may write, what a write answers, and that every page and
//! the API read the change at once.

use reqwest::StatusCode;
use serde_json::{Value, json};
use storefront::auth::tokens;

use crate::on_both_backends;
use crate::support::api::token_for;
use crate::support::cli::{serve, storefront};
use crate::support::openapi::assert_conforms_to;
use crate::support::store::TestDatabase;
use crate::support::{TestApp, Visitor, csrf_in};

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method.clone(), app.url(path));
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: {text}"))
        },
    )
}

fn new_product(category_id: i32) -> Value {
    json!({"name": "Walnut Desk", "description": "Solid walnut", "price": "349.00", "stock": 4, "category_id": category_id})
}

on_both_backends! {
    async fn writes_need_an_admin(app: TestApp) {
        let computers = app.fixture.category("computers").id;
        let p = app.fixture.product("Gaming Laptop").id;
        let shopper = token_for(&app, "shopper@example.com", false).await;
        let writes = [
            (reqwest::Method::POST, "/api/products/".to_owned()),
            (reqwest::Method::PUT, format!("/api/products/{p}/")),
            (reqwest::Method::PATCH, format!("/api/products/{p}")),
            (reqwest::Method::DELETE, format!("/api/products/{p}/")),
            (reqwest::Method::POST, "/api/categories".to_owned()),
            (reqwest::Method::PATCH, format!("/api/categories/{computers}/")),
            (reqwest::Method::DELETE, format!("/api/categories/{computers}/")),
        ];
        for (method, path) in &writes {
            let r = app.client.request(method.clone(), app.url(path)).json(&new_product(computers)).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let (status, body) = send(&app, method.clone(), path, Some("sft_not-a-token"), Some(new_product(computers))).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert!(body["detail"].is_string());
            let (status, _) = send(&app, method.clone(), path, Some(&shopper), Some(new_product(computers))).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        }
        // A signed-in admin may write with the session, but only with the CSRF header.
        app.create_user("root@example.com", "root password", true).await;
        let v = Visitor::new(&app);
        v.login("root@example.com", "root password").await;
        let r = v.client.patch(app.url(&format!("/api/products/{p}/"))).json(&json!({"stock": 9})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let csrf = csrf_in(&v.page("/").await);
        let r = v.client.patch(app.url(&format!("/api/products/{p}/"))).header("x-csrf-token", csrf).json(&json!({"stock": 9})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(app.get_product_json(p, 200).await["stock"], 9);
    }

    async fn create_replace_update_delete_a_product(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let computers = app.fixture.category("computers").id;
        let books = app.fixture.category("books").id;
        app.get_json("/api/products/?search=walnut", 200).await;
        let (status, created) = send(&app, reqwest::Method::POST, "/api/products/", Some(&token), Some(new_product(computers))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_i64().unwrap();
        assert_eq!((created["slug"].as_str(), created["price"].as_str()), (Some("walnut-desk"), Some("349.00")));
        assert_eq!(app.get_json("/api/products/?search=walnut", 200).await["count"], 1, "lists see it at once");
        assert!(app.get_html("/products/walnut-desk", 200).await.contains("$349.00"));

        let (status, body) = send(&app, reqwest::Method::PATCH, &format!("/api/products/{id}/"), Some(&token), Some(json!({"price": 299.5}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["price"], "299.50");
        assert!(app.get_html("/products/walnut-desk", 200).await.contains("$299.50"));
        assert!(app.get_html("/categories/computers", 200).await.contains("Walnut Desk"));

        let replacement = json!({"name": "Oak Desk", "price": "199.00", "stock": 1, "category_id": books});
        let (status, body) = send(&app, reqwest::Method::PUT, &format!("/api/products/{id}"), Some(&token), Some(replacement)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["slug"].as_str(), body["category"]["slug"].as_str()), (Some("oak-desk"), Some("books")));
        app.get_html("/products/walnut-desk", 404).await;
        assert!(!app.get_html("/categories/computers", 200).await.contains("Desk"));

        let (status, body) = send(&app, reqwest::Method::DELETE, &format!("/api/products/{id}/"), Some(&token), None).await;
        assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
        app.get_json(&format!("/api/products/{id}/"), 404).await;
        let (status, _) = send(&app, reqwest::Method::DELETE, &format!("/api/products/{id}/"), Some(&token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn invalid_bodies_name_their_fields(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let computers = app.fixture.category("computers").id;
        let taken = app.fixture.product("Gaming Laptop").slug.clone();
        let cases = [
            (json!({}), StatusCode::BAD_REQUEST, vec!["category_id", "name", "price", "stock"]),
            (json!({"name": "X", "price": "1.999", "stock": 1, "category_id": computers}), StatusCode::BAD_REQUEST, vec!["price"]),
            (json!({"name": "X", "price": "-1", "stock": 1, "category_id": computers}), StatusCode::BAD_REQUEST, vec!["price"]),
            (json!({"name": "X", "price": true, "stock": 1, "category_id": computers}), StatusCode::BAD_REQUEST, vec!["price"]),
            (json!({"name": "X", "price": "1", "stock": -1, "category_id": computers}), StatusCode::BAD_REQUEST, vec!["stock"]),
            (json!({"name": "X", "price": "1", "stock": 1, "category_id": 999999}), StatusCode::BAD_REQUEST, vec!["category_id"]),
            (json!({"name": "", "price": "1", "stock": 1, "category_id": computers}), StatusCode::BAD_REQUEST, vec!["name"]),
            (json!({"name": "X", "slug": "Bad Slug", "price": "1", "stock": 1, "category_id": computers}), StatusCode::BAD_REQUEST, vec!["slug"]),
            (json!({"name": "X", "slug": taken, "price": "1", "stock": 1, "category_id": computers}), StatusCode::CONFLICT, vec!["slug"]),
            (json!({"name": "X", "price": "1", "stock": 1, "category_id": computers, "colour": "red"}), StatusCode::BAD_REQUEST, vec!["body"]),
            (json!([1, 2]), StatusCode::BAD_REQUEST, vec!["body"]),
        ];
        for (body, expected, fields) in cases {
            let (status, answer) = send(&app, reqwest::Method::POST, "/api/products/", Some(&token), Some(body.clone())).await;
            assert_eq!(status, expected, "{body}: {answer}");
            let keys: Vec<&str> = answer["errors"].as_object().unwrap_or_else(|| panic!("{answer}")).keys().map(String::as_str).collect();
            assert_eq!(keys, fields, "{body}");
        }
        let r = app.client.post(app.url("/api/products/")).bearer_auth(&token).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let (status, _) = send(&app, reqwest::Method::PATCH, "/api/products/424242/", Some(&token), Some(json!({"stock": 1}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // An id no product can have is one nothing has, as in DRF.
        let (status, _) = send(&app, reqwest::Method::PATCH, "/api/products/abc/", Some(&token), Some(json!({"stock": 1}))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    async fn categories_through_the_api(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let (status, created) = send(&app, reqwest::Method::POST, "/api/categories/", Some(&token), Some(json!({"name": "Lighting", "description": "Lamps"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!((created["slug"].as_str(), created["product_count"].as_u64()), (Some("lighting"), Some(0)));
        let id = created["id"].as_i64().unwrap();
        assert!(app.get_html("/categories", 200).await.contains("Lighting"));
        let (status, body) = send(&app, reqwest::Method::PATCH, &format!("/api/categories/{id}/"), Some(&token), Some(json!({"name": "Lamps & Lighting"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let doc = scraper::Html::parse_document(&app.get_html("/categories", 200).await);
        let names: Vec<String> = doc.select(&scraper::Selector::parse(".category-name").unwrap()).map(|e| e.text().collect()).collect();
        assert!(names.contains(&"Lamps & Lighting".to_owned()), "{names:?}");
        let (status, _) = send(&app, reqwest::Method::POST, "/api/categories/", Some(&token), Some(json!({"name": "Other", "slug": "books"}))).await;
        assert_eq!(status, StatusCode::CONFLICT);
        let books = app.fixture.category("books").id;
        let (status, body) = send(&app, reqwest::Method::DELETE, &format!("/api/categories/{books}/"), Some(&token), None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body["errors"]["category"].is_array());
        let (status, _) = send(&app, reqwest::Method::DELETE, &format!("/api/categories/{id}/"), Some(&token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        app.get_json(&format!("/api/categories/{id}/"), 404).await;
    }

    async fn a_revoked_token_stops_working(app: TestApp) {
        let user = app.create_user("root@example.com", "root password", true).await;
        let (id, token) = tokens::create(&app.db, user.id).await.unwrap();
        let p = app.fixture.product("Laptop Sleeve").id;
        let (status, _) = send(&app, reqwest::Method::PATCH, &format!("/api/products/{p}/"), Some(&token), Some(json!({"stock": 2}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(tokens::revoke(&app.db, id).await.unwrap());
        let (status, _) = send(&app, reqwest::Method::PATCH, &format!("/api/products/{p}/"), Some(&token), Some(json!({"stock": 3}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    async fn the_document_describes_the_writes(app: TestApp) {
        let doc = app.get_json("/api/openapi.json", 200).await;
        for (path, methods) in [("/api/products/", &["get", "post"][..]), ("/api/products/{id}/", &["get", "put", "patch", "delete"][..]),
                                ("/api/categories/", &["get", "post"][..]), ("/api/categories/{id}/", &["get", "put", "patch", "delete"][..])] {
            for m in methods {
                assert!(doc["paths"][path][m].is_object(), "{m} {path} is documented");
            }
        }
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let token = token_for(&app, "root@example.com", true).await;
        let computers = app.fixture.category("computers").id;
        let (_, created) = send(&app, reqwest::Method::POST, "/api/products/", Some(&token), Some(new_product(computers))).await;
        assert_conforms_to(&doc, "/api/products/", "post", 201, &created);
        let (_, invalid) = send(&app, reqwest::Method::POST, "/api/products/", Some(&token), Some(json!({}))).await;
        assert_conforms_to(&doc, "/api/products/", "post", 400, &invalid);
    }

    // A category deleted while products are added to it, all released at
    // once: the delete and each create either succeed or are refused in the
    // API's words, never a 500, and no product is left in a category that
    // is gone (the rules hold under the write's locks).
    async fn a_category_deleted_while_products_are_added_stays_consistent(app: TestApp) {
        let token = token_for(&app, "root@example.com", true).await;
        let (status, lamps) = send(&app, reqwest::Method::POST, "/api/categories/", Some(&token), Some(json!({"name": "Lamps"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{lamps}");
        let id = lamps["id"].as_i64().unwrap();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(9));
        let creates = (0..8).map(|n| {
            let (client, barrier, token) = (app.client.clone(), barrier.clone(), token.clone());
            let url = app.url("/api/products/");
            let body = json!({"name": format!("Brass Lamp {n}"), "price": "10", "stock": 1, "category_id": id});
            tokio::spawn(async move {
                barrier.wait().await;
                client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status()
            })
        });
        let creates: Vec<_> = creates.collect();
        let delete = {
            let (client, barrier, token) = (app.client.clone(), barrier.clone(), token.clone());
            let url = app.url(&format!("/api/categories/{id}/"));
            tokio::spawn(async move {
                barrier.wait().await;
                client.delete(url).bearer_auth(token).send().await.unwrap().status()
            })
        };
        let created: Vec<StatusCode> =
            futures_util::future::join_all(creates).await.into_iter().map(Result::unwrap).collect();
        let deleted = delete.await.unwrap();
        assert!(created.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::BAD_REQUEST), "{created:?}");
        let made = created.iter().filter(|s| **s == StatusCode::CREATED).count() as u64;
        match deleted {
            StatusCode::NO_CONTENT => {
                assert_eq!(made, 0, "a product was created in a category that was deleted: {created:?}");
                app.get_json(&format!("/api/categories/{id}/"), 404).await;
            }
            StatusCode::CONFLICT => {
                assert!(made > 0, "the delete was refused with no products: {created:?}");
                let category = app.get_json(&format!("/api/categories/{id}/"), 200).await;
                assert_eq!(category["product_count"], made, "{created:?}");
            }
            other => panic!("the delete answered {other}; creates: {created:?}"),
        }
    }
}

#[test]
fn token_create_prints_a_working_token_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(TestDatabase::create());
    let env = [("DATABASE_URL", db.url.as_str()), ("STOREFRONT_PASSWORD", "admin password")];
    let out = storefront(&env, &["user", "create", "--email", "ops@example.com", "--admin"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = storefront(&env, &["token", "create", "--email", "ops@example.com"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let token = stdout.lines().find(|l| l.starts_with("sft_")).expect("the token").to_owned();
    let out = storefront(&env, &["token", "create", "--email", "nobody@example.com"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let served = serve(&env, &["serve"]);
    rt.block_on(async {
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{}/api/categories/", served.address))
            .bearer_auth(&token)
            .json(&json!({"name": "Tools"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    });
}
