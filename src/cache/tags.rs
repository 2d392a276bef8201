//! Cache tags: what a cached entry depends on. A write changes the tags it
//! affects; every entry records the version of each of its tags when it was
//! filled, and is served only while all of them are unchanged. So a write's
//! invalidation costs one SET per tag, however many entries exist.

use std::fmt;

use rand::Rng;

use crate::domain::product::Availability;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// Every entry: `storefront cache clear`.
    All,
    /// Every product listing (grids, search, the API's lists, home's newest).
    Lists,
    /// The listings that may show any category's products: all products,
    /// searches and home's newest without a category.
    AnyCategoryLists,
    /// The listings of one category's products, by its id (the API's
    /// `category__id`).
    CategoryLists(i32),
    /// The listings of one category's products, by its slug (category pages
    /// and the HTML `category` filter).
    CategorySlugLists(String),
    /// The category list, per-category counts and category pages' headers.
    Categories,
    /// Category names and slugs as shown inside product pages.
    CategoryNames,
    /// One product, by id (the API's detail).
    Product(i32),
    /// One product, by slug (the HTML detail page).
    ProductSlug(String),
    /// One product's availability band as a listing card shows it (in
    /// stock, only N left, sold out): pinned by each listing that shows it.
    Band(i32),
    /// Listings filtered to products in stock: which products they hold.
    InStock,
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
            Tag::AnyCategoryLists => "lists-any-category",
            Tag::CategoryLists(_) => "lists-category",
            Tag::CategorySlugLists(_) => "lists-category-slug",
            Tag::Categories => "categories",
            Tag::CategoryNames => "category-names",
            Tag::Product(_) => "product",
            Tag::ProductSlug(_) => "product-slug",
            Tag::Band(_) => "band",
            Tag::InStock => "in-stock",
        }
    }

    pub fn parse(name: &str) -> Option<Tag> {
        Some(match name {
            "all" => Tag::All,
            "lists" => Tag::Lists,
            "lists-any-category" => Tag::AnyCategoryLists,
            "categories" => Tag::Categories,
            "category-names" => Tag::CategoryNames,
            "in-stock" => Tag::InStock,
            other => {
                if let Some(slug) = other.strip_prefix("product-slug-") {
                    Tag::ProductSlug(slug.to_owned())
                } else if let Some(id) = other.strip_prefix("product-") {
                    Tag::Product(id.parse().ok()?)
                } else if let Some(slug) = other.strip_prefix("lists-category-slug-") {
                    Tag::CategorySlugLists(slug.to_owned())
                } else if let Some(id) = other.strip_prefix("lists-category-") {
                    Tag::CategoryLists(id.parse().ok()?)
                } else if let Some(id) = other.strip_prefix("band-") {
                    Tag::Band(id.parse().ok()?)
                } else {
                    return None;
                }
            }
        })
    }

    /// What a write to a product affects: the counts, the product's own
    /// entries, its pages under both its old and new slug, and the listings
    /// that can show it: those of any category, and those of the categories
    /// it was or is in (`(id, slug)`). Other categories' listings never held
    /// it, so they stay. With no category known, every listing.
    pub fn for_product(id: i32, slugs: &[&str], categories: &[(i32, &str)]) -> Vec<Tag> {
        let mut tags = vec![Tag::Categories, Tag::Product(id)];
        tags.extend(slugs.iter().map(|s| Tag::ProductSlug((*s).to_owned())));
        if categories.is_empty() {
            tags.push(Tag::Lists);
        } else {
            tags.push(Tag::AnyCategoryLists);
            for (category, slug) in categories {
                tags.push(Tag::CategoryLists(*category));
                tags.push(Tag::CategorySlugLists((*slug).to_owned()));
            }
        }
        tags
    }

    /// What a change of stock alone affects (an order, a cancellation, an
    /// edit of nothing but the stock), by what each entry shows: the
    /// product's own entries (its page shows the count, the API shows
    /// `stock` wherever it lists the product); the listings that show its
    /// band, only when the band changes; the in-stock listings, only when it
    /// comes into or goes out of stock. Never the lists' order or counts.
    pub fn for_stock(id: i32, slug: &str, old: i32, new: i32) -> Vec<Tag> {
        let mut tags = vec![Tag::Product(id), Tag::ProductSlug(slug.to_owned())];
        if Availability::of(old) != Availability::of(new) {
            tags.push(Tag::Band(id));
        }
        if (old > 0) != (new > 0) {
            tags.push(Tag::InStock);
        }
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
            Tag::AnyCategoryLists => f.write_str("lists-any-category"),
            Tag::CategoryLists(id) => write!(f, "lists-category-{id}"),
            Tag::CategorySlugLists(slug) => write!(f, "lists-category-slug-{slug}"),
            Tag::Categories => f.write_str("categories"),
            Tag::CategoryNames => f.write_str("category-names"),
            Tag::Product(id) => write!(f, "product-{id}"),
            Tag::ProductSlug(slug) => write!(f, "product-slug-{slug}"),
            Tag::Band(id) => write!(f, "band-{id}"),
            Tag::InStock => f.write_str("in-stock"),
        }
    }
}

impl super::Cache {
    /// Whether orders retire every listing (CACHE_NAIVE_STOCK_INVALIDATION,
    /// the benchmark's point of comparison) instead of what they change.
    pub fn naive_stock_invalidation(&self) -> bool {
        self.inner.settings.naive_stock_invalidation
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
            Tag::AnyCategoryLists,
            Tag::CategoryLists(5),
            Tag::CategorySlugLists("desk-lamps".into()),
            Tag::Categories,
            Tag::CategoryNames,
            Tag::Product(42),
            Tag::ProductSlug("slug-7".into()),
            Tag::Band(3),
            Tag::InStock,
        ] {
            assert_eq!(Tag::parse(&tag.name()), Some(tag));
        }
        assert_eq!(Tag::parse("product-x"), None);
        assert_eq!(Tag::parse("lists-category-x"), None);
        assert_eq!(Tag::parse("nonsense"), None);
    }

    #[test]
    fn a_stock_change_retires_bands_and_in_stock_lists_only_when_they_change() {
        let own = vec![Tag::Product(1), Tag::ProductSlug("p".into())];
        assert_eq!(Tag::for_stock(1, "p", 63, 62), own, "63 -> 62 shows the same band");
        let low = Tag::for_stock(1, "p", 6, 5);
        assert_eq!(low, [own.clone(), vec![Tag::Band(1)]].concat(), "into 'only 5 left'");
        assert_eq!(Tag::for_stock(1, "p", 1, 0), [own.clone(), vec![Tag::Band(1), Tag::InStock]].concat());
        assert_eq!(Tag::for_stock(1, "p", 0, 10), [own, vec![Tag::Band(1), Tag::InStock]].concat(), "restocked");
        for tags in [Tag::for_stock(1, "p", 63, 62), Tag::for_stock(1, "p", 1, 0)] {
            assert!(!tags.contains(&Tag::Lists) && !tags.contains(&Tag::Categories), "{tags:?}");
        }
    }

    #[test]
    fn a_product_write_retires_only_the_listings_of_its_categories() {
        let tags = Tag::for_product(7, &["lamp"], &[(2, "lighting")]);
        for scoped in [Tag::AnyCategoryLists, Tag::CategoryLists(2), Tag::CategorySlugLists("lighting".into())] {
            assert!(tags.contains(&scoped), "{tags:?}");
        }
        assert!(!tags.contains(&Tag::Lists), "{tags:?}");
        let moved = Tag::for_product(7, &["lamp"], &[(2, "lighting"), (3, "desks")]);
        assert!(moved.contains(&Tag::CategoryLists(3)) && moved.contains(&Tag::CategorySlugLists("desks".into())));
        assert!(Tag::for_product(7, &["lamp"], &[]).contains(&Tag::Lists), "no category known: every listing");
    }
}
