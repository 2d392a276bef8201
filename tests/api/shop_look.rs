//! What the shop looks like to a shopper: prices as people write them, the
//! home page's hero and featured products, and pages that are served from
//! memory on a hit yet change the moment what they show does.

use scraper::{Html, Selector};

use crate::on_both_backends;
use crate::support::api::{set_price, token_for};
use crate::support::visitor::signed_in_with;
use crate::support::{Visitor, csrf_in};

fn texts(html: &str, css: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse(css).unwrap()).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

on_both_backends! {
    async fn prices_are_written_with_a_dollar_sign_and_grouped_thousands(app: TestApp) {
        let token = token_for(&app, "admin@example.com", true).await;
        let p = app.fixture.product("Steel Laptop 13").clone();
        set_price(&app, &token, p.id, "1058.99").await;

        let page = app.get_product_page(&p.slug, 200).await;
        assert_eq!(texts(&page, ".product-detail .price"), ["$1,058.99"]);
        let listing = app.get_html("/categories/computers?sort=-price", 200).await;
        assert!(texts(&listing, ".product-card .price").contains(&"$1,058.99".to_owned()), "the card");
        // Gaming Laptop, 1499.99, on the same listing.
        assert!(texts(&listing, ".product-card .price").contains(&"$1,499.99".to_owned()));

        // The cart: the line, its total and the subtotal.
        let shopper = Visitor::new(&app);
        let csrf = csrf_in(&shopper.page(&format!("/products/{}", p.slug)).await);
        let r = shopper.post("/cart/add", &[("csrf", &csrf), ("product_id", &p.id.to_string()), ("quantity", "2")]).await;
        assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
        let cart = shopper.page("/cart").await;
        assert_eq!(texts(&cart, ".cart-line .line-total"), ["$2,117.98"]);
        assert_eq!(texts(&cart, ".subtotal strong"), ["$2,117.98"]);

        // The API keeps its wire form.
        assert_eq!(app.get_product_json(p.id, 200).await["price"], "1058.99");
    }

    async fn the_home_page_has_a_hero_and_features_each_departments_newest_product_in_stock(app: TestApp) {
        let home = app.get_html("/", 200).await;
        assert_eq!(texts(&home, ".hero h1").len(), 1, "a hero with its heading");
        assert!(!texts(&home, ".hero a.button").is_empty(), "calls to action");
        let featured = texts(&home, "section[aria-labelledby=home-featured] .product-name");
        // From each category in name order, its newest active product in stock.
        let mut expected = Vec::new();
        let mut categories = app.fixture.categories.clone();
        categories.sort_by_key(|c| c.name);
        for c in &categories {
            let newest = app
                .fixture
                .products
                .iter()
                .filter(|p| p.category == c.slug && p.active && p.stock > 0)
                .max_by_key(|p| (p.created_at, p.id));
            if let Some(p) = newest {
                expected.push(p.name.clone());
            }
        }
        assert_eq!(featured, expected);
        assert_eq!(texts(&home, "section[aria-labelledby=home-featured] .stock.in").len(), expected.len());

        // Selling the last one out features the next one in its place.
        let token = token_for(&app, "admin@example.com", true).await;
        let sold = app.fixture.products.iter().find(|p| p.name == expected[0]).unwrap().clone();
        let r = app.api_patch_product(&token, sold.id, &serde_json::json!({ "stock": 0 })).await;
        assert_eq!(r.status(), 200);
        let home = app.get_html("/", 200).await;
        let featured = texts(&home, "section[aria-labelledby=home-featured] .product-name");
        assert!(!featured.contains(&sold.name), "{featured:?}");
        assert_eq!(featured.len(), expected.len(), "{featured:?}");
    }

    async fn a_page_hit_is_served_whole_from_memory_and_changes_with_what_it_shows(app: TestApp) {
        let p = app.fixture.product("Steel Laptop 13").clone();
        let path = format!("/products/{}", p.slug);
        for page in ["/", "/categories", "/categories/computers", "/products?q=laptop&page=2", path.as_str()] {
            let first = app.get(page).await;
            let etag = first.headers()["etag"].to_str().unwrap().to_owned();
            let first = first.text().await.unwrap();
            let again = app.get(page).await;
            assert_eq!(again.headers()["x-cache"], "HIT", "{page}");
            assert_eq!(again.headers()["etag"].to_str().unwrap(), etag, "{page}: one page, one ETag");
            assert_eq!(again.text().await.unwrap(), first, "{page}: the same bytes");
            let revalidated = app.get_with_header(page, "if-none-match", &etag).await;
            assert_eq!(revalidated.status(), 304, "{page}");
            assert!(revalidated.text().await.unwrap().is_empty());
        }

        // A price change: a new ETag, the old one no longer revalidates,
        // and the page shows the new price.
        let before = app.get(&path).await.headers()["etag"].to_str().unwrap().to_owned();
        let token = token_for(&app, "admin@example.com", true).await;
        set_price(&app, &token, p.id, "1234.50").await;
        let after = app.get_with_header(&path, "if-none-match", &before).await;
        assert_eq!(after.status(), 200);
        assert_ne!(after.headers()["etag"].to_str().unwrap(), before);
        assert_eq!(texts(&after.text().await.unwrap(), ".product-detail .price"), ["$1,234.50"]);

        // Signed in, the page is the visitor's own: its ETag differs from the
        // anonymous page's and from another visitor's, and names them.
        let anonymous = app.get(&path).await.headers()["etag"].to_str().unwrap().to_owned();
        let ann = signed_in_with(&app, "ann@example.com", "ann password 1234", false).await;
        let bob = signed_in_with(&app, "bob@example.com", "bob password 1234", false).await;
        let ann_page = ann.get(&path).await;
        let ann_etag = ann_page.headers()["etag"].to_str().unwrap().to_owned();
        assert!(ann_page.text().await.unwrap().contains("ann@example.com"));
        let bob_page = bob.get(&path).await;
        let bob_etag = bob_page.headers()["etag"].to_str().unwrap().to_owned();
        assert!(!bob_page.text().await.unwrap().contains("ann@example.com"));
        assert!(ann_etag != anonymous && bob_etag != anonymous && ann_etag != bob_etag);
        let anon_again = app.get(&path).await.text().await.unwrap();
        assert!(!anon_again.contains("ann@example.com") && !anon_again.contains("bob@example.com"));
    }
}
