//! The database store's own rules, below HTTP: what has ended reads as
//! absent and is swept; a session deleted while a request ran stays
//! deleted; adds and reservations released together never pass a limit.
//! The same scenarios over HTTP run on this store in `accounts`, `cart`,
//! `session_rights` and `throttles`.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use storefront::models::_entities::{cart, cart_claim, cart_line, session, throttle_counter};
use storefront::services::cart::LineChange;
use storefront::stores::carts::DbCarts;
use storefront::stores::sessions::DbSessions;
use storefront::stores::throttles::DbThrottle;
use tokio::sync::Barrier;
use tower_sessions::cookie::time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

use crate::on_both_backends;

fn record(lives: Duration) -> Record {
    let mut data = std::collections::HashMap::new();
    data.insert("flash".to_owned(), serde_json::json!("hello"));
    Record { id: Id::default(), data, expiry_date: OffsetDateTime::now_utc() + lives }
}

/// Rows in each table: sessions, carts, cart lines, claims, counters.
async fn rows(db: &DatabaseConnection) -> [u64; 5] {
    [
        session::Entity::find().count(db).await.unwrap(),
        cart::Entity::find().count(db).await.unwrap(),
        cart_line::Entity::find().count(db).await.unwrap(),
        cart_claim::Entity::find().count(db).await.unwrap(),
        throttle_counter::Entity::find().count(db).await.unwrap(),
    ]
}

/// Runs `n` copies of `task` released together by a barrier.
async fn together<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, work) = (barrier.clone(), task(i));
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

on_both_backends! {
    async fn what_has_ended_reads_as_absent_and_is_swept(app: TestApp) {
        let db = app.db.clone();
        let sessions = DbSessions::new(db.clone());
        let (short, long) = (Duration::from_millis(600), Duration::from_secs(3600));
        let (brief_carts, kept_carts) = (DbCarts::new(db.clone(), short), DbCarts::new(db.clone(), long));
        let throttle = DbThrottle::new(db.clone());
        let mut brief = record(short);
        let mut kept = record(long);
        sessions.create(&mut brief).await.unwrap();
        sessions.create(&mut kept).await.unwrap();
        assert_eq!(brief_carts.add("brief", 1, 2, 5).await.unwrap(), LineChange::Done(2));
        assert_eq!(kept_carts.add("kept", 1, 3, 5).await.unwrap(), LineChange::Done(3));
        assert_eq!(brief_carts.claim("owner-brief", "brief").await.unwrap(), "brief");
        assert_eq!(kept_carts.claim("owner-kept", "kept").await.unwrap(), "kept");
        let limit = |key: &str| vec![(key.to_owned(), 1)];
        assert_eq!(throttle.reserve(&limit("brief"), short).await.unwrap(), None);
        assert_eq!(throttle.reserve(&limit("kept"), long).await.unwrap(), None);
        assert!(throttle.reserve(&limit("brief"), short).await.unwrap().is_some(), "at its limit");
        assert_eq!(rows(&db).await, [2, 2, 2, 2, 2]);

        tokio::time::sleep(Duration::from_millis(800)).await;
        // Ended: absent to every reader, before any sweep.
        assert_eq!(sessions.load(&brief.id).await.unwrap(), None);
        assert!(brief_carts.lines("brief").await.unwrap().is_empty());
        assert_eq!(brief_carts.claim("owner-brief", "fresh").await.unwrap(), "fresh", "an ended claim is free");
        assert_eq!(throttle.reserve(&limit("brief"), short).await.unwrap(), None, "a new window");
        assert_eq!(sessions.load(&kept.id).await.unwrap().map(|r| r.data), Some(kept.data.clone()));
        assert_eq!(kept_carts.lines("kept").await.unwrap().into_iter().collect::<Vec<_>>(), [(1, 3)]);
        // An ended cart starts afresh: its old line is gone.
        assert_eq!(brief_carts.add("brief", 2, 1, 5).await.unwrap(), LineChange::Done(1));
        assert_eq!(brief_carts.lines("brief").await.unwrap().into_iter().collect::<Vec<_>>(), [(2, 1)]);

        tokio::time::sleep(Duration::from_millis(800)).await;
        let gone = storefront::stores::sweep(&db).await.unwrap();
        assert_eq!(gone, 4, "the brief session, cart (its line with it), claim and counter");
        assert_eq!(rows(&db).await, [1, 1, 1, 1, 1], "only what lives is left");
        assert_eq!(storefront::stores::sweep(&db).await.unwrap(), 0);
    }

    async fn a_session_deleted_while_a_request_ran_is_not_saved_again(app: TestApp) {
        let sessions = DbSessions::new(app.db.clone());
        let mut r = record(Duration::from_secs(3600));
        sessions.create(&mut r).await.unwrap();
        // A request loaded it; a logout in another tab deletes it; the
        // request then saves its copy.
        let mut copy = sessions.load(&r.id).await.unwrap().expect("stored");
        sessions.delete(&r.id).await.unwrap();
        copy.data.insert("cart".to_owned(), serde_json::json!("abc"));
        sessions.save(&copy).await.unwrap();
        assert_eq!(sessions.load(&r.id).await.unwrap(), None, "the logout holds");
        assert_eq!(session::Entity::find().count(&app.db).await.unwrap(), 0);
        // A session that exists is saved, its end with it.
        let mut live = record(Duration::from_secs(60));
        sessions.create(&mut live).await.unwrap();
        live.data.insert("cart".to_owned(), serde_json::json!("abc"));
        live.expiry_date += Duration::from_secs(3600);
        sessions.save(&live).await.unwrap();
        let loaded = sessions.load(&live.id).await.unwrap().expect("stored");
        assert_eq!(loaded.data, live.data);
        assert_eq!(loaded.expiry_date.unix_timestamp(), live.expiry_date.unix_timestamp());
    }

    async fn a_session_outlives_the_store_that_wrote_it(app: TestApp) {
        let mut r = record(Duration::from_secs(3600));
        DbSessions::new(app.db.clone()).create(&mut r).await.unwrap();
        // A store over a new connection to the same database (a restarted
        // shop) reads it.
        let reopened = storefront::startup::connect(&app.state.settings).await.unwrap();
        let loaded = DbSessions::new(reopened).load(&r.id).await.unwrap().expect("still there");
        assert_eq!(loaded.data, r.data);
    }

    async fn adds_released_together_both_count_and_stop_at_the_stock(app: TestApp) {
        let carts = Arc::new(DbCarts::new(app.db.clone(), Duration::from_secs(3600)));
        // Twelve adds of one at a stock of seven, on a cart none of them has yet.
        let changes = together(12, |_| {
            let carts = carts.clone();
            async move { carts.add("shared", 42, 1, 7).await.unwrap() }
        })
        .await;
        let done: Vec<u32> = changes.iter().filter_map(|c| if let LineChange::Done(q) = c { Some(*q) } else { None }).collect();
        let mut sorted = done.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=7).collect::<Vec<_>>(), "each add saw the one before: {changes:?}");
        assert!(changes.iter().all(|c| matches!(c, LineChange::Done(_) | LineChange::OverLimit(7))), "{changes:?}");
        assert_eq!(carts.lines("shared").await.unwrap().into_iter().collect::<Vec<_>>(), [(42, 7)]);
    }

    async fn new_lines_released_together_stop_at_a_full_cart(app: TestApp) {
        let carts = Arc::new(DbCarts::new(app.db.clone(), Duration::from_secs(3600)));
        let max = storefront::services::cart::MAX_CART_LINES as i32;
        for product in 0..max - 3 {
            assert_eq!(carts.add("full", product, 1, 5).await.unwrap(), LineChange::Done(1));
        }
        let changes = together(10, |i| {
            let carts = carts.clone();
            async move { carts.add("full", 1000 + i as i32, 1, 5).await.unwrap() }
        })
        .await;
        assert_eq!(changes.iter().filter(|c| **c == LineChange::Done(1)).count(), 3, "{changes:?}");
        assert_eq!(changes.iter().filter(|c| **c == LineChange::CartFull).count(), 7, "{changes:?}");
        assert_eq!(carts.lines("full").await.unwrap().len(), max as usize);
        assert_eq!(carts.set("full", 5000, 1).await.unwrap(), LineChange::CartFull, "nor can a set start one");
    }

    async fn claims_released_together_agree_on_one_cart(app: TestApp) {
        let carts = Arc::new(DbCarts::new(app.db.clone(), Duration::from_secs(3600)));
        let won = together(8, |i| {
            let carts = carts.clone();
            async move { carts.claim("one-session", &format!("candidate-{i}")).await.unwrap() }
        })
        .await;
        assert!(won.iter().all(|w| *w == won[0]), "{won:?}");
        assert_eq!(cart_claim::Entity::find().count(&app.db).await.unwrap(), 1);
    }

    async fn reservations_released_together_stop_at_the_limit(app: TestApp) {
        let throttle = Arc::new(DbThrottle::new(app.db.clone()));
        let window = Duration::from_secs(900);
        // Two counters per attempt, as a login has: the account's (5) and the address's (20).
        let answers = together(30, |i| {
            let throttle = throttle.clone();
            let limits = vec![("account:a".to_owned(), 5), (format!("address:{}", i % 2), 20)];
            async move { throttle.reserve(&limits, window).await.unwrap() }
        })
        .await;
        assert_eq!(answers.iter().filter(|a| a.is_none()).count(), 5, "{answers:?}");
        assert!(answers.iter().flatten().all(|wait| *wait > Duration::ZERO && *wait <= window));
        let counters = throttle_counter::Entity::find().all(&app.db).await.unwrap();
        let count = |key: &str| counters.iter().find(|c| c.key == key).map(|c| c.count);
        assert_eq!(count("account:a"), Some(5));
        assert_eq!(count("address:0").unwrap_or(0) + count("address:1").unwrap_or(0), 5, "refusals raise nothing");
        // A success gives back: the account cleared, the address lowered.
        throttle.release(&["account:a".to_owned(), "address:0".to_owned()], true).await.unwrap();
        assert_eq!(throttle.reserve(&[("account:a".to_owned(), 5)], window).await.unwrap(), None);
    }
}
