//! Checkout over HTTP, as shoppers, admins and attackers act: the form,
//! the confirmation, one order per checkout however often it is sent, who
//! may see an order, short stock, bad fields, and the admin's list and moves.

use std::sync::Arc;

use reqwest::StatusCode;
use scraper::{Html, Selector};
use sea_orm::{EntityTrait, PaginatorTrait};
use storefront::models::_entities::order;
use storefront::services::catalog;
use storefront::services::writes::{self, ProductChanges};
use tokio::sync::Barrier;

use crate::support::visitor::{add_to_cart, admin, cart_lines, signed_in_with};
use crate::support::{TestApp, Visitor, csrf_in};
use crate::{on_both_backends, on_both_backends_and_stores};

/// A filled-in shipping form, before the token fields.
const CONTACT: [(&str, &str); 7] = [
    ("email", "ann@example.com"),
    ("name", "Ann Lee"),
    ("line1", "1 Rue de la Paix"),
    ("line2", ""),
    ("city", "Paris"),
    ("postal_code", "75002"),
    ("country", "FR"),
];

/// The value of the input `name` of the checkout form.
fn field(html: &str, name: &str) -> String {
    let doc = Html::parse_document(html);
    let selector = Selector::parse(&format!("form[action='/checkout'] input[name={name}]")).unwrap();
    doc.select(&selector).next().and_then(|e| e.value().attr("value")).unwrap_or_default().to_owned()
}

/// The checkout page: its HTML, CSRF token and checkout token.
async fn open_checkout(v: &Visitor) -> (String, String, String) {
    let r = v.get("/checkout").await;
    let status = r.status();
    let html = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    let (csrf, token) = (field(&html, "csrf"), field(&html, "token"));
    assert!(!csrf.is_empty() && token.len() == 64, "tokens on the form: {html}");
    (html, csrf, token)
}

/// Sends the checkout form with `contact` and the two tokens.
async fn send(v: &Visitor, csrf: &str, token: &str, contact: &[(&str, &str)]) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = contact.to_vec();
    form.extend([("csrf", csrf), ("token", token)]);
    v.post("/checkout", &form).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or_default().to_owned()
}

/// Fills `v`'s cart with `quantity` of a fixture product and checks out
/// with `email`; returns the order's number.
async fn buy(app: &TestApp, v: &Visitor, product: &str, quantity: &str, email: &str) -> String {
    let p = app.fixture.product(product).clone();
    assert_eq!(add_to_cart(v, &format!("/products/{}", p.slug), p.id, quantity).await.status(), StatusCode::SEE_OTHER);
    let (_, csrf, token) = open_checkout(v).await;
    let mut contact = CONTACT.to_vec();
    contact[0].1 = email;
    let r = send(v, &csrf, &token, &contact).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let to = location(&r);
    to.strip_prefix("/orders/").unwrap_or_else(|| panic!("to the confirmation: {to}")).to_owned()
}

async fn stock_of(app: &TestApp, id: i32) -> i32 {
    catalog::stored_product(&app.db, id).await.unwrap().stock
}

async fn order_count(app: &TestApp) -> u64 {
    order::Entity::find().count(&app.db).await.unwrap()
}

fn texts(html: &str, css: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    doc.select(&Selector::parse(css).unwrap()).map(|e| e.text().collect::<String>().trim().to_owned()).collect()
}

on_both_backends_and_stores! {
    async fn a_guest_checks_out_and_lands_on_the_confirmation(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let keyboard = app.fixture.product("Mechanical Keyboard").clone();
        let v = Visitor::new(&app);
        add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "2").await;
        add_to_cart(&v, &format!("/products/{}", keyboard.slug), keyboard.id, "1").await;
        let cart = v.page("/cart").await;
        assert!(cart.contains(r#"href="/checkout""#), "the cart links to checkout");

        let (html, csrf, token) = open_checkout(&v).await;
        assert_eq!(texts(&html, ".checkout-line td a"), ["Laptop Sleeve", "Mechanical Keyboard"]);
        assert!(html.contains("$148.99"), "the total at current prices");
        assert!(html.contains("pay on delivery"));
        assert_eq!(field(&html, "email"), "", "a guest's email is not known");
        assert!(html.contains(r#"<option value="FR">France</option>"#));

        let r = send(&v, &csrf, &token, &CONTACT).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = location(&r);
        let number = to.strip_prefix("/orders/").unwrap().to_owned();
        assert!(number.starts_with("SF-") && number.len() == 13, "{number}");

        let r = v.get(&to).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "private, no-store", "a shopper's own page");
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!("Thank you! Your order {number} is placed.")), "{page}");
        assert_eq!(texts(&page, ".order-number"), std::slice::from_ref(&number));
        assert!(page.contains("pay on delivery") && page.contains("Pending (pay on delivery)"));
        let lines = texts(&page, ".order-line");
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("Laptop Sleeve") && lines[0].contains("$29.50") && lines[0].contains("$59.00"), "{lines:?}");
        assert_eq!(texts(&page, ".order-total"), ["$148.99"]);
        let ship_to = texts(&page, ".ship-to").join(" ");
        assert!(ship_to.contains("Ann Lee") && ship_to.contains("75002 Paris") && ship_to.contains("France"), "{ship_to}");

        assert!(v.page("/cart").await.contains("Your cart is empty."));
        assert_eq!(stock_of(&app, sleeve.id).await, 38);
        assert_eq!(stock_of(&app, keyboard.id).await, 11);
        // With the cart empty, checkout sends the shopper back to it.
        let r = v.get("/checkout").await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/cart".to_owned()));
        assert!(v.page("/cart").await.contains("add something before checking out"));
    }
}

on_both_backends! {
    async fn one_checkout_sent_twice_or_from_two_tabs_places_one_order(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let v = Visitor::new(&app);
        add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "3").await;
        let (_, csrf, token) = open_checkout(&v).await;
        let (_, _, second_tab) = open_checkout(&v).await;
        assert_eq!(token, second_tab, "two tabs on one cart are one checkout");

        // A double click: the same form twice at the same moment.
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let mut form: Vec<(String, String)> = CONTACT.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            form.extend([("csrf".to_owned(), csrf.clone()), ("token".to_owned(), token.clone())]);
            let request = v.client.post(format!("{}/checkout", v.base)).form(&form);
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = request.send().await.unwrap();
                (r.status(), location(&r))
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        assert!(answers.iter().all(|(s, _)| *s == StatusCode::SEE_OTHER), "{answers:?}");
        assert_eq!(answers[0].1, answers[1].1, "both land on one order");
        assert_eq!(order_count(&app).await, 1);
        assert_eq!(stock_of(&app, sleeve.id).await, 37, "stock taken once");
        let order_page = answers[0].1.clone();

        // The second tab's form, sent after, with other details typed in.
        let mut other = CONTACT.to_vec();
        other[1].1 = "Someone Else";
        let r = send(&v, &csrf, &second_tab, &other).await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, order_page.clone()));
        assert!(v.page(&order_page).await.contains("This order was already placed"));
        // Back and resubmit, once the cart has something new in it.
        let keyboard = app.fixture.product("Mechanical Keyboard").clone();
        add_to_cart(&v, &format!("/products/{}", keyboard.slug), keyboard.id, "1").await;
        let r = send(&v, &csrf, &token, &CONTACT).await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, order_page.clone()));
        assert_eq!(order_count(&app).await, 1);
        assert_eq!(cart_lines(&v.page("/cart").await), [("Mechanical Keyboard".to_owned(), "1".to_owned())], "the new line stays");
        assert_eq!(stock_of(&app, keyboard.id).await, 12);

        // The next checkout is another one.
        let (_, csrf, next) = open_checkout(&v).await;
        assert_ne!(next, token);
        let r = send(&v, &csrf, &next, &CONTACT).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_ne!(location(&r), order_page);
        assert_eq!(order_count(&app).await, 2);
    }

    async fn only_the_owner_sees_an_order(app: TestApp) {
        let ann = signed_in_with(&app, "ann@example.com", "anns password", false).await;
        let number = buy(&app, &ann, "Laptop Sleeve", "1", "ann@example.com").await;
        let path = format!("/orders/{number}");
        assert!(ann.page(&path).await.contains(&number));

        // Anyone else: an anonymous visitor, a guest with a cart, another shopper.
        assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
        let guest = Visitor::new(&app);
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        add_to_cart(&guest, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
        let ben = signed_in_with(&app, "ben@example.com", "bens password", false).await;
        for (who, v) in [("a guest", &guest), ("another shopper", &ben)] {
            let r = v.get(&path).await;
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{who}");
            let html = r.text().await.unwrap();
            assert!(!html.contains("Ann Lee") && html.contains("Not found."), "{who}: the ordinary 404 page");
        }
        // Numbers that cannot be orders, and one nobody has.
        for bad in ["/orders/nope", "/orders/SF-0000000000", "/orders/%00", &format!("{path}x")] {
            assert_eq!(ann.get(bad).await.status(), StatusCode::NOT_FOUND, "{bad}");
        }
        // The signed-in owner from another session (another device).
        let elsewhere = Visitor::new(&app);
        elsewhere.login("ann@example.com", "anns password").await;
        assert!(elsewhere.page(&path).await.contains("Pending (pay on delivery)"));
        for v in [&ann, &elsewhere] {
            let list = v.page("/account/orders").await;
            assert_eq!(texts(&list, ".order-row a"), std::slice::from_ref(&number));
        }
        assert!(texts(&ben.page("/account/orders").await, ".order-row").is_empty(), "ben has none");
        // The list is for the signed in.
        let r = guest.get("/account/orders").await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/login?next=%2Faccount%2Forders".to_owned()));
        assert_eq!(ann.get("/account/orders?page=0").await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ann.get("/account/orders?page=9").await.status(), StatusCode::NOT_FOUND);
        // A guest's order is the guest session's, and the checkout prefills
        // the signed-in shopper's email.
        let guest_number = buy(&app, &guest, "Mechanical Keyboard", "1", "guest@example.com").await;
        assert!(guest.page(&format!("/orders/{guest_number}")).await.contains(&guest_number));
        assert_eq!(ann.get(&format!("/orders/{guest_number}")).await.status(), StatusCode::NOT_FOUND);
        let keyboard = app.fixture.product("Mechanical Keyboard").clone();
        add_to_cart(&ben, &format!("/products/{}", keyboard.slug), keyboard.id, "1").await;
        let (html, _, _) = open_checkout(&ben).await;
        assert_eq!(field(&html, "email"), "ben@example.com");
    }

    async fn short_stock_changes_nothing_and_names_the_line(app: TestApp) {
        let (lamp, lamp_slug) = app.add_product("garden", "Garden Lamp", "Solar", 5).await;
        let (gnome, gnome_slug) = app.add_product("garden", "Garden Gnome", "Red hat", 5).await;
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let v = Visitor::new(&app);
        add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
        add_to_cart(&v, &format!("/products/{lamp_slug}"), lamp, "4").await;
        add_to_cart(&v, &format!("/products/{gnome_slug}"), gnome, "2").await;
        let (_, csrf, token) = open_checkout(&v).await;
        // Stock goes while the shopper types.
        for (id, stock) in [(lamp, 2), (gnome, 0)] {
            let changes = ProductChanges { stock: Some(stock), ..Default::default() };
            writes::update_product(&app.db, app.cache(), id, changes).await.unwrap();
        }
        let cart = v.page("/cart").await;
        assert_eq!(texts(&cart, ".stock-note"), ["Only 2 left", "Sold out"], "the cart shows the lines over stock");

        let r = send(&v, &csrf, &token, &CONTACT).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let html = r.text().await.unwrap();
        let problems = texts(&html, ".checkout-line .line-problem");
        assert_eq!(problems, ["Only 2 of “Garden Lamp” left; you asked for 4.", "“Garden Gnome” is sold out."], "{html}");
        assert_eq!(field(&html, "name"), "Ann Lee", "what was typed is kept");
        assert!(html.contains(r#"<option value="FR" selected>France</option>"#));
        assert_eq!(field(&html, "token"), token, "still the same checkout");
        assert_eq!(order_count(&app).await, 0);
        assert_eq!((stock_of(&app, sleeve.id).await, stock_of(&app, lamp).await), (40, 2), "nothing taken");
        let lines = cart_lines(&v.page("/cart").await);
        assert_eq!(lines.len(), 3, "the cart is unchanged: {lines:?}");
        // A fresh checkout page says it before the order is sent.
        let (html, _, _) = open_checkout(&v).await;
        assert_eq!(texts(&html, ".line-problem"), ["Only 2 left", "Sold out"]);
        // A product withdrawn since it was added is named too.
        let hidden = ProductChanges { is_active: Some(false), ..Default::default() };
        writes::update_product(&app.db, app.cache(), lamp, hidden).await.unwrap();
        let r = send(&v, &csrf, &token, &CONTACT).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        assert!(html.contains("Garden Lamp") && html.contains("is not for sale"), "{html}");
        assert_eq!(order_count(&app).await, 0);
    }

    async fn bad_fields_come_back_with_messages_and_what_was_typed(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let v = Visitor::new(&app);
        add_to_cart(&v, &format!("/products/{}", sleeve.slug), sleeve.id, "1").await;
        let (_, csrf, token) = open_checkout(&v).await;
        let bad = [
            ("email", "not-an-email"),
            ("name", "   "),
            ("line1", "1 Rue de la Paix"),
            ("city", "Paris"),
            ("postal_code", "75002"),
            ("country", "XX"),
        ];
        let r = send(&v, &csrf, &token, &bad).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        let doc = Html::parse_document(&html);
        let error_after = |id: &str| -> String {
            let s = Selector::parse(&format!("#{id} + .field-error")).unwrap();
            doc.select(&s).next().map(|e| e.text().collect()).unwrap_or_default()
        };
        assert!(!error_after("email").is_empty(), "{html}");
        assert_eq!(error_after("name"), "This field is required.");
        assert!(error_after("country").contains("Select a country"));
        assert!(error_after("city").is_empty() && error_after("line1").is_empty());
        assert_eq!((field(&html, "email"), field(&html, "city")), ("not-an-email".to_owned(), "Paris".to_owned()));
        assert!(!html.contains(" selected>"), "no country chosen");
        assert_eq!(order_count(&app).await, 0);

        // Without the form token, a 403; without the checkout token, the form again.
        let mut form = CONTACT.to_vec();
        form.push(("token", &token));
        assert_eq!(v.post("/checkout", &form).await.status(), StatusCode::FORBIDDEN);
        let mut form = CONTACT.to_vec();
        form.push(("csrf", &csrf));
        let r = v.post("/checkout", &form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        assert!(html.contains("This form was incomplete") && field(&html, "token") == token);
        assert_eq!(order_count(&app).await, 0);
        assert_eq!(cart_lines(&v.page("/cart").await).len(), 1);
        // An empty cart has nothing to check out.
        let nobody = Visitor::new(&app);
        let csrf = nobody.csrf("/login").await;
        let mut form = CONTACT.to_vec();
        form.extend([("csrf", csrf.as_str()), ("token", "x")]);
        let r = nobody.post("/checkout", &form).await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/cart".to_owned()));
        let r = app.get("/checkout").await;
        assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "/cart".to_owned()));
        assert!(r.headers().get("set-cookie").is_none(), "no session made for it");
    }

    async fn an_admin_finds_orders_and_moves_them_through_their_states(app: TestApp) {
        let sleeve = app.fixture.product("Laptop Sleeve").clone();
        let first = buy(&app, &Visitor::new(&app), "Laptop Sleeve", "2", "ann@example.com").await;
        let second = buy(&app, &Visitor::new(&app), "Laptop Sleeve", "3", "ben@example.com").await;
        assert_eq!(stock_of(&app, sleeve.id).await, 35);
        let root = admin(&app).await;
        let listed = |html: &str| texts(html, ".order-row td a");
        let all = root.page("/admin/orders").await;
        assert_eq!(listed(&all), [second.clone(), first.clone()], "newest first");
        assert!(root.page("/admin/products").await.contains(r#"href="/admin/orders""#), "the admin nav links to orders");
        assert_eq!(listed(&root.page("/admin/orders?status=pending").await).len(), 2);
        assert!(listed(&root.page("/admin/orders?status=paid").await).is_empty());
        assert_eq!(listed(&root.page(&format!("/admin/orders?q={}", first.to_lowercase())).await), std::slice::from_ref(&first));
        assert_eq!(listed(&root.page("/admin/orders?q=ben%40example").await), std::slice::from_ref(&second));
        assert_eq!(root.get("/admin/orders?status=lost").await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(root.get("/admin/orders?page=x").await.status(), StatusCode::BAD_REQUEST);

        let detail = format!("/admin/orders/{first}");
        let html = root.page(&detail).await;
        assert!(html.contains("Laptop Sleeve") && html.contains("Ann Lee") && html.contains("France"));
        assert_eq!(texts(&html, ".status-move button"), ["Mark paid", "Cancel order (restocks)"]);
        let csrf = csrf_in(&html);
        let post = |to: &'static str, csrf: String| {
            let root = &root;
            let path = format!("{detail}/status");
            async move { root.post(&path, &[("csrf", &csrf), ("status", to)]).await }
        };
        for to in ["paid", "shipped"] {
            let r = post(to, csrf.clone()).await;
            assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, detail.clone()), "to {to}");
            assert!(root.page(&detail).await.contains(&format!("Order {first} is now {to}.")));
        }
        assert_eq!(listed(&root.page("/admin/orders?status=shipped").await), std::slice::from_ref(&first));
        // A shipped order cannot be cancelled: refused, with its reason, and nothing changes.
        let r = post("cancelled", csrf.clone()).await;
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let html = r.text().await.unwrap();
        assert!(html.contains("A shipped order cannot be changed."), "{html}");
        assert!(texts(&html, ".status-move").is_empty(), "no buttons on a final order");
        assert_eq!(stock_of(&app, sleeve.id).await, 35);
        assert!(root.page(&detail).await.contains("Status: <strong class=\"status\">Shipped</strong>"));
        // Bad input: an unknown status, no token, an unknown order.
        assert_eq!(post("lost", csrf.clone()).await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(post("paid", String::new()).await.status(), StatusCode::FORBIDDEN);
        let r = root.post("/admin/orders/SF-0000000000/status", &[("csrf", &csrf), ("status", "paid")]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(root.get("/admin/orders/SF-0000000000").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(root.get("/admin/orders/nonsense").await.status(), StatusCode::NOT_FOUND);
        // Cancelling a pending order puts its stock back.
        let r = root.post(&format!("/admin/orders/{second}/status"), &[("csrf", &csrf), ("status", "cancelled")]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(stock_of(&app, sleeve.id).await, 38);

        // Shoppers are refused, visitors sent to log in.
        let shopper = signed_in_with(&app, "shopper@example.com", "shopper password", false).await;
        for path in ["/admin/orders".to_owned(), detail.clone()] {
            assert_eq!(shopper.get(&path).await.status(), StatusCode::FORBIDDEN, "{path}");
            let r = app.get(&path).await;
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
            assert!(location(&r).starts_with("/login?next="));
        }
        let token = csrf_in(&shopper.page("/").await);
        let r = shopper.post(&format!("/admin/orders/{second}/status"), &[("csrf", &token), ("status", "paid")]).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(root.page(&format!("/admin/orders/{second}")).await.contains("Cancelled"));
    }
}
