//! Login throttling: after 5 failures for one account, or 20 from one client
//! address, within 15 minutes, logins are refused with 429 until the window
//! ends. Counters live beside the sessions (Redis, shared by every
//! instance), or in process with the in-memory session store.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tower_sessions_redis_store::fred::prelude::{KeysInterface, Pool};
use tower_sessions_redis_store::fred::types::ExpireOptions;

use super::credentials::Email;

pub const MAX_ACCOUNT_FAILURES: i64 = 5;
pub const MAX_ADDRESS_FAILURES: i64 = 20;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

pub enum Throttle {
    Redis { pool: Pool, prefix: String },
    Memory(Mutex<HashMap<String, (i64, Instant)>>),
}

#[derive(Debug, thiserror::Error)]
#[error("login throttle unavailable: {0}")]
pub struct ThrottleError(String);

impl Throttle {
    fn keys(&self, email: &Email, ip: IpAddr) -> [String; 2] {
        let prefix = match self {
            Throttle::Redis { prefix, .. } => prefix.as_str(),
            Throttle::Memory(_) => "",
        };
        let account = xxhash_rust::xxh3::xxh3_64(email.as_str().as_bytes());
        [format!("{prefix}:throttle:account:{account:016x}"), format!("{prefix}:throttle:address:{ip}")]
    }

    /// `Some(wait)` when this login must be refused for `wait`.
    pub async fn blocked(&self, email: &Email, ip: IpAddr) -> Result<Option<Duration>, ThrottleError> {
        let [account, address] = self.keys(email, ip);
        let limits = [(account, MAX_ACCOUNT_FAILURES), (address, MAX_ADDRESS_FAILURES)];
        let mut wait: Option<Duration> = None;
        for (key, max) in limits {
            let (count, ttl) = match self {
                Throttle::Redis { pool, .. } => {
                    let count: Option<i64> = pool.get(&key).await.map_err(|e| ThrottleError(e.to_string()))?;
                    let ttl: i64 = pool.pttl(&key).await.map_err(|e| ThrottleError(e.to_string()))?;
                    (count.unwrap_or(0), Duration::from_millis(ttl.max(0) as u64))
                }
                Throttle::Memory(map) => {
                    let map = map.lock().unwrap_or_else(|p| p.into_inner());
                    match map.get(&key) {
                        Some((n, since)) if since.elapsed() < WINDOW => (*n, WINDOW - since.elapsed()),
                        _ => (0, Duration::ZERO),
                    }
                }
            };
            if count >= max {
                wait = Some(wait.map_or(ttl, |w| w.max(ttl)));
            }
        }
        Ok(wait)
    }

    pub async fn failed(&self, email: &Email, ip: IpAddr) -> Result<(), ThrottleError> {
        for key in self.keys(email, ip) {
            match self {
                Throttle::Redis { pool, .. } => {
                    let _: i64 = pool.incr(&key).await.map_err(|e| ThrottleError(e.to_string()))?;
                    // The window starts at the first failure.
                    let _: i64 = pool
                        .expire(&key, WINDOW.as_secs() as i64, Some(ExpireOptions::NX))
                        .await
                        .map_err(|e| ThrottleError(e.to_string()))?;
                }
                Throttle::Memory(map) => {
                    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                    let entry = map.entry(key).or_insert((0, Instant::now()));
                    if entry.1.elapsed() >= WINDOW {
                        *entry = (0, Instant::now());
                    }
                    entry.0 += 1;
                }
            }
        }
        Ok(())
    }

    /// A successful login clears the account's count (not the address's).
    pub async fn succeeded(&self, email: &Email, ip: IpAddr) -> Result<(), ThrottleError> {
        let [account, _] = self.keys(email, ip);
        match self {
            Throttle::Redis { pool, .. } => {
                let _: i64 = pool.del(&account).await.map_err(|e| ThrottleError(e.to_string()))?;
            }
            Throttle::Memory(map) => {
                map.lock().unwrap_or_else(|p| p.into_inner()).remove(&account);
            }
        }
        Ok(())
    }
}
