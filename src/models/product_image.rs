//! Product image behaviour: a product's images are part of what its card,
//! its page and its API entries show, so adding or removing one retires
//! them as a write to the product would (recorded on the write's own
//! connection, applied after commit), and the finders pages read them by.

use sea_orm::entity::prelude::*;
use sea_orm::{ActiveValue, QueryOrder};

use crate::models::product;

pub use super::_entities::product_image::{ActiveModel, Column, Entity, Model};

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if insert && self.created_at.is_not_set() {
            self.created_at = ActiveValue::Set(chrono::Utc::now());
        }
        Ok(self)
    }

    async fn after_save<C>(model: Model, db: &C, _insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        product::record_shown_change(db, model.product_id).await?;
        Ok(model)
    }

    async fn before_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if let Some(product_id) = self.product_id.try_as_ref() {
            product::record_shown_change(db, *product_id).await?;
        }
        Ok(self)
    }
}

/// The images of the products `ids`, each product's in gallery order.
pub async fn of_products<C: ConnectionTrait>(db: &C, ids: &[i32]) -> Result<Vec<Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Entity::find()
        .filter(Column::ProductId.is_in(ids.iter().copied()))
        .order_by_asc(Column::ProductId)
        .order_by_asc(Column::Position)
        .order_by_asc(Column::Id)
        .all(db)
        .await
}
