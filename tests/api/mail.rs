//! The mail outbox through its library API (orders, which will enqueue over
//! HTTP, come later), against a real SMTP server of the test's own: a mail
//! committed with its transaction is delivered once, a rolled-back one
//! never, a dedupe key once however often it is enqueued; a server that is
//! down only delays mail; two deliverers on one database never send a mail
//! twice. Without SMTP, mail is written as `.eml` files. A bad SMTP_URL
//! stops the binary at start.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, TransactionTrait};
use storefront::config::{MailSettings, SmtpUrl};
use storefront::mail::{self, DedupeKey, Mailer, OutgoingMail};
use storefront::models::_entities::mail_outbox;
use storefront::startup::connect_migrated;

use crate::support::cli::storefront;
use crate::support::smtp_sink::{Received, SmtpSink};
use crate::support::store::{Store, unique_name};
use crate::support::{Backend, TestApp};

fn confirmation(order: &str) -> OutgoingMail {
    OutgoingMail::new(
        &format!("order-confirmation:{order}"),
        "Ada Lovelace <ada@example.com>",
        format!("Your order {order}"),
        format!("Thank you for order {order}."),
        Some(format!("<p>Thank you for order <b>{order}</b>.</p>")),
    )
    .expect("a valid mail")
}

/// Mail settings that send to `sink`, retry quickly and poll often.
fn quick(smtp_url: Option<String>) -> MailSettings {
    MailSettings {
        smtp_url: smtp_url.map(|url| SmtpUrl::parse(&url).expect("sink url")),
        from: "Test Shop <shop@shop.test>".parse().expect("sender"),
        poll_interval: Duration::from_millis(100),
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        send_timeout: Duration::from_secs(5),
        ..MailSettings::default()
    }
}

/// `mail` enqueued in a transaction that commits; whether it was new.
async fn enqueue_committed(db: &DatabaseConnection, mail: &OutgoingMail) -> bool {
    let txn = db.begin().await.expect("begin");
    let new = mail::enqueue(&txn, mail).await.expect("enqueued");
    txn.commit().await.expect("commit");
    new
}

async fn row(db: &DatabaseConnection, key: &str) -> mail_outbox::Model {
    let found = mail_outbox::Entity::find().filter(mail_outbox::Column::DedupeKey.eq(key)).one(db).await;
    found.expect("query").unwrap_or_else(|| panic!("no outbox row {key}"))
}

/// How many received messages carry each subject.
fn subjects(received: &[Received]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in received {
        *counts.entry(message.header("Subject").unwrap_or_default()).or_default() += 1;
    }
    counts
}

/// A shop sending to a sink of its own, over a fresh empty database.
async fn shop_with_sink(backend: Backend) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let url = sink.url();
    let app = TestApp::spawn_with(Store::create(backend).await, |s| s.mail = quick(Some(url))).await;
    (app, sink)
}

/// A migrated database and mailers over it, without a shop.
struct Outbox {
    settings: storefront::config::Settings,
    db: DatabaseConnection,
    _store: Store,
}

impl Outbox {
    async fn create(backend: Backend, mail: MailSettings) -> Outbox {
        let store = Store::create(backend).await;
        let mut settings = store.settings();
        settings.mail = mail;
        let db = connect_migrated(&settings).await.expect("database");
        Outbox { settings, db, _store: store }
    }

    /// A mailer over a pool of its own, as another instance has.
    async fn mailer(&self) -> Mailer {
        let db = connect_migrated(&self.settings).await.expect("database");
        Mailer::new(&self.settings.mail, db).expect("mailer")
    }
}

macro_rules! on_both_databases {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            mod $name {
                use super::*;
                async fn scenario($backend: Backend) $body
                #[tokio::test]
                async fn sqlite() { scenario(Backend::Sqlite).await }
                #[tokio::test]
                async fn postgres() { scenario(Backend::Postgres).await }
            }
        )*
    };
}

on_both_databases! {
    async fn a_committed_mail_is_delivered_once_with_its_headers_and_body(backend: Backend) {
        let (app, sink) = shop_with_sink(backend).await;
        let mail = confirmation("SF-7K2M9QX4");
        assert!(enqueue_committed(&app.db, &mail).await, "a new mail");
        app.state.mailer.nudge();

        let got = sink.wait_for(1).await;
        let message = &got[0];
        assert_eq!(message.header("Subject").as_deref(), Some("Your order SF-7K2M9QX4"));
        assert_eq!(message.rcpt_tos, ["ada@example.com"]);
        assert_eq!(message.mail_from, "shop@shop.test");
        let to = message.header("To").unwrap_or_default();
        assert!(to.contains("Ada Lovelace") && to.contains("<ada@example.com>"), "{to}");
        let expected_id = mail::message_id(&mail.dedupe_key, &app.state.settings.mail.from);
        assert_eq!(message.header("Message-ID"), Some(expected_id));
        assert!(message.data.contains("Thank you for order SF-7K2M9QX4."), "{}", message.data);
        assert!(message.data.contains("<b>SF-7K2M9QX4</b>"), "the HTML alternative: {}", message.data);

        // Marked sent right after the server accepted it: just after the
        // sink has it, not necessarily before.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut sent = row(&app.db, "order-confirmation:SF-7K2M9QX4").await;
        while sent.sent_at.is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            sent = row(&app.db, "order-confirmation:SF-7K2M9QX4").await;
        }
        assert!(sent.sent_at.is_some() && sent.next_attempt_at.is_none(), "{sent:?}");
        // Nothing is left to send, on a nudge or on a poll.
        app.state.mailer.nudge();
        assert_eq!(app.state.mailer.deliver_due().await.expect("pass").sent, 0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.messages().len(), 1);
    }

    async fn a_mail_enqueued_in_a_rolled_back_transaction_is_never_sent(backend: Backend) {
        let (app, sink) = shop_with_sink(backend).await;
        let txn = app.db.begin().await.expect("begin");
        assert!(mail::enqueue(&txn, &confirmation("SF-ROLLEDBACK")).await.expect("enqueued"));
        txn.rollback().await.expect("rollback");
        app.state.mailer.nudge();
        // A mail committed after it goes through; the rolled-back one never.
        enqueue_committed(&app.db, &confirmation("SF-COMMITTED")).await;
        app.state.mailer.nudge();
        sink.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = subjects(&sink.messages());
        assert_eq!(got, HashMap::from([("Your order SF-COMMITTED".to_owned(), 1)]));
        let none = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::DedupeKey.eq("order-confirmation:SF-ROLLEDBACK"))
            .one(&app.db)
            .await
            .expect("query");
        assert!(none.is_none(), "{none:?}");
    }

    async fn the_same_dedupe_key_enqueued_twice_is_sent_once(backend: Backend) {
        let (app, sink) = shop_with_sink(backend).await;
        let mail = confirmation("SF-TWICE");
        // Twice in one transaction, and again in another.
        let txn = app.db.begin().await.expect("begin");
        assert!(mail::enqueue(&txn, &mail).await.expect("first"));
        assert!(!mail::enqueue(&txn, &mail).await.expect("second"), "already queued in this transaction");
        txn.commit().await.expect("commit");
        assert!(!enqueue_committed(&app.db, &mail).await, "already queued");
        app.state.mailer.nudge();
        sink.wait_for(1).await;
        // After it was sent, the key still holds.
        assert!(!enqueue_committed(&app.db, &mail).await, "already sent");
        app.state.mailer.nudge();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.messages().len(), 1);
    }

    async fn with_the_smtp_server_down_mail_waits_and_is_delivered_once_it_is_up(backend: Backend) {
        let mut sink = SmtpSink::not_started();
        let outbox = Outbox::create(backend, quick(Some(sink.url()))).await;
        let mailer = outbox.mailer().await;
        let deliverer = mailer.spawn();
        enqueue_committed(&outbox.db, &confirmation("SF-RETRY")).await;
        mailer.nudge();

        let deadline = Instant::now() + Duration::from_secs(20);
        let failed = loop {
            let queued = row(&outbox.db, "order-confirmation:SF-RETRY").await;
            if queued.attempts >= 1 {
                break queued;
            }
            assert!(Instant::now() < deadline, "no attempt was made: {queued:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert!(failed.sent_at.is_none() && failed.next_attempt_at.is_some(), "{failed:?}");
        assert!(failed.last_error.is_some(), "{failed:?}");

        sink.restart();
        let got = sink.wait_for(1).await;
        assert_eq!(got[0].header("Subject").as_deref(), Some("Your order SF-RETRY"));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.messages().len(), 1);
        let sent = row(&outbox.db, "order-confirmation:SF-RETRY").await;
        assert!(sent.sent_at.is_some() && sent.attempts >= 1, "{sent:?}");
        deliverer.stop().await;
    }

    async fn a_mail_is_given_up_after_its_last_attempt(backend: Backend) {
        let sink = SmtpSink::not_started();
        let settings = MailSettings { max_attempts: 2, ..quick(Some(sink.url())) };
        let outbox = Outbox::create(backend, settings).await;
        let mailer = outbox.mailer().await;
        enqueue_committed(&outbox.db, &confirmation("SF-GIVEUP")).await;
        assert_eq!(mailer.deliver_due().await.expect("pass").failed, 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(mailer.deliver_due().await.expect("pass").failed, 1);
        let given_up = row(&outbox.db, "order-confirmation:SF-GIVEUP").await;
        assert_eq!((given_up.attempts, given_up.next_attempt_at, given_up.sent_at), (2, None, None));
        assert!(given_up.last_error.is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(mailer.deliver_due().await.expect("pass"), mail::Delivery::default(), "never tried again");
    }

    async fn two_deliverers_on_one_database_deliver_each_mail_exactly_once(backend: Backend) {
        let sink = SmtpSink::start();
        let outbox = Outbox::create(backend, quick(Some(sink.url()))).await;
        let (first, second) = (outbox.mailer().await, outbox.mailer().await);
        let orders: Vec<String> = (0..60).map(|n| format!("SF-BOTH{n:03}")).collect();
        for order in &orders {
            enqueue_committed(&outbox.db, &confirmation(order)).await;
        }
        // Released together: both claim from the same due rows at once.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let run = |mailer: Mailer| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                mailer.deliver_due().await.expect("pass")
            })
        };
        let (a, b) = (run(first), run(second));
        let (a, b) = (a.await.expect("first"), b.await.expect("second"));
        assert_eq!(a.sent + b.sent, orders.len(), "{a:?} {b:?}");

        let got = sink.wait_for(orders.len()).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = if sink.messages().len() > got.len() { sink.messages() } else { got };
        let counts = subjects(&got);
        assert_eq!(got.len(), orders.len(), "each mail once: {counts:?}");
        for order in &orders {
            assert_eq!(counts.get(&format!("Your order {order}")), Some(&1), "{order}");
        }
    }

    async fn without_smtp_each_mail_is_written_as_one_eml_file(backend: Backend) {
        let dir = tempfile::tempdir().expect("dir");
        let mail_dir = dir.path().join("data").join("mail");
        let settings = MailSettings { dir: mail_dir.clone(), ..quick(None) };
        let outbox = Outbox::create(backend, settings).await;
        let mailer = outbox.mailer().await;
        for order in ["SF-FILE1", "SF-FILE2"] {
            enqueue_committed(&outbox.db, &confirmation(order)).await;
        }
        assert_eq!(mailer.deliver_due().await.expect("pass").sent, 2);

        let files: Vec<String> = std::fs::read_dir(&mail_dir)
            .expect("the mail directory was created")
            .map(|e| e.expect("entry").path())
            .inspect(|p| assert_eq!(p.extension().and_then(|x| x.to_str()), Some("eml"), "{}", p.display()))
            .map(|p| std::fs::read_to_string(p).expect("eml"))
            .collect();
        assert_eq!(files.len(), 2);
        for order in ["SF-FILE1", "SF-FILE2"] {
            let key = DedupeKey::parse(&format!("order-confirmation:{order}")).expect("key");
            let id = mail::message_id(&key, &outbox.settings.mail.from);
            let file = files.iter().find(|f| f.contains(&format!("Subject: Your order {order}")));
            let file = file.unwrap_or_else(|| panic!("no file for {order}: {files:?}"));
            assert!(file.contains(&format!("Message-ID: {id}")), "{file}");
        }
        assert_eq!(mailer.deliver_due().await.expect("pass").sent, 0, "written once");
    }
}

#[test]
fn a_bad_smtp_url_or_sender_stops_the_binary_with_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}/{}.db", dir.path().display(), unique_name("mail"));
    for (var, value) in [
        ("SMTP_URL", "mail.example.com:25"),
        ("SMTP_URL", "smtp://shop:hunter2@mail.example.com?tls=sometimes"),
        ("MAIL_FROM", "the shop"),
    ] {
        let out = storefront(&[("DATABASE_URL", &url), (var, value)], &["serve"]).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{var}={value}: {stderr}");
        assert!(lines[0].contains(var), "{stderr}");
        assert!(!stderr.contains("hunter2") && !stderr.contains("panicked"), "{stderr}");
    }
}
