//! Category behaviour: timestamps, the cache tags a change affects, finders.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QueryOrder};

pub use super::_entities::category::{ActiveModel, Column, Entity, Model};
use crate::cache::{Tag, outbox};

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let now = chrono::Utc::now();
        if insert && self.created_at.is_not_set() {
            self.created_at = ActiveValue::Set(now);
        }
        self.updated_at = ActiveValue::Set(now);
        Ok(self)
    }

    /// Recorded on the write's own connection: it commits (or rolls back)
    /// with the change, and is applied to the cache after commit.
    async fn after_save<C>(model: Model, db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        outbox::record(db, &Tag::for_category()).await?;
        Ok(model)
    }

    async fn after_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        outbox::record(db, &Tag::for_category()).await?;
        Ok(self)
    }
}

pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<Model>, DbErr> {
    Entity::find().filter(Column::Slug.eq(slug)).one(db).await
}

pub async fn all_by_name(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Entity::find().order_by_asc(Column::Name).order_by_asc(Column::Id).all(db).await
}
