//! Cache tags: what a cached entry depends on. A write changes the tags it
//! affects; every entry records the version of each of its tags when it was
//! filled, and is served only while all of them are unchanged. So a write's
//! invalidation costs one SET per tag, however many entries exist.

use std::fmt;

use rand::Rng;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// Every entry: `storefront cache clear`.
    All,
    /// Every product listing (grids, search, the API's lists, home's newest).
    Lists,
    /// The category list, per-category counts and category pages' headers.
    Categories,
    /// Category names and slugs as shown inside product pages.
    CategoryNames,
    /// One product, by id (the API's detail).
    Product(i32),
    /// One product, by slug (the HTML detail page).
    ProductSlug(String),
}

impl Tag {
    /// The tag's name, as stored in the outbox and sent in `Surrogate-Key`.
    pub fn name(&self) -> String {
        self.to_string()
    }

    /// The tag without its id: a bounded metric label.
    pub fn family(&self) -> &'static str {
        match self {
            Tag::All => "all",
            Tag::Lists => "lists",
            Tag::Categories => "categories",
            Tag::CategoryNames => "category-names",
            Tag::Product(_) => "product",
            Tag::ProductSlug(_) => "product-slug",
        }
    }

    pub fn parse(name: &str) -> Option<Tag> {
        Some(match name {
            "all" => Tag::All,
            "lists" => Tag::Lists,
            "categories" => Tag::Categories,
            "category-names" => Tag::CategoryNames,
            other => {
                if let Some(slug) = other.strip_prefix("product-slug-") {
                    Tag::ProductSlug(slug.to_owned())
                } else if let Some(id) = other.strip_prefix("product-") {
                    Tag::Product(id.parse().ok()?)
                } else {
                    return None;
                }
            }
        })
    }

    /// What a write to a product affects: the lists, the counts, the
    /// product's own entries, and its pages under both its old and new slug.
    pub fn for_product(id: i32, slugs: &[&str]) -> Vec<Tag> {
        let mut tags = vec![Tag::Lists, Tag::Categories, Tag::Product(id)];
        tags.extend(slugs.iter().map(|s| Tag::ProductSlug((*s).to_owned())));
        tags
    }

    /// What a write to a category affects: every place a category appears.
    pub fn for_category() -> Vec<Tag> {
        vec![Tag::Lists, Tag::Categories, Tag::CategoryNames]
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tag::All => f.write_str("all"),
            Tag::Lists => f.write_str("lists"),
            Tag::Categories => f.write_str("categories"),
            Tag::CategoryNames => f.write_str("category-names"),
            Tag::Product(id) => write!(f, "product-{id}"),
            Tag::ProductSlug(slug) => write!(f, "product-slug-{slug}"),
        }
    }
}

/// A tag version: random, so one lost to eviction or a restart never
/// comes back with an old entry's value.
pub(super) fn random_version() -> u64 {
    // Never 0, so a version always differs from "absent".
    rand::rng().random_range(1..=u64::MAX)
}

pub(super) fn parse_version(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for tag in [
            Tag::All,
            Tag::Lists,
            Tag::Categories,
            Tag::CategoryNames,
            Tag::Product(42),
            Tag::ProductSlug("slug-7".into()),
        ] {
            assert_eq!(Tag::parse(&tag.name()), Some(tag));
        }
        assert_eq!(Tag::parse("product-x"), None);
        assert_eq!(Tag::parse("nonsense"), None);
    }
}
