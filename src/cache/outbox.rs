//! The outbox of pending invalidations (see the migration). Hooks call
//! [`record`] on the connection of the write, so the row commits or rolls
//! back with it; [`super::Cache::flush_outbox`] applies and deletes rows.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DbErr};

use super::tags::Tag;
use crate::models::_entities::cache_outbox;

/// Notes that `tags` must be invalidated once the current transaction commits.
pub async fn record(db: &impl ConnectionTrait, tags: &[Tag]) -> Result<(), DbErr> {
    if tags.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tags.iter().map(Tag::name).collect();
    cache_outbox::ActiveModel {
        tags: Set(names.join(" ")),
        created_at: Set(chrono::Utc::now()),
        redis_applied: Set(false),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}
