//! Catalog reads: categories with their product counts, and single products.
//! Only active products are ever visible to shoppers and API clients.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::product::Availability;
use crate::domain::{Money, PageRequest, SearchQuery};
use crate::error::AppError;
use crate::models::{category, category_entity, product, product_entity};

/// The short form of a category, embedded in each product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryRef {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
}

/// A category with the number of active products in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategorySummary {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub product_count: u64,
}

/// A product as shoppers and API clients see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductView {
    pub id: i32,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub price: Money,
    pub stock: i32,
    /// Always true for shoppers; admins also see hidden products.
    pub is_active: bool,
    pub category: CategoryRef,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// In gallery order; empty until `services::images::attach` fills it.
    pub images: Vec<crate::media::Stored>,
}

impl ProductView {
    pub fn from_models(p: product::Model, c: category::Model) -> Result<Self, AppError> {
        let price = Money::from_cents(p.price_cents)
            .map_err(|e| AppError::Internal(format!("product {} has price {}: {e}", p.id, p.price_cents)))?;
        Ok(ProductView {
            id: p.id,
            name: p.name,
            slug: p.slug,
            description: p.description,
            price,
            stock: p.stock,
            is_active: p.is_active,
            category: CategoryRef { id: c.id, name: c.name, slug: c.slug, description: c.description },
            created_at: p.created_at,
            updated_at: p.updated_at,
            images: Vec::new(),
        })
    }

    pub fn in_stock(&self) -> bool {
        self.stock > 0
    }

    /// What a listing card says of the stock: a band, never the count
    /// above [`crate::domain::product::LOW_STOCK`].
    pub fn availability(&self) -> String {
        match Availability::of(self.stock) {
            Availability::InStock => "In stock".to_owned(),
            Availability::Low(n) => format!("Only {n} left"),
            Availability::SoldOut => "Sold out".to_owned(),
        }
    }
}

/// Pairs rows of a product ⋈ category query; the foreign key guarantees the
/// category, so a missing one is a bug, not a 404.
pub fn join_rows(rows: Vec<(product::Model, Option<category::Model>)>) -> Result<Vec<ProductView>, AppError> {
    rows.into_iter()
        .map(|(p, c)| {
            let c = c.ok_or_else(|| AppError::Internal(format!("product {} has no category", p.id)))?;
            ProductView::from_models(p, c)
        })
        .collect()
}

fn summary(c: category::Model) -> CategorySummary {
    let product_count = u64::try_from(c.active_products).unwrap_or(0);
    CategorySummary { id: c.id, name: c.name, slug: c.slug, description: c.description, product_count }
}

/// Every category by name, with its count of active products.
#[tracing::instrument(name = "catalog.categories", level = "debug", skip_all)]
pub async fn categories(db: &impl ConnectionTrait) -> Result<Vec<CategorySummary>, AppError> {
    Ok(category::all_by_name(db).await?.into_iter().map(summary).collect())
}

#[tracing::instrument(name = "catalog.category_by_id", level = "debug", skip_all)]
pub async fn category_by_id(db: &impl ConnectionTrait, id: i32) -> Result<CategorySummary, AppError> {
    Ok(summary(stored_category(db, id).await?))
}

/// A category's row as stored: 404 when there is none.
pub async fn stored_category(db: &impl ConnectionTrait, id: i32) -> Result<category::Model, AppError> {
    category_entity::Entity::find_by_id(id).one(db).await?.ok_or_else(AppError::not_found)
}

/// A product's row as stored, hidden or not (for admins): 404 when there
/// is none.
pub async fn stored_product(db: &impl ConnectionTrait, id: i32) -> Result<product::Model, AppError> {
    product_entity::Entity::find_by_id(id).one(db).await?.ok_or_else(AppError::not_found)
}

#[tracing::instrument(name = "catalog.category_by_slug", level = "debug", skip_all)]
pub async fn category_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<CategorySummary, AppError> {
    let c = category::find_by_slug(db, slug).await?.ok_or_else(AppError::not_found)?;
    Ok(summary(c))
}

async fn one_active_product(
    db: &impl ConnectionTrait,
    filter: impl sea_orm::sea_query::IntoCondition,
) -> Result<ProductView, AppError> {
    let row = product_entity::Entity::find()
        .filter(filter)
        .filter(product::Column::IsActive.eq(true))
        .find_also_related(category_entity::Entity)
        .one(db)
        .await?
        .ok_or_else(AppError::not_found)?;
    join_rows(vec![row])?.pop().ok_or_else(AppError::not_found)
}

#[tracing::instrument(name = "catalog.product_by_id", level = "debug", skip_all)]
pub async fn product_by_id(db: &impl ConnectionTrait, id: i32) -> Result<ProductView, AppError> {
    one_active_product(db, product::Column::Id.eq(id)).await
}

#[tracing::instrument(name = "catalog.product_by_slug", level = "debug", skip_all)]
pub async fn product_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<ProductView, AppError> {
    one_active_product(db, product::Column::Slug.eq(slug)).await
}

/// The active products among `ids`, by id, in one query however many ids
/// there are (a cart's lines); ids of missing or withdrawn products are not
/// in the map.
#[tracing::instrument(name = "catalog.active_products_by_ids", level = "debug", skip_all)]
pub async fn active_products_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i32],
) -> Result<HashMap<i32, ProductView>, AppError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = product_entity::Entity::find()
        .filter(product::Column::Id.is_in(ids.iter().copied()))
        .filter(product::Column::IsActive.eq(true))
        .find_also_related(category_entity::Entity)
        .all(db)
        .await?;
    Ok(join_rows(rows)?.into_iter().map(|p| (p.id, p)).collect())
}

/// The newest active products, for the home page; `pin` as in
/// [`crate::services::listings::list_products`].
#[tracing::instrument(name = "catalog.newest_products", level = "debug", skip_all)]
pub async fn newest_products<P, Fut>(
    db: &impl ConnectionTrait,
    limit: u64,
    pin: P,
) -> Result<(Vec<ProductView>, Fut::Output), AppError>
where
    P: FnOnce(&[i32]) -> Fut,
    Fut: std::future::Future,
{
    let ids: Vec<i32> = product_entity::Entity::find()
        .select_only()
        .column(product::Column::Id)
        .filter(product::Column::IsActive.eq(true))
        .order_by_desc(product::Column::CreatedAt)
        .order_by_desc(product::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let pinned = pin(&ids).await;
    Ok((crate::services::listings::rows_in_order(db, &ids).await?, pinned))
}

/// The home page's featured products: from each category (in name order,
/// up to `limit` of them), its newest product for sale and in stock, so
/// every department shows something a shopper can buy today.
#[tracing::instrument(name = "catalog.featured_products", level = "debug", skip_all)]
pub async fn featured_products<P, Fut>(
    db: &impl ConnectionTrait,
    limit: u64,
    pin: P,
) -> Result<(Vec<ProductView>, Fut::Output), AppError>
where
    P: FnOnce(&[i32]) -> Fut,
    Fut: std::future::Future,
{
    #[derive(sea_orm::FromQueryResult)]
    struct Pick {
        id: i32,
    }
    // One window over the products for sale: portable to SQLite and
    // PostgreSQL, and one statement however many categories there are.
    let sql = "SELECT p.id FROM (SELECT id, category_id, ROW_NUMBER() OVER (PARTITION BY category_id \
               ORDER BY created_at DESC, id DESC) AS n FROM products WHERE is_active = $1 AND stock > 0) p \
               JOIN categories c ON c.id = p.category_id WHERE p.n = 1 ORDER BY c.name, c.id LIMIT $2";
    let backend = db.get_database_backend();
    let sql = if backend == sea_orm::DbBackend::Sqlite { sql.replace('$', "?") } else { sql.to_owned() };
    let picks = Pick::find_by_statement(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [true.into(), (limit as i64).into()],
    ))
    .all(db)
    .await?;
    let ids: Vec<i32> = picks.into_iter().map(|p| p.id).collect();
    let pinned = pin(&ids).await;
    Ok((crate::services::listings::rows_in_order(db, &ids).await?, pinned))
}

/// A page of every product, hidden ones included, newest first, for the
/// admin; with the count of all that match `search`.
#[tracing::instrument(name = "catalog.admin_products", level = "debug", skip_all)]
pub async fn admin_products(
    db: &impl ConnectionTrait,
    search: Option<&SearchQuery>,
    page: PageRequest,
) -> Result<(u64, Vec<ProductView>), AppError> {
    let mut select = product_entity::Entity::find();
    if let Some(search) = search {
        select = select.filter(product::matches_all_terms(db.get_database_backend(), search.terms()));
    }
    let count = select.clone().count(db).await?;
    let rows = select
        .find_also_related(category_entity::Entity)
        .order_by_desc(product::Column::Id)
        .offset(page.offset())
        .limit(u64::from(page.per_page()))
        .all(db)
        .await?;
    Ok((count, join_rows(rows)?))
}
