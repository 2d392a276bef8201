//! Reading responses in a content coding: a GET with `Accept-Encoding`
//! (and `If-None-Match`), its body decoded as its `Content-Encoding` says.

use std::io::Read as _;

/// What a GET answered, its body as sent and as decoded.
pub struct Encoded {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub wire: Vec<u8>,
}

impl Encoded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn coding(&self) -> &str {
        self.header("content-encoding").unwrap_or("identity")
    }

    pub fn etag(&self) -> &str {
        self.header("etag").expect("an ETag")
    }

    /// Does `Vary` name `Accept-Encoding`?
    pub fn varies_by_encoding(&self) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("accept-encoding"))
    }

    /// The body, decoded.
    pub fn plain(&self) -> Vec<u8> {
        decode(self.coding(), &self.wire)
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.plain()).expect("UTF-8")
    }
}

/// `wire` in `coding`, decoded.
pub fn decode(coding: &str, wire: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    match coding {
        "identity" => plain.extend_from_slice(wire),
        "gzip" => {
            flate2::read::GzDecoder::new(wire).read_to_end(&mut plain).expect("gzip decodes");
        }
        "br" => {
            brotli::Decompressor::new(wire, 4096).read_to_end(&mut plain).expect("brotli decodes");
        }
        other => panic!("unexpected Content-Encoding {other}"),
    }
    plain
}

/// GET `url` with this `Accept-Encoding` (none when `None`) and, when given,
/// `If-None-Match`.
pub async fn get(client: &reqwest::Client, url: &str, accept: Option<&str>, if_none_match: Option<&str>) -> Encoded {
    let mut request = client.get(url);
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    if let Some(etag) = if_none_match {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let wire = response.bytes().await.expect("body").to_vec();
    Encoded { status, headers, wire }
}
