//! The bytes of a cached entry: the versions of its key's tags, its pinned
//! tags with their versions (see [`pin`](super::pin)), its ETag, an
//! optional page title, then the body, ready to send.
//!
//! Also what a lookup hands back: the body with its ETag and how it was
//! served ([`CacheStatus`]).
//!
//! ```text
//! [1: format] [1: n] [n × 8: tag versions, LE]
//! [2: p] p × ([8: version, LE] [2: name len] [tag name])
//! [16: etag hash] [2: title len] [title] [4: body len, LE] [body]
//! [4: gzip len, LE] [gzip] [4: brotli len, LE] [brotli]
//! ```
//!
//! The compressed forms are made once, by the fill (for the API's bodies,
//! which are sent as they are; a page's fragments are not), so a hit does
//! no compression work.
//!
//! The static tags are not named (the key names them); pinned ones must be,
//! since only the fill knew them. Bytes that cannot be read back (another
//! format, a name that is no tag, cut short anywhere, body included) are a
//! miss.

use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::pin::Pinned;
use super::tags::Tag;
use crate::encoding::Encodings;

/// Format 2 added pinned tags, 3 the compressed forms.
const FORMAT: u8 = 3;
/// Written in place of [`FORMAT`] for an entry that must not be served
/// (see [`Entry::encode`]): decoded as a miss.
const UNSERVABLE: u8 = 0;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub versions: Vec<u64>,
    pub pinned: Pinned,
    pub etag_hash: u128,
    pub title: String,
    pub body: Bytes,
    pub encodings: Encodings,
}

impl Entry {
    pub fn new(versions: Vec<u64>, pinned: Pinned, title: String, body: Bytes) -> Self {
        let etag_hash = xxhash_rust::xxh3::xxh3_128(&body);
        Entry { versions, pinned, etag_hash, title, body, encodings: Encodings::default() }
    }

    /// The entry a fill made, with the compressed forms `encodings` made
    /// of its body.
    pub fn filled(versions: Vec<u64>, filled: Filled, encodings: Encodings) -> Self {
        Entry { encodings, ..Entry::new(versions, filled.pinned, filled.title, filled.body) }
    }

    /// A strong ETag: the hash of the body.
    pub fn etag(&self) -> String {
        format!("\"{:032x}\"", self.etag_hash)
    }

    /// The stored bytes. An entry whose pins are incomplete, or with a
    /// pinned name too long for its length field, is written so that it
    /// never decodes: the fill path does not store such entries, and this
    /// keeps a mistake there from serving one without its pins.
    pub fn encode(&self) -> Vec<u8> {
        let title = self.title.as_bytes();
        let title_len = title.len().min(u16::MAX as usize);
        let pinned = self.pinned.tags().len();
        // A pinned tag is its version, a length and a short name
        // ("product-123"): 26 bytes each leaves room for the usual ones.
        let capacity =
            4 + self.versions.len() * 8 + pinned * 26 + 30 + title_len + self.body.len() + self.encodings.len();
        let mut out = Vec::with_capacity(capacity);
        out.push(FORMAT);
        out.push(u8::try_from(self.versions.len()).expect("entries have few tags"));
        for v in &self.versions {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut servable = self.pinned.is_complete() && self.pinned.versions().len() == pinned;
        out.extend_from_slice(&(pinned.min(u16::MAX as usize) as u16).to_le_bytes());
        for (tag, v) in self.pinned.tags().iter().zip(self.pinned.versions()) {
            out.extend_from_slice(&v.to_le_bytes());
            // The name is written in place, after a length filled in once
            // it is known: no string per tag.
            let at = out.len();
            out.extend_from_slice(&[0, 0]);
            let _ = write!(VecWriter(&mut out), "{tag}");
            let len = out.len() - at - 2;
            servable &= len <= u16::MAX as usize;
            out[at..at + 2].copy_from_slice(&(len.min(u16::MAX as usize) as u16).to_le_bytes());
        }
        if !servable {
            out[0] = UNSERVABLE;
        }
        out.extend_from_slice(&self.etag_hash.to_le_bytes());
        out.extend_from_slice(&(title_len as u16).to_le_bytes());
        out.extend_from_slice(&title[..title_len]);
        match u32::try_from(self.body.len()) {
            Ok(len) => out.extend_from_slice(&len.to_le_bytes()),
            Err(_) => {
                out[0] = UNSERVABLE;
                out.extend_from_slice(&[0; 4]);
            }
        }
        out.extend_from_slice(&self.body);
        for form in [&self.encodings.gzip, &self.encodings.br] {
            let form = form.as_deref().unwrap_or_default();
            match u32::try_from(form.len()) {
                Ok(len) => out.extend_from_slice(&len.to_le_bytes()),
                Err(_) => {
                    out[0] = UNSERVABLE;
                    out.extend_from_slice(&[0; 4]);
                }
            }
            out.extend_from_slice(form);
        }
        out
    }

    /// `None` for bytes in another format (an older deploy) or not whole: a
    /// miss. Allocates only the version lists (nothing for an entry that
    /// pins nothing) and the title.
    pub fn decode(raw: Bytes) -> Option<Entry> {
        let (&format, rest) = raw.split_first()?;
        if format != FORMAT {
            return None;
        }
        let (&n, mut rest) = rest.split_first()?;
        let mut versions = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let (v, r) = rest.split_first_chunk::<8>()?;
            versions.push(u64::from_le_bytes(*v));
            rest = r;
        }
        let (p, mut rest) = rest.split_first_chunk::<2>()?;
        let p = u16::from_le_bytes(*p) as usize;
        // Nothing is allocated for an entry that pins nothing; for one that
        // does, at most what the bytes present can hold (10 bytes a tag).
        let mut tags = Vec::with_capacity(p.min(rest.len() / 10));
        let mut pinned_versions = Vec::with_capacity(tags.capacity());
        for _ in 0..p {
            let (v, r) = rest.split_first_chunk::<8>()?;
            let (len, r) = r.split_first_chunk::<2>()?;
            let len = u16::from_le_bytes(*len) as usize;
            if r.len() < len {
                return None;
            }
            tags.push(Tag::parse(std::str::from_utf8(&r[..len]).ok()?)?);
            pinned_versions.push(u64::from_le_bytes(*v));
            rest = &r[len..];
        }
        let (etag, rest) = rest.split_first_chunk::<16>()?;
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = u16::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        let (title, rest) = rest.split_at(len);
        let title = std::str::from_utf8(title).ok()?.to_owned();
        // Each part's bytes, in place; one cut short is not a shorter body.
        let mut rest = rest;
        let mut part = || {
            let (len, r) = rest.split_first_chunk::<4>()?;
            let len = u32::from_le_bytes(*len) as usize;
            if r.len() < len {
                return None;
            }
            let start = raw.len() - r.len();
            rest = &r[len..];
            Some(raw.slice(start..start + len))
        };
        let (body, gzip, br) = (part()?, part()?, part()?);
        if !rest.is_empty() || gzip.is_empty() != br.is_empty() {
            return None;
        }
        let encodings =
            if gzip.is_empty() { Encodings::default() } else { Encodings { gzip: Some(gzip), br: Some(br) } };
        Some(Entry {
            versions,
            pinned: Pinned::new(tags, pinned_versions),
            etag_hash: u128::from_le_bytes(*etag),
            title,
            body,
            encodings,
        })
    }
}

/// Lets `write!` append a tag's name straight to the entry's bytes.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// How a response was served, sent as `X-Cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// Redis skipped: disabled, or unavailable.
    Bypass,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    /// The status of a response composed of several entries.
    pub fn combine(self, other: CacheStatus) -> CacheStatus {
        use CacheStatus::*;
        match (self, other) {
            (Bypass, _) | (_, Bypass) => Bypass,
            (Miss, _) | (_, Miss) => Miss,
            _ => Hit,
        }
    }
}

/// What a fill produces: the body, for pages their title, and the tags the
/// fill pinned ([`Pinned::default()`] when it pinned none).
pub struct Filled {
    pub body: Bytes,
    pub title: String,
    pub pinned: Pinned,
    /// Sent as it is (an API body), not part of a page: its compressed
    /// forms are kept with it.
    pub sent_whole: bool,
}

/// A cached (or freshly filled) body.
#[derive(Clone, Debug)]
pub struct Cached {
    pub body: Bytes,
    pub title: String,
    pub etag: String,
    pub status: CacheStatus,
    /// The tags its fill pinned, for the response to name; `None` when
    /// nothing was (no allocation, and no shared counter touched per hit).
    pub pinned: Option<Arc<[Tag]>>,
    /// The compressed forms kept with it; `None` for a body served without
    /// the cache, which the response compresses itself if it must.
    pub encodings: Option<Encodings>,
}

impl Cached {
    pub(super) fn from_entry(e: Entry, status: CacheStatus) -> Self {
        let etag = e.etag();
        let encodings = Some(e.encodings);
        Cached { etag, body: e.body, title: e.title, status, pinned: e.pinned.into_tags(), encodings }
    }

    /// The tags its fill pinned.
    pub fn pinned_tags(&self) -> &[Tag] {
        self.pinned.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinned() -> Pinned {
        Pinned::new(
            vec![Tag::Product(7), Tag::Product(123_456), Tag::ProductSlug("oak-desk".into())],
            vec![9, 1, u64::MAX],
        )
    }

    #[test]
    fn round_trips() {
        let e =
            Entry::new(vec![1, u64::MAX, 42], Pinned::default(), "Título".into(), Bytes::from_static(b"<p>body</p>"));
        let decoded = Entry::decode(Bytes::from(e.encode())).unwrap();
        assert_eq!(decoded, e);
        assert_eq!(decoded.etag().len(), 34);
    }

    #[test]
    fn round_trips_with_pinned_tags() {
        let e = Entry::new(vec![1, 2], pinned(), "Desks".into(), Bytes::from_static(b"<ul>...</ul>"));
        let decoded = Entry::decode(Bytes::from(e.encode())).unwrap();
        assert_eq!(decoded, e);
        assert_eq!(decoded.pinned.versions(), [9, 1, u64::MAX]);
        assert_eq!(Cached::from_entry(decoded, CacheStatus::Hit).pinned_tags(), pinned().tags());
    }

    #[test]
    fn truncated_or_foreign_bytes_are_a_miss() {
        for pins in [Pinned::default(), pinned()] {
            let e = Entry::new(vec![1, 2], pins, "T".into(), Bytes::from_static(b"<p>body</p>"));
            let raw = e.encode();
            for cut in 0..raw.len() {
                assert_eq!(Entry::decode(Bytes::copy_from_slice(&raw[..cut])), None, "cut at {cut}");
            }
            let mut longer = raw.clone();
            longer.push(b'!');
            assert_eq!(Entry::decode(Bytes::from(longer)), None);
        }
        assert_eq!(Entry::decode(Bytes::from_static(b"\x09garbage")), None);
    }

    #[test]
    fn round_trips_with_compressed_forms() {
        let body = Bytes::from("<li>Oak desk $1,058.99</li>".repeat(80));
        let filled = Filled { body: body.clone(), title: String::new(), pinned: pinned(), sent_whole: true };
        let forms = crate::encoding::Encodings::make(&body, crate::encoding::Effort::Fill);
        let e = Entry::filled(vec![3], filled, forms);
        assert!(e.encodings.gzip.as_ref().is_some_and(|g| g.len() < body.len() / 3));
        let raw = e.encode();
        assert_eq!(Entry::decode(Bytes::from(raw.clone())), Some(e.clone()));
        for cut in [raw.len() - 1, raw.len() - e.encodings.br.as_ref().unwrap().len() - 1] {
            assert_eq!(Entry::decode(Bytes::copy_from_slice(&raw[..cut])), None, "cut at {cut}");
        }
    }

    #[test]
    fn entries_of_format_2_are_a_miss() {
        // Format 2 ended with the body: a format 3 entry without forms, less
        // their two empty lengths.
        let e = Entry::new(vec![1], Pinned::default(), String::new(), Bytes::from_static(b"body"));
        let mut old = e.encode();
        old.truncate(old.len() - 8);
        old[0] = 2;
        assert_eq!(Entry::decode(Bytes::from(old)), None);
    }

    #[test]
    fn entries_of_the_previous_format_are_a_miss() {
        // Format 1: no pinned section.
        let mut old = vec![1u8, 1];
        old.extend_from_slice(&5u64.to_le_bytes());
        old.extend_from_slice(&[0; 16]);
        old.extend_from_slice(&[0, 0]);
        old.extend_from_slice(b"body");
        assert_eq!(Entry::decode(Bytes::from(old)), None);
    }

    #[test]
    fn an_entry_with_incomplete_pins_never_decodes() {
        let e = Entry::new(vec![1], Pinned::incomplete(vec![Tag::Product(1)]), String::new(), Bytes::from_static(b"x"));
        assert_eq!(Entry::decode(Bytes::from(e.encode())), None);
    }

    #[test]
    fn a_pinned_name_that_is_no_tag_is_a_miss() {
        let e =
            Entry::new(vec![1], Pinned::new(vec![Tag::Product(1)], vec![3]), String::new(), Bytes::from_static(b"x"));
        let mut raw = e.encode();
        let name = raw.windows(9).position(|w| w == b"product-1").unwrap();
        raw[name] = b'X';
        assert_eq!(Entry::decode(Bytes::from(raw)), None);
    }
}
