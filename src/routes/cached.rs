//! HTTP for cached bodies: `X-Cache`, a strong `ETag` with `If-None-Match`
//! revalidation (304), `Cache-Control` that lets a CDN keep anonymous
//! catalog responses, and `Surrogate-Key` naming the tags to purge by.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::cache::{CacheStatus, Tag};

pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html; charset=utf-8";

/// A response assembled from cache entries.
pub struct CachedBody {
    pub body: Bytes,
    pub etag: String,
    pub status: CacheStatus,
    pub tags: Vec<Tag>,
    /// The shortest TTL among the entries: how long a CDN may keep it.
    pub ttl: Duration,
    pub content_type: &'static str,
    /// Shown to one visitor (their session is in the layout): never stored
    /// by a shared cache.
    pub private: bool,
}

/// Does `If-None-Match` name this ETag (`*`, a list, weak or strong)?
fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag)
}

impl CachedBody {
    fn cache_control(&self) -> String {
        if self.private {
            return "private, no-cache".to_owned();
        }
        // Browsers revalidate every time (a 304 is cheap); shared caches keep
        // the response for the entry's TTL and are purged by Surrogate-Key.
        format!("public, max-age=0, s-maxage={}, stale-while-revalidate=30, stale-if-error=86400", self.ttl.as_secs())
    }

    pub fn into_response(self, request: &HeaderMap) -> Response {
        let mut headers = HeaderMap::new();
        let set = |headers: &mut HeaderMap, name, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        set(&mut headers, header::ETAG, &self.etag);
        set(&mut headers, header::CACHE_CONTROL, &self.cache_control());
        headers.insert("x-cache", HeaderValue::from_static(self.status.as_str()));
        if self.private {
            headers.insert(header::VARY, HeaderValue::from_static("Cookie"));
        }
        let keys: Vec<String> = self.tags.iter().map(Tag::name).collect();
        set(&mut headers, header::HeaderName::from_static("surrogate-key"), &keys.join(" "));

        let revalidated =
            request.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| matches(v, &self.etag));
        if revalidated {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        (StatusCode::OK, headers, Body::from(self.body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::matches;

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
