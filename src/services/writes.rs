//! Catalog writes. Every write to categories and products goes through here:
//! each runs in a transaction in which the model hooks record the cache tags
//! it affects (see `cache::outbox`); after commit the tags are applied. Bulk
//! statements, which SeaORM runs without hooks, record their tags explicitly.
//! The rules every edge shares are checked here, in the write's transaction:
//! a product's category exists, and a category that still has products stays.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};

use crate::cache::{Cache, Tag, outbox};
use crate::domain::FieldErrors;
use crate::domain::product::NO_SUCH_CATEGORY;
pub use crate::domain::product::{CategoryChanges, NewCategory, NewProduct, ProductChanges};
use crate::domain::search::search_document;
use crate::error::AppError;
use crate::models::{begin_immediate, category, category_entity, product, product_entity};
use crate::services::catalog;

/// Runs `write` in a transaction, commits, then applies the recorded
/// invalidations (see [`apply_invalidations`]).
pub(crate) async fn write<T, F>(db: &DatabaseConnection, cache: &Cache, write: F) -> Result<T, AppError>
where
    F: for<'t> FnOnce(&'t DatabaseTransaction) -> futures_util::future::BoxFuture<'t, Result<T, AppError>>,
{
    let txn = begin_immediate(db).await?;
    let value = write(&txn).await?;
    txn.commit().await?;
    apply_invalidations(cache).await;
    Ok(value)
}

/// After commit: applies the tags the transaction recorded. If Redis cannot
/// take them now they stay in the outbox, and readers skip a Redis they
/// cannot reach, so nothing stale is served.
pub(crate) async fn apply_invalidations(cache: &Cache) {
    if let Err(e) = cache.flusher().flush().await {
        tracing::warn!(error = %e, "cache invalidation deferred to the outbox flusher");
    }
}

/// Sets a column to a change that was given; `None` leaves it as stored.
fn set<T: Into<sea_orm::Value>>(column: &mut sea_orm::ActiveValue<T>, change: Option<T>) {
    if let Some(value) = change {
        *column = Set(value);
    }
}

fn stock_value(stock: u32) -> i32 {
    i32::try_from(stock).unwrap_or(i32::MAX)
}

pub(crate) fn product_active_model(new: NewProduct) -> product::ActiveModel {
    // Set here as well as by the insert hook: bulk inserts run no hooks.
    let document = search_document(&new.name, &new.description);
    let mut model = product::ActiveModel {
        category_id: Set(new.category_id),
        name: Set(new.name),
        slug: Set(new.slug.to_string()),
        description: Set(new.description),
        search_document: Set(Some(document)),
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
            let current = catalog::stored_category(txn, id).await?;
            let mut model = current.into_active_model();
            set(&mut model.name, changes.name);
            set(&mut model.slug, changes.slug.map(|v| v.to_string()));
            set(&mut model.description, changes.description);
            Ok(model.update(txn).await?)
        })
    })
    .await
}

/// A category that still has products is not deleted: a 409 naming it.
#[tracing::instrument(name = "writes.delete_category", skip(db, cache))]
pub async fn delete_category(db: &DatabaseConnection, cache: &Cache, id: i32) -> Result<(), AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            // Locked, so no product can be added to it until this commits.
            let current = category_entity::Entity::find_by_id(id)
                .lock_exclusive()
                .one(txn)
                .await?
                .ok_or_else(AppError::not_found)?;
            let products = product::count_in_category(txn, id).await?;
            if products > 0 {
                let message = format!(
                    "The category “{}” still has {products} product(s): move or delete them first.",
                    current.name
                );
                return Err(AppError::Conflict(FieldErrors::single("category", message)));
            }
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
    write(db, cache, |txn| {
        Box::pin(async move {
            require_category(txn, new.category_id).await?;
            Ok(product_active_model(new).insert(txn).await?)
        })
    })
    .await
}

/// A product's category must exist; checked in the write's transaction,
/// holding the category (a delete waits for this write, and then sees the
/// product) so the answer is a field error, not the foreign key's. Locked
/// for update, not share: the trigger that keeps the category's product
/// count updates this row anyway, and two writers holding it shared would
/// deadlock on that update.
async fn require_category(txn: &DatabaseTransaction, id: i32) -> Result<(), AppError> {
    match category_entity::Entity::find_by_id(id).lock_exclusive().one(txn).await? {
        Some(_) => Ok(()),
        None => Err(AppError::BadRequest(FieldErrors::single("category_id", NO_SUCH_CATEGORY))),
    }
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
            let current = catalog::stored_product(txn, id).await?;
            let mut model = current.into_active_model();
            if let Some(v) = changes.category_id {
                require_category(txn, v).await?;
                model.category_id = Set(v);
            }
            set(&mut model.name, changes.name);
            set(&mut model.slug, changes.slug.map(|v| v.to_string()));
            set(&mut model.description, changes.description);
            set(&mut model.price_cents, changes.price.map(|v| v.cents()));
            set(&mut model.stock, changes.stock.map(stock_value));
            set(&mut model.is_active, changes.is_active);
            Ok(model.update(txn).await?)
        })
    })
    .await
}

#[tracing::instrument(name = "writes.delete_product", skip(db, cache))]
pub async fn delete_product(db: &DatabaseConnection, cache: &Cache, id: i32) -> Result<(), AppError> {
    write(db, cache, |txn| {
        Box::pin(async move {
            let current = catalog::stored_product(txn, id).await?;
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
