//! Shopper search in the pages (`/products?q=`): word forms, typos and best
//! match over a generated catalog, checked against an oracle that ranks as
//! the shop says it does; the facets beside it; and the API's `search`,
//! which keeps DRF's substrings.
//!
//! The oracle's word forms are a plural `s`, which is all the stemmers do
//! to the words the queries use (each checked to have no other form in the
//! generator's vocabulary).

use scraper::{Html, Selector};
use sea_orm::{ConnectionTrait, EntityTrait};
use storefront::models::product_entity;
use storefront::seed::{self, SeedPlan};

use crate::on_both_backends;
use crate::support::TestApp;

/// Every theme once, about 100 products each.
const PLAN: SeedPlan = SeedPlan { categories: 20, products: 2000, seed: 42 };

#[derive(Clone, Debug)]
struct Row {
    id: i32,
    slug: String,
    name: Vec<String>,
    text: Vec<String>,
    active: bool,
    cents: i64,
    stock: i32,
    category_id: i32,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The oracle's stemmer: a word and its plural are one.
fn same_word(a: &str, b: &str) -> bool {
    a == b || a.strip_suffix('s') == Some(b) || b.strip_suffix('s') == Some(a)
}

async fn rows(app: &TestApp) -> Vec<Row> {
    product_entity::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| Row {
            id: p.id,
            slug: p.slug,
            name: words(&p.name),
            text: words(&format!("{} {}", p.name, p.description)),
            active: p.is_active,
            cents: p.price_cents,
            stock: p.stock,
            category_id: p.category_id,
        })
        .collect()
}

/// The slugs of the active products matching any of `query`'s words, best
/// match first: more words matched, then more in the name, then the id.
fn ranked(rows: &[Row], query: &[&str]) -> Vec<String> {
    let mut hits: Vec<(usize, usize, i32, &str)> = rows
        .iter()
        .filter(|r| r.active)
        .filter_map(|r| {
            let matched = query.iter().filter(|q| r.text.iter().any(|w| same_word(w, q))).count();
            let named = query.iter().filter(|q| r.name.iter().any(|w| same_word(w, q))).count();
            (matched > 0).then_some((matched, named, r.id, r.slug.as_str()))
        })
        .collect();
    hits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    hits.into_iter().map(|h| h.3.to_owned()).collect()
}

/// What a listing page shows.
#[derive(Debug)]
struct Page {
    slugs: Vec<String>,
    count: usize,
    corrected: Option<String>,
    empty: bool,
}

fn texts(doc: &Html, css: &str) -> Vec<String> {
    doc.select(&Selector::parse(css).unwrap()).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

fn page_of(html: &str) -> Page {
    let doc = Html::parse_document(html);
    let link = Selector::parse("a[href^='/products/']").unwrap();
    let slugs = doc
        .select(&Selector::parse(".product-card").unwrap())
        .filter_map(|card| card.select(&link).next()?.value().attr("href"))
        .map(|href| href.trim_start_matches("/products/").to_owned())
        .collect();
    let count = texts(&doc, ".result-count")[0].split(' ').next().unwrap().parse().unwrap();
    let corrected = texts(&doc, ".corrected strong").into_iter().next();
    let empty = !texts(&doc, ".empty").is_empty();
    Page { slugs, count, corrected, empty }
}

async fn search(app: &TestApp, q: &str) -> Page {
    let path = format!("/products?per_page=100&q={}", q.replace(' ', "+"));
    page_of(&app.get_html(&path, 200).await)
}

/// A generated catalog in place of the fixture.
async fn seeded(app: &TestApp) -> Vec<Row> {
    seed::load(&app.db, &app.state.media, PLAN, true).await.expect("seeded");
    rows(app).await
}

/// `q` finds what `expected` (the oracle's words) ranks, in its order, as
/// far as the first page shows; `corrected` is what the page says it
/// searched instead.
async fn check(app: &TestApp, rows: &[Row], q: &str, expected: &[&str], corrected: Option<&str>) {
    let want = ranked(rows, expected);
    let got = search(app, q).await;
    assert_eq!(got.count, want.len(), "{q}: count");
    assert_eq!(got.slugs, want[..want.len().min(100)], "{q}: order");
    assert_eq!(got.corrected.as_deref(), corrected, "{q}: correction");
    assert_eq!(got.empty, want.is_empty(), "{q}: empty");
}

on_both_backends! {
    async fn a_plural_finds_its_singular_and_names_come_first(app: TestApp) {
        let rows = seeded(&app).await;
        for (q, word) in [
            ("lamps", "lamp"),
            ("lamp", "lamp"),
            ("laptops", "laptop"),
            ("headphones", "headphones"),
            ("kettles", "kettle"),
            ("chairs", "chair"),
            ("desks", "desk"),
            ("tents", "tent"),
            ("bulbs", "bulb"),
            ("boot", "boots"),
            ("sneaker", "sneakers"),
            ("lanterns", "lantern"),
            ("dumbbells", "dumbbell"),
            ("Kettle", "kettle"),
            ("sleeve", "sleeve"),
            ("brass", "brass"),
        ] {
            let want = ranked(&rows, &[word]);
            assert!(!want.is_empty(), "{q} finds something");
            check(&app, &rows, q, &[word], None).await;
        }
        // `desk`: desks, desk lamps and organizers by name before the
        // products that only say "a tidy desk".
        let desk = search(&app, "desk").await;
        let named = rows.iter().filter(|r| r.active && r.name.iter().any(|w| w == "desk")).count();
        let first: Vec<&Row> = desk.slugs.iter().map(|s| rows.iter().find(|r| &r.slug == s).unwrap()).collect();
        assert!(named > 0 && named < desk.count, "desk is in names and in descriptions");
        assert!(first.iter().take(named.min(100)).all(|r| r.name.iter().any(|w| w == "desk")));
    }

    async fn typos_are_corrected_and_the_page_says_so(app: TestApp) {
        let rows = seeded(&app).await;
        for (q, word) in [
            ("laptp", "laptop"),
            ("hedphones", "headphones"),
            ("kettel", "kettle"),
            ("backpak", "backpack"),
            ("blendr", "blender"),
            ("lanturn", "lantern"),
        ] {
            check(&app, &rows, q, &[word], Some(word)).await;
        }
        // Only the misspelt word is replaced; the page names the whole search.
        check(&app, &rows, "leather backpak", &["leather", "backpack"], Some("backpack leather")).await;
    }

    async fn every_word_matched_ranks_above_some(app: TestApp) {
        let rows = seeded(&app).await;
        for (q, expected) in [
            ("desk lamp", &["desk", "lamp"][..]),
            ("leather backpack", &["leather", "backpack"][..]),
            ("cast iron skillet", &["cast", "iron", "skillet"][..]),
            ("walnut speaker", &["walnut", "speaker"][..]),
            ("oak desk", &["oak", "desk"][..]),
            ("noise cancelling headphones", &["noise", "cancelling", "headphones"][..]),
            ("merino wool sweater", &["merino", "wool", "sweater"][..]),
            ("camera strap leather", &["camera", "strap", "leather"][..]),
        ] {
            check(&app, &rows, q, expected, None).await;
            let top = search(&app, q).await.slugs[0].clone();
            let row = rows.iter().find(|r| r.slug == top).unwrap();
            assert!(expected.iter().all(|w| row.text.iter().any(|t| same_word(t, w))), "{q}: top has every word");
        }
        // Punctuation and stop words are not words to match.
        check(&app, &rows, "t-shirt", &["shirt"], None).await;
        check(&app, &rows, "chef's knife", &["chef", "knife"], None).await;
        check(&app, &rows, "a lamp with a shade", &["lamp", "shade"], None).await;
    }

    async fn nothing_found_says_so(app: TestApp) {
        let rows = seeded(&app).await;
        for q in ["xylophone", "zzzz", "qwertyuiop", "with the", "lap"] {
            check(&app, &rows, q, &[], None).await;
        }
        let doc = Html::parse_document(&app.get_html("/products?q=with+the", 200).await);
        assert!(texts(&doc, ".empty p")[0].contains("No products match your search"));
    }

    async fn best_match_is_the_default_of_a_search_and_a_chosen_order_wins(app: TestApp) {
        let rows = seeded(&app).await;
        let doc = Html::parse_document(&app.get_html("/products?q=lamps", 200).await);
        assert_eq!(texts(&doc, "select[name=sort] option[selected]"), ["Best match"]);
        let doc = Html::parse_document(&app.get_html("/products", 200).await);
        assert!(!texts(&doc, "select[name=sort] option").contains(&"Best match".to_owned()), "nothing to match");
        let by_price = page_of(&app.get_html("/products?q=lamps&sort=price&per_page=100", 200).await);
        let mut want: Vec<&Row> =
            rows.iter().filter(|r| r.active && r.text.iter().any(|w| w == "lamp")).collect();
        want.sort_by_key(|r| (r.cents, r.id));
        assert_eq!(by_price.slugs, want.iter().map(|r| r.slug.clone()).collect::<Vec<_>>());
    }

    async fn the_api_search_keeps_drf_substrings(app: TestApp) {
        let rows = seeded(&app).await;
        // `lap` is inside `laptop` for the API; not a word for shoppers.
        let api = app.get_json("/api/products/?search=lap&page_size=1", 200).await;
        let substring = |needle: &str| {
            rows.iter().filter(|r| r.active && r.text.join(" ").contains(needle)).count() as u64
        };
        assert_eq!(api["count"].as_u64(), Some(substring("lap")));
        assert_eq!(search(&app, "lap").await.count, 0);
        // `lamps` is in no product's text: the API finds nothing, shoppers the lamps.
        assert_eq!(app.get_json("/api/products/?search=lamps", 200).await["count"].as_u64(), Some(0));
        assert!(search(&app, "lamps").await.count > 0);
        // No typo fallback in the API.
        assert_eq!(app.get_json("/api/products/?search=laptp", 200).await["count"].as_u64(), Some(0));
    }
}

/// The facets a page shows: `(label, count, href)` per block.
fn facets(html: &str) -> [Vec<(String, u64, String)>; 3] {
    let doc = Html::parse_document(html);
    let block = |css: &str| {
        let sel = Selector::parse(&format!(".facets {css} li")).unwrap();
        let a = Selector::parse("a").unwrap();
        let n = Selector::parse(".count").unwrap();
        doc.select(&sel)
            .map(|li| {
                let link = li.select(&a).next().unwrap();
                let count = li.select(&n).next().unwrap().text().collect::<String>().parse().unwrap();
                (link.text().collect::<String>(), count, link.value().attr("href").unwrap().to_owned())
            })
            .collect::<Vec<_>>()
    };
    [block(".facet-category"), block(".facet-stock"), block(".facet-price")]
}

/// The fixture's facets for `laptop`, as the oracle counts them.
fn laptop_facets(rows: &[Row], app: &TestApp) -> [Vec<(String, u64)>; 3] {
    let hits: Vec<&Row> = rows.iter().filter(|r| r.active && r.text.iter().any(|w| w == "laptop")).collect();
    let mut categories: Vec<(String, u64)> = app
        .fixture
        .categories
        .iter()
        .map(|c| (c.name.to_owned(), hits.iter().filter(|r| r.category_id == c.id).count() as u64))
        .filter(|(_, n)| *n > 0)
        .collect();
    categories.sort();
    let stock = vec![("In stock".to_owned(), hits.iter().filter(|r| r.stock > 0).count() as u64)];
    let band = |lo: i64, hi: i64| hits.iter().filter(|r| r.cents >= lo && r.cents < hi).count() as u64;
    let bands = vec![
        ("Under $25".to_owned(), band(0, 2_500)),
        ("$25 to $100".to_owned(), band(2_500, 10_000)),
        ("$100 to $500".to_owned(), band(10_000, 50_000)),
        ("$500 and up".to_owned(), band(50_000, i64::MAX)),
    ];
    [categories, stock, bands]
}

fn counts_only(shown: &[Vec<(String, u64, String)>; 3]) -> [Vec<(String, u64)>; 3] {
    shown.clone().map(|block| block.into_iter().map(|(label, n, _)| (label, n)).collect())
}

on_both_backends! {
    async fn facets_count_the_search_and_their_links_filter_to_those_counts(app: TestApp) {
        let rows = rows(&app).await;
        let html = app.get_html("/products?q=laptop", 200).await;
        let shown = facets(&html);
        assert_eq!(counts_only(&shown), laptop_facets(&rows, &app));
        for (label, count, href) in shown.iter().flatten() {
            let page = page_of(&app.get_html(&format!("{href}&per_page=100"), 200).await);
            assert_eq!(page.count as u64, *count, "{label}: {href}");
        }
        // A chosen facet is marked, and its link removes it again.
        let (_, _, href) = &shown[2][0];
        let chosen = app.get_html(href, 200).await;
        let doc = Html::parse_document(&chosen);
        assert_eq!(texts(&doc, ".facet-price li.selected a"), ["Under $25"]);
        assert_eq!(texts(&doc, "input[name=price]").len(), 1, "the form keeps the band");
        let again = Html::parse_document(&chosen);
        let unselect = again
            .select(&Selector::parse(".facet-price li.selected a").unwrap())
            .next()
            .unwrap()
            .value()
            .attr("href")
            .unwrap()
            .to_owned();
        assert_eq!(unselect, "/products?q=laptop");
    }

    async fn bad_facet_values_are_the_documented_400(app: TestApp) {
        for (qs, param) in [("price=cheap", "price"), ("in_stock=maybe", "in_stock"), ("price=25-99&q=lamp", "price")] {
            let doc = Html::parse_document(&app.get_html(&format!("/products?{qs}"), 400).await);
            let items = texts(&doc, ".error-list li");
            assert!(items.iter().any(|t| t.starts_with(&format!("{param}:"))), "{qs}: {items:?}");
        }
    }

    async fn facets_are_cached_across_pages_and_retire_on_a_product_write(app: TestApp) {
        let path = "/products?q=laptop";
        app.get_html(path, 200).await;
        assert_eq!(crate::support::cache::x_cache(&app, path).await, "HIT");
        let before = facets(&app.get_html(path, 200).await);
        // Changed behind the shop's back: no invalidation. Page 2 is a new
        // listing, but its facets are the entry page 1 filled.
        app.db.execute_unprepared("UPDATE products SET stock = 0 WHERE name = 'Laptop Sleeve'").await.unwrap();
        let page2 = facets(&app.get_html("/products?q=laptop&page=2", 200).await);
        assert_eq!(counts_only(&page2), counts_only(&before), "served from the cache");
        // A write through the shop retires them.
        app.add_product("computers", "Laptop Riser", "Adjustable laptop riser", 3).await;
        let rows = rows(&app).await;
        let after = facets(&app.get_html("/products?q=laptop&page=2", 200).await);
        assert_eq!(counts_only(&after), laptop_facets(&rows, &app));
        assert_ne!(counts_only(&after), counts_only(&before));
    }
}

/// On PostgreSQL, the search postings (see migration
/// `m20261202_000016_search_postings`) as the trigger keeps them are exactly
/// what they would be made afresh from `products`.
async fn postings_are_in_step(app: &TestApp) {
    if app.db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return;
    }
    let fresh = "SELECT v.lexeme, p.id, coalesce('A' = ANY (v.weights), false), p.category_id, p.price_cents, \
                 p.stock > 0 FROM products p, unnest(p.search_vector) AS v WHERE p.is_active";
    let kept = "SELECT lexeme, product_id, in_name, category_id, price_cents, in_stock FROM search_postings";
    for (a, b) in [(kept, fresh), (fresh, kept)] {
        let sql = format!("SELECT count(*) FROM (({a}) EXCEPT ALL ({b})) AS d");
        let row = app
            .db
            .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 0, "postings differ: {a} EXCEPT {b}");
    }
}

on_both_backends! {
    async fn a_search_and_its_facets_follow_every_kind_of_product_write(app: TestApp) {
        use reqwest::Method;
        use serde_json::json;
        let token = crate::support::api::token_for(&app, "search-writes@example.com", true).await;
        let (id, slug) = app.add_product("computers", "Laptop Quokka Stand", "Holds a laptop level", 4).await;
        let books = app.fixture.category("books").id;
        let send = |method: Method, body: Option<serde_json::Value>| {
            let url = app.url(&format!("/api/products/{id}/"));
            let request = app.client.request(method, url).bearer_auth(&token);
            async move {
                let request = match body {
                    Some(body) => request.json(&body),
                    None => request,
                };
                let response = request.send().await.unwrap();
                assert!(response.status().is_success(), "{}", response.status());
            }
        };
        // Each write, then the search and its facets against the oracle
        // over the rows as they are now.
        // None: no write (the product as created); else a method and body.
        type Write = Option<(Method, Option<serde_json::Value>)>;
        let writes: Vec<(&str, Write)> = vec![
            ("created", None),
            ("repriced into another band", Some((Method::PATCH, Some(json!({"price": "149.00"}))))),
            ("sold out", Some((Method::PATCH, Some(json!({"stock": 0}))))),
            ("restocked", Some((Method::PATCH, Some(json!({"stock": 9}))))),
            ("stock changed above zero", Some((Method::PATCH, Some(json!({"stock": 3}))))),
            ("moved to another category", Some((Method::PATCH, Some(json!({"category_id": books}))))),
            ("renamed", Some((Method::PATCH, Some(json!({"name": "Marsupial Riser", "description": "Holds a laptop"}))))),
            ("hidden", Some((Method::PATCH, Some(json!({"is_active": false}))))),
            ("shown again", Some((Method::PATCH, Some(json!({"is_active": true}))))),
            ("deleted", Some((Method::DELETE, None))),
        ];
        for (what, write) in writes {
            if let Some((method, body)) = write {
                send(method, body).await;
            }
            let rows = rows(&app).await;
            check(&app, &rows, "laptops", &["laptop"], None).await;
            check(&app, &rows, "quokka", &["quokka"], None).await;
            check(&app, &rows, "marsupial laptop", &["marsupial", "laptop"], None).await;
            let shown = facets(&app.get_html("/products?q=laptop", 200).await);
            assert_eq!(counts_only(&shown), laptop_facets(&rows, &app), "{what}: facets");
            let in_stock = page_of(&app.get_html("/products?q=laptop&in_stock=1&per_page=100", 200).await);
            assert_eq!(in_stock.slugs.contains(&slug), rows.iter().any(|r| r.id == id && r.active && r.stock > 0), "{what}");
            postings_are_in_step(&app).await;
        }
    }

    async fn a_price_ordered_search_lists_every_match_by_price_then_id(app: TestApp) {
        let rows = seeded(&app).await;
        let hits: Vec<&Row> = rows.iter().filter(|r| r.active && r.text.iter().any(|w| same_word(w, "lamp"))).collect();
        for (sort, descending) in [("price", false), ("-price", true)] {
            let mut want: Vec<(i64, i32, &str)> = hits.iter().map(|r| (r.cents, r.id, r.slug.as_str())).collect();
            want.sort();
            if descending {
                want.reverse();
            }
            let got = page_of(&app.get_html(&format!("/products?q=lamps&sort={sort}&per_page=100"), 200).await);
            assert_eq!(got.count, want.len(), "{sort}");
            let want: Vec<&str> = want.iter().take(100).map(|w| w.2).collect();
            assert_eq!(got.slugs, want, "{sort}");
        }
        postings_are_in_step(&app).await;
    }
}

on_both_backends! {
    async fn parallel_stock_writes_leave_the_search_in_step(app: TestApp) {
        use serde_json::json;
        let token = crate::support::api::token_for(&app, "search-race@example.com", true).await;
        let mut ids = Vec::new();
        for n in 0..4 {
            ids.push(app.add_product("computers", &format!("Laptop Wallaby {n}"), "A laptop stand", 2).await.0);
        }
        // Twenty writes released together: each product sold out and
        // restocked by turns, from several connections at once.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = Vec::new();
        for i in 0..20usize {
            let (client, token, barrier) = (app.client.clone(), token.clone(), barrier.clone());
            let url = app.url(&format!("/api/products/{}/", ids[i % ids.len()]));
            let stock = if i % 3 == 0 { 0 } else { i };
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                client.patch(url).bearer_auth(token).json(&json!({"stock": stock})).send().await.unwrap().status()
            }));
        }
        for task in tasks {
            assert!(task.await.unwrap().is_success());
        }
        let rows = rows(&app).await;
        let shown = facets(&app.get_html("/products?q=laptop", 200).await);
        assert_eq!(counts_only(&shown), laptop_facets(&rows, &app));
        check(&app, &rows, "wallaby", &["wallaby"], None).await;
        postings_are_in_step(&app).await;
    }
}
