//! The pages' search: which products a shopper's words find, in which
//! order, and the corrections of words that find nothing.
//!
//! **Matching.** A product matches when any word matches its name or
//! description after stemming: PostgreSQL's `english` configuration over
//! `products.search_vector`, SQLite's porter stemmer over `product_fts`
//! (see migration `m20261202_000015_shopper_search`).
//!
//! **Best match.** Products that match more of the words come first; among
//! those, products whose name matches more of them; then the lowest id.
//! So every product matching all words precedes any matching some, a
//! name match precedes a description match of as many words, and the order
//! is total.
//!
//! **Typos.** A word that matches no active product (and has more than 3
//! characters) is replaced by its nearest vocabulary word that does, within
//! 1 edit up to 7 characters and 2 beyond (see `domain::shopper`):
//! candidates by trigram similarity from `search_words` on PostgreSQL, by a
//! scan of the words sharing its first letter in `product_words_vocab` on
//! SQLite, both bounded. The page says which words it searched instead.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::domain::ListingFilter;
use crate::domain::shopper::{ShopperQuery, edit_distance_within, is_phrase, is_stop_word, max_edits};

/// Candidates a correction considers, at most.
const MAX_CANDIDATES: u64 = 2_000;
/// Candidates checked against the catalog, nearest first, at most.
const MAX_CHECKED: usize = 5;

/// `$1` on PostgreSQL, `?` on SQLite: custom SQL uses the backend's own
/// placeholders.
fn placeholder(backend: DbBackend) -> &'static str {
    if backend == DbBackend::Postgres { "$1" } else { "?" }
}

/// The FTS5 query for one word, quoted so it is never syntax; within the
/// name column only when `name`.
fn fts_word(word: &str, name: bool) -> String {
    let quoted = format!("\"{}\"", word.replace('"', "\"\""));
    if name { format!("name : {quoted}") } else { quoted }
}

/// The tsquery text for one term (letters, digits and spaces only, so
/// never syntax), within the name's weight only when `name`. A phrase is
/// its words in order, each stop word a gap (the index counts their
/// places), all in the name or all in the description: the two are one
/// vector, and a phrase must not run from one into the other.
fn ts_word(term: &str, name: bool) -> String {
    if !is_phrase(term) {
        return if name { format!("{term}:A") } else { term.to_owned() };
    }
    let phrase = |weight: char| {
        let mut out = String::new();
        let mut gap = 0;
        for word in term.split(' ') {
            gap += 1;
            if is_stop_word(word) {
                continue;
            }
            if !out.is_empty() {
                out.push_str(&if gap == 1 { " <-> ".to_owned() } else { format!(" <{gap}> ") });
            }
            out.push_str(&format!("{word}:{weight}"));
            gap = 0;
        }
        format!("({out})")
    };
    if name { phrase('A') } else { format!("{} | {}", phrase('A'), phrase('B')) }
}

/// Whether a product matches `query` (an FTS5 or tsquery text).
fn matches(backend: DbBackend, query: String) -> Expr {
    let p = placeholder(backend);
    let sql = match backend {
        DbBackend::Postgres => format!(r#""products"."search_vector" @@ to_tsquery('english', {p})"#),
        _ => format!(r#""products"."id" IN (SELECT rowid FROM product_fts WHERE product_fts MATCH {p})"#),
    };
    Expr::cust_with_values(sql, [query])
}

/// Products matching any of the words; none when there are none.
pub fn matches_any(backend: DbBackend, words: &[String]) -> Expr {
    if words.is_empty() {
        return Expr::cust("1 = 0");
    }
    let query = match backend {
        DbBackend::Postgres => words.iter().map(|w| format!("({})", ts_word(w, false))).collect::<Vec<_>>().join(" | "),
        _ => words.iter().map(|w| fts_word(w, false)).collect::<Vec<_>>().join(" OR "),
    };
    matches(backend, query)
}

/// How many of the words a product matches (in its name only, with
/// `name`): a sum of one 0-or-1 term per word.
fn matched_count(backend: DbBackend, words: &[String], name: bool) -> Expr {
    words
        .iter()
        .map(|w| {
            match backend {
                // A boolean is not a number on PostgreSQL.
                DbBackend::Postgres => Expr::cust_with_values(
                    r#"("products"."search_vector" @@ to_tsquery('english', $1))::int"#,
                    [ts_word(w, name)],
                ),
                _ => matches(backend, fts_word(w, name)),
            }
        })
        .reduce(|sum, one| sum.add(one))
        .unwrap_or_else(|| Expr::val(0))
}

/// The keys of best match, each to be ordered descending, before the id.
pub fn relevance(backend: DbBackend, words: &[String]) -> [Expr; 2] {
    [matched_count(backend, words, false), matched_count(backend, words, true)]
}

/// Whether each word matches some active product: one query for all the
/// words, as each request resolves its words once and every round trip
/// counts in the page's time.
async fn words_found(db: &impl ConnectionTrait, words: &[String]) -> Result<Vec<bool>, DbErr> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let mut tests = Vec::with_capacity(words.len());
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let (test, query) = match backend {
            DbBackend::Postgres => (
                format!(
                    "EXISTS (SELECT 1 FROM products WHERE is_active \
                     AND search_vector @@ to_tsquery('english', ${}))",
                    i + 1
                ),
                ts_word(word, false),
            ),
            _ => (
                "EXISTS (SELECT 1 FROM product_fts JOIN products ON products.id = product_fts.rowid \
                 WHERE product_fts MATCH ? AND products.is_active)"
                    .to_owned(),
                fts_word(word, false),
            ),
        };
        tests.push(test);
        values.push(query.into());
    }
    let sql = format!("SELECT {}", tests.join(", "));
    let row = db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let mut found = Vec::with_capacity(words.len());
    for i in 0..words.len() {
        found.push(row.as_ref().map(|r| r.try_get_by_index::<bool>(i)).transpose()?.unwrap_or(false));
    }
    Ok(found)
}

/// Vocabulary words near `word`, the nearest first: `(word, edits)`.
async fn candidates(db: &impl ConnectionTrait, word: &str) -> Result<Vec<(String, usize)>, DbErr> {
    let backend = db.get_database_backend();
    let max = max_edits(word);
    let rows: Vec<String> = match backend {
        DbBackend::Postgres => {
            // `%` is answered by the trigram index; similarity orders them.
            let sql = format!(
                "SELECT word FROM search_words WHERE word % $1 ORDER BY similarity(word, $1) DESC, word LIMIT {MAX_CANDIDATES}"
            );
            let stmt = Statement::from_sql_and_values(backend, sql, [word.into()]);
            db.query_all_raw(stmt).await?.iter().map(|r| r.try_get_by_index(0)).collect::<Result<_, _>>()?
        }
        _ => {
            // The words that share the first letter: a range of the
            // vocabulary's own order. Most by document count first.
            let Some(first) = word.chars().next() else { return Ok(Vec::new()) };
            let from = first.to_string();
            let below = char::from_u32(u32::from(first) + 1).map_or_else(|| format!("{first}\u{10ffff}"), String::from);
            let sql = format!(
                "SELECT term FROM product_words_vocab WHERE term >= ? AND term < ? \
                 AND length(term) BETWEEN ? AND ? ORDER BY doc DESC, term LIMIT {MAX_CANDIDATES}"
            );
            let len = word.chars().count();
            let values =
                [from.into(), below.into(), (len.saturating_sub(max) as i64).into(), ((len + max) as i64).into()];
            let stmt = Statement::from_sql_and_values(backend, sql, values);
            db.query_all_raw(stmt).await?.iter().map(|r| r.try_get_by_index(0)).collect::<Result<_, _>>()?
        }
    };
    let mut near: Vec<(String, usize)> = rows
        .into_iter()
        .filter(|c| c != word && !is_stop_word(c))
        .filter_map(|c| edit_distance_within(word, &c, max).map(|d| (c, d)))
        .collect();
    // Stable: among equally near words, the backend's order stands.
    near.sort_by_key(|(_, d)| *d);
    Ok(near)
}

/// A filter whose shopper words are resolved against the catalog.
pub struct Resolved {
    pub filter: ListingFilter,
    /// The search as run, when it is not as typed ("Showing results for").
    pub corrected: Option<String>,
}

/// `filter` with each of its words that finds nothing replaced by its
/// correction, if it has one.
#[tracing::instrument(name = "search.resolve", level = "debug", skip_all)]
pub async fn resolve(db: &impl ConnectionTrait, filter: &ListingFilter) -> Result<Resolved, DbErr> {
    let Some(query) = &filter.words else { return Ok(Resolved { filter: filter.clone(), corrected: None }) };
    let mut corrections: Vec<(String, String)> = Vec::new();
    let found = words_found(db, query.words()).await?;
    for (word, found) in query.words().iter().zip(found) {
        // A phrase is taken as typed: its words are corrected alone.
        if found || is_phrase(word) || max_edits(word) == 0 {
            continue;
        }
        let near = candidates(db, word).await?;
        for (candidate, _) in near.into_iter().take(MAX_CHECKED) {
            if words_found(db, std::slice::from_ref(&candidate)).await?[0] {
                corrections.push((word.clone(), candidate));
                break;
            }
        }
    }
    if corrections.is_empty() {
        return Ok(Resolved { filter: filter.clone(), corrected: None });
    }
    let searched: ShopperQuery = query.replacing(&corrections);
    let corrected = Some(searched.to_string());
    Ok(Resolved { filter: ListingFilter { words: Some(searched), ..filter.clone() }, corrected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_fts5() {
        assert_eq!(fts_word("lamp", false), "\"lamp\"");
        assert_eq!(fts_word("lamp", true), "name : \"lamp\"");
        assert_eq!(ts_word("lamp", true), "lamp:A");
        assert_eq!(ts_word("desk lamp", true), "(desk:A <-> lamp:A)");
        assert_eq!(ts_word("lamp with a shade", false), "(lamp:A <3> shade:A) | (lamp:B <3> shade:B)");
        assert_eq!(fts_word("desk lamp", false), "\"desk lamp\"");
    }
}
