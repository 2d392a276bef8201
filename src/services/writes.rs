//! Catalog writes. Every write to categories and products goes through here:
//! each runs in a transaction in which the model hooks record the cache tags
//! it affects (see `cache::outbox`); after commit the tags are applied. Bulk
//! statements, which SeaORM runs without hooks, record their tags explicitly.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter, TransactionTrait,
};

use crate::cache::{Cache, Tag, outbox};
use crate::domain::{Money, Slug};
use crate::error::AppError;
use crate::models::{category, category_entity, product, product_entity};

#[derive(Clone, Debug)]
pub struct NewCategory {
    pub name: String,
    pub slug: Slug,
    pub description: String,
}

#[derive(Clone, Debug)]
pub struct NewProduct {
    pub category_id: i32,
    pub name: String,
    pub slug: Slug,
    pub description: String,
    pub price: Money,
    pub stock: u32,
    pub is_active: bool,
    /// Set for generated catalogs; `None` means now.
    pub created_at: Option<DateTime<Utc>>,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProductChanges {
    pub category_id: Option<i32>,
    pub name: Option<String>,
    pub slug: Option<Slug>,
    pub description: Option<String>,
    pub price: Option<Money>,
    pub stock: Option<u32>,
    pub is_active: Option<bool>,
}

/// Every field of a validated product, replacing the stored ones (its
/// creation time stays).
impl From<NewProduct> for ProductChanges {
    fn from(p: NewProduct) -> Self {
        ProductChanges {
            category_id: Some(p.category_id),
            name: Some(p.name),
            slug: Some(p.slug),
            description: Some(p.description),
            price: Some(p.price),
            stock: Some(p.stock),
            is_active: Some(p.is_active),
        }
    }
}

/// Changes to a category; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub slug: Option<Slug>,
    pub description: Option<String>,
}

/// Runs `write` in a transaction, commits, then applies the recorded
/// invalidations. If Redis cannot take them now they stay in the outbox,
/// and readers skip a Redis they cannot reach, so nothing stale is served.
async fn write<T, F>(db: &DatabaseConnection, cache: &Cache, write: F) -> Result<T, AppError>
where
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> futures_util::future::BoxFuture<'t, Result<T, AppError>>,
{
    let txn = db.begin().await?;
    let value = write(&txn).await?;
    txn.commit().await?;
    if let Err(e) = cache.flush_outbox().await {
        tracing::warn!(error = %e, "cache invalidation deferred to the outbox flusher");
    }
    Ok(value)
}

fn stock_value(stock: u32) -> i32 {
    i32::try_from(stock).unwrap_or(i32::MAX)
}

pub(crate) fn product_active_model(new: NewProduct) -> product::ActiveModel {
    let mut model = product::ActiveModel {
        category_id: Set(new.category_id),
        name: Set(new.name),
        slug: Set(new.slug.to_string()),
        description: Set(new.description),
        price_cents: Set(new.price.cents()),
        stock: Set(stock_value(new.stock)),
        is_active: Set(new.is_active),
        ..Default::default()
    };
    if let Some(at) = new.created_at {
        model.created_at = Set(at);
        model.updated_at = Set(at);
    }
    model
}

pub(crate) fn category_active_model(new: NewCategory) -> category::ActiveModel {
    category::ActiveModel {
        name: Set(new.name),
        slug: Set(new.slug.to_string()),
        description: Set(new.description),
        ..Default::default()
    }
}

#[tracing::instrument(name = "writes.create_category", skip_all, fields(slug = %new.slug))]
pub async fn create_category(
    db: &DatabaseConnection,
    cache: &Cache,
    new: NewCategory,
) -> Result<category::Model, AppError> {
    write(db, cache, |txn| Box::pin(async move { Ok(category_active_model(new).insert(txn).await?) })).await
}

#[tracing::instrument(name = "writes.update_category", skip_all, fields(id = id))]
pub async fn update_category(
    db: &DatabaseConnection,
    cache: &Cache,
    id: i32,
    changes: CategoryChanges,
) -> Result<category::Model, AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            let current = category_entity::Entity::find_by_id(id).one(txn).await?.ok_or_else(AppError::not_found)?;
            let mut model = current.into_active_model();
            if let Some(v) = changes.name {
                model.name = Set(v);
            }
            if let Some(v) = changes.slug {
                model.slug = Set(v.to_string());
            }
            if let Some(v) = changes.description {
                model.description = Set(v);
            }
            Ok(model.update(txn).await?)
        })
    })
    .await
}

#[tracing::instrument(name = "writes.delete_category", skip(db, cache))]
pub async fn delete_category(db: &DatabaseConnection, cache: &Cache, id: i32) -> Result<(), AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            let current = category_entity::Entity::find_by_id(id).one(txn).await?.ok_or_else(AppError::not_found)?;
            current.into_active_model().delete(txn).await?;
            Ok(())
        })
    })
    .await
}

#[tracing::instrument(name = "writes.create_product", skip_all)]
pub async fn create_product(
    db: &DatabaseConnection,
    cache: &Cache,
    new: NewProduct,
) -> Result<product::Model, AppError> {
    write(db, cache, |txn| Box::pin(async move { Ok(product_active_model(new).insert(txn).await?) })).await
}

#[tracing::instrument(name = "writes.update_product", skip_all, fields(id = id))]
pub async fn update_product(
    db: &DatabaseConnection,
    cache: &Cache,
    id: i32,
    changes: ProductChanges,
) -> Result<product::Model, AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            let current = product_entity::Entity::find_by_id(id).one(txn).await?.ok_or_else(AppError::not_found)?;
            let mut model = current.into_active_model();
            if let Some(v) = changes.category_id {
                model.category_id = Set(v);
            }
            if let Some(v) = changes.name {
                model.name = Set(v);
            }
            if let Some(v) = changes.slug {
                model.slug = Set(v.to_string());
            }
            if let Some(v) = changes.description {
                model.description = Set(v);
            }
            if let Some(v) = changes.price {
                model.price_cents = Set(v.cents());
            }
            if let Some(v) = changes.stock {
                model.stock = Set(stock_value(v));
            }
            if let Some(v) = changes.is_active {
                model.is_active = Set(v);
            }
            Ok(model.update(txn).await?)
        })
    })
    .await
}

#[tracing::instrument(name = "writes.delete_product", skip(db, cache))]
pub async fn delete_product(db: &DatabaseConnection, cache: &Cache, id: i32) -> Result<(), AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            let current = product_entity::Entity::find_by_id(id).one(txn).await?.ok_or_else(AppError::not_found)?;
            current.into_active_model().delete(txn).await?;
            Ok(())
        })
    })
    .await
}

/// Shows or hides every product of a category in one statement. `update_many`
/// runs no hooks, so the tags are recorded here: the lists and counts, and
/// each affected product's own entries.
#[tracing::instrument(name = "writes.set_category_products_active", skip_all)]
pub async fn set_category_products_active(
    db: &DatabaseConnection,
    cache: &Cache,
    category_id: i32,
    active: bool,
) -> Result<u64, AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            let affected =
                product_entity::Entity::find().filter(product::Column::CategoryId.eq(category_id)).all(txn).await?;
            let result = product_entity::Entity::update_many()
                .col_expr(product::Column::IsActive, Expr::value(active))
                .col_expr(product::Column::UpdatedAt, Expr::value(Utc::now()))
                .filter(product::Column::CategoryId.eq(category_id))
                .exec(txn)
                .await?;
            let mut tags = vec![Tag::Lists, Tag::Categories];
            for p in &affected {
                tags.push(Tag::Product(p.id));
                tags.push(Tag::ProductSlug(p.slug.clone()));
            }
            outbox::record(txn, &tags).await?;
            Ok(result.rows_affected)
        })
    })
    .await
}

/// Records that everything cached may be stale (bulk loads, resets).
#[tracing::instrument(name = "writes.record_everything_changed", skip_all)]
pub async fn record_everything_changed(db: &impl ConnectionTrait) -> Result<(), AppError> {
    Ok(outbox::record(db, &[Tag::All]).await?)
}
