//! `Accept-Encoding` (RFC 9110 §12.5.3): which of brotli, gzip and
//! identity a client prefers.
//!
//! - No header: identity, as every server does for clients that never ask.
//! - A coding's weight is its own `q`, else that of `*`, else 0 for a
//!   compressed one. Identity is acceptable unless `identity;q=0` (or
//!   `*;q=0` without `identity`) excludes it, but it is chosen over a
//!   compressed coding only when its weight is named and higher.
//! - Ties go to brotli, then gzip: the smaller body.
//! - An entry whose `q` is no valid qvalue is ignored.
//! - When nothing the shop sends is acceptable, identity: the compression
//!   layer answers that request 406.

use axum::http::{HeaderMap, header};

use super::Coding;

/// The weight of each coding the header names (milli-q, 0..=1000).
#[derive(Default)]
struct Weights {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

/// The coding to send a negotiable body in.
pub fn negotiate(request: &HeaderMap) -> Coding {
    let mut values = request.get_all(header::ACCEPT_ENCODING).iter().peekable();
    if values.peek().is_none() {
        return Coding::Identity;
    }
    let mut w = Weights::default();
    for value in values {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let Some(q) = weight(parts) else { continue };
            let slot = if name.eq_ignore_ascii_case("br") {
                &mut w.br
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut w.gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut w.identity
            } else if name == "*" {
                &mut w.any
            } else {
                continue;
            };
            // Named twice: the higher weight.
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
    }
    let br = w.br.or(w.any).unwrap_or(0);
    let gzip = w.gzip.or(w.any).unwrap_or(0);
    let (coding, q) = if br >= gzip { (Coding::Br, br) } else { (Coding::Gzip, gzip) };
    match w.identity.or(w.any) {
        _ if q == 0 => Coding::Identity,
        Some(identity) if identity > q => Coding::Identity,
        _ => coding,
    }
}

/// The `q` parameter of an entry's parameters (1000 when absent), `None`
/// when it is malformed.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<u16> {
    let mut q = 1000;
    for param in params {
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = qvalue(value.trim())?;
        }
    }
    Some(q)
}

/// `0[.ddd]` or `1[.000]`, in thousandths.
fn qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths =
        frac.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn pick(value: &str) -> Coding {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        negotiate(&headers)
    }

    #[test]
    fn browsers_get_brotli_and_older_clients_gzip() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Coding::Br);
        assert_eq!(pick("gzip, deflate"), Coding::Gzip);
        assert_eq!(pick("x-gzip"), Coding::Gzip);
        assert_eq!(pick("BR"), Coding::Br);
        assert_eq!(negotiate(&HeaderMap::new()), Coding::Identity);
        assert_eq!(pick(""), Coding::Identity);
        assert_eq!(pick("deflate, zstd"), Coding::Identity);
    }

    #[test]
    fn q_values_are_honoured() {
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Coding::Gzip);
        assert_eq!(pick("br;q=0.8, gzip;q=0.8"), Coding::Br);
        assert_eq!(pick("br;q=0, gzip"), Coding::Gzip);
        assert_eq!(pick("br; q=0.000, gzip ; Q=0"), Coding::Identity);
        assert_eq!(pick("identity;q=1, gzip;q=0.5"), Coding::Identity);
        assert_eq!(pick("identity;q=0.5, gzip;q=0.5"), Coding::Gzip);
        assert_eq!(pick("gzip;q=0.2"), Coding::Gzip);
        assert_eq!(pick("identity"), Coding::Identity);
        assert_eq!(pick("identity;q=0, gzip"), Coding::Gzip);
    }

    #[test]
    fn the_star_stands_for_codings_not_named() {
        assert_eq!(pick("*"), Coding::Br);
        assert_eq!(pick("*;q=0.5, gzip"), Coding::Gzip);
        assert_eq!(pick("*;q=0"), Coding::Identity);
        assert_eq!(pick("br;q=0, *"), Coding::Gzip);
    }

    #[test]
    fn malformed_weights_are_ignored() {
        assert_eq!(pick("br;q=2, gzip"), Coding::Gzip);
        assert_eq!(pick("br;q=0.5000, gzip;q=0.1"), Coding::Gzip);
        assert_eq!(pick("br;q=, gzip;q=abc"), Coding::Identity);
        assert_eq!(pick("br;q=1.0"), Coding::Br);
        assert_eq!(pick("br;q=1.5"), Coding::Identity);
        assert_eq!(pick(";;;,,,=,br"), Coding::Br);
    }

    proptest! {
        #[test]
        fn any_header_picks_a_coding_it_did_not_refuse(value in "[ -~]{0,80}") {
            let Ok(v) = HeaderValue::from_str(&value) else { return Ok(()) };
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, v);
            let coding = negotiate(&headers);
            if let Some(name) = coding.header() {
                prop_assert!(value.to_ascii_lowercase().contains(name) || value.contains('*'), "{coding:?} for {value:?}");
            }
        }
    }
}
