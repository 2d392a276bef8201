//! HTTP for cached bodies: `X-Cache`, a strong `ETag` with `If-None-Match`
//! revalidation (304), the public `Cache-Control` that lets a CDN keep
//! anonymous catalog responses (handed to `cache_policy`, which writes it
//! unless the response turns out to be an error or the visitor's own), and
//! `Surrogate-Key` naming the tags to purge by: those of every entry's key,
//! and those every entry's fill pinned.

use std::fmt::Write as _;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::cache::{Cache, CacheStatus, Tag};
use crate::encoding::{self, Coding, Encodings};
use crate::routes::cache_policy::Shareable;

pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";

/// The longest `Surrogate-Key` sent. Varnish refuses a backend response with
/// a header line over `http_resp_hdr_len` (8 KiB by default); half of that
/// leaves room for a smaller setting. A page of 100 products pinning
/// `product-ID` tags needs under 2 KiB (see the test below).
const MAX_SURROGATE_KEY: usize = 4096;

/// A response assembled from cache entries.
pub struct CachedBody {
    pub body: Representation,
    pub status: CacheStatus,
    pub sharing: Sharing,
    pub content_type: &'static str,
}

/// The form of a body a request gets: its bytes in the coding it asked
/// for, that form's own ETag, and whether the body is negotiable (so the
/// response varies by `Accept-Encoding`).
#[derive(Debug)]
pub struct Representation {
    pub bytes: Bytes,
    pub etag: String,
    pub coding: Coding,
    pub negotiable: bool,
}

impl Representation {
    /// `body` (whose identity ETag is `etag`) as `request` wants it: a form
    /// from `kept` when there is one, else compressed now (counted by
    /// `cache`), for a body nothing kept.
    pub fn choose(coding: Coding, cache: &Cache, body: Bytes, etag: &str, kept: Option<&Encodings>) -> Self {
        if body.len() < encoding::MIN_BYTES {
            return Representation { bytes: body, etag: etag.to_owned(), coding: Coding::Identity, negotiable: false };
        }
        let bytes = match (coding, kept.and_then(|k| k.get(coding))) {
            (Coding::Identity, _) => body,
            (_, Some(form)) => form.clone(),
            (_, None) => cache.compress_once(&body, coding).get(coding).cloned().unwrap_or(body),
        };
        Representation { bytes, etag: coding.etag(etag), coding, negotiable: true }
    }

    /// No bytes, for a 304: the ETag of the form `request` wants of a
    /// negotiable body whose identity ETag is `etag`.
    pub fn unchanged(coding: Coding, etag: &str) -> Self {
        Representation { bytes: Bytes::new(), etag: coding.etag(etag), coding, negotiable: true }
    }
}

/// The headers the entries' tags and TTL decide: `Surrogate-Key`, and the
/// public `Cache-Control` when a shared cache may keep the response. Worked
/// out once per response, or once per page kept in the page memo.
#[derive(Clone, Debug)]
pub struct Sharing {
    surrogate_key: Option<HeaderValue>,
    shareable: Option<HeaderValue>,
}

impl Sharing {
    /// The tags' names as `Surrogate-Key` gives them, `None` when too many
    /// to name (see [`MAX_SURROGATE_KEY`]): the part of [`Sharing::of`] a
    /// page kept whole keeps.
    pub fn tag_names(tags: &[Tag]) -> Option<Bytes> {
        surrogate_key(tags).map(Bytes::from)
    }

    /// [`Sharing::of`] a public response from names [`Sharing::tag_names`] gave.
    pub fn of_names(names: Option<Bytes>, ttl: Duration) -> Sharing {
        let surrogate_key = names.and_then(|n| HeaderValue::from_maybe_shared(n).ok());
        let shareable = surrogate_key.is_some().then(|| public(ttl)).flatten();
        Sharing { surrogate_key, shareable }
    }

    /// For a response from entries with these `tags` (their keys' and their
    /// pins'), kept for at most `ttl`; `private` when shown to one visitor
    /// (their session is in the layout): not offered to shared caches.
    pub fn of(tags: &[Tag], ttl: Duration, private: bool) -> Sharing {
        let surrogate_key = surrogate_key(tags).and_then(|keys| HeaderValue::from_str(&keys).ok());
        // Too many tags to name: a shared cache could not be purged by the
        // ones left out, so it is not offered the response at all.
        if surrogate_key.is_none() {
            tracing::debug!(tags = tags.len(), "Surrogate-Key too long; response not shareable");
        }
        let shareable = (!private && surrogate_key.is_some()).then(|| public(ttl)).flatten();
        Sharing { surrogate_key, shareable }
    }
}

/// The public `Cache-Control`: browsers revalidate every time (a 304 is
/// cheap); shared caches keep the response for the entries' TTL and are
/// purged by `Surrogate-Key`.
fn public(ttl: Duration) -> Option<HeaderValue> {
    let value =
        format!("public, max-age=0, s-maxage={}, stale-while-revalidate=30, stale-if-error=86400", ttl.as_secs());
    HeaderValue::from_str(&value).ok()
}

/// The tags' names, space-separated, in one string; `None` when longer than
/// [`MAX_SURROGATE_KEY`].
fn surrogate_key(tags: &[Tag]) -> Option<String> {
    let mut names = String::with_capacity(tags.len() * 12);
    for tag in tags {
        if !names.is_empty() {
            names.push(' ');
        }
        let _ = write!(names, "{tag}");
        if names.len() > MAX_SURROGATE_KEY {
            return None;
        }
    }
    Some(names)
}

/// Does the request's `If-None-Match` name this ETag?
pub fn revalidates(request: &HeaderMap, etag: &str) -> bool {
    request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| matches(v, etag))
}

/// Does `If-None-Match` name this ETag (`*`, a list, weak or strong)?
fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag)
}

impl CachedBody {
    pub fn into_response(self, request: &HeaderMap) -> Response {
        let body = self.body;
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&body.etag) {
            headers.insert(header::ETAG, v);
        }
        headers.insert("x-cache", HeaderValue::from_static(self.status.as_str()));
        if let Some(keys) = self.sharing.surrogate_key {
            headers.insert(header::HeaderName::from_static("surrogate-key"), keys);
        }
        if body.negotiable {
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        let mut response = if revalidates(request, &body.etag) {
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
            if let Some(name) = body.coding.header() {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
            }
            (StatusCode::OK, headers, Body::from(body.bytes)).into_response()
        };
        if let Some(shareable) = self.sharing.shareable {
            response.extensions_mut().insert(Shareable(shareable));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_with(tags: &[Tag], private: bool) -> CachedBody {
        CachedBody {
            body: Representation {
                bytes: Bytes::from_static(b"{}"),
                etag: "\"e\"".to_owned(),
                coding: Coding::Identity,
                negotiable: false,
            },
            status: CacheStatus::Hit,
            sharing: Sharing::of(tags, Duration::from_secs(300), private),
            content_type: JSON,
        }
    }

    fn body(private: bool) -> CachedBody {
        body_with(&[], private)
    }

    #[test]
    fn only_a_body_for_everyone_is_offered_as_shareable_with_its_ttl_and_so_is_its_304() {
        let revalidate = HeaderMap::from_iter([(header::IF_NONE_MATCH, HeaderValue::from_static("\"e\""))]);
        for request in [HeaderMap::new(), revalidate] {
            let public = body(false).into_response(&request);
            let Shareable(value) = public.extensions().get::<Shareable>().expect("shareable").clone();
            assert!(value.to_str().unwrap().starts_with("public, max-age=0, s-maxage=300,"), "{value:?}");
            assert!(body(true).into_response(&request).extensions().get::<Shareable>().is_none());
        }
    }

    #[test]
    fn a_page_of_a_hundred_pinned_products_names_them_all_within_the_bound() {
        let mut tags = vec![Tag::All, Tag::Lists, Tag::Categories];
        tags.extend((0..100).map(|i| Tag::Product(2_000_000_000 + i)));
        let response = body_with(&tags, false).into_response(&HeaderMap::new());
        let keys = response.headers()["surrogate-key"].to_str().unwrap();
        assert_eq!(keys.split(' ').count(), 103);
        assert!(keys.starts_with("all lists categories product-2000000000 "), "{keys}");
        assert!(keys.len() < 2048, "{} bytes", keys.len());
        assert!(response.extensions().get::<Shareable>().is_some());
    }

    #[test]
    fn too_many_tags_to_name_make_a_response_no_shared_cache_keeps() {
        let tags: Vec<Tag> =
            (0..100).map(|i| Tag::ProductSlug(format!("{}-{i}", "a-long-product-name".repeat(4)))).collect();
        let response = body_with(&tags, false).into_response(&HeaderMap::new());
        assert!(response.headers().get("surrogate-key").is_none());
        assert!(response.extensions().get::<Shareable>().is_none());
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let etag = "\"abc\"";
        assert!(matches("\"abc\"", etag));
        assert!(matches("\"x\", \"abc\"", etag));
        assert!(matches("W/\"abc\"", etag));
        assert!(matches("*", etag));
        assert!(!matches("\"abcd\"", etag));
        assert!(!matches("", etag));
    }
}
