//! The `mail_outbox` table's statements: enqueue a mail in the caller's
//! transaction; claim due rows under a lease; mark a row sent, failed or
//! given up; hand back claims not used.
//!
//! A claim is a lease, not a lock held while sending: the claiming
//! transaction only sets `claimed_until` and commits, so no transaction
//! stays open across an SMTP conversation. On PostgreSQL the due rows are
//! read `FOR UPDATE SKIP LOCKED`, so two deliverers claiming at once take
//! different rows (and a row one of them just claimed is re-checked and
//! left out). SQLite has one writer: the claim runs in an IMMEDIATE
//! transaction, which takes the write lock before it reads.

use chrono::Utc;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::message::OutgoingMail;
use crate::models::_entities::mail_outbox::{self, Column, Entity};
use crate::models::begin_immediate;

/// Now, as the outbox's time columns hold it: Unix milliseconds.
pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Adds `mail` to the outbox on `conn`, normally the transaction of the
/// change the mail reports, so the mail exists exactly when the change is
/// committed. A mail whose dedupe key is already queued (or sent) is left
/// as it is. Returns whether this call queued it.
///
/// After the transaction commits, call [`super::Mailer::nudge`] so it goes
/// out at once; otherwise the deliverer finds it within its poll interval.
#[tracing::instrument(name = "mail.enqueue", skip_all, fields(dedupe_key = %mail.dedupe_key))]
pub async fn enqueue(conn: &impl ConnectionTrait, mail: &OutgoingMail) -> Result<bool, DbErr> {
    let now = Utc::now();
    let row = mail_outbox::ActiveModel {
        dedupe_key: Set(mail.dedupe_key.as_str().to_owned()),
        recipient: Set(mail.to.to_string()),
        subject: Set(mail.subject.clone()),
        body_text: Set(mail.text.clone()),
        body_html: Set(mail.html.clone()),
        created_at: Set(now),
        attempts: Set(0),
        next_attempt_at: Set(Some(now.timestamp_millis())),
        claimed_until: Set(None),
        sent_at: Set(None),
        last_error: Set(None),
        ..Default::default()
    };
    let inserted =
        Entity::insert(row).on_conflict_do_nothing_on([Column::DedupeKey]).exec_without_returning(conn).await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(n) if n > 0))
}

/// Claims up to `limit` due rows until `now + lease`, oldest due first, and
/// returns them as claimed.
pub(super) async fn claim(
    db: &DatabaseConnection,
    limit: u64,
    lease: std::time::Duration,
) -> Result<Vec<mail_outbox::Model>, DbErr> {
    let now = now_ms();
    let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let txn = begin_immediate(db).await?;
    let mut due = Entity::find()
        .filter(Column::NextAttemptAt.lte(now))
        .filter(Condition::any().add(Column::ClaimedUntil.is_null()).add(Column::ClaimedUntil.lt(now)))
        .order_by_asc(Column::NextAttemptAt)
        .order_by_asc(Column::Id)
        .limit(limit);
    if db.get_database_backend() == DbBackend::Postgres {
        due = due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut rows = due.all(&txn).await?;
    if !rows.is_empty() {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        Entity::update_many()
            .col_expr(Column::ClaimedUntil, Expr::value(until))
            .filter(Column::Id.is_in(ids))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    for row in &mut rows {
        row.claimed_until = Some(until);
    }
    Ok(rows)
}

/// The server accepted row `id`: it is done. One statement, so its own
/// short transaction, committed before the next mail is sent.
pub(super) async fn mark_sent(db: &DatabaseConnection, id: i64) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::SentAt, Expr::value(Utc::now()))
        .col_expr(Column::NextAttemptAt, Expr::value(Option::<i64>::None))
        .col_expr(Column::ClaimedUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::LastError, Expr::value(Option::<String>::None))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await
        .map(drop)
}

/// An attempt at row `id` failed with `error`: it counts `attempts` failed
/// attempts now, and is due again at `retry_at` (Unix milliseconds), or
/// never when `None` (given up).
pub(super) async fn mark_failed(
    db: &DatabaseConnection,
    id: i64,
    attempts: i32,
    retry_at: Option<i64>,
    error: &str,
) -> Result<(), DbErr> {
    Entity::update_many()
        .col_expr(Column::Attempts, Expr::value(attempts))
        .col_expr(Column::NextAttemptAt, Expr::value(retry_at))
        .col_expr(Column::ClaimedUntil, Expr::value(Option::<i64>::None))
        .col_expr(Column::LastError, Expr::value(error.to_owned()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await
        .map(drop)
}

/// Hands back rows claimed until `until` and not tried, so any deliverer
/// may take them now rather than when the lease ends. A row claimed again
/// since (by another deliverer) has another lease end and is left alone.
pub(super) async fn release(db: &DatabaseConnection, ids: Vec<i64>, until: i64) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    Entity::update_many()
        .col_expr(Column::ClaimedUntil, Expr::value(Option::<i64>::None))
        .filter(Column::Id.is_in(ids))
        .filter(Column::ClaimedUntil.eq(until))
        .exec(db)
        .await
        .map(drop)
}
