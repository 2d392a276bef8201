//! Edge caches (Varnish with the project's VCL): after a write, every one of
//! them is told to drop the objects carrying the changed tags, by a `PURGE`
//! request with the tags in an `xkey-purge` header.
//!
//! A purge only drops stored objects. A fetch already under way when it
//! arrives (filled from the database just before the write) is stored
//! afterwards, old data and all, and would stay for its `s-maxage`. So
//! each purge is sent again once such a fetch has had time to end.

use std::future::Future;
use std::time::Duration;

use super::tags::Tag;

/// Varnish refuses request header lines over 8 KiB; tags go in several
/// requests well below that.
const MAX_HEADER_BYTES: usize = 4096;

/// When a purge is repeated: far longer than a page takes to render.
pub const REPURGE_AFTER: Duration = Duration::from_secs(2);

/// The `cache_cursors` row of the edge caches an instance purges: the same
/// for every instance with the same key prefix and purge URLs.
pub fn cursor_name(prefix: &str, urls: &[String]) -> String {
    let mut urls = urls.to_vec();
    urls.sort();
    format!("edges:{prefix}:{:016x}", xxhash_rust::xxh3::xxh3_64(urls.join(" ").as_bytes()))
}

#[derive(Clone)]
pub struct Edges {
    client: reqwest::Client,
    urls: Vec<String>,
}

impl Edges {
    /// None without purge URLs.
    pub fn new(urls: &[String], timeout: Duration) -> Result<Option<Edges>, String> {
        if urls.is_empty() {
            return Ok(None);
        }
        let client =
            reqwest::Client::builder().timeout(timeout).build().map_err(|e| format!("VARNISH_PURGE_URLS: {e}"))?;
        Ok(Some(Edges { client, urls: urls.to_vec() }))
    }

    /// Purges `tags` at every edge; an error names each that failed
    /// (the caller keeps the tags in the outbox and retries them all).
    pub async fn purge(&self, tags: &[Tag]) -> Result<(), String> {
        let headers = batches(tags);
        // Every edge is purged even when another is down: one unreachable
        // Varnish must not leave the others serving old pages meanwhile.
        let purges = self.urls.iter().map(|url| self.purge_one(url, &headers));
        let failed: Vec<String> =
            futures_util::future::join_all(purges).await.into_iter().filter_map(Result::err).collect();
        if failed.is_empty() { Ok(()) } else { Err(failed.join("; ")) }
    }

    /// Purges `tags` again after `delay`, in the background. Best effort: a
    /// failure here leaves at most the rare object a fetch stored across the
    /// first purge.
    pub fn purge_again_after(&self, tags: Vec<Tag>, delay: Duration) {
        let edges = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = edges.purge(&tags).await {
                tracing::warn!(error = %e, "repeated edge purge failed");
            }
        });
    }

    async fn purge_one(&self, url: &str, headers: &[String]) -> Result<(), String> {
        let purge = reqwest::Method::from_bytes(b"PURGE").expect("a valid method");
        for header in headers {
            let sent = self.client.request(purge.clone(), format!("{url}/")).header("xkey-purge", header).send();
            match sent.await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => return Err(format!("{url} answered the purge with {}", r.status())),
                Err(e) => return Err(format!("{url}: {e}")),
            }
        }
        Ok(())
    }
}

/// Tag names joined by spaces, in headers of at most `MAX_HEADER_BYTES`.
fn batches(tags: &[Tag]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in tags.iter().map(Tag::name) {
        match out.last_mut() {
            Some(last) if last.len() + 1 + name.len() <= MAX_HEADER_BYTES => {
                last.push(' ');
                last.push_str(&name);
            }
            _ => out.push(name),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_split_into_bounded_headers() {
        let tags: Vec<Tag> = (0..2000).map(Tag::Product).collect();
        let headers = batches(&tags);
        assert!(headers.len() > 1);
        assert!(headers.iter().all(|h| h.len() <= MAX_HEADER_BYTES));
        let names: Vec<&str> = headers.iter().flat_map(|h| h.split(' ')).collect();
        assert_eq!(names.len(), 2000);
        assert_eq!(names[1999], "product-1999");
        assert_eq!(batches(&[Tag::Lists, Tag::Product(3)]), ["lists product-3"]);
    }
}

tokio::task_local! {
    /// Set while serving an edge cache's fetch (see [`as_edge_fetch`]).
    static EDGE_FETCH: ();
}

/// Runs `serve` as an edge cache's fetch, which skips the in-process layer.
///
/// A write applies its invalidation to Redis, then purges the edges, which
/// refetch at once, possibly from another instance whose in-process layer
/// has not yet had Redis's push: served from there, the old page would stay
/// at the edge for its whole `s-maxage`. Redis itself is already current.
pub async fn as_edge_fetch<F: Future>(serve: F) -> F::Output {
    EDGE_FETCH.scope((), serve).await
}

pub(super) fn is_edge_fetch() -> bool {
    EDGE_FETCH.try_with(|_| ()).is_ok()
}
