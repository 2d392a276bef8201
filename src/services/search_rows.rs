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
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement};

use crate::domain::shopper::is_phrase;
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
    cents: i64,
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

/// The facets' own filters of `filter`.
async fn owned(db: &impl ConnectionTrait, filter: &ListingFilter) -> Result<Owned, AppError> {
    Ok(Owned { categories: chosen_categories(db, filter).await?, band: filter.price_band, in_stock: filter.in_stock })
}

/// Reads the rows of `filter`'s shopper search; `None` when it has no
/// words (a listing of everything is not read whole: see `listings`).
#[tracing::instrument(name = "search_rows.read", level = "debug", skip_all)]
pub async fn read(db: &impl ConnectionTrait, filter: &ListingFilter) -> Result<Option<SearchRows>, AppError> {
    if filter.words.is_none() {
        return Ok(None);
    }
    let backend = db.get_database_backend();
    let by_postings = backend == DbBackend::Postgres && filter.search.is_none();
    let unowned = |filter: &ListingFilter| ListingFilter {
        category_id: None,
        category_slug: None,
        price_band: None,
        in_stock: false,
        ..filter.clone()
    };
    // Resolving the words checks that each finds something; the postings
    // of words that all do are the search as typed, so one read answers
    // both (only a typo takes the way round).
    if by_postings
        && let Some(words) = &filter.words
        && let Some(found) = postings(db, &unowned(filter), words.words()).await?
        && found.all_words_found
    {
        let owned = owned(db, filter).await?;
        return Ok(Some(SearchRows { filter: filter.clone(), corrected: None, rows: found.rows, owned }));
    }
    let search::Resolved { filter, corrected } = search::resolve(db, filter).await?;
    let Some(words) = &filter.words else { return Ok(None) };
    let owned = owned(db, &filter).await?;
    let unowned = unowned(&filter);
    if by_postings && let Some(found) = postings(db, &unowned, words.words()).await? {
        return Ok(Some(SearchRows { filter, corrected, rows: found.rows, owned }));
    }
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
            cents,
            band: PriceBand::of_cents(cents),
            in_stock,
            words,
            name_words,
        })
        .collect();
    Ok(Some(SearchRows { filter, corrected, rows, owned }))
}

/// A search's postings, as [`postings`] reads them.
struct Postings {
    rows: Vec<Row>,
    /// Every word has a posting: it matches some active product.
    all_words_found: bool,
}

/// The read of the postings of `words` (none a phrase), in one statement:
/// each word's lexeme under PostgreSQL's `english` configuration (as
/// `to_tsquery` makes it), whether it has a posting, and the postings
/// themselves, one index-only range of the primary key per word, which
/// covers their packed entries (see migration `m20261203_000017`).
pub fn postings_statement(words: &[String]) -> Statement {
    // Words are letters and digits: a space parts them. A word given twice
    // is counted twice, as `search::relevance` counts it. The entries come
    // as one string of bytes, not a row or an array element each: thousands
    // of values cost more to gather, send and decode than the index costs
    // to read.
    let sql = "WITH w AS (SELECT t.n, array_to_string(tsvector_to_array(to_tsvector('english', t.word)), ' ') \
                 AS lexeme FROM unnest(string_to_array($1, ' ')) WITH ORDINALITY AS t (word, n)) \
               SELECT (SELECT array_agg(w.lexeme ORDER BY w.n) FROM w), \
               (SELECT bool_and(EXISTS (SELECT 1 FROM search_postings s WHERE s.lexeme = w.lexeme)) FROM w), \
               string_agg(p.entry, ''::bytea) \
               FROM w JOIN search_postings p ON p.lexeme = w.lexeme";
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [words.join(" ").into()])
}

/// The bytes of one packed posting (see migration `m20261203_000017`).
const ENTRY_LEN: usize = 18;

/// One posting, unpacked: its product's row, for one word.
fn unpack(entry: &[u8]) -> Row {
    let int4 = |at: usize| i32::from_be_bytes(entry[at..at + 4].try_into().expect("4 bytes"));
    let cents = i64::from_be_bytes(entry[8..16].try_into().expect("8 bytes"));
    Row {
        id: int4(0),
        category_id: int4(4),
        cents,
        band: PriceBand::of_cents(cents),
        in_stock: entry[16] != 0,
        words: 1,
        name_words: i32::from(entry[17] != 0),
    }
}

/// The rows of a search of `words` under `unowned`'s price range, from
/// `search_postings` (see migration `m20261202_000016_search_postings`),
/// summed here per product. `None` when the postings cannot answer it as
/// the vector's test would: a phrase, or a word that makes other than one
/// lexeme (a stop word makes none).
async fn postings(
    db: &impl ConnectionTrait,
    unowned: &ListingFilter,
    words: &[String],
) -> Result<Option<Postings>, AppError> {
    if words.is_empty() || words.iter().any(|w| is_phrase(w)) {
        return Ok(None);
    }
    let Some(found) = db.query_one_raw(postings_statement(words)).await? else { return Ok(None) };
    // Lexemes made from words hold no spaces: one that does is several.
    let lexemes: Option<Vec<String>> = found.try_get_by_index(0)?;
    if lexemes.is_none_or(|l| l.len() != words.len() || l.iter().any(|l| l.is_empty() || l.contains(' '))) {
        return Ok(None);
    }
    let all_words_found: Option<bool> = found.try_get_by_index(1)?;
    // No posting found: an aggregate of no rows is NULL.
    let entries: Vec<u8> = found.try_get_by_index::<Option<Vec<u8>>>(2)?.unwrap_or_default();
    if !entries.len().is_multiple_of(ENTRY_LEN) {
        return Err(AppError::Internal(format!("search postings of {} bytes, not whole entries", entries.len())));
    }
    let mut postings: Vec<Row> =
        entries.chunks_exact(ENTRY_LEN).map(unpack).filter(|row| unowned.admits_price(row.cents)).collect();
    // A product's postings (one per word it matches) side by side, summed.
    postings.sort_unstable_by_key(|row| row.id);
    let mut rows: Vec<Row> = Vec::with_capacity(postings.len());
    for row in postings {
        match rows.last_mut() {
            Some(last) if last.id == row.id => {
                last.words += row.words;
                last.name_words += row.name_words;
            }
            _ => rows.push(row),
        }
    }
    Ok(Some(Postings { rows, all_words_found: all_words_found.unwrap_or(false) }))
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

    /// The ids of the listing's products from `offset`, at most `limit`, in
    /// `sort`'s order when the rows hold its keys (best match, or price
    /// alone); `None` for another order (the SQL orders it).
    pub fn ordered_ids(&self, sort: ProductSort, offset: u64, limit: u64) -> Option<Vec<i32>> {
        use std::cmp::Ordering;
        // As `listings::ordered`: the keys, then the id in the first key's
        // direction (best match, which has none, ascending).
        let order: fn(&Row, &Row) -> Ordering = match sort {
            ProductSort::BEST_MATCH => {
                |a, b| b.words.cmp(&a.words).then(b.name_words.cmp(&a.name_words)).then(a.id.cmp(&b.id))
            }
            ProductSort::PRICE_ASC => |a, b| a.cents.cmp(&b.cents).then(a.id.cmp(&b.id)),
            ProductSort::PRICE_DESC => |a, b| b.cents.cmp(&a.cents).then(b.id.cmp(&a.id)),
            _ => return None,
        };
        let mut listed: Vec<&Row> = self.listed().collect();
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = offset.saturating_add(usize::try_from(limit).unwrap_or(usize::MAX)).min(listed.len());
        if offset >= end {
            return Some(Vec::new());
        }
        // Only the rows up to the page's end need sorting: select them
        // first (the order is total, so which rows they are is decided).
        if end < listed.len() {
            listed.select_nth_unstable_by(end - 1, |a, b| order(a, b));
            listed.truncate(end);
        }
        listed.sort_unstable_by(|a, b| order(a, b));
        Some(listed[offset..].iter().map(|r| r.id).collect())
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
