//! The OpenAPI document tells the truth: every served response validates
//! against the schema it documents, and every documented parameter is one the
//! API accepts.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::api::token_for;
use crate::support::openapi::assert_conforms_to;

/// Validates `instance` against the response schema the document gives for
/// `path` (as documented, e.g. `/api/products/{id}/`) and `status`.
fn assert_conforms(doc: &Value, path: &str, status: u16, instance: &Value) {
    assert_conforms_to(doc, path, "get", status, instance)
}

on_both_backends! {
    async fn served_responses_match_the_document(app: TestApp) {
        let doc = app.get_json("/api/openapi.json", 200).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let product = app.fixture.product("Steel Laptop 13").id;
        let category = app.fixture.category("books").id;
        let cases: Vec<(&str, String, u16)> = vec![
            ("/api/products/", "/api/products/".into(), 200),
            ("/api/products/", "/api/products/?search=laptop&page=2".into(), 200),
            ("/api/products/", "/api/products/?search=nothing-at-all".into(), 200),
            ("/api/products/", "/api/products/?page=abc&ordering=x".into(), 400),
            ("/api/products/", "/api/products/?page=50".into(), 404),
            ("/api/products/{id}/", format!("/api/products/{product}/"), 200),
            ("/api/products/{id}/", "/api/products/x/".into(), 404),
            ("/api/products/{id}/", "/api/products/987654/".into(), 404),
            ("/api/categories/", "/api/categories/".into(), 200),
            ("/api/categories/", "/api/categories/?page_size=0".into(), 400),
            ("/api/categories/", "/api/categories/?page=9".into(), 404),
            ("/api/categories/{id}/", format!("/api/categories/{category}/"), 200),
            ("/api/categories/{id}/", "/api/categories/abc/".into(), 404),
            ("/api/categories/{id}/", "/api/categories/987654/".into(), 404),
            ("/api/orders/{number}/", "/api/orders/SF-0000000000/".into(), 401),
            ("/api/orders/", "/api/orders/".into(), 401),
            ("/api/", "/api/".into(), 200),
            ("/api/", "/api/?format=xml".into(), 404),
            ("/api/products.json", "/api/products.json?page=2".into(), 200),
            ("/api/products/{id}.json", format!("/api/products/{product}.json"), 200),
            ("/api/products/{id}.json", "/api/products/987654.json".into(), 404),
            ("/api/products/{id}/", format!("/api/products/{product}/?format=api"), 404),
            ("/api/categories.json", "/api/categories.json".into(), 200),
            ("/api/categories/{id}.json", format!("/api/categories/{category}.json/"), 200),
        ];
        for (documented, url, status) in cases {
            let body = app.get_json(&url, status).await;
            assert_conforms(&doc, documented, status, &body);
        }
        // Every documented path is served.
        let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
        let served = [
            "/api/",
            "/api/categories.json",
            "/api/categories/",
            "/api/categories/{id}.json",
            "/api/categories/{id}/",
            "/api/orders.json",
            "/api/orders/",
            "/api/orders/{number}.json",
            "/api/orders/{number}/",
            "/api/products.json",
            "/api/products/",
            "/api/products/{id}.json",
            "/api/products/{id}/",
            "/api/products/{id}/images.json",
            "/api/products/{id}/images/",
            "/api/products/{id}/images/{image_id}.json",
            "/api/products/{id}/images/{image_id}/",
        ];
        assert_eq!(paths, served);
        // A suffix form is its plain path's twin, less the `format` it overrides.
        let twins = [("/api/products/", "/api/products.json"), ("/api/orders/{number}/", "/api/orders/{number}.json")];
        for (plain, suffixed) in twins {
            let (plain, suffixed) = (&doc["paths"][plain], &doc["paths"][suffixed]);
            let methods: Vec<&String> = plain.as_object().unwrap().keys().collect();
            assert_eq!(methods, suffixed.as_object().unwrap().keys().collect::<Vec<_>>());
            for method in methods {
                let (p, s) = (&plain[method], &suffixed[method]);
                assert_eq!(p["responses"], s["responses"], "{method}");
                assert_eq!(s["operationId"], format!("{}_json", p["operationId"].as_str().unwrap()), "{method}");
                let names = |op: &Value| -> Vec<String> {
                    let parameters = op["parameters"].as_array().into_iter().flatten();
                    parameters.map(|p| p["name"].as_str().unwrap().to_owned()).collect()
                };
                let mut expected = names(p);
                expected.retain(|n| n != "format");
                assert_eq!(names(s), expected, "{method}");
                assert!(names(p).contains(&"format".to_owned()), "{method}: the plain path takes `format`");
            }
        }
    }

    async fn every_documented_parameter_is_accepted(app: TestApp) {
        let doc = app.get_json("/api/openapi.json", 200).await;
        for path in ["/api/products/", "/api/categories/"] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            assert!(!params.is_empty());
            for p in params {
                assert_eq!(p["in"], "query");
                let name = p["name"].as_str().unwrap();
                let schema = &p["schema"];
                // A valid value from the schema: its example, first enum value, or minimum.
                let value = match (&p["example"], schema["enum"].get(0), schema["minimum"].as_i64()) {
                    (Value::String(s), _, _) => s.clone(),
                    (_, Some(Value::String(s)), _) => s.clone(),
                    (_, _, Some(min)) => min.to_string(),
                    _ => match schema["type"].as_str().or_else(|| schema["type"][0].as_str()) {
                        Some("boolean") => "true".to_owned(),
                        Some("integer") => "1".to_owned(),
                        _ => "laptop".to_owned(),
                    },
                };
                let url = format!("{path}?{name}={value}");
                let response = app.get(&url).await;
                assert_eq!(response.status(), 200, "{url}: {}", response.text().await.unwrap());
            }
        }
        // The documented orderings are the accepted ones: the pattern names
        // each field, and each field alone or with others is accepted.
        let ordering = doc["paths"]["/api/products/"]["get"]["parameters"]
            .as_array().unwrap().iter().find(|p| p["name"] == "ordering").unwrap();
        let pattern = ordering["schema"]["pattern"].as_str().unwrap();
        for field in ["price", "name", "created_at"] {
            assert!(pattern.contains(field), "{pattern}");
            for value in [field.to_owned(), format!("-{field}"), format!("-{field},price,name,created_at")] {
                app.get_json(&format!("/api/products/?ordering={value}"), 200).await;
            }
        }
    }

    // What schemathesis found: each write answer conforms, and the server
    // refuses what the document forbids.
    async fn writes_keep_to_the_document(app: TestApp) {
        let doc = app.get_json("/api/openapi.json", 200).await;
        let token = token_for(&app, "root@example.com", true).await;
        let books = app.fixture.category("books").id;
        let send = |method: reqwest::Method, path: String, body: Option<Value>| {
            let mut request = app.client.request(method, app.url(&path)).bearer_auth(&token);
            if let Some(b) = body {
                request = request.json(&b);
            }
            async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
            }
        };
        // A DELETE with an id that is not a positive integer: a documented
        // 404, as for an id nothing has.
        for path in ["/api/products/{id}/", "/api/categories/{id}/"] {
            let url = path.replace("{id}", "2147483648");
            let (status, body) = send(reqwest::Method::DELETE, url, None).await;
            assert_eq!(status, 404, "{body}");
            assert_conforms_to(&doc, path, "delete", 404, &body);
        }
        // An unknown format on a write: a documented 404, before the body is read.
        let (status, body) = send(reqwest::Method::POST, "/api/products/?format=xml".into(), Some(json!({}))).await;
        assert_eq!(status, 404, "{body}");
        assert_conforms_to(&doc, "/api/products/", "post", 404, &body);
        // A body over the limit: a documented 413 in the API's shape.
        let huge = json!({ "name": "x".repeat(100 * 1024) });
        let (status, body) = send(reqwest::Method::POST, "/api/categories/".into(), Some(huge)).await;
        assert_eq!(status, 413, "{body}");
        assert_conforms_to(&doc, "/api/categories/", "post", 413, &body);
        // The same sent without a length (chunked): cut off while read.
        let chunks = futures_util::stream::iter(
            (0..100).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1024]))),
        );
        let r = app
            .client
            .post(app.url("/api/categories/"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunks))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        assert_conforms_to(&doc, "/api/categories/", "post", 413, &r.json::<Value>().await.unwrap());
        // serde reads a struct from an array too, by position: not in this API.
        let renamed = Some(json!(["Renamed"]));
        let (status, body) = send(reqwest::Method::PATCH, format!("/api/categories/{books}/"), renamed).await;
        assert_eq!((status, &body["errors"]["body"][0]), (400, &json!("Expected a JSON object.")));
        assert_eq!(app.get_json(&format!("/api/categories/{books}/"), 200).await["name"], "Books");
        // NUL, which the document's patterns exclude, was a 500 on PostgreSQL.
        let nul = json!({"name": "Lamps\u{0}", "description": "a\u{0}b"});
        let (status, body) = send(reqwest::Method::POST, "/api/categories/".into(), Some(nul)).await;
        assert_eq!(status, 400, "{body}");
        assert_conforms_to(&doc, "/api/categories/", "post", 400, &body);
        assert_eq!(body["errors"].as_object().unwrap().keys().collect::<Vec<_>>(), ["description", "name"]);
        let pattern = doc["components"]["schemas"]["CategoryInput"]["properties"]["name"]["pattern"].as_str();
        assert_eq!(pattern, Some("^[^\\x00]*$"));
        // POST documents exactly the fields the server reports missing.
        let (status, body) = send(reqwest::Method::POST, "/api/products/".into(), Some(json!({}))).await;
        assert_eq!(status, 400);
        let missing: Vec<&String> = body["errors"].as_object().unwrap().keys().collect();
        let mut required: Vec<&str> = doc["components"]["schemas"]["ProductInput"]["required"]
            .as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        required.sort();
        assert_eq!(missing, required);
        // A blank query value counts as absent, as every query parameter says.
        app.get_json("/api/categories/?page=&page_size=", 200).await;
        app.get_json("/api/products/?page=&category=&ordering=&in_stock=", 200).await;
        for path in ["/api/products/", "/api/categories/"] {
            for p in doc["paths"][path]["get"]["parameters"].as_array().unwrap() {
                assert_eq!(p["allowEmptyValue"], true, "{path} {}", p["name"]);
            }
        }
    }
}
