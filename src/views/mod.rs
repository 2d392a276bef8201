//! What the shop shows: askama templates for pages and fragments, and the
//! API's wire types (DTOs). Nothing here queries; it only presents.

pub mod admin;
pub mod api;
pub mod fragments;
pub mod pages;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Rendered HTML of a fragment, embedded by pages as-is. Fragments are
/// rendered on their own (never seeing the visitor), so they can be cached
/// and shared between visitors.
#[derive(Clone, Debug, Default)]
pub struct Fragment(pub String);

impl std::fmt::Display for Fragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// Renders a whole page, mapping a failure into the boundary's error.
pub fn render_html(template: &impl Template) -> Result<String, crate::error::AppError> {
    template.render().map_err(|e| crate::error::AppError::Internal(format!("page rendering failed: {e}")))
}

/// Renders a fragment, mapping a failure into the boundary's error.
pub fn render_fragment(template: &impl Template) -> Result<Fragment, crate::error::AppError> {
    template
        .render()
        .map(Fragment)
        .map_err(|e| crate::error::AppError::Internal(format!("fragment rendering failed: {e}")))
}
