//! Credentials at the edge: one address is one account whatever Unicode
//! form it is typed in, and password hashing never queues without bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use storefront::config::Settings;
use storefront::models::_entities::user;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, Visitor};

async fn accounts(app: &TestApp) -> u64 {
    user::Entity::find().count(&app.db).await.expect("count users")
}

on_both_backends! {
    async fn a_fullwidth_or_invisible_variant_of_an_email_is_not_a_second_account(app: TestApp) {
        let first = Visitor::new(&app);
        assert_eq!(first.register("s@x.test", "correct horse").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(accounts(&app).await, 1);

        // Fullwidth `ｓ` is `s`: the address is taken. (What a taken address
        // answers is the registration page's business; no account is made.)
        let other = Visitor::new(&app);
        other.register("\u{ff53}@x.test", "another horse").await;
        assert_eq!(accounts(&app).await, 1);

        // A zero-width space is refused, with the field's message.
        let r = other.register("s\u{200b}@x.test", "another horse").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.text().await.unwrap().contains("Enter a valid email address."));
        assert_eq!(accounts(&app).await, 1);

        // The login form reads addresses the same way.
        let r = other.login("s\u{200b}@x.test", "correct horse").await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(other.signed_in_as().await, None);
        let r = other.login("\u{ff33}@x.test", "correct horse").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(other.signed_in_as().await.as_deref(), Some("s@x.test"));
    }
}

/// Logins and registrations from many clients at once: each request comes
/// through a trusted proxy for an address of its own, with an email of its
/// own, so the login throttle (per account, per address) stays out of it.
fn from_many_clients(settings: &mut Settings) {
    settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
}

/// A visitor for client `n`, with the login form's CSRF token in hand.
async fn client(app: &TestApp, n: usize) -> (Visitor, String) {
    let v = Visitor::forwarded_for(app, &format!("198.51.{}.{}", n / 250, n % 250 + 1));
    let csrf = v.csrf("/login").await;
    (v, csrf)
}

/// Posts a login for `email` that the server hashes (an unknown email costs
/// the same as a known one).
async fn post_login(
    v: &Visitor,
    csrf: &str,
    email: &str,
    timeout: Duration,
) -> Result<reqwest::Response, reqwest::Error> {
    v.client
        .post(format!("{}/login", v.base))
        .form(&[("email", email), ("password", "not the password"), ("csrf", csrf)])
        .timeout(timeout)
        .send()
        .await
}

#[tokio::test]
async fn a_burst_of_logins_beyond_the_hash_queue_is_answered_503_with_retry_after() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        from_many_clients(s);
        s.password_hash_queue = 2;
    })
    .await;
    let (owner, _) = client(&app, 1000).await;
    assert_eq!(owner.register("owner@x.test", "correct horse").await.status(), StatusCode::SEE_OTHER);

    const BURST: usize = 24;
    let barrier = Arc::new(tokio::sync::Barrier::new(BURST));
    let mut logins = Vec::new();
    for n in 0..BURST {
        let (v, csrf) = client(&app, n).await;
        let barrier = barrier.clone();
        logins.push(tokio::spawn(async move {
            barrier.wait().await;
            let r = post_login(&v, &csrf, &format!("burst{n}@x.test"), Duration::from_secs(30)).await.unwrap();
            let retry_after = r.headers().get("retry-after").map(|h| h.to_str().unwrap().to_owned());
            let html = r.headers()["content-type"].to_str().unwrap().starts_with("text/html");
            (r.status(), retry_after, html)
        }));
    }
    let mut refused = 0;
    for login in logins {
        let (status, retry_after, html) = login.await.unwrap();
        match status {
            StatusCode::BAD_REQUEST => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                let seconds: u64 = retry_after.expect("a 503 says when to retry").parse().unwrap();
                assert!(seconds >= 1);
                assert!(html, "the error page");
            }
            other => panic!("a login in the burst answered {other}"),
        }
    }
    assert!(refused > 0, "some of {BURST} logins at once were refused");
    assert!(refused < BURST, "the queue's share was hashed");
    assert_eq!(app.state.hasher.admitted(), 0);

    // Once the burst is over, logins are served again.
    let (v, _) = client(&app, 1001).await;
    assert_eq!(v.login("owner@x.test", "correct horse").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn logins_whose_clients_have_gone_are_skipped_not_hashed() {
    let app = TestApp::spawn_configured(Backend::Sqlite, |s| {
        from_many_clients(s);
        s.password_hash_queue = 64;
        s.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let (owner, _) = client(&app, 1000).await;
    assert_eq!(owner.register("owner@x.test", "correct horse").await.status(), StatusCode::SEE_OTHER);
    // How long one login takes here, hash included.
    let (v, csrf) = client(&app, 1001).await;
    let started = Instant::now();
    assert_eq!(post_login(&v, &csrf, "alone@x.test", Duration::from_secs(30)).await.unwrap().status(), 400);
    let one_login = started.elapsed();

    // Enough logins that are waited for to keep every hashing thread busy
    // for several hashes...
    const HELD: usize = 32;
    const ABANDONED: usize = 12;
    let mut clients = Vec::new();
    for n in 0..HELD + ABANDONED {
        clients.push(client(&app, n).await);
    }
    let abandoning = clients.split_off(HELD);
    let held: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, (v, csrf))| {
            tokio::spawn(async move {
                post_login(&v, &csrf, &format!("held{n}@x.test"), Duration::from_secs(30)).await.unwrap().status()
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.hasher.admitted() < HELD / 2 {
        assert!(Instant::now() < deadline, "the held logins reach the hashing queue");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // ...then logins whose clients give up long before their turn.
    let abandoned: Vec<_> = abandoning
        .into_iter()
        .enumerate()
        .map(|(n, (v, csrf))| {
            tokio::spawn(async move { post_login(&v, &csrf, &format!("gone{n}@x.test"), one_login * 2).await })
        })
        .collect();
    for login in abandoned {
        let _ = login.await.unwrap();
    }
    for login in held {
        assert_eq!(login.await.unwrap(), StatusCode::BAD_REQUEST);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.state.hasher.admitted() > 0 {
        assert!(Instant::now() < deadline, "the queue drains");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let skipped = app.state.hasher.skipped();
    assert!(skipped > 0, "abandoned logins were hashed anyway");
    let metrics = app.metrics().await;
    let counted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("storefront_password_hash_skipped_total "))
        .unwrap_or_else(|| panic!("no skipped counter in\n{metrics}"))
        .parse()
        .unwrap();
    // The counter is the process's: other apps of this test binary add to it.
    assert!(counted >= skipped as f64, "{counted} < {skipped}");

    let (v, _) = client(&app, 1002).await;
    assert_eq!(v.login("owner@x.test", "correct horse").await.status(), StatusCode::SEE_OTHER);
}
