//! Whole pages kept in this process by what they are made of.
//!
//! A page is its layout around cached fragments, and the layout shows only
//! the title, the search box and the visitor. So a page is a pure function
//! of its template, its fragments' ETags and those few values: their digest
//! ([`PageInputs`]) is the page's strong ETag, with no need to hash the
//! page, and, for a page shown to everyone, the key it is kept under here.
//! A fragment that changes has a new ETag, so its pages get new digests:
//! nothing here is ever stale, and nothing needs retiring. Old pages age
//! out of the bounded memory as the least used.

use std::hash::Hasher;

use bytes::Bytes;
use xxhash_rust::xxh3::Xxh3;

use super::keys::TEMPLATES_DIGEST;
use crate::encoding::Encodings;

/// The digest of a page's inputs, fed in order.
#[derive(Clone)]
pub struct PageInputs(Xxh3);

impl Default for PageInputs {
    fn default() -> Self {
        let mut h = Xxh3::new();
        // A deploy with other templates renders other bytes from the same
        // fragments.
        h.update(TEMPLATES_DIGEST.as_bytes());
        PageInputs(h)
    }
}

impl PageInputs {
    /// A fragment, by its ETag (fixed length, so no separator is needed).
    pub fn fragment(&mut self, etag: &str) {
        self.0.update(etag.as_bytes());
    }

    /// Anything else the page shows, fed as `Hash` writes it (strings end
    /// with a marker, so neighbours cannot run together).
    pub fn value(&mut self, value: &impl std::hash::Hash) {
        value.hash(&mut self.0);
    }

    pub fn digest(&self) -> PageDigest {
        let mut h = self.0.clone();
        h.write_u8(0xfe);
        PageDigest(h.digest128())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageDigest(u128);

impl PageDigest {
    /// The page's strong ETag.
    pub fn etag(self) -> String {
        format!("\"p{:032x}\"", self.0)
    }
}

/// A page kept whole: its bytes, and what its response says about them
/// that took work to write.
#[derive(Clone, Debug)]
pub struct KeptPage {
    pub body: Bytes,
    /// Its compressed forms, made when it was kept.
    pub encodings: Encodings,
    /// The names of its tags (its fragments' keys' and pins'), as the
    /// response's `Surrogate-Key` gives them; `None` when too many to name.
    pub tag_names: Option<Bytes>,
    /// The shortest TTL of its fragments.
    pub ttl: std::time::Duration,
}

#[derive(Clone)]
struct ByLength;

impl quick_cache::Weighter<PageDigest, KeptPage> for ByLength {
    fn weight(&self, _key: &PageDigest, page: &KeptPage) -> u64 {
        (page.body.len() + page.encodings.len() + page.tag_names.as_ref().map_or(0, Bytes::len)) as u64 + 64
    }
}

/// Rendered pages shown to everyone, by digest, up to a byte budget.
pub struct PageMemo {
    pages: quick_cache::sync::Cache<PageDigest, KeptPage, ByLength>,
}

impl PageMemo {
    pub fn new(max_bytes: u64) -> Self {
        PageMemo {
            pages: quick_cache::sync::Cache::with_weighter(
                (max_bytes / 8192).max(16) as usize,
                max_bytes.max(1),
                ByLength,
            ),
        }
    }

    pub fn get(&self, digest: PageDigest) -> Option<KeptPage> {
        self.pages.get(&digest)
    }

    pub fn insert(&self, digest: PageDigest, page: KeptPage) {
        self.pages.insert(digest, page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_depends_on_every_input_and_their_order() {
        let page = |parts: &[&str], title: &str| {
            let mut inputs = PageInputs::default();
            for p in parts {
                inputs.fragment(p);
            }
            inputs.value(&title);
            inputs.digest()
        };
        let base = page(&["\"a\"", "\"b\""], "Home");
        assert_eq!(base, page(&["\"a\"", "\"b\""], "Home"));
        assert_ne!(base, page(&["\"b\"", "\"a\""], "Home"));
        assert_ne!(base, page(&["\"a\"", "\"c\""], "Home"));
        assert_ne!(base, page(&["\"a\"", "\"b\""], "Hom"));
        // Values cannot run together: ("ab", "c") is not ("a", "bc").
        let two = |a: &str, b: &str| {
            let mut inputs = PageInputs::default();
            inputs.value(&a);
            inputs.value(&b);
            inputs.digest()
        };
        assert_ne!(two("ab", "c"), two("a", "bc"));
        assert!(base.etag().starts_with("\"p") && base.etag().len() == 35);
    }

    #[test]
    fn the_memo_keeps_pages_within_its_budget() {
        let memo = PageMemo::new(64 * 1024);
        let digest = |n: u8| {
            let mut inputs = PageInputs::default();
            inputs.value(&n);
            inputs.digest()
        };
        for n in 0..100u8 {
            let page = KeptPage {
                body: Bytes::from(vec![b'x'; 4096]),
                encodings: Encodings::default(),
                tag_names: None,
                ttl: Default::default(),
            };
            memo.insert(digest(n), page);
        }
        let kept = (0..100u8).filter(|&n| memo.get(digest(n)).is_some()).count();
        assert!(kept > 0 && kept <= 16, "{kept} pages of 4 KiB kept in 64 KiB");
    }
}
