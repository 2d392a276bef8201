//! Throttle counters in the database: one row per counter, with the end of
//! its window. A reservation locks every counter it checks (in key order,
//! so two reservations never wait on each other crosswise), checks them
//! all, then raises them all, in one transaction; a refusal rolls back.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, TransactionTrait};

use super::{after, now_ms};
use crate::models::_entities::throttle_counter;

#[derive(Clone, Debug)]
pub struct DbThrottle {
    db: DatabaseConnection,
}

impl DbThrottle {
    pub fn new(db: DatabaseConnection) -> Self {
        DbThrottle { db }
    }

    /// Checks every `(key, max)` and, when none is at its limit, raises
    /// them all (a counter's window starts at its first attempt). Returns
    /// the wait until the fullest counter's window ends, or `None`.
    pub async fn reserve(&self, limits: &[(String, u32)], window: Duration) -> Result<Option<Duration>, DbErr> {
        let now = now_ms();
        let mut keys: Vec<&str> = limits.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        let txn = self.db.begin().await?;
        for key in &keys {
            // Creates the counter at 0, or rewrites its end unchanged: either
            // way the row is locked until commit.
            let row = throttle_counter::ActiveModel {
                key: Set((*key).to_owned()),
                count: Set(0),
                window_ends: Set(after(now, window)),
            };
            throttle_counter::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(throttle_counter::Column::Key)
                        .value(
                            throttle_counter::Column::WindowEnds,
                            Expr::col((throttle_counter::Entity, throttle_counter::Column::WindowEnds)),
                        )
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        let rows = throttle_counter::Entity::find()
            .filter(throttle_counter::Column::Key.is_in(keys.iter().copied()))
            .all(&txn)
            .await?;
        // The time once the rows are locked: a window another attempt began
        // while this one waited for them then ends at most `window` later.
        let now = std::cmp::max(now_ms(), now);
        let live = |key: &str| rows.iter().find(|r| r.key == key && r.window_ends > now);
        let wait = limits
            .iter()
            .filter_map(|(key, max)| live(key).filter(|r| u32::try_from(r.count).unwrap_or(0) >= *max))
            .map(|r| r.window_ends - now)
            .max();
        if let Some(wait) = wait {
            txn.rollback().await?;
            return Ok(Some(Duration::from_millis(u64::try_from(wait).unwrap_or(0))));
        }
        for key in &keys {
            let update = throttle_counter::Entity::update_many().filter(throttle_counter::Column::Key.eq(*key));
            let update = match live(key) {
                Some(_) => {
                    update.col_expr(throttle_counter::Column::Count, Expr::col(throttle_counter::Column::Count).add(1))
                }
                // A window that ended starts again with this attempt.
                None => update
                    .col_expr(throttle_counter::Column::Count, Expr::value(1))
                    .col_expr(throttle_counter::Column::WindowEnds, Expr::value(after(now, window))),
            };
            update.exec(&txn).await?;
        }
        txn.commit().await?;
        Ok(None)
    }

    /// Gives reservations back: with `clear_first` the first counter is
    /// deleted, otherwise lowered; the others are lowered, while their
    /// window lasts, and deleted at 0.
    pub async fn release(&self, keys: &[String], clear_first: bool) -> Result<(), DbErr> {
        let now = now_ms();
        // In key order, as reservations lock them.
        let mut ordered: Vec<(usize, &String)> = keys.iter().enumerate().collect();
        ordered.sort_unstable_by_key(|(_, key)| *key);
        let txn = self.db.begin().await?;
        for (i, key) in ordered {
            let this = throttle_counter::Column::Key.eq(key.as_str());
            if i == 0 && clear_first {
                throttle_counter::Entity::delete_many().filter(this).exec(&txn).await?;
                continue;
            }
            throttle_counter::Entity::update_many()
                .col_expr(throttle_counter::Column::Count, Expr::col(throttle_counter::Column::Count).sub(1))
                .filter(this.clone())
                .filter(throttle_counter::Column::WindowEnds.gt(now))
                .exec(&txn)
                .await?;
            throttle_counter::Entity::delete_many()
                .filter(this)
                .filter(throttle_counter::Column::Count.lte(0))
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    }
}
