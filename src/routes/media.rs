//! `/media/{file}`: the product images' files. A file's name holds its
//! content's hash, so it never changes: any cache may keep it for a year,
//! and its ETag is its name. A name that does not parse (see `MediaName`)
//! names no file: it is a 404 before the disk is touched.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

use crate::error::{AppError, PageError};
use crate::media::{Media, MediaName};
use crate::routes::cache_policy::Shareable;
use crate::routes::cached::revalidates;
use crate::routes::extract::PagePath;
use crate::state::AppState;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

pub fn router() -> Router<AppState> {
    Router::new().route("/media/{file}", get(file))
}

#[tracing::instrument(name = "media.file", skip_all, fields(file = %raw))]
async fn file(
    State(media): State<Media>,
    PagePath(raw): PagePath<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let name = MediaName::parse(&raw).ok_or_else(AppError::not_found)?;
    let etag = format!("\"{name}\"");
    let shared = Extension(Shareable(HeaderValue::from_static(IMMUTABLE)));
    let etag_header = [(header::ETAG, etag.clone())];
    let revalidated = revalidates(&headers, &etag);
    let failed = |e: std::io::Error| AppError::Internal(format!("reading {name}: {e}"));
    // Checked on disk even for a 304: a name that parses may still be of a
    // file that was never made.
    if revalidated {
        if !media.store.exists(&name).await.map_err(failed)? {
            return Err(AppError::not_found().into());
        }
        return Ok((StatusCode::NOT_MODIFIED, etag_header, shared).into_response());
    }
    let bytes = media.store.read(&name).await.map_err(failed)?.ok_or_else(AppError::not_found)?;
    Ok(([(header::CONTENT_TYPE, name.format.content_type())], etag_header, shared, bytes).into_response())
}
