//! Every Redis key the shop uses is built here: entries are
//! `PREFIX:VERSION:KIND:DISCRIMINATOR`, tags `PREFIX:{tags}:NAME`. On a
//! Redis Cluster entries spread over the slots by their whole key, while the
//! hash tag `{tags}` keeps every tag in one slot: one node answers all tag
//! reads of a lookup, takes a write's invalidation as one pipeline, and is
//! the one node the in-process layer's tracking connection must follow.
//! Discriminators are canonical forms (see `domain::listing`), so spellings
//! of one request share one entry, and junk parameters never reach a key;
//! a discriminator longer than 64 bytes, or not printable ASCII, is hashed,
//! so keys stay short and print safely.

use super::tags::Tag;
use crate::domain::{Dialect, ListingQuery, PageRequest};

/// The templates and views compiled into this binary (see build.rs).
pub const TEMPLATES_DIGEST: &str = env!("STOREFRONT_TEMPLATES_DIGEST");

/// The hash tag every tag key carries (see the module's comment).
const TAGS_HASH_TAG: &str = "{tags}";

/// Discriminators longer than this are replaced by their hash.
const MAX_RAW_DISCRIMINATOR: usize = 64;

/// Which configured TTL an entry gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlClass {
    Categories,
    ProductLists,
    ProductDetail,
}

/// One cacheable thing: its Redis key, the tags it depends on, its TTL class.
#[derive(Clone, Debug)]
pub struct EntryKey {
    pub key: String,
    /// Metric label: what kind of entry this is.
    pub kind: &'static str,
    pub tags: Vec<Tag>,
    pub ttl: TtlClass,
}

#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    version: String,
}

fn bounded(raw: &str) -> String {
    if raw.is_empty() {
        "-".to_owned()
    } else if raw.len() <= MAX_RAW_DISCRIMINATOR && raw.bytes().all(|b| b.is_ascii_graphic()) {
        raw.to_owned()
    } else {
        format!("h{:032x}", xxhash_rust::xxh3::xxh3_128(raw.as_bytes()))
    }
}

impl Keys {
    /// `cache_version` is the operator's CACHE_VERSION; the digest of the
    /// templates and views is added to it.
    pub fn new(prefix: &str, cache_version: &str) -> Self {
        Keys { prefix: prefix.to_owned(), version: format!("{cache_version}-{}", &TEMPLATES_DIGEST[..8]) }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn tag(&self, tag: &Tag) -> String {
        format!("{}{}", self.tag_prefix(), bounded(&tag.name()))
    }

    /// What every tag key starts with.
    pub fn tag_prefix(&self) -> String {
        format!("{}:{TAGS_HASH_TAG}:", self.prefix)
    }

    /// Whether `key` is one of this app's tag keys.
    pub fn is_tag(&self, key: &str) -> bool {
        key.starts_with(&self.tag_prefix())
    }

    /// The tag a tag key names; `None` for another key, or a name too long
    /// to have been kept readable.
    pub fn tag_of(&self, key: &str) -> Option<Tag> {
        key.strip_prefix(self.tag_prefix().as_str()).and_then(Tag::parse)
    }

    /// This namespace's outbox cursor: in the tags' slot (the hash tag is
    /// the key's first `{...}`), but outside their prefix, so tracking does
    /// not push it.
    pub fn outbox_cursor(&self) -> String {
        format!("{}:outbox:{TAGS_HASH_TAG}", self.prefix)
    }

    /// The hash of shared hit/miss counts.
    pub fn stats(&self) -> String {
        format!("{}:stats", self.prefix)
    }

    /// Matches this app's keys of every version (for `cache stats`).
    pub fn pattern(&self) -> String {
        format!("{}:*", self.prefix)
    }

    fn entry(&self, kind: &'static str, discriminator: &str, mut tags: Vec<Tag>, ttl: TtlClass) -> EntryKey {
        tags.insert(0, Tag::All);
        EntryKey { key: format!("{}:{}:{kind}:{}", self.prefix, self.version, bounded(discriminator)), kind, tags, ttl }
    }

    /// What a listing's membership depends on: the lists, the writes to
    /// products of its category (or of any, when it has none), and whether
    /// its products are in stock when it shows only those. Which products
    /// it holds are pinned by the fill (see `Cache::pin`).
    fn listing_tags(q: &ListingQuery) -> Vec<Tag> {
        // A listing filtered by both id and slug holds products of that one
        // category, so either tag is retired by every write that reaches it.
        let scope = match (q.filter.category_id, &q.filter.category_slug) {
            (Some(id), _) => Tag::CategoryLists(id),
            (None, Some(slug)) => Tag::CategorySlugLists(slug.to_string()),
            (None, None) => Tag::AnyCategoryLists,
        };
        let mut tags = vec![Tag::Lists, scope];
        if q.filter.in_stock {
            tags.push(Tag::InStock);
        }
        tags
    }

    pub fn api_product_list(&self, q: &ListingQuery) -> EntryKey {
        self.entry("api-products", &q.canonical_query(Dialect::Api), Self::listing_tags(q), TtlClass::ProductLists)
    }

    pub fn api_product(&self, id: i32) -> EntryKey {
        self.entry("api-product", &id.to_string(), vec![Tag::Product(id), Tag::CategoryNames], TtlClass::ProductDetail)
    }

    /// A product's gallery: its images are the product's, under its tag.
    pub fn api_product_images(&self, id: i32) -> EntryKey {
        self.entry("api-product-images", &id.to_string(), vec![Tag::Product(id)], TtlClass::ProductDetail)
    }

    pub fn api_category_list(&self, page: PageRequest) -> EntryKey {
        let q = ListingQuery { page, ..ListingQuery::default() };
        self.entry("api-categories", &q.canonical_query(Dialect::Api), vec![Tag::Categories], TtlClass::Categories)
    }

    pub fn api_category(&self, id: i32) -> EntryKey {
        self.entry("api-category", &id.to_string(), vec![Tag::Categories], TtlClass::Categories)
    }

    pub fn category_list(&self) -> EntryKey {
        self.entry("html-category-list", "", vec![Tag::Categories], TtlClass::Categories)
    }

    pub fn newest_products(&self) -> EntryKey {
        self.entry("html-newest", "", vec![Tag::Lists, Tag::AnyCategoryLists], TtlClass::ProductLists)
    }

    /// The home page's featured products: one per category, in the
    /// categories' order.
    pub fn featured_products(&self) -> EntryKey {
        self.entry(
            "html-featured",
            "",
            vec![Tag::Lists, Tag::AnyCategoryLists, Tag::Categories],
            TtlClass::ProductLists,
        )
    }

    pub fn product_listing(&self, q: &ListingQuery) -> EntryKey {
        self.entry("html-products", &q.canonical_query(Dialect::Html), Self::listing_tags(q), TtlClass::ProductLists)
    }

    /// The facets of `/products` for a listing: its counts for every page
    /// of it (the page is not in the key; the order is, for the links).
    /// Under its listing's tags, widened by what the counts see beyond the
    /// listing: every category's products (the category counts ignore the
    /// category chosen) and their stock (the in-stock count).
    pub fn product_facets(&self, q: &ListingQuery) -> EntryKey {
        let mut tags = Self::listing_tags(q);
        for tag in &mut tags {
            if matches!(tag, Tag::CategoryLists(_) | Tag::CategorySlugLists(_)) {
                *tag = Tag::AnyCategoryLists;
            }
        }
        if !tags.contains(&Tag::InStock) {
            tags.push(Tag::InStock);
        }
        let discriminator = q.with_page(1).canonical_query(Dialect::Html);
        self.entry("html-facets", &discriminator, tags, TtlClass::ProductLists)
    }

    /// A category's page: header, filters and grid. Its count and name come
    /// from `Categories`, its products from `Lists`.
    pub fn category_listing(&self, slug: &str, q: &ListingQuery) -> EntryKey {
        let discriminator = format!("{slug}?{}", q.canonical_query(Dialect::Html));
        let mut tags = Self::listing_tags(q);
        // The path names the category, whatever the query says.
        if let Some(scope) = tags.iter_mut().find(|t| matches!(t, Tag::AnyCategoryLists)) {
            *scope = Tag::CategorySlugLists(slug.to_owned());
        }
        tags.push(Tag::Categories);
        self.entry("html-category", &discriminator, tags, TtlClass::ProductLists)
    }

    pub fn product_page(&self, slug: &str) -> EntryKey {
        self.entry(
            "html-product",
            slug,
            vec![Tag::ProductSlug(slug.to_owned()), Tag::CategoryNames],
            TtlClass::ProductDetail,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::QueryPairs;

    fn api(raw: &str) -> ListingQuery {
        ListingQuery::parse(Dialect::Api, &QueryPairs::parse(Some(raw))).unwrap()
    }

    #[test]
    fn tag_keys_read_back_as_their_tags() {
        let keys = Keys::new("shop", "1");
        for tag in [Tag::All, Tag::Product(7), Tag::ProductSlug("oak-desk".into())] {
            assert_eq!(keys.tag_of(&keys.tag(&tag)), Some(tag));
        }
        assert_eq!(keys.tag_of("other:{tags}:all"), None);
        assert_eq!(keys.tag_of(&keys.tag(&Tag::ProductSlug("x".repeat(500)))), None);
    }

    #[test]
    fn listings_are_tagged_with_their_category_or_with_any() {
        let keys = Keys::new("shop", "1");
        let html = |raw| ListingQuery::parse(Dialect::Html, &QueryPairs::parse(Some(raw))).unwrap();
        assert!(keys.api_product_list(&api("category__id=4")).tags.contains(&Tag::CategoryLists(4)));
        assert!(keys.api_product_list(&api("search=lamp")).tags.contains(&Tag::AnyCategoryLists));
        let by_slug = keys.product_listing(&html("category=desks")).tags;
        assert!(by_slug.contains(&Tag::CategorySlugLists("desks".into())), "{by_slug:?}");
        let page = keys.category_listing("desks", &html("page=2")).tags;
        assert!(page.contains(&Tag::CategorySlugLists("desks".into())), "{page:?}");
        assert!(!page.contains(&Tag::AnyCategoryLists), "{page:?}");
        assert!(keys.newest_products().tags.contains(&Tag::AnyCategoryLists));
    }

    #[test]
    fn facets_share_one_entry_over_pages_and_see_every_category_and_stock() {
        let keys = Keys::new("shop", "1");
        let html = |raw| ListingQuery::parse(Dialect::Html, &QueryPairs::parse(Some(raw))).unwrap();
        let first = keys.product_facets(&html("q=lamps&category=lighting"));
        assert_eq!(first.key, keys.product_facets(&html("q=lamps&category=lighting&page=3")).key);
        assert_ne!(first.key, keys.product_facets(&html("q=lamps")).key);
        for tag in [Tag::Lists, Tag::AnyCategoryLists, Tag::InStock] {
            assert!(first.tags.contains(&tag), "{:?}", first.tags);
        }
        assert!(!first.tags.contains(&Tag::CategorySlugLists("lighting".into())), "{:?}", first.tags);
    }

    #[test]
    fn spellings_of_one_query_share_one_key() {
        let keys = Keys::new("shop", "1");
        let a = keys.api_product_list(&api("page=1&ordering=price")).key;
        let b = keys.api_product_list(&api("ordering=price")).key;
        let c = keys.api_product_list(&api("ordering=price&utm_source=x")).key;
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!(a.starts_with(&format!("shop:1-{}:api-products:", &TEMPLATES_DIGEST[..8])), "{a}");
    }

    #[test]
    fn long_or_odd_inputs_are_hashed_not_stored() {
        let keys = Keys::new("shop", "1");
        let long = "x".repeat(150);
        let key = keys.api_product_list(&api(&format!("search={long}"))).key;
        assert!(!key.contains(&long));
        assert!(key.len() < 100, "{key}");
        let spaced = keys.product_page("a b").key;
        assert!(!spaced.contains(' '), "{spaced}");
    }

    #[test]
    fn the_version_separates_deploys() {
        let a = Keys::new("shop", "1").category_list().key;
        let b = Keys::new("shop", "2").category_list().key;
        assert_ne!(a, b);
        assert_eq!(Keys::new("shop", "1").tag(&Tag::Lists), "shop:{tags}:lists");
    }
}
