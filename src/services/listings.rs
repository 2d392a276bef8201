//! Filtered, ordered, paginated product listings: the query behind `/products`,
//! the category pages and `GET /api/products/`.

use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

use crate::domain::{ListingFilter, ListingQuery, PageRequest, ProductSort};
use crate::error::AppError;
use crate::models::{category, category_entity, product, product_entity};
use crate::services::catalog::{ProductView, join_rows};

/// One page of a listing.
#[derive(Clone, Debug)]
pub struct ProductPage {
    pub items: Vec<ProductView>,
    /// Matching products over all pages.
    pub count: u64,
    pub page: PageRequest,
    pub page_count: u32,
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

/// Orders by the chosen key, then by id, so pages never overlap or skip.
pub fn ordered(select: Select<product_entity::Entity>, sort: ProductSort) -> Select<product_entity::Entity> {
    use product::Column as C;
    match sort {
        ProductSort::PriceAsc => select.order_by_asc(C::PriceCents).order_by_asc(C::Id),
        ProductSort::PriceDesc => select.order_by_desc(C::PriceCents).order_by_desc(C::Id),
        ProductSort::NameAsc => select.order_by_asc(C::Name).order_by_asc(C::Id),
        ProductSort::NameDesc => select.order_by_desc(C::Name).order_by_desc(C::Id),
        ProductSort::Newest => select.order_by_desc(C::CreatedAt).order_by_desc(C::Id),
        ProductSort::Oldest => select.order_by_asc(C::CreatedAt).order_by_asc(C::Id),
    }
}

/// Runs a listing: one COUNT, then (if the page exists and is not empty) one
/// page query joined with categories. A page past the last is a 404
/// ("Invalid page."), as in the seed's API; page 1 of nothing is an empty page.
#[tracing::instrument(name = "listings.list_products", level = "debug", skip_all)]
pub async fn list_products(db: &impl ConnectionTrait, query: &ListingQuery) -> Result<ProductPage, AppError> {
    let backend = db.get_database_backend();
    let count = filtered(backend, &query.filter).count(db).await?;
    let page_count = query.page.page_count(count);
    if query.page.page() > page_count {
        return Err(AppError::invalid_page());
    }
    let items = if count == 0 {
        Vec::new()
    } else {
        let rows = ordered(filtered(backend, &query.filter), query.sort)
            .find_also_related(category_entity::Entity)
            .offset(query.page.offset())
            .limit(u64::from(query.page.per_page()))
            .all(db)
            .await?;
        join_rows(rows)?
    };
    Ok(ProductPage { items, count, page: query.page, page_count })
}
