//! Filtered, ordered, paginated product listings: the query behind `/products`,
//! the category pages and `GET /api/products/`.

use std::collections::HashMap;
use std::future::Future;

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::domain::listing::SortField;
use crate::domain::{ListingFilter, ListingQuery, PageRequest, ProductSort};
use crate::error::AppError;
use crate::models::{category, category_entity, product, product_entity};
use crate::services::catalog::{ProductView, join_rows};
use crate::services::search;
use crate::services::search_rows::SearchRows;

/// One page of a listing.
#[derive(Clone, Debug)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Matching products over all pages.
    pub count: u64,
    pub page: PageRequest,
    pub page_count: u32,
    /// The pages' search as run, when a typo made it differ from the words
    /// typed (see `services::search`).
    pub corrected: Option<String>,
}

impl ProductPage {
    pub fn has_next(&self) -> bool {
        self.page.page() < self.page_count
    }

    pub fn has_previous(&self) -> bool {
        self.page.page() > 1
    }
}

/// The active products that match `filter`, unordered.
pub fn filtered(backend: sea_orm::DbBackend, filter: &ListingFilter) -> Select<product_entity::Entity> {
    let mut select = product_entity::Entity::find().filter(product::Column::IsActive.eq(true));
    if let Some(search) = &filter.search {
        select = select.filter(product::matches_all_terms(backend, search.terms()));
    }
    if let Some(words) = &filter.words {
        select = select.filter(search::matches_any(backend, words.words()));
    }
    if let Some(band) = filter.price_band {
        let (from, below) = band.cents();
        if let Some(from) = from {
            select = select.filter(product::Column::PriceCents.gte(from));
        }
        if let Some(below) = below {
            select = select.filter(product::Column::PriceCents.lt(below));
        }
    }
    if let Some(id) = filter.category_id {
        select = select.filter(product::Column::CategoryId.eq(id));
    }
    if let Some(slug) = &filter.category_slug {
        select = select.filter(
            product::Column::CategoryId.in_subquery(
                Query::select()
                    .column(category::Column::Id)
                    .from(category_entity::Entity)
                    .and_where(category::Column::Slug.eq(slug.as_str()))
                    .to_owned(),
            ),
        );
    }
    if let Some(min) = filter.min_price {
        select = select.filter(product::Column::PriceCents.gte(min.cents()));
    }
    if let Some(max) = filter.max_price {
        select = select.filter(product::Column::PriceCents.lte(max.cents()));
    }
    if filter.in_stock {
        select = select.filter(product::Column::Stock.gt(0));
    }
    select
}

/// Orders by the chosen keys in turn, then by id in the first key's
/// direction, so pages never overlap or skip. Best match (no key) orders a
/// shopper search by relevance first (see `services::search`).
pub fn ordered(
    backend: sea_orm::DbBackend,
    filter: &ListingFilter,
    mut select: Select<product_entity::Entity>,
    sort: ProductSort,
) -> Select<product_entity::Entity> {
    use product::Column as C;
    use sea_orm::Order;
    let direction = |descending| if descending { Order::Desc } else { Order::Asc };
    if sort == ProductSort::BEST_MATCH
        && let Some(words) = &filter.words
    {
        for key in search::relevance(backend, words.words()) {
            select = select.order_by(key, Order::Desc);
        }
    }
    for key in sort.keys() {
        let column = match key.field {
            SortField::Price => C::PriceCents,
            SortField::Name => C::Name,
            SortField::CreatedAt => C::CreatedAt,
        };
        select = select.order_by(column, direction(key.descending));
    }
    let first = sort.keys().first().is_some_and(|k| k.descending);
    select.order_by(C::Id, direction(first))
}

/// Runs a listing: one COUNT, then (if the page exists and is not empty)
/// the ids of the page's products in order, then their rows joined with
/// categories. A page past the last is a 404 ("Invalid page."), as in the
/// seed's API; page 1 of nothing is an empty page.
///
/// `pin` is called with the ids once they are chosen and before their rows
/// are read, and its output returned beside the page: a cached fill pins
/// the tags of what it shows of them there (see `Cache::pin`), so a write
/// to one of them after that point retires the entry.
#[tracing::instrument(name = "listings.list_products", level = "debug", skip_all)]
pub async fn list_products<P, Fut>(
    db: &impl ConnectionTrait,
    query: &ListingQuery,
    pin: P,
) -> Result<(ProductPage, Fut::Output), AppError>
where
    P: FnOnce(&[i32]) -> Fut,
    Fut: Future,
{
    let backend = db.get_database_backend();
    let search::Resolved { filter, corrected } = search::resolve(db, &query.filter).await?;
    let count = filtered(backend, &filter).count(db).await?;
    page_of(db, query, &filter, count, None, corrected, pin).await
}

/// [`list_products`] for a shopper search whose matching rows are read
/// already (see `services::search_rows`): the count, and in best-match
/// order or by price the page's ids, come from them.
#[tracing::instrument(name = "listings.list_searched", level = "debug", skip_all)]
pub async fn list_searched<P, Fut>(
    db: &impl ConnectionTrait,
    query: &ListingQuery,
    rows: &SearchRows,
    pin: P,
) -> Result<(ProductPage, Fut::Output), AppError>
where
    P: FnOnce(&[i32]) -> Fut,
    Fut: Future,
{
    page_of(db, query, &rows.filter, rows.count(), Some(rows), rows.corrected.clone(), pin).await
}

/// The page of a listing of `count` products under the resolved `filter`:
/// its ids from `rows` when they can order them, else from the SQL.
async fn page_of<P, Fut>(
    db: &impl ConnectionTrait,
    query: &ListingQuery,
    filter: &ListingFilter,
    count: u64,
    rows: Option<&SearchRows>,
    corrected: Option<String>,
    pin: P,
) -> Result<(ProductPage, Fut::Output), AppError>
where
    P: FnOnce(&[i32]) -> Fut,
    Fut: Future,
{
    let backend = db.get_database_backend();
    let page = query.page.resolve(count);
    let page_count = page.page_count(count);
    if page.page() > page_count {
        return Err(AppError::invalid_page());
    }
    let limit = u64::from(page.per_page());
    let ids: Vec<i32> = if count == 0 {
        Vec::new()
    } else if let Some(ids) = rows.and_then(|r| r.ordered_ids(query.sort, page.offset(), limit)) {
        ids
    } else {
        ordered(backend, filter, filtered(backend, filter), query.sort)
            .select_only()
            .column(product::Column::Id)
            .offset(page.offset())
            .limit(limit)
            .into_tuple()
            .all(db)
            .await?
    };
    let pinned = pin(&ids).await;
    let items = rows_in_order(db, &ids).await?;
    Ok((ProductPage { items, count, page, page_count, corrected }, pinned))
}

/// The products with these ids, in this order, with their categories. One
/// deleted since its id was read is left out (its delete retires the lists).
pub async fn rows_in_order(db: &impl ConnectionTrait, ids: &[i32]) -> Result<Vec<ProductView>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = product_entity::Entity::find()
        .filter(product::Column::Id.is_in(ids.iter().copied()))
        .find_also_related(category_entity::Entity)
        .all(db)
        .await?;
    let mut by_id: HashMap<i32, ProductView> = join_rows(rows)?.into_iter().map(|p| (p.id, p)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}
