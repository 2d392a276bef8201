//! Operators' numbers: hits and misses summed over every instance in
//! Redis, and the primaries `cache stats` visits.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Cache, CacheError};

impl Cache {
    /// Adds this instance's hits and misses since the last report to the
    /// shared `{prefix}:stats` hash, so `storefront cache stats` sees the hit
    /// rate of all instances together.
    #[tracing::instrument(name = "cache.report_stats", level = "debug", skip_all)]
    pub async fn report_stats(&self) -> Result<(), CacheError> {
        let c = &self.inner.counters;
        let hits = c.hits.load(Ordering::Relaxed);
        let misses = c.misses.load(Ordering::Relaxed);
        let new_hits = hits - c.reported_hits.load(Ordering::Relaxed);
        let new_misses = misses - c.reported_misses.load(Ordering::Relaxed);
        if new_hits == 0 && new_misses == 0 {
            return Ok(());
        }
        let key = self.inner.keys.stats();
        let mut incr = redis::pipe();
        incr.cmd("HINCRBY").arg(&key).arg("hits").arg(new_hits).ignore();
        incr.cmd("HINCRBY").arg(&key).arg("misses").arg(new_misses).ignore();
        self.call::<()>(&incr).await?;
        c.reported_hits.store(hits, Ordering::Relaxed);
        c.reported_misses.store(misses, Ordering::Relaxed);
        Ok(())
    }

    /// Reads the shared hit and miss totals.
    #[tracing::instrument(name = "cache.shared_stats", skip_all)]
    pub async fn shared_stats(&self) -> Result<(u64, u64), CacheError> {
        let mut get = redis::pipe();
        get.cmd("HMGET").arg(self.inner.keys.stats()).arg("hits").arg("misses");
        let (values,): (Vec<Option<u64>>,) = self.call(&get).await?;
        Ok((values.first().copied().flatten().unwrap_or(0), values.get(1).copied().flatten().unwrap_or(0)))
    }

    /// Every primary holding cache data (one, or each cluster master), for
    /// operator commands that must visit them all.
    pub async fn primaries(&self) -> Result<Vec<redis::ConnectionInfo>, CacheError> {
        let Some(mut conn) = self.conn() else { return Err(CacheError("disabled".into())) };
        match tokio::time::timeout(Duration::from_secs(5), conn.primaries(&self.inner.nodes)).await {
            Ok(result) => result.map_err(CacheError),
            Err(_) => Err(CacheError("no answer to CLUSTER NODES within 5 s".into())),
        }
    }
}
