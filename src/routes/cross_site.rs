//! Cross-site requests that change something are refused before any
//! handler runs. A browser tells where a request comes from: every current
//! browser sends `Sec-Fetch-Site`, and `Origin` on every POST. A form posted
//! from another site carries neither our session cookie (it is
//! SameSite=Lax) nor, so, a session's token; without this layer such a post
//! would reach a handler as a visitor without a session, get a new session
//! and replace the victim's (a forced sign-out). A request with neither
//! header does not come from a browser, so no visitor's cookies ride on it;
//! the handlers' own token checks apply to it as to any other.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::state::PublicUrl;

const REFUSED: &str = "Cross-site request refused: this form or request came from another site.";

/// Refuses unsafe requests a browser says come from another site.
pub async fn refuse_cross_site(State(public): State<PublicUrl>, request: Request, next: Next) -> Response {
    if is_safe(request.method()) || !is_cross_site(request.headers(), request.uri().authority(), public.as_str()) {
        return next.run(request).await;
    }
    tracing::info!(method = %request.method(), path = request.uri().path(), "cross-site request refused");
    if super::is_api(request.uri().path()) {
        AppError::Forbidden(REFUSED).into_response()
    } else {
        AppError::Forbidden(REFUSED).into_html()
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// `public` is the shop's own origin (`STOREFRONT_PUBLIC_URL`); a request
/// whose `Origin` names the host it was sent to counts as same-origin too,
/// so the shop works under any name its proxy serves it as.
fn is_cross_site(headers: &HeaderMap, authority: Option<&axum::http::uri::Authority>, public: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: the user's own action (a bookmark, the address bar).
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    let Ok(origin) = origin.to_str() else { return true };
    if origin.eq_ignore_ascii_case(public.trim_end_matches('/')) {
        return false;
    }
    let Some((_, origin_host)) = origin.split_once("://") else { return true };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(authority.map(|a| a.as_str()));
    !host.is_some_and(|host| host.eq_ignore_ascii_case(origin_host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    const PUBLIC: &str = "https://shop.example";

    #[test]
    fn fetch_metadata_decides_when_present() {
        for (site, cross) in [("same-origin", false), ("none", false), ("same-site", true), ("cross-site", true)] {
            let h = headers(&[("sec-fetch-site", site), ("origin", PUBLIC)]);
            assert_eq!(is_cross_site(&h, None, PUBLIC), cross, "{site}");
        }
    }

    #[test]
    fn origin_must_be_ours_or_the_host_asked_for() {
        assert!(!is_cross_site(&headers(&[("origin", "https://shop.example")]), None, PUBLIC));
        assert!(!is_cross_site(
            &headers(&[("origin", "http://127.0.0.1:3000"), ("host", "127.0.0.1:3000")]),
            None,
            PUBLIC
        ));
        assert!(is_cross_site(&headers(&[("origin", "https://evil.example"), ("host", "shop.example")]), None, PUBLIC));
        assert!(is_cross_site(&headers(&[("origin", "null")]), None, PUBLIC));
        assert!(is_cross_site(&headers(&[("origin", "https://shop.example.evil.example")]), None, PUBLIC));
    }

    #[test]
    fn a_request_with_neither_header_is_not_a_browsers() {
        assert!(!is_cross_site(&HeaderMap::new(), None, PUBLIC));
    }
}
