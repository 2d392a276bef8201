//! The [`Mailer`]: the transport and the deliverer that empties the outbox
//! through it, woken by [`Mailer::nudge`] after a commit and on a poll
//! interval as the safety net (mail enqueued by another instance, left
//! claimed by a crash, or waiting for a retry).
//!
//! One pass claims a batch of due rows under a lease (`outbox::claim`),
//! then for each: compose, send, and as soon as the server has accepted
//! it, mark it sent in a statement of its own. A failed attempt is counted
//! and the row is due again after a wait that doubles each time, up to a
//! bound; after `max_attempts` failures it is given up, logged once as an
//! error, and kept with its last error for an operator.
//!
//! Never sent twice, with one window left: if the process dies (or the
//! database refuses every try at the mark) after the server accepted a
//! message and before the row is marked, the lease ends and the message is
//! sent again. Both copies carry the same Message-ID, derived from the
//! dedupe key (`message::message_id`), so a receiver can drop the second.
//! A row is only sent while its lease has at least one SMTP timeout left,
//! so a slow send never overlaps another deliverer's claim of the row.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::Notify;

use super::message::{DedupeKey, compose, parse_mailbox};
use super::outbox::{self, now_ms};
use super::transport::Transport;
use crate::config::MailSettings;
use crate::models::_entities::mail_outbox;

/// Rows claimed per query.
const BATCH: u64 = 20;

/// How long [`Deliverer::stop`] lets a send in progress finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Waits before each retry of a mark that failed (the message is sent).
const MARK_RETRIES: [Duration; 3] = [Duration::from_millis(200), Duration::from_secs(1), Duration::from_secs(3)];

/// Sends the outbox's mail. Cheap to clone; every clone shares the
/// transport (and its SMTP connection pool) and the wake-up.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    transport: Transport,
    settings: MailSettings,
    /// Poked by [`Mailer::nudge`]; a poke while the deliverer is busy is
    /// kept for when it next waits.
    wake: Notify,
}

/// What one or more passes did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Messages the server accepted (or files written).
    pub sent: usize,
    /// Attempts that failed (retried later, or given up).
    pub failed: usize,
}

enum Outcome {
    Sent,
    Failed,
}

/// Asks a deliverer's pass to stop between two messages.
#[derive(Default)]
struct Stop {
    requested: AtomicBool,
    notify: Notify,
}

impl Stop {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}

impl Mailer {
    /// A mailer over `db` (its own pool or a clone of the shop's). Builds
    /// the transport; connects to nothing and creates nothing yet.
    pub fn new(settings: &MailSettings, db: DatabaseConnection) -> Result<Self, String> {
        let transport = Transport::new(settings)?;
        Ok(Mailer { inner: Arc::new(Inner { db, transport, settings: settings.clone(), wake: Notify::new() }) })
    }

    /// Wakes the deliverer to send what is due now. Call it after the
    /// transaction that enqueued a mail has committed: a nudge before the
    /// commit may find nothing, and the mail then waits for the poll.
    pub fn nudge(&self) {
        self.inner.wake.notify_one();
    }

    /// Where mail goes, in one line for the start-up log.
    pub fn describe(&self) -> String {
        self.inner.transport.describe()
    }

    /// Sends every mail that is due now, batch after batch, and returns
    /// what it did. Errors are the database's; a failed send is counted
    /// in [`Delivery::failed`] and recorded on its row.
    pub async fn deliver_due(&self) -> Result<Delivery, DbErr> {
        self.pass(&Stop::default()).await
    }

    /// Starts the background deliverer; [`Deliverer::stop`] ends it.
    pub fn spawn(&self) -> Deliverer {
        let stop = Arc::new(Stop::default());
        let (mailer, signal) = (self.clone(), stop.clone());
        let task = tokio::spawn(async move { mailer.run(&signal).await });
        Deliverer { stop, task }
    }

    async fn run(&self, stop: &Stop) {
        let mut failing = false;
        while !stop.requested() {
            match self.pass(stop).await {
                Ok(_) if failing => {
                    tracing::info!("mail outbox readable again; delivering");
                    failing = false;
                }
                Ok(_) => {}
                // One warning per outage, not one per poll.
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "mail delivery deferred: the outbox cannot be read");
                    failing = true;
                }
                Err(e) => tracing::debug!(error = %e, "mail delivery still deferred"),
            }
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(self.inner.settings.poll_interval) => {}
                () = stop.notify.notified() => {}
            }
        }
    }

    #[tracing::instrument(name = "mail.deliver_due", level = "debug", skip_all)]
    async fn pass(&self, stop: &Stop) -> Result<Delivery, DbErr> {
        let mut done = Delivery::default();
        let settings = &self.inner.settings;
        loop {
            let rows = outbox::claim(&self.inner.db, BATCH, settings.lease).await?;
            let full = rows.len() as u64 == BATCH;
            let margin = i64::try_from(settings.send_timeout.as_millis()).unwrap_or(i64::MAX);
            for (i, row) in rows.iter().enumerate() {
                let until = row.claimed_until.unwrap_or(i64::MIN);
                if stop.requested() || now_ms().saturating_add(margin) > until {
                    // Not enough lease left for a send that times out, or
                    // stopping: hand the rest back rather than race a
                    // deliverer that claims them once the lease ends.
                    let rest = rows[i..].iter().map(|r| r.id).collect();
                    outbox::release(&self.inner.db, rest, until).await?;
                    return Ok(done);
                }
                match self.attempt(row).await {
                    Outcome::Sent => done.sent += 1,
                    Outcome::Failed => done.failed += 1,
                }
            }
            if !full {
                return Ok(done);
            }
        }
    }

    #[tracing::instrument(
        name = "mail.send",
        skip_all,
        fields(dedupe_key = %row.dedupe_key, attempt = row.attempts.saturating_add(1))
    )]
    async fn attempt(&self, row: &mail_outbox::Model) -> Outcome {
        let from = &self.inner.settings.from;
        let composed = DedupeKey::parse(&row.dedupe_key)
            .and_then(|key| Ok((key, parse_mailbox(&row.recipient)?)))
            .map_err(|e| e.to_string())
            .and_then(|(key, to)| compose(&key, from, to, &row.subject, &row.body_text, row.body_html.as_deref()));
        let message = match composed {
            Ok(message) => message,
            // A row that cannot become a message never will: give it up now.
            Err(error) => return self.failed(row, &error, true).await,
        };
        match self.inner.transport.send(message).await {
            Ok(()) => {
                self.mark_sent(row).await;
                Outcome::Sent
            }
            Err(error) => self.failed(row, &error, false).await,
        }
    }

    /// Marks `row` sent, retrying a few times: the message is out, and a
    /// row left unmarked is sent again when its lease ends.
    async fn mark_sent(&self, row: &mail_outbox::Model) {
        let mut waits = MARK_RETRIES.iter();
        loop {
            match outbox::mark_sent(&self.inner.db, row.id).await {
                Ok(()) => return,
                Err(e) => match waits.next() {
                    Some(wait) => tokio::time::sleep(*wait).await,
                    None => {
                        tracing::error!(
                            error = %e,
                            "mail sent but not marked sent; it will be sent again (same Message-ID) when its lease ends"
                        );
                        return;
                    }
                },
            }
        }
    }

    async fn failed(&self, row: &mail_outbox::Model, error: &str, final_now: bool) -> Outcome {
        let settings = &self.inner.settings;
        let attempts = row.attempts.saturating_add(1);
        let give_up = final_now || u32::try_from(attempts).unwrap_or(u32::MAX) >= settings.max_attempts;
        let retry_at = (!give_up).then(|| {
            let wait = retry_delay(settings, attempts);
            now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX))
        });
        if give_up {
            tracing::error!(attempts, %error, "mail given up; it stays in the outbox with its last error");
        } else {
            tracing::debug!(attempts, %error, "mail attempt failed; retrying later");
        }
        if let Err(e) = outbox::mark_failed(&self.inner.db, row.id, attempts, retry_at, error).await {
            // The row stays claimed and is tried again when its lease ends.
            tracing::warn!(error = %e, "failed mail attempt not recorded");
        }
        Outcome::Failed
    }
}

/// The wait after the `attempts`-th failure: `retry_base`, doubled for each
/// failure before it, at most `retry_max`.
fn retry_delay(settings: &MailSettings, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0);
    2_u32
        .checked_pow(doublings)
        .and_then(|factor| settings.retry_base.checked_mul(factor))
        .map_or(settings.retry_max, |wait| wait.min(settings.retry_max))
}

/// The running background deliverer of a [`Mailer`].
pub struct Deliverer {
    stop: Arc<Stop>,
    task: tokio::task::JoinHandle<()>,
}

impl Deliverer {
    /// Stops after the message being sent, if any (given a few seconds to
    /// finish); claimed rows not yet tried are handed back.
    pub async fn stop(mut self) {
        self.stop.requested.store(true, Ordering::Release);
        self.stop.notify.notify_one();
        if tokio::time::timeout(STOP_GRACE, &mut self.task).await.is_err() {
            tracing::warn!("mail deliverer stopped in the middle of a send; that mail is retried after its lease");
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_a_bound() {
        let settings = MailSettings {
            retry_base: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            ..MailSettings::default()
        };
        let waits: Vec<u64> = (1..=9).map(|n| retry_delay(&settings, n).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(retry_delay(&settings, i32::MAX), Duration::from_secs(3600));
        assert_eq!(retry_delay(&settings, 0), Duration::from_secs(30));
    }
}
