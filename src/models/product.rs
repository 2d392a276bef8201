//! Product behaviour: timestamps, the cache tags a change affects, and the
//! search expression.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue, DbBackend};

use crate::cache::{Tag, outbox};

pub use super::_entities::product::{ActiveModel, Column, Entity, Model};

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    async fn before_save<C>(mut self, db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        let now = chrono::Utc::now();
        if insert && self.created_at.is_not_set() {
            self.created_at = ActiveValue::Set(now);
        }
        if self.updated_at.is_not_set() || !insert {
            self.updated_at = ActiveValue::Set(now);
        }
        // An update records what it changes here, while the old row can be
        // read: what an entry shows decides whether it is retired.
        if !insert
            && let Some(id) = self.id.try_as_ref()
            && let Some(old) = Entity::find_by_id(*id).one(db).await?
        {
            outbox::record(db, &self.tags_changed_from(&old)).await?;
        }
        Ok(self)
    }

    /// The tags are recorded on the write's own connection, so they commit
    /// (or roll back) with it; they reach the cache after commit. A new
    /// product changes the lists and its category's count.
    async fn after_save<C>(model: Model, db: &C, insert: bool) -> Result<Model, DbErr>
    where
        C: ConnectionTrait,
    {
        if insert {
            outbox::record(db, &Tag::for_product(model.id, &[&model.slug])).await?;
        }
        Ok(model)
    }

    async fn before_delete<C>(self, db: &C) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if let Some(id) = self.id.try_as_ref()
            && let Some(old) = Entity::find_by_id(*id).one(db).await?
        {
            outbox::record(db, &Tag::for_product(old.id, &[&old.slug])).await?;
        }
        Ok(self)
    }
}

/// Whether `value` sets something other than `old`.
fn changes<T: PartialEq + Into<sea_orm::Value>>(value: &ActiveValue<T>, old: &T) -> bool {
    matches!(value, ActiveValue::Set(v) if v != old)
}

impl ActiveModel {
    /// The tags an update from `old` to this affects. A change of stock
    /// alone is retired by projection ([`Tag::for_stock`]); any other
    /// change reorders or refilters lists, so it retires them all, and the
    /// category counts only when it moves the product in or out of one.
    fn tags_changed_from(&self, old: &Model) -> Vec<Tag> {
        let counts = changes(&self.is_active, &old.is_active) || changes(&self.category_id, &old.category_id);
        let listed = counts
            || changes(&self.name, &old.name)
            || changes(&self.slug, &old.slug)
            || changes(&self.description, &old.description)
            || changes(&self.price_cents, &old.price_cents)
            || changes(&self.created_at, &old.created_at);
        let new_stock = match &self.stock {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => *v,
            ActiveValue::NotSet => old.stock,
        };
        if !listed {
            return Tag::for_stock(old.id, &old.slug, old.stock, new_stock);
        }
        let new_slug = match &self.slug {
            ActiveValue::Set(v) | ActiveValue::Unchanged(v) => v.as_str(),
            ActiveValue::NotSet => old.slug.as_str(),
        };
        // Under its old slug and its new one: the page under the old goes.
        let slugs: &[&str] = if new_slug == old.slug { &[new_slug] } else { &[&old.slug, new_slug] };
        let mut tags = Tag::for_product(old.id, slugs);
        if !counts {
            tags.retain(|t| *t != Tag::Categories);
        }
        tags
    }
}

/// The text a search term is matched against. On PostgreSQL it is the stored,
/// lower-cased `search_document` column under the `idx_products_search_trgm`
/// trigram index (see the migrations); SQLite matches the expression itself.
/// Table-qualified because listings join `categories`, which has columns of
/// the same names.
const SEARCH_DOCUMENT_PG: &str = r#""products"."search_document""#;
const SEARCH_DOCUMENT_SQLITE: &str = r#"("products"."name" || ' ' || "products"."description")"#;

/// Escapes LIKE wildcards so a term matches literally.
fn like_literal(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for ch in term.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

/// A condition that holds when every term occurs in the name or description,
/// ignoring case: `LIKE lower(term)` against the lower-cased document on
/// PostgreSQL (served by the trigram index), `LIKE` on SQLite
/// (case-insensitive for ASCII). Written as custom SQL because sea-query
/// wraps `pattern ESCAPE ...` in parentheses, which PostgreSQL refuses.
pub fn matches_all_terms<'a>(backend: DbBackend, terms: impl Iterator<Item = &'a str>) -> Condition {
    // Custom SQL uses the backend's own placeholder syntax.
    let (document, pattern) = match backend {
        DbBackend::Postgres => (SEARCH_DOCUMENT_PG, "lower($1)"),
        _ => (SEARCH_DOCUMENT_SQLITE, "?"),
    };
    terms.fold(Condition::all(), |cond, term| {
        let sql = format!(r"{document} LIKE {pattern} ESCAPE '\'");
        cond.add(Expr::cust_with_values(sql, [like_literal(term)]))
    })
}
/// How many products (active or not) a category holds.
pub async fn count_in_category(db: &impl ConnectionTrait, category_id: i32) -> Result<u64, DbErr> {
    Entity::find().filter(Column::CategoryId.eq(category_id)).count(db).await
}

#[cfg(test)]
mod tests {
    use super::like_literal;

    #[test]
    fn wildcards_in_a_term_match_literally() {
        assert_eq!(like_literal("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
