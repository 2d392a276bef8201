//! Content codings: the compressed forms of a body, made once where the
//! body is made (a cache fill, a page kept in memory, a static asset at
//! start), and which of them a client asked for ([`negotiate`]).
//!
//! A body of at least [`MIN_BYTES`] is *negotiable*: it has a brotli and a
//! gzip form beside the plain one, and its response says `Vary:
//! Accept-Encoding`. Smaller bodies are sent as they are: a compressed
//! header and trailer would eat what little compression saves.

mod negotiate;

use std::io::Write as _;

use bytes::Bytes;

pub use negotiate::negotiate;

/// The smallest body that gets compressed forms.
pub const MIN_BYTES: usize = 1024;

/// A content coding the shop sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Coding {
    Identity,
    Gzip,
    Br,
}

impl Coding {
    /// The `Content-Encoding` value, `None` for identity.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some("gzip"),
            Coding::Br => Some("br"),
        }
    }

    /// The strong ETag of this coding's form of the body whose (identity)
    /// ETag is `etag`: RFC 9110 §8.8.3 gives each representation its own.
    pub fn etag(self, etag: &str) -> String {
        match (self.header(), etag.strip_suffix('"')) {
            (Some(name), Some(open)) => format!("{open}-{name}\""),
            _ => etag.to_owned(),
        }
    }
}

/// How hard to compress: a fill runs while a shopper waits; a static asset
/// is compressed once per process.
#[derive(Clone, Copy, Debug)]
pub enum Effort {
    /// gzip 6 and brotli 5: a tenth of a millisecond or so for a 10 KB
    /// page, within a few per cent of the best sizes.
    Fill,
    /// gzip 9 and brotli 11, the smallest either makes.
    Best,
}

/// The compressed forms of a body; both or neither.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encodings {
    pub gzip: Option<Bytes>,
    pub br: Option<Bytes>,
}

impl Encodings {
    /// Both forms of a negotiable `body`; none for a smaller one.
    pub fn make(body: &[u8], effort: Effort) -> Encodings {
        if body.len() < MIN_BYTES {
            return Encodings::default();
        }
        Encodings { gzip: Some(compress(body, Coding::Gzip, effort)), br: Some(compress(body, Coding::Br, effort)) }
    }

    /// Only the form `coding` names, for a body served once (a signed-in
    /// visitor's page, a response the cache did not keep).
    pub fn only(body: &[u8], coding: Coding) -> Encodings {
        match coding {
            _ if body.len() < MIN_BYTES => Encodings::default(),
            Coding::Identity => Encodings::default(),
            Coding::Gzip => Encodings { gzip: Some(compress(body, coding, Effort::Fill)), br: None },
            Coding::Br => Encodings { gzip: None, br: Some(compress(body, coding, Effort::Fill)) },
        }
    }

    pub fn get(&self, coding: Coding) -> Option<&Bytes> {
        match coding {
            Coding::Identity => None,
            Coding::Gzip => self.gzip.as_ref(),
            Coding::Br => self.br.as_ref(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.gzip.is_none() && self.br.is_none()
    }

    /// The bytes the forms take.
    pub fn len(&self) -> usize {
        self.gzip.as_ref().map_or(0, Bytes::len) + self.br.as_ref().map_or(0, Bytes::len)
    }
}

/// `body` in `coding` (identity: a copy).
pub fn compress(body: &[u8], coding: Coding, effort: Effort) -> Bytes {
    let _span = tracing::debug_span!("encoding.compress", ?coding, bytes = body.len()).entered();
    metrics::counter!("storefront_compressions_total", "coding" => coding.header().unwrap_or("identity")).increment(1);
    let out = Vec::with_capacity(body.len() / 3);
    match coding {
        Coding::Identity => Bytes::copy_from_slice(body),
        Coding::Gzip => {
            let level = match effort {
                Effort::Fill => flate2::Compression::new(6),
                Effort::Best => flate2::Compression::best(),
            };
            let mut gz = flate2::write::GzEncoder::new(out, level);
            // Writing to a Vec cannot fail.
            let _ = gz.write_all(body);
            Bytes::from(gz.finish().unwrap_or_default())
        }
        Coding::Br => {
            let quality = match effort {
                Effort::Fill => 5,
                Effort::Best => 11,
            };
            let mut br = brotli::CompressorWriter::new(out, 4096, quality, 22);
            let _ = br.write_all(body);
            Bytes::from(br.into_inner())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn page() -> Vec<u8> {
        let card = "<li class=\"card\"><a href=\"/products/oak-desk-12\">Oak desk</a> <span>$1,058.99</span></li>\n";
        card.repeat(60).into_bytes()
    }

    #[test]
    fn both_forms_decode_to_the_body_and_are_smaller() {
        let body = page();
        for effort in [Effort::Fill, Effort::Best] {
            let forms = Encodings::make(&body, effort);
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&forms.gzip.clone().unwrap()[..]).read_to_end(&mut plain).unwrap();
            assert_eq!(plain, body);
            let mut plain = Vec::new();
            brotli::Decompressor::new(&forms.br.clone().unwrap()[..], 4096).read_to_end(&mut plain).unwrap();
            assert_eq!(plain, body);
            assert!(forms.len() * 3 < body.len(), "{} compressed bytes for {}", forms.len(), body.len());
        }
    }

    #[test]
    fn small_bodies_have_no_forms() {
        assert!(Encodings::make(&[b'x'; MIN_BYTES - 1], Effort::Fill).is_empty());
        assert!(Encodings::only(&[b'x'; MIN_BYTES - 1], Coding::Br).is_empty());
        assert!(!Encodings::make(&[b'x'; MIN_BYTES], Effort::Fill).is_empty());
    }

    #[test]
    fn only_makes_the_form_asked_for() {
        let body = page();
        let br = Encodings::only(&body, Coding::Br);
        assert!(br.br.is_some() && br.gzip.is_none());
        assert!(Encodings::only(&body, Coding::Identity).is_empty());
    }

    #[test]
    fn each_coding_has_its_own_etag() {
        assert_eq!(Coding::Identity.etag("\"abc\""), "\"abc\"");
        assert_eq!(Coding::Gzip.etag("\"abc\""), "\"abc-gzip\"");
        assert_eq!(Coding::Br.etag("\"abc\""), "\"abc-br\"");
    }
}
