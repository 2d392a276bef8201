//! The bytes of a cached entry: the tag versions it was filled under, its
//! ETag, an optional page title, then the body, ready to send.
//!
//! Also what a lookup hands back: the body with its ETag and how it was
//! served ([`CacheStatus`]).
//!
//! ```text
//! [1: format] [1: n] [n × 8: tag versions, LE] [16: etag hash] [2: title len] [title] [body]
//! ```

use bytes::Bytes;

const FORMAT: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub versions: Vec<u64>,
    pub etag_hash: u128,
    pub title: String,
    pub body: Bytes,
}

impl Entry {
    pub fn new(versions: Vec<u64>, title: String, body: Bytes) -> Self {
        let etag_hash = xxhash_rust::xxh3::xxh3_128(&body);
        Entry { versions, etag_hash, title, body }
    }

    /// A strong ETag: the hash of the body.
    pub fn etag(&self) -> String {
        format!("\"{:032x}\"", self.etag_hash)
    }

    pub fn encode(&self) -> Vec<u8> {
        let title = self.title.as_bytes();
        let title_len = title.len().min(u16::MAX as usize);
        let mut out = Vec::with_capacity(2 + self.versions.len() * 8 + 18 + title_len + self.body.len());
        out.push(FORMAT);
        out.push(u8::try_from(self.versions.len()).expect("entries have few tags"));
        for v in &self.versions {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.etag_hash.to_le_bytes());
        out.extend_from_slice(&(title_len as u16).to_le_bytes());
        out.extend_from_slice(&title[..title_len]);
        out.extend_from_slice(&self.body);
        out
    }

    /// `None` for bytes in another format (an older deploy): a miss.
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
        let (etag, rest) = rest.split_first_chunk::<16>()?;
        let (len, rest) = rest.split_first_chunk::<2>()?;
        let len = u16::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return None;
        }
        let title = std::str::from_utf8(&rest[..len]).ok()?.to_owned();
        let body_start = raw.len() - (rest.len() - len);
        Some(Entry { versions, etag_hash: u128::from_le_bytes(*etag), title, body: raw.slice(body_start..) })
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

/// What a fill produces: the body and, for pages, their title.
pub struct Filled {
    pub body: Bytes,
    pub title: String,
}

/// A cached (or freshly filled) body.
#[derive(Clone, Debug)]
pub struct Cached {
    pub body: Bytes,
    pub title: String,
    pub etag: String,
    pub status: CacheStatus,
}

impl Cached {
    pub(super) fn from_entry(e: Entry, status: CacheStatus) -> Self {
        Cached { etag: e.etag(), body: e.body, title: e.title, status }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let e = Entry::new(vec![1, u64::MAX, 42], "Título".into(), Bytes::from_static(b"<p>body</p>"));
        let decoded = Entry::decode(Bytes::from(e.encode())).unwrap();
        assert_eq!(decoded, e);
        assert_eq!(decoded.etag().len(), 34);
    }

    #[test]
    fn truncated_or_foreign_bytes_are_a_miss() {
        let e = Entry::new(vec![1, 2], String::new(), Bytes::from_static(b"x"));
        let raw = e.encode();
        for cut in 0..raw.len() - 1 {
            if let Some(d) = Entry::decode(Bytes::copy_from_slice(&raw[..cut])) {
                assert_ne!(d.body, e.body, "cut at {cut}");
            }
        }
        assert_eq!(Entry::decode(Bytes::from_static(b"\x09garbage")), None);
    }
}
