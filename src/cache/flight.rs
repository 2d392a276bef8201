//! Coalesces concurrent fills of one entry within this process: the first
//! caller fills, the others wait for its result. A flight is keyed by the
//! entry *and* the tag versions its callers saw, so a request that arrives
//! after a write (and saw the new versions) never joins a fill that read the
//! database before that write.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

type Cell<T> = Arc<OnceCell<T>>;

pub struct Flights<T> {
    inflight: Mutex<HashMap<String, Cell<T>>>,
}

impl<T: Clone> Default for Flights<T> {
    fn default() -> Self {
        Flights { inflight: Mutex::new(HashMap::new()) }
    }
}

impl<T: Clone> Flights<T> {
    /// Runs `fill` unless a flight for `key` is under way, in which case its
    /// result is shared.
    pub async fn run<F, Fut>(&self, key: String, fill: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let result = cell.get_or_init(fill).await.clone();
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_fill() {
        let flights = Arc::new(Flights::<u32>::default());
        let fills = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let flights = flights.clone();
            let fills = fills.clone();
            tasks.push(tokio::spawn(async move {
                flights
                    .run("k".into(), || async {
                        fills.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        7
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(fills.load(Ordering::SeqCst), 1);
        // Finished flights are forgotten: the next call fills again.
        let again = flights.run("k".into(), || async { 8 }).await;
        assert_eq!(again, 8);
    }
}
