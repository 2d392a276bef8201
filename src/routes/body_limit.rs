//! How large a request body may be: 64 KiB for forms and JSON, which are
//! small, and more on the routes that take image uploads. The limit is
//! chosen by path before routing (so it wraps the body once, as one layer,
//! for every route): a declared length over it is refused unread, and a
//! body sent without one is cut off as soon as it passes it. Both answer
//! 413 (in the shop's shapes, see `oversized_bodies`).

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use http_body_util::Limited;
use tower::Service;

/// The limits, by the kind of route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyLimit {
    /// Forms and JSON bodies.
    Small,
    /// Image uploads: several images of up to 10 MB each.
    Upload,
}

impl BodyLimit {
    pub const fn bytes(self) -> usize {
        match self {
            BodyLimit::Small => 64 * 1024,
            BodyLimit::Upload => 32 * 1024 * 1024,
        }
    }

    /// The limit as the error message names it.
    pub const fn shown(self) -> &'static str {
        match self {
            BodyLimit::Small => "64 KiB",
            BodyLimit::Upload => "32 MiB",
        }
    }

    /// The limit of the route `path` reaches: uploads go to a product's
    /// `images` (the API's, in any of its spellings, and the admin's).
    pub fn for_path(path: &str) -> Self {
        let path = path.strip_suffix('/').unwrap_or(path);
        let path = path.strip_suffix(".json").unwrap_or(path);
        let mut segments = path.split('/');
        let upload = matches!(
            (segments.next(), segments.next(), segments.next(), segments.next(), segments.next(), segments.next()),
            (Some(""), Some("api" | "admin"), Some("products"), Some(id), Some("images"), None)
                if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        );
        if upload { BodyLimit::Upload } else { BodyLimit::Small }
    }
}

/// Wraps the router: see the module's comment.
#[derive(Clone)]
pub struct BodyLimits<S>(pub S);

impl<S, B> Service<Request<B>> for BodyLimits<S>
where
    S: Service<Request<Limited<B>>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = BodyLimit::for_path(request.uri().path()).bytes();
        let declared = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok());
        if declared.is_some_and(|length: usize| length > limit) {
            return Either::Left(ready(Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response())));
        }
        Either::Right(self.0.call(request.map(|body| Limited::new(body, limit))))
    }
}

#[cfg(test)]
mod tests {
    use super::BodyLimit;

    #[test]
    fn only_a_products_images_take_uploads() {
        for path in [
            "/api/products/7/images/",
            "/api/products/7/images",
            "/api/products/7/images.json",
            "/api/products/7/images.json/",
            "/admin/products/7/images",
        ] {
            assert_eq!(BodyLimit::for_path(path), BodyLimit::Upload, "{path}");
        }
        for path in [
            "/api/products/",
            "/api/products/7/",
            "/api/products/7/images/3/",
            "/api/products/x/images/",
            "/api/products//images/",
            "/admin/products/7",
            "/login",
        ] {
            assert_eq!(BodyLimit::for_path(path), BodyLimit::Small, "{path}");
        }
    }
}
