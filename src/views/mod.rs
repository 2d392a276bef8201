//! What the shop shows: askama templates for pages and fragments, and the
//! API's wire types (DTOs) with the way they write timestamps. Nothing here
//! queries; it only presents.

pub mod admin;
pub mod api;
pub mod fragments;
pub mod mail;
pub mod pages;
pub mod timestamp;

/// The stylesheet's URL, named by a hash of its content (see build.rs), as
/// the layout links it and `routes::assets` serves it.
pub const SITE_CSS: &str = concat!("/static/css/site.", env!("STOREFRONT_SITE_CSS_HASH"), ".css");

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;

/// Rendered HTML of a fragment, embedded by pages as-is. Fragments are
/// rendered on their own (never seeing the visitor), so they can be cached
/// and shared between visitors.
///
/// Held as `Bytes`, so a cached fragment is embedded without being copied;
/// bytes that are not UTF-8 (a corrupt entry) fail the page's rendering.
#[derive(Clone, Debug, Default)]
pub struct Fragment(Bytes);

impl Fragment {
    /// A cached fragment's bytes.
    pub fn from_bytes(bytes: Bytes) -> Self {
        Fragment(bytes)
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    pub fn as_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.0)
    }
}

impl From<String> for Fragment {
    fn from(html: String) -> Self {
        Fragment(Bytes::from(html))
    }
}

impl std::fmt::Display for Fragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str().map_err(|_| std::fmt::Error)?)
    }
}

/// Already HTML: askama writes a fragment as it is, without escaping it again.
impl askama::filters::HtmlSafe for Fragment {}

/// Renders a template to an HTML response; a rendering failure is a bug,
/// logged and answered with a plain 500.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error.").into_response()
        }
    }
}

/// Renders a whole page, mapping a failure into the boundary's error. The
/// buffer is sized for `embedded` bytes of fragments plus the template's own
/// text, so the page is not copied as it grows.
pub fn render_html<T: Template>(template: &T, embedded: usize) -> Result<String, crate::error::AppError> {
    let mut out = String::with_capacity(embedded + T::SIZE_HINT);
    template
        .render_into(&mut out)
        .map_err(|e| crate::error::AppError::Internal(format!("page rendering failed: {e}")))?;
    Ok(out)
}

/// Renders a fragment, mapping a failure into the boundary's error.
pub fn render_fragment(template: &impl Template) -> Result<Fragment, crate::error::AppError> {
    template
        .render()
        .map(Fragment::from)
        .map_err(|e| crate::error::AppError::Internal(format!("fragment rendering failed: {e}")))
}
