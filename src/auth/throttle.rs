//! Throttling of the two forms that cost a password hash: logins (5 tries
//! per account and 20 per client address within 15 minutes) and
//! registrations (10 per client address an hour); and of new carts of
//! visitors nobody is signed in as (100 per client address an hour), each a
//! session and a cart stored for two weeks.
//! Over a limit the form is refused with 429 until its window ends.
//!
//! An attempt is *reserved* before the password is hashed, in one atomic
//! step (a Lua script in Redis, a mutex in process): check every counter,
//! then raise them all. Checking first and counting after the hash let a
//! burst of parallel requests all pass the check. A successful login gives
//! its reservations back.
//!
//! Addresses are counted by network for IPv6 (a /64, what one subscriber
//! gets) and by address for IPv4. Counters live beside the sessions (Redis
//! or the database, shared by every instance), or in process with the
//! in-memory session store. In Redis every counter carries the hash tag `{throttle}`, so one
//! script's keys share a slot on a Redis Cluster.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::interfaces::LuaInterface;
use tower_sessions_redis_store::fred::prelude::Pool;

use super::credentials::Email;
use crate::stores::throttles::DbThrottle;

pub const MAX_ACCOUNT_FAILURES: u32 = 5;
pub const MAX_ADDRESS_FAILURES: u32 = 20;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_REGISTRATIONS: u32 = 10;
pub const REGISTRATION_WINDOW: Duration = Duration::from_secs(3600);
pub const MAX_NEW_CARTS: u32 = 100;
pub const NEW_CART_WINDOW: Duration = Duration::from_secs(3600);

pub enum Throttle {
    Redis { pool: Pool, prefix: String },
    Database(DbThrottle),
    Memory(Mutex<HashMap<String, (u32, Instant)>>),
}

#[derive(Debug, thiserror::Error)]
#[error("throttle unavailable: {0}")]
pub struct ThrottleError(String);

/// One counter and its limit.
struct Limit {
    key: String,
    max: u32,
}

/// Checks every counter and, when none is at its limit, raises them all
/// (their window starts at the first attempt). Returns 0 for "go ahead",
/// or the milliseconds until the fullest counter's window ends.
const RESERVE: &str = r#"
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, window)
      ttl = window
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('PEXPIRE', key, window, 'NX')
end
return 0
"#;

/// Gives reservations back: with ARGV[1] = "clear" the first counter is
/// deleted, otherwise lowered; the others are lowered (only while they
/// exist, so a lowered counter never outlives its window).
const RELEASE: &str = r#"
for i, key in ipairs(KEYS) do
  if i == 1 and ARGV[1] == 'clear' then
    redis.call('DEL', key)
  elseif redis.call('EXISTS', key) == 1 and redis.call('DECR', key) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"#;

/// The part of an address a throttle counts: a /64 for IPv6, the address
/// for IPv4 (an IPv4-mapped IPv6 address counts as its IPv4 address).
pub fn address_group(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Throttle {
    fn key(&self, kind: &str, id: &str) -> String {
        match self {
            Throttle::Redis { prefix, .. } => format!("{prefix}:{{throttle}}:{kind}:{id}"),
            Throttle::Database(_) | Throttle::Memory(_) => format!("{kind}:{id}"),
        }
    }

    fn account_key(&self, email: &Email) -> String {
        let account = xxhash_rust::xxh3::xxh3_64(email.as_str().as_bytes());
        self.key("account", &format!("{account:016x}"))
    }

    /// Reserves one login attempt for this account from this address:
    /// `Some(wait)` when a limit is reached and the attempt must be refused.
    #[tracing::instrument(name = "throttle.reserve_login", skip_all)]
    pub async fn reserve_login(&self, email: &Email, ip: IpAddr) -> Result<Option<Duration>, ThrottleError> {
        let limits = [
            Limit { key: self.account_key(email), max: MAX_ACCOUNT_FAILURES },
            Limit { key: self.key("address", &address_group(ip)), max: MAX_ADDRESS_FAILURES },
        ];
        self.reserve(&limits, LOGIN_WINDOW).await
    }

    /// A successful login clears the account's count and gives the
    /// address its attempt back: only failures count.
    #[tracing::instrument(name = "throttle.login_succeeded", skip_all)]
    pub async fn login_succeeded(&self, email: &Email, ip: IpAddr) -> Result<(), ThrottleError> {
        let keys = [self.account_key(email), self.key("address", &address_group(ip))];
        self.release(&keys, true).await
    }

    /// A login that was never checked (the hashing queue was full) gives
    /// its reservation back, and clears nothing.
    #[tracing::instrument(name = "throttle.login_not_tried", skip_all)]
    pub async fn login_not_tried(&self, email: &Email, ip: IpAddr) -> Result<(), ThrottleError> {
        let keys = [self.account_key(email), self.key("address", &address_group(ip))];
        self.release(&keys, false).await
    }

    /// A registration that was never tried gives its reservation back.
    #[tracing::instrument(name = "throttle.registration_not_tried", skip_all)]
    pub async fn registration_not_tried(&self, ip: IpAddr) -> Result<(), ThrottleError> {
        self.release(&[self.key("register", &address_group(ip))], false).await
    }

    /// Reserves one new cart (and so, for a visitor without one, a new
    /// session) from this address.
    #[tracing::instrument(name = "throttle.reserve_new_cart", skip_all)]
    pub async fn reserve_new_cart(&self, ip: IpAddr) -> Result<Option<Duration>, ThrottleError> {
        let limits = [Limit { key: self.key("new-cart", &address_group(ip)), max: MAX_NEW_CARTS }];
        self.reserve(&limits, NEW_CART_WINDOW).await
    }

    async fn release(&self, keys: &[String], clear_first: bool) -> Result<(), ThrottleError> {
        match self {
            Throttle::Redis { pool, .. } => {
                let mode = if clear_first { "clear" } else { "lower" };
                let _: i64 =
                    pool.eval(RELEASE, keys.to_vec(), vec![mode]).await.map_err(|e| ThrottleError(e.to_string()))?;
            }
            Throttle::Database(counters) => {
                counters.release(keys, clear_first).await.map_err(|e| ThrottleError(e.to_string()))?;
            }
            Throttle::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                for (i, key) in keys.iter().enumerate() {
                    if i == 0 && clear_first {
                        map.remove(key);
                    } else if let Some((count, _)) = map.get_mut(key) {
                        *count = count.saturating_sub(1);
                    }
                }
            }
        }
        Ok(())
    }

    /// Reserves one registration from this address.
    #[tracing::instrument(name = "throttle.reserve_registration", skip_all)]
    pub async fn reserve_registration(&self, ip: IpAddr) -> Result<Option<Duration>, ThrottleError> {
        let limits = [Limit { key: self.key("register", &address_group(ip)), max: MAX_REGISTRATIONS }];
        self.reserve(&limits, REGISTRATION_WINDOW).await
    }

    async fn reserve(&self, limits: &[Limit], window: Duration) -> Result<Option<Duration>, ThrottleError> {
        match self {
            Throttle::Redis { pool, .. } => {
                let keys: Vec<String> = limits.iter().map(|l| l.key.clone()).collect();
                let mut args = vec![window.as_millis().to_string()];
                args.extend(limits.iter().map(|l| l.max.to_string()));
                let wait: i64 = pool.eval(RESERVE, keys, args).await.map_err(|e| ThrottleError(e.to_string()))?;
                Ok((wait > 0).then(|| Duration::from_millis(wait as u64)))
            }
            Throttle::Database(counters) => {
                let limits: Vec<(String, u32)> = limits.iter().map(|l| (l.key.clone(), l.max)).collect();
                counters.reserve(&limits, window).await.map_err(|e| ThrottleError(e.to_string()))
            }
            Throttle::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let mut wait: Option<Duration> = None;
                for limit in limits {
                    if let Some((count, since)) = map.get(&limit.key)
                        && now.duration_since(*since) < window
                        && *count >= limit.max
                    {
                        let left = window - now.duration_since(*since);
                        wait = Some(wait.map_or(left, |w| w.max(left)));
                    }
                }
                if wait.is_some() {
                    return Ok(wait);
                }
                for limit in limits {
                    let entry = map.entry(limit.key.clone()).or_insert((0, now));
                    if now.duration_since(entry.1) >= window {
                        *entry = (0, now);
                    }
                    entry.0 += 1;
                }
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_group(a), address_group(b));
        assert_ne!(address_group(a), address_group(other));
        assert_eq!(address_group("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(address_group("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }

    #[tokio::test]
    async fn the_memory_throttle_reserves_up_to_the_limit_and_gives_back_on_success() {
        let throttle = Throttle::Memory(Mutex::default());
        let email = Email::parse("ada@example.com").unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..MAX_ACCOUNT_FAILURES {
            assert!(throttle.reserve_login(&email, ip).await.unwrap().is_none());
        }
        let wait = throttle.reserve_login(&email, ip).await.unwrap().expect("the sixth is refused");
        assert!(wait <= LOGIN_WINDOW && wait > Duration::ZERO);
        throttle.login_succeeded(&email, ip).await.unwrap();
        assert!(throttle.reserve_login(&email, ip).await.unwrap().is_none(), "a success clears the account");
    }
}
