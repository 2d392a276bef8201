//! The API reads its query parameters as Django REST Framework does: search
//! terms split on commas and kept whole in quotes, one case folding for
//! every script on both databases, several orderings, and `page=last`.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::TestApp;

/// `value` percent-encoded for a query string.
fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The names a product search finds, over every page.
async fn found(app: &TestApp, search: &str) -> Vec<String> {
    let mut names: Vec<String> = app
        .all_pages(&format!("/api/products/?page_size=100&search={}", enc(search)))
        .await
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn count(list: &Value) -> u64 {
    list["count"].as_u64().unwrap_or_else(|| panic!("no count: {list}"))
}

on_both_backends! {
    async fn commas_separate_search_terms_and_blank_terms_are_no_search(app: TestApp) {
        assert_eq!(found(&app, "laptop,sleeve").await, ["Laptop Sleeve"]);
        assert_eq!(found(&app, "laptop,sleeve").await, found(&app, "sleeve laptop").await);
        assert_eq!(found(&app, ",laptop,,sleeve,").await, ["Laptop Sleeve"]);
        let everything = count(&app.get_json("/api/products/", 200).await);
        for blank in [",,", "\"\"", "''", " , "] {
            let list = app.get_json(&format!("/api/products/?search={}", enc(blank)), 200).await;
            assert_eq!(count(&list), everything, "search={blank:?} is no search");
        }
    }

    async fn a_quoted_phrase_is_one_term(app: TestApp) {
        assert_eq!(found(&app, "\"laptop sleeve\"").await, ["Laptop Sleeve"]);
        assert_eq!(found(&app, "'laptop sleeve'").await, ["Laptop Sleeve"]);
        // In that order only, unlike the two words alone.
        assert!(found(&app, "\"sleeve laptop\"").await.is_empty());
        assert_eq!(found(&app, "sleeve laptop").await, ["Laptop Sleeve"]);
        // A phrase is matched in the name or in the description, not across
        // the two ("Laptop Sleeve" / "Padded sleeve, ...").
        assert!(found(&app, "\"sleeve padded\"").await.is_empty());
        assert_eq!(found(&app, "\"padded sleeve\"").await, ["Laptop Sleeve"]);
        // The canonical link keeps the phrase whole.
        let list = app.get_json(&format!("/api/products/?page_size=1&search={}", enc("\"laptop stand\"")), 200).await;
        let next = list["next"].as_str().unwrap();
        assert!(next.contains(&enc("\"laptop stand\"")), "{next}");
        assert_eq!(count(&app.get_json(&next[next.find("/api/").unwrap()..], 200).await), count(&list));
        // The HTML search box reads the same way.
        let html = app.get_html(&format!("/products?q={}", enc("\"laptop sleeve\"")), 200).await;
        assert!(html.contains("Laptop Sleeve") && !html.contains("Steel Laptop 13"));
    }

    async fn case_is_folded_alike_for_every_script(app: TestApp) {
        for (name, searches) in [
            ("Éclair Tin", &["éclair", "ÉCLAIR", "Éclair"][..]),
            ("Çay Glass", &["çay", "ÇAY"]),
            ("İstanbul Print", &["İstanbul", "İSTANBUL"]),
            ("ΟΔΟΣ Poster", &["ΟΔΟΣ", "οδος", "Οδοσ"]),
            ("Straße Sign", &["straße", "STRAßE"]),
            ("Чайник Kettle", &["чайник", "ЧАЙНИК", "Чайник"]),
        ] {
            app.add_product("garden", name, "", 3).await;
            for search in searches {
                assert_eq!(found(&app, search).await, [name], "search={search:?}");
            }
        }
        // ASCII folding still reaches accented names' plain letters.
        assert_eq!(found(&app, "TIN").await, ["Éclair Tin"]);
        // The limit counts what was sent, not its folded form.
        let list = app.get_json(&format!("/api/products/?search={}", enc(&"İ".repeat(150))), 200).await;
        assert_eq!(count(&list), 0);
        let refused = app.get_json(&format!("/api/products/?search={}", enc(&"İ".repeat(201))), 400).await;
        assert!(refused["errors"]["search"].is_array(), "{refused}");
    }

    async fn several_orderings_sort_by_each_in_turn(app: TestApp) {
        // Three products at one price (10.00), so the second key decides.
        for name in ["Tie Cherry", "Tie Apple", "Tie Banana"] {
            app.add_product("garden", name, "", 1).await;
        }
        let garden = app.fixture.category("garden").id;
        let names = |list: Vec<Value>| -> Vec<String> {
            list.iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect()
        };
        let by = |ordering: &str| format!("/api/products/?category__id={garden}&ordering={}", enc(ordering));
        assert_eq!(names(app.all_pages(&by("-price,name")).await), ["Tie Apple", "Tie Banana", "Tie Cherry"]);
        assert_eq!(names(app.all_pages(&by("price,-name")).await), ["Tie Cherry", "Tie Banana", "Tie Apple"]);
        // Across categories and pages: every product once, in (price desc, name) order.
        let all = app.all_pages("/api/products/?ordering=-price,name&page_size=7").await;
        let keys: Vec<(i64, String)> = all
            .iter()
            .map(|p| (-(p["price"].as_str().unwrap().replace('.', "").parse::<i64>().unwrap()), p["name"].as_str().unwrap().to_owned()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(all.len() as u64, count(&app.get_json("/api/products/", 200).await));
        // An unknown field is still refused, naming the choices.
        let refused = app.get_json(&by("-price,colour"), 400).await;
        let message = refused["errors"]["ordering"][0].as_str().unwrap();
        assert!(message.contains("created_at"), "{message}");
    }

    async fn page_last_serves_the_last_page(app: TestApp) {
        let first = app.get_json("/api/products/?page_size=7", 200).await;
        let pages = count(&first).div_ceil(7);
        assert!(pages > 2, "the fixture spans pages");
        let last = app.get_json("/api/products/?page_size=7&page=last", 200).await;
        let numbered = app.get_json(&format!("/api/products/?page_size=7&page={pages}"), 200).await;
        assert_eq!(last, numbered);
        assert!(last["next"].is_null());
        assert!(last["previous"].as_str().unwrap().contains(&format!("page={}", pages - 1)));
        // An empty listing's last page is its first.
        let none = app.get_json("/api/products/?search=nothing-matches-this&page=last", 200).await;
        assert_eq!(count(&none), 0);
        // Categories too.
        let categories = app.get_json("/api/categories/?page_size=2&page=last", 200).await;
        assert_eq!(categories, app.get_json("/api/categories/?page_size=2&page=2", 200).await);
        assert!(categories["next"].is_null());
        // Any other word is still a bad page number.
        app.get_json("/api/products/?page=first", 400).await;
    }
}
