//! Fuzzes listing query parsing and the cache keys built from it: any bytes a
//! client can put in a query string, in both dialects.

#![no_main]

use libfuzzer_sys::fuzz_target;
use storefront::cache::{EntryKey, Keys};
use storefront::domain::{Dialect, ListingQuery, Money, QueryPairs, SearchQuery, Slug};

const PREFIX: &str = "shop";
/// keys.rs hashes longer discriminators (its private `MAX_RAW_DISCRIMINATOR`).
const MAX_RAW_DISCRIMINATOR: usize = 64;
/// A hashed discriminator: `h` and 32 hex digits.
const HASHED_LEN: usize = 33;

/// Every parameter either dialect reads, and one that both must ignore.
const PARAMS: [&str; 13] = [
    "q",
    "search",
    "sort",
    "ordering",
    "page",
    "per_page",
    "page_size",
    "category",
    "category__id",
    "min_price",
    "max_price",
    "in_stock",
    "utm_source",
];

fuzz_target!(|data: &[u8]| {
    let keys = Keys::new(PREFIX, "1");
    let raw = String::from_utf8_lossy(data);
    check_query(&keys, &raw);
    check_query(&keys, &structured(data));
    check_values(&keys, &raw);
});

/// Reads `data` as `&`-separated chunks: the first byte picks a parameter name,
/// the rest is its value, percent-encoded. The fuzzer reaches every parser
/// without guessing names, and any bytes (invalid UTF-8 included) reach the
/// form_urlencoded decoder.
fn structured(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.split(|&b| b == b'&') {
        let Some((&pick, value)) = chunk.split_first() else { continue };
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(PARAMS[usize::from(pick) % PARAMS.len()]);
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(value));
    }
    out
}

fn check_query(keys: &Keys, raw: &str) {
    // Parsing never panics (checked by running at all): a panic is a 500 for
    // a request anyone can send.
    let pairs = QueryPairs::parse(Some(raw));
    for dialect in [Dialect::Html, Dialect::Api] {
        let Ok(query) = ListingQuery::parse(dialect, &pairs) else { continue };
        // Normalization is idempotent: pagination links carry the canonical
        // form, so it must be accepted and mean the same listing; and a
        // canonical form that moved on reparse would give two spellings of one
        // page two cache entries, filled twice.
        let canonical = query.canonical_query(dialect);
        let again = ListingQuery::parse(dialect, &QueryPairs::parse(Some(&canonical)))
            .unwrap_or_else(|e| panic!("{dialect:?}: canonical {canonical:?} of {raw:?} is refused: {e:?}"));
        assert_eq!(again, query, "{dialect:?}: canonical {canonical:?} of {raw:?} is another listing");
        assert_eq!(again.canonical_query(dialect), canonical, "{dialect:?}: canonical form of {raw:?} moves");

        let entries = match dialect {
            Dialect::Html => {
                let slug = query.filter.category_slug.clone().unwrap_or_else(|| Slug::parse("desks").unwrap());
                let slug = slug.as_str();
                vec![
                    (keys.product_listing(&query), keys.product_listing(&again), canonical.clone()),
                    (
                        keys.category_listing(slug, &query),
                        keys.category_listing(slug, &again),
                        format!("{slug}?{canonical}"),
                    ),
                ]
            }
            Dialect::Api => vec![(keys.api_product_list(&query), keys.api_product_list(&again), canonical.clone())],
        };
        for (entry, reparsed, discriminator) in entries {
            assert_eq!(entry.key, reparsed.key, "{dialect:?}: key of {raw:?} moves on reparse");
            check_key(keys, &entry, &discriminator);
        }
    }
}

/// The value types behind the canonical form round-trip through `Display`,
/// which is how `canonical_pairs` writes them.
fn check_values(keys: &Keys, raw: &str) {
    if let Ok(slug) = Slug::parse(raw) {
        assert_eq!(Slug::parse(&slug.to_string()).as_ref(), Ok(&slug), "slug {raw:?}");
    }
    if let Ok(money) = Money::parse(raw) {
        assert_eq!(Money::parse(&money.to_string()), Ok(money), "money {raw:?}");
    }
    if let Ok(Some(search)) = SearchQuery::parse(raw) {
        assert_eq!(SearchQuery::parse(search.as_str()), Ok(Some(search.clone())), "search {raw:?}");
    }
    // `product_page` takes any &str, so its key is bounded whatever it gets.
    check_key(keys, &keys.product_page(raw), raw);
}

/// An entry key is `{prefix}:{version}:{kind}:` and a bounded form of its
/// discriminator; its tag keys likewise. See `check_bounded`.
fn check_key(keys: &Keys, entry: &EntryKey, discriminator: &str) {
    let head = format!("{PREFIX}:{}:{}:", keys.version(), entry.kind);
    let Some(tail) = entry.key.strip_prefix(&head) else { panic!("{:?} does not start with {head:?}", entry.key) };
    check_bounded(tail, discriminator);
    let tag_prefix = keys.tag_prefix();
    for tag in &entry.tags {
        let key = keys.tag(tag);
        let Some(tail) = key.strip_prefix(&tag_prefix) else { panic!("{key:?} does not start with {tag_prefix:?}") };
        check_bounded(tail, &tag.name());
    }
}

/// Keys come from client input: an unbounded one is a memory attack on Redis,
/// and whitespace or control bytes in one would reach logs and `cache stats`
/// output raw. A key part spells its input only when it is the input (so two
/// listings never share a key); otherwise it is `-` (empty) or a hash.
fn check_bounded(tail: &str, raw: &str) {
    assert!(tail.len() <= MAX_RAW_DISCRIMINATOR, "{tail:?} (from {raw:?}) is too long");
    assert!(tail.bytes().all(|b| b.is_ascii_graphic()), "{tail:?} (from {raw:?}) is not printable ASCII");
    let hashed = tail.len() == HASHED_LEN
        && tail.starts_with('h')
        && tail[1..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    assert!(tail == raw || (raw.is_empty() && tail == "-") || hashed, "{tail:?} neither spells nor hashes {raw:?}");
}
