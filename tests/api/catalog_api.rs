//! The JSON API: the seed's URLs and shapes, every filter against the oracle,
//! pagination, and every kind of bad input.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::oracle::Expect;

fn ids(results: &[Value]) -> Vec<i32> {
    results.iter().map(|p| p["id"].as_i64().expect("id") as i32).collect()
}

/// Builds a query string from the oracle's parameters, in the API's names.
fn api_query(e: &Expect, page_size: Option<u32>) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = e.search {
        ser.append_pair("search", s);
    }
    if let Some(s) = e.category_slug {
        ser.append_pair("category", s);
    }
    if let Some(id) = e.category_id {
        ser.append_pair("category__id", &id.to_string());
    }
    if let Some(m) = e.min_cents {
        ser.append_pair("min_price", &format!("{}.{:02}", m / 100, m % 100));
    }
    if let Some(m) = e.max_cents {
        ser.append_pair("max_price", &format!("{}.{:02}", m / 100, m % 100));
    }
    if e.in_stock {
        ser.append_pair("in_stock", "true");
    }
    if !e.ordering.is_empty() {
        ser.append_pair("ordering", e.ordering);
    }
    if let Some(n) = page_size {
        ser.append_pair("page_size", &n.to_string());
    }
    ser.finish()
}

on_both_backends! {
    async fn lists_products_newest_first_in_the_seeds_shape(app: TestApp) {
        let body = app.get_json("/api/products/", 200).await;
        let expected = Expect::default().ids(&app.fixture);
        assert_eq!(body["count"], expected.len());
        assert_eq!(body["previous"], Value::Null);
        assert_eq!(body["next"], app.url("/api/products/?page=2"));
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), 20);
        assert_eq!(ids(results), expected[..20]);

        let first = &results[0];
        let p = app.fixture.products.iter().find(|p| i64::from(p.id) == first["id"].as_i64().unwrap()).unwrap();
        let c = app.fixture.category(p.category);
        assert_eq!(first["name"], p.name);
        assert_eq!(first["slug"], p.slug);
        assert_eq!(first["description"], p.description);
        assert_eq!(first["price"], format!("{}.{:02}", p.cents / 100, p.cents % 100));
        assert_eq!(first["stock"], p.stock);
        assert_eq!(first["is_active"], true);
        let category = serde_json::json!({"id": c.id, "name": c.name, "slug": c.slug, "description": c.description});
        assert_eq!(first["category"], category);
        let created = chrono::DateTime::parse_from_rfc3339(first["created_at"].as_str().unwrap()).unwrap();
        assert_eq!(created, p.created_at);
        assert!(chrono::DateTime::parse_from_rfc3339(first["updated_at"].as_str().unwrap()).is_ok());
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 10, "{keys:?}");
    }

    async fn the_seeds_own_urls_work_unchanged(app: TestApp) {
        let computers = app.fixture.category("computers").id;
        let body = app.get_json(&format!("/api/products/?category__id={computers}&ordering=price"), 200).await;
        let expect = Expect { category_id: Some(computers), ordering: "price", ..Default::default() };
        assert_eq!(ids(body["results"].as_array().unwrap()), expect.ids(&app.fixture)[..20]);

        let body = app.get_json("/api/products/?search=laptop&page=2", 200).await;
        let expect = Expect { search: Some("laptop"), ..Default::default() }.ids(&app.fixture);
        assert!(expect.len() > 20, "the fixture must give search=laptop a second page");
        assert_eq!(body["count"], expect.len());
        assert_eq!(ids(body["results"].as_array().unwrap()), expect[20..expect.len().min(40)]);
        assert_eq!(body["previous"], app.url("/api/products/?search=laptop"));
    }

    async fn every_filter_and_ordering_matches_the_oracle(app: TestApp) {
        let computers = app.fixture.category("computers").id;
        let books = app.fixture.category("books").id;
        let cases = [
            Expect::default(),
            Expect { search: Some("laptop"), ..Default::default() },
            Expect { search: Some("LAPTOP guide"), ..Default::default() },
            Expect { search: Some("  aluminium   stand "), ordering: "-price", ..Default::default() },
            Expect { search: Some("steel"), ordering: "name", ..Default::default() },
            Expect { search: Some("nothing-matches-this"), ..Default::default() },
            Expect { category_slug: Some("books"), ordering: "-name", ..Default::default() },
            Expect { category_slug: Some("garden"), ..Default::default() },
            Expect { category_slug: Some("no-such-category"), ..Default::default() },
            Expect { category_id: Some(computers), ordering: "price", ..Default::default() },
            Expect { category_id: Some(books), search: Some("laptop"), ..Default::default() },
            Expect { category_id: Some(computers), category_slug: Some("books"), ..Default::default() },
            Expect { min_cents: Some(2000), ..Default::default() },
            Expect { max_cents: Some(1999), ordering: "price", ..Default::default() },
            Expect { min_cents: Some(2950), max_cents: Some(2950), ..Default::default() },
            Expect { min_cents: Some(1500), max_cents: Some(4000), in_stock: true, ordering: "-price", ..Default::default() },
            Expect { in_stock: true, ordering: "created_at", ..Default::default() },
            Expect { in_stock: true, search: Some("laptop"), category_slug: Some("computers"), min_cents: Some(1000), max_cents: Some(100000), ordering: "-created_at", ..Default::default() },
        ];
        for case in &cases {
            for page_size in [None, Some(7), Some(100)] {
                let qs = api_query(case, page_size);
                let got = ids(&app.all_pages(&format!("/api/products/?{qs}")).await);
                assert_eq!(got, case.ids(&app.fixture), "?{qs}");
            }
        }
    }

    async fn search_terms_match_literally_and_ignore_case(app: TestApp) {
        let cookbook = app.fixture.product("50% Off Cookbook").id;
        for q in ["50%", "discount_code", "50% cookbook", "DISCOUNT_CODE"] {
            let body = app.get_json(&format!("/api/products/?search={}", urlencode(q)), 200).await;
            assert_eq!(ids(body["results"].as_array().unwrap()), [cookbook], "search={q}");
        }
        // `_` and `%` are not wildcards: "5_%" would match "50%" if they were.
        let body = app.get_json("/api/products/?search=5_%25", 200).await;
        assert_eq!(body["count"], 0);
    }

    async fn a_term_inside_another_term_adds_nothing(app: TestApp) {
        app.add_product("garden", "Desk Lamp", "A lamp for one desk", 3).await;
        let (twin, _) = app.add_product("garden", "Twin Lamps", "Two lamps on one base", 3).await;
        let r = app.get("/api/products/?search=lamps").await;
        assert_eq!(r.headers()["x-cache"], "MISS");
        let lamps: Value = r.json().await.unwrap();
        assert_eq!(ids(lamps["results"].as_array().unwrap()), [twin]);
        for spelling in ["lamp+lamps", "lamps+lamp", "LAMPS+amp+lamp+lamps"] {
            let r = app.get(&format!("/api/products/?search={spelling}")).await;
            assert_eq!(r.headers()["x-cache"], "HIT", "search={spelling} is the search for lamps");
            assert_eq!(r.json::<Value>().await.unwrap(), lamps, "search={spelling}");
        }
        // The pages read words, not substrings (see `domain::shopper`): both
        // words stay, and the stemmer makes them one.
        let html = app.get_html("/products?q=lamp+lamps", 200).await;
        let doc = scraper::Html::parse_document(&html);
        let q = scraper::Selector::parse(".filter-form input[name=q]").unwrap();
        assert_eq!(doc.select(&q).next().and_then(|e| e.value().attr("value")), Some("lamp lamps"));
    }

    async fn more_than_eight_different_search_terms_are_a_400_naming_search(app: TestApp) {
        let eight = "one two three four five six seven eight";
        app.get_json(&format!("/api/products/?search={}", urlencode(eight)), 200).await;
        // Repeated and contained terms are not counted.
        app.get_json(&format!("/api/products/?search={}", urlencode(&format!("{eight} ONE eigh t two"))), 200).await;
        let body = app.get_json(&format!("/api/products/?search={}", urlencode(&format!("{eight} nine"))), 400).await;
        assert_eq!(
            body,
            serde_json::json!({"detail": "Invalid input.", "errors": {"search": ["Ensure this value has at most 8 different words."]}})
        );
    }

    async fn inactive_products_are_invisible(app: TestApp) {
        let hidden = app.fixture.product("Hidden Laptop");
        app.get_product_json(hidden.id, 404).await;
        let all = app.all_pages("/api/products/?page_size=100").await;
        assert!(!ids(&all).contains(&hidden.id));
        assert_eq!(all.len(), app.fixture.active().count());
        let computers = app.fixture.category("computers");
        let body = app.get_json(&format!("/api/categories/{}/", computers.id), 200).await;
        let active_in_computers = app.fixture.active().filter(|p| p.category == "computers").count();
        assert_eq!(body["product_count"], active_in_computers);
    }

    async fn product_detail_answers_by_id_with_or_without_trailing_slash(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13");
        for path in [format!("/api/products/{}/", p.id), format!("/api/products/{}", p.id)] {
            let body = app.get_json(&path, 200).await;
            assert_eq!(body["id"], p.id);
            assert_eq!(body["price"], "999.00");
            assert_eq!(body["category"]["slug"], "computers");
        }
        let body = app.get_json("/api/products/999999/", 404).await;
        assert_eq!(body["detail"], "No Product matches the given query.");
        for path in ["/api/products", "/api/categories"] {
            let with = app.get_json(&format!("{path}/"), 200).await;
            let without = app.get_json(path, 200).await;
            assert_eq!(with["count"], without["count"]);
        }
    }

    async fn categories_are_listed_by_name_with_active_counts(app: TestApp) {
        let body = app.get_json("/api/categories/", 200).await;
        assert_eq!(body["count"], 3);
        assert_eq!(body["next"], Value::Null);
        let names: Vec<&str> = body["results"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Books", "Computers", "Garden"]);
        for c in body["results"].as_array().unwrap() {
            let slug = c["slug"].as_str().unwrap();
            let expected = app.fixture.active().filter(|p| p.category == slug).count();
            assert_eq!(c["product_count"], expected, "{slug}");
            let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["description", "id", "name", "product_count", "slug"]);
        }
        let garden = app.fixture.category("garden");
        let body = app.get_json(&format!("/api/categories/{}", garden.id), 200).await;
        assert_eq!(body["product_count"], 0);
        assert_eq!(body["description"], "Nothing here yet");
        app.get_json("/api/categories/424242/", 404).await;

        let page2 = app.get_json("/api/categories/?page_size=1&page=2", 200).await;
        assert_eq!(page2["results"][0]["name"], "Computers");
        assert_eq!(page2["previous"], app.url("/api/categories/?page_size=1"));
        assert_eq!(page2["next"], app.url("/api/categories/?page=3&page_size=1"));
        let body = app.get_json("/api/categories/?page=4&page_size=1", 404).await;
        assert_eq!(body["detail"], "Invalid page.");
    }

    async fn pagination_edges(app: TestApp) {
        let total = app.fixture.active().count();
        let last = total.div_ceil(20);
        let body = app.get_json(&format!("/api/products/?page={last}"), 200).await;
        assert_eq!(body["next"], Value::Null);
        assert_eq!(body["results"].as_array().unwrap().len(), total - (last - 1) * 20);
        assert_eq!(body["previous"], app.url(&format!("/api/products/?page={}", last - 1)));

        let body = app.get_json(&format!("/api/products/?page={}", last + 1), 404).await;
        assert_eq!(body, serde_json::json!({"detail": "Invalid page."}));

        // An empty result still has a first page.
        let body = app.get_json("/api/products/?search=zzzz-nothing", 200).await;
        assert_eq!(body, serde_json::json!({"count": 0, "next": null, "previous": null, "results": []}));
        app.get_json("/api/products/?search=zzzz-nothing&page=2", 404).await;

        // page_size at both ends of its range.
        let body = app.get_json("/api/products/?page_size=1", 200).await;
        assert_eq!(body["results"].as_array().unwrap().len(), 1);
        assert_eq!(body["next"], app.url("/api/products/?page=2&page_size=1"));
        let body = app.get_json("/api/products/?page_size=100", 200).await;
        assert_eq!(body["results"].as_array().unwrap().len(), total.min(100));
    }

    async fn a_page_number_too_large_for_any_listing_is_an_invalid_page(app: TestApp) {
        for path in ["/api/products/?page=99999999999", "/api/products/?search=laptop&page=4294967296", "/api/categories/?page=99999999999"] {
            let body = app.get_json(path, 404).await;
            assert_eq!(body, serde_json::json!({"detail": "Invalid page."}), "{path}");
        }
        // Another parameter's error is still that parameter's, in its words.
        let body = app.get_json("/api/products/?page=99999999999&page_size=101", 400).await;
        assert_eq!(
            body,
            serde_json::json!({"detail": "Invalid input.", "errors": {"page_size": ["Ensure this value is less than or equal to 100."]}})
        );
        let body = app.get_json("/api/products/?page=0", 400).await;
        assert_eq!(body["errors"]["page"], serde_json::json!(["Ensure this value is greater than or equal to 1."]));
    }

    async fn unknown_and_repeated_parameters(app: TestApp) {
        let plain = app.get_json("/api/products/?ordering=price", 200).await;
        let noisy = app.get_json("/api/products/?ordering=price&utm_source=x&foo=%FF&page=1", 200).await;
        assert_eq!(plain["results"], noisy["results"]);
        // The last of a repeated parameter wins, as in Django.
        let repeated = app.get_json("/api/products/?ordering=-name&ordering=price", 200).await;
        assert_eq!(plain["results"], repeated["results"]);
        // Blank values are absent values.
        let blank = app.get_json("/api/products/?search=&min_price=&ordering=price", 200).await;
        assert_eq!(plain["results"], blank["results"]);
    }

    async fn bad_input_is_a_400_naming_each_parameter(app: TestApp) {
        let long = "a".repeat(201);
        let cases: Vec<(String, Vec<&str>)> = vec![
            ("page=abc".into(), vec!["page"]),
            ("page=0".into(), vec!["page"]),
            ("page=-1".into(), vec!["page"]),
            ("page=1.5".into(), vec!["page"]),
            ("ordering=colour".into(), vec!["ordering"]),
            ("ordering=newest".into(), vec!["ordering"]),
            ("min_price=-1".into(), vec!["min_price"]),
            ("max_price=abc".into(), vec!["max_price"]),
            ("min_price=1.999".into(), vec!["min_price"]),
            ("min_price=NaN".into(), vec!["min_price"]),
            ("min_price=20&max_price=10".into(), vec!["min_price"]),
            (format!("search={long}"), vec!["search"]),
            ("page_size=101".into(), vec!["page_size"]),
            ("page_size=0".into(), vec!["page_size"]),
            ("category__id=abc".into(), vec!["category__id"]),
            ("category=Not%20A%20Slug".into(), vec!["category"]),
            ("in_stock=maybe".into(), vec!["in_stock"]),
            ("page=x&ordering=y&min_price=z".into(), vec!["min_price", "ordering", "page"]),
        ];
        for (qs, params) in cases {
            let body = app.get_json(&format!("/api/products/?{qs}"), 400).await;
            assert_eq!(body["detail"], "Invalid input.", "?{qs}");
            let errors = body["errors"].as_object().unwrap_or_else(|| panic!("?{qs}: {body}"));
            let keys: Vec<&str> = errors.keys().map(String::as_str).collect();
            assert_eq!(keys, params, "?{qs}");
            for messages in errors.values() {
                assert!(!messages.as_array().unwrap().is_empty(), "?{qs}");
                assert!(messages[0].as_str().unwrap().len() > 5, "?{qs}");
            }
        }
        let body = app.get_json(&format!("/api/products/?search={}", "a".repeat(200)), 200).await;
        assert_eq!(body["count"], 0);

        // An id no row can have is answered as one nothing has, as DRF does.
        for path in ["/api/products/abc/", "/api/products/0/", "/api/products/-3", "/api/categories/99999999999/"] {
            let body = app.get_json(path, 404).await;
            let model = if path.contains("products") { "Product" } else { "Category" };
            assert_eq!(body, serde_json::json!({"detail": format!("No {model} matches the given query.")}), "{path}");
        }
        // A dot starts a format suffix, and `5` is no format.
        assert_eq!(app.get_json("/api/categories/1.5/", 404).await, serde_json::json!({"detail": "Not found."}));
        let body = app.get_json("/api/categories/?page_size=abc", 400).await;
        assert!(body["errors"]["page_size"].is_array());
        let body = app.get_json("/api/no-such-endpoint/", 404).await;
        assert_eq!(body["detail"], "Not found.");
    }

    async fn next_links_use_the_configured_public_origin(app: TestApp) {
        // Links come from configuration, never from the Host header, so a
        // response can be shared between clients that use different names.
        let response = app
            .client
            .get(app.url("/api/products/"))
            .header("host", "evil.example")
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["next"], app.url("/api/products/?page=2"));
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
