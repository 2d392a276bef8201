//! Accessibility in a real browser: axe-core (from npm, at the version
//! tests/a11y/package-lock.json pins) run in headless Chromium on every kind
//! of page a shopper or an admin meets, at desktop and phone widths, finds
//! nothing serious or critical. The keyboard alone can buy: every stop on
//! the way shows where the focus is. Screenshots of each page at both
//! widths go to artifacts/screenshots/, and to docs/screenshots/ (the ones
//! the README shows) when STOREFRONT_UPDATE_SCREENSHOTS=1.

use std::path::PathBuf;

use serde_json::{Value, json};

use storefront::seed::{self, SeedPlan};

use crate::support::browser::{Browser, Driver, ENTER, TAB, start_driver};
use crate::support::{Backend, TestApp};

/// The widths a page must work at: a laptop and a phone.
const VIEWPORTS: [(&str, u32, u32); 2] = [("desktop", 1280, 900), ("phone", 390, 844)];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// axe-core's script, as installed by scripts/install-test-tools.sh.
fn axe_source() -> String {
    let path = root().join("tests/a11y/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} ({e}): run scripts/install-test-tools.sh", path.display()))
}

/// The serious and critical violations axe finds on the current page, one
/// line each: rule, what it asks, and the elements that break it.
async fn serious_violations(browser: &Browser, axe: &str) -> Vec<String> {
    browser.execute(&format!("{axe}\n;return typeof axe;"), json!([])).await;
    let script = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document)
            .then(r => done({ passed: r.passes.length, violations: r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`) }))
            .catch(e => done({ passed: 0, violations: ['axe failed: ' + e] }));
    "#;
    let found = browser.execute_async(script, json!([])).await;
    // A run that checked nothing would find nothing: it must have passed rules.
    assert!(found["passed"].as_u64().unwrap_or(0) >= 10, "axe checked too little: {found}");
    found["violations"]
        .as_array()
        .expect("axe's findings")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn sign_in(browser: &Browser, app: &TestApp, next: &str, email: &str, password: &str) {
    browser.goto(&app.url(next)).await;
    browser.wait_for("id=\"password\"").await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.click(".auth-form button[type=submit]").await;
    browser.wait_for("You are signed in.").await;
}

/// Every page kind, checked and photographed at both widths.
#[tokio::test]
async fn axe_finds_nothing_serious_on_any_page_at_any_width() {
    // The demo catalog a new user gets, with its drawn pictures: what the
    // screenshots show.
    let app = TestApp::spawn(Backend::Sqlite).await;
    seed::load(&app.db, &app.state.media, SeedPlan::DEMO, true).await.expect("the demo catalog");
    app.create_user("admin@example.com", "admin password", true).await;
    let first = &app.get_json("/api/products/?search=laptop&ordering=-price", 200).await["results"][0];
    let (slug, id) = (first["slug"].as_str().unwrap().to_owned(), first["id"].as_i64().unwrap());
    let http = reqwest::Client::new();
    let driver: Driver = start_driver(&http).await;
    let shopper = Browser::open(&http, &driver).await;
    let admin = Browser::open(&http, &driver).await;
    shopper.call(reqwest::Method::POST, "/timeouts", json!({"script": 60_000})).await;
    admin.call(reqwest::Method::POST, "/timeouts", json!({"script": 60_000})).await;
    let axe = axe_source();
    let update = std::env::var("STOREFRONT_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");

    // The shopper's pages, in the order a purchase meets them; the cart and
    // checkout hold a line once the product page's form has been sent.
    let product_page = format!("/products/{slug}");
    let mut pages: Vec<(&str, String, &Browser)> = vec![
        ("home", "/".to_owned(), &shopper),
        ("listing", "/categories/computers".to_owned(), &shopper),
        ("search", "/products?q=laptop".to_owned(), &shopper),
        ("product", product_page.clone(), &shopper),
        ("cart", "/cart".to_owned(), &shopper),
        ("checkout", "/checkout".to_owned(), &shopper),
        ("login", "/login".to_owned(), &shopper),
    ];
    sign_in(&admin, &app, "/admin/products", "admin@example.com", "admin password").await;
    pages.push(("admin-edit", format!("/admin/products/{id}/edit"), &admin));

    let mut problems = Vec::new();
    for (name, path, browser) in pages {
        if name == "cart" {
            browser.goto(&app.url(&product_page)).await;
            browser.click(".add-to-cart button").await;
            browser.wait_for("Your cart").await;
        }
        for (width_name, width, height) in VIEWPORTS {
            browser.resize(width, height).await;
            browser.goto(&app.url(&path)).await;
            browser.wait_for("</footer>").await;
            for violation in serious_violations(browser, &axe).await {
                problems.push(format!("{name} ({width_name}): {violation}"));
            }
            let shot = format!("{name}-{width_name}");
            browser.screenshot_into(&root().join("artifacts/screenshots"), &shot).await;
            if update {
                browser.screenshot_into(&root().join("docs/screenshots"), &shot).await;
            }
        }
    }
    assert!(problems.is_empty(), "axe found serious or critical violations:\n{}", problems.join("\n"));
    shopper.close().await;
    admin.close().await;
}

/// What has the focus, and whether it shows: its outline or a ring drawn
/// with box-shadow, as the stylesheet's `:focus-visible` gives it.
async fn focused(browser: &Browser) -> Value {
    browser
        .execute(
            r#"const e = document.activeElement; const s = getComputedStyle(e);
               return { tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name') || '',
                        text: (e.innerText || e.value || '').trim().slice(0, 40),
                        visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none' };"#,
            json!([]),
        )
        .await
}

/// From the home page to a cart with two of a product, with Tab, typing
/// and Enter only: every element the focus lands on shows it.
#[tokio::test]
async fn a_shopper_with_only_a_keyboard_can_fill_a_cart_and_sees_the_focus_throughout() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let product = app.fixture.product("Steel Laptop 13").clone();
    let http = reqwest::Client::new();
    let driver = start_driver(&http).await;
    let shopper = Browser::open(&http, &driver).await;

    // Tab to a link or control whose `id`, `name` or text is `target`,
    // checking each stop on the way shows the focus.
    async fn tab_to(shopper: &Browser, target: &str) {
        let mut seen = Vec::new();
        for _ in 0..80 {
            shopper.press(TAB).await;
            let f = focused(shopper).await;
            assert!(f["visible"].as_bool().unwrap(), "the focus is not visible on {f} (after {seen:?})");
            if [&f["id"], &f["name"], &f["text"]].iter().any(|v| v.as_str() == Some(target)) {
                return;
            }
            seen.push(f["text"].as_str().unwrap_or_default().to_owned());
        }
        panic!("Tab never reached {target:?}; it went through {seen:?}");
    }

    shopper.goto(&app.url("/")).await;
    shopper.wait_for("</footer>").await;
    // The header search, by keyboard.
    tab_to(&shopper, "q").await;
    shopper.type_keys("Steel").await;
    shopper.press(ENTER).await;
    shopper.wait_for("Results for").await;
    tab_to(&shopper, &product.name).await;
    shopper.press(ENTER).await;
    shopper.wait_for("Add to cart").await;
    tab_to(&shopper, "quantity").await;
    shopper.execute("document.activeElement.select();", json!([])).await;
    shopper.type_keys("2").await;
    shopper.press(ENTER).await;
    let cart = shopper.wait_for("Your cart").await;
    assert!(cart.contains(&product.name), "the cart holds the product");
    let quantity =
        shopper.execute("return document.querySelector('.cart-line input[name=quantity]').value;", json!([])).await;
    assert_eq!(quantity, "2", "two of it, typed at the keyboard");
    shopper.close().await;
}

/// The README shows the committed screenshots, and every one it links is there.
#[test]
fn the_readme_shows_the_screenshots_of_every_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for page in ["home", "listing", "search", "product", "cart", "checkout", "login", "admin-edit"] {
        for (width, _, _) in VIEWPORTS {
            let file = format!("docs/screenshots/{page}-{width}.png");
            assert!(readme.contains(&file), "the README does not link {file}");
            let bytes = std::fs::read(root().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(bytes.starts_with(b"\x89PNG"), "{file} is not a PNG");
            assert!(bytes.len() < 400 * 1024, "{file} is {} KB: keep screenshots small", bytes.len() / 1024);
        }
    }
}
