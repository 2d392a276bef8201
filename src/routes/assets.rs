//! Static assets, compiled into the binary so the shop runs from any working
//! directory, and served under names that hold a hash of their content
//! (`/static/css/site.<hash>.css`, named by build.rs): any cache may keep
//! one for a year, since new content is a new name. Their brotli and gzip
//! forms are made once per process, at the best levels.
//!
//! A hashed name this build does not have (an older deploy's, or a newer
//! one's during a rolling deploy) is a 404 with `no-store`. Answering it
//! with this build's bytes would let every cache keep other content under
//! the name for a year; with `no-store`, nothing keeps the miss, and the
//! next request that reaches an instance of the right build gets the file
//! (the project's VCL retries such a 404 on another instance).
//!
//! The unhashed name still answers, for links from outside the shop, but
//! as `no-cache`: revalidated on every use, so never stale.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use bytes::Bytes;

use crate::encoding::{self, Coding, Effort, Encodings};
use crate::error::{AppError, PageError};
use crate::routes::cache_policy::Shareable;
use crate::routes::cached::revalidates;
use crate::routes::extract::PagePath;
use crate::state::AppState;
use crate::views::SITE_CSS;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, no-cache";

/// An asset's bytes, its forms and its identity ETag.
struct Asset {
    content_type: &'static str,
    body: Bytes,
    encodings: Encodings,
    etag: String,
}

impl Asset {
    fn new(content_type: &'static str, body: &'static str, hash: &str) -> Asset {
        let body = Bytes::from_static(body.as_bytes());
        let encodings = Encodings::make(&body, Effort::Best);
        Asset { content_type, body, encodings, etag: format!("\"{hash}\"") }
    }

    /// The form `request` asks for, or a 304 when it names that form's ETag.
    fn respond(&self, request: &HeaderMap, cache_control: &'static str) -> Response {
        let coding = if self.encodings.is_empty() { Coding::Identity } else { encoding::negotiate(request) };
        let etag = coding.etag(&self.etag);
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            headers.insert(header::ETAG, v);
        }
        if !self.encodings.is_empty() {
            headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        let shared = Extension(Shareable(HeaderValue::from_static(cache_control)));
        if revalidates(request, &etag) {
            return (StatusCode::NOT_MODIFIED, headers, shared).into_response();
        }
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        if let Some(name) = coding.header() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
        }
        let body = self.encodings.get(coding).unwrap_or(&self.body).clone();
        (headers, shared, body).into_response()
    }
}

static SITE_CSS_ASSET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new("text/css; charset=utf-8", include_str!("../../static/css/site.css"), env!("STOREFRONT_SITE_CSS_HASH"))
});

/// Makes every asset's compressed forms, so no request waits for them.
pub fn prepare() {
    LazyLock::force(&SITE_CSS_ASSET);
}

pub fn router() -> Router<AppState> {
    Router::new().route("/static/css/{file}", get(css))
}

/// A stylesheet by name: this build's hashed one, the unhashed one, or a
/// 404 (which the cache policy makes `no-store`, as every error).
async fn css(PagePath(file): PagePath<String>, headers: HeaderMap) -> Result<Response, PageError> {
    let hashed = SITE_CSS.rsplit('/').next().unwrap_or_default();
    match file.as_str() {
        name if name == hashed => Ok(SITE_CSS_ASSET.respond(&headers, IMMUTABLE)),
        "site.css" => Ok(SITE_CSS_ASSET.respond(&headers, REVALIDATE)),
        _ => Err(AppError::not_found().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_is_named_by_its_content() {
        let hash = SITE_CSS.strip_prefix("/static/css/site.").and_then(|s| s.strip_suffix(".css")).unwrap();
        assert_eq!(hash.len(), 10);
        let expected = xxhash_rust::xxh3::xxh3_64(include_bytes!("../../static/css/site.css")) >> 24;
        assert_eq!(hash, format!("{expected:010x}"));
    }
}
