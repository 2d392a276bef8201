//! Who may keep a response: decided here, once, for every response the shop
//! gives, whatever route, layer or fallback produced it. No other code
//! writes `Cache-Control`; a handler can only ask for a public one.
//!
//! The rule, first match wins:
//! 1. A response produced while a visitor's session was read (a handler
//!    asked for [`AuthSession`](crate::auth::AuthSession) on a request
//!    carrying the session cookie), or that sets a cookie, is
//!    `private, no-store` with `Vary: Cookie`: it may show who is signed in,
//!    their cart, a flash message or their form token.
//! 2. An error (status ≥ 400) is `no-store`: it describes a moment (a
//!    product not yet created, a database restarting), and a cache would
//!    repeat it after the moment has passed.
//! 3. A response that carries [`Shareable`] (the catalog's cached bodies,
//!    including their 304s, and the stylesheet) gets the `Cache-Control` it
//!    names, which may be public.
//! 4. Anything else is `private, no-store`: a route that forgets to say is
//!    never shared.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The default, and what a response shaped by the visitor's session gets.
pub const PRIVATE: &str = "private, no-store";
/// What an error gets.
pub const ERROR: &str = "no-store";

/// A response extension: this response is the same for every visitor and
/// may be kept under this `Cache-Control`, unless the rule says otherwise.
#[derive(Clone, Debug)]
pub struct Shareable(pub HeaderValue);

/// A request extension, set by this layer: raised when the request's
/// session is read.
#[derive(Clone, Debug, Default)]
pub struct SessionRead(Arc<AtomicBool>);

impl SessionRead {
    /// Marks the request in `extensions`, if this layer is in front of it
    /// (router-only tests may run without it: then nothing is recorded).
    pub fn mark(extensions: &axum::http::Extensions) {
        if let Some(read) = extensions.get::<SessionRead>() {
            read.0.store(true, Ordering::Relaxed);
        }
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The middleware: lends the request a [`SessionRead`] flag, then writes the
/// response's `Cache-Control` by the rule above.
pub async fn apply(mut request: Request, next: Next) -> Response {
    let read = SessionRead::default();
    request.extensions_mut().insert(read.clone());
    let mut response = next.run(request).await;
    let shareable = response.extensions_mut().remove::<Shareable>();
    let status = response.status();
    let headers = response.headers_mut();
    let per_visitor = read.is_set() || headers.contains_key(header::SET_COOKIE);
    let value = if per_visitor {
        vary_on_cookie(headers);
        HeaderValue::from_static(PRIVATE)
    } else if status.as_u16() >= 400 {
        HeaderValue::from_static(ERROR)
    } else if let Some(Shareable(value)) = shareable {
        value
    } else {
        HeaderValue::from_static(PRIVATE)
    };
    headers.insert(header::CACHE_CONTROL, value);
    response
}

/// Adds `Cookie` to `Vary`, once.
fn vary_on_cookie(headers: &mut HeaderMap) {
    let already = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("cookie") || name.trim() == "*");
    if !already {
        headers.append(header::VARY, HeaderValue::from_static("Cookie"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use tower::ServiceExt;

    fn public() -> HeaderValue {
        HeaderValue::from_static("public, max-age=60")
    }

    /// A router whose one route answers `status`, marked shareable when
    /// `share`, after reading the session when `read`, behind the layer.
    async fn answer(status: StatusCode, share: bool, read: bool, set_cookie: bool) -> Response {
        let handler = move |request: Request| async move {
            if read {
                SessionRead::mark(request.extensions());
            }
            let mut response = (status, [(header::CACHE_CONTROL, "public, max-age=999")], "body").into_response();
            if share {
                response.extensions_mut().insert(Shareable(public()));
            }
            if set_cookie {
                response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static("a=b"));
            }
            response
        };
        let app = Router::new().route("/", get(handler)).layer(axum::middleware::from_fn(apply));
        app.oneshot(Request::builder().uri("/").body(axum::body::Body::empty()).unwrap()).await.unwrap()
    }

    fn cache_control(response: &Response) -> &str {
        response.headers()[header::CACHE_CONTROL].to_str().unwrap()
    }

    #[tokio::test]
    async fn only_a_shareable_answer_keeps_a_public_header() {
        let shared = answer(StatusCode::OK, true, false, false).await;
        assert_eq!(cache_control(&shared), "public, max-age=60");
        assert!(shared.headers().get(header::VARY).is_none());
        let revalidated = answer(StatusCode::NOT_MODIFIED, true, false, false).await;
        assert_eq!(cache_control(&revalidated), "public, max-age=60");
        // The handler's own header does not count.
        assert_eq!(cache_control(&answer(StatusCode::OK, false, false, false).await), PRIVATE);
    }

    #[tokio::test]
    async fn an_error_is_never_stored_whatever_the_handler_said() {
        for status in [StatusCode::NOT_FOUND, StatusCode::BAD_REQUEST, StatusCode::SERVICE_UNAVAILABLE] {
            assert_eq!(cache_control(&answer(status, true, false, false).await), ERROR, "{status}");
        }
    }

    #[tokio::test]
    async fn reading_the_session_or_setting_a_cookie_makes_it_private_and_varied_on_cookie() {
        for (read, set_cookie) in [(true, false), (false, true)] {
            for status in [StatusCode::OK, StatusCode::NOT_FOUND] {
                let response = answer(status, true, read, set_cookie).await;
                assert_eq!(cache_control(&response), PRIVATE, "{status}");
                assert_eq!(response.headers()[header::VARY], "Cookie");
            }
        }
    }

    #[test]
    fn cookie_is_added_to_vary_once() {
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding, cookie"));
        vary_on_cookie(&mut headers);
        assert_eq!(headers.get_all(header::VARY).iter().count(), 1);
        let mut headers = HeaderMap::new();
        headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        vary_on_cookie(&mut headers);
        let all: Vec<_> = headers.get_all(header::VARY).iter().collect();
        assert_eq!(all, ["Accept-Encoding", "Cookie"]);
    }
}
