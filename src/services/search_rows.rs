//! A shopper search's matching rows, read once per request: the listing's
//! count and page of ids and every facet count come from them.
//!
//! Run apart, the listing's COUNT and id page and the three facet counts
//! each visit the same few thousand wide product rows, and the heap visits
//! are the cost. So one query reads, for every active product that the
//! words match under the filters no facet owns (the API's search, the
//! price range), only narrow values: id, category, price, whether in stock
//! and the best-match keys. The filters the facets own (category, price
//! band, in stock) are applied here, each facet leaving out its own (see
//! `services::facets`), and the best-match order is sorted here, as the
//! SQL orders it (see `services::search`).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::domain::{ListingFilter, PriceBand, ProductSort};
use crate::error::AppError;
use crate::models::{category, category_entity, product};
use crate::services::facets::FacetCounts;
use crate::services::listings::filtered;
use crate::services::search;

/// What the rows need of one matching product.
#[derive(Clone, Copy, Debug)]
struct Row {
    id: i32,
    category_id: i32,
    band: PriceBand,
    in_stock: bool,
    /// How many of the words it matches, then how many in its name.
    words: i32,
    name_words: i32,
}

/// The filters the facets own, as the rows test them.
#[derive(Clone, Debug)]
struct Owned {
    /// `None`: any category; `Some(ids)`: one of these (none when the slug
    /// names no category, as its subquery would find none).
    categories: Option<Vec<i32>>,
    band: Option<PriceBand>,
    in_stock: bool,
}

impl Owned {
    fn category(&self, row: &Row) -> bool {
        self.categories.as_ref().is_none_or(|ids| ids.contains(&row.category_id))
    }

    fn band(&self, row: &Row) -> bool {
        self.band.is_none_or(|b| b == row.band)
    }

    fn stock(&self, row: &Row) -> bool {
        !self.in_stock || row.in_stock
    }
}

/// The matching rows of a resolved shopper search.
#[derive(Debug)]
pub struct SearchRows {
    /// The filter with its words resolved (see `search::resolve`).
    pub filter: ListingFilter,
    /// The search as run, when a typo made it differ from the words typed.
    pub corrected: Option<String>,
    rows: Vec<Row>,
    owned: Owned,
}

/// The category ids `filter` keeps, or `None` for any.
async fn chosen_categories(db: &impl ConnectionTrait, filter: &ListingFilter) -> Result<Option<Vec<i32>>, AppError> {
    let mut ids: Option<Vec<i32>> = filter.category_id.map(|id| vec![id]);
    if let Some(slug) = &filter.category_slug {
        let by_slug: Vec<i32> = category_entity::Entity::find()
            .select_only()
            .column(category::Column::Id)
            .filter(category::Column::Slug.eq(slug.as_str()))
            .into_tuple()
            .all(db)
            .await?;
        // Both given: a product must be in both.
        ids = Some(match ids {
            Some(ids) => ids.into_iter().filter(|id| by_slug.contains(id)).collect(),
            None => by_slug,
        });
    }
    Ok(ids)
}

/// Reads the rows of `filter`'s shopper search; `None` when it has no
/// words (a listing of everything is not read whole: see `listings`).
#[tracing::instrument(name = "search_rows.read", level = "debug", skip_all)]
pub async fn read(db: &impl ConnectionTrait, filter: &ListingFilter) -> Result<Option<SearchRows>, AppError> {
    if filter.words.is_none() {
        return Ok(None);
    }
    let backend = db.get_database_backend();
    let search::Resolved { filter, corrected } = search::resolve(db, filter).await?;
    let Some(words) = &filter.words else { return Ok(None) };
    let owned =
        Owned { categories: chosen_categories(db, &filter).await?, band: filter.price_band, in_stock: filter.in_stock };
    let unowned =
        ListingFilter { category_id: None, category_slug: None, price_band: None, in_stock: false, ..filter.clone() };
    let [all_words, name_words] = search::relevance(backend, words.words());
    // Every row found matches one of the words: with one word, it matches
    // all of them, and the test need not run per row.
    let all_words = if words.words().len() == 1 { Expr::cust("1") } else { all_words };
    let tuples: Vec<(i32, i32, i64, bool, i32, i32)> = filtered(backend, &unowned)
        .select_only()
        .column(product::Column::Id)
        .column(product::Column::CategoryId)
        .column(product::Column::PriceCents)
        .column_as(Expr::cust(r#""products"."stock" > 0"#), "in_stock")
        .column_as(all_words, "words")
        .column_as(name_words, "name_words")
        .into_tuple()
        .all(db)
        .await?;
    let rows = tuples
        .into_iter()
        .map(|(id, category_id, cents, in_stock, words, name_words)| Row {
            id,
            category_id,
            band: PriceBand::of_cents(cents),
            in_stock,
            words,
            name_words,
        })
        .collect();
    Ok(Some(SearchRows { filter, corrected, rows, owned }))
}

impl SearchRows {
    /// The listing's rows: every owned filter applies.
    fn listed(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| self.owned.category(r) && self.owned.band(r) && self.owned.stock(r))
    }

    /// Matching products over all pages.
    pub fn count(&self) -> u64 {
        self.listed().count() as u64
    }

    /// The ids of the listing's products from `offset`, at most `limit`,
    /// in best-match order; `None` for another order (the SQL orders it).
    pub fn best_match_ids(&self, sort: ProductSort, offset: u64, limit: u64) -> Option<Vec<i32>> {
        if sort != ProductSort::BEST_MATCH {
            return None;
        }
        let mut listed: Vec<&Row> = self.listed().collect();
        // As `listings::ordered`: both keys descending, then the id
        // ascending (best match has no first key to take a direction from).
        listed
            .sort_unstable_by(|a, b| b.words.cmp(&a.words).then(b.name_words.cmp(&a.name_words)).then(a.id.cmp(&b.id)));
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Some(listed.into_iter().skip(offset).take(limit).map(|r| r.id).collect())
    }

    /// The facet counts, each ignoring its own filter (see `services::facets`).
    pub fn facets(&self) -> FacetCounts {
        let o = &self.owned;
        let mut categories: Vec<(i32, u64)> = Vec::new();
        let mut in_stock = 0;
        let mut bands: Vec<(PriceBand, u64)> = PriceBand::ALL.iter().map(|b| (*b, 0)).collect();
        for row in &self.rows {
            let (category, band, stock) = (o.category(row), o.band(row), o.stock(row));
            if band && stock {
                match categories.iter_mut().find(|(id, _)| *id == row.category_id) {
                    Some((_, n)) => *n += 1,
                    None => categories.push((row.category_id, 1)),
                }
            }
            if category && band && row.in_stock {
                in_stock += 1;
            }
            if category
                && stock
                && let Some((_, n)) = bands.iter_mut().find(|(b, _)| *b == row.band)
            {
                *n += 1;
            }
        }
        FacetCounts { categories, in_stock, bands }
    }
}
