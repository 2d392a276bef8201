//! The cache under orders: an order retires only what shows what it
//! changed. Listings that show the product's band stay cached while the
//! band holds; the API entries that list its exact stock do not; every
//! page is exact on the next request after the order's 201.

use reqwest::StatusCode;
use scraper::{Html, Selector};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::api::token_for;
use crate::support::cache::x_cache;

async fn order(app: &TestApp, product: i32, quantity: u32) -> Value {
    let body = json!({
        "email": "buyer@example.com",
        "shipping": {"name": "B", "line1": "1 Road", "city": "Oslo", "postal_code": "0150", "country": "NO"},
        "lines": [{"product_id": product, "quantity": quantity}],
    });
    let response = app.client.post(app.url("/api/orders/")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "the order is placed");
    response.json().await.unwrap()
}

/// What the card of product `name` on listing `path` says of its stock.
async fn band_on(app: &TestApp, path: &str, name: &str) -> Option<String> {
    let html = app.get_html(path, 200).await;
    let doc = Html::parse_document(&html);
    let card = Selector::parse("li.product-card").unwrap();
    let title = Selector::parse(".product-name").unwrap();
    let stock = Selector::parse(".stock").unwrap();
    doc.select(&card)
        .find(|c| c.select(&title).any(|t| t.text().collect::<String>() == name))
        .and_then(|c| c.select(&stock).next())
        .map(|s| s.text().collect::<String>().trim().to_owned())
}

fn api_stock(list: &Value, id: i32) -> Option<i64> {
    list["results"].as_array()?.iter().find(|p| p["id"] == id).and_then(|p| p["stock"].as_i64())
}

on_both_backends! {
    async fn an_order_that_leaves_the_band_alone_retires_no_listing(app: TestApp) {
        // The newest product: first on every default listing of its category.
        let (id, slug) = app.add_product("computers", "Popular Lamp", "Sells all day", 63).await;
        let untouched = [
            "/", "/products", "/products?page=2", "/categories/computers", "/categories/computers?in_stock=1",
            "/categories/books", "/categories", "/api/categories/", "/api/products/?category=books",
            "/api/products/?in_stock=true&category=books",
        ];
        for path in untouched.iter().chain(["/api/products/", &format!("/products/{slug}")].iter()) {
            app.get(path).await;
            assert_eq!(x_cache(&app, path).await, "HIT", "{path} is cached before the order");
        }
        order(&app, id, 1).await;
        for path in untouched {
            assert_eq!(x_cache(&app, path).await, "HIT", "{path} shows nothing the order changed");
        }
        assert_eq!(band_on(&app, "/products", "Popular Lamp").await.as_deref(), Some("In stock"));
        // What shows the exact count changed, at once.
        let list = app.get_json("/api/products/", 200).await;
        assert_eq!(api_stock(&list, id), Some(62), "the API list holding it shows its stock");
        assert_eq!(app.get_product_json(id, 200).await["stock"], 62);
        assert!(app.get_product_page(&slug, 200).await.contains("62 available"));
        // A list that does not hold it stayed; one that does was refilled.
        assert_eq!(x_cache(&app, "/api/products/?category=books").await, "HIT");
    }

    async fn a_band_change_reaches_the_listings_that_show_the_product(app: TestApp) {
        let (id, slug) = app.add_product("computers", "Scarce Lamp", "Few left", 6).await;
        let admin = token_for(&app, "root@example.com", true).await;
        for path in ["/products", "/categories/computers", "/products?in_stock=1", "/api/products/?in_stock=true", "/categories/books"] {
            app.get(path).await;
        }
        assert_eq!(band_on(&app, "/products", "Scarce Lamp").await.as_deref(), Some("In stock"));
        order(&app, id, 1).await;
        assert_eq!(band_on(&app, "/products", "Scarce Lamp").await.as_deref(), Some("Only 5 left"));
        assert_eq!(band_on(&app, "/categories/computers", "Scarce Lamp").await.as_deref(), Some("Only 5 left"));
        assert_eq!(x_cache(&app, "/categories/books").await, "HIT", "it is not on the books page");
        // Sold out: the band says so, and the in-stock lists drop it.
        let placed = order(&app, id, 5).await;
        assert_eq!(band_on(&app, "/products", "Scarce Lamp").await.as_deref(), Some("Sold out"));
        assert_eq!(band_on(&app, "/products?in_stock=1", "Scarce Lamp").await, None);
        let in_stock = app.get_json("/api/products/?in_stock=true", 200).await;
        assert_eq!(api_stock(&in_stock, id), None, "{in_stock}");
        assert!(app.get_product_page(&slug, 200).await.contains("Out of stock"));
        // Cancelled: restocked, and back in every list.
        let number = placed["number"].as_str().unwrap();
        let r = app.client.patch(app.url(&format!("/api/orders/{number}/"))).bearer_auth(&admin).json(&json!({"status": "cancelled"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(band_on(&app, "/products", "Scarce Lamp").await.as_deref(), Some("Only 5 left"));
        assert_eq!(band_on(&app, "/products?in_stock=1", "Scarce Lamp").await.as_deref(), Some("Only 5 left"));
        let in_stock = app.get_json("/api/products/?in_stock=true", 200).await;
        assert_eq!(api_stock(&in_stock, id), Some(5));
    }

    async fn an_admin_price_change_keeps_the_category_counts_cached(app: TestApp) {
        let admin = token_for(&app, "root@example.com", true).await;
        let p = app.fixture.product("Mechanical Keyboard").clone();
        for path in ["/api/categories/", "/categories"] {
            app.get(path).await;
        }
        let r = app.api_patch_product(&admin, p.id, &json!({"price": "77.00"})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(x_cache(&app, "/api/categories/").await, "HIT", "a price is not a count");
        assert_eq!(x_cache(&app, "/categories").await, "HIT");
        // A stock edit alone is retired like an order's.
        app.get("/products").await;
        let r = app.api_patch_product(&admin, p.id, &json!({"stock": 11})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(x_cache(&app, "/products").await, "HIT", "12 -> 11 keeps the band");
        assert_eq!(app.get_product_json(p.id, 200).await["stock"], 11);
        // Hiding it changes the counts.
        let r = app.api_patch_product(&admin, p.id, &json!({"is_active": false})).await;
        assert_eq!(r.status(), 200);
        assert_ne!(x_cache(&app, "/api/categories/").await, "HIT");
    }

    async fn a_price_change_retires_only_the_listings_that_can_show_the_product(app: TestApp) {
        let admin = token_for(&app, "root@example.com", true).await;
        let p = app.fixture.product("Mechanical Keyboard").clone();
        let books = app.fixture.category("books").id;
        let garden = app.fixture.category("garden").id;
        let elsewhere = [
            "/categories/books".to_owned(),
            "/categories/books?sort=-price".to_owned(),
            format!("/api/products/?category__id={books}&ordering=price"),
        ];
        // `/products?category=books` is among them: its listing holds books
        // only, but its facets count every category's products.
        let holding = [
            "/products",
            "/products?q=keyboard",
            "/products?category=books",
            "/categories/computers",
            "/api/products/?ordering=price",
        ];
        let holding_by_id = format!("/api/products/?category__id={}&ordering=price", p.category_id);
        for path in elsewhere.iter().map(String::as_str).chain(holding).chain([holding_by_id.as_str()]) {
            app.get(path).await;
            assert_eq!(x_cache(&app, path).await, "HIT", "{path} is cached before the edit");
        }
        let r = app.api_patch_product(&admin, p.id, &json!({"price": "1.50"})).await;
        assert_eq!(r.status(), 200);
        for path in &elsewhere {
            assert_eq!(x_cache(&app, path).await, "HIT", "{path} never held the keyboard");
        }
        for path in holding.iter().copied().chain([holding_by_id.as_str()]) {
            assert_ne!(x_cache(&app, path).await, "HIT", "{path} can show the keyboard");
        }
        let cheapest = app.get_json(&format!("/api/products/?category__id={}&ordering=price", p.category_id), 200).await;
        assert_eq!(cheapest["results"][0]["id"], p.id, "refilled with the new price: {cheapest}");
        // Moving it reaches both its old and its new category's listings.
        let garden_page = "/categories/garden";
        app.get(garden_page).await;
        app.get("/categories/computers").await;
        let r = app.api_patch_product(&admin, p.id, &json!({"category_id": garden})).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert!(app.get_html(garden_page, 200).await.contains("Mechanical Keyboard"), "in its new category at once");
        assert!(!app.get_html("/categories/computers", 200).await.contains("Mechanical Keyboard"), "gone from the old");
        // The move changes the counts every category page shows, but no
        // other category's product list.
        let books_by_id = format!("/api/products/?category__id={books}&ordering=price");
        assert_eq!(x_cache(&app, &books_by_id).await, "HIT", "books never held it");
    }

    async fn availability_is_exact_on_another_instance_after_the_order(app: TestApp) {
        let other = app.second_instance().await;
        let (id, slug) = app.add_product("computers", "Shared Lamp", "", 2).await;
        for instance in [&app, &other] {
            instance.get("/products").await;
            instance.get_product_page(&slug, 200).await;
            instance.get_product_json(id, 200).await;
        }
        order(&app, id, 2).await;
        let started = std::time::Instant::now();
        // As soon as Redis's push reaches the other instance's in-process
        // layer (the soak checks this under load, request by request).
        while other.get_product_json(id, 200).await["stock"] != 0 {
            assert!(started.elapsed() < std::time::Duration::from_secs(1), "the order never reached the other instance");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(band_on(&other, "/products", "Shared Lamp").await.as_deref(), Some("Sold out"));
        assert!(other.get_product_page(&slug, 200).await.contains("Out of stock"));
    }
}
