//! The admin: who may enter, validation, and edits that every public page
//! shows on the very next request.

use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::on_both_backends;
use crate::support::visitor::admin;
use crate::support::{TestApp, Visitor, csrf_in};

async fn shopper(app: &TestApp) -> Visitor {
    let v = Visitor::new(app);
    v.sign_up("shopper@example.com", "shopper password").await;
    v
}

fn field_errors(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse(".field-error, .form-error").unwrap()).map(|e| e.text().collect::<String>()).collect()
}

on_both_backends! {
    async fn only_admins_get_in(app: TestApp) {
        let p = app.fixture.product("Gaming Laptop").id;
        let c = app.fixture.category("garden").id;
        let gets = ["/admin".to_owned(), "/admin/products".to_owned(), "/admin/products?q=laptop".to_owned(), "/admin/products/new".to_owned(),
            format!("/admin/products/{p}/edit"), "/admin/categories".to_owned(), "/admin/categories/new".to_owned(), format!("/admin/categories/{c}/edit")];
        let posts = ["/admin/products".to_owned(), format!("/admin/products/{p}"), format!("/admin/products/{p}/delete"),
            "/admin/categories".to_owned(), format!("/admin/categories/{c}"), format!("/admin/categories/{c}/delete")];
        let anonymous = Visitor::new(&app);
        for path in &gets {
            let r = anonymous.get(path).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
            let expected = format!("/login?next={}", form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>());
            assert_eq!(r.headers()["location"], expected.as_str(), "{path}");
        }
        for path in &posts {
            assert_eq!(anonymous.post(path, &[("csrf", "x")]).await.status(), StatusCode::SEE_OTHER, "{path}");
        }
        let shopper = shopper(&app).await;
        for path in gets.iter().chain(&posts) {
            let r = if posts.contains(path) && !gets.contains(path) { shopper.post(path, &[("csrf", "x")]).await } else { shopper.get(path).await };
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        }
        let admin = admin(&app).await;
        for path in &gets {
            let r = admin.get(path).await;
            assert!(r.status() == StatusCode::OK || (path == "/admin" && r.status() == StatusCode::SEE_OTHER), "{path}: {}", r.status());
        }
        // Nothing changed through all that.
        assert_eq!(app.get_product_json(p, 200).await["price"], "1499.99");
    }

    async fn an_admin_edit_shows_everywhere_at_once(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13").clone();
        let public = [format!("/products/{}", p.slug), "/categories/computers".to_owned(), "/products?q=steel".to_owned(), format!("/api/products/{}/", p.id)];
        for path in &public {
            app.get(path).await;
            app.get(path).await;
        }
        let admin = admin(&app).await;
        let html = admin.page(&format!("/admin/products/{}/edit", p.id)).await;
        let csrf = csrf_in(&html);
        let computers = app.fixture.category("computers").id.to_string();
        let r = admin.post(&format!("/admin/products/{}", p.id), &[
            ("csrf", &csrf), ("name", "Steel Laptop 13"), ("slug", &p.slug), ("category_id", &computers),
            ("price", "888.88"), ("stock", "5"), ("description", &p.description), ("is_active", "1"),
        ]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()["location"], "/admin/products");
        assert!(admin.page("/admin/products").await.contains("Saved “Steel Laptop 13”."), "a flash message after the redirect");
        for path in &public {
            let body = app.get(path).await.text().await.unwrap();
            assert!(body.contains("888.88"), "{path} shows the new price");
        }
    }

    async fn forms_explain_what_is_wrong_and_keep_the_values(app: TestApp) {
        let admin = admin(&app).await;
        let csrf = csrf_in(&admin.page("/admin/products/new").await);
        let taken = app.fixture.product("Gaming Laptop").slug.clone();
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("name", ""), ("price", "1"), ("stock", "1")], "This field is required."),
            (vec![("name", "Lamp"), ("price", "1.999"), ("stock", "1")], "Ensure that there are no more than 2 decimal places."),
            (vec![("name", "Lamp"), ("price", "-1"), ("stock", "1")], "Ensure this value is greater than or equal to 0."),
            (vec![("name", "Lamp"), ("price", "1"), ("stock", "-3")], "Enter a whole number, 0 or more."),
            (vec![("name", "Lamp"), ("price", "1"), ("stock", "1"), ("category_id", "999999")], "Select a category that exists."),
            (vec![("name", "Lamp"), ("slug", taken.as_str()), ("price", "1"), ("stock", "1")], "This slug is already in use."),
            (vec![("name", "Lamp"), ("slug", "Not A Slug"), ("price", "1"), ("stock", "1")], "Enter a valid slug: lowercase letters, numbers and hyphens."),
        ];
        let computers = app.fixture.category("computers").id.to_string();
        for (fields, message) in cases {
            let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
            if !fields.iter().any(|(k, _)| *k == "category_id") {
                form.push(("category_id", &computers));
            }
            form.extend(fields.iter().copied());
            let r = admin.post("/admin/products", &form).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{message}");
            let html = r.text().await.unwrap();
            assert!(field_errors(&html).iter().any(|e| e == message), "{message}: {:?}", field_errors(&html));
            let doc = Html::parse_document(&html);
            let name = doc.select(&Selector::parse("input[name=name]").unwrap()).next().unwrap().value().attr("value").unwrap().to_owned();
            assert_eq!(name, fields.iter().find(|(k, _)| *k == "name").unwrap().1, "the typed name is kept");
        }
        // PostgreSQL text cannot hold NUL: a field error, not a 500.
        for (field, value) in [("name", "Nul\0Lamp"), ("description", "a\0b")] {
            let mut form = vec![("csrf", csrf.as_str()), ("name", "Lamp"), ("price", "1"), ("stock", "1"), ("category_id", &computers)];
            form.retain(|(k, _)| *k != field);
            form.push((field, value));
            let r = admin.post("/admin/products", &form).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{field}");
            assert!(field_errors(&r.text().await.unwrap()).iter().any(|e| e == "Null characters are not allowed."), "{field}");
            let r = admin.post("/admin/categories", &[("csrf", csrf.as_str()), ("name", "Lamps"), (field, value)]).await;
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "category {field}");
        }
        // An empty slug comes from the name.
        let r = admin.post("/admin/products", &[("csrf", &csrf), ("name", "Brass Desk Lamp"), ("slug", ""), ("price", "45"), ("stock", "3"), ("category_id", &computers), ("is_active", "1")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(app.get_html("/products/brass-desk-lamp", 200).await.contains("$45.00"));
    }

    async fn a_category_with_products_cannot_be_deleted(app: TestApp) {
        let admin = admin(&app).await;
        let books = app.fixture.category("books").id;
        let garden = app.fixture.category("garden").id;
        let csrf = csrf_in(&admin.page(&format!("/admin/categories/{books}/edit")).await);
        let r = admin.post(&format!("/admin/categories/{books}/delete"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(field_errors(&r.text().await.unwrap())[0].contains("still has"));
        app.get_json(&format!("/api/categories/{books}/"), 200).await;
        app.get_json(&format!("/api/categories/{garden}/"), 200).await;
        let r = admin.post(&format!("/admin/categories/{garden}/delete"), &[("csrf", &csrf)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        app.get_json(&format!("/api/categories/{garden}/"), 404).await;
        assert!(!app.get_html("/categories", 200).await.contains("Garden"));
    }

    async fn a_category_rename_and_a_new_category_show_at_once(app: TestApp) {
        let admin = admin(&app).await;
        let books = app.fixture.category("books").id;
        app.get_html("/categories", 200).await;
        let csrf = csrf_in(&admin.page("/admin/categories/new").await);
        let r = admin.post("/admin/categories", &[("csrf", &csrf), ("name", "Lighting"), ("slug", ""), ("description", "Lamps")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let r = admin.post(&format!("/admin/categories/{books}"), &[("csrf", &csrf), ("name", "Rare Books"), ("slug", "books"), ("description", "Old")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let html = app.get_html("/categories", 200).await;
        assert!(html.contains("Lighting") && html.contains("Rare Books"));
        let r = admin.post("/admin/categories", &[("csrf", &csrf), ("name", "Books again"), ("slug", "books")]).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(field_errors(&r.text().await.unwrap()).contains(&"This slug is already in use.".to_owned()));
    }

    async fn admin_posts_without_a_valid_token_change_nothing(app: TestApp) {
        let admin = admin(&app).await;
        let p = app.fixture.product("Laptop Sleeve").clone();
        let computers = app.fixture.category("computers").id.to_string();
        for token in ["", "forged"] {
            let r = admin.post(&format!("/admin/products/{}", p.id), &[("csrf", token), ("name", "Hacked"), ("price", "0"), ("stock", "0"), ("category_id", &computers)]).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
            let r = admin.post(&format!("/admin/products/{}/delete", p.id), &[("csrf", token)]).await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN);
        }
        let body = app.get_product_json(p.id, 200).await;
        assert_eq!((body["name"].as_str(), body["price"].as_str()), (Some("Laptop Sleeve"), Some("29.50")));
    }
}
