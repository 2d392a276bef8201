//! Server settings: where the shop listens and how it treats connections
//! (STOREFRONT_*, METRICS_ADDR, PASSWORD_HASH_QUEUE).
//!
//! They live as fields of [`Settings`], documented there; this file reads
//! them. Metrics never share the public listener's port.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::env::{Env, SECOND, is_http};
use super::{ConfigError, Settings};

pub const DEFAULT_ADDR: &str = "127.0.0.1:3000";

/// Reads the server settings over the defaults in `settings`.
pub(super) fn read(env: &Env, settings: &mut Settings) -> Result<(), ConfigError> {
    let addr = env.parsed("STOREFRONT_ADDR", "an address like 127.0.0.1:3000", |v| v.parse().ok())?;
    settings.addr = addr.unwrap_or(settings.addr);
    settings.metrics_addr = env.read("METRICS_ADDR", |raw| {
        let metrics: SocketAddr =
            raw.trim().parse().map_err(|_| format!("{raw:?} is not an address like 127.0.0.1:9100"))?;
        // Port 0 picks a free port for each listener, so they cannot clash.
        if metrics == settings.addr && metrics.port() != 0 {
            return Err(format!("{raw:?} is STOREFRONT_ADDR; metrics need a port of their own"));
        }
        Ok(metrics)
    })?;
    settings.public_url = env.read("STOREFRONT_PUBLIC_URL", |raw| {
        let url = raw.trim().trim_end_matches('/');
        if !is_http(url) || url.contains('?') {
            return Err(format!("{url:?} is not an origin like https://shop.example"));
        }
        Ok(url.to_owned())
    })?;
    let proxies = env.list("STOREFRONT_TRUSTED_PROXIES", "an address or network", |item| {
        item.parse::<IpNet>().ok().or_else(|| item.parse::<IpAddr>().ok().map(IpNet::from))
    })?;
    settings.trusted_proxies = proxies.unwrap_or_default();
    settings.bench_routes = env.flag("STOREFRONT_BENCH_ROUTES")?.unwrap_or(settings.bench_routes);

    let seconds = |var: &'static str, range| env.duration_in(var, SECOND, "a number of seconds", range);
    let grace = seconds("STOREFRONT_SHUTDOWN_GRACE_SECS", 0..=600)?;
    settings.shutdown_grace = grace.unwrap_or(settings.shutdown_grace);
    let header = seconds("STOREFRONT_HEADER_TIMEOUT_SECS", 1..=300)?;
    settings.header_timeout = header.unwrap_or(settings.header_timeout);
    let request = seconds("STOREFRONT_REQUEST_TIMEOUT_SECS", 1..=600)?;
    settings.request_timeout = request.unwrap_or(settings.request_timeout);

    let queue = env.number_in("PASSWORD_HASH_QUEUE", "a number of hashes", 0..=10_000)?;
    settings.password_hash_queue = queue.unwrap_or(settings.password_hash_queue);
    Ok(())
}
