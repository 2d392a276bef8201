//! The counts beside a listing: per category, in stock, per price band.
//!
//! Each facet counts the listing's products as its filters choose them,
//! except its own: the category counts ignore the category chosen, the
//! price bands the band chosen, and the in-stock count is the listing with
//! only products in stock. So every count is what its link would show.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, PaginatorTrait, QuerySelect};

use crate::domain::{ListingFilter, PriceBand};
use crate::error::AppError;
use crate::models::product;
use crate::services::listings::filtered;
use crate::services::search;

/// A listing's facet counts.
#[derive(Clone, Debug, Default)]
pub struct FacetCounts {
    /// `(category id, products)`, for the categories that have any.
    pub categories: Vec<(i32, u64)>,
    pub in_stock: u64,
    /// Every band, with how many products it has.
    pub bands: Vec<(PriceBand, u64)>,
}

/// The band of `products.price_cents`, as the index of [`PriceBand::ALL`].
fn band_expr() -> Expr {
    let mut sql = String::from("CASE");
    for (i, band) in PriceBand::ALL.iter().enumerate() {
        if let (_, Some(below)) = band.cents() {
            sql.push_str(&format!(r#" WHEN "products"."price_cents" < {below} THEN {i}"#));
        }
    }
    sql.push_str(&format!(" ELSE {} END", PriceBand::ALL.len() - 1));
    Expr::cust(sql)
}

#[tracing::instrument(name = "facets.counts", level = "debug", skip_all)]
pub async fn counts(db: &impl ConnectionTrait, filter: &ListingFilter) -> Result<FacetCounts, AppError> {
    let backend = db.get_database_backend();
    let filter = search::resolve(db, filter).await?.filter;

    let any_category = ListingFilter { category_id: None, category_slug: None, ..filter.clone() };
    let categories: Vec<(i32, i64)> = filtered(backend, &any_category)
        .select_only()
        .column(product::Column::CategoryId)
        .column_as(product::Column::Id.count(), "n")
        .group_by(product::Column::CategoryId)
        .into_tuple()
        .all(db)
        .await?;

    let in_stock = filtered(backend, &ListingFilter { in_stock: true, ..filter.clone() }).count(db).await?;

    let any_band = ListingFilter { price_band: None, ..filter.clone() };
    let by_band: Vec<(i32, i64)> = filtered(backend, &any_band)
        .select_only()
        .column_as(band_expr(), "band")
        .column_as(product::Column::Id.count(), "n")
        .group_by(band_expr())
        .into_tuple()
        .all(db)
        .await?;
    let bands = PriceBand::ALL
        .iter()
        .enumerate()
        .map(|(i, band)| {
            let n = by_band.iter().find(|(b, _)| usize::try_from(*b).ok() == Some(i)).map_or(0, |(_, n)| *n);
            (*band, u64::try_from(n).unwrap_or(0))
        })
        .collect();

    Ok(FacetCounts {
        categories: categories.into_iter().map(|(id, n)| (id, u64::try_from(n).unwrap_or(0))).collect(),
        in_stock,
        bands,
    })
}
