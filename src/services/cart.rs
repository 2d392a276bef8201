//! Shopping carts: one Redis hash per cart (product id -> quantity) beside
//! the sessions, so a cart survives restarts and is shared by instances.
//! Each change is a single atomic command, so two adds sent at the same
//! moment (two tabs) both count; saving the cart inside the session record
//! would let the last writer win. With the in-memory session store, carts
//! live in the process too.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tower_sessions_redis_store::fred::prelude::{HashesInterface, KeysInterface, Pool};

pub const MAX_QUANTITY: u32 = 999;

pub enum CartStore {
    Redis { pool: Pool, prefix: String, ttl: Duration },
    Memory(Mutex<HashMap<String, BTreeMap<i32, u32>>>),
}

#[derive(Debug, thiserror::Error)]
#[error("cart store unavailable: {0}")]
pub struct CartError(String);

fn fail(e: impl std::fmt::Display) -> CartError {
    CartError(e.to_string())
}

impl CartStore {
    fn key(prefix: &str, cart: &str) -> String {
        format!("{prefix}:cart:{cart}")
    }

    pub async fn lines(&self, cart: &str) -> Result<BTreeMap<i32, u32>, CartError> {
        match self {
            CartStore::Redis { pool, prefix, .. } => {
                let raw: HashMap<String, i64> = pool.hgetall(Self::key(prefix, cart)).await.map_err(fail)?;
                Ok(raw
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, u32::try_from(v).ok().filter(|q| *q > 0)?)))
                    .collect())
            }
            CartStore::Memory(map) => {
                Ok(map.lock().unwrap_or_else(|p| p.into_inner()).get(cart).cloned().unwrap_or_default())
            }
        }
    }

    pub async fn count(&self, cart: &str) -> Result<u32, CartError> {
        Ok(self.lines(cart).await?.values().sum())
    }

    /// Adds `quantity`, atomically; refuses (and undoes) a total over `limit`.
    /// Returns the new quantity, or `Err(Ok(current))` when over the limit.
    pub async fn add(
        &self,
        cart: &str,
        product: i32,
        quantity: u32,
        limit: u32,
    ) -> Result<Result<u32, u32>, CartError> {
        match self {
            CartStore::Redis { pool, prefix, ttl } => {
                let key = Self::key(prefix, cart);
                let total: i64 = pool.hincrby(&key, product.to_string(), i64::from(quantity)).await.map_err(fail)?;
                let _: i64 = pool.expire(&key, ttl.as_secs() as i64, None).await.map_err(fail)?;
                if total > i64::from(limit) {
                    let back: i64 =
                        pool.hincrby(&key, product.to_string(), -i64::from(quantity)).await.map_err(fail)?;
                    return Ok(Err(u32::try_from(back).unwrap_or(0)));
                }
                Ok(Ok(u32::try_from(total).unwrap_or(0)))
            }
            CartStore::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let line = map.entry(cart.to_owned()).or_default().entry(product).or_insert(0);
                if *line + quantity > limit {
                    return Ok(Err(*line));
                }
                *line += quantity;
                Ok(Ok(*line))
            }
        }
    }

    /// Sets a line's quantity; 0 removes it.
    pub async fn set(&self, cart: &str, product: i32, quantity: u32) -> Result<(), CartError> {
        match self {
            CartStore::Redis { pool, prefix, ttl } => {
                let key = Self::key(prefix, cart);
                if quantity == 0 {
                    let _: i64 = pool.hdel(&key, product.to_string()).await.map_err(fail)?;
                } else {
                    let _: i64 = pool.hset(&key, (product.to_string(), i64::from(quantity))).await.map_err(fail)?;
                    let _: i64 = pool.expire(&key, ttl.as_secs() as i64, None).await.map_err(fail)?;
                }
                Ok(())
            }
            CartStore::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let lines = map.entry(cart.to_owned()).or_default();
                if quantity == 0 {
                    lines.remove(&product);
                } else {
                    lines.insert(product, quantity);
                }
                Ok(())
            }
        }
    }
}
