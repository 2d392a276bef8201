//! Sessions, carts and throttle counters kept in the shop's own database
//! (SQLite or PostgreSQL): the store for a shop without Redis
//! (`SESSION_STORE=database`, and the embedded default), so sessions and
//! carts survive a restart with nothing else running.
//!
//! Each change that checks before it writes runs in one transaction whose
//! first statement writes the row it is about (an upsert that changes
//! nothing): PostgreSQL then holds that row's lock, SQLite its single write
//! lock, until commit. So two adds at the same moment both count and
//! neither passes a limit the other reached; a refused change rolls back
//! and leaves nothing.
//!
//! A row past its end (`expires_at`, `window_ends`, Unix milliseconds) is
//! absent to every reader; [`sweep`] deletes such rows, run by
//! [`spawn_sweeper`] at start and then periodically.

pub mod carts;
pub mod sessions;
pub mod throttles;

use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::models::_entities::{cart, cart_claim, session, throttle_counter};

/// How often ended rows are deleted.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10 * 60);

/// Now, in Unix milliseconds: the unit of every end in these tables.
pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `now` plus `d`, in Unix milliseconds.
pub(crate) fn after(now: i64, d: Duration) -> i64 {
    now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Deletes every session, cart (with its lines), cart claim and throttle
/// counter that has ended; returns how many went (lines not counted).
#[tracing::instrument(name = "stores.sweep", skip_all)]
pub async fn sweep(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let now = now_ms();
    let mut gone = 0;
    // A cart's lines go with it (ON DELETE CASCADE): the cart's row is
    // locked first, as a change to the cart locks it, so a sweep and an add
    // never wait on each other crosswise.
    gone += cart::Entity::delete_many().filter(cart::Column::ExpiresAt.lte(now)).exec(db).await?.rows_affected;
    gone +=
        cart_claim::Entity::delete_many().filter(cart_claim::Column::ExpiresAt.lte(now)).exec(db).await?.rows_affected;
    gone += session::Entity::delete_many().filter(session::Column::ExpiresAt.lte(now)).exec(db).await?.rows_affected;
    gone += throttle_counter::Entity::delete_many()
        .filter(throttle_counter::Column::WindowEnds.lte(now))
        .exec(db)
        .await?
        .rows_affected;
    Ok(gone)
}

/// Sweeps now and every [`SWEEP_EVERY`]; a failed sweep is logged and
/// tried again next time.
pub fn spawn_sweeper(db: DatabaseConnection) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match sweep(&db).await {
                Ok(0) => {}
                Ok(gone) => tracing::debug!(gone, "ended sessions, carts and counters deleted"),
                Err(e) => tracing::warn!(error = %e, "could not delete ended sessions, carts and counters"),
            }
        }
    })
}
