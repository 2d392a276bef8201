//! Orders through the API, as buyers, admins and attackers send them: stock
//! never oversold under concurrent buyers, idempotent replays, prices
//! snapshotted, cancellation restocking, owner-only reads, field errors.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::api::token_for;
use crate::support::visitor::add_to_cart;
use crate::support::{TestApp, Visitor, csrf_in};

fn order_body(email: &str, lines: Value) -> Value {
    json!({
        "email": email,
        "shipping": {"name": "Ann Buyer", "line1": "1 Main Street", "city": "Lyon", "postal_code": "69001", "country": "FR"},
        "lines": lines,
    })
}

fn one_of(product: i32, quantity: u32) -> Value {
    order_body("ann@example.com", json!([{"product_id": product, "quantity": quantity}]))
}

/// `POST /api/orders/` with `body`, an optional bearer token and
/// `Idempotency-Key`; returns the status and the JSON body.
async fn place(app: &TestApp, body: &Value, token: Option<&str>, key: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.post(app.url("/api/orders/")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn stock_of(app: &TestApp, id: i32) -> i64 {
    app.get_product_json(id, 200).await["stock"].as_i64().expect("stock")
}

async fn set_status(app: &TestApp, token: &str, number: &str, status: &str) -> (StatusCode, Value) {
    let url = app.url(&format!("/api/orders/{number}/"));
    let response = app.client.patch(url).bearer_auth(token).json(&json!({ "status": status })).send().await.unwrap();
    let code = response.status();
    (code, response.json().await.unwrap_or(Value::Null))
}

async fn get_order(app: &TestApp, number: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/api/orders/{number}/")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// A visitor whose cart holds one of `product` (so it has a session), and
/// the form token its pages carry.
async fn visitor_with_cart(app: &TestApp, product: i32) -> (Visitor, String) {
    let visitor = Visitor::new(app);
    let slug = app.get_product_json(product, 200).await["slug"].as_str().unwrap().to_owned();
    let page = format!("/products/{slug}");
    assert_eq!(add_to_cart(&visitor, &page, product, "1").await.status(), StatusCode::SEE_OTHER);
    let csrf = csrf_in(&visitor.page(&page).await);
    (visitor, csrf)
}

on_both_backends! {
    async fn thirty_buyers_of_ten_units_leave_exactly_ten_orders_and_no_stock(app: TestApp) {
        let (id, _) = app.add_product("computers", "Limited Lamp", "Ten made", 10).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(30));
        let buyers = (0..30).map(|n| {
            let (client, barrier, url) = (app.client.clone(), barrier.clone(), app.url("/api/orders/"));
            let body = order_body(&format!("buyer{n}@example.com"), json!([{"product_id": id, "quantity": 1}]));
            tokio::spawn(async move {
                barrier.wait().await;
                let response = client.post(url).json(&body).send().await.unwrap();
                let status = response.status();
                (status, response.json::<Value>().await.unwrap_or(Value::Null))
            })
        });
        let answers: Vec<(StatusCode, Value)> =
            futures_util::future::join_all(buyers.collect::<Vec<_>>()).await.into_iter().map(Result::unwrap).collect();
        let placed = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let refused: Vec<&Value> = answers.iter().filter(|(s, _)| *s == StatusCode::CONFLICT).map(|(_, b)| b).collect();
        assert_eq!((placed, refused.len()), (10, 20), "{answers:?}");
        for body in refused {
            let message = body["errors"]["lines[0].quantity"][0].as_str().unwrap_or_default();
            assert!(message.contains("sold out") || message.contains("left"), "{body}");
        }
        assert_eq!(stock_of(&app, id).await, 0);
        let admin = token_for(&app, "root@example.com", true).await;
        let listed: Value = app.client.get(app.url("/api/orders/")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed["count"], 10, "{listed}");
        let numbers: std::collections::HashSet<&str> =
            answers.iter().filter_map(|(_, b)| b["number"].as_str()).collect();
        assert_eq!(numbers.len(), 10, "every order has its own number");
    }

    async fn an_order_answers_its_lines_prices_and_total_as_decimal_strings(app: TestApp) {
        let (a, _) = app.add_product("computers", "Desk Lamp", "", 8).await;
        let (b, _) = app.add_product("books", "Reading Lamp", "", 8).await;
        let body = order_body(" Ann@Example.com ", json!([{"product_id": b, "quantity": 1}, {"product_id": a, "quantity": "3"}]));
        let (status, order) = place(&app, &body, None, None).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let number = order["number"].as_str().unwrap();
        assert!(number.starts_with("SF-") && number.len() == 13, "{number}");
        assert_eq!(order["status"], "pending");
        assert_eq!(order["email"], "ann@example.com");
        assert_eq!(order["total"], "40.00", "4 × 10.00: {order}");
        let lines = order["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], json!({"product_id": a, "name": "Desk Lamp", "unit_price": "10.00", "quantity": 3, "line_total": "30.00"}));
        assert_eq!(lines[1]["product_id"], b);
        assert!(order["created_at"].as_str().is_some());
        assert_eq!((stock_of(&app, a).await, stock_of(&app, b).await), (5, 7));
    }

    async fn an_idempotent_replay_answers_the_same_order_and_another_body_is_refused(app: TestApp) {
        let (id, _) = app.add_product("computers", "Replay Lamp", "", 5).await;
        let body = one_of(id, 2);
        let (first, order) = place(&app, &body, None, Some("key-1")).await;
        assert_eq!(first, StatusCode::CREATED, "{order}");
        let (again, replayed) = place(&app, &body, None, Some("key-1")).await;
        assert_eq!(again, StatusCode::OK, "{replayed}");
        assert_eq!(replayed["number"], order["number"]);
        assert_eq!(stock_of(&app, id).await, 3, "stock taken once");
        let (other, refused) = place(&app, &one_of(id, 1), None, Some("key-1")).await;
        assert_eq!(other, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains("Idempotency-Key"), "{refused}");
        // Released together, one key places one order.
        let barrier = Arc::new(tokio::sync::Barrier::new(6));
        let tries = (0..6).map(|_| {
            let (client, barrier, url, body) = (app.client.clone(), barrier.clone(), app.url("/api/orders/"), one_of(id, 1));
            tokio::spawn(async move {
                barrier.wait().await;
                let r = client.post(url).header("Idempotency-Key", "key-2").json(&body).send().await.unwrap();
                let status = r.status();
                (status, r.json::<Value>().await.unwrap()["number"].as_str().map(str::to_owned))
            })
        });
        let answers: Vec<_> = futures_util::future::join_all(tries.collect::<Vec<_>>()).await.into_iter().map(Result::unwrap).collect();
        assert!(answers.iter().all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::OK), "{answers:?}");
        let numbers: std::collections::HashSet<_> = answers.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(numbers.len(), 1, "{answers:?}");
        assert_eq!(stock_of(&app, id).await, 2);
        // A key is the caller's own: a signed-in user's is not a guest's.
        let token = token_for(&app, "keys@example.com", false).await;
        let (mine, _) = place(&app, &body, Some(&token), Some("key-1")).await;
        assert_eq!(mine, StatusCode::CREATED);
    }

    async fn a_placed_order_keeps_the_name_and_price_it_was_placed_at(app: TestApp) {
        let (id, _) = app.add_product("computers", "Price Lamp", "", 5).await;
        let admin = token_for(&app, "root@example.com", true).await;
        let (_, order) = place(&app, &one_of(id, 2), Some(&admin), None).await;
        let r = app.api_patch_product(&admin, id, &json!({"price": "99.50", "name": "Renamed Lamp"})).await;
        assert_eq!(r.status(), 200);
        let number = order["number"].as_str().unwrap();
        let read: Value = get_order(&app, number, Some(&admin)).await.json().await.unwrap();
        assert_eq!(read["lines"][0]["name"], "Price Lamp");
        assert_eq!(read["lines"][0]["unit_price"], "10.00");
        assert_eq!(read["total"], "20.00");
        // The next order pays the new price.
        let (_, next) = place(&app, &one_of(id, 1), None, None).await;
        assert_eq!(next["total"], "99.50", "{next}");
        // A deleted product leaves the line as it was bought.
        let r = app.client.delete(app.url(&format!("/api/products/{id}/"))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 204);
        let read: Value = get_order(&app, number, Some(&admin)).await.json().await.unwrap();
        assert_eq!((read["lines"][0]["product_id"].clone(), read["lines"][0]["name"].clone()), (Value::Null, json!("Price Lamp")));
    }

    async fn cancelling_restocks_once_and_final_states_refuse_every_move(app: TestApp) {
        let (id, _) = app.add_product("computers", "Cancel Lamp", "", 5).await;
        let admin = token_for(&app, "root@example.com", true).await;
        let (_, order) = place(&app, &one_of(id, 2), None, None).await;
        let number = order["number"].as_str().unwrap().to_owned();
        assert_eq!(stock_of(&app, id).await, 3);
        // Two admins cancel at the same moment: one restock.
        let (a, b) = tokio::join!(set_status(&app, &admin, &number, "cancelled"), set_status(&app, &admin, &number, "cancelled"));
        assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
        assert_eq!(a.1["status"], "cancelled");
        assert_eq!(stock_of(&app, id).await, 5, "restocked once");
        let (ship, refused) = set_status(&app, &admin, &number, "shipped").await;
        assert_eq!(ship, StatusCode::CONFLICT, "a cancelled order cannot ship: {refused}");
        assert!(!refused["errors"]["status"][0].as_str().unwrap().is_empty());
        // Pending -> paid -> shipped, and then no cancelling.
        let (_, order) = place(&app, &one_of(id, 1), None, None).await;
        let number = order["number"].as_str().unwrap().to_owned();
        assert_eq!(set_status(&app, &admin, &number, "shipped").await.0, StatusCode::CONFLICT, "unpaid orders do not ship");
        assert_eq!(set_status(&app, &admin, &number, "paid").await.0, StatusCode::OK);
        assert_eq!(set_status(&app, &admin, &number, "shipped").await.0, StatusCode::OK);
        assert_eq!(set_status(&app, &admin, &number, "cancelled").await.0, StatusCode::CONFLICT);
        assert_eq!(stock_of(&app, id).await, 4, "a refused cancel restocks nothing");
        let (bad, body) = set_status(&app, &admin, &number, "lost").await;
        assert_eq!(bad, StatusCode::BAD_REQUEST, "{body}");
        // Moves are for admins.
        let shopper = token_for(&app, "shopper@example.com", false).await;
        assert_eq!(set_status(&app, &shopper, &number, "paid").await.0, StatusCode::FORBIDDEN);
        let r = app.client.patch(app.url(&format!("/api/orders/{number}/"))).json(&json!({"status": "paid"})).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Admins list by status.
        let url = app.url("/api/orders/?status=cancelled");
        let listed: Value = app.client.get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed["count"], 1, "{listed}");
        let r = app.client.get(app.url("/api/orders/?status=lost")).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // A control character in the search (schemathesis sent a NUL) is
        // dropped, never a 500; an order's number still finds it.
        let url = app.url(&format!("/api/orders/?search=%00{number}%C2%91&page=last"));
        let listed: Value = app.client.get(url).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
        assert_eq!(listed["count"], 1, "{listed}");
        let r = app.client.get(app.url("/api/orders/")).bearer_auth(&shopper).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }

    async fn only_the_owner_or_an_admin_reads_an_order(app: TestApp) {
        let (id, _) = app.add_product("computers", "Private Lamp", "", 5).await;
        let owner = token_for(&app, "owner@example.com", false).await;
        let other = token_for(&app, "other@example.com", false).await;
        let admin = token_for(&app, "root@example.com", true).await;
        let (_, order) = place(&app, &one_of(id, 1), Some(&owner), None).await;
        let number = order["number"].as_str().unwrap();
        assert_eq!(get_order(&app, number, Some(&owner)).await.status(), StatusCode::OK);
        assert_eq!(get_order(&app, number, Some(&admin)).await.status(), StatusCode::OK);
        assert_eq!(get_order(&app, number, Some(&other)).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get_order(&app, number, None).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(get_order(&app, number, Some("sft_not-a-token")).await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(get_order(&app, "SF-0000000000", Some(&admin)).await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get_order(&app, "../../etc", Some(&admin)).await.status(), StatusCode::NOT_FOUND);
        // Case is forgiven in a number typed by hand.
        assert_eq!(get_order(&app, &number.to_lowercase(), Some(&owner)).await.status(), StatusCode::OK);

        // A guest's session owns what it placed; another session does not.
        let (guest, csrf) = visitor_with_cart(&app, id).await;
        let response = guest.client.post(app.url("/api/orders/")).json(&one_of(id, 1)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "a session's write needs its CSRF header");
        let response = guest.client.post(app.url("/api/orders/")).header("X-CSRF-Token", &csrf).json(&one_of(id, 1)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let mine: Value = response.json().await.unwrap();
        let path = format!("/api/orders/{}/", mine["number"].as_str().unwrap());
        assert_eq!(guest.get(&path).await.status(), StatusCode::OK);
        let (stranger, _) = visitor_with_cart(&app, id).await;
        assert!(matches!(stranger.get(&path).await.status(), StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED));
        assert_eq!(get_order(&app, mine["number"].as_str().unwrap(), Some(&other)).await.status(), StatusCode::NOT_FOUND);
    }

    async fn bad_orders_get_field_errors_and_take_nothing(app: TestApp) {
        let (id, _) = app.add_product("computers", "Careful Lamp", "", 3).await;
        let hidden = app.fixture.products.iter().find(|p| !p.active).expect("an inactive fixture product").id;
        let cases = [
            (json!({"email": "not-an-email", "shipping": one_of(id, 1)["shipping"], "lines": [{"product_id": id, "quantity": 1}]}), "email"),
            (order_body("a@example.com", json!([])), "lines"),
            (one_of(id, 0), "lines[0].quantity"),
            (order_body("a@example.com", json!([{"product_id": id, "quantity": 1000}])), "lines[0].quantity"),
            (order_body("a@example.com", json!([{"product_id": "x", "quantity": 1}])), "lines[0].product_id"),
            (one_of(999_999, 1), "lines[0].product_id"),
            (one_of(hidden, 1), "lines[0].product_id"),
            (json!({"email": "a@example.com", "lines": [{"product_id": id, "quantity": 1}]}), "shipping"),
            (json!({"email": "a@example.com", "shipping": {"name": "A"}, "lines": [{"product_id": id, "quantity": 1}]}), "shipping.city"),
            (json!({"email": "a@example.com", "shipping": {"name": "A", "line1": "x", "city": "y", "postal_code": "1", "country": "ZZ"}, "lines": [{"product_id": id, "quantity": 1}]}), "shipping.country"),
        ];
        for (body, field) in cases {
            let (status, answer) = place(&app, &body, None, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert!(answer["detail"].is_string(), "{answer}");
            assert!(answer["errors"][field].is_array(), "{field} in {answer}");
        }
        for raw in ["[1]", "{\"email\": 1}", "not json", "{\"lines\": {}}", "{\"surprise\": true}"] {
            let r = app.client.post(app.url("/api/orders/")).header("content-type", "application/json").body(raw).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{raw}");
        }
        // Short stock names the line and how many are left; nothing is taken,
        // not even the lines that were in stock.
        let (other, _) = app.add_product("books", "Plenty Lamp", "", 50).await;
        let body = order_body("a@example.com", json!([{"product_id": other, "quantity": 1}, {"product_id": id, "quantity": 5}]));
        let (status, answer) = place(&app, &body, None, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        let message = answer["errors"]["lines[1].quantity"][0].as_str().unwrap();
        assert!(message.contains("Only 3") && message.contains("Careful Lamp"), "{message}");
        assert_eq!((stock_of(&app, id).await, stock_of(&app, other).await), (3, 50));
        let r = app.client.post(app.url("/api/orders/")).header("Idempotency-Key", "").json(&one_of(id, 1)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a blank key is not a key");
    }
}

mod confirmation_mail {
    use super::*;
    use crate::support::Backend;
    use crate::support::smtp_sink::SmtpSink;

    /// A shop with the fixture catalog, mailing through a sink of its own.
    async fn shop_mailing_to(sink: &SmtpSink, backend: Backend) -> TestApp {
        let url = sink.url();
        TestApp::spawn_configured(backend, |s| {
            s.mail.smtp_url = Some(storefront::config::SmtpUrl::parse(&url).expect("the sink's url"));
            s.mail.poll_interval = std::time::Duration::from_millis(200);
        })
        .await
    }

    async fn an_order_mails_one_confirmation_and_a_refused_one_none(backend: Backend) {
        let sink = SmtpSink::start();
        let app = shop_mailing_to(&sink, backend).await;
        let (id, _) = app.add_product("computers", "Mailed Lamp", "", 4).await;
        let (status, order) = place(&app, &one_of(id, 2), None, Some("mail-1")).await;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let number = order["number"].as_str().unwrap();
        // A replay and a refused order send nothing more.
        assert_eq!(place(&app, &one_of(id, 2), None, Some("mail-1")).await.0, StatusCode::OK);
        assert_eq!(place(&app, &one_of(id, 50), None, None).await.0, StatusCode::CONFLICT);
        sink.wait_for(1).await;
        // Long enough for a second mail, were there one, to follow.
        tokio::time::sleep(std::time::Duration::from_millis(800)).await;
        let received = sink.messages();
        assert_eq!(received.len(), 1, "one mail for one order: {received:?}");
        let mail = &received[0];
        assert_eq!(mail.rcpt_tos, vec!["ann@example.com".to_owned()]);
        assert!(mail.header("Subject").unwrap().contains(number), "{:?}", mail.header("Subject"));
        for expected in
            [number, "2 x Mailed Lamp at $10.00 = $20.00", "Total: $20.00", "pay on delivery", "Lyon", "France"]
        {
            assert!(mail.data.contains(expected), "{expected:?} in\n{}", mail.data);
        }
        assert!(mail.data.contains(&format!("/orders/{number}")), "a link to the order's page");
    }

    #[tokio::test]
    async fn sqlite() {
        an_order_mails_one_confirmation_and_a_refused_one_none(Backend::Sqlite).await
    }

    #[tokio::test]
    async fn postgres() {
        an_order_mails_one_confirmation_and_a_refused_one_none(Backend::Postgres).await
    }
}
