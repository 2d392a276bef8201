//! Shopping carts: one Redis hash per cart (product id -> quantity) beside
//! the sessions, so a cart survives restarts and is shared by instances.
//! Each change is atomic (a single command, or a Lua script where it checks
//! before it writes), so two adds sent at the same moment (two tabs) both
//! count, and neither can pass a limit the other has reached; saving the
//! cart inside the session record would let the last writer win. With the
//! database session store, carts live in the database with the same rules
//! (see `stores::carts`); with the in-memory one, in the process, changed
//! under one lock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tower_sessions_redis_store::fred::prelude::{HashesInterface, KeysInterface, LuaInterface, Pool};

use crate::stores::carts::DbCarts;

pub const MAX_QUANTITY: u32 = 999;

/// The most different products one cart holds. Showing a cart costs one
/// query whatever its size, but rendering and the cart's hash grow with it.
pub const MAX_CART_LINES: usize = 100;

/// Adds to a line unless that passes the stock limit, or would start a line
/// in a full cart. KEYS[1] is the cart; ARGV: product, quantity, limit, the
/// most lines, TTL in seconds. Returns {1, new quantity}, {0, current
/// quantity} over the limit, or {-1, 0} when the cart is full.
const ADD_SCRIPT: &str = r"
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return {-1, 0}
end
local current = tonumber(raw) or 0
if current + tonumber(ARGV[2]) > tonumber(ARGV[3]) then
  return {0, current}
end
local total = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {1, total}
";

/// Sets a line's quantity unless that would start a line in a full cart.
/// KEYS[1] is the cart; ARGV: product, quantity (above 0), the most lines,
/// TTL in seconds. Returns 1 when set, 0 when the cart is full.
const SET_SCRIPT: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
";

/// What a change to a line did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineChange {
    /// Done: the line's quantity now.
    Done(u32),
    /// Refused, over the limit: the line's quantity, unchanged.
    OverLimit(u32),
    /// Refused: the product is not in the cart, which has
    /// [`MAX_CART_LINES`] lines already.
    CartFull,
}

/// Claims a session's cart id: KEYS[1] names the session, ARGV is the
/// candidate id and the TTL in seconds. Returns the id that won.
const CLAIM_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return ARGV[1]
end
return redis.call('GET', KEYS[1])
";

pub enum CartStore {
    Redis {
        pool: Pool,
        prefix: String,
        ttl: Duration,
    },
    Database(DbCarts),
    /// Carts by id, and which cart each session claimed.
    Memory(Mutex<HashMap<String, BTreeMap<i32, u32>>>, Mutex<HashMap<String, String>>),
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

    /// Pushes back the cart's expiry, as its session's is (a shopper who
    /// keeps browsing keeps the cart).
    #[tracing::instrument(name = "cart.keep", skip_all)]
    pub async fn keep(&self, cart: &str) -> Result<(), CartError> {
        match self {
            CartStore::Redis { pool, prefix, ttl } => {
                let _: i64 = pool.expire(Self::key(prefix, cart), ttl.as_secs() as i64, None).await.map_err(fail)?;
            }
            CartStore::Database(carts) => carts.keep(cart).await.map_err(fail)?,
            CartStore::Memory(..) => {}
        }
        Ok(())
    }

    /// The cart id of the session `session`: `candidate`, unless another
    /// request of that session claimed one first. Two first adds at the
    /// same moment (two tabs) each bring a candidate and both get the one
    /// that won, so neither product lands in a cart the session forgets
    /// when the other request's copy of it is saved last.
    #[tracing::instrument(name = "cart.claim", skip_all)]
    pub async fn claim(&self, session: &str, candidate: &str) -> Result<String, CartError> {
        // The session id is a secret: name the claim by a hash of it.
        let owner = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(session.as_bytes()));
        match self {
            CartStore::Redis { pool, prefix, ttl } => {
                let key = format!("{prefix}:cart-of:{owner}");
                let won: Option<String> = pool
                    .eval(CLAIM_SCRIPT, vec![key], vec![candidate.to_owned(), ttl.as_secs().to_string()])
                    .await
                    .map_err(fail)?;
                // Only an expiry between the SET and the GET leaves nothing.
                Ok(won.unwrap_or_else(|| candidate.to_owned()))
            }
            CartStore::Database(carts) => carts.claim(&owner, candidate).await.map_err(fail),
            CartStore::Memory(_, owners) => {
                let mut owners = owners.lock().unwrap_or_else(|p| p.into_inner());
                Ok(owners.entry(owner).or_insert_with(|| candidate.to_owned()).clone())
            }
        }
    }

    #[tracing::instrument(name = "cart.lines", skip_all)]
    pub async fn lines(&self, cart: &str) -> Result<BTreeMap<i32, u32>, CartError> {
        match self {
            CartStore::Redis { pool, prefix, .. } => {
                let raw: HashMap<String, i64> = pool.hgetall(Self::key(prefix, cart)).await.map_err(fail)?;
                Ok(raw
                    .into_iter()
                    .filter_map(|(k, v)| Some((k.parse().ok()?, u32::try_from(v).ok().filter(|q| *q > 0)?)))
                    .collect())
            }
            CartStore::Database(carts) => carts.lines(cart).await.map_err(fail),
            CartStore::Memory(map, _) => {
                Ok(map.lock().unwrap_or_else(|p| p.into_inner()).get(cart).cloned().unwrap_or_default())
            }
        }
    }

    #[tracing::instrument(name = "cart.count", skip_all)]
    pub async fn count(&self, cart: &str) -> Result<u32, CartError> {
        Ok(self.lines(cart).await?.values().sum())
    }

    /// Adds `quantity` atomically, refusing a total over `limit` and a new
    /// line in a full cart.
    #[tracing::instrument(name = "cart.add", skip_all)]
    pub async fn add(&self, cart: &str, product: i32, quantity: u32, limit: u32) -> Result<LineChange, CartError> {
        match self {
            CartStore::Redis { pool, prefix, ttl } => {
                let args = vec![
                    i64::from(product),
                    i64::from(quantity),
                    i64::from(limit),
                    MAX_CART_LINES as i64,
                    ttl.as_secs() as i64,
                ];
                let reply: Vec<i64> = pool.eval(ADD_SCRIPT, Self::key(prefix, cart), args).await.map_err(fail)?;
                let quantity = |n: i64| u32::try_from(n).unwrap_or(0);
                match reply[..] {
                    [1, total] => Ok(LineChange::Done(quantity(total))),
                    [0, current] => Ok(LineChange::OverLimit(quantity(current))),
                    [-1, _] => Ok(LineChange::CartFull),
                    _ => Err(CartError(format!("unexpected reply {reply:?} from the add script"))),
                }
            }
            CartStore::Database(carts) => carts.add(cart, product, quantity, limit).await.map_err(fail),
            CartStore::Memory(map, _) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let lines = map.entry(cart.to_owned()).or_default();
                let current = lines.get(&product).copied();
                if current.is_none() && lines.len() >= MAX_CART_LINES {
                    return Ok(LineChange::CartFull);
                }
                let current = current.unwrap_or(0);
                if current + quantity > limit {
                    return Ok(LineChange::OverLimit(current));
                }
                lines.insert(product, current + quantity);
                Ok(LineChange::Done(current + quantity))
            }
        }
    }

    /// Sets a line's quantity, refusing a new line in a full cart; 0 removes
    /// the line.
    #[tracing::instrument(name = "cart.set", skip_all)]
    pub async fn set(&self, cart: &str, product: i32, quantity: u32) -> Result<LineChange, CartError> {
        match self {
            CartStore::Redis { pool, prefix, ttl } => {
                let key = Self::key(prefix, cart);
                if quantity == 0 {
                    let _: i64 = pool.hdel(&key, product.to_string()).await.map_err(fail)?;
                    return Ok(LineChange::Done(0));
                }
                let args = vec![i64::from(product), i64::from(quantity), MAX_CART_LINES as i64, ttl.as_secs() as i64];
                let set: i64 = pool.eval(SET_SCRIPT, key, args).await.map_err(fail)?;
                Ok(if set == 1 { LineChange::Done(quantity) } else { LineChange::CartFull })
            }
            CartStore::Database(carts) => carts.set(cart, product, quantity).await.map_err(fail),
            CartStore::Memory(map, _) => {
                let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
                let lines = map.entry(cart.to_owned()).or_default();
                if quantity == 0 {
                    lines.remove(&product);
                } else if !lines.contains_key(&product) && lines.len() >= MAX_CART_LINES {
                    return Ok(LineChange::CartFull);
                } else {
                    lines.insert(product, quantity);
                }
                Ok(LineChange::Done(quantity))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> CartStore {
        CartStore::Memory(Mutex::new(HashMap::new()), Mutex::new(HashMap::new()))
    }

    #[tokio::test]
    async fn a_full_cart_takes_more_of_its_lines_but_no_new_one() {
        let carts = memory();
        for product in 1..=MAX_CART_LINES as i32 {
            assert_eq!(carts.add("c", product, 1, 5).await.unwrap(), LineChange::Done(1));
        }
        assert_eq!(carts.add("c", 1000, 1, 5).await.unwrap(), LineChange::CartFull);
        assert_eq!(carts.set("c", 1000, 1).await.unwrap(), LineChange::CartFull);
        assert_eq!(carts.add("c", 1, 2, 5).await.unwrap(), LineChange::Done(3));
        assert_eq!(carts.set("c", 2, 4).await.unwrap(), LineChange::Done(4));
        assert_eq!(carts.lines("c").await.unwrap().len(), MAX_CART_LINES);
        // Another cart is not full; a removed line makes room.
        assert_eq!(carts.add("other", 1000, 1, 5).await.unwrap(), LineChange::Done(1));
        carts.set("c", 1, 0).await.unwrap();
        assert_eq!(carts.add("c", 1000, 1, 5).await.unwrap(), LineChange::Done(1));
    }

    #[tokio::test]
    async fn a_refused_add_leaves_no_line() {
        let carts = memory();
        assert_eq!(carts.add("c", 1, 3, 2).await.unwrap(), LineChange::OverLimit(0));
        assert!(carts.lines("c").await.unwrap().is_empty());
        assert_eq!(carts.add("c", 1, 2, 2).await.unwrap(), LineChange::Done(2));
        assert_eq!(carts.add("c", 1, 1, 2).await.unwrap(), LineChange::OverLimit(2));
    }
}
