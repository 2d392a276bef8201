//! End to end in a real browser: headless Chromium driven over WebDriver
//! (Debian's chromium and chromium-driver; nothing is downloaded). An admin
//! signs in through the form and changes a price; the public pages and the
//! API show it at once, to the admin and to a second, anonymous browser. A
//! shopper checks out through the forms and the admin ships the order.
//! Screenshots go to artifacts/ (not committed).

use crate::support::browser::{Browser, start_driver};
use crate::support::{Backend, TestApp, csrf_in};

#[tokio::test]
async fn an_admin_price_change_shows_in_every_browser_at_once() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_user("admin@example.com", "admin password", true).await;
    let p = app.fixture.product("Steel Laptop 13").clone();
    let http = reqwest::Client::new();
    let driver = start_driver(&http).await;
    let admin = Browser::open(&http, &driver).await;
    let shopper = Browser::open(&http, &driver).await;

    // The anonymous shopper looks first, so the old price is cached.
    shopper.goto(&app.url(&format!("/products/{}", p.slug))).await;
    assert!(shopper.source().await.contains("$999.00"));
    shopper.goto(&app.url("/")).await;
    shopper.screenshot("storefront").await;

    admin.goto(&app.url("/admin/products")).await;
    admin.wait_for("name=\"next\" value=\"/admin/products\"").await;
    admin.fill("#email", "admin@example.com").await;
    admin.fill("#password", "admin password").await;
    admin.click(".auth-form button[type=submit]").await;
    admin.wait_for("You are signed in.").await;
    admin.wait_for("admin@example.com").await;
    admin.goto(&app.url(&format!("/admin/products/{}/edit", p.id))).await;
    admin.fill("#price", "777.77").await;
    admin.screenshot("admin-edit").await;
    admin.click(".admin-form button[type=submit]").await;
    admin.wait_for("Saved “Steel Laptop 13”.").await;

    for path in
        [format!("/products/{}", p.slug), "/categories/computers".to_owned(), format!("/api/products/{}/", p.id)]
    {
        admin.goto(&app.url(&path)).await;
        assert!(admin.source().await.contains("777.77"), "admin sees {path}");
        shopper.goto(&app.url(&path)).await;
        assert!(shopper.source().await.contains("777.77"), "shopper sees {path}");
    }
    shopper.goto(&app.url(&format!("/products/{}", p.slug))).await;
    shopper.screenshot("product").await;
    shopper.fill("#quantity", "2").await;
    shopper.click(".add-to-cart button").await;
    let cart = shopper.wait_for("Your cart").await;
    assert!(cart.contains("Steel Laptop 13") && cart.contains("$1,555.54"), "the cart shows the new price");
    shopper.screenshot("cart").await;
    admin.close().await;
    shopper.close().await;
}

#[tokio::test]
async fn a_shopper_checks_out_and_the_admin_ships_the_order() {
    let app = TestApp::spawn(Backend::Postgres).await;
    app.create_user("admin@example.com", "admin password", true).await;
    let p = app.fixture.product("Laptop Sleeve").clone();
    let http = reqwest::Client::new();
    let driver = start_driver(&http).await;
    let shopper = Browser::open(&http, &driver).await;
    let admin = Browser::open(&http, &driver).await;

    shopper.goto(&app.url(&format!("/products/{}", p.slug))).await;
    shopper.fill("#quantity", "2").await;
    shopper.click(".add-to-cart button").await;
    shopper.wait_for("Your cart").await;
    shopper.screenshot("checkout-1-cart").await;
    shopper.click(".checkout-link a").await;
    shopper.wait_for("Place order").await;
    shopper.fill("#email", "ann@example.com").await;
    shopper.fill("#name", "Ann Lee").await;
    shopper.fill("#line1", "1 Rue de la Paix").await;
    shopper.fill("#city", "Paris").await;
    shopper.fill("#postal_code", "75002").await;
    shopper.click("#country option[value=FR]").await;
    shopper.screenshot("checkout-2-form").await;
    shopper.click(".checkout-form button[type=submit]").await;
    let confirmation = shopper.wait_for("Thank you!").await;
    assert!(confirmation.contains("pay on delivery") && confirmation.contains("$59.00"), "{confirmation}");
    let at = confirmation.find("SF-").expect("an order number");
    let number = confirmation[at..at + 13].to_owned();
    shopper.screenshot("checkout-3-confirmation").await;

    admin.goto(&app.url("/admin/orders")).await;
    admin.wait_for("name=\"next\" value=\"/admin/orders\"").await;
    admin.fill("#email", "admin@example.com").await;
    admin.fill("#password", "admin password").await;
    admin.click(".auth-form button[type=submit]").await;
    admin.wait_for(&number).await;
    admin.screenshot("checkout-4-admin-orders").await;
    admin.click(".order-row a").await;
    admin.wait_for("Mark paid").await;
    admin.click("#to-paid").await;
    admin.wait_for(&format!("Order {number} is now paid.")).await;
    admin.screenshot("checkout-5-admin-paid").await;
    admin.click("#to-shipped").await;
    admin.wait_for(&format!("Order {number} is now shipped.")).await;
    admin.screenshot("checkout-6-admin-shipped").await;

    shopper.goto(&app.url(&format!("/orders/{number}"))).await;
    shopper.wait_for("Shipped: it is on its way.").await;
    shopper.screenshot("checkout-7-shipped").await;
    admin.close().await;
    shopper.close().await;
}

/// Serves one page, as another site would, on `localhost` (the shop is on
/// 127.0.0.1: another host, so another site to the browser).
async fn serve_other_site(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = axum::Router::new().route("/", axum::routing::get(move || async move { axum::response::Html(html) }));
    tokio::spawn(async move { axum::serve(listener, page).await });
    format!("http://localhost:{port}/")
}

#[tokio::test]
async fn a_form_on_another_site_cannot_sign_a_shopper_out_or_fill_their_cart() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_user("shopper@example.com", "shopper password", false).await;
    let sleeve = app.fixture.product("Laptop Sleeve").clone();
    let keyboard = app.fixture.product("Mechanical Keyboard").clone();
    let http = reqwest::Client::new();
    let driver = start_driver(&http).await;
    let shopper = Browser::open(&http, &driver).await;
    shopper.goto(&app.url("/login")).await;
    shopper.fill("#email", "shopper@example.com").await;
    shopper.fill("#password", "shopper password").await;
    shopper.click(".auth-form button[type=submit]").await;
    shopper.wait_for("You are signed in.").await;
    shopper.goto(&app.url(&format!("/products/{}", sleeve.slug))).await;
    shopper.click(".add-to-cart button").await;
    shopper.wait_for("Your cart").await;

    // The other site posts the shop's add-to-cart form, with a token it
    // fetched from the shop's own product page.
    let token = csrf_in(&app.get_product_page(&keyboard.slug, 200).await);
    let other = serve_other_site(format!(
        r#"<!doctype html><title>Win a prize</title><form method="post" action="{}">
        <input type="hidden" name="csrf" value="{token}"><input type="hidden" name="product_id" value="{}">
        <input type="hidden" name="quantity" value="5"><button id="claim">Claim</button></form>"#,
        app.url("/cart/add"),
        keyboard.id
    ))
    .await;
    shopper.goto(&other).await;
    shopper.click("#claim").await;
    shopper.wait_for("another site").await;
    shopper.screenshot("cross-site-refused").await;

    shopper.goto(&app.url("/cart")).await;
    let cart = shopper.wait_for("Your cart").await;
    assert!(cart.contains("shopper@example.com"), "still signed in");
    assert!(cart.contains("Laptop Sleeve") && !cart.contains("Mechanical Keyboard"), "the cart is the shopper's own");
    shopper.close().await;
}
