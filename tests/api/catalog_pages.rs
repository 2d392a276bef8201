//! The shop's HTML pages: content, links, filters, pagination, error pages.

use scraper::{Html, Selector};

use crate::on_both_backends;
use crate::support::TestApp;
use crate::support::fixture::STANDS;
use crate::support::oracle::Expect;

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).expect("selector")).collect()
}

fn texts(doc: &Html, css: &str) -> Vec<String> {
    select(doc, css).into_iter().map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

fn attr(doc: &Html, css: &str, name: &str) -> Option<String> {
    select(doc, css).first().and_then(|e| e.value().attr(name)).map(str::to_owned)
}

fn card_names(doc: &Html) -> Vec<String> {
    texts(doc, ".product-card .product-name")
}

fn names_of(app: &TestApp, ids: &[i32]) -> Vec<String> {
    ids.iter().map(|id| app.fixture.products.iter().find(|p| p.id == *id).unwrap().name.clone()).collect()
}

on_both_backends! {
    async fn home_shows_categories_and_newest_products(app: TestApp) {
        let doc = Html::parse_document(&app.get_html("/", 200).await);
        let cats = texts(&doc, ".category-card .category-name");
        assert_eq!(cats, ["Books", "Computers", "Garden"]);
        let newest = Expect::default().ids(&app.fixture);
        assert_eq!(texts(&doc, "section[aria-labelledby=home-newest] .product-name"), names_of(&app, &newest[..8]));
        assert!(!select(&doc, "a[href='/categories/computers']").is_empty());
        assert_eq!(attr(&doc, "link[rel=stylesheet]", "href").as_deref(), Some(storefront::views::SITE_CSS));
    }

    async fn categories_page_shows_active_counts(app: TestApp) {
        let doc = Html::parse_document(&app.get_html("/categories", 200).await);
        let counts = texts(&doc, ".category-card .category-count");
        let books = app.fixture.active().filter(|p| p.category == "books").count();
        let computers = app.fixture.active().filter(|p| p.category == "computers").count();
        assert_eq!(counts, [format!("{books} products"), format!("{computers} products"), "0 products".to_owned()]);
    }

    async fn category_page_lists_only_its_products(app: TestApp) {
        let doc = Html::parse_document(&app.get_html("/categories/books?sort=price", 200).await);
        assert_eq!(texts(&doc, "h1"), ["Books"]);
        let expected = Expect { category_slug: Some("books"), ordering: "price", ..Default::default() }.ids(&app.fixture);
        assert_eq!(card_names(&doc), names_of(&app, &expected));
        // The category is fixed by the path: no category select, and a
        // `category` parameter cannot widen the listing.
        assert!(select(&doc, "select[name=category]").is_empty());
        let doc = Html::parse_document(&app.get_html("/categories/books?sort=price&category=computers", 200).await);
        assert_eq!(card_names(&doc), names_of(&app, &expected));

        let doc = Html::parse_document(&app.get_html("/categories/garden", 200).await);
        assert!(texts(&doc, ".empty").iter().any(|t| t.contains("No products match")));
        assert_eq!(texts(&doc, ".result-count"), ["0 products"]);

        let doc = Html::parse_document(&app.get_html("/categories/no-such-thing", 404).await);
        assert_eq!(texts(&doc, ".error-code"), ["404"]);
        assert!(!select(&doc, "header.site-header").is_empty(), "error pages use the layout");
    }

    async fn product_grid_filters_sort_and_counts(app: TestApp) {
        let path = "/products?q=laptop&min_price=15&max_price=1000&in_stock=1&sort=-price";
        let doc = Html::parse_document(&app.get_html(path, 200).await);
        let expected = Expect {
            search: Some("laptop"), min_cents: Some(1500), max_cents: Some(100000), in_stock: true, ordering: "-price",
            ..Default::default()
        }.ids(&app.fixture);
        assert_eq!(texts(&doc, ".result-count")[0], format!("{} products · page 1 of {}", expected.len(), expected.len().div_ceil(20)));
        assert_eq!(card_names(&doc), names_of(&app, &expected[..20]));
        // The form shows what was asked for.
        assert_eq!(attr(&doc, ".filter-form input[name=q]", "value").as_deref(), Some("laptop"));
        assert_eq!(attr(&doc, "#header-q", "value").as_deref(), Some("laptop"));
        assert_eq!(attr(&doc, "input[name=min_price]", "value").as_deref(), Some("15.00"));
        assert_eq!(attr(&doc, "input[name=max_price]", "value").as_deref(), Some("1000.00"));
        assert!(attr(&doc, "input[name=in_stock]", "checked").is_some());
        assert_eq!(attr(&doc, "select[name=sort] option[selected]", "value").as_deref(), Some("-price"));
        // Prices are shown exactly.
        let first = app.fixture.products.iter().find(|p| p.id == expected[0]).unwrap();
        assert_eq!(texts(&doc, ".product-card .price")[0], format!("${}.{:02}", first.cents / 100, first.cents % 100));
    }

    async fn pagination_links_keep_the_filters(app: TestApp) {
        let doc = Html::parse_document(&app.get_html("/products?q=stand&sort=price&per_page=10&utm_source=mail", 200).await);
        let next = attr(&doc, ".pagination a[rel=next]", "href").expect("a next link");
        assert_eq!(next, "/products?sort=price&page=2&per_page=10&q=stand");
        assert!(attr(&doc, ".pagination a[rel=prev]", "href").is_none());
        let doc = Html::parse_document(&app.get_html(&next, 200).await);
        let expected = Expect { search: Some("stand"), ordering: "price", ..Default::default() }.ids(&app.fixture);
        assert_eq!(card_names(&doc), names_of(&app, &expected[10..20]));
        assert_eq!(attr(&doc, ".pagination a[rel=prev]", "href").as_deref(), Some("/products?sort=price&per_page=10&q=stand"));
        assert_eq!(texts(&doc, ".pagination .current"), ["2"]);
        let last = (STANDS as usize).div_ceil(10);
        let doc = Html::parse_document(&app.get_html(&format!("/products?q=stand&sort=price&per_page=10&page={last}"), 200).await);
        assert!(attr(&doc, ".pagination a[rel=next]", "href").is_none());
        app.get_html(&format!("/products?q=stand&per_page=10&page={}", last + 1), 404).await;
    }

    async fn empty_results_say_so(app: TestApp) {
        let doc = Html::parse_document(&app.get_html("/products?q=unobtainium", 200).await);
        assert_eq!(texts(&doc, ".result-count"), ["0 products"]);
        assert!(texts(&doc, ".empty p")[0].contains("No products match your search"));
        assert!(select(&doc, ".pagination").is_empty());
    }

    async fn product_page_shows_the_product(app: TestApp) {
        let p = app.fixture.product("Gaming Laptop");
        let doc = Html::parse_document(&app.get_product_page(&p.slug, 200).await);
        assert_eq!(texts(&doc, ".product-detail h1"), ["Gaming Laptop"]);
        assert_eq!(texts(&doc, ".product-detail .price"), ["$1,499.99"]);
        assert_eq!(texts(&doc, ".product-detail .stock"), ["Out of stock"]);
        assert_eq!(texts(&doc, ".product-detail .description"), std::slice::from_ref(&p.description));
        assert_eq!(attr(&doc, ".product-detail .meta a", "href").as_deref(), Some("/categories/computers"));
        assert_eq!(texts(&doc, "title"), ["Gaming Laptop · Storefront"]);

        let hidden = app.fixture.product("Hidden Laptop");
        app.get_product_page(&hidden.slug, 404).await;
        let doc = Html::parse_document(&app.get_html("/products/does-not-exist", 404).await);
        assert_eq!(texts(&doc, "h1"), ["Not Found"]);
    }

    async fn bad_input_shows_the_400_page(app: TestApp) {
        for (qs, param) in [("page=abc", "page"), ("sort=colour", "sort"), ("min_price=-5", "min_price"), ("per_page=500", "per_page"), ("min_price=9&max_price=1", "min_price")] {
            let doc = Html::parse_document(&app.get_html(&format!("/products?{qs}"), 400).await);
            assert_eq!(texts(&doc, ".error-code"), ["400"], "{qs}");
            let items = texts(&doc, ".error-list li");
            assert!(items.iter().any(|t| t.starts_with(&format!("{param}:"))), "{qs}: {items:?}");
        }
        app.get_html("/categories/books?page=0", 400).await;
        app.get_html("/no/such/page", 404).await;
    }

    async fn more_than_eight_different_search_terms_show_the_400_page_naming_q(app: TestApp) {
        let eight = "one+two+three+four+five+six+seven+eight";
        // Repeated words and stop words are not counted.
        app.get_html(&format!("/products?q={eight}+ONE+with+the"), 200).await;
        let doc = Html::parse_document(&app.get_html(&format!("/products?q={eight}+nine"), 400).await);
        assert_eq!(texts(&doc, ".error-code"), ["400"]);
        assert_eq!(texts(&doc, ".error-list li"), ["q: Ensure this value has at most 8 different words."]);
    }

    async fn a_page_number_too_large_for_any_listing_is_not_found(app: TestApp) {
        for path in ["/products?page=99999999999", "/products?q=stand&page=4294967296", "/categories/books?page=99999999999"] {
            let doc = Html::parse_document(&app.get_html(path, 404).await);
            assert_eq!(texts(&doc, ".error-code"), ["404"], "{path}");
            assert!(select(&doc, ".error-list").is_empty(), "{path}: no parameter is wrong");
        }
    }

    async fn names_are_escaped_never_executed(app: TestApp) {
        let p = app.fixture.product("<script>alert(1)</script> Poster");
        for path in ["/products?q=poster".to_owned(), format!("/products/{}", p.slug)] {
            let html = app.get_html(&path, 200).await;
            assert!(!html.contains("<script>alert(1)</script>"), "{path}: raw script in page");
            assert!(!html.contains("<b>test</b>"), "{path}: raw markup in page");
            let doc = Html::parse_document(&html);
            assert!(select(&doc, "script").is_empty(), "{path}");
            // Shown as text, exactly as named.
            assert!(texts(&doc, ".product-name, .product-detail h1").contains(&p.name), "{path}");
        }
    }

    async fn stylesheet_is_served(app: TestApp) {
        let response = app.get(storefront::views::SITE_CSS).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/css; charset=utf-8");
        assert!(response.text().await.unwrap().contains(".product-grid"));
    }
}
