//! What a listing should return, computed in plain Rust from the fixture, to
//! check the database queries against.

use super::fixture::{Fixture, FixtureProduct};

#[derive(Clone, Debug, Default)]
pub struct Expect<'a> {
    pub search: Option<&'a str>,
    pub category_slug: Option<&'a str>,
    pub category_id: Option<i32>,
    pub min_cents: Option<i64>,
    pub max_cents: Option<i64>,
    pub in_stock: bool,
    /// API spelling: price, -price, name, -name, created_at, -created_at.
    pub ordering: &'a str,
}

impl Expect<'_> {
    pub fn matches(&self, p: &FixtureProduct) -> bool {
        let doc = format!("{} {}", p.name, p.description).to_lowercase();
        p.active
            && self.search.is_none_or(|q| q.split_whitespace().all(|t| doc.contains(&t.to_lowercase())))
            && self.category_slug.is_none_or(|s| p.category == s)
            && self.category_id.is_none_or(|id| p.category_id == id)
            && self.min_cents.is_none_or(|m| p.cents >= m)
            && self.max_cents.is_none_or(|m| p.cents <= m)
            && (!self.in_stock || p.stock > 0)
    }

    /// Ids in the expected order (ties broken by id, in the sort's direction).
    pub fn ids(&self, fixture: &Fixture) -> Vec<i32> {
        let mut rows: Vec<&FixtureProduct> = fixture.products.iter().filter(|p| self.matches(p)).collect();
        let ordering = if self.ordering.is_empty() { "-created_at" } else { self.ordering };
        let descending = ordering.starts_with('-');
        rows.sort_by(|a, b| {
            let by_key = match ordering.trim_start_matches('-') {
                "price" => a.cents.cmp(&b.cents),
                "name" => a.name.as_bytes().cmp(b.name.as_bytes()),
                "created_at" => a.created_at.cmp(&b.created_at),
                other => panic!("unknown ordering {other}"),
            };
            let ord = by_key.then(a.id.cmp(&b.id));
            if descending { ord.reverse() } else { ord }
        });
        rows.into_iter().map(|p| p.id).collect()
    }
}
