//! Pinned tags: what an entry depends on that is known only while it is
//! filled (the products a listing happens to show), with the versions they
//! had when the fill pinned them.
//!
//! An entry's static tags come with its key, and their versions are read
//! before the fill. Pinned tags cannot be: the fill learns them from the
//! database. So the fill pins them first ([`Cache::pin`]) and only then
//! reads the data they guard; the entry records the pinned versions, and is
//! served only while each is still current. A write to a pinned product
//! after the pin changes that version, so a fill that raced it is stored
//! under the old one and never served, as with static tags.
//!
//! When the versions cannot be read (Redis failing, the breaker open, the
//! cache disabled), the `Pinned` is incomplete: the fill's body is served to
//! the request that filled it and never stored.

use std::sync::Arc;

use super::Cache;
use super::tags::Tag;

/// Entries may pin at most this many tags (the count is stored in two
/// bytes); a fill that pins more is not stored.
pub(super) const MAX_PINNED: usize = u16::MAX as usize;

/// Tags pinned during a fill, with their versions at the time.
/// `Pinned::default()` pins nothing and is complete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pinned {
    /// Sorted and without duplicates, so two fills of the same data record
    /// the same bytes.
    tags: Vec<Tag>,
    /// One per tag when complete; empty when not.
    versions: Vec<u64>,
    incomplete: bool,
}

impl Pinned {
    /// `tags` with their versions (same order, same length).
    pub(super) fn new(tags: Vec<Tag>, versions: Vec<u64>) -> Self {
        debug_assert_eq!(tags.len(), versions.len());
        let incomplete = tags.len() > MAX_PINNED;
        let versions = if incomplete { Vec::new() } else { versions };
        Pinned { tags, versions, incomplete }
    }

    /// `tags` whose versions could not be read: never stored.
    pub(super) fn incomplete(tags: Vec<Tag>) -> Self {
        Pinned { tags, versions: Vec::new(), incomplete: true }
    }

    /// The pinned tags, also named in `Surrogate-Key`.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The versions pinned, one per tag; empty when incomplete.
    pub(super) fn versions(&self) -> &[u64] {
        &self.versions
    }

    /// Whether every pinned tag's version is known, so the entry may be
    /// stored.
    pub fn is_complete(&self) -> bool {
        !self.incomplete
    }

    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }

    /// The tags as [`Cached::pinned`](super::Cached) carries them: `None`
    /// for none.
    pub(super) fn into_tags(self) -> Option<Arc<[Tag]>> {
        (!self.tags.is_empty()).then(|| Arc::from(self.tags))
    }
}

impl Cache {
    /// Pins `tags` for the entry being filled: reads their current versions
    /// (creating the ones that have none yet), to be recorded with it.
    ///
    /// **Read the data these tags guard only after `pin` returns** (list the
    /// ids, pin their tags, then read the rows): a write that lands before
    /// the read then has a version newer than the pinned one, and the entry
    /// is never served. Data read before the pin could be older than the
    /// version recorded with it, and be served until the next write.
    ///
    /// Never fails: when the versions cannot be read the result is marked
    /// incomplete, and the entry is served to this request but not stored.
    #[tracing::instrument(name = "cache.pin", level = "debug", skip_all, fields(tags = tags.len()))]
    pub async fn pin(&self, mut tags: Vec<Tag>) -> Pinned {
        tags.sort_unstable();
        tags.dedup();
        if tags.is_empty() {
            return Pinned::default();
        }
        if tags.len() > MAX_PINNED {
            return Pinned::incomplete(tags);
        }
        if let Some(memory) = &self.inner.memory {
            let versions = memory.current_versions(&tags);
            return Pinned::new(tags, versions);
        }
        if !self.healthy() {
            return Pinned::incomplete(tags);
        }
        match self.tag_versions(&tags).await {
            Ok(versions) => Pinned::new(tags, versions),
            Err(_) => Pinned::incomplete(tags),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_pinned_is_complete_and_carries_no_list() {
        let none = Pinned::default();
        assert!(none.is_complete() && none.is_empty());
        assert_eq!(none.into_tags(), None);
        let unread = Pinned::incomplete(vec![Tag::Product(1)]);
        assert!(!unread.is_complete());
        assert_eq!(unread.into_tags().as_deref(), Some([Tag::Product(1)].as_slice()));
    }
}
