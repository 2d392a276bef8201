//! Outgoing mail through an outbox: a mail is a row written in the
//! transaction of the change it reports, so it is never lost (it commits
//! with the change, or not at all) and never queued twice (one row per
//! dedupe key). A background deliverer sends due rows and marks each sent
//! right after the server accepts it.
//!
//! - `message.rs`: [`OutgoingMail`] and its [`DedupeKey`], parsed at the
//!   edge; the stable Message-ID
//! - `outbox.rs`: [`enqueue`], and the claim / mark statements
//! - `transport.rs`: SMTP (SMTP_URL) or `.eml` files (MAIL_DIR)
//! - `deliver.rs`: the [`Mailer`], its [`Deliverer`] task, retries, and the
//!   one window in which a mail can go out twice
//!
//! A caller enqueues in its transaction, commits, then nudges:
//!
//! ```ignore
//! let txn = db.begin().await?;
//! // ... the order's own writes ...
//! mail::enqueue(&txn, &mail).await?;
//! txn.commit().await?;
//! state.mailer.nudge();
//! ```

mod deliver;
mod message;
mod outbox;
mod transport;

pub use deliver::{Deliverer, Delivery, Mailer};
pub use message::{DEDUPE_KEY_MAX, DedupeKey, MailError, OutgoingMail, message_id};
pub use outbox::enqueue;
