//! Product behaviour: timestamps, the cache tags a change affects, and the
//! search expression.

use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Condition;
use sea_orm::{ActiveValue, DbBackend, QuerySelect, TransactionTrait};

use crate::cache::{Tag, outbox};
use crate::domain::search::search_document;
use crate::models::category_entity;

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
        if insert {
            if let (ActiveValue::Set(name), ActiveValue::Set(description)) = (&self.name, &self.description) {
                self.search_document = ActiveValue::Set(Some(search_document(name, description)));
            }
            return Ok(self);
        }
        // An update records what it changes here, while the old row can be
        // read: what an entry shows decides whether it is retired.
        if let Some(id) = self.id.try_as_ref()
            && let Some(old) = Entity::find_by_id(*id).one(db).await?
        {
            if changes(&self.name, &old.name) || changes(&self.description, &old.description) {
                let name = current(&self.name).unwrap_or(&old.name);
                let description = current(&self.description).unwrap_or(&old.description);
                self.search_document = ActiveValue::Set(Some(search_document(name, description)));
            }
            let tags = self.tags_changed_from(db, &old).await?;
            outbox::record(db, &tags).await?;
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
            let scopes = list_scopes(db, &[model.category_id]).await?;
            outbox::record(db, &for_product(model.id, &[&model.slug], &scopes)).await?;
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
            let scopes = list_scopes(db, &[old.category_id]).await?;
            outbox::record(db, &for_product(old.id, &[&old.slug], &scopes)).await?;
        }
        Ok(self)
    }
}

/// The categories `ids` as list scopes, `(id, slug)`; empty when one is
/// not found, so the write retires every listing.
async fn list_scopes<C: ConnectionTrait>(db: &C, ids: &[i32]) -> Result<Vec<(i32, String)>, DbErr> {
    let found: Vec<(i32, String)> = category_entity::Entity::find()
        .filter(category_entity::Column::Id.is_in(ids.iter().copied()))
        .select_only()
        .column(category_entity::Column::Id)
        .column(category_entity::Column::Slug)
        .into_tuple()
        .all(db)
        .await?;
    let mut wanted = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    Ok(if found.len() == wanted.len() { found } else { Vec::new() })
}

fn for_product(id: i32, slugs: &[&str], scopes: &[(i32, String)]) -> Vec<Tag> {
    let scopes: Vec<(i32, &str)> = scopes.iter().map(|(id, slug)| (*id, slug.as_str())).collect();
    Tag::for_product(id, slugs, &scopes)
}

/// Records what a change to what product `id` shows (its images) affects:
/// the same entries as a write to the product itself. Nothing when the
/// product is gone (its delete recorded them).
pub async fn record_shown_change<C: ConnectionTrait>(db: &C, id: i32) -> Result<(), DbErr> {
    if let Some(p) = Entity::find_by_id(id).one(db).await? {
        let scopes = list_scopes(db, &[p.category_id]).await?;
        outbox::record(db, &for_product(p.id, &[&p.slug], &scopes)).await?;
    }
    Ok(())
}

/// The value an active field holds, if any.
fn current<T: Into<sea_orm::Value>>(value: &ActiveValue<T>) -> Option<&T> {
    match value {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => Some(v),
        ActiveValue::NotSet => None,
    }
}

/// Fills every empty search document (after the migration that made the
/// application fold them), a batch at a time; returns how many it filled.
#[tracing::instrument(name = "products.fill_search_documents", skip_all)]
pub async fn fill_search_documents(db: &DatabaseConnection) -> Result<u64, DbErr> {
    const BATCH: u64 = 500;
    let mut filled = 0;
    loop {
        let rows: Vec<(i32, String, String)> = Entity::find()
            .filter(Column::SearchDocument.is_null())
            .select_only()
            .columns([Column::Id, Column::Name, Column::Description])
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let txn = db.begin().await?;
        for (id, name, description) in &rows {
            // Not through the model: a fill changes nothing any entry shows.
            Entity::update_many()
                .col_expr(Column::SearchDocument, Expr::value(search_document(name, description)))
                .filter(Column::Id.eq(*id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        filled += rows.len() as u64;
    }
}

/// Whether `value` sets something other than `old`.
fn changes<T: PartialEq + Into<sea_orm::Value>>(value: &ActiveValue<T>, old: &T) -> bool {
    matches!(value, ActiveValue::Set(v) if v != old)
}

impl ActiveModel {
    /// The tags an update from `old` to this affects. A change of stock
    /// alone is retired by projection ([`Tag::for_stock`]); any other
    /// change reorders or refilters the listings that can show the product
    /// (those of any category and of its old and new one), and the category
    /// counts only when it moves the product in or out of one.
    async fn tags_changed_from<C: ConnectionTrait>(&self, db: &C, old: &Model) -> Result<Vec<Tag>, DbErr> {
        let counts = changes(&self.is_active, &old.is_active) || changes(&self.category_id, &old.category_id);
        let listed = counts
            || changes(&self.name, &old.name)
            || changes(&self.slug, &old.slug)
            || changes(&self.description, &old.description)
            || changes(&self.price_cents, &old.price_cents)
            || changes(&self.created_at, &old.created_at);
        let new_stock = current(&self.stock).copied().unwrap_or(old.stock);
        if !listed {
            return Ok(Tag::for_stock(old.id, &old.slug, old.stock, new_stock));
        }
        let new_slug = current(&self.slug).unwrap_or(&old.slug).as_str();
        // Under its old slug and its new one: the page under the old goes.
        let slugs: &[&str] = if new_slug == old.slug { &[new_slug] } else { &[&old.slug, new_slug] };
        let new_category = current(&self.category_id).copied().unwrap_or(old.category_id);
        let scopes = list_scopes(db, &[old.category_id, new_category]).await?;
        let mut tags = for_product(old.id, slugs, &scopes);
        if !counts {
            tags.retain(|t| *t != Tag::Categories);
        }
        Ok(tags)
    }
}

/// The text a search term is matched against: the stored, folded
/// `search_document`, under the `idx_products_search_trgm` trigram index on
/// PostgreSQL. Table-qualified because listings join `categories`.
const SEARCH_DOCUMENT: &str = r#""products"."search_document""#;

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

/// A condition that holds when every (folded) term occurs in the folded
/// name or description: `LIKE` on both databases, both sides folded by the
/// application, so SQLite's ASCII-only case rule never comes into play.
/// Written as custom SQL because sea-query wraps `pattern ESCAPE ...` in
/// parentheses, which PostgreSQL refuses.
pub fn matches_all_terms<'a>(backend: DbBackend, terms: impl Iterator<Item = &'a str>) -> Condition {
    // Custom SQL uses the backend's own placeholder syntax.
    let placeholder = if backend == DbBackend::Postgres { "$1" } else { "?" };
    terms.fold(Condition::all(), |cond, term| {
        let sql = format!(r"{SEARCH_DOCUMENT} LIKE {placeholder} ESCAPE '\'");
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
